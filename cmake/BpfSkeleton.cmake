# maptrail_bpf_skeleton(<target> <source.bpf.c>)
#
# Compiles a BPF C source with clang -target bpf (dependencies tracked through a depfile),
# generates its libbpf skeleton with `bpftool gen skeleton`, and exposes the skeleton
# header through an INTERFACE library <target>.
#
# vmlinux.h is generated at build time from the running kernel's BTF
# (/sys/kernel/btf/vmlinux); the program relies on CO-RE, so the same object loads on
# other kernels with BTF. Set MAPTRAIL_VMLINUX_H to use a vendored header instead.

find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

set(MAPTRAIL_VMLINUX_H "" CACHE FILEPATH "vmlinux.h to use instead of generating one from BTF")
set(MAPTRAIL_KERNEL_BTF "/sys/kernel/btf/vmlinux" CACHE FILEPATH "kernel BTF for vmlinux.h")

set(_bpf_gen_dir ${CMAKE_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${_bpf_gen_dir})

if(MAPTRAIL_VMLINUX_H)
  configure_file(${MAPTRAIL_VMLINUX_H} ${_bpf_gen_dir}/vmlinux.h COPYONLY)
  add_custom_target(maptrail_vmlinux_h)
else()
  if(NOT EXISTS ${MAPTRAIL_KERNEL_BTF})
    message(FATAL_ERROR
      "${MAPTRAIL_KERNEL_BTF} is missing: this kernel has no BTF (CONFIG_DEBUG_INFO_BTF). "
      "Build on a kernel with BTF, or pass -DMAPTRAIL_VMLINUX_H=<path to a vmlinux.h>.")
  endif()
  add_custom_command(
    OUTPUT ${_bpf_gen_dir}/vmlinux.h
    COMMAND ${BPFTOOL} btf dump file ${MAPTRAIL_KERNEL_BTF} format c > ${_bpf_gen_dir}/vmlinux.h.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${_bpf_gen_dir}/vmlinux.h.tmp ${_bpf_gen_dir}/vmlinux.h
    COMMENT "Generating vmlinux.h from kernel BTF"
    VERBATIM)
  add_custom_target(maptrail_vmlinux_h DEPENDS ${_bpf_gen_dir}/vmlinux.h)
endif()

function(maptrail_bpf_skeleton target source)
  get_filename_component(_name ${source} NAME_WE)
  get_filename_component(_src ${source} ABSOLUTE)
  get_filename_component(_src_dir ${_src} DIRECTORY)
  set(_obj ${_bpf_gen_dir}/${_name}.bpf.o)
  set(_skel ${_bpf_gen_dir}/${_name}.skel.h)
  set(_dep ${_bpf_gen_dir}/${_name}.bpf.d)
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
    set(_arch x86)
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
    set(_arch arm64)
  else()
    set(_arch ${CMAKE_SYSTEM_PROCESSOR})
  endif()
  add_custom_command(
    OUTPUT ${_obj}
    # -mcpu=v3: atomic compare-and-exchange (claiming a pending-call slot)
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_${_arch} -Wall -Werror
            -I${_bpf_gen_dir} -I${_src_dir} -MD -MF ${_dep} -c ${_src} -o ${_obj}
    DEPFILE ${_dep}
    DEPENDS ${_src} maptrail_vmlinux_h ${_bpf_gen_dir}/vmlinux.h
    COMMENT "BPF ${_name}.bpf.c"
    VERBATIM)
  add_custom_command(
    OUTPUT ${_skel}
    COMMAND ${BPFTOOL} gen skeleton ${_obj} name ${_name}_bpf > ${_skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${_skel}.tmp ${_skel}
    DEPENDS ${_obj}
    COMMENT "Skeleton ${_name}.skel.h"
    VERBATIM)
  add_custom_target(${target}_gen DEPENDS ${_skel})
  add_library(${target} INTERFACE)
  add_dependencies(${target} ${target}_gen)
  target_include_directories(${target} INTERFACE ${_bpf_gen_dir} ${_src_dir})
endfunction()

# Sourced by the benchmark scripts. With kernel.bpf_stats_enabled set, every BPF program run
# also reads the clock twice to account its own time: that inflates what is measured here
# (~0.4% of a JVM start, more on a mapping storm). bpf_stats_off turns it off for the
# benchmark and bpf_stats_restore puts the old value back (call it from the EXIT trap).

bpf_stats_knob=/proc/sys/kernel/bpf_stats_enabled
bpf_stats_was=

bpf_stats_off() {
  [[ -w $bpf_stats_knob ]] || return 0
  if [[ $(<"$bpf_stats_knob") != 0 ]]; then
    bpf_stats_was=$(<"$bpf_stats_knob")
    echo 0 >"$bpf_stats_knob"
    echo "${0##*/}: kernel.bpf_stats_enabled was on: off while this runs (it slows BPF programs)" >&2
  fi
}

bpf_stats_restore() {
  if [[ -n $bpf_stats_was ]]; then
    echo "$bpf_stats_was" >"$bpf_stats_knob" || true
  fi
}

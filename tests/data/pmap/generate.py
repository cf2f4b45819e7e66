# Writes the synthetic pmap fixture: synthetic.{maps,smaps} (kernel 6.18 smaps layout) from the
# VMA list below, and synthetic.{cmdline,stat,status}. Usage: python3 generate.py DIR (README.md).
import os, sys
out = sys.argv[1]
G = 1 << 30
vmas = [
 (0x00400000, 0x00401000, "r--p", 0, 0x08, 0x02, 131, "/usr/bin/legacy32"),
 (0x555555554000, 0x555555556000, "r--p", 0, 0xfe, 0, 1234, "/opt/my app/bin/app"),
 (0x555555556000, 0x55555555a000, "r-xp", 0x2000, 0xfe, 0, 1234, "/opt/my app/bin/app"),
 (0x55555555a000, 0x55555557b000, "rw-p", 0, 0, 0, 0, "[heap]"),
 (0x7f0000000000, 0x7f0000200000, "rw-p", 0, 0, 0, 0, "[anon:jit cache]"),
 (0x7f0000200000, 0x7f0000201000, "r--p", 0, 0, 0, 0, "[anon:foo/bar]"),
 (0x7f0000201000, 0x7f0000202000, "rw-s", 0, 0, 1, 4, "[anon_shmem:ring]"),
 (0x7f0000300000, 0x7f0000305000, "rw-s", 0, 0, 1, 33, "/SYSV00000000 (deleted)"),
 (0x7f0000305000, 0x7f0000306000, "r--s", 0, 0, 1, 65570, "/SYSV0001e240 (deleted)"),
 (0x7f0000306000, 0x7f0000307000, "rw-s", 0, 0, 2, 34, "/SYSV00000000 (deleted)"),
 (0x7f0000400000, 0x7f0000401000, "rw-s", 0, 0, 1, 1025, "/dev/zero (deleted)"),
 (0x7f0000401000, 0x7f0000402000, "rw-s", 0, 0, 1, 1026, "/memfd:a/SYSVx (deleted)"),
 (0x7f0000402000, 0x7f0000403000, "r--s", 0, 0xfe, 0, 99, "/home/u/SYSV/notes.txt"),
 (0x7f0000500000, 0x7f0000501000, "r--p", 0x123456789000, 0x103, 0x1a3f5, 18446744073709551615, "/data/big.img"),
 (0x7f0000600000, 0x7f0000601000, "r--p", 0, 0xfe, 0, 77, "/weird/dir/"),
 (0x7f0000700000, 0x7f0000701000, "r--p", 0, 0xfe, 0, 78, "/tmp/caf\u00e9\tx\\012y.bin"),
 (0x7f0000800000, 0x7f0000801000, "---p", 0, 0, 0, 0, ""),
 (0x7f0000801000, 0x7f0000801000 + 300 * G, "rw-p", 0, 0, 0, 0, ""),
 (0x7f4b00801000, 0x7f4b00802000, "rwxs", 0, 0, 5, 7, "/dev/shared thing"),
 (0x7ffd00000000, 0x7ffd00010000, "rw-p", 0, 0, 0, 0, ""),
 (0x7ffd00010000, 0x7ffd00031000, "rw-p", 0, 0, 0, 0, "[stack]"),
 (0x7ffd00031000, 0x7ffd00035000, "r--p", 0, 0, 0, 0, "[vvar]"),
 (0x7ffd00035000, 0x7ffd00037000, "r-xp", 0, 0, 0, 0, "[vdso]"),
 (0xffffffffff600000, 0xffffffffff601000, "--xp", 0, 0, 0, 0, "[vsyscall]"),
]
def line(v):
    s, e, p, off, ma, mi, ino, name = v
    pre = f"{s:08x}-{e:08x} {p} {off:08x} {ma:02x}:{mi:02x} {ino} "
    if name:
        pre = pre.ljust(72) + " " + name
    return pre
keys = ["Size","KernelPageSize","MMUPageSize","Rss","Pss","Pss_Dirty","Shared_Clean","Shared_Dirty",
        "Private_Clean","Private_Dirty","Referenced","Anonymous","KSM","LazyFree","AnonHugePages",
        "ShmemPmdMapped","FilePmdMapped","Shared_Hugetlb","Private_Hugetlb","Swap","SwapPss","Locked"]
maps = open(out + "/synthetic.maps", "wb")
smaps = open(out + "/synthetic.smaps", "wb")
for i, v in enumerate(vmas):
    l = line(v).encode("utf-8")
    maps.write(l + b"\n"); smaps.write(l + b"\n")
    size = (v[1] - v[0]) >> 10
    rss = min(size, 4 * (i * 7 % 13))
    vals = {"Size": size, "KernelPageSize": 4, "MMUPageSize": 4, "Rss": rss, "Pss": rss // 2,
            "Pss_Dirty": rss // 4, "Shared_Clean": rss // 2, "Shared_Dirty": (rss // 4) if "s" in v[2] else 0,
            "Private_Clean": 0, "Private_Dirty": rss - rss // 2 - ((rss // 4) if "s" in v[2] else 0),
            "Referenced": rss, "Anonymous": rss if v[6] == 0 else 0, "KSM": 0, "LazyFree": 0,
            "AnonHugePages": 2048 if size >= 300 * 1024 * 1024 else 0, "ShmemPmdMapped": 0, "FilePmdMapped": 0,
            "Shared_Hugetlb": 0, "Private_Hugetlb": 0, "Swap": i * 123 % 1000, "SwapPss": i * 61 % 500,
            "Locked": 0}
    for k in keys:
        smaps.write(f"{k + ':':<16}{vals[k]:>9} kB\n".encode())
    smaps.write(f"THPeligible:    {1 if size >= 2048 else 0}\n".encode())
    smaps.write(f"ProtectionKey:  {i % 3:>9}\n".encode())
    flags = {"r": "rd ", "w": "wr ", "x": "ex "}
    fl = "".join(flags[c] for c in v[2][:3] if c != "-") + ("sh " if v[2][3] == "s" else "") + "mr mw me " + ("ac " if v[6] == 0 else "") + ("gd " if v[7] == "[stack]" else "")
    smaps.write(f"VmFlags: {fl}\n".encode())

# The title: cmdline with UTF-8 and a tab; a comm with ") (" (only the last ')' ends it);
# startstack (field 28) on the boundary between the unnamed mapping and [stack].
open(out + "/synthetic.cmdline", "wb").write(b"app\0--name=caf\xc3\xa9\0tab\there\0")
stat = ["4242", "(my app) (x)", "S", "1", "4242", "4242", "0", "-1", "4194560", "100", "0", "0", "0",
        "1", "2", "0", "0", "20", "0", "1", "0", "12345", "322122547200", "100",
        "18446744073709551615", "93824992231424", "93824992247808", str(0x7ffd00010000)] + ["0"] * 24
open(out + "/synthetic.stat", "w").write(" ".join(stat) + "\n")
open(out + "/synthetic.status", "w").write(
    "Name:\tmy app) (x\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nNgid:\t0\nPid:\t4242\nPPid:\t1\n")

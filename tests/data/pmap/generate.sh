#!/bin/bash
# Regenerates synthetic.*.out: runs the real pmap (procps-ng 4.0.2) on the synthetic fixture,
# bind-mounted over a stopped `sleep` in a private mount namespace, and writes its output
# with the live pid in the title replaced by the fixture's 4242. Needs root. See README.md.
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
sleep 1000 & P=$!
disown $P
trap 'kill -9 $P; rm -rf "$T"' EXIT
kill -STOP $P
sed "s/^4242 /$P /" "$D/synthetic.stat" > "$T/stat"
# The blocks overlapping [7f0000200800, 7f0000402000], for the -x/-X "-A" expectations.
python3 - "$D/synthetic.smaps" "$T/smaps.trimmed" <<'PY'
import sys
lo, hi = 0x7f0000200800, 0x7f0000402000
keep = False; out = []
for l in open(sys.argv[1], 'rb'):
    if l[:1] in b'0123456789abcdef':
        s, e = [int(x, 16) for x in l.split(b' ')[0].split(b'-')]
        keep = e - 1 >= lo and s <= hi
    if keep: out.append(l)
open(sys.argv[2], 'wb').write(b''.join(out))
PY
run() {  # name smaps-file pmap-args...
  local name=$1 smaps=$2; shift 2
  LC_ALL=C.UTF-8 unshare -m sh -c "mount --make-rprivate / &&
    mount --bind '$D/synthetic.maps' /proc/$P/maps && mount --bind '$smaps' /proc/$P/smaps &&
    mount --bind '$T/stat' /proc/$P/stat && mount --bind '$D/synthetic.cmdline' /proc/$P/cmdline &&
    exec pmap \"\$@\" $P" pmap "$@" | sed "1s/^$P:/4242:/" > "$D/synthetic.$name.out"
}
S=$D/synthetic.smaps
run default "$S"
run q "$S" -q
run p "$S" -p
run d "$S" -d
run dq "$S" -d -q
run dp "$S" -d -p
run x "$S" -x
run xq "$S" -x -q
run xp "$S" -x -p
run X "$S" -X
run Xq "$S" -X -q
run Xp "$S" -X -p
run XX "$S" -XX
run XXq "$S" -XX -q
run XXp "$S" -XX -p
run A "$S" -A 7f0000200800,7f0000402000
run dA "$S" -d -A 7f0000200800,7f0000402000
run qA "$S" -q -A 7f0000200800,7f0000402000
run A-stack "$S" -A 7ffd00020000
run A-open "$S" -A 7ffd00031000,
# pmap -x/-X/-XX on a process whose only mappings are those in the range: what maptrail prints
# for -A there (4.0.2 miscounts -x -A totals and ignores -A with -X; see src/render/pmap.cpp).
run xA "$T/smaps.trimmed" -x
run XA "$T/smaps.trimmed" -X
run XXqA "$T/smaps.trimmed" -XX -q

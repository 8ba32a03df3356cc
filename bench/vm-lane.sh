#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The VM rows of make bench for vsd on Debian 12's kernels with pure cgroup
# v2 (bench/run.sh calls this; it also runs alone): start, exec and stop
# --kill of an instance against bare unshare/nsenter/kill on the same
# namespaces, both timed inside the same QEMU TCG guest of the VM lane
# (tests/vm/run.sh, which boots the kernel, fetching it when not cached,
# and leaves nothing running), one guest per kernel in VM_BENCH_KERNELS
# ("6.1 6.12").  Under TCG absolute times mean nothing; the ratio against
# the floor in the same guest does, and is what vm-lane.md shows.  The
# guest's half is bench/vm-guest.sh (VM_BENCH_RUNS, 20, of each).
#
# Writes bench/results/vm-lane.json (rows in the shared format) and
# vm-lane.md; a kernel whose guest fails is said so, and the others kept.
#
# Usage: bench/vm-lane.sh BUILD_DIR     (as root)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=$SRC/bench/results
mkdir -p "$OUT"
LOG=$(mktemp /tmp/vsd-bench-vm-lane.XXXXXX)
trap 'rm -f "$LOG"' EXIT

rows=()
status=0
for k in ${VM_BENCH_KERNELS:-6.1 6.12}; do
        echo "bench/vm-lane.sh: kernel $k" >&2
        rc=0
        VM_KERNEL=$k VM_BENCH_RUNS=${VM_BENCH_RUNS:-20} VM_TIMEOUT=${VM_TIMEOUT:-3600} \
                VM_GUEST_CMD="VM_BENCH_RUNS=${VM_BENCH_RUNS:-20} bench/vm-guest.sh /opt/vsd-vm/build" \
                "$SRC/tests/vm/run.sh" "$B" >"$LOG" 2>&1 || rc=$?
        n=$(grep -c '^VSD-BENCH-ROW ' "$LOG" || true)
        if [ "$rc" != 0 ] || [ "$n" = 0 ]; then
                echo "bench/vm-lane.sh: the $k guest failed (status $rc):" >&2
                grep -v '^VSD-BENCH-ROW ' "$LOG" | tail -n 30 >&2
                status=1
                continue
        fi
        rows+=("$(sed -n 's/^VSD-BENCH-ROW //p' "$LOG")")
done
[ ${#rows[@]} -gt 0 ] || exit 1

printf '%s\n' "${rows[@]}" >"$LOG"
python3 - "$OUT" "$LOG" <<'PY'
import datetime, json, sys
out, rows_file = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(rows_file) if l.strip()]
lines = [f"# vsd inside a VM on Debian 12 kernels, against bare namespaces in the same VM — {datetime.date.today()}", "",
         "QEMU with TCG (software emulation): absolute times mean nothing, the ratio to the floor does.", "",
         "| figure | vsd median ms | floor median ms | vsd / floor | runs | vsd | floor |",
         "|---|---:|---:|---:|---:|---|---|"]
by = {}
for r in rows:
    by.setdefault(r["figure"], {})[r["who"]] = r
for fig, d in by.items():
    v, f = d["vsd"], d["floor"]
    vd, fd = v["detail"].split(", inside")[0], f["detail"].split(", inside")[0]
    lines.append(f"| {fig} | {v['median']:.1f} | {f['median']:.1f} | {v['ratio']:.1f}x | {v['runs']} | {vd} | {fd} |")
text = "\n".join(lines) + "\n"
open(f"{out}/vm-lane.md", "w").write(text)
for r in rows:
    r.pop("ratio", None)
json.dump(rows, open(f"{out}/vm-lane.json", "w"), indent=1, ensure_ascii=False)
print(text)
PY
exit "$status"

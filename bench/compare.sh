#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The same requests against two builds of vsd, side by side in one run:
# this checkout's (BUILD_DIR) and the one of revision OLD (built from a
# clean tree of it, in a temporary directory).  Each has its own daemon,
# state root, cgroup parent and network tables, with COMPARE_N (100)
# instances running.  Then, alternating between the two daemons (the order
# swapped each round, so that a busy moment of the shared machine hits both
# alike; the first round a warmup): the start of a stopped instance
# (`vsctl start`, until its init runs) followed by its kill (not timed), and
# `vsctl exec NAME -- true`, COMPARE_RUNS (30) times each; the daemon's
# own CPU time over those (which the machine's load does not inflate as it
# does wall time); and each daemon's resident memory with its COMPARE_N
# instances.  Medians and the
# ratio new/old.  Writes bench/results/compare.{md,json}.  Leaves nothing.
#
# Usage: bench/compare.sh BUILD_DIR OLD     (as root; OLD a git revision)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
OLD_REV=${2:?usage: bench/compare.sh BUILD_DIR OLD-REVISION}
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
N=${COMPARE_N:-100}
RUNS=${COMPARE_RUNS:-30}
OUT=$SRC/bench/results
RAW=$OUT/raw
mkdir -p "$OUT" "$RAW"

T=$(mktemp -d /var/tmp/vsd-bench-cmp.XXXXXX)
PIDS=()
cleanup() {
        set +e
        for k in 0 1; do
                [ -n "${PIDS[$k]:-}" ] && B=${BUILDS[$k]} bench_vsd_end "${PIDS[$k]}" "$T/$k/run/vsd.sock"
                bench_cgroups_remove "vsd-bench-cmp-$$-$k"
                bench_net_remove "vsd_bench_cmp$k"
        done
        git -C "$SRC" worktree remove --force "$T/old-src" 2>/dev/null
        bench_dir_remove "$T"
}
trap cleanup EXIT

old=$(git -C "$SRC" rev-parse --short "$OLD_REV")
git -C "$SRC" worktree add --detach -q "$T/old-src" "$OLD_REV"
make -C "$T/old-src" -s -j2 B="$T/old-build" all >/dev/null
BUILDS=("$T/old-build" "$B")
NAMES=("old ($old)" "new ($(git -C "$SRC" rev-parse --short HEAD))")

for k in 0 1; do
        mkdir -p "$T/$k/root/templates" "$T/$k/run"
        "$SRC/templates/busybox/build.sh" "$T/$k/root/templates/busybox" >/dev/null
        printf '%s\n' "[network]" "default_mode = none" "link_prefix = vc$k" "nft_table = vsd_bench_cmp$k" >"$T/$k/vsd.conf"
        "${BUILDS[$k]}/vsd" --root "$T/$k/root" --run-dir "$T/$k/run" --socket "$T/$k/run/vsd.sock" \
                --cgroup-parent "vsd-bench-cmp-$$-$k" --log-level warning -c "$T/$k/vsd.conf" 2>>"$T/$k/vsd.log" &
        PIDS[$k]=$!
        B=${BUILDS[$k]} bench_vsd_wait "$T/$k/run/vsd.sock"
        for i in $(seq "$N"); do
                "${BUILDS[$k]}/vsctl" --socket "$T/$k/run/vsd.sock" create "c$i" --start >/dev/null
        done
        "${BUILDS[$k]}/vsctl" --socket "$T/$k/run/vsd.sock" create timed >/dev/null
done

python3 - "$RAW/compare.json" "$RUNS" "${BUILDS[0]}/vsctl" "$T/0/run/vsd.sock" "${PIDS[0]}" \
        "${BUILDS[1]}/vsctl" "$T/1/run/vsd.sock" "${PIDS[1]}" <<'PY'
import json, subprocess, sys, time
out, runs = sys.argv[1], int(sys.argv[2])
sides = [(sys.argv[3], sys.argv[4], int(sys.argv[5])), (sys.argv[6], sys.argv[7], int(sys.argv[8]))]
def v(side, *a):
    vsctl, sock, _ = sides[side]
    subprocess.run([vsctl, "--socket", sock, *a], check=True, stdout=subprocess.DEVNULL)
def timed(side, *a):
    t = time.perf_counter(); v(side, *a); return time.perf_counter() - t
res = {k: {"start": [], "exec": []} for k in (0, 1)}
import os
tick = os.sysconf("SC_CLK_TCK")
def cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
cpu = [0.0, 0.0]
for i in range(runs + 1):
    for side in ((0, 1) if i % 2 == 0 else (1, 0)):
        c0 = cpu_s(sides[side][2])
        s = timed(side, "start", "timed")
        e = timed(side, "exec", "timed", "--", "true")
        v(side, "stop", "--kill", "timed")
        if i > 0:
            res[side]["start"].append(s)
            res[side]["exec"].append(e)
            # the daemon's own CPU time: what the load of the machine
            # does not add to
            cpu[side] += cpu_s(sides[side][2]) - c0
def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
json.dump({"runs": res, "rss_kib": [rss_kib(s[2]) for s in sides], "cpu_s": cpu}, open(out, "w"))
PY

python3 - "$RAW/compare.json" "$OUT" "$N" "${NAMES[0]}" "${NAMES[1]}" <<'PY'
import json, statistics, sys, datetime
raw, out, n, old, new = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
d = json.load(open(raw))
r = d["runs"]
med = lambda k, what: statistics.median(r[k][what]) * 1000
lines = [f"# vsd old and new side by side — {datetime.date.today()}", "",
         f"{n} instances running on each daemon; medians of {len(r['0']['start'])} alternating runs.", "",
         f"| figure | {old} | {new} | new/old |", "|---|---:|---:|---:|"]
shared = []
for what, label in (("start", "vsctl start (init running), ms"), ("exec", "vsctl exec NAME -- true, ms")):
    o, w = med("0", what), med("1", what)
    lines.append(f"| {label} | {o:.1f} | {w:.1f} | {w / o:.2f}x |")
    shared.append({"figure": f"{label} with {n} instances, against {old}", "who": "vsd", "detail": "bench/compare.sh",
                   "unit": "ms", "median": round(w, 1), "min": round(min(r["1"][what]) * 1000, 1),
                   "max": round(max(r["1"][what]) * 1000, 1), "runs": len(r["1"][what]), "target": "within noise of the old",
                   "met": None, "note": f"{w / o:.2f}× {old}'s {o:.1f} ms in the same run"})
co, cn = (c * 1000 / len(r["0"]["start"]) for c in d["cpu_s"])
lines.append(f"| the daemon's CPU time per start + exec + stop, ms | {co:.1f} | {cn:.1f} | {cn / co:.2f}x |")
ro, rn = d["rss_kib"]
lines.append(f"| daemon RSS with {n} instances, KiB | {ro} | {rn} | {rn / ro:.2f}x |")
text = "\n".join(lines) + "\n"
open(f"{out}/compare.md", "w").write(text)
json.dump(shared, open(f"{out}/compare.json", "w"), indent=1, ensure_ascii=False)
print(text)
PY

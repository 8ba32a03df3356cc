#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# make bench: start and exec latency of vsd next to the floors the kernel
# allows (bare unshare with the same namespaces, nsenter into them), all in
# one run, alternating, medians over many runs.  Writes bench/results/.
#
# Usage: bench/run.sh BUILD_DIR     (as root)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-50}
OUT=$SRC/bench/results
mkdir -p "$OUT"

command -v hyperfine >/dev/null || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null
}

T=$(mktemp -d /tmp/vsd-bench.XXXXXX)
CG=vsd-bench-$$
SOCK=$T/run/vsd.sock
VSD_PID=
cleanup() {
        set +e
        if [ -n "$VSD_PID" ]; then
                for n in b-start b-exec; do
                        "$B/vsctl" --socket "$SOCK" stop --kill "$n" >/dev/null 2>&1
                        "$B/vsctl" --socket "$SOCK" destroy --force "$n" >/dev/null 2>&1
                done
                kill "$VSD_PID"
                wait "$VSD_PID" 2>/dev/null
        fi
        [ -n "${FLOOR_PID:-}" ] && kill -9 "$FLOOR_PID" 2>/dev/null && wait "$FLOOR_PID" 2>/dev/null
        for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
                [ -d "$h$CG" ] && find "$h$CG" -depth -type d -exec rmdir {} + 2>/dev/null
        done
        rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$T/root/templates" "$T/run"
"$SRC/templates/busybox/build.sh" "$T/root/templates/busybox" >/dev/null
"$B/vsd" --root "$T/root" --run-dir "$T/run" --socket "$SOCK" --cgroup-parent "$CG" --log-level warning \
        2>"$T/vsd.log" &
VSD_PID=$!
vsctl() { "$B/vsctl" --socket "$SOCK" "$@"; }
for _ in $(seq 100); do vsctl version >/dev/null 2>&1 && break; sleep 0.05; done
vsctl version >/dev/null

vsctl create b-start --memory 256M --cpus 1 --pids 200 >/dev/null
vsctl create b-exec --start >/dev/null
INIT_PID=$(vsctl --json info b-exec | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')

# The floor: the same namespaces with nothing else (no cgroup, no rootfs).
unshare --fork --pid --mount --uts --ipc --net --cgroup sleep 1000 &
FLOOR_PID=$!
sleep 0.2
FLOOR_CHILD=$(pgrep -P "$FLOOR_PID" | head -1)

hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$OUT/start-exec.json" \
        --export-markdown "$OUT/start-exec.md" \
        --prepare "sh -c '$B/vsctl --socket $SOCK stop --kill b-start >/dev/null 2>&1; true'" \
        -n "vsd: vsctl start (init running, limits set)" "$B/vsctl --socket $SOCK start b-start" \
        -n "floor: unshare -fpmuinC /bin/true" "unshare --fork --pid --mount --uts --ipc --net --cgroup /bin/true" \
        >"$T/h1.txt" 2>&1 || { cat "$T/h1.txt"; exit 1; }
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$OUT/exec.json" \
        --export-markdown "$OUT/exec.md" \
        -n "vsd: vsctl exec NAME true" "$B/vsctl --socket $SOCK exec b-exec -- true" \
        -n "floor: nsenter -a -t PID true" "nsenter -a -t $INIT_PID true" \
        >"$T/h2.txt" 2>&1 || { cat "$T/h2.txt"; exit 1; }

python3 - "$OUT" <<'PY'
import json, sys, statistics, datetime
out = sys.argv[1]
rows = []
for f in ("start-exec.json", "exec.json"):
    for r in json.load(open(f"{out}/{f}"))["results"]:
        t = sorted(r["times"])
        rows.append((r["command"], statistics.median(t) * 1e3, t[0] * 1e3, t[-1] * 1e3, len(t)))
targets = {"vsd: vsctl start (init running, limits set)": 3.0, "vsd: vsctl exec NAME true": 2.0}
floor = {"vsd: vsctl start (init running, limits set)": "floor: unshare -fpmuinC /bin/true",
         "vsd: vsctl exec NAME true": "floor: nsenter -a -t PID true"}
med = {r[0]: r[1] for r in rows}
lines = [f"# vsd benchmark — {datetime.date.today()}", "",
         "| what | median ms | min ms | max ms | runs | vs floor | target |",
         "|---|---:|---:|---:|---:|---:|---|"]
for name, m, lo, hi, n in rows:
    ratio = f"{m / med[floor[name]]:.2f}x" if name in floor else ""
    tgt = ""
    if name in targets:
        tgt = f"≤ {targets[name]} ms: " + ("met" if m <= targets[name] else "MISSED")
    lines.append(f"| {name} | {m:.2f} | {lo:.2f} | {hi:.2f} | {n} | {ratio} | {tgt} |")
text = "\n".join(lines) + "\n"
open(f"{out}/summary.md", "w").write(text)
json.dump([dict(zip(("command", "median_ms", "min_ms", "max_ms", "runs"), r)) for r in rows],
          open(f"{out}/summary.json", "w"), indent=1)
print(text)
PY

#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Unprivileged against privileged instances (make bench; bench/run.sh calls
# this, it also runs alone): start latency (vsctl start, from process start
# to exit, with a bridge network, the image backend; the two alternating,
# ABBA, stop --kill between untimed; medians over RUNS, at least 30) and
# the memory an idle instance is charged (its cgroup's usage N seconds
# after the start, N instances of each, medians).  Targets: unprivileged
# at most 1.2x privileged's start, no memory difference beyond noise.
# Its own daemon and directory, removed at exit.  Writes
# bench/results/userns.{md,json}.
#
# Usage: bench/userns.sh BUILD_DIR     (as root)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
RUNS=${RUNS:-50}
[ "$RUNS" -ge 30 ] || RUNS=30
MEM_N=${MEM_N:-5}
OUT=$SRC/bench/results
mkdir -p "$OUT"

bench_private userns /tmp vsd_bench_uns vsbenchu0
printf '%s\n' "[network]" "bridge = vsbenchu0" "bridge_ipv4 = 10.252.0.1/16" "link_prefix = vbu" \
        "nft_table = vsd_bench_uns" >"$T/vsd.conf"
bench_private_start

vsctl create s-unpriv >/dev/null
vsctl create s-priv --privileged >/dev/null
for i in $(seq "$MEM_N"); do
        vsctl create "m-unpriv-$i" >/dev/null
        vsctl create "m-priv-$i" --privileged >/dev/null
done

python3 - "$B/vsctl" "$SOCK" "$RUNS" "$MEM_N" "$OUT" <<'PY'
import json, statistics, subprocess, sys, time, datetime
vsctl, sock, runs, mem_n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def run(*args, check=False):
    r = subprocess.run([vsctl, "--socket", sock, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if check and r.returncode:
        sys.exit(f"vsctl {' '.join(args)} failed")
    return r.stdout
kinds = {"s-unpriv": "unprivileged", "s-priv": "privileged"}
times = {n: [] for n in kinds}
for i in range(runs + 3):
    for n in (("s-unpriv", "s-priv") if i % 2 == 0 else ("s-priv", "s-unpriv")):
        run("stop", "--kill", n)
        t = time.perf_counter()
        run("start", n, check=True)
        d = time.perf_counter() - t
        if i >= 3:
            times[n].append(d * 1e3)
for n in kinds:
    run("stop", "--kill", n)
# idle memory: every instance started, then left alone
for i in range(1, mem_n + 1):
    for k in ("unpriv", "priv"):
        run("start", f"m-{k}-{i}", check=True)
time.sleep(3)
mem = {"unpriv": [], "priv": []}
for i in range(1, mem_n + 1):
    for k in mem:
        st = json.loads(run("--json", "stats", f"m-{k}-{i}", check=True))
        mem[k].append(st["memory"]["usage"] / 1024)
for i in range(1, mem_n + 1):
    for k in mem:
        run("stop", "--kill", f"m-{k}-{i}")
su, sp = statistics.median(times["s-unpriv"]), statistics.median(times["s-priv"])
mu, mp = statistics.median(mem["unpriv"]), statistics.median(mem["priv"])
ratio = su / sp
lines = [f"# unprivileged against privileged instances — {datetime.date.today()}", "",
         "| what | unprivileged | privileged | ratio | target |", "|---|---:|---:|---:|---|",
         f"| vsctl start, median ms ({runs} each, ABBA; min–max {min(times['s-unpriv']):.1f}–{max(times['s-unpriv']):.1f} "
         f"/ {min(times['s-priv']):.1f}–{max(times['s-priv']):.1f}) | {su:.2f} | {sp:.2f} | {ratio:.2f}x | ≤ 1.2x: "
         + ("met" if ratio <= 1.2 else "MISSED") + " |",
         f"| memory of an idle busybox instance, median KiB ({mem_n} each) | {mu:.0f} | {mp:.0f} | {mu / mp:.2f}x | "
         f"no difference: {mu - mp:+.0f} KiB |"]
text = "\n".join(lines) + "\n"
open(f"{out}/userns.md", "w").write(text)
json.dump([{"figure": "vsctl start, unprivileged against privileged", "who": "vsd", "unit": "ms",
            "median": round(su, 3), "min": round(min(times["s-unpriv"]), 3), "max": round(max(times["s-unpriv"]), 3),
            "runs": runs, "target": "≤ 1.2× privileged", "met": ratio <= 1.2,
            "note": f"privileged {sp:.2f} ms, {ratio:.2f}×", "detail": "bench/userns.sh"},
           {"figure": "memory of an idle instance, unprivileged against privileged", "who": "vsd", "unit": "KiB",
            "median": round(mu), "min": round(min(mem["unpriv"])), "max": round(max(mem["unpriv"])), "runs": mem_n,
            "target": None, "met": None, "note": f"privileged {mp:.0f} KiB", "detail": "bench/userns.sh"}],
          open(f"{out}/userns.json", "w"), indent=1, ensure_ascii=False)
print(text)
PY

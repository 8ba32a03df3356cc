#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The /metrics rows of make bench (bench/run.sh calls this; it also runs
# alone): what one GET /metrics costs the daemon with METRICS_RUNNING (200)
# running instances and METRICS_STOPPED (800) stopped ones, 1000 in all:
# the time to read every instance's figures from the kernel (the answer's
# own vsd_metrics_collect_seconds), the whole request as curl sees it, the
# answer's size, and `vsctl list` while a scraper asks for /metrics in a
# loop against `vsctl list` alone: the loop must not stall.  Medians of
# METRICS_RUNS (20).  Its own daemon and directory, removed at exit.
# Writes bench/results/metrics.{md,json}.
#
# Usage: bench/metrics.sh BUILD_DIR     (as root)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
RUNNING=${METRICS_RUNNING:-200}
STOPPED=${METRICS_STOPPED:-800}
RUNS=${METRICS_RUNS:-20}
OUT=$SRC/bench/results
RAW=$OUT/raw
mkdir -p "$OUT" "$RAW"

T=$(mktemp -d /var/tmp/vsd-bench-metrics.XXXXXX)
CG=vsd-bench-metrics-$$
SOCK=$T/run/vsd.sock
VSD_PID=
cleanup() {
        set +e
        if [ -n "$VSD_PID" ]; then
                for n in $("$B/vsctl" --socket "$SOCK" list 2>/dev/null | awk '$2 == "running" { print $1 }'); do
                        "$B/vsctl" --socket "$SOCK" stop --kill "$n" >/dev/null 2>&1
                done
                bench_vsd_end "$VSD_PID" "$SOCK"
        fi
        bench_cgroups_remove "$CG"
        bench_net_remove vsd_bench_mx
        ip link del vsbmx0 2>/dev/null
        bench_dir_remove "$T"
}
trap cleanup EXIT

mkdir -p "$T/root/templates" "$T/run"
"$SRC/templates/busybox/build.sh" "$T/root/templates/busybox" >/dev/null
printf '%s\n' "[network]" "bridge = vsbmx0" "bridge_ipv4 = 10.79.0.1/21" "link_prefix = vbmx" \
        "nft_table = vsd_bench_mx" "[defaults]" "memory = 64M" >"$T/vsd.conf"
"$B/vsd" --root "$T/root" --run-dir "$T/run" --socket "$SOCK" --cgroup-parent "$CG" --log-level warning \
        -c "$T/vsd.conf" 2>>"$T/vsd.log" &
VSD_PID=$!
bench_vsd_wait "$SOCK"
vsctl() { "$B/vsctl" --socket "$SOCK" "$@"; }
echo "metrics: creating $((RUNNING + STOPPED)) instances, starting $RUNNING" >&2
for k in $(seq "$RUNNING"); do
        vsctl create "r$k" --start >/dev/null
done
for k in $(seq "$STOPPED"); do
        vsctl create "s$k" >/dev/null
done

python3 - "$RAW/metrics.json" "$RUNS" "$B" "$SOCK" "$RUNNING" "$STOPPED" "$VSD_PID" <<'PY'
import json, os, re, statistics, subprocess, sys, time
out, runs, b, sock, running, stopped = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
pid = int(sys.argv[7])
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
vsctl = [f"{b}/vsctl", "--socket", sock]
def scrape():
    t = time.perf_counter()
    r = subprocess.run(["curl", "-sf", "--unix-socket", sock, "http://vsd/metrics"], check=True, stdout=subprocess.PIPE)
    d = time.perf_counter() - t
    m = re.search(rb"^vsd_metrics_collect_seconds ([0-9.]+)$", r.stdout, re.M)
    return d, float(m.group(1)), len(r.stdout)
def lst():
    t = time.perf_counter(); subprocess.run(vsctl + ["list"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t
req, collect, size = [], [], 0
c0 = cpu()
for _ in range(runs):
    d, c, size = scrape()
    req.append(d); collect.append(c)
cpu_ms = (cpu() - c0) / runs * 1000
idle = [lst() for _ in range(runs)]
# a scraper in a loop, and vsctl list meanwhile
p = subprocess.Popen(["sh", "-c", f"while :; do curl -sf --unix-socket {sock} http://vsd/metrics >/dev/null; done"])
busy = []
try:
    time.sleep(0.3)
    for _ in range(runs):
        busy.append(lst())
finally:
    p.kill(); p.wait()
med = lambda v: statistics.median(v) * 1000
res = {"running": running, "stopped": stopped, "runs": runs, "request_ms": med(req), "collect_ms": med(collect),
       "render_ms": med(req) - med(collect), "bytes": size, "list_idle_ms": med(idle), "list_scraped_ms": med(busy),
       "list_scraped_max_ms": max(busy) * 1000, "daemon_cpu_ms": cpu_ms,
       "load": os.getloadavg()[0]}
json.dump(res, open(out, "w"), indent=1)
print(json.dumps(res))
PY
python3 - "$RAW/metrics.json" "$OUT/metrics.md" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    f.write(f"""## GET /metrics with {r['running']} running and {r['stopped']} stopped instances

| what | median of {r['runs']} |
|---|---|
| the daemon's CPU time per request (reading, rendering, sending) | {r['daemon_cpu_ms']:.1f} ms |
| reading every instance's figures (vsd_metrics_collect_seconds, wall) | {r['collect_ms']:.1f} ms |
| the whole request (curl) | {r['request_ms']:.1f} ms |
| the answer | {r['bytes'] / 1e6:.2f} MB |
| `vsctl list` alone | {r['list_idle_ms']:.1f} ms |
| `vsctl list` while a scraper asks for /metrics in a loop | {r['list_scraped_ms']:.1f} ms (slowest {r['list_scraped_max_ms']:.1f} ms) |

Load average during the run: {r['load']:.1f} (wall times grow with it; the CPU time does not).
""")
print(open(sys.argv[2]).read())
PY

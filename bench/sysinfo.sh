#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The sysinfo(2) rows of make bench (bench/run.sh calls this; it also runs
# alone): what one sysinfo() call costs inside an instance, where vsd
# answers it (vsd/view/sysinfo.c), against the kernel's own answer on the
# host (the probe's loop of SYSINFO_CALLS calls, 20000, both); and how long
# `vsctl list` takes while a process inside calls sysinfo() SYSINFO_STORM
# (100000) times as fast as it can, against the same request with nothing
# running (SYSINFO_RUNS, 30, samples each, alternating).  Medians.  Its own
# daemon and directory, removed at exit.  Writes
# bench/results/sysinfo.{md,json}.
#
# Usage: bench/sysinfo.sh BUILD_DIR     (as root)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
RUNS=${SYSINFO_RUNS:-30}
CALLS=${SYSINFO_CALLS:-20000}
STORM=${SYSINFO_STORM:-100000}
OUT=$SRC/bench/results
RAW=$OUT/raw
mkdir -p "$OUT" "$RAW"

EXTRA_FILES="$B/tests/probe:probe" bench_private sysinfo /var/tmp vsd_bench_si
printf '%s\n' "[network]" "default_mode = none" "link_prefix = vbs" "nft_table = vsd_bench_si" >"$T/vsd.conf"
bench_private_start
vsctl create s1 --memory 128M --start >/dev/null

python3 - "$RAW/sysinfo.json" "$RUNS" "$CALLS" "$STORM" "$B" "$SOCK" <<'PY'
import json, subprocess, sys, time
out, runs, calls, storm, b, sock = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
vsctl = [f"{b}/vsctl", "--socket", sock]
def val(text, key):
    for line in text.splitlines():
        if line.startswith(key + "="):
            return float(line.split("=", 1)[1])
    sys.exit(f"no {key} in {text!r}")
def loop(cmd):
    return val(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout, "us_per_call")
inside, host = [], []
for _ in range(5):
    inside.append(loop(vsctl + ["exec", "s1", "--", "/probe", "sysinfo-loop", str(calls)]))
    host.append(loop([f"{b}/tests/probe", "sysinfo-loop", str(calls)]))
def lst():
    t = time.perf_counter(); subprocess.run(vsctl + ["list"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t
idle, busy, storms = [], [], []
while len(busy) < runs:
    for _ in range(3):
        idle.append(lst())
    p = subprocess.Popen(vsctl + ["exec", "s1", "--", "/probe", "sysinfo-loop", str(storm)],
                         stdout=subprocess.PIPE, text=True)
    time.sleep(0.2)
    while p.poll() is None:
        d = lst()
        if p.poll() is None:
            busy.append(d)
        time.sleep(0.05)
    o = p.stdout.read()
    if p.returncode != 0 or val(o, "failed") != 0:
        sys.exit(f"the storm failed: {o!r}")
    storms.append(val(o, "us_per_call"))
json.dump({"inside_us": inside, "host_us": host, "idle": idle, "busy": busy, "storm_us": storms}, open(out, "w"))
PY

python3 - "$RAW/sysinfo.json" "$OUT" "$STORM" <<'PY'
import json, statistics, sys, datetime
raw, out, storm = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = json.load(open(raw))
med = statistics.median
i_us, h_us = med(d["inside_us"]), med(d["host_us"])
li, lb = med(d["idle"]) * 1000, med(d["busy"]) * 1000
lines = [f"# vsd: sysinfo(2) answered by the daemon — {datetime.date.today()}", "",
         "| figure | median | min | max | samples |", "|---|---:|---:|---:|---:|",
         f"| one sysinfo() inside an instance (answered by vsd), µs | {i_us:.1f} | {min(d['inside_us']):.1f} | {max(d['inside_us']):.1f} | {len(d['inside_us'])} |",
         f"| one sysinfo() on the host (the kernel), µs | {h_us:.2f} | {min(d['host_us']):.2f} | {max(d['host_us']):.2f} | {len(d['host_us'])} |",
         f"| one sysinfo() during a {storm}-call storm, µs | {med(d['storm_us']):.1f} | {min(d['storm_us']):.1f} | {max(d['storm_us']):.1f} | {len(d['storm_us'])} |",
         f"| vsctl list, nothing running, ms | {li:.1f} | {min(d['idle']) * 1000:.1f} | {max(d['idle']) * 1000:.1f} | {len(d['idle'])} |",
         f"| vsctl list during the storm, ms | {lb:.1f} | {min(d['busy']) * 1000:.1f} | {max(d['busy']) * 1000:.1f} | {len(d['busy'])} |"]
shared = [
    {"figure": "sysinfo() inside an instance (answered by vsd)", "who": "vsd", "detail": "bench/sysinfo.sh",
     "unit": "µs", "median": round(i_us, 1), "min": round(min(d["inside_us"]), 1), "max": round(max(d["inside_us"]), 1),
     "runs": len(d["inside_us"]), "target": None, "met": None, "note": f"{i_us / h_us:.0f}× the kernel's own ({h_us:.2f} µs)"},
    {"figure": f"vsctl list while an instance calls sysinfo() {storm} times", "who": "vsd", "detail": "bench/sysinfo.sh",
     "unit": "ms", "median": round(lb, 1), "min": round(min(d["busy"]) * 1000, 1), "max": round(max(d["busy"]) * 1000, 1),
     "runs": len(d["busy"]), "target": None, "met": None, "note": f"{lb / li:.2f}× with nothing running ({li:.1f} ms)"},
]
text = "\n".join(lines) + "\n"
open(f"{out}/sysinfo.md", "w").write(text)
json.dump(shared, open(f"{out}/sysinfo.json", "w"), indent=1, ensure_ascii=False)
print(text)
PY

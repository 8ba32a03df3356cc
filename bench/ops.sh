#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The "while a copy runs" rows of make bench (bench/run.sh calls this; it
# also runs alone): how long `vsctl list`, `vsctl exec OTHER -- true` and
# `vsctl stats OTHER` take while the daemon snapshots an instance whose
# image holds OPS_MB MiB (2048) of data, against the same requests with
# nothing running.  The copy runs at the host disk's own speed; snapshots
# are taken one after another until every request has OPS_RUNS (15)
# samples during a copy.  The idle and busy samples alternate with the
# copies (idle ones between two snapshots), so that a busy moment of the
# shared machine hits both alike.  Medians.  Its own daemon and directory,
# removed at exit.  Writes bench/results/ops.{md,json}.
#
# Usage: bench/ops.sh BUILD_DIR     (as root)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
RUNS=${OPS_RUNS:-15}
MB=${OPS_MB:-2048}
OUT=$SRC/bench/results
RAW=$OUT/raw
mkdir -p "$OUT" "$RAW"

bench_private ops /var/tmp vsd_bench_ops
printf '%s\n' "[network]" "default_mode = none" "link_prefix = vbo" "nft_table = vsd_bench_ops" >"$T/vsd.conf"
bench_private_start
vsctl create big --disk "$((MB / 1024 + 1))G" --start >/dev/null
vsctl create other --start >/dev/null
# data, not holes: the copy moves every byte
vsctl exec big -- sh -c "dd if=/dev/urandom of=/root/data bs=1M count=$MB conv=fsync 2>/dev/null"

python3 - "$RAW/ops.json" "$RUNS" "$B/vsctl" "$SOCK" <<'PY'
import json, subprocess, sys, time
out, runs, vsctl, sock = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def v(*a, **kw):
    return subprocess.run([vsctl, "--socket", sock, *a], check=True, stdout=subprocess.PIPE, **kw).stdout
reqs = {"list": ["list"], "exec": ["exec", "other", "--", "true"], "stats": ["stats", "other"]}
idle = {k: [] for k in reqs}
busy = {k: [] for k in reqs}
copies, copy_s, n = 0, [], 0
def state(op):
    return json.loads(v("--json", "op", "show", op))["state"]
while min(len(b) for b in busy.values()) < runs:
    for k, a in reqs.items():
        t = time.perf_counter(); v(*a); idle[k].append(time.perf_counter() - t)
    n += 1
    op = v("snapshot", "big", f"s{n}", "--detach").decode().strip()
    t0 = time.perf_counter()
    while state(op) == "running":
        for k, a in reqs.items():
            t = time.perf_counter(); v(*a); d = time.perf_counter() - t
            # counted only if the copy was still running after it
            if state(op) == "running":
                busy[k].append(d)
    copy_s.append(time.perf_counter() - t0)
    if state(op) != "succeeded":
        sys.exit(f"snapshot s{n} ended {state(op)}")
    v("delete-snapshot", "big", f"s{n}")
    copies += 1
    if copies > 40:
        sys.exit("the copies end before the requests could be timed during them")
json.dump({"idle": idle, "busy": busy, "copies": copies, "copy_s": copy_s}, open(out, "w"))
PY

python3 - "$RAW/ops.json" "$OUT" "$MB" <<'PY'
import json, statistics, sys, datetime
raw, out, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = json.load(open(raw))
lines = [f"# vsd: requests while a {mb} MiB snapshot is copied — {datetime.date.today()}", "",
         f"{d['copies']} copies, median {statistics.median(d['copy_s']):.1f} s each.", "",
         "| request | idle median ms | during a copy median ms | max during ms | samples | ratio |",
         "|---|---:|---:|---:|---:|---:|"]
shared = []
for k in ("list", "exec", "stats"):
    i, b = statistics.median(d["idle"][k]) * 1000, statistics.median(d["busy"][k]) * 1000
    lines.append(f"| vsctl {k} | {i:.1f} | {b:.1f} | {max(d['busy'][k]) * 1000:.1f} | {len(d['busy'][k])} | {b / i:.2f}x |")
    shared.append({"figure": f"vsctl {k} while a {mb} MiB snapshot is copied", "who": "vsd",
                   "detail": "bench/ops.sh", "unit": "ms", "median": round(b, 1),
                   "min": round(min(d["busy"][k]) * 1000, 1), "max": round(max(d["busy"][k]) * 1000, 1),
                   "runs": len(d["busy"][k]), "target": None, "met": None,
                   "note": f"{b / i:.2f}× the same request with no copy running ({i:.1f} ms)"})
text = "\n".join(lines) + "\n"
open(f"{out}/ops.md", "w").write(text)
json.dump(shared, open(f"{out}/ops.json", "w"), indent=1, ensure_ascii=False)
print(text)
PY

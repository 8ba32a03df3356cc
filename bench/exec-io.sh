#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The exec stream rows of make bench (bench/run.sh calls this; it also runs
# alone): `vsctl exec NAME -- cat < FILE > /dev/null` with a file of
# EXEC_IO_MB MiB (1024), whose bytes go through the command's stdin pipe,
# cat inside and its stdout pipe, relayed by vsctl at both ends, against the
# same bytes through a pipe between two cats on the host
# (`cat < FILE | cat > /dev/null`): the cost of relaying an exec's stdio
# instead of handing the caller's own files to the instance.  Medians over
# EXEC_IO_RUNS (10), the two alternating, the file in the page cache.  Its own daemon and
# directory, removed at exit.  Writes bench/results/exec-io.{md,json}.
#
# Usage: bench/exec-io.sh BUILD_DIR     (as root)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
RUNS=${EXEC_IO_RUNS:-10}
MB=${EXEC_IO_MB:-1024}
OUT=$SRC/bench/results
RAW=$OUT/raw
mkdir -p "$OUT" "$RAW"

bench_private exec /var/tmp vsd_bench_exec
printf '%s\n' "[network]" "default_mode = none" "link_prefix = vbx" "nft_table = vsd_bench_exec" >"$T/vsd.conf"
bench_private_start
"$B/vsctl" --socket "$SOCK" create x-io --start >/dev/null

# Random bytes (no file system or pipe shortcut for zeros), read once so
# that both sides read them from the page cache.
head -c "${MB}M" /dev/urandom >"$T/data"
cat "$T/data" >/dev/null
# The two alternate, the order swapped each round (ABBA), so that a busy
# moment of the shared machine hits both alike; the first round is a
# warmup.  Both through sh -c: the same extra process on each side.
python3 - "$RAW/exec-io.json" "$RUNS" \
        "vsd: vsctl exec NAME -- cat < ${MB} MiB > /dev/null" \
        "$B/vsctl --socket $SOCK exec x-io -- cat <$T/data >/dev/null" \
        "floor: cat < ${MB} MiB | cat > /dev/null" "cat <$T/data | cat >/dev/null" <<'PY'
import json, subprocess, sys, time
out, runs = sys.argv[1], int(sys.argv[2])
cmds = [(sys.argv[3], sys.argv[4]), (sys.argv[5], sys.argv[6])]
times = {name: [] for name, _ in cmds}
for i in range(runs + 1):
    for name, cmd in (cmds if i % 2 == 0 else cmds[::-1]):
        t = time.perf_counter()
        r = subprocess.run(["sh", "-c", cmd])
        d = time.perf_counter() - t
        if r.returncode != 0:
            sys.exit(f"'{cmd}' failed with status {r.returncode}")
        if i > 0:
            times[name].append(d)
json.dump({"results": [{"command": name, "times": times[name]} for name, _ in cmds]}, open(out, "w"))
PY

python3 - "$RAW/exec-io.json" "$OUT" "$MB" <<'PY'
import json, statistics, sys, datetime
raw, out, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
res = json.load(open(raw))["results"]
rows = []
for r in res:
    t = sorted(r["times"])
    rows.append((r["command"], statistics.median(t), t[0], t[-1], len(t)))
floor = rows[1][1]
lines = [f"# vsd exec stream benchmark — {datetime.date.today()}", "",
         "| what | median s | min s | max s | runs | MiB/s (median) | time vs host pipe |",
         "|---|---:|---:|---:|---:|---:|---:|"]
shared = []
for name, m, lo, hi, n in rows:
    ratio = m / floor
    lines.append(f"| {name.replace('|', chr(92) + '|')} | {m:.3f} | {lo:.3f} | {hi:.3f} | {n} | {mb / m:.0f} | {ratio:.2f}x |")
    who, _, figure = name.partition(": ")
    vsd = who == "vsd"
    shared.append({"figure": f"{mb} MiB through an exec's stdin and stdout (cat)", "who": who,
                   "detail": "bench/exec-io.sh: " + name, "unit": "MiB/s", "median": round(mb / m),
                   "min": round(mb / hi), "max": round(mb / lo), "runs": n,
                   "target": "≥ 0.8× a host pipe" if vsd else None, "met": (floor / m >= 0.8) if vsd else None,
                   "note": f"{floor / m:.2f}× the throughput of cat | cat on the host" if vsd else None})
text = "\n".join(lines) + "\n"
open(f"{out}/exec-io.md", "w").write(text)
json.dump(shared, open(f"{out}/exec-io.json", "w"), indent=1, ensure_ascii=False)
print(text)
PY

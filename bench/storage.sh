#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The storage rows of make bench (bench/run.sh calls this; it also runs
# alone): create latency from an existing template with the image and the
# dir backend (medians over RUNS, at least 30), the host disk a new image
# instance takes before any write, start and stop with each backend, and
# the write throughput inside an image instance (dd of 1 GiB with
# conv=fsync) against the same dd on the host's filesystem, with the
# loop device's direct I/O on (the default) and off.  Its own daemon and
# directory, removed at exit.  Writes bench/results/storage.{md,json}.
#
# Usage: bench/storage.sh BUILD_DIR     (as root)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
RUNS=${RUNS:-50}
[ "$RUNS" -ge 30 ] || RUNS=30
DD_MB=${DD_MB:-1024}
OUT=$SRC/bench/results
mkdir -p "$OUT"

bench_private stor /tmp vsd_bench_stor
printf '%s\n' "[network]" "default_mode = none" "link_prefix = vbs" "nft_table = vsd_bench_stor" >"$T/vsd.conf"
bench_private_start

now_us() { echo "${EPOCHREALTIME/./}"; }
# time_ms CMD...: milliseconds CMD took, its output discarded
time_ms() {
        local a b
        a=$(now_us)
        "$@" >/dev/null 2>&1
        b=$(now_us)
        echo "$(((b - a) / 1000)).$(((b - a) % 1000 / 100))"
}

: >"$T/rows"
row() { printf '%s\t%s\n' "$1" "$2" >>"$T/rows"; }

# The first image of a size runs mke2fs into the cache; later ones copy it.
row "first create of a new disk size (mke2fs into the cache) ms" "$(time_ms vsctl create c-first --disk 10G)"
for i in $(seq "$RUNS"); do
        row "create, image backend (10G) ms" "$(time_ms vsctl create "c-img-$i")"
        row "host disk of a new image instance KiB" "$(($(stat -c %b "$T/root/instances/c-img-$i/disk.img") / 2))"
        row "create, dir backend ms" "$(time_ms vsctl create "c-dir-$i" --storage dir)"
done
# start and stop --kill of one instance of each backend, alternating (ABBA):
# on cgroup v1 a start's cost drifts with what the kernel did just before
vsctl create ab-img --net none >/dev/null
vsctl create ab-dir --net none --storage dir >/dev/null 2>&1
python3 - "$B/vsctl" "$SOCK" "$RUNS" >>"$T/rows" <<'PY'
import subprocess, sys, time
vsctl, sock, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = {"ab-img": "image backend", "ab-dir": "dir backend"}
def timed(*args):
    t = time.perf_counter()
    r = subprocess.run([vsctl, "--socket", sock, *args], stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        sys.exit(f"vsctl {' '.join(args)} failed")
    return (time.perf_counter() - t) * 1e3
for i in range(runs + 3):
    for n in (("ab-img", "ab-dir") if i % 2 == 0 else ("ab-dir", "ab-img")):
        start = timed("start", n)
        stop = timed("stop", "--kill", n)
        if i >= 3:
            print(f"start, {names[n]} ms\t{start:.2f}")
            print(f"stop --kill, {names[n]} ms\t{stop:.2f}")
PY
for i in $(seq "$RUNS"); do
        vsctl destroy "c-img-$i" >/dev/null
        vsctl destroy "c-dir-$i" >/dev/null
done

# Seconds a write of DD_MB MiB takes, including its fsync: busybox dd
# inside knows conv=fsync (not fdatasync) and prints no timing of its own,
# so both are timed from here (exec's cost, about a millisecond, included).
secs() {
        local a b
        a=$(now_us)
        "$@" >/dev/null 2>&1
        b=$(now_us)
        awk -v d=$((b - a)) 'BEGIN { printf "%.3f", d / 1e6 }'
}
host_dd() {
        secs dd if=/dev/zero of="$T/dd.test" bs=1M count="$DD_MB" conv=fsync
        rm -f "$T/dd.test"
        sync
}
inst_dd() { # NAME
        secs vsctl exec "$1" -- dd if=/dev/zero of=/dd.test bs=1M count="$DD_MB" conv=fsync
        vsctl exec "$1" -- sh -c 'rm /dd.test && sync'
}
throughput() { # LABEL NAME
        local k
        for k in 1 2 3; do
                row "dd ${DD_MB} MiB conv=fsync on the host's filesystem MB/s" \
                        "$(awk -v s="$(host_dd)" -v m="$DD_MB" 'BEGIN { printf "%.0f", m * 1.048576 / s }')"
                row "dd ${DD_MB} MiB conv=fsync inside, $1 MB/s" \
                        "$(awk -v s="$(inst_dd "$2")" -v m="$DD_MB" 'BEGIN { printf "%.0f", m * 1.048576 / s }')"
        done
}
vsctl create w-dio --start >/dev/null
throughput "image, direct_io = yes" w-dio
vsctl stop --kill w-dio >/dev/null
bench_private_stop
printf '%s\n' "[storage]" "direct_io = no" >>"$T/vsd.conf"
bench_private_start
vsctl create w-buf --start >/dev/null
throughput "image, direct_io = no" w-buf
vsctl stop --kill w-buf >/dev/null

python3 - "$T/rows" "$OUT" "$DD_MB" <<'PY'
import json, sys, statistics, datetime, collections
rows, out, mb = sys.argv[1], sys.argv[2], sys.argv[3]
vals = collections.OrderedDict()
for line in open(rows):
    k, v = line.rstrip("\n").split("\t")
    vals.setdefault(k, []).append(float(v))
med = {k: statistics.median(v) for k, v in vals.items()}
host = f"dd {mb} MiB conv=fsync on the host's filesystem MB/s"
targets = {"create, image backend (10G) ms": ("≤ 20", lambda m: m <= 20),
           "host disk of a new image instance KiB": ("≤ 1024", lambda m: m <= 1024)}
lines = [f"# vsd storage benchmark — {datetime.date.today()}", "",
         "| what | median | min | max | runs | target |", "|---|---:|---:|---:|---:|---|"]
for k, v in vals.items():
    tgt = ""
    if k in targets:
        tgt = targets[k][0] + ": " + ("met" if targets[k][1](med[k]) else "MISSED")
    if k.startswith("dd") and k != host:
        r = med[k] / med[host]
        tgt = f"{r:.2f}x the host, ≥ 0.9x: " + ("met" if r >= 0.9 else "MISSED")
    lines.append(f"| {k} | {med[k]:.1f} | {min(v):.1f} | {max(v):.1f} | {len(v)} | {tgt} |")
text = "\n".join(lines) + "\n"
open(f"{out}/storage.md", "w").write(text)
json.dump([{"what": k, "median": med[k], "min": min(v), "max": max(v), "runs": len(v)} for k, v in vals.items()],
          open(f"{out}/storage.json", "w"), indent=1)
print(text)
PY

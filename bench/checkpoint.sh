#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The checkpoint rows of make bench (bench/run.sh calls this; it also runs
# alone): `vsctl checkpoint` and `vsctl restore` of an idle busybox
# instance, of one whose process keeps 64 MiB of its memory dirty (probe
# dirty) and of one holding 64 MiB in /dev/shm (a tmpfs, which CRIU
# archives with tar and gzip), CKPT_RUNS (10) of each, alternating; the
# time of each request as vsctl sees it, and the checkpoint's size on disk.
# Medians.  Its own daemon and directory, removed at exit.  Writes
# bench/results/checkpoint.{md,json}.
#
# Usage: bench/checkpoint.sh BUILD_DIR     (as root; CRIU from make deps)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
RUNS=${CKPT_RUNS:-10}
OUT=$SRC/bench/results
RAW=$OUT/raw
mkdir -p "$OUT" "$RAW"

T=$(mktemp -d /var/tmp/vsd-bench-ckpt.XXXXXX)
CG=vsd-bench-ckpt-$$
SOCK=$T/run/vsd.sock
VSD_PID=
cleanup() {
        set +e
        [ -n "$VSD_PID" ] && bench_vsd_end "$VSD_PID" "$SOCK"
        bench_cgroups_remove "$CG"
        bench_net_remove "vsd_bench_ck$$"
        bench_dir_remove "$T"
}
trap cleanup EXIT

mkdir -p "$T/root/templates" "$T/run"
EXTRA_FILES="$B/tests/probe:probe" "$SRC/templates/busybox/build.sh" "$T/root/templates/busybox" >/dev/null
printf '%s\n' "[network]" "default_mode = none" "link_prefix = vbk" "nft_table = vsd_bench_ck$$" >"$T/vsd.conf"
"$B/vsd" --root "$T/root" --run-dir "$T/run" --socket "$SOCK" --cgroup-parent "$CG" --log-level warning \
        -c "$T/vsd.conf" 2>>"$T/vsd.log" &
VSD_PID=$!
bench_vsd_wait "$SOCK"
vsctl() { "$B/vsctl" --socket "$SOCK" "$@"; }
vsctl create idle --memory 256M --start >/dev/null
vsctl create dirty --memory 256M --start >/dev/null
vsctl create shm --memory 256M --start >/dev/null
# 64 MiB of a process's own memory, every page written again every 50 ms
vsctl exec dirty -- sh -c '/probe dirty 64 </dev/null >/dev/null 2>&1 &'
# 64 MiB of incompressible data in /dev/shm, the instance's tmpfs
vsctl exec shm -- sh -c 'dd if=/dev/urandom of=/dev/shm/fill bs=1M count=64 2>/dev/null'

python3 - "$RAW/checkpoint.json" "$RUNS" "$B" "$SOCK" "$T/root/instances" <<'PY'
import json, os, subprocess, sys, time
out, runs, b, sock, idir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
vsctl = [f"{b}/vsctl", "--socket", sock]
def timed(*args):
    t = time.perf_counter(); subprocess.run(vsctl + list(args), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t
def size(name):
    d = os.path.join(idir, name, "checkpoint")
    return sum(os.stat(os.path.join(d, f)).st_blocks * 512 for f in os.listdir(d))
res = {k: {"checkpoint": [], "restore": [], "bytes": []} for k in ("idle", "dirty", "shm")}
for _ in range(runs):
    for k in ("idle", "dirty", "shm"):
        time.sleep(0.5)
        res[k]["checkpoint"].append(timed("checkpoint", k))
        res[k]["bytes"].append(size(k))
        res[k]["restore"].append(timed("restore", k, "--unlocked-mounts"))
json.dump(res, open(out, "w"))
PY

python3 - "$RAW/checkpoint.json" "$OUT" <<'PY'
import json, statistics, sys, datetime
raw, out = sys.argv[1], sys.argv[2]
r = json.load(open(raw))
m = lambda v: statistics.median(v)
rows = {k: {"checkpoint_s": m(r[k]["checkpoint"]), "restore_s": m(r[k]["restore"]),
            "image_mib": m(r[k]["bytes"]) / 2**20, "runs": len(r[k]["checkpoint"])} for k in r}
json.dump({"date": datetime.date.today().isoformat(), "rows": rows}, open(f"{out}/checkpoint.json", "w"), indent=1)
with open(f"{out}/checkpoint.md", "w") as f:
    f.write("| instance | checkpoint | image | restore |\n|---|---|---|---|\n")
    for k, v in rows.items():
        f.write(f"| {k} busybox | {v['checkpoint_s']*1000:.0f} ms | {v['image_mib']:.2f} MiB | {v['restore_s']*1000:.0f} ms |\n")
print(open(f"{out}/checkpoint.md").read())
PY

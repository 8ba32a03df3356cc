#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The guest's half of bench/vm-lane.sh: runs inside the VM lane's guest
# (tests/vm/run.sh with VM_GUEST_CMD), on Debian's kernel with pure cgroup
# v2, under TCG.  Times vsd's start, exec and stop --kill of a busybox
# instance against bare unshare/nsenter/kill on the same namespaces in the
# same guest, alternating one of each (a TCG guest's speed drifts with the
# host's load: both sides of a ratio see the same drift), VM_BENCH_RUNS
# (20) each after 3 untimed.  Prints one line per figure,
# "VSD-BENCH-ROW {json}", in the shared row format of bench/report.py.
#
# Usage: bench/vm-guest.sh BUILD_DIR     (as root, in the guest)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
RUNS=${VM_BENCH_RUNS:-20}
PY=/usr/bin/python3

T=$(mktemp -d /tmp/vsd-bench-guest.XXXXXX)
CG=vsd-bench-guest-$$
SOCK=$T/run/vsd.sock
VSD_PID=
cleanup() {
        set +e
        [ -n "$VSD_PID" ] && bench_vsd_end "$VSD_PID" "$SOCK"
        [ -n "${MNT_HOLDER:-}" ] && kill "$MNT_HOLDER" 2>/dev/null && wait "$MNT_HOLDER" 2>/dev/null
        bench_cgroups_remove "$CG"
        bench_net_remove vsd_bench_guest vsbguest0
        bench_dir_remove "$T"
}
trap cleanup EXIT

mkdir -p "$T/root/templates" "$T/run"
"$SRC/templates/busybox/build.sh" "$T/root/templates/busybox" >/dev/null
printf '%s\n' "[network]" "bridge = vsbguest0" "bridge_ipv4 = 10.252.0.1/16" "link_prefix = vbg" \
        "nft_table = vsd_bench_guest" >"$T/vsd.conf"
# a private mount namespace, as bench/run.sh gives its daemon
unshare --mount --propagation private sleep 1000000 &
MNT_HOLDER=$!
for _ in $(seq 200); do [ "$(readlink "/proc/$MNT_HOLDER/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] && break; sleep 0.05; done
nsenter --mount="/proc/$MNT_HOLDER/ns/mnt" "$B/vsd" --root "$T/root" --run-dir "$T/run" --socket "$SOCK" \
        --cgroup-parent "$CG" --log-level warning -c "$T/vsd.conf" 2>"$T/vsd.log" &
VSD_PID=$!
# under TCG the daemon takes longer than bench_vsd_wait's 5 s to answer
for _ in $(seq 600); do "$B/vsctl" --socket "$SOCK" version >/dev/null 2>&1 && break; sleep 0.1; done
"$B/vsctl" --socket "$SOCK" version >/dev/null
vsctl() { "$B/vsctl" --socket "$SOCK" "$@"; }

# the same instance as bench/run.sh's start figure: limits set, the
# default network (a veth on the bridge) and storage (image)
vsctl create b-start --memory 256M --cpus 1 --pids 200 >/dev/null
vsctl create b-exec --start >/dev/null
INIT_PID=$(vsctl --json info b-exec | jq -r .pid)

"$PY" - "$B/vsctl" "$SOCK" "$RUNS" "$INIT_PID" "$(uname -r)" <<'PY'
import json, os, signal, statistics, subprocess, sys, time
vsctl, sock, runs, init_pid, kver = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
NS = ["--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--cgroup"]
DEVNULL = subprocess.DEVNULL

def run(argv, check=True):
    t = time.perf_counter()
    r = subprocess.run(argv, stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL)
    d = time.perf_counter() - t
    if check and r.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited with status {r.returncode}")
    return d

def vs(*a, check=True):
    return run([vsctl, "--socket", sock, *a], check)

# each side: (untimed preparation, the timed operation) -> seconds
def vsd_start():
    vs("stop", "--kill", "b-start", check=False)
    return vs("start", "b-start")

def floor_start():
    return run(["unshare", *NS, "/bin/true"])

def vsd_exec():
    return vs("exec", "b-exec", "--", "true")

def floor_exec():
    return run(["nsenter", "-a", "-t", init_pid, "true"])

def vsd_stop():
    vs("start", "b-start", check=False)
    return vs("stop", "--kill", "b-start")

def floor_stop():
    # the same namespaces with a process in them, ended with SIGKILL to
    # their pid 1 and waited for (unshare exits once its child is reaped)
    p = subprocess.Popen(["unshare", *NS, "sleep", "1000"], stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL)
    child = None
    for _ in range(2000):
        try:
            kids = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
        except OSError:
            kids = []
        if kids and os.readlink(f"/proc/{kids[0]}/exe").endswith("sleep"):
            child = int(kids[0])
            break
        time.sleep(0.01)
    if child is None:
        p.kill()
        p.wait()
        sys.exit("unshare's child did not appear")
    t = time.perf_counter()
    os.kill(child, signal.SIGKILL)
    p.wait()
    return time.perf_counter() - t

figures = [
    ("start", "vsctl start of a busybox instance (256M, 1 CPU, 200 pids, bridge network, image disk), "
              "stop --kill in between, untimed", vsd_start,
     "unshare -fpmuinC /bin/true", floor_start),
    ("exec", "vsctl exec NAME true", vsd_exec, "nsenter -a -t PID true (into the same instance)", floor_exec),
    ("stop", "vsctl stop --kill of the running instance, start in between, untimed", vsd_stop,
     "SIGKILL to pid 1 of unshare -fpmuinC sleep, waited for", floor_stop),
]
for fig, vdetail, vfn, fdetail, ffn in figures:
    v, f = [], []
    for i in range(runs + 3):
        a, b = (vfn, ffn) if i % 2 == 0 else (ffn, vfn)
        x, y = a(), b()
        if i >= 3:
            (v if a is vfn else f).append(x * 1e3)
            (f if a is vfn else v).append(y * 1e3)
    mv, mf = statistics.median(v), statistics.median(f)
    ratio = mv / mf
    where = f"inside a QEMU TCG guest on Debian's {kver}, pure cgroup v2 (tests/vm/run.sh)"
    for who, detail, vals, note in (
            ("vsd", vdetail, v, f"{ratio:.1f}x the floor in the same guest (absolute TCG times mean nothing)"),
            ("floor", fdetail, f, None)):
        s = sorted(vals)
        row = {"figure": f"{fig} in a VM ({kver.split('-')[0]}, TCG)", "who": who, "detail": f"{detail}, {where}",
               "unit": "ms", "median": round(statistics.median(s), 3), "min": round(s[0], 3), "max": round(s[-1], 3),
               "runs": len(s), "target": None, "met": None, "note": note, "ratio": round(ratio, 2)}
        print("VSD-BENCH-ROW " + json.dumps(row), flush=True)
PY

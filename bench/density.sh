#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Density and daemon cost (bench/run.sh calls this; it also runs alone).
#
# For every system and every N in DENSITY_N (default "50 200 1000"): N idle
# instances, each in its own pid, mount, uts, ipc and network namespace and
# its own cgroup, started one after the other, then left to settle; then the
# host memory they take (MemAvailable before and after, and the slab, Percpu
# and PageTables deltas of /proc/meminfo) per instance, the helper
# processes the engine keeps on the host, and the time to start all N and
# to stop all N.  The systems (DENSITY_SYSTEMS):
#
#   floor      unshare -fpmuin --mount-proc, a cgroup in each of vsd's
#              hierarchies, busybox sh waiting for busybox sleep; the
#              waiting unshare parent is killed (no helper is left)
#   floor-veth the floor with what vsd-dir's network is: a veth pair each,
#              the host side on a bridge of the bench's own, an address and
#              a default route inside (like for like with vsd-dir)
#   vsd-dir    vsd, dir backend, on its own bridge (veth per instance)
#   vsd-image  vsd, image backend (a loop-mounted ext4 image each), bridge
#   vsd-none   vsd, dir backend, --net none (loopback only: like the peers)
#   crun       crun run -d in a private mount namespace without the cgroup2
#              mount (crun 1.8 refuses the hybrid layout otherwise)
#   lxc        lxc-start -d, a minimal config, lxc.net.0.type = empty
#   nspawn     systemd-nspawn: a row saying why it is missing
#
# vsd instances run the busybox template's init (busybox init and the shell
# it keeps on the console: 2 processes); every peer runs busybox sh waiting
# for busybox sleep in the same rootfs (also 2 processes).  Stopping is a
# kill everywhere (vsctl stop --kill, crun kill KILL, lxc-stop -k, kill -9),
# so that stop times compare the engines, not busybox's 2 s shutdown.
#
# Daemon cost: vsd's RSS and PSS with 0, 200 and 1000 (the largest N)
# instances running, and `vsctl list` / `vsctl --json list` latency with the
# largest N running (RUNS, at least 30).
#
# Its own daemon, bridge (vsbdens0, 10.251.0.0/16), firewall table, cgroups
# (vsd-bench-dens-PID and, vsd's, vsd-bench-dens-PID-vsd) and directory, all removed at exit, also after a
# failure.  Writes bench/results/density.{json,md,png}.
#
# Usage: bench/density.sh BUILD_DIR     (as root)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
RUNS=${RUNS:-50}
[ "$RUNS" -ge 30 ] || RUNS=30
DENSITY_N=${DENSITY_N:-"50 200 1000"}
DENSITY_SYSTEMS=${DENSITY_SYSTEMS:-"floor floor-veth vsd-dir vsd-none crun lxc vsd-image nspawn"}
export SETTLE=${SETTLE:-5}
OUT=$SRC/bench/results
mkdir -p "$OUT"
NMAX=$(printf '%s\n' $DENSITY_N | sort -n | tail -1)
[ "$NMAX" -le 1000 ] || { echo "density.sh: N ≤ 1000 (a bridge takes at most 1024 ports)" >&2; exit 2; }

for p in gnuplot:gnuplot-nox crun:crun lxc-start:lxc; do
        command -v "${p%%:*}" >/dev/null || {
                apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${p#*:}" >/dev/null
        }
done

T=$(mktemp -d /tmp/vsd-bench-dens.XXXXXX)
CG=vsd-bench-dens-$$
SOCK=$T/run/vsd.sock
ROOTFS=$T/root/templates/busybox/rootfs
VSD_PID=
FLOOR_PY=
FLOOR_BR=vsbdensf0 # floor-veth's bridge, 10.249.0.0/16
vsctl() { "$B/vsctl" --socket "$SOCK" "$@"; }
in_crun_ns() { # crun 1.8 refuses the hybrid layout: hide cgroup2 from it
        unshare -m sh -c 'umount -l /sys/fs/cgroup/unified && exec "$@"' sh "$@"
}
cleanup() {
        set +e
        if [ -n "$FLOOR_PY" ]; then kill "$FLOOR_PY" 2>/dev/null; wait "$FLOOR_PY" 2>/dev/null; fi
        [ -n "$VSD_PID" ] && bench_vsd_end "$VSD_PID" "$SOCK"
        if [ -d "$T/crun" ]; then
                for id in $(crun --root "$T/crun/state" list -q 2>/dev/null); do
                        in_crun_ns crun --root "$T/crun/state" delete -f "$id" >/dev/null 2>&1
                done
        fi
        if [ -d "$T/lxc" ]; then
                for n in $(lxc-ls -P "$T/lxc" --running 2>/dev/null); do
                        lxc-stop -P "$T/lxc" -k -n "$n" >/dev/null 2>&1
                done
        fi
        # whatever is left in this script's cgroups (a floor instance after a
        # failure, vsd's instances if it died): killed, then the cgroups removed
        bench_cgroups_remove "$CG" "$CG-vsd"
        bench_net_remove vsd_bench_dens vsbdens0
        ip link del "$FLOOR_BR" 2>/dev/null
        for l in $(ip -o link show type veth 2>/dev/null | sed -n 's/^[0-9]*: \(vbdf[0-9]*\)@.*/\1/p'); do
                ip link del "$l" 2>/dev/null
        done
        bench_dir_remove "$T"
}
trap cleanup EXIT

mkdir -p "$T/root/templates" "$T/run"
# the peers' idle program, in the same rootfs: busybox sh waiting for
# busybox sleep (2 processes, as vsd's busybox init and its console shell)
printf '%s\n' '#!/bin/sh' '/bin/sleep 100000000' ':' >"$T/bench-idle"
chmod 755 "$T/bench-idle"
EXTRA_FILES="$T/bench-idle:/bench-idle" "$SRC/templates/busybox/build.sh" "$T/root/templates/busybox" >/dev/null
# its own bridge (a /16: room for 1000 addresses), prefix and firewall table
printf '%s\n' "[network]" "bridge = vsbdens0" "bridge_ipv4 = 10.251.0.1/16" "routed_ipv4 = 10.250.0.0/24" \
        "link_prefix = vbd" "nft_table = vsd_bench_dens" >"$T/vsd.conf"

: >"$T/rows"
row() { # SYSTEM N KEY VALUE [NOTE]
        printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" >>"$T/rows"
}
meminfo() { # the /proc/meminfo fields the rows use, KiB, one "k=v" line:
        # the median of 5 reads 0.5 s apart (the machine is shared)
        python3 "$T/meminfo.py" "$CG" "$VSD_PID"
}
cat >"$T/meminfo.py" <<'PY'
import statistics, time
import glob, sys
keys = ("MemAvailable", "SUnreclaim", "SReclaimable", "Percpu", "PageTables", "AnonPages", "OursAnon")
def ours_anon():
    # the anonymous memory of this bench's instances (and LXC's monitors,
    # whose cgroups are below the bench's parent) from the memory
    # controller, and of its vsd daemon: what the host's AnonPages owes to us
    kib = 0
    for f in glob.glob(f"/sys/fs/cgroup/memory/{sys.argv[1]}*/memory.stat"):
        for l in open(f):
            if l.startswith("total_rss "):
                kib += int(l.split()[1]) // 1024
    if len(sys.argv) > 2 and sys.argv[2]:
        for l in open(f"/proc/{sys.argv[2]}/status"):
            if l.startswith("RssAnon:"):
                kib += int(l.split()[1])
    return kib
reads = []
for k in range(5):
    if k:
        time.sleep(0.5)
    r = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/meminfo")}
    r["OursAnon"] = ours_anon()
    reads.append(r)
# and each slab cache's pages, KiB, for what dominates the slab figure
import json, os
slab = {}
for l in open("/proc/slabinfo").readlines()[2:]:
    f = l.split()
    # name active num objsize objperslab pagesperslab : tunables ... : slabdata active num shared
    slab[f[0]] = int(f[-2]) * int(f[5]) * os.sysconf("SC_PAGE_SIZE") // 1024
path = f"{os.path.dirname(os.path.abspath(__file__))}/slab-{time.time_ns()}.json"
json.dump(slab, open(path, "w"))
print(" ".join(f"{k}={statistics.median(r[k] for r in reads):.0f}" for k in keys), f"SlabFile={path}")
PY
now_us() { echo "${EPOCHREALTIME/./}"; }
# record SYSTEM N T_START_US T_RUNNING_US BEFORE AFTER HELPERS: the rows of one N
record() {
        local sys=$1 n=$2 ts=$3 te=$4 before=$5 after=$6 helpers=$7
        row "$sys" "$n" start_s "$(awk -v d=$((te - ts)) 'BEGIN { printf "%.3f", d / 1e6 }')"
        row "$sys" "$n" helpers "$helpers"
        python3 - "$before" "$after" "$n" <<'PY' | while IFS=$'\t' read -r k v; do row "$sys" "$n" "$k" "$v"; done
import sys
b = dict(kv.split("=") for kv in sys.argv[1].split())
a = dict(kv.split("=") for kv in sys.argv[2].split())
n = int(sys.argv[3])
d = lambda k: (int(a[k]) - int(b[k])) / n
print(f"mem_kib\t{-d('MemAvailable'):.1f}")
print(f"slab_kib\t{d('SUnreclaim') + d('SReclaimable'):.1f}")
print(f"percpu_kib\t{d('Percpu'):.1f}")
print(f"pagetables_kib\t{d('PageTables'):.1f}")
# Other jobs on a shared host allocate and free anonymous memory by the
# GiB; this figure counts only the anonymous memory that is ours
print(f"mem_own_kib\t{-d('MemAvailable') - d('AnonPages') + d('OursAnon'):.1f}")
# the slab caches that grew most, KiB per instance
import json
sb, sa = json.load(open(b["SlabFile"])), json.load(open(a["SlabFile"]))
grew = sorted(((sa[c] - sb.get(c, 0)) / n, c) for c in sa)[::-1]
for kib, c in grew[:12]:
    print(f"slab:{c}\t{kib:.1f}")
PY
}
# settle: SETTLE seconds after a sync, and then until the slab and
# MemAvailable stop moving (what the last system's instances freed is given
# back lazily: RCU, deferred work, shrinkers), at most 60 s more
cat >"$T/settle.py" <<'PY'
import os, subprocess, time
os.sync()
time.sleep(float(os.environ.get("SETTLE", "5")))
def read():
    m = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/meminfo")}
    return m["SUnreclaim"] + m["SReclaimable"], m["MemAvailable"]
prev = read()
for _ in range(30):
    time.sleep(2)
    cur = read()
    # under 2 MiB of slab and 8 MiB of MemAvailable in 2 s: settled
    if abs(cur[0] - prev[0]) < 2048 and abs(cur[1] - prev[1]) < 8192:
        break
    prev = cur
PY
settle() { python3 "$T/settle.py"; }
stop_time() { # SYSTEM N T_STOP_US
        row "$1" "$2" stop_s "$(awk -v d=$(($(now_us) - $3)) 'BEGIN { printf "%.3f", d / 1e6 }')"
}
check_idle() { # SYSTEM N: are the N peers' idle programs all there?
        local c
        c=$(pgrep -xc -f '/bin/sleep 100000000' || true)
        [ "$c" = "$2" ] && return 0
        echo "density.sh: $1: $c of $2 instances running" >&2
        row "$1" "$2" failed "$c" "only $c of $2 instances running after the start"
        return 1
}

# ---- the floor: bare namespaces and a cgroup each ---------------------------
# A Python driver that is the instances' subreaper: it kills each waiting
# unshare parent, so the floor keeps no process on the host, and reaps the
# instances when they are killed.
#
# floor-veth: each instance also gets a veth pair, the host side on the
# bench's own bridge, eth0 inside with an address and a default route.
run_floor() { # SYSTEM N
        local sys=$1 n=$2
        if [ "$sys" = floor-veth ] && ! ip link show "$FLOOR_BR" >/dev/null 2>&1; then
                ip link add "$FLOOR_BR" type bridge
                ip addr add 10.249.0.1/16 dev "$FLOOR_BR"
                ip link set "$FLOOR_BR" up
        fi
        python3 - "$n" "$CG" "$T/floor.$n" "$([ "$sys" = floor-veth ] && echo "$FLOOR_BR")" <<'PY' &
import ctypes, os, signal, subprocess, sys, time
n, cg, out, bridge = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
# vsd's hierarchies: every v1 controller it uses, and the unified one
hier = [h for h in ("memory", "cpu,cpuacct", "pids", "freezer", "cpuset", "blkio", "unified")
        if os.path.isdir(f"/sys/fs/cgroup/{h}")]
for h in hier:
    os.makedirs(f"/sys/fs/cgroup/{h}/{cg}/floor", exist_ok=True)
cs = f"/sys/fs/cgroup/cpuset/{cg}"
for f in ("cpuset.cpus", "cpuset.mems"):
    for d in (cs, cs + "/floor"):
        if os.path.isdir(d) and not open(f"{d}/{f}").read().strip():
            open(f"{d}/{f}", "w").write(open(f"{os.path.dirname(d)}/{f}").read())
def meminfo():
    return subprocess.run(["python3", os.path.dirname(out) + "/meminfo.py", cg], capture_output=True,
                          text=True, check=True).stdout.strip()
os.system(f"python3 {os.path.dirname(out)}/settle.py")
before = meminfo()
t0 = time.perf_counter()
inits = []
for i in range(n):
    d = [f"/sys/fs/cgroup/{h}/{cg}/floor/i{i}" for h in hier]
    for x in d:
        os.mkdir(x)
        if "cpuset" in x:
            for f in ("cpuset.cpus", "cpuset.mems"):
                open(f"{x}/{f}", "w").write(open(f"{os.path.dirname(x)}/{f}").read())
    def place(d=d):
        for x in d:
            open(f"{x}/cgroup.procs", "w").write("0")
    p = subprocess.Popen(["unshare", "-fpmuin", "--mount-proc", "/bin/busybox", "sh", "-c",
                          f"/bin/busybox sleep 1000000{i % 10}; :"],
                         preexec_fn=place, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    # the instance is up when its sh has forked the sleep
    while True:
        kids = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
        if kids and open(f"/proc/{kids[0]}/task/{kids[0]}/children").read().split():
            break
        time.sleep(0.0005)
    p.kill()
    p.wait()
    inits.append(int(kids[0]))
    if bridge:
        host, ip = f"vbdf{i}", f"10.249.{(i + 2) // 256}.{(i + 2) % 256}"
        subprocess.run(["ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", kids[0]], check=True)
        subprocess.run(["ip", "link", "set", host, "master", bridge, "up"], check=True)
        subprocess.run(["nsenter", "-t", kids[0], "-n", "ip", "-b", "-"], check=True, text=True,
                       input=f"link set lo up\naddr add {ip}/16 dev eth0\nlink set eth0 up\n"
                             "route add default via 10.249.0.1\n")
t1 = time.perf_counter()
os.system(f"python3 {os.path.dirname(out)}/settle.py")
after = meminfo()
helpers = 0  # every unshare parent was killed above
t2 = time.perf_counter()
for pid in inits:
    os.kill(pid, signal.SIGKILL)
left = set(inits)
while left:
    pid, _ = os.wait()
    left.discard(pid)
for i in range(n):
    for h in hier:
        d = f"/sys/fs/cgroup/{h}/{cg}/floor/i{i}"
        while True:
            try:
                os.rmdir(d)
                break
            except OSError:
                time.sleep(0.001)
t3 = time.perf_counter()
with open(out, "w") as f:
    print(before, after, sep="\n", file=f)
    print(f"{t1 - t0:.3f} {t3 - t2:.3f} {helpers}", file=f)
PY
        FLOOR_PY=$!
        wait "$FLOOR_PY"
        FLOOR_PY=
        local before after times
        before=$(sed -n 1p "$T/floor.$n")
        after=$(sed -n 2p "$T/floor.$n")
        read -r st sp hp < <(sed -n 3p "$T/floor.$n")
        record "$sys" "$n" 0 "$(awk -v s="$st" 'BEGIN { printf "%d", s * 1e6 }')" "$before" "$after" "$hp"
        row "$sys" "$n" stop_s "$sp"
}

# ---- vsd --------------------------------------------------------------------
start_vsd() {
        "$B/vsd" --root "$T/root" --run-dir "$T/run" --socket "$SOCK" --cgroup-parent "$CG-vsd" --log-level warning \
                -c "$T/vsd.conf" 2>>"$T/vsd.log" &
        VSD_PID=$!
        bench_vsd_wait "$SOCK" || { cat "$T/vsd.log" >&2; exit 1; }
}
daemon_mem() { # LABEL: vsd's RSS and PSS, KiB
        row vsd-daemon "$1" rss_kib "$(awk '/^VmRSS:/ { print $2 }' "/proc/$VSD_PID/status")"
        row vsd-daemon "$1" pss_kib "$(awk '/^Pss:/ { print $2 }' "/proc/$VSD_PID/smaps_rollup")"
}
list_latency() { # N
        python3 - "$B/vsctl" "$SOCK" "$RUNS" "$1" <<'PY'
import subprocess, sys, time
vsctl, sock, runs, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
for args, key in ((["list"], "list_ms"), (["--json", "list"], "list_json_ms"), (["version"], "version_ms")):
    for i in range(runs + 3):
        t = time.perf_counter()
        r = subprocess.run([vsctl, "--socket", sock, *args], stdout=subprocess.DEVNULL)
        d = (time.perf_counter() - t) * 1e3
        if r.returncode != 0:
            sys.exit(f"vsctl {' '.join(args)} failed")
        if i >= 3:
            print(f"vsd-daemon\t{n}\t{key}\t{d:.3f}\t")
PY
}
run_vsd() { # SYSTEM N   (instances SYSTEM-i, created once, kept across N)
        local sys=$1 n=$2 i opts ts te before after
        case $sys in
        vsd-dir) opts=(--storage dir) ;;
        vsd-image) opts=(--storage image) ;;
        vsd-none) opts=(--storage dir --net none) ;;
        esac
        for i in $(seq "$n"); do
                [ -d "$T/root/instances/$sys-$i" ] || vsctl create "$sys-$i" "${opts[@]}" >/dev/null 2>"$T/create.err" ||
                        { echo "density.sh: vsctl create $sys-$i failed: $(cat "$T/create.err")" >&2; return 1; }
        done
        settle
        before=$(meminfo)
        ts=$(now_us)
        for i in $(seq "$n"); do
                vsctl start "$sys-$i" >/dev/null || {
                        echo "density.sh: vsctl start $sys-$i failed (instance $i of $n)" >&2
                        row "$sys" "$n" failed "$i" "vsctl start failed at instance $i: $(tail -n1 "$T/vsd.log")"
                        for j in $(seq "$((i - 1))"); do vsctl stop --kill "$sys-$j" >/dev/null; done
                        return 0
                }
        done
        te=$(now_us)
        settle
        after=$(meminfo)
        local c
        c=$(vsctl --json list | python3 -c 'import json, sys; print(sum(i["state"] == "running" for i in json.load(sys.stdin)))')
        [ "$c" -ge "$n" ] || { row "$sys" "$n" failed "$c" "only $c of $n instances running after the start"; return 0; }
        # vsd keeps no process per instance: everything of vsd's outside the
        # instances' cgroups is the daemon itself
        record "$sys" "$n" "$ts" "$te" "$before" "$after" 0
        if [ "$sys" = vsd-dir ]; then
                [ "$n" = 200 ] && daemon_mem 200
                [ "$n" = "$NMAX" ] && { daemon_mem "$n"; list_latency "$n" >>"$T/rows"; }
        fi
        ts=$(now_us)
        for i in $(seq "$n"); do vsctl stop --kill "$sys-$i" >/dev/null; done
        stop_time "$sys" "$n" "$ts"
}

# ---- crun -------------------------------------------------------------------
run_crun() {
        local n=$1 i ts te before after
        mkdir -p "$T/crun/state"
        for i in $(seq "$n"); do
                [ -f "$T/crun/b$i/config.json" ] && continue
                mkdir -p "$T/crun/b$i"
                python3 - "$ROOTFS" "/$CG/crun/c$i" "$T/crun/b$i/config.json" <<'PY'
import json, sys
rootfs, cgpath, out = sys.argv[1:]
ns = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]
caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT"]
json.dump({
    "ociVersion": "1.0.0",
    "process": {"terminal": False, "user": {"uid": 0, "gid": 0},
                "args": ["/bench-idle"], "env": ["PATH=/bin:/sbin:/usr/bin:/usr/sbin"],
                "cwd": "/", "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
                "noNewPrivileges": True},
    "root": {"path": rootfs, "readonly": True},
    "hostname": "crun",
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
               {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
               {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
               {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}],
    "linux": {"namespaces": ns, "cgroupsPath": cgpath,
              "maskedPaths": ["/proc/kcore", "/sys/firmware"], "readonlyPaths": ["/proc/sys"]},
}, open(out, "w"))
PY
        done
        settle
        before=$(meminfo)
        ts=$(now_us)
        # one private mount namespace for all N runs (crun itself is not timed
        # in a fresh namespace each)
        in_crun_ns sh -c 'for i in $(seq '"$n"'); do
                crun --root '"$T"'/crun/state run -d --bundle '"$T"'/crun/b$i c$i </dev/null >/dev/null 2>'"$T"'/crun/err ||
                        { echo "crun run c$i: $(cat '"$T"'/crun/err)" >&2; exit 1; }
        done' || { row crun "$n" failed 0 "crun run failed: $(tail -n1 "$T/crun/err")"; return 0; }
        te=$(now_us)
        settle
        after=$(meminfo)
        check_idle crun "$n" || return 0
        record crun "$n" "$ts" "$te" "$before" "$after" 0
        ts=$(now_us)
        in_crun_ns sh -c 'for i in $(seq '"$n"'); do
                crun --root '"$T"'/crun/state kill c$i KILL
                while [ "$(crun --root '"$T"'/crun/state state c$i | sed -n "s/.*\"status\": \"\(.*\)\".*/\1/p")" = running ]; do sleep 0.001; done
                crun --root '"$T"'/crun/state delete c$i
        done'
        stop_time crun "$n" "$ts"
}

# ---- lxc --------------------------------------------------------------------
run_lxc() {
        local n=$1 i ts te before after helpers
        mkdir -p "$T/lxc"
        for i in $(seq "$n"); do
                [ -f "$T/lxc/l$i/config" ] && continue
                mkdir -p "$T/lxc/l$i"
                printf '%s\n' "lxc.uts.name = l$i" "lxc.rootfs.path = dir:$ROOTFS" "lxc.rootfs.options = ro" \
                        "lxc.net.0.type = empty" "lxc.init.cmd = /bench-idle" \
                        "lxc.mount.auto = proc:mixed sys:ro" "lxc.autodev = 1" "lxc.tty.max = 0" "lxc.pty.max = 1" \
                        "lxc.apparmor.profile = unconfined" "lxc.cgroup.dir.container = $CG/lxc/l$i" \
                        "lxc.cgroup.dir.monitor = $CG/lxcmon/l$i" "lxc.log.file = $T/lxc/l$i/log" \
                        "lxc.log.level = WARN" >"$T/lxc/l$i/config"
        done
        settle
        before=$(meminfo)
        ts=$(now_us)
        for i in $(seq "$n"); do
                lxc-start -P "$T/lxc" -n "l$i" -d >/dev/null 2>&1 || {
                        echo "density.sh: lxc-start l$i failed: $(tail -n2 "$T/lxc/l$i/log")" >&2
                        row lxc "$n" failed "$i" "lxc-start failed at instance $i: $(tail -n1 "$T/lxc/l$i/log")"
                        for j in $(seq "$((i - 1))"); do lxc-stop -P "$T/lxc" -k -n "l$j" >/dev/null 2>&1; done
                        return 0
                }
        done
        te=$(now_us)
        settle
        after=$(meminfo)
        # LXC keeps one monitor process per container ("[lxc monitor] PATH NAME")
        helpers=$(pgrep -fc "^\[lxc monitor\] $T/lxc " || true)
        check_idle lxc "$n" || return 0
        record lxc "$n" "$ts" "$te" "$before" "$after" "$(awk -v h="$helpers" -v n="$n" 'BEGIN { print h / n }')"
        ts=$(now_us)
        for i in $(seq "$n"); do lxc-stop -P "$T/lxc" -k -n "l$i" >/dev/null 2>&1 || true; done
        stop_time lxc "$n" "$ts"
}

NEED_VSD=false
for s in $DENSITY_SYSTEMS; do case $s in vsd-*) NEED_VSD=true ;; esac; done
if $NEED_VSD; then
        start_vsd
        settle
        daemon_mem 0
fi
for s in $DENSITY_SYSTEMS; do
        for n in $DENSITY_N; do
                echo "density: $s N=$n" >&2
                case $s in
                floor | floor-veth) run_floor "$s" "$n" ;;
                vsd-*) run_vsd "$s" "$n" ;;
                crun) run_crun "$n" ;;
                lxc) run_lxc "$n" ;;
                nspawn) row nspawn "$n" missing 0 \
                        "systemd-nspawn needs systemd as the host's init (machine registration, scopes); this host's PID 1 is not systemd" ;;
                esac
        done
        case $s in
        vsd-*) for i in $(seq "$NMAX"); do vsctl destroy "$s-$i" >/dev/null 2>&1 || true; done ;;
        floor-veth) ip link del "$FLOOR_BR" ;;
        esac
done

cp "$T/rows" "$OUT/density.rows"
python3 "$SRC/bench/density-report.py" "$OUT/density.rows" "$OUT" "$DENSITY_N"

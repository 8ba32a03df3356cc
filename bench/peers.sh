#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Start and exec latency of vsd against the peers installed from Debian's
# archive (crun, LXC, systemd-nspawn) and the kernel's floor (bare unshare,
# nsenter), all on one busybox rootfs, in one run, the commands alternating
# round-robin (A B C D A B C D ..., the order rotated each round), RUNS
# (at least 30) timed runs each after two untimed rounds.  Writes
# bench/results/peers.json in the shared row format (bench/report.py).
# bench/run.sh calls it; it also runs alone:
#
#   bench/peers.sh BUILD_DIR     (as root)
#
# What is timed, from the spawn of the command (python3 subprocess.run)
# to its exit status:
#   start latency   a fresh instance with pid, mount, uts, ipc, net and
#                   cgroup namespaces, in a cgroup with a memory (256M) and
#                   pids (200) limit, running /bin/true until it has exited
#                   and the engine has cleaned up; for vsd also the start
#                   until init runs (what `vsctl start` waits for)
#   exec latency    `true` in a running idle instance of each engine
#
# Everything it makes carries a bench name (vsd-bench-peers-PID cgroups, two
# private vsds with their own sockets and no network, crun and LXC state
# under its temporary directory) and goes at exit, also after a failure.
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
RUNS=${RUNS:-50}
# fewer than 30 only for a trial run: PEERS_TRIAL=1
[ "$RUNS" -ge 30 ] || [ -n "${PEERS_TRIAL:-}" ] || RUNS=30
OUT=$SRC/bench/results
mkdir -p "$OUT"

# The peers, from Debian (make bench-deps installs the same list).
need=()
for c in crun:crun lxc-execute:lxc systemd-nspawn:systemd-container nsenter:util-linux unshare:util-linux \
        busybox:busybox-static python3:python3; do
        command -v "${c%%:*}" >/dev/null || need+=("${c#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

T=$(mktemp -d /tmp/vsd-bench-peers.XXXXXX)
chmod 0755 "$T"
CG=vsd-bench-peers-$$        # the peers' cgroups and the floor's
VCG=vsd-bench-peers-vsd-$$   # the private vsd's cgroup parent
VCG2=vsd-bench-peers-vsd2-$$ # the second one's, [view] lxcfs = no
SOCK=$T/run/vsd.sock
SOCK2=$T/run2/vsd.sock
CRUN=(crun --root "$T/crun-state" --cgroup-manager=cgroupfs)
VSD_PID= VSD2_PID= HOLDER_PID= LXC_UP=
vsctl() { "$B/vsctl" --socket "$SOCK" "$@"; }
vsctl2() { "$B/vsctl" --socket "$SOCK2" "$@"; }
cleanup() {
        set +e
        [ -n "$VSD_PID" ] && bench_vsd_end "$VSD_PID" "$SOCK"
        [ -n "$VSD2_PID" ] && bench_vsd_end "$VSD2_PID" "$SOCK2"
        if [ -n "$HOLDER_PID" ]; then
                for c in $(ls "$T/crun-state" 2>/dev/null); do
                        nsenter --mount="/proc/$HOLDER_PID/ns/mnt" "${CRUN[@]}" delete -f "$c" >/dev/null 2>&1
                done
                kill "$HOLDER_PID"
                wait "$HOLDER_PID" 2>/dev/null
        fi
        [ -n "$LXC_UP" ] && lxc-stop -P "$T/lxc" -n peers-lxc-idle -k >/dev/null 2>&1
        bench_cgroups_remove "$CG" "$VCG" "$VCG2"
        bench_net_remove vsd_bench_peers
        bench_net_remove vsd_bench_peers2
        bench_dir_remove "$T"
}
trap cleanup EXIT

# One busybox rootfs: vsd's template, which crun and nspawn use read-only
# as it is; LXC gets an identical copy (lxc-execute bind-mounts its
# init.lxc.static onto a file it creates in the rootfs).
mkdir -p "$T/root/templates" "$T/run" "$T/lxc"
"$SRC/templates/busybox/build.sh" "$T/root/templates/busybox" >/dev/null
ROOTFS=$T/root/templates/busybox/rootfs
# the same rootfs as a template whose init is /bin/true: vsd's nearest to
# "run /bin/true in a fresh instance"; a copy, not a link (an unprivileged
# instance's idmapped template root is attached on the rootfs directory
# itself, and a link there is refused)
mkdir -p "$T/root/templates/true"
cp -a "$ROOTFS" "$T/root/templates/true/rootfs"
sed 's|^init = .*|init = /bin/true|; s|^description = .*|description = busybox rootfs, init /bin/true|' \
        "$T/root/templates/busybox/template.ini" >"$T/root/templates/true/template.ini"
cp -a "$ROOTFS" "$T/lxc-rootfs"

printf '%s\n' "[network]" "default_mode = none" "link_prefix = vbp" "nft_table = vsd_bench_peers" >"$T/vsd.conf"
# Each vsd runs in a private mount namespace (unshare execs it: same pid),
# as the first runs did, when an image instance's disk was a mount in the
# host's tree that other tools' namespaces could copy and hold (vsd now
# mounts it in no namespace at all).
unshare --mount --propagation private "$B/vsd" --root "$T/root" --run-dir "$T/run" --socket "$SOCK" --cgroup-parent "$VCG" --log-level warning \
        -c "$T/vsd.conf" 2>"$T/vsd.log" &
VSD_PID=$!
# A second vsd without lxcfs (the per-instance /proc and /sys views, on by
# default): none of the peers here mounts one, so this is vsd doing what
# they do.  Its own state root, socket and cgroup parent, the same rootfs.
mkdir -p "$T/root2/templates" "$T/run2"
ln -s ../../root/templates/true "$T/root2/templates/true"
ln -s ../../root/templates/busybox "$T/root2/templates/busybox"
printf '%s\n' "[network]" "default_mode = none" "link_prefix = vbr" "nft_table = vsd_bench_peers2" \
        "[view]" "lxcfs = no" >"$T/vsd2.conf"
unshare --mount --propagation private "$B/vsd" --root "$T/root2" --run-dir "$T/run2" --socket "$SOCK2" --cgroup-parent "$VCG2" --log-level warning \
        -c "$T/vsd2.conf" 2>"$T/vsd2.log" &
VSD2_PID=$!
bench_vsd_wait "$SOCK"
bench_vsd_wait "$SOCK2"

LIM=(--memory 256M --pids 200 --net none)
vsctl create p-init --storage dir "${LIM[@]}" >/dev/null
vsctl create p-init-img --storage image "${LIM[@]}" >/dev/null
vsctl create p-true --template true --storage dir "${LIM[@]}" >/dev/null
vsctl create p-true-img --template true --storage image "${LIM[@]}" >/dev/null
vsctl create p-exec --storage dir "${LIM[@]}" --start >/dev/null
vsctl2 create p-init --storage dir "${LIM[@]}" >/dev/null
vsctl2 create p-true --template true --storage dir "${LIM[@]}" >/dev/null
VSD_INIT=$(vsctl --json info p-exec | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])')

# The floor's and nspawn's cgroup: the same two limits, joined by the
# command's own process before it execs (systemd-nspawn --keep-unit runs
# where it is started; there is no systemd here to make it a scope).
for g in floor nspawn; do
        mkdir -p "/sys/fs/cgroup/memory/$CG/$g" "/sys/fs/cgroup/pids/$CG/$g"
        echo 256M >"/sys/fs/cgroup/memory/$CG/$g/memory.limit_in_bytes"
        echo 200 >"/sys/fs/cgroup/pids/$CG/$g/pids.max"
done

# crun 1.8 refuses the hybrid layout ("cgroups in hybrid mode not
# supported"): it runs in a private mount namespace where the cgroup2 mount
# at /sys/fs/cgroup/unified is gone.  A holder process keeps that namespace;
# the harness runs crun from a copy of itself in there.
unshare --mount --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec sleep 1000000' &
HOLDER_PID=$!
for _ in $(seq 100); do
        [ "$(readlink "/proc/$HOLDER_PID/exe")" = "$(readlink -f "$(command -v sleep)")" ] && break
        sleep 0.02
done
bundle() { # DIR ARGS_JSON CGROUP
        mkdir -p "$1"
        (cd "$1" && crun spec)
        python3 - "$1/config.json" "$ROOTFS" "$2" "$3" <<'PY'
import json, sys
path, rootfs, args, cgroup = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
c = json.load(open(path))
c["root"] = {"path": rootfs, "readonly": True}
c["process"]["terminal"] = False
c["process"]["args"] = args
c["hostname"] = "crun-peer"
c["linux"]["namespaces"] = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")]
c["linux"]["resources"] = {"memory": {"limit": 256 << 20}, "pids": {"limit": 200},
                           "devices": c["linux"].get("resources", {}).get("devices", [])}
c["linux"]["cgroupsPath"] = cgroup
json.dump(c, open(path, "w"), indent=1)
PY
}
bundle "$T/crun-true" '["/bin/true"]' "/$CG/crun-true"
bundle "$T/crun-idle" '["/bin/sleep", "1000000"]' "/$CG/crun-idle"
nsenter --mount="/proc/$HOLDER_PID/ns/mnt" "${CRUN[@]}" run -d -b "$T/crun-idle" peers-crun-idle >/dev/null
CRUN_INIT=$(nsenter --mount="/proc/$HOLDER_PID/ns/mnt" "${CRUN[@]}" state peers-crun-idle |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])')

# LXC: the same namespaces (an empty network: loopback only), the two
# limits, /proc, /sys read-only and a tmpfs /dev, no console.
lxc_conf() { # FILE CGROUP [INIT]
        cat >"$1" <<EOF
lxc.rootfs.path = dir:$T/lxc-rootfs
lxc.uts.name = lxc-peer
lxc.net.0.type = empty
lxc.mount.auto = proc:mixed sys:ro
lxc.autodev = 1
lxc.tty.max = 0
lxc.pty.max = 16
lxc.console.path = none
lxc.apparmor.profile = unconfined
lxc.cgroup.dir = $2
lxc.cgroup.memory.limit_in_bytes = 268435456
lxc.cgroup.pids.max = 200
EOF
        [ -z "${3:-}" ] || echo "lxc.init.cmd = $3" >>"$1"
}
lxc_conf "$T/lxc/true.conf" "$CG/lxc-true"
lxc_conf "$T/lxc/idle.conf" "$CG/lxc-idle" "/bin/sleep 1000000"
LXC_UP=1
lxc-start -P "$T/lxc" -n peers-lxc-idle -f "$T/lxc/idle.conf" -d -o "$T/lxc/idle.log" -l ERROR
lxc-wait -P "$T/lxc" -n peers-lxc-idle -s RUNNING -t 10

# What the idle instances got, from the host: their limits and which of
# their namespaces differ from the host's (printed, for the log).
LXC_INIT=$(lxc-info -P "$T/lxc" -n peers-lxc-idle -pH)
for p in "vsd:$VSD_INIT" "crun:$CRUN_INIT" "lxc:$LXC_INIT"; do
        pid=${p#*:}
        ns=$(for n in pid mnt uts ipc net cgroup; do
                [ "$(readlink "/proc/$pid/ns/$n")" = "$(readlink "/proc/self/ns/$n")" ] || printf '%s ' "$n"
        done)
        mem=$(sed -n 's/^[0-9]*:memory://p' "/proc/$pid/cgroup")
        pids=$(sed -n 's/^[0-9]*:pids://p' "/proc/$pid/cgroup")
        echo "peers: ${p%%:*} idle instance: own namespaces: $ns; memory limit" \
                "$(cat "/sys/fs/cgroup/memory$mem/memory.limit_in_bytes"), pids.max $(cat "/sys/fs/cgroup/pids$pids/pids.max")" >&2
done

# The floor for exec: nsenter into vsd's idle instance (the same namespaces
# vsctl exec joins, without its cgroup, capabilities and seccomp).
V=$B/vsctl
export PEERS_JSON
PEERS_JSON=$(python3 - <<PY
import json
T, CG, S, S2, V = "$T", "$CG", "$SOCK", "$SOCK2", "$V"
H = "$HOLDER_PID"
crun = ["crun", "--root", T + "/crun-state", "--cgroup-manager=cgroupfs"]
def in_cg(group, argv):
    # join the limits' cgroup, then exec: the migration is part of the cost
    return ["dash", "-c", 'for h in memory pids; do echo \$\$ >/sys/fs/cgroup/\$h/' + CG + '/' + group
            + '/cgroup.procs; done; exec "\$@"', "sh"] + argv
true_rootfs = "$ROOTFS"
start = [
 # who, detail, argv, mode
 ["vsd", "vsctl start of an instance from a template whose init is /bin/true (dir storage, the same busybox rootfs), "
  "until vsd's 'stopped' event for it arrives on a vsctl events stream opened beforehand: the instance has exited and "
  "its cgroup is removed; memory 256M, pids 200, no network (a fresh net namespace with loopback only)",
  [V, "--socket", S, "start", "p-true"], "vsd-exit:" + S + "|p-true"],
 ["vsd (image)", "the same with the image storage backend (the instance's loop-mounted ext4 image under the overlay)",
  [V, "--socket", S, "start", "p-true-img"], "vsd-exit:" + S + "|p-true-img"],
 ["vsd (no lxcfs)", "the same, dir storage, from a second vsd with [view] lxcfs = no (no per-instance /proc and /sys "
  "views, which none of the peers here mounts either)",
  [V, "--socket", S2, "start", "p-true"], "vsd-exit:" + S2 + "|p-true"],
 ["crun", "crun 1.8 run of an OCI bundle (pid, net, ipc, uts, mount, cgroup namespaces; memory 256M, pids 200; "
  "read-only busybox rootfs) running /bin/true, cgroupfs manager; crun is started in a private mount namespace without "
  "the cgroup2 mount at /sys/fs/cgroup/unified (crun refuses the hybrid layout): a copy of the harness runs there and "
  "times crun the same way",
  crun + ["run", "-b", T + "/crun-true", "peers-crun-true"], "holder"],
 ["lxc", "lxc-execute (LXC 5.0) -- /bin/true: all namespaces, an empty network (loopback only), memory 256M, pids 200, "
  "proc, sys ro, autodev; an identical copy of the busybox rootfs",
  ["lxc-execute", "-P", T + "/lxc", "-n", "peers-lxc-true", "-f", T + "/lxc/true.conf", "--", "/bin/true"], "plain"],
 ["nspawn", "systemd-nspawn -D rootfs --quiet --register=no --keep-unit --private-network --read-only /bin/true "
  "(systemd 252), started by dash -c after it joined a cgroup with memory 256M and pids 200 (no systemd on this host "
  "to make a scope)",
  in_cg("nspawn", ["systemd-nspawn", "-D", true_rootfs, "--quiet", "--register=no", "--keep-unit", "--private-network", "--read-only",
   "-M", "peers-nspawn", "/bin/true"]), "plain"],
 ["unshare (floor)", "unshare -fpmuinC --mount-proc /bin/true, exec'd by dash -c after it joined a cgroup with memory 256M and "
  "pids 200 (the migration is part of the cost); no rootfs, no daemon",
  in_cg("floor", ["unshare", "-fpmuinC", "--mount-proc", "/bin/true"]), "plain"],
 ["harness (floor)", "the harness's own cost: python3 subprocess.run of /bin/true on the host (vfork, exec, wait), "
  "as every command here is run", ["/bin/true"], "plain"],
]
init = [
 ["vsd", "vsctl start until init (busybox) runs in its namespaces and cgroup -- what vsctl start waits for; "
  "dir storage, memory 256M, pids 200, no network; stop --kill between runs, untimed",
  [V, "--socket", S, "start", "p-init"], "vsd-init:" + S + "|p-init"],
 ["vsd (image)", "the same with the image storage backend",
  [V, "--socket", S, "start", "p-init-img"], "vsd-init:" + S + "|p-init-img"],
 ["vsd (no lxcfs)", "the same, dir storage, from the second vsd with [view] lxcfs = no",
  [V, "--socket", S2, "start", "p-init"], "vsd-init:" + S2 + "|p-init"],
]
exe = [
 ["vsd", "vsctl exec NAME true in an idle busybox instance (dir storage): request, namespaces, cgroup, caps, "
  "seccomp, exec, exit status", [V, "--socket", S, "exec", "p-exec", "--", "true"], "plain"],
 ["lxc", "lxc-attach -n NAME -- true in an idle LXC container (init: sleep)",
  ["lxc-attach", "-P", T + "/lxc", "-n", "peers-lxc-idle", "--", "/bin/true"], "plain"],
 ["crun", "crun exec ID true in an idle crun container (init: sleep), in the private mount namespace as for run",
  crun + ["exec", "peers-crun-idle", "/bin/true"], "holder"],
 ["nsenter (floor)", "nsenter -a -t PID true into the vsd instance's init: namespaces only, no cgroup, caps or seccomp",
  ["nsenter", "-a", "-t", "$VSD_INIT", "true"], "plain"],
 ["harness (floor)", "python3 subprocess.run of /bin/true on the host, as every command here is run",
  ["/bin/true"], "plain"],
]
print(json.dumps({"start": start, "init": init, "exec": exe}))
PY
)

python3 - "$OUT/peers.json" "$RUNS" "$B/vsctl" "$HOLDER_PID" "$SOCK" "$SOCK2" <<'PY'
import glob, json, os, statistics, subprocess, sys, time
out, runs, vsctl, holder, socks = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
spec = json.loads(os.environ["PEERS_JSON"])
# Every command is run the same way: subprocess.run (vfork and exec; a
# pre-exec hook would make it fork, 10 ms on this VM).  crun's commands
# are run, and timed, by a copy of this loop inside the namespace without
# the cgroup2 mount (nsenter'd once, at the beginning).
SERVER = """
import json, subprocess, sys, time
for line in sys.stdin:
    argv = json.loads(line)
    t = time.perf_counter_ns()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    d = time.perf_counter_ns() - t
    print(json.dumps([d, r.returncode, r.stderr.decode(errors="replace")]), flush=True)
"""
server = subprocess.Popen(["nsenter", f"--mount=/proc/{holder}/ns/mnt", "python3", "-c", SERVER],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

class Done:
    def __init__(self, rc, err):
        self.returncode, self.stderr = rc, err.encode()

def spawn(argv, mode):
    if mode == "holder":
        server.stdin.write(json.dumps(argv) + "\n")
        server.stdin.flush()
        d, rc, err = json.loads(server.stdout.readline())
        r = Done(rc, err)
        r.ns = d
        return r
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

def quiet(sock, *args):
    subprocess.run([vsctl, "--socket", sock, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

# one events stream per daemon, open before the first start
events = {s: subprocess.Popen([vsctl, "--socket", s, "events", "--json"], stdout=subprocess.PIPE, text=True)
          for s in socks}
time.sleep(0.2)

def wait_stopped(sock, name):
    for line in events[sock].stdout:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("instance") == name and e.get("type") == "stopped":
            return
    sys.exit("the events stream ended")

# The loop device of a stopped image instance goes when the kernel has
# released its filesystem (an RCU grace period and a work item after the
# stop).  vsd keeps a stopped instance's filesystem mounted for its next
# start ([storage] keep_mounted, 16 by default), so there is nothing to
# wait for; PEERS_LOOP_WAIT=1 (a daemon that lets go at the stop, e.g.
# keep_mounted = 0 or an older one) waits for it, untimed, before the next
# start.
loop_waits = []
def wait_loop_free(name):
    if os.environ.get("PEERS_LOOP_WAIT") != "1":
        return
    t = time.perf_counter()
    while time.perf_counter() - t < 20:
        busy = False
        for f in glob.glob("/sys/block/loop*/loop/backing_file"):
            try:
                if f"/instances/{name}/" in open(f).read():
                    busy = True
            except OSError:
                pass
        if not busy:
            break
        time.sleep(0.005)
    loop_waits.append(time.perf_counter() - t)

def one(entry):
    who, detail, argv, mode = entry
    if mode.startswith("vsd-init:"):
        sock, name = mode.split(":", 1)[1].split("|")
        quiet(sock, "stop", "--kill", name)
        if name.endswith("-img"):
            wait_loop_free(name)
        mode = "plain"
    if mode.startswith("vsd-exit:") and mode.endswith("-img"):
        wait_loop_free(mode.split("|")[1])
    t = time.perf_counter_ns()
    r = spawn(argv, "plain" if mode.startswith("vsd-exit:") else mode)
    if mode.startswith("vsd-exit:") and r.returncode == 0:
        wait_stopped(*mode.split(":", 1)[1].split("|"))
    d = time.perf_counter_ns() - t
    if mode == "holder":
        d = r.ns  # timed inside the namespace, the same way
    if r.returncode != 0:
        for m in glob.glob("/proc/[0-9]*/mountinfo"):
            try:
                if "/disk " in open(m).read() or "disk.img" in open(m).read():
                    pid = m.split("/")[2]
                    print("peers: a vsd disk is mounted in the namespace of", pid, open(f"/proc/{pid}/cmdline").read().replace("\0", " "), file=sys.stderr)
            except OSError:
                pass
        sys.exit(f"{who}: {' '.join(argv)} failed ({r.returncode}): {r.stderr.decode(errors='replace').strip()}")
    return d / 1e6

rows = []
for figure, group in (("start latency", spec["start"] + spec["init"]), ("exec latency", spec["exec"])):
    times = [[] for _ in group]
    for rnd in range(runs + 2):
        k = rnd % len(group)
        for j in list(range(k, len(group))) + list(range(k)):
            d = one(group[j])
            if rnd >= 2:  # two untimed rounds first
                times[j].append(d)
    for (who, detail, argv, mode), ts in zip(group, times):
        fig = figure
        if mode.startswith("vsd-init:"):
            fig = "start latency, until init runs"
        rows.append({"figure": fig, "who": who, "detail": detail, "unit": "ms",
                     "median": round(statistics.median(ts), 3), "min": round(min(ts), 3), "max": round(max(ts), 3),
                     "runs": len(ts), "target": None, "met": None, "note": None})
for sock in socks:
    for name in ("p-init", "p-init-img"):
        quiet(sock, "stop", "--kill", name)
    events[sock].terminate()
server.stdin.close()
server.wait()

def med(fig, who):
    return next(r["median"] for r in rows if r["figure"] == fig and r["who"] == who)

peers = [r for r in rows if r["figure"] == "start latency" and r["who"] in ("crun", "lxc", "nspawn")]
best = min(peers, key=lambda r: r["median"])
floor = med("start latency", "unshare (floor)")
for r in rows:
    if r["who"].startswith("vsd") and r["figure"].startswith("start latency"):
        a, b = r["median"] / best["median"], r["median"] / floor
        r["target"] = "≤ 0.5× fastest peer, ≤ 1.5× unshare (floor)"
        r["met"] = a <= 0.5 and b <= 1.5
        r["note"] = f"{a:.2f}× {best['who']} (the fastest peer), {b:.2f}× unshare (floor)"
    if r["who"] == "vsd" and r["figure"] == "exec latency":
        a = r["median"] / med("exec latency", "lxc")
        r["target"] = "≤ 0.5× lxc-attach"
        r["met"] = a <= 0.5
        r["note"] = f"{a:.2f}× lxc-attach"
if loop_waits:
    w = sorted(loop_waits)
    print(f"peers: untimed waits for an image instance's loop device before its next start: median "
          f"{1e3 * statistics.median(w):.1f} ms, max {1e3 * w[-1]:.1f} ms, {sum(x > 0.05 for x in w)} of {len(w)} over 50 ms",
          file=sys.stderr)
json.dump(rows, open(out, "w"), indent=1, ensure_ascii=False)
for r in rows:
    print(f"{r['figure']:32} {r['who']:16} {r['median']:8.2f} ms  ({r['min']:.2f}-{r['max']:.2f}, {r['runs']} runs)"
          + (f"  {r['note']}" if r["note"] else ""))
PY

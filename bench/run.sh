#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# make bench: start and exec latency of vsd next to the floors the kernel
# allows (bare unshare with the same namespaces, nsenter into them), all in
# one run, alternating, medians over many runs; the start of an instance with
# every limit set against a bare one, and with networking (bridge, routed)
# against none; TCP throughput between two instances over the bridge and
# over routed links against the host's loopback (iperf3); `vsctl stats` with
# STATS_N (100) running instances; then the parts with their own daemon:
# storage (bench/storage.sh), exec stream throughput (bench/exec-io.sh),
# requests while a snapshot is copied (bench/ops.sh), sysinfo(2) answered
# by the daemon (bench/sysinfo.sh), /metrics with 1000 instances
# (bench/metrics.sh), a reboot of 200 and of 1000 instances (bench/boot.sh), peers,
# density, VMs,
# and start/exec/stop inside the VM lane's guest against bare namespaces
# there (bench/vm-lane.sh).  Writes bench/results/.  Leaves nothing
# behind: instances, links, firewall tables, cgroups, the daemon and its
# directory go at exit.
#
# Usage: bench/run.sh BUILD_DIR     (as root)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
RUNS=${RUNS:-50}
STATS_N=${STATS_N:-100}
OUT=$SRC/bench/results
RAW=$OUT/raw # the timings behind core.json
mkdir -p "$OUT" "$RAW"

command -v hyperfine >/dev/null || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null
}

T=$(mktemp -d /tmp/vsd-bench.XXXXXX)
CG=vsd-bench-$$
SOCK=$T/run/vsd.sock
VSD_PID=
cleanup() {
        local rc=$?
        set +e
        # a failed run keeps the daemon's log, and says what it ended with
        if [ "$rc" != 0 ] && [ -s "$T/vsd.log" ]; then
                cp "$T/vsd.log" "$OUT/vsd-run.log"
                echo "bench/run.sh failed ($rc); the daemon's log is $OUT/vsd-run.log, ending:" >&2
                tail -n 5 "$T/vsd.log" >&2
        fi
        if [ -n "$VSD_PID" ] && ! kill -0 "$VSD_PID" 2>/dev/null; then
                wait "$VSD_PID"
                echo "bench/run.sh: the daemon had exited, status $?" >&2
                VSD_PID=
        fi
        [ -n "$VSD_PID" ] && bench_vsd_end "$VSD_PID" "$SOCK"
        [ -n "${FLOOR_PID:-}" ] && kill -9 "$FLOOR_PID" 2>/dev/null && wait "$FLOOR_PID" 2>/dev/null
        # the namespace of the daemon's mounts goes with its holder
        [ -n "${MNT_HOLDER:-}" ] && kill "$MNT_HOLDER" 2>/dev/null && wait "$MNT_HOLDER" 2>/dev/null
        bench_cgroups_remove "$CG"
        bench_net_remove vsd_bench vsbench0
        bench_dir_remove "$T"
}
trap cleanup EXIT

mkdir -p "$T/root/templates" "$T/run"
"$SRC/templates/busybox/build.sh" "$T/root/templates/busybox" >/dev/null
# its own bridge, addresses and firewall tables: never a real vsd's
printf '%s\n' "[network]" "bridge = vsbench0" "bridge_ipv4 = 10.254.0.1/16" "routed_ipv4 = 10.253.0.0/24" \
        "link_prefix = vbn" "nft_table = vsd_bench" >"$T/vsd.conf"
# the builders of this checkout, and the machine's template cache (a Debian
# build is a debootstrap run the first time, an unpack after)
printf '%s\n' "[templates]" "builders = $SRC/templates" "cache = ${VSD_TEMPLATE_CACHE:-/var/cache/vsd}" >>"$T/vsd.conf"
# vsd runs in a private mount namespace, kept by a holder process across
# the daemon's restart below (nsenter execs vsd: the same pid): an image
# instance's disk mounted in the host's namespace is copied into every
# namespace another tool makes meanwhile, which keeps its loop device busy
# and the next start fails ("still in use"); see doc/performance-notes.md, Peers.
unshare --mount --propagation private sleep 1000000 &
MNT_HOLDER=$!
for _ in $(seq 100); do [ "$(readlink "/proc/$MNT_HOLDER/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] && break; sleep 0.02; done
nsenter --mount="/proc/$MNT_HOLDER/ns/mnt" "$B/vsd" --root "$T/root" --run-dir "$T/run" --socket "$SOCK" --cgroup-parent "$CG" --log-level warning \
        -c "$T/vsd.conf" 2>"$T/vsd.log" &
VSD_PID=$!
vsctl() { "$B/vsctl" --socket "$SOCK" "$@"; }
bench_vsd_wait "$SOCK"

vsctl create b-start --memory 256M --cpus 1 --pids 200 >/dev/null
vsctl create b-exec --start >/dev/null
# every limit there is (io_weight aside: this host cannot weigh I/O) against none
DEV=$(findmnt -no SOURCE --target "$T/root")
vsctl create b-full --memory 256M --swap 64M --memory-soft 128M --cpus 1 --cpu-weight 200 --cpuset 0 \
        --pids 200 --io-write-bps "$DEV=100M" --io-read-iops "$DEV=5000" --nofile 4096 \
        --rlimit core=0 --rlimit nproc=4096 --rlimit memlock=4M --rlimit stack=8M >/dev/null
vsctl create b-bare >/dev/null
vsctl create b-net >/dev/null
vsctl create b-routed --net routed >/dev/null
vsctl create b-nonet --net none >/dev/null
INIT_PID=$(vsctl --json info b-exec | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')

# The floor: the same namespaces with nothing else (no cgroup, no rootfs).
unshare --fork --pid --mount --uts --ipc --net --cgroup sleep 1000 &
FLOOR_PID=$!
sleep 0.2
FLOOR_CHILD=$(pgrep -P "$FLOOR_PID" | head -1)

hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$RAW/start-exec.json" \
        --export-markdown "$RAW/start-exec.md" \
        --prepare "sh -c '$B/vsctl --socket $SOCK stop --kill b-start >/dev/null 2>&1; true'" \
        -n "vsd: vsctl start (init running, limits set)" "$B/vsctl --socket $SOCK start b-start" \
        -n "floor: unshare -fpmuinC /bin/true" "unshare --fork --pid --mount --uts --ipc --net --cgroup /bin/true" \
        >"$T/h1.txt" 2>&1 || { cat "$T/h1.txt"; exit 1; }
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$RAW/exec.json" \
        --export-markdown "$RAW/exec.md" \
        -n "vsd: vsctl exec NAME true" "$B/vsctl --socket $SOCK exec b-exec -- true" \
        -n "floor: nsenter -a -t PID true" "nsenter -a -t $INIT_PID true" \
        >"$T/h2.txt" 2>&1 || { cat "$T/h2.txt"; exit 1; }

# What limits and networking add to a start.  Each pair alternates (ABBA),
# each start timed from process start to exit, stop --kill in between
# untimed: on cgroup v1 a start's cost drifts with what the kernel did
# moments before (the cgroup migration lock), and hyperfine would run all of
# one, then all of the other.
ab_starts() { # OUT_JSON NAME LABEL NAME LABEL
        python3 - "$B/vsctl" "$SOCK" "$RUNS" "$@" <<'PY'
import json, subprocess, sys, time
vsctl, sock, runs, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
a, b = sys.argv[5], sys.argv[7]
names = {a: sys.argv[6], b: sys.argv[8]}
times = {n: [] for n in names}
def run(*args):
    subprocess.run([vsctl, "--socket", sock, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for i in range(runs + 3):
    for n in ((a, b) if i % 2 == 0 else (b, a)):
        run("stop", "--kill", n)
        t = time.perf_counter()
        r = subprocess.run([vsctl, "--socket", sock, "start", n], stdout=subprocess.DEVNULL)
        d = time.perf_counter() - t
        if r.returncode != 0:
            sys.exit(f"vsctl start {n} failed")
        if i >= 3:  # warmup
            times[n].append(d)
for n in names:
    run("stop", "--kill", n)
json.dump({"results": [{"command": names[n], "times": times[n]} for n in names]}, open(out, "w"))
PY
}
ab_starts "$RAW/limits.json" b-full "vsd: vsctl start, every limit set" b-bare "vsd: vsctl start, no limit"
ab_starts "$RAW/net-start.json" b-net "vsd: vsctl start, bridge network" b-nonet "vsd: vsctl start, no network"
ab_starts "$RAW/routed-start.json" b-routed "vsd: vsctl start, routed network" b-nonet "vsd: vsctl start, no network (2)"

# TCP throughput: the host's iperf3 in two instances' network namespaces
# (their traffic crosses the instances' links and vsd's firewall exactly as
# their own would) against the same on the host's loopback.  Median of 3.
command -v iperf3 >/dev/null || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 >/dev/null
}
for n in t-a t-b; do vsctl create "$n" --start >/dev/null; done
for n in t-ra t-rb; do vsctl create "$n" --net routed --start >/dev/null; done
netns_of() { echo "/proc/$(vsctl --json info "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])')/ns/net"; }
ip_of() { vsctl --json info "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["ip"].split(",")[0].split("/")[0])'; }
iperf_gbit() { # SERVER_NETNS CLIENT_NETNS ADDRESS
        local g=()
        for _ in 1 2 3; do
                nsenter --net="$1" iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
                local sp=$!
                for _ in $(seq 100); do nsenter --net="$1" ss -Hltn 'sport = :5299' | grep -q . && break; sleep 0.02; done
                g+=("$(nsenter --net="$2" iperf3 -c "$3" -p 5299 -t 3 -O 1 -J |
                        python3 -c 'import json, sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9)')")
                wait "$sp" || true
        done
        printf '%s\n' "${g[@]}" | sort -g | sed -n 2p
}
SELF=/proc/self/ns/net
LO=$(iperf_gbit "$SELF" "$SELF" 127.0.0.1)
BR=$(iperf_gbit "$(netns_of t-b)" "$(netns_of t-a)" "$(ip_of t-b)")
RT=$(iperf_gbit "$(netns_of t-rb)" "$(netns_of t-ra)" "$(ip_of t-rb)")
for n in t-a t-b t-ra t-rb; do vsctl stop --kill "$n" >/dev/null; done
# The same with `mtu = 65535` for the instances' links: loopback's own MTU
# is 65536, and per byte a veth costs what loopback does; the default (the
# kernel's 1500) is what an operator gets without the setting.
restart_vsd() { # EXTRA [network] LINE
        kill "$VSD_PID"
        wait "$VSD_PID" 2>/dev/null || true
        # into [network], which is not the file's last section
        sed -i "/^\[network\]\$/a $1" "$T/vsd.conf"
        nsenter --mount="/proc/$MNT_HOLDER/ns/mnt" "$B/vsd" --root "$T/root" --run-dir "$T/run" --socket "$SOCK" --cgroup-parent "$CG" --log-level warning \
                -c "$T/vsd.conf" 2>>"$T/vsd.log" &
        VSD_PID=$!
        bench_vsd_wait "$SOCK"
}
restart_vsd "mtu = 65535"
for n in t-a t-b t-ra t-rb; do vsctl start "$n" >/dev/null; done
BRJ=$(iperf_gbit "$(netns_of t-b)" "$(netns_of t-a)" "$(ip_of t-b)")
RTJ=$(iperf_gbit "$(netns_of t-rb)" "$(netns_of t-ra)" "$(ip_of t-rb)")
python3 - "$RAW/throughput.json" "$LO" "$BR" "$RT" "$BRJ" "$RTJ" <<'PY'
import json, sys
out, lo, br, rt, brj, rtj = sys.argv[1], *map(float, sys.argv[2:7])
json.dump([{"command": "floor: TCP over the host's loopback (MTU 65536)", "gbit": lo},
           {"command": "vsd: TCP instance -> instance, bridge (MTU 1500, the default)", "gbit": br},
           {"command": "vsd: TCP instance -> instance, routed (MTU 1500, the default)", "gbit": rt},
           {"command": "vsd: TCP instance -> instance, bridge (mtu = 65535)", "gbit": brj},
           {"command": "vsd: TCP instance -> instance, routed (mtu = 65535)", "gbit": rtj}], open(out, "w"))
PY
for n in t-a t-b t-ra t-rb; do vsctl stop --kill "$n" >/dev/null; vsctl destroy "$n" >/dev/null; done

# A Debian 12 instance booting systemd: from `vsctl start` to `systemctl
# is-system-running --wait` returning, DEBIAN_RUNS (5) boots of one instance,
# each after a clean stop.  The template is built through the daemon (from
# the cache when there is one); skipped, saying why, when it cannot be.
rm -f "$RAW/debian-boot.json"
if vsctl template build debian-12 >"$T/debian-build.log" 2>&1; then
        vsctl create deb --template debian-12 >/dev/null
        boots=()
        for _ in $(seq "${DEBIAN_RUNS:-5}"); do
                t0=$(date +%s%N)
                vsctl start deb >/dev/null
                # systemctl needs systemd's bus, there a moment after exec
                until vsctl exec deb -- test -S /run/systemd/private 2>/dev/null; do sleep 0.01; done
                state=$(vsctl exec deb -- systemctl is-system-running --wait || true)
                boots+=($(( ($(date +%s%N) - t0) / 1000 )))
                [ "$state" = running ] || echo "Debian boot ended '$state'" >&2
                vsctl stop deb >/dev/null
        done
        vsctl destroy deb >/dev/null
        python3 - "$RAW/debian-boot.json" "${boots[@]}" <<'PY'
import json, sys
json.dump({"results": [{"command": "vsd: Debian 12 boot, vsctl start to is-system-running",
                        "times": [int(u) / 1e6 for u in sys.argv[2:]]}]}, open(sys.argv[1], "w"))
PY
else
        echo "Debian boot time skipped: $(tail -n1 "$T/debian-build.log")" >&2
fi

# `vsctl stats` over many running instances (b-exec is one of them).
for i in $(seq 2 "$STATS_N"); do
        vsctl create "s-$i" --memory 64M --pids 100 --start >/dev/null
done
[ "$(vsctl --json stats | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')" = "$STATS_N" ] ||
        { echo "not $STATS_N instances running" >&2; exit 1; }
hyperfine -N --style basic --warmup 3 --runs "$(( RUNS < 30 ? 30 : RUNS ))" --export-json "$RAW/stats.json" \
        -n "vsd: vsctl stats ($STATS_N running)" "$B/vsctl --socket $SOCK stats" \
        -n "vsd: vsctl --json stats ($STATS_N running)" "$B/vsctl --socket $SOCK --json stats" \
        -n "vsd: vsctl stats NAME" "$B/vsctl --socket $SOCK stats b-exec" \
        -n "floor: vsctl version (one round trip)" "$B/vsctl --socket $SOCK version" \
        >"$T/h4.txt" 2>&1 || { cat "$T/h4.txt"; exit 1; }

python3 - "$OUT" "$STATS_N" <<'PY'
# core.json in the shared row format of bench/report.py, and core.md
import json, os, sys, statistics, datetime
out, n_stats = sys.argv[1], sys.argv[2]
rows = []
for f in ("start-exec.json", "exec.json", "limits.json", "net-start.json", "routed-start.json", "stats.json",
          "debian-boot.json"):
    if f == "debian-boot.json" and not os.path.exists(f"{out}/raw/{f}"):
        continue
    for r in json.load(open(f"{out}/raw/{f}"))["results"]:
        t = sorted(r["times"])
        rows.append((r["command"], statistics.median(t) * 1e3, t[0] * 1e3, t[-1] * 1e3, len(t)))
stats = f"vsd: vsctl stats ({n_stats} running)"
targets = {"vsd: vsctl start (init running, limits set)": 3.0, "vsd: vsctl exec NAME true": 2.0, stats: 20.0}
floor = {"vsd: vsctl start (init running, limits set)": "floor: unshare -fpmuinC /bin/true",
         "vsd: vsctl exec NAME true": "floor: nsenter -a -t PID true",
         "vsd: vsctl start, every limit set": "vsd: vsctl start, no limit",
         "vsd: vsctl start, bridge network": "vsd: vsctl start, no network",
         "vsd: vsctl start, routed network": "vsd: vsctl start, no network (2)",
         stats: "floor: vsctl version (one round trip)",
         f"vsd: vsctl --json stats ({n_stats} running)": "floor: vsctl version (one round trip)",
         "vsd: vsctl stats NAME": "floor: vsctl version (one round trip)"}
med = {r[0]: r[1] for r in rows}
# limits are judged by what they add, not by a ratio
added = {"vsd: vsctl start, every limit set": 0.5, "vsd: vsctl start, bridge network": 1.0,
         "vsd: vsctl start, routed network": 1.0}
lines = [f"# vsd benchmark — {datetime.date.today()}", "",
         "| what | median ms | min ms | max ms | runs | vs floor | target |",
         "|---|---:|---:|---:|---:|---:|---|"]
shared = []
for name, m, lo, hi, n in rows:
    ratio = f"{m / med[floor[name]]:.2f}x" if name in floor else ""
    tgt, target, met = "", None, None
    if name in targets:
        target, met = f"≤ {targets[name]} ms", m <= targets[name]
        tgt = f"{target}: " + ("met" if met else "MISSED")
    if name in added:
        d = m - med[floor[name]]
        target, met = f"adds ≤ {added[name]} ms", d <= added[name]
        tgt = f"adds {d:+.2f} ms, ≤ {added[name]} ms: " + ("met" if met else "MISSED")
    lines.append(f"| {name} | {m:.2f} | {lo:.2f} | {hi:.2f} | {n} | {ratio} | {tgt} |")
    who, _, figure = name.partition(": ")
    shared.append({"figure": figure, "who": "vsd" if who == "vsd" else "floor", "detail": "bench/run.sh: " + name,
                   "unit": "ms", "median": round(m, 3), "min": round(lo, 3), "max": round(hi, 3), "runs": n,
                   "target": target, "met": met,
                   "note": f"{ratio} {floor[name].partition(': ')[2]}" if ratio else None})
tp = json.load(open(f"{out}/raw/throughput.json"))
lo = tp[0]["gbit"]
lines += ["", "| TCP throughput (iperf3, median of 3) | Gbit/s | vs loopback | target |", "|---|---:|---:|---|"]
for r in tp:
    ratio = r["gbit"] / lo if lo else 0
    met = None if r is tp[0] else ratio >= 0.8
    tgt = "" if r is tp[0] else "≥ 0.8x: " + ("met" if met else "MISSED")
    lines.append(f"| {r['command']} | {r['gbit']:.2f} | {ratio:.2f}x | {tgt} |")
    who, _, figure = r["command"].partition(": ")
    shared.append({"figure": figure, "who": "vsd" if who == "vsd" else "floor", "detail": "iperf3, median of 3",
                   "unit": "Gbit/s", "median": round(r["gbit"], 2), "min": None, "max": None, "runs": 3,
                   "target": None if met is None else "≥ 0.8× loopback", "met": met,
                   "note": None if met is None else f"{ratio:.2f}× loopback"})
text = "\n".join(lines) + "\n"
open(f"{out}/core.md", "w").write(text)
json.dump(shared, open(f"{out}/core.json", "w"), indent=1, ensure_ascii=False)
print(text)
PY

# Storage: create latency per backend, host disk per new instance, start and
# stop per backend, write throughput inside an image instance against the
# host's filesystem.  A script of its own, with its own daemon.
"$SRC/bench/storage.sh" "$B"

# Unprivileged against privileged: start latency and an idle instance's
# memory.  Its own daemon too.
"$SRC/bench/userns.sh" "$B"

# A GiB through an exec's stdin and stdout (vsctl's relay, cat inside)
# against the same through a pipe on the host.  Its own daemon too.
"$SRC/bench/exec-io.sh" "$B"

# list, exec and stats while a 2 GiB snapshot is copied, against the same
# requests with nothing running.  Its own daemon too.
"$SRC/bench/ops.sh" "$B"

# sysinfo() answered by the daemon: its cost per call, and vsctl list while
# an instance calls it in a loop.  Its own daemon too.
"$SRC/bench/sysinfo.sh" "$B"

# GET /metrics with 1000 instances (200 running): reading their figures,
# rendering, and vsctl list while a scraper asks in a loop.  Its own daemon.
"$SRC/bench/metrics.sh" "$B"

# 200 and 1000 instances back after a simulated reboot, against starting
# them one by one; stopping them all.  Its own daemon each time.
for n in 200 1000; do
        BOOT_N=$n "$SRC/bench/boot.sh" "$B"
done

# Checkpoint and restore with CRIU: time and image size, idle and with
# 64 MiB of dirty memory.  Its own daemon too.
"$SRC/bench/checkpoint.sh" "$B"

# BENCH_OLD=REV: the start, the exec, the daemon's CPU time and memory of
# this build against revision REV's, alternating in one run.
if [ -n "${BENCH_OLD:-}" ]; then
        "$SRC/bench/compare.sh" "$B" "$BENCH_OLD"
fi

# The other parts, each with its own private setup and cleanup: the peers
# (crun, LXC, systemd-nspawn), density and the daemon's cost, full VMs.  A
# part that fails leaves no stale figures behind; the report says what it has.
for part in peers density vm vm-lane; do
        rm -f "$OUT/$part.json"
        if [ -x "$SRC/bench/$part.sh" ]; then
                "$SRC/bench/$part.sh" "$B" || echo "bench/$part.sh failed" >&2
        fi
done
"$SRC/bench/report.py" "$OUT"

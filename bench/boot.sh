#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The boot rows of make bench (bench/run.sh calls this; it also runs
# alone): BOOT_N (200) running busybox instances through a simulated
# reboot (the daemon stopped, every instance's init killed, lxcfs, the
# listener holder, the bridge and the firewall gone, the runtime directory
# emptied), then the time from the daemon's start to its boot-finished
# event with [boot] parallel = BOOT_PARALLEL (4), against starting the same
# instances one by one with `vsctl start`; and stopping them all, one
# `vsctl stop --kill` after the other (a clean stop is busybox's own halt,
# about 3 s each, which says nothing of the engine).  BOOT_REPEAT rounds
# (3 up to 200 instances, else 1), medians.  Its own daemon and directory,
# removed at exit with every instance, cgroup, link and loop device.
# Writes bench/results/boot-N.md and raw/boot-N.json.
#
# Usage: bench/boot.sh BUILD_DIR     (as root)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
N=${BOOT_N:-200}
PAR=${BOOT_PARALLEL:-4}
OUT=$SRC/bench/results
RAW=$OUT/raw
mkdir -p "$OUT" "$RAW"

T=$(mktemp -d /var/tmp/vsd-bench-boot.XXXXXX)
CG=vsd-bench-boot-$$
SOCK=$T/run/vsd.sock
VSD_PID=
cleanup() {
        set +e
        [ -n "$VSD_PID" ] && bench_vsd_end "$VSD_PID" "$SOCK"
        bench_cgroups_remove "$CG"
        bench_net_remove vsd_bench_bt vsbbt0
        bench_dir_remove "$T"
}
trap cleanup EXIT

mkdir -p "$T/root/templates" "$T/run"
"$SRC/templates/busybox/build.sh" "$T/root/templates/busybox" >/dev/null
printf '%s\n' "[network]" "bridge = vsbbt0" "bridge_ipv4 = 10.80.0.1/21" "link_prefix = vbbt" \
        "nft_table = vsd_bench_bt" "[defaults]" "memory = 64M" "[boot]" "parallel = $PAR" >"$T/vsd.conf"
vsd_start() {
        "$B/vsd" --root "$T/root" --run-dir "$T/run" --socket "$SOCK" --cgroup-parent "$CG" --log-level warning \
                -c "$T/vsd.conf" 2>>"$T/vsd.log" &
        VSD_PID=$!
}
now() { date +%s.%N; }
vsd_start
bench_vsd_wait "$SOCK"
vsctl() { "$B/vsctl" --socket "$SOCK" "$@"; }
echo "boot: creating and starting $N instances" >&2
for k in $(seq "$N"); do
        vsctl create "b$k" --start >/dev/null
done

# reboot: the daemon stopped, every init killed, lxcfs, the holder, the
# bridge and the firewall gone, the runtime directory emptied.  The events
# survive it in the daemon's journal: the boot's are those after the last
# one seen before.
reboot() {
        last=$(vsctl events --past --no-follow --json | python3 -c 'import json, sys
print(max([json.loads(l)["seq"] for l in sys.stdin if l.strip()] or [0]))')
        local pids p
        pids=$(vsctl --json list | python3 -c 'import json, sys; print(" ".join(str(i["pid"]) for i in json.load(sys.stdin) if i.get("pid")))')
        kill "$VSD_PID"
        wait "$VSD_PID" || true
        VSD_PID=
        # shellcheck disable=SC2086
        kill -9 $pids
        for p in $pids; do
                while [ -d "/proc/$p" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$p/status" 2>/dev/null; do sleep 0.01; done
        done
        for p in $(cat "$T/run/lxcfs/lxcfs.pid" 2>/dev/null) $(pgrep -f -- "--listener-holder $T/run/" || true); do
                kill -9 "$p" 2>/dev/null || true
        done
        umount -l "$T/run/lxcfs/mnt" 2>/dev/null || true
        bench_net_remove vsd_bench_bt vsbbt0
        rm -rf "$T/run"
        mkdir -p "$T/run"
}
boot_finished() {
        vsctl events --since "$((last + 1))" --no-follow --json 2>/dev/null | grep '"type": *"boot-finished"'
}

# BOOT_REPEAT rounds (3 up to 200 instances, 1 above) of: the reboot, the
# daemon's boot, every instance stopped one by one, then started one by
# one; the table has the medians.  One-by-one and the boot share each
# round's load, so their ratio says more than either on a shared machine.
REPEAT=${BOOT_REPEAT:-$([ "$N" -le 200 ] && echo 3 || echo 1)}
rounds=()
for round in $(seq "$REPEAT"); do
        reboot
        echo "boot: the daemon's boot ($round of $REPEAT)" >&2
        load0=$(cut -d' ' -f1 /proc/loadavg)
        t0=$(now)
        vsd_start
        # it answers once the registry is loaded: longer than bench_vsd_wait's
        # 5 s with hundreds of instances on a busy machine
        for _ in $(seq 1200); do vsctl version >/dev/null 2>&1 && break; sleep 0.02; done
        ta=$(now)
        until boot_finished >/dev/null; do sleep 0.05; done
        t1=$(now)
        fin=$(boot_finished)
        running=$(vsctl list | awk '$2 == "running"' | wc -l)

        echo "boot: stopping them one by one" >&2
        names=$(vsctl list | awk 'NR > 1 { print $1 }')
        t2=$(now)
        for n in $names; do vsctl stop --kill "$n" >/dev/null; done
        t3=$(now)
        echo "boot: starting them one by one" >&2
        for n in $names; do vsctl start "$n" >/dev/null; done
        t4=$(now)
        load1=$(cut -d' ' -f1 /proc/loadavg)
        rounds+=("$(python3 -c 'import json, sys
t0, ta, t1, t2, t3, t4 = map(float, sys.argv[1:7])
fin = json.loads(sys.argv[7])
print(json.dumps({"answers_s": ta - t0, "boot_s": t1 - t0, "boot_event_s": fin["seconds"], "started": fin["started"],
                  "running_after_boot": int(sys.argv[8]), "stop_one_by_one_s": t3 - t2, "start_one_by_one_s": t4 - t3,
                  "load_before": float(sys.argv[9]), "load_after": float(sys.argv[10])}))' \
                "$t0" "$ta" "$t1" "$t2" "$t3" "$t4" "$fin" "$running" "$load0" "$load1")")
done

python3 - "$RAW/boot-$N.json" "$OUT/boot-$N.md" "$N" "$PAR" "${rounds[@]}" <<'PY'
import json, statistics, sys
out, md, n, par = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rounds = [json.loads(a) for a in sys.argv[5:]]
for x in rounds:
    x["boot_vs_one_by_one"] = x["boot_event_s"] / x["start_one_by_one_s"]
med = lambda k: statistics.median(x[k] for x in rounds)
keys = ["answers_s", "boot_s", "boot_event_s", "stop_one_by_one_s", "start_one_by_one_s", "boot_vs_one_by_one"]
r = {"instances": n, "parallel": par, "rounds": rounds, **{k: med(k) for k in keys},
     "started": min(x["started"] for x in rounds), "running_after_boot": min(x["running_after_boot"] for x in rounds),
     "load": max(x["load_after"] for x in rounds)}
json.dump(r, open(out, "w"), indent=1)
loads = ", ".join(f"{x['load_before']:.1f}-{x['load_after']:.1f}" for x in rounds)
with open(md, "w") as f:
    f.write(f"""## Back after a reboot: {n} instances

| what (median of {len(rounds)}) | seconds |
|---|---|
| daemon start to boot-finished ([boot] parallel = {par}; at least {r['started']} started, {r['running_after_boot']} running after) | {r['boot_s']:.1f} |
| of which the registry load (daemon start until it answers) | {r['answers_s']:.1f} |
| the boot itself (its boot-finished event) | {r['boot_event_s']:.1f} |
| the same instances started one by one (`vsctl start` each) | {r['start_one_by_one_s']:.1f} |
| the boot against one by one, in the same round | {r['boot_vs_one_by_one']:.2f} |
| all of them stopped one by one (`vsctl stop --kill` each, as bench/density.sh stops every engine) | {r['stop_one_by_one_s']:.1f} |

Load average before and after each round: {loads}.  The boot's starts follow a
simulated reboot (the first start makes the bridge and the firewall again); the
starts one by one find them in place.
""")
print(open(md).read())
PY

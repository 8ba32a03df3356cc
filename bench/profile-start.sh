#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Where one `vsctl start` spends its time inside the daemon: a private vsd,
# one busybox instance (dir storage, memory 256M, pids 200, no network, as
# in bench/peers.sh), and
#   strace -f -c     the daemon's syscalls (and its child's until exec) for
#                    one start: counts, errors, time in each
#   strace -f -ttt -T  the same start as a timeline, summarised by step
#   perf stat        software counters over PROFILE_RUNS (20) starts with
#                    stop --kill in between: page faults (the copy-on-write
#                    after clone among them), context switches, CPU time
#   perf record      cpu-clock samples with call graphs over the same
#                    starts, the top of `perf report`
# Writes bench/results/profile/.  Leaves nothing behind.
#
# Usage: bench/profile-start.sh BUILD_DIR     (as root)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
N=${PROFILE_RUNS:-20}
OUT=$SRC/bench/results/profile
mkdir -p "$OUT"
for c in strace:strace perf:linux-perf; do
        command -v "${c%%:*}" >/dev/null || {
                apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${c#*:}" >/dev/null
        }
done

T=$(mktemp -d /tmp/vsd-bench-prof.XXXXXX)
CG=vsd-bench-prof-$$
SOCK=$T/run/vsd.sock
VSD_PID=
vsctl() { "$B/vsctl" --socket "$SOCK" "$@"; }
cleanup() {
        set +e
        [ -n "$VSD_PID" ] && bench_vsd_end "$VSD_PID" "$SOCK"
        bench_cgroups_remove "$CG"
        bench_net_remove vsd_bench_prof
        bench_dir_remove "$T"
}
trap cleanup EXIT

mkdir -p "$T/root/templates" "$T/run"
"$SRC/templates/busybox/build.sh" "$T/root/templates/busybox" >/dev/null
printf '%s\n' "[network]" "default_mode = none" "link_prefix = vbq" "nft_table = vsd_bench_prof" >"$T/vsd.conf"
"$B/vsd" --root "$T/root" --run-dir "$T/run" --socket "$SOCK" --cgroup-parent "$CG" --log-level warning \
        -c "$T/vsd.conf" 2>"$T/vsd.log" &
VSD_PID=$!
bench_vsd_wait "$SOCK"
vsctl create p --storage dir --memory 256M --pids 200 --net none >/dev/null 2>&1
# warm: the first start opens the template and the cgroup directories
for _ in 1 2 3; do vsctl start p >/dev/null; vsctl stop --kill p >/dev/null; done

# strace: attach, one start, detach
trace() { # OUTFILE STRACE_ARGS...
        local out=$1
        shift
        strace -f -p "$VSD_PID" -o "$out" "$@" &
        local sp=$!
        sleep 0.5
        vsctl start p >/dev/null
        sleep 0.2
        kill -INT "$sp"
        wait "$sp" 2>/dev/null || true
        vsctl stop --kill p >/dev/null
}
trace "$OUT/strace-c.txt" -c -S time
trace "$OUT/strace-timeline.txt" -ttt -T -s 80

perf stat -e task-clock,page-faults,minor-faults,major-faults,context-switches,cpu-migrations \
        -p "$VSD_PID" -o "$OUT/perf-stat.txt" -- sh -c "
        for i in \$(seq $N); do $B/vsctl --socket $SOCK start p >/dev/null; $B/vsctl --socket $SOCK stop --kill p >/dev/null; done"
perf record -q -g -e cpu-clock -F 10000 -p "$VSD_PID" -o "$OUT/perf.data" -- sh -c "
        for i in \$(seq $N); do $B/vsctl --socket $SOCK start p >/dev/null; $B/vsctl --socket $SOCK stop --kill p >/dev/null; done" \
        >/dev/null 2>&1
perf report -i "$OUT/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 1.5 -g none \
        >"$OUT/perf-report.txt" 2>/dev/null || true
# which system calls and kernel paths the CPU time is under (children
# included: a syscall's own entry point carries everything below it)
perf report -i "$OUT/perf.data" --stdio --children --sort symbol -g none 2>/dev/null |
        grep -E '__x64_sys_|__do_sys_|do_exit|do_group_exit|asm_exc_page_fault|exc_page_fault|do_wp_page|copy_page|clear_page|cgroup_attach|cgroup_migrate|percpu_down_write|synchronize_rcu|fuse_|ret_from_fork|\[\.\] main$' |
        head -60 >"$OUT/perf-kernel-paths.txt" || true
perf report -i "$OUT/perf.data" --stdio --no-children --sort comm --percent-limit 1 -g none \
        >"$OUT/perf-report-comm.txt" 2>/dev/null || true
# page faults by process: "vsd" is the daemon and its child until exec
# (the copy-on-write after clone), "init" and the rest the instance
perf report -i "$OUT/perf.data" --stdio --children --sort comm,symbol -g none 2>/dev/null |
        grep -E 'asm_exc_page_fault|__do_sys_clone3|__x64_sys_execve|__x64_sys_mount |cgroup_attach_task' \
        >"$OUT/perf-by-comm.txt" || true

# The timeline, summarised: time between the request's accept and the
# answer, and the syscalls that took longest.
python3 - "$OUT/strace-timeline.txt" >"$OUT/strace-slowest.txt" <<'PY'
import re, sys
rows = []
for line in open(sys.argv[1]):
    m = re.match(r"(\d+)\s+([\d.]+)\s+(\w+)\((.*)<([\d.]+)>\s*$", line)
    if m:
        rows.append((float(m.group(5)), int(m.group(1)), m.group(3), m.group(4)[:100]))
t = [float(l.split()[1]) for l in open(sys.argv[1]) if re.match(r"\d+\s+[\d.]+\s", l)]
print(f"{len(rows)} syscalls over {1e3 * (max(t) - min(t)):.2f} ms traced")
# The start, phase by phase: the daemon from the request to the clone, the
# child from the clone to its exec of init, the daemon from the clone to
# its answer (shutdown of the connection).  Times are under strace, so
# inflated; the counts are what to read.
lines = [l.split(None, 2) for l in open(sys.argv[1]) if re.match(r"\d+\s+[\d.]+\s", l)]
daemon = lines[0][0]
ev = {"request": None, "clone": None, "exec": None, "answer": None}
child = None
for pid, ts, rest in lines:
    ts = float(ts)
    if pid == daemon and ev["request"] is None and rest.startswith("recvfrom(") and "/start" in rest:
        ev["request"] = ts
    elif pid == daemon and ev["clone"] is None and rest.startswith("clone3(") and ev["request"]:
        ev["clone"] = ts
    elif ev["clone"] and child is None and pid != daemon:
        child = pid  # the first other process traced after the clone
    if child and pid == child and ev["exec"] is None and rest.startswith("execve("):
        ev["exec"] = ts
    elif pid == daemon and ev["answer"] is None and rest.startswith("shutdown(") and ev["clone"]:
        ev["answer"] = ts
def count(who, a, b, what=None):
    n = 0
    for pid, ts, rest in lines:
        if pid == who and a <= float(ts) <= b and (what is None or re.match(what, rest)):
            n += 1
    return n
FILES = r"(openat|write|close|mkdirat|pread64|read)\("
MOUNTS = r"(mount|open_tree|move_mount|mount_setattr|umount2|pivot_root|fsopen|fsconfig|fsmount)\("
PROCS = r"(openat|write)\(.*cgroup.procs"
if all(ev.values()) and child:
    print(f"request -> clone3: {1e3 * (ev['clone'] - ev['request']):.2f} ms, {count(daemon, ev['request'], ev['clone'])} "
          f"daemon syscalls ({count(daemon, ev['request'], ev['clone'], FILES)} "
          f"of them open/read/write/close/mkdir, mostly cgroup files)")
    print(f"clone3 -> child's exec of init: {1e3 * (ev['exec'] - ev['clone']):.2f} ms, {count(child, ev['clone'], ev['exec'])} "
          f"child syscalls ({count(child, ev['clone'], ev['exec'], MOUNTS)} "
          f"mount calls), {count(daemon, ev['clone'], ev['exec'])} daemon syscalls meanwhile "
          f"({count(daemon, ev['clone'], ev['exec'], PROCS)} on cgroup.procs)")
    print(f"exec -> answer: {1e3 * (ev['answer'] - ev['exec']):.2f} ms")
    print(f"request -> answer: {1e3 * (ev['answer'] - ev['request']):.2f} ms (under strace)")
for d, pid, name, args in sorted(rows, reverse=True)[:25]:
    print(f"{d * 1e3:8.3f} ms  pid {pid}  {name}({args}")
PY
cat "$OUT/strace-slowest.txt"
head -40 "$OUT/strace-c.txt"
cat "$OUT/perf-stat.txt" "$OUT/perf-report-comm.txt" "$OUT/perf-by-comm.txt"

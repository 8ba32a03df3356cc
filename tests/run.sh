#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/run.sh BUILD_DIR [PATTERN...] — run every test, as root, without a
# terminal (this is what `make check` and .ci/run do).
#
#   0. tests/check-deps.py, the house's rules (doc/architecture.md,
#      "Rooms"), and tests/check-errors.py, the error grammar ("Error
#      convention"), each reporting like a unit test;
#   1. unit tests: every BUILD_DIR/tests/test_* binary; each prints
#      "ok - name" / "not ok - name: why" lines, which are counted;
#   2. integration tests: every function test_* of every
#      tests/integration/t_*.sh, each in its own shell with a fresh private
#      daemon (tests/lib.sh), followed by that test's leak check; several at
#      a time (VSD_TEST_JOBS, default 3; `make check JOBS=N`), each result
#      printed whole once it and those started before it are done; the tests
#      marked "# serial test_x" in their file after all others, one by one;
#   3. a global leak check (cgroups, mounts including lxcfs's FUSE mounts,
#      processes including each test daemon's lxcfs, directories).
#
# Tests are found by name; nothing lists them anywhere else.  PATTERNs
# (substrings of "t_file:test_func" or of a unit binary's name) select a
# subset.  The last line is "N passed, N failed"; the exit status is 1 if any
# test failed.  VSD_TEST_TIMEOUT (default 180) bounds one integration test in
# seconds; a test that needs longer says so with a line "# timeout test_x N"
# in its file, and one whose daemon must run in a network namespace of its
# own (tests/lib.sh) with a line "# netns test_x".  A line "# host-only
# test_x: why" skips it in the VM lane's guest (VSD_TEST_IN_VM set), saying why.  VSD_TEST_TIMEOUT_SCALE
# (default 1) multiplies these limits and the waits of tests/lib.sh (the VM
# lane, tests/vm/run.sh, runs under software emulation and sets it).
# VSD_KEEP=1 keeps the directory of a failed test.

set -u

if [ $# -lt 1 ]; then
        echo "usage: $0 BUILD_DIR [PATTERN...]" >&2
        exit 2
fi
if [ "$(id -u)" != 0 ]; then
        echo "$0: the tests start instances and must run as root" >&2
        exit 2
fi
B=$(cd "$1" && pwd) || exit 2
shift
PATTERNS=("$@")
VSD_SRC=$(cd "$(dirname "$0")/.." && pwd)
export B VSD_SRC

# integration tests at a time (see 2. below)
JOBS=${VSD_TEST_JOBS:-3}
if ! [[ $JOBS =~ ^[1-9][0-9]*$ ]]; then
        echo "$0: VSD_TEST_JOBS must be a positive number, not '$JOBS'" >&2
        exit 2
fi

for tool in jq setsid timeout; do
        command -v "$tool" >/dev/null || { echo "$0: $tool is needed (make deps)" >&2; exit 2; }
done

. "$VSD_SRC/tests/lib.sh"

passed=0
failed=0
RUN_START=$SECONDS
# what the host's cgroup2 mounts looked like before any daemon ran
VSD_HOST_CG2_OPTS=$(host_cgroup2_opts)
export VSD_HOST_CG2_OPTS
MY_DIRS=()

selected() {
        [ ${#PATTERNS[@]} -eq 0 ] && return 0
        local p
        for p in "${PATTERNS[@]}"; do
                [[ $1 == *"$p"* ]] && return 0
        done
        return 1
}

ok() {
        passed=$((passed + 1))
        echo "ok - $*"
}

not_ok() {
        failed=$((failed + 1))
        echo "not ok - $*"
}

# Indent diagnostics so that only result lines start with "ok"/"not ok".
diag() {
        sed 's/^/#   /'
}

# 0. The house's rules -------------------------------------------------------

# tests/check-deps.py: includes follow the rooms (doc/architecture.md), no
# include circle between modules, and the start's child neither allocates
# nor reaches the registry or the API.  Counted like a unit test.
CHECK_DEPS=$VSD_SRC/tests/check-deps.py
# tests/check-errors.py: every message a user reads follows the error
# grammar (doc/architecture.md, "Error convention").
CHECK_ERRORS=$VSD_SRC/tests/check-errors.py

# 1. Unit tests -------------------------------------------------------------

run_unit() {
        local bin=$1 name out rc=0 n_ok n_fail
        name=$(basename "$bin")
        out=$(timeout -k 5 120 "$bin" 2>&1 </dev/null) || rc=$?
        n_ok=$(grep -c '^ok - ' <<<"$out")
        n_fail=$(grep -c '^not ok - ' <<<"$out")
        grep -E '^(not )?ok - ' <<<"$out"
        passed=$((passed + n_ok))
        failed=$((failed + n_fail))
        if [ "$rc" -ne 0 ] && [ "$n_fail" -eq 0 ]; then
                not_ok "$name: exit status $rc"
                tail -n 20 <<<"$out" | diag
        elif [ "$n_fail" -gt 0 ]; then
                grep -vE '^(not )?ok - ' <<<"$out" | tail -n 20 | diag
        elif [ "$n_ok" -eq 0 ]; then
                not_ok "$name: reported no results"
        fi
}

# Where the sources are (not in the VM lane, which takes only tests/ and
# the binaries: its runs are about the kernel, and the host's run checks
# the house).
if selected check-deps && [ -d "$VSD_SRC/vsd" ]; then
        command -v python3 >/dev/null && command -v objdump >/dev/null || {
                echo "$0: python3 and objdump are needed (make deps)" >&2
                exit 2
        }
        run_unit "$CHECK_DEPS"
fi
if selected check-errors && [ -d "$VSD_SRC/vsd" ]; then
        run_unit "$CHECK_ERRORS"
fi

for bin in "$B"/tests/test_*; do
        [ -f "$bin" ] && [ -x "$bin" ] || continue
        selected "$(basename "$bin")" || continue
        run_unit "$bin"
done

# 2. Integration tests ------------------------------------------------------

# The body of one test, in its own shell: errexit, and a line naming the
# command that failed.
TEST_SHELL='
set -eE
trap '\''echo "FAIL: status $? at ${BASH_SOURCE[0]##*/}:${LINENO}: ${BASH_COMMAND}" >&2'\'' ERR
. "$VSD_SRC/tests/lib.sh"
. "$1"
vsd_up
"$2"
'

# Tests run JOBS at a time (VSD_TEST_JOBS, `make check JOBS=N`): they mostly
# wait on the kernel and on polls.  A test that must have the machine to
# itself (it measures rates or shares, bounds latencies tightly, or touches
# what is shared host-wide) says so with a line "# serial test_x" in its
# file and runs after the others, alone.  Tests start longest first (by
# their "# timeout"), then in file order.
RUN=$(mktemp -d /tmp/vsd-run.XXXXXX) || exit 2
n=0

# One test, in a background subshell of the runner (a worker): its shell,
# bounded by its timeout, then vsd_down and the leak check.  The result,
# its "ok"/"not ok" line and the diagnostics, goes to $RUN/N.res and the
# exit status to $RUN/N.rc (written last: the runner prints N once it is
# there), so that results are printed whole and in order.  SIGTERM from the
# runner (interrupted) ends the test's process group and cleans up after it
# like after any other.
run_integration() {
        local file=$1 fn=$2 n=$3 id pid= rc=0 leaks start limit how= stop=
        trap 'stop=1' TERM
        id="$(basename "$file" .sh):$fn"
        limit=$(sed -n "s/^# timeout $fn \([0-9][0-9]*\)\$/\1/p" "$file" | head -n1)
        limit=$(scaled "${limit:-${VSD_TEST_TIMEOUT:-180}}")
        # "# host-only test_x: why": what does not depend on the kernel and
        # cannot run in the VM lane's guest is said skipped there
        local why
        why=$(sed -n "s/^# host-only $fn: \(.*\)\$/\1/p" "$file" | head -n1)
        if [ -n "${VSD_TEST_IN_VM:-}" ] && [ -n "$why" ]; then
                echo "ok - $id # SKIP in the VM lane: $why" >"$RUN/$n.res"
                rm -rf "$T"
                echo 0 >"$RUN/$n.rc.tmp" && mv "$RUN/$n.rc.tmp" "$RUN/$n.rc"
                return
        fi

        start=$SECONDS
        # Its own session and process group, so that a hung test can be
        # killed as a whole; the daemon it starts has its own session and is
        # stopped by vsd_down.
        if [ -z "$stop" ]; then
                setsid -w bash -c "$TEST_SHELL" bash "$file" "$fn" >"$T/out" 2>&1 </dev/null &
                pid=$!
        else
                echo "FAIL: interrupted before it started" >"$T/out"
        fi
        while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do
                if [ -n "$stop" ]; then
                        echo "FAIL: interrupted" >>"$T/out"
                        kill -KILL -- "-$pid" 2>/dev/null
                        how=interrupted
                        break
                fi
                if [ $((SECONDS - start)) -ge "$limit" ]; then
                        # where it hangs: the test's own processes (its session)
                        ps -s "$pid" -o pid=,stat=,wchan:22=,args= 2>/dev/null | cut -c1-150 | sed 's/^/# hung: /' >>"$T/out"
                        echo "FAIL: timed out after ${limit}s" >>"$T/out"
                        kill -TERM -- "-$pid" 2>/dev/null
                        sleep 1
                        kill -KILL -- "-$pid" 2>/dev/null
                        how=timeout
                        break
                fi
                sleep 0.05
        done
        [ -z "$pid" ] || wait "$pid" 2>/dev/null || rc=$?
        [ -n "$pid" ] || how=interrupted
        case $how in
        timeout) rc=124 ;;
        interrupted) rc=130 ;;
        esac

        # In a subshell: a helper's fail() must not end the worker.
        if ! leaks=$( (vsd_down) 2>&1); then
                [ "$rc" -ne 0 ] || rc=1
        fi

        {
                if [ "$rc" -eq 0 ]; then
                        echo "ok - $id # $((SECONDS - start))s"
                else
                        echo "not ok - $id # $((SECONDS - start))s${how:+ $how}"
                        {
                                [ -z "$leaks" ] || echo "$leaks"
                                echo "--- test output (last 40 lines):"
                                tail -n 40 "$T/out"
                                echo "--- vsd.log (last 25 lines):"
                                tail -n 25 "$T/vsd.log" 2>/dev/null
                        } | diag
                fi
                if [ "$rc" -ne 0 ] && [ "${VSD_KEEP:-0}" = 1 ]; then
                        echo "#   kept $T"
                fi
        } >"$RUN/$n.res"
        [ "$rc" -ne 0 ] && [ "${VSD_KEEP:-0}" = 1 ] || rm -rf "$T"
        echo "$rc" >"$RUN/$n.rc.tmp" && mv "$RUN/$n.rc.tmp" "$RUN/$n.rc"
}

# The network names of a test (tests/lib.sh vsd_net_names) are a hash of its
# cgroup name; tests running at the same time must not share a bridge
# network, routed pool or link prefix, nor take one that is on the host
# already (another run's): on a clash, the next seed.  Sets VSD_NET_SEED and
# NETKEYS[N].
declare -A NETKEYS=()
pick_net_seed() { # N
        local k=0 host keys m ab clash
        host=$(ip -o -4 addr show 2>/dev/null; ip -4 route show 2>/dev/null; ip -o link show 2>/dev/null)
        while :; do
                VSD_NET_SEED=$VSD_CG
                [ "$k" -eq 0 ] || VSD_NET_SEED=$VSD_CG.$k
                vsd_net_names
                # 10.A.B and 10.A.(B^128) are one test's two /24s
                ab=${VSD_NET4#10.}
                keys="net${ab%%.*}.$((${ab#*.} & 127)) link$VSD_LINK_PREFIX"
                clash=
                for m in "${NETKEYS[@]}"; do
                        [[ " $m " != *" ${keys% *} "* && " $m " != *" ${keys#* } "* ]] || clash=1
                done
                grep -qE -- "(^| )(${VSD_NET4//./\\.}|${VSD_ROUTED4//./\\.})\.|: ($VSD_LINK_PREFIX|$VSD_BRIDGE)" <<<"$host" && clash=1
                [ -n "$clash" ] && [ "$k" -lt 50 ] || break
                k=$((k + 1))
        done
        export VSD_NET_SEED
        NETKEYS[$1]=$keys
}

# Interrupted (Ctrl-C, CI timeout): every running test is ended and cleaned
# up after like any other (its worker does it), so that nothing outlives the
# runner.
interrupted() {
        trap - INT TERM
        echo "# interrupted"
        local p had=${#RUNNING[@]}
        for p in "${!RUNNING[@]}"; do
                kill -TERM "$p" 2>/dev/null
        done
        for p in "${!RUNNING[@]}"; do
                wait "$p" 2>/dev/null
        done
        print_results all
        rm -rf "$RUN"
        [ "$had" -gt 0 ] || failed=$((failed + 1))
        echo "$passed passed, $failed failed"
        exit 1
}
trap interrupted INT TERM

# Print the results that are in, in the order the tests were started: up to
# the first one still running, or all of them.
NEXT_RESULT=1
print_results() { # [all]
        local rc
        while [ "$NEXT_RESULT" -le "$n" ]; do
                if [ -e "$RUN/$NEXT_RESULT.rc" ]; then
                        read -r rc <"$RUN/$NEXT_RESULT.rc"
                        cat "$RUN/$NEXT_RESULT.res"
                        if [ "$rc" = 0 ]; then
                                passed=$((passed + 1))
                        else
                                failed=$((failed + 1))
                        fi
                elif [ "${1:-}" != all ]; then
                        break
                fi
                NEXT_RESULT=$((NEXT_RESULT + 1))
        done
}

# run_tests JOBS TEST...: TEST is "FILE:FUNCTION"; at most JOBS at a time.
declare -A RUNNING=()
run_tests() {
        local jobs=$1 t file fn done_pid
        shift
        while [ $# -gt 0 ] || [ ${#RUNNING[@]} -gt 0 ]; do
                while [ $# -gt 0 ] && [ ${#RUNNING[@]} -lt "$jobs" ]; do
                        t=$1
                        shift
                        file=${t%:*}
                        fn=${t##*:}
                        n=$((n + 1))
                        T=$(mktemp -d /tmp/vsd-test.XXXXXX)
                        MY_DIRS+=("$T")
                        VSD_CG=vsd-test-$$-$n
                        VSD_SOCKET=$T/run/vsd.sock
                        # "# netns test_x": its daemon in a network namespace of its own (tests/lib.sh)
                        VSD_OWN_NETNS=0
                        ! grep -qx "# netns $fn" "$file" || VSD_OWN_NETNS=1
                        export T VSD_CG VSD_SOCKET VSD_OWN_NETNS
                        pick_net_seed "$n"
                        run_integration "$file" "$fn" "$n" &
                        RUNNING[$!]=$n
                done
                done_pid=
                wait -n -p done_pid "${!RUNNING[@]}"
                if [ -n "$done_pid" ]; then
                        unset "NETKEYS[${RUNNING[$done_pid]}]"
                        unset "RUNNING[$done_pid]"
                fi
                print_results
        done
}

PARALLEL=()
SERIAL=()
while read -r _ t; do
        if grep -qx "# serial ${t##*:}" "${t%:*}"; then
                SERIAL+=("$t")
        else
                PARALLEL+=("$t")
        fi
done < <(
        k=0
        for file in "$VSD_SRC"/tests/integration/t_*.sh; do
                [ -f "$file" ] || continue
                for fn in $(sed -n 's/^\(test_[A-Za-z0-9_]*\)[[:space:]]*().*/\1/p' "$file"); do
                        selected "$(basename "$file" .sh):$fn" || continue
                        k=$((k + 1))
                        limit=$(sed -n "s/^# timeout $fn \([0-9][0-9]*\)\$/\1/p" "$file" | head -n1)
                        printf '%s %s %s\n' "${limit:-0}" "$k" "$file:$fn"
                done
        done | sort -k1,1nr -k2,2n | cut -d' ' -f2-
)
[ $((${#PARALLEL[@]} + ${#SERIAL[@]})) -eq 0 ] ||
        echo "# $((${#PARALLEL[@]} + ${#SERIAL[@]})) integration tests, $JOBS at a time; ${#SERIAL[@]} of them alone at the end"
run_tests "$JOBS" "${PARALLEL[@]}"
run_tests 1 "${SERIAL[@]}"
rm -rf "$RUN"

# 3. Global leak check ------------------------------------------------------

global_leaks() {
        local d
        find /sys/fs/cgroup -maxdepth 4 -type d -name "vsd-test-$$-*" 2>/dev/null | sed 's/^/cgroup /'
        for d in "${MY_DIRS[@]}"; do
                grep -F "$d" /proc/self/mountinfo | awk '{ print "mount " $5 }'
                _test_lxcfs_pids "$d" | sed 's/^/lxcfs process /'
        done
        grep -lE -- "/vsd-test-$$-[0-9]+(/|\$)" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | sed 's/^/process /'
        for d in "${MY_DIRS[@]}"; do
                [ ! -e "$d" ] || [ "${VSD_KEEP:-0}" = 1 ] || echo "directory $d"
        done
        [ "$(host_cgroup2_opts)" = "$VSD_HOST_CG2_OPTS" ] ||
                echo "cgroup2 mount options changed: '$VSD_HOST_CG2_OPTS' -> '$(host_cgroup2_opts)'"
}

if [ "$n" -gt 0 ] || [ ${#PATTERNS[@]} -eq 0 ]; then
        leaks=$(global_leaks)
        if [ -z "$leaks" ]; then
                ok "global leak check"
        else
                not_ok "global leak check"
                echo "$leaks" | diag
        fi
fi

echo "# $((SECONDS - RUN_START))s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

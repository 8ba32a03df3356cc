#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/run.sh BUILD_DIR [PATTERN...] — run every test, as root, without a
# terminal (this is what `make check` and .ci/run do).
#
#   1. unit tests: every BUILD_DIR/tests/test_* binary; each prints
#      "ok - name" / "not ok - name: why" lines, which are counted;
#   2. integration tests: every function test_* of every
#      tests/integration/t_*.sh, each in its own shell with a fresh private
#      daemon (tests/lib.sh), followed by that test's leak check;
#   3. a global leak check (cgroups, mounts including lxcfs's FUSE mounts,
#      processes including each test daemon's lxcfs, directories).
#
# Tests are found by name; nothing lists them anywhere else.  PATTERNs
# (substrings of "t_file:test_func" or of a unit binary's name) select a
# subset.  The last line is "N passed, N failed"; the exit status is 1 if any
# test failed.  VSD_TEST_TIMEOUT (default 180) bounds one integration test in
# seconds; a test that needs longer says so with a line "# timeout test_x N"
# in its file, and one whose daemon must run in a network namespace of its
# own (tests/lib.sh) with a line "# netns test_x".  VSD_TEST_TIMEOUT_SCALE
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

run_integration() {
        local file=$1 fn=$2 n=$3 id pid rc=0 leaks start limit timed_out=
        id="$(basename "$file" .sh):$fn"
        limit=$(sed -n "s/^# timeout $fn \([0-9][0-9]*\)\$/\1/p" "$file" | head -n1)
        limit=$(scaled "${limit:-${VSD_TEST_TIMEOUT:-180}}")
        # "# netns test_x": its daemon in a network namespace of its own (tests/lib.sh)
        VSD_OWN_NETNS=0
        ! grep -qx "# netns $fn" "$file" || VSD_OWN_NETNS=1
        export VSD_OWN_NETNS
        T=$(mktemp -d /tmp/vsd-test.XXXXXX)
        MY_DIRS+=("$T")
        VSD_CG=vsd-test-$$-$n
        VSD_SOCKET=$T/run/vsd.sock
        export T VSD_CG VSD_SOCKET

        start=$SECONDS
        CURRENT_PID=
        # Its own session and process group, so that a hung test can be
        # killed as a whole; the daemon it starts has its own session and is
        # stopped by vsd_down.
        setsid -w bash -c "$TEST_SHELL" bash "$file" "$fn" >"$T/out" 2>&1 </dev/null &
        pid=$!
        CURRENT_PID=$pid
        while kill -0 "$pid" 2>/dev/null; do
                if [ $((SECONDS - start)) -ge "$limit" ]; then
                        echo "FAIL: timed out after ${limit}s" >>"$T/out"
                        kill -TERM -- "-$pid" 2>/dev/null
                        sleep 1
                        kill -KILL -- "-$pid" 2>/dev/null
                        timed_out=1
                        break
                fi
                sleep 0.05
        done
        wait "$pid" 2>/dev/null || rc=$?
        CURRENT_PID=
        [ -z "$timed_out" ] || rc=124

        # In a subshell: a helper's fail() must not end the runner.
        if ! leaks=$( (vsd_down) 2>&1); then
                [ "$rc" -ne 0 ] || rc=1
        fi

        if [ "$rc" -eq 0 ]; then
                ok "$id # $((SECONDS - start))s"
        else
                not_ok "$id # $((SECONDS - start))s"
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
        else
                rm -rf "$T"
        fi
}

# Interrupted (Ctrl-C, CI timeout): end the running test and clean up after
# it like after any other, so that nothing outlives the runner.
interrupted() {
        trap - INT TERM
        echo "# interrupted"
        if [ -n "${CURRENT_PID:-}" ]; then
                kill -KILL -- "-$CURRENT_PID" 2>/dev/null
                (vsd_down) 2>&1 | diag
                rm -rf "$T"
        fi
        echo "$passed passed, $((failed + 1)) failed"
        exit 1
}
trap interrupted INT TERM

n=0
for file in "$VSD_SRC"/tests/integration/t_*.sh; do
        [ -f "$file" ] || continue
        for fn in $(sed -n 's/^\(test_[A-Za-z0-9_]*\)[[:space:]]*().*/\1/p' "$file"); do
                selected "$(basename "$file" .sh):$fn" || continue
                n=$((n + 1))
                run_integration "$file" "$fn" "$n"
        done
done

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

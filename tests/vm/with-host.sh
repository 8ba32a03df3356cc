#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/vm/with-host.sh BUILD_DIR [PATTERN...] — `make check`: the host
# suite (tests/run.sh BUILD_DIR PATTERN...) and, at the same time, the VM
# lane (tests/vm/run.sh) on the subset VM_TESTS, one final line for both.
#
# The VM lane starts first, in the background (its guest boots while the
# host's unit tests run), its output into a file; the host's lines stream as
# usual.  Then the VM lane is waited for and its lines printed after the
# host's.  Each runner's own "N passed, N failed" becomes a comment
# ("# host: ...", "# vm-6.1: ..."); the last line adds both up.  Ctrl-C or
# a TERM ends both (the VM lane kills its qemu itself).

set -u
if [ $# -lt 1 ]; then
        echo "usage: $0 BUILD_DIR [PATTERN...]" >&2
        exit 2
fi
B=$1
shift
SRC=$(cd "$(dirname "$0")/../.." && pwd)
read -r -a vm_tests <<<"${VM_TESTS:-}"
TAG=vm-${VM_KERNEL:-6.1}

OUT=$(mktemp /tmp/vsd-vm-lane.XXXXXX)
VM_PID=
HOST_PID=
cleanup() {
        [ -z "$VM_PID" ] || { kill -TERM "$VM_PID" 2>/dev/null; wait "$VM_PID" 2>/dev/null; }
        [ -z "$HOST_PID" ] || { kill -TERM "$HOST_PID" 2>/dev/null; wait "$HOST_PID" 2>/dev/null; }
        rm -f "$OUT"
}
trap cleanup EXIT
host_passed=0
host_failed=1
interrupted() {
        trap - INT TERM
        echo "# interrupted"
        echo "$host_passed passed, $((host_failed + 1)) failed"
        exit 130
}
trap interrupted INT TERM

# Bounded, so that the VM lane never holds up the gate for long: with the
# host suite's 12-22 minutes beside it, make check stays under 30.  Niced:
# the host suite measures CPU shares and rates, and is the gate; the guest
# gets what the host's tests leave, so it may take that long to boot (466 s
# once on a loaded machine), and its waits are scaled by 8, not 4.
VM_NICE=${VM_NICE:-10} VM_TIMEOUT=${VM_TIMEOUT:-1600} VM_BOOT_TIMEOUT=${VM_BOOT_TIMEOUT:-1200} \
        VM_TIME_SCALE=${VM_TIME_SCALE:-8} "$SRC/tests/vm/run.sh" "$B" "${vm_tests[@]}" >"$OUT" 2>&1 </dev/null &
VM_PID=$!

# the host's summary is turned into a comment as it goes by
exec {HOSTFD}< <(exec "$SRC/tests/run.sh" "$B" "$@" </dev/null 2>&1)
HOST_PID=$!
while IFS= read -r line <&"$HOSTFD"; do
        if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
                host_passed=${BASH_REMATCH[1]}
                host_failed=${BASH_REMATCH[2]}
                echo "# host: $line"
        else
                echo "$line"
        fi
done
exec {HOSTFD}<&-
wait "$HOST_PID" 2>/dev/null
HOST_PID=

echo "# waiting for the VM lane ($TAG)"
wait "$VM_PID"
VM_PID=
vm_passed=0
vm_failed=1
while IFS= read -r line; do
        if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
                vm_passed=${BASH_REMATCH[1]}
                vm_failed=${BASH_REMATCH[2]}
                echo "# $TAG: $line"
        else
                echo "$line"
        fi
done <"$OUT"
[ "$vm_failed" -gt 0 ] || [ "$vm_passed" -gt 0 ] || grep -q ' passed, ' "$OUT" ||
        echo "not ok - $TAG: the VM lane printed no summary"

passed=$((host_passed + vm_passed))
failed=$((host_failed + vm_failed))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

# SPDX-License-Identifier: LGPL-2.1-or-later
# The console: the shell of the busybox template on /dev/console, its log,
# attach and detach without a terminal.

test_console_log() {
        local log=$T/root/instances/con1/console.log
        vsctl create con1 --start
        # busybox init's shell prints its prompt (root@con1:...# from /etc/profile)
        wait_for grep -q '@con1' "$log"
}

# Attach with input from a fifo, see the output of a command typed into the
# console's shell, detach with Ctrl-] and check that nothing stopped.
console_session() { # NAME MARK
        local name=$1 mark=$2 cpid
        rm -f "$T/cin" "$T/cout"
        mkfifo "$T/cin"
        "$B/vsctl" --socket "$VSD_SOCKET" console "$name" <"$T/cin" >"$T/cout" 2>&1 &
        cpid=$!
        exec 7>"$T/cin"
        # The mark is computed by the shell so that the echoed input alone
        # does not match.
        printf 'echo %s$((6*7))\n' "$mark" >&7
        wait_for grep -q "${mark}42" "$T/cout"
        printf '\035' >&7
        local deadline=$((SECONDS + 5))
        while kill -0 "$cpid" 2>/dev/null; do
                if [ "$SECONDS" -ge "$deadline" ]; then
                        exec 7>&-
                        kill "$cpid"
                        fail "vsctl console did not detach on Ctrl-]"
                fi
                sleep 0.02
        done
        wait "$cpid" || fail "vsctl console exited with status $? after detaching"
        exec 7>&-
}

test_console_attach_detach() {
        local pid
        vsctl create con2 --start
        pid=$(inst_pid con2)
        wait_for grep -q '@con2' "$T/root/instances/con2/console.log"
        console_session con2 FIRST
        assert_eq "$(inst_state con2)" running "state after detach"
        assert_eq "$(inst_pid con2)" "$pid" "init after detach"
        # the console's shell survived the detach: attach again
        console_session con2 SECOND
        grep -q SECOND42 "$T/root/instances/con2/console.log" || fail "console.log lacks the session's output"
}

test_console_errors() {
        vsctl create con3
        expect_fail --code 1 vsctl console con3
        expect_fail --code 1 vsctl console nosuch
}

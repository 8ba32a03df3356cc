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

# console_ready NAME: the shell busybox init runs on the console has
# printed its prompt.
console_ready() {
        wait_for grep -q "@$1" "$T/root/instances/$1/console.log"
}

# The daemon restarts (SIGTERM, then kill -9) under a running unprivileged
# instance, whose mounts are locked, and a privileged one: each keeps its
# console, the same pty (the listener holder kept its master), what was
# written to it before the restart is in console.log, and `vsctl console`
# echoes after it.
# timeout test_console_across_daemon_restart 300
test_console_across_daemon_restart() {
        local name how
        vsctl create cr-u --start
        vsctl create cr-p --privileged --start
        console_ready cr-u
        console_ready cr-p
        for how in vsd_stop vsd_kill9; do
                for name in cr-u cr-p; do
                        vsctl exec "$name" -- sh -c "echo BEFORE-$how-\$((6*7)) >/dev/console"
                done
                "$how"
                vsd_up
                for name in cr-u cr-p; do
                        wait_for grep -q "BEFORE-$how-42" "$T/root/instances/$name/console.log"
                        console_session "$name" "AFTER-$how-$name-"
                done
        done
        ! grep -q 'console was lost\|has no console' "$T/vsd.log" || fail "a console was replaced: $(grep 'console' "$T/vsd.log" | tail -2)"
}

# Output written to the console while no daemon runs: the holder reads it,
# so the writer never blocks on a full tty, and the next daemon writes its
# newest 64 KiB to console.log, saying how much older output was dropped.
# timeout test_console_output_while_daemon_down 240
test_console_output_while_daemon_down() {
        local pa log=$T/root/instances/cd1/console.log
        vsctl create cd1 --start
        console_ready cd1
        pa=$(inst_pid cd1)
        # ~250 KB, far more than a pty and the holder's ring hold, once the
        # test says so (by removing a file of the instance's /tmp: the host's
        # root, whose id the instance does not map, cannot create one there)
        vsctl exec cd1 -- sh -c 'rm -f /tmp/done; touch /tmp/wait
                (while [ -e /tmp/wait ]; do sleep 0.05; done
                 i=0; while [ $i -lt 4000 ]; do
                        echo "while-down-$i-.........................................." >/dev/console; i=$((i + 1))
                 done; touch /tmp/done) </dev/null >/dev/null 2>&1 &'
        vsd_kill9
        rm "/proc/$pa/root/tmp/wait"
        wait_for -t 60 test -e "/proc/$pa/root/tmp/done"
        vsd_up
        wait_for grep -q 'while-down-3999-' "$log"
        grep -q 'bytes of console output dropped while no daemon ran' "$log" || fail "console.log does not say output was dropped"
        console_session cd1 AFTER
}

# The daemon and the holder both killed: the console's pty is gone with
# them.  The next daemon mounts a new one over /dev/console (the console's
# mount is the one not locked) and the console works again.
# timeout test_console_lost_with_holder 240
test_console_lost_with_holder() {
        local hp name
        vsctl create cl-u --start
        vsctl create cl-p --privileged --start
        console_ready cl-u
        console_ready cl-p
        vsd_kill9
        hp=$(holder_pid)
        [ -n "$hp" ] || fail "no listener holder runs"
        kill -KILL "$hp"
        wait_gone "$hp"
        vsd_up
        for name in cl-u cl-p; do
                grep -q "Instance $name: its console was lost" "$T/vsd.log" || fail "$name: no new console: $(grep console "$T/vsd.log" | tail -2)"
                console_session "$name" "NEWPTY-$name-"
        done
}

# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon goes away and comes back; instances do not notice.

test_kill9_readopt() {
        local pa
        vsctl create ra --start
        vsctl create rb --start
        vsctl create rc
        pa=$(inst_pid ra)
        vsctl stop rb

        vsd_kill9
        alive "$pa" || fail "init of ra died with the daemon"
        expect_fail vsctl list

        vsd_up
        assert_eq "$(inst_state ra)" running "ra after re-adoption"
        assert_eq "$(inst_pid ra)" "$pa" "ra's init after re-adoption"
        assert_eq "$(inst_state rb)" stopped "rb after re-adoption"
        assert_eq "$(inst_state rc)" stopped "rc after re-adoption"
        assert_eq "$(vsctl exec ra -- cat /proc/1/comm)" init "exec after re-adoption"
        vsctl stop ra
        # the adopted init is no longer vsd's child: until its new parent
        # reaps it, it may linger as a zombie, which is dead all the same
        ! alive "$pa" || fail "init $pa alive after stop by the new daemon"
        vsctl start ra
        vsctl start rb
        vsctl exec rb -- true
}

test_sigterm_keeps_instances() {
        local pa
        vsctl create ta --start
        pa=$(inst_pid ta)
        vsd_stop
        alive "$pa" || fail "init died when the daemon was stopped"
        vsd_up
        assert_eq "$(inst_pid ta)" "$pa" "init after daemon restart"
        vsctl exec ta -- true
        # the console is still served by the new daemon
        vsctl exec ta -- sh -c 'echo CONSOLE-AFTER-RESTART >/dev/console'
        wait_for grep -q CONSOLE-AFTER-RESTART "$T/root/instances/ta/console.log"
}

test_instance_dies_while_daemon_down() {
        local pa
        vsctl create da --start
        pa=$(inst_pid da)
        vsd_kill9
        kill -KILL "$pa"
        wait_for sh -c "! [ -d /proc/$pa ] || grep -q '^State:.*Z' /proc/$pa/status"
        vsd_up
        assert_eq "$(inst_state da)" stopped "instance whose init died while vsd was down"
        vsctl start da
        vsctl exec da -- true
}

test_corrupt_config_marks_broken() {
        local j
        vsctl create good1 --start
        vsctl create good2
        vsctl create bad1
        vsd_stop
        printf '[instance\nthis is = = not ini\n\x01\x02\n' >"$T/root/instances/bad1/config.ini"
        vsd_up
        j=$(vsctl --json list)
        assert_eq "$(json '.[] | select(.name == "bad1") | .state' <<<"$j")" broken "bad1 state"
        [ -n "$(json '.[] | select(.name == "bad1") | .error' <<<"$j")" ] || fail "broken without a reason"
        assert_eq "$(json '.[] | select(.name == "good1") | .state' <<<"$j")" running "good1 state"
        assert_eq "$(json '.[] | select(.name == "good2") | .state' <<<"$j")" stopped "good2 state"
        vsctl list | grep -w bad1 | grep -qw broken || fail "table does not show bad1 broken"
        expect_fail --code 1 vsctl start bad1
        vsctl start good2
        vsctl exec good1 -- true
        vsctl exec good2 -- true
}

test_unknown_key_in_config_is_broken() {
        vsctl create uk1
        vsd_stop
        printf 'bogus_key = 1\n' >>"$T/root/instances/uk1/config.ini"
        vsd_up
        assert_eq "$(inst_state uk1)" broken "state with an unknown key"
}

test_socket_admits_root_and_group_only() {
        local rc=0 code
        assert_eq "$(stat -c %a "$VSD_SOCKET")" 660 "socket mode"
        # Open the path to everybody, so that only the daemon's peer
        # credential check stands between an unprivileged user and the API.
        chmod 0755 "$T" "$T/run"
        chmod 0666 "$VSD_SOCKET"
        code=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
                curl -s -o /dev/null -w '%{http_code}' --unix-socket "$VSD_SOCKET" http://vsd/v1/instances) || rc=$?
        note "unprivileged request: curl exit $rc, status $code"
        [ "$code" = 403 ] || [ "$rc" -ne 0 ] || fail "an unprivileged user was answered with status $code"
        expect_fail --code 1 setpriv --reuid=65534 --regid=65534 --clear-groups "$B/vsctl" --socket "$VSD_SOCKET" list
        vsctl list >/dev/null
}

# The daemon killed in the middle of a start or an exec --------------------
#
# VSD_TEST_STALL=<sync.h stage id> in the daemon's environment stops every
# start and exec for good at that stage, in the daemon (the parent's stages)
# or in the child (its own), after "vsd: VSD_TEST_STALL: cloned child for
# STAGE PID" and "... stalled at STAGE" on its stderr (vsd.log): the
# instant at which a test kills it.

# The inode of the daemon's listening API socket.
listen_inode() {
        awk -v p="$VSD_SOCKET" '$NF == p && $4 == "00010000" { print $7 }' /proc/net/unix | head -n1
}

# Pids of the processes holding socket INODE.
socket_holders() {
        find /proc/[0-9]*/fd -maxdepth 1 -lname "socket:\[$1\]" 2>/dev/null | cut -d/ -f3 | sort -u
}

# stall_and_kill STAGE CMD...: run CMD in the background against a daemon
# that stalls at STAGE, kill -9 the daemon there; the child of the stalled
# start or exec must die with it and nothing may hold the daemon's sockets.
stall_and_kill() {
        local stage=$1 child inode client holders
        shift
        vsd_stop
        VSD_TEST_STALL=$stage vsd_up
        inode=$(listen_inode)
        [ -n "$inode" ] || fail "no listening socket on $VSD_SOCKET"
        timeout 30 "$B/vsctl" --socket "$VSD_SOCKET" "$@" >"$T/client.out" 2>&1 &
        client=$!
        wait_for grep -q "VSD_TEST_STALL: stalled at $stage" "$T/vsd.log"
        child=$(sed -n "s/.*VSD_TEST_STALL: cloned child for $stage \([0-9][0-9]*\)\$/\1/p" "$T/vsd.log" | tail -n1)
        [ -n "$child" ] && alive "$child" || fail "no child of the stalled $1 (pid '$child')"
        note "stalled at $stage: daemon $(vsd_pid), child $child, socket inode $inode"
        vsd_kill9
        wait_gone "$child"
        holders=$(socket_holders "$inode")
        [ -z "$holders" ] || fail "the API socket is still held by $holders after the daemon died"
        # the client is told, not left hanging
        local rc=0
        wait "$client" || rc=$?
        [ "$rc" -ne 124 ] || fail "vsctl $1 still waiting 30 s after the daemon died"
        [ "$rc" -ne 0 ] || fail "vsctl $1 succeeded although the daemon was killed in the middle"
        VSD_TEST_STALL= vsd_up
        vsctl list >/dev/null
}

# Killed before the child is placed in its cgroup: outside the instance's
# cgroup, only its parent's death can tell it to go.
test_kill9_before_setup_done() {
        vsctl create s1
        stall_and_kill SYNC_CGROUP start s1
        assert_eq "$(inst_state s1)" stopped "s1 after its start was cut short"
        vsctl start s1
        vsctl exec s1 -- true
}

# Killed while the child works through its checklist (overlay mounted, in
# its cgroup, namespaces made): it must not go on to exec init.
test_kill9_during_child_setup() {
        vsctl create s2
        stall_and_kill SYNC_PIVOT_ROOT start s2
        assert_eq "$(inst_state s2)" stopped "s2 after its start was cut short"
        vsctl start s2
        vsctl exec s2 -- true
}

# An exec's child, inside the instance's namespaces, when the daemon dies
# before it runs the command: it goes, the instance stays.
test_kill9_during_exec_join() {
        local pa
        vsctl create s3 --start
        pa=$(inst_pid s3)
        stall_and_kill SYNC_JOIN_STDIO exec s3 -- true
        assert_eq "$(inst_state s3)" running "s3 after the exec was cut short"
        assert_eq "$(inst_pid s3)" "$pa" "init of s3"
        vsctl exec s3 -- true
}

# Only one daemon ------------------------------------------------------------

# A second vsd on the same socket, or on the same state root, refuses to
# start in one line before it touches anything: the first one's instances
# keep their console, which a second daemon re-adopting them would take.
test_second_daemon_refused() {
        local pa out rc
        vsctl create one --start
        pa=$(inst_pid one)
        rc=0
        out=$(timeout 20 "$B/vsd" --root "$T/root" --run-dir "$T/run" --socket "$VSD_SOCKET" \
                --cgroup-parent "$VSD_CG" -c "$T/vsd.conf" 2>&1 </dev/null) || rc=$?
        note "second vsd on the same socket: exit $rc: $out"
        assert_eq "$rc" 1 "exit status of a second vsd on the same socket"
        assert_eq "$(grep -c '' <<<"$out")" 1 "lines a second vsd prints"
        assert_match "$out" "another vsd is already listening on $VSD_SOCKET" "second vsd's error"
        rc=0
        out=$(timeout 20 "$B/vsd" --root "$T/root" --run-dir "$T/run2" --socket "$T/run/other.sock" \
                --cgroup-parent "$VSD_CG-2" -c "$T/vsd.conf" 2>&1 </dev/null) || rc=$?
        note "second vsd on the same root: exit $rc: $out"
        assert_eq "$rc" 1 "exit status of a second vsd on the same state root"
        assert_eq "$(grep -c '' <<<"$out")" 1 "lines a second vsd prints"
        assert_match "$out" "another vsd already uses the state root $T/root" "second vsd's error"
        [ ! -e "$T/run/other.sock" ] || fail "the refused vsd made its socket"
        assert_eq "$(inst_pid one)" "$pa" "init of one"
        vsctl exec one -- sh -c 'echo AFTER-SECOND-VSD >/dev/console'
        wait_for grep -q AFTER-SECOND-VSD "$T/root/instances/one/console.log"
}

# A process holding a copy of a dead daemon's listening socket (as a child
# of the daemon between its clone and exec did) still accepts connections
# on the path: the next daemon starts all the same, since its lock file,
# not a connect, says whether a vsd serves there.
test_stray_socket_holder() {
        local inode fd holder
        inode=$(listen_inode)
        fd=$(find "/proc/$(vsd_pid)/fd" -maxdepth 1 -lname "socket:\[$inode\]" -printf '%f\n' | head -n1)
        [ -n "$fd" ] || fail "no fd of the daemon's listening socket"
        "$B/tests/probe" hold-fd "$(vsd_pid)" "$fd" >"$T/hold.out" 2>&1 &
        holder=$!
        wait_for grep -q held=1 "$T/hold.out"
        vsd_kill9
        [ -n "$(socket_holders "$inode")" ] || fail "the stray copy of the socket is gone"
        vsd_up
        vsctl create after-stray --start
        vsctl exec after-stray -- true
        kill -KILL "$holder"
        wait "$holder" 2>/dev/null || true
}

# wait_exit PID: PID, a child of this shell, ends within 10 s; its status
# in $EXIT_STATUS.
wait_exit() {
        local deadline=$((SECONDS + 10))
        while kill -0 "$1" 2>/dev/null && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; do
                [ "$SECONDS" -lt "$deadline" ] || fail "process $1 still running 10 s later"
                sleep 0.02
        done
        EXIT_STATUS=0
        wait "$1" || EXIT_STATUS=$?
}

# The daemon stops while a console client is attached and an exec runs: it
# ends both sessions (they are the connections' owners, not the HTTP
# server's) and exits cleanly; the instance and the exec'd command go on.
test_sigterm_with_sessions_attached() {
        local cpid epid pid pa
        vsctl create se --start
        pa=$(inst_pid se)
        wait_for grep -q '@se' "$T/root/instances/se/console.log"
        mkfifo "$T/cin"
        "$B/vsctl" --socket "$VSD_SOCKET" console se <"$T/cin" >"$T/cout" 2>&1 &
        cpid=$!
        exec 7>"$T/cin"
        printf 'echo ATTACHED$((6*7))\n' >&7
        wait_for grep -q ATTACHED42 "$T/cout"
        "$B/vsctl" --socket "$VSD_SOCKET" exec se -- sh -c 'echo EXEC-UP; exec sleep 1000' >"$T/eout" 2>&1 &
        epid=$!
        wait_for grep -q EXEC-UP "$T/eout"

        pid=$(vsd_pid)
        kill -TERM "$pid"
        wait_exit "$pid"
        assert_eq "$EXIT_STATUS" 0 "exit status of the daemon stopped with sessions attached"
        wait_exit "$cpid"
        wait_exit "$epid"
        [ "$EXIT_STATUS" -ne 0 ] || fail "vsctl exec succeeded although its session was cut"
        grep -q 'vsd is shutting down' "$T/eout" || fail "vsctl exec was not told why: $(tail -n1 "$T/eout")"
        exec 7>&-
        alive "$pa" || fail "init died with the daemon"
        vsd_up
        assert_eq "$(inst_pid se)" "$pa" "init of se after the restart"
        vsctl exec se -- sh -c 'ps | grep -q "[s]leep 1000"' || fail "the exec'd command did not outlive the daemon"
}

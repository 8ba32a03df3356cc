# SPDX-License-Identifier: LGPL-2.1-or-later
# exec: exit codes, stdin/stdout/stderr, errors.

test_exec_exit_codes() {
        local rc
        vsctl create ex1 --start
        vsctl exec ex1 -- true
        rc=0; vsctl exec ex1 -- sh -c 'exit 7' || rc=$?
        assert_eq "$rc" 7 "exit status"
        rc=0; vsctl exec ex1 -- false || rc=$?
        assert_eq "$rc" 1 "false"
        rc=0; vsctl exec ex1 -- sh -c 'kill -9 $$' || rc=$?
        assert_eq "$rc" 137 "killed by SIGKILL"
        rc=0; vsctl exec ex1 -- /no/such/command 2>/dev/null || rc=$?
        [ "$rc" -ne 0 ] || fail "a missing command succeeded"
}

test_exec_stdio() {
        local sum1 sum2
        vsctl create ex2 --start
        assert_eq "$(echo hi | vsctl exec ex2 -- cat)" hi "stdin to stdout"
        assert_eq "$(vsctl exec ex2 -- sh -c 'echo out; echo err >&2' 2>&1 >/dev/null)" err "stderr"
        assert_eq "$(vsctl exec ex2 -- sh -c 'echo out; echo err >&2' 2>/dev/null)" out "stdout"
        assert_eq "$(vsctl exec ex2 -- echo a 'b c' "d'e")" "a b c d'e" "argv passed verbatim"
        # a few MiB through a pipe, unchanged
        head -c 4M /dev/urandom >"$T/blob"
        sum1=$(md5sum <"$T/blob" | cut -d' ' -f1)
        sum2=$(vsctl exec ex2 -- md5sum <"$T/blob" | cut -d' ' -f1)
        assert_eq "$sum2" "$sum1" "4 MiB through stdin"
        sum2=$(vsctl exec ex2 -- cat <"$T/blob" | md5sum | cut -d' ' -f1)
        assert_eq "$sum2" "$sum1" "4 MiB through stdin and stdout"
        # a command that never reads stdin does not hang on it
        # (a fifo that stays open and never delivers anything)
        mkfifo "$T/idle"
        exec 8<>"$T/idle"
        assert_eq "$(timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" exec ex2 -- echo finished <"$T/idle")" finished "unread stdin"
        exec 8>&-
}

test_exec_environment() {
        local out
        vsctl create ex3 --start
        out=$(vsctl exec ex3 -- sh -c 'echo "$PATH"')
        [[ $out == */bin* ]] || fail "PATH inside: '$out'"
        assert_eq "$(vsctl exec ex3 -- id -u)" 0 "uid inside"
        assert_eq "$(vsctl exec ex3 -- pwd)" / "cwd inside"
}

test_exec_tty_flag_without_terminal() {
        # -t with no terminal on our side must still run the command (or
        # refuse in one line), never hang.
        local rc=0 out
        vsctl create ex4 --start
        out=$(timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" exec -t ex4 -- echo hello </dev/null 2>&1) || rc=$?
        note "exec -t without terminal: exit $rc: $out"
        [ "$rc" -ne 124 ] || fail "exec -t hung without a terminal"
}

test_exec_errors() {
        vsctl create ex5
        expect_fail --code 1 vsctl exec ex5 -- true
        expect_fail --code 1 vsctl exec nosuch -- true
        expect_fail --code 2 vsctl exec ex5
}

# Root inside freezes its own cgroup through its cgroup2 tree: a command
# exec'd then freezes before its exec.  The daemon waits for it without
# blocking: every other request is answered meanwhile.
test_exec_into_a_cgroup_frozen_inside() {
        local cgf start bg n0
        vsctl create fz1 --net none --start
        vsctl create fz2 --net none --start
        cgf=/sys/fs/cgroup/unified/$VSD_CG/fz1/cgroup.freeze
        [ -f "$cgf" ] || cgf=/sys/fs/cgroup/$VSD_CG/fz1/cgroup.freeze
        [ -f "$cgf" ] || fail "no cgroup.freeze for fz1"
        # the writer freezes with the rest: its client gives up
        timeout 3 "$B/vsctl" --socket "$VSD_SOCKET" exec fz1 -- sh -c 'echo 1 >/sys/fs/cgroup/cgroup.freeze' || true
        assert_eq "$(cat "$cgf")" 1 "fz1 frozen from inside"
        n0=$(wc -l <"${cgf%/*}/cgroup.procs")
        "$B/vsctl" --socket "$VSD_SOCKET" exec fz1 -- echo thawed >"$T/exec.out" 2>&1 &
        bg=$!
        # the command is in the cgroup, frozen before its exec
        wait_for sh -c "[ \$(wc -l <'${cgf%/*}/cgroup.procs') -gt $n0 ]"
        start=$SECONDS
        assert_eq "$(timeout 5 "$B/vsctl" --socket "$VSD_SOCKET" exec fz2 -- echo answered)" answered "exec into another instance"
        timeout 5 "$B/vsctl" --socket "$VSD_SOCKET" list >/dev/null || fail "list does not answer"
        [ $((SECONDS - start)) -le 3 ] || fail "requests took $((SECONDS - start))s while an exec waits"
        # thawed (from the host here): the waiting command runs
        echo 0 >"$cgf"
        wait "$bg" || fail "the waiting exec failed: $(cat "$T/exec.out")"
        assert_eq "$(cat "$T/exec.out")" thawed "the waiting exec's output"
}

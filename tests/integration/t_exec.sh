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

# What systemd does at boot inside its cgroup tree: init moves to a leaf
# (init.scope) and the controllers are enabled at the tree's root.  From
# then on no process may join that root (the kernel's no-internal-process
# rule); exec keeps working, in init's cgroup, before and after, and its
# commands stay within the instance's limits.
test_exec_after_init_moved_and_controllers_enabled() {
        local ctl rc=0 out
        vsctl create ex6 --memory 64M --start
        assert_eq "$(vsctl exec ex6 -- sed -n 's/^0:://p' /proc/self/cgroup)" / "an exec'd command's cgroup inside"
        vsctl exec ex6 -- sh -c 'mkdir /sys/fs/cgroup/init.scope && echo 1 >/sys/fs/cgroup/init.scope/cgroup.procs'
        assert_eq "$(vsctl exec ex6 -- sed -n 's/^0:://p' /proc/1/cgroup)" /init.scope "init's cgroup inside"
        ctl=$(vsctl exec ex6 -- cat /sys/fs/cgroup/cgroup.controllers)
        note "controllers of the instance's tree: '$ctl'"
        if [[ " $ctl " == *" memory "* ]]; then
                vsctl exec ex6 -- sh -c 'echo +memory +pids >/sys/fs/cgroup/cgroup.subtree_control'
                assert_match "$(vsctl exec ex6 -- cat /sys/fs/cgroup/cgroup.subtree_control)" "memory.*pids|pids.*memory" \
                        "controllers enabled inside"
        else
                note "no controller in the instance's tree (v1 hybrid host): nothing to enable"
        fi
        assert_eq "$(vsctl exec ex6 -- echo hello)" hello "exec after init moved"
        assert_eq "$(echo in | vsctl exec ex6 -- cat)" in "exec with stdin after init moved"
        # in init's cgroup, where the instance sees it
        if [[ " $ctl " == *" memory "* ]]; then
                assert_eq "$(vsctl exec ex6 -- sed -n 's/^0:://p' /proc/self/cgroup)" /init.scope "an exec'd command's cgroup"
        fi
        # and under the instance's limit
        out=$(vsctl exec ex6 -- /probe memhog 200) || rc=$?
        assert_eq "$rc" 137 "memhog after init moved (SIGKILL by the OOM killer)"
        [ "$(probe_val touched <<<"$(tail -1 <<<"$out")")" -le 64 ] || fail "touched more than the limit: $out"
        # init's cgroup made unusable from inside: no process may be added
        # to it, or it is frozen; exec still finds a place, at once
        if [[ " $ctl " == *" memory "* ]]; then
                vsctl exec ex6 -- sh -c 'echo 0 >/sys/fs/cgroup/init.scope/pids.max'
                assert_eq "$(vsctl exec ex6 -- echo full)" full "exec with no process allowed in init's cgroup"
                rc=0
                out=$(vsctl exec ex6 -- /probe memhog 200) || rc=$?
                assert_eq "$rc" 137 "memhog outside init's cgroup (SIGKILL by the OOM killer)"
                vsctl exec ex6 -- sh -c 'echo max >/sys/fs/cgroup/init.scope/pids.max; echo 1 >/sys/fs/cgroup/init.scope/cgroup.freeze'
                assert_eq "$(timeout "$(scaled 10)" "$B/vsctl" --socket "$VSD_SOCKET" exec ex6 -- echo thawed)" thawed \
                        "exec with init's cgroup frozen"
                vsctl exec ex6 -- sh -c 'echo 0 >/sys/fs/cgroup/init.scope/cgroup.freeze'
        fi
        assert_eq "$(inst_state ex6)" running "ex6 state"
        vsctl stop ex6
}

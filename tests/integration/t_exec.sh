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

# None of the caller's own files may reach the instance: the command's
# stdin, stdout and stderr are pipes that vsd made, relayed by vsctl.  Each
# of these attacks worked while vsctl passed its own descriptors in.

test_exec_stdin_file_not_writable() {
        vsctl create ex6 --start
        printf 'ORIGINAL\n' >"$T/ro"
        chmod 0400 "$T/ro"
        printf 'LOG-LINE\n' >"$T/log"
        # write back through the read-only stdin; truncate the append-only stdout
        vsctl exec ex6 -- sh -c 'echo PWN > /proc/self/fd/0; : > /proc/self/fd/1' <"$T/ro" >>"$T/log" 2>/dev/null || true
        assert_eq "$(cat "$T/ro")" ORIGINAL "0400 host file given as stdin"
        assert_eq "$(stat -c %a "$T/ro")" 400 "mode of the host file"
        assert_eq "$(cat "$T/log")" LOG-LINE "append-only host file given as stdout"
        # what the instance sees as its stdin is a pipe, not a host path
        assert_match "$(vsctl exec ex6 -- readlink /proc/self/fd/0 <"$T/ro")" '^pipe:\[[0-9]+\]$' "stdin inside"
        assert_match "$(vsctl exec ex6 -- readlink /proc/self/fd/1 | cat)" '^pipe:\[[0-9]+\]$' "stdout inside"
}

test_exec_stdin_dir_no_host_view() {
        local out up hostname
        vsctl create ex7 --start
        mkdir "$T/sub"
        touch "$T/host-marker-$$"
        printf 'HOST-SECRET\n' >"$T/secret"
        # from $T/sub up to the host's /
        up=$(sed 's|[^/][^/]*|..|g' <<<"$T/sub")
        out=$(vsctl exec ex7 -- sh -c "ls -a /proc/self/fd/0/..; cat /proc/self/fd/0/../secret; cat /proc/self/fd/0$up/etc/hostname" <"$T/sub" 2>&1) || true
        note "inside, with a directory as stdin: $out"
        [[ $out != *host-marker* ]] || fail "the instance listed the host's directory: $out"
        [[ $out != *HOST-SECRET* ]] || fail "the instance read a host file: $out"
        hostname=$(cat /etc/hostname 2>/dev/null || true)
        if [ -n "$hostname" ] && [ "$hostname" != ex7 ]; then
                [[ $out != *"$hostname"* ]] || fail "the instance read the host's /etc/hostname: $out"
        fi
}

test_exec_background_cannot_keep_stdin() {
        local out
        vsctl create ex8 --start
        mkfifo "$T/in"
        exec 7<>"$T/in"
        # A background reader inside keeps a copy of stdin after the command
        # (and vsctl) are done; it must see the end of input, never what is
        # typed into our stdin afterwards.
        timeout 20 "$B/vsctl" --socket "$VSD_SOCKET" exec ex8 -- sh -c \
                'exec 3<&0; (cat <&3 >/tmp/leak; echo done >/tmp/leak.done) >/dev/null 2>&1 & echo started' \
                <"$T/in" >"$T/o"
        assert_eq "$(cat "$T/o")" started "exec output"
        printf 'TYPED-LATER\n' >&7
        exec 7>&-
        wait_for vsctl exec ex8 -- test -e /tmp/leak.done
        out=$(vsctl exec ex8 -- cat /tmp/leak)
        [[ $out != *TYPED-LATER* ]] || fail "a background process inside read the caller's stdin after vsctl returned"
}

test_exec_streams_kept() {
        local out rc
        vsctl create ex9 --start
        # Output goes to files, not to $(...): a process left inside that
        # still held a pipe of ours would hold up the test, not fail it.
        # End of input reaches the command; a big input it never reads does
        # not hold it up.
        printf 'a\nb\n' | timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" exec ex9 -- wc -l >"$T/o"
        assert_eq "$(cat "$T/o")" 2 "EOF after input"
        rc=0; head -c 8M /dev/zero | timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" exec ex9 -- sh -c 'exit 3' || rc=$?
        assert_eq "$rc" 3 "exit status with unread input"
        # closed stdin reads as empty, closed stdout and stderr do not fail the command
        rc=0; timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" exec ex9 -- cat <&- >"$T/o" || rc=$?
        assert_eq "$rc/$(cat "$T/o")" 0/ "closed stdin"
        rc=0; timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" exec ex9 -- sh -c 'echo out; echo err >&2; exit 4' >&- 2>&- || rc=$?
        assert_eq "$rc" 4 "closed stdout and stderr"
        # stdout and stderr stay apart, in order within each
        vsctl exec ex9 -- sh -c 'for i in 1 2 3; do echo o$i; echo e$i >&2; done' >"$T/o" 2>"$T/e"
        assert_eq "$(cat "$T/o")" "$(printf 'o1\no2\no3')" "stdout"
        assert_eq "$(cat "$T/e")" "$(printf 'e1\ne2\ne3')" "stderr"
        # binary data both ways, unchanged
        head -c 3M /dev/urandom >"$T/bin"
        vsctl exec ex9 -- cat <"$T/bin" >"$T/o" 2>"$T/e"
        cmp "$T/bin" "$T/o" || fail "binary data changed on the way through cat"
        assert_eq "$(wc -c <"$T/e")" 0 "nothing on stderr"
        # a reader that goes away: the command ends on SIGPIPE, as with a local pipe
        out=$( (timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" exec ex9 -- yes; echo "rc=$?" >"$T/e") | head -1)
        assert_eq "$out" y "first line"
        assert_eq "$(cat "$T/e")" rc=141 "yes ended by SIGPIPE"
        # vsctl returns with the command, not with background processes
        # that still hold its output
        rc=0; timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" exec ex9 -- sh -c 'sleep 60 & echo ready' >"$T/o" || rc=$?
        assert_eq "$rc/$(cat "$T/o")" 0/ready "exit while a background process holds stdout"
        # output written just before the exit is all there
        vsctl exec ex9 -- sh -c 'head -c 200000 /dev/zero' >"$T/o"
        assert_eq "$(wc -c <"$T/o")" 200000 "output drained"
}

test_exec_old_protocol_refused() {
        local out rc=0
        vsctl create ex10 --start
        out=$(timeout 10 curl -sS --unix-socket "$VSD_SOCKET" -H 'Connection: Upgrade' -H 'Upgrade: vsd-exec' \
                -H 'Content-Type: application/json' -d '{"argv":["true"]}' -w '\n%{http_code}' \
                http://vsd/v1/instances/ex10/exec) || rc=$?
        note "old exec protocol: exit $rc: $out"
        [ "$rc" -ne 124 ] || fail "a client of the old exec protocol hangs"
        assert_eq "$(tail -1 <<<"$out")" 400 "HTTP status"
        [[ $out == *vsctl* ]] || fail "the error does not say what to do: $out"
}

# Run "$@" on the slave of a fresh pty of ROWS x COLS; type INPUT once the
# output shows READY; print everything read from the master.
on_terminal() { # ROWS COLS INPUT CMD...
        python3 - "$@" <<'PY'
import os, select, struct, subprocess, sys, time, fcntl, termios
rows, cols, typed, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
os.close(slave)
out, sent, deadline = b"", False, time.time() + 20
while time.time() < deadline:
    r, _, _ = select.select([master], [], [], 0.2)
    if r:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
        if not sent and b"READY" in out:
            os.write(master, typed.encode())
            sent = True
    elif p.poll() is not None:
        break
try:
    rc = p.wait(timeout=5)
except subprocess.TimeoutExpired:
    p.kill()
    rc = 124
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
sys.exit(rc)
PY
}

test_exec_tty_inside() {
        local out rc=0
        vsctl create ex11 --start
        out=$(on_terminal 33 111 $'hello\r' "$B/vsctl" --socket "$VSD_SOCKET" exec -t ex11 -- \
                sh -c 'tty; stty size; ls -l /proc/self/fd/0; echo READY; read l; echo "got:$l"; exit 5') || rc=$?
        note "exec -t: exit $rc: $out"
        assert_eq "$rc" 5 "exit status through the terminal"
        assert_match "$(sed -n 1p <<<"$out")" '^/dev/pts/[0-9]+$' "tty inside"
        assert_eq "$(sed -n 2p <<<"$out")" "33 111" "window size inside"
        [[ $out == *"got:hello"* ]] || fail "typed input did not reach the command: $out"
        # the terminal is the instance's own: it names it, and it exists there
        vsctl exec ex11 -- sh -c 'ls /dev/pts' | grep -qx ptmx || fail "no devpts in the instance"
}

# An end-of-file already waiting in the caller's terminal when exec -t
# starts (script(1) sends Ctrl-D at once when its own input is empty; the
# sleep makes it arrive while the terminal is still in canonical mode,
# where the kernel keeps it as a NUL): the command gets it as its end of
# input, and nothing shows.  Before, the NUL reached the command's terminal
# as a byte, echoed "^@", and cat waited for an end that never came.
test_exec_tty_eof_typed_ahead() {
        local out rc=0
        vsctl create ex13 --start
        timeout 20 script -qec "sleep 0.5; $B/vsctl --socket $VSD_SOCKET exec -t ex13 -- cat" /dev/null </dev/null \
                >"$T/o" || rc=$?
        out=$(od -An -c <"$T/o" | tr -s ' \n' ' ')
        note "exec -t cat: exit $rc: '$out'"
        assert_eq "$rc" 0 "exec -t cat with an end-of-file typed ahead"
        [[ $out != *"^"* ]] || fail "the end-of-file showed as '$out'"
        out=$(script -qec "sleep 0.5; $B/vsctl --socket $VSD_SOCKET exec -t ex13 -- echo hi" /dev/null </dev/null | tr -d '\r')
        assert_eq "$out" hi "echo through exec -t with an end-of-file typed ahead"
}

test_exec_tty_planted_ptmx() {
        local pid
        vsctl create ex12 --start
        pid=$(inst_pid ex12)
        # What the terminal is opened from belongs to the customer: a FIFO or
        # a link there must be refused, never blocked on or followed.  Made
        # as root inside (its user namespace: the instance's /dev takes no
        # file of the host's root), on a tmpfs of its own over its devpts
        # (which is locked: mounted on, never unmounted).
        nsenter -t "$pid" -U -m sh -c 'mount -t tmpfs tmpfs /dev/pts && mkfifo /dev/pts/ptmx'
        expect_fail --code 126 timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" exec -t ex12 -- true
        [[ $LAST_ERR == *ptmx* ]] || fail "the error does not name the terminal: $LAST_ERR"
        nsenter -t "$pid" -U -m sh -c 'rm /dev/pts/ptmx && ln -s /dev/null /dev/pts/ptmx'
        expect_fail --code 126 timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" exec -t ex12 -- true
        # the daemon is unharmed, and exec without a terminal still works
        assert_eq "$(vsctl exec ex12 -- echo still)" still "exec after the refusals"
}

# Root inside freezes init's cgroup through its cgroup2 tree: a command
# exec'd (into init's cgroup) then freezes before its exec.  The daemon
# waits for it without blocking: every other request is answered
# meanwhile.  The cgroup is one root made in its delegated tree: the
# tree's root itself, whose cgroup.freeze stays the host's, it cannot
# freeze.
test_exec_into_a_cgroup_frozen_inside() {
        local cgf start bg n0
        vsctl create fz1 --net none --start
        vsctl create fz2 --net none --start
        vsctl exec fz1 -- sh -c 'mkdir /sys/fs/cgroup/f && echo 1 >/sys/fs/cgroup/f/cgroup.procs'
        cgf=/sys/fs/cgroup/unified/$VSD_CG/fz1/f/cgroup.freeze
        # v2: what root inside sees as its tree's root is the payload
        [ -f "$cgf" ] || cgf=/sys/fs/cgroup/$VSD_CG/fz1/payload/f/cgroup.freeze
        [ -f "$cgf" ] || fail "no cgroup.freeze for fz1"
        timeout 3 "$B/vsctl" --socket "$VSD_SOCKET" exec fz1 -- sh -c 'echo 1 >/sys/fs/cgroup/f/cgroup.freeze' || true
        assert_eq "$(cat "$cgf")" 1 "fz1 frozen from inside"
        # the tree's root is not root inside's to freeze
        vsctl exec fz1 -- sh -c '(echo 1 >/sys/fs/cgroup/cgroup.freeze) 2>/dev/null && echo froze' >"$T/out" || true
        [ ! -s "$T/out" ] || fail "root inside froze its tree's root"
        if [[ $cgf == */unified/* ]]; then
                # v1 hybrid: exec'd commands join the instance's own cgroup,
                # the tree's root, which nothing inside can freeze
                assert_eq "$(timeout 5 "$B/vsctl" --socket "$VSD_SOCKET" exec fz1 -- echo ran)" ran "exec with init frozen"
                echo 0 >"$cgf"
                return 0
        fi
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

# What systemd does at boot inside its cgroup tree: init moves to a leaf
# (init.scope) and the controllers are enabled at the tree's root.  From
# then on no process may join that root (the kernel's no-internal-process
# rule); exec keeps working, in init's cgroup, before and after, and its
# commands stay within the instance's limits.  Every process of the root
# moves, as systemd leaves none there: busybox init's console shell is one
# (the kernel refuses controllers over it: EBUSY).
test_exec_after_init_moved_and_controllers_enabled() {
        local ctl rc=0 out
        vsctl create ex6 --memory 64M --start
        assert_eq "$(vsctl exec ex6 -- sed -n 's/^0:://p' /proc/self/cgroup)" / "an exec'd command's cgroup inside"
        # every process there, this shell too (what init starts from then
        # on is born in init.scope; cat, listed, is gone by its turn)
        vsctl exec ex6 -- sh -c 'mkdir /sys/fs/cgroup/init.scope &&
                for p in $(cat /sys/fs/cgroup/cgroup.procs); do
                        echo "$p" 2>/dev/null >/sys/fs/cgroup/init.scope/cgroup.procs || [ ! -d "/proc/$p" ] || exit 1
                done
                [ -z "$(cat /sys/fs/cgroup/cgroup.procs)" ]'
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

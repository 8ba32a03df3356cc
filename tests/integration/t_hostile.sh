# SPDX-License-Identifier: LGPL-2.1-or-later
# What a customer plants in an instance for the daemon to trip over: FIFOs,
# links out of the rootfs, directories and huge files at the paths vsd reads
# or writes when it starts the instance.  Planted from inside; the daemon must
# neither block on them (it has one thread: a blocked start is a stalled
# daemon) nor follow them out of the rootfs.

# start_promptly NAME: start NAME while other clients keep asking the daemon
# for its list: each must be answered within 5 s, and the start must end
# within 10 s and succeed.
start_promptly() {
        local name=$1 pid deadline
        vsctl start "$name" >"$T/start.out" 2>&1 &
        pid=$!
        deadline=$((SECONDS + 10))
        while kill -0 "$pid" 2>/dev/null; do
                timeout 5 "$B/vsctl" --socket "$VSD_SOCKET" list >/dev/null ||
                        fail "vsd did not answer 'list' within 5 s while $name was starting"
                [ "$SECONDS" -lt "$deadline" ] || fail "the start of $name still runs after 10 s"
        done
        wait "$pid" || fail "the start of $name failed: $(cat "$T/start.out")"
        assert_eq "$(inst_state "$name")" running "state of $name"
}

# log_has TEXT: the daemon logged TEXT (fixed string).
log_has() {
        grep -qF -- "$1" "$T/vsd.log" || fail "vsd.log does not say: $1"
}

test_planted_fifos_do_not_stall_start() {
        vsctl create hf1 --nameserver 192.0.2.53 --start
        # every file of /etc the start could touch, and /etc/hostname, which
        # it must not
        vsctl exec hf1 -- sh -c 'for f in /etc/hosts /etc/resolv.conf /etc/hostname; do
                rm -f $f && mkfifo $f || exit 1; done'
        vsctl stop hf1 --kill
        start_promptly hf1
        # left as the customer made them, with the reason in the log
        vsctl exec hf1 -- sh -c 'test -p /etc/hosts && test -p /etc/resolv.conf && test -p /etc/hostname' ||
                fail "a planted FIFO was replaced"
        log_has "Instance hf1: /etc/hosts is a FIFO, not a regular file: not rewritten; /etc/resolv.conf is a FIFO, not a regular file: not rewritten"
        # and a restart with regular files again writes them as before
        vsctl exec hf1 -- rm /etc/hosts /etc/resolv.conf
        vsctl stop hf1 --kill
        start_promptly hf1
        vsctl exec hf1 -- grep -qx "nameserver 192.0.2.53" /etc/resolv.conf || fail "resolv.conf not written"
        vsctl exec hf1 -- grep -qw hf1 /etc/hosts || fail "/etc/hosts does not name the instance"
        # /etc itself a FIFO
        vsctl exec hf1 -- sh -c 'mv /etc /etc.real && mkfifo /etc'
        vsctl stop hf1 --kill
        start_promptly hf1
        vsctl exec hf1 -- test -p /etc || fail "the planted /etc was replaced"
        log_has "Instance hf1: open /etc/hosts: Not a directory: not rewritten"
}

test_planted_links_and_directories_stay_inside() {
        local secret=$T/host-secret before
        # a host file outside every rootfs, and a host directory
        echo "host secret $RANDOM" >"$secret"
        mkdir "$T/host-etc"
        echo "127.0.0.1 host-only" >"$T/host-etc/hosts"
        before=$(stat -c '%s %Y %i' "$secret" "$T/host-etc/hosts")
        vsctl create hl1 --nameserver 192.0.2.53 --start
        vsctl exec hl1 -- sh -c "rm -f /etc/hosts /etc/resolv.conf &&
                ln -s $secret /etc/hosts && ln -s ../../../../../../../..$secret /etc/resolv.conf"
        vsctl stop hl1 --kill
        start_promptly hl1
        assert_eq "$(stat -c '%s %Y %i' "$secret" "$T/host-etc/hosts")" "$before" "the host's files"
        vsctl exec hl1 -- sh -c 'test -L /etc/hosts && test -L /etc/resolv.conf' || fail "a planted link was replaced"
        vsctl exec hl1 -- sh -c 'cat /etc/hosts /etc/resolv.conf 2>/dev/null' | grep -q "host secret" &&
                fail "the host's file reached the instance"
        log_has "Instance hl1: /etc/hosts is a symbolic link: not rewritten"

        # a directory where a file is expected
        vsctl exec hl1 -- sh -c 'rm /etc/hosts && mkdir /etc/hosts && touch /etc/hosts/keep'
        vsctl stop hl1 --kill
        start_promptly hl1
        vsctl exec hl1 -- test -f /etc/hosts/keep || fail "the planted directory was touched"
        log_has "Instance hl1: /etc/hosts is a directory, not a regular file: not rewritten"

        # /etc itself a link to a host directory: resolved inside the rootfs,
        # where nothing is there
        vsctl exec hl1 -- sh -c "mv /etc /etc.real && ln -s $T/host-etc /etc"
        vsctl stop hl1 --kill
        start_promptly hl1
        assert_eq "$(stat -c '%s %Y %i' "$secret" "$T/host-etc/hosts")" "$before" "the host's files"
        [ "$(ls "$T/host-etc")" = hosts ] || fail "something was written into the host's directory: $(ls "$T/host-etc")"
}

test_huge_hosts_file_left_whole() {
        local size=104857600
        vsctl create hh1 --start
        # 100 MiB (sparse) of the customer's own hosts file
        vsctl exec hh1 -- sh -c "echo '10.9.9.9 mine' >/etc/hosts && dd of=/etc/hosts bs=1 count=0 seek=$size 2>/dev/null"
        assert_eq "$(vsctl exec hh1 -- stat -c %s /etc/hosts)" "$size" "size of the planted file"
        vsctl stop hh1 --kill
        start_promptly hh1
        assert_eq "$(vsctl exec hh1 -- stat -c %s /etc/hosts)" "$size" "size of /etc/hosts after the start"
        assert_eq "$(vsctl exec hh1 -- head -n 1 /etc/hosts)" "10.9.9.9 mine" "first line of /etc/hosts"
        log_has "Instance hh1: /etc/hosts is larger than 64 KiB: not rewritten"
}

# SPDX-License-Identifier: LGPL-2.1-or-later
# Checkpoint and restore with CRIU (vsctl checkpoint, vsctl restore): the
# processes and their memory come back where they were, with the same
# address and MAC, an established TCP connection, the console and the
# limits; a daemon other than the one that dumped restores; bad requests
# change nothing; a daemon killed in the middle leaves the instance running
# or checkpointed, never half of each.

ckpt_dir() { # NAME
        echo "$T/root/instances/$1"
}

# A counter in a shell's memory, shown in /run/count (a tmpfs of the
# instance's): after a restore it goes on from where it was.
start_counter() { # NAME
        console_settled "$1"
        vsctl exec "$1" -- sh -c 'i=0; while :; do i=$((i+1)); echo $i >/run/count; sleep 0.05; done </dev/null >/dev/null 2>&1 &'
        wait_for vsctl exec "$1" -- sh -c 'test "$(cat /run/count)" -gt 2'
}

count_of() { # NAME
        vsctl exec "$1" -- cat /run/count
}

counter_pid() { # NAME: the counting shell's pid inside
        vsctl exec "$1" -- sh -c "ps -o pid,args | awk '/i=0; while/ && !/awk/ {print \$1; exit}'"
}

criu_tables() { # NAME: CRIU's lock tables in the instance's network namespace
        nsenter -t "$(inst_pid "$1")" -n nft list tables 2>/dev/null | grep -c 'CRIU-' || true
}

console_settled() { # NAME (tests/lib.sh)
        console_shell_settled "$VSD_CG" "$1"
}

ip6_canon() { # ADDR: its canonical text (RFC 5952)
        python3 -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1]))' "$1"
}

needs_criu() {
        [ -x /usr/local/lib/vsd/criu/criu ] || fail "CRIU is not installed (make deps)"
}

test_checkpoint_processes_and_memory_survive() {
        needs_criu
        local pid0 c1
        vsctl create ck1 --start
        start_counter ck1
        pid0=$(counter_pid ck1)
        [ -n "$pid0" ] || fail "no counter running"
        vsctl checkpoint ck1
        assert_eq "$(inst_state ck1)" checkpointed "state after checkpoint"
        assert_eq "$(vsctl --json list | jq -r '.[] | select(.name=="ck1") | .state')" checkpointed "state in list"
        [ -f "$(ckpt_dir ck1)/checkpoint/vsd.json" ] || fail "no images under the instance's directory"
        [ "$(vsctl --json info ck1 | jq -r '.checkpoint.bytes')" -gt 0 ] || fail "info shows no checkpoint"
        # nothing of it runs: no process in its cgroup
        [ -z "$(find "$(inst_cg_dir "$VSD_CG" ck1)" -name cgroup.procs -exec cat {} + 2>/dev/null)" ] || fail "processes left after the dump"
        vsctl restore ck1 --unlocked-mounts
        assert_eq "$(inst_state ck1)" running "state after restore"
        assert_eq "$(counter_pid ck1)" "$pid0" "the counter's pid inside"
        c1=$(count_of ck1)
        [ "$c1" -gt 2 ] || fail "the counter started again from 0 ($c1)"
        wait_for vsctl exec ck1 -- sh -c "test \$(cat /run/count) -gt $c1"
        [ ! -e "$(ckpt_dir ck1)/checkpoint" ] || fail "the images are still there after the restore"
        # the console: the restored shell's terminal is the new console
        vsctl exec ck1 -- sh -c 'echo CONSOLE-AFTER-RESTORE >/dev/console'
        wait_for grep -q CONSOLE-AFTER-RESTORE "$(ckpt_dir ck1)/console.log"
        assert_eq "$(criu_tables ck1)" 0 "CRIU tables left in the instance"
}

# CRIU mounts cgroupfs for itself, at dump and at restore.  A cgroup2
# mount made in the host's cgroup namespace applies its options to the one
# cgroup2 superblock: a plain one takes nsdelegate and memory_recursiveprot
# off the host's /sys/fs/cgroup (a pure v2 host's mount has them; this
# hybrid host's unified mount has none, where the test checks nothing new).
test_checkpoint_keeps_host_cgroup2_options() {
        needs_criu
        local before
        before=$(host_cgroup2_opts)
        [ -n "$before" ] || { note "no cgroup2 mount on this host"; return 0; }
        note "host cgroup2 mounts: $(tr '\n' ';' <<<"$before")"
        vsctl create ckopt --start
        console_settled ckopt
        vsctl checkpoint ckopt
        assert_eq "$(host_cgroup2_opts)" "$before" "cgroup2 options after the dump"
        vsctl restore ckopt --unlocked-mounts
        assert_eq "$(inst_state ckopt)" running "state after restore"
        assert_eq "$(host_cgroup2_opts)" "$before" "cgroup2 options after the restore"
}

test_checkpoint_console_shell_answers() {
        needs_criu
        vsctl create ck2 --start
        wait_for grep -q '@ck2' "$(ckpt_dir ck2)/console.log"
        vsctl checkpoint ck2
        vsctl restore ck2 --unlocked-mounts
        # the shell restored on the console reads what is typed there
        rm -f "$T/cin" "$T/cout"
        mkfifo "$T/cin"
        "$B/vsctl" --socket "$VSD_SOCKET" console ck2 <"$T/cin" >"$T/cout" 2>&1 &
        local cpid=$!
        exec 7>"$T/cin"
        printf 'echo RESTORED$((6*7))\n' >&7
        wait_for grep -q RESTORED42 "$T/cout"
        printf '\035' >&7
        exec 7>&-
        wait "$cpid" || true
}

test_checkpoint_tcp_connection_survives() {
        needs_criu
        local ip mac0 mac1
        vsctl create ck3 --start
        ip=$(vsctl --json info ck3 | jq -r '.ip' | cut -d, -f1 | cut -d/ -f1)
        mac0=$(vsctl exec ck3 -- cat /sys/class/net/eth0/address)
        vsctl exec ck3 -- sh -c 'nc -l -p 7000 -e cat </dev/null >/dev/null 2>&1 &'
        wait_for vsctl exec ck3 -- sh -c 'netstat -ltn | grep -q :7000'
        rm -f "$T/tcp.in" "$T/tcp.out"
        mkfifo "$T/tcp.in"
        # one connection from the host, kept open across the dump and the restore
        python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], 7000), timeout=30)
for line in sys.stdin:
    s.sendall(line.encode())
    got = b""
    while not got.endswith(b"\n"):
        b = s.recv(100)
        if not b:
            print("closed", flush=True); sys.exit(1)
        got += b
    print("echo " + got.decode().strip(), flush=True)
' "$ip" <"$T/tcp.in" >"$T/tcp.out" 2>&1 &
        local cpid=$!
        exec 8>"$T/tcp.in"
        echo before >&8
        wait_for grep -q 'echo before' "$T/tcp.out"
        vsctl checkpoint ck3
        vsctl restore ck3 --unlocked-mounts
        echo after >&8
        wait_for -t 20 grep -q 'echo after' "$T/tcp.out"
        exec 8>&-
        wait "$cpid" || fail "the connection ended badly: $(cat "$T/tcp.out")"
        mac1=$(vsctl exec ck3 -- cat /sys/class/net/eth0/address)
        assert_eq "$mac1" "$mac0" "eth0's MAC after restore"
        vsctl exec ck3 -- sh -c "ip -4 addr show eth0 | grep -q ' $ip/'" || fail "eth0 lost $ip"
}

# The restore tells the link where the instance's addresses are: once
# its link carries, a gratuitous ARP for each IPv4 address and an
# unsolicited neighbour advertisement for each global IPv6 one, from eth0
# with its MAC (the bridge learns the port, the neighbours their entries).
test_checkpoint_restore_announces_every_address() {
        needs_criu
        local mac a
        vsctl create ck9 --ip "$VSD_NET4.9" --ip "$VSD_NET6::9" --ip "$VSD_NET6::a" --start
        # another on the bridge, so that it stays while ck9 is checkpointed
        # (an unused bridge goes a second after its last port)
        vsctl create ck9b --start
        mac=$(vsctl --json info ck9 | json .mac)
        console_settled ck9
        vsctl checkpoint ck9
        in_net python3 "$VSD_SRC/tests/integration/arpwatch.py" "$VSD_BRIDGE" "$T/arp.stop" >"$T/arp.out" 2>&1 &
        local apid=$!
        wait_for grep -q listening "$T/arp.out"
        vsctl restore ck9 --unlocked-mounts
        # (as the watcher prints them: fd7e:5:0::9 is fd7e:5::9)
        for a in "garp $mac $VSD_NET4.9" "na $mac $(ip6_canon "$VSD_NET6::9")" "na $mac $(ip6_canon "$VSD_NET6::a")"; do
                wait_for -t 10 grep -qx "$a" "$T/arp.out"
        done
        touch "$T/arp.stop"
        wait "$apid"
}

# An instance whose root set eth0 down is restored as it was: running,
# eth0 down, its host side up (the restore waits for a carrier that cannot
# come, and goes on).
test_checkpoint_restore_link_set_down_inside() {
        needs_criu
        vsctl create ck10 --start
        console_settled ck10
        vsctl exec ck10 -- ip link set eth0 down
        vsctl checkpoint ck10
        vsctl restore ck10 --unlocked-mounts
        assert_eq "$(inst_state ck10)" running "state after restore"
        vsctl exec ck10 -- sh -c '! ip link show eth0 | grep -q "[<,]UP[,>]"' || fail "eth0 came back up"
        # its host side is up: set up again, eth0 gets its carrier
        vsctl exec ck10 -- ip link set eth0 up
        wait_for vsctl exec ck10 -- sh -c 'test "$(cat /sys/class/net/eth0/carrier)" = 1'
}

# A routed instance is reached through its host route: restored, the route
# is there again (its link was down until CRIU was done, and the kernel
# drops a link's routes with it), and the host reaches the instance.
test_checkpoint_routed_keeps_host_route() {
        needs_criu
        local ip
        vsctl create ck11 --net routed --start
        ip=$(vsctl --json info ck11 | json .ip | cut -d, -f1 | cut -d/ -f1)
        console_settled ck11
        vsctl exec ck11 -- sh -c 'mkdir -p /tmp/www && echo routed-ok >/tmp/www/index.html && httpd -p 80 -h /tmp/www'
        assert_eq "$(in_net curl -s --max-time 3 "http://$ip/")" routed-ok "the host reaches it before"
        vsctl checkpoint ck11
        vsctl restore ck11 --unlocked-mounts
        in_net ip -4 route show "$ip/32" | grep -q "dev $(vsctl --json info ck11 | json .host_link)" ||
                fail "no host route to $ip after the restore: $(in_net ip -4 route show)"
        assert_eq "$(in_net curl -s --max-time 3 "http://$ip/")" routed-ok "the host reaches it after the restore"
}

test_checkpoint_limits_after_restore() {
        needs_criu
        local pid cgp
        vsctl create ck4 --memory 96M --pids 40 --start
        console_settled ck4
        vsctl checkpoint ck4
        vsctl restore ck4 --unlocked-mounts
        pid=$(inst_pid ck4)
        if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
                # (init in a leaf of the instance's cgroup, or in it)
                cgp=$(awk -F: '$1 == "0" {print $3}' "/proc/$pid/cgroup")
                assert_match "$cgp" "^/$VSD_CG/ck4(/|\$)" "the restored init's cgroup"
                assert_eq "$(cat "/sys/fs/cgroup/$VSD_CG/ck4/memory.max")" $((96 << 20)) "memory limit"
        else
                cgp=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' "/proc/$pid/cgroup")
                assert_eq "$cgp" "/$VSD_CG/ck4" "the restored init's memory cgroup"
                assert_eq "$(cat "/sys/fs/cgroup/memory/$VSD_CG/ck4/memory.limit_in_bytes")" $((96 << 20)) "memory limit"
        fi
        assert_eq "$(cat "$(inst_cg_dir "$VSD_CG" ck4)/pids.max")" 40 "pids limit"
        # and it holds: 60 sleepers do not all start
        vsctl exec ck4 -- sh -c 'for i in $(seq 60); do sleep 30 & done 2>/dev/null; true' || true
        [ "$(cat "$(inst_cg_dir "$VSD_CG" ck4)/pids.current")" -le 40 ] || fail "the pids limit did not hold"
}

test_checkpoint_restore_by_another_daemon() {
        needs_criu
        local c0
        vsctl create ck5 --start
        start_counter ck5
        vsctl checkpoint ck5
        vsd_stop
        vsd_up
        assert_eq "$(inst_state ck5)" checkpointed "state after the daemon restarted"
        vsctl restore ck5 --unlocked-mounts
        c0=$(count_of ck5)
        [ "$c0" -gt 2 ] || fail "the counter started again ($c0)"
        vsctl exec ck5 -- true
}

test_checkpoint_leave_running() {
        needs_criu
        local c0 pid
        vsctl create ck6 --start
        start_counter ck6
        pid=$(inst_pid ck6)
        vsctl checkpoint ck6 --leave-running
        assert_eq "$(inst_state ck6)" running "state with --leave-running"
        assert_eq "$(inst_pid ck6)" "$pid" "init with --leave-running"
        c0=$(count_of ck6)
        [ "$(vsctl --json info ck6 | jq -r '.checkpoint.leave_running')" = true ] || fail "no checkpoint kept"
        assert_eq "$(criu_tables ck6)" 0 "CRIU tables left in the running instance"
        # it runs on, and once stopped its checkpoint brings it back
        wait_for vsctl exec ck6 -- sh -c "test \$(cat /run/count) -gt $((c0 + 5))"
        vsctl stop ck6 --kill
        assert_eq "$(inst_state ck6)" checkpointed "state after a stop"
        expect_fail vsctl start ck6
        vsctl restore ck6 --unlocked-mounts
        assert_eq "$(inst_state ck6)" running "state after restore"
}

# CRIU archives every tmpfs of an instance with a tar, a gzip and a shell
# of their own, on dump and on restore: the masked directories are one
# empty read-only tmpfs, bound on each, so that a checkpoint takes one
# archive for all of them; after a restore they are still empty and
# read-only.
test_checkpoint_masked_dirs_one_filesystem() {
        needs_criu
        local pid devs n_tmpfs n_img
        vsctl create ck10 --start
        pid=$(inst_pid ck10)
        devs=$(awk '$5 == "/proc/acpi" || $5 == "/sys/firmware" || $5 == "/proc/scsi" { print $3 }' \
                "/proc/$pid/mountinfo" | sort -u)
        [ -n "$devs" ] || fail "no masked directory found"
        assert_eq "$(echo "$devs" | wc -l)" 1 "filesystems of the masked directories ($devs)"
        n_tmpfs=$(awk '{ for (f = 7; $f != "-"; f++); if ($(f + 1) == "tmpfs") print $3 }' "/proc/$pid/mountinfo" |
                sort -u | wc -l)
        vsctl checkpoint ck10
        n_img=$(find "$(ckpt_dir ck10)/checkpoint" -name 'tmpfs-dev-*' | wc -l)
        assert_eq "$n_img" "$n_tmpfs" "tmpfs archives in the checkpoint"
        vsctl restore ck10 --unlocked-mounts
        vsctl exec ck10 -- sh -c 'test -z "$(ls -A /sys/firmware)" && ! touch /sys/firmware/x 2>/dev/null &&
                ! mkdir /proc/acpi/x 2>/dev/null' || fail "a masked directory is not empty and read-only after the restore"
}

# A service's inotify watches anywhere on the instance's root filesystem:
# on a directory of the template's (/usr/sbin) and on one of the private
# layer's (/srv/w), neither in the few places CRIU searches by itself
# (before: "fsnotify: Can't dump that handle"; on Debian 12's 6.1 kernel
# dbus-daemon's watch on /usr/share/dbus-1/system.d failed so).  After the
# restore both still report.  A watch on a directory that a mount made
# since hides is refused up front, naming the process, nothing changed.
test_checkpoint_inotify_watches() {
        needs_criu
        local pid
        vsctl create ckw --start
        console_settled ckw
        vsctl exec ckw -- sh -c 'mkdir -p /srv/w && /probe notify /run/w.log /usr/sbin /srv/w </dev/null >/dev/null 2>&1 &'
        wait_for vsctl exec ckw -- sh -c 'touch /srv/w/a && grep -q "^/srv/w a" /run/w.log'
        pid=$(vsctl exec ckw -- pidof probe)
        [ -n "$pid" ] || fail "no watcher running"
        vsctl checkpoint ckw
        assert_eq "$(inst_state ckw)" checkpointed "state after the checkpoint"
        vsctl restore ckw --unlocked-mounts
        assert_eq "$(vsctl exec ckw -- pidof probe)" "$pid" "the watcher's pid after the restore"
        vsctl exec ckw -- touch /srv/w/b /usr/sbin/c
        wait_for vsctl exec ckw -- sh -c 'grep -q "^/srv/w b" /run/w.log && grep -q "^/usr/sbin c" /run/w.log'

        vsctl exec ckw -- sh -c 'mkdir -p /srv/h && /probe notify /run/h.log /srv/h </dev/null >/dev/null 2>&1 &'
        wait_for vsctl exec ckw -- sh -c 'touch /srv/h/a && grep -q "^/srv/h a" /run/h.log'
        vsctl exec ckw -- mount -t tmpfs tmpfs /srv/h
        expect_fail vsctl checkpoint ckw
        assert_match "$LAST_ERR" "runs probe \\(host pid [0-9]+\\), which watches \\(inotify\\) inode [0-9]+ .* no path reaches" \
                "refusal of the hidden watch"
        assert_eq "$(inst_state ckw)" running "state after the refusal"
        [ ! -e "$(ckpt_dir ckw)/checkpoint" ] && [ ! -e "$(ckpt_dir ckw)/.checkpoint.tmp" ] ||
                fail "the refusal left images"
        assert_eq "$(criu_tables ckw)" 0 "CRIU tables after the refusal"
        # unhidden, it goes
        vsctl exec ckw -- umount /srv/h
        vsctl checkpoint ckw
        vsctl restore ckw --unlocked-mounts
        vsctl exec ckw -- touch /srv/h/b
        wait_for vsctl exec ckw -- grep -q "^/srv/h b" /run/h.log
}

# Every process of NAME into a leaf cgroup, then memory and pids given to
# the children of its cgroup namespace root, as systemd does; fails where
# the instance's cgroup2 has no such controllers (the hybrid host).
controllers_for_children() { # NAME
        vsctl exec "$1" -- sh -c 'mkdir /sys/fs/cgroup/init &&
                for p in $(cat /sys/fs/cgroup/cgroup.procs); do echo $p >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null; done; true'
        vsctl exec "$1" -- sh -c 'echo "+memory +pids" >/sys/fs/cgroup/cgroup.subtree_control' 2>/dev/null
}

# On pure cgroup v2, the controllers an instance gives its cgroups' children
# (systemd does so for its units) come back with the restore, and an inotify
# watch on a file only they make (memory.events, which systemd watches) with
# them (before: "fsnotify: Unable to open .../memory.events" on Debian 12's
# kernel; the VM lane).  The hybrid host's cgroup2 has no controllers.  In
# the VM subset of make check: what a Debian instance's checkpoint needs on
# pure v2, in a busybox instance (the Debian test takes 6 minutes there).
test_checkpoint_cgroup_controllers_kept() {
        needs_criu
        local pid
        vsctl create ckc --start
        console_settled ckc
        # every process into a leaf, then memory and pids for the children
        if ! controllers_for_children ckc; then
                note "no memory controller in the instance's cgroup2 (this host): nothing to check"
                return 0
        fi
        # and one on a template's directory outside CRIU's own places (on
        # 6.1 its path was not found: test_checkpoint_inotify_watches)
        vsctl exec ckc -- sh -c '/probe notify /run/m.log /sys/fs/cgroup/init/memory.events /usr/sbin </dev/null >/dev/null 2>&1 &'
        wait_for vsctl exec ckc -- pidof probe
        pid=$(vsctl exec ckc -- pidof probe)
        vsctl checkpoint ckc
        vsctl restore ckc --unlocked-mounts
        assert_eq "$(inst_state ckc)" running "state after the restore"
        assert_eq "$(vsctl exec ckc -- pidof probe)" "$pid" "the watcher's pid after the restore"
        assert_eq "$(vsctl exec ckc -- cat /sys/fs/cgroup/cgroup.subtree_control)" "memory pids" \
                "the controllers the instance enabled, after the restore"
        vsctl exec ckc -- test -f /sys/fs/cgroup/init/memory.events
        vsctl exec ckc -- touch /usr/sbin/c
        wait_for vsctl exec ckc -- grep -q "^/usr/sbin c" /run/m.log
}

# The restore's action script (the controllers given back, above) is the
# vsd binary itself, its arguments in CRIU's environment: a daemon killed
# while CRIU restores leaves no script in the instance's directory (before:
# .checkpoint-hook, until the next daemon's recovery), and the next daemon
# leaves the instance running or checkpointed.  Pure cgroup v2 only (the
# VM lane): on the hybrid host no restore needs the script.
# timeout test_checkpoint_restore_killed_leaves_no_script 240
test_checkpoint_restore_killed_leaves_no_script() {
        needs_criu
        local state
        vsctl create ckk --start
        console_settled ckk
        if ! controllers_for_children ckk; then
                note "no memory controller in the instance's cgroup2 (this host): nothing to check"
                return 0
        fi
        vsctl checkpoint ckk
        "$B/vsctl" --socket "$VSD_SOCKET" restore ckk --unlocked-mounts >/dev/null 2>&1 &
        # CRIU restores: the moment the script is there, if one is written
        wait_for -t 30 pgrep -f "criu restore .*$(ckpt_dir ckk)/.checkpoint.restoring"
        vsd_kill9
        wait 2>/dev/null || true
        local left
        left=$(find "$(ckpt_dir ckk)" -maxdepth 1 -name '.checkpoint-hook*')
        [ -z "$left" ] || fail "a script of the restore was left: $left"
        vsd_up
        wait_for -t 10 not_stopping ckk
        state=$(inst_state ckk)
        note "after the kill: $state"
        case $state in
        running) vsctl exec ckk -- true ;;
        checkpointed) vsctl restore ckk --unlocked-mounts ;;
        *) fail "instance is $state after the daemon was killed during its restore" ;;
        esac
        assert_eq "$(vsctl exec ckk -- cat /sys/fs/cgroup/cgroup.subtree_control)" "memory pids" \
                "the controllers the instance enabled, after the restore"
}

test_checkpoint_refusals() {
        needs_criu
        vsctl create ck7
        expect_fail vsctl checkpoint nosuch
        expect_fail vsctl restore nosuch
        expect_fail vsctl checkpoint ck7
        expect_fail vsctl restore ck7
        assert_eq "$(inst_state ck7)" stopped "state after refusals"
        vsctl start ck7
        expect_fail vsctl restore ck7
        vsctl checkpoint ck7
        expect_fail vsctl checkpoint ck7
        expect_fail vsctl start ck7
        expect_fail vsctl stop ck7
        assert_eq "$(inst_state ck7)" checkpointed "state after refusals"
        vsctl checkpoint --discard ck7
        assert_eq "$(inst_state ck7)" stopped "state after discarding"
        vsctl start ck7
        vsctl exec ck7 -- true
}

test_checkpoint_without_criu() {
        vsd_stop
        printf '%s\n' "[checkpoint]" "criu = /nonexistent/criu" >"$T/vsd.conf"
        vsd_up
        vsctl create ck8 --start
        expect_fail vsctl checkpoint ck8
        assert_match "$LAST_ERR" "CRIU is not available" "error without CRIU"
        assert_eq "$(inst_state ck8)" running "state without CRIU"
        vsctl exec ck8 -- true
}

# A daemon restart keeps the console's pty (the listener holder keeps its
# master): an instance re-adopted after a kill -9 checkpoints and restores
# as any other.  Only a console lost with the holder too leaves init on the
# hung-up pty of an earlier daemon, which CRIU cannot dump: refused at once.
# Privileged: the console is the same for both kinds, and CRIU's dump of an
# unprivileged instance needs CAP_SYS_RESOURCE over its user namespace,
# which a root without it (this test machine's) no longer has as the
# namespace's owner (doc/architecture.md, "Kernel resources per instance").
test_checkpoint_console_of_earlier_daemon_refused() {
        local hp
        needs_criu
        vsctl create ck9 --privileged --start
        vsd_kill9
        vsd_up
        vsctl checkpoint ck9
        assert_eq "$(inst_state ck9)" checkpointed "state after a checkpoint across a daemon restart"
        vsctl restore ck9
        assert_eq "$(inst_state ck9)" running "state after the restore"
        vsctl exec ck9 -- true
        vsd_kill9
        hp=$(holder_pid)
        [ -n "$hp" ] || fail "no listener holder runs"
        kill -KILL "$hp"
        wait_gone "$hp"
        vsd_up
        # init still holds the pty of the daemon that died: refused at once
        expect_fail vsctl checkpoint ck9
        assert_match "$LAST_ERR" "console of an earlier vsd" "refusal after the console was lost"
        assert_eq "$(inst_state ck9)" running "state after the refusal"
        assert_eq "$(criu_tables ck9)" 0 "CRIU tables left"
        vsctl exec ck9 -- true
}

not_stopping() { # NAME
        [ "$(inst_state "$1")" != stopping ]
}

# Killed at whatever moment the dump or the restore had reached: the next
# daemon leaves the instance running or checkpointed, and then it works.
# timeout test_checkpoint_daemon_killed_midway 240
test_checkpoint_daemon_killed_midway() {
        needs_criu
        local round state delay
        vsctl create ck10 --start
        start_counter ck10
        for round in 1 2 3 4; do
                delay=$(awk -v r="$round" 'BEGIN { printf "%.2f", 0.1 * r }')
                if [ "$(inst_state ck10)" = running ]; then
                        "$B/vsctl" --socket "$VSD_SOCKET" checkpoint ck10 >/dev/null 2>&1 &
                else
                        "$B/vsctl" --socket "$VSD_SOCKET" restore ck10 --unlocked-mounts >/dev/null 2>&1 &
                fi
                sleep "$delay"
                vsd_kill9
                wait 2>/dev/null || true
                vsd_up
                # a committed dump the new daemon finishes ends the
                # processes as CRIU would have: "stopping" until init is
                # reaped, then checkpointed
                wait_for -t 10 not_stopping ck10
                state=$(inst_state ck10)
                note "round $round (kill after ${delay}s): $state"
                case $state in
                running)
                        vsctl exec ck10 -- true
                        assert_eq "$(criu_tables ck10)" 0 "CRIU tables left"
                        [ ! -e "$(ckpt_dir ck10)/.checkpoint.tmp" ] || fail "a partial checkpoint was left"
                        # its console is the killed daemon's: a fresh one
                        # for the next checkpoint
                        vsctl restart ck10 >/dev/null
                        ;;
                checkpointed)
                        [ -f "$(ckpt_dir ck10)/checkpoint/vsd.json" ] || fail "checkpointed without images"
                        ;;
                *) fail "instance is $state after the daemon was killed" ;;
                esac
        done
        # and whatever it is now, it goes on
        if [ "$(inst_state ck10)" = checkpointed ]; then
                vsctl restore ck10 --unlocked-mounts
        fi
        # the console pty of the killed daemon is init's: restart to checkpoint again
        vsctl exec ck10 -- true
}

# CRIU makes an unprivileged instance's mount namespace itself, inside the
# user namespace it makes, so none of the restored mounts is locked (start
# step 12a): root inside could unmount the masks and make /proc/sys
# writable.  Refused unless asked for with --unlocked-mounts, nothing
# changed; with it the instance comes back, and root inside may undo its
# masks (what this states; a fresh start locks them again).
test_checkpoint_unprivileged_restore_needs_unlocked_mounts() {
        needs_criu
        vsctl create ck11 --start
        start_counter ck11
        vsctl checkpoint ck11
        expect_fail vsctl restore ck11
        assert_match "$LAST_ERR" "unlocked-mounts" "refusal of a restore that cannot lock the mounts"
        assert_eq "$(inst_state ck11)" checkpointed "state after the refusal"
        [ -f "$(ckpt_dir ck11)/checkpoint/vsd.json" ] || fail "the refusal touched the images"
        vsctl restore ck11 --unlocked-mounts
        assert_eq "$(inst_state ck11)" running "state after the restore"
        vsctl exec ck11 -- umount /proc/timer_list || fail "the mask came back locked: update the docs and this test"
        vsctl exec ck11 -- mount -o remount,bind,rw /proc/sys || fail "/proc/sys came back locked read-only"
        # a start locks them again
        vsctl restart ck11 >/dev/null
        expect_fail vsctl exec ck11 -- umount /proc/timer_list
        expect_fail vsctl exec ck11 -- mount -o remount,bind,rw /proc/sys
}

# A privileged instance has no lock to lose (its root lacks CAP_SYS_ADMIN):
# restored as it is asked.
test_checkpoint_privileged_restore_plain() {
        needs_criu
        vsctl create ck12 --privileged --start
        start_counter ck12
        vsctl checkpoint ck12
        vsctl restore ck12
        assert_eq "$(inst_state ck12)" running "state after the restore"
        expect_fail vsctl exec ck12 -- umount /proc/timer_list
}

# --- a Debian instance booting systemd, with sshd and journald ----------

# debian_ckpt_up NAME [CREATE OPTIONS]: a Debian 12 instance (template from
# the shared cache, tests/lib.sh) whose systemd has finished booting, with
# root's ssh key installed and sshd listening.  Sets DEB_IP.
debian_ckpt_up() {
        local name=$1 state
        shift
        vsd_debian_template
        vsctl create "$name" --template debian-12 "$@"
        vsctl start "$name"
        wait_for -t 60 vsctl exec "$name" -- test -S /run/systemd/private
        state=$(timeout "$(scaled 120)" "$B/vsctl" --socket "$VSD_SOCKET" exec "$name" -- systemctl is-system-running --wait) || true
        [ "$state" = running ] || fail "systemd in $name says '$state' after its boot"
        [ -f "$T/key" ] || ssh-keygen -q -t ed25519 -N '' -f "$T/key" || fail "ssh-keygen"
        vsctl exec "$name" -- sh -c 'umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys' <"$T/key.pub"
        wait_for -t 30 bash -c "'$B/vsctl' --socket '$VSD_SOCKET' exec $name -- ss -Hltn 'sport = :22' | grep -q LISTEN"
        DEB_IP=$(vsctl --json info "$name" | json .ip | tr ',' '\n' | head -1 | cut -d/ -f1)
}

deb_ssh() { # IP CMD...
        local ip=$1
        shift
        timeout "$(scaled 30)" ssh -i "$T/key" -o BatchMode=yes -o StrictHostKeyChecking=no \
                -o UserKnownHostsFile="$T/known_hosts" -o ConnectTimeout=10 "root@$ip" "$@"
}

# debian_ckpt_round NAME [RESTORE OPTIONS]: with an ssh session open from
# the host, checkpoint and restore; the session goes on, systemd is still
# running, journald logs, sshd takes a new login, exec works, and a stop
# halts systemd cleanly.
debian_ckpt_round() {
        local name=$1 ip=$DEB_IP t0 ms ev spid
        shift
        # a session that echoes each line it reads, kept open throughout
        rm -f "$T/ssh.in" "$T/ssh.out"
        mkfifo "$T/ssh.in"
        ssh -i "$T/key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile="$T/known_hosts" \
                -o ConnectTimeout=10 -o ServerAliveInterval=0 "root@$ip" \
                'while read -r l; do echo "got $l from $(hostname)"; done' <"$T/ssh.in" >"$T/ssh.out" 2>&1 &
        spid=$!
        exec 9>"$T/ssh.in"
        echo before >&9
        wait_for -t 30 grep -q "got before from $name" "$T/ssh.out"
        vsctl exec "$name" -- logger -t vsdckpt "before the checkpoint $$"

        t0=$(date +%s%N)
        vsctl checkpoint "$name"
        note "$name: checkpoint took $(( ($(date +%s%N) - t0) / 1000000 )) ms, $(vsctl --json info "$name" | jq -r .checkpoint.bytes) bytes"
        assert_eq "$(inst_state "$name")" checkpointed "state after the checkpoint"
        t0=$(date +%s%N)
        vsctl restore "$name" "$@"
        note "$name: restore took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
        assert_eq "$(inst_state "$name")" running "state after the restore"

        # the session opened before goes on
        echo after >&9
        wait_for -t 30 grep -q "got after from $name" "$T/ssh.out"
        exec 9>&-
        wait "$spid" || fail "the ssh session ended badly: $(tr '\n' '|' <"$T/ssh.out")"

        assert_eq "$(vsctl exec "$name" -- systemctl is-system-running)" running "systemd after the restore"
        assert_eq "$(vsctl exec "$name" -- systemctl is-active systemd-journald ssh)" "active
active" "journald and ssh after the restore"
        vsctl exec "$name" -- logger -t vsdckpt "after the restore $$"
        wait_for bash -c "'$B/vsctl' --socket '$VSD_SOCKET' exec $name -- journalctl -t vsdckpt --no-pager | grep -q 'after the restore $$'"
        vsctl exec "$name" -- journalctl -t vsdckpt --no-pager | grep -q "before the checkpoint $$" ||
                fail "the journal lost what was logged before the checkpoint"
        assert_eq "$(deb_ssh "$ip" hostname)" "$name" "a new ssh login after the restore"
        assert_eq "$(criu_tables "$name")" 0 "CRIU tables left in the instance"

        t0=$(date +%s%N)
        vsctl stop "$name"
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        note "$name: stop through systemd took $ms ms"
        [ "$ms" -lt "$(scaled 10000)" ] || fail "stop took $ms ms"
        ev=$(vsctl events "$name" --past --no-follow --json | grep '"type":"stopped"' | tail -1)
        # (init is adopted, as after a daemon restart: no exit status)
        assert_eq "$(json .how <<<"$ev")" halt "how the restored instance stopped"
        grep -q 'Halting system\|Exiting container' "$T/root/instances/$name/console.log" ||
                fail "systemd did not say it halted"
        [ -z "$(_cg_dirs "$VSD_CG" | grep "/$name")" ] || fail "cgroups left after the stop"
}

# An unprivileged Debian instance: its root holds CAP_SYS_ADMIN over its
# namespaces, so systemd gives systemd-logind (ProtectHostname=yes) a uts
# namespace of its own, which CRIU 4.2 cannot dump: refused before CRIU
# runs, nothing changed.  With ProtectHostname=no for logind (a drop-in
# inside, what the refusal says) the whole round works.
# timeout test_checkpoint_debian_systemd 900
test_checkpoint_debian_systemd() {
        needs_criu
        local pid
        debian_ckpt_up deb1
        pid=$(inst_pid deb1)
        expect_fail vsctl checkpoint deb1
        assert_match "$LAST_ERR" "uts namespace of its own \\(systemd-logind" "refusal of logind's own uts namespace"
        assert_eq "$(inst_state deb1)" running "state after the refusal"
        assert_eq "$(inst_pid deb1)" "$pid" "init after the refusal"
        [ ! -e "$(ckpt_dir deb1)/checkpoint" ] && [ ! -e "$(ckpt_dir deb1)/.checkpoint.tmp" ] ||
                fail "the refusal left images"
        assert_eq "$(criu_tables deb1)" 0 "CRIU tables after the refusal"
        vsctl exec deb1 -- sh -c 'mkdir -p /etc/systemd/system/systemd-logind.service.d &&
                printf "[Service]\nProtectHostname=no\n" >/etc/systemd/system/systemd-logind.service.d/uts.conf &&
                systemctl daemon-reload && systemctl restart systemd-logind'
        wait_for vsctl exec deb1 -- sh -c 'test "$(readlink /proc/$(systemctl show -P MainPID systemd-logind)/ns/uts)" = "$(readlink /proc/1/ns/uts)"'
        debian_ckpt_round deb1 --unlocked-mounts
}

# A privileged Debian instance runs dbus-daemon as messagebus: CRIU reads
# its limits, which needs CAP_SYS_RESOURCE.  A daemon without it (this
# test machine's root) refuses at once, the instance running on.
# timeout test_checkpoint_debian_systemd_privileged 900
test_checkpoint_debian_systemd_privileged() {
        needs_criu
        local eff
        debian_ckpt_up deb2 --privileged
        eff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
        if (( (16#$eff >> 24) & 1 )); then
                debian_ckpt_round deb2
                return
        fi
        expect_fail vsctl checkpoint deb2
        assert_match "$LAST_ERR" "CAP_SYS_RESOURCE" "refusal without CAP_SYS_RESOURCE"
        assert_eq "$(inst_state deb2)" running "state after the refusal"
        assert_eq "$(criu_tables deb2)" 0 "CRIU tables after the refusal"
        assert_eq "$(deb_ssh "$DEB_IP" hostname)" deb2 "ssh after the refusal"
}

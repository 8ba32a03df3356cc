# SPDX-License-Identifier: LGPL-2.1-or-later
# Root inside an unprivileged instance: CAP_SYS_ADMIN over its own
# namespaces (hostname, mounts), masks it cannot undo, nesting (a container
# engine's first steps inside: user, mount, pid and network namespaces
# with a fresh proc and sysfs) where the instance opts in, and the kernel's
# per-instance resources (ptys, inotify) bounded so that one instance
# cannot starve its neighbours or the host.  doc/architecture.md,
# "Unprivileged instances" and "Nesting".

# limits_conf LINES...: restart the daemon with a [limits] section of LINES.
limits_conf() {
        vsd_stop
        printf '%s\n' "[limits]" "$@" >"$T/vsd.conf"
        vsd_up
}

test_root_inside_sets_hostname_and_mounts() {
        local before
        before=$(hostname)
        vsctl create n-host --start
        vsctl exec n-host -- hostname renamed || fail "root inside cannot set its hostname"
        assert_eq "$(vsctl exec n-host -- hostname)" renamed "hostname inside"
        assert_eq "$(hostname)" "$before" "the host's hostname"
        # a tmpfs of its own, and a bind mount, seen inside only
        vsctl exec n-host -- sh -c 'mkdir -p /mnt/t /mnt/b && mount -t tmpfs -o size=1m none /mnt/t && echo x >/mnt/t/f &&
                mount --bind /mnt/t /mnt/b' || fail "root inside cannot mount a tmpfs"
        assert_eq "$(vsctl exec n-host -- cat /mnt/b/f)" x "a file in the instance's bind mount"
        grep -q " /mnt/b " /proc/self/mountinfo && fail "the instance's mount reached the host"
        # a privileged instance keeps its set: no hostname change
        vsctl create n-priv --privileged --start
        expect_fail vsctl exec n-priv -- hostname evil
        assert_eq "$(vsctl exec n-priv -- hostname)" n-priv "a privileged instance's hostname"
}

# What vsd mounted stays: with CAP_SYS_ADMIN root inside tries to unmount,
# move and remount the masks and read-only paths, and to mount a fresh proc
# and sysfs beside them.  /dev/console is the one mount left unlocked (so
# that a daemon that lost its pty can replace it): unmounting it (lazily:
# init holds it open) shows the empty file of the instance's own /dev.
test_masks_hold_against_root_inside() {
        local out p
        vsctl create n-mask --start
        for p in /proc/kcore /proc/sysrq-trigger /proc/timer_list /proc/sched_debug /proc/acpi /proc/sys /sys/firmware; do
                vsctl exec n-mask -- sh -c "[ -e $p ]" || continue
                expect_fail vsctl exec n-mask -- umount "$p"
                expect_fail vsctl exec n-mask -- umount -l "$p"
                expect_fail vsctl exec n-mask -- mount --move "$p" /mnt
        done
        expect_fail vsctl exec n-mask -- mount -o remount,bind,rw /proc/sys
        expect_fail vsctl exec n-mask -- mount -o remount,rw /sys
        vsctl exec n-mask -- mkdir -p /tmp/p /tmp/s
        expect_fail vsctl exec n-mask -- mount -t proc proc /tmp/p
        expect_fail vsctl exec n-mask -- mount -t sysfs sysfs /tmp/s
        # a non-recursive bind of /proc would show what its masks cover
        expect_fail vsctl exec n-mask -- mount --bind /proc /tmp/p
        # still masked: not a byte of kcore, timer_list shows nothing
        assert_eq "$(vsctl exec n-mask -- sh -c 'head -c 16 /proc/kcore 2>/dev/null | wc -c')" 0 "bytes of /proc/kcore"
        assert_eq "$(vsctl exec n-mask -- sh -c 'wc -c </proc/timer_list 2>/dev/null || echo 0')" 0 \
                "bytes of /proc/timer_list"
        out=$(vsctl exec n-mask -- /probe write /proc/sys/kernel/hostname evil) || true
        [ "$out" != ok ] || fail "/proc/sys/kernel/hostname writable"
        vsctl exec n-mask -- umount -l /dev/console || fail "the console's mount is locked"
        assert_eq "$(vsctl exec n-mask -- stat -c '%F %s' /dev/console)" "regular empty file 0" "/dev/console's mount point"
}

test_nesting() {
        local out
        vsctl create n-nest --nesting --start
        assert_eq "$(vsctl --json info n-nest | json '.nesting | tostring')" true "nesting in info"
        vsctl info n-nest | grep -q "nesting: *yes" || fail "vsctl info shows no nesting"
        out=$(vsctl exec n-nest -- /probe nest) || fail "nest: $out"
        note "$out"
        assert_eq "$(probe_val mount_proc <<<"$out")" ok "a fresh proc in the nested namespaces"
        assert_eq "$(probe_val nested_pid <<<"$out")" 1 "the nested process is pid 1"
        assert_eq "$(probe_val nested_pids <<<"$out")" 1 "the nested /proc shows pid 1 alone"
        assert_eq "$(probe_val mount_sys <<<"$out")" ok "a fresh sysfs in the nested namespaces"
        assert_eq "$(probe_val nested_links <<<"$out")" lo "the nested network namespace has lo alone"
        assert_eq "$(probe_val nested_sys_links <<<"$out")" lo "the nested sysfs shows lo alone"
        # the same with the userland's unshare (busybox's)
        out=$(vsctl exec n-nest -- unshare --user --map-root-user --mount --pid --fork --mount-proc \
                sh -c 'echo uid=$(id -u) pid=$$; ls /proc | grep "^[0-9]" | wc -l') || fail "unshare --mount-proc: $out"
        note "$out"
        assert_eq "$(head -n1 <<<"$out")" "uid=0 pid=1" "root and pid 1 in the nested namespaces"
        # sh, ls, grep and wc: the nested pid namespace's own processes
        [ "$(tail -n1 <<<"$out")" -le 4 ] || fail "the nested /proc shows $(tail -n1 <<<"$out") processes"
        # a nested engine's cgroup tree: cgroup2 rooted at the instance's own
        vsctl exec n-nest -- sh -c 'mkdir -p /tmp/cg && mount -t cgroup2 none /tmp/cg && test -e /tmp/cg/cgroup.procs' ||
                fail "root inside cannot mount cgroup2"
        # the masks hold all the same
        assert_eq "$(vsctl exec n-nest -- sh -c 'head -c 16 /proc/kcore 2>/dev/null | wc -c')" 0 "bytes of /proc/kcore"
        out=$(vsctl exec n-nest -- /probe mask-escape) || true
        note "$out"
        ! grep -q '^breach ' <<<"$out" || fail "mask-escape in a nesting instance: $(grep '^breach ' <<<"$out")"

        # without nesting the kernel refuses the fresh proc (its masks)
        vsctl create n-plain --start
        out=$(vsctl exec n-plain -- /probe nest) || true
        assert_eq "$(probe_val unshare <<<"$out")" ok "unshare without nesting"
        assert_eq "$(probe_val mount_proc <<<"$out")" EPERM "a fresh proc without nesting"
        # a privileged instance as before: no fresh proc either
        vsctl create n-pnest --privileged --start
        out=$(vsctl exec n-pnest -- /probe nest) || true
        assert_eq "$(probe_val mount_proc <<<"$out")" EPERM "a fresh proc in a privileged instance"
        expect_fail vsctl create n-bad --privileged --nesting
        vsctl list | grep -q n-bad && fail "a refused create left an instance"
        expect_fail vsctl set n-pnest --nesting yes
        # turned on later: from the next start
        vsctl stop n-plain
        vsctl set n-plain --nesting yes
        vsctl start n-plain
        out=$(vsctl exec n-plain -- /probe nest) || fail "nest after set: $out"
        assert_eq "$(probe_val mount_proc <<<"$out")" ok "a fresh proc once nesting is set"
}

inst_is() {
        [ "$(inst_state "$1")" = "$2" ]
}

restarted() { # NAME OLDPID: running again, with another init
        local p
        p=$(inst_pid "$1")
        [ "$(inst_state "$1")" = running ] && [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$2" ]
}

# reboot(2) inside ends the instance's own init, never the host, and the
# kernel says which call it was: SIGHUP (restart) or SIGINT (halt, power
# off) as init's end.  busybox's reboot -f and poweroff -f make the call
# at once: the instance starts again, or stays stopped.  A stop through
# busybox init's halt, which ends in reboot(2) too, is a clean halt as
# before: exit status 0, no signal.
test_reboot_inside() {
        local evp pid ev
        vsctl create n-boot --start
        pid=$(inst_pid n-boot)
        "$B/vsctl" --socket "$VSD_SOCKET" events --json >"$T/ev.out" 2>/dev/null &
        evp=$!
        vsctl exec n-boot -- reboot -f >/dev/null 2>&1 || true
        wait_for restarted n-boot "$pid"
        wait_for grep -q '"how":"rebooted-inside"' "$T/ev.out"
        vsctl exec n-boot -- true
        vsctl exec n-boot -- poweroff -f >/dev/null 2>&1 || true
        wait_for inst_is n-boot stopped
        wait_for grep -q '"how":"halted-inside"' "$T/ev.out"
        kill "$evp" 2>/dev/null || true
        wait "$evp" 2>/dev/null || true
        ! grep -q '"type":"died"' "$T/ev.out" || fail "a reboot inside reported as a death: $(grep '"died"' "$T/ev.out")"
        vsctl start n-boot
        vsctl stop n-boot
        ev=$(vsctl events n-boot --past --no-follow --json | grep '"type":"stopped"' | tail -1)
        assert_eq "$(json .how <<<"$ev")" halt "how vsctl stop ended"
        assert_eq "$(json '.signal // "none"' <<<"$ev")" none "init's end"
        assert_eq "$(json .exit_status <<<"$ev")" 0 "init's exit status"
}

# hog_start NAME WHAT MAX: hold as many of WHAT as the instance may open, in
# the background; the probe's count on stdout once it holds them.
hog_start() {
        vsctl exec "$1" -- sh -c "rm -f /tmp/ready; /probe hog $2 $3 /tmp/ready >/tmp/hog.out 2>&1 </dev/null &"
        wait_for vsctl exec "$1" -- test -e /tmp/ready
        vsctl exec "$1" -- cat /tmp/hog.out
}

# timeout test_ptys_bounded 240
test_ptys_bounded() {
        local out
        limits_conf "ptys = 16"
        vsctl create n-pty1 --start
        vsctl create n-pty2 --start
        out=$(hog_start n-pty1 pty 4000)
        note "$out"
        [ "$(probe_val opened <<<"$out")" -le 16 ] || fail "n-pty1 opened $(probe_val opened <<<"$out") ptys, more than 16"
        assert_eq "$(probe_val stopped <<<"$out")" ENOSPC "why the ptys ran out"
        # the neighbour and the host still get theirs
        assert_eq "$(vsctl exec n-pty2 -- /probe try pty | probe_val pty)" ok "a pty in the neighbour"
        assert_eq "$("$B/tests/probe" try pty | probe_val pty)" ok "a pty on the host"
        assert_eq "$(script -qec "$B/vsctl --socket $VSD_SOCKET exec -t n-pty2 -- echo hi" /dev/null | tr -d '\r')" hi \
                "exec -t into the neighbour"
}

# timeout test_inotify_bounded 240
test_inotify_bounded() {
        local out n
        limits_conf "inotify_instances = 64" "inotify_watches = 500"
        vsctl create n-ino1 --start
        vsctl create n-ino2 --start
        assert_eq "$(vsctl exec n-ino1 -- cat /proc/sys/user/max_inotify_instances)" 64 "the limit inside"
        out=$(hog_start n-ino1 inotify 100000)
        note "$out"
        n=$(probe_val opened <<<"$out")
        [ "$n" -gt 0 ] && [ "$n" -le 64 ] || fail "n-ino1 opened $n inotify instances, not 1..64"
        assert_eq "$(probe_val stopped <<<"$out")" EMFILE "why the inotify instances ran out"
        # neither the neighbour nor the host's root shares its count
        assert_eq "$(vsctl exec n-ino2 -- /probe try inotify | probe_val inotify)" ok "inotify in the neighbour"
        assert_eq "$("$B/tests/probe" try inotify | probe_val inotify)" ok "inotify on the host"
        out=$(hog_start n-ino2 watch 100000)
        note "$out"
        n=$(probe_val opened <<<"$out")
        [ "$n" -le 500 ] || fail "n-ino2 added $n inotify watches, more than 500"
        assert_eq "$(probe_val stopped <<<"$out")" ENOSPC "why the watches ran out"
        # a privileged instance is the host's root: the host's table, untouched
        vsctl create n-ino3 --privileged --start
        assert_eq "$(vsctl exec n-ino3 -- cat /proc/sys/user/max_inotify_instances)" \
                "$(cat /proc/sys/user/max_inotify_instances)" "a privileged instance's limit"
}

# SPDX-License-Identifier: LGPL-2.1-or-later
# Isolation, checked from inside with the probe (/probe in the test template).

# The capability bounding set of every process of a privileged instance: the
# default set of doc/architecture.md ("Security defaults"; the tables in
# vsd/start/caps.c): CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID,
# SETUID, SETPCAP, NET_BIND_SERVICE, NET_ADMIN, NET_RAW, SYS_CHROOT,
# AUDIT_WRITE, SETFCAP.
PRIV_CAPS=00000000a00435fb
# An unprivileged instance's (the default), in its own user namespace:
# those and SYS_ADMIN, SYS_PTRACE, SYS_NICE, IPC_LOCK, MKNOD, SYS_BOOT.
EXPECTED_CAPS=00000000a8ec75fb

test_pid_namespace() {
        local out n
        vsctl create iso1 --start
        assert_eq "$(vsctl exec iso1 -- cat /proc/1/comm)" init "pid 1 inside"
        out=$(vsctl exec iso1 -- /probe pid)
        [ "$(probe_val pid <<<"$out")" -gt 1 ] || fail "exec'd pid: $out"
        # ps shows the instance's processes only: init, the console shell, ps
        out=$(vsctl exec iso1 -- ps -o pid,comm)
        note "$out"
        n=$(grep -c '^ *[0-9]' <<<"$out")
        [ "$n" -le 5 ] || fail "ps inside sees $n processes"
        grep -qw vsd <<<"$out" && fail "the daemon is visible inside"
        grep -qE '^ *1 +init' <<<"$out" || fail "init is not pid 1 in ps"
}

test_hostname_uts() {
        vsctl create iso-host --start
        assert_eq "$(vsctl exec iso-host -- /probe hostname | probe_val hostname)" iso-host "hostname"
        assert_eq "$(vsctl exec iso-host -- hostname)" iso-host "hostname(1)"
        # root of an unprivileged instance sets its own (its uts namespace)
        vsctl exec iso-host -- hostname other
        assert_eq "$(vsctl exec iso-host -- hostname)" other "hostname after a change inside"
        [ "$(hostname)" != other ] || fail "host's hostname changed"
        # a privileged instance's root may not
        vsctl create iso-host-p --privileged --start
        expect_fail vsctl exec iso-host-p -- hostname evil
        assert_eq "$(vsctl exec iso-host-p -- hostname)" iso-host-p "hostname after refused change"
        [ "$(hostname)" != evil ] || fail "host's hostname changed"
}

test_proc_sys_protected() {
        local r
        vsctl create iso2 --start
        # masked by /dev/null where the kernel has it (opening works, not a
        # byte comes back), absent where it has not
        r=$(vsctl exec iso2 -- sh -c 'head -c 16 /proc/kcore 2>/dev/null | wc -c')
        assert_eq "$((r))" 0 "bytes read from /proc/kcore"
        # where the kernel has it, /dev/null masks it: a write may open, and
        # goes nowhere
        r=$(vsctl exec iso2 -- /probe write /proc/sysrq-trigger) || true
        [ "$r" != ok ] || assert_eq "$(vsctl exec iso2 -- stat -c '%F %t:%T' /proc/sysrq-trigger)" \
                "character special file 1:3" "/proc/sysrq-trigger, writable from inside"
        r=$(vsctl exec iso2 -- /probe write /proc/sys/kernel/hostname evil) || true
        [ "$r" != ok ] || fail "/proc/sys/kernel/hostname writable"
        r=$(vsctl exec iso2 -- /probe write /proc/sys/vm/drop_caches) || true
        [ "$r" != ok ] || fail "/proc/sys/vm/drop_caches writable"
        r=$(vsctl exec iso2 -- /probe write /sys/kernel/uevent_helper) || true
        [ "$r" != ok ] || fail "/sys/kernel/uevent_helper writable"
        # /proc itself is readable
        assert_eq "$(vsctl exec iso2 -- /probe read /proc/self/status)" ok "/proc/self/status"
        # No way to a cgroup v1 release_agent.  A privileged instance may
        # not mount cgroupfs at all; an unprivileged one may (CAP_SYS_ADMIN
        # over its own cgroup namespace), rooted at its own cgroup, where
        # neither release_agent nor a limit is writable
        # (t_escape.sh:test_cgroup_release_agent tries them all).
        vsctl create iso2p --privileged --start
        vsctl exec iso2p -- mkdir -p /tmp/cg
        expect_fail vsctl exec iso2p -- mount -t cgroup -o memory cgroup /tmp/cg
        vsctl exec iso2 -- mkdir -p /tmp/cg
        if vsctl exec iso2 -- mount -t cgroup -o memory cgroup /tmp/cg; then
                assert_eq "$(vsctl exec iso2 -- sh -c 'ls /tmp/cg/release_agent 2>/dev/null | wc -l')" 0 \
                        "a release_agent in the instance's own memory hierarchy"
                r=$(vsctl exec iso2 -- /probe write /tmp/cg/memory.limit_in_bytes) || true
                [ "$r" != ok ] || fail "memory.limit_in_bytes writable"
        fi
        r=$(vsctl exec iso2 -- sh -c 'ls /sys/fs/cgroup/*/release_agent 2>/dev/null | head -1')
        if [ -n "$r" ]; then
                r=$(vsctl exec iso2 -- /probe write "$r") || true
                [ "$r" != ok ] || fail "release_agent writable"
        fi
}

test_capabilities() {
        local out
        vsctl create iso3 --start
        out=$(vsctl exec iso3 -- /probe caps)
        assert_eq "$(probe_val CapBnd <<<"$out")" "$EXPECTED_CAPS" "CapBnd of exec"
        assert_eq "$(probe_val CapEff <<<"$out")" "$EXPECTED_CAPS" "CapEff of exec (root)"
        # init has the same bounding set
        assert_eq "$(sed -n 's/^CapBnd:[[:space:]]*//p' "/proc/$(inst_pid iso3)/status")" "$EXPECTED_CAPS" "CapBnd of init"
        # a privileged instance keeps the smaller set
        vsctl create iso3p --privileged --start
        out=$(vsctl exec iso3p -- /probe caps)
        assert_eq "$(probe_val CapBnd <<<"$out")" "$PRIV_CAPS" "CapBnd of a privileged exec"
        assert_eq "$(probe_val CapEff <<<"$out")" "$PRIV_CAPS" "CapEff of a privileged exec (root)"
        assert_eq "$(sed -n 's/^CapBnd:[[:space:]]*//p' "/proc/$(inst_pid iso3p)/status")" "$PRIV_CAPS" \
                "CapBnd of a privileged init"
}

test_seccomp_denies() {
        local out s
        vsctl create iso4 --start
        out=$(vsctl exec iso4 -- /probe seccomp)
        assert_eq "$(probe_val Seccomp <<<"$out")" 2 "seccomp mode"
        assert_eq "$(sed -n 's/^Seccomp:[[:space:]]*//p' "/proc/$(inst_pid iso4)/status")" 2 "seccomp mode of init"
        out=$(vsctl exec iso4 -- /probe syscall keyctl add_key request_key bpf perf_event_open userfaultfd \
                init_module finit_module kexec_load open_by_handle_at swapon)
        note "$out"
        for s in keyctl add_key request_key bpf perf_event_open userfaultfd init_module finit_module \
                kexec_load open_by_handle_at swapon; do
                assert_eq "$(probe_val "$s" <<<"$out")" EPERM "$s"
        done
}

# The host's root block device, as MAJOR:MINOR.
host_root_dev() {
        local src
        src=$(findmnt -nvo SOURCE / 2>/dev/null | head -1)
        if [ -b "$src" ]; then
                printf '%d:%d\n' "0x$(stat -c %t "$src")" "0x$(stat -c %T "$src")"
                return
        fi
        # btrfs or another multi-device root: the first disk
        for src in /sys/class/block/*; do
                case $(basename "$src") in loop* | zram* | ram*) continue ;; esac
                cat "$src/dev"
                return
        done
}

test_no_block_device_mount() {
        local dev out
        dev=$(host_root_dev)
        [ -n "$dev" ] || fail "no host block device found"
        vsctl create iso5 --start
        out=$(vsctl exec iso5 -- /probe mount-blockdev "$dev")
        note "host root $dev: $out"
        [ "$(probe_val mount <<<"$out")" != ok ] || fail "mounted the host's block device $dev"
        [ "$(probe_val open <<<"$out")" != ok ] || fail "opened the host's block device $dev"
        # no device nodes beyond the standard few
        out=$(vsctl exec iso5 -- sh -c 'ls /dev')
        grep -qE '^(vd|sd|nvme|loop|mem$|kmem$|port$)' <<<"$out" && fail "unexpected device node in /dev: $out"
        true
}

test_no_inherited_fds() {
        local pid out
        vsctl create iso6 --start
        pid=$(inst_pid iso6)
        out=$(ls "/proc/$pid/fd" | sort -n | tr '\n' ' ')
        assert_eq "$out" "0 1 2 " "init's fds"
        out=$(vsctl exec iso6 -- /probe fds)
        assert_eq "$(probe_val count <<<"$out")" 0 "exec'd process fds beyond 0-2 ($out)"
        out=$(vsctl exec iso6 -- /probe fds 1)
        assert_eq "$(probe_val count <<<"$out")" 0 "init's fds seen from inside ($out)"
}

test_instances_see_each_other_not() {
        vsctl create iso-a --start
        vsctl create iso-b --start
        vsctl exec iso-a -- sh -c 'echo secret >/tmp/a'
        expect_fail vsctl exec iso-b -- cat /tmp/a
        # iso-b's process list has no trace of iso-a's processes
        vsctl exec iso-a -- sh -c 'sh -c "exec sleep 300" </dev/null >/dev/null 2>&1 &'
        vsctl exec iso-b -- ps -o comm | grep -qw sleep && fail "iso-b sees iso-a's sleep"
        true
}

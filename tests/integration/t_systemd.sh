# SPDX-License-Identifier: LGPL-2.1-or-later
# A Debian 12 instance boots systemd as PID 1 with what the start sequence
# gives every instance (doc/architecture.md, "systemd as init"): its own
# cgroup2 tree on /sys/fs/cgroup, /run and /run/lock, no CAP_SYS_ADMIN.

# Units that may fail in any vsd instance, each for a reason documented in
# doc/architecture.md ("Units that cannot run").  Empty: with Debian 12's
# default units the boot ends "running"; units that cannot run in a
# container are skipped by their own conditions, not failed.
SYSTEMD_MAY_FAIL=""

# Template debian-12 comes from vsd_debian_template (tests/lib.sh): the
# first build on a machine runs debootstrap, later ones unpack the cache.
# Whichever test runs first may pay for the cold build.
# timeout test_systemd_boots 900
# timeout test_systemd_ssh_restart 900
# timeout test_systemd_clean_stop_and_restart 900
# timeout test_systemd_two_instances 900
# timeout test_systemd_daemon_restart 900
# timeout test_systemd_reboot_and_poweroff_inside 900
# timeout test_systemd_ssh_login 900

# debian_up NAME: create and start a Debian instance, and wait until its
# systemd has finished booting.  Prints the boot time in seconds.
debian_up() {
        local t0 state
        vsd_debian_template
        vsctl create "$1" --template debian-12
        t0=$(date +%s%N)
        vsctl start "$1"
        # --wait needs systemd's bus, which appears a moment after exec
        wait_for vsctl exec "$1" -- test -S /run/systemd/private
        state=$(timeout "$(scaled 60)" "$B/vsctl" --socket "$VSD_SOCKET" exec "$1" -- systemctl is-system-running --wait) || true
        note "$1: boot ended '$state' after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
        [ "$state" = running ] || [ "$state" = degraded ] ||
                fail "systemd in $1 says '$state': $(vsctl exec "$1" -- systemctl --failed --no-legend --plain | tr '\n' ' ')"
}

# failed units, one line, sorted
failed_units() {
        vsctl exec "$1" -- systemctl list-units --failed --no-legend --plain | awk '{ print $1 }' | sort | tr '\n' ' '
}

test_systemd_boots() {
        local failed u pid
        debian_up web1
        failed=$(failed_units web1)
        for u in $failed; do
                [[ " $SYSTEMD_MAY_FAIL " == *" $u "* ]] || fail "unit $u failed (not in the documented list): $(vsctl exec web1 -- systemctl status "$u" --no-pager -n 5 2>&1 | tr '\n' '|')"
        done
        note "failed units: ${failed:-none}"

        # a container, and which one systemd thinks it is
        assert_eq "$(vsctl exec web1 -- systemd-detect-virt)" container-other "systemd-detect-virt"
        assert_eq "$(vsctl exec web1 -- hostnamectl hostname)" web1 "hostnamectl hostname"
        assert_match "$(vsctl exec web1 -- hostnamectl status)" "Chassis: container" "hostnamectl chassis"

        # systemd runs in unified mode in its own subtree of the instance's
        # cgroup, on the host below <parent>/web1 in the cgroup2 hierarchy:
        # in its payload on a v2 host, one level below the limits
        assert_eq "$(vsctl exec web1 -- cat /proc/1/cgroup | sed -n 's/^0:://p')" /init.scope "init's cgroup inside"
        pid=$(inst_pid web1)
        local below=
        [ ! -e /sys/fs/cgroup/cgroup.controllers ] || below=/payload
        assert_match "$(sed -n 's/^0:://p' "/proc/$pid/cgroup")" "/$VSD_CG/web1$below/init.scope\$" "init's cgroup on the host"
        # systemd delegated the controllers it was given to its units, and
        # commands run through exec land in init's cgroup
        if [ -n "$below" ]; then
                assert_match "$(vsctl exec web1 -- cat /sys/fs/cgroup/cgroup.subtree_control)" "memory" \
                        "controllers systemd enabled below its root"
                assert_eq "$(vsctl exec web1 -- sed -n 's/^0:://p' /proc/self/cgroup)" /init.scope "an exec'd command's cgroup"
        fi
        assert_eq "$(vsctl exec web1 -- stat -f -c %T /sys/fs/cgroup)" cgroup2fs "/sys/fs/cgroup inside"
        assert_match "$(vsctl exec web1 -- findmnt -n -o OPTIONS /run)" "nosuid,nodev" "/run's options"
        assert_eq "$(vsctl exec web1 -- findmnt -n -o FSTYPE /run/lock)" tmpfs "/run/lock"

        # journald has the boot, and what logger sends
        vsctl exec web1 -- journalctl -b --no-pager | grep -q 'Startup finished' || fail "no boot messages in the journal"
        vsctl exec web1 -- logger -t vsdtest "hello from the test $$"
        wait_for bash -c "'$B/vsctl' --socket '$VSD_SOCKET' exec web1 -- journalctl -t vsdtest --no-pager | grep -q 'hello from the test $$'"

        # logind answers on the bus
        vsctl exec web1 -- loginctl list-sessions --no-pager >/dev/null || fail "loginctl failed"
        assert_eq "$(vsctl exec web1 -- systemctl is-active systemd-logind)" active "logind"

        # ifupdown configured lo (with CAP_NET_ADMIN), the engine eth0
        assert_eq "$(vsctl exec web1 -- systemctl is-active networking)" active "networking.service"
}

test_systemd_ssh_restart() {
        local ip banner
        debian_up web1
        vsctl exec web1 -- systemctl restart ssh
        assert_eq "$(vsctl exec web1 -- systemctl is-active ssh)" active "ssh after restart"
        wait_for bash -c "'$B/vsctl' --socket '$VSD_SOCKET' exec web1 -- ss -Hltn 'sport = :22' | grep -q LISTEN"
        # and from outside, over the instance's address
        ip=$(vsctl --json info web1 | json .ip | tr ',' '\n' | head -1 | cut -d/ -f1)
        banner=$(timeout "$(scaled 5)" bash -c "exec 3<>/dev/tcp/$ip/22 && head -c 8 <&3") || true
        assert_eq "$banner" SSH-2.0- "sshd's banner on $ip:22"
}

# A customer logs in to an unprivileged Debian instance with Debian's own
# sshd: key-based root login over the instance's address, root inside, and
# on the host the session runs under the instance's id block, never root.
# Each instance has host keys of its own, made at its first boot.
test_systemd_ssh_login() {
        local ip base out pid uid keys1 keys2
        debian_up web1
        base=$(vsctl --json info web1 | json .id_base)
        [ -n "$base" ] && [ "$base" -gt 0 ] || fail "web1 is not unprivileged (id_base '$base')"
        ssh-keygen -q -t ed25519 -N '' -f "$T/key" || fail "ssh-keygen"
        vsctl exec web1 -- sh -c 'umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys' < "$T/key.pub"
        wait_for bash -c "'$B/vsctl' --socket '$VSD_SOCKET' exec web1 -- ss -Hltn 'sport = :22' | grep -q LISTEN"
        ip=$(vsctl --json info web1 | json .ip | tr ',' '\n' | head -1 | cut -d/ -f1)
        _ssh() {
                timeout "$(scaled 30)" ssh -i "$T/key" -o BatchMode=yes -o StrictHostKeyChecking=no \
                        -o UserKnownHostsFile="$T/known_hosts" -o ConnectTimeout=10 "root@$ip" "$@"
        }
        out=$(_ssh 'id -u; cat /proc/self/uid_map; hostname') || fail "ssh login to $ip failed: $out"
        assert_eq "$(sed -n 1p <<<"$out")" 0 "uid inside the ssh session"
        assert_eq "$(sed -n 2p <<<"$out" | awk '{ print $1, $2, $3 }')" "0 $base 65536" "the session's uid_map"
        assert_eq "$(sed -n 3p <<<"$out")" web1 "hostname in the session"

        # while a session is open, its shell as the host sees it
        local marker=7$$ sshpid
        _ssh "exec sleep $marker" </dev/null >/dev/null 2>&1 &
        sshpid=$!
        wait_for pgrep -f "^sleep $marker\$"
        pid=$(pgrep -f "^sleep $marker\$" | head -1)
        grep -q "/$VSD_CG/web1" "/proc/$pid/cgroup" || fail "the session's process is not in web1's cgroup"
        uid=$(awk '/^Uid:/ { print $3 }' "/proc/$pid/status")
        [ "$uid" -ge "$base" ] && [ "$uid" -lt $((base + 65536)) ] ||
                fail "the session runs as host uid $uid, not in web1's block $base+65536"
        kill "$sshpid" 2>/dev/null
        wait "$sshpid" 2>/dev/null || true
        vsctl exec web1 -- pkill -f "^sleep $marker\$" || true

        # host keys: made at web1's first boot, and another instance's differ
        keys1=$(vsctl exec web1 -- sh -c 'cat /etc/ssh/ssh_host_*_key.pub' | awk '{ print $2 }' | sort)
        [ -n "$keys1" ] || fail "web1 has no ssh host keys"
        debian_up web2
        keys2=$(vsctl exec web2 -- sh -c 'cat /etc/ssh/ssh_host_*_key.pub' | awk '{ print $2 }' | sort)
        [ -n "$keys2" ] || fail "web2 has no ssh host keys"
        [ -z "$(comm -12 <(echo "$keys1") <(echo "$keys2"))" ] || fail "web1 and web2 share an ssh host key"
}

test_systemd_clean_stop_and_restart() {
        local t0 ms ev pid
        debian_up web1
        pid=$(inst_pid web1)
        local mid
        mid=$(vsctl exec web1 -- cat /etc/machine-id)
        assert_match "$mid" '^[0-9a-f]{32}$' "machine id made at the first boot"
        t0=$(date +%s%N)
        vsctl stop web1
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        note "stop through systemd took $ms ms"
        [ "$ms" -lt 10000 ] || fail "stop took $ms ms"
        ev=$(vsctl events web1 --past --no-follow --json | grep '"type":"stopped"' | tail -1)
        assert_eq "$(json .how <<<"$ev")" halt "how the instance stopped"
        # systemd halted the container itself: with CAP_SYS_BOOT over its
        # pid namespace its reboot(2) ends init (SIGINT from the kernel),
        # init's clean end: exit status 0, no signal
        assert_eq "$(json '.signal // "none"' <<<"$ev")" none "init's end"
        assert_eq "$(json .exit_status <<<"$ev")" 0 "init's exit status"
        grep -q 'Halting system' "$T/root/instances/web1/console.log" || fail "systemd did not say it halted"
        ! alive "$pid" || fail "init $pid alive after stop"
        # nothing of systemd's own cgroups is left below the instance's
        [ -z "$(_cg_dirs "$VSD_CG" | grep "/web1")" ] || fail "cgroups left: $(_cg_dirs "$VSD_CG" | grep /web1 | head -3 | tr '\n' ' ')"

        # a second boot of the same instance, then a restart
        vsctl start web1
        wait_for vsctl exec web1 -- test -S /run/systemd/private
        assert_match "$(vsctl exec web1 -- systemctl is-system-running --wait)" '^(running|degraded)$' "second boot"
        vsctl restart web1
        wait_for vsctl exec web1 -- test -S /run/systemd/private
        assert_match "$(vsctl exec web1 -- systemctl is-system-running --wait)" '^(running|degraded)$' "boot after restart"
        # the machine id made on the first boot is kept in the private layer
        assert_eq "$(vsctl exec web1 -- cat /etc/machine-id)" "$mid" "machine id after two more boots"
}

# NAME OLDPID: running again, with another init
runs_anew() {
        local p
        p=$(inst_pid "$1")
        [ "$(inst_state "$1")" = running ] && [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$2" ]
}

state_is() { # NAME STATE
        [ "$(inst_state "$1")" = "$2" ]
}

# `systemctl reboot` inside: systemd's reboot(2) ends init by SIGHUP from
# the kernel, and vsd starts the instance again; `systemctl poweroff`: by
# SIGINT, and it stays stopped.  Both are the instance's own clean end.
test_systemd_reboot_and_poweroff_inside() {
        local pid ev
        debian_up web1
        pid=$(inst_pid web1)
        vsctl exec web1 -- systemctl reboot || true
        wait_for -t 60 runs_anew web1 "$pid"
        wait_for vsctl exec web1 -- test -S /run/systemd/private
        assert_match "$(vsctl exec web1 -- systemctl is-system-running --wait)" '^(running|degraded)$' "boot after reboot inside"
        ev=$(vsctl events web1 --past --no-follow --json | grep '"type":"stopped"' | tail -1)
        assert_eq "$(json .how <<<"$ev")" rebooted-inside "how the reboot inside ended init"
        assert_eq "$(json '.signal // "none"' <<<"$ev")" none "init's end at the reboot"
        vsctl exec web1 -- systemctl poweroff || true
        wait_for -t 60 state_is web1 stopped
        ev=$(vsctl events web1 --past --no-follow --json | grep '"type":"stopped"' | tail -1)
        assert_eq "$(json .how <<<"$ev")" halted-inside "how the power-off inside ended init"
        assert_eq "$(json .exit_status <<<"$ev")" 0 "init's exit status at the power-off"
}

test_systemd_two_instances() {
        local a b
        debian_up d1
        debian_up d2
        a=$(vsctl exec d1 -- cat /etc/machine-id)
        b=$(vsctl exec d2 -- cat /etc/machine-id)
        [ -n "$a" ] && [ "$a" != "$b" ] || fail "machine ids '$a' and '$b'"
}

# The daemon dies and comes back: the instance keeps running, and the new
# daemon stops it cleanly through systemd as the old one would have.
test_systemd_daemon_restart() {
        local pid ev
        debian_up web1
        pid=$(inst_pid web1)
        vsd_kill9
        vsd_up
        assert_eq "$(inst_pid web1)" "$pid" "init re-adopted"
        assert_eq "$(vsctl exec web1 -- systemctl is-system-running)" running "systemd after the daemon's restart"
        vsctl exec web1 -- systemctl restart ssh
        vsctl stop web1
        ev=$(vsctl events web1 --past --no-follow --json | grep '"type":"stopped"' | tail -1)
        assert_eq "$(json .how <<<"$ev")" halt "how the adopted instance stopped"
        ! alive "$pid" || fail "init $pid alive after stop"
        [ -z "$(_cg_dirs "$VSD_CG" | grep "/web1")" ] || fail "cgroups left after the adopted instance stopped"
}

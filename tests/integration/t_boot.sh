# SPDX-License-Identifier: LGPL-2.1-or-later
# Back after a reboot: the first daemon of a boot starts the instances that
# should run ([boot] onboot yes, or auto and running when the host went
# down), higher boot_priority first, and leaves the others stopped.  A
# reboot is simulated: the daemon stops (its instances run on, as at a
# shutdown), then everything a reboot takes goes (every process of the
# instances, lxcfs and the listener holder, the network namespace with the
# bridge and the firewall, the runtime directory), then a daemon starts.

# netns test_reboot_brings_back_what_ran
# netns test_boot_carries_on_after_kill9
# netns test_boot_cancelled_lets_go_of_the_disks
# timeout test_reboot_brings_back_what_ran 240
# timeout test_boot_carries_on_after_kill9 240

# reboot: what a reboot of the host does to the test's daemon and
# instances; the next vsd_up is the first daemon of the new boot.
reboot() {
        local n pids=() p
        for n in $(vsctl --json list | jq -r '.[] | select(.state == "running" or .state == "paused") | .name'); do
                pids+=("$(inst_pid "$n")")
        done
        vsd_stop
        # the instances' inits (and with them their pid namespaces)
        for p in "${pids[@]}"; do
                kill -KILL "$p"
        done
        for p in "${pids[@]}"; do
                wait_gone "$p"
        done
        # lxcfs and the listener holder, which outlived the daemon
        for p in $(_test_lxcfs_pids "$T") $(pgrep -f -- "--listener-holder $T/run/" || true); do
                kill -KILL "$p"
                wait_gone "$p"
        done
        umount -l "$T/run/lxcfs/mnt" 2>/dev/null || true
        # the network: a fresh namespace, as a booted kernel has
        ip netns del "$VSD_NETNS"
        vsd_netns_make
        # /run is a tmpfs: empty after a boot
        rm -rf "$T/run"
        mkdir -p "$T/run"
}

# The names of the instances in the order of their "started" events
# after sequence number SEQ.
started_order() { # SEQ
        vsctl events --since "$1" --no-follow --json | jq -r 'select(.type == "started") | .instance' | tr '\n' ' ' |
                sed 's/ $//'
}

# The last sequence number so far (0 for none): the events kept on disk
# outlive the daemon and the reboot, so a test looks at those after it.
last_seq() {
        local s
        s=$(vsctl events --past --json | jq -r 'select(.seq) | .seq' | tail -n 1)
        echo "${s:-0}"
}

boot_finished() { # SEQ
        vsctl events --since "$1" --no-follow --json | jq -e 'select(.type == "boot-finished")' >/dev/null
}

test_reboot_brings_back_what_ran() {
        # running, onboot auto (the default), in three priorities
        vsctl create hi --boot-priority 100 --start
        vsctl create mid2 --boot-priority 50 --start
        vsctl create mid1 --boot-priority 50 --start
        vsctl create lo --start
        # never started, but onboot yes
        vsctl create always --onboot yes --boot-priority 10
        # running, but onboot no
        vsctl create never --onboot no --start
        # stopped by its operator before the reboot
        vsctl create stopped --start
        vsctl stop stopped
        # halted itself before the reboot
        vsctl create halted --start
        vsctl exec halted -- poweroff || true
        wait_for -t 20 sh -c "[ \"\$(\"$B/vsctl\" --socket \"$VSD_SOCKET\" --json info halted | jq -r .state)\" = stopped ]"
        # info shows the settings
        assert_eq "$(vsctl --json info hi | json .boot_priority)" 100 "hi's boot_priority"
        assert_eq "$(vsctl --json info always | json .onboot)" yes "always's onboot"
        assert_eq "$(vsctl --json info lo | json .onboot)" auto "lo's onboot (the default)"
        vsctl info never | grep -qE '^ *onboot: +no$' || fail "vsctl info does not show 'onboot: no': $(vsctl info never)"

        local seq0
        seq0=$(last_seq)
        reboot
        vsd_up
        wait_for -t 30 boot_finished "$seq0"
        local n
        for n in hi mid1 mid2 lo always; do
                assert_eq "$(inst_state "$n")" running "$n after the reboot"
        done
        for n in never stopped halted; do
                assert_eq "$(inst_state "$n")" stopped "$n after the reboot"
        done
        # higher priority first, equal ones by name
        assert_eq "$(started_order "$seq0")" "hi mid1 mid2 always lo" "order of the starts after the reboot"
        vsctl exec lo -- true || fail "exec into an instance started at boot"
        local fin
        fin=$(vsctl events --since "$seq0" --no-follow --json | jq -c 'select(.type == "boot-finished")')
        assert_eq "$(json .started <<<"$fin")/$(json .failed <<<"$fin")/$(json .complete <<<"$fin")" 5/0/true "boot-finished"
        grep -q "Boot: 5 of 5 instances started" "$T/vsd.log" || fail "the boot's end is not in the log"
        # the boot is an operation that succeeded
        assert_eq "$(vsctl --json op list | jq -r '.[] | select(.kind == "boot") | .state')" succeeded "the boot operation"

        # a daemon restart within the same boot starts nothing
        vsctl stop always
        seq0=$(last_seq)
        vsd_stop
        vsd_up
        assert_eq "$(inst_state always)" stopped "an onboot yes instance after a daemon restart (no reboot)"
        assert_eq "$(inst_state hi)" running "hi after a daemon restart"
        ! vsctl events --since "$seq0" --no-follow --json | jq -e 'select(.type == "boot-started")' >/dev/null ||
                fail "a daemon restart without a reboot started a boot"
}

# The daemon killed in the middle of the boot: the next one carries on, and
# what was started meanwhile is re-adopted, not started twice.
test_boot_carries_on_after_kill9() {
        printf '%s\n' "[boot]" "parallel = 1" >>"$T/vsd.conf"
        vsctl create first --boot-priority 10 --boot-delay 60s --start
        vsctl create second --start
        vsctl create third --start
        local seq0
        seq0=$(last_seq)
        reboot
        vsd_up
        # first started, and the boot waits its delay before the next
        wait_for -t 20 sh -c "[ \"\$(\"$B/vsctl\" --socket \"$VSD_SOCKET\" --json info first | jq -r .state)\" = running ]"
        assert_eq "$(inst_state second)/$(inst_state third)" stopped/stopped "second/third during first's boot delay"
        local pid
        pid=$(inst_pid first)
        vsd_kill9
        vsd_up
        wait_for -t 30 boot_finished "$seq0"
        assert_eq "$(inst_pid first)" "$pid" "first re-adopted, not started again"
        assert_eq "$(inst_state second)/$(inst_state third)" running/running "second/third after the boot carried on"
        local fin
        fin=$(vsctl events --since "$seq0" --no-follow --json | jq -c 'select(.type == "boot-finished")')
        assert_eq "$(json .started <<<"$fin")" 2 "instances the second daemon started"
}

# The boot prepares the disks of the next starts ahead of them (their
# images bound to loop devices): a boot cancelled in the meantime leaves
# the instances it did not start stopped with nothing of theirs bound, and
# they start as usual after.
test_boot_cancelled_lets_go_of_the_disks() {
        printf '%s\n' "[boot]" "parallel = 1" >>"$T/vsd.conf"
        vsctl create first --boot-priority 10 --boot-delay 60s --start
        vsctl create second --start
        vsctl create third --start
        local seq0 id
        seq0=$(last_seq)
        reboot
        vsd_up
        wait_for -t 20 sh -c "[ \"\$(\"$B/vsctl\" --socket \"$VSD_SOCKET\" --json info first | jq -r .state)\" = running ]"
        id=$(vsctl --json op list | jq -r '.[] | select(.kind == "boot" and .state == "running") | .id')
        [ -n "$id" ] || fail "no boot operation during first's boot delay"
        vsctl op cancel "$id"
        wait_for -t 30 boot_finished "$seq0"
        assert_eq "$(inst_state second)/$(inst_state third)" stopped/stopped "second/third after the cancel"
        assert_eq "$(_test_loops "$T/root/instances/second")$(_test_loops "$T/root/instances/third")" "" \
                "loop devices of the instances the boot did not start"
        vsctl start second
        assert_eq "$(vsctl exec second -- echo up)" up "second started after the cancel"
}

# The settings as a user meets them: create and set flags, info, bad values.
test_onboot_settings() {
        vsctl create s1 --onboot no --boot-priority 7 --boot-delay 2s
        assert_eq "$(vsctl --json info s1 | jq -c '[.onboot, .boot_priority, .boot_delay]')" '["no",7,2]' "s1's boot settings"
        vsctl set s1 --onboot yes --boot-priority 0 --boot-delay 0
        assert_eq "$(vsctl --json info s1 | jq -c '[.onboot, .boot_priority, .boot_delay]')" '["yes",0,0]' "after set"
        grep -q '^onboot = yes$' "$T/root/instances/s1/config.ini" || fail "config.ini does not say onboot = yes"
        expect_fail vsctl set s1 --onboot maybe
        assert_match "$LAST_ERR" "onboot" "the error names the setting"
        expect_fail vsctl set s1 --boot-priority -3
        assert_eq "$(vsctl --json info s1 | json .onboot)" yes "onboot after a refused change"
        # the record of a running instance comes and goes with it
        vsctl start s1
        [ -e "$T/root/instances/s1/running" ] || fail "no record of s1 running"
        vsctl restart s1
        [ -e "$T/root/instances/s1/running" ] || fail "no record of s1 running after a restart"
        vsctl stop s1
        [ ! -e "$T/root/instances/s1/running" ] || fail "the record of s1 running outlived its stop"
}

# SPDX-License-Identifier: LGPL-2.1-or-later
# Moving an instance to another host (vsctl migrate NAME HOST --cold)
# between two vsd hosts on this machine (tests/hosts.sh: a network
# namespace, state root, cgroup parent and sshd each, a shared LAN): it
# runs on the target with its data, name, address and MAC, and is gone
# from the source; when the target refuses, cannot be reached or the link
# is cut midway, it runs on the source again and the target keeps nothing.

# shellcheck source=tests/hosts.sh
. "$VSD_SRC/tests/hosts.sh"

h_state() { # K NAME
        host_vsctl "$1" --json info "$2" | json .state
}

# Nothing of NAME on host K: not listed, no directory (hidden ones too).
h_clean() { # K NAME
        ! host_vsctl "$1" info "$2" >/dev/null 2>&1 || fail "host $1 has '$2'"
        [ -z "$(ls -A "$T/root-h$1/instances" 2>/dev/null | grep -F "$2")" ] ||
                fail "host $1 keeps files of '$2': $(ls -A "$T/root-h$1/instances")"
}

# timeout test_migrate_cold_moves_a_running_instance 240
test_migrate_cold_moves_a_running_instance() {
        local mac ip out
        hosts_up 2
        host_vsctl 1 create mv1 --memory 128M --start
        host_vsctl 1 exec mv1 -- sh -c 'echo moved-data >/root/data'
        mac=$(host_vsctl 1 --json info mv1 | json .mac)
        ip=$(host_vsctl 1 --json info mv1 | json .ip)
        out=$(host_vsctl 1 migrate mv1 h2 --cold)
        note "$out"
        assert_match "$out" "^mv1 moved to h2: down for [0-9.]+ s$" "what migrate prints"
        assert_eq "$(h_state 2 mv1)" running "state on the target"
        assert_eq "$(host_vsctl 2 exec mv1 -- cat /root/data)" moved-data "data on the target"
        assert_eq "$(host_vsctl 2 --json info mv1 | json .mac)" "$mac" "MAC on the target"
        assert_eq "$(host_vsctl 2 --json info mv1 | json .ip)" "$ip" "address on the target"
        assert_eq "$(host_vsctl 2 --json info mv1 | json .memory)" 134217728 "memory limit on the target"
        host_vsctl 2 exec mv1 -- ping -c1 -W2 "$VSD_NET4.1" >/dev/null || fail "the moved instance does not reach its gateway"
        h_clean 1 mv1
}

# timeout test_migrate_refused_by_the_target 240
test_migrate_refused_by_the_target() {
        local before
        hosts_up 2
        host_vsctl 1 create mv2 --start
        host_vsctl 1 exec mv2 -- sh -c 'echo source >/root/data'
        host_vsctl 2 create mv2 --net none
        before=$(ls -A "$T/root-h2/instances")
        # (--json: no progress lines, the error alone on stderr)
        expect_fail host_vsctl 1 --json migrate mv2 h2
        assert_match "$LAST_ERR" "h2 did not take it: .*instance 'mv2' already exists" "refusal"
        assert_eq "$(h_state 1 mv2)" running "state on the source after the refusal"
        assert_eq "$(host_vsctl 1 exec mv2 -- cat /root/data)" source "data on the source"
        assert_eq "$(ls -A "$T/root-h2/instances")" "$before" "the target's instances"
        assert_eq "$(h_state 2 mv2)" stopped "the target's own instance"
        # a host that cannot be reached
        expect_fail host_vsctl 1 --json migrate mv2 h9
        assert_eq "$(h_state 1 mv2)" running "state on the source after an unreachable host"
        # an ssh option as the host: refused before anything runs
        local out
        out=$(curl -s --unix-socket "$(host_socket 1)" -X POST -d '{"host": "-oProxyCommand=touch /tmp/x"}' \
                http://x/v1/instances/mv2/migrate)
        assert_match "$out" "invalid host" "an ssh option as the host"
        assert_eq "$(h_state 1 mv2)" running "state on the source after a bad host"
}

# The link is cut while the archive goes: the source runs it again, the
# target's import ends with nothing left.
# timeout test_migrate_link_cut_midway 240
test_migrate_link_cut_midway() {
        local sshd p
        VSD_TEST_COPY_BPS=2M hosts_up 2
        host_vsctl 1 create mv3 --disk 1G --start
        host_vsctl 1 exec mv3 -- sh -c 'dd if=/dev/urandom of=/root/blob bs=1M count=24 2>/dev/null; sync'
        host_vsctl 1 migrate mv3 h2 >/dev/null 2>"$T/migrate.err" &
        local client=$!
        wait_for -t 30 test -e "$T/root-h2/instances/.mv3.new/disk.img"
        # the target's ssh sessions (children of its sshd) end
        sshd=$(cat "$T/run-h2/sshd.spid")
        for p in $(pgrep -P "$sshd"); do
                kill -KILL "$p"
        done
        wait "$client" && fail "the move succeeded though its link was cut"
        note "$(cat "$T/migrate.err")"
        wait_for -t 30 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 1)' --json info mv3 | jq -r .state)\" = running ]"
        host_vsctl 1 exec mv3 -- test -s /root/blob
        wait_for -t 30 sh -c "! ls -A '$T/root-h2/instances' | grep -q mv3"
        h_clean 2 mv3
}

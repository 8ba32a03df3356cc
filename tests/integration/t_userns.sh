# SPDX-License-Identifier: LGPL-2.1-or-later
# Unprivileged instances: a user namespace of their own, root inside an
# unmapped block of host ids outside, layers shown through idmapped mounts,
# a cgroup tree delegated to root inside.

# the host uid of pid, from /proc (never 0 for an unprivileged instance)
host_uid() {
        awk '/^Uid:/ { print $2 }' "/proc/$1/status"
}

id_base() {
        vsctl --json info "$1" | json .id_base
}

test_init_and_exec_run_as_the_block() {
        local pid base xpid
        vsctl create u1 --start
        assert_eq "$(vsctl --json info u1 | json .privileged)" false "privileged by default"
        base=$(id_base u1)
        [ "$base" -ge 1000000 ] || fail "id_base $base is not from the pool"
        assert_eq "$(vsctl --json info u1 | json .id_range)" "$base-$((base + 65535))" "id_range"
        pid=$(inst_pid u1)
        assert_eq "$(host_uid "$pid")" "$base" "init's uid on the host"
        assert_eq "$(ps -o uid= -p "$pid" | tr -d ' ')" "$base" "ps shows init's uid"
        assert_eq "$(awk '{ print $1, $2, $3 }' "/proc/$pid/uid_map")" "0 $base 65536" "uid_map"
        assert_eq "$(awk '{ print $1, $2, $3 }' "/proc/$pid/gid_map")" "0 $base 65536" "gid_map"
        vsctl info u1 | grep -q "host ids: *$base-$((base + 65535))" || fail "vsctl info shows no host ids"
        assert_eq "$(vsctl exec u1 -- id -u)" 0 "id -u inside"
        assert_eq "$(vsctl exec u1 -- id -g)" 0 "id -g inside"
        # an exec'd command on the host: the block's root too
        xpid=$(vsctl exec u1 -- sh -c 'sleep 30 & echo $!' | tail -n1)
        local hp
        hp=$(awk -v p="$xpid" '{ for (i = 1; i <= NF; i++) if ($i == "NSpid:") {} } END {}' /dev/null)
        for hp in $(pgrep -f 'sleep 30'); do
                if [ "$(awk '/^NSpid:/ { print $3 }' "/proc/$hp/status")" = "$xpid" ]; then
                        assert_eq "$(host_uid "$hp")" "$base" "an exec'd process's uid on the host"
                        break
                fi
        done
        # nothing of the instance runs as host root
        local p
        for p in $(cat "/sys/fs/cgroup/unified/$VSD_CG/u1/cgroup.procs" 2>/dev/null ||
                cat "/sys/fs/cgroup/$VSD_CG/u1/payload/cgroup.procs"); do
                [ "$(host_uid "$p")" != 0 ] || fail "process $p of u1 runs as host root"
        done
}

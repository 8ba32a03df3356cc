# SPDX-License-Identifier: LGPL-2.1-or-later
# Unprivileged instances: a user namespace of their own, root inside an
# unmapped block of host ids outside, layers shown through idmapped mounts,
# a cgroup tree delegated to root inside.

# the host uid of pid, from /proc (never 0 for an unprivileged instance)
host_uid() {
        awk '/^Uid:/ { print $2 }' "/proc/$1/status"
}

# the host pids of an instance's processes (its cgroups in the unified
# hierarchy: v1 hybrid or v2)
inst_procs() {
        local d
        for d in "/sys/fs/cgroup/unified/$VSD_CG/$1" "/sys/fs/cgroup/$VSD_CG/$1"; do
                [ -d "$d" ] && [ -e "$d/cgroup.procs" ] && find "$d" -name cgroup.procs -exec cat {} + && return 0
        done
        return 0
}

id_base() {
        vsctl --json info "$1" | json .id_base
}

test_init_and_exec_run_as_the_block() {
        local pid base xpid
        vsctl create u1 --start
        assert_eq "$(vsctl --json info u1 | json '.privileged | tostring')" false "unprivileged by default"
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
        # an exec'd command on the host: the block's root too (its child,
        # left running, found among the instance's processes)
        vsctl exec u1 -- sh -c 'sleep 300 >/dev/null 2>&1 & echo started'
        local xp="" p
        for p in $(inst_procs u1); do
                [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sleep ] && xp=$p
        done
        [ -n "$xp" ] || fail "the exec'd sleep is not among the instance's processes"
        assert_eq "$(host_uid "$xp")" "$base" "an exec'd process's uid on the host"
        kill "$xp"
        # nothing of the instance runs as host root
        for p in $(inst_procs u1); do
                [ "$(host_uid "$p")" != 0 ] || fail "process $p of u1 runs as host root"
        done
}

# api METHOD PATH [BODY]: the HTTP status, the body in $T/api.body
api() {
        local args=(-s -o "$T/api.body" -w '%{http_code}' -X "$1" --unix-socket "$VSD_SOCKET")
        [ $# -lt 3 ] || args+=(-H 'Content-Type: application/json' --data-binary "$3")
        curl "${args[@]}" "http://vsd$2"
}

test_root_inside_owns_its_files() {
        local pid base st
        vsctl create u2 --storage dir --start
        pid=$(inst_pid u2)
        base=$(id_base u2)
        vsctl exec u2 -- sh -c 'echo hi > /etc/newfile && chown 1000:1000 /etc/newfile && chmod 640 /etc/newfile &&
                mkdir /home/x && chown 33:33 /home/x && echo changed >> /etc/hosts' || fail "root inside cannot write, chown, chmod"
        assert_eq "$(vsctl exec u2 -- stat -c '%u:%g %a' /etc/newfile)" "1000:1000 640" "owner and mode inside"
        # on disk: the ids as seen inside
        st=$(stat -c '%u:%g' "$T/root/instances/u2/upper/etc/newfile")
        assert_eq "$st" "1000:1000" "owner on disk"
        assert_eq "$(stat -c '%u' "$T/root/instances/u2/upper/etc/hosts")" 0 "a file root wrote inside is 0 on disk"
        assert_eq "$(stat -c '%u' "$T/root/instances/u2/upper/home/x")" 33 "a directory chowned inside"
        # the host's view through the instance's root: the block's ids
        assert_eq "$(stat -c '%u' "/proc/$pid/root/etc/newfile")" "$((base + 1000))" "owner seen from the host"
        assert_eq "$(stat -c '%u' "/proc/$pid/root/bin/busybox")" "$base" "a template file seen from the host"
        # the template keeps its own ids, shared and untouched
        assert_eq "$(stat -c '%u' "$T/root/templates/busybox/rootfs/bin/busybox")" 0 "template file on disk"
        # the network namespace is root's own (sethostname, like mount,
        # needs CAP_SYS_ADMIN, which no instance's bounding set holds)
        vsctl exec u2 -- ip addr add 192.0.2.7/32 dev lo || fail "ip addr add inside"
        vsctl exec u2 -- ip link set lo down || fail "ip link set lo down inside"
        vsctl exec u2 -- ip link set lo up || fail "ip link set lo up inside"
        vsctl exec u2 -- ip addr show dev lo | grep -q 192.0.2.7 || fail "the address is not on lo"
        # setuid programs keep working: su to a user and back is no escape
        assert_eq "$(vsctl exec u2 -- su -s /bin/sh nobody -c 'id -u' 2>/dev/null || echo failed)" 65534 "su inside"
        # removing a template file and making a directory of that name
        # again: an opaque directory, kept in the layer as for privileged
        vsctl exec u2 -- sh -c 'rm -rf /usr/share && mkdir /usr/share && ls -A /usr/share | wc -l' >"$T/out" ||
                fail "rm -rf and mkdir over a template directory"
        assert_eq "$(cat "$T/out")" 0 "the new directory is empty (opaque)"
        vsctl stop u2
        vsctl start u2
        assert_eq "$(vsctl exec u2 -- cat /etc/newfile)" hi "the file after a restart"
        assert_eq "$(vsctl exec u2 -- sh -c 'ls -A /usr/share | wc -l')" 0 "the opaque directory after a restart"
}

test_ranges_disjoint_persist_and_reused() {
        local a b c d cl
        vsctl create r1
        vsctl create r2 --start
        a=$(id_base r1)
        b=$(id_base r2)
        [ "$a" != "$b" ] || fail "two instances got the same range $a"
        [ $((a > b ? a - b : b - a)) -ge 65536 ] || fail "ranges $a and $b overlap"
        vsd_kill9
        vsd_up
        assert_eq "$(id_base r1)" "$a" "r1's range after a daemon restart"
        assert_eq "$(id_base r2)" "$b" "r2's range after a daemon restart"
        assert_eq "$(inst_state r2)" running "r2 re-adopted"
        assert_eq "$(host_uid "$(inst_pid r2)")" "$b" "re-adopted init's uid"
        assert_eq "$(vsctl exec r2 -- id -u)" 0 "exec into a re-adopted instance"
        vsctl create r3
        c=$(id_base r3)
        [ "$c" != "$a" ] && [ "$c" != "$b" ] || fail "a new instance got a range in use: $c"
        vsctl clone r1 r4
        cl=$(id_base r4)
        [ "$cl" != "$a" ] && [ "$cl" != "$b" ] && [ "$cl" != "$c" ] || fail "the clone got a range in use: $cl"
        vsctl start r4
        assert_eq "$(host_uid "$(inst_pid r4)")" "$cl" "the clone runs as its own range"
        vsctl stop r4
        vsctl destroy r1
        vsctl create r5
        d=$(id_base r5)
        assert_eq "$d" "$a" "the lowest free range again after destroy"
        vsctl stop r2
}

test_config_without_security_loads_privileged() {
        local pid
        vsctl create old1
        vsd_stop
        # as an older vsd wrote it: no [security] section
        sed -i '/^\[security\]/,$d' "$T/root/instances/old1/config.ini"
        ! grep -q security "$T/root/instances/old1/config.ini" || fail "section still there"
        vsd_up
        assert_eq "$(vsctl --json info old1 | json .privileged)" true "an older instance is privileged"
        assert_eq "$(vsctl --json info old1 | json .id_range)" "" "no id range"
        vsctl start old1
        pid=$(inst_pid old1)
        assert_eq "$(awk '{ print $1, $2, $3 }' "/proc/$pid/uid_map")" "0 0 4294967295" "identity uid_map"
        assert_eq "$(host_uid "$pid")" 0 "init is host root, as before"
        assert_eq "$(vsctl exec old1 -- id -u)" 0 "exec"
        vsctl stop old1
}

test_privileged_by_choice() {
        local pid code
        vsctl create p1 --privileged --start
        assert_eq "$(vsctl --json info p1 | json .privileged)" true "privileged"
        vsctl info p1 | grep -q '^privileged: *yes' || fail "vsctl info does not say privileged"
        pid=$(inst_pid p1)
        assert_eq "$(awk '{ print $1, $2, $3 }' "/proc/$pid/uid_map")" "0 0 4294967295" "identity uid_map"
        code=$(api POST /v1/instances '{"name": "p2", "privileged": true}')
        assert_eq "$code" 201 "create privileged through the API"
        assert_eq "$(json .privileged <"$T/api.body")" true "the API's view"
        vsctl stop p1
        code=$(api PATCH /v1/instances/p1 '{"privileged": false}')
        assert_eq "$code" 400 "privileged is not changed later"
        grep -q "chosen at create" "$T/api.body" || fail "no clear reason: $(cat "$T/api.body")"
        code=$(api POST /v1/instances '{"name": "p3", "id_base": 5}')
        assert_eq "$code" 400 "id_base is the daemon's choice"
        assert_eq "$(vsctl --json info p1 | json .privileged)" true "still privileged"
}

test_pool_exhausted() {
        local out rc=0
        printf '%s\n' "[security]" "id_range = 2000000-2131071" >"$T/vsd.conf"
        vsd_stop
        vsd_up
        vsctl create x1
        vsctl create x2
        out=$("$B/vsctl" --socket "$VSD_SOCKET" create x3 2>&1) || rc=$?
        assert_eq "$rc" 1 "create with the pool full"
        assert_eq "$(wc -l <<<"$out")" 1 "a one-line error"
        assert_match "$out" "no free id range" "the reason"
        expect_fail --code 1 vsctl info x3
        [ ! -e "$T/root/instances/x3" ] || fail "a directory was left for x3"
        assert_eq "$(ls -A "$T/root/instances" | grep -c x3 || true)" 0 "nothing hidden left"
        # privileged needs no range
        vsctl create x4 --privileged
        vsctl destroy x1
        vsctl create x3
        assert_eq "$(id_base x3)" 2000000 "the freed range"
}

test_cgroup_delegated_not_the_limits() {
        local cgpar
        vsctl create c1 --memory 64M --pids 100 --start
        # systemd makes its own tree: root inside can
        vsctl exec c1 -- sh -c 'mkdir /sys/fs/cgroup/sub && echo $$ > /sys/fs/cgroup/sub/cgroup.procs && cat /proc/self/cgroup' \
                >"$T/out" || fail "root inside cannot make and enter a cgroup of its tree"
        grep -q '/sub$' "$T/out" || fail "not moved into the sub-cgroup: $(cat "$T/out")"
        # the limits are out of reach: none of the namespace root's limit
        # files (v2: memory.max, pids.max of the payload) takes a write,
        # and the instance's own limits (one level up, or in v1
        # hierarchies) are unchanged
        vsctl exec c1 -- sh -c 'for f in memory.max pids.max cpu.max memory.high; do
                [ -e /sys/fs/cgroup/$f ] || continue; (echo max >/sys/fs/cgroup/$f) 2>/dev/null && echo wrote $f; done
                (echo max >/sys/fs/cgroup/../memory.max) 2>/dev/null && echo wrote parent; true' >"$T/out"
        [ ! -s "$T/out" ] || fail "root inside wrote a limit: $(cat "$T/out")"
        if [ -d /sys/fs/cgroup/memory ]; then
                cgpar=/sys/fs/cgroup/memory/$VSD_CG/c1/memory.limit_in_bytes
        else
                cgpar=/sys/fs/cgroup/$VSD_CG/c1/memory.max
        fi
        assert_eq "$(cat "$cgpar")" 67108864 "the memory limit"
        # the parent's limit files stay host root's
        if [ -d /sys/fs/cgroup/unified ]; then
                assert_eq "$(stat -c %u "/sys/fs/cgroup/unified/$VSD_CG/c1/cgroup.procs")" "$(id_base c1)" "delegated cgroup.procs (v1 hybrid)"
        else
                assert_eq "$(stat -c %u "/sys/fs/cgroup/$VSD_CG/c1/payload/cgroup.procs")" "$(id_base c1)" "delegated cgroup.procs"
                assert_eq "$(stat -c %u "/sys/fs/cgroup/$VSD_CG/c1/memory.max")" 0 "the limit stays root's"
                assert_eq "$(stat -c %u "/sys/fs/cgroup/$VSD_CG/c1/payload/memory.max" 2>/dev/null || echo 0)" 0 \
                        "the payload's limit files stay root's"
        fi
        vsctl exec c1 -- rmdir /sys/fs/cgroup/sub 2>/dev/null || true
        vsctl stop c1
}

# One page cache for a template file, whichever instance reads it.
test_template_page_cache_shared() {
        local f="$T/root/templates/busybox/rootfs/big" before after size=$((64 << 20))
        head -c "$size" /dev/urandom >"$f"
        sync "$f"
        vsctl create pc1 --start
        vsctl create pc2 --start
        # out of the cache: fadvise DONTNEED on the host's inode
        dd if="$f" iflag=nocache count=0 status=none
        vsctl exec pc1 -- cat /big >/dev/null
        # the instance's read filled the host file's own cache
        local pages
        pages=$(fincore -n -b -o RES "$f" | tr -d ' ')
        [ "$pages" -ge $((size * 9 / 10)) ] || fail "pc1's read left $pages bytes of the template file cached"
        before=$(awk '/^Cached:/ { print $2 }' /proc/meminfo)
        vsctl exec pc2 -- cat /big >/dev/null
        after=$(awk '/^Cached:/ { print $2 }' /proc/meminfo)
        note "Cached: $before kB before pc2's read, $after kB after"
        [ $((after - before)) -lt $((size / 1024 / 2)) ] || fail "pc2's read grew the page cache by $((after - before)) kB"
        vsctl stop pc1
        vsctl stop pc2
}

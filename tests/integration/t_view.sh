# SPDX-License-Identifier: LGPL-2.1-or-later
# The customer's view: inside an instance, /proc and /sys report the
# instance's own memory, CPUs, uptime and load (served by one lxcfs that vsd
# supervises), and keep doing so when lxcfs or vsd is restarted; its own time
# namespace makes sysinfo(2) and the boot and monotonic clocks count the
# instance's uptime too.

# A /proc/meminfo field of an instance, in kB.
meminfo() { # NAME FIELD
        vsctl exec "$1" -- cat /proc/meminfo | awk -v f="$2:" '$1 == f { print $2 }'
}

# MemTotal - MemAvailable, in MiB: what procps free shows as "used".
mem_used_mib() {
        vsctl exec "$1" -- cat /proc/meminfo |
                awk '$1 == "MemTotal:" { t = $2 } $1 == "MemAvailable:" { a = $2 } END { print int((t - a) / 1024) }'
}

# A column of the "Mem:" line of busybox free -m inside the instance.
free_col() { # NAME COLUMN(2=total ... 7=available)
        vsctl exec "$1" -- free -m | awk -v c="$2" '$1 == "Mem:" { print $c }'
}

# MemAvailable inside, in MiB, compared: avail_cmp NAME -le|-ge MIB
avail_cmp() {
        [ "$(( $(meminfo "$1" MemAvailable) / 1024 ))" "$2" "$3" ]
}

memtotal_is() { # NAME KB
        [ "$(meminfo "$1" MemTotal)" = "$2" ]
}

uptime_at_least() { # NAME SECONDS
        vsctl exec "$1" -- cat /proc/uptime | awk -v s="$2" '{ exit !($1 >= s) }'
}

# The uptime sysinfo(2) reports inside (whole seconds, rounded up).
sysinfo_uptime() { # NAME
        vsctl exec "$1" -- /probe sysinfo | probe_val uptime
}

sysinfo_uptime_at_least() { # NAME SECONDS
        [ "$(sysinfo_uptime "$1")" -ge "$2" ]
}

host_uptime() {
        cut -d' ' -f1 /proc/uptime
}

# The time namespace of a process, as the host sees it.
time_ns_of() { # PID
        readlink "/proc/$1/ns/time"
}

lxcfs_replaced() { # OLD_PID
        local p
        p=$(lxcfs_pid)
        [ -n "$p" ] && [ "$p" != "$1" ]
}

lxcfs_pid() {
        cat "$T/run/lxcfs/lxcfs.pid" 2>/dev/null
}

# The lxcfs of this test's daemon (the leak check's own lookup).
lxcfs_pids() {
        _test_lxcfs_pids "$T"
}

lxcfs_mounts() {
        awk -v d="$T/" '$0 ~ / - fuse\.lxcfs / && index($5, d) == 1 { print $5 }' /proc/self/mountinfo
}

test_memory_view() {
        local host_total used
        host_total=$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)
        vsctl create m1 --memory 128M --start
        assert_eq "$(meminfo m1 MemTotal)" 131072 "MemTotal inside under --memory 128M"
        [ "$host_total" -gt 262144 ] || fail "host too small for this test: $host_total kB"
        # busybox free reads "available" from /proc/meminfo (total and used
        # come from sysinfo(2), which no filesystem can change: doc/cgroups.md)
        assert_between "$(free_col m1 7)" 100 128 "available in busybox free -m"
        used=$(mem_used_mib m1)
        assert_between "$used" 0 20 "used MiB of a fresh instance"

        # a program inside holding 48 MiB shows as used, and freeing it shows
        vsctl exec m1 -- sh -c '/probe memhog 48 600 >/dev/null 2>&1 &'
        wait_for avail_cmp m1 -le $((128 - 45))
        assert_between "$(mem_used_mib m1)" $((used + 45)) $((used + 60)) "used MiB with 48 MiB held"
        assert_between "$(free_col m1 7)" 50 $((128 - 45)) "available in busybox free -m with 48 MiB held"
        vsctl exec m1 -- killall probe
        wait_for avail_cmp m1 -ge 100

        # a live change of the plan is what the customer sees at once
        vsctl set m1 --memory 256M
        assert_eq "$(meminfo m1 MemTotal)" 262144 "MemTotal after set --memory 256M"
        assert_between "$(free_col m1 7)" 200 256 "available in busybox free -m after set"

        # no limit: the host's memory
        vsctl create m2 --memory unlimited --start
        assert_eq "$(meminfo m2 MemTotal)" "$host_total" "MemTotal of an instance without a memory limit"
}

test_files_are_read_only_and_stay() {
        vsctl create ro1 --memory 64M --start
        expect_fail vsctl exec ro1 -- sh -c 'echo x > /proc/meminfo'
        expect_fail vsctl exec ro1 -- umount /proc/meminfo
        expect_fail vsctl exec ro1 -- umount -l /proc/meminfo
        assert_eq "$(meminfo ro1 MemTotal)" 65536 "MemTotal after the attempts"
        assert_match "$(vsctl exec ro1 -- grep ' /proc/meminfo ' /proc/self/mountinfo)" ' ro,' "mount options of /proc/meminfo"
}

# It bounds uptimes to a second or two after a start: alone.
# serial test_uptime_view
test_uptime_view() {
        local inside host out si
        vsctl create up1 --start
        inside=$(vsctl exec up1 -- cat /proc/uptime | cut -d' ' -f1)
        host=$(host_uptime)
        note "uptime inside $inside s, host $host s"
        assert_between "$inside" 0 "$(scaled 5)" "uptime of a fresh instance"
        awk -v h="$host" -v i="$inside" 'BEGIN { exit !(h > i + 70) }' ||
                fail "host uptime $host not well above $inside (this test needs a host up for more than 70 s)"
        # sysinfo(2) and busybox uptime, which reads it, count the
        # instance's uptime too (its time namespace), not the host's minutes
        assert_between "$(sysinfo_uptime up1)" 0 "$(scaled 5)" "sysinfo(2) uptime of a fresh instance"
        out=$(vsctl exec up1 -- uptime)
        note "busybox uptime inside: $out; on the host: $(busybox uptime 2>/dev/null)"
        assert_match "$out" ' up 0 min, ' "busybox uptime of a fresh instance"
        # the load line counts the instance's own tasks (a handful), not the host's
        assert_between "$(vsctl exec up1 -- cat /proc/loadavg | awk '{ split($4, a, "/"); print a[2] }')" 1 20 \
                "tasks in /proc/loadavg inside"
        # it counts on from the instance's start; lxcfs's /proc/uptime and
        # the kernel's clock agree (sysinfo rounds up to whole seconds)
        wait_for sysinfo_uptime_at_least up1 2
        out=$(vsctl exec up1 -- sh -c 'cat /proc/uptime; /probe sysinfo')
        si=$(probe_val uptime <<<"$out")
        inside=$(head -1 <<<"$out" | cut -d' ' -f1)
        note "after the wait: /proc/uptime $inside s, sysinfo $si s"
        assert_between "$si" 2 "$(scaled 10)" "sysinfo(2) uptime after the wait"
        assert_between "$(awk -v a="$si" -v b="$inside" 'BEGIN { print a - b }')" 0 1.5 \
                "sysinfo(2) uptime minus lxcfs's /proc/uptime"
        # a restart starts it again, both of them
        vsctl restart up1
        out=$(vsctl exec up1 -- sh -c 'cat /proc/uptime; /probe sysinfo')
        assert_between "$(head -1 <<<"$out" | cut -d' ' -f1)" 0 1.9 "uptime after restart"
        assert_between "$(probe_val uptime <<<"$out")" 0 "$(scaled 2)" "sysinfo(2) uptime after restart"
}

# It bounds uptimes to a second or two after a start: alone.
# serial test_time_namespace
test_time_namespace() {
        local pid ns before after off out
        before=$(host_uptime)
        vsctl create tn1 --start
        after=$(host_uptime)
        pid=$(inst_pid tn1)
        ns=$(time_ns_of "$pid")
        # init has its own, and vsctl exec joins it
        [ "$ns" != "$(time_ns_of self)" ] || fail "init shares the host's time namespace $ns"
        assert_eq "$(vsctl exec tn1 -- readlink /proc/self/ns/time)" "$ns" "time namespace of an exec'd command"
        # its zero is the instance's start: the offsets are minus the host's
        # clocks then
        off=$(awk '$1 == "boottime" { printf "%.3f\n", -($2 + $3 / 1e9) }' "/proc/$pid/timens_offsets")
        note "boottime offset -$off s, host uptime $before .. $after s around the start"
        assert_between "$off" "$before" "$after" "minus the boottime offset"
        # CLOCK_BOOTTIME and CLOCK_MONOTONIC are offset, CLOCK_REALTIME is not
        before=$(date +%s)
        out=$(vsctl exec tn1 -- date +%s)
        after=$(date +%s)
        assert_between "$out" "$before" "$after" "date +%s inside"
        # init's start time, which /proc shows on the reader's clock, is at
        # the namespace's zero, not before it (where it would wrap)
        out=$(vsctl exec tn1 -- cut -d' ' -f22 /proc/1/stat)
        assert_between "$out" 0 100 "start time of init inside, in clock ticks"

        # re-adoption: the namespace is the kernel's, nothing to keep; the
        # next daemon's exec joins the same one and the uptime counts on
        wait_for sysinfo_uptime_at_least tn1 2
        vsd_kill9
        vsd_up
        assert_eq "$(inst_pid tn1)" "$pid" "init of tn1 after the daemon restart"
        assert_eq "$(vsctl exec tn1 -- readlink /proc/self/ns/time)" "$ns" "time namespace of exec after re-adoption"
        assert_between "$(sysinfo_uptime tn1)" 2 "$(scaled 30)" "sysinfo(2) uptime after re-adoption"
        assert_match "$(vsctl exec tn1 -- uptime)" ' up 0 min, ' "busybox uptime after re-adoption"

        # a new start gets a new namespace, at zero again
        vsctl stop tn1
        vsctl start tn1
        assert_between "$(sysinfo_uptime tn1)" 0 "$(scaled 2)" "sysinfo(2) uptime after stop and start"
        assert_eq "$(vsctl exec tn1 -- readlink /proc/self/ns/time)" "$(time_ns_of "$(inst_pid tn1)")" \
                "time namespace of exec after a new start"
}

test_cpu_view() {
        local host_cpus out
        host_cpus=$(nproc)
        [ "$host_cpus" -ge 2 ] || fail "needs a host with 2 CPUs or more"
        vsctl create c1 --cpus 0.5 --start
        assert_eq "$(vsctl exec c1 -- grep -c '^processor' /proc/cpuinfo)" 1 "processors in /proc/cpuinfo under --cpus 0.5"
        assert_eq "$(vsctl exec c1 -- cat /sys/devices/system/cpu/online)" 0 "/sys/devices/system/cpu/online under --cpus 0.5"
        out=$(vsctl exec c1 -- /probe nproc)
        note "$out"
        # lxcfs's on v1; vsd's own on v2, where lxcfs shows the host's lines
        # of every CPU of the cpuset whatever the quota (lxc/lxcfs#593)
        assert_eq "$(vsctl exec c1 -- grep -c '^cpu[0-9]' /proc/stat)" 1 "CPU lines in /proc/stat"
        assert_eq "$(probe_val online <<<"$out")" 1 "sysconf(_SC_NPROCESSORS_ONLN) under --cpus 0.5"
        # busybox nproc counts sched_getaffinity(), which vsd answers with
        # the cap's CPUs (t_sysinfo.sh, test_sysinfo_nproc)
        assert_eq "$(vsctl exec c1 -- nproc)" "$(probe_val affinity <<<"$out")" "busybox nproc = affinity count"
        # live: 1.5 CPUs round up to 2
        vsctl set c1 --cpus 1.5
        assert_eq "$(vsctl exec c1 -- grep -c '^processor' /proc/cpuinfo)" 2 "processors under --cpus 1.5"
        assert_eq "$(vsctl exec c1 -- /probe nproc | probe_val online)" 2 "online CPUs under --cpus 1.5"
        # a cpuset is what everything follows, nproc included
        vsctl create c2 --cpuset 1 --start
        assert_eq "$(vsctl exec c2 -- grep -c '^processor' /proc/cpuinfo)" 1 "processors with cpuset 1"
        assert_eq "$(vsctl exec c2 -- grep -c '^cpu[0-9]' /proc/stat)" 1 "CPU lines in /proc/stat with cpuset 1"
        assert_eq "$(vsctl exec c2 -- nproc)" 1 "nproc with cpuset 1"
}

# busy ticks (user + nice + system) of /proc/stat's total line inside NAME,
# read once the file has changed since this call began (vsd's own file on
# v2 is brought up to date every second; lxcfs's is read live)
stat_busy() {
        local t0
        t0=$(vsctl exec "$1" -- awk '/^cpu / { print $2 + $3 + $4 + $5; exit }' /proc/stat)
        wait_for bash -c "[ \"\$('$B/vsctl' --socket '$VSD_SOCKET' exec '$1' -- awk '/^cpu / { print \$2 + \$3 + \$4 + \$5; exit }' /proc/stat)\" != '$t0' ]"
        vsctl exec "$1" -- awk '/^cpu / { print $2 + $3 + $4; exit }' /proc/stat
}

# /proc/stat inside counts the instance's own CPU time: a host process
# burning a CPU does not show, the instance's own busy loop does, and the
# lines follow a live change of the cap.
test_cpu_view_stat() {
        local b0 b1 b2
        vsctl create st1 --cpus 0.5 --start
        # the host busy for 2 s
        b0=$(stat_busy st1)
        timeout 2 sh -c 'while :; do :; done' || true
        b1=$(stat_busy st1)
        note "instance's busy ticks: $b0 -> $b1 while the host burned"
        [ $((b1 - b0)) -lt 40 ] || fail "the host's CPU time shows in the instance's /proc/stat: $b0 -> $b1"
        # the instance busy for 2 s under its 0.5 cap: about 100 ticks
        vsctl exec st1 -- timeout 2 sh -c 'while :; do :; done' || true
        b2=$(stat_busy st1)
        note "instance's busy ticks: $b1 -> $b2 after its own busy loop"
        [ $((b2 - b1)) -ge 40 ] || fail "the instance's own CPU time does not show in its /proc/stat: $b1 -> $b2"
        [ $((b2 - b1)) -le 160 ] || fail "more than 2 s of CPU at 0.5 in its /proc/stat: $b1 -> $b2"
        # a live cap change: 1.5 CPUs show as 2 lines
        vsctl set st1 --cpus 1.5
        wait_for bash -c "[ \"\$('$B/vsctl' --socket '$VSD_SOCKET' exec st1 -- grep -c '^cpu[0-9]' /proc/stat)\" = 2 ]"
}

test_lxcfs_killed_is_restarted_and_rebound() {
        local old pid new
        vsctl create k1 --memory 128M --start
        vsctl create k2 --memory 64M --start
        pid=$(inst_pid k1)
        old=$(lxcfs_pid)
        [ -n "$old" ] && alive "$old" || fail "no lxcfs running (pid file: '$old')"
        assert_eq "$(meminfo k1 MemTotal)" 131072 "MemTotal before"
        kill -KILL "$old"
        # vsd restarts it within about a second and re-binds its files into
        # both instances, which never stopped
        wait_for -t 5 memtotal_is k1 131072
        wait_for -t 5 memtotal_is k2 65536
        new=$(lxcfs_pid)
        [ -n "$new" ] && [ "$new" != "$old" ] || fail "lxcfs pid $new after killing $old"
        assert_eq "$(inst_pid k1)" "$pid" "init of k1 after the lxcfs restart"
        assert_eq "$(inst_state k1)" running "k1 after the lxcfs restart"
        assert_eq "$(lxcfs_pids)" "$new" "lxcfs processes of this daemon"
        assert_eq "$(lxcfs_mounts | wc -l)" 1 "lxcfs mounts of this daemon"
        grep -q "Degraded: lxcfs: lxcfs (pid $old) exited" "$T/vsd.log" || fail "the death of lxcfs is not in the log"
        # back: no longer degraded, and said so
        grep -q "Recovered: lxcfs" "$T/vsd.log" || fail "the recovery of lxcfs is not in the log"
        assert_eq "$(vsctl --json version | json '.daemon.degraded | length')" 0 "degraded subsystems once lxcfs is back"
        assert_eq "$(vsctl --json events --past --no-follow | jq -r 'select(.type == "degraded" or .type == "recovered") | .type' | tr '\n' ' ')" \
                "degraded recovered " "events of the lxcfs restart"
        # once more: the backoff still restarts it quickly
        kill -KILL "$new"
        wait_for -t 5 lxcfs_replaced "$new"
        wait_for -t 5 memtotal_is k1 131072
        # an instance started now gets the view from the start
        vsctl create k3 --memory 96M --start
        assert_eq "$(meminfo k3 MemTotal)" 98304 "MemTotal of an instance started after the restarts"
}

test_daemon_restart_keeps_view() {
        local lx
        vsctl create d1 --memory 128M --start
        lx=$(lxcfs_pid)
        # SIGTERM with an instance running: lxcfs stays, the next vsd adopts it
        vsd_stop
        alive "$lx" || fail "lxcfs $lx ended with the daemon while an instance runs"
        assert_eq "$(lxcfs_mounts | wc -l)" 1 "lxcfs mounts while vsd is down"
        vsd_up
        assert_eq "$(lxcfs_pid)" "$lx" "lxcfs after the daemon restart"
        grep -q "Adopted lxcfs (pid $lx)" "$T/vsd.log" || fail "no adoption in the log"
        assert_eq "$(meminfo d1 MemTotal)" 131072 "MemTotal after the daemon restart"

        # the daemon and lxcfs both die: the next vsd starts a new lxcfs and
        # re-binds the instance, which kept running throughout
        vsd_kill9
        kill -KILL "$lx"
        wait_gone "$lx"
        vsd_up
        wait_for -t 5 memtotal_is d1 131072
        [ "$(lxcfs_pid)" != "$lx" ] || fail "lxcfs pid unchanged"
        assert_eq "$(lxcfs_pids | wc -l)" 1 "lxcfs processes of this daemon"
        assert_eq "$(lxcfs_mounts | wc -l)" 1 "lxcfs mounts of this daemon"

        # with no instance running, a stopping daemon takes lxcfs along
        lx=$(lxcfs_pid)
        vsctl stop d1
        vsd_stop
        wait_gone "$lx"
        assert_eq "$(lxcfs_mounts)" "" "lxcfs mounts after the daemon stopped with no instance"
        vsd_up
        vsctl start d1
        assert_eq "$(meminfo d1 MemTotal)" 131072 "MemTotal after a fresh start"
}

test_view_disabled() {
        local host_total
        host_total=$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)
        vsd_stop
        assert_eq "$(lxcfs_pids)" "" "lxcfs after the daemon stopped with no instance"
        printf '[view]\nlxcfs = no\n' >"$T/vsd.conf"
        VSD_ARGS="-c $T/vsd.conf" vsd_up
        assert_eq "$(lxcfs_pids)" "" "lxcfs with the view disabled"
        vsctl create off1 --memory 128M --cpus 0.5 --start
        assert_eq "$(meminfo off1 MemTotal)" "$host_total" "MemTotal with the view disabled (the host's)"
        assert_eq "$(vsctl exec off1 -- grep -c '^processor' /proc/cpuinfo)" "$(grep -c '^processor' /proc/cpuinfo)" \
                "processors with the view disabled (the host's)"
        # the kernel's own /proc/uptime, read in the instance's time namespace
        assert_between "$(vsctl exec off1 -- cat /proc/uptime | cut -d' ' -f1)" 0 5 \
                "kernel's /proc/uptime with the view disabled"
}

test_lxcfs_missing_is_not_fatal() {
        vsd_stop
        printf '[view]\nlxcfs_binary = /nonexistent/lxcfs\n' >"$T/vsd.conf"
        VSD_ARGS="-c $T/vsd.conf" vsd_up
        vsctl create miss1 --memory 128M --start
        vsctl exec miss1 -- true
        assert_eq "$(grep -c '^.*Degraded: lxcfs: Failed to find lxcfs at /nonexistent/lxcfs: No such file or directory; instances see' "$T/vsd.log")" 1 \
                "log lines about the missing lxcfs"
        # said the one way a degraded subsystem is: the version, an event
        assert_match "$(vsctl version | grep '^degraded:')" "^degraded: lxcfs: Failed to find lxcfs at /nonexistent/lxcfs: .*; instances see the host's /proc/meminfo" \
                "vsctl version"
        assert_eq "$(vsctl --json version | json '.daemon.degraded[0].subsystem')" lxcfs "degraded in the API"
        assert_eq "$(vsctl --json events --past --no-follow | jq -r 'select(.type == "degraded") | .subsystem')" lxcfs \
                "the degraded event"
        assert_eq "$(lxcfs_pids)" "" "lxcfs processes"
}

# lxcfs mounts cgroupfs for itself.  A cgroup2 mount made in the host's
# cgroup namespace applies its options to the one cgroup2 superblock: a
# plain one would take nsdelegate and memory_recursiveprot off the host's
# /sys/fs/cgroup.  The host's options are the same before the daemon, with
# its lxcfs serving an instance, after an lxcfs restart and after the
# daemon's (and as they were before the runner started any daemon).
test_host_cgroup2_options_kept() {
        local before lx
        [ -n "$(host_cgroup2_opts)" ] || { note "no cgroup2 mount on this host"; return 0; }
        vsd_stop
        assert_eq "$(lxcfs_pids)" "" "lxcfs after the daemon stopped with no instance"
        before=$(host_cgroup2_opts)
        note "host cgroup2 mounts: $(tr '\n' ';' <<<"$before")"
        [ -z "${VSD_HOST_CG2_OPTS:-}" ] || assert_eq "$before" "$VSD_HOST_CG2_OPTS" "cgroup2 options since the runner started"
        vsd_up
        wait_for -t 5 test -s "$T/run/lxcfs/lxcfs.pid"
        vsctl create o1 --memory 96M --start
        wait_for -t 5 memtotal_is o1 98304
        assert_eq "$(host_cgroup2_opts)" "$before" "cgroup2 options with lxcfs serving"
        # a new lxcfs, started by the running daemon
        lx=$(lxcfs_pid)
        kill -KILL "$lx"
        wait_for -t 10 lxcfs_replaced "$lx"
        wait_for -t 5 memtotal_is o1 98304
        assert_eq "$(host_cgroup2_opts)" "$before" "cgroup2 options after lxcfs restarted"
        vsd_kill9
        vsd_up
        vsctl exec o1 -- true
        assert_eq "$(host_cgroup2_opts)" "$before" "cgroup2 options after the daemon restarted"
}

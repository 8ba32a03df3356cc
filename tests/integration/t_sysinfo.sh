# SPDX-License-Identifier: LGPL-2.1-or-later
# sysinfo(2) inside an instance: answered by vsd from the instance's cgroup
# (vsd/view/sysinfo.c), for init's processes and exec'd commands alike, so
# that busybox free and uptime show the plan, not the host.

# The "Mem:" (or "Swap:") line of busybox free -m inside: column N.
bb_free() { # NAME ROW COLUMN
        vsctl exec "$1" -- free -m | awk -v r="$2:" -v c="$3" '$1 == r { print $c }'
}

free_total_is() { # NAME MIB
        [ "$(bb_free "$1" Mem 2)" = "$2" ]
}

freeram_at_most() { # NAME MIB
        [ "$(si "$1" freeram_mib)" -le "$2" ]
}

si() { # NAME KEY: one figure of sysinfo(2) inside
        vsctl exec "$1" -- /probe sysinfo | probe_val "$2"
}

# The 1-minute load of the host, in hundredths.
host_load100() {
        awk '{ printf "%d\n", $1 * 100 }' /proc/loadavg
}

host_load_at_least() { # HUNDREDTHS
        [ "$(host_load100)" -ge "$1" ]
}

inst_load_at_least() { # NAME HUNDREDTHS
        [ "$(awk -v l="$(si "$1" load1)" 'BEGIN { printf "%d\n", l * 100 }')" -ge "$2" ]
}

# Run a command in a process forked by the instance's init (not by an
# exec), which shares init's seccomp filter: busybox init starts the new
# respawn entries of its inittab on SIGHUP.  Its output goes to
# /tmp/TAG.out; it then sleeps until the instance stops.
init_child_run() { # NAME TAG COMMAND
        vsctl exec "$1" -- sh -c "rm -f /tmp/$2.out
                echo '::respawn:/bin/sh -c \"$3 >/tmp/$2.tmp 2>&1; mv /tmp/$2.tmp /tmp/$2.out; exec sleep 100000\"' >>/etc/inittab
                kill -HUP 1"
        wait_for vsctl exec "$1" -- test -e "/tmp/$2.out"
        vsctl exec "$1" -- cat "/tmp/$2.out"
}

test_sysinfo_memory_and_swap() {
        vsctl create m1 --memory 128M --swap 64M --start
        local out
        out=$(vsctl exec m1 -- /probe sysinfo)
        note "$out"
        assert_eq "$(probe_val totalram_mib <<<"$out")" 128 "sysinfo(2) totalram under --memory 128M"
        assert_between "$(probe_val freeram_mib <<<"$out")" 64 128 "sysinfo(2) freeram of a fresh instance"
        assert_eq "$(probe_val totalswap_mib <<<"$out")" 64 "sysinfo(2) totalswap under --swap 64M"
        assert_between "$(probe_val freeswap_mib <<<"$out")" 60 64 "sysinfo(2) freeswap"
        assert_between "$(probe_val procs <<<"$out")" 1 20 "sysinfo(2) procs: the instance's tasks"
        assert_eq "$(probe_val mem_unit <<<"$out")" 1 "mem_unit"
        # busybox free takes total, used and free from sysinfo(2)
        vsctl exec m1 -- free -m >&2
        assert_eq "$(bb_free m1 Mem 2)" 128 "busybox free -m total"
        assert_between "$(bb_free m1 Mem 3)" 0 64 "busybox free -m used"
        assert_eq "$(bb_free m1 Swap 2)" 64 "busybox free -m swap total"
        # memory held inside is used, and shows so at once
        vsctl exec m1 -- sh -c '/probe memhog 48 600 >/dev/null 2>&1 &'
        wait_for freeram_at_most m1 80
        vsctl exec m1 -- killall probe
        # a live change of the plan shows at once
        vsctl set m1 --memory 256M
        wait_for -t 5 free_total_is m1 256
        assert_eq "$(si m1 totalram_mib)" 256 "sysinfo(2) totalram after set --memory 256M"
        # a process of init's own tree (not exec'd) is answered too
        out=$(init_child_run m1 si '/probe sysinfo')
        note "init's child: $out"
        assert_eq "$(probe_val totalram_mib <<<"$out")" 256 "sysinfo(2) totalram in a process forked by init"

        # no memory limit: the host's memory
        vsctl create m2 --memory unlimited --start
        assert_eq "$(si m2 totalram_mib)" "$(( $(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo) / 1024 ))" \
                "sysinfo(2) totalram without a memory limit"
}

test_sysinfo_uptime_and_load() {
        local out burner
        vsctl create u1 --memory 64M --start
        out=$(vsctl exec u1 -- uptime)
        note "busybox uptime inside: $out; host: $(cat /proc/loadavg)"
        assert_match "$out" ' up 0 min, ' "busybox uptime of a fresh instance"
        assert_between "$(si u1 uptime)" 0 "$(scaled 10)" "sysinfo(2) uptime of a fresh instance"
        # a CPU burner on the host, outside the instance: the host's load
        # rises, the instance's stays at its own (idle)
        ( while :; do :; done ) &
        burner=$!
        si u1 load1 >/dev/null # the instance's load is counted from its first call
        wait_for -t 60 host_load_at_least 50
        kill "$burner"
        wait "$burner" 2>/dev/null || true
        out=$(vsctl exec u1 -- uptime)
        note "with the host loaded: inside: $out; host: $(cat /proc/loadavg)"
        assert_between "$(si u1 load1)" 0 0.2 "1-minute load inside while the host is loaded"
        # and the inverse: a burner inside counts in the instance's load
        vsctl exec u1 -- sh -c '/probe spin 60 >/dev/null 2>&1 &'
        wait_for -t 30 inst_load_at_least u1 10
        vsctl exec u1 -- killall probe
        note "with a burner inside: $(vsctl exec u1 -- uptime)"
}

test_sysinfo_bad_pointer() {
        local out
        vsctl create f1 --memory 64M --start
        out=$(vsctl exec f1 -- /probe sysinfo-fault)
        note "$out"
        assert_eq "$(probe_val null <<<"$out")" EFAULT "sysinfo(NULL)"
        assert_eq "$(probe_val unmapped <<<"$out")" EFAULT "sysinfo(unmapped page)"
        # the daemon answers on
        assert_eq "$(si f1 totalram_mib)" 64 "sysinfo(2) after the bad pointers"
}

# The storm's figures go to bench/ too (make bench); here: nothing stops.
# timeout test_sysinfo_storm 300
test_sysinfo_storm() {
        local out worst=0 t0 t1 ms n=0 pid
        vsctl create s1 --memory 64M --start
        vsctl exec s1 -- /probe sysinfo-loop 100000 >"$T/storm.out" 2>&1 &
        pid=$!
        wait_for -t 10 vsctl exec s1 -- sh -c 'ps | grep -q "[s]ysinfo-loop"'
        # vsctl list keeps answering while the storm runs
        while kill -0 "$pid" 2>/dev/null; do
                t0=$(date +%s%N)
                vsctl list >/dev/null || fail "vsctl list failed during the storm"
                t1=$(date +%s%N)
                ms=$(( (t1 - t0) / 1000000 ))
                [ "$ms" -le "$worst" ] || worst=$ms
                n=$((n + 1))
                sleep 0.05
        done
        wait "$pid" || fail "the storm failed: $(cat "$T/storm.out")"
        out=$(cat "$T/storm.out")
        note "storm: $out; vsctl list answered $n times, slowest in $worst ms"
        assert_eq "$(probe_val failed <<<"$out")" 0 "sysinfo(2) calls that failed in the storm"
        [ "$n" -ge 3 ] || fail "the storm was over before vsctl list could be timed ($n lists)"
        assert_between "$worst" 0 "$(scaled 2000)" "slowest vsctl list during the storm, ms"
}

# A process killed while its call waits, and a flood of callers that die:
# the daemon goes on answering.
test_sysinfo_caller_dies() {
        vsctl create k1 --memory 64M --start
        vsctl exec k1 -- sh -c 'for i in 1 2 3 4 5 6 7 8; do /probe sysinfo-loop 1000000 >/dev/null 2>&1 & done
                sleep 0.3; killall -9 probe; true'
        assert_eq "$(si k1 totalram_mib)" 64 "sysinfo(2) after callers were killed mid-call"
        assert_eq "$(vsctl --json info k1 | json .state)" running "instance state"
}

# A loop in a process forked by the instance's init (init's own filter,
# not an exec's), started while the daemon is up: every 0.2 s it writes
# busybox free -m's Mem line, nproc and a count to /tmp/loop.out, read from
# the host through init's root (the daemon may be down).
loop_start() { # NAME
        vsctl exec "$1" -- sh -c "echo '::respawn:/bin/sh -c \"n=0; while :; do n=\\\$((n + 1)); { free -m | grep Mem:; nproc; echo n \\\$n; } >/tmp/loop.tmp 2>&1; mv /tmp/loop.tmp /tmp/loop.out; sleep 0.2; done\"' >>/etc/inittab
                kill -HUP 1"
        LOOP_OUT=/proc/$(inst_pid "$1")/root/tmp/loop.out
        wait_for test -e "$LOOP_OUT"
}

loop_count() {
        awk '$1 == "n" { print $2 }' "$LOOP_OUT" 2>/dev/null
}

# The loop writes again after COUNT, with busybox free's total MiB and
# nproc as given.  The total within 1 MiB: busybox rounds what the kernel's
# MemTotal (host_total_mib) floors.
loop_shows() { # TOTAL NPROC [AFTER]
        local out total
        out=$(cat "$LOOP_OUT" 2>/dev/null) || return 1
        tr '\n' ' ' <<<"$out"
        [ "$(awk '$1 == "n" { print $2 }' <<<"$out")" -gt "${3:-0}" ] || return 1
        total=$(awk '$1 == "Mem:" { print $2 }' <<<"$out")
        [[ $total =~ ^[0-9]+$ ]] && [ "$total" -ge $(($1 - 1)) ] && [ "$total" -le $(($1 + 1)) ] || return 1
        [ "$(sed -n 2p <<<"$out")" = "$2" ]
}

# The loop wrote again after count N (whatever it shows).
loop_past() { # N
        [ "$(loop_count)" -gt "$1" ]
}

host_total_mib() {
        echo $(( $(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo) / 1024 ))
}

# The daemon down, by DOWN (vsd_kill9 or vsd_stop): the loop started
# before goes on with the host's figures (the holder answers CONTINUE:
# no ENOSYS, no hang), and with the instance's again once a daemon is back.
loop_across() { # NAME DOWN
        local n
        vsctl create "$1" --memory 128M --cpus 1 --start
        loop_start "$1"
        wait_for -t 10 loop_shows 128 1
        "$2"
        n=$(loop_count)
        wait_for -t 10 loop_shows "$(host_total_mib)" "$(nproc)" "$((n + 2))"
        note "with the daemon down: $(tr '\n' ' ' <"$LOOP_OUT")"
        vsd_up
        n=$(loop_count)
        wait_for -t 10 loop_shows 128 1 "$n"
        note "after the restart: $(tr '\n' ' ' <"$LOOP_OUT")"
}

# timeout test_sysinfo_after_daemon_kill9 240
test_sysinfo_after_daemon_kill9() {
        loop_across r1 vsd_kill9
        # a command exec'd by the new daemon is answered too
        assert_eq "$(si r1 totalram_mib)" 128 "sysinfo(2) in an exec'd command after the restart"
        assert_eq "$(bb_free r1 Mem 2)" 128 "busybox free -m total in an exec'd command after the restart"
        # and a kill -9 again: r1's listeners, which the new daemon took
        # back, are kept as well
        local first=$LOOP_OUT
        loop_across r2 vsd_kill9
        LOOP_OUT=$first
        wait_for -t 10 loop_shows 128 1 "$(loop_count)"
}

# timeout test_sysinfo_after_daemon_restart 240
test_sysinfo_after_daemon_restart() {
        loop_across g1 vsd_stop
}

holder_is_new() { # OLDPID
        local p
        p=$(holder_pid)
        [ -n "$p" ] && [ "$p" != "$1" ] && alive "$p"
}

# The holder killed: the daemon starts another and gives it its copies,
# so a daemon's kill -9 after that loses nothing.  Both killed while the
# daemon is down: the listeners are gone (the kernel fails the calls with
# ENOSYS), nothing hangs, and commands exec'd later are answered.
# timeout test_sysinfo_holder_killed 240
test_sysinfo_holder_killed() {
        local hp n
        vsctl create h1 --memory 128M --cpus 1 --start
        loop_start h1
        wait_for -t 10 loop_shows 128 1
        hp=$(holder_pid)
        [ -n "$hp" ] && alive "$hp" || fail "no listener holder runs (state: $(cat "$T/run/holder/state" 2>&1))"
        kill -KILL "$hp"
        wait_for -t 10 holder_is_new "$hp"
        # the instance's figures all along
        wait_for -t 10 loop_shows 128 1 "$(loop_count)"
        vsd_kill9
        n=$(loop_count)
        wait_for -t 10 loop_shows "$(host_total_mib)" "$(nproc)" "$((n + 2))"
        # now the holder too, with no daemon to give it back
        hp=$(holder_pid)
        kill -KILL "$hp"
        wait_gone "$hp"
        n=$(loop_count)
        wait_for -t 10 loop_past "$((n + 2))"
        note "both gone: $(tr '\n' ' ' <"$LOOP_OUT")"
        vsd_up
        n=$(loop_count)
        wait_for -t 10 loop_past "$((n + 2))"
        assert_eq "$(si h1 totalram_mib)" 128 "sysinfo(2) in an exec'd command after both deaths"
        holder_is_new "$hp" || fail "no new holder after the daemon's restart"
}

# The last instance stopped and the daemon gone: no holder, no socket.
test_sysinfo_holder_stopped() {
        local hp
        vsctl create e1 --memory 64M --start
        hp=$(holder_pid)
        [ -n "$hp" ] && alive "$hp" || fail "no listener holder runs"
        [ -S "$T/run/holder/sock" ] || fail "no holder socket"
        vsctl stop e1
        vsd_stop
        wait_gone "$hp"
        [ ! -e "$T/run/holder" ] || fail "left behind: $(ls -la "$T/run/holder")"
}

# The number of CPUs in a kernel CPU list ("0-1,3" is 3).
cpulist_count() {
        awk -F, '{ n = 0; for (k = 1; k <= NF; k++) { split($k, r, "-"); n += (r[2] == "" ? 1 : r[2] - r[1] + 1) } print n }'
}

# Every way a program counts its CPUs inside: nproc (sched_getaffinity),
# glibc's sysconf (/sys/devices/system/cpu/online), /proc/cpuinfo, and
# /proc/stat's per-CPU lines (lxcfs's on v1, vsd's own on v2).
cpus_agree() { # NAME N
        local out n online cpuinfo stat
        out=$(vsctl exec "$1" -- sh -c 'nproc; cat /sys/devices/system/cpu/online; grep -c ^processor /proc/cpuinfo
                grep -c "^cpu[0-9]" /proc/stat; /probe nproc')
        note "$1: $(tr '\n' ' ' <<<"$out")"
        n=$(sed -n 1p <<<"$out")
        online=$(sed -n 2p <<<"$out" | cpulist_count)
        cpuinfo=$(sed -n 3p <<<"$out")
        stat=$(sed -n 4p <<<"$out")
        [ "$n" = "$2" ] || { echo "nproc says $n, not $2"; return 1; }
        [ "$(probe_val affinity <<<"$out")" = "$2" ] || { echo "sched_getaffinity counts $(probe_val affinity <<<"$out")"; return 1; }
        [ "$(probe_val online <<<"$out")" = "$2" ] || { echo "sysconf online $(probe_val online <<<"$out")"; return 1; }
        [ "$online" = "$2" ] || { echo "/sys/devices/system/cpu/online lists $online"; return 1; }
        [ "$cpuinfo" = "$2" ] || { echo "/proc/cpuinfo has $cpuinfo processors"; return 1; }
        [ "$stat" = "$2" ] || { echo "/proc/stat has $stat CPU lines"; return 1; }
}

test_sysinfo_nproc() {
        local host out
        host=$(nproc)
        [ "$host" -ge 2 ] || fail "needs a host with 2 CPUs or more"
        vsctl create n1 --cpus 1 --memory 64M --start
        vsctl create n2 --cpus 0.5 --memory 64M --start
        vsctl create n3 --cpuset 0 --cpus unlimited --memory 64M --start
        vsctl create n4 --cpus unlimited --memory 64M --start
        cpus_agree n1 1 || fail "--cpus 1: $(cpus_agree n1 1)"
        cpus_agree n2 1 || fail "--cpus 0.5: $(cpus_agree n2 1)"
        cpus_agree n3 1 || fail "--cpuset 0: $(cpus_agree n3 1)"
        cpus_agree n4 "$host" || fail "no CPU cap: $(cpus_agree n4 "$host")"
        # init's own tree (a process not exec'd) is answered too
        out=$(init_child_run n1 nproc 'nproc')
        assert_eq "$out" 1 "nproc in a process forked by init under --cpus 1"
        # a live change shows in the next process
        vsctl set n2 --cpus 1.5
        cpus_agree n2 2 || fail "after set --cpus 1.5: $(cpus_agree n2 2)"
        vsctl set n2 --cpus 0.5
        cpus_agree n2 1 || fail "after set --cpus 0.5: $(cpus_agree n2 1)"
        # the kernel's checks of the caller's buffer stand
        out=$(vsctl exec n1 -- /probe affinity-args)
        note "$out"
        assert_eq "$(probe_val short <<<"$out")" EINVAL "sched_getaffinity with a buffer too short"
        assert_eq "$(probe_val unaligned <<<"$out")" EINVAL "sched_getaffinity with an unaligned length"
        assert_eq "$(probe_val unmapped <<<"$out")" EFAULT "sched_getaffinity into an unmapped page"
        assert_eq "$(probe_val big <<<"$out")" 1 "CPUs in a 64 KiB buffer"
        assert_eq "$(probe_val big_len <<<"$out")" "$("$B/tests/probe" affinity-args | probe_val big_len)" \
                "the length returned: the kernel's mask size, as on the host"
        assert_eq "$(probe_val big_after <<<"$out")" untouched "the buffer past the returned length"
}

# /proc/loadavg inside: field N.
loadavg_field() { # NAME N
        vsctl exec "$1" -- cat /proc/loadavg | awk -v n="$2" '{ print $n }'
}

# The total of its running/total field is the number of processes inside
# (busybox has no threads), as sampled every 5 s: those that stay (all but
# the sh, ls and grep of this check), and at most a few of an exec that ran
# at the sample.
loadavg_total_is_procs() { # NAME
        local out total stay
        out=$(vsctl exec "$1" -- sh -c 'cat /proc/loadavg; ls /proc | grep -c "^[0-9]"')
        total=$(head -1 <<<"$out" | awk '{ split($4, a, "/"); print a[2] }')
        stay=$(( $(tail -1 <<<"$out") - 3 ))
        [ "$total" -ge "$stay" ] && [ "$total" -le $((stay + 4)) ]
}

loadavg_load1_at_least() { # NAME HUNDREDTHS
        [ "$(loadavg_field "$1" 1 | awk '{ printf "%d\n", $1 * 100 }')" -ge "$2" ]
}

# /proc/loadavg's 1-minute load and sysinfo(2)'s, read together, within
# the hundredth /proc/loadavg rounds to.
loads_agree() { # NAME
        local out
        out=$(vsctl exec "$1" -- sh -c 'cat /proc/loadavg; /probe sysinfo')
        awk -v a="$(head -1 <<<"$out" | cut -d' ' -f1)" -v b="$(probe_val load1 <<<"$out")" \
                'BEGIN { d = a - b; exit !(d <= 0.011 && d >= -0.011) }'
}

# The instance's /proc/loadavg is vsd's: the load of its own tasks (the same
# figures as sysinfo's), its own task count, and a pid of its own at the end.
# timeout test_sysinfo_loadavg 180
test_sysinfo_loadavg() {
        local out last nslast
        vsctl create l1 --memory 64M --start
        vsctl exec l1 -- sh -c 'for i in 1 2 3 4 5; do sleep 100000 >/dev/null 2>&1 & done'
        wait_for -t 15 loadavg_total_is_procs l1
        out=$(vsctl exec l1 -- sh -c 'cat /proc/loadavg; cat /proc/sys/kernel/ns_last_pid')
        note "inside: $(tr '\n' ' ' <<<"$out"); host: $(cat /proc/loadavg)"
        last=$(head -1 <<<"$out" | awk '{ print $5 }')
        nslast=$(tail -1 <<<"$out")
        assert_between "$last" 6 "$nslast" "last field of /proc/loadavg: a pid inside (ns_last_pid $nslast)"
        assert_match "$(head -1 <<<"$out")" '^[0-9]+\.[0-9][0-9] [0-9]+\.[0-9][0-9] [0-9]+\.[0-9][0-9] [0-9]+/[0-9]+ [0-9]+$' \
                "/proc/loadavg's format"
        # a burner inside shows in both, with the same figures
        vsctl exec l1 -- sh -c '/probe spin 60 >/dev/null 2>&1 &'
        wait_for -t 60 loadavg_load1_at_least l1 30
        wait_for -t 10 loads_agree l1
        assert_between "$(loadavg_field l1 4 | cut -d/ -f1)" 1 3 "running tasks with one burner"
        # the customer cannot write it
        expect_fail vsctl exec l1 -- sh -c 'echo 9.00 9.00 9.00 1/1 1 >/proc/loadavg'
        # a daemon restart goes on from the load the file shows, not from 0
        vsctl exec l1 -- killall probe
        vsd_kill9
        vsd_up
        out=$(loadavg_field l1 1)
        note "after the restart: $(vsctl exec l1 -- cat /proc/loadavg)"
        assert_between "$out" 0.1 5 "1-minute load just after a daemon restart"
        wait_for -t 10 loads_agree l1
        # a stop removes the files
        vsctl stop l1
        [ -z "$(ls "$T/run/view" 2>/dev/null)" ] || fail "view files left after the stop: $(ls "$T/run/view")"
}

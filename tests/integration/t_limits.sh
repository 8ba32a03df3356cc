# SPDX-License-Identifier: LGPL-2.1-or-later
# Limits are really hit, and hitting them hurts only the instance.

# The instance's cgroup directory for a v1 controller, or the v2 one.
cg_dir() { # NAME CONTROLLER
        if [ -d "/sys/fs/cgroup/$2/$VSD_CG/$1" ]; then
                echo "/sys/fs/cgroup/$2/$VSD_CG/$1"
        else
                echo "/sys/fs/cgroup/$VSD_CG/$1"
        fi
}

test_memory_limit_oom() {
        local rc=0 out pid
        vsctl create mem1 --memory 64M --start
        vsctl create bystander --start
        pid=$(inst_pid mem1)
        out=$(vsctl exec mem1 -- /probe memhog 200) || rc=$?
        note "memhog exit $rc: $(tail -1 <<<"$out")"
        assert_eq "$rc" 137 "memhog exit status (SIGKILL by the OOM killer)"
        grep -q '^done=' <<<"$out" && fail "memhog touched 200 MiB under a 64 MiB limit"
        [ "$(probe_val touched <<<"$(tail -1 <<<"$out")")" -le 64 ] || fail "touched more than the limit: $out"
        # The instance, its neighbour and the daemon keep working.
        assert_eq "$(inst_state mem1)" running "mem1 state"
        assert_eq "$(inst_pid mem1)" "$pid" "mem1 init"
        vsctl exec mem1 -- true
        vsctl exec bystander -- true
        vsctl list >/dev/null
        [ "$(vsctl --json stats mem1 | json .memory.oom_kills)" -ge 1 ] || fail "oom_kills not counted"
        assert_eq "$(vsctl --json stats mem1 | json .memory.limit)" 67108864 "memory limit in stats"
}

test_pids_limit_forkbomb() {
        local out got
        vsctl create pid1 --pids 50 --start
        out=$(vsctl exec pid1 -- /probe forkbomb 1000)
        note "$out"
        got=$(probe_val forked <<<"$out")
        assert_between "$got" 40 50 "children forked under --pids 50"
        assert_eq "$(probe_val errno <<<"$out")" EAGAIN "fork error"
        [ "$(vsctl --json stats pid1 | json .pids.limit)" = 50 ] || fail "pids limit in stats"
        # The host can still start a new instance.
        vsctl create pid2 --start
        vsctl exec pid2 -- true
        vsctl exec pid1 -- true
}

test_cpu_cap() {
        local out ratio
        vsctl create cpu1 --cpus 0.5 --start
        out=$(vsctl exec cpu1 -- /probe spin 3)
        note "$out"
        ratio=$(probe_val ratio <<<"$out")
        # The cap is proven by the upper bound.  The lower bound only holds
        # on an idle host: when it is missed, an uncapped instance must show
        # that the host itself is short of CPU.
        assert_between "$ratio" 0 0.65 "CPU share under --cpus 0.5"
        if awk -v r="$ratio" 'BEGIN { exit !(r < 0.35) }'; then
                vsctl create cpu2 --start
                local base
                base=$(vsctl exec cpu2 -- /probe spin 2 | probe_val ratio)
                note "uncapped instance got $base of a CPU"
                awk -v b="$base" 'BEGIN { exit !(b < 0.7) }' || fail "CPU share under --cpus 0.5: $ratio, below 0.35 on an idle host"
        fi
        [ "$(vsctl --json stats cpu1 | json .cpu.nr_throttled)" -gt 0 ] || fail "no throttling counted"
}

test_set_live() {
        local f
        vsctl create set1 --memory 64M --start
        vsctl set set1 --memory 128M
        assert_eq "$(vsctl --json info set1 | json .memory)" 134217728 "memory after set"
        f=$(cg_dir set1 memory)
        if [ -f "$f/memory.limit_in_bytes" ]; then
                assert_eq "$(cat "$f/memory.limit_in_bytes")" 134217728 "memory.limit_in_bytes"
        else
                assert_eq "$(cat "$f/memory.max")" 134217728 "memory.max"
        fi
        # saved: still there after a restart
        vsctl restart set1
        assert_eq "$(vsctl --json info set1 | json .memory)" 134217728 "memory after restart"
        expect_fail vsctl set set1 --memory 12Q
        assert_eq "$(vsctl --json info set1 | json .memory)" 134217728 "memory after a bad set"
}

test_stats() {
        local j
        vsctl create st1 --memory 256M --pids 100 --start
        vsctl create st2
        j=$(vsctl --json stats st1)
        assert_eq "$(json .name <<<"$j")" st1 name
        [ "$(json .memory.usage <<<"$j")" -gt 0 ] || fail "memory usage 0"
        [ "$(json .pids.current <<<"$j")" -ge 1 ] || fail "no pids counted"
        assert_eq "$(json .pids.limit <<<"$j")" 100 "pids limit"
        [ "$(json .cpu.usage_ns <<<"$j")" -gt 0 ] || fail "cpu usage 0"
        # all running instances
        assert_eq "$(vsctl --json stats | json 'map(.name) | join(",")')" st1 "stats of running instances"
        vsctl stats | grep -qw st1 || fail "stats table"
}

# The plan's other knobs: soft memory, swap, CPU weight and CPU set, at
# create and live, seen from inside where the kernel shows them (nproc
# follows the CPU set), and refused cleanly when the host cannot honour them.
test_cpuset_weight_soft_swap() {
        local f before host_cpus
        host_cpus=$(nproc)
        vsctl create pl1 --memory 128M --memory-soft 64M --swap 32M --cpu-weight 300 --cpuset 0 --start
        assert_eq "$(vsctl exec pl1 -- nproc)" 1 "CPUs seen inside with cpuset 0"
        f=$(cg_dir pl1 cpu)
        if [ -f "$f/cpu.shares" ]; then
                assert_eq "$(cat "$f/cpu.shares")" 3072 "cpu.shares for weight 300"
                assert_eq "$(cat "$(cg_dir pl1 memory)/memory.soft_limit_in_bytes")" 67108864 "soft limit"
        else
                assert_eq "$(cat "$f/cpu.weight")" 300 "cpu.weight"
                assert_eq "$(cat "$f/memory.high")" 67108864 "memory.high"
        fi
        assert_eq "$(vsctl --json info pl1 | json .cpu_weight)" 300 "cpu_weight in info"

        # live: every CPU again, default weight; saved for the next start
        vsctl set pl1 --cpuset all --cpu-weight 0
        assert_eq "$(vsctl exec pl1 -- nproc)" "$host_cpus" "CPUs seen inside after cpuset all"
        vsctl restart pl1
        assert_eq "$(vsctl exec pl1 -- nproc)" "$host_cpus" "CPUs after restart"
        assert_eq "$(vsctl --json info pl1 | json .cpu_weight)" 100 "default weight after restart"

        # what the host cannot do is refused, and nothing changes
        before=$(disk_snapshot)
        expect_fail --code 1 vsctl set pl1 --cpuset "0-$((host_cpus + 5))"
        assert_match "$LAST_ERR" "does not have" "offline CPU message"
        expect_fail --code 1 vsctl set pl1 --cpu-weight 20000
        expect_fail --code 1 vsctl set pl1 --cpuset x
        expect_fail --code 1 vsctl set pl1 --memory 0 --swap 64M
        expect_fail --code 1 vsctl create pl2 --swap 10M
        assert_eq "$(disk_snapshot)" "$before" "state root after refused changes"
        assert_eq "$(vsctl exec pl1 -- nproc)" "$host_cpus" "CPUs after refused changes"
}

# A disk writer inside an instance with a 10 MB/s write cap on the device
# under its files is held to it (O_DIRECT, so the page cache cannot hide it);
# removing the cap lets it run free; a bad device or rate changes nothing.
test_io_write_throttle() {
        local dev out rate before
        dev=$(findmnt -no SOURCE --target "$T/root")
        [ -b "$dev" ] || fail "no block device under $T/root ($dev)"
        vsctl create io1 --io-write-bps "$dev=10M" --start
        out=$(vsctl exec io1 -- /probe write-direct /root/io.test 20)
        rate=$(sed -n 's/^bytes_per_sec=//p' <<<"$out")
        note "capped at 10M: $rate bytes/s"
        [ -n "$rate" ] || fail "no rate from the probe: $out"
        [ "$rate" -le 11000000 ] || fail "wrote at $rate bytes/s under a 10 MB/s cap"
        [ "$rate" -ge 8000000 ] || fail "wrote at only $rate bytes/s under a 10 MB/s cap"
        assert_match "$(vsctl --json info io1 | json .io_write_bps)" '^[0-9]+:[0-9]+=10485760$' "io_write_bps in info"

        before=$(disk_snapshot)
        expect_fail --code 1 vsctl set io1 --io-write-bps /dev/nonexistent=1M
        expect_fail --code 1 vsctl set io1 --io-write-bps "$dev=12Q"
        expect_fail --code 1 vsctl set io1 --io-read-iops "$dev=lots"
        assert_eq "$(disk_snapshot)" "$before" "state root after refused I/O limits"

        vsctl set io1 --io-write-bps none
        out=$(vsctl exec io1 -- /probe write-direct /root/io.test 20)
        rate=$(sed -n 's/^bytes_per_sec=//p' <<<"$out")
        note "uncapped: $rate bytes/s"
        [ "$rate" -gt 11000000 ] || fail "still capped after removing the limit: $rate bytes/s"
}

# Lowering memory below what the instance holds and the kernel cannot
# reclaim (tmpfs, no swap) is refused with a clear message; nothing changes.
test_lower_memory_below_usage() {
        local before
        vsctl create low1 --memory 256M --start
        vsctl exec low1 -- dd if=/dev/zero of=/dev/shm/fill bs=1M count=40
        before=$(disk_snapshot)
        expect_fail --code 1 vsctl set low1 --memory 16M
        assert_match "$LAST_ERR" "could not reclaim" "message for a limit below usage"
        assert_eq "$(vsctl --json info low1 | json .memory)" 268435456 "memory after the refused change"
        assert_eq "$(disk_snapshot)" "$before" "state root after the refused change"
        # once the memory is freed inside, the same change goes through
        vsctl exec low1 -- rm /dev/shm/fill
        vsctl set low1 --memory 16M
        assert_eq "$(vsctl --json info low1 | json .memory)" 16777216 "memory after freeing"
}

# Open files: the plan's limit is init's soft and hard limit (so nothing
# inside can raise it) and exec'd commands get the same; by default an
# instance starts with the usual 1024, whatever vsd's own limit is.
test_nofile_limit() {
        vsctl create nf1 --start
        assert_eq "$(vsctl exec nf1 -- sh -c 'ulimit -n')" 1024 "default open files"
        vsctl create nf2 --nofile 4096 --start
        assert_eq "$(vsctl exec nf2 -- sh -c 'ulimit -n; ulimit -Hn' | tr '\n' ' ')" "4096 4096 " "open files soft and hard"
        assert_match "$(grep 'open files' "/proc/$(inst_pid nf2)/limits")" '4096 +4096' "init's open files"
        expect_fail --code 1 vsctl exec nf2 -- sh -c 'ulimit -n 8192'
        expect_fail --code 1 vsctl set nf2 --nofile 10
        assert_eq "$(vsctl --json info nf2 | json .nofile)" 4096 "nofile after a refused change"
}

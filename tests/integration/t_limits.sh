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

# It measures a CPU share and needs the cap to be reached: alone.
# serial test_cpu_cap
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
# It measures write rates on the host's disk: alone.
# serial test_io_write_throttle
test_io_write_throttle() {
        local dev out rate before
        dev=$(findmnt -no SOURCE --target "$T/root")
        [ -b "$dev" ] || fail "no block device under $T/root ($dev)"
        # the dir backend: the file written lands on $dev itself (an image
        # instance's goes through its loop device: t_storage checks that)
        vsctl create io1 --storage dir --io-write-bps "$dev=10M" --start 2>/dev/null
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

# Every figure of the accounting, for one instance with every limit set:
# JSON (the API's own names), the API endpoint itself, and both tables.
test_stats_full() {
        local dev j
        dev=$(findmnt -no SOURCE --target "$T/root")
        vsctl create sf1 --memory 64M --memory-soft 32M --swap 16M --cpus 0.5 --cpu-weight 300 --cpuset 0 \
                --pids 100 --nofile 2048 --rlimit core=0 --io-write-bps "$dev=50M" --io-read-iops "$dev=1000" --start
        vsctl create sf2 --start
        vsctl exec sf1 -- /probe write-direct /root/io.test 4 >/dev/null
        vsctl exec sf1 -- /probe spin 1 >/dev/null
        j=$(vsctl --json stats sf1)
        note "$j"
        # the first version's names are still there
        assert_eq "$(json .memory.limit <<<"$j")" 67108864 "memory.limit"
        assert_eq "$(json .pids.limit <<<"$j")" 100 "pids.limit"
        json .memory.oom_kills <<<"$j" >/dev/null
        # memory: usage, rss and cache from the kernel; the plan's soft and swap limits
        [ "$(json .memory.rss <<<"$j")" -gt 0 ] || fail "rss 0"
        json '.memory.cache | numbers' <<<"$j" >/dev/null || fail "no cache figure"
        json '.memory.swap | numbers' <<<"$j" >/dev/null || fail "no swap figure"
        assert_eq "$(json .memory.soft_limit <<<"$j")" 33554432 "memory.soft_limit"
        assert_eq "$(json .memory.swap_limit <<<"$j")" 16777216 "memory.swap_limit"
        json '.memory.soft_events | numbers' <<<"$j" >/dev/null || fail "no soft_events"
        # cpu: weight, set, periods under a cap
        assert_eq "$(json .cpu.weight <<<"$j")" 300 "cpu.weight"
        assert_eq "$(json .cpu.cpuset <<<"$j")" 0 "cpu.cpuset"
        assert_eq "$(json .cpu.limit <<<"$j")" 0.5 "cpu.limit"
        [ "$(json .cpu.nr_periods <<<"$j")" -gt 0 ] || fail "no CFS periods counted under a cap"
        [ "$(json .cpu.nr_periods <<<"$j")" -ge "$(json .cpu.nr_throttled <<<"$j")" ] || fail "throttled more often than periods"
        # I/O: what the direct writer wrote, and the throttles in effect
        [ "$(json .io.write_bytes <<<"$j")" -ge 4194304 ] || fail "write_bytes below the 4 MiB written"
        [ "$(json .io.write_ios <<<"$j")" -ge 4 ] || fail "write_ios below the 4 writes"
        json '.io.read_bytes, .io.read_ios | numbers' <<<"$j" >/dev/null || fail "no read figures"
        assert_match "$(json '.io.throttles[0].device' <<<"$j")" '^[0-9]+:[0-9]+$' "throttled device"
        assert_eq "$(json '.io.throttles[0].write_bps' <<<"$j")" 52428800 "write_bps in effect"
        assert_eq "$(json '.io.throttles[0].read_iops' <<<"$j")" 1000 "read_iops in effect"
        assert_eq "$(json .io.weight <<<"$j")" 100 "io.weight"
        assert_eq "$(json .nofile.limit <<<"$j")" 2048 "nofile.limit"
        assert_eq "$(json .rlimits <<<"$j")" "core=0" "rlimits"
        # the API answers the same document
        assert_eq "$(curl -s --unix-socket "$VSD_SOCKET" http://vsd/v1/instances/sf1/stats | jq -c '.cpu.weight, .io.throttles[0].write_bps' | tr '\n' ' ')" \
                "300 52428800 " "GET /v1/instances/sf1/stats"
        # the human tables
        vsctl stats sf1 | grep -qE '^disk write +[0-9.]+[KMG]? .* [0-9]+:[0-9]+ 50M/s' || fail "disk write row: $(vsctl stats sf1)"
        vsctl stats sf1 | grep -qE '^swap .* 16M' || fail "swap row"
        vsctl stats | head -1 | grep -q 'THROTTLED.*SWAP.*READ.*WRITE' || fail "list header: $(vsctl stats | head -1)"
        assert_eq "$(vsctl stats --sort io | awk 'NR == 2 { print $1 }')" sf1 "biggest I/O first"
        expect_fail --code 2 vsctl stats --sort bogus
        assert_match "$LAST_ERR" "unknown sort key 'bogus' \(known: name, cpu" "sort key message"
        expect_fail --code 2 vsctl stats sf1 --sort cpu
        # the counter files held open for sf1 belong to its old cgroup:
        # after a restart the new one is counted from zero
        vsctl restart sf1
        j=$(vsctl --json stats sf1)
        [ "$(json .pids.current <<<"$j")" -ge 1 ] || fail "no pids after a restart: $j"
        # (the start itself writes a few KiB: /etc/hosts)
        [ "$(json .io.write_bytes <<<"$j")" -lt 1048576 ] || fail "write_bytes of the new cgroup: $(json .io.write_bytes <<<"$j"), not counted from zero"
        vsctl stop sf1
        assert_eq "$(vsctl --json stats sf1 | json '.memory.usage + .pids.current')" 0 "a stopped instance's usage"
}

# I/O weight: accepted syntax, but this host's scheduler has no weight file
# (no BFQ): a clear refusal and nothing changed.  Mapped values are unit-tested.
test_io_weight_refused() {
        local before
        if ls /sys/fs/cgroup/blkio/blkio.weight /sys/fs/cgroup/blkio/blkio.bfq.weight /sys/fs/cgroup/io.weight >/dev/null 2>&1; then
                note "this host can weigh I/O: checking it is applied instead"
                vsctl create iw1 --io-weight 200 --start
                assert_eq "$(vsctl --json info iw1 | json .io_weight)" 200 "io_weight"
                return 0
        fi
        vsctl create iw1 --start
        before=$(disk_snapshot)
        expect_fail --code 1 vsctl create iw2 --io-weight 200
        assert_match "$LAST_ERR" "I/O weight needs .* which this host's I/O scheduler does not offer" "create message"
        expect_fail --code 1 vsctl set iw1 --io-weight 500
        assert_match "$LAST_ERR" "I/O weight needs" "set message"
        assert_eq "$(disk_snapshot)" "$before" "state root after refused I/O weights"
        assert_eq "$(vsctl --json info iw1 | json .io_weight)" 100 "io_weight after the refusal"
        assert_eq "$(vsctl --json list | json 'map(.name) | join(",")')" iw1 "instances"
        # the default is always fine, and is saved as such
        vsctl set iw1 --io-weight 0
        grep -qx 'io_weight = 0' "$T/root/instances/iw1/config.ini" || fail "io_weight not saved"
}

# Other rlimits: init and exec'd commands get the same, seen from inside;
# a live change reaches init at once (prlimit) and every new process.
test_rlimits() {
        local pid out before
        vsctl create rl1 --rlimit core=0 --rlimit nproc=2048:4096 --rlimit memlock=4M --rlimit stack=4M:8M --start
        pid=$(inst_pid rl1)
        out=$(vsctl exec rl1 -- sh -c 'ulimit -c; ulimit -u; ulimit -Hu; ulimit -l; ulimit -s; ulimit -Hs' | tr '\n' ' ')
        # busybox: core in 512-byte blocks, memlock and stack in KiB
        assert_eq "$out" "0 2048 4096 4096 4096 8192 " "limits seen by an exec'd shell"
        assert_match "$(grep 'Max processes' "/proc/$pid/limits")" '2048 +4096' "init's nproc"
        assert_match "$(grep 'Max core file size' "/proc/$pid/limits")" ' 0 +0 ' "init's core"
        assert_match "$(grep 'Max stack size' "/proc/$pid/limits")" '4194304 +8388608' "init's stack"
        assert_eq "$(vsctl --json info rl1 | json .rlimits)" "core=0,memlock=4M,nproc=2048:4096,stack=4M:8M" "rlimits in info"

        # live: lowered within init's hard limit, it reaches init at once
        vsctl set rl1 --rlimit nproc=1024:2048
        assert_match "$(grep 'Max processes' "/proc/$pid/limits")" '1024 +2048' "init's nproc after a live change"
        assert_eq "$(vsctl exec rl1 -- sh -c 'ulimit -u')" 1024 "exec'd nproc after a live change"
        # a new process started by init inherits it (init itself is unchanged)
        assert_eq "$(inst_pid rl1)" "$pid" "init after a live change"
        # one name changed, the others kept; saved for the next start
        vsctl restart rl1
        pid=$(inst_pid rl1)
        out=$(vsctl exec rl1 -- sh -c 'ulimit -c; ulimit -u; ulimit -l' | tr '\n' ' ')
        assert_eq "$out" "0 1024 4096 " "limits after a restart"
        # dropping one gives back vsd's own
        vsctl set rl1 --rlimit memlock=default
        assert_eq "$(vsctl --json info rl1 | json .rlimits)" "core=0,nproc=1024:2048,stack=4M:8M" "rlimits after dropping one"

        # refused cleanly, nothing changed
        before=$(disk_snapshot)
        expect_fail --code 1 vsctl set rl1 --rlimit bogus=1
        assert_match "$LAST_ERR" "unknown rlimit 'bogus' \(known: as, core" "unknown name"
        expect_fail --code 1 vsctl set rl1 --rlimit core=2M:1M
        assert_match "$LAST_ERR" "soft limit 2M is above the hard limit 1M" "soft above hard"
        expect_fail --code 1 vsctl set rl1 --rlimit nproc=many
        expect_fail --code 1 vsctl set rl1 --rlimit core
        expect_fail --code 1 vsctl set rl1 --rlimit nofile=100
        assert_match "$LAST_ERR" "use nofile" "nofile has its own option"
        expect_fail --code 1 vsctl create rl2 --rlimit stack=-1
        if ! grep -qE '^CapEff:.*' /proc/"$(vsd_pid)"/status ||
                [ $(( 0x$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/"$(vsd_pid)"/status) >> 24 & 1 )) -eq 0 ]; then
                # without CAP_SYS_RESOURCE vsd cannot grant more than it has
                expect_fail --code 1 vsctl set rl1 --rlimit memlock=unlimited
                assert_match "$LAST_ERR" "above vsd's own hard limit .* CAP_SYS_RESOURCE" "hard limit above vsd's"
        fi
        assert_eq "$(disk_snapshot)" "$before" "state root after refused rlimits"
        assert_eq "$(vsctl --json info rl1 | json .rlimits)" "core=0,nproc=1024:2048,stack=4M:8M" "rlimits after refusals"
        assert_eq "$(inst_pid rl1)" "$pid" "init after refusals"
}

# Noisy neighbours: two busy instances pinned to the same CPU with CPU
# weights 1:3 share it about 25% / 75%.  Measured from cgroup accounting
# while both spin; the ratio between the two is what the weights decide,
# and it holds whatever else the shared host runs on that CPU.
# It measures CPU shares and keeps a CPU busy: alone.
# serial test_cpu_weight_share
test_cpu_weight_share() {
        local cpu a0 b0 a1 b1 share spin_a spin_b
        cpu=$(($(nproc) - 1))
        vsctl create light --cpu-weight 100 --cpuset "$cpu" --start
        vsctl create heavy --cpu-weight 300 --cpuset "$cpu" --start
        vsctl exec light -- /probe spin 6 >/dev/null &
        spin_a=$!
        vsctl exec heavy -- /probe spin 6 >/dev/null &
        spin_b=$!
        sleep 1.5 # both spinning
        a0=$(vsctl --json stats light | json .cpu.usage_ns)
        b0=$(vsctl --json stats heavy | json .cpu.usage_ns)
        sleep 3
        a1=$(vsctl --json stats light | json .cpu.usage_ns)
        b1=$(vsctl --json stats heavy | json .cpu.usage_ns)
        wait "$spin_a" "$spin_b"
        share=$(awk -v a=$((a1 - a0)) -v b=$((b1 - b0)) 'BEGIN { printf "%.3f", a / (a + b) }')
        note "CPU $cpu over 3 s: light $(((a1 - a0) / 1000000)) ms, heavy $(((b1 - b0) / 1000000)) ms; light's share $share"
        [ $((a1 - a0 + b1 - b0)) -gt 300000000 ] || fail "both together got under 10% of the CPU: no contention to measure"
        assert_between "$share" 0.15 0.35 "share of the weight-100 instance against weight 300"
}

# Limits changed live take effect on running instances: a process limit
# lowered below what runs refuses new forks (and counts them); a CPU cap
# raised lets the same spinner run free.
# It measures CPU shares and counts throttled periods: alone.
# serial test_set_live_pids_cpus
test_set_live_pids_cpus() {
        local out r1 r2 t1 t2 base
        vsctl create lp1 --pids 50 --cpus 0.2 --start
        vsctl exec lp1 -- sh -c 'for i in 1 2 3 4 5; do sleep 1000 </dev/null >/dev/null 2>&1 & done'
        [ "$(vsctl --json stats lp1 | json .pids.current)" -ge 7 ] || fail "sleepers not counted"
        vsctl set lp1 --pids 3
        out=$(vsctl exec lp1 -- /probe forkbomb 5)
        assert_eq "$(probe_val forked <<<"$out")" 0 "forks under a limit below usage"
        assert_eq "$(probe_val errno <<<"$out")" EAGAIN "fork error under a limit below usage"
        [ "$(vsctl --json stats lp1 | json .pids.failcnt)" -gt 0 ] || fail "refused forks not counted"
        vsctl set lp1 --pids 100
        assert_eq "$(vsctl exec lp1 -- /probe forkbomb 5 | probe_val forked)" 5 "forks after raising the limit"

        r1=$(vsctl exec lp1 -- /probe spin 2 | probe_val ratio)
        t1=$(vsctl --json stats lp1 | json .cpu.nr_throttled)
        vsctl set lp1 --cpus 1
        r2=$(vsctl exec lp1 -- /probe spin 2 | probe_val ratio)
        t2=$(vsctl --json stats lp1 | json .cpu.nr_throttled)
        note "CPU share under --cpus 0.2: $r1; after --cpus 1: $r2; throttled $t1 -> $t2"
        assert_between "$r1" 0 0.3 "CPU share under --cpus 0.2"
        [ "$t1" -gt 0 ] || fail "no throttling counted under --cpus 0.2"
        # one spinning thread never exceeds a cap of one CPU; the period in
        # flight when the cap changed may still end throttled (2 s under the
        # 0.2 cap throttle about 20 of them)
        assert_between "$t2" "$t1" $((t1 + 1)) "throttle count once the cap is one CPU"
        # the share itself rises unless the host is short of CPU, which an
        # uncapped instance then shows
        if awk -v r="$r2" 'BEGIN { exit !(r < 0.45) }'; then
                vsctl create lp2 --start
                base=$(vsctl exec lp2 -- /probe spin 2 | probe_val ratio)
                note "uncapped instance got $base of a CPU"
                awk -v b="$base" 'BEGIN { exit !(b < 0.6) }' || fail "CPU share after raising the cap: $r2, on a host that gives $base"
        fi
}

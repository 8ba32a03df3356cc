# SPDX-License-Identifier: LGPL-2.1-or-later
# Events: OOM kills with their victim, lifecycle events in order, the
# backlog, the stream's end, bad queries.

EV_PIDS=()

# events_bg FILE [ARGS...]: `vsctl events --json ARGS` in the background,
# writing to FILE; its pid is remembered and killed by stop_events.
events_bg() {
        local out=$1
        shift
        # the binary itself, not the vsctl() function: $! must be its pid
        "$B/vsctl" --socket "$VSD_SOCKET" events --json "$@" >"$out" 2>"$out.err" &
        EV_PIDS+=($!)
}

stop_events() {
        local p
        for p in "${EV_PIDS[@]}"; do
                kill "$p" 2>/dev/null || true
                wait "$p" 2>/dev/null || true
        done
        EV_PIDS=()
}
trap stop_events EXIT

# The types of one instance's events in FILE, space-separated.
types_of() { # FILE NAME
        jq -r --arg n "$2" 'select(.instance == $n) | .type' "$1" | tr '\n' ' ' | sed 's/ $//'
}

# A second private daemon next to the test's own, with its own cgroup
# parent, socket, state root and network names (none of the host's
# defaults), its instances without a network.
VSD2_SOCKET=
vsd2_up() {
        mkdir -p "$T/root2/templates" "$T/run2"
        cp -a "$T/root/templates/busybox" "$T/root2/templates/"
        VSD2_SOCKET=$T/run2/vsd.sock
        printf '%s\n' "[network]" "default_mode = none" "bridge = ${VSD_BRIDGE}b" "link_prefix = w${VSD_NET_ID:0:5}" \
                "nft_table = ${VSD_NFT_TABLE}b" >"$T/vsd2.conf"
        setsid "$B/vsd" --root "$T/root2" --run-dir "$T/run2" --socket "$VSD2_SOCKET" \
                --cgroup-parent "$VSD_CG-b" -c "$T/vsd2.conf" </dev/null >>"$T/vsd2.log" 2>&1 &
        echo $! >"$T/vsd2.pid"
        wait_for "$B/vsctl" --socket "$VSD2_SOCKET" version
}

vsd2() {
        "$B/vsctl" --socket "$VSD2_SOCKET" "$@"
}

vsd2_down() {
        local pid
        pid=$(cat "$T/vsd2.pid" 2>/dev/null) || return 0
        vsd2 stop mem1 --kill >/dev/null 2>&1 || true
        kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid"
        rm -f "$T/vsd2.pid"
        # a leftover parent would be this test's leak
        find /sys/fs/cgroup -maxdepth 3 -type d -name "$VSD_CG-b" -exec rmdir {} \; 2>/dev/null || true
}

# The kernel log it reads, and its rate limit on OOM reports, are the host's: alone.
# serial test_oom_kill_event
test_oom_kill_event() {
        local rc=0 out nspid line pid
        trap 'stop_events; vsd2_down' EXIT
        vsctl create mem1 --memory 64M --start
        events_bg "$T/ev.out" --past --follow
        wait_for grep -q '"type":"started"' "$T/ev.out"

        # A second daemon with an instance of the same name: the kernel's
        # OOM report names our cgroup parent, not just the instance name.
        vsd2_up
        vsd2 create mem1 --start >/dev/null
        "$B/vsctl" --socket "$VSD2_SOCKET" events --json --past --follow >"$T/ev2.out" 2>&1 &
        EV_PIDS+=($!)
        wait_for grep -q '"type":"started"' "$T/ev2.out"

        # $$ of the shell that execs the probe is the victim's pid inside
        out=$(vsctl exec mem1 -- /bin/sh -c 'echo nspid=$$; exec /probe memhog 200') || rc=$?
        assert_eq "$rc" 137 "memhog exit status (SIGKILL by the OOM killer)"
        nspid=$(probe_val nspid <<<"$out")

        wait_for grep -q '"type":"oom-kill"' "$T/ev.out"
        line=$(grep -m1 '"type":"oom-kill"' "$T/ev.out")
        note "$line"
        assert_eq "$(json .instance <<<"$line")" mem1 "instance"
        assert_eq "$(json .command <<<"$line")" probe "victim command"
        assert_eq "$(json .source <<<"$line")" kmsg "source"
        assert_eq "$(json .constraint <<<"$line")" memcg "constraint"
        assert_eq "$(json .memory_limit <<<"$line")" 67108864 "memory limit"
        assert_eq "$(json .nspid <<<"$line")" "$nspid" "victim pid inside"
        pid=$(json .pid <<<"$line")
        [ "$pid" -gt 1 ] && [ "$pid" != "$(inst_pid mem1)" ] || fail "victim host pid $pid"
        [ "$(json .oom_kills <<<"$line")" -ge 1 ] || fail "oom_kills counter in the event"
        # one kill, one event: the counters, read one last time when init
        # exits, must not report it again
        vsctl stop mem1
        wait_for grep -q '"type":"stopped"' "$T/ev.out"
        assert_eq "$(grep -c '"type":"oom-kill"' "$T/ev.out")" 1 "oom-kill events for one kill"

        # the human form
        vsctl events mem1 --no-follow >"$T/human.out"
        grep -E "mem1 +oom-kill +pid $pid \(probe\) killed at limit 64M, pid $nspid inside" "$T/human.out" ||
                fail "human line: $(grep oom-kill "$T/human.out")"

        # The other daemon saw its own events only.  Two requests it answered
        # after ours was reported mean it has read the kernel log past the
        # kill (each loop turn reads whatever is readable).
        vsd2 pause mem1 >/dev/null
        vsd2 resume mem1 >/dev/null
        wait_for grep -q '"type":"resumed"' "$T/ev2.out"
        ! grep -q oom-kill "$T/ev2.out" || fail "the second daemon reported our OOM kill: $(grep oom-kill "$T/ev2.out")"
        vsd2_down
}

test_lifecycle_events_in_order() {
        local pid line
        events_bg "$T/ev.out" --past --follow
        vsctl create lc1
        vsctl start lc1
        vsctl set lc1 --pids 100
        vsctl stop lc1
        vsctl start lc1
        pid=$(inst_pid lc1)
        kill -KILL "$pid"
        wait_for grep -q '"how":"died"' "$T/ev.out"
        assert_eq "$(types_of "$T/ev.out" lc1)" "created started limits-changed stopped started died stopped" "event order"
        # sequence numbers grow by one
        jq -s -e '[.[].seq] | . == ([range(.[0]; .[0] + length)])' "$T/ev.out" >/dev/null || fail "seq not consecutive"
        line=$(grep '"type":"stopped"' "$T/ev.out" | head -1)
        assert_eq "$(json .how <<<"$line")" halt "first stop"
        line=$(grep '"type":"died"' "$T/ev.out")
        assert_eq "$(json .signal <<<"$line")" SIGKILL "died by"
        assert_eq "$(json .pid <<<"$line")" "$pid" "died pid"
        line=$(grep '"type":"limits-changed"' "$T/ev.out")
        assert_eq "$(json .changes.pids.to <<<"$line")" 100 "pids change"
        # stop --kill says so; destroy follows
        vsctl start lc1
        vsctl stop lc1 --kill
        vsctl destroy lc1
        wait_for grep -q '"type":"destroyed"' "$T/ev.out"
        assert_eq "$(grep '"type":"stopped"' "$T/ev.out" | tail -1 | json .how)" killed "stop --kill"
        stop_events
}

test_backlog_and_queries() {
        local out seq n
        vsctl create b1 --start
        vsctl pause b1
        vsctl resume b1
        vsctl create b2
        # --no-follow alone: every buffered event, then the end
        out=$(vsctl events --no-follow --json)
        assert_eq "$(types_of <(echo "$out") b1)" "created started paused resumed" "backlog of b1"
        assert_eq "$(types_of <(echo "$out") b2)" "created" "backlog of b2"
        # per instance, both ways
        assert_eq "$(vsctl events b1 --no-follow --json | jq -r .instance | sort -u)" b1 "filter by path"
        assert_eq "$(curl -sf --unix-socket "$VSD_SOCKET" "http://x/v1/events?follow=0&instance=b2" | jq -r .type)" \
                created "filter by query"
        # the last N; after a sequence number
        n=$(curl -sf --unix-socket "$VSD_SOCKET" "http://x/v1/events?follow=0&backlog=2" | wc -l)
        assert_eq "$n" 2 "backlog=2"
        seq=$(echo "$out" | jq -r 'select(.type == "paused") | .seq')
        assert_eq "$(vsctl events --since "$seq" --no-follow --json | jq -r .type | tr '\n' ' ')" "resumed created " \
                "events after $seq"
        curl -sf -D "$T/h" -o /dev/null --unix-socket "$VSD_SOCKET" "http://x/v1/events?follow=0"
        grep -qi '^content-type: application/x-ndjson' "$T/h" || fail "content type: $(cat "$T/h")"
        grep -qi '^transfer-encoding: chunked' "$T/h" || fail "not chunked: $(cat "$T/h")"
        # the human form
        vsctl events --no-follow | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}  b1 +paused' ||
                fail "human output: $(vsctl events --no-follow)"

        # bad values: one line, non-zero
        expect_fail --code 1 vsctl events --since abc
        assert_match "$LAST_ERR" "since must be a whole number" "message for --since abc"
        expect_fail --code 1 vsctl events --since -1
        expect_fail --code 2 vsctl events --since 1 --past
        expect_fail --code 2 vsctl events --bogus
        expect_fail --code 1 vsctl events nosuch
        assert_match "$LAST_ERR" "no such instance" "message for an unknown instance"
        for q in "follow=2" "backlog=x" "past=1&since=3" "instance=BAD_NAME" "nosuch=1"; do
                assert_eq "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$VSD_SOCKET" "http://x/v1/events?$q")" \
                        400 "status for ?$q"
        done
}

# A limits-changed event of NAME (a new pids limit each time: wait_for
# runs this in a subshell, the count lives in a file), then: has FILE got one?
poke_seen() { # NAME FILE
        local n
        n=$(($(cat "$T/poke" 2>/dev/null || echo 100) + 1))
        echo "$n" >"$T/poke"
        "$B/vsctl" --socket "$VSD_SOCKET" set "$1" --pids "$n" >/dev/null && grep -q '"type":"limits-changed"' "$2"
}

# --past is a report: the past, then the end; --follow makes it a stream
# that goes on, as `vsctl events` without --past is.
test_past_ends_unless_follow() {
        local rc=0 k
        vsctl create pe1 --start
        out=$(timeout "$(scaled 10)" "$B/vsctl" --socket "$VSD_SOCKET" events --past --json) || rc=$?
        assert_eq "$rc" 0 "vsctl events --past ends by itself (124: still waiting)"
        assert_eq "$(types_of <(echo "$out") pe1)" "created started" "what --past showed"
        rc=0
        timeout "$(scaled 10)" "$B/vsctl" --socket "$VSD_SOCKET" events pe1 --past >"$T/human.out" || rc=$?
        assert_eq "$rc" 0 "vsctl events NAME --past ends by itself"
        grep -qE '  pe1 +started ' "$T/human.out" || fail "human --past: $(cat "$T/human.out")"

        # --past --follow and plain `vsctl events` both stay for what comes next
        events_bg "$T/pf.out" --past --follow
        events_bg "$T/plain.out"
        wait_for grep -q '"type":"started"' "$T/pf.out"
        # the plain stream shows only what happens once it is connected:
        # events until it has seen one
        wait_for poke_seen pe1 "$T/plain.out"
        wait_for grep -q '"type":"limits-changed"' "$T/pf.out"
        for k in "${EV_PIDS[@]}"; do
                alive "$k" || fail "a following vsctl events (pid $k) ended: $(cat "$T/pf.out.err" "$T/plain.out.err")"
        done
        vsctl pause pe1
        wait_for grep -q '"type":"paused"' "$T/pf.out"
        wait_for grep -q '"type":"paused"' "$T/plain.out"
        vsctl resume pe1
        stop_events

        expect_fail --code 2 vsctl events --past --follow --no-follow
        assert_match "$LAST_ERR" "contradict" "message for --follow --no-follow"
        # --no-follow still ends on its own
        rc=0
        timeout "$(scaled 10)" "$B/vsctl" --socket "$VSD_SOCKET" events --no-follow >/dev/null || rc=$?
        assert_eq "$rc" 0 "--no-follow ends"
        vsctl stop pe1 --kill
}

# All seqs of `vsctl events --past --json`, space-separated (a notice of
# lost events has none).
past_seqs() {
        "$B/vsctl" --socket "$VSD_SOCKET" events --past --json | jq -r 'select(.type != "events-lost") | .seq' |
                tr '\n' ' ' | sed 's/ $//'
}

# Strictly growing, by one: "3 4 5".
consecutive() { # SEQS...
        local prev= s
        for s in "$@"; do
                [ -z "$prev" ] || [ "$s" -eq $((prev + 1)) ] || return 1
                prev=$s
        done
}

# The events survive the daemon, through its journal on disk: after a
# stop, after kill -9 and after a journal with damage at its end, the past
# is shown and the sequence numbers go on where they were.
test_journal_across_restarts() {
        local before after last
        vsctl create j1 --start
        vsctl set j1 --pids 101
        vsctl set j1 --pids 102
        before=$(past_seqs)
        last=${before##* }
        note "before the stop: $before"

        vsd_stop
        vsd_up
        vsctl set j1 --pids 103
        after=$(past_seqs)
        note "after the stop: $after"
        [ "${after#"$before"}" != "$after" ] || fail "the past before the stop is gone: $after"
        consecutive $after || fail "seq after a stop: $after"
        [ "${after##* }" -gt "$last" ] || fail "seq restarted: $after"
        assert_eq "$(vsctl events j1 --past --json | jq -r .type | head -4 | tr '\n' ' ')" "created started limits-changed limits-changed " \
                "j1's first events after a stop"

        before=$after
        vsd_kill9
        vsd_up
        vsctl set j1 --pids 104
        after=$(past_seqs)
        note "after kill -9: $after"
        [ "${after#"$before"}" != "$after" ] || fail "the past before kill -9 is gone: $after"
        consecutive $after || fail "seq after kill -9: $after"

        # a torn last record and a damaged one before it: skipped, said
        # in the log, the rest kept
        before=$after
        last=${before##* }
        vsd_stop
        local j=$T/root/events.journal
        [ -s "$j" ] || fail "no journal at $j"
        sed -i '3s/"type"/"tYpe"/' "$j"
        printf '0badc0de {"seq":%s,"ti' "$((last + 1))" >>"$j"
        vsd_up
        grep -q "Event journal .*: 1 damaged record skipped, [0-9]* bytes of a torn last record cut off" "$T/vsd.log" ||
                fail "no warning of the damage: $(grep -i journal "$T/vsd.log" | tail -3)"
        vsctl set j1 --pids 105
        after=$(past_seqs)
        note "after the damage: $after"
        # the damaged third record is missing from the past, nothing else
        local want
        want=$(echo "$before" | tr ' ' '\n' | sed 3d | tr '\n' ' ' | sed 's/ $//')
        [ "${after#"$want"}" != "$after" ] || fail "past after the damage: $after (expected it to start with $want)"
        [ "$(echo "$after" | tr ' ' '\n' | sed -n '$p')" -gt "$last" ] || fail "seq after the damage: $after"
        # and a reader is told one was lost where it was
        assert_eq "$(vsctl events --past --json | jq -r 'select(.type == "events-lost") | .count')" 1 \
                "events-lost notice for the damaged record"
        # the torn end was cut off for good; the damaged record stays
        # until its segment is dropped, and is skipped again
        vsd_stop
        vsd_up
        grep "Event journal .*damaged" "$T/vsd.log" | tail -1 | grep -q ": 1 damaged record skipped, 0 bytes of a torn" ||
                fail "after a clean restart: $(grep "Event journal" "$T/vsd.log" | tail -1)"
        vsctl stop j1 --kill
}

fds_at_most() { # PID N
        [ "$(ls "/proc/$1/fd" | wc -l)" -le "$2" ]
}

# Streams end cleanly when vsd stops; clients that leave cost nothing.
test_stream_clients() {
        local pid before after k
        pid=$(vsd_pid)
        vsctl create c1 --start
        before=$(ls "/proc/$pid/fd" | wc -l)
        for k in $(seq 1 20); do
                events_bg "$T/many.$k" --past --follow
        done
        # connected once each has the backlog; then all of them are woken
        for k in $(seq 1 20); do
                wait_for grep -q '"type":"created"' "$T/many.$k"
        done
        vsctl pause c1
        for k in $(seq 1 20); do
                wait_for grep -q '"type":"paused"' "$T/many.$k"
        done
        stop_events
        wait_for fds_at_most "$pid" "$before"
        after=$(ls "/proc/$pid/fd" | wc -l)
        note "daemon fds: $before before, $after after 20 clients came and went"

        # a stream open while vsd stops ends with it, cleanly (exit 0)
        "$B/vsctl" --socket "$VSD_SOCKET" events --json --past --follow >"$T/last.out" 2>"$T/last.err" &
        k=$!
        EV_PIDS+=("$k")
        wait_for grep -q '"type":"paused"' "$T/last.out"
        vsctl resume c1
        wait_for grep -q '"type":"resumed"' "$T/last.out"
        vsd_stop
        wait "$k" || fail "vsctl events exit status $? when vsd stopped: $(cat "$T/last.err")"
        EV_PIDS=()
        vsd_up
        vsctl stop c1
}

# A fork refused at the pids limit is an event too (counter, within a sweep).
test_pids_max_event() {
        local line
        vsctl create pm1 --pids 20 --start
        events_bg "$T/ev.out" --past --follow
        wait_for grep -q '"type":"started"' "$T/ev.out"
        vsctl exec pm1 -- /probe forkbomb 100 >/dev/null
        wait_for grep -q '"type":"pids-max"' "$T/ev.out"
        line=$(grep -m1 '"type":"pids-max"' "$T/ev.out")
        note "$line"
        [ "$(json .refused <<<"$line")" -ge 1 ] || fail "refused count: $line"
        assert_eq "$(json .pids_limit <<<"$line")" 20 "pids limit in the event"
        stop_events
}

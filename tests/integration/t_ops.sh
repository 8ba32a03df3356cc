# SPDX-License-Identifier: LGPL-2.1-or-later
# Long operations: snapshots, restores, clones and template builds run as
# operations off the daemon's loop, with an id, progress, a result, and a
# cancel that leaves nothing behind.  The copies are slowed down by the
# daemon's test hook (VSD_TEST_COPY_BPS), so that the test acts while one
# runs, however fast the host's disk.

# timeout test_snapshot_job_answers_meanwhile 400
# timeout test_cancel_leaves_nothing 400
# timeout test_progress_lines 300

op_json() { # ID
        vsctl --json op show "$1"
}

op_field() { # ID JQ-FILTER
        op_json "$1" | json "$2"
}

op_running_with_progress() { # ID
        local j
        j=$(op_json "$1") || return 1
        [ "$(json .state <<<"$j")" = running ] && [ "$(json '.progress.done // 0' <<<"$j")" -gt 0 ]
}

# An instance whose layer holds MB megabytes of data (not holes: a copy
# has to move them).
make_full() { # NAME MB
        vsctl create "$1" --disk 3G --start
        vsctl exec "$1" -- sh -c "dd if=/dev/zero of=/root/big bs=1M count=$2 conv=fsync 2>/dev/null"
}

# Restart the daemon with its copies slowed to BPS bytes a second ("" for
# full speed); running instances stay and are adopted again.
copies_at() { # BPS
        vsd_stop
        VSD_TEST_COPY_BPS=$1 vsd_up
}

# Milliseconds a command takes.
took_ms() {
        local t0 t1
        t0=$(date +%s%N)
        "$@" >/dev/null
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000000))
}

test_snapshot_job_answers_meanwhile() {
        local id d1 d2 total ms snaps
        # 2 GiB at 256 MiB/s: about 8 s of copying
        copies_at 256M
        make_full j1 2048
        vsctl create j2 --start
        id=$(vsctl snapshot j1 s1 --detach)
        assert_match "$id" '^[0-9a-f]{12}$' "operation id"
        wait_for op_running_with_progress "$id"
        assert_eq "$(op_field "$id" .kind)/$(op_field "$id" .target)/$(op_field "$id" .object)" snapshot/j1/s1 \
                "what the operation is"
        total=$(op_field "$id" .progress.total)
        [ "$total" -ge $((2048 << 20)) ] || fail "progress total $total, below the layer's 2 GiB of data"
        d1=$(op_field "$id" .progress.done)
        # the daemon answers everything else while it copies
        ms=$(took_ms vsctl list)
        note "list while copying: ${ms} ms"
        ms=$(took_ms vsctl exec j2 -- echo answered)
        note "exec into another instance while copying: ${ms} ms"
        assert_eq "$(vsctl exec j2 -- echo answered)" answered "exec while copying"
        ms=$(took_ms vsctl stats j1)
        note "stats of the frozen source while copying: ${ms} ms"
        vsctl stats j2 >/dev/null
        assert_eq "$(vsctl --json op list | json --arg id "$id" '.[] | select(.id == $id) | .state')" running \
                "the operation in the list"
        # all of that was answered before the copy ended
        assert_eq "$(op_field "$id" .state)" running "the operation after the other requests"
        wait_for sh -c "[ \$(\"$B/vsctl\" --socket '$VSD_SOCKET' --json op show $id | jq -r .progress.done) -gt $d1 ]"
        d2=$(op_field "$id" .progress.done)
        [ "$d2" -gt "$d1" ] || fail "progress did not move: $d1 then $d2"
        # the source is busy meanwhile, and says so at once (a stop and a
        # forced destroy used to wait for ever)
        expect_fail timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" stop j1
        assert_match "$LAST_ERR" "busy: a snapshot is being taken" "a stop during the copy"
        expect_fail timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" destroy j1 --force
        assert_match "$LAST_ERR" "busy: a snapshot is being taken" "a forced destroy during the copy"
        vsctl op wait "$id"
        assert_eq "$(op_field "$id" .state)" succeeded "state at the end"
        assert_eq "$(op_field "$id" .progress.done)" "$total" "progress at the end"
        snaps=$(vsctl --json snapshots j1 | json '.[].name')
        assert_eq "$snaps" s1 "snapshots after the operation"
        assert_eq "$(vsctl exec j1 -- stat -c %s /root/big)" $((2048 << 20)) "the source after its copy"
}

# Cancelled, a copy leaves nothing: no snapshot, no hidden partial file, no
# clone, no restored half, no helper or cgroup, and the instance as it was.
test_cancel_leaves_nothing() {
        local id snapdir
        copies_at 64M
        make_full c1 512
        snapdir=$T/root/instances/c1/snapshots

        id=$(vsctl snapshot c1 s1 --detach)
        wait_for op_running_with_progress "$id"
        vsctl op cancel "$id"
        assert_eq "$(op_field "$id" .state)" cancelled "state after the cancel"
        assert_match "$(op_field "$id" .error)" "^Failed to take snapshot s1 of 'c1': cancelled$" "its error"
        assert_eq "$(vsctl --json snapshots c1 | json length)" 0 "snapshots after the cancel"
        assert_eq "$(ls -A "$snapdir" 2>/dev/null)" "" "files left in the snapshots directory"
        assert_eq "$(find /sys/fs/cgroup -maxdepth 3 -path "*$VSD_CG/.work-*" | wc -l)" 0 "work cgroups left"
        assert_eq "$(inst_state c1)" running "the source after the cancel"
        assert_eq "$(vsctl exec c1 -- echo thawed)" thawed "exec into the source (thawed)"
        # ended: a second cancel is refused, and says why
        expect_fail vsctl op cancel "$id"
        assert_match "$LAST_ERR" "has ended \(cancelled\)" "cancel of an ended operation"

        # a clone cancelled is no instance
        id=$(vsctl clone c1 c2 --detach)
        wait_for op_running_with_progress "$id"
        vsctl op cancel "$id"
        assert_eq "$(vsctl --json list | json '.[].name' | tr '\n' ' ')" "c1 " "instances after a cancelled clone"
        [ ! -e "$T/root/instances/c2" ] || fail "the cancelled clone's directory is left: $(ls -A "$T/root/instances")"
        ls -A "$T/root/instances" | grep -q '^\.' && fail "hidden leftovers: $(ls -A "$T/root/instances")"

        # a restore cancelled leaves the layer as it was
        vsctl snapshot c1 s2
        vsctl exec c1 -- sh -c 'echo after >/root/marker; sync'
        vsctl stop c1
        id=$(vsctl restore-snapshot c1 s2 --detach)
        wait_for op_running_with_progress "$id"
        vsctl op cancel "$id"
        assert_eq "$(ls -A "$T/root/instances/c1" | grep -c restore)" 0 "restore leftovers"
        vsctl start c1
        assert_eq "$(vsctl exec c1 -- cat /root/marker)" after "the layer after a cancelled restore"

        # the same snapshot name is free again, and the copy completes
        copies_at ""
        vsctl snapshot c1 s1
        assert_eq "$(vsctl --json snapshots c1 | json '.[].name' | tr '\n' ' ')" "s1 s2 " "snapshots at the end"
        assert_eq "$(vsctl --json op list | jq '[.[] | select(.state == "running")] | length')" 0 \
                "operations still running"
}

# Without a terminal, vsctl prints a progress line per tenth on stderr and
# nothing more on stdout than before; with --json the same JSON as before.
test_progress_lines() {
        local out pcts
        copies_at 128M
        make_full p1 768
        vsctl snapshot p1 s1 >"$T/out" 2>"$T/err"
        assert_eq "$(cat "$T/out")" "" "stdout"
        note "progress: $(cat "$T/err")"
        grep -v '^snapshot s1 of p1: [0-9]*% (.* of .*)$' "$T/err" && fail "a line that is no progress line"
        pcts=$(sed -n 's/^snapshot s1 of p1: \([0-9]*\)%.*/\1/p' "$T/err" | tr '\n' ' ')
        [ "$(wc -l <"$T/err")" -ge 3 ] || fail "fewer than 3 progress lines for a copy of seconds: $pcts"
        sort -n -c <<<"$(tr ' ' '\n' <<<"$pcts" | sed '/^$/d')" || fail "progress went back: $pcts"
        # on a terminal: one bar, redrawn, to 100%
        out=$(python3 - "$B/vsctl" "$VSD_SOCKET" <<'PY'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "--socket", sys.argv[2], "snapshot", "p1", "s3"])
out = b""
while True:
    try:
        d = os.read(fd, 4096)
    except OSError:
        break
    if not d:
        break
    out += d
_, st = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(st))
PY
)
        note "on a terminal: $(tr '\r' '|' <<<"$out")"
        [ "$(grep -o 'snapshot s3 of p1 \[[#.]*\] *[0-9]*%' <<<"$out" | sort -u | wc -l)" -ge 2 ] ||
                fail "no bar redrawn on the terminal: $out"
        grep -q '\[#*\] 100% ' <<<"$out" || fail "the bar did not reach 100%: $out"
        out=$(vsctl --json snapshot p1 s2 2>/dev/null)
        assert_eq "$(json -c . <<<"$out")" '{"instance":"p1","name":"s2"}' "--json answer"
        out=$(vsctl --json clone p1 p2 2>/dev/null)
        assert_eq "$(json .name <<<"$out")/$(json .state <<<"$out")" p2/stopped "--json answer of a clone"
}

test_op_errors() {
        local id
        vsctl create e1
        expect_fail vsctl op show 0123456789ab
        assert_match "$LAST_ERR" "^vsctl: no operation '0123456789ab'" "unknown id"
        expect_fail vsctl op cancel nothex
        assert_match "$LAST_ERR" "invalid operation id 'nothex'" "bad id"
        expect_fail --code 2 vsctl op frobnicate
        expect_fail --code 2 vsctl clone e1 e2 --start --detach
        assert_eq "$(vsctl --json list | json length)" 1 "instances after the refusals"
        # a refused copy starts no operation
        expect_fail vsctl snapshot e1 'bad/name' --detach
        expect_fail vsctl snapshot nosuch s1 --detach
        assert_eq "$(vsctl --json op list | json length)" 0 "operations after refusals"
        # an ended operation is still shown, with its result
        id=$(vsctl snapshot e1 s1 --detach)
        vsctl op wait "$id"
        assert_match "$(vsctl op show "$id")" "^$id snapshot of e1 making s1: succeeded" "op show"
        assert_match "$(vsctl op list | tail -n1)" "^$id +snapshot +e1 +s1 +succeeded" "op list"
        # detach=1 is the only query a long request takes
        assert_eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST --unix-socket "$VSD_SOCKET" \
                -d '{"name":"s9"}' 'http://vsd/v1/instances/e1/snapshots?detatch=1')" 400 "a misspelt query"
        assert_eq "$(vsctl --json snapshots e1 | json length)" 1 "snapshots after the refusal"
}

# A template build is an operation too: listed, and cancelled with what it
# built so far.
test_template_build_cancel() {
        local id
        mkdir -p "$T/builders/slow"
        cat >"$T/builders/slow/build.sh" <<'SH'
#!/bin/sh
mkdir -p "$1/rootfs"
echo started
exec sleep 600
SH
        chmod +x "$T/builders/slow/build.sh"
        vsd_stop
        sed -i "s|^builders = .*|builders = $T/builders|" "$T/vsd.conf"
        vsd_up
        id=$(vsctl template build t1 --from slow --detach)
        assert_match "$id" '^[0-9a-f]{12}$' "operation id"
        assert_eq "$(op_field "$id" .kind)/$(op_field "$id" .target)/$(op_field "$id" .state)" \
                template-build/t1/running "the build's operation"
        vsctl op cancel "$id"
        assert_match "$(op_field "$id" .error)" "^Failed to build template 't1': cancelled$" "its error"
        [ -z "$(ls -A "$T/root/templates" | grep t1)" ] || fail "left behind: $(ls -A "$T/root/templates")"
        assert_eq "$(find /sys/fs/cgroup -maxdepth 3 -path "*$VSD_CG/.work-*" | wc -l)" 0 "work cgroups left"
}

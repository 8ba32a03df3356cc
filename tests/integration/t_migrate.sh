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
        assert_match "$out" "^mv1 moved to h2: down for [0-9.]+ s, [0-9.]+ s in all \\([0-9.]+[KMGT]? copied while it ran, [0-9.]+[KMGT]? once down\\)$" "what migrate prints"
        assert_eq "$(h_state 2 mv1)" running "state on the target"
        assert_eq "$(host_vsctl 2 exec mv1 -- cat /root/data)" moved-data "data on the target"
        assert_eq "$(host_vsctl 2 --json info mv1 | json .mac)" "$mac" "MAC on the target"
        assert_eq "$(host_vsctl 2 --json info mv1 | json .ip)" "$ip" "address on the target"
        assert_eq "$(host_vsctl 2 --json info mv1 | json .memory)" 134217728 "memory limit on the target"
        host_vsctl 2 exec mv1 -- ping -c1 -W2 "$VSD_NET4.1" >/dev/null || fail "the moved instance does not reach its gateway"
        h_clean 1 mv1
}

# What a move put on the target stays there across its daemon's restarts:
# a stopped instance moved stays, stopped; a running one moved (it ran
# there) stays, running; only a copy that was to run there and never did
# is removed (test_migrate_live_target_daemon_killed_during_restore).
# timeout test_migrate_target_restart_keeps_what_moved 240
test_migrate_target_restart_keeps_what_moved() {
        hosts_up 2
        host_vsctl 1 create mv8
        host_vsctl 1 create mv9 --start
        host_vsctl 1 migrate mv8 h2 --cold >/dev/null
        host_vsctl 1 migrate mv9 h2 --cold >/dev/null
        [ ! -e "$T/root-h2/instances/mv8/incoming" ] || fail "the stopped one is marked as a copy to run"
        [ ! -e "$T/root-h2/instances/mv9/incoming" ] || fail "the running one is still marked after its start there"
        host_daemon_kill9 2
        host_daemon_up 2
        assert_eq "$(h_state 2 mv8)" stopped "the moved stopped instance after the target's restart"
        assert_eq "$(h_state 2 mv9)" running "the moved running instance after the target's restart"
        h_clean 1 mv8
        h_clean 1 mv9
}

# The source's daemon killed once the target has started the instance but
# before the source heard it (VSD_TEST_MOVED_HOLD holds its helper there):
# the next daemon asks the target instead of starting its own copy again.
# It runs on exactly one host, the target, with its data; nothing is left
# of it on the source.
# timeout test_migrate_cold_source_killed_after_target_started 240
test_migrate_cold_source_killed_after_target_started() {
        local client k on=0
        VSD_TEST_MOVED_HOLD=$T/moved-hold hosts_up 2
        host_vsctl 1 create mv10 --start
        host_vsctl 1 exec mv10 -- sh -c 'echo moved-data >/root/data'
        touch "$T/moved-hold"
        host_vsctl 1 migrate mv10 h2 --cold >/dev/null 2>"$T/migrate.err" &
        client=$!
        # (a move that ended before is said at once)
        wait_for -t 120 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 2)' --json info mv10 2>/dev/null | jq -r .state)\" = running ] ||
                ! kill -0 $client 2>/dev/null"
        [ "$(h_state 2 mv10)" = running ] || fail "the move ended before the target ran it: $(cat "$T/migrate.err")"
        host_daemon_kill9 1
        wait "$client" && fail "the move said it ended though its daemon was killed"
        rm "$T/moved-hold"
        host_daemon_up 1
        wait_for -t 60 sh -c "! '$B/vsctl' --socket '$(host_socket 1)' info mv10 >/dev/null 2>&1"
        sleep 1 # nothing more happens after: still one
        for k in 1 2; do
                [ "$(h_state "$k" mv10 2>/dev/null)" != running ] || on=$((on + 1))
        done
        assert_eq "$on" 1 "hosts running mv10"
        assert_eq "$(h_state 2 mv10)" running "state on the target"
        assert_eq "$(host_vsctl 2 exec mv10 -- cat /root/data)" moved-data "data on the target"
        h_clean 1 mv10
        [ ! -e "$T/run-h1/mv10.migrating" ] || fail "the move's record stays"
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

# ---- the pre-copy: the image goes while it runs ------------------------------

# The phase of operation ID on host K ("" while it has none).
op_phase() { # K ID
        host_vsctl "$1" --json op show "$2" | jq -r '.progress.phase // ""'
}

# The cold move of a running instance copies its image while it runs:
# what it writes, removes and plants meanwhile (a new file, a changed one,
# a deleted one, a symbolic link out and a FIFO) is what runs on the
# target; only what changed goes once it is down, and the downtime is a
# part of the move.
# timeout test_migrate_cold_precopy_takes_what_changed 300
test_migrate_cold_precopy_takes_what_changed() {
        local id final shadow
        VSD_TEST_COPY_BPS=12M VSD_TEST_PRECOPY_HOLD=$T/precopy-hold hosts_up 2
        host_vsctl 1 create mv5 --disk 1G --start
        # 32 MiB that stay as they are beside the 16 MiB rewritten below:
        # the final pass is the smaller
        host_vsctl 1 exec mv5 -- sh -c 'dd if=/dev/urandom of=/root/blob bs=1M count=16 2>/dev/null &&
                dd if=/dev/urandom of=/root/base bs=1M count=32 2>/dev/null &&
                echo before >/root/data && echo doomed >/root/gone && sync'
        shadow=$(sha256sum /etc/shadow)
        # the pre-copy waits, its first pass sent, until the writes below
        # are done (VSD_TEST_PRECOPY_HOLD)
        touch "$T/precopy-hold"
        id=$(host_vsctl 1 migrate mv5 h2 --cold --detach)
        wait_for -t 60 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 1)' --json op show $id | jq -r .progress.phase)\" = pre-copy ]"
        assert_match "$(host_vsctl 1 op show "$id")" "migrate of mv5 making h2: running, pre-copy" "op show during the pre-copy"
        # it runs, and writes, while its image goes: a file read already
        # (the blob, written first, lies early in the image) rewritten once
        # most of the image went, and new ones
        wait_for -t 120 sh -c "'$B/vsctl' --socket '$(host_socket 1)' --json op show $id |
                jq -e '.progress.phase == \"pre-copy\" and .progress.done * 10 >= .progress.total * 6' >/dev/null"
        host_vsctl 1 exec mv5 -- sh -c 'dd if=/dev/urandom of=/root/blob bs=1M count=16 conv=notrunc 2>/dev/null &&
                sha256sum /root/blob >/root/blob.sum &&
                dd if=/dev/urandom of=/root/late bs=64k count=40 2>/dev/null &&
                sha256sum /root/late >/root/late.sum && echo after >/root/data && rm /root/gone &&
                ln -s /etc/shadow /root/link && mkfifo /root/fifo && sync'
        assert_eq "$(op_phase 1 "$id")" pre-copy "the phase while it ran"
        rm "$T/precopy-hold"
        final=$(host_vsctl 1 --json op wait "$id")
        note "$(echo "$final" | jq -c .details)"
        assert_eq "$(echo "$final" | jq -r .state)" succeeded "the move"
        assert_eq "$(h_state 2 mv5)" running "state on the target"
        host_vsctl 2 exec mv5 -- sha256sum -c /root/late.sum >/dev/null || fail "the file written during the move differs"
        assert_eq "$(host_vsctl 2 exec mv5 -- cat /root/data)" after "a file changed during the move"
        host_vsctl 2 exec mv5 -- test ! -e /root/gone || fail "a file removed during the move is there"
        assert_eq "$(host_vsctl 2 exec mv5 -- readlink /root/link)" /etc/shadow "the symbolic link"
        host_vsctl 2 exec mv5 -- test -p /root/fifo || fail "the FIFO is not a FIFO on the target"
        host_vsctl 2 exec mv5 -- sha256sum -c /root/blob.sum >/dev/null || fail "the file rewritten during the move differs"
        assert_eq "$(sha256sum /etc/shadow)" "$shadow" "the host's file the link names"
        # only what changed went once it was down; it was down for a
        # part of the move
        local pre fin down total
        pre=$(echo "$final" | json .details.precopy_bytes)
        fin=$(echo "$final" | json .details.final_bytes)
        down=$(echo "$final" | json .details.downtime_ms)
        total=$(echo "$final" | json .details.total_ms)
        # the rewritten blob (16 MiB) went again, not the whole image
        [ "$fin" -ge $((8 << 20)) ] && [ "$fin" -lt "$pre" ] || fail "final pass $fin bytes after a pre-copy of $pre"
        [ "$down" -lt "$total" ] || fail "down $down ms of a move of $total ms"
        h_clean 1 mv5
}

# The link is cut while what changed goes (the instance down): it runs on
# the source again, and the target keeps nothing of what came before.
# timeout test_migrate_cold_final_pass_cut 300
test_migrate_cold_final_pass_cut() {
        local id sshd p final
        VSD_TEST_COPY_BPS=2M VSD_TEST_PRECOPY_HOLD=$T/precopy-hold hosts_up 2
        host_vsctl 1 create mv6 --disk 1G --start
        host_vsctl 1 exec mv6 -- sh -c 'dd if=/dev/urandom of=/root/blob bs=1M count=16 2>/dev/null && echo kept >/root/data && sync'
        # (the pre-copy waits, its first pass sent, for the writes below)
        touch "$T/precopy-hold"
        id=$(host_vsctl 1 migrate mv6 h2 --cold --detach)
        wait_for -t 60 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 1)' --json op show $id | jq -r .progress.phase)\" = pre-copy ]"
        # enough that changes for the final pass to take seconds
        host_vsctl 1 exec mv6 -- sh -c 'dd if=/dev/urandom of=/root/late bs=1M count=12 2>/dev/null && sync'
        rm "$T/precopy-hold"
        wait_for -t 120 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 1)' --json op show $id | jq -r .progress.phase)\" = 'final copy' ]"
        assert_match "$(host_vsctl 1 op show "$id")" "final copy" "op show during the final copy"
        test -e "$T/root-h2/instances/.mv6.new/disk.img" || fail "nothing staged on the target during the final copy"
        sshd=$(cat "$T/run-h2/sshd.spid")
        for p in $(pgrep -P "$sshd"); do
                kill -KILL "$p"
        done
        final=$(host_vsctl 1 --json op wait "$id")
        note "$(echo "$final" | jq -c '{state, error}')"
        assert_eq "$(echo "$final" | jq -r .state)" failed "the move"
        assert_match "$(echo "$final" | jq -r .error)" "^Failed to move 'mv6' to h2: " "why"
        wait_for -t 60 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 1)' --json info mv6 | jq -r .state)\" = running ]"
        assert_eq "$(host_vsctl 1 exec mv6 -- cat /root/data)" kept "data on the source"
        host_vsctl 1 exec mv6 -- test -s /root/late || fail "what it wrote during the move, on the source"
        wait_for -t 30 sh -c "! ls -A '$T/root-h2/instances' | grep -q mv6"
        h_clean 2 mv6
        [ ! -e "$T/run-h1/mv6.migrating" ] || fail "the move's record stays"
}

# The source's daemon killed during the pre-copy (the instance runs on:
# the next daemon drops the record) and during the final copy (it is down:
# the next one starts it again); the target keeps nothing either time.
precopy_daemon_killed() { # NAME CREATE-OPTIONS...
        local name=$1 id phase
        shift
        VSD_TEST_COPY_BPS=2M VSD_TEST_PRECOPY_HOLD=$T/precopy-hold hosts_up 2
        host_vsctl 1 create "$name" "$@" --start
        host_vsctl 1 exec "$name" -- sh -c 'dd if=/dev/urandom of=/root/blob bs=1M count=16 2>/dev/null && echo kept >/root/data && sync'
        for phase in pre-copy 'final copy'; do
                # (the pre-copy waits, its first pass sent, while the file is there)
                touch "$T/precopy-hold"
                id=$(host_vsctl 1 migrate "$name" h2 --cold --detach)
                wait_for -t 60 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 1)' --json op show $id | jq -r .progress.phase)\" = pre-copy ]"
                if [ "$phase" = 'final copy' ]; then
                        host_vsctl 1 exec "$name" -- sh -c 'dd if=/dev/urandom of=/root/late bs=1M count=12 2>/dev/null && sync'
                        rm "$T/precopy-hold"
                        wait_for -t 120 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 1)' --json op show $id | jq -r .progress.phase)\" = 'final copy' ]"
                        grep -q '"phase":"copy"' "$T/run-h1/$name.migrating" || fail "the record's phase: $(cat "$T/run-h1/$name.migrating")"
                else
                        grep -q '"phase":"precopy"' "$T/run-h1/$name.migrating" || fail "the record's phase: $(cat "$T/run-h1/$name.migrating")"
                fi
                host_daemon_kill9 1
                rm -f "$T/precopy-hold"
                VSD_TEST_COPY_BPS=2M VSD_TEST_PRECOPY_HOLD=$T/precopy-hold host_daemon_up 1
                wait_for -t 60 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 1)' --json info $name | jq -r .state)\" = running ]"
                assert_eq "$(host_vsctl 1 exec "$name" -- cat /root/data)" kept "data on the source (killed during the $phase)"
                [ ! -e "$T/run-h1/$name.migrating" ] || fail "the move's record stays (killed during the $phase)"
                wait_for -t 30 sh -c "! ls -A '$T/root-h2/instances' | grep -q $name"
                h_clean 2 "$name"
        done
        host_vsctl 1 exec "$name" -- test -s /root/late || fail "what it wrote before the last kill"
}

# timeout test_migrate_cold_precopy_daemon_killed 300
test_migrate_cold_precopy_daemon_killed() {
        precopy_daemon_killed mv7 --disk 1G
}

# ---- the pre-copy of a directory layer (--storage dir) -----------------------

# What the instance sees of its /root: each path with its type and mode,
# and but for a directory its size.
root_manifest() { # K NAME
        host_vsctl "$1" exec "$2" -- sh -c 'find /root | sort | while read -r f; do
                if [ -d "$f" ] && [ ! -L "$f" ]; then stat -c "%n %F %a" "$f"; else stat -c "%n %F %a %s" "$f"; fi; done'
}

# A running dir-backend instance moved cold: its tree goes while it runs,
# and what it does meanwhile to files already sent and to others (one
# rewritten in place at the same size, a new file, one removed, a
# directory replaced by a symbolic link to /etc, files replaced by a FIFO,
# a directory and a symbolic link, a new FIFO) is exactly what runs on the
# target.  No host file is touched through the links (the directory turned
# link held a file named as one in the host's /etc), and once down only
# what changed went.
# timeout test_migrate_cold_precopy_dir_takes_what_changed 300
test_migrate_cold_precopy_dir_takes_what_changed() {
        local id final shadow canary k sent="" src dst
        VSD_TEST_COPY_BPS=2M VSD_TEST_PRECOPY_HOLD=$T/precopy-hold hosts_up 2
        canary=vsd-canary-$$
        echo host-file >"/etc/$canary"
        trap "rm -f '/etc/$canary'" EXIT
        shadow=$(sha256sum /etc/shadow)
        host_vsctl 1 create md1 --storage dir --start
        # 24 files of 1 MiB: a pre-copy of about 12 s at this pace
        host_vsctl 1 exec md1 -- sh -c "mkdir -p /root/c /root/dd && for k in \$(seq 1 24); do
                dd if=/dev/urandom of=/root/c/f\$k bs=1M count=1 2>/dev/null; done &&
                echo doomed >/root/gone && echo inside >/root/dd/$canary && echo a >/root/tofifo &&
                echo b >/root/todir && echo c >/root/tolink && sync"
        src=$T/root-h1/instances/md1/upper/root/c
        dst=$T/root-h2/instances/.md1.new/upper/root/c
        # the pre-copy waits, its first pass sent, until the changes below
        # are done (VSD_TEST_PRECOPY_HOLD)
        touch "$T/precopy-hold"
        id=$(host_vsctl 1 migrate md1 h2 --cold --detach)
        wait_for -t 60 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 1)' --json op show $id | jq -r .progress.phase)\" = pre-copy ]"
        assert_match "$(host_vsctl 1 op show "$id")" "migrate of md1 making h2: running, pre-copy" "op show during the pre-copy"
        # a file that went already (whole on the target) is rewritten in
        # place, the same size, while the rest still goes
        wait_for -t 60 sh -c "for k in \$(seq 1 24); do cmp -s '$src'/f\$k '$dst'/f\$k && exit 0; done; exit 1"
        for k in $(seq 1 24); do
                if cmp -s "$src/f$k" "$dst/f$k"; then
                        sent=f$k
                        break
                fi
        done
        note "rewriting $sent, sent already"
        host_vsctl 1 exec md1 -- sh -c "dd if=/dev/urandom of=/root/c/$sent bs=1M count=1 conv=notrunc 2>/dev/null &&
                sha256sum /root/c/* >/root/c.sum &&
                dd if=/dev/urandom of=/root/late bs=64k count=4 2>/dev/null && sha256sum /root/late >/root/late.sum &&
                rm /root/gone && rm -r /root/dd && ln -s /etc /root/dd &&
                rm /root/tofifo && mkfifo /root/tofifo && rm /root/todir && mkdir /root/todir &&
                echo in-dir >/root/todir/x && rm /root/tolink && ln -s /etc/shadow /root/tolink &&
                mkfifo /root/fifo && sync"
        assert_eq "$(op_phase 1 "$id")" pre-copy "the phase while it ran"
        local want
        want=$(root_manifest 1 md1)
        rm "$T/precopy-hold"
        final=$(host_vsctl 1 --json op wait "$id")
        note "$(echo "$final" | jq -c .details)"
        assert_eq "$(echo "$final" | jq -r .state)" succeeded "the move"
        assert_eq "$(h_state 2 md1)" running "state on the target"
        assert_eq "$(root_manifest 2 md1)" "$want" "/root on the target (types, sizes, modes)"
        host_vsctl 2 exec md1 -- sha256sum -c /root/c.sum >/dev/null || fail "the files of /root/c differ (rewritten: $sent)"
        host_vsctl 2 exec md1 -- sha256sum -c /root/late.sum >/dev/null || fail "the file written during the move differs"
        host_vsctl 2 exec md1 -- test ! -e /root/gone || fail "a file removed during the move is there"
        assert_eq "$(host_vsctl 2 exec md1 -- readlink /root/dd)" /etc "the directory turned symbolic link"
        assert_eq "$(host_vsctl 2 exec md1 -- readlink /root/tolink)" /etc/shadow "the file turned symbolic link"
        host_vsctl 2 exec md1 -- test -p /root/tofifo || fail "the file turned FIFO is not a FIFO on the target"
        host_vsctl 2 exec md1 -- test -p /root/fifo || fail "the new FIFO is not a FIFO on the target"
        assert_eq "$(host_vsctl 2 exec md1 -- cat /root/todir/x)" in-dir "the file turned directory"
        # the host's files the links name, untouched
        assert_eq "$(cat "/etc/$canary")" host-file "the host's /etc/$canary"
        assert_eq "$(sha256sum /etc/shadow)" "$shadow" "the host's /etc/shadow"
        local pre fin
        pre=$(echo "$final" | json .details.precopy_bytes)
        fin=$(echo "$final" | json .details.final_bytes)
        # the rewritten MiB went again, not the whole tree
        [ "$fin" -ge $((1 << 20)) ] && [ "$fin" -lt "$pre" ] || fail "final pass $fin bytes after a pre-copy of $pre"
        h_clean 1 md1
}

# timeout test_migrate_cold_precopy_dir_daemon_killed 300
test_migrate_cold_precopy_dir_daemon_killed() {
        precopy_daemon_killed md2 --storage dir
}

# $T/oldvsctl/vsctl, an older vsd's vsctl for HOST_PATH_k: its version
# lists no features, its import refuses a pre-copy's members (disk.delta,
# upper.delta, upper.deleted/) as an older one does, and it knows no
# receive-pages (asked: $T/oldvsctl/pages-asked).
older_vsctl() {
        mkdir -p "$T/oldvsctl"
        printf '%s\n' '#!/bin/sh' \
                'if [ "$1" = --json ] && [ "$2" = version ]; then' \
                "        '$B/vsctl' --json version | jq -c 'del(.daemon.features)'; exit" \
                'fi' \
                'if [ "$1" = receive-pages ]; then' \
                "        touch '$T/oldvsctl/pages-asked'" \
                '        echo "vsctl: unknown command '"'"'receive-pages'"'"'" >&2; exit 2' \
                'fi' \
                'if [ "$1" = import ] && [ "$2" = - ]; then' \
                "        a=\$(mktemp '$T/oldvsctl/import.XXXXXX') || exit 1" \
                '        cat >"$a"' \
                '        m=$(tar -tf "$a" 2>/dev/null | grep -m1 -E "^(disk\.delta|upper\.delta|upper\.deleted)")' \
                "        [ -z \"\$m\" ] || { rm -f \"\$a\"; echo \"vsctl: Failed to import: the archive has a member an instance has not: \$m\" >&2; exit 1; }" \
                "        '$B/vsctl' import - <\"\$a\"; r=\$?; rm -f \"\$a\"; exit \$r" \
                'fi' \
                "exec '$B/vsctl' \"\$@\"" >"$T/oldvsctl/vsctl"
        chmod +x "$T/oldvsctl/vsctl"
}

# A target whose vsd is older (older_vsctl): learnt before anything
# stops, so a cold move of a running instance goes as a whole copy,
# stopped first, and says why; it is not stopped for a pre-copy the
# target would refuse once it is down.
# timeout test_migrate_cold_older_target_copies_whole 300
test_migrate_cold_older_target_copies_whole() {
        local name out op want
        older_vsctl
        HOST_PATH_2="$T/oldvsctl" hosts_up 2
        # the source's own vsd lists them
        assert_eq "$(host_vsctl 1 --json version | jq -c '.daemon.features')" \
                '["precopy-image","precopy-tree","receive-pages","template-import","precopy-memory"]' "the source's features"
        assert_eq "$(host_ssh 2 vsctl --json version | jq -c '.daemon.features')" null "the older target's features"
        # both made first: each keeps its own address
        for name in mo1:image mo2:dir; do
                host_vsctl 1 create "${name%%:*}" --storage "${name#*:}" --start
                host_vsctl 1 exec "${name%%:*}" -- sh -c 'echo moved-data >/root/data && sync'
        done
        for name in mo1:image mo2:dir; do
                out=$(host_vsctl 1 migrate "${name%%:*}" h2 --cold)
                note "$out"
                want=precopy-image
                [ "${name#*:}" = image ] || want=precopy-tree
                assert_match "$out" "copied whole once down: h2 cannot take a pre-copy: its vsd \\([0-9.]+\\) does not list $want\\)$" \
                        "what migrate prints (${name#*:})"
                op=$(host_vsctl 1 --json op list | jq -c '[.[] | select(.kind == "migrate")][-1]')
                note "$(echo "$op" | jq -c .details)"
                assert_eq "$(echo "$op" | jq -r .state)" succeeded "the move (${name#*:})"
                assert_eq "$(echo "$op" | jq -r .details.precopy)" false "details.precopy (${name#*:})"
                assert_eq "$(echo "$op" | jq -r '.details.precopy_bytes // "none"')" none "details.precopy_bytes (${name#*:})"
                assert_eq "$(h_state 2 "${name%%:*}")" running "state on the target (${name#*:})"
                assert_eq "$(host_vsctl 2 exec "${name%%:*}" -- cat /root/data)" moved-data "data on the target (${name#*:})"
                h_clean 1 "${name%%:*}"
        done
        [ -z "$(ls "$T/oldvsctl" | grep import)" ] || fail "the older import's copies stay"
}

# ---- live (vsctl migrate NAME HOST --live) ----------------------------------

needs_criu() {
        [ -x /usr/local/lib/vsd/criu/criu ] || fail "CRIU is not installed (make deps)"
}

# The console's shell of NAME on host K at its prompt: CRIU refuses a dump
# while busybox sh is between opening /dev/tty and taking the terminal
# (tests/lib.sh).
live_settled() { # K NAME
        console_shell_settled "$(host_cg "$1")" "$2"
}

# A process of NAME's on host K, by its pid inside: the same pid after a
# failed move says it was restored, not started again.
sleeper_start() { # K NAME
        host_vsctl "$1" exec "$2" -- sh -c 'sleep 7777 </dev/null >/dev/null 2>&1 &'
        live_settled "$1" "$2"
}
sleeper_pid() { # K NAME
        host_vsctl "$1" exec "$2" -- sh -c "ps -o pid,args | awk '/sleep 7777/ && !/awk/ {print \$1; exit}'"
}

# The echo client CPID ($T/echo.out) still hears its lines: three more
# come, then it is told to stop and ends well (the connection was kept).
echo_goes_on() { # CPID
        local at0
        at0=$(grep -c '^at ' "$T/echo.out")
        wait_for -t 60 sh -c "[ \$(grep -c '^at ' '$T/echo.out') -ge $((at0 + 3)) ]"
        touch "$T/echo.stop"
        wait "$1" || fail "the connection broke: $(tail -n1 "$T/echo.out")"
}

# A client on the LAN keeps one TCP connection to an echo server inside the
# instance busy while it moves: every byte comes back, none lost or reset;
# the same address and MAC answer on the target, where the LAN's bridge
# sends its MAC right after the move (the target's gratuitous ARP).
# timeout test_migrate_live_keeps_a_tcp_connection 300
test_migrate_live_keeps_a_tcp_connection() {
        needs_criu
        local ip mac out cpid
        HOSTS_SHARED_LAN=1 hosts_up 2
        host_client_up
        host_vsctl 1 create lv1 --start
        host_vsctl 1 exec lv1 -- sh -c 'echo live-data >/root/data'
        ip=$(host_vsctl 1 --json info lv1 | json .ip | cut -d, -f1 | cut -d/ -f1)
        mac=$(host_vsctl 1 --json info lv1 | json .mac)
        host_vsctl 1 exec lv1 -- sh -c 'nc -l -p 7000 -e cat </dev/null >/dev/null 2>&1 &'
        wait_for host_vsctl 1 exec lv1 -- sh -c 'netstat -ltn | grep -q :7000'
        sleeper_start 1 lv1
        local pid0
        pid0=$(sleeper_pid 1 lv1)
        nsenter --net="/run/netns/$(host_client_ns)" python3 "$VSD_SRC/tests/integration/echoclient.py" "$ip" 7000 \
                "$T/echo.stop" 60 >"$T/echo.out" 2>&1 &
        cpid=$!
        wait_for grep -q '^at 40$' "$T/echo.out"
        assert_eq "$(host_lan_port "$mac")" vb1 "the LAN's port for its MAC before the move"
        nsenter --net="/run/netns/$(host_client_ns)" python3 "$VSD_SRC/tests/integration/arpwatch.py" eth0 \
                "$T/echo.stop" >"$T/arp.out" 2>&1 &
        local apid=$!
        wait_for grep -q listening "$T/arp.out"
        out=$(host_vsctl 1 migrate lv1 h2 --live --unlocked-mounts)
        note "$out"
        assert_match "$out" "^lv1 moved to h2 live: frozen for [0-9.]+ s, [0-9.]+ s in all \\(disk: [0-9.]+[KMGT]? copied while it ran, [0-9.]+[KMGT]? once frozen\\)$" \
                "what migrate prints"
        assert_eq "$(host_lan_port "$mac")" vb2 "the LAN's port for its MAC right after the move"
        # the client's address is resolved there when the move returns: the
        # restored socket's first segments went while its link carried
        # nothing, the kernel's ARP request with them, and the next one
        # came only a second later, the segments held back meanwhile (the
        # client's silence was the restore's time plus that second)
        assert_eq "$(host_vsctl 2 exec lv1 -- awk -v c="$HOST_CLIENT_IP" '$1 == c { print $3 }' /proc/net/arp)" 0x2 \
                "the flags of the client's ARP entry on the target right after the move"
        # the target announced it: its gratuitous ARP reached the LAN
        wait_for -t 10 grep -qx "garp $mac $ip" "$T/arp.out"
        assert_eq "$(h_state 2 lv1)" running "state on the target"
        h_clean 1 lv1
        # the connection goes on: more lines echoed after the move
        echo_goes_on "$cpid"
        wait "$apid"
        note "client: $(tail -n1 "$T/echo.out") (lines, longest silence in ms)"
        assert_match "$(tail -n1 "$T/echo.out")" "^ok [0-9]+ [0-9]+$" "the client's end"
        # the same process (restored, not started again), data, address and MAC
        assert_eq "$(sleeper_pid 2 lv1)" "$pid0" "the sleeper's pid on the target"
        assert_eq "$(host_vsctl 2 exec lv1 -- cat /root/data)" live-data "data on the target"
        assert_eq "$(host_vsctl 2 exec lv1 -- cat /sys/class/net/eth0/address)" "$mac" "eth0's MAC on the target"
        assert_eq "$(host_vsctl 2 --json info lv1 | json .mac)" "$mac" "MAC on the target"
        # a new connection from the LAN is answered there
        host_vsctl 2 exec lv1 -- sh -c 'nc -l -p 7001 -e echo pong </dev/null >/dev/null 2>&1 &'
        wait_for host_vsctl 2 exec lv1 -- sh -c 'netstat -ltn | grep -q :7001'
        assert_eq "$(nsenter --net="/run/netns/$(host_client_ns)" python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 7001), timeout=10)
print(s.makefile().readline().strip())' "$ip")" pong "a new connection's answer from the target"
        assert_eq "$(ip -n "$(host_client_ns)" -j neigh show "$ip" | jq -r '.[0].lladdr')" "$mac" "the MAC that answers for $ip"
        # the operation's figures
        local op
        op=$(host_vsctl 1 --json op list | jq -c '[.[] | select(.kind == "migrate")][-1]')
        assert_match "$(echo "$op" | jq -r '.details.frozen_ms')" "^[0-9]+$" "details.frozen_ms"
        assert_match "$(echo "$op" | jq -r '.details.total_ms')" "^[0-9]+$" "details.total_ms"
        # its memory went by the target's page server, during the dump
        note "pages: $(echo "$op" | jq -c '.details | {pages, page_bytes}')"
        assert_eq "$(echo "$op" | jq -r '.details.pages')" page-server "details.pages"
        assert_match "$(echo "$op" | jq -r '.details.page_bytes')" "^[1-9][0-9]{4,}$" "details.page_bytes"
        # (unprivileged: no memory pre-copy, on any kernel: a restore of
        # its passes' images fails inside its user namespace)
        assert_match "$(echo "$op" | jq -r '.details.memory_precopy')" "^unavailable: the instance is unprivileged" \
                "details.memory_precopy"
        # nothing of its pages left staged there
        h_clean_pages 2 lv1
}

# Routed mode (no shared L2 for the instances): each host answers ARP on its
# LAN link for the routed addresses it runs (proxy_devs = lan0), and a client
# on that LAN reaches them through whichever host answers.  After a live
# move the LAN's cache entry for the address names the target's link at once
# (its gratuitous ARP from lan0), not the source's for the half minute and
# more that a reachable entry lives, and the TCP connection goes on there.
# timeout test_migrate_live_routed_address_follows 180
test_migrate_live_routed_address_follows() {
        needs_criu
        local ip out cpid mac1 mac2 conf
        _host_lan_names
        conf=$'[network]\nrouted_ipv4 = '"$VSD_ROUTED4"$'.0/24\nproxy_devs = lan0'
        HOST_CONF_1=$conf HOST_CONF_2=$conf hosts_up 2
        host_client_up
        # the client on the hosts' LAN, the routed pool on its link: it asks
        # the LAN who has an address, a host answers for it
        ip -n "$(host_client_ns)" addr del "$HOST_CLIENT_IP/24" dev eth0
        ip -n "$(host_client_ns)" addr add "$HOST_LAN.250/24" dev eth0
        ip -n "$(host_client_ns)" route add "$VSD_ROUTED4.0/24" dev eth0
        mac1=$(ip -n "$(host_ns 1)" -j link show lan0 | jq -r '.[0].address')
        mac2=$(ip -n "$(host_ns 2)" -j link show lan0 | jq -r '.[0].address')
        host_vsctl 1 create rt1 --net routed --start
        ip=$(host_vsctl 1 --json info rt1 | json .ip | cut -d, -f1 | cut -d/ -f1)
        assert_match "$ip" "^${VSD_ROUTED4//./\\.}\\." "a routed address"
        host_vsctl 1 exec rt1 -- sh -c 'nc -l -p 7000 -e cat </dev/null >/dev/null 2>&1 &'
        wait_for host_vsctl 1 exec rt1 -- sh -c 'netstat -ltn | grep -q :7000'
        nsenter --net="/run/netns/$(host_client_ns)" python3 "$VSD_SRC/tests/integration/echoclient.py" "$ip" 7000 \
                "$T/echo.stop" 60 >"$T/echo.out" 2>&1 &
        cpid=$!
        wait_for grep -q '^at 40$' "$T/echo.out"
        assert_eq "$(ip -n "$(host_client_ns)" -j neigh show "$ip" | jq -r '.[0].lladdr')" "$mac1" \
                "the MAC that answers for $ip before the move (host 1's LAN link)"
        nsenter --net="/run/netns/$(host_client_ns)" python3 "$VSD_SRC/tests/integration/arpwatch.py" eth0 \
                "$T/echo.stop" >"$T/arp.out" 2>&1 &
        local apid=$!
        wait_for grep -q listening "$T/arp.out"
        out=$(host_vsctl 1 migrate rt1 h2 --live --unlocked-mounts)
        note "$out"
        assert_match "$out" "^rt1 moved to h2 live: " "what migrate prints"
        assert_eq "$(h_state 2 rt1)" running "state on the target"
        h_clean 1 rt1
        # the target told the LAN, from its link, with its link's MAC
        wait_for -t 5 grep -qx "garp $mac2 $ip" "$T/arp.out"
        wait_for -t 5 sh -c "[ \"\$(ip -n '$(host_client_ns)' -j neigh show '$ip' | jq -r '.[0].lladdr')\" = '$mac2' ]"
        ip -n "$(host_ns 1)" neigh show proxy dev lan0 | grep -q "^$ip " && fail "host 1 still answers for $ip"
        ip -n "$(host_ns 2)" neigh show proxy dev lan0 | grep -q "^$ip " || fail "host 2 does not answer for $ip"
        # the connection goes on there
        echo_goes_on "$cpid"
        wait "$apid"
        note "client: $(tail -n1 "$T/echo.out") (lines, longest silence in ms)"
        assert_match "$(tail -n1 "$T/echo.out")" "^ok [0-9]+ [0-9]+$" "the client's end"
        host_vsctl 2 stop rt1 --kill
        ip -n "$(host_ns 2)" neigh show proxy dev lan0 | grep -q "^$ip " && fail "host 2 still answers for $ip after the stop"
        true
}

# Memory pre-copy (criu pre-dump passes while it runs, then a dump of what
# changed) where this host's kernel tracks dirty memory: a process keeps 64
# MiB, 4 MiB of them rewritten every 50 ms (probe dirtyish), while a client
# on the LAN keeps a TCP connection busy.  With the feature (Debian's 6.1 in
# the VM lane): details say it ran, at least one pass, and the final dump's
# pages far below 64 MiB; without it (this host's kernel): details say why
# it is unavailable and the whole memory went by page server during the
# dump.  Either way the memory is the same after (the stable part's hash,
# every hot page at its last pass), the connection kept, nothing left.
# timeout test_migrate_live_memory_precopy 300
test_migrate_live_memory_precopy() {
        needs_criu
        local ip cpid op out sum0 sum1 pre
        HOSTS_SHARED_LAN=1 hosts_up 2
        host_client_up
        host_vsctl 1 create lvm --privileged --memory 256M --start
        ip=$(host_vsctl 1 --json info lvm | json .ip | cut -d, -f1 | cut -d/ -f1)
        host_vsctl 1 exec lvm -- sh -c 'nc -l -p 7000 -e cat </dev/null >/dev/null 2>&1 &'
        wait_for host_vsctl 1 exec lvm -- sh -c 'netstat -ltn | grep -q :7000'
        host_vsctl 1 exec lvm -- sh -c '/probe dirtyish 64 4 /root/memsum </dev/null >/dev/null 2>&1 &'
        wait_for -t 60 host_vsctl 1 exec lvm -- test -s /root/memsum
        sum0=$(host_vsctl 1 exec lvm -- cat /root/memsum)
        assert_match "$sum0" "^sum=[0-9a-f]{16} hot=ok$" "the memory's hash before the move"
        live_settled 1 lvm
        nsenter --net="/run/netns/$(host_client_ns)" python3 "$VSD_SRC/tests/integration/echoclient.py" "$ip" 7000 \
                "$T/echo.stop" 60 >"$T/echo.out" 2>&1 &
        cpid=$!
        wait_for grep -q '^at 40$' "$T/echo.out"
        out=$(host_vsctl 1 migrate lvm h2 --live)
        note "$out"
        op=$(host_vsctl 1 --json op list | jq -c '[.[] | select(.kind == "migrate")][-1]')
        note "details: $(echo "$op" | jq -c '.details | {pages, page_bytes, memory_precopy, memory_precopy_passes, memory_precopy_bytes, memory_precopy_last_bytes, memory_precopy_ms, frozen_ms, total_ms}')"
        assert_eq "$(echo "$op" | jq -r '.details.pages')" page-server "details.pages"
        if /usr/local/lib/vsd/criu/criu check --feature mem_dirty_track >/dev/null 2>&1; then
                pre=1
                assert_eq "$(echo "$op" | jq -r '.details.memory_precopy')" on "details.memory_precopy"
                assert_match "$out" "frozen for [0-9.]+ s, [0-9.]+ s in all \([1-9] memory pre-copy pass\(es\) first\) \(disk: " \
                        "what migrate prints"
                [ "$(echo "$op" | jq -r '.details.memory_precopy_passes')" -ge 1 ] || fail "no pre-copy pass"
                [ "$(echo "$op" | jq -r '.details.memory_precopy_bytes')" -ge $((60 << 20)) ] ||
                        fail "the passes sent less than the 64 MiB"
                [ "$(echo "$op" | jq -r '.details.page_bytes')" -le $((16 << 20)) ] ||
                        fail "the final dump sent $(echo "$op" | jq -r '.details.page_bytes') bytes of pages"
        else
                pre=0
                assert_match "$(echo "$op" | jq -r '.details.memory_precopy')" \
                        "^unavailable: criu check --feature mem_dirty_track: .+" "details.memory_precopy"
                assert_eq "$(echo "$op" | jq -r '.details.memory_precopy_passes')" null "details.memory_precopy_passes"
                [ "$(echo "$op" | jq -r '.details.page_bytes')" -ge $((64 << 20)) ] ||
                        fail "the dump sent less than the 64 MiB"
        fi
        note "memory pre-copy: $pre"
        assert_eq "$(h_state 2 lvm)" running "state on the target"
        h_clean 1 lvm
        h_clean_pages 2 lvm
        # the same memory there
        host_vsctl 2 exec lvm -- rm /root/memsum
        wait_for -t 60 host_vsctl 2 exec lvm -- test -s /root/memsum
        sum1=$(host_vsctl 2 exec lvm -- cat /root/memsum)
        assert_eq "$sum1" "$sum0" "the memory's hash after the move"
        echo_goes_on "$cpid"
        assert_match "$(tail -n1 "$T/echo.out")" "^ok [0-9]+ [0-9]+$" "the client's end"
        # --no-precopy: one dump, as before
        out=$(host_vsctl 2 migrate lvm h1 --live --no-precopy)
        op=$(host_vsctl 2 --json op list | jq -c '[.[] | select(.kind == "migrate")][-1]')
        assert_eq "$(echo "$op" | jq -r '.details.memory_precopy')" "off: --no-precopy" "details.memory_precopy, --no-precopy"
        assert_eq "$(h_state 1 lvm)" running "state back on the source"
        h_clean 2 lvm
}

# $T/precriu/criu: CRIU for the source that says this host tracks dirty
# memory (so that the passes are tried here too, where the real pre-dump
# would abort), and whose pre-dump fails while $T/precriu/fail exists, or
# waits for $T/precriu/go once it touched $T/precriu/started.
pre_criu() {
        mkdir -p "$T/precriu"
        printf '%s\n' '#!/bin/sh' \
                '[ "$1" = check ] && [ "$3" = mem_dirty_track ] && exit 0' \
                "if [ \"\$1\" = pre-dump ]; then" \
                "  [ ! -e '$T/precriu/fail' ] || { echo 'Error (test): refused by the test' >\"\$5/pre-dump.log\"; exit 1; }" \
                "  touch '$T/precriu/started'; while [ ! -e '$T/precriu/go' ]; do sleep 0.1; done" \
                "fi" \
                'exec /usr/local/lib/vsd/criu/criu "$@"' >"$T/precriu/criu"
        chmod +x "$T/precriu/criu"
        # the target's: its restore fails while $T/precriu/failrestore exists
        printf '%s\n' '#!/bin/sh' \
                "[ \"\$1\" = restore ] && [ -e '$T/precriu/failrestore' ] && exit 1" \
                'exec /usr/local/lib/vsd/criu/criu "$@"' >"$T/precriu/criu2"
        chmod +x "$T/precriu/criu2"
}

# A memory pre-copy's pass failing, and the source's daemon killed during a
# pass: either way the instance runs on here as it was (the same process,
# never stopped), nothing of the passes or the move's records is left here,
# and the target keeps nothing, staged pages included.  Where the kernel
# tracks dirty memory, also the target's restore failing after the passes
# and the dump: restored here from the checkpoint and its passes' images.
# timeout test_migrate_live_memory_precopy_interrupted 300
test_migrate_live_memory_precopy_interrupted() {
        needs_criu
        local pid0 op
        pre_criu
        HOST_CONF_1=$'[checkpoint]\ncriu = '"$T/precriu/criu" HOST_CONF_2=$'[checkpoint]\ncriu = '"$T/precriu/criu2" \
                hosts_up 2
        host_vsctl 1 create lvp --privileged --start
        sleeper_start 1 lvp
        pid0=$(sleeper_pid 1 lvp)
        # a pass fails
        touch "$T/precriu/fail"
        host_vsctl 1 migrate lvp h2 --live >/dev/null 2>"$T/migrate.err" && fail "the move succeeded though its pre-dump failed"
        note "$(cat "$T/migrate.err")"
        assert_match "$(cat "$T/migrate.err")" "checkpoint it: .*pre-dump: refused by the test$" "the move's error"
        grep -q 'refused by the test' "$T/root-h1/instances/lvp/checkpoint-failed.log" ||
                fail "the failed pass's log is not kept as checkpoint-failed.log"
        op=$(host_vsctl 1 --json op list | jq -c '[.[] | select(.kind == "migrate")][-1]')
        assert_eq "$(echo "$op" | jq -r '.details.memory_precopy')" on "details.memory_precopy"
        assert_eq "$(h_state 1 lvp)" running "state on the source after a failed pass"
        assert_eq "$(sleeper_pid 1 lvp)" "$pid0" "the sleeper after a failed pass (never stopped)"
        [ ! -e "$T/root-h1/instances/lvp/.checkpoint.tmp" ] || fail "the passes' images stay on the source"
        [ ! -e "$T/root-h1/instances/lvp/checkpoint" ] || fail "a checkpoint stays on the source"
        [ ! -e "$T/run-h1/lvp.migrating" ] || fail "the move's record stays"
        h_clean_pages 2 lvp
        h_clean 2 lvp
        # the daemon killed during a pass
        rm -f "$T/precriu/fail"
        live_move_source_killed lvp "$T/precriu" "$pid0"
        [ ! -e "$T/run-h1/lvp.checkpointing" ] || fail "the dump's record stays after the daemon's end"
        [ ! -e "$T/root-h1/instances/lvp/.checkpoint.tmp" ] || fail "the passes' images stay after the daemon's end"
        h_clean_pages 2 lvp
        h_clean 2 lvp
        # where the kernel tracks dirty memory (the VM lane): the target's
        # restore failing, it is restored here from its checkpoint, whose
        # pages are in the passes' images too; then it moves
        if /usr/local/lib/vsd/criu/criu check --feature mem_dirty_track >/dev/null 2>&1; then
                touch "$T/precriu/failrestore"
                live_settled 1 lvp
                expect_fail host_vsctl 1 --json migrate lvp h2 --live
                assert_match "$LAST_ERR" "h2 did not restore it" "the target's failure"
                assert_eq "$(h_state 1 lvp)" running "state on the source after the target's failed restore"
                assert_eq "$(sleeper_pid 1 lvp)" "$pid0" "the sleeper (restored here)"
                h_clean_pages 2 lvp
                h_clean 2 lvp
                rm "$T/precriu/failrestore"
                live_settled 1 lvp
                host_vsctl 1 migrate lvp h2 --live >/dev/null
                assert_eq "$(h_state 2 lvp)" running "state on the target"
                assert_eq "$(sleeper_pid 2 lvp)" "$pid0" "the sleeper on the target"
                h_clean 1 lvp
        fi
}

# No RST from the host it leaves: a client on the LAN whose connection to
# the instance carries a dense stream of duplicate ACKs (dupacks.py: what a
# peer's retransmissions and keepalives send now and then) keeps it across
# moves back and forth, by page server and by archive.  The source's
# instance ends after its dump, and its network namespace, whose CRIU lock
# the kernel drops before its link, once answered the address without the
# connection: a RST the client accepts.
# timeout test_migrate_live_source_sends_no_reset 300
test_migrate_live_source_sends_no_reset() {
        needs_criu
        local ip mac cpid k src=1 dst
        HOSTS_SHARED_LAN=1 hosts_up 2
        host_client_up
        host_vsctl 1 create lv11 --privileged --start
        ip=$(host_vsctl 1 --json info lv11 | json .ip | cut -d, -f1 | cut -d/ -f1)
        mac=$(host_vsctl 1 --json info lv11 | json .mac)
        host_vsctl 1 exec lv11 -- sh -c 'nc -l -p 7000 -e cat </dev/null >/dev/null 2>&1 &'
        wait_for host_vsctl 1 exec lv11 -- sh -c 'netstat -ltn | grep -q :7000'
        nsenter --net="/run/netns/$(host_client_ns)" python3 "$VSD_SRC/tests/integration/dupacks.py" eth0 "$mac" \
                "$ip" 7000 "$T/dupacks.stop" >"$T/dupacks.out" 2>&1 &
        cpid=$!
        wait_for grep -q '^connected$' "$T/dupacks.out"
        for k in 1 2 3 4; do
                dst=$((3 - src))
                host_vsctl "$src" migrate lv11 "h$dst" --live $([ $((k % 2)) = 0 ] && echo --no-page-server) \
                        >/dev/null || fail "move $k (h$src to h$dst) failed"
                ! grep -q '^error' "$T/dupacks.out" || fail "the connection broke at move $k: $(cat "$T/dupacks.out")"
                src=$dst
        done
        touch "$T/dupacks.stop"
        wait "$cpid" || fail "the connection broke: $(tail -n1 "$T/dupacks.out")"
        note "client: $(tail -n1 "$T/dupacks.out") (duplicate ACKs sent)"
        assert_match "$(tail -n1 "$T/dupacks.out")" "^ok [0-9]+$" "the client's end"
        h_clean 2 lv11
}

# $T/holdcriu/criu: CRIU whose page server, once it touched
# $T/holdcriu/started, waits for $T/holdcriu/go (a target's page server
# that the dump waits for).
hold_criu() {
        mkdir -p "$T/holdcriu"
        printf '%s\n' '#!/bin/sh' \
                "if [ \"\$1\" = page-server ]; then touch '$T/holdcriu/started'; while [ ! -e '$T/holdcriu/go' ]; do sleep 0.1; done; fi" \
                'exec /usr/local/lib/vsd/criu/criu "$@"' >"$T/holdcriu/criu"
        chmod +x "$T/holdcriu/criu"
}

# No pages of NAME staged on host K (a live move's page server), once its
# receiving helper has ended.
h_clean_pages() { # K NAME
        wait_for -t 30 sh -c "! ls -A '$T/root-h$1/instances' | grep -q '^\.$2\.pages'"
}

# The link of the page server cut while the dump waits for the target's
# page server (its CRIU held back by a wrapper until the cut): the dump
# fails, CRIU resumes the instance here (the same processes, the client's
# TCP connection kept), and the target keeps nothing, staged pages
# included.
# timeout test_migrate_live_page_server_link_cut 300
test_migrate_live_page_server_link_cut() {
        needs_criu
        local ip pid0 cpid client p
        hold_criu
        HOSTS_SHARED_LAN=1 HOST_CONF_2=$'[checkpoint]\ncriu = '"$T/holdcriu/criu" hosts_up 2
        host_client_up
        host_vsctl 1 create lv8 --privileged --start
        ip=$(host_vsctl 1 --json info lv8 | json .ip | cut -d, -f1 | cut -d/ -f1)
        host_vsctl 1 exec lv8 -- sh -c 'nc -l -p 7000 -e cat </dev/null >/dev/null 2>&1 &'
        wait_for host_vsctl 1 exec lv8 -- sh -c 'netstat -ltn | grep -q :7000'
        sleeper_start 1 lv8
        pid0=$(sleeper_pid 1 lv8)
        nsenter --net="/run/netns/$(host_client_ns)" python3 "$VSD_SRC/tests/integration/echoclient.py" "$ip" 7000 \
                "$T/echo.stop" 60 >"$T/echo.out" 2>&1 &
        cpid=$!
        wait_for grep -q '^at 20$' "$T/echo.out"
        host_vsctl 1 migrate lv8 h2 --live >/dev/null 2>"$T/migrate.err" &
        client=$!
        # the dump waits for the target's page server: cut its session
        wait_for -t 60 test -e "$T/holdcriu/started"
        for p in $(pgrep -f "receive-pages lv8"); do
                [ "$(readlink "/proc/$p/exe" 2>/dev/null)" != /usr/bin/ssh ] || kill -KILL "$p"
        done
        touch "$T/holdcriu/go"
        wait "$client" && fail "the move succeeded though its page server's link was cut"
        note "$(cat "$T/migrate.err")"
        assert_match "$(cat "$T/migrate.err")" "checkpoint it: .*dump: the link to the target's page server was lost" \
                "the move's error"
        assert_eq "$(h_state 1 lv8)" running "state on the source"
        assert_eq "$(sleeper_pid 1 lv8)" "$pid0" "the sleeper (never stopped: CRIU resumed it)"
        echo_goes_on "$cpid"
        # the target: its page server failed, what it staged removed
        wait_for -t 60 sh -c "'$B/vsctl' --socket '$(host_socket 2)' --json op list |
                jq -e '[.[] | select(.kind == \"receive-pages\" and .state == \"failed\")] | length == 1' >/dev/null"
        h_clean_pages 2 lv8
        h_clean 2 lv8
        [ ! -e "$T/root-h1/instances/lv8/checkpoint" ] || fail "a checkpoint stays on the source"
}

# NAME moved live from h1 to h2 while a CRIU wrapper holds it (it touches
# DIR/started, waits for DIR/go): h1's daemon killed then, the move fails,
# and the next daemon finds NAME running as it was (its sleeper PID0, never
# stopped) and the move's record gone.
live_move_source_killed() { # NAME DIR PID0
        local client
        host_vsctl 1 migrate "$1" h2 --live >/dev/null 2>&1 &
        client=$!
        wait_for -t 60 test -e "$2/started"
        host_daemon_kill9 1
        touch "$2/go"
        wait "$client" && fail "the move succeeded though its daemon was killed"
        host_daemon_up 1
        wait_for -t 60 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 1)' --json info $1 | jq -r .state)\" = running ]"
        assert_eq "$(sleeper_pid 1 "$1")" "$3" "the sleeper (never stopped)"
        [ ! -e "$T/run-h1/$1.migrating" ] || fail "the move's record stays"
}

# The source's daemon killed while its dump sends the pages (the target's
# page server held back): CRIU dies with it and the instance runs on as
# it was (the next daemon removes the network lock); the target's page
# server hears the end and keeps nothing.
# timeout test_migrate_live_source_killed_during_page_transfer 300
test_migrate_live_source_killed_during_page_transfer() {
        needs_criu
        local pid0
        hold_criu
        HOST_CONF_2=$'[checkpoint]\ncriu = '"$T/holdcriu/criu" hosts_up 2
        host_vsctl 1 create lv10 --privileged --start
        sleeper_start 1 lv10
        pid0=$(sleeper_pid 1 lv10)
        live_move_source_killed lv10 "$T/holdcriu" "$pid0"
        # its network works again: no lock left
        local tables
        tables=$(nsenter --net="/proc/$(host_vsctl 1 --json info lv10 | json .pid)/ns/net" nft list tables) ||
                fail "no nft tables of lv10's to list"
        ! echo "$tables" | grep -q CRIU || fail "CRIU's network lock stays: $tables"
        h_clean_pages 2 lv10
        h_clean 2 lv10
}

# A target that cannot take the pages by page server (here a vsctl there
# without receive-pages, as an older vsd's): the move goes on the old way,
# its pages with the archive, and its details say so and why.
# timeout test_migrate_live_page_server_fallback 300
test_migrate_live_page_server_fallback() {
        needs_criu
        local pid0 op
        # an older vsctl there, first in its sessions' PATH
        mkdir -p "$T/oldvsctl"
        printf '%s\n' '#!/bin/sh' \
                '[ "$1" = receive-pages ] && { echo "vsctl: unknown command '"'"'receive-pages'"'"'" >&2; exit 2; }' \
                "exec '$B/vsctl' \"\$@\"" >"$T/oldvsctl/vsctl"
        chmod +x "$T/oldvsctl/vsctl"
        HOST_PATH_2="$T/oldvsctl" hosts_up 2
        host_vsctl 1 create lv9 --privileged --start
        sleeper_start 1 lv9
        pid0=$(sleeper_pid 1 lv9)
        host_vsctl 1 migrate lv9 h2 --live >/dev/null
        assert_eq "$(h_state 2 lv9)" running "state on the target"
        assert_eq "$(sleeper_pid 2 lv9)" "$pid0" "the sleeper on the target"
        h_clean 1 lv9
        op=$(host_vsctl 1 --json op list | jq -c '[.[] | select(.kind == "migrate")][-1]')
        note "$(echo "$op" | jq -c .details)"
        assert_eq "$(echo "$op" | jq -r '.details.pages')" archive "details.pages"
        assert_match "$(echo "$op" | jq -r '.details.page_server_fallback')" "unknown command 'receive-pages'" \
                "details.page_server_fallback"
}

# A target whose vsd lists no receive-pages (older_vsctl) is not asked for
# a page server at all (no second session): the pages go with the
# archive, and the details say why.
# timeout test_migrate_live_older_target_no_page_server 300
test_migrate_live_older_target_no_page_server() {
        needs_criu
        local pid0 op
        older_vsctl
        HOST_PATH_2="$T/oldvsctl" hosts_up 2
        host_vsctl 1 create lv8 --privileged --start
        sleeper_start 1 lv8
        pid0=$(sleeper_pid 1 lv8)
        host_vsctl 1 migrate lv8 h2 --live >/dev/null
        assert_eq "$(sleeper_pid 2 lv8)" "$pid0" "the sleeper on the target"
        h_clean 1 lv8
        op=$(host_vsctl 1 --json op list | jq -c '[.[] | select(.kind == "migrate")][-1]')
        note "$(echo "$op" | jq -c .details)"
        assert_eq "$(echo "$op" | jq -r '.details.pages')" archive "details.pages"
        assert_match "$(echo "$op" | jq -r '.details.page_server_fallback')" \
                "^its vsd \\([0-9.]+\\) does not list receive-pages$" "details.page_server_fallback"
        # nor a pre-copy of its disk (its import would refuse disk.delta):
        # the disk whole after the dump
        assert_eq "$(echo "$op" | jq -r '.details.disk_precopy')" false "details.disk_precopy"
        assert_match "$(echo "$op" | jq -r '.details.disk_precopy_fallback')" \
                "^h2 cannot take a pre-copy: its vsd \\([0-9.]+\\) does not list precopy-image$" "details.disk_precopy_fallback"
        [ ! -e "$T/oldvsctl/pages-asked" ] || fail "the target was asked for a page server it does not list"
}

# An unprivileged instance restored on the target has unlocked mounts, as
# a restore here would: refused before anything is stopped unless
# accepted.
# timeout test_migrate_live_unprivileged_needs_unlocked_mounts 240
test_migrate_live_unprivileged_needs_unlocked_mounts() {
        needs_criu
        local pid0
        hosts_up 2
        host_vsctl 1 create lv2 --start
        sleeper_start 1 lv2
        pid0=$(sleeper_pid 1 lv2)
        expect_fail host_vsctl 1 --json migrate lv2 h2 --live
        assert_match "$LAST_ERR" "mounts are not locked.*--unlocked-mounts" "the refusal"
        assert_eq "$(h_state 1 lv2)" running "state after the refusal"
        assert_eq "$(sleeper_pid 1 lv2)" "$pid0" "the sleeper after the refusal (never stopped)"
        [ ! -e "$T/root-h1/instances/lv2/checkpoint" ] || fail "a checkpoint was taken"
        h_clean 2 lv2
        expect_fail host_vsctl 1 migrate lv2 h2 --unlocked-mounts
        assert_match "$LAST_ERR" "for a live move" "--unlocked-mounts without --live"
        # accepted: it moves, restored (the same process) on the target
        host_vsctl 1 migrate lv2 h2 --live --unlocked-mounts >/dev/null
        assert_eq "$(sleeper_pid 2 lv2)" "$pid0" "the sleeper on the target"
        h_clean 1 lv2
}

# The target refuses (an instance of that name), cannot be reached, or its
# restore fails: the instance runs on the source again, restored (the same
# processes), and the target keeps nothing of it.
# timeout test_migrate_live_refused_or_unreachable 300
test_migrate_live_refused_or_unreachable() {
        needs_criu
        local pid0 before
        hosts_up 2
        host_vsctl 1 create lv3 --privileged --start
        host_vsctl 1 exec lv3 -- sh -c 'echo source >/root/data'
        sleeper_start 1 lv3
        pid0=$(sleeper_pid 1 lv3)
        host_vsctl 2 create lv3 --net none
        before=$(ls -A "$T/root-h2/instances")
        expect_fail host_vsctl 1 --json migrate lv3 h2 --live
        assert_match "$LAST_ERR" "h2 cannot take it: .*instance 'lv3' already exists" "refusal"
        assert_eq "$(h_state 1 lv3)" running "state on the source after the refusal"
        assert_eq "$(sleeper_pid 1 lv3)" "$pid0" "the sleeper after the refusal"
        assert_eq "$(host_vsctl 1 exec lv3 -- cat /root/data)" source "data on the source"
        assert_eq "$(ls -A "$T/root-h2/instances")" "$before" "the target's instances"
        assert_eq "$(h_state 2 lv3)" stopped "the target's own instance"
        host_vsctl 2 destroy lv3
        live_settled 1 lv3
        expect_fail host_vsctl 1 --json migrate lv3 h9 --live
        assert_eq "$(h_state 1 lv3)" running "state on the source after an unreachable host"
        assert_eq "$(sleeper_pid 1 lv3)" "$pid0" "the sleeper after an unreachable host"
        [ ! -e "$T/root-h1/instances/lv3/checkpoint" ] || fail "the checkpoint stays after the restore here"
}

# timeout test_migrate_live_restore_fails_on_target 240
test_migrate_live_restore_fails_on_target() {
        needs_criu
        local pid0
        HOST_CONF_2=$'[checkpoint]\ncriu = /bin/false' hosts_up 2
        host_vsctl 1 create lv4 --privileged --start
        sleeper_start 1 lv4
        pid0=$(sleeper_pid 1 lv4)
        # its page server fails first: the dump fails, CRIU resumes it
        expect_fail host_vsctl 1 --json migrate lv4 h2 --live
        assert_match "$LAST_ERR" "the link to the target's page server was lost" "the target's page server's failure"
        assert_eq "$(h_state 1 lv4)" running "state on the source"
        assert_eq "$(sleeper_pid 1 lv4)" "$pid0" "the sleeper (resumed)"
        h_clean_pages 2 lv4
        h_clean 2 lv4
        # the pages with the archive: its restore fails
        live_settled 1 lv4
        expect_fail host_vsctl 1 --json migrate lv4 h2 --live --no-page-server
        assert_match "$LAST_ERR" "h2 did not restore it" "the target's failure"
        assert_eq "$(h_state 1 lv4)" running "state on the source"
        assert_eq "$(sleeper_pid 1 lv4)" "$pid0" "the sleeper (restored)"
        h_clean 2 lv4
}

# A live move of NAME (h1 to h2, its 8 MiB blob written before) broken
# by BREAK (a command) at WHEN: "copy" (--no-precopy: while the archive
# with the whole disk goes after the dump), "first pass" (while the disk
# goes, the instance running: never frozen) or "final pass" (after the
# dump, while what it wrote during the first pass goes).  Settled: the
# instance runs on the source, the same processes with what they wrote,
# nothing of it on the target and no record of the move left.
live_move_broken() { # NAME WHEN BREAK...
        local name=$1 when=$2 pid0 client id
        shift 2
        [ -n "$(sleeper_pid 1 "$name")" ] || sleeper_start 1 "$name"
        live_settled 1 "$name"
        pid0=$(sleeper_pid 1 "$name")
        if [ "$when" = copy ]; then
                id=$(host_vsctl 1 migrate "$name" h2 --live --unlocked-mounts --no-precopy --detach)
                wait_for -t 30 test -e "$T/root-h2/instances/.$name.new/disk.img"
                assert_eq "$(op_phase 1 "$id")" copy "the phase when broken"
        else
                # the first pass waits, sent, while the file is there
                touch "$T/precopy-hold"
                id=$(host_vsctl 1 migrate "$name" h2 --live --unlocked-mounts --detach)
                wait_for -t 30 test -e "$T/root-h2/instances/.$name.new/disk.img"
                assert_eq "$(op_phase 1 "$id")" pre-copy "the phase while it runs"
                if [ "$when" = "final pass" ]; then
                        # enough for the final pass to take seconds
                        host_vsctl 1 exec "$name" -- sh -c 'dd if=/dev/urandom of=/root/late bs=1M count=6 2>/dev/null && sync'
                        rm "$T/precopy-hold"
                        wait_for -t 60 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 1)' --json op show $id | jq -r .progress.phase)\" = 'final copy' ]"
                        grep -q '"phase":"copy"' "$T/run-h1/$name.migrating" || fail "the record's phase: $(cat "$T/run-h1/$name.migrating")"
                fi
        fi
        "$@"
        rm -f "$T/precopy-hold"
        wait_for -t 90 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 1)' --json info $name 2>/dev/null | jq -r .state)\" = running ] &&
                [ ! -e '$T/run-h1/$name.migrating' ]"
        assert_eq "$(sleeper_pid 1 "$name")" "$pid0" "the sleeper (broken during the $when)"
        host_vsctl 1 exec "$name" -- test -s /root/blob
        [ "$when" != "final pass" ] || host_vsctl 1 exec "$name" -- test -s /root/late ||
                fail "what it wrote during the first pass, on the source"
        if [ "$when" = "first pass" ]; then
                [ ! -e "$T/root-h1/instances/$name/checkpoint" ] || fail "a checkpoint stays (broken during the first pass)"
        fi
        wait_for -t 30 sh -c "! ls -A '$T/root-h2/instances' | grep -q $name"
        h_clean 2 "$name"
        h_clean_pages 2 "$name"
}

# The target's ssh sessions (children of its sshd) killed.
cut_target_sessions() {
        local p
        for p in $(pgrep -P "$(cat "$T/run-h2/sshd.spid")"); do
                kill -KILL "$p"
        done
}

# The link is cut while the archive goes after the dump (the old way,
# the whole disk in it), while the disk goes before the dump, and while
# what changed goes after it: restored on the source (or never frozen),
# nothing on the target.
# timeout test_migrate_live_link_cut_midway 300
test_migrate_live_link_cut_midway() {
        needs_criu
        local when
        VSD_TEST_COPY_BPS=2M VSD_TEST_PRECOPY_HOLD=$T/precopy-hold hosts_up 2
        host_vsctl 1 create lv5 --disk 1G --start
        host_vsctl 1 exec lv5 -- sh -c 'dd if=/dev/urandom of=/root/blob bs=1M count=8 2>/dev/null; sync'
        for when in copy "first pass" "final pass"; do
                live_move_broken lv5 "$when" cut_target_sessions
        done
}

# The source's daemon killed and started again.
source_daemon_restarted() {
        host_daemon_kill9 1
        rm -f "$T/precopy-hold"
        VSD_TEST_COPY_BPS=2M host_daemon_up 1
}

# The source's daemon killed while the archive goes after the dump (the
# next one restores the instance from its checkpoint), while the disk goes
# before it (it runs on, never frozen) and while what changed goes after
# it (restored); the target's import ends with nothing.
# timeout test_migrate_live_source_daemon_killed 300
test_migrate_live_source_daemon_killed() {
        needs_criu
        local when
        VSD_TEST_COPY_BPS=2M VSD_TEST_PRECOPY_HOLD=$T/precopy-hold hosts_up 2
        host_vsctl 1 create lv6 --privileged --disk 1G --start
        host_vsctl 1 exec lv6 -- sh -c 'dd if=/dev/urandom of=/root/blob bs=1M count=8 2>/dev/null; sync'
        for when in copy "first pass" "final pass"; do
                live_move_broken lv6 "$when" source_daemon_restarted
        done
}

# ---- live: the disk while it runs --------------------------------------------

# A live move sends the disk while the instance runs (the first pass,
# paced here so that it takes seconds), and after the dump only what
# changed: an instance holding 40 MiB written before the move, a part of
# it rewritten and a new file written while the first pass goes (and not
# synced: the move flushes it), arrives with every file's checksum, the
# details saying that the bulk went before the dump and only the change
# after, and a client's TCP connection kept.  BACKEND: image or dir.
live_disk_precopy() { # NAME BACKEND
        needs_criu
        local name=$1 ip cpid id final pre fin frozen total k sent="" disk=""
        local src=$T/root-h1/instances/$name/upper/root/c dst=$T/root-h2/instances/.$name.new/upper/root/c
        [ "$2" = dir ] || disk="--disk 1G"
        VSD_TEST_COPY_BPS=8M VSD_TEST_PRECOPY_HOLD=$T/precopy-hold HOSTS_SHARED_LAN=1 hosts_up 2
        host_client_up
        # shellcheck disable=SC2086
        host_vsctl 1 create "$name" --privileged --storage "$2" $disk --start
        # 40 MiB in 1 MiB files (the first ones lie early in an image)
        host_vsctl 1 exec "$name" -- sh -c 'mkdir /root/c && for k in $(seq 1 40); do
                dd if=/dev/urandom of=/root/c/f$k bs=1M count=1 2>/dev/null; done && sync'
        ip=$(host_vsctl 1 --json info "$name" | json .ip | cut -d, -f1 | cut -d/ -f1)
        host_vsctl 1 exec "$name" -- sh -c 'nc -l -p 7000 -e cat </dev/null >/dev/null 2>&1 &'
        wait_for host_vsctl 1 exec "$name" -- sh -c 'netstat -ltn | grep -q :7000'
        live_settled 1 "$name"
        nsenter --net="/run/netns/$(host_client_ns)" python3 "$VSD_SRC/tests/integration/echoclient.py" "$ip" 7000 \
                "$T/echo.stop" 60 >"$T/echo.out" 2>&1 &
        cpid=$!
        wait_for grep -q '^at 20$' "$T/echo.out"
        # the first pass waits, sent, until the writes below are done
        touch "$T/precopy-hold"
        id=$(host_vsctl 1 migrate "$name" h2 --live --detach)
        wait_for -t 60 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 1)' --json op show $id | jq -r .progress.phase)\" = pre-copy ]"
        assert_match "$(host_vsctl 1 op show "$id")" "migrate of $name making h2: running, pre-copy" "op show during the first pass"
        # four files that went already rewritten in place
        if [ "$2" = dir ]; then
                wait_for -t 60 sh -c "n=0; for k in \$(seq 1 40); do cmp -s '$src'/f\$k '$dst'/f\$k && n=\$((n + 1)); done; [ \$n -ge 4 ]"
                for k in $(seq 1 40); do
                        if cmp -s "$src/f$k" "$dst/f$k" && [ "$(echo "$sent" | wc -w)" -lt 4 ]; then
                                sent="$sent f$k"
                        fi
                done
        else
                wait_for -t 60 sh -c "'$B/vsctl' --socket '$(host_socket 1)' --json op show $id |
                        jq -e '.progress.phase == \"pre-copy\" and .progress.done * 10 >= .progress.total * 6' >/dev/null"
                sent="f1 f2 f3 f4"
        fi
        note "rewriting$sent, sent already"
        host_vsctl 1 exec "$name" -- sh -c "for f in $sent; do dd if=/dev/urandom of=/root/c/\$f bs=1M count=1 conv=notrunc 2>/dev/null; done &&
                dd if=/dev/urandom of=/root/late bs=64k count=16 2>/dev/null && sha256sum /root/c/* /root/late >/root/sums"
        assert_eq "$(op_phase 1 "$id")" pre-copy "the phase while it ran"
        rm "$T/precopy-hold"
        final=$(host_vsctl 1 --json op wait "$id")
        note "$(echo "$final" | jq -c .details)"
        assert_eq "$(echo "$final" | jq -r .state)" succeeded "the move"
        assert_eq "$(h_state 2 "$name")" running "state on the target"
        host_vsctl 2 exec "$name" -- sha256sum -c /root/sums >/dev/null || fail "the files differ on the target"
        assert_eq "$(host_vsctl 2 exec "$name" -- sh -c 'cat /root/sums | wc -l')" 41 "the files summed"
        # the bulk went while it ran, only what changed once frozen
        assert_eq "$(echo "$final" | jq -r .details.disk_precopy)" true "details.disk_precopy"
        pre=$(echo "$final" | json .details.disk_precopy_bytes)
        fin=$(echo "$final" | json .details.disk_final_bytes)
        frozen=$(echo "$final" | json .details.frozen_ms)
        total=$(echo "$final" | json .details.total_ms)
        [ "$pre" -ge $((40 << 20)) ] || fail "the first pass sent $pre bytes"
        [ "$fin" -ge $((4 << 20)) ] && [ "$fin" -le $((16 << 20)) ] || fail "the final pass sent $fin bytes after $pre"
        [ "$frozen" -lt "$total" ] || fail "frozen $frozen ms of a move of $total ms"
        echo_goes_on "$cpid"
        assert_match "$(tail -n1 "$T/echo.out")" "^ok [0-9]+ [0-9]+$" "the client's end"
        h_clean 1 "$name"
        h_clean_pages 2 "$name"
}

# timeout test_migrate_live_disk_precopy_image 300
test_migrate_live_disk_precopy_image() {
        local op
        live_disk_precopy lvd1 image
        # --no-precopy: the disk whole in the frozen window, as before
        live_settled 2 lvd1
        host_vsctl 2 migrate lvd1 h1 --live --no-precopy >/dev/null
        op=$(host_vsctl 2 --json op list | jq -c '[.[] | select(.kind == "migrate")][-1]')
        note "$(echo "$op" | jq -c .details)"
        assert_eq "$(echo "$op" | jq -r .details.disk_precopy)" false "details.disk_precopy, --no-precopy"
        assert_eq "$(echo "$op" | jq -r '.details.disk_precopy_bytes // "none"')" none "details.disk_precopy_bytes, --no-precopy"
        host_vsctl 1 exec lvd1 -- sha256sum -c /root/sums >/dev/null || fail "the files differ back on the source"
        h_clean 2 lvd1
}

# timeout test_migrate_live_disk_precopy_dir 300
test_migrate_live_disk_precopy_dir() {
        live_disk_precopy lvd2 dir
}

# Two hosts, the second's CRIU a wrapper whose restore first sleeps 4 s
# (a restore under way there, long enough to break something meanwhile).
slow_restore_hosts_up() {
        mkdir -p "$T/slowcriu"
        printf '%s\n' '#!/bin/sh' '[ "$1" = restore ] && sleep 4' 'exec /usr/local/lib/vsd/criu/criu "$@"' \
                >"$T/slowcriu/criu"
        chmod +x "$T/slowcriu/criu"
        HOST_CONF_2=$'[checkpoint]\ncriu = '"$T/slowcriu/criu" hosts_up 2
}

# The source's daemon killed while the target restores (its CRIU made slow
# by a wrapper): the target finishes the restore on its own, so the next
# source daemon must find it running there and remove its own copy, not
# restore it too.  It runs on exactly one host.
# timeout test_migrate_live_source_killed_during_target_restore 300
test_migrate_live_source_killed_during_target_restore() {
        needs_criu
        local pid0 client
        slow_restore_hosts_up
        host_vsctl 1 create lv7 --privileged --start
        sleeper_start 1 lv7
        pid0=$(sleeper_pid 1 lv7)
        host_vsctl 1 migrate lv7 h2 --live >/dev/null 2>&1 &
        client=$!
        # imported there: its restore is under way
        wait_for -t 60 test -d "$T/root-h2/instances/lv7"
        host_daemon_kill9 1
        wait "$client" && fail "the move succeeded though its daemon was killed"
        host_daemon_up 1
        # settled: running on one host, gone from the other
        wait_for -t 60 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 2)' --json info lv7 2>/dev/null | jq -r .state)\" = running ] &&
                ! '$B/vsctl' --socket '$(host_socket 1)' info lv7 >/dev/null 2>&1 ||
                { [ \"\$('$B/vsctl' --socket '$(host_socket 1)' --json info lv7 2>/dev/null | jq -r .state)\" = running ] &&
                ! '$B/vsctl' --socket '$(host_socket 2)' info lv7 >/dev/null 2>&1; }"
        sleep 2 # nothing more happens after: still one
        local on=0 k
        for k in 1 2; do
                [ "$(h_state "$k" lv7 2>/dev/null)" != running ] || on=$((on + 1))
        done
        assert_eq "$on" 1 "hosts running lv7"
        [ ! -e "$T/run-h1/lv7.migrating" ] || fail "the move's record stays"
}

# A live move broken while the target restores (its CRIU made slow by a
# wrapper) by WHAT (daemon: its daemon killed, and started again; link:
# the session's link cut): the source asks the target before it restores
# its own copy, so that the instance runs on exactly one host, the same
# processes with their data, and nothing of it is left on the other host
# (the target's restore, when its daemon went, is undone and its copy
# removed by its next daemon; with the link cut it runs there: moved).
live_move_broken_during_restore() { # WHAT
        needs_criu
        local pid0 client k on=0 where=0 p
        slow_restore_hosts_up
        host_vsctl 1 create lv9 --privileged --start
        host_vsctl 1 exec lv9 -- sh -c 'echo kept >/root/data'
        sleeper_start 1 lv9
        pid0=$(sleeper_pid 1 lv9)
        host_vsctl 1 migrate lv9 h2 --live >/dev/null 2>"$T/migrate.err" &
        client=$!
        # imported there: its restore is under way (or the move ended
        # before: said at once)
        wait_for -t 60 sh -c "test -d '$T/root-h2/instances/lv9' || ! kill -0 $client 2>/dev/null"
        [ -d "$T/root-h2/instances/lv9" ] || fail "the move ended before the target's restore: $(cat "$T/migrate.err")"
        if [ "$1" = daemon ]; then
                # (and up again, as its service manager would have it)
                host_daemon_kill9 2
                HOST_CONF_2=$'[checkpoint]\ncriu = '"$T/slowcriu/criu" host_daemon_up 2
        else
                for p in $(pgrep -P "$(cat "$T/run-h2/sshd.spid")"); do
                        kill -KILL "$p"
                done
        fi
        # (either end is right, if it says which)
        if wait "$client"; then
                note "the move says it happened"
        else
                note "$(cat "$T/migrate.err")"
        fi
        # settled: running on one host, gone from the other
        wait_for -t 60 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 2)' --json info lv9 2>/dev/null | jq -r .state)\" = running ] &&
                ! '$B/vsctl' --socket '$(host_socket 1)' info lv9 >/dev/null 2>&1 ||
                { [ \"\$('$B/vsctl' --socket '$(host_socket 1)' --json info lv9 2>/dev/null | jq -r .state)\" = running ] &&
                ! '$B/vsctl' --socket '$(host_socket 2)' info lv9 >/dev/null 2>&1; }"
        sleep 2 # nothing more happens after: still one
        for k in 1 2; do
                if [ "$(h_state "$k" lv9 2>/dev/null)" = running ]; then
                        on=$((on + 1))
                        where=$k
                fi
        done
        assert_eq "$on" 1 "hosts running lv9"
        note "lv9 runs on host $where"
        assert_eq "$(sleeper_pid "$where" lv9)" "$pid0" "the sleeper (the same process)"
        assert_eq "$(host_vsctl "$where" exec lv9 -- cat /root/data)" kept "its data"
        h_clean $((3 - where)) lv9
        [ ! -e "$T/run-h1/lv9.migrating" ] || fail "the move's record stays"
        # and no process of it is left on the other host
        [ -z "$(find /sys/fs/cgroup -path "*$(host_cg $((3 - where)))*/lv9" -type d 2>/dev/null)" ] ||
                fail "a cgroup of lv9 is left on host $((3 - where))"
}

# timeout test_migrate_live_target_daemon_killed_during_restore 300
test_migrate_live_target_daemon_killed_during_restore() {
        live_move_broken_during_restore daemon
}

# timeout test_migrate_live_link_cut_during_restore 300
test_migrate_live_link_cut_during_restore() {
        live_move_broken_during_restore link
}

# ---- the template (the target lacks it, or has another build) -----------------

# Template bbmv on host K: a copy of its busybox template, plus a file of
# MIB MiB (random: sent as data) when given.
h_template() { # K [MIB]
        local d=$T/root-h$1/templates/bbmv
        cp -a "$T/root-h$1/templates/busybox" "$d" || fail "cannot make template bbmv on host $1"
        rm -f "$d/.content-id"
        [ -z "${2:-}" ] || head -c "$(($2 << 20))" /dev/urandom >"$d/rootfs/blob"
}

# Nothing of template bbmv on host K, not even a hidden part of it.
h_no_template() { # K
        [ -z "$(ls -A "$T/root-h$1/templates" | grep -F bbmv)" ] ||
                fail "host $1 keeps template files: $(ls -A "$T/root-h$1/templates" | grep -F bbmv | tr '\n' ' ')"
}

# A sleeper started in NAME on host 1 is still there: never stopped.
h_sleeper_runs() { # NAME
        [ "$(host_vsctl 1 exec "$1" -- sh -c 'ps | grep -c "[s]leep 7777"')" = 1 ] ||
                fail "'$1' was stopped on the source"
}

# timeout test_migrate_sends_a_missing_template 240
test_migrate_sends_a_missing_template() {
        local out id
        hosts_up 2
        h_template 1 1
        host_vsctl 1 create mt1 --template bbmv --start
        host_vsctl 1 exec mt1 -- sh -c 'echo template-data >/root/data'
        out=$(host_vsctl 1 migrate mt1 h2 --cold)
        note "$out"
        assert_eq "$(h_state 2 mt1)" running "state on the target"
        assert_eq "$(host_vsctl 2 exec mt1 -- cat /root/data)" template-data "data on the target"
        host_vsctl 2 exec mt1 -- test -s /blob || fail "the template's file is not in the moved instance"
        id=$(host_vsctl 1 --json template info bbmv | json .content_id)
        assert_match "$id" "^sha256:[0-9a-f]{64}$" "the source's content id"
        assert_eq "$(host_vsctl 2 --json template info bbmv | json .content_id)" "$id" "the target's content id"
        h_clean 1 mt1
        [ -z "$(ls -A "$T/root-h2/templates" | grep -F .bbmv)" ] || fail "the target keeps a hidden template"
        # and back: the source has it already (the same build), nothing sent
        host_vsctl 2 migrate mt1 h1 --cold >/dev/null
        assert_eq "$(h_state 1 mt1)" running "state after the move back"
}

# timeout test_migrate_template_sending_forbidden 240
test_migrate_template_sending_forbidden() {
        HOST_CONF_1=$(printf '%s\n' "[migrate]" "send_templates = no") hosts_up 2
        h_template 1
        host_vsctl 1 create mt2 --template bbmv --start
        host_vsctl 1 exec mt2 -- sh -c 'sleep 7777 </dev/null >/dev/null 2>&1 &'
        expect_fail host_vsctl 1 --json migrate mt2 h2
        assert_match "$LAST_ERR" "h2 has no template 'bbmv' and sending templates is off" "refusal"
        assert_eq "$(printf '%s\n' "$LAST_ERR" | grep -c .)" 1 "lines of the refusal"
        assert_eq "$(h_state 1 mt2)" running "state on the source"
        h_sleeper_runs mt2
        h_clean 2 mt2
        h_no_template 2
}

# timeout test_migrate_no_send_template_flag 240
test_migrate_no_send_template_flag() {
        hosts_up 2
        h_template 1
        host_vsctl 1 create mt3 --template bbmv --start
        host_vsctl 1 exec mt3 -- sh -c 'sleep 7777 </dev/null >/dev/null 2>&1 &'
        expect_fail host_vsctl 1 --json migrate mt3 h2 --no-send-template
        assert_match "$LAST_ERR" "h2 has no template 'bbmv' and sending templates is off" "refusal"
        assert_eq "$(h_state 1 mt3)" running "state on the source"
        h_sleeper_runs mt3
        h_clean 2 mt3
        h_no_template 2
}

# Another build of the template there is never replaced (instances there may
# use it): the move is refused before anything stops.
# timeout test_migrate_template_other_build_refused 240
test_migrate_template_other_build_refused() {
        local theirs
        hosts_up 2
        h_template 1
        h_template 2
        echo other-build >"$T/root-h2/templates/bbmv/rootfs/etc/build"
        host_vsctl 2 create theirs --template bbmv --net none
        host_vsctl 1 create mt4 --template bbmv --start
        host_vsctl 1 exec mt4 -- sh -c 'sleep 7777 </dev/null >/dev/null 2>&1 &'
        # the target's copy has no content id yet: its daemon answers null
        # while a helper computes it, and the move asks again until it has it
        expect_fail host_vsctl 1 --json migrate mt4 h2
        assert_match "$LAST_ERR" "h2 has another build of template 'bbmv'.*not replaced" "refusal"
        theirs=$(host_vsctl 2 --json template info bbmv | json .content_id)
        assert_match "$LAST_ERR" "\\(${theirs:0:19}\\.\\.\\. there" "the target's id in the refusal"
        assert_eq "$(h_state 1 mt4)" running "state on the source"
        h_sleeper_runs mt4
        h_clean 2 mt4
        assert_eq "$(host_vsctl 2 --json template info bbmv | json .content_id)" "$theirs" "the target's build"
        assert_eq "$(cat "$T/root-h2/templates/bbmv/rootfs/etc/build")" other-build "the target's template files"
        [ -z "$(ls -A "$T/root-h2/templates" | grep -F .bbmv)" ] || fail "the target keeps a hidden template"
}

# The link cut while the template goes: nothing of it stays on the target,
# the instance runs on the source, never stopped.
# timeout test_migrate_template_link_cut 240
test_migrate_template_link_cut() {
        local sshd p
        VSD_TEST_COPY_BPS=2M hosts_up 2
        h_template 1 24
        host_vsctl 1 create mt5 --template bbmv --start
        host_vsctl 1 exec mt5 -- sh -c 'sleep 7777 </dev/null >/dev/null 2>&1 &'
        host_vsctl 1 migrate mt5 h2 >/dev/null 2>"$T/migrate.err" &
        local client=$!
        wait_for -t 30 test -e "$T/root-h2/templates/.bbmv.import/rootfs"
        sshd=$(cat "$T/run-h2/sshd.spid")
        for p in $(pgrep -P "$sshd"); do
                kill -KILL "$p"
        done
        wait "$client" && fail "the move succeeded though its link was cut"
        note "$(cat "$T/migrate.err")"
        assert_eq "$(h_state 1 mt5)" running "state on the source"
        h_sleeper_runs mt5
        wait_for -t 30 sh -c "! ls -A '$T/root-h2/templates' | grep -q bbmv"
        h_clean 2 mt5
}

# The target's template store short of space: refused for it, nothing
# left there, the instance running on the source.
# timeout test_migrate_target_out_of_disk 240
test_migrate_target_out_of_disk() {
        HOST_TEMPLATES_TMPFS_2=24M hosts_up 2
        h_template 1 32
        host_vsctl 1 create mt6 --template bbmv --start
        host_vsctl 1 exec mt6 -- sh -c 'sleep 7777 </dev/null >/dev/null 2>&1 &'
        expect_fail host_vsctl 1 --json migrate mt6 h2
        assert_match "$LAST_ERR" "h2 did not take template 'bbmv': .*unpacks to [0-9]+ MiB; .* free" "refusal"
        assert_eq "$(h_state 1 mt6)" running "state on the source"
        h_sleeper_runs mt6
        h_clean 2 mt6
        h_no_template 2
}

# ---- post-copy ([migrate] postcopy, --postcopy) -----------------------------

# Post-copy allowed on host K (HOST_CONF_K's line in [migrate]).
postcopy_on='postcopy = yes'

# The dirty process of NAME on host K compares its 64 MiB with the pattern
# it wrote: "ok PASSES" when whole (probe dirty's CHECK_FILE).
dirty_check() { # K NAME
        host_vsctl "$1" exec "$2" -- sh -c 'rm -f /tmp/dirty.check; for k in $(seq 100); do
                kill -USR1 $(pidof probe) || exit 1; sleep 0.2; [ -s /tmp/dirty.check ] && exit 0; done; exit 1' ||
                fail "no answer from the dirty process of '$2' on host $1"
        host_vsctl "$1" exec "$2" -- cat /tmp/dirty.check
}

# A privileged instance NAME on host 1 whose process keeps 64 MiB dirty
# with a known pattern, and an echo server on port 7000.
postcopy_instance() { # NAME
        host_vsctl 1 create "$1" --memory 256M --privileged --start
        host_vsctl 1 exec "$1" -- sh -c '/probe dirty 64 /tmp/dirty.check </dev/null >/dev/null 2>&1 &'
        host_vsctl 1 exec "$1" -- sh -c 'nc -l -p 7000 -e cat </dev/null >/dev/null 2>&1 &'
        wait_for host_vsctl 1 exec "$1" -- sh -c 'netstat -ltn | grep -q :7000'
        assert_match "$(dirty_check 1 "$1")" "^ok [0-9]+$" "its memory before the move"
        live_settled 1 "$1"
}

# A client on the LAN (host_client_up) busy on one TCP connection to the
# echo server of NAME (postcopy_instance) on host 1, its pid ECHO_CPID.
postcopy_client() { # NAME
        local ip
        ip=$(host_vsctl 1 --json info "$1" | json .ip | cut -d, -f1 | cut -d/ -f1)
        nsenter --net="/run/netns/$(host_client_ns)" python3 "$VSD_SRC/tests/integration/echoclient.py" "$ip" 7000 \
                "$T/echo.stop" 60 >"$T/echo.out" 2>&1 &
        ECHO_CPID=$!
        wait_for grep -q '^at 40$' "$T/echo.out"
}

# A 64 MiB instance moves by post-copy (restored there at once, its memory
# fetched after): the same process with its memory whole (the pattern
# checked word by word), a client's TCP connection kept, the details say
# post-copy, nothing left on the source or staged on the target.
# serial test_migrate_postcopy_moves_64mib
# timeout test_migrate_postcopy_moves_64mib 120
test_migrate_postcopy_moves_64mib() {
        needs_criu
        local out op pid0 cpid
        host_pipe_max_set 4194304
        HOSTS_SHARED_LAN=1 HOST_CONF_1=$postcopy_on HOST_CONF_2=$postcopy_on hosts_up 2
        host_client_up
        host_vsctl 2 --json version | jq -e '.daemon.features | index("receive-lazy-pages")' >/dev/null ||
                fail "the target does not list receive-lazy-pages: $(host_vsctl 2 --json version)"
        postcopy_instance pc1
        pid0=$(host_vsctl 1 exec pc1 -- pidof probe)
        postcopy_client pc1
        cpid=$ECHO_CPID
        out=$(host_vsctl 1 migrate pc1 h2 --live --postcopy)
        note "$out"
        assert_match "$out" "^pc1 moved to h2 live: frozen for [0-9.]+ s, [0-9.]+ s in all \\(disk: [0-9.]+[KMGT]? copied while it ran, [0-9.]+[KMGT]? once frozen\\)$" \
                "what migrate prints"
        op=$(host_vsctl 1 --json op list | jq -c '[.[] | select(.kind == "migrate")][-1]')
        note "details: $(echo "$op" | jq -c .details)"
        assert_eq "$(echo "$op" | jq -r '.details.pages')" post-copy "details.pages"
        assert_match "$(echo "$op" | jq -r '.details.postcopy_ms')" "^[0-9]+$" "details.postcopy_ms"
        assert_eq "$(h_state 2 pc1)" running "state on the target"
        h_clean 1 pc1
        # the same process, its 64 MiB as it wrote them
        assert_eq "$(host_vsctl 2 exec pc1 -- pidof probe)" "$pid0" "the dirty process's pid on the target"
        assert_match "$(dirty_check 2 pc1)" "^ok [0-9]+$" "its memory on the target"
        echo_goes_on "$cpid"
        note "client: $(tail -n1 "$T/echo.out") (lines, longest silence in ms)"
        assert_match "$(tail -n1 "$T/echo.out")" "^ok [0-9]+ [0-9]+$" "the client's end"
        # nothing staged, no images left behind there
        h_clean_pages 2 pc1
        wait_for -t 10 sh -c "! ls -A '$T/root-h2/instances/pc1' | grep -qE '^(checkpoint|\.checkpoint\.(tmp|restoring))\$'"
}

# Refused in one line, nothing stopped, nothing on the target: post-copy
# off here, fs.pipe-max-size too low (named), an unprivileged instance; a
# target whose vsd.conf leaves it off takes the move by page server, the
# details saying why.
# serial test_migrate_postcopy_refusals
# timeout test_migrate_postcopy_refusals 120
test_migrate_postcopy_refusals() {
        needs_criu
        local out op
        host_pipe_max_set 1048576
        HOST_CONF_1=$postcopy_on hosts_up 2
        host_vsctl 1 create rp1 --privileged --start
        host_vsctl 1 create ru1 --start
        live_settled 1 rp1
        live_settled 1 ru1
        ! out=$(host_vsctl 1 migrate rp1 h2 --live --postcopy 2>&1) || fail "moved with fs.pipe-max-size low: $out"
        note "$out"
        assert_match "$out" "fs\.pipe-max-size is 1048576" "the refusal names the sysctl"
        assert_eq "$(echo "$out" | grep -c '^vsctl: ')" 1 "a one-line refusal"
        assert_eq "$(cat /proc/sys/fs/pipe-max-size)" 1048576 "fs.pipe-max-size, untouched"
        host_pipe_max_set 4194304
        ! out=$(host_vsctl 1 migrate ru1 h2 --live --unlocked-mounts --postcopy 2>&1) ||
                fail "an unprivileged instance moved by post-copy: $out"
        note "$out"
        assert_match "$out" "unprivileged" "the refusal of an unprivileged instance"
        assert_eq "$(echo "$out" | grep -c '^vsctl: ')" 1 "a one-line refusal of the unprivileged one"
        assert_eq "$(h_state 1 rp1)" running "rp1 on the source"
        assert_eq "$(h_state 1 ru1)" running "ru1 on the source"
        h_clean 2 rp1
        h_clean 2 ru1
        # the target has post-copy off: by page server, and why
        out=$(host_vsctl 1 --json migrate rp1 h2 --live --postcopy)
        note "details: $(echo "$out" | jq -c .details)"
        assert_eq "$(echo "$out" | jq -r .details.pages)" page-server "details.pages"
        assert_match "$(echo "$out" | jq -r .details.postcopy_fallback)" "receive-lazy-pages" "details.postcopy_fallback"
        # as any page-server move: memory pre-copy where this kernel has it
        assert_match "$(echo "$out" | jq -r .details.memory_precopy)" "^(on|unavailable: criu check)" \
                "details.memory_precopy after the fallback"
        assert_eq "$(h_state 2 rp1)" running "rp1 on the target"
        # and from there, where it is off
        ! out=$(host_vsctl 2 migrate rp1 h1 --live --postcopy 2>&1) || fail "moved with post-copy off: $out"
        note "$out"
        assert_match "$out" "post-copy is off on this host.*\[migrate\] postcopy = yes" "the refusal names the setting"
        assert_eq "$(h_state 2 rp1)" running "rp1 on h2"
        h_clean 1 rp1
}

# $T/DIR/criu: CRIU whose lazy-pages daemon, once the restore it serves
# has finished (the post-copy under way), has the shell lines ACTION...
# done to it ($p: its pid); ACTION's status is the wrapper's.
lazy_criu() { # DIR ACTION...
        local dir=$T/$1
        shift
        mkdir -p "$dir"
        printf '%s\n' '#!/bin/sh' \
                'if [ "$1" = lazy-pages ]; then' \
                '        d=; prev=; for a in "$@"; do [ "$prev" = -D ] && d=$a; prev=$a; done' \
                '        /usr/local/lib/vsd/criu/criu "$@" &' \
                '        p=$!; n=0' \
                '        while ! grep -qs "Restore finished successfully" "$d/restore.log" && [ $n -lt 4000 ]; do sleep 0.005; n=$((n + 1)); done' \
                "$@" \
                'fi' \
                'exec /usr/local/lib/vsd/criu/criu "$@"' >"$dir/criu"
        chmod +x "$dir/criu"
}

# ... killed: the link lost during the post-copy.
cut_lazy_criu() {
        lazy_criu cutcriu "touch '$T/cutcriu/killed'" 'kill -KILL $p; wait $p; exit 1'
}

# The link lost during the post-copy (the target's lazy-pages killed after
# the restore): the instance ran there, so the source's copy, which CRIU
# resumed, is never run again (killed, its checkpoint removed) and the
# target's is killed: it runs on neither host, the move says in one line
# that it was lost and its disk is on both; nothing leaks (hosts_down).
# serial test_migrate_postcopy_link_lost
# timeout test_migrate_postcopy_link_lost 120
test_migrate_postcopy_link_lost() {
        needs_criu
        local out
        cut_lazy_criu
        host_pipe_max_set 4194304
        HOSTS_SHARED_LAN=1 HOST_CONF_1=$postcopy_on HOST_CONF_2=$postcopy_on$'\n[checkpoint]\ncriu = '"$T/cutcriu/criu" \
                hosts_up 2
        postcopy_instance pc2
        ! out=$(host_vsctl 1 migrate pc2 h2 --live --postcopy 2>&1) || fail "moved with its lazy-pages killed: $out"
        note "$out"
        [ -e "$T/cutcriu/killed" ] || fail "the target's lazy-pages was not killed"
        assert_match "$out" "the instance was lost in its post-copy .*its disk is on both hosts as of the move" \
                "the move's message"
        assert_eq "$(echo "$out" | grep -c '^vsctl: ')" 1 "a one-line message"
        wait_for -t 20 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 2)' --json info pc2 | jq -r .state)\" = stopped ]"
        assert_eq "$(h_state 1 pc2)" stopped "state on the source"
        assert_eq "$(h_state 2 pc2)" stopped "state on the target"
        # no checkpoint on either side: neither can bring back a copy
        # without the memory that was being fetched
        [ -z "$(ls -A "$T/root-h1/instances/pc2" | grep -E '^(checkpoint|\.checkpoint\.(tmp|restoring))$')" ] ||
                fail "a checkpoint stays on the source: $(ls -A "$T/root-h1/instances/pc2")"
        wait_for -t 10 sh -c "! ls -A '$T/root-h2/instances/pc2' | grep -qE '^(checkpoint|\.checkpoint\.(tmp|restoring))\$'"
        h_clean_pages 2 pc2
        # a start brings it back from its disk (here)
        host_vsctl 1 start pc2
        assert_eq "$(h_state 1 pc2)" running "started again on the source"
}

# ... stopped (SIGSTOP) until $T/stopcriu/go: a post-copy held in its
# middle.
stop_lazy_criu() {
        lazy_criu stopcriu "kill -STOP \$p; touch '$T/stopcriu/stopped'" \
                "while [ ! -e '$T/stopcriu/go' ]; do sleep 0.1; done" 'kill -CONT $p; wait $p; exit $?'
}

# The source's daemon killed during the post-copy (marker phase postcopy):
# its dump's CRIU dies with it and lets the processes go; the next daemon
# ends them, drops the checkpoint (its lazy pages are gone), asks the
# target, where its lazy-pages lost the link and the instance was killed,
# and reports it lost: stopped on both hosts, run on neither.
# serial test_migrate_postcopy_source_daemon_killed
# timeout test_migrate_postcopy_source_daemon_killed 150
test_migrate_postcopy_source_daemon_killed() {
        needs_criu
        local client
        stop_lazy_criu
        host_pipe_max_set 4194304
        HOST_CONF_1=$postcopy_on HOST_CONF_2=$postcopy_on$'\n[checkpoint]\ncriu = '"$T/stopcriu/criu" hosts_up 2
        postcopy_instance pc3
        host_vsctl 1 migrate pc3 h2 --live --postcopy >/dev/null 2>&1 &
        client=$!
        wait_for -t 60 test -e "$T/stopcriu/stopped"
        grep -q '"phase":"postcopy"' "$T/run-h1/pc3.migrating" || fail "the marker: $(cat "$T/run-h1/pc3.migrating")"
        host_daemon_kill9 1
        touch "$T/stopcriu/go"
        wait "$client" && fail "the move succeeded though its daemon was killed"
        host_daemon_up 1
        wait_for -t 60 test ! -e "$T/run-h1/pc3.migrating"
        wait_for -t 30 grep -q "Instance pc3: lost: its post-copy move to h2" "$T/run-h1/vsd.log"
        assert_eq "$(h_state 1 pc3)" stopped "state on the source"
        wait_for -t 20 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 2)' --json info pc3 | jq -r .state)\" = stopped ]"
        [ -z "$(ls -A "$T/root-h1/instances/pc3" | grep -E '^(checkpoint|\.checkpoint\.(tmp|restoring))$')" ] ||
                fail "a checkpoint stays on the source: $(ls -A "$T/root-h1/instances/pc3")"
        h_clean_pages 2 pc3
}

# No process and no cgroup of NAME on host K, no host link, no checkpoint
# (committed, staged or being restored), no staged pages.
h_down_clean() { # K NAME
        local link
        link=$(host_vsctl "$1" --json info "$2" | json .host_link)
        [ -z "$(find /sys/fs/cgroup -path "*$(host_cg "$1")*/$2" -type d 2>/dev/null)" ] ||
                fail "a cgroup of $2 is left on host $1: $(find /sys/fs/cgroup -path "*$(host_cg "$1")*/$2" -type d)"
        [ -z "$link" ] || ! ip -n "$(host_ns "$1")" link show "$link" >/dev/null 2>&1 ||
                fail "the host link $link of $2 stays on host $1"
        wait_for -t 10 sh -c "! ls -A '$T/root-h$1/instances/$2' | grep -qE '^(checkpoint|\.checkpoint\.(tmp|restoring))\$'"
        h_clean_pages "$1" "$2"
}

# The target's daemon killed while the target's lazy-pages fetches the
# pages (held, SIGSTOP, in the post-copy's middle: restored and running
# there), then started again as a service manager would: lazy-pages died
# with its helper, so what the processes there fault in now would come
# zero-filled; the next daemon kills that copy (the lazy restore's images
# still there say pages were owed), and the source, its page link ended,
# reports the instance lost: stopped on both hosts with its disk, run on
# neither, nothing of the move left.  (Before, the target's next daemon
# took the restore as finished: the copy ran on there with its memory
# zeroed, until its init crashed on a zeroed page.)
# serial test_migrate_postcopy_target_daemon_killed
# timeout test_migrate_postcopy_target_daemon_killed 150
test_migrate_postcopy_target_daemon_killed() {
        needs_criu
        local client out conf2
        stop_lazy_criu
        host_pipe_max_set 4194304
        conf2=$postcopy_on$'\n[checkpoint]\ncriu = '"$T/stopcriu/criu"
        HOST_CONF_1=$postcopy_on HOST_CONF_2=$conf2 hosts_up 2
        postcopy_instance pt1
        host_vsctl 1 migrate pt1 h2 --live --postcopy >"$T/migrate.out" 2>&1 &
        client=$!
        wait_for -t 60 test -e "$T/stopcriu/stopped"
        # restored there, the pages still owed: its restore has ended
        wait_for -t 30 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 2)' --json info pt1 | jq -r .state)\" = running ] &&
                ! '$B/vsctl' --socket '$(host_socket 2)' --json op list | jq -e '.[] | select(.kind == \"restore\" and .state == \"running\")' >/dev/null"
        [ -d "$T/root-h2/instances/pt1/.checkpoint.restoring" ] || fail "no lazy restore's images on the target"
        grep -q '"phase":"postcopy"' "$T/run-h1/pt1.migrating" || fail "the marker: $(cat "$T/run-h1/pt1.migrating")"
        host_daemon_kill9 2
        HOST_CONF_2=$conf2 host_daemon_up 2
        wait "$client" && fail "the move succeeded though the target's daemon was killed: $(cat "$T/migrate.out")"
        out=$(cat "$T/migrate.out")
        note "$out"
        assert_eq "$(echo "$out" | grep -c '^vsctl: ')" 1 "a one-line message"
        assert_match "$out" "the instance was lost in its post-copy .*its disk is on both hosts as of the move" \
                "the move's message"
        wait_for -t 20 sh -c "[ \"\$('$B/vsctl' --socket '$(host_socket 2)' --json info pt1 | jq -r .state)\" = stopped ]"
        # killed by the next daemon, and said so (before, it was adopted
        # as restored and ran on until its init crashed on a zeroed page)
        "$B/vsctl" --socket "$(host_socket 2)" events pt1 --past --json >"$T/events.out" 2>"$T/events.err" ||
                note "vsctl events: status $?: $(cat "$T/events.err")"
        jq -se 'any(.[]; .type == "migrate-lost")' "$T/events.out" >/dev/null ||
                fail "no event migrate-lost on the target: $(jq -c .type "$T/events.out" | tr '\n' ' ')"
        grep -q "Instance pt1: killed: vsd's end cut its post-copy short" "$T/run-h2/vsd.log" ||
                fail "the target's daemon does not say why it killed pt1: $(grep pt1 "$T/run-h2/vsd.log" | tail -n 4)"
        assert_eq "$(h_state 1 pt1)" stopped "state on the source"
        [ ! -e "$T/run-h1/pt1.migrating" ] || fail "the move's record stays"
        sleep 2 # nothing more happens after
        assert_eq "$(h_state 1 pt1)" stopped "state on the source, later"
        assert_eq "$(h_state 2 pt1)" stopped "state on the target, later"
        h_down_clean 1 pt1
        h_down_clean 2 pt1
        # its disk on both: a start brings it back (here)
        host_vsctl 1 start pt1
        assert_eq "$(h_state 1 pt1)" running "started again on the source"
}

# NAME runs on host 1 after a post-copy undone there: no CRIU lock table in
# its namespace, no checkpoint; nothing of it on host 2, staged pages
# included.
resumed_clean() { # NAME
        local tables
        tables=$(nsenter --net="/proc/$(host_vsctl 1 --json info "$1" | json .pid)/ns/net" nft list tables) ||
                fail "no nft tables of $1's to list"
        ! echo "$tables" | grep -q CRIU || fail "CRIU's network lock stays: $tables"
        [ -z "$(ls -A "$T/root-h1/instances/$1" | grep -E '^(checkpoint|\.checkpoint\.(tmp|restoring))$')" ] ||
                fail "a checkpoint stays on the source: $(ls -A "$T/root-h1/instances/$1")"
        h_clean_pages 2 "$1"
        h_clean 2 "$1"
}

# NAME's post-copy move from host 1 held by a test hook while the file HOLD
# exists, until WAIT... holds (its committed post-copy checkpoint in place,
# the move's record then kept as $T/NAME.marker); the source's
# daemon killed, started again, and the record settled.
postcopy_source_killed_held() { # NAME HOLD WAIT...
        local name=$1 hold=$2 client
        shift 2
        touch "$hold"
        host_vsctl 1 migrate "$name" h2 --live --postcopy >/dev/null 2>&1 &
        client=$!
        wait_for -t 60 "$@"
        cp "$T/run-h1/$name.migrating" "$T/$name.marker"
        [ -e "$T/root-h1/instances/$name/checkpoint/vsd-lazy" ] ||
                fail "no committed post-copy checkpoint: $(ls -A "$T/root-h1/instances/$name")"
        host_daemon_kill9 1
        rm -f "$hold"
        wait "$client" && fail "the move succeeded though its daemon was killed"
        host_daemon_up 1
        wait_for -t 120 test ! -e "$T/run-h1/$name.migrating"
}

# The source's daemon killed right after the post-copy dump's commit,
# before the daemon heard of it (VSD_TEST_COMMIT_HOLD holds the dump's
# hook there; marker phase still "dump"): the checkpoint in place lacks
# the memory CRIU was to serve, the archive never went.  The next daemon
# resumes the processes CRIU let go when it died: the same process with
# its 64 MiB whole, the client's TCP connection kept (CRIU's repair mode
# and lock off, the link up again), no checkpoint, nothing on the target.
# (Before, it ended them and "restored" the page-less checkpoint.)
# serial test_migrate_postcopy_source_killed_at_commit
# timeout test_migrate_postcopy_source_killed_at_commit 150
test_migrate_postcopy_source_killed_at_commit() {
        needs_criu
        local pid0 cpid
        host_pipe_max_set 4194304
        HOSTS_SHARED_LAN=1 HOST_CONF_1=$postcopy_on HOST_CONF_2=$postcopy_on \
                VSD_TEST_COMMIT_HOLD=$T/commit-hold hosts_up 2
        host_client_up
        postcopy_instance pw1
        pid0=$(host_vsctl 1 exec pw1 -- pidof probe)
        postcopy_client pw1
        cpid=$ECHO_CPID
        postcopy_source_killed_held pw1 "$T/commit-hold" test -e "$T/commit-hold.held"
        grep -q '"phase":"dump"' "$T/pw1.marker" || fail "the marker: $(cat "$T/pw1.marker")"
        assert_eq "$(h_state 1 pw1)" running "state on the source"
        assert_eq "$(host_vsctl 1 exec pw1 -- pidof probe)" "$pid0" "the dirty process (resumed, not started again)"
        assert_match "$(dirty_check 1 pw1)" "^ok [0-9]+$" "its memory on the source"
        echo_goes_on "$cpid"
        grep -q "Instance pw1: turned CRIU's repair mode off on [1-9]" "$T/run-h1/vsd.log" ||
                fail "no socket taken out of CRIU's repair mode"
        resumed_clean pw1
}

# The source's daemon killed once the marker says "postcopy" but before
# the archive went (VSD_TEST_ARCHIVE_HOLD holds the move's helper there):
# the dump's CRIU dies with it and lets the processes go, their memory
# whole; the target never had the instance.  The next daemon freezes them,
# asks the target (not there: it never ran there) and resumes them here:
# the same process with its 64 MiB whole, CRIU's lock and checkpoint gone,
# nothing on the target.  (Before, it ended them and reported the
# instance lost.)
# serial test_migrate_postcopy_source_killed_before_archive
# timeout test_migrate_postcopy_source_killed_before_archive 150
test_migrate_postcopy_source_killed_before_archive() {
        needs_criu
        local pid0
        host_pipe_max_set 4194304
        HOST_CONF_1=$postcopy_on HOST_CONF_2=$postcopy_on VSD_TEST_ARCHIVE_HOLD=$T/archive-hold hosts_up 2
        postcopy_instance pa1
        pid0=$(host_vsctl 1 exec pa1 -- pidof probe)
        postcopy_source_killed_held pa1 "$T/archive-hold" grep -q '"phase":"postcopy"' "$T/run-h1/pa1.migrating"
        assert_eq "$(h_state 1 pa1)" running "state on the source"
        grep -q "Instance pa1: asking h2 whether it ever ran there" "$T/run-h1/vsd.log" || fail "the target was not asked"
        assert_eq "$(host_vsctl 1 exec pa1 -- pidof probe)" "$pid0" "the dirty process (resumed, not started again)"
        assert_match "$(dirty_check 1 pa1)" "^ok [0-9]+$" "its memory on the source"
        ! host_vsctl 1 events pa1 --past --json | jq -se 'any(.[]; .type == "migrate-lost")' >/dev/null ||
                fail "reported lost"
        [ "$(cat "$(find /sys/fs/cgroup -path "*$(host_cg 1)/pa1/freezer.state" 2>/dev/null | head -n1)" 2>/dev/null || echo THAWED)" = THAWED ] ||
                fail "pa1 stays frozen"
        resumed_clean pa1
}

# The target's restore failing after the commit (its CRIU refuses to
# restore): the target never ran it, so the dump, whose serve then fails,
# resumes it here as it was (the verdict 'r'): the same process with its
# memory whole, its network unlocked, nothing on the target.
# serial test_migrate_postcopy_target_restore_fails
# timeout test_migrate_postcopy_target_restore_fails 120
test_migrate_postcopy_target_restore_fails() {
        needs_criu
        local out pid0
        mkdir -p "$T/norestore"
        printf '%s\n' '#!/bin/sh' '[ "$1" = restore ] && exit 1' 'exec /usr/local/lib/vsd/criu/criu "$@"' \
                >"$T/norestore/criu"
        chmod +x "$T/norestore/criu"
        host_pipe_max_set 4194304
        HOST_CONF_1=$postcopy_on HOST_CONF_2=$postcopy_on$'\n[checkpoint]\ncriu = '"$T/norestore/criu" hosts_up 2
        postcopy_instance pc4
        pid0=$(host_vsctl 1 exec pc4 -- pidof probe)
        ! out=$(host_vsctl 1 migrate pc4 h2 --live --postcopy 2>&1) || fail "moved though the target cannot restore: $out"
        note "$out"
        assert_match "$(echo "$out" | grep '^vsctl: ')" "did not restore it" "the move's message"
        assert_eq "$(h_state 1 pc4)" running "state on the source"
        assert_eq "$(host_vsctl 1 exec pc4 -- pidof probe)" "$pid0" "the dirty process (resumed, not started again)"
        assert_match "$(dirty_check 1 pc4)" "^ok [0-9]+$" "its memory on the source"
        resumed_clean pc4
}

# [migrate] raise_pipe_max_size = yes: vsd raises fs.pipe-max-size itself
# for the move (and says so), which then goes by post-copy.
# serial test_migrate_postcopy_raises_pipe_size_when_allowed
# timeout test_migrate_postcopy_raises_pipe_size_when_allowed 90
test_migrate_postcopy_raises_pipe_size_when_allowed() {
        needs_criu
        local out
        host_pipe_max_set 1048576
        HOST_CONF_1=$postcopy_on$'\nraise_pipe_max_size = yes' HOST_CONF_2=$postcopy_on hosts_up 2
        host_vsctl 1 create rs1 --privileged --start
        live_settled 1 rs1
        out=$(host_vsctl 1 --json migrate rs1 h2 --live --postcopy)
        assert_eq "$(cat /proc/sys/fs/pipe-max-size)" 4194304 "fs.pipe-max-size after the move"
        grep -q "Raised fs.pipe-max-size from 1048576 to 4194304" "$T/run-h1/vsd.log" || fail "vsd did not say it raised it"
        assert_eq "$(echo "$out" | jq -r .details.pages)" post-copy "details.pages"
        assert_eq "$(h_state 2 rs1)" running "rs1 on the target"
        h_clean 1 rs1
}

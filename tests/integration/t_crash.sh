# SPDX-License-Identifier: LGPL-2.1-or-later
# A daemon killed at any instant loses nothing: whatever a client saw succeed
# is on disk, nothing is half-made, duplicated or frozen, nothing is left in
# the kernel, and the next daemon serves.

# timeout test_crash_random_kill 600

# One client's work, in a loop until told to stop: create (and start) an
# instance, snapshot it, stop it, destroy every other one.  A line goes to
# the journal only after vsctl said the operation succeeded; each call is
# bounded, so a dead daemon ends it with an error, never a hang.
crash_worker() { # ROUND WORKER JOURNAL STOPFILE
        local r=$1 w=$2 journal=$3 stopfile=$4 k=0 n
        while [ ! -e "$stopfile" ]; do
                k=$((k + 1))
                n=c$r$w$k
                timeout 30 "$B/vsctl" --socket "$VSD_SOCKET" create "$n" --disk 64M --start >/dev/null 2>&1 || continue
                echo "create $n" >>"$journal"
                timeout 30 "$B/vsctl" --socket "$VSD_SOCKET" snapshot "$n" s1 >/dev/null 2>&1 || continue
                echo "snap $n s1" >>"$journal"
                timeout 30 "$B/vsctl" --socket "$VSD_SOCKET" stop "$n" --kill >/dev/null 2>&1 || continue
                echo "stop $n" >>"$journal"
                [ $((k % 2)) -eq 0 ] || continue
                timeout 30 "$B/vsctl" --socket "$VSD_SOCKET" destroy "$n" >/dev/null 2>&1 || continue
                echo "destroy $n" >>"$journal"
        done
}

# The freezer state of an instance's cgroup, in whichever hierarchy has it:
# "frozen" or "thawed".
crash_frozen() { # NAME
        local d f
        for d in $(find /sys/fs/cgroup -maxdepth 4 -type d -path "*/$VSD_CG/$1" 2>/dev/null); do
                f=$d/freezer.state
                if [ -r "$f" ] && [ "$(cat "$f")" != THAWED ]; then
                        echo frozen
                        return
                fi
                f=$d/cgroup.freeze
                if [ -r "$f" ] && [ "$(cat "$f")" = 1 ]; then
                        echo frozen
                        return
                fi
        done
        echo thawed
}

# Everything the journal says must hold, and nothing else may be there.
crash_verify() { # JOURNAL
        local journal=$1 j names n state snaps p cg
        j=$(timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" --json list) || fail "the restarted daemon does not list"
        names=$(jq -r '.[].name' <<<"$j")
        [ -z "$(sort <<<"$names" | uniq -d)" ] || fail "an instance is listed twice: $(sort <<<"$names" | uniq -d)"

        # what a client saw succeed is there (or gone, for a destroy)
        for n in $(awk '$1 == "create" { print $2 }' "$journal"); do
                if grep -qx "destroy $n" "$journal"; then
                        ! grep -qx "$n" <<<"$names" || fail "$n was destroyed but is listed"
                        [ ! -e "$T/root/instances/$n" ] || fail "$n was destroyed but its directory remains"
                        continue
                fi
                grep -qx "$n" <<<"$names" || fail "$n was created but is not listed after the crash"
                if grep -qx "snap $n s1" "$journal"; then
                        snaps=$(timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" --json snapshots "$n") ||
                                fail "cannot list the snapshots of $n"
                        json -e '.[] | select(.name == "s1")' <<<"$snaps" >/dev/null ||
                                fail "snapshot s1 of $n was taken but is not listed: $snaps"
                fi
                if grep -qx "stop $n" "$journal"; then
                        assert_eq "$(json -r ".[] | select(.name == \"$n\") | .state" <<<"$j")" stopped "$n, stopped before the crash"
                fi
        done

        # nothing half-made: every instance listed, whether or not its
        # create was seen to succeed, is whole and works
        for n in $names; do
                state=$(json -r ".[] | select(.name == \"$n\") | .state" <<<"$j")
                case $state in
                running)
                        assert_eq "$(crash_frozen "$n")" thawed "freezer of $n, running after the crash"
                        timeout 15 "$B/vsctl" --socket "$VSD_SOCKET" exec "$n" -- true ||
                                fail "exec into $n (running after the crash) failed or hung"
                        ;;
                stopped)
                        [ -z "$(_cg_dirs "$n" | grep "/$VSD_CG/")" ] || fail "stopped $n still has a cgroup"
                        ;;
                *)
                        fail "$n is $state after the crash: $(json -r ".[] | select(.name == \"$n\") | .error // empty" <<<"$j")"
                        ;;
                esac
                # every snapshot listed is whole: its filesystem checks clean
                for p in $(timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" --json snapshots "$n" | jq -r '.[].name'); do
                        [ ! -f "$T/root/instances/$n/snapshots/$p.img" ] ||
                                e2fsck -fn "$T/root/instances/$n/snapshots/$p.img" >/dev/null 2>&1 ||
                                fail "snapshot $p of $n is listed but its filesystem is damaged"
                done
        done

        # no loop device, mount or veth but those of running instances
        local running l f links
        running=$(json -r '[.[] | select(.state == "running")] | length' <<<"$j")
        for l in $(_test_loops "$T"); do
                f=$(cat "/sys/block/$l/loop/backing_file")
                n=${f#"$T/root/instances/"}
                n=${n%%/*}
                [ "$(json -r ".[] | select(.name == \"$n\") | .state" <<<"$j" 2>/dev/null)" = running ] ||
                        fail "loop device $l left bound to $f"
        done
        while read -r f; do
                [ -n "$f" ] || continue
                n=${f#"$T/root/instances/"}
                n=${n%%/*}
                [ "$(json -r ".[] | select(.name == \"$n\") | .state" <<<"$j" 2>/dev/null)" = running ] ||
                        fail "mount $f left over"
        done < <(awk -v d="$T/root/instances/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo)
        vsd_net_names
        links=$(ip -o link show 2>/dev/null | grep -cE ": $VSD_LINK_PREFIX[0-9a-f]{8}[@:]") || true
        [ "$links" -le "$running" ] || fail "$links instance veths on the host for $running running instances"

        # no process but the inits of running instances (and what they
        # started) in the daemon's cgroups
        for p in $(_test_pids "$VSD_CG" "$T"); do
                [ "$p" != "$(vsd_pid)" ] || continue
                alive "$p" || continue
                cg=$(grep -m1 -oE "/$VSD_CG/[^/]+" "/proc/$p/cgroup" 2>/dev/null) || cg=
                n=${cg##*/}
                [ -n "$n" ] && [ "$(json -r ".[] | select(.name == \"$n\") | .state" <<<"$j")" = running ] ||
                        fail "process $p ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-60)) left over in ${cg:-no instance cgroup}"
        done
}

test_crash_random_kill() {
        local round w journal stopfile pids delay survivors
        journal=$T/journal
        : >"$journal"
        vsctl create base --disk 64M --start
        echo "create base" >>"$journal"
        for round in 1 2 3 4; do
                stopfile=$T/stop.$round
                pids=()
                for w in 1 2 3; do
                        crash_worker "$round" "$w" "$journal" "$stopfile" &
                        pids+=($!)
                done
                # a moment of the workers' choosing: 0.3 to 3 s in
                delay=$((300 + RANDOM % 2700))
                note "round $round: kill -9 after ${delay} ms"
                sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
                vsd_kill9
                touch "$stopfile"
                wait "${pids[@]}" 2>/dev/null || true
                vsd_up
                crash_verify "$journal"
                note "round $round: $(wc -l <"$journal") operations journaled, $(vsctl list | tail -n +2 | wc -l) instances"
        done

        # and it still serves: a new instance runs, and everything can go
        vsctl create after --start
        vsctl exec after -- true
        survivors=$(vsctl --json list | jq -r '.[].name')
        for w in $survivors; do
                vsctl destroy --force "$w" >/dev/null 2>&1 || { vsctl stop --kill "$w" >/dev/null 2>&1 || true; vsctl destroy "$w"; }
        done
        assert_eq "$(vsctl --json list | json 'length')" 0 "instances left after destroying them all"
}

# SPDX-License-Identifier: LGPL-2.1-or-later
# A daemon killed (kill -9) in the middle of a long operation: the next one
# finds what it left half-done and undoes it.  Snapshots: the instance
# thawed and reported, the partial copy gone and never listed.  Template
# builds: the builder's processes killed with its cgroup, the half template
# removed, the next build of that name fine.  And at random moments of
# parallel work: whatever a client saw succeed holds, nothing else is left.

crash_inst_dir() { # NAME
        echo "$T/root/instances/$1"
}

# The freezer state of an instance's cgroup: THAWED, FREEZING or FROZEN.
freezer_state() { # NAME
        local f="/sys/fs/cgroup/freezer/$VSD_CG/$1/freezer.state" v
        if [ -f "$f" ]; then
                cat "$f"
        elif [ -f "/sys/fs/cgroup/$VSD_CG/$1/cgroup.freeze" ]; then
                v=$(sed -n 's/^frozen //p' "/sys/fs/cgroup/$VSD_CG/$1/cgroup.events")
                [ "$v" = 1 ] && echo FROZEN || echo THAWED
        else
                echo "no freezer for $1"
        fi
}

# Some file in the instance's snapshots directory has data: a copy runs.
copy_under_way() { # NAME
        [ -n "$(find "$(crash_inst_dir "$1")/snapshots" -mindepth 1 -maxdepth 1 -size +1M 2>/dev/null)" ]
}

links_at_most() { # N: no more instance veths on the host than N
        local links
        links=$(ip -o link show 2>/dev/null | grep -cE ": $VSD_LINK_PREFIX[0-9a-f]{8}[@:]") || true
        [ "$links" -le "$1" ] || { echo "$links instance veths on the host for $1 running instances"; return 1; }
}

# timeout test_crash_snapshot_killed_mid_copy 300
test_crash_snapshot_killed_mid_copy() {
        local d bg start took
        vsctl create cs1 --disk 2G --start
        d=$(crash_inst_dir cs1)
        # a gigabyte of data, so that the copy takes a while
        vsctl exec cs1 -- sh -c 'echo kept >/etc/kept && dd if=/dev/zero of=/big bs=1M count=1024 conv=fsync 2>/dev/null'
        "$B/vsctl" --socket "$VSD_SOCKET" snapshot cs1 s1 >/dev/null 2>&1 &
        bg=$!
        wait_for -t 30 copy_under_way cs1
        note "copy under way: $(ls -la "$d/snapshots")"
        vsd_kill9
        wait "$bg" || true
        vsd_up

        # the instance runs on, thawed, and says so
        assert_eq "$(inst_state cs1)" running "state after the restart"
        assert_eq "$(freezer_state cs1)" THAWED "freezer state after the restart"
        start=$SECONDS
        assert_eq "$(timeout "$(scaled 5)" "$B/vsctl" --socket "$VSD_SOCKET" exec cs1 -- cat /etc/kept)" kept "exec after the restart"
        took=$((SECONDS - start))
        [ "$took" -le "$(scaled 3)" ] || fail "exec took ${took}s"
        # writes go through: the filesystem is thawed too
        timeout "$(scaled 5)" "$B/vsctl" --socket "$VSD_SOCKET" exec cs1 -- sh -c 'echo after >>/etc/kept && sync' ||
                fail "cannot write inside after the restart"
        grep -q "Instance cs1: thawed .*interrupted" "$T/vsd.log" || fail "the thaw is not logged"
        vsctl events cs1 --no-follow --json | jq -e 'select(.type == "thawed")' >/dev/null ||
                fail "no thawed event: $(vsctl events cs1 --no-follow --json)"

        # the partial snapshot is neither listed nor left on disk
        assert_eq "$(vsctl --json snapshots cs1 | json length)" 0 "snapshots listed after the crash"
        assert_eq "$(ls -A "$d/snapshots" 2>/dev/null)" "" "files in the snapshots directory"
        grep -q "cs1: removed the partial snapshot" "$T/vsd.log" || fail "the removal is not logged"

        # a new snapshot works and restores to a clean filesystem
        vsctl snapshot cs1 s2
        assert_eq "$(vsctl --json snapshots cs1 | json 'map(.name) | join(",")')" s2 "snapshots after a new one"
        e2fsck -fn "$d/snapshots/s2.img" >&2 || fail "e2fsck finds the new snapshot unclean"
        vsctl exec cs1 -- sh -c 'echo changed >/etc/kept; rm /big'
        vsctl stop cs1
        vsctl restore-snapshot cs1 s2
        e2fsck -fn "$d/disk.img" >&2 || fail "e2fsck finds the restored image unclean"
        vsctl start cs1
        assert_eq "$(vsctl exec cs1 -- cat /etc/kept | tr '\n' ' ')" "kept after " "content after the restore"
        assert_eq "$(vsctl exec cs1 -- stat -c %s /big)" $((1024 * 1048576)) "size of /big after the restore"
}

# A template build killed mid-way: its builder and whatever the builder
# started (here a writer that left its session, as tar or zstd under a
# killed shell go on) die with its cgroup; the half template goes.
test_crash_build_killed_mid_way() {
        local wpid
        mkdir -p "$T/builders/stuck"
        ln -s "$VSD_SRC/templates/busybox" "$T/builders/busybox"
        cat >"$T/builders/stuck/build.sh" <<SH
#!/bin/sh
# the busybox template into DEST, then a writer of its own session that
# goes on writing into DEST, and a builder that takes its time
"$VSD_SRC/templates/busybox/build.sh" "\$1" || exit 1
cat /proc/self/cgroup >"$T/builder.cgroup"
setsid sh -c 'echo \$\$ >"$T/writer.pid"; while :; do date >>"\$1/rootfs/filler"; sleep 0.05; done' sh "\$1" >/dev/null 2>&1 &
echo writing
exec sleep 600
SH
        chmod +x "$T/builders/stuck/build.sh"
        sed -i "s|^builders = .*|builders = $T/builders|" "$T/vsd.conf"
        vsd_stop
        vsd_up

        "$B/vsctl" --socket "$VSD_SOCKET" template build tb1 --from stuck >"$T/build.out" 2>&1 &
        local bg=$!
        wait_for test -s "$T/root/templates/.tb1.build/rootfs/filler"
        wpid=$(cat "$T/writer.pid")
        alive "$wpid" || fail "the writer is not running"
        vsd_kill9
        wait "$bg" || true
        vsd_up

        # the writer is gone, and with it what it wrote
        wait_for -t 5 sh -c "! [ -d /proc/$wpid ] || grep -q '^State:.*Z' /proc/$wpid/status"
        [ -z "$(find "$T/root/templates" -maxdepth 1 -name '.tb1*')" ] ||
                fail "leftovers of the build: $(ls -A "$T/root/templates")"
        grep -q "Removed the leftover .*\.tb1\.build" "$T/vsd.log" || fail "leftover removal not logged"
        # the builder ran in a cgroup of its own below the daemon's, which
        # the next daemon killed and removed
        grep -qE "/$VSD_CG/[^/]*tb1" "$T/builder.cgroup" || fail "the builder's cgroup: $(cat "$T/builder.cgroup")"
        [ -z "$(find /sys/fs/cgroup -maxdepth 3 -path "*/$VSD_CG/*tb1*" 2>/dev/null)" ] ||
                fail "the build's cgroup is left: $(find /sys/fs/cgroup -maxdepth 3 -path "*/$VSD_CG/*tb1*")"

        # the same name builds again
        vsctl template build tb1 --from busybox >/dev/null
        [ -x "$T/root/templates/tb1/rootfs/bin/busybox" ] || fail "template tb1 not in place"
        [ ! -e "$T/root/templates/tb1/rootfs/filler" ] || fail "the writer's file is in the new template"
        [ -z "$(find "$T/root/templates" -maxdepth 1 -name '.*')" ] || fail "hidden leftovers: $(ls -A "$T/root/templates")"
        vsctl create tu1 --template tb1 --net none --start >/dev/null
        assert_eq "$(vsctl exec tu1 -- echo ok)" ok "an instance of the rebuilt template"
}

# A clone and a restore killed mid-copy: the clone does not exist (not
# listed, nothing left under its name) and can be made again; the restored
# instance has its old disk, clean, and the restore can be done again.
# timeout test_crash_snapshot_clone_and_restore_killed 300
test_crash_snapshot_clone_and_restore_killed() {
        local d bg
        vsctl create cr1 --disk 2G --start
        d=$(crash_inst_dir cr1)
        vsctl exec cr1 -- sh -c 'echo one >/etc/kept && dd if=/dev/zero of=/big bs=1M count=1024 conv=fsync 2>/dev/null'

        # the clone, of the running instance
        "$B/vsctl" --socket "$VSD_SOCKET" clone cr1 cr2 >/dev/null 2>&1 &
        bg=$!
        wait_for -t 30 sh -c "[ \$(stat -c %b '$T/root/instances/.cr2.new/disk.img' 2>/dev/null || echo 0) -gt 4096 ]"
        vsd_kill9
        wait "$bg" || true
        vsd_up
        assert_eq "$(freezer_state cr1)" THAWED "source's freezer state after the restart"
        assert_eq "$(timeout 5 "$B/vsctl" --socket "$VSD_SOCKET" exec cr1 -- cat /etc/kept)" one "exec into the source"
        ! vsctl info cr2 >/dev/null 2>&1 || fail "the interrupted clone is listed"
        [ -z "$(find "$T/root/instances" -maxdepth 1 -name '*cr2*')" ] || fail "left of the clone: $(ls -A "$T/root/instances")"
        vsctl clone cr1 cr2
        e2fsck -fn "$(crash_inst_dir cr2)/disk.img" >&2 || fail "e2fsck finds the new clone unclean"
        vsctl start cr2
        assert_eq "$(vsctl exec cr2 -- cat /etc/kept)" one "data in the new clone"

        # the restore, of a snapshot with the big file over a disk without
        vsctl snapshot cr1 s1
        vsctl exec cr1 -- sh -c 'echo two >/etc/kept && rm /big && sync'
        vsctl stop cr1
        "$B/vsctl" --socket "$VSD_SOCKET" restore-snapshot cr1 s1 >/dev/null 2>&1 &
        bg=$!
        wait_for -t 30 sh -c "[ \$(stat -c %b '$d/disk.img.restore' 2>/dev/null || echo 0) -gt 4096 ]"
        vsd_kill9
        wait "$bg" || true
        vsd_up
        [ ! -e "$d/disk.img.restore" ] || fail "the partial restore is left"
        grep -q "cr1: removed the partial copy of an interrupted restore" "$T/vsd.log" || fail "the removal is not logged"
        e2fsck -fn "$d/disk.img" >&2 || fail "e2fsck finds the disk unclean after an interrupted restore"
        vsctl start cr1
        assert_eq "$(vsctl exec cr1 -- cat /etc/kept)" two "data after an interrupted restore: the old disk"
        vsctl stop cr1
        vsctl restore-snapshot cr1 s1
        vsctl start cr1
        assert_eq "$(vsctl exec cr1 -- cat /etc/kept)" one "data after the restore"
        assert_eq "$(vsctl exec cr1 -- stat -c %s /big)" $((1024 * 1048576)) "size of /big after the restore"
}

# ---- kill -9 at random moments of parallel create/start/snapshot/stop/destroy

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
                # asked: a kill -9 before the answer may leave it either way
                echo "destroying $n" >>"$journal"
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
                if ! grep -qx "$n" <<<"$names" && grep -qx "destroying $n" "$journal"; then
                        # destroyed, its answer lost in the crash: wholly gone
                        [ ! -e "$T/root/instances/$n" ] || fail "$n is not listed but its directory remains"
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
        # a stopped instance's link goes with its namespace, in the
        # kernel's own time, or at the daemon's sweep a second later
        wait_for -t 5 links_at_most "$running"

        # no process but the inits of running instances (and what they
        # started) in the daemon's cgroups
        for p in $(_test_pids "$VSD_CG" "$T"); do
                [ "$p" != "$(vsd_pid)" ] || continue
                alive "$p" || continue
                # the daemon's listener holder (doc/architecture.md), like
                # its lxcfs, runs beside it in no instance's cgroup
                tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "--listener-holder $T/run/holder" && continue
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

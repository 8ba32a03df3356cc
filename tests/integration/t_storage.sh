# SPDX-License-Identifier: LGPL-2.1-or-later
# The private layer on its own disk image: quotas that are really hit and
# hurt only the instance, growth, crash cleanup, snapshots and clones.

inst_dir() { # NAME
        echo "$T/root/instances/$1"
}

# The loop devices backing an instance's image (none: empty).
disk_loop() { # NAME (bound devices only: see _test_loops)
        local f b l
        f="$(inst_dir "$1")/disk.img"
        for b in /sys/block/loop*/loop/backing_file; do
                read -r l <"$b" 2>/dev/null || continue
                [ "$l" != "$f" ] || { l=${b%/loop/backing_file}; echo "${l##*/}"; }
        done
}

disk_mounted() { # NAME
        awk -v m="$(inst_dir "$1")/disk" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# The disk is neither mounted nor bound to a loop device.
disk_detached() { # NAME
        ! disk_mounted "$1" && [ -z "$(disk_loop "$1")" ]
}

# Stopped, its disk kept for the next start: bound to one loop device and
# mounted in no namespace (never in the host's tree).
disk_kept() { # NAME
        ! disk_mounted "$1" && [ "$(disk_loop "$1" | wc -l)" -eq 1 ]
}

# Bytes the image occupies on the host.
host_bytes() { # NAME
        echo $(($(stat -c %b "$(inst_dir "$1")/disk.img") * 512))
}

host_bytes_below() { # NAME BYTES
        [ "$(host_bytes "$1")" -lt "$2" ]
}

# df -k / inside: "SIZE USED AVAIL" in KiB.
df_inside() { # NAME
        vsctl exec "$1" -- df -k / | awk 'NR == 2 { print $2, $3, $4 }'
}

test_disk_full_hurts_only_the_instance() {
        local size used avail out written before
        vsctl create full1 --disk 128M --start
        vsctl create bystander --disk 128M --start
        # the daemon holds it by fd; the host's tree does not have it
        ! disk_mounted full1 || fail "the disk of full1 stays in the host's mount tree"
        [ -n "$(disk_loop full1)" ] || fail "no loop device backs full1's image"
        read -r size used avail <<<"$(df_inside full1)"
        note "df inside: size ${size}K used ${used}K avail ${avail}K"
        # the plan's size, less the filesystem's own journal and tables
        assert_between "$size" $((128 * 1024 * 85 / 100)) $((128 * 1024)) "df size (KiB) inside a 128M disk"
        assert_eq "$(vsctl --json stats full1 | json .disk.limit)" $((size * 1024)) "stats disk limit = df size"
        vsctl stats full1 | grep -qE '^disk +[0-9.]+K? ' || fail "no disk row in vsctl stats NAME: $(vsctl stats full1)"
        vsctl stats | head -1 | grep -q 'DISK-LIMIT' || fail "no disk column in vsctl stats"
        vsctl info full1 | grep -qE '^disk: +128M$' || fail "no disk in vsctl info: $(vsctl info full1)"

        out=$(vsctl exec full1 -- sh -c 'dd if=/dev/zero of=/fill bs=1M 2>&1; echo rc=$?; sync; ls -ln /fill') || true
        note "$out"
        grep -q "No space left on device" <<<"$out" || fail "dd did not end with ENOSPC: $out"
        written=$(awk '/\/fill$/ { print $5 }' <<<"$out")
        # everything the instance could write, within 2% of what df offered
        assert_between "$written" $((avail * 1024 * 98 / 100)) $((avail * 1024 * 102 / 100)) "bytes written until ENOSPC"
        out=$(vsctl exec full1 -- sh -c 'dd if=/dev/zero of=/more bs=1M count=2 2>&1; echo rc=$?')
        assert_match "$out" "rc=[1-9]" "another write on the full disk"

        # the host and the neighbour do not notice
        vsctl exec bystander -- sh -c 'dd if=/dev/zero of=/ok bs=1M count=16 2>/dev/null && sync'
        assert_eq "$(vsctl exec bystander -- ls -ln /ok | awk '{ print $5 }')" 16777216 "neighbour's write"
        echo host-ok >"$T/host-file"
        assert_eq "$(cat "$T/host-file")" host-ok "host write"
        vsctl list >/dev/null

        # deleted files go back to the host: discard punches holes in the image
        before=$(host_bytes full1)
        [ "$before" -gt $((100 << 20)) ] || fail "the full image takes only $before bytes on the host"
        vsctl exec full1 -- sh -c 'rm /fill && sync'
        wait_for -t 20 host_bytes_below full1 $((before / 4))
        note "host bytes of the image: $before full, $(host_bytes full1) after rm"
}

test_inode_limit() {
        local total used out created
        vsctl create ino1 --disk 128M --inodes 2048 --start
        read -r total used <<<"$(vsctl exec ino1 -- df -i / | awk 'NR == 2 { print $2, $3 }')"
        assert_between "$total" 2048 2560 "inodes of a disk made with --inodes 2048"
        assert_eq "$(vsctl --json stats ino1 | json .disk.inodes_limit)" "$total" "stats inodes_limit"
        out=$(vsctl exec ino1 -- sh -c 'mkdir /many; i=0; while echo -n 2>/dev/null >/many/f$i; do i=$((i + 1)); done; echo created=$i; echo -n >/many/last; df -k / | tail -1' 2>&1)
        note "$out"
        grep -q "No space left on device" <<<"$out" || fail "the last file did not fail with ENOSPC: $out"
        created=$(probe_val created <<<"$out")
        assert_between "$created" $((total - used - 2)) $((total - used)) "files created until the inode limit"
        # space was not the limit
        [ "$(tail -1 <<<"$out" | awk '{ print $4 }')" -gt 50000 ] || fail "the disk ran out of space, not inodes"
        [ "$(vsctl --json stats ino1 | json .disk.inodes_used)" -ge $((total - 2)) ] || fail "inodes_used not counted"
}

test_grow() {
        local out size before warn
        vsctl create grow1 --disk 128M --start
        vsctl exec grow1 -- sh -c 'dd if=/dev/zero of=/a bs=1M count=80 2>/dev/null && sync'
        before=$(disk_snapshot)
        expect_fail vsctl set grow1 --disk 64M
        assert_match "$LAST_ERR" "cannot shrink" "shrink refusal"
        expect_fail vsctl set grow1 --inodes 99999
        assert_match "$LAST_ERR" "cannot change after create" "inode change refusal"
        expect_fail vsctl set grow1 --storage dir
        assert_eq "$(disk_snapshot)" "$before" "files after refused changes"

        warn=$(vsctl set grow1 --disk 256M 2>&1 >/dev/null)
        assert_eq "$(vsctl --json info grow1 | json .disk)" 268435456 "disk after set"
        assert_eq "$(stat -c %s "$(inst_dir grow1)/disk.img")" 268435456 "image size after set"
        read -r size _ _ <<<"$(df_inside grow1)"
        if [ -z "$warn" ]; then
                note "grown online"
        else
                # without CAP_SYS_RESOURCE the kernel refuses an online
                # resize: the filesystem grows at the next start
                note "vsctl set said: $warn"
                assert_match "$warn" "^warning: .*next start" "warning of a deferred grow"
                assert_between "$size" 0 $((128 * 1024)) "df size before the restart"
                vsctl restart grow1
                read -r size _ _ <<<"$(df_inside grow1)"
        fi
        assert_between "$size" $((256 * 1024 * 90 / 100)) $((256 * 1024)) "df size (KiB) after growing to 256M"
        out=$(vsctl exec grow1 -- sh -c 'dd if=/dev/zero of=/b bs=1M count=120 2>&1; echo rc=$?; cat /a /b | wc -c')
        assert_match "$out" "rc=0" "writing past the old size"
        assert_eq "$(tail -1 <<<"$out")" $((200 << 20)) "bytes on the grown disk"
}

test_stop_start_keeps_data() {
        local size
        # the daemon's default disk: 10G, of which df shows all but the
        # journal and inode tables
        vsctl create keep1 --start
        assert_eq "$(vsctl --json info keep1 | json .disk)" 10737418240 "default disk"
        assert_eq "$(vsctl --json info keep1 | json .backend)" image "default backend"
        read -r size _ _ <<<"$(df_inside keep1)"
        assert_between "$size" $((10 * 1024 * 1024 * 97 / 100)) $((10 * 1024 * 1024)) "df size (KiB) of the default 10G disk"
        # a new instance costs the host almost nothing before it writes
        [ "$(host_bytes keep1)" -le $((1 << 20)) ] || fail "a new 10G image takes $(host_bytes keep1) bytes on the host"
        vsctl exec keep1 -- sh -c 'echo kept >/etc/kept && sync'
        vsctl stop keep1
        ! disk_mounted keep1 || fail "disk in the host's mount tree after stop"
        vsctl start keep1
        assert_eq "$(vsctl exec keep1 -- cat /etc/kept)" kept "file after stop/start"
        vsctl restart keep1
        assert_eq "$(vsctl exec keep1 -- cat /etc/kept)" kept "file after restart"
}

test_daemon_kill9_keeps_the_disk() {
        local pid loop
        vsctl create ka1 --disk 128M --start
        vsctl exec ka1 -- sh -c 'echo before >/data'
        pid=$(inst_pid ka1)
        loop=$(disk_loop ka1)
        vsd_kill9
        vsd_up
        assert_eq "$(inst_pid ka1)" "$pid" "re-adopted init"
        ! disk_mounted ka1 || fail "a re-adopted instance's disk in the host's mount tree"
        assert_eq "$(disk_loop ka1)" "$loop" "loop device after re-adoption"
        assert_eq "$(vsctl exec ka1 -- cat /data)" before "data after re-adoption"
        vsctl exec ka1 -- sh -c 'echo after >>/data'
        [ "$(vsctl --json stats ka1 | json .disk.mounted)" = true ] || fail "stats of a re-adopted disk"
        vsctl stop ka1
        disk_detached ka1 || fail "disk of a re-adopted instance still attached after stop"
        vsctl start ka1
        assert_eq "$(vsctl exec ka1 -- cat /data | tr '\n' ' ')" "before after " "data after the restart"
}

# A mount namespace made on the host while an instance runs (unshare -m,
# another engine's container, a service's private /tmp) copies the host's
# mount tree: it must not hold the instance's disk once it stopped.
# Its namespace copies the whole host mount tree, other tests' mounts too: alone.
# serial test_host_namespace_does_not_pin_the_disk
test_host_namespace_does_not_pin_the_disk() {
        local holder
        vsctl create pin1 --disk 128M --start
        vsctl exec pin1 -- sh -c 'echo x >/data'
        unshare -m --propagation private sleep 600 &
        holder=$!
        wait_for test -e "/proc/$holder/ns/mnt"
        vsctl stop pin1
        # the daemon's own hold on the kept disk goes with a second stop
        vsctl stop pin1 2>/dev/null || true
        disk_detached pin1 || { kill "$holder"; fail "a host mount namespace pins pin1's disk after stop"; }
        vsctl start pin1
        assert_eq "$(vsctl exec pin1 -- cat /data)" x "data after a start beside the other namespace"
        kill "$holder"
        wait "$holder" 2>/dev/null || true
}

# It mounts a disk in the host's mount tree, where other tests' instance starts copy it: alone.
# serial test_crash_of_both_is_cleaned
test_crash_of_both_is_cleaned() {
        local pid
        vsctl create kb1 --disk 128M --start
        vsctl exec kb1 -- sh -c 'echo survived >/data && sync'
        pid=$(inst_pid kb1)
        vsd_kill9
        kill -KILL "$pid"
        wait_for sh -c "! [ -d /proc/$pid ] || grep -q '^State:.*Z' /proc/$pid/status"
        # the daemon's fd and init's overlay were all that held the
        # filesystem: the kernel lets go of it and the loop device goes
        wait_for disk_detached kb1
        vsd_up
        assert_eq "$(inst_state kb1)" stopped "state after both crashed"
        disk_detached kb1 || fail "the next daemon left the crashed instance's disk attached"
        vsctl start kb1
        assert_eq "$(vsctl exec kb1 -- cat /data)" survived "data after the crash"

        # A crash between mount and clone leaves a stopped instance with its
        # disk mounted (made here by hand, the way vsd mounts it): the next
        # daemon finds and detaches it at load
        vsctl stop kb1
        vsd_stop
        local loop
        loop=$(losetup --find --show "$(inst_dir kb1)/disk.img")
        mount "$loop" "$(inst_dir kb1)/disk"
        losetup -d "$loop" # autoclear: the device goes with the mount
        disk_mounted kb1 || fail "the leftover mount was not made"
        vsd_up
        disk_detached kb1 || fail "the daemon left a stopped instance's disk attached at load"
        grep -q "kb1: detached its disk left behind by a crash" "$T/vsd.log" || fail "the cleanup is not logged"
        vsctl start kb1
        assert_eq "$(vsctl exec kb1 -- cat /data)" survived "data after the cleanup"
}

# A stop keeps the image's filesystem mounted (in no namespace, held by the
# daemon) for the next start, which then binds no loop device and mounts
# nothing; a restart and a reboot from inside reuse it the same way.
test_restart_reuses_the_kept_disk() {
        local loop
        vsctl create kr1 --disk 128M --start
        vsctl exec kr1 -- sh -c 'echo one >/data'
        vsctl stop kr1
        disk_kept kr1 || fail "kr1's disk not kept after stop: loops '$(disk_loop kr1)'"
        loop=$(disk_loop kr1)
        vsctl start kr1
        assert_eq "$(disk_loop kr1)" "$loop" "loop device of the start after a stop"
        assert_eq "$(vsctl exec kr1 -- cat /data)" one "data after stop and start"
        vsctl exec kr1 -- sh -c 'echo two >>/data'
        vsctl restart kr1
        assert_eq "$(disk_loop kr1)" "$loop" "loop device after a restart"
        assert_eq "$(vsctl exec kr1 -- cat /data | tr '\n' ' ')" "one two " "data after a restart"
        # a write counter that starts at this run, not at the kept mount's
        vsctl exec kr1 -- sh -c 'dd if=/dev/zero of=/big bs=1M count=8 2>/dev/null && sync'
        vsctl stop kr1
        vsctl start kr1
        [ "$(vsctl --json stats kr1 | json .io.write_bytes)" -lt $((4 << 20)) ] ||
                fail "the new run counts the last run's writes: $(vsctl --json stats kr1 | json .io.write_bytes)"
        # a stop of a stopped instance lets go of its disk: the image is
        # the host's again, clean
        vsctl exec kr1 -- sh -c 'echo three >>/data'
        vsctl stop kr1
        expect_fail vsctl stop kr1
        disk_detached kr1 || fail "kr1's disk still attached after a second stop: loops $(disk_loop kr1), mounted $(disk_mounted kr1 && echo yes)"
        e2fsck -fn "$(inst_dir kr1)/disk.img" >&2 || fail "e2fsck finds the released image unclean"
        vsctl start kr1
        assert_eq "$(vsctl exec kr1 -- cat /data | tr '\n' ' ')" "one two three " "data after the release"
}

# Only the last [storage] keep_mounted stopped instances keep their disk.
test_keep_mounted_bounds_the_kept_disks() {
        vsd_stop
        printf '%s\n' "[storage]" "keep_mounted = 1" >>"$T/vsd.conf"
        vsd_up
        vsctl create kb2 --disk 128M --start
        vsctl create kb3 --disk 128M --start
        vsctl exec kb2 -- sh -c 'echo b2 >/data'
        vsctl exec kb3 -- sh -c 'echo b3 >/data'
        vsctl stop kb2
        disk_kept kb2 || fail "kb2's disk not kept"
        vsctl stop kb3
        disk_kept kb3 || fail "kb3's disk not kept"
        disk_detached kb2 || fail "kb2's disk still attached beyond keep_mounted = 1"
        e2fsck -fn "$(inst_dir kb2)/disk.img" >&2 || fail "e2fsck finds the released image unclean"
        vsctl start kb2
        vsctl start kb3
        assert_eq "$(vsctl exec kb2 -- cat /data)" b2 "kb2's data"
        assert_eq "$(vsctl exec kb3 -- cat /data)" b3 "kb3's data"
}

# Every operation that reads or replaces a stopped instance's image lets go
# of the kept filesystem first: what was written before the stop (still in
# the kept filesystem's page cache) is in what the operation sees.
test_kept_disk_released_by_operations() {
        vsctl create ko1 --disk 128M --start
        # snapshot, then restore
        vsctl exec ko1 -- sh -c 'echo snap >/data'
        vsctl stop ko1
        vsctl snapshot ko1 s1
        disk_detached ko1 || fail "ko1's disk still attached during a snapshot"
        e2fsck -fn "$(inst_dir ko1)/snapshots/s1.img" >&2 || fail "e2fsck finds the snapshot unclean"
        vsctl start ko1
        vsctl exec ko1 -- sh -c 'echo later >/data'
        vsctl stop ko1
        vsctl restore-snapshot ko1 s1
        vsctl start ko1
        assert_eq "$(vsctl exec ko1 -- cat /data)" snap "data of a snapshot of a stopped instance"
        # clone
        vsctl exec ko1 -- sh -c 'echo clone >/data'
        vsctl stop ko1
        vsctl clone ko1 ko2
        vsctl start ko2
        assert_eq "$(vsctl exec ko2 -- cat /data)" clone "data of a clone of a stopped instance"
        vsctl stop ko2
        # export, then import as a new name
        vsctl start ko1
        vsctl exec ko1 -- sh -c 'echo export >/data'
        vsctl stop ko1
        vsctl export ko1 "$T/ko1.tar"
        vsctl import "$T/ko1.tar" --name ko3 >/dev/null
        vsctl start ko3
        assert_eq "$(vsctl exec ko3 -- cat /data)" export "data of an export of a stopped instance"
        vsctl stop ko3
        # grow
        vsctl start ko1
        vsctl exec ko1 -- sh -c 'echo grow >/data'
        vsctl stop ko1
        vsctl set ko1 --disk 256M 2>/dev/null
        vsctl start ko1
        assert_eq "$(vsctl exec ko1 -- cat /data)" grow "data after a grow of a stopped instance"
        local size
        read -r size _ _ <<<"$(df_inside ko1)"
        assert_between "$size" $((256 * 1024 * 90 / 100)) $((256 * 1024)) "df size (KiB) after the grow"
        # destroy
        vsctl stop ko1
        disk_kept ko1 || fail "ko1's disk not kept"
        local dir
        dir=$(inst_dir ko1)
        vsctl destroy ko1
        wait_for sh -c "! grep -qF '$dir' /sys/block/loop*/loop/backing_file 2>/dev/null"
}

# The daemon killed while it keeps stopped instances' disks: the kernel
# unmounts them (the last reference, the daemon's fd, closed) and the loop
# devices autoclear; the images are clean and hold what was written.
test_kill9_releases_the_kept_disks() {
        vsctl create kk1 --disk 128M --start
        vsctl create kk2 --disk 128M --start
        vsctl exec kk1 -- sh -c 'echo k1 >/data'
        vsctl exec kk2 -- sh -c 'echo k2 >/data'
        vsctl stop kk1
        vsctl stop kk2
        disk_kept kk1 || fail "kk1's disk not kept"
        disk_kept kk2 || fail "kk2's disk not kept"
        vsd_kill9
        wait_for disk_detached kk1
        wait_for disk_detached kk2
        e2fsck -fn "$(inst_dir kk1)/disk.img" >&2 || fail "e2fsck finds kk1's image unclean"
        e2fsck -fn "$(inst_dir kk2)/disk.img" >&2 || fail "e2fsck finds kk2's image unclean"
        vsd_up
        vsctl start kk1
        vsctl start kk2
        assert_eq "$(vsctl exec kk1 -- cat /data)" k1 "kk1's data after the crash"
        assert_eq "$(vsctl exec kk2 -- cat /data)" k2 "kk2's data after the crash"
}

test_destroy_frees_image_and_loop() {
        local dir
        vsctl create de1 --disk 128M --start
        dir=$(inst_dir de1)
        vsctl destroy de1 --force
        [ ! -e "$dir" ] || fail "$dir left after destroy"
        [ -z "$(losetup -n -l -O BACK-FILE 2>/dev/null | grep -F "$dir")" ] || fail "loop device left after destroy"
        ! grep -qF "$dir" /proc/self/mountinfo || fail "mount left after destroy"
        vsctl create de2 --disk 128M
        vsctl destroy de2
        [ ! -e "$(inst_dir de2)" ] || fail "de2 left after destroy"
}

test_dir_backend() {
        local err
        err=$(vsctl create dir1 --storage dir 2>&1 >/dev/null)
        assert_match "$err" "^warning: .*dir backend.*no limit" "warning for the dir backend"
        assert_eq "$(vsctl --json info dir1 | json .backend)" dir "backend"
        # the API's answer carries it too
        assert_match "$(vsctl --json create dir2 --storage dir 2>/dev/null | json .warning)" "dir backend" "warning in the JSON answer"
        [ -d "$(inst_dir dir1)/upper" ] || fail "dir backend without upper/"
        [ ! -e "$(inst_dir dir1)/disk.img" ] || fail "dir backend with an image"
        vsctl start dir1
        vsctl exec dir1 -- sh -c 'echo x >/x'
        [ -f "$(inst_dir dir1)/upper/x" ] || fail "write did not land in upper/"
        expect_fail vsctl set dir1 --disk 1G
        vsctl stop dir1

        # an instance made before storage backends: no [storage] section
        vsctl create old1 --storage dir 2>/dev/null
        vsd_stop
        sed -i '/^\[storage\]/,$d' "$(inst_dir old1)/config.ini"
        ! grep -q storage "$(inst_dir old1)/config.ini" || fail "section not removed"
        vsd_up
        assert_eq "$(vsctl --json info old1 | json .backend)" dir "backend of an instance without [storage]"
        vsctl start old1
        vsctl exec old1 -- true
}

test_bad_input_changes_nothing() {
        local before
        vsctl create ok1 --disk 128M
        before=$(disk_snapshot)
        expect_fail vsctl create b1 --storage zfs
        assert_match "$LAST_ERR" "unknown storage backend" "unknown backend"
        expect_fail vsctl create b2 --disk 32M
        assert_match "$LAST_ERR" "too small" "tiny disk"
        for bad in 12Q -5 10.5.5G abc 1K; do
                expect_fail vsctl create b3 --disk "$bad"
        done
        expect_fail vsctl create b4 --disk 128M --inodes 10
        expect_fail vsctl create b5 --storage dir --disk 1G
        expect_fail vsctl create ok1 --disk 128M
        expect_fail vsctl set ok1 --disk 12Q
        expect_fail vsctl set ok1 --disk 100M
        assert_eq "$(disk_snapshot)" "$before" "files after bad requests"

        # a template bigger than the disk
        dd if=/dev/urandom of="$T/root/templates/busybox/rootfs/big" bs=1M count=80 2>/dev/null
        expect_fail vsctl create b6 --disk 64M
        assert_match "$LAST_ERR" "too small for template 'busybox': at least" "disk smaller than the template"
        assert_eq "$(disk_snapshot)" "$before" "files after a disk too small for the template"
        vsctl create b7 --disk 128M
}

test_snapshot_restore() {
        local before
        vsctl create sn1 --disk 128M --start
        vsctl exec sn1 -- sh -c 'echo v1 >/etc/file'
        # running: frozen for the copy, then thawed
        vsctl snapshot sn1 before
        assert_eq "$(inst_state sn1)" running "state after a live snapshot"
        vsctl exec sn1 -- sh -c 'echo v2 >/etc/file; rm /etc/hostname 2>/dev/null; true'
        assert_eq "$(vsctl --json snapshots sn1 | json 'map(.name) | join(",")')" before "snapshot list"
        vsctl snapshots sn1 | grep -qw before || fail "snapshot table"
        [ -f "$(inst_dir sn1)/snapshots/before.img" ] || fail "no snapshot image"

        before=$(disk_snapshot)
        expect_fail vsctl snapshot sn1 before
        assert_match "$LAST_ERR" "already has a snapshot" "duplicate snapshot"
        expect_fail vsctl snapshot sn1 'Bad/Name'
        expect_fail vsctl restore-snapshot sn1 before
        assert_match "$LAST_ERR" "stop it" "restore while running"
        expect_fail vsctl restore-snapshot sn1 nosuch
        assert_match "$LAST_ERR" "no snapshot 'nosuch'" "unknown snapshot"
        expect_fail vsctl delete-snapshot sn1 nosuch
        assert_eq "$(disk_snapshot)" "$before" "files after refused snapshot requests"

        vsctl stop sn1
        vsctl restore-snapshot sn1 before
        vsctl start sn1
        assert_eq "$(vsctl exec sn1 -- cat /etc/file)" v1 "file after restoring the snapshot"
        # a snapshot from before a grow comes back at the grown size
        local size
        vsctl stop sn1
        vsctl set sn1 --disk 256M
        vsctl restore-snapshot sn1 before
        assert_eq "$(stat -c %s "$(inst_dir sn1)/disk.img")" 268435456 "image size after restoring an older snapshot"
        vsctl start sn1
        read -r size _ _ <<<"$(df_inside sn1)"
        assert_between "$size" $((256 * 1024 * 90 / 100)) $((256 * 1024)) "df size (KiB) after restoring into a grown disk"
        assert_eq "$(vsctl exec sn1 -- cat /etc/file)" v1 "file after the second restore"
        vsctl delete-snapshot sn1 before
        assert_eq "$(vsctl --json snapshots sn1 | json length)" 0 "snapshots after delete"

        # the dir backend copies its tree
        vsctl create sn2 --storage dir 2>/dev/null
        vsctl start sn2
        vsctl exec sn2 -- sh -c 'echo d1 >/etc/file'
        vsctl snapshot sn2 s
        vsctl exec sn2 -- sh -c 'echo d2 >/etc/file'
        vsctl stop sn2
        vsctl restore-snapshot sn2 s
        vsctl start sn2
        assert_eq "$(vsctl exec sn2 -- cat /etc/file)" d1 "dir backend file after restore"
}

test_clone_has_its_own_identity() {
        local a b before
        vsctl create cl1 --disk 128M --forward 28080:80 --start
        vsctl exec cl1 -- sh -c 'echo 0123456789abcdef0123456789abcdef >/etc/machine-id; echo payload >/data'
        vsctl clone cl1 cl2
        # the running source was only frozen for the copy
        assert_eq "$(inst_state cl1)" running "source state after the clone"
        vsctl exec cl1 -- true
        vsctl start cl2
        a=$(vsctl --json info cl1)
        b=$(vsctl --json info cl2)
        assert_eq "$(vsctl exec cl2 -- cat /data)" payload "data in the clone"
        assert_eq "$(vsctl exec cl2 -- hostname)" cl2 "hostname of the clone"
        [ "$(json .mac <<<"$a")" != "$(json .mac <<<"$b")" ] || fail "the clone has the source's MAC"
        [ "$(json .ip <<<"$a")" != "$(json .ip <<<"$b")" ] || fail "the clone has the source's address"
        [ -n "$(json .ip <<<"$b")" ] || fail "the clone has no address"
        assert_eq "$(json .forward <<<"$b")" "" "forwards of the clone"
        assert_eq "$(json .disk <<<"$b")" 134217728 "disk of the clone"
        assert_eq "$(vsctl exec cl2 -- cat /sys/class/net/eth0/address)" "$(json .mac <<<"$b")" "eth0's MAC inside the clone"
        local id
        id=$(vsctl exec cl2 -- cat /etc/machine-id)
        assert_match "$id" '^[0-9a-f]{32}$' "machine-id of the clone"
        [ "$id" != 0123456789abcdef0123456789abcdef ] || fail "the clone kept the source's machine-id"
        assert_eq "$(vsctl exec cl1 -- cat /etc/machine-id)" 0123456789abcdef0123456789abcdef "source's machine-id"
        # its filesystem has its own UUID too
        [ "$(dumpe2fs -h "$(inst_dir cl1)/disk.img" 2>/dev/null | grep UUID)" != \
          "$(dumpe2fs -h "$(inst_dir cl2)/disk.img" 2>/dev/null | grep UUID)" ] || fail "the clone's filesystem UUID is the source's"
        # machine-id written once: a restart keeps it
        vsctl restart cl2
        assert_eq "$(vsctl exec cl2 -- cat /etc/machine-id)" "$id" "machine-id after a restart"

        before=$(disk_snapshot)
        expect_fail vsctl clone cl1 cl2
        assert_match "$LAST_ERR" "already exists" "clone onto an existing name"
        expect_fail vsctl clone nosuch cl3
        expect_fail vsctl clone cl1 'Bad_Name'
        assert_eq "$(disk_snapshot)" "$before" "files after refused clones"

        # without a machine-id in the template or the layer, none is made
        vsctl create cl4 --disk 128M
        vsctl clone cl4 cl5 --start
        vsctl exec cl5 -- test ! -e /etc/machine-id

        # a new image and a clone's copy, each with its own UUID written
        # into the superblock, are clean filesystems
        vsctl clone cl4 cl6
        e2fsck -fn "$(inst_dir cl4)/disk.img" >&2 || fail "e2fsck finds a new image unclean"
        e2fsck -fn "$(inst_dir cl6)/disk.img" >&2 || fail "e2fsck finds a clone's image unclean"
}

# A cap on the host's disk holds for an image instance too: the loop
# device's worker charges what it writes to the instance's cgroup.
# It measures a write rate on the host's disk: alone.
# serial test_io_cap_through_the_image
test_io_cap_through_the_image() {
        local dev out rate
        dev=$(findmnt -no SOURCE --target "$T/root")
        [ -b "$dev" ] || fail "no block device under $T/root ($dev)"
        vsctl create iocap --disk 256M --io-write-bps "$dev=10M" --start
        out=$(vsctl exec iocap -- /probe write-direct /root/io.test 20)
        rate=$(sed -n 's/^bytes_per_sec=//p' <<<"$out")
        note "capped at 10M through the image: $rate bytes/s"
        [ -n "$rate" ] || fail "no rate from the probe: $out"
        # the throttle's first slice lets a little more through than on the
        # host's filesystem (measured: up to 11.2 MB/s)
        assert_between "$rate" 8000000 12000000 "write rate under a 10 MB/s cap"
}

# More running image instances than max_loop (8 here): /dev/loop-control
# makes the devices; each instance has its own.
test_more_instances_than_max_loop() {
        local n loops i
        n=$(( $(cat /sys/module/loop/parameters/max_loop 2>/dev/null || echo 8) + 4 ))
        [ "$n" -le 40 ] || n=40
        for i in $(seq "$n"); do
                vsctl create "ml$i" --disk 64M --net none
        done
        for i in $(seq "$n"); do
                vsctl start "ml$i"
        done
        loops=$(for i in $(seq "$n"); do disk_loop "ml$i"; done | sort -u | wc -l)
        assert_eq "$loops" "$n" "distinct loop devices for $n running instances"
        vsctl exec "ml$n" -- sh -c 'echo last >/x && cat /x' >/dev/null
        for i in $(seq "$n"); do
                vsctl stop --kill "ml$i"
        done
        # the last keep_mounted (16) keep theirs for the next start; the
        # others' are released, and a second stop releases any
        for i in $(seq "$n"); do
                [ "$i" -gt $((n - 16)) ] || disk_detached "ml$i" || fail "ml$i still attached after stop"
                vsctl stop "ml$i" 2>/dev/null || true
                disk_detached "ml$i" || fail "ml$i still attached after a second stop"
        done
}

# What an instance frees goes back to the host: a disk filled to ENOSPC and
# emptied, then thousands of files made and deleted, twice over, leave the
# image's allocated size near where it started.  Data is discarded online
# (holes punched as files are deleted); the journal, which such churn
# writes over, is given back when the daemon lets go of the stopped
# instance's filesystem (kept mounted for its next start until then; a stop
# of the stopped instance lets go of it).
# timeout test_freed_space_returns_to_the_host 240
test_freed_space_returns_to_the_host() {
        local base after cycle
        vsctl create fr1 --disk 256M --start
        vsctl stop fr1
        vsctl stop fr1 2>/dev/null || true
        base=$(host_bytes fr1)
        note "at rest after the first start: $((base >> 10)) KiB"
        vsctl start fr1
        for cycle in 1 2; do
                vsctl exec fr1 -- sh -c 'dd if=/dev/zero of=/root/fill bs=1M 2>/dev/null; rm /root/fill' || true
                vsctl exec fr1 -- sh -c 'mkdir /root/d && cd /root/d && i=0 && while [ $i -lt 3000 ]; do echo x >f$i; i=$((i + 1)); done'
                vsctl exec fr1 -- sh -c 'rm -rf /root/d; sync'
                note "cycle $cycle, running: $(($(host_bytes fr1) >> 10)) KiB"
        done
        # the data blocks come back while it runs (discard at the journal's commit)
        wait_for -t 20 host_bytes_below fr1 $((base + (40 << 20)))
        vsctl stop fr1
        vsctl stop fr1 2>/dev/null || true
        after=$(host_bytes fr1)
        note "at rest after the cycles: $((after >> 10)) KiB (was $((base >> 10)) KiB)"
        # the inode tables the files used stay written (3000 inodes: under 1 MiB)
        [ "$after" -le $((base + (2 << 20))) ] || fail "image grew from $((base >> 10)) to $((after >> 10)) KiB on the host"
        # and the filesystem is whole
        e2fsck -fn "$(inst_dir fr1)/disk.img" >"$T/fsck" 2>&1 || fail "e2fsck after the journal was given back: $(tail -3 "$T/fsck")"
        vsctl start fr1
        vsctl exec fr1 -- sh -c 'echo ok >/root/after && sync && cat /root/after' | grep -qx ok || fail "the disk after the journal was given back"
}

# SPDX-License-Identifier: LGPL-2.1-or-later
# Export and import (vsctl export, vsctl import): an instance that does not
# run goes into one tar archive, manifest first, and comes back from it
# with its data, its snapshots, its checkpoint (the process counts on), in
# a block of host ids of its own; --name makes a copy with its own
# identity; every refusal (name or address taken, template missing or
# different, a tampered or cut archive) leaves nothing; a daemon killed
# midway leaves nothing either; a sparse 10G image goes by its data.

inst_dir() {
        echo "$T/root/instances/$1"
}

# The member names of an archive, in order.
arc_members() { # FILE
        python3 - "$1" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    for m in t.getmembers():
        print(m.name)
PY
}

# What is in the state root: instances (hidden ones too), nothing else.
instances_on_disk() {
        ls -A "$T/root/instances" | LC_ALL=C sort | tr '\n' ' '
}

# rebuild_template [EXTRA_FILES]: the test template made afresh (a new
# directory, as a rebuild makes), with the probe or what is given.
rebuild_template() {
        rm -rf "$T/root/templates/busybox"
        EXTRA_FILES="${1-$B/tests/probe:probe}" "$VSD_SRC/templates/busybox/build.sh" "$T/root/templates/busybox" \
                >/dev/null || fail "cannot rebuild the busybox template"
}

needs_criu() {
        [ -x /usr/local/lib/vsd/criu/criu ] || fail "CRIU is not installed (make deps)"
}

test_export_import_image_with_snapshots() {
        local members range0 range1 m
        vsctl create ex1 --start
        vsctl exec ex1 -- sh -c 'echo one >/root/data; mkdir /root/d; echo f >/root/d/f'
        vsctl stop ex1
        vsctl snapshot ex1 s1
        vsctl start ex1
        vsctl exec ex1 -- sh -c 'echo two >/root/data'
        vsctl stop ex1
        range0=$(vsctl --json info ex1 | json .id_range)
        vsctl export ex1 "$T/ex1.tar" --snapshots
        members=$(arc_members "$T/ex1.tar")
        assert_eq "$(sed -n 1p <<<"$members")" manifest.json "first member"
        assert_eq "$(sed -n 2p <<<"$members")" config.ini "second member"
        grep -qx disk.img <<<"$members" || fail "no disk.img in the archive: $members"
        grep -qx snapshots/s1.img <<<"$members" || fail "no snapshot in the archive: $members"
        m=$(tar -xOf "$T/ex1.tar" manifest.json 2>/dev/null)
        assert_eq "$(json .template.name <<<"$m")" busybox "the manifest's template"
        assert_match "$(json .template.id <<<"$m")" '^sha256:[0-9a-f]{64}$' "the manifest's template id"
        assert_eq "$(json .state <<<"$m")" stopped "the manifest's state"
        vsctl destroy ex1
        # the block of host ids ex1 had is taken meanwhile
        vsctl create other --net none
        assert_eq "$(vsctl import "$T/ex1.tar")" ex1 "what import prints"
        assert_eq "$(inst_state ex1)" stopped "state after the import"
        range1=$(vsctl --json info ex1 | json .id_range)
        [ "$range1" != "$range0" ] || fail "the import kept the id range $range0 that 'other' holds now"
        vsctl start ex1
        assert_eq "$(vsctl exec ex1 -- cat /root/data)" two "data after the import"
        assert_eq "$(vsctl exec ex1 -- stat -c '%u:%g' /root/d/f)" 0:0 "owner inside after the import"
        vsctl exec ex1 -- sh -c 'echo three >/root/d/g'
        vsctl stop ex1
        assert_eq "$(vsctl --json snapshots ex1 | json '.[].name')" s1 "snapshots after the import"
        vsctl restore-snapshot ex1 s1
        vsctl start ex1
        assert_eq "$(vsctl exec ex1 -- cat /root/data)" one "data of the imported snapshot"
        e2fsck_clean ex1
}

e2fsck_clean() { # NAME: stopped first
        vsctl stop "$1"
        # the second stop lets go of the disk kept mounted for the next start
        vsctl stop "$1" 2>/dev/null || true
        e2fsck -fn "$(inst_dir "$1")/disk.img" >/dev/null 2>&1 || fail "the imported image's filesystem is not clean"
}

test_export_import_dir_backend() {
        vsctl create dx --storage dir --start 2>/dev/null
        vsctl exec dx -- sh -c 'echo hi >/root/f; chmod 4750 /root/f; ln /root/f /root/hard; ln -s /etc/shadow /root/sym;
                mkfifo /root/fifo; rm /etc/profile'
        vsctl stop dx
        vsctl export dx "$T/dx.tar"
        grep -qx upper/root/f <<<"$(arc_members "$T/dx.tar")" || fail "no upper tree in the archive"
        vsctl destroy dx
        vsctl import "$T/dx.tar" >/dev/null
        vsctl start dx
        assert_eq "$(vsctl exec dx -- cat /root/f)" hi "a file after the import"
        assert_eq "$(vsctl exec dx -- stat -c '%a %h' /root/f)" "4750 2" "mode and links after the import"
        assert_eq "$(vsctl exec dx -- readlink /root/sym)" /etc/shadow "a symbolic link after the import"
        assert_eq "$(vsctl exec dx -- stat -c %F /root/fifo)" fifo "a FIFO after the import"
        # the template's file the instance removed stays removed (the
        # overlay's whiteout came along)
        vsctl exec dx -- sh -c '! test -e /etc/profile' || fail "a file the instance had removed is back"
        vsctl exec dx -- test -e /etc/inittab
}

test_export_import_checkpointed() {
        needs_criu
        local pid0 c0 c1 range0 range1 uid lo hi
        vsctl create ec --start
        vsctl exec ec -- sh -c 'i=0; while :; do i=$((i+1)); echo $i >/run/count; sleep 0.05; done </dev/null >/dev/null 2>&1 &'
        wait_for vsctl exec ec -- sh -c 'test "$(cat /run/count)" -gt 2'
        pid0=$(vsctl exec ec -- sh -c "ps -o pid,args | awk '/i=0; while/ && !/awk/ {print \$1; exit}'")
        range0=$(vsctl --json info ec | json .id_range)
        vsctl checkpoint ec
        vsctl export ec "$T/ec.tar.zst" --zstd
        assert_eq "$(head -c4 "$T/ec.tar.zst" | od -An -tx1 | tr -d ' ')" 28b52ffd "zstd magic"
        zstd -dc "$T/ec.tar.zst" | tar -t 2>/dev/null | grep -q '^checkpoint/pages-' || fail "no checkpoint in the archive"
        vsctl destroy ec
        vsctl create blocker --net none
        vsctl import "$T/ec.tar.zst" >/dev/null
        assert_eq "$(inst_state ec)" checkpointed "state after the import"
        range1=$(vsctl --json info ec | json .id_range)
        [ "$range1" != "$range0" ] || fail "the import kept the id range $range0"
        vsctl restore ec --unlocked-mounts
        assert_eq "$(vsctl exec ec -- sh -c "ps -o pid,args | awk '/i=0; while/ && !/awk/ {print \$1; exit}'")" "$pid0" \
                "the counter's pid inside"
        c0=$(vsctl exec ec -- cat /run/count)
        [ "$c0" -gt 2 ] || fail "the counter started again ($c0)"
        wait_for vsctl exec ec -- sh -c "test \$(cat /run/count) -gt $c0"
        # its processes are the new block's ids on the host
        uid=$(awk '/^Uid:/ {print $2}' "/proc/$(inst_pid ec)/status")
        lo=${range1%-*}
        hi=${range1#*-}
        [ "$uid" -ge "$lo" ] && [ "$uid" -le "$hi" ] || fail "init runs as host uid $uid, outside $range1"
        c1=$(vsctl exec ec -- cat /run/count)
        [ "$c1" -ge "$c0" ] || fail "the counter went back"
}

test_import_as_new_name() {
        local mac0 mac1 ip0 ip1
        vsctl create orig --start
        vsctl exec orig -- sh -c 'echo mine >/root/data'
        vsctl stop orig
        vsctl export orig "$T/orig.tar"
        assert_eq "$(vsctl import "$T/orig.tar" --name copy1)" copy1 "what import prints"
        vsctl start orig
        vsctl start copy1
        assert_eq "$(vsctl exec copy1 -- cat /root/data)" mine "the copy's data"
        assert_eq "$(vsctl exec copy1 -- hostname)" copy1 "the copy's hostname"
        mac0=$(vsctl --json info orig | json .mac)
        mac1=$(vsctl --json info copy1 | json .mac)
        [ "$mac0" != "$mac1" ] || fail "the copy has the original's MAC $mac0"
        ip0=$(vsctl --json info orig | json '.ip')
        ip1=$(vsctl --json info copy1 | json '.ip')
        [ "$ip0" != "$ip1" ] || fail "the copy has the original's address $ip0"
        # the copy's filesystem has its own UUID
        vsctl stop orig
        vsctl stop copy1
        [ "$(blkid -s UUID -o value "$(inst_dir orig)/disk.img")" != "$(blkid -s UUID -o value "$(inst_dir copy1)/disk.img")" ] ||
                fail "the copy's filesystem has the original's UUID"
}

# Every refusal is one line, and nothing is left of it: no instance, no
# hidden directory, no operation running.
refused() { # WHY-REGEX ARGS...
        local why=$1 before
        shift
        before=$(instances_on_disk)
        expect_fail vsctl import "$@"
        assert_match "$LAST_ERR" "$why" "refusal of import $*"
        assert_eq "$(instances_on_disk)" "$before" "instances on disk after the refusal"
        [ -z "$(vsctl --json op list | jq -r '.[] | select(.state == "running") | .id')" ] || fail "an operation still runs"
}

test_import_refusals_leave_nothing() {
        vsctl create rf --ip "$VSD_NET4.50/24"
        vsctl export rf "$T/rf.tar"
        refused "instance 'rf' already exists" "$T/rf.tar"
        refused "instance 'rf' already exists" "$T/rf.tar" --name rf
        refused "invalid instance name" "$T/rf.tar" --name BAD_NAME
        # the address: another instance holds it
        vsctl destroy rf
        vsctl create holder --ip "$VSD_NET4.50/24"
        refused "$VSD_NET4.50 is already used by instance 'holder'" "$T/rf.tar"
        vsctl destroy holder
        # the template: missing, then another build with other content
        vsctl template remove busybox
        refused "template 'busybox' is not on this host" "$T/rf.tar"
        rebuild_template ""
        refused "template 'busybox' here is not the one the instance was made from" "$T/rf.tar"
        # the same build again: the same content, accepted
        rebuild_template
        vsctl import "$T/rf.tar" >/dev/null
        assert_eq "$(vsctl --json info rf | json .ip)" "$VSD_NET4.50/24" "the address after the import"
        vsctl destroy rf
        # not an archive, an empty file, a checkpointed archive under another name
        head -c 4096 /dev/urandom >"$T/noise"
        refused "Unrecognized archive format" "$T/noise"
        : >"$T/empty"
        refused "Unrecognized archive format|not an instance's" "$T/empty"
        refused "No such file" "$T/nonexistent"
}

# A copy of archive IN with members added after config.ini, as python's
# tarfile writes them: "../x" (a step up), "/abs" (an absolute path),
# "link>target" (a symbolic link), "hard=target" (a hard link), "dir/".
tamper() { # IN OUT MEMBER...
        python3 - "$@" <<'PY'
import io, sys, tarfile
src, dst, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
with tarfile.open(src) as i, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as o:
    members = i.getmembers()
    for n, m in enumerate(members):
        data = i.extractfile(m) if m.isreg() else None
        o.addfile(m, data)
        if n == 1:
            for e in extra:
                t = tarfile.TarInfo()
                if ">" in e:
                    t.name, t.linkname = e.split(">", 1)
                    t.type = tarfile.SYMTYPE
                    o.addfile(t)
                elif "=" in e:
                    t.name, t.linkname = e.split("=", 1)
                    t.type = tarfile.LNKTYPE
                    o.addfile(t)
                elif e.endswith("/"):
                    t.name = e.rstrip("/")
                    t.type = tarfile.DIRTYPE
                    t.mode = 0o755
                    o.addfile(t)
                else:
                    t.name = e
                    body = b"planted\n"
                    t.size = len(body)
                    o.addfile(t, io.BytesIO(body))
PY
}

test_import_tampered_archives() {
        local mark=/tmp/vsd-planted-$$ out size
        vsctl create tp --storage dir 2>/dev/null
        vsctl export tp "$T/tp.tar"
        vsctl destroy tp
        # the untouched copy goes in (tarfile's rewrite is a valid archive)
        tamper "$T/tp.tar" "$T/t0.tar"
        vsctl import "$T/t0.tar" --name tp0 >/dev/null
        vsctl destroy tp0
        tamper "$T/tp.tar" "$T/t1.tar" "../vsd-planted-$$"
        refused "member an instance has not" "$T/t1.tar" --name tp1
        [ ! -e "$T/root/instances/vsd-planted-$$" ] && [ ! -e "$T/root/vsd-planted-$$" ] || fail "a file planted outside"
        tamper "$T/tp.tar" "$T/t2.tar" "$mark"
        refused "member an instance has not" "$T/t2.tar" --name tp2
        [ ! -e "$mark" ] || fail "$mark planted"
        # a link out of the tree, then a file through it
        tamper "$T/tp.tar" "$T/t3.tar" "upper/out>/tmp" "upper/out/vsd-planted-$$"
        refused "Cannot extract through symlink" "$T/t3.tar" --name tp3
        [ ! -e "$mark" ] || fail "$mark planted through a symbolic link"
        # a link where vsd expects a directory of its own
        tamper "$T/tp.tar" "$T/t4.tar" "checkpoint>/tmp"
        refused "is not a directory" "$T/t4.tar" --name tp4
        # a hard link to a file outside the tree
        tamper "$T/tp.tar" "$T/t5.tar" "upper/pw=../../../../../etc/passwd"
        refused "outside its tree" "$T/t5.tar" --name tp5
        tamper "$T/tp.tar" "$T/t6.tar" "upper/pw=/etc/passwd"
        refused "outside its tree" "$T/t6.tar" --name tp6
        # an image member in a directory layer's archive
        tamper "$T/tp.tar" "$T/t7.tar" "disk.img"
        refused "member an instance has not" "$T/t7.tar" --name tp7
        # cut short: at half, and just before its last member
        size=$(stat -c %s "$T/tp.tar")
        head -c $((size / 2)) "$T/tp.tar" >"$T/t8.tar"
        refused "cut short|Truncated" "$T/t8.tar" --name tp8
        head -c $((size - 2048)) "$T/tp.tar" >"$T/t9.tar"
        refused "cut short|incomplete|Truncated|end" "$T/t9.tar" --name tp9
        # the first member is not the manifest
        out=$T/t10
        mkdir -p "$out" && echo x >"$out/config.ini"
        tar -cf "$T/t10.tar" -C "$out" config.ini
        refused "not an instance's" "$T/t10.tar" --name tp10
}

# The image's holes are neither read nor stored: a 10G image holding 20 MiB
# exports to about that, and comes back as sparse.
# timeout test_export_sparse_image 240
test_export_sparse_image() {
        local t0 t1 size sum0 used
        vsctl create sp --disk 10G --start
        vsctl exec sp -- sh -c 'dd if=/dev/urandom of=/root/blob bs=1M count=20 2>/dev/null; sync'
        sum0=$(vsctl exec sp -- md5sum /root/blob | cut -d' ' -f1)
        vsctl stop sp
        t0=$(date +%s.%N)
        vsctl export sp "$T/sp.tar"
        t1=$(date +%s.%N)
        size=$(stat -c %s "$T/sp.tar")
        note "a 10G image with 20 MiB of data: exported in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s, $((size >> 20)) MiB"
        [ "$size" -lt $((64 << 20)) ] || fail "the archive of 20 MiB of data takes $((size >> 20)) MiB"
        assert_between "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" 0 "$(scaled 20)" "export time (s)"
        vsctl destroy sp
        vsctl import "$T/sp.tar" >/dev/null
        used=$(du -k "$(inst_dir sp)/disk.img" | cut -f1)
        [ "$used" -lt $((128 << 10)) ] || fail "the imported image takes $((used >> 10)) MiB on the host"
        assert_eq "$(stat -c %s "$(inst_dir sp)/disk.img")" $((10 << 30)) "the imported image's size"
        vsctl start sp
        assert_eq "$(vsctl exec sp -- md5sum /root/blob | cut -d' ' -f1)" "$sum0" "the data after the import"
}

# Killed while it writes the instance: the next daemon leaves nothing of
# it, and the import then works.
# timeout test_import_daemon_killed_midway 180
test_import_daemon_killed_midway() {
        vsd_stop
        VSD_TEST_COPY_BPS=2M vsd_up
        vsctl create km --disk 1G --start
        vsctl exec km -- sh -c 'dd if=/dev/urandom of=/root/blob bs=1M count=16 2>/dev/null; sync'
        vsctl stop km
        vsctl export km "$T/km.tar"
        vsctl destroy km
        vsctl import "$T/km.tar" >/dev/null 2>&1 &
        local client=$!
        wait_for test -f "$T/root/instances/.km.new/disk.img"
        wait_for sh -c "test \"\$(du -k '$T/root/instances/.km.new/disk.img' 2>/dev/null | cut -f1)\" -gt 1024"
        vsd_kill9
        wait "$client" 2>/dev/null || true
        vsd_up
        assert_eq "$(instances_on_disk)" "" "instances on disk after the restart"
        expect_fail vsctl info km
        vsctl import "$T/km.tar" >/dev/null
        vsctl start km
        vsctl exec km -- test -s /root/blob
}

test_export_refusals() {
        vsctl create er --start
        expect_fail vsctl export er "$T/er.tar"
        assert_match "$LAST_ERR" "is running; stop or checkpoint it" "export of a running instance"
        [ ! -e "$T/er.tar" ] || fail "a refused export left its file"
        [ -z "$(find "$T" -maxdepth 1 -name '.er.tar.vsd-export-*')" ] || fail "a refused export left its temporary file"
        expect_fail vsctl export nosuch "$T/x.tar"
        assert_match "$LAST_ERR" "no such instance" "export of an unknown instance"
        vsctl stop er
        expect_fail vsctl export er "$T/nodir/er.tar"
        # without the fd protocol the API says how
        local code
        code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$VSD_SOCKET" -X POST http://x/v1/instances/er/export)
        assert_eq "$code" 400 "export without the fd upgrade"
}

# A checkpoint whose memory lies partly in memory pre-copy's passes (what a
# live move's failure leaves when its restore here fails too:
# checkpoint/parent and checkpoint/pre-N) is refused in one line, nothing
# written: an archive takes the checkpoint's flat files only.
test_export_refuses_a_checkpoint_split_over_passes() {
        needs_criu
        vsctl create ep --privileged --start
        console_shell_settled "$VSD_CG" ep
        vsctl checkpoint ep
        mkdir "$T/root/instances/ep/checkpoint/pre-1"
        ln -s pre-1 "$T/root/instances/ep/checkpoint/parent"
        expect_fail vsctl export ep "$T/ep.tar"
        assert_match "$LAST_ERR" "checkpoint keeps its memory in memory pre-copy passes" "the refusal"
        [ ! -e "$T/ep.tar" ] || fail "a refused export left its file"
        rm "$T/root/instances/ep/checkpoint/parent"
        vsctl export ep "$T/ep.tar"
}

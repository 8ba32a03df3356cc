# SPDX-License-Identifier: LGPL-2.1-or-later
# The known container escapes, each tried for real from inside a default
# instance (the probe's attack commands, tests/probe/attack.c, or busybox),
# each judged on the host: the attack must not have reached it.  Nothing
# here asserts how an attempt is refused (privileged and unprivileged
# instances refuse differently), only that it got nowhere.  Every attempt is
# harmless should it pass: doc/architecture.md, "Escapes tried by the
# tests".

# no_breach OUTPUT WHAT: the probe reported no attempt that got through.
no_breach() {
        local b
        b=$(grep '^breach ' <<<"$1" || true)
        [ -z "$b" ] || fail "$2: $(head -n3 <<<"$b" | tr '\n' ';')"
        grep -q 'breaches=0$' <<<"$1" || fail "$2: the probe did not finish: $(tail -n2 <<<"$1" | tr '\n' ';')"
}

# The daemon's binary as the host sees it, and its checksum.
vsd_id() {
        stat -c %d:%i "$(readlink -f "$B/vsd")"
}

# 1 and 8. CVE-2019-5736 --------------------------------------------------------
#
# A process inside watches for what `vsctl exec` starts and, while it still
# runs the daemon's image (between the fork and the execve), opens its
# /proc/PID/exe for writing (directly, and by an O_PATH fd reopened through
# /proc/self/fd, also after the process is gone), ptraces it (PTRACE_SEIZE,
# PTRACE_ATTACH), reads its memory (process_vm_readv, /proc/PID/mem, maps)
# and opens its fds and cwd.

# race_start NAME SECONDS: the watcher, in the background inside NAME.
race_start() {
        vsctl exec "$1" -- sh -c "rm -f /tmp/vsd-race-stop; /probe race-exec $2 $(vsd_id) >/tmp/race.out 2>&1 </dev/null &"
        wait_for vsctl exec "$1" -- grep -q '^watching=' /tmp/race.out
}

# race_finish NAME: stop the watcher, print what it reported.
race_finish() {
        vsctl exec "$1" -- touch /tmp/vsd-race-stop
        wait_for -t 30 vsctl exec "$1" -- grep -q '^done ' /tmp/race.out
        vsctl exec "$1" -- cat /tmp/race.out
}

# The race as it is: commands started one after another while the watcher
# attacks each new process as soon as it sees it.
test_exec_race_exe_and_ptrace() {
        local sum out i
        sum=$(sha256sum <"$B/vsd")
        vsctl create esc-race --start
        race_start esc-race 60
        for i in $(seq 1 30); do
                vsctl exec esc-race -- true
        done
        out=$(race_finish esc-race)
        note "$(grep -v '^victim' <<<"$out")"
        grep -q '^done new=[1-9]' <<<"$out" || fail "the watcher saw no new process: $out"
        no_breach "$out" "an exec'd process was reached before its execve"
        assert_eq "$(sha256sum <"$B/vsd")" "$sum" "checksum of the daemon's binary"
}

# The same attack against an exec's child held still at each stage of its
# checklist (VSD_TEST_STALL, read by the daemon at its start), so that the
# window is certain to be attacked, not only likely: just after the clone
# (all the daemon's capabilities, dumpable), after joining the namespaces,
# with its stdio, with the instance's capabilities, and right before the
# execve.
# timeout test_exec_child_attacked_at_each_stage 240
test_exec_child_attacked_at_each_stage() {
        local sum out stage client child nspid
        sum=$(sha256sum <"$B/vsd")
        vsctl create esc-stall --start
        race_start esc-stall "$(scaled 200)"
        for stage in SYNC_WAIT_PARENT SYNC_JOIN_NAMESPACES SYNC_JOIN_STDIO SYNC_CAPS SYNC_CLOSE_FDS SYNC_JOIN_EXEC; do
                vsd_stop
                VSD_TEST_STALL=$stage vsd_up
                timeout 60 "$B/vsctl" --socket "$VSD_SOCKET" exec esc-stall -- true >"$T/client.out" 2>&1 &
                client=$!
                # said on the child's stderr: the daemon's, or from
                # SYNC_JOIN_STDIO on the command's, which the client relays
                wait_for grep -q "VSD_TEST_STALL: stalled at $stage" "$T/vsd.log" "$T/client.out"
                child=$(sed -n "s/.*VSD_TEST_STALL: cloned child for $stage \([0-9][0-9]*\)\$/\1/p" "$T/vsd.log" | tail -n1)
                [ -n "$child" ] && alive "$child" || fail "no stalled child at $stage"
                nspid=$(awk '/^NSpid:/ { print $NF }' "/proc/$child/status")
                # the watcher has attacked it at least once, whole
                wait_for -t 20 sh -c "grep -q '^victim pid=$nspid comm=vsd' /proc/$(inst_pid esc-stall)/root/tmp/race.out"
                note "$stage: child $child (pid $nspid inside) attacked"
                kill -KILL "$child"
                wait "$client" && fail "the exec stalled at $stage succeeded"
                wait_gone "$child"
        done
        vsd_stop
        VSD_TEST_STALL= vsd_up
        out=$(race_finish esc-stall)
        note "$(grep -v '^victim' <<<"$out")"
        no_breach "$out" "a stalled exec child was reached"
        assert_eq "$(sha256sum <"$B/vsd")" "$sum" "checksum of the daemon's binary"
}

# 2. CVE-2024-21626 -------------------------------------------------------------
#
# Every fd, the cwd and the root of an exec'd command and of init resolve
# inside: no walk up through ".." from any directory among them reaches a
# marker file the test made on the host.

test_exec_fds_and_cwd_stay_inside() {
        local marker=$T/host-marker-$RANDOM out
        echo "host only" >"$marker"
        vsctl create esc-fd --start
        out=$(vsctl exec esc-fd -- /probe fd-walk "$marker") || true
        note "$out"
        no_breach "$out" "an exec'd command's fd reaches the host"
        # stdio are the relay's pipes; nothing else is open
        assert_eq "$(grep -c '^fd\.' <<<"$out")" 3 "fds of an exec'd command"
        assert_eq "$(grep '^fd\.' <<<"$out" | grep -vc 'type=fifo')" 0 "fds that are not the relay's pipes"
        grep -q '^cwd=/ type=dir reach=no$' <<<"$out" || fail "cwd of an exec'd command: $out"
        grep -q '^root=/ type=dir reach=no$' <<<"$out" || fail "root of an exec'd command: $out"
        # init's, from inside
        out=$(vsctl exec esc-fd -- /probe fd-walk "$marker" 1) || true
        note "$out"
        no_breach "$out" "init's fds reach the host"
        # with a terminal: the instance's own pty
        if command -v script >/dev/null; then
                out=$(script -qec "$B/vsctl --socket $VSD_SOCKET exec -t esc-fd -- /probe fd-walk $marker" /dev/null | tr -d '\r')
                note "$out"
                no_breach "$out" "an exec'd command with a terminal reaches the host"
                assert_eq "$(grep '^fd\.[012]=' <<<"$out" | grep -vc '=/dev/pts/[0-9]* type=chr')" 0 "stdio with a terminal"
        fi
        assert_eq "$(cat "$marker")" "host only" "the host's marker"
}

# 3. Host-side writes following planted entries --------------------------------
#
# What vsd writes into a rootfs when it starts an instance (/etc/hosts, and
# /etc/resolv.conf with nameservers; a clone's /etc/machine-id) planted from
# inside as a link to a host file (by absolute path and by a ../ chain), a
# FIFO or a directory, and /etc itself as a link to a host directory: the
# next start must finish promptly while the daemon answers others, and
# leave the host's files alone.

# start_answering NAME: start NAME while the daemon keeps answering `list`;
# the start ends within 10 s, successful or with one line of error.
start_answering() {
        local pid deadline rc=0
        vsctl start "$1" >"$T/start.out" 2>&1 &
        pid=$!
        deadline=$((SECONDS + $(scaled 10)))
        while kill -0 "$pid" 2>/dev/null; do
                timeout "$(scaled 5)" "$B/vsctl" --socket "$VSD_SOCKET" list >/dev/null ||
                        fail "vsd did not answer 'list' while $1 was starting"
                [ "$SECONDS" -lt "$deadline" ] || fail "the start of $1 still runs after 10 s"
        done
        wait "$pid" || rc=$?
        if [ "$rc" -ne 0 ]; then
                assert_eq "$(grep -c '' "$T/start.out")" 1 "lines of the failed start's error"
                note "start of $1 refused: $(cat "$T/start.out")"
        fi
}

# host_state: the host's marker directory as the test made it.
host_state() {
        (cd "$T/host-dir" && find . -printf '%y %m %s %T@ %p\n' | sort && cat marker)
        findmnt -rn -o TARGET | grep -F "$T/host-dir" || true
}

test_planted_entries_at_written_paths() {
        local before f kind
        mkdir "$T/host-dir"
        echo "host marker" >"$T/host-dir/marker"
        before=$(host_state)
        vsctl create esc-plant --nameserver 192.0.2.53 --start
        for f in /etc/hosts /etc/resolv.conf; do
                for kind in abs rel fifo dir; do
                        case $kind in
                        abs) vsctl exec esc-plant -- sh -c "rm -rf $f && ln -s $T/host-dir/marker $f" ;;
                        rel) vsctl exec esc-plant -- sh -c "rm -rf $f && ln -s ../../../../../../../../..$T/host-dir/marker $f" ;;
                        fifo) vsctl exec esc-plant -- sh -c "rm -rf $f && mkfifo $f" ;;
                        dir) vsctl exec esc-plant -- sh -c "rm -rf $f && mkdir $f" ;;
                        esac
                        vsctl stop esc-plant --kill
                        start_answering esc-plant
                        assert_eq "$(host_state)" "$before" "the host's files after $f planted as $kind"
                done
                vsctl exec esc-plant -- rm -rf "$f"
        done
        # /etc a link to the host's directory, by absolute path and by a chain
        for kind in "$T/host-dir" "../../../../../../..$T/host-dir"; do
                vsctl exec esc-plant -- sh -c "rm -rf /etc.real; mv /etc /etc.real && ln -s $kind /etc"
                vsctl stop esc-plant --kill
                start_answering esc-plant
                assert_eq "$(host_state)" "$before" "the host's files after /etc planted as a link to $kind"
                vsctl exec esc-plant -- sh -c "rm /etc && mv /etc.real /etc"
        done
        # a clone's first start writes /etc/machine-id
        vsctl exec esc-plant -- sh -c "rm -f /etc/machine-id && ln -s $T/host-dir/marker /etc/machine-id"
        vsctl stop esc-plant --kill
        vsctl clone esc-plant esc-plant2
        start_answering esc-plant2
        assert_eq "$(host_state)" "$before" "the host's files after a clone's machine-id planted as a link"
        vsctl start esc-plant
        vsctl exec esc-plant -- sh -c "rm -f /etc/machine-id && mkfifo /etc/machine-id"
        vsctl stop esc-plant --kill
        vsctl clone esc-plant esc-plant3
        start_answering esc-plant3
        assert_eq "$(host_state)" "$before" "the host's files after a clone's machine-id planted as a FIFO"
}

# 4. CVE-2022-0492 ---------------------------------------------------------------
#
# Mount a cgroup v1 hierarchy (every controller the kernel has, rdma, a
# named one) and write back to every release_agent and notify_on_release
# reachable, as root inside and in a user namespace of its own with new
# mount and cgroup namespaces; and the instance's own limits at the root of
# its cgroup namespace (v2: one level below the cgroup vsd limits).

# The host's release agents and the instance's limits.
cg_host_state() {
        local f
        for f in /sys/fs/cgroup/*/release_agent /sys/fs/cgroup/release_agent; do
                [ -f "$f" ] && echo "$f: $(cat "$f")"
        done
        find /sys/fs/cgroup -maxdepth 4 -path "*$VSD_CG*" \( -name notify_on_release -o -name memory.max \
                -o -name pids.max -o -name cpu.max -o -name memory.limit_in_bytes \) -print0 2>/dev/null |
                sort -z | xargs -0r grep -H .
}

test_cgroup_release_agent() {
        local before out
        vsctl create esc-cg --start
        before=$(cg_host_state)
        out=$(vsctl exec esc-cg -- /probe cg-escape) || true
        note "$out"
        no_breach "$out" "a cgroup release agent or limit was written"
        assert_eq "$(cg_host_state)" "$before" "the host's release agents and the instance's limits"
        # busybox's own mount, as a script would try it
        vsctl exec esc-cg -- mkdir -p /tmp/cgx
        expect_fail vsctl exec esc-cg -- mount -t cgroup -o rdma cgroup /tmp/cgx
}

# 5. Device nodes -----------------------------------------------------------------

# The host's root block device, as MAJOR:MINOR.
root_dev() {
        local src
        src=$(findmnt -nvo SOURCE / 2>/dev/null | head -1)
        if [ -b "$src" ]; then
                printf '%d:%d\n' "0x$(stat -c %t "$src")" "0x$(stat -c %T "$src")"
                return
        fi
        for src in /sys/class/block/*; do
                case $(basename "$src") in loop* | zram* | ram*) continue ;; esac
                cat "$src/dev"
                return
        done
}

test_device_nodes() {
        local dev out
        dev=$(root_dev)
        [ -n "$dev" ] || fail "no host block device found"
        vsctl create esc-dev --start
        for out in "b $dev" "c 1:1" "c 1:2" "c 1:11" "c 10:130"; do
                out=$(vsctl exec esc-dev -- /probe devnode $out) || true
                note "$out"
                no_breach "$out" "a host device opened from inside"
        done
        expect_fail vsctl exec esc-dev -- mknod /dev/vsd-disk b "${dev%:*}" "${dev#*:}"
        # every device node anywhere in the instance's tree: the standard few
        out=$(vsctl exec esc-dev -- sh -c 'find / \( -path /proc -o -path /sys \) -prune -o \( -type b -o -type c \) -print |
                while read -r f; do echo "$(stat -c "%F %t:%T" "$f") $f"; done')
        note "$out"
        out=$(grep -vE '^character special file (1:3|1:5|1:7|1:8|1:9|5:0|5:2|88:[0-9a-f]+) /dev/(null|zero|full|random|urandom|tty|pts/ptmx|console)$' <<<"$out" |
                grep -vE '^character special file 88:[0-9a-f]+ /dev/pts/[0-9]+$' || true)
        assert_eq "$out" "" "device nodes beyond the standard ones"
}

# 6. Module loading ---------------------------------------------------------------

test_module_loading() {
        local before out
        before=$(cat /proc/modules 2>/dev/null | cut -d' ' -f1 | sort)
        vsctl create esc-mod --start
        out=$(vsctl exec esc-mod -- /probe modload) || true
        note "$out"
        no_breach "$out" "module loading"
        assert_eq "$(grep -E '\.(init|finit)_module=' <<<"$out" | grep -vc '=EPERM$')" 0 "init_module/finit_module results"
        vsctl exec esc-mod -- sh -c 'echo "not a module" >/tmp/m.ko'
        expect_fail vsctl exec esc-mod -- insmod /tmp/m.ko
        expect_fail vsctl exec esc-mod -- modprobe dummy
        assert_eq "$(cat /proc/modules 2>/dev/null | cut -d' ' -f1 | sort)" "$before" "the host's loaded modules"
}

# 7. Kernel keyring ---------------------------------------------------------------

test_keyring() {
        local out s
        vsctl create esc-key --start
        for out in "$(vsctl exec esc-key -- /probe syscall keyctl add_key request_key)" \
                "$(vsctl exec esc-key -- unshare -U /probe syscall keyctl add_key request_key)"; do
                note "$out"
                for s in keyctl add_key request_key; do
                        assert_eq "$(probe_val "$s" <<<"$out")" EPERM "$s"
                done
        done
        # nothing of the host's keys, nor of who holds how many
        assert_eq "$(vsctl exec esc-key -- cat /proc/keys /proc/key-users)" "" "/proc/keys and /proc/key-users inside"
}

# 9. Masked paths -----------------------------------------------------------------
#
# Unmount or remount the masked and read-only /proc and /sys paths, mount a
# fresh proc and sysfs elsewhere (also in a user namespace with its own
# pid and network namespaces), and read the masked files through them;
# /proc/sysrq-trigger and core_pattern are only opened for writing, never
# written.

test_masked_paths() {
        local out
        vsctl create esc-mask --start
        out=$(vsctl exec esc-mask -- /probe mask-escape) || true
        note "$out"
        no_breach "$out" "a masked path"
}

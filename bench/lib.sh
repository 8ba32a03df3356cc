# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What the bench scripts share: waiting for their private vsd, ending it
# with everything it made, and removing their cgroups.  Sourced; B is the
# build directory.

# bench_vsd_wait SOCKET: until that daemon answers (5 s at most); fails,
# with vsctl's message, when it does not.
bench_vsd_wait() {
        local _
        for _ in $(seq 100); do "$B/vsctl" --socket "$1" version >/dev/null 2>&1 && return 0; sleep 0.05; done
        "$B/vsctl" --socket "$1" version >/dev/null
}

# bench_vsd_end PID SOCKET: every instance of that daemon killed and
# destroyed, whatever was created before a failure, then the daemon stopped.
bench_vsd_end() {
        local n
        if ! kill -0 "$1" 2>/dev/null; then
                wait "$1" 2>/dev/null
                return 0 # its instances: bench_cgroups_remove
        fi
        for n in $("$B/vsctl" --socket "$2" --json list 2>/dev/null | python3 -c \
                'import json, sys; print(" ".join(i["name"] for i in json.load(sys.stdin)))'); do
                "$B/vsctl" --socket "$2" stop --kill "$n" >/dev/null 2>&1
                "$B/vsctl" --socket "$2" destroy "$n" >/dev/null 2>&1
        done
        kill "$1" 2>/dev/null
        wait "$1" 2>/dev/null
}

# bench_cgroups_remove NAME...: those cgroup trees, in every hierarchy,
# deepest first.  Whatever still runs in them is the bench's own (an
# instance whose daemon died before it was destroyed keeps running, as vsd
# means it to): killed first.
bench_cgroups_remove() {
        local h g _
        for _ in $(seq 50); do
                local pids=
                for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
                        for g in "$@"; do
                                [ -d "$h$g" ] && pids+=" $(find "$h$g" -name cgroup.procs -exec cat {} + 2>/dev/null)"
                        done
                done
                [ -n "${pids// /}" ] || break
                # shellcheck disable=SC2086
                kill -9 $pids 2>/dev/null
                sleep 0.1
        done
        for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
                for g in "$@"; do
                        [ -d "$h$g" ] && find "$h$g" -depth -type d -exec rmdir {} + 2>/dev/null
                done
        done
        return 0
}

# bench_net_remove TABLE [BRIDGE]: the firewall tables and the bridge of a
# bench daemon, when it died before it could remove them itself (after
# bench_cgroups_remove: the instances' links go with their namespaces).
bench_net_remove() {
        local f
        for f in bridge inet; do nft delete table "$f" "$1" 2>/dev/null; done
        [ -z "${2:-}" ] || ip link del "$2" 2>/dev/null
        return 0
}

# bench_dir_remove DIR...: a bench's state directory.  A daemon that died
# leaves its lxcfs running with its FUSE mount inside the directory (and
# rm would walk into it): the lxcfs of its pidfile, when its command line
# names the directory, is killed and every mount under it detached first.
bench_dir_remove() {
        local d p m
        for d in "$@"; do
                [ -n "$d" ] && [ -d "$d" ] || continue
                for p in $(find "$d" -xdev -name lxcfs.pid -exec cat {} + 2>/dev/null); do
                        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF "$d/" && kill -9 "$p"
                done
                for m in $(awk -v d="$d/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
                        umount -l "$m" 2>/dev/null
                done
                rm -rf "$d"
        done
        return 0
}

# bench_private NAME DIR TABLE [BRIDGE]: the state of one private daemon
# for a bench script: T (a new directory below DIR, with root/templates and
# run), CG (its cgroup parent), SOCK, VSD_PID (empty until
# bench_private_start), vsctl() talking to it, and an EXIT trap that ends it
# with its instances, cgroups, firewall table TABLE and bridge BRIDGE, and
# removes T.  The busybox template is built into it (EXTRA_FILES, as the
# builder takes it, passes through).  The caller writes $T/vsd.conf.
bench_private() {
        T=$(mktemp -d "$2/vsd-bench-$1.XXXXXX")
        CG=vsd-bench-$1-$$
        SOCK=$T/run/vsd.sock
        VSD_PID=
        BENCH_TABLE=$3
        BENCH_BRIDGE=${4:-}
        vsctl() { "$B/vsctl" --socket "$SOCK" "$@"; }
        trap bench_private_cleanup EXIT
        mkdir -p "$T/root/templates" "$T/run"
        "$SRC/templates/busybox/build.sh" "$T/root/templates/busybox" >/dev/null
}

bench_private_cleanup() {
        set +e
        [ -n "$VSD_PID" ] && bench_vsd_end "$VSD_PID" "$SOCK"
        bench_cgroups_remove "$CG"
        bench_net_remove "$BENCH_TABLE" "$BENCH_BRIDGE"
        bench_dir_remove "$T"
}

# bench_private_start / bench_private_stop: the private daemon on
# $T/vsd.conf, its log in $T/vsd.log; started answers.
bench_private_start() {
        "$B/vsd" --root "$T/root" --run-dir "$T/run" --socket "$SOCK" --cgroup-parent "$CG" --log-level warning \
                -c "$T/vsd.conf" 2>>"$T/vsd.log" &
        VSD_PID=$!
        bench_vsd_wait "$SOCK"
}
bench_private_stop() {
        kill "$VSD_PID"
        wait "$VSD_PID" 2>/dev/null || true
        VSD_PID=
}

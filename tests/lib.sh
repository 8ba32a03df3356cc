# shellcheck shell=bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Helpers for the integration tests (tests/integration/t_*.sh), sourced by
# tests/run.sh and by each test's own shell.
#
# Every test gets
#   T        a fresh directory: T/root (state root), T/run (runtime state and
#            socket), T/vsd.log (the daemon's log)
#   VSD_CG   its own cgroup parent, vsd-test-<runner pid>-<n>
#   B        the build directory (vsd, vsctl, tests/probe)
# and a private daemon started by vsd_up.  vsd_down, run by the runner after
# the test whatever its outcome, stops the instances, kills the daemon and
# checks that nothing of the test is left in the kernel: a leak fails the test.

VSD_SRC=${VSD_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

# scaled SECONDS: a time limit multiplied by VSD_TEST_TIMEOUT_SCALE (default
# 1; the VM lane, tests/vm/run.sh, runs under software emulation and sets
# more), rounded up.  For every bound on how long something may take, never
# for a duration the test asserts or asks for.
scaled() {
        local s=${VSD_TEST_TIMEOUT_SCALE:-1}
        if [[ $1 =~ ^[0-9]+$ && $s =~ ^[0-9]+$ ]]; then
                echo $(($1 * s))
        else
                awk -v t="$1" -v s="$s" 'BEGIN { v = t * s; r = int(v); if (r < v) r++; print r }'
        fi
}

# Fail the test with one line of explanation.
fail() {
        echo "FAIL: $*" >&2
        exit 1
}

note() {
        echo "# $*" >&2
}

# The CLI under test, always against this test's daemon.
vsctl() {
        "$B/vsctl" --socket "$VSD_SOCKET" "$@"
}

# wait_for [-t SECONDS] CMD...: poll CMD until it succeeds; fail after the
# timeout (default 10 s).  A condition poll, never a blind sleep.
wait_for() {
        local timeout=10
        if [ "$1" = -t ]; then
                timeout=$2
                shift 2
        fi
        local deadline=$((SECONDS + $(scaled "$timeout"))) out
        while :; do
                if out=$("$@" 2>&1); then
                        return 0
                fi
                if [ "$SECONDS" -ge "$deadline" ]; then
                        fail "timed out after $(scaled "$timeout")s waiting for: $* (last output: ${out:0:300})"
                fi
                sleep 0.05
        done
}

# expect_fail [--code N] CMD...: CMD must exit non-zero (N if given) and
# say why in exactly one line on stderr.  The line is echoed to the log and
# left in $LAST_ERR.
expect_fail() {
        local want=
        if [ "$1" = --code ]; then
                want=$2
                shift 2
        fi
        local errf rc=0 lines
        errf=$(mktemp "$T/err.XXXXXX")
        "$@" >/dev/null 2>"$errf" || rc=$?
        LAST_ERR=$(cat "$errf")
        rm -f "$errf"
        note "expect_fail $* -> exit $rc: $LAST_ERR"
        [ "$rc" -ne 0 ] || fail "succeeded but should have failed: $*"
        [ -z "$want" ] || [ "$rc" -eq "$want" ] || fail "exit status $rc, expected $want: $*"
        lines=$(printf '%s' "$LAST_ERR" | grep -c '')
        [ "$lines" -eq 1 ] || fail "expected one line on stderr, got $lines: $*: $LAST_ERR"
        return 0
}

# Assertions that say what they compared.
assert_eq() { # GOT WANT WHAT
        [ "$1" = "$2" ] || fail "${3:-value}: got '$1', expected '$2'"
}

assert_match() { # GOT REGEX WHAT
        [[ $1 =~ $2 ]] || fail "${3:-value}: '$1' does not match /$2/"
}

# assert_between VALUE LOW HIGH WHAT: LOW <= VALUE <= HIGH, decimals allowed.
assert_between() {
        awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v + 0 >= lo + 0 && v + 0 <= hi + 0) }' ||
                fail "${4:-value}: $1 not in [$2, $3]"
}

# key=value output of the probe: probe_val KEY <<<"$output"
probe_val() {
        sed -n "s/^$1=//p" | head -1
}

# json FILTER: jq over stdin, raw output.
json() {
        jq -er "$@"
}

# alive PID: the process exists and is not a zombie (an init that a daemon
# re-adopted is not its child, so its real parent may reap it a little later).
alive() {
        [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# Host pid of an instance's init (0 when not running).
inst_pid() {
        vsctl --json info "$1" | json .pid
}

inst_state() {
        vsctl --json info "$1" | json .state
}

# A listing of everything under the state root that a failed request must
# not have changed: type, mode, size and path (not times; console.log, which
# running instances append to, is left out).
disk_snapshot() {
        (cd "$T/root" && find . -path ./templates -prune -o ! -name 'console.log*' -printf '%y %m %s %p\n' | LC_ALL=C sort)
}

# The cgroup directory of instance NAME below cgroup parent CG whose
# cgroup.procs files (its own and its children's) list its processes: its
# pids hierarchy's on the v1 hybrid layout, its own on pure v2.
inst_cg_dir() { # CG NAME
        if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
                echo "/sys/fs/cgroup/$1/$2"
        else
                echo "/sys/fs/cgroup/pids/$1/$2"
        fi
}

# The console's shell of instance NAME (cgroup parent CG) at its prompt: a
# session leader on a terminal whose foreground group is its own.  CRIU
# refuses to dump a busybox sh between opening /dev/tty and taking the
# terminal ("ctty inheritance detected").
console_shell_settled() { # CG NAME
        local d
        d=$(inst_cg_dir "$1" "$2")
        wait_for sh -c "for p in \$(find $d -name cgroup.procs -exec cat {} + 2>/dev/null); do
                sed 's/.*) //' /proc/\$p/stat 2>/dev/null |
                        awk -v p=\$p '\$4 == p && \$5 != 0 && \$6 == p { found = 1 } END { exit !found }' && exit 0
        done; exit 1"
}

# The super options of every cgroup2 mount of the host ("MOUNTPOINT OPTIONS"
# lines): nsdelegate, memory_recursiveprot... belong to the one cgroup2
# superblock, and a cgroup2 mount made anywhere in the initial cgroup
# namespace sets them for the whole host.  Neither vsd nor what it starts
# may change them.
host_cgroup2_opts() {
        awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") print $5, $(i + 3); break } }' \
                /proc/self/mountinfo | sort -u
}

# The daemon ------------------------------------------------------------------

# vsd_setup: fresh test directory and names, when not already given by the
# runner (a test file can also be run by hand: see tests/run.sh).
vsd_setup() {
        : "${B:?B (build directory) not set}"
        B=$(cd "$B" && pwd)
        if [ -z "${T:-}" ]; then
                T=$(mktemp -d /tmp/vsd-test.XXXXXX)
        fi
        VSD_CG=${VSD_CG:-vsd-test-$$-0}
        VSD_SOCKET=$T/run/vsd.sock
        export B T VSD_CG VSD_SOCKET
        mkdir -p "$T/root/templates" "$T/run"
}

# The test's own network: bridge, address ranges, link prefix and nftables
# tables derived from its cgroup name (or VSD_NET_SEED, which tests/run.sh
# sets so that tests running at the same time never share one), so that no
# two tests (and no test and the host's own vsd) share one.  VSD_NET_ID is 6
# hex digits.
vsd_net_names() {
        VSD_NET_ID=$(printf '%s' "${VSD_NET_SEED:-$VSD_CG}" | md5sum | cut -c1-6)
        local a=$((16#${VSD_NET_ID:0:2} % 50 + 200)) b=$((16#${VSD_NET_ID:2:2}))
        VSD_BRIDGE=vsb$VSD_NET_ID
        VSD_LINK_PREFIX=v${VSD_NET_ID:0:5}
        VSD_NFT_TABLE=vsdt_$VSD_NET_ID
        VSD_NET4=10.$a.$b              # the bridge is .1, instances from .2
        VSD_NET6=fd7e:$a:$b            # the bridge is ::1/64
        VSD_ROUTED4=10.$a.$((b ^ 128)) # the routed pool, another /24
        VSD_NETNS=
        [ "${VSD_OWN_NETNS:-0}" != 1 ] || VSD_NETNS=vsdns-$VSD_NET_ID
        export VSD_NET_ID VSD_BRIDGE VSD_LINK_PREFIX VSD_NFT_TABLE VSD_NET4 VSD_NET6 VSD_ROUTED4 VSD_NETNS
}

# A test whose file says "# netns test_x" (read by tests/run.sh, which sets
# VSD_OWN_NETNS=1) runs its daemon in a network namespace of its own,
# VSD_NETNS (vsdns-<id>): the bridge, the links and the nftables tables are
# made there, and the test may do to that namespace's firewall what must
# never be done to the host's, such as flushing the whole ruleset.  The
# namespace outlives a daemon that is killed and started again; vsd_down
# checks it for leaks and deletes it.
#
# in_net CMD...: run CMD (a program, not a shell function) in the daemon's
# network namespace: the host's own when the test has none.
in_net() {
        if [ -n "${VSD_NETNS:-}" ]; then
                nsenter --net="/run/netns/$VSD_NETNS" "$@"
        else
                "$@"
        fi
}

# The daemon's namespace, made when missing, loopback up.
vsd_netns_make() {
        [ -n "${VSD_NETNS:-}" ] || return 0
        [ -e "/run/netns/$VSD_NETNS" ] || ip netns add "$VSD_NETNS" || fail "cannot make network namespace $VSD_NETNS"
        ip -n "$VSD_NETNS" link set lo up || fail "cannot set lo up in $VSD_NETNS"
}

# The [network] section of the test daemon's vsd.conf (appended to one a
# test wrote itself, unless that has its own).
vsd_net_conf() {
        vsd_net_names
        grep -q '^\[network\]' "$T/vsd.conf" 2>/dev/null && return 0
        printf '%s\n' "[network]" "default_mode = ${VSD_NET_MODE:-bridge}" "bridge = $VSD_BRIDGE" \
                "bridge_ipv4 = $VSD_NET4.1/24" "bridge_ipv6 = $VSD_NET6::1/64" "routed_ipv4 = $VSD_ROUTED4.0/24" \
                "link_prefix = $VSD_LINK_PREFIX" "nft_table = $VSD_NFT_TABLE" >>"$T/vsd.conf"
}

# The [templates] section of the test daemon's vsd.conf: the checkout's
# builders and a cache shared by every test run on this machine, so that
# only the first Debian build anywhere runs debootstrap (minutes) and the
# others unpack its tarball (seconds).
VSD_TEMPLATE_CACHE=${VSD_TEMPLATE_CACHE:-/var/cache/vsd-test}
vsd_templates_conf() {
        grep -q '^\[templates\]' "$T/vsd.conf" 2>/dev/null && return 0
        printf '%s\n' "[templates]" "builders = $VSD_SRC/templates" "cache = $VSD_TEMPLATE_CACHE" >>"$T/vsd.conf"
}

# vsd_debian_template: make template debian-12 available in the test's
# daemon (vsd_up first), built through `vsctl template build` with the
# shared cache; fails the test with one line when it cannot.  A cold cache
# costs a debootstrap run (about 1.5 minutes here): a test calling this
# should allow for it (see "# timeout" in tests/run.sh).
vsd_debian_template() {
        local out start=$SECONDS
        if vsctl --json template list 2>/dev/null | jq -e '.[] | select(.name == "debian-12")' >/dev/null; then
                return 0
        fi
        out=$(vsctl template build debian-12 2>&1) ||
                fail "cannot build the debian-12 template: $(tail -n1 <<<"$out")"
        note "debian-12 template ready in $((SECONDS - start))s ($(grep -m1 -E '^(Unpacking the cached|Running debootstrap)' <<<"$out" || true))"
}

# The [storage] section: VSD_TEST_STORAGE (image or dir), when set, is the
# test daemon's default backend, so that a whole run can exercise the other
# one; instances that name a backend get it either way.
vsd_storage_conf() {
        [ -n "${VSD_TEST_STORAGE:-}" ] || return 0
        grep -q '^\[storage\]' "$T/vsd.conf" 2>/dev/null && return 0
        printf '%s\n' "[storage]" "default_backend = $VSD_TEST_STORAGE" >>"$T/vsd.conf"
}

# vsd_up: build the test template (with the probe at /probe) and start a
# private daemon; returns once it answers.  Also used to start a new daemon
# after the previous one was killed: the state root is kept.
vsd_up() {
        vsd_setup
        EXTRA_FILES="$B/tests/probe:probe" "$VSD_SRC/templates/busybox/build.sh" "$T/root/templates/busybox" ||
                fail "cannot build the busybox template"
        [ -x "$B/vsd" ] || fail "$B/vsd not built"
        [ -x "$B/vsctl" ] || fail "$B/vsctl not built"
        echo "=== vsd_up $(date +%T.%N)" >>"$T/vsd.log"
        vsd_net_conf
        vsd_templates_conf
        vsd_storage_conf
        vsd_netns_make
        local in_ns=()
        [ -z "$VSD_NETNS" ] || in_ns=(nsenter "--net=/run/netns/$VSD_NETNS")
        setsid "${in_ns[@]}" "$B/vsd" --root "$T/root" --run-dir "$T/run" --socket "$VSD_SOCKET" \
                --cgroup-parent "$VSD_CG" --foreground -c "$T/vsd.conf" ${VSD_ARGS:-} \
                </dev/null >>"$T/vsd.log" 2>&1 &
        VSD_PID=$!
        echo "$VSD_PID" >"$T/vsd.pid"
        # a daemon's start probes the kernel and starts lxcfs: well under a
        # second here, 20-60 s in the VM lane's guest with the host suite
        # running beside it (make check)
        local deadline=$((SECONDS + $(scaled 15)))
        # bounded: a stray socket left at the path may accept and never answer
        until timeout "$(scaled 2)" "$B/vsctl" --socket "$VSD_SOCKET" version >/dev/null 2>&1; do
                if ! kill -0 "$VSD_PID" 2>/dev/null; then
                        wait "$VSD_PID" 2>/dev/null
                        fail "vsd exited with status $? before answering (see vsd.log)"
                fi
                [ "$SECONDS" -lt "$deadline" ] || fail "vsd does not answer on $VSD_SOCKET after $(scaled 15)s"
                sleep 0.02
        done
}

vsd_pid() {
        cat "$T/vsd.pid" 2>/dev/null
}

# The pid of the daemon's listener holder (vsd/view/holder.h), or nothing
# when there is none.
holder_pid() {
        jq -r .pid "$T/run/holder/state" 2>/dev/null || true
}

# vsd_kill9: the daemon dies without any chance to clean up.
vsd_kill9() {
        local pid
        pid=$(vsd_pid)
        [ -n "$pid" ] || fail "no daemon pid"
        kill -KILL "$pid"
        wait_gone "$pid"
}

# vsd_stop: SIGTERM, as an init system would on upgrade.
vsd_stop() {
        local pid
        pid=$(vsd_pid)
        [ -n "$pid" ] || return 0
        kill -TERM "$pid" 2>/dev/null || return 0
        local deadline=$((SECONDS + $(scaled 10)))
        while alive "$pid"; do
                if [ "$SECONDS" -ge "$deadline" ]; then
                        kill -KILL "$pid" 2>/dev/null
                        fail "vsd did not exit within 10s of SIGTERM"
                fi
                sleep 0.02
        done
        wait "$pid" 2>/dev/null || true
}

# wait_gone PID: the process has exited (or is a zombie of ours).
wait_gone() {
        local deadline=$((SECONDS + $(scaled 10)))
        while alive "$1"; do
                [ "$SECONDS" -lt "$deadline" ] || fail "process $1 still alive after 10s"
                sleep 0.02
        done
        wait "$1" 2>/dev/null || true
}

# Leak check ------------------------------------------------------------------

# The cgroup directories of a parent name in every hierarchy (v1 controllers,
# the unified one, or a pure v2 root), deepest first.
_cg_dirs() {
        find /sys/fs/cgroup -maxdepth 4 -type d -name "$1" -print 2>/dev/null | while read -r top; do
                find "$top" -depth -type d
        done
}

# Processes that belong to the test: in one of its cgroups, rooted in DIR,
# or whose command line names DIR other than lxcfs (checked on its own
# below): a test's daemon, a client of it, or a daemon's child between its
# clone and exec, which runs the daemon's code and shows its command line
# from outside any of the test's cgroups.
_test_pids() { # CGNAME DIR
        local p
        {
                grep -lE -- "/$1(/|\$)" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3
                find /proc -mindepth 2 -maxdepth 2 -name root -lname "$2/*" 2>/dev/null | cut -d/ -f3
                # r[o]ot: the pattern must not match grep's own command line
                for p in $(grep -laE -- "$2/(r[o]ot|r[u]n)" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
                        [ "$(cat "/proc/$p/comm" 2>/dev/null || echo lxcfs)" = lxcfs ] || echo "$p"
                done
        } | sort -un | grep -vxE "$$|${BASHPID:-0}"
}

# lxcfs processes started for DIR (a test's daemon runs it with its mount
# point, below DIR, on the command line).
_test_lxcfs_pids() { # DIR
        local p
        for p in $(pgrep -x lxcfs || true); do
                tr '\0' '\n' 2>/dev/null <"/proc/$p/cmdline" | grep -q "^$1/" && echo "$p"
        done
        return 0
}

# leak_check CGNAME DIR: print one line per thing left behind and remove it,
# so that one leaking test does not spoil the next.  Returns 1 on a leak.
# Only a bound device has a loop/ directory in sysfs; a host keeps its
# unbound devices (a thousand after a density run), so they are not read.
_test_loops() { # DIR: the loop devices bound to a file under DIR
        local b f l
        for b in /sys/block/loop*/loop/backing_file; do
                # none bound (a fresh machine): the pattern itself
                [ -e "$b" ] || continue
                read -r f 2>/dev/null <"$b" || continue
                f=${f% (deleted)}
                l=${b%/loop/backing_file}
                [[ $f != "$1"/* ]] || echo "${l##*/}"
        done
}

leak_check() {
        local cg=$1 dir=$2 leaked=0 p m d l

        for p in $(_test_pids "$cg" "$dir"); do
                echo "LEAK: process $p ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-80)) root $(readlink "/proc/$p/root") $(grep -m1 "$cg" "/proc/$p/cgroup" 2>/dev/null)"
                kill -KILL "$p" 2>/dev/null
                leaked=1
        done
        for p in $(_test_pids "$cg" "$dir"); do
                wait_gone "$p" 2>/dev/null || true
        done

        # lxcfs runs outside the test's cgroups and root: it is the test's
        # when its command line names the test directory (its mount point)
        for p in $(_test_lxcfs_pids "$dir"); do
                echo "LEAK: lxcfs process $p ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-120))"
                kill -KILL "$p" 2>/dev/null
                leaked=1
        done

        while read -r m t; do
                [ -n "$m" ] || continue
                echo "LEAK: mount $m ($t)"
                umount -l "$m" 2>/dev/null
                leaked=1
        done < <(awk -v d="$dir" 'index($0, d) { for (i = 7; i <= NF; i++) if ($i == "-") { print $5, $(i + 1); break } }' /proc/self/mountinfo | sort -r)

        # Loop devices whose backing file is under DIR (instance disk
        # images), read from sysfs so that no tool is needed; a deleted
        # image reads "PATH (deleted)".  The kernel detaches an autoclear
        # device when the filesystem on it is released, which trails the
        # unmount (an RCU grace period and a work item, longer on a loaded
        # host): a device still bound after 10 s is a leak.
        local deadline=$((SECONDS + $(scaled 10)))
        while [ "$SECONDS" -lt "$deadline" ] && _test_loops "$dir" | grep -q .; do
                sleep 0.05
        done
        for l in $(_test_loops "$dir"); do
                echo "LEAK: loop device /dev/$l backed by $(cat "/sys/block/$l/loop/backing_file" 2>/dev/null)"
                losetup -d "/dev/$l" 2>/dev/null
                leaked=1
        done

        # Network: the test's bridge, links named with its prefix (veths,
        # the daemon's spare ones, and the IFBs whose alias names them), its
        # nftables tables
        vsd_net_names
        while read -r l; do
                [ -n "$l" ] || continue
                echo "LEAK: link $l"
                in_net ip link del "$l" 2>/dev/null
                leaked=1
        done < <(in_net ip -o link show 2>/dev/null | grep -E "(: |alias .*)($VSD_BRIDGE|$VSD_LINK_PREFIX([0-9a-f]{8}|p[0-9a-f]{7}))" | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }')
        if command -v nft >/dev/null; then
                while read -r fam tab; do
                        [ -n "$tab" ] || continue
                        echo "LEAK: nftables table $fam $tab"
                        in_net nft delete table "$fam" "$tab" 2>/dev/null
                        leaked=1
                done < <(in_net nft list tables 2>/dev/null | awk -v t="$VSD_NFT_TABLE" '$3 == t { print $2, $3 }')
        fi
        # the test's own network namespace, once checked: deleting it takes
        # whatever is still in it
        if [ -n "$VSD_NETNS" ] && [ -e "/run/netns/$VSD_NETNS" ]; then
                ip netns del "$VSD_NETNS" 2>/dev/null || { echo "LEAK: cannot delete network namespace $VSD_NETNS"; leaked=1; }
        fi

        # The parent itself is the runner's to remove once empty; anything
        # below it (an instance cgroup) outlived its instance.
        while read -r d; do
                [ -n "$d" ] || continue
                if [ "$(basename "$d")" != "$cg" ]; then
                        echo "LEAK: cgroup $d"
                        leaked=1
                fi
                rmdir "$d" 2>/dev/null || { echo "LEAK: cannot remove cgroup $d"; leaked=1; }
        done < <(_cg_dirs "$cg")

        return $leaked
}

# vsd_down: stop every instance through the daemon, stop the daemon, check
# for leaks.  Runs in the runner, after the test's own shell has ended.
vsd_down() {
        local names n pid rc=0 stoppers=()
        if [ -S "$VSD_SOCKET" ] && timeout 5 "$B/vsctl" --socket "$VSD_SOCKET" version >/dev/null 2>&1; then
                names=$(timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" --json list 2>/dev/null | jq -r '.[] | select(.state != "stopped" and .state != "broken" and .state != "checkpointed") | .name' 2>/dev/null)
                for n in $names; do
                        (
                                # bounded: a daemon that never answers must not hang the run
                                [ "$(inst_state "$n" 2>/dev/null)" != paused ] || timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" resume "$n" >/dev/null 2>&1
                                timeout 20 "$B/vsctl" --socket "$VSD_SOCKET" stop "$n" --timeout 10s >/dev/null 2>&1 ||
                                        timeout 10 "$B/vsctl" --socket "$VSD_SOCKET" stop "$n" --kill >/dev/null 2>&1 ||
                                        echo "LEAK: instance $n could not be stopped"
                        ) &
                        stoppers+=($!)
                done
                # only these: the daemon may be a child of this shell too
                [ ${#stoppers[@]} -eq 0 ] || wait "${stoppers[@]}"
        fi
        # Instances are stopped: their cgroups must be gone before the daemon is.
        if [ -n "$(_cg_dirs "$VSD_CG" | grep -v "/$VSD_CG\$")" ]; then
                echo "LEAK: instance cgroups after stop: $(_cg_dirs "$VSD_CG" | grep -v "/$VSD_CG\$" | grep -m3 . | tr '\n' ' ')"
                rc=1
        fi
        pid=$(vsd_pid)
        if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
                kill -TERM "$pid" 2>/dev/null
                local deadline=$((SECONDS + $(scaled 5)))
                while [ -d "/proc/$pid" ] && [ "$SECONDS" -lt "$deadline" ]; do
                        sleep 0.02
                done
                if [ -d "/proc/$pid" ]; then
                        echo "LEAK: vsd $pid did not exit on SIGTERM within 5s"
                        kill -KILL "$pid" 2>/dev/null
                        rc=1
                fi
        fi
        # the further hosts of a test of moves between hosts (tests/hosts.sh)
        if [ -f "$T/hosts.list" ]; then
                # shellcheck source=tests/hosts.sh
                . "$VSD_SRC/tests/hosts.sh"
                hosts_down || rc=1
        fi
        leak_check "$VSD_CG" "$T" || rc=1
        # under `make check-san` the daemon reports memory errors, leaks and
        # undefined behaviour in its log: any of them fails the test
        if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/vsd.log" 2>/dev/null; then
                echo "SANITIZER: $(grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/vsd.log")"
                rc=1
        fi
        return $rc
}

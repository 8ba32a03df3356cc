# shellcheck shell=bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Several vsd "hosts" on this machine, for the tests of moving instances
# between hosts (tests/integration/t_migrate.sh).  Sourced after lib.sh.
#
# hosts_up N makes, for k = 1..N:
#   - a network namespace vsdh<id>-k, its "lan0" a veth into a bridge in a
#     further namespace vsdh<id>-lan (the hosts' shared LAN), address
#     HOST_LAN.1k/24 from a range of the test's own (vsd_net_names);
#   - a vsd in that namespace with its own state root ($T/root-hk), run
#     directory ($T/run-hk), socket, cgroup parent (${VSD_CG}hk), nft table
#     and instance bridge (the same instance network on every host, as
#     hosts that share a LAN and an address plan have), the test template
#     built into it;
#   - an sshd from Debian's openssh-server in that namespace on port 2222 of
#     its LAN address, root logging in with a key of the test's only, whose
#     sessions get VSD_SOCKET (this host's daemon) and PATH ($B first), so
#     that `ssh hk vsctl ...` talks to host k's daemon.
# $T/ssh_config names them h1..hN for ssh -F; each daemon's vsd.conf says
# so ([migrate] ssh), with HOST_CONF_k's lines after (a setting of host k's
# own).  With HOSTS_SHARED_LAN=1 each host's instance bridge is a port of
# the LAN too (made before its daemon, with a MAC of its own; the daemon
# completes it), so that an instance's address is at home on the LAN
# wherever it runs; host_client_up then puts a client on that LAN.
# HOST_PATH_k=DIR puts DIR first in the PATH of host k's sessions (another
# vsctl there, as an older host's).  hosts_down (run by vsd_down in the runner, whatever
# became of the test) stops it all, checks that nothing is left of it and
# removes the namespaces; a leak fails the test.

HOST_PORT=2222

host_ns() { echo "vsdh$VSD_NET_ID-$1"; }
host_lan_ns() { echo "vsdh$VSD_NET_ID-lan"; }
host_addr() { echo "$HOST_LAN.1$1"; }
host_socket() { echo "$T/run-h$1/vsd.sock"; }
host_cg() { echo "${VSD_CG}h$1"; }

# host_vsctl K ARGS...: vsctl against host K's daemon.
host_vsctl() {
        local k=$1
        shift
        "$B/vsctl" --socket "$(host_socket "$k")" "$@"
}

# host_ssh K CMD...: a command on host K, over its sshd (from host K's own
# namespace: the LAN is the hosts' only).
host_ssh() {
        local k=$1
        shift
        nsenter --net="/run/netns/$(host_ns "$k")" ssh -F "$T/ssh_config" "h$k" "$@"
}

_host_lan_names() {
        vsd_net_names
        local a=$((16#${VSD_NET_ID:0:2} % 50 + 200)) b=$((16#${VSD_NET_ID:2:2}))
        HOST_LAN=10.$a.$((b ^ 64))
}

_host_ssh_setup() {
        mkdir -p "$T/ssh"
        [ -f "$T/ssh/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host_key" || fail "ssh-keygen"
        [ -f "$T/ssh/id" ] || ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/id" || fail "ssh-keygen"
        cp "$T/ssh/id.pub" "$T/ssh/authorized_keys"
        # sshd's privilege separation directory, as Debian's unit makes it
        mkdir -p /run/sshd && chmod 0755 /run/sshd
        {
                local k
                for k in $(seq "$1"); do
                        printf 'Host h%s\n  HostName %s\n' "$k" "$(host_addr "$k")"
                done
                printf '%s\n' "Host *" "  Port $HOST_PORT" "  User root" "  IdentityFile $T/ssh/id" "  IdentitiesOnly yes" \
                        "  StrictHostKeyChecking no" "  UserKnownHostsFile /dev/null" "  LogLevel ERROR" "  BatchMode yes" \
                        "  ConnectTimeout 5" "  ServerAliveInterval 2" "  ServerAliveCountMax 3"
        } >"$T/ssh_config"
}

_host_sshd_conf() { # K
        local first
        first=$(eval "echo \${HOST_PATH_$1:-}")
        printf '%s\n' "Port $HOST_PORT" "ListenAddress $(host_addr "$1")" "HostKey $T/ssh/host_key" \
                "PidFile $T/run-h$1/sshd.pid" "AuthorizedKeysFile $T/ssh/authorized_keys" "StrictModes no" \
                "PasswordAuthentication no" "KbdInteractiveAuthentication no" "UsePAM no" \
                "PermitRootLogin prohibit-password" \
                "SetEnv VSD_SOCKET=$(host_socket "$1") PATH=${first:+$first:}$B:/usr/sbin:/usr/bin:/sbin:/bin"
}

# hosts_up N
hosts_up() {
        local n=$1 k ns lan
        command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || fail "sshd is not installed (make deps: openssh-server)"
        _host_lan_names
        lan=$(host_lan_ns)
        echo "$n" >"$T/hosts.list"
        _host_ssh_setup "$n"
        ip netns add "$lan" || fail "cannot make network namespace $lan"
        ip -n "$lan" link add br0 type bridge && ip -n "$lan" link set br0 up || fail "cannot make the LAN bridge"
        for k in $(seq "$n"); do
                ns=$(host_ns "$k")
                ip netns add "$ns" || fail "cannot make network namespace $ns"
                ip -n "$ns" link set lo up
                ip link add "vh$k" netns "$lan" type veth peer name lan0 netns "$ns" || fail "cannot link host $k to the LAN"
                ip -n "$lan" link set "vh$k" master br0 up
                ip -n "$ns" addr add "$(host_addr "$k")/24" dev lan0
                ip -n "$ns" link set lan0 up
                if [ "${HOSTS_SHARED_LAN:-}" = 1 ]; then
                        ip -n "$ns" link add "$VSD_BRIDGE" address "02:5e:00:00:0$k:01" type bridge &&
                                ip link add "vb$k" netns "$lan" type veth peer name uplink0 netns "$ns" &&
                                ip -n "$lan" link set "vb$k" master br0 up &&
                                ip -n "$ns" link set uplink0 master "$VSD_BRIDGE" up ||
                                fail "cannot join host $k's instance bridge to the LAN"
                fi
                _host_daemon_up "$k"
                _host_sshd_conf "$k" >"$T/run-h$k/sshd_config"
                setsid nsenter --net="/run/netns/$ns" /usr/sbin/sshd -D -e -f "$T/run-h$k/sshd_config" \
                        </dev/null >>"$T/run-h$k/sshd.log" 2>&1 &
                echo $! >"$T/run-h$k/sshd.spid"
        done
        # each answers over its sshd (from its own namespace: the LAN is
        # reached from the hosts only)
        for k in $(seq "$n"); do
                wait_for -t 15 host_ssh "$k" vsctl version
        done
}

_host_daemon_up() { # K
        # (two locals: the words of one are expanded before any is set)
        local k=$1
        local root=$T/root-h$k run=$T/run-h$k pid
        mkdir -p "$root/templates" "$run"
        # HOST_TEMPLATES_TMPFS_k=SIZE: host k's template store on a tmpfs of
        # that size (a host short of space; unmounted by hosts_down)
        local small="HOST_TEMPLATES_TMPFS_$k"
        if [ -n "${!small:-}" ] && ! mountpoint -q "$root/templates"; then
                mount -t tmpfs -o "size=${!small}" "vsd-test-templates" "$root/templates" ||
                        fail "cannot mount a tmpfs on host $k's template store"
        fi
        EXTRA_FILES="$B/tests/probe:probe" "$VSD_SRC/templates/busybox/build.sh" "$root/templates/busybox" >/dev/null ||
                fail "cannot build the busybox template for host $k"
        printf '%s\n' "[network]" "default_mode = bridge" "bridge = $VSD_BRIDGE" "bridge_ipv4 = $VSD_NET4.1/24" \
                "link_prefix = $VSD_LINK_PREFIX" "nft_table = $VSD_NFT_TABLE" \
                "[templates]" "builders = $VSD_SRC/templates" "cache = $VSD_TEMPLATE_CACHE" \
                "[migrate]" "ssh = ssh -F $T/ssh_config" >"$root/vsd.conf"
        local extra="HOST_CONF_$k"
        [ -z "${!extra:-}" ] || printf '%s\n' "${!extra}" >>"$root/vsd.conf"
        setsid nsenter --net="/run/netns/$(host_ns "$k")" "$B/vsd" --root "$root" --run-dir "$run" \
                --socket "$(host_socket "$k")" --cgroup-parent "$(host_cg "$k")" --foreground -c "$root/vsd.conf" \
                </dev/null >>"$run/vsd.log" 2>&1 &
        pid=$!
        echo "$pid" >"$run/vsd.pid"
        local deadline=$((SECONDS + $(scaled 15)))
        until timeout "$(scaled 2)" "$B/vsctl" --socket "$(host_socket "$k")" version >/dev/null 2>&1; do
                kill -0 "$pid" 2>/dev/null || fail "host $k's vsd exited before answering (see $run/vsd.log)"
                [ "$SECONDS" -lt "$deadline" ] || fail "host $k's vsd does not answer"
                sleep 0.05
        done
}

# host_client_up: a namespace of its own (host_client_ns) on the LAN with
# HOST_CLIENT_IP, an address of the instances' network (HOSTS_SHARED_LAN).
HOST_CLIENT_SUFFIX=250
host_client_ns() { echo "vsdh$VSD_NET_ID-cl"; }
host_client_up() {
        local ns lan
        ns=$(host_client_ns)
        lan=$(host_lan_ns)
        HOST_CLIENT_IP=$VSD_NET4.$HOST_CLIENT_SUFFIX
        ip netns add "$ns" || fail "cannot make network namespace $ns"
        ip -n "$ns" link set lo up
        ip link add vcl netns "$lan" type veth peer name eth0 netns "$ns" || fail "cannot link the client to the LAN"
        ip -n "$lan" link set vcl master br0 up
        ip -n "$ns" addr add "$HOST_CLIENT_IP/24" dev eth0
        ip -n "$ns" link set eth0 up
}

# host_lan_port MAC: the LAN bridge's port the MAC is learnt behind ("vb1":
# host 1's instance bridge), empty when none.
host_lan_port() {
        bridge -n "$(host_lan_ns)" -j fdb show br br0 2>/dev/null |
                jq -r --arg m "${1,,}" '[.[] | select(.mac == $m and .master == "br0") | .ifname][0] // empty'
}

# host_daemon_kill9 K / host_daemon_up K: host K's daemon killed and started
# again (its instances run on, as on any host).
host_daemon_kill9() {
        local pid
        pid=$(cat "$T/run-h$1/vsd.pid")
        kill -KILL "$pid"
        wait_gone "$pid"
}
host_daemon_up() {
        _host_lan_names
        _host_daemon_up "$1"
}

# fs.pipe-max-size set to N for the test (CRIU's post-copy wants 4 MiB pipes,
# and these daemons lack CAP_SYS_RESOURCE); the value before the first call
# is put back by hosts_down, whatever became of the test.  Host-wide: a test
# using it is serial.
host_pipe_max_set() { # N
        [ -f "$T/pipe-max-size.saved" ] || cat /proc/sys/fs/pipe-max-size >"$T/pipe-max-size.saved"
        echo "$1" >/proc/sys/fs/pipe-max-size
}

_host_pipe_max_restore() {
        [ -f "$T/pipe-max-size.saved" ] || return 0
        cat "$T/pipe-max-size.saved" >/proc/sys/fs/pipe-max-size && rm -f "$T/pipe-max-size.saved"
}

# hosts_down: every host's instances stopped, its daemon and sshd ended,
# nothing of them left (processes, cgroups, mounts, loop devices), the
# namespaces removed.  Returns 1, with a LEAK line each, on a leak.
hosts_down() {
        _host_pipe_max_restore
        [ -f "$T/hosts.list" ] || return 0
        local n k rc=0 pid names name d p
        n=$(cat "$T/hosts.list")
        _host_lan_names
        for k in $(seq "$n"); do
                if [ -S "$(host_socket "$k")" ] && timeout 5 "$B/vsctl" --socket "$(host_socket "$k")" version >/dev/null 2>&1; then
                        names=$(timeout 10 "$B/vsctl" --socket "$(host_socket "$k")" --json list 2>/dev/null |
                                jq -r '.[] | select(.state == "running" or .state == "paused" or .state == "stopping") | .name')
                        for name in $names; do
                                timeout 20 "$B/vsctl" --socket "$(host_socket "$k")" stop "$name" --kill >/dev/null 2>&1 ||
                                        { echo "LEAK: host $k's instance $name could not be stopped"; rc=1; }
                        done
                fi
                for p in vsd.pid sshd.spid; do
                        pid=$(cat "$T/run-h$k/$p" 2>/dev/null)
                        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait_gone "$pid" 2>/dev/null
                done
                # what is left in the host's cgroups is a leak (an instance
                # whose daemon died with it is the test's to have stopped)
                for d in $(_cg_dirs "$(host_cg "$k")"); do
                        for p in $(cat "$d/cgroup.procs" 2>/dev/null); do
                                echo "LEAK: host $k process $p ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-60))"
                                kill -KILL "$p" 2>/dev/null
                                rc=1
                        done
                done
                # (a killed process leaves its cgroup once it is reaped)
                for d in $(_cg_dirs "$(host_cg "$k")"); do
                        for p in $(cat "$d/cgroup.procs" 2>/dev/null); do
                                (wait_gone "$p") >/dev/null 2>&1 || true
                        done
                done
                for d in $(_cg_dirs "$(host_cg "$k")"); do
                        if [ "$(basename "$d")" != "$(host_cg "$k")" ]; then
                                echo "LEAK: host $k cgroup $d"
                                rc=1
                        fi
                        rmdir "$d" 2>/dev/null
                done
                for p in $(_test_lxcfs_pids "$T/run-h$k"); do
                        kill -KILL "$p" 2>/dev/null
                done
                ! mountpoint -q "$T/root-h$k/templates" || umount "$T/root-h$k/templates" ||
                        { echo "LEAK: host $k's template store stays mounted"; rc=1; }
                ip netns del "$(host_ns "$k")" 2>/dev/null
                # under `make check-san`, as the runner's own daemon
                if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/run-h$k/vsd.log" 2>/dev/null; then
                        echo "SANITIZER: host $k: $(grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/run-h$k/vsd.log")"
                        rc=1
                fi
        done
        ip netns del "$(host_client_ns)" 2>/dev/null
        ip netns del "$(host_lan_ns)" 2>/dev/null
        rm -f "$T/hosts.list"
        return $rc
}

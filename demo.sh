#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# demo.sh — what `make demo` runs after `make install`: start the installed
# vsd (the systemd service where systemd runs, else a daemon in the
# background), build the busybox template through it with the installed
# builder, and make two busybox instances, demo1 and demo2.  Safe to run
# again.  Everything it uses is what an installed host has, so every command
# of the README works afterwards.
#
# Environment (the defaults are make install's; tests/integration/t_install.sh
# points them at its own staging tree and private daemon):
#   SBINDIR, BINDIR   where vsd and vsctl are (PREFIX/sbin, PREFIX/bin)
#   VSD_CONF          the daemon's configuration (SYSCONFDIR/vsd/vsd.conf)
#   VSD_SOCKET        its socket (/run/vsd/vsd.sock; must match VSD_CONF)
#   VSD_LOG           its log when it is not the service (/var/log/vsd.log)
#   VSD_PIDFILE       where to write its pid when it is not the service
#   DEMO_SERVICE      auto (default): systemctl where systemd runs; no: never

set -euo pipefail

PREFIX=${PREFIX:-/usr/local}
SBINDIR=${SBINDIR:-$PREFIX/sbin}
BINDIR=${BINDIR:-$PREFIX/bin}
SYSCONFDIR=${SYSCONFDIR:-/etc}
VSD_CONF=${VSD_CONF:-$SYSCONFDIR/vsd/vsd.conf}
VSD_SOCKET=${VSD_SOCKET:-/run/vsd/vsd.sock}
VSD_LOG=${VSD_LOG:-/var/log/vsd.log}
DEMO_SERVICE=${DEMO_SERVICE:-auto}

say() { printf '==> %s\n' "$*"; }
die() { printf 'demo.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (vsd creates namespaces, cgroups and mounts)"
[ -x "$SBINDIR/vsd" ] && [ -x "$BINDIR/vsctl" ] || die "$SBINDIR/vsd and $BINDIR/vsctl are not installed: run make install first"
VSCTL=("$BINDIR/vsctl" --socket "$VSD_SOCKET")

answers() { "${VSCTL[@]}" --timeout 2 version >/dev/null 2>&1; }

if answers; then
        say "a vsd already answers on $VSD_SOCKET: using it"
elif [ "$DEMO_SERVICE" = auto ] && [ -d /run/systemd/system ] && systemctl cat vsd.service >/dev/null 2>&1; then
        say "starting vsd.service (journalctl -u vsd shows its log)"
        systemctl enable --now vsd.service
else
        say "starting vsd (log: $VSD_LOG)"
        setsid "$SBINDIR/vsd" -c "$VSD_CONF" </dev/null >>"$VSD_LOG" 2>&1 &
        pid=$!
        [ -z "${VSD_PIDFILE:-}" ] || echo "$pid" >"$VSD_PIDFILE"
        for _ in $(seq 200); do
                answers && break
                kill -0 "$pid" 2>/dev/null || { tail -n 5 "$VSD_LOG" >&2; die "vsd exited, see $VSD_LOG"; }
                sleep 0.05
        done
fi
for _ in $(seq 200); do
        answers && break
        sleep 0.05
done
answers || die "vsd does not answer on $VSD_SOCKET after 10s"

if ! "${VSCTL[@]}" template list | awk '{ print $1 }' | grep -qx busybox; then
        say "building the busybox template"
        "${VSCTL[@]}" template build busybox
fi

for name in demo1 demo2; do
        if ! "${VSCTL[@]}" info "$name" >/dev/null 2>&1; then
                say "creating $name"
                "${VSCTL[@]}" create "$name" --memory 256M
        fi
        state=$("${VSCTL[@]}" --json info "$name" | sed -n 's/.*"state": *"\([a-z]*\)".*/\1/p')
        case $state in
        running) ;;
        paused) "${VSCTL[@]}" resume "$name" ;;
        *) say "starting $name"; "${VSCTL[@]}" start "$name" ;;
        esac
done

echo
"${VSCTL[@]}" list
cat <<'EOF'

Next (README.md walks through more):
  vsctl exec demo1 -- ps          # a command inside demo1
  vsctl console demo1             # its console shell (Ctrl-] detaches)
  vsctl stats                     # memory, CPU, pids and network per instance
  vsctl info demo2                # its address (ip), MAC and host-side link
  vsctl exec demo1 -- ping -c 1 DEMO2_IP   # demo1 reaches demo2 over the bridge
  vsctl template build debian-12  # a Debian 12 template with systemd
  vsctl stop demo2 && vsctl destroy demo2
  vsctl help
EOF

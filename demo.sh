#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# demo.sh BUILD_DIR — what `make demo` runs: install vsd and vsctl, start a
# daemon on the default paths (unless one already answers there) and two
# busybox instances, demo1 and demo2.  Safe to run again.

set -euo pipefail
cd "$(dirname "$0")"

B=${1:-build}
ROOT=/var/lib/vsd
RUN_DIR=/run/vsd
SOCKET=$RUN_DIR/vsd.sock
LOG=/var/log/vsd.log

say() { printf '==> %s\n' "$*"; }
die() { printf 'demo.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (vsd creates namespaces, cgroups and mounts)"
[ -x "$B/vsd" ] && [ -x "$B/vsctl" ] || die "$B/vsd and $B/vsctl are not built: run make first"

# The API socket admits root and the members of this group.
if ! getent group vsd >/dev/null; then
        say "creating the system group vsd"
        groupadd --system vsd
fi

# Installed copies, so that `vsctl ...` works from any shell afterwards.
# install(1) replaces the file instead of writing into it, so a running vsd
# keeps its old binary until it is restarted.
say "installing /usr/local/sbin/vsd and /usr/local/bin/vsctl"
install -D -m 0755 "$B/vsd" /usr/local/sbin/vsd
install -D -m 0755 "$B/vsctl" /usr/local/bin/vsctl
VSCTL=(/usr/local/bin/vsctl --socket "$SOCKET")

say "busybox template in $ROOT/templates/busybox"
mkdir -p "$ROOT/templates" "$RUN_DIR"
templates/busybox/build.sh "$ROOT/templates/busybox"

if "${VSCTL[@]}" version >/dev/null 2>&1; then
        say "a vsd already answers on $SOCKET: using it"
else
        say "starting vsd (log: $LOG)"
        setsid /usr/local/sbin/vsd --root "$ROOT" --run-dir "$RUN_DIR" --socket "$SOCKET" --foreground \
                </dev/null >>"$LOG" 2>&1 &
        pid=$!
        for _ in $(seq 200); do
                "${VSCTL[@]}" version >/dev/null 2>&1 && break
                kill -0 "$pid" 2>/dev/null || { tail -n 5 "$LOG" >&2; die "vsd exited, see $LOG"; }
                sleep 0.05
        done
        "${VSCTL[@]}" version >/dev/null 2>&1 || die "vsd does not answer on $SOCKET after 10s, see $LOG"
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

Next:
  vsctl exec demo1 -- ps          # a command inside demo1
  vsctl console demo1             # its console shell (Ctrl-] detaches)
  vsctl stats                     # memory, CPU, pids and network per instance
  vsctl info demo2                # its address (ip), MAC and host-side link
  vsctl exec demo1 -- ping -c 1 DEMO2_IP   # demo1 reaches demo2 over the bridge
  vsctl stop demo2 && vsctl destroy demo2
  vsctl help
EOF

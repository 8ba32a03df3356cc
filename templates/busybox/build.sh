#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# build.sh DEST — build the busybox template into DEST, offline, from Debian's
# busybox-static (/bin/busybox):
#
#   DEST/rootfs/       the shared, read-only lower layer of every instance
#   DEST/template.ini  what vsd needs to know to boot it
#
# Idempotent: an existing DEST with the same busybox is left alone.  Atomic:
# the tree is built in DEST.tmp.$$ and renamed into place, so a daemon never
# sees half a template.  Fast (tens of milliseconds): the test suite builds it
# once per private state root.
#
# The calling convention of every builder (see templates/debian/build.sh):
# one argument DEST, progress lines on stdout, the reason of a failure as the
# last line; vsd runs it with VSD_TEMPLATE_NAME and VSD_TEMPLATE_CACHE set
# (this one needs no cache).
#
# Environment: BUSYBOX (default /bin/busybox) — the static binary to use.
#              EXTRA_FILES — "src:dst ..." copied into the rootfs (the tests
#              put their probe at /probe this way).

set -euo pipefail

die() { echo "build.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || { echo "usage: $0 DEST" >&2; exit 2; }
dest=${1%/}
[ -n "$dest" ] || die "empty destination"

busybox=${BUSYBOX:-/bin/busybox}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

[ -x "$busybox" ] || die "$busybox not found: install busybox-static (apt-get install busybox-static)"
# A dynamically linked busybox would need the host's libc inside every
# instance; only the static build can be the whole userland.
if ldd "$busybox" >/dev/null 2>&1; then
        die "$busybox is dynamically linked: install busybox-static"
fi

banner=$("$busybox" 2>&1 || true)
version=$(sed -n '1s/^BusyBox v\([^ ]*\).*/\1/p' <<<"$banner")
[ -n "$version" ] || die "$busybox does not run as busybox: install busybox-static"

# Idempotence: the same busybox, the same recipe (this script, the inittab)
# and the same extra files give the same tree, so there is nothing to do.
extra_src=()
for pair in ${EXTRA_FILES:-}; do
        extra_src+=("${pair%%:*}")
        [ -f "${pair%%:*}" ] || die "extra file ${pair%%:*} not found"
done
stamp="$version $(stat -c '%s %Y' "$busybox") ${EXTRA_FILES:-} $(cat "${BASH_SOURCE[0]}" "$here/inittab" "${extra_src[@]}" 2>/dev/null | cksum)"
if [ -f "$dest/template.ini" ] && [ -f "$dest/.stamp" ] && [ "$(cat "$dest/.stamp")" = "$stamp" ]; then
        exit 0
fi

echo "Building the BusyBox $version template"
tmp=$dest.tmp.$$
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
rm -rf "$tmp"
mkdir -p "$tmp/rootfs"
r=$tmp/rootfs

umask 022
mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,etc/rc.d,root,proc,sys,dev,run,var/log,home,mnt}
mkdir -m 1777 "$r/tmp"
chmod 0700 "$r/root"
cp "$busybox" "$r/bin/busybox"
chmod 0755 "$r/bin/busybox"

# One relative symlink per applet, made by a single process: forking ln 270
# times would cost more than the rest of the build.  Relative, so that the
# links resolve the same on the host (inspection) and inside the instance.
"$busybox" --list-full | perl -e '
        my $root = shift;
        while (my $p = <STDIN>) {
                chomp $p;
                next if $p eq "" or $p eq "bin/busybox" or $p !~ m{/};
                my $depth = ($p =~ tr{/}{}) ;
                my $target = ("../" x $depth) . "bin/busybox";
                symlink($target, "$root/$p") or die "symlink $p: $!\n";
        }' "$r"

cp "$here/inittab" "$r/etc/inittab" 2>/dev/null || cat >"$r/etc/inittab" <<'EOF'
::sysinit:/etc/init.d/rcS
console::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/etc/init.d/rcK
::shutdown:/bin/sync
::restart:/sbin/init
EOF

cat >"$r/etc/init.d/rcS" <<'EOF'
#!/bin/sh
# Start the instance's services: every executable /etc/rc.d/S??* in order.
for s in /etc/rc.d/S??*; do
        [ -x "$s" ] && "$s" start
done
exit 0
EOF
cat >"$r/etc/init.d/rcK" <<'EOF'
#!/bin/sh
# Stop the instance's services: every executable /etc/rc.d/K??* in order.
for s in /etc/rc.d/K??*; do
        [ -x "$s" ] && "$s" stop
done
exit 0
EOF
chmod 0755 "$r/etc/init.d/rcS" "$r/etc/init.d/rcK"

cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$r/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
tty:x:5:
nogroup:x:65534:
EOF
printf 'root:*:0:0:99999:7:::\n' >"$r/etc/shadow"
chmod 0640 "$r/etc/shadow"
# vsd sets the hostname (the instance name) before init; this is only what
# tools read from the file.
echo localhost >"$r/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost\n' >"$r/etc/hosts"
: >"$r/etc/resolv.conf"
cat >"$r/etc/profile" <<'EOF'
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=${HOME:-/root}
export PS1='\u@\h:\w\$ '
EOF
echo '/bin/sh' >"$r/etc/shells"

for pair in ${EXTRA_FILES:-}; do
        dst=${pair#*:}
        mkdir -p "$r/$(dirname "$dst")"
        cp "${pair%%:*}" "$r/$dst"
done

# Busybox 1.35 init treats SIGPWR like SIGUSR1 (halt): it runs the
# ::shutdown: actions, sends SIGTERM then SIGKILL to every process and
# exits — verified in a pid namespace.  SIGPWR is also what a full init
# (systemd, sysvinit) understands, so every template can use the same signal.
cat >"$tmp/template.ini" <<EOF
[template]
description = BusyBox $version (Debian busybox-static)
os = busybox
init = /sbin/init
halt_signal = SIGPWR
EOF

chown -R 0:0 "$tmp" 2>/dev/null || true
printf '%s\n' "$stamp" >"$tmp/.stamp"

# Swap in the new tree.  rename() cannot replace a non-empty directory, so an
# old template is moved aside first.  It is deleted only if no instance has it
# as its overlay's lower layer (in any mount namespace): changing the lower
# layer under a mounted overlay is undefined.
if [ -e "$dest" ]; then
        old=$dest.old.$(date +%s).$$
        mv -T "$dest" "$old"
        mv -T "$tmp" "$dest"
        if grep -qsF "$dest/rootfs" /proc/[0-9]*/mountinfo; then
                echo "build.sh: the previous template is in use by running instances; kept as $old" >&2
        else
                rm -rf "$old"
        fi
else
        mkdir -p "$(dirname "$dest")"
        mv -T "$tmp" "$dest"
fi
trap - EXIT
echo "Done"

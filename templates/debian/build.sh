#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# build.sh DEST — build a minimal Debian template (systemd as init) into DEST:
#
#   DEST/rootfs/       the shared, read-only lower layer of every instance
#   DEST/template.ini  what vsd needs to know to boot it
#
# One progress line per step on stdout; the last line on failure says why.
# vsd runs this into a hidden directory and renames it into place only on
# success; run by hand, a failure removes what it made of DEST.
#
# Cached: the finished template is kept as a tarball in the cache directory,
# keyed by a hash of this script, the suite, the architecture, the package
# list and the mirror.  A second build with the same key unpacks it (seconds)
# instead of running debootstrap (minutes).  debootstrap's .deb downloads are
# kept there too (--cache-dir), so a changed script rebuilds without
# downloading again.  One tarball per suite and architecture is kept.
#
# Environment (all optional):
#   VSD_TEMPLATE_NAME   the template's name, e.g. debian-12 (sets SUITE)
#   VSD_TEMPLATE_CACHE  the cache directory (default /var/cache/vsd)
#   SUITE               bookworm (default; from debian-11/12/13 by the name)
#   ARCH                default: the host's (dpkg --print-architecture)
#   MIRROR              default: the host's Debian mirror from its apt sources
#   EXTRA_PACKAGES      more packages to include, separated by spaces or commas

set -euo pipefail

die() { echo "build.sh: $*" >&2; exit 1; }
step() { echo "$*"; }

[ $# -eq 1 ] || { echo "usage: $0 DEST" >&2; exit 2; }
dest=${1%/}
[ -n "$dest" ] || die "empty destination"
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap)"

# The release from the template's name, unless SUITE says it.
declare -A suites=([debian-11]=bullseye [debian-12]=bookworm [debian-13]=trixie)
declare -A versions=([bullseye]=11 [bookworm]=12 [trixie]=13)
name=${VSD_TEMPLATE_NAME:-}
suite=${SUITE:-${suites[$name]:-bookworm}}
version=${versions[$suite]:-$suite}
arch=${ARCH:-$(dpkg --print-architecture)}
cache=${VSD_TEMPLATE_CACHE:-/var/cache/vsd}
[[ $cache == /* ]] || die "the cache directory must be an absolute path, got '$cache'"

# The host's Debian mirror: the first non-security URI of its apt sources
# (deb822 .sources or one-line .list), else deb.debian.org.
host_mirror() {
        {
                awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' /etc/apt/sources.list.d/*.sources 2>/dev/null
                sed -n -E 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]].*/\2/p' \
                        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
        } | grep -E '^https?://' | grep -v -e security -e '/debian-ports' | grep '/debian/\?$' | head -n1
}
mirror=${MIRROR:-$(host_mirror || true)}
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}

# apt's proxy, if the host has one, for debootstrap's downloads too.
if [ -z "${http_proxy:-}" ] && command -v apt-config >/dev/null; then
        eval "$(apt-config shell http_proxy Acquire::http::Proxy)"
        [ -z "${http_proxy:-}" ] || export http_proxy
fi

# What a small hosting server needs: systemd as init with logind (through
# libpam-systemd) and D-Bus, ssh, ifupdown and iproute2, ps/top, CA
# certificates and ping.  No kernel, no bootloader, no firmware, no
# recommends (minbase).
packages="systemd systemd-sysv dbus libpam-systemd iproute2 openssh-server ifupdown procps
ca-certificates netbase iputils-ping less"
packages=$(echo "$packages ${EXTRA_PACKAGES:-}" | tr ', ' '\n\n' | sed '/^$/d' | LC_ALL=C sort -u | paste -sd, -)

for tool in debootstrap tar zstd unshare; do
        command -v "$tool" >/dev/null || die "$tool not found: apt-get install debootstrap tar zstd util-linux"
done

key=$( { cat "${BASH_SOURCE[0]}"; echo "$suite $arch $packages $mirror"; } | sha256sum | cut -c1-16)
tarball=$cache/templates/debian-$suite-$arch-$key.tar.zst
mkdir -p "$cache/templates" "$cache/debs" || die "cannot create the cache directory $cache"

# Only ever an empty or absent DEST: never a half-overwritten template.
if [ -e "$dest" ] && [ -n "$(ls -A "$dest" 2>/dev/null)" ]; then
        die "$dest exists and is not empty"
fi
mkdir -p "$dest"
cleanup() { rm -rf "$dest"; }
trap cleanup EXIT

# One build at a time per cache: a second one waits, then finds the tarball.
exec 9>"$cache/.lock"
if ! flock -n 9; then
        step "Waiting for another build using $cache"
        flock 9
fi

unpack() {
        step "Unpacking the cached build $(basename "$tarball")"
        tar -C "$dest" --zstd --numeric-owner --xattrs --xattrs-include='*' --acls -xpf "$tarball"
        [ -f "$dest/template.ini" ] && [ -x "$dest/rootfs/sbin/init" ] || die "cached build $tarball is incomplete; remove it"
        trap - EXIT
        step "Done (from the cache)"
        exit 0
}
[ -f "$tarball" ] && unpack

r=$dest/rootfs
mkdir -p "$r"
step "Running debootstrap $suite ($arch) from $mirror"
# In a mount namespace of its own: debootstrap mounts /proc and /sys in the
# target, and whatever it leaves mounted (killed half-way) dies with the
# namespace instead of staying on the host.  Its output is progress.
log=$dest/.debootstrap.log
if ! unshare --mount --propagation private \
        debootstrap --variant=minbase --arch="$arch" --include="$packages" --cache-dir="$cache/debs" \
        "$suite" "$r" "$mirror" 2>&1 | tee "$log" | sed -u -n -e '/^I: Validating/d' -e 's/^I: //p' -e '/^[EW]: /p'; then
        why=$(grep -E '^E: ' "$log" | tail -n1 | cut -c4-)
        die "debootstrap failed: ${why:-$(tail -n1 "$log")}"
fi
rm -f "$log"
[ -x "$r/sbin/init" ] || die "debootstrap left no /sbin/init"

step "Making it a template"
# Every instance's identity is made at its own first boot, never shared:
# systemd writes /etc/machine-id when it finds it empty; ssh host keys are
# generated by ssh.service before sshd starts (drop-in below).
: >"$r/etc/machine-id"
rm -f "$r/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$r/var/lib/dbus/machine-id"
rm -f "$r"/etc/ssh/ssh_host_*
mkdir -p "$r/etc/systemd/system/ssh.service.d"
cat >"$r/etc/systemd/system/ssh.service.d/vsd-host-keys.conf" <<'UNIT'
# vsd template: the host keys are made at the first boot of each instance.
# The list is reset so that the keys exist before sshd -t checks the config.
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
# vsd sets the hostname (the instance name) before init; an empty file makes
# systemd keep it.
: >"$r/etc/hostname"
chmod 0644 "$r/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n' >"$r/etc/hosts"
# vsd writes resolv.conf when nameservers are configured; never the build host's.
rm -f "$r/etc/resolv.conf"
: >"$r/etc/resolv.conf"
echo '# vsd instance: the root filesystem is mounted by vsd, nothing else' >"$r/etc/fstab"
# eth0 is configured by vsd before init starts (addresses, routes): it is
# left out here so that ifupdown never touches it.
cat >"$r/etc/network/interfaces" <<'IFACES'
# vsd instance: eth0 is configured by vsd before init starts; do not add it
# here.  Only the loopback is ifupdown's.
auto lo
iface lo inet loopback

source /etc/network/interfaces.d/*
IFACES
cat >"$r/etc/apt/sources.list" <<APT
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
APT
# No password login for root: customers put their keys in /root/.ssh.
sed -i -E 's/^root:[^:]*:/root:*:/' "$r/etc/shadow"
# Nothing of the build machine or the build itself.
rm -rf "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/archives/partial/* \
        "$r"/var/lib/apt/lists/* "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old \
        "$r"/var/log/bootstrap.log "$r"/var/log/*.log "$r"/var/log/apt/* "$r"/tmp/* "$r"/var/tmp/* "$r"/root/.bash_history
mkdir -p "$r/var/lib/apt/lists/partial"

cat >"$dest/template.ini" <<INI
[template]
description = Debian $version ($suite) minimal, systemd
os = debian-$version
init = /sbin/init
# systemd's request to halt
halt_signal = SIGRTMIN+3
INI

step "Saving the build to the cache"
tar -C "$dest" --zstd --numeric-owner --xattrs --xattrs-include='*' --acls -cpf "$tarball.tmp.$$" rootfs template.ini ||
        { rm -f "$tarball.tmp.$$"; die "cannot write $tarball"; }
mv -f "$tarball.tmp.$$" "$tarball"
# One build per suite and architecture is kept: older keys (a changed script
# or package list) would only fill the disk.
for stale in "$cache/templates/debian-$suite-$arch-"*.tar.zst; do
        [ "$stale" = "$tarball" ] || rm -f "$stale"
done
trap - EXIT
step "Done: $(du -sh "$r" | cut -f1) in $dest"

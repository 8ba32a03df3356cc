#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Provide CRIU 4.2 for vsd's checkpoints in a private prefix (PREFIX,
# default /usr/local/lib/vsd/criu: vsd.conf's [checkpoint] criu default),
# built from Debian's own source package of the newer suite on this Debian.
# Debian 12's criu (3.17) fails on kernels from 6.13 (vDSO layout) and
# 4.1 cannot dump TCP sockets on 6.16 and later.  Host packages are never
# upgraded and no apt source is left behind: the newer suite's source index
# is fetched into a temporary directory through apt's own options.
# Idempotent: a PREFIX/criu that says 4.2 or later is kept.
set -eu

PREFIX=${PREFIX:-/usr/local/lib/vsd/criu}
VERSION=${CRIU_VERSION:-4.2.1}
SUITES=${CRIU_SUITES:-"sid forky"}
MIRROR=${MIRROR:-$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p;s/^deb \(http[^ ]*debian\) .*/\1/p' \
        /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | grep -v security | head -n1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
BUILD_DEPS="libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev libnl-3-dev libnet1-dev
        libbsd-dev libcap-dev libnftables-dev uuid-dev pkg-config dpkg-dev"
RUN_DEPS="libprotobuf-c1 libnet1 iproute2"

have() {
        [ -x "$PREFIX/criu" ] || return 1
        v=$("$PREFIX/criu" --version 2>/dev/null | sed -n 's/^Version: *//p')
        case $v in 4.[2-9]* | 4.[1-9][0-9]* | [5-9].*) return 0 ;; esac
        return 1
}

missing() {
        for p in "$@"; do
                dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"
        done
}

install_pkgs() {
        m=$(missing "$@")
        [ -z "$m" ] && return 0
        echo "Installing:" $m
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $m
}

if have; then
        install_pkgs $RUN_DEPS
        exit 0
fi

install_pkgs $BUILD_DEPS $RUN_DEPS
tmp=$(mktemp -d /tmp/vsd-criu.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lists/partial" "$tmp/parts" "$tmp/cache/archives/partial" "$tmp/src"
for s in $SUITES; do
        echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $s main"
done >"$tmp/sources.list"
set -- -o Dir::Etc::SourceList="$tmp/sources.list" -o Dir::Etc::SourceParts="$tmp/parts" \
        -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache" -o APT::Sandbox::User=root
echo "Fetching Debian's source of criu $VERSION"
apt-get "$@" update -qq
# The upstream tarball is what is built (Debian's packaging adds nothing
# the binary needs); apt checks it against the suite's signed index.
full=$(apt-cache "$@" showsrc criu 2>/dev/null | sed -n "s/^Version: \($VERSION-.*\)/\1/p" | head -n1)
[ -n "$full" ] || { echo "criu $VERSION: not in $SUITES" >&2; exit 1; }
(cd "$tmp/src" && apt-get "$@" source --download-only "criu=$full" >/dev/null 2>&1) || true
orig=$(ls "$tmp/src"/criu_"$VERSION".orig.tar.* 2>/dev/null | head -n1)
[ -n "$orig" ] || { echo "criu $VERSION: no source found in $SUITES" >&2; exit 1; }
tar -xf "$orig" -C "$tmp/src"
echo "Building criu $VERSION (about a minute)"
make -C "$tmp/src/criu-$VERSION" -j"$(nproc)" criu NO_GNUTLS=1 >"$tmp/build.log" 2>&1 ||
        { tail -n 20 "$tmp/build.log" >&2; exit 1; }
install -d -m 0755 "$PREFIX"
install -m 0755 "$tmp/src/criu-$VERSION/criu/criu" "$PREFIX/criu.new"
mv -f "$PREFIX/criu.new" "$PREFIX/criu"
"$PREFIX/criu" --version

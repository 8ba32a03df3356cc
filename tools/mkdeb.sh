#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tools/mkdeb.sh BUILD_DIR VERSION: BUILD_DIR/vsd_VERSION_amd64.deb from the
# tree `make install DESTDIR=BUILD_DIR/deb/root` staged (what `make deb`
# runs), with dpkg-deb: the control file from dist/deb/control.in with the
# shared libraries' packages found by dpkg-shlibdeps, the conffiles, the
# maintainer scripts, md5sums, the copyright and a changelog.
set -euo pipefail

B=$1
VERSION=$2
# who answers for the package: DEB_MAINTAINER="Name <address>" for a real one
MAINTAINER=${DEB_MAINTAINER:-vsd maintainers <vsd@example.org>}
SRC=$(cd "$(dirname "$0")/.." && pwd)
ROOT=$B/deb/root
DEB=$B/vsd_${VERSION}_amd64.deb

[ -x "$ROOT/usr/sbin/vsd" ] || { echo "mkdeb: $ROOT/usr/sbin/vsd is not staged" >&2; exit 1; }

# binaries without their debugging sections, as Debian ships them
for f in "$ROOT/usr/sbin/vsd" "$ROOT/usr/bin/vsctl"; do
        strip --remove-section=.comment --remove-section=.note --strip-unneeded "$f"
done
# manual pages compressed, as the policy asks
find "$ROOT/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9nf {} +
install -d "$ROOT/usr/share/doc/vsd"
install -m 0644 "$SRC/dist/deb/copyright" "$ROOT/usr/share/doc/vsd/copyright"
{
        printf 'vsd (%s) unstable; urgency=medium\n\n' "$VERSION"
        printf '  * Built from the vsd source tree (make deb).\n\n'
        printf ' -- %s  %s\n' "$MAINTAINER" "$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git -C "$SRC" log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n >"$ROOT/usr/share/doc/vsd/changelog.gz"
chmod 0644 "$ROOT/usr/share/doc/vsd/changelog.gz"

# Depends of the binaries: dpkg-shlibdeps reads a debian/control, so it
# runs in a scratch directory that has one
scratch=$B/deb/shlibs
rm -rf "$scratch"
mkdir -p "$scratch/debian"
printf 'Source: vsd\n\nPackage: vsd\nArchitecture: amd64\n' >"$scratch/debian/control"
root_abs=$(cd "$ROOT" && pwd)
shlibs=$(cd "$scratch" && dpkg-shlibdeps -O "$root_abs/usr/sbin/vsd" "$root_abs/usr/bin/vsctl" 2>/dev/null |
        sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "mkdeb: dpkg-shlibdeps found no libraries" >&2; exit 1; }

install -d -m 0755 "$ROOT/DEBIAN"
size=$(du -k -s --exclude=DEBIAN "$ROOT" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@SIZE@/$size/" -e "s/@SHLIBS@/$shlibs/" -e "s|@MAINTAINER@|$MAINTAINER|" \
        "$SRC/dist/deb/control.in" >"$ROOT/DEBIAN/control"
install -m 0644 "$SRC/dist/deb/conffiles" "$ROOT/DEBIAN/conffiles"
for s in postinst prerm postrm; do
        install -m 0755 "$SRC/dist/deb/$s" "$ROOT/DEBIAN/$s"
done
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f ! -path './etc/*' -printf '%P\0' | sort -z |
        xargs -0 md5sum) >"$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/md5sums"

# every file root's, whatever the building user
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
echo "$DEB"

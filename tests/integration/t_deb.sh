# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian package (make deb): its control fields and files, lintian,
# and its maintainer scripts run by a real dpkg in a throwaway Debian root
# (the debian-12 template under an overlay, in a mount namespace of the
# test's own), never on the host: the host's dpkg database and /etc are
# checked unchanged.

# timeout test_deb_builds_and_installs 900
# host-only test_deb_builds_and_installs: make deb compiles its own build (many minutes under emulation), and dpkg in a chroot does not depend on the kernel


test_deb_builds_and_installs() {
        local D=$T/debbuild version deb out host_status host_group
        version=$(sed -n 's/^#define VS_VERSION "\(.*\)"/\1/p' "$VSD_SRC/base/proto.h")
        host_status=$(md5sum </var/lib/dpkg/status)
        host_group=$(md5sum </etc/group)
        ! dpkg-query -W vsd >/dev/null 2>&1 || fail "vsd is installed on the host: this test cannot tell its own install apart"

        # the package, built as `make deb` builds it; the dashboard's
        # bundle is the test build's (no npm run here)
        mkdir -p "$D"
        cp -a "$B/dashboard" "$D/" 2>/dev/null || true
        make -C "$VSD_SRC" DEB_B="$D" deb >"$T/deb.log" 2>&1 || fail "make deb: $(tail -n 5 "$T/deb.log")"
        deb=$D/vsd_${version}_amd64.deb
        [ -s "$deb" ] || fail "no $deb"

        # control fields
        assert_eq "$(dpkg-deb -f "$deb" Package)" vsd "Package"
        assert_eq "$(dpkg-deb -f "$deb" Version)" "$version" "Version"
        assert_eq "$(dpkg-deb -f "$deb" Architecture)" amd64 "Architecture"
        local dep
        out=$(dpkg-deb -f "$deb" Depends)
        note "Depends: $out"
        for dep in libc6 libjansson4 libmicrohttpd12 libnftables1 libseccomp2 libcgroup2 lxcfs busybox-static debootstrap \
                e2fsprogs init-system-helpers; do
                grep -qE "(^|, )$dep( |,|$)" <<<"$out" || fail "Depends lacks $dep: $out"
        done
        assert_match "$(dpkg-deb -f "$deb" Recommends)" "openssh-client" "Recommends"
        assert_match "$(dpkg-deb -f "$deb" Description)" "CRIU" "the description says how to get checkpoints"
        # files, and the one conffile
        out=$(dpkg-deb -c "$deb" | awk '{ print $6 }')
        local f
        for f in ./usr/sbin/vsd ./usr/bin/vsctl ./etc/vsd/vsd.conf ./lib/systemd/system/vsd.service \
                ./usr/lib/sysusers.d/vsd.conf ./usr/lib/tmpfiles.d/vsd.conf ./usr/share/man/man8/vsd.8.gz \
                ./usr/share/man/man8/vsctl.8.gz ./usr/share/man/man5/vsd.conf.5.gz \
                ./usr/share/bash-completion/completions/vsctl ./usr/share/vsd/templates/busybox/build.sh \
                ./usr/share/vsd/templates/debian/build.sh ./usr/share/doc/vsd/copyright; do
                grep -qxF "$f" <<<"$out" || fail "$f is not in the package"
        done
        ! grep -q '^./usr/local' <<<"$out" || fail "files under /usr/local in the package"
        dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$T/conffiles"
        assert_eq "$(cat "$T/conffiles")" /etc/vsd/vsd.conf "conffiles"
        # the packaged (stripped) programs run, here where their libraries
        # are (the throwaway root below has none of the Depends)
        "$D/deb/root/usr/sbin/vsd" --help >/dev/null || fail "the packaged vsd does not run"
        assert_match "$("$D/deb/root/usr/bin/vsctl" --version)" "$version" "the packaged vsctl's version"
        # the daemon finds its builders where the package puts them
        strings "$D/deb/root/usr/sbin/vsd" | grep -q '^/usr/share/vsd' || fail "the packaged vsd does not look in /usr/share/vsd"
        # lintian: no error (warnings are listed in doc/packaging.md)
        if command -v lintian >/dev/null; then
                out=$(lintian "$deb" 2>&1) || true
                note "lintian: $(tr '\n' ';' <<<"$out")"
                ! grep -q '^E:' <<<"$out" || fail "lintian errors: $(grep '^E:' <<<"$out" | tr '\n' ';')"
        fi

        # A Debian root to install it into: the debian-12 template (dpkg,
        # systemd's sysusers and tmpfiles, deb-systemd-helper) under an
        # overlay, in a mount namespace that ends with the script
        vsd_debian_template
        local lower=$T/root/templates/debian-12/rootfs
        [ -x "$lower/usr/bin/dpkg" ] || fail "no dpkg in the debian-12 template"
        mkdir -p "$T/dr/upper" "$T/dr/work" "$T/dr/root"
        cp "$deb" "$T/dr/vsd.deb"
        cat >"$T/dr/run.sh" <<'SH'
set -eu
R=$1
mount -t overlay overlay -o "lowerdir=$2,upperdir=$3,workdir=$4" "$R"
# what maintainer scripts write to and read from; nothing of the host's /dev
mount -t tmpfs -o mode=0755 tmpfs "$R/dev"
mknod -m 0666 "$R/dev/null" c 1 3
mknod -m 0444 "$R/dev/urandom" c 1 9
mount -t tmpfs tmpfs "$R/run"
mount -t tmpfs tmpfs "$R/tmp"
mount -t proc proc "$R/proc"
cp "$5" "$R/tmp/vsd.deb"
step() { echo "== $*"; }
step install
# its Depends are not in this root: dpkg says so and configures anyway
chroot "$R" dpkg -i --force-depends /tmp/vsd.deb 2>&1
chroot "$R" dpkg-query -W -f='status ${Status}\n' vsd
echo "group $(chroot "$R" getent group vsd | cut -d: -f1)"
echo "token $(chroot "$R" stat -c '%a %G' /etc/vsd/dashboard.token)"
echo "token-bytes $(wc -c <"$R/etc/vsd/dashboard.token")"
echo "enabled $(readlink "$R/etc/systemd/system/multi-user.target.wants/vsd.service" || echo none)"
echo "state $(stat -c %a "$R/var/lib/vsd" 2>/dev/null || echo none)"
echo "conf $(test -s "$R/etc/vsd/vsd.conf" && echo yes || echo no)"
# the admin's change to the conffile and the state outlive a remove
echo "# changed by the admin" >>"$R/etc/vsd/vsd.conf"
mkdir -p "$R/var/lib/vsd/instances/web"
step remove
chroot "$R" dpkg -r vsd 2>&1
echo "after-remove-binary $(test -e "$R/usr/sbin/vsd" && echo yes || echo no)"
echo "after-remove-state $(test -d "$R/var/lib/vsd/instances/web" && echo yes || echo no)"
echo "after-remove-conf $(grep -c 'changed by the admin' "$R/etc/vsd/vsd.conf")"
step purge
chroot "$R" dpkg -P vsd 2>&1
echo "after-purge-state $(test -e "$R/var/lib/vsd" && echo yes || echo no)"
echo "after-purge-conf $(test -e "$R/etc/vsd" && echo yes || echo no)"
echo "after-purge-enabled $(test -e "$R/etc/systemd/system/multi-user.target.wants/vsd.service" && echo yes || echo no)"
echo "after-purge-group $(chroot "$R" getent group vsd | cut -d: -f1)"
SH
        [ ! -e "$lower/run/systemd/system" ] || fail "the template root looks booted (/run/systemd/system)"
        unshare --mount --propagation private bash "$T/dr/run.sh" "$T/dr/root" "$lower" "$T/dr/upper" "$T/dr/work" \
                "$T/dr/vsd.deb" >"$T/dr.out" 2>&1 || fail "install in the throwaway root: $(tail -n 5 "$T/dr.out")"
        note "$(grep -v '^ ' "$T/dr.out" | tr '\n' ';')"
        val() { sed -n "s/^$1 //p" "$T/dr.out"; }
        assert_eq "$(val status)" "install ok installed" "dpkg's status after dpkg -i"
        assert_eq "$(val group)" vsd "the vsd group"
        assert_eq "$(val token)" "640 vsd" "the dashboard token's mode and group"
        [ "$(val token-bytes)" -ge 40 ] || fail "the token is $(val token-bytes) bytes"
        assert_eq "$(val enabled)" /lib/systemd/system/vsd.service "vsd.service enabled (multi-user.target.wants)"
        assert_eq "$(val state)" 711 "/var/lib/vsd"
        assert_eq "$(val conf)" yes "/etc/vsd/vsd.conf"
        assert_eq "$(val after-remove-binary)/$(val after-remove-state)/$(val after-remove-conf)" no/yes/1 \
                "after dpkg -r: binary/state/the admin's vsd.conf"
        assert_eq "$(val after-purge-state)/$(val after-purge-conf)/$(val after-purge-enabled)" no/no/no \
                "after dpkg -P: state/conf/enabled"
        assert_eq "$(val after-purge-group)" vsd "the group after a purge (kept)"
        # the host: untouched
        assert_eq "$(md5sum </var/lib/dpkg/status)" "$host_status" "the host's dpkg status"
        assert_eq "$(md5sum </etc/group)" "$host_group" "the host's /etc/group"
        ! dpkg-query -W vsd >/dev/null 2>&1 || fail "vsd got into the host's dpkg database"
        ! findmnt -rn -o TARGET | grep -qF "$T/dr/" || fail "a mount of the throwaway root is left"
}

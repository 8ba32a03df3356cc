#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/vm/run.sh BUILD_DIR [PATTERN...] — the VM lane: tests/run.sh inside a
# QEMU guest that runs one of Debian 12's own kernels with a pure cgroup v2
# layout mounted the way systemd 252 mounts it, whatever this host runs.
#
#   - the kernel: Debian's generic flavour (linux-image-*-amd64; the cloud
#     flavour has no 9p), chosen by VM_KERNEL: 6.1 (default, what
#     linux-image-amd64 points at) or 6.12 (linux-image-6.12-amd64), or an
#     exact package name.  apt-get download into VM_CACHE
#     (/var/cache/vsd-vm), dpkg-deb -x, depmod there: never installed.
#   - the guest: QEMU with TCG (software emulation), VM_SMP (2) vCPUs,
#     VM_MEM (3072) MiB, -nic none.  A busybox initramfs (tests/vm/init)
#     mounts this host's / read-only over 9p with a tmpfs overlay on top and
#     switches root into it; tests/vm/guest.sh (pid 1 there) mounts cgroup2
#     with nsdelegate,memory_recursiveprot, enables every controller at the
#     root, loads modules from the unpacked kernel with the host's kmod,
#     mounts a sparse ext4 disk (VM_DISK, 16G) on /tmp and runs
#     `tests/run.sh BUILD PATTERN...` from a leaf cgroup.
#   - the job and its results go through a second, read-write 9p share (a
#     temporary directory): the runner's lines are printed here as they come,
#     each test id prefixed with "vm-<kernel>:", then one final
#     "N passed, N failed" line.  Exit status 1 if anything failed.
#
# Time limits: VSD_TEST_TIMEOUT_SCALE inside the guest is VM_TIME_SCALE
# (default 4; TCG runs a test several times slower than the host), which
# multiplies each test's limit and the waits of tests/lib.sh.  The guest has
# VM_BOOT_TIMEOUT (600) seconds to reach the runner, and may stay silent
# (no result line) no longer than the longest test limit, scaled, plus 5
# minutes; VM_TIMEOUT (0 = none) bounds the whole run.  A boot failure, a
# hang or a guest panic fails the run with the tail of the guest's console.
# VM_NICE (0) is qemu's nice value: make check runs the lane at 10 beside
# the host suite, whose tests measure CPU shares and rates and come first.
#
# Nothing outlives the run: qemu is killed by pid and the temporary directory
# removed on any exit, Ctrl-C included; qemu has SIGKILL as its parent-death
# signal, so a run killed with -9 takes it along too.  VM_KEEP=1 keeps the directory
# (console log, runner output) of a failed run, VM_KEEP=all of any run.
#
# For a look inside: VM_GUEST_CMD='shell command' runs that (in a copy of
# the checkout's tracked files, /opt/vsd-vm/src, with the build and its
# objects in /opt/vsd-vm/build) instead of the runner (bench/vm-lane.sh
# does); VM_APPEND adds to the kernel command line, VM_CPU picks qemu's -cpu
# (max).  VSD_TEST_STORAGE=dir passes on to the test daemons' default backend.
#
# Usage: tests/vm/run.sh BUILD_DIR [PATTERN...]     (as root)

set -u

if [ $# -lt 1 ]; then
        echo "usage: $0 BUILD_DIR [PATTERN...]" >&2
        exit 2
fi
if [ "$(id -u)" != 0 ]; then
        echo "$0: the VM lane must run as root" >&2
        exit 2
fi
B=$(cd "$1" && pwd) || exit 2
shift
SRC=$(cd "$(dirname "$0")/../.." && pwd)
VM_KERNEL=${VM_KERNEL:-6.1}
VM_CACHE=${VM_CACHE:-/var/cache/vsd-vm}
VM_MEM=${VM_MEM:-3072}
VM_SMP=${VM_SMP:-2}
VM_DISK=${VM_DISK:-16G}
VM_TIME_SCALE=${VM_TIME_SCALE:-4}
VM_BOOT_TIMEOUT=${VM_BOOT_TIMEOUT:-600}
VM_TIMEOUT=${VM_TIMEOUT:-0}
VM_NICE=${VM_NICE:-0}
TAG=vm-$VM_KERNEL

passed=0
failed=0
QEMU_PID=
T=
START=$SECONDS

say() { echo "# $TAG: $*"; }
die() {
        echo "not ok - $TAG: $*"
        echo "$passed passed, $((failed + 1)) failed"
        exit 1
}

# Tools, from Debian's packages when missing (like bench/vm.sh).
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || need_pkgs+=(busybox-static)
command -v depmod >/dev/null && command -v modprobe >/dev/null || need_pkgs+=(kmod)
command -v mkfs.ext4 >/dev/null || need_pkgs+=(e2fsprogs)
command -v xz >/dev/null || need_pkgs+=(xz-utils)
if [ ${#need_pkgs[@]} -gt 0 ]; then
        say "installing ${need_pkgs[*]}"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                "${need_pkgs[@]}"; } >/dev/null 2>&1 || die "cannot install ${need_pkgs[*]}"
fi

cleanup() {
        set +e
        # a second signal (a whole process group told twice) must not cut
        # the clean-up short and leave the guest's disk behind
        trap '' INT TERM
        if [ -n "$QEMU_PID" ] && [ "$(cat "/proc/$QEMU_PID/comm" 2>/dev/null)" = qemu-system-x86 ]; then
                kill -KILL "$QEMU_PID" 2>/dev/null
                wait "$QEMU_PID" 2>/dev/null
        fi
        QEMU_PID=
        if [ -n "$T" ] && [ -d "$T" ]; then
                if [ "${VM_KEEP:-0}" = all ] || { [ "${VM_KEEP:-0}" = 1 ] && [ "$failed" -gt 0 ]; }; then
                        echo "# $TAG: kept $T"
                else
                        rm -rf "$T"
                fi
        fi
}
trap cleanup EXIT
interrupted() {
        trap - INT TERM
        echo "# $TAG: interrupted"
        failed=$((failed + 1))
        echo "$passed passed, $failed failed"
        exit 130
}
trap interrupted INT TERM

# The kernel ------------------------------------------------------------------

# The package: an exact name, or the version a meta-package points at today.
# The package a meta-package points at in apt's lists, if it is VM_KERNEL.
kernel_from_lists() {
        local meta p
        for meta in "linux-image-$VM_KERNEL-amd64" linux-image-amd64; do
                p=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*-amd64\)$/\1/p' | head -1)
                case $p in
                linux-image-"$VM_KERNEL".*-amd64 | linux-image-"$VM_KERNEL"-*-amd64 | linux-image-"$VM_KERNEL"[.+]*-amd64)
                        echo "$p"
                        return 0
                        ;;
                esac
        done
        return 1
}
# The newest one of that version already unpacked in the cache.
kernel_from_cache() {
        (cd "$VM_CACHE" 2>/dev/null && ls -d linux-image-"$VM_KERNEL"[.+-]*-amd64 2>/dev/null | grep -v -- '-cloud-amd64$' |
                sort -V | tail -1)
}
case $VM_KERNEL in
linux-image-*) PKG=$VM_KERNEL ;;
*)
        PKG=$(kernel_from_lists)
        # a fresh machine whose apt lists are empty (a CI image): fetch them
        # once, unless the cache already has a kernel of that version
        if [ -z "$PKG" ] && [ -z "$(kernel_from_cache)" ]; then
                say "no $VM_KERNEL kernel in apt's lists: apt-get update"
                apt-get update -qq >/dev/null 2>&1
                PKG=$(kernel_from_lists)
        fi
        [ -n "$PKG" ] || PKG=$(kernel_from_cache)
        ;;
esac
[ -n "$PKG" ] || die "no Debian kernel package for VM_KERNEL=$VM_KERNEL in apt's lists or in $VM_CACHE"
case $PKG in
*-cloud-amd64 | *-rt-amd64) die "$PKG: only the generic flavour has everything the lane needs (9p)" ;;
esac
KVER=${PKG#linux-image-}
KDIR=$VM_CACHE/$PKG
mkdir -p "$VM_CACHE"
prepare_kernel() {
        [ -f "$KDIR/boot/vmlinuz-$KVER" ] && [ -f "$KDIR/lib/modules/$KVER/modules.dep" ] && return 0
        local dl=$VM_CACHE/download.$$
        rm -rf "$dl"
        mkdir -p "$dl"
        # apt drops privileges to _apt for the download
        chown _apt "$dl" 2>/dev/null || true
        (cd "$dl" && apt-get download -qq "$PKG" >/dev/null 2>&1) || { rm -rf "$dl"; return 1; }
        dpkg-deb -x "$dl"/"$PKG"_*.deb "$dl/x" || { rm -rf "$dl"; return 1; }
        rm -rf "$dl/x/usr"
        depmod -b "$dl/x" "$KVER" || { rm -rf "$dl"; return 1; }
        # a rename: a run that fails halfway leaves no half-unpacked kernel
        rm -rf "$KDIR"
        mv -T "$dl/x" "$KDIR"
        rm -rf "$dl"
}
# one run at a time unpacks; the others wait for it
exec {LOCKFD}>"$VM_CACHE/.lock"
flock "$LOCKFD"
if ! prepare_kernel; then
        # offline, or the mirror has moved on: the newest kernel of that
        # version the cache already has
        old=$(kernel_from_cache)
        case $VM_KERNEL in linux-image-*) old= ;; esac
        [ -n "$old" ] || die "cannot download and unpack $PKG into $VM_CACHE"
        say "cannot download $PKG: using $old from the cache"
        PKG=$old
        KVER=${PKG#linux-image-}
        KDIR=$VM_CACHE/$PKG
        prepare_kernel || die "cannot use $PKG in $VM_CACHE"
fi
flock -u "$LOCKFD"
exec {LOCKFD}>&-
VMLINUZ=$KDIR/boot/vmlinuz-$KVER
MODDIR=$KDIR/lib/modules/$KVER

# The run's directory: initramfs, disk, job share -----------------------------

T=$(mktemp -d /tmp/vsd-vm.XXXXXX)
J=$T/job
mkdir -p "$J" "$T/initrd/bin" "$T/initrd/dev" "$T/initrd/proc" "$T/initrd/sys" \
        "$T/initrd/lower" "$T/initrd/upper" "$T/initrd/newroot" "$T/initrd/modules"
cp /bin/busybox "$T/initrd/bin/busybox"
ln -s busybox "$T/initrd/bin/sh"
cp "$SRC/tests/vm/init" "$T/initrd/init"
chmod 755 "$T/initrd/init"
mknod "$T/initrd/dev/console" c 5 1
# What mounting the shares needs, in load order (dependencies first), as
# plain .ko files for busybox's insmod; the rest is loaded in the guest by
# the host's modprobe from $MODDIR.
: >"$T/initrd/modules/order"
for m in virtio_pci 9pnet_virtio 9p overlay; do
        modprobe -d "$KDIR" -S "$KVER" --show-depends "$m" 2>/dev/null
done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r ko; do
        name=$(basename "$ko")
        name=${name%.xz}
        name=${name%.zst}
        case $ko in
        *.xz) xz -dc "$ko" >"$T/initrd/modules/$name" ;;
        *.zst) zstd -qdc "$ko" >"$T/initrd/modules/$name" ;;
        *) cp "$ko" "$T/initrd/modules/$name" ;;
        esac
        echo "$name" >>"$T/initrd/modules/order"
done
(cd "$T/initrd" && find . -mindepth 1 | busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$T/initrd.cpio.gz") ||
        die "cannot build the initramfs"

truncate -s "$VM_DISK" "$T/disk.img"
mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1,nodiscard "$T/disk.img" >/dev/null 2>&1 ||
        die "cannot make the guest's disk"

# The build and the tests as they are now, copied into the share (the
# guest copies them onto its own root): a rebuild or an edit during the run
# does not reach the guest half-way.
mkdir -p "$J/build" "$J/src"
cp -a "$B/vsd" "$B/vsctl" "$B/tests" "$J/build/" || die "cannot copy the build from $B (make all?)"
# with the objects and libraries the programs were linked from, and the
# checkout's tracked files (their times kept): make in the guest then finds
# the programs up to date, and `make install` (t_install) installs them
# without compiling anything under emulation
for d in obj datadir; do
        [ ! -d "$B/$d" ] || cp -a "$B/$d" "$J/build/" || die "cannot copy $B/$d"
done
cp -a "$B"/*.a "$J/build/" 2>/dev/null || true
# the dashboard's bundle and the stamp of its packages (not the packages)
if [ -f "$B/dashboard/assets.c" ]; then
        mkdir -p "$J/build/dashboard/node_modules"
        cp -a "$B/dashboard/assets.c" "$B/dashboard/out" "$B"/dashboard/package*.json "$J/build/dashboard/" &&
                cp -a "$B/dashboard/node_modules/.installed" "$J/build/dashboard/node_modules/" ||
                die "cannot copy the dashboard's bundle"
fi
if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$SRC" && git ls-files -z | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) |
                tar -xf - -C "$J/src" || die "cannot copy the checkout"
fi
cp -a "$SRC/tests" "$SRC/templates" "$J/src/" || die "cannot copy the tests"
# the browser tests' driver (t_dashboard), when make built it
if [ -d "$B/dashboard/node_modules/playwright-core" ]; then
        mkdir -p "$J/build/dashboard/node_modules"
        cp -a "$B/dashboard/node_modules/playwright-core" "$J/build/dashboard/node_modules/" ||
                die "cannot copy playwright-core"
fi
# the bench scripts (bench/vm-lane.sh runs one in the guest), not their results
mkdir -p "$J/src/bench"
cp -a "$SRC"/bench/*.sh "$SRC"/bench/*.py "$J/src/bench/" || die "cannot copy the bench scripts"

# The job: environment and command line, quoted for the guest's bash.
{
        printf 'export VSD_TEST_TIMEOUT_SCALE=%q\n' "$VM_TIME_SCALE"
        # the guest's cgroup2 mount is the lane's own: a test may remount
        # it (and puts its options back)
        printf 'export VSD_TEST_CGROUP2_OURS=1\n'
        # tests marked "# host-only" are skipped there (tests/run.sh)
        printf 'export VSD_TEST_IN_VM=1\n'
        [ -z "${VSD_TEST_TIMEOUT:-}" ] || printf 'export VSD_TEST_TIMEOUT=%q\n' "$VSD_TEST_TIMEOUT"
        [ -z "${VSD_TEST_STORAGE:-}" ] || printf 'export VSD_TEST_STORAGE=%q\n' "$VSD_TEST_STORAGE"
        [ -z "${VSD_TEMPLATE_CACHE:-}" ] || printf 'export VSD_TEMPLATE_CACHE=%q\n' "$VSD_TEMPLATE_CACHE"
        printf 'VM_MODDIR=%q\n' "$MODDIR"
        if [ -n "${VM_GUEST_CMD:-}" ]; then
                printf 'VM_CMD=(bash -c %q)\n' "$VM_GUEST_CMD"
        else
                printf 'VM_CMD=(/opt/vsd-vm/src/tests/run.sh /opt/vsd-vm/build'
                for p in "$@"; do printf ' %q' "$p"; done
                printf ')\n'
        fi
} >"$J/job.env"
cp "$SRC/tests/vm/guest.sh" "$J/guest.sh"
: >"$J/out.log"

# The longest a test may run inside, scaled: the silence allowed between two
# result lines.
max_limit=${VSD_TEST_TIMEOUT:-180}
for l in $(sed -n 's/^# timeout test_[A-Za-z0-9_]* \([0-9][0-9]*\)$/\1/p' "$SRC"/tests/integration/t_*.sh); do
        [ "$l" -le "$max_limit" ] || max_limit=$l
done
SILENCE=$(awk -v l="$max_limit" -v s="$VM_TIME_SCALE" 'BEGIN { printf "%d", l * s + 300 }')

# Boot -----------------------------------------------------------------------

say "booting $PKG (qemu TCG, -smp $VM_SMP, -m ${VM_MEM}M)"
QEMU_START=$SECONDS
# qemu dies with this script even when nothing can clean up (SIGKILL):
# the parent-death signal, set before the exec
nice -n "$VM_NICE" setpriv --pdeathsig KILL qemu-system-x86_64 -accel tcg,thread=multi -cpu "${VM_CPU:-max}" -smp "$VM_SMP" -m "$VM_MEM" \
        -nodefaults -no-user-config -display none -nic none -no-reboot \
        -serial "file:$T/console.log" -monitor none \
        -kernel "$VMLINUZ" -initrd "$T/initrd.cpio.gz" \
        -append "console=ttyS0 panic=-1 oops=panic quiet loglevel=4 rdinit=/init mitigations=off ${VM_APPEND:-}" \
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
        -virtfs "local,path=$J,mount_tag=job,security_model=none,multidevs=remap" \
        -drive "file=$T/disk.img,format=raw,if=virtio,cache=unsafe,discard=unmap" \
        </dev/null >"$T/qemu.log" 2>&1 &
QEMU_PID=$!

console_tail() {
        echo "# $TAG: qemu: $(tail -n 3 "$T/qemu.log" 2>/dev/null | tr '\n' ' ')"
        echo "# $TAG: guest console (last 40 lines):"
        tail -n 40 "$T/console.log" 2>/dev/null | tr -d '\r' | sed 's/^/#   /'
        if [ -s "$J/guest.log" ]; then
                echo "# $TAG: guest setup log (last 20 lines):"
                tail -n 20 "$J/guest.log" | sed 's/^/#   /'
        fi
}

# Results: the runner's lines, test ids prefixed; its own summary becomes a
# comment, the final line is counted here.
emit() {
        local l=$1
        case $l in
        "ok - "*)
                passed=$((passed + 1))
                echo "ok - $TAG: ${l#ok - }"
                ;;
        "not ok - "*)
                failed=$((failed + 1))
                echo "not ok - $TAG: ${l#not ok - }"
                ;;
        *" passed, "*" failed")
                echo "# $TAG: runner: $l"
                ;;
        *) echo "$l" ;;
        esac
}
exec {OUTFD}<"$J/out.log"
pending=
pump() {
        local line
        while IFS= read -r line <&"$OUTFD"; do
                emit "$pending$line"
                pending=
                LAST_RESULT=$SECONDS
        done
        pending+=$line
}

booted=
ended=
LAST_RESULT=$SECONDS
while :; do
        pump
        if [ -z "$booted" ] && [ -f "$J/booted" ]; then
                booted=$SECONDS
                say "booted in $((booted - QEMU_START))s ($(cat "$J/booted"))"
                LAST_RESULT=$SECONDS
        fi
        kill -0 "$QEMU_PID" 2>/dev/null || break
        if [ -z "$booted" ] && [ $((SECONDS - QEMU_START)) -ge "$VM_BOOT_TIMEOUT" ]; then
                ended="boot: no runner after ${VM_BOOT_TIMEOUT}s"
        elif [ -n "$booted" ] && [ $((SECONDS - LAST_RESULT)) -ge "$SILENCE" ]; then
                ended="hang: no result for ${SILENCE}s"
        elif [ "$VM_TIMEOUT" -gt 0 ] && [ $((SECONDS - QEMU_START)) -ge "$VM_TIMEOUT" ]; then
                ended="timeout: the run took over ${VM_TIMEOUT}s"
        fi
        [ -z "$ended" ] || break
        sleep 0.5
done
# the guest powers itself off once the runner is done; a hung one is killed
kill -KILL "$QEMU_PID" 2>/dev/null
wait "$QEMU_PID" 2>/dev/null
QEMU_PID=
pump
[ -z "$pending" ] || emit "$pending"

if [ -z "$ended" ]; then
        if [ -z "$booted" ]; then
                ended="boot: the guest ended before the runner started"
        elif [ ! -f "$J/rc" ]; then
                ended="the guest ended before the runner finished"
        elif [ "$(cat "$J/rc")" != 0 ] && [ "$failed" -eq 0 ]; then
                ended="the runner exited with status $(cat "$J/rc") and no failed test"
        fi
fi
if [ -n "$ended" ]; then
        echo "not ok - $TAG: $ended"
        failed=$((failed + 1))
        console_tail
fi
[ -z "$booted" ] || say "$((SECONDS - booted))s in the guest, $((SECONDS - START))s in all"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

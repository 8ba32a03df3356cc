#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# pid 1 of the VM lane's guest (tests/vm/run.sh copies it into the job share,
# tests/vm/init execs it after switching root into the overlay of the host's
# /).  Sets the guest up the way a systemd 252 host on pure cgroup v2 looks
# to vsd, runs the job from the share, writes its exit status to rc and
# powers the guest off.  Its setup log is the share's guest.log; the runner's
# output is out.log.
#
# pid 1 here is this bash: it reaps every orphan (a test daemon started with
# setsid and left to its parent, an instance's init re-adopted...), as a real
# init would.

set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
J=/run/vsd-vm
exec >>"$J/guest.log" 2>&1 </dev/null

off() {
        sync
        echo "vsd-vm guest: powering off: $*" >/dev/console
        /bin/busybox poweroff -f
        while :; do sleep 60; done
}
# shellcheck disable=SC1091
. "$J/job.env" || off "no job.env"

step() {
        echo "+ [$(cut -d' ' -f1 /proc/uptime)] $*"
        "$@" || echo "  (failed: status $?)"
}

# The API filesystems (proc, sys and dev were moved here by init).
mkdir -p /dev/pts /dev/shm /dev/mqueue
step mount -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=666 devpts /dev/pts
step mount -t tmpfs -o nosuid,nodev tmpfs /dev/shm
step mount -t mqueue -o nosuid,nodev,noexec mqueue /dev/mqueue
step mount -t securityfs -o nosuid,nodev,noexec securityfs /sys/kernel/security
# systemd 252 on the unified layout: cgroup2 alone on /sys/fs/cgroup
step mount -t cgroup2 -o nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
step mount -t bpf -o nosuid,nodev,noexec,mode=700 bpf /sys/fs/bpf
step mount -t debugfs -o nosuid,nodev,noexec debugfs /sys/kernel/debug
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr

# The kernel's modules: the unpacked package, seen where kmod (the host's,
# and the kernel's request_module) looks for them.
KVER=$(uname -r)
mkdir -p "/lib/modules/$KVER"
step mount --bind "$VM_MODDIR" "/lib/modules/$KVER"
for m in virtio_blk ext4 loop fuse overlay veth bridge ifb nf_tables nft_ct nft_nat nft_chain_nat nft_masq \
        nft_reject_inet nft_fib_inet nft_limit nft_compat nf_conntrack sch_htb sch_tbf sch_ingress sch_fq_codel \
        cls_u32 cls_matchall act_mirred tun dummy; do
        modprobe "$m" 2>&1 || echo "  modprobe $m failed"
done
echo "[$(cut -d' ' -f1 /proc/uptime)] modules loaded"
step mount -t fusectl fusectl /sys/fs/fuse/connections
# the instances' disk images are files on /tmp: a real block device there,
# not the overlay (an overlay upper on an overlay does not work)
step mount -t ext4 -o noatime /dev/vda /tmp
chmod 1777 /tmp
step hostname vsd-vm
step ip link set lo up
mkdir -p /run/lock /var/tmp

# Every controller the kernel offers, enabled at the root; pid 1 in
# init.scope and the runner in its own leaf, as systemd places a service.
CG=/sys/fs/cgroup
ctl=$(sed 's/\([^ ]*\)/+\1/g' "$CG/cgroup.controllers")
step sh -c "echo '$ctl' >$CG/cgroup.subtree_control"
mkdir -p "$CG/init.scope" "$CG/system.slice/vsd-tests.service"
echo $$ >"$CG/init.scope/cgroup.procs"
step sh -c "echo '$ctl' >$CG/system.slice/cgroup.subtree_control"
echo "cgroup root: controllers '$(cat "$CG/cgroup.controllers")', subtree_control '$(cat "$CG/cgroup.subtree_control")'"
grep ' /sys/fs/cgroup ' /proc/self/mountinfo

echo "$KVER, up $(cut -d' ' -f1 /proc/uptime)s, $(nproc) CPUs, $(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo) MiB" >"$J/booted"

# the build and the tests, from the share onto this root
mkdir -p /opt/vsd-vm
step cp -a "$J/build" "$J/src" /opt/vsd-vm/

(
        echo "$BASHPID" >"$CG/system.slice/vsd-tests.service/cgroup.procs"
        cd /opt/vsd-vm/src || exit 2
        exec "${VM_CMD[@]}" </dev/null >>"$J/out.log" 2>&1
) &
runner=$!
rc=0
wait "$runner" || rc=$?
echo "$rc" >"$J/rc.tmp"
mv "$J/rc.tmp" "$J/rc"
off "runner exit status $rc"

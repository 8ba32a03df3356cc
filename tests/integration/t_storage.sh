# SPDX-License-Identifier: LGPL-2.1-or-later
# The private layer on its own disk image: quotas that are hit, growth,
# crash cleanup, snapshots and clones.

# The loop device backing an instance's image ("" when none).
disk_loop() { # NAME
        losetup -n -l -O NAME,BACK-FILE 2>/dev/null | awk -v f="$T/root/instances/$1/disk.img" '$2 == f { print $1 }'
}

disk_mounted() { # NAME
        awk -v m="$T/root/instances/$1/disk" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# Bytes the image occupies on the host.
host_bytes() { # NAME
        echo $(($(stat -c %b "$T/root/instances/$1/disk.img") * 512))
}

test_image_smoke() {
        vsctl create s1 --disk 128M --start
        disk_mounted s1 || fail "disk of s1 not mounted"
        [ -n "$(disk_loop s1)" ] || fail "no loop device for s1"
        vsctl exec s1 -- df -k / >&2
        vsctl stop s1
        disk_mounted s1 && fail "disk still mounted after stop"
        [ -z "$(disk_loop s1)" ] || fail "loop device left after stop: $(disk_loop s1)"
}

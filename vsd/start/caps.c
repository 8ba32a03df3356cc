/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The capability sets of an instance's processes: one per kind of instance.
 *
 * A privileged instance (root inside is the host's root) starts from the
 * Docker/OCI default set: what a full userland (init, sshd, cron, a web
 * server dropping privileges) needs, and nothing that reaches the shared
 * kernel or another instance, plus NET_ADMIN (its row says why).  Notably
 * absent: SYS_ADMIN (mount, namespaces, a hundred other things: with it root
 * inside a privileged instance escapes), SYS_MODULE, SYS_RAWIO, SYS_TIME,
 * SYS_PTRACE, MKNOD (the instance gets a fixed /dev), SYS_BOOT,
 * SYS_RESOURCE, MAC_*, BPF, PERFMON, SYSLOG.
 *
 * An unprivileged instance's capabilities count in its own user namespace
 * only: the kernel checks each against the namespace that owns the object
 * (its mounts, hostname, processes, network), and wherever the object is the
 * host's (a device, the clock, a module, rlimits above the hard limit, RT
 * priorities) against the host's namespace, where root inside has none.  It
 * gets the same set plus the rows of unpriv_caps[], as LXC and Incus give
 * their unprivileged containers; what each adds and why it stays inside is
 * in its row.
 */
#include "vsd/start/security.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/util.h"

static const struct {
        cap_value_t cap;
        const char *why;
} default_caps[] = {
        { CAP_CHOWN, "package managers and daemons chown their files" },
        { CAP_DAC_OVERRIDE, "root inside reads and writes every file of its own rootfs" },
        { CAP_FSETID, "keep setuid/setgid bits when root edits such files" },
        { CAP_FOWNER, "chmod/utime on files root does not own" },
        { CAP_SETGID, "login, su, daemons dropping to a service group" },
        { CAP_SETUID, "login, su, daemons dropping to a service user" },
        { CAP_SETFCAP, "installing binaries with file capabilities (ping)" },
        { CAP_SETPCAP, "daemons trimming their own bounding set" },
        { CAP_NET_BIND_SERVICE, "servers on ports below 1024" },
        { CAP_SYS_CHROOT, "chroot jails of sshd, bind and package scripts" },
        { CAP_KILL, "signal processes of other users inside the instance" },
        { CAP_AUDIT_WRITE, "login and sshd write audit records" },
        { CAP_NET_RAW, "ping, dhcp clients (the instance's own net namespace)" },
        /* Scoped by the kernel to the instance's own network namespace:
         * its lo and eth0, routes, its own nftables tables.  What leaves
         * eth0 is held on the host side of the veth, where the instance
         * cannot reach: the anti-spoofing rules (source MAC and addresses
         * per link) and the bandwidth caps are the host's, so a changed
         * MAC, an added address or a wrong route are dropped there
         * (tests/integration/t_net.sh spoofs with it).  Without it
         * ifupdown's networking.service fails on `ip link set lo up`,
         * and systemd cannot bring up lo or set its units' sockets' marks.
         * The cost: nf_tables and the other netlink code in the shared
         * kernel become reachable from inside (as in any container with
         * NET_ADMIN), which is why it stays the one addition. */
        { CAP_NET_ADMIN, "ifupdown, ip, firewalls inside: the instance's own net namespace only" },
};

/* Added for unprivileged instances (a user namespace of their own). */
static const struct {
        cap_value_t cap;
        const char *why;
} unpriv_caps[] = {
        /* Over the namespaces the instance's user namespace owns: its
         * hostname, its mounts (tmpfs, proc of its own pid namespaces, bind
         * mounts), new namespaces for nested containers and systemd's
         * PrivateTmp/ProtectSystem.  The masks and read-only paths vsd made
         * are locked mounts (child.c, step_lock_mounts): no umount, no
         * remount read-write, and a new proc or sysfs beside them is "too
         * revealing" for the kernel unless the instance has nesting's
         * unmasked copies.  Block filesystems, the host's cgroup limits and
         * release_agent need it in the host's namespace. */
        { CAP_SYS_ADMIN, "hostname, mounts, namespaces inside (systemd, nested containers)" },
        /* ptrace and process_vm_* of processes of the same namespace: strace
         * and gdb inside.  vsd's own children (a start's, an exec's) are not
         * dumpable until their exec, and their memory was made in the
         * host's namespace: attaching needs CAP_SYS_PTRACE there. */
        { CAP_SYS_PTRACE, "strace and gdb on the instance's own processes" },
        /* RT policies and a negative nice check the host's namespace
         * (capable()); what is left is the instance's own processes
         * (move_pages, sched_setaffinity of another user's task), and its
         * CPU share is its cgroup's either way. */
        { CAP_SYS_NICE, "renice and affinity of the instance's own processes" },
        /* mlock above RLIMIT_MEMLOCK checks the host's namespace; SHM_LOCK
         * is of the instance's own IPC namespace, and locked pages are
         * charged to its memory cgroup. */
        { CAP_IPC_LOCK, "SHM_LOCK in its own IPC namespace; pages charged to its cgroup" },
        /* The kernel makes device nodes only for the host's namespace
         * (capable(CAP_MKNOD)), and every mount made in a user namespace is
         * nodev: granting it lets package scripts that call mknod for a
         * FIFO or an overlay whiteout run, and no device is made. */
        { CAP_MKNOD, "FIFOs and whiteouts; devices stay refused by the kernel" },
        /* reboot(2) in a pid namespace other than the host's only ends
         * that namespace's init: SIGHUP for a restart, SIGINT for halt
         * and power off (kernel/pid_namespace.c); vsd reports the instance
         * "rebooted-inside" or "halted-inside".  Without it busybox's
         * reboot and halt fail at the call and leave init waiting. */
        { CAP_SYS_BOOT, "reboot/halt inside end the instance's init, never the host" },
        /* Not added: SYS_RESOURCE.  It would let root inside raise the
         * per-user limits vsd sets in its user namespace
         * (/proc/sys/user/max_*, child.c step_user_limits) through a
         * writable proc; rlimits above the hard limit, pipe sizes and
         * quotas check the host's namespace anyway.  SYS_TIME, SYS_MODULE,
         * SYS_RAWIO, SYSLOG, MAC_*, BPF, PERFMON, AUDIT_CONTROL: the
         * kernel checks them against the host's namespace only, so they
         * would do nothing but widen what seccomp and the kernel must
         * refuse. */
};

/* Per process (the sets are the same for every instance of a kind):
 * written once by caps_prepare() before any child exists, read-only after.
 * Index: 0 privileged, 1 unprivileged. */
static struct {
        bool ready;
        uint64_t mask[2];
        cap_value_t last_cap;
        cap_t set[2];
} caps_cache;

static cap_t caps_build(uint64_t mask, vs_error *err) {
        cap_t set = cap_init();
        if (!set) {
                vs_err(err, errno, "Failed to allocate a capability set");
                return NULL;
        }
        for (cap_value_t c = 0; c < 64; c++) {
                if (!(mask & (UINT64_C(1) << c)))
                        continue;
                if (cap_set_flag(set, CAP_EFFECTIVE, 1, &c, CAP_SET) < 0 ||
                    cap_set_flag(set, CAP_PERMITTED, 1, &c, CAP_SET) < 0 ||
                    cap_set_flag(set, CAP_INHERITABLE, 1, &c, CAP_SET) < 0) {
                        vs_err(err, errno, "Failed to build the capability set");
                        cap_free(set);
                        return NULL;
                }
        }
        return set;
}

int caps_prepare(vs_error *err) {
        if (caps_cache.ready)
                return 0;

        uint64_t mask = 0;
        for (size_t i = 0; i < ELEMENTSOF(default_caps); i++)
                mask |= UINT64_C(1) << default_caps[i].cap;
        uint64_t unpriv = mask;
        for (size_t i = 0; i < ELEMENTSOF(unpriv_caps); i++)
                unpriv |= UINT64_C(1) << unpriv_caps[i].cap;

        cap_t set = caps_build(mask, err);
        if (!set)
                return -err->code;
        cap_t uset = caps_build(unpriv, err);
        if (!uset) {
                cap_free(set);
                return -err->code;
        }

        /* The running kernel, not the headers, says how many exist: a newer
         * kernel's extra capabilities must be dropped too. */
        caps_cache.last_cap = cap_max_bits() - 1;
        caps_cache.mask[0] = mask;
        caps_cache.mask[1] = unpriv;
        caps_cache.set[0] = set;
        caps_cache.set[1] = uset;
        caps_cache.ready = true;
        return 0;
}

uint64_t caps_default_mask(bool userns) {
        return caps_cache.mask[userns];
}

int caps_drop_bounding(bool userns) {
        if (!caps_cache.ready)
                return -EINVAL;
        for (cap_value_t c = 0; c <= caps_cache.last_cap; c++) {
                if (c < 64 && (caps_cache.mask[userns] & (UINT64_C(1) << c)))
                        continue;
                if (prctl(PR_CAPBSET_DROP, (unsigned long) c, 0, 0, 0) < 0 && errno != EINVAL)
                        return -errno;
        }
        return 0;
}

int caps_apply(bool userns) {
        if (!caps_cache.ready)
                return -EINVAL;
        /* Ambient capabilities would survive exec on top of the set. */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                return -errno;
        if (cap_set_proc(caps_cache.set[userns]) < 0)
                return -errno;
        return 0;
}

int caps_raise_effective(void) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2];
        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        for (int k = 0; k < 2; k++)
                d[k].effective = d[k].permitted;
        if (syscall(SYS_capset, &h, d) < 0)
                return -errno;
        return 0;
}

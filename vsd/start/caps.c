/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The capability set of an instance's processes.
 *
 * Start from the Docker/OCI default set: what a full userland (init, sshd,
 * cron, a web server dropping privileges) needs, and nothing that reaches
 * the shared kernel or another instance, plus NET_ADMIN (its row says why).
 * Notably absent: SYS_ADMIN (mount, namespaces, a hundred other things: with
 * it root inside a privileged instance escapes), SYS_MODULE, SYS_RAWIO, SYS_TIME, SYS_PTRACE, MKNOD (the instance
 * gets a fixed /dev), SYS_BOOT, SYS_RESOURCE, MAC_*, BPF, PERFMON, SYSLOG.
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

/* Per process (the bounding set and capabilities are the same for every
 * instance): written once by caps_prepare() before any child exists,
 * read-only after. */
static struct {
        bool ready;
        uint64_t mask;
        cap_value_t last_cap;
        cap_t set;
} caps_cache;

int caps_prepare(vs_error *err) {
        if (caps_cache.ready)
                return 0;

        uint64_t mask = 0;
        for (size_t i = 0; i < ELEMENTSOF(default_caps); i++)
                mask |= UINT64_C(1) << default_caps[i].cap;

        cap_t set = cap_init();
        if (!set)
                return vs_err(err, errno, "Failed to allocate a capability set");
        for (size_t i = 0; i < ELEMENTSOF(default_caps); i++) {
                cap_value_t c = default_caps[i].cap;
                if (cap_set_flag(set, CAP_EFFECTIVE, 1, &c, CAP_SET) < 0 ||
                    cap_set_flag(set, CAP_PERMITTED, 1, &c, CAP_SET) < 0 ||
                    cap_set_flag(set, CAP_INHERITABLE, 1, &c, CAP_SET) < 0) {
                        int r = errno;
                        cap_free(set);
                        return vs_err(err, r, "Failed to build the capability set");
                }
        }

        /* The running kernel, not the headers, says how many exist: a newer
         * kernel's extra capabilities must be dropped too. */
        caps_cache.last_cap = cap_max_bits() - 1;
        caps_cache.mask = mask;
        caps_cache.set = set;
        caps_cache.ready = true;
        return 0;
}

uint64_t caps_default_mask(void) {
        return caps_cache.mask;
}

int caps_drop_bounding(void) {
        if (!caps_cache.ready)
                return -EINVAL;
        for (cap_value_t c = 0; c <= caps_cache.last_cap; c++) {
                if (c < 64 && (caps_cache.mask & (UINT64_C(1) << c)))
                        continue;
                if (prctl(PR_CAPBSET_DROP, (unsigned long) c, 0, 0, 0) < 0 && errno != EINVAL)
                        return -errno;
        }
        return 0;
}

int caps_apply(void) {
        if (!caps_cache.ready)
                return -EINVAL;
        /* Ambient capabilities would survive exec on top of the set. */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                return -errno;
        if (cap_set_proc(caps_cache.set) < 0)
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

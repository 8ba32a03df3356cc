/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The seccomp profile of every instance process: allow by default, deny with
 * EPERM the calls that reach what instances share (the kernel, its clock,
 * its keyring, host devices), following the default profiles of Docker and
 * systemd-nspawn.
 *
 * What is deliberately NOT in the table:
 *   - mount, umount2, pivot_root, unshare, setns, the new mount API: they
 *     need CAP_SYS_ADMIN, which the instance does not have (caps.c) -- in
 *     the host's user namespace.  A user namespace of its own, which any
 *     process may make, gives it every capability there, and with it new
 *     mounts of what that namespace owns; where that reaches the host's
 *     limits (cgroup v1), the rules after the table stop it;
 *   - reboot: inside a pid namespace the kernel turns reboot(2) into a
 *     SIGHUP (restart) or SIGINT (halt, power off) to the namespace's init
 *     from its parent's point of view, i.e. the instance stops; that is how
 *     `halt` and `reboot` inside an instance work;
 *   - ptrace, process_vm_readv/writev, kcmp: the pid namespace confines them
 *     to the instance's own processes and debuggers must work;
 *   - vhangup, syslog, iopl-like port access through /dev/port: guarded by
 *     capabilities the instance lacks;
 *   - personality: its only risky flag (ADDR_NO_RANDOMIZE) affects the
 *     caller alone;
 *   - name_to_handle_at: a handle is only an inode number and a generation;
 *     using one takes open_by_handle_at, denied below.  systemd reads its
 *     cgroups' ids with it (and complains for every unit without), as
 *     Docker's and nspawn's profiles allow it.
 *
 * The filter is compiled once per daemon process (a few milliseconds of
 * libseccomp work) and kept as raw BPF; each start only loads it.
 */
#include "vsd/start/security.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "base/util.h"
#include "vsd/core/syscalls.h"

static const struct {
        const char *name;
        const char *why;
} denied[] = {
        { "init_module", "loads code into the shared kernel" },
        { "finit_module", "loads code into the shared kernel" },
        { "delete_module", "unloads modules other instances use" },
        { "kexec_load", "replaces the host's kernel" },
        { "kexec_file_load", "replaces the host's kernel" },
        { "open_by_handle_at", "opens any file of a filesystem by handle, bypassing the mount tree" },
        { "add_key", "the kernel keyring is not namespaced" },
        { "request_key", "the kernel keyring is not namespaced" },
        { "keyctl", "the kernel keyring is not namespaced" },
        { "bpf", "eBPF programs run in and read from the host kernel" },
        { "perf_event_open", "observes the host, a large kernel attack surface" },
        { "userfaultfd", "lets exploits stall the kernel at will to win races" },
        { "swapon", "host swap configuration" },
        { "swapoff", "host swap configuration" },
        { "acct", "process accounting is host-wide" },
        { "settimeofday", "the clock is the host's" },
        { "clock_settime", "the clock is the host's" },
        { "clock_settime64", "the clock is the host's (32-bit x86)" },
        { "clock_adjtime", "the clock is the host's (also denies read-only queries)" },
        { "clock_adjtime64", "the clock is the host's (32-bit x86)" },
        { "adjtimex", "the clock is the host's (also denies read-only queries)" },
        { "stime", "the clock is the host's (32-bit x86)" },
        { "iopl", "raw access to host I/O ports" },
        { "ioperm", "raw access to host I/O ports" },
        { "lookup_dcookie", "kernel profiler internals" },
        { "quotactl", "host filesystem quotas" },
        { "quotactl_fd", "host filesystem quotas" },
        { "nfsservctl", "the kernel NFS server (long gone, never wanted)" },
        { "uselib", "obsolete a.out loader, only attack surface" },
};

/*
 * On a host whose instance limits live in cgroup v1 hierarchies: no new
 * cgroup namespace.  A v1 hierarchy can be mounted by whoever holds
 * CAP_SYS_ADMIN over the caller's cgroup namespace, rooted at the caller's
 * cgroup there; a user namespace of the instance's own (any process may
 * make one) with a new cgroup namespace owned by it is enough, and the
 * root of that mount is the instance's own cgroup, <parent>/<name>, whose
 * limit files root inside owns (a privileged instance's root is the
 * host's): memory.limit_in_bytes, pids.max, cpu.cfs_quota_us... were
 * raised so from inside (tests/integration/t_escape.sh,
 * test_cgroup_release_agent).  On v2 the namespace's root is the payload
 * below the limits (doc/cgroups.md), so nothing is denied there.
 * clone3's flags sit in memory, where a filter cannot look: ENOSYS makes
 * the C library fall back to clone(2), whose flags it can see (Docker's
 * profile does the same).
 */
static const struct {
        const char *name;
        int action_errno;
        bool flags_arg; /* only when argument 0 has CLONE_NEWCGROUP */
} cgroup_ns_rules[] = {
        { "unshare", EPERM, true },
        { "clone", EPERM, true },
        { "clone3", ENOSYS, false },
};

/* Answered by vsd rather than the kernel (SCMP_ACT_NOTIFY): each process of
 * an instance hands its filter's listener to the daemon (SYNC_SECCOMP_LISTENER),
 * which answers from the instance's cgroup (vsd/view/sysinfo.c), and keeps a
 * copy in the listener holder (vsd/view/holder.h) that answers CONTINUE while
 * no daemon runs.  With no copy left the kernel fails the call with ENOSYS. */
static const struct {
        const char *name;
        const char *why;
        bool self_only; /* only when argument 0 (a pid) is 0: the caller itself */
} intercepted[] = {
        { "sysinfo", "memory, swap, load and task count are the host's (busybox free, uptime)", false },
        /* nproc, Go's GOMAXPROCS, a JVM and most thread pools count the
         * CPUs they may run on; the CPU cap does not change that set, and
         * pinning capped instances to fixed CPUs would cost density
         * (doc/architecture.md, "CPUs").  Another pid is the kernel's: the
         * daemon cannot name it in the instance's pid namespace. */
        { "sched_getaffinity", "the CPUs a program may run on are the host's, whatever the CPU cap", true },
};

/* Per process (one profile for every instance): written once by
 * syscall_filter_prepare() before any child exists. */
static struct {
        bool ready;
        bool deny_cgroup_ns;
        struct sock_fprog prog;
} filter_cache;

static void seccomp_releasep(scmp_filter_ctx *ctx) {
        if (*ctx)
                seccomp_release(*ctx);
}

/* libseccomp only writes BPF to an fd; a memfd keeps it off any filesystem. */
static int export_bpf(scmp_filter_ctx ctx, struct sock_fprog *ret, vs_error *err) {
        _cleanup_close_ int fd = memfd_create("vsd-seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return vs_err(err, errno, "Failed to create a memfd for the seccomp filter");
        int r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return vs_err(err, -r, "Failed to export the seccomp filter");
        struct stat st;
        if (fstat(fd, &st) < 0)
                return vs_err(err, errno, "Failed to stat the seccomp filter");
        size_t len = (size_t) st.st_size;
        if (len == 0 || len % sizeof(struct sock_filter) != 0 ||
            len / sizeof(struct sock_filter) > BPF_MAXINSNS)
                return vs_err_msg(err, EINVAL, "Failed to export the seccomp filter: %zu bytes of BPF", len);
        _cleanup_free_ struct sock_filter *insns = malloc(len);
        if (!insns)
                return vs_err(err, ENOMEM, "Failed to read the seccomp filter");
        for (size_t done = 0; done < len;) {
                ssize_t n = pread(fd, (char *) insns + done, len - done, (off_t) done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return vs_err(err, n < 0 ? errno : EIO, "Failed to read the seccomp filter");
                done += (size_t) n;
        }
        ret->len = (unsigned short) (len / sizeof(struct sock_filter));
        ret->filter = TAKE_PTR(insns);
        return 0;
}

int syscall_filter_prepare(bool deny_cgroup_ns, vs_error *err) {
        if (filter_cache.ready && filter_cache.deny_cgroup_ns == deny_cgroup_ns)
                return 0;
        if (filter_cache.ready) {
                free(filter_cache.prog.filter);
                filter_cache.prog = (struct sock_fprog) { 0 };
                filter_cache.ready = false;
        }

        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return vs_err(err, ENOMEM, "Failed to create the seccomp filter");

        /* An x86-64 process can still enter the kernel through the 32-bit
         * (int 0x80) and x32 entry points, each with its own syscall numbers:
         * the same rules must hold there or they are trivially bypassed. */
        static const uint32_t arches[] = { SCMP_ARCH_X86, SCMP_ARCH_X32 };
        if (seccomp_arch_native() == SCMP_ARCH_X86_64)
                for (size_t i = 0; i < ELEMENTSOF(arches); i++) {
                        int r = seccomp_arch_add(ctx, arches[i]);
                        if (r < 0 && r != -EEXIST)
                                return vs_err(err, -r, "Failed to add architecture %#x to the seccomp filter", arches[i]);
                }

        for (size_t i = 0; i < ELEMENTSOF(denied); i++) {
                /* A name no architecture knows resolves to __NR_SCMP_ERROR;
                 * one missing from some architectures gets a pseudo number
                 * that libseccomp maps per architecture. */
                int nr = seccomp_syscall_resolve_name(denied[i].name);
                if (nr == __NR_SCMP_ERROR)
                        continue;
                int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
                if (r < 0)
                        return vs_err(err, -r, "Failed to add seccomp rule for %s", denied[i].name);
        }

        for (size_t i = 0; deny_cgroup_ns && i < ELEMENTSOF(cgroup_ns_rules); i++) {
                int nr = seccomp_syscall_resolve_name(cgroup_ns_rules[i].name);
                if (nr == __NR_SCMP_ERROR)
                        continue;
                int r = cgroup_ns_rules[i].flags_arg
                        ? seccomp_rule_add(ctx, SCMP_ACT_ERRNO(cgroup_ns_rules[i].action_errno), nr, 1,
                                           SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWCGROUP, CLONE_NEWCGROUP))
                        : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(cgroup_ns_rules[i].action_errno), nr, 0);
                if (r < 0)
                        return vs_err(err, -r, "Failed to add seccomp rule for %s", cgroup_ns_rules[i].name);
        }

        for (size_t i = 0; i < ELEMENTSOF(intercepted); i++) {
                int nr = seccomp_syscall_resolve_name(intercepted[i].name);
                if (nr == __NR_SCMP_ERROR)
                        continue;
                /* the low 32 bits: a pid_t, whatever the upper half holds */
                int r = intercepted[i].self_only ? seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, nr, 1, SCMP_A0_32(SCMP_CMP_EQ, 0))
                                                 : seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, nr, 0);
                if (r < 0)
                        return vs_err(err, -r, "Failed to add seccomp notification for %s", intercepted[i].name);
        }

        int r = export_bpf(ctx, &filter_cache.prog, err);
        if (r < 0)
                return r;
        filter_cache.deny_cgroup_ns = deny_cgroup_ns;
        filter_cache.ready = true;
        return 0;
}

int syscall_filter_load(int *ret_listener) {
        if (!filter_cache.ready)
                return -EINVAL;
        /* The kernel makes the listener close-on-exec. */
        int fd = sys_seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &filter_cache.prog);
        if (fd < 0)
                return fd;
        *ret_listener = fd;
        return 0;
}

unsigned syscall_filter_denied_count(void) {
        return ELEMENTSOF(denied);
}

const char *syscall_filter_denied_name(unsigned i) {
        return i < ELEMENTSOF(denied) ? denied[i].name : NULL;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The child's checklists: what a child of start_spawn() does between its
 * clone and the exec of the instance's init, and what a child of
 * start_join() does before it runs a command inside a running instance.
 *
 * Every function here runs in that child only, on a stack of its own and
 * possibly in the daemon's memory (start.c says when and why): no heap,
 * no global written, no registry or API (start-internal.h; tests/check-deps checks
 * it).  Every path ends in execve() or _exit().
 */
#include "vsd/start/start-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "base/proc.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/conf/settings.h"
#include "vsd/core/syscalls.h"
#include "vsd/start/mount.h"
#include "vsd/start/netfiles.h"
#include "vsd/start/security.h"

#define INSTANCE_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* init starts with a clean environment: nothing of the daemon's leaks in. */
static char *const init_env[] = {
        "PATH=" INSTANCE_PATH,
        "TERM=linux",
        "container=vsd", /* how systemd and others detect a container */
        "HOME=/",
        NULL,
};

static char *const join_env[] = {
        "PATH=" INSTANCE_PATH,
        "container=vsd",
        "HOME=/root",
        NULL,
};

static char *const join_env_tty[] = {
        "PATH=" INSTANCE_PATH,
        "container=vsd",
        "HOME=/root",
        "TERM=xterm",
        NULL,
};

/* A step of the checklist: run (the child's own work), or, with run NULL,
 * wait for the parent: the parent's message of stage await, sent once the
 * parent has done its part of the handshake (the first step of every
 * checklist waits so for SYNC_SETUP_DONE).  Anything else, EOF included,
 * means the parent gave up on the child or died: the child exits without a
 * report, and the parent says why. */
struct child_step {
        enum sync_stage stage;
        int (*run)(struct child *c);
        enum sync_stage await;
};


/* /dev/pts/ptmx of a devpts (TTYAUX_MAJOR, 2), as /dev/ptmx is on the host. */
#define PTMX_MAJOR 5
#define PTMX_MINOR 2

/* The soft RLIMIT_NOFILE an instance's init and exec'd commands start with. */
#define VS_INSTANCE_NOFILE 1024

/* ---- what the child holds (see the top of start.c) ---- */

/* The child's first act: die with the daemon, close every fd of its copy
 * of the daemon's table but stdio and c->keep.  Async-signal-safe, no heap
 * (the CLONE_VM child runs in the daemon's memory). */
static int child_detach(struct child *c) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
                return -errno;
        int keep[CHILD_KEEP_MAX];
        unsigned n = 0;
        for (unsigned i = 0; i < c->n_keep; i++) {
                /* insertion sort, duplicates dropped */
                unsigned k = n;
                while (k > 0 && keep[k - 1] > c->keep[i])
                        k--;
                if (k > 0 && keep[k - 1] == c->keep[i])
                        continue;
                for (unsigned m = n; m > k; m--)
                        keep[m] = keep[m - 1];
                keep[k] = c->keep[i];
                n++;
        }
        unsigned from = STDERR_FILENO + 1;
        for (unsigned i = 0; i <= n; i++) {
                unsigned to = i < n ? (unsigned) keep[i] : ~0U;
                if (to > from) {
                        int r = sys_close_range(from, i < n ? to - 1 : ~0U, 0);
                        if (r < 0)
                                return r;
                }
                if (i < n)
                        from = to + 1;
        }
        return 0;
}

/* After the go-ahead: is the daemon still there?  Its end of the sync pair
 * closes with it (the child holds none of it), which the child's end shows
 * as a hang-up.  PR_SET_PDEATHSIG was set before, so a daemon that dies
 * after this check kills the child. */
static bool child_parent_alive(const struct child *c) {
        struct pollfd p = { .fd = c->sync_fd, .events = POLLIN };
        if (poll(&p, 1, 0) < 0)
                return false;
        return !(p.revents & (POLLHUP | POLLERR));
}

static int child_await(struct child *c, enum sync_stage stage) {
        struct sync_msg m;
        int r = sync_recv(c->sync_fd, &m);
        if (r <= 0 || m.stage != (int32_t) stage || m.error != 0 || !child_parent_alive(c))
                return -EPIPE;
        return 0;
}

/* Right before exec: what it runs outlives the daemon. */
static int child_release(struct child *c) {
        if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0)
                return vs_err_msg(&c->err, errno, "PR_SET_PDEATHSIG");
        return 0;
}

/* ---- child steps shared by start and join ---- */

static int step_reset(struct child *c) {
        /* The daemon blocks the signals it reads through signalfd and ignores
         * SIGPIPE; a blocked or ignored signal survives execve, and an init
         * that cannot see SIGCHLD or SIGTERM never reaps or stops. */
        int r = vs_signals_default();
        if (r < 0)
                return vs_err_msg(&c->err, -r, "unblock signals");
        umask(022);
        /* The plan's other rlimits, the same for init and exec'd commands;
         * what it does not name is inherited from vsd. */
        const struct inst_rlimits *rl = c->spec ? c->spec->rlimits : c->join->rlimits;
        if (rl && rlimits_apply(rl, &c->err) < 0)
                return -c->err.code;
        /* Until exec this process holds copies of the daemon's memory and fds;
         * non-dumpable means nothing in the instance may ptrace it or open
         * its /proc/PID/fd once it has dropped to the instance's
         * capabilities.  execve resets it. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return vs_err_msg(&c->err, errno, "PR_SET_DUMPABLE");
        return 0;
}

/* Put fds[0..2] on 0, 1, 2.  Go through fresh fds first: dup2() of an fd onto
 * itself would keep its close-on-exec flag, and a source may sit on a target
 * number another source still needs. */
static int install_stdio(const int fds[3], bool tty, vs_error *err) {
        int high[3];
        for (int i = 0; i < 3; i++) {
                high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
                if (high[i] < 0)
                        return vs_err_msg(err, errno, "dup fd %d", fds[i]);
        }
        for (int i = 0; i < 3; i++)
                if (dup2(high[i], i) < 0)
                        return vs_err_msg(err, errno, "dup2 onto fd %d", i);
        /* A new session, so the terminal can become ours and job control and
         * SIGHUP work as on a console. */
        if (setsid() < 0)
                return vs_err_msg(err, errno, "setsid");
        if (tty && ioctl(0, TIOCSCTTY, 0) < 0)
                return vs_err_msg(err, errno, "make the terminal the controlling tty");
        return 0;
}

/* vsd raises its own open-files limit to watch thousands of instances; an
 * instance starts with the usual soft limit, or with its plan's limit as both
 * soft and hard (so it cannot raise it).  After the last step that opens a
 * file: until exec this process holds copies of all the daemon's fds (4 per
 * running instance), so with the instance's limit in force any open() fails
 * with EMFILE once the daemon holds more than that limit — at about 250
 * instances with the default 1024.  Exec closes the copies (close-on-exec);
 * fds above the limit are allowed to stay open until then.  Before the
 * capability steps: a plan above the daemon's hard limit needs
 * CAP_SYS_RESOURCE. */
static int step_nofile(struct child *c) {
        unsigned long plan = c->spec ? c->spec->nofile : c->join->nofile;
        struct rlimit nofile;
        if (plan) {
                nofile.rlim_cur = nofile.rlim_max = plan;
                if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
                        return vs_err_msg(&c->err, errno, "set RLIMIT_NOFILE to %lu", plan);
        } else if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur > VS_INSTANCE_NOFILE) {
                nofile.rlim_cur = VS_INSTANCE_NOFILE;
                if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
                        return vs_err_msg(&c->err, errno, "reset RLIMIT_NOFILE");
        }
        return 0;
}

/* The child of an unprivileged instance's start or exec: the caps of its
 * user namespace (caps.c). */
static bool child_userns(const struct child *c) {
        return c->spec ? c->spec->userns : c->join->userns;
}

static int step_caps_bounding(struct child *c) {
        int r = caps_drop_bounding(child_userns(c));
        return r < 0 ? vs_err_msg(&c->err, -r, "PR_CAPBSET_DROP") : 0;
}

static int step_seccomp(struct child *c) {
        int r = syscall_filter_load(&c->listener);
        return r < 0 ? vs_err_msg(&c->err, -r, "seccomp(SECCOMP_SET_MODE_FILTER)") : 0;
}

/* The daemon answers the calls the filter sends to its listener (sysinfo):
 * it gets the listener, the instance never keeps it. */
static int step_seccomp_listener(struct child *c) {
        int r = sync_send_fd(c->sync_fd, SYNC_SECCOMP_LISTENER, 0, NULL, c->listener);
        safe_close(&c->listener);
        return r < 0 ? vs_err_msg(&c->err, -r, "pass the listener to vsd") : 0;
}

static int step_caps(struct child *c) {
        int r = caps_apply(child_userns(c));
        return r < 0 ? vs_err_msg(&c->err, -r, "capset") : 0;
}

static int step_close_fds(struct child *c) {
        /* Close-on-exec rather than close: the sync socket must stay open to
         * report an exec failure, and exec closes it (the parent's EOF). */
        int r = sys_close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        return r < 0 ? vs_err_msg(&c->err, -r, "close_range") : 0;
}

/* ---- child steps of start_spawn ---- */

static int step_console(struct child *c) {
        /* Reopened inside the new root rather than dup'ed from the daemon's
         * fd: init's stdio then reads /dev/console, not a host pts path, and
         * getty or systemd recognise their console. */
        bool tty = c->spec->console >= 0;
        _cleanup_close_ int fd = open(tty ? "/dev/console" : "/dev/null", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return vs_err_msg(&c->err, errno, "open %s", tty ? "/dev/console" : "/dev/null");
        int fds[3] = { fd, fd, fd };
        /* Like the kernel's init, ours gets the console as stdio but not as
         * its controlling terminal: the shell or getty that init spawns on
         * the console takes it, and has job control there. */
        return install_stdio(fds, false, &c->err);
}

static int step_mount_slave(struct child *c) {
        return mnt_make_slave(&c->err);
}

static int step_cgroup_ns(struct child *c) {
        if (unshare(CLONE_NEWCGROUP) < 0)
                return vs_err_msg(&c->err, errno, "unshare(CLONE_NEWCGROUP)");
        return 0;
}

/* -t as the kernel takes a clock offset: nanoseconds in [0, 1e9), the
 * seconds carrying the sign. */
static void timespec_negate(const struct timespec *t, long long *ret_sec, long *ret_nsec) {
        *ret_sec = -(long long) t->tv_sec - (t->tv_nsec > 0);
        *ret_nsec = t->tv_nsec > 0 ? 1000000000L - t->tv_nsec : 0;
}

static int step_time_ns(struct child *c) {
        if (!c->spec->time_ns)
                return 0;
        /* The new namespace is our children's, not yet ours: the exec of
         * init enters it.  Until then its offsets may be written, never
         * after. */
        if (unshare(CLONE_NEWTIME) < 0)
                return vs_err_msg(&c->err, errno, "unshare(CLONE_NEWTIME)");
        /* Zero at the clone, not at this step: /proc shows a process's start
         * time on the reader's boot clock, and init's, which is the clone's,
         * must not fall before the namespace's zero (it would wrap, and ps
         * would show init running for a million years).  The kernel refuses
         * offsets that make a clock negative now; these cannot. */
        long long mono_sec, boot_sec;
        long mono_nsec, boot_nsec;
        timespec_negate(&c->clone_monotonic, &mono_sec, &mono_nsec);
        timespec_negate(&c->clone_boottime, &boot_sec, &boot_nsec);
        char offsets[128];
        int n = snprintf(offsets, sizeof(offsets), "monotonic %lld %ld\nboottime %lld %ld\n", mono_sec, mono_nsec,
                         boot_sec, boot_nsec);
        /* Through the host's /proc, still ours: the instance's is mounted
         * later.  Both clocks in one write, which the kernel applies
         * together or not at all. */
        /* In a user namespace of its own, a process that is not dumpable
         * has its /proc files owned by the host's root (its memory was the
         * daemon's, made outside the namespace), which the namespace's
         * root may not write: dumpable for the open alone.  Nothing of the
         * instance runs yet that could make use of it. */
        if (c->spec->userns)
                (void) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        _cleanup_close_ int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
        int e = errno;
        if (c->spec->userns && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return vs_err_msg(&c->err, errno, "PR_SET_DUMPABLE");
        if (fd < 0)
                return vs_err_msg(&c->err, e, "open /proc/self/timens_offsets");
        ssize_t w = write(fd, offsets, (size_t) n);
        if (w != n)
                return vs_err_msg(&c->err, w < 0 ? errno : EIO, "set the clock offsets (boottime %lld s)", boot_sec);
        if (!c->spec->time_ns_setns)
                return 0;
        /* A kernel whose exec does not enter the namespace (6.1): init
         * would stay in the host's while its children are born in the
         * instance's, and such a kernel refuses vfork() and every
         * CLONE_VM clone in that state (busybox init cannot start a
         * shell).  Entered here, after the offsets, which can no longer
         * be written once a process is inside.  setns() into a time
         * namespace needs a process that shares its memory with no other:
         * start_spawn() clones without CLONE_VM then. */
        _cleanup_close_ int ns = open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC);
        if (ns < 0)
                return vs_err_msg(&c->err, errno, "open /proc/self/ns/time_for_children");
        int r = sys_setns(ns, CLONE_NEWTIME);
        return r < 0 ? vs_err_msg(&c->err, -r, "enter the new time namespace") : 0;
}

static int step_overlay(struct child *c) {
        if (c->spec->userns)
                return 0; /* mounted by the parent, opened by step_user_ids */
        struct mnt_root root = start_mnt_root(c->spec);
        return mnt_overlay(&root, &c->rootfd, &c->err);
}

/* In a user namespace whose maps the parent has written, we are still the
 * host's root, which the namespace does not map (its "nobody"): become
 * its root, and drop the daemon's supplementary groups, which mean
 * nothing inside.  The capabilities the namespace gave us stay (none of
 * the ids was its root before). */
static int become_ns_root(struct child *c) {
        int r = sys_setresgid(0, 0, 0);
        if (r >= 0)
                r = sys_setgroups(0, NULL);
        if (r >= 0)
                r = sys_setresuid(0, 0, 0);
        if (r < 0)
                return vs_err_msg(&c->err, -r, "set the ids to 0 inside");
        /* A change of ids clears the parent-death signal (child_detach):
         * set again, then the daemon checked for having died meanwhile. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
                return vs_err_msg(&c->err, errno, "PR_SET_PDEATHSIG");
        if (!child_parent_alive(c))
                _exit(126);
        return 0;
}

static int step_user_ids(struct child *c) {
        if (!c->spec->userns)
                return 0;
        /* The root the parent mounted in our namespace, with host root's
         * credentials (start.c, mount_root_inside).  Opened first: its path
         * goes through the host's directories of the daemon (mode 0700),
         * which only the host's root may search, and that we are until
         * the ids change. */
        c->rootfd = open(c->spec->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (c->rootfd < 0)
                return vs_err_msg(&c->err, errno, "open %s", c->spec->rootfs);
        return become_ns_root(c);
}

static int step_loopback(struct child *c) {
        /* A new net namespace has lo, down.  One ioctl brings it up: no
         * netlink socket, no ip(8) from the host or the instance. */
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return vs_err_msg(&c->err, errno, "socket");
        struct ifreq ifr = { .ifr_name = "lo" };
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return vs_err_msg(&c->err, errno, "SIOCGIFFLAGS lo");
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                return vs_err_msg(&c->err, errno, "SIOCSIFFLAGS lo");
        return 0;
}

static int step_net_join(struct child *c) {
        if (!c->spec->join_netns)
                return 0;
        int r = sys_setns(c->spec->netns_fd, CLONE_NEWNET);
        return r < 0 ? vs_err_msg(&c->err, -r, "setns into the prepared network namespace") : 0;
}

static int step_net_files(struct child *c) {
        if (!c->spec->net)
                return 0;
        vs_error warn = { 0 };
        int r = netfiles_write(c->rootfd, c->spec->net, &warn, &c->err);
        if (r >= 0 && warn.msg[0])
                (void) sync_send(c->sync_fd, SYNC_NET_FILES, 0, warn.msg);
        return r;
}

static int step_hostname(struct child *c) {
        if (sethostname(c->spec->name, strlen(c->spec->name)) < 0)
                return vs_err_msg(&c->err, errno, "sethostname %s", c->spec->name);
        return 0;
}

static int step_proc(struct child *c) {
        return mnt_apply(c->rootfd, MNT_PROC, NULL, &c->err);
}

static int step_sys(struct child *c) {
        return mnt_apply(c->rootfd, MNT_SYS, NULL, &c->err);
}

static int step_cgroup_fs(struct child *c) {
        if (c->spec->cgroup_fs == CG_FS_NONE)
                return 0;
        return mnt_apply(c->rootfd, MNT_CGROUP, NULL, &c->err);
}

static int step_run(struct child *c) {
        return mnt_apply(c->rootfd, MNT_RUN, NULL, &c->err);
}

static int step_view(struct child *c) {
        int r = c->spec->view ? view_bind(c->rootfd, c->spec->view, c->spec->view_trees, &c->err) : 0;
        if (r < 0)
                return r;
        return view_bind_own(c->rootfd, c->spec->view_trees, &c->err);
}

static int step_dev(struct child *c) {
        struct mnt_params p = { .ptys = c->spec->ptys, .node_trees = c->node_trees };
        return mnt_apply(c->rootfd, MNT_DEV, &p, &c->err);
}

static int step_dev_nodes(struct child *c) {
        return mnt_nodes_attach(c->node_trees, &c->err);
}

static int step_dev_console(struct child *c) {
        if (c->spec->console < 0)
                return 0;
        return mnt_dev_console(c->rootfd, c->spec->console, &c->console_tree, &c->err);
}

static int step_console_mount(struct child *c) {
        if (c->console_tree < 0)
                return 0;
        int r = mnt_console_attach(c->console_tree, &c->err);
        safe_close(&c->console_tree);
        return r;
}

static int step_nesting(struct child *c) {
        if (!c->spec->userns || !c->spec->nesting)
                return 0;
        return mnt_apply(c->rootfd, MNT_NESTING, NULL, &c->err);
}

static int step_masked_paths(struct child *c) {
        return mnt_apply(c->rootfd, MNT_MASKED, NULL, &c->err);
}

static int step_readonly_paths(struct child *c) {
        return mnt_apply(c->rootfd, MNT_READONLY, NULL, &c->err);
}

static int step_pivot_root(struct child *c) {
        int r = mnt_pivot_root(c->rootfd, &c->err);
        safe_close(&c->rootfd);
        return r;
}

/* The helper of step_lock_mounts: a user namespace below the instance's
 * and a mount namespace it owns, copied from ours, whose fd it leaves in
 * the table it shares with the child. */
struct lock_helper {
        int ns;
        int error;
};

static int lock_helper_main(void *arg) {
        struct lock_helper *h = arg;
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
                h->error = errno;
                _exit(1);
        }
        h->ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
        if (h->ns < 0)
                h->error = errno;
        _exit(0);
}

/*
 * Root inside an unprivileged instance holds CAP_SYS_ADMIN over its mount
 * namespace (caps.c), and the masks, the read-only paths and everything
 * else the steps above mounted were made in that namespace: root could
 * unmount /proc/kcore's mask or remount /proc/sys read-write.  The kernel
 * locks every mount it copies into a mount namespace owned by another user
 * namespace (MNT_LOCKED: no umount, no move, no bind that reveals what is
 * below; read-only, nosuid, nodev, noexec and atime flags fixed), as it
 * does to the host's mounts seen from inside a container.  So: a helper
 * makes a user namespace below ours and a copy of our mount namespace
 * owned by it (everything locked); we enter that copy (root of our
 * namespace is capable in every namespace below it) and unshare once more,
 * which copies it back into a namespace owned by the instance's own user
 * namespace, locked again.  Only the instance's namespaces remain: the
 * helper's user namespace and the copy between go with their last
 * reference.  After the pivot, so the copies' root is the instance's.
 */
static int step_lock_mounts(struct child *c) {
        if (!c->spec->userns)
                return 0;
        /* The helper runs in our memory until it exits (CLONE_VFORK
         * stops us meanwhile), on a stack of its own. */
        size_t size = 64 * 1024;
        void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED)
                return vs_err_msg(&c->err, errno, "map a stack for the helper");
        struct lock_helper h = { .ns = -EBADF };
        pid_t pid = clone(lock_helper_main, (char *) stack + size, CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &h);
        int e = errno;
        if (pid > 0)
                while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
                        ;
        munmap(stack, size);
        if (pid < 0)
                return vs_err_msg(&c->err, e, "clone the helper");
        /* the helper wrote h in our memory before it exited */
        int ns = *(volatile int *) &h.ns;
        if (ns < 0)
                return vs_err_msg(&c->err, *(volatile int *) &h.error ?: EIO,
                                  "make a user and mount namespace below the instance's");
        int r = sys_setns(ns, CLONE_NEWNS);
        safe_close(&ns);
        if (r < 0)
                return vs_err_msg(&c->err, -r, "enter the locked copy of the mount namespace");
        if (unshare(CLONE_NEWNS) < 0)
                return vs_err_msg(&c->err, errno, "copy the mount namespace back into the instance's");
        return 0;
}

/* The files of /proc/sys/user a limit of [limits] goes to; missing ones
 * (an older kernel) are skipped. */
static const struct {
        const char *file;
        size_t offset;
} user_limit_files[] = {
        { "max_inotify_instances", offsetof(struct kernel_limits, inotify_instances) },
        { "max_inotify_watches", offsetof(struct kernel_limits, inotify_watches) },
        { "max_fanotify_groups", offsetof(struct kernel_limits, inotify_instances) },
        { "max_fanotify_marks", offsetof(struct kernel_limits, inotify_watches) },
        { "max_user_namespaces", offsetof(struct kernel_limits, namespaces) },
        { "max_mnt_namespaces", offsetof(struct kernel_limits, namespaces) },
        { "max_pid_namespaces", offsetof(struct kernel_limits, namespaces) },
        { "max_net_namespaces", offsetof(struct kernel_limits, namespaces) },
        { "max_ipc_namespaces", offsetof(struct kernel_limits, namespaces) },
        { "max_uts_namespaces", offsetof(struct kernel_limits, namespaces) },
        { "max_cgroup_namespaces", offsetof(struct kernel_limits, namespaces) },
        { "max_time_namespaces", offsetof(struct kernel_limits, namespaces) },
};

/*
 * The kernel counts inotify instances and watches, fanotify groups and
 * marks, and namespaces per user of each user namespace, and charges them
 * to every user namespace above too, up to the host's (kernel/ucount.c):
 * /proc/sys/user/max_* is the table of the reader's own user namespace,
 * which only a process inside it with CAP_SYS_RESOURCE there may write.
 * We are such a process until the capability steps; root inside is not
 * (caps.c).  Through a procfs of our own in no mount namespace, or the
 * host's /proc when the kernel will not make one; never the instance's,
 * whose /proc/sys is read-only.
 */
static int step_user_limits(struct child *c) {
        const struct kernel_limits *kl = c->spec->klimits;
        if (!c->spec->userns || !kl)
                return 0;
        /* Not the host's /proc when we can help it: there every running
         * instance's user namespace has its own entry of each of these
         * files in one directory, and each open was compared with all of
         * them (a thousand instances made these twelve opens cost 10 ms
         * per start).  A new procfs has only the entries it was asked
         * for; closed, it is gone. */
        _cleanup_close_ int proc = -EBADF;
        {
                _cleanup_close_ int fs = fsopen("proc", FSOPEN_CLOEXEC);
                if (fs >= 0 && fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
                        proc = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
        }
        for (size_t i = 0; i < ELEMENTSOF(user_limit_files); i++) {
                uint64_t v = *(const uint64_t *) ((const char *) kl + user_limit_files[i].offset);
                if (!v)
                        continue;
                char path[64], text[32];
                snprintf(path, sizeof(path), "%s/%s", proc >= 0 ? "sys/user" : "/proc/sys/user", user_limit_files[i].file);
                int n = snprintf(text, sizeof(text), "%llu\n", (unsigned long long) v);
                _cleanup_close_ int fd = openat(proc >= 0 ? proc : AT_FDCWD, path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0 && errno == ENOENT)
                        continue;
                if (fd < 0 || write(fd, text, (size_t) n) != n)
                        return vs_err_msg(&c->err, errno, "write /proc/sys/user/%s", user_limit_files[i].file);
        }
        return 0;
}

static int step_exec_init(struct child *c) {
        char *const *argv = c->spec->init_argv;
        int r = child_release(c);
        if (r < 0)
                return r;
        execve(argv[0], argv, init_env);
        return vs_err_msg(&c->err, errno, "execve %s", argv[0]);
}

/*
 * The child's checklist for an instance's init, top to bottom.
 */
static const struct child_step spawn_steps[] = {
        /* The parent places us in the instance's cgroup first (SYNC_CGROUP). */
        { .stage = SYNC_WAIT_PARENT, .await = SYNC_SETUP_DONE },
        /* The parent has written the maps before SETUP_DONE. */
        { .stage = SYNC_USER_IDS, .run = step_user_ids },
        { .stage = SYNC_RESET, .run = step_reset },
        /* As a process of the instance's user namespace with all its
         * capabilities, and before step_lock_mounts makes a namespace
         * that counts against them. */
        { .stage = SYNC_USER_LIMITS, .run = step_user_limits },
        /* First: the daemon made the namespace with eth0 configured before
         * the clone (vsd/netw/network.c says why); what follows runs in it. */
        { .stage = SYNC_NET_JOIN, .run = step_net_join },
        /* Before any mount: from here on no mount or unmount of ours
         * propagates back to the host (slave: host events still reach us
         * until pivot_root, ours never reach the host). */
        { .stage = SYNC_MOUNT_SLAVE, .run = step_mount_slave },
        /* The parent has placed us in the instance's cgroup before it sent
         * SYNC_SETUP_DONE; the cgroup namespace's root is taken now, so
         * the instance sees its own cgroup as "/". */
        { .stage = SYNC_CGROUP_NS, .run = step_cgroup_ns },
        /* The instance's boot and monotonic clocks start at its clone, so
         * sysinfo(2), clock_gettime() and uptime count the instance's
         * uptime, not the host's.  Before the capability steps: unshare
         * needs CAP_SYS_ADMIN, the offsets CAP_SYS_TIME; before the mounts
         * of the instance's /proc, since it writes through the host's. */
        { .stage = SYNC_TIME_NS, .run = step_time_ns },
        { .stage = SYNC_OVERLAY, .run = step_overlay },
        /* Into the private layer through the overlay, before anything is
         * mounted over /etc. */
        { .stage = SYNC_NET_FILES, .run = step_net_files },
        { .stage = SYNC_LOOPBACK, .run = step_loopback },
        { .stage = SYNC_HOSTNAME, .run = step_hostname },
        /* proc and sys before the masked and read-only paths inside them. */
        { .stage = SYNC_PROC, .run = step_proc },
        { .stage = SYNC_SYS, .run = step_sys },
        /* On the sysfs just mounted, and after SYNC_CGROUP_NS: mounted from
         * inside the namespace, the hierarchy's root is the instance's own
         * cgroup.  systemd finds cgroup2 there and runs in unified mode. */
        { .stage = SYNC_CGROUP_FS, .run = step_cgroup_fs },
        /* After the overlay it covers, before pivot_root (a privileged
         * instance's root cannot mount: no CAP_SYS_ADMIN). */
        { .stage = SYNC_RUN, .run = step_run },
        /* The instance's own meminfo, cpuinfo, uptime...: on top of the fresh
         * /proc and /sys just mounted (their targets), and before
         * pivot_root, which takes away the lxcfs mount (their source). */
        { .stage = SYNC_VIEW, .run = step_view },
        { .stage = SYNC_DEV, .run = step_dev },
        { .stage = SYNC_DEV_CONSOLE, .run = step_dev_console },
        /* In the /dev just made, before the lock. */
        { .stage = SYNC_NESTING, .run = step_nesting },
        { .stage = SYNC_MASKED_PATHS, .run = step_masked_paths },
        { .stage = SYNC_READONLY_PATHS, .run = step_readonly_paths },
        /* Last mount step: it needs the host's /proc and /dev, which the
         * steps above bind from. */
        { .stage = SYNC_PIVOT_ROOT, .run = step_pivot_root },
        /* After the last mount of ours and the pivot: every mount above
         * becomes one root inside cannot undo (CAP_SYS_ADMIN, caps.c). */
        { .stage = SYNC_LOCK_MOUNTS, .run = step_lock_mounts },
        /* After the lock: the device nodes' mounts stay unlocked, so that
         * CRIU can read /dev's tmpfs without them (mount.h says why). */
        { .stage = SYNC_DEV_NODES, .run = step_dev_nodes },
        /* After the lock: the console's mount stays unlocked too, so that
         * a daemon that lost its pty can replace it (mount.h says why). */
        { .stage = SYNC_CONSOLE_MOUNT, .run = step_console_mount },
        /* After the pivot: it opens the instance's /dev/console. */
        { .stage = SYNC_CONSOLE, .run = step_console },
        /* After the last step that opens a file (step_nofile says why). */
        { .stage = SYNC_NOFILE, .run = step_nofile },
        /* PR_CAPBSET_DROP needs CAP_SETPCAP in the effective set, which we
         * still have in full. */
        { .stage = SYNC_CAPS_BOUNDING, .run = step_caps_bounding },
        /* Without no_new_privs (setuid binaries inside must work) loading a
         * filter needs CAP_SYS_ADMIN in the effective set: before step_caps
         * drops it. */
        { .stage = SYNC_SECCOMP, .run = step_seccomp },
        /* Right after the filter that made it; before the fds close. */
        { .stage = SYNC_SECCOMP_LISTENER, .run = step_seccomp_listener },
        { .stage = SYNC_CAPS, .run = step_caps },
        { .stage = SYNC_CLOSE_FDS, .run = step_close_fds },
        { .stage = SYNC_EXEC_INIT, .run = step_exec_init },
};

/* ---- child steps of start_join ---- */

static int step_join_namespaces(struct child *c) {
        /* One setns(pidfd) enters all of them at once.  The pid namespace was
         * entered at fork; the cgroup one last of all, after the parent's
         * cgroup placement, for the same reason as step_cgroup_ns. */
        int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP;
        /* an unprivileged instance's: its user namespace, which the kernel
         * enters first, so the others are joined with its capabilities */
        if (c->join->userns)
                flags |= CLONE_NEWUSER;
        /* The command reads the instance's clocks, as init's children do
         * (start_join() opened their namespace).  Unlike unshare, setns
         * moves us at once (we are single-threaded, as it requires). */
        int r;
        if (c->time_ns_fd >= 0) {
                r = sys_setns(c->time_ns_fd, CLONE_NEWTIME);
                if (r < 0)
                        return vs_err_msg(&c->err, -r, "setns into the instance's time namespace");
        }
        r = sys_setns(c->join->init_pidfd, flags);
        if (r < 0)
                return vs_err_msg(&c->err, -r, "setns into init's namespaces");
        if (c->join->userns) {
                r = become_ns_root(c);
                if (r < 0)
                        return r;
        }
        /* Entering a mount namespace sets root and cwd to its root, which is
         * the instance's root after its pivot_root. */
        if (chdir("/") < 0)
                return vs_err_msg(&c->err, errno, "chdir /");
        return 0;
}

/* The command's terminal comes from the instance's own devpts, found from
 * inside its mount namespace: the command can name it (tty, ttyname(3)),
 * its sshd or login can chown it, and nothing of the host's devpts is
 * exposed.  Everything at that path is the customer's to plant, so no link
 * is followed, the open cannot block (a FIFO) or make it our controlling
 * terminal, and what was opened must be the ptmx of a devpts.  The peer
 * comes from the master itself (TIOCGPTPEER), not from a path lookup of
 * /dev/pts/N that could be raced. */
static int step_join_pty(struct child *c) {
        const struct join_spec *j = c->join;
        if (!j->tty)
                return 0;
        _cleanup_close_ int master = sys_openat2(AT_FDCWD, "dev/pts/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0,
                                                 RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        if (master < 0)
                return vs_err_msg(&c->err, -master, "open /dev/pts/ptmx");
        struct statfs sfs;
        struct stat st;
        if (fstatfs(master, &sfs) < 0 || fstat(master, &st) < 0)
                return vs_err_msg(&c->err, errno, "stat /dev/pts/ptmx");
        if (sfs.f_type != DEVPTS_SUPER_MAGIC || !S_ISCHR(st.st_mode) || major(st.st_rdev) != PTMX_MAJOR ||
            minor(st.st_rdev) != PTMX_MINOR)
                return vs_err_msg(&c->err, ENOTTY, "/dev/pts/ptmx is not the ptmx of a devpts");
        int unlock = 0;
        if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
                return vs_err_msg(&c->err, errno, "unlock the pty");
        if (j->rows && j->cols) {
                struct winsize ws = { .ws_row = j->rows, .ws_col = j->cols };
                if (ioctl(master, TIOCSWINSZ, &ws) < 0)
                        return vs_err_msg(&c->err, errno, "set the window size");
        }
        c->pty_slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (c->pty_slave < 0)
                return vs_err_msg(&c->err, errno, "open the pty's peer");
        /* The client's end is an ordinary blocking fd; it chooses. */
        if (fcntl(master, F_SETFL, 0) < 0)
                return vs_err_msg(&c->err, errno, "clear O_NONBLOCK");
        int r = sync_send_fd(c->sync_fd, SYNC_JOIN_PTY, 0, NULL, master);
        return r < 0 ? vs_err_msg(&c->err, -r, "pass the pty to vsd") : 0;
}

static int step_join_stdio(struct child *c) {
        if (c->join->tty) {
                int fds[3] = { c->pty_slave, c->pty_slave, c->pty_slave };
                return install_stdio(fds, true, &c->err);
        }
        return install_stdio(c->join->fds, false, &c->err);
}

static int step_join_exec(struct child *c) {
        const struct join_spec *j = c->join;
        char *const *envp = j->envp ? j->envp : j->tty ? join_env_tty : join_env;
        /* execvpe() searches the PATH of environ, not of envp: the command is
         * looked up with the instance's PATH. */
        int r = child_release(c);
        if (r < 0)
                return r;
        environ = (char **) envp;
        execvpe(j->argv[0], j->argv, envp);
        return vs_err_msg(&c->err, errno, "exec '%s'", j->argv[0]);
}

static const struct child_step join_steps[] = {
        { .stage = SYNC_WAIT_PARENT, .await = SYNC_SETUP_DONE },
        { .stage = SYNC_RESET, .run = step_reset },
        { .stage = SYNC_JOIN_NAMESPACES, .run = step_join_namespaces },
        /* Inside the instance's mount namespace, before the seccomp filter
         * and the capability drop. */
        { .stage = SYNC_JOIN_PTY, .run = step_join_pty },
        { .stage = SYNC_JOIN_STDIO, .run = step_join_stdio },
        /* Same order and reasons as in spawn_steps. */
        { .stage = SYNC_NOFILE, .run = step_nofile },
        { .stage = SYNC_CAPS_BOUNDING, .run = step_caps_bounding },
        { .stage = SYNC_SECCOMP, .run = step_seccomp },
        { .stage = SYNC_SECCOMP_LISTENER, .run = step_seccomp_listener },
        { .stage = SYNC_CAPS, .run = step_caps },
        { .stage = SYNC_CLOSE_FDS, .run = step_close_fds },
        { .stage = SYNC_JOIN_EXEC, .run = step_join_exec },
};

static _Noreturn void child_main(struct child *c, const struct child_step *steps, size_t n) {
        /* nowhere to report a failure yet: the parent sees EOF */
        if (child_detach(c) < 0)
                _exit(125);
        for (size_t i = 0; i < n; i++) {
                vs_err_clear(&c->err);
                start_stall_at(steps[i].stage);
                if (!steps[i].run) {
                        if (child_await(c, steps[i].await) < 0)
                                _exit(126);
                        continue;
                }
                int r = steps[i].run(c);
                if (r < 0) {
                        (void) sync_send(c->sync_fd, steps[i].stage, -r, c->err.msg);
                        _exit(127);
                }
        }
        /* The last step execs; returning from it without an error is a bug. */
        (void) sync_send(c->sync_fd, steps[n - 1].stage, EINVAL, "returned without exec");
        _exit(127);
}

_Noreturn void child_run_spawn(struct child *c) {
        child_main(c, spawn_steps, ELEMENTSOF(spawn_steps));
}

_Noreturn void child_run_join(struct child *c) {
        child_main(c, join_steps, ELEMENTSOF(join_steps));
}

int child_spawn_entry(void *arg) {
        child_run_spawn(arg);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Starting an instance's init (start_spawn) and running a command inside a
 * running instance (start_join).
 *
 * Both clone a child, run the parent's part of the handshake in sync.h and
 * let the child work through a flat checklist of named steps.  The child
 * runs between clone and exec and must never return into the daemon's code:
 * every path ends in execve() or _exit().
 *
 * An instance's init is cloned with CLONE_VM where the kernel lets the
 * parent place it in its cgroups afterwards (cgroup v1, and v2 without
 * CLONE_INTO_CGROUP) and its exec enters the time namespace the child
 * unshared (6.2 and later, see step_time_ns): the child then runs in the
 * daemon's own memory, on a stack of its own, until its exec.  No page tables are copied, no page is
 * copied on write by either side, and exec has no copy to tear down: that
 * is 30% of a start on a virtual machine, where each of those costs a trap.
 * The rules that make it safe:
 *   - the two take turns: the child waits for SETUP_DONE before its first
 *     step, and the parent then only waits on the sync socket until the
 *     child has exec'd (the socket's end is close-on-exec, and exec has
 *     switched to the new memory by then) or has exited;
 *   - the child allocates nothing on the heap (it would stay allocated in
 *     the daemon's) and writes no global: the steps use stack buffers, the
 *     prepared security data read-only, and fresh mappings (netfiles.c);
 *   - PR_SET_DUMPABLE applies to the shared memory: the parent puts the
 *     daemon's own value back once the child is gone from it.
 *
 * A child dies with the daemon until it execs, and holds nothing of the
 * daemon's meanwhile (child_detach, its first act):
 *   - it closes every fd but the few it works with.  Without CLONE_FILES
 *     the clone gave it a copy of the daemon's table: the API's listen
 *     socket, the clients' connections, the lock that says a vsd runs, every
 *     instance's pidfd and console.  A copy outliving a killed daemon would
 *     keep the socket answering connects with nobody behind it, and every
 *     client of the dead daemon waiting.  They are close-on-exec, so this
 *     is work exec would have done: moved, not added.  (CLONE_FILES would
 *     save the copy but share the table: the child could close nothing
 *     without closing the daemon's, and the table would outlive a killed
 *     daemon in the child all the same.)
 *   - PR_SET_PDEATHSIG kills it when the daemon dies, until right before
 *     its execve (init outlives the daemon, as does an exec'd command);
 *   - the daemon may die before that prctl: the child holds only its own
 *     end of the sync pair, so the go-ahead's wait sees EOF, and after the
 *     go-ahead it checks the daemon's end is still open (getppid() cannot
 *     tell: the parent is outside the child's pid namespace and reads 0).
 *   A child killed by either leaves at most its instance's cgroup (with
 *   nothing in it) to the next daemon; one that lost its daemon between
 *   clearing the signal and its exec runs in its instance's cgroup with no
 *   state file, which the next daemon kills (inst_registry_load).
 * A command joining an instance (start_join) is forked as before: entering
 * a time namespace with setns() needs a process that shares its memory
 * with no other.
 */
#include "vsd/start/start.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#else
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void) (addr), (void) (size))
#endif

#include "base/fileio.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/start/mount.h"
#include "vsd/netw/network.h"
#include "vsd/start/security.h"
#include "vsd/start/sync.h"
#include "vsd/core/syscalls.h"
#include "vsd/view/view.h"

/* How long the parent waits for the child to exec or report; a child stuck
 * in the kernel (a hung overlay mount) must not hang the daemon forever. */
#define START_TIMEOUT_SEC 30

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

/* The most fds a child keeps from the daemon's table (child_keep). */
#define CHILD_KEEP_MAX (8 + VIEW_N_FILES)

/* What the child works with; everything it needs was prepared before clone. */
struct child {
        const struct start_spec *spec; /* start_spawn */
        const struct join_spec *join;  /* start_join */
        int sync_fd;
        int rootfd;
        int pty_slave; /* start_join with tty: the slave of step_join_pty's pty */
        int keep[CHILD_KEEP_MAX];      /* the daemon's fds it needs (sync_fd among them) */
        unsigned n_keep;
        int time_ns_fd; /* start_join: the instance's time namespace, or -EBADF */
        /* The parent's CLOCK_MONOTONIC and CLOCK_BOOTTIME just before the
         * clone: the zero of the instance's clocks (step_time_ns). */
        struct timespec clone_monotonic, clone_boottime;
        vs_error err; /* message only: the parent adds stage and errno text */
};

struct child_step {
        enum sync_stage stage;
        int (*run)(struct child *c);
};

/* /dev/pts/ptmx of a devpts (TTYAUX_MAJOR, 2), as /dev/ptmx is on the host. */
#define PTMX_MAJOR 5
#define PTMX_MINOR 2

/* The soft RLIMIT_NOFILE an instance's init and exec'd commands start with. */
#define VS_INSTANCE_NOFILE 1024

/* ---- the test hook (start_test_stall_set) ---- */

/* Read once from the daemon's environment, which is the process's own:
 * nothing per daemon context about it.  -1: no stall. */
static int test_stall = -1;

int start_test_stall_set(const char *id, vs_error *err) {
        for (int s = 0; s < _SYNC_STAGE_MAX; s++)
                if (strcmp(sync_stage_id(s), id) == 0) {
                        test_stall = s;
                        return 0;
                }
        return vs_err_msg(err, EINVAL, "VSD_TEST_STALL: unknown stage '%.64s'", id);
}

/* One line on stderr: "vsd: VSD_TEST_STALL: <what> <id>[ <pid>]".
 * Async-signal-safe: the child calls it between clone and exec. */
static void test_stall_say(const char *what, const char *id, long pid) {
        char line[160], num[24] = "";
        size_t n = 0;
        int k = (int) sizeof(num) - 1;
        if (pid >= 0) {
                do
                        num[--k] = (char) ('0' + pid % 10);
                while ((pid /= 10) > 0 && k > 1);
                num[--k] = ' ';
        }
        const char *parts[] = { "vsd: VSD_TEST_STALL: ", what, " ", id, num + k, "\n" };
        for (size_t p = 0; p < ELEMENTSOF(parts); p++)
                for (const char *q = parts[p]; *q && n < sizeof(line); q++)
                        line[n++] = *q;
        (void) !write(STDERR_FILENO, line, n);
}

/* The parent, just after a clone: which process the test is to watch. */
static void test_stall_cloned(pid_t child) {
        if (test_stall >= 0)
                test_stall_say("cloned child for", sync_stage_id(test_stall), child);
}

static void test_stall_at(enum sync_stage stage) {
        if ((int) stage != test_stall)
                return;
        test_stall_say("stalled at", sync_stage_id(stage), -1);
        for (;;)
                pause();
}

/* ---- what the child holds (see the top of this file) ---- */

/* Parent side, before the clone: an fd the child needs from the daemon's
 * table.  0, 1, 2 and negative ones need no mention. */
static void child_keep(struct child *c, int fd) {
        if (fd > STDERR_FILENO && c->n_keep < CHILD_KEEP_MAX)
                c->keep[c->n_keep++] = fd;
}

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
        sigset_t all;
        sigemptyset(&all);
        if (sigprocmask(SIG_SETMASK, &all, NULL) < 0)
                return vs_err_msg(&c->err, errno, "unblock signals");
        for (int sig = 1; sig < NSIG; sig++) {
                struct sigaction sa;
                if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
                        signal(sig, SIG_DFL);
        }
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

static int step_caps_bounding(struct child *c) {
        int r = caps_drop_bounding();
        return r < 0 ? vs_err_msg(&c->err, -r, "PR_CAPBSET_DROP") : 0;
}

static int step_seccomp(struct child *c) {
        int r = syscall_filter_load();
        return r < 0 ? vs_err_msg(&c->err, -r, "seccomp(SECCOMP_SET_MODE_FILTER)") : 0;
}

static int step_caps(struct child *c) {
        int r = caps_apply();
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
        _cleanup_close_ int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return vs_err_msg(&c->err, errno, "open /proc/self/timens_offsets");
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
        return mnt_overlay(c->spec, &c->rootfd, &c->err);
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
        int r = netw_write_files(c->rootfd, c->spec->net, &warn, &c->err);
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
        return mnt_proc(c->rootfd, &c->err);
}

static int step_sys(struct child *c) {
        return mnt_sys(c->rootfd, &c->err);
}

static int step_cgroup_fs(struct child *c) {
        if (c->spec->cgroup_fs == CG_FS_NONE)
                return 0;
        return mnt_cgroup(c->rootfd, &c->err);
}

static int step_run(struct child *c) {
        return mnt_run(c->rootfd, &c->err);
}

static int step_view(struct child *c) {
        if (!c->spec->view)
                return 0;
        return view_bind(c->rootfd, c->spec->view, c->spec->view_trees, &c->err);
}

static int step_dev(struct child *c) {
        return mnt_dev(c->rootfd, &c->err);
}

static int step_dev_console(struct child *c) {
        if (c->spec->console < 0)
                return 0;
        return mnt_dev_console(c->rootfd, c->spec->console, &c->err);
}

static int step_masked_paths(struct child *c) {
        return mnt_masked_paths(c->rootfd, &c->err);
}

static int step_readonly_paths(struct child *c) {
        return mnt_readonly_paths(c->rootfd, &c->err);
}

static int step_pivot_root(struct child *c) {
        int r = mnt_pivot_root(c->rootfd, &c->err);
        safe_close(&c->rootfd);
        return r;
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
        { SYNC_RESET, step_reset },
        /* First: the daemon made the namespace with eth0 configured before
         * the clone (vsd/network.c says why); what follows runs in it. */
        { SYNC_NET_JOIN, step_net_join },
        /* Before any mount: from here on no mount or unmount of ours
         * propagates back to the host (slave: host events still reach us
         * until pivot_root, ours never reach the host). */
        { SYNC_MOUNT_SLAVE, step_mount_slave },
        /* The parent has placed us in the instance's cgroup before it sent
         * SYNC_SETUP_DONE; the cgroup namespace's root is taken now, so
         * the instance sees its own cgroup as "/". */
        { SYNC_CGROUP_NS, step_cgroup_ns },
        /* The instance's boot and monotonic clocks start at its clone, so
         * sysinfo(2), clock_gettime() and uptime count the instance's
         * uptime, not the host's.  Before the capability steps: unshare
         * needs CAP_SYS_ADMIN, the offsets CAP_SYS_TIME; before the mounts
         * of the instance's /proc, since it writes through the host's. */
        { SYNC_TIME_NS, step_time_ns },
        { SYNC_OVERLAY, step_overlay },
        /* Into the private layer through the overlay, before anything is
         * mounted over /etc. */
        { SYNC_NET_FILES, step_net_files },
        { SYNC_LOOPBACK, step_loopback },
        { SYNC_HOSTNAME, step_hostname },
        /* proc and sys before the masked and read-only paths inside them. */
        { SYNC_PROC, step_proc },
        { SYNC_SYS, step_sys },
        /* On the sysfs just mounted, and after SYNC_CGROUP_NS: mounted from
         * inside the namespace, the hierarchy's root is the instance's own
         * cgroup.  systemd finds cgroup2 there and runs in unified mode. */
        { SYNC_CGROUP_FS, step_cgroup_fs },
        /* After the overlay it covers, before pivot_root (mounting needs
         * CAP_SYS_ADMIN, which the instance never gets). */
        { SYNC_RUN, step_run },
        /* The instance's own meminfo, cpuinfo, uptime...: on top of the fresh
         * /proc and /sys just mounted (their targets), and before
         * pivot_root, which takes away the lxcfs mount (their source). */
        { SYNC_VIEW, step_view },
        { SYNC_DEV, step_dev },
        { SYNC_DEV_CONSOLE, step_dev_console },
        { SYNC_MASKED_PATHS, step_masked_paths },
        { SYNC_READONLY_PATHS, step_readonly_paths },
        /* Last mount step: it needs the host's /proc and /dev, which the
         * steps above bind from. */
        { SYNC_PIVOT_ROOT, step_pivot_root },
        /* After the pivot: it opens the instance's /dev/console. */
        { SYNC_CONSOLE, step_console },
        /* After the last step that opens a file (step_nofile says why). */
        { SYNC_NOFILE, step_nofile },
        /* PR_CAPBSET_DROP needs CAP_SETPCAP in the effective set, which we
         * still have in full. */
        { SYNC_CAPS_BOUNDING, step_caps_bounding },
        /* Without no_new_privs (setuid binaries inside must work) loading a
         * filter needs CAP_SYS_ADMIN in the effective set: before step_caps
         * drops it. */
        { SYNC_SECCOMP, step_seccomp },
        { SYNC_CAPS, step_caps },
        { SYNC_CLOSE_FDS, step_close_fds },
        { SYNC_EXEC_INIT, step_exec_init },
};

/* ---- child steps of start_join ---- */

static int step_join_namespaces(struct child *c) {
        /* One setns(pidfd) enters all of them at once.  The pid namespace was
         * entered at fork; the cgroup one last of all, after the parent's
         * cgroup placement, for the same reason as step_cgroup_ns. */
        int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP;
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
        { SYNC_RESET, step_reset },
        { SYNC_JOIN_NAMESPACES, step_join_namespaces },
        /* Inside the instance's mount namespace, before the seccomp filter
         * and the capability drop. */
        { SYNC_JOIN_PTY, step_join_pty },
        { SYNC_JOIN_STDIO, step_join_stdio },
        /* Same order and reasons as in spawn_steps. */
        { SYNC_NOFILE, step_nofile },
        { SYNC_CAPS_BOUNDING, step_caps_bounding },
        { SYNC_SECCOMP, step_seccomp },
        { SYNC_CAPS, step_caps },
        { SYNC_CLOSE_FDS, step_close_fds },
        { SYNC_JOIN_EXEC, step_join_exec },
};

static _Noreturn void child_main(struct child *c, const struct child_step *steps, size_t n) {
        struct sync_msg m;
        /* nowhere to report a failure yet: the parent sees EOF */
        if (child_detach(c) < 0)
                _exit(125);
        test_stall_at(SYNC_WAIT_PARENT);
        int r = sync_recv(c->sync_fd, &m);
        /* EOF or anything else: the parent gave up on us (or died); it
         * reports why. */
        if (r <= 0 || m.stage != SYNC_SETUP_DONE || !child_parent_alive(c))
                _exit(126);

        for (size_t i = 0; i < n; i++) {
                vs_err_clear(&c->err);
                test_stall_at(steps[i].stage);
                r = steps[i].run(c);
                if (r < 0) {
                        (void) sync_send(c->sync_fd, steps[i].stage, -r, c->err.msg);
                        _exit(127);
                }
        }
        /* The last step execs; returning from it without an error is a bug. */
        (void) sync_send(c->sync_fd, steps[n - 1].stage, EINVAL, "returned without exec");
        _exit(127);
}

/* The stack of the init being cloned with CLONE_VM, with a guard page
 * below it; one for the daemon's life, since starts happen one at a time. */
#define CHILD_STACK_SIZE (512 * 1024)
static void *child_stack;

static void *child_stack_top(vs_error *err) {
        size_t page = (size_t) sysconf(_SC_PAGESIZE);
        if (!child_stack) {
                void *p = mmap(NULL, CHILD_STACK_SIZE + page, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
                if (p == MAP_FAILED) {
                        vs_err(err, errno, "Failed to map a stack for the child");
                        return NULL;
                }
                if (mprotect(p, page, PROT_NONE) < 0) {
                        vs_err(err, errno, "Failed to map a stack for the child");
                        munmap(p, CHILD_STACK_SIZE + page);
                        return NULL;
                }
                child_stack = p;
        }
        /* Under AddressSanitizer the frames of the last child, which never
         * returned (it exec'd or exited), are still marked in the shadow
         * memory this process shares with it: each start's frames would
         * land on the last one's redzones.  Its stack is free again. */
        ASAN_UNPOISON_MEMORY_REGION((char *) child_stack + page, CHILD_STACK_SIZE);
        return (char *) child_stack + page + CHILD_STACK_SIZE;
}

static int spawn_child(void *arg) {
        struct child *c = arg;
        child_main(c, spawn_steps, ELEMENTSOF(spawn_steps));
}

/* ---- the parent ---- */

static void kill_and_reap(int pidfd) {
        siginfo_t si;
        (void) sys_pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
        while (waitid(P_PIDFD, (id_t) pidfd, &si, WEXITED) < 0 && errno == EINTR)
                ;
}

/* The uid/gid maps of an unprivileged instance are written here, while the
 * child waits: privileged instances share the host's ids, nothing to do. */
static int parent_write_id_maps(pid_t pid, vs_error *err) {
        return 0;
}

static int parent_place_in_cgroup(struct cg_manager *cg, const char *name, pid_t pid, bool cloned_into,
                                  vs_error *err) {
        if (!cg || cloned_into)
                return 0;
        return cg_attach(cg, name, pid, err);
}

/* v2: an fd for CLONE_INTO_CGROUP (the payload), so the child never runs
 * outside its cgroup; -EOPNOTSUPP (v1) means the parent attaches it after
 * clone. */
static int open_cgroup_for_clone(struct cg_manager *cg, const char *name, vs_error *err) {
        if (!cg)
                return -EOPNOTSUPP;
        int fd = cg_open_dir(cg, name);
        if (fd < 0 && fd != -EOPNOTSUPP)
                return vs_err(err, -fd, "Failed to open the cgroup of %s", name);
        return fd;
}

/* v2: where a command joining the instance is cloned: init's own cgroup
 * (the instance's tree may have enabled controllers in the payload, which
 * then takes no process: the no-internal-process rule), or vsd's leaf next
 * to the payload when that cannot be had; -EOPNOTSUPP on v1. */
static int open_cgroup_for_join(const struct join_spec *spec, bool leaf, vs_error *err) {
        if (!spec->cg)
                return -EOPNOTSUPP;
        int fd = cg_open_join_dir(spec->cg, spec->name, spec->init_pid, leaf);
        if (fd < 0 && fd != -EOPNOTSUPP && leaf)
                return vs_err(err, -fd, "Failed to open the cgroup of %s", spec->name);
        return fd;
}

/* parent_setup() leaves the child's OOM score as it is */
#define OOM_ADJ_KEEP INT_MIN

/* pid is our child, not yet reaped: its number cannot have been reused.
 * Lowering a value needs CAP_SYS_RESOURCE: a daemon without it (and with a
 * value of its own above adj) leaves the child its higher value, which
 * shields nothing (EACCES is no failure). */
static int set_oom_adj(pid_t pid, int adj, vs_error *err) {
        char path[64], val[16];
        snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int) pid);
        snprintf(val, sizeof(val), "%d", adj);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || write(fd, val, strlen(val)) < 0) {
                if (errno == EACCES || errno == EPERM)
                        return 0;
                return vs_err(err, errno, "Failed to set the OOM score of %d", (int) pid);
        }
        return 0;
}

/* The parent's go-ahead, once the child exists: id maps, cgroup, OOM
 * score, then SETUP_DONE.  On failure the child is killed and reaped. */
static int parent_setup(int sync_fd, pid_t pid, int pidfd, struct cg_manager *cg, const char *name, bool cloned_into,
                        int oom_adj, vs_error *err) {
        test_stall_cloned(pid);
        test_stall_at(SYNC_ID_MAPS);
        int r = parent_write_id_maps(pid, err);
        if (r >= 0) {
                test_stall_at(SYNC_CGROUP);
                r = parent_place_in_cgroup(cg, name, pid, cloned_into, err);
        }
        if (r >= 0 && oom_adj != OOM_ADJ_KEEP)
                r = set_oom_adj(pid, oom_adj, err);
        if (r >= 0) {
                test_stall_at(SYNC_SETUP_DONE);
                r = sync_send(sync_fd, SYNC_SETUP_DONE, 0, NULL);
                if (r < 0)
                        r = vs_err(err, -r, "Failed to %s", sync_stage_name(SYNC_SETUP_DONE));
        }
        if (r < 0)
                kill_and_reap(pidfd);
        return r;
}

/*
 * One message of the child's answer: 0 EOF (it exec'd); 1 a report on the
 * way, after which more comes: an fd a step handed over (step_join_pty),
 * kept in *passed (NULL: none is wanted, and one that comes is closed), or
 * a warning without an errno, appended to warn; < 0 the stage that failed.
 */
static int parent_result_step(int sync_fd, int *passed, vs_error *warn, vs_error *err) {
        struct sync_msg m;
        int fd = -EBADF;
        int r = sync_recv_fd(sync_fd, &m, passed ? &fd : NULL);
        if (r > 0 && m.error == 0) {
                if (fd >= 0) {
                        safe_close(passed);
                        *passed = fd;
                } else if (warn && m.message[0]) {
                        size_t n = strlen(warn->msg);
                        snprintf(warn->msg + n, sizeof(warn->msg) - n, "%s%s", n ? "; " : "", m.message);
                }
                return 1;
        }
        if (fd >= 0)
                close(fd);
        if (r == 0)
                return 0; /* EOF: the child exec'd */
        if (r > 0) {
                int code = m.error > 0 ? m.error : EINVAL;
                if (m.message[0])
                        return vs_err(err, code, "Failed to %s: %s", sync_stage_name(m.stage), m.message);
                return vs_err(err, code, "Failed to %s", sync_stage_name(m.stage));
        }
        if (r == -EAGAIN)
                return vs_err(err, ETIMEDOUT, "Failed to start: no word from the child in %d s", START_TIMEOUT_SEC);
        return vs_err(err, -r, "Failed to read from the child");
}

/* The child's whole answer, waited for: 0 it exec'd (with the fd a step
 * handed over in *ret_fd, -EBADF if none came), or the stage that failed. */
static int parent_result(int sync_fd, int *ret_fd, vs_error *warn, vs_error *err) {
        _cleanup_close_ int passed = -EBADF;
        int r;
        while ((r = parent_result_step(sync_fd, ret_fd ? &passed : NULL, warn, err)) > 0)
                ;
        if (r == 0 && ret_fd)
                *ret_fd = TAKE_FD(passed);
        return r;
}

/*
 * The parent's half of the handshake: go-ahead, then wait for EOF (exec)
 * or a failure report.  On failure the child is killed and reaped.
 */
static int parent_handshake(int sync_fd, pid_t pid, int pidfd, struct cg_manager *cg, const char *name,
                            bool cloned_into, int oom_adj, int *ret_fd, vs_error *warn, vs_error *err) {
        int r = parent_setup(sync_fd, pid, pidfd, cg, name, cloned_into, oom_adj, err);
        if (r < 0)
                return r;
        r = parent_result(sync_fd, ret_fd, warn, err);
        if (r < 0)
                kill_and_reap(pidfd);
        return r;
}

static int sync_pair(int sv[2], vs_error *err) {
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return vs_err(err, errno, "Failed to create the sync socket pair");
        struct timeval tv = { .tv_sec = START_TIMEOUT_SEC };
        if (setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
                int r = errno;
                close(sv[0]);
                close(sv[1]);
                return vs_err(err, r, "Failed to set the sync socket timeout");
        }
        return 0;
}

static int prepare_security(vs_error *err) {
        int r = caps_prepare(err);
        if (r < 0)
                return r;
        return syscall_filter_prepare(err);
}

int start_spawn(const struct start_spec *spec, pid_t *ret_pid, int *ret_pidfd, vs_error *err) {
        if (!spec->name || !spec->name[0])
                return vs_err_msg(err, EINVAL, "Invalid instance: no name");
        if (!spec->init_argv || !spec->init_argv[0] || spec->init_argv[0][0] != '/')
                return vs_err_msg(err, EINVAL, "Invalid init for %s: not an absolute path", spec->name);
        int r = mnt_check_spec(spec, err);
        if (r < 0)
                return r;
        r = prepare_security(err);
        if (r < 0)
                return r;

        _cleanup_close_ int cgfd = open_cgroup_for_clone(spec->cg, spec->name, err);
        if (cgfd < 0 && cgfd != -EOPNOTSUPP)
                return cgfd;

        int sv[2];
        r = sync_pair(sv, err);
        if (r < 0)
                return r;
        _cleanup_close_ int parent_fd = sv[0];
        _cleanup_close_ int child_fd = sv[1];

        /* No CLONE_NEWCGROUP here: the child unshares it after the parent has
         * placed it in its cgroup (step_cgroup_ns).  No CLONE_NEWTIME either:
         * a namespace cloned into has a process in it already, and its
         * offsets can no longer be set (step_time_ns). */
        int pidfd = -EBADF;
        struct clone_args args = {
                .flags = CLONE_PIDFD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                         (spec->join_netns ? 0 : CLONE_NEWNET),
                .pidfd = (uint64_t) (uintptr_t) &pidfd,
                .exit_signal = SIGCHLD,
        };
        if (cgfd >= 0) {
                args.flags |= CLONE_INTO_CGROUP;
                args.cgroup = (uint64_t) cgfd;
        }
        /* Read last before the clone, so that they are not later than the
         * child's start time (step_time_ns). */
        struct timespec clone_monotonic, clone_boottime;
        clock_gettime(CLOCK_BOOTTIME, &clone_boottime);
        clock_gettime(CLOCK_MONOTONIC, &clone_monotonic);
        struct child c = {
                .spec = spec,
                .sync_fd = child_fd,
                .rootfd = -EBADF,
                .pty_slave = -EBADF,
                .time_ns_fd = -EBADF,
                .clone_monotonic = clone_monotonic,
                .clone_boottime = clone_boottime,
        };
        /* all the child keeps of the daemon's fds (child_detach) */
        child_keep(&c, child_fd);
        child_keep(&c, spec->console);
        child_keep(&c, spec->layer_fd);
        if (spec->join_netns)
                child_keep(&c, spec->netns_fd);
        for (int i = 0; spec->view_trees && i < VIEW_N_FILES; i++)
                child_keep(&c, spec->view_trees->fd[i]);
        pid_t pid;
        int dumpable = -1;
        /* CLONE_VM where the parent places the child in its cgroups, unless
         * the child must enter its time namespace itself (step_time_ns) */
        if (cgfd < 0 && !spec->time_ns_setns) {
                /* In our memory (see the top of this file).  The child
                 * closes its copy of our end of the sync socket first
                 * (child_detach): parent_fd itself is ours. */
                void *top = child_stack_top(err);
                if (!top)
                        return -err->code;
                dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
                pid = clone(spawn_child, top, (int) args.flags | CLONE_VM | SIGCHLD, &c, &pidfd);
                if (pid < 0)
                        pid = -errno;
        } else {
                pid = sys_clone3(&args);
                if (pid == 0)
                        child_main(&c, spawn_steps, ELEMENTSOF(spawn_steps));
        }
        if (pid < 0)
                return vs_err(err, -pid, "Failed to clone the init of %s", spec->name);

        safe_close(&child_fd);
        r = parent_handshake(parent_fd, pid, pidfd, spec->cg, spec->name, cgfd >= 0, OOM_ADJ_KEEP, NULL, spec->warn,
                             err);
        if (dumpable >= 0)
                (void) prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
        /* Only now, with init exec'd: until then it shares our memory, and
         * the kernel gives every process sharing a memory the value written
         * for one of them (us too).  What init forks in the microseconds
         * before this keeps our value, which is the same unless the daemon
         * runs with a value of its own. */
        if (r >= 0) {
                r = set_oom_adj(pid, START_OOM_ADJ_INIT, err);
                if (r < 0)
                        kill_and_reap(pidfd);
        }
        if (r < 0) {
                close(pidfd);
                return r;
        }
        *ret_pid = pid;
        *ret_pidfd = pidfd;
        return 0;
}

bool start_time_ns_supported(void) {
        /* The link exists exactly when the kernel was built with
         * CONFIG_TIME_NS; unshare(CLONE_NEWTIME) would fail with EINVAL. */
        return access("/proc/self/ns/time", F_OK) == 0;
}

/*
 * The instance's time namespace: the one its init's children are born in
 * (/proc/PID/ns/time_for_children), not init's own.  On a kernel whose
 * exec does not enter an unshared time namespace (6.1), an init started by
 * a vsd that did not enter it itself stayed in the host's, while
 * everything it forks is in the instance's; init cannot make another (no
 * CAP_SYS_ADMIN), so its time_for_children is the instance's on every
 * kernel.  The pid comes from the pidfd; if init is still alive after the
 * open, the pid was init's when it was opened.  -errno.
 */
static int open_time_ns(int pidfd) {
        char path[64];
        _cleanup_free_ char *info = NULL;
        snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
        int r = vs_read_file(path, 4096, &info, NULL);
        if (r < 0)
                return r;
        const char *p = strstr(info, "\nPid:");
        int pid;
        if (!p || sscanf(p + 5, "%d", &pid) != 1 || pid <= 0)
                return -ESRCH; /* -1: init is gone */
        snprintf(path, sizeof(path), "/proc/%d/ns/time_for_children", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = sys_pidfd_send_signal(pidfd, 0, NULL, 0);
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

/* Our own pid namespace, to return to after forking into an instance's.
 * Opened once: the daemon's pid namespace never changes. */
static int self_pidns_fd = -EBADF;

int start_join_begin(const struct join_spec *spec, pid_t *ret_pid, int *ret_pidfd, int *ret_sync_fd, vs_error *err) {
        if (!spec->argv || !spec->argv[0] || !spec->argv[0][0])
                return vs_err_msg(err, EINVAL, "Invalid command: empty argv");
        int r = prepare_security(err);
        if (r < 0)
                return r;
        if (self_pidns_fd < 0) {
                self_pidns_fd = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
                if (self_pidns_fd < 0)
                        return vs_err(err, errno, "Failed to open our own pid namespace");
        }

        /* init's cgroup, else (frozen, gone, not below the instance) the leaf */
        _cleanup_close_ int cgfd = open_cgroup_for_join(spec, false, err);
        bool leaf = false;
        if (cgfd < 0 && cgfd != -EOPNOTSUPP) {
                leaf = true;
                cgfd = open_cgroup_for_join(spec, true, err);
                if (cgfd < 0)
                        return cgfd;
        }
        _cleanup_close_ int time_ns = -EBADF;
        if (spec->time_ns) {
                time_ns = open_time_ns(spec->init_pidfd);
                if (time_ns < 0)
                        return vs_err(err, -time_ns, "Failed to find the time namespace of %s", spec->name);
        }

        int sv[2];
        r = sync_pair(sv, err);
        if (r < 0)
                return r;
        _cleanup_close_ int parent_fd = sv[0];
        _cleanup_close_ int child_fd = sv[1];

        /* setns(CLONE_NEWPID) changes only where our next child is born: the
         * child starts inside the instance's pid namespace yet stays our
         * child, so our pidfd and waitid() see its exit, with no double
         * fork.  We switch back right after the clone. */
        r = sys_setns(spec->init_pidfd, CLONE_NEWPID);
        if (r < 0)
                return vs_err(err, -r, "Failed to enter the pid namespace of %s", spec->name);

        int pidfd = -EBADF;
        struct clone_args args = {
                .flags = CLONE_PIDFD,
                .pidfd = (uint64_t) (uintptr_t) &pidfd,
                .exit_signal = SIGCHLD,
        };
        if (cgfd >= 0) {
                args.flags |= CLONE_INTO_CGROUP;
                args.cgroup = (uint64_t) cgfd;
        }
        struct child c = { .join = spec, .sync_fd = child_fd, .rootfd = -EBADF, .pty_slave = -EBADF,
                           .time_ns_fd = time_ns };
        child_keep(&c, child_fd);
        child_keep(&c, spec->init_pidfd);
        child_keep(&c, time_ns);
        for (int i = 0; i < 3; i++)
                child_keep(&c, spec->fds[i]);
        pid_t pid = sys_clone3(&args);
        if (pid < 0 && cgfd >= 0 && !leaf) {
                /* init's cgroup refused us: the instance enabled controllers
                 * in it (a thread root), limited or removed it meanwhile */
                safe_close(&cgfd);
                vs_error lerr = { 0 };
                cgfd = open_cgroup_for_join(spec, true, &lerr);
                if (cgfd >= 0) {
                        args.cgroup = (uint64_t) cgfd;
                        pid = sys_clone3(&args);
                }
        }
        if (pid == 0)
                child_main(&c, join_steps, ELEMENTSOF(join_steps));

        int rr = sys_setns(self_pidns_fd, CLONE_NEWPID);
        if (rr < 0) {
                /* Every later child would be born in this instance. */
                if (pid > 0) {
                        kill_and_reap(pidfd);
                        close(pidfd);
                }
                return vs_err(err, -rr, "Failed to return to our own pid namespace");
        }
        if (pid < 0)
                return vs_err(err, -pid, "Failed to clone into %s", spec->name);

        safe_close(&child_fd);
        /* before the go-ahead: the command and all it starts get it */
        r = parent_setup(parent_fd, pid, pidfd, spec->cg, spec->name, cgfd >= 0, START_OOM_ADJ_EXEC, err);
        if (r < 0) {
                close(pidfd);
                return r;
        }
        *ret_pid = pid;
        *ret_pidfd = pidfd;
        *ret_sync_fd = TAKE_FD(parent_fd);
        return 0;
}

int start_join_result(int sync_fd, int *pty, vs_error *err) {
        int r = parent_result_step(sync_fd, pty, NULL, err);
        if (r == 0 && pty && *pty < 0)
                return vs_err_msg(err, EPROTO, "Failed to %s: no pty came back", sync_stage_name(SYNC_JOIN_PTY));
        return r;
}

int start_join(const struct join_spec *spec, pid_t *ret_pid, int *ret_pidfd, int *ret_pty, vs_error *err) {
        pid_t pid;
        int pidfd;
        _cleanup_close_ int sync_fd = -EBADF;
        _cleanup_close_ int pty = -EBADF;
        int r = start_join_begin(spec, &pid, &pidfd, &sync_fd, err);
        if (r < 0)
                return r;
        while ((r = start_join_result(sync_fd, spec->tty ? &pty : NULL, err)) > 0)
                ;
        if (r < 0) {
                kill_and_reap(pidfd);
                close(pidfd);
                return r;
        }
        *ret_pid = pid;
        *ret_pidfd = pidfd;
        if (ret_pty)
                *ret_pty = TAKE_FD(pty);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/view/lxcfs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "base/proc.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/core/daemon.h"
#include "vsd/core/health.h"
#include "vsd/core/loop.h"
#include "vsd/core/syscalls.h"
#include "vsd/view/view.h"

/* Readiness: lxcfs mounts within tens of milliseconds; give it seconds on a
 * loaded host before calling the attempt failed. */
#define READY_POLL_MS 20
#define READY_TIMEOUT_MS 5000
/* Restart backoff: the first restart after 100 ms, doubling per death in a
 * row up to 30 s; a run of a minute forgives the past. */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 30000
#define STABLE_MS 60000

enum lxcfs_state {
        LXCFS_DOWN,     /* not running; maybe a restart timer is armed */
        LXCFS_STARTING, /* spawned, waiting for its mount */
        LXCFS_READY,    /* mounted and serving */
};

/* An instance whose init is up (running or paused), from
 * lxcfs_instance_add() to lxcfs_instance_remove(): the ones a fresh lxcfs
 * is bound into. */
struct lxcfs_inst {
        char name[VS_NAME_MAX + 1];
        pid_t pid;
        int pidfd; /* its init's, borrowed: the instance layer holds it open meanwhile */
};

struct lxcfs {
        struct vsd *vsd;
        struct lxcfs_inst *inst;
        size_t n_inst, cap_inst;
        bool enabled;   /* [view] lxcfs: may start one, binds it into instances */
        bool disabled_for_good; /* no binary: said so once, never tried again */
        enum lxcfs_state state;
        char binary[256];
        char dir[512];
        char mnt[600];
        char pidfile[600];
        char statefile[600];
        char logfile[600];
        pid_t pid;
        int pidfd;
        bool is_child;  /* ours to reap; an adopted one belongs to its new parent */
        unsigned long long starttime;
        dev_t dev;      /* of the mount, to tell which instances see it */
        int view_fds[VIEW_N_FILES]; /* O_PATH, opened at the first start it serves */
        bool view_fds_open;
        struct loop_source *pidfd_src;
        struct loop_source *timer;
        unsigned ready_polls;
        unsigned failures;      /* deaths in a row */
        int64_t started_ms;
};

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int lxcfs_new(struct vsd *v, struct lxcfs **ret, vs_error *err) {
        struct lxcfs *l = calloc(1, sizeof(*l));
        if (!l)
                return vs_err(err, ENOMEM, "lxcfs");
        l->vsd = v;
        l->pidfd = -EBADF;
        for (size_t i = 0; i < VIEW_N_FILES; i++)
                l->view_fds[i] = -EBADF;
        l->enabled = v->set.view;
        snprintf(l->binary, sizeof(l->binary), "%s", v->set.lxcfs_binary);
        if (v->set.lxcfs_dir[0])
                snprintf(l->dir, sizeof(l->dir), "%s", v->set.lxcfs_dir);
        else
                snprintf(l->dir, sizeof(l->dir), "%s/lxcfs", v->set.run_dir);
        snprintf(l->mnt, sizeof(l->mnt), "%s/mnt", l->dir);
        snprintf(l->pidfile, sizeof(l->pidfile), "%s/lxcfs.pid", l->dir);
        snprintf(l->statefile, sizeof(l->statefile), "%s/lxcfs.state", l->dir);
        snprintf(l->logfile, sizeof(l->logfile), "%s/lxcfs.log", l->dir);
        *ret = l;
        return 0;
}

int lxcfs_instance_add(struct lxcfs *l, const char *name, pid_t pid, int pidfd) {
        if (!l)
                return 0;
        lxcfs_instance_remove(l, name);
        if (l->n_inst == l->cap_inst) {
                size_t cap = l->cap_inst ? l->cap_inst * 2 : 16;
                struct lxcfs_inst *n = realloc(l->inst, cap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                l->inst = n;
                l->cap_inst = cap;
        }
        struct lxcfs_inst *i = &l->inst[l->n_inst++];
        snprintf(i->name, sizeof(i->name), "%s", name);
        i->pid = pid;
        i->pidfd = pidfd;
        return 0;
}

void lxcfs_instance_remove(struct lxcfs *l, const char *name) {
        for (size_t k = 0; l && k < l->n_inst; k++)
                if (streq(l->inst[k].name, name)) {
                        l->inst[k] = l->inst[--l->n_inst];
                        return;
                }
}

const char *lxcfs_view(const struct lxcfs *l) {
        return l && l->enabled && l->state == LXCFS_READY ? l->mnt : NULL;
}

const int *lxcfs_view_fds(struct lxcfs *l) {
        if (!lxcfs_view(l))
                return NULL;
        if (!l->view_fds_open) {
                view_open_files(l->mnt, l->view_fds);
                l->view_fds_open = true;
        }
        return l->view_fds;
}

/* ---- the mount ---------------------------------------------------------- */

/* Is an lxcfs FUSE filesystem mounted on path (alive or not)?  From
 * mountinfo, since a dead FUSE mount answers statfs with ENOTCONN. */
static bool fuse_mounted_on(const char *path) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096];
        if (!f)
                return false;
        while (fgets(line, sizeof(line), f)) {
                /* id parent maj:min root mountpoint opts [tags] - fstype ... */
                char mp[PATH_MAX], *sep = strstr(line, " - ");
                if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
                        continue;
                /* mountinfo writes space, tab, newline and backslash as \ooo */
                char *w = mp;
                for (char *r = mp; *r; w++) {
                        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] && r[3]) {
                                *w = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                                r += 4;
                        } else
                                *w = *r++;
                }
                *w = '\0';
                if (streq(mp, path) && strncmp(sep + 3, "fuse.lxcfs ", 11) == 0)
                        return true;
        }
        return false;
}

/* Detach every lxcfs mount on mnt: a dead one answers ENOTCONN forever, and
 * a new lxcfs must not be stacked on it.  Instances that bound its files
 * keep their copies until they are re-bound. */
static void detach_mounts(const char *mnt) {
        for (int k = 0; k < 16 && fuse_mounted_on(mnt); k++)
                if (umount2(mnt, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                        break;
}

/* lxcfs's mount is up and answers: its device, to compare instances' with. */
static bool mount_ready(const struct lxcfs *l, dev_t *ret_dev) {
        struct statfs sfs;
        struct stat st;
        char probe[700];
        if (statfs(l->mnt, &sfs) < 0 || sfs.f_type != FUSE_SUPER_MAGIC)
                return false;
        snprintf(probe, sizeof(probe), "%s/proc/meminfo", l->mnt);
        if (stat(probe, &st) < 0)
                return false;
        *ret_dev = st.st_dev;
        return true;
}

/* ---- the process -------------------------------------------------------- */

static int state_save(const struct lxcfs *l) {
        json_t *j = json_pack("{s:i, s:I}", "pid", (int) l->pid, "starttime", (json_int_t) l->starttime);
        if (!j)
                return -ENOMEM;
        _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!text)
                return -ENOMEM;
        return vs_write_replace(l->statefile, text, strlen(text), 0600);
}

static void forget_process(struct lxcfs *l) {
        loop_remove(l->pidfd_src);
        loop_remove(l->timer);
        l->pidfd_src = l->timer = NULL;
        safe_close(&l->pidfd);
        /* they hold the old mount: a new lxcfs gets fresh ones */
        view_close_files(l->view_fds);
        l->view_fds_open = false;
        l->pid = 0;
        l->starttime = 0;
        l->is_child = false;
        l->state = LXCFS_DOWN;
}

/* Wait up to ms for the process behind pidfd to end; reap it if ours. */
static void wait_exit(struct lxcfs *l, int ms) {
        struct pollfd p = { .fd = l->pidfd, .events = POLLIN };
        while (poll(&p, 1, ms) < 0 && errno == EINTR)
                ;
        if (l->is_child)
                (void) waitid(P_PIDFD, (id_t) l->pidfd, &(siginfo_t){ 0 }, WEXITED | WNOHANG);
}

static int on_exit_cb(struct loop_source *s, int fd, uint32_t events, void *userdata);
static void restart_cb(struct loop_source *s, void *userdata);
static void poll_ready_cb(struct loop_source *s, void *userdata);

static _Noreturn void child_exec(const struct lxcfs *l, char *const argv[], int nullfd, int logfd) {
        /* vsd blocks the signals its signalfd reads and ignores SIGPIPE;
         * both survive execve. */
        (void) vs_signals_default();
        /* Its own session: a Ctrl-C or hang-up aimed at vsd's terminal must
         * not end the filesystem that running instances read. */
        setsid();
        /* Not vsd's stdout/stderr: a pipe to a logger that closes when vsd
         * exits would kill lxcfs with SIGPIPE, and lxcfs outlives vsd. */
        if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
                _exit(126);
        /* lxcfs mounts cgroupfs for itself.  Made in the host's cgroup
         * namespace, a plain cgroup2 mount would take nsdelegate and
         * memory_recursiveprot off the host's: it gets a namespace rooted
         * at the root, where it sees every instance's cgroup as the host
         * does and its mount changes nothing. */
        vs_error err = { 0 };
        if (l->vsd->cg && cg_unshare_ns_at_root(l->vsd->cg, &err) < 0) {
                dprintf(2, "vsd: Failed to give lxcfs a cgroup namespace of its own: %s\n", err.msg);
                _exit(125);
        }
        static char *const env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
        execve(l->binary, argv, env);
        _exit(127);
}

static int spawn(struct lxcfs *l, vs_error *err) {
        int r = vs_mkdir_p(l->mnt, 0700);
        if (r < 0)
                return vs_err(err, -r, "create %s", l->mnt);
        detach_mounts(l->mnt);
        _cleanup_close_ int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int logfd = open(l->logfile, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (nullfd < 0 || logfd < 0)
                return vs_err(err, errno, "open %s", nullfd < 0 ? "/dev/null" : l->logfile);

        /* --enable-cfs: the CPU quota counts in cpuinfo and stat, not only
         * the cpuset; --enable-pidfd: lxcfs tracks the inits it serves
         * without pid reuse races.  No --enable-loadavg: /proc/loadavg is
         * vsd's own (sysinfo.c), and lxcfs's thread would walk every
         * cgroup for nothing.  Foreground, so that it stays the process we
         * watch. */
        char *const argv[] = { l->binary, "--foreground", "--enable-cfs", "--enable-pidfd",
                               "--pidfile", l->pidfile, l->mnt, NULL };
        int pidfd = -EBADF;
        struct clone_args args = {
                .flags = CLONE_PIDFD,
                .pidfd = (uint64_t) (uintptr_t) &pidfd,
                .exit_signal = SIGCHLD,
        };
        pid_t pid = sys_clone3(&args);
        if (pid < 0)
                return vs_err(err, -pid, "clone");
        if (pid == 0)
                child_exec(l, argv, nullfd, logfd);

        l->pid = pid;
        l->pidfd = pidfd;
        l->is_child = true;
        l->state = LXCFS_STARTING;
        l->ready_polls = 0;
        l->started_ms = now_ms();
        (void) vs_proc_starttime(pid, &l->starttime);
        r = loop_add_fd(l->vsd->loop, pidfd, EPOLLIN, on_exit_cb, l, &l->pidfd_src);
        if (r < 0) {
                (void) sys_pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
                wait_exit(l, 2000);
                forget_process(l);
                return vs_err(err, -r, "watch lxcfs");
        }
        r = state_save(l);
        if (r < 0)
                log_warn("Failed to write %s: %s, ignoring: the next vsd will not adopt this lxcfs", l->statefile,
                         strerror(-r));
        return 0;
}

/* Bring every running instance onto the current lxcfs: those started while
 * it was down, and all of them after a restart (their binds are stale). */
static void reconcile(struct lxcfs *l) {
        unsigned n = 0;
        /* vsd's own view files (sysinfo.c) stay where they are */
        char own[600];
        struct stat st;
        dev_t own_dev = snprintf(own, sizeof(own), "%s/view", l->vsd->set.run_dir) < (int) sizeof(own) &&
                                        stat(own, &st) == 0
                                ? st.st_dev
                                : 0;
        for (size_t k = 0; k < l->n_inst; k++) {
                const struct lxcfs_inst *i = &l->inst[k];
                if (i->pidfd < 0)
                        continue;
                if (view_is_current(i->pid, l->dev))
                        continue;
                vs_error err = { 0 };
                if (view_rebind(i->pidfd, l->mnt, own_dev, &err) < 0)
                        log_warn("Failed to bind the lxcfs view into %s: %s, ignoring", i->name, err.msg);
                else
                        n++;
        }
        if (n)
                log_info("lxcfs view bound into %u running instance%s", n, n == 1 ? "" : "s");
}

static void became_ready(struct lxcfs *l, dev_t dev) {
        l->state = LXCFS_READY;
        l->dev = dev;
        health_recovered(l->vsd, "lxcfs");
        if (l->failures)
                log_info("lxcfs is back (pid %d) after %u failure%s", (int) l->pid, l->failures,
                         l->failures == 1 ? "" : "s");
        else
                log_info("lxcfs serving the instances' view on %s (pid %d)", l->mnt, (int) l->pid);
        reconcile(l);
}

/* Arm the restart timer with the backoff; returns its delay (0: none). */
static uint64_t schedule_restart(struct lxcfs *l) {
        if (!l->enabled || l->disabled_for_good)
                return 0;
        if (l->started_ms && now_ms() - l->started_ms >= STABLE_MS)
                l->failures = 0;
        l->failures++;
        uint64_t ms = BACKOFF_FIRST_MS;
        for (unsigned k = 1; k < l->failures && ms < BACKOFF_MAX_MS; k++)
                ms *= 2;
        if (ms > BACKOFF_MAX_MS)
                ms = BACKOFF_MAX_MS;
        if (loop_add_timer(l->vsd->loop, ms, restart_cb, l, &l->timer) < 0) {
                log_err("Failed to arm the lxcfs restart timer, ignoring: the view stays down");
                return 0;
        }
        return ms;
}

static int on_exit_cb(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct lxcfs *l = userdata;
        siginfo_t si = { 0 };
        char how[64] = "";
        pid_t pid = l->pid;
        bool was_ready = l->state == LXCFS_READY;
        if (l->is_child && waitid(P_PIDFD, (id_t) l->pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid)
                snprintf(how, sizeof(how), " (%s %d)", si.si_code == CLD_EXITED ? "status" : "signal", si.si_status);
        forget_process(l); /* removes this source before its fd closes */
        detach_mounts(l->mnt);
        (void) unlink(l->statefile);
        bool first = l->failures == 0;
        uint64_t ms = schedule_restart(l);
        /* A death while serving is news every time; a start that keeps
         * failing is said once, until it works again. */
        vs_error why = { 0 };
        if (was_ready) {
                vs_err_msg(&why, EIO, "lxcfs (pid %d) exited%s; restarting it in %" PRIu64 " ms", (int) pid, how, ms);
                health_degraded(l->vsd, "lxcfs", "the view's files in running instances fail with ENOTCONN", &why);
        } else if (first) {
                vs_err_msg(&why, EIO, "lxcfs exited%s before mounting %s (see %s); retrying in %" PRIu64 " ms", how,
                           l->mnt, l->logfile, ms);
                health_degraded(l->vsd, "lxcfs", "instances start without the view", &why);
        } else
                log_debug("lxcfs (pid %d) exited%s before mounting; retrying in %" PRIu64 " ms", (int) pid, how, ms);
        return 0;
}

static void restart_cb(struct loop_source *s, void *userdata) {
        struct lxcfs *l = userdata;
        vs_error err = { 0 };
        l->timer = NULL;
        if (spawn(l, &err) < 0) {
                bool first = l->failures == 0;
                uint64_t ms = schedule_restart(l);
                if (first) {
                        vs_err_prefix(&err, "Failed to start lxcfs (retrying in %" PRIu64 " ms)", ms);
                        health_degraded(l->vsd, "lxcfs", "instances start without the view", &err);
                }
                return;
        }
        if (loop_add_timer(l->vsd->loop, READY_POLL_MS, poll_ready_cb, l, &l->timer) < 0)
                log_warn("Failed to arm the lxcfs readiness timer, ignoring");
}

static void poll_ready_cb(struct loop_source *s, void *userdata) {
        struct lxcfs *l = userdata;
        dev_t dev;
        l->timer = NULL;
        if (l->state != LXCFS_STARTING)
                return;
        if (mount_ready(l, &dev)) {
                became_ready(l, dev);
                return;
        }
        if (++l->ready_polls * READY_POLL_MS < READY_TIMEOUT_MS) {
                (void) loop_add_timer(l->vsd->loop, READY_POLL_MS, poll_ready_cb, l, &l->timer);
                return;
        }
        /* Hung: kill it; its pidfd then reports the exit, which restarts it. */
        log_warn("lxcfs (pid %d) did not mount %s within %d ms, killing it", (int) l->pid, l->mnt, READY_TIMEOUT_MS);
        (void) sys_pidfd_send_signal(l->pidfd, SIGKILL, NULL, 0);
}

/* ---- daemon start and exit --------------------------------------------- */

/* The lxcfs the previous vsd started, if it still runs (same pid and start
 * time, as for instances) and its mount answers.  Adopting keeps the
 * instances' binds valid and lxcfs's load-average history; a live but
 * broken one is ended (it is ours) and replaced. */
static bool adopt(struct lxcfs *l) {
        _cleanup_free_ char *text = NULL, *pidtext = NULL;
        if (vs_read_file(l->statefile, 4096, &text, NULL) < 0)
                return false;
        json_t *j = json_loads(text, 0, NULL);
        json_int_t pid = 0, starttime = 0;
        if (!j || json_unpack(j, "{s:I, s:I}", "pid", &pid, "starttime", &starttime) < 0)
                pid = 0;
        json_decref(j);
        /* lxcfs removes its pid file when it exits cleanly */
        if (pid <= 0 || vs_read_file(l->pidfile, 64, &pidtext, NULL) < 0 || strtoll(pidtext, NULL, 10) != pid)
                return false;
        unsigned long long now_start = 0;
        if (vs_proc_starttime((pid_t) pid, &now_start) < 0 || now_start != (unsigned long long) starttime)
                return false;
        int fd = sys_pidfd_open((pid_t) pid, 0);
        if (fd < 0)
                return false;
        l->pid = (pid_t) pid;
        l->pidfd = fd;
        l->starttime = now_start;
        l->is_child = false;
        dev_t dev;
        if (!mount_ready(l, &dev)) {
                log_warn("lxcfs (pid %d) left by the previous vsd does not answer on %s, replacing it", (int) pid, l->mnt);
                (void) sys_pidfd_send_signal(fd, SIGKILL, NULL, 0);
                wait_exit(l, 2000);
                forget_process(l);
                return false;
        }
        if (loop_add_fd(l->vsd->loop, fd, EPOLLIN, on_exit_cb, l, &l->pidfd_src) < 0) {
                forget_process(l);
                return false;
        }
        l->state = LXCFS_READY;
        l->dev = dev;
        log_info("Adopted lxcfs (pid %d) from the previous vsd", (int) pid);
        return true;
}

void lxcfs_start(struct lxcfs *l) {
        vs_error err = { 0 };
        /* A leftover lxcfs is adopted even with the view switched off: the
         * instances that were started with it keep their view, and it is
         * stopped once none runs. */
        if (adopt(l)) {
                if (l->enabled)
                        reconcile(l);
                return;
        }
        (void) unlink(l->statefile);
        detach_mounts(l->mnt);
        if (!l->enabled)
                return;
        if (access(l->binary, X_OK) < 0) {
                vs_err(&err, errno, "Failed to find lxcfs at %s", l->binary);
                health_degraded(l->vsd, "lxcfs",
                                "instances see the host's /proc/meminfo, cpuinfo, uptime (install lxcfs, or set "
                                "[view] lxcfs = no)",
                                &err);
                l->disabled_for_good = true;
                return;
        }
        if (spawn(l, &err) < 0) {
                uint64_t ms = schedule_restart(l);
                vs_err_prefix(&err, "Failed to start lxcfs (retrying in %" PRIu64 " ms)", ms);
                health_degraded(l->vsd, "lxcfs", "instances start without the view", &err);
                return;
        }
        /* Wait here, once, so that the first instances started after the
         * daemon answers already get the view. */
        dev_t dev;
        for (int waited = 0; waited < READY_TIMEOUT_MS; waited += 10) {
                if (mount_ready(l, &dev)) {
                        became_ready(l, dev);
                        return;
                }
                struct pollfd p = { .fd = l->pidfd, .events = POLLIN };
                if (poll(&p, 1, 10) > 0)
                        return; /* it died: the loop sees its pidfd, says so and retries */
        }
        vs_err_msg(&err, ETIMEDOUT, "Failed to start lxcfs: no mount on %s within %d ms (see %s)", l->mnt,
                   READY_TIMEOUT_MS, l->logfile);
        health_degraded(l->vsd, "lxcfs", "instances start without the view", &err);
        l->failures = 1; /* said once; the retry after the kill stays quiet */
        (void) sys_pidfd_send_signal(l->pidfd, SIGKILL, NULL, 0);
}

void lxcfs_free(struct lxcfs *l, bool stop) {
        if (!l)
                return;
        if (stop) {
                /* SIGKILL: lxcfs takes seconds to honour SIGTERM (its load
                 * average thread sleeps) and holds nothing worth saving. */
                if (l->pidfd >= 0) {
                        (void) sys_pidfd_send_signal(l->pidfd, SIGKILL, NULL, 0);
                        wait_exit(l, 2000);
                }
                detach_mounts(l->mnt);
                (void) unlink(l->statefile);
                (void) unlink(l->pidfile);
                (void) unlink(l->logfile);
                (void) rmdir(l->mnt);
                (void) rmdir(l->dir);
        }
        forget_process(l);
        free(l->inst);
        free(l);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Checkpoint and restore with CRIU (checkpoint.h).  CRIU runs as a command
 * (criu dump, criu restore) from a helper of work.h: the loop never waits
 * for it.  The command line says what CRIU cannot find out itself:
 *
 *   --external mnt[]          every bind mount from the host's tree (the
 *                             standard device nodes, the masked paths'
 *                             /dev/null, vsd's own view files) is found
 *                             and bound again from the same host path;
 *   --external mnt[/dev/console]:console, mnt[<view file>]:view-...
 *                             named: a restore binds the new console's pty
 *                             and whatever lxcfs serves then;
 *   --external tty[rdev:dev]  every terminal of the host's open in the tree
 *                             (the console pty, /dev/tty), given back on
 *                             restore with --inherit-fd as the new console;
 *   --external netdev[eth0]   (restore) the link's inside end, made by vsd
 *                             with the host side configured as for a start,
 *                             moved into the namespace CRIU makes;
 *   --manage-cgroups=soft     the restore's CRIU runs in the instance's
 *                             cgroup, which vsd made with its limits (on v2
 *                             its leaf beside the namespace root, when an
 *                             action script gives controllers to the root's
 *                             children: restore_action()); CRIU places
 *                             the processes and makes the cgroup namespace
 *                             inside the user namespace;
 *   --network-lock nftables --tcp-established --file-locks.
 */
#include "vsd/inst/checkpoint.h"
#include "vsd/inst/ckptsock.h"
#include "vsd/inst/ckptwatch.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/seccomp.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/progress.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "net/announce.h"
#include "net/fw.h"
#include "net/nl.h"
#include "vsd/core/ops.h"
#include "vsd/core/syscalls.h"
#include "vsd/core/work.h"
#include "vsd/inst/console.h"
#include "vsd/inst/instance.h"
#include "vsd/inst/pages.h"
#include "vsd/netw/network.h"
#include "vsd/start/start.h"
#include "vsd/view/sysinfo.h"
#include "vsd/view/view.h"

#define CKPT_TMP ".checkpoint.tmp"
#define CKPT_RESTORING ".checkpoint.restoring"
#define CKPT_DEL ".checkpoint.del"
#define CKPT_HOOK ".checkpoint-hook"
/* the instance's cgroup tree, beside the images (cgtree_save) */
#define CKPT_CGROUPS "vsd-cgroups"
/* and the controllers each of them enables for its children (cgtree_save) */
#define CKPT_SUBTREE "vsd-subtree"
/* present in a post-copy dump's images from its start: committed, the
 * checkpoint lacks the memory CRIU serves lazily (ckpt_recover_lazy) */
#define CKPT_LAZY "vsd-lazy"
#define CKPT_CG_MAX 4096
/* where the helpers find the instance's cgroup directory (work_start) */
#define CKPT_CG_FD_DUMP 4
/* the dump's link to a target's page server (ckpt_take's page_fd) */
#define CKPT_PAGE_FD_DUMP 5
/* post-copy (ckpt_take_postcopy): a byte once committed, the loop's
 * verdict on a dump that failed after it */
#define CKPT_COMMITTED_FD_DUMP 6
#define CKPT_VERDICT_FD_DUMP 7
#define CKPT_CG_FD_RESTORE 6
#define CKPT_CG_DEPTH 16
#define CKPT_ID_LEN 16
/* where the restore's helper puts the view's files for CRIU (restore_run) */
#define CKPT_EXT_DIR "/dev/shm"
#define CKPT_TTY_MAX 16
#define CKPT_VIEW_MAX 16
/* what criu_run() puts in CRIU's environment at most, beside PATH and LANG */
#define CRIU_ENV_MAX 4
/* how long a dump may take to seize the instance's processes */
#define CKPT_CRIU_TIMEOUT "10"

enum ckpt_kind { CKPT_TAKE, CKPT_RESTORE };

/* What vsd keeps beside CRIU's images (vsd.json). */
struct ckpt_meta {
        char id[CKPT_ID_LEN + 1];
        int64_t taken;
        bool leave_running;
        int64_t started_at;            /* the instance's own start, kept across the restore */
        char tty[CKPT_TTY_MAX][48];    /* "tty[8800:19]": the host's terminals open in the tree */
        unsigned n_tty;
        char view[CKPT_VIEW_MAX][128]; /* lxcfs's files bound in, by their path inside */
        unsigned n_view;
        bool privileged;
        uint64_t id_base;
        bool link;                     /* eth0 is a veth of vsd's */
};

struct ckpt_op {
        enum ckpt_kind kind;
        struct instance *i;
        char dir[512];
        char name[VS_NAME_MAX + 1];
        char criu[256];
        char run_dir[256];
        struct ckpt_meta meta;
        /* take */
        pid_t init_pid;
        struct ckpt_watches watches;   /* the inotify watches on the overlay, by their path inside */
        bool sys_resource;             /* we hold CAP_SYS_RESOURCE (kern_features) */
        bool cg_tree;                  /* the helper has cg_open_procs_dir() as CKPT_CG_FD_* */
        bool page_server;              /* the pages go to a page server too (CKPT_PAGE_FD_DUMP) */
        struct ckpt_precopy *precopy;  /* memory pre-copy first (shared with the caller), or NULL */
        bool postcopy;                 /* the pages served lazily on CKPT_PAGE_FD_DUMP after the commit */
        pid_t *pids;                   /* the instance's processes, listed by the daemon */
        size_t n_pids;
        dev_t console_dev, console_rdev; /* the console's pty slave now */
        /* restore */
        struct inst_restore_plan plan;
        bool userns;
        uint32_t id_base;
        bool lazy;                     /* criu restore --lazy-pages (a post-copy move's target) */
        struct inst_waiter stopw;      /* take: the end of the dumped instance */
        struct inst_waiter *client;    /* who asked, told at the very end */
        struct op *op;
        char work_id[CG_WORK_ID_MAX + 1];
};

/* ---- paths, metadata ---------------------------------------------------- */

static void path_in(const char *dir, const char *leaf, char *buf, size_t len) {
        snprintf(buf, len, "%s/%s", dir, leaf);
}

static void marker_path(const struct vsd *v, const char *name, char *buf, size_t len) {
        snprintf(buf, len, "%s/%s.checkpointing", v->set.run_dir, name);
}

static int meta_write(const char *dir, const struct ckpt_meta *m, vs_error *err) {
        char path[700];
        path_in(dir, INST_CHECKPOINT_META, path, sizeof(path));
        json_t *tty = json_array(), *view = json_array();
        for (unsigned k = 0; tty && k < m->n_tty; k++)
                json_array_append_new(tty, json_string(m->tty[k]));
        for (unsigned k = 0; view && k < m->n_view; k++)
                json_array_append_new(view, json_string(m->view[k]));
        json_t *j = json_pack("{s:s, s:I, s:b, s:I, s:o, s:o, s:b, s:I, s:b}", "id", m->id, "taken",
                              (json_int_t) m->taken, "leave_running", m->leave_running, "started_at",
                              (json_int_t) m->started_at, "ttys", tty, "view", view, "privileged", m->privileged,
                              "id_base", (json_int_t) m->id_base, "link", m->link);
        _cleanup_free_ char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!text)
                return vs_err(err, ENOMEM, "format %s", path);
        /* not synced here: it lies with the images, which the commit
         * syncs all together before their one rename */
        int r = vs_write_replace(path, text, strlen(text), 0600);
        return r < 0 ? vs_err(err, -r, "write %s", path) : 0;
}

static int meta_read(const char *dir, struct ckpt_meta *m, vs_error *err) {
        char path[700];
        path_in(dir, INST_CHECKPOINT_META, path, sizeof(path));
        _cleanup_free_ char *text = NULL;
        int r = vs_read_file(path, 65536, &text, NULL);
        if (r < 0)
                return vs_err(err, -r, "read %s", path);
        *m = (struct ckpt_meta){ 0 };
        json_t *j = json_loads(text, 0, NULL), *tty = NULL, *view = NULL;
        const char *id = NULL;
        json_int_t taken = 0, started = 0, base = 0;
        int leave = 0, priv = 0, link = 0;
        if (!j || json_unpack(j, "{s:s, s:I, s:b, s:I, s:o, s:o, s:b, s:I, s:b}", "id", &id, "taken", &taken,
                              "leave_running", &leave, "started_at", &started, "ttys", &tty, "view", &view,
                              "privileged", &priv, "id_base", &base, "link", &link) < 0 ||
            !json_is_array(tty) || !json_is_array(view)) {
                json_decref(j);
                return vs_err_msg(err, EINVAL, "%s is not a checkpoint's description", path);
        }
        snprintf(m->id, sizeof(m->id), "%s", id);
        m->taken = taken;
        m->leave_running = leave;
        m->started_at = started;
        m->privileged = priv;
        m->id_base = (uint64_t) base;
        m->link = link;
        size_t k;
        json_t *e;
        json_array_foreach(tty, k, e) if (json_is_string(e) && m->n_tty < CKPT_TTY_MAX)
                snprintf(m->tty[m->n_tty++], sizeof(m->tty[0]), "%s", json_string_value(e));
        json_array_foreach(view, k, e) if (json_is_string(e) && m->n_view < CKPT_VIEW_MAX)
                snprintf(m->view[m->n_view++], sizeof(m->view[0]), "%s", json_string_value(e));
        json_decref(j);
        return 0;
}

/* The id of dir's checkpoint, "" when it has none. */
static void meta_id(const char *dir, char id[CKPT_ID_LEN + 1]) {
        struct ckpt_meta m;
        id[0] = '\0';
        if (meta_read(dir, &m, NULL) >= 0)
                snprintf(id, CKPT_ID_LEN + 1, "%s", m.id);
}

static void new_id(char id[CKPT_ID_LEN + 1]) {
        uint8_t b[CKPT_ID_LEN / 2] = { 0 };
        if (getrandom(b, sizeof(b), 0) != (ssize_t) sizeof(b)) {
                uint64_t t = (uint64_t) time(NULL) ^ (uint64_t) getpid() << 32;
                memcpy(b, &t, sizeof(t));
        }
        for (size_t k = 0; k < sizeof(b); k++)
                snprintf(id + 2 * k, 3, "%02x", b[k]);
}

/* "view-proc-meminfo" for /proc/meminfo: the key a view file's mount goes by */
static void view_key(const char *path, char *buf, size_t len) {
        snprintf(buf, len, "view%s", path);
        for (char *p = buf; *p; p++)
                if (*p == '/')
                        *p = '-';
}

/* ---- running CRIU ------------------------------------------------------- */

/* The last error CRIU logged, "" if none: what follows "Error (file:line): ". */
static void criu_log_error(const char *log, char *buf, size_t len) {
        _cleanup_free_ char *text = NULL;
        buf[0] = '\0';
        if (vs_read_file(log, 16 << 20, &text, NULL) < 0)
                return;
        /* the first error that says why: CRIU also logs what follows from
         * it, and complaints it gets over */
        static const char *const noise[] = { "RLIMIT_NOFILE", "FAILED.", "cgroupd: recv req error", "execvp(",
                                             "tables-restore -V failed", "tables-legacy-restore -V failed",
                                             "tables-save -V failed", "tables-legacy-save -V failed", NULL };
        const char *last = NULL, *first = NULL;
        for (const char *p = text; (p = strstr(p, "Error (")); p++) {
                const char *eol = strchr(p, '\n');
                bool skip = false;
                for (size_t k = 0; noise[k]; k++) {
                        const char *hit = strstr(p, noise[k]);
                        if (hit && (!eol || hit < eol))
                                skip = true;
                }
                if (!skip && !first)
                        first = p;
                last = p;
        }
        if (first)
                last = first;
        if (!last)
                return;
        const char *msg = strstr(last, "): ");
        const char *eol = strchr(last, '\n');
        if (!msg || (eol && msg > eol))
                msg = last;
        else
                msg += 3;
        size_t n = eol ? (size_t) (eol - msg) : strlen(msg);
        snprintf(buf, len, "%.*s", (int) (n < len - 1 ? n : len - 1), msg);
}

/* Until CRIU ends: 0 and its status; with abort_fd >= 0, a byte 'r' read
 * there meanwhile kills it first (*ret_aborted), its end not heeded.
 * Asleep in poll() on CRIU's pidfd and abort_fd: no wake-ups while it
 * runs, and its end or the word heard at once. */
static int criu_wait(pid_t pid, int abort_fd, int *ret_status, bool *ret_aborted) {
        _cleanup_close_ int pidfd = abort_fd >= 0 ? sys_pidfd_open(pid, 0) : -EBADF;
        if (abort_fd >= 0 && pidfd < 0)
                return pidfd;
        while (abort_fd >= 0) {
                struct pollfd p[2] = { { pidfd, POLLIN, 0 }, { abort_fd, POLLIN, 0 } };
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (p[0].revents)
                        break; /* CRIU has ended */
                if (!p[1].revents)
                        continue;
                char c = 0;
                if (read(abort_fd, &c, 1) == 1 && c == 'r') {
                        (void) kill(pid, SIGKILL);
                        *ret_aborted = true;
                }
                abort_fd = -1; /* one word, or the loop's end: nothing more */
        }
        while (waitpid(pid, ret_status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

/* Run CRIU with argv (argv[0] is its path), wait for it (abort_fd,
 * ret_aborted: criu_wait()); its stdio on /dev/null (it logs to its -o
 * file), fds below keep_below and pass_fd (-1: none) kept, PATH set for
 * the tools it runs (ip, for the addresses it restores), and env (NULL,
 * or up to CRIU_ENV_MAX "NAME=value", NULL-terminated) for its action
 * scripts.  It dies with
 * the helper, which dies with the daemon.
 *
 * CRIU mounts cgroupfs for itself (dump and restore).  Made in the host's
 * cgroup namespace, a plain cgroup2 mount would take nsdelegate and
 * memory_recursiveprot off the host's one cgroup2 superblock: like lxcfs,
 * it runs in a namespace rooted at every hierarchy's root, where paths read
 * as the host's and its mounts change nothing. */
static int criu_run_abortable(struct cg_manager *cg, char **argv, const char *const *env, int keep_below, int pass_fd,
                              int abort_fd, bool *ret_aborted, const char *log, const char *what, vs_error *err) {
        if (cg && cg_unshare_ns_at_root(cg, err) < 0)
                return vs_err_prefix(err, "%s: give criu a cgroup namespace of its own", what);
        pid_t pid = fork();
        if (pid < 0)
                return vs_err(err, errno, "%s: fork", what);
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
                        _exit(127);
                for (int fd = 3; fd < keep_below; fd++) {
                        int fl = fcntl(fd, F_GETFD);
                        if (fl >= 0)
                                (void) fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
                }
                int fl = pass_fd >= 0 ? fcntl(pass_fd, F_GETFD) : -1;
                if (fl >= 0)
                        (void) fcntl(pass_fd, F_SETFD, fl & ~FD_CLOEXEC);
                char *envp[2 + CRIU_ENV_MAX + 1] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C" };
                for (size_t k = 0; env && env[k] && k < CRIU_ENV_MAX; k++)
                        envp[2 + k] = (char *) env[k];
                execve(argv[0], argv, envp);
                _exit(127);
        }
        int status = 0;
        bool aborted = false;
        int r = criu_wait(pid, abort_fd, &status, &aborted);
        if (r < 0)
                return vs_err(err, -r, "%s: wait for criu", what);
        if (ret_aborted)
                *ret_aborted = aborted;
        if (aborted)
                return vs_err_msg(err, ECANCELED, "%s: criu killed: the target did not restore it", what);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        char why[400];
        criu_log_error(log, why, sizeof(why));
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !why[0])
                return vs_err_msg(err, ENOEXEC, "%s: cannot run %s", what, argv[0]);
        if (!why[0])
                snprintf(why, sizeof(why), "criu %s %d (see %s)", WIFEXITED(status) ? "exited with status" : "killed by signal",
                         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), log);
        return vs_err_msg(err, EIO, "%s: %s", what, why);
}

static int criu_run(struct cg_manager *cg, char **argv, const char *const *env, int keep_below, int pass_fd,
                    const char *log, const char *what, vs_error *err) {
        return criu_run_abortable(cg, argv, env, keep_below, pass_fd, -1, NULL, log, what, err);
}

struct argv {
        char *a[160];
        char buf[16384];
        size_t n, used;
};

static void arg(struct argv *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(struct argv *v, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(v->buf + v->used, sizeof(v->buf) - v->used, fmt, ap);
        va_end(ap);
        if (k < 0 || (size_t) k >= sizeof(v->buf) - v->used || v->n + 1 >= ELEMENTSOF(v->a))
                return; /* caught by argv_full() */
        v->a[v->n++] = v->buf + v->used;
        v->used += (size_t) k + 1;
}

static bool argv_full(const struct argv *v) {
        return v->n + 1 >= ELEMENTSOF(v->a) || v->used + 256 >= sizeof(v->buf);
}

/* ---- the dump (in the helper) ------------------------------------------- */

struct scan {
        struct ckpt_op *op;
        pid_t *pids;
        size_t n, cap;
        vs_error *err;
};

static int collect_pid(pid_t pid, void *userdata) {
        struct scan *s = userdata;
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 64;
                pid_t *p = realloc(s->pids, cap * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                s->pids = p;
                s->cap = cap;
        }
        s->pids[s->n++] = pid;
        return 0;
}

static bool in_set(const struct scan *s, pid_t pid) {
        for (size_t k = 0; k < s->n; k++)
                if (s->pids[k] == pid)
                        return true;
        return false;
}

static pid_t ppid_of(pid_t pid) {
        char path[64];
        _cleanup_free_ char *text = NULL;
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        if (vs_read_file(path, 65536, &text, NULL) < 0)
                return -1;
        const char *p = strstr(text, "\nPPid:");
        return p ? (pid_t) atoi(p + 6) : -1;
}

/* Every process of the instance must be init's descendant: CRIU dumps a
 * tree, and a pid namespace only whole.  A command `vsctl exec` started is
 * the daemon's child. */
static int check_tree(struct scan *s) {
        struct ckpt_op *op = s->op;
        for (size_t k = 0; k < s->n; k++) {
                pid_t p = s->pids[k];
                for (int depth = 0; p != op->init_pid && depth < 4096; depth++) {
                        pid_t up = ppid_of(p);
                        if (up <= 0 || !in_set(s, up)) {
                                if (ppid_of(s->pids[k]) < 0)
                                        break; /* it exited meanwhile */
                                return vs_err_msg(s->err, EBUSY,
                                                  "instance '%s' runs a command started by 'vsctl exec' (host pid %d), "
                                                  "which a checkpoint cannot take: wait for it to end",
                                                  op->name, (int) s->pids[k]);
                        }
                        p = up;
                }
        }
        return 0;
}

/* What CRIU 4.2 cannot take, refused before it runs (the instance left
 * as it is, with one line that says why):
 *  - a process in a uts, ipc, pid, cgroup, time or user namespace other
 *    than init's: CRIU dumps nested mount and network namespaces only.
 *    systemd makes a uts namespace for each unit with ProtectHostname=
 *    (systemd-logind, -hostnamed, -localed, -timedated in Debian 12),
 *    in an unprivileged instance, whose root holds CAP_SYS_ADMIN there;
 *  - in a privileged instance, a process whose ids are not all root's
 *    while we lack CAP_SYS_RESOURCE: CRIU reads every process's limits
 *    (prlimit), which the kernel allows for another user's process only
 *    with that capability (doc/architecture.md, "Checkpoint and
 *    restore"). */
static int check_criu_can(struct scan *s) {
        static const char *const nested[] = { "uts", "ipc", "pid", "cgroup", "time", "user" };
        struct ckpt_op *op = s->op;
        char init_ns[ELEMENTSOF(nested)][64] = { { 0 } };
        for (size_t n = 0; n < ELEMENTSOF(nested); n++) {
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int) op->init_pid, nested[n]);
                ssize_t k = readlink(path, init_ns[n], sizeof(init_ns[n]) - 1);
                if (k < 0)
                        init_ns[n][0] = '\0'; /* a kernel without it */
        }
        for (size_t k = 0; k < s->n; k++) {
                pid_t pid = s->pids[k];
                char comm[32];
                for (size_t n = 0; n < ELEMENTSOF(nested); n++) {
                        char path[64], ns[64] = "";
                        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int) pid, nested[n]);
                        if (!init_ns[n][0] || readlink(path, ns, sizeof(ns) - 1) < 0 || streq(ns, init_ns[n]))
                                continue; /* the same, or exited meanwhile */
                        vs_proc_comm(pid, comm, sizeof(comm));
                        return vs_err_msg(s->err, EOPNOTSUPP,
                                          "instance '%s' runs a process in a %s namespace of its own (%s, host pid %d), "
                                          "which CRIU cannot checkpoint%s",
                                          op->name, nested[n], comm, (int) pid,
                                          streq(nested[n], "uts") ? " (systemd's ProtectHostname=: set it to no for "
                                                                    "that unit inside)"
                                                                  : "");
                }
                if (!op->meta.privileged || op->sys_resource)
                        continue;
                char path[64];
                _cleanup_free_ char *text = NULL;
                snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
                if (vs_read_file(path, 65536, &text, NULL) < 0)
                        continue;
                for (const char *key = "\nUid:"; key; key = streq(key, "\nUid:") ? "\nGid:" : NULL) {
                        const char *l = strstr(text, key);
                        unsigned long id[4] = { 0 };
                        if (!l || sscanf(l + strlen(key), "%lu %lu %lu %lu", &id[0], &id[1], &id[2], &id[3]) != 4 ||
                            (!id[0] && !id[1] && !id[2]))
                                continue;
                        vs_proc_comm(pid, comm, sizeof(comm));
                        return vs_err_msg(s->err, EOPNOTSUPP,
                                          "instance '%s' is privileged and runs a process as host %s %lu (%s, host pid "
                                          "%d): CRIU reads its limits, which needs CAP_SYS_RESOURCE, which vsd lacks "
                                          "on this host",
                                          op->name, streq(key, "\nUid:") ? "uid" : "gid", id[0] ? id[0] : id[1] ? id[1] : id[2],
                                          comm, (int) pid);
                }
        }
        return 0;
}

static void add_tty(struct ckpt_meta *m, dev_t rdev, dev_t dev) {
        char key[48];
        snprintf(key, sizeof(key), "tty[%llx:%llx]", (unsigned long long) rdev, (unsigned long long) dev);
        for (unsigned k = 0; k < m->n_tty; k++)
                if (streq(m->tty[k], key))
                        return;
        if (m->n_tty < CKPT_TTY_MAX)
                snprintf(m->tty[m->n_tty++], sizeof(m->tty[0]), "%s", key);
}

/* The host's terminals open in the tree: the console's pty (on the host's
 * devpts) and /dev/tty.  One of the host's ptys that is not the console
 * now is the console of an earlier daemon, hung up when it died: CRIU
 * cannot take a pty whose master is gone. */
static int scan_ttys(struct scan *s) {
        struct ckpt_op *op = s->op;
        for (size_t k = 0; k < s->n; k++) {
                char dir[64];
                snprintf(dir, sizeof(dir), "/proc/%d/fd", (int) s->pids[k]);
                DIR *d = opendir(dir);
                if (!d)
                        continue; /* exited */
                struct dirent *de;
                while ((de = readdir(d))) {
                        struct stat st;
                        if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISCHR(st.st_mode))
                                continue;
                        bool host_pty = st.st_dev == op->console_dev;
                        bool dev_tty = major(st.st_rdev) == 5 && minor(st.st_rdev) == 0;
                        if (host_pty && st.st_rdev != op->console_rdev) {
                                closedir(d);
                                return vs_err_msg(s->err, EBUSY,
                                                  "instance '%s' holds the console of an earlier vsd (process %d, "
                                                  "pty %u): CRIU cannot take a terminal whose other end is gone; "
                                                  "restart the instance to checkpoint it",
                                                  op->name, (int) s->pids[k], minor(st.st_rdev));
                        }
                        if (host_pty || dev_tty)
                                add_tty(&op->meta, st.st_rdev, st.st_dev);
                }
                closedir(d);
        }
        return 0;
}

/* The view's files bound into init's mount namespace, by their path there:
 * lxcfs's, and vsd's own (view.h). */
static void scan_view(struct ckpt_op *op) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int) op->init_pid);
        _cleanup_free_ char *text = NULL;
        if (vs_read_file(path, 1 << 20, &text, NULL) < 0)
                return;
        for (char *line = text, *eol; line && *line; line = eol ? eol + 1 : NULL) {
                eol = strchr(line, '\n');
                if (eol)
                        *eol = '\0';
                char mp[256], fstype[64];
                const char *sep = strstr(line, " - ");
                if (!sep || sscanf(line, "%*s %*s %*s %*s %255s", mp) != 1 || sscanf(sep + 3, "%63s", fstype) != 1)
                        continue;
                bool own = false;
                for (int f = 0; f < VIEW_N_OWN; f++)
                        if (mp[0] == '/' && streq(mp + 1, view_own_path(f)))
                                own = true;
                if ((own || strncmp(fstype, "fuse.lxcfs", 10) == 0) && op->meta.n_view < CKPT_VIEW_MAX &&
                    !strchr(mp, '\\'))
                        snprintf(op->meta.view[op->meta.n_view++], sizeof(op->meta.view[0]), "%s", mp);
        }
}

/* ---- the cgroup tree ------------------------------------------------------ */

struct cgwalk {
        FILE *out;
        FILE *sub; /* CKPT_SUBTREE */
        uid_t owner; /* the instance's root on the host: a cgroup it made */
        unsigned n;
};

/* One line of CKPT_SUBTREE: the controllers the cgroup dfd (rel below the
 * root, "/" the root itself) enables for its children, "memory,pids rel";
 * nothing for none. */
static void subtree_save(FILE *f, int dfd, const char *rel) {
        char buf[512];
        _cleanup_close_ int fd = f ? openat(dfd, "cgroup.subtree_control", O_RDONLY | O_CLOEXEC) : -EBADF;
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
        if (n <= 0)
                return;
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        for (char *c = buf; *c; c++)
                if (*c == ' ')
                        *c = ',';
        if (buf[0])
                fprintf(f, "%s %s\n", buf, rel);
}

static int cgtree_walk(struct cgwalk *w, int dfd, const char *prefix, unsigned depth) {
        DIR *d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return -errno;
        }
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(d))) {
                if (de->d_type != DT_DIR || de->d_name[0] == '.' || strchr(de->d_name, '\n'))
                        continue;
                char rel[512];
                struct stat st;
                int n = snprintf(rel, sizeof(rel), "%s%s%s", prefix, prefix[0] ? "/" : "", de->d_name);
                if (n < 0 || (size_t) n >= 256 || ++w->n > CKPT_CG_MAX || depth >= CKPT_CG_DEPTH)
                        return closedir(d), -E2BIG;
                int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0 || fstat(sub, &st) < 0) {
                        if (sub >= 0)
                                close(sub);
                        continue; /* removed meanwhile */
                }
                fprintf(w->out, "%d %s\n", st.st_uid == w->owner ? 1 : 0, rel);
                subtree_save(w->sub, sub, rel);
                r = cgtree_walk(w, sub, rel, depth + 1);
        }
        closedir(d);
        return r;
}

/* The cgroups below the instance's cgroup namespace root (systemd's
 * slices, services, scopes), one a line ("1 system.slice/ssh.service", 1
 * when the instance's root made it), into dir's CKPT_CGROUPS.  CRIU
 * makes again only the cgroups that hold a process, but systemd watches
 * (inotify) the cgroup.events of every unit's cgroup, an empty slice's
 * too, and CRIU's restore of those watches fails where the directory is
 * missing: cgtree_make() makes them all before CRIU runs.  Read from the
 * host's side of the cgroup tree, never through the instance's mounts. */
static void cgtree_save(struct ckpt_op *op, const char *dir) {
        if (!op->cg_tree)
                return; /* no cgroup2 */
        int fd = dup(CKPT_CG_FD_DUMP);
        char path[800], sub[800];
        path_in(dir, CKPT_CGROUPS, path, sizeof(path));
        path_in(dir, CKPT_SUBTREE, sub, sizeof(sub));
        struct cgwalk w = { .owner = op->meta.privileged ? 0 : (uid_t) op->meta.id_base };
        w.out = fd >= 0 ? fopen(path, "we") : NULL;
        w.sub = w.out ? fopen(sub, "we") : NULL;
        if (w.sub)
                subtree_save(w.sub, fd, "/");
        int r = fd < 0 ? -errno : !w.sub ? -errno : cgtree_walk(&w, fd, "", 0);
        if (fd >= 0 && !w.sub)
                close(fd);
        if (w.out && fclose(w.out) != 0 && r >= 0)
                r = -EIO;
        if (w.sub && fclose(w.sub) != 0 && r >= 0)
                r = -EIO;
        if (r < 0)
                log_warn("Instance %s: cannot list its cgroups for the checkpoint: %s; a restore may miss some",
                         op->name, strerror(-r));
}

/* One relative cgroup path of CKPT_CGROUPS, checked: no empty, "." or
 * ".." component (the file is the daemon's, but nothing read back leaves
 * the instance's tree). */
static bool cgpath_ok(const char *p) {
        if (!p[0] || p[0] == '/')
                return false;
        for (const char *c = p; *c;) {
                size_t n = strcspn(c, "/");
                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                c += n;
                if (*c == '/')
                        c++;
        }
        return true;
}

/* cgtree_save()'s cgroups made below the instance's cgroup namespace root
 * (the helper's own cgroup now), the instance root's given to it again as
 * systemd's delegation does: the directory and the files that move
 * processes and controllers. */
static int cgtree_make(struct ckpt_op *op, const char *dir, vs_error *err) {
        char path[800];
        path_in(dir, CKPT_CGROUPS, path, sizeof(path));
        _cleanup_free_ char *text = NULL;
        int r = vs_read_file(path, 1 << 20, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return vs_err(err, -r, "read %s", path);
        if (!op->cg_tree)
                return 0; /* no cgroup2 */
        int root = CKPT_CG_FD_RESTORE;
        for (char *line = text, *eol; line && *line; line = eol ? eol + 1 : NULL) {
                eol = strchr(line, '\n');
                if (eol)
                        *eol = '\0';
                if ((line[0] != '0' && line[0] != '1') || line[1] != ' ' || !cgpath_ok(line + 2))
                        return vs_err_msg(err, EBADMSG, "%s holds '%.64s', not a cgroup of the instance", path, line);
                const char *rel = line + 2;
                if (mkdirat(root, rel, 0755) < 0 && errno != EEXIST)
                        return vs_err(err, errno, "make the cgroup %s of '%s'", rel, op->name);
                if (line[0] != '1' || op->meta.privileged)
                        continue;
                static const char *const files[] = { "", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control" };
                for (size_t k = 0; k < ELEMENTSOF(files); k++) {
                        char f[600];
                        snprintf(f, sizeof(f), "%s%s%s", rel, files[k][0] ? "/" : "", files[k]);
                        if (fchownat(root, f, (uid_t) op->id_base, (gid_t) op->id_base, AT_SYMLINK_NOFOLLOW) < 0 &&
                            errno != ENOENT)
                                return vs_err(err, errno, "give the cgroup %s to '%s'", rel, op->name);
                }
        }
        return 0;
}

/* For ckpt_action_main(): one controller name as cgroupfs spells them. */
static bool ctl_name_ok(const char *c, size_t n) {
        if (n == 0 || n > 32)
                return false;
        for (size_t k = 0; k < n; k++)
                if (!((c[k] >= 'a' && c[k] <= 'z') || (c[k] >= '0' && c[k] <= '9') || c[k] == '_'))
                        return false;
        return true;
}

int ckpt_action_main(const char *action) {
        const char *restoring = getenv(CKPT_ENV_RESTORING), *cg_root = getenv(CKPT_ENV_CG_ROOT);
        if (!streq(action, "post-setup-namespaces") || !restoring)
                return 0;
        if (!cg_root)
                return -EINVAL;
        char path[800];
        path_in(restoring, CKPT_SUBTREE, path, sizeof(path));
        _cleanup_free_ char *text = NULL;
        if (vs_read_file(path, 1 << 20, &text, NULL) < 0)
                return 0; /* nothing saved: an older checkpoint's */
        _cleanup_close_ int root = open(cg_root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (root < 0)
                return -errno;
        for (char *line = text, *eol; line && *line; line = eol ? eol + 1 : NULL) {
                eol = strchr(line, '\n');
                if (eol)
                        *eol = '\0';
                char *rel = strchr(line, ' ');
                if (!rel)
                        continue;
                *rel++ = '\0';
                if (!streq(rel, "/") && !cgpath_ok(rel))
                        continue;
                char file[600];
                snprintf(file, sizeof(file), "%s/cgroup.subtree_control", streq(rel, "/") ? "." : rel);
                /* one at a time: a controller this host lacks (or has
                 * given elsewhere) costs only its own files, which CRIU
                 * then names if a watch needs one */
                for (const char *c = line; *c;) {
                        size_t n = strcspn(c, ",");
                        char w[40];
                        if (ctl_name_ok(c, n)) {
                                int len = snprintf(w, sizeof(w), "+%.*s", (int) n, c);
                                int fd = openat(root, file, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
                                if (fd >= 0) {
                                        if (write(fd, w, (size_t) len) < 0)
                                                fprintf(stderr, "vsd: enable %s in %s: %s\n", w + 1, rel, strerror(errno));
                                        close(fd);
                                }
                        }
                        c += n;
                        if (*c == ',')
                                c++;
                }
        }
        return 0;
}

/* CRIU's action script for one dump (op->dir's CKPT_HOOK): at
 * action, body (quoted by the caller); removed after CRIU ends, so nothing
 * to sync. */
static int hook_write(struct ckpt_op *op, const char *action, const char *what, const char *body, vs_error *err) {
        char path[700], text[2400];
        path_in(op->dir, CKPT_HOOK, path, sizeof(path));
        int n = snprintf(text, sizeof(text),
                         "#!/bin/sh\n"
                         "# CRIU's %s action (vsd): %s\n"
                         "[ \"$CRTOOLS_SCRIPT_ACTION\" = %s ] || exit 0\n"
                         "%s",
                         action, what, action, body);
        if (n < 0 || (size_t) n >= sizeof(text))
                return vs_err_msg(err, ENAMETOOLONG, "CRIU's %s action script is too long", action);
        int r = vs_write_replace(path, text, (size_t) n, 0700);
        return r < 0 ? vs_err(err, -r, "write %s", path) : 0;
}

/* The restore's action script: at post-setup-namespaces, when CRIU has
 * moved init into its cgroup through the namespace root and forked
 * nothing else yet, ckpt_action_main() enables the controllers the dump
 * saw.  Not before: CRIU places init through the namespace root, which no
 * process may enter once it gives controllers to its children; not after:
 * the processes' inotify watches on their cgroups' files (systemd's on
 * memory.events) are made again before CRIU sets any cgroup's files, and
 * those files exist only where the parent enables the controller.  The
 * script is this binary itself (ret_script), its arguments in CRIU's
 * environment (ret_env, NULL-terminated): nothing on disk. */
static void restore_action(const char *restoring, const char *cg_root, char ret_script[static 64],
                           char ret_env[2][900], const char *env[3]) {
        snprintf(ret_script, 64, "/proc/%d/exe", (int) getpid());
        snprintf(ret_env[0], 900, CKPT_ENV_RESTORING "=%s", restoring);
        snprintf(ret_env[1], 900, CKPT_ENV_CG_ROOT "=%s", cg_root);
        env[0] = ret_env[0];
        env[1] = ret_env[1];
        env[2] = NULL;
}

/* CRIU's network lock left in the instance's namespace by a dump that
 * failed half-way, and its TCP repair mode (ckptsock.h), turned off first
 * as CRIU's network_unlock() does. */
static void unlock_network(pid_t init_pid, const char *name) {
        char path[64];
        int socks = ckpt_sock_repair_off(init_pid);
        if (socks > 0)
                log_info("Instance %s: turned CRIU's repair mode off on %d TCP socket(s)", name, socks);
        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) init_pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        vs_error err = { 0 };
        if (fd < 0)
                return;
        int n = fw_netns_drop_tables(fd, "CRIU-", &err);
        if (n < 0)
                log_warn("Instance %s: %s, ignoring", name, err.msg);
        else if (n > 0)
                log_info("Instance %s: removed %d nftables table(s) of CRIU's network lock", name, n);
}

/* A post-copy dump's word once committed: a byte into this helper's pipe.
 * A test hook (VSD_TEST_COMMIT_HOLD=FILE) holds it first, committed and
 * silent, while FILE exists (FILE.held says so): the window before the
 * daemon hears of the commit. */
static void post_commit_word(char *buf, size_t len) {
        const char *hold = getenv("VSD_TEST_COMMIT_HOLD");
        char wait[500] = "";
        if (hold && hold[0] == '/' && !strchr(hold, '\''))
                snprintf(wait, sizeof(wait), ": >'%s.held'\nwhile [ -e '%s' ]; do sleep 0.05; done\n", hold, hold);
        snprintf(buf, len, "%sprintf c >/proc/%d/fd/%d 2>/dev/null\nexit 0\n", wait, (int) getpid(),
                 CKPT_COMMITTED_FD_DUMP);
}

/* A post-copy dump's action: the instance frozen first (its cgroup's
 * freezer), so that a CRIU dying from now on (with the daemon) lets no
 * process run with its TCP sockets still in repair mode (ckptsock.h):
 * they run again only once recovered (ckpt_recover_lazy) or, the commit
 * heard, once the move thaws them with CRIU still holding them
 * (committed_read).  Then the commit, then the word. */
static int write_postcopy_hook(struct ckpt_op *op, const char *link, vs_error *err) {
        char freezer[600], word[700], body[2000];
        int r = cg_freezer_file(op->i->vsd->cg, op->name, freezer, sizeof(freezer));
        if (r < 0)
                return vs_err(err, -r, "find the freezer of '%s' (a post-copy dump freezes it at its commit)", op->name);
        if (strchr(freezer, '\''))
                return vs_err_msg(err, EINVAL, "the freezer's path %s has a quote", freezer);
        post_commit_word(word, sizeof(word));
        int pid = (int) getpid();
        snprintf(body, sizeof(body),
                 "/proc/%d/exe --checkpoint-freeze '%s' 1 || exit 1\n"
                 "/proc/%d/exe --checkpoint-commit '%s' %s || { /proc/%d/exe --checkpoint-freeze '%s' 0; exit 1; }\n%s",
                 pid, freezer, pid, op->dir, link, pid, freezer, word);
        return hook_write(op, "post-dump", "the instance frozen, the checkpoint's images put in place", body, err);
}

static int write_hook(struct ckpt_op *op, vs_error *err) {
        char body[1400], link[16] = "";
        if (strchr(op->dir, '\''))
                return vs_err_msg(err, EINVAL, "the instance's directory %s has a quote in its path", op->dir);
        /* a dump that ends the instance cuts its link once committed
         * (ckpt_commit_main) */
        if (!op->meta.leave_running && op->meta.link)
                netw_host_ifname(op->i->vsd, op->name, link);
        /* post-copy: the move hears of the commit at once (the dump goes
         * on serving the pages), through this helper's pipe (CRIU passes
         * its scripts none of the fds it was given) */
        if (op->postcopy)
                return write_postcopy_hook(op, link, err);
        snprintf(body, sizeof(body), "exec /proc/%d/exe --checkpoint-commit '%s' %s\n", (int) getpid(), op->dir, link);
        return hook_write(op, "post-dump", "the checkpoint's images put in place", body, err);
}

/* What a dump and a pre-dump of op's instance both say to CRIU: the
 * command (dump, pre-dump) into dir, its log there, and what it cannot
 * find out itself (this file's head). */
static void dump_args(struct ckpt_op *op, struct argv *a, const char *cmd, const char *dir) {
        arg(a, "%s", op->criu);
        arg(a, "%s", cmd);
        arg(a, "-t");
        arg(a, "%d", (int) op->init_pid);
        arg(a, "-D");
        arg(a, "%s", dir);
        arg(a, "-o");
        arg(a, "%s.log", cmd);
        arg(a, "-v4");
        arg(a, "--timeout");
        arg(a, CKPT_CRIU_TIMEOUT);
        arg(a, "--tcp-established");
        arg(a, "--file-locks");
        arg(a, "--network-lock");
        arg(a, "nftables");
        arg(a, "--manage-cgroups=soft");
        arg(a, "--external");
        arg(a, "mnt[]");
        arg(a, "--external");
        arg(a, "mnt[/dev/console]:console");
        for (unsigned k = 0; k < op->meta.n_view; k++) {
                char key[160];
                view_key(op->meta.view[k], key, sizeof(key));
                arg(a, "--external");
                arg(a, "mnt[%s]:%s", op->meta.view[k], key);
        }
        for (unsigned k = 0; k < op->meta.n_tty; k++) {
                arg(a, "--external");
                arg(a, "%s", op->meta.tty[k]);
        }
        for (unsigned k = 0; k < op->watches.n; k++) {
                arg(a, "--irmap-scan-path");
                arg(a, "%s", op->watches.path[k]);
        }
}

static uint64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static int fsync_tree(const char *dir);

/* One pre-dump pass n into tmp/pre-n (its parent pre-(n-1)): announced on
 * the link, its pages through a tee to the target's page server and ours
 * there, the images on disk after it (the commit syncs only the dump's). */
static int precopy_pass(struct ckpt_op *op, const char *tmp, unsigned n, uint64_t *ret_bytes, vs_error *err) {
        char dir[800], log[900], prev[32];
        snprintf(dir, sizeof(dir), "%s/pre-%u", tmp, n);
        snprintf(log, sizeof(log), "%s/pre-dump.log", dir);
        snprintf(prev, sizeof(prev), "../pre-%u", n - 1);
        /* searchable: the restored processes read their pages there too */
        if (mkdir(dir, 0711) < 0)
                return vs_err(err, errno, "create %s", dir);
        int r = pages_pass_announce(CKPT_PAGE_FD_DUMP, false, n, err);
        if (r < 0)
                return vs_err_prefix(err, "pre-dump");
        struct pages_tee tee = { .tee = -1, .local = -1 };
        _cleanup_close_ int ps = -EBADF;
        r = pages_tee_start_parent(op->criu, CKPT_PAGE_FD_DUMP, dir, n > 1 ? prev : NULL, &tee, &ps, err);
        if (r < 0)
                return vs_err_prefix(err, "pre-dump");
        struct argv a = { .n = 0 };
        dump_args(op, &a, "pre-dump", dir);
        arg(&a, "--track-mem");
        if (n > 1) {
                arg(&a, "--prev-images-dir");
                arg(&a, "%s", prev);
        }
        arg(&a, "--page-server");
        arg(&a, "--ps-socket");
        arg(&a, "%d", ps);
        if (argv_full(&a))
                r = vs_err_msg(err, E2BIG, "the command line for criu is too long");
        else {
                a.a[a.n] = NULL;
                r = criu_run(op->i->vsd->cg, a.a, NULL, 3, ps, log, "pre-dump", err);
        }
        vs_error terr = { 0 };
        safe_close(&ps);
        /* the tee's word says more than CRIU's when the link went; a
         * local page server that ended with CRIU is its consequence */
        if (pages_tee_end(&tee, &terr) < 0 && r >= 0)
                r = vs_err_msg(err, terr.code, "pre-dump: %s", terr.msg);
        else if (r < 0 && terr.code == EPIPE) {
                vs_error criu_err = *err;
                r = vs_err_msg(err, terr.code, "pre-dump: %s (%s)", terr.msg, criu_err.msg);
        }
        if (r < 0) {
                /* CRIU's log of the failed pass beside the instance (the
                 * passes' images go), the message naming it there */
                char kept[700], *at = strstr(err->msg, log);
                path_in(op->dir, "checkpoint-failed.log", kept, sizeof(kept));
                if (rename(log, kept) == 0 && at) {
                        vs_error e = *err;
                        int at_n = (int) (at - err->msg);
                        vs_err_msg(err, e.code, "%.*s%s%s", at_n, e.msg, kept, e.msg + at_n + strlen(log));
                }
                return r;
        }
        int k = fsync_tree(dir);
        if (k < 0)
                return vs_err(err, -k, "sync %s", dir);
        *ret_bytes = pages_bytes_in(dir);
        return 0;
}

/* Memory pre-copy: passes while the instance runs, until the dirty set
 * stops shrinking, is small enough, or the passes are used up.  The
 * number of passes made, for the dump's parent. */
static int precopy_passes(struct ckpt_op *op, const char *tmp, unsigned *ret_n, vs_error *err) {
        struct ckpt_precopy *pc = op->precopy;
        unsigned max = pc->max_passes < 1 ? 1 : pc->max_passes > PAGES_PASS_MAX ? PAGES_PASS_MAX : pc->max_passes;
        uint64_t last = UINT64_MAX, total = 0;
        vs_progress_phase(pc->progress, VS_PHASE_PRECOPY_MEMORY, true);
        unsigned n = 0;
        while (n < max) {
                uint64_t bytes = 0;
                int r = precopy_pass(op, tmp, n + 1, &bytes, err);
                if (r < 0)
                        return r;
                n++;
                total += bytes;
                atomic_store(&pc->passes, n);
                atomic_store(&pc->bytes, total);
                atomic_store(&pc->last_bytes, bytes);
                vs_progress_done(pc->progress, total);
                /* not shrinking by a tenth: another pass would send as
                 * much again */
                if (bytes < pc->enough_bytes || bytes >= last - last / 10)
                        break;
                last = bytes;
        }
        vs_progress_phase(pc->progress, VS_PHASE_CHECKPOINT, true);
        *ret_n = n;
        return 0;
}

/* Post-copy: the dump failed after its commit (its pages not all served).
 * CRIU resumed the processes; frozen at once, they wait for the loop's
 * verdict (the move knows whether the target ran the instance): 'r', the
 * target never ran it, resumes them here as they were (the lock lifted,
 * the link up again); anything else, the target may have run it, kills
 * them, for their peers and disk saw the target's copy since.  The
 * checkpoint goes either way: its lazy pages were never written. */
static int postcopy_broken(struct ckpt_op *op, const char *fin, bool aborted, vs_error *err) {
        struct vsd *v = op->i->vsd;
        vs_error criu_err = *err, e = { 0 };
        (void) cg_freeze(v->cg, op->name, true, NULL);
        char c = aborted ? 'r' : 0, del[700], kept[700];
        while (!aborted && read(CKPT_VERDICT_FD_DUMP, &c, 1) < 0 && errno == EINTR)
                ;
        /* CRIU's log went with the images the commit put in place */
        char committed_log[800];
        path_in(fin, "dump.log", committed_log, sizeof(committed_log));
        path_in(op->dir, "checkpoint-failed.log", kept, sizeof(kept));
        (void) rename(committed_log, kept);
        path_in(op->dir, CKPT_DEL, del, sizeof(del));
        if (rename(fin, del) == 0)
                (void) vs_rm_rf(del);
        (void) vs_fsync_dir(op->dir);
        if (c == 'r') {
                unlock_network(op->init_pid, op->name);
                if (op->meta.link && netw_host_link_set_up(v, &op->i->cfg, true, -1, &e) < 0)
                        fprintf(stderr, "vsd: %s, ignoring\n", e.msg);
                (void) cg_freeze(v->cg, op->name, false, NULL);
                return vs_err_msg(err, criu_err.code, "%s (resumed here)", criu_err.msg);
        }
        (void) kill(op->init_pid, SIGKILL);
        (void) cg_kill(v->cg, op->name, SIGKILL, NULL);
        (void) cg_freeze(v->cg, op->name, false, NULL);
        return vs_err_msg(err, ENOLINK, "the post-copy broke off: %s", criu_err.msg);
}

/* The images in tmp lack the lazy pages: said among them, so that the
 * commit's rename puts the checkpoint in place already marked (synced with
 * the images by the commit). */
static int lazy_mark(const char *tmp, vs_error *err) {
        char path[800];
        path_in(tmp, CKPT_LAZY, path, sizeof(path));
        int r = vs_write_replace(path, "", 0, 0600);
        return r < 0 ? vs_err(err, -r, "write %s", path) : 0;
}

static int dump_run(void *arg_, vs_error *err) {
        struct ckpt_op *op = arg_;
        struct scan s = { .op = op, .err = err, .pids = op->pids, .n = op->n_pids };
        char tmp[700], log[800], hook[700];
        int r = check_tree(&s);
        if (r >= 0)
                r = check_criu_can(&s);
        if (r >= 0)
                r = scan_ttys(&s);
        if (r >= 0)
                r = ckpt_watches_scan(op->name, op->init_pid, op->pids, op->n_pids, &op->watches, err);
        if (r < 0)
                return r;
        scan_view(op);
        path_in(op->dir, CKPT_TMP, tmp, sizeof(tmp));
        path_in(tmp, "dump.log", log, sizeof(log));
        path_in(op->dir, CKPT_HOOK, hook, sizeof(hook));
        (void) vs_rm_rf(tmp);
        /* searchable: the restored processes open their images in it
         * with the instance's ids (the instance's directory keeps
         * everyone else out) */
        if (mkdir(tmp, 0711) < 0)
                return vs_err(err, errno, "create %s", tmp);
        r = meta_write(tmp, &op->meta, err);
        if (r >= 0 && op->postcopy)
                r = lazy_mark(tmp, err);
        if (r >= 0)
                cgtree_save(op, tmp);
        if (r >= 0)
                r = write_hook(op, err);
        if (r < 0)
                return r;
        /* the pages to the target's page server and, through the tee,
         * into tmp as well: the checkpoint here stays whole */
        struct pages_tee tee = { .tee = -1, .local = -1 };
        _cleanup_close_ int ps = -EBADF;
        unsigned n_pre = 0;
        char prev[32];
        snprintf(prev, sizeof(prev), "pre-0");
        if (op->page_server && op->precopy) {
                r = precopy_passes(op, tmp, &n_pre, err);
                if (r >= 0)
                        r = pages_pass_announce(CKPT_PAGE_FD_DUMP, true, n_pre, err);
                snprintf(prev, sizeof(prev), "pre-%u", n_pre);
        }
        if (op->page_server && r >= 0)
                r = pages_tee_start_parent(op->criu, CKPT_PAGE_FD_DUMP, tmp, n_pre > 0 ? prev : NULL, &tee, &ps, err);
        if (op->page_server)
                (void) close(CKPT_PAGE_FD_DUMP);
        if (r < 0) {
                /* a pass or the tee failed: CRIU's pre-dump never holds
                 * the instance, it runs on */
                (void) vs_rm_rf(tmp);
                (void) unlink(hook);
                return r;
        }
        struct argv a = { .n = 0 };
        bool aborted = false;
        dump_args(op, &a, "dump", tmp);
        if (n_pre > 0) {
                /* what changed since the last pass; the rest is its */
                arg(&a, "--track-mem");
                arg(&a, "--prev-images-dir");
                arg(&a, "%s", prev);
        }
        arg(&a, "--action-script");
        arg(&a, "%s", hook);
        if (op->meta.leave_running)
                arg(&a, "--leave-running");
        if (ps >= 0) {
                arg(&a, "--page-server");
                arg(&a, "--ps-socket");
                arg(&a, "%d", ps);
        }
        if (op->precopy)
                atomic_store(&op->precopy->dump_ms, mono_ms());
        if (op->postcopy) {
                /* the anonymous memory stays in CRIU's pipes, served on
                 * the link once the images are committed; the hook
                 * (CKPT_COMMITTED_FD_DUMP) says when */
                arg(&a, "--lazy-pages");
                arg(&a, "--ps-socket");
                arg(&a, "%d", CKPT_PAGE_FD_DUMP);
        }
        if (argv_full(&a))
                r = vs_err_msg(err, E2BIG, "the command line for criu is too long");
        else {
                a.a[a.n] = NULL;
                r = criu_run_abortable(op->i->vsd->cg, a.a, NULL, 3, op->postcopy ? CKPT_PAGE_FD_DUMP : ps,
                                       op->postcopy ? CKPT_VERDICT_FD_DUMP : -1, &aborted, log, "dump", err);
        }
        if (op->postcopy)
                (void) close(CKPT_COMMITTED_FD_DUMP);
        if (op->page_server) {
                /* the tee's word on a failed dump says more than CRIU's */
                vs_error terr = { 0 };
                safe_close(&ps);
                if (pages_tee_end(&tee, &terr) < 0 && r < 0) {
                        vs_error criu_err = *err;
                        r = vs_err_msg(err, terr.code, "dump: %s (%s)", terr.msg, criu_err.msg);
                }
        }
        (void) unlink(hook);
        /* <dir>/checkpoint's, that the hook put in place */
        char id[CKPT_ID_LEN + 1], fin[700];
        path_in(op->dir, INST_CHECKPOINT_DIR, fin, sizeof(fin));
        meta_id(fin, id);
        if (r >= 0 && !streq(id, op->meta.id))
                r = vs_err_msg(err, EIO, "dump: criu ended without the checkpoint in place (see %s)", log);
        if (r < 0 && op->postcopy && streq(id, op->meta.id))
                return postcopy_broken(op, fin, aborted, err);
        if (r < 0) {
                /* its lock, which a dump failing at the wrong moment leaves */
                unlock_network(op->init_pid, op->name);
                /* keep CRIU's log of a failed dump beside the instance */
                char kept[700];
                path_in(op->dir, "checkpoint-failed.log", kept, sizeof(kept));
                (void) rename(log, kept);
                (void) vs_rm_rf(tmp);
                return r;
        }
        /* with --leave-running: what the exchange put aside */
        (void) vs_rm_rf(tmp);
        return 0;
}

/* ---- the restore (in the helper) ---------------------------------------- */

/* ---- the seccomp image ---------------------------------------------------- */

/* CRIU's image framing (criu/include/magic.h): two magics, then each entry
 * as a 32-bit length and a protobuf message. */
#define CKPT_IMG_COMMON_MAGIC 0x54564319u
#define CKPT_SECCOMP_MAGIC 0x64413049u

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/* A protobuf varint at *p, below end. */
static int pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *ret) {
        uint64_t v = 0;
        for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
                uint8_t b = *(*p)++;
                v |= (uint64_t) (b & 0x7f) << shift;
                if (!(b & 0x80)) {
                        *ret = v;
                        return 0;
                }
        }
        return -EBADMSG;
}

/* The next field of a message: its number, wire type and, for a
 * length-delimited one, its bytes; others are skipped over. */
static int pb_field(const uint8_t **p, const uint8_t *end, unsigned *ret_field, uint8_t **ret_data, size_t *ret_len) {
        uint64_t key, v;
        int r = pb_varint(p, end, &key);
        if (r < 0)
                return r;
        *ret_field = (unsigned) (key >> 3);
        *ret_data = NULL;
        *ret_len = 0;
        switch (key & 7) {
        case 0:
                return pb_varint(p, end, &v);
        case 1:
        case 5: {
                size_t n = (key & 7) == 1 ? 8 : 4;
                if ((size_t) (end - *p) < n)
                        return -EBADMSG;
                *p += n;
                return 0;
        }
        case 2:
                r = pb_varint(p, end, &v);
                if (r < 0)
                        return r;
                if (v > (uint64_t) (end - *p))
                        return -EBADMSG;
                *ret_data = (uint8_t *) *p;
                *ret_len = (size_t) v;
                *p += v;
                return 0;
        }
        return -EBADMSG;
}

/* seccomp_filter.filter (field 1): the struct sock_filter array, 8 bytes an
 * instruction: code (16), jt, jf, k (32), little-endian. */
static int filter_notify_to_allow(uint8_t *insns, size_t len, unsigned *changed) {
        if (len % 8)
                return -EBADMSG;
        for (size_t i = 0; i < len; i += 8) {
                uint16_t code = (uint16_t) (insns[i] | insns[i + 1] << 8);
                uint32_t k = le32(insns + i + 4);
                if (code != (BPF_RET | BPF_K) || (k & SECCOMP_RET_ACTION_FULL) != SECCOMP_RET_USER_NOTIF)
                        continue;
                uint32_t allow = SECCOMP_RET_ALLOW;
                for (int b = 0; b < 4; b++)
                        insns[i + 4 + b] = (uint8_t) (allow >> (8 * b));
                (*changed)++;
        }
        return 0;
}

/* A message whose field 1 is, repeated, what fn rewrites in place. */
static int each_field1(uint8_t *msg, size_t len, int (*fn)(uint8_t *, size_t, unsigned *), unsigned *changed) {
        const uint8_t *p = msg, *end = msg + len;
        while (p < end) {
                unsigned field;
                uint8_t *data;
                size_t n;
                int r = pb_field(&p, end, &field, &data, &n);
                if (r < 0)
                        return r;
                if (field == 1 && data && (r = fn(data, n, changed)) < 0)
                        return r;
        }
        return 0;
}

static int seccomp_filter_msg(uint8_t *msg, size_t len, unsigned *changed) {
        return each_field1(msg, len, filter_notify_to_allow, changed);
}

int ckpt_seccomp_notify_to_allow(uint8_t *img, size_t len, unsigned *ret_changed) {
        *ret_changed = 0;
        if (len < 8 || le32(img) != CKPT_IMG_COMMON_MAGIC || le32(img + 4) != CKPT_SECCOMP_MAGIC)
                return -EBADMSG;
        for (size_t p = 8; p < len;) {
                if (len - p < 4)
                        return -EBADMSG;
                size_t n = le32(img + p);
                p += 4;
                if (n > len - p)
                        return -EBADMSG;
                /* seccomp_entry: field 1, repeated seccomp_filter */
                int r = each_field1(img + p, n, seccomp_filter_msg, ret_changed);
                if (r < 0)
                        return r;
                p += n;
        }
        return 0;
}

/* sysinfo() and sched_getaffinity(0) are answered by vsd through the
 * filter's listener; CRIU restores the filter without it (the kernel
 * cannot give an existing filter a listener), where those calls would fail
 * with ENOSYS.  Their notify returns (BPF_RET|BPF_K of SECCOMP_RET_USER_NOTIF)
 * become allow in the images: the kernel's own answer, as while no daemon
 * runs.  The image is parsed (CRIU's framing, the protobuf messages, the
 * filter's instructions), never searched for a byte pattern that could
 * straddle two instructions; same length, so the framing holds. */
static int seccomp_notify_to_allow(const char *dir, vs_error *err) {
        DIR *d = opendir(dir);
        if (!d)
                return vs_err(err, errno, "open %s", dir);
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(d))) {
                if (strncmp(de->d_name, "seccomp", 7) != 0)
                        continue;
                char path[800];
                path_in(dir, de->d_name, path, sizeof(path));
                _cleanup_free_ char *data = NULL;
                size_t len = 0;
                unsigned changed = 0;
                r = vs_read_file(path, 64 << 20, &data, &len);
                if (r < 0) {
                        r = vs_err(err, -r, "read %s", path);
                        break;
                }
                r = ckpt_seccomp_notify_to_allow((uint8_t *) data, len, &changed);
                if (r < 0) {
                        r = vs_err(err, -r, "%s is not a seccomp image this vsd can read", path);
                        break;
                }
                /* readable as CRIU made it: the restored processes read
                 * their images with the instance's ids */
                if (changed && vs_write_atomic(path, data, len, 0644) < 0)
                        r = vs_err(err, EIO, "rewrite %s", path);
                else
                        (void) chmod(path, 0644);
        }
        closedir(d);
        return r;
}

/* The images name the cgroups of the host that dumped (its cgroup parent,
 * the instance's name there): each hierarchy's root of the tree is made
 * the cgroup this helper is in, the instance's here (work_start_fds()
 * moved it there), so that CRIU places the processes in this host's
 * layout, whatever the dumping host's was. */
static int cgroup_roots(struct argv *a, vs_error *err) {
        _cleanup_free_ char *text = NULL;
        int r = vs_read_file("/proc/self/cgroup", 65536, &text, NULL);
        if (r < 0)
                return vs_err(err, -r, "read /proc/self/cgroup");
        for (char *line = text, *eol; line && *line; line = eol ? eol + 1 : NULL) {
                eol = strchr(line, '\n');
                if (eol)
                        *eol = '\0';
                /* "4:memory:/vsd/NAME", "3:cpu,cpuacct:/vsd/NAME", "0::/vsd/NAME" */
                char *ctrl = strchr(line, ':'), *path = ctrl ? strchr(ctrl + 1, ':') : NULL;
                if (!path || path[1] != '/')
                        continue;
                *path++ = '\0';
                ctrl++;
                /* CRIU matches one controller of a co-mounted hierarchy */
                ctrl[strcspn(ctrl, ",")] = '\0';
                arg(a, "--cgroup-root");
                if (*ctrl)
                        arg(a, "%s:%s", ctrl, path);
                else
                        arg(a, "%s", path); /* the unified hierarchy: the default */
        }
        return 0;
}

/* One round of the restored instance's announcement: from eth0
 * (net_announce; nsfd < 0: none) and, routed, from the uplinks that
 * answer for it.  False when nothing was sent (no eth0, or root inside
 * set it down, and no uplink). */
static bool announce_round(struct ckpt_op *op, int nsfd) {
        vs_error aerr = { 0 };
        bool sent = nsfd >= 0 && net_announce(nsfd, "eth0", 1, NULL, &aerr) >= 0;
        if (nsfd >= 0 && !sent && aerr.code != ENODEV && aerr.code != ENETDOWN)
                log_warn("Instance %s: %s, ignoring", op->name, aerr.msg);
        /* routed: the LAN hears it from the uplinks that answer for it */
        return netw_announce_proxied(op->i->vsd, &op->i->cfg, 1) > 0 || sent;
}

static int restore_run(void *arg_, vs_error *err) {
        struct ckpt_op *op = arg_;
        struct inst_restore_plan *p = &op->plan;
        char dir[700], log[800], pidfile[600], console[64], fdlink[64];
        path_in(op->dir, CKPT_RESTORING, dir, sizeof(dir));
        path_in(dir, "restore.log", log, sizeof(log));
        snprintf(pidfile, sizeof(pidfile), "%s/%s.restore.pid", op->run_dir, op->name);
        (void) unlink(pidfile);
        /* fd 4: the private layer's filesystem (or none), 5: the console */
        int layer_fd = p->layer.fd >= 0 ? 4 : -EBADF, slave = 5;
        int r = seccomp_notify_to_allow(dir, err);
        if (r >= 0)
                r = cgtree_make(op, dir, err);
        /* v2, with controllers the instance's cgroups enabled: this
         * helper, and CRIU, wait in the instance's leaf beside the
         * namespace root (<name>/exec), which must be empty when the
         * action script gives controllers to its children
         * (restore_action()); v1's cgroup2 has no controllers */
        char cg_root[512] = "", sub[800], script[64], env_buf[2][900];
        const char *env[3] = { NULL };
        _cleanup_close_ int inst_cg = -EBADF;
        struct stat sst;
        path_in(dir, CKPT_SUBTREE, sub, sizeof(sub));
        if (r >= 0 && op->cg_tree && streq(cg_manager_mode(op->i->vsd->cg), "v2") && stat(sub, &sst) == 0 &&
            sst.st_size > 0) {
                snprintf(fdlink, sizeof(fdlink), "/proc/self/fd/%d", CKPT_CG_FD_RESTORE);
                ssize_t k = readlink(fdlink, cg_root, sizeof(cg_root) - 1);
                inst_cg = openat(CKPT_CG_FD_RESTORE, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (k <= 0 || (size_t) k >= sizeof(cg_root) - 1 || inst_cg < 0)
                        r = vs_err(err, k <= 0 || inst_cg < 0 ? errno : ENAMETOOLONG, "find the cgroup of '%s'", op->name);
                else {
                        cg_root[k] = '\0';
                        restore_action(dir, cg_root, script, env_buf, env);
                }
        }
        if (op->cg_tree)
                (void) close(CKPT_CG_FD_RESTORE); /* not CRIU's */
        if (r < 0)
                return r;
        /* see dump_run(): an older checkpoint's directory may be 0700 */
        if (chmod(dir, 0711) < 0)
                return vs_err(err, errno, "chmod %s", dir);
        /* the lazy-pages daemon starts while the root is mounted below
         * (awaited before CRIU runs): that is the instance's frozen time */
        if (op->lazy && pages_lazy_request(op->i->vsd->set.root, op->name, dir, err) < 0)
                return vs_err_prefix(err, "restore");
        /* CRIU, and the processes it makes, are in the instance's cgroup
         * (--manage-cgroups=ignore), made with its limits by the daemon:
         * work_start_fds() moved us there */
        /* the root in a mount namespace of our own, which CRIU's copies
         * for the instance: nothing goes back to the host's */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
                return vs_err(err, errno, "make a mount namespace for the restore");
        bool image = p->layer.fd >= 0;
        struct start_spec spec = {
                .name = op->name,
                .lower = p->lower,
                .upper = image ? p->layer.ovl_upper : p->layer.upper,
                .work = image ? p->layer.ovl_work : p->layer.work,
                .layer_fd = layer_fd,
                .layer_at = image ? p->layer.mount_at : op->dir,
                .rootfs = p->rootfs,
                .userns = op->userns,
                .id_base = op->id_base,
        };
        r = start_mount_root_here(&spec, err);
        if (r < 0)
                return vs_err_prefix(err, "mount the root of '%s'", op->name);
        /* A place every user may search, in this namespace only: /dev/shm
         * exists on every host, and is covered here by a tmpfs of ours (the
         * host's stays as it is) */
        if (mount("tmpfs", CKPT_EXT_DIR, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k") < 0)
                return vs_err(err, errno, "mount a tmpfs on %s for the restore", CKPT_EXT_DIR);
        snprintf(fdlink, sizeof(fdlink), "/proc/self/fd/%d", slave);
        ssize_t n = readlink(fdlink, console, sizeof(console) - 1);
        if (n < 0)
                return vs_err(err, errno, "find the new console's pty");
        console[n] = '\0';

        struct argv a = { .n = 0 };
        int next_fd = 6;
        arg(&a, "%s", op->criu);
        arg(&a, "restore");
        arg(&a, "-D");
        arg(&a, "%s", dir);
        arg(&a, "-o");
        arg(&a, "restore.log");
        arg(&a, "-v4");
        arg(&a, "--root");
        arg(&a, "%s", p->rootfs);
        arg(&a, "--restore-detached");
        arg(&a, "--pidfile");
        arg(&a, "%s", pidfile);
        arg(&a, "--tcp-established");
        arg(&a, "--file-locks");
        arg(&a, "--network-lock");
        arg(&a, "nftables");
        arg(&a, "--manage-cgroups=soft");
        arg(&a, "--external");
        arg(&a, "mnt[]");
        arg(&a, "--external");
        arg(&a, "mnt[console]:%s", console);
        for (unsigned k = 0; k < op->meta.n_view; k++) {
                char key[160], src[700];
                const char *mp = op->meta.view[k];
                view_key(mp, key, sizeof(key));
                /* vsd's own file made afresh for this run; lxcfs's as it
                 * serves now, else the kernel's own file */
                int own = -1;
                for (int f = 0; f < VIEW_N_OWN; f++)
                        if (streq(mp + 1, view_own_path(f)))
                                own = f;
                /* (a path may be lxcfs's on one host and vsd's on another:
                 * /proc/stat is vsd's on cgroup v2 only) */
                if (own >= 0 && (sinfo_own_file_path(op->i->vsd->sinfo, op->name, own, src, sizeof(src)) < 0 ||
                                 access(src, F_OK) < 0))
                        own = -1;
                if (own < 0) {
                        snprintf(src, sizeof(src), "%s%s", p->view ? p->view : "", mp);
                        if (!p->view || access(src, F_OK) < 0)
                                snprintf(src, sizeof(src), "%s", mp);
                }
                /* bound onto a file of our own tmpfs: CRIU binds from
                 * there as the instance's root, who may not search the
                 * daemon's directories on the way to src */
                char at[300];
                snprintf(at, sizeof(at), "%s/%s", CKPT_EXT_DIR, key);
                int fd = open(at, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0444);
                if (fd < 0)
                        return vs_err(err, errno, "create %s", at);
                close(fd);
                if (mount(src, at, NULL, MS_BIND, NULL) < 0)
                        return vs_err(err, errno, "bind %s for criu", src);
                arg(&a, "--external");
                arg(&a, "mnt[%s]:%s", key, at);
        }
        for (unsigned k = 0; k < op->meta.n_tty; k++) {
                /* each terminal of the host's in the tree is the new console */
                int fd = fcntl(slave, F_DUPFD, next_fd);
                if (fd < 0)
                        return vs_err(err, errno, "pass the console to criu");
                next_fd = fd + 1;
                arg(&a, "--inherit-fd");
                arg(&a, "fd[%d]:%s", fd, op->meta.tty[k]);
        }
        if (p->inner_link[0]) {
                arg(&a, "--external");
                arg(&a, "netdev[eth0]:%s", p->inner_link);
        }
        r = cgroup_roots(&a, err);
        if (r < 0)
                return r;
        if (inst_cg >= 0) {
                arg(&a, "--action-script");
                arg(&a, "%s", script);
                /* after cgroup_roots(), which reads where we are */
                if (mkdirat(inst_cg, CG_EXEC_LEAF, 0755) < 0 && errno != EEXIST)
                        return vs_err(err, errno, "make the cgroup %s of '%s'", CG_EXEC_LEAF, op->name);
                _cleanup_close_ int procs = openat(inst_cg, CG_EXEC_LEAF "/cgroup.procs", O_WRONLY | O_CLOEXEC);
                if (procs < 0 || write(procs, "0", 1) != 1)
                        return vs_err(err, errno, "move the restore into the cgroup %s of '%s'", CG_EXEC_LEAF, op->name);
        }
        if (op->lazy) {
                /* the lazy-pages daemon listens in dir before CRIU restores
                 * (the page session's helper runs it, pages.h) */
                r = pages_lazy_await(op->i->vsd->set.root, op->name, dir, err);
                if (r < 0)
                        return vs_err_prefix(err, "restore");
                /* the images stay until lazy-pages has every page: found
                 * marked beside a running instance, they say pages were
                 * owed when a daemon ended (recover_one); the source's
                 * dump marked them, unless it was an older vsd */
                char mark[800];
                path_in(dir, CKPT_LAZY, mark, sizeof(mark));
                if (access(mark, F_OK) < 0 && lazy_mark(dir, err) < 0)
                        return vs_err_prefix(err, "restore");
                arg(&a, "--lazy-pages");
        }
        if (argv_full(&a))
                return vs_err_msg(err, E2BIG, "the command line for criu is too long");
        a.a[a.n] = NULL;
        r = criu_run(op->i->vsd->cg, a.a, env, next_fd, -1, log, "restore", err);
        if (r < 0) {
                char kept[700];
                path_in(op->dir, "restore-failed.log", kept, sizeof(kept));
                (void) unlink(kept);
                (void) link(log, kept);
                /* lazy: CRIU can fail after the tasks were let go (its
                 * word to lazy-pages comes last); they ran here, which a
                 * post-copy's source must know (mig_run_postcopy) */
                _cleanup_free_ char *text = NULL;
                if (op->lazy && vs_read_file(kept, 16 << 20, &text, NULL) >= 0 &&
                    strstr(text, "Restore finished successfully")) {
                        vs_error cerr = *err;
                        return vs_err_msg(err, cerr.code, CKPT_RAN_HERE ": %s", cerr.msg);
                }
                return r;
        }
        /* init is back and runs: say so where the next daemon looks, then
         * the images are spent */
        _cleanup_free_ char *text = NULL;
        r = vs_read_file(pidfile, 64, &text, NULL);
        (void) unlink(pidfile);
        pid_t pid = r >= 0 ? (pid_t) atoi(text) : 0;
        unsigned long long start = 0;
        if (pid <= 0 || vs_proc_starttime(pid, &start) < 0)
                return vs_err_msg(err, ESRCH, "restore: criu named no living init (%s)", pidfile);
        char nspath[64];
        snprintf(nspath, sizeof(nspath), "/proc/%d/ns/net", (int) pid);
        _cleanup_close_ int nsfd = p->inner_link[0] ? open(nspath, O_RDONLY | O_CLOEXEC) : -EBADF;
        /* the sockets are back and the lock is gone: its link is let up
         * (down until now, netw_prepare_restore) */
        if (p->inner_link[0]) {
                r = netw_host_link_set_up(op->i->vsd, &op->i->cfg, true, nsfd, err);
                if (r < 0) {
                        (void) kill(pid, SIGKILL);
                        return r;
                }
        }
        char state[600];
        inst_state_file(op->i, state, sizeof(state));
        r = inst_state_write(state, pid, start, op->meta.started_at, err);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                return r;
        }
        /* its address is here now: the neighbours and the bridges on the
         * way hear it at once (after a move to another host on the same
         * LAN, the frames for it went to the old host's port), twice in
         * case a frame is lost: the second round once the images are
         * removed (the pause between the rounds spent on that, not added
         * to a live move's frozen window) */
        uint64_t announced = mono_ms();
        bool again = announce_round(op, nsfd);
        /* (lazy: criu lazy-pages reads them until its end, and then
         * removes them) */
        if (!op->lazy)
                (void) vs_rm_rf(dir);
        if (again) {
                uint64_t spent = mono_ms() - announced;
                if (spent < NET_ANNOUNCE_ROUND_MS)
                        (void) poll(NULL, 0, (int) (NET_ANNOUNCE_ROUND_MS - spent));
                (void) announce_round(op, nsfd);
        }
        char failed[700];
        path_in(op->dir, "restore-failed.log", failed, sizeof(failed));
        (void) unlink(failed);
        return 0;
}

/* ---- another block of host ids ------------------------------------------- */

/* images/userns.proto's user namespace image (the framing above) */
#define CKPT_USERNS_MAGIC 0x55474906u

static size_t pb_put_varint(uint8_t *out, uint64_t v) {
        size_t k = 0;
        do {
                uint8_t b = v & 0x7f;
                v >>= 7;
                out[k++] = b | (v ? 0x80 : 0);
        } while (v);
        return k;
}

/* One userns_entry (uid_map = 1, gid_map = 2, each a uid_gid_extent
 * {first = 1, lower_first = 2, count = 3}) re-encoded into out with
 * lower_first moved from the old block to the new. */
static int userns_rebase(const uint8_t *in, size_t n, uint64_t old_base, uint64_t new_base, uint8_t *out,
                         size_t *ret_len) {
        const uint8_t *p = in, *end = in + n;
        size_t len = 0;
        while (p < end) {
                uint64_t tag, sub_len;
                if (pb_varint(&p, end, &tag) < 0 || (tag != 0x0a && tag != 0x12) || pb_varint(&p, end, &sub_len) < 0 ||
                    sub_len > (uint64_t) (end - p))
                        return -EBADMSG;
                uint64_t f[4] = { 0 };
                bool have[4] = { false };
                for (const uint8_t *sub_end = p + sub_len; p < sub_end;) {
                        uint64_t t, v;
                        if (pb_varint(&p, sub_end, &t) < 0 || (t & 7) != 0 || (t >> 3) < 1 || (t >> 3) > 3 ||
                            pb_varint(&p, sub_end, &v) < 0)
                                return -EBADMSG;
                        f[t >> 3] = v;
                        have[t >> 3] = true;
                }
                if (!have[1] || !have[2] || !have[3])
                        return -EBADMSG;
                if (f[2] < old_base || f[2] + f[3] > old_base + INST_ID_COUNT)
                        return -ERANGE; /* a mapping vsd did not make */
                f[2] = f[2] - old_base + new_base;
                uint8_t sub[40];
                size_t k = 0;
                for (unsigned field = 1; field <= 3; field++) {
                        sub[k++] = (uint8_t) (field << 3);
                        k += pb_put_varint(sub + k, f[field]);
                }
                out[len++] = (uint8_t) tag;
                len += pb_put_varint(out + len, k);
                memcpy(out + len, sub, k);
                len += k;
        }
        *ret_len = len;
        return 0;
}

static int rebase_image(const char *path, uint64_t old_base, uint64_t new_base, vs_error *err) {
        _cleanup_free_ char *data = NULL;
        size_t n = 0;
        int r = vs_read_file(path, 1 << 20, &data, &n);
        if (r < 0)
                return vs_err(err, -r, "read %s", path);
        const uint8_t *p = (const uint8_t *) data;
        if (n < 8 || le32(p) != CKPT_IMG_COMMON_MAGIC || le32(p + 4) != CKPT_USERNS_MAGIC)
                return vs_err_msg(err, EBADMSG, "%s is not CRIU's image of a user namespace", path);
        /* an entry grows by a few bytes at most per varint */
        _cleanup_free_ uint8_t *out = malloc(n * 2 + 64);
        if (!out)
                return vs_err(err, ENOMEM, "rewrite %s", path);
        memcpy(out, p, 8);
        size_t at = 8, len = 8;
        while (at < n) {
                if (n - at < 4 || le32(p + at) > n - at - 4)
                        return vs_err_msg(err, EBADMSG, "%s is cut short", path);
                uint32_t sz = le32(p + at);
                at += 4;
                size_t got = 0;
                r = userns_rebase(p + at, sz, old_base, new_base, out + len + 4, &got);
                if (r < 0)
                        return vs_err_msg(err, -r, "%s holds %s", path,
                                          r == -ERANGE ? "a mapping of other host ids than the instance's"
                                                       : "no user namespace mapping vsd can read");
                uint32_t g = (uint32_t) got;
                memcpy(out + len, &g, 4); /* little-endian, as CRIU writes it on the hosts it runs on */
                len += 4 + got;
                at += sz;
        }
        r = vs_write_atomic(path, out, len, 0644);
        return r < 0 ? vs_err(err, -r, "write %s", path) : 0;
}

int ckpt_relocate_ids(const char *dir, uint64_t old_base, uint64_t new_base, vs_error *err) {
        struct ckpt_meta m;
        int r = meta_read(dir, &m, err);
        if (r < 0)
                return r;
        if (m.privileged || old_base == new_base)
                return 0;
        DIR *d = opendir(dir);
        if (!d)
                return vs_err(err, errno, "open %s", dir);
        struct dirent *de;
        while (r >= 0 && (de = readdir(d))) {
                if (strncmp(de->d_name, "userns-", 7) != 0)
                        continue;
                char path[800];
                path_in(dir, de->d_name, path, sizeof(path));
                r = rebase_image(path, old_base, new_base, err);
        }
        closedir(d);
        if (r < 0)
                return r;
        m.id_base = new_base;
        r = meta_write(dir, &m, err);
        if (r < 0)
                return r;
        r = vs_fsync_dir(dir);
        return r < 0 ? vs_err(err, -r, "sync %s", dir) : 0;
}

/* ---- in the loop ---------------------------------------------------------- */

static void op_free(struct ckpt_op *op) {
        free(op->pids);
        free(op);
}

static void finish(struct ckpt_op *op, int r, const vs_error *err) {
        struct instance *i = op->i;
        i->busy[0] = '\0';
        op_finish(op->op, r, err);
        if (op->client)
                op->client->done(op->client, r, err);
        op_free(op);
        (void) i;
}

/* take: the dumped instance has gone down (stopped() told its waiters) */
static void on_dumped_down(struct inst_waiter *w, int result, const vs_error *err) {
        struct ckpt_op *op = (struct ckpt_op *) ((char *) w - offsetof(struct ckpt_op, stopw));
        log_info("Instance %s checkpointed", op->name);
        finish(op, 0, NULL);
}

static void take_done(void *userdata, int result, const vs_error *werr) {
        struct ckpt_op *op = userdata;
        struct instance *i = op->i;
        char marker[600];
        vs_error err = { 0 };
        marker_path(i->vsd, op->name, marker, sizeof(marker));
        (void) unlink(marker);
        if (result < 0) {
                err = *werr;
                /* (a post-copy that broke off killed it: its end is the
                 * dump's) */
                if (i->stop_how == STOP_HOW_CHECKPOINT && err.code != ENOLINK)
                        i->stop_how = STOP_HOW_NONE;
                vs_err_prefix(&err, "Failed to checkpoint '%s'", op->name);
                log_err("%s", err.msg);
                finish(op, result, &err);
                return;
        }
        if (op->meta.leave_running || !inst_is_active(i)) {
                log_info("Instance %s: checkpoint taken%s", op->name, op->meta.leave_running ? ", running on" : "");
                inst_checkpoint_changed(i);
                finish(op, 0, NULL);
                return;
        }
        /* CRIU killed its processes; the loop has not heard of init's end
         * yet: wait for it, as a stop does */
        i->busy[0] = '\0';
        op->stopw.done = on_dumped_down;
        int r = inst_stop(i, 0, true, AFTER_STOP_NOTHING, &op->stopw, &err);
        if (r > 0)
                on_dumped_down(&op->stopw, 0, NULL);
        else if (r < 0)
                finish(op, r, &err);
}

static void restore_done(void *userdata, int result, const vs_error *werr) {
        struct ckpt_op *op = userdata;
        struct instance *i = op->i;
        vs_error err = { 0 };
        char from[700], to[700];
        path_in(op->dir, CKPT_RESTORING, from, sizeof(from));
        path_in(op->dir, INST_CHECKPOINT_DIR, to, sizeof(to));
        int r = result;
        if (r < 0)
                err = *werr;
        if (r >= 0)
                r = inst_restore_commit(i, &op->plan, &err);
        else
                inst_restore_undo(i, &op->plan);
        if (r < 0) {
                /* its tasks ran here before CRIU failed: a move's copy
                 * that ran here (a post-copy's source asks) */
                if (op->lazy && strstr(err.msg, CKPT_RAN_HERE))
                        inst_incoming_clear(i);
                /* the images are as they were: checkpointed again */
                if (access(from, F_OK) == 0 && vs_rename_durable(from, to) < 0)
                        log_err("Instance %s: failed to put its checkpoint back from %s", op->name, from);
                inst_checkpoint_changed(i);
                if (!strstr(err.msg, "Failed to restore"))
                        vs_err_prefix(&err, "Failed to restore '%s'", op->name);
                log_err("%s", err.msg);
        } else if (!op->lazy)
                (void) vs_rm_rf(from); /* the helper did; a second look costs nothing */
        else if (pages_lazy_failed(op->run_dir, op->name)) {
                /* its memory will never all come: it runs no further (the
                 * restore itself went through: it ran here, and the move
                 * hears of the loss from its page session) */
                vs_error kerr = { 0 };
                log_err("Instance %s: killed after its restore: its lazy pages stopped coming (the link to the "
                        "source was lost)", op->name);
                finish(op, r, &err);
                if (inst_stop(i, 0, true, AFTER_STOP_NOTHING, NULL, &kerr) < 0)
                        log_err("Instance %s: not killed: %s", i->cfg.name, kerr.msg);
                return;
        }
        finish(op, r, &err);
}

static int op_cancel_cb(void *userdata, vs_error *err) {
        struct ckpt_op *op = userdata;
        int r = work_cancel(op->i->vsd, op->work_id);
        return r < 0 ? vs_err(err, -r, "cancel the work on '%s'", op->name) : 0;
}

static int criu_check(struct vsd *v, vs_error *err) {
        if (access(v->set.criu, X_OK) < 0)
                return vs_err_msg(err, EOPNOTSUPP,
                                  "CRIU is not available: %s: %s (install it with 'make deps', or set [checkpoint] criu)",
                                  v->set.criu, strerror(errno));
        return 0;
}

static struct ckpt_op *op_new(struct instance *i, enum ckpt_kind kind, vs_error *err) {
        struct ckpt_op *op = calloc(1, sizeof(*op));
        if (!op) {
                vs_err(err, ENOMEM, "Failed to start on '%s'", i->cfg.name);
                return NULL;
        }
        op->kind = kind;
        op->i = i;
        inst_dir_path(i, op->dir, sizeof(op->dir));
        snprintf(op->name, sizeof(op->name), "%s", i->cfg.name);
        snprintf(op->criu, sizeof(op->criu), "%s", i->vsd->set.criu);
        snprintf(op->run_dir, sizeof(op->run_dir), "%s", i->vsd->set.run_dir);
        return op;
}

/* fds: the page link (or -1), and for post-copy the commit's and the
 * verdict's pipes (or -1); pc: memory pre-copy first (or NULL). */
static int take(struct instance *i, bool leave_running, int page_fd, int committed_fd, int verdict_fd,
                struct ckpt_precopy *pc, struct inst_waiter *w, struct op **ret_op, vs_error *err);

int ckpt_take_precopy(struct instance *i, int page_fd, struct ckpt_precopy *pc, struct inst_waiter *w,
                      struct op **ret_op, vs_error *err) {
        if (page_fd < 0 || !pc)
                return vs_err_msg(err, EINVAL, "Failed to checkpoint '%s': memory pre-copy needs a page server",
                                  i->cfg.name);
        return take(i, false, page_fd, -1, -1, pc, w, ret_op, err);
}

static int take(struct instance *i, bool leave_running, int page_fd, int committed_fd, int verdict_fd,
                struct ckpt_precopy *pc, struct inst_waiter *w, struct op **ret_op, vs_error *err) {
        struct vsd *v = i->vsd;
        if (i->state == INST_BROKEN)
                return vs_err_msg(err, EINVAL, "instance '%s' is broken: %s", i->cfg.name, i->error);
        if (inst_check_idle(i, err) < 0)
                return -EBUSY;
        if (i->state == INST_CHECKPOINTED)
                return vs_err_msg(err, EALREADY, "instance '%s' is already checkpointed", i->cfg.name);
        if (i->state == INST_PAUSED)
                return vs_err_msg(err, EBUSY, "instance '%s' is paused; resume it first", i->cfg.name);
        if (i->state != INST_RUNNING)
                return vs_err_msg(err, EINVAL, "instance '%s' is not running", i->cfg.name);
        int r = criu_check(v, err);
        if (r < 0)
                return r;
        int slave = console_slave_fd(i->console);
        struct stat st;
        if (slave < 0 || fstat(slave, &st) < 0)
                return vs_err_msg(err, ENODEV, "instance '%s' has no console: restart it to checkpoint it", i->cfg.name);
        struct ckpt_op *op = op_new(i, CKPT_TAKE, err);
        if (!op)
                return -ENOMEM;
        op->init_pid = i->pid;
        op->sys_resource = v->kern.sys_resource;
        /* read here: the helper keeps none of the cgroup's fds */
        struct scan s = { .op = op, .err = err };
        r = cg_for_each_process(v->cg, i->cfg.name, collect_pid, &s);
        op->pids = s.pids;
        op->n_pids = s.n;
        if (r < 0) {
                op_free(op);
                return vs_err(err, -r, "Failed to checkpoint '%s': list its processes", i->cfg.name);
        }
        op->console_dev = st.st_dev;
        op->console_rdev = st.st_rdev;
        new_id(op->meta.id);
        op->meta.taken = (int64_t) time(NULL);
        op->meta.leave_running = leave_running;
        op->meta.started_at = i->started_at;
        op->meta.privileged = inst_privileged(i->cfg.security.privileged);
        op->meta.id_base = i->cfg.security.id_base;
        op->meta.link = netw_has_link(&i->cfg);
        snprintf(op->work_id, sizeof(op->work_id), "checkpoint-%s", i->cfg.name);
        r = op_begin(v, "checkpoint", i->cfg.name, NULL, &op->op, err);
        if (r < 0) {
                op_free(op);
                return r;
        }
        /* for the next daemon, should this one die before the end */
        char marker[600], text[128];
        marker_path(v, i->cfg.name, marker, sizeof(marker));
        int n = snprintf(text, sizeof(text), "{\"id\":\"%s\",\"leave_running\":%s}\n", op->meta.id,
                         leave_running ? "true" : "false");
        r = vs_write_replace(marker, text, (size_t) n, 0600);
        if (r < 0)
                vs_err(err, -r, "write %s", marker);
        if (r >= 0) {
                if (!leave_running)
                        i->stop_how = STOP_HOW_CHECKPOINT; /* init's end is the dump's */
                _cleanup_close_ int cg = cg_open_procs_dir(v->cg, i->cfg.name);
                op->cg_tree = cg >= 0;
                op->postcopy = committed_fd >= 0;
                op->page_server = page_fd >= 0 && !op->postcopy;
                op->precopy = pc;
                /* CKPT_CG_FD_DUMP, CKPT_PAGE_FD_DUMP, CKPT_COMMITTED_FD_DUMP, CKPT_VERDICT_FD_DUMP */
                int keep[4] = { cg, page_fd, committed_fd, verdict_fd };
                r = work_start_fds(v, op->work_id, dump_run, op, keep, op->postcopy ? 4 : page_fd >= 0 ? 2 : 1, NULL,
                                   take_done, op, err);
                if (r < 0) {
                        i->stop_how = STOP_HOW_NONE;
                        (void) unlink(marker);
                }
        }
        if (r < 0) {
                op_finish(op->op, r, err);
                op_free(op);
                return vs_err_prefix(err, "Failed to checkpoint '%s'", i->cfg.name);
        }
        op_set_cancel(op->op, op_cancel_cb, op);
        snprintf(i->busy, sizeof(i->busy), "%s", "a checkpoint is being taken");
        op->client = w;
        if (ret_op)
                *ret_op = op->op;
        return 0;
}

int ckpt_take(struct instance *i, bool leave_running, int page_fd, struct inst_waiter *w, struct op **ret_op,
              vs_error *err) {
        return take(i, leave_running, page_fd, -1, -1, NULL, w, ret_op, err);
}

int ckpt_take_postcopy(struct instance *i, int page_fd, int committed_fd, int verdict_fd, struct inst_waiter *w,
                       vs_error *err) {
        return take(i, false, page_fd, committed_fd, verdict_fd, NULL, w, NULL, err);
}

static int restore(struct instance *i, bool unlocked_mounts, bool lazy, struct inst_waiter *w, struct op **ret_op,
                   vs_error *err) {
        struct vsd *v = i->vsd;
        if (i->state == INST_BROKEN)
                return vs_err_msg(err, EINVAL, "instance '%s' is broken: %s", i->cfg.name, i->error);
        if (inst_check_idle(i, err) < 0)
                return -EBUSY;
        if (i->state == INST_STOPPED)
                return vs_err_msg(err, ENOENT, "instance '%s' has no checkpoint", i->cfg.name);
        if (i->state != INST_CHECKPOINTED)
                return vs_err_msg(err, EBUSY, "instance '%s' is %s; only a checkpointed instance can be restored",
                                  i->cfg.name, inst_state_name(i->state));
        int r = criu_check(v, err);
        if (r < 0)
                return r;
        struct ckpt_op *op = op_new(i, CKPT_RESTORE, err);
        if (!op)
                return -ENOMEM;
        char from[700], to[700];
        path_in(op->dir, INST_CHECKPOINT_DIR, from, sizeof(from));
        path_in(op->dir, CKPT_RESTORING, to, sizeof(to));
        r = meta_read(from, &op->meta, err);
        if (r >= 0 && (op->meta.privileged != inst_privileged(i->cfg.security.privileged) ||
                       (!op->meta.privileged && op->meta.id_base != i->cfg.security.id_base)))
                r = vs_err_msg(err, EINVAL, "instance '%s' has other host ids than when it was checkpointed",
                               i->cfg.name);
        if (r >= 0 && op->meta.link != netw_has_link(&i->cfg))
                r = vs_err_msg(err, EINVAL, "instance '%s' has another network mode than when it was checkpointed",
                               i->cfg.name);
        /* CRIU mounts the instance's tree itself, from inside the user
         * namespace it makes: nothing of it is locked, and no process can
         * be moved into a namespace vsd locked afterwards (ckpt_restore in
         * checkpoint.h) */
        if (r >= 0 && !op->meta.privileged && !unlocked_mounts)
                r = vs_err_msg(err, EPERM,
                               "a restored unprivileged instance's mounts are not locked (its root could unmount "
                               "the masked paths until its next start); accept that with --unlocked-mounts "
                               "(\"unlocked_mounts\": true), or discard the checkpoint");
        /* userfaultfd in an unprivileged instance's own context needs
         * CAP_SYS_PTRACE in the host's user namespace (pages.h) */
        if (r >= 0 && lazy && !op->meta.privileged)
                r = vs_err_msg(err, EPERM, "a lazy restore (post-copy) takes a privileged instance");
        if (r < 0) {
                op_free(op);
                return vs_err_prefix(err, "Failed to restore '%s'", i->cfg.name);
        }
        op->userns = !op->meta.privileged;
        op->id_base = (uint32_t) op->meta.id_base;
        op->lazy = lazy;
        snprintf(op->work_id, sizeof(op->work_id), "restore-%s", i->cfg.name);
        r = op_begin(v, "checkpoint-restore", i->cfg.name, NULL, &op->op, err);
        if (r < 0) {
                op_free(op);
                return r;
        }
        /* while CRIU reads it, the checkpoint has another name: a daemon
         * killed meanwhile finds what happened by it (ckpt_recover) */
        r = vs_rename_durable(from, to);
        if (r < 0)
                vs_err(err, -r, "Failed to restore '%s': rename %s", i->cfg.name, from);
        bool renamed = r >= 0;
        if (r >= 0)
                r = inst_restore_prepare(i, &op->plan, err);
        if (r >= 0) {
                _cleanup_close_ int cg = cg_open_procs_dir(v->cg, i->cfg.name);
                op->cg_tree = cg >= 0;
                int keep[3] = { op->plan.layer.fd, op->plan.console_slave, cg };
                r = work_start_fds(v, op->work_id, restore_run, op, keep, 3, op->name, restore_done, op, err);
                if (r < 0) {
                        inst_restore_undo(i, &op->plan);
                        vs_err_prefix(err, "Failed to restore '%s'", i->cfg.name);
                }
        }
        if (r < 0) {
                if (renamed)
                        (void) vs_rename_durable(to, from);
                inst_checkpoint_changed(i);
                op_finish(op->op, r, err);
                op_free(op);
                return r;
        }
        op_set_cancel(op->op, op_cancel_cb, op);
        snprintf(i->busy, sizeof(i->busy), "%s", "its checkpoint is being restored");
        op->client = w;
        if (ret_op)
                *ret_op = op->op;
        return 0;
}

int ckpt_restore(struct instance *i, bool unlocked_mounts, struct inst_waiter *w, struct op **ret_op, vs_error *err) {
        return restore(i, unlocked_mounts, false, w, ret_op, err);
}

int ckpt_restore_lazy(struct instance *i, struct inst_waiter *w, struct op **ret_op, vs_error *err) {
        return restore(i, false, true, w, ret_op, err);
}

int ckpt_discard(struct instance *i, vs_error *err) {
        if (inst_check_idle(i, err) < 0)
                return -EBUSY;
        if (!inst_has_checkpoint(i))
                return vs_err_msg(err, ENOENT, "instance '%s' has no checkpoint", i->cfg.name);
        char dir[512], from[700], to[700];
        inst_dir_path(i, dir, sizeof(dir));
        path_in(dir, INST_CHECKPOINT_DIR, from, sizeof(from));
        path_in(dir, CKPT_DEL, to, sizeof(to));
        (void) vs_rm_rf(to);
        int r = vs_rename_durable(from, to);
        if (r < 0)
                return vs_err(err, -r, "Failed to discard the checkpoint of '%s': rename %s", i->cfg.name, from);
        r = vs_rm_rf(to);
        if (r < 0)
                log_warn("Failed to remove %s: %s, ignoring: the next start removes it", to, strerror(-r));
        inst_checkpoint_changed(i);
        log_info("Instance %s: checkpoint discarded", i->cfg.name);
        inst_emit(i, "checkpoint-discarded", NULL);
        return 0;
}

json_t *ckpt_json(struct instance *i) {
        char dir[512], cp[700];
        struct ckpt_meta m;
        inst_dir_path(i, dir, sizeof(dir));
        path_in(dir, INST_CHECKPOINT_DIR, cp, sizeof(cp));
        if (!inst_has_checkpoint(i) || meta_read(cp, &m, NULL) < 0)
                return NULL;
        uint64_t bytes = 0;
        DIR *d = opendir(cp);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
                        bytes += (uint64_t) st.st_blocks * 512;
        }
        if (d)
                closedir(d);
        return json_pack("{s:I, s:b, s:I}", "taken", (json_int_t) m.taken, "leave_running", m.leave_running, "bytes",
                         (json_int_t) bytes);
}

/* ---- after a crash ---------------------------------------------------------- */

/* cp's checkpoint is a post-copy dump's (CKPT_LAZY). */
static bool lazy_at(const char *cp) {
        char path[800];
        path_in(cp, CKPT_LAZY, path, sizeof(path));
        return access(path, F_OK) == 0;
}

static void recover_one(struct instance *i) {
        struct vsd *v = i->vsd;
        char dir[512], cp[700], restoring[700], tmp[700], marker[600], hook[700];
        inst_dir_path(i, dir, sizeof(dir));
        path_in(dir, INST_CHECKPOINT_DIR, cp, sizeof(cp));
        path_in(dir, CKPT_RESTORING, restoring, sizeof(restoring));
        path_in(dir, CKPT_TMP, tmp, sizeof(tmp));
        path_in(dir, CKPT_HOOK, hook, sizeof(hook));
        marker_path(v, i->cfg.name, marker, sizeof(marker));
        (void) unlink(hook);

        if (access(restoring, F_OK) == 0) {
                if (inst_is_up(i) && lazy_at(restoring)) {
                        /* a post-copy's target: its lazy-pages (the
                         * previous daemon's helper) died with it while
                         * pages were owed, and removes the images only
                         * at its end.  What the processes fault in now
                         * comes zero-filled: they run no further (the
                         * source, its page link ended, runs them no more
                         * either) */
                        i->stop_how = STOP_HOW_KILL;
                        (void) inst_stop(i, 0, true, AFTER_STOP_NOTHING, NULL, NULL);
                        (void) vs_rm_rf(restoring);
                        log_err("Instance %s: killed: vsd's end cut its post-copy short (its memory could not all "
                                "come from the source); it is stopped here with its disk",
                                i->cfg.name);
                        inst_emit(i, "migrate-lost", NULL);
                } else if (inst_is_up(i)) {
                        /* the helper had written init's state: the restore
                         * was done but for removing the images */
                        (void) vs_rm_rf(restoring);
                        log_info("Instance %s: finished the restore of its checkpoint, interrupted by vsd's end",
                                 i->cfg.name);
                } else if (access(cp, F_OK) < 0 && vs_rename_durable(restoring, cp) >= 0) {
                        /* whatever CRIU had brought back died with its
                         * cgroup (the registry's load); the images are as
                         * they were */
                        inst_checkpoint_changed(i);
                        log_info("Instance %s: undid the restore of its checkpoint, interrupted by vsd's end",
                                 i->cfg.name);
                        inst_emit(i, "restore-undone", NULL);
                }
        }

        _cleanup_free_ char *text = NULL;
        if (vs_read_file(marker, 4096, &text, NULL) >= 0) {
                /* a post-copy dump's hook may have frozen it before the
                 * commit it did not finish */
                bool lazy_tmp = lazy_at(tmp);
                json_t *j = json_loads(text, 0, NULL);
                const char *id = NULL;
                int leave = 0;
                char have[CKPT_ID_LEN + 1];
                meta_id(cp, have);
                bool committed = j && json_unpack(j, "{s:s, s:b}", "id", &id, "leave_running", &leave) == 0 &&
                                 streq(have, id);
                if (committed && lazy_at(cp) && inst_is_active(i)) {
                        /* a post-copy's dump: its processes, let go by the
                         * CRIU that died, hold the only whole copy of
                         * their memory; whether they run on here is the
                         * move's to say (ckpt_recover_lazy) */
                        log_info("Instance %s: its post-copy dump was interrupted by vsd's end after its commit",
                                 i->cfg.name);
                } else if (committed && !leave && inst_is_active(i)) {
                        /* the images were in place before CRIU was to end
                         * the processes: end them as it would have */
                        i->stop_how = STOP_HOW_CHECKPOINT;
                        (void) inst_stop(i, 0, true, AFTER_STOP_NOTHING, NULL, NULL);
                        log_info("Instance %s: finished its checkpoint, interrupted by vsd's end", i->cfg.name);
                } else if (inst_is_up(i)) {
                        /* it runs on: without CRIU's lock */
                        unlock_network(i->pid, i->cfg.name);
                        if (lazy_tmp)
                                (void) cg_freeze(v->cg, i->cfg.name, false, NULL);
                        log_info("Instance %s: %s, interrupted by vsd's end", i->cfg.name,
                                 committed ? "finished its checkpoint (running on)" : "undid its checkpoint");
                }
                json_decref(j);
                (void) unlink(marker);
        }
        if (access(tmp, F_OK) == 0)
                (void) vs_rm_rf(tmp);
        char del[700];
        path_in(dir, CKPT_DEL, del, sizeof(del));
        (void) vs_rm_rf(del);
        inst_checkpoint_changed(i);
}

bool ckpt_lazy_held(struct instance *i) {
        char dir[512], cp[700];
        inst_dir_path(i, dir, sizeof(dir));
        path_in(dir, INST_CHECKPOINT_DIR, cp, sizeof(cp));
        return inst_has_checkpoint(i) && lazy_at(cp) && inst_is_active(i);
}

int ckpt_recover_lazy(struct instance *i, bool may_have_gone) {
        struct vsd *v = i->vsd;
        char dir[512], cp[700];
        inst_dir_path(i, dir, sizeof(dir));
        path_in(dir, INST_CHECKPOINT_DIR, cp, sizeof(cp));
        if (!ckpt_lazy_held(i))
                return 0;
        if (may_have_gone) {
                /* as the dump would have, once the target had its pages */
                i->stop_how = STOP_HOW_CHECKPOINT;
                (void) inst_stop(i, 0, true, AFTER_STOP_NOTHING, NULL, NULL);
                log_info("Instance %s: ended after its interrupted post-copy dump (its archive may have gone)",
                         i->cfg.name);
                return 1;
        }
        /* never sent: the processes run on here as they were, as CRIU
         * would have resumed them (its repair mode and lock off, the link
         * the commit cut up again), and the checkpoint, which lacks
         * their memory, goes */
        struct ckpt_meta m = { 0 };
        vs_error err = { 0 };
        unlock_network(i->pid, i->cfg.name);
        if ((meta_read(cp, &m, NULL) < 0 || m.link) && netw_host_link_set_up(v, &i->cfg, true, -1, &err) < 0)
                log_warn("Instance %s: %s, ignoring", i->cfg.name, err.msg);
        /* last: frozen by the dump's hook, nothing of it may run before
         * its sockets are out of repair mode (a write would fail) */
        if (cg_freeze(v->cg, i->cfg.name, false, &err) < 0)
                log_warn("Instance %s: %s, ignoring", i->cfg.name, err.msg);
        if (ckpt_discard(i, &err) < 0)
                log_warn("Instance %s: its post-copy checkpoint stays: %s", i->cfg.name, err.msg);
        log_info("Instance %s: resumed here: its post-copy dump was interrupted by vsd's end before the target ran it",
                 i->cfg.name);
        return 2;
}

void ckpt_recover(struct vsd *v) {
        for (size_t k = 0; k < v->n_inst; k++)
                if (v->inst[k]->state != INST_BROKEN)
                        recover_one(v->inst[k]);
}

/* ---- the post-dump action (vsd --checkpoint-commit) ---------------------- */

/* Every image of dir on disk, then dir itself.  This runs while the
 * instance is frozen: the writeback of all the files is started first, so
 * that the disk sees them together and the first fsync's journal commit
 * carries every new file, and the fsyncs that follow find little left. */
static int fsync_tree(const char *dir) {
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        int fds[256], n = 0, r = 0;
        DIR *d = fdopendir(dup(dfd));
        if (!d)
                return -errno;
        struct dirent *de;
        while ((de = readdir(d)) && r >= 0) {
                if (de->d_name[0] == '.')
                        continue;
                int fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
                if (fd < 0)
                        continue;
                (void) sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
                if (n < (int) ELEMENTSOF(fds))
                        fds[n++] = fd;
                else {
                        if (fsync(fd) < 0)
                                r = -errno;
                        close(fd);
                }
        }
        closedir(d);
        for (int k = 0; k < n; k++) {
                if (fsync(fds[k]) < 0 && r >= 0)
                        r = -errno;
                close(fds[k]);
        }
        if (fsync(dfd) < 0 && r >= 0)
                r = -errno;
        return r;
}

/* The instance's link cut (its host side down): what CRIU does next is kill
 * the processes, and the kernel, tearing their network namespace down,
 * drops the namespace's nftables hooks, CRIU's lock among them, before it
 * removes the namespace's devices.  A peer's segment arriving in between
 * finds eth0 with its address, no lock and no socket, and is answered with
 * a RST that ends a connection the target is restoring.  Down, the bridge
 * sends the link nothing more.  Failing to is no reason to resume the
 * instance: the images are in place. */
static void cut_link(const char *link) {
        _cleanup_nl_ struct nl *nl = NULL;
        vs_error err = { 0 };
        if (nl_open(&nl, &err) < 0 || nl_link_set_up(nl, link, false, &err) < 0)
                fprintf(stderr, "vsd: %s, ignoring\n", err.msg);
}

/* How long the post-copy hook waits for the instance to freeze. */
#define CKPT_FREEZE_MS 5000

int ckpt_freeze_main(const char *file, const char *state) {
        bool v1 = strstr(file, "/freezer.state") != NULL, frozen = streq(state, "1");
        const char *want = v1 ? (frozen ? "FROZEN" : "THAWED") : (frozen ? "1" : "0");
        char events[700], text[512];
        snprintf(events, sizeof(events), "%s", file);
        char *slash = strrchr(events, '/');
        if (!slash || (!v1 && !strstr(file, "/cgroup.freeze")) || (!frozen && !streq(state, "0")))
                return -EINVAL;
        snprintf(slash + 1, sizeof(events) - (size_t) (slash + 1 - events), "cgroup.events");
        int r = vs_write_string(file, want);
        if (r < 0) {
                fprintf(stderr, "vsd: write %s: %s\n", file, strerror(-r));
                return r;
        }
        /* v1: freezer.state says FROZEN once every task is; cgroup2:
         * cgroup.events says "frozen 1" */
        for (uint64_t end = mono_ms() + CKPT_FREEZE_MS;;) {
                _cleanup_free_ char *now = NULL;
                r = vs_read_file(v1 ? file : events, 4096, &now, NULL);
                if (r >= 0) {
                        snprintf(text, sizeof(text), "%s", now);
                        char *nl = strchr(text, '\n');
                        if (v1 && nl)
                                *nl = '\0';
                        if (v1 ? streq(text, want) : strstr(text, frozen ? "frozen 1" : "frozen 0") != NULL)
                                return 0;
                }
                if (mono_ms() > end)
                        break;
                usleep(10000);
        }
        fprintf(stderr, "vsd: %s: not %s within %d ms\n", file, frozen ? "frozen" : "thawed", CKPT_FREEZE_MS);
        if (frozen)
                (void) vs_write_string(file, v1 ? "THAWED" : "0");
        return -ETIMEDOUT;
}

int ckpt_commit_main(const char *inst_dir, const char *link) {
        const char *action = getenv("CRTOOLS_SCRIPT_ACTION");
        if (action && !streq(action, "post-dump"))
                return 0;
        char tmp[700], fin[700];
        path_in(inst_dir, CKPT_TMP, tmp, sizeof(tmp));
        path_in(inst_dir, INST_CHECKPOINT_DIR, fin, sizeof(fin));
        /* the pages teed here (a live move's page server) complete */
        int r = pages_wait_local(tmp);
        if (r < 0) {
                fprintf(stderr, "vsd: the local page server has not finished in %s: %s\n", tmp, strerror(-r));
                return -1;
        }
        r = fsync_tree(tmp);
        if (r < 0) {
                fprintf(stderr, "vsd: sync %s: %s\n", tmp, strerror(-r));
                return -1;
        }
        /* one rename puts it in place; an older checkpoint is exchanged
         * with it and removed after */
        bool exchanged = false;
        if (access(fin, F_OK) == 0) {
                if (syscall(SYS_renameat2, AT_FDCWD, tmp, AT_FDCWD, fin, RENAME_EXCHANGE) < 0) {
                        fprintf(stderr, "vsd: exchange %s and %s: %s\n", tmp, fin, strerror(errno));
                        return -1;
                }
                exchanged = true;
        } else if (rename(tmp, fin) < 0) {
                fprintf(stderr, "vsd: rename %s: %s\n", tmp, strerror(errno));
                return -1;
        }
        r = vs_fsync_dir(inst_dir);
        if (r < 0) {
                fprintf(stderr, "vsd: sync %s: %s\n", inst_dir, strerror(-r));
                return -1;
        }
        if (exchanged)
                (void) vs_rm_rf(tmp);
        if (link)
                cut_link(link);
        return 0;
}

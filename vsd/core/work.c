/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/core/work.h"

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "base/proc.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/core/daemon.h"
#include "vsd/core/loop.h"
#include "vsd/core/syscalls.h"

/* How long the loop waits for a finished helper's cgroup to empty (what it
 * started and left behind is killed first). */
#define WORK_REMOVE_MS 1000

struct work {
        struct vsd *vsd;
        char id[CG_WORK_ID_MAX + 1];
        pid_t pid;
        int pidfd;
        int msg_fd; /* read end: the helper's error message */
        struct loop_source *src;
        work_done_fn done;
        void *userdata;
        bool cancelled;
        struct work *next;
};

static void unlink_work(struct work *w) {
        for (struct work **p = &w->vsd->works; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        return;
                }
}

/* The helper is gone (reaped by the caller): its cgroup goes, then its
 * owner hears how it ended. */
static void finish(struct work *w, const siginfo_t *si, const char *why) {
        vs_error err = { 0 };
        int result = 0;
        char msg[VS_ERROR_MAX];
        ssize_t n = w->msg_fd >= 0 ? read(w->msg_fd, msg, sizeof(msg) - 1) : -1;
        msg[n > 0 ? n : 0] = '\0';
        if (why)
                result = vs_err_msg(&err, ESHUTDOWN, "%s", why);
        else if (w->cancelled)
                result = vs_err_msg(&err, ECANCELED, "cancelled");
        else if (si->si_code == CLD_EXITED && si->si_status == 0)
                result = 0;
        else if (si->si_code == CLD_EXITED)
                result = vs_err_msg(&err, EIO, "%s", msg[0] ? msg : "the helper failed");
        else
                result = vs_err_msg(&err, EIO, "the helper was killed by signal %d", si->si_status);
        vs_error cerr = { 0 };
        if (cg_work_remove(w->vsd->cg, w->id, WORK_REMOVE_MS, &cerr) < 0)
                log_warn("Failed to remove the work cgroup of %s: %s, ignoring: the next start removes it", w->id,
                         cerr.msg);
        loop_remove(w->src);
        w->src = NULL;
        safe_close(&w->pidfd);
        safe_close(&w->msg_fd);
        unlink_work(w);
        w->done(w->userdata, result, &err);
        free(w);
}

static int on_exit_cb(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct work *w = userdata;
        siginfo_t si = { 0 };
        if (waitid(P_PIDFD, (id_t) w->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
                return 0;
        finish(w, &si, NULL);
        return 0;
}

static _Noreturn void child_main(struct vsd *v, pid_t parent, const char *id, work_fn fn, void *arg, int msg_fd,
                                 const int *keep, size_t n_keep, const char *inst) {
        /* dies with the daemon; what it starts dies with its cgroup */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(125);
        /* the daemon's blocked and ignored signals are not the helper's,
         * nor those of the tools it runs */
        (void) vs_signals_default();
        vs_error err = { 0 };
        int r = cg_work_enter(v->cg, id);
        if (r < 0)
                vs_err(&err, -r, "enter the work cgroup %s", id);
        if (r >= 0 && inst && (r = cg_enter(v->cg, inst)) < 0)
                vs_err(&err, -r, "enter the cgroup of '%s'", inst);
        /* Nothing of the daemon's but what the work needs: a copy of the
         * filesystems it holds (one per running instance) would keep a
         * stopped instance's disk busy for as long as this runs. */
        if (r >= 0) {
                /* through numbers above the targets first: any may sit on
                 * 3, 4, ... */
                int high[1 + WORK_KEEP_MAX];
                int base = (int) (4 + n_keep + 8);
                high[0] = fcntl(msg_fd, F_DUPFD_CLOEXEC, base);
                for (size_t k = 0; k < n_keep; k++)
                        high[1 + k] = keep[k] >= 0 ? fcntl(keep[k], F_DUPFD_CLOEXEC, base) : -EBADF;
                for (size_t k = 0; r >= 0 && k <= n_keep; k++) {
                        bool wanted = k == 0 || keep[k - 1] >= 0;
                        if (!wanted)
                                (void) close(3 + (int) k); /* whatever of the daemon's sat there */
                        else if (high[k] < 0 || dup3(high[k], 3 + (int) k, O_CLOEXEC) < 0)
                                r = vs_err(&err, errno, "set up the helper's fds");
                }
        }
        if (r >= 0) {
                (void) sys_close_range(3 + (unsigned) n_keep + 1, ~0U, 0);
                r = fn(arg, &err);
        } else if (msg_fd != 3)
                (void) dup3(msg_fd, 3, O_CLOEXEC);
        if (r < 0) {
                (void) !write(3, err.msg, strlen(err.msg));
                _exit(1);
        }
        _exit(0);
}

int work_start(struct vsd *v, const char *id, work_fn fn, void *arg, int keep_fd, work_done_fn done, void *userdata,
               vs_error *err) {
        return work_start_fds(v, id, fn, arg, &keep_fd, keep_fd >= 0 ? 1 : 0, NULL, done, userdata, err);
}

int work_start_fds(struct vsd *v, const char *id, work_fn fn, void *arg, const int *keep, size_t n_keep,
                   const char *inst_cgroup, work_done_fn done, void *userdata, vs_error *err) {
        if (n_keep > WORK_KEEP_MAX)
                return vs_err_msg(err, E2BIG, "start a helper: more than %d fds to keep", WORK_KEEP_MAX);
        struct work *w = calloc(1, sizeof(*w));
        if (!w)
                return vs_err(err, ENOMEM, "start a helper");
        *w = (struct work){ .vsd = v, .pidfd = -EBADF, .msg_fd = -EBADF, .done = done, .userdata = userdata };
        snprintf(w->id, sizeof(w->id), "%s", id);
        int r = cg_work_create(v->cg, id, err);
        if (r < 0) {
                free(w);
                return r;
        }
        int p[2];
        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
                r = vs_err(err, errno, "create a pipe");
                goto undo;
        }
        w->msg_fd = p[0];
        int pidfd = -EBADF;
        pid_t parent = getpid();
        struct clone_args args = { .flags = CLONE_PIDFD, .pidfd = (uint64_t) (uintptr_t) &pidfd, .exit_signal = SIGCHLD };
        pid_t pid = sys_clone3(&args);
        if (pid == 0)
                child_main(v, parent, id, fn, arg, p[1], keep, n_keep, inst_cgroup);
        close(p[1]);
        if (pid < 0) {
                r = vs_err(err, -pid, "start a helper");
                goto undo;
        }
        w->pid = pid;
        w->pidfd = pidfd;
        r = loop_add_fd(v->loop, pidfd, EPOLLIN, on_exit_cb, w, &w->src);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitid(P_PIDFD, (id_t) pidfd, &(siginfo_t){ 0 }, WEXITED);
                r = vs_err(err, -r, "watch the helper");
                goto undo;
        }
        w->next = v->works;
        v->works = w;
        return 0;
undo:
        safe_close(&w->pidfd);
        safe_close(&w->msg_fd);
        (void) cg_work_remove(v->cg, id, WORK_REMOVE_MS, NULL);
        free(w);
        return r;
}

int work_cancel(struct vsd *v, const char *id) {
        for (struct work *w = v->works; w; w = w->next)
                if (streq(w->id, id)) {
                        if (w->cancelled)
                                return 0;
                        /* the pidfd: the helper, not a process that took
                         * its number; its exit then ends the work as usual */
                        int r = sys_pidfd_send_signal(w->pidfd, SIGKILL, NULL, 0);
                        if (r < 0) /* -ESRCH: it has ended, and says how */
                                return r == -ESRCH ? 0 : r;
                        w->cancelled = true;
                        return 0;
                }
        return -ESRCH;
}

void work_cleanup_leftovers(struct vsd *v) {
        char **ids = NULL;
        vs_error err = { 0 };
        if (cg_work_list(v->cg, &ids, &err) < 0) {
                log_warn("Failed to look for helpers of a previous vsd: %s, ignoring", err.msg);
                return;
        }
        for (char **id = ids; *id; id++) {
                vs_err_clear(&err);
                if (cg_work_remove(v->cg, *id, 2000, &err) < 0)
                        log_warn("Failed to kill the helpers of an interrupted operation (%s%s): %s, ignoring",
                                 CG_WORK_PREFIX, *id, err.msg);
                else
                        log_info("Killed the helpers of an interrupted operation (%s%s)", CG_WORK_PREFIX, *id);
        }
        strv_free(ids);
}

void work_shutdown(struct vsd *v) {
        while (v->works) {
                struct work *w = v->works;
                (void) kill(w->pid, SIGKILL);
                siginfo_t si = { 0 };
                (void) waitid(P_PIDFD, (id_t) w->pidfd, &si, WEXITED);
                finish(w, &si, "vsd is shutting down");
        }
}

int work_start_ctl(struct vsd *v, const char *id, work_fn fn, void *arg, int data_fd, work_done_fn done,
                   loop_fd_cb on_ctl, void *userdata, int *ret_ctl, struct loop_source **ret_src, vs_error *err) {
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                return vs_err(err, errno, "make a socket pair");
        int keep[2] = { data_fd, sp[1] };
        int r = work_start_fds(v, id, fn, arg, keep, 2, NULL, done, userdata, err);
        close(sp[1]);
        if (r < 0) {
                close(sp[0]);
                return r;
        }
        *ret_ctl = sp[0];
        if (loop_add_fd(v->loop, sp[0], EPOLLIN, on_ctl, userdata, ret_src) < 0) {
                safe_close(ret_ctl);
                *ret_src = NULL;
        }
        return 0;
}

void work_ctl_serve(int *ctl, struct loop_source **src, size_t max, work_decide_fn decide, void *userdata,
                    vs_error *refusal, bool *refused) {
        _cleanup_free_ char *buf = malloc(max);
        ssize_t n = buf ? recv(*ctl, buf, max, MSG_DONTWAIT) : -1;
        if (n < 0 && buf && (errno == EAGAIN || errno == EINTR))
                return;
        /* one message; after it (or the helper's end) nothing more */
        loop_remove(*src);
        *src = NULL;
        if (n > 0) {
                json_t *verdict = NULL;
                if (decide(userdata, buf, (size_t) n, &verdict, refusal) < 0) {
                        *refused = true;
                        verdict = json_pack("{s:b}", "go", 0);
                }
                _cleanup_free_ char *text = verdict ? json_dumps(verdict, JSON_COMPACT) : NULL;
                json_decref(verdict);
                /* a helper that cannot hear it ends all the same (its peer closes) */
                if (text)
                        (void) send(*ctl, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        safe_close(ctl);
}

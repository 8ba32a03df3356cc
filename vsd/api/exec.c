/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/api/exec.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "base/proto.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/core/daemon.h"
#include "vsd/inst/instance.h"
#include "vsd/core/loop.h"
#include "vsd/start/start.h"
#include "vsd/core/syscalls.h"
#include "vsd/view/sysinfo.h"

/* How long a command may take from its clone to its exec. */
#define EXEC_START_TIMEOUT_MS 30000

/* The size of the command's stdio pipes. */
#define EXEC_PIPE_SIZE (1024 * 1024)

struct exec_session {
        struct vsd *vsd;
        char name[VS_NAME_MAX + 1];
        int sock;
        int pidfd;
        struct loop_source *src;
        /* until the command has exec'd: its end of the handshake, and a
         * bound on the wait (a command frozen before its exec) */
        int sync_fd;
        int pty; /* with a tty: the master, once the command's child step sent it */
        struct loop_source *sync_src, *timer;
        char failed[VS_ERROR_MAX]; /* why it did not exec */
        char **argv;
        char **envp;
        bool tty;
        void (*done)(void *ud);
        void *ud;
        struct exec_session **slot; /* the owner's pointer to us, cleared at the end */
};

static char **strv_copy(char **v, char **prefix) {
        size_t n = 0, m = 0;
        for (char **p = v; p && *p; p++)
                n++;
        for (char **p = prefix; p && *p; p++)
                m++;
        char **out = calloc(n + m + 1, sizeof(char *));
        if (!out)
                return NULL;
        size_t k = 0;
        for (char **p = prefix; p && *p; p++)
                if (!(out[k++] = strdup(*p)))
                        goto fail;
        for (char **p = v; p && *p; p++)
                if (!(out[k++] = strdup(*p)))
                        goto fail;
        return out;
fail:
        strv_free(out);
        return NULL;
}

static void session_end(struct exec_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void session_end(struct exec_session *s, const char *fmt, ...) {
        char line[VS_ERROR_MAX + 16];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
        va_end(ap);
        if (n > (int) sizeof(line) - 2)
                n = (int) sizeof(line) - 2;
        line[n++] = '\n';
        /* the client may be gone: that must not hurt the daemon */
        (void) send(s->sock, line, (size_t) n, MSG_NOSIGNAL | MSG_DONTWAIT);
        loop_remove(s->src);
        loop_remove(s->sync_src);
        loop_remove(s->timer);
        safe_close(&s->sync_fd);
        safe_close(&s->pty);
        safe_close(&s->pidfd);
        strv_free(s->argv);
        strv_free(s->envp);
        if (s->slot)
                *s->slot = NULL;
        s->done(s->ud);
        free(s);
}

/* One protocol byte carrying fds over the exec connection.  The socket is
 * the daemon's: a client that does not read must not stall the loop. */
static int send_fds(int sock, char byte, const int *fds, size_t n) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 3)];
        } u = { 0 };
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                             .msg_controllen = CMSG_SPACE(sizeof(int) * n) };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
        return sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -errno : 0;
}

static void close_fds(int *fds, size_t n) {
        for (size_t k = 0; k < n; k++)
                safe_close(&fds[k]);
}

/* One report of the handshake: 1 more is to come; otherwise its end, the
 * command exec'd (EOF) or said why it could not.  With a tty the command's
 * terminal came back on the way: its master goes to the client at the end. */
static int take_result(struct exec_session *s) {
        vs_error err = { 0 };
        _cleanup_close_ int listener = -EBADF;
        int r = start_join_result(s->sync_fd, s->tty ? &s->pty : NULL, &listener, &err);
        /* the command's sysinfo() calls, answered for its instance (the
         * record outlives the session: the command's children may too) */
        if (listener >= 0)
                (void) sinfo_listener_add(s->vsd->sinfo, s->name, TAKE_FD(listener));
        if (r > 0)
                return r;
        loop_remove(s->sync_src);
        loop_remove(s->timer);
        s->sync_src = s->timer = NULL;
        safe_close(&s->sync_fd);
        if (r < 0) {
                snprintf(s->failed, sizeof(s->failed), "%s", err.msg);
                /* it exits by itself after reporting; make sure */
                (void) sys_pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
                return r;
        }
        if (s->tty) {
                r = send_fds(s->sock, VS_EXEC_PTY_BYTE, &s->pty, 1);
                safe_close(&s->pty);
                if (r < 0)
                        /* the client is gone: the command's terminal hangs up */
                        log_debug("exec in %s: cannot pass the command's pty: %s", s->name, strerror(-r));
        }
        return 0;
}

static int on_sync(struct loop_source *src, int fd, uint32_t events, void *userdata) {
        take_result(userdata);
        return 0;
}

static void on_exec_timeout(struct loop_source *src, void *userdata) {
        struct exec_session *s = userdata;
        s->timer = NULL;
        loop_remove(s->sync_src);
        s->sync_src = NULL;
        safe_close(&s->sync_fd);
        snprintf(s->failed, sizeof(s->failed), "Failed to run the command: it did not start within %d s",
                 EXEC_START_TIMEOUT_MS / 1000);
        /* a command frozen with its instance dies when the freezer lets it
         * (cgroup2's lets SIGKILL through): the pidfd then ends the session */
        (void) sys_pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
}

void exec_abort(struct exec_session *s, const char *why) {
        session_end(s, "error %s", why);
}

static int on_exit_cb(struct loop_source *src, int fd, uint32_t events, void *userdata) {
        struct exec_session *s = userdata;
        siginfo_t si = { 0 };
        int status = 255;
        /* its reports, and EOF, are all there by now */
        while (s->sync_fd >= 0 && take_result(s) > 0)
                ;
        if (waitid(P_PIDFD, (id_t) s->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
                return 0;
        status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
        s->src = NULL;
        loop_remove(src);
        if (s->failed[0])
                session_end(s, "error %s", s->failed);
        else
                session_end(s, "exit %d", status);
        return 0;
}

/*
 * Start the command and give the client its end of the command's stdio.
 * Nothing the client holds ever reaches the instance: without a tty the
 * daemon makes three pipes, the command gets one end of each, the client
 * the other (it relays its own stdin, stdout and stderr to them); with a
 * tty the command's terminal is a pty of the instance's own devpts
 * (start_join_result) and the client gets its master.  The daemon keeps no copy:
 * the command sees EOF on stdin when the client closes its end or goes away,
 * and a write to an output nobody reads fails with EPIPE.
 */
static void launch(struct exec_session *s, const struct exec_request *req) {
        vs_error err = { 0 };
        struct instance *i = inst_find(s->vsd, s->name);
        if (!i || (i->state != INST_RUNNING) || i->pidfd < 0) {
                session_end(s, "error instance '%s' is not running", s->name);
                return;
        }
        /* a command placed in a frozen cgroup freezes before its exec, and
         * the handshake below would wait for it: refuse at once */
        if (i->busy[0] && !i->busy_runs) {
                session_end(s, "error instance '%s' is busy: %s", s->name, i->busy);
                return;
        }
        if (cg_frozen(s->vsd->cg, s->name) > 0) {
                session_end(s, "error instance '%s' is frozen", s->name);
                return;
        }
        /* inside: stdin's read end, stdout's and stderr's write ends;
         * client: the others, in the same order. */
        int inside[3] = { -EBADF, -EBADF, -EBADF }, client[3] = { -EBADF, -EBADF, -EBADF };
        if (!s->tty)
                for (int k = 0; k < 3; k++) {
                        int p[2];
                        if (pipe2(p, O_CLOEXEC) < 0) {
                                int e = errno;
                                close_fds(inside, 3);
                                close_fds(client, 3);
                                session_end(s, "error cannot create a pipe: %s", strerror(e));
                                return;
                        }
                        inside[k] = p[k == 0 ? 0 : 1];
                        client[k] = p[k == 0 ? 1 : 0];
                        /* Fewer hand-overs between the command and vsctl's
                         * relay: a GiB through cat takes 40% less time than
                         * with the default 64 KiB.  Memory is taken only as
                         * data waits; a smaller pipe still works. */
                        (void) fcntl(p[0], F_SETPIPE_SZ, EXEC_PIPE_SIZE);
                }
        struct join_spec spec = {
                .name = s->name,
                .init_pidfd = i->pidfd,
                .init_pid = i->pid,
                .cg = s->vsd->cg,
                .argv = s->argv,
                .envp = s->envp,
                .fds = { inside[0], inside[1], inside[2] },
                .tty = s->tty,
                .rows = req->rows,
                .cols = req->cols,
                .nofile = (unsigned long) i->cfg.nofile,
                .time_ns = s->vsd->kern.time_ns,
                .userns = !inst_privileged(i->cfg.security.privileged),
                .rlimits = &i->cfg.rlimits,
        };
        /* The command's ends of its pipes belong to the instance's root:
         * one that reopens them (/dev/stdout, /proc/self/fd/1) must be
         * allowed to, as a privileged instance's root is. */
        for (int k = 0; spec.userns && !s->tty && k < 3; k++)
                (void) fchown(inside[k], (uid_t) i->cfg.security.id_base, (gid_t) i->cfg.security.id_base);
        pid_t pid;
        /* not start_join(): its wait for the exec would block the loop for
         * as long as the command cannot run (an instance frozen from inside
         * through its cgroup2 tree, say) */
        int r = start_join_begin(&spec, &pid, &s->pidfd, &s->sync_fd, &err);
        close_fds(inside, 3);
        if (r < 0) {
                close_fds(client, 3);
                session_end(s, "error %s", err.msg);
                return;
        }
        if (!s->tty) {
                r = send_fds(s->sock, VS_EXEC_PIPES_BYTE, client, 3);
                close_fds(client, 3);
                if (r < 0)
                        /* The client is gone: the command finds its stdin at
                         * EOF and its output unread, and is reaped as usual. */
                        log_debug("exec in %s: cannot pass the command's stdio: %s", s->name, strerror(-r));
        }
        r = loop_add_fd(s->vsd->loop, s->sync_fd, EPOLLIN, on_sync, s, &s->sync_src);
        if (r >= 0)
                r = loop_add_timer(s->vsd->loop, EXEC_START_TIMEOUT_MS, on_exec_timeout, s, &s->timer);
        if (r >= 0)
                r = loop_add_fd(s->vsd->loop, s->pidfd, EPOLLIN, on_exit_cb, s, &s->src);
        if (r < 0) {
                (void) sys_pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
                session_end(s, "error cannot watch the command: %s", strerror(-r));
        }
}

static const char *const default_env[] = {
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/root",
        "container=vsd",
        NULL,
};

int exec_run(struct vsd *v, struct instance *i, const struct exec_request *req, int sock, void (*done)(void *ud),
             void *ud, struct exec_session **slot) {
        struct exec_session *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (struct exec_session){ .vsd = v,
                                    .sock = sock,
                                    .pidfd = -EBADF,
                                    .sync_fd = -EBADF,
                                    .pty = -EBADF,
                                    .tty = req->tty,
                                    .done = done,
                                    .ud = ud,
                                    .slot = slot };
        if (slot)
                *slot = s;
        snprintf(s->name, sizeof(s->name), "%s", i->cfg.name);
        char *tty_env[] = { (char *) (req->tty ? "TERM=xterm" : "TERM=dumb"), NULL };
        char **base = strv_copy(tty_env, (char **) default_env);
        s->argv = strv_copy(req->argv, NULL);
        s->envp = base ? strv_copy(req->env, base) : NULL;
        strv_free(base);
        if (!s->argv || !s->envp) {
                session_end(s, "error out of memory");
                return 0;
        }

        launch(s, req);
        return 0;
}

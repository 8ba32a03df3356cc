/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "exec.h"

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

#include "../base/proto.h"
#include "../base/util.h"
#include "daemon.h"
#include "instance.h"
#include "loop.h"
#include "start.h"

struct exec_session {
        struct vsd *vsd;
        char name[VS_NAME_MAX + 1];
        int sock;
        int pidfd;
        struct loop_source *src;
        char **argv;
        char **envp;
        bool tty;
        void (*done)(void *ud);
        void *ud;
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
        safe_close(&s->pidfd);
        strv_free(s->argv);
        strv_free(s->envp);
        s->done(s->ud);
        free(s);
}

static int on_exit_cb(struct loop_source *src, int fd, uint32_t events, void *userdata) {
        struct exec_session *s = userdata;
        siginfo_t si = { 0 };
        int status = 255;
        if (waitid(P_PIDFD, (id_t) s->pidfd, &si, WEXITED) == 0)
                status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
        s->src = NULL;
        loop_remove(src);
        session_end(s, "exit %d", status);
        return 0;
}

static int send_fd(int sock, char byte, int fd) {
        char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* Receive the client's three stdio fds.  Exactly three, or nothing. */
static int recv_fds(int sock, int fds[3]) {
        char byte = 0;
        char cbuf[CMSG_SPACE(sizeof(int) * 3)] = { 0 };
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
        ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0)
                return -errno;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        int got = 0;
        if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
                got = (int) ((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int tmp[3] = { -EBADF, -EBADF, -EBADF };
        if (got > 0)
                memcpy(tmp, CMSG_DATA(cm), sizeof(int) * (size_t) (got > 3 ? 3 : got));
        if (n != 1 || byte != VS_EXEC_FDS_BYTE || got != 3 || (mh.msg_flags & MSG_CTRUNC)) {
                for (int k = 0; k < 3 && k < got; k++)
                        close(tmp[k]);
                return -EPROTO;
        }
        memcpy(fds, tmp, sizeof(tmp));
        return 0;
}

static void launch(struct exec_session *s, int fds[3]) {
        vs_error err = { 0 };
        struct instance *i = inst_find(s->vsd, s->name);
        if (!i || (i->state != INST_RUNNING) || i->pidfd < 0) {
                session_end(s, "error instance '%s' is not running", s->name);
                return;
        }
        struct join_spec spec = {
                .name = s->name,
                .init_pidfd = i->pidfd,
                .init_pid = i->pid,
                .cg = s->vsd->cg,
                .argv = s->argv,
                .envp = s->envp,
                .fds = { fds[0], fds[1], fds[2] },
                .tty = s->tty,
                .nofile = (unsigned long) i->cfg.nofile,
                .time_ns = s->vsd->time_ns,
                .rlimits = &i->cfg.rlimits,
        };
        pid_t pid;
        int r = start_join(&spec, &pid, &s->pidfd, &err);
        if (r < 0) {
                session_end(s, "error %s", err.msg);
                return;
        }
        r = loop_add_fd(s->vsd->loop, s->pidfd, EPOLLIN, on_exit_cb, s, &s->src);
        if (r < 0) {
                /* cannot watch it: wait synchronously rather than lose the status */
                on_exit_cb(NULL, s->pidfd, 0, s);
        }
}

static int on_fds(struct loop_source *src, int fd, uint32_t events, void *userdata) {
        struct exec_session *s = userdata;
        int fds[3];
        s->src = NULL;
        loop_remove(src);
        if (recv_fds(fd, fds) < 0) {
                session_end(s, "error expected the client's stdin, stdout and stderr");
                return 0;
        }
        launch(s, fds);
        for (int k = 0; k < 3; k++)
                close(fds[k]);
        return 0;
}

static const char *const default_env[] = {
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/root",
        "container=vsd",
        NULL,
};

int exec_run(struct vsd *v, struct instance *i, const struct exec_request *req, int sock, void (*done)(void *ud),
             void *ud) {
        struct exec_session *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (struct exec_session){ .vsd = v, .sock = sock, .pidfd = -EBADF, .tty = req->tty, .done = done, .ud = ud };
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

        if (!req->tty) {
                int r = loop_add_fd(v->loop, sock, EPOLLIN, on_fds, s, &s->src);
                if (r < 0)
                        session_end(s, "error %s", strerror(-r));
                return 0;
        }

        _cleanup_close_ int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        char name[64];
        if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0) {
                session_end(s, "error cannot allocate a pty: %s", strerror(errno));
                return 0;
        }
        _cleanup_close_ int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0) {
                session_end(s, "error cannot open %s: %s", name, strerror(errno));
                return 0;
        }
        int r = send_fd(sock, VS_EXEC_PTY_BYTE, master);
        if (r < 0) {
                session_end(s, "error cannot pass the pty: %s", strerror(-r));
                return 0;
        }
        int fds[3] = { slave, slave, slave };
        launch(s, fds);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/view/holder.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/util.h"
#include "vsd/core/daemon.h"
#include "vsd/core/loop.h"
#include "vsd/core/syscalls.h"

/* The holder's socket, given to it at this fd number. */
#define HOLD_SOCK_FD 3
/* Notifications answered, and messages read, per wake-up: a caller in a
 * loop or a burst of listeners shares the holder's turn with the rest. */
#define BATCH 16
/* How long a side waits for the other to take the listeners of a
 * connection: both are vsd's own, this bounds a hung one. */
#define HANDOVER_MS 5000
/* Restart backoff, as lxcfs's. */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 30000
#define STABLE_MS 60000

enum { HOLD_MSG_HOLD = 1, HOLD_MSG_GIVE, HOLD_MSG_END };

struct hold_msg {
        uint32_t type;
        uint32_t pad;
        struct hold_tag tag;
};

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One message with fd (or none: -EBADF).  MSG_DONTWAIT: the other side's
 * queue being full is the caller's to handle. */
static int msg_send(int sock, const struct hold_msg *m, int fd) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } u = { 0 };
        struct iovec iov = { .iov_base = (void *) m, .iov_len = sizeof(*m) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (fd >= 0) {
                mh.msg_control = u.buf;
                mh.msg_controllen = sizeof(u.buf);
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        }
        return sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -errno : 0;
}

/* One message; its fd (close-on-exec) in *ret_fd, -EBADF if none came.
 * 0: the other side closed; -EAGAIN: nothing yet. */
static int msg_recv(int sock, struct hold_msg *m, int *ret_fd) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 4)];
        } u;
        struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
        *ret_fd = -EBADF;
        ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0)
                return -errno;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int fds[4];
                memcpy(fds, CMSG_DATA(cm), k * sizeof(int));
                for (size_t j = 0; j < k; j++) {
                        if (*ret_fd < 0)
                                *ret_fd = fds[j];
                        else
                                close(fds[j]);
                }
        }
        if (n == 0)
                return 0;
        if ((size_t) n != sizeof(*m) || m->tag.name[sizeof(m->tag.name) - 1]) {
                safe_close(ret_fd);
                return -EBADMSG;
        }
        return 1;
}

/* ==== the holder process ================================================== */

struct held {
        struct holder *h;
        int fd;
        struct hold_tag tag;
        struct loop_source *src;
        struct held *next;
};

struct holder {
        struct loop *loop;
        int lfd;
        int conn; /* the daemon's connection, or -EBADF */
        struct loop_source *conn_src;
        struct held *list;
        size_t n;
};

static bool readable(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

static void held_drop(struct held *e) {
        for (struct held **p = &e->h->list; *p; p = &(*p)->next)
                if (*p == e) {
                        *p = e->next;
                        break;
                }
        e->h->n--;
        loop_remove(e->src);
        safe_close(&e->fd);
        free(e);
}

static void maybe_exit(struct holder *h) {
        /* no daemon to give them to and nothing held: nothing to do */
        if (h->conn < 0 && !h->list)
                loop_quit(h->loop);
}

static int on_held(struct loop_source *src, int fd, uint32_t events, void *userdata) {
        struct held *e = userdata;
        struct holder *h = e->h;
        /* SECCOMP_IOCTL_NOTIF_RECV blocks when nothing waits: called only
         * while poll() says one does (sysinfo.c) */
        for (int k = 0; k < BATCH && h->conn < 0 && (events & EPOLLIN) && readable(fd); k++) {
                struct seccomp_notif req;
                memset(&req, 0, sizeof(req));
                if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
                        if (errno == ENOENT || errno == EINTR)
                                continue;
                        break;
                }
                struct seccomp_notif_resp resp = { .id = req.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE };
                (void) ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
        }
        if ((events & (EPOLLHUP | EPOLLERR)) && !readable(fd)) {
                /* no process uses its filter any more */
                held_drop(e);
                maybe_exit(h);
        }
        return 0;
}

/* Watch every listener for its end only (a daemon answers), or answer
 * too (none does). */
static void set_answering(struct holder *h, bool on) {
        for (struct held *e = h->list; e; e = e->next)
                (void) loop_modify_fd(e->src, on ? EPOLLIN : 0);
}

static void conn_close(struct holder *h) {
        loop_remove(h->conn_src);
        h->conn_src = NULL;
        safe_close(&h->conn);
        set_answering(h, true);
        maybe_exit(h);
}

static int held_add(struct holder *h, const struct hold_tag *tag, int fd) {
        struct held *e = calloc(1, sizeof(*e));
        if (!e) {
                close(fd);
                return -ENOMEM;
        }
        *e = (struct held){ .h = h, .fd = fd, .tag = *tag };
        int r = loop_add_fd(h->loop, fd, h->conn >= 0 ? 0 : EPOLLIN, on_held, e, &e->src);
        if (r < 0) {
                close(fd);
                free(e);
                return r;
        }
        e->next = h->list;
        h->list = e;
        h->n++;
        return 0;
}

static int on_conn(struct loop_source *src, int fd, uint32_t events, void *userdata) {
        struct holder *h = userdata;
        for (int k = 0; k < BATCH; k++) {
                struct hold_msg m;
                int lfd;
                int r = msg_recv(fd, &m, &lfd);
                if (r == -EAGAIN || r == -EINTR)
                        return 0;
                if (r == -EBADMSG || (r > 0 && (m.type != HOLD_MSG_HOLD || lfd < 0))) {
                        safe_close(&lfd);
                        continue;
                }
                if (r <= 0) {
                        conn_close(h);
                        return 0;
                }
                if (held_add(h, &m.tag, lfd) < 0)
                        dprintf(2, "vsd listener holder: Failed to hold a listener of %s, ignoring\n", m.tag.name);
        }
        return 0;
}

/* Every listener to a new daemon, then END.  Bounded: a daemon that does
 * not read within HANDOVER_MS is dropped. */
static int give_all(struct holder *h, int conn) {
        int64_t deadline = now_ms() + HANDOVER_MS;
        struct held *e = h->list;
        bool end = false;
        while (!end) {
                struct hold_msg m = { .type = e ? HOLD_MSG_GIVE : HOLD_MSG_END };
                if (e)
                        m.tag = e->tag;
                int r = msg_send(conn, &m, e ? e->fd : -EBADF);
                if (r == -EAGAIN) {
                        int left = (int) (deadline - now_ms());
                        struct pollfd p = { .fd = conn, .events = POLLOUT };
                        if (left <= 0 || poll(&p, 1, left) <= 0 || !(p.revents & POLLOUT))
                                return -ETIMEDOUT;
                        continue;
                }
                if (r < 0 && r != -EINTR)
                        return r;
                if (r == 0) {
                        if (e)
                                e = e->next;
                        else
                                end = true;
                }
        }
        return 0;
}

static int on_accept(struct loop_source *src, int fd, uint32_t events, void *userdata) {
        struct holder *h = userdata;
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0)
                return 0;
        /* one daemon per run directory (its lock): a new one means the
         * last is gone, whether or not its hang-up was read yet */
        if (h->conn >= 0) {
                loop_remove(h->conn_src);
                h->conn_src = NULL;
                safe_close(&h->conn);
        }
        h->conn = c;
        set_answering(h, false);
        if (give_all(h, c) < 0 || loop_add_fd(h->loop, c, EPOLLIN, on_conn, h, &h->conn_src) < 0) {
                dprintf(2, "vsd listener holder: Failed to hand %zu listeners to the daemon, ignoring\n", h->n);
                safe_close(&h->conn);
                set_answering(h, true);
        }
        return 0;
}

int hold_main(const char *dir) {
        struct holder h = { .lfd = HOLD_SOCK_FD, .conn = -EBADF };
        struct loop_source *lsrc = NULL;
        (void) dir; /* on the command line to name the process's daemon */
        (void) prctl(PR_SET_NAME, "vsd-holder");
        signal(SIGPIPE, SIG_IGN);
        if (fcntl(h.lfd, F_SETFD, FD_CLOEXEC) < 0 || loop_new(&h.loop) < 0 ||
            loop_add_fd(h.loop, h.lfd, EPOLLIN, on_accept, &h, &lsrc) < 0) {
                dprintf(2, "vsd listener holder: Failed to set up: %s\n", strerror(errno));
                return 1;
        }
        int r = loop_run(h.loop);
        /* the listeners close with the process: a caller still waiting
         * then gets ENOSYS from the kernel */
        return r < 0 ? 1 : 0;
}

/* ==== the daemon's side =================================================== */

struct hold {
        struct vsd *vsd;
        char dir[512];
        char sock[600];
        char statefile[600];
        char logfile[600];
        pid_t pid;
        int pidfd;
        bool is_child;
        unsigned long long starttime;
        int conn;
        struct loop_source *pidfd_src, *conn_src, *timer;
        bool want_out; /* EPOLLOUT armed: a give waits for room */
        unsigned failures;
        int64_t started_ms;
        bool stopping;
        struct hold_ops ops;
};

int hold_new(struct vsd *v, const struct hold_ops *ops, struct hold **ret) {
        struct hold *h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->vsd = v;
        h->ops = *ops;
        h->pidfd = h->conn = -EBADF;
        snprintf(h->dir, sizeof(h->dir), "%s/holder", v->set.run_dir);
        snprintf(h->sock, sizeof(h->sock), "%s/sock", h->dir);
        snprintf(h->statefile, sizeof(h->statefile), "%s/state", h->dir);
        snprintf(h->logfile, sizeof(h->logfile), "%s/holder.log", h->dir);
        *ret = h;
        return 0;
}

static void forget_conn(struct hold *h) {
        loop_remove(h->conn_src);
        h->conn_src = NULL;
        h->want_out = false;
        safe_close(&h->conn);
}

static void forget_process(struct hold *h) {
        forget_conn(h);
        loop_remove(h->pidfd_src);
        loop_remove(h->timer);
        h->pidfd_src = h->timer = NULL;
        safe_close(&h->pidfd);
        h->pid = 0;
        h->starttime = 0;
        h->is_child = false;
}

static void kill_wait(struct hold *h) {
        if (h->pidfd < 0)
                return;
        (void) sys_pidfd_send_signal(h->pidfd, SIGKILL, NULL, 0);
        struct pollfd p = { .fd = h->pidfd, .events = POLLIN };
        while (poll(&p, 1, 2000) < 0 && errno == EINTR)
                ;
        if (h->is_child)
                (void) waitid(P_PIDFD, (id_t) h->pidfd, &(siginfo_t){ 0 }, WEXITED | WNOHANG);
}

static int state_save(const struct hold *h) {
        json_t *j = json_pack("{s:i, s:I}", "pid", (int) h->pid, "starttime", (json_int_t) h->starttime);
        if (!j)
                return -ENOMEM;
        _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!text)
                return -ENOMEM;
        return vs_write_replace(h->statefile, text, strlen(text), 0600);
}

static int on_exit_cb(struct loop_source *s, int fd, uint32_t events, void *userdata);
static int on_conn_cb(struct loop_source *s, int fd, uint32_t events, void *userdata);

/* Take every listener the holder gives on a new connection, until END. */
static int take_all(struct hold *h, unsigned *ret_n) {
        int64_t deadline = now_ms() + HANDOVER_MS;
        unsigned n = 0;
        for (;;) {
                struct hold_msg m;
                int fd;
                int r = msg_recv(h->conn, &m, &fd);
                if (r == -EAGAIN || r == -EINTR) {
                        int left = (int) (deadline - now_ms());
                        struct pollfd p = { .fd = h->conn, .events = POLLIN };
                        if (left <= 0 || poll(&p, 1, left) <= 0)
                                return -ETIMEDOUT;
                        continue;
                }
                if (r == 0)
                        return -ECONNRESET;
                if (r == -EBADMSG)
                        continue;
                if (r < 0)
                        return r;
                if (m.type == HOLD_MSG_END) {
                        safe_close(&fd);
                        *ret_n = n;
                        return 0;
                }
                if (m.type != HOLD_MSG_GIVE || fd < 0) {
                        safe_close(&fd);
                        continue;
                }
                if (h->ops.adopt(h->ops.ud, &m.tag, fd) == 0)
                        n++;
        }
}

/* Connect, take what it holds, and give it what it lacks. */
static int connect_holder(struct hold *h, bool adopted) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(h->sock) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, h->sock);
        h->conn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (h->conn < 0)
                return -errno;
        /* on a listening unix socket, with room in its backlog: at once */
        if (connect(h->conn, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;
                forget_conn(h);
                return r;
        }
        unsigned n = 0;
        int r = take_all(h, &n);
        if (r >= 0)
                r = loop_add_fd(h->vsd->loop, h->conn, EPOLLIN, on_conn_cb, h, &h->conn_src);
        if (r < 0) {
                forget_conn(h);
                return r;
        }
        if (adopted)
                log_info("Adopted the listener holder (pid %d) from the previous vsd: %u listener%s back", (int) h->pid, n,
                         n == 1 ? "" : "s");
        /* a new holder gets a copy of every listener the daemon has */
        h->ops.flush(h->ops.ud);
        return 0;
}

static _Noreturn void child_exec(const struct hold *h, int lfd, int nullfd, int logfd) {
        (void) vs_signals_default();
        /* its own session, as lxcfs: a hang-up of vsd's terminal must not
         * end what keeps running instances answered */
        setsid();
        if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0 || dup2(lfd, HOLD_SOCK_FD) < 0)
                _exit(126);
        /* the daemon's own image, even when its file was replaced (an
         * upgrade): the holder speaks this daemon's protocol */
        char *const argv[] = { "vsd", "--listener-holder", (char *) h->dir, NULL };
        static char *const env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
        execve("/proc/self/exe", argv, env);
        _exit(127);
}

static int spawn(struct hold *h) {
        int r = vs_mkdir_p(h->dir, 0700);
        if (r < 0)
                return r;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(h->sock) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, h->sock);
        _cleanup_close_ int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (lfd < 0)
                return -errno;
        (void) unlink(h->sock);
        if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0)
                return -errno;
        _cleanup_close_ int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int logfd = open(h->logfile, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (nullfd < 0 || logfd < 0)
                return -errno;
        int pidfd = -EBADF;
        struct clone_args args = { .flags = CLONE_PIDFD, .pidfd = (uint64_t) (uintptr_t) &pidfd, .exit_signal = SIGCHLD };
        pid_t pid = sys_clone3(&args);
        if (pid < 0)
                return pid;
        if (pid == 0)
                child_exec(h, lfd, nullfd, logfd);
        h->pid = pid;
        h->pidfd = pidfd;
        h->is_child = true;
        h->started_ms = now_ms();
        (void) vs_proc_starttime(pid, &h->starttime);
        r = loop_add_fd(h->vsd->loop, pidfd, EPOLLIN, on_exit_cb, h, &h->pidfd_src);
        if (r >= 0)
                r = state_save(h);
        if (r >= 0)
                r = connect_holder(h, false);
        if (r < 0) {
                kill_wait(h);
                forget_process(h);
                (void) unlink(h->statefile);
                return r;
        }
        return 0;
}

static void restart_cb(struct loop_source *s, void *userdata);

static void schedule_restart(struct hold *h, int why) {
        if (h->started_ms && now_ms() - h->started_ms >= STABLE_MS)
                h->failures = 0;
        h->failures++;
        uint64_t ms = BACKOFF_FIRST_MS;
        for (unsigned k = 1; k < h->failures && ms < BACKOFF_MAX_MS; k++)
                ms *= 2;
        if (ms > BACKOFF_MAX_MS)
                ms = BACKOFF_MAX_MS;
        if (loop_add_timer(h->vsd->loop, ms, restart_cb, h, &h->timer) < 0) {
                log_err("Failed to arm the listener holder's restart timer, ignoring: a daemon restart loses the listeners");
                return;
        }
        log_warn("The listener holder is down (%s); restarting it in %" PRIu64 " ms", strerror(why), ms);
}

static void restart_cb(struct loop_source *s, void *userdata) {
        struct hold *h = userdata;
        h->timer = NULL;
        int r = spawn(h);
        if (r < 0)
                schedule_restart(h, -r);
        else
                log_info("Listener holder started again (pid %d)", (int) h->pid);
}

static int on_exit_cb(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct hold *h = userdata;
        if (h->is_child)
                (void) waitid(P_PIDFD, (id_t) h->pidfd, &(siginfo_t){ 0 }, WEXITED | WNOHANG);
        forget_process(h); /* removes this source before its fd closes */
        (void) unlink(h->statefile);
        /* its copies are gone: each listener is the daemon's only, until
         * the next holder gets a copy */
        h->ops.lost(h->ops.ud);
        schedule_restart(h, ECHILD);
        return 0;
}

static int on_conn_cb(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct hold *h = userdata;
        if (events & EPOLLOUT) {
                h->want_out = false;
                (void) loop_modify_fd(h->conn_src, EPOLLIN);
                h->ops.flush(h->ops.ud);
        }
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                /* the holder says nothing after END: this is its end (its
                 * pidfd says so too, and restarts it) */
                forget_conn(h);
                h->ops.lost(h->ops.ud);
        }
        return 0;
}

int hold_give(struct hold *h, const struct hold_tag *tag, int fd) {
        if (!h || h->conn < 0)
                return -ENOTCONN;
        if (h->want_out)
                return -EAGAIN; /* in order: the earlier ones first */
        struct hold_msg m = { .type = HOLD_MSG_HOLD, .tag = *tag };
        int r = msg_send(h->conn, &m, fd);
        if (r == -EAGAIN && loop_modify_fd(h->conn_src, EPOLLIN | EPOLLOUT) == 0)
                h->want_out = true;
        return r;
}

/* The holder the previous daemon left, if it still runs (same pid and
 * start time). */
static bool adopt(struct hold *h) {
        _cleanup_free_ char *text = NULL;
        if (vs_read_file(h->statefile, 4096, &text, NULL) < 0)
                return false;
        json_t *j = json_loads(text, 0, NULL);
        json_int_t pid = 0, starttime = 0;
        if (!j || json_unpack(j, "{s:I, s:I}", "pid", &pid, "starttime", &starttime) < 0)
                pid = 0;
        json_decref(j);
        unsigned long long now_start = 0;
        if (pid <= 0 || vs_proc_starttime((pid_t) pid, &now_start) < 0 || now_start != (unsigned long long) starttime)
                return false;
        int fd = sys_pidfd_open((pid_t) pid, 0);
        if (fd < 0)
                return false;
        h->pid = (pid_t) pid;
        h->pidfd = fd;
        h->starttime = now_start;
        h->is_child = false;
        int r = connect_holder(h, true);
        if (r >= 0)
                r = loop_add_fd(h->vsd->loop, fd, EPOLLIN, on_exit_cb, h, &h->pidfd_src);
        if (r < 0) {
                log_warn("The listener holder (pid %d) left by the previous vsd does not answer (%s), replacing it",
                         (int) pid, strerror(-r));
                kill_wait(h);
                forget_process(h);
                return false;
        }
        return true;
}

void hold_start(struct hold *h) {
        if (!h || adopt(h))
                return;
        (void) unlink(h->statefile);
        int r = spawn(h);
        if (r < 0) {
                log_warn("Failed to start the listener holder: %s, ignoring", strerror(-r));
                schedule_restart(h, -r);
        }
}

void hold_free(struct hold *h, bool stop) {
        if (!h)
                return;
        if (stop) {
                kill_wait(h);
                (void) unlink(h->statefile);
                (void) unlink(h->sock);
                (void) unlink(h->logfile);
                (void) rmdir(h->dir);
        }
        forget_process(h);
        free(h);
}

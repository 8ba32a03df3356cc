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

/* The messages.  A listener or a console comes with its fds; a console
 * given back comes with what the holder read from it (after the header,
 * up to HOLD_CONSOLE_RING bytes), and in `lost` how many older bytes it
 * dropped.  Types an older holder or daemon does not know are skipped by
 * it (their fds closed): a new daemon with an older holder keeps its
 * listeners and rebinds its consoles as before. */
enum {
        HOLD_MSG_HOLD = 1,     /* daemon -> holder: a listener */
        HOLD_MSG_GIVE,         /* holder -> daemon: a listener back */
        HOLD_MSG_END,          /* holder -> daemon: that was all */
        HOLD_MSG_CONSOLE,      /* daemon -> holder: a console master and its init's pidfd */
        HOLD_MSG_GIVE_CONSOLE, /* holder -> daemon: a console master back, with its output */
        HOLD_MSG_TAKEN,        /* daemon -> holder: what was given back is written down */
};

struct hold_msg {
        uint32_t type;
        uint32_t lost; /* GIVE_CONSOLE: bytes dropped before the output that follows */
        struct hold_tag tag;
};

/* The output of a console kept while no daemon reads it: the newest
 * bytes, the older ones dropped (counted). */
#define HOLD_CONSOLE_RING (64 * 1024)
/* The most fds a message carries. */
#define HOLD_MAX_FDS 2

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One message with up to HOLD_MAX_FDS fds (those < 0 are not sent) and
 * a payload after the header.  MSG_DONTWAIT: the other side's queue
 * being full is the caller's to handle. */
static int msg_send(int sock, const struct hold_msg *m, const int *fds, size_t n_fds, const void *data, size_t len) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * HOLD_MAX_FDS)];
        } u = { 0 };
        struct iovec iov[2] = { { .iov_base = (void *) m, .iov_len = sizeof(*m) },
                                { .iov_base = (void *) data, .iov_len = len } };
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
        int send_fds[HOLD_MAX_FDS];
        size_t k = 0;
        for (size_t j = 0; j < n_fds && k < HOLD_MAX_FDS; j++)
                if (fds[j] >= 0)
                        send_fds[k++] = fds[j];
        if (k) {
                mh.msg_control = u.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * k);
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int) * k);
                memcpy(CMSG_DATA(cm), send_fds, sizeof(int) * k);
        }
        return sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -errno : 0;
}

/* One message; its fds (close-on-exec) in ret_fds[HOLD_MAX_FDS], -EBADF
 * where none came, and what followed the header in data (up to cap
 * bytes; its length in *ret_len; data may be NULL when none is wanted).
 * 0: the other side closed; -EAGAIN: nothing yet. */
static int msg_recv(int sock, struct hold_msg *m, int *ret_fds, void *data, size_t cap, size_t *ret_len) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 4)];
        } u;
        char none[1];
        struct iovec iov[2] = { { .iov_base = m, .iov_len = sizeof(*m) },
                                { .iov_base = data ? data : none, .iov_len = data ? cap : sizeof(none) } };
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
        for (size_t j = 0; j < HOLD_MAX_FDS; j++)
                ret_fds[j] = -EBADF;
        ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0)
                return -errno;
        size_t got = 0;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int fds[4];
                memcpy(fds, CMSG_DATA(cm), k * sizeof(int));
                for (size_t j = 0; j < k; j++) {
                        if (got < HOLD_MAX_FDS)
                                ret_fds[got++] = fds[j];
                        else
                                close(fds[j]);
                }
        }
        if (n == 0)
                return 0;
        if ((size_t) n < sizeof(*m) || (mh.msg_flags & MSG_TRUNC) || (!data && (size_t) n != sizeof(*m)) ||
            m->tag.name[sizeof(m->tag.name) - 1]) {
                for (size_t j = 0; j < HOLD_MAX_FDS; j++)
                        safe_close(&ret_fds[j]);
                return -EBADMSG;
        }
        if (ret_len)
                *ret_len = (size_t) n - sizeof(*m);
        return 1;
}

static void close_fds(int *fds) {
        for (size_t j = 0; j < HOLD_MAX_FDS; j++)
                safe_close(&fds[j]);
}

/* ==== the holder process ================================================== */

/* A listener, or a console's pty master: held until no process uses the
 * listener's filter, or until the console's init exits. */
struct held {
        struct holder *h;
        bool console;
        int fd; /* the listener, or the console's master */
        struct hold_tag tag;
        struct loop_source *src;
        /* a console's: init's pidfd (its exit ends the hold), a slave of
         * our own (without one the master reads EIO and polls hung up
         * whenever init and its children have closed theirs), and what we
         * read while no daemon did */
        int pidfd;
        int peer;
        struct loop_source *pidfd_src;
        char *ring;
        size_t ring_len;
        uint64_t ring_lost;
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
        loop_remove(e->pidfd_src);
        safe_close(&e->fd);
        safe_close(&e->pidfd);
        safe_close(&e->peer);
        free(e->ring);
        free(e);
}

static void maybe_exit(struct holder *h) {
        /* no daemon to give them to and nothing held: nothing to do */
        if (h->conn < 0 && !h->list)
                loop_quit(h->loop);
}

/* Keep the newest HOLD_CONSOLE_RING bytes of a console's output (n is
 * one read, at most 4096). */
static void ring_put(struct held *e, const char *buf, size_t n) {
        if (!e->ring && !(e->ring = malloc(HOLD_CONSOLE_RING))) {
                e->ring_lost += n;
                return;
        }
        _Static_assert(HOLD_CONSOLE_RING >= 4096, "a read fits the ring");
        if (e->ring_len + n > HOLD_CONSOLE_RING) {
                size_t d = e->ring_len + n - HOLD_CONSOLE_RING;
                memmove(e->ring, e->ring + d, e->ring_len - d);
                e->ring_len -= d;
                e->ring_lost += d;
        }
        memcpy(e->ring + e->ring_len, buf, n);
        e->ring_len += n;
}

static void ring_clear(struct held *e) {
        free(e->ring);
        e->ring = NULL;
        e->ring_len = 0;
        e->ring_lost = 0;
}

/* A console while no daemon runs: read what init and its children write,
 * so that none of them blocks on a full tty, and keep the newest of it for
 * the next daemon's console.log.  Bounded per wake-up, as the answers. */
static void console_drain(struct held *e) {
        char buf[4096];
        for (int k = 0; k < BATCH; k++) {
                ssize_t n = read(e->fd, buf, sizeof(buf));
                if (n <= 0)
                        return; /* EAGAIN; EIO cannot last: we hold a slave */
                ring_put(e, buf, (size_t) n);
        }
}

static int on_held(struct loop_source *src, int fd, uint32_t events, void *userdata) {
        struct held *e = userdata;
        struct holder *h = e->h;
        if (e->console) {
                if (h->conn < 0 && (events & EPOLLIN))
                        console_drain(e);
                return 0;
        }
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

/* A console's init exited: its pty has no more use. */
static int on_held_init(struct loop_source *src, int fd, uint32_t events, void *userdata) {
        struct held *e = userdata;
        struct holder *h = e->h;
        held_drop(e);
        maybe_exit(h);
        return 0;
}

/* Watch every listener for its end only and leave every console to the
 * daemon (a daemon answers and reads), or answer and read too (none
 * does). */
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

static int held_add(struct holder *h, const struct hold_tag *tag, int *fds, bool console) {
        struct held *e = calloc(1, sizeof(*e));
        if (!e) {
                close_fds(fds);
                return -ENOMEM;
        }
        *e = (struct held){ .h = h, .console = console, .fd = TAKE_FD(fds[0]), .tag = *tag, .pidfd = -EBADF,
                            .peer = -EBADF };
        int r = 0;
        if (console) {
                e->pidfd = TAKE_FD(fds[1]);
                e->peer = ioctl(e->fd, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
                if (e->pidfd < 0 || e->peer < 0)
                        r = e->pidfd < 0 ? -EBADF : -errno;
                if (r >= 0)
                        r = loop_add_fd(h->loop, e->pidfd, EPOLLIN, on_held_init, e, &e->pidfd_src);
        }
        if (r >= 0)
                r = loop_add_fd(h->loop, e->fd, h->conn >= 0 ? 0 : EPOLLIN, on_held, e, &e->src);
        close_fds(fds);
        if (r < 0) {
                loop_remove(e->pidfd_src);
                safe_close(&e->fd);
                safe_close(&e->pidfd);
                safe_close(&e->peer);
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
                int fds[HOLD_MAX_FDS];
                int r = msg_recv(fd, &m, fds, NULL, 0, NULL);
                if (r == -EAGAIN || r == -EINTR)
                        return 0;
                if (r == -EBADMSG)
                        continue;
                if (r <= 0) {
                        conn_close(h);
                        return 0;
                }
                if (m.type == HOLD_MSG_TAKEN) {
                        /* the daemon wrote down what we gave back */
                        for (struct held *e = h->list; e; e = e->next)
                                ring_clear(e);
                        close_fds(fds);
                        continue;
                }
                bool console = m.type == HOLD_MSG_CONSOLE;
                if ((m.type != HOLD_MSG_HOLD && !console) || fds[0] < 0) {
                        close_fds(fds);
                        continue;
                }
                if (held_add(h, &m.tag, fds, console) < 0)
                        dprintf(2, "vsd listener holder: Failed to hold a %s of %s, ignoring\n",
                                console ? "console" : "listener", m.tag.name);
        }
        return 0;
}

/* Every listener and console to a new daemon, then END.  Bounded: a
 * daemon that does not read within HANDOVER_MS is dropped.  A console's
 * output stays ours until the daemon says it has it (TAKEN): a daemon
 * killed in between gets it again from the next connection. */
static int give_all(struct holder *h, int conn) {
        int64_t deadline = now_ms() + HANDOVER_MS;
        struct held *e = h->list;
        bool end = false;
        while (!end) {
                struct hold_msg m = { .type = HOLD_MSG_END };
                int fds[1] = { -EBADF };
                const char *data = NULL;
                size_t len = 0;
                if (e) {
                        m.type = e->console ? HOLD_MSG_GIVE_CONSOLE : HOLD_MSG_GIVE;
                        m.tag = e->tag;
                        fds[0] = e->fd;
                        if (e->console) {
                                m.lost = e->ring_lost > UINT32_MAX ? UINT32_MAX : (uint32_t) e->ring_lost;
                                data = e->ring;
                                len = e->ring_len;
                        }
                }
                int r = msg_send(conn, &m, fds, 1, data, len);
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
                dprintf(2, "vsd listener holder: Failed to hand %zu listeners and consoles to the daemon, ignoring\n",
                        h->n);
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
         * then gets ENOSYS from the kernel; a console's pty hangs up */
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

/* Take every listener and console the holder gives on a new connection,
 * until END; then tell it the consoles' output is written down. */
static int take_all(struct hold *h, unsigned *ret_n, unsigned *ret_consoles) {
        int64_t deadline = now_ms() + HANDOVER_MS;
        unsigned n = 0, nc = 0;
        _cleanup_free_ char *data = malloc(HOLD_CONSOLE_RING);
        if (!data)
                return -ENOMEM;
        for (;;) {
                struct hold_msg m;
                int fds[HOLD_MAX_FDS];
                size_t len = 0;
                int r = msg_recv(h->conn, &m, fds, data, HOLD_CONSOLE_RING, &len);
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
                int fd = TAKE_FD(fds[0]);
                close_fds(fds);
                if (m.type == HOLD_MSG_END) {
                        safe_close(&fd);
                        *ret_n = n;
                        *ret_consoles = nc;
                        /* best effort: without it the holder gives the
                         * same output again to the next daemon */
                        struct hold_msg t = { .type = HOLD_MSG_TAKEN };
                        (void) msg_send(h->conn, &t, NULL, 0, NULL, 0);
                        return 0;
                }
                if (fd < 0)
                        continue;
                if (m.type == HOLD_MSG_GIVE) {
                        if (h->ops.adopt(h->ops.ud, &m.tag, fd) == 0)
                                n++;
                } else if (m.type == HOLD_MSG_GIVE_CONSOLE && h->ops.adopt_console) {
                        if (h->ops.adopt_console(h->ops.ud, &m.tag, fd, data, len, m.lost) == 0)
                                nc++;
                } else
                        safe_close(&fd);
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
        unsigned n = 0, nc = 0;
        int r = take_all(h, &n, &nc);
        if (r >= 0)
                r = loop_add_fd(h->vsd->loop, h->conn, EPOLLIN, on_conn_cb, h, &h->conn_src);
        if (r < 0) {
                forget_conn(h);
                return r;
        }
        if (adopted)
                log_info("Adopted the listener holder (pid %d) from the previous vsd: %u listener%s and %u console%s back",
                         (int) h->pid, n, n == 1 ? "" : "s", nc, nc == 1 ? "" : "s");
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

static int give(struct hold *h, const struct hold_msg *m, const int *fds, size_t n_fds) {
        if (!h || h->conn < 0)
                return -ENOTCONN;
        if (h->want_out)
                return -EAGAIN; /* in order: the earlier ones first */
        int r = msg_send(h->conn, m, fds, n_fds, NULL, 0);
        if (r == -EAGAIN && loop_modify_fd(h->conn_src, EPOLLIN | EPOLLOUT) == 0)
                h->want_out = true;
        return r;
}

int hold_give(struct hold *h, const struct hold_tag *tag, int fd) {
        struct hold_msg m = { .type = HOLD_MSG_HOLD, .tag = *tag };
        return give(h, &m, &fd, 1);
}

int hold_give_console(struct hold *h, const struct hold_tag *tag, int master, int init_pidfd) {
        struct hold_msg m = { .type = HOLD_MSG_CONSOLE, .tag = *tag };
        int fds[2] = { master, init_pidfd };
        if (master < 0 || init_pidfd < 0)
                return -EBADF;
        return give(h, &m, fds, 2);
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

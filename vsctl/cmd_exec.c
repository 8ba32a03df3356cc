/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vsctl exec NAME [-t] [-e K=V]... [--] CMD [ARG...]
 *
 * The exec protocol (base/proto.h, doc/api.md): after "101 Switching
 * Protocols" the daemon starts the command and hands us our ends of its
 * stdio, never the other way round: no file of ours reaches the instance.
 * Without -t these are three pipes: we copy our stdin into the first
 * (closing it at our end of input) and the other two out to our stdout and
 * stderr, with splice(2) where both sides allow it (no copy through our
 * memory) and read/write where they do not (a terminal, an O_APPEND file).
 * With -t it is the master of the command's pty, whose window size we sent
 * in the request and keep up to date, and we relay our terminal to it in raw
 * mode.  Either way the daemon ends with "exit N\n" or "error MESSAGE\n";
 * we then copy out what the command left in its output and exit with N,
 * without waiting for background processes that still hold the pipes or
 * the pty.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "base/proto.h"
#include "base/util.h"
#include "vsctl/http.h"
#include "vsctl/vsctl.h"

#define STATUS_LINE_MAX 1024
/* After the exit status arrives, output the pty still holds is copied out
 * until the pty reports hangup or stays quiet this long. */
#define DRAIN_IDLE_MS 100

struct status_line {
        char buf[STATUS_LINE_MAX];
        size_t len;
        bool done;
};

/* Feed bytes from the socket; the line is complete at its '\n'. */
static int status_feed(struct status_line *st, const char *p, size_t n) {
        for (size_t i = 0; i < n && !st->done; i++) {
                if (p[i] == '\n') {
                        st->buf[st->len] = '\0';
                        st->done = true;
                } else if (st->len + 1 < sizeof(st->buf))
                        st->buf[st->len++] = p[i];
        }
        return st->done;
}

/* Read the rest of the status line from the socket (blocking). */
static int status_read(int sock, struct status_line *st, vs_error *err) {
        while (!st->done) {
                char c[256];
                ssize_t n = read(sock, c, sizeof(c));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return vs_err(err, errno, "cannot read the exit status from vsd");
                if (n == 0)
                        return vs_err_msg(err, ECONNRESET, "vsd closed the exec connection without an exit status");
                status_feed(st, c, (size_t) n);
        }
        return 0;
}

/* "exit N" -> N; "error MSG" -> the shells' 126/127 after printing MSG. */
static int status_exit_code(const struct status_line *st) {
        const char *l = st->buf;
        if (strncmp(l, "exit ", 5) == 0) {
                char *end;
                errno = 0;
                long n = strtol(l + 5, &end, 10);
                if (errno == 0 && end != l + 5 && *end == '\0' && n >= 0 && n <= 255)
                        return (int) n;
        } else if (strncmp(l, "error ", 6) == 0) {
                const char *msg = l + 6;
                fprintf(stderr, "vsctl: %s\n", msg);
                /* Like sh: 127 when there is no such command, 126 when it
                 * exists but cannot be run. */
                if (strstr(msg, strerror(ENOENT)) || strstr(msg, "not found"))
                        return VSCTL_EXIT_NOT_FOUND;
                return VSCTL_EXIT_CANNOT_RUN;
        }
        fprintf(stderr, "vsctl: unexpected exit status from vsd: '%.80s'\n", l);
        return VSCTL_EXIT_FAILURE;
}

/* The daemon's one byte with our ends of the command's stdio: nfds fds
 * after the byte want.  A daemon that could not start the command sends its
 * status line instead; that byte is then the first of the line.  Returns 1
 * with ret_fds filled, 0 when the status line came instead. */
static int recv_stdio(int sock, char want, int *ret_fds, size_t nfds, struct status_line *st, vs_error *err) {
        char byte;
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 4)];
        } u = {};
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
        ssize_t n;
        do
                n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return vs_err(err, errno, "cannot receive the command's stdio from vsd");
        if (n == 0)
                return vs_err_msg(err, ECONNRESET, "vsd closed the exec connection");

        int fds[4];
        size_t got = 0;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k; i++) {
                        int fd;
                        memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                        if (got < ELEMENTSOF(fds))
                                fds[got++] = fd;
                        else
                                close(fd);
                }
        }
        if (byte == want && got == nfds && !(msg.msg_flags & MSG_CTRUNC)) {
                memcpy(ret_fds, fds, nfds * sizeof(int));
                return 1;
        }
        for (size_t i = 0; i < got; i++)
                close(fds[i]);
        if (byte == want || byte == VS_EXEC_PIPES_BYTE || byte == VS_EXEC_PTY_BYTE)
                return vs_err_msg(err, EPROTO, "vsd sent an unexpected stdio message ('%c', %zu fds)", byte, got);
        status_feed(st, &byte, 1);
        return 0;
}

/* Read one chunk of the status line from the socket.  Returns 0, or < 0
 * with err set when the connection failed or ended without a status. */
static int status_poll_read(int sock, struct status_line *st, vs_error *err) {
        char buf[256];
        ssize_t m = read(sock, buf, sizeof(buf));
        if (m < 0 && errno != EINTR && errno != EAGAIN)
                return vs_err(err, errno, "cannot read the exit status from vsd");
        if (m == 0)
                return vs_err_msg(err, ECONNRESET, "vsd closed the exec connection without an exit status");
        if (m > 0)
                status_feed(st, buf, (size_t) m);
        return 0;
}

/* ---- without a terminal: three pipes -------------------------------------- */

/* One direction: our stdin into the command's stdin pipe, or one of its
 * output pipes out to our stdout or stderr. */
struct stream {
        int from, to;
        bool own_from, own_to; /* ours to close (the pipe ends, /dev/null) */
        bool copy;             /* splice refused: read/write through buf */
        bool wait_out;         /* the last move stopped on a full destination */
        bool done;
        char *buf;
        size_t len, off;
};

#define STREAM_SPLICE_MAX (1024 * 1024)
#define STREAM_BUF 65536

static void stream_finish(struct stream *s) {
        if (s->own_from)
                safe_close(&s->from);
        if (s->own_to)
                safe_close(&s->to);
        s->done = true;
}

/* Move up to max bytes.  Returns the number taken from the source, 0 at its
 * end, -EAGAIN when one side is not ready (wait_out says which we wait on
 * next), or another -errno: the stream is over. */
static ssize_t stream_move(struct stream *s, size_t max) {
        if (!s->copy) {
                ssize_t n = splice(s->from, NULL, s->to, NULL, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (n >= 0) {
                        s->wait_out = false;
                        return n;
                }
                if (errno == EAGAIN || errno == EINTR) {
                        /* We only splice after the source polled readable,
                         * so it is the destination that is full; if not,
                         * the next poll finds it writable at once. */
                        s->wait_out = !s->wait_out;
                        return -EAGAIN;
                }
                if (errno != EINVAL && errno != ENOSYS)
                        return -errno;
                /* A terminal, an O_APPEND file, ...: copy instead. */
                s->copy = true;
        }
        if (!s->buf) {
                s->buf = malloc(STREAM_BUF);
                if (!s->buf)
                        return -ENOMEM;
        }
        ssize_t got = 0;
        if (s->off == s->len) {
                got = read(s->from, s->buf, max < STREAM_BUF ? max : STREAM_BUF);
                if (got < 0)
                        return errno == EAGAIN || errno == EINTR ? (s->wait_out = false, -EAGAIN) : -errno;
                if (got == 0)
                        return 0;
                s->len = (size_t) got;
                s->off = 0;
        }
        ssize_t w = write(s->to, s->buf + s->off, s->len - s->off);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
                return -errno;
        if (w > 0)
                s->off += (size_t) w;
        s->wait_out = s->off < s->len;
        return got > 0 ? got : -EAGAIN;
}

/* One step after poll() said our side is ready. */
static void stream_step(struct stream *s) {
        ssize_t n = stream_move(s, STREAM_SPLICE_MAX);
        if (n == 0 || (n < 0 && n != -EAGAIN))
                /* End of input, a reader that went away (the command closed
                 * its stdin; our stdout was closed: closing the pipe gives
                 * the command SIGPIPE, as writing to it directly would) or
                 * an error: this direction is over. */
                stream_finish(s);
}

/* After the exit status: copy out what the output pipe holds now, and no
 * more: a background process may go on writing forever. */
static void stream_drain(struct stream *s) {
        int avail = 0;
        if (s->done || ioctl(s->from, FIONREAD, &avail) < 0 || avail < 0)
                avail = 0;
        size_t left = (size_t) avail;
        for (;;) {
                /* Copying: what was read from the pipe is written out first. */
                if (s->off < s->len) {
                        if (tty_write_all(s->to, s->buf + s->off, s->len - s->off) < 0)
                                break;
                        s->off = s->len;
                }
                if (left == 0)
                        break;
                ssize_t n = stream_move(s, left);
                if (n > 0) {
                        left -= (size_t) n < left ? (size_t) n : left;
                        continue;
                }
                if (n != -EAGAIN)
                        break;
                if (s->off < s->len)
                        continue;
                /* Wait for the destination; stop if the source ran dry
                 * (something inside read what was counted). */
                struct pollfd q[2] = { { .fd = s->from, .events = POLLIN }, { .fd = s->to, .events = POLLOUT } };
                if (poll(q, 2, 0) < 0 || !(q[0].revents & POLLIN))
                        break;
                if (!q[1].revents && poll(&q[1], 1, -1) < 0 && errno != EINTR)
                        break;
        }
}

static int exec_pipes(int sock, struct status_line *st, vs_error *err) {
        int fds[3];
        int ret = recv_stdio(sock, VS_EXEC_PIPES_BYTE, fds, 3, st, err);
        if (ret < 0)
                return -1;
        if (ret == 0) { /* not started: the status line came instead */
                if (status_read(sock, st, err) < 0)
                        return -1;
                return status_exit_code(st);
        }
        /* A write to a pipe or a stdout nobody reads must fail with EPIPE
         * here, not kill us: the command's output pipe is then closed. */
        signal(SIGPIPE, SIG_IGN);
        struct stream ss[3] = {
                { .from = STDIN_FILENO, .to = fds[0], .own_to = true },
                { .from = fds[1], .to = STDOUT_FILENO, .own_from = true },
                { .from = fds[2], .to = STDERR_FILENO, .own_from = true },
        };
        for (int k = 0; k < 3; k++) {
                int ours = k == 0 ? ss[k].to : ss[k].from;
                (void) fcntl(ours, F_SETFL, fcntl(ours, F_GETFL) | O_NONBLOCK);
        }

        int code = 0;
        while (!st->done) {
                struct pollfd p[4];
                for (int k = 0; k < 3; k++) {
                        struct stream *s = &ss[k];
                        p[k] = (struct pollfd){ .fd = -1 };
                        if (!s->done)
                                p[k] = s->wait_out ? (struct pollfd){ .fd = s->to, .events = POLLOUT }
                                                   : (struct pollfd){ .fd = s->from, .events = POLLIN };
                }
                p[3] = (struct pollfd){ .fd = sock, .events = POLLIN };
                if (poll(p, ELEMENTSOF(p), -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        code = vs_err(err, errno, "poll");
                        break;
                }
                for (int k = 0; k < 3; k++)
                        if (p[k].revents && !ss[k].done)
                                stream_step(&ss[k]);
                if (p[3].revents && (code = status_poll_read(sock, st, err)) < 0)
                        break;
        }
        if (code == 0) {
                stream_drain(&ss[1]);
                stream_drain(&ss[2]);
        }
        for (int k = 0; k < 3; k++) {
                if (!ss[k].done)
                        stream_finish(&ss[k]);
                free(ss[k].buf);
        }
        return code < 0 ? -1 : status_exit_code(st);
}

/* ---- with a terminal: a pty of the instance ------------------------------- */

struct relay {
        int master, sock, sigfd;
        struct tty_state tty;
        bool in_tty;
        char in[4096];
        size_t in_len, in_off;
        bool in_done, master_done;
        struct status_line st;
};

static void relay_stdin(struct relay *r) {
        ssize_t n = read(STDIN_FILENO, r->in, sizeof(r->in));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n <= 0) {
                r->in_done = true;
                /* A pty has no half-close: end-of-input is the VEOF
                 * character, which a command reading lines takes as EOF. */
                if (!r->in_tty) {
                        r->in[0] = 0x04;
                        r->in_len = 1;
                        r->in_off = 0;
                }
                return;
        }
        r->in_len = (size_t) n;
        r->in_off = 0;
}

static void relay_to_master(struct relay *r) {
        ssize_t n = write(r->master, r->in + r->in_off, r->in_len - r->in_off);
        if (n < 0) {
                if (errno == EINTR || errno == EAGAIN)
                        return;
                /* The pty is gone (the command ended): input has nowhere to go. */
                r->in_len = r->in_off = 0;
                r->in_done = true;
                return;
        }
        r->in_off += (size_t) n;
        if (r->in_off == r->in_len)
                r->in_len = r->in_off = 0;
}

static void relay_from_master(struct relay *r) {
        char buf[8192];
        ssize_t n = read(r->master, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        /* EIO: every slave fd is closed, the command and its children are done. */
        if (n <= 0 || tty_write_all(STDOUT_FILENO, buf, (size_t) n) < 0)
                r->master_done = true;
}

/* Returns the exit status for vsctl, or -1 to go on. */
static int relay_signal(struct relay *r) {
        struct signalfd_siginfo si;
        while (read(r->sigfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGWINCH) {
                        if (r->in_tty)
                                tty_copy_winsize(STDIN_FILENO, r->master);
                } else
                        return 128 + (int) si.ssi_signo;
        }
        return -1;
}

static int relay_loop(struct relay *r, vs_error *err) {
        for (;;) {
                struct pollfd p[4] = {
                        { .fd = !r->in_done && r->in_len == 0 ? STDIN_FILENO : -1, .events = POLLIN },
                        { .fd = r->master_done ? -1 : r->master,
                          .events = (short) (POLLIN | (r->in_len > 0 ? POLLOUT : 0)) },
                        { .fd = r->st.done ? -1 : r->sock, .events = POLLIN },
                        { .fd = r->sigfd, .events = POLLIN },
                };
                if (r->st.done && r->master_done)
                        return 0;
                int n = poll(p, ELEMENTSOF(p), r->st.done ? DRAIN_IDLE_MS : -1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return vs_err(err, errno, "poll");
                }
                if (n == 0)
                        return 0; /* exit status in, pty quiet: done */
                if (p[3].revents) {
                        int code = relay_signal(r);
                        if (code >= 0)
                                return code;
                }
                if (p[0].revents)
                        relay_stdin(r);
                if (p[1].revents & POLLOUT)
                        relay_to_master(r);
                if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
                        relay_from_master(r);
                if (p[2].revents && status_poll_read(r->sock, &r->st, err) < 0)
                        return -1;
        }
}

static int exec_tty(int sock, struct status_line *st, vs_error *err) {
        struct relay r = { .sock = sock, .master = -EBADF, .sigfd = -EBADF };
        int ret = recv_stdio(sock, VS_EXEC_PTY_BYTE, &r.master, 1, st, err);
        if (ret < 0)
                return -1;
        if (ret == 0) { /* no pty: the status line came instead */
                if (status_read(sock, st, err) < 0)
                        return -1;
                return status_exit_code(st);
        }

        r.sigfd = tty_signalfd();
        if (r.sigfd < 0) {
                close(r.master);
                return vs_err(err, -r.sigfd, "signalfd");
        }
        (void) fcntl(r.master, F_SETFL, fcntl(r.master, F_GETFL) | O_NONBLOCK);
        r.in_tty = isatty(STDIN_FILENO);
        if (r.in_tty)
                tty_copy_winsize(STDIN_FILENO, r.master);
        /* what the terminal held goes first, as typed (tty_raw) */
        (void) tty_raw(STDIN_FILENO, &r.tty, r.in, sizeof(r.in), &r.in_len);

        int code = relay_loop(&r, err);

        /* Always give the terminal back before saying anything. */
        tty_restore(&r.tty);
        close(r.master);
        close(r.sigfd);
        if (code < 0)
                return -1;
        if (code > 0)
                return code; /* a signal ended vsctl */
        *st = r.st;
        return status_exit_code(st);
}

int cmd_exec(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = {
                { "tty", no_argument, NULL, 't' },
                { "env", required_argument, NULL, 'e' },
                VSCTL_LONGOPT_HELP,
                {},
        };
        json_auto_t *env = json_array();
        const char *name = NULL;
        bool tty = false, ok = env != NULL;
        int c, ex;

        /* Options may come before or after NAME; the first word after NAME
         * that is not an option (or what follows "--") is the command, so
         * that "vsctl exec demo1 ls -l" passes -l on to ls. */
        for (int round = 0; round < 2; round++) {
                while ((c = vsctl_getopt(ctx, argc, argv, "+:the:", opts, &ex)) != -1) {
                        if (c == -2)
                                return ex;
                        if (c == 't')
                                tty = true;
                        else if (c == 'e')
                                ok &= json_array_append_new(env, json_string(optarg)) == 0;
                }
                if (round == 1)
                        break;
                if (optind >= argc)
                        return vsctl_usage_error(argv[0], "missing instance name");
                /* Go on after NAME with a fresh scan, NAME's slot standing
                 * in for the command name that scans report errors under. */
                name = argv[optind];
                argv[optind] = argv[0];
                argc -= optind;
                argv += optind;
                optind = 0;
        }
        if (optind >= argc)
                return vsctl_usage_error("exec", "missing command to run");
        if (!ok)
                return vsctl_usage_error("exec", "arguments must be valid UTF-8");

        json_auto_t *cmd = json_array();
        for (int i = optind; i < argc && ok; i++)
                ok = cmd && json_array_append_new(cmd, json_string(argv[i])) == 0;
        if (!ok)
                return vsctl_usage_error("exec", "arguments must be valid UTF-8");
        json_auto_t *body = json_pack("{s:O, s:b}", "argv", cmd, "tty", tty);
        if (body && json_array_size(env) > 0)
                json_object_set(body, "env", env);
        /* The command's terminal starts with our size: a command that asks
         * at once (stty size, a full-screen program) sees it. */
        struct winsize ws;
        if (body && tty && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
                json_object_set_new(body, "rows", json_integer(ws.ws_row));
                json_object_set_new(body, "cols", json_integer(ws.ws_col));
        }

        /* A closed standard stream would be taken by the first fd we open
         * (the socket) and relayed as if it were ours: occupy it with
         * /dev/null, which is what the command then gets. */
        for (int k = 0; k < 3; k++)
                if (fcntl(k, F_GETFD) < 0 && errno == EBADF) {
                        int fd = open("/dev/null", O_RDWR | O_NOCTTY);
                        if (fd >= 0 && fd != k)
                                close(fd); /* cannot happen: the lowest free fd is k */
                }

        vs_error err = {};
        _cleanup_free_ char *path = vsctl_instance_path(name, "exec");
        if (!body || !path) {
                vs_err(&err, ENOMEM, "cannot build request");
                return vsctl_fail(&err);
        }
        _cleanup_close_ int sock = -EBADF;
        if (http_upgrade(ctx->socket, "POST", path, body, VS_UPGRADE_EXEC, &sock, &err) < 0)
                return vsctl_fail(&err);

        struct status_line st = {};
        if (tty) {
                int code = exec_tty(sock, &st, &err);
                return code < 0 ? vsctl_fail(&err) : code;
        }
        int code = exec_pipes(sock, &st, &err);
        return code < 0 ? vsctl_fail(&err) : code;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vsctl exec NAME [-t] [-e K=V]... [--] CMD [ARG...]
 *
 * The exec protocol (base/proto.h, doc/api.md): after "101 Switching
 * Protocols" either we hand our stdin/stdout/stderr to the daemon (the
 * command then uses them directly, with no copying through vsctl), or with
 * -t the daemon hands us the master of the command's pty and we relay our
 * terminal to it.  Either way the daemon ends with "exit N\n" or
 * "error MESSAGE\n", and vsctl exits with N.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../base/proto.h"
#include "../base/util.h"
#include "http.h"
#include "vsctl.h"

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

/* tty=false: one byte carrying SCM_RIGHTS [stdin, stdout, stderr]. */
static int send_stdio(int sock, vs_error *err) {
        _cleanup_close_ int devnull = -EBADF;
        int fds[3];
        for (int i = 0; i < 3; i++) {
                fds[i] = i;
                /* A closed standard fd cannot be passed; the command gets
                 * /dev/null there, as it would from a shell. */
                if (fcntl(i, F_GETFD) < 0) {
                        if (devnull < 0)
                                devnull = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
                        if (devnull < 0)
                                return vs_err(err, errno, "cannot open /dev/null");
                        fds[i] = devnull;
                }
        }
        char byte = VS_EXEC_FDS_BYTE;
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(fds))];
        } u = {};
        struct msghdr msg = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf),
        };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(fds));
        memcpy(CMSG_DATA(cm), fds, sizeof(fds));
        for (;;) {
                if (sendmsg(sock, &msg, MSG_NOSIGNAL) == 1)
                        return 0;
                if (errno != EINTR)
                        return vs_err(err, errno, "cannot pass the standard streams to vsd");
        }
}

/* tty=true: the daemon's one byte with the pty master.  A daemon that could
 * not start the command sends its status line instead; that byte is then
 * the first of the line. */
static int recv_pty(int sock, int *ret_master, struct status_line *st, vs_error *err) {
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
                return vs_err(err, errno, "cannot receive the terminal from vsd");
        if (n == 0)
                return vs_err_msg(err, ECONNRESET, "vsd closed the exec connection");

        int master = -EBADF;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int fds[4];
                memcpy(fds, CMSG_DATA(cm), nfds * sizeof(int));
                for (size_t i = 0; i < nfds; i++) {
                        if (master < 0)
                                master = fds[i];
                        else
                                close(fds[i]);
                }
        }
        if (byte == VS_EXEC_PTY_BYTE && master >= 0 && !(msg.msg_flags & MSG_CTRUNC)) {
                *ret_master = master;
                return 1;
        }
        if (master >= 0)
                close(master);
        if (byte == VS_EXEC_PTY_BYTE)
                return vs_err_msg(err, EPROTO, "vsd sent no terminal");
        status_feed(st, &byte, 1);
        return 0;
}

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
                if (p[2].revents) {
                        char buf[256];
                        ssize_t m = read(r->sock, buf, sizeof(buf));
                        if (m < 0 && errno != EINTR && errno != EAGAIN)
                                return vs_err(err, errno, "cannot read the exit status from vsd");
                        if (m == 0)
                                return vs_err_msg(err, ECONNRESET, "vsd closed the exec connection without an exit status");
                        if (m > 0)
                                status_feed(&r->st, buf, (size_t) m);
                }
        }
}

static int exec_tty(int sock, struct status_line *st, vs_error *err) {
        struct relay r = { .sock = sock, .master = -EBADF, .sigfd = -EBADF };
        int ret = recv_pty(sock, &r.master, st, err);
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
        (void) tty_raw(STDIN_FILENO, &r.tty);

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
        if (send_stdio(sock, &err) < 0 || status_read(sock, &st, &err) < 0)
                return vsctl_fail(&err);
        return status_exit_code(&st);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vsctl console NAME
 *
 * After "101 Switching Protocols" the socket carries the instance console's
 * raw bytes both ways.  Ctrl-] in the input detaches; the instance is not
 * affected.  With a terminal on stdin it is put in raw mode so that keys
 * reach the instance as typed; otherwise the input is relayed as it is and,
 * at its end, output is copied until the console has been quiet a moment
 * (a console never ends by itself).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/proto.h"
#include "vsctl/http.h"
#include "vsctl/vsctl.h"

/* With stdin at its end (a script feeding the console), how long the
 * console must stay quiet before vsctl stops copying its output. */
#define QUIET_AFTER_EOF_MS 1000

struct console {
        int sock, sigfd;
        bool in_tty, in_done, detach;
        char in[4096];
        size_t in_len, in_off;
};

/* n bytes of input in c->in: what goes out. */
static void console_input(struct console *c, ssize_t n) {
        /* Bytes typed before the detach key still go out. */
        char *key = memchr(c->in, VS_CONSOLE_DETACH_KEY, (size_t) n);
        if (key) {
                n = key - c->in;
                c->detach = true;
        }
        c->in_len = (size_t) n;
        c->in_off = 0;
}

static void console_stdin(struct console *c) {
        ssize_t n = read(STDIN_FILENO, c->in, sizeof(c->in));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n <= 0) {
                c->in_done = true;
                return;
        }
        console_input(c, n);
}

static int console_loop(struct console *c, vs_error *err) {
        for (;;) {
                if (c->detach && c->in_len == 0)
                        return 0;
                struct pollfd p[3] = {
                        { .fd = !c->in_done && !c->detach && c->in_len == 0 ? STDIN_FILENO : -1, .events = POLLIN },
                        { .fd = c->sock, .events = (short) (POLLIN | (c->in_len > 0 ? POLLOUT : 0)) },
                        { .fd = c->sigfd, .events = POLLIN },
                };
                int n = poll(p, ELEMENTSOF(p), c->in_done && c->in_len == 0 ? QUIET_AFTER_EOF_MS : -1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return vs_err(err, errno, "poll");
                }
                if (n == 0)
                        return 0;
                if (p[2].revents) {
                        struct signalfd_siginfo si;
                        while (read(c->sigfd, &si, sizeof(si)) == sizeof(si))
                                if (si.ssi_signo != SIGWINCH)
                                        return 128 + (int) si.ssi_signo;
                }
                if (p[0].revents)
                        console_stdin(c);
                if (p[1].revents & POLLOUT) {
                        ssize_t w = send(c->sock, c->in + c->in_off, c->in_len - c->in_off, MSG_NOSIGNAL);
                        if (w < 0 && errno != EINTR && errno != EAGAIN)
                                return vs_err(err, errno, "cannot write to the console");
                        if (w > 0 && (c->in_off += (size_t) w) == c->in_len)
                                c->in_len = c->in_off = 0;
                }
                if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
                        char buf[8192];
                        ssize_t m = recv(c->sock, buf, sizeof(buf), 0);
                        if (m < 0 && errno != EINTR && errno != EAGAIN && errno != ECONNRESET)
                                return vs_err(err, errno, "cannot read from the console");
                        if (m == 0 || (m < 0 && errno == ECONNRESET))
                                return 1; /* vsd closed it: the instance stopped, or vsd did */
                        if (m > 0 && tty_write_all(STDOUT_FILENO, buf, (size_t) m) < 0)
                                return vs_err(err, errno, "cannot write output");
                }
        }
}

int cmd_console(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, {} };
        int c, ex;

        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;
        const char *name = argv[optind];

        vs_error err = {};
        _cleanup_free_ char *path = vsctl_instance_path(name, "console");
        if (!path) {
                vs_err(&err, ENOMEM, "cannot build request");
                return vsctl_fail(&err);
        }
        _cleanup_close_ int sock = -EBADF;
        if (http_upgrade(ctx->socket, "GET", path, NULL, VS_UPGRADE_CONSOLE, &sock, &err) < 0)
                return vsctl_fail(&err);

        struct console con = { .sock = sock, .in_tty = isatty(STDIN_FILENO) };
        _cleanup_close_ int sigfd = tty_signalfd();
        if (sigfd < 0) {
                vs_err(&err, -sigfd, "signalfd");
                return vsctl_fail(&err);
        }
        con.sigfd = sigfd;
        (void) fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);

        fprintf(stderr, "Connected to %s console; Ctrl-] to detach\n", name);
        struct tty_state tty;
        size_t pending = 0;
        /* what the terminal held goes first, as typed (tty_raw) */
        (void) tty_raw(STDIN_FILENO, &tty, con.in, sizeof(con.in), &pending);
        if (pending)
                console_input(&con, (ssize_t) pending);
        int r = console_loop(&con, &err);
        /* The terminal comes back before any message. */
        tty_restore(&tty);

        if (r < 0)
                return vsctl_fail(&err);
        if (con.in_tty)
                fprintf(stderr, r == 1 ? "\nConsole of %s closed by vsd.\n" : "\nDetached from %s console.\n", name);
        return r > 1 ? r : VSCTL_EXIT_OK;
}

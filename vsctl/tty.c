/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The local terminal for exec -t and console: raw mode, window size, and
 * the signals that must not leave the terminal raw behind. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "vsctl/vsctl.h"

int tty_raw(int fd, struct tty_state *st) {
        st->fd = fd;
        st->raw = false;
        if (!isatty(fd))
                return 0;
        if (tcgetattr(fd, &st->saved) < 0)
                return -errno;
        struct termios raw = st->saved;
        cfmakeraw(&raw);
        if (tcsetattr(fd, TCSADRAIN, &raw) < 0)
                return -errno;
        st->raw = true;
        return 1;
}

void tty_restore(struct tty_state *st) {
        if (!st->raw)
                return;
        (void) tcsetattr(st->fd, TCSADRAIN, &st->saved);
        st->raw = false;
}

void tty_copy_winsize(int from, int to) {
        struct winsize ws;
        if (ioctl(from, TIOCGWINSZ, &ws) == 0)
                (void) ioctl(to, TIOCSWINSZ, &ws);
}

int tty_write_all(int fd, const void *buf, size_t n) {
        const char *p = buf;
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                                (void) poll(&pfd, 1, -1);
                                continue;
                        }
                        return -errno;
                }
                p += w;
                n -= (size_t) w;
        }
        return 0;
}

int tty_signalfd(void) {
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGWINCH);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGQUIT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        int fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        return fd < 0 ? -errno : fd;
}

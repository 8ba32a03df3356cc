/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The local terminal for exec -t and console: raw mode, window size, and
 * the signals that must not leave the terminal raw behind. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "vsctl/vsctl.h"

/*
 * What the terminal already holds when it goes raw.  In canonical mode the
 * kernel keeps an end-of-file typed at the start of a line (VEOF, Ctrl-D;
 * script(1) sends one when its own input ends) as a NUL in its input
 * buffer, which a read in that mode skips; switched to raw mode without a
 * flush, the terminal hands that NUL over as a byte of input, and the
 * command's terminal, given it, echoes "^@".  A flush would lose what was
 * typed ahead.  So: VEOF is disabled first (a Ctrl-D typed from then on is
 * a plain byte, as it is in raw mode), every complete line and end-of-file
 * already there is read in the mode it was typed in, an end-of-file
 * becoming the VEOF character it was typed as, and only then the terminal
 * goes raw.  A partial line stays in the terminal and is read raw.
 */
static size_t take_pending(int fd, const struct termios *cooked, char *buf, size_t cap) {
        size_t len = 0;
        if (!(cooked->c_lflag & ICANON) || cooked->c_cc[VEOF] == _POSIX_VDISABLE)
                return 0; /* no end-of-file to misread: raw mode takes all */
        while (len < cap) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                /* in canonical mode readable means a whole line or an end-of-file */
                if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN))
                        break;
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        break;
                if (n == 0)
                        buf[len++] = (char) cooked->c_cc[VEOF];
                else
                        len += (size_t) n;
        }
        return len;
}

int tty_raw(int fd, struct tty_state *st, char *pending, size_t cap, size_t *ret_len) {
        st->fd = fd;
        st->raw = false;
        if (ret_len)
                *ret_len = 0;
        if (!isatty(fd))
                return 0;
        if (tcgetattr(fd, &st->saved) < 0)
                return -errno;
        struct termios no_eof = st->saved;
        no_eof.c_cc[VEOF] = _POSIX_VDISABLE;
        if (tcsetattr(fd, TCSANOW, &no_eof) < 0)
                return -errno;
        st->raw = true; /* changed: tty_restore puts it back */
        size_t len = pending && cap ? take_pending(fd, &st->saved, pending, cap) : 0;
        struct termios raw = st->saved;
        cfmakeraw(&raw);
        if (tcsetattr(fd, TCSADRAIN, &raw) < 0)
                return -errno;
        if (ret_len)
                *ret_len = len;
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

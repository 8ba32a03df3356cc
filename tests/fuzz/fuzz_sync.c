/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the start handshake's reports, as the daemon reads what
 * a child sends it on the sync socket (vsd/start/sync.h).  The first byte
 * chooses whether an fd comes along and whether the caller takes warnings;
 * the rest is the datagram.  Each input goes
 *   - to start_report_parse(), the parent's reading of one report;
 *   - through a real SOCK_SEQPACKET pair to start_join_result(), which
 *     reads it as the daemon's loop does for `vsctl exec`.
 * Whatever the bytes: a failure is a code and one line the API can send,
 * a warning too; an fd is taken only when one came, and no fd is left
 * open behind the caller's back.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "vsd/start/start.h"
#include "vsd/start/sync.h"

/* The lowest free fd: the same before and after, or something leaked. */
static int lowest_free_fd(void) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                abort();
        close(fd);
        return fd;
}

static void via_socket(const uint8_t *data, size_t size, bool with_fd, bool want_fd) {
        int sv[2];
        int before = lowest_free_fd();
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                abort();
        /* an empty datagram reads as EOF on a SEQPACKET socket: send it as
         * the child's exec would, by closing */
        if (size > 0) {
                struct iovec iov = { .iov_base = (void *) data, .iov_len = size };
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(int))];
                } u;
                memset(&u, 0, sizeof(u));
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
                int passfd = -1;
                if (with_fd) {
                        passfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                        mh.msg_control = u.buf;
                        mh.msg_controllen = sizeof(u.buf);
                        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                        cm->cmsg_level = SOL_SOCKET;
                        cm->cmsg_type = SCM_RIGHTS;
                        cm->cmsg_len = CMSG_LEN(sizeof(int));
                        memcpy(CMSG_DATA(cm), &passfd, sizeof(int));
                }
                if (sendmsg(sv[1], &mh, MSG_NOSIGNAL) < 0)
                        abort();
                if (passfd >= 0)
                        close(passfd);
        }
        close(sv[1]);

        vs_error err = { 0 };
        int pty = -EBADF;
        int r = start_join_result(sv[0], want_fd ? &pty : NULL, NULL, &err);
        if (r < 0) {
                fuzz_check_refusal(r, &err);
                if (pty >= 0)
                        abort(); /* a failure hands nothing over */
        } else if (r > 1)
                abort();
        if (pty >= 0) {
                if (!with_fd || !want_fd || fcntl(pty, F_GETFD) != FD_CLOEXEC)
                        abort();
                close(pty);
        }
        close(sv[0]);
        if (lowest_free_fd() != before)
                abort(); /* an fd that came was neither handed over nor closed */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        bool with_fd = data[0] & 1, want_warn = data[0] & 2, had_warn = data[0] & 4, want_fd = data[0] & 8;
        data++;
        size--;

        vs_error warn = { 0 }, err = { 0 };
        if (had_warn)
                snprintf(warn.msg, sizeof(warn.msg), "an earlier warning");
        bool take = true;
        int r = start_report_parse(data, size, with_fd, &take, want_warn ? &warn : NULL, &err);
        if (r < 0)
                fuzz_check_refusal(r, &err);
        else if (r > 1 || (r == 0) != (size == 0))
                abort(); /* 0 is EOF, and only EOF */
        if (take && (r != 1 || !with_fd))
                abort();
        fuzz_check_message(warn.msg, 1);

        via_socket(data, size, with_fd, want_fd);
        return 0;
}

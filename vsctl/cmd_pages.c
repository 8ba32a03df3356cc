/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 *   vsctl receive-pages NAME [--lazy | --precopy]
 *
 * --precopy: the source sends memory pre-copy's passes before its dump
 * (the pass headers of vsd/inst/pages.h), each to a page server of its own.
 *
 * Run by a host moving NAME here live, over ssh (vsd/inst/pages.h): one end
 * of a socket pair goes to vsd (the fd protocol, base/proto.h), whose
 * helper runs CRIU's page server on it; once vsd took it, PAGES_READY is
 * printed and standard input and output are carried to and from the other
 * end until both are done.  The daemon keeps the pages for the import of
 * NAME's archive while the stream lasts.  --lazy (a post-copy move):
 * vsd runs `criu lazy-pages` on it for the restore of NAME instead, and
 * the exit status is that operation's: 0 once every page came.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/proto.h"
#include "base/util.h"
#include "vsctl/http.h"
#include "vsctl/vsctl.h"

/* what vsd/inst/pages.h's PAGES_READY says (vsctl links none of vsd/) */
#define RECEIVE_READY "vsd-pages-ready"

/* stdin to sk, sk to stdout, until sk ends (the daemon's side is done);
 * stdin's end is passed on as sk's write side shut. */
static int carry(int sk) {
        char buf[65536];
        bool in_open = true;
        for (;;) {
                struct pollfd p[2] = { { in_open ? STDIN_FILENO : -1, POLLIN, 0 }, { sk, POLLIN, 0 } };
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (p[0].revents) {
                        ssize_t k = read(STDIN_FILENO, buf, sizeof(buf));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0 || vs_write_all(sk, buf, (size_t) k) < 0) {
                                (void) shutdown(sk, SHUT_WR);
                                in_open = false;
                        }
                }
                if (p[1].revents) {
                        ssize_t k = read(sk, buf, sizeof(buf));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0)
                                return 0;
                        if (vs_write_all(STDOUT_FILENO, buf, (size_t) k) < 0)
                                return -EPIPE;
                }
        }
}

int cmd_receive_pages(struct vsctl *ctx, int argc, char **argv) {
        enum { OPT_LAZY = 0x200, OPT_PRECOPY };
        static const struct option opts[] = {
                { "lazy", no_argument, NULL, OPT_LAZY },
                { "precopy", no_argument, NULL, OPT_PRECOPY },
                VSCTL_LONGOPT_HELP,
                {},
        };
        bool lazy = false, precopy = false;
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1) {
                if (c == -2)
                        return ex;
                if (c == OPT_LAZY)
                        lazy = true;
                if (c == OPT_PRECOPY)
                        precopy = true;
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;
        const char *name = argv[optind];
        vs_error err = {};
        _cleanup_free_ char *esc = http_escape_segment(name);
        _cleanup_free_ char *path = NULL;
        if (lazy && precopy)
                return vsctl_usage_error(argv[0], "--lazy and --precopy exclude each other");
        if (!esc || asprintf(&path, VS_API_PREFIX "/pages?name=%s%s%s", esc, lazy ? "&lazy=1" : "",
                             precopy ? "&precopy=1" : "") < 0)
                return vsctl_usage_error(argv[0], "out of memory");
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
                vs_err(&err, errno, "make a socket pair");
                return vsctl_fail(&err);
        }
        json_auto_t *op = NULL;
        int r = http_pass_fd(ctx->socket, path, sp[1], &op, &err);
        close(sp[1]);
        if (r < 0) {
                close(sp[0]);
                return vsctl_fail(&err);
        }
        (void) signal(SIGPIPE, SIG_IGN);
        if (vs_write_all(STDOUT_FILENO, RECEIVE_READY "\n", sizeof(RECEIVE_READY)) < 0) {
                close(sp[0]);
                vs_err(&err, errno, "write to standard output");
                return vsctl_fail(&err);
        }
        r = carry(sp[0]);
        close(sp[0]);
        if (r < 0) {
                vs_err(&err, -r, "carry the pages");
                return vsctl_fail(&err);
        }
        /* lazy: how criu lazy-pages ended is the operation's end */
        const char *id = json_string_value(json_object_get(op, "id"));
        if (lazy && id) {
                json_auto_t *final = NULL;
                if (vsctl_op_follow(ctx, id, "lazy pages", &final, &err) < 0 || vsctl_op_result(final, &err) < 0)
                        return vsctl_fail(&err);
        }
        return VSCTL_EXIT_OK;
}

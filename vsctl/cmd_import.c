/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 *   vsctl import FILE [--name NEW] [--json]
 *
 * FILE ("-": standard input) is opened here and its descriptor passed to
 * vsd (the fd protocol, base/proto.h), which reads the archive from it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/proto.h"
#include "base/util.h"
#include "vsctl/http.h"
#include "vsctl/vsctl.h"

/* FILE ("-": standard input) passed to vsd at path, the operation it
 * starts (what) followed to its end: 0 with *ret_final, else the exit
 * status, said. */
int vsctl_pass_archive(struct vsctl *ctx, const char *cmd, const char *file, const char *path, const char *what,
                       json_t **ret_final) {
        vs_error err = {};
        bool from_stdin = streq(file, "-");
        if (from_stdin && isatty(STDIN_FILENO))
                return vsctl_usage_error(cmd, "refusing to read an archive from a terminal");
        _cleanup_close_ int fd = from_stdin ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3)
                                            : open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                vs_err(&err, errno, "open %s", from_stdin ? "standard input" : file);
                return vsctl_fail(&err);
        }
        json_t *op = NULL, *final = NULL;
        int r = http_pass_fd(ctx->socket, path, fd, &op, &err);
        safe_close(&fd);
        if (r >= 0)
                r = vsctl_op_follow(ctx, out_get_str(op, "id"), what, &final, &err);
        if (r >= 0)
                r = vsctl_op_result(final, &err);
        json_decref(op);
        if (r < 0) {
                json_decref(final);
                return vsctl_fail(&err);
        }
        *ret_final = final;
        return VSCTL_EXIT_OK;
}

int cmd_import(struct vsctl *ctx, int argc, char **argv) {
        enum { OPT_NAME = 0x200 };
        static const struct option opts[] = {
                { "name", required_argument, NULL, OPT_NAME },
                VSCTL_LONGOPT_HELP,
                VSCTL_LONGOPT_JSON,
                {},
        };
        const char *new_name = NULL;
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1) {
                if (c == -2)
                        return ex;
                if (c == OPT_NAME)
                        new_name = optarg;
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;
        const char *file = argv[optind];
        vs_error err = {};
        _cleanup_free_ char *esc = new_name ? http_escape_segment(new_name) : NULL;
        _cleanup_free_ char *path = NULL;
        if ((new_name && !esc) || asprintf(&path, VS_API_PREFIX "/import%s%s", esc ? "?name=" : "", esc ? esc : "") < 0)
                return vsctl_usage_error(argv[0], "out of memory");
        json_t *final = NULL;
        if ((ex = vsctl_pass_archive(ctx, argv[0], file, path, "import", &final)))
                return ex;
        /* the instance, named as it now is */
        const char *name = out_get_str(final, "object");
        json_t *answer = NULL;
        if (ctx->json && vsctl_call(ctx, "GET", vsctl_instance_path(name, NULL), NULL, &answer, &err) < 0) {
                json_decref(final);
                return vsctl_fail(&err);
        }
        if (!ctx->json)
                printf("%s\n", name);
        json_decref(final);
        return vsctl_done(ctx, answer);
}

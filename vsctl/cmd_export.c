/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 *   vsctl export NAME FILE [--snapshots] [--zstd] [--detach] [--json]
 *
 * FILE ("-": standard output) is opened here, with the caller's rights,
 * and its descriptor passed to vsd (the fd protocol, base/proto.h), which
 * writes the archive into it.  A file is written under a temporary name
 * beside it and renamed into place once the export succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "vsctl/http.h"
#include "vsctl/vsctl.h"

int cmd_export(struct vsctl *ctx, int argc, char **argv) {
        enum { OPT_SNAPSHOTS = 0x200, OPT_ZSTD };
        static const struct option opts[] = {
                { "snapshots", no_argument, NULL, OPT_SNAPSHOTS },
                { "zstd", no_argument, NULL, OPT_ZSTD },
                VSCTL_LONGOPT_HELP,
                VSCTL_LONGOPT_JSON,
                {},
        };
        bool snapshots = false, zstd = false;
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1) {
                if (c == -2)
                        return ex;
                if (c == OPT_SNAPSHOTS)
                        snapshots = true;
                if (c == OPT_ZSTD)
                        zstd = true;
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 2, 2)))
                return ex;
        const char *name = argv[optind], *file = argv[optind + 1];
        vs_error err = {};
        bool to_stdout = streq(file, "-");
        if (to_stdout && isatty(STDOUT_FILENO))
                return vsctl_usage_error(argv[0], "refusing to write an archive to a terminal");
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        if (to_stdout)
                fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        else {
                _cleanup_free_ char *d = strdup(file), *b = strdup(file);
                if (!d || !b || asprintf(&tmp, "%s/.%s.vsd-export-%d", dirname(d), basename(b), (int) getpid()) < 0)
                        return vsctl_usage_error(argv[0], "out of memory");
                fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        }
        if (fd < 0) {
                vs_err(&err, errno, "open %s", to_stdout ? "standard output" : tmp);
                return vsctl_fail(&err);
        }
        _cleanup_free_ char *base = vsctl_instance_path(name, "export");
        _cleanup_free_ char *path = NULL;
        if (!base || asprintf(&path, "%s?snapshots=%d&zstd=%d", base, snapshots, zstd) < 0)
                return vsctl_usage_error(argv[0], "out of memory");
        json_t *op = NULL, *final = NULL;
        int r = http_pass_fd(ctx->socket, path, fd, &op, &err);
        safe_close(&fd);
        char what[300];
        snprintf(what, sizeof(what), "export of %s", name);
        if (r >= 0)
                r = vsctl_op_follow(ctx, out_get_str(op, "id"), what, &final, &err);
        if (r >= 0)
                r = vsctl_op_result(final, &err);
        if (r >= 0 && tmp && rename(tmp, file) < 0)
                r = vs_err(&err, errno, "rename %s to %s", tmp, file);
        if (r < 0 && tmp)
                (void) unlink(tmp);
        json_decref(op);
        if (r < 0) {
                json_decref(final);
                return vsctl_fail(&err);
        }
        if (!ctx->json) {
                json_decref(final);
                final = NULL;
        }
        return vsctl_done(ctx, final);
}

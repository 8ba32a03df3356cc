/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl destroy NAME [--force] */
#include <stdlib.h>

#include "base/util.h"
#include "vsctl/vsctl.h"

int cmd_destroy(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = {
                { "force", no_argument, NULL, 'f' },
                VSCTL_LONGOPT_HELP,
                {},
        };
        bool force = false;
        int c, ex;

        while ((c = vsctl_getopt(ctx, argc, argv, ":fh", opts, &ex)) != -1) {
                if (c == -2)
                        return ex;
                if (c == 'f')
                        force = true;
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;

        /* The daemon stops (or kills) a running instance itself with
         * force=1; without it a running instance is refused with 409. */
        _cleanup_free_ char *base = vsctl_instance_path(argv[optind], NULL);
        char *path = NULL;
        if (base && asprintf(&path, "%s%s", base, force ? "?force=1" : "") < 0)
                path = NULL;

        vs_error err = {};
        ctx->may_wait = force; /* a running instance is stopped first */
        if (vsctl_call(ctx, "DELETE", path, NULL, NULL, &err) < 0)
                return vsctl_fail(&err);
        return VSCTL_EXIT_OK;
}

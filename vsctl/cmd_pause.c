/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl pause NAME */
#include "vsctl.h"

int cmd_pause(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, VSCTL_LONGOPT_JSON, {} };
        int c, ex;

        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;

        vs_error err = {};
        json_t *answer = NULL;
        if (vsctl_call(ctx, "POST", vsctl_instance_path(argv[optind], "pause"), NULL, &answer, &err) < 0)
                return vsctl_fail(&err);
        return vsctl_done(ctx, answer);
}

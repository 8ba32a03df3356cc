/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl restart NAME [--timeout DUR] */
#include "vsctl/vsctl.h"

int cmd_restart(struct vsctl *ctx, int argc, char **argv) {
        enum { OPT_TIMEOUT = 0x200 };
        static const struct option opts[] = {
                { "timeout", required_argument, NULL, OPT_TIMEOUT },
                VSCTL_LONGOPT_HELP,
                VSCTL_LONGOPT_JSON,
                {},
        };
        json_auto_t *body = json_object();
        bool ok = body != NULL;
        int c, ex;

        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1) {
                if (c == -2)
                        return ex;
                if (c == OPT_TIMEOUT)
                        ok &= vsctl_set(body, "timeout", vsctl_json_value(optarg, true));
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;
        if (!ok)
                return vsctl_usage_error(argv[0], "arguments must be valid UTF-8");

        vs_error err = {};
        json_t *answer = NULL;
        ctx->may_wait = true; /* the answer comes once the instance has halted */
        if (vsctl_call(ctx, "POST", vsctl_instance_path(argv[optind], "restart"),
                       json_object_size(body) ? json_incref(body) : NULL, &answer, &err) < 0)
                return vsctl_fail(&err);
        return vsctl_done(ctx, answer);
}

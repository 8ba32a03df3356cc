/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl create NAME [--template T] [--memory SIZE] [--cpus N] [--pids N]
 *                   [--stop-timeout DUR] [--privileged] [--nesting] [--start] */
#include <stdlib.h>
#include <string.h>

#include "base/proto.h"
#include "vsctl/vsctl.h"

int cmd_create(struct vsctl *ctx, int argc, char **argv) {
        enum { OPT_TEMPLATE = 0x200, OPT_START, OPT_PRIVILEGED, OPT_NESTING };
        static const struct option opts[] = {
                { "template", required_argument, NULL, OPT_TEMPLATE },
                { "start", no_argument, NULL, OPT_START },
                { "privileged", no_argument, NULL, OPT_PRIVILEGED },
                { "nesting", no_argument, NULL, OPT_NESTING },
                VSCTL_LONGOPTS_LIMITS,
                VSCTL_LONGOPT_HELP,
                VSCTL_LONGOPT_JSON,
                {},
        };
        json_auto_t *body = json_object();
        bool ok = body != NULL;
        int c, ex;

        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1) {
                switch (c) {
                case -2:
                        return ex;
                case OPT_TEMPLATE:
                        ok &= vsctl_set(body, "template", json_string(optarg));
                        break;
                case OPT_START:
                        ok &= vsctl_set(body, "start", json_true());
                        break;
                case OPT_PRIVILEGED:
                        /* root inside is the host's root: only by choice */
                        ok &= vsctl_set(body, "privileged", json_true());
                        break;
                case OPT_NESTING:
                        /* containers inside: an unmasked proc and sysfs */
                        ok &= vsctl_set(body, "nesting", json_true());
                        break;
                default:
                        ok &= vsctl_limit_option(body, c, optarg) >= 0;
                        break;
                }
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;
        ok &= vsctl_set(body, "name", json_string(argv[optind]));
        if (!ok)
                return vsctl_usage_error(argv[0], "arguments must be valid UTF-8");

        vs_error err = {};
        json_t *answer = NULL;
        if (vsctl_call(ctx, "POST", strdup(VS_API_PREFIX "/instances"), json_incref(body), &answer, &err) < 0)
                return vsctl_fail(&err);
        return vsctl_done(ctx, answer);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl create NAME [--template T] [--memory SIZE] [--cpus N] [--pids N]
 *                   [--stop-timeout DUR] [--start] */
#include <stdlib.h>
#include <string.h>

#include "../base/proto.h"
#include "vsctl.h"

int cmd_create(struct vsctl *ctx, int argc, char **argv) {
        enum { OPT_TEMPLATE = 0x200, OPT_MEMORY, OPT_CPUS, OPT_PIDS, OPT_STOP_TIMEOUT, OPT_START };
        static const struct option opts[] = {
                { "template", required_argument, NULL, OPT_TEMPLATE },
                { "memory", required_argument, NULL, OPT_MEMORY },
                { "cpus", required_argument, NULL, OPT_CPUS },
                { "pids", required_argument, NULL, OPT_PIDS },
                { "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT },
                { "start", no_argument, NULL, OPT_START },
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
                case OPT_MEMORY:
                        ok &= vsctl_set(body, "memory", vsctl_json_value(optarg, false));
                        break;
                case OPT_CPUS:
                        ok &= vsctl_set(body, "cpus", vsctl_json_value(optarg, true));
                        break;
                case OPT_PIDS:
                        ok &= vsctl_set(body, "pids", vsctl_json_value(optarg, false));
                        break;
                case OPT_STOP_TIMEOUT:
                        ok &= vsctl_set(body, "stop_timeout", vsctl_json_value(optarg, true));
                        break;
                case OPT_START:
                        ok &= vsctl_set(body, "start", json_true());
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

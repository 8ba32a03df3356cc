/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl set NAME [--memory SIZE] [--memory-soft SIZE] [--swap SIZE] [--cpus N] [--cpu-weight N]
 *                [--cpuset LIST] [--pids N] [--io-*] [--nofile N] [--rlimit NAME=SOFT[:HARD]]...
 *                [--stop-timeout DUR] */
#include "vsctl.h"

int cmd_set(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = {
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
                default:
                        ok &= vsctl_limit_option(body, c, optarg) >= 0;
                        break;
                }
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;
        if (!ok)
                return vsctl_usage_error(argv[0], "arguments must be valid UTF-8");
        if (json_object_size(body) == 0)
                return vsctl_usage_error(argv[0], "nothing to set: give a limit option such as --memory, --cpus, "
                                                  "--pids, --io-weight, --nofile, --rlimit or --stop-timeout");

        vs_error err = {};
        json_t *answer = NULL;
        if (vsctl_call(ctx, "PATCH", vsctl_instance_path(argv[optind], NULL), json_incref(body), &answer, &err) < 0)
                return vsctl_fail(&err);
        return vsctl_done(ctx, answer);
}

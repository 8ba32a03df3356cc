/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl set NAME [--memory SIZE] [--cpus N] [--pids N] [--stop-timeout DUR] */
#include "vsctl.h"

int cmd_set(struct vsctl *ctx, int argc, char **argv) {
        enum { OPT_MEMORY = 0x200, OPT_CPUS, OPT_PIDS, OPT_STOP_TIMEOUT };
        static const struct option opts[] = {
                { "memory", required_argument, NULL, OPT_MEMORY },
                { "cpus", required_argument, NULL, OPT_CPUS },
                { "pids", required_argument, NULL, OPT_PIDS },
                { "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT },
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
                }
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;
        if (!ok)
                return vsctl_usage_error(argv[0], "arguments must be valid UTF-8");
        if (json_object_size(body) == 0)
                return vsctl_usage_error(argv[0], "nothing to set: give --memory, --cpus, --pids or --stop-timeout");

        vs_error err = {};
        json_t *answer = NULL;
        if (vsctl_call(ctx, "PATCH", vsctl_instance_path(argv[optind], NULL), json_incref(body), &answer, &err) < 0)
                return vsctl_fail(&err);
        return vsctl_done(ctx, answer);
}

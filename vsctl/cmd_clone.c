/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl clone SRC DST [--start] [--json] */
#include <stdlib.h>

#include "vsctl.h"

int cmd_clone(struct vsctl *ctx, int argc, char **argv) {
        enum { OPT_START = 0x200 };
        static const struct option opts[] = {
                { "start", no_argument, NULL, OPT_START },
                VSCTL_LONGOPT_HELP,
                VSCTL_LONGOPT_JSON,
                {},
        };
        bool start = false;
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1) {
                if (c == -2)
                        return ex;
                if (c == OPT_START)
                        start = true;
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 2, 2)))
                return ex;
        json_t *body = json_object(), *answer = NULL;
        if (!body || !vsctl_set(body, "name", json_string(argv[optind + 1])))
                return json_decref(body), vsctl_usage_error(argv[0], "arguments must be valid UTF-8");
        vs_error err = {};
        if (vsctl_call(ctx, "POST", vsctl_instance_path(argv[optind], "clone"), body, &answer, &err) < 0)
                return vsctl_fail(&err);
        if (start) {
                json_decref(answer);
                answer = NULL;
                if (vsctl_call(ctx, "POST", vsctl_instance_path(argv[optind + 1], "start"), NULL, &answer, &err) < 0) {
                        vs_err_prefix(&err, "cloned '%s' but", argv[optind + 1]);
                        return vsctl_fail(&err);
                }
        }
        return vsctl_done(ctx, answer);
}

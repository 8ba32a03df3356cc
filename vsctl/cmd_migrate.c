/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 *   vsctl migrate NAME HOST [--cold] [--detach] [--json]
 *
 * The daemon moves the instance to HOST over ssh (vsd.conf [migrate] ssh)
 * as an operation; followed here, the downtime printed at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"
#include "vsctl/http.h"
#include "vsctl/vsctl.h"

int cmd_migrate(struct vsctl *ctx, int argc, char **argv) {
        enum { OPT_COLD = 0x200, OPT_LIVE, OPT_DETACH };
        static const struct option opts[] = {
                { "cold", no_argument, NULL, OPT_COLD },
                { "live", no_argument, NULL, OPT_LIVE },
                { "detach", no_argument, NULL, OPT_DETACH },
                VSCTL_LONGOPT_HELP,
                VSCTL_LONGOPT_JSON,
                {},
        };
        bool live = false, detach = false;
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1) {
                if (c == -2)
                        return ex;
                if (c == OPT_LIVE)
                        live = true;
                if (c == OPT_DETACH)
                        detach = true;
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 2, 2)))
                return ex;
        const char *name = argv[optind], *host = argv[optind + 1];
        vs_error err = {};
        json_t *body = json_object();
        if (!body || !vsctl_set(body, "host", json_string(host)) || (live && !vsctl_set(body, "live", json_true())))
                return json_decref(body), vsctl_usage_error(argv[0], "out of memory");
        json_t *op = NULL, *final = NULL;
        if (vsctl_call(ctx, "POST", vsctl_instance_path(name, "migrate"), body, &op, &err) < 0)
                return vsctl_fail(&err);
        const char *id = out_get_str(op, "id");
        if (detach) {
                if (ctx->json)
                        return vsctl_done(ctx, op);
                printf("%s\n", id);
                json_decref(op);
                return VSCTL_EXIT_OK;
        }
        char what[300];
        snprintf(what, sizeof(what), "move of %s to %s", name, host);
        int r = vsctl_op_follow(ctx, id, what, &final, &err);
        json_decref(op);
        if (r >= 0)
                r = vsctl_op_result(final, &err);
        if (r < 0) {
                json_decref(final);
                return vsctl_fail(&err);
        }
        if (ctx->json)
                return vsctl_done(ctx, final);
        json_t *d = json_object_get(json_object_get(final, "details"), "downtime_ms");
        printf("%s moved to %s: down for %.2f s\n", name, host, json_is_integer(d) ? (double) json_integer_value(d) / 1000 : 0.0);
        json_decref(final);
        return VSCTL_EXIT_OK;
}

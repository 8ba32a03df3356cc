/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl version [--json] */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/proto.h"
#include "vsctl/vsctl.h"

int cmd_version(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, VSCTL_LONGOPT_JSON, {} };
        int c, ex;

        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if ((ex = vsctl_check_args(argv[0], argc, argv, 0, 0)))
                return ex;

        vs_error err = {};
        json_auto_t *daemon = NULL;
        int r = vsctl_call(ctx, "GET", strdup(VS_API_PREFIX "/version"), NULL, &daemon, &err);

        if (ctx->json) {
                if (r < 0)
                        return vsctl_fail(&err);
                json_auto_t *j = json_pack("{s:{s:s}, s:o}", "client", "version", VS_VERSION, "daemon",
                                           daemon ? json_incref(daemon) : json_object());
                if (!j) {
                        vs_err(&err, ENOMEM, "cannot format the versions");
                        return vsctl_fail(&err);
                }
                return out_json(j) < 0 ? VSCTL_EXIT_FAILURE : VSCTL_EXIT_OK;
        }

        /* The client's version is worth showing even when the daemon is
         * not reachable: that is often why one asks. */
        printf("vsctl %s\n", VS_VERSION);
        if (r < 0) {
                fflush(stdout);
                return vsctl_fail(&err);
        }
        printf("vsd   %s", out_get_str(daemon, "version"));
        if (out_has(daemon, "api"))
                printf(" (api %" PRIu64 ", cgroup %s)", out_get_u64(daemon, "api"),
                       out_has(daemon, "cgroup") ? out_get_str(daemon, "cgroup") : "?");
        putchar('\n');
        /* what runs degraded, and what that costs the instances */
        size_t k;
        json_t *d;
        json_array_foreach(json_object_get(daemon, "degraded"), k, d)
                printf("degraded: %s: %s; %s\n", out_get_str(d, "subsystem"), out_get_str(d, "reason"),
                       out_get_str(d, "lost"));
        return VSCTL_EXIT_OK;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl snapshots NAME [--json] */
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#include "vsctl/vsctl.h"

int cmd_snapshots(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, VSCTL_LONGOPT_JSON, {} };
        static const char *const headers[] = { "SNAPSHOT", "CREATED", "ON HOST" };
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;
        vs_error err = {};
        json_auto_t *list = NULL;
        if (vsctl_get_list(ctx, vsctl_instance_path(argv[optind], "snapshots"), "snapshots", &list, &err) < 0)
                return vsctl_fail(&err);
        if (ctx->json)
                return out_json(list) < 0 ? VSCTL_EXIT_FAILURE : VSCTL_EXIT_OK;
        _cleanup_table_ struct out_table *t = out_table_new(ELEMENTSOF(headers), headers);
        if (!t)
                goto oom;
        out_table_align_right(t, 2);
        size_t i;
        json_t *s;
        json_array_foreach(list, i, s) {
                char created[32] = "-", size[16];
                time_t when = (time_t) out_get_u64(s, "created");
                struct tm tm;
                if (when && localtime_r(&when, &tm))
                        strftime(created, sizeof(created), "%Y-%m-%d %H:%M:%S", &tm);
                out_size(out_get_u64(s, "host_bytes"), size, sizeof(size));
                if (out_table_add(t, (const char *const[]) { out_get_str(s, "name"), created, size }) < 0)
                        goto oom;
        }
        out_table_print(t, stdout);
        return VSCTL_EXIT_OK;
oom:
        vs_err(&err, ENOMEM, "cannot format the snapshots");
        return vsctl_fail(&err);
}

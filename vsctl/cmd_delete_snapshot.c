/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl delete-snapshot NAME SNAP */
#include <stdio.h>
#include <stdlib.h>

#include "../base/util.h"
#include "http.h"
#include "vsctl.h"

int cmd_delete_snapshot(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, {} };
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if ((ex = vsctl_check_args(argv[0], argc, argv, 2, 2)))
                return ex;
        _cleanup_free_ char *base = vsctl_instance_path(argv[optind], "snapshots");
        _cleanup_free_ char *snap = http_escape_segment(argv[optind + 1]);
        char *path = NULL;
        if (base && snap && asprintf(&path, "%s/%s", base, snap) < 0)
                path = NULL;
        vs_error err = {};
        if (vsctl_call(ctx, "DELETE", path, NULL, NULL, &err) < 0)
                return vsctl_fail(&err);
        return VSCTL_EXIT_OK;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The commands that name an instance and one more thing:
 *   vsctl snapshot NAME SNAP [--json]
 *   vsctl restore-snapshot NAME SNAP [--json]
 *   vsctl delete-snapshot NAME SNAP
 *   vsctl clone SRC DST [--start] [--json]
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"
#include "vsctl/http.h"
#include "vsctl/vsctl.h"

/* POST /v1/instances/NAME/SEG with {KEY: ARG2}; with start, then start ARG2. */
static int post_pair(struct vsctl *ctx, int argc, char **argv, const char *seg, const char *key, bool with_start) {
        enum { OPT_START = 0x200 };
        static const struct option opts_start[] = {
                { "start", no_argument, NULL, OPT_START },
                VSCTL_LONGOPT_HELP,
                VSCTL_LONGOPT_JSON,
                {},
        };
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, VSCTL_LONGOPT_JSON, {} };
        bool start = false;
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", with_start ? opts_start : opts, &ex)) != -1) {
                if (c == -2)
                        return ex;
                if (c == OPT_START)
                        start = true;
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 2, 2)))
                return ex;
        const char *name = argv[optind], *other = argv[optind + 1];
        json_t *body = json_object(), *answer = NULL;
        if (!body || !vsctl_set(body, key, json_string(other)))
                return json_decref(body), vsctl_usage_error(argv[0], "arguments must be valid UTF-8");
        vs_error err = {};
        if (vsctl_call(ctx, "POST", vsctl_instance_path(name, seg), body, &answer, &err) < 0)
                return vsctl_fail(&err);
        if (start) {
                json_decref(answer);
                answer = NULL;
                if (vsctl_call(ctx, "POST", vsctl_instance_path(other, "start"), NULL, &answer, &err) < 0) {
                        vs_err_prefix(&err, "cloned '%s' but", other);
                        return vsctl_fail(&err);
                }
        }
        return vsctl_done(ctx, answer);
}

int cmd_snapshot(struct vsctl *ctx, int argc, char **argv) {
        return post_pair(ctx, argc, argv, "snapshots", "name", false);
}

int cmd_restore_snapshot(struct vsctl *ctx, int argc, char **argv) {
        return post_pair(ctx, argc, argv, "restore", "snapshot", false);
}

int cmd_clone(struct vsctl *ctx, int argc, char **argv) {
        return post_pair(ctx, argc, argv, "clone", "name", true);
}

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

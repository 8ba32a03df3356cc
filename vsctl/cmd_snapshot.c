/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The commands that name an instance and one more thing:
 *   vsctl snapshot NAME SNAP [--detach] [--json]
 *   vsctl restore-snapshot NAME SNAP [--detach] [--json]
 *   vsctl delete-snapshot NAME SNAP
 *   vsctl clone SRC DST [--start | --detach] [--json]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"
#include "vsctl/http.h"
#include "vsctl/vsctl.h"

/* POST /v1/instances/NAME/SEG?detach=1 with {KEY: ARG2}: the copy runs as
 * an operation, followed here to its end with its progress (or, with
 * --detach, its id printed at once); with start, then start ARG2.  kind
 * says what is made, for the progress: "snapshot", "restore", "clone". */
static int post_pair(struct vsctl *ctx, int argc, char **argv, const char *seg, const char *key, const char *kind,
                     bool with_start) {
        enum { OPT_START = 0x200, OPT_DETACH };
        static const struct option opts_start[] = {
                { "start", no_argument, NULL, OPT_START },
                { "detach", no_argument, NULL, OPT_DETACH },
                VSCTL_LONGOPT_HELP,
                VSCTL_LONGOPT_JSON,
                {},
        };
        static const struct option opts[] = {
                { "detach", no_argument, NULL, OPT_DETACH },
                VSCTL_LONGOPT_HELP,
                VSCTL_LONGOPT_JSON,
                {},
        };
        bool start = false, detach = false;
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", with_start ? opts_start : opts, &ex)) != -1) {
                if (c == -2)
                        return ex;
                if (c == OPT_START)
                        start = true;
                if (c == OPT_DETACH)
                        detach = true;
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 2, 2)))
                return ex;
        if (start && detach)
                return vsctl_usage_error(argv[0], "--start needs the clone complete: it cannot go with --detach");
        const char *name = argv[optind], *other = argv[optind + 1];
        json_t *body = json_object(), *answer = NULL;
        if (!body || !vsctl_set(body, key, json_string(other)))
                return json_decref(body), vsctl_usage_error(argv[0], "arguments must be valid UTF-8");
        vs_error err = {};
        char what[300];
        if (streq(kind, "restore"))
                snprintf(what, sizeof(what), "restore of %s to %s", other, name);
        else
                snprintf(what, sizeof(what), "%s %s of %s", kind, other, name);
        json_auto_t *final = NULL;
        int r = vsctl_op_post(ctx, vsctl_instance_path(name, seg), body, detach, what, &final, &err);
        if (r < 0)
                return vsctl_fail(&err);
        if (r > 0)
                return VSCTL_EXIT_OK;
        /* what the command printed when it waited for the copy itself: the
         * snapshot's names, the restored instance, the clone */
        answer = NULL;
        if (streq(kind, "snapshot"))
                answer = json_pack("{s:s, s:s}", "instance", name, "name", other);
        else if (ctx->json && vsctl_call(ctx, "GET", vsctl_instance_path(streq(kind, "clone") ? other : name, NULL),
                                         NULL, &answer, &err) < 0)
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
        return post_pair(ctx, argc, argv, "snapshots", "name", "snapshot", false);
}

int cmd_restore_snapshot(struct vsctl *ctx, int argc, char **argv) {
        return post_pair(ctx, argc, argv, "restore", "snapshot", "restore", false);
}

int cmd_clone(struct vsctl *ctx, int argc, char **argv) {
        return post_pair(ctx, argc, argv, "clone", "name", "clone", true);
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

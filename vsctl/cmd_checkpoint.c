/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 *   vsctl checkpoint NAME [--leave-running | --discard] [--detach] [--json]
 *   vsctl restore NAME [--unlocked-mounts | --lazy-pages] [--detach] [--json]
 *
 * --lazy-pages is a post-copy move's restore on its target (run by the
 * source over ssh): the memory comes from the source while it runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"
#include "vsctl/http.h"
#include "vsctl/vsctl.h"

/* POST base?detach=1 with body: an operation, followed here to its end
 * (or, with --detach, its id printed at once); then the instance. */
static int run_op(struct vsctl *ctx, const char *name, char *base, json_t *body, bool detach, const char *what) {
        vs_error err = {};
        json_auto_t *final = NULL;
        int r = vsctl_op_post(ctx, base, body, detach, what, &final, &err);
        if (r < 0)
                return vsctl_fail(&err);
        if (r > 0)
                return VSCTL_EXIT_OK;
        json_t *answer = NULL;
        if (ctx->json && vsctl_call(ctx, "GET", vsctl_instance_path(name, NULL), NULL, &answer, &err) < 0)
                return vsctl_fail(&err);
        return vsctl_done(ctx, answer);
}

int cmd_checkpoint(struct vsctl *ctx, int argc, char **argv) {
        enum { OPT_LEAVE = 0x200, OPT_DISCARD, OPT_DETACH };
        static const struct option opts[] = {
                { "leave-running", no_argument, NULL, OPT_LEAVE },
                { "discard", no_argument, NULL, OPT_DISCARD },
                { "detach", no_argument, NULL, OPT_DETACH },
                VSCTL_LONGOPT_HELP,
                VSCTL_LONGOPT_JSON,
                {},
        };
        bool leave = false, discard = false, detach = false;
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1) {
                if (c == -2)
                        return ex;
                if (c == OPT_LEAVE)
                        leave = true;
                if (c == OPT_DISCARD)
                        discard = true;
                if (c == OPT_DETACH)
                        detach = true;
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;
        if (discard && (leave || detach))
                return vsctl_usage_error(argv[0], "--discard goes with neither --leave-running nor --detach");
        const char *name = argv[optind];
        _cleanup_free_ char *base = vsctl_instance_path(name, "checkpoint");
        vs_error err = {};
        if (discard) {
                json_t *answer = NULL;
                if (vsctl_call(ctx, "DELETE", TAKE_PTR(base), NULL, &answer, &err) < 0)
                        return vsctl_fail(&err);
                if (!ctx->json) {
                        json_decref(answer);
                        answer = NULL;
                }
                return vsctl_done(ctx, answer);
        }
        json_t *body = json_object();
        if (!body || (leave && !vsctl_set(body, "leave_running", json_true())))
                return json_decref(body), vsctl_usage_error(argv[0], "out of memory");
        char what[300];
        snprintf(what, sizeof(what), "checkpoint of %s", name);
        return run_op(ctx, name, TAKE_PTR(base), body, detach, what);
}

int cmd_restore(struct vsctl *ctx, int argc, char **argv) {
        enum { OPT_DETACH = 0x200, OPT_UNLOCKED, OPT_LAZY };
        static const struct option opts[] = {
                { "detach", no_argument, NULL, OPT_DETACH },
                { "unlocked-mounts", no_argument, NULL, OPT_UNLOCKED },
                { "lazy-pages", no_argument, NULL, OPT_LAZY },
                VSCTL_LONGOPT_HELP,
                VSCTL_LONGOPT_JSON,
                {},
        };
        bool detach = false, unlocked = false, lazy = false;
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1) {
                if (c == -2)
                        return ex;
                if (c == OPT_DETACH)
                        detach = true;
                if (c == OPT_UNLOCKED)
                        unlocked = true;
                if (c == OPT_LAZY)
                        lazy = true;
        }
        if (unlocked && lazy)
                return vsctl_usage_error(argv[0], "--lazy-pages takes a privileged instance: no --unlocked-mounts");
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;
        const char *name = argv[optind];
        _cleanup_free_ char *base = vsctl_instance_path(name, "checkpoint/restore");
        json_t *body = NULL;
        if ((unlocked || lazy) && (!(body = json_object()) ||
                                   !vsctl_set(body, lazy ? "lazy_pages" : "unlocked_mounts", json_true())))
                return json_decref(body), vsctl_usage_error(argv[0], "out of memory");
        char what[300];
        snprintf(what, sizeof(what), "restore of %s from its checkpoint", name);
        return run_op(ctx, name, TAKE_PTR(base), body, detach, what);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 *   vsctl migrate NAME HOST [--cold |
 *                            --live [--unlocked-mounts] [--no-page-server | --postcopy]]
 *                 [--no-precopy] [--no-send-template] [--detach] [--json]
 *
 * The daemon moves the instance to HOST over ssh (vsd.conf [migrate] ssh)
 * as an operation; followed here, the downtime (live: the frozen window
 * and the whole move's time; a pre-copy of the disk: the bytes copied
 * while it ran and once down or frozen) printed at the end, its phases
 * followed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"
#include "vsctl/http.h"
#include "vsctl/vsctl.h"

/* A live move's disk: what went while it ran and once frozen, or why it
 * went whole once frozen (a target that cannot take a pre-copy). */
static void live_disk_print(json_t *details) {
        json_t *pre = json_object_get(details, "disk_precopy_bytes"), *fin = json_object_get(details, "disk_final_bytes");
        json_t *fb = json_object_get(details, "disk_precopy_fallback");
        if (json_is_integer(pre) && json_is_integer(fin)) {
                char a[16], b[16];
                out_size((uint64_t) json_integer_value(pre), a, sizeof(a));
                out_size((uint64_t) json_integer_value(fin), b, sizeof(b));
                printf(" (disk: %s copied while it ran, %s once frozen)", a, b);
        } else if (json_is_string(fb))
                printf(" (disk copied whole once frozen: %s)", json_string_value(fb));
}

int cmd_migrate(struct vsctl *ctx, int argc, char **argv) {
        enum { OPT_COLD = 0x200, OPT_LIVE, OPT_DETACH, OPT_UNLOCKED, OPT_NO_SEND, OPT_NO_PRECOPY, OPT_NO_PAGE_SERVER,
               OPT_POSTCOPY };
        static const struct option opts[] = {
                { "cold", no_argument, NULL, OPT_COLD },
                { "live", no_argument, NULL, OPT_LIVE },
                { "detach", no_argument, NULL, OPT_DETACH },
                { "unlocked-mounts", no_argument, NULL, OPT_UNLOCKED },
                { "no-send-template", no_argument, NULL, OPT_NO_SEND },
                { "no-precopy", no_argument, NULL, OPT_NO_PRECOPY },
                { "no-page-server", no_argument, NULL, OPT_NO_PAGE_SERVER },
                { "postcopy", no_argument, NULL, OPT_POSTCOPY },
                VSCTL_LONGOPT_HELP,
                VSCTL_LONGOPT_JSON,
                {},
        };
        bool live = false, cold = false, detach = false, unlocked = false, no_send = false, no_precopy = false;
        bool no_ps = false, postcopy = false;
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1) {
                if (c == -2)
                        return ex;
                if (c == OPT_LIVE)
                        live = true;
                if (c == OPT_COLD)
                        cold = true;
                if (c == OPT_UNLOCKED)
                        unlocked = true;
                if (c == OPT_DETACH)
                        detach = true;
                if (c == OPT_NO_SEND)
                        no_send = true;
                if (c == OPT_NO_PRECOPY)
                        no_precopy = true;
                if (c == OPT_NO_PAGE_SERVER)
                        no_ps = true;
                if (c == OPT_POSTCOPY)
                        postcopy = true;
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 2, 2)))
                return ex;
        if (live && cold)
                return vsctl_usage_error(argv[0], "--cold and --live exclude each other");
        if (unlocked && !live)
                return vsctl_usage_error(argv[0], "--unlocked-mounts is for a live move (--live)");
        if (no_ps && !live)
                return vsctl_usage_error(argv[0], "--no-page-server is for a live move (--live)");
        if (postcopy && !live)
                return vsctl_usage_error(argv[0], "--postcopy is for a live move (--live)");
        if (postcopy && no_ps)
                return vsctl_usage_error(argv[0], "--postcopy sends the memory over the page session: no --no-page-server");
        const char *name = argv[optind], *host = argv[optind + 1];
        vs_error err = {};
        json_t *body = json_object();
        if (!body || !vsctl_set(body, "host", json_string(host)) || (live && !vsctl_set(body, "live", json_true())) ||
            (unlocked && !vsctl_set(body, "unlocked_mounts", json_true())) ||
            (no_send && !vsctl_set(body, "send_template", json_false())) ||
            (no_precopy && !vsctl_set(body, "precopy", json_false())) ||
            (no_ps && !vsctl_set(body, "page_server", json_false())) ||
            (postcopy && !vsctl_set(body, "postcopy", json_true())))
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
        json_t *details = json_object_get(final, "details");
        json_t *d = json_object_get(details, "downtime_ms");
        if (live) {
                json_t *f = json_object_get(details, "frozen_ms"), *t = json_object_get(details, "total_ms");
                json_t *passes = json_object_get(details, "memory_precopy_passes");
                printf("%s moved to %s live: frozen for %.2f s, %.2f s in all", name, host,
                       json_is_integer(f) ? (double) json_integer_value(f) / 1000 : 0.0,
                       json_is_integer(t) ? (double) json_integer_value(t) / 1000 : 0.0);
                if (json_is_integer(passes))
                        printf(" (%lld memory pre-copy pass(es) first)", (long long) json_integer_value(passes));
                live_disk_print(details);
                printf("\n");
                json_decref(final);
                return VSCTL_EXIT_OK;
        }
        /* a running image went while it ran: what went then and once down */
        json_t *t = json_object_get(details, "total_ms"), *pre = json_object_get(details, "precopy_bytes"),
               *fin = json_object_get(details, "final_bytes");
        printf("%s moved to %s: down for %.2f s", name, host, json_is_integer(d) ? (double) json_integer_value(d) / 1000 : 0.0);
        if (json_is_integer(t))
                printf(", %.2f s in all", (double) json_integer_value(t) / 1000);
        if (json_is_integer(pre) && json_is_integer(fin)) {
                char a[16], b[16];
                out_size((uint64_t) json_integer_value(pre), a, sizeof(a));
                out_size((uint64_t) json_integer_value(fin), b, sizeof(b));
                printf(" (%s copied while it ran, %s once down)", a, b);
        }
        /* a target that could not take a pre-copy (an older vsd) */
        json_t *fb = json_object_get(details, "precopy_fallback");
        if (json_is_string(fb))
                printf(" (copied whole once down: %s)", json_string_value(fb));
        putchar('\n');
        json_decref(final);
        return VSCTL_EXIT_OK;
}

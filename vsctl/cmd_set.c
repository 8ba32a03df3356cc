/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl set NAME [--memory SIZE] [--memory-soft SIZE] [--swap SIZE] [--cpus N] [--cpu-weight N]
 *                [--cpuset LIST] [--pids N] [--io-*] [--nofile N] [--rlimit NAME=SOFT[:HARD]]...
 *                [--stop-timeout DUR] [--ip ADDR]... [--forward SPEC]... [--no-forward SPEC]...
 *                [--rate-in RATE] [--rate-out RATE] [--isolated yes|no] [--net MODE] [--nesting yes|no] */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "vsctl/vsctl.h"

/* "8080:80" is "tcp:8080:80", as the daemon writes it back. */
static void forward_norm(const char *spec, char *buf, size_t len) {
        const char *c = strchr(spec, ':');
        snprintf(buf, len, "%s%s", c && strchr(c + 1, ':') ? "" : "tcp:", spec);
}

static bool in_list(const char *list, const char *item) {
        _cleanup_free_ char *copy = strdup(list);
        for (char *save = NULL, *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
                char a[64], b[64];
                forward_norm(t, a, sizeof(a));
                forward_norm(item, b, sizeof(b));
                if (streq(a, b))
                        return true;
        }
        return false;
}

/* --forward adds to the forwards the instance has and --no-forward takes
 * one away: the daemon's "forward" field is the whole list. */
static int merge_forwards(struct vsctl *ctx, const char *name, json_t *body, const char *drop, vs_error *err) {
        const char *add = json_string_value(json_object_get(body, "forward"));
        if (add && streq(add, "none"))
                return 0;
        json_auto_t *inst = NULL;
        if (vsctl_call(ctx, "GET", vsctl_instance_path(name, NULL), NULL, &inst, err) < 0)
                return -1;
        const char *have = json_string_value(json_object_get(inst, "forward"));
        _cleanup_free_ char *list = strdup(""), *copy = strdup(have ? have : "");
        const char *sources[] = { copy, add };
        for (size_t s = 0; s < 2; s++) {
                _cleanup_free_ char *src = sources[s] ? strdup(sources[s]) : NULL;
                for (char *save = NULL, *t = src ? strtok_r(src, ",", &save) : NULL; t && list;
                     t = strtok_r(NULL, ",", &save)) {
                        if ((drop && in_list(drop, t)) || in_list(list, t))
                                continue;
                        char *next = NULL;
                        if (asprintf(&next, "%s%s%s", list, *list ? "," : "", t) < 0)
                                next = NULL;
                        free(list);
                        list = next;
                }
        }
        if (!list || !vsctl_set(body, "forward", json_string(*list ? list : "none")))
                return vs_err(err, ENOMEM, "port forwards"), -1;
        return 0;
}

int cmd_set(struct vsctl *ctx, int argc, char **argv) {
        enum { OPT_NO_FORWARD = 0x200, OPT_NESTING };
        static const struct option opts[] = {
                VSCTL_LONGOPTS_LIMITS,
                { "no-forward", required_argument, NULL, OPT_NO_FORWARD },
                { "nesting", required_argument, NULL, OPT_NESTING },
                VSCTL_LONGOPT_HELP,
                VSCTL_LONGOPT_JSON,
                {},
        };
        json_auto_t *body = json_object();
        _cleanup_free_ char *drop = NULL;
        bool ok = body != NULL;
        int c, ex;

        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1) {
                switch (c) {
                case -2:
                        return ex;
                case OPT_NO_FORWARD: {
                        char *next = NULL;
                        if (asprintf(&next, "%s%s%s", drop ? drop : "", drop ? "," : "", optarg) < 0)
                                return vsctl_usage_error(argv[0], "out of memory");
                        free(drop);
                        drop = next;
                        break;
                }
                case OPT_NESTING:
                        /* yes or no, checked by the daemon like isolated */
                        ok &= vsctl_set(body, "nesting", json_string(optarg));
                        break;
                default:
                        ok &= vsctl_limit_option(body, c, optarg) >= 0;
                        break;
                }
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;
        if (!ok)
                return vsctl_usage_error(argv[0], "arguments must be valid UTF-8");
        if (json_object_size(body) == 0 && !drop)
                return vsctl_usage_error(argv[0], "nothing to set: give an option such as --memory, --cpus, "
                                                  "--pids, --io-weight, --nofile, --rlimit, --stop-timeout, --ip, "
                                                  "--forward or --rate-in");

        vs_error err = {};
        json_t *answer = NULL;
        if ((json_object_get(body, "forward") || drop) && merge_forwards(ctx, argv[optind], body, drop, &err) < 0)
                return vsctl_fail(&err);
        if (vsctl_call(ctx, "PATCH", vsctl_instance_path(argv[optind], NULL), json_incref(body), &answer, &err) < 0)
                return vsctl_fail(&err);
        return vsctl_done(ctx, answer);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl info NAME [--json] */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "vsctl/vsctl.h"

enum kind { K_STR, K_PID, K_TIME, K_SIZE, K_SOFT, K_SWAP, K_CPUS, K_COUNT, K_SECONDS, K_NOFILE, K_INODES, K_BOOL, K_NUMBER };

/* The fields people look for first, in the order they read them; any field
 * the daemon adds later is shown after these as it comes. */
static const struct field {
        const char *key, *label;
        enum kind kind;
} fields[] = {
        { "name", "name", K_STR },
        { "state", "state", K_STR },
        { "error", "error", K_STR },
        { "template", "template", K_STR },
        { "pid", "pid", K_PID },
        { "started_at", "started", K_TIME },
        { "memory", "memory", K_SIZE },
        { "cpus", "cpus", K_CPUS },
        { "pids", "pids", K_COUNT },
        { "memory_soft", "memory soft", K_SOFT },
        { "swap", "swap", K_SWAP },
        { "cpu_weight", "cpu weight", K_COUNT },
        { "cpuset", "cpuset", K_STR },
        { "io_read_bps", "io read bps", K_STR },
        { "io_write_bps", "io write bps", K_STR },
        { "io_read_iops", "io read iops", K_STR },
        { "io_write_iops", "io write iops", K_STR },
        { "nofile", "open files", K_NOFILE },
        { "stop_timeout", "stop timeout", K_SECONDS },
        { "onboot", "onboot", K_STR },
        { "boot_priority", "boot priority", K_NUMBER },
        { "boot_delay", "boot delay", K_SECONDS },
        { "backend", "storage", K_STR },
        { "disk", "disk", K_SIZE },
        { "inodes", "inodes", K_INODES },
        { "privileged", "privileged", K_BOOL },
        { "nesting", "nesting", K_BOOL },
        { "id_range", "host ids", K_STR },
};

/* inst: the whole instance, for a field whose meaning depends on another */
static void format_field(json_t *inst, json_t *v, enum kind kind, char *buf, size_t len) {
        double d = json_number_value(v);
        uint64_t u = d > 0 ? (uint64_t) d : 0;
        char tmp[32];

        switch (kind) {
        case K_STR:
                if (json_is_string(v))
                        snprintf(buf, len, "%s", json_string_value(v));
                else {
                        _cleanup_free_ char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                        snprintf(buf, len, "%s", s ? s : "?");
                }
                return;
        case K_NOFILE:
                if (u)
                        snprintf(buf, len, "%" PRIu64, u);
                else
                        snprintf(buf, len, "1024 (default)");
                return;
        case K_PID:
                if (u)
                        snprintf(buf, len, "%" PRIu64, u);
                else
                        snprintf(buf, len, "-");
                return;
        case K_TIME: {
                if (!u) {
                        snprintf(buf, len, "-");
                        return;
                }
                time_t t = (time_t) u, now = time(NULL);
                struct tm tm;
                char when[32];
                localtime_r(&t, &tm);
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
                out_duration(now > t ? (uint64_t) (now - t) : 0, tmp, sizeof(tmp));
                snprintf(buf, len, "%s (%s ago)", when, tmp);
                return;
        }
        case K_SIZE:
                if (u)
                        out_size(u, buf, len);
                else
                        snprintf(buf, len, "unlimited");
                return;
        case K_SOFT:
                if (u)
                        out_size(u, buf, len);
                else
                        snprintf(buf, len, "none");
                return;
        case K_SWAP:
                /* granted on top of the memory limit, 0 = none at all; only
                 * an instance without a memory limit swaps without one */
                if (!out_get_u64(inst, "memory"))
                        snprintf(buf, len, "unlimited (no memory limit)");
                else if (u)
                        out_size(u, buf, len);
                else
                        snprintf(buf, len, "none (memory only)");
                return;
        case K_CPUS:
                if (d > 0)
                        out_cpus(d, buf, len);
                else
                        snprintf(buf, len, "unlimited");
                return;
        case K_COUNT:
                if (u)
                        snprintf(buf, len, "%" PRIu64, u);
                else
                        snprintf(buf, len, "unlimited");
                return;
        case K_INODES:
                if (u)
                        snprintf(buf, len, "%" PRIu64, u);
                else
                        snprintf(buf, len, "one per 16K of disk");
                return;
        case K_NUMBER:
                snprintf(buf, len, "%" PRIu64, u);
                return;
        case K_BOOL:
                snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
                return;
        case K_SECONDS:
                out_cpus(d, tmp, sizeof(tmp));
                snprintf(buf, len, "%ss", tmp);
                return;
        }
}

int cmd_info(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, VSCTL_LONGOPT_JSON, {} };
        int c, ex;

        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;

        vs_error err = {};
        json_auto_t *inst = NULL;
        if (vsctl_call(ctx, "GET", vsctl_instance_path(argv[optind], NULL), NULL, &inst, &err) < 0)
                return vsctl_fail(&err);
        if (!json_is_object(inst)) {
                vs_err_msg(&err, EBADMSG, "unexpected answer from vsd: not an instance");
                return vsctl_fail(&err);
        }
        if (ctx->json)
                return out_json(inst) < 0 ? VSCTL_EXIT_FAILURE : VSCTL_EXIT_OK;

        _cleanup_table_ struct out_table *t = out_table_new(2, NULL);
        if (!t)
                goto oom;
        char val[1024], label[80];
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                json_t *v = json_object_get(inst, fields[i].key);
                if (!v)
                        continue;
                format_field(inst, v, fields[i].kind, val, sizeof(val));
                snprintf(label, sizeof(label), "%s:", fields[i].label);
                if (out_table_add(t, (const char *const[]) { label, val }) < 0)
                        goto oom;
        }
        const char *key;
        json_t *v;
        json_object_foreach(inst, key, v) {
                bool known = false;
                for (size_t i = 0; i < ELEMENTSOF(fields) && !known; i++)
                        known = streq(key, fields[i].key);
                if (known)
                        continue;
                format_field(inst, v, K_STR, val, sizeof(val));
                snprintf(label, sizeof(label), "%s:", key);
                if (out_table_add(t, (const char *const[]) { label, val }) < 0)
                        goto oom;
        }
        out_table_print(t, stdout);
        return VSCTL_EXIT_OK;

oom:
        vs_err(&err, ENOMEM, "cannot format the instance");
        return vsctl_fail(&err);
}

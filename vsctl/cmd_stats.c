/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl stats [NAME] [--sort FIELD] [--json] */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../base/proto.h"
#include "../base/util.h"
#include "vsctl.h"

enum sort_key { SORT_NAME, SORT_CPU, SORT_MEM, SORT_MEM_PCT, SORT_PIDS };

static const struct {
        const char *name;
        enum sort_key key;
} sort_keys[] = {
        { "name", SORT_NAME }, { "cpu", SORT_CPU },      { "mem", SORT_MEM },
        { "memory", SORT_MEM }, { "mem%", SORT_MEM_PCT }, { "pids", SORT_PIDS },
};

static uint64_t sub_u64(json_t *stats, const char *group, const char *key) {
        return out_get_u64(json_object_get(stats, group), key);
}

/* Memory use in per mille of the limit; -1 without a limit, so that
 * unlimited instances sort last. */
static int64_t mem_permille(json_t *s) {
        uint64_t limit = sub_u64(s, "memory", "limit");
        if (!limit)
                return -1;
        return (int64_t) ((double) sub_u64(s, "memory", "usage") * 1000.0 / (double) limit);
}

static int compare(const void *a, const void *b, void *userdata) {
        json_t *x = *(json_t *const *) a, *y = *(json_t *const *) b;
        int64_t vx = 0, vy = 0;
        switch (*(enum sort_key *) userdata) {
        case SORT_NAME:
                return strcmp(out_get_str(x, "name"), out_get_str(y, "name"));
        case SORT_CPU:
                vx = (int64_t) sub_u64(x, "cpu", "usage_ns");
                vy = (int64_t) sub_u64(y, "cpu", "usage_ns");
                break;
        case SORT_MEM:
                vx = (int64_t) sub_u64(x, "memory", "usage");
                vy = (int64_t) sub_u64(y, "memory", "usage");
                break;
        case SORT_MEM_PCT:
                vx = mem_permille(x);
                vy = mem_permille(y);
                break;
        case SORT_PIDS:
                vx = (int64_t) sub_u64(x, "pids", "current");
                vy = (int64_t) sub_u64(y, "pids", "current");
                break;
        }
        /* Biggest first, as in top; ties by name for a stable order. */
        if (vx != vy)
                return vx < vy ? 1 : -1;
        return strcmp(out_get_str(x, "name"), out_get_str(y, "name"));
}

static int show_all(json_t *list, enum sort_key key) {
        static const char *const headers[] = { "NAME", "CPU(s)", "MEM", "LIMIT", "MEM%", "PIDS", "PIDS-LIMIT", "OOM" };
        size_t n = json_array_size(list);
        _cleanup_free_ json_t **rows = calloc(n ? n : 1, sizeof(json_t *));
        _cleanup_table_ struct out_table *t = out_table_new(ELEMENTSOF(headers), headers);
        if (!rows || !t)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                rows[i] = json_array_get(list, i);
        qsort_r(rows, n, sizeof(json_t *), compare, &key);
        for (size_t i = 1; i < ELEMENTSOF(headers); i++)
                out_table_align_right(t, i);

        for (size_t i = 0; i < n; i++) {
                json_t *s = rows[i];
                char cpu[24], mem[16], limit[16] = "-", pct[16] = "-", pids[24], plimit[24] = "-", oom[24];
                uint64_t v;
                snprintf(cpu, sizeof(cpu), "%.2f", (double) sub_u64(s, "cpu", "usage_ns") / 1e9);
                out_size(sub_u64(s, "memory", "usage"), mem, sizeof(mem));
                if ((v = sub_u64(s, "memory", "limit"))) {
                        out_size(v, limit, sizeof(limit));
                        snprintf(pct, sizeof(pct), "%.1f%%", (double) mem_permille(s) / 10.0);
                }
                snprintf(pids, sizeof(pids), "%" PRIu64, sub_u64(s, "pids", "current"));
                if ((v = sub_u64(s, "pids", "limit")))
                        snprintf(plimit, sizeof(plimit), "%" PRIu64, v);
                snprintf(oom, sizeof(oom), "%" PRIu64, sub_u64(s, "memory", "oom_kills"));
                const char *row[] = { out_get_str(s, "name"), cpu, mem, limit, pct, pids, plimit, oom };
                if (out_table_add(t, row) < 0)
                        return -ENOMEM;
        }
        out_table_print(t, stdout);
        return 0;
}

static int show_one(json_t *s) {
        static const char *const headers[] = { "RESOURCE", "USAGE", "PEAK", "LIMIT", "FAILCNT", "NOTES" };
        _cleanup_table_ struct out_table *t = out_table_new(ELEMENTSOF(headers), headers);
        json_t *g;
        uint64_t v;
        if (!t)
                return -ENOMEM;

        if ((g = json_object_get(s, "memory"))) {
                char usage[16], peak[16] = "-", limit[16] = "-", fail[24], notes[48];
                out_size(out_get_u64(g, "usage"), usage, sizeof(usage));
                if (out_has(g, "peak"))
                        out_size(out_get_u64(g, "peak"), peak, sizeof(peak));
                if ((v = out_get_u64(g, "limit")))
                        out_size(v, limit, sizeof(limit));
                snprintf(fail, sizeof(fail), "%" PRIu64, out_get_u64(g, "failcnt"));
                snprintf(notes, sizeof(notes), "%" PRIu64 " OOM kills", out_get_u64(g, "oom_kills"));
                if (out_table_add(t, (const char *const[]) { "memory", usage, peak, limit, fail, notes }) < 0)
                        return -ENOMEM;
        }
        if ((g = json_object_get(s, "cpu"))) {
                char usage[24], limit[16] = "-", fail[24], thr[24], notes[48];
                out_cpu_time(out_get_u64(g, "usage_ns"), usage, sizeof(usage));
                if (out_get_double(g, "limit") > 0)
                        out_cpus(out_get_double(g, "limit"), limit, sizeof(limit));
                snprintf(fail, sizeof(fail), "%" PRIu64, out_get_u64(g, "nr_throttled"));
                out_cpu_time(out_get_u64(g, "throttled_ns"), thr, sizeof(thr));
                snprintf(notes, sizeof(notes), "throttled %s", thr);
                if (out_table_add(t, (const char *const[]) { "cpu", usage, "-", limit, fail, notes }) < 0)
                        return -ENOMEM;
        }
        if ((g = json_object_get(s, "pids"))) {
                char usage[24], limit[24] = "-", fail[24];
                snprintf(usage, sizeof(usage), "%" PRIu64, out_get_u64(g, "current"));
                if ((v = out_get_u64(g, "limit")))
                        snprintf(limit, sizeof(limit), "%" PRIu64, v);
                snprintf(fail, sizeof(fail), "%" PRIu64, out_get_u64(g, "failcnt"));
                if (out_table_add(t, (const char *const[]) { "pids", usage, "-", limit, fail, "" }) < 0)
                        return -ENOMEM;
        }
        out_table_print(t, stdout);
        return 0;
}

int cmd_stats(struct vsctl *ctx, int argc, char **argv) {
        enum { OPT_SORT = 0x200 };
        static const struct option opts[] = {
                { "sort", required_argument, NULL, OPT_SORT },
                VSCTL_LONGOPT_HELP,
                VSCTL_LONGOPT_JSON,
                {},
        };
        const char *sort = NULL;
        enum sort_key key = SORT_NAME;
        int c, ex;

        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1) {
                if (c == -2)
                        return ex;
                if (c == OPT_SORT)
                        sort = optarg;
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 0, 1)))
                return ex;
        const char *name = argv[optind];
        if (sort) {
                size_t i = 0;
                if (name)
                        return vsctl_usage_error(argv[0], "--sort applies to the list of all instances, not to one");
                while (i < ELEMENTSOF(sort_keys) && !streq(sort_keys[i].name, sort))
                        i++;
                if (i == ELEMENTSOF(sort_keys))
                        return vsctl_usage_error(argv[0], "cannot sort by '%s': use name, cpu, mem, mem%% or pids", sort);
                key = sort_keys[i].key;
        }

        vs_error err = {};
        json_auto_t *stats = NULL;
        char *path = name ? vsctl_instance_path(name, "stats") : strdup(VS_API_PREFIX "/stats");
        if (vsctl_call(ctx, "GET", path, NULL, &stats, &err) < 0)
                return vsctl_fail(&err);
        if (name ? !json_is_object(stats) : !json_is_array(stats)) {
                vs_err_msg(&err, EBADMSG, "unexpected answer from vsd: not %s", name ? "statistics" : "a list of statistics");
                return vsctl_fail(&err);
        }
        if (ctx->json)
                return out_json(stats) < 0 ? VSCTL_EXIT_FAILURE : VSCTL_EXIT_OK;

        if ((name ? show_one(stats) : show_all(stats, key)) < 0) {
                vs_err(&err, ENOMEM, "cannot format the statistics");
                return vsctl_fail(&err);
        }
        return VSCTL_EXIT_OK;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl stats [NAME] [--sort FIELD] [--json] */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/proto.h"
#include "base/util.h"
#include "vsctl/vsctl.h"

enum sort_key { SORT_NAME, SORT_CPU, SORT_MEM, SORT_MEM_PCT, SORT_PIDS, SORT_SWAP, SORT_THROTTLED, SORT_IO, SORT_NET, SORT_DISK };

static const struct {
        const char *name;
        enum sort_key key;
} sort_keys[] = {
        { "name", SORT_NAME },   { "cpu", SORT_CPU },   { "mem", SORT_MEM },
        { "memory", SORT_MEM },  { "mem%", SORT_MEM_PCT }, { "pids", SORT_PIDS },
        { "swap", SORT_SWAP },   { "throttled", SORT_THROTTLED }, { "io", SORT_IO },
        { "net", SORT_NET },     { "disk", SORT_DISK },
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

static int64_t sort_value(json_t *s, enum sort_key key) {
        switch (key) {
        case SORT_CPU:
                return (int64_t) sub_u64(s, "cpu", "usage_ns");
        case SORT_MEM:
                return (int64_t) sub_u64(s, "memory", "usage");
        case SORT_MEM_PCT:
                return mem_permille(s);
        case SORT_PIDS:
                return (int64_t) sub_u64(s, "pids", "current");
        case SORT_SWAP:
                return (int64_t) sub_u64(s, "memory", "swap");
        case SORT_THROTTLED:
                return (int64_t) sub_u64(s, "cpu", "nr_throttled");
        case SORT_IO:
                return (int64_t) (sub_u64(s, "io", "read_bytes") + sub_u64(s, "io", "write_bytes"));
        case SORT_NET:
                return (int64_t) (sub_u64(s, "net", "rx_bytes") + sub_u64(s, "net", "tx_bytes"));
        case SORT_DISK:
                return (int64_t) sub_u64(s, "disk", "used");
        case SORT_NAME:
                break;
        }
        return 0;
}

static int compare(const void *a, const void *b, void *userdata) {
        json_t *x = *(json_t *const *) a, *y = *(json_t *const *) b;
        enum sort_key key = *(enum sort_key *) userdata;
        if (key != SORT_NAME) {
                int64_t vx = sort_value(x, key), vy = sort_value(y, key);
                /* Biggest first, as in top; ties by name for a stable order. */
                if (vx != vy)
                        return vx < vy ? 1 : -1;
        }
        return strcmp(out_get_str(x, "name"), out_get_str(y, "name"));
}

static int show_all(json_t *list, enum sort_key key) {
        static const char *const headers[] = { "NAME", "CPU(s)", "THROTTLED", "MEM",  "LIMIT", "MEM%",
                                                "SWAP", "PIDS",   "PIDS-LIMIT", "OOM", "READ",  "WRITE",
                                                "NET-RX", "NET-TX", "DISK", "DISK-LIMIT" };
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
                char cpu[24], thr[24], mem[16], limit[16] = "-", pct[16] = "-", swap[16], pids[24], plimit[24] = "-",
                     oom[24], rd[16], wr[16], rx[16], tx[16], disk[16] = "-", dlimit[16] = "-";
                uint64_t v;
                snprintf(cpu, sizeof(cpu), "%.2f", (double) sub_u64(s, "cpu", "usage_ns") / 1e9);
                snprintf(thr, sizeof(thr), "%" PRIu64, sub_u64(s, "cpu", "nr_throttled"));
                out_size(sub_u64(s, "memory", "usage"), mem, sizeof(mem));
                if ((v = sub_u64(s, "memory", "limit"))) {
                        out_size(v, limit, sizeof(limit));
                        snprintf(pct, sizeof(pct), "%.1f%%", (double) mem_permille(s) / 10.0);
                }
                out_size(sub_u64(s, "memory", "swap"), swap, sizeof(swap));
                snprintf(pids, sizeof(pids), "%" PRIu64, sub_u64(s, "pids", "current"));
                if ((v = sub_u64(s, "pids", "limit")))
                        snprintf(plimit, sizeof(plimit), "%" PRIu64, v);
                snprintf(oom, sizeof(oom), "%" PRIu64, sub_u64(s, "memory", "oom_kills"));
                out_size(sub_u64(s, "io", "read_bytes"), rd, sizeof(rd));
                out_size(sub_u64(s, "io", "write_bytes"), wr, sizeof(wr));
                out_size(sub_u64(s, "net", "rx_bytes"), rx, sizeof(rx));
                out_size(sub_u64(s, "net", "tx_bytes"), tx, sizeof(tx));
                if (out_get_u64(json_object_get(s, "disk"), "limit")) {
                        out_size(sub_u64(s, "disk", "used"), disk, sizeof(disk));
                        out_size(sub_u64(s, "disk", "limit"), dlimit, sizeof(dlimit));
                }
                const char *row[] = { out_get_str(s, "name"), cpu, thr, mem, limit, pct, swap, pids, plimit, oom, rd, wr,
                                      rx, tx, disk, dlimit };
                if (out_table_add(t, row) < 0)
                        return -ENOMEM;
        }
        out_table_print(t, stdout);
        return 0;
}

/* "8:0 10M/s read" for each device that caps this direction. */
static void throttles_text(json_t *io, const char *bps, const char *iops, char *buf, size_t len) {
        size_t n = 0;
        json_t *t;
        size_t k;
        buf[0] = '\0';
        json_array_foreach(json_object_get(io, "throttles"), k, t) {
                char rate[16];
                uint64_t b = out_get_u64(t, bps), o = out_get_u64(t, iops);
                if (b) {
                        out_size(b, rate, sizeof(rate));
                        n += (size_t) snprintf(buf + n, n < len ? len - n : 0, "%s%s %s/s", n ? ", " : "",
                                               out_get_str(t, "device"), rate);
                }
                if (o)
                        n += (size_t) snprintf(buf + n, n < len ? len - n : 0, "%s%s %" PRIu64 " IOPS", n ? ", " : "",
                                               out_get_str(t, "device"), o);
        }
        if (!buf[0])
                snprintf(buf, len, "-");
}

static int show_one(json_t *s) {
        static const char *const headers[] = { "RESOURCE", "USAGE", "PEAK", "LIMIT", "HIT", "NOTES" };
        _cleanup_table_ struct out_table *t = out_table_new(ELEMENTSOF(headers), headers);
        json_t *g;
        uint64_t v;
        if (!t)
                return -ENOMEM;
        for (size_t i = 1; i < 5; i++)
                out_table_align_right(t, i);

        if ((g = json_object_get(s, "memory"))) {
                char usage[16], peak[16] = "-", limit[16] = "-", fail[24], rss[16], cache[16], notes[96];
                out_size(out_get_u64(g, "usage"), usage, sizeof(usage));
                if (out_has(g, "peak"))
                        out_size(out_get_u64(g, "peak"), peak, sizeof(peak));
                bool limited = (v = out_get_u64(g, "limit")) != 0;
                if (limited)
                        out_size(v, limit, sizeof(limit));
                snprintf(fail, sizeof(fail), "%" PRIu64, out_get_u64(g, "failcnt"));
                out_size(out_get_u64(g, "rss"), rss, sizeof(rss));
                out_size(out_get_u64(g, "cache"), cache, sizeof(cache));
                snprintf(notes, sizeof(notes), "rss %s, cache %s; %" PRIu64 " OOM kills", rss, cache,
                         out_get_u64(g, "oom_kills"));
                if (out_table_add(t, (const char *const[]) { "memory", usage, peak, limit, fail, notes }) < 0)
                        return -ENOMEM;

                char soft[16] = "-", events[24];
                if ((v = out_get_u64(g, "soft_limit")))
                        out_size(v, soft, sizeof(soft));
                snprintf(events, sizeof(events), "%" PRIu64, out_get_u64(g, "soft_events"));
                if (out_table_add(t, (const char *const[]) { "memory soft", "-", "-", soft, events,
                                                             "reclaimed down to it under pressure" }) < 0)
                        return -ENOMEM;

                /* swap is granted on top of a memory limit, 0 = none at all;
                 * without a memory limit it is not limited either */
                char swap[16], slimit[16] = "-";
                out_size(out_get_u64(g, "swap"), swap, sizeof(swap));
                if (limited && (v = out_get_u64(g, "swap_limit")))
                        out_size(v, slimit, sizeof(slimit));
                else if (limited)
                        snprintf(slimit, sizeof(slimit), "none");
                if (out_table_add(t, (const char *const[]) { "swap", swap, "-", slimit, "-",
                                                             limited ? "on top of the memory limit"
                                                                     : "no memory limit: not limited" }) < 0)
                        return -ENOMEM;
        }
        if ((g = json_object_get(s, "cpu"))) {
                char usage[24], limit[16] = "-", fail[24], thr[24], notes[128];
                out_cpu_time(out_get_u64(g, "usage_ns"), usage, sizeof(usage));
                if (out_get_double(g, "limit") > 0)
                        out_cpus(out_get_double(g, "limit"), limit, sizeof(limit));
                snprintf(fail, sizeof(fail), "%" PRIu64, out_get_u64(g, "nr_throttled"));
                out_cpu_time(out_get_u64(g, "throttled_ns"), thr, sizeof(thr));
                snprintf(notes, sizeof(notes), "weight %" PRIu64 ", cpuset %s; throttled %s in %" PRIu64 " periods",
                         out_get_u64(g, "weight"), out_get_str(g, "cpuset"), thr, out_get_u64(g, "nr_periods"));
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
        if ((g = json_object_get(s, "io"))) {
                static const struct {
                        const char *label, *bytes, *ops, *bps, *iops;
                } dirs[] = {
                        { "disk read", "read_bytes", "read_ios", "read_bps", "read_iops" },
                        { "disk write", "write_bytes", "write_ios", "write_bps", "write_iops" },
                };
                for (size_t d = 0; d < ELEMENTSOF(dirs); d++) {
                        char usage[16], limit[160], notes[64];
                        out_size(out_get_u64(g, dirs[d].bytes), usage, sizeof(usage));
                        throttles_text(g, dirs[d].bps, dirs[d].iops, limit, sizeof(limit));
                        snprintf(notes, sizeof(notes), "%" PRIu64 " operations; weight %" PRIu64,
                                 out_get_u64(g, dirs[d].ops), out_get_u64(g, "weight"));
                        if (out_table_add(t, (const char *const[]) { dirs[d].label, usage, "-", limit, "-", notes }) < 0)
                                return -ENOMEM;
                }
        }
        if ((g = json_object_get(s, "nofile"))) {
                char limit[24], notes[256];
                const char *rl = out_get_str(s, "rlimits");
                snprintf(limit, sizeof(limit), "%" PRIu64, out_get_u64(g, "limit"));
                snprintf(notes, sizeof(notes), "per process; other rlimits: %s", *rl ? rl : "vsd's own");
                if (out_table_add(t, (const char *const[]) { "open files", "-", "-", limit, "-", notes }) < 0)
                        return -ENOMEM;
        }
        if ((g = json_object_get(s, "net")) && !streq(out_get_str(g, "mode"), "none")) {
                static const struct {
                        const char *label, *bytes, *packets, *dropped, *rate;
                } dirs[] = {
                        { "net in", "rx_bytes", "rx_packets", "rx_dropped", "rate_in" },
                        { "net out", "tx_bytes", "tx_packets", "tx_dropped", "rate_out" },
                };
                for (size_t d = 0; d < ELEMENTSOF(dirs); d++) {
                        char usage[16], limit[24] = "-", drops[24], notes[64];
                        out_size(out_get_u64(g, dirs[d].bytes), usage, sizeof(usage));
                        uint64_t rate = out_get_u64(g, dirs[d].rate);
                        if (rate)
                                snprintf(limit, sizeof(limit), "%.6g Mbit/s", (double) rate / 1e6);
                        snprintf(drops, sizeof(drops), "%" PRIu64, out_get_u64(g, dirs[d].dropped));
                        snprintf(notes, sizeof(notes), "%" PRIu64 " packets; %s mode", out_get_u64(g, dirs[d].packets),
                                 out_get_str(g, "mode"));
                        if (out_table_add(t, (const char *const[]) { dirs[d].label, usage, "-", limit, drops, notes }) < 0)
                                return -ENOMEM;
                }
        }
        if ((g = json_object_get(s, "disk"))) {
                char used[16] = "-", limit[16] = "-", host[16], iused[24] = "-", ilimit[24] = "-", notes[96];
                bool mounted = json_is_true(json_object_get(g, "mounted"));
                if (mounted) {
                        out_size(out_get_u64(g, "used"), used, sizeof(used));
                        snprintf(iused, sizeof(iused), "%" PRIu64, out_get_u64(g, "inodes_used"));
                }
                if ((v = out_get_u64(g, "limit")))
                        out_size(v, limit, sizeof(limit));
                if ((v = out_get_u64(g, "inodes_limit")))
                        snprintf(ilimit, sizeof(ilimit), "%" PRIu64, v);
                out_size(out_get_u64(g, "host_bytes"), host, sizeof(host));
                if (streq(out_get_str(g, "backend"), "image"))
                        snprintf(notes, sizeof(notes), "image backend; %s on the host", host);
                else
                        snprintf(notes, sizeof(notes), "%s backend: no quota", out_get_str(g, "backend"));
                if (out_table_add(t, (const char *const[]) { "disk", used, "-", limit, "-", notes }) < 0 ||
                    out_table_add(t, (const char *const[]) { "disk inodes", iused, "-", ilimit, "-", "" }) < 0)
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
                if (i == ELEMENTSOF(sort_keys)) {
                        char known[128] = "";
                        size_t n = 0;
                        for (size_t k = 0; k < ELEMENTSOF(sort_keys); k++)
                                n += (size_t) snprintf(known + n, sizeof(known) - n, "%s%s", k ? ", " : "",
                                                       sort_keys[k].name);
                        return vsctl_usage_error(argv[0], "unknown sort key '%s' (known: %s)", sort, known);
                }
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

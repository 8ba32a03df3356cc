/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GET /metrics (metrics.h): the families of the text format as a table,
 * each a name, a type, its help and how to read its value from one
 * instance's figures.  Names follow Prometheus's conventions: a vsd_
 * prefix, base units in the name (_bytes, _seconds), counters ending in
 * _total, the process_ families of every client library for the daemon
 * itself.
 */
#include "vsd/api/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/proto.h"
#include "base/util.h"
#include "vsd/core/daemon.h"
#include "vsd/core/events.h"
#include "vsd/core/loop.h"
#include "vsd/core/ops.h"

/* ---- the instances' families ------------------------------------------- */

/* Every state an instance can be in, each a series of vsd_instances and
 * vsd_instance_state (enum inst_state: a new state goes here too). */
static const enum inst_state all_states[] = {
        INST_STOPPED, INST_RUNNING, INST_STOPPING, INST_PAUSED, INST_BROKEN, INST_CHECKPOINTED,
};

/* Which instances a family has a sample for. */
enum when {
        W_ALL,      /* every instance */
        W_STATS,    /* those whose figures were read: up (a cgroup), or any with a disk */
        W_UP,       /* running or paused, figures read */
        W_LINK,     /* up with a link */
        W_NONZERO,  /* a limit: only where one is set */
};

struct family {
        const char *name, *type, *help;
        enum when when;
        uint64_t (*get)(const struct metrics_inst *m);
        double scale; /* 0: an integer as it is; else the value times this, as a real */
};

#define GET(fn, expr) \
        static uint64_t fn(const struct metrics_inst *m) { return (uint64_t) (expr); }

GET(get_start, m->started_at)
GET(get_cpu_ns, m->st.cg.cpu_usage_ns)
GET(get_cpu_limit, m->cpu_millis)
GET(get_cpu_periods, m->st.cg.cpu_nr_periods)
GET(get_cpu_throttled, m->st.cg.cpu_nr_throttled)
GET(get_cpu_throttled_ns, m->st.cg.cpu_throttled_ns)
GET(get_cpu_weight, m->cpu_weight ? m->cpu_weight : 100)
GET(get_mem, m->st.cg.memory_current)
GET(get_mem_limit, m->memory)
GET(get_mem_soft, m->memory_soft)
GET(get_mem_rss, m->st.cg.memory_rss)
GET(get_mem_cache, m->st.cg.memory_cache)
GET(get_mem_failcnt, m->st.cg.memory_failcnt)
GET(get_swap, m->st.cg.swap_current)
GET(get_swap_limit, m->swap)
GET(get_oom, m->st.cg.oom_kills)
GET(get_pids, m->st.cg.pids_current)
GET(get_pids_limit, m->pids)
GET(get_pids_failcnt, m->st.cg.pids_failcnt)
GET(get_disk_used, m->st.disk.bytes_used)
GET(get_disk_limit, m->st.disk.attached ? m->st.disk.bytes_limit : m->disk)
GET(get_inodes_used, m->st.disk.inodes_used)
GET(get_inodes_limit, m->st.disk.attached ? m->st.disk.inodes_limit : 0)
GET(get_disk_host, m->st.disk.host_bytes)
GET(get_io_rbytes, m->st.cg.io_rbytes)
GET(get_io_wbytes, m->st.cg.io_wbytes)
GET(get_io_rios, m->st.cg.io_rios)
GET(get_io_wios, m->st.cg.io_wios)
GET(get_rx_bytes, m->st.net.rx_bytes)
GET(get_tx_bytes, m->st.net.tx_bytes)
GET(get_rx_packets, m->st.net.rx_packets)
GET(get_tx_packets, m->st.net.tx_packets)
GET(get_rx_drops, m->st.net.rx_dropped)
GET(get_tx_drops, m->st.net.tx_dropped)
GET(get_rate_in, m->rate_in / 8)
GET(get_rate_out, m->rate_out / 8)
GET(get_boot_priority, m->boot_priority)

/* The order of the output.  vsd_instance_state and vsd_instance_info are
 * written apart (labels of their own). */
static const struct family families[] = {
        { "vsd_instance_start_time_seconds", "gauge", "When the instance's init started, unix time.", W_UP, get_start, 0 },
        { "vsd_instance_cpu_seconds_total", "counter", "CPU time the instance's processes used.", W_UP, get_cpu_ns, 1e-9 },
        { "vsd_instance_cpu_limit_cpus", "gauge", "The instance's CPU cap in CPUs (absent: none).", W_NONZERO,
          get_cpu_limit, 1e-3 },
        { "vsd_instance_cpu_weight", "gauge", "The instance's relative CPU share (100: the default).", W_ALL,
          get_cpu_weight, 0 },
        { "vsd_instance_cpu_periods_total", "counter", "Scheduling periods elapsed while the instance was runnable under its cap.",
          W_UP, get_cpu_periods, 0 },
        { "vsd_instance_cpu_throttled_periods_total", "counter", "Periods in which the instance hit its CPU cap.", W_UP,
          get_cpu_throttled, 0 },
        { "vsd_instance_cpu_throttled_seconds_total", "counter", "Time the instance's processes waited for its CPU cap.",
          W_UP, get_cpu_throttled_ns, 1e-9 },
        { "vsd_instance_memory_bytes", "gauge", "Memory the instance uses, page cache included.", W_UP, get_mem, 0 },
        { "vsd_instance_memory_rss_bytes", "gauge", "Anonymous memory of the instance's processes.", W_UP, get_mem_rss, 0 },
        { "vsd_instance_memory_cache_bytes", "gauge", "Page cache charged to the instance.", W_UP, get_mem_cache, 0 },
        { "vsd_instance_memory_limit_bytes", "gauge", "The instance's memory limit (absent: none).", W_NONZERO,
          get_mem_limit, 0 },
        { "vsd_instance_memory_soft_limit_bytes", "gauge", "The instance's soft memory limit (absent: none).", W_NONZERO,
          get_mem_soft, 0 },
        { "vsd_instance_memory_limit_hits_total", "counter",
          "Times the instance's memory reached its limit (v1 memory.failcnt, v2 memory.events max).", W_UP,
          get_mem_failcnt, 0 },
        { "vsd_instance_swap_bytes", "gauge", "Swap the instance uses.", W_UP, get_swap, 0 },
        { "vsd_instance_swap_limit_bytes", "gauge", "Swap the instance may use on top of its memory (absent: none).",
          W_NONZERO, get_swap_limit, 0 },
        { "vsd_instance_oom_kills_total", "counter", "Processes of the instance the OOM killer killed.", W_UP, get_oom, 0 },
        { "vsd_instance_pids", "gauge", "Processes and threads of the instance.", W_UP, get_pids, 0 },
        { "vsd_instance_pids_limit", "gauge", "The instance's limit on processes and threads (absent: none).", W_NONZERO,
          get_pids_limit, 0 },
        { "vsd_instance_pids_limit_hits_total", "counter", "Forks the instance's pids limit refused.", W_UP,
          get_pids_failcnt, 0 },
        { "vsd_instance_disk_used_bytes", "gauge", "Bytes used on the instance's filesystem (while it runs).", W_UP,
          get_disk_used, 0 },
        { "vsd_instance_disk_limit_bytes", "gauge", "The size of the instance's disk (absent: none, the dir backend).",
          W_NONZERO, get_disk_limit, 0 },
        { "vsd_instance_disk_inodes_used", "gauge", "Files and directories on the instance's filesystem (while it runs).",
          W_UP, get_inodes_used, 0 },
        { "vsd_instance_disk_inodes_limit", "gauge", "Files and directories the instance's filesystem holds at most.",
          W_NONZERO, get_inodes_limit, 0 },
        { "vsd_instance_disk_host_bytes", "gauge", "What the instance's disk image takes on the host's filesystem.",
          W_STATS, get_disk_host, 0 },
        { "vsd_instance_io_read_bytes_total", "counter", "Bytes the instance read from block devices.", W_UP,
          get_io_rbytes, 0 },
        { "vsd_instance_io_written_bytes_total", "counter", "Bytes the instance wrote to block devices.", W_UP,
          get_io_wbytes, 0 },
        { "vsd_instance_io_reads_total", "counter", "Read operations of the instance on block devices.", W_UP,
          get_io_rios, 0 },
        { "vsd_instance_io_writes_total", "counter", "Write operations of the instance on block devices.", W_UP,
          get_io_wios, 0 },
        { "vsd_instance_network_receive_bytes_total", "counter", "Bytes the instance received.", W_LINK, get_rx_bytes, 0 },
        { "vsd_instance_network_transmit_bytes_total", "counter", "Bytes the instance sent.", W_LINK, get_tx_bytes, 0 },
        { "vsd_instance_network_receive_packets_total", "counter", "Packets the instance received.", W_LINK,
          get_rx_packets, 0 },
        { "vsd_instance_network_transmit_packets_total", "counter", "Packets the instance sent.", W_LINK,
          get_tx_packets, 0 },
        { "vsd_instance_network_receive_drops_total", "counter", "Packets to the instance dropped (its cap, a full queue).",
          W_LINK, get_rx_drops, 0 },
        { "vsd_instance_network_transmit_drops_total", "counter", "Packets from the instance dropped.", W_LINK,
          get_tx_drops, 0 },
        { "vsd_instance_network_receive_limit_bytes_per_second", "gauge", "The instance's cap on what it receives (absent: none).",
          W_NONZERO, get_rate_in, 0 },
        { "vsd_instance_network_transmit_limit_bytes_per_second", "gauge", "The instance's cap on what it sends (absent: none).",
          W_NONZERO, get_rate_out, 0 },
        { "vsd_instance_boot_priority", "gauge", "The instance's boot priority (higher starts first after a host boot).",
          W_ALL, get_boot_priority, 0 },
};

void metrics_escape(const char *s, char *buf, size_t len) {
        size_t k = 0;
        if (!len)
                return;
        for (; *s; s++) {
                const char *rep = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
                size_t n = rep ? 2 : 1;
                if (k + n >= len)
                        break;
                if (rep)
                        memcpy(buf + k, rep, 2);
                else
                        buf[k] = *s;
                k += n;
        }
        buf[k] = '\0';
}

static bool has_sample(const struct family *f, const struct metrics_inst *m) {
        bool up = (m->state == INST_RUNNING || m->state == INST_PAUSED) && m->stats;
        switch (f->when) {
        case W_ALL:
                return true;
        case W_STATS:
                return m->stats;
        case W_UP:
                return up;
        case W_LINK:
                return up && m->link;
        case W_NONZERO:
                return f->get(m) != 0;
        }
        return false;
}

/* The answer, built in one growing buffer with integers formatted by
 * hand: a thousand instances make about 45,000 lines (1.6 MB), rendered in
 * about 10 ms of CPU (tests/unit/test_metrics.c). */
struct out {
        char *p;
        size_t len, cap;
        bool oom;
};

static char *out_room(struct out *o, size_t n) {
        if (o->oom)
                return NULL;
        if (o->len + n + 1 > o->cap) {
                size_t cap = o->cap ? o->cap : 1 << 16;
                while (o->len + n + 1 > cap)
                        cap *= 2;
                char *p = realloc(o->p, cap);
                if (!p) {
                        o->oom = true;
                        return NULL;
                }
                o->p = p;
                o->cap = cap;
        }
        return o->p + o->len;
}

static void out_mem(struct out *o, const char *s, size_t n) {
        char *d = out_room(o, n);
        if (!d)
                return;
        memcpy(d, s, n);
        o->len += n;
        o->p[o->len] = '\0';
}

static void out_str(struct out *o, const char *s) {
        out_mem(o, s, strlen(s));
}

static void out_u64(struct out *o, uint64_t v) {
        char b[24], *e = b + sizeof(b), *p = e;
        do
                *--p = (char) ('0' + v % 10);
        while ((v /= 10));
        out_mem(o, p, (size_t) (e - p));
}

static void out_fmt(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(struct out *o, const char *fmt, ...) {
        char b[512];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b, sizeof(b), fmt, ap);
        va_end(ap);
        if (n > 0)
                out_mem(o, b, (size_t) n < sizeof(b) ? (size_t) n : sizeof(b) - 1);
}

/* A value as the format writes it: integers exactly, the rest with the
 * precision of a double. */
static void value(struct out *o, uint64_t v, double scale) {
        if (scale == 0)
                out_u64(o, v);
        else
                out_fmt(o, "%.9g", (double) v * scale);
        out_mem(o, "\n", 1);
}

static void header(struct out *o, const char *name, const char *type, const char *help) {
        out_fmt(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* NAME{instance="N"} or NAME{instance="N",...: the start of a sample */
static void sample_start(struct out *o, const char *name, const char *inst) {
        out_str(o, name);
        out_mem(o, "{instance=\"", 11);
        out_str(o, inst);
        out_mem(o, "\"", 1);
}

int metrics_render(const struct metrics_inst *m, size_t n, const struct metrics_host *h, char **ret, size_t *ret_len) {
        struct out o = { 0 };
        /* the escaped names, once */
        char (*names)[2 * VS_NAME_MAX + 8] = n ? calloc(n, sizeof(*names)) : NULL;
        if (n && !names)
                return -ENOMEM;
        for (size_t k = 0; k < n; k++)
                metrics_escape(m[k].name, names[k], sizeof(names[k]));

        header(&o, "vsd_build_info", "gauge", "The vsd that answers, by version.");
        out_fmt(&o, "vsd_build_info{version=\"%s\"} 1\n", VS_VERSION);

        /* the instances per state, every state named (0 too) */
        size_t per_state[ELEMENTSOF(all_states)] = { 0 };
        for (size_t k = 0; k < n; k++)
                for (size_t s = 0; s < ELEMENTSOF(all_states); s++)
                        if (m[k].state == all_states[s])
                                per_state[s]++;
        header(&o, "vsd_instances", "gauge", "Instances of this daemon, by state.");
        for (size_t s = 0; s < ELEMENTSOF(all_states); s++)
                out_fmt(&o, "vsd_instances{state=\"%s\"} %zu\n", inst_state_name(all_states[s]), per_state[s]);

        header(&o, "vsd_instance_state", "gauge", "1 for the state the instance is in, 0 for the others.");
        for (size_t k = 0; k < n; k++)
                for (size_t s = 0; s < ELEMENTSOF(all_states); s++) {
                        sample_start(&o, "vsd_instance_state", names[k]);
                        out_mem(&o, ",state=\"", 8);
                        out_str(&o, inst_state_name(all_states[s]));
                        out_str(&o, m[k].state == all_states[s] ? "\"} 1\n" : "\"} 0\n");
                }
        header(&o, "vsd_instance_info", "gauge", "The instance's template, storage backend, network mode and onboot, as labels.");
        for (size_t k = 0; k < n; k++) {
                char tmpl[2 * VS_NAME_MAX + 8];
                metrics_escape(m[k].template_name, tmpl, sizeof(tmpl));
                sample_start(&o, "vsd_instance_info", names[k]);
                out_fmt(&o, ",template=\"%s\",backend=\"%s\",net=\"%s\",onboot=\"%s\"} 1\n", tmpl,
                        stor_backend_name(stor_backend_of(m[k].backend)), inst_net_mode_name(inst_net_mode_of(m[k].net_mode)),
                        inst_onboot_name(m[k].onboot));
        }

        for (size_t f = 0; f < ELEMENTSOF(families); f++) {
                const struct family *fam = &families[f];
                bool any = false;
                for (size_t k = 0; k < n; k++) {
                        if (!has_sample(fam, &m[k]))
                                continue;
                        if (!any)
                                header(&o, fam->name, fam->type, fam->help);
                        any = true;
                        sample_start(&o, fam->name, names[k]);
                        out_mem(&o, "} ", 2);
                        value(&o, fam->get(&m[k]), fam->scale);
                }
        }
        free(names);

        if (h) {
                header(&o, "vsd_operations", "gauge", "Long operations the daemon knows (running and recently ended), by kind and state.");
                for (size_t k = 0; k < h->n_ops; k++)
                        out_fmt(&o, "vsd_operations{kind=\"%s\",state=\"%s\"} %" PRIu64 "\n", h->ops[k].kind,
                                h->ops[k].state, h->ops[k].count);
                header(&o, "vsd_events_total", "counter", "Events the daemon emitted since it started.");
                out_fmt(&o, "vsd_events_total %" PRIu64 "\n", h->events_total);
                header(&o, "vsd_metrics_collect_seconds", "gauge", "What reading the instances' figures for this answer took.");
                out_fmt(&o, "vsd_metrics_collect_seconds %.6f\n", h->collect_seconds);
                header(&o, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
                out_fmt(&o, "process_cpu_seconds_total %.2f\n", (double) h->cpu_ns / 1e9);
                header(&o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
                out_fmt(&o, "process_resident_memory_bytes %" PRIu64 "\n", h->rss_bytes);
                header(&o, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
                out_fmt(&o, "process_virtual_memory_bytes %" PRIu64 "\n", h->virtual_bytes);
                header(&o, "process_open_fds", "gauge", "Number of open file descriptors.");
                out_fmt(&o, "process_open_fds %" PRIu64 "\n", h->open_fds);
                header(&o, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
                out_fmt(&o, "process_start_time_seconds %" PRIu64 "\n", h->start_time);
        }
        if (o.oom || !out_room(&o, 0)) {
                free(o.p);
                return -ENOMEM;
        }
        *ret = o.p;
        *ret_len = o.len;
        return 0;
}

/* ---- gathering --------------------------------------------------------- */

/* The daemon's own figures, from /proc/self/stat (fields 14, 15, 22, 23,
 * 24) and the host's boot time. */
static void host_process(struct metrics_host *h) {
        _cleanup_free_ char *stat = NULL, *pstat = NULL;
        long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
        if (tick <= 0)
                tick = 100;
        if (vs_read_file("/proc/self/stat", 4096, &stat, NULL) >= 0) {
                /* after the command's closing parenthesis: field 3 on */
                const char *p = strrchr(stat, ')');
                unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
                long long rss = 0;
                if (p && sscanf(p + 2,
                                "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
                                &utime, &stime, &start, &vsize, &rss) == 5) {
                        h->cpu_ns = (utime + stime) * (1000000000ULL / (unsigned long long) tick);
                        h->virtual_bytes = vsize;
                        h->rss_bytes = rss > 0 ? (uint64_t) rss * (uint64_t) page : 0;
                        if (vs_read_file("/proc/stat", 1 << 16, &pstat, NULL) >= 0) {
                                const char *b = strstr(pstat, "\nbtime ");
                                if (b)
                                        h->start_time = strtoull(b + 7, NULL, 10) + start / (unsigned long long) tick;
                        }
                }
        }
        DIR *d = opendir("/proc/self/fd");
        if (d) {
                struct dirent *de;
                while ((de = readdir(d)))
                        if (de->d_name[0] != '.')
                                h->open_fds++;
                closedir(d);
                if (h->open_fds)
                        h->open_fds--; /* the directory's own */
        }
}

static void host_ops(struct vsd *v, struct metrics_host *h) {
        json_t *all = ops_json(v), *o;
        size_t i;
        json_array_foreach(all, i, o) {
                const char *kind = json_string_value(json_object_get(o, "kind"));
                const char *state = json_string_value(json_object_get(o, "state"));
                if (!kind || !state)
                        continue;
                size_t k = 0;
                while (k < h->n_ops && !(streq(h->ops[k].kind, kind) && streq(h->ops[k].state, state)))
                        k++;
                if (k == h->n_ops) {
                        if (k == ELEMENTSOF(h->ops))
                                continue;
                        snprintf(h->ops[k].kind, sizeof(h->ops[k].kind), "%s", kind);
                        /* the state's name outlives the JSON: one of ops.c's */
                        h->ops[k].state = streq(state, "running")   ? "running" :
                                          streq(state, "succeeded") ? "succeeded" :
                                          streq(state, "failed")    ? "failed" :
                                                                      "cancelled";
                        h->ops[k].count = 0;
                        h->n_ops++;
                }
                h->ops[k].count++;
        }
        json_decref(all);
}

struct metrics_job {
        struct vsd *vsd;
        metrics_done_fn done;
        void *userdata;
        char (*names)[VS_NAME_MAX + 1]; /* the instances when it began */
        struct metrics_inst *m;
        size_t n, next, kept;
        struct loop_source *timer;
        double collect_s;
};

static void job_free(struct metrics_job *j) {
        loop_remove(j->timer);
        free(j->names);
        free(j->m);
        free(j);
}

void metrics_job_cancel(struct metrics_job *j) {
        if (j)
                job_free(j);
}

static void fill(struct metrics_inst *m, struct instance *i) {
        const struct inst_config *c = &i->cfg;
        *m = (struct metrics_inst){ .state = i->state,
                                    .started_at = inst_is_up(i) ? i->started_at : 0,
                                    .memory = c->memory,
                                    .memory_soft = c->memory_soft,
                                    .swap = c->swap,
                                    .pids = c->pids,
                                    .disk = c->storage.disk,
                                    .rate_in = c->net.rate_in,
                                    .rate_out = c->net.rate_out,
                                    .cpu_millis = c->cpu_millis,
                                    .cpu_weight = c->cpu_weight,
                                    .boot_priority = c->boot.priority,
                                    .backend = c->storage.backend,
                                    .net_mode = c->net.mode,
                                    .onboot = c->boot.onboot };
        snprintf(m->name, sizeof(m->name), "%s", c->name);
        snprintf(m->template_name, sizeof(m->template_name), "%s", c->template_name);
        /* a broken one has no figures; a cgroup that cannot be read leaves
         * the instance without them, the others keep theirs */
        if (i->state != INST_BROKEN && inst_stats(i, &m->st, NULL) >= 0) {
                m->stats = true;
                m->link = inst_is_up(i) && inst_net_mode_of(c->net.mode) != NET_MODE_NONE;
        }
}

static void job_step(struct loop_source *s, void *userdata) {
        struct metrics_job *j = userdata;
        struct vsd *v = j->vsd;
        j->timer = NULL;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (size_t k = 0; k < METRICS_CHUNK && j->next < j->n; k++, j->next++) {
                /* destroyed since the request came: left out */
                struct instance *i = inst_find(v, j->names[j->next]);
                if (i)
                        fill(&j->m[j->kept++], i);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        j->collect_s += (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        int r = 0;
        if (j->next < j->n) {
                /* the rest after whatever else the loop has to do */
                r = loop_add_timer(v->loop, 0, job_step, j, &j->timer);
                if (r >= 0)
                        return;
        }
        char *text = NULL;
        size_t len = 0;
        if (r >= 0) {
                struct metrics_host h = { .events_total = ev_next_seq(v->events) - 1, .collect_seconds = j->collect_s };
                host_process(&h);
                host_ops(v, &h);
                r = metrics_render(j->m, j->kept, &h, &text, &len);
        }
        metrics_done_fn done = j->done;
        void *ud = j->userdata;
        job_free(j);
        done(ud, r, text, len);
}

int metrics_job_begin(struct vsd *v, metrics_done_fn done, void *userdata, struct metrics_job **ret) {
        struct metrics_job *j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        *j = (struct metrics_job){ .vsd = v, .done = done, .userdata = userdata, .n = v->n_inst };
        if (j->n) {
                j->names = calloc(j->n, sizeof(*j->names));
                j->m = calloc(j->n, sizeof(*j->m));
                if (!j->names || !j->m) {
                        job_free(j);
                        return -ENOMEM;
                }
        }
        for (size_t k = 0; k < j->n; k++)
                snprintf(j->names[k], sizeof(j->names[k]), "%s", v->inst[k]->cfg.name);
        int r = loop_add_timer(v->loop, 0, job_step, j, &j->timer);
        if (r < 0) {
                job_free(j);
                return r;
        }
        *ret = j;
        return 0;
}

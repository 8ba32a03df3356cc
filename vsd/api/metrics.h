/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * GET /metrics: what the instances use and what the daemon does, in
 * Prometheus's text exposition format (version 0.0.4), from the same
 * figures as GET /v1/stats (inst_stats()).  Served on the API socket, and
 * on the TCP listener of [metrics] listen, which serves nothing else.
 *
 * Gathering (the kernel's counters, per instance) and rendering (text) are
 * apart, so that the rendering can be tested and timed on made-up figures.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vsd/inst/instance.h"

/* One instance, as the rendering sees it: copies, since the gathering
 * spans several turns of the loop and an instance may go meanwhile. */
struct metrics_inst {
        char name[VS_NAME_MAX + 1];
        char template_name[VS_NAME_MAX + 1];
        enum inst_state state;
        int64_t started_at;      /* unix seconds; 0 when not up */
        bool stats;              /* st holds its figures (it could be read) */
        bool link;               /* st.net holds its link's counters */
        struct inst_stats st;
        /* its settings that are limits (0: none) */
        uint64_t memory, memory_soft, swap, pids, disk, rate_in, rate_out;
        uint32_t cpu_millis, cpu_weight, boot_priority;
        int backend, net_mode, onboot;
};

/* The daemon itself and what it does. */
struct metrics_host {
        uint64_t rss_bytes, open_fds, cpu_ns, start_time, virtual_bytes;
        uint64_t events_total;   /* events emitted since the daemon started */
        /* operations by kind and state, "kind state" -> count */
        size_t n_ops;
        struct {
                char kind[24];
                const char *state;
                uint64_t count;
        } ops[32];
        double collect_seconds;  /* what gathering the instances' figures took */
};

/* The text of n instances and the host, malloc'd (NUL-terminated, len
 * without it).  -ENOMEM. */
int metrics_render(const struct metrics_inst *m, size_t n, const struct metrics_host *h, char **ret, size_t *ret_len);

/* "a\"b" -> "a\\\"b": a label value as the text format escapes it
 * (backslash, double quote, newline), into buf (always terminated; cut
 * short when it does not fit). */
void metrics_escape(const char *s, char *buf, size_t len);

/* Everything the daemon knows, rendered: the figures of every instance
 * read from the kernel METRICS_CHUNK instances per turn of the loop, so
 * that a thousand instances never hold it for long; done() gets the text
 * (malloc'd, taken) or r < 0, from the loop, never from inside begin. */
#define METRICS_CHUNK 50
struct vsd;
struct metrics_job;
typedef void (*metrics_done_fn)(void *userdata, int r, char *text, size_t len);
int metrics_job_begin(struct vsd *v, metrics_done_fn done, void *userdata, struct metrics_job **ret);
/* Drop a job that has not called done() (its client left, the daemon
 * stops): done() is never called. */
void metrics_job_cancel(struct metrics_job *j);

/* The content type of the answer. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

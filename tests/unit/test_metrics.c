/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GET /metrics's rendering (vsd/api/metrics.c) on made-up figures: the
 * text format's rules (a family's samples together, HELP and TYPE once
 * before them, label values escaped), what is left out (usage of a stopped
 * instance, a limit that is not set), and how long 1000 instances take.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vsd/api/metrics.h"
#include "tests/unit/check.h"

static void escape(void) {
        char buf[64];
        metrics_escape("a\"b\\c\nd", buf, sizeof(buf));
        CHECK("escape: quote, backslash, newline", strcmp(buf, "a\\\"b\\\\c\\nd") == 0, "got %s", buf);
        metrics_escape("abc\"\"", buf, 5);
        CHECK("escape: cut short, never half an escape", strcmp(buf, "abc") == 0, "got %s", buf);
}

/* n instances, every third stopped, one broken */
static struct metrics_inst *fake(size_t n) {
        struct metrics_inst *m = calloc(n, sizeof(*m));
        for (size_t k = 0; m && k < n; k++) {
                bool up = k % 3 != 0;
                m[k] = (struct metrics_inst){ .state = k == 1 ? INST_BROKEN : up ? INST_RUNNING : INST_STOPPED,
                                              .started_at = up ? 1700000000 + (int64_t) k : 0,
                                              .stats = k != 1,
                                              .link = up,
                                              .memory = 512ULL << 20,
                                              .pids = k % 2 ? 1024 : 0,
                                              .net_mode = NET_MODE_BRIDGE };
                snprintf(m[k].name, sizeof(m[k].name), "web-%05zu", k);
                snprintf(m[k].template_name, sizeof(m[k].template_name), "busybox");
                m[k].st.cg = (struct cg_stats){ .memory_current = 1000000 + k, .cpu_usage_ns = 1500000000ULL * k,
                                                .pids_current = 3, .oom_kills = k % 7 == 0 };
                m[k].st.net.rx_bytes = 100 * k;
                m[k].st.disk = (struct stor_usage){ .bytes_used = 4096 * k, .bytes_limit = 10ULL << 30,
                                                    .attached = up, .host_bytes = 1 << 20 };
        }
        return m;
}

static const char *line_of(const char *text, const char *prefix) {
        size_t n = strlen(prefix);
        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, prefix, n) == 0)
                        return p;
        return NULL;
}

static void render(void) {
        enum { N = 1000 };
        struct metrics_inst *m = fake(N);
        struct metrics_host h = { .rss_bytes = 1 << 24, .events_total = 5 };
        char *text = NULL;
        size_t len = 0;
        /* CPU time, not wall time: the machines that run the tests are
         * shared, and a busy one stretches the wall time tenfold */
        struct timespec t0, t1, w0, w1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        clock_gettime(CLOCK_MONOTONIC, &w0);
        int r = metrics_render(m, N, &h, &text, &len);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        clock_gettime(CLOCK_MONOTONIC, &w1);
        double ms = (double) (t1.tv_sec - t0.tv_sec) * 1e3 + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6;
        double wall = (double) (w1.tv_sec - w0.tv_sec) * 1e3 + (double) (w1.tv_nsec - w0.tv_nsec) / 1e6;
        CHECK("render 1000 instances", r == 0 && text && len == strlen(text), "r=%d", r);
        if (r < 0)
                return;
        printf("# rendering 1000 instances: %.1f ms of CPU (%.1f ms wall), %zu bytes\n", ms, wall, len);
        /* a generous bound: this machine renders it in about 10 ms */
        CHECK("render 1000 instances within 100 ms of CPU", ms < 100, "%.1f ms", ms);
        CHECK("cpu seconds: a counter with HELP and TYPE",
              line_of(text, "# TYPE vsd_instance_cpu_seconds_total counter\n") &&
                      line_of(text, "# HELP vsd_instance_cpu_seconds_total "),
              "missing");
        CHECK("cpu seconds in seconds", line_of(text, "vsd_instance_cpu_seconds_total{instance=\"web-00002\"} 3\n"),
              "missing");
        CHECK("a stopped instance has no usage", !line_of(text, "vsd_instance_memory_bytes{instance=\"web-00003\"}"),
              "present");
        CHECK("a stopped instance has its limits", line_of(text, "vsd_instance_memory_limit_bytes{instance=\"web-00003\"} 536870912\n"),
              "missing");
        CHECK("an unset limit is absent", !line_of(text, "vsd_instance_pids_limit{instance=\"web-00002\"}"), "present");
        CHECK("a broken instance has a state and no figures",
              line_of(text, "vsd_instance_state{instance=\"web-00001\",state=\"broken\"} 1\n") &&
                      !line_of(text, "vsd_instance_disk_host_bytes{instance=\"web-00001\"}"),
              "wrong");
        CHECK("instances per state", line_of(text, "vsd_instances{state=\"stopped\"} 334\n"), "missing");
        /* every family's samples follow its TYPE line, and no family is
         * declared twice */
        char seen[128][96];
        size_t n_seen = 0;
        bool ok = true;
        char cur[96] = "";
        for (char *p = text; *p;) {
                char *nl = strchr(p, '\n');
                size_t l = nl ? (size_t) (nl - p) : strlen(p);
                char line[512];
                snprintf(line, sizeof(line), "%.*s", (int) (l < sizeof(line) ? l : sizeof(line) - 1), p);
                if (strncmp(line, "# TYPE ", 7) == 0) {
                        sscanf(line + 7, "%95s", cur);
                        for (size_t k = 0; k < n_seen; k++)
                                if (strcmp(seen[k], cur) == 0)
                                        ok = false;
                        if (n_seen < 128)
                                snprintf(seen[n_seen++], sizeof(seen[0]), "%s", cur);
                } else if (line[0] != '#') {
                        size_t cl = strlen(cur);
                        if (!cl || strncmp(line, cur, cl) != 0 || (line[cl] != '{' && line[cl] != ' '))
                                ok = false;
                }
                p = nl ? nl + 1 : p + l;
        }
        CHECK("every sample under its family's TYPE, each family once", ok, "line out of its family");
        free(text);
        free(m);
}

int main(void) {
        escape();
        render();
        return CHECK_DONE();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/netw/fwguard.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "net/fwwatch.h"
#include "vsd/core/daemon.h"
#include "vsd/core/health.h"
#include "vsd/core/events.h"
#include "vsd/core/loop.h"

/* How long after the first message of a change the restore runs: a reload
 * is many messages, often several transactions in a row (a flush, then
 * the host's own tables), and the restore should follow the last of them,
 * not interleave. */
#define RESTORE_DELAY_MS 100

/* A restore this soon after the previous one is a repeat: another process
 * fighting over the tables (a firewall manager that "corrects" every table
 * it did not make).  Each repeat doubles the delay, up to the cap, so that
 * neither side spins. */
#define REPEAT_WINDOW_MS 5000
#define RESTORE_MAX_DELAY_MS 10000

struct fw_guard {
        struct vsd *v;
        fwg_rebuild_fn rebuild; /* puts back the tables with every instance's elements */
        void *userdata;
        char table[32];
        struct fw_watch *watch;       /* NULL: not watching (said once at start) */
        struct loop_source *src;
        struct loop_source *timer;    /* the restore that is due */
        bool due;
        struct fw_change seen;        /* what was seen since the last restore */
        uint64_t last_ms;             /* when the last restore ran (0: never) */
        unsigned repeats;
};

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* What the log and the event say happened. */
static void describe(const struct fw_guard *g, const char *reason, char *buf, size_t len) {
        const struct fw_change *c = &g->seen;
        char who[64] = "another process";
        if (c->pid && c->command[0])
                snprintf(who, sizeof(who), "%s (pid %u)", c->command, c->pid);
        else if (c->pid)
                snprintf(who, sizeof(who), "pid %u", c->pid);
        if (streq(reason, "missing"))
                snprintf(buf, len, "they were found missing");
        else if (streq(reason, "events-lost"))
                snprintf(buf, len, "nftables notifications were lost and they were not in place");
        else
                snprintf(buf, len, "%s %s them", who, c->deleted ? "deleted" : "changed");
}

static void schedule(struct fw_guard *g);

static int restore(struct fw_guard *g, const char *reason, vs_error *err) {
        loop_remove(g->timer);
        g->timer = NULL;
        size_t ports = 0, forwards = 0;
        uint64_t now = now_ms();
        g->repeats = g->last_ms && now - g->last_ms < REPEAT_WINDOW_MS ? g->repeats + 1 : 0;
        g->last_ms = now;
        char why[128];
        describe(g, reason, why, sizeof(why));
        int r = g->rebuild(g->userdata, &ports, &forwards, err);
        if (r < 0) {
                log_err("Failed to restore the firewall tables '%s' after %s: %s", g->table, why, err->msg);
                /* tried again later, spaced out like a repeat */
                g->due = true;
                schedule(g);
                return r;
        }
        log_info("Firewall tables '%s' restored after %s: %zu port%s, %zu forward%s", g->table, why, ports,
                 ports == 1 ? "" : "s", forwards, forwards == 1 ? "" : "s");
        if (g->repeats == 3)
                log_warn("Another process keeps changing the firewall tables '%s': restores are spaced out to up to "
                         "%d s",
                         g->table, RESTORE_MAX_DELAY_MS / 1000);
        json_t *d = json_pack("{s:s, s:s, s:b, s:I, s:I}", "table", g->table, "reason", reason, "deleted",
                              g->seen.deleted, "ports", (json_int_t) ports, "forwards", (json_int_t) forwards);
        if (d && g->seen.pid && !streq(reason, "missing"))
                json_object_set_new(d, "pid", json_integer(g->seen.pid));
        if (d && g->seen.command[0] && !streq(reason, "missing"))
                json_object_set_new(d, "command", json_string(g->seen.command));
        ev_emit(g->v->events, "", "firewall-restored", d);
        g->due = false;
        g->seen = (struct fw_change){ 0 };
        return 0;
}

static void on_timer(struct loop_source *s, void *userdata) {
        struct fw_guard *g = userdata;
        g->timer = NULL;
        vs_error err = { 0 };
        if (g->due)
                (void) restore(g, g->seen.objects ? "changed" : "events-lost", &err);
}

static void schedule(struct fw_guard *g) {
        if (g->timer)
                return;
        uint64_t delay = RESTORE_DELAY_MS;
        if (g->last_ms && now_ms() - g->last_ms < REPEAT_WINDOW_MS)
                for (unsigned k = 0; k < g->repeats + 1 && delay < RESTORE_MAX_DELAY_MS; k++)
                        delay *= 2;
        if (delay > RESTORE_MAX_DELAY_MS)
                delay = RESTORE_MAX_DELAY_MS;
        int r = loop_add_timer(g->v->loop, delay, on_timer, g, &g->timer);
        if (r < 0) {
                /* no timer: the next start restores (fwg_ensure) */
                log_warn("Failed to schedule a restore of the firewall tables '%s': %s, ignoring", g->table,
                         strerror(-r));
                g->timer = NULL;
        }
}

static int on_readable(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct fw_guard *g = userdata;
        struct fw_change c;
        int r = fw_watch_read(g->watch, (uint32_t) getpid(), &c);
        if (r < 0) {
                vs_error why = { 0 };
                vs_err(&why, -r, "Failed to read nftables notifications");
                health_degraded(g->v, "firewall-watch",
                                "a host firewall reload that deletes vsd's tables is repaired only at the next start",
                                &why);
                g->src = NULL; /* the loop removes it */
                return -1;
        }
        if (r == 0)
                return 0;
        if (c.lost && c.objects == 0) {
                /* whatever was lost, the tables themselves are there: an
                 * element deleted in that moment goes unnoticed, the
                 * price of not answering every overflow (a restore's own
                 * messages can fill the buffer) with another restore */
                int p = fw_tables_present(g->table);
                if (p != 0) {
                        log_warn("Failed to read every nftables notification (the buffer was full); the firewall "
                                 "tables '%s' are %s, ignoring",
                                 g->table, p > 0 ? "in place" : "not checked");
                        return 0;
                }
        }
        g->seen.objects += c.objects;
        g->seen.deleted |= c.deleted;
        g->seen.lost |= c.lost;
        if (c.pid) {
                g->seen.pid = c.pid;
                snprintf(g->seen.command, sizeof(g->seen.command), "%s", c.command);
        }
        g->due = true;
        schedule(g);
        return 0;
}

int fwg_new(struct vsd *v, const char *table, fwg_rebuild_fn rebuild, void *userdata, struct fw_guard **ret) {
        struct fw_guard *g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        g->v = v;
        g->rebuild = rebuild;
        g->userdata = userdata;
        snprintf(g->table, sizeof(g->table), "%s", table);
        vs_error err = { 0 };
        int r = fw_watch_open(table, &g->watch, &err);
        if (r >= 0) {
                r = loop_add_fd(v->loop, fw_watch_fd(g->watch), EPOLLIN, on_readable, g, &g->src);
                if (r < 0)
                        vs_err(&err, -r, "Failed to watch the firewall");
        }
        if (r < 0) {
                health_degraded(v, "firewall-watch",
                                "a host firewall reload that deletes vsd's tables is repaired only at the next start",
                                &err);
                fw_watch_close(g->watch);
                g->watch = NULL;
        }
        *ret = g;
        return 0;
}

void fwg_free(struct fw_guard *g) {
        if (!g)
                return;
        loop_remove(g->timer);
        loop_remove(g->src);
        fw_watch_close(g->watch);
        free(g);
}

int fwg_ensure(struct fw_guard *g, vs_error *err) {
        if (!g || !g->due)
                return 0;
        return restore(g, g->seen.objects ? "changed" : "events-lost", err);
}

int fwg_restore_missing(struct fw_guard *g, vs_error *err) {
        if (!g)
                return vs_err_msg(err, EOPNOTSUPP, "Failed to restore the firewall tables: no firewall");
        return restore(g, "missing", err);
}

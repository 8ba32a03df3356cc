/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Back after a reboot (boot.h): which instances should run, in which
 * order, started in steps of the loop.
 */
#include "vsd/inst/boot.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fileio.h"
#include "base/log.h"
#include "base/util.h"
#include "vsd/core/events.h"
#include "vsd/core/loop.h"
#include "vsd/core/ops.h"
#include "vsd/inst/instance.h"

struct boot_cand {
        char name[VS_NAME_MAX + 1];
        uint32_t priority;
        bool prefetched; /* its disk prepared ahead (inst_prefetch) */
};

struct boot {
        struct vsd *vsd;
        char id[64]; /* this boot's, written to <run_dir>/boot at the end */
        struct boot_cand *cand;
        size_t n, next;
        unsigned started, failed;
        bool cancelled;
        struct op *op;
        struct loop_source *timer;
        struct timespec t0;
};

static void boot_file(struct vsd *v, char *buf, size_t len) {
        snprintf(buf, len, "%s/boot", v->set.run_dir);
}

/* The kernel's id of this boot; "" when it will not say (then every
 * daemon start without the file counts as a boot, as after a reboot). */
static void boot_id(char *buf, size_t len) {
        if (vs_read_line("/proc/sys/kernel/random/boot_id", buf, len) < 0)
                buf[0] = '\0';
}

bool boot_is_new(struct vsd *v) {
        char path[512], id[64], seen[64];
        boot_file(v, path, sizeof(path));
        boot_id(id, sizeof(id));
        if (vs_read_line(path, seen, sizeof(seen)) < 0)
                return true;
        return !streq(seen, id);
}

/* Should it be started now that the host is up? */
static bool wants_start(const struct instance *i) {
        if (i->state != INST_STOPPED)
                return false; /* running (re-adopted), broken, or on its way */
        switch (i->cfg.boot.onboot) {
        case ONBOOT_YES:
                return true;
        case ONBOOT_NO:
                return false;
        default:
                return inst_was_running(i);
        }
}

/* Higher priority first; equal ones by name, so that the order is one
 * the operator can predict. */
static int cand_cmp(const void *a, const void *b) {
        const struct boot_cand *x = a, *y = b;
        if (x->priority != y->priority)
                return x->priority > y->priority ? -1 : 1;
        return strcmp(x->name, y->name);
}

static double elapsed_s(const struct boot *b) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (double) (now.tv_sec - b->t0.tv_sec) + (double) (now.tv_nsec - b->t0.tv_nsec) / 1e9;
}

/* The disks of the next starts are prepared while the ones before them
 * start: binding an image and reading its metadata is waiting on the
 * disk, which the loop otherwise did start after start (with a thousand
 * instances, half the boot).  Two steps ahead: the reads of the next step
 * run during this one's starts. */
static void boot_prefetch(struct boot *b) {
        size_t end = b->next + 2 * (size_t) b->vsd->set.boot.parallel;
        for (size_t k = b->next; k < b->n && k < end; k++) {
                struct boot_cand *c = &b->cand[k];
                struct instance *i = c->prefetched ? NULL : inst_find(b->vsd, c->name);
                if (i && wants_start(i)) {
                        inst_prefetch(i, true);
                        c->prefetched = true;
                }
        }
}

/* What was prepared for starts that will not come. */
static void boot_prefetch_drop(struct boot *b, size_t k) {
        struct instance *i = b->cand[k].prefetched ? inst_find(b->vsd, b->cand[k].name) : NULL;
        if (i)
                inst_prefetch(i, false);
        b->cand[k].prefetched = false;
}

/* The boot is over (done, cancelled, or the daemon exits: result < 0).
 * Only a boot that was not cut short by the daemon's exit is recorded. */
static void boot_end(struct boot *b, int result, const vs_error *err) {
        struct vsd *v = b->vsd;
        loop_remove(b->timer);
        b->timer = NULL;
        for (size_t k = b->next; k < b->n; k++)
                boot_prefetch_drop(b, k);
        if (result != -ESHUTDOWN) {
                char path[512];
                boot_file(v, path, sizeof(path));
                int r = vs_write_replace(path, b->id, strlen(b->id), 0644);
                if (r < 0)
                        log_warn("Failed to write %s: %s, ignoring: the next daemon start starts the instances again",
                                 path, strerror(-r));
        }
        double s = elapsed_s(b);
        log_info("Boot: %u of %zu instances started, %u failed, in %.1f s%s", b->started, b->n, b->failed, s,
                 result == -ESHUTDOWN ? " (the daemon is exiting: the next one carries on)" :
                 result < 0          ? " (cancelled)" :
                                       "");
        ev_emit(v->events, "", "boot-finished",
                json_pack("{s:i, s:i, s:i, s:f, s:b}", "started", (int) b->started, "failed", (int) b->failed, "total",
                          (int) b->n, "seconds", s, "complete", result >= 0));
        if (b->op) {
                vs_error e = { 0 };
                if (result < 0 && !err)
                        vs_err_msg(&e, -result, result == -ESHUTDOWN ? "vsd is shutting down" : "cancelled");
                op_finish(b->op, result == -ESHUTDOWN ? -ECANCELED : result, err ? err : &e);
        }
        free(b->cand);
        v->boot = NULL;
        free(b);
}

static void boot_step(struct loop_source *s, void *userdata);

/* Start the next [boot] parallel instances of one priority, then give the
 * loop back (requests are served between steps) until the next step: at
 * once, or after the longest boot_delay of those just started. */
static void boot_step(struct loop_source *s, void *userdata) {
        struct boot *b = userdata;
        struct vsd *v = b->vsd;
        b->timer = NULL;
        if (b->cancelled) {
                boot_end(b, -ECANCELED, NULL);
                return;
        }
        uint64_t delay = 0;
        size_t k = 0;
        uint32_t prio = b->next < b->n ? b->cand[b->next].priority : 0;
        boot_prefetch(b);
        for (; b->next < b->n && k < v->set.boot.parallel && b->cand[b->next].priority == prio; b->next++) {
                const char *name = b->cand[b->next].name;
                struct instance *i = inst_find(v, name);
                /* destroyed, started, or set to onboot no meanwhile */
                if (!i || !wants_start(i)) {
                        boot_prefetch_drop(b, b->next);
                        b->n--;
                        memmove(&b->cand[b->next], &b->cand[b->next + 1], (b->n - b->next) * sizeof(*b->cand));
                        b->next--;
                        continue;
                }
                k++;
                vs_error err = { 0 };
                int r = inst_start(i, &err);
                /* taken by the start's attach; not when it failed before */
                boot_prefetch_drop(b, b->next);
                if (r < 0) {
                        b->failed++;
                        log_warn("Boot: %s, ignoring", err.msg);
                        inst_emit(i, "start-failed", json_pack("{s:s, s:s}", "during", "boot", "error", err.msg));
                } else {
                        b->started++;
                        log_info("Boot: started %s (%u of %zu, priority %u)", name, b->started + b->failed, b->n,
                                 (unsigned) prio);
                        if (i->cfg.boot.delay_ms > delay)
                                delay = i->cfg.boot.delay_ms;
                }
        }
        struct vs_progress *p = b->op ? op_progress(b->op) : NULL;
        vs_progress_total(p, b->n);
        vs_progress_done(p, b->started + b->failed);
        if (b->next >= b->n) {
                boot_end(b, 0, NULL);
                return;
        }
        if (loop_add_timer(v->loop, delay, boot_step, b, &b->timer) < 0) {
                vs_error err = { 0 };
                vs_err_msg(&err, ENOMEM, "Failed to go on with the boot: no timer");
                log_err("%s", err.msg);
                boot_end(b, -ENOMEM, &err);
        }
}

/* Ends at the next step, soon: the operation must not end inside its own
 * cancel. */
static int boot_cancel(void *userdata, vs_error *err) {
        struct boot *b = userdata;
        b->cancelled = true;
        loop_remove(b->timer);
        b->timer = NULL;
        int r = loop_add_timer(b->vsd->loop, 0, boot_step, b, &b->timer);
        if (r < 0)
                return vs_err(err, -r, "Failed to cancel the boot");
        return 0;
}

int boot_begin(struct vsd *v, vs_error *err) {
        if (!boot_is_new(v))
                return 0;
        struct boot *b = calloc(1, sizeof(*b));
        if (!b)
                return vs_err(err, ENOMEM, "Failed to start the boot");
        b->vsd = v;
        clock_gettime(CLOCK_MONOTONIC, &b->t0);
        boot_id(b->id, sizeof(b->id));
        b->cand = calloc(v->n_inst ? v->n_inst : 1, sizeof(*b->cand));
        if (!b->cand) {
                free(b);
                return vs_err(err, ENOMEM, "Failed to start the boot");
        }
        unsigned running = 0;
        for (size_t k = 0; k < v->n_inst; k++) {
                struct instance *i = v->inst[k];
                if (inst_is_active(i))
                        running++;
                if (!wants_start(i))
                        continue;
                struct boot_cand *c = &b->cand[b->n++];
                snprintf(c->name, sizeof(c->name), "%s", i->cfg.name);
                c->priority = i->cfg.boot.priority;
        }
        qsort(b->cand, b->n, sizeof(*b->cand), cand_cmp);
        v->boot = b;
        log_info("Boot: the host has started; %zu instances to start, %u %s already, %u at a time", b->n, running,
                 running == 1 ? "runs" : "run", (unsigned) v->set.boot.parallel);
        ev_emit(v->events, "", "boot-started", json_pack("{s:i, s:i}", "total", (int) b->n, "running", (int) running));
        if (b->n == 0) {
                boot_end(b, 0, NULL);
                return 0;
        }
        vs_error e = { 0 };
        if (op_begin(v, "boot", "instances", NULL, &b->op, &e) < 0)
                log_warn("Failed to show the boot as an operation: %s, ignoring", e.msg);
        else {
                op_set_cancel(b->op, boot_cancel, b);
                vs_progress_total(op_progress(b->op), b->n);
        }
        /* the first step after the loop's first turn: the API answers from
         * the start */
        int r = loop_add_timer(v->loop, 0, boot_step, b, &b->timer);
        if (r < 0) {
                vs_err(err, -r, "Failed to start the boot");
                boot_end(b, r, err);
                return r;
        }
        return 0;
}

void boot_free(struct vsd *v) {
        if (v->boot)
                boot_end(v->boot, -ESHUTDOWN, NULL);
}

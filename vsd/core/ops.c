/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/core/ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/log.h"
#include "base/util.h"
#include "vsd/core/daemon.h"
#include "vsd/core/loop.h"

/* How often a running operation with listeners looks at its progress. */
#define OP_TICK_MS 250

struct op {
        struct vsd *vsd;
        struct op *next; /* vsd->ops, oldest first */
        unsigned refs;   /* the list's, and one per listener */
        bool listed;
        char id[OP_ID_LEN + 1];
        char kind[24];
        char target[VS_NAME_MAX + 1];
        char object[VS_NAME_MAX + 1];
        enum op_state state;
        bool cancelling;
        struct vs_progress *progress;
        uint64_t seen_done, seen_total;
        uint32_t seen_phase;
        time_t created, ended;
        vs_error result;
        op_cancel_fn cancel;
        void *cancel_data;
        struct op_listener *listeners;
        struct loop_source *tick;
        json_t *details; /* what the work measured, for its client ({"downtime_ms"}) */
};

static const char *const state_names[] = {
        [OP_RUNNING] = "running",
        [OP_SUCCEEDED] = "succeeded",
        [OP_FAILED] = "failed",
        [OP_CANCELLED] = "cancelled",
};

static void op_unref(struct op *op) {
        if (--op->refs > 0)
                return;
        loop_remove(op->tick);
        vs_progress_free(op->progress);
        json_decref(op->details);
        free(op);
}

static void unlist(struct op *op) {
        for (struct op **p = &op->vsd->ops; *p; p = &(*p)->next)
                if (*p == op) {
                        *p = op->next;
                        op->next = NULL;
                        op->listed = false;
                        op_unref(op);
                        return;
                }
}

/* Keep the last OPS_KEEP ended operations; running ones always stay. */
static void prune(struct vsd *v) {
        size_t ended = 0;
        for (struct op *o = v->ops; o; o = o->next)
                if (o->state != OP_RUNNING)
                        ended++;
        for (struct op *o = v->ops, *next; o && ended > OPS_KEEP; o = next) {
                next = o->next;
                if (o->state != OP_RUNNING) {
                        unlist(o);
                        ended--;
                }
        }
}

static void wake_all(struct op *op) {
        for (struct op_listener *l = op->listeners, *next; l; l = next) {
                next = l->next;
                l->wake(l);
        }
}

static void on_tick(struct loop_source *s, void *userdata);

static void arm_tick(struct op *op) {
        if (op->tick || op->state != OP_RUNNING || !op->listeners || !op->progress)
                return;
        if (loop_add_timer(op->vsd->loop, OP_TICK_MS, on_tick, op, &op->tick) < 0)
                op->tick = NULL; /* progress shows at the end only */
}

static void on_tick(struct loop_source *s, void *userdata) {
        struct op *op = userdata;
        op->tick = NULL;
        uint64_t done = atomic_load(&op->progress->done), total = atomic_load(&op->progress->total);
        uint32_t phase = atomic_load(&op->progress->phase);
        if (done != op->seen_done || total != op->seen_total || phase != op->seen_phase) {
                op->seen_done = done;
                op->seen_total = total;
                op->seen_phase = phase;
                wake_all(op);
        }
        arm_tick(op);
}

int op_begin(struct vsd *v, const char *kind, const char *target, const char *object, struct op **ret, vs_error *err) {
        struct op *op = calloc(1, sizeof(*op));
        if (!op)
                return vs_err(err, ENOMEM, "start an operation");
        uint8_t rnd[OP_ID_LEN / 2];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd)) {
                free(op);
                return vs_err(err, EIO, "make an operation id");
        }
        for (size_t k = 0; k < sizeof(rnd); k++)
                snprintf(op->id + 2 * k, 3, "%02x", rnd[k]);
        op->vsd = v;
        op->refs = 1;
        op->listed = true;
        snprintf(op->kind, sizeof(op->kind), "%s", kind);
        snprintf(op->target, sizeof(op->target), "%s", target);
        snprintf(op->object, sizeof(op->object), "%s", object ? object : "");
        op->state = OP_RUNNING;
        op->created = time(NULL);
        op->progress = vs_progress_new();
        /* appended: the list is oldest first */
        struct op **p = &v->ops;
        while (*p)
                p = &(*p)->next;
        *p = op;
        *ret = op;
        return 0;
}

struct vs_progress *op_progress(struct op *op) {
        return op->progress;
}

void op_set_cancel(struct op *op, op_cancel_fn fn, void *userdata) {
        op->cancel = fn;
        op->cancel_data = userdata;
}

void op_set_detail(struct op *op, const char *key, int64_t value) {
        if (!op->details)
                op->details = json_object();
        if (op->details)
                json_object_set_new(op->details, key, json_integer((json_int_t) value));
}

void op_set_detail_str(struct op *op, const char *key, const char *value) {
        if (!op->details)
                op->details = json_object();
        if (op->details)
                json_object_set_new(op->details, key, json_string(value));
}

void op_set_detail_bool(struct op *op, const char *key, bool value) {
        if (!op->details)
                op->details = json_object();
        if (op->details)
                json_object_set_new(op->details, key, json_boolean(value));
}

void op_set_object(struct op *op, const char *object) {
        snprintf(op->object, sizeof(op->object), "%s", object ? object : "");
        wake_all(op);
}

void op_finish(struct op *op, int result, const vs_error *err) {
        if (op->state != OP_RUNNING)
                return;
        if (result >= 0)
                op->state = OP_SUCCEEDED;
        else {
                op->state = op->cancelling || (err && err->code == ECANCELED) ? OP_CANCELLED : OP_FAILED;
                if (err)
                        op->result = *err;
                if (!op->result.code)
                        vs_err_msg(&op->result, -result, "%s", strerror(-result));
        }
        op->ended = time(NULL);
        op->cancel = NULL;
        loop_remove(op->tick);
        op->tick = NULL;
        wake_all(op);
        prune(op->vsd);
}

struct op *op_find(struct vsd *v, const char *id) {
        for (struct op *o = v->ops; o; o = o->next)
                if (streq(o->id, id))
                        return o;
        return NULL;
}

const char *op_id(const struct op *op) {
        return op->id;
}

enum op_state op_state(const struct op *op) {
        return op->state;
}

json_t *op_json(const struct op *op) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", op->id, "kind", op->kind, "target", op->target,
                              "state", state_names[op->state], "created", (json_int_t) op->created);
        if (!j)
                return NULL;
        if (op->object[0])
                json_object_set_new(j, "object", json_string(op->object));
        if (op->progress) {
                uint64_t done = atomic_load(&op->progress->done), total = atomic_load(&op->progress->total);
                const char *phase = vs_phase_name(atomic_load(&op->progress->phase));
                uint64_t rate = vs_progress_rate(op->progress);
                json_t *p = done || total || phase ? json_pack("{s:I, s:I}", "done", (json_int_t) done, "total",
                                                               (json_int_t) total)
                                                   : NULL;
                /* the step it is in, and the bytes a second of that step */
                if (p && phase)
                        json_object_set_new(p, "phase", json_string(phase));
                if (p && rate && op->state == OP_RUNNING)
                        json_object_set_new(p, "rate", json_integer((json_int_t) rate));
                if (p)
                        json_object_set_new(j, "progress", p);
        }
        if (op->state != OP_RUNNING)
                json_object_set_new(j, "ended", json_integer((json_int_t) op->ended));
        if (op->details)
                json_object_set(j, "details", op->details);
        if (op->state == OP_FAILED || op->state == OP_CANCELLED) {
                json_object_set_new(j, "error", json_string(op->result.msg));
                json_object_set_new(j, "code", json_integer(op->result.code));
        }
        return j;
}

json_t *ops_json(struct vsd *v) {
        json_t *arr = json_array();
        for (struct op *o = v->ops; arr && o; o = o->next)
                json_array_append_new(arr, op_json(o));
        return arr;
}

int op_cancel(struct op *op, vs_error *err) {
        if (op->state != OP_RUNNING)
                return vs_err_msg(err, EALREADY, "operation %s has ended (%s)", op->id, state_names[op->state]);
        if (op->cancelling)
                return vs_err_msg(err, EALREADY, "operation %s is being cancelled", op->id);
        if (!op->cancel)
                return vs_err_msg(err, EOPNOTSUPP, "operation %s cannot be cancelled", op->id);
        int r = op->cancel(op->cancel_data, err);
        if (r < 0)
                return r;
        op->cancelling = true;
        log_info("Operation %s (%s of %s) cancelled", op->id, op->kind, op->target);
        return 0;
}

void op_listen(struct op *op, struct op_listener *l) {
        op->refs++;
        l->next = op->listeners;
        op->listeners = l;
        /* what the listener has seen is the state as of now */
        if (op->progress) {
                op->seen_done = atomic_load(&op->progress->done);
                op->seen_total = atomic_load(&op->progress->total);
                op->seen_phase = atomic_load(&op->progress->phase);
        }
        arm_tick(op);
}

void op_unlisten(struct op *op, struct op_listener *l) {
        for (struct op_listener **p = &op->listeners; *p; p = &(*p)->next)
                if (*p == l) {
                        *p = l->next;
                        if (!op->listeners) {
                                loop_remove(op->tick);
                                op->tick = NULL;
                        }
                        op_unref(op);
                        return;
                }
}

void ops_free_all(struct vsd *v) {
        while (v->ops)
                unlist(v->ops);
}

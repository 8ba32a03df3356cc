/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Operations: the long work a request starts (a snapshot, a restore, a
 * clone, a template build) as clients see it.  Each has an id, a kind,
 * what it acts on, a state, how far it has come while it runs and its
 * result once it ended, and can be cancelled.  The work itself runs off
 * the loop (a helper of work.h, a template builder); its owner reports the
 * end here and says how to cancel it.  An operation lives in the daemon
 * only: the last OPS_KEEP ended ones stay listed for a client that asks
 * afterwards; a daemon killed mid-way leaves its work to the next one's
 * cleanup, not to an operation.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "base/progress.h"

struct vsd;
struct op;

/* ended operations kept for GET /v1/operations */
#define OPS_KEEP 64
/* "3f9c2a71b0e4": random, so that an id from before a daemon restart
 * names nothing rather than another operation */
#define OP_ID_LEN 12

enum op_state { OP_RUNNING, OP_SUCCEEDED, OP_FAILED, OP_CANCELLED };

/* Told when the operation changed (progress, its end).  Registered with
 * op_listen(), which holds the operation for the listener until
 * op_unlisten(). */
struct op_listener {
        void (*wake)(struct op_listener *l);
        struct op_listener *next;
};

/* Ask the owner to end the work: it must end soon and report op_finish()
 * with -ECANCELED.  Called at most once. */
typedef int (*op_cancel_fn)(void *userdata, vs_error *err);

/* A running operation of kind ("snapshot", "restore", "clone",
 * "template-build") on target (an instance or a template) making object
 * (the snapshot's or the clone's name; NULL: none).  Its progress is
 * shared memory the work's helper writes (op_progress()). */
int op_begin(struct vsd *v, const char *kind, const char *target, const char *object, struct op **ret, vs_error *err);

/* Where the helper reports how far it is; NULL if none could be mapped. */
struct vs_progress *op_progress(struct op *op);

void op_set_cancel(struct op *op, op_cancel_fn fn, void *userdata);

/* What it makes, once known (an import learns the instance's name from
 * its archive). */
void op_set_object(struct op *op, const char *object);

/* A figure the work measured, shown in its JSON as details.KEY. */
void op_set_detail(struct op *op, const char *key, int64_t value);
/* A word or line the work chose, as details.KEY (how it went). */
void op_set_detail_str(struct op *op, const char *key, const char *value);
/* A yes or no of how it went, as details.KEY. */
void op_set_detail_bool(struct op *op, const char *key, bool value);

/* The work ended: result 0, or < 0 with err (-ECANCELED after a cancel). */
void op_finish(struct op *op, int result, const vs_error *err);

/* By id; NULL if unknown (or dropped). */
struct op *op_find(struct vsd *v, const char *id);

const char *op_id(const struct op *op);
enum op_state op_state(const struct op *op);

/* {"id", "kind", "target", "object"?, "state", "progress": {"done",
 * "total", "phase"?, "rate"? (bytes a second of the phase, while it
 * runs)}?, "created", "ended"?, "error"?, "code"?} */
json_t *op_json(const struct op *op);
/* Every operation known, oldest first. */
json_t *ops_json(struct vsd *v);

/* Cancel a running operation: -EALREADY with a message when it has ended
 * (or a cancel is under way). */
int op_cancel(struct op *op, vs_error *err);

void op_listen(struct op *op, struct op_listener *l);
void op_unlisten(struct op *op, struct op_listener *l);

/* At daemon exit, after the work ended (work_shutdown, tmpl_shutdown). */
void ops_free_all(struct vsd *v);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Snapshots and clones of an instance's private layer.  A snapshot is a
 * copy of the layer under <inst>/snapshots/: <snap>.img for the image
 * backend (copied sparse, reflinked where the host's filesystem can), a
 * <snap>/upper tree for the dir backend.  A clone is a new instance with a
 * copy of the source's layer and settings but an identity of its own.
 * A running source is frozen (its cgroup, and the image's filesystem with
 * FIFREEZE) for the time of the copy.
 */

#include <jansson.h>

#include "base/error.h"

struct instance;
struct stor_layer;
struct vsd;

struct inst_waiter;
struct op;

/* Snapshot, restore and clone copy a layer in a helper (work.h): they
 * return 0 once it runs, and tell w (may be NULL) the outcome; the
 * instance is busy meanwhile.  *ret_op (may be NULL): the operation
 * (ops.h) clients follow and may cancel; a cancelled copy leaves nothing.  Refused at once, with nothing changed, for
 * bad input or a busy, broken or stopping instance. */
int snap_create(struct instance *i, const char *snap, struct inst_waiter *w, struct op **ret_op, vs_error *err);

/* [{"name", "host_bytes", "created"}] sorted by name.  A copy under way
 * (hidden name) is not listed. */
int snap_list(struct instance *i, json_t **ret, vs_error *err);

int snap_delete(struct instance *i, const char *snap, vs_error *err);

/* Put a snapshot back as the layer of a stopped instance. */
int snap_restore(struct instance *i, const char *snap, struct inst_waiter *w, struct op **ret_op, vs_error *err);

/* Create dst_name from src: its settings, a copy of its layer, its own
 * name, MAC, pool address (src's fixed addresses and forwards are not
 * copied) and, at its first start, a fresh /etc/machine-id.  The new
 * instance is registered (busy) from the start; w is told when it is
 * complete, on src. */
int snap_clone(struct instance *src, const char *dst_name, struct inst_waiter *w, struct op **ret_op,
               vs_error *err);

/* At daemon start, after the registry is loaded (the helpers of the
 * previous daemon killed): remove the hidden partial copies in every
 * instance's snapshots. */
void snap_cleanup_leftovers(struct vsd *v);

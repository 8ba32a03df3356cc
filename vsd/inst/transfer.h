/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Export and import of an instance that does not run (stopped or
 * checkpointed): one archive (archive.h) with a manifest, its settings,
 * its private layer (an image by its data extents, a directory layer as a
 * tree), optionally its snapshots, its checkpoint, and the identity of its
 * template (name and content id, templates.h).  The archive goes to or
 * comes from a file descriptor the client opened and passed (the fd
 * protocol, base/proto.h): the daemon never opens a client's path.
 *
 * Both run in a helper (work.h) as an operation (ops.h).  An import reads
 * the manifest and settings first and the daemon decides in its loop
 * (name free and valid, addresses not in use, the template here and
 * identical, sizes and space) before anything is written; the instance is
 * then registered, busy, under its hidden directory (.NAME.new, as a
 * create), which the helper fills from the rest of the archive, every
 * member checked (archive.h), and one rename puts it in place.  A failure
 * or refusal leaves nothing; a daemon killed midway leaves the hidden
 * directory, which the next one removes.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct vsd;
struct op;

#define XFER_FORMAT "vsd-instance"
#define XFER_VERSION 1

/* Refuse at once what an export of name cannot be (no such instance, not
 * stopped or checkpointed, busy), before the client sends its file. */
int xfer_export_check(struct vsd *v, const char *name, vs_error *err);

/* Export name into fd (taken: closed here on failure too), with its
 * snapshots when asked, zstd-compressed when asked.  The operation is what
 * the client follows. */
int xfer_export(struct vsd *v, const char *name, int fd, bool snapshots, bool zstd, struct op **ret_op,
                vs_error *err);

/* In a helper (work.h): the archive of instance i (stopped or
 * checkpointed, busy) written into out, as an export writes it; p (may be
 * NULL) follows it in bytes of data.  A move to another host sends it
 * through ssh; without_pages (a live move whose pages went ahead by the
 * page server, pages.h) leaves the checkpoint's page images out, and the
 * manifest says so: the import then takes them from its host's page
 * server.  to_run (a move that runs it there: live, or cold of a running
 * instance): the manifest says so ("move"), and the import there marks the
 * copy INST_INCOMING until it runs. */
struct instance;
struct vs_progress;
struct arc_writer;
/* A cold move's pre-copy (migrate.c): first() sends the instance's disk
 * (path: its disk.img or its upper/ tree) while the instance still runs;
 * final() waits for it to be down and adds what changed since, before the
 * archive's end. */
struct xfer_precopy {
        int (*first)(void *ctx, struct arc_writer *w, const char *path, vs_error *err);
        int (*final)(void *ctx, struct arc_writer *w, const char *path, vs_error *err);
        void *ctx;
};
int xfer_write_archive(struct instance *i, int out, bool snapshots, bool zstd, bool without_pages, bool to_run,
                       struct vs_progress *p, const struct xfer_precopy *pre, vs_error *err);

/* Import the archive read from fd (taken), as new_name when not NULL (a
 * copy: a new name, MAC, addresses from the pool, filesystem UUID and
 * machine-id, as a clone gets). */
int xfer_import(struct vsd *v, int fd, const char *new_name, struct op **ret_op, vs_error *err);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A directory layer (the dir backend's upper/ tree) copied while its
 * instance runs and changes it, then brought up to date once it is down: a
 * cold move's pre-copy (migrate.c), in archive members (archive.h).
 *
 * The tree is hostile and changes under the walk.  Each entry is opened
 * beneath the directory fd it was listed from, O_PATH and O_NOFOLLOW (so
 * nothing is opened for I/O before its type is known: not a FIFO, not a
 * device); a regular file or a directory is then reopened through that
 * O_PATH fd (/proc/self/fd), never by its name again, so a swap meanwhile
 * cannot send another file; a file's data goes by its data extents (no hole
 * of a huge sparse file is read); nothing on another filesystem is
 * entered.  A symbolic link is sent as one, never followed.
 *
 * What went is recorded per path by what the instance cannot set: type,
 * inode, size and ctime (not mtime: utimensat sets it).  A file whose
 * ctime lies within a second of the moment it was read, or that changed
 * while it was read, is marked racy (a write in the same clock tick keeps
 * the ctime), and so is sent again; each file's dirty pages are written
 * back before it is read, so that a later write through a shared mapping
 * faults and changes its ctime.  The final pass, the instance down, is
 * authoritative: every path present with another identity (or racy, or
 * sharing its inode with one that is) goes again, and every path recorded
 * and absent now is removed on the target ("upper.deleted/PATH").
 */

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

struct arc_writer;
struct tsync;

int tsync_new(struct tsync **ret);
void tsync_free(struct tsync *t);

/* The tree at path as upper/... members, each recorded. */
int tsync_first(struct tsync *t, struct arc_writer *w, const char *path, vs_error *err);

/* Once the tree no longer changes: upper.delta, upper.deleted/PATH for
 * each path gone, and each entry that differs from what went.  *ret_total
 * (may be NULL) is told first the data it will send, for a progress. */
int tsync_final(struct tsync *t, struct arc_writer *w, const char *path, void (*total)(void *ctx, uint64_t bytes),
                void *ctx, vs_error *err);

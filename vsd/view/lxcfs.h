/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The one lxcfs process behind every instance's view (view.h), supervised
 * from vsd's loop: started (or adopted from the previous vsd) at daemon
 * start, watched through a pidfd, restarted with a backoff when it dies,
 * after which the fresh files are bound into every running instance.  It
 * outlives the daemon while instances run, and is stopped and unmounted by
 * a daemon that exits with none running.
 *
 * Files, all in <lxcfs_dir> (default <run_dir>/lxcfs):
 *   mnt/         the FUSE mount point
 *   lxcfs.pid    written by lxcfs itself
 *   lxcfs.state  {"pid", "starttime"}: which process vsd started
 *   lxcfs.log    its stdout and stderr, restarted with it
 */

#include <stdbool.h>
#include <sys/types.h>

#include "base/error.h"

struct vsd;
struct lxcfs;

int lxcfs_new(struct vsd *v, struct lxcfs **ret, vs_error *err);

/* Adopt a healthy lxcfs the previous vsd left, or start one and wait for its
 * mount (a few seconds at most), then make sure every running instance sees
 * it.  Failures are logged (", ignoring"): instances then start without the
 * view, and a later restart brings it. */
void lxcfs_start(struct lxcfs *l);

/* An instance whose init is up (running or paused) from add to remove:
 * lxcfs binds its view into each such instance that does not see the
 * current lxcfs when one (re)starts.  pidfd is borrowed: the caller keeps
 * it open until remove.  -ENOMEM: that instance is not rebound.  l may be
 * NULL. */
int lxcfs_instance_add(struct lxcfs *l, const char *name, pid_t pid, int pidfd);
void lxcfs_instance_remove(struct lxcfs *l, const char *name);

/* The lxcfs mount point when lxcfs is up and the view enabled, else NULL. */
const char *lxcfs_view(const struct lxcfs *l);

/* With lxcfs_view: an O_PATH fd per view file (view_open_files), opened
 * once per lxcfs process and closed when it goes; NULL when there is no
 * view. */
const int *lxcfs_view_fds(struct lxcfs *l);

/* Release vsd's hold.  stop: also end lxcfs and remove its mount (no
 * instance runs that could need it); otherwise it keeps serving. */
void lxcfs_free(struct lxcfs *l, bool stop);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the storage backends share (vsd/storage.c, vsd/stor_image.c). */

#include <sys/types.h>

#include "storage.h"

struct stor_ops {
        int (*create)(struct vsd *v, const char *dir, const struct inst_storage *s, vs_error *err);
        int (*attach)(struct vsd *v, const char *dir, struct stor_layer *ret, vs_error *err);
        int (*detach)(const char *dir, vs_error *err);
        int (*grow)(const char *dir, uint64_t size, bool attached, vs_error *warn, vs_error *err);
        int (*usage)(const char *dir, pid_t pid, struct stor_usage *ret, vs_error *err);
        /* bytes written to the attached disk since it was mounted; NULL:
         * the backend has no disk of its own to count */
        int (*written)(const char *dir, int *held_fd, uint64_t *ret);
        /* in a helper: fsfd from fs_fd() or -1 */
        int (*copy)(const char *dir, int fsfd, const char *dst, struct vs_progress *p, vs_error *err);
        /* in a helper; size: the plan's disk (0 for dir) */
        int (*restore)(const char *dir, const char *src, uint64_t size, struct vs_progress *p, vs_error *err);
        /* in the loop, before the restore's helper starts (may be NULL) */
        int (*restore_prepare)(const char *dir, vs_error *err);
        /* an fd on the mounted layer for the copy (FIFREEZE); -ENOENT: none */
        int (*fs_fd)(const char *dir);
        /* thaw a filesystem left frozen: 1 thawed, 0 it was not frozen */
        int (*thaw)(const char *dir, vs_error *err);
        /* remove what an interrupted restore left; > 0 when something was */
        int (*cleanup_partial)(const char *dir);
};

extern const struct stor_ops stor_image_ops;

/* Run a host program (argv[0] searched in the system's sbin and bin
 * directories) with no stdin; its last line of output goes into err when
 * it fails.  Exit statuses up to ok_max count as success. */
int stor_run(const char *const *argv, int ok_max, vs_error *err);

/* stor_copy_sparse() without the final fdatasync, for a caller that
 * changes the copy and syncs it itself. */
int stor_copy_sparse_nosync(const char *src, const char *dst, struct vs_progress *p);

/* Is path a mount point (a different filesystem than its parent)? */
bool stor_is_mountpoint(const char *path);

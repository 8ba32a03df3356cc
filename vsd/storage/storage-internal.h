/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the storage backends share (vsd/storage/storage.c, vsd/storage/stor_image.c). */

#include <sys/types.h>

#include "vsd/storage/loopdev.h"
#include "vsd/storage/storage.h"

/* What storage knows of one instance directory (its key) between calls:
 * created when first needed, dropped by stor_forget() (destroy) or when
 * nothing is left in it.  Image backend only so far. */
struct stor_rec {
        char *dir;
        /* its filesystem's mount in no namespace (image_attach), held by
         * this O_PATH fd while attached: statfs, FIFREEZE, the online
         * resize.  After a restart of the daemon there is none; those ask
         * the kernel through init's root, or wait for the next start. */
        int fs_fd;
        /* its filesystem's session_write_kbytes, held open while attached
         * (stor_written), and what it read when this run began (a kept
         * filesystem's count goes on from the runs before) */
        int written_fd;
        uint64_t written_base_kb;
        /* the instance stopped and fs_fd is kept, its filesystem mounted in
         * no namespace and its loop device bound, for the next start
         * (stor_release() lets go); kept_at orders them, oldest first out */
        bool kept;
        uint64_t kept_at;
        /* the loop device its image was last bound to by this daemon, for
         * as long as it may still be: checking that device's sysfs file is
         * one open, where finding it is a look at every loop device of the
         * host, bound or not (the kernel keeps unbound ones: a host that
         * ran a thousand images has a thousand, and the look took 10 ms
         * per start and per stop).  dev_known false: not known (after a
         * restart of the daemon), looked for once; dev "": none bound. */
        bool dev_known;
        char dev[LOOPDEV_PATH_MAX];
        /* a start is coming (stor_prefetch): the image bound to dev ahead
         * of it, held by this fd (autoclear: its close lets go), and its
         * used blocks being read into the device's cache */
        int pre_fd;
        /* that read: wanted, not yet given to the readahead helper; or
         * the helper has it, and holds the device with a copy of pre_fd */
        bool ra_wanted, ra_busy;
};

/* What a full copy of each template takes, measured once per template
 * build (its rootfs directory's inode and times): walking a rootfs costs
 * milliseconds of stat calls, every create asks. */
#define STOR_TMPL_CACHE 8
struct stor_tmpl_cache {
        struct {
                char rootfs[600];
                uint64_t dev, ino;
                int64_t mtime_ns, ctime_ns;
                uint64_t bytes, files;
        } e[STOR_TMPL_CACHE];
        unsigned next; /* the entry replaced next */
};

/* Storage's state in a daemon (struct vsd's stor). */
struct stor {
        struct vsd *v;
        struct stor_tmpl_cache tmpl_sizes; /* what a copy of each template takes */
        struct stor_rec **rec;
        size_t n_rec;
        size_t n_kept;    /* records with kept set, at most [storage] keep_mounted */
        uint64_t kept_seq; /* the last kept_at given */
        /* the host's bound loop devices, read once for a registry load
         * (stor_scan_begin() to stor_scan_end()); NULL otherwise */
        struct loopdev_map *scan;
        /* the readahead helper (stor_image.c, work cgroup STOR_RA_WORK_ID)
         * runs: one at a time */
        bool ra_running;
};
#define STOR_RA_WORK_ID "readahead"

/* The record of dir; create: made when missing (NULL only when out of
 * memory); else NULL when there is none. */
struct stor_rec *stor_rec_get(struct stor *st, const char *dir, bool create);
void stor_rec_drop(struct stor *st, const char *dir);

struct stor_ops {
        int (*create)(struct stor *st, const char *dir, const struct inst_storage *s, vs_error *err);
        int (*attach)(struct stor *st, const char *dir, struct stor_layer *ret, vs_error *err);
        int (*detach)(struct stor *st, const char *dir, vs_error *err);
        int (*grow)(struct stor *st, const char *dir, uint64_t size, bool attached, vs_error *warn, vs_error *err);
        int (*usage)(struct stor *st, const char *dir, pid_t pid, struct stor_usage *ret, vs_error *err);
        /* bytes written to the attached disk since it was mounted; NULL:
         * the backend has no disk of its own to count */
        int (*written)(struct stor *st, const char *dir, uint64_t *ret);
        /* in a helper: fsfd from fs_fd() or -1 */
        int (*copy)(struct stor *st, const char *dir, int fsfd, const char *dst, struct vs_progress *p, vs_error *err);
        /* in a helper; size: the plan's disk (0 for dir) */
        int (*restore)(struct stor *st, const char *dir, const char *src, uint64_t size, struct vs_progress *p,
                       vs_error *err);
        /* in the loop, before the restore's helper starts (may be NULL) */
        int (*restore_prepare)(struct stor *st, const char *dir, vs_error *err);
        /* an fd on the mounted layer for the copy (FIFREEZE); -ENOENT: none */
        int (*fs_fd)(struct stor *st, const char *dir);
        /* thaw a filesystem left frozen: 1 thawed, 0 it was not frozen */
        int (*thaw)(struct stor *st, const char *dir, vs_error *err);
        /* remove what an interrupted restore left; > 0 when something was */
        int (*cleanup_partial)(const char *dir);
        /* let go of a stopped instance's kept filesystem (may be NULL) */
        int (*release)(struct stor *st, const char *dir, vs_error *err);
        /* at the registry load: learn what the backend looks for at a
         * start or a stop, from st->scan (may be NULL) */
        void (*learn)(struct stor *st, const char *dir);
        /* a start is coming / not after all (may be NULL) */
        int (*prefetch)(struct stor *st, const char *dir);
        void (*prefetch_drop)(struct stor *st, const char *dir);
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

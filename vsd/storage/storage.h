/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * An instance's private writable layer (the overlay's upper and work
 * directories) behind one interface, with a backend per instance:
 *
 *   image  <inst>/disk.img, a sparse ext4 image of the plan's size, bound to
 *          a loop device and mounted by the daemon just before the clone as
 *          a mount of its own in no namespace (fsmount), held by an fd until
 *          init is gone, and kept after that for the next start (the last
 *          [storage] keep_mounted stopped ones) until stor_release();
 *          upper/ and work/ are inside it;
 *   dir    <inst>/upper and <inst>/work on the host's filesystem, no quota.
 *
 * The layout, the attach and detach order and the crash cleanup are in
 * doc/architecture.md ("Storage").
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "base/progress.h"
#include "vsd/conf/settings.h"

struct vsd;

/* The overlay directories of an attached layer, as the daemon reaches
 * them (and the start child, which inherits its fd table). */
struct stor_layer {
        char upper[600];
        char work[600];
        int fd; /* the fd the paths go through (image), or -EBADF (dir); held by storage.c */
        /* A kernel whose overlayfs refuses a layer on a detached mount
         * (kern_features.overlay_detached_upper false): the start child
         * attaches the mount held by mount_fd on mount_at, a directory of
         * its own mount namespace's copy of the host's tree, and gives the
         * overlay ovl_upper and ovl_work below it.  -EBADF: the overlay
         * takes upper and work as they are. */
        int mount_fd;
        char mount_at[600];
        char ovl_upper[600];
        char ovl_work[600];
};

struct stor_usage {
        uint64_t bytes_used, bytes_limit;   /* of the filesystem (0 when not attached) */
        uint64_t inodes_used, inodes_limit;
        uint64_t host_bytes;                /* what the image occupies on the host */
        bool attached;                      /* the figures above come from the mounted filesystem */
};

/* The smallest disk an image instance may have. */
#define STOR_DISK_MIN (64ULL << 20)

/* Storage's records of a daemon (v->stor): what a copy of each template
 * takes, and per instance directory the filesystem held while attached
 * and the loop device last bound (storage-internal.h).  stor_forget()
 * drops a directory's record when its instance is destroyed. */
int stor_new(struct vsd *v, vs_error *err);
void stor_free(struct vsd *v);
void stor_forget(struct vsd *v, const char *dir);

/* Fill the [storage] defaults of a new instance (cfg) from the daemon's
 * settings and check them against the template (the disk must hold a
 * full copy of it).  warn (may be NULL) gets a note the client should
 * show, such as the dir backend's missing quota. */
int stor_resolve_new(struct vsd *v, struct inst_config *cfg, const char *template_rootfs, vs_error *warn,
                     vs_error *err);

/* Check a change of the [storage] section: the backend and the inode
 * count are fixed at create, the disk only grows. */
int stor_check_update(const struct inst_config *old, const struct inst_config *cfg, vs_error *err);

/* Make the private layer in an instance directory being built. */
int stor_create(struct vsd *v, const char *dir, const struct inst_config *cfg, vs_error *err);

/* Make the layer usable before the clone (image: grow the filesystem if a
 * grow is pending, bind a loop device, mount it where only an fd reaches
 * it; ret's paths go through /proc/self/fd, valid in the child too, and
 * ret->mount_fd says when the child must attach it first). */
int stor_attach(struct vsd *v, const char *dir, const struct inst_config *cfg, struct stor_layer *ret, vs_error *err);

/* Undo stor_attach once nothing uses the layer any more (init is gone).
 * Safe to call when not attached.  The image backend keeps the filesystem
 * mounted (in no namespace, by the daemon's fd alone) for the next start,
 * for the [storage] keep_mounted instances stopped last; an older one is
 * released here. */
int stor_detach(struct vsd *v, const char *dir, const struct inst_config *cfg, vs_error *err);

/* Let go of what storage kept of a stopped instance's disk (the mounted
 * filesystem and its loop device) and wait, briefly, for the kernel to
 * release the image: called before anything reads, copies or replaces a
 * stopped instance's image (snapshot, clone, restore, export, migration,
 * grow; destroy forgets the record).  0 when nothing was kept; -EBUSY when
 * the image is still bound after the wait. */
int stor_release(struct vsd *v, const char *dir, const struct inst_config *cfg, vs_error *err);

/* Remove what a crash may have left of an instance that does not run: a
 * mount on <dir>/disk, loop devices backed by <dir>/disk.img.  Needs no
 * config (a broken instance has none).  Returns what was cleaned (> 0). */
int stor_cleanup(struct vsd *v, const char *dir, vs_error *err);

/* Around the registry load: the host's loop devices are read once at the
 * begin, and stor_cleanup() and stor_learn() of every instance ask that
 * list instead of every device of the host each.  Without the list (out of
 * memory, no sysfs) they look as before. */
void stor_scan_begin(struct vsd *v);
void stor_scan_end(struct vsd *v);

/* The start of this stopped instance comes soon (the boot's next ones):
 * the image backend binds its image to a loop device now and has the
 * kernel read the image's used blocks into that device's cache in the
 * background, so that the start's mounts (ext4, the overlay) find their
 * metadata there instead of reading it block by block from the disk,
 * each read a wait of the daemon's loop.  The start takes the device.
 * 1 when something was started, 0 when there was nothing to do (dir
 * backend, already attached, a grow pending, the image still bound). */
int stor_prefetch(struct vsd *v, const char *dir, const struct inst_config *cfg);

/* The start is not coming after all: the device bound by stor_prefetch()
 * is let go (the kernel detaches it).  stor_release() does it too. */
void stor_prefetch_drop(struct vsd *v, const char *dir, const struct inst_config *cfg);

/* At the registry load, after the instance's cleanup or re-adoption: note
 * what storage would otherwise look for at its first start or stop (the
 * image's loop device, or that none is bound). */
void stor_learn(struct vsd *v, const char *dir, const struct inst_config *cfg);

/* Grow the disk to cfg's size: the image file, and the filesystem online
 * when attached.  When the kernel refuses the online resize (it needs
 * CAP_SYS_RESOURCE) the filesystem grows at the next start, and warn says so. */
int stor_grow(struct vsd *v, const char *dir, const struct inst_config *old, const struct inst_config *cfg,
              bool attached, vs_error *warn, vs_error *err);

/* Disk usage; of a running instance (pid, its init) from statfs of its
 * filesystem; pid 0: stopped. */
int stor_usage(struct vsd *v, const char *dir, const struct inst_config *cfg, pid_t pid, struct stor_usage *ret,
               vs_error *err);

/* Bytes written to the instance's own disk since this run mounted it, by
 * whoever handed them to the device: the kernel's writeback of the
 * instance's dirty pages too, which cgroup v1 charges to no cgroup.  The
 * image backend reads its filesystem's session_write_kbytes, held open
 * in dir's record until stor_detach().  -ENODATA: no such figure (the dir
 * backend shares the host's disk; not attached). */
int stor_written(struct vsd *v, const char *dir, const struct inst_config *cfg, uint64_t *ret);

/* Copy the private layer of src (stopped, or frozen) to a file or a
 * directory: an image sparse (reflink when the filesystem can), a
 * directory layer as a tree; synced.  dst must not exist.  fsfd: from
 * stor_fs_fd() for a running instance (its filesystem is frozen with
 * FIFREEZE for the copy), else -1.  Long: run it in a helper (work.h);
 * p (may be NULL) follows it. */
int stor_copy_layer(struct vsd *v, const char *src_dir, const struct inst_config *cfg, int fsfd, const char *dst,
                    struct vs_progress *p, vs_error *err);

/* An fd on a running instance's mounted layer for stor_copy_layer(), or
 * -ENOENT (dir backend, or not mounted).  A re-adopted instance's filesystem
 * is found through its loop device and held from then on. */
int stor_fs_fd(struct vsd *v, const char *dir, const struct inst_config *cfg);

/* The reverse: put a copy made by stor_copy_layer back as dir's layer (a
 * stopped instance's), grown to cfg's disk size if smaller.  Crash-safe:
 * the old layer or the new one, and leftovers stor_cleanup_partial()
 * removes.  Long: run it in a helper, after stor_restore_prepare() in the
 * loop. */
int stor_restore_layer(struct vsd *v, const char *dir, const struct inst_config *cfg, const char *src,
                       struct vs_progress *p, vs_error *err);
int stor_restore_prepare(struct vsd *v, const char *dir, const struct inst_config *cfg, vs_error *err);

/* Thaw the filesystem of dir's layer if it was left frozen (FIFREEZE by a
 * snapshot whose daemon died): 1 when it was thawed, 0 when it was not
 * frozen (or has no filesystem of its own). */
int stor_thaw(struct vsd *v, const char *dir, const struct inst_config *cfg, vs_error *err);

/* Remove what an interrupted restore left in dir (a copy of the image or
 * of the tree beside the layer).  > 0 when something was removed. */
int stor_cleanup_partial(const char *dir);

/* Sparse copy of a regular file (FICLONE first, then the data extents with
 * copy_file_range); dst is created and must not exist.  p (may be NULL):
 * how far it is, in bytes of the file's size.  -errno. */
int stor_copy_sparse(const char *src, const char *dst, struct vs_progress *p);

/* A new filesystem UUID and directory hash seed for a copied image (a
 * clone's), written into its superblock. */
int stor_image_new_uuid(const char *image, vs_error *err);

/* A clone's directory holds this until its first start, which gives its
 * layer a new /etc/machine-id (stor_fresh_identity). */
#define STOR_IDENTITY_MARKER "identity.new"

/* At the start after a clone: a new /etc/machine-id in the layer (only if
 * the template or the layer has one).  dir is the instance directory,
 * lower the template's rootfs. */
int stor_fresh_identity(const char *dir, const char *lower, const struct stor_layer *layer, vs_error *err);

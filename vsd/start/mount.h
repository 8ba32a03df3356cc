/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The mount steps of an instance's start, run by the child in its new mount
 * namespace before it pivots into the rootfs.
 *
 * Every path inside the rootfs is resolved with openat2(RESOLVE_IN_ROOT)
 * from an fd of the rootfs, and mounted on through /proc/self/fd/N: a
 * symlink planted in the instance's writable layer (say /dev -> /etc) can
 * redirect a mount inside the instance, never out of it.
 *
 * Child-side convention: these return -errno and fill err with the message
 * only (vs_err_msg); the parent adds the stage and the errno text.
 */

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* The instance's root as the overlay makes it (from struct start_spec,
 * which says what each is). */
struct mnt_root {
        const char *lower, *upper, *work, *rootfs;
        int layer_fd;
        const char *layer_at;
};

/* Check that the overlay's directories can be written into its options
 * (no ',', ':' or '\\').  Parent side, before clone; fills err fully. */
int mnt_check_root(const struct mnt_root *root, vs_error *err);

/* Make the whole inherited mount tree a recursive slave. */
int mnt_make_slave(vs_error *err);

/* The overlay's mount options for these layers into buf: -ENAMETOOLONG
 * when they do not fit.  Every overlay of an instance's root (the start's
 * in either kind, the restore's) takes the same. */
int mnt_overlay_opts(char *buf, size_t len, const char *lower, const char *upper, const char *work);

/* Mount the overlay root on root->rootfs and return an O_PATH fd of it. */
int mnt_overlay(const struct mnt_root *root, int *ret_rootfd, vs_error *err);

/*
 * The mount plan: every mount the child makes inside the rootfs but the
 * overlay, the view's files (view_bind) and the console, as data: an
 * array of entries, applied in order, a group per step of the child's
 * checklist.  What a checkpoint enumerates to find an instance's mounts.
 */
enum mnt_group {
        MNT_PROC,     /* SYNC_PROC */
        MNT_SYS,      /* SYNC_SYS */
        MNT_CGROUP,   /* SYNC_CGROUP_FS: the instance's cgroup2 hierarchy, writable */
        MNT_RUN,      /* SYNC_RUN: size-limited tmpfs on /run and /run/lock */
        MNT_DEV,      /* SYNC_DEV: a small tmpfs, the standard nodes, devpts, shm, mqueue */
        MNT_MASKED,   /* SYNC_MASKED_PATHS */
        MNT_READONLY, /* SYNC_READONLY_PATHS */
        MNT_NESTING,  /* SYNC_NESTING: an unmasked proc and sysfs, nesting instances only */
};

enum mnt_kind {
        MNT_FS,        /* a new filesystem on target, a directory made if missing */
        MNT_FS_NEWDIR, /* the same on a directory that must be new */
        MNT_FS_THERE,  /* the same on a directory that is there already */
        MNT_NODE,      /* an empty file made at target and a detached copy of the mount of
                        * the host's node source, attached after the lock (mnt_nodes_attach) */
        MNT_LINK,      /* a symbolic link at target saying source */
        MNT_MASK,      /* hidden: one empty read-only tmpfs bound on every masked directory,
                        * /dev/null on a file; nothing when absent */
        MNT_RDONLY,    /* bound on itself and made read-only; nothing when absent */
        MNT_DIR,       /* a directory made at target (mode), nothing mounted */
};

struct mnt_entry {
        enum mnt_group group;
        enum mnt_kind kind;
        const char *target;   /* below the rootfs, no leading '/' */
        const char *source;   /* MNT_NODE, MNT_LINK */
        const char *fstype;   /* MNT_FS* */
        unsigned long flags;  /* MNT_FS*: mount flags */
        const char *data;     /* MNT_FS*: mount options */
        unsigned mode;        /* MNT_FS, MNT_FS_NEWDIR: of the directory made */
};

/* The plan, *ret_n entries. */
const struct mnt_entry *mnt_plan(size_t *ret_n);

/* The most MNT_NODE entries of the plan. */
#define MNT_NODES_MAX 8

/* What of the plan is per instance, and what applying it hands on. */
struct mnt_params {
        unsigned ptys; /* the devpts's max= (its ptys at once); 0: the kernel's bound only */
        /* MNT_NODE: the detached copies of the nodes' mounts, in the plan's
         * order, for mnt_nodes_attach() (-EBADF-filled by the caller) */
        int *node_trees;
};

/* Apply the plan's entries of group, in order, below rootfd. */
int mnt_apply(int rootfd, enum mnt_group group, const struct mnt_params *params, vs_error *err);

/* The console, in two steps.  Before the pivot: make /dev/console (an
 * empty file of the instance's /dev) and a detached copy of the mount of
 * the console pty slave (an fd of the caller) in *ret_tree.  After the
 * lock (step_lock_mounts): attach that copy on /dev/console, the one
 * mount of ours that stays unlocked.  A daemon that lost the pty (a
 * restart with the listener holder gone too) must unmount it to mount a
 * new one: nothing can be mounted on top of a bind of a pty node that is
 * gone (the kernel refuses an unlinked mount point, ENOENT), and a locked
 * mount cannot be unmounted.  Unlocked, root inside may unmount it too,
 * which shows the empty file; stacking a mount of its own on it was
 * always allowed. */
int mnt_dev_console(int rootfd, int console, int *ret_tree, vs_error *err);
int mnt_console_attach(int tree, vs_error *err);

/* The device nodes' copies (mnt_params.node_trees) attached on their
 * files in /dev, after the lock (step_lock_mounts), and closed: unlocked
 * like the console's.  A locked child of a tmpfs stays attached to it when
 * the tmpfs is unmounted with its namespace (the kernel's
 * disconnect_mount): CRIU, which reads /dev's tmpfs through a copy of the
 * namespace it then drops, found the host's nodes in it and archived them
 * as device nodes, which no restore inside a user namespace can make
 * (mknod: EPERM).  Unlocked, they fall away and CRIU finds the empty files
 * below, as without the lock.  Unmounting one shows root inside that empty
 * file of its own /dev, nothing of the host's. */
int mnt_nodes_attach(int *trees, vs_error *err);

/* Make rootfd the root and detach the host's tree; cwd ends at "/". */
int mnt_pivot_root(int rootfd, vs_error *err);

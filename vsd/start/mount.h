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

/* Mount the overlay root on root->rootfs and return an O_PATH fd of it. */
int mnt_overlay(const struct mnt_root *root, int *ret_rootfd, vs_error *err);

int mnt_proc(int rootfd, vs_error *err);
int mnt_sys(int rootfd, vs_error *err);

/* The instance's cgroup2 hierarchy (root: its payload cgroup, through the
 * cgroup namespace) on /sys/fs/cgroup, writable. */
int mnt_cgroup(int rootfd, vs_error *err);

/* Size-limited tmpfs on /run and /run/lock, as systemd expects them. */
int mnt_run(int rootfd, vs_error *err);

/* A small tmpfs with the standard nodes, a devpts instance, shm, mqueue. */
int mnt_dev(int rootfd, vs_error *err);

/* Bind the console pty slave (an fd of the caller) on /dev/console. */
int mnt_dev_console(int rootfd, int console, vs_error *err);

int mnt_masked_paths(int rootfd, vs_error *err);
int mnt_readonly_paths(int rootfd, vs_error *err);

/* Make rootfd the root and detach the host's tree; cwd ends at "/". */
int mnt_pivot_root(int rootfd, vs_error *err);

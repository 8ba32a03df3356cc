/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The inotify watches on an instance's root filesystem (its overlay), by
 * the path that reaches each, for CRIU (checkpoint.c).
 *
 * CRIU records a watch by a path it finds for the watched inode.  It asks
 * the filesystem first (open_by_handle_at), which overlayfs without
 * nfs_export refuses, then looks for a file whose device and inode number
 * are the watch's in a few places of its own (its irmap: /etc, /var/log,
 * two of dbus's directories...) and in the places given with
 * --irmap-scan-path.  Whatever it finds nowhere fails the whole dump
 * ("fsnotify: Can't dump that handle").  dbus-daemon watches
 * /usr/share/dbus-1/system.d, which it does not look in; a service may
 * watch a file of its own anywhere.  So the dump walks the instance's root
 * filesystem itself, before CRIU runs, for the inode of every such watch
 * and hands CRIU the path.  The overlay's xino=on (vsd/start/mount.c) makes
 * the numbers that stat reports those the watches name.
 *
 * The overlay's own file handle, which would say the layer's inode, is no
 * help on every kernel: 6.1's fdinfo shows a generic handle (the overlay's
 * inode number cut to 32 bits) where 6.6 and later show overlayfs's.  The
 * walk needs neither.
 *
 * The tree is the instance's: the walk never follows a link, never leaves
 * the overlay for another mount, checks each directory it opens is the
 * one it looked at, and stops after CKPTW_ENTRIES_MAX entries.  A walk
 * that stopped short, or could not look somewhere (a directory 64 levels
 * down, a path too long, one swapped while it looked), leaves what it did
 * not find to CRIU's own search.  A watch that a complete walk found
 * nowhere (its file hidden under a mount made since) is refused before
 * CRIU runs, naming the process.
 */

#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

#define CKPTW_MAX 32
#define CKPTW_ENTRIES_MAX 500000

struct ckpt_watches {
        char path[CKPTW_MAX][256]; /* inside the instance, for --irmap-scan-path */
        unsigned n;
        unsigned long walked; /* entries looked at */
};

/* The paths of the inotify watches that pids (the instance's processes,
 * init_pid its init) hold on the instance's root filesystem, into *ret.
 * Fails with EOPNOTSUPP, naming the process, for a watch that no path
 * reaches; what it cannot read (a process gone meanwhile) it skips. */
int ckpt_watches_scan(const char *name, pid_t init_pid, const pid_t *pids, size_t n_pids, struct ckpt_watches *ret,
                      vs_error *err);

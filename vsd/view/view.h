/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The customer's view: the files of /proc and /sys through which programs in
 * an instance learn how much memory and how many CPUs they have, the uptime
 * and the load (free, top, uptime, nproc, a JVM sizing its heap), served by
 * lxcfs from the instance's own cgroup and bound read-only over the kernel's
 * host-wide ones.
 *
 * Some files are vsd's own instead (enum view_own_file: /proc/loadavg,
 * /sys/devices/system/cpu/online, and /proc/stat where lxcfs cannot give
 * it per CPU), written per instance by sysinfo.c and bound the same way
 * whether lxcfs runs or not.
 *
 * lxcfs itself is supervised by lxcfs.c; this file only knows which files
 * there are and how to put them in place: at start, in the child before
 * pivot_root (view_bind), and into a running instance after lxcfs was
 * restarted (view_rebind).
 */

#include <stdbool.h>
#include <sys/types.h>

#include "base/error.h"

/* How many files of lxcfs's the view has (view.c's table). */
#define VIEW_N_FILES 6

/* The files vsd writes itself, per instance (vsd/view/sysinfo.c), bound
 * like lxcfs's but whether lxcfs runs or not. */
enum view_own_file {
        VIEW_OWN_LOADAVG,
        VIEW_OWN_CPU_ONLINE,
        /* pure cgroup v2 only: no per-CPU usage of a cgroup there, and
         * lxcfs then shows the host's lines of every CPU of the cpuset,
         * whatever the cap (lxc/lxcfs#593); on v1 lxcfs's is right */
        VIEW_OWN_STAT,
        VIEW_N_OWN,
};
/* Its path below the instance's root ("proc/loadavg"). */
const char *view_own_path(enum view_own_file f);
/* A detached, read-only copy of the mount of the file fd (O_PATH) is on,
 * for the child to attach (view_bind_own); -errno. */
int view_clone_own(int fd);

/* Daemon side, once lxcfs serves at mnt: an O_PATH fd per view file in
 * ret_fds (-errno where lxcfs lacks one), so that each start clones the
 * mounts from the fds instead of walking their paths through FUSE, which
 * asks lxcfs to revalidate every component (a round trip to its process
 * per lookup: about 2 ms of a start on a busy host). */
void view_open_files(const char *mnt, int ret_fds[VIEW_N_FILES]);
void view_close_files(int fds[VIEW_N_FILES]);

/* Daemon side, before the clone: detached, read-only copies of the view's
 * mounts, cloned from fds (view_open_files); the child attaches them
 * (view_bind).  A mount can be cloned only from the caller's own mount
 * namespace, so this cannot wait for the child, which has a new one.  Each
 * start needs its own: attaching consumes a copy. */
struct view_trees {
        int fd[VIEW_N_FILES]; /* -errno where there is none */
        int own[VIEW_N_OWN];  /* vsd's own files (view_clone_own), -errno where there is none */
};
#define VIEW_TREES_NONE { .fd = { -EBADF, -EBADF, -EBADF, -EBADF, -EBADF, -EBADF }, .own = { -EBADF, -EBADF, -EBADF } }
void view_clone_trees(const char *mnt, const int fds[VIEW_N_FILES], struct view_trees *ret);
void view_trees_close(struct view_trees *t);

/* Child side, before pivot_root: bind every file the lxcfs mount at mnt
 * serves over the same path below rootfd, read-only: the daemon's copies
 * (view_clone_trees) where given, else clones made here by path; not those
 * vsd's own files replace (trees->own).  A file lxcfs does not
 * serve (or an lxcfs that just died: ENOTCONN) is skipped, as is one the
 * rootfs lacks: the instance then sees the kernel's file.  Returns -errno
 * and fills err with the message only (child convention, see mount.h). */
int view_bind(int rootfd, const char *mnt, const struct view_trees *trees, vs_error *err);
/* Child side, likewise: bind vsd's own files (trees->own) where given. */
int view_bind_own(int rootfd, const struct view_trees *trees, vs_error *err);

/* Replace the view files of a running instance (its init's pidfd) with
 * fresh clones from the lxcfs mount at mnt: stale ones (an lxcfs that died)
 * are detached first.  A file that is one of vsd's own (on device own_dev,
 * that of <run_dir>/view; 0: none) is left as it is.  Runs a short-lived
 * child that joins the instance's mount namespace. */
int view_rebind(int init_pidfd, const char *mnt, dev_t own_dev, vs_error *err);

/* Does the instance whose init is pid see the lxcfs mount with device dev
 * (its /proc/meminfo is on it and answers)?  false also when the view is
 * stale (ENOTCONN) or missing. */
bool view_is_current(pid_t pid, dev_t dev);

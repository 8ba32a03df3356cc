/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/view/view.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"
#include "vsd/core/syscalls.h"

/*
 * The files lxcfs computes from the reader's cgroup, relative to both the
 * lxcfs mount and the instance's root.  Each answers a question programs
 * ask the kernel directly:
 */
static const char *const view_files[] = {
        "proc/meminfo",   /* free, top, a JVM or database sizing its caches: the memory limit */
        "proc/swaps",     /* swapon -s, free: the swap allowance */
        "proc/cpuinfo",   /* processors = the CPU cap rounded up, or the cpuset */
        "proc/stat",      /* top, mpstat: CPU time of the instance, per visible CPU */
        "proc/uptime",    /* uptime: since the instance's init started */
        "proc/diskstats", /* iostat: the instance's own block I/O */
};

/*
 * The files vsd writes itself, one per instance (vsd/view/sysinfo.c), in
 * the order of enum view_own_file:
 */
static const char *const own_files[] = {
        /* uptime, top, glibc's getloadavg(): the load sampled for sysinfo(2)
         * (one source), the instance's tasks, its own last pid; lxcfs's
         * ends with a host pid */
        "proc/loadavg",
        /* glibc's sysconf(_SC_NPROCESSORS_ONLN), Python's os.cpu_count():
         * the CPUs sched_getaffinity() answers; lxcfs's is one FUSE file
         * whose cached size is the last reader's, so that one instance read
         * another's length ("0-" for "0-1") */
        "sys/devices/system/cpu/online",
        /* top, mpstat, htop: the instance's CPU time over the CPUs it may
         * use (cap rounded up, or cpuset), where lxcfs's has the host's */
        "proc/stat",
};

#define N_VIEW_FILES ELEMENTSOF(view_files)
_Static_assert(N_VIEW_FILES == VIEW_N_FILES, "VIEW_N_FILES is the table's size");
_Static_assert(VIEW_N_FILES == 6, "VIEW_TREES_NONE has one -EBADF per file");
_Static_assert(ELEMENTSOF(own_files) == VIEW_N_OWN, "VIEW_N_OWN is the table's size");
_Static_assert(VIEW_N_OWN == 3, "VIEW_TREES_NONE has one -EBADF per own file");

/* Is lxcfs's file i replaced by one of vsd's own in trees? */
static bool replaced(const struct view_trees *trees, size_t i) {
        for (size_t k = 0; trees && k < VIEW_N_OWN; k++)
                if (trees->own[k] >= 0 && streq(own_files[k], view_files[i]))
                        return true;
        return false;
}

const char *view_own_path(enum view_own_file f) {
        return (size_t) f < VIEW_N_OWN ? own_files[f] : NULL;
}

/* A detached, read-only copy of the mount of one lxcfs file.  -ENOENT: this
 * lxcfs does not serve it; -ENOTCONN: lxcfs died. */
static int clone_file(const char *mnt, const char *rel, int fd) {
        char src[PATH_MAX];
        if (snprintf(src, sizeof(src), "%s/%s", mnt, rel) >= (int) sizeof(src))
                return -ENAMETOOLONG;
        _cleanup_close_ int tree = fd >= 0 ? sys_open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH)
                                           : sys_open_tree(AT_FDCWD, src,
                                                           OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
        if (tree < 0)
                return tree;
        /* Read-only so the instance cannot write through to lxcfs (some of
         * its files take writes for cgroup management); the instance lacks
         * CAP_SYS_ADMIN, so it can neither remount nor unmount these and
         * find the host's files beneath. */
        struct mount_attr attr = {
                .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        };
        int r = sys_mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr));
        if (r < 0)
                return r;
        return TAKE_FD(tree);
}

void view_open_files(const char *mnt, int ret_fds[VIEW_N_FILES]) {
        for (size_t i = 0; i < N_VIEW_FILES; i++) {
                char src[PATH_MAX];
                ret_fds[i] = -ENAMETOOLONG;
                if (snprintf(src, sizeof(src), "%s/%s", mnt, view_files[i]) >= (int) sizeof(src))
                        continue;
                int fd = open(src, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                ret_fds[i] = fd < 0 ? -errno : fd;
        }
}

void view_close_files(int fds[VIEW_N_FILES]) {
        for (size_t i = 0; i < N_VIEW_FILES; i++)
                safe_close(&fds[i]);
}

void view_clone_trees(const char *mnt, const int fds[VIEW_N_FILES], struct view_trees *ret) {
        for (size_t i = 0; i < N_VIEW_FILES; i++)
                ret->fd[i] = fds[i] >= 0 ? clone_file(mnt, view_files[i], fds[i]) : fds[i];
}

int view_clone_own(int fd) {
        if (fd < 0)
                return -EBADF;
        return clone_file("", "", fd);
}

void view_trees_close(struct view_trees *t) {
        view_close_files(t->fd);
        for (size_t i = 0; i < VIEW_N_OWN; i++)
                safe_close(&t->own[i]);
}

/* Attach tree over rel below rootfd, if the rootfs has that file. */
static int bind_one(int rootfd, const char *rel, int tree, vs_error *err) {
        _cleanup_close_ int target = sys_openat2(rootfd, rel, O_PATH | O_CLOEXEC, 0,
                                                 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        if (target == -ENOENT)
                return 0; /* not in this kernel's /proc or /sys */
        if (target < 0)
                return vs_err_msg(err, -target, "open /%s", rel);
        (void) sys_move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
        return 0;
}

int view_bind_own(int rootfd, const struct view_trees *trees, vs_error *err) {
        for (size_t i = 0; trees && i < VIEW_N_OWN; i++) {
                if (trees->own[i] < 0)
                        continue;
                int r = bind_one(rootfd, own_files[i], trees->own[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int view_bind(int rootfd, const char *mnt, const struct view_trees *trees, vs_error *err) {
        for (size_t i = 0; i < N_VIEW_FILES; i++) {
                /* Whatever goes wrong on lxcfs's side leaves the kernel's file
                 * in place: an instance never fails to start for its view, and
                 * the supervisor binds the file once lxcfs is back. */
                if (replaced(trees, i))
                        continue;
                _cleanup_close_ int own = trees ? -EBADF : clone_file(mnt, view_files[i], -EBADF);
                int tree = trees ? trees->fd[i] : own;
                if (tree < 0)
                        continue;
                int r = bind_one(rootfd, view_files[i], tree, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* In the child that joined the instance's mount namespace: detach what is
 * on path (a stale lxcfs bind, at most a few stacked) and attach tree;
 * unless vsd's own file (on own_dev) is there. */
static int rebind_one(int tree, const char *rel, dev_t own_dev) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "/%s", rel);
        struct stat st;
        if (own_dev && stat(path, &st) == 0 && st.st_dev == own_dev)
                return 0;
        /* umount2 only takes a mount's root: where no bind is (the instance
         * started without the view) it fails with EINVAL and leaves /proc
         * and /sys alone. */
        for (int k = 0; k < 8 && umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0; k++)
                ;
        if (sys_move_mount(tree, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return errno == ENOENT ? 0 : -1;
        return 0;
}

int view_rebind(int init_pidfd, const char *mnt, dev_t own_dev, vs_error *err) {
        int trees[N_VIEW_FILES];
        int r = 0;
        size_t n = 0;
        /* Cloned here, in the host's mount namespace where the lxcfs mount
         * is; attached inside the instance by a short-lived child that
         * joined its mount namespace (as console_rebind does). */
        for (size_t i = 0; i < N_VIEW_FILES; i++) {
                trees[i] = clone_file(mnt, view_files[i], -EBADF);
                if (trees[i] >= 0)
                        n++;
                else if (trees[i] != -ENOENT && r == 0)
                        r = vs_err(err, -trees[i], "clone the mount of %s/%s", mnt, view_files[i]);
        }
        if (r == 0 && n == 0)
                r = vs_err_msg(err, ENOENT, "lxcfs at %s serves none of the view's files", mnt);
        if (r == 0) {
                pid_t pid = fork();
                if (pid < 0)
                        r = vs_err(err, errno, "fork");
                else if (pid == 0) {
                        if (sys_setns(init_pidfd, CLONE_NEWNS) < 0)
                                _exit(100);
                        int failed = 0;
                        for (size_t i = 0; i < N_VIEW_FILES; i++)
                                if (trees[i] >= 0 && rebind_one(trees[i], view_files[i], own_dev) < 0)
                                        failed = (int) i + 1;
                        _exit(failed);
                } else {
                        int status = 0;
                        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                                ;
                        if (!WIFEXITED(status) || WEXITSTATUS(status) == 100)
                                r = vs_err_msg(err, EIO, "could not join the instance's mount namespace");
                        else if (WEXITSTATUS(status) != 0)
                                r = vs_err_msg(err, EIO, "could not mount /%s in the instance",
                                               view_files[WEXITSTATUS(status) - 1]);
                }
        }
        for (size_t i = 0; i < N_VIEW_FILES; i++)
                if (trees[i] >= 0)
                        close(trees[i]);
        return r;
}

bool view_is_current(pid_t pid, dev_t dev) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/root", (int) pid);
        _cleanup_close_ int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return false;
        /* Resolved inside the instance's root, without following anything
         * it may have planted. */
        _cleanup_close_ int fd = sys_openat2(root, view_files[0], O_PATH | O_CLOEXEC, 0,
                                             RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);
        struct stat st;
        return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == dev;
}

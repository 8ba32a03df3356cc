/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/start/mount.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "vsd/core/syscalls.h"

#define FD_PATH_MAX 64

static const char *fd_path(int fd, char buf[static FD_PATH_MAX]) {
        snprintf(buf, FD_PATH_MAX, "/proc/self/fd/%d", fd);
        return buf;
}

/* O_PATH fd of path inside the rootfs; links resolve as if rootfd were "/". */
static int open_in_root(int rootfd, const char *path) {
        return sys_openat2(rootfd, path, O_PATH | O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

/* A top-level directory of the rootfs (proc, sys, dev), made if missing. */
static int open_dir_in_root(int rootfd, const char *name, vs_error *err) {
        if (mkdirat(rootfd, name, 0755) < 0 && errno != EEXIST)
                return vs_err_msg(err, errno, "mkdir /%s", name);
        int fd = sys_openat2(rootfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                             RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        if (fd < 0)
                return vs_err_msg(err, -fd, "open /%s", name);
        return fd;
}

int mnt_check_root(const struct mnt_root *spec, vs_error *err) {
        const char *const dirs[] = { spec->lower, spec->upper, spec->work, spec->rootfs };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                if (!dirs[i] || dirs[i][0] != '/')
                        return vs_err_msg(err, EINVAL, "invalid overlay directory '%s': not an absolute path",
                                          dirs[i] ? dirs[i] : "(null)");
                /* overlayfs splits its options at ',' and lowerdir at ':'. */
                if (strpbrk(dirs[i], ",:\\"))
                        return vs_err_msg(err, EINVAL, "invalid overlay directory '%s': contains ',', ':' or '\\'",
                                          dirs[i]);
        }
        return 0;
}

int mnt_make_slave(vs_error *err) {
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
                return vs_err_msg(err, errno, "make / a recursive slave");
        return 0;
}

/* xino=on: every file of the overlay reports the overlay's own device and
 * an inode number unique in it (the layer's number with the layer in the
 * high bits), the same that the kernel gives the overlay's inode.  Without
 * it a file of the template or the private layer reports that layer's
 * device, on another filesystem than the overlay's: an inotify watch on it
 * names the overlay's device, which then no path's stat matches, and
 * overlayfs decodes no file handle without nfs_export (whose index binds
 * the private layer to the template's filesystem).  CRIU finds a watch's
 * path by that match (its irmap): systemd's on /etc/localtime, for one
 * (doc/architecture.md, "Checkpoint and restore").  Inode numbers that do
 * not fit below the layer bits fall back to the layer's, each alone. */
int mnt_overlay_opts(char *buf, size_t len, const char *lower, const char *upper, const char *work) {
        int n = snprintf(buf, len, "lowerdir=%s,upperdir=%s,workdir=%s,xino=on", lower, upper, work);
        return n < 0 || (size_t) n >= len ? -ENAMETOOLONG : 0;
}

int mnt_overlay(const struct mnt_root *spec, int *ret_rootfd, vs_error *err) {
        char opts[3 * 4096 + 64];
        /* The private layer's filesystem, detached until now: attached in
         * this mount namespace only (a slave of the host's by now, so
         * nothing propagates back), for an overlayfs that clones its
         * layers only from the caller's own namespace.  pivot_root's
         * detach of the old root takes this mount away again; the overlay
         * keeps its own clone. */
        if (spec->layer_at) {
                int r = sys_move_mount(spec->layer_fd, "", AT_FDCWD, spec->layer_at, MOVE_MOUNT_F_EMPTY_PATH);
                if (r < 0)
                        return vs_err_msg(err, -r, "attach the private layer's filesystem on %s", spec->layer_at);
        }
        if (mnt_overlay_opts(opts, sizeof(opts), spec->lower, spec->upper, spec->work) < 0)
                return vs_err_msg(err, ENAMETOOLONG, "overlay options");
        /* The overlay lives only in this mount namespace: when the instance's
         * last process dies the namespace goes and the mount with it, so a
         * crashed instance or daemon leaves nothing mounted on the host.
         * nodev: device nodes belong in /dev, which is ours, not in a
         * template or a private layer. */
        if (mount("overlay", spec->rootfs, "overlay", MS_NODEV, opts) < 0)
                return vs_err_msg(err, errno, "mount overlay (lowerdir=%s) on %s", spec->lower, spec->rootfs);
        int fd = open(spec->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return vs_err_msg(err, errno, "open %s", spec->rootfs);
        *ret_rootfd = fd;
        return 0;
}

/*
 * The plan: every mount the child makes inside the rootfs but the overlay,
 * the view's files and the console, as data, in the order the child
 * applies them (mnt_apply(), a group per step of the child's checklist).
 */
static const struct mnt_entry plan[] = {
        /* A fresh procfs shows this pid namespace only. */
        { MNT_PROC, MNT_FS, "proc", NULL, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0755 },
        /* A fresh sysfs shows this net namespace's devices; read-only
         * because the rest of it is the host's hardware. */
        { MNT_SYS, MNT_FS, "sys", NULL, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0755 },
        /* A directory of the (read-only) sysfs just mounted: nothing to
         * make.  Mounted from inside the cgroup namespace, the hierarchy's
         * root is the instance's own cgroup: everything above it stays out
         * of sight, and an init that builds its own tree (systemd) builds
         * it there.  Only cgroup2: no v1 hierarchy, so no release_agent.
         * Writable: on v2 the instance's limits sit one level above this
         * root (cgroups/cgroup.h, CG_PAYLOAD).  Made from inside the cgroup
         * namespace, the mount leaves the host's options alone. */
        { MNT_CGROUP, MNT_FS_THERE, "sys/fs/cgroup", NULL, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0 },
        /* /run and /run/lock: the options systemd (Debian's) mounts them
         * with when it boots a machine itself; it cannot here (no
         * CAP_SYS_ADMIN), and refuses to boot without them.  Bounded: the
         * pages are charged to the instance's memory cgroup anyway, the
         * size bounds what one runaway writer can pin.  In order: /run/lock
         * is made inside the fresh /run. */
        { MNT_RUN, MNT_FS, "run", NULL, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64m,nr_inodes=16k", 0755 },
        { MNT_RUN, MNT_FS, "run/lock", NULL, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=5m,nr_inodes=1k",
          0755 },
        /* A small tmpfs: the instance can create files there (sockets,
         * symlinks) but never fill host memory through /dev. */
        { MNT_DEV, MNT_FS, "dev", NULL, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=1m,nr_inodes=1024", 0755 },
        /* The host's device nodes an instance gets; nothing else (no
         * disks, no kmsg). */
        { MNT_DEV, MNT_NODE, "dev/null", "/dev/null", NULL, 0, NULL, 0 },
        { MNT_DEV, MNT_NODE, "dev/zero", "/dev/zero", NULL, 0, NULL, 0 },
        { MNT_DEV, MNT_NODE, "dev/full", "/dev/full", NULL, 0, NULL, 0 },
        { MNT_DEV, MNT_NODE, "dev/random", "/dev/random", NULL, 0, NULL, 0 },
        { MNT_DEV, MNT_NODE, "dev/urandom", "/dev/urandom", NULL, 0, NULL, 0 },
        { MNT_DEV, MNT_NODE, "dev/tty", "/dev/tty", NULL, 0, NULL, 0 },
        { MNT_DEV, MNT_LINK, "dev/fd", "/proc/self/fd", NULL, 0, NULL, 0 },
        { MNT_DEV, MNT_LINK, "dev/stdin", "/proc/self/fd/0", NULL, 0, NULL, 0 },
        { MNT_DEV, MNT_LINK, "dev/stdout", "/proc/self/fd/1", NULL, 0, NULL, 0 },
        { MNT_DEV, MNT_LINK, "dev/stderr", "/proc/self/fd/2", NULL, 0, NULL, 0 },
        { MNT_DEV, MNT_LINK, "dev/ptmx", "pts/ptmx", NULL, 0, NULL, 0 },
        /* A private devpts: the instance's ptys are invisible to the
         * host's and to other instances, and /dev/ptmx above points into
         * it. */
        { MNT_DEV, MNT_FS_NEWDIR, "dev/pts", NULL, "devpts", MS_NOSUID | MS_NOEXEC,
          "newinstance,ptmxmode=0666,mode=0620,gid=5", 0755 },
        { MNT_DEV, MNT_FS_NEWDIR, "dev/shm", NULL, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m", 01777 },
        /* mqueue shows the ipc namespace of whoever mounts it: ours. */
        { MNT_DEV, MNT_FS_NEWDIR, "dev/mqueue", NULL, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0755 },
        /* The paths OCI runtimes hide from a container: host hardware,
         * kernel memory, the keyring and timers of the whole host, the
         * magic sysrq key.  Files get /dev/null on top, directories an
         * empty read-only tmpfs. */
        /* Nesting (an unprivileged instance's choice): the kernel lets a
         * user namespace mount a new proc or sysfs only where one of the
         * same kind is fully visible in its mount namespace (no locked
         * mount covering anything in it: fs/namespace.c,
         * mount_too_revealing), and the instance's own have masks.  An
         * unmasked pair, out of the way under /dev, as LXC does for its
         * nesting containers.  What it shows is what the masks hide: the
         * files the kernel guards against a user namespace stay guarded
         * (kcore needs CAP_SYS_RAWIO of the host, sysrq-trigger and the
         * writable sysctls belong to the host's root); timer_list,
         * sched_debug and the like become readable (doc/architecture.md,
         * "Nesting"). */
        { MNT_NESTING, MNT_DIR, "dev/.vsd", NULL, NULL, 0, NULL, 0755 },
        { MNT_NESTING, MNT_FS_NEWDIR, "dev/.vsd/proc", NULL, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0755 },
        { MNT_NESTING, MNT_FS_NEWDIR, "dev/.vsd/sys", NULL, "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0755 },
        { MNT_MASKED, MNT_MASK, "proc/acpi", NULL, NULL, 0, NULL, 0 },
        { MNT_MASKED, MNT_MASK, "proc/asound", NULL, NULL, 0, NULL, 0 },
        { MNT_MASKED, MNT_MASK, "proc/kcore", NULL, NULL, 0, NULL, 0 },
        { MNT_MASKED, MNT_MASK, "proc/keys", NULL, NULL, 0, NULL, 0 },
        /* who on the host holds how many keys and bytes of them: root's
         * line is the host's own in a privileged instance */
        { MNT_MASKED, MNT_MASK, "proc/key-users", NULL, NULL, 0, NULL, 0 },
        { MNT_MASKED, MNT_MASK, "proc/latency_stats", NULL, NULL, 0, NULL, 0 },
        { MNT_MASKED, MNT_MASK, "proc/timer_list", NULL, NULL, 0, NULL, 0 },
        { MNT_MASKED, MNT_MASK, "proc/timer_stats", NULL, NULL, 0, NULL, 0 },
        { MNT_MASKED, MNT_MASK, "proc/sched_debug", NULL, NULL, 0, NULL, 0 },
        { MNT_MASKED, MNT_MASK, "proc/scsi", NULL, NULL, 0, NULL, 0 },
        { MNT_MASKED, MNT_MASK, "proc/sysrq-trigger", NULL, NULL, 0, NULL, 0 },
        { MNT_MASKED, MNT_MASK, "sys/firmware", NULL, NULL, 0, NULL, 0 },
        { MNT_MASKED, MNT_MASK, "sys/devices/virtual/powercap", NULL, NULL, 0, NULL, 0 },
        /* Host-wide kernel knobs that stay visible but not writable. */
        { MNT_READONLY, MNT_RDONLY, "proc/bus", NULL, NULL, 0, NULL, 0 },
        { MNT_READONLY, MNT_RDONLY, "proc/fs", NULL, NULL, 0, NULL, 0 },
        { MNT_READONLY, MNT_RDONLY, "proc/irq", NULL, NULL, 0, NULL, 0 },
        { MNT_READONLY, MNT_RDONLY, "proc/sys", NULL, NULL, 0, NULL, 0 },
};

const struct mnt_entry *mnt_plan(size_t *ret_n) {
        *ret_n = ELEMENTSOF(plan);
        return plan;
}

/* The directory an entry's target is in, below the rootfs, resolved there
 * (its links as if the rootfs were "/"): the rootfs itself for a target of
 * one component.  *leaf: the target's last component.  The fd of the last
 * parent opened is kept in *cache (with its path) for the entries after it
 * with the same parent (/dev's); the caller drops it after each new
 * filesystem. */
struct parent_cache {
        int fd;
        char path[64];
};

static int parent_of(int rootfd, const char *target, struct parent_cache *cache, const char **leaf,
                     vs_error *err) {
        const char *slash = strrchr(target, '/');
        if (!slash) {
                *leaf = target;
                return rootfd;
        }
        *leaf = slash + 1;
        size_t n = (size_t) (slash - target);
        if (cache->fd >= 0 && strlen(cache->path) == n && strncmp(cache->path, target, n) == 0)
                return cache->fd;
        safe_close(&cache->fd);
        if (n >= sizeof(cache->path))
                return vs_err_msg(err, ENAMETOOLONG, "open /%s", target);
        memcpy(cache->path, target, n);
        cache->path[n] = '\0';
        int fd = sys_openat2(rootfd, cache->path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                             RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        if (fd < 0)
                return vs_err_msg(err, -fd, "open /%s", cache->path);
        cache->fd = fd;
        return fd;
}

/* A new filesystem on the entry's target: a directory made if missing
 * (MNT_FS), made here and new (MNT_FS_NEWDIR) or there already
 * (MNT_FS_THERE). */
static int apply_fs(int rootfd, const struct mnt_entry *e, const struct mnt_params *params, struct parent_cache *cache,
                    vs_error *err) {
        char p[FD_PATH_MAX], data[128];
        const char *opts = e->data;
        /* the instance's ptys at once: each devpts instance counts its own,
         * and all but the host's share kernel.pty.max - kernel.pty.reserve */
        if (params && params->ptys && e->fstype && strcmp(e->fstype, "devpts") == 0) {
                snprintf(data, sizeof(data), "%s,max=%u", e->data, params->ptys);
                opts = data;
        }
        if (e->kind != MNT_FS_THERE) {
                const char *leaf;
                int dir = parent_of(rootfd, e->target, cache, &leaf, err);
                if (dir < 0)
                        return dir;
                if (mkdirat(dir, leaf, e->mode) < 0 && (errno != EEXIST || e->kind == MNT_FS_NEWDIR))
                        return vs_err_msg(err, errno, "mkdir /%s", e->target);
        }
        _cleanup_close_ int fd = sys_openat2(rootfd, e->target, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                                             RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        if (fd < 0)
                return vs_err_msg(err, -fd, "open /%s", e->target);
        if (mount(e->fstype, fd_path(fd, p), e->fstype, e->flags, opts) < 0)
                return vs_err_msg(err, errno, "mount %s on /%s", e->fstype, e->target);
        /* a parent resolved before may be below the new filesystem now */
        size_t n = strlen(e->target);
        if (strncmp(cache->path, e->target, n) == 0 && (cache->path[n] == '\0' || cache->path[n] == '/'))
                safe_close(&cache->fd);
        return 0;
}

/* Create an empty file in dir and a detached copy of the mount of src
 * (the host's node) in *ret_tree, attached by mnt_nodes_attach(). */
static int copy_node(int dir, const char *leaf, const char *src, const char *target, int *ret_tree, vs_error *err) {
        int fd = openat(dir, leaf, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return vs_err_msg(err, errno, "create /%s", target);
        close(fd);
        int tree = sys_open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (tree < 0)
                return vs_err_msg(err, -tree, "copy the mount of %s for /%s", src, target);
        *ret_tree = tree;
        return 0;
}

/* A masked directory gets an empty read-only tmpfs; every later one a bind
 * of that same tmpfs (*shared, its root, kept by mnt_apply): one
 * superblock for all of them, so a checkpoint saves one (CRIU archives
 * every tmpfs's content with a tar, gzip and shell of their own, on dump
 * and restore).  A bind keeps the source mount's read-only flag, and the
 * superblock is read-only besides. */
static int apply_mask(int rootfd, const struct mnt_entry *e, int *shared, vs_error *err) {
        char p[FD_PATH_MAX], src[FD_PATH_MAX];
        _cleanup_close_ int fd = open_in_root(rootfd, e->target);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return vs_err_msg(err, -fd, "open /%s", e->target);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return vs_err_msg(err, errno, "stat /%s", e->target);
        int r;
        if (!S_ISDIR(st.st_mode))
                r = mount("/dev/null", fd_path(fd, p), NULL, MS_BIND, NULL);
        else if (*shared >= 0)
                r = mount(fd_path(*shared, src), fd_path(fd, p), NULL, MS_BIND, NULL);
        else {
                r = mount("tmpfs", fd_path(fd, p), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          "size=4k,nr_inodes=1");
                /* the new mount's root, for the binds of the next ones */
                if (r == 0 && (*shared = open_in_root(rootfd, e->target)) < 0)
                        return vs_err_msg(err, -*shared, "open /%s", e->target);
        }
        if (r < 0)
                return vs_err_msg(err, errno, "mask /%s", e->target);
        return 0;
}

static int apply_readonly(int rootfd, const struct mnt_entry *e, vs_error *err) {
        char p[FD_PATH_MAX];
        {
                _cleanup_close_ int fd = open_in_root(rootfd, e->target);
                if (fd == -ENOENT)
                        return 0;
                if (fd < 0)
                        return vs_err_msg(err, -fd, "open /%s", e->target);
                if (mount(fd_path(fd, p), p, NULL, MS_BIND | MS_REC, NULL) < 0)
                        return vs_err_msg(err, errno, "bind /%s on itself", e->target);
        }
        /* A bind mount only takes MS_RDONLY on a remount, and the remount
         * must name the new mount's root: reopen. */
        _cleanup_close_ int fd = open_in_root(rootfd, e->target);
        if (fd < 0)
                return vs_err_msg(err, -fd, "open /%s", e->target);
        if (mount(NULL, fd_path(fd, p), NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  NULL) < 0)
                return vs_err_msg(err, errno, "remount /%s read-only", e->target);
        return 0;
}

int mnt_apply(int rootfd, enum mnt_group group, const struct mnt_params *params, vs_error *err) {
        struct parent_cache cache = { .fd = -EBADF };
        unsigned node = 0;
        int r = 0, mask_fs = -EBADF;
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(plan); i++) {
                const struct mnt_entry *e = &plan[i];
                const char *leaf;
                int dir;
                if (e->group != group)
                        continue;
                switch (e->kind) {
                case MNT_FS:
                case MNT_FS_NEWDIR:
                case MNT_FS_THERE:
                        r = apply_fs(rootfd, e, params, &cache, err);
                        break;
                case MNT_DIR:
                        dir = parent_of(rootfd, e->target, &cache, &leaf, err);
                        if (dir < 0)
                                r = dir;
                        else if (mkdirat(dir, leaf, e->mode) < 0 && errno != EEXIST)
                                r = vs_err_msg(err, errno, "mkdir /%s", e->target);
                        break;
                case MNT_NODE:
                case MNT_LINK:
                        dir = parent_of(rootfd, e->target, &cache, &leaf, err);
                        if (dir < 0)
                                r = dir;
                        else if (e->kind == MNT_NODE && (!params || !params->node_trees || node >= MNT_NODES_MAX))
                                r = vs_err_msg(err, EINVAL, "no place for the copy of %s", e->source);
                        else if (e->kind == MNT_NODE)
                                r = copy_node(dir, leaf, e->source, e->target, &params->node_trees[node++], err);
                        else if (symlinkat(e->source, dir, leaf) < 0)
                                r = vs_err_msg(err, errno, "symlink /%s", e->target);
                        break;
                case MNT_MASK:
                        r = apply_mask(rootfd, e, &mask_fs, err);
                        break;
                case MNT_RDONLY:
                        r = apply_readonly(rootfd, e, err);
                        break;
                }
        }
        safe_close(&cache.fd);
        safe_close(&mask_fs);
        return r;
}

int mnt_dev_console(int rootfd, int console, int *ret_tree, vs_error *err) {
        char link[FD_PATH_MAX], src[256];
        struct stat want, got;
        /* The console fd's mount belongs to the host's mount namespace, and a
         * mount's copy must come from ours: the same path in our copy of the
         * host's tree (/dev/pts/N), after checking it is the same device. */
        ssize_t n = readlink(fd_path(console, link), src, sizeof(src) - 1);
        if (n < 0)
                return vs_err_msg(err, errno, "readlink %s", link);
        src[n] = '\0';
        if (fstat(console, &want) < 0)
                return vs_err_msg(err, errno, "stat the console");
        if (src[0] != '/' || stat(src, &got) < 0 || !S_ISCHR(got.st_mode) || got.st_rdev != want.st_rdev)
                return vs_err_msg(err, ENOTTY, "console %s is not a reachable pty", src);
        _cleanup_close_ int devfd = open_dir_in_root(rootfd, "dev", err);
        if (devfd < 0)
                return devfd;
        int fd = openat(devfd, "console", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return vs_err_msg(err, errno, "create /dev/console");
        close(fd);
        int tree = sys_open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (tree < 0)
                return vs_err_msg(err, -tree, "copy the mount of %s", src);
        *ret_tree = tree;
        return 0;
}

int mnt_console_attach(int tree, vs_error *err) {
        /* after the pivot: "/" is the instance's root, and /dev the tmpfs
         * the child made, where nothing of the instance's is yet */
        int r = sys_move_mount(tree, "", AT_FDCWD, "/dev/console", MOVE_MOUNT_F_EMPTY_PATH);
        if (r < 0)
                return vs_err_msg(err, -r, "mount the console on /dev/console");
        return 0;
}

int mnt_nodes_attach(int *trees, vs_error *err) {
        unsigned node = 0;
        int r = 0;
        for (size_t i = 0; i < ELEMENTSOF(plan) && node < MNT_NODES_MAX; i++) {
                const struct mnt_entry *e = &plan[i];
                if (e->kind != MNT_NODE)
                        continue;
                int tree = trees[node];
                trees[node++] = -EBADF;
                if (tree < 0 || r < 0) {
                        safe_close(&tree);
                        continue;
                }
                /* after the pivot: "/" is the instance's root, its /dev
                 * the tmpfs made with the files, nothing of the
                 * instance's run yet; a link at the end is not followed */
                char at[64];
                snprintf(at, sizeof(at), "/%s", e->target);
                r = sys_move_mount(tree, "", AT_FDCWD, at, MOVE_MOUNT_F_EMPTY_PATH);
                safe_close(&tree);
                if (r < 0)
                        r = vs_err_msg(err, -r, "bind %s on %s", e->source, at);
        }
        return r;
}

int mnt_pivot_root(int rootfd, vs_error *err) {
        /* pivot_root(".", ".") stacks the old root on top of the new one;
         * detaching it leaves the rootfs as "/" with no path back to the
         * host's tree and no directory needed inside the rootfs for it. */
        if (fchdir(rootfd) < 0)
                return vs_err_msg(err, errno, "chdir to the rootfs");
        int r = sys_pivot_root(".", ".");
        if (r < 0)
                return vs_err_msg(err, -r, "pivot_root");
        if (umount2(".", MNT_DETACH) < 0)
                return vs_err_msg(err, errno, "detach the host's root");
        if (chdir("/") < 0)
                return vs_err_msg(err, errno, "chdir /");
        return 0;
}

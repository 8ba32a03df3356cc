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

/* The paths OCI runtimes hide from a container: host hardware, kernel
 * memory, the keyring and timers of the whole host, the magic sysrq key.
 * Files get /dev/null on top, directories an empty read-only tmpfs. */
static const char *const masked_paths[] = {
        "proc/acpi",
        "proc/asound",
        "proc/kcore",
        "proc/keys",
        "proc/latency_stats",
        "proc/timer_list",
        "proc/timer_stats",
        "proc/sched_debug",
        "proc/scsi",
        "proc/sysrq-trigger",
        "sys/firmware",
        "sys/devices/virtual/powercap",
};

/* Host-wide kernel knobs that stay visible but not writable. */
static const char *const readonly_paths[] = {
        "proc/bus",
        "proc/fs",
        "proc/irq",
        "proc/sys",
};

/* Host device nodes an instance gets; nothing else (no disks, no kmsg). */
static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };

static const struct {
        const char *name;
        const char *target;
} dev_links[] = {
        { "fd", "/proc/self/fd" },
        { "stdin", "/proc/self/fd/0" },
        { "stdout", "/proc/self/fd/1" },
        { "stderr", "/proc/self/fd/2" },
        { "ptmx", "pts/ptmx" },
};

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
                        return vs_err_msg(err, EINVAL, "Invalid overlay directory '%s': not an absolute path",
                                          dirs[i] ? dirs[i] : "(null)");
                /* overlayfs splits its options at ',' and lowerdir at ':'. */
                if (strpbrk(dirs[i], ",:\\"))
                        return vs_err_msg(err, EINVAL, "Invalid overlay directory '%s': contains ',', ':' or '\\'",
                                          dirs[i]);
        }
        return 0;
}

int mnt_make_slave(vs_error *err) {
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
                return vs_err_msg(err, errno, "make / a recursive slave");
        return 0;
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
        int n = snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", spec->lower, spec->upper,
                         spec->work);
        if (n < 0 || (size_t) n >= sizeof(opts))
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

int mnt_proc(int rootfd, vs_error *err) {
        char p[FD_PATH_MAX];
        _cleanup_close_ int fd = open_dir_in_root(rootfd, "proc", err);
        if (fd < 0)
                return fd;
        /* A fresh procfs shows this pid namespace only. */
        if (mount("proc", fd_path(fd, p), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                return vs_err_msg(err, errno, "mount proc on /proc");
        return 0;
}

int mnt_sys(int rootfd, vs_error *err) {
        char p[FD_PATH_MAX];
        _cleanup_close_ int fd = open_dir_in_root(rootfd, "sys", err);
        if (fd < 0)
                return fd;
        /* A fresh sysfs shows this net namespace's devices; read-only
         * because the rest of it is the host's hardware. */
        if (mount("sysfs", fd_path(fd, p), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                return vs_err_msg(err, errno, "mount sysfs on /sys");
        return 0;
}

int mnt_cgroup(int rootfd, vs_error *err) {
        char p[FD_PATH_MAX];
        /* A directory of the (read-only) sysfs just mounted: nothing to make. */
        _cleanup_close_ int fd = open_in_root(rootfd, "sys/fs/cgroup");
        if (fd < 0)
                return vs_err_msg(err, -fd, "open /sys/fs/cgroup");
        /* Mounted from inside the cgroup namespace, the hierarchy's root is
         * the instance's own cgroup: everything above it stays out of
         * sight, and an init that builds its own tree (systemd) builds it
         * there.  Only cgroup2: no v1 hierarchy, so no release_agent.
         * Writable: on v2 the instance's limits sit one level above this
         * root (cgroups/cgroup.h, CG_PAYLOAD).  Made from inside the
         * cgroup namespace, the mount leaves the host's options alone. */
        unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
        if (mount("cgroup2", fd_path(fd, p), "cgroup2", flags, NULL) < 0)
                return vs_err_msg(err, errno, "mount cgroup2 on /sys/fs/cgroup");
        return 0;
}

/* /run and /run/lock: the options systemd (Debian's) mounts them with when
 * it boots a machine itself; it cannot here (no CAP_SYS_ADMIN), and refuses
 * to boot without them.  Bounded: the pages are charged to the instance's
 * memory cgroup anyway, the size bounds what one runaway writer can pin. */
static const struct {
        const char *path;
        unsigned long flags;
        const char *opts;
} run_mounts[] = {
        { "run", MS_NOSUID | MS_NODEV, "mode=755,size=64m,nr_inodes=16k" },
        { "run/lock", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=5m,nr_inodes=1k" },
};

int mnt_run(int rootfd, vs_error *err) {
        char p[FD_PATH_MAX];
        /* In order: /run/lock is made inside the fresh /run, so mkdirat()
         * never walks a link of the instance's (and "run" is one component,
         * which mkdirat() does not follow). */
        for (size_t i = 0; i < ELEMENTSOF(run_mounts); i++) {
                if (mkdirat(rootfd, run_mounts[i].path, 0755) < 0 && errno != EEXIST)
                        return vs_err_msg(err, errno, "mkdir /%s", run_mounts[i].path);
                _cleanup_close_ int fd = sys_openat2(rootfd, run_mounts[i].path, O_PATH | O_DIRECTORY | O_CLOEXEC,
                                                     0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
                if (fd < 0)
                        return vs_err_msg(err, -fd, "open /%s", run_mounts[i].path);
                if (mount("tmpfs", fd_path(fd, p), "tmpfs", run_mounts[i].flags, run_mounts[i].opts) < 0)
                        return vs_err_msg(err, errno, "mount tmpfs on /%s", run_mounts[i].path);
        }
        return 0;
}

static int dev_mount(int devfd, const char *name, mode_t mode, const char *type, unsigned long flags,
                     const char *opts, vs_error *err) {
        char p[FD_PATH_MAX + 16];
        if (mkdirat(devfd, name, mode) < 0)
                return vs_err_msg(err, errno, "mkdir /dev/%s", name);
        snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", devfd, name);
        if (mount(type, p, type, flags, opts) < 0)
                return vs_err_msg(err, errno, "mount %s on /dev/%s", type, name);
        return 0;
}

/* Create an empty file in our /dev tmpfs and bind src on it. */
static int dev_bind(int devfd, const char *src, const char *name, vs_error *err) {
        char p[FD_PATH_MAX + 16];
        int fd = openat(devfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return vs_err_msg(err, errno, "create /dev/%s", name);
        close(fd);
        snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", devfd, name);
        if (mount(src, p, NULL, MS_BIND, NULL) < 0)
                return vs_err_msg(err, errno, "bind %s on /dev/%s", src, name);
        return 0;
}

int mnt_dev(int rootfd, vs_error *err) {
        char p[FD_PATH_MAX];
        int r;
        {
                _cleanup_close_ int fd = open_dir_in_root(rootfd, "dev", err);
                if (fd < 0)
                        return fd;
                /* Bounded: the instance can create files here (sockets,
                 * symlinks) but never fill host memory through /dev. */
                if (mount("tmpfs", fd_path(fd, p), "tmpfs", MS_NOSUID | MS_NOEXEC,
                          "mode=755,size=1m,nr_inodes=1024") < 0)
                        return vs_err_msg(err, errno, "mount tmpfs on /dev");
        }
        /* Reopen: the fd above is the directory under the new tmpfs. */
        _cleanup_close_ int devfd = open_dir_in_root(rootfd, "dev", err);
        if (devfd < 0)
                return devfd;

        for (size_t i = 0; i < ELEMENTSOF(dev_nodes); i++) {
                char src[32];
                snprintf(src, sizeof(src), "/dev/%s", dev_nodes[i]);
                r = dev_bind(devfd, src, dev_nodes[i], err);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(dev_links); i++)
                if (symlinkat(dev_links[i].target, devfd, dev_links[i].name) < 0)
                        return vs_err_msg(err, errno, "symlink /dev/%s", dev_links[i].name);

        /* A private devpts: the instance's ptys are invisible to the host's
         * and to other instances, and /dev/ptmx above points into it. */
        r = dev_mount(devfd, "pts", 0755, "devpts", MS_NOSUID | MS_NOEXEC,
                      "newinstance,ptmxmode=0666,mode=0620,gid=5", err);
        if (r < 0)
                return r;
        r = dev_mount(devfd, "shm", 01777, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m", err);
        if (r < 0)
                return r;
        /* mqueue shows the ipc namespace of whoever mounts it: ours. */
        r = dev_mount(devfd, "mqueue", 0755, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err);
        if (r < 0)
                return r;
        return 0;
}

int mnt_dev_console(int rootfd, int console, vs_error *err) {
        char link[FD_PATH_MAX], src[256];
        struct stat want, got;
        /* The console fd's mount belongs to the host's mount namespace, and a
         * bind source must be in ours: bind the same path in our copy of the
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
        return dev_bind(devfd, src, "console", err);
}

int mnt_masked_paths(int rootfd, vs_error *err) {
        char p[FD_PATH_MAX];
        for (size_t i = 0; i < ELEMENTSOF(masked_paths); i++) {
                _cleanup_close_ int fd = open_in_root(rootfd, masked_paths[i]);
                if (fd == -ENOENT)
                        continue;
                if (fd < 0)
                        return vs_err_msg(err, -fd, "open /%s", masked_paths[i]);
                struct stat st;
                if (fstat(fd, &st) < 0)
                        return vs_err_msg(err, errno, "stat /%s", masked_paths[i]);
                int r = S_ISDIR(st.st_mode)
                        ? mount("tmpfs", fd_path(fd, p), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                "size=4k,nr_inodes=1")
                        : mount("/dev/null", fd_path(fd, p), NULL, MS_BIND, NULL);
                if (r < 0)
                        return vs_err_msg(err, errno, "mask /%s", masked_paths[i]);
        }
        return 0;
}

int mnt_readonly_paths(int rootfd, vs_error *err) {
        char p[FD_PATH_MAX];
        for (size_t i = 0; i < ELEMENTSOF(readonly_paths); i++) {
                {
                        _cleanup_close_ int fd = open_in_root(rootfd, readonly_paths[i]);
                        if (fd == -ENOENT)
                                continue;
                        if (fd < 0)
                                return vs_err_msg(err, -fd, "open /%s", readonly_paths[i]);
                        if (mount(fd_path(fd, p), p, NULL, MS_BIND | MS_REC, NULL) < 0)
                                return vs_err_msg(err, errno, "bind /%s on itself", readonly_paths[i]);
                }
                /* A bind mount only takes MS_RDONLY on a remount, and the
                 * remount must name the new mount's root: reopen. */
                _cleanup_close_ int fd = open_in_root(rootfd, readonly_paths[i]);
                if (fd < 0)
                        return vs_err_msg(err, -fd, "open /%s", readonly_paths[i]);
                if (mount(NULL, fd_path(fd, p), NULL,
                          MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                        return vs_err_msg(err, errno, "remount /%s read-only", readonly_paths[i]);
        }
        return 0;
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

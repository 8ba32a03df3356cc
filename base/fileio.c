/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/util.h"

static int write_all(int fd, const void *data, size_t len) {
        const char *p = data;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static int write_replace(const char *path, const void *data, size_t len, mode_t mode, bool durable) {
        char tmp[PATH_MAX], dir[PATH_MAX];
        int r = 0;

        if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int) sizeof(tmp))
                return -ENAMETOOLONG;
        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0 || (r = write_all(fd, data, len)) < 0 || (durable && fsync(fd) < 0)) {
                if (r == 0)
                        r = -errno;
                unlink(tmp);
                return r;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                unlink(tmp);
                return r;
        }
        if (!durable)
                return 0;
        snprintf(dir, sizeof(dir), "%s", path);
        _cleanup_close_ int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

int vs_write_all(int fd, const void *data, size_t len) {
        const char *p = data;
        while (len > 0) {
                ssize_t k = write(fd, p, len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EIO;
                p += k;
                len -= (size_t) k;
        }
        return 0;
}

int vs_write_atomic(const char *path, const void *data, size_t len, mode_t mode) {
        return write_replace(path, data, len, mode, true);
}

int vs_write_replace(const char *path, const void *data, size_t len, mode_t mode) {
        return write_replace(path, data, len, mode, false);
}

int vs_fsync_dir(const char *dir) {
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
                return -errno;
        return 0;
}

int vs_rename_durable(const char *from, const char *to) {
        if (rename(from, to) < 0)
                return -errno;
        _cleanup_free_ char *copy = strdup(to);
        if (!copy)
                return -ENOMEM;
        return vs_fsync_dir(dirname(copy));
}

/* The one raw syscall of base/ (vsd/core/syscalls.h holds the daemon's):
 * openat2() with how->mode only when creating, as the kernel insists. */
static int open_how(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve) {
        struct open_how how = {
                .flags = (uint64_t) flags,
                .mode = flags & O_CREAT ? mode : 0,
                .resolve = resolve,
        };
        long r = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
        return r < 0 ? -errno : (int) r;
}

const char *vs_file_kind(mode_t mode) {
        switch (mode & S_IFMT) {
        case S_IFREG:
                return "a regular file";
        case S_IFDIR:
                return "a directory";
        case S_IFLNK:
                return "a symbolic link";
        case S_IFIFO:
                return "a FIFO";
        case S_IFSOCK:
                return "a socket";
        case S_IFCHR:
                return "a character device";
        case S_IFBLK:
                return "a block device";
        default:
                return "a file of unknown type";
        }
}

int vs_open_inside(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve, vs_error *err) {
        const char *lead = path[0] == '/' ? "" : "/";
        bool want_dir = flags & O_DIRECTORY;
        int io = (flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_DIRECTORY)) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
        struct stat st, now;

        /* First what is there, by an O_PATH fd: that opens nothing for I/O,
         * whatever the file is. */
        _cleanup_close_ int probe = open_how(dirfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, resolve);
        if (probe == -ENOENT && (flags & O_CREAT) && !want_dir) {
                /* O_EXCL: only a file made here and now, never one that
                 * appeared meanwhile (a dangling link included) */
                int fd = open_how(dirfd, path, io | O_CREAT | O_EXCL, mode, resolve);
                if (fd >= 0 || fd != -EEXIST)
                        return fd >= 0 ? fd : vs_err(err, -fd, "create %s%s", lead, path);
                probe = open_how(dirfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, resolve);
        }
        if (probe < 0)
                return vs_err(err, -probe, "open %s%s", lead, path);
        if (fstat(probe, &st) < 0)
                return vs_err(err, errno, "stat %s%s", lead, path);
        if (S_ISLNK(st.st_mode))
                return vs_err_msg(err, ELOOP, "%s%s is a symbolic link", lead, path);
        if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
                return vs_err_msg(err, VS_EBADTYPE, "%s%s is %s, not %s", lead, path, vs_file_kind(st.st_mode),
                                  want_dir ? "a directory" : "a regular file");

        /* Then the same file for I/O: non-blocking and not followed again,
         * since it may have been swapped since, and checked to be the one
         * looked at. */
        int fd = open_how(dirfd, path, io | (want_dir ? O_DIRECTORY : 0), 0, resolve);
        if (fd < 0)
                return vs_err(err, -fd, "open %s%s", lead, path);
        if (fstat(fd, &now) < 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
                close(fd);
                return vs_err_msg(err, VS_EBADTYPE, "%s%s was replaced while it was being opened", lead, path);
        }
        if ((flags & O_TRUNC) && !want_dir && ftruncate(fd, 0) < 0) {
                int e = errno;
                close(fd);
                return vs_err(err, e, "truncate %s%s", lead, path);
        }
        return fd;
}

/* For the daemon's own small files: never wait on a FIFO planted in their
 * place, never read a device. */
static int open_regular(const char *path, int flags) {
        int fd = open(path, flags | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct stat st;
        int r = fstat(fd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -VS_EBADTYPE;
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

int vs_read_file(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = open_regular(path, O_RDONLY);
        if (fd < 0)
                return fd;
        size_t cap = 4096, len = 0;
        _cleanup_free_ char *buf = malloc(cap + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (len == cap) {
                        if (cap >= max)
                                return -EFBIG;
                        cap = cap * 2 > max ? max : cap * 2;
                        char *n = realloc(buf, cap + 1);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                }
                ssize_t k = read(fd, buf + len, cap - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        buf[len] = '\0';
        if (ret_len)
                *ret_len = len;
        *ret = TAKE_PTR(buf);
        return 0;
}

int vs_read_line(const char *path, char *buf, size_t len) {
        _cleanup_close_ int fd = open_regular(path, O_RDONLY);
        if (fd < 0)
                return fd;
        ssize_t n = read(fd, buf, len - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        char *nl = strchr(buf, '\n');
        if (nl)
                *nl = '\0';
        return 0;
}

int vs_write_string(const char *path, const char *s) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, s, strlen(s));
        if (n < 0)
                return -errno;
        return 0;
}

int vs_mkdir_p(const char *path, mode_t mode) {
        char buf[PATH_MAX];
        if (snprintf(buf, sizeof(buf), "%s", path) >= (int) sizeof(buf))
                return -ENAMETOOLONG;
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int rm_rf_at(int dfd, dev_t dev) {
        _cleanup_close_ int fd = dup(dfd);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd);
        int ret = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        if (st.st_dev != dev) {
                                ret = -EBUSY;
                                continue;
                        }
                        int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0) {
                                ret = -errno;
                                continue;
                        }
                        int r = rm_rf_at(sub, dev);
                        close(sub);
                        if (r < 0)
                                ret = r;
                        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && ret == 0)
                                ret = -errno;
                } else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && ret == 0)
                        ret = -errno;
        }
        closedir(d);
        return ret;
}

int vs_rm_rf_at(int dirfd, const char *name) {
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = rm_rf_at(fd, st.st_dev);
        if (r < 0)
                return r;
        return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

int vs_rm_rf(const char *path) {
        return vs_rm_rf_at(AT_FDCWD, path);
}

int vs_lock_file(const char *path, int *ret_fd) {
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

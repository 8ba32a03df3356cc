/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading and writing cgroup files relative to a hierarchy's <parent> fd.
 * Everything goes through openat() on an fd opened once per daemon, so an
 * instance start costs no path walk from / and no libcgroup bookkeeping.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "cgroups/cgroup-internal.h"

static int rel_path(char *buf, size_t len, const char *name, const char *file) {
        int n = name ? snprintf(buf, len, "%s/%s", name, file) : snprintf(buf, len, "%s", file);
        return n < 0 || (size_t) n >= len ? -ENAMETOOLONG : 0;
}

static int open_at(int dfd, const char *name, const char *file, int flags) {
        char p[PATH_MAX];
        int r = rel_path(p, sizeof(p), name, file);
        if (r < 0)
                return r;
        int fd = openat(dfd, p, flags | O_CLOEXEC | O_NOFOLLOW);
        return fd < 0 ? -errno : fd;
}

int cg_file_write(int dfd, const char *name, const char *file, const char *val) {
        _cleanup_close_ int fd = open_at(dfd, name, file, O_WRONLY | O_TRUNC);
        if (fd < 0)
                return fd;
        size_t len = strlen(val);
        /* cgroupfs takes one write() per value; a short write would be a
         * truncated value, so it counts as an error */
        ssize_t n = write(fd, val, len);
        if (n < 0)
                return -errno;
        return (size_t) n == len ? 0 : -EIO;
}

static int read_fd(int fd, char *buf, size_t len) {
        size_t got = 0;
        while (got < len - 1) {
                ssize_t n = pread(fd, buf + got, len - 1 - got, (off_t) got);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                got += (size_t) n;
        }
        buf[got] = '\0';
        return (int) got;
}

int cg_file_read(int dfd, const char *name, const char *file, char *buf, size_t len) {
        _cleanup_close_ int fd = open_at(dfd, name, file, O_RDONLY);
        if (fd < 0)
                return fd;
        int n = read_fd(fd, buf, len);
        if (n < 0)
                return n;
        if (n > 0 && buf[n - 1] == '\n')
                buf[--n] = '\0';
        return n;
}

int cg_file_read_all(int dfd, const char *name, const char *file, char **ret) {
        _cleanup_close_ int fd = open_at(dfd, name, file, O_RDONLY);
        if (fd < 0)
                return fd;
        size_t cap = 4096, len = 0;
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (cap - len < 2) {
                        if (cap >= (64u << 20))
                                return -EFBIG;
                        char *n = realloc(buf, cap * 2);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                        cap *= 2;
                }
                ssize_t k = read(fd, buf + len, cap - 1 - len);
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
        *ret = TAKE_PTR(buf);
        return 0;
}

static int parse_u64(const char *s, uint64_t *ret) {
        while (*s == ' ' || *s == '\t')
                s++;
        if (strncmp(s, "max", 3) == 0 || *s == '-') {
                *ret = UINT64_MAX;
                return 0;
        }
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0 || end == s || (*end && *end != '\n' && *end != ' '))
                return -EINVAL;
        *ret = v;
        return 0;
}

int cg_file_read_u64(int dfd, const char *name, const char *file, uint64_t *ret) {
        char buf[64];
        int r = cg_file_read(dfd, name, file, buf, sizeof(buf));
        if (r < 0)
                return r;
        return parse_u64(buf, ret);
}

int cg_parse_key(const char *text, const char *key, uint64_t *ret) {
        size_t klen = strlen(key);
        const char *p = text;
        while (p && *p) {
                if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
                        return parse_u64(p + klen + 1, ret);
                p = strchr(p, '\n');
                if (p)
                        p++;
        }
        return -ENODATA;
}

int cg_file_read_key(int dfd, const char *name, const char *file, const char *key, uint64_t *ret) {
        char buf[4096];
        int r = cg_file_read(dfd, name, file, buf, sizeof(buf));
        if (r < 0)
                return r;
        return cg_parse_key(buf, key, ret);
}

uint64_t cg_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

int cg_file_wait_key(int dfd, const char *name, const char *file, const char *key, uint64_t want,
                     unsigned timeout_ms) {
        _cleanup_close_ int fd = open_at(dfd, name, file, O_RDONLY);
        if (fd < 0)
                return fd;
        uint64_t deadline = cg_now_ms() + timeout_ms;
        for (;;) {
                /* reading re-arms the notification: read first, then poll,
                 * so a change between the two wakes us up */
                char buf[512];
                uint64_t v;
                int r = read_fd(fd, buf, sizeof(buf));
                if (r < 0)
                        return r;
                r = cg_parse_key(buf, key, &v);
                if (r < 0)
                        return r;
                if (v == want)
                        return 0;
                uint64_t now = cg_now_ms();
                if (now >= deadline)
                        return -ETIMEDOUT;
                struct pollfd pfd = { .fd = fd, .events = POLLPRI };
                r = poll(&pfd, 1, (int) (deadline - now));
                if (r < 0 && errno != EINTR)
                        return -errno;
        }
}

int cg_put(const struct cg_hier *h, const char *name, const char *file, const char *val, bool optional,
           vs_error *err) {
        int r = cg_file_write(h->parent_fd, name, file, val);
        if (r == -ENOENT && optional)
                return 0;
        if (r < 0)
                return vs_err(err, -r, "write '%s' to %s/%s/%s", val, h->path, name, file);
        return 0;
}

int cg_get_key(const struct cg_hier *h, const char *name, const char *file, const char *key, uint64_t *ret) {
        if (!h)
                return 0;
        int r = cg_file_read_key(h->parent_fd, name, file, key, ret);
        return r == -ENOENT || r == -ENODATA ? 0 : r;
}

/* One row's value out of an already read file. */
static int row_value(const struct cg_stat_row *row, const char *text, uint64_t *ret) {
        switch (row->kind) {
        case CG_ROW_VALUE:
                return parse_u64(text, ret);
        case CG_ROW_KEY:
                return cg_parse_key(text, row->key, ret);
        case CG_ROW_SUM:
                *ret = cg_sum_io(text, row->key);
                return 0;
        }
        return -EINVAL;
}

/* A counter file into buf, NUL-terminated.  Each is a seq_file with a
 * single record (one show call, for which the kernel grows its buffer until
 * the record fits), so one read returns all of it: asking again for the end
 * would cost a syscall per file, a third of a counter's price.  (Files of
 * many records, cgroup.procs, may come in pieces: cg_file_read_all.)  A
 * buffer filled to the brim means it might not be all: -EFBIG. */
static int read_once(int fd, char *buf, size_t len) {
        ssize_t n;
        /* at offset 0 a seq_file starts over: a held fd reads fresh values */
        do
                n = pread(fd, buf, len - 1, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if ((size_t) n == len - 1)
                return -EFBIG;
        buf[n] = '\0';
        return (int) n;
}

/* One counter file, from a held fd (opened on first use) or opened now. */
static int read_counter_file(int dfd, const char *name, const char *file, int *held, char *buf, size_t len) {
        if (held && *held == -EBADF) {
                int fd = open_at(dfd, name, file, O_RDONLY);
                if (fd < 0 && fd != -ENOENT)
                        return fd;
                *held = fd;
        }
        if (held && *held == -ENOENT)
                return -ENOENT;
        if (held)
                return read_once(*held, buf, len);
        _cleanup_close_ int fd = open_at(dfd, name, file, O_RDONLY);
        if (fd < 0)
                return fd;
        return read_once(fd, buf, len);
}

int cg_read_rows(struct cg_manager *m, const char *name, const struct cg_stat_row *rows, size_t n,
                 bool counters_only, struct cg_counter_fds *fds, void *base, vs_error *err) {
        for (size_t i = 0, g = 0; i < n; g++) {
                /* rows i..j-1 come from the same file */
                size_t j = i + 1;
                while (j < n && rows[j].ctrl == rows[i].ctrl && streq(rows[j].file, rows[i].file))
                        j++;
                struct cg_hier *h = cg_hier_of(m, rows[i].ctrl);
                if (!h || (counters_only && rows[i].setting)) {
                        i = j;
                        continue;
                }
                /* memory.stat is ~1.5 KiB on v1 and ~3 KiB on v2; a device
                 * list on a host with very many disks may be longer */
                char buf[8192];
                _cleanup_free_ char *all = NULL;
                const char *text = buf;
                int *held = fds && g < CG_COUNTER_FILES_MAX ? &fds->fd[g] : NULL;
                int r = read_counter_file(h->parent_fd, name, rows[i].file, held, buf, sizeof(buf));
                if (r == -EFBIG) {
                        r = cg_file_read_all(h->parent_fd, name, rows[i].file, &all);
                        text = all;
                }
                if (r == -ENOENT) {
                        i = j;
                        continue;
                }
                if (r < 0)
                        return vs_err(err, -r, "read %s/%s/%s", h->path, name, rows[i].file);
                for (; i < j; i++) {
                        uint64_t v;
                        r = row_value(&rows[i], text, &v);
                        if (r == -ENODATA)
                                continue;
                        if (r < 0)
                                return vs_err(err, -r, "parse %s/%s/%s%s%s", h->path, name, rows[i].file,
                                              rows[i].key ? " " : "", rows[i].key ? rows[i].key : "");
                        *(uint64_t *) ((char *) base + rows[i].offset) = v;
                }
        }
        return 0;
}

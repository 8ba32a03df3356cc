/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/core/evjournal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include "base/fileio.h"
#include "base/util.h"

/* "xxxxxxxx " before the JSON */
#define EVJ_PREFIX 9

struct evj {
        char *path, *old_path;
        int fd;
        size_t seg_records, seg_bytes;
        size_t records; /* in the current segment */
        uint64_t size;  /* bytes of whole records in the current segment */
};

static uint32_t crc_of(const char *s, size_t len) {
        return (uint32_t) crc32(0L, (const Bytef *) s, (uInt) len);
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* One line without its newline: the JSON when its checksum holds. */
static bool record_ok(const char *line, size_t len, const char **ret_json, size_t *ret_len) {
        uint32_t want = 0;
        if (len <= EVJ_PREFIX || line[EVJ_PREFIX - 1] != ' ')
                return false;
        for (size_t k = 0; k < 8; k++) {
                int h = hexval(line[k]);
                if (h < 0)
                        return false;
                want = want << 4 | (uint32_t) h;
        }
        if (crc_of(line + EVJ_PREFIX, len - EVJ_PREFIX) != want)
                return false;
        *ret_json = line + EVJ_PREFIX;
        *ret_len = len - EVJ_PREFIX;
        return true;
}

/* The last max bytes of a segment at most (a bound on what a start reads,
 * whatever was left there), from the first whole line on.  -ENOENT when
 * there is none. */
static int read_segment(const char *path, size_t max, char **ret, size_t *ret_len, off_t *ret_start) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        struct stat st;
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -VS_EBADTYPE;
        off_t start = (uint64_t) st.st_size > max ? st.st_size - (off_t) max : 0;
        size_t want = (size_t) (st.st_size - start);
        _cleanup_free_ char *buf = malloc(want + 1);
        if (!buf)
                return -ENOMEM;
        size_t got = 0;
        while (got < want) {
                ssize_t n = pread(fd, buf + got, want - got, start + (off_t) got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                got += (size_t) n;
        }
        buf[got] = '\0';
        *ret_start = start;
        *ret_len = got;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* Hand the good records of one segment to cb.  For the current segment,
 * ret_whole (may be NULL) is the length of its whole lines: what follows is
 * a torn record. */
static void load_segment(const char *buf, size_t len, bool cut, evj_record_cb cb, void *ud, struct evj_load *load,
                         size_t *ret_records, size_t *ret_whole) {
        size_t pos = 0, records = 0;
        if (cut) {
                /* started inside a line: from the next one on */
                const char *nl = memchr(buf, '\n', len);
                pos = nl ? (size_t) (nl - buf) + 1 : len;
        }
        while (pos < len) {
                const char *nl = memchr(buf + pos, '\n', len - pos);
                if (!nl)
                        break;
                size_t n = (size_t) (nl - (buf + pos));
                const char *json;
                size_t jlen;
                if (record_ok(buf + pos, n, &json, &jlen)) {
                        cb(json, jlen, ud);
                        load->records++;
                        records++;
                } else if (n > 0)
                        load->damaged++;
                pos += n + 1;
        }
        load->torn += len - pos;
        if (ret_records)
                *ret_records = records;
        if (ret_whole)
                *ret_whole = pos;
}

static int open_current(struct evj *j, bool truncate) {
        int fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (truncate ? O_TRUNC : 0), 0600);
        if (fd < 0)
                return -errno;
        j->fd = fd;
        return 0;
}

int evj_open(const char *path, size_t seg_records, size_t seg_bytes, evj_record_cb cb, void *userdata,
             struct evj **ret, struct evj_load *ret_load, vs_error *err) {
        struct evj_load load = { 0 };
        struct evj *j = calloc(1, sizeof(*j));
        if (!j)
                return vs_err(err, ENOMEM, "Failed to open the event journal");
        j->fd = -EBADF;
        j->seg_records = seg_records ? seg_records : 1;
        j->seg_bytes = seg_bytes ? seg_bytes : 1;
        j->path = strdup(path);
        if (!j->path || asprintf(&j->old_path, "%s.old", path) < 0) {
                j->old_path = NULL;
                evj_close(j);
                return vs_err(err, ENOMEM, "Failed to open the event journal");
        }
        /* a segment ends at the first record past its bound: read a little more */
        size_t max = j->seg_bytes + (j->seg_bytes >> 1) + 65536;
        const char *paths[] = { j->old_path, j->path };
        for (size_t k = 0; k < ELEMENTSOF(paths); k++) {
                _cleanup_free_ char *buf = NULL;
                size_t len = 0, whole = 0;
                off_t start = 0;
                int r = read_segment(paths[k], max, &buf, &len, &start);
                if (r == -ENOENT)
                        continue;
                if (r < 0) {
                        vs_err(err, -r, "Failed to read the event journal %s", paths[k]);
                        evj_close(j);
                        return r;
                }
                load_segment(buf, len, start > 0, cb, userdata, &load, k == 1 ? &j->records : NULL, &whole);
                if (k == 1 && whole < len && truncate(path, start + (off_t) whole) < 0) {
                        /* a torn last record: cut off, or the next one
                         * would be glued to it and lost too */
                        r = -errno;
                        vs_err(err, -r, "Failed to cut the torn end off the event journal %s", path);
                        evj_close(j);
                        return r;
                }
        }
        int r = open_current(j, false);
        if (r < 0) {
                evj_close(j);
                return vs_err(err, -r, "Failed to open the event journal %s", path);
        }
        /* appends go after whatever is there (cut was at a line's end) */
        struct stat st;
        if (fstat(j->fd, &st) == 0)
                j->size = (uint64_t) st.st_size;
        *ret = j;
        if (ret_load)
                *ret_load = load;
        return 0;
}

/* The current segment is full: it becomes the old one (the older dropped)
 * and a new one starts.  rename() is atomic: a crash leaves either the two
 * old segments or the new old one and none (or an empty one) current. */
static int rotate(struct evj *j) {
        if (rename(j->path, j->old_path) < 0)
                return -errno;
        close(j->fd);
        j->fd = -EBADF;
        j->records = 0;
        j->size = 0;
        return open_current(j, true);
}

int evj_append(struct evj *j, const char *json, size_t len) {
        if (!j)
                return 0;
        if (j->fd < 0) {
                /* a rotation that failed to reopen: again now */
                int r = open_current(j, false);
                if (r < 0)
                        return r;
        }
        char prefix[EVJ_PREFIX + 1];
        snprintf(prefix, sizeof(prefix), "%08x ", crc_of(json, len));
        struct iovec iov[] = {
                { .iov_base = prefix, .iov_len = EVJ_PREFIX },
                { .iov_base = (void *) json, .iov_len = len },
                { .iov_base = (void *) "\n", .iov_len = 1 },
        };
        size_t total = EVJ_PREFIX + len + 1;
        ssize_t n = writev(j->fd, iov, ELEMENTSOF(iov));
        if (n < 0 || (size_t) n != total) {
                int e = n < 0 ? errno : ENOSPC;
                /* no torn record left for the next one to be glued to */
                if (n > 0)
                        (void) ftruncate(j->fd, (off_t) j->size);
                return -e;
        }
        j->size += total;
        j->records++;
        /* the record is written either way; a rotation that fails is
         * tried again after the next one */
        if (j->records >= j->seg_records || j->size >= j->seg_bytes)
                (void) rotate(j);
        return 0;
}

void evj_close(struct evj *j) {
        if (!j)
                return;
        if (j->fd >= 0) {
                (void) fdatasync(j->fd);
                close(j->fd);
        }
        free(j->path);
        free(j->old_path);
        free(j);
}

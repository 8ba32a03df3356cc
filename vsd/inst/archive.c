/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An instance's archive (archive.h) with libarchive: written as a pax tar
 * (GNU sparse 1.0 for sparse files), read back with every member checked
 * before it is written.
 */
#include "vsd/inst/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/parse.h"
#include "base/util.h"
#include "vsd/core/syscalls.h"

/* the last member: how many came before it (after config.ini) and their
 * data, so that an archive cut between two members is found out */
#define ARC_END "end.json"
#define ARC_BLOCK (1 << 20)

static int arc_fail(vs_error *err, struct archive *a, const char *what, const char *name) {
        int e = archive_errno(a);
        const char *why = archive_error_string(a);
        return vs_err_msg(err, e > 0 ? e : EIO, "%s %s: %s", what, name, why ? why : "damaged or cut short");
}

/* ---- writing -------------------------------------------------------------- */

struct arc_writer {
        struct archive *a;
        struct vs_progress *p;
        uint64_t done, paced;
        uint64_t shown_from; /* progress counts from here (arc_writer_recount) */
        unsigned members;
        arc_tap_fn tap;      /* told of every piece of a file's data */
        void *tap_ctx;
        void *zeros; /* ARC_BLOCK of zeros, standing for holes */
        void *buf;
};

int arc_writer_open(int fd, bool zstd, struct vs_progress *p, struct arc_writer **ret, vs_error *err) {
        struct arc_writer *w = calloc(1, sizeof(*w));
        if (!w || !(w->zeros = calloc(1, ARC_BLOCK)) || !(w->buf = malloc(ARC_BLOCK)) || !(w->a = archive_write_new())) {
                arc_writer_free(w);
                return vs_err(err, ENOMEM, "start an archive");
        }
        w->p = p;
        /* names that are not text in this locale are stored as the
         * filesystem has them (the writer switches that member's header
         * to binary, and says so with a warning) */
        if (archive_write_set_format_pax(w->a) != ARCHIVE_OK ||
            (zstd && archive_write_add_filter_zstd(w->a) != ARCHIVE_OK) ||
            archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK || archive_write_open_fd(w->a, fd) != ARCHIVE_OK) {
                int r = arc_fail(err, w->a, "start", "the archive");
                arc_writer_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

void arc_writer_free(struct arc_writer *w) {
        if (!w)
                return;
        if (w->a)
                archive_write_free(w->a);
        free(w->zeros);
        free(w->buf);
        free(w);
}

void arc_writer_tap(struct arc_writer *w, arc_tap_fn fn, void *ctx) {
        w->tap = fn;
        w->tap_ctx = ctx;
}

void arc_writer_recount(struct arc_writer *w) {
        w->shown_from = w->done;
}

uint64_t arc_writer_counted(const struct arc_writer *w) {
        return w->done - w->shown_from;
}

static void counted(struct arc_writer *w, uint64_t n) {
        w->done += n;
        vs_progress_done(w->p, w->done - w->shown_from);
        vs_progress_pace(&w->paced, w->done);
}

static struct archive_entry *plain_entry(const char *name, mode_t type, mode_t perm, int64_t size) {
        struct archive_entry *e = archive_entry_new();
        if (!e)
                return NULL;
        archive_entry_copy_pathname(e, name);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, perm);
        archive_entry_set_size(e, size);
        archive_entry_set_mtime(e, time(NULL), 0);
        return e;
}

static int write_all(struct arc_writer *w, const void *data, size_t len, const char *name, vs_error *err) {
        while (len > 0) {
                la_ssize_t n = archive_write_data(w->a, data, len);
                if (n <= 0)
                        return arc_fail(err, w->a, "write", name);
                data = (const char *) data + n;
                len -= (size_t) n;
        }
        return 0;
}

int arc_add_bytes(struct arc_writer *w, const char *name, const void *data, size_t len, vs_error *err) {
        struct archive_entry *e = plain_entry(name, AE_IFREG, 0600, (int64_t) len);
        if (!e)
                return vs_err(err, ENOMEM, "add %s", name);
        int r = archive_write_header(w->a, e) == ARCHIVE_OK ? 0 : arc_fail(err, w->a, "add", name);
        archive_entry_free(e);
        if (r >= 0)
                r = write_all(w, data, len, name, err);
        if (r >= 0)
                w->members++;
        return r;
}

int arc_add_dir(struct arc_writer *w, const char *name, vs_error *err) {
        struct archive_entry *e = plain_entry(name, AE_IFDIR, 0700, 0);
        if (!e)
                return vs_err(err, ENOMEM, "add %s", name);
        int r = archive_write_header(w->a, e) == ARCHIVE_OK ? 0 : arc_fail(err, w->a, "add", name);
        archive_entry_free(e);
        if (r >= 0)
                w->members++;
        return r;
}

/* The holes of [from, to) told to the writer: it counts them off its
 * sparse map and stores nothing. */
static int write_hole(struct arc_writer *w, uint64_t from, uint64_t to, const char *name, vs_error *err) {
        while (from < to) {
                size_t n = to - from > ARC_BLOCK ? ARC_BLOCK : (size_t) (to - from);
                int r = write_all(w, w->zeros, n, name, err);
                if (r < 0)
                        return r;
                from += n;
        }
        return 0;
}

/* [from, to) of fd's data, as name's.  A file that shrank meanwhile is
 * an error, or, ret_short not NULL, completed with zeros and said so. */
static int copy_range(struct arc_writer *w, int fd, const char *path, const char *name, uint64_t from, uint64_t to,
                      bool *ret_short, vs_error *err) {
        while (from < to) {
                size_t want = to - from > ARC_BLOCK ? ARC_BLOCK : (size_t) (to - from);
                ssize_t n = pread(fd, w->buf, want, (off_t) from);
                if (n < 0)
                        return vs_err(err, errno, "read %s", path);
                if (n == 0 && ret_short) {
                        *ret_short = true;
                        return write_hole(w, from, to, name, err);
                }
                if (n == 0)
                        return vs_err_msg(err, EIO, "%s shrank while it was read", path);
                if (w->tap)
                        w->tap(w->tap_ctx, from, w->buf, (size_t) n);
                int r = write_all(w, w->buf, (size_t) n, name, err);
                if (r < 0)
                        return r;
                from += (uint64_t) n;
                counted(w, (uint64_t) n);
        }
        return 0;
}

/* A regular file's entry e (its size set) with the data of ranges
 * (sorted, apart, inside the file) read from fd, the rest recorded as
 * holes: header and data. */
static int write_mapped(struct arc_writer *w, struct archive_entry *e, int fd, const char *path,
                        const struct arc_range *ranges, size_t n, bool *ret_short, vs_error *err) {
        const char *name = archive_entry_pathname(e);
        uint64_t size = (uint64_t) archive_entry_size(e);
        for (size_t k = 0; k < n; k++)
                archive_entry_sparse_add_entry(e, (la_int64_t) ranges[k].off, (la_int64_t) ranges[k].len);
        /* a map that ends in a hole (or holds nothing) ends with an empty
         * extent at the end, as GNU tar writes it; a file that is all data
         * has no map (libarchive drops it) and is stored whole */
        archive_entry_sparse_add_entry(e, (la_int64_t) size, 0);
        bool sparse = archive_entry_sparse_count(e) > 0;
        if (archive_write_header(w->a, e) < ARCHIVE_WARN)
                return arc_fail(err, w->a, "add", name);
        int r = 0;
        uint64_t at = 0;
        if (!sparse) {
                r = copy_range(w, fd, path, name, 0, size, ret_short, err);
                at = size;
        }
        int64_t off, len;
        archive_entry_sparse_reset(e);
        while (r >= 0 && sparse && archive_entry_sparse_next(e, &off, &len) == ARCHIVE_OK) {
                r = write_hole(w, at, (uint64_t) off, name, err);
                if (r >= 0)
                        r = copy_range(w, fd, path, name, (uint64_t) off, (uint64_t) (off + len), ret_short, err);
                at = (uint64_t) (off + len);
        }
        if (r >= 0)
                r = write_hole(w, at, size, name, err);
        if (r >= 0)
                w->members++;
        return r;
}

/* fd's file (st) as name, the data of ranges stored, the rest holes. */
static int add_map(struct arc_writer *w, const char *name, const char *path, int fd, const struct stat *st,
                   const struct arc_range *ranges, size_t n, vs_error *err) {
        struct archive_entry *e = plain_entry(name, AE_IFREG, st->st_mode & 07777, st->st_size);
        if (!e)
                return vs_err(err, ENOMEM, "add %s", name);
        archive_entry_set_mtime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
        int r = write_mapped(w, e, fd, path, ranges, n, NULL, err);
        archive_entry_free(e);
        return r;
}

int arc_add_entry(struct arc_writer *w, struct archive_entry *e, int fd, bool *ret_short, vs_error *err) {
        const char *name = archive_entry_pathname(e);
        if (fd < 0 || archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) || archive_entry_size(e) <= 0) {
                if (archive_write_header(w->a, e) < ARCHIVE_WARN)
                        return arc_fail(err, w->a, "add", name);
                w->members++;
                return 0;
        }
        /* by its data extents: a huge sparse file's holes are not read */
        _cleanup_free_ struct arc_range *v = NULL;
        size_t n = 0;
        int r = arc_file_extents(fd, (uint64_t) archive_entry_size(e), 0, &v, &n);
        if (r < 0)
                return vs_err(err, -r, "find the data of %s", name);
        archive_entry_sparse_clear(e);
        return write_mapped(w, e, fd, name, v, n, ret_short, err);
}

static int open_regular(const char *path, struct stat *st, vs_error *err) {
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, st) < 0) {
                int e = errno;
                safe_close(&fd);
                return vs_err(err, e, "open %s", path);
        }
        if (!S_ISREG(st->st_mode)) {
                close(fd);
                return vs_err_msg(err, EINVAL, "%s is not a regular file", path);
        }
        return fd;
}

int arc_file_extents(int fd, uint64_t size, uint64_t align, struct arc_range **ret, size_t *ret_n) {
        struct arc_range *v = NULL;
        size_t n = 0, cap = 0;
        for (off_t off = 0; (uint64_t) off < size;) {
                off_t data = lseek(fd, off, SEEK_DATA);
                if (data < 0 && errno == ENXIO)
                        break;
                off_t hole = data < 0 ? -1 : lseek(fd, data, SEEK_HOLE);
                if (data < 0 || hole < 0) {
                        int e = errno;
                        free(v);
                        return -e;
                }
                uint64_t from = (uint64_t) data, to = (uint64_t) hole > size ? size : (uint64_t) hole;
                if (align) {
                        from &= ~(align - 1);
                        to = to + align - 1 < to ? size : (to + align - 1) & ~(align - 1);
                        if (to > size)
                                to = size;
                }
                if (n > 0 && from <= v[n - 1].off + v[n - 1].len) {
                        /* widened into the one before */
                        if (to > v[n - 1].off + v[n - 1].len)
                                v[n - 1].len = to - v[n - 1].off;
                } else if (to > from) {
                        if (n == cap) {
                                cap = cap ? 2 * cap : 64;
                                struct arc_range *nv = realloc(v, cap * sizeof(*v));
                                if (!nv) {
                                        free(v);
                                        return -ENOMEM;
                                }
                                v = nv;
                        }
                        v[n++] = (struct arc_range) { from, to - from };
                }
                off = hole;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int arc_add_file_aligned(struct arc_writer *w, const char *name, const char *path, uint64_t align, vs_error *err) {
        struct stat st;
        _cleanup_close_ int fd = open_regular(path, &st, err);
        if (fd < 0)
                return fd;
        /* the data extents, the map the writer stores before them */
        _cleanup_free_ struct arc_range *v = NULL;
        size_t n = 0;
        int r = arc_file_extents(fd, (uint64_t) st.st_size, align, &v, &n);
        if (r < 0)
                return vs_err(err, -r, "find the data of %s", path);
        return add_map(w, name, path, fd, &st, v, n, err);
}

int arc_add_file(struct arc_writer *w, const char *name, const char *path, vs_error *err) {
        return arc_add_file_aligned(w, name, path, 0, err);
}

int arc_add_ranges(struct arc_writer *w, const char *name, const char *path, const struct arc_range *ranges, size_t n,
                   vs_error *err) {
        struct stat st;
        _cleanup_close_ int fd = open_regular(path, &st, err);
        if (fd < 0)
                return fd;
        for (size_t k = 0; k < n; k++)
                if (ranges[k].off + ranges[k].len > (uint64_t) st.st_size || (k && ranges[k].off < ranges[k - 1].off + ranges[k - 1].len))
                        return vs_err_msg(err, EINVAL, "%s: a range to send lies outside it", path);
        return add_map(w, name, path, fd, &st, ranges, n, err);
}

int arc_add_tree(struct arc_writer *w, const char *name, const char *path, vs_error *err) {
        struct archive *d = archive_read_disk_new();
        struct archive_entry_linkresolver *lr = archive_entry_linkresolver_new();
        struct archive_entry *e = archive_entry_new();
        size_t plen = strlen(path);
        int r = 0;
        if (!d || !lr || !e) {
                r = vs_err(err, ENOMEM, "add %s", path);
                goto out;
        }
        archive_entry_linkresolver_set_strategy(lr, archive_format(w->a));
        /* links are taken as links; the walk stays on the tree's filesystem */
        archive_read_disk_set_symlink_physical(d);
        if (archive_read_disk_set_behavior(d, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS) != ARCHIVE_OK ||
            archive_read_disk_open(d, path) != ARCHIVE_OK) {
                r = arc_fail(err, d, "read", path);
                goto out;
        }
        for (;;) {
                archive_entry_clear(e);
                int k = archive_read_next_header2(d, e);
                if (k == ARCHIVE_EOF)
                        break;
                if (k != ARCHIVE_OK && k != ARCHIVE_WARN) {
                        r = arc_fail(err, d, "read", path);
                        break;
                }
                (void) archive_read_disk_descend(d);
                const char *src = archive_entry_sourcepath(e);
                if (!src || strncmp(src, path, plen) != 0 || (src[plen] && src[plen] != '/')) {
                        r = vs_err_msg(err, EIO, "the walk of %s left it", path);
                        break;
                }
                _cleanup_free_ char *as = NULL;
                if (asprintf(&as, "%s%s", name, src + plen) < 0) {
                        r = vs_err(err, ENOMEM, "add %s", src);
                        break;
                }
                archive_entry_copy_pathname(e, as);
                archive_entry_set_uname(e, NULL);
                archive_entry_set_gname(e, NULL);
                struct archive_entry *spare = NULL, *cur = e;
                archive_entry_linkify(lr, &cur, &spare);
                if (cur && archive_write_header(w->a, cur) < ARCHIVE_WARN) {
                        r = arc_fail(err, w->a, "add", as);
                        break;
                }
                if (cur)
                        w->members++;
                if (cur && archive_entry_size(cur) > 0) {
                        const void *buf;
                        size_t len;
                        int64_t off;
                        uint64_t at = 0;
                        while ((k = archive_read_data_block(d, &buf, &len, &off)) == ARCHIVE_OK) {
                                r = write_hole(w, at, (uint64_t) off, as, err);
                                if (r >= 0)
                                        r = write_all(w, buf, len, as, err);
                                if (r < 0)
                                        break;
                                counted(w, len);
                                at = (uint64_t) off + len;
                        }
                        if (r >= 0 && k != ARCHIVE_EOF)
                                r = arc_fail(err, d, "read", src);
                        if (r >= 0)
                                r = write_hole(w, at, (uint64_t) archive_entry_size(cur), as, err);
                        if (r < 0)
                                break;
                }
                if (spare)
                        archive_entry_free(spare);
        }
out:
        if (d)
                archive_read_free(d);
        if (lr)
                archive_entry_linkresolver_free(lr);
        if (e)
                archive_entry_free(e);
        return r;
}

int arc_writer_close(struct arc_writer *w, vs_error *err) {
        char end[96];
        int n = snprintf(end, sizeof(end), "{\"members\":%u,\"bytes\":%llu}\n", w->members,
                         (unsigned long long) w->done);
        int r = arc_add_bytes(w, ARC_END, end, (size_t) n, err);
        if (r >= 0 && archive_write_close(w->a) != ARCHIVE_OK)
                r = arc_fail(err, w->a, "finish", "the archive");
        arc_writer_free(w);
        return r;
}

/* ---- what a member may be -------------------------------------------------- */

/* "a/b/c": no empty, "." or ".." component, not absolute. */
static bool components_ok(const char *p) {
        if (!*p || *p == '/')
                return false;
        for (const char *c = p; c;) {
                const char *slash = strchr(c, '/');
                size_t n = slash ? (size_t) (slash - c) : strlen(c);
                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                c = slash ? slash + 1 : NULL;
        }
        return true;
}

/* A file name of CRIU's images (and vsd's beside them). */
static bool ckpt_name_ok(const char *s) {
        if (!*s || *s == '.' || strlen(s) > 128)
                return false;
        return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == strlen(s);
}

static bool is_tree(const char *rest, const char *root) {
        size_t n = strlen(root);
        return strncmp(rest, root, n) == 0 && (rest[n] == '\0' || rest[n] == '/');
}

enum arc_kind arc_member_kind(const char *path, enum arc_layout layout, size_t *ret_root_len) {
        if (!path || !components_ok(path))
                return ARC_BAD;
        if (layout == ARC_LAYOUT_TEMPLATE) {
                if (!is_tree(path, "rootfs"))
                        return ARC_BAD;
                if (ret_root_len)
                        *ret_root_len = 6;
                return ARC_TREE;
        }
        bool image = layout == ARC_LAYOUT_IMAGE;
        if (image && streq(path, "disk.img"))
                return ARC_DISK;
        if (image && streq(path, "disk.delta"))
                return ARC_DISK_DELTA;
        if (!image && streq(path, "upper.delta"))
                return ARC_TREE_DELTA;
        if (!image && strncmp(path, "upper.deleted/", 14) == 0) {
                if (ret_root_len)
                        *ret_root_len = 13;
                return ARC_TREE_DELETED;
        }
        if (!image && is_tree(path, "upper")) {
                if (ret_root_len)
                        *ret_root_len = 5;
                return ARC_TREE;
        }
        if (streq(path, "snapshots") || streq(path, "checkpoint"))
                return ARC_DIRECTORY;
        if (strncmp(path, "checkpoint/", 11) == 0)
                return ckpt_name_ok(path + 11) ? ARC_CKPT_FILE : ARC_BAD;
        if (strncmp(path, "snapshots/", 10) != 0)
                return ARC_BAD;
        const char *s = path + 10, *slash = strchr(s, '/');
        char snap[VS_NAME_MAX + 8];
        size_t n = slash ? (size_t) (slash - s) : strlen(s);
        if (n >= sizeof(snap))
                return ARC_BAD;
        memcpy(snap, s, n);
        snap[n] = '\0';
        if (image) {
                if (slash || n < 5 || !streq(snap + n - 4, ".img"))
                        return ARC_BAD;
                snap[n - 4] = '\0';
                return vs_name_valid(snap) ? ARC_SNAP_IMAGE : ARC_BAD;
        }
        if (!vs_name_valid(snap))
                return ARC_BAD;
        if (!slash)
                return ARC_DIRECTORY;
        if (!is_tree(slash + 1, "upper"))
                return ARC_BAD;
        if (ret_root_len)
                *ret_root_len = (size_t) (slash + 1 - path) + 5;
        return ARC_TREE;
}

/* ---- reading --------------------------------------------------------------- */

struct arc_reader {
        struct archive *a;
        struct vs_progress *p;
        struct archive_entry *e;
        uint64_t paced;
};

int arc_reader_open(int fd, struct vs_progress *p, struct arc_reader **ret, vs_error *err) {
        struct arc_reader *r = calloc(1, sizeof(*r));
        if (!r || !(r->a = archive_read_new())) {
                free(r);
                return vs_err(err, ENOMEM, "read the archive");
        }
        r->p = p;
        /* tar only, plain or zstd: nothing else of libarchive's is offered
         * to a stranger's bytes */
        if (archive_read_support_format_tar(r->a) != ARCHIVE_OK || archive_read_support_filter_zstd(r->a) != ARCHIVE_OK ||
            archive_read_open_fd(r->a, fd, 64 << 10) != ARCHIVE_OK) {
                int k = arc_fail(err, r->a, "read", "the archive");
                arc_reader_free(r);
                return k;
        }
        *ret = r;
        return 0;
}

void arc_reader_free(struct arc_reader *r) {
        if (!r)
                return;
        archive_read_free(r->a);
        free(r);
}

static int next(struct arc_reader *r, struct archive_entry **ret, vs_error *err) {
        int k = archive_read_next_header(r->a, ret);
        vs_progress_done(r->p, (uint64_t) archive_filter_bytes(r->a, -1));
        if (k == ARCHIVE_EOF)
                return 0;
        if (k != ARCHIVE_OK)
                return arc_fail(err, r->a, "read", "the archive");
        return 1;
}

/* The data of the current member, at most max bytes, NUL-terminated. */
static int read_data(struct arc_reader *r, const char *name, size_t max, char **ret, vs_error *err) {
        int64_t size = archive_entry_size(r->e);
        if (!archive_entry_size_is_set(r->e) || size < 0 || (uint64_t) size > max)
                return vs_err_msg(err, EFBIG, "the archive's %s is larger than %zu bytes", name, max);
        char *buf = malloc((size_t) size + 1);
        if (!buf)
                return vs_err(err, ENOMEM, "read %s", name);
        size_t got = 0;
        while (got < (size_t) size) {
                la_ssize_t n = archive_read_data(r->a, buf + got, (size_t) size - got);
                if (n <= 0) {
                        free(buf);
                        return n < 0 ? arc_fail(err, r->a, "read", name)
                                     : vs_err_msg(err, EIO, "the archive ends inside %s", name);
                }
                got += (size_t) n;
        }
        buf[got] = '\0';
        if (memchr(buf, '\0', got)) {
                free(buf);
                return vs_err_msg(err, EINVAL, "the archive's %s holds a NUL byte", name);
        }
        *ret = buf;
        return 0;
}

int arc_read_small(struct arc_reader *r, const char *name, size_t max, char **ret, vs_error *err) {
        int k = next(r, &r->e, err);
        if (k < 0)
                return k;
        const char *p = k ? archive_entry_pathname(r->e) : NULL;
        if (!k || !p || !streq(p, name) || archive_entry_filetype(r->e) != AE_IFREG)
                return vs_err_msg(err, EINVAL, "the archive is not an instance's (nor a template's): its %s member is not %s",
                                  streq(name, ARC_MANIFEST) ? "first" : "second", name);
        return read_data(r, name, max, ret, err);
}

/* The hard link target, checked as a member of the same tree, and reached
 * without a symbolic link on the way. */
static int check_hardlink(int dirfd, const char *name, size_t root_len, const char *target, enum arc_layout layout,
                          vs_error *err) {
        size_t troot = 0;
        if (arc_member_kind(target, layout, &troot) != ARC_TREE || troot != root_len ||
            strncmp(target, name, root_len) != 0)
                return vs_err_msg(err, EPERM, "the archive's %s links to %s, outside its tree", name, target);
        struct stat st;
        _cleanup_free_ char *copy = strdup(target);
        if (!copy)
                return vs_err(err, ENOMEM, "check %s", name);
        for (char *slash = strchr(copy, '/'); ; slash = strchr(slash + 1, '/')) {
                if (slash)
                        *slash = '\0';
                if (fstatat(dirfd, copy, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    (slash ? !S_ISDIR(st.st_mode) : S_ISDIR(st.st_mode)))
                        return vs_err_msg(err, EPERM, "the archive's %s links to %s, which is not a file of its tree",
                                          name, target);
                if (!slash)
                        break;
                *slash = '/';
        }
        return 0;
}

/* [off, off + len) of fd made to read as zeros: punched (a hole again)
 * where the filesystem can, written otherwise. */
static int zero_range(int fd, const void *zeros, uint64_t off, size_t len) {
        if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) off, (off_t) len) == 0)
                return 0;
        for (size_t done = 0; done < len;) {
                ssize_t n = pwrite(fd, zeros, len - done, (off_t) (off + done));
                if (n < 0)
                        return -errno;
                done += (size_t) n;
        }
        return 0;
}

#define ARC_PAGE 4096

static bool page_zero(const char *p, size_t len) {
        return len > 0 && p[0] == 0 && memcmp(p, p + 1, len - 1) == 0;
}

/* buf's len bytes at off into fd: runs of zero pages are not written (a
 * new file's holes stay holes) or, over data (update), punched. */
static int write_block(int fd, const char *buf, size_t len, uint64_t off, bool update) {
        static const char zeros[ARC_PAGE];
        for (size_t at = 0; at < len;) {
                size_t n = len - at < ARC_PAGE ? len - at : ARC_PAGE;
                bool zero = n == ARC_PAGE && page_zero(buf + at, n);
                size_t run = n;
                while (at + run + ARC_PAGE <= len && page_zero(buf + at + run, ARC_PAGE) == zero)
                        run += ARC_PAGE;
                if (zero) {
                        if (update)
                                for (size_t z = 0; z < run; z += ARC_PAGE) {
                                        int r = zero_range(fd, zeros, off + at + z, ARC_PAGE);
                                        if (r < 0)
                                                return r;
                                }
                } else
                        for (size_t done = 0; done < run;) {
                                ssize_t k = pwrite(fd, buf + at + done, run - done, (off_t) (off + at + done));
                                if (k < 0)
                                        return -errno;
                                done += (size_t) k;
                        }
                at += run;
        }
        return 0;
}

/* A plain file of ours (the image, a snapshot's, a checkpoint's image):
 * made new, never through a link, its data where the archive says; or,
 * update, the image made already, the delta's data written over it. */
static int extract_plain(struct arc_reader *r, int dirfd, const char *name, uint64_t size, bool update,
                         struct arc_found *found, vs_error *err) {
        _cleanup_close_ int fd = update ? openat(dirfd, "disk.img", O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
                                        : openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return vs_err(err, errno, "%s %s", update ? "open" : "create", update ? "disk.img" : name);
        const void *buf;
        size_t len;
        int64_t off;
        int k;
        while ((k = archive_read_data_block(r->a, &buf, &len, &off)) == ARCHIVE_OK) {
                if (off < 0 || (uint64_t) off > size || len > size - (uint64_t) off)
                        return vs_err_msg(err, EINVAL, "the archive's %s has data past its size", name);
                int w = write_block(fd, buf, len, (uint64_t) off, update);
                if (w < 0)
                        return vs_err(err, -w, "write %s", update ? "disk.img" : name);
                found->bytes += len;
                vs_progress_done(r->p, (uint64_t) archive_filter_bytes(r->a, -1));
                vs_progress_pace(&r->paced, found->bytes);
        }
        if (k != ARCHIVE_EOF)
                return arc_fail(err, r->a, "read", name);
        if (ftruncate(fd, (off_t) size) < 0 || fsync(fd) < 0)
                return vs_err(err, errno, "write %s", name);
        return 0;
}

static int extract_tree(struct arc_reader *r, struct archive *disk, const char *name, uint64_t *tree_bytes,
                        const struct arc_limits *lim, struct arc_found *found, vs_error *err) {
        if (archive_write_header(disk, r->e) != ARCHIVE_OK)
                return arc_fail(err, disk, "extract", name);
        const void *buf;
        size_t len;
        int64_t off;
        int k = ARCHIVE_EOF;
        if (archive_entry_filetype(r->e) == AE_IFREG)
                while ((k = archive_read_data_block(r->a, &buf, &len, &off)) == ARCHIVE_OK) {
                        *tree_bytes += len;
                        if (lim->tree_bytes && *tree_bytes > lim->tree_bytes)
                                return vs_err_msg(err, EFBIG, "the archive's trees hold more than %llu bytes",
                                                  (unsigned long long) lim->tree_bytes);
                        if (archive_write_data_block(disk, buf, len, off) != ARCHIVE_OK)
                                return arc_fail(err, disk, "extract", name);
                        found->bytes += len;
                        vs_progress_done(r->p, (uint64_t) archive_filter_bytes(r->a, -1));
                        /* (tests: the pace's clock starts with the first
                         * data, a tree's too, not with a later plain file) */
                        vs_progress_pace(&r->paced, found->bytes);
                }
        if (k != ARCHIVE_EOF)
                return arc_fail(err, r->a, "read", name);
        if (archive_write_finish_entry(disk) != ARCHIVE_OK)
                return arc_fail(err, disk, "extract", name);
        return 0;
}

#define ARC_XATTR_LIST (64 << 10)

/* The directory holding path's last component, beneath dirfd, no link
 * followed on the way; *ret_base its last component. */
static int open_parent(int dirfd, const char *path, char *buf, size_t len, const char **ret_base, vs_error *err) {
        if (snprintf(buf, len, "%s", path) >= (int) len)
                return vs_err_msg(err, ENAMETOOLONG, "the archive's %.100s... is too long", path);
        char *slash = strrchr(buf, '/');
        if (!slash) {
                *ret_base = buf;
                int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
                return fd < 0 ? vs_err(err, errno, "open %s", path) : fd;
        }
        *slash = '\0';
        *ret_base = slash + 1;
        int fd = sys_openat2(dirfd, buf, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                             RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
        if (fd == -ENOENT)
                return fd; /* nothing there, nothing to remove */
        if (fd < 0)
                return vs_err_msg(err, -fd == ELOOP || -fd == ENOTDIR ? EPERM : -fd,
                                  "the archive's %.200s lies below what is not a directory of its tree", path);
        return fd;
}

/* A cold move's final pass (upper.deleted/PATH, or an upper/ member after
 * upper.delta): what is at path below dirfd goes, a directory with its
 * contents, its parents resolved beneath dirfd without following any
 * symbolic link and itself never followed; unless both it and the
 * replacement are directories (dir): then it stays with its contents, its
 * extended attributes cleared for the new ones.  Nothing there: 0. */
static int clear_at(int dirfd, const char *path, bool dir, vs_error *err) {
        char buf[4096 + 16];
        const char *base = path;
        _cleanup_close_ int parent = open_parent(dirfd, path, buf, sizeof(buf), &base, err);
        if (parent == -ENOENT)
                return 0;
        if (parent < 0)
                return parent;
        struct stat st;
        if (fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : vs_err(err, errno, "stat %s", path);
        if (!(dir && S_ISDIR(st.st_mode))) {
                int r = vs_rm_rf_at(parent, base);
                return r < 0 ? vs_err(err, -r, "remove %s", path) : 0;
        }
        /* a directory over a directory: its attributes are the new ones */
        _cleanup_close_ int fd = openat(parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_free_ char *list = malloc(ARC_XATTR_LIST);
        if (fd < 0 || !list)
                return vs_err(err, fd < 0 ? errno : ENOMEM, "open %s", path);
        ssize_t n = flistxattr(fd, list, ARC_XATTR_LIST);
        for (ssize_t at = 0; at < n; at += (ssize_t) strlen(list + at) + 1)
                if (fremovexattr(fd, list + at) < 0 && errno != ENODATA && errno != EPERM && errno != EOPNOTSUPP)
                        return vs_err(err, errno, "clear %s of %s", list + at, path);
        return 0;
}

static int check_end(struct arc_reader *r, unsigned members, uint64_t bytes, vs_error *err) {
        _cleanup_free_ char *text = NULL;
        int k = read_data(r, ARC_END, 256, &text, err);
        if (k < 0)
                return k;
        unsigned want_members = 0;
        unsigned long long want_bytes = 0;
        if (sscanf(text, "{\"members\":%u,\"bytes\":%llu}", &want_members, &want_bytes) != 2)
                return vs_err_msg(err, EINVAL, "the archive's %s is not vsd's", ARC_END);
        if (want_members != members || want_bytes != bytes)
                return vs_err_msg(err, EINVAL,
                                  "the archive is incomplete: %u members and %llu bytes of data where it says %u and %llu",
                                  members, (unsigned long long) bytes, want_members, want_bytes);
        k = next(r, &r->e, err);
        if (k < 0)
                return k;
        if (k > 0)
                return vs_err_msg(err, EINVAL, "the archive goes on after its %s", ARC_END);
        return 0;
}

int arc_extract_rest(struct arc_reader *r, int dirfd, const struct arc_limits *lim, struct arc_found *ret,
                     vs_error *err) {
        struct arc_found found = { 0 };
        uint64_t ckpt_bytes = 0, tree_bytes = 0;
        /* members counted as the writer counts them: the manifest and
         * config.ini (read already) and every one after them */
        unsigned members = 2;
        if (fchdir(dirfd) < 0)
                return vs_err(err, errno, "enter the directory to extract into");
        struct archive *disk = archive_write_disk_new();
        if (!disk)
                return vs_err(err, ENOMEM, "extract the archive");
        /* owners by number (ids as the instance sees them), modes with
         * their setuid bits, times, extended attributes (the overlay's),
         * ACLs; never through a symbolic link, never "..", never an
         * absolute path; what exists already is not replaced */
        const int opts = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                         ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                         ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
        archive_write_disk_set_options(disk, opts | ARCHIVE_EXTRACT_NO_OVERWRITE);
        int k = 0;
        for (;;) {
                k = next(r, &r->e, err);
                if (k <= 0) {
                        if (k == 0)
                                k = vs_err_msg(err, EINVAL, "the archive ends before its %s: it was cut short", ARC_END);
                        break;
                }
                const char *raw = archive_entry_pathname(r->e);
                if (raw && streq(raw, ARC_END) && archive_entry_filetype(r->e) == AE_IFREG) {
                        k = check_end(r, members, found.bytes, err);
                        break;
                }
                members++;
                char name[4096];
                size_t n = raw ? strlen(raw) : 0;
                if (!raw || n == 0 || n >= sizeof(name)) {
                        k = vs_err_msg(err, EINVAL, "the archive has a member with no usable name");
                        break;
                }
                memcpy(name, raw, n + 1);
                mode_t type = archive_entry_filetype(r->e);
                if (n > 1 && name[n - 1] == '/' && type == AE_IFDIR)
                        name[n - 1] = '\0';
                size_t root_len = 0;
                enum arc_kind kind = arc_member_kind(name, lim->layout, &root_len);
                const char *hl = archive_entry_hardlink(r->e);
                int64_t size = archive_entry_size(r->e);
                bool reg = type == AE_IFREG && !hl;
                switch (kind) {
                case ARC_BAD:
                        k = vs_err_msg(err, EPERM, "the archive has a member %s has not: %.200s",
                                       lim->layout == ARC_LAYOUT_TEMPLATE ? "a template" : "an instance", name);
                        break;
                case ARC_DIRECTORY:
                        if (type != AE_IFDIR || hl)
                                k = vs_err_msg(err, EPERM, "the archive's %s is not a directory", name);
                        else if (mkdirat(dirfd, name, 0711) < 0 && errno != EEXIST)
                                k = vs_err(err, errno, "create %s", name);
                        break;
                case ARC_DISK:
                case ARC_SNAP_IMAGE:
                        if (!reg || size < 0 || (kind == ARC_DISK ? (uint64_t) size != lim->image_size
                                                                  : (uint64_t) size > lim->image_size))
                                k = vs_err_msg(err, EPERM, "the archive's %s is not an image of %llu bytes", name,
                                               (unsigned long long) lim->image_size);
                        else if (kind == ARC_SNAP_IMAGE && mkdirat(dirfd, "snapshots", 0700) < 0 && errno != EEXIST)
                                k = vs_err(err, errno, "create snapshots");
                        else
                                k = extract_plain(r, dirfd, name, (uint64_t) size, false, &found, err);
                        if (k >= 0 && kind == ARC_DISK)
                                found.disk = true;
                        if (k >= 0 && kind == ARC_SNAP_IMAGE)
                                found.snapshots++;
                        break;
                case ARC_DISK_DELTA:
                        /* over the image that came before it, once */
                        if (!reg || size < 0 || (uint64_t) size != lim->image_size)
                                k = vs_err_msg(err, EPERM, "the archive's %s is not an image of %llu bytes", name,
                                               (unsigned long long) lim->image_size);
                        else if (!found.disk || found.delta)
                                k = vs_err_msg(err, EPERM, "the archive's %s does not follow its disk.img", name);
                        else
                                k = extract_plain(r, dirfd, name, (uint64_t) size, true, &found, err);
                        if (k >= 0)
                                found.delta = true;
                        break;
                case ARC_CKPT_FILE:
                        ckpt_bytes += size > 0 ? (uint64_t) size : 0;
                        if (!reg || size < 0)
                                k = vs_err_msg(err, EPERM, "the archive's %s is not a plain file", name);
                        else if (ckpt_bytes > lim->ckpt_bytes)
                                k = vs_err_msg(err, EFBIG, "the archive's checkpoint is larger than %llu bytes",
                                               (unsigned long long) lim->ckpt_bytes);
                        else if (mkdirat(dirfd, "checkpoint", 0711) < 0 && errno != EEXIST)
                                k = vs_err(err, errno, "create checkpoint");
                        else
                                k = extract_plain(r, dirfd, name, (uint64_t) size, false, &found, err);
                        if (k >= 0) {
                                found.checkpoint = true;
                                /* CRIU's restored processes read their
                                 * images with the instance's ids */
                                (void) fchmodat(dirfd, name, 0644, 0);
                        }
                        break;
                case ARC_TREE_DELTA:
                        /* the final pass of a cold move, after the tree */
                        if (type != AE_IFDIR || hl)
                                k = vs_err_msg(err, EPERM, "the archive's %s is not a directory", name);
                        else if (!found.upper || found.tree_delta)
                                k = vs_err_msg(err, EPERM, "the archive's %s does not follow its upper/ tree", name);
                        found.tree_delta = true;
                        break;
                case ARC_TREE_DELETED:
                        if (type != AE_IFREG || hl || size != 0)
                                k = vs_err_msg(err, EPERM, "the archive's %s is not an empty file", name);
                        else if (!found.tree_delta)
                                k = vs_err_msg(err, EPERM, "the archive's %s comes before its upper.delta", name);
                        else {
                                char path[4096 + 8];
                                snprintf(path, sizeof(path), "upper/%s", name + root_len + 1);
                                k = clear_at(dirfd, path, false, err);
                        }
                        break;
                case ARC_TREE: {
                        /* the final pass: what is at the path goes first
                         * (a directory over a directory stays) */
                        bool replace = found.tree_delta && root_len == 5;
                        if (strlen(name) == root_len && type != AE_IFDIR)
                                k = vs_err_msg(err, EPERM, "the archive's %s is not a directory", name);
                        else if (hl)
                                k = check_hardlink(dirfd, name, root_len, hl, lim->layout, err);
                        if (k >= 0 && replace)
                                k = clear_at(dirfd, name, type == AE_IFDIR && !hl, err);
                        if (k >= 0) {
                                archive_write_disk_set_options(disk, opts | (replace ? 0 : ARCHIVE_EXTRACT_NO_OVERWRITE));
                                archive_entry_copy_pathname(r->e, name);
                                k = extract_tree(r, disk, name, &tree_bytes, lim, &found, err);
                        }
                        if (k >= 0 && lim->layout == ARC_LAYOUT_TEMPLATE)
                                found.rootfs = true;
                        else if (k >= 0 && root_len == 5)
                                found.upper = true;
                        else if (k >= 0 && strlen(name) == root_len && root_len > 5)
                                found.snapshots++;
                        break;
                }
                }
                if (k < 0)
                        break;
        }
        /* the directories' modes and times, deferred by libarchive */
        if (archive_write_close(disk) != ARCHIVE_OK && k >= 0)
                k = arc_fail(err, disk, "finish", "the extraction");
        archive_write_free(disk);
        if (k < 0)
                return k;
        *ret = found;
        return 0;
}

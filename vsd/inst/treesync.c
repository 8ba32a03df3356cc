/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A directory layer sent while it changes, then what changed (treesync.h).
 */
#include "vsd/inst/treesync.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "vsd/inst/archive.h"

/* an archive member's name is at most this (the import refuses longer);
 * deeper trees would hold as many fds open */
#define TS_PATH_MAX 4000
#define TS_DEPTH_MAX 512
#define TS_XATTR_LIST (64 << 10)

/* What went of one path (relative to the tree's root, "" the root). */
struct ts_rec {
        char *path;
        uint64_t ino, size, nlink;
        int64_t ctime_s, ctime_ns;
        uint32_t type;
        bool racy;    /* changed around or while it was read: goes again */
        bool seen;    /* final pass: still there */
        bool changed; /* final pass: goes again */
};

struct ts_list {
        struct ts_rec *v;
        size_t n, cap;
};

struct tsync {
        struct ts_list sent; /* the first pass's, sorted by path once it ended */
};

enum ts_mode {
        TS_FIRST, /* send each entry, record it in sent */
        TS_SCAN,  /* record each entry in cur, send nothing */
        TS_SEND,  /* send the entries cur says changed */
};

struct walk {
        enum ts_mode mode;
        struct arc_writer *w;
        struct archive_entry_linkresolver *lr;
        struct ts_list *list; /* FIRST: sent; SCAN: cur */
        const struct ts_list *cur; /* SEND */
        dev_t dev;
        char path[TS_PATH_MAX + 256];
};

int tsync_new(struct tsync **ret) {
        struct tsync *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

static void list_free(struct ts_list *l) {
        for (size_t k = 0; k < l->n; k++)
                free(l->v[k].path);
        free(l->v);
        *l = (struct ts_list){ 0 };
}

void tsync_free(struct tsync *t) {
        if (!t)
                return;
        list_free(&t->sent);
        free(t);
}

static int rec_cmp(const void *a, const void *b) {
        return strcmp(((const struct ts_rec *) a)->path, ((const struct ts_rec *) b)->path);
}

static struct ts_rec *list_find(const struct ts_list *l, const char *path) {
        struct ts_rec key = { .path = (char *) path };
        return l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v), rec_cmp) : NULL;
}

static int list_add(struct ts_list *l, const char *path, const struct stat *st, bool racy) {
        if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 256;
                struct ts_rec *v = realloc(l->v, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        l->v[l->n++] = (struct ts_rec){ .path = p, .ino = st->st_ino, .size = (uint64_t) st->st_size,
                                        .nlink = st->st_nlink, .ctime_s = st->st_ctim.tv_sec,
                                        .ctime_ns = st->st_ctim.tv_nsec, .type = st->st_mode & S_IFMT, .racy = racy };
        return 0;
}

static bool same_identity(const struct ts_rec *a, const struct ts_rec *b) {
        return a->type == b->type && a->ino == b->ino && a->size == b->size && a->ctime_s == b->ctime_s &&
               a->ctime_ns == b->ctime_ns;
}

/* The member's name: upper, upper/PATH. */
static void member_name(const char *path, char *buf, size_t len) {
        snprintf(buf, len, "upper%s%s", path[0] ? "/" : "", path);
}

/* A reopened fd of what the O_PATH fd o holds, for reading. */
static int reopen(int o, bool dir) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", o);
        int fd = open(p, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
        return fd < 0 ? -errno : fd;
}

/* The extended attributes (the overlay's whiteouts and opaque directories,
 * ACLs, capabilities) into e: through io for a file or directory, else by
 * name in the directory dfd, the last component not followed. */
static int add_xattrs(struct archive_entry *e, int io, int dfd, const char *name) {
        char where[PATH_MAX];
        snprintf(where, sizeof(where), "/proc/self/fd/%d/%s", dfd, name);
        _cleanup_free_ char *list = malloc(TS_XATTR_LIST);
        _cleanup_free_ char *val = malloc(XATTR_SIZE_MAX);
        if (!list || !val)
                return -ENOMEM;
        ssize_t n = io >= 0 ? flistxattr(io, list, TS_XATTR_LIST) : llistxattr(where, list, TS_XATTR_LIST);
        if (n < 0)
                return errno == ENOTSUP || errno == ENOENT ? 0 : -errno;
        for (ssize_t at = 0; at < n; at += (ssize_t) strlen(list + at) + 1) {
                const char *key = list + at;
                ssize_t k = io >= 0 ? fgetxattr(io, key, val, XATTR_SIZE_MAX) : lgetxattr(where, key, val, XATTR_SIZE_MAX);
                if (k < 0 && (errno == ENODATA || errno == ENOENT))
                        continue; /* removed meanwhile */
                if (k < 0)
                        return -errno;
                archive_entry_xattr_add_entry(e, key, val, (size_t) k);
        }
        return 0;
}

/* The entry o (st) at w->path, named name in dfd, into the archive; io:
 * a regular file's or directory's fd for reading.  *ret_short: what went
 * may not be what it is (its data changed while it was read, or it went
 * as a hard link while it ran). */
static int send_entry(struct walk *k, int dfd, const char *name, int o, int io, const struct stat *st,
                      bool *ret_short, vs_error *err) {
        char as[TS_PATH_MAX + 300], target[PATH_MAX];
        member_name(k->path, as, sizeof(as));
        struct archive_entry *e = archive_entry_new();
        if (!e)
                return vs_err(err, ENOMEM, "add %s", as);
        archive_entry_copy_stat(e, st);
        archive_entry_copy_pathname(e, as);
        if (!S_ISREG(st->st_mode))
                archive_entry_set_size(e, 0);
        int r = 0;
        if (S_ISLNK(st->st_mode)) {
                /* the link itself, through its O_PATH fd */
                ssize_t n = readlinkat(o, "", target, sizeof(target) - 1);
                if (n < 0)
                        r = vs_err(err, errno, "read the link %s", as);
                else {
                        target[n] = '\0';
                        archive_entry_copy_symlink(e, target);
                }
        }
        if (r >= 0 && (r = add_xattrs(e, io, dfd, name)) < 0)
                r = vs_err(err, -r, "read the extended attributes of %s", as);
        struct archive_entry *spare = NULL, *cur = e;
        if (r >= 0 && !S_ISDIR(st->st_mode))
                archive_entry_linkify(k->lr, &cur, &spare);
        /* while it runs, a name sent as a link to one sent before may
         * name another file by now (the inode number reused): the final
         * pass sends it again */
        if (r >= 0 && cur && archive_entry_hardlink(cur) && k->mode == TS_FIRST)
                *ret_short = true;
        if (r >= 0 && cur)
                r = arc_add_entry(k->w, cur, S_ISREG(st->st_mode) ? io : -1, ret_short, err);
        if (spare)
                archive_entry_free(spare);
        if (cur != e && cur)
                archive_entry_free(cur);
        archive_entry_free(e);
        return r;
}

static int walk_dir(struct walk *k, int dfd, unsigned depth, vs_error *err);

/* One entry, name in the directory dfd, at k->path. */
static int visit(struct walk *k, int dfd, const char *name, unsigned depth, vs_error *err) {
        _cleanup_close_ int o = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (o < 0 && errno == ENOENT)
                return 0; /* gone meanwhile: the final pass says what is there */
        struct stat st, after;
        if (o < 0 || fstat(o, &st) < 0)
                return vs_err(err, errno, "open upper/%s", k->path);
        if (S_ISSOCK(st.st_mode))
                return 0; /* a socket is its listener's, not data: not sent */
        bool dir = S_ISDIR(st.st_mode), enter = dir && st.st_dev == k->dev;
        _cleanup_close_ int io = -EBADF;
        if (S_ISREG(st.st_mode) || enter) {
                io = reopen(o, dir);
                /* while it runs, what cannot be read now (a lease held
                 * on it) is left to the final pass */
                if (io < 0 && k->mode == TS_FIRST && io != -ENOMEM)
                        return 0;
                if (io < 0)
                        return vs_err(err, -io, "open upper/%s", k->path);
        }
        /* its dirty pages written back first: a later write through a
         * mapping faults again and so changes its ctime */
        if (k->mode == TS_FIRST && S_ISREG(st.st_mode) && st.st_size > 0)
                (void) sync_file_range(io, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                                         SYNC_FILE_RANGE_WAIT_AFTER);
        if (fstat(o, &st) < 0)
                return vs_err(err, errno, "stat upper/%s", k->path);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int r = 0;
        bool racy = false;
        if (k->mode == TS_FIRST || (k->mode == TS_SEND && (!list_find(k->cur, k->path) ||
                                                            list_find(k->cur, k->path)->changed))) {
                r = send_entry(k, dfd, name, o, io, &st, &racy, err);
                /* changed while it was read, or so recently that a change
                 * in the same clock tick would keep its ctime */
                if (r >= 0 && (fstat(o, &after) < 0 || after.st_size != st.st_size ||
                               after.st_ctim.tv_sec != st.st_ctim.tv_sec || after.st_ctim.tv_nsec != st.st_ctim.tv_nsec ||
                               st.st_ctim.tv_sec >= now.tv_sec - 1))
                        racy = true;
        }
        if (r >= 0 && k->mode != TS_SEND && (r = list_add(k->list, k->path, &st, racy)) < 0)
                r = vs_err(err, -r, "record upper/%s", k->path);
        if (r >= 0 && enter)
                r = walk_dir(k, io, depth + 1, err);
        return r;
}

static int walk_dir(struct walk *k, int dfd, unsigned depth, vs_error *err) {
        if (depth > TS_DEPTH_MAX)
                return vs_err_msg(err, ELOOP, "upper/%s is more than %d directories deep", k->path, TS_DEPTH_MAX);
        int fd = dup(dfd);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                int e = errno;
                safe_close(&fd);
                return vs_err(err, e, "read upper/%s", k->path);
        }
        size_t len = strlen(k->path);
        int r = 0;
        struct dirent *de;
        errno = 0;
        while (r >= 0 && (de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                size_t n = strlen(de->d_name);
                if (len + 1 + n > TS_PATH_MAX) {
                        r = vs_err_msg(err, ENAMETOOLONG, "a path below upper/%.100s is longer than %d bytes", k->path,
                                       TS_PATH_MAX);
                        break;
                }
                snprintf(k->path + len, sizeof(k->path) - len, "%s%s", len ? "/" : "", de->d_name);
                r = visit(k, dfd, de->d_name, depth, err);
                k->path[len] = '\0';
                errno = 0;
        }
        if (r >= 0 && errno != 0)
                r = vs_err(err, errno, "read upper/%s", k->path);
        closedir(d);
        return r;
}

/* The tree at path walked in mode: the root, then what it holds. */
static int walk(struct walk *k, const char *path, vs_error *err) {
        _cleanup_close_ int parent = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (parent < 0 || fstat(parent, &st) < 0)
                return vs_err(err, errno, "open %s", path);
        k->dev = st.st_dev;
        k->path[0] = '\0';
        k->lr = archive_entry_linkresolver_new();
        if (!k->lr)
                return vs_err(err, ENOMEM, "walk %s", path);
        archive_entry_linkresolver_set_strategy(k->lr, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
        /* the root through its parent, as any entry */
        _cleanup_close_ int up = openat(parent, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        int r = up < 0 ? vs_err(err, errno, "open the directory above %s", path) : visit(k, up, base, 0, err);
        archive_entry_linkresolver_free(k->lr);
        k->lr = NULL;
        return r;
}

int tsync_first(struct tsync *t, struct arc_writer *w, const char *path, vs_error *err) {
        struct walk k = { .mode = TS_FIRST, .w = w, .list = &t->sent };
        int r = walk(&k, path, err);
        if (r >= 0 && t->sent.n)
                qsort(t->sent.v, t->sent.n, sizeof(*t->sent.v), rec_cmp);
        return r;
}

static int ino_cmp(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* Which of cur (sorted) go again: new, another identity, racy when sent,
 * or another name of an inode that goes; then what of sent is gone. */
static int decide(struct tsync *t, struct ts_list *cur, uint64_t *ret_bytes) {
        _cleanup_free_ uint64_t *inos = NULL;
        size_t n_inos = 0;
        uint64_t bytes = 0;
        for (size_t k = 0; k < cur->n; k++) {
                struct ts_rec *c = &cur->v[k], *s = list_find(&t->sent, c->path);
                if (s)
                        s->seen = true;
                c->changed = !s || s->racy || !same_identity(s, c);
                if (c->changed && c->type != S_IFDIR && c->nlink > 1) {
                        if (!inos && !(inos = malloc(cur->n * sizeof(*inos))))
                                return -ENOMEM;
                        inos[n_inos++] = c->ino;
                }
        }
        /* hard links: every name of an inode that goes goes too */
        if (n_inos)
                qsort(inos, n_inos, sizeof(*inos), ino_cmp);
        for (size_t k = 0; k < cur->n; k++) {
                struct ts_rec *c = &cur->v[k];
                if (n_inos && !c->changed && c->type != S_IFDIR && c->nlink > 1 &&
                    bsearch(&c->ino, inos, n_inos, sizeof(*inos), ino_cmp))
                        c->changed = true;
                if (c->changed && c->type == S_IFREG)
                        bytes += c->size;
        }
        *ret_bytes = bytes;
        return 0;
}

int tsync_final(struct tsync *t, struct arc_writer *w, const char *path, void (*total)(void *ctx, uint64_t bytes),
                void *ctx, vs_error *err) {
        struct ts_list cur = { 0 };
        struct walk k = { .mode = TS_SCAN, .list = &cur };
        uint64_t bytes = 0;
        int r = walk(&k, path, err);
        if (r >= 0 && cur.n)
                qsort(cur.v, cur.n, sizeof(*cur.v), rec_cmp);
        if (r >= 0 && (r = decide(t, &cur, &bytes)) < 0)
                r = vs_err(err, -r, "compare %s with what went", path);
        if (r >= 0 && total)
                total(ctx, bytes);
        /* what is gone first, then what came or changed over it */
        if (r >= 0)
                r = arc_add_dir(w, "upper.delta", err);
        for (size_t n = 0; r >= 0 && n < t->sent.n; n++) {
                char as[TS_PATH_MAX + 32];
                if (t->sent.v[n].seen)
                        continue;
                snprintf(as, sizeof(as), "upper.deleted/%s", t->sent.v[n].path);
                r = arc_add_bytes(w, as, "", 0, err);
        }
        if (r >= 0) {
                k = (struct walk){ .mode = TS_SEND, .w = w, .cur = &cur };
                r = walk(&k, path, err);
        }
        list_free(&cur);
        return r;
}

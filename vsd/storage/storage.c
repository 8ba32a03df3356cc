/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/util.h"
#include "vsd/core/daemon.h"
#include "vsd/core/work.h"
#include "vsd/core/syscalls.h"
#include "vsd/storage/loopdev.h"
#include "vsd/storage/storage-internal.h"

/* ---- helpers ------------------------------------------------------------ */

int stor_run(const char *const *argv, int ok_max, vs_error *err) {
        static char *const envp[] = { "PATH=/usr/sbin:/sbin:/usr/bin:/bin", "LC_ALL=C", NULL };
        int pipefd[2];
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return vs_err(err, errno, "run %s", argv[0]);
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
        posix_spawnattr_init(&at);
        /* the daemon's blocked signals (its signalfd's) are not the tool's */
        posix_spawnattr_setsigmask(&at, &none);
        posix_spawnattr_setsigdefault(&at, &all);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        pid_t pid;
        int r = posix_spawnp(&pid, argv[0], &fa, &at, (char *const *) argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        close(pipefd[1]);
        if (r != 0) {
                close(pipefd[0]);
                return vs_err(err, r, "run %s", argv[0]);
        }
        char out[4096];
        size_t len = 0;
        for (;;) {
                ssize_t n = read(pipefd[0], out + len, sizeof(out) - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
                if (len == sizeof(out) - 1) /* keep the tail: the reason is last */
                        memmove(out, out + len / 2, len - len / 2), len -= len / 2;
        }
        close(pipefd[0]);
        out[len] = '\0';
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return vs_err(err, errno, "wait for %s", argv[0]);
        if (WIFEXITED(status) && WEXITSTATUS(status) <= ok_max)
                return 0;
        while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
                out[--len] = '\0';
        char *last = strrchr(out, '\n');
        last = last ? last + 1 : out;
        if (WIFEXITED(status))
                return vs_err_msg(err, EIO, "%s exited with status %d%s%s", argv[0], WEXITSTATUS(status),
                                  *last ? ": " : "", last);
        return vs_err_msg(err, EIO, "%s was killed by signal %d", argv[0], WTERMSIG(status));
}

bool stor_is_mountpoint(const char *path) {
        char parent[700];
        struct stat a, b;
        snprintf(parent, sizeof(parent), "%s/..", path);
        return lstat(path, &a) == 0 && S_ISDIR(a.st_mode) && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

static int copy_sparse(const char *src, const char *dst, bool sync, struct vs_progress *p);

int stor_copy_sparse(const char *src, const char *dst, struct vs_progress *p) {
        return copy_sparse(src, dst, true, p);
}

int stor_copy_sparse_nosync(const char *src, const char *dst, struct vs_progress *p) {
        return copy_sparse(src, dst, false, p);
}

/* What copy_file_range() is asked for at a time: the progress moves, and a
 * cancel (the helper killed) takes effect, between two of these. */
#define COPY_CHUNK (64ULL << 20)

static int copy_sparse(const char *src, const char *dst, bool sync, struct vs_progress *p) {
        _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return -errno;
        struct stat st;
        if (fstat(in, &st) < 0)
                return -errno;
        _cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777);
        if (out < 0)
                return -errno;
        int r = 0;
        uint64_t paced = 0;
        vs_progress_total(p, (uint64_t) st.st_size);
        /* a reflink shares every extent: instant, and no space until written */
        if (ioctl(out, FICLONE, in) == 0) {
                if (sync && fsync(out) < 0) {
                        r = -errno;
                        goto fail;
                }
                vs_progress_done(p, (uint64_t) st.st_size);
                return 0;
        }
        for (off_t data = 0, hole; data < st.st_size; data = hole) {
                data = lseek(in, data, SEEK_DATA);
                if (data < 0) {
                        if (errno == ENXIO) /* only a hole is left */
                                break;
                        r = -errno;
                        goto fail;
                }
                hole = lseek(in, data, SEEK_HOLE);
                if (hole < 0) {
                        r = -errno;
                        goto fail;
                }
                for (off_t o_in = data, o_out = data; o_in < hole;) {
                        uint64_t want = (uint64_t) (hole - o_in);
                        ssize_t n = copy_file_range(in, &o_in, out, &o_out, (size_t) (want < COPY_CHUNK ? want : COPY_CHUNK), 0);
                        if (n <= 0) {
                                r = n < 0 ? -errno : -EIO;
                                goto fail;
                        }
                        if (p) {
                                vs_progress_done(p, (uint64_t) o_in);
                                vs_progress_pace(&paced, (uint64_t) o_in);
                        }
                }
        }
        if (ftruncate(out, st.st_size) < 0 || (sync && fdatasync(out) < 0)) {
                r = -errno;
                goto fail;
        }
        vs_progress_done(p, (uint64_t) st.st_size);
        return 0;
fail:
        (void) unlink(dst);
        return r;
}

/* ---- dir: today's layout, no quota --------------------------------------- */

static int dir_create(struct stor *st, const char *dir, const struct inst_storage *s, vs_error *err) {
        static const char *const subdirs[] = { "upper", "work" };
        char sub[700];
        for (size_t k = 0; k < ELEMENTSOF(subdirs); k++) {
                snprintf(sub, sizeof(sub), "%s/%s", dir, subdirs[k]);
                if (mkdir(sub, 0755) < 0)
                        return vs_err(err, errno, "create %s", sub);
        }
        return 0;
}

static int dir_attach(struct stor *st, const char *dir, struct stor_layer *ret, vs_error *err) {
        ret->fd = -EBADF;
        snprintf(ret->upper, sizeof(ret->upper), "%s/upper", dir);
        snprintf(ret->work, sizeof(ret->work), "%s/work", dir);
        ret->mount_fd = -EBADF;
        return 0;
}

static int dir_detach(struct stor *st, const char *dir, vs_error *err) {
        return 0;
}

static int dir_grow(struct stor *st, const char *dir, uint64_t size, bool attached, vs_error *warn, vs_error *err) {
        return vs_err_msg(err, EINVAL, "an instance with the dir backend has no disk size to change");
}

static int dir_usage(struct stor *st, const char *dir, pid_t pid, struct stor_usage *ret, vs_error *err) {
        *ret = (struct stor_usage){ 0 };
        return 0;
}

/* cp(1) keeps what a layer needs: owners, modes, xattrs (overlay's
 * trusted.* opaque markers), whiteouts (0:0 character devices), sparse
 * files and reflinks where possible.  In a helper; synced (syncfs: cp
 * syncs nothing) so that the caller's rename makes it whole. */
static int dir_copy(struct stor *st, const char *dir, int fsfd, const char *dst, struct vs_progress *p, vs_error *err) {
        char upper[700], to[700];
        snprintf(upper, sizeof(upper), "%s/upper", dir);
        snprintf(to, sizeof(to), "%s/upper", dst);
        /* a snapshot's directory is made here, a clone's exists */
        bool made = mkdir(dst, 0700) == 0;
        if (!made && errno != EEXIST)
                return vs_err(err, errno, "create %s", dst);
        const char *argv[] = { "cp", "-a", "--reflink=auto", "--", upper, to, NULL };
        int r = stor_run(argv, 0, err);
        if (r >= 0) {
                _cleanup_close_ int fd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0 || syncfs(fd) < 0)
                        r = vs_err(err, errno, "sync %s", dst);
        }
        if (r < 0)
                (void) vs_rm_rf(made ? dst : to);
        return r;
}

/* In a helper (the instance is stopped): the copy made beside the layer as
 * upper.new, synced, then swapped with upper in one rename (RENAME_EXCHANGE):
 * a crash leaves the old layer or the new one, never none; what is left as
 * upper.new (the copy, or the old layer after the swap) is removed at the
 * next start. */
static int dir_restore(struct stor *st, const char *dir, const char *src, uint64_t size, struct vs_progress *p,
                       vs_error *err) {
        char upper[700], from[700], work[700];
        snprintf(upper, sizeof(upper), "%s/upper", dir);
        snprintf(from, sizeof(from), "%s/upper", src);
        snprintf(work, sizeof(work), "%s/upper.new", dir);
        (void) vs_rm_rf(work);
        const char *argv[] = { "cp", "-a", "--reflink=auto", "--", from, work, NULL };
        int r = stor_run(argv, 0, err);
        if (r >= 0) {
                _cleanup_close_ int fd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0 || syncfs(fd) < 0)
                        r = vs_err(err, errno, "sync %s", work);
        }
        if (r >= 0 && renameat2(AT_FDCWD, work, AT_FDCWD, upper, RENAME_EXCHANGE) < 0)
                r = vs_err(err, errno, "replace %s", upper);
        if (r >= 0 && (r = vs_fsync_dir(dir)) < 0)
                r = vs_err(err, -r, "sync %s", dir);
        /* the copy on failure, the old layer on success */
        (void) vs_rm_rf(work);
        return r;
}

static int dir_fs_fd(struct stor *st, const char *dir) {
        return -ENOENT;
}

static int dir_thaw(struct stor *st, const char *dir, vs_error *err) {
        return 0;
}

static int dir_cleanup_partial(const char *dir) {
        char work[700];
        snprintf(work, sizeof(work), "%s/upper.new", dir);
        if (access(work, F_OK) < 0)
                return 0;
        int r = vs_rm_rf(work);
        return r < 0 ? r : 1;
}

static const struct stor_ops dir_ops = {
        .create = dir_create,
        .attach = dir_attach,
        .detach = dir_detach,
        .grow = dir_grow,
        .usage = dir_usage,
        .copy = dir_copy,
        .restore = dir_restore,
        .fs_fd = dir_fs_fd,
        .thaw = dir_thaw,
        .cleanup_partial = dir_cleanup_partial,
};

static const struct stor_ops *const backends[_STOR_MAX] = {
        [STOR_DIR] = &dir_ops,
        [STOR_IMAGE] = &stor_image_ops,
};

static const struct stor_ops *ops_of(const struct inst_config *cfg) {
        return backends[stor_backend_of(cfg->storage.backend)];
}

/* ---- the interface -------------------------------------------------------- */

/* What a full copy of the template takes: bytes allocated and files.
 * nftw() passes no context; the daemon is single-threaded. */
/* Scratch of one template_needs() walk, which runs to its end before
 * anything else (nftw() passes its callback no user data): per process, and
 * meaningful only during that call. */
static uint64_t walk_bytes, walk_files;
static int walk_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        walk_bytes += (uint64_t) st->st_blocks * 512;
        walk_files++;
        return 0;
}

static int template_needs(struct vsd *v, const char *rootfs, uint64_t *ret_bytes, uint64_t *ret_files,
                          vs_error *err) {
        struct stor_tmpl_cache *c = &v->stor->tmpl_sizes;
        struct stat st;
        if (stat(rootfs, &st) < 0)
                return vs_err(err, errno, "stat the template %s", rootfs);
        int64_t mtime = (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        int64_t ctime = (int64_t) st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
        for (unsigned k = 0; k < STOR_TMPL_CACHE; k++)
                if (streq(c->e[k].rootfs, rootfs) && c->e[k].dev == st.st_dev && c->e[k].ino == st.st_ino &&
                    c->e[k].mtime_ns == mtime && c->e[k].ctime_ns == ctime) {
                        *ret_bytes = c->e[k].bytes;
                        *ret_files = c->e[k].files;
                        return 0;
                }
        walk_bytes = walk_files = 0;
        if (nftw(rootfs, walk_one, 64, FTW_PHYS | FTW_MOUNT) < 0)
                return vs_err(err, errno, "measure the template %s", rootfs);
        unsigned k = c->next++ % STOR_TMPL_CACHE;
        snprintf(c->e[k].rootfs, sizeof(c->e[k].rootfs), "%s", rootfs);
        c->e[k].dev = st.st_dev;
        c->e[k].ino = st.st_ino;
        c->e[k].mtime_ns = mtime;
        c->e[k].ctime_ns = ctime;
        c->e[k].bytes = walk_bytes;
        c->e[k].files = walk_files;
        *ret_bytes = walk_bytes;
        *ret_files = walk_files;
        return 0;
}

/* The largest image: far beyond any plan, and well inside what ext4 and
 * the host's filesystem take as one file. */
#define STOR_DISK_MAX (8ULL << 40)

int stor_resolve_new(struct vsd *v, struct inst_config *cfg, const char *template_rootfs, vs_error *warn,
                     vs_error *err) {
        struct inst_storage *s = &cfg->storage;
        char want[32], need[32];
        if (s->backend == STOR_UNSET)
                s->backend = v->set.stor.default_backend;
        if (s->backend == STOR_DIR) {
                if (s->disk || s->inodes)
                        return vs_err_msg(err, EINVAL, "the dir backend has no quota: --disk and --inodes need the image backend");
                if (warn)
                        vs_err_msg(warn, 0, "instance '%s' uses the dir backend: its disk use has no limit", cfg->name);
                return 0;
        }
        if (!s->disk)
                s->disk = v->set.stor.default_disk;
        if (!s->inodes)
                s->inodes = v->set.stor.default_inodes;
        vs_format_size(s->disk, want, sizeof(want));
        if (s->disk % 4096)
                return vs_err_msg(err, EINVAL, "disk size %s is not a multiple of 4K", want);
        if (s->disk > STOR_DISK_MAX)
                return vs_err_msg(err, EINVAL, "disk size %s is larger than the largest image (8T)", want);
        if (s->disk < STOR_DISK_MIN)
                return vs_err_msg(err, EINVAL, "disk size %s is too small: at least 64M", want);
        uint64_t bytes = 0, files = 0;
        int r = template_needs(v, template_rootfs, &bytes, &files, err);
        if (r < 0)
                return r;
        /* a full copy of the template (every file copied up), plus the
         * filesystem's own journal and tables */
        uint64_t needed = bytes + bytes / 10 + (16ULL << 20);
        if (s->disk < needed) {
                vs_format_size((needed + (1 << 20) - 1) & ~((1ULL << 20) - 1), need, sizeof(need));
                return vs_err_msg(err, EINVAL, "disk size %s is too small for template '%s': at least %s", want,
                                  cfg->template_name, need);
        }
        if (s->inodes && s->inodes < files + 16)
                return vs_err_msg(err, EINVAL, "%" PRIu64 " inodes are too few for template '%s' (%" PRIu64 " files)",
                                  s->inodes, cfg->template_name, files);
        return 0;
}

int stor_check_update(const struct inst_config *old, const struct inst_config *cfg, vs_error *err) {
        const struct inst_storage *a = &old->storage, *b = &cfg->storage;
        if (stor_backend_of(a->backend) != stor_backend_of(b->backend))
                return vs_err_msg(err, EINVAL, "the storage backend of '%s' is %s and cannot change after create",
                                  old->name, stor_backend_name(stor_backend_of(a->backend)));
        if (a->inodes != b->inodes)
                return vs_err_msg(err, EINVAL, "the inode count of '%s' cannot change after create", old->name);
        if (a->disk == b->disk)
                return 0;
        if (stor_backend_of(a->backend) == STOR_DIR)
                return vs_err_msg(err, EINVAL, "'%s' uses the dir backend, which has no disk size", old->name);
        char from[32], to[32];
        vs_format_size(a->disk, from, sizeof(from));
        vs_format_size(b->disk, to, sizeof(to));
        if (b->disk < a->disk)
                return vs_err_msg(err, EINVAL, "cannot shrink the disk of '%s' from %s to %s: disks only grow", old->name,
                                  from, to);
        if (b->disk % 4096)
                return vs_err_msg(err, EINVAL, "disk size %s is not a multiple of 4K", to);
        if (b->disk > STOR_DISK_MAX)
                return vs_err_msg(err, EINVAL, "disk size %s is larger than the largest image (8T)", to);
        return 0;
}

/* ---- the daemon's records ---- */

int stor_new(struct vsd *v, vs_error *err) {
        struct stor *st = calloc(1, sizeof(*st));
        if (!st)
                return vs_err(err, ENOMEM, "Failed to set up storage");
        st->v = v;
        v->stor = st;
        return 0;
}

static void rec_free(struct stor *st, struct stor_rec *r) {
        if (r->kept)
                st->n_kept--;
        safe_close(&r->fs_fd);
        safe_close(&r->written_fd);
        safe_close(&r->pre_fd);
        /* the readahead helper (stor_image.c) holding its device: ended */
        if (r->ra_busy)
                (void) work_cancel(st->v, STOR_RA_WORK_ID);
        free(r->dir);
        free(r);
}

void stor_free(struct vsd *v) {
        struct stor *st = v->stor;
        if (!st)
                return;
        for (size_t k = 0; k < st->n_rec; k++)
                rec_free(st, st->rec[k]);
        free(st->rec);
        stor_scan_end(v);
        free(st);
        v->stor = NULL;
}

struct stor_rec *stor_rec_get(struct stor *st, const char *dir, bool create) {
        for (size_t k = 0; k < st->n_rec; k++)
                if (streq(st->rec[k]->dir, dir))
                        return st->rec[k];
        if (!create)
                return NULL;
        struct stor_rec *r = calloc(1, sizeof(*r));
        struct stor_rec **n = realloc(st->rec, (st->n_rec + 1) * sizeof(*n));
        if (n)
                st->rec = n;
        if (!r || !n || !(r->dir = strdup(dir))) {
                free(r);
                return NULL;
        }
        r->fs_fd = r->written_fd = r->pre_fd = -EBADF;
        st->rec[st->n_rec++] = r;
        return r;
}

void stor_forget(struct vsd *v, const char *dir) {
        if (v->stor)
                stor_rec_drop(v->stor, dir);
}

void stor_rec_drop(struct stor *st, const char *dir) {
        for (size_t k = 0; k < st->n_rec; k++)
                if (streq(st->rec[k]->dir, dir)) {
                        rec_free(st, st->rec[k]);
                        st->rec[k] = st->rec[--st->n_rec];
                        return;
                }
}

/* ---- the backends' operations ---- */

int stor_create(struct vsd *v, const char *dir, const struct inst_config *cfg, vs_error *err) {
        return ops_of(cfg)->create(v->stor, dir, &cfg->storage, err);
}

int stor_attach(struct vsd *v, const char *dir, const struct inst_config *cfg, struct stor_layer *ret, vs_error *err) {
        return ops_of(cfg)->attach(v->stor, dir, ret, err);
}

int stor_detach(struct vsd *v, const char *dir, const struct inst_config *cfg, vs_error *err) {
        return ops_of(cfg)->detach(v->stor, dir, err);
}

int stor_cleanup(struct vsd *v, const char *dir, vs_error *err) {
        char mnt[700], image[700];
        int n = 0;
        snprintf(mnt, sizeof(mnt), "%s/disk", dir);
        snprintf(image, sizeof(image), "%s/disk.img", dir);
        if (stor_is_mountpoint(mnt)) {
                /* nothing runs from it: an unmount that is refused means
                 * someone else holds it; detach it from the tree anyway */
                if (umount2(mnt, UMOUNT_NOFOLLOW) < 0 && umount2(mnt, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                        return vs_err(err, errno, "unmount %s", mnt);
                n++;
        }
        int r = loopdev_detach_all(v->stor ? v->stor->scan : NULL, image);
        if (r < 0 && r != -ENOENT)
                return vs_err(err, -r, "detach the loop devices of %s", image);
        return n + (r > 0 ? r : 0);
}

void stor_scan_begin(struct vsd *v) {
        struct stor *st = v->stor;
        if (!st || st->scan)
                return;
        struct loopdev_map *m = calloc(1, sizeof(*m));
        if (m && loopdev_map_load(m) < 0) {
                free(m);
                m = NULL;
        }
        st->scan = m;
}

void stor_scan_end(struct vsd *v) {
        struct stor *st = v->stor;
        if (!st || !st->scan)
                return;
        loopdev_map_free(st->scan);
        free(st->scan);
        st->scan = NULL;
}

int stor_prefetch(struct vsd *v, const char *dir, const struct inst_config *cfg) {
        const struct stor_ops *o = ops_of(cfg);
        return v->stor && o->prefetch ? o->prefetch(v->stor, dir) : 0;
}

void stor_prefetch_drop(struct vsd *v, const char *dir, const struct inst_config *cfg) {
        const struct stor_ops *o = ops_of(cfg);
        if (v->stor && o->prefetch_drop)
                o->prefetch_drop(v->stor, dir);
}

void stor_learn(struct vsd *v, const char *dir, const struct inst_config *cfg) {
        const struct stor_ops *o = ops_of(cfg);
        if (v->stor && v->stor->scan && o->learn)
                o->learn(v->stor, dir);
}

int stor_release(struct vsd *v, const char *dir, const struct inst_config *cfg, vs_error *err) {
        const struct stor_ops *o = ops_of(cfg);
        return o->release && v->stor ? o->release(v->stor, dir, err) : 0;
}

int stor_grow(struct vsd *v, const char *dir, const struct inst_config *old, const struct inst_config *cfg,
              bool attached, vs_error *warn, vs_error *err) {
        if (old->storage.disk == cfg->storage.disk)
                return 0;
        /* a stopped instance's filesystem grows offline, at its next start */
        int r = attached ? 0 : stor_release(v, dir, cfg, err);
        if (r < 0)
                return r;
        return ops_of(cfg)->grow(v->stor, dir, cfg->storage.disk, attached, warn, err);
}

int stor_usage(struct vsd *v, const char *dir, const struct inst_config *cfg, pid_t pid, struct stor_usage *ret,
               vs_error *err) {
        return ops_of(cfg)->usage(v->stor, dir, pid, ret, err);
}

int stor_written(struct vsd *v, const char *dir, const struct inst_config *cfg, uint64_t *ret) {
        const struct stor_ops *ops = ops_of(cfg);
        return ops->written ? ops->written(v->stor, dir, ret) : -ENODATA;
}

int stor_copy_layer(struct vsd *v, const char *src_dir, const struct inst_config *cfg, int fsfd, const char *dst,
                    struct vs_progress *p, vs_error *err) {
        return ops_of(cfg)->copy(v->stor, src_dir, fsfd, dst, p, err);
}

int stor_restore_layer(struct vsd *v, const char *dir, const struct inst_config *cfg, const char *src,
                       struct vs_progress *p, vs_error *err) {
        return ops_of(cfg)->restore(v->stor, dir, src, cfg->storage.disk, p, err);
}

int stor_restore_prepare(struct vsd *v, const char *dir, const struct inst_config *cfg, vs_error *err) {
        const struct stor_ops *o = ops_of(cfg);
        int r = stor_release(v, dir, cfg, err);
        if (r < 0)
                return r;
        return o->restore_prepare ? o->restore_prepare(v->stor, dir, err) : 0;
}

int stor_fs_fd(struct vsd *v, const char *dir, const struct inst_config *cfg) {
        return ops_of(cfg)->fs_fd(v->stor, dir);
}

int stor_thaw(struct vsd *v, const char *dir, const struct inst_config *cfg, vs_error *err) {
        return ops_of(cfg)->thaw(v->stor, dir, err);
}

int stor_cleanup_partial(const char *dir) {
        /* no config needed: each backend's leftovers have their own names */
        int n = 0;
        for (size_t k = 0; k < _STOR_MAX; k++)
                if (backends[k]) {
                        int r = backends[k]->cleanup_partial(dir);
                        if (r < 0)
                                return r;
                        n += r;
                }
        return n;
}

/* ---- a clone's first start ---- */

/* Is there a regular file at etc/machine-id below root (no link followed,
 * nothing opened that could block)? */
static bool has_machine_id(const char *root) {
        _cleanup_close_ int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return false;
        _cleanup_close_ int f = vs_open_inside(fd, "etc/machine-id", O_RDONLY, 0, RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH, NULL);
        return f >= 0;
}

int stor_fresh_identity(const char *dir, const char *lower, const struct stor_layer *layer, vs_error *err) {
        char marker[700];
        snprintf(marker, sizeof(marker), "%s/" STOR_IDENTITY_MARKER, dir);
        if (access(marker, F_OK) < 0)
                return 0;
        if (has_machine_id(layer->upper) || has_machine_id(lower)) {
                uint8_t rnd[16];
                char id[34];
                if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
                        return vs_err(err, EIO, "random bytes for a machine id");
                for (int k = 0; k < 16; k++)
                        snprintf(id + 2 * k, 3, "%02x", rnd[k]);
                id[32] = '\n';
                id[33] = '\0';
                /* the layer is the customer's: nothing in it is followed */
                _cleanup_close_ int up = open(layer->upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (up < 0)
                        return vs_err(err, errno, "open %s", layer->upper);
                if (mkdirat(up, "etc", 0755) < 0 && errno != EEXIST)
                        return vs_err(err, errno, "create etc in %s", layer->upper);
                _cleanup_close_ int etc = vs_open_inside(up, "etc", O_RDONLY | O_DIRECTORY, 0,
                                                         RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH, err);
                if (etc < 0)
                        return vs_err_prefix(err, "Failed to give %s a new machine id", layer->upper);
                (void) unlinkat(etc, "machine-id.vsd-new", 0);
                _cleanup_close_ int f = openat(etc, "machine-id.vsd-new", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                               0444);
                if (f < 0 || write(f, id, 33) != 33 || renameat(etc, "machine-id.vsd-new", etc, "machine-id") < 0) {
                        int e = errno;
                        (void) unlinkat(etc, "machine-id.vsd-new", 0);
                        return vs_err(err, e, "write a new /etc/machine-id");
                }
        }
        (void) unlink(marker);
        return 0;
}

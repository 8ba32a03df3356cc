/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image backend: the private layer in <inst>/disk.img, an ext4
 * filesystem of the plan's size, on a loop device, mounted on <inst>/disk.
 *
 * A new image is a copy of a cached empty one made once per (size, inodes)
 * by mke2fs: copying its ~0.25 MiB of data extents costs well under a
 * millisecond where running mke2fs costs 15-30.  Each copy then gets its
 * own filesystem UUID and directory hash seed, written into the superblock
 * directly: the cache image is made with metadata_csum_seed, so no other
 * checksum depends on the UUID.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/log.h"
#include "base/util.h"
#include "vsd/core/daemon.h"
#include "vsd/core/work.h"
#include "vsd/storage/loopdev.h"
#include "vsd/storage/storage-internal.h"

#define EXT4_IOC_RESIZE_FS _IOW('f', 16, uint64_t)

/* How long a start waits for the previous run's loop device to go, and a
 * stop for its own. */
#define ATTACH_WAIT_MS 2000
#define DETACH_WAIT_MS 1000

/* ---- the ext4 superblock, the few fields vsd touches ---------------------- */

#define SB_OFFSET 1024
#define SB_SIZE 1024
#define SB_MAGIC 0x38
#define SB_INCOMPAT 0x60
#define SB_RO_COMPAT 0x64
#define SB_UUID 0x68
#define SB_HASH_SEED 0xEC
#define SB_CHECKSUM 0x3FC
#define EXT4_MAGIC 0xEF53
#define INCOMPAT_CSUM_SEED 0x2000
#define RO_COMPAT_METADATA_CSUM 0x400

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v) {
        for (int k = 0; k < 4; k++)
                p[k] = (uint8_t) (v >> (8 * k));
}

/* CRC-32C (Castagnoli) as ext4 uses it: reflected, no final inversion. */
static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n) {
        while (n--) {
                crc ^= *p++;
                for (int k = 0; k < 8; k++)
                        crc = (crc >> 1) ^ (0x82F63B78u & -(crc & 1));
        }
        return crc;
}

static int sb_read(int fd, uint8_t sb[SB_SIZE]) {
        if (pread(fd, sb, SB_SIZE, SB_OFFSET) != SB_SIZE)
                return -EIO;
        if ((sb[SB_MAGIC] | sb[SB_MAGIC + 1] << 8) != EXT4_MAGIC)
                return -EUCLEAN;
        return 0;
}

/* A fresh UUID and hash seed for a copied image.  Only the primary
 * superblock changes; the backups keep the cache's, which e2fsck and the
 * kernel accept (neither compares UUIDs across copies). */
static int sb_new_identity(int fd) {
        uint8_t sb[SB_SIZE], rnd[32];
        int r = sb_read(fd, sb);
        if (r < 0)
                return r;
        if (!(le32(sb + SB_INCOMPAT) & INCOMPAT_CSUM_SEED) && (le32(sb + SB_RO_COMPAT) & RO_COMPAT_METADATA_CSUM))
                return -EOPNOTSUPP; /* every checksum would depend on the UUID */
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
                return -EIO;
        rnd[6] = (uint8_t) ((rnd[6] & 0x0F) | 0x40); /* version 4 */
        rnd[8] = (uint8_t) ((rnd[8] & 0x3F) | 0x80); /* variant */
        memcpy(sb + SB_UUID, rnd, 16);
        memcpy(sb + SB_HASH_SEED, rnd + 16, 16);
        if (le32(sb + SB_RO_COMPAT) & RO_COMPAT_METADATA_CSUM)
                put_le32(sb + SB_CHECKSUM, crc32c(~0u, sb, SB_CHECKSUM));
        if (pwrite(fd, sb, SB_SIZE, SB_OFFSET) != SB_SIZE)
                return -EIO;
        return 0;
}

/* ---- the journal, given back ------------------------------------------------ */

#define SB_LOG_BLOCK_SIZE 0x18
#define SB_COMPAT 0x5C
#define SB_JOURNAL_INUM 0xE0
#define SB_JNL_BACKUP_TYPE 0xFD
#define SB_JNL_BLOCKS 0x10C
#define COMPAT_HAS_JOURNAL 0x4
#define INCOMPAT_RECOVER 0x4
#define INCOMPAT_JOURNAL_DEV 0x8
#define JNL_BACKUP_BLOCKS 1
#define EXT4_JOURNAL_INO 8
#define EXT4_EXT_MAGIC 0xF30A
#define JBD2_MAGIC 0xC03B3998u
#define JBD2_SB_START 0x1C

static uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | (uint32_t) p[3];
}

/*
 * Punch the journal of a cleanly unmounted image, all but its superblock:
 * the journal is a log the filesystem writes round and round, and metadata
 * churn (thousands of files made and deleted) leaves it allocated in the
 * image up to its whole size (16 MiB of a 256M disk, 64 MiB of a 10G one),
 * though a clean journal's contents are never read again.  Zeros are what
 * mke2fs leaves there (lazy_journal_init on a sparse file): jbd2 starts a
 * clean journal at its first block and recovery stops at the first block
 * that is no log block.  Only with the device released (nothing can write
 * in between), and only what the superblock's copy of the journal inode's
 * extents says, when every field is as mke2fs made it; anything else is
 * left alone.  Returns the bytes punched, 0 when nothing was.
 */
static int64_t journal_give_back(int fd) {
        uint8_t sb[SB_SIZE], jsb[64];
        struct stat st;
        if (sb_read(fd, sb) < 0 || fstat(fd, &st) < 0)
                return 0;
        uint32_t log_bs = le32(sb + SB_LOG_BLOCK_SIZE);
        if (log_bs > 6 || !(le32(sb + SB_COMPAT) & COMPAT_HAS_JOURNAL) ||
            (le32(sb + SB_INCOMPAT) & (INCOMPAT_RECOVER | INCOMPAT_JOURNAL_DEV)) ||
            le32(sb + SB_JOURNAL_INUM) != EXT4_JOURNAL_INO || sb[SB_JNL_BACKUP_TYPE] != JNL_BACKUP_BLOCKS)
                return 0; /* not clean, or a journal laid out otherwise */
        uint64_t bs = 1024ULL << log_bs;
        const uint8_t *eh = sb + SB_JNL_BLOCKS; /* i_block: an extent header and up to 4 extents */
        uint16_t entries = le16(eh + 2);
        if (le16(eh) != EXT4_EXT_MAGIC || le16(eh + 6) != 0 || entries == 0 || entries > 4)
                return 0;
        int64_t punched = 0;
        for (int pass = 0; pass < 2; pass++)
                for (uint16_t k = 0; k < entries; k++) {
                        const uint8_t *ex = eh + 12 + 12 * k;
                        uint64_t lblk = le32(ex), len = le16(ex + 4);
                        uint64_t pblk = (uint64_t) le16(ex + 6) << 32 | le32(ex + 8);
                        if (len > 32768)
                                len -= 32768; /* an unwritten extent */
                        if (len == 0 || (pblk + len) * bs > (uint64_t) st.st_size)
                                return punched;
                        if (pass == 0) {
                                /* the journal's own superblock: clean (s_start 0) */
                                if (lblk == 0 && (pread(fd, jsb, sizeof(jsb), (off_t) (pblk * bs)) != (ssize_t) sizeof(jsb) ||
                                                  be32(jsb) != JBD2_MAGIC || be32(jsb + JBD2_SB_START) != 0))
                                        return 0;
                                continue;
                        }
                        if (lblk == 0) {
                                pblk++;
                                len--;
                        }
                        if (len && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) (pblk * bs),
                                             (off_t) (len * bs)) < 0)
                                return punched;
                        punched += (int64_t) (len * bs);
                }
        return punched;
}

/* ---- paths ------------------------------------------------------------------ */

static void image_path(const char *dir, char *buf, size_t len) {
        snprintf(buf, len, "%s/disk.img", dir);
}

static void mount_path(const char *dir, char *buf, size_t len) {
        snprintf(buf, len, "%s/disk", dir);
}

/* The held mount of dir's filesystem (struct stor_rec), or -EBADF. */
static int held_fd(struct stor *st, const char *dir) {
        struct stor_rec *r = stor_rec_get(st, dir, false);
        return r ? r->fs_fd : -EBADF;
}

/* Its filesystem is gone (detach) or replaced: what was held of it goes. */
static void held_drop(struct stor *st, const char *dir) {
        struct stor_rec *r = stor_rec_get(st, dir, false);
        if (r) {
                safe_close(&r->fs_fd);
                safe_close(&r->written_fd);
        }
}

static int held_add(struct stor *st, const char *dir, int fd) {
        struct stor_rec *r = stor_rec_get(st, dir, true);
        if (!r)
                return -ENOMEM;
        safe_close(&r->fs_fd);
        r->fs_fd = fd;
        return 0;
}

static int find_dev(struct stor *st, const char *dir, const char *image, char dev[static LOOPDEV_PATH_MAX]);

/* A new mount (in no namespace, held by the returned O_PATH fd) of the
 * filesystem on dev.  When the kernel still has that filesystem (a running
 * instance's overlay holds it, or a freeze outlived its last mount) this
 * is one more mount of the same superblock: the way back to it for a
 * daemon that has no fd on it.  -errno. */
static int mount_existing(const char *dev) {
        _cleanup_close_ int fsfd = fsopen("ext4", FSOPEN_CLOEXEC);
        if (fsfd < 0)
                return -errno;
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "source", dev, 0) < 0 ||
            fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return -errno;
        int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID);
        return mfd < 0 ? -errno : mfd;
}

/* An fd on the instance's mounted filesystem that ioctl() takes (the held
 * one is O_PATH): its root opened through the held fd, or (an instance
 * started by an older daemon) its mount on <dir>/disk.  With neither and
 * reattach set (a running instance re-adopted after a restart of the
 * daemon), the filesystem its overlay holds is mounted once more and held
 * from then on, as if this daemon had started it.  *owned: the caller
 * closes it. */
static int fs_fd(struct stor *st, const char *dir, const char *mnt, bool reattach, bool *owned) {
        int held_root = held_fd(st, dir), fd;
        *owned = false;
        if (held_root < 0 && !stor_is_mountpoint(mnt) && reattach) {
                char image[700], dev[LOOPDEV_PATH_MAX];
                image_path(dir, image, sizeof(image));
                if (find_dev(st, dir, image, dev) > 0) {
                        int mfd = mount_existing(dev);
                        if (mfd >= 0 && held_add(st, dir, mfd) < 0)
                                safe_close(&mfd);
                        held_root = mfd;
                }
        }
        if (held_root >= 0)
                fd = openat(held_root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        else if (stor_is_mountpoint(mnt))
                fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        else
                return -ENOENT;
        *owned = fd >= 0;
        return fd < 0 ? -errno : fd;
}

/* Present while the image is larger than its filesystem: the next attach
 * grows the filesystem offline first. */
static void grow_marker(const char *dir, char *buf, size_t len) {
        snprintf(buf, len, "%s/disk.grow", dir);
}

/* ---- create ------------------------------------------------------------------ */

/* The empty filesystem every image of this size and inode count starts as. */
static int cached_image(struct stor *st, const struct inst_storage *s, char *path, size_t len, vs_error *err) {
        char cache[512], tmp[700], inodes[32];
        snprintf(cache, sizeof(cache), "%s/cache", st->v->set.root);
        snprintf(path, len, "%s/ext4-%" PRIu64 "-%" PRIu64 ".img", cache, s->disk, s->inodes);
        if (access(path, F_OK) == 0)
                return 0;
        int r = vs_mkdir_p(cache, 0700);
        if (r < 0)
                return vs_err(err, -r, "create %s", cache);
        snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int) getpid());
        (void) unlink(tmp);
        {
                _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd < 0)
                        return vs_err(err, errno, "create %s", tmp);
                if (ftruncate(fd, (off_t) s->disk) < 0) {
                        r = vs_err(err, errno, "size %s", tmp);
                        (void) unlink(tmp);
                        return r;
                }
        }
        snprintf(inodes, sizeof(inodes), "%" PRIu64, s->inodes);
        /* 4 KiB blocks and the default inode ratio whatever the size (small
         * filesystems would get 1 KiB blocks); no reserved blocks (the whole
         * plan is the customer's); no resize inode: that saves 4 MiB of
         * allocated reserved GDT blocks per image, and the kernel grows such
         * a filesystem online anyway by switching it to meta_bg; nothing
         * written that a fresh sparse file already reads as zeros */
        const char *argv[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-T", "default", "-m", "0",
                               "-L", "vsd", "-O", "^resize_inode,metadata_csum_seed", "-E",
                               "nodiscard,lazy_itable_init=1,lazy_journal_init=1,assume_storage_prezeroed=1",
                               s->inodes ? "-N" : tmp, s->inodes ? inodes : NULL, s->inodes ? tmp : NULL, NULL };
        r = stor_run(argv, 0, err);
        if (r < 0 || rename(tmp, path) < 0) {
                if (r >= 0)
                        r = vs_err(err, errno, "rename %s", tmp);
                (void) unlink(tmp);
                return vs_err_prefix(err, "make an empty filesystem");
        }
        return 0;
}

/* What is known of the loop device of dir's image (struct stor_rec): dev,
 * or "" for none. */
static void known_set(struct stor *st, const char *dir, const char *dev) {
        struct stor_rec *r = stor_rec_get(st, dir, true);
        if (!r)
                return; /* then found by looking */
        r->dev_known = true;
        snprintf(r->dev, sizeof(r->dev), "%s", dev);
}

/* 1 (dev filled) when a loop device is bound to the image of dir, 0 when
 * none is, < 0 on an error. */
static int find_dev(struct stor *st, const char *dir, const char *image, char dev[static LOOPDEV_PATH_MAX]) {
        struct stor_rec *rec = stor_rec_get(st, dir, false);
        if (rec && rec->dev_known) {
                if (rec->dev[0] && loopdev_backs(rec->dev, image)) {
                        snprintf(dev, LOOPDEV_PATH_MAX, "%s", rec->dev);
                        return 1;
                }
                rec->dev[0] = '\0';
                return 0;
        }
        int r = loopdev_find(st->scan, image, dev);
        if (r >= 0)
                known_set(st, dir, r > 0 ? dev : "");
        return r;
}

/* The image's loop device, or that none is bound, from the load's list. */
static void image_learn(struct stor *st, const char *dir) {
        char image[700], dev[LOOPDEV_PATH_MAX];
        image_path(dir, image, sizeof(image));
        (void) find_dev(st, dir, image, dev);
}

/* What image_prefetch() reads ahead at most: a busybox instance uses a few
 * hundred KiB of its image; a large one's data is not the metadata the
 * mounts wait for, and its first blocks hold that. */
#define PREFETCH_MAX (32ULL << 20)

/* Read the image's allocated ranges (FIEMAP of the file: what was ever
 * written, the metadata among it) through dev's fd into its cache.  In
 * the readahead helper: readahead() queues the reads, but waits when the
 * device's queue is full, and FIEMAP of a file of many small extents (a
 * customer's sparse image) may read much of the host filesystem's
 * metadata; on a slow disk with many instances starting that was seconds
 * of the loop. */
static void readahead_used(const char *image, int devfd) {
        _cleanup_close_ int fd = open(image, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return;
        enum { N = 64 };
        struct {
                struct fiemap fm;
                struct fiemap_extent fe[N];
        } m;
        uint64_t at = 0, budget = PREFETCH_MAX;
        for (;;) {
                memset(&m, 0, sizeof(m));
                m.fm.fm_start = at;
                m.fm.fm_length = FIEMAP_MAX_OFFSET - at;
                m.fm.fm_extent_count = N;
                if (ioctl(fd, FS_IOC_FIEMAP, &m.fm) < 0 || m.fm.fm_mapped_extents == 0)
                        return;
                for (unsigned k = 0; k < m.fm.fm_mapped_extents; k++) {
                        const struct fiemap_extent *e = &m.fm.fm_extents[k];
                        uint64_t len = e->fe_length < budget ? e->fe_length : budget;
                        (void) readahead(devfd, (off64_t) e->fe_logical, (size_t) len);
                        budget -= len;
                        at = e->fe_logical + e->fe_length;
                        if (!budget || (e->fe_flags & FIEMAP_EXTENT_LAST))
                                return;
                }
        }
}

/* The readahead helper's work: up to WORK_KEEP_MAX images, the device of
 * image[k] its fd 4 + k, read one after the other (the disk's order). */
struct ra_batch {
        struct stor *st;
        size_t n;
        char dir[WORK_KEEP_MAX][512];
        char image[WORK_KEEP_MAX][700];
};

static int ra_run(void *arg, vs_error *err) {
        const struct ra_batch *b = arg;
        for (size_t k = 0; k < b->n; k++)
                readahead_used(b->image[k], 4 + (int) k);
        return 0;
}

static void ra_kick(struct stor *st);

static void ra_done(void *userdata, int result, const vs_error *err) {
        struct ra_batch *b = userdata;
        struct stor *st = b->st;
        st->ra_running = false;
        for (size_t k = 0; k < b->n; k++) {
                struct stor_rec *rec = stor_rec_get(st, b->dir[k], false);
                if (rec)
                        rec->ra_busy = false;
        }
        free(b);
        if (result != -ESHUTDOWN)
                ra_kick(st);
}

/* Give the reads wanted to a helper, unless one runs (then its end does).
 * A helper that cannot start costs the starts their head start only. */
static void ra_kick(struct stor *st) {
        if (st->ra_running)
                return;
        struct ra_batch *b = calloc(1, sizeof(*b));
        int keep[WORK_KEEP_MAX];
        if (!b)
                return;
        b->st = st;
        for (size_t k = 0; k < st->n_rec && b->n < WORK_KEEP_MAX; k++) {
                struct stor_rec *rec = st->rec[k];
                if (!rec->ra_wanted || rec->pre_fd < 0)
                        continue;
                snprintf(b->dir[b->n], sizeof(b->dir[b->n]), "%s", rec->dir);
                image_path(rec->dir, b->image[b->n], sizeof(b->image[b->n]));
                keep[b->n++] = rec->pre_fd;
        }
        vs_error err = { 0 };
        if (!b->n || work_start_fds(st->v, STOR_RA_WORK_ID, ra_run, b, keep, b->n, NULL, ra_done, b, &err) < 0) {
                if (b->n)
                        log_debug("Failed to read disks ahead of their starts: %s, ignoring", err.msg);
                for (size_t k = 0; k < st->n_rec; k++)
                        st->rec[k]->ra_wanted = false;
                free(b);
                return;
        }
        st->ra_running = true;
        for (size_t k = 0; k < b->n; k++) {
                struct stor_rec *rec = stor_rec_get(st, b->dir[k], false);
                rec->ra_wanted = false;
                rec->ra_busy = true;
        }
}

/* dir's device is to go: a readahead helper still reading it would hold
 * it (its copy of pre_fd), so it ends (the others of its batch lose their
 * head start); a read not yet given to one is not. */
static void ra_let_go(struct stor *st, struct stor_rec *rec) {
        rec->ra_wanted = false;
        if (rec->ra_busy)
                (void) work_cancel(st->v, STOR_RA_WORK_ID);
}

static int image_prefetch(struct stor *st, const char *dir) {
        char image[700], marker[700], dev[LOOPDEV_PATH_MAX];
        struct stor_rec *rec = stor_rec_get(st, dir, false);
        if (rec && (rec->kept || rec->fs_fd >= 0 || rec->pre_fd >= 0))
                return 0; /* mounted already, or bound for this start */
        image_path(dir, image, sizeof(image));
        grow_marker(dir, marker, sizeof(marker));
        /* a grow runs e2fsck on the file before the bind: not ahead */
        if (access(marker, F_OK) == 0 || find_dev(st, dir, image, dev) != 0)
                return 0;
        int fd = -EBADF;
        vs_error err = { 0 };
        int r = loopdev_attach(image, st->v->set.stor.direct_io, dev, &fd, &err);
        if (r < 0)
                return r;
        rec = stor_rec_get(st, dir, true);
        if (!rec) {
                safe_close(&fd);
                return -ENOMEM;
        }
        known_set(st, dir, dev);
        rec->pre_fd = fd;
        /* the reads in the helper: the loop only binds */
        rec->ra_wanted = true;
        ra_kick(st);
        return 1;
}

static void image_prefetch_drop(struct stor *st, const char *dir) {
        struct stor_rec *rec = stor_rec_get(st, dir, false);
        if (rec && rec->pre_fd >= 0) {
                ra_let_go(st, rec);
                safe_close(&rec->pre_fd); /* autoclear: the device goes */
        }
}

static int image_create(struct stor *st, const char *dir, const struct inst_storage *s, vs_error *err) {
        stor_rec_drop(st, dir); /* a new image: nothing known of it (the name may be reused) */
        char cache[600], image[700], mnt[700];
        int r = cached_image(st, s, cache, sizeof(cache), err);
        if (r < 0)
                return r;
        image_path(dir, image, sizeof(image));
        r = stor_copy_sparse_nosync(cache, image, NULL);
        if (r < 0)
                return vs_err(err, -r, "copy %s to %s", cache, image);
        {
                _cleanup_close_ int fd = open(image, O_RDWR | O_CLOEXEC);
                if (fd < 0 || (r = sb_new_identity(fd)) < 0 || fdatasync(fd) < 0)
                        return vs_err(err, fd < 0 || r == 0 ? errno : -r, "give %s its own identity", image);
                (void) fchmod(fd, 0600);
        }
        mount_path(dir, mnt, sizeof(mnt));
        if (mkdir(mnt, 0755) < 0)
                return vs_err(err, errno, "create %s", mnt);
        return 0;
}

/* ---- attach, detach ------------------------------------------------------------ */

/* A grow the kernel could not do online: e2fsck first, since resize2fs
 * insists on a checked filesystem, then resize2fs to the file's size. */
static int grow_offline(const char *image, vs_error *err) {
        const char *fsck[] = { "e2fsck", "-f", "-p", image, NULL };
        int r = stor_run(fsck, 1, err); /* 1: errors were corrected */
        if (r < 0)
                return vs_err_prefix(err, "check %s before growing it", image);
        const char *resize[] = { "resize2fs", image, NULL };
        r = stor_run(resize, 0, err);
        if (r < 0)
                return vs_err_prefix(err, "grow the filesystem of %s", image);
        return 0;
}

/* 0 when no loop device is bound to image, or the one bound is released
 * within ATTACH_WAIT_MS; -EBUSY (dev filled) when it is not. */
static int wait_released(struct stor *st, const char *dir, const char *image, char dev[static LOOPDEV_PATH_MAX]) {
        if (find_dev(st, dir, image, dev) <= 0)
                return 0;
        for (int k = 0; k < ATTACH_WAIT_MS / 2 && loopdev_backs(dev, image); k++)
                (void) usleep(2000);
        return loopdev_backs(dev, image) ? -EBUSY : 0;
}

/* The layer's directories in the mounted filesystem mfd (held in dir's
 * record), as the start child reaches them. */
static int layer_fill(struct stor *st, const char *dir, const char *image, const char *mnt, int mfd,
                      struct stor_layer *ret, vs_error *err) {
        static const char *const subdirs[] = { "upper", "work" };
        for (size_t k = 0; k < ELEMENTSOF(subdirs); k++)
                if (mkdirat(mfd, subdirs[k], 0755) < 0 && errno != EEXIST)
                        return vs_err(err, errno, "create %s in %s", subdirs[k], image);
        /* the same fd number in the child, which inherits the table */
        ret->fd = mfd;
        snprintf(ret->upper, sizeof(ret->upper), "/proc/self/fd/%d/upper", mfd);
        snprintf(ret->work, sizeof(ret->work), "/proc/self/fd/%d/work", mfd);
        ret->mount_fd = -EBADF;
        /* where the filesystem is attached in the instance's mount
         * namespace: by the child below, or by the parent for an
         * unprivileged instance (its idmapped root, start.c) */
        snprintf(ret->mount_at, sizeof(ret->mount_at), "%s", mnt);
        snprintf(ret->ovl_upper, sizeof(ret->ovl_upper), "%s/upper", mnt);
        snprintf(ret->ovl_work, sizeof(ret->ovl_work), "%s/work", mnt);
        if (mkdir(mnt, 0755) < 0 && errno != EEXIST)
                return vs_err(err, errno, "create %s", mnt);
        if (!st->v->kern.overlay_detached_upper) {
                /* An overlayfs that takes its layers only from the caller's
                 * own mount namespace (6.1, 6.12): the child moves this
                 * mount onto <inst>/disk in its new namespace, after that
                 * namespace stopped propagating to the host's, and the
                 * overlay takes it from there.  The host's tree still never
                 * has it; the namespace's copy goes with its pivot_root,
                 * and the fd keeps reaching the filesystem as before. */
                ret->mount_fd = mfd;
        }
        return 0;
}

static int read_written_kb(struct stor_rec *rec, uint64_t *ret);

/* The start of an instance whose filesystem was kept mounted since its stop
 * (image_detach): no loop device to bind, no ext4 mount (10-25 ms of reads
 * of the superblock, the group descriptors and the journal through the
 * device).  The filesystem is the one the last run left: nothing else
 * touched the image meanwhile (what would calls stor_release() first). */
static int attach_kept(struct stor *st, struct stor_rec *rec, const char *dir, const char *image, const char *mnt,
                       struct stor_layer *ret, vs_error *err) {
        rec->kept = false;
        st->n_kept--;
        /* The held mount may have gone into the last run's namespace (moved
         * there for an unprivileged instance's idmapped root, or for an
         * overlayfs that takes no detached layer) and out with it, and a
         * mount that was attached once cannot be moved again: a new mount
         * of the same superblock, which the kernel still has (held by the
         * old mount), reads nothing from the device. */
        int mfd = mount_existing(rec->dev);
        if (mfd < 0)
                return vs_err(err, -mfd, "mount %s (%s) again", rec->dev, image);
        safe_close(&rec->fs_fd);
        rec->fs_fd = mfd;
        uint64_t kb = 0;
        rec->written_base_kb = read_written_kb(rec, &kb) == 0 ? kb : 0;
        return layer_fill(st, dir, image, mnt, rec->fs_fd, ret, err);
}

static int image_release(struct stor *st, const char *dir, vs_error *err);

static int image_attach(struct stor *st, const char *dir, struct stor_layer *ret, vs_error *err) {
        char image[700], mnt[700], marker[700], dev[LOOPDEV_PATH_MAX];
        image_path(dir, image, sizeof(image));
        mount_path(dir, mnt, sizeof(mnt));
        grow_marker(dir, marker, sizeof(marker));

        if (stor_is_mountpoint(mnt))
                return vs_err_msg(err, EBUSY, "something is still mounted on %s", mnt);
        struct stor_rec *rec = stor_rec_get(st, dir, false);
        if (rec && rec->kept) {
                /* a grow waits for this start (it needs the filesystem
                 * unmounted): let go of it and mount it anew after */
                if (access(marker, F_OK) == 0) {
                        int r = image_release(st, dir, err);
                        if (r < 0)
                                return r;
                } else {
                        int r = attach_kept(st, rec, dir, image, mnt, ret, err);
                        if (r < 0)
                                held_drop(st, dir);
                        return r;
                }
        }
        _cleanup_close_ int loopfd = -EBADF;
        int r;
        if (rec && rec->pre_fd >= 0 && access(marker, F_OK) < 0) {
                /* bound ahead by the boot (image_prefetch), its metadata
                 * read or on its way into the device's cache */
                loopfd = TAKE_FD(rec->pre_fd);
                snprintf(dev, sizeof(dev), "%s", rec->dev);
        } else {
                if (rec)
                        safe_close(&rec->pre_fd);
                /* Two filesystems over one image would destroy it.  The
                 * device of the last run goes when the kernel lets go of
                 * its filesystem, which can trail the unmount a little
                 * when the instance stopped right before (an adopted
                 * init's namespace is released by whoever reaps it): wait
                 * for that, briefly, then refuse. */
                r = wait_released(st, dir, image, dev);
                if (r < 0)
                        return vs_err_msg(err, EBUSY, "its disk image %s is still in use on %s", image, dev);
                if (access(marker, F_OK) == 0) {
                        r = grow_offline(image, err);
                        if (r < 0)
                                return r;
                        (void) unlink(marker);
                }
                r = loopdev_attach(image, st->v->set.stor.direct_io, dev, &loopfd, err);
                if (r < 0)
                        return r;
                known_set(st, dir, dev);
        }
        /* A mount of its own, in no mount namespace (fsmount): the host's
         * tree never has it, so no mount namespace made on the host (unshare
         * -m, another engine's container, a service's private /tmp) can copy
         * it and pin the filesystem, and the loop device, after the instance
         * stopped; and a start's copy of the host's tree does not grow with
         * the number of instances running.  The daemon holds it by this fd
         * (statfs, FIFREEZE, the online resize); the child's overlay finds
         * its directories through /proc/self/fd and takes a reference of its
         * own.  nodev, nosuid: device nodes and set-id programs count only
         * from the template, through the overlay's own flags; discard: what
         * the instance deletes becomes holes in the image again. */
        _cleanup_close_ int fsfd = fsopen("ext4", FSOPEN_CLOEXEC);
        if (fsfd < 0)
                return vs_err(err, errno, "open an ext4 filesystem context");
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "source", dev, 0) < 0 ||
            fsconfig(fsfd, FSCONFIG_SET_FLAG, "discard", NULL, 0) < 0 ||
            fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return vs_err(err, errno, "mount %s (%s)", dev, image);
        /* the mount lives as long as this fd (an O_PATH one: closing it
         * would dissolve the mount, and overlayfs refuses a dissolved one) */
        int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID);
        if (mfd < 0)
                return vs_err(err, errno, "mount %s (%s)", dev, image);
        /* loopfd closes on return: from here the filesystem alone holds
         * the device, and mfd the filesystem */
        held_drop(st, dir);
        if (held_add(st, dir, mfd) < 0) {
                safe_close(&mfd);
                return vs_err(err, ENOMEM, "hold the filesystem of %s", image);
        }
        rec = stor_rec_get(st, dir, false);
        rec->written_base_kb = 0; /* a new mount counts from zero */
        r = layer_fill(st, dir, image, mnt, mfd, ret, err);
        if (r < 0)
                held_drop(st, dir);
        return r;
}

/* After the last fd on its filesystem closed: wait for the kernel to
 * release the device (the filesystem unmounted), then give the journal
 * back.  Autoclear releases the device with the filesystem, which the
 * kernel lets go of once the overlay of the dead mount namespace is gone:
 * that teardown runs after an RCU grace period, a few milliseconds after
 * init's exit.  Waiting for it means that a stop or a release that has
 * returned has let go of the image (for a restore, a copy, a destroy).
 * 1 when released, 0 when still bound after DETACH_WAIT_MS, < 0 when the
 * device cannot be looked for. */
static int wait_gone(struct stor *st, const char *dir, const char *image, char dev[static LOOPDEV_PATH_MAX]) {
        int r = find_dev(st, dir, image, dev);
        if (r < 0)
                return r;
        /* the device found once, then only its own sysfs file: a host
         * with a thousand images bound is not scanned a thousand times */
        for (int k = 0; r > 0 && k < DETACH_WAIT_MS && loopdev_backs(dev, image); k++)
                (void) usleep(1000);
        if (r > 0 && loopdev_backs(dev, image))
                return 0;
        known_set(st, dir, "");
        /* released: the filesystem is unmounted and nothing writes
         * to the image until the next attach */
        _cleanup_close_ int fd = open(image, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0)
                (void) journal_give_back(fd);
        return 1;
}

/* Let go of dir's kept filesystem: 1 when one was kept and is released, 0
 * when none was, -EBUSY when its device is still bound after the wait. */
static int image_release(struct stor *st, const char *dir, vs_error *err) {
        struct stor_rec *rec = stor_rec_get(st, dir, false);
        if (!rec || (!rec->kept && rec->pre_fd < 0))
                return 0;
        if (rec->pre_fd >= 0)
                ra_let_go(st, rec);
        safe_close(&rec->pre_fd); /* bound ahead of a start that did not come */
        if (rec->kept) {
                rec->kept = false;
                st->n_kept--;
                held_drop(st, dir);
        }
        char image[700], dev[LOOPDEV_PATH_MAX];
        image_path(dir, image, sizeof(image));
        int r = wait_gone(st, dir, image, dev);
        if (r == 0)
                return vs_err_msg(err, EBUSY, "its disk image %s is still in use on %s", image, dev);
        return 1;
}

static int image_release_op(struct stor *st, const char *dir, vs_error *err) {
        int r = image_release(st, dir, err);
        return r < 0 ? r : 0;
}

/* Keep a stopped instance's filesystem mounted for its next start, within
 * [storage] keep_mounted: the one stopped longest ago goes first.  What a
 * kept filesystem costs is a loop device, the kernel's superblock and
 * journal of a mounted ext4, and the page cache it had. */
static void keep(struct stor *st, struct stor_rec *rec) {
        rec->kept = true;
        rec->kept_at = ++st->kept_seq;
        st->n_kept++;
        while (st->n_kept > st->v->set.stor.keep_mounted) {
                struct stor_rec *oldest = NULL;
                for (size_t k = 0; k < st->n_rec; k++)
                        if (st->rec[k]->kept && (!oldest || st->rec[k]->kept_at < oldest->kept_at))
                                oldest = st->rec[k];
                vs_error err = { 0 };
                if (image_release(st, oldest->dir, &err) < 0)
                        log_warn("Failed to release the disk of %s: %s, ignoring", oldest->dir, err.msg);
        }
}

static int image_detach(struct stor *st, const char *dir, vs_error *err) {
        char image[700], mnt[700], marker[700];
        image_path(dir, image, sizeof(image));
        mount_path(dir, mnt, sizeof(mnt));
        grow_marker(dir, marker, sizeof(marker));
        struct stor_rec *rec = stor_rec_get(st, dir, false);
        /* Kept for the next start (the filesystem stays as the instance
         * left it, held by the fd alone): not when a grow waits for the
         * next start, which needs it unmounted, nor a mount in the host's
         * tree (an instance started by an older daemon). */
        if (rec && rec->fs_fd >= 0 && !rec->kept && st->v->set.stor.keep_mounted > 0 && access(marker, F_OK) < 0 &&
            !stor_is_mountpoint(mnt)) {
                keep(st, rec);
                return 0;
        }
        if (rec && rec->kept) {
                rec->kept = false;
                st->n_kept--;
        }
        if (rec)
                ra_let_go(st, rec); /* a run shorter than the read ahead of it */
        held_drop(st, dir);
        if (stor_is_mountpoint(mnt) && umount2(mnt, UMOUNT_NOFOLLOW) < 0) {
                int e = errno;
                /* still busy although init is gone: detach it from the tree;
                 * the loop device goes when the last user lets go */
                (void) umount2(mnt, MNT_DETACH | UMOUNT_NOFOLLOW);
                return vs_err(err, e, "unmount %s (detached lazily)", mnt);
        }
        char dev[LOOPDEV_PATH_MAX];
        int r = wait_gone(st, dir, image, dev);
        if (r != 0)
                return 0;
        /* One left bound was never mounted (a crash between bind and
         * mount): detached here.  -EBUSY: a filesystem still holds it,
         * being released on a loaded host; it is marked autoclear, and the
         * kernel detaches it when that ends (a start of the same image
         * waits for it). */
        r = loopdev_detach_all(NULL, image);
        if (r < 0 && r != -ENOENT && r != -EBUSY)
                return vs_err(err, -r, "detach the loop device of %s", image);
        return 0;
}

/* ---- grow, usage ------------------------------------------------------------------ */

static int image_grow(struct stor *st, const char *dir, uint64_t size, bool attached, vs_error *warn, vs_error *err) {
        char image[700], mnt[700], marker[700], dev[LOOPDEV_PATH_MAX];
        image_path(dir, image, sizeof(image));
        mount_path(dir, mnt, sizeof(mnt));
        grow_marker(dir, marker, sizeof(marker));
        if (truncate(image, (off_t) size) < 0)
                return vs_err(err, errno, "grow %s", image);
        bool owned = false;
        int fd = attached ? fs_fd(st, dir, mnt, true, &owned) : -EBADF;
        _cleanup_close_ _unused_ int own = owned ? fd : -EBADF;
        if (fd < 0 || find_dev(st, dir, image, dev) <= 0)
                return vs_write_atomic(marker, "", 0, 0600) < 0 ? vs_err(err, EIO, "write %s", marker) : 0;
        int r = loopdev_set_capacity(dev, err);
        if (r < 0)
                return r;
        uint64_t blocks = size / 4096;
        if (ioctl(fd, EXT4_IOC_RESIZE_FS, &blocks) == 0)
                return 0;
        if (errno != EPERM)
                return vs_err(err, errno, "grow the filesystem on %s", mnt);
        /* the kernel wants CAP_SYS_RESOURCE for an online resize */
        if (vs_write_atomic(marker, "", 0, 0600) < 0)
                return vs_err(err, EIO, "write %s", marker);
        if (warn)
                vs_err_msg(warn, 0, "the disk image grew, but the filesystem inside grows at the next start: "
                                    "growing it online needs CAP_SYS_RESOURCE, which vsd lacks");
        return 0;
}

static int image_usage(struct stor *st, const char *dir, pid_t pid, struct stor_usage *ret, vs_error *err) {
        char image[700], mnt[700];
        struct stor_usage u = { 0 };
        struct stat sb;
        image_path(dir, image, sizeof(image));
        mount_path(dir, mnt, sizeof(mnt));
        if (stat(image, &sb) < 0)
                return vs_err(err, errno, "stat %s", image);
        u.host_bytes = (uint64_t) sb.st_blocks * 512;
        struct statfs sf;
        bool owned = false;
        int fd = pid > 0 ? fs_fd(st, dir, mnt, false, &owned) : -EBADF;
        _cleanup_close_ _unused_ int own = fd >= 0 && owned ? fd : -EBADF;
        char root[64];
        /* none held (the daemon restarted): overlayfs answers statfs with
         * its upper filesystem's figures, through init's root */
        snprintf(root, sizeof(root), "/proc/%d/root", (int) pid);
        if (pid > 0 && (fd >= 0 ? fstatfs(fd, &sf) : statfs(root, &sf)) == 0) {
                u.attached = true;
                u.bytes_limit = (uint64_t) sf.f_blocks * (uint64_t) sf.f_bsize;
                u.bytes_used = (uint64_t) (sf.f_blocks - sf.f_bfree) * (uint64_t) sf.f_bsize;
                u.inodes_limit = sf.f_files;
                u.inodes_used = sf.f_files - sf.f_ffree;
        }
        *ret = u;
        return 0;
}

/* ext4 counts, per mount, what was written to its device since the mount
 * (session_write_kbytes: the device's own sector count then and now), so
 * a run starts from zero with no baseline of ours, and a daemon restarted
 * in between finds the same figure. */
static int read_written_kb(struct stor_rec *rec, uint64_t *ret) {
        if (rec->written_fd < 0) {
                char path[96];
                if (!rec->dev_known || !rec->dev[0])
                        return -ENODATA;
                snprintf(path, sizeof(path), "/sys/fs/ext4/%s/session_write_kbytes", rec->dev + strlen("/dev/"));
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return errno == ENOENT ? -ENODATA : -errno;
                rec->written_fd = fd;
        }
        char buf[32];
        /* a sysfs attribute is produced anew at offset 0 */
        ssize_t n = pread(rec->written_fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
                return n < 0 ? -errno : -ENODATA;
        buf[n] = '\0';
        char *end;
        unsigned long long kb = strtoull(buf, &end, 10);
        if (end == buf)
                return -EIO;
        *ret = kb;
        return 0;
}

static int image_written(struct stor *st, const char *dir, uint64_t *ret) {
        struct stor_rec *rec = stor_rec_get(st, dir, true);
        if (!rec)
                return -ENOMEM;
        if (rec->written_fd < 0) {
                char image[700], dev[LOOPDEV_PATH_MAX];
                image_path(dir, image, sizeof(image));
                int r = find_dev(st, dir, image, dev);
                if (r <= 0)
                        return r < 0 ? r : -ENODATA;
        }
        uint64_t kb = 0;
        int r = read_written_kb(rec, &kb);
        if (r < 0)
                return r;
        /* a filesystem kept mounted across runs counts on from the last */
        *ret = (kb > rec->written_base_kb ? kb - rec->written_base_kb : 0) * 1024;
        return 0;
}

/* ---- copies -------------------------------------------------------------------------- */

static int image_fs_fd(struct stor *st, const char *dir) {
        char mnt[700];
        bool owned = false;
        mount_path(dir, mnt, sizeof(mnt));
        int fd = fs_fd(st, dir, mnt, true, &owned);
        return fd;
}

static int image_thaw(struct stor *st, const char *dir, vs_error *err) {
        char image[700], mnt[700], dev[LOOPDEV_PATH_MAX];
        bool owned = false;
        image_path(dir, image, sizeof(image));
        mount_path(dir, mnt, sizeof(mnt));
        _cleanup_close_ int temp = -EBADF;
        int fd = fs_fd(st, dir, mnt, false, &owned);
        if (fd < 0) {
                /* no mount of ours: the filesystem's superblock, if the
                 * kernel has it, gets one for the thaw (a frozen one lives
                 * on after its last mount went, its device bound) */
                int r = find_dev(st, dir, image, dev);
                if (r <= 0)
                        return r < 0 ? vs_err(err, -r, "look for the loop device of %s", image) : 0;
                temp = mount_existing(dev);
                if (temp < 0)
                        return vs_err(err, -temp, "mount %s (%s) to thaw it", dev, image);
                fd = openat(temp, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        return vs_err(err, errno, "open the filesystem of %s", image);
                owned = true;
        }
        _cleanup_close_ _unused_ int own = owned ? fd : -EBADF;
        if (ioctl(fd, FITHAW, 0) == 0)
                return 1;
        return errno == EINVAL ? 0 : vs_err(err, errno, "thaw the filesystem of %s", image);
}

static int image_copy(struct stor *st, const char *dir, int fsfd, const char *dst, struct vs_progress *p,
                      vs_error *err) {
        char image[700];
        image_path(dir, image, sizeof(image));
        /* mounted (a running instance the caller froze): the filesystem is
         * frozen too, so that the copy is consistent on disk; a thaw that
         * never comes (this helper killed) is the next daemon's to do */
        if (fsfd >= 0 && ioctl(fsfd, FIFREEZE, 0) < 0)
                return vs_err(err, errno, "freeze the filesystem of %s", image);
        /* not mounted: a filesystem the kernel is still releasing (a stop
         * just before) writes its last blocks when it goes */
        char dev[LOOPDEV_PATH_MAX];
        if (fsfd < 0 && wait_released(st, dir, image, dev) < 0)
                return vs_err_msg(err, EBUSY, "its disk image %s is still in use on %s", image, dev);
        int r = stor_copy_sparse(image, dst, p);
        if (fsfd >= 0)
                (void) ioctl(fsfd, FITHAW, 0);
        if (r < 0)
                return vs_err(err, -r, "copy %s to %s", image, dst);
        return 0;
}

/* In a helper (the instance is stopped): the snapshot copied beside the
 * image, grown to the plan's size if it was taken before a grow, synced,
 * then renamed over the image: a crash leaves the old image or the new
 * one, and at most the copy, removed at the next start. */
static int image_restore(struct stor *st, const char *dir, const char *src, uint64_t size, struct vs_progress *p,
                         vs_error *err) {
        char image[700], tmp[700];
        image_path(dir, image, sizeof(image));
        snprintf(tmp, sizeof(tmp), "%s.restore", image);
        (void) unlink(tmp);
        int r = stor_copy_sparse_nosync(src, tmp, p);
        if (r < 0)
                return vs_err(err, -r, "copy %s", src);
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CLOEXEC);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) < 0 || ((uint64_t) sb.st_size < size && ftruncate(fd, (off_t) size) < 0) ||
            fsync(fd) < 0) {
                r = vs_err(err, errno, "write %s", tmp);
                (void) unlink(tmp);
                return r;
        }
        if (rename(tmp, image) < 0) {
                r = vs_err(err, errno, "replace %s", image);
                (void) unlink(tmp);
                return r;
        }
        r = vs_fsync_dir(dir);
        if (r < 0)
                return vs_err(err, -r, "sync %s", dir);
        return 0;
}

static int image_restore_prepare(struct stor *st, const char *dir, vs_error *err) {
        char marker[700];
        grow_marker(dir, marker, sizeof(marker));
        /* the snapshot's filesystem may be smaller than the plan (taken
         * before a grow): the next start grows it to the file's size.
         * Written before the image changes, so no crash loses it; a grow
         * of a filesystem already at its file's size does nothing. */
        if (vs_write_atomic(marker, "", 0, 0600) < 0)
                return vs_err(err, EIO, "write %s", marker);
        return 0;
}

static int image_cleanup_partial(const char *dir) {
        char tmp[700];
        image_path(dir, tmp, sizeof(tmp));
        strncat(tmp, ".restore", sizeof(tmp) - strlen(tmp) - 1);
        if (unlink(tmp) == 0)
                return 1;
        return errno == ENOENT ? 0 : -errno;
}

int stor_image_new_uuid(const char *image, vs_error *err) {
        _cleanup_close_ int fd = open(image, O_RDWR | O_CLOEXEC);
        int r = fd < 0 ? -errno : sb_new_identity(fd);
        if (r < 0)
                return vs_err(err, -r, "give %s its own identity", image);
        return 0;
}

const struct stor_ops stor_image_ops = {
        .create = image_create,
        .attach = image_attach,
        .detach = image_detach,
        .grow = image_grow,
        .usage = image_usage,
        .written = image_written,
        .copy = image_copy,
        .restore = image_restore,
        .restore_prepare = image_restore_prepare,
        .fs_fd = image_fs_fd,
        .thaw = image_thaw,
        .cleanup_partial = image_cleanup_partial,
        .release = image_release_op,
        .learn = image_learn,
        .prefetch = image_prefetch,
        .prefetch_drop = image_prefetch_drop,
};

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * An instance as one archive, for export and import (transfer.h): a POSIX
 * (pax) tar, optionally compressed with zstd, that tar(1) lists and
 * unpacks.  Its members, in this order:
 *
 *   manifest.json             what the archive holds (transfer.c); first,
 *                             so that a reader knows before the rest comes
 *   config.ini                the instance's settings
 *   disk.img                  image backend: the image, sparse (its holes
 *                             are recorded, never read or stored)
 *   disk.delta                a cold move's final pass (migrate.c): what
 *                             changed in the image since disk.img was read
 *                             while the instance ran, its size, the
 *                             unchanged parts holes; written over disk.img
 *   upper/...                 dir backend: the overlay's upper tree
 *   upper.delta               a cold move's final pass (treesync.h): from
 *                             here on, upper/... members replace what
 *                             came before at their path
 *   upper.deleted/PATH        (empty) upper/PATH is removed, whatever it is
 *   snapshots/S.img           image backend: a snapshot, sparse
 *   snapshots/S/upper/...     dir backend: a snapshot's tree
 *   checkpoint/FILE           a checkpointed instance's images (flat)
 *
 * A template's archive (ARC_LAYOUT_TEMPLATE) has manifest.json,
 * template.ini and the rootfs/ tree, nothing else.
 *
 * An archive being imported is hostile input: each member is checked by
 * its path and type before anything of it is written (arc_member_kind);
 * outside an upper tree only plain files and directories exist, an upper
 * tree's links stay in their tree, and extraction never follows a
 * symbolic link nor leaves the directory it is given.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "base/progress.h"

#define ARC_MANIFEST "manifest.json"
#define ARC_CONFIG "config.ini"

/* ---- writing -------------------------------------------------------------- */

struct arc_writer;

/* An archive written to fd (not closed here); zstd compresses it.  p (may
 * be NULL) counts the bytes of data added. */
int arc_writer_open(int fd, bool zstd, struct vs_progress *p, struct arc_writer **ret, vs_error *err);

/* Told of each piece of a file's data as it is read into the archive
 * (off: where in the file). */
typedef void (*arc_tap_fn)(void *ctx, uint64_t off, const void *data, size_t len);
void arc_writer_tap(struct arc_writer *w, arc_tap_fn fn, void *ctx);

/* The progress counts the bytes of data from here on (a phase of its own). */
void arc_writer_recount(struct arc_writer *w);

/* The bytes of data added since the last recount (or the start). */
uint64_t arc_writer_counted(const struct arc_writer *w);

/* A regular file name holding data. */
int arc_add_bytes(struct arc_writer *w, const char *name, const void *data, size_t len, vs_error *err);

/* The regular file at path as name: its data extents only (SEEK_DATA),
 * the holes recorded as such. */
int arc_add_file(struct arc_writer *w, const char *name, const char *path, vs_error *err);

struct arc_range {
        uint64_t off, len;
};

/* fd's data extents (SEEK_DATA) below size, each widened to multiples of
 * align (a power of two; 0: as they are) and merged: an array in *ret
 * (free()), -errno on failure. */
int arc_file_extents(int fd, uint64_t size, uint64_t align, struct arc_range **ret, size_t *ret_n);

/* arc_add_file with the extents widened to multiples of align. */
int arc_add_file_aligned(struct arc_writer *w, const char *name, const char *path, uint64_t align, vs_error *err);

/* The regular file at path as name, its size, with the data of ranges
 * (sorted, apart) only, the rest holes. */
int arc_add_ranges(struct arc_writer *w, const char *name, const char *path, const struct arc_range *ranges, size_t n,
                   vs_error *err);

/* A directory member name (no data). */
int arc_add_dir(struct arc_writer *w, const char *name, vs_error *err);

/* The tree at path as name/...: every file with its owner, mode, times,
 * extended attributes (the overlay's among them) and ACLs, hard links as
 * such, symbolic links never followed, sparse files sparse. */
int arc_add_tree(struct arc_writer *w, const char *name, const char *path, vs_error *err);

/* libarchive's entry e as it is (name, type, owner, mode, times, link
 * target, extended attributes, hard link: the caller's), and for a regular
 * file its data read from fd by its data extents (SEEK_DATA, the holes
 * never read) up to e's size.  A file that shrank while it was read is
 * completed with zeros and *ret_short set (its copy is not what it is). */
struct archive_entry;
int arc_add_entry(struct arc_writer *w, struct archive_entry *e, int fd, bool *ret_short, vs_error *err);

/* The archive's end written; w freed either way. */
int arc_writer_close(struct arc_writer *w, vs_error *err);
void arc_writer_free(struct arc_writer *w);

/* ---- what a member may be -------------------------------------------------- */

/* ARC_LAYOUT_TEMPLATE: a template's archive (tmplsend.h), whose only
 * member after its manifest and template.ini is the rootfs/ tree */
enum arc_layout { ARC_LAYOUT_IMAGE, ARC_LAYOUT_DIR, ARC_LAYOUT_TEMPLATE };

enum arc_kind {
        ARC_BAD,       /* not a member an instance's archive has */
        ARC_DIRECTORY, /* snapshots/, checkpoint/, snapshots/S/ (dir backend) */
        ARC_DISK,      /* disk.img */
        ARC_DISK_DELTA, /* disk.delta */
        ARC_SNAP_IMAGE, /* snapshots/S.img */
        ARC_CKPT_FILE, /* checkpoint/FILE */
        ARC_TREE,      /* upper, upper/..., snapshots/S/upper, snapshots/S/upper/... */
        ARC_TREE_DELTA,   /* upper.delta */
        ARC_TREE_DELETED, /* upper.deleted/PATH */
};

/* What path (as in the archive) may be in an archive of this layout, and
 * for ARC_TREE the length of its tree's root ("upper", "snapshots/S/upper")
 * in *ret_root_len.  Pure: no absolute path, no "." or ".." or empty
 * component, names as vsd names them. */
enum arc_kind arc_member_kind(const char *path, enum arc_layout layout, size_t *ret_root_len);

/* ---- reading --------------------------------------------------------------- */

struct arc_reader;

/* An archive read from fd (not closed here): plain or zstd.  p (may be
 * NULL) counts the bytes read from fd. */
int arc_reader_open(int fd, struct vs_progress *p, struct arc_reader **ret, vs_error *err);
void arc_reader_free(struct arc_reader *r);

/* The next member, which must be the regular file name of at most max
 * bytes: its data, NUL-terminated. */
int arc_read_small(struct arc_reader *r, const char *name, size_t max, char **ret, vs_error *err);

struct arc_limits {
        enum arc_layout layout;
        uint64_t image_size;  /* disk.img's size, exactly; a snapshot's at most */
        uint64_t ckpt_bytes;  /* the checkpoint's files together, at most */
        uint64_t tree_bytes;  /* the data of the trees together, at most (0: no bound) */
};

struct arc_found {
        bool disk, upper, checkpoint, rootfs;
        bool delta; /* disk.delta written over disk.img */
        bool tree_delta; /* upper.delta came: later upper/ members replace */
        unsigned snapshots;
        uint64_t bytes; /* data written */
};

/* Every other member, each checked first, written below dirfd (an
 * instance directory being made, which the caller's working directory
 * must be: the trees are extracted relative to it).  Stops at the first
 * member that is not right, with its name in err. */
int arc_extract_rest(struct arc_reader *r, int dirfd, const struct arc_limits *lim, struct arc_found *ret,
                     vs_error *err);

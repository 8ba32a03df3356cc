/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Loop devices for instance disk images.  A free device comes from
 * /dev/loop-control (which makes new ones past max_loop) and is bound with
 * LOOP_CONFIGURE and LO_FLAGS_AUTOCLEAR: the kernel detaches it when its
 * last user (the mounted filesystem) lets go, so an unmount is the only
 * undo a running instance's disk needs.
 */

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

#define LOOPDEV_PATH_MAX 32

/* Bind image (a regular file) to a free loop device; ret_dev gets
 * "/dev/loopN" and *ret_fd an open fd of it, which the caller holds until
 * the filesystem is mounted: with autoclear, the last close of an unused
 * device detaches it (which is also the undo when the mount fails).
 * direct_io: bypass the host's page cache for the image (falls back to
 * buffered I/O when the backing filesystem cannot). */
int loopdev_attach(const char *image, bool direct_io, char ret_dev[static LOOPDEV_PATH_MAX], int *ret_fd,
                   vs_error *err);

/* The device re-reads the size of its backing file (after it grew). */
int loopdev_set_capacity(const char *dev, vs_error *err);

/* The host's bound loop devices and their backing files, read once: for a
 * daemon's start, which asks about every instance's image.  Without it
 * each question is a look at every loop device of the host (the kernel
 * keeps unbound ones too), and a thousand instances made a million sysfs
 * lookups before the first start. */
struct loopdev_map {
        size_t n;
        struct loopdev_bound {
                char dev[LOOPDEV_PATH_MAX]; /* "/dev/loopN" */
                char *backing;
        } *e;
};
int loopdev_map_load(struct loopdev_map *ret);
void loopdev_map_free(struct loopdev_map *m);

/* The loop device backed by image, if any: 1 and ret_dev filled, 0 when
 * none, < 0 on error.  Found through /sys/block/loopN/loop/backing_file,
 * of the devices map lists when map is not NULL (each checked again). */
int loopdev_find(const struct loopdev_map *map, const char *image, char ret_dev[static LOOPDEV_PATH_MAX]);

/* Is dev ("/dev/loopN") still bound to image?  One sysfs read: for
 * waiting on a device already found. */
bool loopdev_backs(const char *dev, const char *image);

/* Detach every loop device backed by image (crash leftovers); map as for
 * loopdev_find().  Returns the number detached, -EBUSY when one is still
 * in use. */
int loopdev_detach_all(const struct loopdev_map *map, const char *image);

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

/* The loop device backed by image, if any: 1 and ret_dev filled, 0 when
 * none, < 0 on error.  Found through /sys/block/loopN/loop/backing_file. */
int loopdev_find(const char *image, char ret_dev[static LOOPDEV_PATH_MAX]);

/* Is dev ("/dev/loopN") still bound to image?  One sysfs read: for
 * waiting on a device already found. */
bool loopdev_backs(const char *dev, const char *image);

/* Detach every loop device backed by image (crash leftovers).  Returns the
 * number detached, -EBUSY when one is still in use. */
int loopdev_detach_all(const char *image);

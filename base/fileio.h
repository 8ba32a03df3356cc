/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Write data to path atomically: temp file in the same directory, fsync,
 * rename over path, fsync the directory.  A reader sees the old or the new
 * content, never a mix.  Returns -errno. */
int vs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* The same without the fsyncs, for runtime state that does not outlive the
 * host (run_dir): still never half-written for a reader or after a crash of
 * the writer, but a host crash may lose it, which is fine since the
 * processes it describes are lost with it.  Saves milliseconds per write on
 * disks where run_dir is not a tmpfs. */
int vs_write_replace(const char *path, const void *data, size_t len, mode_t mode);

/* Read a whole (small) file into a NUL-terminated malloc'd buffer; at most
 * max bytes (-EFBIG beyond).  Returns -errno. */
int vs_read_file(const char *path, size_t max, char **ret, size_t *ret_len);

/* Read one line of a small file (sysfs, procfs), trailing newline stripped. */
int vs_read_line(const char *path, char *buf, size_t len);

/* Write a string to an existing file (sysfs, cgroupfs, procfs). */
int vs_write_string(const char *path, const char *s);

/* mkdir -p with mode for the created components. */
int vs_mkdir_p(const char *path, mode_t mode);

/* rm -rf that never crosses into another filesystem (mounts are left alone
 * and reported as -EBUSY). */
int vs_rm_rf(const char *path);

/* Take an exclusive flock(2) on path (created 0600 if absent, never through
 * a symlink) without waiting: the fd (close-on-exec) holds it until closed,
 * and the kernel drops it with the last copy of that fd, so a process that
 * dies holds nothing.  -EWOULDBLOCK when another open file holds it. */
int vs_lock_file(const char *path, int *ret_fd);

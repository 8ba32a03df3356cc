/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

/* Write data to path atomically: temp file in the same directory, fsync,
 * rename over path, fsync the directory.  A reader sees the old or the new
 * content, never a mix.  Returns -errno. */
int vs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* All of data into fd (a pipe or socket too), again after EINTR and short
 * writes.  0, or -errno (-EPIPE once the reader has gone: SIGPIPE is the
 * caller's to ignore). */
int vs_write_all(int fd, const void *data, size_t len);

/* The same without the fsyncs, for runtime state that does not outlive the
 * host (run_dir): still never half-written for a reader or after a crash of
 * the writer, but a host crash may lose it, which is fine since the
 * processes it describes are lost with it.  Saves milliseconds per write on
 * disks where run_dir is not a tmpfs. */
int vs_write_replace(const char *path, const void *data, size_t len, mode_t mode);

/* The error vs_open_inside() returns for something that is there but of
 * the wrong type (a FIFO, a socket, a device, a directory where a file is
 * wanted): a code open(2) never returns itself, so callers can tell "the
 * customer planted something" from a real failure. */
#define VS_EBADTYPE EMEDIUMTYPE

/*
 * Open path below dirfd where a customer may have put anything: an
 * instance's rootfs or private layer, or any file an instance could have
 * replaced.  resolve holds openat2()'s RESOLVE_* flags (RESOLVE_IN_ROOT for
 * a rootfs; 0 resolves as openat() does).  The last component is never
 * followed, nothing is opened before its type is known (opening a FIFO for
 * reading waits for a writer; opening a device can do anything), and the
 * open itself is O_NONBLOCK in case the file is swapped in between.  Only a
 * regular file is accepted, or a directory when flags hold O_DIRECTORY.
 * O_CREAT makes a missing file (with mode); O_TRUNC is applied once the
 * file is known to be a regular one.  The fd is O_CLOEXEC and keeps
 * O_NONBLOCK, which regular files and directories ignore.
 *
 * Returns the fd, or -errno with err (may be NULL) filled in one line:
 * -ENOENT when nothing is there (or a directory on the way is missing),
 * -ELOOP for a symbolic link ("/etc/hosts is a symbolic link"),
 * -VS_EBADTYPE for anything else of the wrong type ("/etc/hosts is a FIFO,
 * not a regular file").  A relative path is shown with a leading '/', as
 * the instance sees it.
 */
int vs_open_inside(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve, vs_error *err);

/* "a FIFO", "a directory", ... for messages. */
const char *vs_file_kind(mode_t mode);

/* fsync a directory: what makes a rename or a new name in it durable.
 * -errno. */
int vs_fsync_dir(const char *dir);

/* rename(), then fsync the target's directory: once this returns, a crash
 * leaves the new name.  The caller has synced what from holds.  -errno. */
int vs_rename_durable(const char *from, const char *to);

/* Read a whole (small) file into a NUL-terminated malloc'd buffer; at most
 * max bytes (-EFBIG beyond).  Anything but a regular file (procfs, sysfs and
 * cgroupfs files are regular ones) is refused with -VS_EBADTYPE before a
 * read could block on it.  Returns -errno. */
int vs_read_file(const char *path, size_t max, char **ret, size_t *ret_len);

/* Read one line of a small file (sysfs, procfs), trailing newline stripped;
 * the same refusal of what is not a regular file. */
int vs_read_line(const char *path, char *buf, size_t len);

/* Write a string to an existing file (sysfs, cgroupfs, procfs). */
int vs_write_string(const char *path, const char *s);

/* mkdir -p with mode for the created components. */
int vs_mkdir_p(const char *path, mode_t mode);

/* rm -rf that never crosses into another filesystem (mounts are left alone
 * and reported as -EBUSY). */
int vs_rm_rf(const char *path);

/* The same for name in dirfd (one component, never followed: a symbolic
 * link is removed, not what it names).  Nothing there: 0. */
int vs_rm_rf_at(int dirfd, const char *name);

/* Take an exclusive flock(2) on path (created 0600 if absent, never through
 * a symlink) without waiting: the fd (close-on-exec) holds it until closed,
 * and the kernel drops it with the last copy of that fd, so a process that
 * dies holds nothing.  -EWOULDBLOCK when another open file holds it. */
int vs_lock_file(const char *path, int *ret_fd);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Raw system calls, in one place.  Each wrapper is a bare syscall(2) that
 * returns -errno on failure, so callers follow the leaf-helper convention
 * without looking at errno.  glibc either lacks these or (clone3) wraps them in
 * ways that do not fit a fork-like use.
 */

#include <errno.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline long vs_syscall_ret(long r) {
        return r < 0 ? -errno : r;
}

/* clone3 used like fork(): no CLONE_VM, so the child runs on a copy of the
 * caller's stack and returns 0 here.  glibc's atfork handlers do not run:
 * callers must be single-threaded and the child must only use
 * async-signal-safe calls until it execs. */
static inline pid_t sys_clone3(struct clone_args *args) {
        return (pid_t) vs_syscall_ret(syscall(SYS_clone3, args, sizeof(*args)));
}

static inline int sys_pidfd_open(pid_t pid, unsigned flags) {
        return (int) vs_syscall_ret(syscall(SYS_pidfd_open, pid, flags));
}

/* A copy of another process's fd (PTRACE_MODE_ATTACH over it), close-on-exec. */
static inline int sys_pidfd_getfd(int pidfd, int targetfd, unsigned flags) {
        return (int) vs_syscall_ret(syscall(SYS_pidfd_getfd, pidfd, targetfd, flags));
}

static inline int sys_pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned flags) {
        return (int) vs_syscall_ret(syscall(SYS_pidfd_send_signal, pidfd, sig, info, flags));
}

static inline int sys_pivot_root(const char *new_root, const char *put_old) {
        return (int) vs_syscall_ret(syscall(SYS_pivot_root, new_root, put_old));
}

static inline int sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
        struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
        return (int) vs_syscall_ret(syscall(SYS_openat2, dirfd, path, &how, sizeof(how)));
}

static inline int sys_close_range(unsigned first, unsigned last, unsigned flags) {
        return (int) vs_syscall_ret(syscall(SYS_close_range, first, last, flags));
}

static inline int sys_setns(int fd, int nstype) {
        return (int) vs_syscall_ret(syscall(SYS_setns, fd, nstype));
}

static inline int sys_seccomp(unsigned op, unsigned flags, void *args) {
        return (int) vs_syscall_ret(syscall(SYS_seccomp, op, flags, args));
}

static inline int sys_open_tree(int dfd, const char *path, unsigned flags) {
        return (int) vs_syscall_ret(syscall(SYS_open_tree, dfd, path, flags));
}

static inline int sys_move_mount(int from_dfd, const char *from, int to_dfd, const char *to, unsigned flags) {
        return (int) vs_syscall_ret(syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags));
}


/* attr points to a struct mount_attr (glibc's <sys/mount.h> and the kernel's
 * <linux/mount.h> both define it, and clash when both are included). */
static inline int sys_mount_setattr(int dfd, const char *path, unsigned flags, void *attr, size_t size) {
        return (int) vs_syscall_ret(syscall(SYS_mount_setattr, dfd, path, flags, attr, size));
}

/* The ids of this process alone.  glibc's wrappers broadcast a change to
 * every thread it knows of, and a start child may run in the daemon's
 * memory (CLONE_VM), where glibc's idea of "the threads" is the daemon's. */
static inline int sys_setresuid(uid_t r, uid_t e, uid_t s) {
        return (int) vs_syscall_ret(syscall(SYS_setresuid, r, e, s));
}

static inline int sys_setresgid(gid_t r, gid_t e, gid_t s) {
        return (int) vs_syscall_ret(syscall(SYS_setresgid, r, e, s));
}

static inline int sys_setgroups(size_t n, const gid_t *list) {
        return (int) vs_syscall_ret(syscall(SYS_setgroups, n, list));
}

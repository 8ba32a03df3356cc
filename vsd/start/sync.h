/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The handshake between vsd and a child it is turning into an instance's init
 * (start_spawn) or into a command inside an instance (start_join).
 *
 * One SOCK_SEQPACKET|SOCK_CLOEXEC pair; every message is one struct sync_msg.
 *
 *   parent                                  child
 *   clone3 ------------------------------>  its first step (SYNC_WAIT_PARENT)
 *   cgroup placement (SYNC_CGROUP)          waits for SYNC_SETUP_DONE
 *   SYNC_SETUP_DONE --------------------->  runs its checklist, one stage per
 *                                           step, in enum order; a step of the
 *                                           waiting kind (child.c) waits for
 *                                           the parent's message of the stage
 *                                           it names before it goes on
 *   waits for a message or EOF   <-------   on failure: {stage, errno, message},
 *                                           then _exit()
 *   logs it, waits on            <-------   something left alone (a file the
 *                                           customer replaced): {stage, 0,
 *                                           message}, and goes on
 *                                           on success: execve() closes its end
 *                                           a step may hand the parent an fd:
 *   keeps it, waits on          <-------    {stage, 0, ""} + SCM_RIGHTS
 *   EOF: the child has exec'd -> success
 *
 * The stage names complete the sentence "Failed to <name>", which is how the
 * parent reports them: "Failed to <stage>: <message>: <strerror(errno)>".
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"

#define SYNC_STAGES(X)                                                              \
        /* parent side, reported by the parent itself */                           \
        X(SYNC_CGROUP, "place the child in its cgroup")                             \
        X(SYNC_USER_MAP, "map the instance's user and group ids")                   \
        X(SYNC_USER_NET, "move the instance's link into its network namespace")     \
        X(SYNC_USER_ROOT, "mount the instance's idmapped root")                     \
        X(SYNC_SETUP_DONE, "finish the parent's setup")                             \
        /* child side of start_spawn, in the order they run */                     \
        X(SYNC_WAIT_PARENT, "wait for the parent")                                  \
        X(SYNC_USER_IDS, "become root of the instance's user namespace")            \
        X(SYNC_RESET, "reset the process state")                                    \
        X(SYNC_USER_LIMITS, "set the per-user limits of the instance's user namespace") \
        X(SYNC_NET_JOIN, "join the instance's network namespace")                   \
        X(SYNC_MOUNT_SLAVE, "make the mount tree a slave of the host's")            \
        X(SYNC_CGROUP_NS, "unshare the cgroup namespace")                           \
        X(SYNC_TIME_NS, "give the instance its own clocks")                         \
        X(SYNC_OVERLAY, "mount the overlay root")                                   \
        X(SYNC_NET_FILES, "write /etc/hosts and /etc/resolv.conf")                  \
        X(SYNC_LOOPBACK, "bring up the loopback interface")                         \
        X(SYNC_HOSTNAME, "set the hostname")                                        \
        X(SYNC_PROC, "mount /proc")                                                 \
        X(SYNC_SYS, "mount /sys")                                                   \
        X(SYNC_CGROUP_FS, "mount the instance's cgroup hierarchy")                  \
        X(SYNC_RUN, "mount /run")                                                   \
        X(SYNC_VIEW, "bind the instance's view of /proc and /sys")                  \
        X(SYNC_DEV, "set up /dev")                                                  \
        X(SYNC_DEV_CONSOLE, "prepare /dev/console")                                 \
        X(SYNC_NESTING, "mount the unmasked proc and sysfs of nesting")             \
        X(SYNC_MASKED_PATHS, "mask paths")                                          \
        X(SYNC_READONLY_PATHS, "make paths read-only")                              \
        X(SYNC_PIVOT_ROOT, "pivot to the instance's root")                          \
        X(SYNC_LOCK_MOUNTS, "lock the instance's mounts")                           \
        X(SYNC_DEV_NODES, "bind the device nodes in /dev")                          \
        X(SYNC_CONSOLE_MOUNT, "mount the console on /dev/console")                  \
        X(SYNC_CONSOLE, "attach the console")                                       \
        X(SYNC_NOFILE, "set the instance's open-files limit")                       \
        X(SYNC_CAPS_BOUNDING, "drop capabilities from the bounding set")            \
        X(SYNC_SECCOMP, "load the seccomp filter")                                  \
        X(SYNC_SECCOMP_LISTENER, "hand the seccomp listener to vsd")                \
        X(SYNC_CAPS, "set the capabilities")                                        \
        X(SYNC_CLOSE_FDS, "close inherited file descriptors")                       \
        X(SYNC_EXEC_INIT, "exec init")                                              \
        /* child side of start_join */                                              \
        X(SYNC_JOIN_NAMESPACES, "join the instance's namespaces")                   \
        X(SYNC_JOIN_PTY, "open a terminal in the instance's devpts")                \
        X(SYNC_JOIN_STDIO, "set up the command's stdio")                            \
        X(SYNC_JOIN_EXEC, "run the command")

enum sync_stage {
#define SYNC_ENUM(id, name) id,
        SYNC_STAGES(SYNC_ENUM)
#undef SYNC_ENUM
        _SYNC_STAGE_MAX,
};

static inline const char *sync_stage_name(int stage) {
        static const char *const names[] = {
#define SYNC_NAME(id, name) [id] = name,
                SYNC_STAGES(SYNC_NAME)
#undef SYNC_NAME
        };
        if (stage < 0 || stage >= _SYNC_STAGE_MAX)
                return "start (unknown stage)";
        return names[stage];
}

/* The stage's identifier ("SYNC_CGROUP"), or NULL: what VSD_TEST_STALL names
 * (start_test_stall_set()). */
static inline const char *sync_stage_id(int stage) {
        static const char *const ids[] = {
#define SYNC_ID(id, name) [id] = #id,
                SYNC_STAGES(SYNC_ID)
#undef SYNC_ID
        };
        if (stage < 0 || stage >= _SYNC_STAGE_MAX)
                return NULL;
        return ids[stage];
}

struct sync_msg {
        int32_t stage;  /* enum sync_stage */
        int32_t error;  /* positive errno, 0 for a plain go-ahead */
        char message[248];
};

/* One datagram, with passfd (>= 0) attached; the message is cut to fit.
 * Async-signal-safe (the child calls it between clone and exec).  Returns
 * -errno. */
static inline int sync_send_fd(int fd, enum sync_stage stage, int error, const char *message, int passfd) {
        struct sync_msg m = { .stage = stage, .error = error };
        size_t n = 0;
        if (message) {
                n = strnlen(message, sizeof(m.message) - 1);
                memcpy(m.message, message, n);
        }
        m.message[n] = '\0';
        struct iovec iov = { .iov_base = &m, .iov_len = offsetof(struct sync_msg, message) + n + 1 };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } u;
        memset(&u, 0, sizeof(u));
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (passfd >= 0) {
                mh.msg_control = u.buf;
                mh.msg_controllen = sizeof(u.buf);
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cm), &passfd, sizeof(int));
        }
        if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0)
                return -errno;
        return 0;
}

static inline int sync_send(int fd, enum sync_stage stage, int error, const char *message) {
        return sync_send_fd(fd, stage, error, message, -1);
}

/* A datagram of n bytes (n > 0), received into m: 1 with the message's
 * text made a string, or -EBADMSG when it is too short to be a message.
 * Pure, for both sides and for start_report_parse(). */
static inline int sync_msg_parse(struct sync_msg *m, size_t n) {
        if (n <= offsetof(struct sync_msg, message))
                return -EBADMSG;
        if (n < sizeof(*m))
                ((char *) m)[n] = '\0';
        m->message[sizeof(m->message) - 1] = '\0';
        return 1;
}

/* One datagram into *ret as it came (n bytes, 0 at EOF: the peer exec'd or
 * died), or -errno.  An fd that came with it is put in *ret_fd
 * (close-on-exec), or closed when ret_fd is NULL; *ret_fd is -EBADF when
 * none came.  More than one fd: the first is kept, the others closed. */
static inline ssize_t sync_recv_raw(int fd, struct sync_msg *ret, int *ret_fd) {
        struct iovec iov = { .iov_base = ret, .iov_len = sizeof(*ret) };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 4)];
        } u;
        memset(&u, 0, sizeof(u));
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
        ssize_t n;
        int passed = -EBADF;
        if (ret_fd)
                *ret_fd = -EBADF;
        do
                n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < nfds; i++) {
                        int f;
                        memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                        if (passed < 0)
                                passed = f;
                        else
                                close(f);
                }
        }
        if (ret_fd)
                *ret_fd = passed;
        else if (passed >= 0)
                close(passed);
        return n;
}

/* Returns 1 with *ret filled, 0 on EOF (the peer exec'd or died), -errno.
 * An fd that came with the message is put in *ret_fd (close-on-exec), or
 * closed when ret_fd is NULL; *ret_fd is -EBADF when none came. */
static inline int sync_recv_fd(int fd, struct sync_msg *ret, int *ret_fd) {
        int passed = -EBADF;
        ssize_t n = sync_recv_raw(fd, ret, ret_fd ? &passed : NULL);
        if (ret_fd)
                *ret_fd = -EBADF;
        if (n <= 0) {
                if (passed >= 0)
                        close(passed);
                return (int) n;
        }
        int r = sync_msg_parse(ret, (size_t) n);
        if (r < 0) {
                if (passed >= 0)
                        close(passed);
                return r;
        }
        if (ret_fd)
                *ret_fd = passed;
        return 1;
}

/* The parent's reading of one report of the child (vsd/start/start.c),
 * from the bytes that came (n; 0: EOF) and whether an fd came with them:
 * 0 EOF, the child exec'd; 1 more is to come: with *ret_take_fd set the
 * fd is one a step handed over (keep it), otherwise a warning without an
 * errno, appended to warn (NULL: dropped); < 0 the stage that failed, in
 * err.  Pure: tests/fuzz/fuzz_sync.c runs it on any bytes. */
int start_report_parse(const void *buf, size_t n, bool fd_came, bool *ret_take_fd, vs_error *warn, vs_error *err);

static inline int sync_recv(int fd, struct sync_msg *ret) {
        return sync_recv_fd(fd, ret, NULL);
}

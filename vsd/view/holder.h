/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The listener holder: a small process (the vsd binary, run as
 * `vsd --listener-holder DIR`) that keeps a copy of every seccomp listener
 * the daemon answers sysinfo(2) and sched_getaffinity(0) on (sysinfo.h),
 * so that a daemon's death (kill -9, a restart, an upgrade) loses none.
 * While a daemon is connected it only watches them, to drop each when no
 * process uses its filter any more; while none is, it answers every call
 * with SECCOMP_USER_NOTIF_FLAG_CONTINUE (the kernel's own answer, the
 * host's figures).  A new daemon connects and gets every listener back.
 *
 * Supervised like lxcfs (lxcfs.h): started or adopted at daemon start,
 * watched through a pidfd, restarted with a backoff when it dies (the
 * daemon then gives it its copies again), stopped by a daemon that exits
 * with no instance running.
 *
 * Files, in <run_dir>/holder:
 *   sock         its SOCK_SEQPACKET socket (made by the daemon, given to it)
 *   state        {"pid", "starttime"}: which process the daemon started
 *   holder.log   its stderr
 *
 * The protocol (struct hold_msg, one fd each): the daemon sends HOLD with
 * a listener; on each connection the holder sends GIVE with each of its
 * own, then END.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/parse.h"

struct vsd;
struct hold;

/* Who a listener belongs to: its instance, and that instance's init. */
struct hold_tag {
        char name[VS_NAME_MAX + 1];
        int32_t init_pid;
        uint32_t pad;
        uint64_t init_start; /* vs_proc_starttime of init */
};

/* The holder process: argv "--listener-holder DIR", its socket on fd 3. */
int hold_main(const char *dir);

/* What the holder hands to the listeners' owner (the sysinfo view), which
 * it does not know otherwise: a listener taken back from the holder (0:
 * kept), the holder's queue drained or back, the holder gone.  ud is
 * passed to each. */
struct hold_ops {
        int (*adopt)(void *ud, const struct hold_tag *tag, int fd);
        void (*flush)(void *ud);
        void (*lost)(void *ud);
        void *ud;
};

int hold_new(struct vsd *v, const struct hold_ops *ops, struct hold **ret);

/* After the registry is loaded (the instances' sysinfo records exist):
 * adopt the previous daemon's holder and take its listeners back
 * (sinfo_listener_adopt), or start one.  Failures are logged: listeners
 * are then only the daemon's until a restart brings a holder. */
void hold_start(struct hold *h);

/* Give the holder a copy of listener fd (the caller keeps its own).
 * 0: sent; -EAGAIN: its queue is full (sinfo_hold_flush is called when
 * it drains); other < 0: no holder now (sinfo_hold_flush is called when
 * one is back).  h may be NULL. */
int hold_give(struct hold *h, const struct hold_tag *tag, int fd);

/* Release the daemon's hold: the holder answers from now on.  stop: end
 * it and remove its files (no instance runs). */
void hold_free(struct hold *h, bool stop);

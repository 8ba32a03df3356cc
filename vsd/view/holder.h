/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The listener holder: a small process (the vsd binary, run as
 * `vsd --listener-holder DIR`) that keeps a copy of every seccomp listener
 * the daemon answers sysinfo(2) and sched_getaffinity(0) on (sysinfo.h),
 * and of every running instance's console pty master (console.h), so that
 * a daemon's death (kill -9, a restart, an upgrade) loses none.  While a
 * daemon is connected it only watches them, to drop a listener when no
 * process uses its filter any more and a console when its init exits;
 * while none is, it answers every call with
 * SECCOMP_USER_NOTIF_FLAG_CONTINUE (the kernel's own answer, the host's
 * figures) and reads every console, keeping its newest 64 KiB, so that
 * nothing inside blocks on a full tty.  A new daemon connects and gets
 * every listener and console back, with that output.
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
 * The protocol (struct hold_msg in holder.c): the daemon sends HOLD with
 * a listener and CONSOLE with a console's master and its init's pidfd; on
 * each connection the holder sends GIVE with each listener, GIVE_CONSOLE
 * with each console and its output, then END; the daemon answers TAKEN
 * once that output is in its console.log.
 */

#include <stdbool.h>
#include <stddef.h>
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

/* What the holder hands to the listeners' owner (the sysinfo view) and
 * the consoles' (the registry), which it does not know otherwise: a
 * listener taken back from the holder (0: kept), a console's master taken
 * back with what the holder read from it meanwhile (data, len) and how
 * many older bytes it dropped (0: kept), the holder's queue drained or
 * back (give it what it lacks), the holder gone.  ud is passed to each. */
struct hold_ops {
        int (*adopt)(void *ud, const struct hold_tag *tag, int fd);
        int (*adopt_console)(void *ud, const struct hold_tag *tag, int master, const char *data, size_t len,
                             uint32_t lost);
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

/* Give the holder a copy of a running instance's console master, with
 * its init's pidfd (the holder drops the console when init exits).  The
 * same answers as hold_give. */
int hold_give_console(struct hold *h, const struct hold_tag *tag, int master, int init_pidfd);

/* Release the daemon's hold: the holder answers from now on.  stop: end
 * it and remove its files (no instance runs). */
void hold_free(struct hold *h, bool stop);

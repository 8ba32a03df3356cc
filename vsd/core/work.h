/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Long work off the event loop: a copy of a layer (snapshot, restore,
 * clone) runs in a helper process forked from the daemon and placed in a
 * work cgroup of its own (cgroups/cgroup.h, <parent>/.work-<id>); the loop
 * watches its pidfd and calls done() when it has exited.  The helper dies
 * with the daemon (PR_SET_DEATHSIG); what it started dies with its cgroup,
 * which the next daemon kills and removes (work_cleanup_leftovers) before
 * anything removes the helper's half-written output.
 */

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "vsd/core/loop.h"

struct vsd;
struct work;

/* Runs in the helper: < 0 with err filled on failure.  May block, fork,
 * allocate: the helper is a process of its own. */
typedef int (*work_fn)(void *arg, vs_error *err);

/* Runs in the loop once the helper has exited: result < 0 with err (its
 * message, or how it died) on failure. */
typedef void (*work_done_fn)(void *userdata, int result, const vs_error *err);

/* Start fn(arg) in a helper in work cgroup id (see cg_work_create).  The
 * helper keeps none of the daemon's fds but keep_fd (-1: none), which it
 * finds as fd 4.  On
 * success done() is called exactly once, later, from the loop (or from
 * work_shutdown).  On failure nothing was started and done() is not called. */
int work_start(struct vsd *v, const char *id, work_fn fn, void *arg, int keep_fd, work_done_fn done, void *userdata,
               vs_error *err);

/* work_start() with up to WORK_KEEP_MAX fds kept: keep[k] is fd 4 + k in
 * the helper (a negative one leaves its number closed).  inst_cgroup
 * (may be NULL): the helper then moves on into that instance's cgroup
 * before fn, so that what it starts is the instance's (it still dies with
 * the daemon; its cgroup is then the instance's to clean up). */
#define WORK_KEEP_MAX 8
int work_start_fds(struct vsd *v, const char *id, work_fn fn, void *arg, const int *keep, size_t n_keep,
                   const char *inst_cgroup, work_done_fn done, void *userdata, vs_error *err);

/* work_start_fds() for a helper that reads data_fd (its fd 4) and talks
 * with the loop over a SOCK_SEQPACKET pair (its fd 5): the loop's end is
 * *ret_ctl, watched for input with on_ctl(userdata) (*ret_src).  A watch
 * that cannot be added leaves *ret_ctl closed and the helper running: it
 * hears nothing and ends, and done() comes as usual.  On failure nothing
 * was started. */
int work_start_ctl(struct vsd *v, const char *id, work_fn fn, void *arg, int data_fd, work_done_fn done,
                   loop_fd_cb on_ctl, void *userdata, int *ret_ctl, struct loop_source **ret_src, vs_error *err);

/* The one request of a work_start_ctl() helper, read from the control
 * socket *ctl (at most max bytes): decide() answers it with a verdict, or
 * fails with *refusal filled, and the helper then hears {"go": false} with
 * *refused set.  Nothing read yet: nothing done.  Otherwise the watch and
 * the socket are closed after it (a helper that ended first has said why
 * in its end). */
struct json_t;
typedef int (*work_decide_fn)(void *userdata, const char *msg, size_t len, struct json_t **ret, vs_error *err);
void work_ctl_serve(int *ctl, struct loop_source **src, size_t max, work_decide_fn decide, void *userdata,
                    vs_error *refusal, bool *refused);

/* Cancel the work running in work cgroup id: its helper is killed (what
 * it started dies with its cgroup), and done() hears -ECANCELED
 * ("cancelled").  -ESRCH when no such work runs. */
int work_cancel(struct vsd *v, const char *id);

/* At daemon start, before anything cleans up after an interrupted
 * operation: kill and remove every work cgroup a previous daemon left,
 * with whatever still runs there.  Logged per cgroup. */
void work_cleanup_leftovers(struct vsd *v);

/* At daemon exit: kill the running helpers and end their work with an
 * error ("vsd is shutting down"). */
void work_shutdown(struct vsd *v);

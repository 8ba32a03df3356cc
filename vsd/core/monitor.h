/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Watching for limits that bite: OOM kills and forks refused at the pids
 * limit, turned into "oom-kill" and "pids-max" events (vsd/core/events.h).
 *
 * Two sources, so that an OOM kill is never missed silently:
 *   - the kernel log (/dev/kmsg, one fd in the loop): the OOM killer's
 *     "oom-kill:...task_memcg=/<parent>/<name>,task=..,pid=.." and
 *     "Killed process N (comm)" lines give the time and the victim at once;
 *     cgroup paths are matched against this daemon's own cgroup parent, so
 *     several daemons on one host each see only their own instances;
 *   - the cgroups' own counters (oom_kill, pids.events max), read every
 *     MON_SWEEP_MS for running instances and once more when an init exits:
 *     a kill the log did not explain within one sweep (kmsg unreadable, its
 *     ring overwritten) is still reported, without the victim.
 */

#include "base/error.h"

struct vsd;
struct inst_config;
struct monitor;

#define MON_SWEEP_MS 2000

/* Start watching.  Returns 0, or 1 with err saying what is missing when
 * the kernel log cannot be read (the counters still work); < 0 only when
 * out of memory. */
int mon_new(struct vsd *v, struct monitor **ret, vs_error *err);
void mon_free(struct monitor *m);

/* The instance's cgroup is new or re-adopted: its counters so far are not
 * news.  The monitor keeps a record of it (what events told of its
 * counters) until mon_instance_exited(); cfg (its name and limits, for the
 * events) is borrowed for as long.  m may be NULL. */
void mon_instance_started(struct monitor *m, const struct inst_config *cfg);

/* Init has exited and the cgroup is about to go: read what the kernel log
 * still holds and the counters one last time, and drop the record.  m may
 * be NULL. */
void mon_instance_exited(struct monitor *m, const char *name);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What an instance's processes may do: the capability set (caps.c) and the
 * seccomp filter (seccomp.c).  Both are computed once per daemon process, in
 * the parent, by the *_prepare() calls; the child of a start or an exec only
 * applies the precomputed result, so a start pays no libcap parsing and no
 * seccomp compilation.  The apply functions run between clone and exec:
 * they return -errno, touch no lock and allocate nothing.
 */

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

/* Build the capability sets of both kinds of instance (idempotent, cheap
 * after the first call). */
int caps_prepare(vs_error *err);

/* The set of a privileged instance (userns false) or an unprivileged one
 * (true) as a bit mask (bit n = capability n): what CapBnd, CapEff and
 * CapPrm of an instance's init read in /proc/PID/status. */
uint64_t caps_default_mask(bool userns);

/* Child: drop every capability outside its kind's set from the bounding
 * set.  Needs CAP_SETPCAP in the effective set, so it runs before
 * caps_apply(). */
int caps_drop_bounding(bool userns);

/* Child: clear the ambient set and set effective, permitted and inheritable
 * to its kind's set.  After this a privileged instance's child has no
 * CAP_SYS_ADMIN, so it runs after syscall_filter_load(). */
int caps_apply(bool userns);

/* Make the effective set the whole permitted set again (after a change of
 * fsuid away from 0 cleared the file capabilities from it).  -errno. */
int caps_raise_effective(void);

/* Compile the seccomp profile once and keep its raw BPF (idempotent).
 * deny_cgroup_ns: the instances' limits live in cgroup v1 hierarchies, which
 * a new cgroup namespace would let them mount and write (seccomp.c). */
int syscall_filter_prepare(bool deny_cgroup_ns, vs_error *err);

/* Child: install the precompiled filter, with a listener for the calls vsd
 * answers (sysinfo) in *ret_listener (close-on-exec), which the child hands
 * to the daemon.  Without no_new_privs (setuid binaries inside an instance
 * must keep working) the kernel only accepts a filter from a task with
 * CAP_SYS_ADMIN in its effective set: call it before caps_apply(). */
int syscall_filter_load(int *ret_listener);

/* Number of syscall names in the profile's deny table, and the i-th one
 * (for tests and `vsd --print-profile` style diagnostics). */
unsigned syscall_filter_denied_count(void);
const char *syscall_filter_denied_name(unsigned i);

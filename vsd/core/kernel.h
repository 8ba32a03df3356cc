/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the running kernel can do, found out once at daemon start by trying
 * it (never from the version number: distributions backport, and a feature
 * may be configured out).  Each answer picks the path vsd takes; the paths
 * and why are in doc/architecture.md ("Kernels").
 */

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

struct kern_features {
        /* Time namespaces (CONFIG_TIME_NS, Linux 5.6): each instance gets
         * its own boot and monotonic clocks. */
        bool time_ns;
        /* exec() moves a process into the time namespace it unshared
         * (Linux 6.2).  Without it the start child enters the namespace
         * with setns() before exec, which a process sharing its memory
         * cannot: starts then clone without CLONE_VM. */
        bool exec_enters_time_ns;
        /* overlayfs takes an upper layer on a detached mount (an fsmount()
         * fd through /proc/self/fd).  Debian 12's 6.1 and 6.12 refuse
         * ("failed to clone upperpath"); without it the start child first
         * attaches the image's filesystem inside its own mount namespace. */
        bool overlay_detached_upper;
        /* The daemon holds CAP_SYS_RESOURCE (every root on a host does; a
         * root confined by its own container may not).  An unprivileged
         * instance's user namespace is then made with the instance's base
         * id as its owner, so that its kernel resource counts are its own
         * (start.c, owner_begin); without it the namespace stays root's,
         * or no process of the daemon's, CRIU included, could read the
         * instance's rlimits (prlimit asks for CAP_SYS_RESOURCE in the
         * target's namespace, which only its owner has for free). */
        bool sys_resource;
};

/*
 * Check that the kernel has every system call vsd cannot work without.
 * Fails with one line naming the first one missing, the release that
 * brought it and this kernel's release.
 */
int kern_check_required(vs_error *err);

/*
 * Probe the optional behaviours above.  lower_dir: an existing directory
 * on the host (the state root), the lower layer of a probe overlay that is
 * created and dropped, never attached.  A probe that cannot tell answers
 * with the choice that works everywhere.
 */
/* Does this kernel have time namespaces (CONFIG_TIME_NS, Linux 5.6)? */
bool kern_time_ns_supported(void);

void kern_probe(const char *lower_dir, struct kern_features *ret);

/*
 * Whether this kernel and the CRIU at criu have one of CRIU's features
 * (`criu check --feature NAME`: mem_dirty_track for memory pre-copy,
 * uffd-noncoop for post-copy): 0, or < 0 with CRIU's last line (or why it
 * could not run) in why.  Runs CRIU and waits for it: at daemon start or
 * in a helper, never in the loop.
 */
int kern_criu_feature(const char *criu, const char *feature, char *why, size_t len);

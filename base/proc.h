/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Facts about processes, read from /proc. */

#include <sys/types.h>

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks after
 * boot.  A pid that was reused belongs to a process with another start time,
 * so {pid, starttime} names one process for good.  Returns -errno. */
int vs_proc_starttime(pid_t pid, unsigned long long *ret);

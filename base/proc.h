/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Facts about processes, read from /proc; and the process's own signal state. */

#include <stddef.h>
#include <sys/types.h>

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks after
 * boot.  A pid that was reused belongs to a process with another start time,
 * so {pid, starttime} names one process for good.  Returns -errno. */
int vs_proc_starttime(pid_t pid, unsigned long long *ret);

/* The process's name (/proc/PID/comm) into buf, fit to print in a message:
 * its bytes outside printable ASCII shown as '?' (an instance names its
 * processes).  "" for a process gone. */
void vs_proc_comm(pid_t pid, char *buf, size_t len);

/* Before an execve of something that is not vsd: unblock every signal and
 * set every ignored one back to its default.  vsd blocks the signals its
 * signalfd reads and ignores SIGPIPE, and both survive execve: an init that
 * cannot see SIGCHLD or SIGTERM never reaps or stops, a tool that ignores
 * SIGPIPE writes on forever.  Async-signal-safe, allocates nothing (the
 * start's child calls it).  Returns -errno. */
int vs_signals_default(void);

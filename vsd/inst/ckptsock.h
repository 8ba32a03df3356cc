/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * CRIU's TCP repair mode, left on an instance's connections by a dump that
 * ended without CRIU's own unlock (checkpoint.c).
 *
 * To dump an established TCP connection CRIU turns TCP_REPAIR on for its
 * socket (criu/sk-tcp.c, libsoccr_pause) and keeps it on until the dump's
 * end: network_unlock(), which runs when a dump fails or leaves the tasks
 * running, turns it off again (libsoccr_resume).  A CRIU killed after it
 * dumped the sockets (with the daemon, or by vsd after a post-copy's
 * commit) never does: the processes run on, but a socket in repair mode
 * refuses every write (EINVAL, tcp_sendmsg) and sends nothing, so each
 * connection is stuck.  Before such processes run again, every socket of
 * theirs still in repair mode has it turned off here, as CRIU would have
 * (TCP_REPAIR_OFF, which sends a window probe).  One difference: the
 * socket's SO_REUSEADDR, which repair mode overrides and CRIU puts back
 * from what it saw before, is left off.
 */

#include <sys/types.h>

/* Repair mode off on every TCP socket of the processes in init_pid's pid
 * namespace (the instance's), reached with pidfd_getfd.  The number of
 * sockets changed, or -errno when init's namespace cannot be read. */
int ckpt_sock_repair_off(pid_t init_pid);

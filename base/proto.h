/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What vsd and vsctl agree on.  The API itself is described in doc/api.md. */

#define VS_VERSION "0.1.0"
#define VS_API_PREFIX "/v1"

#define VS_DEFAULT_CONFIG "/etc/vsd/vsd.conf"
#define VS_DEFAULT_SOCKET "/run/vsd/vsd.sock"
#define VS_DEFAULT_ROOT "/var/lib/vsd"
#define VS_DEFAULT_RUN_DIR "/run/vsd"
#define VS_DEFAULT_CGROUP_PARENT "vsd"
#define VS_DEFAULT_SOCKET_GROUP "vsd"
#define VS_DEFAULT_TEMPLATE "busybox"

/* Largest request body the daemon accepts. */
#define VS_MAX_BODY (64 * 1024)

/* Upgrade tokens for the two streaming endpoints (HTTP 101). */
#define VS_UPGRADE_EXEC "vsd-exec"
#define VS_UPGRADE_CONSOLE "vsd-console"

/*
 * After "101 Switching Protocols" on .../exec:
 *   tty=false: the client sends one byte 'F' carrying SCM_RIGHTS
 *              [stdin, stdout, stderr]; the command uses them directly.
 *   tty=true:  the daemon sends one byte 'P' carrying SCM_RIGHTS [pty master];
 *              the client relays its terminal to it and resizes it.
 * When the command ends the daemon writes "exit <status>\n" (status is the
 * exit code, or 128+signal) and closes the connection.  A failure to start
 * is "error <message>\n".
 */
#define VS_EXEC_FDS_BYTE 'F'
#define VS_EXEC_PTY_BYTE 'P'

/* Console: raw bytes both ways after 101.  The client's detach key: */
#define VS_CONSOLE_DETACH_KEY 0x1d /* Ctrl-] */

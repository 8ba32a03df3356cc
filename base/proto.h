/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What vsd and vsctl agree on.  The API itself is described in doc/api.md. */

#define VS_VERSION "0.1.0"
#define VS_API_PREFIX "/v1"
/* The header naming the operation (GET /v1/operations/ID) a stream
 * answer or a long request belongs to. */
#define VS_OPERATION_HEADER "Vsd-Operation"

#define VS_DEFAULT_CONFIG "/etc/vsd/vsd.conf"
#define VS_DEFAULT_SOCKET "/run/vsd/vsd.sock"
#define VS_DEFAULT_ROOT "/var/lib/vsd"
#define VS_DEFAULT_RUN_DIR "/run/vsd"
#define VS_DEFAULT_CGROUP_PARENT "vsd"
#define VS_DEFAULT_SOCKET_GROUP "vsd"
#define VS_DEFAULT_TEMPLATE "busybox"

/* Largest request body the daemon accepts. */
#define VS_MAX_BODY (64 * 1024)

/* Upgrade tokens for the two streaming endpoints (HTTP 101).  The exec
 * token names the protocol's version: the first one ("vsd-exec", the client
 * passing its own stdio) is refused with 400 and a one-line reason. */
#define VS_UPGRADE_EXEC "vsd-exec/2"
#define VS_UPGRADE_EXEC_V1 "vsd-exec"
#define VS_UPGRADE_CONSOLE "vsd-console"

/*
 * After "101 Switching Protocols" on .../exec the client sends nothing; the
 * daemon starts the command, then sends one byte carrying SCM_RIGHTS:
 *   tty=false: 'S' with [stdin, stdout, stderr]: the write end of the pipe
 *              that is the command's stdin and the read ends of its stdout
 *              and stderr pipes.  The client relays its own streams to and
 *              from them and closes the stdin pipe at its end of input.
 *   tty=true:  'P' with [pty master]: the command's terminal, a pty of the
 *              instance's own devpts sized by the request's rows and cols;
 *              the client relays its terminal to it and resizes it.
 * No fd of the client ever reaches the instance.  When the command ends the
 * daemon writes "exit <status>\n" (status is the exit code, or
 * 128+signal) and closes the connection; the client then copies out what the
 * output pipes already hold and exits, without waiting for processes that
 * still have them open.  A failure to start is "error <message>\n" instead
 * of the byte.
 */
#define VS_EXEC_PIPES_BYTE 'S'
#define VS_EXEC_PTY_BYTE 'P'

/*
 * The fd protocol (export and import of an instance): after "101 Switching
 * Protocols" the client sends one byte, VS_FD_BYTE, carrying SCM_RIGHTS with
 * one file descriptor: the file the archive is written to (export) or read
 * from (import), opened by the client with its own rights.  The daemon
 * answers with one line of JSON, the operation that now works on it
 * ({"id", ...}: follow it at /operations/ID) or {"error", "code"}, and
 * closes the connection.  A client that sends nothing within VS_FD_WAIT_MS
 * gets an error line.
 */
#define VS_UPGRADE_FD "vsd-fd"
#define VS_FD_BYTE 'F'
#define VS_FD_WAIT_MS 30000

/*
 * What this vsd takes from another host's move, listed by GET /v1/version
 * ("features") so that the moving host asks before anything stops there:
 *   precopy-image    an instance archive's disk.delta (a cold move's final
 *                    pass of an image)
 *   precopy-tree     upper.delta and upper.deleted/ (of a directory layer)
 *   receive-pages    `vsctl receive-pages NAME` (a live move's page server)
 *   precopy-memory   `vsctl receive-pages NAME --precopy` (pre-dump passes
 *                    before the final dump, each page server's images the
 *                    parent of the next; vsd/inst/pages.h)
 *   template-import  `vsctl template import -`
 * A vsd that lists none (an older one) takes none of them.
 */
#define VS_FEATURE_PRECOPY_IMAGE "precopy-image"
#define VS_FEATURE_PRECOPY_TREE "precopy-tree"
#define VS_FEATURE_RECEIVE_PAGES "receive-pages"
#define VS_FEATURE_TEMPLATE_IMPORT "template-import"
#define VS_FEATURE_PRECOPY_MEMORY "precopy-memory"
/* listed only while this host can take a post-copy move (pages.h) */
#define VS_FEATURE_RECEIVE_LAZY_PAGES "receive-lazy-pages"
#define VS_FEATURES                                                                           \
        { VS_FEATURE_PRECOPY_IMAGE, VS_FEATURE_PRECOPY_TREE, VS_FEATURE_RECEIVE_PAGES, \
          VS_FEATURE_TEMPLATE_IMPORT, VS_FEATURE_PRECOPY_MEMORY }

/* Console: raw bytes both ways after 101.  The client's detach key: */
#define VS_CONSOLE_DETACH_KEY 0x1d /* Ctrl-] */

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * vsctl's client side of the control API: the few fixed requests it makes,
 * spoken directly over the daemon's Unix socket.  A library like libcurl
 * would cost more at process start than the request itself (see the design
 * notes), so this is a plain connect/send/read with base/http_reader.c doing
 * the parsing.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "base/http_reader.h"

/* vsctl's --timeout when none is given, in seconds. */
#define HTTP_TIMEOUT_DEFAULT 30

/* How long to wait for vsd from now on: to accept a connection, to take a
 * request, and for each read of its answer (so a stream that keeps sending,
 * a template build's progress, never times out); 0 waits for ever.  A
 * timeout fails with "vsd did not answer within N s" (ETIMEDOUT). */
void http_set_timeout(unsigned seconds);

/* From now on, when an answer or a stream takes longer than the timeout,
 * ask vsd on socket_path for its version on another connection and go on
 * waiting while it answers in time (a stop that waits for the instance, a
 * template build whose builder is quiet); NULL ends that. */
void http_wait_on(const char *socket_path);

/* No timeout on fd any more: a stream or session that may be quiet for
 * as long as its user likes (events, exec, console), once vsd answered. */
void http_no_timeout(int fd);

/* Largest response body vsctl reads: far above what any listing needs. */
#define HTTP_BODY_MAX (64u * 1024 * 1024)

/* Connect to the daemon's socket.  The error names the socket and hints at
 * the likely cause.  Returns the fd or < 0. */
int http_connect(const char *socket_path, vs_error *err);

/* Send one request.  extra_headers is "" or complete "Name: value\r\n" lines;
 * without them the request asks for "Connection: close". */
int http_send_request(int fd, const char *method, const char *path, const char *extra_headers,
                      const char *body, size_t body_len, vs_error *err);

/* Read a response head byte-exactly: nothing after the empty line is taken
 * from the socket, so a byte carrying SCM_RIGHTS right behind it stays there
 * for recvmsg(). */
int http_read_head(int fd, vs_http_head *ret, vs_error *err);

/* Read a whole response (head, then the body until its framing ends or the
 * peer closes). */
int http_read_response(int fd, vs_http_head *ret_head, char **ret_body, size_t *ret_len, vs_error *err);

/* Read the body that follows an already-read head. */
int http_read_body(int fd, const vs_http_head *head, char **ret_body, size_t *ret_len, vs_error *err);

/* Turn an error answer into err: the daemon's {"error": "..."} text when it
 * sent one, else the status line.  Returns < 0. */
int http_error_from_body(int status, const char *reason, const char *body, size_t len, vs_error *err);

/* One JSON call: connect, send body (may be NULL), read the answer.  On 2xx
 * returns 0 and, when ret_json is not NULL, the parsed body (NULL for an
 * empty one).  Any failure, the daemon's refusals included, fills err.
 * may_wait: the answer may take longer than the timeout (a stop waits for
 * the instance to halt); while vsd answers a ping within the timeout on
 * another connection, the call waits on. */
int http_call(const char *socket_path, const char *method, const char *path, json_t *body, bool may_wait,
              json_t **ret_json, vs_error *err);

/* The fd protocol (base/proto.h): POST path upgraded to VS_UPGRADE_FD,
 * fd passed, the daemon's one JSON line back in *ret (an operation), or
 * its error in err. */
int http_pass_fd(const char *socket_path, const char *path, int fd, json_t **ret, vs_error *err);

/* An Upgrade request (exec, console): returns in *ret_fd the connected
 * socket, positioned right after the "101 Switching Protocols" head. */
int http_upgrade(const char *socket_path, const char *method, const char *path, json_t *body, const char *token,
                 int *ret_fd, vs_error *err);

/* Whether err comes from http_connect(), i.e. the daemon was not reached
 * at all, or did not answer in time (so trying the next of several
 * instances is pointless). */
bool http_is_connect_error(const vs_error *err);

/* Percent-encode one path segment (an instance name as the user typed it),
 * so that whatever it holds cannot change the request line.  Returns a
 * malloc'd string or NULL. */
char *http_escape_segment(const char *s);

/* Read a newline-delimited body (chunked or with a length) that follows an
 * already-read head, calling line() for each line (without its newline) as
 * it arrives, until the body ends.  A stream cut short is an error naming
 * what ("the event stream").  line() returning < 0 (-errno) stops it. */
int http_read_lines(int fd, const vs_http_head *h, const char *what, int (*line)(void *userdata, const char *s, size_t n),
                    void *userdata, vs_error *err);

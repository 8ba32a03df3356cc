/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Between the HTTP plumbing (api.c) and the handlers (routes.c). */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "vsd/api/exec.h"
#include "vsd/inst/instance.h"

struct vsd;
struct request;

enum upgrade_kind { UPGRADE_NONE, UPGRADE_EXEC, UPGRADE_CONSOLE, UPGRADE_WS_CONSOLE, UPGRADE_FD };

struct vsd *api_vsd(struct request *rq);

/* Exactly one of these per request.  reply_json steals body. */
void api_reply_json(struct request *rq, unsigned status, json_t *body);
void api_reply_error(struct request *rq, const vs_error *err);

/* Answer later: the request waits until the instance's stop (or restart,
 * destroy) has finished; then reply(rq) builds the answer. */
struct inst_waiter *api_wait(struct request *rq, struct instance *i);
/* The same, answering with status and body (stolen) on success, or with
 * status and the JSON of instance name (NULL: i) when body is NULL.  For a
 * long operation on i (snapshot.h): tell the waiter yourself if it cannot
 * start. */
struct inst_waiter *api_wait_reply(struct request *rq, struct instance *i, unsigned status, const char *name,
                                   json_t *body);

/* Switch the connection to the exec or console protocol after 101. */
void api_upgrade_exec(struct request *rq, struct instance *i, struct exec_request *req);
void api_upgrade_console(struct request *rq, struct instance *i);
/* The console as a WebSocket (Upgrade: websocket, websocket.h): the
 * handshake's headers checked here, 400 or 426 when they are wrong. */
void api_upgrade_ws_console(struct request *rq, struct instance *i);

/* Switch the connection to the fd protocol after 101 (base/proto.h,
 * VS_UPGRADE_FD): the client sends one file descriptor (SCM_RIGHTS) within
 * VS_FD_WAIT_MS; fn gets it (and owns it, closing it on failure) and says
 * with *ret_answer what the one JSON line sent back is: an operation, or
 * (fn < 0) err as {"error", "code"}.  userdata is freed with free() once
 * fn has run or the client left without sending. */
typedef int (*api_fd_fn)(struct vsd *v, void *userdata, int fd, json_t **ret_answer, vs_error *err);
void api_upgrade_fd(struct request *rq, api_fd_fn fn, void *userdata);

/* Is the request's Upgrade header the one expected? */
bool api_has_upgrade(struct request *rq, const char *token);
const char *api_query(struct request *rq, const char *key);
/* Every query parameter is one of known (NULL-terminated). */
int api_query_check(struct request *rq, const char *const *known, vs_error *err);

/* A stream answer (newline-delimited JSON, chunked) fed by a source: next()
 * gives the next line (malloc'd, with its newline; *line NULL if it could
 * not be made) and returns 1, or 0 when it has none for now (the source
 * calls api_stream_wake() when it has), or -1 when it has nothing more.
 * close() runs once the stream is gone (the client left, or it ended). */
struct stream;
struct stream_src {
        int (*next)(void *ctx, char **line, size_t *len);
        void (*close)(void *ctx);
};
/* op_id: sent as the VS_OPERATION_HEADER header (NULL: none).  NULL when
 * it could not be made (close() has run, the connection ends). */
struct stream *api_stream_open(struct request *rq, const struct stream_src *src, void *ctx, const char *op_id);
void api_stream_wake(struct stream *st);

/* Answer with the stream of events matching f from cursor on (newline-
 * delimited JSON, chunked); with follow, stay open for new ones until the
 * client leaves or vsd shuts down. */
struct ev_filter;
void api_stream_events(struct request *rq, const struct ev_filter *f, uint64_t cursor, bool follow);

/* Answer with the progress of a template build that just started (newline-
 * delimited JSON, chunked), ending with its outcome. */
struct tmpl_build;
void api_stream_build(struct request *rq, struct tmpl_build *b);

/* Answer with the operation's JSON, and with follow again at each change
 * until it has ended. */
struct op;
void api_stream_op(struct request *rq, struct op *op, bool follow);

/* routes.c */
void routes_dispatch(struct request *rq, const char *method, const char *url, const char *body, size_t len);
json_t *routes_instance_json(struct instance *i);

/* What a request body asks of an instance's settings, read exactly as the
 * routes read it and with no daemon state touched (nothing is created,
 * written or looked up), so tests/fuzz/fuzz_api_body.c runs what the
 * daemon runs.  Both refuse an unknown field and take each setting through
 * config.ini's parser (inst_config_set); cfg may be partly changed on error.
 *
 * POST /v1/instances: {"name", "template", "start", settings...} onto cfg,
 * which holds the defaults; *ret_start is "start": true. */
int routes_create_body(const char *body, size_t len, struct inst_config *cfg, bool *ret_start, vs_error *err);
/* PATCH /v1/instances/NAME: {settings...} onto cfg, a copy of the
 * instance's, which inst_update() then takes. */
int routes_patch_body(const char *body, size_t len, struct inst_config *cfg, vs_error *err);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A small HTTP/1.x response reader for vsctl: pure functions over a buffer,
 * no I/O, so that it can be unit-tested and fuzzed on its own.
 *
 * The caller keeps appending what it reads to one buffer and asks again:
 * every function answers 1 (complete), 0 (need more bytes) or < 0 (the
 * response is broken; err says why).  Re-parsing from the start each time is
 * cheap for the few KiB our daemon answers with and keeps the parser free of
 * state.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* A response head larger than this is refused: our daemon sends a few lines. */
#define VS_HTTP_HEAD_MAX (16 * 1024)
#define VS_HTTP_HEADERS_MAX 64

typedef struct vs_http_head {
        int status;             /* 100..599 */
        char reason[64];        /* truncated to fit */
        int64_t content_length; /* -1 when the response has none */
        bool chunked;           /* Transfer-Encoding: chunked */
        bool conn_close;        /* Connection: close */
        bool conn_upgrade;      /* Connection: upgrade */
        char upgrade[32];       /* Upgrade: token, "" when absent */
        size_t len;             /* bytes of the head, the empty line included */
} vs_http_head;

/* Parse the status line and headers at the start of buf.  Lines may end in
 * CRLF or a bare LF.  Returns 1 and fills *ret when the empty line has been
 * seen, 0 when more bytes are needed, -EBADMSG when malformed, -E2BIG when the
 * head exceeds VS_HTTP_HEAD_MAX or VS_HTTP_HEADERS_MAX. */
int vs_http_parse_head(const char *buf, size_t len, vs_http_head *ret, vs_error *err);

/* Whether a body follows the head at all: not for 1xx, 204 and 304. */
bool vs_http_has_body(const vs_http_head *h);

/* Frame the body in buf (the bytes after the head).  eof says the peer has
 * closed, which ends a body without Content-Length or chunking.  On 1 the
 * decoded body is returned in *ret_body (malloc'd, NUL-terminated, may hold
 * NULs) and its length in *ret_len.  Bodies beyond max bytes give -EFBIG,
 * a body cut short by eof -EBADMSG. */
int vs_http_parse_body(const vs_http_head *h, const char *buf, size_t len, bool eof, size_t max,
                       char **ret_body, size_t *ret_len, vs_error *err);

/* A chunked body decoded as it arrives, for a response that streams (an
 * event stream never ends by itself, so waiting for the whole body as
 * vs_http_parse_body() does is not an option).  Zero-initialise, then feed
 * every byte read after the head, in order. */
typedef struct vs_http_chunks {
        int state;
        uint64_t left;   /* data bytes left in the current chunk, or the size being read */
        size_t line;     /* length of the size or trailer line so far */
        bool digits;     /* the size line has a digit */
} vs_http_chunks;

/* Decode len bytes of in; the data goes to out (len bytes of room always
 * suffice) and its length to *ret_out.  Returns 0 when more is expected,
 * 1 at the end of the body (*ret_used: how many bytes of in it took; bytes
 * after it are not the body's), -EBADMSG when malformed (the decoder then
 * stays failed). */
int vs_http_chunks_feed(vs_http_chunks *c, const char *in, size_t len, char *out, size_t *ret_out, size_t *ret_used,
                        vs_error *err);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The one error convention of vsd (see doc/architecture.md):
 *
 *   - every function that can fail returns int, < 0 on failure;
 *   - leaf helpers return -errno and fill nothing;
 *   - where a person will read the message, the function also fills a
 *     vs_error in one line:  return vs_err(err, errno, "mount %s", dst);
 *   - callers add context on the way up with vs_err_prefix();
 *   - only the top layer (the request handler, main()) logs.
 *
 * vs_err() returns -code so it can be returned directly.  A code of 0 means
 * "invalid input" and is stored as EINVAL, with no strerror suffix.
 */

#include <stdarg.h>
#include <stddef.h>

#define VS_ERROR_MAX 512

typedef struct vs_error {
        int code;               /* positive errno value, 0 = no error */
        char msg[VS_ERROR_MAX]; /* one line, no trailing newline */
} vs_error;

/* Fill err (may be NULL) with "fmt: strerror(errnum)"; return -errnum. */
int vs_err(vs_error *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like vs_err() but without the strerror suffix: for bad input. */
int vs_err_msg(vs_error *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepend "context: " to an already filled err; return -err->code. */
int vs_err_prefix(vs_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Make s one line of UTF-8, in place: every control character (C0, DEL,
 * C1) and every byte that is not part of a whole UTF-8 character becomes
 * '?'.  The functions above do it to each message they fill, so that what
 * went into one (a request's bytes, a name cut by "%.40s", a file name, a
 * child's report) can neither break the line nor make the API's JSON answer
 * impossible (jansson takes only UTF-8).  Async-signal-safe. */
void vs_err_text_clean(char *s);

/* Map an errno-style code to the HTTP status the API answers with. */
int vs_err_http_status(int code);

static inline void vs_err_clear(vs_error *err) {
        if (err) {
                err->code = 0;
                err->msg[0] = '\0';
        }
}

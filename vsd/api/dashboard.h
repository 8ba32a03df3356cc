/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The web dashboard ([dashboard] in vsd.conf): its static files (built
 * from dashboard/ at make time and embedded), its token, and what a
 * request on its listener may reach.  api.c accepts the connections;
 * this decides on each request before anything else sees it.
 */

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

struct dash;

/* One embedded file (the generated dashboard-assets.c). */
struct dash_asset {
        const char *path; /* "/app.js" */
        const char *type; /* its Content-Type */
        const unsigned char *data;
        size_t len;
};
extern const struct dash_asset dash_assets[];
extern const size_t dash_n_assets;

/* Read the token: a regular file owned by root that others can neither
 * read nor write (group read is fine: the vsd group may use vsd anyway),
 * 16 to 256 printable characters without blanks, a trailing newline
 * dropped.  A missing file is ENOENT: no dashboard. */
int dash_open(const char *token_file, struct dash **ret, vs_error *err);
void dash_free(struct dash *d);

/* Is given the token?  In constant time for a given token length. */
bool dash_token_equal(const struct dash *d, const char *given);

enum dash_verdict {
        DASH_ANSWERED, /* *ret_resp (may be NULL: out of memory) with *ret_status */
        DASH_ROUTE,    /* authenticated and allowed: the control API answers */
};

/* Decide on one request on the dashboard listener: the login form and
 * the static files are answered here; a request for the control API is
 * let through only with the token (Authorization: Bearer, or the cookie
 * the login sets, which for anything but GET must come with the page's
 * X-Vsd-Dashboard header and a same-origin Origin) and only to the
 * routes the page uses. */
enum dash_verdict dash_request(const struct dash *d, struct MHD_Connection *conn, const char *method, const char *url,
                               const char *body, size_t len, unsigned *ret_status, struct MHD_Response **ret_resp);

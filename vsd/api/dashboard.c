/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/api/dashboard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <jansson.h>
#include <unistd.h>

#include "base/util.h"

#define TOKEN_MIN 16
#define TOKEN_MAX 256
#define COOKIE "vsd_dashboard"
/* What the page sends with every request that changes something: a
 * header no cross-site form can send, and no cross-site script either
 * without a CORS preflight, which this listener never grants. */
#define CSRF_HEADER "X-Vsd-Dashboard"

static const char *startswith(const char *s, const char *prefix) {
        size_t n = strlen(prefix);
        return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

struct dash {
        char token[TOKEN_MAX + 1];
        size_t token_len;
};

/* The characters a token may have: what a cookie value and a header carry
 * as they are (base64 and hex tokens fit). */
static bool token_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~+/=", c);
}

int dash_open(const char *token_file, struct dash **ret, vs_error *err) {
        /* a root-owned file under /etc: nothing a customer controls, and
         * O_NONBLOCK keeps a FIFO put there from holding the start */
        _cleanup_close_ int fd = open(token_file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return vs_err(err, errno, "Failed to read the dashboard token %s", token_file);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return vs_err(err, errno, "Failed to read the dashboard token %s", token_file);
        if (!S_ISREG(st.st_mode))
                return vs_err_msg(err, EINVAL, "Failed to read the dashboard token %s: not a regular file", token_file);
        if (st.st_uid != 0 || (st.st_mode & 0027))
                return vs_err_msg(err, EPERM,
                                  "Failed to read the dashboard token %s: it must be root's and readable by root "
                                  "and its group only (mode 0640 root:vsd)",
                                  token_file);
        char buf[TOKEN_MAX + 2];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0)
                return vs_err(err, errno, "Failed to read the dashboard token %s", token_file);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                n--;
        if (n < TOKEN_MIN || n > TOKEN_MAX)
                return vs_err_msg(err, EINVAL, "Failed to read the dashboard token %s: it must have %d to %d characters",
                                  token_file, TOKEN_MIN, TOKEN_MAX);
        for (ssize_t k = 0; k < n; k++)
                if (!token_char(buf[k]))
                        return vs_err_msg(err, EINVAL,
                                          "Failed to read the dashboard token %s: only letters, digits and -._~+/= "
                                          "may be in it",
                                          token_file);
        struct dash *d = calloc(1, sizeof(*d));
        if (!d)
                return vs_err(err, ENOMEM, "Failed to read the dashboard token %s", token_file);
        memcpy(d->token, buf, (size_t) n);
        d->token_len = (size_t) n;
        explicit_bzero(buf, sizeof(buf));
        *ret = d;
        return 0;
}

void dash_free(struct dash *d) {
        if (!d)
                return;
        explicit_bzero(d, sizeof(*d));
        free(d);
}

bool dash_token_equal(const struct dash *d, const char *given) {
        if (!d || !given)
                return false;
        /* every byte of the token is compared whatever differs first: the
         * time tells nothing of how much of a guess was right */
        size_t n = strnlen(given, TOKEN_MAX + 1);
        unsigned char diff = n != d->token_len;
        for (size_t k = 0; k < d->token_len; k++)
                diff |= (unsigned char) d->token[k] ^ (unsigned char) (k < n ? given[k] : 0);
        return diff == 0;
}

/* ---- answers ------------------------------------------------------------ */

/* Headers every answer of the listener carries: no framing by another
 * site, no script or style but the page's own, no guessing of types. */
static struct MHD_Response *harden(struct MHD_Response *r) {
        if (!r)
                return NULL;
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
        /* same-origin, not no-referrer: with no-referrer a browser sends
         * "Origin: null" with the login form, and same_origin() refuses it */
        MHD_add_response_header(r, "Referrer-Policy", "same-origin");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        return r;
}

static const struct dash_asset *asset(const char *path) {
        for (size_t k = 0; k < dash_n_assets; k++)
                if (streq(dash_assets[k].path, path))
                        return &dash_assets[k];
        return NULL;
}

static struct MHD_Response *asset_response(const struct dash_asset *as) {
        struct MHD_Response *r = MHD_create_response_from_buffer(as->len, (void *) as->data, MHD_RESPMEM_PERSISTENT);
        if (r)
                MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, as->type);
        return harden(r);
}

static struct MHD_Response *error_response(const char *msg, int code) {
        _cleanup_free_ char *text = NULL;
        json_t *j = json_pack("{s:s, s:i}", "error", msg, "code", code);
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!text)
                return NULL;
        size_t n = strlen(text);
        struct MHD_Response *r = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_COPY);
        if (r)
                MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        return harden(r);
}

static enum dash_verdict answer(unsigned status, struct MHD_Response *r, unsigned *ret_status,
                                struct MHD_Response **ret_resp) {
        *ret_status = status;
        *ret_resp = r;
        return DASH_ANSWERED;
}

/* 401: the login form for a page a browser asks for, JSON for the rest. */
static enum dash_verdict unauthorized(const char *method, const char *url, unsigned *ret_status,
                                      struct MHD_Response **ret_resp) {
        const struct dash_asset *login = asset("/login.html");
        struct MHD_Response *r;
        if ((streq(method, "GET") || streq(method, "POST")) && (streq(url, "/") || streq(url, "/login")) && login)
                r = asset_response(login);
        else
                r = error_response("the dashboard needs its token (Authorization: Bearer TOKEN, or log in at /)",
                                   EACCES);
        if (r)
                MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"vsd\"");
        return answer(401, r, ret_status, ret_resp);
}

/* ---- checks -------------------------------------------------------------- */

static const char *header(struct MHD_Connection *conn, const char *name) {
        return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* The Origin a browser sends names this listener as the client reached it
 * (its Host): a page of another site cannot pass. */
static bool same_origin(struct MHD_Connection *conn) {
        const char *origin = header(conn, MHD_HTTP_HEADER_ORIGIN);
        const char *host = header(conn, MHD_HTTP_HEADER_HOST);
        if (!origin)
                return true; /* not a browser's cross-site request: browsers send it */
        if (!host)
                return false;
        const char *sep = strstr(origin, "://");
        return sep && streq(sep + 3, host);
}

enum auth { AUTH_NONE, AUTH_BEARER, AUTH_COOKIE };

static enum auth authenticate(const struct dash *d, struct MHD_Connection *conn) {
        const char *a = header(conn, MHD_HTTP_HEADER_AUTHORIZATION);
        if (a && strncasecmp(a, "Bearer ", 7) == 0)
                return dash_token_equal(d, a + 7) ? AUTH_BEARER : AUTH_NONE;
        if (a)
                return AUTH_NONE;
        const char *c = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, COOKIE);
        return dash_token_equal(d, c) ? AUTH_COOKIE : AUTH_NONE;
}

/* GET /v1/instances/NAME/console: the browser console. */
static bool console_route(const char *method, const char *url) {
        const char *p = startswith(url, "/v1/instances/");
        const char *slash = p ? strchr(p, '/') : NULL;
        return streq(method, "GET") && slash && slash > p && streq(slash + 1, "console");
}

/* The console only as the page opens it: a WebSocket from a page of this
 * listener's own origin.  A browser opens a WebSocket to any site for any
 * page, with the cookie and without asking CORS: the Origin it must send
 * is what tells the dashboard's page from another site's (cross-site
 * WebSocket hijacking), so one is required, for the token too. */
static bool console_allowed(struct MHD_Connection *conn) {
        const char *up = header(conn, MHD_HTTP_HEADER_UPGRADE);
        return up && strcasecmp(up, "websocket") == 0 && header(conn, MHD_HTTP_HEADER_ORIGIN) && same_origin(conn);
}

/* The control routes the page uses, and nothing else: no create, destroy,
 * exec, set or snapshot through the dashboard. */
static bool route_allowed(const char *method, const char *url) {
        static const char *const gets[] = { "/v1/version", "/v1/instances", "/v1/stats", "/v1/events" };
        static const char *const actions[] = { "start", "stop", "restart" };
        bool get = streq(method, "GET");
        for (size_t k = 0; k < ELEMENTSOF(gets); k++)
                if (get && streq(url, gets[k]))
                        return true;
        const char *p = startswith(url, "/v1/instances/");
        if (!p || !*p)
                return false;
        const char *slash = strchr(p, '/');
        if (!slash)
                return get; /* GET /v1/instances/NAME (routes.c checks the name) */
        if (get && streq(slash + 1, "stats"))
                return true;
        for (size_t k = 0; k < ELEMENTSOF(actions); k++)
                if (streq(method, "POST") && streq(slash + 1, actions[k]))
                        return true;
        return false;
}

/* POST /login, a form with token=...: the cookie, and back to the page. */
static enum dash_verdict login(const struct dash *d, struct MHD_Connection *conn, const char *body, size_t len,
                               unsigned *ret_status, struct MHD_Response **ret_resp) {
        if (!same_origin(conn))
                return answer(403, error_response("cross-site login refused", EACCES), ret_status, ret_resp);
        _cleanup_free_ char *copy = strndup(body, len);
        if (!copy)
                return answer(500, NULL, ret_status, ret_resp);
        char *token = NULL;
        for (char *save = NULL, *kv = strtok_r(copy, "&", &save); kv; kv = strtok_r(NULL, "&", &save))
                if (startswith(kv, "token="))
                        token = kv + 6;
        if (token) {
                for (char *q = token; *q; q++)
                        if (*q == '+') /* a form's blank; MHD_http_unescape() leaves it */
                                *q = ' ';
                MHD_http_unescape(token);
                while (*token == ' ')
                        token++;
                size_t n = strlen(token);
                while (n > 0 && (token[n - 1] == ' ' || token[n - 1] == '\n' || token[n - 1] == '\r'))
                        token[--n] = '\0';
        }
        bool ok = dash_token_equal(d, token);
        explicit_bzero(copy, len);
        if (!ok)
                return unauthorized("POST", "/login", ret_status, ret_resp);
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
        if (r) {
                char cookie[TOKEN_MAX + 80];
                snprintf(cookie, sizeof(cookie), COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict", d->token);
                MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
                MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, "/");
                explicit_bzero(cookie, sizeof(cookie));
        }
        return answer(303, harden(r), ret_status, ret_resp);
}

enum dash_verdict dash_request(const struct dash *d, struct MHD_Connection *conn, const char *method, const char *url,
                               const char *body, size_t len, unsigned *ret_status, struct MHD_Response **ret_resp) {
        if (streq(url, "/login") && streq(method, "POST"))
                return login(d, conn, body, len, ret_status, ret_resp);
        enum auth how = authenticate(d, conn);
        if (how == AUTH_NONE)
                return unauthorized(method, url, ret_status, ret_resp);

        if (streq(url, "/logout") && streq(method, "POST")) {
                struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
                if (r) {
                        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE,
                                                COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
                        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, "/");
                }
                return answer(303, harden(r), ret_status, ret_resp);
        }
        if (!startswith(url, "/v1/")) {
                const struct dash_asset *as = streq(method, "GET") ? asset(streq(url, "/") ? "/index.html" : url) : NULL;
                if (!as || streq(url, "/login.html"))
                        return answer(404, error_response("not found", ENOENT), ret_status, ret_resp);
                return answer(200, asset_response(as), ret_status, ret_resp);
        }
        /* A cookie goes with every request the browser makes to this
         * host, whoever's page asks: what changes something needs more. */
        if (how == AUTH_COOKIE && !streq(method, "GET") && (!header(conn, CSRF_HEADER) || !same_origin(conn)))
                return answer(403, error_response("cross-site request refused (the page sends " CSRF_HEADER ")", EACCES),
                              ret_status, ret_resp);
        if (console_route(method, url))
                return console_allowed(conn) ? DASH_ROUTE
                                             : answer(403,
                                                      error_response("the console is a WebSocket from the dashboard's "
                                                                     "own page (Upgrade: websocket, its Origin)",
                                                                     EACCES),
                                                      ret_status, ret_resp);
        if (!route_allowed(method, url))
                return answer(404, error_response("not served on the dashboard listener", ENOENT), ret_status, ret_resp);
        return DASH_ROUTE;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/http_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

/* Longest chunk-size line we wait for: hex digits plus a chunk extension. */
#define CHUNK_LINE_MAX 1024

/* Find the end of the line starting at pos: returns the index of its '\n', or
 * -1 when it has not arrived yet.  *ret_end is where the content ends, before
 * an optional '\r'. */
static ssize_t line_end(const char *buf, size_t len, size_t pos, size_t *ret_end) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl)
                return -1;
        size_t end = (size_t) (nl - buf);
        *ret_end = end > pos && buf[end - 1] == '\r' ? end - 1 : end;
        return (ssize_t) end;
}

static bool line_has_ctl(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                if ((c < 0x20 && c != '\t') || c == 0x7f)
                        return true;
        }
        return false;
}

static void trim(const char **s, size_t *n) {
        while (*n > 0 && (**s == ' ' || **s == '\t')) {
                (*s)++;
                (*n)--;
        }
        while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
                (*n)--;
}

/* Walk a comma-separated header value, calling fn on each trimmed element. */
static int for_each_token(const char *v, size_t n, int (*fn)(const char *t, size_t tn, bool last, void *u),
                          void *userdata) {
        size_t start = 0;
        for (size_t i = 0; i <= n; i++) {
                if (i < n && v[i] != ',')
                        continue;
                const char *t = v + start;
                size_t tn = i - start;
                trim(&t, &tn);
                int r = fn(t, tn, i == n, userdata);
                if (r < 0)
                        return r;
                start = i + 1;
        }
        return 0;
}

static bool token_is(const char *t, size_t tn, const char *word) {
        return tn == strlen(word) && strncasecmp(t, word, tn) == 0;
}

static int connection_token(const char *t, size_t tn, bool last, void *userdata) {
        vs_http_head *h = userdata;
        if (token_is(t, tn, "close"))
                h->conn_close = true;
        else if (token_is(t, tn, "upgrade"))
                h->conn_upgrade = true;
        return 0;
}

/* We decode "chunked" only; "identity" is a no-op.  Anything else (gzip)
 * would need a decoder our daemon never makes us carry. */
static int transfer_token(const char *t, size_t tn, bool last, void *userdata) {
        vs_http_head *h = userdata;
        if (tn == 0 || token_is(t, tn, "identity"))
                return 0;
        if (token_is(t, tn, "chunked") && last) {
                h->chunked = true;
                return 0;
        }
        return -EBADMSG;
}

static int parse_status_line(const char *s, size_t n, vs_http_head *h, vs_error *err) {
        /* "HTTP/1.x SSS[ reason]" */
        if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9' || s[8] != ' ')
                return vs_err_msg(err, EBADMSG, "malformed HTTP status line");
        int status = 0;
        for (size_t i = 9; i < 12; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return vs_err_msg(err, EBADMSG, "malformed HTTP status code");
                status = status * 10 + (s[i] - '0');
        }
        if (status < 100 || status > 599)
                return vs_err_msg(err, EBADMSG, "HTTP status %d out of range", status);
        if (n > 12 && s[12] != ' ')
                return vs_err_msg(err, EBADMSG, "malformed HTTP status code");
        h->status = status;
        const char *reason = n > 13 ? s + 13 : "";
        size_t rn = n > 13 ? n - 13 : 0;
        if (rn >= sizeof(h->reason))
                rn = sizeof(h->reason) - 1;
        memcpy(h->reason, reason, rn);
        h->reason[rn] = '\0';
        return 0;
}

static int parse_content_length(const char *v, size_t n, vs_http_head *h, vs_error *err) {
        int64_t cl = 0;
        if (n == 0)
                return vs_err_msg(err, EBADMSG, "empty Content-Length");
        for (size_t i = 0; i < n; i++) {
                if (v[i] < '0' || v[i] > '9')
                        return vs_err_msg(err, EBADMSG, "malformed Content-Length");
                if (cl > (INT64_MAX - 9) / 10)
                        return vs_err_msg(err, EBADMSG, "the Content-Length is too large");
                cl = cl * 10 + (v[i] - '0');
        }
        /* Two different lengths would let a reader and a proxy disagree on
         * where the body ends: refuse rather than guess. */
        if (h->content_length >= 0 && h->content_length != cl)
                return vs_err_msg(err, EBADMSG, "conflicting Content-Length headers");
        h->content_length = cl;
        return 0;
}

static int parse_header(const char *s, size_t n, vs_http_head *h, vs_error *err) {
        if (n > 0 && (s[0] == ' ' || s[0] == '\t'))
                return vs_err_msg(err, EBADMSG, "folded HTTP header line");
        const char *colon = memchr(s, ':', n);
        if (!colon || colon == s)
                return vs_err_msg(err, EBADMSG, "malformed HTTP header line");
        size_t nn = (size_t) (colon - s);
        for (size_t i = 0; i < nn; i++)
                if (s[i] == ' ' || s[i] == '\t')
                        return vs_err_msg(err, EBADMSG, "malformed HTTP header name");
        const char *v = colon + 1;
        size_t vn = n - nn - 1;
        trim(&v, &vn);

        if (token_is(s, nn, "Content-Length"))
                return parse_content_length(v, vn, h, err);
        if (token_is(s, nn, "Transfer-Encoding")) {
                if (for_each_token(v, vn, transfer_token, h) < 0)
                        return vs_err_msg(err, EBADMSG, "unsupported Transfer-Encoding '%.*s'", (int) (vn > 40 ? 40 : vn), v);
                return 0;
        }
        if (token_is(s, nn, "Connection"))
                return for_each_token(v, vn, connection_token, h);
        if (token_is(s, nn, "Upgrade")) {
                size_t un = vn < sizeof(h->upgrade) - 1 ? vn : sizeof(h->upgrade) - 1;
                memcpy(h->upgrade, v, un);
                h->upgrade[un] = '\0';
        }
        return 0;
}

int vs_http_parse_head(const char *buf, size_t len, vs_http_head *ret, vs_error *err) {
        vs_http_head h = { .content_length = -1 };
        size_t pos = 0, end;
        unsigned nheaders = 0;

        /* Refuse a peer that is not speaking HTTP at all as early as possible,
         * instead of waiting for a line end that may never come. */
        if (len > 0 && memcmp(buf, "HTTP/", len < 5 ? len : 5) != 0)
                return vs_err_msg(err, EBADMSG, "malformed HTTP status line");

        for (;;) {
                ssize_t nl = line_end(buf, len, pos, &end);
                if (nl < 0) {
                        if (len > VS_HTTP_HEAD_MAX)
                                return vs_err_msg(err, E2BIG, "HTTP response head larger than %d bytes", VS_HTTP_HEAD_MAX);
                        return 0;
                }
                if ((size_t) nl + 1 > VS_HTTP_HEAD_MAX)
                        return vs_err_msg(err, E2BIG, "HTTP response head larger than %d bytes", VS_HTTP_HEAD_MAX);
                if (line_has_ctl(buf + pos, end - pos))
                        return vs_err_msg(err, EBADMSG, "control character in HTTP response head");

                int r;
                if (pos == 0)
                        r = parse_status_line(buf, end, &h, err);
                else if (end == pos) {
                        h.len = (size_t) nl + 1;
                        *ret = h;
                        return 1;
                } else if (++nheaders > VS_HTTP_HEADERS_MAX)
                        return vs_err_msg(err, E2BIG, "more than %d HTTP headers", VS_HTTP_HEADERS_MAX);
                else
                        r = parse_header(buf + pos, end - pos, &h, err);
                if (r < 0)
                        return r;
                pos = (size_t) nl + 1;
        }
}

bool vs_http_has_body(const vs_http_head *h) {
        return h->status >= 200 && h->status != 204 && h->status != 304;
}

/* Walk a chunked body.  With out == NULL only check whether it is complete
 * and how long the decoded body is; with out, also copy the data there. */
static int chunked_scan(const char *buf, size_t len, bool eof, size_t max, char *out, size_t *ret_len,
                        vs_error *err) {
        size_t pos = 0, total = 0, end;

        for (;;) {
                ssize_t nl = line_end(buf, len, pos, &end);
                if (nl < 0) {
                        if (len - pos > CHUNK_LINE_MAX)
                                return vs_err_msg(err, EBADMSG, "malformed chunk size line");
                        goto more;
                }
                uint64_t size = 0;
                size_t i = pos, digits = 0;
                for (; i < end; i++, digits++) {
                        char c = buf[i];
                        int d = c >= '0' && c <= '9'   ? c - '0'
                                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                       : -1;
                        if (d < 0)
                                break;
                        if (size > max || size > (UINT64_MAX >> 4))
                                return vs_err_msg(err, EFBIG, "HTTP response body larger than %zu bytes", max);
                        size = size * 16 + (uint64_t) d;
                }
                /* After the digits only whitespace and a ";extension" may follow. */
                if (digits == 0 || (i < end && buf[i] != ';' && buf[i] != ' ' && buf[i] != '\t'))
                        return vs_err_msg(err, EBADMSG, "malformed chunk size line");
                pos = (size_t) nl + 1;

                if (size == 0) {
                        /* Trailer fields up to the empty line; we ignore them. */
                        for (;;) {
                                nl = line_end(buf, len, pos, &end);
                                if (nl < 0) {
                                        if (len - pos > VS_HTTP_HEAD_MAX)
                                                return vs_err_msg(err, E2BIG, "HTTP trailer too large");
                                        goto more;
                                }
                                bool empty = end == pos;
                                pos = (size_t) nl + 1;
                                if (empty) {
                                        *ret_len = total;
                                        return 1;
                                }
                        }
                }

                if (size > max - total)
                        return vs_err_msg(err, EFBIG, "HTTP response body larger than %zu bytes", max);
                if (len - pos < size + 1)
                        goto more;
                if (out)
                        memcpy(out + total, buf + pos, size);
                total += size;
                pos += size;
                /* The data is followed by CRLF (or a bare LF). */
                if (buf[pos] == '\r') {
                        if (len - pos < 2)
                                goto more;
                        pos++;
                }
                if (buf[pos] != '\n')
                        return vs_err_msg(err, EBADMSG, "malformed chunk: no line end after data");
                pos++;
        }

more:
        if (eof)
                return vs_err_msg(err, EBADMSG, "HTTP response truncated");
        return 0;
}

int vs_http_parse_body(const vs_http_head *h, const char *buf, size_t len, bool eof, size_t max,
                       char **ret_body, size_t *ret_len, vs_error *err) {
        size_t n;

        if (!vs_http_has_body(h))
                n = 0;
        else if (h->chunked) {
                int r = chunked_scan(buf, len, eof, max, NULL, &n, err);
                if (r <= 0)
                        return r;
                _cleanup_free_ char *out = malloc(n + 1);
                if (!out)
                        return vs_err(err, ENOMEM, "HTTP response body");
                r = chunked_scan(buf, len, eof, max, out, &n, err);
                if (r <= 0)
                        return r;
                out[n] = '\0';
                *ret_body = TAKE_PTR(out);
                *ret_len = n;
                return 1;
        } else if (h->content_length >= 0) {
                if ((uint64_t) h->content_length > max)
                        return vs_err_msg(err, EFBIG, "HTTP response body larger than %zu bytes", max);
                n = (size_t) h->content_length;
                if (len < n) {
                        if (eof)
                                return vs_err_msg(err, EBADMSG, "HTTP response truncated");
                        return 0;
                }
        } else {
                /* No framing: the body runs until the peer closes. */
                if (len > max)
                        return vs_err_msg(err, EFBIG, "HTTP response body larger than %zu bytes", max);
                if (!eof)
                        return 0;
                n = len;
        }

        char *out = malloc(n + 1);
        if (!out)
                return vs_err(err, ENOMEM, "HTTP response body");
        if (n > 0)
                memcpy(out, buf, n);
        out[n] = '\0';
        *ret_body = out;
        *ret_len = n;
        return 1;
}

enum {
        CH_SIZE,        /* hex digits of a chunk size */
        CH_EXT,         /* after the digits: extension, until the line end */
        CH_DATA,
        CH_DATA_END,    /* CRLF (or LF) after the data */
        CH_DATA_END_LF,
        CH_TRAILER,     /* start of a trailer line; an empty one ends the body */
        CH_TRAILER_CR,
        CH_TRAILER_LINE,
        CH_DONE,
        CH_FAILED,
};

static int chunks_fail(vs_http_chunks *c, vs_error *err, const char *why) {
        c->state = CH_FAILED;
        return vs_err_msg(err, EBADMSG, "malformed chunked body: %s", why);
}

/* The size line has ended. */
static int chunk_size_done(vs_http_chunks *c, vs_error *err) {
        if (!c->digits)
                return chunks_fail(c, err, "chunk size missing");
        c->state = c->left == 0 ? CH_TRAILER : CH_DATA;
        c->line = 0;
        c->digits = false;
        return 0;
}

int vs_http_chunks_feed(vs_http_chunks *c, const char *in, size_t len, char *out, size_t *ret_out, size_t *ret_used,
                        vs_error *err) {
        size_t i = 0, n = 0;
        int r = 0;

        if (c->state == CH_FAILED)
                return vs_err_msg(err, EBADMSG, "malformed chunked body");
        while (i < len && c->state != CH_DONE && r == 0) {
                char ch = in[i];
                if (c->state == CH_DATA) {
                        size_t k = len - i;
                        if (k > c->left)
                                k = (size_t) c->left;
                        memcpy(out + n, in + i, k);
                        n += k;
                        i += k;
                        c->left -= k;
                        if (c->left == 0)
                                c->state = CH_DATA_END;
                        continue;
                }
                i++;
                switch (c->state) {
                case CH_SIZE: {
                        int d = ch >= '0' && ch <= '9'   ? ch - '0'
                                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                                         : -1;
                        if (d >= 0) {
                                if (c->left > (UINT64_MAX >> 8))
                                        r = chunks_fail(c, err, "chunk size too large");
                                c->left = c->left * 16 + (uint64_t) d;
                                c->digits = true;
                                if (++c->line > CHUNK_LINE_MAX)
                                        r = chunks_fail(c, err, "chunk size line too long");
                        } else if (ch == '\n')
                                r = chunk_size_done(c, err);
                        else if ((ch == ';' || ch == ' ' || ch == '\t' || ch == '\r') && c->digits)
                                c->state = CH_EXT;
                        else
                                r = chunks_fail(c, err, "bad chunk size");
                        break;
                }
                case CH_EXT:
                        if (ch == '\n')
                                r = chunk_size_done(c, err);
                        else if (++c->line > CHUNK_LINE_MAX)
                                r = chunks_fail(c, err, "chunk size line too long");
                        break;
                case CH_DATA_END:
                        if (ch == '\r')
                                c->state = CH_DATA_END_LF;
                        else if (ch == '\n')
                                c->state = CH_SIZE;
                        else
                                r = chunks_fail(c, err, "no line end after chunk data");
                        break;
                case CH_DATA_END_LF:
                        if (ch == '\n')
                                c->state = CH_SIZE;
                        else
                                r = chunks_fail(c, err, "no line end after chunk data");
                        break;
                case CH_TRAILER:
                        if (ch == '\n')
                                c->state = CH_DONE;
                        else if (ch == '\r')
                                c->state = CH_TRAILER_CR;
                        else {
                                c->state = CH_TRAILER_LINE;
                                c->line = 1;
                        }
                        break;
                case CH_TRAILER_CR:
                        if (ch == '\n')
                                c->state = CH_DONE;
                        else
                                r = chunks_fail(c, err, "bad trailer");
                        break;
                case CH_TRAILER_LINE:
                        if (ch == '\n')
                                c->state = CH_TRAILER;
                        else if (++c->line > VS_HTTP_HEAD_MAX)
                                r = chunks_fail(c, err, "trailer too large");
                        break;
                }
        }
        *ret_out = n;
        if (r < 0)
                return r;
        if (c->state == CH_DONE) {
                *ret_used = i;
                return 1;
        }
        return 0;
}

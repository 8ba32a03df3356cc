/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsctl/http.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/proto.h"
#include "base/util.h"

/* --timeout: how long vsctl waits for vsd to accept, take or answer a
 * request; 0 waits for ever. */
static unsigned timeout_s = HTTP_TIMEOUT_DEFAULT;

/* While a request that may wait long (a stop) is under way: the socket on
 * which to ask whether vsd is still alive when the answer takes longer. */
static const char *waiting_on;

void http_set_timeout(unsigned seconds) {
        timeout_s = seconds;
}

static void set_timeouts(int fd, unsigned seconds) {
        /* the kernel bounds every recv() and send() on fd, and connect()
         * on a Unix socket whose backlog is full */
        struct timeval tv = { .tv_sec = (time_t) seconds };
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

void http_wait_on(const char *socket_path) {
        waiting_on = timeout_s ? socket_path : NULL;
}

void http_no_timeout(int fd) {
        set_timeouts(fd, 0);
}

static int timed_out(vs_error *err) {
        return vs_err_msg(err, ETIMEDOUT, "vsd did not answer within %u s", timeout_s);
}

static int ping(const char *socket_path);

static const char *connect_hint(int e) {
        switch (e) {
        case ENOENT:
        case ECONNREFUSED:
                return " (is vsd running?)";
        case EACCES:
        case EPERM:
                return " (are you root or in the vsd group?)";
        default:
                return "";
        }
}

#define CONNECT_PREFIX "cannot connect to "

bool http_is_connect_error(const vs_error *err) {
        return strncmp(err->msg, CONNECT_PREFIX, strlen(CONNECT_PREFIX)) == 0 || err->code == ETIMEDOUT;
}

int http_connect(const char *socket_path, vs_error *err) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(socket_path) >= sizeof(sa.sun_path))
                return vs_err(err, ENAMETOOLONG, CONNECT_PREFIX "%s", socket_path);
        strcpy(sa.sun_path, socket_path);

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return vs_err(err, errno, CONNECT_PREFIX "%s: cannot create socket", socket_path);
        if (timeout_s)
                set_timeouts(fd, timeout_s);
        for (;;) {
                if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                        break;
                if (errno == EINTR)
                        continue;
                /* a listener that does not accept: its backlog is full */
                if (errno == EAGAIN || errno == EINPROGRESS)
                        return timed_out(err);
                int e = errno;
                return vs_err_msg(err, e, CONNECT_PREFIX "%s: %s%s", socket_path, strerror(e), connect_hint(e));
        }
        return TAKE_FD(fd);
}

static int send_all(int fd, const char *p, size_t n, vs_error *err) {
        while (n > 0) {
                /* MSG_NOSIGNAL: a daemon that hangs up early must give an
                 * error message, not a silent death by SIGPIPE. */
                ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return timed_out(err);
                        return vs_err(err, errno, "cannot send request to vsd");
                }
                p += w;
                n -= (size_t) w;
        }
        return 0;
}

int http_send_request(int fd, const char *method, const char *path, const char *extra_headers,
                      const char *body, size_t body_len, vs_error *err) {
        _cleanup_free_ char *head = NULL;
        int n = asprintf(&head,
                         "%s %s HTTP/1.1\r\n"
                         "Host: vsd\r\n"
                         "%s"
                         "Content-Length: %zu\r\n"
                         "%s"
                         "\r\n",
                         method, path, body_len > 0 ? "Content-Type: application/json\r\n" : "", body_len,
                         extra_headers && *extra_headers ? extra_headers : "Connection: close\r\n");
        if (n < 0)
                return vs_err(err, ENOMEM, "cannot build request");
        /* One send for small requests: fewer wakeups of the daemon. */
        if (body_len > 0 && body_len < 16384) {
                _cleanup_free_ char *all = malloc((size_t) n + body_len);
                if (!all)
                        return vs_err(err, ENOMEM, "cannot build request");
                memcpy(all, head, (size_t) n);
                memcpy(all + n, body, body_len);
                return send_all(fd, all, (size_t) n + body_len, err);
        }
        int r = send_all(fd, head, (size_t) n, err);
        if (r < 0)
                return r;
        return send_all(fd, body, body_len, err);
}

/* recv() that retries on EINTR and reads a reset connection as its end: the
 * answer before the reset is still complete or reported as truncated. */
static ssize_t recv_some(int fd, void *buf, size_t n, int flags) {
        for (;;) {
                ssize_t r = recv(fd, buf, n, flags);
                if (r >= 0)
                        return r;
                if (errno == EINTR)
                        continue;
                if (errno == ECONNRESET)
                        return 0;
                return -errno;
        }
}

int http_read_head(int fd, vs_http_head *ret, vs_error *err) {
        char buf[VS_HTTP_HEAD_MAX + 1];
        size_t have = 0;

        /* Peek at what has arrived and take only the bytes that belong to the
         * head: byte-exact without a syscall per byte. */
        for (;;) {
                if (have >= sizeof(buf))
                        return vs_err_msg(err, E2BIG, "HTTP response head from vsd too large");
                ssize_t n = recv_some(fd, buf + have, sizeof(buf) - have, MSG_PEEK);
                if (n == -EAGAIN && waiting_on && ping(waiting_on) == 0)
                        continue; /* alive, and still at it */
                if (n == -EAGAIN)
                        return timed_out(err);
                if (n < 0)
                        return vs_err(err, (int) -n, "cannot read from vsd");
                if (n == 0)
                        return vs_err_msg(err, ECONNRESET, "vsd closed the connection without an answer");
                vs_http_head h;
                int r = vs_http_parse_head(buf, have + (size_t) n, &h, err);
                if (r < 0)
                        return vs_err_prefix(err, "invalid answer from vsd");
                size_t take = r > 0 ? h.len - have : (size_t) n;
                /* The peeked bytes are queued already: this read cannot block
                 * and returns all of them. */
                while (take > 0) {
                        ssize_t m = recv_some(fd, buf + have, take, 0);
                        if (m <= 0)
                                return vs_err(err, m < 0 ? (int) -m : ECONNRESET, "cannot read from vsd");
                        have += (size_t) m;
                        take -= (size_t) m;
                }
                if (r > 0) {
                        *ret = h;
                        return 0;
                }
        }
}

/* A growing receive buffer. */
struct reader {
        char *buf;
        size_t len, cap;
};

static int reader_fill(int fd, struct reader *rd, bool *ret_eof, vs_error *err) {
        if (rd->cap - rd->len < 4096) {
                size_t cap = rd->cap ? rd->cap * 2 : 8192;
                if (cap > HTTP_BODY_MAX + VS_HTTP_HEAD_MAX + 65536)
                        return vs_err_msg(err, EFBIG, "answer from vsd too large");
                char *p = realloc(rd->buf, cap);
                if (!p)
                        return vs_err(err, ENOMEM, "cannot read from vsd");
                rd->buf = p;
                rd->cap = cap;
        }
        ssize_t n;
        while ((n = recv_some(fd, rd->buf + rd->len, rd->cap - rd->len, 0)) == -EAGAIN && waiting_on &&
               ping(waiting_on) == 0)
                ; /* alive, and still at it */
        if (n == -EAGAIN)
                return timed_out(err);
        if (n < 0)
                return vs_err(err, (int) -n, "cannot read from vsd");
        rd->len += (size_t) n;
        *ret_eof = n == 0;
        return 0;
}

static int read_rest(int fd, struct reader *rd, bool head_known, vs_http_head *head, char **ret_body,
                     size_t *ret_len, vs_error *err) {
        bool eof = false;

        for (;;) {
                if (!head_known && rd->len > 0) {
                        int r = vs_http_parse_head(rd->buf, rd->len, head, err);
                        if (r < 0)
                                return vs_err_prefix(err, "invalid answer from vsd");
                        head_known = r > 0;
                }
                if (head_known) {
                        int r = vs_http_parse_body(head, rd->buf + head->len, rd->len - head->len, eof,
                                                   HTTP_BODY_MAX, ret_body, ret_len, err);
                        if (r < 0)
                                return vs_err_prefix(err, "invalid answer from vsd");
                        if (r > 0)
                                return 0;
                } else if (eof)
                        return vs_err_msg(err, ECONNRESET, rd->len ? "vsd closed the connection in the middle of its answer"
                                                                   : "vsd closed the connection without an answer");
                if (eof)
                        /* parse_body() with eof either completes or fails. */
                        return vs_err_msg(err, EBADMSG, "invalid answer from vsd");
                int r = reader_fill(fd, rd, &eof, err);
                if (r < 0)
                        return r;
        }
}

int http_read_response(int fd, vs_http_head *ret_head, char **ret_body, size_t *ret_len, vs_error *err) {
        struct reader rd = {};
        vs_http_head h = {};
        int r = read_rest(fd, &rd, false, &h, ret_body, ret_len, err);
        free(rd.buf);
        if (r == 0)
                *ret_head = h;
        return r;
}

int http_read_body(int fd, const vs_http_head *head, char **ret_body, size_t *ret_len, vs_error *err) {
        struct reader rd = {};
        /* The body parser looks for it after head->len bytes; this buffer
         * starts with the body itself. */
        vs_http_head h = *head;
        h.len = 0;
        int r = read_rest(fd, &rd, true, &h, ret_body, ret_len, err);
        free(rd.buf);
        return r;
}

int http_error_from_body(int status, const char *reason, const char *body, size_t len, vs_error *err) {
        json_t *j = len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
        json_t *msg = json_object_get(j, "error");
        int code = (int) json_integer_value(json_object_get(j, "code"));
        if (code <= 0)
                code = status == 404 ? ENOENT : status == 409 ? EEXIST : status == 403 ? EACCES : EIO;
        int r;
        if (json_is_string(msg) && json_string_length(msg) > 0)
                r = vs_err_msg(err, code, "%s", json_string_value(msg));
        else
                r = vs_err_msg(err, code, "vsd answered %d %s", status, reason);
        json_decref(j);
        return r;
}

static int dump_body(json_t *body, char **ret, size_t *ret_len, vs_error *err) {
        *ret = NULL;
        *ret_len = 0;
        if (!body)
                return 0;
        *ret = json_dumps(body, JSON_COMPACT);
        if (!*ret)
                return vs_err(err, ENOMEM, "cannot build request");
        *ret_len = strlen(*ret);
        return 0;
}

/* Is vsd alive?  Its version, asked on a connection of its own within the
 * timeout. */
static int ping(const char *socket_path) {
        const char *was = waiting_on;
        _cleanup_free_ char *resp = NULL;
        size_t len;
        vs_http_head h;
        vs_error err = { 0 };
        waiting_on = NULL;
        _cleanup_close_ int fd = http_connect(socket_path, &err);
        int r = fd < 0 ? fd : http_send_request(fd, "GET", VS_API_PREFIX "/version", NULL, NULL, 0, &err);
        if (r >= 0)
                r = http_read_response(fd, &h, &resp, &len, &err);
        waiting_on = was;
        return r < 0 ? r : h.status == 200 ? 0 : -EIO;
}

int http_call(const char *socket_path, const char *method, const char *path, json_t *body, bool may_wait,
              json_t **ret_json, vs_error *err) {
        _cleanup_free_ char *req = NULL, *resp = NULL;
        size_t req_len, resp_len;
        vs_http_head h;

        int r = dump_body(body, &req, &req_len, err);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = http_connect(socket_path, err);
        if (fd < 0)
                return fd;
        r = http_send_request(fd, method, path, NULL, req, req_len, err);
        if (r < 0 && err->code != EPIPE && err->code != ECONNRESET)
                return r;
        /* A daemon that refused the connection (too many from this user)
         * answered and hung up before reading: its answer says why. */
        vs_error send_err = *err;
        if (may_wait)
                http_wait_on(socket_path);
        int rr = http_read_response(fd, &h, &resp, &resp_len, err);
        http_wait_on(NULL);
        if (rr < 0 && r < 0) {
                *err = send_err;
                return r;
        }
        if (rr < 0)
                return rr;
        if (h.status < 200 || h.status > 299)
                return http_error_from_body(h.status, h.reason, resp, resp_len, err);
        if (!ret_json)
                return 0;
        json_t *j = NULL;
        if (resp_len > 0) {
                json_error_t jerr;
                j = json_loadb(resp, resp_len, 0, &jerr);
                if (!j)
                        return vs_err_msg(err, EBADMSG, "invalid JSON from vsd: %s", jerr.text);
        }
        *ret_json = j;
        return 0;
}

int http_upgrade(const char *socket_path, const char *method, const char *path, json_t *body, const char *token,
                 int *ret_fd, vs_error *err) {
        _cleanup_free_ char *req = NULL, *hdrs = NULL;
        size_t req_len;
        vs_http_head h;

        int r = dump_body(body, &req, &req_len, err);
        if (r < 0)
                return r;
        if (asprintf(&hdrs, "Connection: Upgrade\r\nUpgrade: %s\r\n", token) < 0)
                return vs_err(err, ENOMEM, "cannot build request");
        _cleanup_close_ int fd = http_connect(socket_path, err);
        if (fd < 0)
                return fd;
        r = http_send_request(fd, method, path, hdrs, req, req_len, err);
        if (r < 0)
                return r;
        r = http_read_head(fd, &h, err);
        if (r < 0)
                return r;
        if (h.status != 101) {
                _cleanup_free_ char *resp = NULL;
                size_t resp_len = 0;
                r = http_read_body(fd, &h, &resp, &resp_len, err);
                if (r < 0)
                        return r;
                if (h.status >= 200 && h.status <= 299)
                        return vs_err_msg(err, EPROTO, "vsd did not switch to %s (HTTP %d)", token, h.status);
                return http_error_from_body(h.status, h.reason, resp, resp_len, err);
        }
        /* a session lasts as long as its user wants */
        http_no_timeout(fd);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int http_pass_fd(const char *socket_path, const char *path, int fd, json_t **ret, vs_error *err) {
        int sock = -EBADF;
        int r = http_upgrade(socket_path, "POST", path, NULL, VS_UPGRADE_FD, &sock, err);
        if (r < 0)
                return r;
        _cleanup_close_ int s = sock;
        char byte = VS_FD_BYTE;
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } c = { 0 };
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf) };
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(h), &fd, sizeof(int));
        if (sendmsg(s, &m, MSG_NOSIGNAL) != 1)
                return vs_err(err, errno, "pass the file to vsd");
        /* its answer: one line, then the end */
        char line[8192];
        size_t got = 0;
        /* it comes at once: the daemon only starts the operation */
        set_timeouts(s, timeout_s);
        for (;;) {
                ssize_t n = read(s, line + got, sizeof(line) - 1 - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return vs_err(err, errno, "read vsd's answer");
                if (n == 0 || memchr(line + got, '\n', (size_t) n) || got + (size_t) n >= sizeof(line) - 1) {
                        got += (size_t) (n > 0 ? n : 0);
                        break;
                }
                got += (size_t) n;
        }
        line[got] = '\0';
        json_error_t jerr;
        json_t *j = json_loads(line, JSON_DISABLE_EOF_CHECK, &jerr);
        if (!json_is_object(j)) {
                json_decref(j);
                return vs_err_msg(err, EBADMSG, "vsd's answer is not JSON: %.80s", got ? line : "(nothing)");
        }
        json_t *e = json_object_get(j, "error");
        if (e) {
                json_t *code = json_object_get(j, "code");
                vs_err_msg(err, json_is_integer(code) ? (int) json_integer_value(code) : EIO, "%s", json_string_value(e));
                json_decref(j);
                return -err->code;
        }
        *ret = j;
        return 0;
}

char *http_escape_segment(const char *s) {
        /* Dots too: a name ".." must not read as a step up the path. */
        static const char hex[] = "0123456789ABCDEF";
        char *out = malloc(strlen(s) * 3 + 1), *p = out;
        if (!out)
                return NULL;
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_')
                        *p++ = (char) c;
                else {
                        *p++ = '%';
                        *p++ = hex[c >> 4];
                        *p++ = hex[c & 15];
                }
        }
        *p = '\0';
        return out;
}

/* ---- newline-delimited streams ----------------------------------------- */

/* Longest line accepted: far above what the daemon writes. */
#define LINE_MAX_BYTES (1u << 20)

struct lines {
        int (*line)(void *userdata, const char *s, size_t n);
        void *userdata;
        char *buf;
        size_t len, cap;
};

/* Append decoded body bytes; pass on every complete line. */
static int lines_add(struct lines *l, const char *data, size_t n, vs_error *err) {
        while (n > 0) {
                const char *nl = memchr(data, '\n', n);
                size_t take = nl ? (size_t) (nl - data) : n;
                if (l->len + take > LINE_MAX_BYTES)
                        return vs_err_msg(err, EFBIG, "a line from vsd is longer than %u bytes", LINE_MAX_BYTES);
                if (l->len + take > l->cap) {
                        size_t cap = l->len + take + 4096;
                        char *p = realloc(l->buf, cap);
                        if (!p)
                                return vs_err(err, ENOMEM, "cannot read from vsd");
                        l->buf = p;
                        l->cap = cap;
                }
                memcpy(l->buf + l->len, data, take);
                l->len += take;
                if (!nl)
                        break;
                int r = l->line(l->userdata, l->buf, l->len);
                if (r < 0)
                        return vs_err(err, -r, "cannot write output");
                l->len = 0;
                data += take + 1;
                n -= take + 1;
        }
        return 0;
}

int http_read_lines(int fd, const vs_http_head *h, const char *what, int (*line)(void *userdata, const char *s, size_t n),
                    void *userdata, vs_error *err) {
        struct lines l = { .line = line, .userdata = userdata };
        vs_http_chunks ch = { 0 };
        char in[65536], out[65536];
        uint64_t left = h->content_length >= 0 ? (uint64_t) h->content_length : UINT64_MAX;
        int r = 0;

        for (;;) {
                ssize_t n = recv(fd, in, sizeof(in), 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN && waiting_on && ping(waiting_on) == 0)
                        continue; /* quiet, but alive */
                if (n < 0 && errno == EAGAIN) {
                        r = timed_out(err);
                        break;
                }
                if (n < 0 && errno != ECONNRESET) {
                        r = vs_err(err, errno, "cannot read %s from vsd", what);
                        break;
                }
                if (n <= 0) {
                        /* a chunked stream ends with its last chunk, never by
                         * a bare close: that is vsd going away mid-stream */
                        if (h->chunked || (h->content_length >= 0 && left > 0))
                                r = vs_err_msg(err, ECONNRESET, "vsd closed %s", what);
                        break;
                }
                if (h->chunked) {
                        size_t got = 0, used = 0;
                        int d = vs_http_chunks_feed(&ch, in, (size_t) n, out, &got, &used, err);
                        if (d < 0) {
                                r = vs_err_prefix(err, "invalid answer from vsd");
                                break;
                        }
                        if ((r = lines_add(&l, out, got, err)) < 0 || d > 0)
                                break;
                } else {
                        size_t take = (uint64_t) n < left ? (size_t) n : (size_t) left;
                        left -= take;
                        if ((r = lines_add(&l, in, take, err)) < 0 || left == 0)
                                break;
                }
        }
        /* a last line without its newline still counts */
        if (r == 0 && l.len > 0) {
                int e = line(userdata, l.buf, l.len);
                r = e < 0 ? vs_err(err, -e, "cannot write output") : 0;
        }
        free(l.buf);
        return r;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vsctl's side of the control API: the response reader (base/http_reader.c)
 * on canned bytes, and the transport (vsctl/http.c, compiled in here since
 * vsctl is not an archive) against a fake daemon on a temporary socket.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/http_reader.h"
#include "vsctl/http.c"
#include "tests/unit/check.h"

#define MAX (1u << 20)

/* Parse a whole response from buf as if it had arrived in one read. */
static int parse_all(const char *buf, size_t len, bool eof, vs_http_head *h, char **body, size_t *blen,
                     vs_error *err) {
        int r = vs_http_parse_head(buf, len, h, err);
        if (r <= 0)
                return r;
        return vs_http_parse_body(h, buf + h->len, len - h->len, eof, MAX, body, blen, err);
}

static void normal(void) {
        const char *resp = "HTTP/1.1 200 OK\r\n"
                           "Content-Type: application/json\r\n"
                           "Content-Length: 13\r\n"
                           "Connection: close\r\n"
                           "\r\n"
                           "{\"name\":\"a\"}\n";
        vs_http_head h;
        _cleanup_free_ char *body = NULL;
        size_t blen = 0;
        vs_error err = {};
        int r = parse_all(resp, strlen(resp), false, &h, &body, &blen, &err);
        CHECK("normal: complete", r == 1, "r=%d %s", r, err.msg);
        CHECK("normal: status", h.status == 200 && streq(h.reason, "OK"), "%d '%s'", h.status, h.reason);
        CHECK("normal: framing", h.content_length == 13 && !h.chunked && h.conn_close, "cl=%lld",
              (long long) h.content_length);
        CHECK("normal: body", r == 1 && blen == 13 && memcmp(body, "{\"name\":\"a\"}\n", 13) == 0 && body[13] == '\0',
              "len %zu", blen);

        /* The daemon's errors: a non-2xx status with a JSON body. */
        const char *e = "HTTP/1.1 404 Not Found\r\nContent-Length: 41\r\n\r\n{\"error\":\"no such instance 'x'\",\"code\":2}";
        _cleanup_free_ char *ebody = NULL;
        r = parse_all(e, strlen(e), false, &h, &ebody, &blen, &err);
        CHECK("error response parses", r == 1 && h.status == 404 && blen == 41, "r=%d status %d len %zu", r, h.status,
              blen);
        vs_error m = {};
        http_error_from_body(h.status, h.reason, ebody, blen, &m);
        CHECK("error text taken from JSON", streq(m.msg, "no such instance 'x'") && m.code == 2, "'%s' %d", m.msg, m.code);
        http_error_from_body(500, "Internal Server Error", "<html>", 6, &m);
        CHECK("error without JSON names the status", streq(m.msg, "vsd answered 500 Internal Server Error"), "'%s'",
              m.msg);

        /* Bare LF line ends, no reason phrase, header case. */
        const char *lf = "HTTP/1.0 201\ncontent-length: 2\n\nok";
        _cleanup_free_ char *b2 = NULL;
        r = parse_all(lf, strlen(lf), false, &h, &b2, &blen, &err);
        CHECK("bare LF and no reason", r == 1 && h.status == 201 && h.reason[0] == '\0' && blen == 2, "r=%d %s", r, err.msg);

        /* 101 with the upgrade token; no body follows. */
        const char *up = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: vsd-exec\r\n\r\nP";
        r = vs_http_parse_head(up, strlen(up), &h, &err);
        CHECK("101 head", r == 1 && h.status == 101 && h.conn_upgrade && streq(h.upgrade, "vsd-exec") &&
                                  h.len == strlen(up) - 1 && !vs_http_has_body(&h),
              "r=%d len %zu", r, h.len);
        const char *nc = "HTTP/1.1 204 No Content\r\n\r\n";
        _cleanup_free_ char *b3 = NULL;
        r = parse_all(nc, strlen(nc), false, &h, &b3, &blen, &err);
        CHECK("204 has no body", r == 1 && blen == 0, "r=%d", r);
}

/* Every way of cutting the response in two (and byte by byte) must give the
 * same result as one read, and "need more" before the end. */
static void split_reads(void) {
        const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\nhello";
        size_t n = strlen(resp);
        bool ok = true;
        for (size_t cut = 0; cut < n && ok; cut++) {
                vs_http_head h;
                char *body = NULL;
                size_t blen;
                vs_error err = {};
                int r = parse_all(resp, cut, false, &h, &body, &blen, &err);
                if (r != 0) {
                        printf("# cut at %zu: r=%d %s\n", cut, r, err.msg);
                        ok = false;
                }
                free(body);
        }
        CHECK("split: incomplete at every cut", ok, "see above");

        vs_http_head h;
        _cleanup_free_ char *body = NULL;
        size_t blen;
        int r = parse_all(resp, n, false, &h, &body, &blen, NULL);
        CHECK("split: complete at the end", r == 1 && blen == 5 && streq(body, "hello"), "r=%d", r);

        /* The body cut short by the peer closing is an error, not a
         * shorter body. */
        vs_error err = {};
        char *b = NULL;
        r = parse_all(resp, n - 2, true, &h, &b, &blen, &err);
        CHECK("split: truncated at eof", r == -EBADMSG && strstr(err.msg, "truncated"), "r=%d '%s'", r, err.msg);
        free(b);
}

static void no_length(void) {
        const char *resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[1,2,3]";
        vs_http_head h;
        char *body = NULL;
        size_t blen;
        int r = parse_all(resp, strlen(resp), false, &h, &body, &blen, NULL);
        CHECK("no length: waits for the close", r == 0 && h.content_length == -1, "r=%d", r);
        r = parse_all(resp, strlen(resp), true, &h, &body, &blen, NULL);
        CHECK("no length: body runs to the close", r == 1 && blen == 7 && streq(body, "[1,2,3]"), "r=%d", r);
        free(body);

        char big[64];
        snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\n\r\n%s", "0123456789");
        vs_http_head h2;
        vs_error err = {};
        body = NULL;
        r = vs_http_parse_head(big, strlen(big), &h2, &err);
        r = vs_http_parse_body(&h2, big + h2.len, 10, false, 4, &body, &blen, &err);
        CHECK("no length: limit enforced", r == -EFBIG, "r=%d", r);
        free(body);
}

static void chunked(void) {
        const char *resp = "HTTP/1.1 200 OK\r\n"
                           "Transfer-Encoding: chunked\r\n"
                           "\r\n"
                           "5\r\nhello\r\n"
                           "1;ext=1\r\n,\r\n"
                           "A\r\n world! :)\r\n"
                           "0\r\n"
                           "X-Trailer: yes\r\n"
                           "\r\n";
        size_t n = strlen(resp);
        vs_http_head h;
        _cleanup_free_ char *body = NULL;
        size_t blen = 0;
        vs_error err = {};
        int r = parse_all(resp, n, false, &h, &body, &blen, &err);
        CHECK("chunked: decoded", r == 1 && h.chunked && blen == 16 && streq(body, "hello, world! :)"), "r=%d '%s' %s", r,
              body ? body : "", err.msg);

        bool ok = true;
        for (size_t cut = 0; cut < n && ok; cut++) {
                char *b = NULL;
                r = parse_all(resp, cut, false, &h, &b, &blen, &err);
                if (r != 0) {
                        printf("# chunked cut at %zu: r=%d %s\n", cut, r, err.msg);
                        ok = false;
                }
                free(b);
        }
        CHECK("chunked: incomplete at every cut", ok, "see above");

        char *b = NULL;
        r = parse_all(resp, n - 10, true, &h, &b, &blen, &err);
        CHECK("chunked: truncated at eof", r == -EBADMSG, "r=%d", r);
        free(b);

        static const char *const bad[] = {
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                b = NULL;
                vs_error e = {};
                r = parse_all(bad[i], strlen(bad[i]), false, &h, &b, &blen, &e);
                CHECK("chunked: malformed rejected", r < 0 && e.msg[0], "case %zu: r=%d", i, r);
                free(b);
        }

        /* The decoded size counts against the limit, not just the header. */
        const char *two = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
        r = vs_http_parse_head(two, strlen(two), &h, NULL);
        b = NULL;
        r = vs_http_parse_body(&h, two + h.len, strlen(two) - h.len, false, 5, &b, &blen, &err);
        CHECK("chunked: limit enforced", r == -EFBIG, "r=%d", r);
        free(b);
}

static void oversized(void) {
        size_t n = VS_HTTP_HEAD_MAX + 100;
        _cleanup_free_ char *buf = malloc(n + 1);
        memcpy(buf, "HTTP/1.1 200 OK\r\nX-Big: ", 24);
        memset(buf + 24, 'a', n - 24);
        buf[n] = '\0';
        vs_http_head h;
        vs_error err = {};
        int r = vs_http_parse_head(buf, n, &h, &err);
        CHECK("oversized: one endless header", r == -E2BIG && err.msg[0], "r=%d", r);
        r = vs_http_parse_head(buf, VS_HTTP_HEAD_MAX - 10, &h, &err);
        CHECK("oversized: below the limit waits", r == 0, "r=%d", r);

        /* A complete head, but too long. */
        memcpy(buf + n - 4, "\r\n\r\n", 4);
        r = vs_http_parse_head(buf, n, &h, &err);
        CHECK("oversized: complete but too long", r == -E2BIG, "r=%d", r);

        /* Too many small headers. */
        char many[8192];
        size_t len = (size_t) snprintf(many, sizeof(many), "HTTP/1.1 200 OK\r\n");
        for (int i = 0; i <= VS_HTTP_HEADERS_MAX; i++)
                len += (size_t) snprintf(many + len, sizeof(many) - len, "X-%d: y\r\n", i);
        len += (size_t) snprintf(many + len, sizeof(many) - len, "\r\n");
        r = vs_http_parse_head(many, len, &h, &err);
        CHECK("oversized: too many headers", r == -E2BIG, "r=%d", r);

        const char *huge = "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n";
        r = vs_http_parse_head(huge, strlen(huge), &h, &err);
        char *b = NULL;
        size_t blen;
        r = vs_http_parse_body(&h, "", 0, false, MAX, &b, &blen, &err);
        CHECK("oversized: Content-Length above the limit", r == -EFBIG, "r=%d", r);
        free(b);
}

static void malformed(void) {
        static const char *const bad[] = {
                "garbage\r\n\r\n",
                "HTTX/1.1 200 OK\r\n\r\n",
                "HTTP/2 200 OK\r\n\r\n",
                "HTTP/1.1 abc OK\r\n\r\n",
                "HTTP/1.1 2000 OK\r\n\r\n",
                "HTTP/1.1 20 OK\r\n\r\n",
                "HTTP/1.1 099 Odd\r\n\r\n",
                "HTTP/1.1  200 OK\r\n\r\n",
                "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
                "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
                "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
                "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
                "HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                vs_http_head h;
                vs_error err = {};
                int r = vs_http_parse_head(bad[i], strlen(bad[i]), &h, &err);
                CHECK("malformed rejected", r == -EBADMSG && err.msg[0], "case %zu '%.20s': r=%d", i, bad[i], r);
        }
        /* A peer that is not HTTP is refused before its first line ends. */
        vs_http_head h;
        int r = vs_http_parse_head("SSH-2.0", 7, &h, NULL);
        CHECK("malformed: refused early", r == -EBADMSG, "r=%d", r);
        r = vs_http_parse_head("HTT", 3, &h, NULL);
        CHECK("malformed: a prefix of HTTP waits", r == 0, "r=%d", r);
        const char *same = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok";
        r = vs_http_parse_head(same, strlen(same), &h, NULL);
        CHECK("equal repeated Content-Length accepted", r == 1 && h.content_length == 2, "r=%d", r);
}

/* Random bytes and mutations of valid responses: no crash, no hang, and an
 * answer in {-errno, 0, 1}.  Run under the sanitizers by check-san. */
static void fuzz(void) {
        static const char *const seeds[] = {
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: vsd-exec\r\nConnection: Upgrade\r\n\r\n",
        };
        unsigned seed = 12345;
        bool ok = true;
        for (int iter = 0; iter < 20000 && ok; iter++) {
                char buf[256];
                const char *s = seeds[iter % ELEMENTSOF(seeds)];
                size_t n = strlen(s);
                memcpy(buf, s, n);
                for (int k = 0; k < 1 + iter % 4; k++) {
                        seed = seed * 1103515245 + 12345;
                        size_t pos = (seed >> 8) % n;
                        seed = seed * 1103515245 + 12345;
                        buf[pos] = (char) (seed >> 16);
                }
                seed = seed * 1103515245 + 12345;
                n = (seed >> 8) % (n + 1);
                vs_http_head h;
                char *body = NULL;
                size_t blen;
                int r = parse_all(buf, n, iter & 1, &h, &body, &blen, NULL);
                if (r > 1 || (r == 1 && (!body || blen > n)))
                        ok = false;
                free(body);
        }
        CHECK("fuzz: mutated responses handled", ok, "bad answer");
}

/* A fake daemon: accepts one connection on path, passes the request it read
 * back through a pipe, then writes the given pieces one by one, and, when
 * pass_fd, sends one byte 'P' with an fd right after the first piece. */
struct fake {
        pid_t pid;
        int req_pipe;
};

static ssize_t read_request(int fd, char *buf, size_t cap) {
        size_t len = 0;
        for (;;) {
                ssize_t n = read(fd, buf + len, cap - 1 - len);
                if (n <= 0)
                        break;
                len += (size_t) n;
                buf[len] = '\0';
                char *end = strstr(buf, "\r\n\r\n");
                if (!end)
                        continue;
                const char *cl = strcasestr(buf, "Content-Length: ");
                size_t want = cl ? strtoul(cl + 16, NULL, 10) : 0;
                if (len >= (size_t) (end + 4 - buf) + want)
                        break;
        }
        return (ssize_t) len;
}

static struct fake fake_start(const char *path, const char *const *pieces, bool pass_fd) {
        struct fake f = { .pid = -1, .req_pipe = -1 };
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        unlink(path);
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0)
                return f;
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return f;
        f.pid = fork();
        if (f.pid == 0) {
                int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                char req[8192];
                ssize_t n = read_request(c, req, sizeof(req));
                if (n > 0 && write(p[1], req, (size_t) n) < 0)
                        _exit(1);
                close(p[1]);
                for (size_t i = 0; pieces[i]; i++) {
                        if (write(c, pieces[i], strlen(pieces[i])) < 0)
                                _exit(1);
                        if (i == 0 && pass_fd) {
                                int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                                char byte = 'P';
                                struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
                                union {
                                        struct cmsghdr a;
                                        char b[CMSG_SPACE(sizeof(int))];
                                } u = {};
                                struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
                                                      .msg_controllen = sizeof(u.b) };
                                struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
                                cm->cmsg_level = SOL_SOCKET;
                                cm->cmsg_type = SCM_RIGHTS;
                                cm->cmsg_len = CMSG_LEN(sizeof(int));
                                memcpy(CMSG_DATA(cm), &fd, sizeof(int));
                                if (sendmsg(c, &msg, 0) != 1)
                                        _exit(1);
                        }
                        usleep(2000); /* make the client see separate reads */
                }
                _exit(0);
        }
        close(lfd);
        close(p[1]);
        f.req_pipe = p[0];
        return f;
}

static void fake_request(struct fake *f, char *buf, size_t cap) {
        size_t len = 0;
        ssize_t n;
        while (len + 1 < cap && (n = read(f->req_pipe, buf + len, cap - 1 - len)) > 0)
                len += (size_t) n;
        buf[len] = '\0';
        close(f->req_pipe);
        int st;
        waitpid(f->pid, &st, 0);
}

static void transport(void) {
        char dir[] = "/tmp/vsd-test-http-XXXXXX";
        if (!mkdtemp(dir)) {
                CHECK("transport: temp dir", false, "%s", strerror(errno));
                return;
        }
        char path[128], req[8192];
        snprintf(path, sizeof(path), "%s/vsd.sock", dir);

        /* A call: the request as written, the JSON answer as parsed. */
        const char *const ok_pieces[] = { "HTTP/1.1 201 Created\r\nContent-Len", "gth: 13\r\n\r\n{\"name\":", "\"a\"}\n", NULL };
        struct fake f = fake_start(path, ok_pieces, false);
        json_t *body = json_pack("{s:s, s:s}", "name", "a", "memory", "12Q");
        json_t *ans = NULL;
        vs_error err = {};
        int r = http_call(path, "POST", "/v1/instances", body, false, &ans, &err);
        fake_request(&f, req, sizeof(req));
        CHECK("transport: call succeeds", r == 0 && streq(json_string_value(json_object_get(ans, "name")), "a"),
              "r=%d %s", r, err.msg);
        CHECK("transport: request line and headers",
              strncmp(req, "POST /v1/instances HTTP/1.1\r\nHost: vsd\r\n", 40) == 0 &&
                      strstr(req, "Content-Type: application/json\r\n") && strstr(req, "Connection: close\r\n"),
              "got '%.200s'", req);
        const char *rb = strstr(req, "\r\n\r\n");
        CHECK("transport: body sent unchanged, with its length",
              rb && streq(rb + 4, "{\"name\":\"a\",\"memory\":\"12Q\"}") && strstr(req, "Content-Length: 27\r\n"),
              "got '%s'", rb ? rb + 4 : "");
        json_decref(body);
        json_decref(ans);

        /* The daemon's refusal becomes its message. */
        const char *const no_pieces[] = { "HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\n\r\n",
                                          "2d\r\n{\"error\":\"instance 'a' is running\",\"code\":16}\r\n", "0\r\n\r\n",
                                          NULL };
        f = fake_start(path, no_pieces, false);
        err = (vs_error) {};
        ans = NULL;
        r = http_call(path, "DELETE", "/v1/instances/a", NULL, false, &ans, &err);
        fake_request(&f, req, sizeof(req));
        CHECK("transport: refusal carries the daemon's text",
              r < 0 && streq(err.msg, "instance 'a' is running") && !ans, "r=%d '%s'", r, err.msg);
        CHECK("transport: no body, no Content-Type", strstr(req, "Content-Length: 0\r\n") && !strstr(req, "Content-Type"),
              "got '%.200s'", req);

        /* Read-until-close answer. */
        const char *const close_pieces[] = { "HTTP/1.1 200 OK\r\n\r\n[", "]", NULL };
        f = fake_start(path, close_pieces, false);
        ans = NULL;
        r = http_call(path, "GET", "/v1/instances", NULL, false, &ans, &err);
        fake_request(&f, req, sizeof(req));
        CHECK("transport: body until close", r == 0 && json_is_array(ans), "r=%d %s", r, err.msg);
        json_decref(ans);

        /* A garbage answer is an error, never output. */
        const char *const junk[] = { "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{{{", NULL };
        f = fake_start(path, junk, false);
        ans = NULL;
        r = http_call(path, "GET", "/v1/instances", NULL, false, &ans, &err);
        fake_request(&f, req, sizeof(req));
        CHECK("transport: invalid JSON reported", r < 0 && strstr(err.msg, "invalid JSON"), "r=%d '%s'", r, err.msg);

        /* Upgrade: the head is consumed exactly, and the byte with the fd
         * right behind it is still there for recvmsg(). */
        const char *const up[] = { "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: vsd-exec\r\n\r\n",
                                   "exit 3\n", NULL };
        f = fake_start(path, up, true);
        int sock = -1;
        json_t *eb = json_pack("{s:[s], s:b}", "argv", "true", "tty", 1);
        r = http_upgrade(path, "POST", "/v1/instances/a/exec", eb, "vsd-exec", &sock, &err);
        json_decref(eb);
        CHECK("transport: upgrade", r == 0 && sock >= 0, "r=%d %s", r, err.msg);
        if (r == 0) {
                char byte = 0;
                struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
                union {
                        struct cmsghdr a;
                        char b[CMSG_SPACE(sizeof(int))];
                } u = {};
                struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b) };
                ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
                struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
                int got = -1;
                if (cm && cm->cmsg_type == SCM_RIGHTS)
                        memcpy(&got, CMSG_DATA(cm), sizeof(int));
                CHECK("transport: fd byte left for recvmsg", n == 1 && byte == 'P' && got >= 0, "n=%zd byte=%d fd=%d", n,
                      byte, got);
                if (got >= 0)
                        close(got);
                char line[16] = {};
                n = read(sock, line, sizeof(line) - 1);
                CHECK("transport: status line after", n == 7 && streq(line, "exit 3\n"), "n=%zd '%s'", n, line);
                close(sock);
        }
        fake_request(&f, req, sizeof(req));
        CHECK("transport: upgrade headers", strstr(req, "Connection: Upgrade\r\nUpgrade: vsd-exec\r\n") &&
                                                    !strstr(req, "Connection: close"),
              "got '%.300s'", req);

        /* An upgrade the daemon refuses reads as its message. */
        const char *const up_no[] = { "HTTP/1.1 404 Not Found\r\nContent-Length: 45\r\n\r\n",
                                      "{\"error\":\"no such instance 'zz'\",\"code\":2}   ", NULL };
        f = fake_start(path, up_no, false);
        sock = -1;
        r = http_upgrade(path, "GET", "/v1/instances/zz/console", NULL, "vsd-console", &sock, &err);
        fake_request(&f, req, sizeof(req));
        CHECK("transport: refused upgrade", r < 0 && sock < 0 && streq(err.msg, "no such instance 'zz'"), "r=%d '%s'", r,
              err.msg);

        /* Nobody listening: the message says where and hints why. */
        unlink(path);
        r = http_call(path, "GET", "/v1/version", NULL, false, &ans, &err);
        CHECK("transport: cannot connect", r == -ENOENT && strstr(err.msg, "cannot connect to ") &&
                                                   strstr(err.msg, "No such file or directory (is vsd running?)") &&
                                                   http_is_connect_error(&err),
              "r=%d '%s'", r, err.msg);

        rmdir(dir);
}

static void escaping(void) {
        _cleanup_free_ char *a = http_escape_segment("demo-1");
        _cleanup_free_ char *b = http_escape_segment("../x y?z");
        CHECK("escape: plain names unchanged", a && streq(a, "demo-1"), "'%s'", a);
        CHECK("escape: path characters encoded", b && streq(b, "%2E%2E%2Fx%20y%3Fz"), "'%s'", b);
}


/* Feed body to a streaming decoder in pieces of step bytes. */
static int chunks_all(const char *body, size_t len, size_t step, char *out, size_t *ret_out, size_t *ret_used,
                      vs_error *err) {
        vs_http_chunks c = { 0 };
        size_t total = 0, pos = 0;
        int r = 0;
        while (pos < len) {
                size_t n = len - pos < step ? len - pos : step, got = 0, used = 0;
                r = vs_http_chunks_feed(&c, body + pos, n, out + total, &got, &used, err);
                total += got;
                if (r != 0) {
                        *ret_used = pos + (r > 0 ? used : 0);
                        break;
                }
                pos += n;
        }
        *ret_out = total;
        return r;
}

static void chunk_stream(void) {
        const char *body = "1b\r\n{\"seq\":1,\"type\":\"created\"}\n\r\n"
                           "5;ext=1\r\nhello\r\n"
                           "3\nabc\n"
                           "0\r\nX-Trailer: 1\r\n\r\n"
                           "AFTER";
        const char *want = "{\"seq\":1,\"type\":\"created\"}\nhelloabc";
        size_t blen = strlen(body), wlen = strlen(want);
        char out[256];
        vs_error err = {};
        for (size_t step = 1; step <= blen; step++) {
                size_t got = 0, used = 0;
                int r = chunks_all(body, blen, step, out, &got, &used, &err);
                if (r != 1 || got != wlen || memcmp(out, want, wlen) != 0 || used != blen - 5) {
                        CHECK("stream chunks: any split decodes the same", false, "step %zu: r=%d got %zu used %zu %s", step,
                              r, got, used, err.msg);
                        return;
                }
        }
        CHECK("stream chunks: any split decodes the same", true, "%s", "");

        /* open-ended: data comes out before the stream ends */
        vs_http_chunks c = { 0 };
        size_t got = 0, used = 0;
        const char *part = "4\r\nab";
        int r = vs_http_chunks_feed(&c, part, strlen(part), out, &got, &used, &err);
        CHECK("stream chunks: partial data is delivered", r == 0 && got == 2 && memcmp(out, "ab", 2) == 0, "r=%d got %zu",
              r, got);

        static const char *const bad[] = { "x\r\n", "\r\n", "4\r\nabcdX", "4\r\nabcd\rX", "0\r\n\rX",
                                           "fffffffffffffffffffff\r\n" };
        for (size_t k = 0; k < ELEMENTSOF(bad); k++) {
                vs_http_chunks b = { 0 };
                char name[64];
                snprintf(name, sizeof(name), "stream chunks: malformed %zu refused", k);
                r = vs_http_chunks_feed(&b, bad[k], strlen(bad[k]), out, &got, &used, &err);
                int again = vs_http_chunks_feed(&b, "0\r\n\r\n", 5, out, &got, &used, &err);
                CHECK(name, r == -EBADMSG && again == -EBADMSG, "r=%d again=%d", r, again);
        }
        /* a size line without end is not waited for forever */
        vs_http_chunks d = { 0 };
        char longline[2048];
        memset(longline, '0', sizeof(longline));
        r = vs_http_chunks_feed(&d, longline, sizeof(longline), out, &got, &used, &err);
        CHECK("stream chunks: endless size line refused", r == -EBADMSG, "r=%d", r);
}

int main(void) {
        signal(SIGPIPE, SIG_IGN);
        normal();
        split_reads();
        no_length();
        chunked();
        chunk_stream();
        oversized();
        malformed();
        fuzz();
        escaping();
        transport();
        return CHECK_DONE();
}

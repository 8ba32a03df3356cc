/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/api/websocket.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/param.h>
#include <sys/socket.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <wslay/wslay.h>

#include "base/util.h"
#include "vsd/core/daemon.h"
#include "vsd/core/loop.h"
#include "vsd/inst/console.h"

/* The largest message taken from the browser: keys and pastes (the page
 * sends a paste in pieces below this).  A longer one closes the session
 * (1009) before any of it is buffered. */
#define WS_MAX_MESSAGE (64 * 1024)
/* Console output queued for a browser that has not taken it yet: past
 * this the browser is too slow or does not read, and is dropped. */
#define WS_MAX_QUEUED (256 * 1024)
/* What one turn of the loop reads from one browser: a flood of input
 * gets its share, not the loop. */
#define WS_RECV_BUDGET (64 * 1024)
/* After a close frame (either side's), how long the closing handshake
 * may take before the connection is simply closed. */
#define WS_CLOSE_MS 2000

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int ws_accept_key(const char *key, char ret_accept[WS_ACCEPT_SIZE], vs_error *err) {
        /* RFC 6455 4.2.1: the key is 16 random bytes in base64 */
        uint8_t raw[BASE64_DECODE_LENGTH(24)];
        size_t raw_len = sizeof(raw);
        struct base64_decode_ctx b64;
        base64_decode_init(&b64);
        if (!key || strlen(key) != 24 || !base64_decode_update(&b64, &raw_len, raw, 24, key) ||
            !base64_decode_final(&b64) || raw_len != 16)
                return vs_err_msg(err, EINVAL, "invalid Sec-WebSocket-Key (16 bytes in base64 expected)");
        struct sha1_ctx sha;
        uint8_t digest[SHA1_DIGEST_SIZE];
        sha1_init(&sha);
        sha1_update(&sha, 24, (const uint8_t *) key);
        sha1_update(&sha, sizeof(ws_guid) - 1, (const uint8_t *) ws_guid);
        sha1_digest(&sha, sizeof(digest), digest);
        _Static_assert(BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) + 1 == WS_ACCEPT_SIZE, "accept size");
        base64_encode_raw(ret_accept, sizeof(digest), digest);
        ret_accept[WS_ACCEPT_SIZE - 1] = '\0';
        return 0;
}

struct ws_console {
        struct vsd *vsd;
        int sock;
        wslay_event_context_ptr ctx;
        struct loop_source *src;
        struct loop_source *timer; /* the closing handshake's time */
        uint32_t events;           /* what src waits for */
        struct console_client *client;
        char *extra; /* read by the HTTP layer past the request */
        size_t extra_len, extra_off;
        size_t budget; /* left to read in this turn */
        void (*closed)(void *ud);
        void *ud;
        struct ws_console **slot;
};

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user_data) {
        struct ws_console *s = user_data;
        if (s->extra_off < s->extra_len) {
                size_t n = MIN(len, s->extra_len - s->extra_off);
                memcpy(buf, s->extra + s->extra_off, n);
                s->extra_off += n;
                return (ssize_t) n;
        }
        if (s->budget == 0) {
                /* the rest next turn: the socket stays readable */
                wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
                return -1;
        }
        ssize_t n = recv(s->sock, buf, MIN(len, s->budget), MSG_DONTWAIT);
        if (n > 0) {
                s->budget -= (size_t) n;
                return n;
        }
        wslay_event_set_error(ctx, n < 0 && (errno == EAGAIN || errno == EINTR) ? WSLAY_ERR_WOULDBLOCK
                                                                                : WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user_data) {
        struct ws_console *s = user_data;
        ssize_t n = send(s->sock, data, len, MSG_DONTWAIT | MSG_NOSIGNAL | (flags & WSLAY_MSG_MORE ? MSG_MORE : 0));
        if (n >= 0)
                return n;
        wslay_event_set_error(ctx, errno == EAGAIN || errno == EINTR ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
}

/* A text message: {"resize": {"rows": R, "cols": C}}.  Anything else is
 * ignored: a page of a newer vsd may know more. */
static void ws_control(struct ws_console *s, const uint8_t *msg, size_t len) {
        json_t *j = json_loadb((const char *) msg, len, JSON_REJECT_DUPLICATES, NULL);
        json_int_t rows = 0, cols = 0;
        if (j && json_unpack(j, "{s:{s:I, s:I}}", "resize", "rows", &rows, "cols", &cols) == 0 && rows > 0 &&
            cols > 0 && rows <= CONSOLE_SIZE_MAX && cols <= CONSOLE_SIZE_MAX)
                (void) console_resize(s->client, (unsigned) rows, (unsigned) cols);
        json_decref(j);
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user_data) {
        struct ws_console *s = user_data;
        if (!s->client)
                return;
        if (arg->opcode == WSLAY_BINARY_FRAME)
                console_input(s->client, (const char *) arg->msg, arg->msg_length);
        else if (arg->opcode == WSLAY_TEXT_FRAME)
                ws_control(s, arg->msg, arg->msg_length);
        /* ping, pong and close: wslay answers them */
}

/* The console let go of us (ws_console_end, the browser dropped, or the
 * console went with its instance): a last close frame if the socket takes
 * it now, and the connection back to its owner to close. */
static void ws_detached(void *ud) {
        struct ws_console *s = ud;
        s->client = NULL;
        loop_remove(s->src);
        loop_remove(s->timer);
        if (wslay_event_get_write_enabled(s->ctx) && !wslay_event_get_close_sent(s->ctx)) {
                /* one may be queued already (a protocol error's) */
                (void) wslay_event_queue_close(s->ctx, WSLAY_CODE_GOING_AWAY, NULL, 0);
                (void) wslay_event_send(s->ctx);
        }
        wslay_event_context_free(s->ctx);
        free(s->extra);
        if (s->slot)
                *s->slot = NULL;
        void (*closed)(void *) = s->closed;
        void *cud = s->ud;
        free(s);
        closed(cud);
}

void ws_console_end(struct ws_console *s) {
        if (s)
                console_detach(s->client); /* ws_detached() runs */
}

static void on_close_timer(struct loop_source *src, void *userdata) {
        struct ws_console *s = userdata;
        s->timer = NULL;
        ws_console_end(s);
}

/* Wait for what wslay wants next. */
static int ws_watch(struct ws_console *s) {
        bool want_read = wslay_event_want_read(s->ctx), want_write = wslay_event_want_write(s->ctx);
        if (!want_read && !want_write)
                return -1; /* both sides are done */
        if (!want_read && !s->timer &&
            loop_add_timer(s->vsd->loop, WS_CLOSE_MS, on_close_timer, s, &s->timer) < 0)
                return -1;
        uint32_t ev = EPOLLRDHUP | (want_read ? EPOLLIN : 0) | (want_write ? EPOLLOUT : 0);
        if (ev != s->events) {
                if (loop_modify_fd(s->src, ev) < 0)
                        return -1;
                s->events = ev;
        }
        return 0;
}

/* Take what the socket has, send what is queued, wait for what is next.
 * false: the session ended (s is gone). */
static bool ws_pump(struct ws_console *s, uint32_t events) {
        int r = 0;
        s->budget = WS_RECV_BUDGET;
        if (wslay_event_want_read(s->ctx))
                r = wslay_event_recv(s->ctx);
        else if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                r = -1; /* gone while we were closing */
        if (r == 0 && wslay_event_want_write(s->ctx))
                r = wslay_event_send(s->ctx);
        if (r < 0 || ws_watch(s) < 0) {
                ws_console_end(s);
                return false;
        }
        return true;
}

static int on_sock(struct loop_source *src, int fd, uint32_t events, void *userdata) {
        (void) ws_pump(userdata, events);
        return 0;
}

static int ws_output(void *ud, const char *buf, size_t len) {
        struct ws_console *s = ud;
        if (!wslay_event_get_write_enabled(s->ctx) || wslay_event_get_close_sent(s->ctx))
                return 0; /* closing: the rest is not for this browser */
        if (wslay_event_get_queued_msg_length(s->ctx) + len > WS_MAX_QUEUED)
                return -ENOBUFS;
        struct wslay_event_msg m = { .opcode = WSLAY_BINARY_FRAME, .msg = (const uint8_t *) buf, .msg_length = len };
        int r = wslay_event_queue_msg(s->ctx, &m); /* wslay keeps a copy */
        if (r == WSLAY_ERR_NOMEM)
                return -ENOMEM;
        if (r < 0)
                return 0; /* a close is queued: nothing more goes out */
        if (wslay_event_send(s->ctx) < 0 || ws_watch(s) < 0)
                return -EIO;
        return 0;
}

static const struct console_sink ws_sink = { .output = ws_output };

int ws_console_start(struct vsd *v, struct console *c, int sock, const char *extra, size_t extra_len,
                     void (*closed)(void *ud), void *ud, struct ws_console **slot, vs_error *err) {
        static const struct wslay_event_callbacks callbacks = {
                .recv_callback = ws_recv,
                .send_callback = ws_send,
                .on_msg_recv_callback = ws_on_msg,
        };
        struct ws_console *s = calloc(1, sizeof(*s));
        if (!s)
                return vs_err(err, ENOMEM, "Failed to start the console session");
        *s = (struct ws_console){ .vsd = v, .sock = sock, .closed = closed, .ud = ud, .events = EPOLLIN | EPOLLRDHUP };
        if (extra_len > 0) {
                s->extra = malloc(extra_len);
                if (!s->extra) {
                        free(s);
                        return vs_err(err, ENOMEM, "Failed to start the console session");
                }
                memcpy(s->extra, extra, extra_len);
                s->extra_len = extra_len;
        }
        if (wslay_event_context_server_init(&s->ctx, &callbacks, s) != 0) {
                free(s->extra);
                free(s);
                return vs_err(err, ENOMEM, "Failed to start the console session");
        }
        wslay_event_config_set_max_recv_msg_length(s->ctx, WS_MAX_MESSAGE);
        int r = loop_add_fd(v->loop, sock, s->events, on_sock, s, &s->src);
        if (r >= 0) {
                r = console_attach_sink(c, &ws_sink, s, ws_detached, &s->client, err);
                if (r < 0)
                        loop_remove(s->src);
        } else
                vs_err(err, -r, "Failed to start the console session");
        if (r < 0) {
                wslay_event_context_free(s->ctx);
                free(s->extra);
                free(s);
                return r;
        }
        s->slot = slot;
        if (slot)
                *slot = s;
        /* frames that came with the request are not announced by the socket */
        if (s->extra_len > 0)
                (void) ws_pump(s, 0);
        return 0;
}

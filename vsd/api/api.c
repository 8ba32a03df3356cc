/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/api/api.h"

#include <errno.h>
#include <inttypes.h>
#include <grp.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "base/proto.h"
#include "base/util.h"
#include "vsd/api/api-internal.h"
#include "vsd/api/dashboard.h"
#include "vsd/api/metrics.h"
#include "vsd/api/websocket.h"
#include "vsd/core/daemon.h"
#include "vsd/core/events.h"
#include "vsd/core/health.h"
#include "vsd/core/loop.h"
#include "vsd/core/ops.h"
#include "vsd/inst/console.h"
#include "vsd/inst/templates.h"

/* Which listener a connection came in on: what it may ask. */
enum listener {
        LISTEN_SOCKET,    /* the API socket: peer credentials decide */
        LISTEN_METRICS,   /* [metrics] listen: GET /metrics and nothing else */
        LISTEN_DASHBOARD, /* [dashboard] listen: the token decides (dashboard.c) */
};

/*
 * One client connection, from vsd's accept() to MHD's close: whose it is,
 * and whether it may be closed to make room for root (an idle one).
 */
struct client {
        struct client *prev, *next; /* api.clients, oldest first */
        int fd;
        uid_t uid;
        unsigned requests; /* in progress: 0 between requests or before the first */
        bool held;         /* an upgraded exec or console session: never idle */
        enum listener listener;
        bool evicted;      /* shut down to make room, no longer counted */
};

/* Whom the TCP metrics listener's connections count as in the limits
 * (admit()): one uid other than 0 for all of them, so that together they
 * hold at most max_connections_per_user and never root's share. */
#define METRICS_UID ((uid_t) -2)
/* The same for the dashboard's listener, apart from the scrapers. */
#define DASHBOARD_UID ((uid_t) -3)

struct uid_count {
        uid_t uid;
        unsigned n;
};

struct api {
        struct vsd *vsd;
        int listen_fd;
        gid_t group;
        bool have_group;
        struct MHD_Daemon *mhd;
        struct loop_source *src;
        struct loop_source *listen_src;
        int metrics_fd;                  /* [metrics] listen: TCP, /metrics only; -EBADF: none */
        struct loop_source *metrics_src;
        int dashboard_fd;                /* [dashboard] listen; -EBADF: none */
        struct loop_source *dashboard_src;
        struct dash *dash;               /* its token */
        struct loop_source *accept_retry; /* accept() paused after EMFILE */
        struct request *waiting; /* suspended requests, to answer on shutdown */
        bool resumed;            /* a connection was resumed: MHD must run */
        unsigned n_streams;      /* event streams open */
        /* the connection policy (doc/architecture.md, "API") */
        struct client *clients, *clients_tail;
        struct client *adding;   /* between accept() and MHD's STARTED notice */
        unsigned n_clients;      /* counted ones: not evicted */
        unsigned n_others;       /* of those, uids other than 0 */
        struct uid_count *uids;  /* per uid other than 0, with n > 0 */
        size_t n_uids;
        struct upgraded *upgraded; /* exec and console connections */
};

struct request {
        struct api *api;
        struct MHD_Connection *conn;
        char *body;
        size_t len;
        bool too_big;
        bool denied;
        enum listener listener;
        struct metrics_job *metrics; /* GET /metrics gathering (metrics.h) */
        bool answered;
        /* a suspended request waiting for an instance */
        struct inst_waiter waiter;
        struct instance *waiting_on;
        char inst_name[VS_NAME_MAX + 1];
        struct request *next_waiting;
        unsigned ok_status;      /* the answer on success: 200 and the instance unless set */
        json_t *ok_body;
        char ok_name[VS_NAME_MAX + 1]; /* the instance whose JSON answers, when not inst_name */
        struct MHD_Response *ready;
        unsigned ready_status;
        /* an upgrade to exec, console or the fd protocol */
        enum upgrade_kind upgrade;
        struct exec_request exec;
        api_fd_fn fd_fn;
        void *fd_ud;
};

/* A connection switched to the exec or console protocol.  Its session
 * (exec.c, console.c) owns it until the session ends and closes it
 * (upgraded_close); the daemon's exit ends the sessions first, since MHD
 * frees every handle when it stops. */
struct upgraded {
        struct api *api;
        struct MHD_UpgradeResponseHandle *urh;
        struct exec_session *exec;      /* set while its exec session lasts */
        struct console_client *console; /* set while attached to a console */
        struct ws_console *ws;          /* set while the dashboard's console lasts */
        struct fd_wait *fdw;            /* set while a file descriptor is awaited */
        struct upgraded *next;
};

/* An fd-protocol connection until its descriptor has come. */
struct fd_wait {
        struct upgraded *u;
        struct vsd *vsd;
        int sock;
        struct loop_source *src, *timer;
        api_fd_fn fn;
        void *ud;
};

struct vsd *api_vsd(struct request *rq) {
        return rq->api->vsd;
}

static struct MHD_Response *json_response(json_t *body) {
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (!text)
                return NULL;
        size_t n = strlen(text);
        /* a trailing newline makes curl output readable */
        char *t2 = realloc(text, n + 2);
        if (t2) {
                text = t2;
                text[n++] = '\n';
                text[n] = '\0';
        }
        struct MHD_Response *r = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
        if (!r) {
                free(text);
                return NULL;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        return r;
}

static void queue(struct request *rq, unsigned status, struct MHD_Response *resp) {
        rq->answered = true;
        if (!resp)
                return; /* out of memory: MHD closes the connection */
        MHD_queue_response(rq->conn, status, resp);
        MHD_destroy_response(resp);
}

void api_reply_json(struct request *rq, unsigned status, json_t *body) {
        queue(rq, status, json_response(body));
}

static json_t *error_json(const vs_error *err) {
        return json_pack("{s:s, s:i}", "error", err->msg[0] ? err->msg : "unknown error", "code", err->code);
}

void api_reply_error(struct request *rq, const vs_error *err) {
        api_reply_json(rq, (unsigned) vs_err_http_status(err->code), error_json(err));
}

const char *api_query(struct request *rq, const char *key) {
        return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}

struct query_check {
        const char *const *known;
        const char *bad;
};

static enum MHD_Result query_key(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        struct query_check *q = cls;
        for (const char *const *k = q->known; *k; k++)
                if (streq(*k, key))
                        return MHD_YES;
        q->bad = key;
        return MHD_NO;
}

int api_query_check(struct request *rq, const char *const *known, vs_error *err) {
        struct query_check q = { .known = known };
        MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, query_key, &q);
        if (q.bad)
                return vs_err_msg(err, EINVAL, "unknown query parameter '%.40s'", q.bad);
        return 0;
}

bool api_has_upgrade(struct request *rq, const char *token) {
        const char *up = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
        return up && strcasecmp(up, token) == 0;
}

/* ---- connections ------------------------------------------------------ */

static struct client *client_of(struct MHD_Connection *conn) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return ci ? ci->socket_context : NULL;
}

/* Streams and upgraded sessions stay open for as long as their client
 * wants: the idle timeout is for connections that hold a slot for
 * nothing.  (Suspended ones, waiting for an instance or an event, are not
 * timed by MHD anyway.) */
static void no_idle_timeout(struct MHD_Connection *conn) {
        (void) MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned) 0);
}

static struct uid_count *uid_slot(struct api *a, uid_t uid) {
        for (size_t k = 0; k < a->n_uids; k++)
                if (a->uids[k].uid == uid)
                        return &a->uids[k];
        return NULL;
}

static int client_count(struct api *a, uid_t uid, int delta) {
        a->n_clients += delta;
        if (uid == 0)
                return 0;
        a->n_others += delta;
        struct uid_count *u = uid_slot(a, uid);
        if (!u) {
                if (delta < 0)
                        return 0;
                struct uid_count *n = realloc(a->uids, (a->n_uids + 1) * sizeof(*n));
                if (!n) {
                        a->n_clients -= delta;
                        a->n_others -= delta;
                        return -ENOMEM;
                }
                a->uids = n;
                u = &a->uids[a->n_uids++];
                *u = (struct uid_count){ .uid = uid };
        }
        u->n += delta;
        if (u->n == 0)
                *u = a->uids[--a->n_uids];
        return 0;
}

static void client_unlink(struct api *a, struct client *c) {
        if (c->prev)
                c->prev->next = c->next;
        else
                a->clients = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else
                a->clients_tail = c->prev;
        if (!c->evicted)
                (void) client_count(a, c->uid, -1);
        free(c);
}

/* Make room for root: the oldest connection that holds a slot and does
 * nothing with it (no request under way, not a stream or a session) is
 * shut down; MHD sees the end and closes it. */
static bool evict_idle(struct api *a) {
        for (struct client *c = a->clients; c; c = c->next) {
                if (c->evicted || c->held || c->requests > 0)
                        continue;
                (void) shutdown(c->fd, SHUT_RDWR);
                c->evicted = true;
                (void) client_count(a, c->uid, -1);
                return true;
        }
        return false;
}

/* Answer a connection that is not let in, and close it: one line the client
 * can show, rather than a silent hang-up. */
static void refuse(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(int fd, const char *fmt, ...) {
        char msg[256], head[256];
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        vs_error err = { 0 };
        vs_err_msg(&err, EAGAIN, "%s", msg);
        json_t *j = error_json(&err);
        _cleanup_free_ char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (body) {
                int n = snprintf(head, sizeof(head),
                                 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                                 strlen(body) + 1);
                /* small enough for the socket's buffer: never waits */
                struct iovec iov[] = { { head, (size_t) n }, { body, strlen(body) }, { "\n", 1 } };
                (void) sendmsg(fd, &(struct msghdr){ .msg_iov = iov, .msg_iovlen = 3 }, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        /* A Unix socket closed with unread data resets its peer, which may
         * then lose the answer: take what the request sent so far (a
         * bounded amount; the client's buffer holds the rest). */
        char sink[4096];
        for (int k = 0; k < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; k++)
                ;
        close(fd);
}

/* Who may take one more connection (doc/architecture.md, "API"): NULL, or
 * why not. */
static const char *admit(struct api *a, uid_t uid, char *why, size_t len) {
        const struct api_settings *s = &a->vsd->set.api;
        if (uid != 0) {
                struct uid_count *u = uid_slot(a, uid);
                if (u && u->n >= s->max_per_user) {
                        snprintf(why, len, "too many connections to vsd from uid %u (at most %" PRIu64 " at once)",
                                 (unsigned) uid, s->max_per_user);
                        return why;
                }
                if (a->n_others >= s->max_connections - s->root_reserve) {
                        snprintf(why, len, "vsd is busy: too many connections (the rest are kept for root)");
                        return why;
                }
        }
        if (a->n_clients >= s->max_connections && !(uid == 0 && evict_idle(a))) {
                snprintf(why, len, "vsd is busy: %" PRIu64 " connections open, none of them idle",
                         s->max_connections);
                return why;
        }
        return NULL;
}

static void on_accept_retry(struct loop_source *s, void *userdata);

static void accept_one(struct api *a, int fd, enum listener l) {
        struct ucred cred = { .uid = l == LISTEN_DASHBOARD ? DASHBOARD_UID : METRICS_UID };
        socklen_t len = sizeof(cred);
        char why[160];
        /* SO_PEERCRED is the connecting process's, fixed at connect(); a
         * TCP peer has none */
        if (l == LISTEN_SOCKET && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                close(fd);
                return;
        }
        if (admit(a, cred.uid, why, sizeof(why))) {
                refuse(fd, "%s", why);
                return;
        }
        struct client *c = calloc(1, sizeof(*c));
        if (!c || client_count(a, cred.uid, +1) < 0) {
                free(c);
                refuse(fd, "vsd is out of memory");
                return;
        }
        *c = (struct client){ .fd = fd, .uid = cred.uid, .listener = l, .prev = a->clients_tail };
        if (a->clients_tail)
                a->clients_tail->next = c;
        else
                a->clients = c;
        a->clients_tail = c;
        /* MHD tells on_connection() STARTED from inside MHD_add_connection()
         * (which takes the fd whatever happens), and CLOSED there too if it
         * then fails: from STARTED on, c is on_connection()'s to free. */
        a->adding = c;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        enum MHD_Result added = MHD_add_connection(a->mhd, fd, (struct sockaddr *) &sa, sizeof(sa_family_t));
        if (a->adding) {
                a->adding = NULL;
                client_unlink(a, c);
                return;
        }
        if (added == MHD_YES)
                a->resumed = true; /* MHD reads the request before the loop waits */
}

static int on_listen(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct api *a = userdata;
        enum listener l = fd == a->metrics_fd ? LISTEN_METRICS : fd == a->dashboard_fd ? LISTEN_DASHBOARD : LISTEN_SOCKET;
        /* a bounded batch: MHD gets its turn between batches */
        for (int k = 0; k < 64; k++) {
                int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (c >= 0) {
                        accept_one(a, c, l);
                        continue;
                }
                if (errno == EMFILE || errno == ENFILE) {
                        /* The socket stays readable: pause accepting for a
                         * moment instead of spinning on it. */
                        log_warn("Failed to accept an API connection: %s; pausing for 100 ms", strerror(errno));
                        struct loop_source *src = l == LISTEN_METRICS     ? a->metrics_src
                                                  : l == LISTEN_DASHBOARD ? a->dashboard_src
                                                                          : a->listen_src;
                        /* one timer gives every listener back */
                        if (loop_modify_fd(src, 0) == 0 && !a->accept_retry &&
                            loop_add_timer(a->vsd->loop, 100, on_accept_retry, a, &a->accept_retry) < 0)
                                (void) loop_modify_fd(src, EPOLLIN);
                }
                break;
        }
        return 0;
}

static void on_accept_retry(struct loop_source *s, void *userdata) {
        struct api *a = userdata;
        a->accept_retry = NULL;
        (void) loop_modify_fd(a->listen_src, EPOLLIN);
        if (a->metrics_src)
                (void) loop_modify_fd(a->metrics_src, EPOLLIN);
        if (a->dashboard_src)
                (void) loop_modify_fd(a->dashboard_src, EPOLLIN);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
        struct api *a = cls;
        if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
                *socket_context = a->adding;
                a->adding = NULL;
                return;
        }
        struct client *c = *socket_context;
        *socket_context = NULL;
        if (c)
                client_unlink(a, c);
}

/* ---- waiting for an instance ------------------------------------------- */

static void unlink_waiting(struct request *rq) {
        for (struct request **p = &rq->api->waiting; *p; p = &(*p)->next_waiting)
                if (*p == rq) {
                        *p = rq->next_waiting;
                        break;
                }
}

static void waiter_done(struct inst_waiter *w, int result, const vs_error *err) {
        struct request *rq = (struct request *) ((char *) w - offsetof(struct request, waiter));
        rq->waiting_on = NULL;
        unlink_waiting(rq);
        json_t *body;
        if (result < 0) {
                rq->ready_status = (unsigned) vs_err_http_status(err->code);
                body = error_json(err);
        } else if (rq->ok_body) {
                rq->ready_status = rq->ok_status;
                body = rq->ok_body;
                rq->ok_body = NULL;
        } else {
                struct instance *i = inst_find(rq->api->vsd, rq->ok_name[0] ? rq->ok_name : rq->inst_name);
                rq->ready_status = rq->ok_status ? rq->ok_status : 200;
                body = i ? routes_instance_json(i) : json_object();
        }
        rq->ready = json_response(body);
        MHD_resume_connection(rq->conn);
        /* MHD in external-epoll mode does not wake its epoll fd for a
         * resumed connection: run it before the loop waits again */
        rq->api->resumed = true;
}

struct inst_waiter *api_wait(struct request *rq, struct instance *i) {
        rq->waiter.done = waiter_done;
        rq->waiting_on = i;
        snprintf(rq->inst_name, sizeof(rq->inst_name), "%s", i->cfg.name);
        rq->next_waiting = rq->api->waiting;
        rq->api->waiting = rq;
        rq->answered = true;
        MHD_suspend_connection(rq->conn);
        return &rq->waiter;
}

struct inst_waiter *api_wait_reply(struct request *rq, struct instance *i, unsigned status, const char *name,
                                   json_t *body) {
        rq->ok_status = status;
        rq->ok_body = body;
        snprintf(rq->ok_name, sizeof(rq->ok_name), "%s", name ? name : "");
        return api_wait(rq, i);
}

/* ---- GET /metrics ------------------------------------------------------- */

/* The figures are gathered over several turns of the loop (metrics.h):
 * the request waits suspended, on the list of waiting ones, so that the
 * daemon's exit answers it. */
static void metrics_done(void *userdata, int r, char *text, size_t len) {
        struct request *rq = userdata;
        rq->metrics = NULL;
        unlink_waiting(rq);
        struct MHD_Response *resp = NULL;
        if (r >= 0) {
                resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
                if (!resp)
                        free(text);
                else
                        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CONTENT_TYPE);
        }
        if (!resp) {
                vs_error err = { 0 };
                vs_err(&err, r < 0 ? -r : ENOMEM, "Failed to render the metrics");
                rq->ready_status = (unsigned) vs_err_http_status(err.code);
                resp = json_response(error_json(&err));
        } else
                rq->ready_status = 200;
        rq->ready = resp;
        MHD_resume_connection(rq->conn);
        rq->api->resumed = true;
}

static void serve_metrics(struct request *rq) {
        int r = metrics_job_begin(rq->api->vsd, metrics_done, rq, &rq->metrics);
        if (r < 0) {
                vs_error err = { 0 };
                vs_err(&err, -r, "Failed to render the metrics");
                api_reply_error(rq, &err);
                return;
        }
        rq->next_waiting = rq->api->waiting;
        rq->api->waiting = rq;
        rq->answered = true;
        MHD_suspend_connection(rq->conn);
}

/* ---- streams ----------------------------------------------------------- */

/*
 * One implementation for every answer that is a stream of newline-delimited
 * JSON, chunked, for as long as there is something to say: events, a
 * template build's output, an operation's progress.  A source gives the
 * lines; when it has none for now, the stream suspends its connection
 * (MHD then neither calls it nor watches the socket) until the source
 * wakes it (api_stream_wake).  A suspended connection is not watched by
 * MHD, so the stream watches the socket for a hang-up itself.  Nothing is
 * queued per stream beyond the line being sent.
 */

#define STREAM_BLOCK 16384

struct stream {
        struct api *api;
        struct MHD_Connection *conn;
        const struct stream_src *src;
        void *ctx;
        bool suspended;
        bool hangup;
        bool ended; /* the source said it has nothing more */
        struct loop_source *hup_src;
        char *pending; /* the line being sent */
        size_t pending_len, pending_off;
};

static void stream_resume(struct stream *st) {
        loop_remove(st->hup_src);
        st->hup_src = NULL;
        if (!st->suspended)
                return;
        st->suspended = false;
        MHD_resume_connection(st->conn);
        st->api->resumed = true;
}

void api_stream_wake(struct stream *st) {
        stream_resume(st);
}

static int stream_hup(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct stream *st = userdata;
        st->hup_src = NULL;
        st->hangup = true;
        stream_resume(st);
        return -1; /* loop_remove()s this source */
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
        struct stream *st = cls;
        size_t n = 0;
        if (st->hangup)
                return MHD_CONTENT_READER_END_WITH_ERROR;
        while (n < max) {
                if (st->pending_off == st->pending_len) {
                        if (st->ended)
                                break;
                        char *line = NULL;
                        size_t len = 0;
                        int r = st->src->next(st->ctx, &line, &len);
                        if (r < 0)
                                st->ended = true;
                        if (r <= 0)
                                break;
                        free(st->pending);
                        st->pending = line;
                        st->pending_len = len;
                        st->pending_off = 0;
                        if (!line) /* out of memory: this line is lost, not the stream */
                                st->pending_len = 0;
                        continue;
                }
                size_t k = st->pending_len - st->pending_off;
                if (k > max - n)
                        k = max - n;
                memcpy(buf + n, st->pending + st->pending_off, k);
                st->pending_off += k;
                n += k;
        }
        if (n > 0)
                return (ssize_t) n;
        if (st->ended)
                return MHD_CONTENT_READER_END_OF_STREAM;
        /* caught up: wait for the source, or for the client to leave */
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci && loop_add_fd(st->api->vsd->loop, ci->connect_fd, EPOLLRDHUP, stream_hup, st, &st->hup_src) < 0)
                st->hup_src = NULL;
        MHD_suspend_connection(st->conn);
        st->suspended = true;
        return 0;
}

static void stream_free(void *cls) {
        struct stream *st = cls;
        loop_remove(st->hup_src);
        st->src->close(st->ctx);
        st->api->n_streams--;
        free(st->pending);
        free(st);
}

struct stream *api_stream_open(struct request *rq, const struct stream_src *src, void *ctx, const char *op_id) {
        struct api *a = rq->api;
        struct stream *st = calloc(1, sizeof(*st));
        struct MHD_Response *r = NULL;
        if (st) {
                *st = (struct stream){ .api = a, .conn = rq->conn, .src = src, .ctx = ctx };
                r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, st, stream_free);
        }
        if (!r) {
                free(st);
                src->close(ctx);
                rq->answered = true;
                return NULL;
        }
        a->n_streams++;
        no_idle_timeout(rq->conn);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        if (op_id)
                MHD_add_response_header(r, VS_OPERATION_HEADER, op_id);
        queue(rq, 200, r);
        return st;
}

/* A JSON line for a stream (steals j): NULL text on out of memory. */
static void json_line(json_t *j, char **line, size_t *len) {
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        *line = NULL;
        *len = 0;
        if (text && asprintf(line, "%s\n", text) >= 0)
                *len = strlen(*line);
        else
                *line = NULL;
        free(text);
}

/* ---- event streams ----------------------------------------------------- */

/*
 * GET /v1/events: the stream reads the event bus through its own cursor
 * and the bus wakes it.  A slow client falls behind in the ring and, past
 * its end, is told how many events it lost.
 */

struct ev_src {
        struct stream *st;
        struct ev_bus *bus;
        struct ev_filter filter;
        uint64_t cursor;
        bool follow;
        struct ev_listener listener;
};

static void ev_src_wake(struct ev_listener *l) {
        struct ev_src *es = (struct ev_src *) ((char *) l - offsetof(struct ev_src, listener));
        if (es->st)
                api_stream_wake(es->st);
}

/* The next line: a note on lost events first when there are any. */
static int ev_src_next(void *ctx, char **line, size_t *len) {
        struct ev_src *es = ctx;
        const struct ev_record *rec = NULL;
        uint64_t lost = 0;
        int r = ev_next(es->bus, &es->filter, &es->cursor, &rec, &lost);
        int n;
        if (lost > 0)
                n = asprintf(line, "{\"type\":\"events-lost\",\"count\":%" PRIu64 "}\n%s", lost, r > 0 ? rec->line : "");
        else if (r > 0)
                n = asprintf(line, "%s", rec->line);
        else
                return !es->follow || ev_closed(es->bus) ? -1 : 0;
        if (n < 0) {
                *line = NULL; /* out of memory: try again with the next event */
                n = 0;
        }
        *len = (size_t) n;
        return 1;
}

static void ev_src_close(void *ctx) {
        struct ev_src *es = ctx;
        ev_unlisten(es->bus, &es->listener);
        free(es);
}

static const struct stream_src ev_stream_src = { .next = ev_src_next, .close = ev_src_close };

void api_stream_events(struct request *rq, const struct ev_filter *f, uint64_t cursor, bool follow) {
        struct ev_src *es = calloc(1, sizeof(*es));
        if (!es) {
                rq->answered = true;
                return;
        }
        *es = (struct ev_src){ .bus = rq->api->vsd->events, .filter = *f, .cursor = cursor, .follow = follow };
        es->listener.wake = ev_src_wake;
        ev_listen(es->bus, &es->listener);
        /* on failure the source is gone (closed) */
        struct stream *st = api_stream_open(rq, &ev_stream_src, es, NULL);
        if (st)
                es->st = st;
}

/* ---- template builds --------------------------------------------------- */

/*
 * POST /v1/templates/NAME/build: the builder's output, {"progress": LINE}
 * per line, then one final {"ok": true, ...} or {"ok": false, "error": ...,
 * "code": ...}; the build's operation id in the Vsd-Operation header.  A
 * client that leaves ends only the stream: the build runs to its end.
 */

struct build_src {
        struct stream *st;
        struct tmpl_build *b;
        size_t off; /* into the build's output */
        bool final_sent;
        struct tmpl_listener listener;
};

static void build_src_wake(struct tmpl_listener *l) {
        struct build_src *bs = (struct build_src *) ((char *) l - offsetof(struct build_src, listener));
        if (bs->st)
                api_stream_wake(bs->st);
}

static int build_src_next(void *ctx, char **line, size_t *len) {
        struct build_src *bs = ctx;
        const char *data;
        const vs_error *res = NULL;
        json_t *j;
        size_t n = tmpl_build_output(bs->b, bs->off, &data);
        if (n > 0) {
                const char *nl = memchr(data, '\n', n);
                size_t k = nl ? (size_t) (nl - data) : n;
                bs->off += k + (nl ? 1 : 0);
                j = json_pack("{s:s%}", "progress", data, k);
                if (!j) /* not UTF-8: shown with its bytes replaced */
                        j = json_pack("{s:s}", "progress", "(a line that is not UTF-8)");
        } else if (!bs->final_sent && tmpl_build_done(bs->b, &res)) {
                bs->final_sent = true;
                j = res->code ? json_pack("{s:b, s:s, s:i}", "ok", 0, "error", res->msg, "code", res->code)
                              : json_pack("{s:b, s:s}", "ok", 1, "template", tmpl_build_name(bs->b));
        } else
                return bs->final_sent ? -1 : 0;
        json_line(j, line, len);
        return 1;
}

static void build_src_close(void *ctx) {
        struct build_src *bs = ctx;
        tmpl_build_detach(bs->b);
        free(bs);
}

static const struct stream_src build_stream_src = { .next = build_src_next, .close = build_src_close };

void api_stream_build(struct request *rq, struct tmpl_build *b) {
        struct build_src *bs = calloc(1, sizeof(*bs));
        if (!bs) {
                /* the build runs on; nobody watches it */
                tmpl_build_detach(b);
                rq->answered = true;
                return;
        }
        *bs = (struct build_src){ .b = b };
        bs->listener.wake = build_src_wake;
        tmpl_build_attach(b, &bs->listener);
        struct op *op = tmpl_build_op(b);
        /* on failure the source is gone (closed) */
        struct stream *st = api_stream_open(rq, &build_stream_src, bs, op ? op_id(op) : NULL);
        if (st)
                bs->st = st;
}

/* ---- operations -------------------------------------------------------- */

/*
 * GET /v1/operations/ID?follow=1: the operation's JSON (ops.h) now, then
 * again each time it changes (its progress, its end), ending after the
 * line that shows it ended.
 */

struct op_src {
        struct stream *st;
        struct op *op;
        struct op_listener listener;
        bool follow;
        bool sent_any, final_sent;
        json_t *last; /* what was sent last, to send only changes */
};

static void op_src_wake(struct op_listener *l) {
        struct op_src *os = (struct op_src *) ((char *) l - offsetof(struct op_src, listener));
        if (os->st)
                api_stream_wake(os->st);
}

static int op_src_next(void *ctx, char **line, size_t *len) {
        struct op_src *os = ctx;
        if (os->final_sent || (os->sent_any && !os->follow))
                return -1;
        json_t *j = op_json(os->op);
        if (os->sent_any && j && json_equal(j, os->last)) {
                json_decref(j);
                return 0;
        }
        os->sent_any = true;
        os->final_sent = op_state(os->op) != OP_RUNNING;
        json_decref(os->last);
        os->last = json_incref(j);
        json_line(j, line, len);
        return 1;
}

static void op_src_close(void *ctx) {
        struct op_src *os = ctx;
        op_unlisten(os->op, &os->listener);
        json_decref(os->last);
        free(os);
}

static const struct stream_src op_stream_src = { .next = op_src_next, .close = op_src_close };

void api_stream_op(struct request *rq, struct op *op, bool follow) {
        struct op_src *os = calloc(1, sizeof(*os));
        if (!os) {
                rq->answered = true;
                return;
        }
        *os = (struct op_src){ .op = op, .follow = follow };
        os->listener.wake = op_src_wake;
        op_listen(op, &os->listener);
        /* on failure the source is gone (closed) */
        struct stream *st = api_stream_open(rq, &op_stream_src, os, op_id(op));
        if (st)
                os->st = st;
}

/* ---- upgrades ---------------------------------------------------------- */

static void fd_wait_free(struct fd_wait *w) {
        loop_remove(w->src);
        loop_remove(w->timer);
        free(w->ud);
        free(w);
}

static void upgraded_close(void *ud) {
        struct upgraded *u = ud;
        if (u->fdw) {
                fd_wait_free(u->fdw);
                u->fdw = NULL;
        }
        for (struct upgraded **p = &u->api->upgraded; *p; p = &(*p)->next)
                if (*p == u) {
                        *p = u->next;
                        break;
                }
        MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
        /* MHD closes the socket when it next runs: before the loop waits,
         * not whenever something else wakes it (the client waits for the
         * end) */
        u->api->resumed = true;
        free(u);
}

/* End every exec and console session; each closes its connection. */
static void upgraded_end_all(struct api *a) {
        while (a->upgraded) {
                struct upgraded *u = a->upgraded;
                if (u->exec)
                        exec_abort(u->exec, "vsd is shutting down; the command runs on");
                else if (u->console)
                        console_detach(u->console);
                else if (u->ws)
                        ws_console_end(u->ws);
                else
                        upgraded_close(u);
        }
}

/* The answer of an fd-protocol connection: one line, then the end.  It
 * fits the socket's buffer (a client that does not read loses it). */
static void fd_answer(struct fd_wait *w, json_t *answer) {
        char *text = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
        json_decref(answer);
        if (text) {
                size_t n = strlen(text);
                char *t2 = realloc(text, n + 2);
                if (t2) {
                        text = t2;
                        text[n++] = '\n';
                        (void) send(w->sock, text, n, MSG_NOSIGNAL | MSG_DONTWAIT);
                }
        }
        free(text);
        upgraded_close(w->u);
}

static int on_fd_message(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct fd_wait *w = userdata;
        char byte;
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * 4)];
        } c;
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf) };
        ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        int got = -EBADF;
        for (struct cmsghdr *h = n > 0 ? CMSG_FIRSTHDR(&m) : NULL; h; h = CMSG_NXTHDR(&m, h))
                if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
                        size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        int *fds = (int *) CMSG_DATA(h);
                        for (size_t j = 0; j < k; j++) {
                                if (got < 0)
                                        got = fds[j];
                                else
                                        close(fds[j]); /* one is all it takes */
                        }
                }
        vs_error err = { 0 };
        if (got < 0) {
                if (n > 0) {
                        vs_err_msg(&err, EINVAL, "no file descriptor came with the message");
                        fd_answer(w, json_pack("{s:s, s:i}", "error", err.msg, "code", err.code));
                } else
                        upgraded_close(w->u); /* the client left */
                return 0;
        }
        json_t *answer = NULL;
        api_fd_fn fn = w->fn;
        int r = fn(w->vsd, w->ud, got, &answer, &err);
        if (r < 0) {
                json_decref(answer);
                answer = json_pack("{s:s, s:i}", "error", err.msg[0] ? err.msg : "failed", "code", err.code);
        }
        fd_answer(w, answer);
        return 0;
}

static void on_fd_timeout(struct loop_source *s, void *userdata) {
        struct fd_wait *w = userdata;
        vs_error err = { 0 };
        w->timer = NULL;
        vs_err_msg(&err, ETIMEDOUT, "no file descriptor came within %d ms", VS_FD_WAIT_MS);
        fd_answer(w, json_pack("{s:s, s:i}", "error", err.msg, "code", err.code));
}

static void fd_wait_start(struct request *rq, struct upgraded *u, MHD_socket sock) {
        struct fd_wait *w = calloc(1, sizeof(*w));
        if (!w) {
                free(rq->fd_ud);
                rq->fd_ud = NULL;
                upgraded_close(u);
                return;
        }
        *w = (struct fd_wait){ .u = u, .vsd = rq->api->vsd, .sock = sock, .fn = rq->fd_fn, .ud = rq->fd_ud };
        rq->fd_ud = NULL;
        u->fdw = w;
        if (loop_add_fd(w->vsd->loop, sock, EPOLLIN, on_fd_message, w, &w->src) < 0 ||
            loop_add_timer(w->vsd->loop, VS_FD_WAIT_MS, on_fd_timeout, w, &w->timer) < 0)
                upgraded_close(u);
}

static void on_upgrade(void *cls, struct MHD_Connection *connection, void *req_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh) {
        struct request *rq = req_cls;
        struct vsd *v = rq->api->vsd;
        struct upgraded *u = calloc(1, sizeof(*u));
        if (!u) {
                MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
                return;
        }
        u->api = rq->api;
        u->urh = urh;
        u->next = rq->api->upgraded;
        rq->api->upgraded = u;
        if (rq->upgrade == UPGRADE_FD) {
                fd_wait_start(rq, u, sock);
                return;
        }
        struct instance *i = inst_find(v, rq->inst_name);
        vs_error err = { 0 };
        if (!i || !inst_is_up(i)) {
                static const char msg[] = "error the instance is no longer running\n";
                (void) send(sock, msg, sizeof(msg) - 1, MSG_NOSIGNAL);
                upgraded_close(u);
                return;
        }
        if (rq->upgrade == UPGRADE_EXEC) {
                if (exec_run(v, i, &rq->exec, sock, upgraded_close, u, &u->exec) < 0)
                        upgraded_close(u);
                return;
        }
        if (rq->upgrade == UPGRADE_WS_CONSOLE) {
                /* the session may end inside (a bad frame that came with
                 * the request): u is then gone */
                if (!i->console ||
                    ws_console_start(v, i->console, sock, extra_in, extra_in_size, upgraded_close, u, &u->ws, &err) < 0)
                        upgraded_close(u);
                return;
        }
        if (!i->console || console_attach(i->console, sock, upgraded_close, u, &u->console, &err) < 0)
                upgraded_close(u);
}

static void upgrade(struct request *rq, struct instance *i, enum upgrade_kind kind, const char *token,
                    const char *ws_accept) {
        struct MHD_Response *r = MHD_create_response_for_upgrade(on_upgrade, rq);
        if (!r) {
                rq->answered = true;
                return;
        }
        if (ws_accept)
                MHD_add_response_header(r, "Sec-WebSocket-Accept", ws_accept);
        rq->upgrade = kind;
        if (i)
                snprintf(rq->inst_name, sizeof(rq->inst_name), "%s", i->cfg.name);
        /* a session may be quiet for hours; never evicted either */
        no_idle_timeout(rq->conn);
        struct client *c = client_of(rq->conn);
        if (c)
                c->held = true;
        MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, token);
        queue(rq, MHD_HTTP_SWITCHING_PROTOCOLS, r);
}

void api_upgrade_exec(struct request *rq, struct instance *i, struct exec_request *req) {
        rq->exec = *req; /* ownership moves to the request */
        *req = (struct exec_request){ 0 };
        upgrade(rq, i, UPGRADE_EXEC, VS_UPGRADE_EXEC, NULL);
}

void api_upgrade_console(struct request *rq, struct instance *i) {
        upgrade(rq, i, UPGRADE_CONSOLE, VS_UPGRADE_CONSOLE, NULL);
}

void api_upgrade_ws_console(struct request *rq, struct instance *i) {
        vs_error err = { 0 };
        const char *version = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Sec-WebSocket-Version");
        const char *key = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
        char accept[WS_ACCEPT_SIZE];
        if (!version || !streq(version, "13")) {
                /* RFC 6455 4.4: the version this server speaks */
                vs_err_msg(&err, EINVAL, "only version 13 of the WebSocket protocol is spoken (Sec-WebSocket-Version: 13)");
                json_t *j = error_json(&err);
                struct MHD_Response *r = json_response(j);
                if (r)
                        MHD_add_response_header(r, "Sec-WebSocket-Version", "13");
                queue(rq, 426, r);
                return;
        }
        if (ws_accept_key(key, accept, &err) < 0) {
                api_reply_error(rq, &err);
                return;
        }
        upgrade(rq, i, UPGRADE_WS_CONSOLE, "websocket", accept);
}

void api_upgrade_fd(struct request *rq, api_fd_fn fn, void *userdata) {
        rq->fd_fn = fn;
        rq->fd_ud = userdata;
        upgrade(rq, NULL, UPGRADE_FD, VS_UPGRADE_FD, NULL);
}

/* ---- MHD callbacks ----------------------------------------------------- */

/* uid 0 and members of the socket group may talk to vsd; nobody else. */
static bool peer_allowed(struct api *a, struct MHD_Connection *conn) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
                return false;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return false;
        if (cred.uid == 0)
                return true;
        if (!a->have_group)
                return false;
        if (cred.gid == a->group)
                return true;
        gid_t groups[256];
        len = sizeof(groups);
        if (getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
                return false;
        for (size_t k = 0; k < len / sizeof(gid_t); k++)
                if (groups[k] == a->group)
                        return true;
        return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        struct api *a = cls;
        struct request *rq = *con_cls;

        if (!rq) {
                rq = calloc(1, sizeof(*rq));
                if (!rq)
                        return MHD_NO;
                rq->api = a;
                rq->conn = conn;
                *con_cls = rq;
                struct client *c = client_of(conn);
                rq->listener = c ? c->listener : LISTEN_METRICS; /* unknown: the least */
                rq->denied = rq->listener == LISTEN_SOCKET && !peer_allowed(a, conn);
                if (c)
                        c->requests++;
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                if (!rq->too_big && !rq->denied) {
                        if (rq->len + *upload_data_size > VS_MAX_BODY) {
                                rq->too_big = true;
                                free(rq->body);
                                rq->body = NULL;
                        } else {
                                char *n = realloc(rq->body, rq->len + *upload_data_size + 1);
                                if (!n)
                                        return MHD_NO;
                                rq->body = n;
                                memcpy(rq->body + rq->len, upload_data, *upload_data_size);
                                rq->len += *upload_data_size;
                                rq->body[rq->len] = '\0';
                        }
                }
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (rq->ready) { /* resumed after waiting */
                struct MHD_Response *r = rq->ready;
                rq->ready = NULL;
                MHD_queue_response(conn, rq->ready_status, r);
                MHD_destroy_response(r);
                return MHD_YES;
        }
        if (rq->answered)
                return MHD_YES;

        vs_error err = { 0 };
        if (rq->listener == LISTEN_DASHBOARD) {
                /* the token first: nothing else is said to a stranger */
                unsigned status = 0;
                struct MHD_Response *resp = NULL;
                if (dash_request(a->dash, conn, method, url, rq->body ? rq->body : "", rq->len, &status, &resp) ==
                    DASH_ANSWERED)
                        queue(rq, status, resp);
                else if (rq->too_big) {
                        vs_err_msg(&err, E2BIG, "request body larger than %d bytes", VS_MAX_BODY);
                        api_reply_error(rq, &err);
                } else
                        routes_dispatch(rq, method, url, rq->body ? rq->body : "", rq->len);
        } else if (rq->denied) {
                vs_err_msg(&err, EACCES, "permission denied: only root and the '%s' group may use vsd",
                           a->vsd->set.socket_group);
                api_reply_error(rq, &err);
        } else if (rq->too_big) {
                vs_err_msg(&err, E2BIG, "request body larger than %d bytes", VS_MAX_BODY);
                api_reply_error(rq, &err);
        } else if (streq(url, "/metrics") && streq(method, "GET")) {
                serve_metrics(rq);
        } else if (rq->listener == LISTEN_METRICS) {
                vs_err_msg(&err, ENOENT, "only GET /metrics is served on this listener");
                api_reply_error(rq, &err);
        } else
                routes_dispatch(rq, method, url, rq->body ? rq->body : "", rq->len);
        if (!rq->answered) {
                vs_err_msg(&err, EIO, "internal error: request not answered");
                api_reply_error(rq, &err);
        }
        return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
        struct request *rq = *con_cls;
        if (!rq)
                return;
        struct client *c = client_of(conn);
        if (c && c->requests > 0)
                c->requests--;
        if (rq->waiting_on) {
                inst_waiter_cancel(rq->waiting_on, &rq->waiter);
                unlink_waiting(rq);
        }
        if (rq->metrics) {
                metrics_job_cancel(rq->metrics);
                rq->metrics = NULL;
                unlink_waiting(rq);
        }
        if (rq->ready)
                MHD_destroy_response(rq->ready);
        json_decref(rq->ok_body);
        strv_free(rq->exec.argv);
        strv_free(rq->exec.env);
        free(rq->fd_ud); /* an fd upgrade that never happened */
        free(rq->body);
        free(rq);
        *con_cls = NULL;
}

static int on_mhd(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct api *a = userdata;
        MHD_run(a->mhd);
        return 0;
}

static int prepare(void *userdata) {
        struct api *a = userdata;
        MHD_UNSIGNED_LONG_LONG t;
        if (a->resumed) {
                a->resumed = false;
                MHD_run(a->mhd);
        }
        if (MHD_get_timeout(a->mhd, &t) != MHD_YES)
                return -1;
        if (t == 0) {
                MHD_run(a->mhd);
                if (MHD_get_timeout(a->mhd, &t) != MHD_YES)
                        return -1;
        }
        return t > 60000 ? 60000 : (int) t;
}

/* ---- the socket -------------------------------------------------------- */

static int bind_socket(struct api *a, const char *path, vs_error *err) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path))
                return vs_err_msg(err, ENAMETOOLONG, "socket path too long: %s", path);
        strcpy(sa.sun_path, path);

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return vs_err(err, errno, "create socket");
        /* The caller holds the socket's lock (main.c): no other vsd serves
         * this path.  A socket file there is a dead daemon's, even one that
         * still answers (a copy of its listening socket in some process):
         * a new one takes the path. */
        (void) unlink(path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return vs_err(err, errno, "bind %s", path);
        struct group *g = getgrnam(a->vsd->set.socket_group);
        if (g) {
                a->group = g->gr_gid;
                a->have_group = true;
        }
        if (chown(path, 0, a->have_group ? a->group : 0) < 0 || chmod(path, 0660) < 0) {
                int r = vs_err(err, errno, "set owner and mode of %s", path);
                unlink(path);
                return r;
        }
        if (listen(fd, 128) < 0) {
                int r = vs_err(err, errno, "listen on %s", path);
                unlink(path);
                return r;
        }
        a->listen_fd = TAKE_FD(fd);
        return 0;
}

/* [metrics] or [dashboard] listen: a numeric address and port,
 * "127.0.0.1:9177" or "[::1]:9177". */
static int bind_tcp(struct api *a, const char *spec, int *ret_fd, struct loop_source **ret_src, vs_error *err) {
        char host[64];
        const char *colon = strrchr(spec, ':');
        size_t hl = colon ? (size_t) (colon - spec) : 0;
        if (!colon || hl == 0 || hl >= sizeof(host))
                return vs_err_msg(err, EINVAL, "invalid listen address '%.60s'", spec);
        memcpy(host, spec, hl);
        host[hl] = '\0';
        if (host[0] == '[' && host[hl - 1] == ']') {
                memmove(host, host + 1, hl - 2);
                host[hl - 2] = '\0';
        }
        struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM },
                        *ai = NULL;
        int g = getaddrinfo(host, colon + 1, &hints, &ai);
        if (g != 0)
                return vs_err_msg(err, EINVAL, "invalid listen address '%.60s': %s", spec, gai_strerror(g));
        _cleanup_close_ int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int r = 0;
        if (fd < 0)
                r = vs_err(err, errno, "create a socket for %s", spec);
        else {
                (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
                if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
                        r = vs_err(err, errno, "bind %s", spec);
                else if (listen(fd, 64) < 0)
                        r = vs_err(err, errno, "listen on %s", spec);
        }
        freeaddrinfo(ai);
        if (r < 0)
                return r;
        r = loop_add_fd(a->vsd->loop, fd, EPOLLIN, on_listen, a, ret_src);
        if (r < 0)
                return vs_err(err, -r, "watch %s", spec);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* [dashboard] listen: never without its token (dashboard.h).  Like the
 * metrics listener, a failure is a degraded subsystem, not a failed start. */
static void dashboard_start(struct api *a) {
        const struct dashboard_settings *s = &a->vsd->set.dashboard;
        vs_error err = { 0 };
        if (dash_open(s->token_file, &a->dash, &err) < 0) {
                health_degraded(a->vsd, "dashboard", "the web dashboard is off", &err);
                return;
        }
        if (bind_tcp(a, s->listen, &a->dashboard_fd, &a->dashboard_src, &err) < 0) {
                dash_free(a->dash);
                a->dash = NULL;
                health_degraded(a->vsd, "dashboard", "the web dashboard is off", &err);
                return;
        }
        log_info("Serving the dashboard on %s (token in %s)", s->listen, s->token_file);
}

int api_start(struct vsd *v, vs_error *err) {
        struct api *a = calloc(1, sizeof(*a));
        if (!a)
                return vs_err(err, ENOMEM, "start API");
        a->vsd = v;
        a->listen_fd = -EBADF;
        a->metrics_fd = -EBADF;
        a->dashboard_fd = -EBADF;
        int r = bind_socket(a, v->set.socket, err);
        if (r < 0) {
                free(a);
                return r;
        }
        /* vsd accepts itself (on_listen: MHD's accept policy callback sees
         * an address, which on a Unix socket says nothing of who connects)
         * and hands each admitted connection to MHD.  MHD's own limit is a
         * backstop above ours: an evicted connection holds its place in
         * MHD until MHD has run. */
        const struct api_settings *as = &v->set.api;
        unsigned idle_s = (unsigned) ((as->idle_timeout_ms + 999) / 1000);
        a->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_NO_LISTEN_SOCKET,
                                  0, NULL, NULL, on_request, a, MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
                                  MHD_OPTION_NOTIFY_CONNECTION, on_connection, a, MHD_OPTION_CONNECTION_LIMIT,
                                  (unsigned) (as->max_connections + 128), MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
                                  MHD_OPTION_END);
        if (!a->mhd) {
                close(a->listen_fd);
                unlink(v->set.socket);
                free(a);
                return vs_err_msg(err, EIO, "cannot start the HTTP server on %s", v->set.socket);
        }
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        r = di ? loop_add_fd(v->loop, di->epoll_fd, EPOLLIN, on_mhd, a, &a->src) : -EIO;
        if (r >= 0) {
                r = loop_add_fd(v->loop, a->listen_fd, EPOLLIN, on_listen, a, &a->listen_src);
                if (r < 0) {
                        loop_remove(a->src);
                        a->src = NULL;
                }
        }
        if (r < 0) {
                MHD_stop_daemon(a->mhd);
                close(a->listen_fd);
                unlink(v->set.socket);
                free(a);
                return vs_err(err, -r, "watch the HTTP server");
        }
        loop_set_prepare(v->loop, prepare, a);
        v->api = a;
        /* the API serves without it: GET /metrics stays on the socket */
        if (v->set.metrics.listen[0]) {
                vs_error merr = { 0 };
                if (bind_tcp(a, v->set.metrics.listen, &a->metrics_fd, &a->metrics_src, &merr) < 0)
                        health_degraded(v, "metrics", "GET /metrics is served on the API socket only", &merr);
                else
                        log_info("Serving GET /metrics on %s", v->set.metrics.listen);
        }
        if (v->set.dashboard.listen[0])
                dashboard_start(a);
        return 0;
}

void api_stop(struct vsd *v) {
        struct api *a = v->api;
        if (!a)
                return;
        /* MHD frees the handles of upgraded connections when it stops:
         * their sessions end first */
        upgraded_end_all(a);
        /* MHD refuses to stop with suspended connections: answer them */
        vs_error err = { 0 };
        vs_err_msg(&err, ESHUTDOWN, "vsd is shutting down");
        while (a->waiting) {
                struct request *rq = a->waiting;
                a->waiting = rq->next_waiting;
                if (rq->waiting_on)
                        inst_waiter_cancel(rq->waiting_on, &rq->waiter);
                rq->waiting_on = NULL;
                metrics_job_cancel(rq->metrics);
                rq->metrics = NULL;
                rq->ready_status = 503;
                rq->ready = json_response(error_json(&err));
                MHD_resume_connection(rq->conn);
        }
        /* Event streams send what they still hold and end (the bus wakes
         * and resumes them): give them a moment, but not forever. */
        ev_bus_close(a->vsd->events);
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        for (int k = 0; k < 100 && a->n_streams > 0 && di; k++) {
                MHD_run(a->mhd);
                (void) poll(&(struct pollfd){ .fd = di->epoll_fd, .events = POLLIN }, 1, 10);
        }
        MHD_run(a->mhd);
        loop_set_prepare(v->loop, NULL, NULL);
        loop_remove(a->src);
        loop_remove(a->listen_src);
        loop_remove(a->metrics_src);
        loop_remove(a->dashboard_src);
        loop_remove(a->accept_retry);
        MHD_stop_daemon(a->mhd);
        /* MHD_stop_daemon() told on_connection() of every close */
        while (a->clients)
                client_unlink(a, a->clients);
        free(a->uids);
        close(a->listen_fd);
        safe_close(&a->metrics_fd);
        safe_close(&a->dashboard_fd);
        dash_free(a->dash);
        unlink(v->set.socket);
        free(a);
        v->api = NULL;
}

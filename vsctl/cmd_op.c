/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Long operations (snapshots, restores, clones, template builds):
 *   vsctl op [list] [--json]
 *   vsctl op show ID [--json]
 *   vsctl op wait ID [--json]
 *   vsctl op cancel ID [--json]
 * and what the commands that start one share: following it to its end with
 * its progress on stderr (a bar on a terminal, a line per tenth otherwise).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/proto.h"
#include "base/util.h"
#include "vsctl/http.h"
#include "vsctl/vsctl.h"

struct follow {
        struct vsctl *ctx;
        const char *what;    /* "snapshot s1 of web": for the progress lines */
        json_t *last;        /* the last state seen */
        bool bar;            /* stderr is a terminal: one line redrawn */
        bool bar_drawn;
        int tenth_shown;     /* plain lines: the last tenth printed */
        char phase[32];      /* the phase last shown */
        time_t started;
};

static void show_progress(struct follow *f, json_t *op) {
        json_t *p = json_object_get(op, "progress");
        uint64_t done = out_get_u64(p, "done"), total = out_get_u64(p, "total"), rate = out_get_u64(p, "rate");
        const char *phase = out_get_str(p, "phase");
        if (phase && !*phase)
                phase = NULL; /* an operation of one step says none */
        if (!p || f->ctx->json)
                return;
        /* a move says which step it is in: a line each (a bar's label) */
        char what[400];
        bool new_phase = phase && !streq(phase, f->phase);
        if (new_phase) {
                snprintf(f->phase, sizeof(f->phase), "%s", phase);
                f->tenth_shown = 0;
        }
        if (phase)
                snprintf(what, sizeof(what), "%s (%s)", f->what, phase);
        else
                snprintf(what, sizeof(what), "%s", f->what);
        if (!total) {
                if (new_phase && f->bar) {
                        fprintf(stderr, "\r%s\033[K", what);
                        f->bar_drawn = true;
                } else if (new_phase)
                        fprintf(stderr, "%s\n", what);
                fflush(stderr);
                return;
        }
        unsigned pct = (unsigned) (done >= total ? 100 : done * 100 / total);
        char d[16], t[16], r[32] = "";
        /* a boot counts instances, the copies bytes */
        if (streq(out_get_str(op, "kind"), "boot")) {
                snprintf(d, sizeof(d), "%" PRIu64, done);
                snprintf(t, sizeof(t), "%" PRIu64 " instances", total);
        } else {
                out_size(done, d, sizeof(d));
                out_size(total, t, sizeof(t));
                if (rate) {
                        char rs[16];
                        out_size(rate, rs, sizeof(rs));
                        snprintf(r, sizeof(r), ", %s/s", rs);
                }
        }
        if (f->bar) {
                char bar[31];
                unsigned n = pct * 30 / 100;
                memset(bar, '#', n);
                memset(bar + n, '.', 30 - n);
                bar[30] = '\0';
                fprintf(stderr, "\r%s [%s] %3u%% %s of %s%s\033[K", what, bar, pct, d, t, r);
                f->bar_drawn = true;
        } else {
                /* a line per tenth, once the copy has run a second: a short
                 * one says nothing */
                int tenth = (int) (pct / 10);
                if (tenth <= f->tenth_shown || time(NULL) - f->started < 1)
                        return;
                f->tenth_shown = tenth;
                fprintf(stderr, "%s: %u%% (%s of %s%s)\n", what, pct, d, t, r);
        }
        fflush(stderr);
}

static int follow_line(void *userdata, const char *s, size_t n) {
        struct follow *f = userdata;
        if (n == 0)
                return 0;
        json_t *j = json_loadb(s, n, 0, NULL);
        if (!json_is_object(j)) {
                json_decref(j);
                return -EBADMSG;
        }
        json_decref(f->last);
        f->last = j;
        show_progress(f, j);
        return 0;
}

int vsctl_op_follow(struct vsctl *ctx, const char *id, const char *what, json_t **ret, vs_error *err) {
        _cleanup_free_ char *esc = http_escape_segment(id);
        char *path = NULL;
        if (!esc || asprintf(&path, VS_API_PREFIX "/operations/%s?follow=1", esc) < 0)
                return vs_err(err, ENOMEM, "follow operation %s", id);
        _cleanup_free_ char *p = path;
        _cleanup_close_ int fd = http_connect(ctx->socket, err);
        vs_http_head h;
        if (fd < 0 || http_send_request(fd, "GET", path, NULL, NULL, 0, err) < 0 || http_read_head(fd, &h, err) < 0)
                return -err->code;
        if (h.status < 200 || h.status > 299) {
                _cleanup_free_ char *body = NULL;
                size_t len = 0;
                if (http_read_body(fd, &h, &body, &len, err) >= 0)
                        http_error_from_body(h.status, h.reason, body, len, err);
                return -err->code;
        }
        struct follow f = { .ctx = ctx, .what = what, .bar = isatty(STDERR_FILENO), .started = time(NULL) };
        /* a copy may not move for a long while (a directory layer shows no
         * figure): only a daemon that stops answering ends the wait */
        http_wait_on(ctx->socket);
        int r = http_read_lines(fd, &h, "the operation's progress", follow_line, &f, err);
        http_wait_on(NULL);
        if (f.bar_drawn)
                fputc('\n', stderr);
        if (r < 0) {
                json_decref(f.last);
                return r;
        }
        const char *state = out_get_str(f.last, "state");
        if (!f.last || streq(state, "running")) {
                json_decref(f.last);
                return vs_err_msg(err, EIO, "vsd ended operation %s's progress without saying how it ended", id);
        }
        *ret = f.last;
        return 0;
}

int vsctl_op_post(struct vsctl *ctx, char *base, json_t *body, bool detach, const char *what, json_t **ret_final,
                  vs_error *err) {
        char *path = NULL;
        if (!base || asprintf(&path, "%s?detach=1", base) < 0)
                path = NULL;
        free(base);
        json_t *answer = NULL;
        if (vsctl_call(ctx, "POST", path, body, &answer, err) < 0)
                return -1;
        json_auto_t *op = answer;
        const char *id = out_get_str(op, "id");
        if (!id[0])
                return vs_err_msg(err, EBADMSG, "vsd did not name the operation it started");
        if (detach) {
                if (ctx->json ? out_json(op) < 0 : printf("%s\n", id) < 0)
                        return vs_err_msg(err, EIO, "could not write the operation's id");
                return 1;
        }
        if (vsctl_op_follow(ctx, id, what, ret_final, err) < 0 || vsctl_op_result(*ret_final, err) < 0)
                return -1;
        return 0;
}

int vsctl_op_result(json_t *op, vs_error *err) {
        if (streq(out_get_str(op, "state"), "succeeded"))
                return 0;
        json_t *code = json_object_get(op, "code");
        return vs_err_msg(err, json_is_integer(code) ? (int) json_integer_value(code) : EIO, "%s",
                          out_get_str(op, "error"));
}

static char *op_path(const char *id, const char *query) {
        _cleanup_free_ char *esc = http_escape_segment(id);
        char *path = NULL;
        if (!esc || asprintf(&path, VS_API_PREFIX "/operations/%s%s", esc, query ? query : "") < 0)
                return NULL;
        return path;
}

static void progress_cell(json_t *op, char *buf, size_t len) {
        json_t *p = json_object_get(op, "progress");
        uint64_t done = out_get_u64(p, "done"), total = out_get_u64(p, "total");
        const char *phase = streq(out_get_str(op, "state"), "running") ? out_get_str(p, "phase") : "";
        /* a running move's step before its figure: "final copy 40%" */
        if (total)
                snprintf(buf, len, "%s%s%u%%", phase, phase[0] ? " " : "",
                         (unsigned) (done >= total ? 100 : done * 100 / total));
        else
                snprintf(buf, len, "%s", phase[0] ? phase : "-");
}

static int op_list(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, VSCTL_LONGOPT_JSON, {} };
        static const char *const headers[] = { "ID", "KIND", "TARGET", "OBJECT", "STATE", "PROGRESS", "ERROR" };
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if ((ex = vsctl_check_args(argv[0], argc, argv, 0, 0)))
                return ex;
        vs_error err = {};
        json_auto_t *list = NULL;
        if (vsctl_get_list(ctx, strdup(VS_API_PREFIX "/operations"), "operations", &list, &err) < 0)
                return vsctl_fail(&err);
        if (ctx->json)
                return out_json(list) < 0 ? VSCTL_EXIT_FAILURE : VSCTL_EXIT_OK;
        _cleanup_table_ struct out_table *t = out_table_new(ELEMENTSOF(headers), headers);
        if (!t)
                goto oom;
        size_t i;
        json_t *o;
        json_array_foreach(list, i, o) {
                char pct[48];
                progress_cell(o, pct, sizeof(pct));
                const char *object = out_get_str(o, "object");
                if (out_table_add(t, (const char *const[]) { out_get_str(o, "id"), out_get_str(o, "kind"),
                                                             out_get_str(o, "target"), object[0] ? object : "-",
                                                             out_get_str(o, "state"), pct,
                                                             out_get_str(o, "error") }) < 0)
                        goto oom;
        }
        out_table_print(t, stdout);
        return VSCTL_EXIT_OK;
oom:
        vs_err(&err, ENOMEM, "cannot format the operations");
        return vsctl_fail(&err);
}

static void print_op(json_t *o) {
        char pct[48];
        progress_cell(o, pct, sizeof(pct));
        const char *object = out_get_str(o, "object");
        printf("%s %s of %s%s%s: %s, %s%s%s\n", out_get_str(o, "id"), out_get_str(o, "kind"), out_get_str(o, "target"),
               object[0] ? " making " : "", object, out_get_str(o, "state"), pct,
               json_object_get(o, "error") ? ": " : "", out_get_str(o, "error"));
}

/* show, wait and cancel: ID [--json] */
static int op_one(struct vsctl *ctx, int argc, char **argv, const char *verb) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, VSCTL_LONGOPT_JSON, {} };
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if (optind >= argc)
                return vsctl_usage_error(argv[0], "missing operation id");
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;
        const char *id = argv[optind];
        vs_error err = {};
        json_t *op = NULL;
        if (streq(verb, "show")) {
                if (vsctl_call(ctx, "GET", op_path(id, NULL), NULL, &op, &err) < 0)
                        return vsctl_fail(&err);
        } else {
                if (streq(verb, "cancel")) {
                        if (vsctl_call(ctx, "DELETE", op_path(id, NULL), NULL, &op, &err) < 0)
                                return vsctl_fail(&err);
                        json_decref(op);
                        op = NULL;
                }
                /* wait, and a cancel waits for the work to be gone */
                char what[64];
                snprintf(what, sizeof(what), "operation %s", id);
                if (vsctl_op_follow(ctx, id, what, &op, &err) < 0)
                        return vsctl_fail(&err);
        }
        if (ctx->json) {
                int r = out_json(op) < 0 ? VSCTL_EXIT_FAILURE : VSCTL_EXIT_OK;
                json_decref(op);
                return r;
        }
        if (streq(verb, "show"))
                print_op(op);
        int r = VSCTL_EXIT_OK;
        /* wait: the operation's own outcome; cancel: it ended cancelled
         * (or it ended some other way first, which is said) */
        if (streq(verb, "wait") && vsctl_op_result(op, &err) < 0)
                r = vsctl_fail(&err);
        else if (streq(verb, "cancel") && !streq(out_get_str(op, "state"), "cancelled")) {
                vs_err_msg(&err, EALREADY, "operation %s %s before it could be cancelled", id, out_get_str(op, "state"));
                r = vsctl_fail(&err);
        }
        json_decref(op);
        return r;
}

static int op_show(struct vsctl *ctx, int argc, char **argv) {
        return op_one(ctx, argc, argv, "show");
}

static int op_wait(struct vsctl *ctx, int argc, char **argv) {
        return op_one(ctx, argc, argv, "wait");
}

static int op_cancel(struct vsctl *ctx, int argc, char **argv) {
        return op_one(ctx, argc, argv, "cancel");
}

static const struct {
        const char *name;
        int (*fn)(struct vsctl *ctx, int argc, char **argv);
} subcommands[] = {
        { "list", op_list },
        { "show", op_show },
        { "wait", op_wait },
        { "cancel", op_cancel },
};

int cmd_op(struct vsctl *ctx, int argc, char **argv) {
        if (argc >= 2 && (streq(argv[1], "-h") || streq(argv[1], "--help"))) {
                vsctl_print_usage(stdout, argv[0]);
                return VSCTL_EXIT_OK;
        }
        /* "vsctl op" and "vsctl op --json" list */
        if (argc < 2 || argv[1][0] == '-')
                return op_list(ctx, argc, argv);
        for (size_t k = 0; k < ELEMENTSOF(subcommands); k++)
                if (streq(subcommands[k].name, argv[1])) {
                        argv[1] = argv[0];
                        return subcommands[k].fn(ctx, argc - 1, argv + 1);
                }
        return vsctl_usage_error(argv[0], "unknown subcommand '%s' (list, show, wait or cancel)", argv[1]);
}

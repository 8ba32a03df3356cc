/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vsctl template list [--json]
 * vsctl template build NAME [--from BUILDER] [--json]
 * vsctl template remove NAME
 * vsctl template info NAME [--json]
 * vsctl template import FILE [--json]
 * (vsctl templates = vsctl template list)
 *
 * A build answers with its progress as newline-delimited JSON; each line is
 * printed as it comes and the last one says how it ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "base/proto.h"
#include "base/util.h"
#include "vsctl/http.h"
#include "vsctl/vsctl.h"

static char *template_path(const char *name, const char *action) {
        _cleanup_free_ char *esc = http_escape_segment(name);
        char *p;
        if (!esc || asprintf(&p, VS_API_PREFIX "/templates/%s%s%s", esc, action ? "/" : "", action ? action : "") < 0)
                return NULL;
        return p;
}

static int template_list(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, VSCTL_LONGOPT_JSON, {} };
        static const char *const headers[] = { "NAME", "OS", "INSTANCES", "SIZE", "DESCRIPTION" };
        int c, ex;

        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if ((ex = vsctl_check_args(argv[0], argc, argv, 0, 0)))
                return ex;

        vs_error err = {};
        json_auto_t *list = NULL;
        if (vsctl_get_list(ctx, strdup(VS_API_PREFIX "/templates"), "templates", &list, &err) < 0)
                return vsctl_fail(&err);
        if (ctx->json)
                return out_json(list) < 0 ? VSCTL_EXIT_FAILURE : VSCTL_EXIT_OK;

        _cleanup_table_ struct out_table *t = out_table_new(ELEMENTSOF(headers), headers);
        if (!t)
                goto oom;
        out_table_align_right(t, 2);
        out_table_align_right(t, 3);
        size_t i;
        json_t *tmpl;
        json_array_foreach(list, i, tmpl) {
                char users[16], size[32];
                const char *os = out_get_str(tmpl, "os");
                snprintf(users, sizeof(users), "%zu", json_array_size(json_object_get(tmpl, "instances")));
                /* null: the daemon is still measuring a template of an older vsd */
                if (json_is_integer(json_object_get(tmpl, "size")))
                        out_size(out_get_u64(tmpl, "size"), size, sizeof(size));
                else
                        snprintf(size, sizeof(size), "-");
                const char *row[] = { out_get_str(tmpl, "name"), *os ? os : "-", users, size,
                                      out_get_str(tmpl, "description") };
                if (out_table_add(t, row) < 0)
                        goto oom;
        }
        out_table_print(t, stdout);
        return VSCTL_EXIT_OK;

oom:
        vs_err(&err, ENOMEM, "cannot format the list");
        return vsctl_fail(&err);
}

struct build_out {
        struct vsctl *ctx;
        bool ended;
        bool ok;
        vs_error err;
};

static int build_line(void *userdata, const char *s, size_t n) {
        struct build_out *bo = userdata;
        if (n == 0)
                return 0;
        if (bo->ctx->json) {
                fwrite(s, 1, n, stdout);
                fputc('\n', stdout);
        }
        json_auto_t *j = json_loadb(s, n, 0, NULL);
        json_t *ok = json_object_get(j, "ok");
        if (json_is_boolean(ok)) {
                bo->ended = true;
                bo->ok = json_is_true(ok);
                if (!bo->ok)
                        vs_err_msg(&bo->err, EIO, "%s", out_get_str(j, "error"));
                else if (!bo->ctx->json)
                        printf("Template %s built\n", out_get_str(j, "template"));
        } else if (!bo->ctx->json && json_is_string(json_object_get(j, "progress")))
                printf("%s\n", out_get_str(j, "progress"));
        /* progress is worth seeing as it happens, in a pipe or a file too */
        return fflush(stdout) != 0 ? -errno : 0;
}

static int template_build(struct vsctl *ctx, int argc, char **argv) {
        enum { OPT_FROM = 0x200, OPT_DETACH };
        static const struct option opts[] = {
                { "from", required_argument, NULL, OPT_FROM },
                { "detach", no_argument, NULL, OPT_DETACH },
                VSCTL_LONGOPT_HELP,
                VSCTL_LONGOPT_JSON,
                {},
        };
        const char *from = NULL;
        bool detach = false;
        int c, ex;

        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1) {
                if (c == -2)
                        return ex;
                if (c == OPT_FROM)
                        from = optarg;
                if (c == OPT_DETACH)
                        detach = true;
        }
        if (optind >= argc)
                return vsctl_usage_error(argv[0], "missing template name");
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;

        vs_error err = {};
        _cleanup_free_ char *base = template_path(argv[optind], "build");
        char *path = NULL;
        if (base && asprintf(&path, "%s%s", base, detach ? "?detach=1" : "") < 0)
                path = NULL;
        json_auto_t *body = json_object();
        if (!path || !body || (from && !vsctl_set(body, "builder", json_string(from)))) {
                vs_err(&err, ENOMEM, "cannot build request");
                return vsctl_fail(&err);
        }
        if (detach) {
                json_t *op = NULL;
                if (vsctl_call(ctx, "POST", path, json_incref(body), &op, &err) < 0)
                        return vsctl_fail(&err);
                json_auto_t *o = op;
                if (ctx->json)
                        return out_json(o) < 0 ? VSCTL_EXIT_FAILURE : VSCTL_EXIT_OK;
                printf("%s\n", out_get_str(o, "id"));
                return VSCTL_EXIT_OK;
        }
        _cleanup_free_ char *owned = path;
        _cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
        _cleanup_close_ int fd = http_connect(ctx->socket, &err);
        vs_http_head h;
        if (fd < 0 || !text || http_send_request(fd, "POST", path, NULL, text, strlen(text), &err) < 0 ||
            http_read_head(fd, &h, &err) < 0)
                return vsctl_fail(&err);
        if (h.status < 200 || h.status > 299) {
                _cleanup_free_ char *answer = NULL;
                size_t len = 0;
                if (http_read_body(fd, &h, &answer, &len, &err) >= 0)
                        http_error_from_body(h.status, h.reason, answer, len, &err);
                return vsctl_fail(&err);
        }
        struct build_out bo = { .ctx = ctx };
        /* a builder may be quiet for minutes (a big download, packing the
         * result): only a daemon that stops answering ends the wait */
        http_wait_on(ctx->socket);
        int r = http_read_lines(fd, &h, "the build's progress stream", build_line, &bo, &err);
        http_wait_on(NULL);
        if (r < 0)
                return vsctl_fail(&err);
        if (!bo.ended) {
                vs_err_msg(&err, EIO, "vsd ended the build's progress without saying how the build ended");
                return vsctl_fail(&err);
        }
        return bo.ok ? VSCTL_EXIT_OK : vsctl_fail(&bo.err);
}

static int template_remove(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, {} };
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if (optind >= argc)
                return vsctl_usage_error(argv[0], "missing template name");
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;
        vs_error err = {};
        if (vsctl_call(ctx, "DELETE", template_path(argv[optind], NULL), NULL, NULL, &err) < 0)
                return vsctl_fail(&err);
        return VSCTL_EXIT_OK;
}

/* One template, with its content id (what a move compares). */
static int template_info(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, VSCTL_LONGOPT_JSON, {} };
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if (optind >= argc)
                return vsctl_usage_error(argv[0], "missing template name");
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;
        vs_error err = {};
        json_t *t = NULL;
        if (vsctl_call(ctx, "GET", template_path(argv[optind], NULL), NULL, &t, &err) < 0)
                return vsctl_fail(&err);
        if (ctx->json)
                return vsctl_done(ctx, t);
        static const char *const keys[] = { "name", "os", "description", "init", "content_id" };
        for (size_t k = 0; k < ELEMENTSOF(keys); k++)
                printf("%-12s %s\n", keys[k],
                       json_is_null(json_object_get(t, keys[k])) ? "(being computed)" : out_get_str(t, keys[k]));
        printf("%-12s %zu\n", "instances", json_array_size(json_object_get(t, "instances")));
        json_decref(t);
        return VSCTL_EXIT_OK;
}

/* A template's archive (as a move sends it) from FILE ("-": standard
 * input), whose descriptor goes to vsd as an import's does. */
static int template_import(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, VSCTL_LONGOPT_JSON, {} };
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;
        json_t *final = NULL;
        if ((ex = vsctl_pass_archive(ctx, argv[0], argv[optind], VS_API_PREFIX "/templates", "template import", &final)))
                return ex;
        if (!ctx->json)
                printf("%s\n", out_get_str(final, "object"));
        return vsctl_done(ctx, final);
}

static const struct {
        const char *name;
        int (*fn)(struct vsctl *ctx, int argc, char **argv);
} subcommands[] = {
        { "list", template_list },
        { "build", template_build },
        { "remove", template_remove },
        { "info", template_info },
        { "import", template_import },
};

int cmd_template(struct vsctl *ctx, int argc, char **argv) {
        if (argc < 2 || streq(argv[1], "-h") || streq(argv[1], "--help")) {
                if (argc < 2)
                        return vsctl_usage_error(argv[0], "missing subcommand (list, build, remove, info or import)");
                vsctl_print_usage(stdout, argv[0]);
                return VSCTL_EXIT_OK;
        }
        for (size_t k = 0; k < ELEMENTSOF(subcommands); k++)
                if (streq(subcommands[k].name, argv[1])) {
                        /* the subcommand sees "template ARGS...": its errors
                         * name the command that has the help */
                        argv[1] = argv[0];
                        return subcommands[k].fn(ctx, argc - 1, argv + 1);
                }
        return vsctl_usage_error(argv[0], "unknown subcommand '%s' (list, build, remove, info or import)", argv[1]);
}

int cmd_templates(struct vsctl *ctx, int argc, char **argv) {
        return template_list(ctx, argc, argv);
}

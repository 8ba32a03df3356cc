/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vsctl events [NAME] [--since SEQ | --past] [--follow | --no-follow] [--json]
 *
 * Without --past vsctl follows the stream; with it, it shows the past and
 * ends, unless --follow asks for what comes next too.  The daemon streams newline-delimited JSON (chunked) for as long as we
 * stay; each line is printed as it comes, one line per event, flushed at
 * once so that a pipe or a file sees it at once too.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/proto.h"
#include "base/util.h"
#include "vsctl/http.h"
#include "vsctl/vsctl.h"

/* ---- human output ------------------------------------------------------- */

static void size_text(json_t *e, const char *key, char *buf, size_t len) {
        uint64_t v = out_get_u64(e, key);
        if (v)
                out_size(v, buf, len);
        else
                snprintf(buf, len, "none");
}

/* How init ended: " (SIGKILL)" / " (exit status 3)" / "". */
static void exit_text(json_t *e, char *buf, size_t len) {
        if (out_has(e, "signal"))
                snprintf(buf, len, " (%s)", out_get_str(e, "signal"));
        else if (out_has(e, "exit_status"))
                snprintf(buf, len, " (exit status %" PRIu64 ")", out_get_u64(e, "exit_status"));
        else
                buf[0] = '\0';
}

static void oom_text(json_t *e, char *buf, size_t len) {
        char limit[32], inside[48] = "";
        size_text(e, "memory_limit", limit, sizeof(limit));
        if (!out_has(e, "pid")) {
                snprintf(buf, len, "%" PRIu64 " process%s killed at limit %s (victim not in the kernel log)",
                         out_get_u64(e, "count"), out_get_u64(e, "count") == 1 ? "" : "es", limit);
                return;
        }
        if (out_has(e, "nspid"))
                snprintf(inside, sizeof(inside), ", pid %" PRIu64 " inside", out_get_u64(e, "nspid"));
        if (streq(out_get_str(e, "constraint"), "memcg"))
                snprintf(buf, len, "pid %" PRIu64 " (%s) killed at limit %s%s", out_get_u64(e, "pid"),
                         out_get_str(e, "command"), limit, inside);
        else
                snprintf(buf, len, "pid %" PRIu64 " (%s) killed by the host's OOM killer (%s)%s", out_get_u64(e, "pid"),
                         out_get_str(e, "command"), out_get_str(e, "constraint"), inside);
}

static void stopped_text(json_t *e, char *buf, size_t len) {
        static const struct {
                const char *how, *text;
        } hows[] = {
                { "halt", "halted" },
                { "killed", "killed on request" },
                { "killed-after-timeout", "killed after the stop timeout" },
                { "died", "init died" },
                { "halted-inside", "halted from inside" },
                { "rebooted-inside", "rebooted from inside" },
                { "while-vsd-was-away", "stopped while vsd was not running" },
        };
        const char *how = out_get_str(e, "how"), *text = how;
        char ex[48];
        for (size_t k = 0; k < ELEMENTSOF(hows); k++)
                if (streq(hows[k].how, how))
                        text = hows[k].text;
        exit_text(e, ex, sizeof(ex));
        snprintf(buf, len, "%s%s", text, ex);
}

static void died_text(json_t *e, char *buf, size_t len) {
        char ex[48];
        exit_text(e, ex, sizeof(ex));
        snprintf(buf, len, "init pid %" PRIu64 " ended%s", out_get_u64(e, "pid"), ex);
}

static void pid_text(json_t *e, char *buf, size_t len) {
        snprintf(buf, len, "init pid %" PRIu64, out_get_u64(e, "pid"));
}

static void created_text(json_t *e, char *buf, size_t len) {
        snprintf(buf, len, "from template %s", out_get_str(e, "template"));
}

static void limits_text(json_t *e, char *buf, size_t len) {
        const char *key;
        json_t *v;
        size_t n = 0;
        buf[0] = '\0';
        json_object_foreach(json_object_get(e, "changes"), key, v) {
                int w = snprintf(buf + n, len - n, "%s%s %s -> %s", n ? ", " : "", key, out_get_str(v, "from"),
                                 out_get_str(v, "to"));
                if (w < 0 || (size_t) w >= len - n)
                        break;
                n += (size_t) w;
        }
        if (n + 8 < len && json_is_true(json_object_get(e, "live")))
                snprintf(buf + n, len - n, " (live)");
}

static void pids_text(json_t *e, char *buf, size_t len) {
        snprintf(buf, len, "%" PRIu64 " fork%s refused at the limit of %" PRIu64 " processes", out_get_u64(e, "refused"),
                 out_get_u64(e, "refused") == 1 ? "" : "s", out_get_u64(e, "pids_limit"));
}

/* "tables vsd restored after nft (pid 1234) deleted them: 3 ports, 1 forward" */
static void firewall_text(json_t *e, char *buf, size_t len) {
        const char *reason = out_get_str(e, "reason"), *command = out_get_str(e, "command");
        char who[64] = "another process", why[96];
        if (*command && out_has(e, "pid"))
                snprintf(who, sizeof(who), "%s (pid %" PRIu64 ")", command, out_get_u64(e, "pid"));
        else if (out_has(e, "pid"))
                snprintf(who, sizeof(who), "pid %" PRIu64, out_get_u64(e, "pid"));
        if (streq(reason, "missing"))
                snprintf(why, sizeof(why), "found missing");
        else if (streq(reason, "events-lost"))
                snprintf(why, sizeof(why), "found missing after lost notifications");
        else
                snprintf(why, sizeof(why), "%s by %s",
                         json_is_true(json_object_get(e, "deleted")) ? "deleted" : "changed", who);
        uint64_t ports = out_get_u64(e, "ports"), fwds = out_get_u64(e, "forwards");
        snprintf(buf, len, "tables '%s' %s, restored: %" PRIu64 " port%s, %" PRIu64 " forward%s",
                 out_get_str(e, "table"), why, ports, ports == 1 ? "" : "s", fwds, fwds == 1 ? "" : "s");
}

static void lost_text(json_t *e, char *buf, size_t len) {
        snprintf(buf, len, "%" PRIu64 " events lost: this client fell behind", out_get_u64(e, "count"));
}

static const struct {
        const char *type;
        void (*text)(json_t *e, char *buf, size_t len);
} formats[] = {
        { "oom-kill", oom_text },     { "stopped", stopped_text },      { "died", died_text },
        { "started", pid_text },      { "adopted", pid_text },          { "created", created_text },
        { "limits-changed", limits_text }, { "pids-max", pids_text },  { "events-lost", lost_text },
        { "firewall-restored", firewall_text },
};

/* Fields every event has, left out of the generic details. */
static bool common_field(const char *key) {
        static const char *const common[] = { "seq", "time", "timestamp", "instance", "type" };
        for (size_t k = 0; k < ELEMENTSOF(common); k++)
                if (streq(common[k], key))
                        return true;
        return false;
}

static void print_event(const char *line, size_t len) {
        json_auto_t *e = json_loadb(line, len, 0, NULL);
        if (!json_is_object(e)) {
                fprintf(stderr, "vsctl: events: ignoring a line that is not a JSON object\n");
                return;
        }
        char when[32] = "-", details[1024] = "";
        double ts = out_get_double(e, "timestamp");
        if (ts > 0) {
                time_t t = (time_t) ts;
                struct tm tm;
                localtime_r(&t, &tm);
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        }
        const char *type = out_get_str(e, "type");
        size_t k = 0;
        while (k < ELEMENTSOF(formats) && !streq(formats[k].type, type))
                k++;
        if (k < ELEMENTSOF(formats))
                formats[k].text(e, details, sizeof(details));
        else {
                /* a type this vsctl does not know yet: its fields as they are */
                json_auto_t *rest = json_deep_copy(e);
                const char *key;
                json_t *v;
                void *tmp;
                json_object_foreach_safe(rest, tmp, key, v) if (common_field(key)) json_object_del(rest, key);
                _cleanup_free_ char *text = json_object_size(rest) ? json_dumps(rest, JSON_COMPACT) : NULL;
                snprintf(details, sizeof(details), "%s", text ? text : "");
        }
        const char *inst = out_get_str(e, "instance");
        printf("%s  %-12s  %-14s  %s\n", when, *inst ? inst : "-", type, details);
}

/* ---- the stream --------------------------------------------------------- */

static int emit_line(void *userdata, const char *s, size_t n) {
        struct vsctl *ctx = userdata;
        if (n == 0)
                return 0;
        if (ctx->json) {
                fwrite(s, 1, n, stdout);
                fputc('\n', stdout);
        } else
                print_event(s, n);
        /* whoever reads the output (a pipe, a file, a test) sees it now */
        if (fflush(stdout) != 0)
                return -errno;
        return 0;
}

int cmd_events(struct vsctl *ctx, int argc, char **argv) {
        enum { OPT_SINCE = 0x200, OPT_PAST, OPT_FOLLOW, OPT_NO_FOLLOW };
        static const struct option opts[] = {
                { "since", required_argument, NULL, OPT_SINCE },
                { "past", no_argument, NULL, OPT_PAST },
                { "follow", no_argument, NULL, OPT_FOLLOW },
                { "no-follow", no_argument, NULL, OPT_NO_FOLLOW },
                VSCTL_LONGOPT_HELP,
                VSCTL_LONGOPT_JSON,
                {},
        };
        const char *since = NULL;
        bool past = false, follow = true, follow_given = false, no_follow_given = false;
        int c, ex;

        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1) {
                if (c == -2)
                        return ex;
                if (c == OPT_SINCE)
                        since = optarg;
                else if (c == OPT_PAST)
                        past = true;
                else if (c == OPT_FOLLOW)
                        follow_given = true;
                else if (c == OPT_NO_FOLLOW)
                        no_follow_given = true;
        }
        if ((ex = vsctl_check_args(argv[0], argc, argv, 0, 1)))
                return ex;
        if (since && past)
                return vsctl_usage_error(argv[0], "--since and --past both say where to start: give one");
        if (follow_given && no_follow_given)
                return vsctl_usage_error(argv[0], "--follow and --no-follow contradict each other: give one");
        /* asking for the past is asking for a report that ends; --since
         * resumes a stream, which goes on */
        if (no_follow_given || (past && !follow_given))
                follow = false;
        const char *name = argv[optind];

        /* the daemon judges the values, with its own message */
        _cleanup_free_ char *esc = since ? http_escape_segment(since) : NULL;
        _cleanup_free_ char *base = name ? vsctl_instance_path(name, "events") : strdup(VS_API_PREFIX "/events");
        _cleanup_free_ char *path = NULL;
        vs_error err = {};
        if (!base || (since && !esc) ||
            asprintf(&path, "%s?follow=%d%s%s%s", base, follow, since ? "&since=" : "", since ? esc : "",
                     past ? "&past=1" : "") < 0) {
                vs_err(&err, ENOMEM, "cannot build request");
                return vsctl_fail(&err);
        }

        _cleanup_close_ int fd = http_connect(ctx->socket, &err);
        vs_http_head h;
        if (fd < 0 || http_send_request(fd, "GET", path, NULL, NULL, 0, &err) < 0 || http_read_head(fd, &h, &err) < 0)
                return vsctl_fail(&err);
        if (h.status < 200 || h.status > 299) {
                _cleanup_free_ char *body = NULL;
                size_t len = 0;
                if (http_read_body(fd, &h, &body, &len, &err) >= 0)
                        http_error_from_body(h.status, h.reason, body, len, &err);
                return vsctl_fail(&err);
        }
        /* answered: from here on the stream is quiet for as long as
         * nothing happens */
        http_no_timeout(fd);
        if (http_read_lines(fd, &h, "the event stream", emit_line, ctx, &err) < 0)
                return vsctl_fail(&err);
        return VSCTL_EXIT_OK;
}

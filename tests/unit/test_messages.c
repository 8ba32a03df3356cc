/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a person reads: an error or warning is one line of UTF-8, whatever
 * bytes went into it (a request body, a field name cut to fit, a child's
 * report).  The API sends messages as JSON strings, and jansson takes only
 * valid UTF-8: a message it refuses left the client with a closed
 * connection and no answer.  The cases here are those `make fuzz` found.
 */

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/error.h"
#include "tests/unit/check.h"
#include "vsd/api/api-internal.h"
#include "vsd/conf/settings.h"
#include "vsd/start/sync.h"

/* One line, no control character (C0, DEL, C1), and text jansson takes. */
static bool one_line_utf8(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
                        return false;
        json_t *j = json_string(s);
        json_decref(j);
        return j != NULL;
}

static void vs_err_messages(void) {
        vs_error err = { 0 };
        vs_err_msg(&err, EINVAL, "unknown field '%s'", "a\nb\rc\033[31md");
        CHECK("control characters leave a message", one_line_utf8(err.msg) && strstr(err.msg, "unknown field 'a"),
              "got '%s'", err.msg);

        /* "%.40s" of a field name whose 40th byte is inside a character */
        char key[64];
        memset(key, 'k', 39);
        strcpy(key + 39, "\xc3\xa9tail");
        vs_err_msg(&err, EINVAL, "unknown field '%.40s'", key);
        CHECK("a character cut in two leaves a message", one_line_utf8(err.msg), "got '%s'", err.msg);

        vs_err_msg(&err, EINVAL, "bad byte '%s'", "\x92\xff\xc0\xaf");
        CHECK("bytes that are not UTF-8 leave a message", one_line_utf8(err.msg), "got '%s'", err.msg);

        vs_err_msg(&err, EINVAL, "name '%s'", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\xa7");
        CHECK("UTF-8 text is kept as it is",
              strcmp(err.msg, "name 'caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\xa7'") == 0, "got '%s'", err.msg);

        vs_err(&err, ENOENT, "open %s", "/x");
        vs_err_prefix(&err, "item\n%s", "two");
        CHECK("a prefix is one line too", one_line_utf8(err.msg) && strstr(err.msg, "No such file"), "got '%s'",
              err.msg);

        /* the last character cut by the message's own size */
        char big[VS_ERROR_MAX + 8];
        size_t n = 0;
        while (n + 2 < sizeof(big) - 1) {
                big[n++] = '\xc3';
                big[n++] = '\xa9';
        }
        big[n] = '\0';
        vs_err_msg(&err, EINVAL, "%s", big); /* 510 bytes fit, then half of one */
        CHECK("a message cut at its size stays UTF-8", one_line_utf8(err.msg), "ends in 0x%02x",
              (unsigned char) err.msg[strlen(err.msg) - 1]);
}

static void api_bodies(void) {
        /* the first input `make fuzz` stopped on: jansson quotes the bad
         * bytes it met in its own message */
        static const char body[] = "\x7f\"\x92\x8e\x92\xe2nam";
        struct inst_config cfg;
        bool start;
        vs_error err = { 0 };
        inst_config_defaults(&cfg);
        int r = routes_create_body(body, sizeof(body) - 1, &cfg, &start, &err);
        CHECK("malformed create body refused in one line", r == -EINVAL && one_line_utf8(err.msg), "r=%d '%s'", r,
              err.msg);
        vs_err_clear(&err);
        r = routes_patch_body(body, sizeof(body) - 1, &cfg, &err);
        CHECK("malformed patch body refused in one line", r == -EINVAL && one_line_utf8(err.msg), "r=%d '%s'", r,
              err.msg);

        /* an unknown field named with a character at the cut */
        char obj[128];
        snprintf(obj, sizeof(obj), "{\"name\": \"a\", \"%.39s\xc3\xa9\": 1}",
                 "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
        vs_err_clear(&err);
        r = routes_create_body(obj, strlen(obj), &cfg, &start, &err);
        CHECK("unknown field refused in one line of UTF-8", r == -EINVAL && one_line_utf8(err.msg) &&
              strstr(err.msg, "unknown field"), "r=%d '%s'", r, err.msg);

        vs_err_clear(&err);
        static const char patch[] = "{\"memory\": \"1G\", \"cpus\": 2}";
        r = routes_patch_body(patch, strlen(patch), &cfg, &err);
        CHECK("patch body applied", r == 0 && cfg.memory == 1ULL << 30 && cfg.cpu_millis == 2000, "r=%d '%s'", r,
              err.msg);
}

/* A report as the child sends it: stage, errno, text. */
static size_t report(char *buf, int32_t stage, int32_t error, const char *text) {
        struct sync_msg m = { .stage = stage, .error = error };
        snprintf(m.message, sizeof(m.message), "%s", text);
        memcpy(buf, &m, sizeof(m));
        return offsetof(struct sync_msg, message) + strlen(text) + 1;
}

static void start_reports(void) {
        char buf[sizeof(struct sync_msg)];
        vs_error warn = { 0 }, err = { 0 };
        bool take;

        size_t n = report(buf, SYNC_JOIN_EXEC, ENOENT, "exec 'a\nb\x9b[2J': \xff");
        int r = start_report_parse(buf, n, false, &take, &warn, &err);
        CHECK("a failure report is one line", r == -ENOENT && one_line_utf8(err.msg) &&
              strstr(err.msg, "Failed to run the command: exec 'a"), "r=%d '%s'", r, err.msg);

        n = report(buf, SYNC_NET_FILES, 0, "/etc/hosts\nis odd\x1b]0;x\x07");
        r = start_report_parse(buf, n, false, &take, &warn, &err);
        CHECK("a warning is one line", r == 1 && !take && one_line_utf8(warn.msg) && strstr(warn.msg, "/etc/hosts"),
              "r=%d '%s'", r, warn.msg);
        n = report(buf, SYNC_NET_FILES, 0, "second");
        r = start_report_parse(buf, n, false, &take, &warn, &err);
        CHECK("warnings add up", r == 1 && strstr(warn.msg, "; second"), "r=%d '%s'", r, warn.msg);

        n = report(buf, SYNC_JOIN_PTY, 0, "");
        r = start_report_parse(buf, n, true, &take, &warn, &err);
        CHECK("an fd handed over is taken", r == 1 && take, "r=%d take=%d", r, take);
        r = start_report_parse(buf, 0, false, &take, &warn, &err);
        CHECK("nothing is EOF", r == 0 && !take, "r=%d", r);
        r = start_report_parse(buf, offsetof(struct sync_msg, message), true, &take, &warn, &err);
        CHECK("a short report is refused", r == -EBADMSG && !take && one_line_utf8(err.msg), "r=%d '%s'", r, err.msg);
}

int main(void) {
        vs_err_messages();
        api_bodies();
        start_reports();
        return CHECK_DONE();
}

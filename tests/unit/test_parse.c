/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Parsers for what people type: names, sizes, CPUs, durations, signals. */

#include <signal.h>
#include <string.h>

#include "base/parse.h"
#include "tests/unit/check.h"

static void names(void) {
        static const char *const good[] = { "a", "demo1", "101", "web-01", "0", "a-", NULL };
        static const char *const bad[] = { "", "-a", "Demo", "a_b", "a/b", "a.b", "a b", "..", "é", NULL };
        for (const char *const *p = good; *p; p++)
                CHECK("name valid", vs_name_valid(*p), "'%s' rejected", *p);
        for (const char *const *p = bad; *p; p++)
                CHECK("name invalid", !vs_name_valid(*p), "'%s' accepted", *p);
        char n63[64], n64[65];
        memset(n63, 'a', 63);
        n63[63] = '\0';
        memset(n64, 'a', 64);
        n64[64] = '\0';
        CHECK("name 63 chars ok", vs_name_valid(n63), "rejected");
        CHECK("name 64 chars rejected", !vs_name_valid(n64), "accepted");
        vs_error err = { 0 };
        CHECK("name error message", vs_name_check("instance", "A", &err) < 0 && strstr(err.msg, "invalid instance name 'A'"),
              "got '%s'", err.msg);
}

static void sizes(void) {
        static const struct {
                const char *in;
                uint64_t out;
        } good[] = {
                { "4096", 4096 },        { "1K", 1024 },         { "256M", 256ULL << 20 }, { "1G", 1ULL << 30 },
                { "1.5G", 3ULL << 29 },  { "2T", 2ULL << 40 },   { "64m", 64ULL << 20 },   { "512MiB", 512ULL << 20 },
                { "1gb", 1ULL << 30 },   { "100B", 100 },
        };
        static const char *const bad[] = { "", "12Q", "M", "-1", "1.2.3", "0", "0M", "1 G", "1e9", "99999999999P", "1GG", NULL };
        for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
                uint64_t v = 0;
                vs_error err = { 0 };
                int r = vs_parse_size(good[k].in, &v, &err);
                CHECK("size parses", r == 0 && v == good[k].out, "'%s' -> r=%d v=%llu (%s)", good[k].in, r,
                      (unsigned long long) v, err.msg);
        }
        for (const char *const *p = bad; *p; p++) {
                uint64_t v = 7;
                vs_error err = { 0 };
                int r = vs_parse_size(*p, &v, &err);
                CHECK("size rejected", r < 0 && v == 7 && err.msg[0], "'%s' accepted as %llu", *p, (unsigned long long) v);
        }
        vs_error err = { 0 };
        uint64_t v;
        vs_parse_size("12Q", &v, &err);
        CHECK("size error names the unit", strstr(err.msg, "unknown unit") != NULL, "got '%s'", err.msg);
        char buf[32];
        vs_format_size(256ULL << 20, buf, sizeof(buf));
        CHECK("format 256M", strcmp(buf, "256M") == 0, "got %s", buf);
        vs_format_size(1000, buf, sizeof(buf));
        CHECK("format plain bytes", strcmp(buf, "1000") == 0, "got %s", buf);
        vs_format_size(3ULL << 29, buf, sizeof(buf));
        uint64_t back = 0;
        CHECK("format round trip", vs_parse_size(buf, &back, NULL) == 0 && back == 3ULL << 29, "%s", buf);
}

static void cpus(void) {
        static const struct {
                const char *in;
                uint32_t out;
        } good[] = { { "0.5", 500 }, { "2", 2000 }, { "50%", 500 }, { "1.25", 1250 }, { "0.01", 10 }, { "150%", 1500 } };
        static const char *const bad[] = { "", "0", "-1", "abc", "0.001", "1.5x", "%", "2000000", NULL };
        for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
                uint32_t v = 0;
                int r = vs_parse_cpus(good[k].in, &v, NULL);
                CHECK("cpus parses", r == 0 && v == good[k].out, "'%s' -> %u", good[k].in, v);
        }
        for (const char *const *p = bad; *p; p++) {
                uint32_t v = 7;
                vs_error err = { 0 };
                CHECK("cpus rejected", vs_parse_cpus(*p, &v, &err) < 0 && v == 7 && err.msg[0], "'%s' accepted", *p);
        }
}

static void durations(void) {
        static const struct {
                const char *in;
                uint64_t ms;
        } good[] = { { "30", 30000 }, { "30s", 30000 }, { "2m", 120000 }, { "500ms", 500 }, { "1h", 3600000 }, { "0.5", 500 } };
        for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
                uint64_t v = 0;
                CHECK("duration parses", vs_parse_duration_ms(good[k].in, &v, NULL) == 0 && v == good[k].ms, "'%s' -> %llu",
                      good[k].in, (unsigned long long) v);
        }
        static const char *const bad[] = { "", "x", "5d", "-3", "100000h", NULL };
        for (const char *const *p = bad; *p; p++) {
                uint64_t v;
                CHECK("duration rejected", vs_parse_duration_ms(*p, &v, NULL) < 0, "'%s' accepted", *p);
        }
}

static void signals(void) {
        int s = 0;
        CHECK("SIGPWR", vs_parse_signal("SIGPWR", &s, NULL) == 0 && s == SIGPWR, "got %d", s);
        CHECK("USR2", vs_parse_signal("usr2", &s, NULL) == 0 && s == SIGUSR2, "got %d", s);
        CHECK("SIGRTMIN+3", vs_parse_signal("SIGRTMIN+3", &s, NULL) == 0 && s == SIGRTMIN + 3, "got %d", s);
        CHECK("15", vs_parse_signal("15", &s, NULL) == 0 && s == 15, "got %d", s);
        CHECK("bogus signal", vs_parse_signal("SIGBOGUS", &s, NULL) < 0, "accepted");
        CHECK("signal 0", vs_parse_signal("0", &s, NULL) < 0, "accepted");
}

int main(void) {
        names();
        sizes();
        cpus();
        durations();
        signals();
        return CHECK_DONE();
}

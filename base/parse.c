/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/parse.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool vs_name_valid(const char *name) {
        if (!name || !*name || strlen(name) > VS_NAME_MAX)
                return false;
        if (!isdigit((unsigned char) name[0]) && !(name[0] >= 'a' && name[0] <= 'z'))
                return false;
        for (const char *p = name; *p; p++)
                if (!isdigit((unsigned char) *p) && !(*p >= 'a' && *p <= 'z') && *p != '-')
                        return false;
        return true;
}

int vs_name_check(const char *what, const char *name, vs_error *err) {
        if (vs_name_valid(name))
                return 0;
        return vs_err_msg(err, EINVAL,
                          "invalid %s name '%.80s': use 1-63 of a-z, 0-9 and '-', starting with a letter or digit",
                          what, name ? name : "");
}

/* Parse "<digits>[.<digits>]" into an integer scaled by 'scale' (a power of ten
 * up to 1000), rejecting more fractional digits than the scale holds. */
static int parse_fixed(const char *s, uint64_t scale, uint64_t *ret, const char **end) {
        uint64_t whole = 0, frac = 0, fscale = 1;
        const char *p = s;
        if (!isdigit((unsigned char) *p))
                return -EINVAL;
        for (; isdigit((unsigned char) *p); p++) {
                if (whole > (UINT64_MAX - 9) / 10)
                        return -ERANGE;
                whole = whole * 10 + (uint64_t) (*p - '0');
        }
        if (*p == '.') {
                p++;
                if (!isdigit((unsigned char) *p))
                        return -EINVAL;
                for (; isdigit((unsigned char) *p); p++) {
                        if (fscale >= 1000000000ULL)
                                return -ERANGE;
                        frac = frac * 10 + (uint64_t) (*p - '0');
                        fscale *= 10;
                }
        }
        if (whole > UINT64_MAX / scale)
                return -ERANGE;
        *ret = whole * scale + frac * scale / fscale;
        *end = p;
        return 0;
}

int vs_parse_size(const char *s, uint64_t *ret, vs_error *err) {
        static const struct {
                char c;
                unsigned shift;
        } units[] = { { 'K', 10 }, { 'M', 20 }, { 'G', 30 }, { 'T', 40 }, { 'P', 50 } };
        const char *end;
        uint64_t milli;

        if (!s || !*s)
                return vs_err_msg(err, EINVAL, "empty size");
        int r = parse_fixed(s, 1000, &milli, &end);
        if (r < 0)
                return vs_err_msg(err, EINVAL, "invalid size '%.40s': expected a number with an optional K, M, G or T suffix", s);
        unsigned shift = 0;
        if (*end) {
                bool found = false;
                for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                        if (toupper((unsigned char) *end) == units[i].c) {
                                shift = units[i].shift;
                                found = true;
                        }
                if (!found && toupper((unsigned char) *end) != 'B')
                        return vs_err_msg(err, EINVAL, "invalid size '%.40s': unknown unit '%s' (use K, M, G or T)", s, end);
                if (found)
                        end++;
                if (strcasecmp(end, "iB") == 0 || strcasecmp(end, "B") == 0)
                        end += strlen(end);
                if (*end)
                        return vs_err_msg(err, EINVAL, "invalid size '%.40s': unknown unit (use K, M, G or T)", s);
        }
        /* milli * 2^shift / 1000 without overflow for realistic values */
        if (shift && milli > (UINT64_MAX >> shift))
                return vs_err_msg(err, ERANGE, "size '%.40s' is too large", s);
        uint64_t bytes = (milli << shift) / 1000;
        if (bytes == 0)
                return vs_err_msg(err, EINVAL, "size '%.40s' must be greater than zero", s);
        if (bytes > (1ULL << 60))
                return vs_err_msg(err, ERANGE, "size '%.40s' is too large", s);
        *ret = bytes;
        return 0;
}

int vs_parse_cpus(const char *s, uint32_t *ret_millis, vs_error *err) {
        const char *end;
        uint64_t v;

        if (!s || !*s)
                return vs_err_msg(err, EINVAL, "empty CPU amount");
        if (parse_fixed(s, 1000, &v, &end) < 0)
                return vs_err_msg(err, EINVAL, "invalid CPU amount '%.40s': expected e.g. 0.5, 2 or 50%%", s);
        if (*end == '%' && end[1] == '\0')
                v /= 100;
        else if (*end)
                return vs_err_msg(err, EINVAL, "invalid CPU amount '%.40s': expected e.g. 0.5, 2 or 50%%", s);
        if (v < 10)
                return vs_err_msg(err, EINVAL, "CPU amount '%.40s' is too small (minimum 0.01)", s);
        if (v > 1024 * 1000)
                return vs_err_msg(err, ERANGE, "CPU amount '%.40s' is too large", s);
        *ret_millis = (uint32_t) v;
        return 0;
}

int vs_parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *ret, vs_error *err) {
        if (!s || !*s)
                return vs_err_msg(err, EINVAL, "empty number");
        for (const char *p = s; *p; p++)
                if (!isdigit((unsigned char) *p))
                        return vs_err_msg(err, EINVAL, "invalid number '%.40s'", s);
        errno = 0;
        unsigned long long v = strtoull(s, NULL, 10);
        if (errno == ERANGE || v < min || v > max)
                return vs_err_msg(err, ERANGE, "number '%.40s' out of range (%" PRIu64 "-%" PRIu64 ")", s, min, max);
        *ret = v;
        return 0;
}

int vs_parse_duration_ms(const char *s, uint64_t *ret, vs_error *err) {
        const char *end;
        uint64_t milli;

        if (!s || !*s)
                return vs_err_msg(err, EINVAL, "empty duration");
        if (parse_fixed(s, 1000, &milli, &end) < 0)
                return vs_err_msg(err, EINVAL, "invalid duration '%.40s': expected e.g. 30, 30s, 2m or 500ms", s);
        uint64_t ms;
        if (*end == '\0' || strcmp(end, "s") == 0)
                ms = milli;
        else if (strcmp(end, "ms") == 0)
                ms = milli / 1000;
        else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
                ms = milli * 60;
        else if (strcmp(end, "h") == 0)
                ms = milli * 3600;
        else
                return vs_err_msg(err, EINVAL, "invalid duration '%.40s': unknown unit '%s'", s, end);
        if (ms > 86400ULL * 1000)
                return vs_err_msg(err, ERANGE, "duration '%.40s' is too long (maximum one day)", s);
        *ret = ms;
        return 0;
}

int vs_parse_signal(const char *s, int *ret, vs_error *err) {
        static const struct {
                const char *name;
                int sig;
        } sigs[] = {
                { "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT }, { "KILL", SIGKILL },
                { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "TERM", SIGTERM }, { "PWR", SIGPWR },
        };
        if (!s || !*s)
                return vs_err_msg(err, EINVAL, "empty signal name");
        const char *n = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
                if (strcasecmp(n, sigs[i].name) == 0) {
                        *ret = sigs[i].sig;
                        return 0;
                }
        uint64_t v;
        if (strncasecmp(n, "RTMIN+", 6) == 0) {
                if (vs_parse_count(n + 6, 0, (uint64_t) (SIGRTMAX - SIGRTMIN), &v, NULL) < 0)
                        return vs_err_msg(err, EINVAL, "invalid signal '%.40s'", s);
                *ret = SIGRTMIN + (int) v;
                return 0;
        }
        if (vs_parse_count(n, 1, (uint64_t) SIGRTMAX, &v, NULL) == 0) {
                *ret = (int) v;
                return 0;
        }
        return vs_err_msg(err, EINVAL, "invalid signal '%.40s'", s);
}

void vs_format_size(uint64_t bytes, char *buf, size_t len) {
        static const char units[] = "KMGTP";
        int u = -1;
        while (bytes >= 1024 && bytes % 1024 == 0 && u < 4) {
                bytes /= 1024;
                u++;
        }
        if (u < 0)
                snprintf(buf, len, "%" PRIu64, bytes);
        else
                snprintf(buf, len, "%" PRIu64 "%c", bytes, units[u]);
}

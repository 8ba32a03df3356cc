/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

/* Per process: one log, one level (set once from the daemon's settings). */
static enum vs_log_level max_level = VS_LOG_INFO;

void vs_log_set_level(enum vs_log_level lvl) {
        max_level = lvl;
}

void vs_log(enum vs_log_level lvl, const char *fmt, ...) {
        static const char *const names[] = { "error", "warning", "info", "debug" };
        if (lvl > max_level)
                return;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        char stamp[32];
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%s.%03ldZ vsd[%s]: ", stamp, ts.tv_nsec / 1000000, names[lvl]);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

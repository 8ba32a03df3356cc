/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How vsctl shows things to people: sizes, durations, aligned tables. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "vsctl/vsctl.h"

int out_json(json_t *j) {
        _cleanup_free_ char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
        if (!s) {
                fprintf(stderr, "vsctl: cannot format JSON: %s\n", strerror(ENOMEM));
                return -ENOMEM;
        }
        puts(s);
        return 0;
}

void out_size(uint64_t bytes, char *buf, size_t len) {
        static const char units[] = "KMGTPE";
        if (bytes < 1024) {
                snprintf(buf, len, "%" PRIu64, bytes);
                return;
        }
        int u = 0;
        uint64_t div = 1024;
        while (u < 5 && bytes / div >= 1024) {
                div *= 1024;
                u++;
        }
        if (bytes % div == 0)
                snprintf(buf, len, "%" PRIu64 "%c", bytes / div, units[u]);
        else if (bytes / div < 10)
                snprintf(buf, len, "%.1f%c", (double) bytes / (double) div, units[u]);
        else
                snprintf(buf, len, "%.0f%c", (double) bytes / (double) div, units[u]);
}

void out_duration(uint64_t s, char *buf, size_t len) {
        if (s < 60)
                snprintf(buf, len, "%" PRIu64 "s", s);
        else if (s < 3600)
                snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
        else if (s < 86400)
                snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s % 3600 / 60);
        else
                snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s % 86400 / 3600);
}

void out_cpu_time(uint64_t ns, char *buf, size_t len) {
        if (ns < 10ULL * 1000000000)
                snprintf(buf, len, "%.2fs", (double) ns / 1e9);
        else if (ns < 60ULL * 1000000000)
                snprintf(buf, len, "%.1fs", (double) ns / 1e9);
        else
                out_duration(ns / 1000000000, buf, len);
}

void out_cpus(double cpus, char *buf, size_t len) {
        snprintf(buf, len, "%.3f", cpus);
        /* Strip the zeros a fixed precision adds: "0.500" -> "0.5". */
        char *dot = strchr(buf, '.');
        if (!dot)
                return;
        char *end = buf + strlen(buf);
        while (end > dot + 1 && end[-1] == '0')
                *--end = '\0';
        if (end == dot + 1)
                *dot = '\0';
}

uint64_t out_get_u64(json_t *obj, const char *key) {
        json_t *v = json_object_get(obj, key);
        if (json_is_integer(v))
                return json_integer_value(v) > 0 ? (uint64_t) json_integer_value(v) : 0;
        if (json_is_real(v))
                return json_real_value(v) > 0 ? (uint64_t) json_real_value(v) : 0;
        return 0;
}

double out_get_double(json_t *obj, const char *key) {
        return json_number_value(json_object_get(obj, key));
}

const char *out_get_str(json_t *obj, const char *key) {
        const char *s = json_string_value(json_object_get(obj, key));
        return s ? s : "";
}

bool out_has(json_t *obj, const char *key) {
        json_t *v = json_object_get(obj, key);
        return v && !json_is_null(v);
}

struct out_table {
        size_t ncols, nrows, cap;
        char **cells; /* nrows * ncols, row 0 = headers */
        bool *right;
};

struct out_table *out_table_new(size_t ncols, const char *const *headers) {
        struct out_table *t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        t->ncols = ncols;
        t->right = calloc(ncols, sizeof(bool));
        if (!t->right || (headers && out_table_add(t, headers) < 0)) {
                out_table_free(t);
                return NULL;
        }
        return t;
}

int out_table_add(struct out_table *t, const char *const *cells) {
        if (t->nrows == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 16;
                char **p = realloc(t->cells, cap * t->ncols * sizeof(char *));
                if (!p)
                        return -ENOMEM;
                t->cells = p;
                t->cap = cap;
        }
        char **row = t->cells + t->nrows * t->ncols;
        for (size_t i = 0; i < t->ncols; i++) {
                row[i] = strdup(cells[i] ? cells[i] : "");
                if (!row[i]) {
                        while (i > 0)
                                free(row[--i]);
                        return -ENOMEM;
                }
        }
        t->nrows++;
        return 0;
}

void out_table_align_right(struct out_table *t, size_t col) {
        if (col < t->ncols)
                t->right[col] = true;
}

void out_table_print(struct out_table *t, FILE *f) {
        size_t width[t->ncols];
        memset(width, 0, sizeof(width));
        for (size_t r = 0; r < t->nrows; r++)
                for (size_t c = 0; c < t->ncols; c++) {
                        size_t w = strlen(t->cells[r * t->ncols + c]);
                        if (w > width[c])
                                width[c] = w;
                }
        for (size_t r = 0; r < t->nrows; r++) {
                /* Trailing empty cells would leave trailing blanks. */
                size_t n = t->ncols;
                while (n > 1 && !t->cells[r * t->ncols + n - 1][0])
                        n--;
                for (size_t c = 0; c < n; c++) {
                        const char *s = t->cells[r * t->ncols + c];
                        bool last = c + 1 == n;
                        if (t->right[c])
                                fprintf(f, "%*s", (int) width[c], s);
                        else if (last)
                                fputs(s, f);
                        else
                                fprintf(f, "%-*s", (int) width[c], s);
                        if (!last)
                                fputs("  ", f);
                }
                fputc('\n', f);
        }
}

void out_table_free(struct out_table *t) {
        if (!t)
                return;
        for (size_t i = 0; i < t->nrows * t->ncols; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t->right);
        free(t);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/core/events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"

struct ev_bus {
        struct ev_record *ring; /* seq s lives in ring[(s - 1) % cap] */
        size_t cap;
        uint64_t next;          /* seq of the next event */
        struct ev_listener *listeners;
        bool closed;
};

int ev_bus_new(size_t capacity, struct ev_bus **ret) {
        struct ev_bus *b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->cap = capacity ? capacity : 1;
        b->ring = calloc(b->cap, sizeof(*b->ring));
        if (!b->ring) {
                free(b);
                return -ENOMEM;
        }
        b->next = 1;
        *ret = b;
        return 0;
}

void ev_bus_free(struct ev_bus *b) {
        if (!b)
                return;
        for (size_t k = 0; k < b->cap; k++)
                free(b->ring[k].line);
        free(b->ring);
        free(b);
}

uint64_t ev_next_seq(const struct ev_bus *b) {
        return b->next;
}

static uint64_t oldest(const struct ev_bus *b) {
        return b->next > b->cap ? b->next - b->cap : 1;
}

static json_t *common_fields(uint64_t seq, const char *instance, const char *type) {
        struct timespec ts;
        struct tm tm;
        char when[64];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);
        /* milliseconds: what a double carries exactly for the next centuries */
        double stamp = (double) ts.tv_sec + (double) (ts.tv_nsec / 1000000) / 1000.0;
        return json_pack("{s:I, s:s, s:f, s:s, s:s}", "seq", (json_int_t) seq, "time", when, "timestamp", stamp,
                         "instance", instance, "type", type);
}

void ev_emit(struct ev_bus *b, const char *instance, const char *type, json_t *details) {
        if (!b) {
                json_decref(details);
                return;
        }
        uint64_t seq = b->next++;
        struct ev_record *r = &b->ring[(seq - 1) % b->cap];
        free(r->line);
        *r = (struct ev_record){ .seq = seq };
        snprintf(r->instance, sizeof(r->instance), "%s", instance);
        snprintf(r->type, sizeof(r->type), "%s", type);

        json_t *j = common_fields(seq, instance, type);
        if (j && details)
                json_object_update(j, details);
        json_decref(details);
        char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) : NULL;
        json_decref(j);
        if (text) {
                size_t len = strlen(text);
                char *line = realloc(text, len + 2);
                if (line) {
                        line[len] = '\n';
                        line[len + 1] = '\0';
                        r->line = line;
                        r->len = len + 1;
                } else
                        free(text);
        }
        /* A record without a line was lost to a failed allocation: readers
         * skip it and count it as lost. */
        for (struct ev_listener *l = b->listeners, *next; l; l = next) {
                next = l->next;
                l->wake(l);
        }
}

bool ev_filter_match(const struct ev_filter *f, const struct ev_record *r) {
        return !f || !f->instance[0] || streq(f->instance, r->instance);
}

int ev_next(const struct ev_bus *b, const struct ev_filter *f, uint64_t *cursor, const struct ev_record **ret,
            uint64_t *ret_lost) {
        uint64_t c = *cursor, lost = 0;
        if (c < oldest(b)) {
                lost = oldest(b) - c;
                c = oldest(b);
        }
        for (; c < b->next; c++) {
                const struct ev_record *r = &b->ring[(c - 1) % b->cap];
                if (!r->line) {
                        lost++;
                        continue;
                }
                if (!ev_filter_match(f, r))
                        continue;
                *cursor = c + 1;
                *ret = r;
                if (ret_lost)
                        *ret_lost = lost;
                return 1;
        }
        *cursor = c;
        if (ret_lost)
                *ret_lost = lost;
        return 0;
}

uint64_t ev_cursor_backlog(const struct ev_bus *b, const struct ev_filter *f, uint64_t n) {
        uint64_t c = b->next;
        while (n > 0 && c > oldest(b)) {
                const struct ev_record *r = &b->ring[(c - 2) % b->cap];
                c--;
                if (r->line && ev_filter_match(f, r))
                        n--;
        }
        return c;
}

void ev_listen(struct ev_bus *b, struct ev_listener *l) {
        l->next = b->listeners;
        b->listeners = l;
}

void ev_unlisten(struct ev_bus *b, struct ev_listener *l) {
        for (struct ev_listener **p = &b->listeners; *p; p = &(*p)->next)
                if (*p == l) {
                        *p = l->next;
                        l->next = NULL;
                        return;
                }
}

void ev_bus_close(struct ev_bus *b) {
        b->closed = true;
        for (struct ev_listener *l = b->listeners, *next; l; l = next) {
                next = l->next;
                l->wake(l);
        }
}

bool ev_closed(const struct ev_bus *b) {
        return b->closed;
}

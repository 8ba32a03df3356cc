/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/core/events.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/util.h"
#include "vsd/core/evjournal.h"

struct ev_bus {
        struct ev_record *ring; /* seq s lives in ring[(s - 1) % cap] */
        size_t cap;
        uint64_t next;          /* seq of the next event */
        struct ev_listener *listeners;
        bool closed;
        struct evj *journal;   /* NULL: events in memory only */
        bool journal_failing;  /* said once until a write works again */
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
        evj_close(b->journal);
        for (size_t k = 0; k < b->cap; k++)
                free(b->ring[k].line);
        free(b->ring);
        free(b);
}

/* Put the event seq (line: JSON and '\n', stolen) into the ring.  Sequence
 * numbers skipped on the way (records a journal lost) leave empty slots, not
 * the older events that lived there, so that a reader counts them lost. */
static void ring_put(struct ev_bus *b, uint64_t seq, const char *instance, const char *type, char *line, size_t len) {
        for (uint64_t gap = b->next, n = 0; gap < seq && n < b->cap; gap++, n++) {
                struct ev_record *g = &b->ring[(gap - 1) % b->cap];
                free(g->line);
                *g = (struct ev_record){ .seq = gap };
        }
        struct ev_record *r = &b->ring[(seq - 1) % b->cap];
        free(r->line);
        *r = (struct ev_record){ .seq = seq, .line = line, .len = line ? len : 0 };
        snprintf(r->instance, sizeof(r->instance), "%s", instance);
        snprintf(r->type, sizeof(r->type), "%s", type);
        b->next = seq + 1;
}

/* A record from the journal: into the ring as if just emitted. */
static void journal_record(const char *json, size_t len, void *userdata) {
        struct ev_bus *b = userdata;
        json_auto_t *j = json_loadb(json, len, 0, NULL);
        json_t *seq = json_object_get(j, "seq");
        const char *inst = json_string_value(json_object_get(j, "instance")),
                   *type = json_string_value(json_object_get(j, "type"));
        /* what this daemon did not write itself is checked like anything
         * read from disk; an older sequence number (a restored copy) goes */
        if (!json_is_integer(seq) || json_integer_value(seq) < (json_int_t) b->next || !inst || !type ||
            strlen(inst) > VS_NAME_MAX)
                return;
        char *line = malloc(len + 2);
        if (!line)
                return;
        memcpy(line, json, len);
        line[len] = '\n';
        line[len + 1] = '\0';
        ring_put(b, (uint64_t) json_integer_value(seq), inst, type, line, len + 1);
}

int ev_bus_journal(struct ev_bus *b, const char *path, struct evj_load *ret_load, vs_error *err) {
        /* a segment holds what the ring holds: old + current >= the ring
         * after a rotation; 1 MiB bounds one however long its lines are */
        return evj_open(path, b->cap, EV_JOURNAL_SEGMENT_BYTES, journal_record, b, &b->journal, ret_load, err);
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
        uint64_t seq = b->next;
        json_t *j = common_fields(seq, instance, type);
        if (j && details)
                json_object_update(j, details);
        json_decref(details);
        char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) : NULL;
        json_decref(j);
        char *line = NULL;
        size_t len = 0;
        if (text) {
                len = strlen(text);
                if (b->journal) {
                        int r = evj_append(b->journal, text, len);
                        if (r < 0 && !b->journal_failing)
                                log_warn("Failed to write event %" PRIu64 " to the journal: %s, ignoring: it is kept "
                                         "in memory only until a write works again", seq, strerror(-r));
                        else if (r >= 0 && b->journal_failing)
                                log_info("The event journal is written again from event %" PRIu64, seq);
                        b->journal_failing = r < 0;
                }
                line = realloc(text, len + 2);
                if (line) {
                        line[len] = '\n';
                        line[len + 1] = '\0';
                } else
                        free(text);
        }
        ring_put(b, seq, instance, type, line, len + 1);
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
                if (!r->line || r->seq != c) {
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

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The event bus: what happened to instances (created, started, stopped,
 * oom-kill, ...), kept in a bounded ring of recent events and handed to
 * whoever listens (the API's event streams).
 *
 * Every event gets a sequence number (1, 2, ...; with a journal, going on
 * across daemons), the time, the instance and a type, plus details that depend on
 * the type.  It is formatted once, as one line of JSON, when it is emitted;
 * readers only copy that line.  A reader keeps its own cursor (the next
 * sequence number it wants) into the ring: nothing is queued per reader, so
 * a slow reader costs no memory.  One that falls more than the ring's size
 * behind loses the oldest events and is told how many (ev_next()).
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/parse.h"
#include "vsd/core/evjournal.h"

/* Events kept for readers that ask for the past. */
#define EV_RING_DEFAULT 1000
/* The bound of one journal segment in bytes (and EV_RING_DEFAULT records). */
#define EV_JOURNAL_SEGMENT_BYTES (1024 * 1024)

struct ev_bus;

struct ev_record {
        uint64_t seq;
        char instance[VS_NAME_MAX + 1];
        char type[32];
        char *line; /* the JSON object and '\n' */
        size_t len;
};

/* Told after every new event and once when the bus closes (ev_closed()).
 * Must not emit events itself. */
struct ev_listener {
        void (*wake)(struct ev_listener *l);
        struct ev_listener *next;
};

int ev_bus_new(size_t capacity, struct ev_bus **ret);
void ev_bus_free(struct ev_bus *b);

/* Keep the events in the journal at path (evjournal.h) too: first the ones
 * it holds go into the ring, and the sequence numbers go on after the last
 * of them; then every new event is appended.  *ret_load says what loading
 * skipped, for the caller to report.  Call before the first event. */
int ev_bus_journal(struct ev_bus *b, const char *path, struct evj_load *ret_load, vs_error *err);

/* Record an event.  details (may be NULL; stolen) is a JSON object whose
 * fields follow the common ones: seq, time (RFC 3339, UTC, milliseconds),
 * timestamp (unix seconds with fraction), instance, type.  A failure to
 * allocate drops the event; the next reader is told it was lost. */
void ev_emit(struct ev_bus *b, const char *instance, const char *type, json_t *details);

/* The sequence number the next event will get (1 for an empty bus). */
uint64_t ev_next_seq(const struct ev_bus *b);

/* Which events a reader wants. */
struct ev_filter {
        char instance[VS_NAME_MAX + 1]; /* "" = all */
};

bool ev_filter_match(const struct ev_filter *f, const struct ev_record *r);

/* The first event at or after *cursor that matches f: returns 1 with *ret
 * set and *cursor moved past it, 0 when there is none yet (*cursor moved to
 * ev_next_seq()).  *ret_lost (may be NULL) is set to the number of events
 * that were overwritten before the reader got to them (0 normally). */
int ev_next(const struct ev_bus *b, const struct ev_filter *f, uint64_t *cursor, const struct ev_record **ret,
            uint64_t *ret_lost);

/* The cursor that replays the last n events that match f (fewer when the
 * ring holds fewer). */
uint64_t ev_cursor_backlog(const struct ev_bus *b, const struct ev_filter *f, uint64_t n);

void ev_listen(struct ev_bus *b, struct ev_listener *l);
void ev_unlisten(struct ev_bus *b, struct ev_listener *l);

/* The daemon is shutting down: wake every listener once more; ev_closed()
 * is true from now on. */
void ev_bus_close(struct ev_bus *b);
bool ev_closed(const struct ev_bus *b);

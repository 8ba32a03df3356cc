/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The event journal: the recent events on disk, so that a daemon started
 * after another (stopped, crashed, killed) goes on with the sequence numbers
 * where the last one stopped and still shows its events.
 *
 * Two append-only segment files, PATH (the current one) and PATH.old: one
 * record per line, "CRC32 JSON\n", the CRC (zlib's, 8 hex digits) over the
 * JSON text.  A segment that reaches its bound (records or bytes) becomes
 * PATH.old (rename(), replacing the older one) and PATH starts empty, so the
 * journal never holds more than two segments.  A crash at any instant
 * leaves whole records and at most one torn one at the end of PATH: loading
 * skips every record whose line or checksum is wrong (counted), and cuts
 * the torn tail off before appending.
 *
 * Records are written with one write(2) each, no fsync: a killed daemon
 * loses nothing (the page cache has it), a power cut loses what the kernel
 * had not yet written back (doc/architecture.md, "Events").
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct evj;

/* What loading found, for the caller to report. */
struct evj_load {
        size_t records;  /* good ones handed to the callback */
        size_t damaged;  /* lines skipped: bad checksum or form */
        size_t torn;     /* bytes of a torn last record cut off */
};

/* Called for each good record, oldest first: the JSON text (not
 * NUL-terminated, no newline). */
typedef void (*evj_record_cb)(const char *json, size_t len, void *userdata);

/* Load PATH.old and PATH, then open PATH for appending.  seg_records and
 * seg_bytes bound one segment. */
int evj_open(const char *path, size_t seg_records, size_t seg_bytes, evj_record_cb cb, void *userdata,
             struct evj **ret, struct evj_load *ret_load, vs_error *err);

/* Append one record (json without a newline).  Returns < 0 (-errno) when it
 * could not be written; the journal stays whole (a short write is cut off)
 * and the next call tries again. */
int evj_append(struct evj *j, const char *json, size_t len);

/* Flush to disk (a clean stop) and close. */
void evj_close(struct evj *j);

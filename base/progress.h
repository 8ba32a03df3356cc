/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * How far a long copy has come: written by the process that copies (a
 * helper forked from the daemon) and read by the daemon, through memory
 * both share (vs_progress_new() maps it MAP_SHARED before the fork).
 * Bytes; total 0 while it is not known.  Every function takes NULL as "no
 * one is watching".
 */

#include <stdatomic.h>
#include <stdint.h>

struct vs_progress {
        _Atomic uint64_t done;
        _Atomic uint64_t total;
};

/* NULL when the mapping fails (the copy then runs unwatched). */
struct vs_progress *vs_progress_new(void);
void vs_progress_free(struct vs_progress *p);

static inline void vs_progress_total(struct vs_progress *p, uint64_t total) {
        if (p)
                atomic_store(&p->total, total);
}

static inline void vs_progress_done(struct vs_progress *p, uint64_t done) {
        if (p)
                atomic_store(&p->done, done);
}

/* A test hook: copies that report progress go no faster than this many
 * bytes a second (0: as fast as they can), so that a test can act while
 * one runs.  Set once at daemon start (VSD_TEST_COPY_BPS), inherited by
 * the helpers it forks. */
extern uint64_t vs_progress_test_bps;

/* Sleep as the hook asks, for a copy that has done bytes since it began
 * at *start_ns (CLOCK_MONOTONIC; 0 at the first call, which sets it). */
void vs_progress_pace(uint64_t *start_ns, uint64_t done);

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
#include <stdbool.h>
#include <stdint.h>

struct vs_progress {
        _Atomic uint64_t done;
        _Atomic uint64_t total;
        _Atomic uint32_t phase;    /* enum vs_phase: which step of the work runs */
        _Atomic uint64_t phase_ns; /* when it began (CLOCK_MONOTONIC), for its rate */
};

/* The steps an operation of several is in, named in its JSON ("phase"). */
enum vs_phase {
        VS_PHASE_NONE,
        VS_PHASE_TEMPLATE,   /* a move: the template checked or sent */
        VS_PHASE_PRECOPY,    /* a cold move: the disk copied while it runs */
        VS_PHASE_STOPPING,   /* a cold move: the instance stopped */
        VS_PHASE_FINAL,      /* a cold move: what changed since the pre-copy */
        VS_PHASE_COPY,       /* a move: the archive sent whole */
        VS_PHASE_STARTING,   /* a cold move: the target imports and starts it */
        VS_PHASE_CONNECTING, /* a live move: the session to the target made */
        VS_PHASE_CHECKPOINT, /* a live move: the instance dumped */
        VS_PHASE_RESTORING,  /* a live move: the target imports and restores it */
        VS_PHASE_PRECOPY_MEMORY, /* a live move: pre-dump passes while it runs */
        _VS_PHASE_MAX,
};

/* "pre-copy", "final copy", ...; NULL for VS_PHASE_NONE */
const char *vs_phase_name(uint32_t phase);

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

/* The work is in phase now; reset: its bytes counted from 0 again (a
 * copy of its own). */
void vs_progress_phase(struct vs_progress *p, enum vs_phase phase, bool reset);

/* Bytes a second of the phase so far (0: not known). */
uint64_t vs_progress_rate(const struct vs_progress *p);

/* A test hook: copies that report progress go no faster than this many
 * bytes a second (0: as fast as they can), so that a test can act while
 * one runs.  Set once at daemon start (VSD_TEST_COPY_BPS), inherited by
 * the helpers it forks. */
extern uint64_t vs_progress_test_bps;

/* Sleep until done bytes are due at bps bytes a second (0: at once) for
 * work that began at *start_ns (CLOCK_MONOTONIC; 0 at the first call,
 * which sets it).  What the test hooks that slow work down share. */
void vs_pace(uint64_t bps, uint64_t *start_ns, uint64_t done);

/* Sleep as the copy hook asks, for a copy that has done bytes since it
 * began at *start_ns. */
static inline void vs_progress_pace(uint64_t *start_ns, uint64_t done) {
        vs_pace(vs_progress_test_bps, start_ns, done);
}

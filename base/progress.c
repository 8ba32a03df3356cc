/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/progress.h"

#include <sys/mman.h>
#include <time.h>

/* per process: the daemon's test hook, set once at its start */
uint64_t vs_progress_test_bps;

struct vs_progress *vs_progress_new(void) {
        void *p = mmap(NULL, sizeof(struct vs_progress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return NULL;
        struct vs_progress *pr = p;
        atomic_init(&pr->done, 0);
        atomic_init(&pr->total, 0);
        atomic_init(&pr->phase, VS_PHASE_NONE);
        atomic_init(&pr->phase_ns, 0);
        return pr;
}

void vs_progress_free(struct vs_progress *p) {
        if (p)
                (void) munmap(p, sizeof(*p));
}

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

void vs_pace(uint64_t bps, uint64_t *start_ns, uint64_t done) {
        if (!bps)
                return;
        uint64_t now = now_ns();
        if (!*start_ns)
                *start_ns = now;
        /* when done bytes are due at that rate */
        uint64_t due = *start_ns + (uint64_t) ((double) done / (double) bps * 1e9);
        if (due <= now)
                return;
        struct timespec ts = { .tv_sec = (time_t) ((due - now) / 1000000000ULL),
                               .tv_nsec = (long) ((due - now) % 1000000000ULL) };
        (void) nanosleep(&ts, NULL);
}

static const char *const phase_names[_VS_PHASE_MAX] = {
        [VS_PHASE_TEMPLATE] = "template",       [VS_PHASE_PRECOPY] = "pre-copy",
        [VS_PHASE_STOPPING] = "stopping",       [VS_PHASE_FINAL] = "final copy",
        [VS_PHASE_COPY] = "copy",               [VS_PHASE_STARTING] = "starting on target",
        [VS_PHASE_CONNECTING] = "connecting",   [VS_PHASE_CHECKPOINT] = "checkpoint",
        [VS_PHASE_RESTORING] = "restore on target", [VS_PHASE_PRECOPY_MEMORY] = "precopy-memory",
};

const char *vs_phase_name(uint32_t phase) {
        return phase < _VS_PHASE_MAX ? phase_names[phase] : NULL;
}

void vs_progress_phase(struct vs_progress *p, enum vs_phase phase, bool reset) {
        if (!p)
                return;
        if (reset) {
                atomic_store(&p->done, 0);
                atomic_store(&p->total, 0);
        }
        atomic_store(&p->phase_ns, now_ns());
        atomic_store(&p->phase, (uint32_t) phase);
}

uint64_t vs_progress_rate(const struct vs_progress *p) {
        uint64_t since = p ? atomic_load(&p->phase_ns) : 0, done = p ? atomic_load(&p->done) : 0;
        uint64_t now = now_ns();
        /* a figure over less than a tenth of a second says nothing */
        if (!since || !done || now < since + 100000000ULL)
                return 0;
        return (uint64_t) ((double) done * 1e9 / (double) (now - since));
}

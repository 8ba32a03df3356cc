/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The host ids of unprivileged instances.  Each has a block of
 * INST_ID_COUNT host uids and gids (0..65535 inside are id_base.. outside),
 * taken from vsd.conf's [security] id_range.  The only record of a block is
 * its instance's config.ini ([security] id_base): a block is taken while an
 * instance (running, stopped, being created or cloned) names it, and free
 * again once it is destroyed.  A crash during a create leaves only a hidden
 * directory, so no block is ever half taken.  The registry (instance.c)
 * collects the blocks in use; what is here is pure.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "vsd/conf/settings.h"

/* Do the blocks starting at a and b share an id? */
static inline bool inst_id_overlap(uint64_t a, uint64_t b) {
        return a < b + INST_ID_COUNT && b < a + INST_ID_COUNT;
}

/* The lowest block of the pool s that overlaps none of used[0..n) (sorted
 * here, in place).  -ENOSPC with a one-line reason when the pool is full. */
int inst_id_pick(const struct security_settings *s, uint64_t *used, size_t n, uint64_t *ret_base, vs_error *err);

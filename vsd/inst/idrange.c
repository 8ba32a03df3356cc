/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/inst/idrange.h"

#include <errno.h>
#include <stdlib.h>

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

int inst_id_pick(const struct security_settings *s, uint64_t *used, size_t n, uint64_t *ret_base, vs_error *err) {
        qsort(used, n, sizeof(*used), cmp_u64);
        /* Blocks start at id_first and follow each other.  A block off that
         * grid (given before the range was changed) moves the candidate
         * past it, to the next point of the grid. */
        uint64_t c = s->id_first;
        for (size_t k = 0; k < n && c + INST_ID_COUNT - 1 <= s->id_last; k++) {
                if (!inst_id_overlap(used[k], c)) {
                        if (used[k] > c)
                                break; /* sorted: none further overlaps */
                        continue;
                }
                uint64_t past = used[k] + INST_ID_COUNT - s->id_first;
                c = s->id_first + (past + INST_ID_COUNT - 1) / INST_ID_COUNT * INST_ID_COUNT;
        }
        if (c + INST_ID_COUNT - 1 > s->id_last)
                return vs_err_msg(err, ENOSPC,
                                  "no free id range for an unprivileged instance: [security] id_range %llu-%llu holds "
                                  "%llu blocks of %u ids, all taken (destroy one, widen the range or use --privileged)",
                                  (unsigned long long) s->id_first, (unsigned long long) s->id_last,
                                  (unsigned long long) ((s->id_last - s->id_first + 1) / INST_ID_COUNT),
                                  INST_ID_COUNT);
        *ret_base = c;
        return 0;
}

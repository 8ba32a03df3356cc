/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The id blocks of unprivileged instances (vsd/inst/idrange.c). */
#include <errno.h>
#include <string.h>

#include "tests/unit/check.h"
#include "vsd/inst/idrange.h"

#define B INST_ID_COUNT

int main(void) {
        struct security_settings s = { .id_first = 1000000, .id_last = 1000000 + 3 * B - 1 };
        vs_error err = { 0 };
        uint64_t got = 0;

        CHECK("empty pool: the first block", inst_id_pick(&s, NULL, 0, &got, &err) == 0 && got == 1000000, "%llu",
              (unsigned long long) got);
        uint64_t used1[] = { 1000000 + B, 1000000 };
        CHECK("the lowest free block, whatever the order", inst_id_pick(&s, used1, 2, &got, &err) == 0 &&
                                                                   got == 1000000 + 2 * B,
              "%llu", (unsigned long long) got);
        uint64_t used2[] = { 1000000 + 2 * B, 1000000 };
        CHECK("a hole is reused", inst_id_pick(&s, used2, 2, &got, &err) == 0 && got == 1000000 + B, "%llu",
              (unsigned long long) got);
        uint64_t used3[] = { 1000000, 1000000 + B, 1000000 + 2 * B };
        int r = inst_id_pick(&s, used3, 3, &got, &err);
        CHECK("a full pool is refused", r == -ENOSPC && strstr(err.msg, "no free id range") && !strchr(err.msg, '\n'),
              "%d %s", r, err.msg);
        /* a block off the grid (the range was changed) blocks the two it touches */
        uint64_t used4[] = { 1000000 + 10 };
        CHECK("a block off the grid is stepped over", inst_id_pick(&s, used4, 1, &got, &err) == 0 && got == 1000000 + 2 * B,
              "%llu", (unsigned long long) got);
        uint64_t used5[] = { 5 };
        CHECK("a block below the pool does not matter", inst_id_pick(&s, used5, 1, &got, &err) == 0 && got == 1000000,
              "%llu", (unsigned long long) got);
        CHECK("overlap", inst_id_overlap(1000000, 1000000 + B - 1) && !inst_id_overlap(1000000, 1000000 + B), "wrong");
        return CHECK_DONE();
}

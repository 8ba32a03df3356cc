/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A minimal test reporter: one line per case, "ok - name" or
 * "not ok - name: why"; tests/run.sh counts the lines. */

#include <stdio.h>

static int check_failures;

#define CHECK(name, cond, ...)                                          \
        do {                                                            \
                if (cond)                                               \
                        printf("ok - %s\n", name);                      \
                else {                                                  \
                        printf("not ok - %s: ", name);                  \
                        printf(__VA_ARGS__);                            \
                        printf("\n");                                   \
                        check_failures++;                               \
                }                                                       \
        } while (0)

#define CHECK_DONE() (check_failures ? 1 : 0)

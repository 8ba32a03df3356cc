/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the fuzzers share: libFuzzer's entry point, and the promises every
 * message a person reads must keep. */

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A message for a person: one line, and text the API can send (jansson
 * takes only valid UTF-8: a message it refuses never reaches the client).
 * Empty allowed only with may_be_empty. */
static inline void fuzz_check_message(const char *msg, int may_be_empty) {
        size_t n = strnlen(msg, VS_ERROR_MAX);
        if (n == VS_ERROR_MAX || (!n && !may_be_empty))
                abort();
        for (size_t k = 0; k < n; k++)
                if ((unsigned char) msg[k] < 0x20 || msg[k] == 0x7f)
                        abort(); /* a control character: a second line, or worse on a terminal */
        json_t *j = json_string(msg);
        if (!j)
                abort(); /* not UTF-8 */
        json_decref(j);
}

/* A refusal: a code and one line saying why.  (The code the API answers
 * with is err's; some parsers return -EINVAL for an ERANGE in err.) */
static inline void fuzz_check_refusal(int r, const vs_error *err) {
        if (r >= 0 || err->code <= 0)
                abort();
        fuzz_check_message(err->msg, 0);
}

/* A file of this process's own under $TMPDIR (make fuzz points it into
 * the build directory), for what can only be read from a path. */
static inline const char *fuzz_tmp_path(const char *what) {
        static char path[256];
        if (!path[0]) {
                const char *dir = getenv("TMPDIR");
                snprintf(path, sizeof(path), "%s/vsd-fuzz-%s-%d.ini", dir && *dir ? dir : "/tmp", what, (int) getpid());
        }
        return path;
}

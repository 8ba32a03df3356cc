/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: vsctl's HTTP response reader on arbitrary bytes. */

#include <stdint.h>
#include <stdlib.h>

#include "base/http_reader.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        vs_http_head h;
        vs_error err = { 0 };

        /* the streaming chunk decoder on the same bytes, fed in two parts */
        vs_http_chunks c = { 0 };
        char *out = malloc(size + 1);
        size_t got = 0, used = 0, half = size / 2;
        if (!out)
                return 0;
        int cr = vs_http_chunks_feed(&c, (const char *) data, half, out, &got, &used, &err);
        if (got > half || (cr > 0 && used > half))
                abort();
        if (cr == 0) {
                cr = vs_http_chunks_feed(&c, (const char *) data + half, size - half, out, &got, &used, &err);
                if (got > size - half || (cr > 0 && used > size - half))
                        abort();
        }
        free(out);

        if (vs_http_parse_head((const char *) data, size, &h, &err) <= 0)
                return 0;
        if (h.len > size)
                abort(); /* the reader claimed more head than it was given */
        char *body = NULL;
        size_t len = 0;
        if (vs_http_has_body(&h) &&
            vs_http_parse_body(&h, (const char *) data + h.len, size - h.len, true, 1 << 20, &body, &len, &err) > 0 &&
            len > size)
                abort();
        free(body);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The WebSocket handshake's key (vsd/api/websocket.c): RFC 6455's own
 * example, and the keys a client must not get an answer for.
 */

#include <errno.h>
#include <string.h>

#include "vsd/api/websocket.h"
#include "tests/unit/check.h"

static void accept_key(void) {
        char out[WS_ACCEPT_SIZE];
        vs_error err = { 0 };
        /* RFC 6455 section 1.3 */
        int r = ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out, &err);
        CHECK("ws accept: the RFC's example", r == 0 && strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0,
              "r=%d out=%s (%s)", r, r == 0 ? out : "-", err.msg);

        static const char *const bad[] = {
                NULL,
                "",
                "dGhlIHNhbXBsZSBub25jZQ",       /* 22 characters */
                "dGhlIHNhbXBsZSBub25jZQ===",    /* 25 */
                "dGhlIHNhbXBsZSBub25j!Q==",     /* not base64 */
                "dGhlIHNhbXBsZSBub25jZXg=",     /* 17 bytes */
                "dGhlIHNhbXBsZSBub25jZQ==\r\nX", /* more after it */
        };
        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
                vs_error e = { 0 };
                char name[80];
                snprintf(name, sizeof(name), "ws accept: bad key %zu refused", k);
                r = ws_accept_key(bad[k], out, &e);
                CHECK(name, r == -EINVAL && strstr(e.msg, "Sec-WebSocket-Key"), "r=%d msg=%s", r, e.msg);
        }
}

int main(void) {
        accept_key();
        return CHECK_DONE();
}

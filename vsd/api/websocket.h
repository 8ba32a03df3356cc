/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The dashboard's browser console: an instance's console over a WebSocket
 * (RFC 6455) on a connection the HTTP layer has upgraded.  libwslay does
 * the framing; this does the handshake's key, the relay to the console
 * (console.h, a sink client) and the bounds that keep a slow or hostile
 * browser from holding the daemon: the socket is never waited on, what the
 * browser has not taken is bounded (past it the browser is dropped), and
 * a malformed frame closes that connection only.
 *
 * Browser to vsd: binary messages are input for the console; a text
 * message is a JSON control, {"resize": {"rows": R, "cols": C}}.  vsd to
 * browser: binary messages with the console's output as it comes.
 */

#include <stddef.h>

#include "base/error.h"

struct vsd;
struct console;

/* "Sec-WebSocket-Accept" for a client's Sec-WebSocket-Key (24 characters
 * of base64 for 16 bytes), with its terminating NUL. */
#define WS_ACCEPT_SIZE 29
int ws_accept_key(const char *key, char ret_accept[WS_ACCEPT_SIZE], vs_error *err);

/* Relay console c over sock (upgraded, owned by the caller) until either
 * side ends; then closed(ud) runs, after *slot has been set to NULL.  extra
 * is what the HTTP layer read past the request (the start of the first
 * frames).  On failure nothing has been taken and closed() is not called. */
struct ws_console;
int ws_console_start(struct vsd *v, struct console *c, int sock, const char *extra, size_t extra_len,
                     void (*closed)(void *ud), void *ud, struct ws_console **slot, vs_error *err);
/* End the session now (the daemon's exit): closed() runs. */
void ws_console_end(struct ws_console *s);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * An instance's console: a pty whose slave is the instance's /dev/console.
 * vsd always reads the master (so the instance never blocks on a full tty),
 * appends to a bounded console.log (rotated once to console.log.1) and
 * relays to every attached client; client input goes to the master.
 */

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct vsd;
struct console;

/* Create the pty pair.  *ret_slave stays owned by the console (vsd keeps one
 * slave fd open so the master never sees a hang-up between two shells). */
int console_open(struct vsd *v, const char *log_path, uint64_t log_size, struct console **ret, int *ret_slave,
                 vs_error *err);
void console_free(struct console *c);

/* The slave fd the console keeps (-EBADF: no console): what the instance's
 * /dev/console is now. */
int console_slave_fd(const struct console *c);

/* A running instance's console whose master the listener holder kept
 * across a daemon restart (holder.h): the console around master (taken),
 * with what the holder read meanwhile (data, len; lost older bytes)
 * appended to the log first.  The instance's /dev/console stays what it
 * was: nothing inside notices the restart. */
int console_adopt(struct vsd *v, const char *log_path, uint64_t log_size, int master, const char *data,
                  size_t len, uint32_t lost, struct console **ret, vs_error *err);

/* Give the holder a copy of the master, tagged with the instance's init
 * (and its pidfd, whose exit ends the holder's copy), unless it has one.
 * hold_give_console's answers: < 0 when it could not take it now (call
 * again when hold_ops.flush says so). */
struct hold;
struct hold_tag;
int console_hold(struct console *c, struct hold *h, const struct hold_tag *tag, int init_pidfd);
/* The holder died: it has no copy any more. */
void console_hold_lost(struct console *c);

/* The fallback when the master was lost with the daemon and the holder
 * together: the pty behind the instance's /dev/console is dead.  Mount
 * this console's slave over /dev/console inside the instance's mount
 * namespace, so the next shell init spawns there (and every later console
 * message) reaches the new vsd. */
int console_rebind(struct console *c, int init_pidfd, vs_error *err);

/* Relay the console to sock until the client closes it or the console
 * goes; then closed(ud).  *slot (may be NULL) points to the client while
 * it is attached, and is set to NULL before closed() is called: the owner
 * of sock may detach it first (console_detach). */
struct console_client;
int console_attach(struct console *c, int sock, void (*closed)(void *ud), void *ud, struct console_client **slot,
                   vs_error *err);
void console_detach(struct console_client *cl);

/* A client that frames the console's bytes itself (the dashboard's
 * WebSocket, websocket.c): output(ud) gets each piece of output as it is
 * read and returns < 0 to be detached (closed(ud) then runs, as for a
 * socket client); input comes through console_input().  The same rules
 * as a socket client otherwise: any number attached at once, each sees
 * the output from its attach on. */
struct console_sink {
        int (*output)(void *ud, const char *buf, size_t len);
};
int console_attach_sink(struct console *c, const struct console_sink *sink, void *ud, void (*closed)(void *ud),
                        struct console_client **slot, vs_error *err);
/* Input from a sink client: what the tty has no room for is dropped. */
void console_input(struct console_client *cl, const char *buf, size_t len);
/* Set the console's window size (any attached client may; the last one
 * wins, as with one terminal shared).  -EINVAL past 1..CONSOLE_SIZE_MAX. */
#define CONSOLE_SIZE_MAX 1000
int console_resize(struct console_client *cl, unsigned rows, unsigned cols);

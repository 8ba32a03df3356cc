/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * vsd's one event loop: epoll over fds (the API socket, libmicrohttpd's epoll
 * fd, a signalfd, one pidfd per instance init, console ptys, exec sockets)
 * and timerfds.  Single-threaded; callbacks run to completion.
 */

#include <stdint.h>

struct loop;
struct loop_source;

/* Return < 0 to have the source removed (its fd is not closed).  A callback
 * that closes the fd must loop_remove() the source first: a new fd with the
 * same number may be added before the loop would remove the old source. */
typedef int (*loop_fd_cb)(struct loop_source *s, int fd, uint32_t events, void *userdata);
typedef void (*loop_timer_cb)(struct loop_source *s, void *userdata);
/* Called before each wait; returns the longest wait in ms (-1 = forever). */
typedef int (*loop_prepare_cb)(void *userdata);

int loop_new(struct loop **ret);
void loop_free(struct loop *l);

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *userdata, struct loop_source **ret);
int loop_modify_fd(struct loop_source *s, uint32_t events);

/* One-shot timer in milliseconds. */
int loop_add_timer(struct loop *l, uint64_t ms, loop_timer_cb cb, void *userdata, struct loop_source **ret);

/* Remove and free a source (safe from inside any callback; NULL is fine). */
void loop_remove(struct loop_source *s);

void loop_set_prepare(struct loop *l, loop_prepare_cb cb, void *userdata);

/* Run until loop_quit(). */
int loop_run(struct loop *l);
void loop_quit(struct loop *l);

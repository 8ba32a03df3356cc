/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The REST API: libmicrohttpd on vsd's own Unix socket, driven from vsd's
 * epoll loop (MHD_USE_EPOLL: its epoll fd is one source of ours). */

#include "base/error.h"

struct vsd;

/* Bind the socket v->set.socket names and serve it.  The caller holds the
 * socket's lock (<socket>.lock, main.c): whatever is at the path is taken
 * over. */
int api_start(struct vsd *v, vs_error *err);
/* Answer what is still waiting (503), close every connection and the socket. */
void api_stop(struct vsd *v);

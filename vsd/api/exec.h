/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* `vsctl exec`: the daemon side of the exec protocol (base/proto.h) on an
 * upgraded API connection. */

#include <stdbool.h>

#include "base/error.h"

struct vsd;
struct instance;

struct exec_request {
        char **argv; /* NULL-terminated, owned by the caller until exec_run returns */
        char **env;  /* "K=V" added to the default environment; may be NULL */
        bool tty;
        unsigned short rows, cols; /* tty: the window size to start with; 0: unset */
};

struct exec_session;

/* Take over sock (already upgraded): run the command inside the instance,
 * hand the client the outer ends of its stdio pipes or the master of its
 * pty, report "exit N" or "error ...", then
 * call done(ud) (which closes sock).  Errors after this call are reported to
 * the client; the return value only says whether done() will be called.
 * *slot (may be NULL) points to the session while it lasts and is set to
 * NULL before done() is called: the owner of sock may end it first
 * (exec_abort). */
int exec_run(struct vsd *v, struct instance *i, const struct exec_request *req, int sock, void (*done)(void *ud),
             void *ud, struct exec_session **slot);

/* End a session before its command does (the daemon is stopping): the
 * client is told "error <why>", the command runs on, done() is called. */
void exec_abort(struct exec_session *s, const char *why);

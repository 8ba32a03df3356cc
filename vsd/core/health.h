/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Subsystems that run degraded: the daemon works without them, and says so
 * one way.  A subsystem that cannot start or stops working (the view's
 * lxcfs, the firewall, its watch, a kernel feature) reports itself here
 * with why and what instances lose meanwhile; that is logged once, as
 *   Degraded: lxcfs: <why>; <what is lost>
 * emitted as a "degraded" event, and shown by GET /v1/version ("degraded":
 * [...]) and `vsctl version` until the subsystem reports it recovered
 * ("Recovered: lxcfs", a "recovered" event).  A second report of the same
 * subsystem replaces the first without a second log line when nothing
 * changed.
 */

#include <jansson.h>

#include "base/error.h"

struct vsd;

/* subsystem: a short name ("lxcfs", "firewall", "firewall-watch",
 * "time-namespaces"); lost: what instances go without, in a few words;
 * why: the error (its message). */
void health_degraded(struct vsd *v, const char *subsystem, const char *lost, const vs_error *why);
void health_recovered(struct vsd *v, const char *subsystem);

/* [{"subsystem", "reason", "lost", "since"}], by subsystem. */
json_t *health_json(struct vsd *v);

void health_free(struct vsd *v);

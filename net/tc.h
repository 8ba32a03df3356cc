/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Bandwidth caps on an instance's host-side link, set over rtnetlink (no
 * tc(8)).  What the instance receives is what the host side sends: a TBF
 * root qdisc on the host side shapes it.  What the instance sends arrives
 * on the host side's ingress: an ingress qdisc with a matchall filter and a
 * police action caps it (dropping past the burst; TCP settles at the rate).
 * Both live outside the instance's namespace, so its root cannot lift them.
 */

#include <stdint.h>

#include "../base/error.h"
#include "nl.h"

/* Set the caps of ifname in bits per second: to_instance (the instance's
 * inbound, the host side's egress) and from_instance (its outbound).  0
 * removes that cap.  Idempotent: replaces whatever vsd set before. */
int tc_rate_set(struct nl *nl, const char *ifname, uint64_t to_instance_bps, uint64_t from_instance_bps,
                vs_error *err);

/* "10mbit", "1gbit", "500kbit", "2mbps" (bytes), "100000" (bit/s) ->
 * bits per second.  "0"/"none"/"" = no cap (0). */
int tc_rate_parse(const char *s, uint64_t *ret_bps, vs_error *err);
void tc_rate_format(uint64_t bps, char *buf, size_t len);

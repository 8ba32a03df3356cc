/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Bandwidth caps on an instance's host-side link, set over rtnetlink (no
 * tc(8)).  What the instance receives is what the host side sends: a TBF
 * root qdisc on the host side shapes it.  What the instance sends arrives
 * on the host side's ingress, which cannot queue: an ingress qdisc with a
 * match-all u32 filter redirects it (mirred) to an IFB device where a TBF
 * shapes it the same way.  All of it lives outside the instance's
 * namespace, so its root cannot lift the caps.
 */

#include <stdint.h>

#include "base/error.h"
#include "net/nl.h"

/* Set the caps of ifname in bits per second: to_instance (the instance's
 * inbound, the host side's egress) and from_instance (its outbound).  0
 * removes that cap.  Idempotent: replaces whatever vsd set before. */
int tc_rate_set(struct nl *nl, const char *ifname, uint64_t to_instance_bps, uint64_t from_instance_bps,
                vs_error *err);

/* The IFB device that shapes ifname's from_instance traffic ("ifb-" and 8
 * hex digits of a hash of ifname; its alias names ifname).  Deleting the
 * veth does not delete it: tc_rate_set(nl, ifname, 0, 0, err) does, even
 * after the link is gone. */
void tc_ifb_name(const char *ifname, char ret[16]);

/* "10mbit", "1gbit", "500kbit", "2mbps" (bytes), "100000" (bit/s) ->
 * bits per second.  "0"/"none"/"" = no cap (0). */
int tc_rate_parse(const char *s, uint64_t *ret_bps, vs_error *err);
void tc_rate_format(uint64_t bps, char *buf, size_t len);

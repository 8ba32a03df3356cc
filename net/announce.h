/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Telling a link's neighbours where an address now lives: a gratuitous ARP
 * (an ARP request for its own IPv4 address, broadcast) and an unsolicited
 * neighbour advertisement (to all nodes, override set) for each of its
 * global IPv6 addresses, sent from the link itself.  Bridges on the way
 * learn the MAC behind their port towards it, neighbours refresh their
 * caches: after an instance moved to another host on the same LAN, its
 * address is reached there at once, not after the bridges' entries age.
 * The kernel sends neither by itself when an address is added.
 */

#include "base/error.h"

/* At most this many addresses of a link are announced. */
#define NET_ANNOUNCE_MAX 16
/* A link just set up is waited for this long at most. */
#define NET_ANNOUNCE_WAIT_MS 3000
/* The pause between two rounds of an announcement. */
#define NET_ANNOUNCE_ROUND_MS 100

/* Wait until ifname in the network namespace netns_fd (-1: the caller's)
 * carries traffic: IFF_RUNNING, which the kernel's link watch sets only
 * once the carrier came and it gave the link its queueing discipline (a
 * packet sent before that is dropped without a word, and a bridge port
 * forwards only from then on).  At most timeout_ms; -ETIMEDOUT then,
 * -ENETDOWN at once when it is not up, -ENODEV when it is not there. */
int net_link_wait_running(int netns_fd, const char *ifname, int timeout_ms);

/* Announce every address of ifname in the network namespace netns_fd
 * (the caller's own namespace is left for the sockets' making only, and
 * re-entered before returning), once ifname carries (waited for as
 * net_link_wait_running(), NET_ANNOUNCE_WAIT_MS at most), in `rounds`
 * rounds NET_ANNOUNCE_ROUND_MS apart (a frame is not acknowledged: a
 * second round is what a lost one costs).  Each round also asks, with an
 * ARP request or a neighbour solicitation from the link, for every
 * neighbour of it that the kernel is still resolving (NUD_INCOMPLETE when
 * the link's namespace is looked at): after a restore those are the
 * restored sockets' peers, whose first answer the kernel asked for while
 * the link carried nothing and would ask for again only after
 * retrans_time_ms (a second), holding every segment for them meanwhile.
 * *ret_sent (may be NULL) counts the packets sent.  -ENODEV when the link
 * is not there. */
int net_announce(int netns_fd, const char *ifname, unsigned rounds, unsigned *ret_sent, vs_error *err);

struct net_cidr;

/* Announce addresses that are not ifname's own but answered for there
 * (proxy ARP/NDP entries of a routed instance's addresses on an uplink),
 * with ifname's MAC, from ifname in the caller's network namespace: the
 * LAN's router and neighbours then send them to this host (after an
 * instance moved here from another host that answered for them).  Sent
 * only if ifname carries now (nothing waited for), in `rounds` rounds as
 * net_announce().  -ENODEV when ifname is not there, -ENETDOWN when it
 * does not carry. */
int net_announce_proxied(const char *ifname, const struct net_cidr *addrs, unsigned n_addrs, unsigned rounds,
                         unsigned *ret_sent, vs_error *err);

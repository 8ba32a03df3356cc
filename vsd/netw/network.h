/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Instances on the network: the daemon's side of net/.  An instance in
 * bridge or routed mode gets one veth pair, "eth0" inside, <prefix><hash>
 * on the host (its alias "vsd:<root>:<name>" says whose it is); its
 * addresses live in its config.ini, which is the address pool's only
 * record.  The firewall (net/fw.h) holds its port and forwards from its
 * creation to its destruction; the bridge exists while any instance is on
 * it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"
#include "net/nl.h"
#include "vsd/conf/settings.h"
#include "vsd/start/start.h"

struct vsd;
struct netw;
struct netw_inst;

/* Open rtnetlink and the firewall.  A host without nftables still runs
 * instances without networking; starting one with a network says why not. */
int netw_new(struct vsd *v, vs_error *err);

/* After the registry is loaded: the firewall holds exactly the ports and
 * forwards of the instances with a network, links of ours that no running
 * instance owns (a crash between two steps) are deleted, and the pool of
 * spare namespaces is filled from the event loop. */
void netw_reconcile(struct vsd *v);

/* The firewall's tables, replaced in one transaction, with the port and
 * forwards of every instance with a network (running or not): at start,
 * and when they were deleted or changed behind vsd's back (fwguard.c).
 * *ret_ports, *ret_forwards (may be NULL): how many. */
int netw_fw_rebuild(struct vsd *v, size_t *ret_ports, size_t *ret_forwards, vs_error *err);

/* teardown (nothing runs any more): remove the firewall's tables and the
 * bridge vsd made. */
void netw_free(struct vsd *v, bool teardown);

/* The network's record of an instance (not a broken one), from its
 * creation (or the daemon's start) to its destruction: its settings, cfg,
 * borrowed for that long (addresses and ports taken, the firewall's
 * elements), whether those are in the firewall and whether its link may
 * exist.  netw_remove() takes its elements out of the firewall. */
int netw_add(struct vsd *v, const struct inst_config *cfg, struct netw_inst **ret);
void netw_remove(struct vsd *v, struct netw_inst *ni);

/* A running instance re-adopted at daemon start: its link is not stale. */
void netw_adopt(struct netw_inst *ni);

/* Complete and check an instance's network settings for create (old NULL)
 * or set: the mode defaults to the daemon's, missing addresses come from the
 * pool, prefixes from the network; an address or forwarded host port that
 * another instance holds is refused. */
int netw_resolve(struct vsd *v, const struct inst_config *old, struct inst_config *cfg, vs_error *err);

/* What the child sets up inside (start_spec.net); false: no network. */
bool netw_plan(struct vsd *v, const struct inst_config *cfg, struct start_net *ret);

/* The firewall's port and forwards of an instance with a network, from its
 * creation (or the daemon's start) until it is destroyed: starts and stops
 * then never wait for libnftables.  Registering twice is a no-op. */
int netw_register(struct vsd *v, struct netw_inst *ni, vs_error *err);
void netw_unregister(struct vsd *v, struct netw_inst *ni);

/* Before the clone, everything else: the bridge, a network namespace
 * (*ret_netns, which the child joins: one of the pool, or a new one) with
 * eth0 configured inside from plan, the host side, routes and caps.
 * Before the clone because while the cloned child lives every page the
 * daemon writes is copied (copy-on-write, with a TLB flush on the child's
 * CPU): libnftables alone cost 7 ms a start there. */
int netw_prepare(struct vsd *v, struct netw_inst *ni, const struct start_net *plan, bool configure, int *ret_netns,
                 vs_error *err);

/* An unprivileged instance's network, after its clone: its network
 * namespace belongs to its own user namespace (so that root inside holds
 * CAP_NET_ADMIN there), which exists only from the clone on.
 * netw_prepare() with configure false did the firewall and the bridge
 * only; here the veth is made with eth0 born in target_netns (the child's,
 * /proc/PID/ns/net) and configured there from plan, lo up.  The daemon's
 * root keeps every capability over that namespace: it is in the parent
 * user namespace.  Undone by netw_detach(). */
int netw_move_in(struct vsd *v, struct netw_inst *ni, const struct start_net *plan, int target_netns, vs_error *err);

/* The restore of a checkpoint (CRIU brings the network namespace back
 * itself, owned by the instance's user namespace, which exists only once
 * CRIU made it): the link made the usual way, its host side configured as
 * for a start (bridge, isolation, routes, caps) but down until CRIU is
 * done (netw_host_link_set_up), its inside end left
 * in our own namespace, down, with the instance's MAC, named
 * netw_restore_ifname() (*ret_inner; "" when the instance has no link),
 * for CRIU to move into the restored namespace as eth0 (its external
 * "netdev[eth0]").  Undone by netw_detach(). */
int netw_prepare_restore(struct vsd *v, struct netw_inst *ni, char ret_inner[16], vs_error *err);
/* The host side of the instance's link up or down, over a netlink socket
 * of its own (for a helper); up, a routed instance's host routes again
 * (the kernel drops a link's routes when it goes down).  Up, with inner_netns (the instance's network
 * namespace, or -1), it returns once the link carries both ways (eth0
 * inside and its bridge port), NET_ANNOUNCE_WAIT_MS at most each, or at
 * once when eth0 is down inside.  A restore's stays down until CRIU has
 * brought the sockets back (netw_prepare_restore). */
int netw_host_link_set_up(struct vsd *v, const struct inst_config *cfg, bool up, int inner_netns, vs_error *err);

/* A routed instance's addresses announced on every proxy_devs uplink
 * (net_announce_proxied(), `rounds` rounds): a LAN whose neighbours still
 * send them to another host (where it ran before a move) sends them here
 * from now on.  Nothing for other modes or without proxy_devs.  The
 * packets sent; a failure is logged, never returned. */
int netw_announce_proxied(struct vsd *v, const struct inst_config *cfg, unsigned rounds);
void netw_restore_ifname(struct vsd *v, const char *name, char ret[16]);

/* Undo netw_prepare (stop, failed start, crash cleanup); quiet,
 * idempotent. */
void netw_detach(struct vsd *v, struct netw_inst *ni);

/* The same after a stop whose init died with its namespace: the link goes
 * with the namespace, in the kernel's own time, and what is left a moment
 * later (the bridge once unused too) is removed by the event loop. */
void netw_release(struct vsd *v, struct netw_inst *ni);

/* Apply a changed network config, old (in force) to cfg: the firewall's
 * elements always, and to an instance with processes (live, its init's
 * pidfd) its addresses, routes, rates and isolation too.  Changing the
 * mode needs a stop. */
int netw_update(struct vsd *v, struct netw_inst *ni, const struct inst_config *old, const struct inst_config *cfg,
                bool live, int init_pidfd, vs_error *err);

/* Bytes and packets the instance sent (tx) and received (rx). */
int netw_counters(struct vsd *v, const struct inst_config *cfg, struct nl_link_stats *ret);

/* The host side's name. */
void netw_host_ifname(struct vsd *v, const char *name, char ret[16]);

/* The instance's MAC: from its name alone, so it stays the same on any host
 * it moves to. */
void netw_mac(const char *name, uint8_t mac[NET_MAC_LEN]);

/* Bridge or routed: it has a link (and a MAC, addresses, firewall elements). */
bool netw_has_link(const struct inst_config *cfg);

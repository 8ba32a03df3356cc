/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * rtnetlink over libmnl: links (bridge, veth), addresses, routes, proxy
 * neighbour entries and link counters.  No ip(8).  Every failure fills err
 * with what was asked and the kernel's own text (extended ack) when it
 * gave one: "Failed to add address 10.0.0.5/24 to vsa1b2c3d4: Address
 * already assigned".
 *
 * A struct nl is one NETLINK_ROUTE socket bound in one network namespace
 * (the one current when it was opened): a socket stays in its namespace
 * even after its opener moves.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "base/util.h"
#include "net/addr.h"

struct nl;

/* A socket in the caller's current network namespace. */
int nl_open(struct nl **ret, vs_error *err);

/* A socket in another network namespace (an fd of /proc/PID/ns/net or a
 * pidfd): setns there, open, setns back.  The caller must be
 * single-threaded. */
int nl_open_netns(int nsfd, struct nl **ret, vs_error *err);

/* A new network namespace, held by the fd returned in *ret_fd (it lives
 * as long as the fd or a process in it): unshare, open, and back to the
 * caller's namespace.  The caller must be single-threaded. */
int nl_netns_new(int *ret_fd, vs_error *err);

void nl_close(struct nl *nl);
static inline void nl_closep(struct nl **p) {
        if (*p)
                nl_close(*p);
}
#define _cleanup_nl_ _cleanup_(nl_closep)

/* ifindex of name, -ENODEV when there is none (no err: a lookup). */
int nl_link_index(struct nl *nl, const char *name);

/* Create a bridge (no STP, forward delay 0), MAC fixed to mac when given
 * (a bridge otherwise takes the lowest port's MAC, which changes as ports
 * come and go), mtu 0 = the default.  -EEXIST when it exists. */
int nl_bridge_create(struct nl *nl, const char *name, const uint8_t *mac, unsigned mtu, vs_error *err);

struct nl_veth {
        const char *name;      /* host side, in nl's namespace */
        const char *alias;     /* IFLA_IFALIAS of the host side (who owns it), or NULL */
        const char *peer_name; /* the instance side, e.g. "eth0" */
        const uint8_t *peer_mac; /* NULL: random */
        pid_t peer_netns_pid;  /* create the peer directly in this process's
                                * network namespace (no name clash with the host), */
        int peer_netns_fd;     /* or, with peer_netns_pid 0, in this one */
        unsigned mtu;          /* both ends; 0 = default */
        const char *master;    /* enslave the host side to this bridge, or NULL */
        bool up;               /* bring the host side up */
};

/* Create a veth pair, the peer in peer_netns_pid's namespace, in one
 * request with the host side's master and up state.  The peer is left
 * down. */
int nl_veth_create(struct nl *nl, const struct nl_veth *v, vs_error *err);

/* Take over a link that was made ahead of time (down): rename it, set its
 * alias, enslave it (master NULL: none) and bring it up, in one request
 * (the kernel renames before it applies the flags). */
int nl_link_claim(struct nl *nl, const char *name, const char *new_name, const char *alias, const char *master,
                  vs_error *err);

/* Set a (down) link's MAC address. */
int nl_link_set_mac(struct nl *nl, const char *name, const uint8_t mac[NET_MAC_LEN], vs_error *err);

/* Delete a link by name; -ENODEV (and no err) when it does not exist. */
int nl_link_delete(struct nl *nl, const char *name, vs_error *err);

/* Up or down. */
int nl_link_set_up(struct nl *nl, const char *name, bool up, vs_error *err);

/* Enslave to a bridge (master NULL: release). */
int nl_link_set_master(struct nl *nl, const char *name, const char *master, vs_error *err);

/* Bridge port flags of an enslaved link: isolated ports cannot talk to
 * each other, only to non-isolated ports (the bridge itself). */
int nl_bridge_port_set_isolated(struct nl *nl, const char *name, bool isolated, vs_error *err);

/* Address add/remove.  Adding one that exists is -EEXIST (with err). */
int nl_addr_add(struct nl *nl, const char *ifname, const struct net_cidr *a, vs_error *err);
int nl_addr_del(struct nl *nl, const char *ifname, const struct net_cidr *a, vs_error *err);

/* Routes in the main table.  dst with prefix 0 is the default route;
 * gateway NULL: a device route (scope link).  onlink: the gateway is on
 * the link even though no address covers it (routed mode's link-local
 * gateway).  replace: create or replace. */
struct nl_route {
        const char *ifname;
        const struct net_cidr *dst;
        const struct net_cidr *gateway;
        bool onlink;
};
int nl_route_add(struct nl *nl, const struct nl_route *r, vs_error *err);
/* Removing a route that does not exist is -ESRCH with no err. */
int nl_route_del(struct nl *nl, const struct nl_route *r, vs_error *err);

/* Proxy ARP/NDP entries ("ip neigh add proxy ADDR dev IF"): the host
 * answers for the address on that link. */
int nl_neigh_proxy_add(struct nl *nl, const char *ifname, const struct net_cidr *a, vs_error *err);
int nl_neigh_proxy_del(struct nl *nl, const char *ifname, const struct net_cidr *a, vs_error *err);

/* The neighbours of link ifindex still being resolved (NUD_INCOMPLETE:
 * the kernel queues what goes to them until an answer comes), IPv4 and
 * IPv6, at most max into ret; their number in *ret_n. */
int nl_neigh_unresolved(struct nl *nl, int ifindex, struct net_cidr *ret, size_t max, size_t *ret_n, vs_error *err);

struct nl_link_stats {
        uint64_t rx_bytes, rx_packets, tx_bytes, tx_packets, rx_dropped, tx_dropped;
};

/* One link's counters (IFLA_STATS64). */
int nl_link_stats(struct nl *nl, const char *name, struct nl_link_stats *ret, vs_error *err);

/* Every link of the namespace: name, ifindex, alias ("" when none), kind
 * ("veth", "bridge", ...; "" when unknown).  The callback returns < 0 to
 * stop the walk with that value. */
struct nl_link_info {
        const char *name;
        int ifindex;
        const char *alias;
        const char *kind;
        const char *master; /* "" when none */
};
int nl_link_foreach(struct nl *nl, int (*fn)(const struct nl_link_info *l, void *data), void *data,
                    vs_error *err);

/* Set /proc/sys/net/{ipv4,ipv6}/conf/IFNAME/KEY (proxy_arp, forwarding,
 * proxy_ndp, accept_ra...) in the caller's namespace. */
int nl_if_sysctl(int family, const char *ifname, const char *key, const char *value, vs_error *err);

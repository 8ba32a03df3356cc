/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * vsd's packet filter: anti-spoofing, outbound NAT and port forwards, in
 * nftables through libnftables.  Everything lives in two tables of vsd's
 * own, "bridge <table>" (L2: bridge-mode ports) and "inet <table>" (routed
 * ports, NAT, forwards), named by the daemon's settings so that two
 * daemons (or a test next to a production vsd) never share one.  vsd never
 * reads, flushes or changes any other table.
 *
 * Ports are the host sides of instance links.  Every interface whose name
 * starts with the configured prefix is checked: a port vsd has not
 * registered (yet, or any more) passes nothing, so there is no window in
 * which an instance sends unchecked.  A registered port passes only
 *   - frames from the instance's own MAC (bridge mode),
 *   - ARP whose sender is one of its IPv4 addresses and its MAC,
 *   - IPv4 from its addresses (and 0.0.0.0 nowhere: no DHCP client),
 *   - IPv6 from its addresses, and ICMPv6 neighbour discovery from
 *     link-local or unspecified (DAD) sources,
 * and never DHCP or DHCPv6 server replies or router advertisements.
 *
 * Every change is one nftables transaction: it applies whole or not at all.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/util.h"
#include "net/addr.h"

struct fw;

struct fw_config {
        const char *table;       /* "vsd": tables "bridge vsd" and "inet vsd" */
        const char *port_prefix; /* host-side link names vsd makes start with it ("vsh") */
        /* Masquerade traffic from these networks when it leaves through
         * any other link than bridge (none: no NAT). */
        const struct net_cidr *nat;
        size_t n_nat;
        const char *bridge;      /* the instances' bridge, "" when none */
};

struct fw_port {
        const char *ifname;             /* host side */
        uint8_t mac[NET_MAC_LEN];       /* the instance's eth0 */
        /* What it may send from: each address itself.  The prefix length
         * is that of the instance's link and does not widen it (a /24
         * would let it speak for its neighbours). */
        const struct net_cidr *addrs;
        size_t n_addrs;
        bool routed;                    /* point-to-point (inet table) rather than a bridge port */
};

struct fw_forward {
        int proto;                      /* IPPROTO_TCP or IPPROTO_UDP */
        uint16_t host_port;             /* on every local address of the host */
        struct net_cidr addr;           /* the instance's address (IPv4 or IPv6) */
        uint16_t port;                  /* in the instance */
};

/* A libnftables context for cfg (the strings are copied). */
int fw_open(const struct fw_config *cfg, struct fw **ret, vs_error *err);
void fw_close(struct fw *fw);
static inline void fw_closep(struct fw **p) {
        if (*p)
                fw_close(*p);
}
#define _cleanup_fw_ _cleanup_(fw_closep)

/* Replace both tables, in one transaction, with the base chains and sets,
 * the NAT rule and exactly these ports and forwards.  The daemon calls it
 * at start with what is running: whatever a crash left is gone, nothing
 * running is ever unprotected. */
int fw_sync(struct fw *fw, const struct fw_port *ports, size_t n_ports, const struct fw_forward *fwds,
            size_t n_fwds, vs_error *err);

/* Register a port (all its elements in one transaction); adding it again
 * replaces its addresses. */
int fw_port_add(struct fw *fw, const struct fw_port *p, vs_error *err);
/* Forget a port; one that is not registered is fine.  What was registered
 * under p->ifname goes, whatever p's addresses say now. */
int fw_port_del(struct fw *fw, const struct fw_port *p, vs_error *err);

/* A host port already forwarded (same protocol and address family) is
 * -EADDRINUSE with err: IPv4 and IPv6 forwards are separate maps, so one
 * host port may lead to an instance's IPv4 and its IPv6 address.  Forwards
 * answer on every local address except loopback (127.0.0.0/8, ::1), where
 * a local service keeps the port: a packet from loopback may not leave
 * through another link. */
int fw_forward_add(struct fw *fw, const struct fw_forward *f, vs_error *err);
int fw_forward_del(struct fw *fw, const struct fw_forward *f, vs_error *err);

/* Delete both tables; absent ones are fine. */
int fw_remove(struct fw *fw, vs_error *err);

/* "tcp:8080:80", "udp:5353:53", "8080:80" (tcp) -> proto and ports (addr
 * left for the caller). */
int fw_forward_parse(const char *s, struct fw_forward *ret, vs_error *err);
void fw_forward_format(const struct fw_forward *f, char *buf, size_t len);

/* Delete every nftables table whose name starts with prefix in the network
 * namespace netns_fd (a forked child enters it; the caller's namespace and
 * state are untouched): what CRIU's network lock ("CRIU-...") leaves in an
 * instance's namespace when its dump or its caller was killed half-way.
 * Returns how many went. */
int fw_netns_drop_tables(int netns_fd, const char *prefix, vs_error *err);

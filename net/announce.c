/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Gratuitous ARP and unsolicited neighbour advertisements (announce.h).
 * The sockets are made inside the link's network namespace (setns there
 * and back: a socket stays in the namespace it was made in), the packets
 * sent from here.
 */
#include "net/announce.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <netinet/icmp6.h>
#include <netinet/if_ether.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/util.h"
#include "net/addr.h"
#include "net/nl.h"

struct link_addrs {
        int ifindex;
        uint8_t mac[ETH_ALEN];
        bool have_mac;
        struct in_addr v4[NET_ANNOUNCE_MAX];
        unsigned n4;
        struct in6_addr v6[NET_ANNOUNCE_MAX];
        unsigned n6;
        int arp;                   /* the ARP socket, or -EBADF */
        int nd[NET_ANNOUNCE_MAX];  /* per IPv6 address, bound to it, or -EBADF */
        struct net_cidr unresolved[NET_ANNOUNCE_MAX]; /* neighbours being resolved (neigh_ask) */
        size_t n_unresolved;
};

static void link_addrs_close(struct link_addrs *l) {
        safe_close(&l->arp);
        for (unsigned k = 0; k < NET_ANNOUNCE_MAX; k++)
                safe_close(&l->nd[k]);
}

/* An ICMPv6 socket sending from a (the kernel fills in the checksum of a
 * raw ICMPv6 socket) to the link's all-nodes group, with the hop limit
 * RFC 4861 asks (receivers drop any other); a raw socket binds once, so
 * one per address.  A tentative address cannot be bound: -errno. */
static int nd_socket(const struct in6_addr *a, int ifindex) {
        _cleanup_close_ int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
        int hops = 255, one = 1;
        struct sockaddr_in6 from = { .sin6_family = AF_INET6, .sin6_addr = *a };
        if (fd < 0 || setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) < 0 ||
            setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) < 0 ||
            setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one)) < 0 ||
            bind(fd, (const struct sockaddr *) &from, sizeof(from)) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static void link_addrs_init(struct link_addrs *l) {
        *l = (struct link_addrs) { .arp = -EBADF };
        for (unsigned k = 0; k < NET_ANNOUNCE_MAX; k++)
                l->nd[k] = -EBADF;
}

/* The sockets to send l's addresses with, from its link (in the namespace
 * they are to be sent in: a socket stays in the one it was made in). */
static int open_sockets(struct link_addrs *l) {
        if (!l->have_mac)
                return -ENODEV;
        if (l->n4) {
                l->arp = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
                if (l->arp < 0)
                        return -errno;
        }
        for (unsigned k = 0; k < l->n6; k++)
                l->nd[k] = nd_socket(&l->v6[k], l->ifindex);
        return 0;
}

/* In the link's namespace: the neighbours whose resolution is under way
 * (best effort: none when they cannot be listed).  After a restore they
 * are the peers of its TCP connections: the restored sockets' first
 * segments went out while the link carried nothing, the kernel's
 * solicitation with them, and the next one is due only a second later
 * (retrans_time_ms), with those segments and every answer to the peers'
 * retransmissions queued until then. */
static void unresolved_collect(struct link_addrs *l) {
        _cleanup_nl_ struct nl *nl = NULL;
        vs_error err = { 0 };
        size_t n = 0;
        if (nl_open(&nl, &err) >= 0 && nl_neigh_unresolved(nl, l->ifindex, l->unresolved, NET_ANNOUNCE_MAX, &n, &err) >= 0)
                l->n_unresolved = n;
}

/* In the link's namespace: what it has (its own addresses when own),
 * and the sockets to send with. */
static int collect(const char *ifname, bool own, struct link_addrs *l) {
        struct ifaddrs *ifa = NULL;
        l->ifindex = (int) if_nametoindex(ifname);
        if (l->ifindex <= 0)
                return -ENODEV;
        if (getifaddrs(&ifa) < 0)
                return -errno;
        for (struct ifaddrs *a = ifa; a; a = a->ifa_next) {
                if (!a->ifa_addr || !streq(a->ifa_name, ifname))
                        continue;
                int fam = a->ifa_addr->sa_family;
                if (fam == AF_PACKET) {
                        const struct sockaddr_ll *ll = (const struct sockaddr_ll *) a->ifa_addr;
                        if (ll->sll_halen == ETH_ALEN) {
                                memcpy(l->mac, ll->sll_addr, ETH_ALEN);
                                l->have_mac = true;
                        }
                } else if (!own)
                        continue;
                else if (fam == AF_INET && l->n4 < NET_ANNOUNCE_MAX)
                        l->v4[l->n4++] = ((const struct sockaddr_in *) a->ifa_addr)->sin_addr;
                else if (fam == AF_INET6 && l->n6 < NET_ANNOUNCE_MAX) {
                        const struct in6_addr *x = &((const struct sockaddr_in6 *) a->ifa_addr)->sin6_addr;
                        /* link-local ones are the link's own: nothing moved */
                        if (!IN6_IS_ADDR_LINKLOCAL(x) && !IN6_IS_ADDR_MULTICAST(x))
                                l->v6[l->n6++] = *x;
                }
        }
        freeifaddrs(ifa);
        return own ? open_sockets(l) : 0;
}

/* A broadcast ARP request from the link for tpa, from spa: 1 when sent. */
static unsigned arp_request(int fd, const struct link_addrs *l, const void *spa, const void *tpa) {
        struct sockaddr_ll to = { .sll_family = AF_PACKET,
                                  .sll_protocol = htons(ETH_P_ARP),
                                  .sll_ifindex = l->ifindex,
                                  .sll_halen = ETH_ALEN };
        memset(to.sll_addr, 0xff, ETH_ALEN);
        struct ether_arp p = { 0 };
        p.arp_hrd = htons(ARPHRD_ETHER);
        p.arp_pro = htons(ETHERTYPE_IP);
        p.arp_hln = ETH_ALEN;
        p.arp_pln = 4;
        p.arp_op = htons(ARPOP_REQUEST);
        memcpy(p.arp_sha, l->mac, ETH_ALEN);
        memcpy(p.arp_spa, spa, 4);
        memcpy(p.arp_tpa, tpa, 4);
        return sendto(fd, &p, sizeof(p), 0, (const struct sockaddr *) &to, sizeof(to)) == (ssize_t) sizeof(p);
}

static unsigned send_arp(int fd, const struct link_addrs *l) {
        unsigned sent = 0;
        /* a request for its own address (sender = target): what every
         * stack takes as an update of its cache entry */
        for (unsigned k = 0; k < l->n4; k++)
                sent += arp_request(fd, l, &l->v4[k], &l->v4[k]);
        return sent;
}

/* An advertisement or a solicitation (the same layout: type, flags,
 * target, then one link-layer address option, the link's MAC) through fd
 * to `to`: 1 when sent. */
static unsigned nd_message(int fd, const struct link_addrs *l, uint8_t type, uint32_t flags, const void *target,
                           uint8_t opt, const struct sockaddr_in6 *to) {
        struct {
                struct nd_neighbor_advert m;
                struct nd_opt_hdr opt;
                uint8_t mac[ETH_ALEN];
        } __attribute__((packed)) p = { 0 };
        p.m.nd_na_type = type;
        p.m.nd_na_flags_reserved = flags;
        memcpy(&p.m.nd_na_target, target, 16);
        p.opt.nd_opt_type = opt;
        p.opt.nd_opt_len = 1; /* in units of 8 bytes */
        memcpy(p.mac, l->mac, ETH_ALEN);
        return sendto(fd, &p, sizeof(p), 0, (const struct sockaddr *) to, sizeof(*to)) == (ssize_t) sizeof(p);
}

static unsigned send_na(const struct link_addrs *l) {
        struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_scope_id = (uint32_t) l->ifindex };
        (void) inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
        unsigned sent = 0;
        for (unsigned k = 0; k < l->n6; k++)
                if (l->nd[k] >= 0)
                        sent += nd_message(l->nd[k], l, ND_NEIGHBOR_ADVERT, ND_NA_FLAG_OVERRIDE, &l->v6[k],
                                           ND_OPT_TARGET_LINKADDR, &to);
        return sent;
}

/* rounds rounds NET_ANNOUNCE_ROUND_MS apart; l's sockets closed after */
/* An ARP request for each unresolved IPv4 neighbour and a neighbour
 * solicitation for each IPv6 one, from the link: their answers complete
 * the kernel's entries at once, and what it queued for them goes. */
static unsigned neigh_ask(const struct link_addrs *l) {
        unsigned sent = 0;
        int nd = -EBADF;
        for (unsigned k = 0; k < l->n6 && nd < 0; k++)
                nd = l->nd[k];
        for (size_t k = 0; k < l->n_unresolved; k++) {
                const struct net_cidr *n = &l->unresolved[k];
                if (n->family == AF_INET && l->arp >= 0 && l->n4 > 0)
                        sent += arp_request(l->arp, l, &l->v4[0], n->addr);
                else if (n->family == AF_INET6 && nd >= 0) {
                        /* to its solicited-node group, ff02::1:ffXX:XXXX */
                        struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_scope_id = (uint32_t) l->ifindex };
                        (void) inet_pton(AF_INET6, "ff02::1:ff00:0", &to.sin6_addr);
                        memcpy(&to.sin6_addr.s6_addr[13], &n->addr[13], 3);
                        sent += nd_message(nd, l, ND_NEIGHBOR_SOLICIT, 0, n->addr, ND_OPT_SOURCE_LINKADDR, &to);
                }
        }
        return sent;
}

static void send_rounds(struct link_addrs *l, unsigned rounds, unsigned *ret_sent) {
        unsigned sent = 0;
        for (unsigned k = 0; k < rounds; k++) {
                if (k > 0)
                        (void) poll(NULL, 0, NET_ANNOUNCE_ROUND_MS);
                if (l->arp >= 0)
                        sent += send_arp(l->arp, l);
                sent += send_na(l);
                sent += neigh_ask(l);
        }
        link_addrs_close(l);
        if (ret_sent)
                *ret_sent = sent;
}

/* A socket of the network namespace netns_fd (-1: ours), for the links'
 * flags: a socket's ioctls see the namespace it was made in. */
static int flags_socket(int netns_fd) {
        if (netns_fd < 0) {
                int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                return fd < 0 ? -errno : fd;
        }
        _cleanup_close_ int own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (own < 0)
                return -errno;
        if (setns(netns_fd, CLONE_NEWNET) < 0)
                return -errno;
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int e = errno;
        if (setns(own, CLONE_NEWNET) < 0) {
                e = errno;
                safe_close(&fd);
                return -e;
        }
        return fd < 0 ? -e : fd;
}

int net_link_wait_running(int netns_fd, const char *ifname, int timeout_ms) {
        _cleanup_close_ int fd = flags_socket(netns_fd);
        if (fd < 0)
                return fd;
        struct ifreq ifr = { 0 };
        if (strlen(ifname) >= sizeof(ifr.ifr_name))
                return -ENODEV;
        strcpy(ifr.ifr_name, ifname);
        /* the link watch runs from a work queue, soon after the carrier
         * came: a few milliseconds on a quiet host */
        for (int waited = 0;; waited += 5) {
                if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                        return -errno;
                if (ifr.ifr_flags & IFF_RUNNING)
                        return 0;
                /* set down: it will not carry by itself */
                if (!(ifr.ifr_flags & IFF_UP))
                        return -ENETDOWN;
                if (waited >= timeout_ms)
                        return -ETIMEDOUT;
                (void) poll(NULL, 0, 5);
        }
}

int net_announce(int netns_fd, const char *ifname, unsigned rounds, unsigned *ret_sent, vs_error *err) {
        int r = net_link_wait_running(netns_fd, ifname, NET_ANNOUNCE_WAIT_MS);
        if (r == -ENODEV)
                return vs_err(err, ENODEV, "announce %s", ifname);
        if (r < 0)
                return vs_err(err, -r, "announce %s: wait for it to carry", ifname);
        _cleanup_close_ int own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (own < 0)
                return vs_err(err, errno, "announce %s: open the own network namespace", ifname);
        if (setns(netns_fd, CLONE_NEWNET) < 0)
                return vs_err(err, errno, "announce %s: enter its network namespace", ifname);
        struct link_addrs l;
        link_addrs_init(&l);
        r = collect(ifname, true, &l);
        if (r >= 0)
                unresolved_collect(&l);
        /* back before anything else: the caller's sockets are made here */
        if (setns(own, CLONE_NEWNET) < 0) {
                r = -errno;
                link_addrs_close(&l);
                return vs_err(err, -r, "announce %s: return to the own network namespace", ifname);
        }
        if (r < 0) {
                link_addrs_close(&l);
                return vs_err(err, -r, "announce %s", ifname);
        }
        send_rounds(&l, rounds, ret_sent);
        return 0;
}

int net_announce_proxied(const char *ifname, const struct net_cidr *addrs, unsigned n_addrs, unsigned rounds,
                         unsigned *ret_sent, vs_error *err) {
        if (ret_sent)
                *ret_sent = 0;
        int r = net_link_wait_running(-1, ifname, 0);
        if (r < 0)
                return vs_err(err, -r, "announce on %s", ifname);
        struct link_addrs l;
        link_addrs_init(&l);
        r = collect(ifname, false, &l);
        for (unsigned k = 0; r >= 0 && k < n_addrs; k++)
                if (addrs[k].family == AF_INET && l.n4 < NET_ANNOUNCE_MAX)
                        memcpy(&l.v4[l.n4++], addrs[k].addr, 4);
                else if (addrs[k].family == AF_INET6 && l.n6 < NET_ANNOUNCE_MAX)
                        memcpy(&l.v6[l.n6++], addrs[k].addr, 16);
        if (r >= 0)
                r = open_sockets(&l);
        if (r < 0) {
                link_addrs_close(&l);
                return vs_err(err, -r, "announce on %s", ifname);
        }
        send_rounds(&l, rounds, ret_sent);
        return 0;
}

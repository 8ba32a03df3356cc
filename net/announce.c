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
#include <netinet/icmp6.h>
#include <netinet/if_ether.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/util.h"

struct link_addrs {
        int ifindex;
        uint8_t mac[ETH_ALEN];
        bool have_mac;
        struct in_addr v4[NET_ANNOUNCE_MAX];
        unsigned n4;
        struct in6_addr v6[NET_ANNOUNCE_MAX];
        unsigned n6;
};

/* In the link's namespace: what it has, and the sockets to send with. */
static int collect(const char *ifname, struct link_addrs *l, int *ret_arp, int *ret_nd) {
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
                } else if (fam == AF_INET && l->n4 < NET_ANNOUNCE_MAX)
                        l->v4[l->n4++] = ((const struct sockaddr_in *) a->ifa_addr)->sin_addr;
                else if (fam == AF_INET6 && l->n6 < NET_ANNOUNCE_MAX) {
                        const struct in6_addr *x = &((const struct sockaddr_in6 *) a->ifa_addr)->sin6_addr;
                        /* link-local ones are the link's own: nothing moved */
                        if (!IN6_IS_ADDR_LINKLOCAL(x) && !IN6_IS_ADDR_MULTICAST(x))
                                l->v6[l->n6++] = *x;
                }
        }
        freeifaddrs(ifa);
        if (!l->have_mac)
                return -ENODEV;
        *ret_arp = l->n4 ? socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP)) : -EBADF;
        if (l->n4 && *ret_arp < 0)
                return -errno;
        *ret_nd = l->n6 ? socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6) : -EBADF;
        if (l->n6 && *ret_nd < 0) {
                int e = errno;
                safe_close(ret_arp);
                return -e;
        }
        return 0;
}

static unsigned send_arp(int fd, const struct link_addrs *l) {
        struct sockaddr_ll to = { .sll_family = AF_PACKET,
                                  .sll_protocol = htons(ETH_P_ARP),
                                  .sll_ifindex = l->ifindex,
                                  .sll_halen = ETH_ALEN };
        memset(to.sll_addr, 0xff, ETH_ALEN);
        unsigned sent = 0;
        for (unsigned k = 0; k < l->n4; k++) {
                /* a request for its own address (sender = target): what
                 * every stack takes as an update of its cache entry */
                struct ether_arp p = { 0 };
                p.arp_hrd = htons(ARPHRD_ETHER);
                p.arp_pro = htons(ETHERTYPE_IP);
                p.arp_hln = ETH_ALEN;
                p.arp_pln = 4;
                p.arp_op = htons(ARPOP_REQUEST);
                memcpy(p.arp_sha, l->mac, ETH_ALEN);
                memcpy(p.arp_spa, &l->v4[k], 4);
                memcpy(p.arp_tpa, &l->v4[k], 4);
                if (sendto(fd, &p, sizeof(p), 0, (const struct sockaddr *) &to, sizeof(to)) == (ssize_t) sizeof(p))
                        sent++;
        }
        return sent;
}

static unsigned send_na(int fd, const struct link_addrs *l) {
        int hops = 255, ifindex = l->ifindex;
        /* RFC 4861: a hop limit of 255, or receivers drop it */
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) < 0 ||
            setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) < 0)
                return 0;
        struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_scope_id = (uint32_t) l->ifindex };
        (void) inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
        unsigned sent = 0;
        for (unsigned k = 0; k < l->n6; k++) {
                struct {
                        struct nd_neighbor_advert na;
                        struct nd_opt_hdr opt;
                        uint8_t mac[ETH_ALEN];
                } __attribute__((packed)) p = { 0 };
                p.na.nd_na_type = ND_NEIGHBOR_ADVERT;
                p.na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE;
                p.na.nd_na_target = l->v6[k];
                p.opt.nd_opt_type = ND_OPT_TARGET_LINKADDR;
                p.opt.nd_opt_len = 1; /* in units of 8 bytes */
                memcpy(p.mac, l->mac, ETH_ALEN);
                /* from the address itself (the kernel fills in the
                 * checksum of an ICMPv6 raw socket); a tentative one
                 * cannot be bound, and is skipped */
                struct sockaddr_in6 from = { .sin6_family = AF_INET6, .sin6_addr = l->v6[k] };
                int one = 1;
                (void) setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one));
                int s = fd;
                _cleanup_close_ int own = -EBADF;
                if (k > 0) {
                        /* a raw socket binds once: a fresh one in the same
                         * namespace for each further address */
                        own = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
                        if (own < 0 || setsockopt(own, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) < 0 ||
                            setsockopt(own, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) < 0)
                                continue;
                        s = own;
                }
                if (bind(s, (const struct sockaddr *) &from, sizeof(from)) < 0)
                        continue;
                if (sendto(s, &p, sizeof(p), 0, (const struct sockaddr *) &to, sizeof(to)) == (ssize_t) sizeof(p))
                        sent++;
        }
        return sent;
}

int net_announce(int netns_fd, const char *ifname, unsigned *ret_sent, vs_error *err) {
        _cleanup_close_ int own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (own < 0)
                return vs_err(err, errno, "announce %s: open the own network namespace", ifname);
        if (setns(netns_fd, CLONE_NEWNET) < 0)
                return vs_err(err, errno, "announce %s: enter its network namespace", ifname);
        struct link_addrs l = { 0 };
        _cleanup_close_ int arp = -EBADF, nd = -EBADF;
        int r = collect(ifname, &l, &arp, &nd);
        /* back before anything else: the caller's sockets are made here */
        if (setns(own, CLONE_NEWNET) < 0)
                return vs_err(err, errno, "announce %s: return to the own network namespace", ifname);
        if (r < 0)
                return vs_err(err, -r, "announce %s", ifname);
        unsigned sent = 0;
        if (arp >= 0)
                sent += send_arp(arp, &l);
        if (nd >= 0)
                sent += send_na(nd, &l);
        if (ret_sent)
                *ret_sent = sent;
        return 0;
}

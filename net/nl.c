/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rtnetlink over libmnl.  Every change is one request with NLM_F_ACK sent
 * through nl_request_ack(), which keeps the kernel's extended-ack text so
 * that the message a person reads says what the kernel objected to, not
 * only an errno.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/nl-internal.h"

/* Large enough for one recv of a link dump (a link with its stats is
 * ~1.5 KiB); the kernel sizes its dump skbs to the reader's buffer. */
#define NL_RECV_SIZE 32768

struct nl {
        struct mnl_socket *sock;
        uint32_t portid;
        uint32_t seq;
        char ext[256]; /* the extended-ack text of the last failed request */
};

/* ---- the socket ------------------------------------------------------- */

static int sock_setopt(struct mnl_socket *s, int opt) {
        int one = 1;
        return mnl_socket_setsockopt(s, opt, &one, sizeof(one)) < 0 ? -errno : 0;
}

int nl_open(struct nl **ret, vs_error *err) {
        _cleanup_free_ struct nl *nl = calloc(1, sizeof(*nl));
        if (!nl)
                return vs_err(err, ENOMEM, "Failed to open an rtnetlink socket");
        nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
        if (!nl->sock)
                return vs_err(err, errno, "Failed to open an rtnetlink socket");
        int r = mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0 ? -errno : 0;
        /* CAP_ACK: an error need not echo our whole request back.  EXT_ACK
         * is best effort: without it messages carry only the errno. */
        if (r == 0)
                r = sock_setopt(nl->sock, NETLINK_CAP_ACK);
        if (r < 0) {
                mnl_socket_close(nl->sock);
                return vs_err(err, -r, "Failed to set up an rtnetlink socket");
        }
        (void) sock_setopt(nl->sock, NETLINK_EXT_ACK);
        nl->portid = mnl_socket_get_portid(nl->sock);
        nl->seq = 1;
        *ret = TAKE_PTR(nl);
        return 0;
}

int nl_open_netns(int nsfd, struct nl **ret, vs_error *err) {
        _cleanup_close_ int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0)
                return vs_err(err, errno, "Failed to open /proc/self/ns/net");
        if (setns(nsfd, CLONE_NEWNET) < 0)
                return vs_err(err, errno, "Failed to enter the network namespace");
        struct nl *nl = NULL;
        int r = nl_open(&nl, err);
        /* staying in the other namespace would silently move every later
         * socket, sysctl and link lookup of this process there */
        if (setns(self, CLONE_NEWNET) < 0) {
                int e = errno;
                if (nl)
                        nl_close(nl);
                return vs_err(err, e, "Failed to return to the original network namespace");
        }
        if (r < 0)
                return r;
        *ret = nl;
        return 0;
}

int nl_netns_new(int *ret_fd, vs_error *err) {
        _cleanup_close_ int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0)
                return vs_err(err, errno, "Failed to open /proc/self/ns/net");
        if (unshare(CLONE_NEWNET) < 0)
                return vs_err(err, errno, "Failed to create a network namespace");
        int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        int e = errno;
        /* as in nl_open_netns: never stay in the new one */
        if (setns(self, CLONE_NEWNET) < 0) {
                e = errno;
                if (fd >= 0)
                        close(fd);
                return vs_err(err, e, "Failed to return to the original network namespace");
        }
        if (fd < 0)
                return vs_err(err, e, "Failed to open the new network namespace");
        *ret_fd = fd;
        return 0;
}

void nl_close(struct nl *nl) {
        if (!nl)
                return;
        mnl_socket_close(nl->sock);
        free(nl);
}

/* ---- requests --------------------------------------------------------- */

struct nlmsghdr *nl_msg_start(struct nl *nl, char *buf, uint16_t type, uint16_t flags) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        nlh->nlmsg_seq = ++nl->seq;
        return nlh;
}

static int ext_attr_cb(const struct nlattr *a, void *data) {
        if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
                snprintf(data, 256, "%s", mnl_attr_get_str(a));
        return MNL_CB_OK;
}

/* The errno of an NLMSG_ERROR (0: an ack) and its extended-ack text. */
static int parse_error(struct nl *nl, const struct nlmsghdr *nlh) {
        const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
        if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
                return -EBADMSG;
        if (e->error != 0 && (nlh->nlmsg_flags & NLM_F_ACK_TLVS)) {
                size_t off = sizeof(*e);
                if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
                        off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
                if (mnl_nlmsg_size(off) <= nlh->nlmsg_len)
                        mnl_attr_parse(nlh, (unsigned) off, ext_attr_cb, nl->ext);
        }
        return e->error;
}

/* One message of the answer: < 0 an error, 1 the end, 0 more to come.
 * After a callback failed (*cb_r < 0) the rest of a dump is still read
 * off the socket, or the next dump on it would fail with EBUSY. */
static int handle_msg(struct nl *nl, const struct nlmsghdr *nlh, mnl_cb_t cb, void *data, int *cb_r) {
        if (nlh->nlmsg_seq != nl->seq || nlh->nlmsg_pid != nl->portid)
                return 0; /* left over from an earlier request */
        if (nlh->nlmsg_type == NLMSG_ERROR) {
                int r = parse_error(nl, nlh);
                return r < 0 ? r : 1;
        }
        if (nlh->nlmsg_type == NLMSG_DONE)
                return 1;
        if (cb && *cb_r >= 0 && cb(nlh, data) < 0)
                *cb_r = -ECANCELED;
        return 0;
}

int nl_talk(struct nl *nl, const struct nlmsghdr *req, mnl_cb_t cb, void *data) {
        nl->ext[0] = '\0';
        if (mnl_socket_sendto(nl->sock, req, req->nlmsg_len) < 0)
                return -errno;
        _cleanup_free_ char *buf = malloc(NL_RECV_SIZE);
        if (!buf)
                return -ENOMEM;
        int cb_r = 0;
        for (;;) {
                ssize_t n = mnl_socket_recvfrom(nl->sock, buf, NL_RECV_SIZE);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                const struct nlmsghdr *nlh = (const struct nlmsghdr *) buf;
                int len = (int) n;
                for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
                        int r = handle_msg(nl, nlh, cb, data, &cb_r);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                return cb_r;
                }
        }
}

int nl_request_ack(struct nl *nl, const struct nlmsghdr *req) {
        return nl_talk(nl, req, NULL, NULL);
}

int nl_fail(struct nl *nl, vs_error *err, int r, const char *fmt, ...) {
        char what[VS_ERROR_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        if (nl->ext[0])
                return vs_err_msg(err, -r, "Failed to %s: %s", what, nl->ext);
        return vs_err(err, -r, "Failed to %s", what);
}

/* ---- links ------------------------------------------------------------ */

static struct ifinfomsg *put_ifinfo(struct nlmsghdr *nlh, int family, int index) {
        struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_family = (unsigned char) family;
        ifi->ifi_index = index;
        return ifi;
}

static int index_cb(const struct nlmsghdr *nlh, void *data) {
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        *(int *) data = ifi->ifi_index;
        return MNL_CB_OK;
}

int nl_link_index(struct nl *nl, const char *name) {
        if (!name || strlen(name) >= IFNAMSIZ)
                return -ENODEV;
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_GETLINK, 0);
        put_ifinfo(nlh, AF_UNSPEC, 0);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        /* no statistics: we only want the index */
        mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
        int index = 0;
        int r = nl_talk(nl, nlh, index_cb, &index);
        if (r < 0)
                return r == -ENOENT ? -ENODEV : r;
        return index > 0 ? index : -ENODEV;
}

/* The index of a link the caller names, with a message when it is not there. */
int nl_index_or_fail(struct nl *nl, const char *name, vs_error *err, const char *fmt, ...) {
        int index = nl_link_index(nl, name);
        if (index >= 0)
                return index;
        char what[VS_ERROR_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        if (index == -ENODEV)
                return vs_err_msg(err, ENODEV, "Failed to %s: no link %s", what, name ? name : "(null)");
        return vs_err(err, -index, "Failed to %s", what);
}

static void put_mac_mtu(struct nlmsghdr *nlh, const uint8_t *mac, unsigned mtu) {
        if (mac)
                mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
        if (mtu)
                mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
}

int nl_bridge_create(struct nl *nl, const char *name, const uint8_t *mac, unsigned mtu, vs_error *err) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        put_ifinfo(nlh, AF_UNSPEC, 0);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        put_mac_mtu(nlh, mac, mtu);
        struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
        struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
        /* instances come and go: a new port must forward at once, and
         * there is no loop for STP to break on a bridge of veths */
        mnl_attr_put_u32(nlh, IFLA_BR_STP_STATE, 0);
        mnl_attr_put_u32(nlh, IFLA_BR_FORWARD_DELAY, 0);
        mnl_attr_nest_end(nlh, data);
        mnl_attr_nest_end(nlh, info);
        int r = nl_request_ack(nl, nlh);
        return r < 0 ? nl_fail(nl, err, r, "create bridge %s", name) : 0;
}

int nl_veth_create(struct nl *nl, const struct nl_veth *v, vs_error *err) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        int master = 0;
        if (v->master) {
                master = nl_index_or_fail(nl, v->master, err, "create veth %s on %s", v->name, v->master);
                if (master < 0)
                        return master;
        }
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        struct ifinfomsg *ifi = put_ifinfo(nlh, AF_UNSPEC, 0);
        /* the kernel enslaves and then applies the flags to the new link:
         * one round trip instead of three on every start */
        if (v->up) {
                ifi->ifi_change = IFF_UP;
                ifi->ifi_flags = IFF_UP;
        }
        mnl_attr_put_strz(nlh, IFLA_IFNAME, v->name);
        if (master)
                mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t) master);
        put_mac_mtu(nlh, NULL, v->mtu);
        struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
        struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
        struct nlattr *peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
        put_ifinfo(nlh, AF_UNSPEC, 0);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, v->peer_name);
        put_mac_mtu(nlh, v->peer_mac, v->mtu);
        /* born in the instance's namespace: its name never meets the host's */
        if (v->peer_netns_pid > 0)
                mnl_attr_put_u32(nlh, IFLA_NET_NS_PID, (uint32_t) v->peer_netns_pid);
        else
                mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t) v->peer_netns_fd);
        mnl_attr_nest_end(nlh, peer);
        mnl_attr_nest_end(nlh, data);
        mnl_attr_nest_end(nlh, info);
        int r = nl_request_ack(nl, nlh);
        if (r < 0)
                return nl_fail(nl, err, r, "create veth %s (peer %s in the namespace of pid %d)", v->name,
                               v->peer_name, (int) v->peer_netns_pid);
        /* rtnl_newlink() does not apply IFLA_IFALIAS on creation */
        return v->alias ? nl_link_set_alias(nl, v->name, v->alias, err) : 0;
}

int nl_link_set_alias(struct nl *nl, const char *name, const char *alias, vs_error *err) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_NEWLINK, 0);
        put_ifinfo(nlh, AF_UNSPEC, 0);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        mnl_attr_put_strz(nlh, IFLA_IFALIAS, alias);
        int r = nl_request_ack(nl, nlh);
        return r < 0 ? nl_fail(nl, err, r, "set the alias of %s", name) : 0;
}

int nl_link_claim(struct nl *nl, const char *name, const char *new_name, const char *alias, const char *master,
                  vs_error *err) {
        int index = nl_index_or_fail(nl, name, err, "take over link %s as %s", name, new_name);
        if (index < 0)
                return index;
        int m = 0;
        if (master) {
                m = nl_index_or_fail(nl, master, err, "take over link %s as %s on %s", name, new_name, master);
                if (m < 0)
                        return m;
        }
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_NEWLINK, 0);
        struct ifinfomsg *ifi = put_ifinfo(nlh, AF_UNSPEC, index);
        ifi->ifi_change = IFF_UP;
        ifi->ifi_flags = IFF_UP;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, new_name);
        if (alias)
                mnl_attr_put_strz(nlh, IFLA_IFALIAS, alias);
        if (m)
                mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t) m);
        int r = nl_request_ack(nl, nlh);
        return r < 0 ? nl_fail(nl, err, r, "take over link %s as %s", name, new_name) : 0;
}

int nl_link_set_mac(struct nl *nl, const char *name, const uint8_t mac[NET_MAC_LEN], vs_error *err) {
        int index = nl_index_or_fail(nl, name, err, "set the MAC of %s", name);
        if (index < 0)
                return index;
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_NEWLINK, 0);
        put_ifinfo(nlh, AF_UNSPEC, index);
        mnl_attr_put(nlh, IFLA_ADDRESS, NET_MAC_LEN, mac);
        int r = nl_request_ack(nl, nlh);
        return r < 0 ? nl_fail(nl, err, r, "set the MAC of %s", name) : 0;
}

int nl_link_delete(struct nl *nl, const char *name, vs_error *err) {
        int index = nl_link_index(nl, name);
        if (index < 0)
                return index == -ENODEV ? index : vs_err(err, -index, "Failed to delete link %s", name);
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_DELLINK, 0);
        put_ifinfo(nlh, AF_UNSPEC, index);
        int r = nl_request_ack(nl, nlh);
        if (r == -ENODEV)
                return r; /* gone in between, with its peer for instance */
        return r < 0 ? nl_fail(nl, err, r, "delete link %s", name) : 0;
}

int nl_link_set_up(struct nl *nl, const char *name, bool up, vs_error *err) {
        const char *what = up ? "set up" : "set down";
        int index = nl_index_or_fail(nl, name, err, "%s %s", what, name);
        if (index < 0)
                return index;
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_NEWLINK, 0);
        struct ifinfomsg *ifi = put_ifinfo(nlh, AF_UNSPEC, index);
        ifi->ifi_change = IFF_UP;
        ifi->ifi_flags = up ? IFF_UP : 0;
        int r = nl_request_ack(nl, nlh);
        return r < 0 ? nl_fail(nl, err, r, "%s %s", what, name) : 0;
}

int nl_link_set_master(struct nl *nl, const char *name, const char *master, vs_error *err) {
        int index = nl_index_or_fail(nl, name, err, "set the master of %s", name);
        if (index < 0)
                return index;
        int mindex = 0;
        if (master) {
                mindex = nl_index_or_fail(nl, master, err, "enslave %s to %s", name, master);
                if (mindex < 0)
                        return mindex;
        }
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_NEWLINK, 0);
        put_ifinfo(nlh, AF_UNSPEC, index);
        mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t) mindex);
        int r = nl_request_ack(nl, nlh);
        if (r < 0)
                return master ? nl_fail(nl, err, r, "enslave %s to %s", name, master)
                              : nl_fail(nl, err, r, "release %s from its master", name);
        return 0;
}

int nl_bridge_port_set_isolated(struct nl *nl, const char *name, bool isolated, vs_error *err) {
        int index = nl_index_or_fail(nl, name, err, "set isolated %s on bridge port %s", isolated ? "on" : "off", name);
        if (index < 0)
                return index;
        char buf[MNL_SOCKET_BUFFER_SIZE];
        /* port flags belong to the bridge: AF_BRIDGE, IFLA_PROTINFO */
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_SETLINK, 0);
        put_ifinfo(nlh, AF_BRIDGE, index);
        struct nlattr *pi = mnl_attr_nest_start(nlh, IFLA_PROTINFO);
        mnl_attr_put_u8(nlh, IFLA_BRPORT_ISOLATED, isolated);
        mnl_attr_nest_end(nlh, pi);
        int r = nl_request_ack(nl, nlh);
        return r < 0 ? nl_fail(nl, err, r, "set isolated %s on bridge port %s", isolated ? "on" : "off", name)
                     : 0;
}

/* ---- addresses, routes, neighbours ------------------------------------ */

static size_t addr_len(const struct net_cidr *a) {
        return a->family == AF_INET6 ? 16 : 4;
}

/* "10.0.0.5/24" for messages. */
const char *nl_cidr_str(const struct net_cidr *a, char buf[NL_CIDR_STRLEN]) {
        net_cidr_format(a, true, buf, NL_CIDR_STRLEN);
        return buf;
}

static int check_family(const struct net_cidr *a, vs_error *err) {
        if (a->family != AF_INET && a->family != AF_INET6)
                return vs_err_msg(err, EAFNOSUPPORT, "address family %d is neither IPv4 nor IPv6", a->family);
        if (a->prefix > addr_len(a) * 8)
                return vs_err_msg(err, EINVAL, "prefix length %u is too long", a->prefix);
        return 0;
}

static int addr_change(struct nl *nl, uint16_t type, const char *ifname, const struct net_cidr *a,
                       vs_error *err) {
        bool add = type == RTM_NEWADDR;
        char s[NL_CIDR_STRLEN];
        int r = check_family(a, err);
        if (r < 0)
                return r;
        nl_cidr_str(a, s);
        int index = nl_link_index(nl, ifname);
        if (index < 0)
                return vs_err(err, -index, "Failed to %s address %s %s %s", add ? "add" : "remove", s,
                              add ? "to" : "from", ifname);
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, type, add ? NLM_F_CREATE | NLM_F_EXCL : 0);
        struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        ifa->ifa_family = (unsigned char) a->family;
        ifa->ifa_prefixlen = a->prefix;
        ifa->ifa_index = (unsigned) index;
        /* an instance's address is unique by allocation: duplicate address
         * detection would only keep it unusable for a second or two */
        if (a->family == AF_INET6)
                ifa->ifa_flags = IFA_F_NODAD;
        mnl_attr_put(nlh, IFA_LOCAL, addr_len(a), a->addr);
        mnl_attr_put(nlh, IFA_ADDRESS, addr_len(a), a->addr);
        r = nl_request_ack(nl, nlh);
        if (r < 0)
                return nl_fail(nl, err, r, "%s address %s %s %s", add ? "add" : "remove", s, add ? "to" : "from",
                               ifname);
        return 0;
}

int nl_addr_add(struct nl *nl, const char *ifname, const struct net_cidr *a, vs_error *err) {
        return addr_change(nl, RTM_NEWADDR, ifname, a, err);
}

int nl_addr_del(struct nl *nl, const char *ifname, const struct net_cidr *a, vs_error *err) {
        return addr_change(nl, RTM_DELADDR, ifname, a, err);
}

static int route_change(struct nl *nl, uint16_t type, const struct nl_route *rt, vs_error *err) {
        bool add = type == RTM_NEWROUTE;
        char s[NL_CIDR_STRLEN];
        int r = check_family(rt->dst, err);
        if (r < 0)
                return r;
        nl_cidr_str(rt->dst, s);
        int index = 0;
        if (rt->ifname) {
                index = nl_link_index(nl, rt->ifname);
                if (index < 0)
                        return vs_err(err, -index, "Failed to %s route %s: link %s", add ? "add" : "remove", s,
                                      rt->ifname);
        }
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, type, add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
        struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = (unsigned char) rt->dst->family;
        rtm->rtm_dst_len = rt->dst->prefix;
        rtm->rtm_table = RT_TABLE_MAIN;
        rtm->rtm_type = RTN_UNICAST;
        if (add) {
                rtm->rtm_protocol = RTPROT_STATIC;
                rtm->rtm_scope = rt->gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
        } else {
                rtm->rtm_scope = RT_SCOPE_NOWHERE; /* delete: any scope */
        }
        if (rt->onlink)
                rtm->rtm_flags |= RTNH_F_ONLINK;
        if (rt->dst->prefix > 0)
                mnl_attr_put(nlh, RTA_DST, addr_len(rt->dst), rt->dst->addr);
        if (rt->gateway)
                mnl_attr_put(nlh, RTA_GATEWAY, addr_len(rt->gateway), rt->gateway->addr);
        if (index > 0)
                mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t) index);
        r = nl_request_ack(nl, nlh);
        if (r == -ESRCH && !add)
                return r;
        if (r < 0)
                return nl_fail(nl, err, r, "%s route %s%s%s", add ? "add" : "remove", s, rt->ifname ? " dev " : "",
                               rt->ifname ? rt->ifname : "");
        return 0;
}

int nl_route_add(struct nl *nl, const struct nl_route *r, vs_error *err) {
        return route_change(nl, RTM_NEWROUTE, r, err);
}

int nl_route_del(struct nl *nl, const struct nl_route *r, vs_error *err) {
        return route_change(nl, RTM_DELROUTE, r, err);
}

static int neigh_proxy(struct nl *nl, uint16_t type, const char *ifname, const struct net_cidr *a, vs_error *err) {
        bool add = type == RTM_NEWNEIGH;
        char s[NL_CIDR_STRLEN];
        int r = check_family(a, err);
        if (r < 0)
                return r;
        nl_cidr_str(a, s);
        int index = nl_link_index(nl, ifname);
        if (index < 0)
                return vs_err(err, -index, "Failed to %s proxy neighbour %s on %s", add ? "add" : "remove", s, ifname);
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, type, add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
        struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
        nd->ndm_family = (unsigned char) a->family;
        nd->ndm_ifindex = index;
        nd->ndm_state = NUD_PERMANENT;
        nd->ndm_flags = NTF_PROXY;
        mnl_attr_put(nlh, NDA_DST, addr_len(a), a->addr);
        r = nl_request_ack(nl, nlh);
        if (r < 0)
                return nl_fail(nl, err, r, "%s proxy neighbour %s on %s", add ? "add" : "remove", s, ifname);
        return 0;
}

int nl_neigh_proxy_add(struct nl *nl, const char *ifname, const struct net_cidr *a, vs_error *err) {
        return neigh_proxy(nl, RTM_NEWNEIGH, ifname, a, err);
}

int nl_neigh_proxy_del(struct nl *nl, const char *ifname, const struct net_cidr *a, vs_error *err) {
        return neigh_proxy(nl, RTM_DELNEIGH, ifname, a, err);
}

struct neigh_list {
        int ifindex;
        struct net_cidr *out;
        size_t max, n;
};

static int neigh_row_cb(const struct nlmsghdr *nlh, void *data) {
        struct neigh_list *l = data;
        const struct ndmsg *nd = mnl_nlmsg_get_payload(nlh);
        if (nlh->nlmsg_type != RTM_NEWNEIGH || nd->ndm_ifindex != l->ifindex || !(nd->ndm_state & NUD_INCOMPLETE) ||
            (nd->ndm_family != AF_INET && nd->ndm_family != AF_INET6) || l->n >= l->max)
                return MNL_CB_OK;
        const struct nlattr *a;
        size_t len = nd->ndm_family == AF_INET ? 4 : 16;
        mnl_attr_for_each(a, nlh, sizeof(*nd)) {
                if (mnl_attr_get_type(a) != NDA_DST || mnl_attr_get_payload_len(a) != len)
                        continue;
                struct net_cidr *c = &l->out[l->n++];
                *c = (struct net_cidr) { .family = nd->ndm_family, .prefix = (uint8_t) (len * 8) };
                memcpy(c->addr, mnl_attr_get_payload(a), len);
        }
        return MNL_CB_OK;
}

int nl_neigh_unresolved(struct nl *nl, int ifindex, struct net_cidr *ret, size_t max, size_t *ret_n, vs_error *err) {
        struct neigh_list l = { .ifindex = ifindex, .out = ret, .max = max };
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_GETNEIGH, NLM_F_DUMP);
        struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
        nd->ndm_family = AF_UNSPEC;
        int r = nl_talk(nl, nlh, neigh_row_cb, &l);
        if (r < 0)
                return nl_fail(nl, err, r, "list the neighbours");
        *ret_n = l.n;
        return 0;
}

/* ---- counters and the link walk --------------------------------------- */

static int stats_cb(const struct nlmsghdr *nlh, void *data) {
        const struct nlattr *a;
        mnl_attr_for_each(a, nlh, sizeof(struct ifinfomsg)) {
                if (mnl_attr_get_type(a) != IFLA_STATS64 ||
                    mnl_attr_get_payload_len(a) < sizeof(struct rtnl_link_stats64))
                        continue;
                struct rtnl_link_stats64 s;
                memcpy(&s, mnl_attr_get_payload(a), sizeof(s)); /* attributes are only 4-byte aligned */
                *(struct nl_link_stats *) data = (struct nl_link_stats) {
                        .rx_bytes = s.rx_bytes, .rx_packets = s.rx_packets, .tx_bytes = s.tx_bytes,
                        .tx_packets = s.tx_packets, .rx_dropped = s.rx_dropped, .tx_dropped = s.tx_dropped,
                };
        }
        return MNL_CB_OK;
}

int nl_link_stats(struct nl *nl, const char *name, struct nl_link_stats *ret, vs_error *err) {
        int index = nl_index_or_fail(nl, name, err, "read the counters of %s", name);
        if (index < 0)
                return index;
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_GETLINK, 0);
        put_ifinfo(nlh, AF_UNSPEC, index);
        struct nl_link_stats s = { 0 };
        int r = nl_talk(nl, nlh, stats_cb, &s);
        if (r < 0)
                return nl_fail(nl, err, r, "read the counters of %s", name);
        *ret = s;
        return 0;
}

struct link_row {
        int index, master;
        char name[IFNAMSIZ], alias[256], kind[32];
};

struct link_list {
        struct link_row *rows;
        size_t n, cap;
};

static void link_attr(struct link_row *row, const struct nlattr *a) {
        switch (mnl_attr_get_type(a)) {
        case IFLA_IFNAME:
                snprintf(row->name, sizeof(row->name), "%s", mnl_attr_get_str(a));
                break;
        case IFLA_IFALIAS:
                snprintf(row->alias, sizeof(row->alias), "%s", mnl_attr_get_str(a));
                break;
        case IFLA_MASTER:
                row->master = (int) mnl_attr_get_u32(a);
                break;
        case IFLA_LINKINFO: {
                const struct nlattr *i;
                mnl_attr_for_each_nested(i, a)
                        if (mnl_attr_get_type(i) == IFLA_INFO_KIND)
                                snprintf(row->kind, sizeof(row->kind), "%s", mnl_attr_get_str(i));
                break;
        }
        }
}

static int link_row_cb(const struct nlmsghdr *nlh, void *data) {
        struct link_list *l = data;
        if (nlh->nlmsg_type != RTM_NEWLINK)
                return MNL_CB_OK;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                struct link_row *rows = realloc(l->rows, cap * sizeof(*rows));
                if (!rows)
                        return MNL_CB_ERROR;
                l->rows = rows;
                l->cap = cap;
        }
        struct link_row *row = &l->rows[l->n++];
        *row = (struct link_row) { .index = ((const struct ifinfomsg *) mnl_nlmsg_get_payload(nlh))->ifi_index };
        const struct nlattr *a;
        mnl_attr_for_each(a, nlh, sizeof(struct ifinfomsg)) {
                /* strings are validated once here, not in every case */
                int t = mnl_attr_get_type(a);
                if ((t == IFLA_IFNAME || t == IFLA_IFALIAS) && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
                        continue;
                link_attr(row, a);
        }
        return MNL_CB_OK;
}

static const char *master_name(const struct link_list *l, int index) {
        for (size_t i = 0; index > 0 && i < l->n; i++)
                if (l->rows[i].index == index)
                        return l->rows[i].name;
        return "";
}

int nl_link_foreach(struct nl *nl, int (*fn)(const struct nl_link_info *l, void *data), void *data,
                    vs_error *err) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_GETLINK, NLM_F_DUMP);
        put_ifinfo(nlh, AF_UNSPEC, 0);
        mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
        /* the whole list first: a port may come before its master */
        struct link_list l = { 0 };
        int r = nl_talk(nl, nlh, link_row_cb, &l);
        if (r < 0) {
                free(l.rows);
                return r == -ECANCELED ? vs_err(err, ENOMEM, "Failed to list the links")
                                       : nl_fail(nl, err, r, "list the links");
        }
        for (size_t i = 0; i < l.n && r >= 0; i++) {
                const struct link_row *row = &l.rows[i];
                struct nl_link_info info = { .name = row->name, .ifindex = row->index, .alias = row->alias,
                                             .kind = row->kind, .master = master_name(&l, row->master) };
                r = fn(&info, data);
        }
        free(l.rows);
        return r < 0 ? r : 0;
}

/* ---- sysctl ----------------------------------------------------------- */

static bool path_part_ok(const char *s) {
        return s && *s && !strchr(s, '/') && !streq(s, ".") && !streq(s, "..");
}

int nl_if_sysctl(int family, const char *ifname, const char *key, const char *value, vs_error *err) {
        if (!path_part_ok(ifname) || !path_part_ok(key) || (family != AF_INET && family != AF_INET6))
                return vs_err_msg(err, EINVAL, "invalid interface sysctl %s/%s", ifname ? ifname : "(null)",
                                  key ? key : "(null)");
        char path[256];
        snprintf(path, sizeof(path), "/proc/sys/net/ipv%c/conf/%s/%s", family == AF_INET ? '4' : '6', ifname, key);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return vs_err(err, errno, "Failed to open %s", path);
        size_t len = strlen(value);
        ssize_t n = write(fd, value, len);
        if (n < 0)
                return vs_err(err, errno, "Failed to write '%s' to %s", value, path);
        if ((size_t) n != len)
                return vs_err(err, EIO, "Failed to write '%s' to %s", value, path);
        return 0;
}

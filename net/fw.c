/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The packet filter (see fw.h) as nftables text run through libnftables.
 *
 * The rules never change after fw_sync(): what an instance may send lives
 * in sets keyed by its port's name, and starting or stopping an instance
 * only adds or deletes elements.  That keeps the per-start cost at one
 * small transaction and lets the rules be written once, below, where they
 * can be read as a whole.
 *
 * struct fw remembers what it has put into the sets.  The tables are vsd's
 * own and only this code writes them, so the memory matches the kernel;
 * it is what lets a port be re-registered with other addresses without
 * listing the sets first.  Every element command is still written to
 * succeed whether or not the element is there ("add" before "delete"), so
 * a table someone flushed by hand cannot wedge a port.
 */
#include "net/fw.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nftables/libnftables.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"

struct fw_port_state {
        char ifname[16];
        uint8_t mac[NET_MAC_LEN];
        struct net_cidr *addrs;
        size_t n_addrs;
        bool routed;
};

struct fw {
        struct nft_ctx *nft;
        char table[32];
        char prefix[16];
        char bridge[16];
        struct net_cidr *nat;
        size_t n_nat;
        struct fw_port_state *ports;
        size_t n_ports;
        struct fw_forward *fwds;
        size_t n_fwds;
};

/*
 * The ruleset.  %T is the table name, %P the port prefix, %B the bridge.
 * Rows marked WITH_BRIDGE / NO_BRIDGE are written only when a bridge is,
 * or is not, configured (nft refuses an empty interface name).
 */
enum row_when { ALWAYS, WITH_BRIDGE, NO_BRIDGE };

struct row {
        enum row_when when;
        const char *text;
};

/* ICMPv6 an instance needs before it has any address of its own: neighbour
 * discovery, duplicate address detection (from ::) and the MLD reports that
 * make a snooping bridge deliver its solicited-node multicast. */
#define ND_FROM_LINK_LOCAL                                                                        \
        "ip6 saddr { fe80::/10, :: } icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, "     \
        "nd-router-solicit, mld-listener-report, mld2-listener-report } accept"

static const struct row ruleset[] = {
        /* Atomic replacement: "add" makes the "delete" valid whether or
         * not the table exists, and the whole text is one transaction, so
         * the old rules hold until the new ones are in. */
        { ALWAYS, "add table bridge %T" },
        { ALWAYS, "delete table bridge %T" },
        { ALWAYS, "add table inet %T" },
        { ALWAYS, "delete table inet %T" },

        /* L2, bridge-mode ports.  Checked as a frame enters the bridge, so
         * a forged frame reaches neither another instance nor the host. */
        { ALWAYS, "table bridge %T {" },
        { ALWAYS, "  set ports { type ifname; }" },
        { ALWAYS, "  set port_mac { type ifname . ether_addr; }" },
        { ALWAYS, "  set port_ip4 { type ifname . ipv4_addr; }" },
        { ALWAYS, "  set port_ip6 { type ifname . ipv6_addr; }" },
        /* before anything else on the bridge sees the frame */
        { ALWAYS, "  chain prerouting {" },
        { ALWAYS, "    type filter hook prerouting priority -300; policy accept;" },
        { ALWAYS, "    iifname \"%P*\" jump port" },
        { ALWAYS, "  }" },
        { ALWAYS, "  chain port {" },
        /* a port not registered (yet, or any more) passes nothing */
        { ALWAYS, "    iifname != @ports drop" },
        { ALWAYS, "    iifname . ether saddr != @port_mac drop" },
        /* VLAN tags, IPX, LLDP, ...: nothing an instance needs, and each
         * would be a way around the checks below */
        { ALWAYS, "    ether type vmap { arp : jump port_arp, ip : jump port_ipv4, ip6 : jump port_ipv6 }" },
        { ALWAYS, "    drop" },
        { ALWAYS, "  }" },
        { ALWAYS, "  chain port_arp {" },
        /* the ARP sender fields, not the frame, are what neighbours cache */
        { ALWAYS, "    iifname . arp saddr ether != @port_mac drop" },
        { ALWAYS, "    iifname . arp saddr ip != @port_ip4 drop" },
        { ALWAYS, "    accept" },
        { ALWAYS, "  }" },
        { ALWAYS, "  chain port_ipv4 {" },
        /* a rogue DHCP server, even from the instance's own address */
        { ALWAYS, "    udp sport 67 drop" },
        { ALWAYS, "    iifname . ip saddr @port_ip4 accept" },
        { ALWAYS, "    drop" },
        { ALWAYS, "  }" },
        { ALWAYS, "  chain port_ipv6 {" },
        { ALWAYS, "    icmpv6 type { nd-router-advert, nd-redirect } drop" },
        { ALWAYS, "    udp sport 547 drop" },
        { ALWAYS, "    iifname . ip6 saddr @port_ip6 accept" },
        { ALWAYS, "    " ND_FROM_LINK_LOCAL },
        { ALWAYS, "    drop" },
        { ALWAYS, "  }" },
        { ALWAYS, "}" },

        /* L3: routed ports, NAT and port forwards. */
        { ALWAYS, "table inet %T {" },
        /* every registered port; routed: the point-to-point ones */
        { ALWAYS, "  set ports { type ifname; }" },
        { ALWAYS, "  set routed { type ifname; }" },
        { ALWAYS, "  set port_ip4 { type ifname . ipv4_addr; }" },
        { ALWAYS, "  set port_ip6 { type ifname . ipv6_addr; }" },
        { ALWAYS, "  set nat4 { type ipv4_addr; flags interval; }" },
        { ALWAYS, "  set nat6 { type ipv6_addr; flags interval; }" },
        { ALWAYS, "  map fwd4 { type inet_proto . inet_service : ipv4_addr . inet_service; }" },
        { ALWAYS, "  map fwd6 { type inet_proto . inet_service : ipv6_addr . inet_service; }" },
        /* raw priority: a forged packet never gets a conntrack entry */
        { ALWAYS, "  chain prerouting {" },
        { ALWAYS, "    type filter hook prerouting priority raw; policy accept;" },
        { ALWAYS, "    iifname \"%P*\" jump port" },
        { ALWAYS, "  }" },
        { ALWAYS, "  chain port {" },
        { ALWAYS, "    iifname != @ports drop" },
        /* Bridge ports were checked at L2; they show up here only when
         * br_netfilter passes bridged packets through the IP hooks. */
        { ALWAYS, "    iifname != @routed accept" },
        { ALWAYS, "    udp sport { 67, 547 } drop" },
        { ALWAYS, "    icmpv6 type { nd-router-advert, nd-redirect } drop" },
        { ALWAYS, "    iifname . ip saddr @port_ip4 accept" },
        { ALWAYS, "    iifname . ip6 saddr @port_ip6 accept" },
        { ALWAYS, "    " ND_FROM_LINK_LOCAL },
        { ALWAYS, "    drop" },
        { ALWAYS, "  }" },
        /* Port forwards on every local address.  A miss in the map is no
         * match, so other traffic to the host is left alone. */
        { ALWAYS, "  chain dstnat {" },
        { ALWAYS, "    type nat hook prerouting priority dstnat; policy accept;" },
        { ALWAYS, "    fib daddr type local dnat ip to meta l4proto . th dport map @fwd4" },
        { ALWAYS, "    fib daddr type local dnat ip6 to meta l4proto . th dport map @fwd6" },
        { ALWAYS, "  }" },
        /* The host's own connections.  Loopback is left out: a packet from
         * 127.0.0.1 or ::1 may not leave through another link (IPv4 only
         * with route_localnet, a sysctl vsd does not own), so a forward
         * there could only hang, and a local service keeps its port. */
        { ALWAYS, "  chain output {" },
        { ALWAYS, "    type nat hook output priority -100; policy accept;" },
        { ALWAYS, "    ip daddr != 127.0.0.0/8 fib daddr type local dnat ip to meta l4proto . th dport map @fwd4" },
        { ALWAYS, "    ip6 daddr != ::1 fib daddr type local dnat ip6 to meta l4proto . th dport map @fwd6" },
        { ALWAYS, "  }" },
        { ALWAYS, "  chain srcnat {" },
        { ALWAYS, "    type nat hook postrouting priority srcnat; policy accept;" },
        /* Outbound NAT, but not between instances and not onto the
         * bridge, where the instances' own addresses are at home. */
        { WITH_BRIDGE, "    oifname != \"%B\" ip saddr @nat4 ip daddr != @nat4 masquerade" },
        { WITH_BRIDGE, "    oifname != \"%B\" ip6 saddr @nat6 ip6 daddr != @nat6 masquerade" },
        { NO_BRIDGE, "    ip saddr @nat4 ip daddr != @nat4 masquerade" },
        { NO_BRIDGE, "    ip6 saddr @nat6 ip6 daddr != @nat6 masquerade" },
        /* Hairpin: an instance reaching a forward that leads to a
         * neighbour (or to itself) on its own network.  Without it the
         * answer would go straight back over the bridge from an address
         * the caller never talked to, and be dropped. */
        { ALWAYS, "    ct status dnat ip saddr @nat4 ip daddr @nat4 masquerade" },
        { ALWAYS, "    ct status dnat ip6 saddr @nat6 ip6 daddr @nat6 masquerade" },
        { ALWAYS, "  }" },
        { ALWAYS, "}" },
};

/* --- small helpers -------------------------------------------------------- */

/* Table names go into the rules unquoted: nft's identifier syntax. */
static bool table_name_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n >= sizeof(((struct fw *) 0)->table) || !isalpha((unsigned char) s[0]))
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && *s != '_')
                        return false;
        return true;
}

/* Interface names go into the rules quoted; refusing anything but these
 * characters keeps a name from closing the quote. */
static bool ifname_safe(const char *s, size_t max) {
        size_t n = strlen(s);
        if (n == 0 || n > max || streq(s, ".") || streq(s, ".."))
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && !strchr("-_.@", *s))
                        return false;
        return true;
}

static int addr_format(const struct net_cidr *c, char *buf, size_t len) {
        if (c->family != AF_INET && c->family != AF_INET6)
                return -EAFNOSUPPORT;
        if (!inet_ntop(c->family, c->addr, buf, (socklen_t) len))
                return -errno;
        return 0;
}

static const char *proto_name(int proto) {
        return proto == IPPROTO_UDP ? "udp" : "tcp";
}

/* Write a template row with %T, %P and %B filled in. */
static void put_row(FILE *f, const struct fw *fw, const char *text) {
        for (const char *p = text; *p; p++) {
                if (p[0] != '%' || !p[1]) {
                        fputc(*p, f);
                        continue;
                }
                p++;
                switch (*p) {
                case 'T':
                        fputs(fw->table, f);
                        break;
                case 'P':
                        fputs(fw->prefix, f);
                        break;
                case 'B':
                        fputs(fw->bridge, f);
                        break;
                default:
                        fputc('%', f);
                        fputc(*p, f);
                }
        }
        fputc('\n', f);
}

/* --- running nft ---------------------------------------------------------- */

/* nft's own message: the first "Error: ..." line, without the marker. */
static void nft_message(const char *out, char *buf, size_t len) {
        const char *line = out ? strstr(out, "Error: ") : NULL;
        if (line)
                line += strlen("Error: ");
        else
                line = out && *out ? out : "unknown error";
        size_t n = strcspn(line, "\n");
        if (n >= len)
                n = len - 1;
        memcpy(buf, line, n);
        buf[n] = '\0';
}

/* nft reports the kernel's errno only as text. */
static int nft_errno(const char *msg) {
        static const int known[] = { EEXIST, ENOENT, EPERM, EBUSY, ENOMEM, ENOSPC, EOPNOTSUPP, EAFNOSUPPORT };
        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                if (strstr(msg, strerror(known[i])))
                        return known[i];
        return EIO;
}

/* Run one transaction; on failure fill err with "Failed to <what>: <nft>". */
__attribute__((format(printf, 4, 5)))
static int run(struct fw *fw, const char *cmds, vs_error *err, const char *what_fmt, ...) {
        if (nft_run_cmd_from_buffer(fw->nft, cmds) == 0)
                return 0;
        char msg[VS_ERROR_MAX / 2];
        nft_message(nft_ctx_get_error_buffer(fw->nft), msg, sizeof(msg));
        char what[128];
        va_list ap;
        va_start(ap, what_fmt);
        vsnprintf(what, sizeof(what), what_fmt, ap);
        va_end(ap);
        return vs_err_msg(err, nft_errno(msg), "Failed to %s: %s", what, msg);
}

/* A text buffer for one transaction. */
struct cmdbuf {
        FILE *f;
        char *text;
        size_t len;
};

static int cmdbuf_open(struct cmdbuf *b) {
        *b = (struct cmdbuf) { 0 };
        b->f = open_memstream(&b->text, &b->len);
        return b->f ? 0 : -errno;
}

static int cmdbuf_finish(struct cmdbuf *b) {
        bool bad = ferror(b->f);
        int r = fclose(TAKE_PTR(b->f));
        return r != 0 || bad ? -ENOMEM : 0;
}

static void cmdbuf_free(struct cmdbuf *b) {
        if (b->f)
                fclose(b->f);
        free(b->text);
        *b = (struct cmdbuf) { 0 };
}

/* --- set elements --------------------------------------------------------- */

/* "add"/"delete" of one element; for deletes the element is added first,
 * so the pair succeeds whether or not it was there. */
static void element(FILE *f, const struct fw *fw, bool del, const char *family, const char *set,
                    const char *elem) {
        fprintf(f, "add element %s %s %s { %s }\n", family, fw->table, set, elem);
        if (del)
                fprintf(f, "delete element %s %s %s { %s }\n", family, fw->table, set, elem);
}

/* Every element a port owns, in the table of its mode. */
static int port_elements(FILE *f, const struct fw *fw, const char *ifname, const uint8_t mac[NET_MAC_LEN],
                         const struct net_cidr *addrs, size_t n_addrs, bool routed, bool del) {
        const char *fam = routed ? "inet" : "bridge";
        char e[128], a[INET6_ADDRSTRLEN], m[NET_MAC_STRLEN];

        snprintf(e, sizeof(e), "\"%s\"", ifname);
        /* the inet table knows every port, so br_netfilter's copies of
         * bridged packets are not taken for an unregistered port's */
        element(f, fw, del, "inet", "ports", e);
        if (routed)
                element(f, fw, del, "inet", "routed", e);
        else {
                element(f, fw, del, "bridge", "ports", e);
                net_mac_format(mac, m);
                snprintf(e, sizeof(e), "\"%s\" . %s", ifname, m);
                element(f, fw, del, "bridge", "port_mac", e);
        }
        for (size_t i = 0; i < n_addrs; i++) {
                int r = addr_format(&addrs[i], a, sizeof(a));
                if (r < 0)
                        return r;
                snprintf(e, sizeof(e), "\"%s\" . %s", ifname, a);
                element(f, fw, del, fam, addrs[i].family == AF_INET ? "port_ip4" : "port_ip6", e);
        }
        return 0;
}

static int forward_element(const struct fw_forward *fw_, char *buf, size_t len) {
        char a[INET6_ADDRSTRLEN];
        int r = addr_format(&fw_->addr, a, sizeof(a));
        if (r < 0)
                return r;
        snprintf(buf, len, "%s . %u : %s . %u", proto_name(fw_->proto), fw_->host_port, a, fw_->port);
        return 0;
}

static const char *forward_map(const struct fw_forward *f) {
        return f->addr.family == AF_INET ? "fwd4" : "fwd6";
}

static void nat_elements(FILE *f, const struct fw *fw) {
        for (size_t i = 0; i < fw->n_nat; i++) {
                char a[INET6_ADDRSTRLEN], e[INET6_ADDRSTRLEN + 8];
                if (addr_format(&fw->nat[i], a, sizeof(a)) < 0)
                        continue; /* refused in fw_open */
                snprintf(e, sizeof(e), "%s/%u", a, fw->nat[i].prefix);
                element(f, fw, false, "inet", fw->nat[i].family == AF_INET ? "nat4" : "nat6", e);
        }
}

/* --- validation ----------------------------------------------------------- */

static int check_addr(const struct net_cidr *c, const char *what, const char *name, vs_error *err) {
        if (c->family != AF_INET && c->family != AF_INET6)
                return vs_err_msg(err, EAFNOSUPPORT, "%s of %s: address family %d is neither IPv4 nor IPv6", what,
                                  name, c->family);
        if (c->prefix > (c->family == AF_INET ? 32 : 128))
                return vs_err_msg(err, EINVAL, "%s of %s: prefix length %u is too long", what, name, c->prefix);
        return 0;
}

static int check_port(const struct fw *fw, const struct fw_port *p, vs_error *err) {
        if (!p->ifname || !ifname_safe(p->ifname, 15))
                return vs_err_msg(err, EINVAL, "invalid port name '%s'", p->ifname ? p->ifname : "");
        /* a port outside the prefix would never meet the checks */
        if (strncmp(p->ifname, fw->prefix, strlen(fw->prefix)) != 0)
                return vs_err_msg(err, EINVAL, "port %s does not start with the port prefix '%s'", p->ifname,
                                  fw->prefix);
        for (size_t i = 0; i < p->n_addrs; i++) {
                int r = check_addr(&p->addrs[i], "address", p->ifname, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_forward(const struct fw_forward *f, vs_error *err) {
        if (f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP)
                return vs_err_msg(err, EINVAL, "forward: protocol %d is neither tcp nor udp", f->proto);
        if (f->host_port == 0 || f->port == 0)
                return vs_err_msg(err, EINVAL, "forward: port 0");
        return check_addr(&f->addr, "address", "forward", err);
}

/* The forward that already holds f's host port, if any.  IPv4 and IPv6
 * forwards are separate maps: one host port may lead to an instance's
 * IPv4 and (the same or another instance's) IPv6 address. */
static const struct fw_forward *forward_holder(const struct fw_forward *list, size_t n, const struct fw_forward *f) {
        for (size_t i = 0; i < n; i++)
                if (list[i].proto == f->proto && list[i].host_port == f->host_port &&
                    list[i].addr.family == f->addr.family)
                        return &list[i];
        return NULL;
}

static int forward_in_use(const struct fw_forward *holder, const struct fw_forward *f, vs_error *err) {
        char a[INET6_ADDRSTRLEN] = "?";
        addr_format(&holder->addr, a, sizeof(a));
        return vs_err_msg(err, EADDRINUSE, "host port %s %u is already forwarded to %s%s%s:%u",
                          proto_name(f->proto), f->host_port, holder->addr.family == AF_INET6 ? "[" : "", a,
                          holder->addr.family == AF_INET6 ? "]" : "", holder->port);
}

/* --- remembered state ----------------------------------------------------- */

static void port_state_free(struct fw_port_state *s) {
        free(s->addrs);
        *s = (struct fw_port_state) { 0 };
}

static void ports_free(struct fw_port_state *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                port_state_free(&v[i]);
        free(v);
}

static int port_state_copy(const struct fw_port *p, struct fw_port_state *ret) {
        struct fw_port_state s = { .n_addrs = p->n_addrs, .routed = p->routed };
        snprintf(s.ifname, sizeof(s.ifname), "%s", p->ifname);
        memcpy(s.mac, p->mac, sizeof(s.mac));
        if (p->n_addrs > 0) {
                s.addrs = calloc(p->n_addrs, sizeof(*s.addrs));
                if (!s.addrs)
                        return -ENOMEM;
                memcpy(s.addrs, p->addrs, p->n_addrs * sizeof(*s.addrs));
        }
        *ret = s;
        return 0;
}

static struct fw_port_state *port_find(struct fw *fw, const char *ifname) {
        for (size_t i = 0; i < fw->n_ports; i++)
                if (streq(fw->ports[i].ifname, ifname))
                        return &fw->ports[i];
        return NULL;
}

/* --- the interface -------------------------------------------------------- */

/* libnftables makes its netlink socket without SOCK_CLOEXEC; mark every fd
 * it opened so that none reaches a child vsd forks. */
static void cloexec_new_fds(const fd_set *before) {
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                return;
        int self = dirfd(d);
        struct dirent *de;
        while ((de = readdir(d))) {
                int fd = atoi(de->d_name);
                if (de->d_name[0] == '.' || fd == self || (fd < FD_SETSIZE && FD_ISSET(fd, before)))
                        continue;
                int fl = fcntl(fd, F_GETFD);
                if (fl >= 0 && !(fl & FD_CLOEXEC))
                        fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
        }
        closedir(d);
}

static void open_fds(fd_set *ret) {
        FD_ZERO(ret);
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                return;
        /* not the directory's own fd: the number is free again afterwards */
        int self = dirfd(d);
        struct dirent *de;
        while ((de = readdir(d))) {
                int fd = atoi(de->d_name);
                if (de->d_name[0] != '.' && fd != self && fd < FD_SETSIZE)
                        FD_SET(fd, ret);
        }
        closedir(d);
}

int fw_open(const struct fw_config *cfg, struct fw **ret, vs_error *err) {
        if (!cfg->table || !table_name_valid(cfg->table))
                return vs_err_msg(err, EINVAL, "invalid firewall table name '%s'", cfg->table ? cfg->table : "");
        if (!cfg->port_prefix || !ifname_safe(cfg->port_prefix, 6))
                return vs_err_msg(err, EINVAL, "invalid port prefix '%s'", cfg->port_prefix ? cfg->port_prefix : "");
        const char *bridge = cfg->bridge ? cfg->bridge : "";
        if (*bridge && !ifname_safe(bridge, 15))
                return vs_err_msg(err, EINVAL, "invalid bridge name '%s'", bridge);
        for (size_t i = 0; i < cfg->n_nat; i++) {
                int r = check_addr(&cfg->nat[i], "network", "nat", err);
                if (r < 0)
                        return r;
        }

        _cleanup_free_ struct fw *fw = calloc(1, sizeof(*fw));
        if (!fw)
                return vs_err(err, ENOMEM, "Failed to open the firewall");
        snprintf(fw->table, sizeof(fw->table), "%s", cfg->table);
        snprintf(fw->prefix, sizeof(fw->prefix), "%s", cfg->port_prefix);
        snprintf(fw->bridge, sizeof(fw->bridge), "%s", bridge);
        if (cfg->n_nat > 0) {
                fw->nat = calloc(cfg->n_nat, sizeof(*fw->nat));
                if (!fw->nat)
                        return vs_err(err, ENOMEM, "Failed to open the firewall");
                memcpy(fw->nat, cfg->nat, cfg->n_nat * sizeof(*fw->nat));
                fw->n_nat = cfg->n_nat;
        }

        /* One context for the daemon's life, made now, while its fds are
         * few: libnftables waits on its netlink socket with select(), and
         * a socket numbered past FD_SETSIZE aborts the process.  A daemon
         * with a few hundred instances running holds more than 1024 fds;
         * a context made per transaction then aborted it.  The price is
         * the context's caches, about 2.7 MB of heap. */
        fd_set before;
        open_fds(&before);
        fw->nft = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!fw->nft) {
                free(fw->nat);
                return vs_err(err, ENOMEM, "Failed to open the firewall: nft_ctx_new");
        }
        if (nft_ctx_buffer_output(fw->nft) < 0 || nft_ctx_buffer_error(fw->nft) < 0) {
                nft_ctx_free(fw->nft);
                free(fw->nat);
                return vs_err(err, ENOMEM, "Failed to open the firewall: nft buffers");
        }
        cloexec_new_fds(&before);
        *ret = TAKE_PTR(fw);
        return 0;
}

void fw_close(struct fw *fw) {
        if (!fw)
                return;
        nft_ctx_free(fw->nft);
        free(fw->nat);
        ports_free(fw->ports, fw->n_ports);
        free(fw->fwds);
        free(fw);
}

int fw_sync(struct fw *fw, const struct fw_port *ports, size_t n_ports, const struct fw_forward *fwds,
            size_t n_fwds, vs_error *err) {
        int r;
        for (size_t i = 0; i < n_ports; i++) {
                r = check_port(fw, &ports[i], err);
                if (r < 0)
                        return vs_err_prefix(err, "Failed to set up the firewall");
                /* one port, one set of elements: a second entry would be
                 * merged in the kernel and leave a stale twin in memory */
                for (size_t j = 0; j < i; j++)
                        if (streq(ports[j].ifname, ports[i].ifname))
                                return vs_err_msg(err, EINVAL, "Failed to set up the firewall: port %s given twice",
                                                  ports[i].ifname);
        }
        for (size_t i = 0; i < n_fwds; i++) {
                r = check_forward(&fwds[i], err);
                if (r < 0)
                        return vs_err_prefix(err, "Failed to set up the firewall");
                const struct fw_forward *h = forward_holder(fwds, i, &fwds[i]);
                if (h) {
                        forward_in_use(h, &fwds[i], err);
                        return vs_err_prefix(err, "Failed to set up the firewall");
                }
        }

        /* the new memory first: once the kernel has the rules, nothing may fail */
        struct fw_port_state *ps = n_ports ? calloc(n_ports, sizeof(*ps)) : NULL;
        struct fw_forward *fs = n_fwds ? calloc(n_fwds, sizeof(*fs)) : NULL;
        if ((n_ports && !ps) || (n_fwds && !fs)) {
                free(ps);
                free(fs);
                return vs_err(err, ENOMEM, "Failed to set up the firewall");
        }
        for (size_t i = 0; i < n_ports; i++)
                if (port_state_copy(&ports[i], &ps[i]) < 0) {
                        ports_free(ps, n_ports);
                        free(fs);
                        return vs_err(err, ENOMEM, "Failed to set up the firewall");
                }
        if (n_fwds)
                memcpy(fs, fwds, n_fwds * sizeof(*fs));

        struct cmdbuf b;
        r = cmdbuf_open(&b);
        if (r == 0) {
                for (size_t i = 0; i < ELEMENTSOF(ruleset); i++)
                        if (ruleset[i].when == ALWAYS || (ruleset[i].when == WITH_BRIDGE) == (fw->bridge[0] != '\0'))
                                put_row(b.f, fw, ruleset[i].text);
                nat_elements(b.f, fw);
                for (size_t i = 0; i < n_ports && r == 0; i++)
                        r = port_elements(b.f, fw, ports[i].ifname, ports[i].mac, ports[i].addrs, ports[i].n_addrs,
                                          ports[i].routed, false);
                for (size_t i = 0; i < n_fwds && r == 0; i++) {
                        char e[160];
                        r = forward_element(&fwds[i], e, sizeof(e));
                        if (r == 0)
                                element(b.f, fw, false, "inet", forward_map(&fwds[i]), e);
                }
                if (r == 0)
                        r = cmdbuf_finish(&b);
        }
        if (r == 0)
                r = run(fw, b.text, err, "set up the firewall tables '%s'", fw->table);
        else
                vs_err(err, -r, "Failed to set up the firewall");
        cmdbuf_free(&b);
        if (r < 0) {
                ports_free(ps, n_ports);
                free(fs);
                return r;
        }

        ports_free(fw->ports, fw->n_ports);
        free(fw->fwds);
        fw->ports = ps;
        fw->n_ports = n_ports;
        fw->fwds = fs;
        fw->n_fwds = n_fwds;
        return 0;
}

int fw_port_add(struct fw *fw, const struct fw_port *p, vs_error *err) {
        int r = check_port(fw, p, err);
        if (r < 0)
                return vs_err_prefix(err, "Failed to add port %s to the firewall", p->ifname ? p->ifname : "");

        struct fw_port_state s;
        if (port_state_copy(p, &s) < 0)
                return vs_err(err, ENOMEM, "Failed to add port %s to the firewall", p->ifname);
        struct fw_port_state *old = port_find(fw, p->ifname);
        if (!old) {
                struct fw_port_state *v = realloc(fw->ports, (fw->n_ports + 1) * sizeof(*v));
                if (!v) {
                        port_state_free(&s);
                        return vs_err(err, ENOMEM, "Failed to add port %s to the firewall", p->ifname);
                }
                fw->ports = v;
        }

        struct cmdbuf b;
        r = cmdbuf_open(&b);
        /* re-registering replaces: the old elements go in the same
         * transaction, so there is no moment without the port's checks */
        if (r == 0 && old)
                r = port_elements(b.f, fw, old->ifname, old->mac, old->addrs, old->n_addrs, old->routed, true);
        if (r == 0)
                r = port_elements(b.f, fw, p->ifname, p->mac, p->addrs, p->n_addrs, p->routed, false);
        if (r == 0)
                r = cmdbuf_finish(&b);
        if (r == 0)
                r = run(fw, b.text, err, "add port %s to the firewall", p->ifname);
        else
                vs_err(err, -r, "Failed to add port %s to the firewall", p->ifname);
        cmdbuf_free(&b);
        if (r < 0) {
                port_state_free(&s);
                return r;
        }
        if (old) {
                port_state_free(old);
                *old = s;
        } else
                fw->ports[fw->n_ports++] = s;
        return 0;
}

int fw_port_del(struct fw *fw, const struct fw_port *p, vs_error *err) {
        if (!p->ifname || !ifname_safe(p->ifname, 15))
                return vs_err_msg(err, EINVAL, "Failed to remove port from the firewall: invalid port name '%s'",
                                  p->ifname ? p->ifname : "");
        /* what was registered is what is in the sets, whatever the caller
         * believes the port's addresses are now */
        struct fw_port_state *old = port_find(fw, p->ifname);
        struct cmdbuf b;
        int r = cmdbuf_open(&b);
        if (r == 0)
                r = old ? port_elements(b.f, fw, old->ifname, old->mac, old->addrs, old->n_addrs, old->routed, true)
                        : port_elements(b.f, fw, p->ifname, p->mac, p->addrs, p->n_addrs, p->routed, true);
        if (r == 0)
                r = cmdbuf_finish(&b);
        if (r == 0)
                r = run(fw, b.text, err, "remove port %s from the firewall", p->ifname);
        else
                vs_err(err, -r, "Failed to remove port %s from the firewall", p->ifname);
        cmdbuf_free(&b);
        if (r < 0)
                return r;
        if (old) {
                port_state_free(old);
                *old = fw->ports[--fw->n_ports];
        }
        return 0;
}

int fw_forward_add(struct fw *fw, const struct fw_forward *f, vs_error *err) {
        char name[32];
        fw_forward_format(f, name, sizeof(name));
        int r = check_forward(f, err);
        if (r < 0)
                return vs_err_prefix(err, "Failed to add forward %s to the firewall", name);
        const struct fw_forward *h = forward_holder(fw->fwds, fw->n_fwds, f);
        if (h) {
                forward_in_use(h, f, err);
                return vs_err_prefix(err, "Failed to add forward %s to the firewall", name);
        }
        struct fw_forward *v = realloc(fw->fwds, (fw->n_fwds + 1) * sizeof(*v));
        if (!v)
                return vs_err(err, ENOMEM, "Failed to add forward %s to the firewall", name);
        fw->fwds = v;

        char e[160], cmd[256];
        r = forward_element(f, e, sizeof(e));
        if (r < 0)
                return vs_err(err, -r, "Failed to add forward %s to the firewall", name);
        /* "create": an element we did not know of is refused, not replaced */
        snprintf(cmd, sizeof(cmd), "create element inet %s %s { %s }\n", fw->table, forward_map(f), e);
        r = run(fw, cmd, err, "add forward %s to the firewall", name);
        if (r == -EEXIST)
                return vs_err_msg(err, EADDRINUSE, "Failed to add forward %s to the firewall: host port %s %u is already forwarded",
                                  name, proto_name(f->proto), f->host_port);
        if (r < 0)
                return r;
        fw->fwds[fw->n_fwds++] = *f;
        return 0;
}

int fw_forward_del(struct fw *fw, const struct fw_forward *f, vs_error *err) {
        char name[32];
        fw_forward_format(f, name, sizeof(name));
        int r = check_forward(f, err);
        if (r < 0)
                return vs_err_prefix(err, "Failed to remove forward %s from the firewall", name);
        const struct fw_forward *h = forward_holder(fw->fwds, fw->n_fwds, f);
        /* the host port belongs to another forward: leave it alone */
        if (h && (h->port != f->port || !net_addr_equal(&h->addr, &f->addr))) {
                char a[INET6_ADDRSTRLEN] = "?";
                addr_format(&h->addr, a, sizeof(a));
                return vs_err_msg(err, ENOENT, "Failed to remove forward %s from the firewall: host port %s %u leads to %s:%u",
                                  name, proto_name(f->proto), f->host_port, a, h->port);
        }

        char e[160];
        r = forward_element(f, e, sizeof(e));
        if (r < 0)
                return vs_err(err, -r, "Failed to remove forward %s from the firewall", name);
        struct cmdbuf b;
        r = cmdbuf_open(&b);
        if (r < 0)
                return vs_err(err, -r, "Failed to remove forward %s from the firewall", name);
        element(b.f, fw, true, "inet", forward_map(f), e);
        r = cmdbuf_finish(&b);
        if (r == 0)
                r = run(fw, b.text, err, "remove forward %s from the firewall", name);
        else
                vs_err(err, -r, "Failed to remove forward %s from the firewall", name);
        cmdbuf_free(&b);
        if (r < 0)
                return r;
        if (h)
                fw->fwds[h - fw->fwds] = fw->fwds[--fw->n_fwds];
        return 0;
}

int fw_remove(struct fw *fw, vs_error *err) {
        static const struct row drop[] = {
                { ALWAYS, "add table bridge %T" },
                { ALWAYS, "delete table bridge %T" },
                { ALWAYS, "add table inet %T" },
                { ALWAYS, "delete table inet %T" },
        };
        struct cmdbuf b;
        int r = cmdbuf_open(&b);
        if (r < 0)
                return vs_err(err, -r, "Failed to remove the firewall tables");
        for (size_t i = 0; i < ELEMENTSOF(drop); i++)
                put_row(b.f, fw, drop[i].text);
        r = cmdbuf_finish(&b);
        if (r == 0)
                r = run(fw, b.text, err, "remove the firewall tables '%s'", fw->table);
        else
                vs_err(err, -r, "Failed to remove the firewall tables");
        cmdbuf_free(&b);
        if (r < 0)
                return r;
        ports_free(fw->ports, fw->n_ports);
        fw->ports = NULL;
        fw->n_ports = 0;
        free(fw->fwds);
        fw->fwds = NULL;
        fw->n_fwds = 0;
        return 0;
}

/* --- forward specs -------------------------------------------------------- */

static int parse_port(const char *s, size_t len, const char *what, const char *spec, uint16_t *ret, vs_error *err) {
        if (len == 0)
                return vs_err_msg(err, EINVAL, "invalid forward '%s': missing %s", spec, what);
        unsigned v = 0;
        for (size_t i = 0; i < len; i++) {
                if (!isdigit((unsigned char) s[i]))
                        return vs_err_msg(err, EINVAL, "invalid forward '%s': %s '%.*s' is not a number", spec, what,
                                          (int) len, s);
                v = v * 10 + (unsigned) (s[i] - '0');
                if (v > 65535)
                        break;
        }
        if (v == 0 || v > 65535)
                return vs_err_msg(err, ERANGE, "invalid forward '%s': %s '%.*s' is not in 1-65535", spec, what,
                                  (int) len, s);
        *ret = (uint16_t) v;
        return 0;
}

int fw_forward_parse(const char *s, struct fw_forward *ret, vs_error *err) {
        const char *p = s;
        int proto = IPPROTO_TCP;
        if (strncmp(p, "tcp:", 4) == 0)
                p += 4;
        else if (strncmp(p, "udp:", 4) == 0) {
                proto = IPPROTO_UDP;
                p += 4;
        } else if (isalpha((unsigned char) *p))
                return vs_err_msg(err, EINVAL, "invalid forward '%s': protocol '%.*s' is neither tcp nor udp", s,
                                  (int) strcspn(p, ":"), p);

        const char *colon = strchr(p, ':');
        if (!colon)
                return vs_err_msg(err, EINVAL, "invalid forward '%s': expected [tcp:|udp:]HOSTPORT:PORT", s);
        if (strchr(colon + 1, ':'))
                return vs_err_msg(err, EINVAL, "invalid forward '%s': too many ':'", s);
        uint16_t host_port, port;
        int r = parse_port(p, (size_t) (colon - p), "host port", s, &host_port, err);
        if (r < 0)
                return r;
        r = parse_port(colon + 1, strlen(colon + 1), "port", s, &port, err);
        if (r < 0)
                return r;
        ret->proto = proto;
        ret->host_port = host_port;
        ret->port = port;
        return 0;
}

void fw_forward_format(const struct fw_forward *f, char *buf, size_t len) {
        snprintf(buf, len, "%s:%u:%u", proto_name(f->proto), f->host_port, f->port);
}

/* ---- another namespace's tables (fw_netns_drop_tables) ---- */

/* In the child: every "table FAMILY NAME" of `nft list tables` whose name
 * starts with prefix, deleted in one transaction.  Returns how many. */
static int drop_tables_here(const char *prefix) {
        struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!nft || nft_ctx_buffer_output(nft) < 0 || nft_ctx_buffer_error(nft) < 0)
                return -ENOMEM;
        int n = 0;
        if (nft_run_cmd_from_buffer(nft, "list tables") != 0) {
                nft_ctx_free(nft);
                return -EIO;
        }
        const char *out = nft_ctx_get_output_buffer(nft);
        char cmds[4096] = "", family[32], name[256];
        size_t len = 0;
        for (const char *line = out; line && *line;) {
                const char *end = strchr(line, '\n');
                size_t l = end ? (size_t) (end - line) : strlen(line);
                char buf[320];
                snprintf(buf, sizeof(buf), "%.*s", (int) (l < sizeof(buf) - 1 ? l : sizeof(buf) - 1), line);
                if (sscanf(buf, "table %31s %255s", family, name) == 2 && strncmp(name, prefix, strlen(prefix)) == 0) {
                        int k = snprintf(cmds + len, sizeof(cmds) - len, "delete table %s %s\n", family, name);
                        if (k > 0 && (size_t) k < sizeof(cmds) - len) {
                                len += (size_t) k;
                                n++;
                        }
                }
                line = end ? end + 1 : NULL;
        }
        int r = n && nft_run_cmd_from_buffer(nft, cmds) != 0 ? -EIO : n;
        nft_ctx_free(nft);
        return r;
}

int fw_netns_drop_tables(int netns_fd, const char *prefix, vs_error *err) {
        pid_t pid = fork();
        if (pid < 0)
                return vs_err(err, errno, "fork to reach another network namespace");
        if (pid == 0) {
                /* nothing of the caller's: libnftables' select() takes no fd
                 * past FD_SETSIZE */
                if (dup3(netns_fd, 3, O_CLOEXEC) < 0 && netns_fd != 3)
                        _exit(254);
                (void) syscall(SYS_close_range, 4U, ~0U, 0U);
                if (setns(3, CLONE_NEWNET) < 0)
                        _exit(253);
                int r = drop_tables_here(prefix);
                _exit(r < 0 ? 252 : r > 200 ? 200 : r);
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return vs_err(err, errno, "wait for the namespace's nftables");
        if (!WIFEXITED(status) || WEXITSTATUS(status) > 200)
                return vs_err_msg(err, EIO, "remove the nftables tables '%s*' of a network namespace: %s", prefix,
                                  WIFEXITED(status) && WEXITSTATUS(status) == 253 ? "cannot enter it" :
                                                                                  "nft failed");
        return WEXITSTATUS(status);
}

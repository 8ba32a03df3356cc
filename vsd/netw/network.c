/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/netw/network.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/log.h"
#include "base/util.h"
#include "net/announce.h"
#include "net/fw.h"
#include "net/fwwatch.h"
#include "net/ipam.h"
#include "net/tc.h"
#include "vsd/core/daemon.h"
#include "vsd/core/health.h"
#include "vsd/netw/fwguard.h"
#include "vsd/core/loop.h"

/* Routed mode's gateways, on every host-side link of a routed instance: the
 * instance reaches the host (and through it, the rest) via addresses that
 * never collide with anyone's, as Calico and OpenVZ's venet do. */
#define ROUTED_GW4 "169.254.0.1"
#define ROUTED_GW6 "fe80::1"


/* Network namespaces made ahead of time, each with a veth pair: eth0
 * inside, down, and the host side named <prefix>p<seq>, down, passing
 * nothing (the firewall drops what comes from an unregistered port).  A
 * start takes one and renames it instead of paying for two new devices and
 * a namespace; the pool is topped up from the event loop afterwards. */
#define POOL_SIZE 2

struct pooled {
        int netns;
        char ifname[16];
};

/* The network's record of an instance, from its creation (or load) to its
 * destruction (netw_add, netw_remove). */
struct netw_inst {
        const struct inst_config *cfg; /* the instance's, borrowed */
        bool registered; /* its port and forwards are in the firewall */
        bool live;       /* it has processes, so its link may exist (netw_prepare,
                          * netw_adopt; netw_detach ends it) */
};

struct netw {
        struct vsd *v;
        struct netw_inst **inst; /* every instance's record, broken ones aside */
        size_t n_inst, cap_inst;
        struct nl *nl;          /* in the host's namespace */
        struct pooled pool[POOL_SIZE];
        unsigned n_pool, pool_seq;
        bool pool_broken;       /* making one failed: said once, not retried */
        struct loop_source *refill;
        struct loop_source *sweep; /* what stops left to the kernel (netw_release) */
        struct fw *fw;          /* NULL: no firewall, and so no instance networking */
        struct fw_guard *guard; /* restores the tables others delete (with fw) */
        char fw_error[VS_ERROR_MAX];
        char bridge_mark[512];  /* <run_dir>/bridge: we made the bridge */
        bool bridge_ready;      /* it has its addresses and is up */
};

static struct netw *N(struct vsd *v) {
        return v->net;
}

static const struct net_settings *S(struct vsd *v) {
        return &v->set.net;
}

void netw_host_ifname(struct vsd *v, const char *name, char ret[16]) {
        net_host_ifname(S(v)->link_prefix, v->set.root, name, ret);
}

static void link_alias(struct vsd *v, const char *name, char *buf, size_t len) {
        snprintf(buf, len, "vsd:%s:%s", v->set.root, name);
}

void netw_mac(const char *name, uint8_t mac[NET_MAC_LEN]) {
        net_mac_from_name("vsd", name, mac);
}

/* ---- the firewall's view of an instance ---- */

static void fw_port_of(struct vsd *v, const struct inst_config *cfg, char ifname[16], struct fw_port *ret) {
        netw_host_ifname(v, cfg->name, ifname);
        *ret = (struct fw_port){
                .ifname = ifname,
                .addrs = cfg->net.addr,
                .n_addrs = cfg->net.n_addr,
                .routed = cfg->net.mode == NET_MODE_ROUTED,
        };
        netw_mac(cfg->name, ret->mac);
}

/* A forward goes to the instance's first IPv4 address, else its first. */
static void fw_forward_of(const struct inst_config *cfg, unsigned k, struct fw_forward *ret) {
        *ret = cfg->net.fwd[k];
        ret->addr = cfg->net.addr[0];
        for (unsigned a = 0; a < cfg->net.n_addr; a++)
                if (cfg->net.addr[a].family == AF_INET) {
                        ret->addr = cfg->net.addr[a];
                        break;
                }
}

bool netw_has_link(const struct inst_config *cfg) {
        return inst_net_mode_of(cfg->net.mode) != NET_MODE_NONE;
}

/* ---- daemon lifetime ---- */

static int fw_rebuild(void *userdata, size_t *ret_ports, size_t *ret_forwards, vs_error *err) {
        return netw_fw_rebuild(userdata, ret_ports, ret_forwards, err);
}

int netw_new(struct vsd *v, vs_error *err) {
        struct netw *n = calloc(1, sizeof(*n));
        if (!n)
                return vs_err(err, ENOMEM, "Failed to set up networking");
        n->v = v;
        snprintf(n->bridge_mark, sizeof(n->bridge_mark), "%s/bridge", v->set.run_dir);
        int r = nl_open(&n->nl, err);
        if (r < 0) {
                free(n);
                return vs_err_prefix(err, "Failed to set up networking");
        }
        const struct net_settings *s = S(v);
        struct net_cidr nat[4];
        size_t n_nat = 0;
        if (s->nat) {
                const struct net_cidr *pools[] = { &s->bridge_ipv4, &s->bridge_ipv6, &s->routed_ipv4, &s->routed_ipv6 };
                for (size_t k = 0; k < ELEMENTSOF(pools); k++)
                        if (pools[k]->family)
                                net_cidr_network(pools[k], &nat[n_nat++]);
        }
        struct fw_config fc = {
                .table = s->nft_table,
                .port_prefix = s->link_prefix,
                .nat = nat,
                .n_nat = n_nat,
                .bridge = s->bridge,
        };
        vs_error ferr = { 0 };
        if (fw_open(&fc, &n->fw, &ferr) < 0) {
                snprintf(n->fw_error, sizeof(n->fw_error), "%s", ferr.msg);
                vs_err_prefix(&ferr, "Failed to open the firewall");
                health_degraded(v, "firewall", "instances can only run without a network", &ferr);
                n->fw = NULL;
        } else if (fwg_new(v, s->nft_table, fw_rebuild, v, &n->guard) < 0) {
                fw_close(n->fw);
                nl_close(n->nl);
                free(n);
                return vs_err(err, ENOMEM, "Failed to set up networking");
        }
        v->net = n;
        return 0;
}

static bool bridge_is_ours(struct netw *n) {
        return access(n->bridge_mark, F_OK) == 0;
}

static int count_port(const struct nl_link_info *l, void *data) {
        struct vsd *v = data;
        if (streq(l->master, S(v)->bridge))
                return -EBUSY;
        return 0;
}

/* The kernel knows best whether anything is still on the bridge: at daemon
 * start not every instance is loaded yet. */
static void bridge_remove_if_unused(struct vsd *v) {
        struct netw *n = N(v);
        if (!bridge_is_ours(n) || nl_link_foreach(n->nl, count_port, v, NULL) == -EBUSY)
                return;
        int r = nl_link_delete(n->nl, S(v)->bridge, NULL);
        if (r >= 0 || r == -ENODEV)
                (void) unlink(n->bridge_mark);
        n->bridge_ready = false;
}

static void pool_drop(struct netw *n, struct pooled *p) {
        /* deleting the host side takes the pair at once; a closed namespace
         * would take it too, but later, in the kernel's own time */
        (void) nl_link_delete(n->nl, p->ifname, NULL);
        safe_close(&p->netns);
}

static void remove_stale_links(struct vsd *v);

void netw_free(struct vsd *v, bool teardown) {
        struct netw *n = N(v);
        if (!n)
                return;
        loop_remove(n->refill);
        loop_remove(n->sweep);
        fwg_free(n->guard);
        while (n->n_pool)
                pool_drop(n, &n->pool[--n->n_pool]);
        if (teardown) {
                if (n->fw)
                        (void) fw_remove(n->fw, NULL);
                remove_stale_links(v);
                bridge_remove_if_unused(v);
        }
        if (n->fw)
                fw_close(n->fw);
        if (n->nl)
                nl_close(n->nl);
        for (size_t k = 0; k < n->n_inst; k++)
                free(n->inst[k]);
        free(n->inst);
        free(n);
        v->net = NULL;
}

#define IFB_ALIAS "vsd: outbound cap of "

/* The IFB of an outbound cap whose link is gone (net/tc.c names the link in
 * its alias): a crash, or a namespace that died with its init. */
static void stale_ifb(struct vsd *v, const struct nl_link_info *l) {
        const char *link = l->alias + strlen(IFB_ALIAS);
        if (strncmp(link, S(v)->link_prefix, strlen(S(v)->link_prefix)) != 0 || nl_link_index(N(v)->nl, link) >= 0)
                return;
        log_info("Removing %s, the outbound cap of the gone link %s", l->name, link);
        (void) nl_link_delete(N(v)->nl, l->name, NULL);
}

static struct netw_inst *find_inst(struct netw *n, const char *name) {
        for (size_t k = 0; k < n->n_inst; k++)
                if (streq(n->inst[k]->cfg->name, name))
                        return n->inst[k];
        return NULL;
}

int netw_add(struct vsd *v, const struct inst_config *cfg, struct netw_inst **ret) {
        struct netw *n = N(v);
        if (n->n_inst == n->cap_inst) {
                size_t cap = n->cap_inst ? n->cap_inst * 2 : 16;
                struct netw_inst **a = realloc(n->inst, cap * sizeof(*a));
                if (!a)
                        return -ENOMEM;
                n->inst = a;
                n->cap_inst = cap;
        }
        struct netw_inst *i = calloc(1, sizeof(*i));
        if (!i)
                return -ENOMEM;
        i->cfg = cfg;
        n->inst[n->n_inst++] = i;
        *ret = i;
        return 0;
}

void netw_remove(struct vsd *v, struct netw_inst *i) {
        struct netw *n = N(v);
        if (!i || !n)
                return;
        /* whatever a stop left to the kernel goes now: nothing of a
         * destroyed instance outlives its destroy */
        if (!i->live)
                netw_detach(v, i);
        netw_unregister(v, i);
        for (size_t k = 0; k < n->n_inst; k++)
                if (n->inst[k] == i) {
                        n->inst[k] = n->inst[--n->n_inst];
                        break;
                }
        free(i);
}

void netw_adopt(struct netw_inst *i) {
        if (i)
                i->live = true;
}

/* Links whose alias says they are ours ("vsd:<root>:<name>") and whose
 * instance does not run. */
static int stale_link(const struct nl_link_info *l, void *data) {
        struct vsd *v = data;
        char prefix[300];
        if (strncmp(l->alias, IFB_ALIAS, strlen(IFB_ALIAS)) == 0) {
                stale_ifb(v, l);
                return 0;
        }
        link_alias(v, "", prefix, sizeof(prefix));
        if (strncmp(l->alias, prefix, strlen(prefix)) != 0)
                return 0;
        const struct netw_inst *i = find_inst(N(v), l->alias + strlen(prefix));
        if (i && i->live)
                return 0;
        log_info("Removing link %s left by instance %s", l->name, l->alias + strlen(prefix));
        (void) nl_link_delete(N(v)->nl, l->name, NULL);
        return 0;
}

static int pool_make(struct netw *n, struct pooled *ret, vs_error *err) {
        struct vsd *v = n->v;
        struct pooled p = { .netns = -EBADF };
        char alias[300];
        link_alias(v, "", alias, sizeof(alias)); /* no instance: removed at the next start */
        snprintf(p.ifname, sizeof(p.ifname), "%sp%07x", S(v)->link_prefix, n->pool_seq++ & 0xfffffff);
        int r = nl_netns_new(&p.netns, err);
        if (r < 0)
                return r;
        struct nl_veth ve = {
                .name = p.ifname,
                .alias = alias,
                .peer_name = "eth0",
                .peer_netns_fd = p.netns,
                .mtu = (unsigned) S(v)->mtu,
        };
        r = nl_veth_create(n->nl, &ve, err);
        if (r < 0) {
                safe_close(&p.netns);
                return r;
        }
        *ret = p;
        return 0;
}

/* One namespace per turn of the event loop, a little after the start that
 * took one has answered: the refill never delays a request by more than
 * one namespace. */
#define POOL_REFILL_MS 10

static void pool_schedule(struct netw *n);

static void pool_refill(struct loop_source *s, void *userdata) {
        struct netw *n = userdata;
        n->refill = NULL;
        vs_error err = { 0 };
        if (n->n_pool >= POOL_SIZE || n->pool_broken)
                return;
        if (pool_make(n, &n->pool[n->n_pool], &err) < 0) {
                log_warn("Failed to make a network namespace ahead of time (%s): starts make their own, ignoring",
                         err.msg);
                n->pool_broken = true;
                return;
        }
        n->n_pool++;
        pool_schedule(n);
}

static void pool_schedule(struct netw *n) {
        if (!n->refill && !n->pool_broken && n->fw && n->n_pool < POOL_SIZE)
                (void) loop_add_timer(n->v->loop, POOL_REFILL_MS, pool_refill, n, &n->refill);
}

int netw_fw_rebuild(struct vsd *v, size_t *ret_ports, size_t *ret_forwards, vs_error *err) {
        struct netw *n = N(v);
        if (!n->fw)
                return vs_err_msg(err, EOPNOTSUPP, "Failed to rebuild the firewall: no firewall (%s)", n->fw_error);
        /* every instance's port and forwards, in one transaction */
        size_t cap = n->n_inst ? n->n_inst : 1;
        _cleanup_free_ struct fw_port *ports = calloc(cap, sizeof(*ports));
        _cleanup_free_ char(*names)[16] = calloc(cap, 16);
        _cleanup_free_ struct fw_forward *fwds = calloc(cap * INST_FORWARD_MAX, sizeof(*fwds));
        size_t np = 0, nf = 0;
        if (!ports || !names || !fwds)
                return vs_err(err, ENOMEM, "Failed to rebuild the firewall");
        /* every instance with a network, running or not: a stopped one's
         * elements match nothing until its link exists */
        for (size_t k = 0; k < n->n_inst; k++) {
                const struct inst_config *c = n->inst[k]->cfg;
                if (!netw_has_link(c))
                        continue;
                fw_port_of(v, c, names[np], &ports[np]);
                np++;
                for (unsigned f = 0; f < c->net.n_fwd && c->net.n_addr; f++)
                        fw_forward_of(c, f, &fwds[nf++]);
        }
        int r = fw_sync(n->fw, ports, np, fwds, nf, err);
        if (r < 0)
                return r;
        for (size_t k = 0; k < n->n_inst; k++)
                n->inst[k]->registered = netw_has_link(n->inst[k]->cfg);
        if (ret_ports)
                *ret_ports = np;
        if (ret_forwards)
                *ret_forwards = nf;
        return 0;
}

static void remove_stale_links(struct vsd *v) {
        /* twice: an IFB is stale once the link it caps is, which the first
         * walk may remove after passing the IFB */
        for (int pass = 0; pass < 2; pass++)
                (void) nl_link_foreach(N(v)->nl, stale_link, v, NULL);
}

void netw_reconcile(struct vsd *v) {
        struct netw *n = N(v);
        vs_error err = { 0 };
        remove_stale_links(v);
        /* nat may have changed since the bridge was set up: the bridge's
         * forwarding follows it now, not only from the next start (as in
         * ensure_bridge()) */
        if (S(v)->bridge_ipv4.family && nl_link_index(n->nl, S(v)->bridge) >= 0)
                (void) nl_if_sysctl(AF_INET, S(v)->bridge, "forwarding", S(v)->nat ? "1" : "0", NULL);
        if (!n->fw)
                return;
        if (netw_fw_rebuild(v, NULL, NULL, &err) < 0)
                log_err("%s", err.msg);
        pool_schedule(n);
}

/* ---- addresses: create and set ---- */

static int collect_taken(struct vsd *v, const char *self, struct net_cidr **ret, size_t *ret_n) {
        size_t cap = 2 + N(v)->n_inst * INST_ADDR_MAX, n = 0;
        struct net_cidr *t = calloc(cap, sizeof(*t));
        if (!t)
                return -ENOMEM;
        if (S(v)->bridge_ipv4.family)
                t[n++] = S(v)->bridge_ipv4;
        if (S(v)->bridge_ipv6.family)
                t[n++] = S(v)->bridge_ipv6;
        for (size_t k = 0; k < N(v)->n_inst; k++) {
                const struct inst_config *c = N(v)->inst[k]->cfg;
                if (streq(c->name, self))
                        continue;
                for (unsigned a = 0; a < c->net.n_addr; a++)
                        t[n++] = c->net.addr[a];
        }
        *ret = t;
        *ret_n = n;
        return 0;
}

static const char *owner_of(struct vsd *v, const char *self, const struct net_cidr *a) {
        for (size_t k = 0; k < N(v)->n_inst; k++) {
                const struct inst_config *c = N(v)->inst[k]->cfg;
                if (streq(c->name, self))
                        continue;
                for (unsigned j = 0; j < c->net.n_addr; j++)
                        if (net_addr_equal(&c->net.addr[j], a))
                                return c->name;
        }
        return NULL;
}

/* The network an address of this mode must lie in (family 0: anywhere). */
static void mode_network(struct vsd *v, int mode, int family, struct net_cidr *ret) {
        const struct net_settings *s = S(v);
        const struct net_cidr *c = mode == NET_MODE_BRIDGE ? (family == AF_INET ? &s->bridge_ipv4 : &s->bridge_ipv6)
                                                           : (family == AF_INET ? &s->routed_ipv4 : &s->routed_ipv6);
        if (c->family)
                net_cidr_network(c, ret);
        else
                *ret = (struct net_cidr){ 0 };
}

static int check_addr(struct vsd *v, const char *self, int mode, struct net_cidr *a, vs_error *err) {
        char text[NET_CIDR_STRLEN], net[NET_CIDR_STRLEN];
        net_cidr_format(a, false, text, sizeof(text));
        struct net_cidr pool;
        mode_network(v, mode, a->family, &pool);
        if (mode == NET_MODE_BRIDGE) {
                const char *key = a->family == AF_INET ? "bridge_ipv4" : "bridge_ipv6";
                if (!pool.family)
                        return vs_err_msg(err, EINVAL, "address %s: the bridge has no %s network ([network] %s)", text,
                                          a->family == AF_INET ? "IPv4" : "IPv6", key);
                net_cidr_format(&pool, true, net, sizeof(net));
                if (!net_cidr_contains(&pool, a))
                        return vs_err_msg(err, EINVAL, "address %s is not in the bridge's network %s", text, net);
                if (a->prefix && a->prefix != pool.prefix)
                        return vs_err_msg(err, EINVAL, "address %s/%u: the bridge's network is %s", text, a->prefix,
                                          net);
                a->prefix = pool.prefix;
                struct net_cidr gw = a->family == AF_INET ? S(v)->bridge_ipv4 : S(v)->bridge_ipv6;
                if (net_addr_equal(&gw, a))
                        return vs_err_msg(err, EADDRINUSE, "address %s is the bridge's own (the gateway)", text);
                /* the host bits of an IPv4 address in the pool: checked by
                 * net_cidr_parse against its own prefix, which may have
                 * been given as none */
                struct net_cidr checked;
                char full[NET_CIDR_STRLEN];
                net_cidr_format(a, true, full, sizeof(full));
                if (net_cidr_parse(full, -1, true, &checked, err) < 0)
                        return -EINVAL;
        } else {
                /* a routed address is a host route: /32 or /128 */
                a->prefix = a->family == AF_INET ? 32 : 128;
                struct net_cidr bridge;
                mode_network(v, NET_MODE_BRIDGE, a->family, &bridge);
                if (bridge.family && net_cidr_contains(&bridge, a)) {
                        net_cidr_format(&bridge, true, net, sizeof(net));
                        return vs_err_msg(err, EINVAL, "address %s is in the bridge's network %s: not for routed mode",
                                          text, net);
                }
        }
        const char *owner = owner_of(v, self, a);
        if (owner)
                return vs_err_msg(err, EADDRINUSE, "address %s is already used by instance '%s'", text, owner);
        return 0;
}

static int pick_addr(struct vsd *v, struct inst_config *cfg, int family, bool required, vs_error *err) {
        struct net_cidr pool, got;
        mode_network(v, cfg->net.mode, family, &pool);
        const char *fam = family == AF_INET ? "IPv4" : "IPv6";
        if (!pool.family) {
                if (!required)
                        return 0;
                return vs_err_msg(err, EINVAL, "no %s pool for %s mode: give --ip or set [network] %s_%s", fam,
                                  inst_net_mode_name(cfg->net.mode),
                                  cfg->net.mode == NET_MODE_BRIDGE ? "bridge" : "routed",
                                  family == AF_INET ? "ipv4" : "ipv6");
        }
        _cleanup_free_ struct net_cidr *taken = NULL;
        size_t n_taken;
        if (collect_taken(v, cfg->name, &taken, &n_taken) < 0)
                return vs_err(err, ENOMEM, "address pool");
        if (ipam_pick(&pool, taken, n_taken, &got) < 0) {
                char net[NET_CIDR_STRLEN];
                net_cidr_format(&pool, true, net, sizeof(net));
                return vs_err_msg(err, ENOSPC, "the %s pool %s is full", fam, net);
        }
        if (cfg->net.mode == NET_MODE_ROUTED)
                got.prefix = family == AF_INET ? 32 : 128;
        cfg->net.addr[cfg->net.n_addr++] = got;
        return 0;
}

int netw_resolve(struct vsd *v, const struct inst_config *old, struct inst_config *cfg, vs_error *err) {
        struct inst_net *n = &cfg->net;
        if (n->mode == NET_MODE_UNSET)
                n->mode = old ? old->net.mode : S(v)->default_mode;
        if (inst_net_mode_of(n->mode) == NET_MODE_NONE) {
                if (n->n_addr || n->n_fwd)
                        return vs_err_msg(err, EINVAL, "%s without a network: give --net bridge or routed",
                                          n->n_addr ? "addresses" : "port forwards");
                n->auto_addr = false;
                return 0;
        }
        /* nothing changed in the addresses of a set: they were checked when made */
        bool same = old && old->net.mode == n->mode && old->net.n_addr == n->n_addr && !n->auto_addr &&
                    memcmp(old->net.addr, n->addr, sizeof(n->addr)) == 0;
        if (!same) {
                if (n->n_addr == 0) {
                        int r = pick_addr(v, cfg, AF_INET, true, err);
                        if (r >= 0)
                                r = pick_addr(v, cfg, AF_INET6, false, err);
                        if (r < 0)
                                return r;
                } else
                        for (unsigned k = 0; k < n->n_addr; k++) {
                                int r = check_addr(v, cfg->name, n->mode, &n->addr[k], err);
                                if (r < 0)
                                        return r;
                        }
        }
        n->auto_addr = false;
        for (unsigned f = 0; f < n->n_fwd; f++)
                for (size_t k = 0; k < N(v)->n_inst; k++) {
                        const struct inst_config *c = N(v)->inst[k]->cfg;
                        if (streq(c->name, cfg->name))
                                continue;
                        for (unsigned g = 0; g < c->net.n_fwd; g++)
                                if (c->net.fwd[g].proto == n->fwd[f].proto && c->net.fwd[g].host_port == n->fwd[f].host_port)
                                        return vs_err_msg(err, EADDRINUSE, "host port %s:%u is already forwarded to instance '%s'",
                                                          n->fwd[f].proto == IPPROTO_UDP ? "udp" : "tcp",
                                                          n->fwd[f].host_port, c->name);
                }
        return 0;
}

/* ---- start ---- */

static void plan_files(struct vsd *v, const struct inst_config *cfg, struct start_net *p) {
        int len = snprintf(p->hosts, sizeof(p->hosts), "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        for (unsigned k = 0; k < cfg->net.n_addr && len > 0 && (size_t) len < sizeof(p->hosts); k++) {
                char a[NET_CIDR_STRLEN];
                net_cidr_format(&cfg->net.addr[k], false, a, sizeof(a));
                len += snprintf(p->hosts + len, sizeof(p->hosts) - (size_t) len, "%s\t%s\n", a, cfg->name);
        }
        const char *ns = cfg->net.nameservers[0] ? cfg->net.nameservers : S(v)->nameservers;
        p->resolv[0] = '\0';
        if (!*ns)
                return;
        _cleanup_free_ char *copy = strdup(ns);
        len = snprintf(p->resolv, sizeof(p->resolv), "# written by vsd from its settings\n");
        for (char *save = NULL, *t = copy ? strtok_r(copy, ", ", &save) : NULL; t && (size_t) len < sizeof(p->resolv);
             t = strtok_r(NULL, ", ", &save))
                len += snprintf(p->resolv + len, sizeof(p->resolv) - (size_t) len, "nameserver %s\n", t);
}

bool netw_plan(struct vsd *v, const struct inst_config *cfg, struct start_net *p) {
        if (!netw_has_link(cfg))
                return false;
        *p = (struct start_net){ 0 };
        for (unsigned k = 0; k < cfg->net.n_addr && k < START_NET_ADDR_MAX; k++)
                p->addr[p->n_addr++] = cfg->net.addr[k];
        bool v4 = false, v6 = false;
        for (unsigned k = 0; k < p->n_addr; k++) {
                v4 |= p->addr[k].family == AF_INET;
                v6 |= p->addr[k].family == AF_INET6;
        }
        if (cfg->net.mode == NET_MODE_BRIDGE) {
                if (v4 && S(v)->bridge_ipv4.family)
                        p->gw4 = S(v)->bridge_ipv4;
                if (v6 && S(v)->bridge_ipv6.family)
                        p->gw6 = S(v)->bridge_ipv6;
        } else {
                p->onlink = true;
                if (v4)
                        (void) net_cidr_parse(ROUTED_GW4, -1, true, &p->gw4, NULL);
                if (v6)
                        (void) net_cidr_parse(ROUTED_GW6, -1, true, &p->gw6, NULL);
        }
        plan_files(v, cfg, p);
        return true;
}

/* The bridge with its addresses, up: made when missing (and marked as
 * ours), completed when an operator made it.  Checked once per daemon while
 * it stays; a start then pays one lookup. */
static int ensure_bridge(struct vsd *v, vs_error *err) {
        struct netw *n = N(v);
        const struct net_settings *s = S(v);
        int r;
        if (nl_link_index(n->nl, s->bridge) >= 0) {
                if (n->bridge_ready)
                        return 0;
        } else {
                uint8_t mac[NET_MAC_LEN];
                net_mac_from_name("vsd-bridge", s->bridge, mac);
                r = nl_bridge_create(n->nl, s->bridge, mac, (unsigned) s->mtu, err);
                if (r < 0 && r != -EEXIST)
                        return r;
                (void) vs_write_atomic(n->bridge_mark, s->bridge, strlen(s->bridge), 0644);
        }
        const struct net_cidr *addrs[] = { &s->bridge_ipv4, &s->bridge_ipv6 };
        for (size_t k = 0; k < ELEMENTSOF(addrs); k++)
                if (addrs[k]->family) {
                        vs_err_clear(err);
                        r = nl_addr_add(n->nl, s->bridge, addrs[k], err);
                        if (r < 0 && r != -EEXIST)
                                return r;
                }
        /* With NAT the host routes the instances' traffic out, masqueraded:
         * forwarding on our own link only, never host-wide.  Without it
         * nothing of a private pool should leave the host unmasqueraded. */
        if (s->bridge_ipv4.family)
                (void) nl_if_sysctl(AF_INET, s->bridge, "forwarding", s->nat ? "1" : "0", NULL);
        r = nl_link_set_up(n->nl, s->bridge, true, err);
        n->bridge_ready = r >= 0;
        return r;
}

static int proxy_entries(struct vsd *v, const struct inst_config *cfg, bool add, vs_error *err) {
        _cleanup_free_ char *devs = strdup(S(v)->proxy_devs);
        if (!devs)
                return vs_err(err, ENOMEM, "proxy entries");
        for (char *save = NULL, *d = strtok_r(devs, ", ", &save); d; d = strtok_r(NULL, ", ", &save))
                for (unsigned k = 0; k < cfg->net.n_addr; k++) {
                        const struct net_cidr *a = &cfg->net.addr[k];
                        if (!add) {
                                (void) nl_neigh_proxy_del(N(v)->nl, d, a, NULL);
                                continue;
                        }
                        /* the kernel answers from a proxy entry only on a link
                         * that forwards (IPv4) or has proxy_ndp (IPv6): the
                         * operator named this uplink for exactly that */
                        if (a->family == AF_INET)
                                (void) nl_if_sysctl(AF_INET, d, "forwarding", "1", NULL);
                        else
                                (void) nl_if_sysctl(AF_INET6, d, "proxy_ndp", "1", NULL);
                        int r = nl_neigh_proxy_add(N(v)->nl, d, a, err);
                        if (r < 0 && r != -EEXIST)
                                return r;
                }
        return 0;
}

int netw_announce_proxied(struct vsd *v, const struct inst_config *cfg, unsigned rounds) {
        if (cfg->net.mode != NET_MODE_ROUTED || !cfg->net.n_addr || !S(v)->proxy_devs[0])
                return 0;
        _cleanup_free_ char *devs = strdup(S(v)->proxy_devs);
        if (!devs)
                return -ENOMEM;
        unsigned sent = 0;
        for (char *save = NULL, *d = strtok_r(devs, ", ", &save); d; d = strtok_r(NULL, ", ", &save)) {
                unsigned n = 0;
                vs_error e = { 0 };
                /* an uplink that is down has nobody to tell */
                if (net_announce_proxied(d, cfg->net.addr, cfg->net.n_addr, rounds, &n, &e) < 0 &&
                    e.code != ENETDOWN && e.code != ETIMEDOUT)
                        log_warn("Instance %s: %s, ignoring", cfg->name, e.msg);
                sent += n;
        }
        return (int) sent;
}

/* One host route per address of a routed instance, to its link: again
 * after the link was down (the kernel drops a link's routes with it). */
static int host_routes_add(struct nl *nl, const struct inst_config *cfg, const char *ifname, vs_error *err) {
        for (unsigned k = 0; k < cfg->net.n_addr; k++) {
                struct nl_route rt = { .ifname = ifname, .dst = &cfg->net.addr[k] };
                vs_err_clear(err);
                int r = nl_route_add(nl, &rt, err);
                if (r < 0 && r != -EEXIST)
                        return r;
        }
        return 0;
}

/* Routed mode's host side: the gateways, one host route per address, and
 * forwarding for what the instance sends to others. */
static int attach_routed(struct vsd *v, const struct inst_config *cfg, const char *ifname, vs_error *err) {
        struct netw *n = N(v);
        struct net_cidr gw4, gw6;
        (void) net_cidr_parse(ROUTED_GW4 "/32", -1, true, &gw4, NULL);
        (void) net_cidr_parse(ROUTED_GW6 "/64", -1, true, &gw6, NULL);
        int r = nl_addr_add(n->nl, ifname, &gw4, err);
        if (r >= 0)
                r = nl_addr_add(n->nl, ifname, &gw6, err);
        if (r < 0)
                return r;
        r = nl_if_sysctl(AF_INET, ifname, "forwarding", "1", err);
        if (r >= 0)
                r = host_routes_add(n->nl, cfg, ifname, err);
        if (r < 0)
                return r;
        r = proxy_entries(v, cfg, true, err);
        /* the LAN may still send them to another host that answered for
         * them before (where the instance ran last): its cache entries
         * follow at once */
        if (r >= 0)
                (void) netw_announce_proxied(v, cfg, 1);
        return r;
}

/* eth0 inside: addresses, up, default routes; and lo up. */
static int configure_inside(struct nl *nl, const struct start_net *p, vs_error *err) {
        int r = nl_link_set_up(nl, "lo", true, err);
        for (unsigned k = 0; r >= 0 && k < p->n_addr; k++)
                r = nl_addr_add(nl, "eth0", &p->addr[k], err);
        if (r >= 0)
                r = nl_link_set_up(nl, "eth0", true, err);
        struct net_cidr def4 = { .family = AF_INET }, def6 = { .family = AF_INET6 };
        const struct net_cidr *gws[] = { &p->gw4, &p->gw6 }, *defs[] = { &def4, &def6 };
        for (size_t k = 0; r >= 0 && k < 2; k++)
                if (gws[k]->family) {
                        struct nl_route rt = { .ifname = "eth0", .dst = defs[k], .gateway = gws[k], .onlink = p->onlink };
                        r = nl_route_add(nl, &rt, err);
                }
        return r;
}

/* The link, on a namespace of the pool when there is one (renamed, given
 * its alias and master, up: one request), else on a new namespace with a
 * new veth pair (its peer born there, the host side enslaved and up in the
 * same request); then the isolated flag or the routed set-up, and the
 * caps.  *ret_netns: the namespace, eth0 inside it still down. */
static int attach(struct vsd *v, const struct inst_config *cfg, int into, const char *peer, int *ret_netns,
                  bool *ret_pooled, vs_error *err) {
        struct netw *n = N(v);
        char ifname[16], alias[300];
        struct fw_port port;
        fw_port_of(v, cfg, ifname, &port);
        link_alias(v, cfg->name, alias, sizeof(alias));
        const char *master = cfg->net.mode == NET_MODE_BRIDGE ? S(v)->bridge : NULL;
        /* a link of a previous run of this instance that a crash left */
        (void) nl_link_delete(n->nl, ifname, NULL);
        _cleanup_close_ int netns = -EBADF;
        int r = -ENOENT;
        /* into >= 0: an unprivileged instance's own namespace, where the
         * peer is born; the pool's belong to the host's user namespace */
        if (into >= 0) {
                netns = fcntl(into, F_DUPFD_CLOEXEC, 3);
                if (netns < 0)
                        return vs_err(err, errno, "Failed to attach %s", cfg->name);
        }
        while (r < 0 && into < 0 && n->n_pool) {
                struct pooled p = n->pool[--n->n_pool];
                r = nl_link_claim(n->nl, p.ifname, ifname, alias, master, NULL);
                if (r < 0)
                        pool_drop(n, &p);
                else
                        netns = p.netns;
        }
        *ret_pooled = r >= 0;
        if (r < 0) {
                r = netns >= 0 ? 0 : nl_netns_new(&netns, err);
                if (r < 0)
                        return r;
                struct nl_veth ve = {
                        .name = ifname,
                        .alias = alias,
                        .peer_name = peer,
                        .peer_mac = port.mac,
                        .peer_netns_fd = netns,
                        .mtu = (unsigned) S(v)->mtu,
                        .master = master,
                        /* routes need the link up; eth0 stays down until it
                         * has its addresses, so nothing flows before the
                         * caps are set */
                        .up = true,
                };
                r = nl_veth_create(n->nl, &ve, err);
                if (r < 0)
                        return r;
        }
        if (cfg->net.mode == NET_MODE_BRIDGE && cfg->net.isolated)
                r = nl_bridge_port_set_isolated(n->nl, ifname, true, err);
        if (r >= 0 && cfg->net.mode == NET_MODE_ROUTED)
                r = attach_routed(v, cfg, ifname, err);
        if (r >= 0 && (cfg->net.rate_in || cfg->net.rate_out))
                r = tc_rate_set(n->nl, ifname, cfg->net.rate_in, cfg->net.rate_out, err);
        if (r >= 0)
                *ret_netns = TAKE_FD(netns);
        return r;
}

/* The firewall's elements of an instance: its port and its forwards.  They
 * stay while it is stopped (its link does not exist then, so they match
 * nothing), so that a start and a stop never wait for libnftables. */
static int fw_register(struct vsd *v, const struct inst_config *cfg, vs_error *err) {
        struct netw *n = N(v);
        char ifname[16];
        struct fw_port port;
        fw_port_of(v, cfg, ifname, &port);
        int r = fw_port_add(n->fw, &port, err);
        for (unsigned f = 0; r >= 0 && f < cfg->net.n_fwd && cfg->net.n_addr; f++) {
                struct fw_forward fwd;
                fw_forward_of(cfg, f, &fwd);
                r = fw_forward_add(n->fw, &fwd, err);
        }
        return r;
}

static void fw_unregister(struct vsd *v, const struct inst_config *cfg) {
        struct netw *n = N(v);
        char ifname[16];
        struct fw_port port;
        fw_port_of(v, cfg, ifname, &port);
        (void) fw_port_del(n->fw, &port, NULL);
        for (unsigned f = 0; f < cfg->net.n_fwd && cfg->net.n_addr; f++) {
                struct fw_forward fwd;
                fw_forward_of(cfg, f, &fwd);
                (void) fw_forward_del(n->fw, &fwd, NULL);
        }
}

int netw_register(struct vsd *v, struct netw_inst *i, vs_error *err) {
        struct netw *n = N(v);
        if (!netw_has_link(i->cfg))
                return 0;
        /* tables someone deleted a moment ago are put back first: an
         * instance never starts on a firewall that lacks the others */
        int r = fwg_ensure(n->guard, err);
        if (r < 0 || i->registered)
                return r;
        if (!n->fw)
                return vs_err_msg(err, EOPNOTSUPP, "no firewall on this host (%s): only instances with --net none can run",
                                  n->fw_error);
        r = fw_register(v, i->cfg, err);
        if (r == -ENOENT) {
                /* the tables (or a set of them) are gone and the guard has
                 * not heard of it: rebuilt now, this instance included */
                fw_unregister(v, i->cfg);
                vs_err_clear(err);
                return fwg_restore_missing(n->guard, err);
        }
        if (r < 0) {
                fw_unregister(v, i->cfg);
                return r;
        }
        i->registered = true;
        return 0;
}

void netw_unregister(struct vsd *v, struct netw_inst *i) {
        if (!i->registered || !N(v) || !N(v)->fw)
                return;
        fw_unregister(v, i->cfg);
        i->registered = false;
}

int netw_prepare(struct vsd *v, struct netw_inst *i, const struct start_net *plan, bool configure, int *ret_netns,
                 vs_error *err) {
        const struct inst_config *cfg = i->cfg;
        struct netw *n = N(v);
        if (!netw_has_link(cfg))
                return 0;
        char ifname[16];
        struct fw_port port;
        fw_port_of(v, cfg, ifname, &port);
        /* the firewall knows the port before its link exists, so it never
         * passes anything unchecked; normally since the instance was made */
        int r = netw_register(v, i, err);
        if (r >= 0 && cfg->net.mode == NET_MODE_BRIDGE)
                r = ensure_bridge(v, err);
        _cleanup_close_ int netns = -EBADF;
        bool pooled = false;
        if (r >= 0 && !configure) {
                /* the link is made after the clone, in the child's own
                 * namespace (netw_move_in) */
                i->live = true;
                *ret_netns = -EBADF;
                return 0;
        }
        if (r >= 0)
                r = attach(v, cfg, -EBADF, "eth0", &netns, &pooled, err);
        if (r >= 0) {
                _cleanup_nl_ struct nl *in = NULL;
                r = nl_open_netns(netns, &in, err);
                /* a pooled eth0 was made before anyone knew its MAC */
                if (r >= 0 && pooled)
                        r = nl_link_set_mac(in, "eth0", port.mac, err);
                if (r >= 0 && configure)
                        r = configure_inside(in, plan, err);
        }
        pool_schedule(n);
        if (r < 0) {
                netw_detach(v, i);
                return r;
        }
        i->live = true;
        *ret_netns = TAKE_FD(netns);
        return 0;
}

int netw_move_in(struct vsd *v, struct netw_inst *i, const struct start_net *plan, int target_netns, vs_error *err) {
        _cleanup_nl_ struct nl *in = NULL;
        _cleanup_close_ int netns = -EBADF;
        bool pooled;
        /* the veth made with its peer born in the child's namespace: moving
         * a pooled one there costs the kernel an RCU grace period (about
         * 20 ms a start here), making one does not */
        int r = attach(v, i->cfg, target_netns, "eth0", &netns, &pooled, err);
        if (r >= 0)
                r = nl_open_netns(target_netns, &in, err);
        if (r >= 0)
                r = configure_inside(in, plan, err);
        pool_schedule(N(v));
        return r;
}

void netw_restore_ifname(struct vsd *v, const char *name, char ret[16]) {
        char host[16];
        netw_host_ifname(v, name, host);
        snprintf(ret, 16, "%.14sc", host);
}

int netw_prepare_restore(struct vsd *v, struct netw_inst *i, char ret_inner[16], vs_error *err) {
        const struct inst_config *cfg = i->cfg;
        ret_inner[0] = '\0';
        if (!netw_has_link(cfg))
                return 0;
        int r = netw_register(v, i, err);
        if (r >= 0 && cfg->net.mode == NET_MODE_BRIDGE)
                r = ensure_bridge(v, err);
        if (r < 0)
                return r;
        char inner[16];
        netw_restore_ifname(v, cfg->name, inner);
        /* a leftover of an interrupted restore (its host side would have
         * taken it along, unless that was renamed meanwhile) */
        (void) nl_link_delete(N(v)->nl, inner, NULL);
        _cleanup_close_ int here = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (here < 0)
                return vs_err(err, errno, "Failed to attach %s: open our network namespace", cfg->name);
        _cleanup_close_ int netns = -EBADF;
        bool pooled;
        /* the peer born here, in our namespace, under a name of its own */
        r = attach(v, cfg, here, inner, &netns, &pooled, err);
        /* down until CRIU is done (netw_host_link_set_up): it brings eth0
         * up with its addresses before it restores the nftables lock and
         * long before the sockets, and a peer's segment arriving meanwhile
         * finds no socket and is answered with a RST that ends the
         * connection */
        if (r >= 0) {
                char host[16];
                netw_host_ifname(v, cfg->name, host);
                r = nl_link_set_up(N(v)->nl, host, false, err);
        }
        if (r < 0) {
                netw_detach(v, i);
                return r;
        }
        i->live = true;
        snprintf(ret_inner, 16, "%s", inner);
        return 0;
}

int netw_host_link_set_up(struct vsd *v, const struct inst_config *cfg, bool up, int inner_netns, vs_error *err) {
        char host[16];
        netw_host_ifname(v, cfg->name, host);
        _cleanup_nl_ struct nl *nl = NULL;
        int r = nl_open(&nl, err);
        if (r >= 0)
                r = nl_link_set_up(nl, host, up, err);
        /* down, the link lost its routes */
        if (r >= 0 && up && cfg->net.mode == NET_MODE_ROUTED)
                r = host_routes_add(nl, cfg, host, err);
        if (r < 0 || !up || inner_netns < 0)
                return r;
        /* until the kernel's link watch has seen its carrier, the bridge
         * does not forward through it: what the instance announces next
         * would be lost.  The carrier needs eth0 up inside too, which root
         * there may have set down: then nothing is waited for */
        if (net_link_wait_running(inner_netns, "eth0", NET_ANNOUNCE_WAIT_MS) >= 0)
                (void) net_link_wait_running(-1, host, NET_ANNOUNCE_WAIT_MS);
        return 0;
}

/* What a stop leaves to the kernel is looked at this long after it. */
#define SWEEP_MS 1000

static void sweep(struct loop_source *s, void *userdata) {
        struct netw *n = userdata;
        n->sweep = NULL;
        remove_stale_links(n->v);
        bridge_remove_if_unused(n->v);
}

/* now: the link and what hangs on it go here; else they are left to the
 * kernel and the sweep (netw_release). */
static void detach(struct vsd *v, struct netw_inst *i, bool now) {
        struct netw *n = N(v);
        if (!n || !i)
                return;
        i->live = false;
        const struct inst_config *cfg = i->cfg;
        if (!netw_has_link(cfg))
                return;
        char ifname[16];
        struct fw_port port;
        fw_port_of(v, cfg, ifname, &port);
        if (cfg->net.mode == NET_MODE_ROUTED) {
                (void) proxy_entries(v, cfg, false, NULL);
                /* the host routes go now, the link or not: until the
                 * kernel frees a released link, they would send the
                 * addresses' traffic into it (a moved instance's too) */
                if (!now)
                        for (unsigned k = 0; k < cfg->net.n_addr; k++) {
                                struct nl_route rt = { .ifname = ifname, .dst = &cfg->net.addr[k] };
                                (void) nl_route_del(n->nl, &rt, NULL);
                        }
        }
        if (!now) {
                if (!n->sweep)
                        (void) loop_add_timer(v->loop, SWEEP_MS, sweep, n, &n->sweep);
                return;
        }
        /* the IFB of an outbound cap is a link of its own */
        if (cfg->net.rate_out)
                (void) tc_rate_set(n->nl, ifname, 0, 0, NULL);
        /* the link takes its routes, addresses and qdiscs with it; the
         * firewall's elements stay until the instance is destroyed */
        (void) nl_link_delete(n->nl, ifname, NULL);
        if (cfg->net.mode == NET_MODE_BRIDGE)
                bridge_remove_if_unused(v);
}

void netw_detach(struct vsd *v, struct netw_inst *i) {
        detach(v, i, true);
}

/* Init is dead and its namespace with it: the kernel frees a dead
 * namespace's devices in a worker of its own, the veth pair with its eth0,
 * many namespaces per RCU grace period.  Deleting the host side here would
 * cost a grace period of its own for every stop (10-50 ms, in the event
 * loop): stopping many instances one after the other spent most of its time
 * there.  The sweep removes what the kernel has not (a namespace something
 * else still holds), the IFB of an outbound cap and the bridge once unused. */
void netw_release(struct vsd *v, struct netw_inst *i) {
        detach(v, i, false);
}

/* ---- live changes ---- */

static bool addr_in(const struct net_cidr *a, const struct inst_net *n) {
        for (unsigned k = 0; k < n->n_addr; k++)
                if (net_addr_equal(a, &n->addr[k]) && a->prefix == n->addr[k].prefix)
                        return true;
        return false;
}

/* eth0's addresses inside, and the default routes a first address of a
 * family needs. */
static int update_inside(struct vsd *v, int init_pidfd, const struct inst_config *old, const struct inst_config *cfg,
                         vs_error *err) {
        _cleanup_nl_ struct nl *in = NULL;
        int r = nl_open_netns(init_pidfd, &in, err);
        if (r < 0)
                return r;
        const struct inst_net *o = &old->net, *n = &cfg->net;
        /* old ones first: removing a primary IPv4 address takes the
         * secondaries of its subnet with it */
        for (unsigned k = 0; k < o->n_addr; k++)
                if (!addr_in(&o->addr[k], n))
                        (void) nl_addr_del(in, "eth0", &o->addr[k], NULL);
        for (unsigned k = 0; k < n->n_addr; k++)
                if (!addr_in(&n->addr[k], o)) {
                        r = nl_addr_add(in, "eth0", &n->addr[k], err);
                        if (r < 0 && r != -EEXIST)
                                return r;
                }
        struct start_net plan;
        netw_plan(v, cfg, &plan);
        struct net_cidr def4 = { .family = AF_INET }, def6 = { .family = AF_INET6 };
        const struct net_cidr *gws[] = { &plan.gw4, &plan.gw6 }, *defs[] = { &def4, &def6 };
        for (size_t k = 0; k < 2; k++)
                if (gws[k]->family) {
                        struct nl_route rt = { .ifname = "eth0", .dst = defs[k], .gateway = gws[k], .onlink = plan.onlink };
                        r = nl_route_add(in, &rt, err);
                        if (r < 0 && r != -EEXIST)
                                return r;
                }
        return 0;
}

static int update_host(struct vsd *v, const struct inst_config *old, const struct inst_config *cfg, vs_error *err) {
        struct netw *n = N(v);
        char ifname[16];
        struct fw_port port;
        fw_port_of(v, cfg, ifname, &port);
        const struct inst_net *o = &old->net, *nw = &cfg->net;
        int r = 0;
        if (nw->mode == NET_MODE_ROUTED) {
                for (unsigned k = 0; k < nw->n_addr; k++)
                        if (!addr_in(&nw->addr[k], o)) {
                                struct nl_route rt = { .ifname = ifname, .dst = &nw->addr[k] };
                                r = nl_route_add(n->nl, &rt, err);
                                if (r < 0 && r != -EEXIST)
                                        return r;
                        }
                for (unsigned k = 0; k < o->n_addr; k++)
                        if (!addr_in(&o->addr[k], nw)) {
                                struct nl_route rt = { .ifname = ifname, .dst = &o->addr[k] };
                                (void) nl_route_del(n->nl, &rt, NULL);
                        }
                (void) proxy_entries(v, old, false, NULL);
                r = proxy_entries(v, cfg, true, err);
                if (r < 0)
                        return r;
        } else if (nw->isolated != o->isolated) {
                r = nl_bridge_port_set_isolated(n->nl, ifname, nw->isolated, err);
                if (r < 0)
                        return r;
        }
        if (nw->rate_in != o->rate_in || nw->rate_out != o->rate_out) {
                r = tc_rate_set(n->nl, ifname, nw->rate_in, nw->rate_out, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The firewall's elements from old to new: the old ones out, the new ones
 * in (a forward's target moves with the instance's address; a port that
 * changed mode moves to the other table). */
static int update_fw(struct vsd *v, const struct inst_config *old, const struct inst_config *cfg, vs_error *err) {
        fw_unregister(v, old);
        return netw_has_link(cfg) ? fw_register(v, cfg, err) : 0;
}

static int update(struct vsd *v, struct netw_inst *i, const struct inst_config *old, const struct inst_config *cfg,
                  bool live, int init_pidfd, vs_error *err);

int netw_update(struct vsd *v, struct netw_inst *i, const struct inst_config *old, const struct inst_config *cfg,
                bool live, int init_pidfd, vs_error *err) {
        if (live && cfg->net.mode != old->net.mode)
                return vs_err_msg(err, EBUSY, "changing the network mode of '%s' needs it stopped", old->name);
        if (memcmp(&cfg->net, &old->net, sizeof(cfg->net)) == 0)
                return 0;
        if (netw_has_link(cfg) && !N(v)->fw)
                return vs_err_msg(err, EOPNOTSUPP, "no firewall on this host (%s)", N(v)->fw_error);
        int r = fwg_ensure(N(v)->guard, err);
        if (r < 0)
                return r;
        r = update(v, i, old, cfg, live, init_pidfd, err);
        /* the tables went missing and the guard has not heard of it:
         * rebuilt (with the settings still in force), then the change again */
        if (r == -ENOENT && N(v)->fw && fw_tables_present(S(v)->nft_table) == 0) {
                vs_err_clear(err);
                r = fwg_restore_missing(N(v)->guard, err);
                if (r >= 0)
                        r = update(v, i, old, cfg, live, init_pidfd, err);
        }
        return r;
}

/* netw_update() once its checks passed. */
static int update(struct vsd *v, struct netw_inst *i, const struct inst_config *old, const struct inst_config *cfg,
                  bool live, int init_pidfd, vs_error *err) {
        bool addrs = cfg->net.n_addr != old->net.n_addr ||
                     memcmp(cfg->net.addr, old->net.addr, sizeof(cfg->net.addr)) != 0;
        live = live && netw_has_link(cfg);
        int r = live && addrs ? update_inside(v, init_pidfd, old, cfg, err) : 0;
        if (r >= 0 && live)
                r = update_host(v, old, cfg, err);
        if (r >= 0 && (i->registered || live))
                r = update_fw(v, old, cfg, err);
        if (r < 0) {
                /* back to what was: the old settings, quietly */
                vs_error ignore = { 0 };
                if (live && addrs)
                        (void) update_inside(v, init_pidfd, cfg, old, &ignore);
                if (live)
                        (void) update_host(v, cfg, old, &ignore);
                if (i->registered || live)
                        (void) update_fw(v, cfg, old, &ignore);
                return r;
        }
        i->registered = i->registered && netw_has_link(cfg);
        return 0;
}

int netw_counters(struct vsd *v, const struct inst_config *cfg, struct nl_link_stats *ret) {
        if (!N(v) || !netw_has_link(cfg))
                return -ENODEV;
        char ifname[16];
        netw_host_ifname(v, cfg->name, ifname);
        struct nl_link_stats host;
        int r = nl_link_stats(N(v)->nl, ifname, &host, NULL);
        if (r < 0)
                return r;
        /* what the host side received, the instance sent */
        *ret = (struct nl_link_stats){
                .rx_bytes = host.tx_bytes,
                .rx_packets = host.tx_packets,
                .tx_bytes = host.rx_bytes,
                .tx_packets = host.rx_packets,
                .rx_dropped = host.tx_dropped,
                .tx_dropped = host.rx_dropped,
        };
        return 0;
}

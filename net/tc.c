/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bandwidth caps over rtnetlink.
 *
 * to_instance: a TBF root qdisc on the host side of the veth.
 *
 * from_instance: the host side's ingress cannot queue, so what the
 * instance sends is redirected (ingress qdisc, a match-everything u32
 * filter, a mirred action) to an IFB device, and shaped there by the same
 * TBF.  Policing (matchall + act_police) would need no extra device, but
 * it drops instead of queueing: TCP then reaches the rate only with a
 * burst tuned to the flow, and the kernels vsd runs on are not all built
 * with act_police or cls_matchall; u32, mirred and ifb are in every
 * distribution kernel.  The IFB is named after the link (tc_ifb_name()) and
 * carries an alias naming it, so that it can be found and removed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "net/nl-internal.h"
#include "net/tc.h"

/*
 * TBF sizing.  The bucket holds at least a few full-size frames (one
 * smaller than a frame would never pass it) and the bytes of a few ms at
 * the rate, to cover the lateness of the softirq that runs the queue on a
 * busy host.  Measured with iperf3 over a veth (tests/unit/test_net.c), at
 * 10 mbit, 100 mbit and 1 gbit both ways, TCP's goodput was 95.3-95.8% of
 * the cap for every bucket from 2 frames + 1 ms to 10 frames + 4 ms: the
 * cap counts Ethernet frames, and 1448 payload bytes per 1514-byte frame
 * are 95.6%.  The larger bucket costs nothing there and leaves room for a
 * loaded host.  The queue (limit) holds the bucket plus 20 ms at the rate:
 * enough for TCP to keep the link busy, short enough not to add a
 * noticeable delay.
 */
#define TBF_BURST_MIN_BYTES (10u * 1514u)
#define TBF_BURST_NS        4000000ull
#define TBF_QUEUE_NS        20000000ull
/* the kernel's psched tick: PSCHED_SHIFT 6, i.e. 64 ns, which is what the
 * second field of /proc/net/psched (0x40) reports */
#define PSCHED_TICK_NS 64ull

#define U32_HANDLE_ALL 0x80000800u /* 800::800, the first node of u32's root table */
#define FILTER_PRIO    1u

static uint64_t clamp_u32(uint64_t v) {
        return v > UINT32_MAX ? UINT32_MAX : v;
}

static struct tcmsg *put_tcmsg(struct nlmsghdr *nlh, int index, uint32_t parent, uint32_t handle) {
        struct tcmsg *t = mnl_nlmsg_put_extra_header(nlh, sizeof(*t));
        t->tcm_family = AF_UNSPEC;
        t->tcm_ifindex = index;
        t->tcm_parent = parent;
        t->tcm_handle = handle;
        return t;
}

/* ---- TBF -------------------------------------------------------------- */

static void put_tbf(struct nlmsghdr *nlh, uint64_t bps) {
        uint64_t Bps = bps / 8 ? bps / 8 : 1;
        uint64_t burst = Bps * TBF_BURST_NS / 1000000000ull;
        if (burst < TBF_BURST_MIN_BYTES)
                burst = TBF_BURST_MIN_BYTES;
        burst = clamp_u32(burst);
        uint64_t limit = clamp_u32(burst + Bps * TBF_QUEUE_NS / 1000000000ull);
        struct tc_tbf_qopt q = {
                /* linklayer ethernet: the kernel computes the transmit time
                 * of each length itself and needs no rate table */
                .rate = { .rate = (uint32_t) clamp_u32(Bps), .linklayer = TC_LINKLAYER_ETHERNET },
                .limit = (uint32_t) limit,
                /* what older kernels read; TCA_TBF_BURST overrides it */
                .buffer = (uint32_t) clamp_u32(burst * 1000000000ull / Bps / PSCHED_TICK_NS),
        };
        mnl_attr_put_strz(nlh, TCA_KIND, "tbf");
        struct nlattr *opt = mnl_attr_nest_start(nlh, TCA_OPTIONS);
        mnl_attr_put(nlh, TCA_TBF_PARMS, sizeof(q), &q);
        if (Bps > UINT32_MAX)
                mnl_attr_put_u64(nlh, TCA_TBF_RATE64, Bps);
        mnl_attr_put_u32(nlh, TCA_TBF_BURST, (uint32_t) burst);
        mnl_attr_nest_end(nlh, opt);
}

static int tbf_set(struct nl *nl, int index, const char *ifname, uint64_t bps, vs_error *err) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE);
        put_tcmsg(nlh, index, TC_H_ROOT, TC_H_MAKE(1u << 16, 0));
        put_tbf(nlh, bps);
        int r = nl_request_ack(nl, nlh);
        return r < 0 ? nl_fail(nl, err, r, "set the rate of %s to %llu bit/s", ifname, (unsigned long long) bps) : 0;
}

/* Delete a qdisc; one that is not there is no error. */
static int qdisc_del(struct nl *nl, int index, const char *ifname, uint32_t parent, vs_error *err) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_DELQDISC, 0);
        put_tcmsg(nlh, index, parent, parent == TC_H_INGRESS ? TC_H_MAKE(TC_H_INGRESS, 0) : 0);
        int r = nl_request_ack(nl, nlh);
        /* the kernel says ENOENT, or EINVAL for the default root qdisc */
        if (r == -ENOENT || r == -EINVAL)
                return 0;
        return r < 0 ? nl_fail(nl, err, r, "remove the %s qdisc of %s", parent == TC_H_INGRESS ? "ingress" : "root",
                               ifname)
                     : 0;
}

/* ---- the IFB path ----------------------------------------------------- */

void tc_ifb_name(const char *ifname, char ret[16]) {
        /* FNV-1a: a fixed-width name for any host-side name */
        uint32_t h = 2166136261u;
        for (const unsigned char *p = (const unsigned char *) ifname; *p; p++)
                h = (h ^ *p) * 16777619u;
        snprintf(ret, 16, "ifb-%08x", h);
}

static int ifb_ensure(struct nl *nl, const char *ifname, const char *ifb, vs_error *err) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg));
        mnl_attr_put_strz(nlh, IFLA_IFNAME, ifb);
        struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "ifb");
        mnl_attr_nest_end(nlh, info);
        int r = nl_request_ack(nl, nlh);
        if (r < 0 && r != -EEXIST)
                return nl_fail(nl, err, r, "create %s for the outbound cap of %s", ifb, ifname);
        char alias[64];
        snprintf(alias, sizeof(alias), "vsd: outbound cap of %s", ifname);
        r = nl_link_set_alias(nl, ifb, alias, err);
        if (r < 0)
                return r;
        r = nl_link_set_up(nl, ifb, true, err);
        if (r < 0)
                return r;
        return nl_index_or_fail(nl, ifb, err, "shape the outbound traffic of %s", ifname);
}

static int ingress_add(struct nl *nl, int index, const char *ifname, vs_error *err) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL);
        put_tcmsg(nlh, index, TC_H_INGRESS, TC_H_MAKE(TC_H_INGRESS, 0));
        mnl_attr_put_strz(nlh, TCA_KIND, "ingress");
        int r = nl_request_ack(nl, nlh);
        if (r == -EEXIST)
                return 0;
        return r < 0 ? nl_fail(nl, err, r, "add an ingress qdisc to %s", ifname) : 0;
}

static void put_mirred(struct nlmsghdr *nlh, int to_index) {
        struct nlattr *acts = mnl_attr_nest_start(nlh, TCA_U32_ACT);
        struct nlattr *first = mnl_attr_nest_start(nlh, 1);
        mnl_attr_put_strz(nlh, TCA_ACT_KIND, "mirred");
        struct nlattr *opt = mnl_attr_nest_start(nlh, TCA_ACT_OPTIONS);
        struct tc_mirred m = { .action = TC_ACT_STOLEN, .eaction = TCA_EGRESS_REDIR, .ifindex = (uint32_t) to_index };
        mnl_attr_put(nlh, TCA_MIRRED_PARMS, sizeof(m), &m);
        mnl_attr_nest_end(nlh, opt);
        mnl_attr_nest_end(nlh, first);
        mnl_attr_nest_end(nlh, acts);
}

/* Every packet arriving on index goes to the IFB.  A fixed handle makes a
 * second call replace the filter (the IFB may have a new index). */
static int redirect_set(struct nl *nl, int index, const char *ifname, int ifb_index, vs_error *err) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = nl_msg_start(nl, buf, RTM_NEWTFILTER, NLM_F_CREATE);
        struct tcmsg *t = put_tcmsg(nlh, index, TC_H_MAKE(TC_H_INGRESS, 0), U32_HANDLE_ALL);
        t->tcm_info = TC_H_MAKE(FILTER_PRIO << 16, htons(ETH_P_ALL));
        mnl_attr_put_strz(nlh, TCA_KIND, "u32");
        struct nlattr *opt = mnl_attr_nest_start(nlh, TCA_OPTIONS);
        /* one key with mask 0 at offset 0: matches everything */
        char sel[sizeof(struct tc_u32_sel) + sizeof(struct tc_u32_key)] = { 0 };
        ((struct tc_u32_sel *) sel)->flags = TC_U32_TERMINAL;
        ((struct tc_u32_sel *) sel)->nkeys = 1;
        mnl_attr_put(nlh, TCA_U32_SEL, sizeof(sel), sel);
        put_mirred(nlh, ifb_index);
        mnl_attr_nest_end(nlh, opt);
        int r = nl_request_ack(nl, nlh);
        return r < 0 ? nl_fail(nl, err, r, "redirect the traffic of %s to its IFB", ifname) : 0;
}

static int from_instance_set(struct nl *nl, int index, const char *ifname, uint64_t bps, vs_error *err) {
        char ifb[16];
        tc_ifb_name(ifname, ifb);
        int ifb_index = ifb_ensure(nl, ifname, ifb, err);
        if (ifb_index < 0)
                return ifb_index;
        /* shaper first, redirect second: never a moment uncapped */
        int r = tbf_set(nl, ifb_index, ifb, bps, err);
        if (r < 0)
                return r;
        r = ingress_add(nl, index, ifname, err);
        if (r < 0)
                return r;
        return redirect_set(nl, index, ifname, ifb_index, err);
}

static int from_instance_clear(struct nl *nl, int index, const char *ifname, vs_error *err) {
        if (index > 0) {
                int r = qdisc_del(nl, index, ifname, TC_H_INGRESS, err);
                if (r < 0)
                        return r;
        }
        char ifb[16];
        tc_ifb_name(ifname, ifb);
        int r = nl_link_delete(nl, ifb, err);
        return r == -ENODEV ? 0 : r;
}

int tc_rate_set(struct nl *nl, const char *ifname, uint64_t to_instance_bps, uint64_t from_instance_bps,
                vs_error *err) {
        int index = nl_link_index(nl, ifname);
        /* removing the caps of a link that is gone still removes its IFB */
        if (index == -ENODEV && !to_instance_bps && !from_instance_bps)
                return from_instance_clear(nl, 0, ifname, err);
        if (index < 0)
                return vs_err(err, -index, "Failed to set the rate of %s", ifname);
        int r = to_instance_bps ? tbf_set(nl, index, ifname, to_instance_bps, err)
                                : qdisc_del(nl, index, ifname, TC_H_ROOT, err);
        if (r < 0)
                return r;
        return from_instance_bps ? from_instance_set(nl, index, ifname, from_instance_bps, err)
                                 : from_instance_clear(nl, index, ifname, err);
}

/* ---- text ------------------------------------------------------------- */

static const struct {
        const char *suffix;
        uint64_t mult; /* bit/s per unit */
} rate_units[] = {
        { "", 1 },          { "bit", 1 },          { "kbit", 1000 },          { "mbit", 1000000 },
        { "gbit", 1000000000ull }, { "tbit", 1000000000000ull }, { "bps", 8 },  { "kbps", 8000 },
        { "mbps", 8000000 }, { "gbps", 8000000000ull }, { "tbps", 8000000000000ull },
};

static int rate_unit(const char *s, uint64_t *ret) {
        for (size_t i = 0; i < ELEMENTSOF(rate_units); i++)
                if (strcasecmp(s, rate_units[i].suffix) == 0) {
                        *ret = rate_units[i].mult;
                        return 0;
                }
        return -EINVAL;
}

int tc_rate_parse(const char *s, uint64_t *ret_bps, vs_error *err) {
        if (!s || !*s || streq(s, "none") || streq(s, "0")) {
                *ret_bps = 0;
                return 0;
        }
        const char *p = s;
        if (*p == '-')
                return vs_err_msg(err, EINVAL, "invalid rate '%s': negative", s);
        unsigned __int128 mant = 0, scale = 1;
        bool digits = false, dot = false;
        for (; (*p >= '0' && *p <= '9') || (*p == '.' && !dot); p++) {
                if (*p == '.') {
                        dot = true;
                        continue;
                }
                digits = true;
                if (mant > UINT64_MAX || scale > UINT64_MAX)
                        return vs_err_msg(err, ERANGE, "invalid rate '%s': too large", s);
                mant = mant * 10 + (unsigned) (*p - '0');
                if (dot)
                        scale *= 10;
        }
        if (!digits)
                return vs_err_msg(err, EINVAL, "invalid rate '%s': expected a number like 10mbit", s);
        uint64_t mult;
        if (rate_unit(p, &mult) < 0)
                return vs_err_msg(err, EINVAL, "invalid rate '%s': unknown unit '%s' (bit, kbit, mbit, gbit, bps, kbps, mbps, gbps)", s, p);
        unsigned __int128 v = mant * mult / scale;
        if (v > UINT64_MAX)
                return vs_err_msg(err, ERANGE, "invalid rate '%s': too large", s);
        *ret_bps = (uint64_t) v;
        return 0;
}

void tc_rate_format(uint64_t bps, char *buf, size_t len) {
        static const struct {
                const char *suffix;
                uint64_t mult;
        } units[] = { { "tbit", 1000000000000ull }, { "gbit", 1000000000ull }, { "mbit", 1000000 }, { "kbit", 1000 } };
        if (bps == 0) {
                snprintf(buf, len, "none");
                return;
        }
        /* the largest unit that says it exactly, so that parsing it back
         * gives the same number */
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (bps % units[i].mult == 0) {
                        snprintf(buf, len, "%llu%s", (unsigned long long) (bps / units[i].mult), units[i].suffix);
                        return;
                }
        snprintf(buf, len, "%llubit", (unsigned long long) bps);
}

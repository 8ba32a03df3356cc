/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nftables' change notifications over libmnl (see fwwatch.h).  Only
 * message headers and the one attribute that names a message's table are
 * read; what changed inside the table does not matter, since the answer to
 * any foreign change is the same: put back what vsd remembers.
 */
#include "net/fwwatch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One recv: the kernel coalesces a transaction's notifications into skbs
 * of up to NLMSG_GOODSIZE (a page or two); a larger buffer never truncates
 * one. */
#define WATCH_RECV_SIZE 65536

/* The socket's receive buffer.  Every transaction on the host is told to
 * every listener, vsd's own too: a restore of a few thousand instances
 * sends tens of thousands of element messages at once, which must fit
 * while the daemon is busy making them. */
#define WATCH_RCVBUF (8 << 20)

struct fw_watch {
        struct mnl_socket *sock;
        char table[32];
        /* the transaction being read, until its NEWGEN */
        unsigned objects;
        bool deleted;
        char *buf;
};

int fw_watch_open(const char *table, struct fw_watch **ret, vs_error *err) {
        if (!table || !*table || strlen(table) >= sizeof(((struct fw_watch *) 0)->table))
                return vs_err_msg(err, EINVAL, "Failed to watch the firewall: invalid table name '%s'", table ? table : "");
        _cleanup_free_ struct fw_watch *w = calloc(1, sizeof(*w));
        if (!w)
                return vs_err(err, ENOMEM, "Failed to watch the firewall");
        snprintf(w->table, sizeof(w->table), "%s", table);
        w->buf = malloc(WATCH_RECV_SIZE);
        if (!w->buf)
                return vs_err(err, ENOMEM, "Failed to watch the firewall");
        w->sock = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
        int r = w->sock ? 0 : -errno;
        if (r == 0 && mnl_socket_bind(w->sock, 0, MNL_SOCKET_AUTOPID) < 0)
                r = -errno;
        int group = NFNLGRP_NFTABLES;
        if (r == 0 && mnl_socket_setsockopt(w->sock, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
                r = -errno;
        if (r < 0) {
                if (w->sock)
                        mnl_socket_close(w->sock);
                free(w->buf);
                return vs_err(err, -r, "Failed to watch the firewall: nftables notifications");
        }
        /* FORCE needs CAP_NET_ADMIN, which a daemon that writes nftables
         * has; the plain option is capped by net.core.rmem_max */
        int size = WATCH_RCVBUF, fd = mnl_socket_get_fd(w->sock);
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        *ret = TAKE_PTR(w);
        return 0;
}

void fw_watch_close(struct fw_watch *w) {
        if (!w)
                return;
        mnl_socket_close(w->sock);
        free(w->buf);
        free(w);
}

int fw_watch_fd(const struct fw_watch *w) {
        return mnl_socket_get_fd(w->sock);
}

/* The attribute that names the table a message is about: the same number
 * (1) for every object type today, spelled out per type all the same. */
static int table_attr(int msg) {
        switch (msg) {
        case NFT_MSG_NEWTABLE:
        case NFT_MSG_DELTABLE:
                return NFTA_TABLE_NAME;
        case NFT_MSG_NEWCHAIN:
        case NFT_MSG_DELCHAIN:
                return NFTA_CHAIN_TABLE;
        case NFT_MSG_NEWRULE:
        case NFT_MSG_DELRULE:
                return NFTA_RULE_TABLE;
        case NFT_MSG_NEWSET:
        case NFT_MSG_DELSET:
                return NFTA_SET_TABLE;
        case NFT_MSG_NEWSETELEM:
        case NFT_MSG_DELSETELEM:
                return NFTA_SET_ELEM_LIST_TABLE;
        case NFT_MSG_NEWOBJ:
        case NFT_MSG_DELOBJ:
                return NFTA_OBJ_TABLE;
        case NFT_MSG_NEWFLOWTABLE:
        case NFT_MSG_DELFLOWTABLE:
                return NFTA_FLOWTABLE_TABLE;
        default:
                return -1;
        }
}

struct attr_want {
        int type;
        const struct nlattr *found;
};

static int find_attr(const struct nlattr *a, void *data) {
        struct attr_want *want = data;
        if (mnl_attr_get_type(a) == want->type)
                want->found = a;
        return MNL_CB_OK;
}

static const struct nlattr *attr_of(const struct nlmsghdr *nlh, int type) {
        struct attr_want want = { .type = type };
        (void) mnl_attr_parse(nlh, sizeof(struct nfgenmsg), find_attr, &want);
        return want.found;
}

struct feed {
        struct fw_watch *w;
        uint32_t self;
        struct fw_change *ret;
        bool any;
};

/* NFT_MSG_NEWGEN: the transaction read so far is complete. */
static void transaction_end(struct feed *f, const struct nlmsghdr *nlh) {
        struct fw_watch *w = f->w;
        uint32_t pid = 0;
        char command[16] = "";
        const struct nlattr *a = attr_of(nlh, NFTA_GEN_PROC_PID);
        if (a && mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                pid = ntohl(mnl_attr_get_u32(a));
        a = attr_of(nlh, NFTA_GEN_PROC_NAME);
        if (a && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
                snprintf(command, sizeof(command), "%s", mnl_attr_get_str(a));
        /* a kernel that does not name the process: the change cannot be
         * told from our own, and is taken for foreign (the caller bounds
         * how often it answers) */
        if (w->objects && (pid == 0 || pid != f->self)) {
                f->ret->objects += w->objects;
                f->ret->deleted |= w->deleted;
                f->ret->pid = pid;
                snprintf(f->ret->command, sizeof(f->ret->command), "%s", command);
                f->any = true;
        }
        w->objects = 0;
        w->deleted = false;
}

static int on_message(const struct nlmsghdr *nlh, void *data) {
        struct feed *f = data;
        if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
            mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg))
                return MNL_CB_OK;
        int msg = NFNL_MSG_TYPE(nlh->nlmsg_type);
        if (msg == NFT_MSG_NEWGEN) {
                transaction_end(f, nlh);
                return MNL_CB_OK;
        }
        int type = table_attr(msg);
        const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
        if (type < 0 || (g->nfgen_family != NFPROTO_INET && g->nfgen_family != NFPROTO_BRIDGE))
                return MNL_CB_OK;
        const struct nlattr *a = attr_of(nlh, type);
        if (!a || mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0 || !streq(mnl_attr_get_str(a), f->w->table))
                return MNL_CB_OK;
        f->w->objects++;
        if (msg == NFT_MSG_DELTABLE)
                f->w->deleted = true;
        return MNL_CB_OK;
}

int fw_watch_feed(struct fw_watch *w, const void *buf, size_t len, uint32_t self, struct fw_change *ret) {
        struct feed f = { .w = w, .self = self, .ret = ret };
        /* notifications carry sequence number 0 and the sender's port id:
         * neither is checked */
        int r = mnl_cb_run(buf, len, 0, 0, on_message, &f);
        if (r < 0)
                return errno ? -errno : -EIO;
        return f.any ? 1 : 0;
}

/* Reads per call: a host whose other firewall users never pause cannot
 * keep the event loop here; what is left is read on the next turn. */
#define WATCH_READS_MAX 256

int fw_watch_read(struct fw_watch *w, uint32_t self, struct fw_change *ret) {
        struct fw_change c = { 0 };
        bool any = false;
        for (int k = 0; k < WATCH_READS_MAX; k++) {
                ssize_t n = recv(fw_watch_fd(w), w->buf, WATCH_RECV_SIZE, MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        break;
                if (n < 0 && errno == ENOBUFS) {
                        /* messages were dropped: a transaction read half
                         * cannot be judged, and what came between is unknown */
                        c.lost = true;
                        any = true;
                        w->objects = 0;
                        w->deleted = false;
                        continue;
                }
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                int r = fw_watch_feed(w, w->buf, (size_t) n, self, &c);
                if (r > 0)
                        any = true;
        }
        if (!any)
                return 0;
        *ret = c;
        return 1;
}

/* ---- are the tables there? ---- */

static int table_flags(const struct nlmsghdr *nlh, void *data) {
        uint32_t *flags = data;
        const struct nlattr *a = attr_of(nlh, NFTA_TABLE_FLAGS);
        if (a && mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                *flags = ntohl(mnl_attr_get_u32(a));
        return MNL_CB_OK;
}

static int table_present(struct mnl_socket *s, uint32_t seq, int family, const char *table) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        nlh->nlmsg_seq = seq;
        struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
        g->nfgen_family = (uint8_t) family;
        g->version = NFNETLINK_V0;
        g->res_id = 0;
        mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table);
        if (mnl_socket_sendto(s, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        uint32_t portid = mnl_socket_get_portid(s), flags = 0;
        int r;
        do {
                ssize_t n = mnl_socket_recvfrom(s, buf, sizeof(buf));
                if (n < 0)
                        return -errno;
                r = mnl_cb_run(buf, (size_t) n, seq, portid, table_flags, &flags);
        } while (r > 0);
        if (r < 0)
                return errno == ENOENT ? 0 : -errno;
        return (flags & NFT_TABLE_F_DORMANT) ? 0 : 1;
}

int fw_tables_present(const char *table) {
        struct mnl_socket *s = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        if (!s)
                return -errno;
        int r = mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0 ? -errno : 0;
        if (r == 0)
                r = table_present(s, 1, NFPROTO_INET, table);
        if (r == 1)
                r = table_present(s, 2, NFPROTO_BRIDGE, table);
        mnl_socket_close(s);
        return r;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Changes made to vsd's firewall tables (net/fw.h) by anyone but vsd: a
 * host firewall reload (Debian's nftables.service loads a file that starts
 * with "flush ruleset"; firewalld and iptables-nft do alike), or an
 * administrator's nft command.
 *
 * nftables tells every member of the netfilter netlink group
 * NFNLGRP_NFTABLES about each table, chain, rule, set and element a
 * transaction adds or deletes, and ends each transaction's messages with
 * NFT_MSG_NEWGEN, which carries the new generation id and the id and name
 * of the process that committed it.  Messages about vsd's tables (by name,
 * in the inet and bridge families) followed by a NEWGEN from another
 * process are a foreign change.  vsd's own transactions (every start and
 * destroy adds or deletes elements, and a restore replaces both tables)
 * end with a NEWGEN that names vsd itself, so a restore never triggers
 * another.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/util.h"

struct fw_watch;

/* What the transactions read by one fw_watch_read() did to the tables. */
struct fw_change {
        unsigned objects;  /* tables, chains, rules, sets and elements of ours added or deleted */
        bool deleted;      /* one of the tables itself was deleted */
        uint32_t pid;      /* the process that committed the last of them (0: the kernel did not say) */
        char command[16];  /* its name (comm), "" when not known */
        bool lost;         /* the kernel dropped messages (the socket's buffer was full): anything may
                            * have happened, and the caller must look */
};

/* Subscribe to nftables' changes in the caller's network namespace and
 * watch the tables named table (both families). */
int fw_watch_open(const char *table, struct fw_watch **ret, vs_error *err);
void fw_watch_close(struct fw_watch *w);
static inline void fw_watch_closep(struct fw_watch **p) {
        if (*p)
                fw_watch_close(*p);
}
#define _cleanup_fw_watch_ _cleanup_(fw_watch_closep)

/* The socket to poll for input (non-blocking, close-on-exec). */
int fw_watch_fd(const struct fw_watch *w);

/* Read the messages queued (up to a bound: the socket stays readable
 * when more are left).  Transactions committed by process self
 * (getpid() of the caller: vsd is one thread) are its own and ignored.
 * Returns 1 with *ret filled when a foreign transaction touched the tables
 * or messages were lost, 0 when not; a transaction whose NEWGEN has not
 * arrived yet is kept for the next call.  -errno on a read error. */
int fw_watch_read(struct fw_watch *w, uint32_t self, struct fw_change *ret);

/* The parser behind fw_watch_read(), for one buffer of messages as read
 * from the socket; *ret accumulates (zero it first). */
int fw_watch_feed(struct fw_watch *w, const void *buf, size_t len, uint32_t self, struct fw_change *ret);

/* Whether both tables named table (inet and bridge) exist and are not
 * dormant: 1, 0 when not, -errno when the kernel cannot be asked.  One
 * small request per family: no rules or elements are read. */
int fw_tables_present(const char *table);

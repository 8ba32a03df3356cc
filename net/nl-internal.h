/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The request path of net/nl.c, shared with net/tc.c. */

#include <libmnl/libmnl.h>

#include "net/nl.h"

/* Start a request in buf (MNL_SOCKET_BUFFER_SIZE bytes) with NLM_F_REQUEST,
 * NLM_F_ACK and flags, and the socket's next sequence number. */
struct nlmsghdr *nl_msg_start(struct nl *nl, char *buf, uint16_t type, uint16_t flags);

/* Send req and read the answer up to its ack (or a dump's end), calling cb
 * on every other message.  -errno from the kernel, whose extended-ack text
 * nl_fail() then puts in the message; -ECANCELED when cb failed. */
int nl_talk(struct nl *nl, const struct nlmsghdr *req, mnl_cb_t cb, void *data);
int nl_request_ack(struct nl *nl, const struct nlmsghdr *req);

/* "Failed to WHAT: <extended ack>" or "Failed to WHAT: <strerror>"; returns r. */
int nl_fail(struct nl *nl, vs_error *err, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* nl_link_index() with "Failed to WHAT: no link NAME" when there is none. */
int nl_index_or_fail(struct nl *nl, const char *name, vs_error *err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

#define NL_CIDR_STRLEN 64
const char *nl_cidr_str(const struct net_cidr *a, char buf[NL_CIDR_STRLEN]);

/* IFLA_IFALIAS, which the kernel ignores in a creating RTM_NEWLINK. */
int nl_link_set_alias(struct nl *nl, const char *name, const char *alias, vs_error *err);

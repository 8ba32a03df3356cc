/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Addresses as vsd handles them: IPv4 and IPv6 prefixes ("10.77.0.5/24",
 * "fd00:77::5/64"), MAC addresses, and the names vsd gives the host side of
 * an instance's link.  Pure functions, no system calls.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/error.h"

/* An address with its prefix length: family AF_INET or AF_INET6, the
 * address in network byte order in the first 4 or 16 bytes. */
struct net_cidr {
        int family;
        uint8_t addr[16];
        uint8_t prefix;
};

#define NET_CIDR_STRLEN 64 /* "ffff:...:ffff/128" and a NUL, with room */

/* "10.77.0.5/24", "fd00::5/64"; without "/N" the prefix is default_prefix
 * (32 or 128 when given as -1).  Refuses network-less nonsense: the
 * unspecified address, multicast, and (with host set) an address that is
 * the network or IPv4 broadcast address of its own prefix. */
int net_cidr_parse(const char *s, int default_prefix, bool host, struct net_cidr *ret, vs_error *err);

/* "10.77.0.5/24" (with_prefix) or "10.77.0.5". */
void net_cidr_format(const struct net_cidr *c, bool with_prefix, char *buf, size_t len);

/* Same family and address (the prefix length is not compared). */
bool net_addr_equal(const struct net_cidr *a, const struct net_cidr *b);

/* Is a's address inside the network b (b's prefix)? */
bool net_cidr_contains(const struct net_cidr *net, const struct net_cidr *a);

/* Do the two networks overlap? */
bool net_cidr_overlap(const struct net_cidr *a, const struct net_cidr *b);

/* The address with its host bits cleared. */
void net_cidr_network(const struct net_cidr *c, struct net_cidr *ret);

/* The n-th address of the network (n = 1: the first host); fails with
 * -ERANGE past its end. */
int net_cidr_nth(const struct net_cidr *net, uint64_t n, struct net_cidr *ret);

/* Number of host addresses that can be handed out (IPv4: without the
 * network and broadcast addresses; IPv6: capped at 2^32). */
uint64_t net_cidr_hosts(const struct net_cidr *net);

#define NET_MAC_LEN 6
#define NET_MAC_STRLEN 18

/* A locally administered unicast MAC derived from text (the instance name
 * and a per-daemon salt): the same name gets the same MAC on every host,
 * so a moved instance keeps its MAC. */
void net_mac_from_name(const char *salt, const char *name, uint8_t ret[NET_MAC_LEN]);
int net_mac_parse(const char *s, uint8_t ret[NET_MAC_LEN], vs_error *err);
void net_mac_format(const uint8_t mac[NET_MAC_LEN], char buf[NET_MAC_STRLEN]);

/* An interface name: 1..15 characters, no '/', ':', whitespace, not "." or "..". */
bool net_ifname_valid(const char *name);

/* The host-side interface of an instance: prefix + 8 hex digits of a hash
 * of (salt, name), at most 15 characters (IFNAMSIZ - 1).  prefix at most 6
 * characters. */
void net_host_ifname(const char *prefix, const char *salt, const char *name, char ret[16]);

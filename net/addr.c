/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "net/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t family_len(int family) {
        return family == AF_INET ? 4 : 16;
}

static unsigned family_bits(int family) {
        return family == AF_INET ? 32 : 128;
}

/* Is bit i (from the most significant) of addr set? */
static bool bit_set(const uint8_t *addr, unsigned i) {
        return addr[i / 8] & (0x80 >> (i % 8));
}

static bool host_bits_all(const struct net_cidr *c, bool ones) {
        for (unsigned i = c->prefix; i < family_bits(c->family); i++)
                if (bit_set(c->addr, i) != ones)
                        return false;
        return true;
}

int net_cidr_parse(const char *s, int default_prefix, bool host, struct net_cidr *ret, vs_error *err) {
        char buf[NET_CIDR_STRLEN];
        if (!s || !*s)
                return vs_err_msg(err, EINVAL, "empty address");
        if (strlen(s) >= sizeof(buf))
                return vs_err_msg(err, EINVAL, "invalid address '%.60s'", s);
        strcpy(buf, s);

        struct net_cidr c = { 0 };
        char *slash = strchr(buf, '/');
        if (slash)
                *slash = '\0';
        if (inet_pton(AF_INET, buf, c.addr) == 1)
                c.family = AF_INET;
        else if (inet_pton(AF_INET6, buf, c.addr) == 1)
                c.family = AF_INET6;
        else
                return vs_err_msg(err, EINVAL, "invalid address '%.60s': not IPv4 or IPv6", s);

        unsigned bits = family_bits(c.family);
        if (slash) {
                char *end;
                errno = 0;
                unsigned long p = strtoul(slash + 1, &end, 10);
                if (!slash[1] || *end || errno || p > bits || slash[1] == '-' || slash[1] == '+')
                        return vs_err_msg(err, EINVAL, "invalid prefix length in '%.60s' (0-%u)", s, bits);
                c.prefix = (uint8_t) p;
        } else
                c.prefix = (uint8_t) (default_prefix < 0 ? bits : (unsigned) default_prefix);

        bool unspecified = true;
        for (size_t i = 0; i < family_len(c.family); i++)
                if (c.addr[i])
                        unspecified = false;
        if (host && unspecified)
                return vs_err_msg(err, EINVAL, "invalid address '%.60s': the unspecified address", s);
        if (c.family == AF_INET ? (c.addr[0] & 0xf0) == 0xe0 : c.addr[0] == 0xff)
                return vs_err_msg(err, EINVAL, "invalid address '%.60s': multicast", s);
        if (host && c.family == AF_INET && c.prefix < 31) {
                if (host_bits_all(&c, false))
                        return vs_err_msg(err, EINVAL, "invalid address '%.60s': the network address of its prefix", s);
                if (host_bits_all(&c, true))
                        return vs_err_msg(err, EINVAL, "invalid address '%.60s': the broadcast address of its prefix", s);
        }
        *ret = c;
        return 0;
}

void net_cidr_format(const struct net_cidr *c, bool with_prefix, char *buf, size_t len) {
        char a[INET6_ADDRSTRLEN] = "?";
        inet_ntop(c->family, c->addr, a, sizeof(a));
        if (with_prefix)
                snprintf(buf, len, "%s/%u", a, c->prefix);
        else
                snprintf(buf, len, "%s", a);
}

bool net_addr_equal(const struct net_cidr *a, const struct net_cidr *b) {
        return a->family == b->family && memcmp(a->addr, b->addr, family_len(a->family)) == 0;
}

/* Do a and b agree on their first n bits? */
static bool same_prefix(const uint8_t *a, const uint8_t *b, unsigned n) {
        if (memcmp(a, b, n / 8) != 0)
                return false;
        if (n % 8 == 0)
                return true;
        uint8_t mask = (uint8_t) (0xff << (8 - n % 8));
        return (a[n / 8] & mask) == (b[n / 8] & mask);
}

bool net_cidr_contains(const struct net_cidr *net, const struct net_cidr *a) {
        return net->family == a->family && same_prefix(net->addr, a->addr, net->prefix);
}

bool net_cidr_overlap(const struct net_cidr *a, const struct net_cidr *b) {
        return a->family == b->family && same_prefix(a->addr, b->addr, a->prefix < b->prefix ? a->prefix : b->prefix);
}

void net_cidr_network(const struct net_cidr *c, struct net_cidr *ret) {
        struct net_cidr n = *c;
        for (unsigned i = c->prefix; i < family_bits(c->family); i++)
                n.addr[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
        *ret = n;
}

uint64_t net_cidr_hosts(const struct net_cidr *net) {
        unsigned host_bits = family_bits(net->family) - net->prefix;
        if (net->family == AF_INET) {
                if (host_bits <= 1)
                        return 1ULL << host_bits; /* /31 and /32: every address */
                return (1ULL << host_bits) - 2;
        }
        if (host_bits >= 32)
                return 1ULL << 32;
        return (1ULL << host_bits) - 1; /* not the subnet-router anycast address */
}

int net_cidr_nth(const struct net_cidr *net, uint64_t n, struct net_cidr *ret) {
        unsigned host_bits = family_bits(net->family) - net->prefix;
        if (host_bits < 64 && n >= (1ULL << host_bits))
                return -ERANGE;
        struct net_cidr c;
        net_cidr_network(net, &c);
        /* add n to the low 64 bits, carrying into the prefix is impossible:
         * n fits in the host bits */
        size_t len = family_len(net->family);
        uint64_t carry = n;
        for (size_t i = len; i-- > 0 && carry;) {
                carry += c.addr[i];
                c.addr[i] = (uint8_t) carry;
                carry >>= 8;
        }
        *ret = c;
        return 0;
}

/* FNV-1a over salt, a separator and name: stable across hosts and versions. */
static uint64_t name_hash(const char *salt, const char *name) {
        uint64_t h = 0xcbf29ce484222325ULL;
        const char *parts[] = { salt ? salt : "", "\n", name };
        for (size_t p = 0; p < 3; p++)
                for (const unsigned char *s = (const unsigned char *) parts[p]; *s; s++) {
                        h ^= *s;
                        h *= 0x100000001b3ULL;
                }
        return h;
}

void net_mac_from_name(const char *salt, const char *name, uint8_t ret[NET_MAC_LEN]) {
        uint64_t h = name_hash(salt, name);
        for (int i = 0; i < NET_MAC_LEN; i++)
                ret[i] = (uint8_t) (h >> (8 * i));
        /* locally administered (bit 1), unicast (bit 0 clear) */
        ret[0] = (uint8_t) ((ret[0] & 0xfc) | 0x02);
}

int net_mac_parse(const char *s, uint8_t ret[NET_MAC_LEN], vs_error *err) {
        unsigned v[NET_MAC_LEN];
        char tail;
        if (!s || strlen(s) != 17 ||
            sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
                return vs_err_msg(err, EINVAL, "invalid MAC address '%.40s': six hex pairs joined by ':'", s ? s : "");
        for (size_t i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != ':' : !strchr("0123456789abcdefABCDEF", s[i]))
                        return vs_err_msg(err, EINVAL, "invalid MAC address '%.40s': six hex pairs joined by ':'", s);
        if (v[0] & 1)
                return vs_err_msg(err, EINVAL, "invalid MAC address '%.40s': a multicast address", s);
        bool zero = true;
        for (int i = 0; i < NET_MAC_LEN; i++)
                if (v[i])
                        zero = false;
        if (zero)
                return vs_err_msg(err, EINVAL, "invalid MAC address '%.40s': all zero", s);
        for (int i = 0; i < NET_MAC_LEN; i++)
                ret[i] = (uint8_t) v[i];
        return 0;
}

void net_mac_format(const uint8_t mac[NET_MAC_LEN], char buf[NET_MAC_STRLEN]) {
        snprintf(buf, NET_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

bool net_ifname_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n > 15 || !strcmp(name, ".") || !strcmp(name, ".."))
                return false;
        for (const char *p = name; *p; p++)
                if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f)
                        return false;
        return true;
}

void net_host_ifname(const char *prefix, const char *salt, const char *name, char ret[16]) {
        snprintf(ret, 16, "%.6s%08x", prefix, (unsigned) (name_hash(salt, name) >> 32));
}

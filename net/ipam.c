/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "net/ipam.h"

#include <errno.h>

static bool is_taken(const struct net_cidr *a, const struct net_cidr *taken, size_t n) {
        for (size_t k = 0; k < n; k++)
                if (net_addr_equal(a, &taken[k]))
                        return true;
        return false;
}

int ipam_pick(const struct net_cidr *pool, const struct net_cidr *taken, size_t n_taken, struct net_cidr *ret) {
        uint64_t hosts = net_cidr_hosts(pool);
        /* IPv4 /31 and /32 pools start at the network address itself */
        uint64_t first = pool->family == AF_INET && pool->prefix >= 31 ? 0 : 1;
        /* a full scan is n_taken + 1 candidates at most: no bitmap needed
         * for the few thousand instances of a host */
        for (uint64_t n = first; n < first + hosts && n <= first + n_taken; n++) {
                struct net_cidr c;
                if (net_cidr_nth(pool, n, &c) < 0)
                        break;
                if (!is_taken(&c, taken, n_taken)) {
                        *ret = c;
                        return 0;
                }
        }
        return -ENOSPC;
}

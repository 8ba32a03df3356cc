/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Address pools.  What is taken is not kept here: the daemon passes every
 * address its instances hold (their config.ini files, written atomically,
 * are the persistent record), so the pool can never disagree with them.
 */

#include <stddef.h>

#include "net/addr.h"

/* The lowest host address of pool (prefix kept: ret has pool's prefix
 * length) that no entry of taken[] holds.  -ENOSPC when every one is. */
int ipam_pick(const struct net_cidr *pool, const struct net_cidr *taken, size_t n_taken, struct net_cidr *ret);

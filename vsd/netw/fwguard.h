/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The firewall's guard: when another process deletes or changes vsd's
 * nftables tables (a host firewall reload, an administrator's nft), vsd
 * puts back what it remembers — both tables with every instance's port and
 * forwards — shortly after, logs it and emits a "firewall-restored" event.
 * A burst of changes (one reload is many messages, and may be several
 * transactions) leads to one restore; vsd's own changes lead to none.
 * net/fwwatch.h says how a change is noticed.
 */

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

struct vsd;
struct fw_guard;

/* Watch the firewall's tables from the event loop.  Failing to watch (an
 * old kernel, no netfilter netlink) is said once and leaves the guard
 * idle: starts still repair tables they find missing.  rebuild (the
 * network's netw_fw_rebuild) puts the tables back whole. */
typedef int (*fwg_rebuild_fn)(void *userdata, size_t *ret_ports, size_t *ret_forwards, vs_error *err);
int fwg_new(struct vsd *v, const char *table, fwg_rebuild_fn rebuild, void *userdata, struct fw_guard **ret);
void fwg_free(struct fw_guard *g);

/* Before a start or a change relies on the tables: a restore that is due
 * (a change was seen, the debounce timer has not fired yet) runs now, so
 * that nothing starts unprotected in between. */
int fwg_ensure(struct fw_guard *g, vs_error *err);

/* The tables turned out to be missing (an element could not be added:
 * ENOENT): restore them now, with reason "missing". */
int fwg_restore_missing(struct fw_guard *g, vs_error *err);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Moving an instance to another host, cold: a running instance's image is
 * sent through ssh ([migrate] ssh) into `vsctl import -` on the target
 * while it runs (its archive, transfer.h), then it is stopped and only
 * what changed in the image goes (disk.delta); a directory layer goes whole
 * once stopped.  The target starts it (same name, addresses, MAC, limits,
 * disk), and only then is it destroyed here.  The downtime, from the stop
 * to the target's start, is the operation's details.downtime_ms.
 * On any failure (the target unreachable or refusing, out of space, the
 * link cut midway, its start failing) the target is left without it (an
 * import leaves nothing when its archive breaks off; an instance imported
 * but not started is destroyed there) and the instance runs here again as
 * before.  <run_dir>/<name>.migrating says, for a daemon killed midway,
 * whether the target had confirmed the start (then the local copy goes) or
 * not (then it is started again here).
 */

#include <stdbool.h>

#include "base/error.h"

struct instance;
struct op;
struct vsd;

/* Move i to host (an ssh destination: [user@]host or a Host of the ssh
 * configuration).  Refused at once for a bad host, a busy, paused, broken
 * or stopping instance. */
struct mig_options {
        bool live;             /* checkpoint and restore instead of stop and start */
        bool unlocked_mounts;  /* live: an unprivileged instance restored there (ckpt_restore) */
        bool no_send_template; /* a target without the template refuses the move ([migrate] send_templates = no too) */
        bool no_precopy;       /* cold: the whole image once stopped, not a first pass while it runs;
                                  live: the whole disk after the dump, and no memory pre-copy
                                  (pre-dump passes) */
        bool no_page_server;   /* live: the pages go with the archive, not ahead by the target's page server */
        bool postcopy;         /* live: restored there before its memory came, fetched after ([migrate] postcopy) */
};
int mig_start(struct instance *i, const char *host, const struct mig_options *o, struct op **ret_op, vs_error *err);

/* At daemon start: finish what a move interrupted by the daemon's end left. */
void mig_recover(struct vsd *v);

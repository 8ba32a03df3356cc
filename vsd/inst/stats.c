/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What an instance uses, gathered in one struct (inst_stats) from the
 * modules that know: its cgroup, its disk, its link.  The API renders it.
 */
#include <errno.h>
#include <stdio.h>

#include "cgroups/cgroup.h"
#include "vsd/inst/instance.h"
#include "vsd/netw/network.h"
#include "vsd/storage/storage.h"

int inst_stats(struct instance *i, struct inst_stats *ret, vs_error *err) {
        struct inst_stats s = { 0 };
        const struct inst_config *c = &i->cfg;
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/instances/%s", i->vsd->set.root, c->name);
        if (inst_is_up(i)) {
                int r = cg_counters_held(i->vsd->cg, c->name, &i->counters, &s.cg, err);
                if (r < 0)
                        return r;
                /* The instance's own disk counts what reached it, the
                 * kernel's writeback of its pages included: cgroup v1
                 * charges that to no cgroup, so the cgroup's figure alone
                 * misses every buffered write. */
                uint64_t written;
                if (stor_written(i->vsd, dir, c, &written) == 0 && written > s.cg.io_wbytes)
                        s.cg.io_wbytes = written;
                (void) netw_counters(i->vsd, c, &s.net);
        }
        /* running: the mounted filesystem's own figures; stopped: what the
         * image takes on the host */
        if (i->state != INST_BROKEN)
                (void) stor_usage(i->vsd, dir, c, inst_is_active(i) ? i->pid : 0, &s.disk, NULL);
        *ret = s;
        return 0;
}

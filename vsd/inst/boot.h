/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Back after a reboot: the first daemon of a boot of the host starts the
 * instances that should run (their [boot] onboot: yes, or auto and it was
 * running when the host went down), higher boot_priority first, [boot]
 * parallel of them per turn of the loop, as one operation ("boot") with
 * progress, and events boot-started and boot-finished.
 *
 * A boot is new when <run_dir>/boot does not hold this kernel's boot id
 * (/proc/sys/kernel/random/boot_id): run_dir is a tmpfs, empty after a
 * reboot.  The file is written once the last start was tried: a daemon
 * killed during the boot leaves none, and the next one carries on (what
 * was started meanwhile runs and is re-adopted, the rest is started).
 */

#include <stdbool.h>

#include "base/error.h"

struct vsd;

/* Is this the first daemon of this boot of the host (no record of it in
 * run_dir)?  Asked by the registry when it loads. */
bool boot_is_new(struct vsd *v);

/* After the registry and the API: on a new boot, begin starting what
 * should run (in the loop, in steps); else nothing.  Failures to start
 * one instance are logged and counted, not returned. */
int boot_begin(struct vsd *v, vs_error *err);

/* At daemon exit: a boot still under way stops here (the next daemon
 * carries on). */
void boot_free(struct vsd *v);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Resource limits (setrlimit) an instance's init and exec'd commands get,
 * besides the open-files limit, which has its own key (nofile).  One table
 * names them; config.ini holds them as one key:
 *     rlimits = core=0,nproc=4096,memlock=64M,stack=8M:unlimited
 * NAME=SOFT[:HARD] (HARD defaults to SOFT), sizes with units where the
 * limit is in bytes, "unlimited" for no limit.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

/* Rows of the table in rlimits.c. */
#define RLIMITS_N 14

/* Value for "unlimited" (RLIM_INFINITY). */
#define RLIMITS_UNLIMITED UINT64_MAX

struct inst_rlimit {
        bool set; /* false: inherited from vsd, like any process it starts */
        uint64_t soft, hard;
};

struct inst_rlimits {
        struct inst_rlimit r[RLIMITS_N];
};

/* Merge "NAME=SOFT[:HARD][,...]" into rl: each named limit is replaced,
 * the others are kept; NAME=default drops one, "" or "none" drops all.
 * rl is unchanged on error (unknown name, bad value, soft above hard). */
int rlimits_parse(struct inst_rlimits *rl, const char *s, vs_error *err);

/* The set limits back as text rlimits_parse() reads ("" when none);
 * malloc'd, NULL on ENOMEM. */
char *rlimits_format(const struct inst_rlimits *rl);

/* In a child before exec: setrlimit() every set limit.  On failure err
 * names the limit; returns -errno. */
int rlimits_apply(const struct inst_rlimits *rl, vs_error *err);

/* Live change of a running instance: prlimit() on its init for every limit
 * that differs between from and to; a limit dropped from the set goes back
 * to vsd's own.  Processes init starts later inherit the new values;
 * processes already running keep theirs.  A hard limit above init's current
 * one cannot be raised without CAP_SYS_RESOURCE: init keeps that limit
 * (exec'd commands and the next start get the new one) and its bit
 * (1 << row) is set in *ret_kept.  On failure, what was changed is changed
 * back. */
int rlimits_apply_live(pid_t pid, const struct inst_rlimits *from, const struct inst_rlimits *to, unsigned *ret_kept,
                       vs_error *err);

/* Can vsd grant these?  Without CAP_SYS_RESOURCE no process may raise a
 * hard limit above its own, so a hard limit (nofile included) above vsd's
 * is refused here, at create or set time, rather than failing the start. */
int rlimits_check(const struct inst_rlimits *rl, uint64_t nofile, vs_error *err);

/* Name of table row i, for listings. */
const char *rlimits_name(unsigned i);

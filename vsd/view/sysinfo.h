/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * sysinfo(2) as an instance sees it: the instance's memory limit, its
 * usage, swap allowance, task count, uptime and load, instead of the
 * host's (busybox free and uptime, monitoring agents, runtimes sizing their
 * heaps).  No filesystem can answer a system call, so the seccomp profile
 * of every instance process sends sysinfo to a listener (security.h) that
 * the start hands to the daemon (SYNC_SECCOMP_LISTENER), and this module
 * answers it from the daemon's loop.
 *
 * One record per instance whose init is up, keyed by name; each holds the
 * listeners of its processes: init's, and one per command exec'd into it
 * (a filter is per process tree).  A listener goes when the kernel says no
 * process uses its filter any more (EPOLLHUP), or with its instance.
 *
 * The load averages are the instance's own: the number of its tasks that
 * are running or in uninterruptible sleep, sampled every 5 s and averaged
 * as the kernel averages its own (sampling starts with the instance's
 * first sysinfo call).
 */

#include <stdint.h>
#include <sys/sysinfo.h>
#include <sys/types.h>

struct vsd;
struct inst_config;
struct sinfo;

int sinfo_new(struct vsd *v, struct sinfo **ret);
/* Closes every listener: the callers still waiting get ENOSYS from the
 * kernel, as does every later call (doc/architecture.md). */
void sinfo_free(struct sinfo *s);

/* An instance whose init is up, from add to remove; cfg (its name and
 * limits) is borrowed for as long.  -ENOMEM: its calls are answered by the
 * kernel (CONTINUE).  s may be NULL. */
int sinfo_instance_add(struct sinfo *s, const struct inst_config *cfg, pid_t init_pid);
void sinfo_instance_remove(struct sinfo *s, const char *name);

/* A listener of a process of instance name; takes fd (closed on failure,
 * or when no such instance is up). */
int sinfo_listener_add(struct sinfo *s, const char *name, int fd);

/* What an answer is computed from (pure, for the unit tests). */
struct sinfo_input {
        struct sysinfo host;      /* the host's own sysinfo() */
        uint64_t boottime_ns;     /* the host's CLOCK_BOOTTIME */
        int64_t boot_offset_ns;   /* the instance's time namespace offset (<= 0) */
        uint64_t memory_max;      /* its limit, bytes; 0 = none */
        uint64_t swap_max;        /* swap on top of it, bytes */
        uint64_t memory_current;  /* its usage, page cache included */
        uint64_t memory_shmem;
        uint64_t swap_current;
        uint64_t tasks;
        uint64_t avenrun[3];      /* its loads, FSHIFT fixed point */
};

void sinfo_compute(const struct sinfo_input *in, struct sysinfo *ret);

/* The kernel's load average step (FSHIFT = 11 fixed point, a sample every
 * 5 s): load * e + active * (1 - e), e one of SINFO_EXP_*. */
#define SINFO_FSHIFT 11
#define SINFO_FIXED_1 (1ULL << SINFO_FSHIFT)
#define SINFO_EXP_1 1884ULL
#define SINFO_EXP_5 2014ULL
#define SINFO_EXP_15 2037ULL
uint64_t sinfo_calc_load(uint64_t load, uint64_t exp, uint64_t active);

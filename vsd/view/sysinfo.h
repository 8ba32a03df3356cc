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
 * sched_getaffinity(0, ...) is answered here too: the caller's mask with
 * only its first ceil(cpus) CPUs when the instance's CPU time is capped
 * (nproc, GOMAXPROCS, thread pools), so that it agrees with lxcfs's
 * /proc/cpuinfo and /sys/devices/system/cpu/online.
 *
 * The load averages are the instance's own: the number of its tasks that
 * are running or in uninterruptible sleep, sampled every 5 s and averaged
 * as the kernel averages its own (sampling starts with the instance's
 * first sysinfo call).
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/sysinfo.h>
#include <sys/types.h>

#include "base/error.h"
#include "vsd/view/view.h"

struct vsd;
struct inst_config;
struct sinfo;

int sinfo_new(struct vsd *v, struct sinfo **ret);
/* Closes the daemon's copy of every listener: the holder's copies keep
 * them (holder.h), and it answers from then on; a listener it lacks is
 * gone, and the kernel fails its calls with ENOSYS (doc/architecture.md). */
void sinfo_free(struct sinfo *s);

/* An instance whose init is up, from add to remove; cfg (its name and
 * limits) is borrowed for as long.  -ENOMEM: its calls are answered by the
 * kernel (CONTINUE).  s may be NULL. */
int sinfo_instance_add(struct sinfo *s, const struct inst_config *cfg, pid_t init_pid);
/* Drops the record and removes its view files (the instance stopped). */
void sinfo_instance_remove(struct sinfo *s, const char *name);

/* Before a start: vsd's own view files of the instance (view.h,
 * enum view_own_file) created afresh under <run_dir>/view, and a
 * detached read-only copy of the mount of each in ret_trees, for the
 * child to bind (view_bind_own).  From sinfo_instance_add on, the daemon
 * writes them: the load every 5 s, the CPUs on each change. */
/* Where the daemon keeps instance name's own view file f
 * (<run_dir>/view/<name>.<file>): what a restore binds in again. */
int sinfo_own_file_path(const struct sinfo *s, const char *name, enum view_own_file f, char *buf, size_t size);

int sinfo_files_prepare(struct sinfo *s, const struct inst_config *cfg, int ret_trees[VIEW_N_OWN], vs_error *err);
/* Remove them: a failed start's, or a stopped instance's. */
void sinfo_files_remove(struct sinfo *s, const char *name);
/* Its settings changed (a live vsctl set): the CPU list is rewritten. */
void sinfo_instance_changed(struct sinfo *s, const char *name);

/* A listener of a process of instance name; takes fd (closed on failure,
 * or when no such instance is up). */
int sinfo_listener_add(struct sinfo *s, const char *name, int fd);

/* A listener the holder gave back to a new daemon (holder.h): taken when
 * tag names an instance up with that very init (fd closed otherwise:
 * -ESRCH). */
struct hold_tag;
int sinfo_listener_adopt(struct sinfo *s, const struct hold_tag *tag, int fd);
/* Give the holder a copy of each listener it lacks, until its queue is
 * full (it calls again when it drains). */
void sinfo_hold_flush(struct sinfo *s);
/* The holder died: it has none. */
void sinfo_hold_lost(struct sinfo *s);

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

/* One load sample of an instance's tasks. */
struct sinfo_sample {
        unsigned pid_level; /* in: which NSpid field is the pid inside */
        unsigned active;    /* running or in uninterruptible sleep: the load */
        unsigned running;
        unsigned total;
        unsigned last_pid;  /* the highest pid inside */
};
/* /proc/loadavg's line, as the kernel prints its own. */
void sinfo_loadavg_text(const uint64_t avenrun[3], const struct sinfo_sample *smp, char *buf, size_t size);
/* Its three loads back into FSHIFT fixed point. */
int sinfo_loadavg_parse(const char *text, uint64_t avenrun[3]);
/* /sys/devices/system/cpu/online's line: host_online within cpuset ("" =
 * all), its first ceil(cpu_millis / 1000) CPUs. */
int sinfo_online_text(const char *host_online, const char *cpuset, uint32_t cpu_millis, char *buf, size_t size);

/* What /proc/stat's CPU lines of an instance are made of. */
struct sinfo_cpu_times {
        uint64_t user_ns, system_ns; /* the instance's cgroup's CPU time */
        uint64_t elapsed_ns;         /* since its init started */
        unsigned ncpu;               /* the CPUs it sees (sinfo_online_text's) */
        unsigned running, blocked;   /* its tasks at the last load sample */
};
/* /proc/stat for an instance: its CPU time, in USER_HZ ticks, spread evenly
 * over ncpu lines, idle the rest of elapsed * ncpu; then the host's other
 * lines (host_stat, the kernel's file) without the per-CPU lists, with the
 * instance's running and blocked tasks.  -ENOSPC when buf is too small. */
int sinfo_stat_text(const char *host_stat, const struct sinfo_cpu_times *t, char *buf, size_t size);

/* The kernel's load average step (FSHIFT = 11 fixed point, a sample every
 * 5 s): load * e + active * (1 - e), e one of SINFO_EXP_*. */
#define SINFO_FSHIFT 11
#define SINFO_FIXED_1 (1ULL << SINFO_FSHIFT)
#define SINFO_EXP_1 1884ULL
#define SINFO_EXP_5 2014ULL
#define SINFO_EXP_15 2037ULL
uint64_t sinfo_calc_load(uint64_t load, uint64_t exp, uint64_t active);

/* The CPUs a CPU cap of cpu_millis shows (rounded up, as lxcfs's
 * --enable-cfs does for cpuinfo and online); 0: uncapped. */
unsigned sinfo_cpus_of(uint32_t cpu_millis);
/* Clear every set bit of a CPU mask of len bytes after the first max (max
 * 0: keep all); returns how many stay set. */
size_t sinfo_affinity_trim(uint8_t *mask, size_t len, unsigned max);

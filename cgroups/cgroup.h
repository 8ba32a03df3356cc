/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Resource control: limits in, cgroup files out.
 *
 * One interface over two layouts, chosen at run time by cg_manager_new():
 *   - v1 (hybrid or legacy): one directory per controller hierarchy
 *     (memory, cpu, cpuacct, pids, freezer, ...), plus the unified (v2)
 *     hierarchy when it is mounted, used only to track and kill processes;
 *   - v2 (unified): one directory, controllers enabled in the parent's
 *     cgroup.subtree_control.
 * Every instance lives in <root>/<parent>/<name> in each hierarchy; vsd never
 * touches a cgroup outside <parent>.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

/* Up to this many block devices can be throttled per instance. */
#define CG_IO_DEV_MAX 8

/* Throttle of one block device; a value of 0 = no limit for that direction. */
struct cg_io_throttle {
        unsigned major, minor;
        uint64_t rbps, wbps;   /* bytes per second */
        uint64_t riops, wiops; /* I/O operations per second */
};

/* Every field 0 (or "") = the kernel's default, so a zeroed struct means "no
 * limits" and callers that know only the first three fields keep working. */
struct cg_limits {
        uint64_t memory_max; /* bytes, 0 = no limit */
        uint32_t cpu_millis; /* thousandths of one CPU (500 = half a CPU), 0 = no cap */
        uint64_t pids_max;   /* 0 = no limit */

        uint64_t memory_high; /* bytes: soft limit, reclaimed down to it under pressure; 0 = none */
        uint64_t swap_max;    /* bytes of swap on top of memory_max (needs memory_max); 0 = no swap */
        uint32_t cpu_weight;  /* relative CPU share 1..10000 (like cgroup2 cpu.weight), 0 = default 100 */
        char cpuset[64];      /* CPUs the instance may run on, "0-1,3"; "" = all of the parent's */
        uint32_t io_weight;   /* relative I/O share 1..10000 (like cgroup2 io.weight), 0 = default 100 */
        struct cg_io_throttle io_max[CG_IO_DEV_MAX];
        unsigned n_io_max;    /* entries used in io_max; a device left out loses its throttle */
};

/* What the kernel counts for an instance.  Every field is a counter or a
 * value in effect read from the instance's cgroup files (doc/cgroups.md
 * names the file of each); a file the kernel lacks reads as 0. */
struct cg_stats {
        uint64_t memory_current;  /* bytes */
        uint64_t memory_peak;     /* bytes, 0 if the kernel does not say */
        uint64_t memory_max;      /* effective limit in bytes, 0 = none */
        uint64_t memory_failcnt;  /* v1 memory.failcnt / v2 memory.events max */
        uint64_t oom_kills;       /* v1 memory.oom_control oom_kill / v2 memory.events oom_kill */
        uint64_t cpu_usage_ns;    /* cumulative CPU time */
        uint64_t cpu_nr_throttled;
        uint64_t cpu_throttled_ns;
        uint32_t cpu_millis;      /* effective cap, 0 = none */
        uint64_t pids_current;
        uint64_t pids_max;        /* 0 = none */
        uint64_t pids_failcnt;    /* pids.events max */
        uint64_t swap_current;    /* bytes of swap in use */
        uint32_t cpu_weight;      /* relative CPU share in effect, 1..10000 (100 = default) */
        uint64_t io_rbytes;       /* bytes read from block devices, all devices */
        uint64_t io_wbytes;       /* bytes written to block devices */

        uint64_t memory_rss;      /* anonymous memory: v1 total_rss / v2 anon */
        uint64_t memory_shmem;    /* shared memory and tmpfs: v1 total_shmem / v2 shmem */
        uint64_t memory_cache;    /* page cache: v1 total_cache / v2 file */
        uint64_t memory_high;     /* soft limit in effect, bytes; 0 = none */
        uint64_t memory_high_events; /* v2: times reclaimed for going above memory.high; v1: 0 */
        uint64_t swap_max;        /* swap allowed on top of memory_max, bytes; 0 = none or no memory limit */
        uint64_t cpu_nr_periods;  /* CFS periods elapsed while runnable (with a cap) */
        uint64_t io_rios;         /* read operations, all devices */
        uint64_t io_wios;         /* write operations */
};

struct cg_manager;

/* Detect the host's layout below cgroup_root (normally "/sys/fs/cgroup"; tests
 * pass a fake tree), make sure <parent> exists in each hierarchy with the
 * controllers vsd needs, and return a manager.  Called once per daemon. */
/* A set of CPUs, for the kernel's CPU lists ("0-1,3"): enough for any
 * host vsd runs on; a CPU number above it is refused. */
#define CG_CPU_MAX 1024
struct cg_cpu_mask {
        uint64_t bits[CG_CPU_MAX / 64];
};
/* Parse a kernel CPU list; -EINVAL on bad syntax or a CPU number of
 * CG_CPU_MAX or more.  An empty list is an empty mask. */
int cg_cpu_list_parse(const char *s, struct cg_cpu_mask *ret);
/* Format as a kernel CPU list ("" when empty); cut at a whole range when
 * size is short. */
void cg_cpu_list_format(const struct cg_cpu_mask *m, char *buf, size_t size);
/* Keep the first max CPUs (max 0: all); returns how many stay. */
size_t cg_cpu_mask_trim(struct cg_cpu_mask *m, unsigned max);

int cg_manager_new(const char *cgroup_root, const char *parent, struct cg_manager **ret, vs_error *err);
void cg_manager_free(struct cg_manager *m);

/* Remove <parent> from every hierarchy if it is empty (no instance cgroup
 * left): what a daemon does when it exits with no instance running.  -EBUSY
 * or -ENOTEMPTY while any remains. */
int cg_manager_remove_parent(struct cg_manager *m);

/* "v1" or "v2": what the API and `vsctl version` report. */
const char *cg_manager_mode(const struct cg_manager *m);

/* What an instance's /sys/fs/cgroup may be: the cgroup2 hierarchy seen
 * from the instance's cgroup namespace (its payload cgroup as the root),
 * where an init such as systemd builds its own tree.  doc/cgroups.md says
 * why it is always writable. */
enum cg_instance_fs {
        CG_FS_NONE,     /* no cgroup2 hierarchy on the host that holds the instance */
        CG_FS_WRITABLE, /* v2: the limits sit one level above the namespace root;
                         * v1 hybrid: no controller in it */
};
enum cg_instance_fs cg_instance_fs(const struct cg_manager *m);

/*
 * The v2 layout of an instance (doc/cgroups.md, "The instance's own tree"):
 *   <parent>/<name>           the limits; no process of its own
 *   <parent>/<name>/payload   init and everything it starts; the root of the
 *                             instance's cgroup namespace and /sys/fs/cgroup
 *   <parent>/<name>/exec      vsd's leaf for exec'd commands that cannot join
 *                             init's cgroup; made when first needed
 * What root inside writes at its namespace root cannot raise a limit set one
 * level up, with or without the host's nsdelegate.  v1 (hybrid) keeps
 * every process in <parent>/<name>: its limits live in hierarchies the
 * instance never sees.
 */
#define CG_PAYLOAD "payload"
#define CG_EXEC_LEAF "exec"

/* Create <parent>/<name> everywhere and write the limits.  Fails with -EEXIST
 * if it already exists and is populated; an empty leftover is reused. */
int cg_create(struct cg_manager *m, const char *name, const struct cg_limits *lim, vs_error *err);

/* Delegate an unprivileged instance's own tree to its root (uid, gid on
 * the host), as systemd's Delegate= does: the cgroup that is the root of
 * its cgroup namespace in the unified hierarchy (v2: the payload; v1
 * hybrid: <parent>/<name> in the controller-less cgroup2), with its
 * cgroup.procs, cgroup.threads and cgroup.subtree_control, so that root
 * inside (systemd) makes and fills cgroups below it.  Nothing else: the
 * limits (v2: one level up; v1: in hierarchies never mounted inside) and
 * the other files of the namespace root stay the host's.  A host without
 * cgroup2 has nothing to delegate. */
int cg_delegate(struct cg_manager *m, const char *name, uid_t uid, gid_t gid, vs_error *err);

/* Check limits against what the host can do (without writing anything). */
int cg_validate(struct cg_manager *m, const struct cg_limits *lim, vs_error *err);

/* Apply new limits to an existing cgroup (live change). */
int cg_set_limits(struct cg_manager *m, const char *name, const struct cg_limits *lim, vs_error *err);

/* Move pid into the instance's cgroup in every hierarchy. */
int cg_attach(struct cg_manager *m, const char *name, pid_t pid, vs_error *err);

/* On v2 hosts: an O_PATH|O_DIRECTORY fd of the cgroup an instance's init
 * starts in (<name>/payload) for clone3(CLONE_INTO_CGROUP); -EOPNOTSUPP on
 * v1. */
int cg_open_dir(struct cg_manager *m, const char *name);

/* On v2 hosts: an O_PATH|O_DIRECTORY fd for clone3(CLONE_INTO_CGROUP) of a
 * command joining the running instance whose init is init_pid.  leaf false:
 * init's own cgroup, read from /proc/<init_pid>/cgroup and opened beneath
 * the instance's cgroup (the instance names it); -EBUSY when it is frozen,
 * -ENOENT when it is not below the instance.  leaf true: vsd's own leaf
 * <name>/exec, made if missing.  -EOPNOTSUPP on v1 (cg_attach() then). */
int cg_open_join_dir(struct cg_manager *m, const char *name, pid_t init_pid, bool leaf);

/* An O_RDONLY|O_DIRECTORY fd of the cgroup2 directory the instance's
 * processes live in, the root of its cgroup namespace (v2: <name>/payload;
 * v1 hybrid: <name> in the unified hierarchy); -EOPNOTSUPP with no cgroup2.
 * For a checkpoint, which keeps the tree systemd made below it. */
int cg_open_procs_dir(struct cg_manager *m, const char *name);

/* 1 when a running v2 instance has the layout above, 0 when its processes
 * live in <parent>/<name> itself (started by an earlier vsd: its limits are
 * its namespace root's files, which only the host's nsdelegate guards),
 * -EOPNOTSUPP on v1, other -errno on failure. */
int cg_has_payload(struct cg_manager *m, const char *name);

/* For a helper that mounts cgroupfs itself (lxcfs), in the helper's child
 * before its exec: unshare a cgroup namespace whose root is the root of
 * every hierarchy vsd manages, and stay in the cgroups the caller was in.
 * A cgroup2 mount made from outside the initial cgroup namespace leaves the
 * host's mount options (nsdelegate, memory_recursiveprot) alone, where a
 * plain one made inside it resets them for the whole host; from a namespace
 * rooted at the root the helper still sees every instance's cgroup by the
 * host's path.  Nothing is done (0) when the host's cgroup2 mount carries
 * no such option.  The caller must be single-threaded. */
int cg_unshare_ns_at_root(struct cg_manager *m, vs_error *err);

/* Parse "0::/path" out of /proc/PID/cgroup text and return the part below
 * prefix ("/<mount root>/<parent>/<name>"), without its leading '/', "."
 * for prefix itself; -ENOENT when the path is not below prefix.  For
 * cg_open_join_dir(); public for the unit tests. */
int cg_path_below(const char *proc_cgroup, const char *prefix, char *ret, size_t len);

/* The CPU time the instance's processes spent in user and in kernel mode,
 * in ns (v2: cpu.stat user_usec/system_usec, which exist without the cpu
 * controller; v1: cpuacct.stat, in USER_HZ ticks).  -errno, no message:
 * read about once a second per instance. */
int cg_cpu_times(struct cg_manager *m, const char *name, uint64_t *ret_user_ns, uint64_t *ret_system_ns);

/* Send sig to every process in the cgroup (v2/unified: cgroup.kill for
 * SIGKILL; otherwise freeze, signal each pid in cgroup.procs, thaw). */
int cg_kill(struct cg_manager *m, const char *name, int sig, vs_error *err);

/* SIGKILL every process (as cg_kill) and wait until the cgroup is empty, at
 * most timeout_ms (-ETIMEDOUT).  For stop and cleanup paths that go on to
 * cg_destroy(), which refuses a populated cgroup.  With a unified hierarchy
 * the wait is event driven (cgroup.events); on pure v1 it re-checks with a
 * short growing pause and re-kills processes that appeared meanwhile. */
int cg_kill_wait(struct cg_manager *m, const char *name, unsigned timeout_ms, vs_error *err);

/* Freeze or thaw every process (v1 freezer.state / v2 cgroup.freeze); waits
 * until the kernel reports the new state. */
int cg_freeze(struct cg_manager *m, const char *name, bool frozen, vs_error *err);

/* The file through which cg_freeze() freezes NAME (v1 freezer.state, else
 * cgroup2's cgroup.freeze), by its absolute path, for a process without
 * the manager (CRIU's action script).  -EOPNOTSUPP without a freezer. */
int cg_freezer_file(struct cg_manager *m, const char *name, char *buf, size_t len);

/* 1 if any process is in the cgroup, 0 if empty or absent, < 0 on error. */
int cg_populated(struct cg_manager *m, const char *name);

/* Call fn for every process of the instance, its own cgroups below it
 * included (one cgroup.procs read per cgroup); fn returning non-zero stops
 * the walk with that value.  0 when absent, -errno. */
int cg_for_each_process(struct cg_manager *m, const char *name, int (*fn)(pid_t pid, void *userdata),
                        void *userdata);

/* Remove the cgroup from every hierarchy; -EBUSY while populated; 0 if absent. */
int cg_destroy(struct cg_manager *m, const char *name, vs_error *err);

int cg_stats(struct cg_manager *m, const char *name, struct cg_stats *ret, vs_error *err);

/* Just the two counters that say a limit was hit, for event watching: OOM
 * kills (v1 memory.oom_control oom_kill / v2 memory.events oom_kill) and
 * forks refused at the pids limit (pids.events max).  Cheaper than
 * cg_stats(): two small reads.  A counter the kernel lacks reads 0. */
int cg_fail_counters(struct cg_manager *m, const char *name, uint64_t *ret_oom_kills, uint64_t *ret_pids_max);
/* Only the counters (usage, peaks, failure counts, CPU time, I/O): the
 * limits in effect (memory_max, memory_high, swap_max, cpu_millis,
 * cpu_weight, pids_max) are left 0.  For a caller that knows the limits it
 * set: each file is a syscall round trip, and a listing of every instance
 * reads them for all of them. */
int cg_counters(struct cg_manager *m, const char *name, struct cg_stats *ret, vs_error *err);

/* cg_counters() with the counter files of one instance kept open in *fds
 * (allocated on the first call): later calls read each with one pread(),
 * where cg_counters() pays open, read and close.  For a caller that reads
 * the same running instance again and again (the API's stats).  The fds
 * must be freed before the cgroup is removed: an open file keeps a removed
 * cgroup's memory pinned. */
struct cg_counter_fds;
int cg_counters_held(struct cg_manager *m, const char *name, struct cg_counter_fds **fds, struct cg_stats *ret,
                     vs_error *err);
void cg_counter_fds_free(struct cg_counter_fds *fds);

/* Names of instance cgroups present under <parent> (for reconciling after a
 * daemon restart).  *ret is a malloc'd NULL-terminated array of malloc'd
 * strings. */
int cg_list(struct cg_manager *m, char ***ret, vs_error *err);

/* 1 when the cgroup is frozen or freezing by the freezer cg_freeze() uses,
 * 0 when thawed or absent, < 0 on an error. */
int cg_frozen(struct cg_manager *m, const char *name);

/*
 * Work cgroups: <parent>/.work-<id>, where the daemon runs the helpers of
 * its long operations (template builders, copies) and everything they
 * start.  A daemon that died leaves them running there; the next one finds
 * them (cg_work_list) and kills them before it removes what they were
 * writing.  Their names cannot be an instance's (those never start with a
 * dot), so cg_list() does not return them.  An id is 1 to CG_WORK_ID_MAX
 * of a-z, 0-9 and '-' (a kind and an instance or template name).
 */
#define CG_WORK_PREFIX ".work-"
#define CG_WORK_ID_MAX 100
int cg_work_create(struct cg_manager *m, const char *id, vs_error *err);
/* Move the calling process into the work cgroup id (every hierarchy);
 * -errno.  Allocates nothing: fit for a forked child before it works. */
int cg_work_enter(struct cg_manager *m, const char *id);

/* Move the caller into instance name's cgroup (v2: its payload), as
 * cg_work_enter does into a work cgroup: for a helper whose processes
 * become the instance's (a checkpoint's restore).  Fit for a forked child. */
int cg_enter(struct cg_manager *m, const char *name);
/* SIGKILL everything in it, wait at most timeout_ms for it to empty, and
 * remove it; 0 when it is absent. */
int cg_work_remove(struct cg_manager *m, const char *id, unsigned timeout_ms, vs_error *err);
/* The ids of the work cgroups under <parent> (NULL-terminated, malloc'd). */
int cg_work_list(struct cg_manager *m, char ***ret, vs_error *err);

/* Resolve a block device node (e.g. "/dev/vda") to its major:minor for an
 * io_max entry.  -ENOTBLK with "... is not a block device" otherwise. */
int cg_io_device(const char *path, unsigned *ret_major, unsigned *ret_minor, vs_error *err);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What cgroup.c, cgroup-v1.c and cgroup-v2.c share: the manager, the layout
 * ops, and small file helpers that work on a hierarchy's <parent> directory
 * fd.  Not for use outside cgroups/ (tests may look inside).
 *
 * The manager is a list of hierarchies.  On v2 that is the one unified
 * directory; on v1 it is one entry per mounted controller hierarchy (a
 * co-mounted "cpu,cpuacct" is one entry carrying both controllers) plus the
 * unified hierarchy of a hybrid host, which carries no controller but tracks
 * processes (cgroup.events, cgroup.kill, cgroup.freeze).  What every layout
 * does the same way (mkdir, attach, rmdir, list, populated, kill) walks that
 * list in cgroup.c; only what differs (discovery, limit files, counters,
 * freezer) sits behind struct cg_ops.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgroups/cgroup.h"

enum cg_ctrl {
        CG_MEMORY,
        CG_CPU,
        CG_CPUACCT,
        CG_PIDS,
        CG_FREEZER,
        CG_CPUSET, /* v1 cpuset / v2 cpuset */
        CG_IO,     /* v1 blkio / v2 io */
        CG_CTRL_MAX,
};

#define CG_MASK(c) (1u << (c))

/* Upper bound of hierarchies: every controller apart, plus unified. */
#define CG_HIER_MAX (CG_CTRL_MAX + 1)

/* How long freeze/thaw and kill-and-wait may block the caller. */
#define CG_FREEZE_TIMEOUT_MS 2000

struct cg_hier {
        char *path;      /* <mount>/<parent>: messages and tests */
        int parent_fd;   /* O_DIRECTORY fd of <mount>/<parent> */
        unsigned mask;   /* CG_MASK() of the controllers usable through it */
        bool unified;    /* cgroup2: cgroup.events, cgroup.kill, cgroup.freeze */
};

struct cg_manager {
        const struct cg_ops *ops;
        char *root;                  /* cgroup_root as given */
        char *parent;                /* <parent>, relative, no leading '/' */
        struct cg_hier hier[CG_HIER_MAX];
        size_t n_hier;
        int ctrl[CG_CTRL_MAX];       /* controller -> index in hier[], -1 = absent */
        int unified;                 /* index of the cgroup2 hierarchy, -1 = none */
        bool memsw;                  /* v1: memory.memsw.* exist (swap accounting) */
        unsigned ncpus;              /* online CPUs, for cg_validate() */
        bool io_weight;              /* the host can weigh I/O (v1 blkio[.bfq].weight / v2 io.weight) */
        int instance_fs;             /* enum cg_instance_fs, found once at setup */
        /* The unified hierarchy's mount carries options a plain cgroup2 mount
         * in the initial cgroup namespace would reset (nsdelegate...). */
        bool root_flags;
        /* "<mount root>/<parent>" as /proc/PID/cgroup shows the unified
         * hierarchy's <parent> to us; NULL when not found (plain trees). */
        char *proc_parent;
};

struct cg_ops {
        const char *mode; /* "v1" / "v2" */
        /* Find the hierarchies below m->root, create <parent> in each with the
         * controllers enabled, fill m->hier/ctrl/unified. */
        int (*setup)(struct cg_manager *m, vs_error *err);
        /* Write every limit (0 = the kernel's "no limit") to <parent>/<name>. */
        int (*set_limits)(struct cg_manager *m, const char *name, const struct cg_limits *lim, vs_error *err);
        /* Freeze/thaw and wait until the kernel says it is done. */
        int (*freeze)(struct cg_manager *m, const char *name, bool frozen, vs_error *err);
        /* Fill the counters (and, unless counters_only, the limits in
         * effect); the cgroup is known to exist. */
        int (*stats)(struct cg_manager *m, const char *name, bool counters_only, struct cg_counter_fds *fds,
                     struct cg_stats *ret, vs_error *err);
        int (*open_dir)(struct cg_manager *m, const char *name);
        /* v2: the payload cgroup below <parent>/<name> where the instance's
         * processes run (CG_PAYLOAD), NULL on v1: every process in <name> */
        const char *inner;
        /* v2: make the payload below a new <parent>/<name> (controllers
         * handed down, a leftover's old tree removed); NULL on v1 */
        int (*create_inner)(struct cg_manager *m, const char *name, vs_error *err);
        /* OOM kills and pids-limit hits; -errno (no message: polled often) */
        int (*fail_counters)(struct cg_manager *m, const char *name, uint64_t *ret_oom, uint64_t *ret_pids);
};

extern const struct cg_ops cg_v1_ops;
extern const struct cg_ops cg_v2_ops;

/* The hierarchy carrying controller c, or NULL when the host lacks it. */
static inline struct cg_hier *cg_hier_of(struct cg_manager *m, enum cg_ctrl c) {
        return m->ctrl[c] >= 0 ? &m->hier[m->ctrl[c]] : NULL;
}

/* Add a hierarchy to m; takes ownership of path and fd.  Returns its index. */
int cg_hier_add(struct cg_manager *m, char *path, int parent_fd, unsigned mask, bool unified);

/* Open <dir>/<parent>, creating the missing components (mode 0755), as an
 * O_DIRECTORY fd.  Returns the fd or -errno; *ret_created tells whether the
 * last component was made now. */
int cg_open_parent(const char *dir, const char *parent, bool *ret_created);

/* rmdir <dfd>/<name> with its child cgroups, depth first; 0 if absent.
 * On a plain directory tree (tests) the files in it are removed too. */
int cg_rmdir_tree(int dfd, const char *name, unsigned depth);

/* Fill m->root_flags and m->proc_parent from /proc/self/mountinfo
 * (cgroups/inner.c). */
void cg_inner_setup(struct cg_manager *m);

/* Wait on the unified hierarchy: freeze through cgroup.freeze. */
int cg_unified_freeze(struct cg_manager *m, struct cg_hier *h, const char *name, bool frozen, vs_error *err);

/*
 * File helpers.  Paths are "<name>/<file>" relative to a hierarchy's
 * <parent> fd (name NULL: <file> in <parent> itself).  All return -errno.
 * Writes open with O_TRUNC, as shells and runc do: a no-op on cgroupfs, and it
 * keeps a plain-file test tree exact.
 */
int cg_file_write(int dfd, const char *name, const char *file, const char *val);
/* Read at most len-1 bytes, NUL-terminated, trailing newline dropped. */
int cg_file_read(int dfd, const char *name, const char *file, char *buf, size_t len);
/* Whole file into a malloc'd string (cgroup.procs can be long). */
int cg_file_read_all(int dfd, const char *name, const char *file, char **ret);
/* One number; "max" and negative values ("-1") read as UINT64_MAX. */
int cg_file_read_u64(int dfd, const char *name, const char *file, uint64_t *ret);
/* The value of "key value" in a keyed file (cpu.stat, memory.events, ...);
 * -ENODATA when the key is absent. */
int cg_file_read_key(int dfd, const char *name, const char *file, const char *key, uint64_t *ret);
/* Parse "key value" lines out of an already read buffer. */
int cg_parse_key(const char *text, const char *key, uint64_t *ret);
/* Wait until keyed file shows key == want, for at most timeout_ms.  Uses
 * poll(POLLPRI), which cgroupfs raises when cgroup.events changes, so there
 * is no sleeping in between.  -ETIMEDOUT on timeout. */
int cg_file_wait_key(int dfd, const char *name, const char *file, const char *key, uint64_t want,
                     unsigned timeout_ms);

/* cg_file_write() into <h>/<name>/<file> with the path in the message;
 * optional: a file the kernel may not have (ENOENT) is skipped. */
int cg_put(const struct cg_hier *h, const char *name, const char *file, const char *val, bool optional,
           vs_error *err);

/* One keyed counter of <h>/<name>/<file>; *ret untouched (0 for a zeroed
 * caller) when h is NULL, or the file or key is absent on this kernel. */
int cg_get_key(const struct cg_hier *h, const char *name, const char *file, const char *key, uint64_t *ret);

/* Check the limits added for hosting (cgroups/limits.c): memory_high,
 * swap_max, cpu_weight, cpuset, io_weight, io_max. */
int cg_validate_more(struct cg_manager *m, const struct cg_limits *lim, vs_error *err);

/* The default value written for a weight of 0. */
#define CG_WEIGHT_DEFAULT 100

/* Sum "MAJ:MIN key=value ..." (v2 io.stat) or "MAJ:MIN Key value" (v1
 * blkio) lines for key over all devices. */
uint64_t cg_sum_io(const char *text, const char *key);

/*
 * Counters as tables: one row per figure, naming the controller, the file
 * and (for keyed files) the key.  Consecutive rows of the same file are
 * served by one read, so a layout's table costs one open/read/close per
 * file whatever the number of figures taken from it.  offset is where the
 * uint64_t goes in the caller's struct (a struct cg_stats, or a layout's own
 * that embeds one for raw values needing conversion).
 */
enum cg_row_kind {
        CG_ROW_VALUE, /* the file is one number ("max" and "-1" read as UINT64_MAX) */
        CG_ROW_KEY,   /* "key value" lines (cpu.stat, memory.stat, memory.events) */
        CG_ROW_SUM,   /* per-device lines (io.stat, blkio.*_recursive): key summed over devices */
};

struct cg_stat_row {
        enum cg_ctrl ctrl;
        const char *file;
        enum cg_row_kind kind;
        const char *key;
        size_t offset;
        bool setting; /* a limit in effect rather than a counter: skipped by cg_counters() */
};

/* Held-open counter files, one per file of a layout's counter table, in
 * table order: -EBADF not opened yet, -ENOENT absent (no controller, no
 * such file on this kernel). */
#define CG_COUNTER_FILES_MAX 24
struct cg_counter_fds {
        int fd[CG_COUNTER_FILES_MAX];
};

/* Fill base from rows for instance name.  A controller the host lacks, a
 * file the kernel lacks or an absent key leave the field untouched (0);
 * any other failure is an error naming the file. */
int cg_read_rows(struct cg_manager *m, const char *name, const struct cg_stat_row *rows, size_t n,
                 bool counters_only, struct cg_counter_fds *fds, void *base, vs_error *err);

/* Monotonic milliseconds, for bounded waits. */
uint64_t cg_now_ms(void);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cgroup v1 (legacy and hybrid): one hierarchy per controller mount, limits
 * in the v1 file names, the v1 freezer.  On a hybrid host the unified mount
 * joins the list without controllers, to track and kill processes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libcgroup.h>
#include <limits.h>
#include <linux/magic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "cgroups/cgroup-internal.h"

#define V1_CPU_PERIOD_US 100000

static const char *const ctrl_name[CG_CTRL_MAX] = {
        [CG_MEMORY] = "memory", [CG_CPU] = "cpu", [CG_CPUACCT] = "cpuacct",
        [CG_PIDS] = "pids",     [CG_FREEZER] = "freezer", [CG_CPUSET] = "cpuset",
        [CG_IO] = "blkio",
};

/* blkio.weight's range and default (CFQ); BFQ's blkio.bfq.weight takes the
 * same numbers on current kernels. */
#define V1_BLKIO_WEIGHT_MIN 10
#define V1_BLKIO_WEIGHT_MAX 1000
#define V1_BLKIO_WEIGHT_DEFAULT 500

/* ---- discovery -------------------------------------------------------- */

static bool fs_is(const char *path, unsigned long magic) {
        struct statfs sfs;
        return statfs(path, &sfs) == 0 && (unsigned long) sfs.f_type == magic;
}

/* Does the comma list "cpu,cpuacct" name ctrl? */
static bool list_has(const char *list, const char *ctrl) {
        size_t n = strlen(ctrl);
        for (const char *p = list; *p;) {
                size_t k = strcspn(p, ",");
                if (k == n && strncmp(p, ctrl, n) == 0)
                        return true;
                p += k;
                if (*p == ',')
                        p++;
        }
        return false;
}

/* By name below root: <root>/<ctrl> (a directory or systemd's symlink to a
 * co-mount), else a directory named for a co-mount ("cpu,cpuacct"). */
static char *find_by_path(const char *root, const char *ctrl) {
        char p[PATH_MAX];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", root, ctrl);
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
                return strdup(p);

        DIR *d = opendir(root);
        if (!d)
                return NULL;
        char *found = NULL;
        struct dirent *de;
        while (!found && (de = readdir(d)))
                if (strchr(de->d_name, ',') && list_has(de->d_name, ctrl)) {
                        snprintf(p, sizeof(p), "%s/%s", root, de->d_name);
                        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
                                found = strdup(p);
                }
        closedir(d);
        return found;
}

/* On the real /sys/fs/cgroup libcgroup reads the mount table for us, which
 * also finds hierarchies mounted under unusual names.  Only a v1 mount right
 * below root counts: the same controller mounted elsewhere is not ours. */
static char *find_by_libcgroup(const char *root, const char *ctrl) {
        char *mp = NULL;
        if (cgroup_get_subsys_mount_point(ctrl, &mp) != 0 || !mp)
                return NULL;
        const char *slash = strrchr(mp, '/');
        size_t rl = strlen(root);
        if (!slash || (size_t) (slash - mp) != rl || strncmp(mp, root, rl) != 0 || !fs_is(mp, CGROUP_SUPER_MAGIC)) {
                free(mp);
                return NULL;
        }
        return mp;
}

static int setup_memory(struct cg_manager *m, struct cg_hier *h, vs_error *err) {
        uint64_t v;
        /* Old kernels default to flat accounting, and a cgroup inherits the
         * setting when created: with 0 here, cgroups an instance makes inside
         * its own would escape its limit.  Kernels since 5.x always say 1. */
        if (cg_file_read_u64(h->parent_fd, NULL, "memory.use_hierarchy", &v) == 0 && v == 0) {
                int r = cg_file_write(h->parent_fd, NULL, "memory.use_hierarchy", "1");
                if (r < 0)
                        return vs_err(err, -r, "write '1' to %s/memory.use_hierarchy", h->path);
        }
        m->memsw = faccessat(h->parent_fd, "memory.memsw.limit_in_bytes", F_OK, 0) == 0;
        return 0;
}

/* The v1 cpuset controller refuses tasks in a cgroup whose cpuset.cpus or
 * cpuset.mems is empty, and a new cgroup starts empty (unless
 * cgroup.clone_children is set, which is not ours to set).  Fill each level
 * of <parent> that is still empty from the level above, top down. */
static int setup_cpuset(const char *mount, const char *parent, vs_error *err) {
        _cleanup_close_ int fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return vs_err(err, errno, "open %s", mount);
        char comp[256];
        for (const char *p = parent; *p;) {
                size_t n = strcspn(p, "/");
                if (n >= sizeof(comp))
                        return vs_err_msg(err, ENAMETOOLONG, "cgroup parent %s", parent);
                memcpy(comp, p, n);
                comp[n] = '\0';
                p += n;
                if (*p == '/')
                        p++;
                static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
                for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                        char cur[1024] = "", up[1024] = "";
                        int r = cg_file_read(fd, comp, files[i], cur, sizeof(cur));
                        if (r == -ENOENT)
                                continue; /* a test tree without it */
                        if (r < 0)
                                return vs_err(err, -r, "read %s/%s/%s", mount, comp, files[i]);
                        if (cur[0])
                                continue;
                        r = cg_file_read(fd, NULL, files[i], up, sizeof(up));
                        if (r >= 0 && up[0])
                                r = cg_file_write(fd, comp, files[i], up);
                        if (r < 0)
                                return vs_err(err, -r, "copy %s of %s into %s/%s", files[i], mount, comp, parent);
                }
                int sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                        return vs_err(err, errno, "open %s/%s", mount, parent);
                close(fd);
                fd = sub;
        }
        return 0;
}

static int v1_setup(struct cg_manager *m, vs_error *err) {
        struct {
                char *mount;
                dev_t dev;
                ino_t ino;
                unsigned mask;
        } found[CG_CTRL_MAX] = { 0 };
        size_t n_found = 0;
        int r;

        _cleanup_free_ char *real = realpath(m->root, NULL);
        bool use_lib = real && streq(real, "/sys/fs/cgroup") && cgroup_init() == 0;

        for (int c = 0; c < CG_CTRL_MAX; c++) {
                char *mnt = use_lib ? find_by_libcgroup(real, ctrl_name[c]) : find_by_path(m->root, ctrl_name[c]);
                struct stat st;
                if (!mnt)
                        continue;
                if (stat(mnt, &st) < 0) {
                        free(mnt);
                        continue;
                }
                /* co-mounted controllers share one directory: one hierarchy */
                size_t i;
                for (i = 0; i < n_found; i++)
                        if (found[i].dev == st.st_dev && found[i].ino == st.st_ino)
                                break;
                if (i < n_found) {
                        found[i].mask |= CG_MASK(c);
                        free(mnt);
                        continue;
                }
                found[n_found++] = (__typeof__(found[0])) { .mount = mnt, .dev = st.st_dev, .ino = st.st_ino, .mask = CG_MASK(c) };
        }
        if (n_found == 0)
                return vs_err_msg(err, ENOENT, "no cgroup v1 hierarchy of memory, cpu, cpuacct, pids or freezer found");

        r = 0;
        for (size_t i = 0; i < n_found; i++) {
                if (r == 0 && (found[i].mask & CG_MASK(CG_CPUSET))) {
                        int fd = cg_open_parent(found[i].mount, m->parent, NULL);
                        if (fd < 0)
                                r = vs_err(err, -fd, "create %s/%s", found[i].mount, m->parent);
                        else {
                                close(fd);
                                r = setup_cpuset(found[i].mount, m->parent, err);
                        }
                }
                if (r == 0) {
                        char *path = NULL;
                        int fd = cg_open_parent(found[i].mount, m->parent, NULL);
                        if (fd < 0)
                                r = vs_err(err, -fd, "create %s/%s", found[i].mount, m->parent);
                        else if (asprintf(&path, "%s/%s", found[i].mount, m->parent) < 0) {
                                close(fd);
                                r = vs_err(err, ENOMEM, "allocate");
                        } else {
                                int idx = cg_hier_add(m, path, fd, found[i].mask, false);
                                if (idx < 0)
                                        r = vs_err(err, -idx, "add hierarchy %s", found[i].mount);
                                else if (found[i].mask & CG_MASK(CG_MEMORY))
                                        r = setup_memory(m, &m->hier[idx], err);
                                if (r >= 0 && (found[i].mask & CG_MASK(CG_IO)))
                                        m->io_weight = faccessat(fd, "blkio.weight", F_OK, 0) == 0 ||
                                                       faccessat(fd, "blkio.bfq.weight", F_OK, 0) == 0;
                        }
                }
                free(found[i].mount);
        }
        if (r < 0)
                return r;

        /* hybrid: the unified mount tracks processes (cgroup.events,
         * cgroup.kill) even though it carries no controller here */
        char uni[PATH_MAX];
        snprintf(uni, sizeof(uni), "%s/unified/cgroup.controllers", m->root);
        if (access(uni, F_OK) == 0) {
                snprintf(uni, sizeof(uni), "%s/unified", m->root);
                if (use_lib && !fs_is(uni, CGROUP2_SUPER_MAGIC))
                        return 0;
                int fd = cg_open_parent(uni, m->parent, NULL);
                if (fd < 0)
                        return vs_err(err, -fd, "create %s/%s", uni, m->parent);
                char *path = NULL;
                if (asprintf(&path, "%s/%s", uni, m->parent) < 0) {
                        close(fd);
                        return vs_err(err, ENOMEM, "allocate");
                }
                r = cg_hier_add(m, path, fd, 0, true);
                if (r < 0)
                        return vs_err(err, -r, "add hierarchy %s", uni);
        }
        return 0;
}

/* ---- limits ----------------------------------------------------------- */

static int set_memory(struct cg_manager *m, const char *name, const struct cg_limits *lim, vs_error *err) {
        struct cg_hier *h = cg_hier_of(m, CG_MEMORY);
        uint64_t bytes = lim->memory_max;
        char val[32], swval[32], soft[32];
        int r;

        if (!h)
                return 0; /* cg_validate() refused a limit already */
        if (lim->memory_high)
                snprintf(soft, sizeof(soft), "%" PRIu64, lim->memory_high);
        else
                snprintf(soft, sizeof(soft), "-1");
        r = cg_put(h, name, "memory.soft_limit_in_bytes", soft, lim->memory_high == 0, err);
        if (r < 0)
                return r;
        if (bytes)
                snprintf(val, sizeof(val), "%" PRIu64, bytes);
        else
                snprintf(val, sizeof(val), "-1");
        if (!m->memsw)
                return cg_put(h, name, "memory.limit_in_bytes", val, false, err);

        /* memory+swap = memory + swap_max: without swap_max the same value,
         * so swap cannot stretch the limit.  The kernel insists on memsw >=
         * mem at every moment: if the new memory limit is above the current
         * memsw, memsw goes first (it is >= the new memory limit, so >= the
         * old one too); otherwise memory goes first. */
        uint64_t cur = UINT64_MAX, want = bytes ? bytes : UINT64_MAX;
        if (bytes && lim->swap_max)
                snprintf(swval, sizeof(swval), "%" PRIu64, bytes + lim->swap_max);
        else
                snprintf(swval, sizeof(swval), "%s", val);
        (void) cg_file_read_u64(h->parent_fd, name, "memory.memsw.limit_in_bytes", &cur);
        if (want > cur) {
                r = cg_put(h, name, "memory.memsw.limit_in_bytes", swval, false, err);
                if (r < 0)
                        return r;
                return cg_put(h, name, "memory.limit_in_bytes", val, false, err);
        }
        r = cg_put(h, name, "memory.limit_in_bytes", val, false, err);
        if (r < 0)
                return r;
        return cg_put(h, name, "memory.memsw.limit_in_bytes", swval, false, err);
}

static int set_cpu(struct cg_manager *m, const char *name, uint32_t millis, uint32_t weight, vs_error *err) {
        struct cg_hier *h = cg_hier_of(m, CG_CPU);
        char val[32];
        int r;

        if (!h)
                return 0;
        /* weight 100 (v2's default) = 1024 shares (v1's default); the
         * kernel's minimum is 2 */
        uint64_t shares = (uint64_t) (weight ? weight : CG_WEIGHT_DEFAULT) * 1024 / 100;
        snprintf(val, sizeof(val), "%" PRIu64, shares < 2 ? 2 : shares);
        r = cg_put(h, name, "cpu.shares", val, weight == 0, err);
        if (r < 0)
                return r;
        /* the period first: the quota is checked against it */
        r = cg_put(h, name, "cpu.cfs_period_us", "100000", false, err);
        if (r < 0)
                return r;
        if (millis)
                snprintf(val, sizeof(val), "%" PRIu64, (uint64_t) millis * V1_CPU_PERIOD_US / 1000);
        else
                snprintf(val, sizeof(val), "-1");
        return cg_put(h, name, "cpu.cfs_quota_us", val, false, err);
}

static int set_pids(struct cg_manager *m, const char *name, uint64_t max, vs_error *err) {
        struct cg_hier *h = cg_hier_of(m, CG_PIDS);
        char val[32];

        if (!h)
                return 0;
        if (max)
                snprintf(val, sizeof(val), "%" PRIu64, max);
        else
                snprintf(val, sizeof(val), "max");
        return cg_put(h, name, "pids.max", val, false, err);
}

/* Always written, also without a cpuset limit: a v1 cpuset cgroup takes no
 * task until cpuset.cpus and cpuset.mems are filled.  Both come from
 * <parent> unless the limit names CPUs. */
static int set_cpuset(struct cg_manager *m, const char *name, const char *cpus, vs_error *err) {
        struct cg_hier *h = cg_hier_of(m, CG_CPUSET);
        char up[1024];
        int r;

        if (!h)
                return 0;
        static const char *const files[] = { "cpuset.mems", "cpuset.cpus" };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                const char *val = i == 1 && cpus[0] ? cpus : NULL;
                if (!val) {
                        r = cg_file_read(h->parent_fd, NULL, files[i], up, sizeof(up));
                        if (r == -ENOENT && !cpus[0])
                                continue; /* a test tree without it */
                        if (r < 0)
                                return vs_err(err, -r, "read %s/%s", h->path, files[i]);
                        val = up;
                }
                r = cg_put(h, name, files[i], val, false, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Set the device lines of one blkio.throttle.* file: every wanted device
 * with its value (0 = no limit), then 0 for a device the file lists that is
 * no longer wanted, which removes its rule. */
static int set_throttle(struct cg_hier *h, const char *name, const char *file, const struct cg_limits *lim,
                        size_t off, vs_error *err) {
        _cleanup_free_ char *cur = NULL;
        char val[64];
        int r;

        for (unsigned i = 0; i < lim->n_io_max; i++) {
                uint64_t v = *(const uint64_t *) ((const char *) &lim->io_max[i] + off);
                snprintf(val, sizeof(val), "%u:%u %" PRIu64, lim->io_max[i].major, lim->io_max[i].minor, v);
                r = cg_put(h, name, file, val, false, err);
                if (r < 0)
                        return r;
        }
        r = cg_file_read_all(h->parent_fd, name, file, &cur);
        if (r == -ENOENT && lim->n_io_max == 0)
                return 0;
        if (r < 0)
                return vs_err(err, -r, "read %s/%s/%s", h->path, name, file);
        for (char *line = cur; line && *line;) {
                char *eol = strchr(line, '\n');
                unsigned maj, min;
                uint64_t v;
                if (sscanf(line, "%u:%u %" SCNu64, &maj, &min, &v) == 3 && v != 0) {
                        bool wanted = false;
                        for (unsigned i = 0; i < lim->n_io_max && !wanted; i++)
                                wanted = lim->io_max[i].major == maj && lim->io_max[i].minor == min;
                        if (!wanted) {
                                snprintf(val, sizeof(val), "%u:%u 0", maj, min);
                                r = cg_put(h, name, file, val, false, err);
                                if (r < 0)
                                        return r;
                        }
                }
                line = eol ? eol + 1 : NULL;
        }
        return 0;
}

static int set_io(struct cg_manager *m, const char *name, const struct cg_limits *lim, vs_error *err) {
        struct cg_hier *h = cg_hier_of(m, CG_IO);
        int r;

        if (!h)
                return 0;
        if (m->io_weight) {
                /* v2's 1..10000 around 100 onto blkio's 10..1000 around 500,
                 * as systemd maps IOWeight= */
                uint64_t w = (uint64_t) (lim->io_weight ? lim->io_weight : CG_WEIGHT_DEFAULT) * V1_BLKIO_WEIGHT_DEFAULT /
                             CG_WEIGHT_DEFAULT;
                if (w < V1_BLKIO_WEIGHT_MIN)
                        w = V1_BLKIO_WEIGHT_MIN;
                if (w > V1_BLKIO_WEIGHT_MAX)
                        w = V1_BLKIO_WEIGHT_MAX;
                char val[32];
                snprintf(val, sizeof(val), "%" PRIu64, w);
                r = cg_file_write(h->parent_fd, name, "blkio.weight", val);
                if (r == -ENOENT)
                        r = cg_put(h, name, "blkio.bfq.weight", val, false, err);
                else if (r < 0)
                        r = vs_err(err, -r, "write '%s' to %s/%s/blkio.weight", val, h->path, name);
                if (r < 0)
                        return r;
        }
        static const struct {
                const char *file;
                size_t off;
        } files[] = {
                { "blkio.throttle.read_bps_device", offsetof(struct cg_io_throttle, rbps) },
                { "blkio.throttle.write_bps_device", offsetof(struct cg_io_throttle, wbps) },
                { "blkio.throttle.read_iops_device", offsetof(struct cg_io_throttle, riops) },
                { "blkio.throttle.write_iops_device", offsetof(struct cg_io_throttle, wiops) },
        };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                r = set_throttle(h, name, files[i].file, lim, files[i].off, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int v1_set_limits(struct cg_manager *m, const char *name, const struct cg_limits *lim, vs_error *err) {
        int r = set_memory(m, name, lim, err);
        if (r < 0)
                return r;
        r = set_cpu(m, name, lim->cpu_millis, lim->cpu_weight, err);
        if (r < 0)
                return r;
        r = set_pids(m, name, lim->pids_max, err);
        if (r < 0)
                return r;
        r = set_cpuset(m, name, lim->cpuset, err);
        if (r < 0)
                return r;
        return set_io(m, name, lim, err);
}

/* ---- freezer ---------------------------------------------------------- */

static int v1_freeze(struct cg_manager *m, const char *name, bool frozen, vs_error *err) {
        struct cg_hier *h = cg_hier_of(m, CG_FREEZER);
        const char *want = frozen ? "FROZEN" : "THAWED";
        char state[32] = "";
        int r;

        if (!h) {
                /* hybrid without the v1 freezer: cgroup2's own freezer */
                if (m->unified >= 0)
                        return cg_unified_freeze(m, &m->hier[m->unified], name, frozen, err);
                return vs_err_msg(err, EOPNOTSUPP, "freezing needs the freezer controller, which this host lacks");
        }
        r = cg_put(h, name, "freezer.state", want, false, err);
        if (r < 0)
                return r;

        /* FREEZING until every task has stopped.  v1 gives no notification
         * for it; each read re-checks the tasks, so poll with a short growing
         * pause, bounded. */
        uint64_t deadline = cg_now_ms() + CG_FREEZE_TIMEOUT_MS;
        long pause_us = 20;
        for (;;) {
                r = cg_file_read(h->parent_fd, name, "freezer.state", state, sizeof(state));
                if (r < 0)
                        return vs_err(err, -r, "read %s/%s/freezer.state", h->path, name);
                if (streq(state, want))
                        return 0;
                if (cg_now_ms() >= deadline)
                        break;
                struct timespec ts = { .tv_nsec = pause_us * 1000 };
                nanosleep(&ts, NULL);
                if (pause_us < 10000)
                        pause_us *= 2;
        }
        /* do not leave an instance half frozen behind an error */
        if (frozen)
                (void) cg_file_write(h->parent_fd, name, "freezer.state", "THAWED");
        return vs_err_msg(err, ETIMEDOUT, "%s %s/%s did not complete within %d ms (state %s)%s",
                          frozen ? "freezing" : "thawing", h->path, name, CG_FREEZE_TIMEOUT_MS, state,
                          frozen ? "; thawed it again" : "");
}

/* ---- counters --------------------------------------------------------- */

/* Raw values that need converting, next to the counters taken as they are. */
struct v1_counters {
        struct cg_stats s;
        uint64_t quota, period, shares, soft, memsw_limit, memsw_failcnt;
};

#define S(f) offsetof(struct v1_counters, s.f)
#define X(f) offsetof(struct v1_counters, f)

/* Where each figure comes from (doc/cgroups.md has the same table). */
static const struct cg_stat_row v1_rows[] = {
        { CG_MEMORY, "memory.usage_in_bytes", CG_ROW_VALUE, NULL, S(memory_current), false },
        { CG_MEMORY, "memory.max_usage_in_bytes", CG_ROW_VALUE, NULL, S(memory_peak), false },
        { CG_MEMORY, "memory.limit_in_bytes", CG_ROW_VALUE, NULL, S(memory_max), true },
        { CG_MEMORY, "memory.soft_limit_in_bytes", CG_ROW_VALUE, NULL, X(soft), true },
        { CG_MEMORY, "memory.failcnt", CG_ROW_VALUE, NULL, S(memory_failcnt), false },
        { CG_MEMORY, "memory.memsw.failcnt", CG_ROW_VALUE, NULL, X(memsw_failcnt), false },
        { CG_MEMORY, "memory.memsw.limit_in_bytes", CG_ROW_VALUE, NULL, X(memsw_limit), true },
        { CG_MEMORY, "memory.oom_control", CG_ROW_KEY, "oom_kill", S(oom_kills), false },
        /* total_*: the instance's own cgroups included */
        { CG_MEMORY, "memory.stat", CG_ROW_KEY, "total_rss", S(memory_rss), false },
        { CG_MEMORY, "memory.stat", CG_ROW_KEY, "total_cache", S(memory_cache), false },
        { CG_MEMORY, "memory.stat", CG_ROW_KEY, "total_shmem", S(memory_shmem), false },
        { CG_MEMORY, "memory.stat", CG_ROW_KEY, "total_swap", S(swap_current), false },
        { CG_CPUACCT, "cpuacct.usage", CG_ROW_VALUE, NULL, S(cpu_usage_ns), false },
        { CG_CPU, "cpu.stat", CG_ROW_KEY, "nr_periods", S(cpu_nr_periods), false },
        { CG_CPU, "cpu.stat", CG_ROW_KEY, "nr_throttled", S(cpu_nr_throttled), false },
        { CG_CPU, "cpu.stat", CG_ROW_KEY, "throttled_time", S(cpu_throttled_ns), false },
        { CG_CPU, "cpu.cfs_quota_us", CG_ROW_VALUE, NULL, X(quota), true },
        { CG_CPU, "cpu.cfs_period_us", CG_ROW_VALUE, NULL, X(period), true },
        { CG_CPU, "cpu.shares", CG_ROW_VALUE, NULL, X(shares), true },
        { CG_PIDS, "pids.current", CG_ROW_VALUE, NULL, S(pids_current), false },
        { CG_PIDS, "pids.max", CG_ROW_VALUE, NULL, S(pids_max), true },
        { CG_PIDS, "pids.events", CG_ROW_KEY, "max", S(pids_failcnt), false },
        /* the throttle layer counts every bio, whatever the scheduler */
        { CG_IO, "blkio.throttle.io_service_bytes_recursive", CG_ROW_SUM, "Read", S(io_rbytes), false },
        { CG_IO, "blkio.throttle.io_service_bytes_recursive", CG_ROW_SUM, "Write", S(io_wbytes), false },
        { CG_IO, "blkio.throttle.io_serviced_recursive", CG_ROW_SUM, "Read", S(io_rios), false },
        { CG_IO, "blkio.throttle.io_serviced_recursive", CG_ROW_SUM, "Write", S(io_wios), false },
};

#undef S
#undef X

/* v1 reports "no limit" as the largest page-aligned value: 0 for us */
static uint64_t v1_limit(uint64_t v) {
        return v >= (1ULL << 62) ? 0 : v;
}

static int v1_stats(struct cg_manager *m, const char *name, bool counters_only, struct cg_counter_fds *fds,
                    struct cg_stats *ret, vs_error *err) {
        struct v1_counters c = { .quota = UINT64_MAX };
        int r = cg_read_rows(m, name, v1_rows, ELEMENTSOF(v1_rows), counters_only, fds, &c, err);
        if (r < 0)
                return r;
        struct cg_stats *s = &c.s;
        if (!counters_only)
                s->cpu_weight = c.shares ? (uint32_t) ((c.shares * 100 + 512) / 1024) : CG_WEIGHT_DEFAULT;
        /* with memsw = mem the memory+swap counter is the one that trips
         * first (there is no swap to fall back to): report whichever moved */
        if (c.memsw_failcnt > s->memory_failcnt)
                s->memory_failcnt = c.memsw_failcnt;
        /* Current kernels leave memory.failcnt at 0 (measured on 6.18: 0
         * after a limit-sized OOM), while every OOM kill is the limit hit
         * at least once: never report fewer hits than kills. */
        if (s->oom_kills > s->memory_failcnt)
                s->memory_failcnt = s->oom_kills;
        s->memory_max = v1_limit(s->memory_max);
        s->memory_high = v1_limit(c.soft);
        /* memsw = memory + swap: what it grants beyond the memory limit */
        c.memsw_limit = v1_limit(c.memsw_limit);
        if (s->memory_max && c.memsw_limit > s->memory_max)
                s->swap_max = c.memsw_limit - s->memory_max;
        if (s->pids_max == UINT64_MAX)
                s->pids_max = 0;
        if (c.quota != UINT64_MAX && c.period > 0)
                s->cpu_millis = (uint32_t) (c.quota * 1000 / c.period);
        *ret = *s;
        return 0;
}

static int v1_open_dir(struct cg_manager *m, const char *name) {
        /* CLONE_INTO_CGROUP places a task in one hierarchy only */
        return -EOPNOTSUPP;
}

static int v1_fail_counters(struct cg_manager *m, const char *name, uint64_t *ret_oom, uint64_t *ret_pids) {
        struct cg_hier *mem = cg_hier_of(m, CG_MEMORY), *pids = cg_hier_of(m, CG_PIDS);
        int r;
        if ((r = cg_get_key(mem, name, "memory.oom_control", "oom_kill", ret_oom)) < 0 ||
            (r = cg_get_key(pids, name, "pids.events", "max", ret_pids)) < 0)
                return r;
        return 0;
}

const struct cg_ops cg_v1_ops = {
        .mode = "v1",
        .setup = v1_setup,
        .set_limits = v1_set_limits,
        .freeze = v1_freeze,
        .stats = v1_stats,
        .open_dir = v1_open_dir,
        .fail_counters = v1_fail_counters,
};

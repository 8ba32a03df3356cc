/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cgroup v2 (unified): one hierarchy, controllers handed down through
 * cgroup.subtree_control, limits in the v2 file names, cgroup.freeze.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "cgroups/cgroup-internal.h"

#define V2_CPU_PERIOD_US 100000

/* What vsd enables for instances.  cpuacct's counters and the freezer are
 * part of every v2 cgroup (cpu.stat, cgroup.freeze), no controller needed. */
static const char *const ctrl_name[CG_CTRL_MAX] = {
        [CG_MEMORY] = "memory",
        [CG_CPU] = "cpu",
        [CG_PIDS] = "pids",
        [CG_CPUSET] = "cpuset",
        [CG_IO] = "io",
};

static unsigned parse_controllers(const char *list) {
        unsigned mask = 0;
        for (const char *p = list; *p;) {
                p += strspn(p, " \n");
                size_t n = strcspn(p, " \n");
                for (int c = 0; c < CG_CTRL_MAX; c++)
                        if (ctrl_name[c] && strlen(ctrl_name[c]) == n && strncmp(p, ctrl_name[c], n) == 0)
                                mask |= CG_MASK(c);
                p += n;
        }
        return mask;
}

static int read_controllers(int dfd, const char *name, const char *file, unsigned *ret) {
        char buf[512];
        int r = cg_file_read(dfd, name, file, buf, sizeof(buf));
        if (r < 0)
                return r;
        *ret = parse_controllers(buf);
        return 0;
}

/* Write "+memory +cpu ..." for the controllers in mask into
 * <dfd>/cgroup.subtree_control; returns what got enabled. */
static unsigned enable(int dfd, unsigned mask) {
        char buf[128] = "";
        size_t len = 0;
        for (int c = 0; c < CG_CTRL_MAX; c++)
                if (mask & CG_MASK(c))
                        len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%s+%s", len ? " " : "", ctrl_name[c]);
        if (len == 0)
                return 0;
        return cg_file_write(dfd, NULL, "cgroup.subtree_control", buf) == 0 ? mask : 0;
}

/*
 * Make <root>/<parent> exist and hand memory, cpu and pids to its children.
 * Walking down from the root, a level's subtree_control is written only when
 * the next level lacks a controller the root offers: on a systemd host the
 * root already delegates them and nothing above <parent> is touched.  A
 * controller that cannot be enabled (another level refuses) is left out;
 * cg_validate() then names it when a limit needs it.
 */
static int v2_setup(struct cg_manager *m, vs_error *err) {
        unsigned want = CG_MASK(CG_MEMORY) | CG_MASK(CG_CPU) | CG_MASK(CG_PIDS) | CG_MASK(CG_CPUSET) | CG_MASK(CG_IO),
                 avail;
        int r;

        _cleanup_close_ int fd = open(m->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return vs_err(err, errno, "open %s", m->root);
        r = read_controllers(fd, NULL, "cgroup.controllers", &avail);
        if (r < 0)
                return vs_err(err, -r, "read %s/cgroup.controllers", m->root);
        avail &= want;

        char comp[256];
        for (const char *p = m->parent; *p;) {
                size_t n = strcspn(p, "/");
                if (n >= sizeof(comp))
                        return vs_err_msg(err, ENAMETOOLONG, "cgroup parent %s", m->parent);
                memcpy(comp, p, n);
                comp[n] = '\0';
                p += n;
                if (*p == '/')
                        p++;
                if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST)
                        return vs_err(err, errno, "create cgroup %s/%s", m->root, m->parent);
                unsigned have = 0;
                (void) read_controllers(fd, comp, "cgroup.controllers", &have);
                if (avail & ~have)
                        avail = (avail & have) | enable(fd, avail & ~have);
                int sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                        return vs_err(err, errno, "open cgroup %s/%s", m->root, m->parent);
                close(fd);
                fd = sub;
        }
        unsigned sub_on = 0;
        (void) read_controllers(fd, NULL, "cgroup.subtree_control", &sub_on);
        if (avail & ~sub_on)
                avail = (avail & sub_on) | enable(fd, avail & ~sub_on);

        char *path = NULL;
        if (asprintf(&path, "%s/%s", m->root, m->parent) < 0)
                return vs_err(err, ENOMEM, "allocate");
        /* io.weight exists only with a weight-capable scheduler (BFQ) or
         * io.cost; io.max works without */
        m->io_weight = (avail & CG_MASK(CG_IO)) && faccessat(fd, "io.weight", F_OK, 0) == 0;
        r = cg_hier_add(m, path, TAKE_FD(fd), avail | CG_MASK(CG_CPUACCT) | CG_MASK(CG_FREEZER), true);
        if (r < 0)
                return vs_err(err, -r, "add hierarchy %s", m->root);
        return 0;
}

static void io_val(char *buf, size_t len, uint64_t v) {
        if (v)
                snprintf(buf, len, "%" PRIu64, v);
        else
                snprintf(buf, len, "max");
}

/* io.max takes one device per write; a device the file lists that is no
 * longer wanted gets "max" everywhere, which removes its line. */
static int set_io(struct cg_hier *h, const char *name, const struct cg_limits *lim, bool weight, vs_error *err) {
        _cleanup_free_ char *cur = NULL;
        char val[160], a[24], b[24], c[24], d[24];
        int r;

        if (weight) {
                snprintf(val, sizeof(val), "default %u", lim->io_weight ? lim->io_weight : CG_WEIGHT_DEFAULT);
                r = cg_put(h, name, "io.weight", val, lim->io_weight == 0, err);
                if (r < 0)
                        return r;
        }
        for (unsigned i = 0; i < lim->n_io_max; i++) {
                const struct cg_io_throttle *t = &lim->io_max[i];
                io_val(a, sizeof(a), t->rbps);
                io_val(b, sizeof(b), t->wbps);
                io_val(c, sizeof(c), t->riops);
                io_val(d, sizeof(d), t->wiops);
                snprintf(val, sizeof(val), "%u:%u rbps=%s wbps=%s riops=%s wiops=%s", t->major, t->minor, a, b, c, d);
                r = cg_put(h, name, "io.max", val, false, err);
                if (r < 0)
                        return r;
        }
        r = cg_file_read_all(h->parent_fd, name, "io.max", &cur);
        if (r == -ENOENT && lim->n_io_max == 0)
                return 0;
        if (r < 0)
                return vs_err(err, -r, "read %s/%s/io.max", h->path, name);
        for (char *line = cur; line && *line;) {
                char *eol = strchr(line, '\n');
                unsigned maj, min;
                if (sscanf(line, "%u:%u ", &maj, &min) == 2) {
                        bool wanted = false;
                        for (unsigned i = 0; i < lim->n_io_max && !wanted; i++)
                                wanted = lim->io_max[i].major == maj && lim->io_max[i].minor == min;
                        if (!wanted) {
                                snprintf(val, sizeof(val), "%u:%u rbps=max wbps=max riops=max wiops=max", maj, min);
                                r = cg_put(h, name, "io.max", val, false, err);
                                if (r < 0)
                                        return r;
                        }
                }
                line = eol ? eol + 1 : NULL;
        }
        return 0;
}

/*
 * v2 takes any memory.max and then reclaims down to it, OOM-killing inside
 * the cgroup (an instance's init too) when reclaim falls short.  v1
 * refuses such a limit (EBUSY), and so does this: a limit below what the
 * cgroup holds is first written to memory.high, whose write reclaims down
 * to it before it returns and never kills, and which holds the usage there
 * while we look; when the usage is still above, memory.high gets its old
 * value back and the limit is refused with EBUSY (vsd's message says what
 * to do).  What is allocated between the check and the write of
 * memory.max meets the new limit as any later allocation would.
 */
static int v2_lower_memory(const struct cg_hier *h, const char *name, uint64_t max, vs_error *err) {
        uint64_t cur;
        char old_high[32], val[32];
        if (cg_file_read_u64(h->parent_fd, name, "memory.current", &cur) < 0 || cur <= max ||
            cg_file_read(h->parent_fd, name, "memory.high", old_high, sizeof(old_high)) < 0)
                return 0;
        snprintf(val, sizeof(val), "%" PRIu64, max);
        int r = cg_put(h, name, "memory.high", val, false, err);
        if (r < 0)
                return r;
        r = cg_file_read_u64(h->parent_fd, name, "memory.current", &cur);
        if (r >= 0 && cur <= max)
                return 0; /* the caller writes the plan's memory.high next */
        (void) cg_file_write(h->parent_fd, name, "memory.high", old_high);
        if (r < 0)
                return vs_err(err, -r, "read %s/%s/memory.current", h->path, name);
        return vs_err_msg(err, EBUSY, "lower %s/%s/memory.max to %" PRIu64 ": %" PRIu64 " bytes in use that reclaim could not free",
                          h->path, name, max, cur);
}

/* An empty cpuset.cpus stands for the parent's effective CPUs and follows
 * them.  Kernels that refuse to empty it while the cgroup has processes
 * (ENOSPC: 6.1) get the parent's effective CPUs as they are now; the
 * instance's next start, into a new cgroup, has it empty again. */
static int v2_set_cpuset(const struct cg_hier *h, const char *name, const char *cpus, vs_error *err) {
        if (cpus[0])
                return cg_put(h, name, "cpuset.cpus", cpus, false, err);
        int r = cg_file_write(h->parent_fd, name, "cpuset.cpus", "\n");
        if (r == -ENOSPC) {
                char all[512];
                r = cg_file_read(h->parent_fd, NULL, "cpuset.cpus.effective", all, sizeof(all));
                if (r < 0)
                        return vs_err(err, -r, "read %s/cpuset.cpus.effective", h->path);
                return cg_put(h, name, "cpuset.cpus", all, false, err);
        }
        if (r < 0 && r != -ENOENT)
                return vs_err(err, -r, "empty %s/%s/cpuset.cpus", h->path, name);
        return 0;
}

static int v2_set_limits(struct cg_manager *m, const char *name, const struct cg_limits *lim, vs_error *err) {
        struct cg_hier *h = &m->hier[0];
        char val[48];
        int r;

        if (h->mask & CG_MASK(CG_MEMORY)) {
                if (lim->memory_max) {
                        r = v2_lower_memory(h, name, lim->memory_max, err);
                        if (r < 0)
                                return r;
                        snprintf(val, sizeof(val), "%" PRIu64, lim->memory_max);
                } else
                        snprintf(val, sizeof(val), "max");
                r = cg_put(h, name, "memory.max", val, false, err);
                if (r < 0)
                        return r;
                /* Like v1's memsw = mem: swap must not stretch the limit.  v2
                 * counts swap apart, so a limited instance gets none; absent
                 * when the kernel does no swap accounting. */
                if (lim->memory_max)
                        snprintf(val, sizeof(val), "%" PRIu64, lim->swap_max);
                else
                        snprintf(val, sizeof(val), "max");
                r = cg_put(h, name, "memory.swap.max", val, lim->swap_max == 0, err);
                if (r < 0)
                        return r;
                if (lim->memory_high)
                        snprintf(val, sizeof(val), "%" PRIu64, lim->memory_high);
                else
                        snprintf(val, sizeof(val), "max");
                r = cg_put(h, name, "memory.high", val, lim->memory_high == 0, err);
                if (r < 0)
                        return r;
                /* 0: the OOM killer takes the biggest process inside the
                 * instance, not the whole instance (its init would go too) */
                r = cg_put(h, name, "memory.oom.group", "0", true, err);
                if (r < 0)
                        return r;
        }
        if (h->mask & CG_MASK(CG_CPU)) {
                if (lim->cpu_millis)
                        snprintf(val, sizeof(val), "%" PRIu64 " %d",
                                 (uint64_t) lim->cpu_millis * V2_CPU_PERIOD_US / 1000, V2_CPU_PERIOD_US);
                else
                        snprintf(val, sizeof(val), "max %d", V2_CPU_PERIOD_US);
                r = cg_put(h, name, "cpu.max", val, false, err);
                if (r < 0)
                        return r;
                /* The same quota on the payload, for the customer's view
                 * only: lxcfs takes the CPUs it shows from the cpu.max of
                 * init's own cgroup (memory it looks up the tree for).  The
                 * instance may rewrite this one; the limit above still
                 * holds.  Absent for an instance started by an earlier vsd. */
                r = cg_put(h, name, CG_PAYLOAD "/cpu.max", val, true, err);
                if (r < 0)
                        return r;
                snprintf(val, sizeof(val), "%u", lim->cpu_weight ? lim->cpu_weight : CG_WEIGHT_DEFAULT);
                r = cg_put(h, name, "cpu.weight", val, lim->cpu_weight == 0, err);
                if (r < 0)
                        return r;
        }
        if (h->mask & CG_MASK(CG_CPUSET)) {
                r = v2_set_cpuset(h, name, lim->cpuset, err);
                if (r < 0)
                        return r;
        }
        if (h->mask & CG_MASK(CG_IO)) {
                r = set_io(h, name, lim, m->io_weight, err);
                if (r < 0)
                        return r;
        }
        if (h->mask & CG_MASK(CG_PIDS)) {
                if (lim->pids_max)
                        snprintf(val, sizeof(val), "%" PRIu64, lim->pids_max);
                else
                        snprintf(val, sizeof(val), "max");
                r = cg_put(h, name, "pids.max", val, false, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Controllers vsd hands down to an instance's payload: whichever of these
 * <parent> has (the cpuacct and freezer bits are no v2 controllers). */
#define V2_CONTROLLERS (CG_MASK(CG_MEMORY) | CG_MASK(CG_CPU) | CG_MASK(CG_PIDS) | CG_MASK(CG_CPUSET) | CG_MASK(CG_IO))

/* Remove every child cgroup of dfd (a reused leftover's old tree). */
static int rmdir_children(int dfd) {
        int fd = dup(dfd);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                int r = -errno;
                if (fd >= 0)
                        close(fd);
                return r;
        }
        rewinddir(d);
        int r = 0;
        struct dirent *de;
        while (r == 0 && (de = readdir(d))) {
                struct stat st;
                if (streq(de->d_name, ".") || streq(de->d_name, "..") ||
                    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                r = cg_rmdir_tree(dfd, de->d_name, 0);
        }
        closedir(d);
        return r;
}

/*
 * <parent>/<name> holds the limits and no process; init runs one level
 * down, in the payload, which is the root of the instance's cgroup
 * namespace.  Whatever root inside writes there (memory.max, cpu.max,
 * pids.max, cgroup.procs, its own child cgroups) acts below the limits and
 * can never raise them, whether or not the host's mount has nsdelegate.
 * The controllers are handed down so that an init such as systemd can
 * enable them for its own units.
 */
static int v2_create_inner(struct cg_manager *m, const char *name, vs_error *err) {
        struct cg_hier *h = &m->hier[0];
        _cleanup_close_ int fd = openat(h->parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return vs_err(err, errno, "open cgroup %s/%s", h->path, name);
        /* a reused leftover (empty) may still hold a tree an init built */
        int r = rmdir_children(fd);
        if (r < 0)
                return vs_err(err, -r, "remove the old cgroups below %s/%s", h->path, name);
        unsigned want = h->mask & V2_CONTROLLERS, on = 0;
        /* (absent only in a plain directory tree: the tests') */
        r = read_controllers(fd, NULL, "cgroup.subtree_control", &on);
        if (r < 0 && r != -ENOENT)
                return vs_err(err, -r, "read %s/%s/cgroup.subtree_control", h->path, name);
        if (r == 0 && (want & ~on) && enable(fd, want & ~on) != (want & ~on))
                return vs_err_msg(err, EIO, "enable the controllers in %s/%s/cgroup.subtree_control", h->path, name);
        if (mkdirat(fd, CG_PAYLOAD, 0755) < 0)
                return vs_err(err, errno, "create cgroup %s/%s/" CG_PAYLOAD, h->path, name);
        return 0;
}

static int v2_freeze(struct cg_manager *m, const char *name, bool frozen, vs_error *err) {
        return cg_unified_freeze(m, &m->hier[0], name, frozen, err);
}

/* Raw values that need converting, next to the counters taken as they are. */
struct v2_counters {
        struct cg_stats s;
        uint64_t usage_us, throttled_us, weight, high, swap_max, oom;
};

#define S(f) offsetof(struct v2_counters, s.f)
#define X(f) offsetof(struct v2_counters, f)

/* Where each figure comes from (doc/cgroups.md has the same table).
 * cpu.stat's usage counters exist without the cpu controller: CG_CPUACCT
 * is always in the v2 hierarchy's mask. */
static const struct cg_stat_row v2_rows[] = {
        { CG_MEMORY, "memory.current", CG_ROW_VALUE, NULL, S(memory_current), false },
        { CG_MEMORY, "memory.peak", CG_ROW_VALUE, NULL, S(memory_peak), false }, /* 5.19 and later */
        { CG_MEMORY, "memory.max", CG_ROW_VALUE, NULL, S(memory_max), true },
        { CG_MEMORY, "memory.high", CG_ROW_VALUE, NULL, X(high), true },
        { CG_MEMORY, "memory.events", CG_ROW_KEY, "high", S(memory_high_events), false },
        { CG_MEMORY, "memory.events", CG_ROW_KEY, "max", S(memory_failcnt), false },
        { CG_MEMORY, "memory.events", CG_ROW_KEY, "oom", X(oom), false },
        { CG_MEMORY, "memory.events", CG_ROW_KEY, "oom_kill", S(oom_kills), false },
        { CG_MEMORY, "memory.stat", CG_ROW_KEY, "anon", S(memory_rss), false },
        { CG_MEMORY, "memory.stat", CG_ROW_KEY, "file", S(memory_cache), false },
        { CG_MEMORY, "memory.stat", CG_ROW_KEY, "shmem", S(memory_shmem), false },
        { CG_MEMORY, "memory.swap.current", CG_ROW_VALUE, NULL, S(swap_current), false },
        { CG_MEMORY, "memory.swap.max", CG_ROW_VALUE, NULL, X(swap_max), true },
        { CG_CPUACCT, "cpu.stat", CG_ROW_KEY, "usage_usec", X(usage_us), false },
        { CG_CPUACCT, "cpu.stat", CG_ROW_KEY, "nr_periods", S(cpu_nr_periods), false },
        { CG_CPUACCT, "cpu.stat", CG_ROW_KEY, "nr_throttled", S(cpu_nr_throttled), false },
        { CG_CPUACCT, "cpu.stat", CG_ROW_KEY, "throttled_usec", X(throttled_us), false },
        { CG_CPU, "cpu.weight", CG_ROW_VALUE, NULL, X(weight), true },
        { CG_PIDS, "pids.current", CG_ROW_VALUE, NULL, S(pids_current), false },
        { CG_PIDS, "pids.max", CG_ROW_VALUE, NULL, S(pids_max), true },
        { CG_PIDS, "pids.events", CG_ROW_KEY, "max", S(pids_failcnt), false },
        { CG_IO, "io.stat", CG_ROW_SUM, "rbytes", S(io_rbytes), false },
        { CG_IO, "io.stat", CG_ROW_SUM, "wbytes", S(io_wbytes), false },
        { CG_IO, "io.stat", CG_ROW_SUM, "rios", S(io_rios), false },
        { CG_IO, "io.stat", CG_ROW_SUM, "wios", S(io_wios), false },
};

#undef S
#undef X

static uint64_t v2_limit(uint64_t v) {
        return v == UINT64_MAX ? 0 : v;
}

static int v2_stats(struct cg_manager *m, const char *name, bool counters_only, struct cg_counter_fds *fds,
                    struct cg_stats *ret, vs_error *err) {
        struct v2_counters c = { .weight = counters_only ? 0 : CG_WEIGHT_DEFAULT };
        struct cg_hier *h = &m->hier[0];
        int r = cg_read_rows(m, name, v2_rows, ELEMENTSOF(v2_rows), counters_only, fds, &c, err);
        if (r < 0)
                return r;
        struct cg_stats *s = &c.s;
        s->cpu_usage_ns = c.usage_us * 1000;
        s->cpu_throttled_ns = c.throttled_us * 1000;
        s->cpu_weight = (uint32_t) c.weight;
        s->memory_max = v2_limit(s->memory_max);
        s->memory_high = v2_limit(c.high);
        /* swap on top of a memory limit; "max" without one is no limit */
        s->swap_max = s->memory_max ? v2_limit(c.swap_max) : 0;
        s->pids_max = v2_limit(s->pids_max);
        /* "max" counts the charges that met the limit; an OOM (and each
         * kill) is one of them, so the hits are never fewer */
        if (c.oom > s->memory_failcnt)
                s->memory_failcnt = c.oom;
        if (s->oom_kills > s->memory_failcnt)
                s->memory_failcnt = s->oom_kills;
        if (!counters_only && (h->mask & CG_MASK(CG_CPU))) {
                char buf[64];
                uint64_t quota, period;
                if (cg_file_read(h->parent_fd, name, "cpu.max", buf, sizeof(buf)) >= 0 &&
                    sscanf(buf, "%" SCNu64 " %" SCNu64, &quota, &period) == 2 && period > 0)
                        s->cpu_millis = (uint32_t) (quota * 1000 / period);
        }
        *ret = *s;
        return 0;
}

static int v2_open_dir(struct cg_manager *m, const char *name) {
        char p[300];
        snprintf(p, sizeof(p), "%s/" CG_PAYLOAD, name);
        int fd = openat(m->hier[0].parent_fd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

static int v2_fail_counters(struct cg_manager *m, const char *name, uint64_t *ret_oom, uint64_t *ret_pids) {
        struct cg_hier *h = &m->hier[0];
        int r;
        if ((r = cg_get_key(h->mask & CG_MASK(CG_MEMORY) ? h : NULL, name, "memory.events", "oom_kill", ret_oom)) < 0 ||
            (r = cg_get_key(h->mask & CG_MASK(CG_PIDS) ? h : NULL, name, "pids.events", "max", ret_pids)) < 0)
                return r;
        return 0;
}

const struct cg_ops cg_v2_ops = {
        .mode = "v2",
        .setup = v2_setup,
        .set_limits = v2_set_limits,
        .freeze = v2_freeze,
        .stats = v2_stats,
        .open_dir = v2_open_dir,
        .inner = CG_PAYLOAD,
        .create_inner = v2_create_inner,
        .fail_counters = v2_fail_counters,
};

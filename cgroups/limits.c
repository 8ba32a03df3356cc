/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Validation of the hosting limits (soft memory, swap, CPU weight and set,
 * I/O weight and throttles) and the small parsers they need.  Layout
 * independent: what each limit writes sits in cgroup-v1.c / cgroup-v2.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/util.h"
#include "cgroups/cgroup-internal.h"

int cg_cpu_list_parse(const char *s, struct cg_cpu_mask *ret) {
        struct cg_cpu_mask m = { { 0 } };
        const char *p = s;
        while (*p && *p != '\n') {
                char *end;
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                unsigned long a = strtoul(p, &end, 10), b = a;
                p = end;
                if (*p == '-') {
                        p++;
                        if (*p < '0' || *p > '9')
                                return -EINVAL;
                        b = strtoul(p, &end, 10);
                        p = end;
                }
                if (a > b || b >= CG_CPU_MAX)
                        return -EINVAL;
                for (unsigned long c = a; c <= b; c++)
                        m.bits[c / 64] |= 1ULL << (c % 64);
                if (*p == ',') {
                        p++;
                        if (!*p)
                                return -EINVAL;
                } else if (*p && *p != '\n')
                        return -EINVAL;
        }
        *ret = m;
        return 0;
}

static int validate_cpuset(const char *cpuset, vs_error *err) {
        struct cg_cpu_mask want, online;
        char buf[256] = "";
        int fd, r;

        if (cg_cpu_list_parse(cpuset, &want) < 0)
                return vs_err_msg(err, EINVAL, "cpuset '%s' is not a CPU list like '0-1,3' (CPUs below %d)", cpuset,
                                  CG_CPU_MAX);
        fd = open("/sys/devices/system/cpu/online", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return vs_err(err, errno, "read /sys/devices/system/cpu/online");
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n < 0)
                return vs_err(err, errno, "read /sys/devices/system/cpu/online");
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        r = cg_cpu_list_parse(buf, &online);
        if (r < 0)
                return vs_err_msg(err, EIO, "cannot parse /sys/devices/system/cpu/online: '%s'", buf);
        bool any = false;
        for (unsigned c = 0; c < CG_CPU_MAX; c++) {
                bool w = want.bits[c / 64] & (1ULL << (c % 64));
                if (w && !(online.bits[c / 64] & (1ULL << (c % 64))))
                        return vs_err_msg(err, EINVAL, "cpuset '%s' names CPU %u, which this host does not have (online: %s)",
                                          cpuset, c, buf);
                any = any || w;
        }
        if (!any)
                return vs_err_msg(err, EINVAL, "cpuset '%s' names no CPU", cpuset);
        return 0;
}

static int validate_weight(const char *what, uint32_t w, vs_error *err) {
        if (w > 10000)
                return vs_err_msg(err, ERANGE, "%s weight %u is out of range 1..10000 (default 100)", what, w);
        return 0;
}

static int need(struct cg_manager *m, enum cg_ctrl c, const char *what, const char *ctrl, vs_error *err) {
        if (cg_hier_of(m, c))
                return 0;
        return vs_err_msg(err, EOPNOTSUPP, "%s needs the %s controller, which this host's cgroup %s layout below %s does not offer",
                          what, ctrl, m->ops->mode, m->root);
}

int cg_validate_more(struct cg_manager *m, const struct cg_limits *lim, vs_error *err) {
        bool v1 = streq(m->ops->mode, "v1");
        int r;

        if (lim->memory_high) {
                r = need(m, CG_MEMORY, "a soft memory limit", "memory", err);
                if (r < 0)
                        return r;
                if (lim->memory_max && lim->memory_high > lim->memory_max)
                        return vs_err_msg(err, EINVAL, "soft memory limit of %" PRIu64 " bytes is above the memory limit of %" PRIu64,
                                          lim->memory_high, lim->memory_max);
        }
        if (lim->swap_max) {
                /* swap is granted on top of a memory limit; without one the
                 * instance may swap as much as the host allows anyway */
                if (!lim->memory_max)
                        return vs_err_msg(err, EINVAL, "a swap limit needs a memory limit: swap is granted on top of it");
                r = need(m, CG_MEMORY, "a swap limit", "memory", err);
                if (r < 0)
                        return r;
                if (v1 && !m->memsw)
                        return vs_err_msg(err, EOPNOTSUPP,
                                          "a swap limit needs swap accounting (memory.memsw.*), which this host's kernel does not do");
                if (lim->swap_max > UINT64_MAX / 2 || lim->memory_max + lim->swap_max > (1ULL << 62))
                        return vs_err_msg(err, ERANGE, "swap limit of %" PRIu64 " bytes is too large", lim->swap_max);
        }
        if (lim->cpu_weight) {
                r = validate_weight("CPU", lim->cpu_weight, err);
                if (r < 0)
                        return r;
                r = need(m, CG_CPU, "a CPU weight", "cpu", err);
                if (r < 0)
                        return r;
        }
        if (lim->cpuset[0]) {
                if (!memchr(lim->cpuset, '\0', sizeof(lim->cpuset)))
                        return vs_err_msg(err, EINVAL, "cpuset is not terminated");
                r = need(m, CG_CPUSET, "a cpuset", "cpuset", err);
                if (r < 0)
                        return r;
                r = validate_cpuset(lim->cpuset, err);
                if (r < 0)
                        return r;
        }
        if (lim->io_weight) {
                r = validate_weight("I/O", lim->io_weight, err);
                if (r < 0)
                        return r;
                r = need(m, CG_IO, "an I/O weight", v1 ? "blkio" : "io", err);
                if (r < 0)
                        return r;
                if (!m->io_weight)
                        return vs_err_msg(err, EOPNOTSUPP,
                                          "an I/O weight needs %s, which this host's I/O scheduler does not offer",
                                          v1 ? "blkio.weight or blkio.bfq.weight" : "io.weight");
        }
        if (lim->n_io_max > CG_IO_DEV_MAX)
                return vs_err_msg(err, E2BIG, "%u device throttles, at most %d", lim->n_io_max, CG_IO_DEV_MAX);
        for (unsigned i = 0; i < lim->n_io_max; i++) {
                const struct cg_io_throttle *t = &lim->io_max[i];
                char p[64];
                r = need(m, CG_IO, "an I/O throttle", v1 ? "blkio" : "io", err);
                if (r < 0)
                        return r;
                for (unsigned j = 0; j < i; j++)
                        if (lim->io_max[j].major == t->major && lim->io_max[j].minor == t->minor)
                                return vs_err_msg(err, EINVAL, "block device %u:%u is throttled twice", t->major, t->minor);
                snprintf(p, sizeof(p), "/sys/dev/block/%u:%u", t->major, t->minor);
                if (access(p, F_OK) < 0)
                        return vs_err_msg(err, ENODEV, "block device %u:%u does not exist on this host", t->major,
                                          t->minor);
        }
        return 0;
}

int cg_io_device(const char *path, unsigned *ret_major, unsigned *ret_minor, vs_error *err) {
        struct stat st;
        if (stat(path, &st) < 0)
                return vs_err(err, errno, "%s", path);
        if (!S_ISBLK(st.st_mode))
                return vs_err_msg(err, ENOTBLK, "%s is not a block device", path);
        *ret_major = major(st.st_rdev);
        *ret_minor = minor(st.st_rdev);
        return 0;
}

uint64_t cg_sum_io(const char *text, const char *key) {
        uint64_t sum = 0;
        size_t kl = strlen(key);
        for (const char *line = text; line && *line;) {
                const char *eol = strchr(line, '\n');
                size_t len = eol ? (size_t) (eol - line) : strlen(line);
                /* only device lines: v1 ends with a "Total N" line */
                if (line[0] >= '0' && line[0] <= '9')
                        for (const char *p = strchr(line, ' '); p && p < line + len; p = strchr(p + 1, ' ')) {
                                const char *w = p + 1;
                                if ((size_t) (line + len - w) > kl && strncmp(w, key, kl) == 0 &&
                                    (w[kl] == '=' || w[kl] == ' ')) {
                                        sum += strtoull(w + kl + 1, NULL, 10);
                                        break;
                                }
                        }
                line = eol ? eol + 1 : NULL;
        }
        return sum;
}

size_t cg_cpu_mask_trim(struct cg_cpu_mask *m, unsigned max) {
        size_t seen = 0;
        for (unsigned c = 0; c < CG_CPU_MAX; c++)
                if (m->bits[c / 64] & (1ULL << (c % 64))) {
                        if (max && seen >= max)
                                m->bits[c / 64] &= ~(1ULL << (c % 64));
                        else
                                seen++;
                }
        return seen;
}

void cg_cpu_list_format(const struct cg_cpu_mask *m, char *buf, size_t size) {
        size_t n = 0;
        buf[0] = '\0';
        for (unsigned c = 0; c < CG_CPU_MAX;) {
                if (!(m->bits[c / 64] & (1ULL << (c % 64)))) {
                        c++;
                        continue;
                }
                unsigned e = c;
                while (e + 1 < CG_CPU_MAX && (m->bits[(e + 1) / 64] & (1ULL << ((e + 1) % 64))))
                        e++;
                int k = e == c ? snprintf(buf + n, size - n, "%s%u", n ? "," : "", c)
                               : snprintf(buf + n, size - n, "%s%u-%u", n ? "," : "", c, e);
                if (k < 0 || (size_t) k >= size - n) {
                        buf[n] = '\0'; /* what fits, whole ranges only */
                        return;
                }
                n += (size_t) k;
                c = e + 1;
        }
}

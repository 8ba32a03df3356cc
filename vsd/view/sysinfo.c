/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/view/sysinfo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/log.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/conf/settings.h"
#include "vsd/core/daemon.h"
#include "base/proc.h"
#include "vsd/core/loop.h"
#include "vsd/view/holder.h"
#include "vsd/view/view.h"

/* The kernel's load sampling period. */
#define LOAD_PERIOD_MS 5000
/* How often the own /proc/stat files are brought up to date: top refreshes
 * every 3 s, mpstat 1 s; a read sees figures at most this old. */
#define STAT_PERIOD_MS 1000
/* The host's /proc/stat is about 1.2 KiB with its per-IRQ counts on 2
 * CPUs, a few more KiB on a large host; what the instance's file keeps of
 * it is the short lines */
#define STAT_TEXT_MAX (64 * 1024)
#define STAT_HOST_MAX (512 * 1024)
/* Notifications answered per wake-up of one listener, so that a process
 * calling sysinfo() in a loop shares the daemon's loop with everything
 * else (epoll is level-triggered: the rest waits for the next turn). */
#define BATCH 16
/* x32 system calls: the x86-64 numbers with this bit, the same struct. */
#define X32_SYSCALL_BIT 0x40000000

struct sinfo_inst;

struct sinfo_listener {
        struct sinfo_inst *inst;
        int fd;
        struct loop_source *src;
        bool held; /* the holder has a copy (holder.h) */
        struct sinfo_listener *next;
};

struct sinfo_inst {
        struct sinfo *s;
        const struct inst_config *cfg; /* borrowed from the registry */
        pid_t init_pid;
        unsigned long long init_start; /* its start time: with the pid, which init */
        int64_t boot_offset_ns;
        struct cg_counter_fds *counters; /* held open: a call reads them with pread */
        struct sinfo_listener *listeners;
        uint64_t avenrun[3];
        struct loop_source *load_timer;
        unsigned pid_level;  /* which NSpid field is the pid inside */
        int files[VIEW_N_OWN]; /* vsd's own view files, written in place (the instance binds them) */
        unsigned running, blocked; /* at the last load sample, for /proc/stat */
};

/* How long the host's own sysinfo() is reused: its totals change only with
 * memory hot-plug or swapon, and the call costs more than the rest of an
 * answer (34 us of 123 here). */
#define HOST_CACHE_NS 1000000000ULL

struct sinfo {
        struct vsd *vsd;
        struct sinfo_inst **inst;
        size_t n_inst, cap_inst;
        struct sysinfo host;
        uint64_t host_at_ns; /* CLOCK_BOOTTIME of host; 0: none yet */
        struct loop_source *stat_timer; /* armed while an instance has its own /proc/stat */
};

/* ---- the answer ------------------------------------------------------- */

uint64_t sinfo_calc_load(uint64_t load, uint64_t exp, uint64_t active) {
        uint64_t a = active * SINFO_FIXED_1;
        uint64_t n = load * exp + a * (SINFO_FIXED_1 - exp);
        if (a >= load)
                n += SINFO_FIXED_1 - 1;
        return n / SINFO_FIXED_1;
}

static unsigned long clamp_sub(uint64_t a, uint64_t b) {
        return a > b ? (unsigned long) (a - b) : 0;
}

void sinfo_compute(const struct sinfo_input *in, struct sysinfo *ret) {
        uint64_t unit = in->host.mem_unit ? in->host.mem_unit : 1;
        uint64_t host_ram = (uint64_t) in->host.totalram * unit;
        memset(ret, 0, sizeof(*ret));
        /* sysinfo(2) rounds a partial second up */
        int64_t up = (int64_t) in->boottime_ns + in->boot_offset_ns;
        if (up < 0)
                up = 0;
        ret->uptime = (long) (up / 1000000000 + (up % 1000000000 ? 1 : 0));
        for (int k = 0; k < 3; k++)
                ret->loads[k] = (unsigned long) (in->avenrun[k] << (SI_LOAD_SHIFT - SINFO_FSHIFT));
        uint64_t total = in->memory_max && in->memory_max < host_ram ? in->memory_max : host_ram;
        ret->totalram = (unsigned long) total;
        /* usage counts the page cache, which the kernel's freeram does not
         * either; busybox free shows it apart, from /proc/meminfo */
        ret->freeram = clamp_sub(total, in->memory_current);
        if (ret->freeram > ret->totalram)
                ret->freeram = ret->totalram;
        ret->sharedram = (unsigned long) in->memory_shmem;
        ret->bufferram = 0; /* block device buffers: no cgroup counts them */
        if (in->memory_max) {
                ret->totalswap = (unsigned long) in->swap_max;
                ret->freeswap = clamp_sub(in->swap_max, in->swap_current);
        } else {
                /* no limit: the host's memory, and its swap */
                ret->totalswap = (unsigned long) ((uint64_t) in->host.totalswap * unit);
                ret->freeswap = (unsigned long) ((uint64_t) in->host.freeswap * unit);
        }
        ret->procs = (unsigned short) (in->tasks > 0xffff ? 0xffff : in->tasks);
        ret->mem_unit = 1;
}

/* ---- the load ----------------------------------------------------------- */

/* One task, from /proc/PID/task/TID/status: its state (running,
 * uninterruptible) and its pid inside the instance (the NSpid field of
 * the instance's level). */
static void sample_task(int taskdir, const char *tid, struct sinfo_sample *smp) {
        char path[64], buf[4096];
        snprintf(path, sizeof(path), "%s/status", tid);
        _cleanup_close_ int fd = openat(taskdir, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return; /* gone meanwhile */
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return;
        buf[n] = '\0';
        smp->total++;
        const char *st = strstr(buf, "\nState:\t");
        if (st && st[8] == 'R') {
                smp->running++;
                smp->active++;
        } else if (st && st[8] == 'D')
                smp->active++;
        const char *ns = strstr(buf, "\nNSpid:");
        if (!ns)
                return;
        ns += 7;
        for (unsigned k = 0; k <= smp->pid_level; k++) {
                char *end;
                unsigned long v = strtoul(ns, &end, 10);
                if (end == ns)
                        return;
                if (k == smp->pid_level && v > smp->last_pid)
                        smp->last_pid = (unsigned) v;
                ns = end;
        }
}

static int sample_process(pid_t pid, void *userdata) {
        struct sinfo_sample *smp = userdata;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return 0; /* gone meanwhile */
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return 0;
        }
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        sample_task(dirfd(d), de->d_name, smp);
        closedir(d);
        return 0;
}

void sinfo_loadavg_text(const uint64_t avenrun[3], const struct sinfo_sample *smp, char *buf, size_t size) {
        uint64_t a[3];
        /* as the kernel prints its own: rounded to hundredths */
        for (int k = 0; k < 3; k++)
                a[k] = avenrun[k] + SINFO_FIXED_1 / 200;
#define LOAD_INT(x) ((unsigned long) ((x) >> SINFO_FSHIFT))
#define LOAD_FRAC(x) LOAD_INT(((x) & (SINFO_FIXED_1 - 1)) * 100)
        snprintf(buf, size, "%lu.%02lu %lu.%02lu %lu.%02lu %u/%u %u\n", LOAD_INT(a[0]), LOAD_FRAC(a[0]),
                 LOAD_INT(a[1]), LOAD_FRAC(a[1]), LOAD_INT(a[2]), LOAD_FRAC(a[2]), smp->running, smp->total,
                 smp->last_pid);
#undef LOAD_INT
#undef LOAD_FRAC
}

int sinfo_loadavg_parse(const char *text, uint64_t avenrun[3]) {
        unsigned long in[3], fr[3];
        if (sscanf(text, "%lu.%2lu %lu.%2lu %lu.%2lu", &in[0], &fr[0], &in[1], &fr[1], &in[2], &fr[2]) != 6)
                return -EINVAL;
        for (int k = 0; k < 3; k++) {
                if (in[k] > 1000000 || fr[k] > 99)
                        return -EINVAL;
                avenrun[k] = (uint64_t) in[k] * SINFO_FIXED_1 + (uint64_t) fr[k] * SINFO_FIXED_1 / 100;
        }
        return 0;
}

/* Replace a view file's text in place: the instance's bind holds this
 * inode, so it is never renamed over.  A reader between the write and the
 * truncate of a shorter text sees the old tail after the new line. */
static int own_write(int fd, const char *text) {
        size_t len = strlen(text);
        if (fd < 0)
                return 0;
        ssize_t n = pwrite(fd, text, len, 0);
        if (n != (ssize_t) len)
                return n < 0 ? -errno : -EIO;
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_size != (off_t) len && ftruncate(fd, (off_t) len) < 0)
                return -errno;
        return 0;
}

static void load_sample(struct sinfo_inst *i) {
        struct sinfo_sample smp = { .pid_level = i->pid_level };
        if (cg_for_each_process(i->s->vsd->cg, i->cfg->name, sample_process, &smp) < 0)
                return; /* keep the last figures */
        static const uint64_t exps[3] = { SINFO_EXP_1, SINFO_EXP_5, SINFO_EXP_15 };
        for (int k = 0; k < 3; k++)
                i->avenrun[k] = sinfo_calc_load(i->avenrun[k], exps[k], smp.active);
        char text[128];
        sinfo_loadavg_text(i->avenrun, &smp, text, sizeof(text));
        (void) own_write(i->files[VIEW_OWN_LOADAVG], text);
        i->running = smp.running;
        i->blocked = smp.active > smp.running ? smp.active - smp.running : 0;
}

static void load_timer_cb(struct loop_source *src, void *userdata) {
        struct sinfo_inst *i = userdata;
        i->load_timer = NULL;
        load_sample(i);
        if (loop_add_timer(i->s->vsd->loop, LOAD_PERIOD_MS, load_timer_cb, i, &i->load_timer) < 0)
                log_warn("Failed to arm the load timer of %s, ignoring: its load stays as it is", i->cfg->name);
}

int sinfo_online_text(const char *host_online, const char *cpuset, uint32_t cpu_millis, char *buf, size_t size) {
        struct cg_cpu_mask host, set;
        int r = cg_cpu_list_parse(host_online, &host);
        if (r < 0)
                return r;
        if (cpuset && cpuset[0] && cg_cpu_list_parse(cpuset, &set) == 0) {
                bool any = false;
                for (size_t k = 0; k < ELEMENTSOF(set.bits); k++) {
                        set.bits[k] &= host.bits[k];
                        any |= set.bits[k] != 0;
                }
                if (any) /* else the kernel's cpuset falls back to the parent's */
                        host = set;
        }
        (void) cg_cpu_mask_trim(&host, sinfo_cpus_of(cpu_millis));
        if (size < 2)
                return -ENOSPC;
        cg_cpu_list_format(&host, buf, size - 1);
        strcat(buf, "\n");
        return 0;
}

/* The CPUs sched_getaffinity() answers, for glibc's sysconf. */
static void online_update(struct sinfo_inst *i) {
        char host[512], text[512];
        _cleanup_close_ int fd = open("/sys/devices/system/cpu/online", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, host, sizeof(host) - 1) : -1;
        if (n <= 0)
                return;
        host[n] = '\0';
        if (sinfo_online_text(host, i->cfg->cpuset, i->cfg->cpu_millis, text, sizeof(text)) == 0)
                (void) own_write(i->files[VIEW_OWN_CPU_ONLINE], text);
}

/* ---- /proc/stat (pure cgroup v2) ---------------------------------------- */

/* USER_HZ: the kernel shows every tick count in /proc at 100 a second */
#define TICK_NS 10000000ULL

static int append(char **p, size_t *left, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int append(char **p, size_t *left, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*p, *left, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= *left)
                return -ENOSPC;
        *p += n;
        *left -= (size_t) n;
        return 0;
}

static int cpu_line(char **p, size_t *left, const char *label, uint64_t user, uint64_t sys, uint64_t idle) {
        return append(p, left, "%s %" PRIu64 " 0 %" PRIu64 " %" PRIu64 " 0 0 0 0 0 0\n", label, user, sys, idle);
}

/* The k-th of n even shares of v, the remainder on the first ones: the
 * shares add up to v exactly. */
static uint64_t share(uint64_t v, unsigned n, unsigned k) {
        return v / n + (k < v % n ? 1 : 0);
}

int sinfo_stat_text(const char *host_stat, const struct sinfo_cpu_times *t, char *buf, size_t size) {
        unsigned n = t->ncpu ? t->ncpu : 1;
        uint64_t user = t->user_ns / TICK_NS, sys = t->system_ns / TICK_NS;
        uint64_t all = t->elapsed_ns / TICK_NS * n;
        uint64_t idle = all > user + sys ? all - user - sys : 0;
        char *p = buf;
        size_t left = size;
        int r = cpu_line(&p, &left, "cpu ", user, sys, idle);
        for (unsigned k = 0; r == 0 && k < n; k++) {
                char label[16];
                snprintf(label, sizeof(label), "cpu%u", k);
                r = cpu_line(&p, &left, label, share(user, n, k), share(sys, n, k), share(idle, n, k));
        }
        for (const char *l = host_stat; r == 0 && l && *l;) {
                const char *end = strchrnul(l, '\n');
                int len = (int) (end - l);
                if (!strncmp(l, "cpu", 3))
                        ; /* the host's CPUs: above, the instance's */
                else if (!strncmp(l, "intr ", 5) || !strncmp(l, "softirq ", 8))
                        /* the total only: the per-source counts are the
                         * host's hardware, vmstat reads the first */
                        r = append(&p, &left, "%.*s\n", (int) (strchrnul(strchrnul(l, ' ') + 1, ' ') - l), l);
                else if (!strncmp(l, "procs_running ", 14))
                        r = append(&p, &left, "procs_running %u\n", t->running);
                else if (!strncmp(l, "procs_blocked ", 14))
                        r = append(&p, &left, "procs_blocked %u\n", t->blocked);
                else
                        r = append(&p, &left, "%.*s\n", len, l);
                l = *end ? end + 1 : end;
        }
        return r;
}

static unsigned online_count(const char *text) {
        struct cg_cpu_mask m;
        if (cg_cpu_list_parse(text, &m) < 0)
                return 1;
        unsigned n = 0;
        for (size_t k = 0; k < ELEMENTSOF(m.bits); k++)
                n += (unsigned) __builtin_popcountll(m.bits[k]);
        return n ? n : 1;
}

static void stat_update(struct sinfo_inst *i, const char *host_stat, const char *host_online) {
        struct sinfo_cpu_times t = { .running = i->running, .blocked = i->blocked };
        char online[512];
        if (i->files[VIEW_OWN_STAT] < 0 ||
            cg_cpu_times(i->s->vsd->cg, i->cfg->name, &t.user_ns, &t.system_ns) < 0 ||
            sinfo_online_text(host_online, i->cfg->cpuset, i->cfg->cpu_millis, online, sizeof(online)) < 0)
                return; /* keep the last figures */
        t.ncpu = online_count(online);
        struct timespec ts;
        clock_gettime(CLOCK_BOOTTIME, &ts);
        int64_t up = (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec + i->boot_offset_ns;
        t.elapsed_ns = up > 0 ? (uint64_t) up : 0;
        _cleanup_free_ char *text = malloc(STAT_TEXT_MAX);
        if (text && sinfo_stat_text(host_stat, &t, text, STAT_TEXT_MAX) == 0)
                (void) own_write(i->files[VIEW_OWN_STAT], text);
}

/* The host's /proc/stat and CPU list, into bufs of size; false if unread. */
static bool read_host_cpu_files(char *stat, size_t stat_size, char *online, size_t online_size) {
        _cleanup_close_ int sfd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int ofd = open("/sys/devices/system/cpu/online", O_RDONLY | O_CLOEXEC);
        size_t sn = 0;
        for (ssize_t n = 1; sfd >= 0 && n > 0 && sn < stat_size - 1; sn += n > 0 ? (size_t) n : 0)
                n = read(sfd, stat + sn, stat_size - 1 - sn);
        ssize_t on = ofd >= 0 ? read(ofd, online, online_size - 1) : -1;
        if (sn == 0 || on <= 0)
                return false;
        stat[sn] = '\0';
        online[on] = '\0';
        return true;
}

static void stat_timer_cb(struct loop_source *src, void *userdata);

static void stat_timer_arm(struct sinfo *s) {
        if (s->stat_timer)
                return;
        if (loop_add_timer(s->vsd->loop, STAT_PERIOD_MS, stat_timer_cb, s, &s->stat_timer) < 0)
                log_warn("Failed to arm the /proc/stat timer, ignoring: the instances' CPU times stay as they are");
}

static void stat_timer_cb(struct loop_source *src, void *userdata) {
        struct sinfo *s = userdata;
        s->stat_timer = NULL;
        _cleanup_free_ char *host = malloc(STAT_HOST_MAX);
        char online[512];
        bool read = host && read_host_cpu_files(host, STAT_HOST_MAX, online, sizeof(online)), any = false;
        for (size_t k = 0; k < s->n_inst; k++)
                if (s->inst[k]->files[VIEW_OWN_STAT] >= 0) {
                        if (read)
                                stat_update(s->inst[k], host, online);
                        any = true;
                }
        /* a failed read keeps the last figures, and the next tick tries again */
        if (any)
                stat_timer_arm(s);
}

/* ---- records ----------------------------------------------------------- */

static struct sinfo_inst *find(struct sinfo *s, const char *name, size_t *ret_k) {
        for (size_t k = 0; s && k < s->n_inst; k++)
                if (streq(s->inst[k]->cfg->name, name)) {
                        if (ret_k)
                                *ret_k = k;
                        return s->inst[k];
                }
        return NULL;
}

static void listener_free(struct sinfo_listener *l) {
        loop_remove(l->src);
        safe_close(&l->fd);
        free(l);
}

static void listener_unlink(struct sinfo_listener *l) {
        for (struct sinfo_listener **p = &l->inst->listeners; *p; p = &(*p)->next)
                if (*p == l) {
                        *p = l->next;
                        break;
                }
        listener_free(l);
}

/* The boot clock offset of the instance's time namespace (the one init's
 * children are born in): "boottime SECS NSECS". */
static int64_t read_boot_offset(pid_t pid) {
        char path[64], buf[256];
        snprintf(path, sizeof(path), "/proc/%d/timens_offsets", (int) pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0; /* no time namespaces: the host's clock */
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        const char *p = strstr(buf, "boottime");
        long long sec;
        long nsec;
        if (!p || sscanf(p + 8, "%lld %ld", &sec, &nsec) != 2)
                return 0;
        return (int64_t) sec * 1000000000 + nsec;
}

int sinfo_new(struct vsd *v, struct sinfo **ret) {
        struct sinfo *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->vsd = v;
        *ret = s;
        return 0;
}

static void inst_free(struct sinfo_inst *i) {
        while (i->listeners) {
                struct sinfo_listener *l = i->listeners;
                i->listeners = l->next;
                listener_free(l);
        }
        loop_remove(i->load_timer);
        cg_counter_fds_free(i->counters);
        for (size_t k = 0; k < VIEW_N_OWN; k++)
                safe_close(&i->files[k]);
        free(i);
}

/* <run_dir>/view/<name>.<file>: on the daemon's own filesystem, where no
 * customer reaches (the instance sees a read-only bind of the file). */
static int own_path(const struct sinfo *s, const char *name, enum view_own_file f, char *buf, size_t size) {
        static const char *const suffix[VIEW_N_OWN] = { "loadavg", "online", "stat" };
        if (snprintf(buf, size, "%s/view/%s.%s", s->vsd->set.run_dir, name, suffix[f]) >= (int) size)
                return -ENAMETOOLONG;
        return 0;
}

int sinfo_own_file_path(const struct sinfo *s, const char *name, enum view_own_file f, char *buf, size_t size) {
        return own_path(s, name, f, buf, size);
}

/* Does this host need vsd's own /proc/stat (VIEW_OWN_STAT)? */
static bool own_stat(const struct sinfo *s) {
        return streq(cg_manager_mode(s->vsd->cg), "v2");
}

int sinfo_files_prepare(struct sinfo *s, const struct inst_config *cfg, int ret_trees[VIEW_N_OWN], vs_error *err) {
        char path[600];
        if (!s)
                return 0;
        int r = snprintf(path, sizeof(path), "%s/view", s->vsd->set.run_dir) >= (int) sizeof(path) ? -ENAMETOOLONG
                                                                                                    : vs_mkdir_p(path, 0755);
        if (r < 0)
                return vs_err(err, -r, "Failed to create %s", path);
        struct sinfo_sample smp = { .running = 1, .total = 1, .last_pid = 1 }; /* init, about to be */
        static const uint64_t zero[3] = { 0, 0, 0 };
        char text[512], host[512];
        for (size_t k = 0; k < VIEW_N_OWN; k++) {
                r = own_path(s, cfg->name, (enum view_own_file) k, path, sizeof(path));
                if (r < 0)
                        return vs_err(err, -r, "Failed to create the view files of %s", cfg->name);
                /* a new inode per start: an earlier run's binds are gone with it */
                if (unlink(path) < 0 && errno != ENOENT)
                        return vs_err(err, errno, "Failed to remove %s", path);
                if (k == VIEW_OWN_STAT && !own_stat(s))
                        continue; /* lxcfs's (or the kernel's) */
                _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
                if (fd < 0)
                        return vs_err(err, errno, "Failed to create %s", path);
                _cleanup_free_ char *stat = NULL;
                if (k == VIEW_OWN_LOADAVG)
                        sinfo_loadavg_text(zero, &smp, text, sizeof(text));
                else if (k == VIEW_OWN_STAT) {
                        /* init about to start: no time used, none elapsed */
                        _cleanup_free_ char *hstat = malloc(STAT_HOST_MAX);
                        stat = malloc(STAT_TEXT_MAX);
                        struct sinfo_cpu_times t = { .ncpu = 1, .running = 1 };
                        if (!hstat || !stat)
                                return vs_err(err, ENOMEM, "Failed to create %s", path);
                        if (!read_host_cpu_files(hstat, STAT_HOST_MAX, host, sizeof(host)))
                                return vs_err(err, EIO, "Failed to read /proc/stat");
                        if (sinfo_online_text(host, cfg->cpuset, cfg->cpu_millis, text, sizeof(text)) == 0)
                                t.ncpu = online_count(text);
                        r = sinfo_stat_text(hstat, &t, stat, STAT_TEXT_MAX);
                        if (r < 0)
                                return vs_err(err, -r, "Failed to make %s", path);
                } else {
                        _cleanup_close_ int hfd = open("/sys/devices/system/cpu/online", O_RDONLY | O_CLOEXEC);
                        ssize_t n = hfd >= 0 ? read(hfd, host, sizeof(host) - 1) : -1;
                        if (n <= 0)
                                return vs_err(err, n < 0 ? errno : EIO, "Failed to read /sys/devices/system/cpu/online");
                        host[n] = '\0';
                        r = sinfo_online_text(host, cfg->cpuset, cfg->cpu_millis, text, sizeof(text));
                        if (r < 0)
                                return vs_err(err, -r, "Failed to parse /sys/devices/system/cpu/online");
                }
                r = own_write(fd, stat ? stat : text);
                if (r < 0)
                        return vs_err(err, -r, "Failed to write %s", path);
                int tree = view_clone_own(fd);
                if (tree < 0)
                        return vs_err(err, -tree, "Failed to clone the mount of %s", path);
                ret_trees[k] = tree;
        }
        return 0;
}

void sinfo_files_remove(struct sinfo *s, const char *name) {
        char path[600];
        for (size_t k = 0; s && k < VIEW_N_OWN; k++)
                if (own_path(s, name, (enum view_own_file) k, path, sizeof(path)) == 0)
                        (void) unlink(path);
}

/* Which NSpid field of /proc/PID/status is the pid inside the instance:
 * init's last, which is 1. */
static unsigned read_pid_level(pid_t pid) {
        char path[64], buf[4096];
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
        if (n <= 0)
                return 1;
        buf[n] = '\0';
        const char *p = strstr(buf, "\nNSpid:");
        if (!p)
                return 1;
        unsigned fields = 0;
        for (p += 7; *p && *p != '\n'; fields++) {
                char *end;
                (void) strtoul(p, &end, 10);
                if (end == p)
                        break;
                p = end;
        }
        return fields ? fields - 1 : 1;
}

void sinfo_free(struct sinfo *s) {
        if (!s)
                return;
        for (size_t k = 0; k < s->n_inst; k++)
                inst_free(s->inst[k]);
        loop_remove(s->stat_timer);
        free(s->inst);
        free(s);
}

static void instance_drop(struct sinfo *s, const char *name);

int sinfo_instance_add(struct sinfo *s, const struct inst_config *cfg, pid_t init_pid) {
        if (!s)
                return 0;
        instance_drop(s, cfg->name);
        if (s->n_inst == s->cap_inst) {
                size_t cap = s->cap_inst ? s->cap_inst * 2 : 16;
                struct sinfo_inst **n = realloc(s->inst, cap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                s->inst = n;
                s->cap_inst = cap;
        }
        struct sinfo_inst *i = calloc(1, sizeof(*i));
        if (!i)
                return -ENOMEM;
        *i = (struct sinfo_inst){ .s = s, .cfg = cfg, .init_pid = init_pid, .boot_offset_ns = read_boot_offset(init_pid),
                                  .pid_level = read_pid_level(init_pid) };
        (void) vs_proc_starttime(init_pid, &i->init_start);
        for (size_t k = 0; k < VIEW_N_OWN; k++) {
                char path[600];
                i->files[k] = own_path(s, cfg->name, (enum view_own_file) k, path, sizeof(path)) < 0 ? -EBADF
                              : open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
                if (i->files[k] < 0)
                        i->files[k] = -EBADF; /* started without them (an older daemon's start): the kernel's */
        }
        /* a re-adopted instance's load goes on from what its file shows;
         * a new one's from 0, as the kernel's does at boot */
        char text[128];
        ssize_t n = i->files[VIEW_OWN_LOADAVG] >= 0 ? pread(i->files[VIEW_OWN_LOADAVG], text, sizeof(text) - 1, 0) : -1;
        if (n > 0) {
                text[n] = '\0';
                (void) sinfo_loadavg_parse(text, i->avenrun);
        }
        s->inst[s->n_inst++] = i;
        online_update(i);
        load_sample(i);
        if (i->files[VIEW_OWN_STAT] >= 0)
                stat_timer_arm(s);
        if (loop_add_timer(s->vsd->loop, LOAD_PERIOD_MS, load_timer_cb, i, &i->load_timer) < 0)
                log_warn("Failed to arm the load timer of %s, ignoring: its load stays as it is", cfg->name);
        return 0;
}

static void instance_drop(struct sinfo *s, const char *name) {
        size_t k;
        struct sinfo_inst *i = find(s, name, &k);
        if (!i)
                return;
        s->inst[k] = s->inst[--s->n_inst];
        inst_free(i);
}

void sinfo_instance_remove(struct sinfo *s, const char *name) {
        instance_drop(s, name);
        sinfo_files_remove(s, name);
}

void sinfo_instance_changed(struct sinfo *s, const char *name) {
        struct sinfo_inst *i = find(s, name, NULL);
        if (!i)
                return;
        online_update(i);
        /* the CPU lines of /proc/stat follow at once, not at the next tick */
        _cleanup_free_ char *host = i->files[VIEW_OWN_STAT] >= 0 ? malloc(STAT_HOST_MAX) : NULL;
        char online[512];
        if (host && read_host_cpu_files(host, STAT_HOST_MAX, online, sizeof(online)))
                stat_update(i, host, online);
}

/* ---- answering ---------------------------------------------------------- */

static int answer_val(int fd, const struct seccomp_notif *req, int64_t val, int error, bool cont) {
        struct seccomp_notif_resp resp = { .id = req->id, .val = val };
        if (cont)
                resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        else
                resp.error = error;
        /* ENOENT: the caller is gone (killed, or its signal interrupted
         * the call, which the kernel then restarts with a new id) */
        if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static int answer(int fd, const struct seccomp_notif *req, int error, bool cont) {
        return answer_val(fd, req, 0, error, cont);
}

static int gather(struct sinfo_inst *i, struct sinfo_input *in) {
        struct cg_stats st;
        vs_error err = { 0 };
        memset(in, 0, sizeof(*in));
        struct timespec ts;
        clock_gettime(CLOCK_BOOTTIME, &ts);
        in->boottime_ns = (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
        struct sinfo *s = i->s;
        if (!s->host_at_ns || in->boottime_ns - s->host_at_ns > HOST_CACHE_NS) {
                if (sysinfo(&s->host) < 0)
                        return -errno;
                s->host_at_ns = in->boottime_ns;
        }
        in->host = s->host;
        in->boot_offset_ns = i->boot_offset_ns;
        int r = cg_counters_held(i->s->vsd->cg, i->cfg->name, &i->counters, &st, &err);
        if (r < 0)
                return r;
        in->memory_max = i->cfg->memory;
        in->swap_max = i->cfg->memory ? i->cfg->swap : 0;
        in->memory_current = st.memory_current;
        in->memory_shmem = st.memory_shmem;
        in->swap_current = st.swap_current;
        in->tasks = st.pids_current;
        memcpy(in->avenrun, i->avenrun, sizeof(in->avenrun));
        return 0;
}

/* Write the answer into the caller's buffer.  /proc/PID/mem is opened
 * first, then the notification checked still valid: the open file holds
 * the memory of the process that had that pid at the open, which the
 * check proves is the caller still waiting in the call (a pid alone could
 * have been reused meanwhile, by any process of the host).  Returns 0,
 * -EFAULT for a buffer the caller cannot have, or another -errno when the
 * caller went away. */
static int write_answer(int fd, const struct seccomp_notif *req, uint64_t addr, const void *buf, size_t len) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%u/mem", req->pid);
        _cleanup_close_ int mem = open(path, O_RDWR | O_CLOEXEC);
        if (mem < 0)
                return -errno;
        uint64_t id = req->id;
        if (ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0)
                return -errno;
        if (addr == 0 || addr + len < addr)
                return -EFAULT;
        ssize_t n = pwrite(mem, buf, len, (off_t) addr);
        if (n != (ssize_t) len)
                return -EFAULT; /* EIO: nothing mapped there */
        return 0;
}

unsigned sinfo_cpus_of(uint32_t cpu_millis) {
        return (cpu_millis + 999) / 1000;
}

size_t sinfo_affinity_trim(uint8_t *mask, size_t len, unsigned max) {
        unsigned seen = 0;
        for (size_t k = 0; k < len; k++)
                for (int b = 0; b < 8; b++)
                        if (mask[k] & (1u << b)) {
                                if (max && seen >= max)
                                        mask[k] &= (uint8_t) ~(1u << b);
                                else
                                        seen++;
                        }
        return seen;
}

/* The largest mask the daemon asks the kernel for: 32768 CPUs, more than
 * any kernel's nr_cpu_ids; the kernel never copies more than its own
 * mask's size, whatever the caller's length. */
#define AFFINITY_MAX 4096

/* sched_getaffinity(0, len, buf): the caller's own mask, as the kernel
 * gives it (the cpuset is in it already), with only its first
 * ceil(cpus) CPUs when the instance's CPU time is capped.  The kernel's
 * checks of len (long enough for its mask, a multiple of a long) are the
 * kernel's own: it is asked with the same length, bounded. */
static void handle_getaffinity(struct sinfo_listener *l, struct seccomp_notif *req) {
        unsigned cpus = sinfo_cpus_of(l->inst->cfg->cpu_millis); /* borrowed: a live set shows at once */
        if (cpus == 0) {
                (void) answer(l->fd, req, 0, true);
                return;
        }
        uint64_t len = req->data.args[1];
        size_t klen = len > AFFINITY_MAX ? AFFINITY_MAX + (size_t) (len & 7) : (size_t) len;
        uint8_t mask[AFFINITY_MAX + 8];
        /* req->pid is the calling thread (the daemon's pid namespace); a
         * pid reused meanwhile fails the validity check of write_answer */
        long n = syscall(SYS_sched_getaffinity, (pid_t) req->pid, klen, mask);
        if (n < 0) {
                int e = errno;
                (void) answer(l->fd, req, e == ESRCH ? 0 : -e, e == ESRCH);
                return;
        }
        sinfo_affinity_trim(mask, (size_t) n, cpus);
        int r = write_answer(l->fd, req, req->data.args[2], mask, (size_t) n);
        if (r == -EFAULT)
                (void) answer(l->fd, req, -EFAULT, false);
        else if (r < 0)
                (void) answer(l->fd, req, 0, true);
        else
                (void) answer_val(l->fd, req, n, 0, false);
}

static void handle_one(struct sinfo_listener *l, struct seccomp_notif *req) {
        struct sinfo_inst *i = l->inst;
        bool native = req->data.arch == AUDIT_ARCH_X86_64;
        int nr = req->data.nr & ~X32_SYSCALL_BIT;
        if (native && nr == (int) SYS_sched_getaffinity) {
                handle_getaffinity(l, req);
                return;
        }
        if (!native || nr != (int) SYS_sysinfo) {
                /* the 32-bit struct is not ours to write: the kernel's answer */
                (void) answer(l->fd, req, 0, true);
                return;
        }
        struct sinfo_input in;
        struct sysinfo out;
        int r = gather(i, &in);
        if (r < 0) {
                /* in doubt the kernel answers, with the host's figures */
                (void) answer(l->fd, req, 0, true);
                return;
        }
        sinfo_compute(&in, &out);
        r = write_answer(l->fd, req, req->data.args[0], &out, sizeof(out));
        if (r == -EFAULT)
                (void) answer(l->fd, req, -EFAULT, false);
        else if (r < 0)
                /* the caller is gone (the answer then goes nowhere), or
                 * its memory could not be opened: the kernel answers */
                (void) answer(l->fd, req, 0, true);
        else
                (void) answer(l->fd, req, 0, false);
}

static bool readable(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

static int on_listener(struct loop_source *src, int fd, uint32_t events, void *userdata) {
        struct sinfo_listener *l = userdata;
        /* SECCOMP_IOCTL_NOTIF_RECV blocks when nothing waits, whatever the
         * fd's flags: it is called only while poll() says a notification
         * waits (one whose caller was killed meanwhile is gone from the
         * queue, and RECV then fails with ENOENT at once). */
        for (int k = 0; k < BATCH && (events & EPOLLIN) && readable(fd); k++) {
                struct seccomp_notif req;
                memset(&req, 0, sizeof(req));
                if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
                        if (errno == ENOENT || errno == EINTR)
                                continue;
                        break;
                }
                handle_one(l, &req);
        }
        if ((events & (EPOLLHUP | EPOLLERR)) && !readable(fd)) {
                /* no process uses its filter any more: the source goes
                 * before its fd closes (loop.h) */
                loop_remove(l->src);
                l->src = NULL;
                listener_unlink(l);
        }
        return 0;
}

static void tag_of(const struct sinfo_inst *i, struct hold_tag *ret) {
        memset(ret, 0, sizeof(*ret));
        snprintf(ret->name, sizeof(ret->name), "%s", i->cfg->name);
        ret->init_pid = (int32_t) i->init_pid;
        ret->init_start = i->init_start;
}

/* A copy to the holder, so that the daemon's death loses no listener. */
static int listener_hold(struct sinfo_listener *l) {
        struct hold_tag tag;
        tag_of(l->inst, &tag);
        int r = hold_give(l->inst->s->vsd->hold, &tag, l->fd);
        l->held = r == 0;
        return r;
}

static int listener_new(struct sinfo_inst *i, int fd, bool held) {
        struct sinfo_listener *l = calloc(1, sizeof(*l));
        if (!l) {
                safe_close(&fd);
                return -ENOMEM;
        }
        *l = (struct sinfo_listener){ .inst = i, .fd = fd, .held = held };
        int r = loop_add_fd(i->s->vsd->loop, fd, EPOLLIN, on_listener, l, &l->src);
        if (r < 0) {
                listener_free(l);
                return r;
        }
        l->next = i->listeners;
        i->listeners = l;
        if (!held)
                (void) listener_hold(l); /* not now: sinfo_hold_flush, when the holder can */
        return 0;
}

int sinfo_listener_add(struct sinfo *s, const char *name, int fd) {
        struct sinfo_inst *i = find(s, name, NULL);
        if (!i) {
                safe_close(&fd);
                return -ESRCH;
        }
        return listener_new(i, fd, false);
}

int sinfo_listener_adopt(struct sinfo *s, const struct hold_tag *tag, int fd) {
        struct sinfo_inst *i = find(s, tag->name, NULL);
        /* another init by that name: its processes are gone, and the
         * holder drops the listener when the kernel says so */
        if (!i || i->init_pid != (pid_t) tag->init_pid || i->init_start != tag->init_start) {
                safe_close(&fd);
                return -ESRCH;
        }
        return listener_new(i, fd, true);
}

void sinfo_hold_flush(struct sinfo *s) {
        for (size_t k = 0; s && k < s->n_inst; k++)
                for (struct sinfo_listener *l = s->inst[k]->listeners; l; l = l->next)
                        if (!l->held && listener_hold(l) < 0)
                                return; /* no room, or no holder: called again when there is */
}

void sinfo_hold_lost(struct sinfo *s) {
        for (size_t k = 0; s && k < s->n_inst; k++)
                for (struct sinfo_listener *l = s->inst[k]->listeners; l; l = l->next)
                        l->held = false;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/view/sysinfo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/conf/settings.h"
#include "vsd/core/daemon.h"
#include "vsd/core/loop.h"

/* The kernel's load sampling period. */
#define LOAD_PERIOD_MS 5000
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
        struct sinfo_listener *next;
};

struct sinfo_inst {
        struct sinfo *s;
        const struct inst_config *cfg; /* borrowed from the registry */
        pid_t init_pid;
        int64_t boot_offset_ns;
        struct cg_counter_fds *counters; /* held open: a call reads them with pread */
        struct sinfo_listener *listeners;
        uint64_t avenrun[3];
        struct loop_source *load_timer; /* NULL until its first call */
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

/* Is the task running or in uninterruptible sleep, as the kernel's load
 * counts?  From /proc/PID/task/TID/stat: the state follows the last ')'. */
static bool task_active(int taskdir, const char *tid) {
        char path[64], buf[256];
        snprintf(path, sizeof(path), "%s/stat", tid);
        _cleanup_close_ int fd = openat(taskdir, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        const char *p = strrchr(buf, ')');
        return p && p[1] == ' ' && (p[2] == 'R' || p[2] == 'D');
}

static int count_active(pid_t pid, void *userdata) {
        unsigned *active = userdata;
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
                if (de->d_name[0] != '.' && task_active(dirfd(d), de->d_name))
                        (*active)++;
        closedir(d);
        return 0;
}

static void load_sample(struct sinfo_inst *i) {
        unsigned active = 0;
        if (cg_for_each_process(i->s->vsd->cg, i->cfg->name, count_active, &active) < 0)
                return; /* keep the last figures */
        static const uint64_t exps[3] = { SINFO_EXP_1, SINFO_EXP_5, SINFO_EXP_15 };
        for (int k = 0; k < 3; k++)
                i->avenrun[k] = sinfo_calc_load(i->avenrun[k], exps[k], active);
}

static void load_timer_cb(struct loop_source *src, void *userdata) {
        struct sinfo_inst *i = userdata;
        i->load_timer = NULL;
        load_sample(i);
        if (loop_add_timer(i->s->vsd->loop, LOAD_PERIOD_MS, load_timer_cb, i, &i->load_timer) < 0)
                log_warn("Failed to arm the load timer of %s, ignoring: its load stays as it is", i->cfg->name);
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
        free(i);
}

void sinfo_free(struct sinfo *s) {
        if (!s)
                return;
        for (size_t k = 0; k < s->n_inst; k++)
                inst_free(s->inst[k]);
        free(s->inst);
        free(s);
}

int sinfo_instance_add(struct sinfo *s, const struct inst_config *cfg, pid_t init_pid) {
        if (!s)
                return 0;
        sinfo_instance_remove(s, cfg->name);
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
        *i = (struct sinfo_inst){ .s = s, .cfg = cfg, .init_pid = init_pid, .boot_offset_ns = read_boot_offset(init_pid) };
        s->inst[s->n_inst++] = i;
        return 0;
}

void sinfo_instance_remove(struct sinfo *s, const char *name) {
        size_t k;
        struct sinfo_inst *i = find(s, name, &k);
        if (!i)
                return;
        s->inst[k] = s->inst[--s->n_inst];
        inst_free(i);
}

/* ---- answering ---------------------------------------------------------- */

static int answer(int fd, const struct seccomp_notif *req, int error, bool cont) {
        struct seccomp_notif_resp resp = { .id = req->id };
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
static int write_answer(int fd, const struct seccomp_notif *req, const void *buf, size_t len) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%u/mem", req->pid);
        _cleanup_close_ int mem = open(path, O_RDWR | O_CLOEXEC);
        if (mem < 0)
                return -errno;
        uint64_t id = req->id;
        if (ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0)
                return -errno;
        uint64_t addr = req->data.args[0];
        if (addr == 0 || addr + len < addr)
                return -EFAULT;
        ssize_t n = pwrite(mem, buf, len, (off_t) addr);
        if (n != (ssize_t) len)
                return -EFAULT; /* EIO: nothing mapped there */
        return 0;
}

static void handle_one(struct sinfo_listener *l, struct seccomp_notif *req) {
        struct sinfo_inst *i = l->inst;
        bool native = req->data.arch == AUDIT_ARCH_X86_64 &&
                      (req->data.nr & ~X32_SYSCALL_BIT) == (int) SYS_sysinfo;
        if (!native) {
                /* the 32-bit struct is not ours to write: the kernel's answer */
                (void) answer(l->fd, req, 0, true);
                return;
        }
        if (!i->load_timer) {
                /* its first call: start counting its load (from 0, as the
                 * kernel's does at boot) */
                load_sample(i);
                if (loop_add_timer(i->s->vsd->loop, LOAD_PERIOD_MS, load_timer_cb, i, &i->load_timer) < 0)
                        i->load_timer = NULL;
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
        r = write_answer(l->fd, req, &out, sizeof(out));
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

int sinfo_listener_add(struct sinfo *s, const char *name, int fd) {
        struct sinfo_inst *i = find(s, name, NULL);
        if (!i) {
                safe_close(&fd);
                return -ESRCH;
        }
        struct sinfo_listener *l = calloc(1, sizeof(*l));
        if (!l) {
                safe_close(&fd);
                return -ENOMEM;
        }
        *l = (struct sinfo_listener){ .inst = i, .fd = fd };
        int r = loop_add_fd(s->vsd->loop, fd, EPOLLIN, on_listener, l, &l->src);
        if (r < 0) {
                listener_free(l);
                return r;
        }
        l->next = i->listeners;
        i->listeners = l;
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/core/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/core/daemon.h"
#include "vsd/core/events.h"
#include "vsd/core/kmsg.h"
#include "vsd/core/loop.h"

/* A /dev/kmsg record is at most about 1 KiB of text plus its dictionary. */
#define KMSG_RECORD_MAX 8192

/* The victim announced by an "oom-kill:" line, completed by the "Killed
 * process" line that follows it. */
struct victim {
        bool valid;
        pid_t pid, nspid;
        char comm[KMSG_COMM_MAX];
        char instance[VS_NAME_MAX + 1];
        char constraint[32];
};

/* What the monitor knows of an instance with processes, from
 * mon_instance_started() to mon_instance_exited(): the cgroup's OOM-kill
 * and pids-limit counters as far as events have told them. */
struct mon_inst {
        const struct inst_config *cfg; /* the instance's, borrowed: its name and limits */
        uint64_t oom_told, oom_unexplained, pids_told;
};

struct monitor {
        struct vsd *vsd;
        struct mon_inst *inst;
        size_t n_inst, cap_inst;
        int kmsg_fd;
        struct loop_source *kmsg_src;
        struct loop_source *sweep;
        struct victim pending;
};

static struct mon_inst *find(struct monitor *m, const char *name) {
        for (size_t k = 0; k < m->n_inst; k++)
                if (streq(m->inst[k].cfg->name, name))
                        return &m->inst[k];
        return NULL;
}

/* The instance with processes whose cgroup the path is in, or NULL. */
static struct mon_inst *ours(struct monitor *m, const char *cgroup_path, char *name, size_t len) {
        if (kmsg_instance_of(cgroup_path, m->vsd->set.cgroup_parent, name, len) < 0)
                return NULL;
        return find(m, name);
}

/* Name and innermost pid of a process that is being killed: read now, while
 * it still exists (it may be a zombie already, which still has both). */
static pid_t ns_pid_of(pid_t pid, const char *comm) {
        char path[64], name[KMSG_COMM_MAX];
        _cleanup_free_ char *text = NULL;
        pid_t nspid;
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        if (vs_read_file(path, 16384, &text, NULL) < 0 || kmsg_parse_status(text, name, sizeof(name), &nspid) < 0)
                return 0;
        /* a pid reused this fast is unlikely; a different name says so */
        return strncmp(name, comm, 15) == 0 ? nspid : 0;
}

/* "CONSTRAINT_MEMCG" -> "memcg"; a system-wide OOM is "system". */
static void constraint_name(const char *k, char *buf, size_t len) {
        const char *c = strncmp(k, "CONSTRAINT_", 11) == 0 ? k + 11 : k;
        if (streq(c, "NONE"))
                c = "system";
        size_t n = 0;
        for (; c[n] && n + 1 < len; n++)
                buf[n] = (char) (c[n] >= 'A' && c[n] <= 'Z' ? c[n] - 'A' + 'a' : c[n]);
        buf[n] = '\0';
}

/* ---- the counters -------------------------------------------------------- */

static void check_counters(struct monitor *m, struct mon_inst *i, bool final) {
        uint64_t oom, pids;
        if (cg_fail_counters(m->vsd->cg, i->cfg->name, &oom, &pids) < 0)
                return;
        if (oom > i->oom_told) {
                uint64_t surplus = oom - i->oom_told;
                /* The counter moves before the kernel prints the victim: give
                 * the log one sweep to explain it before reporting it bare. */
                if (final || i->oom_unexplained > 0) {
                        ev_emit(m->vsd->events, i->cfg->name, "oom-kill",
                                json_pack("{s:I, s:I, s:I, s:s}", "count", (json_int_t) surplus, "memory_limit",
                                          (json_int_t) i->cfg->memory, "oom_kills", (json_int_t) oom, "source",
                                          "counter"));
                        i->oom_told = oom;
                        i->oom_unexplained = 0;
                } else
                        i->oom_unexplained = surplus;
        } else
                i->oom_unexplained = 0;
        if (pids > i->pids_told) {
                ev_emit(m->vsd->events, i->cfg->name, "pids-max",
                        json_pack("{s:I, s:I, s:I}", "refused", (json_int_t) (pids - i->pids_told), "total",
                                  (json_int_t) pids, "pids_limit", (json_int_t) i->cfg->pids));
                i->pids_told = pids;
        }
}

void mon_instance_started(struct monitor *m, const struct inst_config *cfg) {
        if (!m)
                return;
        struct mon_inst *i = find(m, cfg->name);
        if (!i) {
                if (m->n_inst == m->cap_inst) {
                        size_t cap = m->cap_inst ? m->cap_inst * 2 : 16;
                        struct mon_inst *n = realloc(m->inst, cap * sizeof(*n));
                        if (!n)
                                return; /* then this one is not watched */
                        m->inst = n;
                        m->cap_inst = cap;
                }
                i = &m->inst[m->n_inst++];
        }
        uint64_t oom = 0, pids = 0;
        (void) cg_fail_counters(m->vsd->cg, cfg->name, &oom, &pids);
        *i = (struct mon_inst){ .cfg = cfg, .oom_told = oom, .pids_told = pids };
}

/* ---- the kernel log ------------------------------------------------------ */

static void report_kill(struct monitor *m, struct mon_inst *i, const struct victim *vi) {
        uint64_t oom = 0, pids = 0;
        (void) cg_fail_counters(m->vsd->cg, i->cfg->name, &oom, &pids);
        json_t *d = json_pack("{s:i}", "pid", (int) vi->pid);
        if (!d)
                return;
        if (vi->nspid > 0)
                json_object_set_new(d, "nspid", json_integer(vi->nspid));
        json_object_set_new(d, "command", json_string(vi->comm));
        json_object_set_new(d, "constraint", json_string(vi->constraint));
        json_object_set_new(d, "memory_limit", json_integer((json_int_t) i->cfg->memory));
        json_object_set_new(d, "oom_kills", json_integer((json_int_t) oom));
        json_object_set_new(d, "source", json_string("kmsg"));
        ev_emit(m->vsd->events, i->cfg->name, "oom-kill", d);
        /* explained: the counter sweep must not report this one again */
        i->oom_told++;
        if (i->oom_unexplained > 0)
                i->oom_unexplained--;
}

static void on_oom_kill_line(struct monitor *m, const struct kmsg_oom_kill *k) {
        struct victim vi = { .valid = true, .pid = k->pid };
        /* the victim's own cgroup decides whose it is: an instance can lose
         * a process to a system-wide OOM as well as to its own limit */
        if (!ours(m, k->task_memcg, vi.instance, sizeof(vi.instance))) {
                m->pending.valid = false;
                return;
        }
        snprintf(vi.comm, sizeof(vi.comm), "%s", k->task);
        constraint_name(k->constraint, vi.constraint, sizeof(vi.constraint));
        vi.nspid = ns_pid_of(k->pid, k->task);
        m->pending = vi;
}

static void on_killed_line(struct monitor *m, pid_t pid, const char *comm, bool memcg_oom) {
        struct victim vi;
        if (m->pending.valid && m->pending.pid == pid)
                vi = m->pending;
        else {
                /* the "oom-kill:" summary is rate-limited by the kernel; the
                 * kill line is not: find the victim's cgroup while it exists */
                char path[64], cg[KMSG_PATH_MAX];
                _cleanup_free_ char *text = NULL;
                vi = (struct victim){ .valid = true, .pid = pid };
                snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
                if (vs_read_file(path, 65536, &text, NULL) < 0 || kmsg_parse_proc_cgroup(text, cg, sizeof(cg)) < 0 ||
                    !ours(m, cg, vi.instance, sizeof(vi.instance)))
                        return;
                snprintf(vi.comm, sizeof(vi.comm), "%s", comm);
                snprintf(vi.constraint, sizeof(vi.constraint), "%s", memcg_oom ? "memcg" : "system");
                vi.nspid = ns_pid_of(pid, comm);
        }
        m->pending.valid = false;
        struct mon_inst *i = find(m, vi.instance);
        if (i)
                report_kill(m, i, &vi);
}

static void on_record(struct monitor *m, const char *buf, size_t len) {
        struct kmsg_record rec;
        if (kmsg_parse_record(buf, len, &rec) < 0)
                return;
        /* facility 0 is the kernel's own: user space writing to /dev/kmsg
         * cannot forge it */
        if (rec.prio >> 3 != 0)
                return;
        struct kmsg_oom_kill k;
        pid_t pid;
        bool memcg;
        char comm[KMSG_COMM_MAX], path[KMSG_PATH_MAX], name[VS_NAME_MAX + 1];
        if (kmsg_parse_oom_kill(rec.msg, rec.msg_len, &k) > 0)
                on_oom_kill_line(m, &k);
        else if (kmsg_parse_killed(rec.msg, rec.msg_len, &pid, comm, sizeof(comm), &memcg) > 0)
                on_killed_line(m, pid, comm, memcg);
        else if (kmsg_parse_pids_rejected(rec.msg, rec.msg_len, path, sizeof(path)) > 0) {
                struct mon_inst *i = ours(m, path, name, sizeof(name));
                if (i)
                        check_counters(m, i, false);
        }
}

/* Read every record that is there.  Returns < 0 when the log cannot be
 * read any more. */
static int drain(struct monitor *m) {
        char buf[KMSG_RECORD_MAX];
        if (m->kmsg_fd < 0)
                return 0;
        for (;;) {
                ssize_t n = read(m->kmsg_fd, buf, sizeof(buf) - 1);
                if (n > 0) {
                        on_record(m, buf, (size_t) n);
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                /* EPIPE: the ring overwrote records we had not read; the next
                 * read continues with the oldest one left (the counters
                 * cover what was lost) */
                if (n < 0 && errno == EPIPE)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                return -EIO;
        }
}

static int on_kmsg(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct monitor *m = userdata;
        if (drain(m) < 0) {
                /* the counters still work */
                m->kmsg_src = NULL;
                safe_close(&m->kmsg_fd);
                return -1;
        }
        return 0;
}

void mon_instance_exited(struct monitor *m, const char *name) {
        if (!m)
                return;
        (void) drain(m);
        struct mon_inst *i = find(m, name);
        if (!i)
                return;
        check_counters(m, i, true);
        *i = m->inst[--m->n_inst];
}

/* ---- setup --------------------------------------------------------------- */

static void on_sweep(struct loop_source *s, void *userdata) {
        struct monitor *m = userdata;
        m->sweep = NULL;
        for (size_t k = 0; k < m->n_inst; k++)
                check_counters(m, &m->inst[k], false);
        (void) loop_add_timer(m->vsd->loop, MON_SWEEP_MS, on_sweep, m, &m->sweep);
}

int mon_new(struct vsd *v, struct monitor **ret, vs_error *err) {
        struct monitor *m = calloc(1, sizeof(*m));
        if (!m)
                return vs_err(err, ENOMEM, "watch OOM kills");
        m->vsd = v;
        m->kmsg_fd = -EBADF;
        int r = loop_add_timer(v->loop, MON_SWEEP_MS, on_sweep, m, &m->sweep);
        if (r < 0) {
                free(m);
                return vs_err(err, -r, "watch OOM kills");
        }
        int result = 0;
        _cleanup_close_ int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        /* only what happens from now on: the past is not ours to report */
        if (fd < 0 || lseek(fd, 0, SEEK_END) < 0)
                result = vs_err(err, errno, "read the kernel log /dev/kmsg (OOM victims will not be named)");
        else if ((r = loop_add_fd(v->loop, fd, EPOLLIN, on_kmsg, m, &m->kmsg_src)) < 0)
                result = vs_err(err, -r, "watch the kernel log /dev/kmsg (OOM victims will not be named)");
        else
                m->kmsg_fd = TAKE_FD(fd);
        *ret = m;
        return result < 0 ? 1 : 0;
}

void mon_free(struct monitor *m) {
        if (!m)
                return;
        loop_remove(m->kmsg_src);
        loop_remove(m->sweep);
        safe_close(&m->kmsg_fd);
        free(m->inst);
        free(m);
}

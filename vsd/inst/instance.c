/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/inst/instance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/inst/console.h"
#include "vsd/inst/idrange.h"
#include "vsd/core/events.h"
#include "vsd/core/loop.h"
#include "vsd/view/holder.h"
#include "vsd/view/lxcfs.h"
#include "vsd/view/sysinfo.h"
#include "vsd/view/view.h"
#include "vsd/core/monitor.h"
#include "vsd/netw/network.h"
#include "vsd/start/start.h"
#include "vsd/storage/storage.h"

/* How long after init died we keep retrying to remove the cgroup (a process
 * that was being moved in, or one in uninterruptible sleep, delays it). */
#define REAP_RETRY_MS 10
#define REAP_MAX_TRIES 500

const char *inst_state_name(enum inst_state s) {
        static const char *const names[] = {
                [INST_STOPPED] = "stopped", [INST_RUNNING] = "running", [INST_STOPPING] = "stopping",
                [INST_PAUSED] = "paused",   [INST_BROKEN] = "broken", [INST_CHECKPOINTED] = "checkpointed",
        };
        return names[s];
}

static void inst_path(const struct instance *i, const char *leaf, char *buf, size_t len) {
        snprintf(buf, len, "%s/instances/%s%s%s", i->vsd->set.root, i->cfg.name, leaf ? "/" : "", leaf ? leaf : "");
}

static void state_path(const struct instance *i, char *buf, size_t len) {
        snprintf(buf, len, "%s/%s.state", i->vsd->set.run_dir, i->cfg.name);
}

void inst_state_file(const struct instance *i, char *buf, size_t len) {
        state_path(i, buf, len);
}

void inst_dir_path(const struct instance *i, char *buf, size_t len) {
        inst_path(i, NULL, buf, len);
}

bool inst_has_checkpoint(const struct instance *i) {
        char path[700];
        inst_path(i, INST_CHECKPOINT_DIR "/" INST_CHECKPOINT_META, path, sizeof(path));
        return access(path, F_OK) == 0;
}

int inst_template_dir(struct vsd *v, const char *template_name, char *buf, size_t len) {
        snprintf(buf, len, "%s/templates/%s", v->set.root, template_name);
        return 0;
}

static struct cg_limits limits_of(const struct inst_config *c) {
        struct cg_limits l = {
                .memory_max = c->memory,
                .cpu_millis = c->cpu_millis,
                .pids_max = c->pids,
                .memory_high = c->memory_soft,
                .swap_max = c->swap,
                .cpu_weight = c->cpu_weight,
                .io_weight = c->io_weight,
        };
        snprintf(l.cpuset, sizeof(l.cpuset), "%s", c->cpuset);
        memcpy(l.io_max, c->io.dev, sizeof(l.io_max));
        l.n_io_max = c->io.n;
        return l;
}

/* ---- state ------------------------------------------------------------- */

/* Every change of a known instance's state goes through here: the modules
 * that keep a record of the instances whose init is up (the view) hear of
 * it. */
static void set_state(struct instance *i, enum inst_state s) {
        bool was_up = inst_is_up(i);
        i->state = s;
        if (inst_is_up(i) && !was_up) {
                (void) lxcfs_instance_add(i->vsd->lxcfs, i->cfg.name, i->pid, i->pidfd);
                (void) sinfo_instance_add(i->vsd->sinfo, &i->cfg, i->pid);
        } else if (!inst_is_up(i) && was_up) {
                lxcfs_instance_remove(i->vsd->lxcfs, i->cfg.name);
                sinfo_instance_remove(i->vsd->sinfo, i->cfg.name);
        }
}

bool inst_any_active(struct vsd *v) {
        for (size_t k = 0; k < v->n_inst; k++)
                if (inst_is_active(v->inst[k]))
                        return true;
        return false;
}

/* ---- events ------------------------------------------------------------ */

static void emit(struct instance *i, const char *type, json_t *details) {
        ev_emit(i->vsd->events, i->cfg.name, type, details);
}

void inst_emit(struct instance *i, const char *type, json_t *details) {
        emit(i, type, details);
}

int inst_check_idle(const struct instance *i, vs_error *err) {
        if (i->busy[0])
                return vs_err_msg(err, EBUSY, "instance '%s' is busy: %s", i->cfg.name, i->busy);
        return 0;
}

int inst_release_disk(struct instance *i, vs_error *err) {
        if (inst_is_active(i))
                return 0;
        char dir[512];
        inst_path(i, NULL, dir, sizeof(dir));
        return stor_release(i->vsd, dir, &i->cfg, err);
}

void inst_frozen_marker(const struct instance *i, char *buf, size_t len) {
        snprintf(buf, len, "%s/%s.frozen", i->vsd->set.run_dir, i->cfg.name);
}

static const char *stop_how_name(const struct instance *i) {
        switch (i->stop_how) {
        case STOP_HOW_HALT:
                return "halt";
        case STOP_HOW_KILL:
                return "killed";
        case STOP_HOW_CHECKPOINT:
                return "checkpointed";
        case STOP_HOW_TIMEOUT:
                return "killed-after-timeout";
        default:
                break;
        }
        /* the instance's own decision (on_init_exit) */
        if (i->exit_reboot == SIGINT)
                return "halted-inside";
        if (i->exit_reboot == SIGHUP)
                return "rebooted-inside";
        return "died";
}

/* How init ended, as event fields. */
static json_t *exit_json(const struct instance *i) {
        json_t *j = json_object();
        if (!j || !i->exit_known)
                return j;
        if (i->exit_signal > 0) {
                char name[32];
                const char *abbrev = sigabbrev_np(i->exit_signal);
                snprintf(name, sizeof(name), "SIG%s", abbrev ? abbrev : "?");
                json_object_set_new(j, "signal", json_string(name));
        } else
                json_object_set_new(j, "exit_status", json_integer(i->exit_status));
        return j;
}

/* ---- registry ---------------------------------------------------------- */

struct instance *inst_find(struct vsd *v, const char *name) {
        size_t lo = 0, hi = v->n_inst;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(v->inst[mid]->cfg.name, name);
                if (c == 0)
                        return v->inst[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

int inst_lookup(struct vsd *v, const char *name, struct instance **ret, vs_error *err) {
        struct instance *i = inst_find(v, name);
        if (!i)
                return vs_err_msg(err, ENOENT, "no such instance '%.64s'", name);
        *ret = i;
        return 0;
}

static int registry_add(struct vsd *v, struct instance *i) {
        if (v->n_inst == v->cap_inst) {
                size_t cap = v->cap_inst ? v->cap_inst * 2 : 16;
                struct instance **n = realloc(v->inst, cap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                v->inst = n;
                v->cap_inst = cap;
        }
        size_t pos = 0;
        while (pos < v->n_inst && strcmp(v->inst[pos]->cfg.name, i->cfg.name) < 0)
                pos++;
        memmove(v->inst + pos + 1, v->inst + pos, (v->n_inst - pos) * sizeof(*v->inst));
        v->inst[pos] = i;
        v->n_inst++;
        return 0;
}

/* Out of the registry and of every module's records (create aborted,
 * destroy). */
static void registry_remove(struct vsd *v, struct instance *i) {
        netw_remove(v, i->net);
        i->net = NULL;
        for (size_t k = 0; k < v->n_inst; k++)
                if (v->inst[k] == i) {
                        memmove(v->inst + k, v->inst + k + 1, (v->n_inst - k - 1) * sizeof(*v->inst));
                        v->n_inst--;
                        return;
                }
}

static struct instance *inst_alloc(struct vsd *v) {
        struct instance *i = calloc(1, sizeof(*i));
        if (!i)
                return NULL;
        i->vsd = v;
        i->pidfd = -EBADF;
        return i;
}

static void inst_release_runtime(struct instance *i) {
        loop_remove(i->pidfd_src);
        loop_remove(i->stop_timer);
        loop_remove(i->reap_timer);
        i->pidfd_src = i->stop_timer = i->reap_timer = NULL;
        safe_close(&i->pidfd);
        console_free(i->console);
        i->console = NULL;
}

static void inst_free(struct instance *i) {
        if (!i)
                return;
        cg_counter_fds_free(i->counters);
        inst_release_runtime(i);
        free(i);
}

void inst_registry_free(struct vsd *v) {
        for (size_t k = 0; k < v->n_inst; k++)
                inst_free(v->inst[k]);
        free(v->inst);
        v->inst = NULL;
        v->n_inst = v->cap_inst = 0;
}

/* ---- runtime state ----------------------------------------------------- */

static int state_write(const char *path, pid_t pid, unsigned long long starttime, int64_t started_at, bool paused,
                       vs_error *err) {
        json_t *j = json_pack("{s:i, s:I, s:I, s:b}", "pid", (int) pid, "starttime", (json_int_t) starttime,
                              "started_at", (json_int_t) started_at, "paused", paused);
        if (!j)
                return vs_err(err, ENOMEM, "format %s", path);
        _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!text)
                return vs_err(err, ENOMEM, "format %s", path);
        int r = vs_write_replace(path, text, strlen(text), 0600);
        if (r < 0)
                return vs_err(err, -r, "write %s", path);
        return 0;
}

int inst_state_write(const char *path, pid_t pid, unsigned long long starttime, int64_t started_at, vs_error *err) {
        return state_write(path, pid, starttime, started_at, false, err);
}

static int state_save(struct instance *i, vs_error *err) {
        char path[512];
        state_path(i, path, sizeof(path));
        return state_write(path, i->pid, i->starttime, i->started_at, i->state == INST_PAUSED, err);
}

static void state_remove(struct instance *i) {
        char path[512];
        state_path(i, path, sizeof(path));
        (void) unlink(path);
}

/* ---- the record of an instance that should run (boot.h) ---------------- */

static void running_path(const struct instance *i, char *buf, size_t len) {
        inst_path(i, "running", buf, len);
}

bool inst_was_running(const struct instance *i) {
        char path[512];
        running_path(i, path, sizeof(path));
        return access(path, F_OK) == 0;
}

void inst_prefetch(struct instance *i, bool coming) {
        char dir[512];
        inst_path(i, NULL, dir, sizeof(dir));
        if (!coming) {
                stor_prefetch_drop(i->vsd, dir, &i->cfg);
                return;
        }
        if (i->state != INST_STOPPED)
                return;
        int r = stor_prefetch(i->vsd, dir, &i->cfg);
        if (r < 0)
                log_debug("Instance %s: its disk was not prepared ahead of its start (%s): the start does it",
                          i->cfg.name, strerror(-r));
}

/* Made and removed durably (the directory synced): a host that loses
 * power right after a start must bring the instance back, and one that
 * loses it right after a stop must not. */
static void running_mark(struct instance *i, bool on) {
        char path[512], dir[512];
        running_path(i, path, sizeof(path));
        inst_path(i, NULL, dir, sizeof(dir));
        if (on) {
                /* it ran here: a move's copy no more (INST_INCOMING) */
                inst_incoming_clear(i);
                if (access(path, F_OK) == 0)
                        return;
                int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (fd < 0) {
                        log_warn("Instance %s: failed to record that it runs: %s, ignoring: with onboot auto it "
                                 "does not start after a reboot",
                                 i->cfg.name, strerror(errno));
                        return;
                }
                close(fd);
        } else if (unlink(path) < 0) {
                if (errno != ENOENT)
                        log_warn("Instance %s: failed to remove %s: %s, ignoring: with onboot auto it starts "
                                 "after a reboot",
                                 i->cfg.name, path, strerror(errno));
                return;
        }
        (void) vs_fsync_dir(dir);
}

bool inst_incoming(const struct instance *i) {
        char path[512];
        inst_path(i, INST_INCOMING, path, sizeof(path));
        return access(path, F_OK) == 0;
}

void inst_incoming_clear(struct instance *i) {
        char path[512], dir[512];
        inst_path(i, INST_INCOMING, path, sizeof(path));
        inst_path(i, NULL, dir, sizeof(dir));
        if (unlink(path) == 0)
                (void) vs_fsync_dir(dir);
}

void inst_incoming_recover(struct vsd *v) {
        for (size_t k = 0; k < v->n_inst;) {
                struct instance *i = v->inst[k];
                char path[512];
                inst_path(i, INST_INCOMING, path, sizeof(path));
                if (access(path, F_OK) < 0) {
                        k++;
                        continue;
                }
                if (!inst_is_down(i) || i->busy[0]) {
                        if (!inst_is_down(i))
                                running_mark(i, true);
                        k++;
                        continue;
                }
                vs_error err = { 0 };
                if (inst_destroy(i, &err) < 0) {
                        log_warn("Instance %s: the copy of a move here that never ran stays: %s", i->cfg.name, err.msg);
                        k++;
                } else
                        log_info("Instance %s: removed the copy of a move here that vsd's end cut short (it never ran "
                                 "here)",
                                 i->cfg.name);
        }
}

/* ---- stopping and reaping ---------------------------------------------- */

void inst_notify_waiters(struct instance *i, int result, const vs_error *err) {
        struct inst_waiter *w = i->waiters;
        i->waiters = NULL;
        while (w) {
                struct inst_waiter *next = w->next;
                w->next = NULL;
                w->done(w, result, err);
                w = next;
        }
}

void inst_waiter_cancel(struct instance *i, struct inst_waiter *w) {
        for (struct inst_waiter **p = &i->waiters; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        return;
                }
}

/* The instance is fully down: run what was asked to follow. */
static void stopped(struct instance *i) {
        vs_error err = { 0 };
        int r = 0;
        enum inst_after_stop then = i->after_stop;

        /* its processes saved by a checkpoint, whether this stop came from
         * it or the instance ran on after one (--leave-running) */
        set_state(i, inst_has_checkpoint(i) ? INST_CHECKPOINTED : INST_STOPPED);
        i->pid = 0;
        i->starttime = 0;
        i->started_at = 0;
        i->after_stop = AFTER_STOP_NOTHING;
        state_remove(i);
        /* a restart keeps it: it runs again at once */
        if (then != AFTER_STOP_START)
                running_mark(i, false);
        log_info("Instance %s %s", i->cfg.name, inst_state_name(i->state));
        json_t *how = exit_json(i);
        json_object_set_new(how, "how", json_string(stop_how_name(i)));
        emit(i, "stopped", how);
        bool rebooted = i->exit_reboot == SIGHUP && i->stop_how == STOP_HOW_NONE;
        i->stop_how = STOP_HOW_NONE;
        i->exit_known = false;
        i->exit_reboot = 0;

        if (then == AFTER_STOP_START) {
                r = inst_start(i, &err);
                /* nobody waits for a reboot asked for inside: the log says it */
                if (r < 0 && rebooted)
                        log_warn("Instance %s rebooted itself and did not start again: %s", i->cfg.name, err.msg);
                if (r < 0)
                        running_mark(i, false);
        } else if (then == AFTER_STOP_DESTROY) {
                r = inst_destroy(i, &err);
                if (r >= 0)
                        return; /* waiters were told by inst_destroy */
        }
        inst_notify_waiters(i, r, &err);
}

static void reap_retry(struct loop_source *s, void *userdata);

/* init is gone, so its pid namespace is gone (the kernel kills and reaps
 * every process in it before init's pidfd reports the exit) and with it the
 * mount namespace holding the instance's mounts and the network namespace.
 * What is left on the host is the cgroup, removed here. */
static void try_reap(struct instance *i) {
        vs_error err = { 0 };
        /* an open counter file would keep the removed cgroup's memory */
        cg_counter_fds_free(i->counters);
        i->counters = NULL;
        int r = cg_destroy(i->vsd->cg, i->cfg.name, &err);
        if (r == -EBUSY && i->reap_tries++ < REAP_MAX_TRIES) {
                /* something joined late (an exec racing the stop): kill it */
                (void) cg_kill(i->vsd->cg, i->cfg.name, SIGKILL, NULL);
                if (loop_add_timer(i->vsd->loop, REAP_RETRY_MS, reap_retry, i, &i->reap_timer) >= 0)
                        return;
        }
        if (r < 0)
                log_warn("Failed to remove cgroup of %s: %s, ignoring", i->cfg.name, err.msg);
        /* the namespace died with init and took eth0; its host side, the
         * firewall's port and forwards, routes and proxy entries are ours */
        set_state(i, INST_STOPPED);
        netw_release(i->vsd, i->net);
        /* init's mount namespace, and the overlay in it, went with it:
         * nothing holds the private layer any more */
        char dir[512];
        inst_path(i, NULL, dir, sizeof(dir));
        vs_err_clear(&err);
        if (stor_detach(i->vsd, dir, &i->cfg, &err) < 0)
                log_warn("Failed to detach the disk of %s: %s, ignoring", i->cfg.name, err.msg);
        stopped(i);
}

static void reap_retry(struct loop_source *s, void *userdata) {
        struct instance *i = userdata;
        i->reap_timer = NULL;
        try_reap(i);
}

static int on_init_exit(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct instance *i = userdata;
        siginfo_t si = { 0 };

        /* Only our own children can be waited for; an adopted init was
         * re-parented when the previous vsd died and is reaped by its new parent. */
        i->exit_known = false;
        i->exit_reboot = 0;
        if (waitid(P_PIDFD, (id_t) i->pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid != 0) {
                log_info("Instance %s: init %d exited (%s %d)", i->cfg.name, (int) i->pid,
                         si.si_code == CLD_EXITED ? "status" : "signal", si.si_status);
                i->exit_known = true;
                i->exit_status = si.si_code == CLD_EXITED ? si.si_status : 0;
                i->exit_signal = si.si_code == CLD_EXITED ? 0 : si.si_status;
                /* reboot(2) in the instance's pid namespace (busybox's halt,
                 * poweroff and reboot; systemd's once it holds CAP_SYS_BOOT)
                 * ends init as killed by SIGINT (halt, power off) or SIGHUP
                 * (restart).  Nothing else can: the kernel ignores both from
                 * anyone, the host included, while init leaves them at
                 * their default action.  So this is init's clean end, as an
                 * exit 0 was when the call failed: reported so, and a
                 * restart asked for is done. */
                if (si.si_code == CLD_KILLED && (si.si_status == SIGINT || si.si_status == SIGHUP)) {
                        i->exit_reboot = si.si_status;
                        i->exit_signal = 0;
                        i->exit_status = 0;
                }
        }
        if (i->exit_reboot == SIGHUP && i->stop_how == STOP_HOW_NONE && i->after_stop == AFTER_STOP_NOTHING)
                i->after_stop = AFTER_STOP_START;
        /* before the cgroup goes: its counters hold the last word on OOM
         * kills (an OOM kill may be what ended init) */
        mon_instance_exited(i->vsd->mon, i->cfg.name);
        if (i->stop_how == STOP_HOW_NONE && streq(stop_how_name(i), "died")) {
                json_t *d = exit_json(i);
                json_object_set_new(d, "pid", json_integer(i->pid));
                emit(i, "died", d);
        }
        /* remove the source before closing its fd: a start that follows
         * (restart) may get the same fd number for the new init's pidfd */
        loop_remove(i->pidfd_src);
        i->pidfd_src = NULL;
        loop_remove(i->stop_timer);
        i->stop_timer = NULL;
        safe_close(&i->pidfd);
        console_free(i->console);
        i->console = NULL;
        set_state(i, INST_STOPPING);
        i->reap_tries = 0;
        try_reap(i);
        return 0;
}

/* The stop timer's callback (s set, the loop has removed the source), or a
 * kill asked for at once (s NULL): then a halt's timer may still be armed,
 * and must go now, with its pointer to the instance, which a destroy may
 * free before the timer would fire. */
static void on_stop_timeout(struct loop_source *s, void *userdata) {
        struct instance *i = userdata;
        if (!s)
                loop_remove(i->stop_timer);
        i->stop_timer = NULL;
        if (i->stop_how != STOP_HOW_CHECKPOINT)
                i->stop_how = s ? STOP_HOW_TIMEOUT : STOP_HOW_KILL;
        if (s)
                log_warn("Instance %s did not halt in time, killing it", i->cfg.name);
        /* Killing init tears down its pid namespace; the cgroup-wide kill
         * catches anything that joined from outside (exec). */
        (void) cg_freeze(i->vsd->cg, i->cfg.name, false, NULL);
        if (i->pidfd >= 0)
                (void) syscall(SYS_pidfd_send_signal, i->pidfd, SIGKILL, NULL, 0);
        (void) cg_kill(i->vsd->cg, i->cfg.name, SIGKILL, NULL);
}

static int watch_init(struct instance *i, vs_error *err) {
        int r = loop_add_fd(i->vsd->loop, i->pidfd, EPOLLIN, on_init_exit, i, &i->pidfd_src);
        if (r < 0)
                return vs_err(err, -r, "watch init of %s", i->cfg.name);
        return 0;
}

int inst_stop(struct instance *i, uint64_t timeout_ms, bool kill, enum inst_after_stop then, struct inst_waiter *w,
              vs_error *err) {
        if (i->state == INST_BROKEN)
                return vs_err_msg(err, EINVAL, "instance '%s' is broken: %s", i->cfg.name, i->error);
        if (inst_check_idle(i, err) < 0)
                return -EBUSY;
        if (inst_is_down(i)) {
                if (then == AFTER_STOP_NOTHING && !kill)
                        return vs_err_msg(err, EALREADY, "instance '%s' is not running", i->cfg.name);
                return 1;
        }
        if (then != AFTER_STOP_NOTHING)
                i->after_stop = then;
        if (w) {
                w->next = i->waiters;
                i->waiters = w;
        }
        if (i->state == INST_STOPPING && !kill)
                return 0; /* already on its way down: just wait with the others */

        if (i->state == INST_PAUSED)
                (void) cg_freeze(i->vsd->cg, i->cfg.name, false, NULL); /* a frozen init cannot halt */
        set_state(i, INST_STOPPING);
        if (kill || i->pidfd < 0) {
                on_stop_timeout(NULL, i);
                return 0;
        }
        struct template_info t;
        int sig = SIGPWR;
        if (template_load(i->vsd->set.root, i->cfg.template_name, &t, NULL) >= 0)
                sig = t.halt_signal;
        i->stop_how = STOP_HOW_HALT;
        if (syscall(SYS_pidfd_send_signal, i->pidfd, sig, NULL, 0) < 0) {
                on_stop_timeout(NULL, i);
                return 0;
        }
        loop_remove(i->stop_timer);
        i->stop_timer = NULL;
        uint64_t ms = timeout_ms ? timeout_ms : i->cfg.stop_timeout_ms;
        int r = loop_add_timer(i->vsd->loop, ms, on_stop_timeout, i, &i->stop_timer);
        if (r < 0)
                on_stop_timeout(NULL, i);
        return 0;
}

/* ---- starting ---------------------------------------------------------- */

/*
 * A start in three steps with one undo path:
 *
 *   prepare  what the child will use, made by the daemon before the clone:
 *            the private layer (attached), the cgroup, the console, the
 *            view's mounts, the network namespace with eth0 configured;
 *   launch   the clone and the child's checklist (start_spawn), up to the
 *            exec of init;
 *   commit   the instance runs: its state, the watch on init, the state
 *            file, the monitor, the event.
 *
 * Every step notes in the struct what it made; start_undo() takes back
 * what is noted, in reverse order, whichever step failed.
 */
struct start_run {
        struct instance *i;
        char dir[512], lower[600], rootfs[600], logp[600];
        struct template_info t;
        struct stor_layer layer;
        bool attached, cgroup, networked, net_prepared, launched;
        int slave;                   /* the console's pty slave (the console owns it) */
        int netns;                   /* the prepared network namespace, for the child to join */
        struct start_net net;
        struct view_trees view_trees; /* the view's mounts, cloned for this start */
        const char *view;
        bool have_view_trees;
        vs_error warn;               /* what the child left alone, logged on success */
        int listener;                /* init's seccomp listener, for the sysinfo answers */
        bool restore;                /* a checkpoint's restore: CRIU makes init and its namespaces */
        char inner[16];              /* restore: the link's inside end, in our namespace */
};

/* The console's pty belongs to an unprivileged instance's root: init and
 * getty open /dev/console, which is this pty, as root inside, who is no
 * owner of a file of the host's root. */
static void console_own(struct instance *i, int slave) {
        if (slave < 0 || inst_privileged(i->cfg.security.privileged))
                return;
        uid_t id = (uid_t) i->cfg.security.id_base;
        if (fchown(slave, id, id) < 0)
                log_warn("Failed to give the console of %s to its root: %s, ignoring", i->cfg.name, strerror(errno));
}

static void hold_tag_of(const struct instance *i, struct hold_tag *ret) {
        memset(ret, 0, sizeof(*ret));
        snprintf(ret->name, sizeof(ret->name), "%s", i->cfg.name);
        ret->init_pid = (int32_t) i->pid;
        ret->init_start = i->starttime;
}

/* A copy of the console's master to the holder: the daemon's death then
 * leaves the pty alive, read by the holder, for the next daemon. */
static int console_hold_now(struct instance *i) {
        struct hold_tag tag;
        if (!i->console || i->pidfd < 0)
                return 0;
        hold_tag_of(i, &tag);
        return console_hold(i->console, i->vsd->hold, &tag, i->pidfd);
}

static int start_prepare(struct start_run *s, vs_error *err) {
        struct instance *i = s->i;
        struct vsd *v = i->vsd;
        struct cg_limits lim = limits_of(&i->cfg);
        int r = template_load(v->set.root, i->cfg.template_name, &s->t, err);
        if (r < 0)
                return r;
        inst_path(i, NULL, s->dir, sizeof(s->dir));
        inst_template_dir(v, s->t.name, s->lower, sizeof(s->lower));
        strncat(s->lower, "/rootfs", sizeof(s->lower) - strlen(s->lower) - 1);
        snprintf(s->rootfs, sizeof(s->rootfs), "%s/rootfs", s->dir);
        snprintf(s->logp, sizeof(s->logp), "%s/console.log", s->dir);

        /* the private layer is attached before the clone: the child's
         * overlay reaches it through the fd table it inherits (or attaches
         * it in its own mount namespace first: struct stor_layer) */
        r = stor_attach(v, s->dir, &i->cfg, &s->layer, err);
        if (r < 0)
                return r;
        s->attached = true;
        /* a clone's first start: its own machine id */
        r = stor_fresh_identity(s->dir, s->lower, &s->layer, err);
        if (r < 0)
                return r;
        r = cg_create(v->cg, i->cfg.name, &lim, err);
        if (r < 0)
                return r;
        s->cgroup = true;
        if (!inst_privileged(i->cfg.security.privileged)) {
                r = cg_delegate(v->cg, i->cfg.name, (uid_t) i->cfg.security.id_base, (gid_t) i->cfg.security.id_base,
                                err);
                if (r < 0)
                        return r;
        }
        r = console_open(v, s->logp, v->set.console_log_size, &i->console, &s->slave, err);
        if (r < 0)
                return r;
        console_own(i, s->slave);
        s->networked = netw_plan(v, &i->cfg, &s->net);
        /* the view's mounts cloned here, from fds held open: no path walk
         * through lxcfs's FUSE mount on the start path */
        s->view = lxcfs_view(v->lxcfs);
        const int *view_fds = s->restore ? NULL : lxcfs_view_fds(v->lxcfs);
        if (view_fds) {
                view_clone_trees(s->view, view_fds, &s->view_trees);
                s->have_view_trees = true;
        }
        /* vsd's own files (loadavg, the CPU list), whether lxcfs runs or not */
        vs_error verr = { 0 };
        if (sinfo_files_prepare(v->sinfo, &i->cfg, s->view_trees.own, &verr) < 0)
                log_warn("Instance %s: %s, ignoring: it sees the kernel's /proc/loadavg and CPU list", i->cfg.name,
                         verr.msg);
        if (s->networked && s->restore) {
                /* CRIU makes the namespace and moves the inside end in */
                r = netw_prepare_restore(v, i->net, s->inner, err);
                if (r < 0)
                        return r;
                s->net_prepared = true;
        } else if (s->networked) {
                /* an unprivileged instance's link is made in its own
                 * namespace, after the clone (start_net_move_in) */
                r = netw_prepare(v, i->net, &s->net, inst_privileged(i->cfg.security.privileged), &s->netns, err);
                if (r < 0)
                        return r;
                s->net_prepared = true;
        }
        return 0;
}

static int start_net_move_in(void *data, int child_netns, vs_error *err) {
        struct start_run *s = data;
        return netw_move_in(s->i->vsd, s->i->net, &s->net, child_netns, err);
}

static int start_launch(struct start_run *s, vs_error *err) {
        struct instance *i = s->i;
        struct vsd *v = i->vsd;
        char *const argv[] = { s->t.init, NULL };
        const struct stor_layer *layer = &s->layer;
        bool userns = !inst_privileged(i->cfg.security.privileged);
        struct start_spec spec = {
                .name = i->cfg.name,
                .lower = s->lower,
                .upper = layer->mount_fd >= 0 ? layer->ovl_upper : layer->upper,
                .work = layer->mount_fd >= 0 ? layer->ovl_work : layer->work,
                .layer_fd = layer->fd,
                .layer_at = layer->mount_fd >= 0 ? layer->mount_at : NULL,
                .rootfs = s->rootfs,
                .init_argv = argv,
                .console = s->slave,
                .cg = v->cg,
                .nofile = (unsigned long) i->cfg.nofile,
                .view = s->view,
                .view_trees = &s->view_trees, /* lxcfs's copies are -EBADF without it */
                .time_ns = v->kern.time_ns,
                .time_ns_setns = v->kern.time_ns && !v->kern.exec_enters_time_ns,
                .rlimits = &i->cfg.rlimits,
                .net = s->networked ? &s->net : NULL,
                .join_netns = s->networked && !userns,
                .netns_fd = s->netns,
                .cgroup_fs = v->cg ? cg_instance_fs(v->cg) : CG_FS_NONE,
                .warn = &s->warn,
                .listener = &s->listener,
                .ptys = (unsigned) v->set.klimits.ptys,
        };
        if (userns) {
                /* the parent idmaps the layer's mount where it holds upper
                 * and work: the image's filesystem, attached on <inst>/disk,
                 * or the instance's directory (the dir backend) */
                bool image = layer->fd >= 0;
                spec.userns = true;
                spec.id_base = (uint32_t) i->cfg.security.id_base;
                spec.userns_owned = v->kern.sys_resource;
                spec.upper = image ? layer->ovl_upper : layer->upper;
                spec.work = image ? layer->ovl_work : layer->work;
                spec.layer_at = image ? layer->mount_at : s->dir;
                spec.net_move_in = s->networked ? start_net_move_in : NULL;
                spec.net_data = s;
                spec.nesting = i->cfg.security.nesting;
                spec.klimits = &v->set.klimits;
        }
        int r = start_spawn(&spec, &i->pid, &i->pidfd, err);
        if (r < 0)
                return r;
        s->launched = true;
        return 0;
}

static int start_commit(struct start_run *s, vs_error *err) {
        struct instance *i = s->i;
        (void) vs_proc_starttime(i->pid, &i->starttime);
        i->started_at = (int64_t) time(NULL);
        set_state(i, INST_RUNNING);
        if (s->listener >= 0) {
                int fd = TAKE_FD(s->listener);
                int r = sinfo_listener_add(i->vsd->sinfo, i->cfg.name, fd);
                if (r < 0)
                        log_warn("Instance %s: cannot answer its sysinfo() calls (%s), ignoring: they fail with ENOSYS",
                                 i->cfg.name, strerror(-r));
        }
        int r = watch_init(i, err);
        if (r < 0)
                return r;
        /* Before the state file: a daemon killed after this leaves the
         * console with the holder; one killed before has not committed the
         * start, and the next one kills it (re-adoption).  Not now (the
         * holder's queue is full, or it restarts): inst_consoles_hold_flush
         * when it can take it. */
        (void) console_hold_now(i);
        r = state_save(i, err);
        if (r < 0)
                log_warn("Instance %s runs but its state could not be saved (%s): it will not be re-adopted", i->cfg.name,
                         err->msg);
        running_mark(i, true);
        if (s->warn.msg[0])
                log_warn("Instance %s: %s", i->cfg.name, s->warn.msg);
        log_info("Instance %s started, init pid %d", i->cfg.name, (int) i->pid);
        i->stop_how = STOP_HOW_NONE;
        mon_instance_started(i->vsd->mon, &i->cfg);
        emit(i, "started", json_pack("{s:i}", "pid", (int) i->pid));
        return 0;
}

/* What a failed start made, taken back in reverse order. */
static void start_undo(struct start_run *s) {
        struct instance *i = s->i;
        struct vsd *v = i->vsd;
        if (s->launched) {
                /* init, and with it its namespaces and its mounts */
                (void) syscall(SYS_pidfd_send_signal, i->pidfd, SIGKILL, NULL, 0);
                (void) waitid(P_PIDFD, (id_t) i->pidfd, &(siginfo_t){ 0 }, WEXITED);
                set_state(i, INST_STOPPED);
                safe_close(&i->pidfd);
                i->pid = 0;
        }
        if (s->net_prepared)
                netw_detach(v, i->net);
        console_free(i->console);
        i->console = NULL;
        if (s->cgroup) {
                (void) cg_kill(v->cg, i->cfg.name, SIGKILL, NULL);
                (void) cg_destroy(v->cg, i->cfg.name, NULL);
        }
        sinfo_files_remove(v->sinfo, i->cfg.name);
        /* the child is gone, and its mount namespace with it */
        if (s->attached)
                (void) stor_detach(v, s->dir, &i->cfg, NULL);
}

int inst_start(struct instance *i, vs_error *err) {
        if (inst_check_idle(i, err) < 0)
                return -EBUSY;
        switch (i->state) {
        case INST_STOPPED:
                break;
        case INST_BROKEN:
                return vs_err_msg(err, EINVAL, "instance '%s' is broken: %s", i->cfg.name, i->error);
        case INST_CHECKPOINTED:
                return vs_err_msg(err, EBUSY,
                                  "instance '%s' is checkpointed: restore it ('vsctl restore'), or discard the "
                                  "checkpoint first ('vsctl checkpoint --discard')",
                                  i->cfg.name);
        case INST_STOPPING:
                return vs_err_msg(err, EBUSY, "instance '%s' is stopping", i->cfg.name);
        default:
                return vs_err_msg(err, EBUSY, "instance '%s' is already running", i->cfg.name);
        }
        struct start_run s = { .i = i, .slave = -EBADF, .netns = -EBADF, .view_trees = VIEW_TREES_NONE,
                               .listener = -EBADF };
        int r = start_prepare(&s, err);
        if (r >= 0)
                r = start_launch(&s, err);
        if (r >= 0)
                r = start_commit(&s, err);
        /* the child has joined it, or no child will */
        safe_close(&s.netns);
        view_trees_close(&s.view_trees);
        safe_close(&s.listener); /* a failed start's */
        if (r < 0) {
                start_undo(&s);
                return vs_err_prefix(err, "Failed to start %s", i->cfg.name);
        }
        return 0;
}

/* ---- restoring a checkpoint (checkpoint.c runs CRIU) --------------------- */

int inst_restore_prepare(struct instance *i, struct inst_restore_plan *ret, vs_error *err) {
        struct start_run *s = calloc(1, sizeof(*s));
        if (!s)
                return vs_err(err, ENOMEM, "Failed to restore %s", i->cfg.name);
        *s = (struct start_run){ .i = i, .slave = -EBADF, .netns = -EBADF, .view_trees = VIEW_TREES_NONE,
                                 .listener = -EBADF, .restore = true };
        int r = start_prepare(s, err);
        if (r < 0) {
                start_undo(s);
                free(s);
                return vs_err_prefix(err, "Failed to restore %s", i->cfg.name);
        }
        *ret = (struct inst_restore_plan){ .layer = s->layer, .console_slave = s->slave, .view = s->view, .run = s };
        snprintf(ret->dir, sizeof(ret->dir), "%s", s->dir);
        snprintf(ret->lower, sizeof(ret->lower), "%s", s->lower);
        snprintf(ret->rootfs, sizeof(ret->rootfs), "%s", s->rootfs);
        snprintf(ret->inner_link, sizeof(ret->inner_link), "%s", s->inner);
        return 0;
}

/* The state file the helper wrote names init: adopted as a start commits
 * its own (no seccomp listener: see doc/architecture.md, "Checkpoint and
 * restore"). */
int inst_restore_commit(struct instance *i, struct inst_restore_plan *p, vs_error *err) {
        struct start_run *s = p->run;
        char path[512];
        _cleanup_free_ char *text = NULL;
        state_path(i, path, sizeof(path));
        json_int_t pid = 0, starttime = 0, started_at = 0;
        int r = vs_read_file(path, 4096, &text, NULL);
        json_t *j = r >= 0 ? json_loads(text, 0, NULL) : NULL;
        if (!j || json_unpack(j, "{s:I, s:I, s:I}", "pid", &pid, "starttime", &starttime, "started_at", &started_at) < 0 ||
            pid <= 0)
                r = vs_err_msg(err, EPROTO, "Failed to restore %s: the restored init is not known (%s)", i->cfg.name,
                               path);
        json_decref(j);
        unsigned long long now_start = 0;
        if (r >= 0 && (vs_proc_starttime((pid_t) pid, &now_start) < 0 || now_start != (unsigned long long) starttime))
                r = vs_err_msg(err, ESRCH, "Failed to restore %s: the restored init %d is gone", i->cfg.name, (int) pid);
        int fd = r >= 0 ? (int) syscall(SYS_pidfd_open, (pid_t) pid, 0) : -1;
        if (r >= 0 && fd < 0)
                r = vs_err(err, errno, "Failed to restore %s: watch the restored init", i->cfg.name);
        if (r < 0) {
                inst_restore_undo(i, p);
                return r;
        }
        i->pid = (pid_t) pid;
        i->pidfd = fd;
        i->starttime = now_start;
        i->started_at = started_at;
        set_state(i, INST_RUNNING);
        r = watch_init(i, err);
        if (r < 0) {
                /* its state file names it: the next daemon would adopt
                 * it; this one cannot watch it, so it goes */
                (void) cg_kill(i->vsd->cg, i->cfg.name, SIGKILL, NULL);
                s->launched = true;
                inst_restore_undo(i, p);
                return vs_err_prefix(err, "Failed to restore %s", i->cfg.name);
        }
        /* its new console to the holder, as a start's (start_commit) */
        (void) console_hold_now(i);
        view_trees_close(&s->view_trees);
        safe_close(&s->netns);
        free(s);
        p->run = NULL;
        i->stop_how = STOP_HOW_NONE;
        mon_instance_started(i->vsd->mon, &i->cfg);
        running_mark(i, true);
        log_info("Instance %s restored, init pid %d", i->cfg.name, (int) pid);
        emit(i, "restored", json_pack("{s:i}", "pid", (int) pid));
        return 0;
}

void inst_restore_undo(struct instance *i, struct inst_restore_plan *p) {
        struct start_run *s = p->run;
        if (!s)
                return;
        if (s->launched && i->pidfd < 0) {
                /* init was never ours: the cgroup-wide kill below takes it */
                s->launched = false;
        }
        start_undo(s);
        state_remove(i);
        view_trees_close(&s->view_trees);
        safe_close(&s->netns);
        free(s);
        p->run = NULL;
        set_state(i, inst_has_checkpoint(i) ? INST_CHECKPOINTED : INST_STOPPED);
}

void inst_checkpoint_changed(struct instance *i) {
        if (inst_is_down(i))
                set_state(i, inst_has_checkpoint(i) ? INST_CHECKPOINTED : INST_STOPPED);
}

/* ---- create, destroy, update ------------------------------------------- */

/* ---- the id blocks of unprivileged instances (idrange.h) ---- */

static bool has_id_block(const struct instance *i) {
        return i->state != INST_BROKEN && !inst_privileged(i->cfg.security.privileged) && i->cfg.security.id_base;
}

/* The registered instance whose block overlaps the one at base, or NULL. */
static struct instance *id_block_owner(struct vsd *v, uint64_t base) {
        for (size_t k = 0; k < v->n_inst; k++)
                if (has_id_block(v->inst[k]) && inst_id_overlap(v->inst[k]->cfg.security.id_base, base))
                        return v->inst[k];
        return NULL;
}

static int id_block_alloc(struct vsd *v, uint64_t *ret, vs_error *err) {
        _cleanup_free_ uint64_t *used = calloc(v->n_inst + 1, sizeof(*used));
        if (!used)
                return vs_err(err, ENOMEM, "pick an id range");
        size_t n = 0;
        for (size_t k = 0; k < v->n_inst; k++)
                if (has_id_block(v->inst[k]))
                        used[n++] = v->inst[k]->cfg.security.id_base;
        return inst_id_pick(&v->set.sec, used, n, ret, err);
}

/* The hidden directory an instance is made in, renamed into place when
 * complete: a crash or a failure never leaves a half-made instance (a
 * leftover is removed at the next start). */
static void new_dir(const struct instance *i, char *buf, size_t len) {
        snprintf(buf, len, "%s/instances/.%s.new", i->vsd->set.root, i->cfg.name);
}

/* Check cfg, make the hidden directory with rootfs/ and register the
 * instance (stopped; its directory not in place until commit): its name
 * and pool addresses are taken from here on. */
static int create_begin(struct vsd *v, const struct inst_config *cfg_in, bool resolve_storage, struct instance **ret,
                        vs_error *warn, vs_error *err) {
        char final[512], tmp[512], sub[600], lower[600];
        struct template_info t;
        struct inst_config resolved = *cfg_in;
        const struct inst_config *cfg = &resolved;
        struct cg_limits lim = limits_of(cfg);
        int r;

        r = vs_name_check("instance", cfg->name, err);
        if (r < 0)
                return r;
        if (inst_find(v, cfg->name))
                return vs_err_msg(err, EEXIST, "instance '%s' already exists", cfg->name);
        r = template_load(v->set.root, cfg->template_name, &t, err);
        if (r < 0)
                return r;
        r = cg_validate(v->cg, &lim, err);
        if (r < 0)
                return r;
        r = rlimits_check(&cfg->rlimits, cfg->nofile, err);
        if (r < 0)
                return r;
        inst_template_dir(v, t.name, lower, sizeof(lower));
        strncat(lower, "/rootfs", sizeof(lower) - strlen(lower) - 1);
        r = resolve_storage ? stor_resolve_new(v, &resolved, lower, warn, err) : 0;
        if (r < 0)
                return r;
        /* addresses from the pool are taken here, in config.ini: the pool's
         * only record */
        r = netw_resolve(v, NULL, &resolved, err);
        if (r < 0)
                return r;
        /* unprivileged unless asked otherwise; a clone gets a block of its
         * own, never its source's */
        if (resolved.security.privileged == PRIV_YES) {
                if (resolved.security.nesting)
                        return vs_err_msg(err, EINVAL, "'nesting' is for unprivileged instances: root inside a "
                                          "privileged one is the host's root");
                resolved.security.id_base = 0;
        } else {
                resolved.security.privileged = PRIV_NO;
                r = id_block_alloc(v, &resolved.security.id_base, err);
                if (r < 0)
                        return r;
        }

        snprintf(final, sizeof(final), "%s/instances/%s", v->set.root, cfg->name);
        if (access(final, F_OK) == 0)
                return vs_err_msg(err, EEXIST, "instance '%s' already exists (%s)", cfg->name, final);
        struct instance *i = inst_alloc(v);
        if (!i)
                return vs_err(err, ENOMEM, "register %s", cfg->name);
        i->cfg = *cfg; /* before registry_add(), which sorts by name */
        i->state = INST_STOPPED;
        snprintf(i->busy, sizeof(i->busy), "being created");
        new_dir(i, tmp, sizeof(tmp));
        (void) vs_rm_rf(tmp);
        if (mkdir(tmp, 0700) < 0) {
                r = vs_err(err, errno, "create %s", tmp);
                free(i);
                return r;
        }
        snprintf(sub, sizeof(sub), "%s/rootfs", tmp);
        if (mkdir(sub, 0755) < 0) {
                r = vs_err(err, errno, "create %s", sub);
                (void) vs_rm_rf(tmp);
                free(i);
                return r;
        }
        if (netw_add(v, &i->cfg, &i->net) < 0) {
                (void) vs_rm_rf(tmp);
                free(i);
                return vs_err(err, ENOMEM, "register %s", cfg->name);
        }
        if (registry_add(v, i) < 0) {
                (void) vs_rm_rf(tmp);
                netw_remove(v, i->net);
                free(i);
                return vs_err(err, ENOMEM, "register %s", cfg->name);
        }
        *ret = i;
        return 0;
}

int inst_create(struct vsd *v, const struct inst_config *cfg, struct instance **ret, vs_error *warn, vs_error *err) {
        struct instance *i;
        int r = create_begin(v, cfg, true, &i, warn, err);
        if (r < 0)
                return r;
        char tmp[512];
        new_dir(i, tmp, sizeof(tmp));
        r = stor_create(v, tmp, &i->cfg, err);
        if (r >= 0)
                r = inst_create_commit(i, err);
        if (r < 0) {
                inst_create_abort(i);
                return r;
        }
        if (ret)
                *ret = i;
        return 0;
}

int inst_create_begin(struct vsd *v, const struct inst_config *cfg, const char *busy, struct instance **ret,
                      vs_error *err) {
        struct instance *i;
        int r = create_begin(v, cfg, false, &i, NULL, err);
        if (r < 0)
                return r;
        snprintf(i->busy, sizeof(i->busy), "%s", busy);
        *ret = i;
        return 0;
}

void inst_new_dir(const struct instance *i, char *buf, size_t len) {
        new_dir(i, buf, len);
}

int inst_create_commit(struct instance *i, vs_error *err) {
        struct vsd *v = i->vsd;
        char final[512], tmp[512], sub[600];
        new_dir(i, tmp, sizeof(tmp));
        inst_path(i, NULL, final, sizeof(final));
        snprintf(sub, sizeof(sub), "%s/config.ini", tmp);
        int r = inst_config_save(&i->cfg, sub, err);
        if (r < 0)
                return r;
        if (access(final, F_OK) == 0)
                return vs_err_msg(err, EEXIST, "instance '%s' already exists (%s)", i->cfg.name, final);
        r = vs_rename_durable(tmp, final);
        if (r < 0)
                return vs_err(err, -r, "rename %s", tmp);
        i->busy[0] = '\0';
        /* best effort: a start registers it again, and says why if it cannot */
        (void) netw_register(v, i->net, NULL);
        log_info("Instance %s created from template %s", i->cfg.name, i->cfg.template_name);
        emit(i, "created", json_pack("{s:s}", "template", i->cfg.template_name));
        return 0;
}

void inst_create_abort(struct instance *i) {
        char tmp[512];
        new_dir(i, tmp, sizeof(tmp));
        (void) vs_rm_rf(tmp);
        registry_remove(i->vsd, i);
        inst_free(i);
}

int inst_destroy(struct instance *i, vs_error *err) {
        struct vsd *v = i->vsd;
        char dir[512], tmp[512];

        if (inst_check_idle(i, err) < 0)
                return -EBUSY;
        if (!inst_is_down(i) && i->state != INST_BROKEN)
                return vs_err_msg(err, EBUSY, "instance '%s' is %s; stop it first or use --force", i->cfg.name,
                                  inst_state_name(i->state));
        inst_path(i, NULL, dir, sizeof(dir));
        snprintf(tmp, sizeof(tmp), "%s/instances/.%s.del", v->set.root, i->cfg.name);
        /* Rename first: from here on the instance is gone even if removing
         * its files is interrupted; a leftover .del is removed at start. */
        if (rename(dir, tmp) < 0 && errno != ENOENT)
                return vs_err(err, errno, "remove %s", dir);
        stor_forget(v, dir);
        /* a stopped instance's disk is detached; a leftover of a crash
         * must not keep its image busy or be descended into */
        vs_error serr = { 0 };
        if (stor_cleanup(v, tmp, &serr) < 0)
                log_warn("Failed to detach the disk of %s: %s, ignoring", i->cfg.name, serr.msg);
        int r = vs_rm_rf(tmp);
        if (r < 0)
                log_warn("Failed to remove %s: %s, ignoring", tmp, strerror(-r));
        (void) cg_destroy(v->cg, i->cfg.name, NULL);
        state_remove(i);
        log_info("Instance %s destroyed", i->cfg.name);
        emit(i, "destroyed", NULL);
        registry_remove(v, i);
        inst_notify_waiters(i, 0, NULL);
        inst_free(i);
        return 0;
}

/* Back to the settings in force after a failed update: the cgroup's
 * limits (old, when they were written) and init's rlimits (from `to`, when
 * they were changed). */
static void undo_live(struct instance *i, const struct cg_limits *old, const struct inst_rlimits *to) {
        if (old)
                (void) cg_set_limits(i->vsd->cg, i->cfg.name, old, NULL);
        if (to)
                (void) rlimits_apply_live(i->pid, to, &i->cfg.rlimits, NULL, NULL);
}

int inst_update(struct instance *i, const struct inst_config *cfg_in, vs_error *warn, vs_error *err) {
        char path[600];
        struct inst_config resolved = *cfg_in;
        const struct inst_config *cfg = &resolved;
        struct cg_limits lim = limits_of(cfg);
        struct cg_limits old = limits_of(&i->cfg);
        bool live = inst_is_up(i);
        unsigned kept = 0;
        int r;

        if (i->state == INST_BROKEN)
                return vs_err_msg(err, EINVAL, "instance '%s' is broken: %s", i->cfg.name, i->error);
        if (inst_check_idle(i, err) < 0)
                return -EBUSY;
        r = cg_validate(i->vsd->cg, &lim, err);
        if (r < 0)
                return r;
        r = stor_check_update(&i->cfg, cfg, err);
        if (r < 0)
                return r;
        if (inst_privileged(cfg->security.privileged) != inst_privileged(i->cfg.security.privileged))
                return vs_err_msg(err, EINVAL, "'privileged' is chosen at create: make a new instance (or a clone) "
                                  "to change it");
        if (cfg->security.nesting && inst_privileged(i->cfg.security.privileged))
                return vs_err_msg(err, EINVAL, "'nesting' is for unprivileged instances: root inside a privileged one "
                                  "is the host's root");
        bool nesting = cfg->security.nesting;
        resolved.security = i->cfg.security;
        resolved.security.nesting = nesting;
        r = netw_resolve(i->vsd, &i->cfg, &resolved, err);
        if (r < 0)
                return r;
        /* only what changes: a value set by hand earlier does not block an
         * unrelated change */
        if (cfg->nofile != i->cfg.nofile || memcmp(&cfg->rlimits, &i->cfg.rlimits, sizeof(cfg->rlimits)) != 0) {
                r = rlimits_check(&cfg->rlimits, cfg->nofile, err);
                if (r < 0)
                        return r;
        }
        /* what changed, setting by setting (the settings table), and which
         * of the running instance's kernel objects that needs written */
        unsigned touched = 0;
        json_auto_t *changes = inst_config_changes(&i->cfg, cfg, &touched);
        if (!changes)
                return vs_err(err, ENOMEM, "update %s", i->cfg.name);
        bool write_cg = live && (touched & (1u << LIVE_CGROUP));
        bool write_rl = live && (touched & (1u << LIVE_RLIMITS));
        if (write_cg) {
                r = cg_set_limits(i->vsd->cg, i->cfg.name, &lim, err);
                if (r < 0) {
                        (void) cg_set_limits(i->vsd->cg, i->cfg.name, &old, NULL);
                        /* Lowering memory below use: the kernel reclaims what it
                         * can (cache, swap) and refuses when the rest does not fit. */
                        struct cg_stats st;
                        if (r == -EBUSY && cfg->memory && (!i->cfg.memory || cfg->memory < i->cfg.memory) &&
                            cg_stats(i->vsd->cg, i->cfg.name, &st, NULL) >= 0) {
                                char want[32], used[32];
                                vs_format_size(cfg->memory, want, sizeof(want));
                                snprintf(used, sizeof(used), "%" PRIu64 "M", st.memory_current >> 20);
                                return vs_err_msg(err, EBUSY,
                                                  "cannot lower the memory limit of '%s' to %s: it uses %s that the kernel "
                                                  "could not reclaim; free memory inside it first (nothing was changed)",
                                                  i->cfg.name, want, used);
                        }
                        return r;
                }
        }
        /* init's own rlimits change now, and what it starts later inherits
         * them; exec'd commands get them from the config */
        if (write_rl) {
                /* prlimit() takes a pid.  While init's pidfd says it is
                 * alive, i->pid is still init's: a re-adopted init is not our
                 * child, and no zombie of ours holds its pid once it dies */
                r = syscall(SYS_pidfd_send_signal, i->pidfd, 0, NULL, 0) < 0 ? -errno : 0;
                if (r == 0)
                        r = rlimits_apply_live(i->pid, &i->cfg.rlimits, &cfg->rlimits, &kept, err);
                else
                        vs_err(err, -r, "instance '%s': init is gone", i->cfg.name);
                if (r < 0) {
                        if (write_cg)
                                (void) cg_set_limits(i->vsd->cg, i->cfg.name, &old, NULL);
                        return r;
                }
        }
        /* the firewall's elements whether it runs or not, the links when it runs */
        r = netw_update(i->vsd, i->net, &i->cfg, cfg, inst_is_active(i), i->pidfd, err);
        if (r < 0) {
                undo_live(i, write_cg ? &old : NULL, write_rl ? &cfg->rlimits : NULL);
                return r;
        }
        /* the disk last: a grow cannot be undone, so it comes after
         * everything that can still fail but the save */
        char dir[512];
        inst_path(i, NULL, dir, sizeof(dir));
        r = stor_grow(i->vsd, dir, &i->cfg, cfg, inst_is_active(i), warn, err);
        inst_path(i, "config.ini", path, sizeof(path));
        if (r >= 0)
                r = inst_config_save(cfg, path, err);
        if (r < 0) {
                vs_error ignore = { 0 };
                (void) netw_update(i->vsd, i->net, cfg, &i->cfg, inst_is_active(i), i->pidfd, &ignore);
                undo_live(i, write_cg ? &old : NULL, write_rl ? &cfg->rlimits : NULL);
                return r;
        }
        for (unsigned k = 0; k < RLIMITS_N; k++)
                if (kept & (1u << k))
                        log_warn("Instance %s: its running init keeps rlimit %s (raising a hard limit needs "
                                 "CAP_SYS_RESOURCE); exec'd commands and the next start get the new one, ignoring",
                                 i->cfg.name, rlimits_name(k));
        i->cfg = *cfg;
        if (write_cg)
                sinfo_instance_changed(i->vsd->sinfo, i->cfg.name); /* the CPU list it shows */
        if (json_object_size(changes) > 0)
                emit(i, "limits-changed", json_pack("{s:O, s:b}", "changes", changes, "live", live));
        return 0;
}

int inst_pause(struct instance *i, vs_error *err) {
        if (inst_check_idle(i, err) < 0)
                return -EBUSY;
        if (i->state == INST_PAUSED)
                return vs_err_msg(err, EALREADY, "instance '%s' is already paused", i->cfg.name);
        if (i->state != INST_RUNNING)
                return vs_err_msg(err, EINVAL, "instance '%s' is not running", i->cfg.name);
        int r = cg_freeze(i->vsd->cg, i->cfg.name, true, err);
        if (r < 0)
                return r;
        set_state(i, INST_PAUSED);
        (void) state_save(i, NULL);
        emit(i, "paused", NULL);
        return 0;
}

int inst_resume(struct instance *i, vs_error *err) {
        if (inst_check_idle(i, err) < 0)
                return -EBUSY;
        if (i->state != INST_PAUSED)
                return vs_err_msg(err, EINVAL, "instance '%s' is not paused", i->cfg.name);
        int r = cg_freeze(i->vsd->cg, i->cfg.name, false, err);
        if (r < 0)
                return r;
        set_state(i, INST_RUNNING);
        (void) state_save(i, NULL);
        emit(i, "resumed", NULL);
        return 0;
}

/* ---- loading and re-adoption ------------------------------------------- */

/* ---- the console across daemon restarts (holder.h) ---- */

int inst_console_adopt(struct vsd *v, const struct hold_tag *tag, int master, const char *data, size_t len,
                       uint32_t lost) {
        struct instance *i = inst_find(v, tag->name);
        /* another init by that name, or none: that pty serves nobody (the
         * holder drops its copy when that init's pidfd says it ended) */
        if (!i || !inst_is_up(i) || i->console || i->pid != (pid_t) tag->init_pid || i->starttime != tag->init_start) {
                safe_close(&master);
                return -ESRCH;
        }
        char logp[600];
        vs_error err = { 0 };
        inst_path(i, "console.log", logp, sizeof(logp));
        int r = console_adopt(v, logp, v->set.console_log_size, master, data, len, lost, &i->console, &err);
        if (r < 0)
                log_warn("Instance %s: Failed to take its console back from the holder: %s, ignoring", i->cfg.name,
                         err.msg);
        return r;
}

void inst_consoles_hold_flush(struct vsd *v) {
        for (size_t k = 0; k < v->n_inst; k++)
                if (inst_is_up(v->inst[k]) && console_hold_now(v->inst[k]) < 0)
                        return; /* no room, or no holder: called again when there is */
}

void inst_consoles_hold_lost(struct vsd *v) {
        for (size_t k = 0; k < v->n_inst; k++)
                console_hold_lost(v->inst[k]->console);
}

/* The console's pty died with the previous vsd and its holder (or the
 * holder was of a vsd that kept none): give the instance a new one.
 * Without it busybox init respawns a shell that cannot open /dev/console
 * every second, and the SIGCHLD of each attempt starves its halt signal. */
static void reattach_console(struct instance *i) {
        char logp[600];
        vs_error err = { 0 };
        int slave;
        inst_path(i, "console.log", logp, sizeof(logp));
        if (console_open(i->vsd, logp, i->vsd->set.console_log_size, &i->console, &slave, &err) < 0 ||
            (console_own(i, slave), console_rebind(i->console, i->pidfd, &err)) < 0) {
                log_warn("Instance %s has no console after re-adoption: %s", i->cfg.name, err.msg);
                console_free(i->console);
                i->console = NULL;
                return;
        }
        log_info("Instance %s: its console was lost with the previous vsd; it has a new one", i->cfg.name);
        (void) console_hold_now(i);
}

void inst_consoles_recover(struct vsd *v) {
        for (size_t k = 0; k < v->n_inst; k++) {
                struct instance *i = v->inst[k];
                if (inst_is_up(i) && !i->console && i->pidfd >= 0)
                        reattach_console(i);
        }
}

/* Re-adopt a running init from its state file, or clean up after it. */
static void adopt(struct instance *i) {
        char path[512];
        _cleanup_free_ char *text = NULL;
        state_path(i, path, sizeof(path));
        if (vs_read_file(path, 4096, &text, NULL) < 0)
                return;

        json_t *j = json_loads(text, 0, NULL);
        json_int_t pid = 0, starttime = 0, started_at = 0;
        int paused = 0;
        if (!j || json_unpack(j, "{s:I, s:I, s:I, s?b}", "pid", &pid, "starttime", &starttime, "started_at",
                              &started_at, "paused", &paused) < 0)
                pid = 0;
        json_decref(j);

        unsigned long long now_start = 0;
        if (pid > 0 && vs_proc_starttime((pid_t) pid, &now_start) == 0 && now_start == (unsigned long long) starttime) {
                int fd = (int) syscall(SYS_pidfd_open, (pid_t) pid, 0);
                if (fd >= 0) {
                        i->pid = (pid_t) pid;
                        i->pidfd = fd;
                        i->starttime = now_start;
                        i->started_at = started_at;
                        set_state(i, paused ? INST_PAUSED : INST_RUNNING);
                        /* the state file was written before; a race with init's
                         * exit is caught by the pidfd, which is readable at once */
                        if (watch_init(i, NULL) >= 0) {
                                log_info("Re-adopted instance %s (init %d)", i->cfg.name, (int) pid);
                                /* Started by an earlier vsd: its processes and
                                 * its limits share one cgroup, the root of its
                                 * namespace.  It keeps running as it is; stats,
                                 * exec (into init's cgroup), stop work alike. */
                                if (cg_has_payload(i->vsd->cg, i->cfg.name) == 0)
                                        log_warn("Instance %s runs in the cgroup layout of an earlier vsd: its limits "
                                                 "are files of its own cgroup tree, guarded only by the host's "
                                                 "nsdelegate; restart it to move it below them",
                                                 i->cfg.name);
                                /* its console: taken back from the holder,
                                 * or a new one (inst_consoles_recover) */
                                /* an earlier vsd may not have made it */
                                running_mark(i, true);
                                netw_adopt(i->net);
                                mon_instance_started(i->vsd->mon, &i->cfg);
                                emit(i, "adopted", json_pack("{s:i}", "pid", (int) pid));
                                return;
                        }
                        safe_close(&i->pidfd);
                }
        }
        /* init is gone (or the pid was reused): whatever is left in its cgroup
         * belongs to a dead instance */
        log_info("Instance %s stopped while vsd was away, cleaning up", i->cfg.name);
        /* the host went down with it (a persistent run_dir): it was
         * running then; else it stopped by itself */
        if (!i->vsd->boot_new)
                running_mark(i, false);
        emit(i, "stopped", json_pack("{s:s}", "how", "while-vsd-was-away"));
        set_state(i, INST_STOPPED);
        i->pid = 0;
        (void) cg_kill_wait(i->vsd->cg, i->cfg.name, 2000, NULL);
        (void) cg_destroy(i->vsd->cg, i->cfg.name, NULL);
        netw_detach(i->vsd, i->net);
        unlink(path);
}

/* An instance that does not run holds no disk outside the daemon (a disk
 * kept for its next start is held by the daemon's fd alone, and a new
 * daemon holds none): what is mounted or bound for it at load was left
 * by a crash of the daemon and the instance together. */
static void cleanup_storage(struct vsd *v, const char *name, const char *dir) {
        vs_error err = { 0 };
        int r = stor_cleanup(v, dir, &err);
        if (r < 0)
                log_warn("Failed to clean up the disk of %s: %s, ignoring", name, err.msg);
        else if (r > 0)
                log_info("Instance %s: detached its disk left behind by a crash", name);
}

/* A snapshot's daemon died while it held the instance frozen (its cgroup
 * with the freezer, its filesystem with FIFREEZE): nothing else would ever
 * thaw them, and an exec into it, its next stop, or any write inside
 * would hang.  The filesystem first (the marker says a snapshot ran; the
 * kernel keeps no trace this side can read cheaply), before the storage
 * cleanup, which could not detach a frozen filesystem's device; then the
 * cgroup, by what the kernel says: frozen while the state file does not
 * say paused.  Either is logged and reported with a "thawed" event. */
static void thaw_filesystem(struct instance *i, const char *dir, bool *thawed) {
        char marker[512];
        vs_error err = { 0 };
        inst_frozen_marker(i, marker, sizeof(marker));
        if (access(marker, F_OK) < 0)
                return;
        int r = stor_thaw(i->vsd, dir, &i->cfg, &err);
        if (r < 0)
                log_warn("Instance %s: failed to thaw its filesystem, frozen by an interrupted snapshot: %s, ignoring",
                         i->cfg.name, err.msg);
        else if (r > 0)
                *thawed = true;
}

/* A dump was under way (checkpoint.c's marker, <run_dir>/NAME.checkpointing):
 * a post-copy dump's hook freezes the instance before its commit, so that
 * no process runs with its TCP sockets still in CRIU's repair mode; what
 * thaws it is ckpt_recover()'s to say, once it has put them right. */
static bool dump_under_way(const struct instance *i) {
        char marker[512];
        snprintf(marker, sizeof(marker), "%s/%s.checkpointing", i->vsd->set.run_dir, i->cfg.name);
        return access(marker, F_OK) == 0;
}

static void thaw_cgroup(struct instance *i, bool fs_thawed) {
        char marker[512];
        vs_error err = { 0 };
        bool cg_thawed = false;
        inst_frozen_marker(i, marker, sizeof(marker));
        if (inst_is_active(i) && i->state != INST_PAUSED && !dump_under_way(i) &&
            cg_frozen(i->vsd->cg, i->cfg.name) > 0) {
                if (cg_freeze(i->vsd->cg, i->cfg.name, false, &err) < 0)
                        log_warn("Instance %s: failed to thaw it: %s, ignoring", i->cfg.name, err.msg);
                else
                        cg_thawed = true;
        }
        bool by_snapshot = access(marker, F_OK) == 0;
        if (cg_thawed || fs_thawed) {
                const char *what = cg_thawed && fs_thawed ? "its processes and its filesystem" :
                                   cg_thawed             ? "its processes" :
                                                           "its filesystem";
                const char *why = by_snapshot ? "frozen by an interrupted snapshot" : "found frozen while not paused";
                log_info("Instance %s: thawed %s, %s", i->cfg.name, what, why);
                emit(i, "thawed", json_pack("{s:b, s:b, s:s}", "processes", cg_thawed, "filesystem", fs_thawed,
                                            "reason", by_snapshot ? "interrupted-snapshot" : "frozen-not-paused"));
        }
        (void) unlink(marker);
}

/* What an interrupted snapshot or restore left: partial copies, never
 * listed, removed (their helpers were killed before, see work.h). */
static void cleanup_partial(struct instance *i, const char *dir) {
        int r = stor_cleanup_partial(dir);
        if (r < 0)
                log_warn("Instance %s: failed to remove a partial restore: %s, ignoring", i->cfg.name, strerror(-r));
        else if (r > 0)
                log_info("Instance %s: removed the partial copy of an interrupted restore", i->cfg.name);
}

static void load_one(struct vsd *v, const char *name) {
        char path[600];
        vs_error err = { 0 };
        struct instance *i = inst_alloc(v);
        if (!i)
                return;
        snprintf(path, sizeof(path), "%s/instances/%s/config.ini", v->set.root, name);
        int r = inst_config_load(&i->cfg, path, &err);
        if (r >= 0 && !streq(i->cfg.name, name))
                r = vs_err_msg(&err, EINVAL, "%s: name '%s' does not match its directory", path, i->cfg.name);
        if (r >= 0 && !inst_privileged(i->cfg.security.privileged)) {
                /* a block is one instance's only: a config.ini edited by
                 * hand must not share another's ids */
                const struct instance *o = id_block_owner(v, i->cfg.security.id_base);
                if (!i->cfg.security.id_base)
                        r = vs_err_msg(&err, EINVAL, "%s: an unprivileged instance needs [security] id_base", path);
                else if (o)
                        r = vs_err_msg(&err, EINVAL, "%s: its ids %llu-%llu overlap those of instance '%s'", path,
                                       (unsigned long long) i->cfg.security.id_base,
                                       (unsigned long long) (i->cfg.security.id_base + INST_ID_COUNT - 1), o->cfg.name);
        }
        if (r < 0) {
                inst_config_defaults(&i->cfg);
                snprintf(i->cfg.name, sizeof(i->cfg.name), "%s", name);
                i->state = INST_BROKEN;
                snprintf(i->error, sizeof(i->error), "%s", err.msg);
                log_err("Instance %s is broken: %s", name, err.msg);
        }
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/instances/%s", v->set.root, name);
        bool fs_thawed = false;
        /* before adopt(), which may clean up after its link */
        if (r >= 0 && netw_add(v, &i->cfg, &i->net) < 0) {
                log_err("Failed to load instance %s: out of memory", name);
                free(i);
                return;
        }
        if (r >= 0) {
                thaw_filesystem(i, dir, &fs_thawed);
                adopt(i);
                if (i->state == INST_STOPPED && inst_has_checkpoint(i))
                        i->state = INST_CHECKPOINTED;
                thaw_cgroup(i, fs_thawed);
                cleanup_partial(i, dir);
        }
        if (!inst_is_active(i))
                cleanup_storage(v, name, dir);
        if (r >= 0)
                stor_learn(v, dir, &i->cfg);
        if (registry_add(v, i) < 0) {
                log_err("Failed to load instance %s: out of memory", name);
                netw_remove(v, i->net);
                inst_free(i);
        }
}

/* cgroups below our parent that no running instance claims were left by a
 * crash between cgroup creation and the state file: kill and remove. */
static void reconcile_cgroups(struct vsd *v) {
        char **names = NULL;
        if (cg_list(v->cg, &names, NULL) < 0 || !names)
                return;
        for (char **n = names; *n; n++) {
                struct instance *i = inst_find(v, *n);
                if (!i || !inst_is_up(i)) {
                        log_info("Removing orphan cgroup %s", *n);
                        (void) cg_kill_wait(v->cg, *n, 2000, NULL);
                        (void) cg_destroy(v->cg, *n, NULL);
                }
        }
        strv_free(names);
}

int inst_registry_load(struct vsd *v, vs_error *err) {
        char path[512];
        int r;

        snprintf(path, sizeof(path), "%s/instances", v->set.root);
        r = vs_mkdir_p(path, 0700);
        if (r < 0)
                return vs_err(err, -r, "create %s", path);
        /* The private layers below hold the instances' files with the ids
         * they have inside (doc/architecture.md, "Unprivileged
         * instances"): setuid-root programs owned by uid 0 on the host.
         * No host user but root may reach them. */
        if (chmod(path, 0700) < 0)
                return vs_err(err, errno, "chmod %s", path);
        r = vs_mkdir_p(v->set.run_dir, 0755);
        if (r < 0)
                return vs_err(err, -r, "create %s", v->set.run_dir);

        DIR *d = opendir(path);
        if (!d)
                return vs_err(err, errno, "open %s", path);
        stor_scan_begin(v);
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.') {
                        /* .NAME.new / .NAME.del: an interrupted create or destroy */
                        if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                                char stale[600];
                                snprintf(stale, sizeof(stale), "%s/%s", path, de->d_name);
                                cleanup_storage(v, de->d_name, stale);
                                (void) vs_rm_rf(stale);
                        }
                        continue;
                }
                if (!vs_name_valid(de->d_name)) {
                        log_warn("Ignoring %s/%s: not a valid instance name", path, de->d_name);
                        continue;
                }
                load_one(v, de->d_name);
        }
        closedir(d);
        stor_scan_end(v);
        reconcile_cgroups(v);
        return 0;
}

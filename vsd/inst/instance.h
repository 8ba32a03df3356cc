/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The instance registry and lifecycle.  An instance is its directory
 * (<root>/instances/<name>: config.ini, its private layer (storage.h), rootfs/,
 * console.log),
 * and while it runs: its init process (watched through a pidfd), its
 * namespaces, its cgroup and <run_dir>/<name>.state.  No helper process.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "vsd/core/daemon.h"
#include "cgroups/cgroup.h"
#include "net/nl.h"
#include "vsd/conf/settings.h"
#include "vsd/storage/storage.h"

enum inst_state {
        INST_STOPPED,
        INST_RUNNING,
        INST_STOPPING,
        INST_PAUSED,
        INST_BROKEN,
        INST_CHECKPOINTED, /* no processes; <inst>/checkpoint holds them (checkpoint.h) */
};

const char *inst_state_name(enum inst_state s);

struct instance;

/* Called when a stop/restart/destroy that was waited for has finished;
 * result < 0 with err filled on failure.  The instance may be gone (destroy). */
struct inst_waiter {
        void (*done)(struct inst_waiter *w, int result, const vs_error *err);
        struct inst_waiter *next;
};

/* How a stop came about, for the "stopped" event. */
enum inst_stop_how {
        STOP_HOW_NONE,    /* no stop asked for: init exited by itself */
        STOP_HOW_HALT,    /* halt signal sent, init exited in time */
        STOP_HOW_KILL,    /* killed at once, as asked */
        STOP_HOW_TIMEOUT, /* killed after the stop timeout */
        STOP_HOW_CHECKPOINT, /* its processes saved and ended by a checkpoint */
};

enum inst_after_stop {
        AFTER_STOP_NOTHING,
        AFTER_STOP_START,
        AFTER_STOP_DESTROY,
};

struct console;
struct netw_inst;
struct loop_source;

struct instance {
        struct vsd *vsd;
        struct inst_config cfg;
        enum inst_state state;
        char error[VS_ERROR_MAX];    /* why it is broken */
        pid_t pid;                   /* init, host pid */
        int pidfd;
        unsigned long long starttime; /* of init, in clock ticks since boot: defeats pid reuse */
        int64_t started_at;          /* unix seconds */
        struct loop_source *pidfd_src;
        struct loop_source *stop_timer;
        struct loop_source *reap_timer;
        unsigned reap_tries;
        struct console *console;
        struct inst_waiter *waiters;
        enum inst_after_stop after_stop;
        enum inst_stop_how stop_how;
        /* init's end, for the events: exit status, or the signal (> 0) */
        int exit_status, exit_signal;
        bool exit_known;
        /* SIGINT or SIGHUP: init ended by reboot(2) in its pid namespace
         * (halt or power off, restart), a clean end; 0 otherwise */
        int exit_reboot;
        struct cg_counter_fds *counters; /* held open while it runs (stats); freed before its cgroup goes */
        struct netw_inst *net;       /* its record in the network's (netw_add); NULL when broken */
        /* non-empty while a long operation (snapshot.c) works on it, saying
         * what: lifecycle requests are refused meanwhile */
        char busy[64];
        /* busy with what leaves it running untouched (a move's template
         * check and pre-copy): exec goes on meanwhile */
        bool busy_runs;
};

/* Scan <root>/instances, load every config.ini (a bad one marks that
 * instance broken), re-adopt running inits from <run_dir>/<name>.state and
 * remove what a crash left (stale state files, orphan cgroups). */
int inst_registry_load(struct vsd *v, vs_error *err);
void inst_registry_free(struct vsd *v);

/* The consoles across daemon restarts: the listener holder keeps a copy
 * of each running instance's console master (vsd/view/holder.h), given at
 * the start's commit.  At daemon start the holder gives them back
 * (inst_console_adopt: 0 when an instance re-adopted with that init took
 * it; master is taken either way); then inst_consoles_recover gives every
 * re-adopted instance still without one a new pty (mounted over its
 * /dev/console).  flush: give the holder every copy it lacks, until its
 * queue is full; lost: it has none any more. */
struct hold_tag;
int inst_console_adopt(struct vsd *v, const struct hold_tag *tag, int master, const char *data, size_t len,
                       uint32_t lost);
void inst_consoles_recover(struct vsd *v);
void inst_consoles_hold_flush(struct vsd *v);
void inst_consoles_hold_lost(struct vsd *v);

/* The state predicates, the one place that says which states count (no
 * caller tests a list of states by hand). */

/* Running, paused or stopping: it has processes (a cgroup, a link, an
 * attached disk). */
static inline bool inst_is_active(const struct instance *i) {
        return i->state == INST_RUNNING || i->state == INST_PAUSED || i->state == INST_STOPPING;
}

/* Running or paused: its init is there and not on its way down (what
 * stats, the view and consoles serve). */
static inline bool inst_is_up(const struct instance *i) {
        return i->state == INST_RUNNING || i->state == INST_PAUSED;
}

/* Stopped or checkpointed: no process, not broken. */
static inline bool inst_is_down(const struct instance *i) {
        return i->state == INST_STOPPED || i->state == INST_CHECKPOINTED;
}

/* Does any instance have processes?  (Then what serves them outlives the
 * daemon: lxcfs, the firewall, the cgroup parent.) */
bool inst_any_active(struct vsd *v);

/* What the instance uses, gathered for the API (and later metrics) to
 * render: all zero where it has nothing (a stopped instance has no cgroup
 * or link; a broken one no disk figures). */
struct inst_stats {
        struct cg_stats cg;       /* its cgroup's counters (up only) */
        struct nl_link_stats net; /* what it sent and received (up, with a link) */
        struct stor_usage disk;   /* its disk: the filesystem's figures while
                                   * active, what the image takes on the host */
};

/* Fails only when the cgroup of an instance that is up cannot be read. */
int inst_stats(struct instance *i, struct inst_stats *ret, vs_error *err);

/* Was it running when the daemon last saw it, or when the host went down?
 * <root>/instances/<name>/running, made when it starts and removed when it
 * stops (onboot auto starts what has it after a reboot: boot.h). */
bool inst_was_running(const struct instance *i);

/* A start of this stopped instance comes soon (the boot's next ones), or
 * not after all (coming false): storage prepares its disk ahead
 * (stor_prefetch) or lets go of what it prepared. */
void inst_prefetch(struct instance *i, bool coming);

struct instance *inst_find(struct vsd *v, const char *name);
/* Like inst_find, but fills err with "no such instance" (404). */
int inst_lookup(struct vsd *v, const char *name, struct instance **ret, vs_error *err);

/* warn (may be NULL) gets a note for the client that is no failure, such
 * as the dir backend's missing quota. */
int inst_create(struct vsd *v, const struct inst_config *cfg, struct instance **ret, vs_error *warn, vs_error *err);

/* A create in steps, for a layer that takes long to fill (a clone's
 * copy): begin checks cfg (its [storage] section taken as it is), makes
 * the hidden directory inst_new_dir() with rootfs/, and registers the
 * instance, stopped and busy (busy says why) so that its name and pool
 * addresses are taken; the caller fills the layer there, then commits
 * (config.ini, the rename into place, the "created" event) or aborts
 * (everything removed, the instance freed). */
int inst_create_begin(struct vsd *v, const struct inst_config *cfg, const char *busy, struct instance **ret,
                      vs_error *err);
void inst_new_dir(const struct instance *i, char *buf, size_t len);
int inst_create_commit(struct instance *i, vs_error *err);
void inst_create_abort(struct instance *i);

/* EBUSY "instance 'x' is busy: <what>" while a long operation runs on it. */
int inst_check_idle(const struct instance *i, vs_error *err);

/* Before a helper reads, copies or replaces the image of an instance that
 * does not run (snapshot, clone, restore, export, migration): storage lets
 * go of the filesystem it kept mounted since the stop (stor_release), so
 * that the image on disk is whole and nothing writes to it.  A running
 * instance's is left alone (its copies freeze the filesystem instead). */
int inst_release_disk(struct instance *i, vs_error *err);

/* Tell the waiters (api_wait) the outcome of what they waited for. */
void inst_notify_waiters(struct instance *i, int result, const vs_error *err);

/* An event about the instance (events.h); details is stolen. */
struct json_t;
void inst_emit(struct instance *i, const char *type, struct json_t *details);

/* <run_dir>/<name>.frozen: present while a snapshot may hold the instance
 * or its filesystem frozen; the next daemon thaws both when it finds it. */
void inst_frozen_marker(const struct instance *i, char *buf, size_t len);

int inst_start(struct instance *i, vs_error *err);

/* Ask init to halt (template halt signal), kill the rest after timeout_ms
 * (0 = the instance's stop_timeout; kill = at once).  Returns 1 when it is
 * already stopped, 0 when the waiter (may be NULL) will be told. */
int inst_stop(struct instance *i, uint64_t timeout_ms, bool kill, enum inst_after_stop then,
              struct inst_waiter *w, vs_error *err);
void inst_waiter_cancel(struct instance *i, struct inst_waiter *w);

/* Remove a stopped (or broken) instance and its files. */
int inst_destroy(struct instance *i, vs_error *err);

/* At the daemon's start, after the registry and the recoveries: a copy
 * that a move to this host imported and that never ran here (INST_INCOMING;
 * its restore or start cut short by the previous daemon's end, the session
 * that asked for it gone) is destroyed: the source keeps or runs its own
 * (its move failed, or settles by asking this host).  One that runs loses
 * the mark. */
void inst_incoming_recover(struct vsd *v);

/* The instance carries INST_INCOMING: a move's copy that never ran here.
 * inst_incoming_clear(): it ran here (durably: a move's source asks). */
bool inst_incoming(const struct instance *i);
void inst_incoming_clear(struct instance *i);

int inst_pause(struct instance *i, vs_error *err);
int inst_resume(struct instance *i, vs_error *err);

/* Replace the instance's settings: validated, applied live when running,
 * saved atomically; nothing changes when any step fails. */
int inst_update(struct instance *i, const struct inst_config *cfg, vs_error *warn, vs_error *err);

int inst_template_dir(struct vsd *v, const char *template_name, char *buf, size_t len);

/* ---- for checkpoint.c ---- */

/* <root>/instances/<name>, and its committed checkpoint's directory (its
 * metadata file, INST_CHECKPOINT_META, is the last thing put there). */
#define INST_CHECKPOINT_DIR "checkpoint"
/* An instance imported by a move to this host (the archive said so) that
 * has not run here yet: this file in its directory, from the import's
 * commit until it first runs here (start, restore, adoption). */
#define INST_INCOMING "incoming"
#define INST_CHECKPOINT_META "vsd.json"
void inst_dir_path(const struct instance *i, char *buf, size_t len);
bool inst_has_checkpoint(const struct instance *i);

/* A stopped instance whose checkpoint appeared (a crash recovery put it
 * back) or went (discarded): its state follows. */
void inst_checkpoint_changed(struct instance *i);

/* <run_dir>/<name>.state, as the registry writes it for a running init:
 * written by the restore's helper once CRIU brought init back, so that a
 * daemon killed right then finds and adopts it. */
void inst_state_file(const struct instance *i, char *buf, size_t len);
int inst_state_write(const char *path, pid_t pid, unsigned long long starttime, int64_t started_at, vs_error *err);

/* The restore of a checkpoint, the daemon's part: what a start prepares
 * before its clone (the private layer attached, the cgroup with its
 * limits, a new console, the view's files, the host side of the link with
 * its inside end left for CRIU), then commit with the init CRIU brought
 * back, or undo. */
struct inst_restore_plan {
        char dir[512], lower[600], rootfs[600];
        struct stor_layer layer;
        int console_slave;   /* the new console's pty slave (the console owns it) */
        char inner_link[16]; /* the link's inside end, in our namespace; "": no link */
        const char *view;    /* lxcfs's mount, NULL: the kernel's files */
        void *run;           /* the start's own record */
};
int inst_restore_prepare(struct instance *i, struct inst_restore_plan *ret, vs_error *err);
int inst_restore_commit(struct instance *i, struct inst_restore_plan *p, vs_error *err);
void inst_restore_undo(struct instance *i, struct inst_restore_plan *p);

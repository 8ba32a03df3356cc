/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Checkpoint and restore of a running instance with CRIU ([checkpoint]
 * criu): its processes, memory, open files, sockets (established TCP
 * connections too), its network namespace with eth0's address and MAC,
 * its console, under its limits.  The images live in the instance's
 * directory:
 *
 *   <inst>/checkpoint/          the committed checkpoint: CRIU's images and
 *                               vsd.json (what vsd needs besides them),
 *                               put in place by one rename
 *   <inst>/.checkpoint.tmp/     a dump under way (or the replaced one, for
 *                               the instant after the exchange)
 *   <inst>/.checkpoint.restoring/  a restore under way (the committed
 *                               checkpoint, renamed while CRIU reads it)
 *   <run_dir>/<name>.checkpointing  a dump under way: its id and whether
 *                               the instance is to run on
 *
 * An instance that does not run and has a committed checkpoint is
 * "checkpointed" (instance.h).  CRIU runs in a helper (work.h), never on
 * the loop; the instance is busy meanwhile.  What a daemon killed at any
 * instant leaves, and how the next one finishes or undoes it, is
 * ckpt_recover()'s (doc/architecture.md, "Checkpoint and restore").
 */

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct instance;
struct inst_waiter;
struct op;
struct vs_progress;
struct vsd;

/* Dump a running instance; it then stops (checkpointed), or with
 * leave_running runs on, its checkpoint kept.  Returns 0 once the helper
 * runs; w (may be NULL) hears the outcome, *ret_op (may be NULL) is what
 * clients follow.  Refused at once, nothing changed: not running, busy,
 * no CRIU.  page_fd (-1: none; the caller keeps it): a socket to a page
 * server elsewhere (a live move's target, pages.h) that gets the pages
 * too; the dump fails, and the instance runs on, if that fails. */
int ckpt_take(struct instance *i, bool leave_running, int page_fd, struct inst_waiter *w, struct op **ret_op,
              vs_error *err);

/* Memory pre-copy before a dump into a page server (a live move whose
 * kernel tracks dirty memory, `criu check --feature mem_dirty_track`):
 * `criu pre-dump` passes while the instance runs, each announced on the
 * page link (pages.h) and its pages written here too, into pre-N/ of the
 * images, until a pass sends no less than the one before, less than
 * enough_bytes, or max_passes went; then the dump with --track-mem and the
 * last pass as its parent sends only what changed.  The pre-dump never
 * holds the instance beyond its own brief freeze: a failure or a daemon
 * killed meanwhile leaves it running (the dump failed, nothing kept).
 * Lives in memory the caller shares with the helper (MAP_SHARED). */
struct ckpt_precopy {
        unsigned max_passes;           /* asked: at most this many pre-dumps (<= PAGES_PASS_MAX) */
        uint64_t enough_bytes;         /* asked: a pass that sent less than this is the last */
        struct vs_progress *progress;  /* asked: phase precopy-memory, its bytes (may be NULL) */
        _Atomic unsigned passes;       /* told: the pre-dumps done */
        _Atomic uint64_t bytes;        /* told: the page bytes they sent */
        _Atomic uint64_t last_bytes;   /* told: the last pass's */
        _Atomic uint64_t dump_ms;      /* told: when the final dump began (CLOCK_MONOTONIC ms) */
};

/* ckpt_take(i, false, page_fd, ...) with memory pre-copy first (page_fd
 * required). */
int ckpt_take_precopy(struct instance *i, int page_fd, struct ckpt_precopy *pc, struct inst_waiter *w,
                      struct op **ret_op, vs_error *err);

/* A post-copy move's dump (pages.h): `criu dump --lazy-pages --ps-socket`
 * on page_fd, the anonymous memory served there once the checkpoint is
 * committed, which the hook says with a byte on committed_fd; w hears the
 * dump's end, after the last page went.  A dump failing after the commit
 * freezes the processes CRIU resumed and reads verdict_fd: 'r' resumes
 * them as they were, anything else (its end) kills them (ENOLINK); the
 * checkpoint is removed either way.  The caller keeps its fds. */
int ckpt_take_postcopy(struct instance *i, int page_fd, int committed_fd, int verdict_fd, struct inst_waiter *w,
                       vs_error *err);

/* Bring a checkpointed instance back from its checkpoint, which is
 * consumed on success and kept on failure.  CRIU makes an unprivileged
 * instance's mount namespace itself, where none of its mounts is locked
 * (the start's step_lock_mounts): root inside could undo the masks.  Such
 * a restore is refused (EPERM, nothing changed) unless unlocked_mounts
 * says the caller accepts that until the instance's next start. */
int ckpt_restore(struct instance *i, bool unlocked_mounts, struct inst_waiter *w, struct op **ret_op, vs_error *err);

/* ckpt_restore() of a post-copy move's target (pages.h): `criu restore
 * --lazy-pages`, once the lazy-pages daemon of name's page session listens
 * in the images' directory; it runs as soon as restored, its memory
 * fetched meanwhile.  A privileged instance only. */
int ckpt_restore_lazy(struct instance *i, struct inst_waiter *w, struct op **ret_op, vs_error *err);

/* In the message of a lazy restore that failed after CRIU let the tasks
 * run: the source of a post-copy move must not resume its copy. */
#define CKPT_RAN_HERE "its processes ran here before it failed"

/* Remove the checkpoint of an instance that is not busy: a checkpointed
 * one becomes stopped. */
int ckpt_discard(struct instance *i, vs_error *err);

/* {"taken", "leave_running", "bytes"} of the committed checkpoint, or
 * NULL when there is none. */
json_t *ckpt_json(struct instance *i);

/* A checkpoint's images (dir: a checkpoint/ directory, not in use) made
 * for another block of host ids: the user namespace's mapping
 * (userns-*.img: CRIU keeps every other id as seen inside) and vsd.json's
 * id_base, from old_base to new_base.  For an imported instance, which
 * gets a block of its own on this host. */
int ckpt_relocate_ids(const char *dir, uint64_t old_base, uint64_t new_base, vs_error *err);

/* At daemon start, after the registry is loaded (helpers of the previous
 * daemon killed, inits re-adopted): finish or undo what an interrupted
 * checkpoint or restore left. */
void ckpt_recover(struct vsd *v);

/* After ckpt_recover(), for a move's recovery (migrate.c): an instance
 * whose post-copy dump was interrupted after its commit (its checkpoint
 * lacks the memory CRIU was to serve lazily; the processes, which CRIU let
 * go when it died, hold it).  may_have_gone: its archive may have reached
 * the target, which may run it: the processes are ended as the dump would
 * have (1).  Otherwise they run on here as they were, without CRIU's lock
 * and repair mode, the link up, the checkpoint discarded (2).  0: nothing
 * of that kind. */
int ckpt_recover_lazy(struct instance *i, bool may_have_gone);

/* The instance's processes live with a committed post-copy checkpoint
 * (lacking their memory, which they hold): what ckpt_recover_lazy() takes. */
bool ckpt_lazy_held(struct instance *i);

/* vsd --checkpoint-commit DIR [LINK]: CRIU's post-dump action (the dumped
 * processes still held, the network still locked): the images of
 * DIR/.checkpoint.tmp synced and put in place as DIR/checkpoint in one
 * rename, then, for a dump that ends the instance, the host side of its
 * link LINK set down before CRIU kills it.  A non-zero exit makes CRIU
 * resume the instance as it was. */
int ckpt_commit_main(const char *inst_dir, const char *link);

/* vsd --checkpoint-freeze FILE 1|0: a post-copy dump's action freezes (or,
 * its commit failing, thaws) the instance through its freezer's FILE
 * (cg_freezer_file()) and waits until the kernel says it is done. */
int ckpt_freeze_main(const char *file, const char *state);

/* CRIU's action script of a restore: this binary, run by CRIU with no
 * argument and CRTOOLS_SCRIPT_ACTION (action) in its environment, beside
 * what the restore's helper put there (CKPT_ENV_*).  No file is written
 * for it, so none is left when the daemon dies during the restore.  At
 * post-setup-namespaces: every controller that each cgroup of the
 * instance enabled for its children when dumped (the restoring images'
 * vsd-subtree), enabled again below the instance's cgroup namespace root,
 * parents first; one that fails is skipped.  Any other action: nothing.
 * 0, or -errno without the cgroup root. */
#define CKPT_ENV_RESTORING "VSD_CKPT_RESTORING"
#define CKPT_ENV_CG_ROOT "VSD_CKPT_CG_ROOT"
int ckpt_action_main(const char *action);

/* In CRIU's seccomp image img (len bytes), every filter's notify return
 * (SECCOMP_RET_USER_NOTIF) made an allow, in place; *ret_changed counts
 * them.  -EBADMSG when img is not such an image or is cut. */
int ckpt_seccomp_notify_to_allow(uint8_t *img, size_t len, unsigned *ret_changed);

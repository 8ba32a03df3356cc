/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/inst/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/core/ops.h"
#include "vsd/core/syscalls.h"
#include "vsd/core/work.h"
#include "vsd/inst/instance.h"
#include "vsd/storage/storage.h"

/* Present in a clone's directory until its first start has written it a
 * fresh /etc/machine-id. */

static void inst_dir(const struct instance *i, char *buf, size_t len) {
        snprintf(buf, len, "%s/instances/%s", i->vsd->set.root, i->cfg.name);
}

static bool is_image(const struct instance *i) {
        return stor_backend_of(i->cfg.storage.backend) == STOR_IMAGE;
}

static void snap_path(const struct instance *i, const char *snap, char *buf, size_t len) {
        snprintf(buf, len, "%s/instances/%s/snapshots/%s%s", i->vsd->set.root, i->cfg.name, snap,
                 is_image(i) ? ".img" : "");
}

static int check_usable(const struct instance *i, vs_error *err) {
        if (i->state == INST_BROKEN)
                return vs_err_msg(err, EINVAL, "instance '%s' is broken: %s", i->cfg.name, i->error);
        if (i->state == INST_STOPPING)
                return vs_err_msg(err, EBUSY, "instance '%s' is stopping", i->cfg.name);
        return inst_check_idle(i, err);
}

/* ---- long operations ------------------------------------------------------ */

/*
 * A snapshot, a restore or a clone copies a layer: seconds to minutes for a
 * large image.  The copy runs in a helper (work.h) while the loop goes on;
 * the instance is busy meanwhile (its lifecycle requests are refused) and
 * the request that asked waits.  What the copy writes has a hidden name
 * (snapshots/.NAME.img.tmp, the clone's .NAME.new, the restore's
 * disk.img.restore) until it is complete and synced; then one rename puts it
 * in place and the directory is synced.  A crash at any moment leaves
 * the old state and a hidden leftover the next daemon removes; a running
 * instance frozen for the copy is thawed by the next daemon
 * (<run_dir>/<name>.frozen tells it a snapshot ran).
 */
enum op_kind { OP_SNAPSHOT, OP_RESTORE, OP_CLONE };

struct snap_op {
        enum op_kind kind;
        struct instance *i;      /* copied from, or restored */
        struct instance *clone;  /* OP_CLONE: the new one, registered, busy */
        struct inst_config cfg;  /* i's */
        char dir[512];           /* i's directory */
        char src[700];           /* OP_RESTORE: the snapshot */
        char tmp[700];           /* where the copy goes */
        char final[700];         /* OP_SNAPSHOT: its name when complete */
        char name[VS_NAME_MAX + 1]; /* the snapshot's or the clone's */
        int fsfd;                /* i's mounted filesystem, for FIFREEZE */
        bool froze;              /* i's cgroup frozen for the copy */
        struct op *op;           /* what clients see of it (ops.h) */
        char work_id[CG_WORK_ID_MAX + 1]; /* its helper's (work.h) */
};

static const char *const op_what[] = {
        [OP_SNAPSHOT] = "a snapshot is being taken",
        [OP_RESTORE] = "a snapshot is being restored",
        [OP_CLONE] = "it is being cloned",
};

static void op_free(struct snap_op *op) {
        safe_close(&op->fsfd);
        free(op);
}

/* In the helper. */
static int op_run(void *arg, vs_error *err) {
        struct snap_op *op = arg;
        /* the filesystem fd, if any, is fd 4 here (work_start) */
        int fsfd = op->fsfd >= 0 ? 4 : -1;
        /* the daemon's copy of the operation is ours too (forked), and
         * its progress is memory we share */
        struct vs_progress *p = op_progress(op->op);
        if (op->kind == OP_RESTORE)
                return stor_restore_layer(op->i->vsd, op->dir, &op->cfg, op->src, p, err);
        return stor_copy_layer(op->i->vsd, op->dir, &op->cfg, fsfd, op->tmp, p, err);
}

/* A clone's copy is complete: its identity, then the rename into place. */
static int clone_finish(struct snap_op *op, vs_error *err) {
        struct instance *c = op->clone;
        char dir[512], path[700], src_marker[700];
        inst_new_dir(c, dir, sizeof(dir));
        int r;
        if (is_image(op->i)) {
                /* its own filesystem UUID, not the source's */
                r = stor_image_new_uuid(op->tmp, err);
                if (r < 0)
                        return r;
                /* a grow the source has pending is the clone's too */
                snprintf(src_marker, sizeof(src_marker), "%s/disk.grow", op->dir);
                snprintf(path, sizeof(path), "%s/disk.grow", dir);
                if (access(src_marker, F_OK) == 0 && (r = vs_write_atomic(path, "", 0, 0600)) < 0)
                        return vs_err(err, -r, "write %s", path);
                snprintf(path, sizeof(path), "%s/disk", dir);
        } else
                snprintf(path, sizeof(path), "%s/work", dir);
        if (mkdir(path, 0755) < 0)
                return vs_err(err, errno, "create %s", path);
        snprintf(path, sizeof(path), "%s/" STOR_IDENTITY_MARKER, dir);
        r = vs_write_atomic(path, "", 0, 0600);
        if (r < 0)
                return vs_err(err, -r, "write %s", path);
        return inst_create_commit(c, err);
}

/* In the loop, the helper gone: thaw, then put the result in place. */
static void op_done(void *userdata, int result, const vs_error *werr) {
        struct snap_op *op = userdata;
        struct instance *i = op->i;
        vs_error err = { 0 };
        int r = result;
        if (r < 0)
                err = *werr;
        if (op->fsfd >= 0 || op->froze) {
                char marker[512];
                vs_error terr = { 0 };
                /* a helper killed between its freeze and its thaw */
                if (op->fsfd >= 0 && stor_thaw(i->vsd, op->dir, &op->cfg, &terr) > 0)
                        log_warn("Instance %s: thawed its filesystem after the copy's helper", i->cfg.name);
                if (op->froze && cg_freeze(i->vsd->cg, i->cfg.name, false, &terr) < 0)
                        log_err("Instance %s: failed to thaw it after the copy: %s", i->cfg.name, terr.msg);
                inst_frozen_marker(i, marker, sizeof(marker));
                (void) unlink(marker);
        }
        if (r >= 0 && op->kind == OP_SNAPSHOT) {
                r = vs_rename_durable(op->tmp, op->final);
                if (r < 0)
                        vs_err(&err, -r, "rename %s", op->tmp);
        }
        if (r >= 0 && op->kind == OP_CLONE)
                r = clone_finish(op, &err);
        if (r < 0) {
                if (op->kind == OP_SNAPSHOT)
                        (void) vs_rm_rf(op->tmp);
                /* a cancelled or failed restore's copy beside the layer */
                if (op->kind == OP_RESTORE && stor_cleanup_partial(op->dir) < 0)
                        log_warn("Instance %s: failed to remove the partial restore, ignoring: the next start removes it",
                                 i->cfg.name);
                if (op->kind == OP_CLONE)
                        inst_create_abort(op->clone);
                static const char *const verb[] = { [OP_SNAPSHOT] = "take snapshot", [OP_RESTORE] = "restore snapshot",
                                                    [OP_CLONE] = "clone" };
                vs_err_prefix(&err, "Failed to %s %s of '%s'", verb[op->kind], op->name, i->cfg.name);
                log_err("%s", err.msg);
        } else if (op->kind == OP_SNAPSHOT)
                log_info("Instance %s: snapshot %s taken", i->cfg.name, op->name);
        else if (op->kind == OP_RESTORE)
                log_info("Instance %s: snapshot %s restored", i->cfg.name, op->name);
        i->busy[0] = '\0';
        op_finish(op->op, r, &err);
        inst_notify_waiters(i, r, &err);
        op_free(op);
}

static int op_cancel_cb(void *userdata, vs_error *err) {
        struct snap_op *op = userdata;
        int r = work_cancel(op->i->vsd, op->work_id);
        return r < 0 ? vs_err(err, -r, "cancel the copy of '%s'", op->i->cfg.name) : 0;
}

/* Freeze a running instance (a paused one already is), note it for the
 * next daemon, and start the helper.  w is told the outcome; *ret_op
 * (may be NULL) is what clients see of it. */
static int op_start(struct snap_op *op, struct inst_waiter *w, struct op **ret_op, vs_error *err) {
        struct instance *i = op->i;
        char *id = op->work_id, marker[512];
        static const char *const kind_id[] = { [OP_SNAPSHOT] = "snapshot", [OP_RESTORE] = "restore",
                                               [OP_CLONE] = "clone" };
        snprintf(id, sizeof(op->work_id), "%s-%s", kind_id[op->kind], i->cfg.name);
        int r = op_begin(i->vsd, kind_id[op->kind], i->cfg.name, op->name, &op->op, err);
        if (r < 0)
                return r;
        op->fsfd = -EBADF;
        r = inst_release_disk(i, err);
        if (r < 0)
                goto fail;
        if (op->kind != OP_RESTORE && inst_is_active(i)) {
                /* for FIFREEZE in the helper: the filesystem as it is on
                 * disk, journal flushed, not its page cache */
                int fd = stor_fs_fd(i->vsd, op->dir, &op->cfg);
                if (fd >= 0)
                        op->fsfd = fd;
                else if (is_image(i))
                        return vs_err(err, -fd, "find the mounted disk of '%s'", i->cfg.name);
                inst_frozen_marker(i, marker, sizeof(marker));
                r = vs_write_replace(marker, "snapshot\n", 9, 0600);
                if (r < 0) {
                        vs_err(err, -r, "write %s", marker);
                        goto fail;
                }
                if (i->state == INST_RUNNING) {
                        r = cg_freeze(i->vsd->cg, i->cfg.name, true, err);
                        if (r < 0) {
                                (void) unlink(marker);
                                vs_err_prefix(err, "freeze '%s' for the copy", i->cfg.name);
                                goto fail;
                        }
                        op->froze = true;
                }
        }
        r = work_start(i->vsd, id, op_run, op, op->fsfd, op_done, op, err);
        if (r < 0) {
                if (op->froze)
                        (void) cg_freeze(i->vsd->cg, i->cfg.name, false, NULL);
                if (op->fsfd >= 0) {
                        inst_frozen_marker(i, marker, sizeof(marker));
                        (void) unlink(marker);
                }
                goto fail;
        }
        op_set_cancel(op->op, op_cancel_cb, op);
        if (ret_op)
                *ret_op = op->op;
        snprintf(i->busy, sizeof(i->busy), "%s", op_what[op->kind]);
        if (w) {
                w->next = i->waiters;
                i->waiters = w;
        }
        return 0;
fail:
        /* nothing started: the operation ends as it began */
        op_finish(op->op, -err->code, err);
        op->op = NULL;
        return -err->code;
}

static struct snap_op *op_new(struct instance *i, enum op_kind kind, const char *name, vs_error *err) {
        struct snap_op *op = calloc(1, sizeof(*op));
        if (!op) {
                vs_err(err, ENOMEM, "start a copy of '%s'", i->cfg.name);
                return NULL;
        }
        op->kind = kind;
        op->i = i;
        op->cfg = i->cfg;
        op->fsfd = -EBADF;
        inst_dir(i, op->dir, sizeof(op->dir));
        snprintf(op->name, sizeof(op->name), "%s", name);
        return op;
}

int snap_create(struct instance *i, const char *snap, struct inst_waiter *w, struct op **ret_op, vs_error *err) {
        char dir[600];
        int r = check_usable(i, err);
        if (r < 0)
                return r;
        if (vs_name_check("snapshot", snap, err) < 0)
                return -EINVAL;
        struct snap_op *op = op_new(i, OP_SNAPSHOT, snap, err);
        if (!op)
                return -ENOMEM;
        snprintf(dir, sizeof(dir), "%s/instances/%s/snapshots", i->vsd->set.root, i->cfg.name);
        snap_path(i, snap, op->final, sizeof(op->final));
        snprintf(op->tmp, sizeof(op->tmp), "%s/.%s%s.tmp", dir, snap, is_image(i) ? ".img" : "");
        if (access(op->final, F_OK) == 0) {
                op_free(op);
                return vs_err_msg(err, EEXIST, "instance '%s' already has a snapshot '%s'", i->cfg.name, snap);
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                r = vs_err(err, errno, "create %s", dir);
                op_free(op);
                return r;
        }
        (void) vs_rm_rf(op->tmp);
        r = op_start(op, w, ret_op, err);
        if (r < 0)
                op_free(op);
        return r;
}

static int cleanup_partial(struct instance *i) {
        char dir[600];
        snprintf(dir, sizeof(dir), "%s/instances/%s/snapshots", i->vsd->set.root, i->cfg.name);
        DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        struct dirent *de;
        int n = 0, r = 0;
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                if (de->d_name[0] != '.' || len < 5 || !streq(de->d_name + len - 4, ".tmp"))
                        continue;
                char path[900];
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                int k = vs_rm_rf(path);
                if (k < 0) {
                        r = k;
                        continue;
                }
                n++;
                log_info("Instance %s: removed the partial snapshot %s of an interrupted copy", i->cfg.name, de->d_name);
        }
        closedir(d);
        return r < 0 ? r : n;
}

void snap_cleanup_leftovers(struct vsd *v) {
        for (size_t k = 0; k < v->n_inst; k++) {
                struct instance *i = v->inst[k];
                if (i->state == INST_BROKEN)
                        continue;
                int r = cleanup_partial(i);
                if (r < 0)
                        log_warn("Instance %s: failed to remove a partial snapshot: %s, ignoring", i->cfg.name,
                                 strerror(-r));
        }
}

int snap_list(struct instance *i, json_t **ret, vs_error *err) {
        char dir[600];
        snprintf(dir, sizeof(dir), "%s/instances/%s/snapshots", i->vsd->set.root, i->cfg.name);
        json_t *arr = json_array();
        if (!arr)
                return vs_err(err, ENOMEM, "list the snapshots of %s", i->cfg.name);
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                char name[VS_NAME_MAX + 1];
                struct stat st;
                size_t len = strlen(de->d_name);
                /* hidden: a copy not complete yet (.NAME.img.tmp) */
                if (de->d_name[0] == '.' || (is_image(i) && (len < 5 || !streq(de->d_name + len - 4, ".img"))))
                        continue;
                snprintf(name, sizeof(name), "%.*s", (int) (is_image(i) ? len - 4 : len), de->d_name);
                if (!vs_name_valid(name) || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                json_array_append_new(arr, json_pack("{s:s, s:I, s:I}", "name", name, "host_bytes",
                                                     (json_int_t) st.st_blocks * 512, "created",
                                                     (json_int_t) st.st_mtime));
        }
        if (d)
                closedir(d);
        /* by name: readdir's order is the filesystem's */
        size_t n = json_array_size(arr);
        for (size_t a = 1; a < n; a++)
                for (size_t b = a; b > 0; b--) {
                        json_t *x = json_array_get(arr, b - 1), *y = json_array_get(arr, b);
                        if (strcmp(json_string_value(json_object_get(x, "name")),
                                   json_string_value(json_object_get(y, "name"))) <= 0)
                                break;
                        json_incref(x);
                        json_array_set(arr, b - 1, y);
                        json_array_set_new(arr, b, x);
                }
        *ret = arr;
        return 0;
}

static int lookup_snap(struct instance *i, const char *snap, char *path, size_t len, vs_error *err) {
        if (!vs_name_valid(snap))
                return vs_name_check("snapshot", snap, err);
        snap_path(i, snap, path, len);
        if (access(path, F_OK) < 0)
                return vs_err_msg(err, ENOENT, "instance '%s' has no snapshot '%s'", i->cfg.name, snap);
        return 0;
}

int snap_delete(struct instance *i, const char *snap, vs_error *err) {
        char path[700], tmp[720];
        int r = lookup_snap(i, snap, path, sizeof(path), err);
        if (r < 0)
                return r;
        if (i->busy[0])
                return inst_check_idle(i, err);
        /* renamed first: gone at once; a crash while it is removed leaves a
         * hidden name, removed at the next start */
        char *slash = strrchr(path, '/');
        snprintf(tmp, sizeof(tmp), "%.*s/.%s.del.tmp", (int) (slash - path), path, slash + 1);
        if (rename(path, tmp) < 0)
                return vs_err(err, errno, "remove %s", path);
        r = vs_rm_rf(tmp);
        if (r < 0)
                log_warn("Failed to remove %s: %s, ignoring: the next start removes it", tmp, strerror(-r));
        return 0;
}

int snap_restore(struct instance *i, const char *snap, struct inst_waiter *w, struct op **ret_op, vs_error *err) {
        int r = check_usable(i, err);
        if (r < 0)
                return r;
        struct snap_op *op = op_new(i, OP_RESTORE, snap, err);
        if (!op)
                return -ENOMEM;
        r = lookup_snap(i, snap, op->src, sizeof(op->src), err);
        if (r >= 0 && i->state != INST_STOPPED)
                r = vs_err_msg(err, EBUSY, "instance '%s' is %s; stop it before restoring a snapshot", i->cfg.name,
                               inst_state_name(i->state));
        if (r >= 0)
                r = stor_restore_prepare(i->vsd, op->dir, &op->cfg, err);
        if (r >= 0)
                r = op_start(op, w, ret_op, err);
        if (r < 0) {
                op_free(op);
                return r;
        }
        return 0;
}

/* ---- clones ----------------------------------------------------------------- */

int snap_clone(struct instance *src, const char *dst_name, struct inst_waiter *w, struct op **ret_op,
               vs_error *err) {
        int r = check_usable(src, err);
        if (r < 0)
                return r;
        struct inst_config cfg = src->cfg;
        snprintf(cfg.name, sizeof(cfg.name), "%s", dst_name);
        /* its own address from the pool; the source's fixed addresses and
         * host ports are the source's */
        cfg.net.n_addr = 0;
        cfg.net.n_fwd = 0;
        cfg.net.auto_addr = false;
        cfg.storage.backend = stor_backend_of(cfg.storage.backend);
        struct snap_op *op = op_new(src, OP_CLONE, dst_name, err);
        if (!op)
                return -ENOMEM;
        r = inst_create_begin(src->vsd, &cfg, "it is being made as a clone", &op->clone, err);
        if (r < 0) {
                op_free(op);
                return r;
        }
        char dir[512];
        inst_new_dir(op->clone, dir, sizeof(dir));
        if (is_image(src))
                snprintf(op->tmp, sizeof(op->tmp), "%s/disk.img", dir);
        else
                snprintf(op->tmp, sizeof(op->tmp), "%s", dir);
        r = op_start(op, w, ret_op, err);
        if (r < 0) {
                inst_create_abort(op->clone);
                op_free(op);
                return r;
        }
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Export and import of an instance (transfer.h), the daemon's side and the
 * helper's.  The archive's layout is archive.h's; the manifest (first
 * member) says:
 *
 *   {"format": "vsd-instance", "version": 1, "name", "state": "stopped" |
 *    "checkpointed", "backend": "image" | "dir", "disk_bytes" (the image's
 *    size), "data_bytes" (what the archive's data takes unpacked),
 *    "template": {"name", "id"}, "snapshots": [names], "exported" (unix
 *    seconds), "vsd" (the version), "pages": "page-server" (a live move's:
 *    the checkpoint's page images went ahead to the target, pages.h)}
 *
 * An import's helper reads it and config.ini, sends both to the daemon
 * with this host's id of the template (one SOCK_SEQPACKET message), and
 * waits for the verdict: {"go": false}, or {"go": true, "dir", "layout",
 * "image_size", "ckpt_bytes", "old_id_base", "new_id_base"} once the
 * daemon has registered the instance under its hidden directory.
 */
#include "vsd/inst/transfer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "base/proto.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/core/loop.h"
#include "vsd/core/ops.h"
#include "vsd/core/work.h"
#include "vsd/inst/archive.h"
#include "vsd/inst/checkpoint.h"
#include "vsd/inst/instance.h"
#include "vsd/inst/pages.h"
#include "vsd/inst/templates.h"
#include "vsd/storage/storage.h"

#define MANIFEST_MAX (16 << 10)
#define CONFIG_MAX (64 << 10)
#define MSG_MAX (MANIFEST_MAX + 2 * CONFIG_MAX + 1024)
/* the largest image an archive may bring */
#define IMAGE_MAX (1ULL << 46)
/* a checkpoint holds the instance's memory and little else: bounded by its
 * memory limit with room for its files, or this when it has no limit */
#define CKPT_MAX_UNLIMITED (64ULL << 30)

enum xfer_kind { XFER_EXPORT, XFER_IMPORT };

struct xfer {
        enum xfer_kind kind;
        struct vsd *v;
        struct instance *i;         /* export: the instance; import: registered once accepted */
        char name[VS_NAME_MAX + 1]; /* export: the instance's; import: the new name, or "" */
        char root[256];
        char dir[600];              /* export: the instance's directory */
        bool snapshots, zstd;
        bool checkpointed;
        bool without_pages;         /* export: the page images went by the page server */
        bool move;                  /* export: for a move that runs it there (the manifest says
                                     * so); import: the archive said so: INST_INCOMING until it
                                     * runs here */
        struct inst_config cfg;     /* export: the instance's settings */
        /* import */
        int ctl;                    /* the daemon's end of the handshake */
        struct loop_source *ctl_src;
        bool refused;               /* the daemon said no: refusal says why */
        vs_error refusal;
        bool fresh_identity;        /* imported under a new name */
        struct op *op;
        char work_id[CG_WORK_ID_MAX + 1];
};

static void xfer_free(struct xfer *x) {
        if (!x)
                return;
        loop_remove(x->ctl_src);
        safe_close(&x->ctl);
        free(x);
}

static bool is_image(const struct inst_config *c) {
        return stor_backend_of(c->storage.backend) == STOR_IMAGE;
}

/* The data of the regular files below path (a directory layer's tree),
 * the page images left out when without_pages. */
static uint64_t tree_bytes(const char *path, bool without_pages) {
        char *paths[] = { (char *) path, NULL };
        FTS *fts = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR | FTS_XDEV, NULL);
        uint64_t sum = 0;
        FTSENT *e;
        while (fts && (e = fts_read(fts)))
                if (e->fts_info == FTS_F && !(without_pages && pages_image_name(e->fts_name)))
                        sum += (uint64_t) e->fts_statp->st_size;
        if (fts)
                fts_close(fts);
        return sum;
}

static uint64_t file_data(const char *path) {
        struct stat st;
        return lstat(path, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t) st.st_blocks * 512 : 0;
}

/* The snapshots of an instance directory, by name (their files' names
 * checked as the import will check them). */
static json_t *snapshot_names(const char *dir, bool image) {
        char path[700];
        snprintf(path, sizeof(path), "%s/snapshots", dir);
        json_t *arr = json_array();
        DIR *d = opendir(path);
        struct dirent *de;
        while (arr && d && (de = readdir(d))) {
                char name[VS_NAME_MAX + 8];
                size_t n = strlen(de->d_name);
                if (de->d_name[0] == '.' || n >= sizeof(name))
                        continue;
                memcpy(name, de->d_name, n + 1);
                if (image) {
                        if (n < 5 || !streq(name + n - 4, ".img"))
                                continue;
                        name[n - 4] = '\0';
                }
                if (vs_name_valid(name))
                        json_array_append_new(arr, json_string(name));
        }
        if (d)
                closedir(d);
        return arr;
}

/* ---- export (in the helper) ------------------------------------------------ */

static int write_archive(struct xfer *x, int out, struct vs_progress *p, const struct xfer_precopy *pre,
                         vs_error *err) {
        bool image = is_image(&x->cfg);
        char path[800], tid[TMPL_ID_LEN];
        /* a reader that went away is an error, not a signal */
        (void) signal(SIGPIPE, SIG_IGN);
        int r = tmpl_content_id(x->root, x->cfg.template_name, tid, err);
        if (r < 0)
                return r;
        json_t *snaps = x->snapshots ? snapshot_names(x->dir, image) : json_array();
        if (!snaps)
                return vs_err(err, ENOMEM, "list the snapshots");
        uint64_t data = 0;
        snprintf(path, sizeof(path), "%s/%s", x->dir, image ? "disk.img" : "upper");
        data += image ? file_data(path) : tree_bytes(path, false);
        size_t k;
        json_t *s;
        json_array_foreach(snaps, k, s) {
                snprintf(path, sizeof(path), "%s/snapshots/%s%s", x->dir, json_string_value(s),
                         image ? ".img" : "/upper");
                data += image ? file_data(path) : tree_bytes(path, false);
        }
        if (x->checkpointed) {
                snprintf(path, sizeof(path), "%s/%s", x->dir, INST_CHECKPOINT_DIR);
                data += tree_bytes(path, x->without_pages);
        }
        json_t *m = json_pack("{s:s, s:i, s:s, s:s, s:s, s:I, s:I, s:{s:s, s:s}, s:o, s:I, s:s}", "format", XFER_FORMAT,
                              "version", XFER_VERSION, "name", x->cfg.name, "state",
                              x->checkpointed ? "checkpointed" : "stopped", "backend", image ? "image" : "dir",
                              "disk_bytes", (json_int_t) (image ? x->cfg.storage.disk : 0), "data_bytes",
                              (json_int_t) data, "template", "name", x->cfg.template_name, "id", tid, "snapshots",
                              snaps, "exported", (json_int_t) time(NULL), "vsd", VS_VERSION);
        if (m && x->without_pages)
                json_object_set_new(m, "pages", json_string("page-server"));
        if (m && x->move)
                json_object_set_new(m, "move", json_true());
        _cleanup_free_ char *manifest = m ? json_dumps(m, JSON_INDENT(1)) : NULL;
        json_decref(m);
        _cleanup_free_ char *config = NULL;
        size_t config_len = 0;
        snprintf(path, sizeof(path), "%s/config.ini", x->dir);
        if (!manifest)
                return vs_err(err, ENOMEM, "write the manifest");
        r = vs_read_file(path, CONFIG_MAX, &config, &config_len);
        if (r < 0)
                return vs_err(err, -r, "read %s", path);
        vs_progress_total(p, data);
        struct arc_writer *w = NULL;
        r = arc_writer_open(out, x->zstd, p, &w, err);
        if (r < 0)
                return r;
        r = arc_add_bytes(w, ARC_MANIFEST, manifest, strlen(manifest), err);
        if (r >= 0)
                r = arc_add_bytes(w, ARC_CONFIG, config, config_len, err);
        if (r >= 0) {
                snprintf(path, sizeof(path), "%s/%s", x->dir, image ? "disk.img" : "upper");
                if (pre) {
                        r = pre->first(pre->ctx, w, path, err);
                        if (r >= 0)
                                r = pre->final(pre->ctx, w, path, err);
                } else
                        r = image ? arc_add_file(w, "disk.img", path, err) : arc_add_tree(w, "upper", path, err);
        }
        json_t *list = snapshot_names(x->dir, image);
        if (r >= 0 && x->snapshots && json_array_size(list) > 0)
                r = arc_add_dir(w, "snapshots", err);
        json_array_foreach(list, k, s) {
                if (r < 0 || !x->snapshots)
                        break;
                char as[300];
                const char *name = json_string_value(s);
                if (image) {
                        snprintf(path, sizeof(path), "%s/snapshots/%s.img", x->dir, name);
                        snprintf(as, sizeof(as), "snapshots/%s.img", name);
                        r = arc_add_file(w, as, path, err);
                } else {
                        snprintf(as, sizeof(as), "snapshots/%s", name);
                        r = arc_add_dir(w, as, err);
                        snprintf(path, sizeof(path), "%s/snapshots/%s/upper", x->dir, name);
                        snprintf(as, sizeof(as), "snapshots/%s/upper", name);
                        if (r >= 0)
                                r = arc_add_tree(w, as, path, err);
                }
        }
        json_decref(list);
        if (r >= 0 && x->checkpointed) {
                snprintf(path, sizeof(path), "%s/%s", x->dir, INST_CHECKPOINT_DIR);
                DIR *d = opendir(path);
                if (!d)
                        r = vs_err(err, errno, "open %s", path);
                else
                        r = arc_add_dir(w, INST_CHECKPOINT_DIR, err);
                struct dirent *de;
                while (r >= 0 && d && (de = readdir(d))) {
                        char file[1000], as[300];
                        struct stat st;
                        if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                            !S_ISREG(st.st_mode) || (x->without_pages && pages_image_name(de->d_name)))
                                continue;
                        snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
                        snprintf(as, sizeof(as), "%s/%s", INST_CHECKPOINT_DIR, de->d_name);
                        r = arc_add_file(w, as, file, err);
                }
                if (d)
                        closedir(d);
        }
        if (r < 0) {
                arc_writer_free(w);
                return r;
        }
        r = arc_writer_close(w, err);
        if (r < 0)
                return r;
        if (!pre)
                vs_progress_done(p, data);
        struct stat st;
        if (fstat(out, &st) == 0 && S_ISREG(st.st_mode) && fsync(out) < 0)
                return vs_err(err, errno, "sync the archive");
        return 0;
}

static int export_run(void *arg, vs_error *err) {
        struct xfer *x = arg;
        return write_archive(x, 4, op_progress(x->op), NULL, err);
}

int xfer_write_archive(struct instance *i, int out, bool snapshots, bool zstd, bool without_pages, bool to_run,
                       struct vs_progress *p, const struct xfer_precopy *pre, vs_error *err) {
        struct xfer x = { .kind = XFER_EXPORT, .v = i->vsd, .snapshots = snapshots, .zstd = zstd, .ctl = -EBADF,
                          .cfg = i->cfg, .checkpointed = i->state == INST_CHECKPOINTED,
                          .without_pages = without_pages && i->state == INST_CHECKPOINTED, .move = to_run };
        snprintf(x.name, sizeof(x.name), "%s", i->cfg.name);
        snprintf(x.root, sizeof(x.root), "%s", i->vsd->set.root);
        inst_dir_path(i, x.dir, sizeof(x.dir));
        (void) signal(SIGPIPE, SIG_IGN);
        return write_archive(&x, out, p, pre, err);
}

/* ---- import (in the helper) ------------------------------------------------ */

static int import_run(void *arg, vs_error *err) {
        struct xfer *x = arg;
        const int in = 4, ctl = 5;
        struct arc_reader *rd = NULL;
        _cleanup_free_ char *manifest = NULL, *config = NULL, *msg = NULL;
        int r = arc_reader_open(in, op_progress(x->op), &rd, err);
        if (r >= 0)
                r = arc_read_small(rd, ARC_MANIFEST, MANIFEST_MAX, &manifest, err);
        if (r >= 0)
                r = arc_read_small(rd, ARC_CONFIG, CONFIG_MAX, &config, err);
        if (r < 0) {
                arc_reader_free(rd);
                return r;
        }
        /* this host's id of the template the archive names */
        json_t *m = json_loads(manifest, 0, NULL);
        size_t n_snaps = json_array_size(json_object_get(m, "snapshots"));
        const char *pages = json_string_value(json_object_get(m, "pages"));
        bool pages_ahead = pages && streq(pages, "page-server");
        char name[VS_NAME_MAX + 1] = "";
        snprintf(name, sizeof(name), "%s", json_string_value(json_object_get(m, "name")) ?: "");
        const char *tname = json_string_value(json_object_get(json_object_get(m, "template"), "name"));
        char tid[TMPL_ID_LEN] = "";
        vs_error terr = { 0 };
        if (tname)
                (void) tmpl_content_id(x->root, tname, tid, &terr);
        json_t *j = json_pack("{s:o*, s:s, s:s, s:s}", "manifest", m, "config", config, "template_id", tid,
                              "template_error", terr.msg);
        msg = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!msg || send(ctl, msg, strlen(msg), MSG_NOSIGNAL) < 0) {
                arc_reader_free(rd);
                return vs_err(err, msg ? errno : ENOMEM, "tell the daemon what the archive holds");
        }
        char verdict[2048];
        ssize_t n = recv(ctl, verdict, sizeof(verdict) - 1, 0);
        verdict[n > 0 ? n : 0] = '\0';
        json_t *v = json_loads(verdict, 0, NULL);
        int go = 0;
        const char *dir = NULL, *layout = NULL;
        json_int_t image_size = 0, ckpt_bytes = 0, old_base = 0, new_base = 0;
        if (!v || json_unpack(v, "{s:b, s?s, s?s, s?I, s?I, s?I, s?I}", "go", &go, "dir", &dir, "layout", &layout,
                              "image_size", &image_size, "ckpt_bytes", &ckpt_bytes, "old_id_base", &old_base,
                              "new_id_base", &new_base) < 0 ||
            !go || !dir || !layout) {
                json_decref(v);
                arc_reader_free(rd);
                return vs_err_msg(err, ECANCELED, "refused by the daemon");
        }
        struct arc_limits lim = { .layout = streq(layout, "image") ? ARC_LAYOUT_IMAGE : ARC_LAYOUT_DIR,
                                  .image_size = (uint64_t) image_size,
                                  .ckpt_bytes = (uint64_t) ckpt_bytes };
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct arc_found found = { 0 };
        if (dfd < 0)
                r = vs_err(err, errno, "open %s", dir);
        else
                r = arc_extract_rest(rd, dfd, &lim, &found, err);
        arc_reader_free(rd);
        /* what the manifest promised is what came */
        bool image = lim.layout == ARC_LAYOUT_IMAGE;
        if (r >= 0 && (image ? !found.disk : !found.upper))
                r = vs_err_msg(err, EINVAL, "the archive has no %s", image ? "disk.img" : "upper/ tree");
        if (r >= 0 && found.snapshots != n_snaps)
                r = vs_err_msg(err, EINVAL, "the archive has %u snapshots where its manifest says %zu", found.snapshots,
                               n_snaps);
        if (r >= 0 && ckpt_bytes > 0 && !found.checkpoint)
                r = vs_err_msg(err, EINVAL, "the archive of a checkpointed instance has no checkpoint");
        if (r >= 0 && ckpt_bytes == 0 && found.checkpoint)
                r = vs_err_msg(err, EINVAL, "the archive of a stopped instance has a checkpoint");
        /* the mount point of the image's filesystem, or the overlay's work
         * directory beside upper/: as a create makes them */
        if (r >= 0 && mkdirat(dfd, image ? "disk" : "work", 0755) < 0)
                r = vs_err(err, errno, "create %s/%s", dir, image ? "disk" : "work");
        /* the page images went ahead to this host's page server (the
         * daemon accepted the manifest's name: valid, and now this
         * import's) */
        if (r >= 0 && found.checkpoint && pages_ahead) {
                char cp[800];
                snprintf(cp, sizeof(cp), "%s/%s", dir, INST_CHECKPOINT_DIR);
                r = pages_claim(x->root, name, cp, err);
        }
        if (r >= 0 && found.checkpoint && old_base != new_base) {
                char cp[800];
                snprintf(cp, sizeof(cp), "%s/%s", dir, INST_CHECKPOINT_DIR);
                r = ckpt_relocate_ids(cp, (uint64_t) old_base, (uint64_t) new_base, err);
        }
        json_decref(v);
        /* on disk before the rename that makes it an instance */
        if (r >= 0 && syncfs(dfd) < 0)
                r = vs_err(err, errno, "sync %s", dir);
        return r;
}

/* ---- in the loop ------------------------------------------------------------ */

static int op_cancel_cb(void *userdata, vs_error *err) {
        struct xfer *x = userdata;
        int r = work_cancel(x->v, x->work_id);
        return r < 0 ? vs_err(err, -r, "cancel the %s", x->kind == XFER_EXPORT ? "export" : "import") : 0;
}

static void export_done(void *userdata, int result, const vs_error *werr) {
        struct xfer *x = userdata;
        vs_error err = { 0 };
        struct instance *i = inst_find(x->v, x->name);
        if (i)
                i->busy[0] = '\0';
        if (result < 0) {
                err = *werr;
                vs_err_prefix(&err, "Failed to export '%s'", x->name);
                log_err("%s", err.msg);
        } else
                log_info("Instance %s exported", x->name);
        op_finish(x->op, result, &err);
        xfer_free(x);
}

int xfer_export_check(struct vsd *v, const char *name, vs_error *err) {
        struct instance *i;
        int r = inst_lookup(v, name, &i, err);
        if (r < 0)
                return r;
        if (i->state == INST_BROKEN)
                return vs_err_msg(err, EINVAL, "instance '%s' is broken: %s", name, i->error);
        if (inst_check_idle(i, err) < 0)
                return -EBUSY;
        if (!inst_is_down(i))
                return vs_err_msg(err, EBUSY, "instance '%s' is %s; stop or checkpoint it to export it", name,
                                  inst_state_name(i->state));
        /* a live move's checkpoint left here by a failure whose restore
         * failed too: its memory lies in memory pre-copy's passes too
         * (checkpoint/pre-N, its `parent`), which an archive does not take */
        char dir[600], parent[700];
        inst_dir_path(i, dir, sizeof(dir));
        snprintf(parent, sizeof(parent), "%s/%s/parent", dir, INST_CHECKPOINT_DIR);
        struct stat st;
        if (i->state == INST_CHECKPOINTED && lstat(parent, &st) == 0)
                return vs_err_msg(err, EOPNOTSUPP,
                                  "instance '%s''s checkpoint keeps its memory in memory pre-copy passes, which an "
                                  "archive does not take: restore it, then checkpoint it again to export it",
                                  name);
        return 0;
}

int xfer_export(struct vsd *v, const char *name, int fd, bool snapshots, bool zstd, struct op **ret_op,
                vs_error *err) {
        _cleanup_close_ int keep = fd;
        int r = xfer_export_check(v, name, err);
        if (r < 0)
                return vs_err_prefix(err, "Failed to export '%s'", name);
        struct instance *i = inst_find(v, name);
        struct xfer *x = calloc(1, sizeof(*x));
        if (!x)
                return vs_err(err, ENOMEM, "Failed to export '%s'", name);
        *x = (struct xfer){ .kind = XFER_EXPORT, .v = v, .snapshots = snapshots, .zstd = zstd, .ctl = -EBADF,
                            .cfg = i->cfg, .checkpointed = i->state == INST_CHECKPOINTED };
        snprintf(x->name, sizeof(x->name), "%s", name);
        snprintf(x->root, sizeof(x->root), "%s", v->set.root);
        inst_dir_path(i, x->dir, sizeof(x->dir));
        snprintf(x->work_id, sizeof(x->work_id), "export-%s", name);
        r = op_begin(v, "export", name, NULL, &x->op, err);
        if (r >= 0) {
                r = inst_release_disk(i, err);
                if (r >= 0)
                        r = work_start(v, x->work_id, export_run, x, keep, export_done, x, err);
                if (r < 0)
                        op_finish(x->op, r, err);
        }
        if (r < 0) {
                xfer_free(x);
                return vs_err_prefix(err, "Failed to export '%s'", name);
        }
        op_set_cancel(x->op, op_cancel_cb, x);
        snprintf(i->busy, sizeof(i->busy), "%s", "it is being exported");
        if (ret_op)
                *ret_op = x->op;
        return 0;
}

/* config.ini's text through the settings table, as a file would be. */
static int config_from_text(const char *text, struct inst_config *cfg, vs_error *err) {
        _cleanup_close_ int fd = memfd_create("config.ini", MFD_CLOEXEC);
        if (fd < 0)
                return vs_err(err, errno, "read the archive's config.ini");
        size_t n = strlen(text);
        if (write(fd, text, n) != (ssize_t) n)
                return vs_err(err, errno, "read the archive's config.ini");
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        int r = inst_config_load(cfg, path, err);
        if (r < 0)
                return vs_err_prefix(err, "the archive's config.ini");
        return 0;
}

static void short_id(const char *id, char *buf, size_t len) {
        snprintf(buf, len, "%.19s", id && *id ? id : "(none)");
}

/* The daemon's decision on what the helper read (msg), and the instance
 * registered when it is yes: its verdict for the helper in *ret. */
static int accept_archive(struct xfer *x, const char *msg, size_t len, json_t **ret, vs_error *err) {
        struct vsd *v = x->v;
        json_auto_t *j = json_loadb(msg, len, 0, NULL);
        json_t *m = json_object_get(j, "manifest");
        const char *config = json_string_value(json_object_get(j, "config"));
        const char *tid = json_string_value(json_object_get(j, "template_id"));
        const char *terr = json_string_value(json_object_get(j, "template_error"));
        const char *format = NULL, *name = NULL, *state = NULL, *backend = NULL, *tname = NULL, *tmid = NULL;
        json_int_t version = 0, disk = 0, data = 0;
        json_t *snaps = NULL;
        if (!j || !config || !tid ||
            json_unpack(m, "{s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:{s:s, s:s}, s:o}", "format", &format, "version",
                        &version, "name", &name, "state", &state, "backend", &backend, "disk_bytes", &disk,
                        "data_bytes", &data, "template", "name", &tname, "id", &tmid, "snapshots", &snaps) < 0 ||
            !streq(format, XFER_FORMAT) || !json_is_array(snaps))
                return vs_err_msg(err, EINVAL, "the archive is not an exported instance (its manifest is not vsd's)");
        if (version != XFER_VERSION)
                return vs_err_msg(err, EINVAL, "the archive is of version %lld of vsd's format; this vsd reads %d",
                                  (long long) version, XFER_VERSION);
        bool checkpointed = streq(state, "checkpointed");
        x->move = json_is_true(json_object_get(m, "move"));
        if (!checkpointed && !streq(state, "stopped"))
                return vs_err_msg(err, EINVAL, "the archive's instance is '%.20s', neither stopped nor checkpointed", state);
        struct inst_config cfg;
        int r = config_from_text(config, &cfg, err);
        if (r < 0)
                return r;
        bool image = is_image(&cfg);
        if (!streq(cfg.name, name) || !streq(cfg.template_name, tname) ||
            !streq(backend, image ? "image" : "dir") || (image && (uint64_t) disk != cfg.storage.disk) || data < 0)
                return vs_err_msg(err, EINVAL, "the archive's manifest and config.ini disagree");
        if (image && (cfg.storage.disk < STOR_DISK_MIN || cfg.storage.disk > IMAGE_MAX))
                return vs_err_msg(err, EINVAL, "the archive's disk of %llu bytes is not one vsd makes",
                                  (unsigned long long) cfg.storage.disk);
        /* the template, here and the same */
        if (!tid[0])
                return vs_err_msg(err, ENOENT, "%s", terr && *terr ? terr : "the archive's template is not on this host");
        if (!streq(tid, tmid)) {
                char here[24], there[24];
                short_id(tid, here, sizeof(here));
                short_id(tmid, there, sizeof(there));
                return vs_err_msg(err, EMEDIUMTYPE,
                                  "template '%s' here is not the one the instance was made from: its content is %s... here, "
                                  "%s... in the archive",
                                  tname, here, there);
        }
        /* another name: a copy, with an identity of its own, as a clone */
        if (x->name[0] && !streq(x->name, cfg.name)) {
                if (checkpointed)
                        return vs_err_msg(err, EINVAL,
                                          "a checkpointed instance keeps its name, addresses and MAC: import it as '%s', "
                                          "or restore and stop it (or discard its checkpoint) before exporting it",
                                          cfg.name);
                snprintf(cfg.name, sizeof(cfg.name), "%s", x->name);
                cfg.net.n_addr = 0;
                cfg.net.n_fwd = 0;
                cfg.net.auto_addr = false;
                x->fresh_identity = true;
        }
        /* room for it: what the archive unpacks to, on the state root's
         * filesystem */
        char idir[300];
        snprintf(idir, sizeof(idir), "%s/instances", v->set.root);
        struct statvfs sv;
        if (statvfs(idir, &sv) == 0 && (uint64_t) sv.f_bavail * sv.f_frsize < (uint64_t) data + (64ULL << 20))
                return vs_err_msg(err, ENOSPC, "the archive unpacks to %llu MiB; %s has %llu MiB free",
                                  (unsigned long long) data >> 20, idir,
                                  (unsigned long long) ((uint64_t) sv.f_bavail * sv.f_frsize) >> 20);
        uint64_t old_base = cfg.security.id_base;
        /* name free and valid, template loadable, limits valid, addresses
         * free, a block of host ids of its own: as any create */
        r = inst_create_begin(v, &cfg, "it is being imported", &x->i, err);
        if (r < 0)
                return r;
        char dir[512];
        inst_new_dir(x->i, dir, sizeof(dir));
        uint64_t ckpt = 0;
        if (checkpointed)
                ckpt = cfg.memory ? cfg.memory * 2 + (256ULL << 20) : CKPT_MAX_UNLIMITED;
        *ret = json_pack("{s:b, s:s, s:s, s:I, s:I, s:I, s:I}", "go", 1, "dir", dir, "layout", image ? "image" : "dir",
                         "image_size", (json_int_t) (image ? cfg.storage.disk : 0), "ckpt_bytes", (json_int_t) ckpt,
                         "old_id_base", (json_int_t) old_base, "new_id_base",
                         (json_int_t) x->i->cfg.security.id_base);
        if (!*ret) {
                inst_create_abort(x->i);
                x->i = NULL;
                return vs_err(err, ENOMEM, "answer the import's helper");
        }
        op_set_object(x->op, x->i->cfg.name);
        return 0;
}

static int decide_cb(void *userdata, const char *msg, size_t len, json_t **ret, vs_error *err) {
        return accept_archive(userdata, msg, len, ret, err);
}

static int on_ctl(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct xfer *x = userdata;
        work_ctl_serve(&x->ctl, &x->ctl_src, MSG_MAX, decide_cb, x, &x->refusal, &x->refused);
        return 0;
}

static void import_done(void *userdata, int result, const vs_error *werr) {
        struct xfer *x = userdata;
        vs_error err = { 0 };
        int r = result;
        if (x->refused) {
                err = x->refusal;
                r = -(err.code ? err.code : EINVAL);
        } else if (r < 0)
                err = *werr;
        else if (!x->i)
                r = vs_err_msg(&err, EIO, "the import's helper ended without the daemon's go");
        struct instance *i = x->i;
        if (r >= 0 && x->fresh_identity) {
                char dir[512], path[700];
                inst_new_dir(i, dir, sizeof(dir));
                if (is_image(&i->cfg)) {
                        snprintf(path, sizeof(path), "%s/disk.img", dir);
                        r = stor_image_new_uuid(path, &err);
                }
                snprintf(path, sizeof(path), "%s/" STOR_IDENTITY_MARKER, dir);
                if (r >= 0 && (r = vs_write_atomic(path, "", 0, 0600)) < 0)
                        vs_err(&err, -r, "write %s", path);
        }
        /* a move's copy, until it runs here: committed with the import */
        if (r >= 0 && x->move && !x->fresh_identity) {
                char dir[512], path[700];
                inst_new_dir(i, dir, sizeof(dir));
                snprintf(path, sizeof(path), "%s/" INST_INCOMING, dir);
                if ((r = vs_write_atomic(path, "", 0, 0600)) < 0)
                        vs_err(&err, -r, "write %s", path);
        }
        if (r >= 0)
                r = inst_create_commit(i, &err);
        if (r < 0) {
                if (i)
                        inst_create_abort(i);
                vs_err_prefix(&err, "Failed to import%s%s", x->name[0] ? " as " : "", x->name);
                log_err("%s", err.msg);
                op_finish(x->op, r, &err);
        } else {
                inst_checkpoint_changed(i);
                log_info("Instance %s imported%s", i->cfg.name, i->state == INST_CHECKPOINTED ? ", checkpointed" : "");
                op_finish(x->op, 0, NULL);
        }
        xfer_free(x);
}

int xfer_import(struct vsd *v, int fd, const char *new_name, struct op **ret_op, vs_error *err) {
        _cleanup_close_ int keep = fd;
        if (new_name && vs_name_check("instance", new_name, err) < 0)
                return vs_err_prefix(err, "Failed to import");
        if (new_name && inst_find(v, new_name))
                return vs_err_msg(err, EEXIST, "Failed to import: instance '%s' already exists", new_name);
        struct xfer *x = calloc(1, sizeof(*x));
        if (!x)
                return vs_err(err, ENOMEM, "Failed to import");
        *x = (struct xfer){ .kind = XFER_IMPORT, .v = v, .ctl = -EBADF };
        snprintf(x->name, sizeof(x->name), "%s", new_name ? new_name : "");
        snprintf(x->root, sizeof(x->root), "%s", v->set.root);
        int r = op_begin(v, "import", new_name ? new_name : "", NULL, &x->op, err);
        if (r < 0) {
                xfer_free(x);
                return r;
        }
        snprintf(x->work_id, sizeof(x->work_id), "import-%s", op_id(x->op));
        /* a helper that hears no verdict ends, and its end finishes the
         * operation */
        r = work_start_ctl(v, x->work_id, import_run, x, keep, import_done, on_ctl, x, &x->ctl, &x->ctl_src, err);
        if (r < 0) {
                op_finish(x->op, r, err);
                xfer_free(x);
                return vs_err_prefix(err, "Failed to import");
        }
        op_set_cancel(x->op, op_cancel_cb, x);
        if (ret_op)
                *ret_op = x->op;
        return 0;
}

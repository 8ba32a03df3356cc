/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sending a template to another host and receiving one (tmplsend.h).  The
 * manifest (first member) says
 *
 *   {"format": "vsd-template", "version": 1, "name", "content_id",
 *    "data_bytes" (what rootfs/ holds unpacked), "vsd" (the version)}
 *
 * The receiving helper reads it and template.ini, sends the daemon the
 * name, the id, the size and this host's id of a template of that name
 * (one SOCK_SEQPACKET message), and waits for the verdict: {"go": false}
 * (refused, or "present": the same build is here), or {"go": true, "dir"}
 * once the daemon has made the hidden directory to extract into.
 */
#include "vsd/inst/tmplsend.h"

#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/log.h"
#include "base/proto.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/core/daemon.h"
#include "vsd/core/loop.h"
#include "vsd/core/ops.h"
#include "vsd/core/work.h"
#include "vsd/inst/archive.h"
#include "vsd/inst/templates.h"

#define MANIFEST_MAX (16 << 10)
#define INI_MAX (64 << 10)
#define INI_NAME "template.ini"
/* room kept on the store's filesystem beyond what the template unpacks to */
#define SPARE_BYTES (64ULL << 20)

struct tsend {
        struct vsd *v;
        char root[256];
        char name[VS_NAME_MAX + 1];  /* once the manifest was read */
        char dir[600];               /* the hidden directory, once made */
        bool present;                /* the same build is here already */
        bool refused;
        vs_error refusal;
        int ctl;
        struct loop_source *ctl_src;
        struct op *op;
        char work_id[CG_WORK_ID_MAX + 1];
};

/* ---- sending (in a helper) ---------------------------------------------- */

static uint64_t tree_data(const char *path) {
        char *paths[] = { (char *) path, NULL };
        FTS *fts = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR | FTS_XDEV, NULL);
        uint64_t sum = 0;
        FTSENT *e;
        while (fts && (e = fts_read(fts)))
                if (e->fts_info == FTS_F)
                        sum += (uint64_t) e->fts_statp->st_size;
        if (fts)
                fts_close(fts);
        return sum;
}

int tsend_write_archive(const char *root, const char *name, int fd, struct vs_progress *p, vs_error *err) {
        char dir[600], path[700], id[TMPL_ID_LEN];
        /* a reader that went away is an error, not a signal */
        (void) signal(SIGPIPE, SIG_IGN);
        int r = tmpl_content_id(root, name, id, err);
        if (r < 0)
                return r;
        snprintf(dir, sizeof(dir), "%s/templates/%s", root, name);
        snprintf(path, sizeof(path), "%s/" INI_NAME, dir);
        _cleanup_free_ char *ini = NULL;
        size_t ini_len = 0;
        r = vs_read_file(path, INI_MAX, &ini, &ini_len);
        if (r < 0)
                return vs_err(err, -r, "read %s", path);
        snprintf(path, sizeof(path), "%s/rootfs", dir);
        uint64_t data = tree_data(path);
        json_t *m = json_pack("{s:s, s:i, s:s, s:s, s:I, s:s}", "format", TSEND_FORMAT, "version", TSEND_VERSION, "name",
                              name, "content_id", id, "data_bytes", (json_int_t) data, "vsd", VS_VERSION);
        _cleanup_free_ char *manifest = m ? json_dumps(m, JSON_INDENT(1)) : NULL;
        json_decref(m);
        if (!manifest)
                return vs_err(err, ENOMEM, "write the template's manifest");
        vs_progress_total(p, data);
        struct arc_writer *w = NULL;
        r = arc_writer_open(fd, false, p, &w, err);
        if (r < 0)
                return r;
        r = arc_add_bytes(w, ARC_MANIFEST, manifest, strlen(manifest), err);
        if (r >= 0)
                r = arc_add_bytes(w, INI_NAME, ini, ini_len, err);
        if (r >= 0)
                r = arc_add_tree(w, "rootfs", path, err);
        if (r < 0) {
                arc_writer_free(w);
                return r;
        }
        return arc_writer_close(w, err);
}

/* ---- receiving (in the helper) ------------------------------------------ */

static int import_run(void *arg, vs_error *err) {
        struct tsend *t = arg;
        const int in = 4, ctl = 5;
        struct arc_reader *rd = NULL;
        _cleanup_free_ char *manifest = NULL, *ini = NULL, *msg = NULL;
        int r = arc_reader_open(in, op_progress(t->op), &rd, err);
        if (r >= 0)
                r = arc_read_small(rd, ARC_MANIFEST, MANIFEST_MAX, &manifest, err);
        if (r >= 0)
                r = arc_read_small(rd, INI_NAME, INI_MAX, &ini, err);
        if (r < 0) {
                arc_reader_free(rd);
                return r;
        }
        json_auto_t *m = json_loads(manifest, 0, NULL);
        const char *format = NULL, *name = NULL, *id = NULL;
        json_int_t version = 0, data = -1;
        if (json_unpack(m, "{s:s, s:I, s:s, s:s, s:I}", "format", &format, "version", &version, "name", &name,
                        "content_id", &id, "data_bytes", &data) < 0 ||
            !streq(format, TSEND_FORMAT)) {
                arc_reader_free(rd);
                return vs_err_msg(err, EINVAL, "the archive is not a template's (its manifest is not vsd's)");
        }
        if (version != TSEND_VERSION) {
                arc_reader_free(rd);
                return vs_err_msg(err, EINVAL, "the archive is of version %lld of vsd's template format; this vsd reads %d",
                                  (long long) version, TSEND_VERSION);
        }
        if (!vs_name_valid(name) || strlen(id) != TMPL_ID_LEN - 1 || strncmp(id, "sha256:", 7) != 0 || data < 0) {
                arc_reader_free(rd);
                return vs_err_msg(err, EINVAL, "the template archive's manifest is not vsd's");
        }
        /* this host's build of that name, if any (seconds for a large
         * one: here, not in the daemon's loop) */
        char here[TMPL_ID_LEN] = "";
        vs_error herr = { 0 };
        (void) tmpl_content_id(t->root, name, here, &herr);
        json_t *j = json_pack("{s:s, s:s, s:I, s:s}", "name", name, "content_id", id, "data_bytes", data, "here", here);
        msg = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!msg || send(ctl, msg, strlen(msg), MSG_NOSIGNAL) < 0) {
                arc_reader_free(rd);
                return vs_err(err, msg ? errno : ENOMEM, "tell the daemon what the archive holds");
        }
        char verdict[1024];
        ssize_t n = recv(ctl, verdict, sizeof(verdict) - 1, 0);
        verdict[n > 0 ? n : 0] = '\0';
        json_auto_t *v = json_loads(verdict, 0, NULL);
        int go = 0;
        const char *dir = NULL;
        if (!v || json_unpack(v, "{s:b, s?s}", "go", &go, "dir", &dir) < 0 || !go || !dir) {
                arc_reader_free(rd);
                /* present already: nothing to read; refused: the daemon
                 * says why */
                return 0;
        }
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0) {
                arc_reader_free(rd);
                return vs_err(err, errno, "open %s", dir);
        }
        /* template.ini as it came, never through a link */
        _cleanup_close_ int ifd = openat(dfd, INI_NAME, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        size_t ini_len = strlen(ini);
        if (ifd < 0 || write(ifd, ini, ini_len) != (ssize_t) ini_len) {
                arc_reader_free(rd);
                return vs_err(err, errno ? errno : EIO, "write %s/" INI_NAME, dir);
        }
        struct arc_limits lim = { .layout = ARC_LAYOUT_TEMPLATE, .tree_bytes = (uint64_t) data };
        struct arc_found found = { 0 };
        r = arc_extract_rest(rd, dfd, &lim, &found, err);
        arc_reader_free(rd);
        if (r >= 0 && !found.rootfs)
                r = vs_err_msg(err, EINVAL, "the archive has no rootfs/ tree");
        if (r < 0)
                return r;
        /* what came is the build the manifest names */
        char got[TMPL_ID_LEN];
        r = tmpl_content_id_dir(dir, got, err);
        if (r < 0)
                return r == -ENOENT ? vs_err(err, ENOENT, "open %s", dir) : vs_err_prefix(err, "identify what came");
        if (!streq(got, id))
                return vs_err_msg(err, EINVAL, "what came is not the template its manifest names (identity %.19s…, the manifest says %.19s…)",
                                  got, id);
        /* its size too, kept beside the id: the daemon only reads them */
        r = tmpl_caches_fill_dir(dir, err);
        if (r < 0)
                return r == -ENOENT ? vs_err(err, ENOENT, "open %s", dir) : r;
        if (syncfs(dfd) < 0)
                return vs_err(err, errno, "sync %s", dir);
        return 0;
}

/* ---- in the loop ---------------------------------------------------------- */

static void tsend_free(struct tsend *t) {
        loop_remove(t->ctl_src);
        safe_close(&t->ctl);
        free(t);
}

static int decide(struct tsend *t, const char *msg, size_t len, json_t **ret, vs_error *err) {
        json_auto_t *j = json_loadb(msg, len, 0, NULL);
        const char *name = NULL, *id = NULL, *here = NULL;
        json_int_t data = 0;
        if (json_unpack(j, "{s:s, s:s, s:I, s:s}", "name", &name, "content_id", &id, "data_bytes", &data, "here",
                        &here) < 0 ||
            !vs_name_valid(name))
                return vs_err_msg(err, EPROTO, "the import's helper said nothing usable");
        snprintf(t->name, sizeof(t->name), "%s", name);
        op_set_object(t->op, name);
        if (here[0] && streq(here, id)) {
                t->present = true;
                *ret = json_pack("{s:b}", "go", 0);
                return 0;
        }
        if (here[0])
                return vs_err_msg(err, EEXIST,
                                  "template '%s' here is another build: its content is %.19s... here, %.19s... in the "
                                  "archive; it is not replaced (instances may use it)",
                                  name, here, id);
        char store[512];
        snprintf(store, sizeof(store), "%s/templates", t->v->set.root);
        struct statvfs sv;
        if (statvfs(store, &sv) == 0 && (uint64_t) sv.f_bavail * sv.f_frsize < (uint64_t) data + SPARE_BYTES)
                return vs_err_msg(err, ENOSPC, "template '%s' unpacks to %llu MiB; %s has %llu MiB free", name,
                                  (unsigned long long) data >> 20, store,
                                  (unsigned long long) ((uint64_t) sv.f_bavail * sv.f_frsize) >> 20);
        snprintf(t->dir, sizeof(t->dir), "%s/.%s.import", store, name);
        if (mkdir(t->dir, 0755) < 0) {
                int e = errno;
                t->dir[0] = '\0';
                return e == EEXIST ? vs_err_msg(err, EBUSY, "template '%s' is being received already", name)
                                   : vs_err(err, e, "create %s/.%s.import", store, name);
        }
        *ret = json_pack("{s:b, s:s}", "go", 1, "dir", t->dir);
        return *ret ? 0 : vs_err(err, ENOMEM, "answer the import's helper");
}

static int decide_cb(void *userdata, const char *msg, size_t len, json_t **ret, vs_error *err) {
        return decide(userdata, msg, len, ret, err);
}

static int on_ctl(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct tsend *t = userdata;
        work_ctl_serve(&t->ctl, &t->ctl_src, 2048, decide_cb, t, &t->refusal, &t->refused);
        return 0;
}

static void import_done(void *userdata, int result, const vs_error *werr) {
        struct tsend *t = userdata;
        vs_error err = { 0 };
        int r = result;
        if (t->refused) {
                err = t->refusal;
                r = -(err.code ? err.code : EINVAL);
        } else if (r < 0)
                err = *werr;
        else if (!t->present && !t->dir[0])
                r = vs_err_msg(&err, EIO, "the import's helper ended without the daemon's go");
        if (r >= 0 && !t->present)
                r = tmpl_install_received(t->v, t->name, t->dir, &err);
        if (r < 0 && t->dir[0]) {
                int k = vs_rm_rf(t->dir);
                if (k < 0)
                        log_warn("Failed to remove %s: %s, ignoring: the next start removes it", t->dir, strerror(-k));
        }
        if (r < 0) {
                vs_err_prefix(&err, "Failed to import template%s%s", t->name[0] ? " " : "", t->name);
                log_err("%s", err.msg);
                op_finish(t->op, r, &err);
        } else {
                log_info("Template %s %s", t->name, t->present ? "is here already (the same build)" : "received");
                op_set_detail(t->op, "present", t->present);
                op_finish(t->op, 0, NULL);
        }
        tsend_free(t);
}

static int op_cancel_cb(void *userdata, vs_error *err) {
        struct tsend *t = userdata;
        int r = work_cancel(t->v, t->work_id);
        return r < 0 ? vs_err(err, -r, "cancel the template's import") : 0;
}

int tsend_import(struct vsd *v, int fd, struct op **ret_op, vs_error *err) {
        _cleanup_close_ int keep = fd;
        struct tsend *t = calloc(1, sizeof(*t));
        if (!t)
                return vs_err(err, ENOMEM, "Failed to import a template");
        t->v = v;
        t->ctl = -EBADF;
        snprintf(t->root, sizeof(t->root), "%s", v->set.root);
        int r = op_begin(v, "template-import", "", NULL, &t->op, err);
        if (r < 0) {
                tsend_free(t);
                return vs_err_prefix(err, "Failed to import a template");
        }
        snprintf(t->work_id, sizeof(t->work_id), "tmpl-import-%s", op_id(t->op));
        r = work_start_ctl(v, t->work_id, import_run, t, keep, import_done, on_ctl, t, &t->ctl, &t->ctl_src, err);
        if (r < 0) {
                op_finish(t->op, r, err);
                tsend_free(t);
                return vs_err_prefix(err, "Failed to import a template");
        }
        op_set_cancel(t->op, op_cancel_cb, t);
        if (ret_op)
                *ret_op = t->op;
        return 0;
}

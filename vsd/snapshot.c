/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/fileio.h"
#include "../base/log.h"
#include "../base/parse.h"
#include "../base/util.h"
#include "../cgroups/cgroup.h"
#include "instance.h"
#include "storage.h"
#include "syscalls.h"

/* Present in a clone's directory until its first start has written it a
 * fresh /etc/machine-id. */
#define IDENTITY_MARKER "identity.new"

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
        return 0;
}

/* Copy the layer of i to dst; a running instance is frozen meanwhile
 * (a paused one already is), so that the copy is one moment of it. */
static int copy_frozen(struct instance *i, const char *dst, vs_error *err) {
        char dir[512];
        inst_dir(i, dir, sizeof(dir));
        bool thaw = false;
        if (i->state == INST_RUNNING) {
                int r = cg_freeze(i->vsd->cg, i->cfg.name, true, err);
                if (r < 0)
                        return vs_err_prefix(err, "freeze '%s' for the copy", i->cfg.name);
                thaw = true;
        }
        int r = stor_copy_layer(dir, &i->cfg, dst, err);
        if (thaw)
                (void) cg_freeze(i->vsd->cg, i->cfg.name, false, NULL);
        return r;
}

int snap_create(struct instance *i, const char *snap, vs_error *err) {
        char dir[600], path[700];
        int r = check_usable(i, err);
        if (r < 0)
                return r;
        if (vs_name_check("snapshot", snap, err) < 0)
                return -EINVAL;
        snprintf(dir, sizeof(dir), "%s/instances/%s/snapshots", i->vsd->set.root, i->cfg.name);
        snap_path(i, snap, path, sizeof(path));
        if (access(path, F_OK) == 0)
                return vs_err_msg(err, EEXIST, "instance '%s' already has a snapshot '%s'", i->cfg.name, snap);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return vs_err(err, errno, "create %s", dir);
        return copy_frozen(i, path, err);
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
                if (is_image(i) && (len < 5 || !streq(de->d_name + len - 4, ".img")))
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
        char path[700];
        int r = lookup_snap(i, snap, path, sizeof(path), err);
        if (r < 0)
                return r;
        r = vs_rm_rf(path);
        if (r < 0)
                return vs_err(err, -r, "remove %s", path);
        return 0;
}

int snap_restore(struct instance *i, const char *snap, vs_error *err) {
        char dir[512], path[700];
        int r = lookup_snap(i, snap, path, sizeof(path), err);
        if (r < 0)
                return r;
        if (i->state != INST_STOPPED)
                return vs_err_msg(err, EBUSY, "instance '%s' is %s; stop it before restoring a snapshot", i->cfg.name,
                                  inst_state_name(i->state));
        inst_dir(i, dir, sizeof(dir));
        r = stor_restore_layer(dir, &i->cfg, path, err);
        if (r < 0)
                return vs_err_prefix(err, "restore snapshot '%s' of '%s'", snap, i->cfg.name);
        /* a snapshot taken before the disk grew is smaller: grow it again */
        if (is_image(i)) {
                struct inst_config smaller = i->cfg;
                struct stat st;
                snprintf(path, sizeof(path), "%s/disk.img", dir);
                if (stat(path, &st) == 0 && (uint64_t) st.st_size < i->cfg.storage.disk) {
                        smaller.storage.disk = (uint64_t) st.st_size;
                        r = stor_grow(dir, &smaller, &i->cfg, false, NULL, err);
                        if (r < 0)
                                return vs_err_prefix(err, "restore snapshot '%s' of '%s'", snap, i->cfg.name);
                }
        }
        return 0;
}

/* ---- clones ----------------------------------------------------------------- */

struct clone_src {
        struct instance *src;
};

static int fill_clone(struct vsd *v, const char *dir, const struct inst_config *cfg, void *userdata, vs_error *err) {
        struct clone_src *c = userdata;
        char dst[700], marker[700];
        if (is_image(c->src))
                snprintf(dst, sizeof(dst), "%s/disk.img", dir);
        else
                snprintf(dst, sizeof(dst), "%s", dir);
        int r = copy_frozen(c->src, dst, err);
        if (r < 0)
                return r;
        if (is_image(c->src)) {
                /* its own filesystem UUID, not the source's */
                r = stor_image_new_uuid(dst, err);
                if (r < 0)
                        return r;
                /* a grow the source has pending is the clone's too */
                char src_marker[600];
                snprintf(src_marker, sizeof(src_marker), "%s/instances/%s/disk.grow", v->set.root, c->src->cfg.name);
                snprintf(marker, sizeof(marker), "%s/disk.grow", dir);
                if (access(src_marker, F_OK) == 0 && (r = vs_write_atomic(marker, "", 0, 0600)) < 0)
                        return vs_err(err, -r, "write %s", marker);
                snprintf(dst, sizeof(dst), "%s/disk", dir);
        } else
                snprintf(dst, sizeof(dst), "%s/work", dir);
        if (mkdir(dst, 0755) < 0)
                return vs_err(err, errno, "create %s", dst);
        snprintf(marker, sizeof(marker), "%s/" IDENTITY_MARKER, dir);
        r = vs_write_atomic(marker, "", 0, 0600);
        if (r < 0)
                return vs_err(err, -r, "write %s", marker);
        return 0;
}

int snap_clone(struct instance *src, const char *dst_name, struct instance **ret, vs_error *err) {
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
        struct clone_src c = { .src = src };
        struct inst_layer_fill fill = { .fill = fill_clone, .userdata = &c };
        r = inst_create_filled(src->vsd, &cfg, &fill, ret, NULL, err);
        if (r < 0)
                return r;
        return 0;
}

/* ---- a clone's first start ---------------------------------------------------- */

/* Is there a regular file at etc/machine-id below root (no link followed,
 * nothing opened that could block)? */
static bool has_machine_id(const char *root) {
        _cleanup_close_ int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return false;
        _cleanup_close_ int f = vs_open_inside(fd, "etc/machine-id", O_RDONLY, 0, RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH, NULL);
        return f >= 0;
}

int snap_fresh_identity(const char *dir, const char *lower, const struct stor_layer *layer, vs_error *err) {
        char marker[700];
        snprintf(marker, sizeof(marker), "%s/" IDENTITY_MARKER, dir);
        if (access(marker, F_OK) < 0)
                return 0;
        if (has_machine_id(layer->upper) || has_machine_id(lower)) {
                uint8_t rnd[16];
                char id[34];
                if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
                        return vs_err(err, EIO, "random bytes for a machine id");
                for (int k = 0; k < 16; k++)
                        snprintf(id + 2 * k, 3, "%02x", rnd[k]);
                id[32] = '\n';
                id[33] = '\0';
                /* the layer is the customer's: nothing in it is followed */
                _cleanup_close_ int up = open(layer->upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (up < 0)
                        return vs_err(err, errno, "open %s", layer->upper);
                if (mkdirat(up, "etc", 0755) < 0 && errno != EEXIST)
                        return vs_err(err, errno, "create etc in %s", layer->upper);
                _cleanup_close_ int etc = vs_open_inside(up, "etc", O_RDONLY | O_DIRECTORY, 0,
                                                         RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH, err);
                if (etc < 0)
                        return vs_err_prefix(err, "Failed to give %s a new machine id", layer->upper);
                (void) unlinkat(etc, "machine-id.vsd-new", 0);
                _cleanup_close_ int f = openat(etc, "machine-id.vsd-new", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                               0444);
                if (f < 0 || write(f, id, 33) != 33 || renameat(etc, "machine-id.vsd-new", etc, "machine-id") < 0) {
                        int e = errno;
                        (void) unlinkat(etc, "machine-id.vsd-new", 0);
                        return vs_err(err, e, "write a new /etc/machine-id");
                }
        }
        (void) unlink(marker);
        return 0;
}

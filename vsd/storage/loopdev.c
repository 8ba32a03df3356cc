/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/storage/loopdev.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/util.h"

/* Another process may take the device loop-control just offered us. */
#define GET_FREE_TRIES 16

int loopdev_attach(const char *image, bool direct_io, char ret_dev[static LOOPDEV_PATH_MAX], int *ret_fd,
                   vs_error *err) {
        _cleanup_close_ int img = open(image, O_RDWR | O_CLOEXEC);
        if (img < 0)
                return vs_err(err, errno, "open %s", image);
        _cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (ctl < 0)
                return vs_err(err, errno, "open /dev/loop-control");
        for (int tries = 0; tries < GET_FREE_TRIES; tries++) {
                int n = ioctl(ctl, LOOP_CTL_GET_FREE);
                if (n < 0)
                        return vs_err(err, errno, "get a free loop device (no more loop devices can be made)");
                char dev[LOOPDEV_PATH_MAX];
                snprintf(dev, sizeof(dev), "/dev/loop%d", n);
                _cleanup_close_ int fd = open(dev, O_RDWR | O_CLOEXEC);
                if (fd < 0) {
                        if (errno == ENOENT || errno == ENXIO)
                                continue; /* removed under us */
                        return vs_err(err, errno, "open %s", dev);
                }
                struct loop_config cfg = {
                        .fd = (uint32_t) img,
                        /* the image's filesystem uses 4 KiB blocks: direct
                         * I/O needs the device's blocks aligned with them */
                        .block_size = 4096,
                        .info.lo_flags = LO_FLAGS_AUTOCLEAR | (direct_io ? LO_FLAGS_DIRECT_IO : 0),
                };
                snprintf((char *) cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", image);
                int r = ioctl(fd, LOOP_CONFIGURE, &cfg);
                if (r < 0 && errno == EINVAL && direct_io) {
                        cfg.info.lo_flags &= ~(uint32_t) LO_FLAGS_DIRECT_IO;
                        r = ioctl(fd, LOOP_CONFIGURE, &cfg);
                }
                if (r < 0 && errno == EBUSY)
                        continue; /* someone bound it first: ask again */
                if (r < 0)
                        return vs_err(err, errno, "bind %s to %s", image, dev);
                snprintf(ret_dev, LOOPDEV_PATH_MAX, "%s", dev);
                *ret_fd = TAKE_FD(fd);
                return 0;
        }
        return vs_err_msg(err, EBUSY, "no free loop device for %s after %d tries", image, GET_FREE_TRIES);
}

int loopdev_set_capacity(const char *dev, vs_error *err) {
        _cleanup_close_ int fd = open(dev, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return vs_err(err, errno, "open %s", dev);
        if (ioctl(fd, LOOP_SET_CAPACITY, 0) < 0)
                return vs_err(err, errno, "resize %s", dev);
        return 0;
}

/* Does a backing_file line name image?  A deleted image reads "PATH
 * (deleted)". */
static bool backing_is(const char *back, const char *image) {
        size_t len = strlen(image);
        return strncmp(back, image, len) == 0 && (!back[len] || streq(back + len, " (deleted)"));
}

/* The backing file of the device named name ("loopN"): < 0 when it is not
 * bound. */
static int backing_of(const char *name, char *buf, size_t len) {
        char path[300];
        snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", name);
        return vs_read_line(path, buf, len);
}

/* Is the device named name ("loopN") bound to image? */
static bool backs(const char *name, const char *image) {
        char back[4096];
        return backing_of(name, back, sizeof(back)) >= 0 && backing_is(back, image);
}

bool loopdev_backs(const char *dev, const char *image) {
        const char *name = strrchr(dev, '/');
        return backs(name ? name + 1 : dev, image);
}

int loopdev_map_load(struct loopdev_map *ret) {
        DIR *d = opendir("/sys/block");
        if (!d)
                return -errno;
        struct loopdev_map m = { 0 };
        struct dirent *de;
        int r = 0;
        while ((de = readdir(d))) {
                char back[4096];
                if (strncmp(de->d_name, "loop", 4) != 0 || backing_of(de->d_name, back, sizeof(back)) < 0)
                        continue;
                if (m.n % 64 == 0) {
                        struct loopdev_bound *e = realloc(m.e, (m.n + 64) * sizeof(*e));
                        if (!e) {
                                r = -ENOMEM;
                                break;
                        }
                        m.e = e;
                }
                struct loopdev_bound *b = &m.e[m.n];
                snprintf(b->dev, sizeof(b->dev), "/dev/%s", de->d_name);
                if (!(b->backing = strdup(back))) {
                        r = -ENOMEM;
                        break;
                }
                m.n++;
        }
        closedir(d);
        if (r < 0) {
                loopdev_map_free(&m);
                return r;
        }
        *ret = m;
        return 0;
}

void loopdev_map_free(struct loopdev_map *m) {
        for (size_t k = 0; k < m->n; k++)
                free(m->e[k].backing);
        free(m->e);
        *m = (struct loopdev_map){ 0 };
}

/* Calls fn for every bound loop device backed by image; stops at fn < 0.
 * From map when there is one (each device found there checked again: it
 * may have been released since), else from every loop device of the host. */
static int for_each_backed(const struct loopdev_map *map, const char *image, int (*fn)(const char *dev, void *u),
                           void *u) {
        int n = 0, r = 0;
        if (map) {
                for (size_t k = 0; k < map->n && r >= 0; k++)
                        if (backing_is(map->e[k].backing, image) && loopdev_backs(map->e[k].dev, image)) {
                                r = fn(map->e[k].dev, u);
                                n++;
                        }
                return r < 0 ? r : n;
        }
        DIR *d = opendir("/sys/block");
        if (!d)
                return -errno;
        struct dirent *de;
        while (r >= 0 && (de = readdir(d))) {
                if (strncmp(de->d_name, "loop", 4) != 0 || !backs(de->d_name, image))
                        continue;
                char dev[LOOPDEV_PATH_MAX];
                snprintf(dev, sizeof(dev), "/dev/%s", de->d_name);
                r = fn(dev, u);
                n++;
        }
        closedir(d);
        return r < 0 ? r : n;
}

static int take_first(const char *dev, void *u) {
        snprintf(u, LOOPDEV_PATH_MAX, "%s", dev);
        return -ECANCELED;
}

int loopdev_find(const struct loopdev_map *map, const char *image, char ret_dev[static LOOPDEV_PATH_MAX]) {
        int r = for_each_backed(map, image, take_first, ret_dev);
        if (r == -ECANCELED)
                return 1;
        return r < 0 ? r : 0;
}

static int detach_one(const char *dev, void *u) {
        int *busy = u;
        _cleanup_close_ int fd = open(dev, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        /* LOOP_CLR_FD on a device in use only marks it autoclear: still
         * bound after it is what "in use" looks like */
        if (ioctl(fd, LOOP_CLR_FD, 0) < 0 && errno != ENXIO)
                *busy = 1;
        return 0;
}

int loopdev_detach_all(const struct loopdev_map *map, const char *image) {
        int busy = 0;
        int r = for_each_backed(map, image, detach_one, &busy);
        if (r < 0)
                return r;
        return busy ? -EBUSY : r;
}

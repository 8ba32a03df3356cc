/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The paths of the inotify watches on an instance's overlay (ckptwatch.h). */
#include "vsd/inst/ckptwatch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/proc.h"
#include "base/util.h"

#define CKPTW_DEPTH_MAX 64

/* A watched inode of the overlay's that the walk looks for. */
struct wanted {
        unsigned long long ino;
        pid_t pid; /* one process that watches it */
        bool found;
};

struct walk {
        dev_t dev; /* the overlay's */
        struct wanted want[CKPTW_MAX];
        unsigned n_want, left;
        unsigned long entries;
        bool cut; /* stopped at CKPTW_ENTRIES_MAX */
        struct ckpt_watches *out;
};

/* path (inside the instance) is the file of ino: one more path for CRIU,
 * unless it is unfit for its command line (CRIU splits nothing, but the
 * path must fit and read as one). */
static void found(struct walk *w, unsigned long long ino, const char *path) {
        for (unsigned k = 0; k < w->n_want; k++) {
                if (w->want[k].found || w->want[k].ino != ino)
                        continue;
                w->want[k].found = true;
                w->left--;
                if (strlen(path) < sizeof(w->out->path[0]) && !strpbrk(path, ",\n") && w->out->n < CKPTW_MAX)
                        snprintf(w->out->path[w->out->n++], sizeof(w->out->path[0]), "%s", path);
        }
}

/* dfd is the directory at path (len bytes of it used; "" for the root).
 * Closes dfd. */
static void walk_dir(struct walk *w, int dfd, char *path, size_t len, unsigned depth) {
        DIR *d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return;
        }
        struct dirent *de;
        while (w->left > 0 && !w->cut && (de = readdir(d))) {
                const char *n = de->d_name;
                if (n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2])))
                        continue;
                if (++w->entries > CKPTW_ENTRIES_MAX) {
                        w->cut = true;
                        break;
                }
                size_t nl = strlen(n);
                struct stat st;
                /* a mount point shows the mounted root: another device,
                 * never entered (nor a filesystem that could block us) */
                if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) < 0) {
                        w->cut |= errno != ENOENT; /* gone meanwhile: nothing missed */
                        continue;
                }
                if (st.st_dev != w->dev)
                        continue;
                /* what the walk cannot look at makes it incomplete: a
                 * watch not found then is CRIU's to look for, never a
                 * refusal of ours */
                if (len + 1 + nl >= PATH_MAX || (S_ISDIR(st.st_mode) && depth >= CKPTW_DEPTH_MAX)) {
                        w->cut = true;
                        continue;
                }
                path[len] = '/';
                memcpy(path + len + 1, n, nl + 1);
                found(w, (unsigned long long) st.st_ino, path);
                if (S_ISDIR(st.st_mode) && w->left > 0) {
                        int sub = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
                        struct stat sst;
                        /* swapped for another since the look: not followed */
                        if (sub >= 0 && fstat(sub, &sst) == 0 && sst.st_dev == st.st_dev && sst.st_ino == st.st_ino)
                                walk_dir(w, sub, path, len + 1 + nl, depth + 1);
                        else {
                                w->cut = true;
                                if (sub >= 0)
                                        close(sub);
                        }
                }
                path[len] = '\0';
        }
        closedir(d);
}

/* The inotify watches of one process on the overlay's device (devkey:
 * the kernel's own encoding, as fdinfo shows it), into w->want. */
static void want_watches_of(struct walk *w, pid_t pid, unsigned long long devkey) {
        char dir[64];
        snprintf(dir, sizeof(dir), "/proc/%d/fdinfo", (int) pid);
        DIR *d = opendir(dir);
        if (!d)
                return; /* exited */
        struct dirent *de;
        while ((de = readdir(d)) && w->n_want < CKPTW_MAX) {
                char info[96];
                _cleanup_free_ char *text = NULL;
                snprintf(info, sizeof(info), "%s/%s", dir, de->d_name);
                if (de->d_name[0] == '.' || vs_read_file(info, 1 << 20, &text, NULL) < 0)
                        continue;
                for (const char *l = strstr(text, "inotify wd:"); l && w->n_want < CKPTW_MAX;
                     l = strstr(l + 1, "inotify wd:")) {
                        unsigned long long ino, sdev;
                        const char *i = strstr(l, " ino:"), *sd = strstr(l, " sdev:"), *eol = strchr(l, '\n');
                        if (!i || !sd || (eol && sd > eol) || sscanf(i, " ino:%llx", &ino) != 1 ||
                            sscanf(sd, " sdev:%llx", &sdev) != 1 || sdev != devkey)
                                continue;
                        bool seen = false;
                        for (unsigned k = 0; k < w->n_want && !seen; k++)
                                seen = w->want[k].ino == ino;
                        if (!seen)
                                w->want[w->n_want++] = (struct wanted){ .ino = ino, .pid = pid };
                }
        }
        closedir(d);
}

int ckpt_watches_scan(const char *name, pid_t init_pid, const pid_t *pids, size_t n_pids, struct ckpt_watches *ret,
                      vs_error *err) {
        char root[64];
        struct stat st;
        snprintf(root, sizeof(root), "/proc/%d/root", (int) init_pid);
        ret->n = 0;
        ret->walked = 0;
        _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return 0; /* init gone: the dump fails on its own */
        struct walk w = { .dev = st.st_dev, .out = ret };
        unsigned long long devkey = ((unsigned long long) major(st.st_dev) << 20) | minor(st.st_dev);
        for (size_t p = 0; p < n_pids; p++)
                want_watches_of(&w, pids[p], devkey);
        if (w.n_want == 0)
                return 0;
        w.left = w.n_want;
        char path[PATH_MAX] = "";
        found(&w, (unsigned long long) st.st_ino, "/."); /* CRIU stats path + 1 */
        if (w.left > 0)
                walk_dir(&w, TAKE_FD(fd), path, 0, 0);
        ret->walked = w.entries;
        if (w.cut)
                return 0; /* left to CRIU's own search */
        for (unsigned k = 0; k < w.n_want; k++) {
                if (w.want[k].found)
                        continue;
                char comm[32];
                vs_proc_comm(w.want[k].pid, comm, sizeof(comm));
                if (!comm[0])
                        continue; /* exited meanwhile, its watch with it */
                return vs_err_msg(err, EOPNOTSUPP,
                                  "instance '%s' runs %s (host pid %d), which watches (inotify) inode %llu of the "
                                  "instance's root filesystem, a file that no path reaches (hidden under a mount): "
                                  "CRIU cannot checkpoint that watch; restart that process or unmount what hides it",
                                  name, comm, (int) w.want[k].pid, w.want[k].ino);
        }
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What lies below an instance's own cgroup on a v2 host, and how others
 * reach into it (doc/cgroups.md, "The instance's own tree"):
 *   - the payload, where init runs and the instance's cgroup namespace is
 *     rooted, one level below the cgroup that carries its limits;
 *   - where a command joining the instance goes: init's own cgroup, found
 *     through /proc and opened beneath the instance's cgroup, or vsd's leaf;
 *   - a cgroup namespace for a helper that mounts cgroupfs itself (lxcfs),
 *     so that its mount does not reset the host's mount options.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/parse.h"
#include "base/util.h"
#include "cgroups/cgroup-internal.h"

/* /proc/PID/cgroup lines are at most a path each (the kernel refuses longer
 * ones with ENAMETOOLONG); v1 hosts list a dozen hierarchies. */
#define PROC_CGROUP_MAX 16384

static int openat2_beneath(int dfd, const char *path, int flags) {
        struct open_how how = {
                .flags = (uint64_t) flags,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        long r = syscall(SYS_openat2, dfd, path, &how, sizeof(how));
        return r < 0 ? -errno : (int) r;
}

/* Whole small file into buf (NUL-terminated); -EFBIG if it does not fit. */
static int read_small(const char *path, char *buf, size_t len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        size_t n = 0;
        for (;;) {
                if (n + 1 >= len)
                        return -EFBIG;
                ssize_t k = read(fd, buf + n, len - 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = '\0';
        return 0;
}

/* The path of the line for hierarchy ctrl ("" = the unified one, "0::")
 * in /proc/PID/cgroup text, into ret. */
static int proc_line_path(const char *text, const char *ctrl, char *ret, size_t len) {
        for (const char *line = text; *line;) {
                const char *eol = strchr(line, '\n');
                size_t ll = eol ? (size_t) (eol - line) : strlen(line);
                /* "ID:CONTROLLERS:PATH" */
                const char *c1 = memchr(line, ':', ll);
                const char *c2 = c1 ? memchr(c1 + 1, ':', ll - (size_t) (c1 + 1 - line)) : NULL;
                if (c2) {
                        bool match;
                        if (!*ctrl)
                                match = c1 == line + 1 && line[0] == '0' && c2 == c1 + 1;
                        else {
                                match = false;
                                size_t n = strlen(ctrl);
                                for (const char *p = c1 + 1; p < c2 && !match;) {
                                        size_t k = strcspn(p, ",:");
                                        match = k == n && strncmp(p, ctrl, n) == 0;
                                        p += k + 1;
                                }
                        }
                        if (match) {
                                size_t pl = ll - (size_t) (c2 + 1 - line);
                                if (pl == 0 || pl >= len)
                                        return -ENAMETOOLONG;
                                memcpy(ret, c2 + 1, pl);
                                ret[pl] = '\0';
                                return 0;
                        }
                }
                if (!eol)
                        break;
                line = eol + 1;
        }
        return -ENOENT;
}

int cg_path_below(const char *proc_cgroup, const char *prefix, char *ret, size_t len) {
        char path[4096];
        int r = proc_line_path(proc_cgroup, "", path, sizeof(path));
        if (r < 0)
                return r;
        size_t pl = strlen(prefix);
        if (strncmp(path, prefix, pl) != 0 || (path[pl] != '\0' && path[pl] != '/'))
                return -ENOENT;
        const char *rest = path + pl;
        while (*rest == '/')
                rest++;
        if (!*rest)
                rest = ".";
        if (strlen(rest) >= len)
                return -ENAMETOOLONG;
        strcpy(ret, rest);
        return 0;
}

/* ---- setup -------------------------------------------------------------- */

/* mountinfo writes space, tab, newline and backslash as \ooo */
static void unescape(char *s) {
        char *w = s;
        for (char *r = s; *r; w++) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
                    r[3] <= '7') {
                        *w = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 4;
                } else
                        *w = *r++;
        }
        *w = '\0';
}

/*
 * The unified hierarchy's mount, found by the mount id of <parent>'s fd:
 * its root (field 4, shown relative to our cgroup namespace, as
 * /proc/PID/cgroup paths are) gives the prefix of <parent> in those paths,
 * and its super options say whether a plain mount would change anything:
 * every option but rw/ro is a flag of the hierarchy's root (nsdelegate,
 * memory_localevents, memory_recursiveprot, favordynmods...), which such a
 * mount resets.
 */
void cg_inner_setup(struct cg_manager *m) {
        if (m->unified < 0)
                return;
        struct statx stx;
        if (statx(m->hier[m->unified].parent_fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0 ||
            !(stx.stx_mask & STATX_MNT_ID))
                return;
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return;
        _cleanup_free_ char *line = NULL;
        size_t n = 0;
        while (getline(&line, &n, f) > 0) {
                unsigned long long id;
                char root[4096];
                if (sscanf(line, "%llu %*s %*s %4095s ", &id, root) != 2 || id != stx.stx_mnt_id)
                        continue;
                /* "... - cgroup2 cgroup2 rw,nsdelegate,..." */
                char *sep = strstr(line, " - ");
                if (!sep || strncmp(sep, " - cgroup2 ", 11) != 0)
                        return;
                char *opts = strchr(sep + 11, ' '), *save = NULL;
                if (opts)
                        for (char *tok = strtok_r(opts + 1, ",\n", &save); tok; tok = strtok_r(NULL, ",\n", &save))
                                if (!streq(tok, "rw") && !streq(tok, "ro"))
                                        m->root_flags = true;
                unescape(root);
                /* the hierarchy's <parent> as /proc/PID/cgroup shows it */
                if (asprintf(&m->proc_parent, "%s/%s", streq(root, "/") ? "" : root, m->parent) < 0)
                        m->proc_parent = NULL;
                return;
        }
}

/* ---- the payload and joining it ---------------------------------------- */

int cg_has_payload(struct cg_manager *m, const char *name) {
        if (!vs_name_valid(name))
                return -EINVAL;
        if (!m->ops->inner)
                return -EOPNOTSUPP;
        char p[300];
        snprintf(p, sizeof(p), "%s/%s", name, m->ops->inner);
        if (faccessat(m->hier[m->unified].parent_fd, p, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                return 1;
        return errno == ENOENT ? 0 : -errno;
}

int cg_open_join_dir(struct cg_manager *m, const char *name, pid_t init_pid, bool leaf) {
        if (!m->ops->inner)
                return -EOPNOTSUPP;
        if (!vs_name_valid(name))
                return -EINVAL;
        _cleanup_close_ int dfd =
                openat(m->hier[m->unified].parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        if (leaf) {
                /* next to the payload, out of the instance's reach: it can
                 * neither freeze it, nor limit it, nor make it threaded */
                if (mkdirat(dfd, CG_EXEC_LEAF, 0755) < 0 && errno != EEXIST)
                        return -errno;
                int fd = openat(dfd, CG_EXEC_LEAF, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                return fd < 0 ? -errno : fd;
        }
        if (!m->proc_parent || init_pid <= 0)
                return -ENOENT;

        char path[64], text[PROC_CGROUP_MAX], rel[4096], prefix[1024];
        snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) init_pid);
        int r = read_small(path, text, sizeof(text));
        if (r < 0)
                return r;
        snprintf(prefix, sizeof(prefix), "%s/%s", m->proc_parent, name);
        r = cg_path_below(text, prefix, rel, sizeof(rel));
        if (r < 0)
                return r;
        /* The instance named every component below its payload: resolved
         * beneath the instance's cgroup, no ".." or link leads out of it. */
        _cleanup_close_ int fd = openat2_beneath(dfd, rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return fd;
        /* A command cloned into a frozen cgroup would stop before its exec,
         * and the daemon wait for it: such a cgroup is not joined. */
        uint64_t frozen = 0;
        r = cg_file_read_key(fd, NULL, "cgroup.events", "frozen", &frozen);
        if (r < 0 && r != -ENODATA)
                return r;
        if (frozen)
                return -EBUSY;
        return TAKE_FD(fd);
}

/* ---- a helper's cgroup namespace ---------------------------------------- */

/* v1 names as /proc/PID/cgroup lists them, for the hierarchies vsd manages */
static const char *const v1_name[CG_CTRL_MAX] = {
        [CG_MEMORY] = "memory", [CG_CPU] = "cpu",         [CG_CPUACCT] = "cpuacct", [CG_PIDS] = "pids",
        [CG_FREEZER] = "freezer", [CG_CPUSET] = "cpuset", [CG_IO] = "blkio",
};

static const char *hier_ctrl(const struct cg_hier *h) {
        if (h->unified)
                return "";
        for (int c = 0; c < CG_CTRL_MAX; c++)
                if (h->mask & CG_MASK(c))
                        return v1_name[c];
        return NULL;
}

static int join_self(int dfd) {
        return cg_file_write(dfd, NULL, "cgroup.procs", "0");
}

int cg_unshare_ns_at_root(struct cg_manager *m, vs_error *err) {
        if (!m->root_flags)
                return 0;
        char text[PROC_CGROUP_MAX];
        int r = read_small("/proc/self/cgroup", text, sizeof(text));
        if (r < 0)
                return vs_err(err, -r, "read /proc/self/cgroup");

        /* each hierarchy's root: <parent> opened again by its path (a
         * helper of work.h keeps none of the manager's fds), one ".." per
         * component */
        unsigned depth = 1;
        for (const char *p = m->parent; *p; p++)
                depth += *p == '/';
        int root_fd[CG_HIER_MAX], own_fd[CG_HIER_MAX];
        for (size_t i = 0; i < CG_HIER_MAX; i++)
                root_fd[i] = own_fd[i] = -EBADF;
        r = 0;
        for (size_t i = 0; i < m->n_hier && r == 0; i++) {
                const struct cg_hier *h = &m->hier[i];
                const char *ctrl = hier_ctrl(h);
                char own[4096];
                int fd = open(h->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                for (unsigned k = 0; k < depth && fd >= 0; k++) {
                        int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        close(fd);
                        fd = up;
                }
                if (fd < 0 || !ctrl) {
                        r = vs_err(err, fd < 0 ? errno : EINVAL, "open the root of %s", h->path);
                        if (fd >= 0)
                                close(fd);
                        break;
                }
                root_fd[i] = fd;
                /* where we are now, to come back to it from the root */
                int k = proc_line_path(text, ctrl, own, sizeof(own));
                if (k < 0) {
                        r = vs_err(err, -k, "find our cgroup in the hierarchy of %s", h->path);
                        break;
                }
                const char *rel = own;
                while (*rel == '/')
                        rel++;
                own_fd[i] = openat2_beneath(fd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (own_fd[i] < 0)
                        r = vs_err(err, -own_fd[i], "open our cgroup %s below the root of %s", own, h->path);
        }
        /* The namespace's root is the cgroup we are in when unsharing: the
         * root of every hierarchy for a moment, then back where we were. */
        for (size_t i = 0; i < m->n_hier && r == 0; i++) {
                int k = join_self(root_fd[i]);
                if (k < 0)
                        r = vs_err(err, -k, "move into the root cgroup of %s", m->hier[i].path);
        }
        if (r == 0 && unshare(CLONE_NEWCGROUP) < 0)
                r = vs_err(err, errno, "unshare(CLONE_NEWCGROUP)");
        for (size_t i = 0; i < m->n_hier; i++) {
                if (own_fd[i] >= 0) {
                        int k = join_self(own_fd[i]);
                        if (k < 0 && r == 0)
                                r = vs_err(err, -k, "move back into our cgroup of %s", m->hier[i].path);
                }
                safe_close(&root_fd[i]);
                safe_close(&own_fd[i]);
        }
        return r;
}

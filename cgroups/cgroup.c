/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The cgroup manager: layout detection and everything both layouts do the
 * same way over the manager's list of hierarchies (create, attach, populated,
 * kill, destroy, list).  Limits, counters and the freezer differ per layout
 * and live in cgroup-v1.c / cgroup-v2.c behind struct cg_ops.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/parse.h"
#include "base/util.h"
#include "cgroups/cgroup-internal.h"

/* An instance may build its own cgroup tree below its cgroup (systemd does).
 * Walking it is recursive; this bounds the stack the daemon lends to it. */
#define CG_MAX_DEPTH 64

/* How long cg_destroy() waits for the kernel to release a cgroup whose
 * processes have just exited (measured here: 1-2 ms). */
#define CG_RMDIR_SETTLE_MS 100

/* Without cgroup.kill and without a freezer, new children can appear while
 * we signal; this bounds the rounds. */
#define CG_KILL_ROUNDS 16

/* ---- names ------------------------------------------------------------ */

/* A work cgroup's id: a-z, 0-9 and '-', room for a kind and a name. */
static bool work_id_valid(const char *id) {
        size_t n = strlen(id);
        return n > 0 && n <= CG_WORK_ID_MAX && strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* An instance's cgroup is its name; a work cgroup is CG_WORK_PREFIX and
 * an id.  Nothing else below <parent> is ours to touch. */
static bool cg_name_valid(const char *name) {
        size_t n = strlen(CG_WORK_PREFIX);
        if (name && strncmp(name, CG_WORK_PREFIX, n) == 0)
                return work_id_valid(name + n);
        return vs_name_valid(name);
}

static int cg_name_check(const char *name, vs_error *err) {
        if (cg_name_valid(name))
                return 0;
        return vs_name_check("instance", name, err);
}

/* ---- manager ---------------------------------------------------------- */

static int parent_check(const char *parent, vs_error *err) {
        if (!parent || !*parent || parent[0] == '/' || strlen(parent) > 255)
                goto bad;
        for (const char *p = parent; *p;) {
                size_t n = strcspn(p, "/");
                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        goto bad;
                for (size_t i = 0; i < n; i++) {
                        char c = p[i];
                        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                              c == '-' || c == '_' || c == '.' || c == ':' || c == '@'))
                                goto bad;
                }
                p += n;
                if (*p == '/')
                        p++;
        }
        return 0;
bad:
        return vs_err_msg(err, EINVAL,
                          "invalid cgroup parent '%.80s': a relative path of names made of letters, digits and -_.:@",
                          parent ? parent : "");
}

int cg_hier_add(struct cg_manager *m, char *path, int parent_fd, unsigned mask, bool unified) {
        if (m->n_hier >= CG_HIER_MAX) {
                free(path);
                close(parent_fd);
                return -E2BIG;
        }
        int idx = (int) m->n_hier++;
        m->hier[idx] = (struct cg_hier) { .path = path, .parent_fd = parent_fd, .mask = mask, .unified = unified };
        for (int c = 0; c < CG_CTRL_MAX; c++)
                if (mask & CG_MASK(c))
                        m->ctrl[c] = idx;
        if (unified)
                m->unified = idx;
        return idx;
}

int cg_open_parent(const char *dir, const char *parent, bool *ret_created) {
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        bool created = false;
        char comp[256];
        for (const char *p = parent; *p;) {
                size_t n = strcspn(p, "/");
                if (n >= sizeof(comp))
                        return -ENAMETOOLONG;
                memcpy(comp, p, n);
                comp[n] = '\0';
                p += n;
                if (*p == '/')
                        p++;
                created = mkdirat(fd, comp, 0755) == 0;
                if (!created && errno != EEXIST)
                        return -errno;
                int sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                        return -errno;
                close(fd);
                fd = sub;
        }
        if (ret_created)
                *ret_created = created;
        return TAKE_FD(fd);
}

/* Writable wherever there is a cgroup2 hierarchy: on v2 the limits sit one
 * level above the instance's namespace root (CG_PAYLOAD), on v1 hybrid the
 * unified hierarchy carries no controller at all. */
static enum cg_instance_fs find_instance_fs(struct cg_manager *m) {
        return m->unified < 0 ? CG_FS_NONE : CG_FS_WRITABLE;
}

enum cg_instance_fs cg_instance_fs(const struct cg_manager *m) {
        return (enum cg_instance_fs) m->instance_fs;
}

static const struct cg_ops *detect(const char *root) {
        /* Only cgroup2 has cgroup.controllers, and only a pure v2 host has it
         * at the top; a plain directory emulating either works the same. */
        char p[4096];
        snprintf(p, sizeof(p), "%s/cgroup.controllers", root);
        return access(p, F_OK) == 0 ? &cg_v2_ops : &cg_v1_ops;
}

int cg_manager_new(const char *cgroup_root, const char *parent, struct cg_manager **ret, vs_error *err) {
        int r = parent_check(parent, err);
        if (r < 0)
                return r;
        struct stat st;
        if (stat(cgroup_root, &st) < 0)
                return vs_err(err, errno, "cgroup root %s", cgroup_root);
        if (!S_ISDIR(st.st_mode))
                return vs_err_msg(err, ENOTDIR, "cgroup root %s is not a directory", cgroup_root);

        struct cg_manager *m = calloc(1, sizeof(*m));
        if (!m)
                return vs_err(err, ENOMEM, "allocate cgroup manager");
        m->unified = -1;
        for (int c = 0; c < CG_CTRL_MAX; c++)
                m->ctrl[c] = -1;
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        m->ncpus = n > 0 ? (unsigned) n : 1;
        m->root = strdup(cgroup_root);
        m->parent = strdup(parent);
        if (!m->root || !m->parent) {
                cg_manager_free(m);
                return vs_err(err, ENOMEM, "allocate cgroup manager");
        }
        m->ops = detect(cgroup_root);
        r = m->ops->setup(m, err);
        if (r < 0) {
                const char *mode = m->ops->mode;
                cg_manager_free(m);
                if (err)
                        (void) vs_err_prefix(err, "cgroup %s layout below %s", mode, cgroup_root);
                return r;
        }
        m->instance_fs = find_instance_fs(m);
        cg_inner_setup(m);
        *ret = m;
        return 0;
}

void cg_manager_free(struct cg_manager *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->n_hier; i++) {
                free(m->hier[i].path);
                safe_close(&m->hier[i].parent_fd);
        }
        free(m->root);
        free(m->parent);
        free(m->proc_parent);
        free(m);
}

const char *cg_manager_mode(const struct cg_manager *m) {
        return m->ops->mode;
}

/* ---- validation ------------------------------------------------------- */

static int need(struct cg_manager *m, enum cg_ctrl c, const char *what, const char *ctrl, vs_error *err) {
        if (cg_hier_of(m, c))
                return 0;
        return vs_err_msg(err, EOPNOTSUPP, "%s needs the %s controller, which this host's cgroup %s layout below %s does not offer",
                          what, ctrl, m->ops->mode, m->root);
}

int cg_validate(struct cg_manager *m, const struct cg_limits *lim, vs_error *err) {
        int r;
        if (!lim)
                return 0;
        if (lim->memory_max) {
                r = need(m, CG_MEMORY, "a memory limit", "memory", err);
                if (r < 0)
                        return r;
                /* below this an init and a shell do not even start; the
                 * kernel would accept it and OOM-kill the instance at once */
                if (lim->memory_max < 4ULL << 20)
                        return vs_err_msg(err, EINVAL, "memory limit of %llu bytes is below the minimum of 4M",
                                          (unsigned long long) lim->memory_max);
        }
        if (lim->cpu_millis) {
                r = need(m, CG_CPU, "a CPU limit", "cpu", err);
                if (r < 0)
                        return r;
                /* the kernel's minimum CFS quota is 1 ms per 100 ms period */
                if (lim->cpu_millis < 10)
                        return vs_err_msg(err, EINVAL, "CPU limit %u.%03u is below the minimum of 0.01",
                                          lim->cpu_millis / 1000, lim->cpu_millis % 1000);
                if (lim->cpu_millis > m->ncpus * 1000u)
                        return vs_err_msg(err, ERANGE, "CPU limit %u.%03u is more than this host's %u CPU%s",
                                          lim->cpu_millis / 1000, lim->cpu_millis % 1000, m->ncpus,
                                          m->ncpus == 1 ? "" : "s");
        }
        if (lim->pids_max) {
                r = need(m, CG_PIDS, "a process limit", "pids", err);
                if (r < 0)
                        return r;
                /* PID_MAX_LIMIT: pids.max takes nothing larger */
                if (lim->pids_max > 4194304)
                        return vs_err_msg(err, ERANGE, "process limit %llu is above the kernel's maximum of 4194304",
                                          (unsigned long long) lim->pids_max);
        }
        return cg_validate_more(m, lim, err);
}

/* ---- walking an instance's tree --------------------------------------- */

/* Call fn for every pid in <dfd>/<name>/cgroup.procs and below.  fn returns
 * < 0 to abort, > 0 to stop early (that value is returned). */
typedef int (*pid_fn)(pid_t pid, void *userdata);

static int is_dir_entry(int dfd, const struct dirent *de) {
        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                return 0;
        if (de->d_type == DT_DIR)
                return 1;
        if (de->d_type != DT_UNKNOWN)
                return 0;
        struct stat st;
        return fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static int walk_pids(int dfd, const char *name, pid_fn fn, void *userdata, unsigned depth) {
        if (depth > CG_MAX_DEPTH)
                return -ELOOP;
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;

        _cleanup_free_ char *procs = NULL;
        int r = cg_file_read_all(fd, NULL, "cgroup.procs", &procs);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        for (char *p = procs, *end; *p; p = end) {
                long pid = strtol(p, &end, 10);
                if (end == p)
                        break;
                if (pid > 0) {
                        r = fn((pid_t) pid, userdata);
                        if (r != 0)
                                return r;
                }
        }

        int dup_fd = dup(fd);
        if (dup_fd < 0)
                return -errno;
        DIR *d = fdopendir(dup_fd);
        if (!d) {
                close(dup_fd);
                return -errno;
        }
        struct dirent *de;
        r = 0;
        while (r == 0 && (de = readdir(d)))
                if (is_dir_entry(fd, de))
                        r = walk_pids(fd, de->d_name, fn, userdata, depth + 1);
        closedir(d);
        return r;
}

/* The hierarchy whose cgroup.procs holds every process of an instance, for
 * the walks: unified if there is one, else the freezer's (kill freezes it),
 * else any. */
static struct cg_hier *track_hier(struct cg_manager *m) {
        if (m->unified >= 0)
                return &m->hier[m->unified];
        struct cg_hier *h = cg_hier_of(m, CG_FREEZER);
        return h ? h : &m->hier[0];
}

static int any_pid(pid_t pid, void *userdata) {
        return 1;
}

int cg_for_each_process(struct cg_manager *m, const char *name, int (*fn)(pid_t pid, void *userdata),
                        void *userdata) {
        if (!cg_name_valid(name))
                return -EINVAL;
        return walk_pids(track_hier(m)->parent_fd, name, fn, userdata, 0);
}

int cg_populated(struct cg_manager *m, const char *name) {
        if (!cg_name_valid(name))
                return -EINVAL;
        struct cg_hier *h = track_hier(m);
        if (h->unified) {
                uint64_t v;
                /* "populated" counts descendants too, in one read */
                int r = cg_file_read_key(h->parent_fd, name, "cgroup.events", "populated", &v);
                if (r == -ENOENT)
                        return 0;
                if (r < 0)
                        return r;
                return v != 0;
        }
        return walk_pids(h->parent_fd, name, any_pid, NULL, 0);
}

/* ---- create, limits, attach ------------------------------------------- */

int cg_create(struct cg_manager *m, const char *name, const struct cg_limits *lim, vs_error *err) {
        unsigned created = 0;
        bool existed = false;
        int r;

        r = cg_name_check(name, err);
        if (r < 0)
                return r;
        r = cg_validate(m, lim, err);
        if (r < 0)
                return r;

        for (size_t i = 0; i < m->n_hier; i++) {
                if (mkdirat(m->hier[i].parent_fd, name, 0755) == 0)
                        created |= 1u << i;
                else if (errno == EEXIST)
                        existed = true;
                else {
                        r = vs_err(err, errno, "create cgroup %s/%s", m->hier[i].path, name);
                        goto undo;
                }
        }
        /* a leftover of a crash is reused if nothing runs in it; a live one
         * belongs to a running instance of that name */
        if (existed) {
                r = cg_populated(m, name);
                if (r > 0) {
                        r = vs_err_msg(err, EEXIST, "cgroup %s/%s already exists and has processes",
                                       track_hier(m)->path, name);
                        goto undo;
                }
                if (r < 0) {
                        r = vs_err(err, -r, "check cgroup %s/%s", track_hier(m)->path, name);
                        goto undo;
                }
        }
        /* the payload first: set_limits mirrors what lxcfs reads into it */
        if (m->ops->create_inner) {
                r = m->ops->create_inner(m, name, err);
                if (r < 0)
                        goto undo;
        }
        static const struct cg_limits none = { 0 };
        r = m->ops->set_limits(m, name, lim ? lim : &none, err);
        if (r < 0)
                goto undo;
        return 0;

undo:
        for (size_t i = 0; i < m->n_hier; i++)
                if (created & (1u << i))
                        (void) cg_rmdir_tree(m->hier[i].parent_fd, name, 0);
        return r;
}

int cg_set_limits(struct cg_manager *m, const char *name, const struct cg_limits *lim, vs_error *err) {
        int r = cg_name_check(name, err);
        if (r < 0)
                return r;
        r = cg_validate(m, lim, err);
        if (r < 0)
                return r;
        return m->ops->set_limits(m, name, lim, err);
}

/* Where the processes of cgroup name go in hierarchy i: on v2 the payload,
 * below the limits (<name> itself has controllers enabled for it, and the
 * kernel's no-internal-process rule refuses a process there: EBUSY). */
static void procs_dir(const struct cg_manager *m, size_t i, const char *name, char *dir, size_t len) {
        if (m->hier[i].unified && m->ops->inner)
                snprintf(dir, len, "%s/%s", name, m->ops->inner);
        else
                snprintf(dir, len, "%s", name);
}

int cg_attach(struct cg_manager *m, const char *name, pid_t pid, vs_error *err) {
        int r = cg_name_check(name, err);
        if (r < 0)
                return r;
        char buf[32], dir[300];
        snprintf(buf, sizeof(buf), "%d", (int) pid);
        for (size_t i = 0; i < m->n_hier; i++) {
                procs_dir(m, i, name, dir, sizeof(dir));
                r = cg_file_write(m->hier[i].parent_fd, dir, "cgroup.procs", buf);
                if (r < 0)
                        return vs_err(err, -r, "move pid %d into cgroup %s/%s", (int) pid, m->hier[i].path, dir);
        }
        return 0;
}

int cg_delegate(struct cg_manager *m, const char *name, uid_t uid, gid_t gid, vs_error *err) {
        if (!cg_name_valid(name))
                return vs_err_msg(err, EINVAL, "invalid cgroup name '%.40s'", name);
        if (m->unified < 0)
                return 0;
        struct cg_hier *h = &m->hier[m->unified];
        char dir[VS_NAME_MAX + 32], path[VS_NAME_MAX + 64];
        snprintf(dir, sizeof(dir), "%s%s%s", name, m->ops->inner ? "/" : "", m->ops->inner ? m->ops->inner : "");
        static const char *const files[] = { "", "/cgroup.procs", "/cgroup.threads", "/cgroup.subtree_control" };
        for (size_t k = 0; k < ELEMENTSOF(files); k++) {
                snprintf(path, sizeof(path), "%s%s", dir, files[k]);
                /* no link is followed: a cgroupfs has none, a test's plain
                 * tree must not have one either */
                if (fchownat(h->parent_fd, path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 && !(errno == ENOENT && k > 0))
                        return vs_err(err, errno, "give %s/%s to the instance's root", h->path, path);
        }
        return 0;
}

int cg_open_dir(struct cg_manager *m, const char *name) {
        if (!cg_name_valid(name))
                return -EINVAL;
        return m->ops->open_dir(m, name);
}

int cg_open_procs_dir(struct cg_manager *m, const char *name) {
        char dir[300];
        if (!cg_name_valid(name))
                return -EINVAL;
        for (size_t i = 0; i < m->n_hier; i++) {
                if (!m->hier[i].unified)
                        continue;
                procs_dir(m, i, name, dir, sizeof(dir));
                int fd = openat(m->hier[i].parent_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                return fd < 0 ? -errno : fd;
        }
        return -EOPNOTSUPP;
}

/* ---- freeze and kill -------------------------------------------------- */

int cg_unified_freeze(struct cg_manager *m, struct cg_hier *h, const char *name, bool frozen, vs_error *err) {
        int r = cg_put(h, name, "cgroup.freeze", frozen ? "1" : "0", false, err);
        if (r < 0)
                return r;
        r = cg_file_wait_key(h->parent_fd, name, "cgroup.events", "frozen", frozen ? 1 : 0, CG_FREEZE_TIMEOUT_MS);
        if (r == -ETIMEDOUT) {
                /* do not leave an instance half frozen behind an error */
                if (frozen)
                        (void) cg_file_write(h->parent_fd, name, "cgroup.freeze", "0");
                return vs_err_msg(err, ETIMEDOUT, "%s %s/%s did not complete within %d ms%s",
                                  frozen ? "freezing" : "thawing", h->path, name, CG_FREEZE_TIMEOUT_MS,
                                  frozen ? "; thawed it again" : "");
        }
        if (r < 0)
                return vs_err(err, -r, "read %s/%s/cgroup.events", h->path, name);
        return 0;
}

int cg_freeze(struct cg_manager *m, const char *name, bool frozen, vs_error *err) {
        int r = cg_name_check(name, err);
        if (r < 0)
                return r;
        return m->ops->freeze(m, name, frozen, err);
}

struct kill_ctx {
        int sig;
        pid_t *seen;
        size_t n_seen, cap;
        size_t n_new;
        int error;
};

static int kill_one(pid_t pid, void *userdata) {
        struct kill_ctx *k = userdata;
        for (size_t i = 0; i < k->n_seen; i++)
                if (k->seen[i] == pid)
                        return 0;
        if (k->n_seen == k->cap) {
                size_t cap = k->cap ? k->cap * 2 : 64;
                pid_t *n = realloc(k->seen, cap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                k->seen = n;
                k->cap = cap;
        }
        k->seen[k->n_seen++] = pid;
        k->n_new++;
        if (kill(pid, k->sig) < 0 && errno != ESRCH && k->error == 0)
                k->error = errno;
        return 0;
}

/* Signal every pid listed in the cgroup.  Frozen first where a freezer
 * exists, so no process can fork a child past the list or exit and hand its
 * pid to a stranger while we go through it.  Without a freezer a SIGKILL is
 * repeated while new pids turn up. */
static int kill_walk(struct cg_manager *m, const char *name, int sig, vs_error *err) {
        struct cg_hier *h = track_hier(m);
        bool frozen = m->ops->freeze(m, name, true, NULL) >= 0;
        struct kill_ctx k = { .sig = sig };
        int r = 0;

        for (unsigned round = 0; round < CG_KILL_ROUNDS; round++) {
                k.n_new = 0;
                r = walk_pids(h->parent_fd, name, kill_one, &k, 0);
                if (r < 0 || k.n_new == 0 || frozen || sig != SIGKILL)
                        break;
        }
        free(k.seen);
        if (r < 0) {
                if (frozen)
                        (void) m->ops->freeze(m, name, false, NULL);
                return vs_err(err, -r, "list processes of %s/%s", h->path, name);
        }
        /* a frozen process acts on its signal once thawed */
        if (frozen) {
                r = m->ops->freeze(m, name, false, err);
                if (r < 0)
                        return r;
        }
        if (k.error)
                return vs_err(err, k.error, "signal %d to processes of %s/%s", sig, h->path, name);
        return 0;
}

int cg_kill(struct cg_manager *m, const char *name, int sig, vs_error *err) {
        int r = cg_name_check(name, err);
        if (r < 0)
                return r;
        struct cg_hier *h = track_hier(m);
        if (faccessat(h->parent_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : vs_err(err, errno, "cgroup %s/%s", h->path, name);
        if (sig == SIGKILL && h->unified) {
                /* the kernel kills the whole subtree, forks in flight included */
                r = cg_file_write(h->parent_fd, name, "cgroup.kill", "1");
                if (r == 0)
                        return 0;
                if (r != -ENOENT) /* ENOENT: a kernel before 5.14 */
                        return vs_err(err, -r, "write '1' to %s/%s/cgroup.kill", h->path, name);
        }
        return kill_walk(m, name, sig, err);
}

int cg_kill_wait(struct cg_manager *m, const char *name, unsigned timeout_ms, vs_error *err) {
        /* a process frozen by the v1 freezer acts on SIGKILL only once
         * thawed: a leftover of a crash may well be frozen */
        if (cg_frozen(m, name) > 0)
                (void) m->ops->freeze(m, name, false, NULL);
        int r = cg_kill(m, name, SIGKILL, err);
        if (r < 0)
                return r;
        struct cg_hier *h = track_hier(m);
        if (h->unified) {
                r = cg_file_wait_key(h->parent_fd, name, "cgroup.events", "populated", 0, timeout_ms);
                if (r == -ENOENT)
                        return 0;
        } else {
                /* v1 has no notification for "empty" but release_agent,
                 * which is host-global: poll with a short growing pause */
                uint64_t deadline = cg_now_ms() + timeout_ms;
                long pause_us = 100;
                for (;;) {
                        r = cg_populated(m, name);
                        if (r <= 0)
                                break;
                        if (cg_now_ms() >= deadline) {
                                r = -ETIMEDOUT;
                                break;
                        }
                        (void) cg_kill(m, name, SIGKILL, NULL);
                        struct timespec ts = { .tv_nsec = pause_us * 1000 };
                        nanosleep(&ts, NULL);
                        if (pause_us < 10000)
                                pause_us *= 2;
                }
        }
        if (r == -ETIMEDOUT)
                return vs_err_msg(err, ETIMEDOUT, "processes of %s/%s still alive %u ms after SIGKILL", h->path,
                                  name, timeout_ms);
        if (r < 0)
                return vs_err(err, -r, "wait for %s/%s to empty", h->path, name);
        return 0;
}

/* ---- destroy and list ------------------------------------------------- */

/* rmdir <dfd>/<name>, child cgroups first.  cgroupfs refuses with EBUSY while
 * children exist; a plain directory tree (tests) says ENOTEMPTY, and only
 * there the files standing in for the cgroup interface are removed too.
 * (The payload and the exec leaf are removed with the instance's cgroup.) */
int cg_rmdir_tree(int dfd, const char *name, unsigned depth) {
        if (unlinkat(dfd, name, AT_REMOVEDIR) == 0)
                return 0;
        if (errno == ENOENT)
                return 0;
        if (errno != EBUSY && errno != ENOTEMPTY)
                return -errno;
        if (depth > CG_MAX_DEPTH)
                return -ELOOP;
        bool plain = errno == ENOTEMPTY;

        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        int r = 0;
        struct dirent *de;
        while (r == 0 && (de = readdir(d))) {
                if (is_dir_entry(fd, de))
                        r = cg_rmdir_tree(fd, de->d_name, depth + 1);
                else if (plain && !streq(de->d_name, ".") && !streq(de->d_name, "..") &&
                         unlinkat(fd, de->d_name, 0) < 0)
                        r = -errno;
        }
        closedir(d);
        if (r < 0)
                return r;
        return unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

int cg_destroy(struct cg_manager *m, const char *name, vs_error *err) {
        int r = cg_name_check(name, err);
        if (r < 0)
                return r;
        /* check first so a live instance does not lose half its hierarchies */
        r = cg_populated(m, name);
        if (r > 0)
                return vs_err_msg(err, EBUSY, "cgroup %s/%s still has processes", track_hier(m)->path, name);
        if (r < 0)
                return vs_err(err, -r, "check cgroup %s/%s", track_hier(m)->path, name);

        /* The tracking hierarchy comes last in m->hier: on an error we stop,
         * and what remains can still be found, killed and removed later. */
        for (size_t i = 0; i < m->n_hier; i++) {
                struct cg_hier *h = &m->hier[i];
                r = cg_rmdir_tree(h->parent_fd, name, 0);
                /* The kernel lets go of a cgroup a moment after its last
                 * process has exited (cgroup.procs and "populated" already
                 * say empty; rmdir still EBUSY).  No event marks the end of
                 * that window: retry briefly, unless a process came back. */
                long pause_us = 200;
                uint64_t deadline = cg_now_ms() + CG_RMDIR_SETTLE_MS;
                while (r == -EBUSY && cg_now_ms() < deadline && cg_populated(m, name) == 0) {
                        struct timespec ts = { .tv_nsec = pause_us * 1000 };
                        nanosleep(&ts, NULL);
                        if (pause_us < 10000)
                                pause_us *= 2;
                        r = cg_rmdir_tree(h->parent_fd, name, 0);
                }
                if (r == -EBUSY)
                        return vs_err_msg(err, EBUSY, "cgroup %s/%s still has processes", h->path, name);
                if (r < 0)
                        return vs_err(err, -r, "remove cgroup %s/%s", h->path, name);
        }
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int cg_list(struct cg_manager *m, char ***ret, vs_error *err) {
        char **v = calloc(1, sizeof(char *));
        size_t n = 0;
        if (!v)
                return vs_err(err, ENOMEM, "list cgroups");

        /* every hierarchy: a crash between two mkdirs leaves a cgroup in some */
        for (size_t i = 0; i < m->n_hier; i++) {
                int fd = dup(m->hier[i].parent_fd);
                DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
                if (!d) {
                        int e = errno;
                        if (fd >= 0)
                                close(fd);
                        strv_free(v);
                        return vs_err(err, e, "list %s", m->hier[i].path);
                }
                /* the fd is shared with parent_fd: start from the top */
                rewinddir(d);
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (!vs_name_valid(de->d_name) || !is_dir_entry(dirfd(d), de))
                                continue;
                        bool dup_name = false;
                        for (size_t j = 0; j < n && !dup_name; j++)
                                dup_name = streq(v[j], de->d_name);
                        if (dup_name)
                                continue;
                        char **nv = realloc(v, (n + 2) * sizeof(char *));
                        if (!nv || !(nv[n] = strdup(de->d_name))) {
                                closedir(d);
                                strv_free(nv ? nv : v);
                                return vs_err(err, ENOMEM, "list cgroups");
                        }
                        v = nv;
                        v[++n] = NULL;
                }
                closedir(d);
        }
        qsort(v, n, sizeof(char *), cmp_str);
        *ret = v;
        return 0;
}

/* ---- frozen? ---------------------------------------------------------- */

int cg_frozen(struct cg_manager *m, const char *name) {
        if (!cg_name_valid(name))
                return -EINVAL;
        /* the freezer that cg_freeze() uses: v1's, else cgroup2's */
        struct cg_hier *h = cg_hier_of(m, CG_FREEZER);
        if (h && !h->unified) {
                char state[32];
                int r = cg_file_read(h->parent_fd, name, "freezer.state", state, sizeof(state));
                if (r < 0)
                        return r == -ENOENT ? 0 : r;
                return !streq(state, "THAWED");
        }
        if (m->unified < 0)
                return 0;
        uint64_t v;
        int r = cg_file_read_u64(m->hier[m->unified].parent_fd, name, "cgroup.freeze", &v);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        return v != 0;
}

int cg_freezer_file(struct cg_manager *m, const char *name, char *buf, size_t len) {
        if (!cg_name_valid(name))
                return -EINVAL;
        /* the freezer that cg_freeze() uses: v1's, else cgroup2's */
        struct cg_hier *h = cg_hier_of(m, CG_FREEZER);
        if (!h || h->unified)
                h = m->unified >= 0 ? &m->hier[m->unified] : NULL;
        if (!h)
                return -EOPNOTSUPP;
        int n = snprintf(buf, len, "%s/%s/%s", h->path, name, h->unified ? "cgroup.freeze" : "freezer.state");
        return n < 0 || (size_t) n >= len ? -ENAMETOOLONG : 0;
}

/* ---- work cgroups ----------------------------------------------------- */

static int work_name(const char *id, char *buf, size_t len, vs_error *err) {
        if (!id || !work_id_valid(id))
                return vs_err_msg(err, EINVAL, "invalid work cgroup name '%.80s'", id ? id : "");
        snprintf(buf, len, CG_WORK_PREFIX "%s", id);
        return 0;
}

int cg_work_create(struct cg_manager *m, const char *id, vs_error *err) {
        char name[CG_WORK_ID_MAX + 16];
        int r = work_name(id, name, sizeof(name), err);
        if (r < 0)
                return r;
        return cg_create(m, name, NULL, err);
}

int cg_work_enter(struct cg_manager *m, const char *id) {
        char name[CG_WORK_ID_MAX + 16];
        if (work_name(id, name, sizeof(name), NULL) < 0)
                return -EINVAL;
        /* made by cg_create, a work cgroup has the instances' layout */
        return cg_enter(m, name);
}

int cg_enter(struct cg_manager *m, const char *name) {
        char dir[300];
        if (!cg_name_valid(name))
                return -EINVAL;
        for (size_t i = 0; i < m->n_hier; i++) {
                procs_dir(m, i, name, dir, sizeof(dir));
                int r = cg_file_write(m->hier[i].parent_fd, dir, "cgroup.procs", "0");
                if (r < 0)
                        return r;
        }
        return 0;
}

int cg_work_remove(struct cg_manager *m, const char *id, unsigned timeout_ms, vs_error *err) {
        char name[CG_WORK_ID_MAX + 16];
        int r = work_name(id, name, sizeof(name), err);
        if (r < 0)
                return r;
        r = cg_kill_wait(m, name, timeout_ms, err);
        if (r < 0)
                return r;
        return cg_destroy(m, name, err);
}

int cg_work_list(struct cg_manager *m, char ***ret, vs_error *err) {
        char **v = calloc(1, sizeof(char *));
        size_t n = 0, plen = strlen(CG_WORK_PREFIX);
        if (!v)
                return vs_err(err, ENOMEM, "list work cgroups");
        /* every hierarchy: a crash between two mkdirs leaves it in some */
        for (size_t i = 0; i < m->n_hier; i++) {
                int fd = dup(m->hier[i].parent_fd);
                DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
                if (!d) {
                        int e = errno;
                        if (fd >= 0)
                                close(fd);
                        strv_free(v);
                        return vs_err(err, e, "list %s", m->hier[i].path);
                }
                rewinddir(d);
                struct dirent *de;
                while ((de = readdir(d))) {
                        const char *id = de->d_name + plen;
                        if (strncmp(de->d_name, CG_WORK_PREFIX, plen) != 0 || !work_id_valid(id) ||
                            !is_dir_entry(dirfd(d), de))
                                continue;
                        bool dup_name = false;
                        for (size_t j = 0; j < n && !dup_name; j++)
                                dup_name = streq(v[j], id);
                        if (dup_name)
                                continue;
                        char **nv = realloc(v, (n + 2) * sizeof(char *));
                        if (!nv || !(nv[n] = strdup(id))) {
                                closedir(d);
                                strv_free(nv ? nv : v);
                                return vs_err(err, ENOMEM, "list work cgroups");
                        }
                        v = nv;
                        v[++n] = NULL;
                }
                closedir(d);
        }
        *ret = v;
        return 0;
}

/* ---- counters --------------------------------------------------------- */

static int stats(struct cg_manager *m, const char *name, bool counters_only, struct cg_counter_fds *fds,
                 struct cg_stats *ret, vs_error *err) {
        int r = cg_name_check(name, err);
        if (r < 0)
                return r;
        struct cg_hier *h = &m->hier[0];
        if (faccessat(h->parent_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                return vs_err(err, errno, "cgroup %s/%s", h->path, name);
        struct cg_stats s = { 0 };
        r = m->ops->stats(m, name, counters_only, fds, &s, err);
        if (r < 0)
                return r;
        *ret = s;
        return 0;
}

int cg_cpu_times(struct cg_manager *m, const char *name, uint64_t *ret_user_ns, uint64_t *ret_system_ns) {
        if (!cg_name_valid(name))
                return -EINVAL;
        const struct cg_hier *h = m->ops == &cg_v2_ops ? &m->hier[0] : cg_hier_of(m, CG_CPUACCT);
        if (!h)
                return -EOPNOTSUPP;
        char buf[1024];
        int r = cg_file_read(h->parent_fd, name, h->unified ? "cpu.stat" : "cpuacct.stat", buf, sizeof(buf));
        if (r < 0)
                return r;
        uint64_t user = 0, sys = 0;
        if ((r = cg_parse_key(buf, h->unified ? "user_usec" : "user", &user)) < 0 ||
            (r = cg_parse_key(buf, h->unified ? "system_usec" : "system", &sys)) < 0)
                return r;
        /* v1 counts USER_HZ ticks, which the kernel fixes at 100 for
         * every interface that shows them */
        uint64_t unit = h->unified ? 1000 : 10000000;
        *ret_user_ns = user * unit;
        *ret_system_ns = sys * unit;
        return 0;
}

int cg_fail_counters(struct cg_manager *m, const char *name, uint64_t *ret_oom_kills, uint64_t *ret_pids_max) {
        if (!cg_name_valid(name))
                return -EINVAL;
        uint64_t oom = 0, pids = 0;
        int r = m->ops->fail_counters(m, name, &oom, &pids);
        if (r < 0)
                return r;
        *ret_oom_kills = oom;
        *ret_pids_max = pids;
        return 0;
}

int cg_stats(struct cg_manager *m, const char *name, struct cg_stats *ret, vs_error *err) {
        return stats(m, name, false, NULL, ret, err);
}

int cg_counters(struct cg_manager *m, const char *name, struct cg_stats *ret, vs_error *err) {
        return stats(m, name, true, NULL, ret, err);
}

int cg_counters_held(struct cg_manager *m, const char *name, struct cg_counter_fds **fds, struct cg_stats *ret,
                     vs_error *err) {
        if (!*fds) {
                struct cg_counter_fds *f = malloc(sizeof(*f));
                if (!f)
                        return vs_err(err, ENOMEM, "counters of %s", name);
                for (size_t k = 0; k < CG_COUNTER_FILES_MAX; k++)
                        f->fd[k] = -EBADF;
                *fds = f;
        }
        return stats(m, name, true, *fds, ret, err);
}

void cg_counter_fds_free(struct cg_counter_fds *fds) {
        if (!fds)
                return;
        for (size_t k = 0; k < CG_COUNTER_FILES_MAX; k++)
                if (fds->fd[k] >= 0)
                        close(fds->fd[k]);
        free(fds);
}

int cg_manager_remove_parent(struct cg_manager *m) {
        int ret = 0;
        /* children first would be wrong: only an empty parent is removed,
         * and a busy one (instances still running) is simply kept */
        for (size_t i = 0; i < m->n_hier; i++)
                if (rmdir(m->hier[i].path) < 0 && errno != ENOENT && ret == 0)
                        ret = -errno;
        return ret;
}

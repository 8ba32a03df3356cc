/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The template store: list, build (a builder child watched by the loop), remove. */
#include "vsd/inst/templates.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <sha2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/log.h"
#include "base/progress.h"
#include "base/parse.h"
#include "base/proc.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/conf/settings.h"
#include "vsd/core/daemon.h"
#include "vsd/core/loop.h"
#include "vsd/core/ops.h"
#include "vsd/core/syscalls.h"
#include "vsd/core/work.h"
#include "vsd/inst/instance.h"

/* Output kept per build for its client: far above a debootstrap run's
 * (about 60 KiB); past it, lines are dropped (the outcome still comes). */
#define BUILD_OUTPUT_MAX (4u << 20)

struct tmpl_build {
        struct vsd *vsd;
        char name[VS_NAME_MAX + 1];
        char builder[VS_NAME_MAX + 1];
        char dir[512];  /* <root>/templates/.NAME.build */
        pid_t pid;
        int pidfd;
        int out_fd;     /* read end of the builder's stdout + stderr */
        struct loop_source *pidfd_src, *out_src;
        char *out;      /* complete lines, for the client */
        size_t out_len;
        char part[1024]; /* a line still without its newline */
        size_t part_len;
        char last[256]; /* the last non-empty line: the reason of a failure */
        bool done;
        bool stopping;  /* killed because vsd exits */
        bool cancelled; /* killed because a client cancelled it */
        vs_error result; /* code 0: success */
        struct op *op;  /* what clients see of it (ops.h) */
        struct tmpl_listener *listener;
        struct tmpl_build *next;
};

/* The work cgroup a build of template name runs in (work.h). */
static void build_cgroup(const char *name, char *buf, size_t len) {
        snprintf(buf, len, "template-%s", name);
}

static void templates_dir(struct vsd *v, char *buf, size_t len) {
        snprintf(buf, len, "%s/templates", v->set.root);
}

/* ---- in use ------------------------------------------------------------ */

/* EBUSY "template 'x' is in use by a, b" when any instance, running or not,
 * has it as its lower layer. */
static int check_unused(struct vsd *v, const char *name, vs_error *err) {
        char users[200] = "";
        size_t n = 0, len = 0;
        for (size_t k = 0; k < v->n_inst; k++) {
                const char *iname = v->inst[k]->cfg.name;
                if (!streq(v->inst[k]->cfg.template_name, name))
                        continue;
                if (n++ < 8 && len + strlen(iname) + 3 < sizeof(users))
                        len += (size_t) snprintf(users + len, sizeof(users) - len, "%s%s", len ? ", " : "", iname);
        }
        if (n == 0)
                return 0;
        return vs_err_msg(err, EBUSY, "template '%s' is in use by %s%s", name, users, n > 8 ? ", ..." : "");
}

static struct tmpl_build *find_build(struct vsd *v, const char *name) {
        for (struct tmpl_build *b = v->builds; b; b = b->next)
                if (streq(b->name, name))
                        return b;
        return NULL;
}

#define CONTENT_ID_FILE ".content-id"
#define SIZE_FILE ".size"
/* Where the caches of a template directory that cannot take them go (a
 * store mounted read-only, an immutable directory): without them every
 * move and export of its instances, and every listing, would hash the
 * whole tree again.  <root>/cache/templates/, each file named for the
 * directory it describes (device, inode, birth time): a rebuild, which is
 * a new directory, never meets the old one's.  dir is <root>/templates/X
 * (every caller's); another path gets none. */
#define SPARE_DIR "cache/templates"

/* ---- listing ----------------------------------------------------------- */

static bool cached_id(const char *dir, int dfd, char ret[TMPL_ID_LEN]);
static bool cached_size(const char *dir, int dfd, uint64_t *ret);

/* fdopendir(dfd), which is closed when that fails. */
static DIR *fd_opendir(int dfd) {
        DIR *d = fdopendir(dfd);
        if (!d)
                close(dfd);
        return d;
}

/* Disk usage of a tree, not crossing into other filesystems. */
static void du_at(int dfd, dev_t dev, uint64_t *sum) {
        DIR *d = fd_opendir(dfd);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d))) {
                struct stat st;
                if (streq(de->d_name, ".") || streq(de->d_name, "..") ||
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
                        continue;
                /* each name of a file with several counts its share, so
                 * hard links inside the tree add up to the file once */
                *sum += (uint64_t) st.st_blocks * 512 / (S_ISDIR(st.st_mode) || st.st_nlink < 1 ? 1 : st.st_nlink);
                if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0)
                                du_at(sub, dev, sum);
                }
        }
        closedir(d);
}

static uint64_t disk_usage(const char *path) {
        struct stat st;
        uint64_t sum = 0;
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return 0;
        if (fstat(fd, &st) < 0) {
                close(fd);
                return 0;
        }
        du_at(fd, st.st_dev, &sum);
        return sum;
}

/* Its size and identity as the template directory keeps them
 * (.size, .content-id): files of a few bytes, never a walk of the tree.
 * One made before them (an older vsd, a copy by hand) answers without them
 * ("size" and "content_id" null) until the helper that tmpl_caches_start()
 * runs has computed them: the loop never walks a tree. */
static json_t *info_json(struct vsd *v, const struct template_info *t) {
        char dir[600], id[TMPL_ID_LEN];
        uint64_t size = 0;
        json_t *users = json_array();
        for (size_t k = 0; users && k < v->n_inst; k++)
                if (streq(v->inst[k]->cfg.template_name, t->name))
                        json_array_append_new(users, json_string(v->inst[k]->cfg.name));
        snprintf(dir, sizeof(dir), "%s/templates/%s", v->set.root, t->name);
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        bool has_size = dfd >= 0 && cached_size(dir, dfd, &size), has_id = dfd >= 0 && cached_id(dir, dfd, id);
        if (!has_size || !has_id)
                tmpl_caches_start(v);
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o*, s:o, s:o, s:b}", "name", t->name, "os", t->os, "description",
                         t->description, "init", t->init, "halt_signal", t->halt_signal_name, "instances", users,
                         "size", has_size ? json_integer((json_int_t) size) : json_null(), "content_id",
                         has_id ? json_string(id) : json_null(), "building", find_build(v, t->name) != NULL);
}

json_t *tmpl_json(struct vsd *v, const char *name, vs_error *err) {
        struct template_info t;
        if (template_load(v->set.root, name, &t, err) < 0)
                return NULL;
        json_t *j = info_json(v, &t);
        if (!j)
                vs_err(err, ENOMEM, "template '%s'", name);
        return j;
}

json_t *tmpl_list_json(struct vsd *v) {
        char path[512];
        json_t *arr = json_array();
        templates_dir(v, path, sizeof(path));
        DIR *d = opendir(path);
        struct dirent *de;
        while (arr && d && (de = readdir(d))) {
                struct template_info t;
                if (de->d_name[0] == '.' || template_load(v->set.root, de->d_name, &t, NULL) < 0)
                        continue;
                json_t *j = info_json(v, &t);
                if (j)
                        json_array_append_new(arr, j);
        }
        if (d)
                closedir(d);
        return arr;
}

/* ---- leftovers --------------------------------------------------------- */

static bool spare_path(const char *dir, int dfd, const char *file, char *buf, size_t len);

/* The caches' temporaries a helper killed with the daemon left in the
 * template directory dfd (write_cache(): FILE.PID); dfd is closed. */
static void cache_temps_remove(int dfd) {
        DIR *d = fd_opendir(dfd);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d))) {
                const char *dot = strrchr(de->d_name, '.');
                size_t n = dot ? (size_t) (dot - de->d_name) : 0;
                bool ours = n && dot[1] && strspn(dot + 1, "0123456789") == strlen(dot + 1) &&
                            ((n == strlen(CONTENT_ID_FILE) && !strncmp(de->d_name, CONTENT_ID_FILE, n)) ||
                             (n == strlen(SIZE_FILE) && !strncmp(de->d_name, SIZE_FILE, n)));
                if (ours && unlinkat(dirfd(d), de->d_name, 0) == 0)
                        log_info("Removed the leftover %s of an interrupted template cache write", de->d_name);
        }
        closedir(d);
}

/* Is the spare cache file name one of a template directory there now? */
static bool spare_used(const char *templates, const char *name) {
        DIR *d = opendir(templates);
        bool used = false;
        struct dirent *de;
        while (d && !used && (de = readdir(d))) {
                char dir[800], spare[900];
                snprintf(dir, sizeof(dir), "%s/%s", templates, de->d_name);
                _cleanup_close_ int dfd = de->d_name[0] == '.' ? -EBADF :
                                                                 open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                /* the directory's part of the name, then its file's */
                if (dfd >= 0 && spare_path(dir, dfd, "", spare, sizeof(spare))) {
                        const char *key = strrchr(spare, '/') + 1;
                        used = !strncmp(name, key, strlen(key)) && name[strlen(key)] == '.';
                }
        }
        if (d)
                closedir(d);
        return used;
}

/* The spare caches (SPARE_DIR) of directories no longer there, and the
 * temporaries of their writes (vs_write_replace()'s .tmp.). */
static void spares_prune(const char *root, const char *templates) {
        char path[512], stale[800];
        snprintf(path, sizeof(path), "%s/%s", root, SPARE_DIR);
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, "..") ||
                    (!strstr(de->d_name, ".tmp.") && spare_used(templates, de->d_name)))
                        continue;
                snprintf(stale, sizeof(stale), "%s/%s", path, de->d_name);
                (void) unlink(stale);
        }
        if (d)
                closedir(d);
}

void tmpl_cleanup_leftovers(struct vsd *v) {
        char path[512];
        templates_dir(v, path, sizeof(path));
        DIR *d = opendir(path);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                /* .NAME.build, .NAME.old, .NAME.del, .NAME.import (a
                 * template being received from another host), and what a
                 * builder makes beside its DEST (busybox: DEST.tmp.PID,
                 * DEST.old.*) */
                bool ours = de->d_name[0] == '.' &&
                            ((n > 6 && streq(de->d_name + n - 6, ".build")) || (n > 4 && streq(de->d_name + n - 4, ".old")) ||
                             (n > 7 && streq(de->d_name + n - 7, ".import")) ||
                             (n > 4 && streq(de->d_name + n - 4, ".del")) || strstr(de->d_name, ".build.tmp.") ||
                             strstr(de->d_name, ".build.old."));
                char stale[800];
                snprintf(stale, sizeof(stale), "%s/%s", path, de->d_name);
                if (!ours) {
                        int dfd = de->d_name[0] == '.' ? -EBADF : open(stale, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (dfd >= 0)
                                cache_temps_remove(dfd);
                        continue;
                }
                int r = vs_rm_rf(stale);
                if (r < 0)
                        log_warn("Failed to remove the leftover %s: %s, ignoring", stale, strerror(-r));
                else
                        log_info("Removed the leftover %s of an interrupted template build or removal", stale);
        }
        closedir(d);
        spares_prune(v->set.root, path);
}

/* ---- building ---------------------------------------------------------- */

/* The builder from the template's name: "debian-12" -> "debian" unless a
 * builder "debian-12" exists. */
static int resolve_builder(struct vsd *v, const char *name, const char *given, char *buf, size_t len, char *script,
                           size_t slen, vs_error *err) {
        char cand[VS_NAME_MAX + 1];
        if (given && *given) {
                if (!vs_name_valid(given))
                        return vs_err_msg(err, EINVAL, "invalid builder name '%.60s'", given);
                snprintf(cand, sizeof(cand), "%s", given);
        } else {
                snprintf(cand, sizeof(cand), "%s", name);
                snprintf(script, slen, "%s/%s/build.sh", v->set.builders, cand);
                char *dash = strrchr(cand, '-');
                if (access(script, F_OK) < 0 && dash && dash[1] >= '0' && dash[1] <= '9')
                        *dash = '\0';
        }
        snprintf(script, slen, "%s/%s/build.sh", v->set.builders, cand);
        if (access(script, F_OK) < 0)
                return vs_err_msg(err, ENOENT, "unknown builder '%s' (no %s)", cand, script);
        if (access(script, X_OK) < 0)
                return vs_err_msg(err, EACCES, "builder %s is not executable", script);
        snprintf(buf, len, "%s", cand);
        return 0;
}

static void wake(struct tmpl_build *b) {
        if (b->listener)
                b->listener->wake(b->listener);
}

static void build_free(struct tmpl_build *b) {
        free(b->out);
        free(b);
}

static void add_line(struct tmpl_build *b, const char *s, size_t n) {
        while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' '))
                n--;
        if (n == 0)
                return;
        snprintf(b->last, sizeof(b->last), "%.*s", (int) (n < sizeof(b->last) ? n : sizeof(b->last) - 1), s);
        if (b->out_len + n + 1 > BUILD_OUTPUT_MAX)
                return;
        char *p = realloc(b->out, b->out_len + n + 1);
        if (!p)
                return;
        b->out = p;
        memcpy(b->out + b->out_len, s, n);
        b->out[b->out_len + n] = '\n';
        b->out_len += n + 1;
}

/* Split what the builder wrote into lines; a line longer than part is cut. */
static void take_output(struct tmpl_build *b, const char *data, size_t n) {
        for (size_t k = 0; k < n; k++) {
                if (data[k] == '\n' || b->part_len == sizeof(b->part)) {
                        add_line(b, b->part, b->part_len);
                        b->part_len = 0;
                        if (data[k] == '\n')
                                continue;
                }
                b->part[b->part_len++] = data[k];
        }
}

/* Read what is there; returns 0 at EOF, 1 when more may come. */
static int drain(struct tmpl_build *b) {
        char buf[16384];
        for (;;) {
                ssize_t n = read(b->out_fd, buf, sizeof(buf));
                if (n > 0) {
                        take_output(b, buf, (size_t) n);
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                return n < 0 && errno == EAGAIN ? 1 : 0;
        }
}

static void unlink_build(struct tmpl_build *b) {
        for (struct tmpl_build **p = &b->vsd->builds; *p; p = &(*p)->next)
                if (*p == b) {
                        *p = b->next;
                        break;
                }
}

/* Put a successful build in place of the template (an unused one). */
static int install(struct tmpl_build *b, vs_error *err) {
        struct vsd *v = b->vsd;
        struct template_info t;
        char final[512], old[600], rootfs[600];
        struct stat st;

        snprintf(rootfs, sizeof(rootfs), "%s/rootfs", b->dir);
        if (stat(rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
                return vs_err_msg(err, EINVAL, "the builder made no rootfs directory");
        snprintf(rootfs, sizeof(rootfs), "%s/template.ini", b->dir);
        if (access(rootfs, F_OK) < 0)
                return vs_err_msg(err, EINVAL, "the builder made no template.ini");
        if (template_load_dir(b->dir, b->name, &t, err) < 0)
                return vs_err_prefix(err, "the builder's template.ini");
        /* an instance created from the old one while this build ran */
        if (check_unused(v, b->name, err) < 0)
                return -EBUSY;
        snprintf(final, sizeof(final), "%s/templates/%s", v->set.root, b->name);
        snprintf(old, sizeof(old), "%s/templates/.%s.old", v->set.root, b->name);
        bool replace = access(final, F_OK) == 0;
        if (replace && rename(final, old) < 0)
                return vs_err(err, errno, "move the old template %s aside", final);
        if (rename(b->dir, final) < 0) {
                int r = vs_err(err, errno, "rename %s to %s", b->dir, final);
                if (replace)
                        (void) rename(old, final);
                return r;
        }
        if (replace && vs_rm_rf(old) < 0)
                log_warn("Failed to remove the replaced template %s, ignoring: the next start removes it", old);
        return 0;
}

static void finish(struct tmpl_build *b, int status) {
        vs_error err = { 0 };
        /* first: nothing may still write into the directory removed or
         * installed below */
        char id[CG_WORK_ID_MAX + 1];
        vs_error cerr = { 0 };
        build_cgroup(b->name, id, sizeof(id));
        if (cg_work_remove(b->vsd->cg, id, 1000, &cerr) < 0)
                log_warn("Failed to remove the cgroup of the build of %s: %s, ignoring: the next start removes it",
                         b->name, cerr.msg);
        if (b->part_len) {
                add_line(b, b->part, b->part_len);
                b->part_len = 0;
        }
        if (b->stopping)
                vs_err_msg(&err, ESHUTDOWN, "vsd is shutting down");
        else if (b->cancelled)
                vs_err_msg(&err, ECANCELED, "cancelled");
        else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                (void) install(b, &err);
        else if (WIFEXITED(status))
                vs_err_msg(&err, EIO, "%s", b->last[0] ? b->last : "the builder failed");
        else
                vs_err_msg(&err, EIO, "the builder was killed by signal %d", WTERMSIG(status));
        if (err.code) {
                vs_err_prefix(&err, "Failed to build template '%s'", b->name);
                int r = vs_rm_rf(b->dir);
                if (r < 0)
                        log_warn("Failed to remove %s: %s, ignoring: the next start removes it", b->dir, strerror(-r));
                log_err("%s", err.msg);
        } else
                log_info("Template %s built by %s", b->name, b->builder);
        b->result = err;
        b->done = true;
        op_finish(b->op, err.code ? -err.code : 0, &err);
        b->op = NULL;
        loop_remove(b->out_src);
        loop_remove(b->pidfd_src);
        b->out_src = b->pidfd_src = NULL;
        safe_close(&b->out_fd);
        safe_close(&b->pidfd);
        unlink_build(b);
        if (b->listener)
                wake(b);
        else
                build_free(b);
}

static int on_output(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct tmpl_build *b = userdata;
        size_t before = b->out_len;
        if (drain(b) == 0) {
                /* EOF: the pidfd says when the builder is gone */
                b->out_src = NULL;
                if (b->out_len != before)
                        wake(b);
                return -1;
        }
        if (b->out_len != before)
                wake(b);
        return 0;
}

static int on_exit_cb(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct tmpl_build *b = userdata;
        siginfo_t si = { 0 };
        /* whatever it left behind in its group, while its zombie still
         * holds the group's id (no reuse before the reaping below) */
        (void) kill(-b->pid, SIGKILL);
        if (waitid(P_PIDFD, (id_t) b->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
                return 0;
        /* what it wrote last */
        if (b->out_fd >= 0)
                (void) drain(b);
        /* finish() removes this source before it closes the pidfd, and may
         * free b: nothing of either is touched after it */
        finish(b, si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) : si.si_status);
        return 0;
}

static _Noreturn void child_exec(struct cg_manager *cg, const char *cgroup, const char *script, const char *dest,
                                 char *const env[], int out_fd, pid_t parent) {
        /* before anything else: whatever it starts, to the last process of
         * a debootstrap, is in its cgroup, which the next daemon kills if
         * this one dies (the builder's own session is not enough: a tool
         * may leave it, and nothing reaps a session) */
        int r = cg_work_enter(cg, cgroup);
        if (r < 0) {
                dprintf(out_fd, "cannot enter the build's cgroup: %s\n", strerror(-r));
                _exit(126);
        }
        /* vsd blocks the signals its signalfd reads and ignores SIGPIPE;
         * both survive execve */
        (void) vs_signals_default();
        /* its own session and process group: killed as a whole */
        setsid();
        /* a daemon killed with SIGKILL takes the builder along; what it
         * started dies on its next write to the pipe nobody reads */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* a daemon that died before the prctl sent nothing: we were
         * re-parented already */
        if (getppid() != parent)
                _exit(126);
        int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (nullfd < 0 || dup2(nullfd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0 || chdir("/") < 0)
                _exit(126);
        /* the script runs in a child of ours, so that this process, the
         * build's helper, writes the template's caches (its content id and
         * size) once the script succeeded: the daemon's loop only reads
         * them */
        pid_t script_pid = fork();
        if (script_pid < 0) {
                dprintf(2, "cannot start %s: %s\n", script, strerror(errno));
                _exit(126);
        }
        if (script_pid == 0) {
                /* the helper killed, its script goes too */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                char *const argv[] = { (char *) script, (char *) dest, NULL };
                execve(script, argv, env);
                dprintf(2, "cannot run %s: %s\n", script, strerror(errno));
                _exit(127);
        }
        /* none of the daemon's fds held while the tree is walked */
        (void) sys_close_range(3, ~0U, 0);
        int status;
        while (waitpid(script_pid, &status, 0) < 0)
                if (errno != EINTR)
                        _exit(126);
        if (WIFSIGNALED(status)) {
                (void) signal(WTERMSIG(status), SIG_DFL);
                (void) raise(WTERMSIG(status));
                _exit(126);
        }
        if (WEXITSTATUS(status) != 0)
                _exit(WEXITSTATUS(status));
        vs_error err = { 0 };
        if (tmpl_caches_fill_dir(dest, &err) < 0) {
                dprintf(2, "cannot identify the template: %s\n", err.msg);
                _exit(1);
        }
        _exit(0);
}

static int spawn(struct tmpl_build *b, const char *script, vs_error *err) {
        int p[2];
        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                return vs_err(err, errno, "create a pipe");
        _cleanup_close_ int rd = p[0], wr = p[1];
        /* the builder's end blocks: a script writing progress must not see EAGAIN */
        if (fcntl(wr, F_SETFL, 0) < 0)
                return vs_err(err, errno, "set up the builder's output");
        char e_name[128], e_cache[300], e_builders[300];
        snprintf(e_name, sizeof(e_name), "VSD_TEMPLATE_NAME=%s", b->name);
        snprintf(e_cache, sizeof(e_cache), "VSD_TEMPLATE_CACHE=%s", b->vsd->set.tmpl_cache);
        snprintf(e_builders, sizeof(e_builders), "VSD_TEMPLATE_BUILDERS=%s", b->vsd->set.builders);
        char *const env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=/root", e_name, e_cache,
                              e_builders, NULL };
        int pidfd = -EBADF;
        struct clone_args args = { .flags = CLONE_PIDFD, .pidfd = (uint64_t) (uintptr_t) &pidfd, .exit_signal = SIGCHLD };
        char id[CG_WORK_ID_MAX + 1];
        build_cgroup(b->name, id, sizeof(id));
        int r = cg_work_create(b->vsd->cg, id, err);
        if (r < 0)
                return vs_err_prefix(err, "create the build's cgroup");
        pid_t self = getpid();
        pid_t pid = sys_clone3(&args);
        if (pid < 0) {
                (void) cg_work_remove(b->vsd->cg, id, 1000, NULL);
                return vs_err(err, -pid, "start the builder");
        }
        if (pid == 0)
                child_exec(b->vsd->cg, id, script, b->dir, env, wr, self);
        b->pid = pid;
        b->pidfd = pidfd;
        b->out_fd = TAKE_FD(rd);
        r = loop_add_fd(b->vsd->loop, b->out_fd, EPOLLIN, on_output, b, &b->out_src);
        if (r >= 0)
                r = loop_add_fd(b->vsd->loop, b->pidfd, EPOLLIN, on_exit_cb, b, &b->pidfd_src);
        if (r < 0) {
                (void) kill(-pid, SIGKILL);
                (void) waitid(P_PIDFD, (id_t) pidfd, &(siginfo_t){ 0 }, WEXITED);
                (void) cg_work_remove(b->vsd->cg, id, 1000, NULL);
                loop_remove(b->out_src);
                safe_close(&b->out_fd);
                safe_close(&b->pidfd);
                return vs_err(err, -r, "watch the builder");
        }
        return 0;
}

static int build_cancel(void *userdata, vs_error *err) {
        struct tmpl_build *b = userdata;
        /* its process group, as at its exit; what left the group dies
         * with the build's cgroup in finish() */
        if (kill(-b->pid, SIGKILL) < 0) /* ESRCH: it has ended, and says how */
                return errno == ESRCH ? 0 : vs_err(err, errno, "cancel the build of '%s'", b->name);
        b->cancelled = true;
        return 0;
}

int tmpl_build_start(struct vsd *v, const char *name, const char *builder, struct tmpl_build **ret, vs_error *err) {
        char script[600], builder_name[VS_NAME_MAX + 1], tdir[512];
        if (vs_name_check("template", name, err) < 0)
                return -EINVAL;
        if (find_build(v, name))
                return vs_err_msg(err, EBUSY, "template '%s' is already being built", name);
        int r = check_unused(v, name, err);
        if (r < 0)
                return r;
        r = resolve_builder(v, name, builder, builder_name, sizeof(builder_name), script, sizeof(script), err);
        if (r < 0)
                return r;
        templates_dir(v, tdir, sizeof(tdir));
        r = vs_mkdir_p(tdir, 0755);
        if (r < 0)
                return vs_err(err, -r, "create %s", tdir);

        struct tmpl_build *b = calloc(1, sizeof(*b));
        if (!b)
                return vs_err(err, ENOMEM, "build template '%s'", name);
        *b = (struct tmpl_build){ .vsd = v, .pidfd = -EBADF, .out_fd = -EBADF };
        snprintf(b->name, sizeof(b->name), "%s", name);
        snprintf(b->builder, sizeof(b->builder), "%s", builder_name);
        snprintf(b->dir, sizeof(b->dir), "%s/.%s.build", tdir, name);
        /* a leftover of a daemon killed mid-build: the builder wants DEST empty */
        (void) vs_rm_rf(b->dir);
        r = spawn(b, script, err);
        if (r < 0) {
                build_free(b);
                return vs_err_prefix(err, "Failed to build template '%s'", name);
        }
        log_info("Building template %s with %s (pid %d)", name, script, (int) b->pid);
        /* the builder runs: that its operation could not be made (out of
         * memory) changes nothing but what GET /v1/operations shows */
        vs_error oerr = { 0 };
        if (op_begin(v, "template-build", name, NULL, &b->op, &oerr) < 0)
                log_warn("Template %s: %s, ignoring", name, oerr.msg);
        else
                op_set_cancel(b->op, build_cancel, b);
        b->next = v->builds;
        v->builds = b;
        *ret = b;
        return 0;
}

size_t tmpl_build_output(struct tmpl_build *b, size_t off, const char **ret_data) {
        *ret_data = b->out ? b->out + off : "";
        return off < b->out_len ? b->out_len - off : 0;
}

bool tmpl_build_done(struct tmpl_build *b, const vs_error **ret_err) {
        if (b->done)
                *ret_err = &b->result;
        return b->done;
}

const char *tmpl_build_name(struct tmpl_build *b) {
        return b->name;
}

struct op *tmpl_build_op(struct tmpl_build *b) {
        return b->op;
}

void tmpl_build_attach(struct tmpl_build *b, struct tmpl_listener *l) {
        b->listener = l;
}

void tmpl_build_detach(struct tmpl_build *b) {
        b->listener = NULL;
        if (b->done)
                build_free(b);
}

/* ---- receiving ---------------------------------------------------------- */

int tmpl_install_received(struct vsd *v, const char *name, const char *dir, vs_error *err) {
        char final[512];
        struct template_info t;
        if (find_build(v, name))
                return vs_err_msg(err, EBUSY, "template '%s' is being built here", name);
        if (template_load_dir(dir, name, &t, err) < 0)
                return vs_err_prefix(err, "its template.ini");
        snprintf(final, sizeof(final), "%s/templates/%s", v->set.root, name);
        /* never over a template of that name, whichever build it is: its
         * instances read it as their lower layer */
        if (renameat2(AT_FDCWD, dir, AT_FDCWD, final, RENAME_NOREPLACE) < 0)
                return errno == EEXIST ? vs_err_msg(err, EEXIST, "template '%s' exists here already", name)
                                       : vs_err(err, errno, "rename %s to %s", dir, final);
        return 0;
}

int tmpl_remove(struct vsd *v, const char *name, vs_error *err) {
        struct template_info t;
        char final[512], del[600];
        if (template_load(v->set.root, name, &t, err) < 0) {
                /* a directory without a valid template.ini is still one to remove */
                snprintf(final, sizeof(final), "%s/templates/%s", v->set.root, name);
                if (err->code != EINVAL || access(final, F_OK) < 0)
                        return -err->code;
                vs_err_clear(err);
        }
        if (find_build(v, name))
                return vs_err_msg(err, EBUSY, "template '%s' is being built", name);
        if (check_unused(v, name, err) < 0)
                return -EBUSY;
        snprintf(final, sizeof(final), "%s/templates/%s", v->set.root, name);
        snprintf(del, sizeof(del), "%s/templates/.%s.del", v->set.root, name);
        /* renamed first: gone at once for every reader; a crash while the
         * files are removed leaves only the hidden name, removed at start */
        if (rename(final, del) < 0)
                return vs_err(err, errno, "remove template '%s': rename %s", name, final);
        int r = vs_rm_rf(del);
        if (r < 0)
                log_warn("Failed to remove %s: %s, ignoring: the next start removes it", del, strerror(-r));
        log_info("Template %s removed", name);
        return 0;
}

/* ---- shutdown ---------------------------------------------------------- */

void tmpl_shutdown(struct vsd *v) {
        while (v->builds) {
                struct tmpl_build *b = v->builds;
                (void) kill(-b->pid, SIGKILL);
                siginfo_t si = { 0 };
                (void) waitid(P_PIDFD, (id_t) b->pidfd, &si, WEXITED);
                b->stopping = true;
                finish(b, SIGKILL);
        }
}

/* ---- content identity and size -------------------------------------------- */


uint64_t tmpl_test_hash_bps;

/* The background fill (tmpl_caches_start) hashes no faster than the test
 * hook VSD_TEST_HASH_BPS asks, so that a test can ask the daemon things
 * while it runs; every other hash goes as fast as it can. */
struct hash_pace {
        bool on;
        uint64_t start_ns, done;
};

static void pace(struct hash_pace *p, size_t n) {
        if (!p->on)
                return;
        p->done += n;
        vs_pace(tmpl_test_hash_bps, &p->start_ns, p->done);
}

static int by_name(const FTSENT **a, const FTSENT **b) {
        return strcmp((*a)->fts_name, (*b)->fts_name);
}

static int hash_file(SHA2_CTX *ctx, const char *path, struct hash_pace *p, vs_error *err) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return vs_err(err, errno, "read %s", path);
        uint8_t buf[1 << 16];
        SHA2_CTX file;
        SHA256Init(&file);
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0)
                        return vs_err(err, errno, "read %s", path);
                if (n == 0)
                        break;
                SHA256Update(&file, buf, (size_t) n);
                pace(p, (size_t) n);
        }
        uint8_t d[SHA256_DIGEST_LENGTH];
        SHA256Final(d, &file);
        SHA256Update(ctx, d, sizeof(d));
        return 0;
}

static int hash_tree(const char *rootfs, struct hash_pace *pace, char ret[TMPL_ID_LEN], vs_error *err) {
        char *paths[] = { (char *) rootfs, NULL };
        FTS *fts = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR | FTS_XDEV, by_name);
        if (!fts)
                return vs_err(err, errno, "walk %s", rootfs);
        SHA2_CTX ctx;
        SHA256Init(&ctx);
        size_t plen = strlen(rootfs);
        int r = 0;
        FTSENT *e;
        while (r >= 0 && (e = fts_read(fts))) {
                if (e->fts_info == FTS_DP)
                        continue;
                if (e->fts_info == FTS_ERR || e->fts_info == FTS_DNR || e->fts_info == FTS_NS) {
                        r = vs_err(err, e->fts_errno, "walk %s", e->fts_path);
                        break;
                }
                const struct stat *st = e->fts_statp;
                char line[512];
                const char *rel = e->fts_path + (strlen(e->fts_path) >= plen ? plen : 0);
                int n = snprintf(line, sizeof(line), "%s%c%o %u %u %lld %u:%u%c", *rel ? rel : "/", 0,
                                 (unsigned) st->st_mode, (unsigned) st->st_uid, (unsigned) st->st_gid,
                                 S_ISREG(st->st_mode) ? (long long) st->st_size : 0LL,
                                 S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? major(st->st_rdev) : 0,
                                 S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? minor(st->st_rdev) : 0, 0);
                SHA256Update(&ctx, (const uint8_t *) line, (size_t) n);
                if (S_ISLNK(st->st_mode)) {
                        char target[4096];
                        ssize_t k = readlink(e->fts_path, target, sizeof(target));
                        if (k < 0) {
                                r = vs_err(err, errno, "readlink %s", e->fts_path);
                                break;
                        }
                        SHA256Update(&ctx, (const uint8_t *) target, (size_t) k);
                } else if (S_ISREG(st->st_mode))
                        r = hash_file(&ctx, e->fts_path, pace, err);
        }
        fts_close(fts);
        if (r < 0)
                return r;
        uint8_t d[SHA256_DIGEST_LENGTH];
        SHA256Final(d, &ctx);
        int n = snprintf(ret, TMPL_ID_LEN, "sha256:");
        for (size_t k = 0; k < sizeof(d); k++)
                n += snprintf(ret + n, (size_t) (TMPL_ID_LEN - n), "%02x", d[k]);
        return 0;
}

int tmpl_content_id(const char *root, const char *name, char ret[TMPL_ID_LEN], vs_error *err) {
        char dir[600];
        if (!vs_name_valid(name))
                return vs_name_check("template", name, err);
        snprintf(dir, sizeof(dir), "%s/templates/%s", root, name);
        int r = tmpl_content_id_dir(dir, ret, err);
        if (r == -ENOENT)
                return vs_err_msg(err, ENOENT, "template '%s' is not on this host", name);
        return r < 0 ? vs_err_prefix(err, "identify template '%s'", name) : 0;
}


static bool spare_path(const char *dir, int dfd, const char *file, char *buf, size_t len) {
        const char *slash = strrchr(dir, '/');
        size_t n = slash ? (size_t) (slash - dir) : 0;
        if (n < 10 || memcmp(dir + n - 10, "/templates", 10) != 0)
                return false;
        struct statx sx;
        if (statx(dfd, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME, &sx) < 0)
                return false;
        /* no birth time: the change time, which a directory that cannot
         * be written keeps too */
        struct statx_timestamp t = sx.stx_mask & STATX_BTIME ? sx.stx_btime : sx.stx_ctime;
        int k = snprintf(buf, len, "%.*s/" SPARE_DIR "/%u.%u-%llu-%lld.%u%s", (int) (n - 10), dir, sx.stx_dev_major,
                         sx.stx_dev_minor, (unsigned long long) sx.stx_ino, (long long) t.tv_sec, t.tv_nsec, file);
        return k > 0 && (size_t) k < len;
}

/* A cache file of the template directory dir (open as dfd), or its spare:
 * its first len bytes. */
static bool read_cache(const char *dir, int dfd, const char *file, char *buf, size_t len) {
        char spare[900];
        _cleanup_close_ int fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && spare_path(dir, dfd, file, spare, sizeof(spare)))
                fd = open(spare, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return false;
        ssize_t n = read(fd, buf, len - 1);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        return true;
}

static bool cached_id(const char *dir, int dfd, char ret[TMPL_ID_LEN]) {
        char buf[TMPL_ID_LEN + 1];
        if (!read_cache(dir, dfd, CONTENT_ID_FILE, buf, sizeof(buf)) || strlen(buf) != TMPL_ID_LEN - 1 ||
            strncmp(buf, "sha256:", 7) != 0)
                return false;
        memcpy(ret, buf, TMPL_ID_LEN);
        return true;
}

static bool cached_size(const char *dir, int dfd, uint64_t *ret) {
        char buf[32];
        if (!read_cache(dir, dfd, SIZE_FILE, buf, sizeof(buf)) || buf[0] < '0' || buf[0] > '9')
                return false;
        char *end;
        errno = 0;
        unsigned long long n = strtoull(buf, &end, 10);
        if (errno || *end)
                return false;
        *ret = n;
        return true;
}

/* Written whole or not at all, through the directory fd the value was taken
 * from (a rebuild that replaced the directory meanwhile does not get it);
 * a directory that cannot take it gets it in its spare place; a failure
 * there only costs the time to compute it again. */
static void write_cache(const char *dir, int dfd, const char *file, const char *data) {
        char tmp[64], spare[900];
        size_t len = strlen(data);
        snprintf(tmp, sizeof(tmp), "%s.%d", file, (int) getpid());
        int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        bool ok = fd >= 0 && write(fd, data, len) == (ssize_t) len && fsync(fd) == 0;
        if (fd >= 0)
                close(fd);
        if (ok && renameat(dfd, tmp, dfd, file) == 0)
                return;
        if (fd >= 0)
                (void) unlinkat(dfd, tmp, 0);
        if (!spare_path(dir, dfd, file, spare, sizeof(spare)))
                return;
        char *slash = strrchr(spare, '/');
        *slash = '\0';
        int r = vs_mkdir_p(spare, 0755);
        *slash = '/';
        if (r >= 0)
                (void) vs_write_replace(spare, data, len, 0644);
}

static int id_at(const char *dir, int dfd, struct hash_pace *pace, char ret[TMPL_ID_LEN], vs_error *err) {
        if (cached_id(dir, dfd, ret))
                return 0;
        char rootfs[64], id[TMPL_ID_LEN];
        snprintf(rootfs, sizeof(rootfs), "/proc/self/fd/%d/rootfs", dfd);
        int r = hash_tree(rootfs, pace, id, err);
        if (r < 0)
                return r;
        write_cache(dir, dfd, CONTENT_ID_FILE, id);
        memcpy(ret, id, TMPL_ID_LEN);
        return 0;
}

static void size_at(const char *dir, int dfd) {
        char rootfs[64], buf[32];
        uint64_t size;
        if (cached_size(dir, dfd, &size))
                return;
        snprintf(rootfs, sizeof(rootfs), "/proc/self/fd/%d/rootfs", dfd);
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long) disk_usage(rootfs));
        write_cache(dir, dfd, SIZE_FILE, buf);
}

static int open_dir(const char *dir, vs_error *err) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? -ENOENT : vs_err(err, errno, "open %s", dir);
        return dfd;
}

int tmpl_content_id_dir(const char *dir, char ret[TMPL_ID_LEN], vs_error *err) {
        /* the directory as it is now: a rebuild that replaces it meanwhile
         * does not get this one's identity */
        _cleanup_close_ int dfd = open_dir(dir, err);
        if (dfd < 0)
                return dfd;
        return id_at(dir, dfd, &(struct hash_pace){ 0 }, ret, err);
}

int tmpl_caches_fill_dir(const char *dir, vs_error *err) {
        char id[TMPL_ID_LEN];
        _cleanup_close_ int dfd = open_dir(dir, err);
        if (dfd < 0)
                return dfd;
        size_at(dir, dfd);
        return id_at(dir, dfd, &(struct hash_pace){ 0 }, id, err);
}

/* ---- the caches of templates made before them ------------------------------ */

/* In the helper: every template of the store without its caches gets them,
 * one after the other; the last failure is the helper's. */
static int fill_run(void *arg, vs_error *err) {
        const char *root = arg;
        char path[512], dir[800], id[TMPL_ID_LEN];
        snprintf(path, sizeof(path), "%s/templates", root);
        DIR *d = opendir(path);
        if (!d)
                return errno == ENOENT ? 0 : vs_err(err, errno, "open %s", path);
        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                snprintf(dir, sizeof(dir), "%s/%s", path, de->d_name);
                _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd < 0 || faccessat(dfd, "template.ini", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                vs_error ierr = { 0 };
                if (id_at(dir, dfd, &(struct hash_pace){ .on = true }, id, &ierr) < 0) {
                        *err = ierr;
                        r = vs_err_prefix(err, "identify template '%s'", de->d_name);
                }
                size_at(dir, dfd);
        }
        closedir(d);
        return r;
}

static void fill_done(void *userdata, int result, const vs_error *err) {
        struct vsd *v = userdata;
        v->tmpl_fill_running = false;
        if (result == -ESHUTDOWN)
                return;
        if (result < 0)
                log_warn("Failed to fill the caches of the templates: %s, ignoring: the next request for one tries again",
                         err->msg);
        if (v->tmpl_fill_again) {
                v->tmpl_fill_again = false;
                tmpl_caches_start(v);
        }
}

void tmpl_caches_start(struct vsd *v) {
        if (v->tmpl_fill_running) {
                /* it may have passed that template already */
                v->tmpl_fill_again = true;
                return;
        }
        vs_error err = { 0 };
        if (work_start(v, "tmpl-cache", fill_run, v->set.root, -1, fill_done, v, &err) < 0) {
                log_warn("Failed to fill the caches of the templates: %s, ignoring: the next request tries again", err.msg);
                return;
        }
        v->tmpl_fill_running = true;
}

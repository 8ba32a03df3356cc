/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A live move's pages by CRIU's page server (pages.h): the tee on the
 * source, the receiving helper on the target, and the import's claim.
 */
#include "vsd/inst/pages.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "base/util.h"
#include "vsd/conf/settings.h"
#include "vsd/core/kernel.h"
#include "vsd/core/ops.h"
#include "vsd/core/syscalls.h"
#include "vsd/core/work.h"
#include "vsd/inst/instance.h"

/* the staging directory's marker: the page server ended well */
#define PAGES_COMPLETE "complete"
/* what the tee holds of one page server's answers ahead of the other's */
#define TEE_AHEAD (64 << 10)
/* how long a claim waits for the page server's end (its answer came
 * before its exit) */
#define CLAIM_WAIT_MS 30000
/* in the dump's directory while the local page server may still write:
 * CRIU hears its last answer before it has closed its images (its pagemap
 * is buffered), and runs the post-dump action then */
#define LOCAL_PENDING ".page-server-pending"
#define LOCAL_WAIT_MS 30000
/* post-copy, in the staging directory: the restore's request (its images'
 * directory), the lazy-pages daemon listening, or failed */
#define LAZY_REQUEST "lazy-request"
#define LAZY_READY "lazy-ready"
#define LAZY_FAILED "lazy-failed"
/* how long a restore waits for the lazy-pages daemon to listen */
#define LAZY_WAIT_MS 30000
#define PIPE_MAX_SYSCTL "/proc/sys/fs/pipe-max-size"

static uint64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

bool pages_image_name(const char *leaf) {
        size_t n = strlen(leaf);
        if (n < 5 || !streq(leaf + n - 4, ".img"))
                return false;
        return strncmp(leaf, "pagemap-", 8) == 0 || strncmp(leaf, "pages-", 6) == 0;
}

uint64_t pages_bytes_in(const char *dir) {
        DIR *d = opendir(dir);
        uint64_t sum = 0;
        struct dirent *de;
        while (d && (de = readdir(d))) {
                struct stat st;
                if (strncmp(de->d_name, "pages-", 6) == 0 && pages_image_name(de->d_name) &&
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
                        sum += (uint64_t) st.st_size;
        }
        if (d)
                closedir(d);
        return sum;
}

static void staging_path(const char *root, const char *name, char *buf, size_t len) {
        snprintf(buf, len, "%s/instances/.%s.pages", root, name);
}

/* fork() for a CRIU of the helper's: in the child, dying with the helper,
 * its standard streams on /dev/null and the n fds of keep passed on. */
static pid_t criu_fork(const int *keep, size_t n) {
        pid_t pid = fork();
        if (pid != 0)
                return pid;
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
                _exit(127);
        for (size_t k = 0; k < n; k++) {
                int fl = fcntl(keep[k], F_GETFD);
                if (fl < 0 || fcntl(keep[k], F_SETFD, fl & ~FD_CLOEXEC) < 0)
                        _exit(127);
        }
        return 0;
}

/* `criu page-server --ps-socket fd -D dir [--prev-images-dir prev]`, fd
 * kept for it; it dies with the helper. */
static pid_t page_server_spawn(const char *criu, int fd, const char *dir, const char *prev) {
        pid_t pid = criu_fork(&fd, 1);
        if (pid != 0)
                return pid;
        char fdstr[16];
        snprintf(fdstr, sizeof(fdstr), "%d", fd);
        char *argv[] = { (char *) criu, "page-server", "--ps-socket", fdstr, "-D", (char *) dir,
                         "-o", "page-server.log", "-v2", prev ? "--prev-images-dir" : NULL, (char *) prev, NULL };
        char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", NULL };
        execve(criu, argv, envp);
        _exit(127);
}

static int wait_status(pid_t pid) {
        int status = 0;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -1;
        return status;
}

static void status_text(int status, char *buf, size_t len) {
        if (WIFEXITED(status))
                snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
        else
                snprintf(buf, len, "was killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* ---- the tee (source) --------------------------------------------------------- */

struct ahead {
        char buf[TEE_AHEAD];
        size_t n;
        bool ended;
};

/* The answers both page servers gave, passed on to the dump: -1 when they
 * differ (or one ran too far ahead). */
static int tee_match(struct ahead *a, struct ahead *b, int dump) {
        size_t n = a->n < b->n ? a->n : b->n;
        if (n == 0)
                return 0;
        if (memcmp(a->buf, b->buf, n) != 0 || vs_write_all(dump, a->buf, n) < 0)
                return -1;
        memmove(a->buf, a->buf + n, a->n - n);
        memmove(b->buf, b->buf + n, b->n - n);
        a->n -= n;
        b->n -= n;
        return 0;
}

/* In the tee's process: the dump's bytes to both, the answers matched
 * back.  Returns once the dump has closed its end: 0, or TEE_LINK_LOST
 * when the target's side ended first, TEE_FAULT for answers that differ
 * (either way the dump then hears its end and fails, unless it had all
 * its answers already). */
#define TEE_FAULT 1
#define TEE_LINK_LOST 2
static int tee_loop(int dump, int local, int remote, const char *pending) {
        static struct ahead from_local, from_remote;
        char buf[65536];
        int fault = 0;
        bool dump_ended = false;
        for (;;) {
                /* the dump gone: the local one is told so (its socket's
                 * end) and heard to its end, for the commit waits for it */
                if (dump_ended && (from_local.ended || fault))
                        return fault;
                struct pollfd p[3] = { { dump_ended ? -1 : dump, POLLIN, 0 },
                                       { from_local.ended ? -1 : local, POLLIN, 0 },
                                       { from_remote.ended ? -1 : remote, POLLIN, 0 } };
                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return TEE_FAULT;
                }
                if (p[0].revents) {
                        ssize_t k = read(dump, buf, sizeof(buf));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0) {
                                dump_ended = true;
                                (void) shutdown(local, SHUT_WR);
                                continue;
                        }
                        if (!fault && vs_write_all(local, buf, (size_t) k) < 0)
                                fault = TEE_FAULT;
                        if (!fault && vs_write_all(remote, buf, (size_t) k) < 0)
                                fault = TEE_LINK_LOST;
                }
                for (int s = 1; s <= 2; s++) {
                        struct ahead *a = s == 1 ? &from_local : &from_remote;
                        if (!p[s].revents)
                                continue;
                        ssize_t k = a->n < sizeof(a->buf) ? read(p[s].fd, a->buf + a->n, sizeof(a->buf) - a->n) : -1;
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0)
                                a->ended = true; /* told to end, or gone */
                        else
                                a->n += (size_t) k;
                }
                if (!fault && tee_match(&from_local, &from_remote, dump) < 0)
                        fault = TEE_FAULT;
                /* one ended with the other's answers unmatched: none
                 * will come */
                if (!fault && ((from_local.ended && from_remote.n > 0) || (from_remote.ended && from_local.n > 0)))
                        fault = from_remote.ended ? TEE_LINK_LOST : TEE_FAULT;
                if (!fault && !dump_ended && from_remote.ended && !from_local.ended)
                        fault = TEE_LINK_LOST;
                /* the local one closes its images before its socket, and
                 * all it answered was heard: the commit may go on */
                if (!fault && from_local.ended && from_local.n == 0 && pending) {
                        (void) unlink(pending);
                        pending = NULL;
                }
                /* a dump waiting for an answer that cannot come any more
                 * hears the end instead */
                if (fault || (from_local.ended && from_local.n == 0) || (from_remote.ended && from_remote.n == 0))
                        (void) shutdown(dump, SHUT_WR);
        }
}

int pages_tee_start_parent(const char *criu, int remote, const char *dir, const char *prev, struct pages_tee *t,
                           int *ret_dump, vs_error *err) {
        int d[2], l[2];
        t->tee = t->local = -1;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, d) < 0)
                return vs_err(err, errno, "make the page server's socket");
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, l) < 0) {
                int e = errno;
                close(d[0]);
                close(d[1]);
                return vs_err(err, e, "make the page server's socket");
        }
        char pending[600];
        snprintf(pending, sizeof(pending), "%s/" LOCAL_PENDING, dir);
        int r = vs_write_atomic(pending, "", 0, 0600);
        if (r < 0) {
                close(d[0]);
                close(d[1]);
                close(l[0]);
                close(l[1]);
                return vs_err(err, -r, "write %s", pending);
        }
        t->local = page_server_spawn(criu, l[0], dir, prev);
        if (t->local < 0) {
                int e = errno;
                close(d[0]);
                close(d[1]);
                close(l[0]);
                close(l[1]);
                return vs_err(err, e, "start the local page server");
        }
        close(l[0]);
        t->tee = fork();
        if (t->tee == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                (void) signal(SIGPIPE, SIG_IGN);
                /* its three sockets alone: a copy of any other (the
                 * link's far end, the helper's) would keep an end from
                 * being heard */
                int hi[3] = { fcntl(d[1], F_DUPFD_CLOEXEC, 10), fcntl(l[1], F_DUPFD_CLOEXEC, 10),
                              fcntl(remote, F_DUPFD_CLOEXEC, 10) };
                for (int k = 0; k < 3; k++)
                        if (hi[k] < 0 || dup3(hi[k], 3 + k, O_CLOEXEC) < 0)
                                _exit(TEE_FAULT);
                (void) sys_close_range(6, ~0U, 0);
                _exit(tee_loop(3, 4, 5, pending));
        }
        int e = errno;
        close(d[1]);
        close(l[1]);
        if (t->tee < 0) {
                close(d[0]);
                (void) kill(t->local, SIGKILL);
                (void) wait_status(t->local);
                t->local = -1;
                return vs_err(err, e, "start the page server's tee");
        }
        *ret_dump = d[0];
        return 0;
}

int pages_tee_end(struct pages_tee *t, vs_error *err) {
        int r = 0;
        char how[64];
        if (t->tee > 0) {
                int st = wait_status(t->tee);
                if (WIFEXITED(st) && WEXITSTATUS(st) == TEE_LINK_LOST)
                        r = vs_err_msg(err, EPIPE, "the link to the target's page server was lost");
                else if (WIFEXITED(st) && WEXITSTATUS(st) == TEE_FAULT)
                        r = vs_err_msg(err, EPROTO, "the target's page server and the local one answered differently");
                else if (st != 0) {
                        status_text(st, how, sizeof(how));
                        r = vs_err_msg(err, EIO, "the page server's tee %s", how);
                }
                t->tee = -1;
        }
        if (t->local > 0) {
                /* told to end by the dump, or by the tee's end */
                int st = wait_status(t->local);
                if (st != 0 && r >= 0) {
                        status_text(st, how, sizeof(how));
                        r = vs_err_msg(err, EIO, "the local page server %s", how);
                }
                t->local = -1;
        }
        return r;
}

int pages_wait_local(const char *dir) {
        char pending[700];
        snprintf(pending, sizeof(pending), "%s/" LOCAL_PENDING, dir);
        for (uint64_t end = mono_ms() + LOCAL_WAIT_MS; access(pending, F_OK) == 0;) {
                if (mono_ms() > end)
                        return -ETIMEDOUT;
                struct timespec ts = { 0, 2 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        return 0;
}

/* ---- memory pre-copy's passes -------------------------------------------------- */

int pages_pass_announce(int link, bool final, unsigned n, vs_error *err) {
        char h[PAGES_PASS_LEN + 1];
        if (n > PAGES_PASS_MAX)
                return vs_err_msg(err, E2BIG, "more than %d pre-copy passes", PAGES_PASS_MAX);
        snprintf(h, sizeof(h), "vsd-pass %s %02u\n", final ? "fin" : "pre", n);
        if (vs_write_all(link, h, PAGES_PASS_LEN) < 0)
                return vs_err_msg(err, EPIPE, "the link to the target's page server was lost");
        return 0;
}

int pages_pass_parse(const char *h, size_t len, bool *ret_final, unsigned *ret_n) {
        if (len != PAGES_PASS_LEN || memcmp(h, "vsd-pass ", 9) != 0 || h[12] != ' ' || h[15] != '\n' ||
            !isdigit((unsigned char) h[13]) || !isdigit((unsigned char) h[14]))
                return -EPROTO;
        bool final = memcmp(h + 9, "fin", 3) == 0;
        if (!final && memcmp(h + 9, "pre", 3) != 0)
                return -EPROTO;
        unsigned n = (unsigned) (h[13] - '0') * 10 + (unsigned) (h[14] - '0');
        if (n > PAGES_PASS_MAX || (!final && n == 0))
                return -EPROTO;
        *ret_final = final;
        *ret_n = n;
        return 0;
}

/* ---- receiving (target) ------------------------------------------------------- */

struct recv {
        struct vsd *v;
        bool lazy;
        char name[VS_NAME_MAX + 1];
        char root[256];
        char run_dir[256];
        char criu[256];
        bool precopy;                  /* pre-dump passes first (pages.h) */
        struct op *op;
        char work_id[CG_WORK_ID_MAX + 1];
};

/* Whatever the import has not taken goes: one rename first, so that an
 * import claims all of it or nothing. */
static void staging_drop(const char *staging) {
        char del[700];
        snprintf(del, sizeof(del), "%s.del", staging);
        if (rename(staging, del) == 0)
                (void) vs_rm_rf(del);
}

/* One page server's session on sk, into dir (prev: its parent, relative
 * to dir); a failure's log kept in the run directory, for whoever looks:
 * the state root keeps nothing of the instance. */
static int receive_one(struct recv *rc, int sk, const char *dir, const char *prev, vs_error *err) {
        char path[800], kept[700], how[64];
        pid_t pid = page_server_spawn(rc->criu, sk, dir, prev);
        if (pid < 0)
                return vs_err(err, errno, "start criu page-server");
        int st = wait_status(pid);
        if (st == 0)
                return 0;
        status_text(st, how, sizeof(how));
        snprintf(path, sizeof(path), "%s/page-server.log", dir);
        snprintf(kept, sizeof(kept), "%s/%s.page-server-failed.log", rc->run_dir, rc->name);
        (void) rename(path, kept);
        return vs_err_msg(err, EIO, "criu page-server %s (see %s)", how, kept);
}

/* The next pass's header, read a byte at a time from where the last page
 * server stopped: -EPIPE at the link's end (the source gave up, or died). */
static int read_pass(int sk, bool *ret_final, unsigned *ret_n) {
        char h[PAGES_PASS_LEN];
        size_t got = 0;
        while (got < sizeof(h)) {
                ssize_t k = read(sk, h + got, sizeof(h) - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return -EPIPE;
                got += (size_t) k;
        }
        return pages_pass_parse(h, got, ret_final, ret_n);
}

/* Memory pre-copy: the passes into pre-1/, pre-2/ ..., each the parent of
 * the next, then the final dump's into staging (its parent the last). */
static int receive_passes(struct recv *rc, int sk, const char *staging, vs_error *err) {
        unsigned done = 0;
        for (;;) {
                bool final;
                unsigned n;
                int r = read_pass(sk, &final, &n);
                if (r == -EPIPE)
                        return vs_err_msg(err, EPIPE, "the page link ended after %u pre-copy pass(es), before the dump",
                                          done);
                if (r < 0 || n != (final ? done : done + 1))
                        return vs_err_msg(err, EPROTO, "the page link's pass header is not the one due (pass %u)",
                                          done + 1);
                char dir[700], prev[32];
                if (done > 0)
                        snprintf(prev, sizeof(prev), final ? "pre-%u" : "../pre-%u", done);
                if (final)
                        snprintf(dir, sizeof(dir), "%s", staging);
                else {
                        snprintf(dir, sizeof(dir), "%s/pre-%u", staging, n);
                        /* searchable: the restore reads it as the instance's root */
                        if (mkdir(dir, 0711) < 0)
                                return vs_err(err, errno, "create %s", dir);
                }
                r = receive_one(rc, sk, dir, done > 0 ? prev : NULL, err);
                if (r < 0 || final)
                        return r;
                done = n;
        }
}

/* In the helper: the page server into the staging directory, then the
 * page session's end awaited (the source closes it once the move ended),
 * then what was not claimed removed. */
static int receive_run(void *arg, vs_error *err) {
        struct recv *rc = arg;
        const int sk = 4;
        char staging[600], path[700];
        staging_path(rc->root, rc->name, staging, sizeof(staging));
        (void) vs_rm_rf(staging);
        if (mkdir(staging, 0700) < 0)
                return vs_err(err, errno, "create %s", staging);
        int r = rc->precopy ? receive_passes(rc, sk, staging, err) : receive_one(rc, sk, staging, NULL, err);
        if (r < 0) {
                staging_drop(staging);
                return r;
        }
        snprintf(path, sizeof(path), "%s/" PAGES_COMPLETE, staging);
        r = vs_write_atomic(path, "", 0, 0600);
        if (r < 0) {
                staging_drop(staging);
                return vs_err(err, -r, "write %s", path);
        }
        /* the session's end: the move is over, one way or the other */
        char buf[4096];
        ssize_t k;
        while ((k = read(sk, buf, sizeof(buf))) > 0 || (k < 0 && errno == EINTR))
                ;
        staging_drop(staging);
        return 0;
}

/* `criu lazy-pages --page-server --ps-socket fd -D images`, fd and
 * status (its --status-fd) kept for it; it dies with the helper. */
static pid_t lazy_pages_spawn(const char *criu, int fd, int status, const char *images) {
        int keep[2] = { fd, status };
        pid_t pid = criu_fork(keep, 2);
        if (pid != 0)
                return pid;
        char fdstr[16], ststr[16];
        snprintf(fdstr, sizeof(fdstr), "%d", fd);
        snprintf(ststr, sizeof(ststr), "%d", status);
        char *argv[] = { (char *) criu, "lazy-pages", "--page-server", "--ps-socket", fdstr, "--status-fd", ststr,
                         "-D", (char *) images, "-o", "lazy-pages.log", "-v2", NULL };
        char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", NULL };
        execve(criu, argv, envp);
        _exit(127);
}

static void lazy_failed_log(const char *run_dir, const char *name, char *buf, size_t len) {
        snprintf(buf, len, "%s/%s.lazy-pages-failed.log", run_dir, name);
}

bool pages_lazy_failed(const char *run_dir, const char *name) {
        char path[700];
        lazy_failed_log(run_dir, name, path, sizeof(path));
        return access(path, F_OK) == 0;
}

/* criu lazy-pages' end.  It waits for the restore's tasks as long as it
 * takes: a restore undone (its images renamed back, or gone with the
 * instance) never comes, and the source's end of the session means that
 * nothing more can come (given LAZY_LINGER_MS to end on its own): it is
 * killed then. */
#define LAZY_LINGER_MS 10000
static int lazy_pages_wait(pid_t pid, int sk, const char *images) {
        uint64_t hup = 0;
        for (;;) {
                int status = 0;
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid)
                        return status;
                if (w < 0 && errno != EINTR)
                        return -1;
                struct pollfd p = { sk, POLLRDHUP, 0 };
                if (!hup && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
                        hup = mono_ms();
                if (access(images, F_OK) < 0 || (hup && mono_ms() - hup > LAZY_LINGER_MS))
                        (void) kill(pid, SIGKILL);
                struct timespec ts = { 0, 20 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
}

static void staging_mark(const char *staging, const char *leaf) {
        char path[700];
        snprintf(path, sizeof(path), "%s/%s", staging, leaf);
        (void) vs_write_atomic(path, "", 0, 0600);
}

/* Post-copy, in the helper: wait for the restore's request (the source
 * ending the session first fails it), run the lazy-pages daemon in the
 * restore's images, say when it listens, and end with it.  Its failure
 * (the link lost while pages were owed) is the operation's. */
static int receive_run_lazy(void *arg, vs_error *err) {
        struct recv *rc = arg;
        const int sk = 4;
        char staging[600], path[700], images[700], prefix[600], how[64];
        staging_path(rc->root, rc->name, staging, sizeof(staging));
        snprintf(prefix, sizeof(prefix), "%s/instances/%s/", rc->root, rc->name);
        lazy_failed_log(rc->run_dir, rc->name, path, sizeof(path));
        (void) unlink(path); /* an earlier move's */
        (void) vs_rm_rf(staging);
        if (mkdir(staging, 0700) < 0)
                return vs_err(err, errno, "create %s", staging);
        snprintf(path, sizeof(path), "%s/" LAZY_REQUEST, staging);
        for (;;) {
                _cleanup_free_ char *text = NULL;
                if (vs_read_file(path, sizeof(images) - 1, &text, NULL) >= 0) {
                        snprintf(images, sizeof(images), "%s", text);
                        break;
                }
                /* the page protocol is the daemon's to read: only the
                 * session's end is looked for */
                struct pollfd p = { sk, POLLRDHUP, 0 };
                if (poll(&p, 1, 20) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
                        staging_drop(staging);
                        return vs_err_msg(err, EPIPE, "the source ended the page session before the restore");
                }
        }
        /* the restore's own directory of this instance, nothing else */
        size_t n = strlen(prefix);
        if (strncmp(images, prefix, n) != 0 || images[n] != '.' || strchr(images + n, '/') || streq(images + n, ".") ||
            streq(images + n, "..")) {
                staging_mark(staging, LAZY_FAILED);
                staging_drop(staging);
                return vs_err_msg(err, EINVAL, "a restore asked for lazy pages in %s", images);
        }
        int st[2];
        if (pipe2(st, O_CLOEXEC) < 0) {
                int e = errno;
                staging_mark(staging, LAZY_FAILED);
                staging_drop(staging);
                return vs_err(err, e, "make a pipe");
        }
        pid_t pid = lazy_pages_spawn(rc->criu, sk, st[1], images);
        close(st[1]);
        if (pid < 0) {
                int e = errno;
                close(st[0]);
                staging_mark(staging, LAZY_FAILED);
                staging_drop(staging);
                return vs_err(err, e, "start criu lazy-pages");
        }
        /* its status byte once its socket listens; its end without one:
         * it failed */
        char c;
        ssize_t k;
        while ((k = read(st[0], &c, 1)) < 0 && errno == EINTR)
                ;
        close(st[0]);
        staging_mark(staging, k == 1 ? LAZY_READY : LAZY_FAILED);
        int status = lazy_pages_wait(pid, sk, images);
        if (status != 0) {
                status_text(status, how, sizeof(how));
                char log[800], kept[700];
                snprintf(log, sizeof(log), "%s/lazy-pages.log", images);
                lazy_failed_log(rc->run_dir, rc->name, kept, sizeof(kept));
                (void) unlink(kept);
                /* (there even without CRIU's log: a restore ending now
                 * looks for it, pages_lazy_failed) */
                if (link(log, kept) < 0)
                        (void) vs_write_atomic(kept, "", 0, 0600);
                /* the instance restored from them is killed (receive_done):
                 * its images are of no use */
                (void) vs_rm_rf(images);
                staging_drop(staging);
                return vs_err_msg(err, EPIPE, "criu lazy-pages %s: pages were still owed (see %s)", how, kept);
        }
        /* every page is here: the restore's images are spent */
        (void) vs_rm_rf(images);
        staging_drop(staging);
        return 0;
}

static void receive_done(void *userdata, int result, const vs_error *werr) {
        struct recv *rc = userdata;
        vs_error err = { 0 };
        if (result < 0) {
                err = *werr;
                vs_err_prefix(&err, "Failed to receive the pages of '%s'", rc->name);
                log_err("%s", err.msg);
        }
        /* post-copy: an instance restored here without all its memory is
         * never left running (its source has ended it too) */
        struct instance *i = rc->lazy && result < 0 ? inst_find(rc->v, rc->name) : NULL;
        if (i && inst_is_active(i)) {
                vs_error serr = { 0 };
                if (inst_stop(i, 0, true, AFTER_STOP_NOTHING, NULL, &serr) < 0)
                        log_err("Instance %s: not killed after its post-copy failed: %s", rc->name, serr.msg);
                else
                        log_err("Instance %s: killed: its memory could not all come from the source", rc->name);
        }
        op_finish(rc->op, result, &err);
        free(rc);
}

static int receive_cancel(void *userdata, vs_error *err) {
        struct recv *rc = userdata;
        int r = work_cancel(rc->v, rc->work_id);
        return r < 0 ? vs_err(err, -r, "cancel the pages of '%s'", rc->name) : 0;
}

int pages_receive(struct vsd *v, const char *name, int fd, bool lazy, bool precopy, struct op **ret_op,
                  vs_error *err) {
        _cleanup_close_ int keep = fd;
        if (vs_name_check("instance", name, err) < 0)
                return vs_err_prefix(err, "Failed to receive pages");
        if (inst_find(v, name))
                return vs_err_msg(err, EEXIST, "Failed to receive pages: instance '%s' already exists", name);
        if (access(v->set.criu, X_OK) < 0)
                return vs_err_msg(err, EOPNOTSUPP,
                                  "Failed to receive pages: CRIU is not available: %s: %s (install it with 'make deps', "
                                  "or set [checkpoint] criu)",
                                  v->set.criu, strerror(errno));
        if (lazy && pages_postcopy_check(v, err) < 0)
                return vs_err_prefix(err, "Failed to receive pages lazily");
        struct recv *rc = calloc(1, sizeof(*rc));
        if (!rc)
                return vs_err(err, ENOMEM, "Failed to receive pages");
        rc->v = v;
        rc->lazy = lazy;
        rc->precopy = precopy;
        snprintf(rc->name, sizeof(rc->name), "%s", name);
        snprintf(rc->root, sizeof(rc->root), "%s", v->set.root);
        snprintf(rc->criu, sizeof(rc->criu), "%s", v->set.criu);
        snprintf(rc->run_dir, sizeof(rc->run_dir), "%s", v->set.run_dir);
        snprintf(rc->work_id, sizeof(rc->work_id), "pages-%s", name);
        int r = op_begin(v, "receive-pages", name, NULL, &rc->op, err);
        if (r >= 0) {
                r = work_start(v, rc->work_id, lazy ? receive_run_lazy : receive_run, rc, keep, receive_done, rc, err);
                if (r < 0)
                        op_finish(rc->op, r, err);
        }
        if (r < 0) {
                free(rc);
                return vs_err_prefix(err, "Failed to receive pages");
        }
        op_set_cancel(rc->op, receive_cancel, rc);
        if (ret_op)
                *ret_op = rc->op;
        return 0;
}

/* ---- the import's claim (target) ------------------------------------------------ */

/* pre-1 ... pre-PAGES_PASS_MAX: a pass's directory */
static bool pass_dir_name(const char *leaf) {
        if (strncmp(leaf, "pre-", 4) != 0 || leaf[4] < '1' || leaf[4] > '9')
                return false;
        char *end;
        unsigned long n = strtoul(leaf + 4, &end, 10);
        return *end == '\0' && n <= PAGES_PASS_MAX;
}

int pages_claim(const char *root, const char *name, const char *ckpt_dir, vs_error *err) {
        char staging[600], took[700], path[800];
        staging_path(root, name, staging, sizeof(staging));
        snprintf(path, sizeof(path), "%s/" PAGES_COMPLETE, staging);
        /* the page server answered its last before it exited */
        for (uint64_t end = mono_ms() + CLAIM_WAIT_MS; access(path, F_OK) < 0 && mono_ms() < end;) {
                struct stat st;
                if (stat(staging, &st) < 0)
                        break;
                struct timespec ts = { 0, 20 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        snprintf(took, sizeof(took), "%s/../.pages", ckpt_dir);
        (void) vs_rm_rf(took);
        if (access(path, F_OK) < 0 || rename(staging, took) < 0)
                return vs_err_msg(err, ENOENT, "the pages sent ahead by the page server are not here");
        DIR *d = opendir(took);
        if (!d) {
                int e = errno;
                (void) vs_rm_rf(took);
                return vs_err(err, e, "open %s", took);
        }
        int r = 0;
        struct dirent *de;
        while (r >= 0 && (de = readdir(d))) {
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                bool image = pages_image_name(de->d_name) && S_ISREG(st.st_mode);
                bool pass = pass_dir_name(de->d_name) && S_ISDIR(st.st_mode);
                if (!image && !pass)
                        continue;
                _cleanup_close_ int cfd = open(ckpt_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (cfd < 0 || renameat2(dirfd(d), de->d_name, cfd, de->d_name, RENAME_NOREPLACE) < 0)
                        r = vs_err(err, errno, "move %s into %s", de->d_name, ckpt_dir);
        }
        /* a pre-copy's final images name the last pass as their parent */
        char parent[32];
        ssize_t k = r >= 0 ? readlinkat(dirfd(d), "parent", parent, sizeof(parent) - 1) : -1;
        if (k > 0) {
                parent[k] = '\0';
                _cleanup_close_ int cfd = open(ckpt_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (!pass_dir_name(parent))
                        r = vs_err_msg(err, EPROTO, "the received pages' parent '%s' is not a pass of theirs", parent);
                else if (cfd < 0 || symlinkat(parent, cfd, "parent") < 0)
                        r = vs_err(err, errno, "link %s/parent", ckpt_dir);
        }
        closedir(d);
        (void) vs_rm_rf(took);
        return r;
}

/* ---- post-copy ---------------------------------------------------------------- */

void pages_postcopy_probe(struct vsd *v) {
        v->criu_uffd = false;
        if (!v->set.migrate_postcopy || access(v->set.criu, X_OK) < 0)
                return;
        char why[512];
        v->criu_uffd = kern_criu_feature(v->set.criu, "uffd-noncoop", why, sizeof(why)) >= 0;
        if (!v->criu_uffd)
                log_warn("[migrate] postcopy is on, but %s: no post-copy moves from or to this host", why);
}

static long pipe_max_size(void) {
        _cleanup_free_ char *text = NULL;
        if (vs_read_file(PIPE_MAX_SYSCTL, 64, &text, NULL) < 0)
                return -1;
        return strtol(text, NULL, 10);
}

static int postcopy_check(struct vsd *v, bool raise, vs_error *err) {
        if (!v->set.migrate_postcopy)
                return vs_err_msg(err, EPERM,
                                  "post-copy is off on this host: its instances would depend on two hosts until their "
                                  "memory came; set [migrate] postcopy = yes in vsd.conf to allow it");
        if (!v->criu_uffd)
                return vs_err_msg(err, EOPNOTSUPP,
                                  "CRIU here cannot restore lazily ('%s check --feature uffd-noncoop' failed at vsd's "
                                  "start)",
                                  v->set.criu);
        if (v->kern.sys_resource)
                return 0;
        long n = pipe_max_size();
        if (n >= PAGES_PIPE_MIN)
                return 0;
        if (v->set.migrate_raise_pipe_max && !raise)
                return 0;
        if (v->set.migrate_raise_pipe_max) {
                char text[32];
                int len = snprintf(text, sizeof(text), "%d\n", PAGES_PIPE_MIN);
                _cleanup_close_ int fd = open(PIPE_MAX_SYSCTL, O_WRONLY | O_CLOEXEC);
                if (fd >= 0 && write(fd, text, (size_t) len) == len) {
                        log_info("Raised fs.pipe-max-size from %ld to %d for post-copy ([migrate] raise_pipe_max_size)",
                                 n, PAGES_PIPE_MIN);
                        return 0;
                }
                return vs_err(err, errno, "raise fs.pipe-max-size to %d for post-copy", PAGES_PIPE_MIN);
        }
        return vs_err_msg(err, EOPNOTSUPP,
                          "fs.pipe-max-size is %ld, and CRIU's post-copy needs %d without CAP_SYS_RESOURCE: raise it "
                          "(sysctl fs.pipe-max-size=%d), or let vsd do so with [migrate] raise_pipe_max_size = yes",
                          n, PAGES_PIPE_MIN, PAGES_PIPE_MIN);
}

int pages_lazy_request(const char *root, const char *name, const char *images, vs_error *err) {
        char staging[600], path[700];
        staging_path(root, name, staging, sizeof(staging));
        snprintf(path, sizeof(path), "%s/" LAZY_REQUEST, staging);
        int r = vs_write_atomic(path, images, strlen(images), 0600);
        if (r < 0)
                return vs_err_msg(err, ENOENT, "no page session of a post-copy move waits for '%s' here", name);
        return 0;
}

int pages_lazy_await(const char *root, const char *name, const char *images, vs_error *err) {
        char staging[600], path[700], ready[700], failed[700];
        staging_path(root, name, staging, sizeof(staging));
        snprintf(path, sizeof(path), "%s/" LAZY_REQUEST, staging);
        snprintf(ready, sizeof(ready), "%s/" LAZY_READY, staging);
        snprintf(failed, sizeof(failed), "%s/" LAZY_FAILED, staging);
        /* asked for already (pages_lazy_request), or now */
        if (access(path, F_OK) < 0 && pages_lazy_request(root, name, images, err) < 0)
                return -ENOENT;
        for (uint64_t end = mono_ms() + LAZY_WAIT_MS;;) {
                if (access(ready, F_OK) == 0)
                        return 0;
                if (access(failed, F_OK) == 0 || access(staging, F_OK) < 0)
                        return vs_err_msg(err, EPIPE, "criu lazy-pages did not start (its page session ended)");
                if (mono_ms() > end)
                        return vs_err_msg(err, ETIMEDOUT, "criu lazy-pages did not listen in %d s", LAZY_WAIT_MS / 1000);
                struct timespec ts = { 0, 5 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
}

int pages_postcopy_check(struct vsd *v, vs_error *err) {
        return postcopy_check(v, true, err);
}

bool pages_postcopy_possible(struct vsd *v) {
        return postcopy_check(v, false, NULL) >= 0;
}

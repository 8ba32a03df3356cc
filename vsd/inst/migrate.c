/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Moving an instance to another host (migrate.h).  Cold, a running
 * instance: a helper (work.h) runs
 *
 *   SSH HOST 'vsctl import - && vsctl start NAME'   fed with the archive
 *
 * and sends the manifest, the settings and the disk while it runs (the
 * pre-copy: an image hashing each chunk it sends, a directory layer
 * keeping each entry's identity, treesync.h), tells the loop, which stops
 * the instance and says go, and then sends what changed (disk.delta; or
 * upper.delta, the paths gone and the entries changed) and the archive's
 * end.  Otherwise (--no-precopy, a stopped instance) the loop stops it
 * first and the helper sends the whole archive the same way.  (The start when it ran here; `vsctl destroy
 * --force NAME` there when the start fails, so that nothing half is left.)
 * SSH is the words of [migrate] ssh, each command's output kept in a
 * memfd for its last line (the target's reason).  Back in the loop the
 * local instance is destroyed, or started again.
 *
 * Live, the same path with a checkpoint in place of the stop: the disk's
 * first pass goes while it runs (as the cold pre-copy's), then the
 * instance is dumped (ckpt_take: its processes end once the images are in
 * place, the network locked until then), its archive carries what changed
 * of the disk and the checkpoint, and the target runs `vsctl import - &&
 * vsctl restore NAME`.  On failure the checkpoint is restored here
 * (ckpt_restore), so that it runs on exactly one host.
 *
 * Before either, while the instance runs untouched, a first helper asks the
 * target for the identity of the instance's template (`vsctl --json
 * template info NAME`, its content_id): the same build goes on; none there
 * gets it sent (tmplsend.h, `vsctl template import -`) unless the operator
 * forbids it ([migrate] send_templates = no, --no-send-template), which
 * ends the move with one line; another build there ends the move too: it
 * is never replaced (instances there may use it), and the instance's
 * settings name their template, so it cannot go under another name.
 */
#include "vsd/inst/migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "base/fileio.h"
#include "base/log.h"
#include "base/proto.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/conf/settings.h"
#include "vsd/core/kernel.h"
#include "vsd/core/loop.h"
#include "vsd/core/ops.h"
#include "vsd/core/work.h"
#include "vsd/inst/archive.h"
#include "vsd/inst/checkpoint.h"
#include "vsd/inst/instance.h"
#include "vsd/inst/pages.h"
#include "vsd/inst/templates.h"
#include "vsd/inst/tmplsend.h"
#include "vsd/inst/transfer.h"
#include "vsd/inst/treesync.h"
#include "vsd/storage/storage.h"

#define HOST_MAX 128
#define SSH_WORDS 32
/* what the target's shell says once its session is up (a live move) */
#define MIG_READY "vsd-migrate-ready"
/* memory pre-copy: at most this many pre-dump passes, and a pass that
 * sent less than this much is the last (checkpoint.h) */
#define MEM_PRECOPY_PASSES 3
#define MEM_PRECOPY_ENOUGH (2ULL << 20)
/* a cold move's pre-copy compares the image by pieces of this size */
#define PRECOPY_CHUNK (64ULL << 10)

/* What the target's vsd takes (its GET /v1/version "features"). */
enum {
        TARGET_ANSWERED = 1 << 0, /* it said (a list or none) */
        TARGET_PRECOPY_IMAGE = 1 << 1,
        TARGET_PRECOPY_TREE = 1 << 2,
        TARGET_RECEIVE_PAGES = 1 << 3,
        TARGET_PRECOPY_MEMORY = 1 << 4,
        TARGET_RECEIVE_LAZY_PAGES = 1 << 5,
};

static const struct {
        const char *name;
        unsigned bit;
} target_features[] = {
        { VS_FEATURE_PRECOPY_IMAGE, TARGET_PRECOPY_IMAGE },
        { VS_FEATURE_PRECOPY_TREE, TARGET_PRECOPY_TREE },
        { VS_FEATURE_RECEIVE_PAGES, TARGET_RECEIVE_PAGES },
        { VS_FEATURE_PRECOPY_MEMORY, TARGET_PRECOPY_MEMORY },
        { VS_FEATURE_RECEIVE_LAZY_PAGES, TARGET_RECEIVE_LAZY_PAGES },
};

/* What the helpers learnt, for the loop (MAP_SHARED). */
struct mig_counts {
        _Atomic uint64_t precopy_bytes; /* the image's data sent while it ran */
        _Atomic uint64_t final_bytes;   /* what changed, sent once it was down */
        _Atomic unsigned target;        /* TARGET_*, asked before anything stops */
        char target_version[32];        /* its vsd's version (set before the helper ends) */
        struct ckpt_precopy mem;        /* live: memory pre-copy's passes (checkpoint.h) */
        _Atomic int target_restored;    /* post-copy: 1 the target restored it, -1 it did not (and keeps
                                         * nothing), 0 it cannot be said */
        _Atomic uint64_t restored_ms;   /* post-copy: when the target said it runs (monotonic) */
};

struct mig {
        struct instance *i;
        char name[VS_NAME_MAX + 1];
        char host[HOST_MAX];
        char ssh[256];
        char marker[600];
        bool was_running;
        bool checkpointed;
        bool maybe_sent;           /* recovery: the archive may have gone (phase "copy") */
        bool live;
        bool precopy;              /* cold: the image goes while it runs, then what changed */
        bool disk_precopy;         /* live: the disk goes while it runs, what changed after the dump */
        bool send_template;        /* a target lacking the template gets it */
        char tname[VS_NAME_MAX + 1]; /* the instance's template */
        char root[256];            /* the state root (the template store's) */
        bool unlocked_mounts;      /* live: restore unprivileged with unlocked mounts */
        uint64_t begin_ms;         /* when the move was asked for (monotonic) */
        uint64_t stop_ms;          /* when the stop (live: the dump) was asked for */
        uint64_t dumped_ms;        /* live: the checkpoint in place */
        struct inst_waiter stopw;  /* cold: the stop; live: the dump */
        bool stopping;             /* pre-copy: the stop asked for, not ended */
        struct mig_counts *counts;
        struct inst_waiter restw;  /* live, after a failure: the restore here */
        vs_error failure;          /* live: why it failed (the dump's reason first) */
        enum { DUMP_NONE, DUMP_RUNNING, DUMP_DONE, DUMP_FAILED } dump;
        bool work_done;            /* live, pre-copy: the helper has ended (mig_done) */
        int go;                    /* live: to the helper: a byte once the checkpoint is in place; pre-copy: once it is down */
        int ready;                 /* live: from the helper: a byte once the target waits; pre-copy: once the first pass went */
        bool page_server;          /* live: the pages by the target's page server, when it can */
        bool pages_ahead;          /* live: the helper opened the page session (ready said 'p') */
        int ps;                    /* live: the dump's end of the page link (the helper has the other) */
        bool mem_precopy;          /* live: pre-dump passes wanted, the target takes them (target_fit) */
        bool mem_precopy_wanted;   /* live: ... were it not for --postcopy (its fallback has them) */
        bool mem_precopy_on;       /* live: ... and this host tracks dirty memory (ready said 'P') */
        bool postcopy;             /* live: post-copy wanted, and this host can (pages.h) */
        bool lazy;                 /* post-copy: the target's lazy-pages waits (ready said 'l') */
        bool committed;            /* post-copy: the dump's images are in place (it serves the pages now) */
        bool resumed;              /* post-copy: its dump failed after the commit and resumed it here */
        bool intact;               /* recovery, post-copy: its processes live here, frozen while the target is asked */
        int asked;                 /* ... the answer (ask_run), kept while they are ended */
        vs_error asked_err;
        int committed_fd;          /* post-copy: from the dump's hook, a byte once committed */
        int verdict;               /* post-copy: to the dump's helper, after a failure ('r': resume it) */
        int verdict_r;             /* post-copy: its other end, for the dump (the move's helper writes too) */
        struct loop_source *committed_src;
        int session_status;        /* in the helper: the main session's exit status */
        struct loop_source *ready_src;
        struct op *op;
        char work_id[CG_WORK_ID_MAX + 1];
};

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* An ssh destination: [user@]host, letters, digits and ._-:@ only, not
 * starting with '-' (ssh would read it as an option). */
static bool host_valid(const char *h) {
        size_t n = strlen(h);
        if (n == 0 || n >= HOST_MAX || h[0] == '-')
                return false;
        for (size_t k = 0; k < n; k++)
                if (!isalnum((unsigned char) h[k]) && !strchr("._-:@[]", h[k]))
                        return false;
        return true;
}

static void marker_write(struct mig *m, const char *phase) {
        char text[400];
        int n = snprintf(text, sizeof(text),
                         "{\"host\":\"%s\",\"was_running\":%s,\"live\":%s,\"unlocked_mounts\":%s,\"phase\":\"%s\"}\n",
                         m->host, m->was_running ? "true" : "false", m->live ? "true" : "false",
                         m->unlocked_mounts ? "true" : "false", phase);
        int r = vs_write_atomic(m->marker, text, (size_t) n, 0600);
        if (r < 0)
                log_warn("Failed to write %s: %s, ignoring", m->marker, strerror(-r));
}

/* What the instance is busy with (NULL: nothing); runs: it runs untouched
 * meanwhile, exec goes on. */
static void set_busy(struct instance *i, const char *what, bool runs) {
        snprintf(i->busy, sizeof(i->busy), "%s", what ? what : "");
        i->busy_runs = what && runs;
}

/* ---- in the helper ----------------------------------------------------------- */

/* Start SSH HOST args... with stdin from in (-1: /dev/null), its output
 * into a memfd (*ret_out), its standard output into so instead when that
 * is >= 0. */
static int remote_spawn(struct mig *m, int in, int so, const char *const *args, pid_t *ret_pid, int *ret_out) {
        char words[256], *argv[SSH_WORDS + 8];
        size_t n = 0;
        snprintf(words, sizeof(words), "%s", m->ssh);
        for (char *save = NULL, *w = strtok_r(words, " ", &save); w && n < SSH_WORDS; w = strtok_r(NULL, " ", &save))
                argv[n++] = w;
        argv[n++] = m->host;
        for (size_t k = 0; args[k] && n < ELEMENTSOF(argv) - 1; k++)
                argv[n++] = (char *) args[k];
        argv[n] = NULL;
        int out = memfd_create("remote-output", MFD_CLOEXEC);
        if (out < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                int e = errno;
                close(out);
                return -e;
        }
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (dup2(in >= 0 ? in : null, 0) < 0 || dup2(so >= 0 ? so : out, 1) < 0 || dup2(out, 2) < 0)
                        _exit(127);
                (void) signal(SIGPIPE, SIG_DFL);
                char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "HOME=/root", NULL };
                execvpe(argv[0], argv, envp);
                _exit(127);
        }
        *ret_pid = pid;
        *ret_out = out;
        return 0;
}

/* The last non-empty line of what a command printed (vsctl's error). */
static void last_line(int fd, char *buf, size_t len) {
        char text[8192];
        ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
        buf[0] = '\0';
        if (n <= 0)
                return;
        text[n] = '\0';
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
                text[--n] = '\0';
        char *line = strrchr(text, '\n');
        line = line ? line + 1 : text;
        if (strncmp(line, "vsctl: ", 7) == 0)
                line += 7;
        snprintf(buf, len, "%s", line);
}

/* Wait for it; on failure why holds its last line or how it ended, and
 * *ret_status its exit status. */
static int remote_wait(pid_t pid, int out, char *why, size_t why_len, int *ret_status) {
        int status = 0;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        close(out);
                        return -errno;
                }
        *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        int r = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
        if (r < 0) {
                last_line(out, why, why_len);
                if (!why[0])
                        snprintf(why, why_len, "%s %d", WIFEXITED(status) ? "exit status" : "signal",
                                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        }
        close(out);
        return r;
}

/* tests only (vsd/main.c): the helper waits here while the file that the
 * variable env names exists */
static void test_hold(const char *env) {
        const char *hold = getenv(env);
        while (hold && *hold && access(hold, F_OK) == 0)
                (void) nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
}

/* The archive into the target's import through fd (closed here), then the
 * target's end: 0 once it has the instance and could verb it (start,
 * restore), else the target's reason. */
static int send_archive(struct mig *m, int fd, pid_t pid, int out, const char *verb, bool without_pages,
                        const struct xfer_precopy *pre, vs_error *err) {
        char why[512] = "";
        int status = 0;
        vs_error aerr = { 0 };
        struct vs_progress *p = op_progress(m->op);
        if (!pre)
                vs_progress_phase(p, VS_PHASE_COPY, true);
        /* to run there (live, or it ran here): marked there until it does */
        int wr = xfer_write_archive(m->i, fd, false, false, without_pages, m->live || m->was_running, p, pre, &aerr);
        close(fd);
        if (wr == -ECANCELED) {
                /* ended here (the stop failed): the target's import, cut
                 * off, keeps nothing */
                int status_ = 0;
                (void) remote_wait(pid, out, why, sizeof(why), &status_);
                *err = aerr;
                return wr;
        }
        if (wr >= 0)
                vs_progress_phase(p, m->live ? VS_PHASE_RESTORING : VS_PHASE_STARTING, false);
        int r = remote_wait(pid, out, why, sizeof(why), &status);
        m->session_status = r < 0 ? status : 0;
        /* the target's reason first: its refusal is why the pipe broke */
        if (r < 0 && status == 3)
                return vs_err_msg(err, EIO, "%s did not %s it: %s", m->host, verb, why);
        if (r < 0)
                return vs_err_msg(err, EIO, "%s did not take it: %s", m->host, why);
        if (wr < 0) {
                *err = aerr;
                return wr;
        }
        /* the target has it, this side does not know yet */
        test_hold("VSD_TEST_MOVED_HOLD");
        /* from here on the target has it: a daemon killed now leaves the
         * local copy to be removed, not started (post-copy: only once its
         * pages came; the marker stays "postcopy") */
        if (!m->lazy)
                marker_write(m, "moved");
        return 0;
}

/* ---- the pre-copy (in the helper) ---------------------------------------- */

/*
 * The image is sent while the instance runs (disk.img, its extents widened
 * to whole chunks), each chunk's SHA-256 kept as it goes; once the loop
 * says the instance is down, the image's data is read again and every
 * chunk whose hash differs, that was not sent, or that became a hole, goes
 * as disk.delta.  A chunk read while the instance wrote it is whatever it
 * was then: its hash is of what was sent, so a later write makes it differ.
 */
struct chunk_sum {
        uint64_t idx;
        uint8_t h[16];
};

struct page_link;

struct precopy {
        struct mig *m;
        struct tsync *tree;    /* a directory layer's: what went of it */
        struct chunk_sum *sums;
        size_t n, cap;
        bool lost;             /* a hash could not be kept: every chunk goes again */
        bool open;             /* ctx holds chunk cur */
        uint64_t cur;
        struct sha256_ctx ctx;
        /* live: the word to the loop once the first pass went (the
         * target waits: on_ready), the page link carried meanwhile (NULL:
         * none, or post-copy's pump carries it), and whether the loop's go
         * came (the checkpoint in place) */
        const char *mode;
        struct page_link *pl;
        bool lazy;
        bool went;
};

static void chunk_close(struct precopy *pc) {
        if (!pc->open)
                return;
        pc->open = false;
        if (pc->n == pc->cap) {
                size_t cap = pc->cap ? 2 * pc->cap : 1024;
                struct chunk_sum *v = realloc(pc->sums, cap * sizeof(*v));
                if (!v) {
                        pc->lost = true;
                        return;
                }
                pc->sums = v;
                pc->cap = cap;
        }
        uint8_t d[SHA256_DIGEST_SIZE];
        sha256_digest(&pc->ctx, sizeof(d), d);
        pc->sums[pc->n].idx = pc->cur;
        memcpy(pc->sums[pc->n].h, d, sizeof(pc->sums[pc->n].h));
        pc->n++;
}

static void precopy_tap(void *ctx, uint64_t off, const void *data, size_t len) {
        struct precopy *pc = ctx;
        const uint8_t *b = data;
        while (len > 0) {
                uint64_t idx = off / PRECOPY_CHUNK, end = (idx + 1) * PRECOPY_CHUNK;
                size_t n = end - off < len ? (size_t) (end - off) : len;
                if (!pc->open || pc->cur != idx) {
                        chunk_close(pc);
                        sha256_init(&pc->ctx);
                        pc->cur = idx;
                        pc->open = true;
                }
                sha256_update(&pc->ctx, n, b);
                b += n;
                off += n;
                len -= n;
        }
}

static int range_add(struct arc_range **v, size_t *n, size_t *cap, uint64_t off, uint64_t len) {
        if (*n > 0 && (*v)[*n - 1].off + (*v)[*n - 1].len == off) {
                (*v)[*n - 1].len += len;
                return 0;
        }
        if (*n == *cap) {
                size_t c = *cap ? 2 * *cap : 256;
                struct arc_range *nv = realloc(*v, c * sizeof(**v));
                if (!nv)
                        return -ENOMEM;
                *v = nv;
                *cap = c;
        }
        (*v)[(*n)++] = (struct arc_range) { off, len };
        return 0;
}

/* The chunks of image (size bytes, read through fd) that differ from the
 * first pass's. */
static int precopy_diff(struct precopy *pc, int fd, uint64_t size, struct arc_range **ret, size_t *ret_n) {
        _cleanup_free_ struct arc_range *ext = NULL;
        _cleanup_free_ uint8_t *buf = malloc(PRECOPY_CHUNK);
        struct arc_range *v = NULL;
        size_t n_ext = 0, n = 0, cap = 0, j = 0;
        int r = buf ? arc_file_extents(fd, size, PRECOPY_CHUNK, &ext, &n_ext) : -ENOMEM;
        for (size_t e = 0; r >= 0 && e < n_ext; e++)
                for (uint64_t off = ext[e].off; r >= 0 && off < ext[e].off + ext[e].len; off += PRECOPY_CHUNK) {
                        uint64_t idx = off / PRECOPY_CHUNK;
                        size_t len = (size_t) (size - off < PRECOPY_CHUNK ? size - off : PRECOPY_CHUNK);
                        /* sent before, a hole now: zeros there */
                        for (; r >= 0 && j < pc->n && pc->sums[j].idx < idx; j++)
                                r = range_add(&v, &n, &cap, pc->sums[j].idx * PRECOPY_CHUNK,
                                              size - pc->sums[j].idx * PRECOPY_CHUNK < PRECOPY_CHUNK
                                                      ? size - pc->sums[j].idx * PRECOPY_CHUNK
                                                      : PRECOPY_CHUNK);
                        bool same = false;
                        if (r >= 0 && !pc->lost && j < pc->n && pc->sums[j].idx == idx) {
                                ssize_t k = pread(fd, buf, len, (off_t) off);
                                if (k != (ssize_t) len) {
                                        r = k < 0 ? -errno : -EIO;
                                        break;
                                }
                                struct sha256_ctx c;
                                uint8_t d[SHA256_DIGEST_SIZE];
                                sha256_init(&c);
                                sha256_update(&c, len, buf);
                                sha256_digest(&c, sizeof(d), d);
                                same = memcmp(d, pc->sums[j].h, sizeof(pc->sums[j].h)) == 0;
                                j++;
                        }
                        if (r >= 0 && !same)
                                r = range_add(&v, &n, &cap, off, len);
                }
        for (; r >= 0 && j < pc->n; j++)
                r = range_add(&v, &n, &cap, pc->sums[j].idx * PRECOPY_CHUNK,
                              size - pc->sums[j].idx * PRECOPY_CHUNK < PRECOPY_CHUNK ? size - pc->sums[j].idx * PRECOPY_CHUNK
                                                                                    : PRECOPY_CHUNK);
        if (r < 0) {
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* The image while it runs, its extents widened to whole chunks, each
 * chunk's hash kept as it goes. */
static int precopy_first_image(void *ctx, struct arc_writer *w, const char *image, vs_error *err) {
        struct precopy *pc = ctx;
        arc_writer_tap(w, precopy_tap, pc);
        int r = arc_add_file_aligned(w, "disk.img", image, PRECOPY_CHUNK, err);
        arc_writer_tap(w, NULL, NULL);
        chunk_close(pc);
        return r;
}

/* The tree while it runs, each entry's identity kept (treesync.h). */
static int precopy_first_tree(void *ctx, struct arc_writer *w, const char *upper, vs_error *err) {
        struct precopy *pc = ctx;
        return tsync_first(pc->tree, w, upper, err);
}

static bool live_await_go(const char *mode, struct page_link *pl);

/* After the first pass: the loop is told it went (fd 5), stops the
 * instance (live: dumps it) and says so (fd 4: a byte once it is down;
 * its end without one: not stopped, or the dump failed); the final pass's
 * bytes are counted from here. */
static int precopy_wait(struct precopy *pc, struct arc_writer *w, vs_error *err) {
        struct mig *m = pc->m;
        const int go = 4, ready = 5;
        struct vs_progress *p = op_progress(m->op);
        atomic_store(&m->counts->precopy_bytes, arc_writer_counted(w));
        /* the first pass has gone and the instance runs on */
        test_hold("VSD_TEST_PRECOPY_HOLD");
        if (m->live) {
                if (!live_await_go(pc->mode, pc->pl))
                        return vs_err_msg(err, ECANCELED, "the checkpoint was not taken");
        } else {
                char c = 'r';
                ssize_t k;
                while ((k = write(ready, &c, 1)) < 0 && errno == EINTR)
                        ;
                while ((k = read(go, &c, 1)) < 0 && errno == EINTR)
                        ;
                if (k != 1)
                        return vs_err_msg(err, ECANCELED, "the instance was not stopped");
        }
        pc->went = true;
        vs_progress_phase(p, VS_PHASE_FINAL, true);
        arc_writer_recount(w);
        /* post-copy: its processes are held, not ended, and its disk still
         * mounted: what they wrote reaches the image before it is read
         * (otherwise the loop released the disk before its go, as a cold
         * move's stop does) */
        if (pc->lazy) {
                /* (tests: the marker says "postcopy", the rest of the
                 * archive not gone) */
                test_hold("VSD_TEST_ARCHIVE_HOLD");
                m->lazy = true;
                sync();
        }
        return 0;
}

/* Once down: the chunks that changed, as disk.delta. */
static int precopy_final_image(void *ctx, struct arc_writer *w, const char *image, vs_error *err) {
        struct precopy *pc = ctx;
        struct mig *m = pc->m;
        int r = precopy_wait(pc, w, err);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(image, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return vs_err(err, fd < 0 ? errno : EINVAL, "open %s", image);
        _cleanup_free_ struct arc_range *v = NULL;
        size_t n = 0;
        r = precopy_diff(pc, fd, (uint64_t) st.st_size, &v, &n);
        if (r < 0)
                return vs_err(err, -r, "compare %s with what went", image);
        uint64_t total = 0;
        for (size_t e = 0; e < n; e++)
                total += v[e].len;
        vs_progress_total(op_progress(m->op), total);
        r = arc_add_ranges(w, "disk.delta", image, v, n, err);
        atomic_store(&m->counts->final_bytes, arc_writer_counted(w));
        return r;
}

static void final_total(void *ctx, uint64_t bytes) {
        struct precopy *pc = ctx;
        vs_progress_total(op_progress(pc->m->op), bytes);
}

/* Once down: what of the tree is gone, new or changed. */
static int precopy_final_tree(void *ctx, struct arc_writer *w, const char *upper, vs_error *err) {
        struct precopy *pc = ctx;
        int r = precopy_wait(pc, w, err);
        if (r >= 0)
                r = tsync_final(pc->tree, w, upper, final_total, pc, err);
        atomic_store(&pc->m->counts->final_bytes, arc_writer_counted(w));
        return r;
}

static const char *start_script(struct mig *m, char *buf, size_t len) {
        if (m->was_running)
                snprintf(buf, len,
                         "vsctl import - >/dev/null && { vsctl start %s || { vsctl destroy --force %s >/dev/null 2>&1; "
                         "exit 3; }; }",
                         m->name, m->name);
        else
                snprintf(buf, len, "vsctl import - >/dev/null");
        return buf;
}

/* The session to the target's import (and start), its stdin in *ret_in. */
static int import_spawn(struct mig *m, pid_t *ret_pid, int *ret_out, int *ret_in, vs_error *err) {
        char script[512];
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return vs_err(err, errno, "make a pipe");
        const char *const args[] = { start_script(m, script, sizeof(script)), NULL };
        int r = remote_spawn(m, p[0], -EBADF, args, ret_pid, ret_out);
        close(p[0]);
        if (r < 0) {
                close(p[1]);
                return vs_err(err, -r, "run %s", m->ssh);
        }
        *ret_in = p[1];
        return 0;
}

/* The archive with the disk's pre-copy (pc: its first pass, the wait for
 * the loop, what changed) into the session in (taken), then the target's
 * end as send_archive's. */
static int precopy_send(struct precopy *pc, int in, pid_t pid, int out, const char *verb, bool without_pages,
                        vs_error *err) {
        struct mig *m = pc->m;
        bool image = stor_backend_of(m->i->cfg.storage.backend) == STOR_IMAGE;
        if (!image && tsync_new(&pc->tree) < 0) {
                char why[256];
                int status;
                close(in);
                (void) remote_wait(pid, out, why, sizeof(why), &status);
                return vs_err(err, ENOMEM, "start the pre-copy");
        }
        vs_progress_phase(op_progress(m->op), VS_PHASE_PRECOPY, true);
        struct xfer_precopy pre = { .first = image ? precopy_first_image : precopy_first_tree,
                                    .final = image ? precopy_final_image : precopy_final_tree,
                                    .ctx = pc };
        int r = send_archive(m, in, pid, out, verb, without_pages, &pre, err);
        free(pc->sums);
        tsync_free(pc->tree);
        return r;
}

static int mig_run_precopy(void *arg, vs_error *err) {
        struct mig *m = arg;
        struct precopy pc = { .m = m };
        pid_t pid = -1;
        int out = -EBADF, in = -EBADF;
        int r = import_spawn(m, &pid, &out, &in, err);
        if (r < 0)
                return r;
        return precopy_send(&pc, in, pid, out, "start", false, err);
}

static int mig_run(void *arg, vs_error *err) {
        struct mig *m = arg;
        pid_t pid = -1;
        int out = -EBADF, in = -EBADF;
        int r = import_spawn(m, &pid, &out, &in, err);
        if (r < 0)
                return r;
        return send_archive(m, in, pid, out, "start", false, NULL, err);
}

/* Between the target's version and its template's identity in one
 * session's output. */
#define MIG_TARGET_SEP "--vsd-migrate-template--"

/* How long a move waits for the target to identify its template. */
#define TMPL_ID_WAIT_S 600

/* The target's `vsctl --json version` (its daemon's features) into
 * m->counts. */
static void target_learn(struct mig *m, const char *text) {
        json_auto_t *j = json_loads(text, 0, NULL);
        json_t *d = json_object_get(j, "daemon");
        const char *version = json_string_value(json_object_get(d, "version"));
        if (!version)
                return; /* it did not say: as one that takes nothing new */
        unsigned bits = TARGET_ANSWERED;
        size_t k;
        json_t *f;
        json_array_foreach(json_object_get(d, "features"), k, f)
                for (size_t t = 0; t < ELEMENTSOF(target_features); t++)
                        if (json_is_string(f) && streq(json_string_value(f), target_features[t].name))
                                bits |= target_features[t].bit;
        snprintf(m->counts->target_version, sizeof(m->counts->target_version), "%s", version);
        atomic_store(&m->counts->target, bits);
}

/* In the helper: what the target's vsd takes (asked in the same session,
 * one key exchange), and its `template info` of the instance's template
 * in *ret (1), or 0 when the target has no such template. */
static int tmpl_there(struct mig *m, json_t **ret, vs_error *err) {
        char why[512] = "", script[300];
        _cleanup_close_ int so = memfd_create("template-info", MFD_CLOEXEC);
        if (so < 0)
                return vs_err(err, errno, "make a memfd");
        snprintf(script, sizeof(script), "vsctl --json version; echo; echo " MIG_TARGET_SEP "; vsctl --json template info %s",
                 m->tname);
        const char *const args[] = { script, NULL };
        pid_t pid;
        int out, status = 0;
        int r = remote_spawn(m, -EBADF, so, args, &pid, &out);
        if (r < 0)
                return vs_err(err, -r, "run %s", m->ssh);
        r = remote_wait(pid, out, why, sizeof(why), &status);
        if (r < 0 && status == 255)
                return vs_err_msg(err, EHOSTUNREACH, "%s cannot be reached: %s", m->host, why);
        char text[16384];
        ssize_t n = pread(so, text, sizeof(text) - 1, 0);
        text[n > 0 ? n : 0] = '\0';
        char *info = strstr(text, "\n" MIG_TARGET_SEP "\n");
        if (info) {
                *info = '\0';
                info += strlen(MIG_TARGET_SEP) + 2;
                target_learn(m, text);
        } else
                info = text;
        if (r < 0 && !strstr(why, "unknown template"))
                return vs_err_msg(err, EIO, "%s cannot say whether it has template '%s': %s", m->host, m->tname, why);
        if (r < 0)
                return 0;
        *ret = json_loads(info, 0, NULL);
        return 1;
}

/* In the helper, before anything stops: the target has the instance's
 * template, the same build, or is sent it. */
static int tmpl_run(void *arg, vs_error *err) {
        struct mig *m = arg;
        char here[TMPL_ID_LEN], why[512] = "";
        (void) signal(SIGPIPE, SIG_IGN);
        vs_progress_phase(op_progress(m->op), VS_PHASE_TEMPLATE, true);
        int r = tmpl_content_id(m->root, m->tname, here, err);
        if (r < 0)
                return r;
        /* a target whose template predates the cached id answers with
         * "content_id": null while its helper computes it (templates.h):
         * asked again, once a second, for as long as a hash may take */
        for (unsigned tries = 0;; tries++) {
                json_t *j = NULL;
                r = tmpl_there(m, &j, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                json_t *jid = json_object_get(j, "content_id");
                const char *there = json_string_value(jid);
                if (json_is_null(jid) && tries < TMPL_ID_WAIT_S) {
                        json_decref(j);
                        (void) nanosleep(&(struct timespec){ .tv_sec = 1 }, NULL);
                        continue;
                }
                if (!there) {
                        r = json_is_null(jid) ? vs_err_msg(err, ETIMEDOUT,
                                                           "%s has not identified its template '%s' in %d seconds",
                                                           m->host, m->tname, TMPL_ID_WAIT_S)
                                              : vs_err_msg(err, EPROTO, "%s gave no content id of template '%s'",
                                                           m->host, m->tname);
                        json_decref(j);
                        return r;
                }
                r = streq(there, here) ? 0
                                       : vs_err_msg(err, EMEDIUMTYPE,
                                                    "%s has another build of template '%s' (%.19s... there, %.19s... "
                                                    "here), which is not replaced while instances may use it: remove or "
                                                    "rebuild it there",
                                                    m->host, m->tname, there, here);
                json_decref(j);
                return r;
        }
        if (!m->send_template)
                return vs_err_msg(err, EPERM,
                                  "%s has no template '%s' and sending templates is off (--no-send-template or "
                                  "[migrate] send_templates = no)",
                                  m->host, m->tname);
        /* sent: a target that ends mid-way (cut, out of space, killed)
         * keeps none of it */
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return vs_err(err, errno, "make a pipe");
        const char *const iargs[] = { "vsctl template import - >/dev/null", NULL };
        pid_t pid;
        int out, status = 0;
        r = remote_spawn(m, p[0], -EBADF, iargs, &pid, &out);
        close(p[0]);
        if (r < 0) {
                close(p[1]);
                return vs_err(err, -r, "run %s", m->ssh);
        }
        vs_error werr = { 0 };
        int wr = tsend_write_archive(m->root, m->tname, p[1], op_progress(m->op), &werr);
        close(p[1]);
        r = remote_wait(pid, out, why, sizeof(why), &status);
        if (r < 0)
                return vs_err_msg(err, EIO, "%s did not take template '%s': %s", m->host, m->tname, why);
        if (wr < 0) {
                *err = werr;
                return vs_err_prefix(err, "send template '%s'", m->tname);
        }
        return 0;
}

/* The first line of so that is word, skipping what came before it (a
 * banner): 0, or -EIO when so ended first. */
static int await_word(int so, const char *word) {
        char line[256];
        size_t n = 0;
        for (;;) {
                char c;
                ssize_t k = read(so, &c, 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return -EIO;
                if (c != '\n') {
                        if (n < sizeof(line) - 1)
                                line[n++] = c;
                        continue;
                }
                line[n] = '\0';
                if (streq(line, word))
                        return 0;
                n = 0;
        }
}

/* ---- the page link (pages.h) ---------------------------------------------------- */

/* The second session of a live move, `vsctl receive-pages NAME` there:
 * its standard streams carry CRIU's page-server protocol once it said
 * PAGES_READY. */
struct page_link {
        pid_t pid;
        int in, out; /* its standard input (written here), output (read here) */
        int log;     /* its error output (a memfd) */
};

/* In the helper: the session started (its key exchange goes on beside the
 * main session's): 0; else < 0 with why. */
static int page_link_spawn(struct mig *m, struct page_link *pl, bool lazy, bool precopy, char *why, size_t len) {
        char script[200];
        int in[2], so[2];
        snprintf(script, sizeof(script), "exec vsctl receive-pages %s%s", m->name,
                 lazy ? " --lazy" : precopy ? " --precopy" : "");
        if (pipe2(in, O_CLOEXEC) < 0) {
                snprintf(why, len, "make a pipe: %s", strerror(errno));
                return -EIO;
        }
        if (pipe2(so, O_CLOEXEC) < 0) {
                snprintf(why, len, "make a pipe: %s", strerror(errno));
                close(in[0]);
                close(in[1]);
                return -EIO;
        }
        const char *const args[] = { script, NULL };
        int r = remote_spawn(m, in[0], so[1], args, &pl->pid, &pl->log);
        close(in[0]);
        close(so[1]);
        if (r < 0) {
                close(in[1]);
                close(so[0]);
                snprintf(why, len, "run %s: %s", m->ssh, strerror(-r));
                return r;
        }
        pl->in = in[1];
        pl->out = so[0];
        return 0;
}

/* The session up and the target's page server waiting: 0; else < 0 with
 * why (an older vsd there: its vsctl's "unknown command"), the session
 * ended. */
static int page_link_ready(struct page_link *pl, char *why, size_t len) {
        int status = 0;
        if (await_word(pl->out, PAGES_READY) >= 0)
                return 0;
        safe_close(&pl->in);
        safe_close(&pl->out);
        (void) remote_wait(pl->pid, pl->log, why, len, &status);
        pl->pid = -1;
        pl->log = -EBADF;
        if (!why[0])
                snprintf(why, len, "its session ended at once");
        return -EIO;
}

/* Until the loop's word (go: *c and 1, or 0 at its end): the dump's page
 * link ps carried both ways over the session.  Either end going shuts
 * ps, so that the dump hears it (and fails, unless it had all it
 * needed); the session itself stays open. */
static ssize_t page_link_pump(struct page_link *pl, int go, int ps, char *c) {
        char buf[65536];
        bool up = true;
        for (;;) {
                struct pollfd p[3] = { { go, POLLIN, 0 }, { up ? ps : -1, POLLIN, 0 }, { up ? pl->out : -1, POLLIN, 0 } };
                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                if (p[0].revents) {
                        ssize_t k = read(go, c, 1);
                        if (k < 0 && errno == EINTR)
                                continue;
                        return k;
                }
                for (int s = 1; up && s <= 2; s++) {
                        if (!p[s].revents)
                                continue;
                        int from = s == 1 ? ps : pl->out, to = s == 1 ? pl->in : ps;
                        ssize_t k = read(from, buf, sizeof(buf));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0 || vs_write_all(to, buf, (size_t) k) < 0) {
                                (void) shutdown(ps, SHUT_RDWR);
                                up = false;
                        }
                }
        }
}

/* The move ended: the target's helper hears the session's end and drops
 * whatever pages the import did not take. */
static void page_link_close(struct page_link *pl) {
        char why[256];
        int status;
        if (pl->pid < 0)
                return;
        safe_close(&pl->in);
        safe_close(&pl->out);
        (void) remote_wait(pl->pid, pl->log, why, sizeof(why), &status);
        pl->pid = -1;
}

/* The main session of a live move: the import, then the restore (lazy:
 * of a post-copy move) there; in[1] its standard input, so[0] its output
 * (the ready word). */
static int live_session_spawn(struct mig *m, bool lazy, pid_t *ret_pid, int *ret_out, int in[2], int so[2],
                              vs_error *err) {
        char script[600];
        /* restore's output but its error line goes: the last line is the
         * target's reason */
        /* a name taken there is refused before anything is frozen here */
        snprintf(script, sizeof(script),
                 "if vsctl info %s >/dev/null 2>&1; then echo \"instance '%s' already exists\" >&2; exit 4; fi; "
                 "echo " MIG_READY " && vsctl import - >/dev/null && { vsctl restore %s%s >/dev/null || "
                 "{ vsctl destroy --force %s >/dev/null 2>&1; exit 3; }; }",
                 m->name, m->name, m->name,
                 lazy ? " --lazy-pages" : m->unlocked_mounts ? " --unlocked-mounts" : "", m->name);
        if (pipe2(in, O_CLOEXEC) < 0)
                return vs_err(err, errno, "make a pipe");
        if (pipe2(so, O_CLOEXEC) < 0) {
                int e = errno;
                close(in[0]);
                close(in[1]);
                return vs_err(err, e, "make a pipe");
        }
        const char *const args[] = { script, NULL };
        int r = remote_spawn(m, in[0], so[1], args, ret_pid, ret_out);
        close(in[0]);
        close(so[1]);
        if (r < 0) {
                close(in[1]);
                close(so[0]);
                return vs_err(err, -r, "run %s", m->ssh);
        }
        return 0;
}

/* The main session's ready word (so closed): 0, else the session ended
 * (in and the page link too) and why. */
static int live_session_ready(struct mig *m, pid_t pid, int out, int in, int so, struct page_link *pl,
                              vs_error *err) {
        char why[512] = "";
        int status = 0, r = await_word(so, MIG_READY);
        close(so);
        if (r >= 0)
                return 0;
        page_link_close(pl);
        close(in);
        (void) remote_wait(pid, out, why, sizeof(why), &status);
        return vs_err_msg(err, EHOSTUNREACH, "%s cannot take it: %s", m->host, why[0] ? why : "its session ended at once");
}

/* Live, in the helper: the loop told that the target waits (fd 5: mode,
 * on_ready), the page link carried (fd 6, pl when this helper carries it)
 * while the loop dumps, until its word (fd 4): true once the checkpoint is
 * in place, false when the dump failed (its end without a byte). */
static bool live_await_go(const char *mode, struct page_link *pl) {
        const int go = 4, ready = 5, ps = 6;
        char c = 0;
        ssize_t k;
        while ((k = write(ready, mode, strlen(mode))) < 0 && errno == EINTR)
                ;
        if (pl && pl->pid >= 0)
                k = page_link_pump(pl, go, ps, &c);
        else
                while ((k = read(go, &c, 1)) < 0 && errno == EINTR)
                        ;
        return k == 1;
}

/* Live, the disk's pre-copy: the archive (its manifest already that of a
 * checkpointed instance) with the disk's first pass while the instance
 * runs, then the word to the loop (mode) and its go (live_await_go, from
 * precopy_wait), then what changed since and the checkpoint; the session
 * in and its end as send_archive's.  *ret_went: the go came. */
static int live_send_precopy(struct mig *m, int in, pid_t pid, int out, const char *mode, struct page_link *pl,
                             bool without_pages, bool lazy, bool *ret_went, vs_error *err) {
        struct precopy pc = { .m = m, .mode = mode, .pl = pl, .lazy = lazy };
        /* this helper's copy of the instance: the manifest goes first, of
         * the checkpoint the dump makes once the first pass went */
        m->i->state = INST_CHECKPOINTED;
        int r = precopy_send(&pc, in, pid, out, "restore", without_pages, err);
        *ret_went = pc.went;
        return r;
}

/* A live move's helper, started before the dump: the ssh session is made
 * and the target's `vsctl import -` waits for the archive while the
 * instance still runs (the handshake costs nothing of the frozen window).
 * With the page server wanted, a second session brings up the target's
 * (page_link_open).  With the disk's pre-copy (m->disk_precopy) the disk
 * goes now, while it runs (live_send_precopy).  Then it says so to the
 * loop (fd 5: 'p', or 'a' and why the page server cannot be had), carries
 * the page link (fd 6) while the loop dumps, waits for the loop's word
 * that the checkpoint is in place (fd 4: a byte; its end without one: the
 * dump failed, nothing more is sent) and sends the archive with the
 * checkpoint (after the pre-copy: what changed of the disk, then the
 * checkpoint), without its pages when they went ahead. */
static int mig_run_live(void *arg, vs_error *err) {
        struct mig *m = arg;
        const int ps = 6;
        (void) signal(SIGPIPE, SIG_IGN);
        char why[512] = "";
        vs_progress_phase(op_progress(m->op), VS_PHASE_CONNECTING, true);
        pid_t pid = -1;
        int out = -EBADF, status = 0, in[2], so[2];
        int r = live_session_spawn(m, false, &pid, &out, in, so, err);
        if (r < 0)
                return r;
        /* the pages' session beside it (each key exchange takes
         * seconds on a loaded host); a target that cannot serve them (an
         * older vsd, no CRIU there) takes the move the old way */
        struct page_link pl = { .pid = -1, .in = -EBADF, .out = -EBADF, .log = -EBADF };
        char mode[300] = "a", pwhy[256] = "", mwhy[256] = "";
        /* memory pre-copy: this host's kernel must track dirty memory
         * (asked while the main session's key exchange goes on) */
        bool mem = m->page_server && m->mem_precopy &&
                   kern_criu_feature(m->i->vsd->set.criu, "mem_dirty_track", mwhy, sizeof(mwhy)) >= 0;
        if (m->page_server && page_link_spawn(m, &pl, false, mem, pwhy, sizeof(pwhy)) < 0)
                snprintf(mode, sizeof(mode), "a%s", pwhy);
        r = live_session_ready(m, pid, out, in[1], so[0], &pl, err);
        if (r < 0)
                return r;
        if (pl.pid >= 0) {
                /* 'P': with memory pre-copy; 'p' and why not, when it was
                 * wanted */
                if (page_link_ready(&pl, pwhy, sizeof(pwhy)) >= 0)
                        snprintf(mode, sizeof(mode), "%s%s", mem ? "P" : "p", mem ? "" : mwhy);
                else
                        snprintf(mode, sizeof(mode), "a%s", pwhy);
        }
        if (m->disk_precopy) {
                bool went;
                r = live_send_precopy(m, in[1], pid, out, mode, &pl, pl.pid >= 0, false, &went, err);
                (void) close(ps);
                page_link_close(&pl);
                return r;
        }
        bool went = live_await_go(mode, &pl);
        (void) close(ps);
        if (!went) {
                /* the dump failed: an empty archive, refused there */
                page_link_close(&pl);
                close(in[1]);
                (void) remote_wait(pid, out, why, sizeof(why), &status);
                return vs_err_msg(err, ECANCELED, "the checkpoint was not taken");
        }
        /* this helper's copy of the instance is from before the dump; the
         * daemon's is checkpointed now, and so is its directory */
        m->i->state = INST_CHECKPOINTED;
        r = send_archive(m, in[1], pid, out, "restore", pl.pid >= 0, NULL, err);
        page_link_close(&pl);
        return r;
}

/* ---- post-copy (in the helper) ------------------------------------------------ */

/* In a child of the helper: the dump's page link ps carried over the page
 * session both ways until the dump closes it (its last page served, or
 * its failure), then the session's end awaited.  The session ending first
 * (the link lost, the target's lazy-pages gone) ends it too, but ps stays
 * open in the helper: CRIU would take its end for the end of the
 * post-copy and end the processes, which must wait for what the main
 * session says (postcopy_abort). */
static void postcopy_pump(struct page_link *pl, int ps) {
        char buf[65536];
        bool from_dump = true;
        for (;;) {
                struct pollfd p[2] = { { from_dump ? ps : -1, POLLIN, 0 }, { pl->out, POLLIN, 0 } };
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[0].revents) {
                        ssize_t k = read(ps, buf, sizeof(buf));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0 || vs_write_all(pl->in, buf, (size_t) k) < 0) {
                                from_dump = false;
                                safe_close(&pl->in);
                        }
                }
                if (p[1].revents) {
                        ssize_t k = read(pl->out, buf, sizeof(buf));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0)
                                return;
                        if (from_dump && vs_write_all(ps, buf, (size_t) k) < 0) {
                                from_dump = false;
                                safe_close(&pl->in);
                        }
                }
        }
}

static void pump_end(pid_t *pump, bool kill_it) {
        if (*pump <= 0)
                return;
        if (kill_it)
                (void) kill(*pump, SIGKILL);
        while (waitpid(*pump, NULL, 0) < 0 && errno == EINTR)
                ;
        *pump = -1;
}

/* The target did not restore it: the dump told to let the processes go
 * here ('r': its helper kills CRIU, which would otherwise take the link's
 * end for the end of the post-copy and end them), the link held open
 * until CRIU is gone (30 s at most). */
static void postcopy_abort(int verdict, int ps) {
        char r = 'r';
        if (write(verdict, &r, 1) != 1)
                return;
        struct pollfd p = { ps, POLLRDHUP, 0 };
        for (uint64_t end = now_ms() + 30000; now_ms() < end;)
                if (poll(&p, 1, 100) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
                        return;
}

/* A post-copy move's helper (mig_run_live's way otherwise): the page
 * session first, `vsctl receive-pages NAME --lazy`, so that the main
 * session's restore is lazy only when the target's lazy-pages can be had
 * (else 'a' and why: the pages go with the archive).  Then 'l' to the
 * loop, which dumps (ckpt_take_postcopy); the page link carried by a
 * child meanwhile, to the dump's end; the loop's go once the checkpoint is
 * committed (the processes still held by the dump); the archive, with the
 * pages CRIU wrote (not the lazy ones), into the target's import and lazy
 * restore; then the page session's end: 0 once its lazy-pages had every
 * page. */
static int mig_run_postcopy(void *arg, vs_error *err) {
        struct mig *m = arg;
        const int go = 4, ready = 5, ps = 6, verdict = 7;
        (void) signal(SIGPIPE, SIG_IGN);
        char why[512] = "", pwhy[256] = "", mode[300] = "l";
        vs_progress_phase(op_progress(m->op), VS_PHASE_CONNECTING, true);
        struct page_link pl = { .pid = -1, .in = -EBADF, .out = -EBADF, .log = -EBADF };
        bool lazy = page_link_spawn(m, &pl, true, false, pwhy, sizeof(pwhy)) >= 0 && page_link_ready(&pl, pwhy, sizeof(pwhy)) >= 0;
        if (!lazy)
                snprintf(mode, sizeof(mode), "a%s", pwhy);
        pid_t pid = -1, pump = -1;
        int out = -EBADF, status = 0, in[2], so[2];
        int r = live_session_spawn(m, lazy, &pid, &out, in, so, err);
        if (r < 0) {
                page_link_close(&pl);
                return r;
        }
        r = live_session_ready(m, pid, out, in[1], so[0], &pl, err);
        if (r < 0)
                return r;
        if (lazy) {
                pump = fork();
                if (pump == 0) {
                        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                        (void) close(go);
                        (void) close(ready);
                        (void) close(verdict);
                        postcopy_pump(&pl, ps);
                        _exit(0);
                }
                int e = errno;
                /* the pump's alone: its end is the session's (ps is kept
                 * here too: see postcopy_abort) */
                safe_close(&pl.in);
                safe_close(&pl.out);
                if (pump < 0) {
                        /* nothing frozen yet: the loop hears the helper's
                         * end without its ready word */
                        page_link_close(&pl);
                        close(in[1]);
                        (void) remote_wait(pid, out, why, sizeof(why), &status);
                        return vs_err(err, e, "start the page link's pump");
                }
        } else
                (void) close(ps);
        if (m->disk_precopy) {
                /* the disk while it runs first; the word to the loop, its
                 * go (the commit), the sync and what changed in the
                 * archive's final pass (precopy_wait) */
                bool went;
                r = live_send_precopy(m, in[1], pid, out, mode, NULL, false, lazy, &went, err);
                if (!went) {
                        /* never dumped (the first pass failed), or the dump
                         * failed before its commit (CRIU resumed it) */
                        pump_end(&pump, true);
                        page_link_close(&pl);
                        return r;
                }
        } else {
                if (!live_await_go(mode, NULL)) {
                        /* the dump failed before its commit (CRIU resumed it) */
                        pump_end(&pump, true);
                        page_link_close(&pl);
                        close(in[1]);
                        (void) remote_wait(pid, out, why, sizeof(why), &status);
                        return vs_err_msg(err, ECANCELED, "the checkpoint was not taken");
                }
                /* (tests: the marker says "postcopy", the archive not gone) */
                test_hold("VSD_TEST_ARCHIVE_HOLD");
                m->i->state = INST_CHECKPOINTED;
                m->lazy = lazy;
                /* its processes are held, not ended: what they wrote
                 * reaches the image before it goes */
                sync();
                r = send_archive(m, in[1], pid, out, "restore", false, NULL, err);
        }
        /* the target's restore may fail after its tasks ran (then they
         * may have answered peers: never resumed here) */
        int there = r >= 0 || m->session_status == 0 ? 1 : m->session_status > 0 && m->session_status < 255 ? -1 : 0;
        if (there < 0 && strstr(err->msg, CKPT_RAN_HERE))
                there = 0;
        atomic_store(&m->counts->target_restored, there);
        if (there > 0)
                atomic_store(&m->counts->restored_ms, now_ms());
        if (r < 0 && lazy && there < 0)
                postcopy_abort(verdict, ps);
        if (r < 0 || !lazy) {
                /* (otherwise the dump hears the link's end: it may have
                 * run there, so it runs here no more) */
                pump_end(&pump, true);
                page_link_close(&pl);
                return r;
        }
        /* the dump's end (its last page served, or its failure) ends the
         * pump, and the page session then says how lazy-pages ended */
        pump_end(&pump, false);
        r = remote_wait(pl.pid, pl.log, why, sizeof(why), &status);
        pl.pid = -1;
        if (r < 0)
                return vs_err_msg(err, EPIPE, "the post-copy from %s failed there: %s", m->host, why);
        return 0;
}

/* ---- in the loop ------------------------------------------------------------- */

static void mig_free(struct mig *m) {
        loop_remove(m->ready_src);
        loop_remove(m->committed_src);
        safe_close(&m->committed_fd);
        safe_close(&m->verdict);
        safe_close(&m->verdict_r);
        safe_close(&m->ready);
        safe_close(&m->go);
        safe_close(&m->ps);
        if (m->counts)
                (void) munmap(m->counts, sizeof(*m->counts));
        free(m);
}

/* The operation's end (err NULL: success), its total time said. */
static void mig_end(struct mig *m, const vs_error *err) {
        op_set_detail(m->op, "total_ms", (int64_t) (now_ms() - m->begin_ms));
        op_finish(m->op, err ? -err->code : 0, err);
        mig_free(m);
}

static void moved(struct mig *m) {
        struct instance *i = m->i;
        /* post-copy: it ran there before the last page came */
        uint64_t end = now_ms(), ran = m->lazy ? atomic_load(&m->counts->restored_ms) : end;
        uint64_t dump_ms = atomic_load(&m->counts->mem.dump_ms);
        if (m->live && m->mem_precopy_on && dump_ms >= m->stop_ms) {
                /* frozen from the final dump on; the passes ran while it ran */
                op_set_detail(m->op, "memory_precopy_ms", (int64_t) (dump_ms - m->stop_ms));
                m->stop_ms = dump_ms;
        }
        uint64_t down = ran - m->stop_ms;
        if (m->live) {
                op_set_detail(m->op, "frozen_ms", (int64_t) down);
                op_set_detail(m->op, "dump_ms", (int64_t) (m->dumped_ms - m->stop_ms));
                op_set_detail(m->op, "copy_restore_ms", (int64_t) (ran - m->dumped_ms));
                if (m->lazy)
                        op_set_detail(m->op, "postcopy_ms", (int64_t) (end - ran));
        } else
                op_set_detail(m->op, "downtime_ms", (int64_t) down);
        if (m->precopy) {
                op_set_detail(m->op, "precopy_bytes", (int64_t) atomic_load(&m->counts->precopy_bytes));
                op_set_detail(m->op, "final_bytes", (int64_t) atomic_load(&m->counts->final_bytes));
        }
        if (m->live && m->disk_precopy) {
                /* the disk's bytes sent while it ran, and after the dump */
                op_set_detail(m->op, "disk_precopy_bytes", (int64_t) atomic_load(&m->counts->precopy_bytes));
                op_set_detail(m->op, "disk_final_bytes", (int64_t) atomic_load(&m->counts->final_bytes));
        }
        log_info("Instance %s moved to %s%s (%s for %llu ms)", m->name, m->host, m->live ? " live" : "",
                 m->live ? "frozen" : "down", (unsigned long long) down);
        inst_emit(i, "migrated", json_pack("{s:s, s:b, s:I}", "host", m->host, "live", m->live,
                                           m->live ? "frozen_ms" : "downtime_ms", (json_int_t) down));
        vs_error derr = { 0 };
        if (inst_destroy(i, &derr) < 0)
                log_warn("Instance %s: moved, but its copy here stays: %s", m->name, derr.msg);
        (void) unlink(m->marker);
        op_set_detail(m->op, "total_ms", (int64_t) (now_ms() - m->begin_ms));
        op_finish(m->op, 0, NULL);
        mig_free(m);
}

/* live: the checkpoint restored here again after a failed move (or not) */
static void on_restored_here(struct inst_waiter *w, int result, const vs_error *rerr) {
        struct mig *m = (struct mig *) ((char *) w - offsetof(struct mig, restw));
        vs_error err = m->failure;
        if (result < 0) {
                log_err("Instance %s: not restored after the failed move: %s", m->name, rerr->msg);
                size_t n = strlen(err.msg);
                snprintf(err.msg + n, sizeof(err.msg) - n, "; restoring it here failed too (it stays checkpointed): %s",
                         rerr->msg);
        } else
                (void) unlink(m->marker);
        mig_end(m, &err);
}

/* ask_run()'s word for "not there (any more)": a helper's end carries
 * its message, not its code */
#define MIG_ASK_ABSENT "not there"

/* live: the checkpoint restored here (the marker stays until it runs
 * here again: a daemon killed meanwhile restores it at its start) */
static void restore_here(struct mig *m) {
        vs_error rerr = { 0 };
        m->restw.done = on_restored_here;
        if (ckpt_restore(m->i, m->unlocked_mounts, &m->restw, NULL, &rerr) < 0)
                on_restored_here(&m->restw, -EIO, &rerr);
}

static int ask_run(void *arg, vs_error *err);

/* live, failed after the dump: the target's answer (ask_run).  It runs
 * there: the move happened after all (the session's failure was its
 * last word only); not there (a copy there that neither ran nor is being
 * restored is destroyed by the asking), or no answer: restored here. */
static void failed_ask_done(void *userdata, int result, const vs_error *werr) {
        struct mig *m = userdata;
        set_busy(m->i, NULL, false);
        if (result >= 0) {
                log_info("Instance %s: it runs on %s all the same: moved (the session had said: %s)", m->name,
                         m->host, m->failure.msg);
                moved(m);
                return;
        }
        if (!streq(werr->msg, MIG_ASK_ABSENT))
                log_warn("Instance %s: %s; restored here", m->name, werr->msg);
        restore_here(m);
}

/* live: it ended without the target having it, with m->failure */
static void live_failed(struct mig *m) {
        struct instance *i = m->i;
        set_busy(i, NULL, false);
        log_err("%s", m->failure.msg);
        if (m->dump != DUMP_DONE) {
                /* never dumped, or CRIU resumed it: it runs on as it was */
                (void) unlink(m->marker);
                mig_end(m, &m->failure);
                return;
        }
        /* the target may have it all the same: its restore goes on
         * without the session that asked for it (one cut while it ran).
         * Asked first, over a session of its own (the marker stays until
         * this is settled: a daemon killed meanwhile asks again) */
        vs_error aerr = { 0 };
        if (work_start(i->vsd, m->work_id, ask_run, m, -EBADF, failed_ask_done, m, &aerr) < 0) {
                failed_ask_done(m, -EIO, &aerr);
                return;
        }
        set_busy(i, "its failed move is being settled", false);
}

static void postcopy_helper_done(struct mig *m, int result, const vs_error *werr);

static void live_done(struct mig *m, int result, const vs_error *werr) {
        if (m->lazy && m->committed) {
                postcopy_helper_done(m, result, werr);
                return;
        }
        m->work_done = true;
        if (result >= 0 && m->dump == DUMP_DONE) {
                set_busy(m->i, NULL, false);
                moved(m);
                return;
        }
        /* (a failure after the dump said first: disk_flush) */
        if (m->dump != DUMP_FAILED && m->failure.code == 0) {
                m->failure = *werr;
                if (result >= 0)
                        vs_err_msg(&m->failure, EIO, "the move ended before its checkpoint");
                vs_err_prefix(&m->failure, "Failed to move '%s' to %s", m->name, m->host);
        }
        if (m->dump == DUMP_RUNNING)
                return; /* on_stopped() goes on once the dump has ended */
        live_failed(m);
}

/* pre-copy: it ended without the target having it, with m->failure;
 * down by now (the stop ended), it runs here again */
static void precopy_failed(struct mig *m) {
        struct instance *i = m->i;
        set_busy(i, NULL, false);
        log_err("%s", m->failure.msg);
        if (inst_is_down(i)) {
                vs_error serr = { 0 };
                if (inst_start(i, &serr) < 0)
                        log_err("Instance %s: not started again after the failed move: %s", m->name, serr.msg);
        }
        (void) unlink(m->marker);
        mig_end(m, &m->failure);
}

static void precopy_done(struct mig *m, int result, const vs_error *werr) {
        m->work_done = true;
        if (result >= 0 && !m->stopping && m->failure.code == 0) {
                set_busy(m->i, NULL, false);
                moved(m);
                return;
        }
        if (m->failure.code == 0) {
                m->failure = *werr;
                if (result >= 0)
                        vs_err_msg(&m->failure, EIO, "the move ended before the instance was down");
                vs_err_prefix(&m->failure, "Failed to move '%s' to %s", m->name, m->host);
        }
        if (m->stopping)
                return; /* precopy_stopped() goes on once it is down */
        precopy_failed(m);
}

static void mig_done(void *userdata, int result, const vs_error *werr) {
        struct mig *m = userdata;
        struct instance *i = m->i;
        vs_error err = { 0 };
        if (m->live) {
                live_done(m, result, werr);
                return;
        }
        if (m->precopy) {
                precopy_done(m, result, werr);
                return;
        }
        set_busy(i, NULL, false);
        if (result >= 0) {
                moved(m);
                return;
        }
        err = *werr;
        vs_err_prefix(&err, "Failed to move '%s' to %s", m->name, m->host);
        log_err("%s", err.msg);
        if (m->was_running) {
                vs_error serr = { 0 };
                if (inst_start(i, &serr) < 0)
                        log_err("Instance %s: not started again after the failed move: %s", m->name, serr.msg);
        }
        (void) unlink(m->marker);
        op_finish(m->op, -err.code, &err);
        mig_free(m);
}

static int op_cancel_cb(void *userdata, vs_error *err) {
        struct mig *m = userdata;
        int r = work_cancel(m->i->vsd, m->work_id);
        return r < 0 ? vs_err(err, -r, "cancel the move of '%s'", m->name) : 0;
}

static void copy_begin(struct mig *m) {
        struct instance *i = m->i;
        vs_error err = { 0 };
        set_busy(i, "it is being moved to another host", false);
        int r = inst_release_disk(i, &err);
        if (r >= 0)
                r = work_start(i->vsd, m->work_id, mig_run, m, -EBADF, mig_done, m, &err);
        if (r < 0)
                mig_done(m, r, &err);
        else
                op_set_cancel(m->op, op_cancel_cb, m);
}

/* The data of the page images of i's checkpoint: what went to the
 * target's page server (the tee wrote the same here). */
static uint64_t page_bytes(struct instance *i) {
        char dir[600];
        inst_dir_path(i, dir, sizeof(dir));
        strncat(dir, "/" INST_CHECKPOINT_DIR, sizeof(dir) - strlen(dir) - 1);
        return pages_bytes_in(dir);
}

static void committed_poll(struct mig *m);
static void postcopy_dumped(struct mig *m, int result, const vs_error *err);

/* live, dumped (its processes gone): what it wrote is in its image before
 * the helper reads it, its filesystem unmounted as a cold move's stop has
 * it (the restore, here or there, mounts it again).  Failing, the helper
 * is told nothing more (its go closed), and the move fails with why. */
static int disk_flush(struct mig *m) {
        vs_error e = { 0 };
        int r = inst_release_disk(m->i, &e);
        if (r >= 0)
                return 0;
        m->failure = e;
        vs_err_prefix(&m->failure, "Failed to move '%s' to %s: release its disk", m->name, m->host);
        safe_close(&m->go);
        return r;
}

/* live: the dump has ended (ckpt_take's waiter) */
static void on_dumped(struct mig *m, int result, const vs_error *err) {
        struct instance *i = m->i;
        if (m->lazy) {
                committed_poll(m);
                if (m->committed) {
                        postcopy_dumped(m, result, err);
                        return;
                }
        }
        set_busy(i, "it is being moved to another host", false);
        if (m->mem_precopy_on) {
                struct ckpt_precopy *pc = &m->counts->mem;
                op_set_detail(m->op, "memory_precopy_passes", (int64_t) atomic_load(&pc->passes));
                op_set_detail(m->op, "memory_precopy_bytes", (int64_t) atomic_load(&pc->bytes));
                op_set_detail(m->op, "memory_precopy_last_bytes", (int64_t) atomic_load(&pc->last_bytes));
        }
        if (result >= 0 && i->state != INST_CHECKPOINTED) {
                /* it ended otherwise meanwhile (a halt from inside) */
                vs_error e = { 0 };
                vs_err_msg(&e, EIO, "it is %s after its checkpoint", inst_state_name(i->state));
                on_dumped(m, -EIO, &e);
                return;
        }
        if (result < 0) {
                /* CRIU resumed it as it was (checkpoint.c); the helper
                 * hears the end of its pipe and sends nothing */
                m->dump = DUMP_FAILED;
                m->failure = *err;
                vs_err_prefix(&m->failure, "Failed to move '%s' to %s: checkpoint it", m->name, m->host);
                safe_close(&m->go);
                if (m->work_done)
                        live_failed(m);
                return;
        }
        m->dump = DUMP_DONE;
        m->dumped_ms = now_ms();
        if (m->pages_ahead)
                op_set_detail(m->op, "page_bytes", (int64_t) page_bytes(i));
        marker_write(m, "copy");
        if (m->work_done) {
                live_failed(m); /* its session ended meanwhile: restored here */
                return;
        }
        if (disk_flush(m) < 0)
                return;
        char c = 'g';
        if (write(m->go, &c, 1) != 1)
                log_warn("Instance %s: failed to tell the move's helper to go on: %s", m->name, strerror(errno));
        safe_close(&m->go);
}

/* pre-copy: the stop has ended; the helper is told to send what changed */
static void precopy_stopped(struct mig *m, int result, const vs_error *err) {
        struct instance *i = m->i;
        vs_error e = { 0 };
        m->stopping = false;
        set_busy(i, "it is being moved to another host", false);
        if (result >= 0 && !inst_is_down(i))
                result = vs_err_msg(&e, EIO, "it is %s after its stop", inst_state_name(i->state));
        else if (result < 0)
                e = *err;
        /* the image's filesystem unmounted: what the helper reads now is
         * all there is */
        if (result >= 0)
                result = inst_release_disk(i, &e);
        if (result < 0 && m->failure.code == 0) {
                m->failure = e;
                vs_err_prefix(&m->failure, "Failed to move '%s' to %s: stop it", m->name, m->host);
        }
        if (result < 0 || m->work_done) {
                /* the helper hears its pipe's end and sends nothing more */
                safe_close(&m->go);
                if (m->work_done)
                        precopy_failed(m);
                return;
        }
        char c = 'g';
        if (write(m->go, &c, 1) != 1)
                log_warn("Instance %s: failed to tell the move's helper to go on: %s", m->name, strerror(errno));
        safe_close(&m->go);
}

static void on_stopped(struct inst_waiter *w, int result, const vs_error *err);

/* The helper's word on the ready pipe into msg (a byte; a live move's
 * mode and why): 1 when it came, 0 when the helper ended without it (the
 * pipe gone either way), -EINTR to be called again. */
static int ready_read(struct mig *m, int fd, char *msg, size_t len) {
        ssize_t k = read(fd, msg, len - 1);
        if (k < 0 && errno == EINTR)
                return -EINTR;
        loop_remove(m->ready_src);
        m->ready_src = NULL;
        safe_close(&m->ready);
        msg[k > 0 ? k : 0] = '\0';
        return k > 0;
}

/* pre-copy: the first pass went; the instance is stopped now */
static int on_precopied(struct loop_source *src, int fd, uint32_t events, void *userdata) {
        struct mig *m = userdata;
        struct instance *i = m->i;
        char msg[8];
        int k = ready_read(m, fd, msg, sizeof(msg));
        if (k <= 0)
                return 0; /* not yet, or the helper ended before: mig_done() says why */
        vs_progress_phase(op_progress(m->op), VS_PHASE_STOPPING, false);
        /* a daemon killed from here on finds it down: started again */
        marker_write(m, "copy");
        m->stop_ms = now_ms();
        m->stopw.done = on_stopped;
        m->stopping = true;
        set_busy(i, NULL, false);
        vs_error err = { 0 };
        int r = inst_stop(i, 0, false, AFTER_STOP_NOTHING, &m->stopw, &err);
        if (r > 0)
                precopy_stopped(m, 0, NULL);
        else if (r < 0)
                precopy_stopped(m, r, &err);
        return 0;
}

static void on_stopped(struct inst_waiter *w, int result, const vs_error *err) {
        struct mig *m = (struct mig *) ((char *) w - offsetof(struct mig, stopw));
        if (m->live) {
                on_dumped(m, result, err);
                return;
        }
        if (m->precopy) {
                precopy_stopped(m, result, err);
                return;
        }
        if (result < 0) {
                vs_error e = *err;
                vs_err_prefix(&e, "Failed to move '%s' to %s: stop it", m->name, m->host);
                (void) unlink(m->marker);
                op_finish(m->op, result, &e);
                mig_free(m);
                return;
        }
        copy_begin(m);
}

/* live: what became of memory pre-copy, in details.memory_precopy: "on"
 * (its figures come with the dump's end, on_dumped), "off: ..." when the
 * operator said so, "unavailable: why" otherwise.  msg: the helper's word
 * ('P', 'p' and why it was not had, 'a' and why no page server). */
static void mem_precopy_said(struct mig *m, const char *msg) {
        char why[400];
        if (msg[0] == 'P') {
                op_set_detail_str(m->op, "memory_precopy", "on");
                return;
        }
        if (!m->mem_precopy)
                return; /* target_fit() said why */
        if (msg[0] == 'p')
                snprintf(why, sizeof(why), "unavailable: %s", msg + 1);
        else
                snprintf(why, sizeof(why), "unavailable: the pages go with the archive, not by page server");
        op_set_detail_str(m->op, "memory_precopy", why);
        log_info("Instance %s: no memory pre-copy: %s", m->name, why);
}

/* ---- post-copy (in the loop) ------------------------------------------------- */

/* The dump's hook said the checkpoint is committed: the helper sends the
 * archive (the processes still held by the dump, which serves their
 * memory from now on).  From here on the instance runs on one host or on
 * none: never again here from this checkpoint. */
static void committed_read(struct mig *m) {
        char c = 0;
        ssize_t k = read(m->committed_fd, &c, 1);
        if (k < 0 && errno == EINTR)
                return;
        loop_remove(m->committed_src);
        m->committed_src = NULL;
        safe_close(&m->committed_fd);
        if (k != 1)
                return; /* the dump ended before its commit: on_dumped() says how */
        m->committed = true;
        m->dumped_ms = now_ms();
        marker_write(m, "postcopy");
        /* the dump's hook froze it before its commit (a CRIU dying in
         * between must not let it run: ckpt_recover_lazy); CRIU holds it
         * still, and from here on a recovery ends it */
        vs_error ferr = { 0 };
        if (cg_freeze(m->i->vsd->cg, m->name, false, &ferr) < 0)
                log_warn("Instance %s: %s, ignoring", m->name, ferr.msg);
        if (m->work_done && m->verdict >= 0) {
                /* the helper is gone, the archive never went: the dump,
                 * failing, resumes it here */
                char r = 'r';
                if (write(m->verdict, &r, 1) != 1)
                        log_warn("Instance %s: failed to tell its dump to resume it: %s", m->name, strerror(errno));
                safe_close(&m->verdict);
                return;
        }
        char g = 'g';
        if (m->go >= 0 && write(m->go, &g, 1) != 1)
                log_warn("Instance %s: failed to tell the move's helper to go on: %s", m->name, strerror(errno));
        safe_close(&m->go);
}

static int on_committed(struct loop_source *src, int fd, uint32_t events, void *userdata) {
        committed_read(userdata);
        return 0;
}

/* The commit's byte, should it wait unread when the dump's end comes. */
static void committed_poll(struct mig *m) {
        struct pollfd p = { m->committed_fd, POLLIN, 0 };
        if (m->committed_fd >= 0 && poll(&p, 1, 0) > 0)
                committed_read(m);
}

/* The dump for a post-copy move, its page link m->ps. */
static void postcopy_begin(struct mig *m) {
        struct instance *i = m->i;
        vs_error err = { 0 };
        int c[2] = { -EBADF, -EBADF }, r;
        set_busy(i, NULL, false);
        m->dump = DUMP_RUNNING;
        vs_progress_phase(op_progress(m->op), VS_PHASE_CHECKPOINT, true);
        m->stop_ms = now_ms();
        m->stopw.done = on_stopped;
        if (pipe2(c, O_CLOEXEC) < 0)
                r = vs_err(&err, errno, "make a pipe");
        else
                r = ckpt_take_postcopy(i, m->ps, c[1], m->verdict_r, &m->stopw, &err);
        safe_close(&m->ps);
        safe_close(&c[1]);
        safe_close(&m->verdict_r);
        m->committed_fd = c[0];
        if (r >= 0 && loop_add_fd(i->vsd->loop, m->committed_fd, EPOLLIN, on_committed, m, &m->committed_src) < 0)
                log_err("Instance %s: its commit cannot be heard: its move ends with its dump", m->name);
        if (r < 0)
                on_dumped(m, -EIO, &err);
}

/* Lost: it runs on neither host.  Down here, without its checkpoint (its
 * lazy pages were never written), then the operation's end. */
static void postcopy_lost_down(struct inst_waiter *w, int result, const vs_error *werr) {
        struct mig *m = (struct mig *) ((char *) w - offsetof(struct mig, restw));
        struct instance *i = m->i;
        vs_error err = { 0 }, derr = { 0 };
        if (inst_has_checkpoint(i) && ckpt_discard(i, &derr) < 0)
                log_warn("Instance %s: its checkpoint stays: %s", m->name, derr.msg);
        vs_err_msg(&err, ENOLINK,
                   "Failed to move '%s' to %s: the instance was lost in its post-copy (%s); it is stopped here and "
                   "killed there, and its disk is on both hosts as of the move",
                   m->name, m->host, m->failure.msg);
        log_err("%s", err.msg);
        inst_emit(i, "migrate-lost", json_pack("{s:s}", "host", m->host));
        (void) unlink(m->marker);
        mig_end(m, &err);
}

/* Both the dump and the helper have ended, after the commit. */
static void postcopy_end(struct mig *m) {
        struct instance *i = m->i;
        set_busy(i, NULL, false);
        if (m->dump == DUMP_DONE && m->failure.code == 0) {
                moved(m);
                return;
        }
        if (m->dump == DUMP_FAILED && m->resumed) {
                /* the target never ran it (the verdict 'r'): it runs on
                 * here as it was */
                vs_err_prefix(&m->failure, "Failed to move '%s' to %s", m->name, m->host);
                log_err("%s; it runs here again", m->failure.msg);
                (void) unlink(m->marker);
                mig_end(m, &m->failure);
                return;
        }
        vs_error err = { 0 };
        m->restw.done = postcopy_lost_down;
        int r = inst_is_active(i) ? inst_stop(i, 0, true, AFTER_STOP_NOTHING, &m->restw, &err) : 1;
        if (r > 0)
                postcopy_lost_down(&m->restw, 0, NULL);
        else if (r < 0) {
                log_err("Instance %s: not ended after its lost post-copy: %s", m->name, err.msg);
                postcopy_lost_down(&m->restw, 0, NULL);
        }
}

static void postcopy_dumped(struct mig *m, int result, const vs_error *err) {
        set_busy(m->i, "it is being moved to another host", false);
        if (result >= 0 && m->i->state != INST_CHECKPOINTED && inst_is_active(m->i))
                result = -EIO;
        m->dump = result >= 0 ? DUMP_DONE : DUMP_FAILED;
        if (result < 0) {
                m->resumed = err && err->code != ENOLINK;
                if (m->failure.code == 0 && err)
                        m->failure = *err;
                else if (m->failure.code == 0)
                        vs_err_msg(&m->failure, EIO, "its dump ended without its checkpoint");
        }
        if (m->work_done)
                postcopy_end(m);
}

static void postcopy_helper_done(struct mig *m, int result, const vs_error *werr) {
        m->work_done = true;
        if (result < 0 && (m->failure.code == 0 || m->dump != DUMP_FAILED))
                m->failure = *werr;
        /* the dump's helper reads it only when its dump failed: 'r' when
         * the target never ran the instance, else (its end) a kill */
        if (m->verdict >= 0) {
                char r = 'r';
                if (result < 0 && atomic_load(&m->counts->target_restored) < 0 && write(m->verdict, &r, 1) != 1)
                        log_warn("Instance %s: failed to tell its dump to resume it: %s", m->name, strerror(errno));
                safe_close(&m->verdict);
        }
        if (m->dump == DUMP_RUNNING)
                return; /* postcopy_dumped() ends it */
        postcopy_end(m);
}

/* live: the target waits for the archive; the instance is dumped now */
static int on_ready(struct loop_source *src, int fd, uint32_t events, void *userdata) {
        struct mig *m = userdata;
        struct instance *i = m->i;
        char msg[300];
        int k = ready_read(m, fd, msg, sizeof(msg));
        if (k <= 0)
                return 0; /* not yet, or the helper ended before: mig_done() says why */
        /* 'l': the target's lazy-pages waits (post-copy) */
        if (msg[0] == 'l') {
                m->lazy = true;
                op_set_detail_str(m->op, "pages", "post-copy");
                postcopy_begin(m);
                return 0;
        }
        if (m->postcopy) {
                op_set_detail_str(m->op, "postcopy_fallback", msg + 1);
                log_info("Instance %s: no post-copy: %s cannot take it: %s", m->name, m->host, msg + 1);
        }
        /* 'p': the target's page server waits for the pages; 'a' (and
         * why, when it was wanted): they go with the archive */
        m->pages_ahead = msg[0] == 'p' || msg[0] == 'P';
        m->mem_precopy_on = msg[0] == 'P';
        op_set_detail_str(m->op, "pages", m->pages_ahead ? "page-server" : "archive");
        mem_precopy_said(m, msg);
        if (!m->pages_ahead && m->page_server) {
                op_set_detail_str(m->op, "page_server_fallback", msg + 1);
                log_info("Instance %s: its pages go with the archive: %s cannot take them by page server: %s", m->name,
                         m->host, msg + 1);
        }
        if (!m->pages_ahead)
                safe_close(&m->ps);
        /* the dump's operation makes it busy in its own words */
        set_busy(i, NULL, false);
        m->dump = DUMP_RUNNING;
        vs_progress_phase(op_progress(m->op), VS_PHASE_CHECKPOINT, true);
        m->stop_ms = now_ms();
        m->stopw.done = on_stopped;
        vs_error err = { 0 };
        m->counts->mem.max_passes = MEM_PRECOPY_PASSES;
        m->counts->mem.enough_bytes = MEM_PRECOPY_ENOUGH;
        m->counts->mem.progress = op_progress(m->op);
        int r = m->mem_precopy_on ? ckpt_take_precopy(i, m->ps, &m->counts->mem, &m->stopw, NULL, &err)
                                  : ckpt_take(i, false, m->pages_ahead ? m->ps : -1, &m->stopw, NULL, &err);
        safe_close(&m->ps); /* the dump's helper has its own */
        if (r < 0)
                on_dumped(m, -EIO, &err);
        return 0;
}

/* A helper that tells the loop over a pipe when it waits (ready: on_ready
 * reads it) and then waits for the loop's word (go), the live move's and
 * the pre-copy's. */
static int helper_begin(struct mig *m, work_fn fn, loop_fd_cb on_ready_fn, vs_error *err) {
        struct instance *i = m->i;
        int go[2], ready[2];
        if (pipe2(go, O_CLOEXEC) < 0)
                return vs_err(err, errno, "make a pipe");
        if (pipe2(ready, O_CLOEXEC) < 0) {
                int e = errno;
                close(go[0]);
                close(go[1]);
                return vs_err(err, e, "make a pipe");
        }
        m->go = go[1];
        m->ready = ready[0];
        /* a live move's page link: the dump's end here, the helper's
         * there */
        int ps[2] = { -EBADF, -EBADF };
        if (((fn == mig_run_live && m->page_server) || fn == mig_run_postcopy) &&
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ps) < 0) {
                log_warn("Instance %s: no socket for the page server (%s): its pages go with the archive", m->name,
                         strerror(errno));
                m->page_server = false;
        }
        m->ps = ps[0];
        /* post-copy: the dump's verdict, which the helper gives first when
         * the target did not restore it */
        int v[2] = { -EBADF, -EBADF };
        if (fn == mig_run_postcopy && pipe2(v, O_CLOEXEC) < 0) {
                int e = errno;
                safe_close(&ps[1]);
                close(go[0]);
                close(ready[1]);
                return vs_err(err, e, "make a pipe");
        }
        m->verdict_r = v[0];
        m->verdict = v[1];
        int keep[4] = { go[0], ready[1], ps[1], v[1] };
        int r = work_start_fds(i->vsd, m->work_id, fn, m, keep, fn == mig_run_postcopy ? 4 : 3, NULL, mig_done, m, err);
        close(go[0]);
        close(ready[1]);
        safe_close(&ps[1]);
        if (r < 0)
                return r;
        /* from here on mig_done() comes, whatever happens */
        if (loop_add_fd(i->vsd->loop, m->ready, EPOLLIN, on_ready_fn, m, &m->ready_src) < 0)
                (void) work_cancel(i->vsd, m->work_id);
        /* the pre-copy leaves it running as ever; a live move's session
         * is made while it runs, but its dump comes at any moment, unless
         * its disk goes first (the first pass may take minutes: exec is
         * served meanwhile, and a command still running at the dump makes
         * the dump refuse, the instance running on) */
        set_busy(i, "it is being moved to another host", fn == mig_run_precopy || m->disk_precopy);
        op_set_cancel(m->op, op_cancel_cb, m);
        return 0;
}

/* What a live move needs that a cold one does not, checked before
 * anything is stopped. */
static int live_check(struct instance *i, bool unlocked_mounts, vs_error *err) {
        if (i->state != INST_RUNNING)
                return vs_err_msg(err, EBUSY, "instance '%s' is %s; a live move takes a running instance (move it --cold)",
                                  i->cfg.name, inst_state_name(i->state));
        if (access(i->vsd->set.criu, X_OK) < 0)
                return vs_err_msg(err, EOPNOTSUPP,
                                  "CRIU is not available: %s: %s (install it with 'make deps', or set [checkpoint] criu)",
                                  i->vsd->set.criu, strerror(errno));
        /* the target restores it: the same rule as a restore here
         * (ckpt_restore in checkpoint.h) */
        if (!inst_privileged(i->cfg.security.privileged) && !unlocked_mounts)
                return vs_err_msg(err, EPERM,
                                  "a restored unprivileged instance's mounts are not locked (its root could unmount "
                                  "the masked paths until its next start); accept that for the live move with "
                                  "--unlocked-mounts (\"unlocked_mounts\": true), or move it --cold");
        return 0;
}

/* What a post-copy move needs here (the target says what it can in its
 * features, target_fit). */
static int postcopy_check(struct instance *i, const struct mig_options *o, vs_error *err) {
        if (!o->live)
                return vs_err_msg(err, EINVAL, "--postcopy is for a live move (--live)");
        if (o->no_page_server)
                return vs_err_msg(err, EINVAL, "--postcopy sends the memory over the page session: no --no-page-server");
        /* the restored tasks open their userfaultfd in their own context,
         * which needs CAP_SYS_PTRACE in the host's user namespace */
        if (!inst_privileged(i->cfg.security.privileged))
                return vs_err_msg(err, EPERM,
                                  "instance '%s' is unprivileged, and post-copy takes privileged instances only (its "
                                  "restored processes could not register their memory for it): move it live without "
                                  "--postcopy",
                                  i->cfg.name);
        return pages_postcopy_check(i->vsd, err);
}

/* live: the disk's pre-copy needs the same feature of the target as a
 * cold one's (its import takes disk.delta, upper.delta); without it the
 * disk goes whole after the dump, as --no-precopy has it. */
static void disk_precopy_fit(struct mig *m, unsigned t, const char *older) {
        bool image = stor_backend_of(m->i->cfg.storage.backend) == STOR_IMAGE;
        const char *want = image ? VS_FEATURE_PRECOPY_IMAGE : VS_FEATURE_PRECOPY_TREE;
        if (m->disk_precopy && !(t & (image ? TARGET_PRECOPY_IMAGE : TARGET_PRECOPY_TREE))) {
                char why[200];
                snprintf(why, sizeof(why), "%s cannot take a pre-copy: %s %s", m->host, older, want);
                op_set_detail_str(m->op, "disk_precopy_fallback", why);
                log_info("Instance %s: its disk goes whole after the dump: %s", m->name, why);
                m->disk_precopy = false;
        }
        op_set_detail_bool(m->op, "disk_precopy", m->disk_precopy);
}

/* What the target's vsd lacks for this move, said before anything stops:
 * a pre-copy it could not take goes as a whole copy (stopped first), a
 * page server it has not goes with the archive (on_ready says so). */
static void target_fit(struct mig *m) {
        unsigned t = atomic_load(&m->counts->target);
        char older[120];
        if (t & TARGET_ANSWERED)
                snprintf(older, sizeof(older), "its vsd (%s) does not list", m->counts->target_version);
        else
                snprintf(older, sizeof(older), "it did not say what its vsd takes, so presumably not");
        if (m->precopy) {
                bool image = stor_backend_of(m->i->cfg.storage.backend) == STOR_IMAGE;
                const char *want = image ? VS_FEATURE_PRECOPY_IMAGE : VS_FEATURE_PRECOPY_TREE;
                if (!(t & (image ? TARGET_PRECOPY_IMAGE : TARGET_PRECOPY_TREE))) {
                        char why[200];
                        snprintf(why, sizeof(why), "%s cannot take a pre-copy: %s %s", m->host, older, want);
                        op_set_detail_str(m->op, "precopy_fallback", why);
                        log_info("Instance %s: stopped first and copied whole: %s", m->name, why);
                        m->precopy = false;
                        /* a daemon killed from here on: as any whole copy */
                        marker_write(m, "copy");
                }
                op_set_detail_bool(m->op, "precopy", m->precopy);
        }
        if (m->live)
                disk_precopy_fit(m, t, older);
        if (m->postcopy && !(t & TARGET_RECEIVE_LAZY_PAGES)) {
                char why[200];
                snprintf(why, sizeof(why), "%s " VS_FEATURE_RECEIVE_LAZY_PAGES " (its [migrate] postcopy off, or it "
                         "cannot)", older);
                op_set_detail_str(m->op, "postcopy_fallback", why);
                log_info("Instance %s: no post-copy: %s cannot take it: %s", m->name, m->host, why);
                m->postcopy = false;
                /* a page-server move: with memory pre-copy as any */
                m->mem_precopy = m->mem_precopy_wanted;
        }
        if (m->live && !m->mem_precopy) {
                /* unprivileged: CRIU's restore opens the passes' images
                 * (the final dump's "parent") from inside the instance's
                 * user namespace, which may not search their directory */
                op_set_detail_str(m->op, "memory_precopy",
                                  m->postcopy       ? "off: --postcopy"
                                  : !m->page_server ? "unavailable: no page server (--no-page-server)"
                                  : !inst_privileged(m->i->cfg.security.privileged)
                                          ? "unavailable: the instance is unprivileged (a restore reads the passes' images "
                                            "from inside its user namespace)"
                                          : "off: --no-precopy");
        } else if (m->live && !(t & TARGET_PRECOPY_MEMORY)) {
                char why[200];
                snprintf(why, sizeof(why), "unavailable: %s: %s " VS_FEATURE_PRECOPY_MEMORY, m->host, older);
                op_set_detail_str(m->op, "memory_precopy", why);
                m->mem_precopy = false;
        }
        if (m->page_server && !(t & TARGET_RECEIVE_PAGES)) {
                char why[200];
                snprintf(why, sizeof(why), "%s " VS_FEATURE_RECEIVE_PAGES, older);
                op_set_detail_str(m->op, "page_server_fallback", why);
                log_info("Instance %s: its pages go with the archive: %s cannot take them by page server: %s", m->name,
                         m->host, why);
                m->page_server = false;
        }
}

/* The move proper, once the target has the template. */
static void proceed(struct mig *m) {
        struct instance *i = m->i;
        vs_error err = { 0 };
        int r;
        set_busy(i, NULL, false);
        target_fit(m);
        if (!m->was_running) {
                copy_begin(m);
                return;
        }
        m->stop_ms = now_ms();
        m->stopw.done = on_stopped;
        if (m->live) {
                /* the session first, the dump (ckpt_take, an operation
                 * of its own; this one is what the client follows) once
                 * the target waits */
                r = helper_begin(m, m->postcopy ? mig_run_postcopy : mig_run_live, on_ready, &err);
                if (r >= 0)
                        return;
        } else if (m->precopy) {
                /* the image goes while it runs; the stop once it went
                 * (on_precopied) */
                r = helper_begin(m, mig_run_precopy, on_precopied, &err);
                if (r >= 0)
                        return;
        } else {
                r = inst_stop(i, 0, false, AFTER_STOP_NOTHING, &m->stopw, &err);
                if (r > 0)
                        on_stopped(&m->stopw, 0, NULL);
                if (r >= 0)
                        return;
        }
        vs_err_prefix(&err, "Failed to move '%s'", m->name);
        log_err("%s", err.msg);
        (void) unlink(m->marker);
        op_finish(m->op, r, &err);
        mig_free(m);
}

static void tmpl_done(void *userdata, int result, const vs_error *werr) {
        struct mig *m = userdata;
        if (result >= 0) {
                proceed(m);
                return;
        }
        /* nothing stopped, nothing of the instance there */
        vs_error err = *werr;
        vs_err_prefix(&err, "Failed to move '%s' to %s", m->name, m->host);
        log_err("%s", err.msg);
        set_busy(m->i, NULL, false);
        (void) unlink(m->marker);
        op_finish(m->op, result, &err);
        mig_free(m);
}

int mig_start(struct instance *i, const char *host, const struct mig_options *o, struct op **ret_op, vs_error *err) {
        struct vsd *v = i->vsd;
        if (!host_valid(host))
                return vs_err_msg(err, EINVAL, "invalid host '%.60s': an ssh destination, [user@]host", host);
        if (i->state == INST_BROKEN)
                return vs_err_msg(err, EINVAL, "instance '%s' is broken: %s", i->cfg.name, i->error);
        if (inst_check_idle(i, err) < 0)
                return -EBUSY;
        if (o->live && live_check(i, o->unlocked_mounts, err) < 0)
                return vs_err_prefix(err, "Failed to move '%s' live", i->cfg.name);
        if (o->postcopy && postcopy_check(i, o, err) < 0)
                return vs_err_prefix(err, "Failed to move '%s' by post-copy", i->cfg.name);
        if (i->state != INST_RUNNING && !inst_is_down(i))
                return vs_err_msg(err, EBUSY, "instance '%s' is %s; it moves running, stopped or checkpointed",
                                  i->cfg.name, inst_state_name(i->state));
        struct mig *m = calloc(1, sizeof(*m));
        if (!m)
                return vs_err(err, ENOMEM, "Failed to move '%s'", i->cfg.name);
        m->i = i;
        snprintf(m->name, sizeof(m->name), "%s", i->cfg.name);
        snprintf(m->host, sizeof(m->host), "%s", host);
        snprintf(m->ssh, sizeof(m->ssh), "%s", v->set.migrate_ssh);
        snprintf(m->marker, sizeof(m->marker), "%s/%s.migrating", v->set.run_dir, i->cfg.name);
        snprintf(m->work_id, sizeof(m->work_id), "migrate-%s", i->cfg.name);
        m->was_running = i->state == INST_RUNNING;
        m->live = o->live;
        m->unlocked_mounts = o->unlocked_mounts;
        m->send_template = v->set.migrate_send_templates && !o->no_send_template;
        m->page_server = o->live && !o->no_page_server;
        /* where this host tracks dirty memory (asked by the helper) */
        m->mem_precopy_wanted = m->page_server && !o->no_precopy && inst_privileged(i->cfg.security.privileged);
        m->mem_precopy = m->mem_precopy_wanted && !o->postcopy;
        snprintf(m->tname, sizeof(m->tname), "%s", i->cfg.template_name);
        snprintf(m->root, sizeof(m->root), "%s", v->set.root);
        m->go = m->ready = m->ps = m->committed_fd = m->verdict = m->verdict_r = -EBADF;
        m->postcopy = o->postcopy;
        /* a running instance's disk goes while it runs, then what
         * changed (an image by chunks, a directory layer by entries) */
        m->precopy = !o->live && !o->no_precopy && m->was_running;
        /* live: the disk too, before the dump (the frozen window then
         * carries only what changed) */
        m->disk_precopy = o->live && !o->no_precopy;
        /* the helpers' figures and what the target takes, for the loop */
        void *c = mmap(NULL, sizeof(*m->counts), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (c == MAP_FAILED) {
                mig_free(m);
                return vs_err(err, errno, "Failed to move '%s'", i->cfg.name);
        }
        m->counts = c;
        int r = op_begin(v, "migrate", i->cfg.name, host, &m->op, err);
        if (r < 0) {
                mig_free(m);
                return r;
        }
        /* for the next daemon, should this one die before the end */
        marker_write(m, m->live ? "dump" : m->precopy ? "precopy" : "copy");
        m->begin_ms = m->stop_ms = now_ms();
        /* the template first, the instance untouched meanwhile (a daemon
         * killed now: the marker's instance runs on, mig_recover) */
        r = work_start(v, m->work_id, tmpl_run, m, -EBADF, tmpl_done, m, err);
        if (r >= 0) {
                set_busy(i, "it is being moved to another host", m->was_running);
                op_set_cancel(m->op, op_cancel_cb, m);
                if (ret_op)
                        *ret_op = m->op;
                return 0;
        }
        (void) unlink(m->marker);
        op_finish(m->op, r, err);
        mig_free(m);
        if (ret_op)
                *ret_op = NULL;
        return vs_err_prefix(err, "Failed to move '%s'", i->cfg.name);
}

/* ---- after a crash ---------------------------------------------------------- */

/*
 * A live move interrupted after the archive went (phase "copy") may have
 * been restored by the target on its own: its `vsctl restore` does not end
 * with the session.  So the target is asked first, in a helper, over the
 * same ssh: the instance running there means the move happened (the copy
 * here goes); absent there (or made absent: a copy there that neither runs
 * nor is being restored is destroyed) means it runs here again.  A target
 * that cannot be asked leaves the choice to this side: restored here.
 */

#define MIG_ASK_SEP "--vsd-migrate-ops--"
#define MIG_ASK_SECONDS 90

/* In the helper: 0 when NAME runs on the target, -ENOENT (MIG_ASK_ABSENT)
 * when it is not there (any more), another < 0 when the target could not
 * say or NAME ran there and is stopped there (post-copy). */
static int ask_run(void *arg, vs_error *err) {
        struct mig *m = arg;
        char script[300], why[512];
        uint64_t deadline = now_ms() + MIG_ASK_SECONDS * 1000;
        snprintf(script, sizeof(script), "vsctl --json info %s 2>&1; echo " MIG_ASK_SEP "; vsctl --json op list 2>&1",
                 m->name);
        for (;;) {
                const char *const args[] = { script, NULL };
                pid_t pid;
                int out, status = 0;
                int r = remote_spawn(m, -EBADF, -EBADF, args, &pid, &out);
                if (r < 0)
                        return vs_err(err, -r, "run %s", m->ssh);
                char text[65536];
                /* (remote_wait closes the fd it is given) */
                int keep = fcntl(out, F_DUPFD_CLOEXEC, 3);
                (void) remote_wait(pid, out, why, sizeof(why), &status);
                ssize_t n = keep >= 0 ? pread(keep, text, sizeof(text) - 1, 0) : -1;
                text[n > 0 ? n : 0] = '\0';
                safe_close(&keep);
                char *sep = strstr(text, MIG_ASK_SEP);
                if (status == 255 || !sep)
                        return vs_err_msg(err, EHOSTUNREACH, "%s cannot be asked: %s", m->host, why[0] ? why : "no answer");
                *sep = '\0';
                if (strstr(text, "no such instance"))
                        return vs_err_msg(err, ENOENT, MIG_ASK_ABSENT);
                json_t *info = json_loads(text, 0, NULL), *ops = json_loads(sep + strlen(MIG_ASK_SEP), 0, NULL);
                const char *state = json_string_value(json_object_get(info, "state"));
                bool running = state && streq(state, "running"), busy = false;
                /* imported by the move and never run there (a vsd that
                 * does not say so: taken as run) */
                bool incoming = json_is_true(json_object_get(info, "incoming"));
                size_t k;
                json_t *o;
                json_array_foreach(ops, k, o) {
                        const char *t = json_string_value(json_object_get(o, "target"));
                        const char *st = json_string_value(json_object_get(o, "state"));
                        if (t && st && streq(t, m->name) && streq(st, "running"))
                                busy = true;
                }
                json_decref(info);
                json_decref(ops);
                /* its daemon does not answer (restarting after its
                 * end, say): asked again, up to the deadline */
                if (!state && now_ms() > deadline)
                        return vs_err_msg(err, EPROTO, "%s gave no state of '%s'", m->host, m->name);
                if (!state) {
                        sleep(1);
                        continue;
                }
                /* post-copy: it runs there for good only once its pages'
                 * operation there has ended; a copy there that does not
                 * run stays, stopped, with its disk */
                if (m->lazy && !busy && (running || !m->intact))
                        return running ? 0 : -ENOENT;
                /* its processes intact here: run on here only when it
                 * never ran there (ran there, its TCP peers and its disk
                 * saw what this copy did not) */
                if (m->lazy && !busy && !incoming)
                        return vs_err_msg(err, ESTALE, "it ran on %s, which stopped it", m->host);
                if (running && !m->lazy)
                        return 0;
                if (!busy) {
                        /* imported, not restored, nothing under way: gone
                         * there (a restore starting meanwhile makes the
                         * destroy fail: asked again) */
                        char kill_script[200];
                        snprintf(kill_script, sizeof(kill_script), "vsctl destroy --force %s >/dev/null", m->name);
                        const char *const kargs[] = { kill_script, NULL };
                        if (remote_spawn(m, -EBADF, -EBADF, kargs, &pid, &out) >= 0 &&
                            remote_wait(pid, out, why, sizeof(why), &status) >= 0)
                                return vs_err_msg(err, ENOENT, MIG_ASK_ABSENT);
                }
                if (now_ms() > deadline)
                        return vs_err_msg(err, ETIMEDOUT, "%s has been busy with '%s' for %d s", m->host, m->name,
                                          MIG_ASK_SECONDS);
                sleep(1);
        }
}

static void rec_restore(struct instance *i, bool unlocked_mounts) {
        vs_error err = { 0 };
        if (ckpt_restore(i, unlocked_mounts, NULL, NULL, &err) < 0)
                log_err("Instance %s: not restored after its interrupted move: %s", i->cfg.name, err.msg);
        else
                log_info("Instance %s: restoring it, its live move interrupted by vsd's end", i->cfg.name);
}

static void intact_done(struct mig *m, int result, const vs_error *werr);

static void ask_done(void *userdata, int result, const vs_error *werr) {
        struct mig *m = userdata;
        struct instance *i = m->i;
        if (result < 0 && werr && streq(werr->msg, MIG_ASK_ABSENT))
                result = -ENOENT;
        set_busy(i, NULL, false);
        if (m->intact) {
                intact_done(m, result, werr);
                return;
        }
        (void) unlink(m->marker);
        if (result >= 0) {
                vs_error err = { 0 };
                if (inst_destroy(i, &err) < 0)
                        log_warn("Instance %s: it runs on %s, but its copy here stays: %s", m->name, m->host, err.msg);
                else
                        log_info("Instance %s: it runs on %s: its move, interrupted by vsd's end, is finished",
                                 m->name, m->host);
        } else if (m->lazy) {
                log_err("Instance %s: lost: its post-copy move to %s was interrupted by vsd's end, and it does not run "
                        "there (%s); it is stopped here, its disk as of the move",
                        m->name, m->host, result == -ENOENT ? "not there" : werr->msg);
                inst_emit(i, "migrate-lost", json_pack("{s:s}", "host", m->host));
        } else if (!m->live) {
                vs_error err = { 0 };
                if (result != -ENOENT)
                        log_warn("Instance %s: %s; started here", m->name, werr->msg);
                if (inst_start(i, &err) < 0)
                        log_err("Instance %s: not started again after its interrupted move: %s", m->name, err.msg);
                else
                        log_info("Instance %s: started again, its move interrupted by vsd's end", m->name);
        } else {
                if (result != -ENOENT)
                        log_warn("Instance %s: %s; restored here", m->name, werr->msg);
                rec_restore(i, m->unlocked_mounts);
        }
        mig_free(m);
}

/* Down and checkpointed: restored here, or first the target asked when
 * the archive may have gone. */
static void rec_settle(struct mig *m) {
        struct instance *i = m->i;
        vs_error err = { 0 };
        if (i->state != INST_CHECKPOINTED) {
                (void) unlink(m->marker);
                mig_free(m);
                return;
        }
        if (!m->maybe_sent) {
                (void) unlink(m->marker);
                rec_restore(i, m->unlocked_mounts);
                mig_free(m);
                return;
        }
        if (m->lazy && ckpt_discard(i, &err) < 0)
                log_warn("Instance %s: the checkpoint of its interrupted post-copy stays: %s", m->name, err.msg);
        if (work_start(i->vsd, m->work_id, ask_run, m, -EBADF, ask_done, m, &err) < 0) {
                vs_error e = err;
                ask_done(m, -EIO, &e);
                return;
        }
        set_busy(i, "its interrupted move is being settled", false);
        log_info("Instance %s: asking %s whether it runs there (its live move was interrupted by vsd's end)", m->name,
                 m->host);
}

static void rec_down(struct inst_waiter *w, int result, const vs_error *err) {
        struct mig *m = (struct mig *) ((char *) w - offsetof(struct mig, stopw));
        rec_settle(m);
}

/* A live move's record (text) read back: NULL when it is not one. */
static struct mig *rec_mig(struct instance *i, const char *text, const char *marker, bool *ret_sent, bool *ret_lazy) {
        json_auto_t *j = json_loads(text, 0, NULL);
        const char *host = json_string_value(json_object_get(j, "host"));
        const char *phase = json_string_value(json_object_get(j, "phase"));
        if (!host || !host_valid(host))
                return NULL;
        struct mig *m = calloc(1, sizeof(*m));
        if (!m)
                return NULL;
        m->i = i;
        m->go = m->ready = m->ps = -EBADF;
        m->live = true;
        snprintf(m->name, sizeof(m->name), "%s", i->cfg.name);
        snprintf(m->host, sizeof(m->host), "%s", host);
        snprintf(m->ssh, sizeof(m->ssh), "%s", i->vsd->set.migrate_ssh);
        snprintf(m->marker, sizeof(m->marker), "%s", marker);
        snprintf(m->work_id, sizeof(m->work_id), "migrate-%s", i->cfg.name);
        m->unlocked_mounts = json_is_true(json_object_get(j, "unlocked_mounts"));
        *ret_sent = phase && (streq(phase, "copy") || streq(phase, "postcopy"));
        *ret_lazy = phase && streq(phase, "postcopy");
        return m;
}

/* The processes, ended (ran there, or it could not be said): its checkpoint
 * lacks their memory; then as for any post-copy interrupted once sent. */
static void intact_down(struct inst_waiter *w, int result, const vs_error *err) {
        struct mig *m = (struct mig *) ((char *) w - offsetof(struct mig, stopw));
        vs_error derr = { 0 }, asked = m->asked_err;
        if (inst_has_checkpoint(m->i) && ckpt_discard(m->i, &derr) < 0)
                log_warn("Instance %s: the checkpoint of its interrupted post-copy stays: %s", m->name, derr.msg);
        m->intact = false;
        ask_done(m, m->asked, &asked);
}

/* The target's answer for a post-copy whose processes live here (frozen
 * while it was asked): never ran there (not there, or imported and never
 * run, then destroyed there): they run on here as they were; otherwise
 * they are ended, the move done or the instance lost as before. */
static void intact_done(struct mig *m, int result, const vs_error *werr) {
        struct instance *i = m->i;
        if (result == -ENOENT) {
                if (ckpt_recover_lazy(i, false) > 0)
                        log_info("Instance %s: it never ran on %s: its post-copy move, interrupted by vsd's end "
                                 "before the target ran it, is undone and it runs on here",
                                 m->name, m->host);
                (void) unlink(m->marker);
                mig_free(m);
                return;
        }
        m->asked = result;
        if (result < 0 && werr)
                m->asked_err = *werr;
        vs_error err = { 0 };
        i->stop_how = STOP_HOW_CHECKPOINT;
        m->stopw.done = intact_down;
        int k = inst_stop(i, 0, true, AFTER_STOP_NOTHING, &m->stopw, &err);
        if (k > 0)
                intact_down(&m->stopw, 0, NULL);
        else if (k < 0) {
                log_err("Instance %s: not ended after its interrupted post-copy: %s", m->name, err.msg);
                mig_free(m);
        }
}

/* A post-copy interrupted once the marker said "postcopy", its processes
 * still here with their memory (CRIU let them go when it died, before it
 * had ended them): frozen, and the target asked whether it ever ran
 * there (intact_done). */
static bool recover_postcopy_intact(struct instance *i, const char *text, const char *marker) {
        bool sent, lazy;
        struct mig *m = rec_mig(i, text, marker, &sent, &lazy);
        if (!m)
                return false;
        m->maybe_sent = m->lazy = m->intact = true;
        vs_error err = { 0 };
        if (cg_freeze(i->vsd->cg, m->name, true, &err) < 0)
                log_warn("Instance %s: %s, ignoring", m->name, err.msg);
        if (work_start(i->vsd, m->work_id, ask_run, m, -EBADF, ask_done, m, &err) < 0) {
                vs_error e = err;
                ask_done(m, -EIO, &e);
                return true;
        }
        set_busy(i, "its interrupted move is being settled", false);
        log_info("Instance %s: asking %s whether it ever ran there (its post-copy move was interrupted by vsd's end, "
                 "its processes are here)",
                 m->name, m->host);
        return true;
}

static void recover_live(struct instance *i, const char *text, const char *marker) {
        if (i->state != INST_CHECKPOINTED && i->state != INST_STOPPING) {
                (void) unlink(marker); /* running: the dump was undone (ckpt_recover) */
                return;
        }
        bool sent = false, lazy = false;
        struct mig *m = rec_mig(i, text, marker, &sent, &lazy);
        if (!m) {
                log_err("Instance %s: %s is not a move's record; restored here", i->cfg.name, marker);
                (void) unlink(marker);
                if (i->state == INST_CHECKPOINTED)
                        rec_restore(i, true);
                return;
        }
        m->maybe_sent = sent;
        /* post-copy: its checkpoint lacks the pages it was serving (and
         * the processes CRIU let go are gone or ended): the target has
         * it running, or it is lost */
        m->lazy = lazy;
        if (i->state == INST_CHECKPOINTED) {
                rec_settle(m);
                return;
        }
        /* being ended by ckpt_recover(), its dump in place */
        vs_error err = { 0 };
        m->stopw.done = rec_down;
        int k = inst_stop(i, 0, false, AFTER_STOP_NOTHING, &m->stopw, &err);
        if (k > 0)
                rec_down(&m->stopw, 0, NULL);
        else if (k < 0) {
                log_err("Instance %s: not restored after its interrupted move: %s", i->cfg.name, err.msg);
                mig_free(m);
        }
}

/* A cold move interrupted once the instance was down and its archive going
 * (phase "copy"): the target may have started it (its `vsctl start` does not
 * end with the session; the daemon killed after the target said so, before
 * the marker did): asked first, as after a live move (ask_run); running
 * there, the copy here goes; else it starts here.  < 0: not asked (no
 * record of the host, no helper): the caller starts it. */
static int recover_cold(struct instance *i, const char *text, const char *marker) {
        json_auto_t *j = json_loads(text, 0, NULL);
        const char *host = json_string_value(json_object_get(j, "host"));
        if (!host || !host_valid(host))
                return -EINVAL;
        struct mig *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->i = i;
        m->go = m->ready = m->ps = -EBADF;
        snprintf(m->name, sizeof(m->name), "%s", i->cfg.name);
        snprintf(m->host, sizeof(m->host), "%s", host);
        snprintf(m->ssh, sizeof(m->ssh), "%s", i->vsd->set.migrate_ssh);
        snprintf(m->marker, sizeof(m->marker), "%s", marker);
        snprintf(m->work_id, sizeof(m->work_id), "migrate-%s", i->cfg.name);
        vs_error err = { 0 };
        if (work_start(i->vsd, m->work_id, ask_run, m, -EBADF, ask_done, m, &err) < 0) {
                log_warn("Instance %s: %s; started here", m->name, err.msg);
                mig_free(m);
                return -EIO;
        }
        set_busy(i, "its interrupted move is being settled", false);
        log_info("Instance %s: asking %s whether it runs there (its move was interrupted by vsd's end)", m->name,
                 m->host);
        return 0;
}

void mig_recover(struct vsd *v) {
        for (size_t k = 0; k < v->n_inst;) {
                struct instance *i = v->inst[k];
                char marker[600];
                snprintf(marker, sizeof(marker), "%s/%s.migrating", v->set.run_dir, i->cfg.name);
                _cleanup_free_ char *text = NULL;
                if (vs_read_file(marker, 4096, &text, NULL) < 0) {
                        /* (a post-copy dump without its move's record
                         * never went anywhere) */
                        (void) ckpt_recover_lazy(i, false);
                        k++;
                        continue;
                }
                bool moved_ = strstr(text, "\"phase\":\"moved\"") != NULL;
                bool was_running = strstr(text, "\"was_running\":true") != NULL;
                bool live = strstr(text, "\"live\":true") != NULL;
                vs_error err = { 0 };
                if (!moved_ && live) {
                        /* a post-copy dump interrupted after its commit:
                         * its archive goes only once the marker says
                         * "postcopy" (committed_read); before, the
                         * processes run on here with their memory; after,
                         * they do when the target never ran it */
                        bool pc = strstr(text, "\"phase\":\"postcopy\"") != NULL;
                        if (pc && ckpt_lazy_held(i) && recover_postcopy_intact(i, text, marker)) {
                                k++;
                                continue;
                        }
                        (void) ckpt_recover_lazy(i, pc);
                        /* the record stays until it is settled */
                        recover_live(i, text, marker);
                        k++;
                        continue;
                }
                /* (the record stays until it is settled) */
                if (!moved_ && was_running && i->state == INST_STOPPED && strstr(text, "\"phase\":\"copy\"") &&
                    recover_cold(i, text, marker) >= 0) {
                        k++;
                        continue;
                }
                (void) unlink(marker);
                if (moved_ && inst_is_down(i)) {
                        /* the target confirmed it: this copy is the spare */
                        if (inst_destroy(i, &err) < 0) {
                                log_warn("Instance %s: moved before vsd's end, but its copy here stays: %s", i->cfg.name,
                                         err.msg);
                                k++;
                        } else
                                log_info("Instance %s: finished its move, interrupted by vsd's end", i->cfg.name);
                        continue; /* destroyed: the next one is at k now */
                }
                if (!moved_ && was_running && i->state == INST_STOPPED) {
                        if (inst_start(i, &err) < 0)
                                log_err("Instance %s: not started again after its interrupted move: %s", i->cfg.name,
                                        err.msg);
                        else
                                log_info("Instance %s: started again, its move interrupted by vsd's end", i->cfg.name);
                }
                k++;
        }
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A cold move to another host (migrate.h).  In the loop: stop the
 * instance (a waiter, as a stop request), then a helper (work.h) runs
 *
 *   SSH HOST 'vsctl import - && vsctl start NAME'   fed with the archive
 *
 * (the start when it ran here; `vsctl destroy --force NAME` there when the
 * start fails, so that nothing half is left),
 * with SSH the words of [migrate] ssh, each command's output kept in a
 * memfd for its last line (the target's reason).  Back in the loop the
 * local instance is destroyed, or started again.
 */
#include "vsd/inst/migrate.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/log.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/core/ops.h"
#include "vsd/core/work.h"
#include "vsd/inst/instance.h"
#include "vsd/inst/transfer.h"

#define HOST_MAX 128
#define SSH_WORDS 32

struct mig {
        struct instance *i;
        char name[VS_NAME_MAX + 1];
        char host[HOST_MAX];
        char ssh[256];
        char marker[600];
        bool was_running;
        bool checkpointed;
        uint64_t stop_ms;          /* when the stop was asked for (monotonic) */
        struct inst_waiter stopw;
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
        char text[300];
        int n = snprintf(text, sizeof(text), "{\"host\":\"%s\",\"was_running\":%s,\"phase\":\"%s\"}\n", m->host,
                         m->was_running ? "true" : "false", phase);
        int r = vs_write_atomic(m->marker, text, (size_t) n, 0600);
        if (r < 0)
                log_warn("Failed to write %s: %s, ignoring", m->marker, strerror(-r));
}

/* ---- in the helper ----------------------------------------------------------- */

/* Start SSH HOST args... with stdin from in (-1: /dev/null), its output
 * into a memfd (*ret_out). */
static int remote_spawn(struct mig *m, int in, const char *const *args, pid_t *ret_pid, int *ret_out) {
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
                if (dup2(in >= 0 ? in : null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
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

static int mig_run(void *arg, vs_error *err) {
        struct mig *m = arg;
        char why[512] = "", script[512];
        if (m->was_running)
                snprintf(script, sizeof(script),
                         "vsctl import - >/dev/null && { vsctl start %s || { vsctl destroy --force %s >/dev/null 2>&1; "
                         "exit 3; }; }",
                         m->name, m->name);
        else
                snprintf(script, sizeof(script), "vsctl import - >/dev/null");
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return vs_err(err, errno, "make a pipe");
        pid_t pid = -1;
        int out = -EBADF;
        const char *const args[] = { script, NULL };
        int r = remote_spawn(m, p[0], args, &pid, &out);
        close(p[0]);
        if (r < 0) {
                close(p[1]);
                return vs_err(err, -r, "run %s", m->ssh);
        }
        vs_error aerr = { 0 };
        int wr = xfer_write_archive(m->i, p[1], false, false, op_progress(m->op), &aerr);
        close(p[1]);
        int status = 0;
        r = remote_wait(pid, out, why, sizeof(why), &status);
        /* the target's reason first: its refusal is why the pipe broke */
        if (r < 0 && status == 3)
                return vs_err_msg(err, EIO, "%s did not start it: %s", m->host, why);
        if (r < 0)
                return vs_err_msg(err, EIO, "%s did not take it: %s", m->host, why);
        if (wr < 0) {
                *err = aerr;
                return wr;
        }
        /* from here on the target has it: a daemon killed now leaves the
         * local copy to be removed, not started */
        marker_write(m, "moved");
        return 0;
}

/* ---- in the loop ------------------------------------------------------------- */

static void mig_free(struct mig *m) {
        free(m);
}

static void mig_done(void *userdata, int result, const vs_error *werr) {
        struct mig *m = userdata;
        struct instance *i = m->i;
        vs_error err = { 0 };
        i->busy[0] = '\0';
        if (result >= 0) {
                uint64_t down = now_ms() - m->stop_ms;
                op_set_detail(m->op, "downtime_ms", (int64_t) down);
                log_info("Instance %s moved to %s (down for %llu ms)", m->name, m->host, (unsigned long long) down);
                inst_emit(i, "migrated", json_pack("{s:s, s:I}", "host", m->host, "downtime_ms", (json_int_t) down));
                vs_error derr = { 0 };
                if (inst_destroy(i, &derr) < 0)
                        log_warn("Instance %s: moved, but its copy here stays: %s", m->name, derr.msg);
                (void) unlink(m->marker);
                op_finish(m->op, 0, NULL);
                mig_free(m);
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
        snprintf(i->busy, sizeof(i->busy), "%s", "it is being moved to another host");
        int r = inst_release_disk(i, &err);
        if (r >= 0)
                r = work_start(i->vsd, m->work_id, mig_run, m, -EBADF, mig_done, m, &err);
        if (r < 0)
                mig_done(m, r, &err);
        else
                op_set_cancel(m->op, op_cancel_cb, m);
}

static void on_stopped(struct inst_waiter *w, int result, const vs_error *err) {
        struct mig *m = (struct mig *) ((char *) w - offsetof(struct mig, stopw));
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

int mig_start(struct instance *i, const char *host, struct op **ret_op, vs_error *err) {
        struct vsd *v = i->vsd;
        if (!host_valid(host))
                return vs_err_msg(err, EINVAL, "invalid host '%.60s': an ssh destination, [user@]host", host);
        if (i->state == INST_BROKEN)
                return vs_err_msg(err, EINVAL, "instance '%s' is broken: %s", i->cfg.name, i->error);
        if (inst_check_idle(i, err) < 0)
                return -EBUSY;
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
        int r = op_begin(v, "migrate", i->cfg.name, host, &m->op, err);
        if (r < 0) {
                mig_free(m);
                return r;
        }
        /* for the next daemon, should this one die before the end */
        marker_write(m, "copy");
        m->stop_ms = now_ms();
        if (ret_op)
                *ret_op = m->op;
        if (!m->was_running) {
                copy_begin(m);
                return 0;
        }
        m->stopw.done = on_stopped;
        r = inst_stop(i, 0, false, AFTER_STOP_NOTHING, &m->stopw, err);
        if (r > 0)
                on_stopped(&m->stopw, 0, NULL);
        else if (r < 0) {
                (void) unlink(m->marker);
                op_finish(m->op, r, err);
                mig_free(m);
                if (ret_op)
                        *ret_op = NULL;
                return vs_err_prefix(err, "Failed to move '%s'", i->cfg.name);
        }
        return 0;
}

/* ---- after a crash ---------------------------------------------------------- */

void mig_recover(struct vsd *v) {
        for (size_t k = 0; k < v->n_inst;) {
                struct instance *i = v->inst[k];
                char marker[600];
                snprintf(marker, sizeof(marker), "%s/%s.migrating", v->set.run_dir, i->cfg.name);
                _cleanup_free_ char *text = NULL;
                if (vs_read_file(marker, 4096, &text, NULL) < 0) {
                        k++;
                        continue;
                }
                bool moved = strstr(text, "\"phase\":\"moved\"") != NULL;
                bool was_running = strstr(text, "\"was_running\":true") != NULL;
                vs_error err = { 0 };
                (void) unlink(marker);
                if (moved && inst_is_down(i)) {
                        /* the target confirmed it: this copy is the spare */
                        if (inst_destroy(i, &err) < 0) {
                                log_warn("Instance %s: moved before vsd's end, but its copy here stays: %s", i->cfg.name,
                                         err.msg);
                                k++;
                        } else
                                log_info("Instance %s: finished its move, interrupted by vsd's end", i->cfg.name);
                        continue; /* destroyed: the next one is at k now */
                }
                if (!moved && was_running && i->state == INST_STOPPED) {
                        if (inst_start(i, &err) < 0)
                                log_err("Instance %s: not started again after its interrupted move: %s", i->cfg.name,
                                        err.msg);
                        else
                                log_info("Instance %s: started again, its move interrupted by vsd's end", i->cfg.name);
                }
                k++;
        }
}

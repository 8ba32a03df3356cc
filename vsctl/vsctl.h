/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the vsctl subcommands share: the context from the global options,
 * the command table, and the helpers for options, requests and output. */

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "base/util.h"

/* Exit statuses (see doc/vsctl.8). */
enum {
        VSCTL_EXIT_OK = 0,
        VSCTL_EXIT_FAILURE = 1,
        VSCTL_EXIT_USAGE = 2,
        /* exec only, as shells do: the command exists but cannot run, or
         * does not exist. */
        VSCTL_EXIT_CANNOT_RUN = 126,
        VSCTL_EXIT_NOT_FOUND = 127,
};

struct vsctl {
        const char *socket; /* --socket, $VSD_SOCKET or the default */
        bool json;          /* --json: print the daemon's JSON */
        bool may_wait;      /* the next call may take longer than --timeout
                             * (waits for an instance to halt): see http_call() */
};

struct vsctl_command {
        const char *name;
        /* argv[0] is the command name; returns the exit status */
        int (*fn)(struct vsctl *ctx, int argc, char **argv);
        const char *summary; /* one line for the command list */
        const char *usage;   /* the arguments after the command name */
        const char *options; /* option lines for 'vsctl help CMD', or NULL */
};

int cmd_create(struct vsctl *ctx, int argc, char **argv);
int cmd_start(struct vsctl *ctx, int argc, char **argv);
int cmd_stop(struct vsctl *ctx, int argc, char **argv);
int cmd_restart(struct vsctl *ctx, int argc, char **argv);
int cmd_pause(struct vsctl *ctx, int argc, char **argv);
int cmd_resume(struct vsctl *ctx, int argc, char **argv);
int cmd_destroy(struct vsctl *ctx, int argc, char **argv);
int cmd_list(struct vsctl *ctx, int argc, char **argv);
int cmd_info(struct vsctl *ctx, int argc, char **argv);
int cmd_exec(struct vsctl *ctx, int argc, char **argv);
int cmd_console(struct vsctl *ctx, int argc, char **argv);
int cmd_set(struct vsctl *ctx, int argc, char **argv);
int cmd_stats(struct vsctl *ctx, int argc, char **argv);
int cmd_events(struct vsctl *ctx, int argc, char **argv);
int cmd_template(struct vsctl *ctx, int argc, char **argv);
int cmd_templates(struct vsctl *ctx, int argc, char **argv);
int cmd_version(struct vsctl *ctx, int argc, char **argv);
int cmd_help(struct vsctl *ctx, int argc, char **argv);
int cmd_snapshot(struct vsctl *ctx, int argc, char **argv);
int cmd_checkpoint(struct vsctl *ctx, int argc, char **argv);
int cmd_restore(struct vsctl *ctx, int argc, char **argv);
int cmd_snapshots(struct vsctl *ctx, int argc, char **argv);
int cmd_delete_snapshot(struct vsctl *ctx, int argc, char **argv);
int cmd_restore_snapshot(struct vsctl *ctx, int argc, char **argv);
int cmd_clone(struct vsctl *ctx, int argc, char **argv);
int cmd_op(struct vsctl *ctx, int argc, char **argv);
int cmd_export(struct vsctl *ctx, int argc, char **argv);
int cmd_import(struct vsctl *ctx, int argc, char **argv);
int cmd_receive_pages(struct vsctl *ctx, int argc, char **argv);
int cmd_migrate(struct vsctl *ctx, int argc, char **argv);

/* cmd_op.c */

/* Follow operation id to its end, its progress on stderr (what: how the
 * progress lines name it); *ret: its last JSON (ended). */
int vsctl_op_follow(struct vsctl *ctx, const char *id, const char *what, json_t **ret, vs_error *err);
/* 0 when the ended operation op succeeded, else < 0 with its error. */
int vsctl_op_result(json_t *op, vs_error *err);
/* POST base?detach=1 with body (both taken, as vsctl_call takes them): an
 * operation.  With detach its id is printed (the operation itself with
 * --json): 1.  Else it is followed to a successful end (what: as for
 * vsctl_op_follow): 0, *ret_final its last JSON.  < 0 with err filled. */
int vsctl_op_post(struct vsctl *ctx, char *base, json_t *body, bool detach, const char *what, json_t **ret_final,
                  vs_error *err);

/* main.c */

/* The command table (NULL-terminated) and a lookup in it. */
extern const struct vsctl_command vsctl_commands[];
const struct vsctl_command *vsctl_find_command(const char *name);

/* Print "vsctl: <cmd>: <msg>. Try 'vsctl help <cmd>'." (one line) to
 * stderr; returns VSCTL_EXIT_USAGE. */
int vsctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* vsctl/cmd_import.c: FILE ("-": standard input) passed to vsd at path and
 * the operation it starts (what) followed to its end: 0 with *ret_final,
 * else the exit status, its message said. */
int vsctl_pass_archive(struct vsctl *ctx, const char *cmd, const char *file, const char *path, const char *what,
                       json_t **ret_final);

/* Report getopt_long()'s '?' or ':' (optstrings start with ':') as a usage
 * error. */
int vsctl_option_error(const char *cmd, int c, char **argv);

/* Print the usage of one command to f. */
void vsctl_print_usage(FILE *f, const char *cmd);

/* Print "vsctl: <msg>" for a failure; returns VSCTL_EXIT_FAILURE. */
int vsctl_fail(const vs_error *err);

/* getopt_long() with what every command shares folded in: -h/--help
 * prints the usage, --json (VSCTL_LONGOPT_JSON in longopts) sets ctx->json,
 * unknown options and missing values become usage errors.  shortopts must
 * start with ':' and hold 'h'; main() resets optind before each command.
 * Returns the command's own option character, -1 at the end, or -2 with
 * *ret_exit set when the command must exit now. */
#define VSCTL_OPT_JSON 0x100
#define VSCTL_LONGOPT_HELP { "help", no_argument, NULL, 'h' }
#define VSCTL_LONGOPT_JSON { "json", no_argument, NULL, VSCTL_OPT_JSON }
int vsctl_getopt(struct vsctl *ctx, int argc, char **argv, const char *shortopts, const struct option *longopts,
                 int *ret_exit);

/* Check the positional arguments: at least min and at most max (-1: any)
 * after optind.  Returns 0 or prints the usage error and returns
 * VSCTL_EXIT_USAGE. */
int vsctl_check_args(const char *cmd, int argc, char **argv, int min, int max);

/* "/v1/instances/<name>[/<action>]" with the name escaped; NULL on ENOMEM. */
char *vsctl_instance_path(const char *name, const char *action);

/* A request to the daemon.  path (malloc'd; NULL means out of memory) and
 * body are consumed, so that calls can build them inline. */
int vsctl_call(struct vsctl *ctx, const char *method, char *path, json_t *body, json_t **ret, vs_error *err);

/* GET path (taken as by vsctl_call), whose answer must be a JSON array of
 * what ("instances"): anything else is EBADMSG. */
int vsctl_get_list(struct vsctl *ctx, char *path, const char *what, json_t **ret, vs_error *err);

/* A value typed by the user for the daemon to validate: plain numbers go
 * as JSON numbers (integer or real as the API documents the field), all
 * else as the string itself, unchanged. */
json_t *vsctl_json_value(const char *s, bool real);

/* body[key] = v (v is consumed); false when v is NULL, which is what
 * json_string() gives for text that is not UTF-8. */
bool vsctl_set(json_t *body, const char *key, json_t *v);

/* A command of the form "vsctl ACTION NAME [--json]" that POSTs
 * /v1/instances/NAME/ACTION and prints the instance (pause, resume). */
int vsctl_instance_action(struct vsctl *ctx, int argc, char **argv, const char *action);

/* The limit options create and set share: one table, one handler. */
enum {
        VSCTL_OPT_MEMORY = 0x180,
        VSCTL_OPT_CPUS,
        VSCTL_OPT_PIDS,
        VSCTL_OPT_STOP_TIMEOUT,
        VSCTL_OPT_MEMORY_SOFT,
        VSCTL_OPT_SWAP,
        VSCTL_OPT_CPU_WEIGHT,
        VSCTL_OPT_CPUSET,
        VSCTL_OPT_IO_READ_BPS,
        VSCTL_OPT_IO_WRITE_BPS,
        VSCTL_OPT_IO_READ_IOPS,
        VSCTL_OPT_IO_WRITE_IOPS,
        VSCTL_OPT_NOFILE,
        VSCTL_OPT_IO_WEIGHT,
        VSCTL_OPT_RLIMIT,
        VSCTL_OPT_NET,
        VSCTL_OPT_IP,
        VSCTL_OPT_FORWARD,
        VSCTL_OPT_RATE_IN,
        VSCTL_OPT_RATE_OUT,
        VSCTL_OPT_ISOLATED,
        VSCTL_OPT_NAMESERVER,
        VSCTL_OPT_DISK,
        VSCTL_OPT_INODES,
        VSCTL_OPT_STORAGE,
        VSCTL_OPT_ONBOOT,
        VSCTL_OPT_BOOT_PRIORITY,
        VSCTL_OPT_BOOT_DELAY,
};
#define VSCTL_LONGOPTS_LIMITS                                                    \
        { "memory", required_argument, NULL, VSCTL_OPT_MEMORY },                 \
        { "cpus", required_argument, NULL, VSCTL_OPT_CPUS },                     \
        { "pids", required_argument, NULL, VSCTL_OPT_PIDS },                     \
        { "stop-timeout", required_argument, NULL, VSCTL_OPT_STOP_TIMEOUT },     \
        { "memory-soft", required_argument, NULL, VSCTL_OPT_MEMORY_SOFT },       \
        { "swap", required_argument, NULL, VSCTL_OPT_SWAP },                     \
        { "cpu-weight", required_argument, NULL, VSCTL_OPT_CPU_WEIGHT },         \
        { "cpuset", required_argument, NULL, VSCTL_OPT_CPUSET },                 \
        { "io-read-bps", required_argument, NULL, VSCTL_OPT_IO_READ_BPS },       \
        { "io-write-bps", required_argument, NULL, VSCTL_OPT_IO_WRITE_BPS },     \
        { "io-read-iops", required_argument, NULL, VSCTL_OPT_IO_READ_IOPS },     \
        { "io-write-iops", required_argument, NULL, VSCTL_OPT_IO_WRITE_IOPS },   \
        { "nofile", required_argument, NULL, VSCTL_OPT_NOFILE },                 \
        { "io-weight", required_argument, NULL, VSCTL_OPT_IO_WEIGHT },           \
        { "rlimit", required_argument, NULL, VSCTL_OPT_RLIMIT },                 \
        { "net", required_argument, NULL, VSCTL_OPT_NET },                       \
        { "ip", required_argument, NULL, VSCTL_OPT_IP },                         \
        { "forward", required_argument, NULL, VSCTL_OPT_FORWARD },               \
        { "rate-in", required_argument, NULL, VSCTL_OPT_RATE_IN },               \
        { "rate-out", required_argument, NULL, VSCTL_OPT_RATE_OUT },             \
        { "isolated", required_argument, NULL, VSCTL_OPT_ISOLATED },             \
        { "nameserver", required_argument, NULL, VSCTL_OPT_NAMESERVER },         \
        { "disk", required_argument, NULL, VSCTL_OPT_DISK },                     \
        { "inodes", required_argument, NULL, VSCTL_OPT_INODES },                 \
        { "storage", required_argument, NULL, VSCTL_OPT_STORAGE },               \
        { "onboot", required_argument, NULL, VSCTL_OPT_ONBOOT },                 \
        { "boot-priority", required_argument, NULL, VSCTL_OPT_BOOT_PRIORITY },   \
        { "boot-delay", required_argument, NULL, VSCTL_OPT_BOOT_DELAY }
/* If c is one of VSCTL_LONGOPTS_LIMITS, put its value into body and return
 * 1 (or -1 when the value is not valid UTF-8); 0 for any other option.
 * A repeatable option (--rlimit) adds to the comma list already there. */
int vsctl_limit_option(json_t *body, int c, const char *arg);

/* The common tail of the mutating commands: print the answer with --json. */
int vsctl_done(struct vsctl *ctx, json_t *answer);

/* output.c */

/* Print JSON pretty (indent 2) on stdout, followed by a newline. */
int out_json(json_t *j);

/* Sizes as people read them: exact units when exact ("256M"), else one
 * decimal below 10 ("1.5G", "12M"); plain bytes below 1 KiB. */
void out_size(uint64_t bytes, char *buf, size_t len);

/* Durations: "45s", "3m12s", "2h05m", "3d04h". */
void out_duration(uint64_t seconds, char *buf, size_t len);

/* CPU time from nanoseconds: "0.12s", "45.3s", then like out_duration(). */
void out_cpu_time(uint64_t ns, char *buf, size_t len);

/* A CPU amount without noise: 0.5 -> "0.5", 2.0 -> "2". */
void out_cpus(double cpus, char *buf, size_t len);

/* Typed getters that tolerate a missing or mistyped field (0 / ""). */
uint64_t out_get_u64(json_t *obj, const char *key);
double out_get_double(json_t *obj, const char *key);
const char *out_get_str(json_t *obj, const char *key);
bool out_has(json_t *obj, const char *key);

/* A table built in memory and printed at once, so that a failure half-way
 * never leaves half a table behind.  Columns are separated by two spaces;
 * the last one is not padded. */
struct out_table;
/* headers may be NULL for a table without a header line. */
struct out_table *out_table_new(size_t ncols, const char *const *headers);
/* Append one row of ncols cells (copied). */
int out_table_add(struct out_table *t, const char *const *cells);
/* Right-align column col (numbers). */
void out_table_align_right(struct out_table *t, size_t col);
void out_table_print(struct out_table *t, FILE *f);
void out_table_free(struct out_table *t);
static inline void out_table_freep(struct out_table **t) {
        out_table_free(*t);
}
#define _cleanup_table_ __attribute__((cleanup(out_table_freep)))

/* tty.c */

#include <termios.h>

struct tty_state {
        int fd;
        bool raw;
        struct termios saved;
};

/* Put fd in raw mode when it is a terminal, remembering how it was.  The
 * lines and end-of-files (as the VEOF character) the terminal held in
 * canonical mode go to pending (up to cap bytes, *ret_len of them; pending
 * may be NULL), to be relayed before anything read raw (tty.c says why). */
int tty_raw(int fd, struct tty_state *st, char *pending, size_t cap, size_t *ret_len);
/* Undo tty_raw(); safe to call more than once. */
void tty_restore(struct tty_state *st);
/* Copy the window size of terminal from to the pty master to. */
void tty_copy_winsize(int from, int to);
/* write() all of buf, retrying on EINTR and waiting on EAGAIN. */
int tty_write_all(int fd, const void *buf, size_t n);
/* A signalfd for SIGWINCH and the signals that end vsctl, with those
 * blocked, so that the relay loops restore the terminal before exiting. */
int tty_signalfd(void);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vsctl: the command line client of vsd.  This file parses the global
 * options and dispatches to one file per command (cmd_*.c); what the
 * commands share lives here too.  Startup does nothing that not every
 * command needs: vsctl runs once per operation in scripts.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/parse.h"
#include "base/proto.h"
#include "base/util.h"
#include "vsctl/http.h"
#include "vsctl/vsctl.h"

const struct vsctl_command vsctl_commands[] = {
        { "create", cmd_create, "Create an instance", "NAME [OPTIONS]",
          "  --template T        template to build from (default " VS_DEFAULT_TEMPLATE ")\n"
          "  --memory SIZE       memory limit, e.g. 256M, 1G (default: vsd.conf's\n"
          "                      [defaults], 512M; unlimited for none)\n"
          "  --cpus N            CPU limit, e.g. 0.5, 2, 150% (default 1)\n"
          "  --pids N            limit on the number of processes (default 1024)\n"
          "  --memory-soft SIZE  soft memory limit, reclaimed down to under pressure\n"
          "  --swap SIZE         swap allowed on top of --memory (default none)\n"
          "  --cpu-weight N      relative CPU share 1-10000 (default 100)\n"
          "  --cpuset LIST       CPUs it may run on, e.g. 0-1,3\n"
          "  --io-read-bps DEV=RATE, --io-write-bps DEV=RATE\n"
          "                      disk throughput cap per device, e.g. /dev/vda=10M\n"
          "  --io-read-iops DEV=N, --io-write-iops DEV=N\n"
          "                      disk operations per second per device\n"
          "  --io-weight N       relative disk share 1-10000 (default 100; needs a\n"
          "                      weight-capable I/O scheduler on the host)\n"
          "  --nofile N          open files per process (soft and hard limit)\n"
          "  --rlimit NAME=SOFT[:HARD]\n"
          "                      another rlimit of init and exec'd commands, e.g.\n"
          "                      core=0, nproc=4096, memlock=64M, stack=8M:unlimited;\n"
          "                      repeatable\n"
          "  --stop-timeout DUR  how long a stop waits before killing, e.g. 30s, 2m\n"
          "  --onboot yes|no|auto\n"
          "                      start it when the host has booted: always, never, or\n"
          "                      when it was running as the host went down (auto, the\n"
          "                      default)\n"
          "  --boot-priority N   instances with a higher one start first (default 0)\n"
          "  --boot-delay DUR    after starting it at boot, wait this long before the\n"
          "                      next (default 0)\n"
          "  --net MODE          bridge (default), routed or none\n"
          "  --ip ADDR[/LEN]     an address of eth0, IPv4 or IPv6; repeatable; default:\n"
          "                      the next free one of the pool\n"
          "  --forward [PROTO:]HOSTPORT:PORT\n"
          "                      forward a host port to the instance, e.g. tcp:8080:80;\n"
          "                      repeatable\n"
          "  --rate-in RATE, --rate-out RATE\n"
          "                      bandwidth to and from the instance, e.g. 10mbit\n"
          "  --isolated yes|no   no traffic with the other instances on the bridge\n"
          "  --nameserver ADDR   its /etc/resolv.conf (default: the daemon's); repeatable\n"
          "  --storage BACKEND   image (its own filesystem with a quota; the default) or\n"
          "                      dir (plain directories, no quota)\n"
          "  --disk SIZE         disk size of an image instance, e.g. 10G (default: the\n"
          "                      daemon's default_disk)\n"
          "  --inodes N          files and directories it can hold (default: one per\n"
          "                      16K of disk); fixed once created\n"
          "  --start             start the instance once created\n"
          "  --json              print the new instance as JSON\n" },
        { "start", cmd_start, "Start instances", "NAME...", "  --json              print the instances as JSON\n" },
        { "stop", cmd_stop, "Stop an instance", "NAME [--timeout DUR] [--kill]",
          "  --timeout DUR       wait this long for a clean halt, then kill\n"
          "  --kill              kill at once instead of asking init to halt\n"
          "  --json              print the instance as JSON\n" },
        { "restart", cmd_restart, "Stop and start an instance", "NAME [--timeout DUR]",
          "  --timeout DUR       wait this long for a clean halt, then kill\n"
          "  --json              print the instance as JSON\n" },
        { "pause", cmd_pause, "Freeze all processes of an instance", "NAME",
          "  --json              print the instance as JSON\n" },
        { "resume", cmd_resume, "Thaw a paused instance", "NAME", "  --json              print the instance as JSON\n" },
        { "destroy", cmd_destroy, "Delete an instance and its private data", "NAME [--force]",
          "  -f, --force         stop (or kill) the instance first if it runs\n" },
        { "list", cmd_list, "List instances", "[--json]", "  --json              print the daemon's JSON\n" },
        { "info", cmd_info, "Show one instance", "NAME [--json]", "  --json              print the daemon's JSON\n" },
        { "exec", cmd_exec, "Run a command inside an instance", "NAME [-t] [-e K=V]... [--] CMD [ARG...]",
          "  -t, --tty           give the command a terminal (for interactive use)\n"
          "  -e, --env K=V       set an environment variable; repeatable\n"
          "vsctl exits with the command's exit status.\n" },
        { "console", cmd_console, "Attach to the console of an instance; Ctrl-] detaches", "NAME", NULL },
        { "set", cmd_set, "Change the limits and network of an instance, live when it runs",
          "NAME [--memory SIZE] [--cpus N] [--pids N] [--memory-soft SIZE] [--swap SIZE] [--cpu-weight N] "
          "[--cpuset LIST] [--io-weight N] [--nofile N] [--rlimit NAME=SOFT[:HARD]]... [--stop-timeout DUR] "
          "[--ip ADDR]... [--forward SPEC]... [--no-forward SPEC]... [--rate-in RATE] [--rate-out RATE] [--disk SIZE] "
          "[--onboot yes|no|auto] [--boot-priority N] [--boot-delay DUR]",
          "  --memory SIZE       memory limit; 0 removes it\n"
          "  --cpus N            CPU limit; 0 removes it\n"
          "  --pids N            process limit; 0 removes it\n"
          "  --memory-soft SIZE  soft memory limit; 0 removes it\n"
          "  --swap SIZE         swap on top of the memory limit; 0 for none\n"
          "  --cpu-weight N      relative CPU share 1-10000; 0 for the default (100)\n"
          "  --cpuset LIST       CPUs it may run on; \"all\" for every CPU\n"
          "  --io-read-bps DEV=RATE, --io-write-bps DEV=RATE, --io-read-iops DEV=N,\n"
          "  --io-write-iops DEV=N  per-device disk caps; \"none\" removes them\n"
          "  --io-weight N       relative disk share 1-10000; 0 for the default (100)\n"
          "  --nofile N          open files per process from the next start or exec\n"
          "  --rlimit NAME=SOFT[:HARD]\n"
          "                      set one rlimit (NAME=default drops it); init gets it\n"
          "                      at once, exec'd and new processes inherit it;\n"
          "                      repeatable\n"
          "  --stop-timeout DUR  how long a stop waits before killing\n"
          "  --onboot yes|no|auto\n"
          "                      start it when the host has booted: always, never, or\n"
          "                      when it was running as the host went down (auto)\n"
          "  --boot-priority N   instances with a higher one start first after a boot\n"
          "  --boot-delay DUR    after starting it at boot, wait this long before the next\n"
          "  --ip ADDR[/LEN]     replace eth0's addresses (live); repeatable; \"auto\":\n"
          "                      the next free one of the pool\n"
          "  --forward [PROTO:]HOSTPORT:PORT\n"
          "                      add a port forward (live); \"none\" removes them all\n"
          "  --no-forward [PROTO:]HOSTPORT:PORT\n"
          "                      remove one port forward\n"
          "  --rate-in RATE, --rate-out RATE\n"
          "                      bandwidth caps (live); 0 removes one\n"
          "  --isolated yes|no   isolate it from the other instances on the bridge\n"
          "  --net MODE          bridge, routed or none (while stopped)\n"
          "  --nameserver ADDR   its /etc/resolv.conf from the next start; repeatable\n"
          "  --disk SIZE         grow the disk (live when it runs); disks never shrink\n"
          "  --json              print the instance as JSON\n" },
        { "stats", cmd_stats, "Show resource usage", "[NAME] [--sort FIELD] [--json]",
          "  --sort FIELD        without NAME: sort by name, cpu, mem, mem%, pids, swap,\n"
          "                      throttled, io, net or disk (biggest first)\n"
          "  --json              print the daemon's JSON\n" },
        { "events", cmd_events, "Show what happens to instances: OOM kills, starts, stops, ...",
          "[NAME] [--since SEQ | --past] [--follow | --no-follow] [--json]",
          "  --since SEQ         first show the kept events after sequence number SEQ\n"
          "  --past              show every kept event (vsd keeps the last 1000, across\n"
          "                      restarts), then end\n"
          "  --follow            with --past: then wait for new events too\n"
          "  --no-follow         end after the kept events instead of waiting for new\n"
          "                      ones (alone: every kept event)\n"
          "  --json              print each event as the daemon's JSON line\n"
          "Without --past or --no-follow vsctl waits for events until interrupted or vsd\n"
          "stops.\n" },
        { "template", cmd_template, "Build, list and remove templates",
          "list [--json] | build NAME [--from BUILDER] [--detach] [--json] | remove NAME |\n"
          "info NAME [--json] | import FILE [--json]",
          "  list                the templates: name, os, instances using it, size\n"
          "  build NAME          build (or rebuild, when no instance uses it) template\n"
          "                      NAME, showing the builder's progress\n"
          "  --from BUILDER      the builder (default from NAME: debian-12 -> debian)\n"
          "  --detach            print the build's operation id and return ('vsctl op')\n"
          "  remove NAME         remove a template no instance uses\n"
          "  info NAME           one template, with its content id (its identity)\n"
          "  import FILE         a template's archive, as a move sends it ('-': stdin);\n"
          "                      a template of that name is never replaced\n"
          "  --json              print the daemon's JSON (build: its JSON lines)\n" },
        { "templates", cmd_templates, "List the templates (as 'template list')", "[--json]",
          "  --json              print the daemon's JSON\n" },
        { "version", cmd_version, "Show the client and daemon versions", "[--json]",
          "  --json              print the versions as JSON\n" },
        { "snapshot", cmd_snapshot, "Copy the private layer of an instance into a snapshot", "NAME SNAP",
          "A running instance is frozen for the time of the copy.  vsctl waits for the\n"
          "copy and shows its progress on stderr.\n"
          "  --detach            print the operation's id and return at once ('vsctl op')\n"
          "  --json              print the answer as JSON\n" },
        { "snapshots", cmd_snapshots, "List the snapshots of an instance", "NAME [--json]",
          "  --json              print the daemon's JSON\n" },
        { "restore-snapshot", cmd_restore_snapshot, "Put a snapshot back as the private layer (stopped only)",
          "NAME SNAP",
          "  --detach            print the operation's id and return at once ('vsctl op')\n"
          "  --json              print the instance as JSON\n" },
        { "delete-snapshot", cmd_delete_snapshot, "Delete a snapshot", "NAME SNAP", NULL },
        { "clone", cmd_clone, "Create an instance from a copy of another one's private layer and settings",
          "SRC DST [--start]",
          "DST gets its own name, MAC, pool address and /etc/machine-id; SRC's fixed\n"
          "addresses and port forwards are not copied.  A running SRC is frozen for the\n"
          "time of the copy.\n"
          "  --start             start the clone once created\n"
          "  --detach            print the operation's id and return at once ('vsctl op')\n"
          "  --json              print the new instance as JSON\n" },
        { "checkpoint", cmd_checkpoint, "Save a running instance's processes to disk with CRIU",
          "NAME [--leave-running | --discard]",
          "The instance stops, its processes, memory, sockets and console saved under its\n"
          "directory; it shows as checkpointed until 'vsctl restore' brings it back.\n"
          "  --leave-running     the instance runs on; the checkpoint is kept\n"
          "  --discard           remove the instance's checkpoint\n"
          "  --detach            print the operation's id and return at once ('vsctl op')\n"
          "  --json              print the instance as JSON\n" },
        { "restore", cmd_restore, "Bring a checkpointed instance back from its checkpoint", "NAME [--unlocked-mounts]",
          "Its processes resume where the checkpoint left them, with the same address,\n"
          "MAC, limits and console; the checkpoint is consumed.\n"
          "  --unlocked-mounts   restore an unprivileged instance although its root may then\n"
          "                      unmount its masked paths until its next start (refused\n"
          "                      without it)\n"
          "  --detach            print the operation's id and return at once ('vsctl op')\n"
          "  --json              print the instance as JSON\n" },
        { "export", cmd_export, "Write a stopped or checkpointed instance into an archive", "NAME FILE",
          "FILE (\"-\": standard output) becomes a tar archive, manifest.json first, that\n"
          "'vsctl import' brings back here or on another host: the settings, the private\n"
          "layer (an image by its data only), the checkpoint, the template's identity.\n"
          "  --snapshots         include the instance's snapshots\n"
          "  --zstd              compress the archive with zstd\n"
          "  --json              print the ended operation as JSON\n" },
        { "import", cmd_import, "Create an instance from an archive of 'vsctl export'", "FILE [--name NEW]",
          "FILE (\"-\": standard input) is checked before anything is made: the name and\n"
          "addresses free here, the template here and identical, the sizes, every member.\n"
          "The instance gets a block of host ids of its own; prints its name.\n"
          "  --name NEW          import as NEW: a copy with its own name, MAC, pool address,\n"
          "                      filesystem UUID and machine-id (not for a checkpoint)\n"
          "  --json              print the new instance as JSON\n" },
        { "migrate", cmd_migrate, "Move an instance to another vsd host over ssh",
          "NAME HOST [--cold | --live [--unlocked-mounts] [--no-page-server]] [--no-precopy] [--no-send-template]",
          "HOST is an ssh destination ([user@]host) where vsctl talks to that host's vsd.\n"
          "Cold: a running instance's disk (image or directory layer) is sent into\n"
          "'vsctl import -' there while it runs, then it is stopped and only what changed\n"
          "goes; it is started there with the same name, addresses, MAC and limits, then\n"
          "removed here; prints how long it was down, the whole move's time and the\n"
          "bytes sent.  The progress names the phase (pre-copy, stopping, final\n"
          "copy, starting on target; live: pre-copy, checkpoint, final copy, restore on\n"
          "target).  Live: checkpointed instead of stopped and restored there, its\n"
          "processes, memory and TCP connections kept; its disk goes while it runs and\n"
          "after the dump only what changed; prints how long it was frozen and the disk's\n"
          "bytes sent before and after the dump; its memory goes to the target's CRIU page server\n"
          "while it is dumped (over a second ssh session), or with the archive when the\n"
          "target cannot take it so; where this host's kernel tracks dirty memory and the\n"
          "target takes it, pre-dump passes send it while it runs and the dump only what\n"
          "changed (progress: precopy-memory).  On any failure it runs here again and the\n"
          "target keeps nothing of it.  A target without the instance's template gets it\n"
          "first (before anything stops); one with another build of it refuses.\n"
          "  --cold              a cold move (the default)\n"
          "  --no-precopy        cold: stop it first and send the whole disk; live: the\n"
          "                      whole disk after the dump, and no memory pre-copy (one\n"
          "                      dump sends all its memory)\n"
          "  --live              a live move (CRIU; a running instance)\n"
          "  --unlocked-mounts   live, unprivileged: accept its restore there with unlocked\n"
          "                      mounts, as 'vsctl restore --unlocked-mounts'\n"
          "  --no-page-server    live: its memory goes with the archive, after the dump\n"
          "  --no-send-template  refuse the move when the target lacks the template\n"
          "                      (as vsd.conf [migrate] send_templates = no)\n"
          "  --detach            print the operation's id and return at once ('vsctl op')\n"
          "  --json              print the ended operation as JSON\n" },
        { "receive-pages", cmd_receive_pages, "Receive a live move's memory pages (run by the moving host over ssh)",
          "NAME [--precopy]",
          "Standard input and output carry CRIU's page-server protocol to this host's vsd,\n"
          "which keeps the pages for the import of NAME's archive; they are removed when\n"
          "the stream ends without that import having taken them.\n"
          "  --precopy           memory pre-copy's pre-dump passes come first\n" },
        { "op", cmd_op, "List, show, wait for and cancel long operations", "[list | show ID | wait ID | cancel ID]",
          "Snapshots, restores, clones and template builds run as operations.\n"
          "  list                the running and recently ended operations (the default)\n"
          "  show ID             one operation: state, progress, error\n"
          "  wait ID             follow it to its end, its progress on stderr; exits 1 if it failed\n"
          "  cancel ID           cancel it and wait until its work is gone\n"
          "  --json              print the daemon's JSON\n" },
        { "help", cmd_help, "Show help for vsctl or one command", "[COMMAND]", NULL },
        {},
};

const struct vsctl_command *vsctl_find_command(const char *name) {
        for (const struct vsctl_command *c = vsctl_commands; c->name; c++)
                if (streq(c->name, name))
                        return c;
        return NULL;
}

int vsctl_usage_error(const char *cmd, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("vsctl: ", stderr);
        if (cmd)
                fprintf(stderr, "%s: ", cmd);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        /* One line, hint included: scripts and people both read errors as
         * one line each. */
        if (cmd)
                fprintf(stderr, ". Try 'vsctl help %s'.\n", cmd);
        else
                fputs(". Try 'vsctl help'.\n", stderr);
        return VSCTL_EXIT_USAGE;
}

int vsctl_option_error(const char *cmd, int c, char **argv) {
        /* A long option is the word getopt just moved past; a short one may
         * sit inside a cluster ("-tx"), so it is named by optopt. */
        const char *word = optind > 0 ? argv[optind - 1] : "";
        if (strncmp(word, "--", 2) == 0) {
                int len = (int) strcspn(word, "=");
                if (c == ':')
                        return vsctl_usage_error(cmd, "option '%.*s' needs a value", len, word);
                return vsctl_usage_error(cmd, "unknown option '%.*s'", len, word);
        }
        if (c == ':')
                return vsctl_usage_error(cmd, "option '-%c' needs a value", optopt);
        return vsctl_usage_error(cmd, "unknown option '-%c'", optopt);
}

int vsctl_fail(const vs_error *err) {
        fprintf(stderr, "vsctl: %s\n", err->msg[0] ? err->msg : strerror(err->code ? err->code : EIO));
        return VSCTL_EXIT_FAILURE;
}

int vsctl_getopt(struct vsctl *ctx, int argc, char **argv, const char *shortopts, const struct option *longopts,
                 int *ret_exit) {
        opterr = 0;
        for (;;) {
                int c = getopt_long(argc, argv, shortopts, longopts, NULL);
                switch (c) {
                case 'h':
                        vsctl_print_usage(stdout, argv[0]);
                        *ret_exit = VSCTL_EXIT_OK;
                        return -2;
                case VSCTL_OPT_JSON:
                        ctx->json = true;
                        continue;
                case '?':
                case ':':
                        *ret_exit = vsctl_option_error(argv[0], c, argv);
                        return -2;
                default:
                        return c;
                }
        }
}

int vsctl_check_args(const char *cmd, int argc, char **argv, int min, int max) {
        int n = argc - optind;
        if (n < min)
                return vsctl_usage_error(cmd, min == 1 ? "missing instance name" : "missing arguments");
        if (max >= 0 && n > max)
                return vsctl_usage_error(cmd, "unexpected argument '%s'", argv[optind + max]);
        return 0;
}

char *vsctl_instance_path(const char *name, const char *action) {
        _cleanup_free_ char *esc = http_escape_segment(name);
        char *p;
        if (!esc)
                return NULL;
        if (asprintf(&p, VS_API_PREFIX "/instances/%s%s%s", esc, action ? "/" : "", action ? action : "") < 0)
                return NULL;
        return p;
}

int vsctl_call(struct vsctl *ctx, const char *method, char *path, json_t *body, json_t **ret, vs_error *err) {
        int r;
        if (!path)
                r = vs_err(err, ENOMEM, "cannot build request");
        else
                r = http_call(ctx->socket, method, path, body, ctx->may_wait, ret, err);
        free(path);
        json_decref(body);
        return r;
}

int vsctl_get_list(struct vsctl *ctx, char *path, const char *what, json_t **ret, vs_error *err) {
        json_t *list = NULL;
        if (vsctl_call(ctx, "GET", path, NULL, &list, err) < 0)
                return -1;
        if (!json_is_array(list)) {
                json_decref(list);
                vs_err_msg(err, EBADMSG, "unexpected answer from vsd: not a list of %s", what);
                return -1;
        }
        *ret = list;
        return 0;
}

json_t *vsctl_json_value(const char *s, bool real) {
        /* Only what is unmistakably a plain number becomes one; "256M",
         * "50%", "12Q" and "" reach the daemon as typed, to be judged
         * there with the daemon's own message. */
        const char *p = s;
        bool dot = false;
        size_t digits = 0;
        for (; *p; p++) {
                if (*p >= '0' && *p <= '9')
                        digits++;
                else if (*p == '.' && real && !dot && digits > 0)
                        dot = true;
                else
                        break;
        }
        if (*p || digits == 0 || digits > 15 || p[-1] == '.')
                return json_string(s);
        if (real)
                return json_real(strtod(s, NULL));
        return json_integer(strtoll(s, NULL, 10));
}

int vsctl_instance_action(struct vsctl *ctx, int argc, char **argv, const char *action) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, VSCTL_LONGOPT_JSON, {} };
        int c, ex;

        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, 1)))
                return ex;

        vs_error err = {};
        json_t *answer = NULL;
        if (vsctl_call(ctx, "POST", vsctl_instance_path(argv[optind], action), NULL, &answer, &err) < 0)
                return vsctl_fail(&err);
        return vsctl_done(ctx, answer);
}

int vsctl_limit_option(json_t *body, int c, const char *arg) {
        enum kind {
                NUMBER, /* a plain integer goes as a JSON integer, anything else as typed */
                REAL,   /* the same with a JSON real */
                TEXT,   /* always the string as typed */
                LIST,   /* repeatable: the values joined with ',' */
        };
        static const struct {
                int opt;
                const char *field;
                enum kind kind;
        } limits[] = {
                { VSCTL_OPT_MEMORY, "memory", NUMBER },
                { VSCTL_OPT_CPUS, "cpus", REAL },
                { VSCTL_OPT_PIDS, "pids", NUMBER },
                { VSCTL_OPT_STOP_TIMEOUT, "stop_timeout", REAL },
                { VSCTL_OPT_MEMORY_SOFT, "memory_soft", NUMBER },
                { VSCTL_OPT_SWAP, "swap", NUMBER },
                { VSCTL_OPT_CPU_WEIGHT, "cpu_weight", NUMBER },
                { VSCTL_OPT_CPUSET, "cpuset", NUMBER },
                { VSCTL_OPT_IO_READ_BPS, "io_read_bps", TEXT },
                { VSCTL_OPT_IO_WRITE_BPS, "io_write_bps", TEXT },
                { VSCTL_OPT_IO_READ_IOPS, "io_read_iops", TEXT },
                { VSCTL_OPT_IO_WRITE_IOPS, "io_write_iops", TEXT },
                { VSCTL_OPT_NOFILE, "nofile", NUMBER },
                { VSCTL_OPT_IO_WEIGHT, "io_weight", NUMBER },
                { VSCTL_OPT_RLIMIT, "rlimits", LIST },
                { VSCTL_OPT_NET, "net", TEXT },
                { VSCTL_OPT_IP, "ip", LIST },
                { VSCTL_OPT_FORWARD, "forward", LIST },
                { VSCTL_OPT_RATE_IN, "rate_in", TEXT },
                { VSCTL_OPT_RATE_OUT, "rate_out", TEXT },
                { VSCTL_OPT_ISOLATED, "isolated", TEXT },
                { VSCTL_OPT_NAMESERVER, "nameservers", LIST },
                { VSCTL_OPT_DISK, "disk", NUMBER },
                { VSCTL_OPT_INODES, "inodes", NUMBER },
                { VSCTL_OPT_STORAGE, "backend", TEXT },
                { VSCTL_OPT_ONBOOT, "onboot", TEXT },
                { VSCTL_OPT_BOOT_PRIORITY, "boot_priority", NUMBER },
                { VSCTL_OPT_BOOT_DELAY, "boot_delay", REAL },
        };
        for (size_t i = 0; i < ELEMENTSOF(limits); i++) {
                if (limits[i].opt != c)
                        continue;
                const char *prev = json_string_value(json_object_get(body, limits[i].field));
                json_t *v;
                if (limits[i].kind == LIST && prev) {
                        _cleanup_free_ char *joined = NULL;
                        if (asprintf(&joined, "%s,%s", prev, arg) < 0)
                                return -1;
                        v = json_string(joined);
                } else if (limits[i].kind == TEXT || limits[i].kind == LIST)
                        v = json_string(arg);
                else
                        v = vsctl_json_value(arg, limits[i].kind == REAL);
                return vsctl_set(body, limits[i].field, v) ? 1 : -1;
        }
        return 0;
}

bool vsctl_set(json_t *body, const char *key, json_t *v) {
        return v && json_object_set_new(body, key, v) == 0;
}

int vsctl_done(struct vsctl *ctx, json_t *answer) {
        int r = VSCTL_EXIT_OK;
        /* a note that is no failure (e.g. a disk without a quota) */
        const char *warning = json_string_value(json_object_get(answer, "warning"));
        if (warning)
                fprintf(stderr, "warning: %s\n", warning);
        if (ctx->json && answer && out_json(answer) < 0)
                r = VSCTL_EXIT_FAILURE;
        json_decref(answer);
        return r;
}

void vsctl_print_usage(FILE *f, const char *cmd) {
        const struct vsctl_command *c = cmd ? vsctl_find_command(cmd) : NULL;
        if (c) {
                fprintf(f, "Usage: vsctl %s %s\n\n%s.\n", c->name, c->usage, c->summary);
                if (c->options)
                        fprintf(f, "\n%s", c->options);
                return;
        }
        fputs("Usage: vsctl [--socket PATH] [--timeout SECONDS] [--json] COMMAND [ARGS]\n\n"
              "Control the instances of vsd.\n\n"
              "Commands:\n",
              f);
        for (c = vsctl_commands; c->name; c++)
                fprintf(f, "  %-10s  %s\n", c->name, c->summary);
        fputs("\nOptions:\n"
              "  -s, --socket PATH   the daemon's socket (default $VSD_SOCKET or " VS_DEFAULT_SOCKET ")\n"
              "  -j, --json          print JSON for the commands that show something\n"
              "      --timeout SECONDS\n"
              "                      give up when vsd does not answer within SECONDS\n"
              "                      (default 30; 0 waits for ever); streams, exec and\n"
              "                      console, once started, and stops waiting for an\n"
              "                      instance to halt are not cut\n"
              "  -h, --help          show this help\n"
              "  -V, --version       show the client version\n\n"
              "Run 'vsctl help COMMAND' for the options of a command.\n",
              f);
}

int cmd_help(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, {} };
        int c, ex;
        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if (vsctl_check_args("help", argc, argv, 0, 1))
                return VSCTL_EXIT_USAGE;
        const char *name = argv[optind];
        if (name && !vsctl_find_command(name))
                return vsctl_usage_error(NULL, "unknown command '%s'", name);
        vsctl_print_usage(stdout, name);
        return VSCTL_EXIT_OK;
}

int main(int argc, char **argv) {
        enum { OPT_TIMEOUT = 0x100 };
        static const struct option opts[] = {
                { "socket", required_argument, NULL, 's' },
                { "timeout", required_argument, NULL, OPT_TIMEOUT },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        struct vsctl ctx = { .socket = getenv("VSD_SOCKET") };
        int c;

        if (!ctx.socket || !*ctx.socket)
                ctx.socket = VS_DEFAULT_SOCKET;

        /* '+': global options end at the command name; what follows is the
         * command's to parse. */
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:s:jhV", opts, NULL)) != -1) {
                switch (c) {
                case 's':
                        ctx.socket = optarg;
                        break;
                case 'j':
                        ctx.json = true;
                        break;
                case OPT_TIMEOUT: {
                        uint64_t t;
                        vs_error err = {};
                        if (vs_parse_count(optarg, 0, 86400, &t, &err) < 0)
                                return vsctl_usage_error(NULL, "invalid --timeout '%s': %s", optarg, err.msg);
                        http_set_timeout((unsigned) t);
                        break;
                }
                case 'h':
                        vsctl_print_usage(stdout, NULL);
                        return VSCTL_EXIT_OK;
                case 'V':
                        printf("vsctl %s\n", VS_VERSION);
                        return VSCTL_EXIT_OK;
                default:
                        return vsctl_option_error(NULL, c, argv);
                }
        }
        if (optind >= argc)
                return vsctl_usage_error(NULL, "missing command");

        const struct vsctl_command *cmd = vsctl_find_command(argv[optind]);
        if (!cmd)
                return vsctl_usage_error(NULL, "unknown command '%s'", argv[optind]);

        int cargc = argc - optind;
        char **cargv = argv + optind;
        optind = 0; /* re-initialise getopt for the command's own options */
        int r = cmd->fn(&ctx, cargc, cargv);

        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "vsctl: cannot write output: %s\n", strerror(errno));
                return VSCTL_EXIT_FAILURE;
        }
        return r;
}

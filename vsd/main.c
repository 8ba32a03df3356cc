/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsd: parse arguments, wire the parts together, run the loop. */

#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "base/progress.h"
#include "base/proto.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/api/api.h"
#include "vsd/core/daemon.h"
#include "vsd/core/events.h"
#include "vsd/core/health.h"
#include "vsd/core/loop.h"
#include "vsd/core/monitor.h"
#include "vsd/core/ops.h"
#include "vsd/core/work.h"
#include "vsd/inst/boot.h"
#include "vsd/inst/instance.h"
#include "vsd/inst/checkpoint.h"
#include "vsd/inst/migrate.h"
#include "vsd/inst/pages.h"
#include "vsd/inst/snapshot.h"
#include "vsd/inst/templates.h"
#include "vsd/netw/network.h"
#include "vsd/start/start.h"
#include "vsd/storage/storage.h"
#include "vsd/view/holder.h"
#include "vsd/view/lxcfs.h"
#include "vsd/view/sysinfo.h"

static void usage(FILE *f) {
        fprintf(f,
                "Usage: vsd [OPTIONS]\n"
                "Run the vsd daemon in the foreground.\n\n"
                "  -c, --config FILE        daemon configuration (default " VS_DEFAULT_CONFIG ")\n"
                "      --root DIR           state root: templates/ and instances/ (default " VS_DEFAULT_ROOT ")\n"
                "      --run-dir DIR        runtime state (default " VS_DEFAULT_RUN_DIR ")\n"
                "      --socket PATH        API socket (default " VS_DEFAULT_SOCKET ")\n"
                "      --socket-group NAME  group admitted to the socket besides root (default " VS_DEFAULT_SOCKET_GROUP ")\n"
                "      --cgroup-parent NAME cgroup below which every instance lives (default " VS_DEFAULT_CGROUP_PARENT ")\n"
                "      --log-level LEVEL    error, warning, info or debug\n"
                "      --foreground         accepted for compatibility; vsd always runs in the foreground\n"
                "  -V, --version            print the version\n"
                "  -h, --help               this text\n");
}

enum { OPT_ROOT = 256, OPT_RUN_DIR, OPT_SOCKET, OPT_GROUP, OPT_CGROUP_PARENT, OPT_LOG_LEVEL, OPT_FOREGROUND };

static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "root", required_argument, NULL, OPT_ROOT },
        { "run-dir", required_argument, NULL, OPT_RUN_DIR },
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "socket-group", required_argument, NULL, OPT_GROUP },
        { "cgroup-parent", required_argument, NULL, OPT_CGROUP_PARENT },
        { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
        { "foreground", no_argument, NULL, OPT_FOREGROUND },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        {},
};

static int set_field(char *field, size_t size, const char *value, const char *opt, bool path) {
        if (path && value[0] != '/') {
                fprintf(stderr, "vsd: --%s needs an absolute path, got '%s'\n", opt, value);
                return -EINVAL;
        }
        if (strlen(value) >= size) {
                fprintf(stderr, "vsd: --%s value too long\n", opt);
                return -EINVAL;
        }
        snprintf(field, size, "%s", value);
        return 0;
}

static int on_signal(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct vsd *v = userdata;
        struct signalfd_siginfo si;
        if (read(fd, &si, sizeof(si)) != sizeof(si))
                return 0;
        log_info("Received signal %u, exiting; instances keep running", si.ssi_signo);
        loop_quit(v->loop);
        return 0;
}

/* Hold the lock file <base><suffix> for the daemon's life; "<busy> <base>"
 * when another process holds it. */
static int take_lock(const char *base, const char *suffix, const char *busy, int *ret_fd) {
        char path[300];
        if (snprintf(path, sizeof(path), "%s%s", base, suffix) >= (int) sizeof(path)) {
                log_err("Failed to lock %s%s: path too long", base, suffix);
                return -ENAMETOOLONG;
        }
        int r = vs_lock_file(path, ret_fd);
        if (r == -EWOULDBLOCK)
                log_err("Failed to start: %s %s (%s is locked)", busy, base, path);
        else if (r < 0)
                log_err("Failed to lock %s: %s", path, strerror(-r));
        return r;
}

static enum vs_log_level level_of(const char *s) {
        return streq(s, "error") ? VS_LOG_ERR : streq(s, "warning") ? VS_LOG_WARN : streq(s, "debug") ? VS_LOG_DEBUG : VS_LOG_INFO;
}

/* The listener holder's news, for the sysinfo view and the consoles
 * (holder.h). */
static int hold_adopt(void *ud, const struct hold_tag *tag, int fd) {
        return sinfo_listener_adopt(((struct vsd *) ud)->sinfo, tag, fd);
}

static int hold_adopt_console(void *ud, const struct hold_tag *tag, int master, const char *data, size_t len,
                              uint32_t lost) {
        return inst_console_adopt(ud, tag, master, data, len, lost);
}

static void hold_flush(void *ud) {
        sinfo_hold_flush(((struct vsd *) ud)->sinfo);
        inst_consoles_hold_flush(ud);
}

static void hold_lost(void *ud) {
        sinfo_hold_lost(((struct vsd *) ud)->sinfo);
        inst_consoles_hold_lost(ud);
}

/* The events of the daemons before this one, and the sequence numbers
 * going on after theirs.  Without the journal the daemon still runs, with
 * its events in memory only. */
static void open_event_journal(struct vsd *v) {
        _cleanup_free_ char *path = NULL;
        struct evj_load load = { 0 };
        vs_error err = { 0 };
        if (asprintf(&path, "%s/events.journal", v->set.root) < 0) {
                log_warn("Failed to open the event journal: %s, ignoring: events are kept in memory only", strerror(ENOMEM));
                return;
        }
        if (ev_bus_journal(v->events, path, &load, &err) < 0) {
                log_warn("%s, ignoring: events are kept in memory only", err.msg);
                return;
        }
        if (load.damaged || load.torn)
                log_warn("Event journal %s: %zu damaged record%s skipped, %zu bytes of a torn last record cut off, "
                         "ignoring", path, load.damaged, load.damaged == 1 ? "" : "s", load.torn);
        log_info("Event journal %s: %zu events, the next is %" PRIu64, path, load.records, ev_next_seq(v->events));
}

int main(int argc, char **argv) {
        struct vsd v = { 0 };
        struct vsd_settings over;
        const char *config = VS_DEFAULT_CONFIG;
        bool config_given = false;
        vs_error err = { 0 };
        int c, r;

        /* not an option for users: the listener holder the daemon runs
         * (vsd/view/holder.h), this binary so that nothing more is installed */
        if (argc == 3 && streq(argv[1], "--listener-holder"))
                return hold_main(argv[2]);
        /* nor this: CRIU's post-dump action for one checkpoint (checkpoint.h) */
        if ((argc == 3 || argc == 4) && streq(argv[1], "--checkpoint-commit"))
                return ckpt_commit_main(argv[2], argc == 4 ? argv[3] : NULL) < 0 ? 1 : 0;
        /* nor this: a post-copy dump's action freezes the instance first */
        if (argc == 4 && streq(argv[1], "--checkpoint-freeze"))
                return ckpt_freeze_main(argv[2], argv[3]) < 0 ? 1 : 0;
        /* nor this: CRIU's action script for one restore, run with no
         * argument (checkpoint.h); never a daemon */
        if (argc == 1 && getenv("CRTOOLS_SCRIPT_ACTION"))
                return ckpt_action_main(getenv("CRTOOLS_SCRIPT_ACTION")) < 0 ? 1 : 0;
        /* command-line values win over the file: collect them apart first */
        settings_defaults(&v.set);
        memset(&over, 0, sizeof(over));
        while ((c = getopt_long(argc, argv, "c:Vh", options, NULL)) != -1) {
                r = 0;
                switch (c) {
                case 'c':
                        config = optarg;
                        config_given = true;
                        break;
                case OPT_ROOT:
                        r = set_field(over.root, sizeof(over.root), optarg, "root", true);
                        break;
                case OPT_RUN_DIR:
                        r = set_field(over.run_dir, sizeof(over.run_dir), optarg, "run-dir", true);
                        break;
                case OPT_SOCKET:
                        r = set_field(over.socket, sizeof(over.socket), optarg, "socket", true);
                        break;
                case OPT_GROUP:
                        r = set_field(over.socket_group, sizeof(over.socket_group), optarg, "socket-group", false);
                        break;
                case OPT_CGROUP_PARENT:
                        if (!*optarg || strchr(optarg, '/')) {
                                fprintf(stderr, "vsd: --cgroup-parent must be a single directory name\n");
                                return 2;
                        }
                        r = set_field(over.cgroup_parent, sizeof(over.cgroup_parent), optarg, "cgroup-parent", false);
                        break;
                case OPT_LOG_LEVEL:
                        r = set_field(over.log_level, sizeof(over.log_level), optarg, "log-level", false);
                        break;
                case OPT_FOREGROUND:
                        break;
                case 'V':
                        printf("vsd %s\n", VS_VERSION);
                        return 0;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
                if (r < 0)
                        return 2;
        }
        if (optind < argc) {
                fprintf(stderr, "vsd: unexpected argument '%s'\n", argv[optind]);
                return 2;
        }
        if (settings_load(&v.set, config, !config_given, &err) < 0) {
                fprintf(stderr, "vsd: %s\n", err.msg);
                return 1;
        }
#define OVERRIDE(f) if (over.f[0]) memcpy(v.set.f, over.f, sizeof(v.set.f))
        OVERRIDE(root);
        OVERRIDE(run_dir);
        OVERRIDE(socket);
        OVERRIDE(socket_group);
        OVERRIDE(cgroup_parent);
        OVERRIDE(log_level);
#undef OVERRIDE
        vs_log_set_level(level_of(v.set.log_level));
        uint64_t pid_max = 32768; /* the kernel's own default, if it will not say */
        _cleanup_free_ char *pm = NULL;
        if (vs_read_file("/proc/sys/kernel/pid_max", 64, &pm, NULL) >= 0)
                pid_max = strtoull(pm, NULL, 10) ?: pid_max;
        if (settings_fit_defaults(&v.set, pid_max, &err) < 0) {
                fprintf(stderr, "vsd: %s: %s\n", config, err.msg);
                return 1;
        }
        if (geteuid() != 0) {
                fprintf(stderr, "vsd: must run as root\n");
                return 1;
        }
        if (kern_check_required(&err) < 0) {
                fprintf(stderr, "vsd: %s\n", err.msg);
                return 1;
        }

        /* tests only: stop every start at a stage, to kill the daemon there */
        const char *stall = getenv("VSD_TEST_STALL");
        if (stall && *stall) {
                if (start_test_stall_set(stall, &err) < 0) {
                        fprintf(stderr, "vsd: %s\n", err.msg);
                        return 1;
                }
                log_warn("VSD_TEST_STALL=%s: every start stops at that stage for good (a hook for tests)", stall);
        }
        /* tests only: copies that report progress go no faster than this */
        const char *bps = getenv("VSD_TEST_COPY_BPS");
        if (bps && *bps) {
                if (vs_parse_size(bps, &vs_progress_test_bps, &err) < 0 || !vs_progress_test_bps) {
                        fprintf(stderr, "vsd: VSD_TEST_COPY_BPS must be a positive size, not '%s'\n", bps);
                        return 1;
                }
                log_warn("VSD_TEST_COPY_BPS=%s: layer copies go no faster than that (a hook for tests)", bps);
        }

        /* tests only: the helper that computes the content id of a
         * template of an older vsd hashes no faster than this */
        const char *hbps = getenv("VSD_TEST_HASH_BPS");
        if (hbps && *hbps) {
                if (vs_parse_size(hbps, &tmpl_test_hash_bps, &err) < 0 || !tmpl_test_hash_bps) {
                        fprintf(stderr, "vsd: VSD_TEST_HASH_BPS must be a positive size, not '%s'\n", hbps);
                        return 1;
                }
                log_warn("VSD_TEST_HASH_BPS=%s: templates' content ids are computed no faster than that (a hook for tests)",
                         hbps);
        }

        /* tests only: a cold move's pre-copy waits, its first pass sent,
         * while this file exists (migrate.c) */
        const char *hold = getenv("VSD_TEST_PRECOPY_HOLD");
        if (hold && *hold)
                log_warn("VSD_TEST_PRECOPY_HOLD=%s: a move's pre-copy waits while it exists (a hook for tests)", hold);
        /* tests only: a post-copy dump, committed, waits before it says
         * so while this file exists (checkpoint.c) */
        hold = getenv("VSD_TEST_COMMIT_HOLD");
        if (hold && *hold)
                log_warn("VSD_TEST_COMMIT_HOLD=%s: a post-copy dump, committed, waits while it exists before it says so "
                         "(a hook for tests)",
                         hold);
        /* tests only: a move's helper waits, the target having said it has
         * the instance, while this file exists (migrate.c) */
        hold = getenv("VSD_TEST_MOVED_HOLD");
        if (hold && *hold)
                log_warn("VSD_TEST_MOVED_HOLD=%s: a move waits, the target's word heard, while it exists (a hook for "
                         "tests)",
                         hold);

        umask(022);
        signal(SIGPIPE, SIG_IGN);
        /* a pidfd, a console pty pair and client sockets per instance: 1000
         * instances do not fit in the default 1024 fds */
        struct rlimit nofile;
        if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
                nofile.rlim_cur = nofile.rlim_max > (1 << 20) ? (1 << 20) : nofile.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &nofile);
        }
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        _cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

        char sockdir[256];
        snprintf(sockdir, sizeof(sockdir), "%s", v.set.socket);
        (void) vs_mkdir_p(dirname(sockdir), 0755);
        r = vs_mkdir_p(v.set.root, 0711);
        if (r < 0) {
                fprintf(stderr, "vsd: Failed to create %s: %s\n", v.set.root, strerror(-r));
                return 1;
        }
        /* One daemon per socket and per state root, decided before anything
         * is read or cleaned up: flocks, which die with the process that
         * holds them.  Not a connect() to the socket: a copy of a dead
         * daemon's listening socket left in some process would answer it. */
        _cleanup_close_ int socket_lock = -EBADF, root_lock = -EBADF;
        if (take_lock(v.set.socket, ".lock", "another vsd is already listening on", &socket_lock) < 0 ||
            take_lock(v.set.root, "/vsd.lock", "another vsd already uses the state root", &root_lock) < 0)
                return 1;

        struct loop_source *sig_src = NULL;
        if (sfd < 0 || loop_new(&v.loop) < 0 || loop_add_fd(v.loop, sfd, EPOLLIN, on_signal, &v, &sig_src) < 0) {
                log_err("Failed to set up the event loop: %s", strerror(errno));
                return 1;
        }
        r = cg_manager_new(v.set.cgroup_root, v.set.cgroup_parent, &v.cg, &err);
        if (r < 0) {
                log_err("Failed to set up cgroups: %s", err.msg);
                loop_remove(sig_src);
                loop_free(v.loop);
                return 1;
        }
        /* defaults this host cannot honour would fail every create */
        struct inst_config dcfg;
        inst_config_defaults(&dcfg);
        settings_apply_defaults(&v.set, &dcfg);
        struct cg_limits dlim = { .memory_max = dcfg.memory, .cpu_millis = dcfg.cpu_millis, .pids_max = dcfg.pids };
        if (cg_validate(v.cg, &dlim, &err) < 0) {
                log_err("Failed to use the [defaults] of %s: %s", config, err.msg);
                cg_manager_free(v.cg);
                loop_remove(sig_src);
                loop_free(v.loop);
                return 1;
        }
        /* Asked once: the answers cannot change while we run, and what a
         * kernel lacks is said once, not at every start. */
        kern_probe(v.set.root, &v.kern);
        if (!v.kern.time_ns) {
                vs_error why = { 0 };
                vs_err_msg(&why, EOPNOTSUPP, "this kernel has no time namespaces (no /proc/self/ns/time)");
                health_degraded(&v, "time-namespaces", "instances share the host's boot and monotonic clocks", &why);
        }
        else if (!v.kern.exec_enters_time_ns)
                log_info("exec does not enter an unshared time namespace on this kernel: an instance's init "
                         "enters its own before exec, and is cloned without sharing the daemon's memory");
        if (!v.kern.overlay_detached_upper)
                log_info("overlayfs refuses an upper layer on a detached mount on this kernel: an image "
                         "instance's disk is attached inside its own mount namespace at start");
        if (!v.kern.sys_resource)
                log_warn("vsd runs without CAP_SYS_RESOURCE: unprivileged instances' user namespaces are owned by "
                         "root, so their kernel resource counts (inotify, namespaces) are shared with the host's root");
        pages_postcopy_probe(&v);
        r = ev_bus_new(EV_RING_DEFAULT, &v.events);
        if (r < 0)
                vs_err(&err, -r, "Failed to set up events");
        else {
                open_event_journal(&v);
                r = mon_new(&v, &v.mon, &err);
                if (r > 0) {
                        log_warn("Failed to %s, ignoring", err.msg);
                        vs_err_clear(&err);
                        r = 0;
                }
        }
        if (r >= 0)
                r = stor_new(&v, &err);
        if (r >= 0)
                r = netw_new(&v, &err);
        /* before the registry, which tells it of the instances it re-adopts
         * (started later, below) */
        if (r >= 0)
                r = lxcfs_new(&v, &v.lxcfs, &err);
        if (r >= 0) {
                r = sinfo_new(&v, &v.sinfo);
                if (r >= 0)
                        r = hold_new(&v,
                                     &(struct hold_ops){ .adopt = hold_adopt,
                                                         .adopt_console = hold_adopt_console,
                                                         .flush = hold_flush,
                                                         .lost = hold_lost,
                                                         .ud = &v },
                                     &v.hold);
                if (r < 0)
                        vs_err(&err, -r, "Failed to set up sysinfo answers");
        }
        /* before anything cleans up after an interrupted operation: the
         * helpers of the previous daemon may still be writing */
        if (r >= 0)
                work_cleanup_leftovers(&v);
        /* before the registry: an instance found gone went down with the
         * host, or stopped by itself while no daemon ran */
        v.boot_new = boot_is_new(&v);
        if (r >= 0)
                r = inst_registry_load(&v, &err);
        if (r >= 0) {
                netw_reconcile(&v);
                snap_cleanup_leftovers(&v);
                ckpt_recover(&v);
                mig_recover(&v);
                inst_incoming_recover(&v);
                tmpl_cleanup_leftovers(&v);
        }
        if (r >= 0) {
                /* after the registry: it binds the view into the instances
                 * just re-adopted when they do not see this lxcfs */
                lxcfs_start(v.lxcfs);
                /* after the registry too: the listeners it gives back go
                 * to the instances' records */
                hold_start(v.hold);
                /* after the holder gave back the consoles it kept: a new
                 * pty for each instance whose console was lost */
                inst_consoles_recover(&v);
                r = api_start(&v, &err);
        }
        /* last: the instances come back while the API already answers */
        if (r >= 0 && boot_begin(&v, &err) < 0) {
                log_warn("%s, ignoring: no instance is started after this boot", err.msg);
                vs_err_clear(&err);
        }
        if (r < 0) {
                log_err("%s", err.msg);
                lxcfs_free(v.lxcfs, !inst_any_active(&v));
                netw_free(&v, !inst_any_active(&v));
                inst_registry_free(&v);
                sinfo_free(v.sinfo);
                hold_free(v.hold, !inst_any_active(&v));
                stor_free(&v);
                mon_free(v.mon);
                ev_bus_free(v.events);
                cg_manager_free(v.cg);
                loop_remove(sig_src);
                loop_free(v.loop);
                return 1;
        }
        log_info("vsd %s serving %s (root %s, cgroup %s/%s, %zu instances)", VS_VERSION, v.set.socket, v.set.root,
                 cg_manager_mode(v.cg), v.set.cgroup_parent, v.n_inst);

        r = loop_run(v.loop);
        if (r < 0)
                log_err("Event loop failed: %s", strerror(-r));
        /* a boot under way stops; the next daemon carries on */
        boot_free(&v);
        /* before the API: a build's client gets its end, then MHD stops */
        tmpl_shutdown(&v);
        work_shutdown(&v);
        api_stop(&v);
        ops_free_all(&v);
        health_free(&v);
        bool any_running = inst_any_active(&v);
        /* leave no empty cgroup parent behind; with instances running it stays */
        if (!any_running)
                (void) cg_manager_remove_parent(v.cg);
        /* Running instances read lxcfs, and outlive us: it stays with them,
         * and the next vsd adopts it.  With none running, nothing needs it. */
        lxcfs_free(v.lxcfs, !any_running);
        /* the firewall protects running instances after we are gone */
        netw_free(&v, !any_running);
        inst_registry_free(&v);
        /* after the registry, which drops its records; the holder keeps
         * the listeners of the instances left running and answers their
         * calls (doc/architecture.md, "sysinfo") */
        sinfo_free(v.sinfo);
        hold_free(v.hold, !any_running);
        stor_free(&v);
        mon_free(v.mon);
        ev_bus_free(v.events);
        cg_manager_free(v.cg);
        loop_remove(sig_src);
        loop_free(v.loop);
        return r < 0 ? 1 : 0;
}

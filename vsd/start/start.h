/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Starting an instance's init, and joining a running instance (exec).
 * The stages of both are listed in sync.h and doc/architecture.md.
 */

#include <stdbool.h>
#include <sys/types.h>

#include "base/error.h"
#include "net/addr.h"
#include "vsd/conf/rlimits.h"

struct cg_manager;

/* The instance's network as vsd/netw/network.c planned it: eth0's addresses and
 * routes (set up by the daemon before the clone) and the files the child
 * writes into the instance's /etc. */
#define START_NET_ADDR_MAX 8
struct start_net {
        struct net_cidr addr[START_NET_ADDR_MAX]; /* eth0's addresses */
        unsigned n_addr;
        struct net_cidr gw4, gw6; /* default routes via these (family 0: none) */
        bool onlink;              /* the gateways are on the link though no address covers them */
        char hosts[1024];         /* /etc/hosts, written when absent or vsd's own */
        char resolv[512];         /* /etc/resolv.conf; "" leaves the instance's alone */
};

struct view_trees;
struct kernel_limits;

struct start_spec {
        const char *name;       /* instance name: hostname and cgroup name */
        const char *lower;      /* template rootfs, the shared read-only lower layer */
        const char *upper;      /* private writable layer: overlay upperdir */
        const char *work;       /* overlay workdir, same filesystem as upper */
        int layer_fd;           /* the fd upper and work go through (/proc/self/fd/N/...),
                                 * or < 0: the child keeps it open */
        const char *layer_at;   /* non-NULL: the child attaches the detached mount layer_fd
                                 * holds there (in its own mount namespace) before the
                                 * overlay, whose upper and work are below it (stor_layer) */
        const char *rootfs;     /* empty host directory the overlay is mounted on; the
                                 * mount exists only in the instance's mount namespace */
        char *const *init_argv; /* the template's init, argv[0] a path inside the rootfs */
        int console;            /* pty slave: /dev/console and init's stdin/out/err */
        struct cg_manager *cg;  /* the instance cgroup <parent>/<name> already exists */
        unsigned long nofile;   /* RLIMIT_NOFILE (soft and hard) for init; 0 = soft 1024 */
        const char *view;       /* lxcfs mount point whose files go over /proc and /sys
                                 * (view.h); NULL: the kernel's own files */
        const struct view_trees *view_trees; /* its mounts cloned by the daemon, or NULL */
        bool time_ns;           /* own time namespace, clocks from zero at the clone
                                 * (start_time_ns_supported()); false: the host's */
        bool time_ns_setns;     /* the kernel's exec does not enter it (kern_features):
                                 * the child does, with setns(), and is cloned
                                 * without CLONE_VM for that */
        const struct inst_rlimits *rlimits; /* the other rlimits for init; NULL = vsd's own */
        const struct start_net *net;       /* NULL: loopback only */
        bool join_netns;        /* join netns_fd, made and plumbed by the daemon, */
        int netns_fd;           /* rather than a new, empty network namespace */
        int cgroup_fs;          /* enum cg_instance_fs: what /sys/fs/cgroup is */
        /* Unprivileged: a user namespace of its own, cloned with the other
         * namespaces (which it then owns), ids 0..65535 inside mapped to
         * id_base.. outside.  The parent then writes the maps, makes
         * idmapped clones of the lower layer and of layer_at (whose mount,
         * attached there first when layer_fd >= 0, holds upper and work)
         * and mounts the overlay in the child's mount namespace, and calls
         * net_move_in with the child's network namespace, which is the
         * child's own (join_netns false), to make and configure its link
         * there. */
        bool userns;
        uint32_t id_base;
        /* The user namespace is made with euid id_base, its owner (the
         * instance's kernel resource counts its own); else root's
         * (kern_features.sys_resource). */
        bool userns_owned;
        /* Unprivileged only: an unmasked proc and sysfs under /dev/.vsd, so
         * that root inside may mount new ones (mount.c, MNT_NESTING). */
        bool nesting;
        /* Unprivileged only: the per-user limits of its user namespace
         * (/proc/sys/user/max_*, 0 leaves one the kernel's); NULL: none. */
        const struct kernel_limits *klimits;
        unsigned ptys;          /* the devpts's max=; 0: the kernel's bound only */
        int (*net_move_in)(void *data, int child_netns, vs_error *err);
        void *net_data;
        vs_error *warn;         /* what the start left alone and why, in one line
                                 * ("/etc/hosts is a FIFO, ..."); NULL: not told */
        int *listener;          /* out, on success: init's seccomp listener (security.h),
                                 * close-on-exec, the caller's; NULL: closed */
};

/* Does this kernel have time namespaces (CONFIG_TIME_NS, Linux 5.6 or later)?
 * Asked once by the daemon, which notes a "no" once and starts instances
 * with the host's clocks. */
bool start_time_ns_supported(void);

/*
 * The OOM killer's view of an instance (/proc/PID/oom_score_adj), set by
 * the daemon whatever its own value (which its children would inherit):
 *
 *   init and everything it starts  0: as any host process, neither shielded
 *                                     from a host-wide OOM nor offered to it;
 *   commands run through exec      +500: taken first, by the instance's own
 *                                     OOM killer and by the host's.
 *
 * The kernel spares only the host's init: an instance's init is a process
 * like the others, and its death ends the instance.  A value is inherited
 * at fork, so init cannot be set apart from what it starts (a low value
 * would shield every process of the instance, on the whole host); what
 * exec starts can.  So an OOM inside the instance takes the exec'd
 * processes first, then the biggest of init's own, and init only when it
 * is the biggest (a hog is bigger) or nothing else is left (memory only a
 * restart frees: a tmpfs filled up).
 */
#define START_OOM_ADJ_INIT 0
#define START_OOM_ADJ_EXEC 500

/* A hook for tests, set once at daemon start from the environment
 * (VSD_TEST_STALL): every start and exec stops for good at the stage named
 * by its sync.h identifier ("SYNC_CGROUP", "SYNC_OVERLAY"...), in whichever
 * process runs it (the daemon for the parent's stages, the child for its
 * own), after a line on stderr naming the stage and the child's host pid.
 * This is how tests kill the daemon at a chosen instant of a start.  An
 * unknown identifier fails with "unknown stage". */
int start_test_stall_set(const char *id, vs_error *err);

/* Clone the instance's init in new pid, mount, uts, ipc, net, cgroup and
 * (time_ns) time namespaces, place it in its cgroup, set up its root and exec
 * init.  Returns once init has been exec'd (or the child reported the
 * failing stage, which ends up in err as "Failed to <stage>: <message>:
 * <errno text>", the child reaped).  On success the caller owns *ret_pidfd
 * and init is its child.  console < 0: no /dev/console, init's stdio is
 * /dev/null.  cg NULL: no cgroup placement.  The caller must be
 * single-threaded. */
int start_spawn(const struct start_spec *spec, pid_t *ret_pid, int *ret_pidfd, vs_error *err);

/* The instance's root as a start mounts it, on spec->rootfs, but in the
 * caller's own mount namespace (which it made private: nothing may
 * propagate to the host's): the private layer's filesystem attached from
 * spec->layer_fd on spec->layer_at first (layer_fd < 0: none to attach),
 * then the overlay of spec->lower and spec->upper/work; for spec->userns
 * the layers idmapped through a user namespace made with the instance's
 * mapping, the overlay mounted with the namespace root's file system ids,
 * as start_spawn's parent does.  For a process that brings an instance
 * back without its init's clone (the restore of a checkpoint). */
int start_mount_root_here(const struct start_spec *spec, vs_error *err);

struct join_spec {
        const char *name;       /* instance (cgroup) name */
        int init_pidfd;         /* pidfd of the instance's init */
        pid_t init_pid;         /* its pid, to find its cgroup (v2) */
        struct cg_manager *cg;
        char *const *argv;      /* argv[0] resolved with the instance's PATH */
        char *const *envp;      /* NULL: a minimal default environment */
        int fds[3];             /* stdin, stdout, stderr of the command (not tty) */
        bool tty;               /* the command's stdio is a new pty of the instance's own
                                 * devpts, its controlling tty in a new session */
        unsigned short rows, cols; /* tty: its window size (0: left unset) */
        unsigned long nofile;   /* as start_spec.nofile */
        bool time_ns;           /* the kernel has time namespaces: join init's too */
        bool userns;            /* the instance is unprivileged: join its user namespace too */
        const struct inst_rlimits *rlimits; /* as start_spec.rlimits */
};

/* Run a command inside a running instance: every namespace of init, its
 * cgroup, the same capability bounding set and seccomp profile, no other fd.
 * Returns once the command has been exec'd; *ret_pidfd refers to the
 * command, a child of the caller.  With tty, *ret_pty is the master of the
 * command's terminal (the caller's to close; ret_pty may be NULL without
 * tty).  A command that cannot be exec'd fails
 * here: "Failed to run the command: exec 'foo': No such file or directory".
 * envp NULL: PATH, HOME=/root, container=vsd (and TERM=xterm with tty).
 * The caller must be single-threaded (it briefly switches the pid namespace
 * its children are born in). */
int start_join(const struct join_spec *spec, pid_t *ret_pid, int *ret_pidfd, int *ret_pty, vs_error *err);

/* start_join() in two halves, for a caller that must not wait for the
 * command's exec (the daemon's loop: a command placed in a frozen cgroup
 * freezes before its exec, for as long as the instance is frozen).  begin
 * returns once the command is cloned, placed and told to go, with
 * *ret_sync_fd (close-on-exec, the command's end closes on its exec).
 * Each time that fd is readable, start_join_result() reads one report:
 * 1 more is to come (wait again; with a tty the pty's master arrives on the
 * way, kept in *pty, which the caller initialises to -EBADF and owns; so
 * does the command's seccomp listener, in *listener), 0 the command exec'd
 * (with a tty: *pty holds the master), < 0 with err as start_join's; the
 * caller then kills and reaps the command (it exits by itself after
 * reporting).  pty NULL without a tty; listener NULL: closed. */
int start_join_begin(const struct join_spec *spec, pid_t *ret_pid, int *ret_pidfd, int *ret_sync_fd, vs_error *err);
int start_join_result(int sync_fd, int *pty, int *listener, vs_error *err);

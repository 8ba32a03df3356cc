/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Starting an instance's init (start_spawn) and running a command inside a
 * running instance (start_join).
 *
 * Both clone a child, run the parent's part of the handshake in sync.h and
 * let the child work through a flat checklist of named steps.  The child
 * runs between clone and exec and must never return into the daemon's code:
 * every path ends in execve() or _exit().
 *
 * An instance's init is cloned with CLONE_VM where the kernel lets the
 * parent place it in its cgroups afterwards (cgroup v1, and v2 without
 * CLONE_INTO_CGROUP) and its exec enters the time namespace the child
 * unshared (6.2 and later, see step_time_ns): the child then runs in the
 * daemon's own memory, on a stack of its own, until its exec.  No page tables are copied, no page is
 * copied on write by either side, and exec has no copy to tear down: that
 * is 30% of a start on a virtual machine, where each of those costs a trap.
 * The rules that make it safe:
 *   - the two take turns: the child waits for SETUP_DONE before its first
 *     step, and the parent then only waits on the sync socket until the
 *     child has exec'd (the socket's end is close-on-exec, and exec has
 *     switched to the new memory by then) or has exited;
 *   - the child allocates nothing on the heap (it would stay allocated in
 *     the daemon's) and writes no global: the steps use stack buffers, the
 *     prepared security data read-only, and fresh mappings (netfiles.c);
 *   - PR_SET_DUMPABLE applies to the shared memory: the parent puts the
 *     daemon's own value back once the child is gone from it.
 *
 * A child dies with the daemon until it execs, and holds nothing of the
 * daemon's meanwhile (child_detach, its first act):
 *   - it closes every fd but the few it works with.  Without CLONE_FILES
 *     the clone gave it a copy of the daemon's table: the API's listen
 *     socket, the clients' connections, the lock that says a vsd runs, every
 *     instance's pidfd and console.  A copy outliving a killed daemon would
 *     keep the socket answering connects with nobody behind it, and every
 *     client of the dead daemon waiting.  They are close-on-exec, so this
 *     is work exec would have done: moved, not added.  (CLONE_FILES would
 *     save the copy but share the table: the child could close nothing
 *     without closing the daemon's, and the table would outlive a killed
 *     daemon in the child all the same.)
 *   - PR_SET_PDEATHSIG kills it when the daemon dies, until right before
 *     its execve (init outlives the daemon, as does an exec'd command);
 *   - the daemon may die before that prctl: the child holds only its own
 *     end of the sync pair, so the go-ahead's wait sees EOF, and after the
 *     go-ahead it checks the daemon's end is still open (getppid() cannot
 *     tell: the parent is outside the child's pid namespace and reads 0).
 *   A child killed by either leaves at most its instance's cgroup (with
 *   nothing in it) to the next daemon; one that lost its daemon between
 *   clearing the signal and its exec runs in its instance's cgroup with no
 *   state file, which the next daemon kills (inst_registry_load).
 * A command joining an instance (start_join) is forked as before: entering
 * a time namespace with setns() needs a process that shares its memory
 * with no other.
 */
#include "vsd/start/start.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/securebits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#else
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void) (addr), (void) (size))
#endif

#include "base/fileio.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/core/kernel.h"
#include "vsd/conf/settings.h"
#include "vsd/core/syscalls.h"
#include "vsd/start/start-internal.h"
#include "vsd/start/mount.h"
#include "vsd/start/security.h"
#include "vsd/start/sync.h"

/* How long the parent waits for the child to exec or report; a child stuck
 * in the kernel (a hung overlay mount) must not hang the daemon forever. */
#define START_TIMEOUT_SEC 30

/* ---- the test hook (start_test_stall_set) ---- */

/* Read once from the daemon's environment, which is the process's own:
 * nothing per daemon context about it.  -1: no stall. */
static int test_stall = -1;

int start_test_stall_set(const char *id, vs_error *err) {
        for (int s = 0; s < _SYNC_STAGE_MAX; s++)
                if (strcmp(sync_stage_id(s), id) == 0) {
                        test_stall = s;
                        return 0;
                }
        return vs_err_msg(err, EINVAL, "VSD_TEST_STALL: unknown stage '%.64s'", id);
}

/* One line on stderr: "vsd: VSD_TEST_STALL: <what> <id>[ <pid>]".
 * Async-signal-safe: the child calls it between clone and exec. */
static void test_stall_say(const char *what, const char *id, long pid) {
        char line[160], num[24] = "";
        size_t n = 0;
        int k = (int) sizeof(num) - 1;
        if (pid >= 0) {
                do
                        num[--k] = (char) ('0' + pid % 10);
                while ((pid /= 10) > 0 && k > 1);
                num[--k] = ' ';
        }
        const char *parts[] = { "vsd: VSD_TEST_STALL: ", what, " ", id, num + k, "\n" };
        for (size_t p = 0; p < ELEMENTSOF(parts); p++)
                for (const char *q = parts[p]; *q && n < sizeof(line); q++)
                        line[n++] = *q;
        (void) !write(STDERR_FILENO, line, n);
}

/* The parent, just after a clone: which process the test is to watch. */
static void test_stall_cloned(pid_t child) {
        if (test_stall >= 0)
                test_stall_say("cloned child for", sync_stage_id(test_stall), child);
}

void start_stall_at(enum sync_stage stage) {
        if ((int) stage != test_stall)
                return;
        test_stall_say("stalled at", sync_stage_id(stage), -1);
        for (;;)
                pause();
}

/* ---- what the child holds (see the top of this file) ---- */

/* Parent side, before the clone: an fd the child needs from the daemon's
 * table.  0, 1, 2 and negative ones need no mention. */
static void child_keep(struct child *c, int fd) {
        if (fd > STDERR_FILENO && c->n_keep < CHILD_KEEP_MAX)
                c->keep[c->n_keep++] = fd;
}

/* Per process: the stack of the init being cloned with CLONE_VM, with a
 * guard page below it; one for the daemon's life, since starts happen one
 * at a time. */
#define CHILD_STACK_SIZE (512 * 1024)
static void *child_stack;

static void *child_stack_top(vs_error *err) {
        size_t page = (size_t) sysconf(_SC_PAGESIZE);
        if (!child_stack) {
                void *p = mmap(NULL, CHILD_STACK_SIZE + page, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
                if (p == MAP_FAILED) {
                        vs_err(err, errno, "Failed to map a stack for the child");
                        return NULL;
                }
                if (mprotect(p, page, PROT_NONE) < 0) {
                        vs_err(err, errno, "Failed to map a stack for the child");
                        munmap(p, CHILD_STACK_SIZE + page);
                        return NULL;
                }
                child_stack = p;
        }
        /* Under AddressSanitizer the frames of the last child, which never
         * returned (it exec'd or exited), are still marked in the shadow
         * memory this process shares with it: each start's frames would
         * land on the last one's redzones.  Its stack is free again. */
        ASAN_UNPOISON_MEMORY_REGION((char *) child_stack + page, CHILD_STACK_SIZE);
        return (char *) child_stack + page + CHILD_STACK_SIZE;
}

/* ---- the parent ---- */

static void kill_and_reap(int pidfd) {
        siginfo_t si;
        (void) sys_pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
        while (waitid(P_PIDFD, (id_t) pidfd, &si, WEXITED) < 0 && errno == EINTR)
                ;
}

static int parent_place_in_cgroup(struct cg_manager *cg, const char *name, pid_t pid, bool cloned_into,
                                  vs_error *err) {
        if (!cg || cloned_into)
                return 0;
        return cg_attach(cg, name, pid, err);
}

/* v2: an fd for CLONE_INTO_CGROUP (the payload), so the child never runs
 * outside its cgroup; -EOPNOTSUPP (v1) means the parent attaches it after
 * clone. */
static int open_cgroup_for_clone(struct cg_manager *cg, const char *name, vs_error *err) {
        if (!cg)
                return -EOPNOTSUPP;
        int fd = cg_open_dir(cg, name);
        if (fd < 0 && fd != -EOPNOTSUPP)
                return vs_err(err, -fd, "Failed to open the cgroup of %s", name);
        return fd;
}

/* v2: where a command joining the instance is cloned: init's own cgroup
 * (the instance's tree may have enabled controllers in the payload, which
 * then takes no process: the no-internal-process rule), or vsd's leaf next
 * to the payload when that cannot be had; -EOPNOTSUPP on v1. */
static int open_cgroup_for_join(const struct join_spec *spec, bool leaf, vs_error *err) {
        if (!spec->cg)
                return -EOPNOTSUPP;
        int fd = cg_open_join_dir(spec->cg, spec->name, spec->init_pid, leaf);
        if (fd < 0 && fd != -EOPNOTSUPP && leaf)
                return vs_err(err, -fd, "Failed to open the cgroup of %s", spec->name);
        return fd;
}

/* parent_setup() leaves the child's OOM score as it is */
#define OOM_ADJ_KEEP INT_MIN

/* pid is our child, not yet reaped: its number cannot have been reused.
 * Lowering a value needs CAP_SYS_RESOURCE: a daemon without it (and with a
 * value of its own above adj) leaves the child its higher value, which
 * shields nothing (EACCES is no failure). */
static int set_oom_adj(pid_t pid, int adj, vs_error *err) {
        char path[64], val[16];
        snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int) pid);
        snprintf(val, sizeof(val), "%d", adj);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || write(fd, val, strlen(val)) < 0) {
                if (errno == EACCES || errno == EPERM)
                        return 0;
                return vs_err(err, errno, "Failed to set the OOM score of %d", (int) pid);
        }
        return 0;
}

/* ---- an unprivileged instance's user namespace (the parent's part) ---- */

/* Per process: our own mount namespace, to return to after mounting an
 * unprivileged instance's root in its own.  Opened once: the daemon's
 * mount namespace never changes. */
static int self_mntns_fd = -EBADF;

/* "0 BASE 65536" into /proc/PID/uid_map or gid_map: root inside is BASE
 * outside, and no id outside the block exists inside.  Host root writes
 * it, so setgroups(2) stays allowed inside (/proc/PID/setgroups). */
static int write_id_map(pid_t pid, const char *file, uint32_t base, vs_error *err) {
        char path[64], map[64];
        snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, file);
        int n = snprintf(map, sizeof(map), "0 %u %u\n", base, INST_ID_COUNT);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, map, (size_t) n) != n)
                return vs_err(err, errno, "write %s", path);
        return 0;
}

/* A detached copy of the mount at path (dfd), idmapped through the user
 * namespace userns: files owned by 0 on disk belong to the namespace's
 * root (BASE on the host), and what root inside creates is 0 on disk. */
static int idmapped_clone(const char *path, int userns, bool rdonly, vs_error *err) {
        _cleanup_close_ int fd = sys_open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (fd < 0)
                return vs_err(err, -fd, "clone the mount of %s", path);
        struct mount_attr attr = {
                .attr_set = MOUNT_ATTR_IDMAP | (rdonly ? MOUNT_ATTR_RDONLY : 0),
                .userns_fd = (uint64_t) userns,
        };
        int r = sys_mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof(attr));
        if (r < 0)
                return vs_err(err, -r, "idmap the mount of %s", path);
        return TAKE_FD(fd);
}

/* In the child's mount namespace (we joined it): the private layer's own
 * filesystem attached on layer_at (image), idmapped clones of it and of the
 * template's rootfs put over the originals there, and the overlay made
 * from them on the rootfs.  By path: Linux 6.1's overlayfs takes no layer
 * from a detached mount. */
static int mount_root_inside(const struct start_spec *spec, int lower, int userns, vs_error *err) {
        int r;
        if (spec->layer_fd >= 0) {
                r = sys_move_mount(spec->layer_fd, "", AT_FDCWD, spec->layer_at, MOVE_MOUNT_F_EMPTY_PATH);
                if (r < 0)
                        return vs_err(err, -r, "attach the private layer's filesystem on %s", spec->layer_at);
        }
        _cleanup_close_ int layer = idmapped_clone(spec->layer_at, userns, false, err);
        if (layer < 0)
                return layer;
        r = sys_move_mount(layer, "", AT_FDCWD, spec->layer_at, MOVE_MOUNT_F_EMPTY_PATH);
        if (r < 0)
                return vs_err(err, -r, "attach the idmapped private layer on %s", spec->layer_at);
        r = sys_move_mount(lower, "", AT_FDCWD, spec->lower, MOVE_MOUNT_F_EMPTY_PATH);
        if (r < 0)
                return vs_err(err, -r, "attach the idmapped template on %s", spec->lower);
        char opts[3 * 4096 + 64];
        if (mnt_overlay_opts(opts, sizeof(opts), spec->lower, spec->upper, spec->work) < 0)
                return vs_err(err, ENAMETOOLONG, "overlay options");
        /* overlayfs acts on its layers with its mounter's credentials,
         * taken at the mount: ours, host root, so that it keeps its
         * whiteouts and opaque directories in trusted.* attributes (only
         * host root may write them) as for a privileged instance, and the
         * same layer serves both kinds; but with the file system ids of
         * the namespace's root, which the idmapped layers map to 0 on disk
         * (host root's 0 they map to nothing: overlayfs could not even make
         * its work directory).  The capabilities a change of fsuid takes
         * away from the effective set are raised again for the mount. */
        (void) syscall(SYS_setfsgid, (gid_t) spec->id_base);
        (void) syscall(SYS_setfsuid, (uid_t) spec->id_base);
        int r2 = caps_raise_effective();
        if (r2 >= 0 && mount("overlay", spec->rootfs, "overlay", MS_NODEV, opts) < 0)
                r2 = -errno;
        /* fsuid 0 again: the kernel gives the file capabilities back */
        (void) syscall(SYS_setfsuid, (uid_t) 0);
        (void) syscall(SYS_setfsgid, (gid_t) 0);
        if (r2 < 0)
                return vs_err(err, -r2, "mount overlay (lowerdir=%s) on %s", spec->lower, spec->rootfs);
        return 0;
}

static int parent_mount_root(const struct start_spec *spec, pid_t pid, vs_error *err) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) pid);
        _cleanup_close_ int userns = open(path, O_RDONLY | O_CLOEXEC);
        if (userns < 0)
                return vs_err(err, errno, "open %s", path);
        snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int) pid);
        _cleanup_close_ int mntns = open(path, O_RDONLY | O_CLOEXEC);
        if (mntns < 0)
                return vs_err(err, errno, "open %s", path);
        if (self_mntns_fd < 0) {
                self_mntns_fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
                if (self_mntns_fd < 0)
                        return vs_err(err, errno, "open our own mount namespace");
        }
        _cleanup_close_ int lower = idmapped_clone(spec->lower, userns, true, err);
        if (lower < 0)
                return lower;
        /* setns() takes the namespace's root and cwd: ours back after */
        _cleanup_close_ int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        int r = sys_setns(mntns, CLONE_NEWNS);
        if (r < 0)
                return vs_err(err, -r, "enter the instance's mount namespace");
        r = mount_root_inside(spec, lower, userns, err);
        int rr = sys_setns(self_mntns_fd, CLONE_NEWNS);
        if (rr < 0)
                return vs_err(err, -rr, "return to our own mount namespace");
        if (cwd >= 0)
                (void) fchdir(cwd);
        return r;
}

/* A user namespace with the instance's mapping, for idmapped mounts made
 * outside any of the instance's processes (the restore helper's): a child
 * unshares it and waits, the maps are written, the namespace is opened,
 * the child killed.  An idmapped mount takes the mapping, not the
 * namespace: any namespace with the same maps serves. */
static int userns_make(uint32_t base, vs_error *err) {
        int pidfd = -EBADF;
        struct clone_args args = { .flags = CLONE_PIDFD | CLONE_NEWUSER, .pidfd = (uint64_t) (uintptr_t) &pidfd,
                                   .exit_signal = SIGCHLD };
        pid_t pid = sys_clone3(&args);
        if (pid == 0) {
                for (;;)
                        pause();
        }
        if (pid < 0)
                return vs_err(err, -pid, "make a user namespace");
        char path[64];
        int r = write_id_map(pid, "uid_map", base, err);
        if (r >= 0)
                r = write_id_map(pid, "gid_map", base, err);
        int fd = -EBADF;
        if (r >= 0) {
                snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) pid);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        r = vs_err(err, errno, "open %s", path);
        }
        kill_and_reap(pidfd);
        close(pidfd);
        return r < 0 ? r : fd;
}

int start_mount_root_here(const struct start_spec *spec, vs_error *err) {
        int r;
        if (!spec->userns) {
                char opts[3 * 4096 + 64];
                if (spec->layer_fd >= 0) {
                        r = sys_move_mount(spec->layer_fd, "", AT_FDCWD, spec->layer_at, MOVE_MOUNT_F_EMPTY_PATH);
                        if (r < 0)
                                return vs_err(err, -r, "attach the private layer's filesystem on %s", spec->layer_at);
                }
                if (mnt_overlay_opts(opts, sizeof(opts), spec->lower, spec->upper, spec->work) < 0)
                        return vs_err(err, ENAMETOOLONG, "overlay options");
                if (mount("overlay", spec->rootfs, "overlay", MS_NODEV, opts) < 0)
                        return vs_err(err, errno, "mount overlay (lowerdir=%s) on %s", spec->lower, spec->rootfs);
                return 0;
        }
        _cleanup_close_ int userns = userns_make(spec->id_base, err);
        if (userns < 0)
                return userns;
        _cleanup_close_ int lower = idmapped_clone(spec->lower, userns, true, err);
        if (lower < 0)
                return lower;
        return mount_root_inside(spec, lower, userns, err);
}

/* What the parent does for an unprivileged instance while the child waits
 * for SETUP_DONE: the maps first (the child's steps need its ids), then
 * the network into the child's own namespace, then its root. */
static int parent_userns(const struct start_spec *spec, pid_t pid, vs_error *err) {
        start_stall_at(SYNC_USER_MAP);
        int r = write_id_map(pid, "uid_map", spec->id_base, err);
        if (r >= 0)
                r = write_id_map(pid, "gid_map", spec->id_base, err);
        if (r < 0)
                return vs_err_prefix(err, "Failed to %s", sync_stage_name(SYNC_USER_MAP));
        if (spec->net_move_in) {
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) pid);
                _cleanup_close_ int netns = open(path, O_RDONLY | O_CLOEXEC);
                if (netns < 0)
                        return vs_err(err, errno, "Failed to %s: open %s", sync_stage_name(SYNC_USER_NET), path);
                r = spec->net_move_in(spec->net_data, netns, err);
                if (r < 0)
                        return vs_err_prefix(err, "Failed to %s", sync_stage_name(SYNC_USER_NET));
        }
        r = parent_mount_root(spec, pid, err);
        if (r < 0)
                return vs_err_prefix(err, "Failed to %s", sync_stage_name(SYNC_USER_ROOT));
        return 0;
}

/* The parent's go-ahead, once the child exists: cgroup, OOM score, an
 * unprivileged instance's user namespace (us), then SETUP_DONE, which the
 * first step of the child's checklist waits for.  On failure the child is
 * killed and reaped. */
static int parent_setup(int sync_fd, pid_t pid, int pidfd, struct cg_manager *cg, const char *name, bool cloned_into,
                        int oom_adj, const struct start_spec *us, vs_error *err) {
        test_stall_cloned(pid);
        start_stall_at(SYNC_CGROUP);
        int r = parent_place_in_cgroup(cg, name, pid, cloned_into, err);
        if (r >= 0 && oom_adj != OOM_ADJ_KEEP)
                r = set_oom_adj(pid, oom_adj, err);
        if (r >= 0 && us)
                r = parent_userns(us, pid, err);
        if (r >= 0) {
                start_stall_at(SYNC_SETUP_DONE);
                r = sync_send(sync_fd, SYNC_SETUP_DONE, 0, NULL);
                if (r < 0)
                        r = vs_err(err, -r, "Failed to %s", sync_stage_name(SYNC_SETUP_DONE));
        }
        if (r < 0)
                kill_and_reap(pidfd);
        return r;
}

int start_report_parse(const void *buf, size_t n, bool fd_came, bool *ret_take_fd, vs_error *warn, vs_error *err) {
        struct sync_msg m;
        *ret_take_fd = false;
        if (n == 0)
                return 0; /* EOF: the child exec'd */
        size_t len = n < sizeof(m) ? n : sizeof(m); /* recvmsg() cuts a longer one so */
        memcpy(&m, buf, len);
        int r = sync_msg_parse(&m, len);
        if (r < 0)
                return vs_err(err, -r, "Failed to read from the child");
        if (m.error == 0) {
                if (fd_came)
                        *ret_take_fd = true;
                else if (warn && m.message[0]) {
                        size_t k = strlen(warn->msg);
                        snprintf(warn->msg + k, sizeof(warn->msg) - k, "%s%s", k ? "; " : "", m.message);
                        vs_err_text_clean(warn->msg); /* the child's bytes, as vs_err() does */
                }
                return 1;
        }
        int code = m.error > 0 ? m.error : EINVAL;
        if (m.message[0])
                return vs_err(err, code, "Failed to %s: %s", sync_stage_name(m.stage), m.message);
        return vs_err(err, code, "Failed to %s", sync_stage_name(m.stage));
}

/* Where the fds a child hands over go (NULL: not wanted, closed): the
 * command's pty (step_join_pty) and the seccomp listener
 * (step_seccomp_listener), told apart by the stage that sent them. */
struct parent_fds {
        int *pty;
        int *listener;
};

/*
 * One message of the child's answer: 0 EOF (it exec'd); 1 a report on the
 * way, after which more comes: an fd a step handed over, kept where fds
 * says, or a warning without an errno, appended to warn; < 0 the stage
 * that failed.
 */
static int parent_result_step(int sync_fd, const struct parent_fds *fds, vs_error *warn, vs_error *err) {
        struct sync_msg m;
        _cleanup_close_ int fd = -EBADF;
        bool take;
        ssize_t n = sync_recv_raw(sync_fd, &m, &fd);
        if (n == -EAGAIN)
                return vs_err(err, ETIMEDOUT, "Failed to start: no word from the child in %d s", START_TIMEOUT_SEC);
        if (n < 0)
                return vs_err(err, (int) -n, "Failed to read from the child");
        int r = start_report_parse(&m, (size_t) n, fd >= 0, &take, warn, err);
        if (r > 0 && take) {
                int *slot = m.stage == SYNC_SECCOMP_LISTENER ? fds->listener : fds->pty;
                if (slot) {
                        safe_close(slot);
                        *slot = TAKE_FD(fd);
                }
        }
        return r;
}

/* The child's whole answer, waited for: 0 it exec'd (with the listener it
 * handed over in *ret_listener, -EBADF if none came), or the stage that
 * failed. */
static int parent_result(int sync_fd, int *ret_listener, vs_error *warn, vs_error *err) {
        _cleanup_close_ int listener = -EBADF;
        struct parent_fds fds = { .listener = ret_listener ? &listener : NULL };
        int r;
        while ((r = parent_result_step(sync_fd, &fds, warn, err)) > 0)
                ;
        if (r == 0 && ret_listener)
                *ret_listener = TAKE_FD(listener);
        return r;
}

/*
 * The parent's half of the handshake: go-ahead, then wait for EOF (exec)
 * or a failure report.  On failure the child is killed and reaped.
 */
static int parent_handshake(int sync_fd, pid_t pid, int pidfd, struct cg_manager *cg, const char *name,
                            bool cloned_into, int oom_adj, const struct start_spec *us, int *ret_listener,
                            vs_error *warn, vs_error *err) {
        int r = parent_setup(sync_fd, pid, pidfd, cg, name, cloned_into, oom_adj, us, err);
        if (r < 0)
                return r;
        r = parent_result(sync_fd, ret_listener, warn, err);
        if (r < 0)
                kill_and_reap(pidfd);
        return r;
}

static int sync_pair(int sv[2], vs_error *err) {
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return vs_err(err, errno, "Failed to create the sync socket pair");
        struct timeval tv = { .tv_sec = START_TIMEOUT_SEC };
        if (setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
                int r = errno;
                close(sv[0]);
                close(sv[1]);
                return vs_err(err, r, "Failed to set the sync socket timeout");
        }
        return 0;
}

/*
 * The kernel makes a user namespace's owner the euid of the process that
 * creates it, and charges what the namespace's users hold of the counted
 * kernel resources (inotify instances and watches, fanotify, namespaces;
 * kernel/ucount.c) to that owner in the parent namespace as well, against
 * the host's per-user limits (fs.inotify.max_user_instances, ...).  Made
 * by the daemon as root, every instance's namespace was host root's: the
 * instances and the host's own root shared one count, and one instance
 * that opened 128 inotify instances left none to the others, nor to
 * systemd on the host.  So the clone runs with the euid of the
 * instance's root (BASE): each instance is a user of its own at the
 * host's level.  This thread only (raw setresuid; the C library's would
 * change every thread), effective capabilities kept across the change
 * (SECBIT_NO_SETUID_FIXUP: CLONE_INTO_CGROUP needs them), file system ids
 * kept at 0 (the child opens its root through the daemon's 0700
 * directories, step_user_ids).  The new namespace starts its own
 * securebits and capabilities.  *ret_secbits: ours, for owner_end().
 */
static int owner_begin(uint32_t base, int *ret_secbits, vs_error *err) {
        int secbits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
        if (secbits < 0)
                return vs_err(err, errno, "Failed to read our securebits");
        if (prctl(PR_SET_SECUREBITS, (unsigned long) secbits | SECBIT_NO_SETUID_FIXUP, 0, 0, 0) < 0)
                return vs_err(err, errno, "Failed to keep our capabilities across a change of euid");
        int r = sys_setresuid((uid_t) -1, (uid_t) base, (uid_t) -1);
        if (r < 0) {
                (void) prctl(PR_SET_SECUREBITS, (unsigned long) secbits, 0, 0, 0);
                return vs_err(err, -r, "Failed to take the euid %u to clone the instance's user namespace", base);
        }
        (void) syscall(SYS_setfsuid, (uid_t) 0);
        *ret_secbits = secbits;
        return 0;
}

static void owner_end(int secbits) {
        (void) sys_setresuid((uid_t) -1, 0, (uid_t) -1);
        (void) syscall(SYS_setfsuid, (uid_t) 0);
        (void) prctl(PR_SET_SECUREBITS, (unsigned long) secbits, 0, 0, 0);
}

static int prepare_security(struct cg_manager *cg, vs_error *err) {
        int r = caps_prepare(err);
        if (r < 0)
                return r;
        /* the layout is the daemon's, fixed at its start */
        return syscall_filter_prepare(cg && strcmp(cg_manager_mode(cg), "v1") == 0, err);
}

int start_spawn(const struct start_spec *spec, pid_t *ret_pid, int *ret_pidfd, vs_error *err) {
        if (!spec->name || !spec->name[0])
                return vs_err_msg(err, EINVAL, "invalid instance: no name");
        if (!spec->init_argv || !spec->init_argv[0] || spec->init_argv[0][0] != '/')
                return vs_err_msg(err, EINVAL, "invalid init for %s: not an absolute path", spec->name);
        struct mnt_root root = start_mnt_root(spec);
        int r = mnt_check_root(&root, err);
        if (r < 0)
                return r;
        r = prepare_security(spec->cg, err);
        if (r < 0)
                return r;

        _cleanup_close_ int cgfd = open_cgroup_for_clone(spec->cg, spec->name, err);
        if (cgfd < 0 && cgfd != -EOPNOTSUPP)
                return cgfd;

        int sv[2];
        r = sync_pair(sv, err);
        if (r < 0)
                return r;
        _cleanup_close_ int parent_fd = sv[0];
        _cleanup_close_ int child_fd = sv[1];

        /* No CLONE_NEWCGROUP here: the child unshares it after the parent has
         * placed it in its cgroup (step_cgroup_ns).  No CLONE_NEWTIME either:
         * a namespace cloned into has a process in it already, and its
         * offsets can no longer be set (step_time_ns). */
        int pidfd = -EBADF;
        struct clone_args args = {
                .flags = CLONE_PIDFD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                         (spec->join_netns ? 0 : CLONE_NEWNET) |
                         /* together, so that the user namespace owns the
                          * others: root inside holds its capabilities over
                          * its own mounts, network, hostname and IPC */
                         (spec->userns ? CLONE_NEWUSER : 0),
                .pidfd = (uint64_t) (uintptr_t) &pidfd,
                .exit_signal = SIGCHLD,
        };
        if (cgfd >= 0) {
                args.flags |= CLONE_INTO_CGROUP;
                args.cgroup = (uint64_t) cgfd;
        }
        /* Read last before the clone, so that they are not later than the
         * child's start time (step_time_ns). */
        struct timespec clone_monotonic, clone_boottime;
        clock_gettime(CLOCK_BOOTTIME, &clone_boottime);
        clock_gettime(CLOCK_MONOTONIC, &clone_monotonic);
        struct child c = {
                .spec = spec,
                .sync_fd = child_fd,
                .rootfd = -EBADF,
                .pty_slave = -EBADF,
                .time_ns_fd = -EBADF,
                .listener = -EBADF,
                .console_tree = -EBADF,
                .clone_monotonic = clone_monotonic,
                .clone_boottime = clone_boottime,
        };
        for (int i = 0; i < MNT_NODES_MAX; i++)
                c.node_trees[i] = -EBADF;
        /* all the child keeps of the daemon's fds (child_detach) */
        child_keep(&c, child_fd);
        child_keep(&c, spec->console);
        if (!spec->userns)
                child_keep(&c, spec->layer_fd); /* userns: the parent mounts the root */
        if (spec->join_netns)
                child_keep(&c, spec->netns_fd);
        for (int i = 0; spec->view_trees && i < VIEW_N_FILES; i++)
                child_keep(&c, spec->view_trees->fd[i]);
        for (int i = 0; spec->view_trees && i < VIEW_N_OWN; i++)
                child_keep(&c, spec->view_trees->own[i]);
        pid_t pid;
        int dumpable = -1;
        int secbits = -1;
        if (spec->userns && spec->userns_owned) {
                /* A change of euid makes our memory non-dumpable: ours back
                 * after, as for CLONE_VM below. */
                dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
                r = owner_begin(spec->id_base, &secbits, err);
                if (r < 0)
                        return r;
        }
        /* CLONE_VM where the parent places the child in its cgroups, unless
         * the child must enter its time namespace itself (step_time_ns) */
        if (cgfd < 0 && !spec->time_ns_setns) {
                /* In our memory (see the top of this file).  The child
                 * closes its copy of our end of the sync socket first
                 * (child_detach): parent_fd itself is ours. */
                void *top = child_stack_top(err);
                if (!top) {
                        if (secbits >= 0)
                                owner_end(secbits);
                        if (dumpable >= 0)
                                (void) prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
                        return -err->code;
                }
                if (dumpable < 0)
                        dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
                pid = clone(child_spawn_entry, top, (int) args.flags | CLONE_VM | SIGCHLD, &c, &pidfd);
                if (pid < 0)
                        pid = -errno;
        } else {
                pid = sys_clone3(&args);
                if (pid == 0)
                        child_run_spawn(&c);
        }
        if (secbits >= 0)
                owner_end(secbits);
        if (pid < 0) {
                if (dumpable >= 0)
                        (void) prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
                return vs_err(err, -pid, "Failed to clone the init of %s", spec->name);
        }

        safe_close(&child_fd);
        _cleanup_close_ int listener = -EBADF;
        r = parent_handshake(parent_fd, pid, pidfd, spec->cg, spec->name, cgfd >= 0, OOM_ADJ_KEEP,
                             spec->userns ? spec : NULL, &listener, spec->warn, err);
        if (dumpable >= 0)
                (void) prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
        /* Only now, with init exec'd: until then it shares our memory, and
         * the kernel gives every process sharing a memory the value written
         * for one of them (us too).  What init forks in the microseconds
         * before this keeps our value, which is the same unless the daemon
         * runs with a value of its own. */
        if (r >= 0) {
                r = set_oom_adj(pid, START_OOM_ADJ_INIT, err);
                if (r < 0)
                        kill_and_reap(pidfd);
        }
        if (r < 0) {
                close(pidfd);
                return r;
        }
        *ret_pid = pid;
        *ret_pidfd = pidfd;
        if (spec->listener)
                *spec->listener = TAKE_FD(listener);
        return 0;
}

bool start_time_ns_supported(void) {
        return kern_time_ns_supported();
}

/*
 * The instance's time namespace: the one its init's children are born in
 * (/proc/PID/ns/time_for_children), not init's own.  On a kernel whose
 * exec does not enter an unshared time namespace (6.1), an init started by
 * a vsd that did not enter it itself stayed in the host's, while
 * everything it forks is in the instance's; init cannot make another (no
 * CAP_SYS_ADMIN), so its time_for_children is the instance's on every
 * kernel.  The pid comes from the pidfd; if init is still alive after the
 * open, the pid was init's when it was opened.  -errno.
 */
static int open_time_ns(int pidfd) {
        char path[64];
        _cleanup_free_ char *info = NULL;
        snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
        int r = vs_read_file(path, 4096, &info, NULL);
        if (r < 0)
                return r;
        const char *p = strstr(info, "\nPid:");
        int pid;
        if (!p || sscanf(p + 5, "%d", &pid) != 1 || pid <= 0)
                return -ESRCH; /* -1: init is gone */
        snprintf(path, sizeof(path), "/proc/%d/ns/time_for_children", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = sys_pidfd_send_signal(pidfd, 0, NULL, 0);
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

/* Per process: our own pid namespace, to return to after forking into an
 * instance's.  Opened once: the daemon's pid namespace never changes. */
static int self_pidns_fd = -EBADF;

int start_join_begin(const struct join_spec *spec, pid_t *ret_pid, int *ret_pidfd, int *ret_sync_fd, vs_error *err) {
        if (!spec->argv || !spec->argv[0] || !spec->argv[0][0])
                return vs_err_msg(err, EINVAL, "invalid command: empty argv");
        int r = prepare_security(spec->cg, err);
        if (r < 0)
                return r;
        if (self_pidns_fd < 0) {
                self_pidns_fd = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
                if (self_pidns_fd < 0)
                        return vs_err(err, errno, "Failed to open our own pid namespace");
        }

        /* init's cgroup, else (frozen, gone, not below the instance) the leaf */
        _cleanup_close_ int cgfd = open_cgroup_for_join(spec, false, err);
        bool leaf = false;
        if (cgfd < 0 && cgfd != -EOPNOTSUPP) {
                leaf = true;
                cgfd = open_cgroup_for_join(spec, true, err);
                if (cgfd < 0)
                        return cgfd;
        }
        _cleanup_close_ int time_ns = -EBADF;
        if (spec->time_ns) {
                time_ns = open_time_ns(spec->init_pidfd);
                if (time_ns < 0)
                        return vs_err(err, -time_ns, "Failed to find the time namespace of %s", spec->name);
        }

        int sv[2];
        r = sync_pair(sv, err);
        if (r < 0)
                return r;
        _cleanup_close_ int parent_fd = sv[0];
        _cleanup_close_ int child_fd = sv[1];

        /* setns(CLONE_NEWPID) changes only where our next child is born: the
         * child starts inside the instance's pid namespace yet stays our
         * child, so our pidfd and waitid() see its exit, with no double
         * fork.  We switch back right after the clone. */
        r = sys_setns(spec->init_pidfd, CLONE_NEWPID);
        if (r < 0)
                return vs_err(err, -r, "Failed to enter the pid namespace of %s", spec->name);

        int pidfd = -EBADF;
        struct clone_args args = {
                .flags = CLONE_PIDFD,
                .pidfd = (uint64_t) (uintptr_t) &pidfd,
                .exit_signal = SIGCHLD,
        };
        if (cgfd >= 0) {
                args.flags |= CLONE_INTO_CGROUP;
                args.cgroup = (uint64_t) cgfd;
        }
        struct child c = { .join = spec, .sync_fd = child_fd, .rootfd = -EBADF, .pty_slave = -EBADF,
                           .time_ns_fd = time_ns, .listener = -EBADF };
        child_keep(&c, child_fd);
        child_keep(&c, spec->init_pidfd);
        child_keep(&c, time_ns);
        for (int i = 0; i < 3; i++)
                child_keep(&c, spec->fds[i]);
        pid_t pid = sys_clone3(&args);
        if (pid < 0 && cgfd >= 0 && !leaf) {
                /* init's cgroup refused us: the instance enabled controllers
                 * in it (a thread root), limited or removed it meanwhile */
                safe_close(&cgfd);
                vs_error lerr = { 0 };
                cgfd = open_cgroup_for_join(spec, true, &lerr);
                if (cgfd >= 0) {
                        args.cgroup = (uint64_t) cgfd;
                        pid = sys_clone3(&args);
                }
        }
        if (pid == 0)
                child_run_join(&c);

        int rr = sys_setns(self_pidns_fd, CLONE_NEWPID);
        if (rr < 0) {
                /* Every later child would be born in this instance. */
                if (pid > 0) {
                        kill_and_reap(pidfd);
                        close(pidfd);
                }
                return vs_err(err, -rr, "Failed to return to our own pid namespace");
        }
        if (pid < 0)
                return vs_err(err, -pid, "Failed to clone into %s", spec->name);

        safe_close(&child_fd);
        /* before the go-ahead: the command and all it starts get it */
        r = parent_setup(parent_fd, pid, pidfd, spec->cg, spec->name, cgfd >= 0, START_OOM_ADJ_EXEC, NULL, err);
        if (r < 0) {
                close(pidfd);
                return r;
        }
        *ret_pid = pid;
        *ret_pidfd = pidfd;
        *ret_sync_fd = TAKE_FD(parent_fd);
        return 0;
}

int start_join_result(int sync_fd, int *pty, int *listener, vs_error *err) {
        struct parent_fds fds = { .pty = pty, .listener = listener };
        int r = parent_result_step(sync_fd, &fds, NULL, err);
        if (r == 0 && pty && *pty < 0)
                return vs_err_msg(err, EPROTO, "Failed to %s: no pty came back", sync_stage_name(SYNC_JOIN_PTY));
        return r;
}

int start_join(const struct join_spec *spec, pid_t *ret_pid, int *ret_pidfd, int *ret_pty, vs_error *err) {
        pid_t pid;
        int pidfd;
        _cleanup_close_ int sync_fd = -EBADF;
        _cleanup_close_ int pty = -EBADF;
        int r = start_join_begin(spec, &pid, &pidfd, &sync_fd, err);
        if (r < 0)
                return r;
        while ((r = start_join_result(sync_fd, spec->tty ? &pty : NULL, NULL, err)) > 0)
                ;
        if (r < 0) {
                kill_and_reap(pidfd);
                close(pidfd);
                return r;
        }
        *ret_pid = pid;
        *ret_pidfd = pidfd;
        if (ret_pty)
                *ret_pty = TAKE_FD(pty);
        return 0;
}

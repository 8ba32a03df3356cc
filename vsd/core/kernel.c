/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the running kernel can do (kernel.h): the system calls vsd needs,
 * checked at daemon start so that an old kernel is named in one line
 * rather than failing the first start with a bare EINVAL or ENOSYS, and
 * the behaviours that changed between the kernels hosts run (Debian 12:
 * 6.1), probed once by trying them.
 */
#include "vsd/core/kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"
#include "vsd/core/syscalls.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* ---- required system calls ---- */

/* Each is called with arguments it must refuse (or that change nothing):
 * ENOSYS, or EINVAL for a flag an older release does not know, means the
 * kernel lacks it; any other answer means it is there. */
static int try_clone3(void) {
        return (int) vs_syscall_ret(syscall(SYS_clone3, NULL, 0));
}

static int try_openat2(void) {
        return (int) vs_syscall_ret(syscall(SYS_openat2, AT_FDCWD, "/", NULL, 0));
}

static int try_close_range_cloexec(void) {
        /* an empty range of fds: flags are checked first, nothing changes */
        int r = sys_close_range(~0U, ~0U, CLOSE_RANGE_CLOEXEC);
        return r == -EINVAL ? -ENOSYS : r;
}

static int try_pidfd(void) {
        int fd = sys_pidfd_open(getpid(), 0);
        if (fd < 0)
                return fd;
        /* setns() through a pidfd (5.8): into our own uts namespace, which
         * changes nothing; older kernels refuse a pidfd with EINVAL */
        int r = sys_setns(fd, CLONE_NEWUTS);
        close(fd);
        return r == -EINVAL ? -ENOSYS : r;
}

static int try_fsopen(void) {
        return (int) vs_syscall_ret(syscall(SYS_fsopen, NULL, 0));
}

static int try_fsmount(void) {
        return (int) vs_syscall_ret(syscall(SYS_fsmount, -1, 0, 0));
}

static int try_open_tree(void) {
        return sys_open_tree(-1, NULL, 0);
}

static int try_move_mount(void) {
        return sys_move_mount(-1, NULL, -1, NULL, 0);
}

static int try_mount_setattr(void) {
        return sys_mount_setattr(-1, NULL, 0, NULL, 0);
}

/* In the order of the releases that brought them: the first one missing
 * names the oldest release that would do. */
static const struct {
        const char *call;
        const char *release;
        const char *what;
        int (*try)(void);
} required[] = {
        { "fsopen()", "5.2", "mounting an image instance's disk where only the daemon reaches it", try_fsopen },
        { "fsmount()", "5.2", "mounting an image instance's disk where only the daemon reaches it", try_fsmount },
        { "open_tree()", "5.2", "binding the view's files and the console into an instance", try_open_tree },
        { "move_mount()", "5.2", "binding the view's files and the console into an instance", try_move_mount },
        { "clone3()", "5.3", "starting instances and commands inside them", try_clone3 },
        { "openat2()", "5.6", "resolving paths inside an instance's root without leaving it", try_openat2 },
        { "setns() on a pidfd", "5.8", "running commands inside an instance", try_pidfd },
        { "close_range(CLOSE_RANGE_CLOEXEC)", "5.11", "keeping the daemon's files out of instances",
          try_close_range_cloexec },
        { "mount_setattr()", "5.12", "making the view's files read-only", try_mount_setattr },
};

int kern_check_required(vs_error *err) {
        for (size_t k = 0; k < ELEMENTSOF(required); k++) {
                if (required[k].try() != -ENOSYS)
                        continue;
                struct utsname u;
                if (uname(&u) < 0)
                        snprintf(u.release, sizeof(u.release), "unknown");
                return vs_err_msg(err, ENOSYS,
                                  "vsd needs Linux %s or later: this kernel (%s) has no %s, which vsd uses for %s",
                                  required[k].release, u.release, required[k].call, required[k].what);
        }
        return 0;
}

/* ---- behaviours ---- */

static bool same_link(const char *a, const char *b) {
        char la[64], lb[64];
        ssize_t na = readlink(a, la, sizeof(la) - 1), nb = readlink(b, lb, sizeof(lb) - 1);
        if (na < 0 || nb < 0)
                return false;
        return na == nb && memcmp(la, lb, (size_t) na) == 0;
}

/*
 * Does exec move a process into the time namespace it unshared?  A child
 * unshares one and execs our own binary under PTRACE_TRACEME, which stops
 * it right after the exec, before the new program runs a single
 * instruction; its /proc/PID/ns/time then says where the exec left it, and
 * it is killed.  Anything that keeps the probe from answering (ptrace
 * denied by a security module, a failed fork) answers "no": the path taken
 * then (setns() before exec) works on every kernel.
 */
static bool probe_exec_enters_time_ns(void) {
        pid_t pid = fork();
        if (pid < 0)
                return false;
        if (pid == 0) {
                char *const argv[] = { "vsd-probe", NULL };
                char *const envp[] = { NULL };
                if (unshare(CLONE_NEWTIME) == 0 && ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0)
                        execve("/proc/self/exe", argv, envp);
                _exit(127);
        }
        int status;
        pid_t w;
        while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
                ;
        if (w != pid)
                return false;
        if (!WIFSTOPPED(status))
                return false; /* it exited: exec or ptrace failed */
        char own[64], theirs[64];
        snprintf(own, sizeof(own), "/proc/%d/ns/time", (int) getpid());
        snprintf(theirs, sizeof(theirs), "/proc/%d/ns/time", (int) pid);
        /* pid is our unreaped child: its number cannot have been reused */
        bool moved = !same_link(own, theirs);
        (void) kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        return moved;
}

/*
 * Does overlayfs take an upper layer on a detached mount?  The same layout
 * as an image instance's start, on a small tmpfs: fsmount() it, and create
 * (FSCONFIG_CMD_CREATE, which runs overlayfs's checks) an overlay whose
 * upper and work directories are reached through /proc/self/fd.  The
 * overlay is never attached anywhere, and closing the fds drops both.
 */
static bool probe_overlay_detached_upper(const char *lower_dir) {
        _cleanup_close_ int tfs = fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (tfs < 0 || fsconfig(tfs, FSCONFIG_SET_STRING, "size", "64k", 0) < 0 ||
            fsconfig(tfs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return false;
        _cleanup_close_ int mfd = fsmount(tfs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID);
        if (mfd < 0 || mkdirat(mfd, "upper", 0755) < 0 || mkdirat(mfd, "work", 0755) < 0)
                return false;
        char upper[64], work[64];
        snprintf(upper, sizeof(upper), "/proc/self/fd/%d/upper", mfd);
        snprintf(work, sizeof(work), "/proc/self/fd/%d/work", mfd);
        _cleanup_close_ int ofs = fsopen("overlay", FSOPEN_CLOEXEC);
        return ofs >= 0 && fsconfig(ofs, FSCONFIG_SET_STRING, "lowerdir", lower_dir, 0) == 0 &&
               fsconfig(ofs, FSCONFIG_SET_STRING, "upperdir", upper, 0) == 0 &&
               fsconfig(ofs, FSCONFIG_SET_STRING, "workdir", work, 0) == 0 &&
               fsconfig(ofs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0;
}

bool kern_time_ns_supported(void) {
        /* The link exists exactly when the kernel was built with
         * CONFIG_TIME_NS; unshare(CLONE_NEWTIME) would fail with EINVAL. */
        return access("/proc/self/ns/time", F_OK) == 0;
}

/* Is cap in our effective set?  /proc/self/status's CapEff, which needs no
 * library in this module. */
static bool has_effective_cap(unsigned cap) {
        char buf[4096];
        _cleanup_close_ int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
        if (n <= 0)
                return true; /* cannot tell: what every host's root has */
        buf[n] = '\0';
        const char *p = strstr(buf, "\nCapEff:");
        unsigned long long eff;
        if (!p || sscanf(p + 9, "%llx", &eff) != 1)
                return true;
        return (eff >> cap) & 1;
}

void kern_probe(const char *lower_dir, struct kern_features *ret) {
        struct kern_features f = { .time_ns = kern_time_ns_supported() };
        f.exec_enters_time_ns = f.time_ns && probe_exec_enters_time_ns();
        f.overlay_detached_upper = probe_overlay_detached_upper(lower_dir);
        f.sys_resource = has_effective_cap(CAP_SYS_RESOURCE);
        *ret = f;
}

int kern_criu_feature(const char *criu, const char *feature, char *why, size_t len) {
        _cleanup_close_ int out = memfd_create("criu-check", MFD_CLOEXEC);
        if (out < 0) {
                snprintf(why, len, "memfd: %s", strerror(errno));
                return -errno;
        }
        pid_t pid = fork();
        if (pid < 0) {
                snprintf(why, len, "fork: %s", strerror(errno));
                return -errno;
        }
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
                        _exit(127);
                char *argv[] = { (char *) criu, "check", "--feature", (char *) feature, NULL };
                char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", NULL };
                execve(criu, argv, envp);
                _exit(127);
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        /* its last line that says something */
        char text[4096] = "";
        ssize_t k = pread(out, text, sizeof(text) - 1, 0);
        text[k > 0 ? k : 0] = '\0';
        char *end = text + strlen(text);
        while (end > text && (end[-1] == '\n' || end[-1] == ' '))
                *--end = '\0';
        char *line = strrchr(text, '\n');
        line = line ? line + 1 : text;
        char *msg = strstr(line, "): ");
        msg = msg ? msg + 3 : line;
        snprintf(why, len, "criu check --feature %s: %s", feature,
                 *msg ? msg : WIFEXITED(status) && WEXITSTATUS(status) == 127 ? "cannot run criu" : "failed");
        return -EOPNOTSUPP;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The known container escapes, tried for real from inside an instance
 * (tests/integration/t_escape.sh runs them and judges the result from the
 * host).  Each command reports every attempt as "key=value"; a line
 * starting with "breach" is an attempt that got through.
 *
 * Harmless by construction, should an attempt get through: nothing is ever
 * written but a value read back from the same file a moment before (a
 * cgroup's release_agent), a process that was attached to is detached at
 * once, a file opened for writing is closed unwritten, a "module" is 64
 * bytes that are no ELF file, a device node is opened read-only and never
 * read.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/probe/probe.h"

static int breaches;

static void breach(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void breach(const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        say("breach %s", buf);
        breaches++;
}

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static ssize_t read_small(const char *path, char *buf, size_t size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        if (n < 0)
                n = -errno;
        close(fd);
        if (n >= 0)
                buf[n] = '\0';
        return n;
}

/* A new user namespace (with this process's ids mapped to root in it) and
 * the namespaces in flags, owned by it: the first step of most published
 * escapes, since it gives back every capability, inside that namespace. */
static int enter_userns(int flags) {
        uid_t uid = getuid();
        gid_t gid = getgid();
        char map[64];
        int fd;

        if (unshare(CLONE_NEWUSER | flags) < 0)
                return -errno;
        fd = open("/proc/self/setgroups", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                if (write(fd, "deny", 4) < 0) {
                        /* the gid map below fails and says so */
                }
                close(fd);
        }
        snprintf(map, sizeof(map), "0 %u 1", (unsigned) uid);
        fd = open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, map, strlen(map)) < 0) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                return -e;
        }
        close(fd);
        snprintf(map, sizeof(map), "0 %u 1", (unsigned) gid);
        fd = open("/proc/self/gid_map", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, map, strlen(map)) < 0) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                return -e;
        }
        close(fd);
        return 0;
}

/* ---- race-exec: /proc/PID/exe and ptrace of what `vsctl exec` starts ---- */

/*
 * probe race-exec SECONDS DEV:INO
 *
 * For SECONDS, watch /proc for new processes and attack each as long as it
 * still runs the daemon's image (its comm is "vsd": a forked daemon keeps
 * its name until execve): CVE-2019-5736's open of /proc/PID/exe for
 * writing, directly and by an O_PATH fd reopened through /proc/self/fd (also
 * once the process is gone), PTRACE_SEIZE and PTRACE_ATTACH,
 * process_vm_readv, /proc/PID/mem and maps, and its fds.  DEV:INO is the
 * daemon's binary as the host sees it (stat -c %d:%i): an attempt that got
 * through is a breach when what it reached is that file or the process
 * still had the daemon's name afterwards (it may have exec'd in between,
 * which is no breach: its exe is then the instance's own program).  The
 * watch ends early once /tmp/vsd-race-stop exists.
 */

#define RACE_MAX_PID (1 << 22)
#define RACE_VICTIMS 512
/* made by the test to end the watch before SECONDS are up */
#define RACE_STOP "/tmp/vsd-race-stop"

struct victim {
        pid_t pid;
        bool active;   /* still to be attacked */
        bool was_vsd;  /* seen with the daemon's name at least once */
        int held;      /* an O_PATH fd of its exe, kept for after it is gone */
        unsigned rounds;
};

static unsigned char race_seen[RACE_MAX_PID / 8];
static dev_t vsd_dev;
static ino_t vsd_ino;

static bool comm_is_vsd(pid_t pid, bool *gone) {
        char path[64], buf[64];
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/%d/comm", (int) pid);
        n = read_small(path, buf, sizeof(buf));
        if (n < 0) {
                *gone = true;
                return false;
        }
        return strcmp(buf, "vsd\n") == 0;
}

static bool is_vsd_file(int fd) {
        struct stat st;

        return fstat(fd, &st) == 0 && st.st_dev == vsd_dev && st.st_ino == vsd_ino;
}

/* What an attempt that got through reached: breach or not. */
static void judge(struct victim *v, const char *what, int fd) {
        bool gone = false, vsd_now = comm_is_vsd(v->pid, &gone);
        char link[64], target[PATH_MAX];
        ssize_t n = -1;

        if (fd >= 0) {
                snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
                n = readlink(link, target, sizeof(target) - 1);
        } else {
                snprintf(link, sizeof(link), "/proc/%d/exe", (int) v->pid);
                n = readlink(link, target, sizeof(target) - 1);
        }
        target[n < 0 ? 0 : n] = '\0';
        if ((fd >= 0 && is_vsd_file(fd)) || vsd_now)
                breach("pid=%d what=%s exe=%s", (int) v->pid, what, target);
}

static void attack_exe(struct victim *v) {
        char path[64], link[64];
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/exe", (int) v->pid);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                judge(v, "open-exe-for-writing", fd);
                close(fd);
        }
        fd = open(path, O_PATH | O_CLOEXEC);
        if (fd < 0)
                return;
        judge(v, "open-exe-o-path", fd);
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        int w = open(link, O_WRONLY | O_CLOEXEC);
        if (w >= 0) {
                judge(v, "reopen-exe-for-writing", w);
                close(w);
        }
        if (v->held < 0 && is_vsd_file(fd))
                v->held = fd;
        else
                close(fd);
}

static void attack_ptrace(struct victim *v) {
        int status;

        if (ptrace(PTRACE_SEIZE, v->pid, NULL, NULL) == 0) {
                judge(v, "ptrace-seize", -1);
                /* a seized process is detached from a stop only */
                if (ptrace(PTRACE_INTERRUPT, v->pid, NULL, NULL) == 0)
                        waitpid(v->pid, &status, __WALL);
                ptrace(PTRACE_DETACH, v->pid, NULL, NULL);
        }
        if (ptrace(PTRACE_ATTACH, v->pid, NULL, NULL) == 0) {
                waitpid(v->pid, &status, __WALL);
                judge(v, "ptrace-attach", -1);
                ptrace(PTRACE_DETACH, v->pid, NULL, NULL);
                /* the wait may have reported another stop than the
                 * attach's SIGSTOP, which then stops the victim after the
                 * detach, for good: an exec that never returns */
                kill(v->pid, SIGCONT);
        }
}

static void attack_memory(struct victim *v) {
        char path[64], maps[512], buf[16];
        unsigned long addr = 0x10000;
        int fd;

        /* an address of its own if its maps are readable (that alone is
         * a breach); EFAULT from a guessed one still means access */
        snprintf(path, sizeof(path), "/proc/%d/maps", (int) v->pid);
        if (read_small(path, maps, sizeof(maps)) > 0) {
                judge(v, "read-maps", -1);
                sscanf(maps, "%lx", &addr);
        }
        struct iovec local = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct iovec remote = { .iov_base = (void *) addr, .iov_len = sizeof(buf) };
        ssize_t n = process_vm_readv(v->pid, &local, 1, &remote, 1, 0);
        if (n >= 0)
                judge(v, "process_vm_readv-read-memory", -1);
        else if (errno != EPERM && errno != ESRCH)
                judge(v, "process_vm_readv-allowed", -1);
        snprintf(path, sizeof(path), "/proc/%d/mem", (int) v->pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                judge(v, "open-mem", -1);
                close(fd);
        }
}

static void attack_fds(struct victim *v) {
        char path[64], fdpath[PATH_MAX];
        struct dirent *de;
        DIR *d;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int) v->pid);
        d = opendir(path);
        if (!d)
                return;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
                int fd = open(fdpath, O_PATH | O_CLOEXEC);
                if (fd >= 0) {
                        judge(v, "open-fd", fd);
                        close(fd);
                }
        }
        closedir(d);
        snprintf(path, sizeof(path), "/proc/%d/cwd", (int) v->pid);
        int fd = open(path, O_PATH | O_CLOEXEC);
        if (fd >= 0) {
                judge(v, "open-cwd", fd);
                close(fd);
        }
}

/* The published attack: hold the exe by an O_PATH fd, and once the
 * process is gone (the binary no longer busy) reopen it for writing. */
static void attack_held(struct victim *v) {
        char link[64];

        if (v->held < 0)
                return;
        snprintf(link, sizeof(link), "/proc/self/fd/%d", v->held);
        int w = open(link, O_WRONLY | O_CLOEXEC);
        if (w >= 0) {
                breach("pid=%d what=reopen-exe-for-writing-after-exit", (int) v->pid);
                close(w);
        }
        close(v->held);
        v->held = -1;
}

static void race_scan(struct victim *victims, unsigned *n, bool attack, unsigned *ret_new) {
        struct dirent *de;
        DIR *d = opendir("/proc");
        long pid;

        if (!d)
                return;
        while ((de = readdir(d))) {
                char *end;
                pid = strtol(de->d_name, &end, 10);
                if (*end || pid <= 0 || pid >= RACE_MAX_PID)
                        continue;
                if (race_seen[pid / 8] & (1u << (pid % 8)))
                        continue;
                race_seen[pid / 8] |= (unsigned char) (1u << (pid % 8));
                if (!attack || *n >= RACE_VICTIMS)
                        continue;
                victims[(*n)++] = (struct victim) { .pid = (pid_t) pid, .active = true, .held = -1 };
                (*ret_new)++;
        }
        closedir(d);
}

int cmd_race_exec(int argc, char **argv) {
        static struct victim victims[RACE_VICTIMS];
        unsigned n = 0, fresh = 0, vsd_seen = 0, rounds = 0;
        unsigned long dev = 0, ino = 0;
        double end;

        if (argc < 3 || sscanf(argv[2], "%lu:%lu", &dev, &ino) != 2)
                return 2;
        vsd_dev = (dev_t) dev;
        vsd_ino = (ino_t) ino;
        end = now() + atof(argv[1]);
        /* what runs already is not what vsctl exec starts */
        race_scan(victims, &n, false, &fresh);
        race_seen[getpid() / 8] |= (unsigned char) (1u << (getpid() % 8));
        say("watching=%d", (int) getpid());
        while (now() < end) {
                race_scan(victims, &n, true, &fresh);
                for (unsigned i = 0; i < n; i++) {
                        struct victim *v = &victims[i];
                        bool gone = false;
                        if (!v->active)
                                continue;
                        if (!comm_is_vsd(v->pid, &gone)) {
                                /* exec'd (no longer the daemon's image) or gone */
                                v->active = false;
                                attack_held(v);
                                continue;
                        }
                        v->rounds++;
                        rounds++;
                        attack_exe(v);
                        attack_ptrace(v);
                        attack_memory(v);
                        attack_fds(v);
                        /* after a whole round: the test waits for this line */
                        if (!v->was_vsd) {
                                v->was_vsd = true;
                                vsd_seen++;
                                say("victim pid=%d comm=vsd", (int) v->pid);
                        }
                }
                if (access(RACE_STOP, F_OK) == 0)
                        break;
        }
        for (unsigned i = 0; i < n; i++)
                attack_held(&victims[i]);
        say("done new=%u vsd_seen=%u vsd_rounds=%u breaches=%d", fresh, vsd_seen, rounds, breaches);
        return breaches ? 1 : 0;
}

/* ---- fd-walk: CVE-2024-21626, a host directory through an fd or the cwd ---- */

/*
 * probe fd-walk MARKER [PID]
 *
 * Every fd of this process (or of PID), its cwd and its root: what each
 * resolves to, and for each directory a walk up through ".." (up to 64
 * levels, or where ".." is the directory itself) looking for MARKER, an
 * absolute path of a file the test made on the host, by its name and by
 * its whole path from each level.  Found is a breach.
 */
static bool walk_reaches(int start, const char *marker) {
        const char *base = strrchr(marker, '/');
        struct stat st, up;
        int d = dup(start);

        base = base ? base + 1 : marker;
        for (int level = 0; d >= 0 && level < 64; level++) {
                if (fstatat(d, base, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
                    fstatat(d, marker + 1, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                        close(d);
                        return true;
                }
                int p = openat(d, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (p < 0 || fstat(d, &st) < 0 || fstat(p, &up) < 0 || (st.st_dev == up.st_dev && st.st_ino == up.st_ino)) {
                        if (p >= 0)
                                close(p);
                        break;
                }
                close(d);
                d = p;
        }
        if (d >= 0)
                close(d);
        return false;
}

static void walk_one(const char *key, const char *path, const char *marker) {
        char target[PATH_MAX];
        struct stat st;
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        int fd;

        target[n < 0 ? 0 : n] = '\0';
        fd = open(path, O_PATH | O_CLOEXEC);
        if (fd < 0) {
                say("%s=%s open=%s", key, target, errname(errno));
                return;
        }
        if (fstat(fd, &st) < 0) {
                say("%s=%s stat=%s", key, target, errname(errno));
                close(fd);
                return;
        }
        bool dir = S_ISDIR(st.st_mode), reached = dir && walk_reaches(fd, marker);
        say("%s=%s type=%s reach=%s", key, target,
            dir ? "dir" : S_ISREG(st.st_mode) ? "reg" : S_ISCHR(st.st_mode) ? "chr" : S_ISFIFO(st.st_mode) ? "fifo"
                : S_ISSOCK(st.st_mode) ? "sock" : "other",
            reached ? "yes" : "no");
        if (reached)
                breach("what=%s target=%s reaches the host's %s", key, target, marker);
        close(fd);
}

int cmd_fd_walk(int argc, char **argv) {
        char dir[64], path[PATH_MAX], key[300];
        const char *who = argc > 2 ? argv[2] : "self";
        struct dirent *de;
        DIR *d;

        if (argc < 2 || argv[1][0] != '/')
                return 2;
        snprintf(dir, sizeof(dir), "/proc/%s/fd", who);
        d = opendir(dir);
        if (!d) {
                say("error=%s", errname(errno));
                return 1;
        }
        int own = argc > 2 ? -1 : dirfd(d);
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.' || atoi(de->d_name) == own)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                snprintf(key, sizeof(key), "fd.%s", de->d_name);
                walk_one(key, path, argv[1]);
        }
        closedir(d);
        snprintf(path, sizeof(path), "/proc/%s/cwd", who);
        walk_one("cwd", path, argv[1]);
        snprintf(path, sizeof(path), "/proc/%s/root", who);
        walk_one("root", path, argv[1]);
        say("breaches=%d", breaches);
        return breaches ? 1 : 0;
}

/* ---- cg-escape: CVE-2022-0492, a writable release_agent ---- */

/* Write back to each release_agent and notify_on_release below dir (two
 * levels) the value it holds: harmless, and refused unless the attack
 * worked. */
static void cg_try_agents(const char *label, const char *dir, int depth) {
        struct dirent *de;
        DIR *d = opendir(dir);
        char path[PATH_MAX], val[PATH_MAX];

        if (!d)
                return;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                if (de->d_type == DT_DIR && depth > 0) {
                        cg_try_agents(label, path, depth - 1);
                        continue;
                }
                bool agent = strcmp(de->d_name, "release_agent") == 0;
                if (!agent && strcmp(de->d_name, "notify_on_release") != 0)
                        continue;
                ssize_t n = read_small(path, val, sizeof(val));
                int fd = open(path, O_WRONLY | O_CLOEXEC);
                int e = fd < 0 ? errno : 0;
                if (fd >= 0 && write(fd, n > 0 ? val : "\n", n > 0 ? (size_t) n : 1) < 0)
                        e = errno;
                if (fd >= 0)
                        close(fd);
                say("%s.write.%s=%s", label, path, errname(e));
                /* The release agent runs as root on the host: no write to
                 * one may pass.  notify_on_release alone starts nothing; in
                 * a hierarchy of its own user namespace it is the
                 * instance's. */
                if (e == 0 && (agent || strcmp(label, "inside") == 0))
                        breach("what=write %s (%s)", path, label);
        }
        closedir(d);
}

/* The instance's limits as seen at the root of a hierarchy it mounted: on
 * v2 that is its namespace root, one level below the cgroup vsd limits; on
 * v1 the cgroup that carries them, unless the mount was refused.  Written
 * back with their own value: harmless, and refused unless the attack
 * worked. */
static void cg_try_limits(const char *label, const char *dir) {
        static const char *const files[] = {
                "memory.max", "memory.high", "memory.swap.max", "pids.max", "cpu.max", "io.max", "cpu.weight",
                "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes",
                "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares", "cpuset.cpus", "cpuset.mems", "blkio.weight",
                NULL,
        };
        char path[PATH_MAX], val[256];

        for (int i = 0; files[i]; i++) {
                snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
                ssize_t n = read_small(path, val, sizeof(val));
                if (n < 0) {
                        /* a file of another controller: not worth a line */
                        if (n != -ENOENT)
                                say("%s.limit.%s=%s", label, path, errname((int) -n));
                        continue;
                }
                int fd = open(path, O_WRONLY | O_CLOEXEC);
                int e = fd < 0 ? errno : 0;
                if (fd >= 0 && write(fd, val, n > 0 ? (size_t) n : 1) < 0)
                        e = errno;
                if (fd >= 0)
                        close(fd);
                say("%s.limit.%s=%s", label, path, errname(e));
                if (e == 0)
                        breach("what=write %s (%s)", path, label);
        }
}

static void cg_try_mounts(const char *label) {
        char opts[96][64], dir[64];
        int n = 0;
        char line[256];
        FILE *f = fopen("/proc/cgroups", "re");

        /* every controller the kernel has, and named hierarchies */
        while (f && fgets(line, sizeof(line), f) && n < 90) {
                char name[64];
                if (line[0] != '#' && sscanf(line, "%63s", name) == 1)
                        snprintf(opts[n++], sizeof(opts[0]), "%s", name);
        }
        if (f)
                fclose(f);
        snprintf(opts[n++], sizeof(opts[0]), "rdma");
        snprintf(opts[n++], sizeof(opts[0]), "name=vsdescape");
        snprintf(opts[n++], sizeof(opts[0]), "none,name=vsdescape");
        snprintf(opts[n++], sizeof(opts[0]), "cgroup2");
        for (int i = 0; i < n; i++) {
                snprintf(dir, sizeof(dir), "/tmp/vsd-cg-%s-%d", label, i);
                mkdir(dir, 0700);
                bool v2 = strcmp(opts[i], "cgroup2") == 0;
                int r = mount("cgroup", dir, v2 ? "cgroup2" : "cgroup", 0, v2 ? NULL : opts[i]);
                say("%s.mount.%s=%s", label, opts[i], errname(r < 0 ? errno : 0));
                if (r == 0) {
                        cg_try_agents(label, dir, 2);
                        cg_try_limits(label, dir);
                        umount2(dir, MNT_DETACH);
                }
                rmdir(dir);
        }
}

int cmd_cg_escape(int argc __attribute__((unused)), char **argv __attribute__((unused))) {
        /* what is mounted already */
        cg_try_agents("inside", "/sys/fs/cgroup", 2);
        cg_try_limits("inside", "/sys/fs/cgroup");
        cg_try_mounts("inside");
        /* the CVE's way: a user namespace of our own (all capabilities in
         * it) with its own mount and cgroup namespaces */
        pid_t pid = fork();
        if (pid == 0) {
                breaches = 0; /* the parent counts its own */
                int r = enter_userns(CLONE_NEWNS | CLONE_NEWCGROUP);
                say("userns=%s", errname(-r));
                if (r == 0) {
                        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
                        cg_try_agents("userns", "/sys/fs/cgroup", 2);
                        cg_try_limits("userns", "/sys/fs/cgroup");
                        cg_try_mounts("userns");
                }
                _exit(breaches ? 1 : 0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                breaches++;
        say("breaches=%d", breaches);
        return breaches ? 1 : 0;
}

/* ---- mask-escape: the masked /proc and /sys paths ---- */

static const char *const masked[] = {
        "/proc/kcore", "/proc/keys", "/proc/key-users", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats",
        "/proc/timer_stats", "/proc/sysrq-trigger", "/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware",
        "/sys/devices/virtual/powercap", NULL,
};

/* Does path show anything of the host: a masked file reads nothing (it is
 * /dev/null), a masked directory is empty.  sysrq-trigger is only opened
 * for writing, never written, and must be the /dev/null on top. */
static void mask_check(const char *label, const char *path) {
        struct stat st;
        char buf[64];

        if (lstat(path, &st) < 0) {
                say("%s.stat.%s=%s", label, path, errname(errno));
                return;
        }
        if (S_ISDIR(st.st_mode)) {
                DIR *d = opendir(path);
                int n = 0;
                struct dirent *de;
                while (d && (de = readdir(d)))
                        n += de->d_name[0] != '.';
                if (d)
                        closedir(d);
                say("%s.entries.%s=%d", label, path, n);
                if (n > 0)
                        breach("what=%s lists %d entries (%s)", path, n, label);
                return;
        }
        if (strstr(path, "sysrq-trigger")) {
                int fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
                if (fd < 0) {
                        say("%s.open-w.%s=%s", label, path, errname(errno));
                        return;
                }
                bool null = fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
                close(fd);
                say("%s.open-w.%s=%s", label, path, null ? "dev-null" : "ok");
                if (!null)
                        breach("what=%s opened for writing (%s)", path, label);
                return;
        }
        ssize_t n = read_small(path, buf, sizeof(buf));
        say("%s.read.%s=%zd", label, path, n);
        if (n > 0)
                breach("what=%s read %zd bytes (%s)", path, n, label);
}

/* /proc/sys: read-only; a write is tried only on a knob of this instance's
 * own uts namespace, with the value it has; core_pattern only opened. */
static void sysctl_check(const char *label, const char *root) {
        char path[128], val[128];
        snprintf(path, sizeof(path), "%s/sys/kernel/core_pattern", root);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        say("%s.open-w.%s=%s", label, path, errname(fd < 0 ? errno : 0));
        if (fd >= 0) {
                breach("what=%s opened for writing (%s)", path, label);
                close(fd);
        }
        snprintf(path, sizeof(path), "%s/sys/kernel/hostname", root);
        ssize_t n = read_small(path, val, sizeof(val));
        fd = open(path, O_WRONLY | O_CLOEXEC);
        int e = fd < 0 ? errno : 0;
        if (fd >= 0 && n > 0 && write(fd, val, (size_t) n) < 0)
                e = errno;
        if (fd >= 0)
                close(fd);
        say("%s.write.%s=%s", label, path, errname(e));
        if (e == 0)
                breach("what=write %s (%s)", path, label);
}

static void mask_unmount(const char *label) {
        for (int i = 0; masked[i]; i++) {
                int r = umount2(masked[i], MNT_DETACH);
                say("%s.umount.%s=%s", label, masked[i], errname(r < 0 ? errno : 0));
                mask_check(label, masked[i]);
        }
        int r = mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND, NULL);
        say("%s.remount-rw./proc/sys=%s", label, errname(r < 0 ? errno : 0));
        r = umount2("/proc/sys", MNT_DETACH);
        say("%s.umount./proc/sys=%s", label, errname(r < 0 ? errno : 0));
        sysctl_check(label, "/proc");
}

/* A fresh proc (and sysfs) elsewhere, where nothing is masked. */
static void mask_fresh(const char *label) {
        char path[128];
        mkdir("/tmp/vsd-proc", 0700);
        int r = mount("proc", "/tmp/vsd-proc", "proc", 0, NULL);
        say("%s.mount-proc=%s", label, errname(r < 0 ? errno : 0));
        if (r == 0) {
                for (int i = 0; masked[i]; i++)
                        if (strncmp(masked[i], "/proc/", 6) == 0) {
                                snprintf(path, sizeof(path), "/tmp/vsd-proc/%s", masked[i] + 6);
                                mask_check(label, path);
                        }
                sysctl_check(label, "/tmp/vsd-proc");
                umount2("/tmp/vsd-proc", MNT_DETACH);
        }
        rmdir("/tmp/vsd-proc");
        mkdir("/tmp/vsd-sys", 0700);
        r = mount("sysfs", "/tmp/vsd-sys", "sysfs", 0, NULL);
        say("%s.mount-sysfs=%s", label, errname(r < 0 ? errno : 0));
        if (r == 0) {
                mask_check(label, "/tmp/vsd-sys/firmware");
                umount2("/tmp/vsd-sys", MNT_DETACH);
        }
        rmdir("/tmp/vsd-sys");
}

int cmd_mask_escape(int argc __attribute__((unused)), char **argv __attribute__((unused))) {
        for (int i = 0; masked[i]; i++)
                mask_check("inside", masked[i]);
        sysctl_check("inside", "/proc");
        mask_unmount("inside");
        mask_fresh("inside");
        /* in a user namespace of our own, with new mount, pid and network
         * namespaces: a proc of a pid namespace we own, a sysfs of a
         * network namespace we own */
        pid_t pid = fork();
        if (pid == 0) {
                breaches = 0; /* the parent counts its own */
                int r = enter_userns(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET);
                say("userns=%s", errname(-r));
                if (r < 0)
                        _exit(0);
                mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
                pid_t inner = fork(); /* pid 1 of the new pid namespace */
                if (inner == 0) {
                        mask_unmount("userns");
                        mask_fresh("userns");
                        _exit(breaches ? 1 : 0);
                }
                int status = 0;
                waitpid(inner, &status, 0);
                _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                breaches++;
        say("breaches=%d", breaches);
        return breaches ? 1 : 0;
}

/* ---- modload: loading code into the shared kernel ---- */

/* Families that are modules on a distribution kernel: socket() of one that
 * is not loaded makes the kernel run the host's modprobe (request_module). */
static const int families[] = { 4, 5, 6, 8, 9, 11, 12, 15, 21, 23, 29, 30, 31, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 45 };

static void modload_try(const char *label) {
        static const char garbage[64] = "not a kernel module, only bytes";
        int r = (int) syscall(SYS_init_module, garbage, sizeof(garbage), "");
        say("%s.init_module=%s", label, errname(r < 0 ? errno : 0));
        int fd = open("/tmp/vsd-not-a-module.ko", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0 && write(fd, garbage, sizeof(garbage)) == (ssize_t) sizeof(garbage)) {
                lseek(fd, 0, SEEK_SET);
                r = (int) syscall(SYS_finit_module, fd, "", 0);
                say("%s.finit_module=%s", label, errname(r < 0 ? errno : 0));
        }
        if (fd >= 0)
                close(fd);
        unlink("/tmp/vsd-not-a-module.ko");
        r = (int) syscall(SYS_delete_module, "vsd_no_such_module", O_NONBLOCK);
        say("%s.delete_module=%s", label, errname(r < 0 ? errno : 0));
        fd = open("/proc/sys/kernel/modprobe", O_WRONLY | O_CLOEXEC);
        say("%s.open-w./proc/sys/kernel/modprobe=%s", label, errname(fd < 0 ? errno : 0));
        if (fd >= 0) {
                breach("what=/proc/sys/kernel/modprobe opened for writing (%s)", label);
                close(fd);
        }
        for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
                int s = socket(families[i], SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (s < 0 && errno == ESOCKTNOSUPPORT)
                        s = socket(families[i], SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                say("%s.socket.%d=%s", label, families[i], errname(s < 0 ? errno : 0));
                if (s >= 0)
                        close(s);
        }
}

int cmd_modload(int argc __attribute__((unused)), char **argv __attribute__((unused))) {
        modload_try("inside");
        pid_t pid = fork();
        if (pid == 0) {
                breaches = 0; /* the parent counts its own */
                int r = enter_userns(CLONE_NEWNET);
                say("userns=%s", errname(-r));
                if (r == 0)
                        modload_try("userns");
                _exit(breaches ? 1 : 0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                breaches++;
        say("breaches=%d", breaches);
        return breaches ? 1 : 0;
}

/* ---- devnode: a device node of the host's ---- */

static void devnode_try(const char *label, mode_t type, dev_t dev) {
        static const char *const dirs[] = { "/dev", "/tmp", "/dev/shm", "/run", NULL };
        char path[128];

        for (int i = 0; dirs[i]; i++) {
                snprintf(path, sizeof(path), "%s/vsd-escape-node", dirs[i]);
                unlink(path);
                int r = mknod(path, type | 0600, dev);
                say("%s.mknod.%s=%s", label, dirs[i], errname(r < 0 ? errno : 0));
                if (r < 0)
                        continue;
                /* read-only, never read: opening is the whole test */
                int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
                say("%s.open.%s=%s", label, dirs[i], errname(fd < 0 ? errno : 0));
                if (fd >= 0) {
                        breach("what=opened device %u:%u made in %s (%s)", major(dev), minor(dev), dirs[i], label);
                        close(fd);
                }
                unlink(path);
        }
}

int cmd_devnode(int argc, char **argv) {
        unsigned maj, min;

        if (argc < 3 || (argv[1][0] != 'b' && argv[1][0] != 'c') || sscanf(argv[2], "%u:%u", &maj, &min) != 2)
                return 2;
        mode_t type = argv[1][0] == 'b' ? S_IFBLK : S_IFCHR;
        devnode_try("inside", type, makedev(maj, min));
        pid_t pid = fork();
        if (pid == 0) {
                breaches = 0; /* the parent counts its own */
                int r = enter_userns(CLONE_NEWNS);
                say("userns=%s", errname(-r));
                if (r == 0)
                        devnode_try("userns", type, makedev(maj, min));
                _exit(breaches ? 1 : 0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                breaches++;
        say("breaches=%d", breaches);
        return breaches ? 1 : 0;
}

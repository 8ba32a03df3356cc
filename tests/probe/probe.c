/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * probe — reports what a process sees from inside an instance.
 *
 * The integration tests copy this static binary into the test template
 * (/probe) and run it with `vsctl exec NAME -- /probe ...`, the pattern of
 * crun's tests/init.c: the claims of the start sequence (namespaces,
 * capabilities, seccomp, masked paths, limits) are checked from where an
 * attacker would stand, not by reading the daemon's own bookkeeping.
 *
 * Output is one fact per line, "key=value", written with write(2) as it
 * happens so that a process killed half-way (memhog under a memory limit)
 * still leaves its progress behind.  Exit status: 0 done, 1 the checked
 * operation failed (read, write), 2 usage.
 *
 * Every probed operation is harmless when it is allowed: arguments are
 * chosen so that a call which passes the seccomp and capability checks fails
 * on its arguments (EFAULT, EINVAL, ENOENT) instead of doing anything.
 */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/if_ether.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/mount.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/probe/probe.h"

void say(const char *fmt, ...) {
        char buf[4096];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n > sizeof(buf) - 2)
                n = sizeof(buf) - 2;
        buf[n++] = '\n';
        /* unbuffered on purpose: see the header comment */
        while (n > 0) {
                ssize_t w = write(STDOUT_FILENO, buf, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return;
                n -= w;
        }
}

const char *errname(int e) {
        static char buf[32];
        const char *s = e == 0 ? "ok" : strerrorname_np(e);

        if (s)
                return s;
        snprintf(buf, sizeof(buf), "E%d", e);
        return buf;
}

/* The result of a raw syscall as the tests compare it. */
static const char *result(long r) {
        return r < 0 ? errname(errno) : "ok";
}

static int usage(void) {
        static const char text[] =
                "usage: probe pid | caps | hostname | seccomp | fds [PID]\n"
                "       probe syscall NAME... | syscall all\n"
                "       probe read PATH | write PATH [DATA]\n"
                "       probe mount-blockdev MAJOR:MINOR [FSTYPE]\n"
                "       probe memhog MIB [HOLD_SECONDS] | dirty MIB [CHECK_FILE] | dirtyish MIB HOT_MIB FILE | forkbomb N\n"
                "             | spin SECONDS\n"
                "       probe write-direct FILE MIB\n"
                "       probe nproc | affinity-args | sysinfo | sysinfo-fault | sysinfo-loop N\n"
                "       probe hold-fd PID FD\n"
                "       probe race-exec SECONDS DEV:INO | fd-walk MARKER [PID] | cg-escape\n"
                "       probe mask-escape | modload | devnode b|c MAJOR:MINOR\n"
                "       probe nest | hog pty|inotify|watch MAX READY_FILE | try pty|inotify|watch\n"
                "       probe notify LOG PATH...\n";
        if (write(STDERR_FILENO, text, sizeof(text) - 1) < 0)
                return 2;
        return 2;
}

static int parse_long(const char *s, long *ret) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v < 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int cmd_pid(int argc __attribute__((unused)), char **argv __attribute__((unused))) {
        say("pid=%d", (int) getpid());
        say("ppid=%d", (int) getppid());
        return 0;
}

/* Print the lines of /proc/self/status that start with one of the keys, as
 * key=value. */
static int status_fields(const char *const *keys) {
        char buf[8192];
        ssize_t n;
        int fd;

        fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                say("error=%s", errname(errno));
                return 1;
        }
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n < 0) {
                say("error=%s", errname(errno));
                return 1;
        }
        buf[n] = '\0';

        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
                char *colon = strchr(line, ':');
                if (!colon)
                        continue;
                *colon = '\0';
                for (const char *const *k = keys; *k; k++)
                        if (strcmp(line, *k) == 0) {
                                char *v = colon + 1;
                                v += strspn(v, " \t");
                                say("%s=%s", line, v);
                        }
        }
        return 0;
}

static int cmd_caps(int argc __attribute__((unused)), char **argv __attribute__((unused))) {
        static const char *const keys[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", NULL };
        return status_fields(keys);
}

static int cmd_seccomp(int argc __attribute__((unused)), char **argv __attribute__((unused))) {
        static const char *const keys[] = { "Seccomp", "Seccomp_filters", NULL };
        return status_fields(keys);
}

static int cmd_hostname(int argc __attribute__((unused)), char **argv __attribute__((unused))) {
        struct utsname u;

        if (uname(&u) < 0) {
                say("error=%s", errname(errno));
                return 1;
        }
        say("hostname=%s", u.nodename);
        return 0;
}

/* fds of this process (no argument) or of another one: everything beyond
 * 0-2 is something the instance should not have been given. */
static int cmd_fds(int argc, char **argv) {
        char dir[64], path[PATH_MAX + 64], target[PATH_MAX];
        int count = 0, self_dirfd;
        struct dirent *de;
        DIR *d;

        snprintf(dir, sizeof(dir), "/proc/%s/fd", argc > 1 ? argv[1] : "self");
        d = opendir(dir);
        if (!d) {
                say("error=%s", errname(errno));
                return 1;
        }
        self_dirfd = argc > 1 ? -1 : dirfd(d);
        while ((de = readdir(d))) {
                long fd;
                ssize_t n;

                if (parse_long(de->d_name, &fd) < 0 || fd <= 2 || fd == self_dirfd)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                n = readlink(path, target, sizeof(target) - 1);
                target[n < 0 ? 0 : n] = '\0';
                say("fd.%ld=%s", fd, n < 0 ? errname(errno) : target);
                count++;
        }
        closedir(d);
        say("count=%d", count);
        return 0;
}

static int cmd_read(int argc, char **argv) {
        char buf[256];
        int fd, r = 0;

        if (argc < 2)
                return usage();
        fd = open(argv[1], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                r = errno;
        else if (read(fd, buf, sizeof(buf)) < 0)
                r = errno;
        if (fd >= 0)
                close(fd);
        say("%s", errname(r));
        return r == 0 ? 0 : 1;
}

/* Without DATA only open for writing: a test asking "can I write
 * /proc/sysrq-trigger?" must not trigger anything if the answer is yes. */
static int cmd_write(int argc, char **argv) {
        int fd, r = 0;

        if (argc < 2)
                return usage();
        fd = open(argv[1], O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                r = errno;
        else if (argc > 2 && write(fd, argv[2], strlen(argv[2])) < 0)
                r = errno;
        if (fd >= 0)
                close(fd);
        say("%s", errname(r));
        return r == 0 ? 0 : 1;
}

/* --- syscall: the calls the seccomp profile and the capability set deny --- */

static long try_keyctl(void) {
        /* KEYCTL_GET_KEYRING_ID(KEY_SPEC_THREAD_KEYRING, create=0) */
        return syscall(SYS_keyctl, 0, -1, 0);
}

static long try_add_key(void) {
        /* a bad key type: fails on its argument if the call is allowed */
        return syscall(SYS_add_key, "vsd-probe-no-such-type", "probe", "x", 1, -1);
}

static long try_request_key(void) {
        return syscall(SYS_request_key, "vsd-probe-no-such-type", "probe", NULL, 0);
}

static long try_bpf(void) {
        char attr[128] = { 0 };
        /* BPF_MAP_CREATE with map_type 0 (unspec): EINVAL when allowed */
        return syscall(SYS_bpf, 0, attr, sizeof(attr));
}

static long try_perf_event_open(void) {
        /* a NULL attr: EFAULT when allowed */
        return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
}

static long try_userfaultfd(void) {
        long fd = syscall(SYS_userfaultfd, O_CLOEXEC);
        if (fd >= 0)
                close(fd);
        return fd;
}

static long try_init_module(void) {
        return syscall(SYS_init_module, NULL, 0, "");
}

static long try_finit_module(void) {
        return syscall(SYS_finit_module, -1, "", 0);
}

static long try_delete_module(void) {
        return syscall(SYS_delete_module, "vsd_probe_no_such_module", O_NONBLOCK);
}

static long try_kexec_load(void) {
        /* an unknown architecture in the flags: EINVAL when allowed, and a
         * zero-segment load (which would unload a kernel) is never asked */
        return syscall(SYS_kexec_load, 0, 0, NULL, 0x7f7f0000UL);
}

static long try_kexec_file_load(void) {
        return syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0xff00UL);
}

static long try_open_by_handle_at(void) {
        /* a NULL handle: EFAULT once past the CAP_DAC_READ_SEARCH check */
        return syscall(SYS_open_by_handle_at, -1, NULL, O_RDONLY);
}

static long try_swapon(void) {
        return syscall(SYS_swapon, "/vsd-probe-no-such-file", 0);
}

static long try_swapoff(void) {
        return syscall(SYS_swapoff, "/vsd-probe-no-such-file");
}

static long try_unshare(void) {
        /* a new user namespace for this short-lived process only */
        return syscall(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */);
}

static long try_reboot(void) {
        /* wrong magic: EINVAL when allowed */
        return syscall(SYS_reboot, 0, 0, 0, NULL);
}

static long try_mount(void) {
        return syscall(SYS_mount, "none", "/vsd-probe-no-such-dir", "tmpfs", 0, NULL);
}

static long try_umount2(void) {
        return syscall(SYS_umount2, "/vsd-probe-no-such-dir", 0);
}

static long try_acct(void) {
        return syscall(SYS_acct, "/vsd-probe-no-such-file");
}

static long try_clock_settime(void) {
        return syscall(SYS_clock_settime, CLOCK_REALTIME, NULL);
}

static long try_settimeofday(void) {
        /* both NULL: a no-op when allowed, EPERM without CAP_SYS_TIME */
        return syscall(SYS_settimeofday, NULL, NULL);
}

static long try_syslog(void) {
        /* SYSLOG_ACTION_SIZE_BUFFER: only reads the buffer size */
        return syscall(SYS_syslog, 10, NULL, 0);
}

static long try_setns(void) {
        return syscall(SYS_setns, -1, 0);
}

static long try_ptrace(void) {
        /* PTRACE_PEEKUSER of pid 1 without attaching: ESRCH when allowed */
        return syscall(SYS_ptrace, 3, 1, NULL, NULL);
}

static long try_fsopen(void) {
        long fd = syscall(SYS_fsopen, "vsd-probe-no-such-fs", 0);
        if (fd >= 0)
                close(fd);
        return fd;
}

static long try_ioperm(void) {
        /* turning access off, which cannot widen anything */
        return syscall(SYS_ioperm, 0x80, 1, 0);
}

static long try_iopl(void) {
        return syscall(SYS_iopl, 4);
}

static long try_pivot_root(void) {
        return syscall(SYS_pivot_root, "/vsd-probe-no-such-dir", "/vsd-probe-no-such-dir");
}

static long try_chroot(void) {
        return syscall(SYS_chroot, "/vsd-probe-no-such-dir");
}

static long try_sethostname(void) {
        /* a length beyond the limit: EINVAL when allowed */
        return syscall(SYS_sethostname, "x", 100000);
}

static long try_quotactl(void) {
        return syscall(SYS_quotactl, 0, "/vsd-probe-no-such-dev", 0, NULL);
}

static long try_mknod(void) {
        return syscall(SYS_mknodat, AT_FDCWD, "/vsd-probe-no-such-dir/node", S_IFCHR | 0600, makedev(1, 3));
}

static const struct {
        const char *name;
        long (*fn)(void);
} syscalls[] = {
        { "keyctl", try_keyctl },
        { "add_key", try_add_key },
        { "request_key", try_request_key },
        { "bpf", try_bpf },
        { "perf_event_open", try_perf_event_open },
        { "userfaultfd", try_userfaultfd },
        { "init_module", try_init_module },
        { "finit_module", try_finit_module },
        { "delete_module", try_delete_module },
        { "kexec_load", try_kexec_load },
        { "kexec_file_load", try_kexec_file_load },
        { "open_by_handle_at", try_open_by_handle_at },
        { "swapon", try_swapon },
        { "swapoff", try_swapoff },
        { "unshare", try_unshare },
        { "reboot", try_reboot },
        { "mount", try_mount },
        { "umount2", try_umount2 },
        { "acct", try_acct },
        { "clock_settime", try_clock_settime },
        { "settimeofday", try_settimeofday },
        { "syslog", try_syslog },
        { "setns", try_setns },
        { "ptrace", try_ptrace },
        { "fsopen", try_fsopen },
        { "ioperm", try_ioperm },
        { "iopl", try_iopl },
        { "pivot_root", try_pivot_root },
        { "chroot", try_chroot },
        { "sethostname", try_sethostname },
        { "quotactl", try_quotactl },
        { "mknod", try_mknod },
};

static int cmd_syscall(int argc, char **argv) {
        bool all = argc == 2 && strcmp(argv[1], "all") == 0;
        int r = 0;

        if (argc < 2)
                return usage();
        for (size_t i = 0; i < sizeof(syscalls) / sizeof(syscalls[0]); i++) {
                bool wanted = all;
                for (int a = 1; a < argc && !wanted; a++)
                        wanted = strcmp(argv[a], syscalls[i].name) == 0;
                if (!wanted)
                        continue;
                errno = 0;
                say("%s=%s", syscalls[i].name, result(syscalls[i].fn()));
        }
        for (int a = 1; a < argc && !all; a++) {
                bool known = false;
                for (size_t i = 0; i < sizeof(syscalls) / sizeof(syscalls[0]); i++)
                        known = known || strcmp(argv[a], syscalls[i].name) == 0;
                if (!known) {
                        say("%s=unknown", argv[a]);
                        r = 2;
                }
        }
        return r;
}

/* Make a node for a host block device and try to open and mount it.  The
 * instance must fail at one of the three steps; each result is printed. */
static int cmd_mount_blockdev(int argc, char **argv) {
        static const char *const fstypes[] = { "ext4", "btrfs", "xfs", "ext2", "vfat", NULL };
        const char *node = "/tmp/.vsd-probe-blk", *dir = "/tmp/.vsd-probe-mnt";
        unsigned maj, min;
        long r;
        int fd;

        if (argc < 2 || sscanf(argv[1], "%u:%u", &maj, &min) != 2)
                return usage();

        (void) unlink(node);
        r = mknod(node, S_IFBLK | 0600, makedev(maj, min));
        say("mknod=%s", result(r));
        if (r < 0)
                return 0;

        fd = open(node, O_RDONLY | O_CLOEXEC);
        say("open=%s", result(fd));
        if (fd >= 0)
                close(fd);

        (void) mkdir(dir, 0700);
        r = -1;
        errno = ENODEV;
        if (argc > 2)
                r = mount(node, dir, argv[2], MS_RDONLY, NULL);
        else
                for (const char *const *t = fstypes; *t && r < 0; t++) {
                        r = mount(node, dir, *t, MS_RDONLY, NULL);
                        /* a wrong type says nothing; any other error is the answer */
                        if (r < 0 && errno != EINVAL && errno != ENODEV)
                                break;
                }
        say("mount=%s", result(r));
        if (r == 0)
                (void) umount2(dir, MNT_DETACH);
        (void) rmdir(dir);
        (void) unlink(node);
        return 0;
}

static int cmd_memhog(int argc, char **argv) {
        long mib, page = sysconf(_SC_PAGESIZE);
        char *p;

        if (argc < 2 || parse_long(argv[1], &mib) < 0 || mib == 0)
                return usage();
        p = mmap(NULL, (size_t) mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
                say("error=%s", errname(errno));
                return 1;
        }
        for (long m = 0; m < mib; m++) {
                for (long off = 0; off < (1L << 20); off += page)
                        p[(m << 20) + off] = (char) (off + 1);
                if ((m + 1) % 8 == 0 || m + 1 == mib)
                        say("touched=%ld", m + 1);
        }
        say("done=%ld", mib);
        /* HOLD_SECONDS: keep it, for a reader elsewhere to see it in use */
        long hold = 0;
        if (argc >= 3 && parse_long(argv[2], &hold) == 0 && hold > 0)
                sleep((unsigned) hold);
        return 0;
}

/* len bytes at p of a fixed pseudo-random pattern (xorshift64 from
 * PATTERN_SEED). */
#define PATTERN_SEED 0x9e3779b97f4a7c15ULL
static void fill_pattern(uint64_t *p, size_t len) {
        uint64_t x = PATTERN_SEED;
        for (size_t k = 0; k < len / sizeof(*p); k++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                p[k] = x;
        }
}

/* MIB of anonymous memory written over and over, for ever (a page a
 * word, a pass every 50 ms): what a checkpoint of a busy process saves.
 * With CHECK_FILE, a SIGUSR1 has the whole region compared, between two
 * passes, with what it must hold (the same pattern computed again), and
 * "ok PASSES" or "bad WORD-INDEX" written into CHECK_FILE: its memory
 * whole after a checkpoint, restore or move. */
static volatile sig_atomic_t dirty_check_asked;
static void dirty_on_usr1(int sig) {
        (void) sig;
        dirty_check_asked = 1;
}

static int cmd_dirty(int argc, char **argv) {
        long mib, page = sysconf(_SC_PAGESIZE);
        if (argc < 2 || parse_long(argv[1], &mib) < 0 || mib == 0)
                return usage();
        const char *check = argc >= 3 ? argv[2] : NULL;
        size_t len = (size_t) mib << 20, step = (size_t) page / sizeof(uint64_t);
        /* before anything: a SIGUSR1 must never end it */
        if (check)
                (void) signal(SIGUSR1, dirty_on_usr1);
        uint64_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
                say("error=%s", errname(errno));
                return 1;
        }
        fill_pattern(p, len);
        say("dirty=%ld", mib);
        for (uint64_t pass = 1;; pass++) {
                for (size_t off = 0; off < len; off += (size_t) page)
                        p[off / sizeof(*p)] += pass;
                if (check && dirty_check_asked) {
                        dirty_check_asked = 0;
                        uint64_t added = pass * (pass + 1) / 2, bad = 0;
                        bool ok = true;
                        uint64_t x = PATTERN_SEED;
                        for (size_t k = 0; k < len / sizeof(*p) && ok; k++) {
                                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                                if (p[k] != x + (k % step == 0 ? added : 0)) {
                                        ok = false;
                                        bad = k;
                                }
                        }
                        FILE *f = fopen(check, "we");
                        if (f) {
                                fprintf(f, ok ? "ok %llu\n" : "bad %llu\n",
                                        (unsigned long long) (ok ? pass : bad));
                                fclose(f);
                        }
                }
                usleep(50000);
        }
}

/* MIB of anonymous memory, all but HOT_MIB of it written once and kept;
 * the HOT_MIB rewritten a pass every 50 ms (a live move's pre-copy finds
 * them dirty again, the rest not).  Each time FILE is removed, it is
 * written again between two passes: "sum=X hot=ok|bad" (X: a hash of the
 * whole stable part; ok: every hot page holds the last pass), so that a
 * test compares the memory before and after a move. */
static volatile sig_atomic_t dirtyish_stop;
static void dirtyish_term(int sig) {
        (void) sig;
        dirtyish_stop = 1;
}
static int cmd_dirtyish(int argc, char **argv) {
        long mib, hot, page = sysconf(_SC_PAGESIZE);
        if (argc < 4 || parse_long(argv[1], &mib) < 0 || parse_long(argv[2], &hot) < 0 || hot <= 0 || hot >= mib)
                return usage();
        size_t len = (size_t) mib << 20, hot_len = (size_t) hot << 20, stable = len - hot_len;
        uint64_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
                say("error=%s", errname(errno));
                return 1;
        }
        fill_pattern(p, len);
        (void) signal(SIGTERM, dirtyish_term);
        say("dirtyish=%ld hot=%ld", mib, hot);
        for (uint64_t pass = 1; !dirtyish_stop; pass++) {
                for (size_t off = stable; off < len; off += (size_t) page)
                        p[off / sizeof(*p)] = pass;
                if (access(argv[3], F_OK) < 0) {
                        uint64_t h = 0xcbf29ce484222325ULL;
                        for (size_t k = 0; k < stable / sizeof(*p); k++)
                                h = (h ^ p[k]) * 0x100000001b3ULL;
                        bool ok = true;
                        for (size_t off = stable; off < len; off += (size_t) page)
                                ok = ok && p[off / sizeof(*p)] == pass;
                        char tmp[300], line[128];
                        snprintf(tmp, sizeof(tmp), "%s.tmp", argv[3]);
                        int n = snprintf(line, sizeof(line), "sum=%016llx hot=%s\n", (unsigned long long) h,
                                         ok ? "ok" : "bad");
                        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                        if (fd >= 0 && write(fd, line, (size_t) n) == n)
                                (void) rename(tmp, argv[3]);
                        if (fd >= 0)
                                close(fd);
                }
                usleep(50000);
        }
        return 0;
}

/* Fork children that wait on a pipe until N are running or fork fails;
 * closing the pipe then lets all of them exit at once. */
static int cmd_forkbomb(int argc, char **argv) {
        long n, got = 0;
        int p[2], err = 0;

        if (argc < 2 || parse_long(argv[1], &n) < 0)
                return usage();
        if (pipe2(p, O_CLOEXEC) < 0) {
                say("error=%s", errname(errno));
                return 1;
        }
        while (got < n) {
                pid_t pid = fork();
                if (pid < 0) {
                        err = errno;
                        break;
                }
                if (pid == 0) {
                        char c;
                        close(p[1]);
                        while (read(p[0], &c, 1) < 0 && errno == EINTR)
                                ;
                        _exit(0);
                }
                got++;
        }
        close(p[1]);
        close(p[0]);
        while (wait(NULL) > 0 || errno == EINTR)
                ;
        say("forked=%ld", got);
        say("errno=%s", errname(err));
        return 0;
}

static double now(clockid_t c) {
        struct timespec ts;
        clock_gettime(c, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmd_spin(int argc, char **argv) {
        double wall0, cpu0, wall, cpu;
        volatile unsigned long x = 0;
        long secs;

        if (argc < 2 || parse_long(argv[1], &secs) < 0 || secs == 0)
                return usage();
        wall0 = now(CLOCK_MONOTONIC);
        cpu0 = now(CLOCK_PROCESS_CPUTIME_ID);
        while (now(CLOCK_MONOTONIC) - wall0 < secs)
                for (int i = 0; i < 100000; i++)
                        x++;
        wall = now(CLOCK_MONOTONIC) - wall0;
        cpu = now(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
        say("wall_ms=%ld", (long) (wall * 1000));
        say("cpu_ms=%ld", (long) (cpu * 1000));
        say("ratio=%.2f", cpu / wall);
        return 0;
}

/* probe hold-fd PID FD: take a copy of another process's fd (pidfd_getfd,
 * run on the host as root) and keep it until killed: a process that
 * inherited a daemon's fd and outlived the daemon.  Says held=1 first. */
static int cmd_hold_fd(int argc, char **argv) {
        long pid, fd;

        if (argc < 3 || parse_long(argv[1], &pid) < 0 || parse_long(argv[2], &fd) < 0)
                return usage();
        long pidfd = syscall(SYS_pidfd_open, (pid_t) pid, 0);
        if (pidfd < 0) {
                say("held=0 error=%s", errname(errno));
                return 1;
        }
        long copy = syscall(SYS_pidfd_getfd, (int) pidfd, (int) fd, 0);
        if (copy < 0) {
                say("held=0 error=%s", errname(errno));
                return 1;
        }
        close((int) pidfd);
        say("held=1");
        for (;;)
                pause();
}

/* probe write-direct FILE MiB: write MiB with O_DIRECT (1 MiB blocks, so the
 * page cache cannot absorb it) and report the rate the disk let through. */
static int cmd_write_direct(int argc, char **argv) {
        long mib;
        void *buf;
        if (argc < 3 || parse_long(argv[2], &mib) < 0 || mib <= 0)
                return usage();
        if (posix_memalign(&buf, 4096, 1 << 20) != 0)
                return 1;
        memset(buf, 'v', 1 << 20);
        int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);
        if (fd < 0) {
                say("errno=%s", errname(errno));
                return 1;
        }
        double t0 = now(CLOCK_MONOTONIC);
        for (long i = 0; i < mib; i++)
                if (write(fd, buf, 1 << 20) != 1 << 20) {
                        say("errno=%s", errname(errno));
                        close(fd);
                        return 1;
                }
        double t = now(CLOCK_MONOTONIC) - t0;
        close(fd);
        unlink(argv[1]);
        say("bytes=%ld", mib << 20);
        say("ms=%ld", (long) (t * 1000));
        say("bytes_per_sec=%ld", (long) ((mib << 20) / t));
        return 0;
}

/* probe nproc: the CPU count as programs get it.  online is glibc's
 * sysconf(_SC_NPROCESSORS_ONLN), which reads /sys/devices/system/cpu/online
 * (what make -j$(getconf ...), JVMs and most runtimes size themselves by);
 * affinity is sched_getaffinity(), which busybox and coreutils nproc count
 * and which only a cpuset changes. */
static int cmd_nproc(int argc __attribute__((unused)), char **argv __attribute__((unused))) {
        cpu_set_t set;
        say("online=%ld", sysconf(_SC_NPROCESSORS_ONLN));
        say("configured=%ld", sysconf(_SC_NPROCESSORS_CONF));
        if (sched_getaffinity(0, sizeof(set), &set) == 0)
                say("affinity=%d", CPU_COUNT(&set));
        else
                say("affinity_errno=%s", errname(errno));
        return 0;
}

/* probe affinity-args: sched_getaffinity(0, ...) with the lengths and
 * buffers the kernel refuses, and with a buffer larger than any mask:
 * vsd answers the call in a capped instance (vsd/view/sysinfo.c) and must
 * refuse and return the same. */
static int cmd_affinity_args(int argc __attribute__((unused)), char **argv __attribute__((unused))) {
        static unsigned char big[65536];
        unsigned char buf[64];
        void *unmapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (unmapped == MAP_FAILED || munmap(unmapped, 4096) < 0) {
                say("errno=%s", errname(errno));
                return 1;
        }
        long r = syscall(SYS_sched_getaffinity, 0, 0, buf);
        say("short=%s", r < 0 ? errname(errno) : "ok");
        r = syscall(SYS_sched_getaffinity, 0, 12, buf);
        say("unaligned=%s", r < 0 ? errname(errno) : "ok");
        r = syscall(SYS_sched_getaffinity, 0, 4096, unmapped);
        say("unmapped=%s", r < 0 ? errname(errno) : "ok");
        memset(big, 0xff, sizeof(big));
        r = syscall(SYS_sched_getaffinity, 0, sizeof(big), big);
        if (r < 0) {
                say("big=%s", errname(errno));
                return 0;
        }
        int n = 0;
        for (long k = 0; k < r; k++)
                n += __builtin_popcount(big[k]);
        say("big=%d", n);
        say("big_len=%ld", r);
        /* what lies after the returned length is untouched */
        say("big_after=%s", r < (long) sizeof(big) && big[r] == 0xff ? "untouched" : "written");
        return 0;
}

/* probe sysinfo: what sysinfo(2) says (busybox free and uptime read it):
 * vsd answers it for the instance (vsd/view/sysinfo.c). */
static int cmd_sysinfo(int argc __attribute__((unused)), char **argv __attribute__((unused))) {
        struct sysinfo si;
        if (sysinfo(&si) < 0) {
                say("errno=%s", errname(errno));
                return 1;
        }
        unsigned long long u = si.mem_unit;
        say("uptime=%ld", si.uptime);
        say("totalram_mib=%llu", (unsigned long long) si.totalram * u >> 20);
        say("freeram_mib=%llu", (unsigned long long) si.freeram * u >> 20);
        say("sharedram_mib=%llu", (unsigned long long) si.sharedram * u >> 20);
        say("totalswap_mib=%llu", (unsigned long long) si.totalswap * u >> 20);
        say("freeswap_mib=%llu", (unsigned long long) si.freeswap * u >> 20);
        say("procs=%u", (unsigned) si.procs);
        say("load1=%.2f", si.loads[0] / 65536.0);
        say("load5=%.2f", si.loads[1] / 65536.0);
        say("mem_unit=%u", si.mem_unit);
        return 0;
}

/* probe sysinfo-fault: sysinfo(2) with pointers the caller does not own
 * (NULL, an unmapped page): the kernel says EFAULT, so must vsd. */
static int cmd_sysinfo_fault(int argc __attribute__((unused)), char **argv __attribute__((unused))) {
        void *unmapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (unmapped == MAP_FAILED || munmap(unmapped, 4096) < 0) {
                say("errno=%s", errname(errno));
                return 1;
        }
        long r = syscall(SYS_sysinfo, NULL);
        say("null=%s", r < 0 ? errname(errno) : "ok");
        r = syscall(SYS_sysinfo, unmapped);
        say("unmapped=%s", r < 0 ? errname(errno) : "ok");
        return 0;
}

/* probe sysinfo-loop N: N sysinfo(2) calls, as fast as they go. */
static int cmd_sysinfo_loop(int argc, char **argv) {
        long n = argc > 1 ? atol(argv[1]) : 1000, failed = 0;
        struct sysinfo si;
        double t0 = now(CLOCK_MONOTONIC);
        for (long k = 0; k < n; k++)
                if (sysinfo(&si) < 0)
                        failed++;
        double t = now(CLOCK_MONOTONIC) - t0;
        say("calls=%ld", n);
        say("failed=%ld", failed);
        say("us_per_call=%.1f", n ? t * 1e6 / (double) n : 0.0);
        return failed ? 1 : 0;
}

/* ---- network ---- */

static uint16_t ip_checksum(const void *data, size_t len) {
        const uint16_t *w = data;
        uint32_t sum = 0;
        for (; len > 1; len -= 2)
                sum += *w++;
        if (len)
                sum += *(const uint8_t *) w;
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t) ~sum;
}

/* udp-send SRC DST SPORT DPORT COUNT: UDP datagrams built by hand on a raw
 * socket, with any source address and port: what a customer trying to
 * spoof another's address, or to answer DHCP, would send.  Reports how many
 * the kernel took (sent=N); whether they arrive is the receiver's to say. */
static int cmd_udp_send(int argc, char **argv) {
        if (argc != 6)
                return usage();
        struct in_addr src, dst;
        if (inet_pton(AF_INET, argv[1], &src) != 1 || inet_pton(AF_INET, argv[2], &dst) != 1)
                return usage();
        int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
        if (fd < 0) {
                say("error=socket: %s", strerror(errno));
                return 1;
        }
        int one = 1;
        (void) setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
        struct {
                struct iphdr ip;
                struct udphdr udp;
                char payload[8];
        } __attribute__((packed)) pkt = { 0 };
        memcpy(pkt.payload, "vsdprobe", 8);
        pkt.ip.version = 4;
        pkt.ip.ihl = 5;
        pkt.ip.ttl = 64;
        pkt.ip.protocol = IPPROTO_UDP;
        pkt.ip.tot_len = htons(sizeof(pkt));
        pkt.ip.saddr = src.s_addr;
        pkt.ip.daddr = dst.s_addr;
        pkt.ip.check = ip_checksum(&pkt.ip, sizeof(pkt.ip));
        pkt.udp.source = htons((uint16_t) atoi(argv[3]));
        pkt.udp.dest = htons((uint16_t) atoi(argv[4]));
        pkt.udp.len = htons(sizeof(pkt.udp) + sizeof(pkt.payload));
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = dst };
        int count = atoi(argv[5]), sent = 0;
        for (int i = 0; i < count; i++) {
                if (sendto(fd, &pkt, sizeof(pkt), 0, (struct sockaddr *) &to, sizeof(to)) == (ssize_t) sizeof(pkt))
                        sent++;
                else
                        say("error=sendto: %s", strerror(errno));
                usleep(10000);
        }
        say("sent=%d", sent);
        return sent == count ? 0 : 1;
}

/* udp-count PORT MS [END_SPORT]: how many datagrams arrive on PORT (any
 * address) in MS milliseconds, and from where the last came.  With END_SPORT
 * the count ends at the first datagram from that source port, which is not
 * counted ("ended=1"): a test sends it after what it counts, on the same
 * path, so that the count does not depend on how fast a busy host runs the
 * sender.  Prints ready=1 once bound. */
static int cmd_udp_count(int argc, char **argv) {
        if (argc != 3 && argc != 4)
                return usage();
        long end_port = 0;
        if (argc == 4 && (parse_long(argv[3], &end_port) < 0 || end_port <= 0 || end_port > 65535))
                return usage();
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int one = 1;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        (void) setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) atoi(argv[1])) };
        if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0) {
                say("error=bind: %s", strerror(errno));
                return 1;
        }
        say("ready=1");
        struct timespec end, now;
        clock_gettime(CLOCK_MONOTONIC, &end);
        long ms = atol(argv[2]);
        end.tv_sec += ms / 1000;
        end.tv_nsec += (ms % 1000) * 1000000L;
        int n = 0, ended = 0;
        char from[INET_ADDRSTRLEN] = "-";
        for (;;) {
                clock_gettime(CLOCK_MONOTONIC, &now);
                long left = (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
                if (left <= 0)
                        break;
                struct timeval tv = { .tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000 };
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                char buf[64];
                struct sockaddr_in src;
                socklen_t sl = sizeof(src);
                if (recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *) &src, &sl) >= 0) {
                        if (end_port && ntohs(src.sin_port) == end_port) {
                                ended = 1;
                                break;
                        }
                        n++;
                        inet_ntop(AF_INET, &src.sin_addr, from, sizeof(from));
                }
        }
        say("count=%d", n);
        say("from=%s", from);
        if (end_port)
                say("ended=%d", ended);
        return 0;
}

/* arp-send SENDER_IP SENDER_MAC TARGET_IP: one ARP request on eth0 ("who
 * has TARGET_IP, tell SENDER_IP at SENDER_MAC"), the Ethernet source set
 * to SENDER_MAC too: how a customer would claim another's address or
 * MAC.  Whoever answers or learns from it is the receiver's to say. */
static int cmd_arp_send(int argc, char **argv) {
        if (argc != 4)
                return usage();
        unsigned m[6];
        struct in_addr sip, tip;
        if (inet_pton(AF_INET, argv[1], &sip) != 1 || inet_pton(AF_INET, argv[3], &tip) != 1 ||
            sscanf(argv[2], "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
                return usage();
        int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));
        if (fd < 0) {
                say("error=socket: %s", strerror(errno));
                return 1;
        }
        struct {
                struct ether_header eth;
                struct ether_arp arp;
        } __attribute__((packed)) f = { 0 };
        for (int i = 0; i < 6; i++) {
                f.eth.ether_shost[i] = f.arp.arp_sha[i] = (uint8_t) m[i];
                f.eth.ether_dhost[i] = 0xff;
        }
        f.eth.ether_type = htons(ETH_P_ARP);
        f.arp.arp_hrd = htons(ARPHRD_ETHER);
        f.arp.arp_pro = htons(ETH_P_IP);
        f.arp.arp_hln = 6;
        f.arp.arp_pln = 4;
        f.arp.arp_op = htons(ARPOP_REQUEST);
        memcpy(f.arp.arp_spa, &sip, 4);
        memcpy(f.arp.arp_tpa, &tip, 4);
        struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = (int) if_nametoindex("eth0"), .sll_halen = 6 };
        memset(to.sll_addr, 0xff, 6);
        int sent = 0;
        for (int i = 0; i < 3; i++) {
                if (sendto(fd, &f, sizeof(f), 0, (struct sockaddr *) &to, sizeof(to)) == (ssize_t) sizeof(f))
                        sent++;
                usleep(20000);
        }
        say("sent=%d", sent);
        return sent == 3 ? 0 : 1;
}

static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
} commands[] = {
        { "nproc", cmd_nproc },
        { "affinity-args", cmd_affinity_args },
        { "sysinfo", cmd_sysinfo },
        { "sysinfo-fault", cmd_sysinfo_fault },
        { "sysinfo-loop", cmd_sysinfo_loop },
        { "write-direct", cmd_write_direct },
        { "pid", cmd_pid },
        { "caps", cmd_caps },
        { "hostname", cmd_hostname },
        { "seccomp", cmd_seccomp },
        { "fds", cmd_fds },
        { "read", cmd_read },
        { "write", cmd_write },
        { "syscall", cmd_syscall },
        { "mount-blockdev", cmd_mount_blockdev },
        { "memhog", cmd_memhog },
        { "dirty", cmd_dirty },
        { "dirtyish", cmd_dirtyish },
        { "forkbomb", cmd_forkbomb },
        { "spin", cmd_spin },
        { "hold-fd", cmd_hold_fd },
        { "udp-send", cmd_udp_send },
        { "udp-count", cmd_udp_count },
        { "arp-send", cmd_arp_send },
        /* attack.c: the known container escapes, tried for real */
        { "race-exec", cmd_race_exec },
        { "fd-walk", cmd_fd_walk },
        { "cg-escape", cmd_cg_escape },
        { "mask-escape", cmd_mask_escape },
        { "modload", cmd_modload },
        { "devnode", cmd_devnode },
        /* nest.c */
        { "nest", cmd_nest },
        { "hog", cmd_hog },
        { "try", cmd_try },
        { "notify", cmd_notify },
};

int main(int argc, char **argv) {
        if (argc < 2)
                return usage();
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[1], commands[i].name) == 0)
                        return commands[i].fn(argc - 1, argv + 1);
        return usage();
}

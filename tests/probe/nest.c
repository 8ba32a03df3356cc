/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a nested container engine and a greedy customer do from inside an
 * instance: the probe's nest, hog and try commands (tests/integration/
 * t_nesting.sh).  Each reports key=value lines, as the rest of the probe.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/probe/probe.h"

static int write_file(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, text, strlen(text));
        int e = errno;
        close(fd);
        return n == (ssize_t) strlen(text) ? 0 : -(n < 0 ? e : EIO);
}

/* The pids a /proc shows, comma-separated, and how many. */
static int list_pids(const char *proc, char *buf, size_t size) {
        DIR *d = opendir(proc);
        int n = 0;
        size_t used = 0;
        buf[0] = '\0';
        if (!d)
                return -errno;
        for (struct dirent *e; (e = readdir(d));) {
                if (e->d_name[0] < '1' || e->d_name[0] > '9')
                        continue;
                n++;
                int w = snprintf(buf + used, size - used, "%s%s", used ? "," : "", e->d_name);
                if (w > 0 && (size_t) w < size - used)
                        used += (size_t) w;
        }
        closedir(d);
        return n;
}

/* The nested side: pid 1 of a new pid namespace, in new user, mount and
 * network namespaces; `unshare --user --map-root-user --mount --pid
 * --fork --mount-proc` does the same. */
static int nest_child(void) {
        char buf[512];
        say("nested_uid=%d", (int) getuid());
        /* what a runtime does first: nothing of ours propagates back */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                say("make_private=%s", errname(errno));
                return 1;
        }
        say("mount_proc=%s", errname(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0
                                             ? errno : 0));
        int n = list_pids("/proc", buf, sizeof(buf));
        say("nested_pid=%d", (int) getpid());
        say("nested_procs=%d", n);
        say("nested_pids=%s", buf);
        say("mount_sys=%s", errname(mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) < 0
                                            ? errno : 0));
        /* the nested network namespace's links, by the kernel and by sysfs */
        struct if_nameindex *ifs = if_nameindex();
        size_t used = 0;
        buf[0] = '\0';
        for (struct if_nameindex *i = ifs; i && i->if_name; i++) {
                int w = snprintf(buf + used, sizeof(buf) - used, "%s%s", used ? "," : "", i->if_name);
                if (w > 0 && (size_t) w < sizeof(buf) - used)
                        used += (size_t) w;
        }
        if (ifs)
                if_freenameindex(ifs);
        say("nested_links=%s", buf);
        DIR *d = opendir("/sys/class/net");
        used = 0;
        buf[0] = '\0';
        for (struct dirent *e; d && (e = readdir(d));) {
                if (e->d_name[0] == '.')
                        continue;
                int w = snprintf(buf + used, sizeof(buf) - used, "%s%s", used ? "," : "", e->d_name);
                if (w > 0 && (size_t) w < sizeof(buf) - used)
                        used += (size_t) w;
        }
        if (d)
                closedir(d);
        say("nested_sys_links=%s", buf);
        return 0;
}

/* probe nest: user, mount, pid and network namespaces of our own, root
 * mapped to us, a fresh proc and sysfs in them. */
int cmd_nest(int argc __attribute__((unused)), char **argv __attribute__((unused))) {
        char map[64];
        uid_t uid = getuid();
        gid_t gid = getgid();
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET) < 0) {
                say("unshare=%s", errname(errno));
                return 1;
        }
        say("unshare=ok");
        snprintf(map, sizeof(map), "0 %d 1\n", (int) uid);
        int r = write_file("/proc/self/uid_map", map);
        if (r >= 0)
                r = write_file("/proc/self/setgroups", "deny\n");
        snprintf(map, sizeof(map), "0 %d 1\n", (int) gid);
        if (r >= 0)
                r = write_file("/proc/self/gid_map", map);
        say("map=%s", errname(-r));
        if (r < 0)
                return 1;
        pid_t pid = fork();
        if (pid < 0) {
                say("fork=%s", errname(errno));
                return 1;
        }
        if (pid == 0)
                _exit(nest_child());
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* One of what hog and try count: opened, kept open (the fd), or -errno. */
static int open_one(const char *what) {
        if (strcmp(what, "pty") == 0) {
                int fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
                if (fd >= 0 && unlockpt(fd) < 0) {
                        int e = errno;
                        close(fd);
                        return -e;
                }
                return fd < 0 ? -errno : fd;
        }
        if (strcmp(what, "inotify") == 0) {
                int fd = inotify_init1(IN_CLOEXEC);
                return fd < 0 ? -errno : fd;
        }
        if (strcmp(what, "watch") == 0) {
                /* a watch per call on a directory of its own, all in one
                 * instance: the watch count, not the instances */
                static int ifd = -1;
                static int k;
                char dir[64];
                if (ifd < 0 && (ifd = inotify_init1(IN_CLOEXEC)) < 0)
                        return -errno;
                snprintf(dir, sizeof(dir), "/tmp/.w%d", k++);
                if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                        return -errno;
                int w = inotify_add_watch(ifd, dir, IN_CREATE);
                return w < 0 ? -errno : ifd;
        }
        return -EINVAL;
}

/* probe hog pty|inotify|watch MAX READY_FILE: open until refused or MAX,
 * say how many and why it stopped, create READY_FILE and hold them until
 * killed. */
int cmd_hog(int argc, char **argv) {
        if (argc < 4)
                return 2;
        long max = atol(argv[2]);
        long n = 0;
        int r = 0;
        while (n < max && (r = open_one(argv[1])) >= 0)
                n++;
        say("opened=%ld", n);
        say("stopped=%s", n < max ? errname(-r) : "max");
        int fd = open(argv[3], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0)
                close(fd);
        for (;;)
                pause();
}

/* probe try pty|inotify|watch: open one */
int cmd_try(int argc, char **argv) {
        if (argc < 2)
                return 2;
        int r = open_one(argv[1]);
        say("%s=%s", argv[1], r < 0 ? errname(-r) : "ok");
        return r < 0;
}

/* probe notify LOG PATH...: an inotify watch on each PATH (creations,
 * changes), each event appended to LOG as "PATH NAME" until killed: a
 * watch that a checkpoint and restore carried still reports. */
int cmd_notify(int argc, char **argv) {
        if (argc < 3)
                return 2;
        int ifd = inotify_init1(IN_CLOEXEC);
        if (ifd < 0)
                return 1;
        for (int k = 2; k < argc; k++)
                if (inotify_add_watch(ifd, argv[k], IN_CREATE | IN_MODIFY | IN_ATTRIB) != k - 1)
                        return 1;
        for (;;) {
                char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
                ssize_t n = read(ifd, buf, sizeof(buf));
                if (n <= 0)
                        return n < 0 && errno == EINTR ? 0 : 1;
                for (char *p = buf; p < buf + n;) {
                        struct inotify_event *ev = (struct inotify_event *) p;
                        FILE *f = fopen(argv[1], "ae");
                        if (f) {
                                fprintf(f, "%s %s\n", ev->wd >= 1 && ev->wd < argc - 1 ? argv[ev->wd + 1] : "?",
                                        ev->len ? ev->name : "");
                                fclose(f);
                        }
                        p += sizeof(*ev) + ev->len;
                }
        }
}

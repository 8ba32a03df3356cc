/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/inst/ckptsock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "vsd/core/syscalls.h"

/* The sockets of one process left in repair mode, turned back. */
static int process_repair_off(pid_t pid) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        _cleanup_close_ int pidfd = sys_pidfd_open(pid, 0);
        if (pidfd < 0)
                return 0; /* gone meanwhile */
        DIR *d = opendir(path);
        if (!d)
                return 0;
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                char *end, link[64];
                long fd = strtol(de->d_name, &end, 10);
                if (*end || fd < 0)
                        continue;
                ssize_t k = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
                if (k <= 0)
                        continue;
                link[k] = '\0';
                if (strncmp(link, "socket:", 7) != 0)
                        continue;
                _cleanup_close_ int s = sys_pidfd_getfd(pidfd, (int) fd, 0);
                int on = 0, off = TCP_REPAIR_OFF;
                socklen_t len = sizeof(on);
                /* (fails on anything but TCP) */
                if (s < 0 || getsockopt(s, SOL_TCP, TCP_REPAIR, &on, &len) < 0 || on != 1)
                        continue;
                if (setsockopt(s, SOL_TCP, TCP_REPAIR, &off, sizeof(off)) == 0)
                        n++;
        }
        closedir(d);
        return n;
}

int ckpt_sock_repair_off(pid_t init_pid) {
        char path[64];
        struct stat ns;
        snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int) init_pid);
        if (stat(path, &ns) < 0)
                return -errno;
        DIR *d = opendir("/proc");
        if (!d)
                return -errno;
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);
                struct stat st;
                if (*end || pid <= 0)
                        continue;
                snprintf(path, sizeof(path), "/proc/%ld/ns/pid", pid);
                if (stat(path, &st) == 0 && st.st_ino == ns.st_ino && st.st_dev == ns.st_dev)
                        n += process_repair_off((pid_t) pid);
        }
        closedir(d);
        return n;
}

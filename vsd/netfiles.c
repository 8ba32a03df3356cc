/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The files of an instance's /etc that follow its network settings:
 * /etc/hosts and /etc/resolv.conf, written by the child of start_spawn
 * (SYNC_NET_FILES) through the freshly mounted overlay, into the
 * instance's private layer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../base/util.h"
#include "network.h"
#include "syscalls.h"

/* vsd's lines in an instance's /etc/hosts sit between these; the rest of
 * the file is the customer's and stays as it is. */
#define HOSTS_BEGIN "# vsd: begin (rewritten at every start)\n"
#define HOSTS_END "# vsd: end\n"
#define HOSTS_MAX (64 * 1024)

static int open_inside(int rootfd, const char *path, int flags, vs_error *err) {
        /* openat2 refuses a mode without O_CREAT */
        int fd = sys_openat2(rootfd, path, (uint64_t) flags | O_CLOEXEC | O_NOFOLLOW, flags & O_CREAT ? 0644 : 0,
                             RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        /* no /etc, or a symlink (systemd-resolved's stub): not ours to write */
        if (fd == -ENOENT || fd == -ELOOP)
                return -ENOENT;
        if (fd < 0)
                return vs_err_msg(err, -fd, "open /%s", path);
        return fd;
}

static int write_all(int fd, const char *text, size_t len, const char *path, vs_error *err) {
        if (write(fd, text, len) != (ssize_t) len)
                return vs_err_msg(err, errno ? errno : EIO, "write /%s", path);
        return 0;
}

/* The customer's /etc/hosts with vsd's block (between HOSTS_BEGIN and
 * HOSTS_END) replaced by block, or appended; left alone when it holds this
 * block already (a restart).  Runs in the freshly cloned child: no write
 * that is not needed. */
static void unmap_hosts(char **p) {
        if (*p)
                munmap(*p, HOSTS_MAX + 1);
}

static int write_hosts(int rootfd, const char *block, vs_error *err) {
        /* fresh pages of our own: malloc would write the heap's pages,
         * which the child shares with the daemon until exec, and each
         * such write costs a page copy and a TLB flush on the daemon's
         * CPU (0.2 ms and more on a virtual machine) */
        char *map = mmap(NULL, HOSTS_MAX + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED)
                return vs_err_msg(err, errno, "read /etc/hosts");
        __attribute__((cleanup(unmap_hosts))) char *text = map;
        size_t len = 0;
        _cleanup_close_ int in = open_inside(rootfd, "etc/hosts", O_RDONLY, err);
        if (in == -ENOENT) {
                /* no /etc/hosts: fine, one is made below if /etc exists */
        } else if (in < 0)
                return in;
        else {
                ssize_t got;
                while (len < HOSTS_MAX && (got = read(in, text + len, HOSTS_MAX - len)) > 0)
                        len += (size_t) got;
        }
        text[len] = '\0';
        char *begin = strstr(text, HOSTS_BEGIN), *end = begin ? strstr(begin, HOSTS_END) : NULL;
        if (begin && end) {
                const char *old = begin + strlen(HOSTS_BEGIN);
                if ((size_t) (end - old) == strlen(block) && strncmp(old, block, strlen(block)) == 0)
                        return 0;
                memmove(begin, end + strlen(HOSTS_END), strlen(end + strlen(HOSTS_END)) + 1);
        }
        len = strlen(text);
        _cleanup_close_ int out = open_inside(rootfd, "etc/hosts", O_WRONLY | O_CREAT | O_TRUNC, err);
        if (out == -ENOENT)
                return 0;
        if (out < 0)
                return out;
        int r = write_all(out, text, len, "etc/hosts", err);
        if (r >= 0 && len && text[len - 1] != '\n')
                r = write_all(out, "\n", 1, "etc/hosts", err);
        if (r >= 0)
                r = write_all(out, HOSTS_BEGIN, strlen(HOSTS_BEGIN), "etc/hosts", err);
        if (r >= 0)
                r = write_all(out, block, strlen(block), "etc/hosts", err);
        if (r >= 0)
                r = write_all(out, HOSTS_END, strlen(HOSTS_END), "etc/hosts", err);
        return r;
}

/* /etc/hosts always names the instance; /etc/resolv.conf is written only
 * when the operator configured nameservers. */
int netw_write_files(int rootfd, const struct start_net *p, vs_error *err) {
        int r = write_hosts(rootfd, p->hosts, err);
        if (r < 0 || !p->resolv[0])
                return r;
        _cleanup_close_ int fd = open_inside(rootfd, "etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC, err);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        return write_all(fd, p->resolv, strlen(p->resolv), "etc/resolv.conf", err);
}

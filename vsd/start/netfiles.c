/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The files of an instance's /etc that follow its network settings:
 * /etc/hosts and /etc/resolv.conf, written by the child of start_spawn
 * (SYNC_NET_FILES) through the freshly mounted overlay, into the
 * instance's private layer.
 *
 * Both are the customer's to replace.  Whatever stands there is opened
 * with vs_open_inside(): never followed out of the rootfs, never waited on
 * (a FIFO would hold the start, and the daemon with it, until the sync
 * timeout), never read or written unless it is a regular file.  Anything
 * else is left as it is and the start goes on with a warning: the instance
 * then resolves names as its owner arranged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/util.h"
#include "vsd/core/syscalls.h"
#include "vsd/start/netfiles.h"

/* vsd's lines in an instance's /etc/hosts sit between these; the rest of
 * the file is the customer's and stays as it is. */
#define HOSTS_BEGIN "# vsd: begin (rewritten at every start)\n"
#define HOSTS_END "# vsd: end\n"
#define HOSTS_MAX (64 * 1024)

/* Links resolve as if the rootfs were "/", and no /proc magic link leads
 * out of it. */
#define IN_ROOT (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

/* Append "; "-separated reasons to warn. */
static void __attribute__((format(printf, 2, 3))) note(vs_error *warn, const char *fmt, ...) {
        size_t n = strlen(warn->msg);
        if (n > 0 && n + 2 < sizeof(warn->msg)) {
                memcpy(warn->msg + n, "; ", 3);
                n += 2;
        }
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(warn->msg + n, sizeof(warn->msg) - n, fmt, ap);
        va_end(ap);
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

static int write_hosts(int rootfd, const char *block, vs_error *warn, vs_error *err) {
        vs_error why = { 0 };
        _cleanup_close_ int fd = vs_open_inside(rootfd, "etc/hosts", O_RDWR | O_CREAT, 0644, IN_ROOT, &why);
        if (fd == -ENOENT) /* no /etc: not ours to make */
                return 0;
        /* ENOTDIR: /etc itself is something else */
        if (fd == -ELOOP || fd == -VS_EBADTYPE || fd == -ENOTDIR) {
                note(warn, "%s: not rewritten", why.msg);
                return 0;
        }
        /* the parent adds the errno text */
        if (fd < 0)
                return vs_err_msg(err, -fd, "open /etc/hosts");
        struct stat st;
        if (fstat(fd, &st) < 0)
                return vs_err_msg(err, errno, "stat /etc/hosts");
        /* Rewriting means reading all of it; past this it is not a hosts
         * file vsd should hold in memory, nor cut short. */
        if (st.st_size > HOSTS_MAX) {
                note(warn, "/etc/hosts is larger than %d KiB: not rewritten", HOSTS_MAX / 1024);
                return 0;
        }
        /* fresh pages of our own: malloc would write the heap's pages,
         * which the child shares with the daemon until exec, and each
         * such write costs a page copy and a TLB flush on the daemon's
         * CPU (0.2 ms and more on a virtual machine) */
        char *map = mmap(NULL, HOSTS_MAX + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED)
                return vs_err_msg(err, errno, "read /etc/hosts");
        __attribute__((cleanup(unmap_hosts))) char *text = map;
        size_t len = 0;
        ssize_t got;
        while (len < HOSTS_MAX && (got = read(fd, text + len, HOSTS_MAX - len)) > 0)
                len += (size_t) got;
        text[len] = '\0';
        char *begin = strstr(text, HOSTS_BEGIN), *end = begin ? strstr(begin, HOSTS_END) : NULL;
        if (begin && end) {
                const char *old = begin + strlen(HOSTS_BEGIN);
                if ((size_t) (end - old) == strlen(block) && strncmp(old, block, strlen(block)) == 0)
                        return 0;
                memmove(begin, end + strlen(HOSTS_END), strlen(end + strlen(HOSTS_END)) + 1);
        }
        len = strlen(text);
        if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
                return vs_err_msg(err, errno, "truncate /etc/hosts");
        int r = write_all(fd, text, len, "etc/hosts", err);
        if (r >= 0 && len && text[len - 1] != '\n')
                r = write_all(fd, "\n", 1, "etc/hosts", err);
        if (r >= 0)
                r = write_all(fd, HOSTS_BEGIN, strlen(HOSTS_BEGIN), "etc/hosts", err);
        if (r >= 0)
                r = write_all(fd, block, strlen(block), "etc/hosts", err);
        if (r >= 0)
                r = write_all(fd, HOSTS_END, strlen(HOSTS_END), "etc/hosts", err);
        return r;
}

/* /etc/hosts always names the instance; /etc/resolv.conf is written only
 * when the operator configured nameservers. */
int netfiles_write(int rootfd, const struct start_net *p, vs_error *warn, vs_error *err) {
        int r = write_hosts(rootfd, p->hosts, warn, err);
        if (r < 0 || !p->resolv[0])
                return r;
        vs_error why = { 0 };
        _cleanup_close_ int fd =
                vs_open_inside(rootfd, "etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC, 0644, IN_ROOT, &why);
        /* no /etc, or a link: systemd-resolved's stub is one, and the
         * instance chose it; not worth a warning at every start */
        if (fd == -ENOENT || fd == -ELOOP)
                return 0;
        if (fd == -VS_EBADTYPE || fd == -ENOTDIR) {
                note(warn, "%s: not rewritten", why.msg);
                return 0;
        }
        if (fd < 0)
                return vs_err_msg(err, -fd, "open /etc/resolv.conf");
        return write_all(fd, p->resolv, strlen(p->resolv), "etc/resolv.conf", err);
}

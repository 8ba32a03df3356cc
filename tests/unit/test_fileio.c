/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vs_open_inside(): what a customer may put where vsd opens a file. */

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "tests/unit/check.h"

#define IN_ROOT (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

static void put(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
                (void) !write(fd, text, strlen(text));
                close(fd);
        }
}

static char *slurp(const char *path, char *buf, size_t len) {
        buf[0] = '\0';
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                ssize_t n = read(fd, buf, len - 1);
                buf[n > 0 ? n : 0] = '\0';
                close(fd);
        }
        return buf;
}

int main(void) {
        char dir[] = "/tmp/vsd-test-fileio-XXXXXX", p[256], host[256], buf[256];
        if (!mkdtemp(dir)) {
                CHECK("temp dir", false, "%s", strerror(errno));
                return CHECK_DONE();
        }
        /* a FIFO with no writer: an open for reading that followed it
         * would wait for ever; the alarm turns that into a failure */
        alarm(10);
        snprintf(p, sizeof(p), "%s/root/etc", dir);
        vs_mkdir_p(p, 0755);
        snprintf(p, sizeof(p), "%s/root", dir);
        int root = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
        snprintf(host, sizeof(host), "%s/host-file", dir);
        put(host, "host\n");

        vs_error err = { 0 };
        snprintf(p, sizeof(p), "%s/root/etc/fifo", dir);
        mkfifo(p, 0644);
        int fd = vs_open_inside(root, "etc/fifo", O_RDONLY, 0, IN_ROOT, &err);
        CHECK("a FIFO is refused, not waited on", fd == -VS_EBADTYPE && strcmp(err.msg, "/etc/fifo is a FIFO, not a regular file") == 0,
              "fd=%d '%s'", fd, err.msg);
        fd = vs_open_inside(root, "etc/fifo", O_WRONLY | O_CREAT | O_TRUNC, 0644, IN_ROOT, &err);
        CHECK("a FIFO is refused for writing", fd == -VS_EBADTYPE, "fd=%d '%s'", fd, err.msg);

        snprintf(p, sizeof(p), "%s/root/etc/link", dir);
        (void) !symlink(host, p);
        fd = vs_open_inside(root, "etc/link", O_WRONLY | O_TRUNC, 0, IN_ROOT, &err);
        CHECK("a link is not followed", fd == -ELOOP && strcmp(err.msg, "/etc/link is a symbolic link") == 0, "fd=%d '%s'",
              fd, err.msg);
        CHECK("the link's target is untouched", strcmp(slurp(host, buf, sizeof(buf)), "host\n") == 0, "'%s'", buf);

        /* a directory on the way that links out: resolved inside the root */
        snprintf(p, sizeof(p), "%s/root/out", dir);
        (void) !symlink(dir, p);
        fd = vs_open_inside(root, "out/host-file", O_RDONLY, 0, IN_ROOT, &err);
        CHECK("a link on the way stays inside the root", fd == -ENOENT, "fd=%d '%s'", fd, err.msg);

        snprintf(p, sizeof(p), "%s/root/etc/dir", dir);
        mkdir(p, 0755);
        fd = vs_open_inside(root, "etc/dir", O_RDWR | O_CREAT, 0644, IN_ROOT, &err);
        CHECK("a directory is not a file", fd == -VS_EBADTYPE && strstr(err.msg, "is a directory, not a regular file"),
              "fd=%d '%s'", fd, err.msg);
        fd = vs_open_inside(root, "etc/dir", O_RDONLY | O_DIRECTORY, 0, IN_ROOT, &err);
        CHECK("a directory where one is wanted", fd >= 0, "fd=%d '%s'", fd, err.msg);
        if (fd >= 0)
                close(fd);
        fd = vs_open_inside(root, "etc/fifo", O_RDONLY | O_DIRECTORY, 0, IN_ROOT, &err);
        CHECK("a FIFO is not a directory", fd == -VS_EBADTYPE && strstr(err.msg, "not a directory"), "fd=%d '%s'", fd,
              err.msg);

        fd = vs_open_inside(root, "etc/new", O_WRONLY | O_CREAT | O_TRUNC, 0600, IN_ROOT, &err);
        struct stat st;
        CHECK("a missing file is made", fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600,
              "fd=%d '%s'", fd, err.msg);
        if (fd >= 0)
                close(fd);
        snprintf(p, sizeof(p), "%s/root/etc/file", dir);
        put(p, "old text\n");
        fd = vs_open_inside(root, "etc/file", O_WRONLY | O_TRUNC, 0, IN_ROOT, &err);
        CHECK("a regular file opens and is truncated", fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 0, "fd=%d '%s'", fd,
              err.msg);
        if (fd >= 0)
                close(fd);
        fd = vs_open_inside(root, "etc/none", O_RDONLY, 0, IN_ROOT, &err);
        CHECK("nothing there", fd == -ENOENT, "fd=%d", fd);
        fd = vs_open_inside(root, "etc/file/x", O_WRONLY | O_CREAT, 0644, IN_ROOT, &err);
        CHECK("a file on the way", fd == -ENOTDIR, "fd=%d '%s'", fd, err.msg);

        /* the daemon's own small files */
        char *text = NULL;
        snprintf(p, sizeof(p), "%s/root/etc/fifo", dir);
        CHECK("vs_read_file refuses a FIFO", vs_read_file(p, 4096, &text, NULL) == -VS_EBADTYPE, "read it");
        free(text);
        CHECK("vs_read_line refuses a FIFO", vs_read_line(p, buf, sizeof(buf)) == -VS_EBADTYPE, "read it");

        close(root);
        vs_rm_rf(dir);
        return CHECK_DONE();
}

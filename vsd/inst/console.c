/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/inst/console.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <linux/mount.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "base/fileio.h"
#include "base/util.h"
#include "vsd/core/syscalls.h"
#include "vsd/core/daemon.h"
#include "vsd/core/loop.h"
#include "vsd/view/holder.h"

struct console_client {
        struct console *con;
        int fd;                          /* a raw socket client; -EBADF for a sink */
        const struct console_sink *sink; /* or one with its own framing (websocket.c) */
        void *sink_ud;
        struct loop_source *src;
        void (*closed)(void *ud);
        void *ud;
        struct console_client **slot; /* the owner's pointer to us, cleared at the end */
        struct console_client *next;
};

struct console {
        struct vsd *vsd;
        int master;
        int slave;
        int log_fd;
        uint64_t log_size;
        uint64_t log_limit;
        char log_path[512];
        struct loop_source *src;
        struct console_client *clients;
        bool held; /* the holder has a copy of the master (holder.h) */
};

int console_slave_fd(const struct console *c) {
        return c ? c->slave : -EBADF;
}

static void client_drop(struct console_client *cl) {
        struct console *c = cl->con;
        for (struct console_client **p = &c->clients; *p; p = &(*p)->next)
                if (*p == cl) {
                        *p = cl->next;
                        break;
                }
        loop_remove(cl->src);
        if (cl->slot)
                *cl->slot = NULL;
        /* the upgraded socket belongs to the HTTP layer, which closes it */
        if (cl->closed)
                cl->closed(cl->ud);
        free(cl);
}

/* Keep at most log_limit bytes in console.log plus one rotated file. */
static void log_append(struct console *c, const char *buf, size_t len) {
        if (c->log_fd < 0)
                return;
        if (c->log_size + len > c->log_limit) {
                char old[600];
                snprintf(old, sizeof(old), "%s.1", c->log_path);
                (void) rename(c->log_path, old);
                close(c->log_fd);
                c->log_fd = vs_open_inside(AT_FDCWD, c->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600, 0, NULL);
                c->log_size = 0;
                if (c->log_fd < 0)
                        return;
        }
        ssize_t n = write(c->log_fd, buf, len);
        if (n > 0)
                c->log_size += (uint64_t) n;
}

static int on_master(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct console *c = userdata;
        char buf[4096];

        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                /* EIO: every slave closed; we hold one, so this means the end */
                c->src = NULL;
                return -1;
        }
        if (n == 0)
                return 0;
        log_append(c, buf, (size_t) n);
        for (struct console_client *cl = c->clients, *next; cl; cl = next) {
                next = cl->next;
                if (cl->sink) {
                        /* a sink bounds what it holds itself, and asks to go past that */
                        if (cl->sink->output(cl->sink_ud, buf, (size_t) n) < 0)
                                client_drop(cl);
                        continue;
                }
                /* never let a slow client stall the daemon: drop what does not fit */
                if (send(cl->fd, buf, (size_t) n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
                        client_drop(cl);
        }
        return 0;
}

/* Input for the console: what a full tty does not take is dropped, as a
 * real terminal would (the master is non-blocking: never waits). */
static void master_write(struct console *c, const char *buf, size_t n) {
        for (size_t off = 0; off < n;) {
                ssize_t w = write(c->master, buf + off, n - off);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                off += (size_t) w;
        }
}

static int on_client(struct loop_source *s, int fd, uint32_t events, void *userdata) {
        struct console_client *cl = userdata;
        char buf[1024];

        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                cl->src = NULL; /* the loop removes it */
                loop_remove(s);
                client_drop(cl);
                return 0;
        }
        master_write(cl->con, buf, (size_t) n);
        return 0;
}

/* The console around a pty pair: its log opened, the master watched. */
static int console_make(struct vsd *v, const char *log_path, uint64_t log_size, int *master, int *slave,
                        struct console **ret, vs_error *err) {
        struct console *c = calloc(1, sizeof(*c));
        if (!c)
                return vs_err(err, ENOMEM, "console");
        c->vsd = v;
        c->log_limit = log_size;
        snprintf(c->log_path, sizeof(c->log_path), "%s", log_path);
        /* in the instance's directory, where nothing but vsd writes; opened
         * as what an instance could have planted all the same: the console
         * is read on the event loop */
        c->log_fd = vs_open_inside(AT_FDCWD, log_path, O_WRONLY | O_CREAT | O_APPEND, 0600, 0, NULL);
        struct stat st;
        if (c->log_fd >= 0 && fstat(c->log_fd, &st) == 0)
                c->log_size = (uint64_t) st.st_size;
        int r = loop_add_fd(v->loop, *master, EPOLLIN, on_master, c, &c->src);
        if (r < 0) {
                if (c->log_fd >= 0)
                        close(c->log_fd);
                free(c);
                return vs_err(err, -r, "watch console");
        }
        c->master = TAKE_FD(*master);
        c->slave = TAKE_FD(*slave);
        *ret = c;
        return 0;
}

int console_open(struct vsd *v, const char *log_path, uint64_t log_size, struct console **ret, int *ret_slave,
                 vs_error *err) {
        _cleanup_close_ int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        if (master < 0)
                return vs_err(err, errno, "open console pty");
        char name[64];
        if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0)
                return vs_err(err, errno, "set up console pty");
        _cleanup_close_ int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0)
                return vs_err(err, errno, "open %s", name);
        struct winsize ws = { .ws_row = 24, .ws_col = 80 };
        (void) ioctl(master, TIOCSWINSZ, &ws);
        int r = console_make(v, log_path, log_size, &master, &slave, ret, err);
        if (r < 0)
                return r;
        *ret_slave = (*ret)->slave;
        return 0;
}

int console_adopt(struct vsd *v, const char *log_path, uint64_t log_size, int master_fd, const char *data,
                  size_t len, uint32_t lost, struct console **ret, vs_error *err) {
        _cleanup_close_ int master = master_fd;
        /* the pty's own slave, never a path: the master proves which pty */
        _cleanup_close_ int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0)
                return vs_err(err, errno, "open the console's pty");
        int fl = fcntl(master, F_GETFL);
        if (fl < 0 || fcntl(master, F_SETFL, fl | O_NONBLOCK) < 0)
                return vs_err(err, errno, "set up the console's pty");
        struct console *c;
        int r = console_make(v, log_path, log_size, &master, &slave, &c, err);
        if (r < 0)
                return r;
        if (lost) {
                char note[128];
                int n = snprintf(note, sizeof(note), "\r\n[vsd: %" PRIu32 " bytes of console output dropped while no daemon ran]\r\n",
                                 lost);
                log_append(c, note, (size_t) n);
        }
        if (len)
                log_append(c, data, len);
        c->held = true; /* the holder gave it back and keeps its copy */
        *ret = c;
        return 0;
}

int console_hold(struct console *c, struct hold *h, const struct hold_tag *tag, int init_pidfd) {
        if (!c || c->held)
                return 0;
        int r = hold_give_console(h, tag, c->master, init_pidfd);
        c->held = r == 0;
        return r;
}

void console_hold_lost(struct console *c) {
        if (c)
                c->held = false;
}

void console_free(struct console *c) {
        if (!c)
                return;
        /* read what is left so the log has the instance's last words */
        char buf[4096];
        ssize_t n;
        while ((n = read(c->master, buf, sizeof(buf))) > 0)
                log_append(c, buf, (size_t) n);
        while (c->clients)
                client_drop(c->clients);
        loop_remove(c->src);
        close(c->master);
        close(c->slave);
        if (c->log_fd >= 0)
                close(c->log_fd);
        free(c);
}

void console_detach(struct console_client *cl) {
        client_drop(cl);
}

int console_attach(struct console *c, int sock, void (*closed)(void *ud), void *ud, struct console_client **slot,
                   vs_error *err) {
        struct console_client *cl = calloc(1, sizeof(*cl));
        if (!cl)
                return vs_err(err, ENOMEM, "attach console");
        *cl = (struct console_client){ .con = c, .fd = sock, .closed = closed, .ud = ud, .slot = slot };
        int r = loop_add_fd(c->vsd->loop, sock, EPOLLIN | EPOLLRDHUP, on_client, cl, &cl->src);
        if (r < 0) {
                free(cl);
                return vs_err(err, -r, "attach console");
        }
        cl->next = c->clients;
        c->clients = cl;
        if (slot)
                *slot = cl;
        return 0;
}

int console_attach_sink(struct console *c, const struct console_sink *sink, void *ud, void (*closed)(void *ud),
                        struct console_client **slot, vs_error *err) {
        struct console_client *cl = calloc(1, sizeof(*cl));
        if (!cl)
                return vs_err(err, ENOMEM, "attach console");
        *cl = (struct console_client){
                .con = c, .fd = -EBADF, .sink = sink, .sink_ud = ud, .closed = closed, .ud = ud, .slot = slot
        };
        cl->next = c->clients;
        c->clients = cl;
        if (slot)
                *slot = cl;
        return 0;
}

void console_input(struct console_client *cl, const char *buf, size_t len) {
        master_write(cl->con, buf, len);
}

int console_resize(struct console_client *cl, unsigned rows, unsigned cols) {
        if (rows < 1 || cols < 1 || rows > CONSOLE_SIZE_MAX || cols > CONSOLE_SIZE_MAX)
                return -EINVAL;
        /* the kernel tells the console's foreground process group (SIGWINCH) */
        struct winsize ws = { .ws_row = (unsigned short) rows, .ws_col = (unsigned short) cols };
        return ioctl(cl->con->master, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

int console_rebind(struct console *c, int init_pidfd, vs_error *err) {
        char pts[64];
        if (ptsname_r(c->master, pts, sizeof(pts)) != 0)
                return vs_err(err, errno, "find the console pty");
        /* A detached copy of the slave's mount, made here in the host's mount
         * namespace where /dev/pts/N exists, then attached inside the
         * instance by a short-lived child that joined its mount namespace. */
        _cleanup_close_ int tree = sys_open_tree(AT_FDCWD, pts, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (tree < 0)
                return vs_err(err, -tree, "clone the mount of %s", pts);
        pid_t pid = fork();
        if (pid < 0)
                return vs_err(err, errno, "fork");
        if (pid == 0) {
                if (sys_setns(init_pidfd, CLONE_NEWNS) < 0)
                        _exit(1);
                /* the old pty's mount must go (nothing mounts on a bind
                 * of a pty node that is gone), with whatever root inside
                 * stacked on it; a locked one (an instance started by an
                 * older vsd) stays, and the mount below then fails */
                for (int k = 0; k < 8 && umount2("/dev/console", MNT_DETACH | UMOUNT_NOFOLLOW) == 0; k++)
                        ;
                if (sys_move_mount(tree, "", AT_FDCWD, "/dev/console", MOVE_MOUNT_F_EMPTY_PATH) < 0)
                        _exit(2);
                _exit(0);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return vs_err_msg(err, EIO, "could not mount the new console in the instance (step %d)",
                                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
}

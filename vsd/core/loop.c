/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/core/loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "base/util.h"

struct loop_source {
        struct loop *loop;
        int fd;
        bool owns_fd; /* timers own their timerfd */
        bool dead;
        loop_fd_cb fd_cb;
        loop_timer_cb timer_cb;
        void *userdata;
        struct loop_source *next_dead;
};

struct loop {
        int epfd;
        bool quit;
        loop_prepare_cb prepare;
        void *prepare_ud;
        /* Sources removed during a dispatch batch are freed after it, since
         * later events of the same batch may still point at them. */
        struct loop_source *dead;
};

int loop_new(struct loop **ret) {
        struct loop *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (l->epfd < 0) {
                int r = -errno;
                free(l);
                return r;
        }
        *ret = l;
        return 0;
}

static void free_dead(struct loop *l) {
        while (l->dead) {
                struct loop_source *s = l->dead;
                l->dead = s->next_dead;
                free(s);
        }
}

void loop_free(struct loop *l) {
        if (!l)
                return;
        free_dead(l);
        close(l->epfd);
        free(l);
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *userdata, struct loop_source **ret) {
        struct loop_source *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (struct loop_source){ .loop = l, .fd = fd, .fd_cb = cb, .userdata = userdata };
        struct epoll_event ev = { .events = events, .data.ptr = s };
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                int r = -errno;
                free(s);
                return r;
        }
        if (ret)
                *ret = s;
        return 0;
}

int loop_modify_fd(struct loop_source *s, uint32_t events) {
        struct epoll_event ev = { .events = events, .data.ptr = s };
        return epoll_ctl(s->loop->epfd, EPOLL_CTL_MOD, s->fd, &ev) < 0 ? -errno : 0;
}

int loop_add_timer(struct loop *l, uint64_t ms, loop_timer_cb cb, void *userdata, struct loop_source **ret) {
        _cleanup_close_ int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (fd < 0)
                return -errno;
        struct itimerspec its = { .it_value = { .tv_sec = (time_t) (ms / 1000), .tv_nsec = (long) (ms % 1000) * 1000000L } };
        if (ms == 0)
                its.it_value.tv_nsec = 1;
        if (timerfd_settime(fd, 0, &its, NULL) < 0)
                return -errno;
        struct loop_source *s;
        int r = loop_add_fd(l, fd, EPOLLIN, NULL, userdata, &s);
        if (r < 0)
                return r;
        s->timer_cb = cb;
        s->owns_fd = true;
        s->fd = TAKE_FD(fd);
        if (ret)
                *ret = s;
        return 0;
}

void loop_remove(struct loop_source *s) {
        if (!s || s->dead)
                return;
        struct loop *l = s->loop;
        (void) epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
        if (s->owns_fd)
                close(s->fd);
        s->dead = true;
        s->next_dead = l->dead;
        l->dead = s;
}

void loop_set_prepare(struct loop *l, loop_prepare_cb cb, void *userdata) {
        l->prepare = cb;
        l->prepare_ud = userdata;
}

void loop_quit(struct loop *l) {
        l->quit = true;
}

int loop_run(struct loop *l) {
        struct epoll_event evs[64];

        while (!l->quit) {
                int timeout = l->prepare ? l->prepare(l->prepare_ud) : -1;
                int n = epoll_wait(l->epfd, evs, (int) ELEMENTSOF(evs), timeout);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (int i = 0; i < n; i++) {
                        struct loop_source *s = evs[i].data.ptr;
                        if (s->dead)
                                continue;
                        if (s->timer_cb) {
                                /* one-shot: remove first so the callback may re-arm */
                                loop_timer_cb cb = s->timer_cb;
                                void *ud = s->userdata;
                                loop_remove(s);
                                cb(s, ud);
                        } else if (s->fd_cb(s, s->fd, evs[i].events, s->userdata) < 0)
                                loop_remove(s);
                }
                free_dead(l);
        }
        return 0;
}

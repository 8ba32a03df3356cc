/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Cleanup attributes and ownership hand-off, after systemd's alloc-util.h. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
/* A variable that is there only for its cleanup (an fd closed on return,
 * used through another name): clang counts it unused otherwise. */
#define _unused_ __attribute__((unused))

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/* fds start at -EBADF so that an unset fd is never closed by accident */
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

#define TAKE_PTR(p)                          \
        ({                                   \
                __typeof__(p) _tmp_ = (p);   \
                (p) = NULL;                  \
                _tmp_;                       \
        })

#define TAKE_FD(fd)                          \
        ({                                   \
                int _tmp_ = (fd);            \
                (fd) = -EBADF;               \
                _tmp_;                       \
        })

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline int streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

/* Free a NULL-terminated array of malloc'd strings (NULL is fine). */
static inline void strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

/* Close an fd and reset it to -EBADF. */
static inline void safe_close(int *fd) {
        closep(fd);
        *fd = -EBADF;
}

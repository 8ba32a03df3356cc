/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "base/util.h"

void vs_proc_comm(pid_t pid, char *buf, size_t len) {
        char path[64];
        _cleanup_free_ char *text = NULL;
        snprintf(path, sizeof(path), "/proc/%d/comm", (int) pid);
        buf[0] = '\0';
        if (vs_read_file(path, 64, &text, NULL) >= 0)
                snprintf(buf, len, "%.*s", (int) strcspn(text, "\n"), text);
        for (char *c = buf; *c; c++)
                if (*c < ' ' || *c > '~')
                        *c = '?';
}

int vs_proc_starttime(pid_t pid, unsigned long long *ret) {
        char path[64];
        _cleanup_free_ char *buf = NULL;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        int r = vs_read_file(path, 4096, &buf, NULL);
        if (r < 0)
                return r;
        /* comm (field 2) may hold spaces and parentheses: count from the last ')' */
        char *p = strrchr(buf, ')');
        if (!p)
                return -EINVAL;
        p++;
        for (int field = 3; field < 22; field++) {
                p = strchr(p + 1, ' ');
                if (!p)
                        return -EINVAL;
        }
        *ret = strtoull(p + 1, NULL, 10);
        return 0;
}

int vs_signals_default(void) {
        sigset_t none;
        sigemptyset(&none);
        if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
                return -errno;
        for (int sig = 1; sig < NSIG; sig++) {
                struct sigaction sa;
                if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
                        signal(sig, SIG_DFL);
        }
        return 0;
}

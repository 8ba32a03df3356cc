/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/core/kmsg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static int parse_u64(const char **p, const char *end, uint64_t *ret) {
        uint64_t v = 0;
        const char *s = *p;
        if (s >= end || *s < '0' || *s > '9')
                return -EBADMSG;
        for (; s < end && *s >= '0' && *s <= '9'; s++) {
                if (v > (UINT64_MAX - 9) / 10)
                        return -EBADMSG;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        *p = s;
        *ret = v;
        return 0;
}

int kmsg_parse_record(const char *buf, size_t len, struct kmsg_record *ret) {
        const char *p = buf, *end = buf + len;
        const char *semi = memchr(buf, ';', len);
        uint64_t prio, seq, usec;
        if (!semi)
                return -EBADMSG;
        if (parse_u64(&p, semi, &prio) < 0 || p >= semi || *p++ != ',' || parse_u64(&p, semi, &seq) < 0 ||
            p >= semi || *p++ != ',' || parse_u64(&p, semi, &usec) < 0 || prio > 0xffffff)
                return -EBADMSG;
        char flags = '-';
        if (p < semi) {
                if (*p++ != ',')
                        return -EBADMSG;
                if (p < semi)
                        flags = *p;
        }
        /* further comma-separated fields may follow: ignored, as the kernel
         * documents (Documentation/ABI/testing/dev-kmsg) */
        const char *msg = semi + 1;
        const char *nl = memchr(msg, '\n', (size_t) (end - msg));
        *ret = (struct kmsg_record){
                .prio = (unsigned) prio,
                .seq = seq,
                .usec = usec,
                .flags = flags,
                .msg = msg,
                .msg_len = (size_t) ((nl ? nl : end) - msg),
        };
        return 0;
}

/* Find "key=" in [s, end) where it starts the text or follows a ','. */
static const char *find_key(const char *s, const char *end, const char *key) {
        size_t kl = strlen(key);
        for (const char *p = s; p + kl <= end; p++) {
                if ((p == s || p[-1] == ',') && memcmp(p, key, kl) == 0)
                        return p + kl;
        }
        return NULL;
}

static void copy_text(char *dst, size_t dst_len, const char *s, size_t n) {
        if (n >= dst_len)
                n = dst_len - 1;
        memcpy(dst, s, n);
        dst[n] = '\0';
}

/* The value after key up to the next ',' (or end). */
static const char *field(const char *s, const char *end, const char *key, size_t *ret_len) {
        const char *v = find_key(s, end, key);
        if (!v)
                return NULL;
        const char *comma = memchr(v, ',', (size_t) (end - v));
        *ret_len = (size_t) ((comma ? comma : end) - v);
        return v;
}

#define OOM_KILL_PREFIX "oom-kill:"

int kmsg_parse_oom_kill(const char *msg, size_t len, struct kmsg_oom_kill *ret) {
        size_t pl = strlen(OOM_KILL_PREFIX);
        if (len < pl || memcmp(msg, OOM_KILL_PREFIX, pl) != 0)
                return 0;
        const char *s = msg + pl, *end = msg + len;
        struct kmsg_oom_kill k = { 0 };
        size_t n;
        const char *v;

        if (!(v = field(s, end, "constraint=", &n)))
                return -EBADMSG;
        copy_text(k.constraint, sizeof(k.constraint), v, n);
        if ((v = field(s, end, "oom_memcg=", &n)))
                copy_text(k.oom_memcg, sizeof(k.oom_memcg), v, n);
        if (!(v = field(s, end, "task_memcg=", &n)))
                return -EBADMSG;
        copy_text(k.task_memcg, sizeof(k.task_memcg), v, n);

        /* The command name may hold commas: it runs from "task=" to the
         * last ",pid=", which the kernel prints right after it. */
        const char *task = find_key(s, end, "task=");
        const char *pid = NULL;
        for (const char *p = task; p && p + 5 <= end; p++)
                if (memcmp(p, ",pid=", 5) == 0)
                        pid = p;
        if (!task || !pid)
                return -EBADMSG;
        copy_text(k.task, sizeof(k.task), task, (size_t) (pid - task));
        const char *p = pid + 5;
        uint64_t num;
        if (parse_u64(&p, end, &num) < 0 || num == 0 || num > INT32_MAX)
                return -EBADMSG;
        k.pid = (pid_t) num;
        if (p + 5 <= end && memcmp(p, ",uid=", 5) == 0) {
                p += 5;
                if (parse_u64(&p, end, &num) == 0 && num <= UINT32_MAX)
                        k.uid = (uid_t) num;
        }
        *ret = k;
        return 1;
}

int kmsg_parse_killed(const char *msg, size_t len, pid_t *ret_pid, char *comm, size_t comm_len, bool *ret_memcg_oom) {
        static const char marker[] = ": Killed process ";
        const char *end = msg + len, *m = NULL;
        for (const char *p = msg; p + sizeof(marker) - 1 <= end; p++)
                if (memcmp(p, marker, sizeof(marker) - 1) == 0) {
                        m = p;
                        break;
                }
        if (!m)
                return 0;
        /* the killers we know; "Memory cgroup out of memory" and "Out of
         * memory" (the system-wide one), whatever comes before ": " */
        static const char memcg[] = "Memory cgroup out of memory";
        bool is_memcg = (size_t) (m - msg) >= sizeof(memcg) - 1 &&
                        memcmp(m - (sizeof(memcg) - 1), memcg, sizeof(memcg) - 1) == 0;
        const char *p = m + sizeof(marker) - 1;
        uint64_t pid;
        if (parse_u64(&p, end, &pid) < 0 || pid == 0 || pid > INT32_MAX || p + 2 > end || p[0] != ' ' || p[1] != '(')
                return -EBADMSG;
        p += 2;
        /* the name may hold ") ": take the last ") " before the counters */
        const char *close = NULL;
        for (const char *q = p; q + 1 < end; q++)
                if (q[0] == ')' && q[1] == ' ')
                        close = q;
        if (!close && end > p && end[-1] == ')')
                close = end - 1;
        if (!close)
                return -EBADMSG;
        /* counters follow the name: " total-vm:..." */
        const char *tv = NULL;
        for (const char *q = p; q + 10 <= end; q++)
                if (memcmp(q, ") total-vm", 10) == 0) {
                        tv = q;
                        break;
                }
        if (tv)
                close = tv;
        copy_text(comm, comm_len, p, (size_t) (close - p));
        *ret_pid = (pid_t) pid;
        if (ret_memcg_oom)
                *ret_memcg_oom = is_memcg;
        return 1;
}

int kmsg_parse_pids_rejected(const char *msg, size_t len, char *path, size_t path_len) {
        static const char prefix[] = "cgroup: fork rejected by pids controller in ";
        size_t pl = sizeof(prefix) - 1;
        if (len < pl || memcmp(msg, prefix, pl) != 0)
                return 0;
        if (len == pl || msg[pl] != '/')
                return -EBADMSG;
        copy_text(path, path_len, msg + pl, len - pl);
        return 1;
}

int kmsg_instance_of(const char *path, const char *parent, char *name, size_t name_len) {
        size_t pl = strlen(parent);
        if (path[0] != '/' || strncmp(path + 1, parent, pl) != 0 || path[1 + pl] != '/')
                return -ENOENT;
        const char *n = path + 2 + pl;
        size_t nl = strcspn(n, "/");
        if (nl == 0 || nl >= name_len)
                return -ENOENT;
        memcpy(name, n, nl);
        name[nl] = '\0';
        return 0;
}

/* The value of "Key:\t..." lines in /proc files. */
static const char *proc_field(const char *text, const char *key, size_t *ret_len) {
        size_t kl = strlen(key);
        for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
                if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
                        const char *v = line + kl + 1;
                        while (*v == ' ' || *v == '\t')
                                v++;
                        *ret_len = strcspn(v, "\n");
                        return v;
                }
        }
        return NULL;
}

int kmsg_parse_status(const char *text, char *name, size_t name_len, pid_t *ret_nspid) {
        size_t n;
        const char *v = proc_field(text, "Name", &n);
        if (!v)
                return -ENODATA;
        copy_text(name, name_len, v, n);
        v = proc_field(text, "NSpid", &n);
        if (!v || n == 0)
                return -ENODATA;
        /* the last of the tab-separated pids is the innermost namespace's */
        const char *last = v;
        for (size_t k = 0; k < n; k++)
                if (v[k] == '\t' || v[k] == ' ')
                        last = v + k + 1;
        char *e;
        long pid = strtol(last, &e, 10);
        if (e == last || pid <= 0)
                return -ENODATA;
        *ret_nspid = (pid_t) pid;
        return 0;
}

int kmsg_parse_proc_cgroup(const char *text, char *path, size_t path_len) {
        const char *unified = NULL;
        for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
                /* "ID:CONTROLLERS:PATH" */
                const char *c1 = strchr(line, ':');
                const char *eol = line + strcspn(line, "\n");
                if (!c1 || c1 > eol)
                        continue;
                const char *c2 = memchr(c1 + 1, ':', (size_t) (eol - c1 - 1));
                if (!c2)
                        continue;
                size_t cl = (size_t) (c2 - c1 - 1);
                bool memory = false;
                for (const char *t = c1 + 1; t < c2;) {
                        size_t tl = strcspn(t, ",:");
                        if (tl == 6 && memcmp(t, "memory", 6) == 0)
                                memory = true;
                        t += tl + 1;
                }
                if (memory) {
                        copy_text(path, path_len, c2 + 1, (size_t) (eol - c2 - 1));
                        return 0;
                }
                if (cl == 0 && strncmp(line, "0:", 2) == 0)
                        unified = c2 + 1;
        }
        if (!unified)
                return -ENODATA;
        copy_text(path, path_len, unified, strcspn(unified, "\n"));
        return 0;
}

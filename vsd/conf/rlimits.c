/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The rlimit table, its config.ini syntax, and applying it: setrlimit() in
 * the child before exec (start and exec alike), prlimit() on init for a live
 * change.
 */
#include "vsd/conf/rlimits.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/parse.h"
#include "base/util.h"

enum rl_unit {
        RL_BYTES, /* "64M", "0" */
        RL_COUNT, /* a plain number */
};

/* Every rlimit worth setting for an instance.  nofile is not here: it has
 * its own key and a default of its own (1024). */
static const struct {
        const char *name;
        int resource;
        enum rl_unit unit;
        uint64_t max; /* largest value besides "unlimited" */
} rlimit_table[RLIMITS_N] = {
        { "as", RLIMIT_AS, RL_BYTES, UINT64_MAX - 1 },             /* address space */
        { "core", RLIMIT_CORE, RL_BYTES, UINT64_MAX - 1 },         /* core dump size */
        { "cpu", RLIMIT_CPU, RL_COUNT, UINT64_MAX - 1 },           /* CPU seconds per process */
        { "data", RLIMIT_DATA, RL_BYTES, UINT64_MAX - 1 },         /* data segment */
        { "fsize", RLIMIT_FSIZE, RL_BYTES, UINT64_MAX - 1 },       /* largest file written */
        { "locks", RLIMIT_LOCKS, RL_COUNT, UINT64_MAX - 1 },       /* file locks */
        { "memlock", RLIMIT_MEMLOCK, RL_BYTES, UINT64_MAX - 1 },   /* locked memory */
        { "msgqueue", RLIMIT_MSGQUEUE, RL_BYTES, UINT64_MAX - 1 }, /* POSIX message queues */
        { "nice", RLIMIT_NICE, RL_COUNT, 40 },                     /* ceiling 20 - value */
        { "nproc", RLIMIT_NPROC, RL_COUNT, 4194304 },              /* processes of the user (PID_MAX_LIMIT) */
        { "rtprio", RLIMIT_RTPRIO, RL_COUNT, 99 },                 /* real-time priority */
        { "rttime", RLIMIT_RTTIME, RL_COUNT, UINT64_MAX - 1 },     /* real-time CPU µs */
        { "sigpending", RLIMIT_SIGPENDING, RL_COUNT, UINT64_MAX - 1 },
        { "stack", RLIMIT_STACK, RL_BYTES, UINT64_MAX - 1 },
};

const char *rlimits_name(unsigned i) {
        return i < RLIMITS_N ? rlimit_table[i].name : NULL;
}

static int find(const char *name, size_t len) {
        for (unsigned i = 0; i < RLIMITS_N; i++)
                if (strlen(rlimit_table[i].name) == len && strncmp(rlimit_table[i].name, name, len) == 0)
                        return (int) i;
        return -1;
}

static int parse_value(unsigned i, const char *v, uint64_t *ret, vs_error *err) {
        if (streq(v, "unlimited") || streq(v, "infinity")) {
                *ret = RLIMITS_UNLIMITED;
                return 0;
        }
        if (rlimit_table[i].unit == RL_BYTES && !streq(v, "0")) {
                if (vs_parse_size(v, ret, err) < 0)
                        return vs_err_prefix(err, "%s", rlimit_table[i].name);
                return 0;
        }
        if (vs_parse_count(v, 0, rlimit_table[i].max, ret, err) < 0)
                return vs_err_prefix(err, "%s", rlimit_table[i].name);
        return 0;
}

static void names(char *buf, size_t len) {
        size_t n = 0;
        buf[0] = '\0';
        for (unsigned i = 0; i < RLIMITS_N && n < len; i++)
                n += (size_t) snprintf(buf + n, len - n, "%s%s", i ? ", " : "", rlimit_table[i].name);
}

/* One "NAME=SOFT[:HARD]" item into rl. */
static int parse_item(struct inst_rlimits *rl, char *item, vs_error *err) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item)
                return vs_err_msg(err, EINVAL, "rlimit '%.40s': expected NAME=SOFT[:HARD]", item);
        int i = find(item, (size_t) (eq - item));
        if (i < 0) {
                char list[160];
                names(list, sizeof(list));
                if (eq - item == 6 && strncmp(item, "nofile", 6) == 0)
                        return vs_err_msg(err, EINVAL, "rlimit nofile has its own setting: use nofile (--nofile)");
                return vs_err_msg(err, EINVAL, "unknown rlimit '%.*s' (known: %s)", (int) (eq - item > 20 ? 20 : eq - item),
                                  item, list);
        }
        char *v = eq + 1, *colon = strchr(v, ':');
        /* memset, not an initializer: padding too, as config comparisons
         * compare whole structs */
        if (streq(v, "default")) {
                memset(&rl->r[i], 0, sizeof(rl->r[i]));
                return 0;
        }
        if (colon)
                *colon = '\0';
        struct inst_rlimit n;
        memset(&n, 0, sizeof(n));
        n.set = true;
        int r = parse_value((unsigned) i, v, &n.soft, err);
        if (r < 0)
                return r;
        n.hard = n.soft;
        if (colon) {
                r = parse_value((unsigned) i, colon + 1, &n.hard, err);
                if (r < 0)
                        return r;
        }
        if (n.soft > n.hard)
                return vs_err_msg(err, EINVAL, "%s: soft limit %s is above the hard limit %s",
                                  rlimit_table[i].name, v, colon + 1);
        rl->r[i] = n;
        return 0;
}

int rlimits_parse(struct inst_rlimits *rl, const char *s, vs_error *err) {
        struct inst_rlimits n = *rl;
        if (!*s || streq(s, "none")) {
                memset(rl, 0, sizeof(*rl));
                return 0;
        }
        _cleanup_free_ char *copy = strdup(s);
        if (!copy)
                return vs_err(err, ENOMEM, "rlimits");
        for (char *save = NULL, *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                int r = parse_item(&n, item, err);
                if (r < 0)
                        return r;
        }
        *rl = n;
        return 0;
}

static void format_value(unsigned i, uint64_t v, char *buf, size_t len) {
        if (v == RLIMITS_UNLIMITED)
                snprintf(buf, len, "unlimited");
        else if (rlimit_table[i].unit == RL_BYTES && v)
                vs_format_size(v, buf, len);
        else
                snprintf(buf, len, "%" PRIu64, v);
}

char *rlimits_format(const struct inst_rlimits *rl) {
        char *out = strdup("");
        for (unsigned i = 0; out && i < RLIMITS_N; i++) {
                if (!rl->r[i].set)
                        continue;
                char soft[32], hard[40] = "", *next = NULL;
                format_value(i, rl->r[i].soft, soft, sizeof(soft));
                if (rl->r[i].hard != rl->r[i].soft) {
                        hard[0] = ':';
                        format_value(i, rl->r[i].hard, hard + 1, sizeof(hard) - 1);
                }
                if (asprintf(&next, "%s%s%s=%s%s", out, *out ? "," : "", rlimit_table[i].name, soft, hard) < 0)
                        next = NULL;
                free(out);
                out = next;
        }
        return out;
}

static bool can_raise(void) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = { 0 };
        if (syscall(SYS_capget, &h, d) < 0)
                return false;
        return d[CAP_SYS_RESOURCE / 32].effective & (1u << (CAP_SYS_RESOURCE % 32));
}

static int check_one(const char *name, int resource, uint64_t hard, bool bytes, bool *raise, vs_error *err) {
        struct rlimit own;
        if (getrlimit(resource, &own) < 0)
                return vs_err(err, errno, "getrlimit %s", name);
        if (own.rlim_max == RLIM_INFINITY || (hard != RLIMITS_UNLIMITED && hard <= own.rlim_max))
                return 0;
        if (*raise)
                return 0;
        char want[32] = "unlimited", have[32];
        if (hard != RLIMITS_UNLIMITED) {
                if (bytes && hard)
                        vs_format_size(hard, want, sizeof(want));
                else
                        snprintf(want, sizeof(want), "%" PRIu64, hard);
        }
        if (bytes && own.rlim_max)
                vs_format_size(own.rlim_max, have, sizeof(have));
        else
                snprintf(have, sizeof(have), "%" PRIu64, (uint64_t) own.rlim_max);
        return vs_err_msg(err, EPERM, "%s %s is above vsd's own hard limit (%s), which it cannot raise without CAP_SYS_RESOURCE",
                          name, want, have);
}

int rlimits_check(const struct inst_rlimits *rl, uint64_t nofile, vs_error *err) {
        bool raise = can_raise();
        if (nofile) {
                int r = check_one("nofile", RLIMIT_NOFILE, nofile, false, &raise, err);
                if (r < 0)
                        return r;
        }
        for (unsigned i = 0; i < RLIMITS_N; i++) {
                if (!rl->r[i].set)
                        continue;
                char name[32];
                snprintf(name, sizeof(name), "rlimit %s", rlimit_table[i].name);
                int r = check_one(name, rlimit_table[i].resource, rl->r[i].hard, rlimit_table[i].unit == RL_BYTES,
                                  &raise, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static rlim_t to_rlim(uint64_t v) {
        return v == RLIMITS_UNLIMITED ? RLIM_INFINITY : (rlim_t) v;
}

int rlimits_apply(const struct inst_rlimits *rl, vs_error *err) {
        for (unsigned i = 0; i < RLIMITS_N; i++) {
                if (!rl->r[i].set)
                        continue;
                struct rlimit l = { .rlim_cur = to_rlim(rl->r[i].soft), .rlim_max = to_rlim(rl->r[i].hard) };
                if (setrlimit(rlimit_table[i].resource, &l) < 0)
                        return vs_err_msg(err, errno, "set rlimit %s", rlimit_table[i].name);
        }
        return 0;
}

/* What init gets for limit i under rl: its own, or vsd's (inherited). */
static int wanted(const struct inst_rlimits *rl, unsigned i, struct rlimit *ret) {
        if (!rl->r[i].set)
                return getrlimit(rlimit_table[i].resource, ret) < 0 ? -errno : 0;
        *ret = (struct rlimit){ .rlim_cur = to_rlim(rl->r[i].soft), .rlim_max = to_rlim(rl->r[i].hard) };
        return 0;
}

static bool same(const struct inst_rlimit *a, const struct inst_rlimit *b) {
        return a->set == b->set && (!a->set || (a->soft == b->soft && a->hard == b->hard));
}

int rlimits_apply_live(pid_t pid, const struct inst_rlimits *from, const struct inst_rlimits *to, unsigned *ret_kept,
                       vs_error *err) {
        bool raise = can_raise();
        unsigned kept = 0;
        for (unsigned i = 0; i < RLIMITS_N; i++) {
                if (same(&from->r[i], &to->r[i]))
                        continue;
                struct rlimit l, cur;
                int r = wanted(to, i, &l);
                if (r == 0 && prlimit(pid, rlimit_table[i].resource, NULL, &cur) < 0)
                        r = -errno;
                if (r == 0 && !raise && cur.rlim_max != RLIM_INFINITY &&
                    (l.rlim_max == RLIM_INFINITY || l.rlim_max > cur.rlim_max)) {
                        kept |= 1u << i;
                        continue;
                }
                if (r == 0 && prlimit(pid, rlimit_table[i].resource, &l, NULL) < 0)
                        r = -errno;
                if (r < 0) {
                        /* undo the ones already changed, best effort */
                        for (unsigned k = 0; k < i; k++) {
                                if (same(&from->r[k], &to->r[k]) || (kept & (1u << k)) || wanted(from, k, &l) < 0)
                                        continue;
                                (void) prlimit(pid, rlimit_table[k].resource, &l, NULL);
                        }
                        return vs_err(err, -r, "set rlimit %s of the running init (pid %d)", rlimit_table[i].name,
                                      (int) pid);
                }
        }
        if (ret_kept)
                *ret_kept = kept;
        return 0;
}

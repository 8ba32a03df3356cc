/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/conf/settings.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <iniparser.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/proto.h"
#include "base/util.h"
#include "net/tc.h"

/* Where `make install` puts the template builders (Makefile DATADIR). */
#ifndef VS_DATADIR
#define VS_DATADIR "/usr/local/share/vsd"
#endif

static inline void dictionary_freep(dictionary **d) {
        if (*d)
                iniparser_freedict(*d);
}
#define _cleanup_dict_ _cleanup_(dictionary_freep)

/* A row of vsd.conf's and template.ini's tables (config.ini's is struct
 * inst_setting, settings.h). */
struct setting {
        const char *section;
        const char *key;
        setting_parser parse;
        size_t offset;
        size_t size;
};

#define ROW(sec, key, parser, type, member) \
        { sec, key, parser, offsetof(type, member), sizeof(((type *) 0)->member) }

static int parse_string(const char *v, void *field, size_t size, vs_error *err) {
        if (strlen(v) >= size)
                return vs_err_msg(err, ENAMETOOLONG, "value '%.60s' is too long (at most %zu characters)", v, size - 1);
        memcpy(field, v, strlen(v) + 1);
        return 0;
}

static int parse_path(const char *v, void *field, size_t size, vs_error *err) {
        if (v[0] != '/')
                return vs_err_msg(err, EINVAL, "'%.60s' is not an absolute path", v);
        return parse_string(v, field, size, err);
}

/* A command and its options, split on spaces when run: an absolute path
 * or a name found on PATH, no quotes or shell syntax. */
static int parse_command(const char *v, void *field, size_t size, vs_error *err) {
        if (!*v || *v == ' ' || strpbrk(v, "'\"\\$`;&|<>(){}\n\t"))
                return vs_err_msg(err, EINVAL, "'%.60s' is not a plain command with options (words, no quotes)", v);
        return parse_string(v, field, size, err);
}

static int parse_name(const char *v, void *field, size_t size, vs_error *err) {
        if (!vs_name_valid(v))
                return vs_name_check("instance or template", v, err);
        return parse_string(v, field, size, err);
}

static int parse_cgroup_name(const char *v, void *field, size_t size, vs_error *err) {
        if (!*v || strchr(v, '/') || streq(v, ".") || streq(v, ".."))
                return vs_err_msg(err, EINVAL, "invalid cgroup parent '%.60s': a single directory name", v);
        return parse_string(v, field, size, err);
}

/* Limits: "0", "none", "unlimited" or "" mean no limit. */
static bool is_unlimited(const char *v) {
        return !*v || streq(v, "0") || streq(v, "none") || streq(v, "unlimited") || streq(v, "max");
}

static int parse_size_or_none(const char *v, void *field, size_t size, vs_error *err) {
        uint64_t *out = field;
        if (is_unlimited(v)) {
                *out = 0;
                return 0;
        }
        return vs_parse_size(v, out, err);
}

/* Swap is granted on top of a memory limit, and 0 is none: "unlimited"
 * would read as its opposite.  Without a memory limit swap is not limited
 * anyway (cgroups/limits.c). */
static int parse_swap(const char *v, void *field, size_t size, vs_error *err) {
        if (streq(v, "unlimited") || streq(v, "max"))
                return vs_err_msg(err, EINVAL,
                                  "swap is granted on top of the memory limit: give a size, or 0 for none "
                                  "(without a memory limit swap is not limited)");
        return parse_size_or_none(v, field, size, err);
}

static int parse_size_nonzero(const char *v, void *field, size_t size, vs_error *err) {
        return vs_parse_size(v, field, err);
}

static int parse_cpus_or_none(const char *v, void *field, size_t size, vs_error *err) {
        uint32_t *out = field;
        if (is_unlimited(v)) {
                *out = 0;
                return 0;
        }
        return vs_parse_cpus(v, out, err);
}

static int parse_pids_or_none(const char *v, void *field, size_t size, vs_error *err) {
        uint64_t *out = field;
        if (is_unlimited(v)) {
                *out = 0;
                return 0;
        }
        return vs_parse_count(v, 1, 4194304, out, err);
}

static int parse_weight_or_default(const char *v, void *field, size_t size, vs_error *err) {
        uint32_t *out = field;
        uint64_t n;
        if (!*v || streq(v, "0") || streq(v, "default")) {
                *out = 0;
                return 0;
        }
        if (vs_parse_count(v, 1, 10000, &n, err) < 0)
                return -EINVAL;
        *out = (uint32_t) n;
        return 0;
}

/* A CPU list as the kernel writes it: "0", "0-3", "0,2-3". */
static int parse_cpuset(const char *v, void *field, size_t size, vs_error *err) {
        if (streq(v, "all"))
                v = "";
        for (const char *p = v; *p; p++)
                if (!((*p >= '0' && *p <= '9') || *p == ',' || *p == '-'))
                        return vs_err_msg(err, EINVAL, "invalid cpuset '%.40s': expected CPU numbers and ranges such as 0-1,3", v);
        return parse_string(v, field, size, err);
}

static uint64_t *io_field(struct cg_io_throttle *t, enum inst_io_kind kind) {
        switch (kind) {
        case IO_READ_BPS:
                return &t->rbps;
        case IO_WRITE_BPS:
                return &t->wbps;
        case IO_READ_IOPS:
                return &t->riops;
        default:
                return &t->wiops;
        }
}

static const char *const io_kind_names[] = { "io_read_bps", "io_write_bps", "io_read_iops", "io_write_iops" };

/* "MAJ:MIN" or a block device path -> numbers.  Whatever is wrong with
 * the path (absent, not a block device) is the caller's bad input: EINVAL,
 * so that the API answers 400, with the reason kept in the message. */
static int io_device(const char *dev, unsigned *maj, unsigned *min, vs_error *err) {
        if (dev[0] == '/') {
                int r = cg_io_device(dev, maj, min, err);
                if (r < 0 && err)
                        err->code = EINVAL;
                return r < 0 ? -EINVAL : 0;
        }
        char tail;
        if (sscanf(dev, "%u:%u%c", maj, min, &tail) != 2)
                return vs_err_msg(err, EINVAL, "invalid device '%.40s': a block device path or MAJOR:MINOR", dev);
        return 0;
}

int inst_io_parse(struct inst_io_limits *io, enum inst_io_kind kind, const char *s, vs_error *err) {
        struct inst_io_limits n = *io;
        _cleanup_free_ char *copy = strdup(s);
        if (!copy)
                return vs_err(err, ENOMEM, "%s", io_kind_names[kind]);
        for (unsigned k = 0; k < n.n; k++)
                *io_field(&n.dev[k], kind) = 0;
        if (*copy && !streq(copy, "none"))
                for (char *save = NULL, *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                        char *eq = strrchr(item, '=');
                        unsigned maj, min;
                        uint64_t v;
                        /* no prefix of our own: every caller names the
                         * setting (the API its field, config.ini its key) */
                        if (!eq)
                                return vs_err_msg(err, EINVAL, "expected DEVICE=RATE, got '%.40s'", item);
                        *eq = '\0';
                        if (io_device(item, &maj, &min, err) < 0)
                                return -EINVAL;
                        int r = kind == IO_READ_BPS || kind == IO_WRITE_BPS ? vs_parse_size(eq + 1, &v, err)
                                                                            : vs_parse_count(eq + 1, 1, UINT32_MAX, &v, err);
                        if (r < 0)
                                return -EINVAL;
                        unsigned k = 0;
                        while (k < n.n && !(n.dev[k].major == maj && n.dev[k].minor == min))
                                k++;
                        if (k == n.n) {
                                if (n.n == CG_IO_DEV_MAX)
                                        return vs_err_msg(err, E2BIG, "I/O limits on more than %d devices", CG_IO_DEV_MAX);
                                n.dev[n.n++] = (struct cg_io_throttle){ .major = maj, .minor = min };
                        }
                        *io_field(&n.dev[k], kind) = v;
                }
        /* a device with no limit left is dropped, which removes its throttle */
        unsigned w = 0;
        for (unsigned k = 0; k < n.n; k++)
                if (n.dev[k].rbps || n.dev[k].wbps || n.dev[k].riops || n.dev[k].wiops)
                        n.dev[w++] = n.dev[k];
        n.n = w;
        *io = n;
        return 0;
}

char *inst_io_format(const struct inst_io_limits *io, enum inst_io_kind kind) {
        char *out = strdup("");
        for (unsigned k = 0; out && k < io->n; k++) {
                uint64_t v = *io_field((struct cg_io_throttle *) &io->dev[k], kind);
                if (!v)
                        continue;
                char *next = NULL;
                if (asprintf(&next, "%s%s%u:%u=%" PRIu64, out, *out ? "," : "", io->dev[k].major, io->dev[k].minor, v) < 0)
                        next = NULL;
                free(out);
                out = next;
        }
        return out;
}

static int parse_io_kind(enum inst_io_kind kind, const char *v, void *field, vs_error *err) {
        return inst_io_parse(field, kind, v, err);
}
static int parse_io_rbps(const char *v, void *field, size_t size, vs_error *err) {
        return parse_io_kind(IO_READ_BPS, v, field, err);
}
static int parse_io_wbps(const char *v, void *field, size_t size, vs_error *err) {
        return parse_io_kind(IO_WRITE_BPS, v, field, err);
}
static int parse_io_riops(const char *v, void *field, size_t size, vs_error *err) {
        return parse_io_kind(IO_READ_IOPS, v, field, err);
}
static int parse_io_wiops(const char *v, void *field, size_t size, vs_error *err) {
        return parse_io_kind(IO_WRITE_IOPS, v, field, err);
}

static int parse_nofile(const char *v, void *field, size_t size, vs_error *err) {
        uint64_t *out = field;
        if (!*v || streq(v, "0") || streq(v, "default")) {
                *out = 0;
                return 0;
        }
        /* 64 keeps a shell usable; 1048576 is the kernel's default nr_open */
        return vs_parse_count(v, 64, 1048576, out, err);
}

static int parse_rlimits(const char *v, void *field, size_t size, vs_error *err) {
        return rlimits_parse(field, v, err);
}

static int parse_duration(const char *v, void *field, size_t size, vs_error *err) {
        uint64_t *out = field;
        if (vs_parse_duration_ms(v, out, err) < 0)
                return -EINVAL;
        if (*out == 0)
                return vs_err_msg(err, EINVAL, "duration '%.40s' must be greater than zero", v);
        return 0;
}

/* a pause, which may be none */
static int parse_delay(const char *v, void *field, size_t size, vs_error *err) {
        uint64_t *out = field;
        if (streq(v, "0")) {
                *out = 0;
                return 0;
        }
        if (vs_parse_duration_ms(v, out, err) < 0)
                return -EINVAL;
        if (*out > 3600 * 1000)
                return vs_err_msg(err, ERANGE, "delay '%.40s' is longer than an hour", v);
        return 0;
}

static int parse_priority(const char *v, void *field, size_t size, vs_error *err) {
        uint64_t n;
        if (vs_parse_count(v, 0, 1000000, &n, err) < 0)
                return -EINVAL;
        *(uint32_t *) field = (uint32_t) n;
        return 0;
}

static const char *const onboot_names[_ONBOOT_MAX] = {
        [ONBOOT_AUTO] = "auto",
        [ONBOOT_YES] = "yes",
        [ONBOOT_NO] = "no",
};

const char *inst_onboot_name(int onboot) {
        return onboot >= 0 && onboot < _ONBOOT_MAX ? onboot_names[onboot] : "auto";
}

static int parse_onboot(const char *v, void *field, size_t size, vs_error *err) {
        for (int k = 0; k < _ONBOOT_MAX; k++)
                if (streq(v, onboot_names[k])) {
                        *(int *) field = k;
                        return 0;
                }
        return vs_err_msg(err, EINVAL, "invalid onboot '%.20s' (yes, no or auto)", v);
}

/* the starts of a boot done back to back: 1 to 64 */
static int parse_parallel(const char *v, void *field, size_t size, vs_error *err) {
        return vs_parse_count(v, 1, 64, field, err);
}

/* HOST:PORT with a numeric IPv4 or [IPv6] address: checked when the
 * listener is made (vsd/api/metrics.c), here only for its shape */
static int parse_listen(const char *v, void *field, size_t size, vs_error *err) {
        if (!*v || streq(v, "none")) {
                *(char *) field = '\0';
                return 0;
        }
        const char *colon = strrchr(v, ':');
        if (!colon || colon == v || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
                return vs_err_msg(err, EINVAL, "invalid listen address '%.60s' (e.g. 127.0.0.1:9177, [::1]:9177)", v);
        return parse_string(v, field, size, err);
}

static int parse_connections(const char *v, void *field, size_t size, vs_error *err) {
        /* each is an fd of the daemon's; 65536 is far above any real need */
        return vs_parse_count(v, 1, 65536, field, err);
}

static int parse_klimit(const char *v, void *field, size_t size, vs_error *err) {
        return vs_parse_count(v, 0, 1U << 30, field, err);
}

static int parse_klimit_ns(const char *v, void *field, size_t size, vs_error *err) {
        uint64_t *out = field;
        int r = vs_parse_count(v, 0, 1U << 30, out, err);
        if (r >= 0 && *out && *out < KLIMITS_NAMESPACES_MIN)
                return vs_err_msg(err, EINVAL, "invalid namespaces %llu: 0 or at least %d (a start makes some)",
                                  (unsigned long long) *out, KLIMITS_NAMESPACES_MIN);
        return r;
}

static int parse_keep_mounted(const char *v, void *field, size_t size, vs_error *err) {
        /* each is a loop device and a mounted filesystem the daemon holds */
        return vs_parse_count(v, 0, 4096, field, err);
}

static int parse_reserve(const char *v, void *field, size_t size, vs_error *err) {
        return vs_parse_count(v, 0, 65536, field, err);
}

static int parse_bool(const char *v, void *field, size_t size, vs_error *err) {
        static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };
        bool *out = field;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (streq(v, yes[i]) || streq(v, no[i])) {
                        *out = streq(v, yes[i]);
                        return 0;
                }
        return vs_err_msg(err, EINVAL, "invalid boolean '%.20s' (yes or no)", v);
}

static int parse_level(const char *v, void *field, size_t size, vs_error *err) {
        if (!streq(v, "error") && !streq(v, "warning") && !streq(v, "info") && !streq(v, "debug"))
                return vs_err_msg(err, EINVAL, "invalid log level '%.20s' (error, warning, info or debug)", v);
        return parse_string(v, field, size, err);
}

/* ---- [network] ---- */

static const char *const net_mode_names[_NET_MODE_MAX] = {
        [NET_MODE_NONE] = "none",
        [NET_MODE_BRIDGE] = "bridge",
        [NET_MODE_ROUTED] = "routed",
};

const char *inst_net_mode_name(enum inst_net_mode m) {
        return m >= 0 && m < _NET_MODE_MAX ? net_mode_names[m] : "default";
}

static int parse_net_mode(const char *v, void *field, size_t size, vs_error *err) {
        int *out = field;
        /* an instance that never chose: none, as before instances had a
         * network (inst_net_mode_of() in settings.h) */
        if (streq(v, "default")) {
                *out = NET_MODE_UNSET;
                return 0;
        }
        for (int m = 0; m < _NET_MODE_MAX; m++)
                if (streq(v, net_mode_names[m])) {
                        *out = m;
                        return 0;
                }
        return vs_err_msg(err, EINVAL, "unknown network mode '%.20s' (bridge, routed or none)", v);
}

static int parse_ifname(const char *v, void *field, size_t size, vs_error *err) {
        if (!net_ifname_valid(v))
                return vs_err_msg(err, EINVAL, "invalid interface name '%.40s' (1-15 characters, no '/', ':' or spaces)", v);
        return parse_string(v, field, size, err);
}

static int parse_ifname_list(const char *v, void *field, size_t size, vs_error *err) {
        _cleanup_free_ char *copy = strdup(v);
        if (!copy)
                return -ENOMEM;
        for (char *save = NULL, *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
                if (!net_ifname_valid(t))
                        return vs_err_msg(err, EINVAL, "invalid interface name '%.40s'", t);
        return parse_string(v, field, size, err);
}

/* An address on a link, "10.77.0.1/24"; "" or "none": none. */
static int parse_host_cidr(const char *v, void *field, size_t size, vs_error *err) {
        struct net_cidr *out = field;
        if (!*v || streq(v, "none")) {
                *out = (struct net_cidr){ 0 };
                return 0;
        }
        if (!strchr(v, '/'))
                return vs_err_msg(err, EINVAL, "'%.60s' needs a prefix length, e.g. 10.77.0.1/24", v);
        return net_cidr_parse(v, -1, true, out, err);
}

/* A pool, "10.78.0.0/24"; "" or "none": none. */
static int parse_pool(const char *v, void *field, size_t size, vs_error *err) {
        struct net_cidr *out = field;
        if (!*v || streq(v, "none")) {
                *out = (struct net_cidr){ 0 };
                return 0;
        }
        if (!strchr(v, '/'))
                return vs_err_msg(err, EINVAL, "pool '%.60s' needs a prefix length, e.g. 10.78.0.0/24", v);
        struct net_cidr c;
        int r = net_cidr_parse(v, -1, false, &c, err);
        if (r < 0)
                return r;
        net_cidr_network(&c, out);
        return 0;
}

static int parse_link_prefix(const char *v, void *field, size_t size, vs_error *err) {
        size_t n = strlen(v);
        if (n < 1 || n > 6 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789") != n)
                return vs_err_msg(err, EINVAL, "invalid link prefix '%.20s' (1-6 lowercase letters or digits)", v);
        return parse_string(v, field, size, err);
}

static int parse_table_name(const char *v, void *field, size_t size, vs_error *err) {
        size_t n = strlen(v);
        if (n < 1 || n >= size || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != n)
                return vs_err_msg(err, EINVAL, "invalid nftables table name '%.40s' (letters, digits and _)", v);
        return parse_string(v, field, size, err);
}

static int parse_mtu(const char *v, void *field, size_t size, vs_error *err) {
        uint64_t *out = field;
        if (!*v || streq(v, "0") || streq(v, "default")) {
                *out = 0;
                return 0;
        }
        return vs_parse_count(v, 576, 65535, out, err);
}

/* Nameserver addresses, separated by spaces or commas. */
static int parse_nameservers(const char *v, void *field, size_t size, vs_error *err) {
        if (streq(v, "none"))
                v = "";
        _cleanup_free_ char *copy = strdup(v);
        if (!copy)
                return -ENOMEM;
        for (char *save = NULL, *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
                struct net_cidr c;
                if (strchr(t, '/') || net_cidr_parse(t, -1, true, &c, err) < 0)
                        return vs_err_msg(err, EINVAL, "invalid nameserver '%.60s': an IPv4 or IPv6 address", t);
        }
        return parse_string(v, field, size, err);
}

static int parse_rate(const char *v, void *field, size_t size, vs_error *err) {
        return tc_rate_parse(v, field, err);
}

int inst_net_addrs_parse(struct inst_net *n, const char *s, vs_error *err) {
        struct inst_net t = *n;
        t.n_addr = 0;
        t.auto_addr = streq(s, "auto");
        if (t.auto_addr || !*s || streq(s, "none")) {
                *n = t;
                return 0;
        }
        _cleanup_free_ char *copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        for (char *save = NULL, *a = strtok_r(copy, ", ", &save); a; a = strtok_r(NULL, ", ", &save)) {
                if (t.n_addr == INST_ADDR_MAX)
                        return vs_err_msg(err, E2BIG, "more than %d addresses", INST_ADDR_MAX);
                struct net_cidr c;
                if (net_cidr_parse(a, 0, true, &c, err) < 0)
                        return -EINVAL;
                for (unsigned k = 0; k < t.n_addr; k++)
                        if (net_addr_equal(&t.addr[k], &c))
                                return vs_err_msg(err, EINVAL, "address '%.60s' given twice", a);
                t.addr[t.n_addr++] = c;
        }
        *n = t;
        return 0;
}

/* Join formatted items with ','; malloc'd. */
static char *join_items(unsigned n, void (*fmt)(const void *items, unsigned k, char *buf, size_t len),
                        const void *items) {
        size_t cap = (size_t) n * 72 + 1;
        char *out = calloc(1, cap);
        for (unsigned k = 0; out && k < n; k++) {
                char one[72];
                fmt(items, k, one, sizeof(one));
                if (k)
                        strcat(out, ",");
                strcat(out, one);
        }
        return out;
}

static void fmt_addr(const void *items, unsigned k, char *buf, size_t len) {
        const struct net_cidr *a = items;
        /* a prefix of 0 means "the network's own": written without one */
        net_cidr_format(&a[k], a[k].prefix != 0, buf, len);
}

char *inst_net_addrs_format(const struct inst_net *n) {
        if (n->auto_addr && n->n_addr == 0)
                return strdup("auto");
        return join_items(n->n_addr, fmt_addr, n->addr);
}

int inst_net_forwards_parse(struct inst_net *n, const char *s, vs_error *err) {
        struct inst_net t = *n;
        t.n_fwd = 0;
        _cleanup_free_ char *copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        if (!streq(s, "none"))
                for (char *save = NULL, *f = strtok_r(copy, ", ", &save); f; f = strtok_r(NULL, ", ", &save)) {
                        if (t.n_fwd == INST_FORWARD_MAX)
                                return vs_err_msg(err, E2BIG, "more than %d port forwards", INST_FORWARD_MAX);
                        struct fw_forward fw;
                        if (fw_forward_parse(f, &fw, err) < 0)
                                return -EINVAL;
                        for (unsigned k = 0; k < t.n_fwd; k++)
                                if (t.fwd[k].proto == fw.proto && t.fwd[k].host_port == fw.host_port)
                                        return vs_err_msg(err, EINVAL, "host port %s:%u forwarded twice",
                                                          fw.proto == IPPROTO_UDP ? "udp" : "tcp", fw.host_port);
                        t.fwd[t.n_fwd++] = fw;
                }
        *n = t;
        return 0;
}

static void fmt_fwd(const void *items, unsigned k, char *buf, size_t len) {
        fw_forward_format(&((const struct fw_forward *) items)[k], buf, len);
}

char *inst_net_forwards_format(const struct inst_net *n) {
        return join_items(n->n_fwd, fmt_fwd, n->fwd);
}

static int parse_addrs(const char *v, void *field, size_t size, vs_error *err) {
        return inst_net_addrs_parse(field, v, err);
}

static int parse_forwards(const char *v, void *field, size_t size, vs_error *err) {
        return inst_net_forwards_parse(field, v, err);
}

static const char *const stor_backend_names[] = { [STOR_DIR] = "dir", [STOR_IMAGE] = "image" };

const char *stor_backend_name(enum stor_backend b) {
        return b >= 0 && b < _STOR_MAX ? stor_backend_names[b] : "default";
}

static int parse_backend(const char *v, void *field, size_t size, vs_error *err) {
        int *out = field;
        for (int b = 0; b < _STOR_MAX; b++)
                if (streq(v, stor_backend_names[b])) {
                        *out = b;
                        return 0;
                }
        return vs_err_msg(err, EINVAL, "unknown storage backend '%.40s': image or dir", v);
}

static int parse_inodes(const char *v, void *field, size_t size, vs_error *err) {
        uint64_t *out = field;
        if (!*v || streq(v, "0") || streq(v, "default")) {
                *out = 0;
                return 0;
        }
        return vs_parse_count(v, 1024, UINT32_MAX, out, err);
}

/* "FIRST-LAST": host ids, inclusive, room for at least one instance's
 * block; what it holds is rounded down to whole blocks. */
static int parse_id_range(const char *v, void *field, size_t size, vs_error *err) {
        struct security_settings *out = field;
        unsigned long long a, b;
        int n = 0;
        if (sscanf(v, "%llu-%llu%n", &a, &b, &n) != 2 || v[n] != '\0' || !isdigit((unsigned char) v[0]))
                return vs_err_msg(err, EINVAL, "id range '%.40s' is not FIRST-LAST (e.g. 1000000-1999999999)", v);
        if (a == 0 || b > UINT32_MAX - 1 || b < a || b - a + 1 < INST_ID_COUNT)
                return vs_err_msg(err, EINVAL,
                                  "id range '%.40s' must lie within 1-4294967294 and hold at least %u ids", v,
                                  INST_ID_COUNT);
        out->id_first = a;
        out->id_last = b;
        return 0;
}

static const struct setting daemon_table[] = {
        ROW("vsd", "root", parse_path, struct vsd_settings, root),
        ROW("vsd", "run_dir", parse_path, struct vsd_settings, run_dir),
        ROW("vsd", "socket", parse_path, struct vsd_settings, socket),
        ROW("vsd", "socket_group", parse_string, struct vsd_settings, socket_group),
        ROW("vsd", "log_level", parse_level, struct vsd_settings, log_level),
        ROW("vsd", "console_log_size", parse_size_nonzero, struct vsd_settings, console_log_size),
        ROW("cgroup", "parent", parse_cgroup_name, struct vsd_settings, cgroup_parent),
        ROW("cgroup", "root", parse_path, struct vsd_settings, cgroup_root),
        ROW("view", "lxcfs", parse_bool, struct vsd_settings, view),
        ROW("view", "lxcfs_binary", parse_path, struct vsd_settings, lxcfs_binary),
        ROW("view", "lxcfs_dir", parse_path, struct vsd_settings, lxcfs_dir),
        ROW("templates", "builders", parse_path, struct vsd_settings, builders),
        ROW("checkpoint", "criu", parse_path, struct vsd_settings, criu),
        ROW("migrate", "ssh", parse_command, struct vsd_settings, migrate_ssh),
        ROW("migrate", "send_templates", parse_bool, struct vsd_settings, migrate_send_templates),
        ROW("migrate", "postcopy", parse_bool, struct vsd_settings, migrate_postcopy),
        ROW("migrate", "raise_pipe_max_size", parse_bool, struct vsd_settings, migrate_raise_pipe_max),
        ROW("templates", "cache", parse_path, struct vsd_settings, tmpl_cache),
        ROW("network", "default_mode", parse_net_mode, struct vsd_settings, net.default_mode),
        ROW("network", "bridge", parse_ifname, struct vsd_settings, net.bridge),
        ROW("network", "bridge_ipv4", parse_host_cidr, struct vsd_settings, net.bridge_ipv4),
        ROW("network", "bridge_ipv6", parse_host_cidr, struct vsd_settings, net.bridge_ipv6),
        ROW("network", "routed_ipv4", parse_pool, struct vsd_settings, net.routed_ipv4),
        ROW("network", "routed_ipv6", parse_pool, struct vsd_settings, net.routed_ipv6),
        ROW("network", "nat", parse_bool, struct vsd_settings, net.nat),
        ROW("network", "nameservers", parse_nameservers, struct vsd_settings, net.nameservers),
        ROW("network", "link_prefix", parse_link_prefix, struct vsd_settings, net.link_prefix),
        ROW("network", "nft_table", parse_table_name, struct vsd_settings, net.nft_table),
        ROW("network", "mtu", parse_mtu, struct vsd_settings, net.mtu),
        ROW("network", "proxy_devs", parse_ifname_list, struct vsd_settings, net.proxy_devs),
        ROW("storage", "default_backend", parse_backend, struct vsd_settings, stor.default_backend),
        ROW("storage", "default_disk", parse_size_nonzero, struct vsd_settings, stor.default_disk),
        ROW("storage", "default_inodes", parse_inodes, struct vsd_settings, stor.default_inodes),
        ROW("storage", "direct_io", parse_bool, struct vsd_settings, stor.direct_io),
        ROW("storage", "keep_mounted", parse_keep_mounted, struct vsd_settings, stor.keep_mounted),
        ROW("security", "id_range", parse_id_range, struct vsd_settings, sec),
        ROW("limits", "ptys", parse_klimit, struct vsd_settings, klimits.ptys),
        ROW("limits", "inotify_instances", parse_klimit, struct vsd_settings, klimits.inotify_instances),
        ROW("limits", "inotify_watches", parse_klimit, struct vsd_settings, klimits.inotify_watches),
        ROW("limits", "namespaces", parse_klimit_ns, struct vsd_settings, klimits.namespaces),
        ROW("api", "idle_timeout", parse_duration, struct vsd_settings, api.idle_timeout_ms),
        ROW("api", "max_connections", parse_connections, struct vsd_settings, api.max_connections),
        ROW("api", "max_connections_per_user", parse_connections, struct vsd_settings, api.max_per_user),
        ROW("api", "root_reserve", parse_reserve, struct vsd_settings, api.root_reserve),
        ROW("boot", "parallel", parse_parallel, struct vsd_settings, boot.parallel),
        ROW("metrics", "listen", parse_listen, struct vsd_settings, metrics.listen),
        ROW("dashboard", "listen", parse_listen, struct vsd_settings, dashboard.listen),
        ROW("dashboard", "token_file", parse_path, struct vsd_settings, dashboard.token_file),
        ROW("defaults", "memory", parse_size_or_none, struct vsd_settings, defaults.memory),
        ROW("defaults", "cpus", parse_cpus_or_none, struct vsd_settings, defaults.cpu_millis),
        ROW("defaults", "pids", parse_pids_or_none, struct vsd_settings, defaults.pids),
        /* the same setting as [storage] default_disk, named with the others */
        ROW("defaults", "disk", parse_size_nonzero, struct vsd_settings, stor.default_disk),
};


static const struct setting template_table[] = {
        ROW("template", "description", parse_string, struct template_info, description),
        ROW("template", "os", parse_string, struct template_info, os),
        ROW("template", "init", parse_path, struct template_info, init),
        ROW("template", "halt_signal", parse_string, struct template_info, halt_signal_name),
};

/* How apply_table() finds (sec, key): its parser and field in *ret, or false. */
typedef bool (*table_find)(const void *table, size_t n, const char *sec, const char *key, struct setting *ret);

static bool find_row(const void *table, size_t n, const char *sec, const char *key, struct setting *ret) {
        const struct setting *t = table;
        for (size_t i = 0; i < n; i++)
                if (streq(t[i].section, sec) && streq(t[i].key, key)) {
                        *ret = t[i];
                        return true;
                }
        return false;
}

/* Parse every key of d through the table into obj.  A key not in the table
 * is an error naming the file, section and key. */
static int apply_table(dictionary *d, table_find find, const void *t, size_t n, void *obj, const char *path,
                       vs_error *err) {
        int nsec = iniparser_getnsec(d);
        for (int i = 0; i < nsec; i++) {
                const char *sec = iniparser_getsecname(d, i);
                int nkeys = iniparser_getsecnkeys(d, sec);
                if (nkeys <= 0)
                        continue;
                const char **keys = calloc((size_t) nkeys, sizeof(char *));
                if (!keys)
                        return vs_err(err, ENOMEM, "read %s", path);
                iniparser_getseckeys(d, sec, keys);
                for (int k = 0; k < nkeys; k++) {
                        /* iniparser lowercases and names keys "section:key" */
                        const char *full = keys[k];
                        const char *key = strchr(full, ':') ? strchr(full, ':') + 1 : full;
                        struct setting row;
                        if (!find(t, n, sec, key, &row)) {
                                vs_err_msg(err, EINVAL, "%s: unknown key '%s' in section [%s]", path, key, sec);
                                free(keys);
                                return -EINVAL;
                        }
                        const char *v = iniparser_getstring(d, full, "");
                        int r = row.parse(v, (char *) obj + row.offset, row.size, err);
                        if (r < 0) {
                                vs_err_prefix(err, "%s: [%s] %s", path, sec, key);
                                free(keys);
                                return r;
                        }
                }
                free(keys);
        }
        return 0;
}

/* iniparser prints syntax errors to stderr and returns NULL on them; we
 * check the syntax ourselves first so the message names the line. */
static int check_syntax(const char *path, vs_error *err) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r = vs_read_file(path, 1 << 20, &text, &size);
        if (r < 0)
                return vs_err(err, -r, "read %s", path);
        if (strlen(text) != size)
                return vs_err_msg(err, EINVAL, "%s: not a text file (NUL bytes)", path);
        int lineno = 0;
        bool in_section = false;
        for (char *line = text, *next; line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                lineno++;
                while (*line == ' ' || *line == '\t')
                        line++;
                size_t len = strlen(line);
                while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
                        line[--len] = '\0';
                if (len == 0 || line[0] == '#' || line[0] == ';')
                        continue;
                if (line[0] == '[') {
                        if (line[len - 1] != ']' || len < 3)
                                return vs_err_msg(err, EINVAL, "%s:%d: malformed section header", path, lineno);
                        in_section = true;
                        continue;
                }
                char *eq = strchr(line, '=');
                if (!eq || eq == line)
                        return vs_err_msg(err, EINVAL, "%s:%d: expected 'key = value'", path, lineno);
                if (!in_section)
                        return vs_err_msg(err, EINVAL, "%s:%d: key outside of any [section]", path, lineno);
        }
        return 0;
}

static int load_table(const char *path, table_find find, const void *t, size_t n, void *obj, vs_error *err) {
        int r = check_syntax(path, err);
        if (r < 0)
                return r;
        _cleanup_dict_ dictionary *d = iniparser_load(path);
        if (!d)
                return vs_err_msg(err, EINVAL, "%s: cannot parse", path);
        return apply_table(d, find, t, n, obj, path, err);
}

void settings_defaults(struct vsd_settings *s) {
        *s = (struct vsd_settings){ .console_log_size = 256 * 1024, .view = true };
        snprintf(s->root, sizeof(s->root), "%s", VS_DEFAULT_ROOT);
        snprintf(s->run_dir, sizeof(s->run_dir), "%s", VS_DEFAULT_RUN_DIR);
        snprintf(s->socket, sizeof(s->socket), "%s", VS_DEFAULT_SOCKET);
        snprintf(s->socket_group, sizeof(s->socket_group), "%s", VS_DEFAULT_SOCKET_GROUP);
        snprintf(s->cgroup_parent, sizeof(s->cgroup_parent), "%s", VS_DEFAULT_CGROUP_PARENT);
        snprintf(s->cgroup_root, sizeof(s->cgroup_root), "%s", "/sys/fs/cgroup");
        snprintf(s->log_level, sizeof(s->log_level), "%s", "info");
        snprintf(s->lxcfs_binary, sizeof(s->lxcfs_binary), "%s", "/usr/bin/lxcfs");
        snprintf(s->criu, sizeof(s->criu), "%s", VS_CRIU_DEFAULT);
        snprintf(s->migrate_ssh, sizeof(s->migrate_ssh), "%s", "ssh");
        s->migrate_send_templates = true;
        snprintf(s->builders, sizeof(s->builders), "%s", VS_DATADIR "/templates");
        snprintf(s->tmpl_cache, sizeof(s->tmpl_cache), "%s", "/var/cache/vsd");
        s->net.default_mode = NET_MODE_BRIDGE;
        snprintf(s->net.bridge, sizeof(s->net.bridge), "%s", "vsbr0");
        (void) net_cidr_parse("10.77.0.1/24", -1, true, &s->net.bridge_ipv4, NULL);
        snprintf(s->net.link_prefix, sizeof(s->net.link_prefix), "%s", "vsh");
        snprintf(s->net.nft_table, sizeof(s->net.nft_table), "%s", "vsd");
        s->stor.default_backend = STOR_IMAGE;
        s->stor.default_disk = 10ULL << 30;
        s->stor.direct_io = true;
        s->stor.keep_mounted = 16;
        /* far above the ids of the host's own users (and of Debian's
         * subuid defaults, 100000 + 65536 per user) */
        s->sec.id_first = 1000000;
        s->sec.id_last = 1999999999;
        s->api.idle_timeout_ms = 60000;
        s->api.max_connections = 1024;
        s->api.max_per_user = 64;
        s->api.root_reserve = 64;
        /* well within what a Debian instance with systemd uses, well below
         * what one instance would need to starve the others */
        s->klimits.ptys = 256;
        s->klimits.inotify_instances = 128;
        s->klimits.inotify_watches = 65536;
        s->klimits.namespaces = 256;
        s->boot.parallel = 4;
        snprintf(s->dashboard.token_file, sizeof(s->dashboard.token_file), "%s", "/etc/vsd/dashboard.token");
        /* A hosting host is safe without a vsd.conf: one customer who
         * forks, allocates or spins without bound hurts only himself. */
        s->defaults.memory = 512ULL << 20;
        s->defaults.cpu_millis = 1000;
        s->defaults.pids = DEFAULTS_PIDS_AUTO;
}

int settings_fit_defaults(struct vsd_settings *s, uint64_t pid_max, vs_error *err) {
        uint64_t cap = pid_max / DEFAULTS_PIDS_SHARE;
        if (cap < 1)
                cap = 1;
        if (s->defaults.pids == DEFAULTS_PIDS_AUTO) {
                s->defaults.pids = cap < DEFAULTS_PIDS ? cap : DEFAULTS_PIDS;
                return 0;
        }
        if (s->defaults.pids == 0 || s->defaults.pids > cap) {
                char given[32];
                if (s->defaults.pids)
                        snprintf(given, sizeof(given), "%" PRIu64, s->defaults.pids);
                else
                        snprintf(given, sizeof(given), "unlimited");
                return vs_err_msg(err, ERANGE,
                                  "[defaults] pids = %s is more than an eighth of this host's pid_max %" PRIu64
                                  ": an instance created with it could fill the host's process table (at most %" PRIu64
                                  "; a single instance may still be given more)",
                                  given, pid_max, cap);
        }
        return 0;
}

void settings_apply_defaults(const struct vsd_settings *s, struct inst_config *c) {
        c->memory = s->defaults.memory;
        c->cpu_millis = s->defaults.cpu_millis;
        c->pids = s->defaults.pids == DEFAULTS_PIDS_AUTO ? DEFAULTS_PIDS : s->defaults.pids;
}

/* What no single key can check: pools that overlap. */
static int net_settings_check(const struct net_settings *n, const char *path, vs_error *err) {
        struct net_cidr bridge4, bridge6;
        net_cidr_network(&n->bridge_ipv4, &bridge4);
        net_cidr_network(&n->bridge_ipv6, &bridge6);
        const struct {
                const char *a, *b;
                const struct net_cidr *x, *y;
        } pairs[] = {
                { "bridge_ipv4", "routed_ipv4", &bridge4, &n->routed_ipv4 },
                { "bridge_ipv6", "routed_ipv6", &bridge6, &n->routed_ipv6 },
        };
        for (size_t k = 0; k < ELEMENTSOF(pairs); k++) {
                if (!pairs[k].x->family || !pairs[k].y->family || !net_cidr_overlap(pairs[k].x, pairs[k].y))
                        continue;
                char a[NET_CIDR_STRLEN], b[NET_CIDR_STRLEN];
                net_cidr_format(pairs[k].x, true, a, sizeof(a));
                net_cidr_format(pairs[k].y, true, b, sizeof(b));
                return vs_err_msg(err, EINVAL, "%s: [network] %s %s overlaps %s %s", path, pairs[k].a, a, pairs[k].b, b);
        }
        if (n->bridge_ipv6.family == AF_INET || n->routed_ipv6.family == AF_INET ||
            n->bridge_ipv4.family == AF_INET6 || n->routed_ipv4.family == AF_INET6)
                return vs_err_msg(err, EINVAL, "%s: [network] an IPv4 setting holds an IPv6 address or the reverse", path);
        return 0;
}

int settings_load(struct vsd_settings *s, const char *path, bool optional, vs_error *err) {
        if (optional && access(path, F_OK) < 0 && errno == ENOENT)
                return 0;
        int r = load_table(path, find_row, daemon_table, ELEMENTSOF(daemon_table), s, err);
        if (r < 0)
                return r;
        /* root's reserve must leave the others something */
        if (s->api.root_reserve >= s->api.max_connections)
                return vs_err_msg(err, EINVAL, "%s: [api] root_reserve %" PRIu64 " leaves nothing of max_connections %" PRIu64,
                                  path, s->api.root_reserve, s->api.max_connections);
        return net_settings_check(&s->net, path, err);
}

/* ---- instances: config.ini ---- */

static int fmt_text(const char *text, char **ret) {
        *ret = strdup(text);
        return *ret ? 0 : -ENOMEM;
}

static int fmt_owned(char *text, char **ret) {
        *ret = text;
        return text ? 0 : -ENOMEM;
}

/* A number field of either width. */
static uint64_t field_uint(const void *field, size_t size) {
        return size == sizeof(uint32_t) ? *(const uint32_t *) field : *(const uint64_t *) field;
}

static int fmt_string(const void *field, size_t size, char **ret) {
        return fmt_text(field, ret);
}

static int fmt_number(const void *field, size_t size, char **ret) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%" PRIu64, field_uint(field, size));
        return fmt_text(buf, ret);
}

static int fmt_size(const void *field, size_t size, char **ret) {
        char buf[32] = "0";
        if (field_uint(field, size))
                vs_format_size(field_uint(field, size), buf, sizeof(buf));
        return fmt_text(buf, ret);
}

static int fmt_cpus(const void *field, size_t size, char **ret) {
        uint32_t millis = *(const uint32_t *) field;
        char buf[32] = "0";
        if (millis)
                snprintf(buf, sizeof(buf), "%u.%03u", millis / 1000, millis % 1000);
        return fmt_text(buf, ret);
}

static int fmt_ms(const void *field, size_t size, char **ret) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%" PRIu64 "ms", *(const uint64_t *) field);
        return fmt_text(buf, ret);
}

static int fmt_rate(const void *field, size_t size, char **ret) {
        char buf[32] = "0";
        if (*(const uint64_t *) field)
                tc_rate_format(*(const uint64_t *) field, buf, sizeof(buf));
        return fmt_text(buf, ret);
}

static int fmt_bool(const void *field, size_t size, char **ret) {
        return fmt_text(*(const bool *) field ? "yes" : "no", ret);
}

/* "default" for an instance that never chose (parse_net_mode()) */
static int fmt_net_mode(const void *field, size_t size, char **ret) {
        return fmt_text(inst_net_mode_name(*(const int *) field), ret);
}

/* the backend in effect: an unset one is written as the one it means */
static int fmt_backend(const void *field, size_t size, char **ret) {
        return fmt_text(stor_backend_name(stor_backend_of(*(const int *) field)), ret);
}

static int fmt_rlimits(const void *field, size_t size, char **ret) {
        return fmt_owned(rlimits_format(field), ret);
}

static int fmt_addrs(const void *field, size_t size, char **ret) {
        return fmt_owned(inst_net_addrs_format(field), ret);
}

static int fmt_forwards(const void *field, size_t size, char **ret) {
        return fmt_owned(inst_net_forwards_format(field), ret);
}

static int fmt_io_rbps(const void *field, size_t size, char **ret) {
        return fmt_owned(inst_io_format(field, IO_READ_BPS), ret);
}
static int fmt_io_wbps(const void *field, size_t size, char **ret) {
        return fmt_owned(inst_io_format(field, IO_WRITE_BPS), ret);
}
static int fmt_io_riops(const void *field, size_t size, char **ret) {
        return fmt_owned(inst_io_format(field, IO_READ_IOPS), ret);
}
static int fmt_io_wiops(const void *field, size_t size, char **ret) {
        return fmt_owned(inst_io_format(field, IO_WRITE_IOPS), ret);
}

static int fmt_onboot(const void *field, size_t size, char **ret) {
        return fmt_text(inst_onboot_name(*(const int *) field), ret);
}

static int parse_privileged(const char *v, void *field, size_t size, vs_error *err) {
        bool b;
        int r = parse_bool(v, &b, sizeof(b), err);
        if (r < 0)
                return r;
        *(int *) field = b ? PRIV_YES : PRIV_NO;
        return 0;
}

/* the mode in effect: an unset one is written as the one it means */
static int fmt_privileged(const void *field, size_t size, char **ret) {
        return fmt_text(inst_privileged(*(const int *) field) ? "yes" : "no", ret);
}

static int parse_id_base(const char *v, void *field, size_t size, vs_error *err) {
        uint64_t *out = field;
        uint64_t n;
        int r = vs_parse_count(v, 0, UINT32_MAX - INST_ID_COUNT, &n, err);
        if (r < 0)
                return r;
        *out = n;
        return 0;
}

/* ---- instances: the API's view ---- */

/* config.ini's text as a string */
static json_t *show_text(const struct inst_setting *s, const void *field) {
        _cleanup_free_ char *text = NULL;
        if (s->format(field, s->size, &text) < 0)
                return NULL;
        return json_string(text);
}

static json_t *show_number(const struct inst_setting *s, const void *field) {
        return json_integer((json_int_t) field_uint(field, s->size));
}

/* thousandths (CPU millis, milliseconds) as a real number of units */
static json_t *show_thousandths(const struct inst_setting *s, const void *field) {
        return json_real((double) field_uint(field, s->size) / 1000.0);
}

/* a weight of 0 is the kernel's default, 100 */
static json_t *show_weight(const struct inst_setting *s, const void *field) {
        uint64_t w = field_uint(field, s->size);
        return json_integer(w ? (json_int_t) w : 100);
}

static json_t *show_cpuset(const struct inst_setting *s, const void *field) {
        return json_string(*(const char *) field ? (const char *) field : "all");
}

static json_t *show_bool(const struct inst_setting *s, const void *field) {
        return json_boolean(*(const bool *) field);
}

static json_t *show_privileged(const struct inst_setting *s, const void *field) {
        return json_boolean(inst_privileged(*(const int *) field));
}

/* the mode in effect: an instance that never chose has none */
static json_t *show_net_mode(const struct inst_setting *s, const void *field) {
        return json_string(inst_net_mode_name(inst_net_mode_of(*(const int *) field)));
}

/* ---- instances: the table ---- */

#define SET(sec, k, grp, member, parser, formatter, viewer, dflt_, apply_, live_, ...)                         \
        { .section = sec, .key = k, .json = k, .view = grp, .parse = parser, .format = formatter, .show = viewer, \
          .dflt = dflt_, .apply = apply_, .live = live_, .offset = offsetof(struct inst_config, member),           \
          .size = sizeof(((struct inst_config *) 0)->member), __VA_ARGS__ }

/* In config.ini's order: the file is written row by row, a section
 * starting where the row's section changes.  The API shows the rows by
 * group (enum inst_view_group), in this order within each. */
const struct inst_setting inst_settings[] = {
        SET("instance", "name", VIEW_ID, name, parse_name, fmt_string, show_text, NULL, APPLY_NEVER, LIVE_NONE),
        SET("instance", "template", VIEW_ID, template_name, parse_name, fmt_string, show_text, VS_DEFAULT_TEMPLATE,
            APPLY_NEVER, LIVE_NONE),
        SET("limits", "memory", VIEW_CORE, memory, parse_size_or_none, fmt_size, show_number, "0", APPLY_LIVE,
            LIVE_CGROUP),
        SET("limits", "cpus", VIEW_CORE, cpu_millis, parse_cpus_or_none, fmt_cpus, show_thousandths, "0", APPLY_LIVE,
            LIVE_CGROUP),
        SET("limits", "pids", VIEW_CORE, pids, parse_pids_or_none, fmt_number, show_number, "0", APPLY_LIVE,
            LIVE_CGROUP),
        SET("limits", "memory_soft", VIEW_LIMITS, memory_soft, parse_size_or_none, fmt_size, show_number, "0",
            APPLY_LIVE, LIVE_CGROUP),
        SET("limits", "swap", VIEW_LIMITS, swap, parse_swap, fmt_size, show_number, "0", APPLY_LIVE,
            LIVE_CGROUP),
        SET("limits", "cpu_weight", VIEW_LIMITS, cpu_weight, parse_weight_or_default, fmt_number, show_weight, "0",
            APPLY_LIVE, LIVE_CGROUP),
        SET("limits", "cpuset", VIEW_LIMITS, cpuset, parse_cpuset, fmt_string, show_cpuset, "", APPLY_LIVE,
            LIVE_CGROUP),
        SET("limits", "io_weight", VIEW_LIMITS, io_weight, parse_weight_or_default, fmt_number, show_weight, "0",
            APPLY_LIVE, LIVE_CGROUP),
        /* the four fill one struct inst_io_limits, each its own kind of limit */
        SET("limits", "io_read_bps", VIEW_IO, io, parse_io_rbps, fmt_io_rbps, show_text, "", APPLY_LIVE, LIVE_CGROUP),
        SET("limits", "io_write_bps", VIEW_IO, io, parse_io_wbps, fmt_io_wbps, show_text, "", APPLY_LIVE, LIVE_CGROUP),
        SET("limits", "io_read_iops", VIEW_IO, io, parse_io_riops, fmt_io_riops, show_text, "", APPLY_LIVE,
            LIVE_CGROUP),
        SET("limits", "io_write_iops", VIEW_IO, io, parse_io_wiops, fmt_io_wiops, show_text, "", APPLY_LIVE,
            LIVE_CGROUP),
        SET("limits", "nofile", VIEW_FILES, nofile, parse_nofile, fmt_number, show_number, "0", APPLY_NEXT_START,
            LIVE_NONE),
        SET("limits", "rlimits", VIEW_FILES, rlimits, parse_rlimits, fmt_rlimits, show_text, "", APPLY_LIVE,
            LIVE_RLIMITS),
        /* read when the instance is stopped */
        SET("lifecycle", "stop_timeout", VIEW_CORE, stop_timeout_ms, parse_duration, fmt_ms, show_thousandths, "30s",
            APPLY_LIVE, LIVE_NONE),
        /* read at the daemon's start after a boot (vsd/inst/boot.c) */
        SET("boot", "onboot", VIEW_CORE, boot.onboot, parse_onboot, fmt_onboot, show_text, "auto", APPLY_LIVE,
            LIVE_NONE),
        SET("boot", "boot_priority", VIEW_CORE, boot.priority, parse_priority, fmt_number, show_number, "0",
            APPLY_LIVE, LIVE_NONE),
        SET("boot", "boot_delay", VIEW_CORE, boot.delay_ms, parse_delay, fmt_ms, show_thousandths, "0", APPLY_LIVE,
            LIVE_NONE),
        SET("network", "net", VIEW_NET, net.mode, parse_net_mode, fmt_net_mode, show_net_mode, "default",
            APPLY_STOPPED, LIVE_NETWORK),
        /* both fill the whole struct inst_net: they keep what they do not parse */
        SET("network", "ip", VIEW_NET, net, parse_addrs, fmt_addrs, show_text, "", APPLY_LIVE, LIVE_NETWORK,
            .empty_ok = true),
        SET("network", "forward", VIEW_NET, net, parse_forwards, fmt_forwards, show_text, "", APPLY_LIVE,
            LIVE_NETWORK, .empty_ok = true),
        SET("network", "rate_in", VIEW_NET, net.rate_in, parse_rate, fmt_rate, show_text, "0", APPLY_LIVE,
            LIVE_NETWORK),
        SET("network", "rate_out", VIEW_NET, net.rate_out, parse_rate, fmt_rate, show_text, "0", APPLY_LIVE,
            LIVE_NETWORK),
        SET("network", "isolated", VIEW_NET, net.isolated, parse_bool, fmt_bool, show_bool, "no", APPLY_LIVE,
            LIVE_NETWORK),
        SET("network", "nameservers", VIEW_NET, net.nameservers, parse_nameservers, fmt_string, show_text, "",
            APPLY_NEXT_START, LIVE_NONE, .empty_ok = true),
        /* no text means "not chosen": a create takes the daemon's default_backend */
        SET("storage", "backend", VIEW_STORAGE, storage.backend, parse_backend, fmt_backend, show_text, NULL,
            APPLY_CREATE, LIVE_STORAGE),
        SET("storage", "disk", VIEW_STORAGE, storage.disk, parse_size_or_none, fmt_size, show_number, "0", APPLY_LIVE,
            LIVE_STORAGE),
        SET("storage", "inodes", VIEW_STORAGE, storage.inodes, parse_inodes, fmt_number, show_number, "0",
            APPLY_CREATE, LIVE_STORAGE),
        /* no text means "not chosen": a create makes an unprivileged
         * instance, a config.ini without it is an older, privileged one */
        SET("security", "privileged", VIEW_SECURITY, security.privileged, parse_privileged, fmt_privileged,
            show_privileged, NULL, APPLY_CREATE, LIVE_NONE),
        /* read at each start: the unmasked proc and sysfs (MNT_NESTING) */
        SET("security", "nesting", VIEW_SECURITY, security.nesting, parse_bool, fmt_bool, show_bool, "no",
            APPLY_NEXT_START, LIVE_NONE),
        /* the daemon's choice at create (vsd/inst/idrange.c), never a body's */
        SET("security", "id_base", VIEW_SECURITY, security.id_base, parse_id_base, fmt_number, show_number, "0",
            APPLY_NEVER, LIVE_NONE),
};

const size_t inst_settings_n = ELEMENTSOF(inst_settings);

/* the API's field filter keeps a bit per row in a uint64_t */
_Static_assert(ELEMENTSOF(inst_settings) <= 64, "a bit per setting");

/* inst_config_changes() reports the kinds of live write in an unsigned */
_Static_assert(_LIVE_MAX <= 32, "enum inst_live fits a mask");

static bool find_inst_row(const void *table, size_t n, const char *sec, const char *key, struct setting *ret) {
        const struct inst_setting *t = table;
        for (size_t i = 0; i < n; i++)
                if (streq(t[i].section, sec) && streq(t[i].key, key)) {
                        *ret = (struct setting){ t[i].section, t[i].key, t[i].parse, t[i].offset, t[i].size };
                        return true;
                }
        return false;
}

const struct inst_setting *inst_setting_find(const char *key) {
        for (size_t i = 0; i < inst_settings_n; i++)
                if (streq(inst_settings[i].key, key))
                        return &inst_settings[i];
        return NULL;
}

int inst_setting_parse(const struct inst_setting *s, struct inst_config *c, const char *text, vs_error *err) {
        /* config.ini's reader (iniparser) takes the blanks around a value
         * away: a value kept with them would read back otherwise after the
         * next daemon start */
        while (isspace((unsigned char) *text))
                text++;
        size_t n = strlen(text);
        while (n > 0 && isspace((unsigned char) text[n - 1]))
                n--;
        _cleanup_free_ char *trimmed = strndup(text, n);
        if (!trimmed)
                return vs_err(err, ENOMEM, "Failed to set %s", s->key);
        return s->parse(trimmed, (char *) c + s->offset, s->size, err);
}

int inst_setting_format(const struct inst_setting *s, const struct inst_config *c, char **ret) {
        return s->format((const char *) c + s->offset, s->size, ret);
}

json_t *inst_setting_json(const struct inst_setting *s, const struct inst_config *c) {
        return s->show(s, (const char *) c + s->offset);
}

int settings_json_text(json_t *v, const char *field, bool empty_ok, char *buf, size_t len, vs_error *err) {
        if (json_is_string(v)) {
                const char *t = json_string_value(v);
                while (isspace((unsigned char) *t)) /* blanks go: inst_setting_parse() */
                        t++;
                if (!*t && !empty_ok)
                        return vs_err_msg(err, EINVAL, "%s must not be empty", field);
                if (strlen(json_string_value(v)) >= len)
                        return vs_err_msg(err, E2BIG, "%s is too long", field);
                snprintf(buf, len, "%s", json_string_value(v));
                return 0;
        }
        if (json_is_boolean(v)) {
                snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
                return 0;
        }
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
                snprintf(buf, len, "%lld", (long long) json_integer_value(v));
                return 0;
        }
        if (json_is_real(v) && isfinite(json_real_value(v)) && json_real_value(v) >= 0 && json_real_value(v) < 1e15) {
                double d = json_real_value(v);
                if (d == (double) (long long) d)
                        snprintf(buf, len, "%lld", (long long) d);
                else
                        snprintf(buf, len, "%.6f", d);
                return 0;
        }
        return vs_err_msg(err, EINVAL, "%s must be a non-negative number or a string", field);
}

int inst_setting_from_json(const struct inst_setting *s, struct inst_config *c, json_t *v, vs_error *err) {
        char text[512];
        if (settings_json_text(v, s->key, s->empty_ok, text, sizeof(text), err) < 0)
                return -EINVAL;
        if (inst_setting_parse(s, c, text, err) < 0)
                return vs_err_prefix(err, "%s", s->key);
        return 0;
}

json_t *inst_config_changes(const struct inst_config *a, const struct inst_config *b, unsigned *ret_live) {
        json_t *changes = json_object();
        unsigned live = 0;
        for (size_t i = 0; changes && i < inst_settings_n; i++) {
                const struct inst_setting *s = &inst_settings[i];
                _cleanup_free_ char *from = NULL, *to = NULL;
                if (inst_setting_format(s, a, &from) < 0 || inst_setting_format(s, b, &to) < 0) {
                        json_decref(changes);
                        return NULL;
                }
                if (streq(from, to))
                        continue;
                live |= 1u << s->live;
                if (json_object_set_new(changes, s->key, json_pack("{s:s, s:s}", "from", from, "to", to)) < 0) {
                        json_decref(changes);
                        return NULL;
                }
        }
        if (changes && ret_live)
                *ret_live = live;
        return changes;
}

int inst_config_set(struct inst_config *c, const char *key, const char *value, vs_error *err) {
        /* name and template are fixed at create time */
        const struct inst_setting *s = inst_setting_find(key);
        if (!s || s->apply == APPLY_NEVER)
                return vs_err_msg(err, EINVAL, "unknown setting '%.40s'", key);
        return inst_setting_parse(s, c, value, err);
}

bool inst_config_settable(const char *key) {
        const struct inst_setting *s = inst_setting_find(key);
        return s && s->apply != APPLY_NEVER;
}

void inst_config_defaults(struct inst_config *c) {
        memset(c, 0, sizeof(*c));
        for (size_t i = 0; i < inst_settings_n; i++)
                if (inst_settings[i].dflt)
                        /* cannot fail: test_settings parses every default */
                        (void) inst_setting_parse(&inst_settings[i], c, inst_settings[i].dflt, NULL);
        c->storage.backend = STOR_UNSET;
        c->security.privileged = PRIV_UNSET;
}

int inst_config_load(struct inst_config *c, const char *path, vs_error *err) {
        inst_config_defaults(c);
        int r = load_table(path, find_inst_row, inst_settings, inst_settings_n, c, err);
        if (r < 0)
                return r;
        if (!c->name[0])
                return vs_err_msg(err, EINVAL, "%s: [instance] name is missing", path);
        return 0;
}

int inst_config_format(const struct inst_config *c, char **ret) {
        _cleanup_free_ char *text = strdup("# vsd instance settings; edit with `vsctl set` or by hand while stopped\n");
        for (size_t i = 0; text && i < inst_settings_n; i++) {
                const struct inst_setting *s = &inst_settings[i];
                bool new_section = i == 0 || !streq(s->section, inst_settings[i - 1].section);
                _cleanup_free_ char *value = NULL;
                char *next = NULL;
                if (inst_setting_format(s, c, &value) < 0)
                        return -ENOMEM;
                if (asprintf(&next, "%s%s%s%s%s%s = %s\n", text, new_section && i ? "\n" : "", new_section ? "[" : "",
                             new_section ? s->section : "", new_section ? "]\n" : "", s->key, value) < 0)
                        return -ENOMEM;
                free(text);
                text = next;
        }
        if (!text)
                return -ENOMEM;
        *ret = TAKE_PTR(text);
        return 0;
}

int inst_config_save(const struct inst_config *c, const char *path, vs_error *err) {
        _cleanup_free_ char *text = NULL;
        int r = inst_config_format(c, &text);
        if (r < 0)
                return vs_err(err, -r, "format %s", path);
        r = vs_write_atomic(path, text, strlen(text), 0644);
        if (r < 0)
                return vs_err(err, -r, "write %s", path);
        return 0;
}

int template_load_dir(const char *dir, const char *name, struct template_info *ret, vs_error *err) {
        char path[512];
        struct template_info t = { 0 };

        snprintf(path, sizeof(path), "%s/template.ini", dir);
        if (access(path, F_OK) < 0)
                return vs_err_msg(err, ENOENT, "unknown template '%s' (no %s)", name, path);
        snprintf(t.init, sizeof(t.init), "/sbin/init");
        snprintf(t.halt_signal_name, sizeof(t.halt_signal_name), "SIGPWR");
        int r = load_table(path, find_row, template_table, ELEMENTSOF(template_table), &t, err);
        if (r < 0)
                return r;
        r = vs_parse_signal(t.halt_signal_name, &t.halt_signal, err);
        if (r < 0)
                return vs_err_prefix(err, "%s: [template] halt_signal", path);
        snprintf(t.name, sizeof(t.name), "%s", name);
        *ret = t;
        return 0;
}

int template_load(const char *root, const char *name, struct template_info *ret, vs_error *err) {
        char dir[512];

        if (vs_name_check("template", name, err) < 0)
                return -EINVAL;
        snprintf(dir, sizeof(dir), "%s/templates/%s", root, name);
        return template_load_dir(dir, name, ret, err);
}

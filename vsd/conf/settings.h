/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Configuration: the daemon's vsd.conf and each instance's config.ini, both
 * INI files read with iniparser through tables of {section, key, parser,
 * offset} rows.  Unknown keys are reported, invalid values refused.
 */

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "base/parse.h"
#include "cgroups/cgroup.h"
#include "net/addr.h"
#include "net/fw.h"
#include "vsd/conf/rlimits.h"

/* How an instance is connected (vsd/netw/network.c). */
enum inst_net_mode {
        NET_MODE_UNSET = -1, /* create: the daemon's default_mode */
        NET_MODE_NONE,       /* loopback only */
        NET_MODE_BRIDGE,     /* eth0 on the daemon's bridge, gateway the bridge */
        NET_MODE_ROUTED,     /* point-to-point eth0, host routes and proxy ARP/NDP */
        _NET_MODE_MAX,
};

const char *inst_net_mode_name(enum inst_net_mode m);

/* The mode in effect: an instance that never chose one (made before
 * instances had a network) has none. */
static inline enum inst_net_mode inst_net_mode_of(int mode) {
        return mode == NET_MODE_UNSET ? NET_MODE_NONE : (enum inst_net_mode) mode;
}

/* Where an instance's private writable layer lives (vsd/storage/storage.c). */
enum stor_backend {
        STOR_UNSET = -1, /* create: the daemon's default_backend */
        STOR_DIR,        /* plain directories next to config.ini: no quota */
        STOR_IMAGE,      /* its own ext4 image on a loop device: a hard size and inode limit */
        _STOR_MAX,
};

const char *stor_backend_name(enum stor_backend b);

/* The backend in effect: an instance made before storage backends (no
 * [storage] section) keeps its directories. */
static inline enum stor_backend stor_backend_of(int b) {
        return b == STOR_UNSET ? STOR_DIR : (enum stor_backend) b;
}

/* The daemon's [storage] section. */
struct stor_settings {
        int default_backend;     /* enum stor_backend of instances created without one */
        uint64_t default_disk;   /* bytes of an image instance created without --disk */
        uint64_t default_inodes; /* inodes of its filesystem; 0 = mke2fs's ratio (one per 16 KiB) */
        bool direct_io;          /* loop devices bypass the host's page cache for images */
        uint64_t keep_mounted;   /* stopped image instances whose filesystem stays mounted (0: none) */
};

/* Whether an instance's root is the host's root (vsd/inst/idrange.c). */
enum inst_priv {
        PRIV_UNSET = -1, /* create: unprivileged; config.ini without it: privileged */
        PRIV_NO,         /* its own user namespace: root inside is id_base outside */
        PRIV_YES,        /* no user namespace: root inside is the host's root */
};

/* The mode in effect: an instance made before unprivileged instances
 * existed (no [security] section) stays privileged, as it always ran. */
static inline bool inst_privileged(int p) {
        return p != PRIV_NO;
}

/* Host ids each unprivileged instance maps: 0..65535 inside are
 * id_base..id_base+65535 outside, for users and groups alike. */
#define INST_ID_COUNT 65536U

/* The daemon's [security] section: the pool of host ids the blocks of
 * unprivileged instances are taken from, first..last inclusive. */
struct security_settings {
        uint64_t id_first, id_last;
};

/* The daemon's [network] section. */
struct net_settings {
        int default_mode;         /* enum inst_net_mode of instances created without one */
        char bridge[16];          /* the instances' bridge, created on demand */
        struct net_cidr bridge_ipv4; /* its address: gateway and pool (family 0: none) */
        struct net_cidr bridge_ipv6;
        struct net_cidr routed_ipv4; /* pool of routed mode (family 0: none) */
        struct net_cidr routed_ipv6;
        bool nat;                 /* masquerade the pools' traffic leaving the host */
        char nameservers[256];    /* written to instances' /etc/resolv.conf; "" leaves it alone */
        char link_prefix[8];      /* host-side links: <prefix><8 hex> */
        char nft_table[32];       /* vsd's nftables tables, bridge and inet */
        uint64_t mtu;             /* of instance links; 0 = the kernel's default */
        char proxy_devs[128];     /* host uplinks that answer ARP/NDP for routed addresses */
};

/* The daemon's [api] section: what one client may hold of the socket. */
struct api_settings {
        uint64_t idle_timeout_ms;  /* a connection with no request in progress is closed after this */
        uint64_t max_connections;  /* open at once, every client together */
        uint64_t max_per_user;     /* open at once by one uid other than 0 */
        uint64_t root_reserve;     /* of max_connections, never given to a uid other than 0 */
};

/* The daemon's [boot] section: bringing the instances back after the
 * host started (vsd/inst/boot.c). */
struct boot_settings {
        uint64_t parallel; /* starts done back to back before the daemon serves requests again */
};

/* The daemon's [metrics] section: GET /metrics on a TCP listener too. */
struct metrics_settings {
        char listen[64]; /* "127.0.0.1:9177", "[::1]:9177"; "" = none (the API socket only) */
};

/* The daemon's [dashboard] section: the web dashboard on a TCP listener of
 * its own (vsd/api/dashboard.c), behind a token read from token_file. */
struct dashboard_settings {
        char listen[64];      /* "127.0.0.1:9178"; "" = none */
        char token_file[256]; /* root's, not readable by others; absent: no dashboard */
};

/* The daemon's [defaults] section: the limits an instance gets at create
 * when the request names none.  Copied into its config.ini there, so a
 * later change of these touches no existing instance. */
struct inst_defaults {
        uint64_t memory;     /* bytes; 0 = unlimited */
        uint32_t cpu_millis; /* 0 = uncapped */
        uint64_t pids;       /* 0 = unlimited; DEFAULTS_PIDS_AUTO until settings_fit_defaults() */
};

/* [defaults] pids not given: 1024, or less on a host whose pid_max is small. */
#define DEFAULTS_PIDS_AUTO UINT64_MAX
#define DEFAULTS_PIDS 1024
/* No instance created with the defaults may hold more than this share of
 * the host's pids: pid_max / 8 (4096 of the usual 32768). */
#define DEFAULTS_PIDS_SHARE 8

/* The daemon's [limits] section: kernel resources the kernel counts per
 * devpts instance or per user of a user namespace, the same for every
 * instance.  0 leaves the kernel's own bound (doc/vsd.conf.5). */
struct kernel_limits {
        uint64_t ptys;              /* ptys open at once (devpts max=) */
        uint64_t inotify_instances; /* per user inside (and fanotify groups) */
        uint64_t inotify_watches;   /* per user inside (and fanotify marks) */
        uint64_t namespaces;        /* of each kind, per user inside */
};

/* The per-user namespace limits must leave the start its own: locking the
 * mounts makes one user and two mount namespaces (vsd/start/child.c). */
#define KLIMITS_NAMESPACES_MIN 16

struct inst_config;

struct vsd_settings {
        char root[256];          /* state root: templates/ and instances/ */
        char run_dir[256];       /* runtime state: <name>.state */
        char socket[256];        /* API socket path */
        char socket_group[64];   /* group admitted besides root */
        char cgroup_parent[64];  /* every instance cgroup lives below this */
        char cgroup_root[256];   /* where cgroupfs is mounted (tests may fake it) */
        uint64_t console_log_size; /* bytes kept per console.log (x2 with the rotated one) */
        char log_level[16];
        bool view;               /* instances see their own limits in /proc through lxcfs */
        char lxcfs_binary[256];  /* the lxcfs program */
        char lxcfs_dir[256];     /* its mount point and pid file; "" = <run_dir>/lxcfs */
        char builders[256];      /* [templates] builders: holds <builder>/build.sh */
        char tmpl_cache[256];    /* [templates] cache: builders' downloads and finished builds */
        char criu[256];          /* [checkpoint] criu: the CRIU binary (4.2 or later) */
        char migrate_ssh[256];   /* [migrate] ssh: the command, with options, that reaches another host */
        bool migrate_send_templates; /* [migrate] send_templates: a target lacking the template gets it */
        bool migrate_postcopy;   /* [migrate] postcopy: live moves may restore before the memory came (off) */
        bool migrate_raise_pipe_max; /* [migrate] raise_pipe_max_size: vsd may raise fs.pipe-max-size for it (off) */
        struct net_settings net;
        struct stor_settings stor;
        struct security_settings sec;
        struct api_settings api;
        struct boot_settings boot;
        struct metrics_settings metrics;
        struct dashboard_settings dashboard;
        struct inst_defaults defaults;
        struct kernel_limits klimits;
};

/* Where `make deps` puts the CRIU it builds (tools/criu-deps.sh). */
#define VS_CRIU_DEFAULT "/usr/local/lib/vsd/criu/criu"

void settings_defaults(struct vsd_settings *s);

/* Load path into s (keys absent keep their value).  A missing file is fine
 * when optional is set.  Unknown keys are errors: a typo in the daemon's own
 * config should stop it before it serves. */
int settings_load(struct vsd_settings *s, const char *path, bool optional, vs_error *err);

/* Fit [defaults] pids to the host's pid_max (/proc/sys/kernel/pid_max):
 * not given, it becomes 1024 or pid_max / 8, the smaller; given, it must
 * be a number no larger than pid_max / 8, or the daemon refuses to start
 * (an instance made with the defaults could fill the host's pid table). */
int settings_fit_defaults(struct vsd_settings *s, uint64_t pid_max, vs_error *err);

/* Put the [defaults] limits into a new instance's settings, before the
 * request's own are applied over them. */
void settings_apply_defaults(const struct vsd_settings *s, struct inst_config *c);

/* An instance's persistent settings (config.ini). */
/* Per-device I/O throttles, one entry per device with any limit set. */
struct inst_io_limits {
        struct cg_io_throttle dev[CG_IO_DEV_MAX];
        unsigned n;
};

enum inst_io_kind { IO_READ_BPS, IO_WRITE_BPS, IO_READ_IOPS, IO_WRITE_IOPS, _IO_KIND_MAX };

/* Replace every device's limit of one kind with the list in s:
 * "DEVICE=RATE[,DEVICE=RATE...]", DEVICE a block device path or MAJ:MIN,
 * RATE bytes with a unit for bps ("10M") or a count for iops; "" or "none"
 * clears that kind.  io is unchanged on error. */
int inst_io_parse(struct inst_io_limits *io, enum inst_io_kind kind, const char *s, vs_error *err);

/* The same list back as "MAJ:MIN=VALUE,..." ("" when none): malloc'd. */
char *inst_io_format(const struct inst_io_limits *io, enum inst_io_kind kind);

#define INST_ADDR_MAX 8
#define INST_FORWARD_MAX 32

/* An instance's [network] section. */
struct inst_net {
        int mode;                 /* enum inst_net_mode */
        struct net_cidr addr[INST_ADDR_MAX]; /* eth0's addresses, IPv4 and IPv6 */
        unsigned n_addr;
        bool auto_addr;           /* "ip = auto": pick from the pool at create / set */
        uint64_t rate_in, rate_out; /* bit/s to and from the instance; 0 = uncapped */
        struct fw_forward fwd[INST_FORWARD_MAX]; /* host port -> instance port */
        unsigned n_fwd;
        bool isolated;            /* bridge port isolated from the other instances */
        char nameservers[128];    /* "" = the daemon's */
};

/* "10.77.0.5/24,fd77::5" or "auto" -> addresses. */
int inst_net_addrs_parse(struct inst_net *n, const char *s, vs_error *err);
char *inst_net_addrs_format(const struct inst_net *n);
int inst_net_forwards_parse(struct inst_net *n, const char *s, vs_error *err);
char *inst_net_forwards_format(const struct inst_net *n);

/* An instance's [storage] section. */
struct inst_storage {
        int backend;     /* enum stor_backend */
        uint64_t disk;   /* image size in bytes; 0 = the daemon's default (image) or none (dir) */
        uint64_t inodes; /* inodes of the image's filesystem; 0 = mke2fs's ratio; fixed at create */
};

/* An instance's [security] section. */
struct inst_security {
        int privileged;   /* enum inst_priv */
        bool nesting;     /* unprivileged only: root inside may run containers (MNT_NESTING) */
        uint64_t id_base; /* unprivileged: the first of its INST_ID_COUNT host ids; 0 when privileged */
};

/* An instance's [boot] section: what the daemon does with it after the
 * host started. */
enum inst_onboot {
        ONBOOT_AUTO, /* start it when it was running when the host went down */
        ONBOOT_YES,  /* always start it */
        ONBOOT_NO,   /* never */
        _ONBOOT_MAX,
};
const char *inst_onboot_name(int onboot);

struct inst_boot {
        int onboot;        /* enum inst_onboot */
        uint32_t priority; /* higher first; equal ones by name */
        uint64_t delay_ms; /* after starting it, wait this long before the next */
};

struct inst_config {
        char name[VS_NAME_MAX + 1];
        char template_name[VS_NAME_MAX + 1];
        uint64_t memory;       /* bytes, 0 = unlimited */
        uint32_t cpu_millis;   /* 0 = uncapped */
        uint64_t pids;         /* 0 = unlimited */
        uint64_t memory_soft;  /* bytes, reclaimed down to under pressure; 0 = none */
        uint64_t swap;         /* bytes of swap on top of memory; 0 = none */
        uint32_t cpu_weight;   /* relative share 1..10000; 0 = the default (100) */
        char cpuset[64];       /* "0-1,3"; "" = every CPU */
        uint32_t io_weight;    /* relative I/O share 1..10000; 0 = the default (100) */
        struct inst_io_limits io;
        uint64_t nofile;       /* open files per process (RLIMIT_NOFILE); 0 = soft 1024 */
        struct inst_rlimits rlimits; /* the other rlimits of init and exec'd commands */
        uint64_t stop_timeout_ms;
        struct inst_boot boot;
        struct inst_net net;
        struct inst_storage storage;
        struct inst_security security;
};

/*
 * The instance settings table: one row per setting of config.ini, and every
 * place that knows of a setting reads its row.  config.ini's text
 * (inst_config_format), its parsing, the defaults, the API's view of an
 * instance and its create/PATCH bodies, and what a change touched
 * (inst_config_changes) are all derived from the rows; adding a setting is
 * adding a row (and its field in struct inst_config).
 */

/* When a changed value takes effect. */
enum inst_apply {
        APPLY_NEVER,      /* given at create by a field of its own (name, template); no PATCH */
        APPLY_CREATE,     /* given at create; a change is refused by its module (backend, inodes) */
        APPLY_STOPPED,    /* changes only while the instance is stopped (net) */
        APPLY_NEXT_START, /* saved; processes get it from the next start or exec */
        APPLY_LIVE,       /* a running instance gets it at once, through `live` */
};

/* What writes a change into a running instance.  inst_update() writes the
 * cgroup and init's rlimits only when a setting of theirs changed; the
 * network's and storage's functions compare the settings themselves and
 * also refuse what may not change (the mode of a running instance, the
 * backend, the inode count, a shrink), so they always see a change. */
enum inst_live {
        LIVE_NONE,    /* nothing to write: read when used (stop_timeout, or at start) */
        LIVE_CGROUP,  /* the instance's cgroup files */
        LIVE_RLIMITS, /* prlimit() on init */
        LIVE_NETWORK, /* links, addresses, caps and the firewall (netw_update) */
        LIVE_STORAGE, /* the image (stor_check_update, stor_grow) */
        _LIVE_MAX,
};

/* The groups of GET /v1/instances/NAME, in the view's order (that of its
 * first version): a group shows its settings in the table's order, then
 * the fields of the group that are no setting (the instance's state, its
 * link), which the API adds. */
enum inst_view_group {
        VIEW_ID,      /* name, template; then state, pid, started_at */
        VIEW_CORE,    /* memory, cpus, pids, stop_timeout; then error */
        VIEW_LIMITS,  /* the other cgroup limits */
        VIEW_FILES,   /* nofile, rlimits */
        VIEW_IO,      /* the I/O throttles */
        VIEW_NET,     /* [network]; then mac, host_link */
        VIEW_STORAGE, /* [storage] */
        VIEW_SECURITY, /* [security]; then id_range */
        _VIEW_MAX,
};

struct json_t;
struct inst_setting;

/* text -> the field at offset (size bytes); the field is unchanged on error */
typedef int (*setting_parser)(const char *value, void *field, size_t size, vs_error *err);
/* the field -> config.ini's text, malloc'd; -ENOMEM */
typedef int (*setting_formatter)(const void *field, size_t size, char **ret);
/* the field -> its value in the API's view (new reference); NULL on ENOMEM */
typedef struct json_t *(*setting_viewer)(const struct inst_setting *s, const void *field);

struct inst_setting {
        const char *section;     /* config.ini's [section] */
        const char *key;         /* its key, and the field of create and PATCH bodies */
        const char *json;        /* the field of the API's view */
        enum inst_view_group view;
        setting_parser parse;
        setting_formatter format;
        setting_viewer show;
        const char *dflt;        /* parsed by inst_config_defaults(); NULL: see there */
        enum inst_apply apply;
        enum inst_live live;
        bool empty_ok;           /* a body may send "" (what the view shows for an empty list) */
        size_t offset, size;     /* the field in struct inst_config */
};

extern const struct inst_setting inst_settings[];
extern const size_t inst_settings_n;

/* The row of config.ini key (and body field) key, or NULL. */
const struct inst_setting *inst_setting_find(const char *key);

/* One setting of c: parse text into it (c unchanged on error), its
 * config.ini text (malloc'd; -ENOMEM), its value in the API's view. */
int inst_setting_parse(const struct inst_setting *s, struct inst_config *c, const char *text, vs_error *err);
int inst_setting_format(const struct inst_setting *s, const struct inst_config *c, char **ret);
struct json_t *inst_setting_json(const struct inst_setting *s, const struct inst_config *c);

/* A JSON value as the text a person would write in config.ini: strings as
 * they are, numbers in decimal, booleans yes or no.  Empty strings are
 * refused unless empty_ok: "0" or "unlimited" say "no limit" without
 * ambiguity, while lists that the view shows as "" when empty take ""
 * back.  Errors name the field. */
int settings_json_text(struct json_t *v, const char *field, bool empty_ok, char *buf, size_t len, vs_error *err);

/* A body's value of a setting, as the view shows it or as config.ini's
 * text (settings_json_text()), then the setting's parser.  Errors name the
 * field. */
int inst_setting_from_json(const struct inst_setting *s, struct inst_config *c, struct json_t *v, vs_error *err);

/* The settings whose config.ini text differs between a and b, as the
 * limits-changed event tells them ({"key": {"from": TEXT, "to": TEXT}});
 * *ret_live gets a bit (1 << enum inst_live) per kind of live write they
 * need.  NULL on ENOMEM. */
struct json_t *inst_config_changes(const struct inst_config *a, const struct inst_config *b, unsigned *ret_live);

/* Every setting at its row's default; the name empty (config.ini must give
 * it), the storage backend and privileged unset (a create takes the
 * daemon's backend and makes an unprivileged instance; a config.ini
 * without them means the dir backend and a privileged instance). */
void inst_config_defaults(struct inst_config *c);

/* Parse config.ini; every problem (syntax, unknown key, bad value) is an
 * error with the key named, so a broken file marks the instance broken. */
int inst_config_load(struct inst_config *c, const char *path, vs_error *err);

/* Set one [limits] or [lifecycle] key from text with the parser config.ini
 * uses, so the API and the file accept exactly the same values.  c is
 * unchanged on error. */
int inst_config_set(struct inst_config *c, const char *key, const char *value, vs_error *err);

/* Is key one inst_config_set() takes? */
bool inst_config_settable(const char *key);

/* Serialise to INI text (malloc'd) that inst_config_load() reads back. */
int inst_config_format(const struct inst_config *c, char **ret);

/* Write config.ini atomically. */
int inst_config_save(const struct inst_config *c, const char *path, vs_error *err);

/* Template metadata: <root>/templates/<name>/template.ini */
struct template_info {
        char name[VS_NAME_MAX + 1];
        char description[256];
        char os[64];           /* "debian-12", "busybox"; "" when the file does not say */
        char init[256];
        char halt_signal_name[32];
        int halt_signal;
};

int template_load(const char *root, const char *name, struct template_info *ret, vs_error *err);

/* The same from a template directory's own path (a build not yet in place). */
int template_load_dir(const char *dir, const char *name, struct template_info *ret, vs_error *err);

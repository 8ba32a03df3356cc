/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* config.ini and vsd.conf: round trip, validation, atomic writes. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/util.h"
#include "vsd/conf/rlimits.h"
#include "vsd/conf/settings.h"
#include "tests/unit/check.h"

static char dir[] = "/tmp/vsd-test-config-XXXXXX";

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "w");
        if (f) {
                fputs(text, f);
                fclose(f);
        }
}

static void round_trip(void) {
        char path[256];
        struct inst_config a, b;
        vs_error err = { 0 };
        inst_config_defaults(&a);
        snprintf(a.name, sizeof(a.name), "web-01");
        snprintf(a.template_name, sizeof(a.template_name), "busybox");
        a.memory = 256ULL << 20;
        a.cpu_millis = 500;
        a.pids = 200;
        a.stop_timeout_ms = 12500;
        a.boot = (struct inst_boot){ .onboot = ONBOOT_NO, .priority = 7, .delay_ms = 2500 };
        a.memory_soft = 64ULL << 20;
        a.swap = 32ULL << 20;
        a.cpu_weight = 300;
        a.nofile = 4096;
        snprintf(a.cpuset, sizeof(a.cpuset), "0-1,3");
        a.io_weight = 250;
        a.storage = (struct inst_storage){ .backend = STOR_IMAGE, .disk = 20ULL << 30, .inodes = 100000 };
        a.security = (struct inst_security){ .privileged = PRIV_NO, .nesting = true, .id_base = 1065536 };
        CHECK("rlimits parse", rlimits_parse(&a.rlimits, "core=0,nproc=4096:8192,memlock=64M,stack=8M:unlimited", &err) == 0,
              "%s", err.msg);
        CHECK("io write bps parses", inst_io_parse(&a.io, IO_WRITE_BPS, "254:0=10M,8:16=1G", &err) == 0 && a.io.n == 2 &&
                                             a.io.dev[0].wbps == 10ULL << 20 && a.io.dev[1].wbps == 1ULL << 30,
              "%s", err.msg);
        CHECK("io read iops parses", inst_io_parse(&a.io, IO_READ_IOPS, "8:16=500", &err) == 0 && a.io.n == 2 &&
                                             a.io.dev[1].riops == 500,
              "%s", err.msg);
        struct inst_io_limits before = a.io;
        CHECK("io bad rate refused, nothing changed",
              inst_io_parse(&a.io, IO_WRITE_BPS, "254:0=12Q", &err) < 0 && memcmp(&before, &a.io, sizeof(before)) == 0,
              "accepted");
        CHECK("io bad device refused", inst_io_parse(&a.io, IO_WRITE_BPS, "vda=1M", &err) < 0, "accepted");
        _cleanup_free_ char *f = inst_io_format(&a.io, IO_WRITE_BPS);
        CHECK("io format", f && strcmp(f, "254:0=10485760,8:16=1073741824") == 0, "got %s", f ? f : "(null)");
        snprintf(path, sizeof(path), "%s/config.ini", dir);
        int r = inst_config_save(&a, path, &err);
        CHECK("config save", r == 0, "%s", err.msg);
        r = inst_config_load(&b, path, &err);
        CHECK("config load", r == 0, "%s", err.msg);
        CHECK("config round trip", memcmp(&a, &b, sizeof(a)) == 0, "fields differ: mem %llu cpu %u pids %llu stop %llu",
              (unsigned long long) b.memory, b.cpu_millis, (unsigned long long) b.pids,
              (unsigned long long) b.stop_timeout_ms);
        struct stat st;
        CHECK("config mode 0644", stat(path, &st) == 0 && (st.st_mode & 0777) == 0644, "mode %o", st.st_mode & 0777);

        a.memory = 0;
        a.cpu_millis = 0;
        a.pids = 0;
        a.memory_soft = a.swap = 0;
        a.cpu_weight = 0;
        a.cpuset[0] = '\0';
        inst_io_parse(&a.io, IO_WRITE_BPS, "none", NULL);
        inst_io_parse(&a.io, IO_READ_IOPS, "", NULL);
        inst_config_save(&a, path, NULL);
        r = inst_config_load(&b, path, &err);
        CHECK("config unlimited round trip", r == 0 && b.memory == 0 && b.cpu_millis == 0 && b.pids == 0, "%s", err.msg);
}

/* The rlimit table's syntax: NAME=SOFT[:HARD], merged per name. */
static void rlimits(void) {
        struct inst_rlimits rl;
        vs_error err = { 0 };
        memset(&rl, 0, sizeof(rl));
        int r = rlimits_parse(&rl, "core=0,nproc=4096:8192,memlock=64M,stack=8M:unlimited,cpu=unlimited", &err);
        _cleanup_free_ char *f = rlimits_format(&rl);
        CHECK("rlimits parse and format", r == 0 && f && streq(f, "core=0,cpu=unlimited,memlock=64M,nproc=4096:8192,"
                                                                  "stack=8M:unlimited"),
              "r=%d %s '%s'", r, err.msg, f ? f : "(null)");
        /* one name replaced, the others kept; default drops one */
        r = rlimits_parse(&rl, "core=1M,cpu=default", &err);
        _cleanup_free_ char *g = rlimits_format(&rl);
        CHECK("rlimits merge per name", r == 0 && g && streq(g, "core=1M,memlock=64M,nproc=4096:8192,stack=8M:unlimited"),
              "r=%d '%s'", r, g ? g : "(null)");
        struct inst_rlimits before = rl;
        static const struct {
                const char *in, *msg;
        } bad[] = {
                { "bogus=1", "unknown rlimit 'bogus' (known: as, core," },
                { "nofile=100", "nofile has its own setting" },
                { "core=2M:1M", "core: soft limit 2M is above the hard limit 1M" },
                { "core=unlimited:1M", "soft limit unlimited is above" },
                { "core=lots", "core: invalid size 'lots'" },
                { "nproc=-1", "nproc: invalid number '-1'" },
                { "nproc=1K", "nproc: invalid number '1K'" },
                { "nproc=99999999", "nproc: number '99999999' out of range" },
                { "nice=41", "nice: number '41' out of range (0-40)" },
                { "core", "expected NAME=SOFT[:HARD]" },
                { "=5", "expected NAME=SOFT[:HARD]" },
                { "core=", "core: " },
                { "core=1M,bogus=2", "unknown rlimit 'bogus'" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char name[96];
                vs_err_clear(&err);
                r = rlimits_parse(&rl, bad[i].in, &err);
                snprintf(name, sizeof(name), "rlimits refuse '%s', nothing changed", bad[i].in);
                CHECK(name, r < 0 && strstr(err.msg, bad[i].msg) && !strchr(err.msg, '\n') &&
                                    memcmp(&before, &rl, sizeof(rl)) == 0,
                      "r=%d '%s'", r, err.msg);
        }
        r = rlimits_parse(&rl, "none", &err);
        _cleanup_free_ char *h = rlimits_format(&rl);
        CHECK("rlimits none clears", r == 0 && h && streq(h, ""), "'%s'", h ? h : "(null)");

        /* what vsd may grant: its own hard limits, when it cannot raise them */
        struct rlimit own;
        getrlimit(RLIMIT_MEMLOCK, &own);
        memset(&rl, 0, sizeof(rl));
        r = rlimits_parse(&rl, "memlock=4K", &err);
        CHECK("rlimits below vsd's own are granted", r == 0 && rlimits_check(&rl, 0, &err) == 0, "%s", err.msg);
        if (own.rlim_max != RLIM_INFINITY) {
                r = rlimits_parse(&rl, "memlock=unlimited", &err);
                int c = rlimits_check(&rl, 0, &err);
                /* root with CAP_SYS_RESOURCE may, without it may not */
                CHECK("rlimits above vsd's own: granted or refused clearly",
                      r == 0 && (c == 0 || (c == -EPERM && strstr(err.msg, "CAP_SYS_RESOURCE"))), "c=%d %s", c, err.msg);
        }
}

static void bad_files(void) {
        static const struct {
                const char *text;
                const char *expect;
        } cases[] = {
                { "[instance]\nname = x\n[limits]\nmemory = 12Q\n", "memory" },
                { "[instance]\nname = x\nbogus = 1\n", "unknown key 'bogus'" },
                { "[instance]\nname = Bad\n", "invalid" },
                { "garbage without equals\n", "expected 'key = value'" },
                { "[instance\nname = x\n", "malformed section" },
                { "name = x\n", "outside of any [section]" },
                { "[limits]\nmemory = 1G\n", "name is missing" },
                { "[instance]\nname = x\n[limits]\ncpus = -1\n", "cpus" },
                { "[instance]\nname = x\n[lifecycle]\nstop_timeout = soon\n", "stop_timeout" },
                { "[instance]\nname = x\n[boot]\nonboot = sometimes\n", "onboot" },
                { "[instance]\nname = x\n[boot]\nboot_priority = -1\n", "boot_priority" },
                { "[instance]\nname = x\n[boot]\nboot_delay = 2h\n", "boot_delay" },
                { "[instance]\nname = x\n[limits]\ncpu_weight = 20000\n", "cpu_weight" },
                { "[instance]\nname = x\n[limits]\ncpuset = 0-a\n", "cpuset" },
                { "[instance]\nname = x\n[limits]\nnofile = 10\n", "nofile" },
        };
        char path[256];
        snprintf(path, sizeof(path), "%s/bad.ini", dir);
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
                struct inst_config c;
                vs_error err = { 0 };
                write_file(path, cases[k].text);
                int r = inst_config_load(&c, path, &err);
                CHECK("bad config rejected with a clear message", r < 0 && strstr(err.msg, cases[k].expect) && !strchr(err.msg, '\n'),
                      "case %zu: r=%d msg='%s'", k, r, err.msg);
        }
        /* binary garbage */
        int fd = open(path, O_WRONLY | O_TRUNC);
        if (fd >= 0) {
                static const char junk[] = "\x00\x01\x02[instance]\x00";
                (void) write(fd, junk, sizeof(junk));
                close(fd);
        }
        struct inst_config c;
        vs_error err = { 0 };
        CHECK("binary config rejected", inst_config_load(&c, path, &err) < 0, "accepted");
}

static void daemon_settings(void) {
        char path[256];
        struct vsd_settings s;
        vs_error err = { 0 };
        snprintf(path, sizeof(path), "%s/vsd.conf", dir);
        write_file(path, "[vsd]\nroot = /srv/vsd\nsocket = /tmp/x.sock\n[cgroup]\nparent = hosting\n");
        settings_defaults(&s);
        int r = settings_load(&s, path, false, &err);
        CHECK("vsd.conf loads", r == 0 && strcmp(s.root, "/srv/vsd") == 0 && strcmp(s.cgroup_parent, "hosting") == 0 &&
                                        strcmp(s.run_dir, "/run/vsd") == 0,
              "%s", err.msg);
        write_file(path, "[vsd]\nroot = relative/path\n");
        CHECK("vsd.conf relative root rejected", settings_load(&s, path, false, &err) < 0 && strstr(err.msg, "absolute"),
              "%s", err.msg);
        write_file(path, "[cgroup]\nparent = a/b\n");
        CHECK("vsd.conf nested cgroup parent rejected", settings_load(&s, path, false, &err) < 0, "accepted");
        write_file(path, "[vsd]\nsokcet = /x\n");
        CHECK("vsd.conf typo reported", settings_load(&s, path, false, &err) < 0 && strstr(err.msg, "sokcet"), "%s", err.msg);
        settings_defaults(&s);
        CHECK("view on by default", s.view && strcmp(s.lxcfs_binary, "/usr/bin/lxcfs") == 0 && !s.lxcfs_dir[0],
              "view=%d binary=%s dir=%s", s.view, s.lxcfs_binary, s.lxcfs_dir);
        write_file(path, "[view]\nlxcfs = no\nlxcfs_binary = /opt/lxcfs/bin/lxcfs\nlxcfs_dir = /srv/lxcfs\n");
        r = settings_load(&s, path, false, &err);
        CHECK("[view] settings load", r == 0 && !s.view && strcmp(s.lxcfs_binary, "/opt/lxcfs/bin/lxcfs") == 0 &&
                                              strcmp(s.lxcfs_dir, "/srv/lxcfs") == 0,
              "%s", err.msg);
        write_file(path, "[view]\nlxcfs = maybe\n");
        CHECK("[view] lxcfs takes yes or no", settings_load(&s, path, false, &err) < 0 && strstr(err.msg, "lxcfs"), "%s",
              err.msg);
        write_file(path, "[view]\nlxcfs_dir = run/lxcfs\n");
        CHECK("[view] relative lxcfs_dir rejected", settings_load(&s, path, false, &err) < 0, "accepted");
        snprintf(path, sizeof(path), "%s/absent.conf", dir);
        CHECK("absent optional vsd.conf is fine", settings_load(&s, path, true, &err) == 0, "%s", err.msg);
        CHECK("absent explicit vsd.conf is an error", settings_load(&s, path, false, &err) < 0, "accepted");
}

/* An instance's config.ini as vsd writes it, every setting away from its
 * default: it loads, and is written back byte for byte. */
static const char written_every_setting[] =
        "# vsd instance settings; edit with `vsctl set` or by hand while stopped\n"
        "[instance]\n"
        "name = g2\n"
        "template = busybox\n"
        "\n"
        "[limits]\n"
        "memory = 256M\n"
        "cpus = 1.500\n"
        "pids = 200\n"
        "memory_soft = 64M\n"
        "swap = 32M\n"
        "cpu_weight = 300\n"
        "cpuset = 0-1,3\n"
        "io_weight = 250\n"
        "io_read_bps = 254:0=1048576\n"
        "io_write_bps = 254:0=10485760,7:0=1073741824\n"
        "io_read_iops = 254:0=500\n"
        "io_write_iops = 254:0=100\n"
        "nofile = 4096\n"
        "rlimits = core=0,memlock=4M,nproc=4096:8192\n"
        "\n"
        "[lifecycle]\n"
        "stop_timeout = 12500ms\n"
        "\n"
        "[boot]\n"
        "onboot = yes\n"
        "boot_priority = 20\n"
        "boot_delay = 1500ms\n"
        "\n"
        "[network]\n"
        "net = bridge\n"
        "ip = 10.209.152.3/24,fd7e:209:152::3/64\n"
        "forward = tcp:18080:80,udp:15353:53\n"
        "rate_in = 10mbit\n"
        "rate_out = 1gbit\n"
        "isolated = yes\n"
        "nameservers = 1.1.1.1,9.9.9.9\n"
        "\n"
        "[storage]\n"
        "backend = image\n"
        "disk = 20G\n"
        "inodes = 100000\n"
        "\n"
        "[security]\n"
        "privileged = no\n"
        "nesting = yes\n"
        "id_base = 1065536\n";

/* One written by an older vsd or by hand: no [network] or [storage], keys
 * left out, other spellings; and what vsd writes of it. */
static const char written_by_hand[] = "[instance]\nname = old\ntemplate = busybox\n[limits]\nmemory = 0\ncpus = 0.25\n"
                                      "cpu_weight = default\ncpuset = all\n[lifecycle]\nstop_timeout = 1m\n";
static const char rewritten_by_hand[] =
        "# vsd instance settings; edit with `vsctl set` or by hand while stopped\n"
        "[instance]\n"
        "name = old\n"
        "template = busybox\n"
        "\n"
        "[limits]\n"
        "memory = 0\n"
        "cpus = 0.250\n"
        "pids = 0\n"
        "memory_soft = 0\n"
        "swap = 0\n"
        "cpu_weight = 0\n"
        "cpuset = \n"
        "io_weight = 0\n"
        "io_read_bps = \n"
        "io_write_bps = \n"
        "io_read_iops = \n"
        "io_write_iops = \n"
        "nofile = 0\n"
        "rlimits = \n"
        "\n"
        "[lifecycle]\n"
        "stop_timeout = 60000ms\n"
        "\n"
        "[boot]\n"
        "onboot = auto\n"
        "boot_priority = 0\n"
        "boot_delay = 0ms\n"
        "\n"
        "[network]\n"
        "net = default\n"
        "ip = \n"
        "forward = \n"
        "rate_in = 0\n"
        "rate_out = 0\n"
        "isolated = no\n"
        "nameservers = \n"
        "\n"
        "[storage]\n"
        "backend = dir\n"
        "disk = 0\n"
        "inodes = 0\n"
        "\n"
        "[security]\n"
        "privileged = yes\n"
        "nesting = no\n"
        "id_base = 0\n";

static void rewritten_unchanged(void) {
        char path[256];
        struct inst_config c;
        vs_error err = { 0 };
        _cleanup_free_ char *text = NULL, *again = NULL;
        snprintf(path, sizeof(path), "%s/written.ini", dir);
        write_file(path, written_every_setting);
        int r = inst_config_load(&c, path, &err);
        CHECK("config.ini with every setting set loads", r == 0, "%s", err.msg);
        CHECK("config.ini with every setting set is written back byte for byte",
              r == 0 && inst_config_format(&c, &text) == 0 && streq(text, written_every_setting), "got:\n%s",
              text ? text : "NULL");

        write_file(path, written_by_hand);
        r = inst_config_load(&c, path, &err);
        CHECK("config.ini by hand loads", r == 0, "%s", err.msg);
        CHECK("config.ini by hand is written in full, as before",
              r == 0 && inst_config_format(&c, &again) == 0 && streq(again, rewritten_by_hand), "got:\n%s",
              again ? again : "NULL");
        free(text);
        text = NULL;
        write_file(path, rewritten_by_hand);
        CHECK("config.ini vsd wrote of it is written back byte for byte",
              inst_config_load(&c, path, &err) == 0 && inst_config_format(&c, &text) == 0 &&
                      streq(text, rewritten_by_hand),
              "%s", err.msg);
}

static void templates(void) {
        char path[256];
        struct vsd_settings s;
        struct template_info t;
        vs_error err = { 0 };
        settings_defaults(&s);
        CHECK("[templates] defaults", strcmp(s.tmpl_cache, "/var/cache/vsd") == 0 && strstr(s.builders, "/templates"),
              "cache=%s builders=%s", s.tmpl_cache, s.builders);
        snprintf(path, sizeof(path), "%s/vsd.conf", dir);
        write_file(path, "[templates]\nbuilders = /src/templates\ncache = /var/cache/vsd-test\n");
        int r = settings_load(&s, path, false, &err);
        CHECK("[templates] settings load",
              r == 0 && strcmp(s.builders, "/src/templates") == 0 && strcmp(s.tmpl_cache, "/var/cache/vsd-test") == 0,
              "%s", err.msg);
        write_file(path, "[templates]\ncache = cache\n");
        CHECK("[templates] relative cache rejected", settings_load(&s, path, false, &err) < 0, "accepted");

        snprintf(path, sizeof(path), "%s/templates/debian-12", dir);
        vs_mkdir_p(path, 0755);
        snprintf(path, sizeof(path), "%s/templates/debian-12/template.ini", dir);
        write_file(path, "[template]\ndescription = Debian 12\nos = debian-12\ninit = /sbin/init\nhalt_signal = SIGRTMIN+3\n");
        r = template_load(dir, "debian-12", &t, &err);
        CHECK("template.ini with os and SIGRTMIN+3",
              r == 0 && strcmp(t.os, "debian-12") == 0 && t.halt_signal == SIGRTMIN + 3, "%s", err.msg);
        write_file(path, "[template]\nos = debian-12\nflavour = x\n");
        CHECK("template.ini unknown key", template_load(dir, "debian-12", &t, &err) < 0 && strstr(err.msg, "flavour"),
              "%s", err.msg);
        CHECK("unknown template", template_load(dir, "nosuch", &t, &err) == -ENOENT, "%s", err.msg);
}

static void atomic_write(void) {
        char path[256];
        snprintf(path, sizeof(path), "%s/atomic", dir);
        CHECK("atomic write", vs_write_atomic(path, "one", 3, 0600) == 0, "failed");
        CHECK("atomic overwrite", vs_write_atomic(path, "two!", 4, 0600) == 0, "failed");
        char *text = NULL;
        size_t len = 0;
        CHECK("atomic content", vs_read_file(path, 100, &text, &len) == 0 && len == 4 && strcmp(text, "two!") == 0, "got %s",
              text ? text : "(null)");
        free(text);
        snprintf(path, sizeof(path), "%s/no/such/dir/file", dir);
        CHECK("atomic write into missing dir fails", vs_write_atomic(path, "x", 1, 0600) == -ENOENT, "unexpected");
}

/* The [storage] keys: the same parsers for config.ini, the API and vsctl. */
static void storage_keys(void) {
        char path[256];
        struct inst_config c, b;
        vs_error err = { 0 };
        inst_config_defaults(&c);
        CHECK("storage backend unset by default", c.storage.backend == STOR_UNSET, "%d", c.storage.backend);
        CHECK("unset backend is dir", stor_backend_of(c.storage.backend) == STOR_DIR, "other");
        CHECK("backend image", inst_config_set(&c, "backend", "image", &err) == 0 && c.storage.backend == STOR_IMAGE,
              "%s", err.msg);
        CHECK("backend zfs refused", inst_config_set(&c, "backend", "zfs", &err) < 0 && c.storage.backend == STOR_IMAGE &&
                                             strstr(err.msg, "unknown storage backend"),
              "%s", err.msg);
        CHECK("disk 10G", inst_config_set(&c, "disk", "10G", &err) == 0 && c.storage.disk == 10ULL << 30, "%s", err.msg);
        CHECK("disk 1.5G", inst_config_set(&c, "disk", "1.5G", &err) == 0 && c.storage.disk == 3ULL << 29, "%s", err.msg);
        static const char *const bad_sizes[] = { "12Q", "-5", "10.5.5G", "abc", "1e9", "99999999999T" };
        for (size_t k = 0; k < ELEMENTSOF(bad_sizes); k++)
                CHECK("bad disk size refused, unchanged",
                      inst_config_set(&c, "disk", bad_sizes[k], &err) < 0 && c.storage.disk == 3ULL << 29, "%s accepted",
                      bad_sizes[k]);
        CHECK("inodes 5000", inst_config_set(&c, "inodes", "5000", &err) == 0 && c.storage.inodes == 5000, "%s", err.msg);
        CHECK("inodes 10 refused", inst_config_set(&c, "inodes", "10", &err) < 0 && c.storage.inodes == 5000, "accepted");
        CHECK("inodes default", inst_config_set(&c, "inodes", "default", &err) == 0 && c.storage.inodes == 0, "%s", err.msg);
        CHECK("storage keys settable", inst_config_settable("disk") && inst_config_settable("inodes") &&
                                               inst_config_settable("backend"),
              "not settable");

        /* a config.ini without [storage] (made before backends) is dir */
        snprintf(path, sizeof(path), "%s/old.ini", dir);
        write_file(path, "[instance]\nname = old\ntemplate = busybox\n");
        CHECK("old config loads", inst_config_load(&b, path, &err) == 0, "%s", err.msg);
        CHECK("old config is dir", stor_backend_of(b.storage.backend) == STOR_DIR && b.storage.disk == 0, "backend %d",
              b.storage.backend);
        write_file(path, "[instance]\nname = x\n[storage]\nbackend = image\ndisk = 2G\nquota = 1\n");
        CHECK("unknown [storage] key refused", inst_config_load(&b, path, &err) < 0 && strstr(err.msg, "quota"), "%s",
              err.msg);

        struct vsd_settings s;
        settings_defaults(&s);
        CHECK("daemon storage defaults", s.stor.default_backend == STOR_IMAGE && s.stor.default_disk == 10ULL << 30,
              "backend %d disk %llu", s.stor.default_backend, (unsigned long long) s.stor.default_disk);
        snprintf(path, sizeof(path), "%s/vsd.conf", dir);
        write_file(path, "[storage]\ndefault_backend = dir\ndefault_disk = 20G\ndefault_inodes = 65536\ndirect_io = no\n");
        CHECK("daemon [storage] loads", settings_load(&s, path, false, &err) == 0 && s.stor.default_backend == STOR_DIR &&
                                                s.stor.default_disk == 20ULL << 30 && s.stor.default_inodes == 65536 &&
                                                !s.stor.direct_io,
              "%s", err.msg);
        write_file(path, "[storage]\ndefault_backend = lvm\n");
        CHECK("daemon unknown backend refused", settings_load(&s, path, false, &err) < 0, "accepted");
}

/* [defaults]: safe built-in limits, fitted to the host's pid_max. */
static void defaults(void) {
        char path[4096];
        vs_error err = { 0 };
        struct vsd_settings s;
        struct inst_config c;

        settings_defaults(&s);
        CHECK("defaults built in", s.defaults.memory == 512ULL << 20 && s.defaults.cpu_millis == 1000 &&
                                           s.defaults.pids == DEFAULTS_PIDS_AUTO,
              "memory %llu cpus %u", (unsigned long long) s.defaults.memory, s.defaults.cpu_millis);
        CHECK("pids default 1024 under pid_max 32768",
              settings_fit_defaults(&s, 32768, &err) == 0 && s.defaults.pids == 1024, "%s", err.msg);
        settings_defaults(&s);
        CHECK("pids default an eighth of a small pid_max",
              settings_fit_defaults(&s, 4096, &err) == 0 && s.defaults.pids == 512, "%s", err.msg);
        inst_config_defaults(&c);
        settings_apply_defaults(&s, &c);
        CHECK("defaults applied to a new instance", c.memory == 512ULL << 20 && c.cpu_millis == 1000 && c.pids == 512,
              "%llu %u %llu", (unsigned long long) c.memory, c.cpu_millis, (unsigned long long) c.pids);

        snprintf(path, sizeof(path), "%s/defaults.conf", dir);
        settings_defaults(&s);
        write_file(path, "[defaults]\nmemory = 1G\ncpus = 0.5\npids = 300\ndisk = 20G\n");
        CHECK("[defaults] loads", settings_load(&s, path, false, &err) == 0 && s.defaults.memory == 1ULL << 30 &&
                                          s.defaults.cpu_millis == 500 && s.defaults.pids == 300 &&
                                          s.stor.default_disk == 20ULL << 30 && settings_fit_defaults(&s, 32768, &err) == 0,
              "%s", err.msg);
        settings_defaults(&s);
        write_file(path, "[defaults]\nmemory = unlimited\ncpus = unlimited\n");
        CHECK("[defaults] unlimited memory and cpus", settings_load(&s, path, false, &err) == 0 &&
                                                             s.defaults.memory == 0 && s.defaults.cpu_millis == 0,
              "%s", err.msg);
        static const char *const too_many[] = { "pids = 4097", "pids = unlimited", "pids = 0" };
        for (size_t k = 0; k < ELEMENTSOF(too_many); k++) {
                settings_defaults(&s);
                char text[64];
                snprintf(text, sizeof(text), "[defaults]\n%s\n", too_many[k]);
                write_file(path, text);
                vs_err_clear(&err);
                int r = settings_load(&s, path, false, &err);
                if (r == 0)
                        r = settings_fit_defaults(&s, 32768, &err);
                CHECK("[defaults] pids above pid_max / 8 refused", r < 0 && strstr(err.msg, "pid_max 32768"), "%s: %s",
                      too_many[k], err.msg);
        }
        write_file(path, "[defaults]\nswap = 1G\n");
        CHECK("[defaults] unknown key refused", settings_load(&s, path, false, &err) < 0 && strstr(err.msg, "swap"),
              "%s", err.msg);
}

int main(void) {
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }
        round_trip();
        storage_keys();
        rlimits();
        bad_files();
        daemon_settings();
        defaults();
        templates();
        atomic_write();
        rewritten_unchanged();
        vs_rm_rf(dir);
        return CHECK_DONE();
}

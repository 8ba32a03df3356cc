/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The event bus (vsd/core/events.c) and the parsers of what the kernel says
 * about OOM kills and pids-limit hits (vsd/core/kmsg.c), on canned kernel
 * output from v1 and v2 hosts.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/util.h"
#include "vsd/core/events.h"
#include "vsd/core/kmsg.h"
#include "tests/unit/check.h"

static int wakes;
static void count_wake(struct ev_listener *l) {
        wakes++;
}

static void bus(void) {
        struct ev_bus *b = NULL;
        const struct ev_record *r = NULL;
        uint64_t cur, lost = 0;
        struct ev_filter all = { 0 }, only_a = { .instance = "a" };
        struct ev_listener l = { .wake = count_wake };

        CHECK("bus: new", ev_bus_new(3, &b) == 0, "failed");
        ev_listen(b, &l);
        cur = ev_next_seq(b);
        CHECK("bus: empty", ev_next(b, &all, &cur, &r, &lost) == 0 && cur == 1 && lost == 0, "cur %llu",
              (unsigned long long) cur);
        ev_emit(b, "a", "started", json_pack("{s:i}", "pid", 42));
        ev_emit(b, "b", "created", NULL);
        CHECK("bus: listeners woken per event", wakes == 2, "%d", wakes);
        cur = 1;
        int n = ev_next(b, &all, &cur, &r, &lost);
        json_t *j = n > 0 ? json_loadb(r->line, r->len, 0, NULL) : NULL;
        CHECK("bus: first event as one JSON line",
              n == 1 && r->seq == 1 && r->line[r->len - 1] == '\n' && json_integer_value(json_object_get(j, "pid")) == 42 &&
                      streq(json_string_value(json_object_get(j, "type")), "started") &&
                      streq(json_string_value(json_object_get(j, "instance")), "a") &&
                      json_is_string(json_object_get(j, "time")) && json_is_real(json_object_get(j, "timestamp")),
              "%d %s", n, n > 0 ? r->line : "");
        json_decref(j);
        const char *t = r->line;
        CHECK("bus: common fields first", strncmp(t, "{\"seq\":1,\"time\":\"", 17) == 0, "%s", t);
        CHECK("bus: cursor advances", cur == 2, "%llu", (unsigned long long) cur);

        /* filter */
        cur = 1;
        n = ev_next(b, &only_a, &cur, &r, &lost);
        int n2 = ev_next(b, &only_a, &cur, &r, &lost);
        CHECK("bus: filter by instance", n == 1 && n2 == 0 && cur == 3, "%d %d cur %llu", n, n2,
              (unsigned long long) cur);

        /* overwrite: ring of 3, 5 events; a reader at 1 lost 2 */
        ev_emit(b, "a", "paused", NULL);
        ev_emit(b, "a", "resumed", NULL);
        ev_emit(b, "b", "destroyed", NULL);
        cur = 1;
        n = ev_next(b, &all, &cur, &r, &lost);
        CHECK("bus: overwritten events are counted as lost", n == 1 && lost == 2 && r->seq == 3, "n %d lost %llu seq %llu",
              n, (unsigned long long) lost, n ? (unsigned long long) r->seq : 0ULL);
        CHECK("bus: backlog 2", ev_cursor_backlog(b, &all, 2) == 4, "%llu",
              (unsigned long long) ev_cursor_backlog(b, &all, 2));
        CHECK("bus: backlog of a filter", ev_cursor_backlog(b, &only_a, 2) == 3, "%llu",
              (unsigned long long) ev_cursor_backlog(b, &only_a, 2));
        CHECK("bus: backlog beyond the ring", ev_cursor_backlog(b, &all, 100) == 3, "%llu",
              (unsigned long long) ev_cursor_backlog(b, &all, 100));
        CHECK("bus: next seq", ev_next_seq(b) == 6, "%llu", (unsigned long long) ev_next_seq(b));

        ev_bus_close(b);
        CHECK("bus: close wakes and marks closed", wakes == 6 && ev_closed(b), "%d", wakes);
        ev_unlisten(b, &l);
        ev_emit(b, "a", "x", NULL);
        CHECK("bus: unlistened is not woken", wakes == 6, "%d", wakes);
        ev_bus_free(b);
        ev_emit(NULL, "a", "x", json_object()); /* no bus: a no-op, no leak */
}

static void records(void) {
        struct kmsg_record rec;
        const char *r1 = "6,1234,5678901,-;Memory cgroup out of memory: Killed process 4242 (probe)\n"
                         " SUBSYSTEM=memory\n";
        CHECK("kmsg: record", kmsg_parse_record(r1, strlen(r1), &rec) == 0 && rec.prio == 6 && rec.seq == 1234 &&
                                      rec.usec == 5678901 && rec.flags == '-' &&
                                      rec.msg_len == strlen("Memory cgroup out of memory: Killed process 4242 (probe)"),
              "len %zu", rec.msg_len);
        const char *r2 = "4,99,100,c,extra;tail";
        CHECK("kmsg: continuation flag and extra fields",
              kmsg_parse_record(r2, strlen(r2), &rec) == 0 && rec.flags == 'c' && rec.msg_len == 4, "flags %c", rec.flags);
        const char *r3 = "12,7,8;user message";
        CHECK("kmsg: no flags field", kmsg_parse_record(r3, strlen(r3), &rec) == 0 && rec.prio >> 3 == 1, "failed");
        const char *bad[] = { "no semicolon", "a,b,c;x", "6,1;x", ";x", "6,,1,-;x", "99999999999999999999,1,1,-;x" };
        for (size_t k = 0; k < ELEMENTSOF(bad); k++) {
                char name[80];
                snprintf(name, sizeof(name), "kmsg: malformed record %zu", k);
                CHECK(name, kmsg_parse_record(bad[k], strlen(bad[k]), &rec) == -EBADMSG, "%s", bad[k]);
        }
}

static void oom_lines(void) {
        struct kmsg_oom_kill k;
        /* a v1 hybrid host: memory hierarchy paths */
        const char *v1 = "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=mem1,mems_allowed=0,"
                         "oom_memcg=/vsd-test-1-2/mem1,task_memcg=/vsd-test-1-2/mem1,task=probe,pid=4242,uid=0";
        int r = kmsg_parse_oom_kill(v1, strlen(v1), &k);
        CHECK("oom-kill: v1 line", r == 1 && streq(k.constraint, "CONSTRAINT_MEMCG") &&
                                            streq(k.oom_memcg, "/vsd-test-1-2/mem1") &&
                                            streq(k.task_memcg, "/vsd-test-1-2/mem1") && streq(k.task, "probe") &&
                                            k.pid == 4242 && k.uid == 0,
              "r=%d task '%s' pid %d", r, k.task, (int) k.pid);
        /* v2: the victim in a child cgroup of the instance, a comm with a comma */
        const char *v2 = "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0-1,"
                         "oom_memcg=/vsd/web,task_memcg=/vsd/web/system.slice/x.service,task=a,pid=b,pid=77,uid=1000";
        r = kmsg_parse_oom_kill(v2, strlen(v2), &k);
        CHECK("oom-kill: v2 line, comma in the command", r == 1 && streq(k.task, "a,pid=b") && k.pid == 77 &&
                                                                 k.uid == 1000 &&
                                                                 streq(k.task_memcg, "/vsd/web/system.slice/x.service"),
              "r=%d task '%s' pid %d", r, k.task, (int) k.pid);
        /* system-wide: no oom_memcg */
        const char *glob = "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,"
                           "global_oom,task_memcg=/vsd/db,task=mysqld,pid=9,uid=0";
        r = kmsg_parse_oom_kill(glob, strlen(glob), &k);
        CHECK("oom-kill: system-wide line", r == 1 && k.oom_memcg[0] == '\0' && streq(k.task_memcg, "/vsd/db") && k.pid == 9,
              "r=%d", r);
        const char *other = "Out of memory and no killable processes...";
        CHECK("oom-kill: other line ignored", kmsg_parse_oom_kill(other, strlen(other), &k) == 0, "failed");
        const char *broken = "oom-kill:constraint=CONSTRAINT_MEMCG,task=x";
        CHECK("oom-kill: broken line refused", kmsg_parse_oom_kill(broken, strlen(broken), &k) == -EBADMSG, "failed");
        const char *badpid = "oom-kill:constraint=X,task_memcg=/a/b,task=x,pid=-1,uid=0";
        CHECK("oom-kill: bad pid refused", kmsg_parse_oom_kill(badpid, strlen(badpid), &k) == -EBADMSG, "failed");

        pid_t pid = 0;
        char comm[KMSG_COMM_MAX];
        bool memcg = false;
        const char *killed = "Memory cgroup out of memory: Killed process 4242 (probe) total-vm:206380kB, "
                             "anon-rss:65136kB, file-rss:4kB, shmem-rss:0kB, UID:0 pgtables:180kB oom_score_adj:0";
        r = kmsg_parse_killed(killed, strlen(killed), &pid, comm, sizeof(comm), &memcg);
        CHECK("killed: memcg line", r == 1 && pid == 4242 && streq(comm, "probe") && memcg, "r=%d pid %d comm '%s'", r,
              (int) pid, comm);
        const char *killed2 = "Out of memory: Killed process 12 (my) prog) total-vm:1kB";
        r = kmsg_parse_killed(killed2, strlen(killed2), &pid, comm, sizeof(comm), &memcg);
        CHECK("killed: system-wide, ') ' in the command", r == 1 && pid == 12 && streq(comm, "my) prog") && !memcg,
              "r=%d comm '%s'", r, comm);
        const char *notkill = "oom_reaper: reaped process 4242 (probe), now anon-rss:0kB";
        CHECK("killed: reaper line ignored", kmsg_parse_killed(notkill, strlen(notkill), &pid, comm, sizeof(comm), NULL) == 0,
              "failed");
        const char *badkill = "Out of memory: Killed process x (y)";
        CHECK("killed: malformed", kmsg_parse_killed(badkill, strlen(badkill), &pid, comm, sizeof(comm), NULL) == -EBADMSG,
              "failed");

        char path[KMSG_PATH_MAX];
        const char *pids = "cgroup: fork rejected by pids controller in /vsd-test-1-3/pid1";
        CHECK("pids: rejected line",
              kmsg_parse_pids_rejected(pids, strlen(pids), path, sizeof(path)) == 1 && streq(path, "/vsd-test-1-3/pid1"),
              "%s", path);
        CHECK("pids: other line", kmsg_parse_pids_rejected("cgroup: x", 9, path, sizeof(path)) == 0, "failed");
}

static void matching(void) {
        char name[VS_NAME_MAX + 1];
        CHECK("instance of our cgroup", kmsg_instance_of("/vsd/web", "vsd", name, sizeof(name)) == 0 && streq(name, "web"),
              "%s", name);
        CHECK("instance of a child cgroup",
              kmsg_instance_of("/vsd/web/system.slice", "vsd", name, sizeof(name)) == 0 && streq(name, "web"), "%s", name);
        /* another daemon's parent that shares a prefix with ours */
        CHECK("other parent with our prefix", kmsg_instance_of("/vsd-b/web", "vsd", name, sizeof(name)) == -ENOENT, "failed");
        CHECK("our parent with a longer one", kmsg_instance_of("/vsd/web", "vsd-b", name, sizeof(name)) == -ENOENT, "failed");
        CHECK("the parent itself", kmsg_instance_of("/vsd", "vsd", name, sizeof(name)) == -ENOENT, "failed");
        CHECK("the parent with a slash", kmsg_instance_of("/vsd/", "vsd", name, sizeof(name)) == -ENOENT, "failed");
        CHECK("the root", kmsg_instance_of("/", "vsd", name, sizeof(name)) == -ENOENT, "failed");

        pid_t ns = 0;
        char comm[KMSG_COMM_MAX];
        const char *status = "Name:\tprobe\nUmask:\t0022\nState:\tZ (zombie)\nTgid:\t4242\nNgid:\t0\nPid:\t4242\n"
                             "PPid:\t100\nNStgid:\t4242\t3\nNSpid:\t4242\t3\nNSpgid:\t4242\t3\n";
        CHECK("status: name and innermost pid",
              kmsg_parse_status(status, comm, sizeof(comm), &ns) == 0 && ns == 3 && streq(comm, "probe"), "%d '%s'", (int) ns,
              comm);
        const char *host = "Name:\tbash\nNSpid:\t77\n";
        CHECK("status: host process", kmsg_parse_status(host, comm, sizeof(comm), &ns) == 0 && ns == 77, "%d", (int) ns);
        CHECK("status: no NSpid", kmsg_parse_status("Name:\tx\n", comm, sizeof(comm), &ns) == -ENODATA, "failed");

        char path[KMSG_PATH_MAX];
        const char *v1 = "13:pids:/vsd/web\n12:cpu,cpuacct:/vsd/web\n5:memory:/vsd/web\n1:name=systemd:/x\n0::/vsd/web\n";
        CHECK("proc cgroup: v1 memory line",
              kmsg_parse_proc_cgroup(v1, path, sizeof(path)) == 0 && streq(path, "/vsd/web"), "%s", path);
        const char *v2 = "0::/vsd/db/init.scope\n";
        CHECK("proc cgroup: v2", kmsg_parse_proc_cgroup(v2, path, sizeof(path)) == 0 && streq(path, "/vsd/db/init.scope"),
              "%s", path);
        CHECK("proc cgroup: nothing", kmsg_parse_proc_cgroup("3:cpu:/x\n", path, sizeof(path)) == -ENODATA, "failed");
}

/* ---- the journal ---------------------------------------------------------- */

static int lines_of(const char *path) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int n = 0;
        if (vs_read_file(path, 1 << 24, &buf, &len) < 0)
                return -1;
        for (size_t k = 0; k < len; k++)
                n += buf[k] == '\n';
        return n;
}

/* A bus of capacity cap on the journal at path; NULL on failure. */
static struct ev_bus *journal_bus(size_t cap, const char *path, struct evj_load *load) {
        struct ev_bus *b = NULL;
        vs_error err = { 0 };
        if (ev_bus_new(cap, &b) < 0)
                return NULL;
        if (ev_bus_journal(b, path, load, &err) < 0) {
                printf("# %s\n", err.msg);
                ev_bus_free(b);
                return NULL;
        }
        return b;
}

/* The types of every event a reader from the start gets, space-separated,
 * and how many it was told were lost. */
static void replay(struct ev_bus *b, char *buf, size_t len, uint64_t *ret_lost) {
        struct ev_filter all = { 0 };
        const struct ev_record *r;
        uint64_t cur = ev_cursor_backlog(b, &all, UINT64_MAX), lost = 0, total = 0;
        size_t n = 0;
        buf[0] = '\0';
        while (ev_next(b, &all, &cur, &r, &lost) > 0) {
                total += lost;
                n += (size_t) snprintf(buf + n, len - n, "%s%s", n ? " " : "", r->type);
                if (n >= len)
                        break;
        }
        *ret_lost = total + lost;
}

static void journal(void) {
        char dir[] = "/tmp/vsd-evj.XXXXXX", path[64], old[80], types[512];
        struct evj_load load;
        uint64_t lost;
        if (!mkdtemp(dir)) {
                CHECK("journal: temporary directory", false, "%s", strerror(errno));
                return;
        }
        snprintf(path, sizeof(path), "%s/events.journal", dir);
        snprintf(old, sizeof(old), "%s.old", path);

        struct ev_bus *b = journal_bus(10, path, &load);
        CHECK("journal: a new one is empty", b && load.records == 0 && ev_next_seq(b) == 1, "failed");
        if (!b)
                return;
        ev_emit(b, "a", "created", NULL);
        ev_emit(b, "a", "started", json_pack("{s:i}", "pid", 7));
        ev_emit(b, "b", "created", NULL);
        ev_bus_free(b);

        /* a clean stop: the next daemon goes on */
        b = journal_bus(10, path, &load);
        CHECK("journal: seq goes on after a stop", b && ev_next_seq(b) == 4 && load.records == 3 && load.damaged == 0,
              "next %llu records %zu", b ? (unsigned long long) ev_next_seq(b) : 0ULL, load.records);
        replay(b, types, sizeof(types), &lost);
        CHECK("journal: the past is back", streq(types, "created started created") && lost == 0, "'%s' lost %llu", types,
              (unsigned long long) lost);
        ev_emit(b, "a", "stopped", NULL);

        /* a daemon killed: b is never closed; what it wrote is there */
        struct ev_bus *b2 = journal_bus(10, path, &load);
        CHECK("journal: seq goes on after a kill", b2 && ev_next_seq(b2) == 5, "next %llu",
              b2 ? (unsigned long long) ev_next_seq(b2) : 0ULL);
        ev_bus_free(b2);
        ev_bus_free(b);

        /* a torn last record and a damaged one in the middle */
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        (void) vs_read_file(path, 1 << 20, &buf, &len);
        char *second = buf ? strchr(buf, '\n') : NULL;
        if (second && second[1]) {
                /* inside the second record's JSON: its checksum fails */
                second[20] = second[20] == 'x' ? 'y' : 'x';
                (void) vs_write_replace(path, buf, len, 0600);
        }
        int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        const char torn[] = "0badc0de {\"seq\":5,\"ti";
        CHECK("journal: torn tail written", fd >= 0 && write(fd, torn, strlen(torn)) == (ssize_t) strlen(torn), "failed");
        if (fd >= 0)
                close(fd);
        b = journal_bus(10, path, &load);
        CHECK("journal: damaged and torn records skipped",
              b && load.records == 3 && load.damaged == 1 && load.torn == strlen(torn) && ev_next_seq(b) == 5,
              "records %zu damaged %zu torn %zu next %llu", load.records, load.damaged, load.torn,
              b ? (unsigned long long) ev_next_seq(b) : 0ULL);
        if (!b)
                return;
        replay(b, types, sizeof(types), &lost);
        CHECK("journal: a reader is told of the damaged one", streq(types, "created created stopped") && lost == 1,
              "'%s' lost %llu", types, (unsigned long long) lost);
        /* the torn end was cut off: the next record is not glued to it */
        ev_emit(b, "b", "started", NULL);
        ev_bus_free(b);
        b = journal_bus(10, path, &load);
        CHECK("journal: a record after a torn end survives", b && load.damaged == 1 && load.torn == 0 &&
                                                                    ev_next_seq(b) == 6,
              "damaged %zu torn %zu next %llu", load.damaged, load.torn, b ? (unsigned long long) ev_next_seq(b) : 0ULL);

        /* bounded: two segments of at most the ring's size */
        for (int k = 0; k < 47; k++)
                ev_emit(b, "c", "limits-changed", NULL);
        int cur = lines_of(path), prev = lines_of(old);
        CHECK("journal: bounded", cur >= 0 && cur < 10 && prev == 10, "current %d old %d lines", cur, prev);
        ev_bus_free(b);
        b = journal_bus(10, path, &load);
        replay(b, types, sizeof(types), &lost);
        CHECK("journal: after rotations", b && ev_next_seq(b) == 53 && load.damaged == 0 && lost == 0 &&
                                                 streq(types, "limits-changed limits-changed limits-changed limits-changed "
                                                              "limits-changed limits-changed limits-changed limits-changed "
                                                              "limits-changed limits-changed"),
              "next %llu damaged %zu lost %llu '%s'", b ? (unsigned long long) ev_next_seq(b) : 0ULL, load.damaged,
              (unsigned long long) lost, types);
        ev_bus_free(b);

        /* a rotation interrupted after its rename: no current segment
         * (here the one holding 52 is gone, so 51 was the last) */
        (void) unlink(path);
        b = journal_bus(10, path, &load);
        CHECK("journal: only the old segment", b && ev_next_seq(b) == 52 && load.records == 10,
              "next %llu records %zu", b ? (unsigned long long) ev_next_seq(b) : 0ULL, load.records);
        ev_bus_free(b);
        (void) vs_rm_rf(dir);
}

int main(void) {
        bus();
        records();
        oom_lines();
        matching();
        journal();
        return CHECK_DONE();
}

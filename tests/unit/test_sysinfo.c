/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The answer vsd gives an instance's sysinfo(2) (vsd/view/sysinfo.c), from
 * its figures, and the load average's arithmetic. */

#include <errno.h>
#include <string.h>

#include "tests/unit/check.h"
#include "vsd/view/sysinfo.h"

#define MIB (1ULL << 20)

static struct sinfo_input base(void) {
        struct sinfo_input in;
        memset(&in, 0, sizeof(in));
        in.host.mem_unit = 4096; /* a kernel that counts in pages */
        in.host.totalram = (unsigned long) (24576 * MIB / 4096);
        in.host.totalswap = (unsigned long) (1024 * MIB / 4096);
        in.host.freeswap = (unsigned long) (1000 * MIB / 4096);
        return in;
}

static void memory(void) {
        struct sinfo_input in = base();
        struct sysinfo out;
        in.memory_max = 128 * MIB;
        in.swap_max = 64 * MIB;
        in.memory_current = 20 * MIB;
        in.memory_shmem = 3 * MIB;
        in.swap_current = 4 * MIB;
        in.tasks = 7;
        sinfo_compute(&in, &out);
        CHECK("mem_unit 1", out.mem_unit == 1, "got %u", out.mem_unit);
        CHECK("totalram is the limit", out.totalram == 128 * MIB, "got %lu", out.totalram);
        CHECK("freeram is limit less usage", out.freeram == 108 * MIB, "got %lu", out.freeram);
        CHECK("sharedram is shmem", out.sharedram == 3 * MIB, "got %lu", out.sharedram);
        CHECK("bufferram 0", out.bufferram == 0, "got %lu", out.bufferram);
        CHECK("totalswap is the allowance", out.totalswap == 64 * MIB, "got %lu", out.totalswap);
        CHECK("freeswap", out.freeswap == 60 * MIB, "got %lu", out.freeswap);
        CHECK("procs", out.procs == 7, "got %u", out.procs);

        in.memory_current = 200 * MIB; /* above a lowered limit */
        sinfo_compute(&in, &out);
        CHECK("freeram never negative", out.freeram == 0, "got %lu", out.freeram);

        in.memory_max = 0;
        in.memory_current = 20 * MIB;
        sinfo_compute(&in, &out);
        CHECK("no limit: the host's ram", out.totalram == 24576 * MIB, "got %lu", out.totalram);
        CHECK("no limit: the host's swap", out.totalswap == 1024 * MIB && out.freeswap == 1000 * MIB, "got %lu/%lu",
              out.totalswap, out.freeswap);

        in.memory_max = 1ULL << 50; /* a limit above the host's memory */
        sinfo_compute(&in, &out);
        CHECK("limit above the host: the host's", out.totalram == 24576 * MIB, "got %lu", out.totalram);

        in.tasks = 100000;
        sinfo_compute(&in, &out);
        CHECK("procs saturates", out.procs == 0xffff, "got %u", out.procs);
}

static void uptime(void) {
        struct sinfo_input in = base();
        struct sysinfo out;
        in.boottime_ns = 5000ULL * 1000000000ULL;
        in.boot_offset_ns = -4990LL * 1000000000LL;
        sinfo_compute(&in, &out);
        CHECK("uptime from the namespace's zero", out.uptime == 10, "got %ld", out.uptime);
        in.boot_offset_ns -= 500000000; /* 9.5 s: rounded up, as the kernel does */
        sinfo_compute(&in, &out);
        CHECK("partial second rounded up", out.uptime == 10, "got %ld", out.uptime);
        in.boot_offset_ns = 0;
        sinfo_compute(&in, &out);
        CHECK("no time namespace: the host's", out.uptime == 5000, "got %ld", out.uptime);
}

static void loads(void) {
        uint64_t l = 0;
        for (int k = 0; k < 12; k++) /* a minute of one busy task */
                l = sinfo_calc_load(l, SINFO_EXP_1, 1);
        /* 1 - e^-1 = 0.632 */
        CHECK("1-min load after a minute of one task", l * 100 / SINFO_FIXED_1 >= 62 && l * 100 / SINFO_FIXED_1 <= 64,
              "got %llu/2048", (unsigned long long) l);
        for (int k = 0; k < 120; k++)
                l = sinfo_calc_load(l, SINFO_EXP_1, 0);
        CHECK("decays to 0 when idle", l == 0, "got %llu", (unsigned long long) l);
        struct sinfo_input in = base();
        struct sysinfo out;
        in.avenrun[0] = SINFO_FIXED_1; /* 1.00 */
        sinfo_compute(&in, &out);
        CHECK("loads in 1/65536", out.loads[0] == 65536, "got %lu", out.loads[0]);
}

static void affinity(void) {
        CHECK("uncapped", sinfo_cpus_of(0) == 0, "got %u", sinfo_cpus_of(0));
        CHECK("0.5 CPU rounds up to 1", sinfo_cpus_of(500) == 1, "got %u", sinfo_cpus_of(500));
        CHECK("1 CPU", sinfo_cpus_of(1000) == 1, "got %u", sinfo_cpus_of(1000));
        CHECK("1.5 CPUs round up to 2", sinfo_cpus_of(1500) == 2, "got %u", sinfo_cpus_of(1500));
        uint8_t m[8] = { 0xff, 0x00, 0x0f };
        CHECK("keep all", sinfo_affinity_trim(m, sizeof(m), 0) == 12 && m[0] == 0xff && m[2] == 0x0f, "got %02x %02x",
              m[0], m[2]);
        CHECK("the first 10", sinfo_affinity_trim(m, sizeof(m), 10) == 10 && m[0] == 0xff && m[2] == 0x03,
              "got %02x %02x", m[0], m[2]);
        uint8_t c[8] = { 0x0a }; /* a cpuset of CPUs 1 and 3 */
        CHECK("the first of a cpuset", sinfo_affinity_trim(c, sizeof(c), 1) == 1 && c[0] == 0x02, "got %02x", c[0]);
        uint8_t z[8] = { 0x01 };
        CHECK("fewer than the cap", sinfo_affinity_trim(z, sizeof(z), 4) == 1 && z[0] == 0x01, "got %02x", z[0]);
}

static void loadavg(void) {
        uint64_t a[3] = { SINFO_FIXED_1 + SINFO_FIXED_1 / 4, 0, 3 * SINFO_FIXED_1 }, b[3];
        struct sinfo_sample smp = { .running = 2, .total = 17, .last_pid = 42 };
        char text[128];
        sinfo_loadavg_text(a, &smp, text, sizeof(text));
        CHECK("loadavg line", strcmp(text, "1.25 0.00 3.00 2/17 42\n") == 0, "got '%s'", text);
        CHECK("parsed back", sinfo_loadavg_parse(text, b) == 0 && b[0] == a[0] && b[1] == 0 && b[2] == a[2],
              "got %llu %llu %llu", (unsigned long long) b[0], (unsigned long long) b[1], (unsigned long long) b[2]);
        CHECK("garbage refused", sinfo_loadavg_parse("x", b) < 0, "parsed");
}

static void online(void) {
        char t[64];
        CHECK("uncapped: the host's", sinfo_online_text("0-3\n", "", 0, t, sizeof(t)) == 0 && strcmp(t, "0-3\n") == 0,
              "got '%s'", t);
        CHECK("0.5 CPU", sinfo_online_text("0-3\n", "", 500, t, sizeof(t)) == 0 && strcmp(t, "0\n") == 0, "got '%s'", t);
        CHECK("2.5 CPUs", sinfo_online_text("0-3\n", "", 2500, t, sizeof(t)) == 0 && strcmp(t, "0-2\n") == 0, "got '%s'",
              t);
        CHECK("a cpuset", sinfo_online_text("0-3\n", "1,3", 0, t, sizeof(t)) == 0 && strcmp(t, "1,3\n") == 0, "got '%s'",
              t);
        CHECK("a cpuset and a cap", sinfo_online_text("0-3\n", "1-3", 1000, t, sizeof(t)) == 0 && strcmp(t, "1\n") == 0,
              "got '%s'", t);
        CHECK("a cpuset of offline CPUs: the host's",
              sinfo_online_text("0-1\n", "7", 0, t, sizeof(t)) == 0 && strcmp(t, "0-1\n") == 0, "got '%s'", t);
}

/* /proc/stat on pure cgroup v2: the instance's CPU time over the CPUs it
 * sees, the host's per-CPU and per-IRQ lists gone. */
static void stat_file(void) {
        static const char host[] = "cpu  900 10 300 50000 20 0 5 0 0 0\n"
                                   "cpu0 450 5 150 25000 10 0 3 0 0 0\n"
                                   "cpu1 450 5 150 25000 10 0 2 0 0 0\n"
                                   "intr 123456 0 9 0 0 17\n"
                                   "ctxt 777\n"
                                   "btime 1700000000\n"
                                   "processes 4242\n"
                                   "procs_running 9\n"
                                   "procs_blocked 3\n"
                                   "softirq 5555 1 2 3\n";
        /* 1.01 s user, 0.50 s system, 10 s since init started, 1 CPU seen */
        struct sinfo_cpu_times t = { .user_ns = 1010000000ULL, .system_ns = 500000000ULL, .elapsed_ns = 10000000000ULL,
                                     .ncpu = 1, .running = 2, .blocked = 1 };
        char buf[1024];
        CHECK("one CPU", sinfo_stat_text(host, &t, buf, sizeof(buf)) == 0, "failed");
        CHECK("one CPU: the lines", strcmp(buf, "cpu  101 0 50 849 0 0 0 0 0 0\n"
                                                "cpu0 101 0 50 849 0 0 0 0 0 0\n"
                                                "intr 123456\n"
                                                "ctxt 777\n"
                                                "btime 1700000000\n"
                                                "processes 4242\n"
                                                "procs_running 2\n"
                                                "procs_blocked 1\n"
                                                "softirq 5555\n") == 0,
              "got '%s'", buf);
        /* 3 CPUs: shares add up to the total, the remainder on the first */
        t.ncpu = 3;
        CHECK("three CPUs", sinfo_stat_text(host, &t, buf, sizeof(buf)) == 0, "failed");
        CHECK("three CPUs: the total", strncmp(buf, "cpu  101 0 50 2849 0 0 0 0 0 0\ncpu0 34 0 17 950 ", 47) == 0,
              "got '%s'", buf);
        CHECK("three CPUs: the last", strstr(buf, "\ncpu2 33 0 16 949 0 0 0 0 0 0\n") != NULL, "got '%s'", buf);
        CHECK("three CPUs: no cpu3", strstr(buf, "cpu3") == NULL, "got '%s'", buf);
        /* more time used than elapsed (a restart's counter): idle 0 */
        t.ncpu = 1;
        t.elapsed_ns = 1000000000ULL;
        CHECK("idle never negative", sinfo_stat_text(host, &t, buf, sizeof(buf)) == 0 &&
                                             strncmp(buf, "cpu  101 0 50 0 ", 16) == 0,
              "got '%s'", buf);
        CHECK("too small a buffer", sinfo_stat_text(host, &t, buf, 40) == -ENOSPC, "not refused");
}

int main(void) {
        memory();
        stat_file();
        affinity();
        loadavg();
        online();
        uptime();
        loads();
        return CHECK_DONE();
}

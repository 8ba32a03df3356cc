/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Parsers for what the kernel tells about OOM kills and pids-limit hits:
 * /dev/kmsg records, the OOM killer's lines, /proc/PID/status and
 * /proc/PID/cgroup.  Pure functions over text, no I/O: vsd/core/monitor.c reads,
 * tests/unit/test_events.c feeds them canned kernel output.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One /dev/kmsg record: "PRIO,SEQ,USEC,FLAGS[,...];MESSAGE\n" followed by
 * optional dictionary lines (" KEY=VALUE\n").  msg points into the buffer
 * and is not NUL-terminated. */
struct kmsg_record {
        unsigned prio;  /* facility << 3 | level */
        uint64_t seq;
        uint64_t usec;  /* since boot */
        char flags;     /* '-', or 'c' / '+' for a continuation (old kernels) */
        const char *msg;
        size_t msg_len;
};

/* 0 and *ret filled, or -EBADMSG. */
int kmsg_parse_record(const char *buf, size_t len, struct kmsg_record *ret);

#define KMSG_COMM_MAX 64
#define KMSG_PATH_MAX 512

/* The OOM killer's summary line (mm/oom_kill.c, dump_oom_victim()):
 * "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=x,
 *  mems_allowed=0,oom_memcg=/a/b,task_memcg=/a/b,task=NAME,pid=N,uid=N".
 * oom_memcg is absent for a system-wide OOM. */
struct kmsg_oom_kill {
        char constraint[32]; /* "CONSTRAINT_MEMCG", "CONSTRAINT_NONE", ... */
        char oom_memcg[KMSG_PATH_MAX]; /* "" when absent */
        char task_memcg[KMSG_PATH_MAX];
        char task[KMSG_COMM_MAX];
        pid_t pid;
        uid_t uid;
};

/* 1 and *ret filled for such a line, 0 for any other line, -EBADMSG for
 * one that starts like it but does not parse. */
int kmsg_parse_oom_kill(const char *msg, size_t len, struct kmsg_oom_kill *ret);

/* The kill itself (__oom_kill_process()), printed even when the summary
 * above is rate-limited away:
 * "Memory cgroup out of memory: Killed process N (COMM) total-vm:..."
 * "Out of memory: Killed process N (COMM) ..." (system-wide).
 * 1 with pid and comm, 0 for any other line, -EBADMSG when malformed.
 * *ret_memcg_oom tells the first kind from the second. */
int kmsg_parse_killed(const char *msg, size_t len, pid_t *ret_pid, char *comm, size_t comm_len, bool *ret_memcg_oom);

/* "cgroup: fork rejected by pids controller in /a/b" (kernel/cgroup/pids.c,
 * printed the first time a cgroup hits its limit).  1 with the path. */
int kmsg_parse_pids_rejected(const char *msg, size_t len, char *path, size_t path_len);

/* The instance a cgroup path belongs to: "/<parent>/<name>[/...]" gives
 * name.  0 on a match, -ENOENT for a path outside parent. */
int kmsg_instance_of(const char *path, const char *parent, char *name, size_t name_len);

/* /proc/PID/status: the name and the pid in the innermost pid namespace
 * (last field of "NSpid:").  0, or -ENODATA when a field is missing. */
int kmsg_parse_status(const char *text, char *name, size_t name_len, pid_t *ret_nspid);

/* /proc/PID/cgroup: the memory cgroup's path ("N:memory:/a/b" on v1, or
 * "0::/a/b" when there is no v1 memory line).  0, or -ENODATA. */
int kmsg_parse_proc_cgroup(const char *text, char *path, size_t path_len);

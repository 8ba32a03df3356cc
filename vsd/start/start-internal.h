/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The child of start_spawn() and start_join() between its clone and its
 * exec: what it works with (struct child, filled by the parent before the
 * clone, start.c) and its checklists (child.c).
 *
 * Everything in child.c runs in that child and nowhere else.  It may share
 * the daemon's memory (CLONE_VM, start.c says when): it allocates nothing
 * on the heap, writes no global, and reaches nothing of the instance
 * registry or the API.  tests/check-deps checks child.o, and every
 * function of the daemon's objects that it calls, for both
 * (doc/architecture.md, "Rooms").
 */

#include <stdbool.h>
#include <time.h>

#include "base/error.h"
#include "vsd/start/mount.h"
#include "vsd/start/start.h"
#include "vsd/start/sync.h"
#include "vsd/view/view.h"

/* The most fds a child keeps from the daemon's table (child_keep). */
#define CHILD_KEEP_MAX (8 + VIEW_N_FILES + VIEW_N_OWN)

/* What the child works with; everything it needs was prepared before clone. */
struct child {
        const struct start_spec *spec; /* start_spawn */
        const struct join_spec *join;  /* start_join */
        int sync_fd;
        int rootfd;
        int pty_slave; /* start_join with tty: the slave of step_join_pty's pty */
        int keep[CHILD_KEEP_MAX];      /* the daemon's fds it needs (sync_fd among them) */
        unsigned n_keep;
        int time_ns_fd; /* start_join: the instance's time namespace, or -EBADF */
        int listener;   /* the seccomp filter's listener, until handed to vsd */
        int console_tree; /* the console's mount, between step_dev_console and step_console_mount */
        int node_trees[MNT_NODES_MAX]; /* the device nodes' mounts, between step_dev and step_dev_nodes */
        /* The parent's CLOCK_MONOTONIC and CLOCK_BOOTTIME just before the
         * clone: the zero of the instance's clocks (step_time_ns). */
        struct timespec clone_monotonic, clone_boottime;
        vs_error err; /* message only: the parent adds stage and errno text */
};


/* The overlay's part of a start_spec. */
static inline struct mnt_root start_mnt_root(const struct start_spec *spec) {
        return (struct mnt_root){
                .lower = spec->lower,
                .upper = spec->upper,
                .work = spec->work,
                .rootfs = spec->rootfs,
                .layer_fd = spec->layer_fd,
                .layer_at = spec->layer_at,
        };
}

/* The child's whole life: its checklist, top to bottom, then exec or
 * _exit().  Never returns into the daemon's code. */
_Noreturn void child_run_spawn(struct child *c);
_Noreturn void child_run_join(struct child *c);

/* child_run_spawn() for clone(2): arg is the struct child. */
int child_spawn_entry(void *arg);

/* The test hook (start_test_stall_set(), start.c): stop for good at stage
 * when VSD_TEST_STALL names it.  Async-signal-safe; the child calls it. */
void start_stall_at(enum sync_stage stage);

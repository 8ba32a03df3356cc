/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The daemon's context: one per vsd process, passed everywhere instead of
 * globals so that tests can run several in one process. */

#include <stdbool.h>
#include <stddef.h>

#include "vsd/core/kernel.h"
#include "vsd/conf/settings.h"

struct loop;
struct cg_manager;
struct api;
struct instance;
struct lxcfs;
struct sinfo;
struct hold;
struct ev_bus;
struct monitor;
struct netw;
struct stor;
struct tmpl_build;
struct work;
struct op;
struct health_entry;
struct boot;

struct vsd {
        struct vsd_settings set;
        struct loop *loop;
        struct cg_manager *cg;
        struct api *api;
        struct lxcfs *lxcfs; /* the view's filesystem, shared by every instance */
        struct sinfo *sinfo; /* sysinfo(2) answered for instances (vsd/view/sysinfo.h) */
        struct hold *hold;   /* the listeners' copies across daemon restarts (vsd/view/holder.h) */
        struct kern_features kern; /* what this kernel can do (kernel.h), probed at start */
        bool criu_uffd;         /* criu check --feature uffd-noncoop passed at start (pages.h; asked only when
                                 * [migrate] postcopy is on) */
        struct ev_bus *events;  /* what happened, for `vsctl events` */
        struct monitor *mon;    /* OOM kills and pids-limit hits */
        struct netw *net;       /* rtnetlink and the firewall (network.c) */
        struct tmpl_build *builds; /* template builds running (templates.c) */
        bool tmpl_fill_running;    /* the helper filling the templates' caches runs (templates.c) */
        bool tmpl_fill_again;      /* and is to run once more when it ends */
        struct work *works;        /* helpers running long work (work.c) */
        struct op *ops;            /* long work as clients see it, oldest first (ops.c) */
        struct health_entry *health; /* subsystems running degraded (health.c) */
        struct stor *stor;         /* storage's records (storage.h) */
        struct boot *boot;         /* the instances being started after a reboot (vsd/inst/boot.h) */
        bool boot_new;             /* the first daemon of this boot of the host (boot_is_new()) */
        struct instance **inst; /* sorted by name */
        size_t n_inst;
        size_t cap_inst;
};

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The API's handlers: one function per endpoint, routed by a table. */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/parse.h"
#include "base/proto.h"
#include "base/util.h"
#include "cgroups/cgroup.h"
#include "vsd/api/api-internal.h"
#include "vsd/core/daemon.h"
#include "vsd/core/events.h"
#include "vsd/core/health.h"
#include "vsd/core/ops.h"
#include "vsd/inst/checkpoint.h"
#include "vsd/inst/migrate.h"
#include "vsd/inst/pages.h"
#include "vsd/inst/snapshot.h"
#include "vsd/inst/templates.h"
#include "vsd/inst/tmplsend.h"
#include "vsd/inst/transfer.h"
#include "vsd/netw/network.h"
#include "vsd/storage/storage.h"

/* ---- JSON views -------------------------------------------------------- */

/* Fields of an instance's view that are no setting: its state and its
 * link.  Each goes after the settings of its group (enum inst_view_group);
 * a NULL value is left out where optional, else a failure (ENOMEM). */
static json_t *view_state(struct instance *i) {
        return json_string(inst_state_name(i->state));
}

static json_t *view_pid(struct instance *i) {
        return json_integer((int) i->pid);
}

static json_t *view_started_at(struct instance *i) {
        return json_integer((json_int_t) i->started_at);
}

static json_t *view_error(struct instance *i) {
        return i->state == INST_BROKEN ? json_string(i->error) : NULL;
}

/* "" when the instance has no link */
static json_t *view_mac(struct instance *i) {
        char mac[NET_MAC_STRLEN] = "";
        if (netw_has_link(&i->cfg)) {
                uint8_t m[NET_MAC_LEN];
                netw_mac(i->cfg.name, m);
                net_mac_format(m, mac);
        }
        return json_string(mac);
}

static json_t *view_host_link(struct instance *i) {
        char link[16] = "";
        if (netw_has_link(&i->cfg))
                netw_host_ifname(i->vsd, i->cfg.name, link);
        return json_string(link);
}

/* "FIRST-LAST" of an unprivileged instance's host ids; "" when privileged */
static json_t *view_id_range(struct instance *i) {
        char range[48] = "";
        if (!inst_privileged(i->cfg.security.privileged))
                snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long) i->cfg.security.id_base,
                         (unsigned long long) (i->cfg.security.id_base + INST_ID_COUNT - 1));
        return json_string(range);
}

/* {"taken", "leave_running", "bytes"} of its checkpoint; left out without one */
static json_t *view_checkpoint(struct instance *i) {
        return ckpt_json(i);
}

/* true while it is a move's copy that never ran here (INST_INCOMING: a
 * post-copy's source asks, mig_recover); left out otherwise */
static json_t *view_incoming(struct instance *i) {
        return inst_incoming(i) ? json_true() : NULL;
}

static const struct {
        const char *name;
        enum inst_view_group group;
        json_t *(*value)(struct instance *i);
        bool optional;
} view_extra[] = {
        { "state", VIEW_ID, view_state, false },
        { "pid", VIEW_ID, view_pid, false },
        { "started_at", VIEW_ID, view_started_at, false },
        { "error", VIEW_CORE, view_error, true },
        { "mac", VIEW_NET, view_mac, false },
        { "host_link", VIEW_NET, view_host_link, false },
        { "id_range", VIEW_SECURITY, view_id_range, false },
        { "checkpoint", VIEW_ID, view_checkpoint, true },
        { "incoming", VIEW_ID, view_incoming, true },
};

/* A subset of the view, parsed from "a,b,c"; all of it without a list.
 * Bit k of settings: inst_settings[k]; of extra: view_extra[k]. */
struct view_filter {
        bool all;
        uint64_t settings, extra;
};

static int view_filter_parse(const char *list, struct view_filter *f, vs_error *err) {
        *f = (struct view_filter) { .all = !list };
        if (!list)
                return 0;
        _cleanup_free_ char *copy = strdup(list);
        if (!copy)
                return vs_err(err, ENOMEM, "fields");
        size_t n = 0;
        for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                size_t k = 0;
                while (k < inst_settings_n && !streq(inst_settings[k].json, t))
                        k++;
                if (k < inst_settings_n) {
                        f->settings |= UINT64_C(1) << k;
                } else {
                        k = 0;
                        while (k < ELEMENTSOF(view_extra) && !streq(view_extra[k].name, t))
                                k++;
                        if (k == ELEMENTSOF(view_extra))
                                return vs_err_msg(err, EINVAL, "unknown field '%.40s' in 'fields'", t);
                        f->extra |= UINT64_C(1) << k;
                }
                n++;
        }
        if (n == 0)
                return vs_err_msg(err, EINVAL, "'fields' names no field");
        return 0;
}

/* The view, group by group: a list of a thousand instances for a table
 * builds only the fields it asked for. */
static json_t *instance_view(struct instance *i, const struct view_filter *f) {
        _Static_assert(ELEMENTSOF(view_extra) <= 64, "view_filter's masks");
        json_t *j = json_object();
        for (int g = 0; j && g < _VIEW_MAX; g++) {
                for (size_t k = 0; k < inst_settings_n; k++) {
                        const struct inst_setting *s = &inst_settings[k];
                        if (s->view != (enum inst_view_group) g || (!f->all && !(f->settings & (UINT64_C(1) << k))))
                                continue;
                        if (json_object_set_new(j, s->json, inst_setting_json(s, &i->cfg)) < 0)
                                goto fail;
                }
                for (size_t k = 0; k < ELEMENTSOF(view_extra); k++) {
                        if (view_extra[k].group != (enum inst_view_group) g ||
                            (!f->all && !(f->extra & (UINT64_C(1) << k))))
                                continue;
                        json_t *v = view_extra[k].value(i);
                        if (!v && view_extra[k].optional)
                                continue;
                        if (json_object_set_new(j, view_extra[k].name, v) < 0)
                                goto fail;
                }
        }
        return j;
fail:
        json_decref(j);
        return NULL;
}

json_t *routes_instance_json(struct instance *i) {
        return instance_view(i, &(struct view_filter) { .all = true });
}

/* The throttles in effect, one object per device (vsd wrote them on start
 * and on every live change). */
static json_t *throttles_json(const struct inst_io_limits *io) {
        json_t *arr = json_array();
        for (unsigned k = 0; arr && k < io->n; k++) {
                const struct cg_io_throttle *t = &io->dev[k];
                char dev[32];
                snprintf(dev, sizeof(dev), "%u:%u", t->major, t->minor);
                json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I, s:I}", "device", dev, "read_bps",
                                                     (json_int_t) t->rbps, "write_bps", (json_int_t) t->wbps,
                                                     "read_iops", (json_int_t) t->riops, "write_iops",
                                                     (json_int_t) t->wiops));
        }
        return arr;
}

/* Per limit: what is used, the limit, and how often it was hit.  Counters
 * and values in effect come from the kernel (cg_stats); the limits are the
 * instance's settings, which vsd wrote to the kernel.  Field names of the
 * first version are kept (memory.limit, pids.limit, cpu.limit, ...). */
static json_t *stats_json(struct instance *i, vs_error *err) {
        struct inst_stats s;
        if (inst_stats(i, &s, err) < 0)
                return NULL;
        const struct inst_config *c = &i->cfg;
        const struct cg_stats st = s.cg;
        _cleanup_free_ char *rl = rlimits_format(&c->rlimits);
        json_t *memory = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                                   "usage", (json_int_t) st.memory_current, "peak", (json_int_t) st.memory_peak,
                                   "limit", (json_int_t) c->memory, "failcnt", (json_int_t) st.memory_failcnt,
                                   "oom_kills", (json_int_t) st.oom_kills, "rss", (json_int_t) st.memory_rss,
                                   "cache", (json_int_t) st.memory_cache, "soft_limit", (json_int_t) c->memory_soft,
                                   "soft_events", (json_int_t) st.memory_high_events, "swap",
                                   (json_int_t) st.swap_current, "swap_limit", (json_int_t) c->swap);
        json_t *cpu = json_pack("{s:I, s:f, s:i, s:s, s:I, s:I, s:I}", "usage_ns", (json_int_t) st.cpu_usage_ns,
                                "limit", c->cpu_millis / 1000.0, "weight", c->cpu_weight ? (int) c->cpu_weight : 100,
                                "cpuset", c->cpuset[0] ? c->cpuset : "all", "nr_periods",
                                (json_int_t) st.cpu_nr_periods, "nr_throttled", (json_int_t) st.cpu_nr_throttled,
                                "throttled_ns", (json_int_t) st.cpu_throttled_ns);
        json_t *pids = json_pack("{s:I, s:I, s:I}", "current", (json_int_t) st.pids_current, "limit",
                                 (json_int_t) c->pids, "failcnt", (json_int_t) st.pids_failcnt);
        json_t *io = json_pack("{s:I, s:I, s:I, s:I, s:i, s:o}", "read_bytes", (json_int_t) st.io_rbytes,
                               "write_bytes", (json_int_t) st.io_wbytes, "read_ios", (json_int_t) st.io_rios,
                               "write_ios", (json_int_t) st.io_wios, "weight",
                               c->io_weight ? (int) c->io_weight : 100, "throttles", throttles_json(&c->io));
        json_t *files = json_pack("{s:I}", "limit", (json_int_t) (c->nofile ? c->nofile : 1024));
        const struct nl_link_stats ns = s.net;
        json_t *net = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "mode",
                                inst_net_mode_name(inst_net_mode_of(c->net.mode)),
                                "rx_bytes", (json_int_t) ns.rx_bytes, "rx_packets", (json_int_t) ns.rx_packets,
                                "tx_bytes", (json_int_t) ns.tx_bytes, "tx_packets", (json_int_t) ns.tx_packets,
                                "rx_dropped", (json_int_t) ns.rx_dropped, "tx_dropped", (json_int_t) ns.tx_dropped,
                                "rate_in", (json_int_t) c->net.rate_in, "rate_out", (json_int_t) c->net.rate_out);
        const struct stor_usage su = s.disk;
        json_t *disk = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:b}", "backend",
                                 stor_backend_name(stor_backend_of(c->storage.backend)), "used", (json_int_t) su.bytes_used,
                                 "limit", (json_int_t) (su.attached ? su.bytes_limit : c->storage.disk), "inodes_used",
                                 (json_int_t) su.inodes_used, "inodes_limit",
                                 (json_int_t) (su.attached ? su.inodes_limit : c->storage.inodes), "host_bytes",
                                 (json_int_t) su.host_bytes, "mounted", su.attached);
        if (!memory || !cpu || !pids || !io || !files || !rl || !net || !disk) {
                json_decref(disk);
                json_decref(net);
                json_decref(memory);
                json_decref(cpu);
                json_decref(pids);
                json_decref(io);
                json_decref(files);
                vs_err(err, ENOMEM, "statistics of %s", c->name);
                return NULL;
        }
        return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o}", "name", c->name, "state",
                         inst_state_name(i->state), "memory", memory, "cpu", cpu, "pids", pids, "io", io, "nofile",
                         files, "rlimits", rl, "net", net, "disk", disk);
}

/* ---- request bodies ---------------------------------------------------- */

static int parse_body(const char *body, size_t len, bool required, json_t **ret, vs_error *err) {
        if (len == 0 && !required) {
                *ret = json_object();
                return 0;
        }
        json_error_t jerr;
        json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j)
                return vs_err_msg(err, EINVAL, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column,
                                  jerr.text);
        if (!json_is_object(j)) {
                json_decref(j);
                return vs_err_msg(err, EINVAL, "request body must be a JSON object");
        }
        *ret = j;
        return 0;
}

/* Every top-level field is a known one: a settable instance key (the
 * config.ini names) or one of extra. */
static int reject_unknown(json_t *obj, const char *const *extra, bool settings, vs_error *err) {
        const char *key;
        json_t *val;
        json_object_foreach(obj, key, val) {
                bool ok = settings && inst_config_settable(key);
                for (const char *const *k = extra; !ok && *k; k++)
                        ok = streq(*k, key);
                if (!ok)
                        return vs_err_msg(err, EINVAL, "unknown field '%.40s'", key);
        }
        return 0;
}

/* Apply the settings present in obj onto cfg, through the settings table
 * (config.ini's parsers). */
static int apply_limits(json_t *obj, struct inst_config *cfg, vs_error *err) {
        const char *key;
        json_t *v;
        json_object_foreach(obj, key, v) {
                const struct inst_setting *s = inst_setting_find(key);
                if (!s || s->apply == APPLY_NEVER)
                        continue;
                if (inst_setting_from_json(s, cfg, v, err) < 0)
                        return -EINVAL;
        }
        return 0;
}

/* ---- handlers ---------------------------------------------------------- */

struct ctx {
        struct request *rq;
        struct vsd *v;
        const char *name; /* instance or template name from the path, or NULL */
        const char *sub;  /* P_ITEM: the item's name (a snapshot) */
        const char *body;
        size_t len;
};

static void reply_instance(struct ctx *c, unsigned status, struct instance *i) {
        api_reply_json(c->rq, status, routes_instance_json(i));
}

/* The instance, with a note for the client when there is one. */
static void reply_instance_warn(struct ctx *c, unsigned status, struct instance *i, const vs_error *warn) {
        json_t *j = routes_instance_json(i);
        if (j && warn->msg[0])
                json_object_set_new(j, "warning", json_string(warn->msg));
        api_reply_json(c->rq, status, j);
}

static void get_version(struct ctx *c) {
        static const char *const features[] = VS_FEATURES;
        json_t *f = json_array();
        for (size_t k = 0; f && k < ELEMENTSOF(features); k++)
                json_array_append_new(f, json_string(features[k]));
        /* a post-copy move's target: only while this host allows and can */
        if (f && pages_postcopy_possible(c->v))
                json_array_append_new(f, json_string(VS_FEATURE_RECEIVE_LAZY_PAGES));
        api_reply_json(c->rq, 200,
                       json_pack("{s:s, s:i, s:s, s:o, s:o*}", "version", VS_VERSION, "api", 1, "cgroup",
                                 cg_manager_mode(c->v->cg), "degraded", health_json(c->v), "features", f));
}

static void get_templates(struct ctx *c) {
        api_reply_json(c->rq, 200, tmpl_list_json(c->v));
}

static void get_template(struct ctx *c) {
        vs_error err = { 0 };
        json_t *j = tmpl_json(c->v, c->name, &err);
        if (!j)
                api_reply_error(c->rq, &err);
        else
                api_reply_json(c->rq, 200, j);
}

static void delete_template(struct ctx *c) {
        vs_error err = { 0 };
        if (tmpl_remove(c->v, c->name, &err) < 0)
                api_reply_error(c->rq, &err);
        else
                api_reply_json(c->rq, 200, json_object());
}

static int query_bool(const char *key, const char *v, bool *ret, vs_error *err);

/* ?detach=1 on a long request: answered 202 with its operation at once. */
static int detach_query(struct ctx *c, bool *ret, vs_error *err) {
        static const char *const known[] = { "detach", NULL };
        const char *d = api_query(c->rq, "detach");
        *ret = false;
        if (api_query_check(c->rq, known, err) < 0)
                return -EINVAL;
        return d ? query_bool("detach", d, ret, err) : 0;
}

static void reply_op(struct ctx *c, struct op *op) {
        api_reply_json(c->rq, 202, op_json(op));
}

/* Body (optional): {"builder": "debian"}.  Refusals are plain errors; once
 * the builder runs, the answer is its progress (api_stream_build), or with
 * ?detach=1 its operation. */
static void post_template_build(struct ctx *c) {
        static const char *const known[] = { "builder", NULL };
        vs_error err = { 0 };
        json_t *obj = NULL;
        struct tmpl_build *b;
        bool detach;
        if (detach_query(c, &detach, &err) < 0)
                goto fail;
        if (parse_body(c->body, c->len, false, &obj, &err) < 0 || reject_unknown(obj, known, false, &err) < 0)
                goto fail;
        json_t *builder = json_object_get(obj, "builder");
        if (builder && !json_is_string(builder)) {
                vs_err_msg(&err, EINVAL, "field 'builder' must be a string");
                goto fail;
        }
        if (tmpl_build_start(c->v, c->name, builder ? json_string_value(builder) : NULL, &b, &err) < 0)
                goto fail;
        json_decref(obj);
        if (detach && tmpl_build_op(b)) {
                reply_op(c, tmpl_build_op(b));
                tmpl_build_detach(b);
                return;
        }
        api_stream_build(c->rq, b);
        return;
fail:
        json_decref(obj);
        api_reply_error(c->rq, &err);
}

/* ?fields=name,state,...: only those fields of each instance. */
static void list_instances(struct ctx *c) {
        static const char *const known[] = { "fields", NULL };
        vs_error err = { 0 };
        struct view_filter f;
        if (api_query_check(c->rq, known, &err) < 0 || view_filter_parse(api_query(c->rq, "fields"), &f, &err) < 0) {
                api_reply_error(c->rq, &err);
                return;
        }
        json_t *arr = json_array();
        for (size_t k = 0; arr && k < c->v->n_inst; k++)
                json_array_append_new(arr, instance_view(c->v->inst[k], &f));
        api_reply_json(c->rq, 200, arr);
}

int routes_create_body(const char *body, size_t len, struct inst_config *cfg, bool *ret_start, vs_error *err) {
        static const char *const known[] = { "name", "template", "start", NULL };
        json_t *obj = NULL;
        int r = parse_body(body, len, true, &obj, err);
        if (r < 0)
                return r;
        r = reject_unknown(obj, known, true, err);
        if (r < 0)
                goto out;
        json_t *name = json_object_get(obj, "name");
        if (!json_is_string(name)) {
                r = vs_err_msg(err, EINVAL, "field 'name' (a string) is required");
                goto out;
        }
        r = vs_name_check("instance", json_string_value(name), err);
        if (r < 0)
                goto out;
        snprintf(cfg->name, sizeof(cfg->name), "%s", json_string_value(name));
        json_t *tmpl = json_object_get(obj, "template");
        if (tmpl) {
                if (!json_is_string(tmpl)) {
                        r = vs_err_msg(err, EINVAL, "field 'template' must be a string");
                        goto out;
                }
                r = vs_name_check("template", json_string_value(tmpl), err);
                if (r < 0)
                        goto out;
                snprintf(cfg->template_name, sizeof(cfg->template_name), "%s", json_string_value(tmpl));
        }
        json_t *start = json_object_get(obj, "start");
        if (start && !json_is_boolean(start)) {
                r = vs_err_msg(err, EINVAL, "field 'start' must be true or false");
                goto out;
        }
        r = apply_limits(obj, cfg, err);
        if (r < 0)
                goto out;
        *ret_start = json_is_true(start);
out:
        json_decref(obj);
        return r < 0 ? r : 0;
}

static void create_instance(struct ctx *c) {
        vs_error err = { 0 }, warn = { 0 };
        struct inst_config cfg;
        struct instance *i;
        bool start;

        inst_config_defaults(&cfg);
        /* the daemon's [defaults], then the request's own on top: an
         * explicit "unlimited" is the request's choice */
        settings_apply_defaults(&c->v->set, &cfg);
        if (routes_create_body(c->body, c->len, &cfg, &start, &err) < 0 ||
            inst_create(c->v, &cfg, &i, &warn, &err) < 0) {
                api_reply_error(c->rq, &err);
                return;
        }
        if (start && inst_start(i, &err) < 0) {
                /* created but not started: say so, keep the instance */
                vs_err_prefix(&err, "created '%s' but", cfg.name);
                api_reply_error(c->rq, &err);
                return;
        }
        reply_instance_warn(c, 201, i, &warn);
}

static int lookup(struct ctx *c, struct instance **ret) {
        vs_error err = { 0 };
        if (inst_lookup(c->v, c->name, ret, &err) < 0) {
                api_reply_error(c->rq, &err);
                return -1;
        }
        return 0;
}

static void get_instance(struct ctx *c) {
        struct instance *i;
        if (lookup(c, &i) == 0)
                reply_instance(c, 200, i);
}

int routes_patch_body(const char *body, size_t len, struct inst_config *cfg, vs_error *err) {
        static const char *const none[] = { NULL };
        json_t *obj = NULL;
        int r = parse_body(body, len, true, &obj, err);
        if (r < 0)
                return r;
        r = reject_unknown(obj, none, true, err);
        if (r >= 0)
                r = apply_limits(obj, cfg, err);
        json_decref(obj);
        return r < 0 ? r : 0;
}

static void patch_instance(struct ctx *c) {
        vs_error err = { 0 }, warn = { 0 };
        struct instance *i;
        if (lookup(c, &i) < 0)
                return;
        struct inst_config cfg = i->cfg;
        if (routes_patch_body(c->body, c->len, &cfg, &err) < 0 || inst_update(i, &cfg, &warn, &err) < 0) {
                api_reply_error(c->rq, &err);
                return;
        }
        reply_instance_warn(c, 200, i, &warn);
}

/* Answered once the instance has stopped, or at once when the stop is
 * refused (a long operation on it, broken): the request waits only for a
 * stop that began. */
static void stop_and_wait(struct ctx *c, struct instance *i, uint64_t timeout, bool kill, enum inst_after_stop then) {
        vs_error err = { 0 };
        struct inst_waiter *w = api_wait(c->rq, i);
        int r = inst_stop(i, timeout, kill, then, w, &err);
        if (r < 0)
                w->done(w, r, &err);
        else if (r > 0) /* stopped already: nothing more will tell w */
                w->done(w, 0, NULL);
}

static void delete_instance(struct ctx *c) {
        vs_error err = { 0 };
        struct instance *i;
        if (lookup(c, &i) < 0)
                return;
        const char *force = api_query(c->rq, "force");
        bool forced = force && (streq(force, "1") || streq(force, "true"));
        if (inst_is_down(i) || i->state == INST_BROKEN) {
                if (inst_destroy(i, &err) < 0)
                        api_reply_error(c->rq, &err);
                else
                        api_reply_json(c->rq, 200, json_object());
                return;
        }
        if (!forced) {
                vs_err_msg(&err, EBUSY, "instance '%s' is %s; stop it first or use --force", i->cfg.name,
                           inst_state_name(i->state));
                api_reply_error(c->rq, &err);
                return;
        }
        stop_and_wait(c, i, 0, true, AFTER_STOP_DESTROY);
}

static void post_start(struct ctx *c) {
        vs_error err = { 0 };
        struct instance *i;
        if (lookup(c, &i) < 0)
                return;
        if (inst_start(i, &err) < 0)
                api_reply_error(c->rq, &err);
        else
                reply_instance(c, 200, i);
}

static void stop_or_restart(struct ctx *c, enum inst_after_stop then) {
        static const char *const known[] = { "timeout", "kill", NULL };
        vs_error err = { 0 };
        struct instance *i;
        json_t *obj = NULL;
        uint64_t timeout = 0;
        if (lookup(c, &i) < 0)
                return;
        if (parse_body(c->body, c->len, false, &obj, &err) < 0 || reject_unknown(obj, known, false, &err) < 0)
                goto fail;
        json_t *t = json_object_get(obj, "timeout"), *k = json_object_get(obj, "kill");
        char text[64];
        if (t && settings_json_text(t, "timeout", false, text, sizeof(text), &err) < 0)
                goto fail;
        if (t && vs_parse_duration_ms(text, &timeout, &err) < 0) {
                vs_err_prefix(&err, "timeout");
                goto fail;
        }
        if (t && timeout == 0) {
                vs_err_msg(&err, EINVAL, "timeout must be greater than zero");
                goto fail;
        }
        if (k && !json_is_boolean(k)) {
                vs_err_msg(&err, EINVAL, "field 'kill' must be true or false");
                goto fail;
        }
        if (then == AFTER_STOP_START && i->state == INST_STOPPED) {
                /* restarting a stopped instance just starts it */
                if (inst_start(i, &err) < 0)
                        goto fail;
                json_decref(obj);
                reply_instance(c, 200, i);
                return;
        }
        if (inst_is_down(i) && then == AFTER_STOP_NOTHING) {
                /* the disk kept mounted for its next start is let go of:
                 * the way for host tools (e2fsck, a copy) to its image;
                 * the answer is still that it does not run */
                if (i->state != INST_BROKEN && !i->busy[0] && inst_release_disk(i, &err) < 0)
                        goto fail;
                vs_err_msg(&err, EALREADY, "instance '%s' is not running", i->cfg.name);
                goto fail;
        }
        if (i->state == INST_BROKEN) {
                vs_err_msg(&err, EINVAL, "instance '%s' is broken: %s", i->cfg.name, i->error);
                goto fail;
        }
        json_decref(obj);
        stop_and_wait(c, i, timeout, json_is_true(k), then);
        return;
fail:
        json_decref(obj);
        api_reply_error(c->rq, &err);
}

static void post_stop(struct ctx *c) {
        stop_or_restart(c, AFTER_STOP_NOTHING);
}

static void post_restart(struct ctx *c) {
        stop_or_restart(c, AFTER_STOP_START);
}

static void post_pause(struct ctx *c) {
        vs_error err = { 0 };
        struct instance *i;
        if (lookup(c, &i) < 0)
                return;
        if (inst_pause(i, &err) < 0)
                api_reply_error(c->rq, &err);
        else
                reply_instance(c, 200, i);
}

static void post_resume(struct ctx *c) {
        vs_error err = { 0 };
        struct instance *i;
        if (lookup(c, &i) < 0)
                return;
        if (inst_resume(i, &err) < 0)
                api_reply_error(c->rq, &err);
        else
                reply_instance(c, 200, i);
}

static void get_stats(struct ctx *c) {
        vs_error err = { 0 };
        struct instance *i;
        if (lookup(c, &i) < 0)
                return;
        json_t *j = stats_json(i, &err);
        if (!j)
                api_reply_error(c->rq, &err);
        else
                api_reply_json(c->rq, 200, j);
}

static void get_all_stats(struct ctx *c) {
        json_t *arr = json_array();
        for (size_t k = 0; k < c->v->n_inst; k++) {
                struct instance *i = c->v->inst[k];
                if (!inst_is_up(i))
                        continue;
                json_t *j = stats_json(i, NULL);
                if (j)
                        json_array_append_new(arr, j);
        }
        api_reply_json(c->rq, 200, arr);
}

static int require_running(struct ctx *c, struct instance *i) {
        vs_error err = { 0 };
        if (i->state == INST_RUNNING)
                return 0;
        if (i->state == INST_PAUSED)
                vs_err_msg(&err, EBUSY, "instance '%s' is paused; resume it first", i->cfg.name);
        else
                vs_err_msg(&err, EINVAL, "instance '%s' is not running", i->cfg.name);
        api_reply_error(c->rq, &err);
        return -1;
}

static int strv_from_json(json_t *arr, const char *field, bool nonempty, bool env, char ***ret, vs_error *err) {
        if (!json_is_array(arr))
                return vs_err_msg(err, EINVAL, "field '%s' must be an array of strings", field);
        size_t n = json_array_size(arr);
        if (nonempty && n == 0)
                return vs_err_msg(err, EINVAL, "field '%s' must not be empty", field);
        if (n > 4096)
                return vs_err_msg(err, E2BIG, "field '%s' has too many entries", field);
        char **v = calloc(n + 1, sizeof(char *));
        if (!v)
                return vs_err(err, ENOMEM, "%s", field);
        for (size_t k = 0; k < n; k++) {
                json_t *s = json_array_get(arr, k);
                if (!json_is_string(s) || (env && !strchr(json_string_value(s), '=')) ||
                    !(v[k] = strdup(json_string_value(s)))) {
                        for (size_t m = 0; m < k; m++)
                                free(v[m]);
                        free(v);
                        return vs_err_msg(err, EINVAL, env ? "field '%s' entries must be \"KEY=VALUE\" strings"
                                                           : "field '%s' must be an array of strings",
                                          field);
                }
        }
        *ret = v;
        return 0;
}

static void post_exec(struct ctx *c) {
        static const char *const known[] = { "argv", "tty", "env", "rows", "cols", NULL };
        vs_error err = { 0 };
        struct instance *i;
        json_t *obj = NULL;
        struct exec_request req = { 0 };
        if (lookup(c, &i) < 0 || require_running(c, i) < 0)
                return;
        if (api_has_upgrade(c->rq, VS_UPGRADE_EXEC_V1)) {
                /* It would pass its own stdio and wait for a status: say why not. */
                vs_err_msg(&err, EINVAL,
                           "exec protocol '%s' is no longer supported: use a vsctl as new as this vsd (it speaks '%s')",
                           VS_UPGRADE_EXEC_V1, VS_UPGRADE_EXEC);
                goto fail;
        }
        if (!api_has_upgrade(c->rq, VS_UPGRADE_EXEC)) {
                vs_err_msg(&err, EINVAL, "exec needs 'Upgrade: %s' (see doc/api.md)", VS_UPGRADE_EXEC);
                goto fail;
        }
        if (parse_body(c->body, c->len, true, &obj, &err) < 0 || reject_unknown(obj, known, false, &err) < 0)
                goto fail;
        json_t *tty = json_object_get(obj, "tty");
        if (tty && !json_is_boolean(tty)) {
                vs_err_msg(&err, EINVAL, "field 'tty' must be true or false");
                goto fail;
        }
        req.tty = json_is_true(tty);
        static const char *const dims[] = { "rows", "cols" };
        for (int k = 0; k < 2; k++) {
                json_t *d = json_object_get(obj, dims[k]);
                if (!d)
                        continue;
                if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > 65535) {
                        vs_err_msg(&err, EINVAL, "field '%s' must be an integer from 1 to 65535", dims[k]);
                        goto fail;
                }
                *(k == 0 ? &req.rows : &req.cols) = (unsigned short) json_integer_value(d);
        }
        if (strv_from_json(json_object_get(obj, "argv"), "argv", true, false, &req.argv, &err) < 0)
                goto fail;
        json_t *env = json_object_get(obj, "env");
        if (env && strv_from_json(env, "env", false, true, &req.env, &err) < 0)
                goto fail;
        json_decref(obj);
        api_upgrade_exec(c->rq, i, &req);
        return;
fail:
        json_decref(obj);
        strv_free(req.argv);
        strv_free(req.env);
        api_reply_error(c->rq, &err);
}

static void get_console(struct ctx *c) {
        vs_error err = { 0 };
        struct instance *i;
        if (lookup(c, &i) < 0 || require_running(c, i) < 0)
                return;
        bool ws = api_has_upgrade(c->rq, "websocket");
        if (!ws && !api_has_upgrade(c->rq, VS_UPGRADE_CONSOLE)) {
                vs_err_msg(&err, EINVAL, "console needs 'Upgrade: %s' or 'Upgrade: websocket' (see doc/api.md)",
                           VS_UPGRADE_CONSOLE);
                api_reply_error(c->rq, &err);
                return;
        }
        if (!i->console) {
                vs_err_msg(&err, ENODEV,
                           "the console of '%s' is not available (see the daemon log); restart the instance to get it back",
                           i->cfg.name);
                api_reply_error(c->rq, &err);
                return;
        }
        if (ws)
                api_upgrade_ws_console(c->rq, i);
        else
                api_upgrade_console(c->rq, i);
}

/* ---- snapshots and clones --------------------------------------------- */

/* A required string field of a body that has nothing else. */
static int body_name(struct ctx *c, const char *field, char *buf, size_t len, vs_error *err) {
        const char *const known[] = { field, NULL };
        json_t *obj = NULL;
        if (parse_body(c->body, c->len, true, &obj, err) < 0 || reject_unknown(obj, known, false, err) < 0) {
                json_decref(obj);
                return -EINVAL;
        }
        json_t *v = json_object_get(obj, field);
        int r = 0;
        if (!json_is_string(v))
                r = vs_err_msg(err, EINVAL, "field '%s' (a string) is required", field);
        else
                snprintf(buf, len, "%s", json_string_value(v));
        json_decref(obj);
        return r;
}

static void get_snapshots(struct ctx *c) {
        vs_error err = { 0 };
        struct instance *i;
        json_t *arr = NULL;
        if (lookup(c, &i) < 0)
                return;
        if (snap_list(i, &arr, &err) < 0)
                api_reply_error(c->rq, &err);
        else
                api_reply_json(c->rq, 200, arr);
}

static void post_snapshot(struct ctx *c) {
        vs_error err = { 0 };
        struct instance *i;
        char snap[128];
        struct op *op;
        bool detach;
        if (lookup(c, &i) < 0)
                return;
        if (detach_query(c, &detach, &err) < 0 || body_name(c, "name", snap, sizeof(snap), &err) < 0) {
                api_reply_error(c->rq, &err);
                return;
        }
        if (detach) {
                if (snap_create(i, snap, NULL, &op, &err) < 0)
                        api_reply_error(c->rq, &err);
                else
                        reply_op(c, op);
                return;
        }
        /* answered when the copy is complete */
        struct inst_waiter *w =
                api_wait_reply(c->rq, i, 201, NULL, json_pack("{s:s, s:s}", "instance", i->cfg.name, "name", snap));
        if (snap_create(i, snap, w, NULL, &err) < 0)
                w->done(w, -err.code, &err);
}

static void delete_snapshot(struct ctx *c) {
        vs_error err = { 0 };
        struct instance *i;
        if (lookup(c, &i) < 0)
                return;
        if (snap_delete(i, c->sub, &err) < 0)
                api_reply_error(c->rq, &err);
        else
                api_reply_json(c->rq, 200, json_object());
}

static void post_restore(struct ctx *c) {
        vs_error err = { 0 };
        struct instance *i;
        char snap[128];
        struct op *op;
        bool detach;
        if (lookup(c, &i) < 0)
                return;
        if (detach_query(c, &detach, &err) < 0 || body_name(c, "snapshot", snap, sizeof(snap), &err) < 0) {
                api_reply_error(c->rq, &err);
                return;
        }
        if (detach) {
                if (snap_restore(i, snap, NULL, &op, &err) < 0)
                        api_reply_error(c->rq, &err);
                else
                        reply_op(c, op);
                return;
        }
        struct inst_waiter *w = api_wait_reply(c->rq, i, 200, NULL, NULL);
        if (snap_restore(i, snap, w, NULL, &err) < 0)
                w->done(w, -err.code, &err);
}

static void post_clone(struct ctx *c) {
        vs_error err = { 0 };
        struct instance *i;
        char name[128];
        struct op *op;
        bool detach;
        if (lookup(c, &i) < 0)
                return;
        if (detach_query(c, &detach, &err) < 0 || body_name(c, "name", name, sizeof(name), &err) < 0) {
                api_reply_error(c->rq, &err);
                return;
        }
        if (detach) {
                if (snap_clone(i, name, NULL, &op, &err) < 0)
                        api_reply_error(c->rq, &err);
                else
                        reply_op(c, op);
                return;
        }
        struct inst_waiter *w = api_wait_reply(c->rq, i, 201, name, NULL);
        if (snap_clone(i, name, w, NULL, &err) < 0)
                w->done(w, -err.code, &err);
}

/* ---- checkpoints ---------------------------------------------------------- */

/* Body (optional): {"leave_running": bool}.  Answered with the instance
 * when the checkpoint is in place (and the instance down, unless it runs
 * on), or with ?detach=1 with the operation at once. */
static void post_checkpoint(struct ctx *c) {
        static const char *const known[] = { "leave_running", NULL };
        vs_error err = { 0 };
        struct instance *i;
        json_t *obj = NULL;
        struct op *op;
        bool detach;
        if (lookup(c, &i) < 0)
                return;
        if (detach_query(c, &detach, &err) < 0 || parse_body(c->body, c->len, false, &obj, &err) < 0 ||
            reject_unknown(obj, known, false, &err) < 0)
                goto fail;
        json_t *lr = json_object_get(obj, "leave_running");
        if (lr && !json_is_boolean(lr)) {
                vs_err_msg(&err, EINVAL, "field 'leave_running' must be true or false");
                goto fail;
        }
        bool leave = json_is_true(lr);
        json_decref(obj);
        obj = NULL;
        if (detach) {
                if (ckpt_take(i, leave, -1, NULL, &op, &err) < 0)
                        goto fail;
                reply_op(c, op);
                return;
        }
        struct inst_waiter *w = api_wait_reply(c->rq, i, 200, NULL, NULL);
        if (ckpt_take(i, leave, -1, w, NULL, &err) < 0)
                w->done(w, -err.code, &err);
        return;
fail:
        json_decref(obj);
        api_reply_error(c->rq, &err);
}

static void delete_checkpoint(struct ctx *c) {
        vs_error err = { 0 };
        struct instance *i;
        if (lookup(c, &i) < 0)
                return;
        if (ckpt_discard(i, &err) < 0)
                api_reply_error(c->rq, &err);
        else
                reply_instance(c, 200, i);
}

/* POST /v1/instances/NAME/checkpoint/restore {"unlocked_mounts": bool,
 * "lazy_pages": bool (a post-copy move's target, pages.h)} */
static void post_checkpoint_item(struct ctx *c) {
        static const char *const known[] = { "unlocked_mounts", "lazy_pages", NULL };
        vs_error err = { 0 };
        struct instance *i;
        json_t *obj = NULL;
        struct op *op;
        bool detach;
        if (!streq(c->sub, "restore")) {
                vs_err_msg(&err, ENOENT, "unknown path: a checkpoint has only 'restore'");
                api_reply_error(c->rq, &err);
                return;
        }
        if (lookup(c, &i) < 0)
                return;
        if (detach_query(c, &detach, &err) < 0 || parse_body(c->body, c->len, false, &obj, &err) < 0 ||
            reject_unknown(obj, known, false, &err) < 0) {
                json_decref(obj);
                api_reply_error(c->rq, &err);
                return;
        }
        json_t *um = json_object_get(obj, "unlocked_mounts"), *lp = json_object_get(obj, "lazy_pages");
        bool bad = (um && !json_is_boolean(um)) || (lp && !json_is_boolean(lp)), unlocked = json_is_true(um);
        bool lazy = json_is_true(lp);
        json_decref(obj);
        if (bad) {
                vs_err_msg(&err, EINVAL, "fields 'unlocked_mounts' and 'lazy_pages' must be true or false");
                api_reply_error(c->rq, &err);
                return;
        }
        if (detach) {
                if ((lazy ? ckpt_restore_lazy(i, NULL, &op, &err) : ckpt_restore(i, unlocked, NULL, &op, &err)) < 0)
                        api_reply_error(c->rq, &err);
                else
                        reply_op(c, op);
                return;
        }
        struct inst_waiter *w = api_wait_reply(c->rq, i, 200, NULL, NULL);
        if ((lazy ? ckpt_restore_lazy(i, w, NULL, &err) : ckpt_restore(i, unlocked, w, NULL, &err)) < 0)
                w->done(w, -err.code, &err);
}

/* ---- events ------------------------------------------------------------ */

/* A query number: decimal digits only, no sign, no unit. */
static int query_u64(const char *key, const char *v, uint64_t *ret, vs_error *err) {
        char *end;
        if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 19)
                return vs_err_msg(err, EINVAL, "%s must be a whole number (0 or more), not '%.40s'", key, v);
        *ret = strtoull(v, &end, 10);
        return 0;
}

static int query_bool(const char *key, const char *v, bool *ret, vs_error *err) {
        if (streq(v, "1") || streq(v, "true") || streq(v, "yes"))
                *ret = true;
        else if (streq(v, "0") || streq(v, "false") || streq(v, "no"))
                *ret = false;
        else
                return vs_err_msg(err, EINVAL, "%s must be 1 or 0 (true or false), not '%.40s'", key, v);
        return 0;
}

/* ?since=SEQ (events after SEQ) | ?past=1 (every buffered one) |
 * ?backlog=N (the last N), ?instance=NAME, ?follow=0 (end after those). */
static int events_query(struct ctx *c, struct ev_filter *f, uint64_t *ret_cursor, bool *ret_follow, vs_error *err) {
        static const char *const known[] = { "since", "past", "backlog", "instance", "follow", NULL };
        struct ev_bus *bus = c->v->events;
        const char *since = api_query(c->rq, "since"), *past = api_query(c->rq, "past"),
                   *backlog = api_query(c->rq, "backlog"), *inst = api_query(c->rq, "instance"),
                   *follow = api_query(c->rq, "follow");
        int r = api_query_check(c->rq, known, err);
        if (r < 0)
                return r;
        if (!!since + !!past + !!backlog > 1)
                return vs_err_msg(err, EINVAL, "since, past and backlog choose where to start: give one of them");
        if (c->name && inst && !streq(inst, c->name))
                return vs_err_msg(err, EINVAL, "instance '%.64s' in the query contradicts the path", inst);
        if (inst && vs_name_check("instance", inst, err) < 0)
                return -EINVAL;
        snprintf(f->instance, sizeof(f->instance), "%s", c->name ? c->name : inst ? inst : "");

        bool fl = true, all = false;
        uint64_t n;
        *ret_cursor = ev_next_seq(bus);
        if (follow && query_bool("follow", follow, &fl, err) < 0)
                return -EINVAL;
        if (past) {
                if (query_bool("past", past, &all, err) < 0)
                        return -EINVAL;
                if (all)
                        *ret_cursor = ev_cursor_backlog(bus, f, UINT64_MAX);
        } else if (since) {
                if (query_u64("since", since, &n, err) < 0)
                        return -EINVAL;
                /* after SEQ; a SEQ from the future (an older daemon's) means
                 * "from now" */
                *ret_cursor = n < ev_next_seq(bus) ? n + 1 : ev_next_seq(bus);
        } else if (backlog) {
                if (query_u64("backlog", backlog, &n, err) < 0)
                        return -EINVAL;
                *ret_cursor = ev_cursor_backlog(bus, f, n);
        }
        /* without a start, a one-shot answer is the whole backlog */
        if (!fl && !since && !past && !backlog)
                *ret_cursor = ev_cursor_backlog(bus, f, UINT64_MAX);
        *ret_follow = fl;
        return 0;
}

static void stream_events(struct ctx *c) {
        vs_error err = { 0 };
        struct ev_filter f = { 0 };
        uint64_t cursor = 0;
        bool follow = false;
        if (events_query(c, &f, &cursor, &follow, &err) < 0) {
                api_reply_error(c->rq, &err);
                return;
        }
        api_stream_events(c->rq, &f, cursor, follow);
}

static void get_events(struct ctx *c) {
        stream_events(c);
}

static void get_instance_events(struct ctx *c) {
        struct instance *i;
        if (lookup(c, &i) == 0)
                stream_events(c);
}

/* ---- operations -------------------------------------------------------- */

static void list_operations(struct ctx *c) {
        static const char *const known[] = { NULL };
        vs_error err = { 0 };
        if (api_query_check(c->rq, known, &err) < 0)
                api_reply_error(c->rq, &err);
        else
                api_reply_json(c->rq, 200, ops_json(c->v));
}

static struct op *lookup_op(struct ctx *c) {
        vs_error err = { 0 };
        struct op *op = op_find(c->v, c->name);
        if (!op) {
                vs_err_msg(&err, ENOENT, "no operation '%.40s' (ended ones are kept for a while, not forever)", c->name);
                api_reply_error(c->rq, &err);
        }
        return op;
}

/* ?follow=1: its progress as a stream, until it has ended */
static void get_operation(struct ctx *c) {
        static const char *const known[] = { "follow", NULL };
        vs_error err = { 0 };
        const char *f = api_query(c->rq, "follow");
        bool follow = false;
        if (api_query_check(c->rq, known, &err) < 0 || (f && query_bool("follow", f, &follow, &err) < 0)) {
                api_reply_error(c->rq, &err);
                return;
        }
        struct op *op = lookup_op(c);
        if (!op)
                return;
        if (follow)
                api_stream_op(c->rq, op, true);
        else
                api_reply_json(c->rq, 200, op_json(op));
}

/* Cancel: 202 with the operation, still running until its work is gone
 * (follow it to see it end); 409 when it has ended. */
static void delete_operation(struct ctx *c) {
        vs_error err = { 0 };
        struct op *op = lookup_op(c);
        if (!op)
                return;
        if (op_cancel(op, &err) < 0) {
                if (err.code == EALREADY)
                        api_reply_json(c->rq, 409, json_pack("{s:s, s:i}", "error", err.msg, "code", err.code));
                else
                        api_reply_error(c->rq, &err);
                return;
        }
        reply_op(c, op);
}

/* ---- export and import ----------------------------------------------------- */

/* What an export or import waits for: the client's file descriptor, sent
 * after the 101 (the fd protocol, base/proto.h). */
struct xfer_req {
        char name[VS_NAME_MAX + 1]; /* export: the instance; import: the new name or "" */
        bool snapshots, zstd;
        bool precopy; /* receive-pages: pre-dump passes first */
        bool lazy; /* pages: a post-copy move's (pages.h) */
};

static int export_with_fd(struct vsd *v, void *userdata, int fd, json_t **ret, vs_error *err) {
        struct xfer_req *q = userdata;
        struct op *op;
        int r = xfer_export(v, q->name, fd, q->snapshots, q->zstd, &op, err);
        if (r < 0)
                return r;
        *ret = op_json(op);
        return 0;
}

static int import_with_fd(struct vsd *v, void *userdata, int fd, json_t **ret, vs_error *err) {
        struct xfer_req *q = userdata;
        struct op *op;
        int r = xfer_import(v, fd, q->name[0] ? q->name : NULL, &op, err);
        if (r < 0)
                return r;
        *ret = op_json(op);
        return 0;
}

static int fd_upgrade_check(struct ctx *c, vs_error *err) {
        if (!api_has_upgrade(c->rq, VS_UPGRADE_FD))
                return vs_err_msg(err, EINVAL,
                                  "the archive travels as a file descriptor: send 'Upgrade: " VS_UPGRADE_FD
                                  "' and then the descriptor (vsctl export and import do)");
        return 0;
}

/* POST /v1/instances/NAME/export?snapshots=1&zstd=1, Upgrade: vsd-fd:
 * refused at once when the instance cannot be exported; else 101, then
 * the client's file and the operation's line. */
static void post_export(struct ctx *c) {
        static const char *const known[] = { "snapshots", "zstd", NULL };
        vs_error err = { 0 };
        struct xfer_req *q = calloc(1, sizeof(*q));
        const char *snaps = api_query(c->rq, "snapshots"), *zstd = api_query(c->rq, "zstd");
        if (!q)
                vs_err(&err, ENOMEM, "export");
        if (!q || api_query_check(c->rq, known, &err) < 0 || fd_upgrade_check(c, &err) < 0 ||
            (snaps && query_bool("snapshots", snaps, &q->snapshots, &err) < 0) ||
            (zstd && query_bool("zstd", zstd, &q->zstd, &err) < 0) || xfer_export_check(c->v, c->name, &err) < 0) {
                free(q);
                api_reply_error(c->rq, &err);
                return;
        }
        snprintf(q->name, sizeof(q->name), "%s", c->name);
        api_upgrade_fd(c->rq, export_with_fd, q);
}

/* POST /v1/import?name=NEW, Upgrade: vsd-fd. */
static void post_import(struct ctx *c) {
        static const char *const known[] = { "name", NULL };
        vs_error err = { 0 };
        const char *name = api_query(c->rq, "name");
        struct xfer_req *q = calloc(1, sizeof(*q));
        if (!q)
                vs_err(&err, ENOMEM, "import");
        if (!q || api_query_check(c->rq, known, &err) < 0 || fd_upgrade_check(c, &err) < 0 ||
            (name && vs_name_check("instance", name, &err) < 0)) {
                free(q);
                api_reply_error(c->rq, &err);
                return;
        }
        if (name && inst_find(c->v, name)) {
                free(q);
                vs_err_msg(&err, EEXIST, "instance '%s' already exists", name);
                api_reply_error(c->rq, &err);
                return;
        }
        snprintf(q->name, sizeof(q->name), "%s", name ? name : "");
        api_upgrade_fd(c->rq, import_with_fd, q);
}

static int template_import_with_fd(struct vsd *v, void *userdata, int fd, json_t **ret, vs_error *err) {
        struct op *op;
        int r = tsend_import(v, fd, &op, err);
        if (r < 0)
                return r;
        *ret = op_json(op);
        return 0;
}

/* POST /v1/templates, Upgrade: vsd-fd: a template's archive (tmplsend.h),
 * as a move sends it to a host that lacks the template. */
static void post_template_import(struct ctx *c) {
        static const char *const known[] = { NULL };
        vs_error err = { 0 };
        if (api_query_check(c->rq, known, &err) < 0 || fd_upgrade_check(c, &err) < 0) {
                api_reply_error(c->rq, &err);
                return;
        }
        api_upgrade_fd(c->rq, template_import_with_fd, NULL);
}

static int pages_with_fd(struct vsd *v, void *userdata, int fd, json_t **ret, vs_error *err) {
        struct xfer_req *q = userdata;
        struct op *op;
        int r = pages_receive(v, q->name, fd, q->lazy, q->precopy, &op, err);
        if (r < 0)
                return r;
        *ret = op_json(op);
        return 0;
}

/* POST /v1/pages?name=NAME[&precopy=1 | &lazy=1], Upgrade: vsd-fd: the descriptor is
 * a socket whose peer speaks CRIU's page-server protocol, the pages of a
 * live move of NAME to this host (pages.h; vsctl receive-pages, run by the
 * source over ssh); precopy: memory pre-copy's passes first. */
static void post_pages(struct ctx *c) {
        static const char *const known[] = { "name", "lazy", "precopy", NULL };
        vs_error err = { 0 };
        const char *name = api_query(c->rq, "name"), *lazy = api_query(c->rq, "lazy"),
                   *precopy = api_query(c->rq, "precopy");
        struct xfer_req *q = calloc(1, sizeof(*q));
        if (!q)
                vs_err(&err, ENOMEM, "receive pages");
        else if (!name)
                vs_err_msg(&err, EINVAL, "the query's 'name' (the instance's) is required");
        if (!q || !name || api_query_check(c->rq, known, &err) < 0 ||
            (lazy && query_bool("lazy", lazy, &q->lazy, &err) < 0) ||
            (precopy && query_bool("precopy", precopy, &q->precopy, &err) < 0) || fd_upgrade_check(c, &err) < 0 ||
            vs_name_check("instance", name, &err) < 0) {
                free(q);
                api_reply_error(c->rq, &err);
                return;
        }
        snprintf(q->name, sizeof(q->name), "%s", name);
        if (q->lazy && q->precopy) {
                free(q);
                vs_err_msg(&err, EINVAL, "'lazy' and 'precopy' exclude each other");
                api_reply_error(c->rq, &err);
                return;
        }
        api_upgrade_fd(c->rq, pages_with_fd, q);
}

/* POST /v1/instances/NAME/migrate {"host": "[user@]host", "live": bool,
 * "unlocked_mounts": bool, "send_template": bool, "precopy": bool,
 * "page_server": bool, "postcopy": bool}: 202 with the operation at once (follow it); cold
 * unless live. */
static void post_migrate(struct ctx *c) {
        static const char *const known[] = { "host",    "cold",        "live",     "unlocked_mounts", "send_template",
                                              "precopy", "page_server", "postcopy", NULL };
        vs_error err = { 0 };
        struct instance *i;
        json_t *obj = NULL;
        struct op *op = NULL;
        if (lookup(c, &i) < 0)
                return;
        if (parse_body(c->body, c->len, true, &obj, &err) < 0 || reject_unknown(obj, known, false, &err) < 0)
                goto fail;
        const char *host = json_string_value(json_object_get(obj, "host"));
        if (!host) {
                vs_err_msg(&err, EINVAL, "field 'host' (an ssh destination) is required");
                goto fail;
        }
        struct mig_options o = { .live = json_is_true(json_object_get(obj, "live")),
                                 .unlocked_mounts = json_is_true(json_object_get(obj, "unlocked_mounts")),
                                 .no_send_template = json_is_false(json_object_get(obj, "send_template")),
                                 .no_precopy = json_is_false(json_object_get(obj, "precopy")),
                                 .no_page_server = json_is_false(json_object_get(obj, "page_server")),
                                 .postcopy = json_is_true(json_object_get(obj, "postcopy")) };
        if (o.live && json_is_true(json_object_get(obj, "cold"))) {
                vs_err_msg(&err, EINVAL, "a move is either cold or live");
                goto fail;
        }
        if (mig_start(i, host, &o, &op, &err) < 0)
                goto fail;
        json_decref(obj);
        reply_op(c, op);
        return;
fail:
        json_decref(obj);
        api_reply_error(c->rq, &err);
}

/* ---- routing ----------------------------------------------------------- */

/* /v1/SEG, /v1/instances/NAME, /v1/instances/NAME/SEG,
 * /v1/instances/NAME/SEG/ITEM, /v1/templates/NAME, /v1/templates/NAME/SEG */
enum path_kind { P_TOP, P_INSTANCE, P_ACTION, P_ITEM, P_TEMPLATE, P_TEMPLATE_ACTION, P_OPERATION };

struct route {
        enum path_kind kind;
        const char *seg; /* P_TOP: collection; P_ACTION: action; P_ITEM: the item's collection */
        const char *method;
        void (*fn)(struct ctx *c);
};

static const struct route routes[] = {
        { P_TOP, "version", "GET", get_version },
        { P_TOP, "templates", "GET", get_templates },
        { P_TOP, "templates", "POST", post_template_import },
        { P_TOP, "instances", "GET", list_instances },
        { P_TOP, "instances", "POST", create_instance },
        { P_TOP, "stats", "GET", get_all_stats },
        { P_TOP, "events", "GET", get_events },
        { P_INSTANCE, NULL, "GET", get_instance },
        { P_INSTANCE, NULL, "PATCH", patch_instance },
        { P_INSTANCE, NULL, "DELETE", delete_instance },
        { P_ACTION, "start", "POST", post_start },
        { P_ACTION, "stop", "POST", post_stop },
        { P_ACTION, "restart", "POST", post_restart },
        { P_ACTION, "pause", "POST", post_pause },
        { P_ACTION, "resume", "POST", post_resume },
        { P_ACTION, "stats", "GET", get_stats },
        { P_ACTION, "exec", "POST", post_exec },
        { P_ACTION, "console", "GET", get_console },
        { P_ACTION, "events", "GET", get_instance_events },
        { P_TEMPLATE, NULL, "GET", get_template },
        { P_TEMPLATE, NULL, "DELETE", delete_template },
        { P_TEMPLATE_ACTION, "build", "POST", post_template_build },
        { P_ACTION, "snapshots", "GET", get_snapshots },
        { P_ACTION, "snapshots", "POST", post_snapshot },
        { P_ACTION, "restore", "POST", post_restore },
        { P_ACTION, "clone", "POST", post_clone },
        { P_ITEM, "snapshots", "DELETE", delete_snapshot },
        { P_ACTION, "checkpoint", "POST", post_checkpoint },
        { P_ACTION, "checkpoint", "DELETE", delete_checkpoint },
        { P_ITEM, "checkpoint", "POST", post_checkpoint_item },
        { P_ACTION, "export", "POST", post_export },
        { P_TOP, "import", "POST", post_import },
        { P_TOP, "pages", "POST", post_pages },
        { P_ACTION, "migrate", "POST", post_migrate },
        { P_TOP, "operations", "GET", list_operations },
        { P_OPERATION, NULL, "GET", get_operation },
        { P_OPERATION, NULL, "DELETE", delete_operation },
};

void routes_dispatch(struct request *rq, const char *method, const char *url, const char *body, size_t len) {
        vs_error err = { 0 };
        char path[256], *segs[4] = { 0 };
        size_t n = 0;

        if (strncmp(url, VS_API_PREFIX "/", strlen(VS_API_PREFIX) + 1) != 0 || strlen(url) >= sizeof(path)) {
                vs_err_msg(&err, ENOENT, "unknown path '%.80s' (the API lives under " VS_API_PREFIX "/)", url);
                api_reply_error(rq, &err);
                return;
        }
        snprintf(path, sizeof(path), "%s", url + strlen(VS_API_PREFIX) + 1);
        for (char *save = NULL, *tok = strtok_r(path, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
                if (n == ELEMENTSOF(segs)) {
                        n++;
                        break;
                }
                segs[n++] = tok;
        }

        enum path_kind kind;
        const char *seg = NULL;
        if (n == 1)
                kind = P_TOP, seg = segs[0];
        else if (n == 2 && streq(segs[0], "instances"))
                kind = P_INSTANCE;
        else if (n == 3 && streq(segs[0], "instances"))
                kind = P_ACTION, seg = segs[2];
        else if (n == 2 && streq(segs[0], "templates"))
                kind = P_TEMPLATE;
        else if (n == 3 && streq(segs[0], "templates"))
                kind = P_TEMPLATE_ACTION, seg = segs[2];
        else if (n == 4 && streq(segs[0], "instances"))
                kind = P_ITEM, seg = segs[2];
        else if (n == 2 && streq(segs[0], "operations"))
                kind = P_OPERATION;
        else {
                vs_err_msg(&err, ENOENT, "unknown path '%.80s'", url);
                api_reply_error(rq, &err);
                return;
        }
        if (kind == P_OPERATION) {
                if (strlen(segs[1]) != OP_ID_LEN || strspn(segs[1], "0123456789abcdef") != OP_ID_LEN) {
                        vs_err_msg(&err, EINVAL, "invalid operation id '%.40s' (%d hex digits)", segs[1], OP_ID_LEN);
                        api_reply_error(rq, &err);
                        return;
                }
        } else if (kind != P_TOP && !vs_name_valid(segs[1])) {
                vs_name_check(kind == P_TEMPLATE || kind == P_TEMPLATE_ACTION ? "template" : "instance", segs[1], &err);
                api_reply_error(rq, &err);
                return;
        }

        bool path_known = false;
        for (size_t k = 0; k < ELEMENTSOF(routes); k++) {
                const struct route *r = &routes[k];
                if (r->kind != kind || (seg && !streq(r->seg, seg)))
                        continue;
                path_known = true;
                if (!streq(r->method, method))
                        continue;
                struct ctx c = { .rq = rq,
                                 .v = api_vsd(rq),
                                 .name = kind == P_TOP ? NULL : segs[1],
                                 .sub = kind == P_ITEM ? segs[3] : NULL,
                                 .body = body,
                                 .len = len };
                r->fn(&c);
                return;
        }
        if (path_known) {
                vs_err_msg(&err, EINVAL, "method %s not allowed on %.80s", method, url);
                api_reply_json(rq, 405, json_pack("{s:s, s:i}", "error", err.msg, "code", err.code));
        } else {
                vs_err_msg(&err, ENOENT, "unknown path '%.80s'", url);
                api_reply_error(rq, &err);
        }
}

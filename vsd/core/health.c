/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vsd/core/health.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/util.h"
#include "vsd/core/daemon.h"
#include "vsd/core/events.h"

struct health_entry {
        struct health_entry *next;
        char subsystem[32];
        char lost[160];
        char reason[VS_ERROR_MAX];
        time_t since;
};

static struct health_entry **find(struct vsd *v, const char *subsystem) {
        struct health_entry **p = &v->health;
        while (*p && strcmp((*p)->subsystem, subsystem) < 0)
                p = &(*p)->next;
        return p;
}

void health_degraded(struct vsd *v, const char *subsystem, const char *lost, const vs_error *why) {
        struct health_entry **p = find(v, subsystem), *e = *p;
        const char *reason = why && why->msg[0] ? why->msg : "unknown reason";
        if (e && streq(e->subsystem, subsystem)) {
                if (streq(e->reason, reason) && streq(e->lost, lost))
                        return; /* said already */
        } else {
                e = calloc(1, sizeof(*e));
                if (!e) {
                        /* not kept for the API; the log still says it */
                        log_warn("Degraded: %s: %s; %s", subsystem, reason, lost);
                        return;
                }
                snprintf(e->subsystem, sizeof(e->subsystem), "%s", subsystem);
                e->since = time(NULL);
                e->next = *p;
                *p = e;
        }
        snprintf(e->lost, sizeof(e->lost), "%s", lost);
        snprintf(e->reason, sizeof(e->reason), "%s", reason);
        log_warn("Degraded: %s: %s; %s", subsystem, reason, lost);
        if (v->events)
                ev_emit(v->events, "", "degraded",
                        json_pack("{s:s, s:s, s:s}", "subsystem", subsystem, "reason", reason, "lost", lost));
}

void health_recovered(struct vsd *v, const char *subsystem) {
        struct health_entry **p = find(v, subsystem), *e = *p;
        if (!e || !streq(e->subsystem, subsystem))
                return;
        *p = e->next;
        free(e);
        log_info("Recovered: %s", subsystem);
        if (v->events)
                ev_emit(v->events, "", "recovered", json_pack("{s:s}", "subsystem", subsystem));
}

json_t *health_json(struct vsd *v) {
        json_t *arr = json_array();
        for (struct health_entry *e = v->health; arr && e; e = e->next)
                json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I}", "subsystem", e->subsystem, "reason",
                                                     e->reason, "lost", e->lost, "since", (json_int_t) e->since));
        return arr;
}

void health_free(struct vsd *v) {
        while (v->health) {
                struct health_entry *e = v->health;
                v->health = e->next;
                free(e);
        }
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl list [--json] */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/proto.h"
#include "vsctl/vsctl.h"

int cmd_list(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, VSCTL_LONGOPT_JSON, {} };
        static const char *const headers[] = { "NAME", "STATE", "TEMPLATE", "PID", "MEMORY", "CPUS", "PIDS", "UPTIME" };
        int c, ex;

        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if ((ex = vsctl_check_args(argv[0], argc, argv, 0, 0)))
                return ex;

        /* The table asks for its own fields only: with a thousand instances
         * the whole view is most of the answer's cost, on both ends. */
        vs_error err = {};
        json_auto_t *list = NULL;
        if (vsctl_get_list(ctx,
                           strdup(ctx->json ? VS_API_PREFIX "/instances"
                                            : VS_API_PREFIX "/instances?fields=name,state,template,pid,memory,cpus,"
                                                            "pids,started_at"),
                           "instances", &list, &err) < 0)
                return vsctl_fail(&err);
        if (ctx->json)
                return out_json(list) < 0 ? VSCTL_EXIT_FAILURE : VSCTL_EXIT_OK;

        _cleanup_table_ struct out_table *t = out_table_new(ELEMENTSOF(headers), headers);
        if (!t)
                goto oom;
        for (size_t i = 3; i < ELEMENTSOF(headers); i++)
                out_table_align_right(t, i);

        time_t now = time(NULL);
        size_t i;
        json_t *inst;
        json_array_foreach(list, i, inst) {
                char pid[24] = "-", mem[16] = "-", cpus[16] = "-", pids[24] = "-", up[16] = "-";
                uint64_t v;
                if ((v = out_get_u64(inst, "pid")))
                        snprintf(pid, sizeof(pid), "%" PRIu64, v);
                if ((v = out_get_u64(inst, "memory")))
                        out_size(v, mem, sizeof(mem));
                if (out_get_double(inst, "cpus") > 0)
                        out_cpus(out_get_double(inst, "cpus"), cpus, sizeof(cpus));
                if ((v = out_get_u64(inst, "pids")))
                        snprintf(pids, sizeof(pids), "%" PRIu64, v);
                if ((v = out_get_u64(inst, "started_at")))
                        out_duration((uint64_t) now > v ? (uint64_t) now - v : 0, up, sizeof(up));
                const char *row[] = { out_get_str(inst, "name"), out_get_str(inst, "state"),
                                      out_get_str(inst, "template"), pid, mem, cpus, pids, up };
                if (out_table_add(t, row) < 0)
                        goto oom;
        }
        out_table_print(t, stdout);
        return VSCTL_EXIT_OK;

oom:
        vs_err(&err, ENOMEM, "cannot format the list");
        return vsctl_fail(&err);
}

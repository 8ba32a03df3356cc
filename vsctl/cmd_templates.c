/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl templates [--json] */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../base/proto.h"
#include "../base/util.h"
#include "vsctl.h"

int cmd_templates(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, VSCTL_LONGOPT_JSON, {} };
        static const char *const headers[] = { "NAME", "INIT", "HALT", "DESCRIPTION" };
        int c, ex;

        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if ((ex = vsctl_check_args(argv[0], argc, argv, 0, 0)))
                return ex;

        vs_error err = {};
        json_auto_t *list = NULL;
        if (vsctl_call(ctx, "GET", strdup(VS_API_PREFIX "/templates"), NULL, &list, &err) < 0)
                return vsctl_fail(&err);
        if (!json_is_array(list)) {
                vs_err_msg(&err, EBADMSG, "unexpected answer from vsd: not a list of templates");
                return vsctl_fail(&err);
        }
        if (ctx->json)
                return out_json(list) < 0 ? VSCTL_EXIT_FAILURE : VSCTL_EXIT_OK;

        _cleanup_table_ struct out_table *t = out_table_new(ELEMENTSOF(headers), headers);
        if (!t)
                goto oom;
        size_t i;
        json_t *tmpl;
        json_array_foreach(list, i, tmpl) {
                const char *row[] = { out_get_str(tmpl, "name"), out_get_str(tmpl, "init"),
                                      out_get_str(tmpl, "halt_signal"), out_get_str(tmpl, "description") };
                if (out_table_add(t, row) < 0)
                        goto oom;
        }
        out_table_print(t, stdout);
        return VSCTL_EXIT_OK;

oom:
        vs_err(&err, ENOMEM, "cannot format the list");
        return vsctl_fail(&err);
}

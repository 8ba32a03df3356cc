/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl start NAME... */
#include <stdlib.h>

#include "vsctl/http.h"
#include "vsctl/vsctl.h"

int cmd_start(struct vsctl *ctx, int argc, char **argv) {
        static const struct option opts[] = { VSCTL_LONGOPT_HELP, VSCTL_LONGOPT_JSON, {} };
        int c, ex;

        while ((c = vsctl_getopt(ctx, argc, argv, ":h", opts, &ex)) != -1)
                if (c == -2)
                        return ex;
        if ((ex = vsctl_check_args(argv[0], argc, argv, 1, -1)))
                return ex;

        /* Every name gets its try; one that fails does not hold up the
         * others, but the exit status says something failed. */
        json_auto_t *all = json_array();
        int status = VSCTL_EXIT_OK;
        for (int i = optind; i < argc; i++) {
                vs_error err = {};
                json_t *answer = NULL;
                if (vsctl_call(ctx, "POST", vsctl_instance_path(argv[i], "start"), NULL, &answer, &err) < 0) {
                        status = vsctl_fail(&err);
                        if (http_is_connect_error(&err))
                                break;
                        continue;
                }
                if (answer)
                        json_array_append_new(all, answer);
        }
        if (ctx->json && json_array_size(all) > 0 &&
            out_json(argc - optind == 1 ? json_array_get(all, 0) : all) < 0)
                status = VSCTL_EXIT_FAILURE;
        return status;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the API's request bodies that set an instance's
 * settings, create (POST /v1/instances) and change (PATCH
 * /v1/instances/NAME), read by the very functions the routes call
 * (routes_create_body, routes_patch_body), each input as both.  Whatever
 * the bytes:
 *   - a refusal is a code and one line the API can send (valid UTF-8);
 *   - what is accepted is a config that config.ini holds: it saves and
 *     loads back to the same text.  Otherwise the daemon would take the
 *     request and find the instance broken at its next start.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "tests/fuzz/fuzz.h"
#include "vsd/api/api-internal.h"
#include "vsd/conf/settings.h"

/* As inst_create() would with a daemon whose defaults are the built-in
 * ones: the network mode and backend the request left to the daemon. */
static void resolve(struct inst_config *c) {
        if (c->net.mode == NET_MODE_UNSET)
                c->net.mode = NET_MODE_BRIDGE;
        if (c->storage.backend == STOR_UNSET)
                c->storage.backend = STOR_DIR;
}

static void check_round_trip(const struct inst_config *c) {
        const char *path = fuzz_tmp_path("api-body");
        char *a = NULL, *b = NULL;
        struct inst_config back;
        vs_error err = { 0 };
        if (inst_config_format(c, &a) < 0)
                abort();
        if (vs_write_atomic(path, a, strlen(a), 0600) < 0)
                abort();
        if (inst_config_load(&back, path, &err) < 0) {
                fprintf(stderr, "accepted, but config.ini refuses it: %s\n--\n%s--\n", err.msg, a);
                abort();
        }
        if (inst_config_format(&back, &b) < 0)
                abort();
        if (strcmp(a, b) != 0) {
                fprintf(stderr, "accepted, but config.ini reads it back otherwise:\n%s--\n%s--\n", a, b);
                abort();
        }
        free(a);
        free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct inst_config cfg;
        vs_error err = { 0 };
        bool start;
        int r;

        inst_config_defaults(&cfg);
        r = routes_create_body((const char *) data, size, &cfg, &start, &err);
        if (r < 0)
                fuzz_check_refusal(r, &err);
        else {
                if (!cfg.name[0])
                        abort();
                resolve(&cfg);
                check_round_trip(&cfg);
        }

        /* onto an instance made with every default */
        inst_config_defaults(&cfg);
        snprintf(cfg.name, sizeof(cfg.name), "fuzz");
        resolve(&cfg);
        vs_err_clear(&err);
        r = routes_patch_body((const char *) data, size, &cfg, &err);
        if (r < 0)
                fuzz_check_refusal(r, &err);
        else
                check_round_trip(&cfg);
        return 0;
}

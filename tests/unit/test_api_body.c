/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The API's instance bodies (create, PATCH) as the routes read them: what
 * is accepted is a config that config.ini holds, read back after a daemon
 * restart as it was accepted.  The cases are those `make fuzz` found.
 */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"
#include "tests/unit/check.h"
#include "vsd/api/api-internal.h"
#include "vsd/conf/settings.h"

static char dir[] = "/tmp/vsd-test-api-body.XXXXXX";

/* cfg, saved and loaded back, is the same file; the text in *ret_back. */
static bool round_trips(const struct inst_config *cfg, char **ret_back) {
        char path[64];
        snprintf(path, sizeof(path), "%s/config.ini", dir);
        struct inst_config back;
        vs_error err = { 0 };
        char *a = NULL, *b = NULL;
        bool same = inst_config_save(cfg, path, &err) == 0 && inst_config_load(&back, path, &err) == 0 &&
                    inst_config_format(cfg, &a) == 0 && inst_config_format(&back, &b) == 0 && strcmp(a, b) == 0;
        free(a);
        *ret_back = b;
        return same;
}

static void create(const char *name, const char *body) {
        struct inst_config cfg;
        vs_error err = { 0 };
        bool start;
        char *back = NULL;
        inst_config_defaults(&cfg);
        int r = routes_create_body(body, strlen(body), &cfg, &start, &err);
        CHECK(name, r == 0 && round_trips(&cfg, &back), "r=%d '%s', nameservers '%s' read back as '%s'", r, err.msg,
              cfg.net.nameservers, back && strstr(back, "\nnameservers = ") ? strstr(back, "\nnameservers = ") + 15 : "");
        free(back);
}

int main(void) {
        if (!mkdtemp(dir))
                return 1;
        create("create body round-trips", "{\"name\": \"a\", \"memory\": \"512M\", \"nameservers\": \"1.1.1.1\"}");
        /* config.ini's reader takes the spaces around a value away */
        create("spaces around a nameserver", "{\"name\": \"a\", \"nameservers\": \" 1.1.1.1 \"}");
        create("nameservers of spaces only", "{\"name\": \"a\", \"nameservers\": \"  \"}");
        struct inst_config cfg;
        vs_error err = { 0 };
        inst_config_defaults(&cfg);
        static const char blank[] = "{\"memory\": \" \"}";
        int r = routes_patch_body(blank, strlen(blank), &cfg, &err);
        CHECK("a blank limit is refused as an empty one", r < 0 && strstr(err.msg, "memory must not be empty"), "r=%d '%s'",
              r, err.msg);
        char path[64];
        snprintf(path, sizeof(path), "%s/config.ini", dir);
        unlink(path);
        rmdir(dir);
        return CHECK_DONE();
}

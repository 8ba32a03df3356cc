/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: an instance's config.ini.  Whatever the bytes, loading
 * either fails with a message or yields a config that saves and loads back
 * to the same values. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vsd/conf/settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static char path[64];
        if (!path[0])
                snprintf(path, sizeof(path), "/tmp/vsd-fuzz-config-%d.ini", (int) getpid());
        FILE *f = fopen(path, "w");
        if (!f)
                return 0;
        fwrite(data, 1, size, f);
        fclose(f);

        struct inst_config a, b;
        vs_error err = { 0 };
        if (inst_config_load(&a, path, &err) < 0) {
                if (!err.msg[0] || strchr(err.msg, '\n'))
                        abort(); /* every refusal is one line for a person */
                return 0;
        }
        if (inst_config_save(&a, path, &err) < 0 || inst_config_load(&b, path, &err) < 0 ||
            memcmp(&a, &b, sizeof(a)) != 0)
                abort(); /* what loads must round-trip */
        return 0;
}

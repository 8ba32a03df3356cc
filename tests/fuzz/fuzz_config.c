/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: an instance's config.ini.  Whatever the bytes, loading
 * either fails with one line for a person, or yields a config that saves
 * and loads back to the same file.  (The same file, not the same bytes in
 * memory: a file without [storage] loads as "backend not chosen", which
 * means and is saved as "dir".) */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "vsd/conf/settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *path = fuzz_tmp_path("config");
        FILE *f = fopen(path, "w");
        if (!f)
                return 0;
        fwrite(data, 1, size, f);
        fclose(f);

        struct inst_config a, b;
        vs_error err = { 0 };
        int r = inst_config_load(&a, path, &err);
        if (r < 0) {
                fuzz_check_refusal(r, &err);
                return 0;
        }
        char *ta = NULL, *tb = NULL;
        if (inst_config_format(&a, &ta) < 0 || inst_config_save(&a, path, &err) < 0)
                abort();
        if (inst_config_load(&b, path, &err) < 0) {
                fprintf(stderr, "saved, but refused when loaded back: %s\n--\n%s--\n", err.msg, ta);
                abort();
        }
        if (inst_config_format(&b, &tb) < 0)
                abort();
        if (strcmp(ta, tb) != 0) {
                fprintf(stderr, "loaded back otherwise:\n%s--\n%s--\n", ta, tb);
                abort();
        }
        free(ta);
        free(tb);
        return 0;
}

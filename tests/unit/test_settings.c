/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The instance settings table: every row parses its own default and a
 * sample value, and each reads back the same through config.ini's text and
 * through the API's JSON; the view's order; what a change touched. */

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "vsd/conf/settings.h"
#include "tests/unit/check.h"

/* A value other than the default for every setting, as a person would
 * write it; a row without one fails the walk, so a new setting gets one. */
static const struct {
        const char *key, *value;
} samples[] = {
        { "name", "web-01" },
        { "template", "debian-12" },
        { "memory", "256M" },
        { "cpus", "1.5" },
        { "pids", "200" },
        { "memory_soft", "64M" },
        { "swap", "32M" },
        { "cpu_weight", "300" },
        { "cpuset", "0-1,3" },
        { "io_weight", "250" },
        { "io_read_bps", "254:0=1M" },
        { "io_write_bps", "254:0=10M,7:0=1G" },
        { "io_read_iops", "254:0=500" },
        { "io_write_iops", "254:0=100" },
        { "nofile", "4096" },
        { "rlimits", "core=0,nproc=4096:8192" },
        { "stop_timeout", "2m" },
        { "onboot", "no" },
        { "boot_priority", "50" },
        { "boot_delay", "5s" },
        { "net", "routed" },
        { "ip", "10.77.0.5/24,fd77::5/64" },
        { "forward", "tcp:8080:80,udp:5353:53" },
        { "rate_in", "10mbit" },
        { "rate_out", "1gbit" },
        { "isolated", "yes" },
        { "nameservers", "1.1.1.1,9.9.9.9" },
        { "backend", "image" },
        { "disk", "20G" },
        { "inodes", "100000" },
        { "privileged", "no" },
        { "nesting", "yes" },
        { "id_base", "1065536" },
};

static const char *sample_of(const char *key) {
        for (size_t k = 0; k < ELEMENTSOF(samples); k++)
                if (streq(samples[k].key, key))
                        return samples[k].value;
        return NULL;
}

/* The setting's config.ini text in c ("<ENOMEM>" when it cannot be had). */
static char *text_of(const struct inst_setting *s, const struct inst_config *c) {
        char *t = NULL;
        return inst_setting_format(s, c, &t) < 0 ? strdup("<ENOMEM>") : t;
}

static char *file_of(const struct inst_config *c) {
        char *t = NULL;
        return inst_config_format(c, &t) < 0 ? strdup("<ENOMEM>") : t;
}

/* c's value of s through config.ini's text and back: the same text, and
 * the same whole file. */
static void ini_round_trip(const struct inst_setting *s, const struct inst_config *c, const char *what) {
        char name[128];
        vs_error err = { 0 };
        struct inst_config back;
        inst_config_defaults(&back);
        _cleanup_free_ char *text = text_of(s, c);
        int r = inst_setting_parse(s, &back, text, &err);
        _cleanup_free_ char *again = text_of(s, &back), *fa = file_of(c), *fb = file_of(&back);
        snprintf(name, sizeof(name), "%s: %s '%s' reads back from config.ini's text", s->key, what, text);
        CHECK(name, r == 0 && streq(text, again) && streq(fa, fb), "%s; got '%s'", r < 0 ? err.msg : "", again);
}

/* c's value of s through the API's view and back (what a GET shows, a
 * PATCH takes): the same view; exact when exact is set. */
static void json_round_trip(const struct inst_setting *s, const struct inst_config *c, bool exact, const char *what) {
        char name[128];
        vs_error err = { 0 };
        struct inst_config back;
        inst_config_defaults(&back);
        json_auto_t *v = inst_setting_json(s, c);
        _cleanup_free_ char *shown = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
        snprintf(name, sizeof(name), "%s: %s %s reads back from the API's view", s->key, what, shown ? shown : "NULL");
        /* "" is refused in a body where it would be ambiguous: that
         * answer stands for itself, and is checked as one */
        if (v && json_is_string(v) && !*json_string_value(v) && !s->empty_ok) {
                CHECK(name, inst_setting_from_json(s, &back, v, &err) < 0 && strstr(err.msg, "must not be empty"),
                      "'' accepted: %s", err.msg);
                return;
        }
        int r = v ? inst_setting_from_json(s, &back, v, &err) : -1;
        json_auto_t *again = inst_setting_json(s, &back);
        _cleanup_free_ char *fa = file_of(c), *fb = file_of(&back);
        CHECK(name, r == 0 && json_equal(v, again) && (!exact || streq(fa, fb)), "%s; the file now:\n%s", err.msg, fb);
}

static void table_walk(void) {
        struct inst_config d;
        inst_config_defaults(&d);
        size_t with_sample = 0;
        for (size_t i = 0; i < inst_settings_n; i++) {
                const struct inst_setting *s = &inst_settings[i];
                char name[128];
                vs_error err = { 0 };

                for (size_t k = 0; k < i; k++)
                        if (streq(inst_settings[k].key, s->key) || streq(inst_settings[k].json, s->json))
                                CHECK("keys and JSON names are unique", false, "%s twice", s->key);

                /* the default: its own text parses, and it is what a new
                 * configuration holds */
                /* (none: the name, which config.ini must give, and the
                 * backend, left for the create to choose) */
                if (s->dflt) {
                        struct inst_config c;
                        inst_config_defaults(&c);
                        int r = inst_setting_parse(s, &c, s->dflt, &err);
                        _cleanup_free_ char *a = text_of(s, &c), *b = text_of(s, &d);
                        snprintf(name, sizeof(name), "%s: default '%s' parses and is the new configuration's", s->key,
                                 s->dflt);
                        CHECK(name, r == 0 && streq(a, b), "%s ('%s' against '%s')", err.msg, a, b);
                        ini_round_trip(s, &d, "default");
                        json_round_trip(s, &d, false, "default");
                }

                /* a value of its own */
                const char *v = sample_of(s->key);
                snprintf(name, sizeof(name), "%s: has a sample value", s->key);
                CHECK(name, v, "add one to samples[]");
                if (!v)
                        continue;
                with_sample++;
                struct inst_config c = d;
                int r = inst_setting_parse(s, &c, v, &err);
                _cleanup_free_ char *a = text_of(s, &c), *b = text_of(s, &d);
                snprintf(name, sizeof(name), "%s: sample '%s' parses, unlike the default", s->key, v);
                CHECK(name, r == 0 && !streq(a, b), "%s ('%s')", err.msg, a);
                ini_round_trip(s, &c, "sample");
                json_round_trip(s, &c, true, "sample");
        }
        CHECK("every sample names a setting", with_sample == ELEMENTSOF(samples), "%zu of %zu", with_sample,
              ELEMENTSOF(samples));
}

/* GET /v1/instances/NAME lists its settings in the order of its first
 * version: group by group, the table's order within each. */
static void view_order(void) {
        static const char *const want[] = {
                "name",          "template",     "memory",       "cpus",        "pids",        "stop_timeout",
                "onboot",        "boot_priority", "boot_delay",
                "memory_soft",   "swap",         "cpu_weight",   "cpuset",      "io_weight",   "nofile",
                "rlimits",       "io_read_bps",  "io_write_bps", "io_read_iops", "io_write_iops", "net",
                "ip",            "forward",      "rate_in",      "rate_out",    "isolated",    "nameservers",
                "backend",       "disk",         "inodes",       "privileged",  "nesting",
                "id_base",
        };
        char got[1024] = "", exp[1024] = "";
        for (int g = 0; g < _VIEW_MAX; g++)
                for (size_t i = 0; i < inst_settings_n; i++)
                        if (inst_settings[i].view == (enum inst_view_group) g)
                                snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s ", inst_settings[i].json);
        for (size_t k = 0; k < ELEMENTSOF(want); k++)
                snprintf(exp + strlen(exp), sizeof(exp) - strlen(exp), "%s ", want[k]);
        CHECK("the view's settings in their order", streq(got, exp), "got %s", got);
}

/* What a PATCH changed, in config.ini's words, and what it must write. */
static void changes(void) {
        struct inst_config a, b;
        vs_error err = { 0 };
        unsigned touched = ~0u;
        inst_config_defaults(&a);
        b = a;
        json_auto_t *none = inst_config_changes(&a, &b, &touched);
        CHECK("no change, nothing touched", none && json_object_size(none) == 0 && touched == 0, "%u", touched);

        CHECK("set memory and rlimits",
              inst_config_set(&b, "memory", "80M", &err) == 0 && inst_config_set(&b, "rlimits", "core=0", &err) == 0,
              "%s", err.msg);
        json_auto_t *two = inst_config_changes(&a, &b, &touched);
        _cleanup_free_ char *text = two ? json_dumps(two, JSON_COMPACT) : NULL;
        CHECK("memory and rlimits changed, in config.ini's words",
              text && streq(text, "{\"memory\":{\"from\":\"0\",\"to\":\"80M\"},\"rlimits\":{\"from\":\"\",\"to\":\"core=0\"}}"),
              "%s", text ? text : "NULL");
        CHECK("a cgroup write and a prlimit", touched == ((1u << LIVE_CGROUP) | (1u << LIVE_RLIMITS)), "%#x", touched);

        b = a;
        CHECK("set nameservers", inst_config_set(&b, "nameservers", "1.1.1.1", &err) == 0, "%s", err.msg);
        json_auto_t *ns = inst_config_changes(&a, &b, &touched);
        CHECK("nameservers: no live write (the next start reads them)",
              ns && json_object_size(ns) == 1 && touched == 1u << LIVE_NONE, "%#x", touched);

        CHECK("name and template are no settable field",
              !inst_config_settable("name") && !inst_config_settable("template") && inst_config_settable("backend") &&
                      inst_config_set(&b, "name", "x", &err) < 0,
              "settable");
}

int main(void) {
        table_walk();
        view_order();
        changes();
        return CHECK_DONE();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Parsers for what people type: names, sizes, CPU amounts, durations. */

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

#define VS_NAME_MAX 63

/* Instance and template names: [a-z0-9][a-z0-9-]{0,62}. */
bool vs_name_valid(const char *name);
int vs_name_check(const char *what, const char *name, vs_error *err);

/* "256M", "1G", "4096", "1.5G" -> bytes.  Suffixes K M G T (powers of 1024),
 * optional trailing "B"/"iB".  "0", "" and overflow are rejected. */
int vs_parse_size(const char *s, uint64_t *ret, vs_error *err);

/* "0.5", "2", "150%" -> thousandths of one CPU (500, 2000, 1500). */
int vs_parse_cpus(const char *s, uint32_t *ret_millis, vs_error *err);

/* A plain positive decimal count ("200"). */
int vs_parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *ret, vs_error *err);

/* "30", "30s", "2m", "500ms" -> milliseconds. */
int vs_parse_duration_ms(const char *s, uint64_t *ret, vs_error *err);

/* Signal names as templates write them: "SIGPWR", "PWR", "SIGRTMIN+3", "15". */
int vs_parse_signal(const char *s, int *ret, vs_error *err);

/* Format bytes the way vs_parse_size() reads them back ("256M"). */
void vs_format_size(uint64_t bytes, char *buf, size_t len);

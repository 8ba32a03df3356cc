/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Logging for the top layer only (main loops, request handlers). */

enum vs_log_level { VS_LOG_ERR, VS_LOG_WARN, VS_LOG_INFO, VS_LOG_DEBUG };

void vs_log_set_level(enum vs_log_level lvl);
void vs_log(enum vs_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) vs_log(VS_LOG_ERR, __VA_ARGS__)
#define log_warn(...) vs_log(VS_LOG_WARN, __VA_ARGS__)
#define log_info(...) vs_log(VS_LOG_INFO, __VA_ARGS__)
#define log_debug(...) vs_log(VS_LOG_DEBUG, __VA_ARGS__)

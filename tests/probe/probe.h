/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One "key=value" line on stdout, written at once (probe.c says why). */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "ok" for 0, else the errno's name ("EPERM"). */
const char *errname(int e);

/* attack.c: each tries one class of known container escape from inside an
 * instance and reports every step; the tests judge the result. */
int cmd_race_exec(int argc, char **argv);
int cmd_fd_walk(int argc, char **argv);
int cmd_cg_escape(int argc, char **argv);
int cmd_mask_escape(int argc, char **argv);
int cmd_modload(int argc, char **argv);
int cmd_devnode(int argc, char **argv);

/* nest.c: a nested container's first steps, and exhausting per-instance
 * kernel resources. */
int cmd_nest(int argc, char **argv);
int cmd_hog(int argc, char **argv);
int cmd_try(int argc, char **argv);
int cmd_notify(int argc, char **argv);

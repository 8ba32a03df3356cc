/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The template store: <root>/templates/<name>/{rootfs,template.ini}, built by
 * a builder script (<builders>/<builder>/build.sh DEST) that the daemon runs
 * as its child.  The child's output pipe and pidfd are sources of the event
 * loop, so a build of minutes never blocks a request.  A build goes into
 * <root>/templates/.<name>.build and is renamed into place only when it
 * succeeded: a failure or a crash leaves no half template (leftovers are
 * removed at daemon start).
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct vsd;
struct tmpl_build;
struct op;

/* Woken when a build has new output or has ended. */
struct tmpl_listener {
        void (*wake)(struct tmpl_listener *l);
};

/* Remove what an interrupted build, replace or remove left in
 * <root>/templates (hidden .NAME.build, .NAME.old, .NAME.del, .NAME.import),
 * the temporaries of a cache write in a template (.content-id.PID,
 * .size.PID), and the spare caches of template directories no longer there
 * (<root>/cache/templates). */
void tmpl_cleanup_leftovers(struct vsd *v);

/* Every template with its os, description, the instances using it, the
 * disk usage of its rootfs and its content id (these two null, and their
 * helper started, for one that lacks them yet: tmpl_caches_start). */
json_t *tmpl_list_json(struct vsd *v);
/* One template; NULL with err set when it does not exist. */
json_t *tmpl_json(struct vsd *v, const char *name, vs_error *err);

/* Start building template name with builder ("" or NULL: derived from the
 * name: <name> if such a builder exists, else the name without its last
 * "-<version>" part, so debian-12 is built by debian).  Refused, with
 * nothing changed, for a bad name, an unknown builder, a template in use by
 * an instance (EBUSY, naming them) or a build of that name that runs. */
int tmpl_build_start(struct vsd *v, const char *name, const char *builder, struct tmpl_build **ret, vs_error *err);

/* The build's output so far from offset off: *ret_data and the number of
 * bytes available there (complete lines only). */
size_t tmpl_build_output(struct tmpl_build *b, size_t off, const char **ret_data);

/* Whether it ended; then *ret_err holds the outcome (code 0: success). */
bool tmpl_build_done(struct tmpl_build *b, const vs_error **ret_err);
const char *tmpl_build_name(struct tmpl_build *b);
/* Its operation (ops.h) while it runs; NULL once it ended, or if none
 * could be made. */
struct op *tmpl_build_op(struct tmpl_build *b);

/* One listener (the client's stream) per build.  Detaching from an ended
 * build frees it; a build without a listener runs on to its end. */
void tmpl_build_attach(struct tmpl_build *b, struct tmpl_listener *l);
void tmpl_build_detach(struct tmpl_build *b);

/* Remove an unused template.  ENOENT when unknown, EBUSY when an instance
 * uses it or it is being built. */
int tmpl_remove(struct vsd *v, const char *name, vs_error *err);

/* What a template is, whatever its name or when it was built: the SHA-256
 * of its rootfs's tree (each entry's path, type, mode, owner, size, link
 * target or device, and each file's content; not the times), as
 * "sha256:<64 hex digits>".  Two hosts that built the same template from the
 * same packages agree; another build of different content differs.  Read
 * from <template>/.content-id when a previous call left it there, or from
 * its spare in <root>/cache/templates when the directory cannot be written
 * (a template never changes in place: a rebuild is a new directory, so its
 * caches go with the old one).  Seconds for a large template: call it from
 * a helper, never from the loop. */
#define TMPL_ID_LEN 72
int tmpl_content_id(const char *root, const char *name, char ret[TMPL_ID_LEN], vs_error *err);
/* The same of the template directory dir (any name: a hidden one being
 * received); -ENOENT, err untouched, when dir does not exist. */
int tmpl_content_id_dir(const char *dir, char ret[TMPL_ID_LEN], vs_error *err);

/* In a helper, where a template comes into being (a build, an import):
 * write dir's caches, .content-id and .size (the disk usage of its rootfs),
 * which the loop then only reads. */
int tmpl_caches_fill_dir(const char *dir, vs_error *err);

/* In the loop: start the helper that fills the caches of every template
 * lacking them (made by an older vsd), unless it runs; then it runs once
 * more when it ends.  Called by a request that found a template without
 * them (not at daemon start: the first request pays nothing but a null). */
void tmpl_caches_start(struct vsd *v);

/* A test hook: that helper hashes no faster than this many bytes a second
 * (0: as fast as it can).  Set once at daemon start (VSD_TEST_HASH_BPS). */
extern uint64_t tmpl_test_hash_bps;

/* A template received from another host (tmplsend.h), complete in the
 * hidden directory dir of <root>/templates, renamed to NAME: refused when
 * NAME exists (never replaced: instances may use it), is being built, or
 * dir's template.ini does not load. */
int tmpl_install_received(struct vsd *v, const char *name, const char *dir, vs_error *err);

/* At daemon exit: kill the running builds, remove their directories, and
 * end them with an error (their streams then finish). */
void tmpl_shutdown(struct vsd *v);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
/*
 * A template sent to another host, for a move whose target lacks it
 * (migrate.h): the sender writes the template as one archive (archive.h's
 * ARC_LAYOUT_TEMPLATE: manifest.json, template.ini, the rootfs/ tree), the
 * receiving daemon reads it from a client's descriptor (`vsctl template
 * import -`, POST /v1/templates with Upgrade: vsd-fd).
 *
 * What is received is hostile: it is extracted with an instance import's
 * checks (no absolute path, no "..", no link out of the tree, only files,
 * directories, symbolic links, devices and FIFOs inside rootfs/), its data
 * bounded by what its manifest says and by the free space, into the hidden
 * <root>/templates/.NAME.import, and renamed to NAME only once the
 * identity of what arrived (tmpl_content_id) is the one its manifest
 * names.  A template of that name here is never replaced: the same build is
 * taken as received, another build is refused.  A cut stream or a failure
 * removes the hidden directory; a daemon killed midway leaves it to the
 * next start (tmpl_cleanup_leftovers).
 */
#include "base/error.h"
#include "base/progress.h"

struct vsd;
struct op;

#define TSEND_FORMAT "vsd-template"
#define TSEND_VERSION 1

/* Write template name of the store under root into fd (not closed), p
 * counting the bytes of data.  In a helper: it reads the whole tree. */
int tsend_write_archive(const char *root, const char *name, int fd, struct vs_progress *p, vs_error *err);

/* Receive a template from fd (taken: closed here), as an operation
 * ("template-import", its object the template's name) in *ret_op. */
int tsend_import(struct vsd *v, int fd, struct op **ret_op, vs_error *err);

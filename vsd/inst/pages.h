/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A live move's memory pages sent straight to the target by CRIU's page
 * server (migrate.h), over a second ssh session of the move's:
 *
 *   source: criu dump --page-server --ps-socket D
 *             D ── tee ──┬── a local `criu page-server` into the dump's
 *                        │   own directory (the checkpoint stays whole
 *                        │   here: a failed move restores it here)
 *                        └── the link: the move's helper carries it over
 *                            ssh into `vsctl receive-pages NAME` there
 *   target: vsctl receive-pages NAME: its socket passed to the daemon,
 *           whose helper runs `criu page-server --ps-socket` into
 *           <root>/instances/.NAME.pages; the import of NAME's archive
 *           (which comes without the page images) takes them from there.
 *
 * The tee is blind to CRIU's protocol: what the dump sends goes to both
 * page servers; what they answer must be the same bytes, and the dump
 * hears them only once both said them, so that its last answer (all
 * received, before the post-dump action commits the images) means that
 * both have written everything.  Either side ending early fails the
 * dump, and CRIU then resumes the instance as it was.
 *
 * Memory pre-copy (`receive-pages NAME --precopy`, a source whose kernel
 * tracks dirty memory): the link then carries several page-server sessions
 * one after the other, each announced by a header of PAGES_PASS_LEN bytes,
 * "vsd-pass pre 01\n" for pre-dump pass 1 ... and "vsd-pass fin 02\n" for
 * the final dump after 2 passes.  Pass k's page server writes into pre-k/
 * (its parent ../pre-(k-1)), the final one into the staging directory with
 * pre-n as its parent: the images of a pass name the pages that did not
 * change since the last as in the parent's, and the restore follows the
 * `parent` links.  A page server reads no byte past its session's close,
 * so the next header is the next byte on the link.
 *
 * The staged pages live as long as the page session: the target's helper
 * removes whatever the import has not taken once the source closes it
 * (the move ended, or its daemon died); a daemon killed meanwhile leaves a
 * hidden directory that the next one removes at its start.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

struct op;
struct vsd;

/* The line `vsctl receive-pages` prints once its daemon took the socket:
 * from there on its standard streams are the page server's. */
#define PAGES_READY "vsd-pages-ready"

/* A dump's images that the page server writes: pagemap-*.img, pages-*.img. */
bool pages_image_name(const char *leaf);

/* The page data in dir's images (its pages-*.img): what a dump, or a
 * pre-copy pass, sent. */
uint64_t pages_bytes_in(const char *dir);

/* In the dump's helper: the local page server (criu, writing into dir)
 * and the tee with remote (the link to the target's page server) started;
 * *ret_dump is the socket to give the dump (--ps-socket), close-on-exec. */
struct pages_tee {
        pid_t tee, local;
};
/* prev (relative to dir; NULL: none): the local page server's parent
 * images, as the target's has. */
int pages_tee_start_parent(const char *criu, int remote, const char *dir, const char *prev, struct pages_tee *t,
                           int *ret_dump, vs_error *err);

/* Memory pre-copy's headers on the link (above). */
#define PAGES_PASS_LEN 16
#define PAGES_PASS_MAX 8
/* The next session announced on link: pass n of the pre-dump, or (final)
 * the dump after n passes. */
int pages_pass_announce(int link, bool final, unsigned n, vs_error *err);
/* A header read: 0 with *ret_final and *ret_n, -EPROTO for another text. */
int pages_pass_parse(const char *h, size_t len, bool *ret_final, unsigned *ret_n);

/* After the dump (its socket closed): both ended. */
int pages_tee_end(struct pages_tee *t, vs_error *err);

/* In the post-dump action (the instance still frozen): wait until the
 * local page server has closed its images in dir (a dump without one
 * returns at once).  -ETIMEDOUT after 30 s: the commit must not go on. */
int pages_wait_local(const char *dir);

/* The target's side: receive the pages of the instance name (not here)
 * through fd (taken), a socket whose peer carries CRIU's page-server
 * protocol, into the staging directory.  An operation ("receive-pages").
 * lazy (a post-copy move, below): no page server; the restore of name
 * asks for `criu lazy-pages` on fd (pages_lazy_await), which fetches the
 * pages from the source's dump while the instance runs here; the
 * operation ends with it, and a failure then kills the instance here.
 * precopy (not with lazy): the link carries pre-dump passes first. */
int pages_receive(struct vsd *v, const char *name, int fd, bool lazy, bool precopy, struct op **ret_op,
                  vs_error *err);

/*
 * Post-copy ([migrate] postcopy = yes, `vsctl migrate --live --postcopy`):
 * the dump keeps the anonymous memory in its pipes and serves it once the
 * checkpoint is committed (criu dump --lazy-pages --ps-socket); the target
 * restores at once (criu restore --lazy-pages) and its `criu lazy-pages
 * --page-server --ps-socket`, started on the page session before the
 * restore, fetches every page, those the processes touch first.  CRIU
 * needs userfaultfd (`criu check --feature uffd-noncoop`, asked once at
 * the daemon's start) and 4 MiB pipes: CAP_SYS_RESOURCE or
 * fs.pipe-max-size >= 4194304, which vsd raises only when vsd.conf says
 * [migrate] raise_pipe_max_size = yes.
 */
#define PAGES_PIPE_MIN 4194304

/* At the daemon's start, with [migrate] postcopy on: v->criu_uffd. */
void pages_postcopy_probe(struct vsd *v);

/* This host can take part in a post-copy move (either side): 0, else why
 * in one line (the setting off, no userfaultfd, the pipe size). */
int pages_postcopy_check(struct vsd *v, vs_error *err);

/* The same without raising anything (what `vsctl version` lists). */
bool pages_postcopy_possible(struct vsd *v);

/* In the restore's helper of a post-copy move: the lazy-pages daemon
 * asked for (the receiving helper of name's page session runs it in
 * images, the restore's directory) and awaited until it listens. */
int pages_lazy_await(const char *root, const char *name, const char *images, vs_error *err);

/* Its first half alone: the lazy-pages daemon asked for, so that it
 * starts while the restore mounts the instance's root (pages_lazy_await
 * then only waits). */
int pages_lazy_request(const char *root, const char *name, const char *images, vs_error *err);

/* In the loop, once a lazy restore of name ended: its lazy-pages failed
 * meanwhile (the receiving operation, which kills a running instance,
 * ended before the restore): the restored instance must not run on. */
bool pages_lazy_failed(const char *run_dir, const char *name);

/* In an import's helper: the pages received for name taken into ckpt_dir
 * (the imported checkpoint), with a pre-copy's pre-N directories and the
 * `parent` link to the last, waiting a little for the page server's end.
 * -ENOENT when none came. */
int pages_claim(const char *root, const char *name, const char *ckpt_dir, vs_error *err);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An instance's archive (vsd/inst/archive.h): which members an archive may
 * have, and a round trip through a pipe-less temporary file: small files,
 * a sparse image (its holes stay holes), a tree with its links, and an
 * archive cut short. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "vsd/inst/archive.h"
#include "tests/unit/check.h"

static void kinds(void) {
        static const struct {
                const char *path;
                enum arc_layout layout;
                enum arc_kind kind;
        } cases[] = {
                { "disk.img", ARC_LAYOUT_IMAGE, ARC_DISK },
                { "disk.img", ARC_LAYOUT_DIR, ARC_BAD },
                { "upper", ARC_LAYOUT_DIR, ARC_TREE },
                { "upper/etc/passwd", ARC_LAYOUT_DIR, ARC_TREE },
                { "upper/a b/\t", ARC_LAYOUT_DIR, ARC_TREE },
                { "upper", ARC_LAYOUT_IMAGE, ARC_BAD },
                { "upper.delta", ARC_LAYOUT_DIR, ARC_TREE_DELTA },
                { "upper.delta", ARC_LAYOUT_IMAGE, ARC_BAD },
                { "upper.delta/x", ARC_LAYOUT_DIR, ARC_BAD },
                { "upper.deleted/etc/passwd", ARC_LAYOUT_DIR, ARC_TREE_DELETED },
                { "upper.deleted/etc/passwd", ARC_LAYOUT_IMAGE, ARC_BAD },
                { "upper.deleted", ARC_LAYOUT_DIR, ARC_BAD },
                { "upper.deleted/", ARC_LAYOUT_DIR, ARC_BAD },
                { "upper.deleted/../../etc/passwd", ARC_LAYOUT_DIR, ARC_BAD },
                { "upper.deleted//x", ARC_LAYOUT_DIR, ARC_BAD },
                { "upperx", ARC_LAYOUT_DIR, ARC_BAD },
                { "upper/../../etc/passwd", ARC_LAYOUT_DIR, ARC_BAD },
                { "upper/./x", ARC_LAYOUT_DIR, ARC_BAD },
                { "upper//x", ARC_LAYOUT_DIR, ARC_BAD },
                { "/upper/x", ARC_LAYOUT_DIR, ARC_BAD },
                { "../disk.img", ARC_LAYOUT_IMAGE, ARC_BAD },
                { "/etc/passwd", ARC_LAYOUT_IMAGE, ARC_BAD },
                { "snapshots", ARC_LAYOUT_IMAGE, ARC_DIRECTORY },
                { "snapshots/s1.img", ARC_LAYOUT_IMAGE, ARC_SNAP_IMAGE },
                { "snapshots/S1.img", ARC_LAYOUT_IMAGE, ARC_BAD },
                { "snapshots/.img", ARC_LAYOUT_IMAGE, ARC_BAD },
                { "snapshots/s1", ARC_LAYOUT_DIR, ARC_DIRECTORY },
                { "snapshots/s1/upper/x", ARC_LAYOUT_DIR, ARC_TREE },
                { "snapshots/s1/work", ARC_LAYOUT_DIR, ARC_BAD },
                { "snapshots/s1.img", ARC_LAYOUT_DIR, ARC_BAD },
                { "checkpoint", ARC_LAYOUT_IMAGE, ARC_DIRECTORY },
                { "checkpoint/pages-1.img", ARC_LAYOUT_IMAGE, ARC_CKPT_FILE },
                { "checkpoint/vsd.json", ARC_LAYOUT_DIR, ARC_CKPT_FILE },
                { "checkpoint/.hidden", ARC_LAYOUT_IMAGE, ARC_BAD },
                { "checkpoint/sub/x", ARC_LAYOUT_IMAGE, ARC_BAD },
                { "checkpoint/..", ARC_LAYOUT_IMAGE, ARC_BAD },
                { "config.ini", ARC_LAYOUT_IMAGE, ARC_BAD },
                { "", ARC_LAYOUT_IMAGE, ARC_BAD },
        };
        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                size_t root = 0;
                enum arc_kind got = arc_member_kind(cases[k].path, cases[k].layout, &root);
                char name[128];
                snprintf(name, sizeof(name), "kind of '%s' (%s)", cases[k].path,
                         cases[k].layout == ARC_LAYOUT_IMAGE ? "image" : "dir");
                CHECK(name, got == cases[k].kind, "got %d, expected %d", got, cases[k].kind);
        }
        size_t root = 0;
        arc_member_kind("snapshots/s1/upper/etc", ARC_LAYOUT_DIR, &root);
        CHECK("tree root of a snapshot", root == strlen("snapshots/s1/upper"), "got %zu", root);
}

static void write_file(const char *path, const char *data) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
                if (write(fd, data, strlen(data)) < 0)
                        perror("write");
                close(fd);
        }
}

static bool same_file(const char *a, const char *b) {
        _cleanup_free_ char *x = NULL, *y = NULL;
        FILE *f = fopen(a, "re"), *g = fopen(b, "re");
        size_t nx = 0, ny = 0;
        bool same = false;
        if (f && g) {
                x = calloc(1, 1 << 20);
                y = calloc(1, 1 << 20);
                nx = fread(x, 1, 1 << 20, f);
                ny = fread(y, 1, 1 << 20, g);
                same = x && y && nx == ny && memcmp(x, y, nx) == 0;
        }
        if (f)
                fclose(f);
        if (g)
                fclose(g);
        return same;
}

/* Write an archive of a checkpoint-like directory, a sparse image and a
 * small tree into a file; read it back into another directory. */
static void round_trip(void) {
        char top[] = "/tmp/vsd-test-archive.XXXXXX";
        if (!mkdtemp(top)) {
                CHECK("temporary directory", false, "%s", strerror(errno));
                return;
        }
        char src[300], dst[300], path[400], path2[400], arc[300];
        snprintf(src, sizeof(src), "%s/src", top);
        snprintf(dst, sizeof(dst), "%s/dst", top);
        snprintf(arc, sizeof(arc), "%s/a.tar", top);
        mkdir(src, 0700);
        mkdir(dst, 0700);
        /* files of every small size, and one of none */
        static const char *const small[] = { "", "x", "0123456789abcdef", "a somewhat longer line of text\n" };
        for (size_t k = 0; k < ELEMENTSOF(small); k++) {
                snprintf(path, sizeof(path), "%s/f%zu.img", src, k);
                write_file(path, small[k]);
        }
        /* an image of 1 GiB with 8 KiB of data in the middle */
        snprintf(path, sizeof(path), "%s/disk.img", src);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        char block[8192];
        memset(block, 'D', sizeof(block));
        bool ok = fd >= 0 && ftruncate(fd, 1LL << 30) == 0 && pwrite(fd, block, sizeof(block), 1LL << 29) == sizeof(block);
        if (fd >= 0)
                close(fd);
        CHECK("sparse image made", ok, "%s", strerror(errno));
        /* a tree: a file, a symbolic link out, a hard link */
        snprintf(path, sizeof(path), "%s/upper", src);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/upper/etc", src);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/upper/etc/file", src);
        write_file(path, "inside\n");
        snprintf(path2, sizeof(path2), "%s/upper/etc/link", src);
        ok = symlink("/etc/shadow", path2) == 0;
        snprintf(path2, sizeof(path2), "%s/upper/etc/hard", src);
        ok = ok && link(path, path2) == 0;
        CHECK("tree made", ok, "%s", strerror(errno));

        fd = open(arc, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        struct arc_writer *w = NULL;
        vs_error err = { 0 };
        int r = arc_writer_open(fd, false, NULL, &w, &err);
        if (r >= 0)
                r = arc_add_bytes(w, ARC_MANIFEST, "{}", 2, &err);
        if (r >= 0)
                r = arc_add_bytes(w, ARC_CONFIG, "[instance]\n", 11, &err);
        if (r >= 0) {
                snprintf(path, sizeof(path), "%s/disk.img", src);
                r = arc_add_file(w, "disk.img", path, &err);
        }
        if (r >= 0)
                r = arc_add_dir(w, "checkpoint", &err);
        for (size_t k = 0; r >= 0 && k < ELEMENTSOF(small); k++) {
                char as[64];
                snprintf(path, sizeof(path), "%s/f%zu.img", src, k);
                snprintf(as, sizeof(as), "checkpoint/f%zu.img", k);
                r = arc_add_file(w, as, path, &err);
        }
        CHECK("archive written", r >= 0, "%s", err.msg);
        r = r >= 0 ? arc_writer_close(w, &err) : (arc_writer_free(w), r);
        CHECK("archive closed", r >= 0, "%s", err.msg);
        struct stat st;
        stat(arc, &st);
        CHECK("a sparse 1 GiB image takes its data only", st.st_size < (1 << 20), "%lld bytes",
              (long long) st.st_size);
        close(fd);

        fd = open(arc, O_RDONLY | O_CLOEXEC);
        struct arc_reader *rd = NULL;
        _cleanup_free_ char *m = NULL, *c = NULL;
        r = arc_reader_open(fd, NULL, &rd, &err);
        if (r >= 0)
                r = arc_read_small(rd, ARC_MANIFEST, 1024, &m, &err);
        if (r >= 0)
                r = arc_read_small(rd, ARC_CONFIG, 1024, &c, &err);
        CHECK("manifest and config first", r >= 0 && streq(m, "{}") && streq(c, "[instance]\n"), "%s", err.msg);
        int dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct arc_limits lim = { .layout = ARC_LAYOUT_IMAGE, .image_size = 1ULL << 30, .ckpt_bytes = 1 << 20 };
        struct arc_found found = { 0 };
        if (r >= 0)
                r = arc_extract_rest(rd, dfd, &lim, &found, &err);
        CHECK("archive read back", r >= 0 && found.disk && found.checkpoint, "%s", err.msg);
        arc_reader_free(rd);
        close(fd);
        for (size_t k = 0; k < ELEMENTSOF(small); k++) {
                char name[64];
                snprintf(path, sizeof(path), "%s/f%zu.img", src, k);
                snprintf(path2, sizeof(path2), "%s/checkpoint/f%zu.img", dst, k);
                snprintf(name, sizeof(name), "small file of %zu bytes", strlen(small[k]));
                CHECK(name, same_file(path, path2), "differs");
        }
        snprintf(path, sizeof(path), "%s/disk.img", dst);
        ok = stat(path, &st) == 0 && st.st_size == 1LL << 30 && st.st_blocks * 512 < (1 << 20);
        CHECK("image back with its holes", ok, "size %lld, %lld blocks", (long long) st.st_size, (long long) st.st_blocks);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        char back[8192] = { 0 };
        ok = fd >= 0 && pread(fd, back, sizeof(back), 1LL << 29) == sizeof(back) && memcmp(back, block, sizeof(back)) == 0;
        if (fd >= 0)
                close(fd);
        CHECK("image data back", ok, "differs");
        close(dfd);

        /* the same archive cut short: refused */
        snprintf(path, sizeof(path), "%s/cut", top);
        mkdir(path, 0700);
        stat(arc, &st);
        if (truncate(arc, st.st_size / 2) == 0) {
                fd = open(arc, O_RDONLY | O_CLOEXEC);
                dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                _cleanup_free_ char *m2 = NULL, *c2 = NULL;
                rd = NULL;
                r = arc_reader_open(fd, NULL, &rd, &err);
                if (r >= 0)
                        r = arc_read_small(rd, ARC_MANIFEST, 1024, &m2, &err);
                if (r >= 0)
                        r = arc_read_small(rd, ARC_CONFIG, 1024, &c2, &err);
                if (r >= 0)
                        r = arc_extract_rest(rd, dfd, &lim, &found, &err);
                CHECK("an archive cut short is refused", r < 0, "accepted");
                arc_reader_free(rd);
                close(fd);
                close(dfd);
        }
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
        if (system(cmd) != 0)
                perror("rm");
}

int main(void) {
        kinds();
        round_trip();
        return CHECK_DONE();
}

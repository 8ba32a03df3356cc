/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The page server's tee (vsd/inst/pages.h), with a stand-in for CRIU's
 * local page server (a script that keeps what it is sent and answers "OK"
 * to "END"): what the dump sends reaches both sides; the dump hears an
 * answer only once both gave it; answers that differ, and the target's
 * side ending early, fail with what happened and end the dump's stream;
 * the post-dump action waits for the local one's end.
 * And which images are the page server's. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/util.h"
#include "vsd/inst/pages.h"
#include "tests/unit/check.h"

/* criu page-server --ps-socket FD -D DIR ...: FD's bytes into DIR/got
 * until "END", then "OK" back */
static const char fake_criu[] = "#!/usr/bin/python3\n"
                                "import os, sys\n"
                                "fd, d = int(sys.argv[3]), sys.argv[5]\n"
                                "got = b''\n"
                                "while not got.endswith(b'END'):\n"
                                "    b = os.read(fd, 4096)\n"
                                "    if not b: sys.exit(1)\n"
                                "    got += b\n"
                                "open(d + '/got', 'wb').write(got)\n"
                                "os.write(fd, b'OK')\n";

static ssize_t read_some(int fd, char *buf, size_t len) {
        ssize_t n = read(fd, buf, len - 1);
        buf[n > 0 ? n : 0] = '\0';
        return n;
}

/* One round: the dump sends "pages...END", the target (r) answers
 * answer (NULL: closes its end instead); what the dump hears, and the
 * tee's end. */
static int round_trip(const char *criu, const char *dir, const char *answer, char *heard, size_t len, vs_error *err) {
        int r_pair[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, r_pair) < 0)
                return -errno;
        struct pages_tee t;
        int dump = -1;
        int r = pages_tee_start_parent(criu, r_pair[0], dir, NULL, &t, &dump, err);
        close(r_pair[0]);
        if (r < 0) {
                close(r_pair[1]);
                return r;
        }
        char buf[256];
        (void) vs_write_all(dump, "pages...END", 11);
        ssize_t n = 0;
        while (n < 11) {
                ssize_t k = read(r_pair[1], buf + n, sizeof(buf) - 1 - (size_t) n);
                if (k <= 0)
                        break;
                n += k;
        }
        buf[n > 0 ? n : 0] = '\0';
        CHECK("the target gets what the dump sends", streq(buf, "pages...END"), "got '%s'", buf);
        if (answer)
                (void) vs_write_all(r_pair[1], answer, strlen(answer));
        else
                close(r_pair[1]);
        (void) read_some(dump, heard, len);
        close(dump);
        r = pages_tee_end(&t, err);
        if (answer)
                close(r_pair[1]);
        return r;
}

int main(void) {
        char dir[] = "/tmp/vsd-test-pages-XXXXXX", criu[300], got[300], heard[64];
        if (!mkdtemp(dir)) {
                CHECK("temp dir", false, "%s", strerror(errno));
                return CHECK_DONE();
        }
        alarm(20);
        snprintf(criu, sizeof(criu), "%s/criu", dir);
        snprintf(got, sizeof(got), "%s/got", dir);
        int r = vs_write_atomic(criu, fake_criu, sizeof(fake_criu) - 1, 0755);
        CHECK("the stand-in", r >= 0, "%s", strerror(-r));

        vs_error err = { 0 };
        r = round_trip(criu, dir, "OK", heard, sizeof(heard), &err);
        CHECK("both answered the same", r == 0, "%d %s", r, err.msg);
        CHECK("the dump hears the answer", streq(heard, "OK"), "heard '%s'", heard);
        CHECK("the commit may go on once the local one ended", pages_wait_local(dir) == 0, " ");
        _cleanup_free_ char *text = NULL;
        CHECK("the local copy", vs_read_file(got, 4096, &text, NULL) >= 0 && streq(text, "pages...END"), "%s",
              text ? text : "(none)");

        err = (vs_error){ 0 };
        r = round_trip(criu, dir, "NO", heard, sizeof(heard), &err);
        CHECK("answers that differ fail", r == -EPROTO && strstr(err.msg, "answered differently"), "%d %s", r, err.msg);
        CHECK("the dump hears no answer", heard[0] == '\0', "heard '%s'", heard);

        err = (vs_error){ 0 };
        r = round_trip(criu, dir, NULL, heard, sizeof(heard), &err);
        CHECK("the target's end fails", r == -EPIPE && strstr(err.msg, "was lost"), "%d %s", r, err.msg);
        CHECK("the dump hears its end", heard[0] == '\0', "heard '%s'", heard);

        CHECK("pagemap", pages_image_name("pagemap-42.img"), " ");
        CHECK("pages", pages_image_name("pages-65537.img"), " ");
        CHECK("core", !pages_image_name("core-42.img"), " ");
        CHECK("pages without .img", !pages_image_name("pages-1"), " ");
        CHECK("pagemap-shmem is the page server's too", pages_image_name("pagemap-shmem-7.img"), " ");

        /* memory pre-copy's headers: what the source writes, the target reads */
        int sp[2];
        bool final = true;
        unsigned n = 0;
        char h[PAGES_PASS_LEN + 1] = "";
        CHECK("a socket pair", socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0, " ");
        r = pages_pass_announce(sp[0], false, 2, &err);
        CHECK("a pass announced", r == 0 && read(sp[1], h, PAGES_PASS_LEN) == PAGES_PASS_LEN, "%d", r);
        CHECK("pass 2 read", pages_pass_parse(h, PAGES_PASS_LEN, &final, &n) == 0 && !final && n == 2, "'%s'", h);
        r = pages_pass_announce(sp[0], true, 3, &err);
        CHECK("the final dump announced", r == 0 && read(sp[1], h, PAGES_PASS_LEN) == PAGES_PASS_LEN, "%d", r);
        CHECK("final after 3 read", pages_pass_parse(h, PAGES_PASS_LEN, &final, &n) == 0 && final && n == 3, "'%s'", h);
        CHECK("more passes than allowed refused", pages_pass_announce(sp[0], false, PAGES_PASS_MAX + 1, &err) < 0, " ");
        close(sp[0]);
        close(sp[1]);
        CHECK("pass 0 is no pass", pages_pass_parse("vsd-pass pre 00\n", PAGES_PASS_LEN, &final, &n) == -EPROTO, " ");
        CHECK("a final without passes", pages_pass_parse("vsd-pass fin 00\n", PAGES_PASS_LEN, &final, &n) == 0 && n == 0,
              " ");
        CHECK("past the bound", pages_pass_parse("vsd-pass pre 99\n", PAGES_PASS_LEN, &final, &n) == -EPROTO, " ");
        CHECK("another word", pages_pass_parse("vsd-pass mid 01\n", PAGES_PASS_LEN, &final, &n) == -EPROTO, " ");
        CHECK("CRIU's bytes", pages_pass_parse("\x01\x10\0\0\0\0\0\0\0\0\0\0\0\0\0\0", PAGES_PASS_LEN, &final, &n) == -EPROTO,
              " ");
        CHECK("short", pages_pass_parse("vsd-pass pre 01", 15, &final, &n) == -EPROTO, " ");
        (void) vs_rm_rf(dir);
        return CHECK_DONE();
}

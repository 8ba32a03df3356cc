/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The images vsd rewrites (vsd/inst/checkpoint.c): the seccomp image a
 * restore rewrites (notify returns become allow, found by parsing CRIU's
 * framing and the protobuf messages, nothing else touched, and a cut or
 * foreign image refused), and the user namespace image an import moves to
 * another block of host ids. */

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <linux/seccomp.h>
#include <string.h>

#include "tests/unit/check.h"
#include "base/fileio.h"
#include "base/util.h"
#include "vsd/inst/checkpoint.h"

static size_t put32(uint8_t *p, uint32_t v) {
        for (int b = 0; b < 4; b++)
                p[b] = (uint8_t) (v >> (8 * b));
        return 4;
}

static size_t insn(uint8_t *p, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k) {
        p[0] = (uint8_t) code;
        p[1] = (uint8_t) (code >> 8);
        p[2] = jt;
        p[3] = jf;
        put32(p + 4, k);
        return 8;
}

/* An image of one seccomp_entry with one seccomp_filter (prev = 3). */
static size_t image(uint8_t *img, const uint8_t *filter, size_t flen) {
        uint8_t f[256], e[300];
        size_t n = 0, m = 0, o = 0;
        f[n++] = 0x0a; /* field 1, bytes */
        f[n++] = (uint8_t) flen;
        memcpy(f + n, filter, flen);
        n += flen;
        f[n++] = 0x10; /* field 2, varint */
        f[n++] = 3;
        e[m++] = 0x0a; /* seccomp_entry field 1: the filter message */
        e[m++] = (uint8_t) n;
        memcpy(e + m, f, n);
        m += n;
        o += put32(img + o, 0x54564319);
        o += put32(img + o, 0x64413049);
        o += put32(img + o, (uint32_t) m);
        memcpy(img + o, e, m);
        return o + m;
}

static size_t varint(uint8_t *p, uint64_t v) {
        size_t k = 0;
        do {
                p[k] = v & 0x7f;
                v >>= 7;
                p[k++] |= v ? 0x80 : 0;
        } while (v);
        return k;
}

/* A userns image: uid_map and gid_map of one extent each, 0 -> base, 65536. */
static size_t userns_image(uint8_t *img, uint64_t base) {
        uint8_t e[64];
        size_t n = 0, len = 0;
        for (int map = 1; map <= 2; map++) {
                uint8_t x[32];
                size_t k = 0;
                x[k++] = 0x08;
                k += varint(x + k, 0);
                x[k++] = 0x10;
                k += varint(x + k, base);
                x[k++] = 0x18;
                k += varint(x + k, 65536);
                e[n++] = (uint8_t) (map << 3 | 2);
                e[n++] = (uint8_t) k;
                memcpy(e + n, x, k);
                n += k;
        }
        len += put32(img, 0x54564319);
        len += put32(img + len, 0x55474906);
        len += put32(img + len, (uint32_t) n);
        memcpy(img + len, e, n);
        return len + n;
}

static void relocate(void) {
        char dir[] = "/tmp/vsd-test-userns.XXXXXX", path[128];
        if (!mkdtemp(dir)) {
                CHECK("temporary directory", false, "%s", strerror(errno));
                return;
        }
        static const char meta[] = "{\"id\":\"0123456789abcdef\",\"taken\":1,\"leave_running\":false,"
                                   "\"started_at\":1,\"ttys\":[],\"view\":[],\"privileged\":false,"
                                   "\"id_base\":1000000,\"link\":true}";
        snprintf(path, sizeof(path), "%s/vsd.json", dir);
        vs_write_atomic(path, meta, sizeof(meta) - 1, 0600);
        uint8_t img[128], want[128];
        size_t len = userns_image(img, 1000000), want_len = userns_image(want, 70000000);
        snprintf(path, sizeof(path), "%s/userns-15.img", dir);
        vs_write_atomic(path, img, len, 0644);
        vs_error err = { 0 };
        int r = ckpt_relocate_ids(dir, 1000000, 70000000, &err);
        CHECK("relocated", r == 0, "%s", err.msg);
        _cleanup_free_ char *got = NULL, *m = NULL;
        size_t got_len = 0;
        vs_read_file(path, 4096, &got, &got_len);
        CHECK("the mapping moved, the image re-framed (a longer varint)",
              got && got_len == want_len && memcmp(got, want, want_len) == 0, "%zu bytes, want %zu", got_len, want_len);
        snprintf(path, sizeof(path), "%s/vsd.json", dir);
        vs_read_file(path, 4096, &m, NULL);
        CHECK("vsd.json's id_base", m && strstr(m, "\"id_base\":70000000"), "%s", m ? m : "(none)");
        /* a mapping of ids that are not the instance's block: refused */
        snprintf(path, sizeof(path), "%s/userns-15.img", dir);
        len = userns_image(img, 5000000);
        vs_write_atomic(path, img, len, 0644);
        CHECK("another block's mapping refused", ckpt_relocate_ids(dir, 70000000, 1000000, &err) < 0, "accepted");
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
                perror("rm");
}

int main(void) {
        relocate();
        uint8_t filter[64], img[512], before[512];
        size_t flen = 0;
        /* a load whose k looks like a notify return, a notify, an allow */
        flen += insn(filter + flen, BPF_LD | BPF_W | BPF_ABS, 0, 0, SECCOMP_RET_USER_NOTIF);
        flen += insn(filter + flen, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_USER_NOTIF);
        flen += insn(filter + flen, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
        /* k = 6 then a code 0 with jt/jf 0xc0 0x7f: the 8 bytes of a notify
         * return across two instructions, which a byte search would take */
        flen += insn(filter + flen, BPF_RET | BPF_K, 0, 0, 6);
        flen += insn(filter + flen, 0, 0xc0, 0x7f, 0);
        size_t len = image(img, filter, flen);
        memcpy(before, img, len);
        unsigned changed = 99;
        int r = ckpt_seccomp_notify_to_allow(img, len, &changed);
        CHECK("parsed", r == 0, "r=%d", r);
        CHECK("one notify return changed", changed == 1, "changed %u", changed);
        size_t at = len - flen; /* the filter's bytes are the image's tail but for prev */
        at -= 2;
        CHECK("the notify return is an allow now",
              img[at + 8 + 4] == 0x00 && img[at + 8 + 5] == 0x00 && img[at + 8 + 6] == 0xff && img[at + 8 + 7] == 0x7f,
              "bytes %02x %02x %02x %02x", img[at + 12], img[at + 13], img[at + 14], img[at + 15]);
        memcpy(before + at + 8 + 4, img + at + 8 + 4, 4);
        CHECK("nothing else changed", memcmp(before, img, len) == 0, "other bytes differ");

        CHECK("a cut image refused", ckpt_seccomp_notify_to_allow(img, len - 3, &changed) == -EBADMSG, "accepted");
        uint8_t other[16] = { 0 };
        put32(other, 0x54564319);
        put32(other + 4, 0x12345678);
        CHECK("another image's magic refused", ckpt_seccomp_notify_to_allow(other, sizeof(other), &changed) == -EBADMSG,
              "accepted");
        /* an entry length beyond the file */
        len = image(img, filter, flen);
        put32(img + 8, 10000);
        CHECK("an entry longer than the file refused", ckpt_seccomp_notify_to_allow(img, len, &changed) == -EBADMSG,
              "accepted");
        /* a filter whose length is no multiple of 8 */
        len = image(img, filter, flen - 3);
        CHECK("a filter of a partial instruction refused",
              ckpt_seccomp_notify_to_allow(img, len, &changed) == -EBADMSG, "accepted");
        return CHECK_DONE();
}

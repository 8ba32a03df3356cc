/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The seccomp image a restore rewrites (vsd/inst/checkpoint.c): notify
 * returns become allow, found by parsing CRIU's framing and the protobuf
 * messages, nothing else touched, and a cut or foreign image refused. */

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <string.h>

#include "tests/unit/check.h"
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

int main(void) {
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

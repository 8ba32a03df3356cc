/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/error.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The length of the UTF-8 character at p (1-4), or 0 when the bytes there
 * are not one (RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF, no character cut short by the end of the string). */
static size_t utf8_char_len(const unsigned char *p) {
        unsigned char lo = 0x80, hi = 0xbf;
        size_t n;
        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                n = 2;
        else if (p[0] >= 0xe0 && p[0] <= 0xef) {
                n = 3;
                if (p[0] == 0xe0)
                        lo = 0xa0;
                else if (p[0] == 0xed)
                        hi = 0x9f;
        } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
                n = 4;
                if (p[0] == 0xf0)
                        lo = 0x90;
                else if (p[0] == 0xf4)
                        hi = 0x8f;
        } else
                return 0;
        if (p[1] < lo || p[1] > hi)
                return 0;
        for (size_t k = 2; k < n; k++)
                if (p[k] < 0x80 || p[k] > 0xbf)
                        return 0;
        return n;
}

void vs_err_text_clean(char *s) {
        unsigned char *in = (unsigned char *) s, *out = in;
        while (*in) {
                size_t n = utf8_char_len(in);
                /* C0 controls, DEL and C1 controls (U+0080..U+009F, which
                 * some terminals obey like ESC) */
                bool control = n == 1 ? (*in < 0x20 || *in == 0x7f) : n == 2 && in[0] == 0xc2 && in[1] < 0xa0;
                if (n == 0 || control) {
                        *out++ = '?';
                        in += n ? n : 1;
                        continue;
                }
                memmove(out, in, n);
                out += n;
                in += n;
        }
        *out = '\0';
}

__attribute__((format(printf, 4, 0)))
static int fill(vs_error *err, int errnum, int with_reason, const char *fmt, va_list ap) {
        if (errnum <= 0)
                errnum = errnum < 0 ? -errnum : EINVAL;
        if (!err)
                return -errnum;
        err->code = errnum;
        int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        if (with_reason && n >= 0 && (size_t) n < sizeof(err->msg))
                snprintf(err->msg + n, sizeof(err->msg) - (size_t) n, ": %s", strerror(errnum));
        vs_err_text_clean(err->msg);
        return -errnum;
}

int vs_err(vs_error *err, int errnum, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = fill(err, errnum, 1, fmt, ap);
        va_end(ap);
        return r;
}

int vs_err_msg(vs_error *err, int errnum, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = fill(err, errnum, 0, fmt, ap);
        va_end(ap);
        return r;
}

int vs_err_prefix(vs_error *err, const char *fmt, ...) {
        if (!err)
                return -EINVAL;
        if (err->code == 0)
                err->code = EINVAL;
        char old[VS_ERROR_MAX];
        memcpy(old, err->msg, sizeof(old));
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t) n < sizeof(err->msg))
                snprintf(err->msg + n, sizeof(err->msg) - (size_t) n, ": %s", old);
        vs_err_text_clean(err->msg);
        return -err->code;
}

int vs_err_http_status(int code) {
        switch (code) {
        case 0:
                return 200;
        case EINVAL:
        case ERANGE:
        case ENAMETOOLONG:
                return 400;
        case EPERM:
        case EACCES:
                return 403;
        case ENOENT:
        case ESRCH:
                return 404;
        case EEXIST:
        case EADDRINUSE:
        case EBUSY:
        case EALREADY:
        case ENOTEMPTY:
                return 409;
        case E2BIG:
        case EMSGSIZE:
                return 413;
        case ENOSPC:
        case EDQUOT:
                return 507;
        case EOPNOTSUPP:
                return 501;
        default:
                return 500;
        }
}

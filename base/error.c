/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl resume NAME */
#include "vsctl/vsctl.h"

int cmd_resume(struct vsctl *ctx, int argc, char **argv) {
        return vsctl_instance_action(ctx, argc, argv, "resume");
}

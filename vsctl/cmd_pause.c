/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsctl pause NAME */
#include "vsctl/vsctl.h"

int cmd_pause(struct vsctl *ctx, int argc, char **argv) {
        return vsctl_instance_action(ctx, argc, argv, "pause");
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The files of an instance's /etc that follow its network settings
 * (/etc/hosts, /etc/resolv.conf), written by the start's child
 * (SYNC_NET_FILES, child.c) from the plan vsd/netw/network.c made.
 */

#include "base/error.h"
#include "vsd/start/start.h"

/* In the child, with the instance's root.  A file the customer replaced by
 * something vsd does not write into (a FIFO, a directory, a link, a huge
 * file) is left alone and named in warn; err is for real failures. */
int netfiles_write(int rootfd, const struct start_net *plan, vs_error *warn, vs_error *err);

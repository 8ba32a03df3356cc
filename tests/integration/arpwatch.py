#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Gratuitous ARP seen on a link (sender address = target address) until
# STOPFILE exists: one line "garp MAC IP" each, flushed as it comes.
#
#   arpwatch.py IFNAME STOPFILE
import os
import socket
import sys

ifname, stop = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((ifname, 0))
s.settimeout(0.2)
print("listening", flush=True)
while not os.path.exists(stop):
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    arp = f[14:]
    if len(arp) < 28 or arp[0:2] != b"\x00\x01" or arp[2:4] != b"\x08\x00":
        continue
    sha, spa, tpa = arp[8:14], arp[14:18], arp[24:28]
    if spa == tpa:
        print("garp %s %s" % (":".join("%02x" % b for b in sha), socket.inet_ntoa(spa)), flush=True)

#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Announcements seen on a link until STOPFILE exists, one line each,
# flushed as it comes:
#   garp MAC IP     a gratuitous ARP (sender address = target address)
#   na MAC IP6      an unsolicited neighbour advertisement (ICMPv6 136 to
#                   ff02::1, override set) for IP6, MAC its target option
#
#   arpwatch.py IFNAME STOPFILE
import os
import socket
import sys

ifname, stop = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((ifname, 0))
s.settimeout(0.2)


def mac(b):
    return ":".join("%02x" % x for x in b)


print("listening", flush=True)
while not os.path.exists(stop):
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    kind, body = f[12:14], f[14:]
    if kind == b"\x08\x06":
        if len(body) < 28 or body[0:2] != b"\x00\x01" or body[2:4] != b"\x08\x00":
            continue
        sha, spa, tpa = body[8:14], body[14:18], body[24:28]
        if spa == tpa:
            print("garp %s %s" % (mac(sha), socket.inet_ntoa(spa)), flush=True)
    elif kind == b"\x86\xdd":
        # no extension headers: ICMPv6 right after the fixed header
        if len(body) < 40 + 32 or body[6] != 58:
            continue
        icmp = body[40:]
        if icmp[0] != 136 or body[24:40] != socket.inet_pton(socket.AF_INET6, "ff02::1") or not icmp[4] & 0x20:
            continue
        target, opt = icmp[8:24], icmp[24:32]
        if opt[0] == 2 and opt[1] == 1:
            print("na %s %s" % (mac(opt[2:8]), socket.inet_ntop(socket.AF_INET6, target)), flush=True)

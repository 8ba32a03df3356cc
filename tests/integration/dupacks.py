#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# One TCP connection to an echo server whose peer (this client) keeps it
# busy with duplicate ACKs, thousands a second, until STOPFILE exists: each
# one is the connection's current pure ACK (seq = what we sent, ack = what
# we received), which a live server takes silently and a host with the
# address but no socket answers with a RST whose sequence number this
# client's kernel accepts.  What a peer's retransmissions or keepalives do
# now and then, made dense, so that a moment in which the instance's old
# host answers its address without the connection cannot pass unseen.
# Then one line echoed on the connection.  Prints "ok ACKS" and exits 0,
# or "error ..." (a reset, the echo wrong or missing) and exits 1.
#
#   dupacks.py IFNAME SERVER_MAC HOST PORT STOPFILE
import os
import socket
import struct
import sys
import time

ifname, smac, host, port, stop = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), sys.argv[3], \
    int(sys.argv[4]), sys.argv[5]


def csum(b):
    if len(b) % 2:
        b += b"\0"
    x = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    x = (x >> 16) + (x & 0xffff)
    x += x >> 16
    return ~x & 0xffff


def line(s, text):
    s.sendall(text)
    got = b""
    while len(got) < len(text):
        b = s.recv(len(text) - len(got))
        if not b:
            raise OSError("the connection ended")
        got += b
    if got != text:
        raise OSError("the echo came back as %r" % got[:40])


try:
    # the handshake's sequence numbers, from the wire
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    raw.bind((ifname, 0))
    raw.settimeout(10)
    s = socket.create_connection((host, port), timeout=10)
    lport = s.getsockname()[1]
    dst, src = socket.inet_aton(host), socket.inet_aton(s.getsockname()[0])
    while True:
        f = raw.recv(2048)
        ip = f[14:]
        if ip[9] != 6 or ip[12:16] != dst:
            continue
        tcp = ip[(ip[0] & 15) * 4:]
        sp, dp, seq, ack = struct.unpack("!HHII", tcp[:12])
        if (sp, dp) == (port, lport) and tcp[13] & 0x12 == 0x12:
            break
    raw.settimeout(None)
    hello = b"dupacks\n"
    line(s, hello)
    snd, rcv = ack + len(hello), seq + 1 + len(hello)
    tcp = struct.pack("!HHIIBBHHH", lport, port, snd, rcv, 5 << 4, 0x10, 512, 0, 0)
    tcp = tcp[:16] + struct.pack("!H", csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    iph = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:]
    frame = smac + raw.getsockname()[4] + b"\x08\x00" + iph + tcp
    print("connected", flush=True)
    n = 0
    while not os.path.exists(stop):
        for _ in range(20):
            raw.send(frame)
        n += 20
        time.sleep(0.002)
    s.settimeout(30)
    line(s, b"still here\n")
    s.close()
    print("ok %d" % n, flush=True)
except (OSError, socket.timeout) as e:
    print("error: %s" % e, flush=True)
    sys.exit(1)

#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# One TCP connection to an echo server, kept busy until STOPFILE exists:
# numbered lines sent one after the other, each echo checked against what
# was sent (no byte lost, doubled or out of order), the longest silence
# between two echoes measured; "at N" every 20 lines.  Prints "ok LINES MAXGAP_MS" and exits 0, or
# "error ..." and exits 1 (a reset, an end, a wrong byte, a timeout).
#
#   echoclient.py HOST PORT STOPFILE [TIMEOUT_S]
import os
import socket
import sys
import time

host, port, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 60
try:
    s = socket.create_connection((host, port), timeout=10)
    s.settimeout(timeout)
    n, maxgap, last = 0, 0.0, time.monotonic()
    print("connected", flush=True)
    while not os.path.exists(stop):
        n += 1
        line = ("%08d" % n).encode() * 8 + b"\n"
        s.sendall(line)
        got = b""
        while len(got) < len(line):
            b = s.recv(len(line) - len(got))
            if not b:
                print("error: the connection ended after %d lines" % (n - 1), flush=True)
                sys.exit(1)
            got += b
        if got != line:
            print("error: line %d came back as %r" % (n, got[:40]), flush=True)
            sys.exit(1)
        now = time.monotonic()
        maxgap = max(maxgap, now - last)
        last = now
        if n % 20 == 0:
            print("at %d" % n, flush=True)
        time.sleep(0.005)
    s.close()
    print("ok %d %d" % (n, maxgap * 1000), flush=True)
except (OSError, socket.timeout) as e:
    print("error: %s" % e, flush=True)
    sys.exit(1)

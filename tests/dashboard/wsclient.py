#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A WebSocket client for the dashboard's console in t_dashboard.sh, written
out frame by frame so that it can also send what no browser would.

  wsclient.py URL NAME MODE [--token T] [--cookie C] [--origin O|--no-origin]

MODE:
  status       print the handshake's HTTP status (101 when it is let in)
  echo         type a command into the console, wait for its output
  bad:KIND     send one malformed frame (KIND: unmasked, opcode, length,
               huge, early), and wait for vsd to close the connection;
               prints "closed CODE" (its close frame) or "eof"
  wait         type a command, see its output, print "attached", then wait
               for vsd to end the session: "closed CODE" or "eof"
  noread:SECS  attach and read nothing for SECS seconds, then read what
               there is; prints "eof BYTES" when vsd has closed the
               connection, "open BYTES" when it still sends past 16 MiB
Exits 1 with a reason on anything unexpected."""
import base64
import hashlib
import os
import socket
import struct
import sys
import time
import urllib.parse

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode, payload, mask=True, fin=True, length=None):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload) if length is None else length
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 1 << 16:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[k % 4] for k, b in enumerate(payload))


class Conn:
    def __init__(self, sock, rest):
        self.sock = sock
        self.buf = rest

    def fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.time()))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        except ConnectionResetError:
            data = b""
        self.buf += data
        return data

    def next_frame(self, deadline):
        """(opcode, payload), or None at EOF; raises TimeoutError."""
        while True:
            b = self.buf
            if len(b) >= 2:
                n = b[1] & 0x7F
                off = 2
                if n == 126 and len(b) >= 4:
                    n, off = struct.unpack(">H", b[2:4])[0], 4
                elif n == 127 and len(b) >= 10:
                    n, off = struct.unpack(">Q", b[2:10])[0], 10
                if (b[1] & 0x7F) < 126 or off > 2:
                    if len(b) >= off + n:
                        self.buf = b[off + n:]
                        return b[0] & 0x0F, b[off:off + n]
            data = self.fill(deadline)
            if data is None:
                raise TimeoutError("nothing from vsd in time")
            if not data:
                return None


def connect(url, name, token, cookie, origin, early=b""):
    u = urllib.parse.urlsplit(url)
    sock = socket.create_connection((u.hostname, u.port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET /v1/instances/{name}/console HTTP/1.1", f"Host: {u.netloc}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if origin:
        lines.append(f"Origin: {origin}")
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if cookie:
        lines.append(f"Cookie: {cookie}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + early)
    resp = b""
    while b"\r\n\r\n" not in resp:
        data = sock.recv(4096)
        if not data:
            break
        resp += data
    head, _, rest = resp.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    if status == 101:
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        hdrs = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip()
                for l in head.decode().split("\r\n")[1:] if ":" in l}
        if hdrs.get("sec-websocket-accept") != want:
            sys.exit(f"wsclient: Sec-WebSocket-Accept {hdrs.get('sec-websocket-accept')!r}, not {want!r}")
        if hdrs.get("upgrade", "").lower() != "websocket":
            sys.exit(f"wsclient: Upgrade {hdrs.get('upgrade')!r} in the answer")
    return status, Conn(sock, rest)


def main():
    args = sys.argv[1:]
    url, name, mode = args[:3]
    opts = {"--token": None, "--cookie": None, "--origin": url}
    k = 3
    while k < len(args):
        if args[k] == "--no-origin":
            opts["--origin"] = None
            k += 1
        else:
            opts[args[k]] = args[k + 1]
            k += 2
    bad = {
        # a client's frame must be masked (RFC 6455 5.1)
        "unmasked": frame(0x2, b"echo unmasked\n", mask=False),
        # opcode 3 is reserved
        "opcode": frame(0x3, b"x"),
        # a 64-bit length with its top bit set, which no frame may have
        "length": frame(0x2, b"", length=1 << 63),
        # 1 GiB announced and its start sent: past what vsd takes, refused
        # before any of it is kept
        "huge": frame(0x2, b"x" * 1000, length=1 << 30),
    }
    early = b""
    if mode == "bad:early":  # a bad frame in the same packet as the request
        early = frame(0x9, b"p" * 200)  # a control frame longer than 125
    status, c = connect(url, name, opts["--token"], opts["--cookie"], opts["--origin"], early)
    if mode == "status":
        print(status)
        return
    if status != 101:
        sys.exit(f"wsclient: handshake answered {status}: {c.buf[:200]!r}")
    deadline = time.time() + float(os.environ.get("WS_TIMEOUT", "20"))
    if mode in ("echo", "wait"):
        c.sock.sendall(frame(0x1, b'{"resize": {"rows": 30, "cols": 100}}'))
        c.sock.sendall(frame(0x2, b"\necho ws$((6*7))\n"))
        out = b""
        while b"ws42" not in out:
            f = c.next_frame(deadline)
            if f is None:
                sys.exit(f"wsclient: vsd closed the console before ws42 came: {out[-300:]!r}")
            if f[0] == 0x2:
                out += f[1]
        if mode == "echo":
            c.sock.sendall(frame(0x8, struct.pack(">H", 1000)))
            print("ok echo ws42")
            return
        print("attached", flush=True)
        deadline = time.time() + 3600  # the test ends it
    if mode == "wait" or mode.startswith("bad:"):
        if mode.startswith("bad:") and mode != "bad:early":
            c.sock.sendall(bad[mode[4:]])
        while True:
            f = c.next_frame(deadline)
            if f is None:
                print("eof")
                return
            if f[0] == 0x8:
                print("closed", struct.unpack(">H", f[1][:2])[0] if len(f[1]) >= 2 else 0)
                return
    if mode.startswith("noread:"):
        time.sleep(float(mode[7:]))
        total = 0
        while total < 16 << 20:
            data = c.fill(deadline)
            if data is None:
                sys.exit(f"wsclient: nothing more, and no end, after {total} bytes")
            if not data:
                print("eof", total)
                return
            total += len(data)
        print("open", total)
        return
    sys.exit(f"wsclient: unknown mode {mode}")


if __name__ == "__main__":
    main()

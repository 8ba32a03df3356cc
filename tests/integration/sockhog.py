#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Clients that misbehave on a Unix socket, for the API tests (t_api.sh).

  sockhog.py hold SOCKET N STATUS
      Open N connections to SOCKET and never send a byte.  Every 50 ms
      STATUS is rewritten (atomically) as "connected=C closed=X": C
      connections were made (a refused one is retried until it is made),
      X of them have since been closed by the server (an answer followed by
      the end, or a plain end).  Runs until killed.

  sockhog.py silent SOCKET
      Listen on SOCKET, accept every connection and never answer.  Runs
      until killed.
"""
import os
import resource
import select
import socket
import sys
import time


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, n + 64), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < n + 64:
        sys.exit(f"sockhog: RLIMIT_NOFILE hard limit {hard} is too low for {n} connections")


def write_status(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.rename(tmp, path)


def hold(path, n, status):
    raise_nofile(n)
    socks = []  # [socket, connected, closed]
    for _ in range(n):
        socks.append([socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK), False, False])
    poller = select.epoll()
    while True:
        for s in socks:
            if s[1]:
                continue
            try:
                s[0].connect(path)
            except (BlockingIOError, InterruptedError):
                continue  # the backlog is full: again on the next round
            s[1] = True
            poller.register(s[0].fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        by_fd = {s[0].fileno(): s for s in socks if s[1] and not s[2]}
        for fd, _ in poller.poll(0.05):
            s = by_fd.get(fd)
            if not s:
                continue
            try:
                while s[0].recv(65536):
                    pass
            except BlockingIOError:
                continue  # data, but not the end yet
            except OSError:
                pass
            s[2] = True
            poller.unregister(fd)
            s[0].close()
        connected = sum(1 for s in socks if s[1])
        closed = sum(1 for s in socks if s[2])
        write_status(status, f"connected={connected} closed={closed}")


def silent(path):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(64)
    held = []
    while True:
        conn, _ = srv.accept()
        held.append(conn)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "hold":
        hold(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 3 and sys.argv[1] == "silent":
        silent(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

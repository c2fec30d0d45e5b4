#!/usr/bin/env python3
"""A stand-in for mpirun in test_launch.c: started as `fake_launcher.py -np P EXE --mpi-worker
HOST:PORT/TOKEN`, it plays rank 0 against gsimclrd's relay (server/service/relay.h): first
with a wrong token, which the daemon must turn away by closing the connection, then with the
right one; it reads the job and answers with an error frame saying what it saw. With --silent
(before -np) it says nothing after the job, not even a heartbeat, until it is killed."""
import socket
import struct
import sys
import time

HELLO, JOB, ERROR = 1, 2, 13


def frame(kind, payload=b""):
    return struct.pack("<II", kind, len(payload)) + payload


def string(s):
    b = s.encode() + b"\0"
    return struct.pack("<I", len(b)) + b


def read_exactly(sock, n):
    out = b""
    while len(out) < n:
        part = sock.recv(n - len(out))
        if not part:
            return None
        out += part
    return out


def main():
    addr = sys.argv[sys.argv.index("--mpi-worker") + 1]
    hostport, token = addr.rsplit("/", 1)
    host, port = hostport.rsplit(":", 1)

    wrong = socket.create_connection((host, int(port)), timeout=10)
    wrong.sendall(frame(HELLO, struct.pack("<I", 1) + string("0" * len(token))))
    refused = wrong.recv(1) == b""
    wrong.close()

    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(frame(HELLO, struct.pack("<I", 1) + string(token)))
    head = read_exactly(s, 8)
    kind, n = struct.unpack("<II", head)
    payload = read_exactly(s, n)
    (clen,) = struct.unpack("<I", payload[:4])
    config = payload[4:4 + clen - 1].decode()
    if "--silent" in sys.argv[:sys.argv.index("-np")]:
        time.sleep(120)
        return
    what = "refused" if refused else "ACCEPTED"
    s.sendall(frame(ERROR, string(
        "fake launcher: the wrong token was %s; %s frame with config %s" %
        (what, "a job" if kind == JOB else "another", config))))
    s.close()


main()

"""Helpers for the middlebox namespace tests (PATHspider style): a small TCP server and client
run inside the lab's hosts with Debian's python3, readers for captured TCP segments, and the
router's stage counters by name (lablib.summary.stage_counter)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib.lab import PY, LabFailure, log  # noqa: E402
from lablib import summary  # noqa: E402

# A stage counter by name: stage_counter(summary, "r1.p0.ingress.ecn.bleached"), or the pieces
# stage_counter(summary, "r1", "p0", "ingress", "ecn", "bleached").
stage_counter = summary.stage_counter

TCP_SERVER = r'''
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
ls = socket.socket(fam, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], int(sys.argv[2])))
ls.listen(8)
print("listening", flush=True)
while True:
    c, _ = ls.accept()
    c.settimeout(5)
    try:
        c.recv(100)
        c.sendall(b"ok" * 2000)
    except OSError:
        pass
    c.close()
'''

TCP_CLIENT = r'''
import json, socket, sys, time
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(float(sys.argv[3]))
t = time.monotonic()
out = {}
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    out["connect_s"] = time.monotonic() - t
    s.sendall(b"hi")
    n = 0
    while True:
        b = s.recv(65536)
        if not b:
            break
        n += len(b)
    out["ok"] = n == 4000
except OSError as e:
    out["ok"] = False
    out["error"] = type(e).__name__ + ": " + str(e)
out["elapsed_s"] = time.monotonic() - t
print(json.dumps(out), flush=True)
'''


class TcpServer:
    """``with TcpServer(host, addr, port):`` a server answering every connection with 4000 bytes."""

    def __init__(self, host, addr, port):
        self.host, self.addr, self.port = host, addr, port

    def __enter__(self):
        self.proc = self.host.popen([PY, "-c", TCP_SERVER, self.addr, self.port],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "listening":
            self.proc.kill()
            raise LabFailure(f"tcp server did not start: {line!r} {self.proc.stderr.read()}")
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait(5)
        return False


def tcp_connect(host, addr, port, timeout=5.0):
    """Connect, send, read the answer; returns {"ok": bool, "connect_s": ..., "error": ...}."""
    cp = host.run([PY, "-c", TCP_CLIENT, addr, port, timeout], timeout=timeout + 10)
    r = json.loads(cp.stdout.strip().splitlines()[-1])
    log(f"{host.name}: tcp {addr}:{port}: {r}")
    return r


def tcp_segments(pkts, flags=None, dport=None, sport=None):
    """TCP segments (scapy) of a capture, optionally those with exactly these SYN/ACK flags."""
    from scapy.layers.inet import TCP
    out = []
    for p in pkts:
        if TCP not in p:
            continue
        t = p[TCP]
        if dport is not None and t.dport != dport:
            continue
        if sport is not None and t.sport != sport:
            continue
        if flags is not None and (int(t.flags) & 0x12) != flags:
            continue
        out.append(p)
    return out


SYN, SYNACK = 0x02, 0x12
ECE, CWR = 0x40, 0x80


def ecn_flags(p):
    from scapy.layers.inet import TCP
    return int(p[TCP].flags) & (ECE | CWR)

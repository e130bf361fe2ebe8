"""Helpers for the middlebox namespace tests: small TCP/UDP servers and clients run inside the
lab's hosts with Debian's python3, and readers for the router's stage counters."""
import json
import subprocess

import lab as L

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
        self.proc = self.host.popen([L.PY, "-c", TCP_SERVER, self.addr, self.port],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "listening":
            self.proc.kill()
            raise L.LabError(f"tcp server did not start: {line!r} {self.proc.stderr.read()}")
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait(5)
        return False


def tcp_connect(host, addr, port, timeout=5.0):
    """Connect, send, read the answer; returns {"ok": bool, "connect_s": ..., "error": ...}."""
    cp = host.run([L.PY, "-c", TCP_CLIENT, addr, port, timeout], timeout=timeout + 10)
    r = json.loads(cp.stdout.strip().splitlines()[-1])
    L.log(f"{host.name}: tcp {addr}:{port}: {r}")
    return r


def stage_counter(summary, rid, key):
    """A stage counter ("p0.ingress[0].bleached") from the summary's events or drops."""
    r = L.router_summary(summary, rid)
    for table in ("events", "drops"):
        if key in r.get(table, {}):
            return r[table][key]
    have = sorted(k for t in ("events", "drops") for k in r.get(t, {}) if "[" in k)
    raise L.LabError(f"{rid}: no stage counter {key!r}; have {have}")


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

#!/usr/bin/python3
"""client -> r1 -> server (topologies/one-router.yaml): a 12 MiB TCP transfer (v4) and 4 MiB
(v6), sha256-checked."""
import hashlib
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib import summary as S  # noqa: E402
from lablib.lab import PY, Lab, log, main  # noqa: E402

SERVER = r'''
import hashlib, json, socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
ls = socket.socket(fam, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], int(sys.argv[2])))
ls.listen(1)
ls.settimeout(40)
print("listening", flush=True)
conn, peer = ls.accept()
conn.settimeout(30)
h = hashlib.sha256()
n = 0
while True:
    b = conn.recv(1 << 16)
    if not b:
        break
    h.update(b)
    n += len(b)
conn.sendall(b"ok")
conn.close()
print(json.dumps({"bytes": n, "sha256": h.hexdigest(), "peer": peer[0]}), flush=True)
'''

CLIENT = r'''
import socket, sys, time
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
data = open(sys.argv[3], "rb").read()
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(30)
t = time.monotonic()
s.connect((sys.argv[1], int(sys.argv[2])))
s.sendall(data)
s.shutdown(socket.SHUT_WR)
assert s.recv(2) == b"ok"
s.close()
print(f"sent {len(data)} bytes in {time.monotonic() - t:.2f}s", flush=True)
'''


def transfer(lab, c, s, server_addr, size, port):
    path = os.path.join(lab.workdir, f"data-{port}.bin")
    data = os.urandom(size)
    with open(path, "wb") as f:
        f.write(data)
    want = hashlib.sha256(data).hexdigest()
    srv = s.popen([PY, "-c", SERVER, server_addr, port],
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline()
        assert line.strip() == "listening", f"server did not start: {line!r} {srv.stderr.read()}"
        cp = c.run([PY, "-c", CLIENT, server_addr, port, path], timeout=45)
        log(f"client: {cp.stdout.strip()}")
        out, err = srv.communicate(timeout=15)
        assert srv.returncode == 0, f"server failed: {err}"
        got = json.loads(out.strip().splitlines()[-1])
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
    assert got["bytes"] == size, f"server got {got['bytes']} bytes, want {size}"
    assert got["sha256"] == want, f"sha256 mismatch: {got['sha256']} != {want}"
    log(f"{size} bytes to {server_addr}: sha256 {want[:16]}... matches")


def test():
    with Lab("one-router", near=__file__) as lab:
        c, s = lab.host("client"), lab.host("server")
        c.wait_ping(lab.ip4("server"), lab.ip6("server"))
        transfer(lab, c, s, lab.ip4("server"), 12 << 20, 5001)
        transfer(lab, c, s, lab.ip6("server"), 4 << 20, 5002)

        summary = lab.down()
        S.check_no_checksum_drops(summary)
        sp0 = S.port_summary(summary, "r1", "p0")
        sp1 = S.port_summary(summary, "r1", "p1")
        assert sp1["tx_bytes"] >= 16 << 20, sp1
        assert sp0["rx_bytes"] >= 16 << 20, sp0
        # acks come back
        assert sp1["rx_packets"] > 100 and sp0["tx_packets"] > 100, (sp0, sp1)


if __name__ == "__main__":
    main(test)

#!/usr/bin/python3
"""DSCP remarking with Linux stacks on both ends (client -- r1 -- server,
topologies/mb-dscp.yaml), IPv4 and IPv6:
the server reads the rewritten DSCP of the client's datagrams (IP_RECVTOS / IPV6_RECVTCLASS),
and the client reads the server's marks rewritten on the way back. ECN bits are kept."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import mbtools as M  # noqa: E402
from lablib import summary as S  # noqa: E402
from lablib.lab import PY, Lab, log, main  # noqa: E402

# Echo server: answers each datagram with the ToS it arrived with, marked with its own ToS.
SERVER = r'''
import json, socket, sys
v6 = ":" in sys.argv[1]
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
if v6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, int(sys.argv[3]))
else:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, int(sys.argv[3]))
print("listening", flush=True)
while True:
    data, anc, _, peer = s.recvmsg(2048, 64)
    tos = None
    for level, kind, val in anc:
        tos = val[0]
    s.sendto(json.dumps({"tos": tos}).encode(), peer)
'''

CLIENT = r'''
import json, socket, sys
v6 = ":" in sys.argv[1]
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
if v6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, int(sys.argv[3]))
else:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, int(sys.argv[3]))
for attempt in range(5):
    s.sendto(b"mark?", (sys.argv[1], int(sys.argv[2])))
    try:
        data, anc, _, _ = s.recvmsg(2048, 64)
        break
    except socket.timeout:
        continue
else:
    raise SystemExit("no answer")
back = None
for level, kind, val in anc:
    back = val[0]
print(json.dumps({"server_saw": json.loads(data)["tos"], "client_saw": back}), flush=True)
'''

AF11, AF41, EF = 10, 34, 46


def exchange(c, s, addr, port, client_tos, server_tos):
    srv = s.popen([PY, "-c", SERVER, addr, port, server_tos],
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "listening", srv.stderr.read()
        cp = c.run([PY, "-c", CLIENT, addr, port, client_tos], timeout=20)
        r = json.loads(cp.stdout.strip().splitlines()[-1])
        log(f"{addr}: client sent {client_tos:#x}, server sent {server_tos:#x}: {r}")
        return r
    finally:
        srv.kill()
        srv.wait(5)


def test():
    with Lab("mb-dscp", near=__file__) as lab:
        c, s = lab.host("client"), lab.host("server")
        for i, addr in enumerate((lab.ip4("server"), lab.ip6("server"))):
            c.wait_ping(addr)
            # client: DSCP 0 with ECT(1); server: AF11 with ECT(0)
            r = exchange(c, s, addr, 7100 + i, 0x01, AF11 << 2 | 0x02)
            assert r["server_saw"] == AF41 << 2 | 0x01, r
            assert r["client_saw"] == EF << 2 | 0x02, r
            # a mark outside the map passes unchanged on the way back
            r = exchange(c, s, addr, 7110 + i, 0x00, AF41 << 2)
            assert r["server_saw"] == AF41 << 2, r
            assert r["client_saw"] == AF41 << 2, r

        summary = lab.down()
        S.check_no_checksum_drops(summary)
        assert M.stage_counter(summary, "r1.p0.ingress.dscp.set") >= 2
        assert M.stage_counter(summary, "r1.p1.ingress.dscp.mapped") >= 2


if __name__ == "__main__":
    main(test)

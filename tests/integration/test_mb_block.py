#!/usr/bin/python3
"""Blocking with a reject (client -- r1 -- server, topologies/mb-block.yaml): blocked UDP gets ICMP administratively
prohibited back from the router's port address (IPv4 3/13, IPv6 1/1), which the client's stack
reports; blocked TCP gets a RST (connection refused); unblocked traffic still passes."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import mbtools as M  # noqa: E402
from lablib import summary as S  # noqa: E402
from lablib.lab import PY, Lab, log, main  # noqa: E402

UDP_PROBE = r'''
import json, socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((sys.argv[1], int(sys.argv[2])))
s.send(b"blocked?")
try:
    s.recv(100)
    print(json.dumps({"error": None}))
except OSError as e:
    print(json.dumps({"error": e.errno, "name": type(e).__name__}))
'''


def udp_probe(c, addr, port):
    cp = c.run([PY, "-c", UDP_PROBE, addr, port], timeout=15)
    r = json.loads(cp.stdout.strip().splitlines()[-1])
    log(f"udp {addr}:{port}: {r}")
    return r


def test():
    import errno
    with Lab("mb-block", near=__file__) as lab:
        from scapy.layers.inet import ICMP, IP, IPerror, UDPerror
        from scapy.layers.inet6 import ICMPv6DestUnreach, IPv6
        c, s = lab.host("client"), lab.host("server")
        srv4, srv6 = lab.ip4("server"), lab.ip6("server")
        c.wait_ping(srv4, srv6)
        with c.capture("eth0", "icmp or icmp6") as cap:
            r4 = udp_probe(c, srv4, 9999)
            r6 = udp_probe(c, srv6, 9999)
        # Linux reports ICMP 3/13 as EHOSTUNREACH, ICMPv6 1/1 as EACCES
        assert r4["error"] == errno.EHOSTUNREACH, r4
        assert r6["error"] == errno.EACCES, r6
        v4 = [p for p in cap.packets() if ICMP in p and p[ICMP].type == 3]
        v6 = [p for p in cap.packets() if ICMPv6DestUnreach in p]
        assert len(v4) == 1 and v4[0][ICMP].code == 13, [p.summary() for p in v4]
        assert v4[0][IP].src == lab.ip4("r1.p0") and v4[0][UDPerror].dport == 9999, \
            v4[0].show(dump=True)
        assert v4[0][IPerror].dst == srv4
        assert len(v6) == 1 and v6[0][ICMPv6DestUnreach].code == 1, [p.summary() for p in v6]
        assert v6[0][IPv6].src == lab.ip6("r1.p0"), v6[0].show(dump=True)

        with M.TcpServer(s, srv4, 8081), M.TcpServer(s, srv4, 8082):
            refused = M.tcp_connect(c, srv4, 8081)
            open_ = M.tcp_connect(c, srv4, 8082)
        assert not refused["ok"] and "ConnectionRefused" in refused.get("error", ""), refused
        assert open_["ok"], open_

        summary = lab.down()
        S.check_no_checksum_drops(summary)
        # two unnamed block stages in one chain: block_0 and block_1
        assert M.stage_counter(summary, "r1.p0.ingress.block_0.icmp_sent") == 1
        assert M.stage_counter(summary, "r1.p0.ingress.block_0.icmp6_sent") == 1
        assert M.stage_counter(summary, "r1", "p0", "ingress", "block_1", "rst_sent") >= 1
        assert S.router_summary(summary, "r1")["events"]["stage_replies"] >= 3


if __name__ == "__main__":
    main(test)

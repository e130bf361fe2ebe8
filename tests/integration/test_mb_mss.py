#!/usr/bin/python3
"""MSS clamping (client -- r1 -- server, topologies/mb-mss.yaml): the MSS option the server receives equals the clamp,
for IPv4 and IPv6, and the connection works; the server's SYN-ACK MSS is clamped on the way
back too when the stage sits on both ports."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import mbtools as M  # noqa: E402
from lablib import summary as S  # noqa: E402
from lablib.lab import Lab, log, main  # noqa: E402


def mss_of(p):
    from scapy.layers.inet import TCP
    for k, v in p[TCP].options:
        if k == "MSS":
            return v
    return None


def test():
    with Lab("mb-mss", near=__file__) as lab:
        c, s = lab.host("client"), lab.host("server")
        for i, addr in enumerate((lab.ip4("server"), lab.ip6("server"))):
            port = 7300 + i
            c.wait_ping(addr)
            bpf = f"tcp port {port}"
            with M.TcpServer(s, addr, port), c.capture("eth0", bpf) as cc, \
                    s.capture("eth0", bpf) as sc:
                r = M.tcp_connect(c, addr, port)
            assert r["ok"], r
            sent = M.tcp_segments(cc.packets(), M.SYN, dport=port)
            got = M.tcp_segments(sc.packets(), M.SYN, dport=port)
            want = 1460 if i == 0 else 1440
            assert mss_of(sent[0]) == want, mss_of(sent[0])
            assert mss_of(got[0]) == 1200, f"server saw MSS {mss_of(got[0])}"
            back = M.tcp_segments(cc.packets(), M.SYNACK, sport=port)
            assert mss_of(back[0]) == 1000, f"client saw MSS {mss_of(back[0])}"
            log(f"{addr}: client MSS {want} -> server saw 1200; server's -> client saw 1000")
        summary = lab.down()
        S.check_no_checksum_drops(summary)
        assert M.stage_counter(summary, "r1.p0.ingress.mss.lowered") >= 2
        assert M.stage_counter(summary, "r1.p1.ingress.mss.lowered") >= 2


if __name__ == "__main__":
    main(test)

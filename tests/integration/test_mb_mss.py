#!/usr/bin/python3
"""MSS clamping (client -- r1 -- server): the MSS option the server receives equals the clamp,
for IPv4 and IPv6, and the connection works; the server's SYN-ACK MSS is clamped on the way
back too when the stage sits on both ports."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab as L  # noqa: E402
import mbtools as M  # noqa: E402


def mss_of(p):
    from scapy.layers.inet import TCP
    for k, v in p[TCP].options:
        if k == "MSS":
            return v
    return None


def test():
    lab, r1, c, s = L.one_router("mbmss")
    p0, p1 = r1.port("p0"), r1.port("p1")
    p0.ingress = ["{stage: mss, clamp: 1200}"]
    p1.ingress = ["{stage: mss, clamp: 1000}"]
    with lab:
        lab.start()
        for i, addr in enumerate((p1.host_v4, p1.host_v6)):
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
            L.log(f"{addr}: client MSS {want} -> server saw 1200; server's -> client saw 1000")
        summary = lab.stop()
        L.check_accounting(summary)
        L.check_no_checksum_drops(summary)


if __name__ == "__main__":
    L.main(test)

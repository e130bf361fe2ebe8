#!/usr/bin/python3
"""ECN through a mangling router, with Linux stacks on both ends (client -- r1 -- server,
topologies/mb-ecn.yaml; pathlab restarted with other stages for each phase):

- tcp: strip_syn_flags on the client side: the ECN-setup SYN reaches the server without ECE/CWR,
  the server answers without ECE, the connection works, ECN is not negotiated;
- tcp: drop_ecn_setup_syn: with the client's ECN fallback off the connection fails; with it on,
  the connection comes up only through the retransmitted non-ECN SYN (after >= 1 s);
- tcp: reflect on the server side: a non-ECN server's SYN-ACK reaches the client with ECE+CWR;
- ip: bleach on the server side: the server sends ECT(0) data, the client sees none of it.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import mbtools as M  # noqa: E402
from lablib import summary as S  # noqa: E402
from lablib.lab import Lab, main  # noqa: E402

PORT = 7001


def ecn(**kw):
    """A stage list of one ecn stage, e.g. ecn(tcp="reflect")."""
    return [dict(stage="ecn", **kw)]


def test():
    with Lab("mb-ecn", near=__file__) as lab:
        c, s = lab.host("client"), lab.host("server")
        srv = lab.ip4("server")
        bpf = f"tcp port {PORT}"

        # -- negotiation stripped on the way to the server (the topology's stage)
        c.wait_ping(srv)
        with M.TcpServer(s, srv, PORT), c.capture("eth0", bpf) as cc, s.capture("eth0", bpf) as sc:
            r = M.tcp_connect(c, srv, PORT)
        assert r["ok"], r
        sent = M.tcp_segments(cc.packets(), M.SYN, dport=PORT)
        got = M.tcp_segments(sc.packets(), M.SYN, dport=PORT)
        answer = M.tcp_segments(sc.packets(), M.SYNACK, sport=PORT)
        assert sent and M.ecn_flags(sent[0]) == M.ECE | M.CWR, "client did not try ECN"
        assert got and all(M.ecn_flags(p) == 0 for p in got), [p.summary() for p in got]
        assert answer and all(M.ecn_flags(p) == 0 for p in answer), "server negotiated ECN"

        # -- ECN-setup SYNs black-holed
        summary = lab.restart({"r1.p0.ingress": ecn(tcp="drop_ecn_setup_syn")})
        assert M.stage_counter(summary, "r1.p0.ingress.ecn.syn_flags_stripped") >= 1
        c.wait_ping(srv)
        c.sysctl("net.ipv4.tcp_ecn_fallback", 0)
        with M.TcpServer(s, srv, PORT), s.capture("eth0", bpf) as sc:
            broken = M.tcp_connect(c, srv, PORT, timeout=2.5)
            c.sysctl("net.ipv4.tcp_ecn_fallback", 1)
            fallback = M.tcp_connect(c, srv, PORT, timeout=5)
        assert not broken["ok"] and "timed out" in broken.get("error", ""), broken
        assert fallback["ok"] and fallback["connect_s"] >= 0.9, fallback
        syns = M.tcp_segments(sc.packets(), M.SYN, dport=PORT)
        assert syns and all(M.ecn_flags(p) == 0 for p in syns), [p.summary() for p in syns]

        # -- a reflecting box on the way back, towards a server without ECN
        summary = lab.restart({"r1.p0.ingress": [], "r1.p1.ingress": ecn(tcp="reflect")})
        assert M.stage_counter(summary, "r1", "p0", "ingress", "ecn", "ecn_setup_syn") >= 2
        s.sysctl("net.ipv4.tcp_ecn", 0)
        c.wait_ping(srv)
        with M.TcpServer(s, srv, PORT), c.capture("eth0", bpf) as cc, s.capture("eth0", bpf) as sc:
            r = M.tcp_connect(c, srv, PORT)
        assert r["ok"], r
        sent = M.tcp_segments(sc.packets(), M.SYNACK, sport=PORT)
        seen = M.tcp_segments(cc.packets(), M.SYNACK, sport=PORT)
        assert sent and M.ecn_flags(sent[0]) == 0, "server set ECE without ECN"
        assert seen and all(M.ecn_flags(p) == M.ECE | M.CWR for p in seen), [p.summary() for p in seen]

        # -- ECN bleached on the way back: the server's ECT(0) never reaches the client
        s.sysctl("net.ipv4.tcp_ecn", 1)
        summary = lab.restart({"r1.p1.ingress": ecn(ip="bleach")})
        assert M.stage_counter(summary, "r1.p1.ingress.ecn.reflected") >= 1
        c.wait_ping(srv)
        with M.TcpServer(s, srv, PORT), c.capture("eth0", bpf) as cc, s.capture("eth0", bpf) as sc:
            r = M.tcp_connect(c, srv, PORT)
        assert r["ok"], r
        from scapy.layers.inet import IP
        out = [p for p in sc.packets() if IP in p and p[IP].src == srv]
        back = [p for p in cc.packets() if IP in p and p[IP].src == srv]
        assert any(p[IP].tos & 3 == 2 for p in out), "server sent no ECT(0): ECN not negotiated"
        assert back and all(p[IP].tos & 3 == 0 for p in back), [hex(p[IP].tos) for p in back]

        summary = lab.down()
        S.check_no_checksum_drops(summary)
        assert M.stage_counter(summary, "r1.p1.ingress.ecn.bleached") >= 1


if __name__ == "__main__":
    main(test)

#!/usr/bin/python3
"""Sequence-number rewriting (client -- r1 -- server, topologies/mb-tcp-seq.yaml): tcp_seq on the client port's ingress and
egress (one shared flow table) shifts the client's ISN; 10 MiB over IPv4 and 2 MiB over IPv6
arrive intact (sha256), and the two ends' captures show different sequence numbers for the same
SYN."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import mbtools as M  # noqa: E402
from lablib import summary as S  # noqa: E402
from lablib.lab import Lab, log, main  # noqa: E402
from test_tcp import transfer  # noqa: E402


def test():
    with Lab("mb-tcp-seq", near=__file__) as lab:
        c, s = lab.host("client"), lab.host("server")
        srv4, srv6 = lab.ip4("server"), lab.ip6("server")
        c.wait_ping(srv4, srv6)
        syns = "tcp port 5101 and tcp[tcpflags] & tcp-syn != 0"   # not the 10 MiB
        with c.capture("eth0", syns) as cc, s.capture("eth0", syns) as sc:
            transfer(lab, c, s, srv4, 10 << 20, 5101)
        from scapy.layers.inet import TCP
        sent = M.tcp_segments(cc.packets(), M.SYN, dport=5101)
        got = M.tcp_segments(sc.packets(), M.SYN, dport=5101)
        assert sent and got, "SYN not captured"
        assert sent[0][TCP].seq != got[0][TCP].seq, "ISN not rewritten"
        ack_sent = M.tcp_segments(sc.packets(), M.SYNACK, sport=5101)
        ack_seen = M.tcp_segments(cc.packets(), M.SYNACK, sport=5101)
        assert ack_sent[0][TCP].ack == (got[0][TCP].seq + 1) % 2**32
        assert ack_seen[0][TCP].ack == (sent[0][TCP].seq + 1) % 2**32
        log(f"client ISN {sent[0][TCP].seq:#x}, server saw {got[0][TCP].seq:#x}")
        transfer(lab, c, s, srv6, 2 << 20, 5102)

        summary = lab.down()
        S.check_no_checksum_drops(summary)
        assert M.stage_counter(summary, "r1.p0.ingress.tcp_seq.flows") >= 2
        assert M.stage_counter(summary, "r1.p0.ingress.tcp_seq.rewritten") > 1000
        assert M.stage_counter(summary, "r1.p0.egress.tcp_seq.rewritten") > 100


if __name__ == "__main__":
    main(test)

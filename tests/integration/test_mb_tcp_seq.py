#!/usr/bin/python3
"""Sequence-number rewriting (client -- r1 -- server): tcp_seq on the client port's ingress and
egress (one shared flow table) shifts the client's ISN; 10 MiB over IPv4 and 2 MiB over IPv6
arrive intact (sha256), and the two ends' captures show different sequence numbers for the same
SYN."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab as L  # noqa: E402
import mbtools as M  # noqa: E402
from test_tcp import transfer  # noqa: E402


def test():
    lab, r1, c, s = L.one_router("mbseq")
    p0 = r1.port("p0")
    p1 = r1.port("p1")
    p0.ingress = ["{stage: tcp_seq, table: seq, seed: 7}"]
    p0.egress = ["{stage: tcp_seq, table: seq, seed: 7}"]
    with lab:
        lab.start()
        c.wait_ping(p1.host_v4)
        c.wait_ping(p1.host_v6)
        with c.capture("eth0", "tcp port 5101") as cc, s.capture("eth0", "tcp port 5101") as sc:
            transfer(lab, c, s, p1.host_v4, 10 << 20, 5101)
        from scapy.layers.inet import TCP
        sent = M.tcp_segments(cc.packets(), M.SYN, dport=5101)
        got = M.tcp_segments(sc.packets(), M.SYN, dport=5101)
        assert sent and got, "SYN not captured"
        assert sent[0][TCP].seq != got[0][TCP].seq, "ISN not rewritten"
        ack_sent = M.tcp_segments(sc.packets(), M.SYNACK, sport=5101)
        ack_seen = M.tcp_segments(cc.packets(), M.SYNACK, sport=5101)
        assert ack_sent[0][TCP].ack == (got[0][TCP].seq + 1) % 2**32
        assert ack_seen[0][TCP].ack == (sent[0][TCP].seq + 1) % 2**32
        L.log(f"client ISN {sent[0][TCP].seq:#x}, server saw {got[0][TCP].seq:#x}")
        transfer(lab, c, s, p1.host_v6, 2 << 20, 5102)

        summary = lab.stop()
        L.check_accounting(summary)
        L.check_no_checksum_drops(summary)
        assert M.stage_counter(summary, "r1", "p0.ingress[0].flows") >= 2
        assert M.stage_counter(summary, "r1", "p0.ingress[0].rewritten") > 1000
        assert M.stage_counter(summary, "r1", "p0.egress[0].rewritten") > 100


if __name__ == "__main__":
    L.main(test)

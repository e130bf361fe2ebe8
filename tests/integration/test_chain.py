#!/usr/bin/python3
"""client -- r1 =link= r2 =link= r3 -- server (topologies/default.yaml): IPv4/IPv6 ping over
in-process links; nothing is lost on a link."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib import summary as S  # noqa: E402
from lablib.lab import Lab, main  # noqa: E402


def test():
    with Lab("default", name=f"chain{os.getpid() % 100000}") as lab:
        c, s = lab.host("client"), lab.host("server")
        for dst in (lab.ip4("server"), lab.ip6("server")):
            c.wait_ping(dst)
            c.ping(dst, count=10)
        # r2's addresses, reached over the r1-r2 link
        for ref in ("r2.west", "r2.east"):
            c.ping(lab.ip4(ref), count=3)
            c.ping(lab.ip6(ref), count=3)
        # and back from the server side
        s.ping(lab.ip4("client"), count=5)
        s.ping(lab.ip6("client"), count=5)
        s.ping(lab.ip4("r1.east"), count=3)
        s.ping(lab.ip6("r1.east"), count=3)

        summary = lab.down()
        S.check_no_checksum_drops(summary)
        se = S.port_summary(summary, "r1", "east")
        sw = S.port_summary(summary, "r2", "west")
        sp1 = S.port_summary(summary, "r3", "p1")
        # 20 client echoes + 12 to r2 + 10 server replies leave r1 east
        assert se["tx_packets"] >= 42, se
        assert sw["rx_packets"] >= 42, sw
        assert sw["tx_packets"] >= 42, sw
        assert se["rx_packets"] >= 42, se
        assert sp1["tx_packets"] >= 20, sp1
        # nothing is lost on a link: every packet one end sends, the other receives
        for a, b in ((("r1", "east"), ("r2", "west")), (("r2", "east"), ("r3", "west"))):
            pa, pb = S.port_summary(summary, *a), S.port_summary(summary, *b)
            assert pa["tx_packets"] == pb["rx_packets"], (a, pa, b, pb)
            assert pb["tx_packets"] == pa["rx_packets"], (b, pb, a, pa)


if __name__ == "__main__":
    main(test)

#!/usr/bin/python3
"""client -- r1 -- server (topologies/one-router.yaml): IPv4/IPv6 ping through r1 and to r1's
own addresses."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib import summary as S  # noqa: E402
from lablib.lab import Lab, main  # noqa: E402


def test():
    with Lab("one-router", near=__file__) as lab:
        c, s = lab.host("client"), lab.host("server")

        # the router's own addresses: echo replies, v4 and v6
        for dst in (lab.ip4("r1.p0"), lab.ip6("r1.p0")):
            c.wait_ping(dst)
            c.ping(dst, count=5)
        # the far-side port's addresses answer too
        c.ping(lab.ip4("r1.p1"), count=3)
        c.ping(lab.ip6("r1.p1"), count=3)

        # through the router, both directions
        for dst in (lab.ip4("server"), lab.ip6("server")):
            c.wait_ping(dst)
            c.ping(dst, count=10)
        for dst in (lab.ip4("client"), lab.ip6("client")):
            s.ping(dst, count=5)
        # a large echo (1400 B payload) crosses unfragmented
        c.ping(lab.ip4("server"), count=3, size=1400)
        c.ping(lab.ip6("server"), count=3, size=1400)

        summary = lab.down()
        S.check_no_checksum_drops(summary)
        sp0 = S.port_summary(summary, "r1", "p0")
        sp1 = S.port_summary(summary, "r1", "p1")
        # client sent >= 5+5+3+3+10+10+3+3 echo requests; the router
        # answered or forwarded each one
        assert sp0["rx_packets"] >= 42, sp0
        assert sp0["tx_packets"] >= 42, sp0
        assert sp1["tx_packets"] >= 26, sp1
        assert sp1["rx_packets"] >= 26, sp1
        assert sp1["tx_bytes"] > sp1["tx_packets"] * 60, sp1
        # ARP/ND toward the server were originated by the control path
        assert sp1["ctrl_tx_packets"] >= 1, sp1
        assert sp0["ctrl_tx_packets"] >= 1, sp0
        r = S.router_summary(summary, "r1")
        assert r["consumed"] >= 2, r  # at least the ARP and ND requests


if __name__ == "__main__":
    main(test)

#!/usr/bin/python3
"""client -- r1 -- server: IPv4/IPv6 ping through r1 and to r1's own addresses."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab as L  # noqa: E402


def test():
    lab, r1, c, s = L.one_router("ping")
    with lab:
        lab.start()
        p0, p1 = r1.port("p0"), r1.port("p1")

        # the router's own addresses: echo replies, v4 and v6
        for dst in (p0.addr4, p0.addr6):
            c.wait_ping(dst)
            c.ping(dst, count=5)
        # the far-side port's addresses answer too
        c.ping(p1.addr4, count=3)
        c.ping(p1.addr6, count=3)

        # through the router, both directions
        for dst in (p1.host_v4, p1.host_v6):
            c.wait_ping(dst)
            c.ping(dst, count=10)
        for dst in (p0.host_v4, p0.host_v6):
            s.ping(dst, count=5)
        # a large echo (1400 B payload) crosses unfragmented
        c.ping(p1.host_v4, count=3, size=1400)
        c.ping(p1.host_v6, count=3, size=1400)

        summary = lab.stop()
        L.check_accounting(summary)
        L.check_no_checksum_drops(summary)
        sp0 = L.port_summary(summary, "r1", "p0")
        sp1 = L.port_summary(summary, "r1", "p1")
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
        r = L.router_summary(summary, "r1")
        assert r["consumed"] >= 2, r  # at least the ARP and ND requests


if __name__ == "__main__":
    L.main(test)

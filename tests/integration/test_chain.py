#!/usr/bin/python3
"""client -- r1 =link= r2 -- server: IPv4/IPv6 ping over an in-process link."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab as L  # noqa: E402


def test():
    lab, r1, r2, c, s = L.two_routers("chain")
    with lab:
        lab.start()
        east, west, p1 = r1.port("east"), r2.port("west"), r2.port("p1")

        for dst in (p1.host_v4, p1.host_v6):
            c.wait_ping(dst)
            c.ping(dst, count=10)
        # r2's addresses, reached over the link
        c.ping(west.addr4, count=3)
        c.ping(west.addr6, count=3)
        c.ping(p1.addr4, count=3)
        c.ping(p1.addr6, count=3)
        # and back from the server side
        s.ping(r1.port("p0").host_v4, count=5)
        s.ping(r1.port("p0").host_v6, count=5)
        s.ping(east.addr4, count=3)
        s.ping(east.addr6, count=3)

        summary = lab.stop()
        L.check_accounting(summary)
        L.check_no_checksum_drops(summary)
        se = L.port_summary(summary, "r1", "east")
        sw = L.port_summary(summary, "r2", "west")
        sp1 = L.port_summary(summary, "r2", "p1")
        # 20 client echoes + 12 to r2 + 10 server replies leave r1 east
        assert se["tx_packets"] >= 42, se
        assert sw["rx_packets"] >= 42, sw
        assert sw["tx_packets"] >= 42, sw
        assert se["rx_packets"] >= 42, se
        assert sp1["tx_packets"] >= 20, sp1
        # nothing is lost on the link itself: every packet r1 sends on east
        # is received on r2 west, and back
        assert se["tx_packets"] == sw["rx_packets"], (se, sw)
        assert sw["tx_packets"] == se["rx_packets"], (sw, se)


if __name__ == "__main__":
    L.main(test)

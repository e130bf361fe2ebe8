#!/usr/bin/python3
"""ICMP destination unreachable from the router: host (no ARP/ND answer) and net."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab as L  # noqa: E402

UNROUTED4 = "198.19.99.1"      # in no route of the lab
UNROUTED6 = "fd00:99::1"


def expect_error(c, dst, pattern, router_addrs, max_seconds):
    t = time.monotonic()
    cp = c.ping(dst, count=1, wait=9, check=False, timeout=20)
    took = time.monotonic() - t
    out = cp.stdout + cp.stderr
    print(out, flush=True)
    m = re.search(r"From (\S+?):?\s+icmp_seq=\d+\s+" + pattern, out)
    if not m:
        raise L.LabError(f"ping {dst}: no '{pattern}' error in:\n{out}")
    src = m.group(1).rstrip(":")
    if src not in router_addrs:
        raise L.LabError(f"ping {dst}: error came from {src}, not from r1 {router_addrs}")
    if took > max_seconds:
        raise L.LabError(f"ping {dst}: error took {took:.1f}s (> {max_seconds}s)")
    L.log(f"ping {dst}: '{pattern}' from {src} after {took:.1f}s")


def test():
    lab, r1, c, s = L.one_router("unreachable")
    with lab:
        lab.start()
        p1 = r1.port("p1")
        c.wait_ping(p1.host_v4)
        c.wait_ping(p1.host_v6)
        addrs = r1.addresses()
        net4 = p1.net4.split("/")[0].rsplit(".", 1)[0]
        # ICMP type 3 code 0: no route at all
        expect_error(c, UNROUTED4, "Destination Net Unreachable", addrs, 3.0)
        # ICMPv6 type 1 code 0: no route
        expect_error(c, UNROUTED6, "Destination unreachable: No route", addrs, 3.0)
        # ICMP type 3 code 1: nobody answers ARP for .99 on the server subnet
        expect_error(c, f"{net4}.99", "Destination Host Unreachable", addrs, 7.0)
        # ICMPv6 type 1 code 3: nobody answers ND for ::99
        expect_error(c, "fd00:2::99", "Destination unreachable: Address unreachable", addrs, 7.0)

        summary = lab.stop()
        L.check_accounting(summary)
        L.check_no_checksum_drops(summary)
        # the four ICMP errors left through p0 as data-plane sends
        sp0 = L.port_summary(summary, "r1", "p0")
        assert sp0["tx_packets"] >= 4, sp0


if __name__ == "__main__":
    L.main(test)

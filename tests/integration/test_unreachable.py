#!/usr/bin/python3
"""ICMP destination unreachable from the router (topologies/one-router.yaml): host (no ARP/ND
answer) and net."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib import summary as S  # noqa: E402
from lablib.lab import Lab, LabFailure, log, main  # noqa: E402

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
        raise LabFailure(f"ping {dst}: no '{pattern}' error in:\n{out}")
    src = m.group(1).rstrip(":")
    if src not in router_addrs:
        raise LabFailure(f"ping {dst}: error came from {src}, not from r1 {router_addrs}")
    if took > max_seconds:
        raise LabFailure(f"ping {dst}: error took {took:.1f}s (> {max_seconds}s)")
    log(f"ping {dst}: '{pattern}' from {src} after {took:.1f}s")


def test():
    with Lab("one-router", near=__file__) as lab:
        c = lab.host("client")
        c.wait_ping(lab.ip4("server"), lab.ip6("server"))
        ports = lab.t.routers["r1"].ports
        addrs = [str(a.ip) for p in ports.values() for a in p.ip4 + p.ip6]
        net4, net6 = ports["p1"].ip4[0].network, ports["p1"].ip6[0].network
        # ICMP type 3 code 0: no route at all
        expect_error(c, UNROUTED4, "Destination Net Unreachable", addrs, 3.0)
        # ICMPv6 type 1 code 0: no route
        expect_error(c, UNROUTED6, "Destination unreachable: No route", addrs, 3.0)
        # ICMP type 3 code 1: nobody answers ARP for .99 on the server subnet
        expect_error(c, net4.network_address + 99, "Destination Host Unreachable", addrs, 7.0)
        # ICMPv6 type 1 code 3: nobody answers ND for ::99
        expect_error(c, net6.network_address + 0x99, "Destination unreachable: Address unreachable",
                     addrs, 7.0)

        summary = lab.down()
        S.check_no_checksum_drops(summary)
        # the four ICMP errors left through p0 as data-plane sends
        sp0 = S.port_summary(summary, "r1", "p0")
        assert sp0["tx_packets"] >= 4, sp0


if __name__ == "__main__":
    main(test)

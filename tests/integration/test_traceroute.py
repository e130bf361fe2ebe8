#!/usr/bin/python3
"""traceroute (UDP) v4 and v6 through client -- r1 =link= r2 -- server."""
import ipaddress
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab as L  # noqa: E402


def parse(out):
    """{hop: [addresses]} from `traceroute -n` output."""
    hops = {}
    for line in out.splitlines():
        m = re.match(r"^\s*(\d+)\s+(.*)$", line)
        if not m:
            continue
        addrs = []
        for tok in m.group(2).split():
            try:
                addrs.append(str(ipaddress.ip_address(tok)))
            except ValueError:
                pass
        hops[int(m.group(1))] = addrs
    return hops


def trace(c, dst, expected, v6):
    cmd = ["traceroute"] + (["-6"] if v6 else []) + \
          ["-n", "-q", "3", "-w", "2", "-m", "6", str(dst)]
    cp = c.run(cmd, timeout=40, check=False)
    print(cp.stdout, cp.stderr, flush=True)
    hops = parse(cp.stdout)
    want = [str(ipaddress.ip_address(a)) for a in expected]
    problems = []
    for i, addr in enumerate(want, start=1):
        got = hops.get(i, [])
        if addr not in got:
            problems.append(f"hop {i}: want {addr}, got {got or 'no answer'}")
        elif any(a != addr for a in got):
            problems.append(f"hop {i}: stray answers {got}")
    if max(hops, default=0) != len(want):
        problems.append(f"trace ends at hop {max(hops, default=0)}, want {len(want)}")
    if problems:
        raise L.LabError(f"traceroute {dst}:\n  " + "\n  ".join(problems))


def test():
    lab, r1, r2, c, s = L.two_routers("traceroute")
    with lab:
        lab.start()
        p0, west, p1 = r1.port("p0"), r2.port("west"), r2.port("p1")
        c.wait_ping(p1.host_v4)
        c.wait_ping(p1.host_v6)
        trace(c, p1.host_v4, [p0.addr4, west.addr4, p1.host_v4], v6=False)
        trace(c, p1.host_v6, [p0.addr6, west.addr6, p1.host_v6], v6=True)

        summary = lab.stop()
        L.check_accounting(summary)
        L.check_no_checksum_drops(summary)
        # time-exceeded replies went back out of r1 p0 (counted as tx)
        assert L.port_summary(summary, "r1", "p0")["tx_packets"] >= 12
        assert L.port_summary(summary, "r2", "west")["tx_packets"] >= 6


if __name__ == "__main__":
    L.main(test)

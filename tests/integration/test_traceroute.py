#!/usr/bin/python3
"""traceroute (UDP) v4 and v6 through client -- r1 =link= r2 =link= r3 -- server
(topologies/default.yaml): each router answers once per probe, then the server; the
topology's own checks pass too."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib import summary as S  # noqa: E402
from lablib.lab import Lab, LabFailure, main  # noqa: E402
from lablib.tools import parse_traceroute  # noqa: E402


def trace(c, dst, want, v6):
    cmd = ["traceroute"] + (["-6"] if v6 else []) + ["-n", "-q", "3", "-w", "2", "-m", "6", dst]
    cp = c.run(cmd, timeout=40, check=False)
    print(cp.stdout, cp.stderr, flush=True)
    hops = {hop: addrs for hop, addrs, _, _ in parse_traceroute(cp.stdout)}
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
        raise LabFailure(f"traceroute {dst}:\n  " + "\n  ".join(problems))


def test():
    with Lab("default", name=f"trace{os.getpid() % 100000}") as lab:
        c = lab.host("client")
        hops = ("r1.p0", "r2.west", "r3.west", "server")
        c.wait_ping(lab.ip4("server"), lab.ip6("server"))
        trace(c, lab.ip4("server"), [lab.ip4(h) for h in hops], v6=False)
        trace(c, lab.ip6("server"), [lab.ip6(h) for h in hops], v6=True)
        lab.check()       # the topology's own checks (ping, traceroute -q 1) agree

        summary = lab.down()
        S.check_no_checksum_drops(summary)
        # time-exceeded replies went back out of r1 p0 (counted as tx)
        assert S.port_summary(summary, "r1", "p0")["tx_packets"] >= 18
        assert S.port_summary(summary, "r2", "west")["tx_packets"] >= 12


if __name__ == "__main__":
    main(test)

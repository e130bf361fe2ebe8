#!/usr/bin/python3
"""pathlab replay through a NAT44 router (docs/nat.md): the stage inside a whole router.

r1: inside port p0 (10.0.0.1/24, hosts 10.0.0.2 and .3; `inside_ports: [p0]`), outside port `east` joined by a ring
link to r2, nat44 on east's ingress and egress (pool 198.51.100.1, ports 7000-7002, at_limit:
reject). r2 routes the pool back to r1 and has a device port p1 toward 203.0.113.0/24.
The capture arrives on r1.p0:
  1. 10.0.0.3:7000 -> 203.0.113.5:53          leaves r2.p1 from 198.51.100.1:7000 (preserved)
  2. 10.0.0.2:6000 -> 198.51.100.1:7000       hairpinned: leaves r1.p0 to 10.0.0.3:7000 from
                                             198.51.100.1:7001
  3. 10.0.0.2:6001 -> 203.0.113.5:53, TTL 2   expires at r2: r2's time exceeded goes to
                                             198.51.100.1 and comes back through the NAT to
                                             10.0.0.2, its quoted header translated (traceroute)
  4. 10.0.0.2:6002 -> 203.0.113.5:53          no port left: ICMP 3/13 to 10.0.0.2 from r1
Every checksum of every output is verified by scapy; the accounting balances.
Run by Debian's /usr/bin/python3. A missing pathlab binary is a failure, not a skip.
"""
import json
import logging
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib.runner import find_pathlab, run_in_tmpdir  # noqa: E402
from lablib.summary import stage_counter  # noqa: E402

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import ICMP, IP, UDP, Ether, IPerror, UDPerror, rdpcap, wrpcap  # noqa: E402

NAT = "{stage: nat44, pool: 198.51.100.1, ports: 7000-7002, at_limit: reject, inside_ports: [p0]}"
CONFIG = f"""\
process:
  burst: 32
routers:
  - id: r1
    ports:
      - {{name: p0, device: d0, mac: "02:00:00:00:00:01", ipv4: 10.0.0.1/24}}
      - name: east
        ipv4: 10.0.12.1/30
        ingress: [{NAT}]
        egress: [{NAT}]
    routes:
      - {{prefix: 0.0.0.0/0, via: 10.0.12.2}}
    neighbours:
      - {{port: p0, ip: 10.0.0.2, mac: "02:00:00:00:00:02"}}
      - {{port: p0, ip: 10.0.0.3, mac: "02:00:00:00:00:03"}}
  - id: r2
    ports:
      - {{name: west, ipv4: 10.0.12.2/30}}
      - {{name: p1, device: d1, mac: "02:00:00:00:01:01", ipv4: 203.0.113.1/24}}
    routes:
      - {{prefix: 198.51.100.0/24, via: 10.0.12.1}}
    neighbours:
      - {{port: p1, ip: 203.0.113.5, mac: "02:00:00:00:01:05"}}
links:
  - {{name: r1-r2, ends: [r1.east, r2.west]}}
"""
P = "198.51.100.1"


def verify(p):
    """The outer checksums of an Ethernet/IPv4 frame (IP, and UDP or ICMP), recomputed by scapy."""
    fresh = IP(bytes(p[IP]))
    for layer in (IP, ICMP if ICMP in fresh else UDP):
        c = fresh.copy()
        del c.getlayer(layer).chksum
        if IP(bytes(c)).getlayer(layer).chksum != fresh.getlayer(layer).chksum:
            return False
    return True


def test(tmp):
    binary = find_pathlab()
    cfg, inp, out = f"{tmp}/nat.yaml", f"{tmp}/in.pcap", f"{tmp}/out.pcap"
    open(cfg, "w").write(CONFIG)
    e = dict(src="02:00:00:00:00:02", dst="02:00:00:00:00:01")
    frames = [
        Ether(**e) / IP(src="10.0.0.3", dst="203.0.113.5", id=1) / UDP(sport=7000, dport=53) / b"one",
        Ether(**e) / IP(src="10.0.0.2", dst=P, id=2) / UDP(sport=6000, dport=7000) / b"hairpin",
        Ether(**e) / IP(src="10.0.0.2", dst="203.0.113.5", id=3, ttl=2) / UDP(sport=6001, dport=53) / b"trace",
        Ether(**e) / IP(src="10.0.0.2", dst="203.0.113.5", id=4) / UDP(sport=6002, dport=53) / b"four",
    ]
    for i, f in enumerate(frames):
        f.time = 1 + i / 1000
    wrpcap(inp, frames)
    cmd = [binary, "replay", "--config", cfg, "--in", inp, "--out", out, "--port", "p0", "--json"]
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, f"{' '.join(cmd)}: {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    s = json.loads(cp.stdout.strip().splitlines()[-1])
    for r in s["routers"]:
        assert r["accounting"]["balanced"], r["accounting"]

    p0 = rdpcap(f"{out[:-5]}.r1.p0.pcap")
    p1 = rdpcap(f"{out[:-5]}.r2.p1.pcap")
    for p in list(p0) + list(p1):
        assert verify(p), p.show(dump=True)

    assert len(p1) == 1, [p.summary() for p in p1]
    assert (p1[0][IP].src, p1[0][UDP].sport, p1[0][IP].dst) == (P, 7000, "203.0.113.5")

    assert len(p0) == 3, [p.summary() for p in p0]
    hair = [p for p in p0 if UDP in p and ICMP not in p]
    assert len(hair) == 1
    h = hair[0]
    assert (h[IP].src, h[UDP].sport, h[IP].dst, h[UDP].dport) == (P, 7001, "10.0.0.3", 7000), h.summary()
    assert h.dst == "02:00:00:00:00:03" and bytes(h[UDP].payload) == b"hairpin"

    icmp = {p[ICMP].type: p for p in p0 if ICMP in p}
    te = icmp[11]  # from r2, beyond the NAT: the quoted probe is the one 10.0.0.2 sent
    assert (te[IP].src, te[IP].dst) == ("10.0.12.2", "10.0.0.2"), te.summary()
    assert (te[IPerror].src, te[UDPerror].sport, te[IPerror].id) == ("10.0.0.2", 6001, 3)
    rej = icmp[3]
    assert (rej[ICMP].code, rej[IP].dst, rej[IPerror].src, rej[UDPerror].sport) == (13, "10.0.0.2", "10.0.0.2", 6002)

    assert stage_counter(s, "r1.east.egress.nat44.created") == 3
    assert stage_counter(s, "r1.east.egress.nat44.hairpinned") == 1
    assert stage_counter(s, "r1.east.egress.nat44.rejected") == 1
    assert stage_counter(s, "r1.east.ingress.nat44.icmp_errors") == 1
    print("  outbound, hairpin, time exceeded from beyond the NAT, reject: as expected")


def main():
    return run_in_tmpdir(test, "pathlab-replay-nat-")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""A mangling router stays a visible hop (client -- r1 =link= r2 -- server,
topologies/mb-quote.yaml). r1 rewrites the DSCP and bleaches ECN on its client port's ingress.
TTL-limited probes, tracebox style:
- TTL 1: r1's time exceeded quotes the probe as r1's ingress stages left it (TTL 1, mangled ToS);
- TTL 2: r2's quote shows the same mangled ToS; the rest of the quoted header and the UDP
  header are what was sent (only TTL and the IPv4 header checksum differ from the probe);
- IPv6 likewise, with the traffic class."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import mbtools as M  # noqa: E402
from lablib.lab import PY, Lab, log, main  # noqa: E402

PROBE = r'''
import json, logging, sys
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import IP, IPv6, UDP, ICMP, sr1, conf, raw
conf.verb = 0
dst, ttl = sys.argv[1], int(sys.argv[2])
if ":" in dst:
    probe = IPv6(dst=dst, hlim=ttl, tc=0x03 | (10 << 2)) / UDP(sport=40000, dport=33434) / (b"p" * 40)
else:
    probe = IP(dst=dst, ttl=ttl, tos=0x03 | (10 << 2), id=777) / UDP(sport=40000, dport=33434) / (b"p" * 40)
for _ in range(3):
    r = sr1(probe, timeout=2)
    if r is not None:
        break
if r is None:
    print(json.dumps({"reply": None}))
else:
    print(json.dumps({"reply": raw(r).hex(), "probe": raw(probe.__class__(raw(probe))).hex()}))
'''

EF = 46


def probe(c, dst, ttl):
    cp = c.run([PY, "-c", PROBE, dst, ttl], timeout=30)
    return json.loads(cp.stdout.strip().splitlines()[-1])


def test():
    from scapy.layers.inet import IP, UDP, ICMP, IPerror, UDPerror
    from scapy.layers.inet6 import IPv6, ICMPv6TimeExceeded, IPerror6
    with Lab("mb-quote", near=__file__) as lab:
        c = lab.host("client")
        srv4, srv6 = lab.ip4("server"), lab.ip6("server")
        c.wait_ping(srv4, srv6)
        for ttl, hop in ((1, lab.ip4("r1.p0")), (2, lab.ip4("r2.west"))):
            r = probe(c, srv4, ttl)
            assert r["reply"], f"no answer to TTL {ttl}"
            reply = IP(bytes.fromhex(r["reply"]))
            sent = IP(bytes.fromhex(r["probe"]))
            assert reply.src == hop and reply[ICMP].type == 11, reply.summary()
            q = reply[IPerror]
            log(f"TTL {ttl}: {hop} quotes tos={q.tos:#x} ttl={q.ttl} len={q.len}")
            assert q.tos == EF << 2, f"quoted ToS {q.tos:#x}, want {EF << 2:#x}"
            assert q.ttl == 1
            # everything else in the quote is the probe as sent
            for f in ("version", "ihl", "len", "id", "flags", "frag", "proto", "src", "dst"):
                assert getattr(q, f) == getattr(sent, f), (f, getattr(q, f), getattr(sent, f))
            assert bytes(q[UDPerror]) == bytes(sent[UDP]), "quoted UDP differs from the probe"
        for ttl, hop in ((1, lab.ip6("r1.p0")), (2, lab.ip6("r2.west"))):
            r = probe(c, srv6, ttl)
            assert r["reply"], f"no answer to hop limit {ttl}"
            reply = IPv6(bytes.fromhex(r["reply"]))
            assert reply.src == hop and ICMPv6TimeExceeded in reply, reply.summary()
            q = reply[IPerror6]
            assert q.tc == EF << 2 and q.hlim == 1, (hex(q.tc), q.hlim)
        summary = lab.down()
        # the stages are named in the topology: "mark" and "bleach"
        assert M.stage_counter(summary, "r1.p0.ingress.mark.set") >= 4
        assert M.stage_counter(summary, "r1.p0.ingress.bleach.bleached") >= 4


if __name__ == "__main__":
    main(test)

#!/usr/bin/python3
"""Frames for ip_options_test.cc, built with scapy. Usage: gen_ip_options.py OUT.json

IPv4 option lists are written out byte for byte; each case has "in" and the expected frames:
  "none":  the same packet without options (ipv4: strip);
  "ra":    only what allow: [ra] keeps, with the run of NOPs before each kept option, padded
           with EOL (ipv4: strip, allow: [ra]).
IPv6 cases have "in" and, where options are padded out, "padded".
"""
import json
import logging
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import (HBHOptUnknown, IPv6, IPv6ExtHdrDestOpt,  # noqa: E402
                                IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, PadN,
                                RouterAlert)
from scapy.layers.l2 import Dot1Q, Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

E = dict(src="02:00:00:00:00:01", dst="02:00:00:00:01:00")
A4 = dict(src="10.0.0.2", dst="10.9.0.1", id=0x4242, flags="DF")
A6 = dict(src="2001:db8::2", dst="2001:db8:9::1")


def h(p):
    return bytes(p).hex()


def pad(b):
    return b + b"\x00" * (-len(b) % 4)


NOP = b"\x01"
RA = bytes.fromhex("94040000")                      # router alert
RR = bytes.fromhex("070b04") + bytes(8)             # record route, 2 slots
RR7 = bytes.fromhex("070704") + bytes(4)            # record route, 1 slot
TS = bytes.fromhex("440c0500") + bytes(8)           # timestamp, 2 slots
LSRR = bytes.fromhex("8307040a000001")              # loose source route via 10.0.0.1

L2 = {
    "v4": lambda: Ether(**E),
    "vlan": lambda: Ether(**E) / Dot1Q(vlan=7),
}
L4 = {
    "udp": lambda: UDP(sport=5000, dport=53) / Raw(b"a DNS query, say"),
    "tcp": lambda: TCP(sport=40000, dport=80, flags="S", options=[("MSS", 1460)]),
}

# name: (options, what allow: [ra] keeps)
SCENARIOS = {
    "rr": (pad(RR), b""),
    "ra": (RA, RA),
    "ra_rr": (pad(RA + RR), RA),
    "ra_nop_rr": (RA + NOP + RR7, RA),
    "rr_nop_ra": (RR7 + NOP + RA, pad(NOP + RA)),
    "nop_rr": (NOP + RR7, b""),
    "ts_lsrr": (TS + LSRR + NOP, b""),
    "nops": (NOP * 4, NOP * 4),  # padding only: nothing to strip
    "after_eol": (RA + b"\x00\xff\xff\xff", RA + b"\x00\xff\xff\xff"),  # nothing to strip
}

cases = {}
for l2name, l2 in L2.items():
    for l4name, l4 in L4.items():
        for name, (opts, ra) in SCENARIOS.items():
            cases[f"{l2name}/{l4name}/{name}"] = {
                "in": h(l2() / IP(options=opts, **A4) / l4()),
                "none": h(l2() / IP(**A4) / l4()),
                "ra": h(l2() / IP(options=ra, **A4) / l4()),
            }
        cases[f"{l2name}/{l4name}/plain"] = {"in": h(l2() / IP(**A4) / l4())}

# A later fragment keeps its options in its own header: stripped the same way.
frag = dict(A4, flags=0, frag=100)
cases["frag/rr"] = {
    "in": h(Ether(**E) / IP(options=pad(RR), proto=17, **frag) / Raw(b"the rest of it")),
    "none": h(Ether(**E) / IP(proto=17, **frag) / Raw(b"the rest of it")),
}

# Malformed option lists: with an allow-list (which parses them) never overrun.
MALFORMED = {
    "len1": bytes.fromhex("94010000"),
    "len0": NOP + bytes.fromhex("070000"),
    "overrun": bytes.fromhex("070c0400"),
    "truncated": bytes.fromhex("01010107"),
}
for name, opts in MALFORMED.items():
    cases[f"malformed/{name}"] = {
        "in": h(Ether(**E) / IP(options=opts, **A4) / L4["udp"]()),
        "none": h(Ether(**E) / IP(**A4) / L4["udp"]()),
    }

# ---- IPv6 ----
UDP6 = lambda: UDP(sport=5000, dport=53) / Raw(b"a DNS query, say")  # noqa: E731
TCP6 = lambda: TCP(sport=40000, dport=80, flags="S", options=[("MSS", 1440)])  # noqa: E731
HBH_RA = lambda: IPv6ExtHdrHopByHop(options=[RouterAlert()])  # noqa: E731
HBH_PADDED = lambda: IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\x00\x00")])  # noqa: E731
DST_1E = lambda: IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0x1e, optdata=b"abcd")])  # noqa
DST_PADDED = lambda: IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00" * 4)])  # noqa: E731

for l2name, l2 in L2.items():
    for l4name, l4 in (("udp", UDP6), ("tcp", TCP6)):
        p = {"v4": "v6", "vlan": "vlan6"}[l2name] + "/" + l4name
        base = lambda: l2() / IPv6(**A6)  # noqa: E731
        cases[f"{p}/plain"] = {"in": h(base() / l4())}
        cases[f"{p}/hbh"] = {"in": h(base() / HBH_RA() / l4()), "padded": h(base() / HBH_PADDED() / l4())}
        cases[f"{p}/dst"] = {"in": h(base() / DST_1E() / l4()), "padded": h(base() / DST_PADDED() / l4())}
        cases[f"{p}/hbh_dst"] = {
            "in": h(base() / HBH_RA() / DST_1E() / l4()),
            "padded": h(base() / HBH_PADDED() / DST_PADDED() / l4()),
            "padded_ra": h(base() / HBH_PADDED() / DST_1E() / l4()),
        }
        cases[f"{p}/rt_dst"] = {"in": h(base() / IPv6ExtHdrRouting(addresses=[]) / DST_1E() / l4()),
                                "padded": h(base() / IPv6ExtHdrRouting(addresses=[]) / DST_PADDED() / l4())}

# A later fragment: Destination Options in front of the Fragment header are seen.
cases["v6frag/dst"] = {"in": h(Ether(**E) / IPv6(**A6) / DST_1E() /
                                IPv6ExtHdrFragment(offset=100, nh=17, id=9) / Raw(b"x" * 16))}

# Malformed: an option running past its header (the UDP checksum does not cover it, so the
# frame stays valid); a header longer than the packet.
good = bytes(Ether(**E) / IPv6(**A6) / HBH_RA() / UDP6())
assert good[54:62] == bytes.fromhex("1100050200000100"), good[54:62].hex()  # RA, then PadN(0)
bad_tlv = bytearray(good)
bad_tlv[54 + 6:54 + 8] = bytes.fromhex("1e05")  # a 7-byte option in the 2 bytes left
cases["malformed6/tlv"] = {"in": bytes(bad_tlv).hex()}
short = Ether(**E) / IPv6(nh=60, **A6) / Raw(bytes.fromhex("1102000000000000"))  # says 24 bytes
cases["malformed6/chain"] = {"in": h(short)}

json.dump(cases, open(sys.argv[1], "w"), indent=1)

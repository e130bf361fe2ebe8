#!/usr/bin/python3
"""Frames for dscp_test.cc, built with scapy. Usage: gen_dscp.py OUT.json

Case "<variant>/<tos hex>": the variant's frame with that ToS / traffic class, for all 256 values,
so that whatever the stage writes has a scapy-built frame to be compared with.
"""
import json
import logging
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, ICMPv6EchoRequest  # noqa: E402
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether  # noqa: E402

E = dict(src="02:00:00:00:00:99", dst="02:00:00:00:00:01")


def ip4(tos, **kw):
    return IP(src="10.0.0.2", dst="198.18.0.1", ttl=63, id=0x4321, flags="DF", tos=tos, **kw)


def ip6(tc):
    return IPv6(src="2001:db8::2", dst="2001:db8:9::1", tc=tc, fl=0x5a5a5, hlim=63)


SEG = TCP(sport=40000, dport=80, seq=7, ack=9, flags="PA", window=501) / b"GET / HTTP/1.1\r\n"
DGRAM = UDP(sport=5000, dport=53) / (b"d" * 14)
VARIANTS = {
    "plain4": lambda t: Ether(**E) / ip4(t) / SEG,
    "vlan4": lambda t: Ether(**E) / Dot1Q(vlan=7) / ip4(t) / DGRAM,
    "opts4": lambda t: Ether(**E) / ip4(t, options=b"\x94\x04\x00\x00") / SEG,
    "frag4": lambda t: Ether(**E) / IP(src="10.0.0.2", dst="198.18.0.1", ttl=63, id=0x77, tos=t,
                                        flags="MF", frag=2, proto=17) / (b"f" * 16),
    "plain6": lambda t: Ether(**E) / ip6(t) / SEG,
    "ext6": lambda t: Ether(**E) / ip6(t) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / DGRAM,
    "icmp6": lambda t: Ether(**E) / Dot1AD(vlan=5) / Dot1Q(vlan=7) / ip6(t) / ICMPv6EchoRequest(id=3, seq=4),
}

cases = {}
for name, build in VARIANTS.items():
    for t in range(256):
        cases[f"{name}/{t:02x}"] = {"in": bytes(build(t)).hex()}
json.dump(cases, open(sys.argv[1], "w"), indent=0)

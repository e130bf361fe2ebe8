#!/usr/bin/python3
"""Frames for normalize_test.cc, built with scapy. Usage: gen_normalize.py OUT.json

Case "<variant>/<ttl>/<id hex>": the variant's frame with that TTL (hop limit) and IPv4 ID (0000
for IPv6), over the grid below, so that every expected output is a scapy-built frame too.
"""
import json
import logging
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop  # noqa: E402
from scapy.layers.l2 import Dot1Q, Ether  # noqa: E402

E = dict(src="02:00:00:00:00:99", dst="02:00:00:00:00:01")
TTLS = [1, 31, 32, 64, 128, 129, 255]
IDS = [0x0000, 0x1234, 0xfffe]


def ip4(ttl, ident, **kw):
    kw.setdefault("flags", "DF")
    return IP(src="10.0.0.2", dst="198.18.0.1", ttl=ttl, id=ident, tos=0x10, **kw)


def ip6(hlim):
    return IPv6(src="2001:db8::2", dst="2001:db8:9::1", hlim=hlim, tc=0x10, fl=0x12345)


SEG = TCP(sport=40000, dport=443, seq=1, ack=1, flags="A", window=501) / b"payload"
DGRAM = UDP(sport=5000, dport=53) / (b"u" * 20)
V4 = {
    "plain4": lambda t, i: Ether(**E) / ip4(t, i) / SEG,
    "vlan4": lambda t, i: Ether(**E) / Dot1Q(vlan=9) / ip4(t, i) / DGRAM,
    "opts4": lambda t, i: Ether(**E) / ip4(t, i, options=b"\x94\x04\x00\x00") / SEG,
    "nodf4": lambda t, i: Ether(**E) / ip4(t, i, flags=0) / DGRAM,
    # Fragments: the first (MF, offset 0, with the UDP header) and a later one (an offset).
    "firstfrag4": lambda t, i: Ether(**E) / ip4(t, i, flags="MF") / UDP(sport=5000, dport=53, len=60, chksum=0) / (b"a" * 16),
    "laterfrag4": lambda t, i: Ether(**E) / ip4(t, i, flags=0, frag=3, proto=17) / (b"b" * 16),
}
V6 = {
    "plain6": lambda t: Ether(**E) / ip6(t) / SEG,
    "ext6": lambda t: Ether(**E) / ip6(t) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / DGRAM,
}

cases = {}
for name, build in V4.items():
    for t in TTLS:
        for i in IDS:
            cases[f"{name}/{t}/{i:04x}"] = {"in": bytes(build(t, i)).hex()}
for name, build in V6.items():
    for t in TTLS:
        cases[f"{name}/{t}/0000"] = {"in": bytes(build(t)).hex()}
json.dump(cases, open(sys.argv[1], "w"), indent=0)

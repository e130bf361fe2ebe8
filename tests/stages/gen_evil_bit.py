#!/usr/bin/python3
"""Frames for evil_bit_test.cc, built with scapy. Usage: gen_evil_bit.py OUT.json"""
import json
import logging
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import IP, UDP, TCP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import Ether, Dot1Q  # noqa: E402

E = dict(src="02:00:00:00:00:01", dst="02:00:00:00:01:00")


def h(p):
    return bytes(p).hex()


cases = {}
for name, l2 in (("plain", Ether(**E)), ("vlan", Ether(**E) / Dot1Q(vlan=7))):
    evil = l2 / IP(src="10.0.0.2", dst="10.9.0.1", ttl=63, id=0x1234, flags="evil+DF") / UDP(sport=5000, dport=53) / (b"x" * 10)
    good = l2 / IP(src="10.0.0.2", dst="10.9.0.1", ttl=63, id=0x1234, flags="DF") / UDP(sport=5000, dport=53) / (b"x" * 10)
    cases[name] = {"evil": h(evil), "good": h(good)}
opts = Ether(**E) / IP(src="10.0.0.2", dst="10.9.0.1", flags="evil", options=b"\x01\x01\x01\x00") / TCP(sport=1, dport=2)
cases["options"] = {"evil": h(opts), "good": h(Ether(**E) / IP(src="10.0.0.2", dst="10.9.0.1", flags=0, options=b"\x01\x01\x01\x00") / TCP(sport=1, dport=2))}
cases["v6"] = {"in": h(Ether(**E) / IPv6(src="2001:db8::2", dst="2001:db8:9::1") / UDP(sport=1, dport=2))}
json.dump(cases, open(sys.argv[1], "w"), indent=1)

#!/usr/bin/python3
"""Frames for ecn_test.cc, built with scapy. Usage: gen_ecn.py OUT.json

A grid per variant: case "<variant>/<tos hex>/<flags hex>" holds the frame with that ToS / traffic
class and TCP flags (flags 00 for variants without a TCP header). Every expected output of the
stage is itself a grid frame built by scapy, so the test compares bytes with an independent build.
"""
import json
import logging
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, ICMPv6EchoRequest  # noqa: E402
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

E = dict(src="02:00:00:00:00:99", dst="02:00:00:00:00:01")
TOS = [0x00, 0x01, 0x02, 0x03, 0xb8, 0xb9, 0xba, 0xbb, 0x28, 0x2b]
FLAGS = [0x02, 0x12, 0x42, 0x82, 0xc2, 0x52, 0xd2, 0x10, 0x50, 0x98, 0x18]


def ip4(tos, **kw):
    return IP(src="10.0.0.2", dst="198.18.0.1", ttl=63, id=0x1234, flags="DF", tos=tos, **kw)


def ip6(tc, **kw):
    # A flow label whose top nibble shares byte 1 with the low nibble of the traffic class.
    return IPv6(src="2001:db8::2", dst="2001:db8:9::1", tc=tc, fl=0xabcde, hlim=63, **kw)


def tcp(flags):
    opts = [("MSS", 1460), ("NOP", None), ("WScale", 7)] if flags & 0x02 else []
    ack = 2000 if flags & 0x10 else 0
    return TCP(sport=40000, dport=80, seq=1000, ack=ack, flags=flags, window=501, options=opts) / b"hello ecn"


TCP_VARIANTS = {
    "plain4": lambda t, f: Ether(**E) / ip4(t) / tcp(f),
    "vlan4": lambda t, f: Ether(**E) / Dot1Q(vlan=7) / ip4(t) / tcp(f),
    # Router Alert, then NOP padding: a 24-byte IPv4 header.
    "opts4": lambda t, f: Ether(**E) / ip4(t, options=b"\x94\x04\x00\x00") / tcp(f),
    "plain6": lambda t, f: Ether(**E) / ip6(t) / tcp(f),
    "ext6": lambda t, f: Ether(**E) / ip6(t) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / tcp(f),
    "qinq6": lambda t, f: Ether(**E) / Dot1AD(vlan=5) / Dot1Q(vlan=7) / ip6(t) / tcp(f),
}
# Variants whose TCP header the stage must not touch (or that have none), built for flags 0xc2
# (an ECN-setup SYN if it were parsed) or 00.
OTHER_VARIANTS = {
    "udp4": lambda t: Ether(**E) / ip4(t) / UDP(sport=5000, dport=53) / (b"q" * 12),
    "udp6": lambda t: Ether(**E) / ip6(t) / UDP(sport=5000, dport=53) / (b"q" * 12),
    "icmp6": lambda t: Ether(**E) / ip6(t) / ICMPv6EchoRequest(id=7, seq=1, data=b"ping"),
    # A later fragment: bytes that look like a TCP header with SYN+ECE+CWR, but are not one.
    "frag4": lambda t: Ether(**E) / IP(src="10.0.0.2", dst="198.18.0.1", ttl=63, id=0x99, tos=t,
                                        flags="MF", frag=3, proto=6) / bytes(tcp(0xc2))[:24],
    # TCP header cut short by the IP total length (10 bytes of it).
    "trunc4": lambda t: Ether(**E) / ip4(t, proto=6) / bytes(tcp(0xc2))[:10],
    # Data offset 15 (60 bytes) in a 29-byte segment.
    "baddoff4": lambda t: Ether(**E) / ip4(t) / TCP(sport=40000, dport=80, flags=0xc2, dataofs=15) / (b"x" * 9),
}


def h(p):
    return bytes(p).hex()


cases = {}
for name, build in TCP_VARIANTS.items():
    for t in TOS:
        for f in FLAGS:
            cases[f"{name}/{t:02x}/{f:02x}"] = {"in": h(build(t, f))}
for name, build in OTHER_VARIANTS.items():
    for t in TOS:
        cases[f"{name}/{t:02x}/00"] = {"in": h(build(t))}
# Another connection's plain SYN (another source port), beside plain4/00/02, the fallback SYN a
# client retransmits for plain4/00/c2 (same addresses, ports and sequence number).
cases["othersyn4"] = {"in": h(Ether(**E) / ip4(0) / TCP(sport=40002, dport=80, seq=1000, flags="S"))}
cases["arp"] = {"in": h(Ether(**E, type=0x0806) / ARP(psrc="10.0.0.2", pdst="10.0.0.1"))}
json.dump(cases, open(sys.argv[1], "w"), indent=0)

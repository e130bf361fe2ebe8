#!/usr/bin/python3
"""Frames for udp_checksum_test.cc, built with scapy. Usage: gen_udp_checksum.py OUT.json

Per variant: "zero" (checksum 0, as PATHspider's udpzero sends its DNS query) and "filled" (the
same datagram with the checksum scapy computes). Plus the cases fill must leave alone.
"""
import json
import logging
import struct
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.dns import DNS, DNSQR  # noqa: E402
from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop  # noqa: E402
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether  # noqa: E402
from scapy.utils import checksum  # noqa: E402

E = dict(src="02:00:00:00:00:99", dst="02:00:00:00:00:01")


def ip4(**kw):
    kw.setdefault("flags", "DF")
    return IP(src="10.0.0.2", dst="198.18.0.1", ttl=63, id=0x2468, **kw)


def ip6():
    return IPv6(src="2001:db8::2", dst="2001:db8:9::1", hlim=63)


def query(chksum=None, **kw):
    return UDP(sport=40001, dport=53, chksum=chksum, **kw) / DNS(rd=1, qd=DNSQR(qname="example.com"))


L3 = {
    "plain4": lambda: Ether(**E) / ip4(),
    "vlan4": lambda: Ether(**E) / Dot1Q(vlan=7) / ip4(),
    "opts4": lambda: Ether(**E) / ip4(options=b"\x94\x04\x00\x00"),
    "plain6": lambda: Ether(**E) / ip6(),
    "ext6": lambda: Ether(**E) / ip6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt(),
    "qinq6": lambda: Ether(**E) / Dot1AD(vlan=5) / Dot1Q(vlan=7) / ip6(),
}


def h(p):
    return bytes(p).hex()


cases = {}
for name, l3 in L3.items():
    cases[name] = {"zero": h(l3() / query(chksum=0)), "filled": h(l3() / query())}

# A payload whose checksum computes to 0: sent as 0xffff (RFC 768).
probe = Ether(**E) / ip4() / UDP(sport=7, dport=9, chksum=0) / (b"\x00\x00" + b"z" * 10)
pseudo = bytes(probe[IP])[12:20] + struct.pack("!BBH", 0, 17, len(probe[UDP]))
fix = checksum(pseudo + bytes(probe[UDP]))  # ~sum with the adjustable word at 0
ffff = Ether(**E) / ip4() / UDP(sport=7, dport=9) / (struct.pack("!H", fix) + b"z" * 10)
assert bytes(ffff[UDP])[6:8] == b"\xff\xff", bytes(ffff[UDP])[6:8]
cases["ffff4"] = {"zero": h(Ether(**E) / ip4() / UDP(sport=7, dport=9, chksum=0) / (struct.pack("!H", fix) + b"z" * 10)),
                  "filled": h(ffff)}

# UDP length 12 in a 28-byte IP payload: the checksum covers the 12 bytes (pseudo-header length
# 12); the trailing bytes are not UDP's.
short = Ether(**E) / ip4() / UDP(sport=7, dport=9, len=12, chksum=0) / b"abcd" / (b"T" * 16)
udp = bytearray(bytes(short[UDP])[:12])
ck = checksum(bytes(short[IP])[12:20] + struct.pack("!BBH", 0, 17, 12) + bytes(udp))
raw = bytearray(bytes(short))
raw[14 + 20 + 6:14 + 20 + 8] = struct.pack("!H", ck or 0xffff)
cases["shortlen4"] = {"zero": h(short), "filled": raw.hex()}

# What fill leaves alone: a first fragment, a UDP length past the packet or under 8, a header cut
# short, checksums already there (right or wrong).
cases["firstfrag4"] = {"zero": h(Ether(**E) / ip4(flags="MF") / UDP(sport=1, dport=53, len=400, chksum=0) / (b"F" * 24))}
cases["laterfrag4"] = {"zero": h(Ether(**E) / ip4(flags=0, frag=5, proto=17) / (b"\x00" * 24))}
cases["longlen4"] = {"zero": h(Ether(**E) / ip4() / UDP(sport=1, dport=53, len=200, chksum=0) / (b"L" * 10))}
cases["tinylen4"] = {"zero": h(Ether(**E) / ip4() / UDP(sport=1, dport=53, len=4, chksum=0) / (b"t" * 10))}
cases["tinylen6"] = {"zero": h(Ether(**E) / ip6() / UDP(sport=1, dport=53, len=4, chksum=0) / (b"t" * 10))}
cases["trunc4"] = {"zero": h(Ether(**E) / ip4(proto=17) / b"\x9c\x41\x00\x35\x00")}
cases["good4"] = {"in": h(Ether(**E) / ip4() / query())}
cases["good6"] = {"in": h(Ether(**E) / ip6() / query())}
cases["wrong4"] = {"in": h(Ether(**E) / ip4() / query(chksum=0x1234))}
cases["tcp4"] = {"in": h(Ether(**E) / ip4() / TCP(sport=1, dport=53, chksum=0))}
json.dump(cases, open(sys.argv[1], "w"), indent=1)

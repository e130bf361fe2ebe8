#!/usr/bin/python3
"""Reference packets for tests/net/checksum_test.cc, every checksum computed by scapy.
Usage: gen_checksum_refs.py OUTPUT.json

  ip4_headers: {name, ip}: an IPv4 packet whose header checksum scapy filled in
  transport:   {name, ip, version, proto, l4_off, cksum_off}: a TCP / UDP / ICMPv6 packet with
               its transport checksum (at l4_off + cksum_off) as scapy computed it
  rewrites:    {name, before, after, version, l4_off, cksum_off, pseudo}: the same packet before
               and after a NAT-style or router rewrite (addresses, ports, an ICMP id, the TTL),
               both with every checksum recomputed in full by scapy. pseudo: whether the
               transport checksum covers the addresses (false for ICMPv4).
"""
import json
import logging
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_NOP, IPOption_Router_Alert  # noqa
from scapy.layers.inet6 import (ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt,  # noqa: E402
                                IPv6ExtHdrHopByHop, PadN, RouterAlert)
from scapy.packet import Raw  # noqa: E402


def data(n, seed):
    return Raw(bytes((i * 31 + seed) & 0xFF for i in range(n)))


ip4_headers = []
for name, pkt in [
    ("plain", IP(src="10.0.0.2", dst="198.51.100.1", ttl=64, id=0x1234) / UDP() / data(10, 1)),
    ("df_tos", IP(src="192.0.2.200", dst="203.0.113.9", tos=0xb8, flags="DF", ttl=1) / TCP()),
    ("options", IP(src="10.1.2.3", dst="10.3.2.1", options=[IPOption_Router_Alert(),
                                                            IPOption_NOP()]) / UDP()),
    ("all_ones", IP(src="255.255.255.255", dst="255.255.255.255", ttl=255, id=0xffff) / UDP()),
]:
    ip4_headers.append(dict(name=name, ip=bytes(pkt).hex()))

transport = []


def add_transport(name, pkt, l4_layer, cksum_off):
    raw = bytes(pkt)
    l4_off = len(raw) - len(bytes(pkt[l4_layer]))
    version = 4 if IP in pkt else 6
    proto = {TCP: 6, UDP: 17, ICMPv6EchoRequest: 58, ICMP: 1}[l4_layer]
    transport.append(dict(name=name, ip=raw.hex(), version=version, proto=proto, l4_off=l4_off,
                          cksum_off=cksum_off))


A4 = dict(src="10.0.0.2", dst="198.51.100.1")
A6 = dict(src="2001:db8::2", dst="2001:db8:9::1")
add_transport("tcp4", IP(**A4) / TCP(sport=40000, dport=80, flags="PA", seq=7) / data(100, 3),
              TCP, 16)
add_transport("tcp4_odd", IP(**A4) / TCP(sport=1, dport=2, flags="S") / data(3, 9), TCP, 16)
add_transport("udp4", IP(**A4) / UDP(sport=5000, dport=53) / data(33, 5), UDP, 6)
add_transport("udp6", IPv6(**A6) / UDP(sport=5000, dport=53) / data(64, 7), UDP, 6)
add_transport("tcp6_ext", IPv6(**A6) / IPv6ExtHdrHopByHop(options=[RouterAlert()]) /
              IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00" * 4)]) /
              TCP(sport=443, dport=51000, flags="A") / data(1400, 11), TCP, 16)
add_transport("icmp6_echo", IPv6(**A6) / ICMPv6EchoRequest(id=1, seq=2, data=b"ping" * 9),
              ICMPv6EchoRequest, 2)

rewrites = []


def add_rewrite(name, before, after, l4_layer, cksum_off, pseudo=True):
    b, a = bytes(before), bytes(after)
    assert len(b) == len(a)
    l4_off = len(b) - len(bytes(before[l4_layer]))
    rewrites.append(dict(name=name, before=b.hex(), after=a.hex(),
                         version=4 if IP in before else 6, l4_off=l4_off, cksum_off=cksum_off,
                         pseudo=pseudo))


def tcp4(src, sport, ttl=64):
    return IP(src=src, dst="198.51.100.1", ttl=ttl, id=77) / TCP(sport=sport, dport=443, seq=1,
                                                                  flags="S") / data(20, 2)


add_rewrite("snat_tcp4", tcp4("10.0.0.2", 40000), tcp4("203.0.113.7", 61000), TCP, 16)
add_rewrite("snat_tcp4_to_zeros", tcp4("10.255.255.255", 65535), tcp4("0.0.0.0", 0), TCP, 16)
add_rewrite("ttl_tcp4", tcp4("10.0.0.2", 40000, 64), tcp4("10.0.0.2", 40000, 63), TCP, 16)


def udp4(dst, dport):
    return IP(src="10.0.0.2", dst=dst) / UDP(sport=5000, dport=dport) / data(40, 4)


add_rewrite("dnat_udp4", udp4("198.51.100.1", 53), udp4("10.9.9.9", 5353), UDP, 6)


def udp6(src, sport):
    return IPv6(src=src, dst="2001:db8:9::1") / UDP(sport=sport, dport=53) / data(40, 6)


add_rewrite("snat_udp6", udp6("fd00::1:2", 40000), udp6("2001:db8:ffff::7", 1024), UDP, 6)


def echo4(ident):
    return IP(src="10.0.0.2", dst="198.51.100.1") / ICMP(type=8, id=ident, seq=1) / data(56, 8)


add_rewrite("icmp4_id", echo4(0x1234), echo4(0xbeef), ICMP, 2, pseudo=False)

with open(sys.argv[1], "w") as f:
    json.dump(dict(ip4_headers=ip4_headers, transport=transport, rewrites=rewrites), f, indent=1)

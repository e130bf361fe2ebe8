#!/usr/bin/python3
"""Frames for block_test.cc, built with scapy. Usage: gen_block.py OUT.json

Each case has "in" and, when the stage answers, "icmp" (the admin-prohibited error from the port
address 10.0.0.1 / 2001:db8::1) and/or "rst" (the TCP reset). Replies keep the received MAC
addresses (the router rewrites them) and carry no VLAN tag.
"""
import json
import logging
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import ICMP, IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import ICMPv6DestUnreach, IPv6, IPv6ExtHdrDestOpt  # noqa: E402
from scapy.layers.l2 import Dot1Q, Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

E = dict(src="02:00:00:00:00:99", dst="02:00:00:00:00:01")
PORT4, PORT6 = "10.0.0.1", "2001:db8::1"
C4, S4 = "10.0.0.2", "10.9.0.1"
C6, S6 = "2001:db8::2", "2001:db8:9::1"


def h(p):
    return bytes(p).hex()


def icmp4_reply(ip):
    """ICMP 3/13 about `ip` (a scapy IP packet), quoting at most 548 bytes."""
    q = bytes(ip)[:548]
    return Ether(**E) / IP(src=PORT4, dst=ip.src, tos=0xC0, id=0, flags=0, ttl=64) / ICMP(type=3, code=13) / Raw(q)


def icmp6_reply(ip):
    q = bytes(ip)[:1232]
    return Ether(**E) / IPv6(src=PORT6, dst=ip.src, hlim=64) / ICMPv6DestUnreach(code=1) / Raw(q)


def rst_reply(ip, tcp, payload_len):
    """RFC 9293 reset for a segment, from its destination."""
    flags = str(tcp.flags)
    if "A" in flags:
        t = TCP(sport=tcp.dport, dport=tcp.sport, seq=tcp.ack, ack=0, flags="R", window=0)
    else:
        ack = tcp.seq + payload_len + ("S" in flags) + ("F" in flags)
        t = TCP(sport=tcp.dport, dport=tcp.sport, seq=0, ack=ack & 0xFFFFFFFF, flags="RA", window=0)
    if ip.version == 4:
        l3 = IP(src=ip.dst, dst=ip.src, id=0, flags="DF", ttl=64)
    else:
        l3 = IPv6(src=ip.dst, dst=ip.src, hlim=64)
    return Ether(**E) / l3 / t


cases = {}


def case(name, l2, ip, icmp=True, rst=None):
    c = {"in": h(l2 / ip)}
    if icmp:
        c["icmp"] = h(icmp4_reply(ip) if ip.version == 4 else icmp6_reply(ip))
    if rst is not None:
        c["rst"] = h(rst)
    cases[name] = c


plain, tagged = Ether(**E), Ether(**E) / Dot1Q(vlan=7)
udp4 = IP(src=C4, dst=S4, ttl=63, id=0x4242) / UDP(sport=5000, dport=443) / (b"q" * 30)
udp6 = IPv6(src=C6, dst=S6, hlim=63) / UDP(sport=5000, dport=443) / (b"q" * 30)
case("udp4", plain, udp4)
case("udp4_big", plain, IP(src=C4, dst=S4, ttl=63) / UDP(sport=5000, dport=443) / (b"z" * 1000))
case("udp4_options", plain, IP(src=C4, dst=S4, ttl=63, options=b"\x01\x01\x01\x00") / UDP(sport=5000, dport=443) / b"o")
case("udp6", plain, udp6)
case("udp6_big", plain, IPv6(src=C6, dst=S6) / UDP(sport=5000, dport=443) / (b"z" * 1400))
case("udp6_ext", plain, IPv6(src=C6, dst=S6, hlim=63) / IPv6ExtHdrDestOpt() / UDP(sport=5000, dport=443) / b"e")
case("vlan_udp4", tagged, udp4)
case("vlan_udp6", tagged, udp6)
case("echo4", plain, IP(src=C4, dst=S4) / ICMP(type=8, id=1, seq=1) / b"ping")

for name, l2, ip, payload in (
        ("syn4", plain, IP(src=C4, dst=S4, ttl=63) / TCP(sport=40000, dport=80, seq=1000, flags="S",
                                                        options=[("MSS", 1460), ("SAckOK", b"")]), b""),
        ("ack4", plain, IP(src=C4, dst=S4, ttl=63, options=b"\x01\x01\x01\x00") /
         TCP(sport=40000, dport=80, seq=5000, ack=7000, flags="PA"), b"d" * 100),
        ("fin4", plain, IP(src=C4, dst=S4) / TCP(sport=40000, dport=80, seq=0xFFFFFFF8, flags="F"), b"f" * 10),
        ("syn6", plain, IPv6(src=C6, dst=S6, hlim=63) / IPv6ExtHdrDestOpt() /
         TCP(sport=40000, dport=443, seq=77, flags="S"), b""),
        ("ack6", plain, IPv6(src=C6, dst=S6) / TCP(sport=40000, dport=443, seq=1, ack=0x80000000, flags="A"), b"x" * 3),
        ("vlan_syn4", tagged, IP(src=C4, dst=S4) / TCP(sport=40000, dport=80, seq=1000, flags="S"), b""),
):
    full = ip / Raw(payload) if payload else ip
    case(name, l2, full, icmp=True, rst=rst_reply(ip, ip[TCP], len(payload)))

# A first fragment of a TCP segment: no whole segment to reset, so ICMP answers it.
case("tcp_first_fragment", plain, IP(src=C4, dst=S4, flags="MF") / TCP(sport=40000, dport=80, flags="S"))

# Never answered.
case("icmp_error4", plain, IP(src=C4, dst=S4) / ICMP(type=3, code=1) / bytes(udp4)[:28], icmp=False)
case("icmp_error6", plain, IPv6(src=C6, dst=S6) / ICMPv6DestUnreach(code=3) / bytes(udp6)[:48], icmp=False)
case("rst4", plain, IP(src=C4, dst=S4) / TCP(sport=40000, dport=80, seq=5, flags="R"), icmp=False)
case("rst6", plain, IPv6(src=C6, dst=S6) / TCP(sport=40000, dport=80, seq=5, ack=9, flags="RA"), icmp=False)
# Refused by RFC 1812 / 4443 rules or the reset rules.
case("later_fragment4", plain, IP(src=C4, dst=S4, frag=100, proto=17) / (b"y" * 16), icmp=False)
case("zero_source4", plain, IP(src="0.0.0.0", dst=S4) / UDP(sport=68, dport=67), icmp=False)
case("zero_source_syn4", plain, IP(src="0.0.0.0", dst=S4) / TCP(sport=40000, dport=80, flags="S"), icmp=False)
case("l2_multicast4", Ether(src=E["src"], dst="01:00:5e:00:00:01"), udp4, icmp=False)
case("l2_multicast_syn6", Ether(src=E["src"], dst="33:33:00:00:00:01"),
     IPv6(src=C6, dst=S6) / TCP(sport=40000, dport=80, flags="S"), icmp=False)
cases["tcp_other4"] = {"in": h(plain / IP(src=C4, dst=S4) / TCP(sport=40000, dport=22, flags="S"))}

json.dump(cases, open(sys.argv[1], "w"), indent=1)

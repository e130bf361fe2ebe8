#!/usr/bin/python3
"""Frames for nat44_test.cc, built with scapy. Usage: gen_nat44.py OUT.json

Inside host C (10.0.0.2) behind the NAT, pool address P (198.51.100.1), remote S (203.0.113.5),
a router beyond the NAT R (192.0.2.9). Each case: "in" as it reaches the stage, "out" as the
stage must leave it, every checksum computed by scapy from scratch.
"""
import json
import logging
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

E_IN = dict(src="02:00:00:00:00:99", dst="02:00:00:00:00:01")   # inside host -> router
E_OUT = dict(src="02:00:00:00:01:99", dst="02:00:00:00:01:01")  # outside -> router
C, P, S, R = "10.0.0.2", "198.51.100.1", "203.0.113.5", "192.0.2.9"

cases = {}


def h(p):
    return bytes(p).hex()


def case(name, eth, before, after):
    cases[name] = {"in": h(Ether(**eth) / before), "out": h(Ether(**eth) / after)}


# Outbound: the source becomes P, ports and identifiers kept (port_assignment: preserve).
case("udp_out", E_IN, IP(src=C, dst=S, ttl=63, id=1) / UDP(sport=5000, dport=53) / b"query",
     IP(src=P, dst=S, ttl=63, id=1) / UDP(sport=5000, dport=53) / b"query")
case("udp_in", E_OUT, IP(src=S, dst=P, ttl=60, id=2) / UDP(sport=53, dport=5000) / b"answer",
     IP(src=S, dst=C, ttl=60, id=2) / UDP(sport=53, dport=5000) / b"answer")
case("udp0_out", E_IN, IP(src=C, dst=S, id=3) / UDP(sport=5001, dport=53, chksum=0) / b"nocsum",
     IP(src=P, dst=S, id=3) / UDP(sport=5001, dport=53, chksum=0) / b"nocsum")
case("tcp_out", E_IN, IP(src=C, dst=S, id=4) / TCP(sport=40000, dport=80, seq=100, flags="S",
                                                    options=[("MSS", 1460)]),
     IP(src=P, dst=S, id=4) / TCP(sport=40000, dport=80, seq=100, flags="S", options=[("MSS", 1460)]))
case("tcp_in", E_OUT, IP(src=S, dst=P, id=5) / TCP(sport=80, dport=40000, seq=7, ack=101, flags="SA"),
     IP(src=S, dst=C, id=5) / TCP(sport=80, dport=40000, seq=7, ack=101, flags="SA"))
case("echo_out", E_IN, IP(src=C, dst=S, id=6) / ICMP(type=8, id=0x1234, seq=1) / b"ping",
     IP(src=P, dst=S, id=6) / ICMP(type=8, id=0x1234, seq=1) / b"ping")
case("echo_in", E_OUT, IP(src=S, dst=P, id=7) / ICMP(type=0, id=0x1234, seq=1) / b"ping",
     IP(src=S, dst=C, id=7) / ICMP(type=0, id=0x1234, seq=1) / b"ping")


def quote(src, sport, dst, dport, ttl=1, payload=b"probe"):
    return bytes(IP(src=src, dst=dst, ttl=ttl, id=0x77) / UDP(sport=sport, dport=dport) / payload)


# RFC 5508: errors from beyond the NAT about what it sent; the quoted source goes back inside.
# Traceroute: a hop's time exceeded about the UDP probe (TTL 1 when it expired).
case("ttl_exceeded_in", E_OUT,
     IP(src=R, dst=P, id=8) / ICMP(type=11, code=0) / quote(P, 5000, S, 33434),
     IP(src=R, dst=C, id=8) / ICMP(type=11, code=0) / quote(C, 5000, S, 33434))
case("port_unreach_in", E_OUT,
     IP(src=S, dst=P, id=9) / ICMP(type=3, code=3) / quote(P, 5000, S, 53, ttl=60),
     IP(src=S, dst=C, id=9) / ICMP(type=3, code=3) / quote(C, 5000, S, 53, ttl=60))
echo_q = IP(src=P, dst=S, ttl=1, id=0x78) / ICMP(type=8, id=0x1234, seq=3) / b"ping"
echo_q_in = IP(src=C, dst=S, ttl=1, id=0x78) / ICMP(type=8, id=0x1234, seq=3) / b"ping"
case("echo_ttl_exceeded_in", E_OUT, IP(src=R, dst=P, id=10) / ICMP(type=11) / bytes(echo_q),
     IP(src=R, dst=C, id=10) / ICMP(type=11) / bytes(echo_q_in))
# An inside host's error about a packet from outside: the quoted destination goes out as P.
case("port_unreach_out", E_IN,
     IP(src=C, dst=S, id=11) / ICMP(type=3, code=3) / quote(S, 53, C, 5000, ttl=60),
     IP(src=P, dst=S, id=11) / ICMP(type=3, code=3) / quote(S, 53, P, 5000, ttl=60))

# Fragments: the first carries the UDP header (its checksum covers the whole datagram), the
# rest follow it by (src, dst, protocol, ID).
big_out = IP(src=C, dst=S, id=0x4321) / UDP(sport=5000, dport=53) / (b"f" * 120)
big_out_t = IP(src=P, dst=S, id=0x4321) / UDP(sport=5000, dport=53) / (b"f" * 120)
for k, (a, b) in enumerate(zip(fragment(big_out, 64), fragment(big_out_t, 64))):
    case(f"frag_out{k}", E_IN, a, b)
big_in = IP(src=S, dst=P, id=0x5678) / UDP(sport=53, dport=5000) / (b"g" * 120)
big_in_t = IP(src=S, dst=C, id=0x5678) / UDP(sport=53, dport=5000) / (b"g" * 120)
for k, (a, b) in enumerate(zip(fragment(big_in, 64), fragment(big_in_t, 64))):
    case(f"frag_in{k}", E_OUT, a, b)
cases["frag_count"] = {"n": len(fragment(big_out, 64))}

# one_to_one: 10.0.0.0/24 <-> 198.51.100.0/24, ports untouched, every protocol.
case("one_out", E_IN, IP(src="10.0.0.7", dst=S, id=12) / UDP(sport=7, dport=9) / b"x",
     IP(src="198.51.100.7", dst=S, id=12) / UDP(sport=7, dport=9) / b"x")
case("one_in", E_OUT, IP(src=S, dst="198.51.100.7", id=13) / TCP(sport=9, dport=7, flags="S"),
     IP(src=S, dst="10.0.0.7", id=13) / TCP(sport=9, dport=7, flags="S"))
case("one_gre_out", E_IN, IP(src="10.0.0.7", dst=S, id=14, proto=47) / b"\x00\x00\x08\x00gre",
     IP(src="198.51.100.7", dst=S, id=14, proto=47) / b"\x00\x00\x08\x00gre")
case("one_error_in", E_OUT,
     IP(src=R, dst="198.51.100.7", id=15) / ICMP(type=11) / quote("198.51.100.7", 7, S, 9),
     IP(src=R, dst="10.0.0.7", id=15) / ICMP(type=11) / quote("10.0.0.7", 7, S, 9))

# Static mapping 198.51.100.1:8080 -> 10.0.0.2:80.
case("static_in", E_OUT, IP(src=S, dst=P, id=16) / TCP(sport=33000, dport=8080, flags="S"),
     IP(src=S, dst=C, id=16) / TCP(sport=33000, dport=80, flags="S"))
case("static_out", E_IN, IP(src=C, dst=S, id=17) / TCP(sport=80, dport=33000, flags="SA"),
     IP(src=P, dst=S, id=17) / TCP(sport=8080, dport=33000, flags="SA"))

json.dump(cases, open(sys.argv[1], "w"), indent=1)

#!/usr/bin/python3
"""Reference frames for tests/net/icmp_test.cc, built independently with scapy.

Usage: gen_icmp_refs.py OUTPUT.json

Each case gives the input frame (hex, with its Ethernet header), the call to make
(kind ip4_error / ip6_error / ip4_echo / ip6_echo with l2_len, type, code, rest, src),
the Refuse value expected, and for accepted cases the expected IP packet (hex, from the IP
header on: the caller rewrites L2). Written at build time by a meson custom_target.
"""
import json
import logging
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR  # noqa: E402
from scapy.layers.inet6 import (  # noqa: E402
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6PacketTooBig,
    ICMPv6ParamProblem,
    ICMPv6TimeExceeded,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrHopByHop,
)
from scapy.layers.l2 import Dot1Q, Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

ROUTER_MAC = "02:00:00:00:00:01"
HOST_MAC = "02:00:00:00:00:02"
R4 = "10.0.0.1"
H4 = "10.0.0.2"
FAR4 = "192.0.2.1"
R6 = "2001:db8:1::1"
H6 = "2001:db8:1::2"
FAR6 = "2001:db8:2::1"

IP4_MAX = 576
IP6_MAX = 1280

cases = []


def eth(dst=ROUTER_MAC):
    return Ether(dst=dst, src=HOST_MAC)


def payload(n):
    return Raw(bytes((i * 7 + 3) & 0xFF for i in range(n)))


def quote4(ip_bytes):
    return ip_bytes[: IP4_MAX - 28]


def quote6(ip_bytes):
    return ip_bytes[: IP6_MAX - 48]


def add(name, kind, frame, l2_len, refuse="none", expected=b"", type_=0, code=0, rest=0,
        src=""):
    cases.append({
        "name": name,
        "kind": kind,
        "l2_len": l2_len,
        "type": type_,
        "code": code,
        "rest": rest,
        "src": src,
        "refuse": refuse,
        "input": bytes(frame).hex(),
        "expected": bytes(expected).hex(),
    })


def ip4_error(name, ip_pkt, type_, code, rest=0, l2=None, pad=0):
    """An accepted IPv4 error: the expected packet is built from scratch by scapy."""
    l2 = l2 if l2 is not None else eth()
    frame = bytes(l2 / ip_pkt) + b"\x00" * pad
    orig = bytes(ip_pkt)
    icmp = ICMP(type=type_, code=code)
    if type_ == 3 and code == 4:
        icmp = ICMP(type=type_, code=code, nexthopmtu=rest & 0xFFFF, unused=rest >> 16)
    elif rest:
        raise ValueError("rest only for frag-needed here")
    exp = IP(src=R4, dst=ip_pkt[IP].src, ttl=64, tos=0xC0, id=0, flags=0, proto=1) / icmp / Raw(
        quote4(orig))
    add(name, "ip4_error", frame, len(l2), expected=exp, type_=type_, code=code, rest=rest, src=R4)


def ip4_refused(name, ip_pkt, refuse, type_=11, code=0, l2=None):
    l2 = l2 if l2 is not None else eth()
    add(name, "ip4_error", l2 / ip_pkt, len(l2), refuse=refuse, type_=type_, code=code, src=R4)


def ip6_error(name, ip_pkt, type_, code, rest=0, l2=None):
    l2 = l2 if l2 is not None else eth()
    orig = bytes(ip_pkt)
    if type_ == 1:
        icmp = ICMPv6DestUnreach(code=code)
    elif type_ == 2:
        icmp = ICMPv6PacketTooBig(code=code, mtu=rest)
    elif type_ == 3:
        icmp = ICMPv6TimeExceeded(code=code)
    elif type_ == 4:
        icmp = ICMPv6ParamProblem(code=code, ptr=rest)
    else:
        raise ValueError(type_)
    exp = IPv6(src=R6, dst=ip_pkt[IPv6].src, hlim=64, tc=0, fl=0, nh=58) / icmp / Raw(
        quote6(orig))
    add(name, "ip6_error", l2 / ip_pkt, len(l2), expected=exp, type_=type_, code=code, rest=rest,
        src=R6)


def ip6_refused(name, ip_pkt, refuse, type_=3, code=0, rest=0, l2=None):
    l2 = l2 if l2 is not None else eth()
    add(name, "ip6_error", l2 / ip_pkt, len(l2), refuse=refuse, type_=type_, code=code, rest=rest,
        src=R6)


def udp4(dst=FAR4, src=H4, n=20, **kw):
    return IP(src=src, dst=dst, ttl=1, id=0x4242, **kw) / UDP(sport=1234, dport=33434) / payload(n)


def udp6(dst=FAR6, src=H6, n=20):
    return IPv6(src=src, dst=dst, hlim=1) / UDP(sport=1234, dport=33434) / payload(n)


# ---- IPv4 errors -------------------------------------------------------------------------------
ip4_error("v4_time_exceeded_small_udp", udp4(), 11, 0)
tcp1400 = IP(src=H4, dst=FAR4, ttl=1, flags="DF", id=7) / TCP(sport=40000, dport=80, flags="PA") \
    / payload(1400 - 40)
assert len(tcp1400) == 1400
ip4_error("v4_time_exceeded_tcp1400_quote_cut_to_576", tcp1400, 11, 0)
ip4_error("v4_frag_needed_mtu_1400", IP(src=H4, dst=FAR4, ttl=64, flags="DF") / UDP() /
          payload(1500 - 28), 3, 4, rest=1400)
ip4_error("v4_net_unreachable", udp4(), 3, 0)
ip4_error("v4_host_unreachable", udp4(n=100), 3, 1)
ip4_error("v4_padded_frame_quote_stops_at_total_length", udp4(n=2), 11, 0, pad=16)
ip4_error("v4_vlan_tagged", udp4(), 11, 0, l2=eth() / Dot1Q(vlan=100))
ip4_error("v4_qinq_tagged", udp4(), 3, 1, l2=Ether(dst=ROUTER_MAC, src=HOST_MAC, type=0x88A8) /
          Dot1Q(vlan=10) / Dot1Q(vlan=20))
ip4_error("v4_with_ip_options_quoted", IP(src=H4, dst=FAR4, ttl=1, options=[IPOption_RR()]) /
          UDP() / payload(10), 11, 0)
ip4_error("v4_time_exceeded_for_echo_request", IP(src=H4, dst=FAR4, ttl=1) /
          ICMP(type=8, id=1, seq=1) / payload(56), 11, 0)
ip4_error("v4_time_exceeded_exactly_576", udp4(n=548 - 28), 11, 0)
ip4_error("v4_time_exceeded_577", udp4(n=549 - 28), 11, 0)

# ---- IPv4 refusals (RFC 1812 4.3.2.7) ----------------------------------------------------------
ip4_refused("v4_refuse_about_dest_unreachable",
            IP(src=H4, dst=FAR4, ttl=1) / ICMP(type=3, code=1) / bytes(udp4())[:28],
            "about_icmp_error")
ip4_refused("v4_refuse_about_time_exceeded",
            IP(src=H4, dst=FAR4, ttl=1) / ICMP(type=11, code=0) / bytes(udp4())[:28],
            "about_icmp_error", type_=3, code=0)
ip4_refused("v4_refuse_about_param_problem",
            IP(src=H4, dst=FAR4, ttl=1) / ICMP(type=12, code=0) / bytes(udp4())[:28],
            "about_icmp_error")
ip4_refused("v4_refuse_about_redirect",
            IP(src=H4, dst=FAR4, ttl=1) / ICMP(type=5, code=1, gw=R4) / bytes(udp4())[:28],
            "about_icmp_error")
ip4_refused("v4_refuse_not_first_fragment", IP(src=H4, dst=FAR4, ttl=1, frag=100) / payload(40),
            "not_first_fragment")
ip4_refused("v4_refuse_not_first_fragment_last", IP(src=H4, dst=FAR4, ttl=1, frag=1) /
            payload(8), "not_first_fragment")
ip4_refused("v4_refuse_multicast_dest", udp4(dst="224.0.0.5"), "multicast_dest")
ip4_refused("v4_refuse_multicast_dest_239", udp4(dst="239.255.255.250"), "multicast_dest", 3, 1)
ip4_refused("v4_refuse_broadcast_dest", udp4(dst="255.255.255.255"), "multicast_dest")
ip4_refused("v4_refuse_link_layer_broadcast", udp4(), "multicast_dest",
            l2=eth(dst="ff:ff:ff:ff:ff:ff"))
ip4_refused("v4_refuse_link_layer_multicast", udp4(), "multicast_dest",
            l2=eth(dst="01:00:5e:00:00:05"))
for nm, s in [("multicast", "224.0.0.1"), ("broadcast", "255.255.255.255"),
              ("unspecified", "0.0.0.0"), ("this_network", "0.1.2.3"),
              ("loopback", "127.0.0.1"), ("class_e", "240.0.0.1")]:
    ip4_refused("v4_refuse_source_" + nm, udp4(src=s), "bad_source")

# ---- IPv6 errors -------------------------------------------------------------------------------
ip6_error("v6_time_exceeded_small_udp", udp6(), 3, 0)
big6 = IPv6(src=H6, dst=FAR6, hlim=64) / TCP(sport=40000, dport=443) / payload(1500 - 60)
assert len(big6) == 1500
ip6_error("v6_packet_too_big_mtu_1400", big6, 2, 0, rest=1400)
ip6_error("v6_no_route", IPv6(src=H6, dst=FAR6) / TCP(dport=22, flags="S"), 1, 0)
ip6_error("v6_time_exceeded_1500_cut_to_1280", IPv6(src=H6, dst=FAR6, hlim=1) / UDP() /
          payload(1500 - 48), 3, 0)
ip6_error("v6_time_exceeded_exactly_1280", udp6(n=1232 - 48), 3, 0)
ip6_error("v6_address_unreachable", udp6(), 1, 3)
ip6_error("v6_packet_too_big_multicast_dest_allowed",
          IPv6(src=H6, dst="ff0e::1234") / UDP() / payload(1400), 2, 0, rest=1280)
ip6_error("v6_param_problem_code2_multicast_dest_allowed",
          IPv6(src=H6, dst="ff02::16") / IPv6ExtHdrHopByHop() / payload(30), 4, 2, rest=42)
ip6_error("v6_param_problem_code1", udp6(), 4, 1, rest=40)
ip6_error("v6_time_exceeded_for_echo_request", IPv6(src=H6, dst=FAR6, hlim=1) /
          ICMPv6EchoRequest(id=1, seq=2, data=b"ping"), 3, 0)
ip6_error("v6_time_exceeded_with_ext_headers", IPv6(src=H6, dst=FAR6, hlim=1) /
          IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / UDP() / payload(30), 3, 0)
ip6_error("v6_vlan_tagged", udp6(), 3, 0, l2=eth() / Dot1Q(vlan=7))

# ---- IPv6 refusals (RFC 4443 2.4 (e)) ----------------------------------------------------------
ip6_refused("v6_refuse_about_dest_unreachable",
            IPv6(src=H6, dst=FAR6, hlim=1) / ICMPv6DestUnreach() / bytes(udp6())[:48],
            "about_icmp_error")
ip6_refused("v6_refuse_about_packet_too_big",
            IPv6(src=H6, dst=FAR6, hlim=1) / ICMPv6PacketTooBig(mtu=1280) / bytes(udp6())[:48],
            "about_icmp_error", type_=1, code=0)
ip6_refused("v6_refuse_about_error_behind_ext_header",
            IPv6(src=H6, dst=FAR6, hlim=1) / IPv6ExtHdrDestOpt() / ICMPv6TimeExceeded() /
            bytes(udp6())[:48], "about_icmp_error")
ip6_refused("v6_refuse_multicast_dest", udp6(dst="ff02::1"), "multicast_dest")
ip6_refused("v6_refuse_multicast_dest_no_route", udp6(dst="ff0e::1"), "multicast_dest", 1, 0)
ip6_refused("v6_refuse_param_problem_code0_multicast_dest", udp6(dst="ff02::1"), "multicast_dest",
            4, 0, rest=6)
ip6_refused("v6_refuse_link_layer_multicast", udp6(), "multicast_dest",
            l2=eth(dst="33:33:00:00:00:01"))
for nm, s in [("unspecified", "::"), ("multicast", "ff02::1"), ("loopback", "::1")]:
    ip6_refused("v6_refuse_source_" + nm, udp6(src=s), "bad_source")

# ---- echo replies --------------------------------------------------------------------------------
for i, (ttl, n) in enumerate([(63, 56), (1, 0), (255, 1472)]):
    req = IP(src=H4, dst=R4, ttl=ttl, id=0x1000 + i, flags="DF") / \
        ICMP(type=8, id=0xBEEF, seq=i) / payload(n)
    rep = IP(src=R4, dst=H4, ttl=64, id=0x1000 + i, flags="DF") / \
        ICMP(type=0, id=0xBEEF, seq=i) / payload(n)
    add(f"v4_echo_reply_{i}", "ip4_echo", eth() / req, 14, expected=rep)
req = IP(src=H4, dst=R4, ttl=64, options=[IPOption_RR()]) / ICMP(type=8, id=9, seq=9) / payload(8)
rep = IP(src=R4, dst=H4, ttl=64, options=[IPOption_RR()]) / ICMP(type=0, id=9, seq=9) / payload(8)
add("v4_echo_reply_with_options", "ip4_echo", eth() / req, 14, expected=rep)
# Finding F5: the reply's message is all zero; only 0xffff verifies (scapy writes it).
req = IP(src=H4, dst=R4, ttl=64) / ICMP(type=8, id=0, seq=0)
rep = IP(src=R4, dst=H4, ttl=64) / ICMP(type=0, id=0, seq=0)
add("v4_echo_reply_all_zero_message", "ip4_echo", eth() / req, 14, expected=rep)
for i, (hlim, n) in enumerate([(63, 56), (1, 0), (255, 1452)]):
    req = IPv6(src=H6, dst=R6, hlim=hlim) / ICMPv6EchoRequest(id=0xBEEF, seq=i, data=payload(n).load)
    rep = IPv6(src=R6, dst=H6, hlim=64) / ICMPv6EchoReply(id=0xBEEF, seq=i, data=payload(n).load)
    add(f"v6_echo_reply_{i}", "ip6_echo", eth() / req, 14, expected=rep)
req = IPv6(src=H6, dst=R6, hlim=5) / IPv6ExtHdrDestOpt() / ICMPv6EchoRequest(id=3, seq=4)
rep = IPv6(src=R6, dst=H6, hlim=64) / IPv6ExtHdrDestOpt() / ICMPv6EchoReply(id=3, seq=4)
add("v6_echo_reply_behind_ext_header", "ip6_echo", eth() / req, 14, expected=rep)

with open(sys.argv[1], "w") as f:
    json.dump(cases, f, indent=1)
    f.write("\n")

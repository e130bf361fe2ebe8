#!/usr/bin/python3
"""Frames for the router tests (tests/router/*_test.cc), built independently with scapy.

Usage: gen_router_frames.py OUTPUT.json

Run at build time by a meson custom_target. The output maps a case name to an object whose
fields are hex frames ("in": what is fed to the router, "out": what it must send, and a few
named extras) and small integers ("port": the router-local egress port index).

The addresses below must match the lab configuration in tests/router/harness.cc (lab_yaml):

  router r1, ports (index, MAC, IPv4, IPv6):
    p0  02:00:00:00:01:00  10.0.0.1/24  2001:db8::1/64
    p1  02:00:00:00:01:01  10.0.1.1/24  2001:db8:1::1/64
    p2  02:00:00:00:01:02  10.0.2.1/24  2001:db8:2::1/64
  static neighbours: H0 (p0), H1 (p1), GW (p2), C (p2, behind a port-only route)
  routes: default via GW (p2); 192.168.0.0/16 via H1; 192.168.1.0/24 via H0;
          192.168.1.128/25 port p2; 2001:db8:100::/48 via H1; 2001:db8:100:1::/64 via H0;
          2001:db8:100:2::/64 port p2
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
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    ICMPv6PacketTooBig,
    ICMPv6TimeExceeded,
    IPv6,
    IPv6ExtHdrDestOpt,
)
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether  # noqa: E402
from scapy.packet import Padding, Raw  # noqa: E402
from scapy.utils import checksum  # noqa: E402
from scapy.utils6 import in6_getnsma, in6_getnsmac, in6_mactoifaceid  # noqa: E402
from scapy.pton_ntop import inet_pton  # noqa: E402
import socket  # noqa: E402

P_MAC = ["02:00:00:00:01:00", "02:00:00:00:01:01", "02:00:00:00:01:02"]
P4 = ["10.0.0.1", "10.0.1.1", "10.0.2.1"]
P6 = ["2001:db8::1", "2001:db8:1::1", "2001:db8:2::1"]
P0_LL = "fe80::" + in6_mactoifaceid(P_MAC[0])

H0_MAC, H0_4, H0_6, H0_LL = "02:00:00:00:a0:02", "10.0.0.2", "2001:db8::2", "fe80::2"
H1_MAC, H1_4, H1_6 = "02:00:00:00:a1:02", "10.0.1.2", "2001:db8:1::2"
GW_MAC, GW_4, GW_6 = "02:00:00:00:a2:fe", "10.0.2.254", "2001:db8:2::fe"
C_MAC, C_4, C_6 = "02:00:00:00:a2:c8", "192.168.1.200", "2001:db8:100:2::200"
# A host on p0 that resolves the router (learnt through its ARP request / NS).
R7_MAC, R7_4, R7_6, R7_LL = "02:00:00:00:a0:07", "10.0.0.7", "2001:db8::7", "fe80::7"
# An unresolved host on p1.
U_MAC, U_4, U_6 = "02:00:00:00:a1:09", "10.0.1.9", "2001:db8:1::9"
BCAST = "ff:ff:ff:ff:ff:ff"

IP4_ERR_QUOTE = 576 - 28
IP6_ERR_QUOTE = 1280 - 48

out = {}


def add(name, **fields):
    assert name not in out, name
    entry = {}
    for k, v in fields.items():
        entry[k] = v if isinstance(v, int) else bytes(v).hex()
    out[name] = entry


def payload(n, seed=0):
    return Raw(bytes((i * 7 + 3 + seed) & 0xFF for i in range(n)))


def host_mac(in_port):
    return [H0_MAC, H1_MAC, GW_MAC][in_port]


def forwarded4(ip_pkt):
    """The IPv4 packet as the router must forward it: TTL - 1, header checksum recomputed."""
    raw = bytes(ip_pkt)
    o = IP(raw)
    o.ttl -= 1
    del o.chksum
    res = bytes(o)
    # Sanity: only TTL and checksum differ, and the checksum is the full recomputation.
    ihl = (raw[0] & 0xF) * 4
    assert len(res) == len(raw) and res[:8] == raw[:8] and res[9:10] == raw[9:10]
    assert res[12:] == raw[12:]
    hdr = bytearray(res[:ihl])
    hdr[10:12] = b"\0\0"
    assert checksum(bytes(hdr)) == int.from_bytes(res[10:12], "big")
    return res


def forwarded6(ip_pkt):
    raw = bytearray(bytes(ip_pkt))
    raw[7] -= 1
    o = IPv6(bytes(ip_pkt))
    o.hlim -= 1
    assert bytes(o) == bytes(raw)
    return bytes(o)


def fwd4(name, ip_pkt, in_port, out_port, nh_mac, src_mac=None, pad=b""):
    src_mac = src_mac or host_mac(in_port)
    frame = Ether(dst=P_MAC[in_port], src=src_mac) / ip_pkt
    if pad:
        frame = frame / Padding(pad)
    expected = Ether(dst=nh_mac, src=P_MAC[out_port], type=0x0800) / Raw(forwarded4(ip_pkt))
    add(name, **{"in": frame, "out": expected, "port": out_port})


def fwd6(name, ip_pkt, in_port, out_port, nh_mac, src_mac=None):
    src_mac = src_mac or host_mac(in_port)
    frame = Ether(dst=P_MAC[in_port], src=src_mac) / ip_pkt
    expected = Ether(dst=nh_mac, src=P_MAC[out_port], type=0x86DD) / Raw(forwarded6(ip_pkt))
    add(name, **{"in": frame, "out": expected, "port": out_port})


def udp4(src, dst, ttl=64, n=32, **kw):
    return IP(src=src, dst=dst, ttl=ttl, **kw) / UDP(sport=4321, dport=9) / payload(n)


def udp6(src, dst, hlim=64, n=32, **kw):
    return IPv6(src=src, dst=dst, hlim=hlim, **kw) / UDP(sport=4321, dport=9) / payload(n)


def icmp4_error(src, ip_orig_bytes, type_, code, mtu=None):
    dst = socket.inet_ntoa(ip_orig_bytes[12:16])
    if mtu is not None:
        icmp = ICMP(type=type_, code=code, nexthopmtu=mtu, unused=0)
    else:
        icmp = ICMP(type=type_, code=code)
    # lib/net/icmp.cc: TOS 0xc0 (CS6), ID 0, DF clear, TTL 64, no options.
    pkt = IP(src=src, dst=dst, ttl=64, tos=0xC0, id=0, flags=0) / icmp / \
        Raw(ip_orig_bytes[:IP4_ERR_QUOTE])
    raw = bytes(pkt)
    if mtu is not None:
        assert raw[20 + 4:20 + 8] == mtu.to_bytes(4, "big"), raw[20:28].hex()
    return raw


def icmp6_error(src, ip_orig_bytes, icmp):
    dst = socket.inet_ntop(socket.AF_INET6, ip_orig_bytes[8:24])
    return bytes(IPv6(src=src, dst=dst, hlim=64, tc=0, fl=0) / icmp /
                 Raw(ip_orig_bytes[:IP6_ERR_QUOTE]))


# ---- route lookup: packets from H1 on p1 to each kind of destination ---------------------------
route4 = [
    ("connected_p0", H0_4, 0, H0_MAC),
    ("gateway_lpm24_via_h0", "192.168.1.5", 0, H0_MAC),
    ("gateway_16_via_h1", "192.168.7.7", 1, H1_MAC),
    ("port_route_25", C_4, 2, C_MAC),
    ("default_low_half", "8.8.8.8", 2, GW_MAC),
    ("default_high_half", "203.0.113.9", 2, GW_MAC),
    ("connected_gw", GW_4, 2, GW_MAC),
]
for nm, dst, port, mac in route4:
    fwd4("route4_" + nm, udp4(H1_4, dst, id=0x100 + port), 1, port, mac)
route6 = [
    ("connected_p0", H0_6, 0, H0_MAC),
    ("gateway_64_via_h0", "2001:db8:100:1::5", 0, H0_MAC),
    ("gateway_48_via_h1", "2001:db8:100:7::5", 1, H1_MAC),
    ("port_route_64", C_6, 2, C_MAC),
    ("default_low_half", "2001:4860::8888", 2, GW_MAC),
    ("default_high_half", "fd00::1", 2, GW_MAC),
    ("connected_gw", GW_6, 2, GW_MAC),
]
for nm, dst, port, mac in route6:
    fwd6("route6_" + nm, udp6(H1_6, dst), 1, port, mac)

# ---- forwarding bytes: from H0 on p0 ---------------------------------------------------------
fwd4("fwd4_udp", IP(src=H0_4, dst=H1_4, ttl=64, id=0x1234) / UDP(sport=1234, dport=5678) /
     payload(100), 0, 1, H1_MAC)
fwd4("fwd4_tcp_df_tos", IP(src=H0_4, dst="8.8.4.4", ttl=128, id=7, flags="DF", tos=0xB8) /
     TCP(sport=40000, dport=443, flags="PA", seq=1000, ack=2000) / payload(500), 0, 2, GW_MAC)
fwd4("fwd4_ip_options", IP(src=H0_4, dst=H1_4, ttl=17, id=99, options=[IPOption_RR()]) /
     UDP(sport=1, dport=2) / payload(10), 0, 1, H1_MAC)
fwd4("fwd4_ttl2", udp4(H0_4, H1_4, ttl=2, id=5), 0, 1, H1_MAC)
# A short packet in a padded (60-byte) frame: the padding is not forwarded.
fwd4("fwd4_padded", IP(src=H0_4, dst=H1_4, ttl=64, id=3) / UDP(sport=7, dport=7), 0, 1, H1_MAC,
     pad=b"\xaa" * 18)
fwd4("fwd4_echo_request_far", IP(src=H0_4, dst="192.168.1.77", ttl=9, id=11) /
     ICMP(type=8, id=1, seq=1) / payload(56), 0, 0, H0_MAC)
fwd4("fwd4_max_frame", udp4(H0_4, H1_4, id=77, n=1500 - 28), 0, 1, H1_MAC)


# Checksum corner cases of the incremental update (RFC 1624): pick IP IDs so that the forwarded
# header's checksum is 0x0000, 0xffff-adjacent, and so that the input checksum is 0x0000.
def find_id(pred):
    for ident in range(65536):
        pkt = udp4(H0_4, H1_4, ttl=64, id=ident, n=8)
        ck_in = IP(bytes(pkt)).chksum
        ck_out = int.from_bytes(forwarded4(pkt)[10:12], "big")
        if pred(ck_in, ck_out):
            return pkt
    raise RuntimeError("no IP ID found")


fwd4("fwd4_cksum_out_0000", find_id(lambda i, o: o == 0x0000), 0, 1, H1_MAC)
fwd4("fwd4_cksum_in_0000", find_id(lambda i, o: i == 0x0000), 0, 1, H1_MAC)
fwd4("fwd4_cksum_out_fffe", find_id(lambda i, o: o == 0xFFFE), 0, 1, H1_MAC)
fwd4("fwd4_cksum_in_ff00", find_id(lambda i, o: i == 0xFF00), 0, 1, H1_MAC)
fwd4("fwd4_cksum_in_feff", find_id(lambda i, o: i == 0xFEFF), 0, 1, H1_MAC)

fwd6("fwd6_udp", IPv6(src=H0_6, dst=H1_6, hlim=64, tc=0x20, fl=0x12345) /
     UDP(sport=1234, dport=5678) / payload(100), 0, 1, H1_MAC)
fwd6("fwd6_echo_far", IPv6(src=H0_6, dst="2001:4860::1", hlim=3) /
     ICMPv6EchoRequest(id=5, seq=6, data=payload(40).load), 0, 2, GW_MAC)
fwd6("fwd6_ext_header", IPv6(src=H0_6, dst=H1_6, hlim=200) / IPv6ExtHdrDestOpt() /
     UDP(sport=3, dport=4) / payload(20), 0, 1, H1_MAC)
fwd6("fwd6_hlim2", udp6(H0_6, H1_6, hlim=2), 0, 1, H1_MAC)
fwd6("fwd6_max_frame", udp6(H0_6, H1_6, n=1500 - 48), 0, 1, H1_MAC)

# ---- input checks: frames into p0, each dropped for one reason -------------------------------
E0 = Ether(dst=P_MAC[0], src=H0_MAC)
good4 = udp4(H0_4, H1_4, id=1)
good6 = udp6(H0_6, H1_6)


def with_bytes(pkt, edits):
    b = bytearray(bytes(pkt))
    for off, val in edits.items():
        b[off] = val
    return bytes(b)


def fix_ip4_cksum(b):
    b = bytearray(b)
    ihl = (b[0] & 0xF) * 4
    b[10:12] = b"\0\0"
    b[10:12] = checksum(bytes(b[:ihl])).to_bytes(2, "big")
    return bytes(b)


bad = []  # (name, frame, drop counter)
bad.append(("eth_runt", bytes(E0 / good4)[:13], "eth/runt"))
bad.append(("eth_not_for_us", Ether(dst="02:00:00:00:99:99", src=H0_MAC) / good4,
            "eth/not_for_us"))
bad.append(("eth_vlan", E0 / Dot1Q(vlan=10) / good4, "eth/vlan"))
bad.append(("eth_qinq", Ether(dst=P_MAC[0], src=H0_MAC) / Dot1AD(vlan=5) / Dot1Q(vlan=10) /
            good4, "eth/vlan"))
bad.append(("eth_lldp", Ether(dst=P_MAC[0], src=H0_MAC, type=0x88CC) / payload(46),
            "eth/unsupported"))
bad.append(("eth_mpls", Ether(dst=P_MAC[0], src=H0_MAC, type=0x8847) / payload(46),
            "eth/unsupported"))
bad.append(("ip4_truncated", Ether(dst=P_MAC[0], src=H0_MAC, type=0x0800) /
            Raw(bytes(good4)[:19]), "ip4/truncated"))
bad.append(("ip4_bad_version_6", Ether(dst=P_MAC[0], src=H0_MAC, type=0x0800) /
            Raw(fix_ip4_cksum(with_bytes(good4, {0: 0x65}))), "ip4/bad_version"))
bad.append(("ip4_bad_version_0", Ether(dst=P_MAC[0], src=H0_MAC, type=0x0800) /
            Raw(with_bytes(good4, {0: 0x05})), "ip4/bad_version"))
bad.append(("ip4_ihl_4", Ether(dst=P_MAC[0], src=H0_MAC, type=0x0800) /
            Raw(with_bytes(good4, {0: 0x44})), "ip4/bad_header_length"))
short4 = IP(src=H0_4, dst=H1_4) / UDP()  # 28 bytes: IHL 15 (60 bytes) does not fit
bad.append(("ip4_ihl_beyond_data", Ether(dst=P_MAC[0], src=H0_MAC, type=0x0800) /
            Raw(with_bytes(short4, {0: 0x4F})), "ip4/bad_header_length"))
bad.append(("ip4_total_below_ihl", E0 / IP(src=H0_4, dst=H1_4, len=19) / UDP() / payload(8),
            "ip4/bad_total_length"))
bad.append(("ip4_total_beyond_frame", E0 / IP(src=H0_4, dst=H1_4, len=1000) / UDP() /
            payload(8), "ip4/bad_total_length"))
good4_ck = IP(bytes(good4)).chksum
bad.append(("ip4_bad_checksum", E0 / udp4(H0_4, H1_4, id=1, chksum=good4_ck ^ 0x0101),
            "ip4/bad_checksum"))
bad.append(("ip4_zero_checksum", E0 / udp4(H0_4, H1_4, id=1, chksum=0 if good4_ck else 1),
            "ip4/bad_checksum"))
for nm, s in [("loopback", "127.0.0.1"), ("this_net", "0.1.2.3"), ("zero", "0.0.0.0"),
              ("multicast", "224.0.0.5"), ("broadcast", "255.255.255.255"),
              ("class_e", "240.0.0.1")]:
    bad.append(("ip4_src_" + nm, E0 / udp4(s, H1_4), "ip4/bad_source"))
for nm, d, mac in [("224_0_0_9", "224.0.0.9", "01:00:5e:00:00:09"),
                   ("239_1_2_3", "239.1.2.3", "01:00:5e:01:02:03"),
                   ("broadcast", "255.255.255.255", BCAST),
                   ("mcast_to_our_mac", "224.0.0.9", P_MAC[0])]:
    bad.append(("ip4_dst_" + nm, Ether(dst=mac, src=H0_MAC) / udp4(H0_4, d), "ip4/multicast"))
bad.append(("ip6_truncated", Ether(dst=P_MAC[0], src=H0_MAC, type=0x86DD) /
            Raw(bytes(good6)[:39]), "ip6/truncated"))
bad.append(("ip6_bad_version", Ether(dst=P_MAC[0], src=H0_MAC, type=0x86DD) /
            Raw(with_bytes(good6, {0: 0x40})), "ip6/bad_version"))
bad.append(("ip6_payload_beyond_frame", E0 / IPv6(src=H0_6, dst=H1_6, plen=500) / UDP() /
            payload(8), "ip6/bad_payload_length"))
bad.append(("ip6_src_multicast", E0 / udp6("ff02::1", H1_6), "ip6/bad_source"))
bad.append(("ip6_src_loopback", E0 / udp6("::1", H1_6), "ip6/bad_source"))
bad.append(("ip6_src_unspecified", E0 / udp6("::", H1_6), "ip6/bad_source"))
bad.append(("ip6_src_link_local", E0 / udp6(H0_LL, H1_6), "ip6/link_local"))
bad.append(("ip6_dst_multicast", Ether(dst="33:33:00:00:00:01", src=H0_MAC) /
            udp6(H0_6, "ff0e::1"), "ip6/multicast"))
bad.append(("ip6_dst_link_local_not_ours", E0 / udp6(H0_6, "fe80::99"), "ip6/link_local"))
# Not neighbour discovery (hop limit is not 255): an ordinary multicast packet.
bad.append(("ip6_ns_hlim64", Ether(dst="33:33:ff:00:00:01", src=H0_MAC) /
            IPv6(src=H0_6, dst="ff02::1:ff00:1", hlim=64) / ICMPv6ND_NS(tgt=P6[0]) /
            ICMPv6NDOptSrcLLAddr(lladdr=H0_MAC), "ip6/multicast"))
bad.append(("local4_udp", E0 / udp4(H0_4, P4[0]), "local/unsupported"))
bad.append(("local4_echo_reply", E0 / IP(src=H0_4, dst=P4[0]) / ICMP(type=0, id=1, seq=1),
            "local/unsupported"))
bad.append(("local4_other_port_tcp", E0 / IP(src=H0_4, dst=P4[2]) / TCP(dport=179),
            "local/unsupported"))
bad.append(("local6_tcp", E0 / IPv6(src=H0_6, dst=P6[0]) / TCP(dport=179), "local/unsupported"))
bad.append(("local6_link_local_udp", E0 / udp6(H0_LL, P0_LL), "local/unsupported"))
for nm, frame, reason in bad:
    add("bad_" + nm, **{"in": frame})
    out["bad_" + nm]["drop"] = reason
# RFC 4291 2.5.3: a packet from ::1 is never forwarded (its own test: Ip6LoopbackSource).
add("lo6_src_loopback", **{"in": E0 / udp6("::1", H1_6)})
out["lo6_src_loopback"]["drop"] = "ip6/bad_source"
# RFC 4291 2.5.6: routers must not forward packets with a link-local source to other links.
add("lo6_src_link_local", **{"in": E0 / udp6(H0_LL, H1_6)})

# ---- ICMP errors -----------------------------------------------------------------------------


def icmp4_case(name, ip_pkt, in_port, type_, code, back_port, back_mac, mtu=None, src_mac=None):
    src_mac = src_mac or host_mac(in_port)
    frame = Ether(dst=P_MAC[in_port], src=src_mac) / ip_pkt
    err = icmp4_error(P4[in_port], bytes(ip_pkt), type_, code, mtu)
    add(name, **{"in": frame,
                 "out": Ether(dst=back_mac, src=P_MAC[back_port], type=0x0800) / Raw(err),
                 "port": back_port, "in_port": in_port})


def icmp6_case(name, ip_pkt, in_port, icmp, back_port, back_mac, src_mac=None):
    src_mac = src_mac or host_mac(in_port)
    frame = Ether(dst=P_MAC[in_port], src=src_mac) / ip_pkt
    err = icmp6_error(P6[in_port], bytes(ip_pkt), icmp)
    add(name, **{"in": frame,
                 "out": Ether(dst=back_mac, src=P_MAC[back_port], type=0x86DD) / Raw(err),
                 "port": back_port, "in_port": in_port})


icmp4_case("icmp4_ttl1", udp4(H0_4, H1_4, ttl=1, id=77), 0, 11, 0, 0, H0_MAC)
icmp4_case("icmp4_ttl0", udp4(H0_4, "8.8.8.8", ttl=0, id=78), 0, 11, 0, 0, H0_MAC)
# From a host behind the gateway H0: the error goes back through H0.
icmp4_case("icmp4_ttl1_far_source", udp4("192.168.1.5", H1_4, ttl=1, id=79), 0, 11, 0, 0,
           H0_MAC)
# Arriving on p1: the error comes from p1's address.
icmp4_case("icmp4_ttl1_on_p1", udp4(H1_4, H0_4, ttl=1, id=80), 1, 11, 0, 1, H1_MAC)
icmp4_case("icmp4_no_route", udp4(H0_4, "203.0.113.5", id=81), 0, 3, 0, 0, H0_MAC)
big4 = IP(src=H0_4, dst=H1_4, ttl=64, id=82, flags="DF") / UDP(sport=5, dport=6) / \
    payload(1400 - 28)
assert len(big4) == 1400
icmp4_case("icmp4_frag_needed", big4, 0, 3, 4, 0, H0_MAC, mtu=1280)
big4_nodf = IP(src=H0_4, dst=H1_4, ttl=64, id=83) / UDP(sport=5, dport=6) / payload(1400 - 28)
add("icmp4_mtu_no_df", **{"in": E0 / big4_nodf})
fwd4("icmp4_mtu_exact", IP(src=H0_4, dst=H1_4, ttl=64, id=84, flags="DF") / UDP() /
     payload(1280 - 28), 0, 1, H1_MAC)
# TTL 1 on an ICMP error: no error about an error (RFC 1812 4.3.2.7).
add("icmp4_ttl1_about_error", **{"in": E0 / IP(src=H0_4, dst=H1_4, ttl=1) /
                                 ICMP(type=3, code=1) / bytes(udp4(H1_4, H0_4))[:28]})
# No route back to the source (lab without a default route).
add("icmp4_ttl1_unroutable", **{"in": E0 / udp4("198.51.100.7", H1_4, ttl=1)})

icmp6_case("icmp6_hlim1", udp6(H0_6, H1_6, hlim=1), 0, ICMPv6TimeExceeded(code=0), 0, H0_MAC)
icmp6_case("icmp6_hlim0", udp6(H0_6, "2001:4860::1", hlim=0), 0, ICMPv6TimeExceeded(code=0), 0,
           H0_MAC)
icmp6_case("icmp6_hlim1_on_p1", udp6(H1_6, H0_6, hlim=1), 1, ICMPv6TimeExceeded(code=0), 1,
           H1_MAC)
icmp6_case("icmp6_no_route", udp6(H0_6, "2001:db8:ffff::1"), 0, ICMPv6DestUnreach(code=0), 0,
           H0_MAC)
big6 = IPv6(src=H0_6, dst=H1_6, hlim=64) / UDP(sport=5, dport=6) / payload(1400 - 48)
assert len(big6) == 1400
icmp6_case("icmp6_packet_too_big", big6, 0, ICMPv6PacketTooBig(mtu=1280), 0, H0_MAC)
fwd6("icmp6_mtu_exact", IPv6(src=H0_6, dst=H1_6, hlim=64) / UDP() / payload(1280 - 48), 0, 1,
     H1_MAC)
add("icmp6_hlim1_unroutable", **{"in": E0 / udp6("2001:db8:dead::1", H1_6, hlim=1)})

# ---- echo --------------------------------------------------------------------------------------


def echo4(name, dst, ttl, n, in_port=0, **kw):
    src = [H0_4, H1_4, GW_4][in_port]
    req = IP(src=src, dst=dst, ttl=ttl, id=4242, **kw) / ICMP(type=8, id=0x77, seq=3) / payload(n)
    rep = IP(src=dst, dst=src, ttl=64, id=4242, **kw) / ICMP(type=0, id=0x77, seq=3) / payload(n)
    add(name, **{"in": Ether(dst=P_MAC[in_port], src=host_mac(in_port)) / req,
                 "out": Ether(dst=host_mac(in_port), src=P_MAC[in_port]) / rep,
                 "port": in_port})


def echo6(name, src, dst, hlim, n, in_port=0, **kw):
    req = IPv6(src=src, dst=dst, hlim=hlim, **kw) / \
        ICMPv6EchoRequest(id=0x77, seq=3, data=payload(n).load)
    rep = IPv6(src=dst, dst=src, hlim=64, **kw) / \
        ICMPv6EchoReply(id=0x77, seq=3, data=payload(n).load)
    add(name, **{"in": Ether(dst=P_MAC[in_port], src=host_mac(in_port)) / req,
                 "out": Ether(dst=host_mac(in_port), src=P_MAC[in_port]) / rep,
                 "port": in_port})


echo4("echo4", P4[0], 30, 56)
echo4("echo4_other_port_addr", P4[2], 30, 56)
echo4("echo4_ttl1", P4[0], 1, 0)
echo4("echo4_df_tos", P4[1], 64, 1000, in_port=1, flags="DF", tos=0x10)
echo6("echo6", H0_6, P6[0], 30, 56)
echo6("echo6_other_port_addr", H0_6, P6[2], 30, 56)
echo6("echo6_hlim1", H0_6, P6[0], 1, 0)
echo6("echo6_tc_fl", H1_6, P6[1], 64, 100, in_port=1, tc=0x28, fl=0xBEEF)
echo6("echo6_link_local", H0_LL, P0_LL, 255, 32)

# ---- ARP ---------------------------------------------------------------------------------------
add("arp_request_for_us",
    **{"in": Ether(dst=BCAST, src=R7_MAC) / ARP(op=1, hwsrc=R7_MAC, psrc=R7_4,
                                                hwdst="00:00:00:00:00:00", pdst=P4[0]),
       "out": Ether(dst=R7_MAC, src=P_MAC[0]) / ARP(op=2, hwsrc=P_MAC[0], psrc=P4[0],
                                                    hwdst=R7_MAC, pdst=R7_4),
       "port": 0})
add("arp_request_other",
    **{"in": Ether(dst=BCAST, src="02:00:00:00:a0:08") /
       ARP(op=1, hwsrc="02:00:00:00:a0:08", psrc="10.0.0.8", pdst="10.0.0.99")})
# To R7 (on p0) from H1 on p1, once R7 is learnt.
fwd4("learnt4_to_r7", udp4(H1_4, R7_4, id=700), 1, 0, R7_MAC)
fwd6("learnt6_to_r7", udp6(H1_6, R7_6), 1, 0, R7_MAC)

# An unresolved connected host U on p1, reached from H0 on p0.
for i, tag in enumerate(["", "_b", "_c"]):
    fwd4("unres4" + tag, udp4(H0_4, U_4, id=900 + i, n=20 + i), 0, 1, U_MAC)
    fwd6("unres6" + tag, udp6(H0_6, U_6, n=20 + i), 0, 1, U_MAC)
add("unres4_arp_request",
    **{"out": Ether(dst=BCAST, src=P_MAC[1]) / ARP(op=1, hwsrc=P_MAC[1], psrc=P4[1],
                                                   hwdst="00:00:00:00:00:00", pdst=U_4),
       "port": 1})
add("unres4_arp_reply",
    **{"in": Ether(dst=P_MAC[1], src=U_MAC) / ARP(op=2, hwsrc=U_MAC, psrc=U_4, hwdst=P_MAC[1],
                                                  pdst=P4[1])})
held4 = forwarded4(udp4(H0_4, U_4, id=900, n=20))
add("unres4_host_unreachable",
    **{"out": Ether(dst=H0_MAC, src=P_MAC[0], type=0x0800) /
       Raw(icmp4_error(P4[0], held4, 3, 1)),
       "port": 0})
# Through an unresolved gateway (lab without H1 as a static neighbour): ARP asks for H1.
fwd4("unres_gw4", udp4(H0_4, "192.168.7.7", id=950), 0, 1, H1_MAC)
add("unres_gw4_arp_request",
    **{"out": Ether(dst=BCAST, src=P_MAC[1]) / ARP(op=1, hwsrc=P_MAC[1], psrc=P4[1],
                                                   hwdst="00:00:00:00:00:00", pdst=H1_4),
       "port": 1})
add("unres_gw4_arp_reply",
    **{"in": Ether(dst=P_MAC[1], src=H1_MAC) / ARP(op=2, hwsrc=H1_MAC, psrc=H1_4,
                                                   hwdst=P_MAC[1], pdst=P4[1])})

# R7 again, after its entry expired.
add("r7_arp_request",
    **{"out": Ether(dst=BCAST, src=P_MAC[0]) / ARP(op=1, hwsrc=P_MAC[0], psrc=P4[0],
                                                   hwdst="00:00:00:00:00:00", pdst=R7_4),
       "port": 0})
add("r7_arp_reply",
    **{"in": Ether(dst=P_MAC[0], src=R7_MAC) / ARP(op=2, hwsrc=R7_MAC, psrc=R7_4,
                                                   hwdst=P_MAC[0], pdst=P4[0])})

# Someone claims H0's address (a static neighbour) with another MAC.
add("arp_request_spoof_h0",
    **{"in": Ether(dst=BCAST, src="02:00:00:00:66:66") /
       ARP(op=1, hwsrc="02:00:00:00:66:66", psrc=H0_4, pdst=P4[0]),
       "out": Ether(dst="02:00:00:00:66:66", src=P_MAC[0]) /
       ARP(op=2, hwsrc=P_MAC[0], psrc=P4[0], hwdst="02:00:00:00:66:66", pdst=H0_4),
       "port": 0})

# ---- ND ----------------------------------------------------------------------------------------
ns_group0 = in6_getnsma(inet_pton(socket.AF_INET6, P6[0]))
ns_group0 = socket.inet_ntop(socket.AF_INET6, ns_group0)
add("ns_for_us",
    **{"in": Ether(dst=in6_getnsmac(inet_pton(socket.AF_INET6, ns_group0)), src=R7_MAC) /
       IPv6(src=R7_6, dst=ns_group0, hlim=255) / ICMPv6ND_NS(tgt=P6[0]) /
       ICMPv6NDOptSrcLLAddr(lladdr=R7_MAC),
       "out": Ether(dst=R7_MAC, src=P_MAC[0]) /
       IPv6(src=P6[0], dst=R7_6, hlim=255, tc=0, fl=0) /
       ICMPv6ND_NA(R=1, S=1, O=1, tgt=P6[0]) / ICMPv6NDOptDstLLAddr(lladdr=P_MAC[0]),
       "port": 0})
ll_group = socket.inet_ntop(socket.AF_INET6, in6_getnsma(inet_pton(socket.AF_INET6, P0_LL)))
add("ns_for_link_local",
    **{"in": Ether(dst=in6_getnsmac(inet_pton(socket.AF_INET6, ll_group)), src=R7_MAC) /
       IPv6(src=R7_LL, dst=ll_group, hlim=255) / ICMPv6ND_NS(tgt=P0_LL) /
       ICMPv6NDOptSrcLLAddr(lladdr=R7_MAC),
       "out": Ether(dst=R7_MAC, src=P_MAC[0]) /
       IPv6(src=P0_LL, dst=R7_LL, hlim=255, tc=0, fl=0) /
       ICMPv6ND_NA(R=1, S=1, O=1, tgt=P0_LL) / ICMPv6NDOptDstLLAddr(lladdr=P_MAC[0]),
       "port": 0})
# Unicast NS without a source link-layer option: the NA goes to the frame's source MAC.
add("ns_unicast_no_slla",
    **{"in": Ether(dst=P_MAC[0], src=R7_MAC) / IPv6(src=R7_6, dst=P6[0], hlim=255) /
       ICMPv6ND_NS(tgt=P6[0]),
       "out": Ether(dst=R7_MAC, src=P_MAC[0]) /
       IPv6(src=P6[0], dst=R7_6, hlim=255, tc=0, fl=0) /
       ICMPv6ND_NA(R=1, S=1, O=1, tgt=P6[0]) / ICMPv6NDOptDstLLAddr(lladdr=P_MAC[0]),
       "port": 0})
add("ns_dad",
    **{"in": Ether(dst=in6_getnsmac(inet_pton(socket.AF_INET6, ns_group0)), src=R7_MAC) /
       IPv6(src="::", dst=ns_group0, hlim=255) / ICMPv6ND_NS(tgt=P6[0])})
ns_bad = Ether(dst=in6_getnsmac(inet_pton(socket.AF_INET6, ns_group0)), src=R7_MAC) / \
    IPv6(src=R7_6, dst=ns_group0, hlim=255) / ICMPv6ND_NS(tgt=P6[0]) / \
    ICMPv6NDOptSrcLLAddr(lladdr=R7_MAC)
ns_bad_raw = bytearray(bytes(ns_bad))
ns_bad_raw[14 + 40 + 2] ^= 0x55
add("ns_bad_checksum", **{"in": bytes(ns_bad_raw)})
other6 = "2001:db8::99"
other_group = socket.inet_ntop(socket.AF_INET6, in6_getnsma(inet_pton(socket.AF_INET6, other6)))
add("ns_other",
    **{"in": Ether(dst=in6_getnsmac(inet_pton(socket.AF_INET6, other_group)),
                   src="02:00:00:00:a0:08") /
       IPv6(src="2001:db8::8", dst=other_group, hlim=255) / ICMPv6ND_NS(tgt=other6) /
       ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:a0:08")})

u_group = socket.inet_ntop(socket.AF_INET6, in6_getnsma(inet_pton(socket.AF_INET6, U_6)))
add("unres6_ns",
    **{"out": Ether(dst=in6_getnsmac(inet_pton(socket.AF_INET6, u_group)), src=P_MAC[1]) /
       IPv6(src=P6[1], dst=u_group, hlim=255, tc=0, fl=0) / ICMPv6ND_NS(tgt=U_6) /
       ICMPv6NDOptSrcLLAddr(lladdr=P_MAC[1]),
       "port": 1})
assert out["unres6_ns"]["out"].startswith("3333ff000009"), out["unres6_ns"]["out"][:12]
add("unres6_na",
    **{"in": Ether(dst=P_MAC[1], src=U_MAC) / IPv6(src=U_6, dst=P6[1], hlim=255) /
       ICMPv6ND_NA(R=0, S=1, O=1, tgt=U_6) / ICMPv6NDOptDstLLAddr(lladdr=U_MAC)})
held6 = forwarded6(udp6(H0_6, U_6, n=20))
add("unres6_addr_unreachable",
    **{"out": Ether(dst=H0_MAC, src=P_MAC[0], type=0x86DD) /
       Raw(icmp6_error(P6[0], held6, ICMPv6DestUnreach(code=3))),
       "port": 0})

# An echo request to p0's link-local address from a link-local host the router does not know
# yet: the reply waits for ND (NS from the link-local address), then goes out with R7's MAC.
r7_group = socket.inet_ntop(socket.AF_INET6, in6_getnsma(inet_pton(socket.AF_INET6, R7_LL)))
add("llecho_request",
    **{"in": Ether(dst=P_MAC[0], src=R7_MAC) / IPv6(src=R7_LL, dst=P0_LL, hlim=64) /
       ICMPv6EchoRequest(id=9, seq=9, data=payload(24).load),
       "out": Ether(dst=R7_MAC, src=P_MAC[0]) / IPv6(src=P0_LL, dst=R7_LL, hlim=64) /
       ICMPv6EchoReply(id=9, seq=9, data=payload(24).load),
       "port": 0})
add("llecho_ns",
    **{"out": Ether(dst=in6_getnsmac(inet_pton(socket.AF_INET6, r7_group)), src=P_MAC[0]) /
       IPv6(src=P0_LL, dst=r7_group, hlim=255, tc=0, fl=0) / ICMPv6ND_NS(tgt=R7_LL) /
       ICMPv6NDOptSrcLLAddr(lladdr=P_MAC[0]),
       "port": 0})
add("llecho_na",
    **{"in": Ether(dst=P_MAC[0], src=R7_MAC) / IPv6(src=R7_LL, dst=P0_LL, hlim=255) /
       ICMPv6ND_NA(R=0, S=1, O=1, tgt=R7_LL) / ICMPv6NDOptDstLLAddr(lladdr=R7_MAC)})

with open(sys.argv[1], "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")

#!/usr/bin/python3
"""Reference packets for tests/net/options_test.cc: IPv4 options, IPv6 extension headers and
their options, TCP options. Usage: gen_option_refs.py OUTPUT.json

Packets are built with scapy where scapy can build them, by hand where they must be malformed.
The expected walk is derived from how each packet was put together (the option objects and
their serialised lengths), not by walking the bytes:
  ip4:  {name, ip (hex, from the IPv4 header), walk: done|malformed, options: [[type, off, len]]}
  ip6:  {name, ip, ok, fragment, proto, off, headers: [[type, off, len]],
         options: [[type, off, len]] (of every HBH / DestOpts header, in order), options_ok}
  tcp:  {name, tcp (hex, from the TCP header), walk, options: [[kind, off, len, cls]]}
Offsets are from the start of the IPv4 / IPv6 / TCP header.
"""
import json
import logging
import struct
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.layers.inet import (IP, TCP, UDP, IPOption, IPOption_EOL,  # noqa: E402
                               IPOption_LSRR, IPOption_NOP, IPOption_Router_Alert,
                               IPOption_RR, IPOption_Timestamp)
from scapy.layers.inet6 import (HBHOptUnknown, IPv6, IPv6ExtHdrDestOpt,  # noqa: E402
                                IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting,
                                Pad1, PadN, RouterAlert)
from scapy.layers.ipsec import AH  # noqa: E402
from scapy.packet import Raw  # noqa: E402

A4 = dict(src="10.0.0.2", dst="198.51.100.1")
A6 = dict(src="2001:db8::2", dst="2001:db8:9::1")
PAYLOAD = Raw(b"payload!")


def cksum(b):
    if len(b) % 2:
        b += b"\x00"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


# ---- IPv4 -------------------------------------------------------------------------------------

ip4 = []


def ip4_scapy(name, opts):
    """Options as scapy objects; the list ends at the first EOL."""
    pkt = IP(options=opts, **A4) / UDP(sport=5000, dport=53) / PAYLOAD
    expected, off = [], 20
    for o in opts:
        b = bytes(o)
        if b[0] == 0:
            break
        expected.append([b[0], off, len(b)])
        off += len(b)
    ip4.append(dict(name=name, ip=bytes(pkt).hex(), walk="done", options=expected))


def ip4_raw(name, area, walk, expected):
    """A header with the option bytes `area` (a multiple of 4) written by hand."""
    assert len(area) % 4 == 0
    udp = bytes(UDP(sport=5000, dport=53) / PAYLOAD)
    hdr = bytearray(bytes(IP(proto=17, **A4))[:20]) + area
    hdr[0] = 0x40 | len(hdr) // 4
    hdr[2:4] = struct.pack("!H", len(hdr) + len(udp))
    hdr[10:12] = b"\x00\x00"
    hdr[10:12] = struct.pack("!H", cksum(bytes(hdr)))
    ip4.append(dict(name=name, ip=(bytes(hdr) + udp).hex(), walk=walk, options=expected))


ip4_scapy("none", [])
ip4_scapy("ra_nop_rr", [IPOption_Router_Alert(), IPOption_NOP(),
                        IPOption_RR(routers=["192.0.2.1"])])
ip4_scapy("nop_nop_ts", [IPOption_NOP(), IPOption_NOP(),
                         IPOption_Timestamp(flg=0, timestamp=1)])
ip4_scapy("lsrr_eol", [IPOption_LSRR(routers=["192.0.2.9"]), IPOption_EOL()])
ip4_scapy("experiment_94", [IPOption(b"\x5e\x06\x00\x01\x02\x03"), IPOption_NOP(),
                            IPOption_Router_Alert()])
ip4_scapy("full_40", [IPOption_RR(routers=["0.0.0.0"] * 9), IPOption_NOP()])
ip4_raw("eol_then_garbage", bytes.fromhex("0100ff01"), "done", [[1, 20, 1]])
ip4_raw("length_one", bytes.fromhex("01070100"), "malformed", [[1, 20, 1]])
ip4_raw("length_zero", bytes.fromhex("94000000"), "malformed", [])
ip4_raw("past_header", bytes.fromhex("9404000007090400"), "malformed", [[148, 20, 4]])
ip4_raw("no_length_byte", bytes.fromhex("01010107"), "malformed", [[1, 20, 1], [1, 21, 1], [1, 22, 1]])
ip4_raw("exactly_to_the_end", bytes.fromhex("5e08000000000000"), "done", [[0x5E, 20, 8]])

# ---- IPv6 -------------------------------------------------------------------------------------

ip6 = []
TYPE = {IPv6ExtHdrHopByHop: 0, IPv6ExtHdrRouting: 43, IPv6ExtHdrFragment: 44, AH: 51,
        IPv6ExtHdrDestOpt: 60}


def ip6_chain(name, exts, upper, walk_to=None):
    """exts: extension headers in order; upper: the upper-layer packet (or None).
    walk_to: (ok, fragment, proto, off) when the walk does not end at `upper`."""
    pkt = IPv6(**A6)
    for e in exts:
        pkt = pkt / e
    if upper is not None:
        pkt = pkt / upper
    raw = bytes(pkt)
    headers, options, off = [], [], 40
    for e in exts:
        ln = header_len(e)
        assert ln % 8 == 0, name
        t = TYPE[type(e)]
        headers.append([t, off, ln])
        if t in (0, 60):
            o_off = off + 2
            for o in e.options:
                b = bytes(o)
                options.append([b[0], o_off, len(b)])
                o_off += len(b)
            assert o_off == off + ln, name
        off += ln
    if walk_to is None:
        walk_to = (True, any(isinstance(e, IPv6ExtHdrFragment) for e in exts), upper_proto(upper),
                   off)
    ok, frag, proto, end = walk_to
    ip6.append(dict(name=name, ip=raw.hex(), ok=ok, fragment=frag, proto=proto, off=end,
                    headers=headers, options=options, options_ok=True))


def header_len(e):
    c = e.copy()
    c.remove_payload()
    return len(bytes(c))


def upper_proto(u):
    if u is None:
        return 59
    return {TCP: 6, UDP: 17}[type(u)]


def hbh(*opts):
    return IPv6ExtHdrHopByHop(options=list(opts), autopad=0)


def dst(*opts):
    return IPv6ExtHdrDestOpt(options=list(opts), autopad=0)


UDP6 = UDP(sport=5000, dport=53) / PAYLOAD
TCP6 = TCP(sport=40000, dport=80, flags="S")

ip6_chain("plain", [], UDP6)
ip6_chain("hbh_ra", [hbh(RouterAlert(), PadN(optdata=b""))], UDP6)
ip6_chain("hbh_experiment_3e",
          [hbh(HBHOptUnknown(otype=0x3E, optdata=b"\x00\x01\x02\x03\x04\x05"),
               PadN(optdata=b"\x00" * 4))], UDP6)
ip6_chain("long_chain",
          [hbh(Pad1(), Pad1(), RouterAlert(), PadN(optdata=b"\x00" * 14)),
           dst(HBHOptUnknown(otype=0x1E, optdata=b"abcd")),
           IPv6ExtHdrRouting(addresses=["2001:db8::7"]),
           IPv6ExtHdrFragment(offset=0, m=1, id=7),
           dst(PadN(optdata=b"\x00\x00\x00\x00"))],
          TCP6)
ip6_chain("ah", [AH(nh=6, spi=1, seq=2, icv=b"\x00" * 12, payloadlen=4)], TCP6)
ip6_chain("no_next", [dst(PadN(optdata=b"\x00" * 4))], None)
frag_hdr = IPv6ExtHdrFragment(offset=100, m=0, id=9)
ip6_chain("later_fragment", [hbh(RouterAlert(), PadN(optdata=b"")), frag_hdr], Raw(b"rest of it"),
          walk_to=(True, True, 44, 48))
ip6_chain("hbh_not_first", [dst(PadN(optdata=b"\x00" * 4)), hbh(PadN(optdata=b"\x00" * 4))], UDP6,
          walk_to=(False, False, 0, 0))
ip6[-1]["headers"] = ip6[-1]["headers"][:1]  # the walk reports the first only
ip6[-1]["options"] = ip6[-1]["options"][:1]

# Hand-made: a Hop-by-Hop header that says 16 bytes where the packet has 8.
trunc = bytearray(bytes(IPv6(nh=0, plen=8, **A6) / Raw(bytes.fromhex("1101050200000100"))))
ip6.append(dict(name="truncated", ip=bytes(trunc).hex(), ok=False, fragment=False, proto=0, off=0,
                headers=[], options=[], options_ok=True))
# Hand-made: an option running past its header: the chain walks, the options do not.
bad = bytes.fromhex("1100") + bytes.fromhex("0505") + bytes(2)  # RA claiming 5 bytes of data
bad_pkt = bytes(IPv6(nh=0, plen=8 + len(bytes(UDP6)), **A6)) + bad + bytes(UDP6)
ip6.append(dict(name="option_past_header", ip=bad_pkt.hex(), ok=True, fragment=False, proto=17,
                off=48, headers=[[0, 40, 8]], options=[], options_ok=False))
# A truncated Fragment header still counts as a fragment.
tf = bytes(IPv6(nh=44, plen=4, **A6)) + bytes.fromhex("11000000")
ip6.append(dict(name="truncated_fragment", ip=tf.hex(), ok=False, fragment=True, proto=0, off=0,
                headers=[], options=[], options_ok=True))

# ---- TCP --------------------------------------------------------------------------------------

tcp = []
SIZES = {"MSS": (2, 4), "NOP": (1, 1), "WScale": (3, 3), "SAckOK": (4, 2), "Timestamp": (8, 10),
         "EOL": (0, 1)}


def tcp_scapy(name, opts):
    seg = bytes(TCP(sport=40000, dport=80, flags="S", options=opts))
    expected, off = [], 20
    for kind, value in opts:
        if kind == "EOL":
            break
        if kind == "SAck":
            k, ln = 5, 2 + 8 * (len(value) // 2)
        elif isinstance(kind, int):
            k, ln = kind, 2 + len(value)
        else:
            k, ln = SIZES[kind]
        cls = k
        if k == 254 and value[:2] == b"\xf9\x89":
            cls = 256
        expected.append([k, off, ln, cls])
        off += ln
    tcp.append(dict(name=name, tcp=seg.hex(), walk="done", options=expected))


def tcp_raw(name, area, walk, expected):
    assert len(area) % 4 == 0
    seg = bytearray(bytes(TCP(sport=40000, dport=80, flags="S")))
    seg[12] = (20 + len(area)) // 4 << 4
    tcp.append(dict(name=name, tcp=(bytes(seg) + area).hex(), walk=walk, options=expected))


tcp_scapy("none", [])
tcp_scapy("linux_syn", [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None),
                        ("WScale", 7)])
tcp_scapy("nop_nop_ts", [("NOP", None), ("NOP", None), ("Timestamp", (5, 6))])
tcp_scapy("sack_3", [("NOP", None), ("NOP", None), ("SAck", (1, 2, 3, 4, 5, 6))])
tcp_scapy("tfo_34", [(34, b"\x01\x02\x03\x04\x05\x06\x07\x08"), ("NOP", None), ("NOP", None)])
tcp_scapy("tfo_experimental", [(254, b"\xf9\x89\x01\x02\x03\x04\x05\x06"), ("NOP", None),
                               ("NOP", None)])
tcp_scapy("other_experiment", [(254, b"\x12\x34"), ("EOL", None)])
tcp_raw("mss_length_3", bytes.fromhex("02030500"), "malformed", [])
tcp_raw("ts_length_8", bytes.fromhex("0101080800000000"), "malformed", [[1, 20, 1, 1], [1, 21, 1, 1]])
tcp_raw("sack_length_12", bytes.fromhex("050c" + "00" * 10), "malformed", [])
tcp_raw("past_header", bytes.fromhex("0204058c1e0a0000"), "malformed", [[2, 20, 4, 2]])
tcp_raw("eol_then_garbage", bytes.fromhex("01000201"), "done", [[1, 20, 1, 1]])
tcp_raw("unknown_kind", bytes.fromhex("63050102030101010101010101010101"), "done",
        [[0x63, 20, 5, 0x63]] + [[1, 25 + i, 1, 1] for i in range(11)])

with open(sys.argv[1], "w") as f:
    json.dump(dict(ip4=ip4, ip6=ip6, tcp=tcp), f, indent=1)

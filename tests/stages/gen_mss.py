#!/usr/bin/python3
"""Frames for mss_test.cc, built with scapy. Usage: gen_mss.py OUT.json

Each scenario is a SYN (or SYN-ACK, or ACK) whose option list is a function of the MSS value it
announces; the frame "mss<N>" is the scenario announcing N, "added<N>" the scenario with an MSS
option of N put first (what add_if_missing inserts), "in" the frame as the client sent it.
"""
import json
import logging
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import IP, TCP  # noqa: E402
from scapy.layers.inet6 import (IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,  # noqa: E402
                                IPv6ExtHdrHopByHop, PadN, RouterAlert)
from scapy.layers.l2 import Dot1Q, Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

E = dict(src="02:00:00:00:00:01", dst="02:00:00:00:01:00")
A4 = dict(src="10.0.0.2", dst="10.9.0.1", id=0x4242)
A6 = dict(src="2001:db8::2", dst="2001:db8:9::1")

SACKOK = bytes.fromhex("0402")
TS = bytes.fromhex("080a0000000100000000")
NOP = b"\x01"
WS = bytes.fromhex("030307")


def mss(v):
    return bytes([2, 4, v >> 8, v & 0xff])


def h(p):
    return bytes(p).hex()


def tcp(opts, flags, payload=b""):
    assert len(opts) % 4 == 0, opts.hex()
    return TCP(sport=40000, dport=80, seq=1000, ack=2000 if "A" in flags else 0, flags=flags,
               window=65535, dataofs=5 + len(opts) // 4) / Raw(opts + payload)


CARRIERS = {
    "v4": lambda t: Ether(**E) / IP(**A4) / t,
    "vlan": lambda t: Ether(**E) / Dot1Q(vlan=7) / IP(**A4) / t,
    "v4opt": lambda t: Ether(**E) / IP(options=bytes.fromhex("0707040a00000101"), **A4) / t,
    "v6": lambda t: Ether(**E) / IPv6(**A6) / t,
    "v6ext": lambda t: Ether(**E) / IPv6(**A6) / IPv6ExtHdrHopByHop(options=[RouterAlert()]) /
    IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00" * 4)]) / t,
    "v6vlan": lambda t: Ether(**E) / Dot1Q(vlan=9) / IPv6(**A6) / t,
}

# name: (flags, MSS the client sent or None, options as a function of an MSS value, payload)
SCENARIOS = {
    "syn1460": ("S", 1460, lambda v: mss(v) + SACKOK + TS + NOP + WS, b""),
    "synack1460": ("SA", 1460, lambda v: mss(v) + NOP + NOP + SACKOK + NOP + WS, b""),
    "syn_odd": ("S", 1460, lambda v: NOP + mss(v) + NOP + NOP + NOP, b""),  # value at an odd offset
    "syn1200": ("S", 1200, lambda v: mss(v) + SACKOK + TS + NOP + WS, b""),
    "two_mss": ("S", 1460, lambda v: mss(v) + mss(v), b""),
    "ack_mss": ("A", 1460, lambda v: mss(v), b""),
}
# What each test rewrites the MSS to.
VALUES = (536, 1200, 1220, 1340, 1360, 1440, 1460, 9000)

# SYNs without MSS: (flags, options, payload); "added<N>" is the same with mss(N) first.
NO_MSS = {
    "syn_nomss": ("S", SACKOK + TS + NOP + WS, b""),
    "syn_bare": ("S", b"", b""),
    "synack_nomss": ("SA", NOP + NOP + SACKOK, b""),
}

cases = {}
for carrier, wrap in CARRIERS.items():
    for name, (flags, sent, opts, payload) in SCENARIOS.items():
        c = {"in": h(wrap(tcp(opts(sent), flags, payload)))}
        for v in VALUES:
            c[f"mss{v}"] = h(wrap(tcp(opts(v), flags, payload)))
        cases[f"{carrier}/{name}"] = c
    for name, (flags, opts, payload) in NO_MSS.items():
        c = {"in": h(wrap(tcp(opts, flags, payload)))}
        for v in VALUES:
            c[f"added{v}"] = h(wrap(tcp(mss(v) + opts, flags, payload)))
        cases[f"{carrier}/{name}"] = c
    # Cannot be added: the SYN carries data, or its header is full (40 bytes of options).
    cases[f"{carrier}/syn_data_nomss"] = {"in": h(wrap(tcp(SACKOK + NOP + NOP, "S", b"tfo data")))}
    cases[f"{carrier}/syn_full_nomss"] = {"in": h(wrap(tcp(SACKOK + TS + NOP + WS + NOP * 24, "S")))}

# Malformed lists with an MSS inside: never rewritten, never overrun.
MALFORMED = {
    "mss_len3": bytes.fromhex("02030500"),
    "mss_len5": bytes.fromhex("0205059c00000000"),
    "overrun": bytes.fromhex("020405b4") + bytes.fromhex("63080000"),
    "truncated": bytes.fromhex("020405b4010101fe"),
    "len0": bytes.fromhex("6300020400000000"),
}
for name, opts in MALFORMED.items():
    cases[f"malformed/{name}"] = {"in": h(CARRIERS["v4"](tcp(opts, "S")))}

# A first fragment: rewritten in place; an MSS cannot be added to it.
cases["frag4/syn1460"] = {
    "in": h(Ether(**E) / IP(flags="MF", **A4) / tcp(mss(1460), "S")),
    "mss1360": h(Ether(**E) / IP(flags="MF", **A4) / tcp(mss(1360), "S")),
}
cases["frag6/syn_bare"] = {"in": h(Ether(**E) / IPv6(**A6) / IPv6ExtHdrFragment(m=1, id=5) /
                                   tcp(b"", "S"))}

json.dump(cases, open(sys.argv[1], "w"), indent=1)

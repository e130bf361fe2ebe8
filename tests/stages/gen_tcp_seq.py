#!/usr/bin/python3
"""Frames for tcp_seq_test.cc, built with scapy. Usage: gen_tcp_seq.py OUT.json

A conversation (handshake, data, SACK both ways with aligned and odd-offset blocks, FIN both ways)
is built once per variant with the sequence numbers a client and server use ("inK") and with the
numbers after the stage moved the initiator's by d_i and the responder's by d_r ("outK").
"""
import json
import logging
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt  # noqa: E402
from scapy.layers.l2 import Dot1Q, Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

E_C = dict(src="02:00:00:00:00:99", dst="02:00:00:00:00:01")  # client -> router
E_S = dict(src="02:00:00:00:01:99", dst="02:00:00:00:01:01")  # server -> router
M = 0xFFFFFFFF
ISN_C = 0xFFFFFFF0  # the client's numbers wrap during the transfer
ISN_S = 0x12345678


def h(p):
    return bytes(p).hex()


def conversation(d_i, d_r, v6=False, vlan=False, ip_opts=False, ext=False):
    """[(in, out)] frames; client = initiator."""
    c, s = ("2001:db8::2", "2001:db8:9::1") if v6 else ("10.0.0.2", "10.9.0.1")
    cp, sp = 40000, 80

    def frame(from_client, seq, ack, flags, options=(), payload=b""):
        l2 = Ether(**(E_C if from_client else E_S))
        if vlan:
            l2 = l2 / Dot1Q(vlan=7)
        src, dst = (c, s) if from_client else (s, c)
        if v6:
            l3 = IPv6(src=src, dst=dst, hlim=63)
            if ext:
                l3 = l3 / IPv6ExtHdrDestOpt()
        else:
            l3 = IP(src=src, dst=dst, ttl=63, id=7, options=b"\x01\x01\x01\x00" if ip_opts else [])
        tcp = TCP(sport=cp if from_client else sp, dport=sp if from_client else cp, seq=seq & M,
                  ack=ack & M, flags=flags, window=8192, options=list(options))
        p = l2 / l3 / tcp
        if payload:
            p = p / Raw(payload)
        return p

    # (from_client, seq - own ISN, ack - peer ISN, flags, SACK edges - peer ISN, options before
    # the SACK option, payload). Each side sees its peer's numbers as the stage left them: the
    # inputs carry the sender's view, the outputs the receiver's.
    steps = [
        (True, 0, None, "S", None, [("MSS", 1460), ("SAckOK", b""), ("NOP", None), ("WScale", 7)], b""),
        (False, 0, 1, "SA", None, [("MSS", 1400), ("SAckOK", b""), ("NOP", None), ("WScale", 7)], b""),
        (True, 1, 1, "A", None, [], b""),
        (True, 1, 1, "PA", None, [], b"a" * 100),
        (True, 201, 1, "PA", None, [], b"b" * 100),
        (False, 1, 101, "A", [201, 301], [("NOP", None), ("NOP", None)], b""),
        (False, 1, 301, "PA", None, [], b"c" * 51),
        (True, 301, 1, "A", [101, 151, 201, 251], [("NOP", None)], b""),  # SACK edges at odd offsets
        (True, 301, 52, "FA", None, [], b""),
        (False, 52, 302, "FA", None, [], b""),
        (True, 302, 53, "A", None, [], b""),
    ]
    out = []
    for from_client, seq, ack, flags, sack, pre, payload in steps:
        own, peer = (ISN_C, ISN_S) if from_client else (ISN_S, ISN_C)
        d_own, d_peer = (d_i, d_r) if from_client else (d_r, d_i)

        def opts(base):
            o = list(pre)
            if sack is not None:
                o.append(("SAck", tuple((base + e) & M for e in sack)))
                if len(pre) % 2 == 1:
                    o.append(("EOL", None))
            return o

        fin = frame(from_client, own + seq, 0 if ack is None else peer + d_peer + ack, flags,
                    opts(peer + d_peer), payload)
        fout = frame(from_client, own + d_own + seq, 0 if ack is None else peer + ack, flags,
                     opts(peer), payload)
        out.append((h(fin), h(fout)))
    return out


cases = {}


def add(name, pairs, **numbers):
    case = {"n": str(len(pairs))}
    for k, (fin, fout) in enumerate(pairs):
        case[f"in{k}"] = fin
        case[f"out{k}"] = fout
    case.update({k: str(v) for k, v in numbers.items()})
    cases[name] = case


D_I, D_R = 0x20, 0x80000000
add("v4_both", conversation(D_I, D_R), d_i=D_I, d_r=D_R)
add("v4_initiator", conversation(0x01000000, 0), d_i=0x01000000, d_r=0)
add("v4_responder", conversation(0, 0x00010001), d_i=0, d_r=0x00010001)
add("v4_options_both", conversation(D_I, D_R, ip_opts=True), d_i=D_I, d_r=D_R)
add("vlan_both", conversation(D_I, D_R, vlan=True), d_i=D_I, d_r=D_R)
add("v6_both", conversation(D_I, D_R, v6=True), d_i=D_I, d_r=D_R)
add("v6_ext_both", conversation(D_I, D_R, v6=True, ext=True), d_i=D_I, d_r=D_R)
add("v4_plain", conversation(0, 0))  # inputs for the random-offset tests (in == out)

# Distinct flows for the table-full test: SYNs from 20 client ports.
cases["syns"] = {f"in{k}": h(Ether(**E_C) / IP(src="10.0.0.2", dst="10.9.0.1") /
                             TCP(sport=41000 + k, dport=80, seq=1000 * k, flags="S"))
                 for k in range(20)}
cases["udp"] = {"in": h(Ether(**E_C) / IP(src="10.0.0.2", dst="10.9.0.1") / UDP(sport=5000, dport=53) / (b"x" * 10))}

# Malformed: a TCP header cut at 12 bytes by the IP length; a SACK option whose length runs past
# the header (the ACK moves, the option is left alone).
trunc = Ether(**E_C) / IP(src="10.0.0.2", dst="10.9.0.1", proto=6) / Raw(bytes(TCP(sport=40000, dport=80, flags="A"))[:12])
cases["trunc"] = {"in": h(trunc)}


def bad_sack(ack):
    return h(Ether(**E_S) / IP(src="10.9.0.1", dst="10.0.0.2", ttl=63, id=7) /
             TCP(sport=80, dport=40000, seq=ISN_S + 1, ack=ack & M, flags="A", window=8192, dataofs=8) /
             Raw(b"\x05\x12" + bytes.fromhex("00000001000000020000")))


# After conversation(D_I, 0)'s SYN: the server's ACK moves back by D_I, the option stays.
cases["bad_sack"] = {"in": bad_sack(ISN_C + D_I + 1), "out": bad_sack(ISN_C + 1)}

json.dump(cases, open(sys.argv[1], "w"), indent=1)

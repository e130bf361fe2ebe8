#!/usr/bin/python3
"""Frames for tcp_options_test.cc, built with scapy. Usage: gen_tcp_options.py OUT.json

Option lists are written out byte for byte (TCP(dataofs=...)/Raw(options + payload)), so the
expected lists below spell out the stage's rules independently of its code:
  nop:    each stripped option's bytes become NOP (1);
  remove: stripped options go, with the run of NOPs right before each; NOPs at the end go; the
          list is padded with EOL (0) to a multiple of 4.
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

MSS = bytes.fromhex("020405b4")            # 1460
SACKOK = bytes.fromhex("0402")
TS = bytes.fromhex("080a0000000100000000")  # val 1, ecr 0
NOP = b"\x01"
WS = bytes.fromhex("030307")
TFO = bytes.fromhex("220a0102030405060708")          # kind 34, 8-byte cookie
TFO_EXP = bytes.fromhex("fe0cf9890102030405060708")  # kind 254, id 0xF989, 8-byte cookie
EXP_OTHER = bytes.fromhex("fe0612340000")            # kind 254, another experiment
MPTCP = bytes.fromhex("1e0c0081") + bytes(range(8))  # MP_CAPABLE with a key
UNKNOWN = bytes.fromhex("63040000")                  # kind 99
SACK = bytes.fromhex("050a0000100000002000")         # one block
PAYLOAD = b"hello, world"


def h(p):
    return bytes(p).hex()


def pad(opts):
    return opts + b"\x00" * (-len(opts) % 4)


def nops(n):
    return NOP * n


def tcp(opts, flags="S", payload=b""):
    assert len(opts) % 4 == 0, opts.hex()
    return TCP(sport=40000, dport=80, seq=1000, ack=2000 if "A" in flags else 0, flags=flags,
               window=65535, dataofs=5 + len(opts) // 4) / Raw(opts + payload)


# Every case comes on each of these L2/L3 carriers.
CARRIERS = {
    "v4": lambda t: Ether(**E) / IP(**A4) / t,
    "vlan": lambda t: Ether(**E) / Dot1Q(vlan=7) / IP(**A4) / t,
    "v4opt": lambda t: Ether(**E) / IP(options=bytes.fromhex("0707040a0000010100000000")[:8], **A4) / t,
    "v6": lambda t: Ether(**E) / IPv6(**A6) / t,
    "v6ext": lambda t: Ether(**E) / IPv6(**A6) / IPv6ExtHdrHopByHop(options=[RouterAlert()]) /
    IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00" * 4)]) / t,
    "v6vlan": lambda t: Ether(**E) / Dot1Q(vlan=9) / IPv6(**A6) / t,
}

LINUX_SYN = MSS + SACKOK + TS + NOP + WS                       # 20 bytes
WINDOWS_SYN = MSS + NOP + WS + NOP + NOP + SACKOK              # 12 bytes
ACK_TS = NOP + NOP + TS                                        # 12 bytes
ACK_TS_SACK = NOP + NOP + TS + NOP + NOP + SACK                # 24 bytes
MANY_SYN = MSS + SACKOK + TS + NOP + WS + MPTCP + UNKNOWN      # 36 bytes
TFO_SYN = pad(MSS + TFO + NOP + NOP + TFO_EXP + EXP_OTHER)    # 34 bytes, 2 of EOL

# name: (flags, payload, options in, {variant: options out})
SCENARIOS = {
    # strip: [sack_permitted, timestamp]
    "linux_syn": ("S", b"", LINUX_SYN, {
        "nop": MSS + nops(2) + nops(10) + NOP + WS,
        "remove": MSS + NOP + WS,
    }),
    # strip: [timestamp], on a data segment: the payload must follow the shorter header
    "ack_ts": ("PA", PAYLOAD, ACK_TS, {
        "nop": nops(12),
        "remove": b"",
    }),
    # strip: [timestamp] and strip: [sack] on NOP NOP TS NOP NOP SACK
    "ack_ts_sack": ("A", PAYLOAD, ACK_TS_SACK, {
        "nop": nops(12) + NOP + NOP + SACK,
        "remove": NOP + NOP + SACK,
        "sack_remove": NOP + NOP + TS,
    }),
    # allow: [mss, sack_permitted]
    "windows_syn": ("S", b"", WINDOWS_SYN, {
        "nop": MSS + NOP + nops(3) + NOP + NOP + SACKOK,
        "remove": MSS + NOP + NOP + SACKOK,
    }),
    # allow: [mss, wscale, sack_permitted, timestamp]; strip: [unknown]
    "many_syn": ("S", b"", MANY_SYN, {
        "nop": LINUX_SYN + nops(12) + nops(4),
        "remove": LINUX_SYN,
        "unknown_nop": LINUX_SYN + MPTCP + nops(4),
    }),
    # strip: [tfo] (34 and 254/0xF989), strip: [254] (all of kind 254)
    "tfo_syn": ("S", b"", TFO_SYN, {
        "nop": MSS + nops(10) + NOP + NOP + nops(12) + EXP_OTHER + b"\x00\x00",
        "remove": pad(MSS + EXP_OTHER),
        "exp_nop": MSS + TFO + NOP + NOP + nops(12) + nops(6) + b"\x00\x00",
        "unknown_remove": pad(MSS + TFO + NOP + NOP + TFO_EXP),
    }),
    # EOL ends the list: what follows is padding, never parsed (strip: [mss])
    "eol_garbage": ("S", b"", MSS + b"\x00\xff\xff\xff", {
        "nop": nops(4) + b"\x00\xff\xff\xff",
        "remove": b"",
    }),
}

cases = {}
for carrier, wrap in CARRIERS.items():
    for name, (flags, payload, opts, outs) in SCENARIOS.items():
        c = {"in": h(wrap(tcp(opts, flags, payload)))}
        for variant, out in outs.items():
            c[variant] = h(wrap(tcp(out, flags, payload)))
        cases[f"{carrier}/{name}"] = c

# drop_syn_with: [tfo]: SYN, SYN-ACK, plain ACK carrying TFO, and a SYN without
for name, flags, opts in (("tfo_syn", "S", pad(MSS + TFO)), ("tfo_synack", "SA", pad(MSS + TFO)),
                          ("tfo_exp_syn", "S", pad(MSS + TFO_EXP)), ("tfo_ack", "A", pad(TFO)),
                          ("plain_syn", "S", LINUX_SYN), ("mptcp_syn", "S", pad(MSS + MPTCP)),
                          ("mptcp_ack_ts", "A", pad(MPTCP + ACK_TS))):
    cases[f"drop/{name}"] = {"in": h(CARRIERS["v4"](tcp(opts, flags)))}
cases["drop/mptcp_ack_ts"]["out"] = h(CARRIERS["v4"](tcp(pad(MPTCP + nops(12)), "A")))

# Malformed lists: never overrun, passed untouched or dropped.
MALFORMED = {
    "len1": MSS + bytes.fromhex("08010000"),       # length below 2
    "len0": bytes.fromhex("63000000"),
    "overrun": MSS + bytes.fromhex("63080000"),    # runs past the header
    "truncated": bytes.fromhex("01010163"),        # kind in the last byte, no length
    "mss_len3": bytes.fromhex("02030500"),         # a fixed-size kind with the wrong size
    "ts_len8": bytes.fromhex("0808000000010000"),
    "sack_len11": bytes.fromhex("050b") + bytes(9) + b"\x00",
}
for name, opts in MALFORMED.items():
    cases[f"malformed/{name}"] = {"in": h(CARRIERS["v4"](tcp(pad(opts), "S")))}
    cases[f"malformed6/{name}"] = {"in": h(CARRIERS["v6ext"](tcp(pad(opts), "SA")))}

# The TCP header claims 32 bytes but the packet ends after 24: tcp_ok is false, never touched.
t = bytes(tcp(LINUX_SYN))[:24]
cases["short/tcp"] = {"in": h(Ether(**E) / IP(proto=6, **A4) / Raw(t))}

# Fragments: remove falls back to NOP (the packet cannot shrink).
cases["frag4/linux_syn"] = {
    "in": h(Ether(**E) / IP(flags="MF", **A4) / tcp(LINUX_SYN)),
    "out": h(Ether(**E) / IP(flags="MF", **A4) / tcp(SCENARIOS["linux_syn"][3]["nop"])),
}
cases["frag6/linux_syn"] = {
    "in": h(Ether(**E) / IPv6(**A6) / IPv6ExtHdrFragment(m=1, id=5) / tcp(LINUX_SYN)),
    "out": h(Ether(**E) / IPv6(**A6) / IPv6ExtHdrFragment(m=1, id=5) /
             tcp(SCENARIOS["linux_syn"][3]["nop"])),
}

json.dump(cases, open(sys.argv[1], "w"), indent=1)

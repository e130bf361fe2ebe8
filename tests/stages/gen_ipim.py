#!/usr/bin/python3
"""Frames for ipim_test.cc. Usage: gen_ipim.py OUT.json

The IPIM options are written byte for byte from docs/ipim.md, and the expected output of one hop
is computed here from the spec's rules (not from the C++): "in" is the frame as it reaches the
egress stage (TTL already decremented), "out" what the hop must send, with the IPv4 header
checksum recomputed by scapy from scratch. The hop (ipim_test.cc's kHop) is: router id
10.255.0.1, AS 64500, evolution offset 0x01020304, capacity 100 Mbit/s (no link: queue and level
unavailable, available = capacity), time T_NS, ingress port addresses 192.0.2.1 /
2001:db8:2::1, egress 10.0.0.1 / 2001:db8::1.
"""
import json
import logging
import math
import struct
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import IP, IPOption, UDP  # noqa: E402
from scapy.layers.inet6 import HBHOptUnknown, IPv6, IPv6ExtHdrHopByHop, PadN  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

E = dict(src="02:00:00:00:00:01", dst="02:00:00:00:01:00")
T_NS = 1_700_000_000_123_456_789
HOP = dict(router_id=0x0AFF0001, asn=64500, offset=0x01020304, cap=100_000_000,
           time_us=(T_NS // 1000) % 2**32,
           ingress={4: bytes([192, 0, 2, 1]), 6: bytes.fromhex("20010db8000200000000000000000001")},
           egress={4: bytes([10, 0, 0, 1]), 6: bytes.fromhex("20010db8000000000000000000000001")})

O_FLAGS, O_TARGET, O_TTLP, O_ACC, O_EVO, O_MINCAP, O_QSUM, O_SLOTS = 2, 3, 4, 5, 6, 10, 14, 18


def cap_code(bps):
    return 0 if bps < 2 else min(0xFFFE, round(1024 * math.log2(bps)))


def slot_size(perf, fam):
    return 16 if perf else (44 if fam == 6 else 20)


def option(fam, slots=1, perf=False, sample=True, target=0, ttlp=200, evo=0xFFFFFFF0,
           version=1, nxt=0, filled=()):
    """A sender's option: type, length, header, accumulated fields, zero slots."""
    flags = (version << 4) | (0x04 if sample else 0) | (0x02 if perf else 0)
    body = struct.pack("!BBBBIHHI", flags, target, ttlp, nxt, evo, 0xFFFE, 0, 0)
    area = bytearray(slot_size(perf, fam) * slots)
    for i, b in filled:
        area[i * slot_size(perf, fam):i * slot_size(perf, fam) + len(b)] = b
    data = body + bytes(area)
    t = 0x5E if fam == 4 else 0x3E
    return bytes([t, len(data) + 2 if fam == 4 else len(data)]) + data


def hop(opt, fam, arrival_ttl):
    """The one hop's rules (docs/ipim.md, "What a hop does"), sampling probability 1."""
    o = bytearray(opt)
    ln = len(o)
    perf = bool(o[O_FLAGS] & 0x02)
    size = slot_size(perf, fam)
    o[O_TTLP] = (o[O_TTLP] - 1) % 256
    struct.pack_into("!I", o, O_EVO, (struct.unpack_from("!I", o, O_EVO)[0] + HOP["offset"]) % 2**32)
    code = cap_code(HOP["cap"])
    if code < struct.unpack_from("!H", o, O_MINCAP)[0]:
        struct.pack_into("!H", o, O_MINCAP, code)
    o[O_ACC] |= 0x40  # no link: the queue is unavailable
    triggered = o[O_TARGET] != 0 and o[O_TARGET] == arrival_ttl
    if not triggered and not (o[O_FLAGS] & 0x04):
        return bytes(o)
    nxt = o[O_ACC] & 0x0F
    if nxt >= (ln - O_SLOTS) // size:
        o[O_FLAGS] |= 0x08
        return bytes(o)
    flags = 0x80 | (0x40 if perf else 0) | (0x20 if triggered else 0)
    if perf:
        flags |= 0x04 | 0x01  # queue, level unavailable
        s = struct.pack("!BBBBIIHH", arrival_ttl, flags, 0xFF, 0, HOP["time_us"], 0xFFFFFFFF,
                        code, code)
    else:
        s = struct.pack("!BBHII", arrival_ttl, flags, 0, HOP["router_id"], HOP["asn"]) + \
            HOP["ingress"][fam] + HOP["egress"][fam]
    at = O_SLOTS + nxt * size
    o[at:at + size] = s
    o[O_ACC] = (o[O_ACC] & 0xF0) | (nxt + 1)
    return bytes(o)


def frame4(opts, ttl=63, flags="DF", frag=0):
    """opts: the raw option area (padded here with EOL to a multiple of 4)."""
    opts = opts + b"\x00" * (-len(opts) % 4)
    return Ether(**E) / IP(src="10.9.0.2", dst="10.1.0.9", ttl=ttl, id=0x1234, flags=flags,
                           frag=frag, options=[IPOption(opts)]) / \
        UDP(sport=40000, dport=33434) / Raw(b"probe payload.")


def frame6(opt, ttl=63, pre=b""):
    """opt: the IPIM option bytes, placed at HBH offset 2 + len(pre), the rest PadN'd."""
    body = pre + opt
    pad = -(len(body) + 2) % 8
    if pad == 1:
        body += b"\x00"
    elif pad:
        body += bytes([1, pad - 2]) + bytes(pad - 2)
    hbh = bytes([17, (len(body) + 2) // 8 - 1]) + body
    return Ether(**E) / IPv6(src="2001:db8:9::2", dst="2001:db8:1::9", hlim=ttl, nh=0) / \
        Raw(hbh) / UDP(sport=40000, dport=33434) / Raw(b"probe payload.")


def finish(pkt):
    """Bytes with every checksum computed by scapy (IPv6: UDP's, over the pseudo-header)."""
    if pkt.haslayer(IPv6):
        # scapy cannot see UDP behind a Raw HBH: compute the checksum on the parsed packet.
        p = Ether(bytes(pkt))
        if p.haslayer(UDP):
            del p[UDP].chksum
        return bytes(p)
    return bytes(pkt)


def h(p):
    return finish(p).hex()


def case(fam, opt, ttl=63, **kw):
    want = hop(opt, fam, min(255, ttl + 1))
    if fam == 4:
        return {"in": h(frame4(opt, ttl)), "out": h(frame4(want, ttl))}
    return {"in": h(frame6(opt, ttl)), "out": h(frame6(want, ttl))}


def main():
    out = {}
    for fam in (4, 6):
        f = f"v{fam}"
        out[f + "/topo_sampled"] = case(fam, option(fam))
        out[f + "/topo_triggered"] = case(fam, option(fam, sample=False, target=64))
        out[f + "/accumulate_only"] = case(fam, option(fam, sample=False, target=9))
        out[f + "/perf_sampled"] = case(fam, option(fam, perf=True))
        out[f + "/overflow"] = case(fam, option(fam, nxt=1, filled=[(0, b"\x05\x80")]))
        out[f + "/ttlp_wraps"] = case(fam, option(fam, ttlp=0, evo=0xFFFFFFFF, sample=False))
        for ttl in range(0, 255):  # triggered at every arrival TTL 1..255
            out[f"{f}/trigger/{ttl + 1}"] = case(fam, option(fam, sample=False, target=ttl + 1), ttl=ttl)
        # Malformed: passed untouched or dropped.
        out[f + "/bad_version"] = {"in": h(frame4(option(4, version=2)) if fam == 4 else frame6(option(6, version=2)))}
        bad = option(fam, slots=1)
        bad = bad[:-1]  # the slot area is not a whole slot
        bad = bytes([bad[0], bad[1] - 1 if fam == 4 else bad[1] - 1]) + bad[2:]
        out[f + "/bad_slot_size"] = {"in": h(frame4(bad) if fam == 4 else frame6(bad))}
        ptr = option(fam, nxt=2)
        out[f + "/bad_pointer"] = {"in": h(frame4(ptr) if fam == 4 else frame6(ptr))}
        short = option(fam)[:10]
        short = bytes([short[0], 10 if fam == 4 else 8]) + short[2:]
        out[f + "/short"] = {"in": h(frame4(short) if fam == 4 else frame6(short))}
    # IPv4 only: two performance slots do not fit; the option after NOP and router alert; a
    # truncated option list; a later fragment (no stamp); many slots in IPv6 instead.
    opt = option(4, perf=True)  # 34 bytes: room for 4 more in the 40-byte area
    ra = bytes.fromhex("94040000")
    out["v4/after_ra"] = {"in": h(frame4(ra + opt)), "out": h(frame4(ra + hop(opt, 4, 64)))}
    trunc = ra + bytes([0x5E, 60]) + opt[2:]
    out["v4/truncated_list"] = {"in": h(frame4(trunc))}
    out["v4/later_fragment"] = {"in": h(frame4(opt, flags=0, frag=100))}
    many = option(6, slots=3, perf=True, nxt=1, filled=[(0, bytes([70, 0xC0]) + bytes(14))])
    out["v6/perf_second_slot"] = case(6, many)
    pre = bytes([1, 2, 0, 0])  # a PadN before the option: it sits at 4n+2 still
    opt6 = option(6)
    out["v6/after_padn"] = {"in": h(frame6(opt6, pre=pre)), "out": h(frame6(hop(opt6, 6, 64), pre=pre))}
    out["v6/no_hbh"] = {"in": h(Ether(**E) / IPv6(src="2001:db8:9::2", dst="2001:db8:1::9", hlim=63) /
                                UDP(sport=1, dport=2) / Raw(b"x"))}
    with open(sys.argv[1], "w") as f:
        json.dump(out, f, indent=0, sort_keys=True)


if __name__ == "__main__":
    main()

"""Scapy layers for IPIM (docs/ipim.md): the IPv4 option 0x5E, the IPv6 Hop-by-Hop option 0x3E
and the end-to-end block in UDP payloads. Importing registers them with scapy:
IP(options=[...]) and IPv6()/IPv6ExtHdrHopByHop(options=[...]) dissect them, and a UDP payload
that starts with b"IPIM" dissects as IPIMEndToEnd (by magic, on any port).

    sys.path.insert(0, "<repo>/tools/scapy"); import ipim

decode(pkt) returns the option as plain python (the shape `pathlab-probe decode --json` emits):
  {"carrier": "ipv4"|"ipv6", "version", "overflow", "sample", "perf", "target_ttl", "ttl_prime",
   "cap_unavailable", "queue_unavailable", "next_slot", "evolution", "min_capacity",
   "queue_sum_us", "slots": [...], "malformed": null|"short"|"version"|"slot_size"|"pointer"}
  every slot: {"index", "ttl", "written", "perf", "triggered", "unavailable"} and
    topology:    "router_id", "as", "ingress", "egress" (router id and addresses: inet_ntop text)
    performance: "level", "time_us", "queue_us", "avail_capacity", "capacity" (raw codes)
  "short": the option is under 18 bytes or runs past its options area; then every field but
  carrier and malformed is None. Any malformed option has "slots": [].
decode_e2e(pkt) returns the end-to-end block (keys in E2E_KEYS; "option" is decode() of the
echoed option bytes).
"""
import math
import random
import socket
import struct

from scapy.fields import (BitField, ByteEnumField, ByteField, ConditionalField, FieldLenField,
                          FlagsField, IntField, IP6Field, IPField, PacketLenField,
                          PacketListField, ShortField, StrFixedLenField, XIntField,
                          XShortField, XStrFixedLenField)
from scapy.config import conf
from scapy.packet import Packet, Raw
from scapy.layers import inet6
from scapy.layers.inet import IP, UDP, IPOption, IPOption_NOP, _IPOption_HDR
from scapy.layers.inet6 import IPv6, _OTypeField

IP4_TYPE, IP6_TYPE, VERSION = 0x5E, 0x3E, 1
HDR_LEN, PERF_SLOT, MAX_SLOTS, IP4_MAX = 18, 16, 15, 40
CAP_MAX, CAP_UNAVAILABLE, U32_MAX = 0xFFFE, 0xFFFF, 0xFFFFFFFE
MAGIC = b"IPIM"
E2E_LEN, ECHO_LEN = 52, 56

OPTION_KEYS = ("carrier", "version", "overflow", "sample", "perf", "target_ttl", "ttl_prime",
               "cap_unavailable", "queue_unavailable", "next_slot", "evolution", "min_capacity",
               "queue_sum_us", "slots", "malformed")
SLOT_KEYS = ("index", "ttl", "written", "perf", "triggered", "unavailable")
TOPO_KEYS = ("router_id", "as", "ingress", "egress")
PERF_KEYS = ("level", "time_us", "queue_us", "avail_capacity", "capacity")
E2E_KEYS = ("version", "type", "host_id", "seq", "nonce", "nonce_sum_echo", "t_us", "t_echo_us",
            "delta_us", "coverage", "mode", "hash", "hash_echo", "rx_ttl", "rx_tos",
            "option_len", "option_bytes", "option", "malformed")


def slot_size(perf, ip6):
    return PERF_SLOT if perf else (44 if ip6 else 20)


def cap_encode(bps):
    """bit/s -> 16-bit log-scale code: round(1024*log2(bps)), 0 below 2 bit/s, at most 0xFFFE."""
    if not bps >= 2.0:
        return 0
    return min(CAP_MAX, int(round(1024.0 * math.log2(bps))))


def cap_decode(code):
    """Code -> bit/s; None for 0xFFFF (unavailable)."""
    if code == CAP_UNAVAILABLE:
        return None
    return 0.0 if code == 0 else 2.0 ** (code / 1024.0)


# ---- slots -------------------------------------------------------------------------------------

def _slot_head():
    return [ByteField("ttl", 0),
            FlagsField("flags", 0, 4, ["R", "T", "P", "W"]),  # 0x10 reserved .. 0x80 written
            BitField("unavailable", 0, 4)]


class _Slot(Packet):
    def extract_padding(self, s):
        return b"", s


class IPIMTopo4Slot(_Slot):
    name = "IPIM topology slot (IPv4)"
    fields_desc = _slot_head() + [ShortField("reserved", 0), IPField("router_id", "0.0.0.0"),
                                  IntField("asn", 0), IPField("ingress", "0.0.0.0"),
                                  IPField("egress", "0.0.0.0")]


class IPIMTopo6Slot(_Slot):
    name = "IPIM topology slot (IPv6)"
    fields_desc = _slot_head() + [ShortField("reserved", 0), IPField("router_id", "0.0.0.0"),
                                  IntField("asn", 0), IP6Field("ingress", "::"),
                                  IP6Field("egress", "::")]


class IPIMPerfSlot(_Slot):
    name = "IPIM performance slot"
    fields_desc = _slot_head() + [ByteField("level", 0), ByteField("reserved", 0),
                                  IntField("time_us", 0), IntField("queue_us", 0),
                                  ShortField("avail_capacity", 0), ShortField("capacity", 0)]


def _slot_cls(opt):
    if opt.flags.K:
        return IPIMPerfSlot
    return IPIMTopo6Slot if isinstance(opt, IPIM6Option) else IPIMTopo4Slot


def _next_slot_cls(opt, lst, cur, remain):
    if not remain:
        return None
    cls = _slot_cls(opt)
    return cls if len(remain) >= len(cls()) else conf.raw_layer  # a partial slot stays raw


# ---- the option, both carriers -----------------------------------------------------------------

def _body():
    """Fields after type and length."""
    return [BitField("version", VERSION, 4),
            FlagsField("flags", 0, 4, ["R", "K", "S", "O"]),  # 0x01 reserved .. 0x08 overflow
            ByteField("target_ttl", 0),
            ByteField("ttl_prime", 255),
            FlagsField("acc", 0, 4, ["R4", "R5", "Q", "C"]),  # 0x40 queue, 0x80 capacity unavail.
            BitField("next_slot", 0, 4),
            XIntField("evolution", 0),
            XShortField("min_capacity", CAP_MAX),
            ShortField("reserved", 0),
            IntField("queue_sum_us", 0),
            PacketListField("slots", [], next_cls_cb=_next_slot_cls,
                            length_from=lambda p: p.whole_len() - HDR_LEN)]


class IPIM4Option(IPOption):
    name = "IPIM (IPv4 option 0x5E)"
    copy_flag = 0
    optclass = 2
    option = 30  # registered with IPOption by scapy's metaclass (register_variant)
    fields_desc = [_IPOption_HDR,
                   FieldLenField("length", None, fmt="B", length_of="slots",
                                 adjust=lambda p, n: n + HDR_LEN)] + _body()

    def whole_len(self):
        return self.length


class IPIM6Option(Packet):
    name = "IPIM (IPv6 Hop-by-Hop option 0x3E)"
    fields_desc = [_OTypeField("otype", IP6_TYPE, inet6._hbhopts),
                   FieldLenField("optlen", None, fmt="B", length_of="slots",
                                 adjust=lambda p, n: n + HDR_LEN - 2)] + _body()

    def whole_len(self):
        return self.optlen + 2

    def alignment_delta(self, curpos):  # 4n+2: the data and every slot start 4-aligned
        return (2 - curpos) % 4

    def extract_padding(self, s):
        return b"", s


inet6._hbhopts[IP6_TYPE] = "IPIM"
inet6._hbhoptcls[IP6_TYPE] = IPIM6Option


def _new(cls, ip6, slots, perf, target, ttl_prime, evolution, sample, limit):
    n = HDR_LEN + slots * slot_size(perf, ip6)
    if not 0 <= slots <= MAX_SLOTS or n > limit:
        raise ValueError("%d %s slots do not fit (%d bytes, limit %d)"
                         % (slots, "performance" if perf else "topology", n, limit))
    if evolution is None:
        evolution = random.getrandbits(32)
    flags = (0x02 if perf else 0) | (0x04 if sample else 0)
    opt = cls(flags=flags, target_ttl=target, ttl_prime=ttl_prime, evolution=evolution)
    opt.slots = [_slot_cls(opt)() for _ in range(slots)]
    return opt


def ipim4(slots=1, perf=False, target=0, ttl_prime=255, evolution=None, sample=True):
    """A fresh IPv4 option as a sender builds it. Use ip4_options() to pad it with NOPs."""
    return _new(IPIM4Option, False, slots, perf, target, ttl_prime, evolution, sample, IP4_MAX)


def ipim6(slots=1, perf=False, target=0, ttl_prime=255, evolution=None, sample=True):
    """A fresh IPv6 option; the option data length is one byte, so 257 bytes at most."""
    return _new(IPIM6Option, True, slots, perf, target, ttl_prime, evolution, sample, 257)


def ip4_options(*opts):
    """The options padded with NOPs to a multiple of 4, as a sender does: IP(options=...)."""
    n = sum(len(o) for o in opts)
    return list(opts) + [IPOption_NOP() for _ in range(-n % 4)]


def stamp(opt, ttl, triggered=False, **fields):
    """Write the next free slot as a hop does (W, P as K, T if triggered) or set O if none."""
    if opt.next_slot >= len(opt.slots):
        opt.flags |= 0x08
        return opt
    s = _slot_cls(opt)(ttl=ttl, **fields)
    s.flags = 0x8 | (0x4 if opt.flags.K else 0) | (0x2 if triggered else 0)
    opt.slots[opt.next_slot] = s
    opt.next_slot += 1
    return opt


# ---- the end-to-end block ----------------------------------------------------------------------

def _option_from_bytes(b, **kw):
    if b and b[0] == IP6_TYPE:
        return IPIM6Option(b, **kw)
    if b and b[0] == IP4_TYPE:
        return IPIM4Option(b, **kw)
    return Raw(b, **kw)


def _is_echo(p):
    return p.type == 2


class IPIMEndToEnd(Packet):
    name = "IPIM end-to-end block"
    fields_desc = [StrFixedLenField("magic", MAGIC, 4),
                   ByteField("version", VERSION),
                   ByteEnumField("type", 1, {1: "probe", 2: "echo"}),
                   ShortField("host_id", 0),
                   IntField("seq", 0),
                   IntField("nonce", 0),
                   IntField("nonce_sum_echo", 0),
                   IntField("t_us", 0),
                   IntField("t_echo_us", 0),
                   IntField("delta_us", 0),
                   XShortField("coverage", 0),
                   ByteEnumField("mode", 0, {0: "plain", 1: "sender salt", 2: "shared salt"}),
                   ByteField("reserved", 0),
                   XStrFixedLenField("hash", b"\0" * 8, 8),
                   XStrFixedLenField("hash_echo", b"\0" * 8, 8),
                   ConditionalField(ByteField("rx_ttl", 0), _is_echo),
                   ConditionalField(ByteField("rx_tos", 0), _is_echo),
                   ConditionalField(FieldLenField("option_len", None, fmt="H",
                                                  length_of="option"), _is_echo),
                   ConditionalField(PacketLenField("option", None, _option_from_bytes,
                                                   length_from=lambda p: p.option_len),
                                    _is_echo)]


_udp_guess = UDP.guess_payload_class


def _udp_guess_ipim(self, payload):
    if payload[:4] == MAGIC and len(payload) >= E2E_LEN:
        return IPIMEndToEnd
    return _udp_guess(self, payload)


UDP.guess_payload_class = _udp_guess_ipim


def e2e(pkt):
    """The end-to-end block of a packet (dissected from its UDP payload if need be), or None."""
    if IPIMEndToEnd in pkt:
        return pkt[IPIMEndToEnd]
    if UDP in pkt:
        b = bytes(pkt[UDP].payload)
        if b[:4] == MAGIC and len(b) >= E2E_LEN:
            return IPIMEndToEnd(b)
    return None


# ---- decode: raw bytes -> plain python ---------------------------------------------------------

def _ip_text(b):
    """inet_ntop(3) text, as tshark and C show it (::ffff:10.0.0.1, not ::ffff:a00:1)."""
    return socket.inet_ntop(socket.AF_INET6 if len(b) == 16 else socket.AF_INET, bytes(b))


def _decode_slot(b, i, perf, ip6):
    ttl, fl = b[0], b[1]
    d = {"index": i, "ttl": ttl, "written": bool(fl & 0x80), "perf": bool(fl & 0x40),
         "triggered": bool(fl & 0x20), "unavailable": fl & 0x0F}
    if perf:
        d.update(level=b[2], time_us=struct.unpack_from("!I", b, 4)[0],
                 queue_us=struct.unpack_from("!I", b, 8)[0],
                 avail_capacity=struct.unpack_from("!H", b, 12)[0],
                 capacity=struct.unpack_from("!H", b, 14)[0])
    else:
        a = 16 if ip6 else 4
        d.update(router_id=_ip_text(b[4:8]), **{"as": struct.unpack_from("!I", b, 8)[0]},
                 ingress=_ip_text(b[12:12 + a]), egress=_ip_text(b[12 + a:12 + 2 * a]))
    return d


def decode_option(b, avail=None):
    """Decode one option from `b` (type byte first). `avail`: the bytes its container holds from
    the type byte on (default len(b)); an option longer than that is "short"."""
    b = bytes(b)
    avail = len(b) if avail is None else min(avail, len(b))
    ip6 = b[0] == IP6_TYPE
    d = dict.fromkeys(OPTION_KEYS)
    d["carrier"], d["slots"] = ("ipv6" if ip6 else "ipv4"), []
    if avail < 2:
        d["malformed"] = "short"
        return d
    n = b[1] + 2 if ip6 else b[1]
    if n < HDR_LEN or n > avail:
        d["malformed"] = "short"
        return d
    b = b[:n]
    evo, mincap, _, qsum = struct.unpack_from("!IHHI", b, 6)
    perf = bool(b[2] & 0x02)
    d.update(version=b[2] >> 4, overflow=bool(b[2] & 0x08), sample=bool(b[2] & 0x04),
             perf=perf, target_ttl=b[3], ttl_prime=b[4], cap_unavailable=bool(b[5] & 0x80),
             queue_unavailable=bool(b[5] & 0x40), next_slot=b[5] & 0x0F, evolution=evo,
             min_capacity=mincap, queue_sum_us=qsum)
    size = slot_size(perf, ip6)
    count = (n - HDR_LEN) // size
    if d["version"] != VERSION:
        d["malformed"] = "version"
    elif (n - HDR_LEN) % size or count > MAX_SLOTS:
        d["malformed"] = "slot_size"
    elif d["next_slot"] > count:
        d["malformed"] = "pointer"
    else:
        d["slots"] = [_decode_slot(b[HDR_LEN + i * size:HDR_LEN + (i + 1) * size], i, perf, ip6)
                      for i in range(count)]
    return d


def find_option4(hdr):
    """(offset, avail) of the first 0x5E option in an IPv4 header's bytes, or None."""
    end = min(len(hdr), (hdr[0] & 0x0F) * 4)
    i = 20
    while i < end:
        t = hdr[i]
        if t == 0:
            return None
        if t == 1:
            i += 1
            continue
        if t == IP4_TYPE:
            return i, end - i
        if i + 1 >= end or hdr[i + 1] < 2:
            return None  # a broken option list: no option found
        i += hdr[i + 1]
    return None


def find_option6(hbh):
    """(offset, avail) of the first 0x3E option in a Hop-by-Hop header's bytes, or None."""
    end = min(len(hbh), (hbh[1] + 1) * 8) if len(hbh) >= 2 else 0
    i = 2
    while i < end:
        t = hbh[i]
        if t == IP6_TYPE:
            return i, end - i
        if t == 0:
            i += 1
        elif i + 1 >= end:
            return None
        else:
            i += hbh[i + 1] + 2
    return None


def _outer_ip(pkt):
    """The outermost IP or IPv6 header: ("ipv4"|"ipv6", layer)."""
    layer = pkt
    while layer and not isinstance(layer, conf.raw_layer):
        if isinstance(layer, (IP, IPv6)):
            return layer
        layer = layer.payload
    return None


def decode(pkt):
    """The IPIM option of a packet (or an option layer, or option bytes) as a dict; None if the
    packet carries none. The outermost IP header's option is decoded."""
    if isinstance(pkt, (bytes, bytearray)):
        return decode_option(pkt)
    if isinstance(pkt, (IPIM4Option, IPIM6Option)):
        return decode_option(bytes(pkt))
    ip = _outer_ip(pkt)
    if isinstance(ip, IP):
        raw = bytes(ip)
        found = find_option4(raw)
        return decode_option(raw[found[0]:], found[1]) if found else None
    if isinstance(ip, IPv6) and ip.nh == 0:
        raw = bytes(ip)[40:]
        found = find_option6(raw)
        return decode_option(raw[found[0]:], found[1]) if found else None
    return None


def decode_e2e(pkt):
    """The end-to-end block as a dict (E2E_KEYS), from a packet or the block's bytes; None when
    the UDP payload does not start with the magic. Probe: the echo keys are None; an echo
    without an option (n = 0): option_bytes and option are None."""
    if isinstance(pkt, (bytes, bytearray)):
        b = bytes(pkt)
    else:
        blk = e2e(pkt)
        if blk is None:
            return None
        b = bytes(blk)
    if b[:4] != MAGIC:
        return None
    d = dict.fromkeys(E2E_KEYS)
    if len(b) < E2E_LEN:
        d["malformed"] = "short"
        return d
    (d["version"], d["type"], d["host_id"], d["seq"], d["nonce"], d["nonce_sum_echo"],
     d["t_us"], d["t_echo_us"], d["delta_us"], d["coverage"], d["mode"]) = \
        struct.unpack_from("!BBHIIIIIIHB", b, 4)
    d["hash"], d["hash_echo"] = b[36:44].hex(), b[44:52].hex()
    if d["type"] != 2:
        return d
    if len(b) < ECHO_LEN:
        d["malformed"] = "short"
        return d
    d["rx_ttl"], d["rx_tos"], n = struct.unpack_from("!BBH", b, 52)
    d["option_len"] = n
    opt = b[ECHO_LEN:ECHO_LEN + n]
    if len(opt) < n:
        d["malformed"] = "short"
    elif n:
        d["option_bytes"] = opt.hex()
        if opt[0] in (IP4_TYPE, IP6_TYPE):
            d["option"] = decode_option(opt)
    return d

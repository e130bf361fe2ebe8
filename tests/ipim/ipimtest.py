"""Shared by the tests in tests/ipim: checks that print what they compare, packets built byte by
byte, and sample options. Importing it puts tools/scapy on sys.path."""
import os
import struct
import sys
import traceback

ROOT = os.environ.get("PATHLAB_SOURCE_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "scapy"))

import ipim  # noqa: E402
from scapy.utils import checksum  # noqa: E402

failures = []


def check(name, ok, detail=""):
    print("%s: %s%s" % ("ok" if ok else "FAIL", name, "" if ok else "\n    " + detail))
    if not ok:
        failures.append(name)
    return ok


def eq(name, got, want):
    if got == want:
        shown = repr(got)
        return check(name + ": " + (shown if len(shown) < 90 else shown[:86] + " ..."), True)
    return check(name, False, "got  %r\n    want %r" % (got, want))


def raises(name, exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return check("%s (%s)" % (name, e), True)
    return check(name, False, "no %s raised" % exc.__name__)


def run(tests, filename):
    """Run every test_* function in `tests`; 0 when all checks passed."""
    for name in sorted(n for n in tests if n.startswith("test_")):
        print("== %s" % name)
        try:
            tests[name]()
        except Exception:
            traceback.print_exc()
            failures.append(name + " raised")
    print("%s: %s" % (filename, "%d FAILED: %s" % (len(failures), ", ".join(failures))
                      if failures else "all checks passed"))
    return 1 if failures else 0


SRC4, DST4 = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 9])
SRC6 = bytes.fromhex("20010db8000000000000000000000001")
DST6 = bytes.fromhex("20010db8000000010000000000000009")


def _udp(payload, sport=40000, dport=33434):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def ip4_raw(opt, payload=b"", ttl=64, sport=40000, dport=33434):
    """IPv4 + UDP whose options area is `opt`, NOP-padded to 4n (40 bytes at most)."""
    opt = bytes(opt) + b"\x01" * (-len(opt) % 4)
    udp = _udp(payload, sport, dport)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45 + len(opt) // 4, 0, 20 + len(opt) + len(udp), 1, 0,
                      ttl, 17, 0, SRC4, DST4) + opt
    return hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:] + udp


def ip6_raw(opt, payload=b"", hlim=64, sport=40000, dport=33434):
    """IPv6 + Hop-by-Hop(`opt` at offset 2, PadN to 8n) + UDP."""
    hbh = b"\x11\x00" + bytes(opt)
    pad = -len(hbh) % 8
    hbh += b"\x00" if pad == 1 else (bytes([1, pad - 2]) + bytes(pad - 2) if pad else b"")
    hbh = hbh[:1] + bytes([len(hbh) // 8 - 1]) + hbh[2:]
    rest = hbh + _udp(payload, sport, dport)
    return struct.pack("!IHBB16s16s", 0x60000000, len(rest), 0, hlim, SRC6, DST6) + rest


def ether(raw):
    """An Ethernet frame around an IPv4 or IPv6 packet's bytes."""
    ethertype = 0x86DD if raw[0] >> 4 == 6 else 0x0800
    return bytes.fromhex("020000000002020000000001") + struct.pack("!H", ethertype) + raw


def sample_options():
    """(name, option) in many states, both carriers and kinds."""
    out = []
    o = ipim.ipim4(ttl_prime=64, evolution=0x01020304)
    out.append(("v4 topology fresh", o))
    o = ipim.ipim4(perf=True, target=3, ttl_prime=0, evolution=0xffffffff, sample=False)
    out.append(("v4 performance fresh", o))
    o = ipim.ipim4(ttl_prime=64, evolution=7)
    o.ttl_prime, o.min_capacity, o.queue_sum_us = 63, ipim.cap_encode(1e8), 1500
    ipim.stamp(o, 64, router_id="192.0.2.1", asn=64512, ingress="10.0.0.1", egress="10.0.1.1")
    out.append(("v4 topology stamped", o))
    o = ipim.ipim4(perf=True, target=62, evolution=0x80000000)
    o.acc, o.queue_sum_us = 0xC, 0xFFFFFFFE
    ipim.stamp(o, 62, triggered=True, level=17, time_us=123456789, queue_us=0xFFFFFFFF,
               avail_capacity=ipim.cap_encode(4e7), capacity=ipim.cap_encode(1e9),
               unavailable=0x4)
    out.append(("v4 performance stamped, C and Q unavailable", o))
    o = ipim.ipim4(ttl_prime=1)
    ipim.stamp(o, 9, router_id="255.255.255.255", asn=0xFFFFFFFF, ingress="10.9.9.9",
               egress="255.255.255.255", unavailable=0xD)
    ipim.stamp(o, 8)
    out.append(("v4 topology full, overflow", o))
    o = ipim.ipim6(slots=5, ttl_prime=64, evolution=0xabcdef01, target=60)
    ipim.stamp(o, 64, router_id="192.0.2.1", asn=1, ingress="2001:db8::1", egress="fe80::1")
    ipim.stamp(o, 60, triggered=True, router_id="192.0.2.2", asn=2,
               ingress="2001:db8:0:1::2", egress="::ffff:10.0.0.1")
    out.append(("v6 topology 5 slots, 2 stamped", o))
    o = ipim.ipim6(slots=14, perf=True, ttl_prime=200, evolution=0)
    for i in range(3):
        ipim.stamp(o, 64 - i, level=i * 100, time_us=4294967295 - i, queue_us=i * 1000,
                   avail_capacity=ipim.cap_encode(1e6 * (i + 1)), capacity=ipim.cap_encode(1e9))
    out.append(("v6 performance 14 slots, 3 stamped", o))
    out.append(("v6 performance 1 slot fresh", ipim.ipim6(perf=True, evolution=5)))
    return out


def malformed_cases():
    """(name, option bytes, the malformed value decode() gives)."""
    h = bytes.fromhex
    b4 = bytes(sample_options()[2][1])  # v4 topology stamped
    b6 = bytes(ipim.ipim6(slots=2, perf=True, evolution=3))
    return [
        ("v4 version 2", b4[:2] + h("24") + b4[3:], "version"),
        ("v4 version 0", b4[:2] + h("04") + b4[3:], "version"),
        ("v4 slot area 12 bytes", h("5e 1e") + b4[2:30], "slot_size"),
        ("v4 perf flag on a 20-byte slot", b4[:2] + h("16") + b4[3:], "slot_size"),
        ("v4 pointer 2 of 1 slot, C and Q set", b4[:5] + h("c2") + b4[6:], "pointer"),
        ("v4 pointer 15", b4[:5] + h("0f") + b4[6:], "pointer"),
        ("v4 length 17", h("5e 11") + b4[2:17], "short"),
        ("v4 length 2", h("5e 02"), "short"),
        ("v4 length 38 in a 24-byte area", b4[:24], "short"),
        ("v6 slot area 40 bytes", h("3e 38") + b6[2:] + bytes(8), "slot_size"),
        ("v6 topology flag, 32-byte slot area", b6[:2] + h("14") + b6[3:], "slot_size"),
        ("v6 pointer 3 of 2", b6[:5] + h("03") + b6[6:], "pointer"),
        ("v6 version 15", b6[:2] + h("f6") + b6[3:], "version"),
        ("v6 length 16", h("3e 0e") + b6[2:16], "short"),
    ]


def packet_for(opt, payload=b"", **kw):
    """IPv4 or IPv6 packet bytes carrying the option bytes `opt` (by its type byte)."""
    return (ip6_raw if opt[0] == ipim.IP6_TYPE else ip4_raw)(opt, payload, **kw)

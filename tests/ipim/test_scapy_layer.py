#!/usr/bin/python3
"""tools/scapy/ipim.py against bytes written by hand from docs/ipim.md: fresh and stamped
options in both carriers, IPv6 Hop-by-Hop alignment, round trips, the capacity code, the
end-to-end block and every kind of malformed option."""
import math
import os
import sys

import ipimtest as T  # noqa: E402  (puts tools/scapy on the path)
import ipim  # noqa: E402
from scapy.layers.inet import IP, UDP, IPOption_NOP, IPOption_Router_Alert  # noqa: E402
from scapy.layers.inet6 import (IPv6, IPv6ExtHdrHopByHop, HBHOptUnknown,  # noqa: E402
                                RouterAlert)
from scapy.layers.l2 import Ether  # noqa: E402

h = bytes.fromhex


def test_fresh_ip4():
    o = ipim.ipim4(ttl_prime=64, evolution=0x01020304)
    want = h("5e 26 14 00 40 00 01020304 fffe 0000 00000000") + bytes(20)
    T.eq("fresh IPv4 topology option (38 bytes)", bytes(o), want)
    ip = IP(src="192.0.2.1", dst="192.0.2.9", options=ipim.ip4_options(o)) / UDP()
    raw = bytes(ip)
    T.eq("IPv4 header: IHL 15", raw[0], 0x4F)
    T.eq("options area: the option and 2 NOPs", raw[20:60], want + h("01 01"))
    T.eq("fresh IPv4 performance option (34 bytes)",
         bytes(ipim.ipim4(perf=True, target=7, ttl_prime=9, evolution=0xfffffffe, sample=False)),
         h("5e 22 12 07 09 00 fffffffe fffe 0000 00000000") + bytes(16))
    T.raises("two IPv4 topology slots do not fit", ValueError, ipim.ipim4, slots=2)
    T.raises("16 slots never fit", ValueError, ipim.ipim6, slots=16, perf=True)
    T.raises("six IPv6 topology slots exceed 255 data bytes", ValueError, ipim.ipim6, slots=6)
    T.eq("five IPv6 topology slots fit (238 bytes)", len(ipim.ipim6(slots=5)), 238)
    T.eq("fourteen IPv6 performance slots fit (242 bytes)", len(ipim.ipim6(slots=14, perf=True)),
         242)


STAMPED4 = h("5e 26 14 00 3f 01 01020310 6a4d 0000 000005dc"
             "40 80 0000 c0000201 0000fc00 0a000001 0a000101")


def stamped4():
    o = ipim.ipim4(ttl_prime=64, evolution=0x01020304)
    o.ttl_prime -= 1
    o.evolution += 0x0c
    o.min_capacity = ipim.cap_encode(100e6)
    o.queue_sum_us = 1500
    ipim.stamp(o, 64, router_id="192.0.2.1", asn=64512, ingress="10.0.0.1", egress="10.0.1.1")
    return o


def test_stamped_ip4():
    o = stamped4()
    T.eq("stamped IPv4 option", bytes(o), STAMPED4)
    pkt = Ether(bytes(Ether() / IP(options=ipim.ip4_options(o)) / UDP(sport=4000, dport=4001)))
    got = pkt[IP].options[0]
    T.eq("dissected class", type(got).__name__, "IPIM4Option")
    T.eq("dissected slot class", type(got.slots[0]).__name__, "IPIMTopo4Slot")
    T.eq("dissected fields", (got.length, got.version, int(got.flags), got.ttl_prime,
                              got.next_slot, got.evolution, got.min_capacity, got.queue_sum_us),
         (38, 1, 0x4, 63, 1, 0x01020310, 27213, 1500))
    s = got.slots[0]
    T.eq("dissected slot", (s.ttl, int(s.flags), s.unavailable, s.router_id, s.asn, s.ingress,
                            s.egress), (64, 0x8, 0, "192.0.2.1", 64512, "10.0.0.1", "10.0.1.1"))
    T.eq("NOPs after the option", [type(x) for x in pkt[IP].options[1:]], [IPOption_NOP] * 2)
    d = ipim.decode(pkt)
    T.eq("decode(stamped IPv4)", d, {
        "carrier": "ipv4", "version": 1, "overflow": False, "sample": True, "perf": False,
        "target_ttl": 0, "ttl_prime": 63, "cap_unavailable": False, "queue_unavailable": False,
        "next_slot": 1, "evolution": 0x01020310, "min_capacity": 27213, "queue_sum_us": 1500,
        "slots": [{"index": 0, "ttl": 64, "written": True, "perf": False, "triggered": False,
                   "unavailable": 0, "router_id": "192.0.2.1", "as": 64512,
                   "ingress": "10.0.0.1", "egress": "10.0.1.1"}],
        "malformed": None})
    T.eq("decode keys", list(d), list(ipim.OPTION_KEYS))
    T.eq("decode(option bytes) == decode(packet)", ipim.decode(STAMPED4), d)
    # a second stamp finds no free slot: O set, nothing else changes
    o2 = ipim.stamp(stamped4(), 63)
    T.eq("overflow sets O only", bytes(o2), STAMPED4[:2] + h("1c") + STAMPED4[3:])
    # another option before it
    ip = IP(options=[IPOption_Router_Alert()] + ipim.ip4_options(ipim.ipim4(perf=True)))
    raw = bytes(ip)
    T.eq("router alert + 34-byte option + 2 NOP: IHL 15", raw[0] & 0xF, 15)
    T.eq("decode finds the option after another", ipim.decode(IP(raw))["perf"], True)


def test_ip6_alignment():
    o = ipim.ipim6(ttl_prime=64, evolution=0x0a0b0c0d)
    want_opt = h("3e 3c 14 00 40 00 0a0b0c0d fffe 0000 00000000") + bytes(44)
    T.eq("fresh IPv6 topology option (62 bytes)", bytes(o), want_opt)
    hbh = bytes(IPv6ExtHdrHopByHop(nh=17, options=[o]))
    T.eq("HBH: option at offset 2, 64 bytes, no padding", hbh, h("11 07") + want_opt)
    p = ipim.ipim6(perf=True, ttl_prime=64, evolution=1, sample=False)
    want_perf = h("3e 20 12 00 40 00 00000001 fffe 0000 00000000") + bytes(16)
    hbh = bytes(IPv6ExtHdrHopByHop(nh=17, options=[p]))
    T.eq("HBH: 34-byte option then PadN(2) to 40", hbh, h("11 04") + want_perf + h("01 02 0000"))
    # an odd-sized option first: Pad1 puts the type byte at 4n+2 again
    hbh = bytes(IPv6ExtHdrHopByHop(nh=17, options=[HBHOptUnknown(otype=0x1e, optdata=b"\x01"), p]))
    T.eq("HBH: 3-byte option, Pad1, option at offset 6", hbh,
         h("11 04 1e 01 01 00") + want_perf)
    hbh = bytes(IPv6ExtHdrHopByHop(nh=17, options=[RouterAlert(), o]))
    T.eq("HBH: router alert (4), option at 6, PadN(4) to 72", hbh,
         h("11 08 05 02 0000") + want_opt + h("01 02 0000"))
    pkt = Ether(bytes(Ether() / IPv6(hlim=9) / IPv6ExtHdrHopByHop(options=[RouterAlert(), o])
                      / UDP()))
    got = pkt[IPv6ExtHdrHopByHop].options[1]
    T.eq("dissected IPv6 class", type(got).__name__, "IPIM6Option")
    T.eq("dissected IPv6 slot class", type(got.slots[0]).__name__, "IPIMTopo6Slot")
    T.eq("decode(IPv6 fresh)", ipim.decode(pkt)["slots"],
         [{"index": 0, "ttl": 0, "written": False, "perf": False, "triggered": False,
           "unavailable": 0, "router_id": "0.0.0.0", "as": 0, "ingress": "::", "egress": "::"}])


def test_stamped_ip6():
    o = ipim.ipim6(slots=2, ttl_prime=64, evolution=0x0a0b0c0d, target=61, sample=False)
    ipim.stamp(o, 61, triggered=True, router_id="198.51.100.1", asn=4200000000,
               ingress="2001:db8::1", egress="ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
               unavailable=0x1)
    slot = h("3d a1 0000 c6336401 fa56ea00 20010db8000000000000000000000001") + b"\xff" * 16
    T.eq("stamped IPv6 topology option", bytes(o),
         h("3e 68 10 3d 40 01 0a0b0c0d fffe 0000 00000000") + slot + bytes(44))
    d = ipim.decode(IPv6(bytes(IPv6() / IPv6ExtHdrHopByHop(options=[o]) / UDP())))
    T.eq("decode(stamped IPv6) slot 0", d["slots"][0],
         {"index": 0, "ttl": 61, "written": True, "perf": False, "triggered": True,
          "unavailable": 1, "router_id": "198.51.100.1", "as": 4200000000,
          "ingress": "2001:db8::1", "egress": "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"})
    p = ipim.ipim6(slots=3, perf=True, evolution=0)
    ipim.stamp(p, 33, level=254, time_us=0xdeadbeef, queue_us=0xfffffffe,
               avail_capacity=0xffff, capacity=ipim.cap_encode(10e9), unavailable=0x2)
    slot = h("21 c2 fe 00 deadbeef fffffffe ffff") + ipim.cap_encode(10e9).to_bytes(2, "big")
    T.eq("stamped IPv6 performance option", bytes(p),
         h("3e 40 16 00 ff 01 00000000 fffe 0000 00000000") + slot + bytes(32))
    d = ipim.decode(p)
    T.eq("decode(performance) slot 0", d["slots"][0],
         {"index": 0, "ttl": 33, "written": True, "perf": True, "triggered": False,
          "unavailable": 2, "level": 254, "time_us": 0xdeadbeef, "queue_us": 0xfffffffe,
          "avail_capacity": 0xffff, "capacity": ipim.cap_encode(10e9)})
    T.eq("decode(performance) slots", len(d["slots"]), 3)


def test_round_trips():
    for name, o in T.sample_options():
        built = ipim.decode(o)
        if o.__class__.__name__ == "IPIM4Option":
            pkt = IP(bytes(IP(options=ipim.ip4_options(o)) / UDP()))
        else:
            pkt = IPv6(bytes(IPv6() / IPv6ExtHdrHopByHop(options=[o]) / UDP()))
        T.eq("round trip %s: decode(dissect(bytes)) == decode(built)" % name,
             ipim.decode(pkt), built)
        T.eq("round trip %s: bytes(dissected) == bytes(built)" % name,
             bytes(pkt), bytes(pkt.__class__(bytes(pkt))))


def test_capacity():
    T.eq("100 Mbit/s", ipim.cap_encode(100e6), 27213)
    T.eq("100 Mbit/s = round(1024*log2(1e8))", ipim.cap_encode(1e8), round(1024 * math.log2(1e8)))
    T.eq("1 Gbit/s", ipim.cap_encode(1e9), 30615)
    T.eq("10 Gbit/s", ipim.cap_encode(10e9), 34017)
    T.eq("2 bit/s", ipim.cap_encode(2), 1024)
    T.eq("below 2 bit/s", [ipim.cap_encode(x) for x in (0, 1, 1.999, -5)], [0, 0, 0, 0])
    T.eq("huge saturates at 0xfffe", [ipim.cap_encode(x) for x in (2.0 ** 64, 1e30)],
         [0xFFFE, 0xFFFE])
    T.eq("decode 1024", ipim.cap_decode(1024), 2.0)
    T.eq("decode 0 and 0xffff", (ipim.cap_decode(0), ipim.cap_decode(0xFFFF)), (0.0, None))
    worst = max(abs(ipim.cap_decode(ipim.cap_encode(x)) / x - 1)
                for x in (3, 1e3, 56e3, 1.5e6, 1e8, 1e9, 4e10, 1.23e14))
    T.check("round trip error %.6f%% <= 0.034%%" % (worst * 100), worst <= 0.00034)
    codes = [ipim.cap_encode(x) for x in (1e6, 2e6, 5e6, 1e7)]
    T.eq("monotonic", codes, sorted(codes))


def test_malformed():
    for name, opt, want in T.malformed_cases():
        pkt = (IPv6 if opt[0] == 0x3e else IP)(T.packet_for(opt))
        d = ipim.decode(pkt)
        T.eq("%s -> malformed" % name, (d["carrier"], d["malformed"], d["slots"]),
             ("ipv6" if opt[0] == 0x3e else "ipv4", want, []))
        T.check("scapy dissects %s without error (%d bytes)" % (name, len(pkt)), bytes(pkt))
    base = bytes(stamped4())
    d = ipim.decode(base[:5] + h("c2") + base[6:])
    T.eq("pointer: header still decoded", (d["cap_unavailable"], d["queue_unavailable"],
                                           d["next_slot"], d["ttl_prime"]), (True, True, 2, 63))
    d = ipim.decode(h("5e 11") + base[2:17])
    T.eq("short: only carrier and malformed", {k: v for k, v in d.items() if v not in (None, [])},
         {"carrier": "ipv4", "malformed": "short"})
    opt = h("5e 30") + base[2:] + bytes(10)
    T.eq("a 30-byte IPv4 slot area (bytes only: 48 > 40)", ipim.decode(opt)["malformed"],
         "slot_size")
    raw = bytearray(T.ip6_raw(bytes(ipim.ipim6(slots=2, perf=True))))
    raw[40 + 3] = 250
    T.eq("IPv6 option past its HBH header -> short", ipim.decode(IPv6(bytes(raw)))["malformed"],
         "short")
    T.eq("no option -> None", (ipim.decode(IP() / UDP()), ipim.decode(IPv6() / UDP())),
         (None, None))
    T.eq("a broken option list before it -> None",
         ipim.decode(IP(T.ip4_raw(h("07 01") + base))), None)


def test_e2e():
    probe = ipim.IPIMEndToEnd(host_id=0xbeef, seq=5, nonce=0x11111111, nonce_sum_echo=0x22222222,
                              t_us=1000, t_echo_us=900, delta_us=50, coverage=0x00ff, mode=1,
                              hash=bytes(range(1, 9)), hash_echo=bytes(8))
    want = (b"IPIM" + h("01 01 beef 00000005 11111111 22222222 000003e8 00000384 00000032"
                        "00ff 01 00 0102030405060708 0000000000000000"))
    T.eq("probe block (52 bytes)", bytes(probe), want)
    pkt = Ether(bytes(Ether() / IP() / UDP(sport=53, dport=53) / probe))
    T.check("magic wins over port 53 (DNS)", ipim.IPIMEndToEnd in pkt)
    d = ipim.decode_e2e(pkt)
    T.eq("decode_e2e(probe)", d, {
        "version": 1, "type": 1, "host_id": 0xbeef, "seq": 5, "nonce": 0x11111111,
        "nonce_sum_echo": 0x22222222, "t_us": 1000, "t_echo_us": 900, "delta_us": 50,
        "coverage": 0xff, "mode": 1, "hash": "0102030405060708", "hash_echo": "0000000000000000",
        "rx_ttl": None, "rx_tos": None, "option_len": None, "option_bytes": None, "option": None,
        "malformed": None})
    echo = ipim.IPIMEndToEnd(type=2, seq=5, rx_ttl=57, rx_tos=0xb8, option=stamped4())
    raw = bytes(echo)
    T.eq("echo block: 56 + 38 bytes", len(raw), 94)
    T.eq("echo tail", raw[52:], h("39 b8 0026") + STAMPED4)
    d = ipim.decode_e2e(Ether(bytes(Ether() / IPv6() / UDP(sport=33434, dport=40000) / echo)))
    T.eq("decode_e2e(echo) option", d["option"], ipim.decode(STAMPED4))
    T.eq("decode_e2e(echo) rx", (d["rx_ttl"], d["rx_tos"], d["option_len"], d["option_bytes"]),
         (57, 0xb8, 38, STAMPED4.hex()))
    e = ipim.e2e(UDP(bytes(UDP(sport=1, dport=2) / raw)))
    T.eq("e2e() on a dissected UDP packet", type(e.option).__name__, "IPIM4Option")
    d = ipim.decode_e2e(ipim.IPIMEndToEnd(type=2))
    T.eq("echo without option", (d["option_len"], d["option_bytes"], d["option"]), (0, None, None))
    d = ipim.decode_e2e(raw[:70])
    T.eq("echo cut inside its option -> short", (d["malformed"], d["option"]), ("short", None))
    T.eq("block under 52 bytes -> short", ipim.decode_e2e(raw[:40])["malformed"], "short")
    T.eq("no magic -> None", ipim.decode_e2e(IP() / UDP() / (b"IPIX" + bytes(60))), None)


if __name__ == "__main__":
    sys.exit(T.run(globals(), os.path.basename(__file__)))

#!/usr/bin/python3
"""pathlab-stamped captures through every decoder. `pathlab replay` runs probes (IPv4 and IPv6,
topology and performance slots, sampled and triggered, a full option, a malformed one) through a
router whose egress has an IPIM hop before a 100 Mbit/s link; then
- the stamps are what the hop knows: router id, AS, ingress and egress addresses, TTL' - 1,
  evolution + offset, the link's capacity code, the capture's time (one packet per burst), and
  zero queue for packets that find the link idle;
- the scapy layer (tools/scapy/ipim.py), tshark with tools/wireshark/ipim.lua and
  `pathlab-probe decode --json` read the output field for field the same.
A missing pathlab, pathlab-probe or tshark is a failure."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ipimtest as T  # noqa: E402
import test_tshark_lua as TL  # noqa: E402
from ipimtest import ipim  # noqa: E402

sys.path.insert(0, os.path.join(T.ROOT, "scripts"))
from lablib.runner import find_pathlab  # noqa: E402

from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402
from scapy.utils import PcapReader, PcapWriter  # noqa: E402

T0 = 1_700_000_000_000_000_000   # the first arrival, ns since the epoch
GAP = 1_000_000                  # 1 ms between probes: the 100 Mbit/s link is idle for each
OFFSET = 0x01020304
RATE = 100_000_000
CONFIG = f"""\
process: {{burst: 1}}
routers:
  - id: r1
    asn: 64500
    ipim: {{router_id: 10.255.0.1, sample: 1, evolution_offset: {OFFSET}}}
    ports:
      - {{name: p0, device: d0, mac: "02:00:00:00:00:01", ipv4: 10.0.0.1/24, ipv6: "2001:db8::1/64"}}
      - name: p1
        device: d1
        mac: "02:00:00:00:01:01"
        ipv4: 10.0.1.1/24
        ipv6: "2001:db8:1::1/64"
        link: {{rate: 100mbit}}
    routes:
      - {{prefix: 10.9.0.0/16, via: 10.0.1.2}}
      - {{prefix: "2001:db8:9::/48", via: "2001:db8:1::2"}}
    neighbours:
      - {{port: p1, ip: 10.0.1.2, mac: "02:00:00:00:01:02"}}
      - {{port: p1, ip: "2001:db8:1::2", mac: "02:00:00:00:01:02"}}
"""
E = dict(src="02:00:00:00:00:02", dst="02:00:00:00:00:01")


def probes():
    """(name, frame, option as sent) with TTL 64: the hop sees arrival TTL 64."""
    out = []
    for ip6 in (False, True):
        fam = "v6" if ip6 else "v4"
        for name, kw in (("topo sampled", dict(perf=False, sample=True)),
                         ("perf sampled", dict(perf=True, sample=True)),
                         ("topo triggered", dict(perf=False, sample=False, target=64)),
                         ("perf triggered", dict(perf=True, sample=False, target=64)),
                         ("not asked", dict(perf=False, sample=False, target=9))):
            make = ipim.ipim6 if ip6 else ipim.ipim4
            o = make(slots=1, ttl_prime=100, evolution=0xFFFFFF00, **kw)
            if ip6:
                pkt = Ether(**E) / IPv6(src="2001:db8::2", dst="2001:db8:9::9", hlim=64) / \
                    IPv6ExtHdrHopByHop(options=[o]) / UDP(sport=40000, dport=33434) / Raw(b"p" * 8)
            else:
                pkt = Ether(**E) / IP(src="10.0.0.2", dst="10.9.0.9", ttl=64,
                                      options=ipim.ip4_options(o)) / \
                    UDP(sport=40000, dport=33434) / Raw(b"p" * 8)
            out.append((f"{fam} {name}", pkt))
    full = ipim.ipim4(slots=1, sample=True)
    full = ipim.stamp(full, 70, router_id="10.255.0.9")
    out.append(("v4 full: overflow", Ether(**E) / IP(src="10.0.0.2", dst="10.9.0.9", ttl=64,
                                                      options=ipim.ip4_options(full)) / UDP() / Raw(b"f")))
    return out


def replay(binary, cfg, inp, out):
    cmd = [binary, "replay", "--config", cfg, "--in", inp, "--out", out, "--json"]
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    T.check("pathlab replay exits 0", cp.returncode == 0, cp.stderr[-2000:])
    return json.loads(cp.stdout.strip().splitlines()[-1]) if cp.returncode == 0 else None


def check_stamps(name, sent, got, ts_ns):
    s = ipim.decode(sent)
    g = ipim.decode(got)
    T.eq(f"{name}: TTL' - 1", g["ttl_prime"], (s["ttl_prime"] - 1) % 256)
    T.eq(f"{name}: evolution + offset", g["evolution"], (s["evolution"] + OFFSET) % 2**32)
    # Available capacity: the rate less the link's departure-rate EWMA (these probes use a little).
    avail = ipim.cap_decode(g["min_capacity"])
    T.check(f"{name}: min capacity {avail:.0f} bit/s: the link's available, 95..100% of its rate",
            0.95 * RATE <= avail <= RATE * 1.0004)
    T.eq(f"{name}: queue sum: an idle link", (g["queue_sum_us"], g["queue_unavailable"]), (0, False))
    asked = s["sample"] or s["target_ttl"] == 64
    if "overflow" in name:
        T.eq(f"{name}: overflow set, slot kept", (g["overflow"], g["slots"]), (True, s["slots"]))
        return
    T.eq(f"{name}: next slot", g["next_slot"], 1 if asked else 0)
    if not asked:
        T.eq(f"{name}: slot untouched", g["slots"], s["slots"])
        return
    slot = g["slots"][0]
    v6 = g["carrier"] == "ipv6"
    T.eq(f"{name}: slot head", (slot["ttl"], slot["written"], slot["triggered"], slot["unavailable"]),
         (64, True, s["target_ttl"] == 64, 0))
    if g["perf"]:
        T.eq(f"{name}: performance tuple",
             (slot["level"], slot["time_us"], slot["queue_us"], slot["capacity"], slot["avail_capacity"]),
             (0, (ts_ns // 1000) % 2**32, 0, ipim.cap_encode(RATE), g["min_capacity"]))
    else:
        T.eq(f"{name}: topology tuple", (slot["router_id"], slot["as"], slot["ingress"], slot["egress"]),
             ("10.255.0.1", 64500, "2001:db8::1" if v6 else "10.0.0.1",
              "2001:db8:1::1" if v6 else "10.0.1.1"))


def probe_binary():
    root = os.environ.get("PATHLAB_BUILD_ROOT") or os.path.join(T.ROOT, "build")
    return os.path.join(root, "apps", "pathlab-probe")


def test_replay_decoders():
    binary = find_pathlab()
    if not T.check("pathlab built", binary is not None):
        return
    probe = probe_binary()
    T.check("pathlab-probe built", os.access(probe, os.X_OK), probe)
    T.check("tshark on PATH", shutil.which("tshark") is not None)
    with tempfile.TemporaryDirectory(prefix="ipim-replay-") as tmp:
        cfg = os.path.join(tmp, "r.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG)
        cases = probes()
        inp = os.path.join(tmp, "in.pcap")
        with PcapWriter(inp, nano=True, sync=True) as w:
            for i, (_, pkt) in enumerate(cases):
                pkt.time = (T0 + i * GAP) / 1e9
                w.write(pkt)
        summary = replay(binary, cfg, inp, os.path.join(tmp, "out.pcap"))
        if summary is None:
            return
        outp = os.path.join(tmp, "out.r1.p1.pcap")
        got = list(PcapReader(outp))
        arrivals = [int(p.time * 10**9) for p in PcapReader(inp)]
        T.eq("every probe leaves p1", len(got), len(cases))
        for (name, sent), pkt, ts in zip(cases, got, arrivals):
            check_stamps(name, sent, pkt, ts)
        named = [(name, pkt) for (name, _), pkt in zip(cases, got)]
        TL.run_json(outp, named, "tshark on pathlab's output")
        if os.access(probe, os.X_OK):
            cp = subprocess.run([probe, "decode", outp, "--json"], capture_output=True, text=True,
                                timeout=60)
            T.check("pathlab-probe decode exits 0", cp.returncode == 0, cp.stderr[-2000:])
            decoded = json.loads(cp.stdout) if cp.returncode == 0 else []
            T.eq("pathlab-probe decodes every frame", len(decoded), len(got))
            for (name, pkt), d in zip(named, decoded):
                mine = {k: d.get(k) for k in ipim.OPTION_KEYS}
                T.eq(f"pathlab-probe decode, {name}: == decode()", mine, ipim.decode(pkt))


if __name__ == "__main__":
    sys.exit(T.run(globals(), os.path.basename(__file__)))

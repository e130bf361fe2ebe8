#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) from the scapy test
frames a normal build writes (BUILD/tests/stages/*_frames.json, tests/router/router_frames.json,
tests/net/icmp_refs.json) and from the repository's YAML files. Deterministic; a few hundred
files in all. Usage: make_corpus.py [BUILD]  (default: <repo>/build)"""
import glob
import hashlib
import ipaddress
import json
import os
import random
import re
import shutil
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build")
OUT = os.path.join(HERE, "corpus")
rng = random.Random(12)


def load(path):
    with open(path) as f:
        return json.load(f)


def write(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def sample(items, n):
    items = sorted(set(items))
    return items if len(items) <= n else rng.sample(items, n)


# Frames per stage corpus: "in" and "out" of every case.
stage_frames = {}
for path in sorted(glob.glob(os.path.join(BUILD, "tests/stages/*_frames.json"))):
    kind = os.path.basename(path)[: -len("_frames.json")]
    frames = []
    for case in load(path).values():
        for field in ("in", "out"):
            if isinstance(case.get(field), str) and case[field]:
                frames.append(bytes.fromhex(case[field]))
    stage_frames[kind] = frames
if not stage_frames:
    sys.exit(f"make_corpus.py: no frames under {BUILD}/tests/stages (build the tests first)")
router = load(os.path.join(BUILD, "tests/router/router_frames.json"))
icmp_refs = load(os.path.join(BUILD, "tests/net/icmp_refs.json"))

shutil.rmtree(OUT, ignore_errors=True)

# The parameter table of fuzz_stage.cc: index -> stage kind.
table = re.findall(r'^\s*\{"([a-z_0-9]+)", "', open(os.path.join(HERE, "fuzz_stage.cc")).read(), re.M)
by_kind = {}
for i, kind in enumerate(table):
    by_kind.setdefault(kind, []).append(i)

# view: [flags] [frame]
all_frames = [f for fs in stage_frames.values() for f in fs]
all_frames += [bytes.fromhex(c["in"]) for c in router.values() if isinstance(c.get("in"), str)]
for f in sample(all_frames, 60):
    write("view", bytes([rng.choice([0, 1, 4, 8, 13])]) + f)

# stage: [flags] [A] [B] [site] [frames]; A one of the frame's own stage's parameter sets.
for kind, frames in sorted(stage_frames.items()):
    for f in sample(frames, 12):
        a = rng.choice(by_kind.get(kind, [0]))
        b = rng.randrange(len(table))
        flags = rng.choice([0, 0, 1, 4, 8, 9])
        write("stage", bytes([flags, a, b, rng.randrange(256)]) + f)
# ipim before a link in one chain (flags 8 | 64): the hop reads the link's state.
for f in sample(stage_frames.get("ipim", []), 12):
    a = rng.choice(by_kind["ipim"])
    b = rng.choice(by_kind["link"])
    write("stage", bytes([8 | 64 | rng.choice([0, 1]), a, b, rng.randrange(256)]) + f)
# A few multi-frame inputs (flag 16) for the stateful stages.
for kind in ("tcp_seq", "normalize", "block", "ecn"):
    frames = stage_frames.get(kind, [])
    for _ in range(3):
        if len(frames) < 3:
            break
        body = b"".join(struct.pack(">H", len(f)) + f for f in rng.sample(frames, 3))
        write("stage", bytes([16, rng.choice(by_kind[kind]), 0, 0x10]) + body)

# icmp: [flags] [type] [code] [rest:32] [l2] [split] [frame]
for ref in icmp_refs:
    v6 = ref["kind"].startswith("ip6")
    flags = 4 if v6 else 0
    if ref.get("l2_len", 14) != 14:
        flags |= 32
    write("icmp", bytes([flags, ref["type"] & 255, ref["code"] & 255]) + struct.pack(">I", ref["rest"] & 0xffffffff)
          + bytes([ref.get("l2_len", 14) & 255, 0]) + bytes.fromhex(ref["input"]))
for name in sorted(router):
    case = router[name]
    if name.startswith(("echo", "llecho")) and isinstance(case.get("in"), str):
        v6 = "6" in name
        write("icmp", bytes([16 | (4 if v6 else 0), 0, 0, 0, 0, 0, 0, 0, 0]) + bytes.fromhex(case["in"]))

# arp_nd: [flags] [port] [frame]: the ARP / ND / resolution cases and a sample of the others, each
# on its port.
names = [n for n in router if isinstance(router[n].get("in"), str)]
keep = [n for n in names if n.startswith(("arp", "ns", "learnt", "unres"))]
for name in sorted(keep + sample([n for n in names if n not in keep], 30)):
    port = router[name].get("port", 0)
    write("arp_nd", bytes([0, port if isinstance(port, int) else 0]) + bytes.fromhex(router[name]["in"]))

# config: the repository's configs and pipelines.
for path in sorted(glob.glob(os.path.join(REPO, "topologies/*.yaml")) +
                   glob.glob(os.path.join(REPO, "pipelines/*.yaml")) +
                   glob.glob(os.path.join(REPO, "tests/config/data/**/*.yaml"), recursive=True) +
                   glob.glob(os.path.join(REPO, "tests/integration/topologies/*.yaml"))):
    with open(path, "rb") as f:
        write("config", f.read())


# pcap: small captures of frames, in each byte order and timestamp unit, one with a cut record.
def pcap(frames, magic, endian, snaplen=262144):
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, 1)
    for i, f in enumerate(frames):
        out += struct.pack(endian + "IIII", 1700000000 + i, 1000 * i, len(f), len(f)) + f
    return out


for i in range(10):
    frames = rng.sample(all_frames, 3)
    magic = 0xA1B2C3D4 if i % 2 == 0 else 0xA1B23C4D
    data = pcap(frames, magic, "<" if i < 6 else ">")
    if i == 9:
        data = data[:-5]
    write("pcap", data)
write("pcap", pcap([b""], 0xA1B2C3D4, "<"))  # a caplen-0 record

# natprobe: STUN messages (RFC 5389, RFC 5780 attributes), requests and responses.
def stun(mtype, txid, attrs, fingerprint=False):
    body = b"".join(struct.pack(">HH", t, len(v)) + v + bytes(-len(v) % 4) for t, v in attrs)
    size = len(body) + (8 if fingerprint else 0)
    msg = struct.pack(">HHI", mtype, size, 0x2112A442) + txid + body
    if fingerprint:
        msg += struct.pack(">HHI", 0x8028, 4, zlib.crc32(msg) ^ 0x5354554E)
    return msg


def stun_addr(ip, port, txid=None):
    raw = ipaddress.ip_address(ip).packed
    if txid is not None:  # XOR-MAPPED-ADDRESS
        port ^= 0x2112
        raw = bytes(a ^ b for a, b in zip(raw, struct.pack(">I", 0x2112A442) + txid))
    return struct.pack(">BBH", 0, 1 if len(raw) == 4 else 2, port) + raw


tx = bytes(range(1, 13))
write("natprobe", stun(0x0001, tx, []))
write("natprobe", stun(0x0001, tx, [(0x0003, struct.pack(">I", 6))], True))
write("natprobe", stun(0x0001, tx, [(0x0027, struct.pack(">HH", 40000, 0)), (0x0026, bytes(9))], True))
write("natprobe", stun(0x0101, tx, [(0x0020, stun_addr("203.0.113.1", 40000, tx)),
                                    (0x0001, stun_addr("203.0.113.1", 40000)),
                                    (0x802B, stun_addr("192.0.2.1", 3478)),
                                    (0x802C, stun_addr("192.0.2.2", 3479)),
                                    (0x8022, b"pathlab-natprobe")], True))
write("natprobe", stun(0x0101, tx, [(0x0020, stun_addr("2001:db8::1", 3478, tx)),
                                    (0x802C, stun_addr("2001:db8::2", 3479))]))
write("natprobe", stun(0x0111, tx, [(0x0009, bytes([0, 0, 4, 20]) + b"Unknown Attribute"),
                                    (0x000A, struct.pack(">HH", 0x0031, 0x0007))], True))

# probe: pathlab-probe's readers, [mode] [bytes] (fuzz_probe.cc), from docs/ipim.md by hand.
def ipim_option(ip6, perf=False, nxt=0, slot=b""):
    size = 16 if perf else (44 if ip6 else 20)
    area = bytearray(size)
    area[:len(slot)] = slot
    body = struct.pack(">BBBBIHHI", 0x14 | (2 if perf else 0), 63, 200, nxt, 7, 0xFFFE, 0, 0) + bytes(area)
    return bytes([0x3E if ip6 else 0x5E, len(body) if ip6 else len(body) + 2]) + body


def e2e_block(kind, seq, option=b""):
    block = b"IPIM" + struct.pack(">BBHIIIIII HBB", 1, kind, 0x1234, seq, 1000 * (seq + 1), 0, 5, 4, 3,
                                  0xFF, 0, 0) + bytes(range(8)) + bytes(8)
    if kind == 2:
        block += struct.pack(">BBH", 59, 0, len(option)) + option
    return block


topo4 = ipim_option(False, nxt=1, slot=bytes([64, 0x80, 0, 0]) + bytes(range(16)))
perf6 = ipim_option(True, perf=True)
write("probe", b"\x00" + e2e_block(1, 0))
write("probe", b"\x00" + e2e_block(2, 3, topo4))
write("probe", b"\x01" + bytes([0x94, 4, 0, 0]) + topo4 + b"\x01\x01")
write("probe", b"\x02" + bytes([17, 7, 1, 0]) + perf6 + bytes([1, 2, 0, 0]))
write("probe", b"\x03" + bytes([0x4F, 0, 0, 84, 0, 0, 0x40, 0, 59, 17, 0, 0, 10, 0, 0, 2, 10, 0, 1, 9])
      + topo4 + b"\x01\x01" + struct.pack(">HHHH", 40000, 33434, 8, 0))
write("probe", b"\x04" + bytes([0, 64, 200]) + struct.pack(">IH", 7, 0xFF) + bytes([4])
      + b"".join(struct.pack(">IIIHBBB", s, 100 + s, 1000 * (s + 1), 300, 59, 0, len(topo4)) + topo4
                 for s in (0, 2, 1)))

for t in sorted(os.listdir(OUT)):
    print(f"{t}: {len(os.listdir(os.path.join(OUT, t)))} files")

#!/usr/bin/python3
"""pathlab replay against live forwarding, and its determinism.

1. Builds an input capture with scapy (IPv4/IPv6 TCP/UDP/ICMP to three egress
   ports, TTL/hop limit 1, unroutable, echo to the router, too big for the MTU
   with and without DF, a frame for another MAC, a bad header checksum).
2. Live: pathlab with net_pcap ports (rx_pcap on p0, tx_pcap on every port).
3. Replay the same config and capture with 1 and 2 threads and small chunks;
   every port's frames must equal the live ones byte for byte, in order.
4. Replaying twice gives identical files (timestamps included).
5. An evil_bit stage with probability 0.5 and a seed gives the same output
   with 1, 2 and 3 threads.
6. A gateway without a static neighbour is counted as
   replay/unresolved_neighbour, and the accounting still balances.

Run by Debian's /usr/bin/python3 (scapy). A missing pathlab binary is a failure, not a skip.
"""
import json
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib.runner import find_pathlab, run_in_tmpdir  # noqa: E402
from lablib.summary import stage_counter  # noqa: E402

MAC_R = ["02:00:00:00:00:01", "02:00:00:00:01:01", "02:00:00:00:02:01"]
MAC_H = ["02:00:00:00:00:02", "02:00:00:00:01:02", "02:00:00:00:02:02"]
EVIL_SET = "r1.p1.egress.evil_bit.set"    # the evil_bit stage's counter, by name


def config(tmp, live, evil=False, gw1_neighbour=True):
    """One router, three ports. live: net_pcap devices; replay ignores them."""
    dev = [f"net_pcap0,rx_pcap={tmp}/in.pcap,tx_pcap={tmp}/live.p0.pcap",
           f"net_pcap1,tx_pcap={tmp}/live.p1.pcap",
           f"net_pcap2,tx_pcap={tmp}/live.p2.pcap"]
    egress1 = ("\n        egress:\n          - {stage: evil_bit, action: set, "
               "probability: 0.5, seed: 7}") if evil else ""
    neigh1 = (f'      - {{port: p1, ip: 10.0.1.2, mac: "{MAC_H[1]}"}}\n'
              if gw1_neighbour else "")
    return f"""\
process:
  burst: 32
  icmp_rate_limit: {{rate: 10000000, burst: 1000000}}
routers:
  - id: r1
    ports:
      - name: p0
        device: "{dev[0]}"
        mac: "{MAC_R[0]}"
        ipv4: 10.0.0.1/24
        ipv6: "fd00::1/64"
      - name: p1
        device: "{dev[1]}"
        mac: "{MAC_R[1]}"
        ipv4: 10.0.1.1/24
        ipv6: "fd00:1::1/64"{egress1}
      - name: p2
        device: "{dev[2]}"
        mac: "{MAC_R[2]}"
        ipv4: 10.0.2.1/24
        ipv6: "fd00:2::1/64"
        mtu: 1400
    routes:
      - {{prefix: 10.1.0.0/16, via: 10.0.1.2}}
      - {{prefix: 10.2.0.0/16, via: 10.0.2.2}}
      - {{prefix: "fd01::/32", via: "fd00:1::2"}}
      - {{prefix: "fd02::/32", via: "fd00:2::2"}}
    neighbours:
      - {{port: p0, ip: 10.0.0.2, mac: "{MAC_H[0]}"}}
      - {{port: p0, ip: "fd00::2", mac: "{MAC_H[0]}"}}
{neigh1}      - {{port: p1, ip: "fd00:1::2", mac: "{MAC_H[1]}"}}
      - {{port: p2, ip: 10.0.2.2, mac: "{MAC_H[2]}"}}
      - {{port: p2, ip: "fd00:2::2", mac: "{MAC_H[2]}"}}
"""


def make_input(path):
    from scapy.all import (ICMP, IP, TCP, UDP, Ether, ICMPv6EchoRequest, IPv6,
                           Raw, wrpcap)
    eth = Ether(dst=MAC_R[0], src=MAC_H[0])
    pkts = []
    for i in range(1100):
        v4 = i % 2 == 0
        dst_net = (i // 2) % 3          # 0: p1 gateway net, 1: p2 net, 2: host on p1
        if v4:
            dst = ["10.1.%d.%d" % (i % 200, i % 250 + 1),
                   "10.2.%d.%d" % (i % 200, i % 250 + 1), "10.0.1.2"][dst_net]
            ip = IP(src="10.0.0.2", dst=dst, ttl=64 - i % 5, id=i)
        else:
            dst = ["fd01::%x" % (i + 1), "fd02::%x" % (i + 1), "fd00:1::2"][dst_net]
            ip = IPv6(src="fd00::2", dst=dst, hlim=64 - i % 5)
        kind = i % 3
        if kind == 0:
            l4 = TCP(sport=10000 + i, dport=80, flags="S" if i % 4 else "PA", seq=i)
        elif kind == 1:
            l4 = UDP(sport=20000 + i, dport=53)
        else:
            l4 = ICMP(id=i, seq=i) if v4 else ICMPv6EchoRequest(id=i, seq=i)
        pkts.append(eth / ip / l4 / Raw(bytes([i % 256]) * (i % 300)))
        # every 25th packet, one of the special cases
        if i % 25 == 0:
            s = (i // 25) % 10
            if s == 0:   # TTL 1: ICMP time exceeded
                pkts.append(eth / IP(src="10.0.0.2", dst="10.1.0.9", ttl=1) / UDP(dport=33434))
            elif s == 1:
                pkts.append(eth / IPv6(src="fd00::2", dst="fd01::9", hlim=1) / UDP(dport=33434))
            elif s == 2:  # unroutable: ICMP net unreachable
                pkts.append(eth / IP(src="10.0.0.2", dst="192.0.2.7") / TCP(dport=443))
            elif s == 3:
                pkts.append(eth / IPv6(src="fd00::2", dst="2001:db8::7") / TCP(dport=443))
            elif s == 4:  # echo to the router: echo replies
                pkts.append(eth / IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(id=7, seq=i) / Raw(b"ping"))
            elif s == 5:
                pkts.append(eth / IPv6(src="fd00::2", dst="fd00::1") / ICMPv6EchoRequest(id=7, seq=i))
            elif s == 6:  # too big for p2 (MTU 1400): frag needed with DF, dropped without
                pkts.append(eth / IP(src="10.0.0.2", dst="10.2.0.1", flags="DF") / UDP() / Raw(b"z" * 1420))
                pkts.append(eth / IP(src="10.0.0.2", dst="10.2.0.1") / UDP() / Raw(b"z" * 1420))
            elif s == 7:  # for another MAC
                pkts.append(Ether(dst="02:00:00:00:99:99", src=MAC_H[0]) / IP(src="10.0.0.2", dst="10.1.0.1") / UDP())
            elif s == 8:  # bad header checksum
                pkts.append(eth / IP(src="10.0.0.2", dst="10.1.0.1", chksum=0x1234) / UDP())
            else:         # echo to another port's address, from p0
                pkts.append(eth / IP(src="10.0.0.2", dst="10.0.2.1") / ICMP(id=8, seq=i))
    wrpcap(path, pkts)
    return len(pkts)


def read_frames(path):
    """Frame bytes of a classic pcap, in order (timestamps ignored)."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise AssertionError(f"{path}: not a pcap file")
    off, frames = 24, []
    while off < len(data):
        _, _, caplen, _ = struct.unpack(e + "IIII", data[off:off + 16])
        frames.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return frames


def to_big_endian_ns(src, dst):
    """The same capture as a big-endian, nanosecond pcap."""
    with open(src, "rb") as f:
        data = f.read()
    assert data[:4] == b"\xd4\xc3\xb2\xa1", "expected a little-endian microsecond pcap"
    _, major, minor, zone, sig, snap, link = struct.unpack("<IHHiIII", data[:24])
    out = [struct.pack(">IHHiIII", 0xa1b23c4d, major, minor, zone, sig, snap, link)]
    off = 24
    while off < len(data):
        sec, usec, caplen, length = struct.unpack("<IIII", data[off:off + 16])
        out.append(struct.pack(">IIII", sec, usec * 1000 + 7, caplen, length))
        out.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    with open(dst, "wb") as f:
        f.write(b"".join(out))


def run(cmd, timeout=120):
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if cp.returncode != 0:
        raise AssertionError(f"failed ({cp.returncode}): {' '.join(cmd)}\n"
                             f"stdout: {cp.stdout[-3000:]}\nstderr: {cp.stderr[-3000:]}")
    return cp


def replay(binary, cfg, inp, out, threads, chunk=None):
    cmd = [binary, "replay", "--config", cfg, "--in", inp, "--out", out,
           "--threads", str(threads), "--json"]
    if chunk:
        cmd += ["--chunk", str(chunk)]
    s = json.loads(run(cmd).stdout.strip().splitlines()[-1])
    assert s["pathlab"] == "replay", s
    for r in s["routers"]:
        assert r["accounting"]["balanced"], r["accounting"]
    return s


def compare(label, a, b):
    fa, fb = read_frames(a), read_frames(b)
    if fa == fb:
        return len(fa)
    for i, (x, y) in enumerate(zip(fa, fb)):
        if x != y:
            raise AssertionError(f"{label}: frame {i} differs\n {a}: {x.hex()}\n {b}: {y.hex()}")
    raise AssertionError(f"{label}: {len(fa)} frames in {a}, {len(fb)} in {b}")


def test(tmp):
    binary = find_pathlab()
    n = make_input(f"{tmp}/in.pcap")
    assert n > 1000, n
    cfg = f"{tmp}/r1.yaml"
    with open(cfg, "w") as f:
        f.write(config(tmp, live=True))

    # Live forwarding through net_pcap: reads in.pcap on p0, writes live.p*.pcap.
    cp = run([binary, "--no-huge", "-m", "512", "--no-pci", "-l", "0,1",
              "--file-prefix", f"pl-replay-test-{os.getpid()}", "--log-level=*:warning",
              "--", "--config", cfg, "--duration", "3", "--stats-interval", "0"])
    live = json.loads(cp.stdout.strip().splitlines()[-1])
    lr = live["routers"][0]
    acc = lr["accounting"]
    assert acc["balanced"], acc
    assert acc["rx"] == n, f"live received {acc['rx']} of {n} packets"
    assert lr["ports"][0]["ctrl_tx_packets"] == 0, lr["ports"]
    for e in ("echo_replies", "icmp_time_exceeded", "icmp_net_unreachable", "icmp_frag_needed"):
        assert lr["events"][e] > 0, (e, lr["events"])
    print(f"live: rx {acc['rx']} tx {acc['tx']} drops {acc['drops']} consumed {acc['consumed']}")

    for threads, chunk in ((1, None), (2, 64), (2, 96), (3, 32)):
        out = f"{tmp}/rp{threads}_{chunk}"
        s = replay(binary, cfg, f"{tmp}/in.pcap", f"{out}.pcap", threads, chunk)
        r = s["routers"][0]
        for k in ("rx", "tx", "drops", "consumed"):
            assert r["accounting"][k] == acc[k], (k, r["accounting"], acc)
        for p in ("p0", "p1", "p2"):
            k = compare(f"threads {threads} chunk {chunk} {p}", f"{tmp}/live.{p}.pcap",
                        f"{out}.r1.{p}.pcap")
            assert k > 0, f"{p}: no frames"
        # the same reasons and events as live, count for count
        for name, v in list(lr["drops"].items()) + list(lr["events"].items()):
            assert r["drops"].get(name, r["events"].get(name)) == v, (name, v)
        print(f"replay threads {threads} chunk {chunk}: identical to live on p0, p1, p2")

    # Twice the same run: identical files, timestamps included.
    replay(binary, cfg, f"{tmp}/in.pcap", f"{tmp}/again.pcap", 2, 64)
    for p in ("p0", "p1", "p2"):
        with open(f"{tmp}/rp2_64.r1.{p}.pcap", "rb") as a, open(f"{tmp}/again.r1.{p}.pcap", "rb") as b:
            assert a.read() == b.read(), f"{p}: a second replay differs"
    print("replay twice: identical files")

    # Byte order and timestamp precision of the input change nothing but the output's precision.
    to_big_endian_ns(f"{tmp}/in.pcap", f"{tmp}/in_be_ns.pcap")
    replay(binary, cfg, f"{tmp}/in_be_ns.pcap", f"{tmp}/be_ns.pcap", 2, 64)
    for p in ("p0", "p1", "p2"):
        compare(f"big-endian ns input {p}", f"{tmp}/live.{p}.pcap", f"{tmp}/be_ns.r1.{p}.pcap")
        with open(f"{tmp}/be_ns.r1.{p}.pcap", "rb") as f:
            assert f.read(4) in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"), f"{p}: not a ns pcap"
    print("big-endian nanosecond input: same frames, nanosecond output")

    # A probabilistic stage: the same output whatever the thread count.
    evil = f"{tmp}/evil.yaml"
    with open(evil, "w") as f:
        f.write(config(tmp, live=True, evil=True))
    outs = []
    for threads in (1, 2, 3):
        s = replay(binary, evil, f"{tmp}/in.pcap", f"{tmp}/evil{threads}.pcap", threads, 64)
        outs.append(s)
        if threads > 1:
            for p in ("p0", "p1", "p2"):
                compare(f"evil_bit threads {threads} {p}", f"{tmp}/evil1.r1.{p}.pcap",
                        f"{tmp}/evil{threads}.r1.{p}.pcap")
    set_count = stage_counter(outs[0], EVIL_SET)
    v4_p1 = sum(1 for fr in read_frames(f"{tmp}/evil1.r1.p1.pcap") if fr[12:14] == b"\x08\x00")
    assert 0.3 * v4_p1 < set_count < 0.7 * v4_p1, (set_count, v4_p1)
    assert all(stage_counter(o, EVIL_SET) == set_count for o in outs)
    print(f"evil_bit p=0.5: {set_count} of {v4_p1} set, identical with 1, 2 and 3 threads")

    # No static neighbour for p1's gateway: those packets cannot be resolved offline.
    unres = f"{tmp}/unres.yaml"
    with open(unres, "w") as f:
        f.write(config(tmp, live=True, gw1_neighbour=False))
    s = replay(binary, unres, f"{tmp}/in.pcap", f"{tmp}/unres.pcap", 2, 64)
    r = s["routers"][0]
    p1_v4 = sum(1 for fr in read_frames(f"{tmp}/live.p1.pcap") if fr[12:14] == b"\x08\x00")
    assert r["drops"]["replay/unresolved_neighbour"] == p1_v4, (r["drops"]["replay/unresolved_neighbour"], p1_v4)
    assert r["accounting"]["consumed"] == 0, r["accounting"]
    print(f"unresolved gateway: {p1_v4} packets under replay/unresolved_neighbour")

    # Bad input is refused with a clear message.
    with open(f"{tmp}/bad.pcap", "wb") as f:
        f.write(b"\x0a\x0d\x0d\x0a" + b"\0" * 40)
    cp = subprocess.run([binary, "replay", "--config", cfg, "--in", f"{tmp}/bad.pcap",
                         "--out", f"{tmp}/bad_out.pcap"], capture_output=True, text=True, timeout=60)
    assert cp.returncode != 0 and "pcapng" in cp.stderr, (cp.returncode, cp.stderr)


def main():
    return run_in_tmpdir(test, "pathlab-replay-")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""pathlab replay through `link` stages (docs/links.md): time is the capture's, packet by packet.

One router, r1: frames arrive on p0 and are routed by destination (10.<i>.0.0/16) to p<i>, whose
egress chain ends in `- stage: link` with the parameters under test; one replay covers several
links. Inputs are nanosecond pcaps; each frame carries a sequence number (the first 4 bytes of its
UDP payload), so each port's output says which packets were lost or reordered.

1. Serialization: back-to-back streams of 64, 128, 512, 1024 and 1500-byte frames, 2 ns apart
   (faster than any link), to p1 (`rate: 1gbit`) and p2 (`rate: 10gbit`), interleaved. Every
   departure timestamp is the first whole ns at or after the packet's exact end: (len + 24) * 8 /
   rate after the previous one's, after its own arrival for the first of a stream; consecutive
   departures therefore differ by exactly that, rounded. Outputs are nanosecond pcaps, in time
   order.
2. One capture of 10^6 packets 1 us apart, one in ten to each of p1, p2, p3 and the other seven to
   p4:
   - p1, p2: `delay: 10ms, jitter: 5ms, distribution: normal` over 10^5 packets (10 us apart):
     with `reorder: false` none is lost or reordered; with `reorder: true` some are reordered;
   - p3: Bernoulli loss `{random: 0.01}` over 10^5 packets: the number lost is inside the
     two-sided 99.9% binomial interval, and equals the counter r1.p3.egress.link.loss;
   - p4: Gilbert-Elliott loss (p 0.01, r 0.25, h 0, k 1) over 7 x 10^5 packets: loss rate
     p / (p + r) and mean loss-burst length 1 / r, each within 5%; the counter equals the loss;
   - determinism: --threads 3 --chunk 100 gives byte-identical files.
3. Two routers: r1's link (1 Gbit/s) feeds r2 over a router link, r2's link (10 Gbit/s, 1 ms)
   takes each packet at its departure from r1, not when r1's release was collected.

Frames come from scapy templates (one per size and port) with the numbers patched in; the pcaps
are packed by hand, column by column: scapy would take minutes for 10^6 records.
Run by Debian's /usr/bin/python3. A missing pathlab binary is a failure, not a skip.
"""
import array
import filecmp
import json
import math
import os
import struct
import subprocess
import sys
import time
from fractions import Fraction

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib.runner import find_pathlab, run_in_tmpdir  # noqa: E402
from lablib.summary import stage_counter  # noqa: E402

MAC_R0, MAC_H0 = "02:00:00:00:00:01", "02:00:00:00:00:02"
OVERHEAD = 24          # the link's default overhead: FCS, preamble, SFD, inter-frame gap
T0 = 1_000_000_000     # the first arrival: 1 s after the epoch
SEQ_OFF = 14 + 20 + 8  # the sequence number: the first bytes of the UDP payload


def write_config(path, links):
    """r1 with p0 and one port p<i> per entry of `links` (a `link` stage's keys, YAML text)."""
    ports = "".join(f"""\
      - name: p{i}
        device: d{i}
        mac: "02:00:00:00:0{i}:01"
        ipv4: 10.0.{i}.1/24
        egress: [{{stage: link, {link}}}]
""" for i, link in enumerate(links, 1))
    routes = "".join(f"      - {{prefix: 10.{i}.0.0/16, via: 10.0.{i}.2}}\n" for i in range(1, len(links) + 1))
    neigh = "".join(f'      - {{port: p{i}, ip: 10.0.{i}.2, mac: "02:00:00:00:0{i}:02"}}\n'
                    for i in range(1, len(links) + 1))
    with open(path, "w") as f:
        f.write(f"""\
process: {{burst: 32}}
routers:
  - id: r1
    ports:
      - {{name: p0, device: d0, mac: "{MAC_R0}", ipv4: 10.0.0.1/24}}
{ports}    routes:
{routes}    neighbours:
{neigh}""")
    return path


def template(size, port):
    """An IPv4/UDP frame of `size` bytes (FCS excluded) from 10.0.0.2 to 10.<port>.0.9, routed out
    of p<port>. UDP checksum 0 (none), so the payload can be patched."""
    from scapy.all import IP, UDP, Ether, Raw
    head = Ether(src=MAC_H0, dst=MAC_R0) / IP(src="10.0.0.2", dst=f"10.{port}.0.9", ttl=64) / UDP(
        sport=1234, dport=9, chksum=0)
    f = bytes(head / Raw(b"\0" * (size - len(head))))
    assert len(f) == size, (len(f), size)
    return f


# Inputs are big-endian nanosecond pcaps (pathlab writes its own byte order: both are read).
PCAP_HEADER = struct.pack(">IHHiIII", 0xa1b23c4d, 2, 4, 0, 0, 262144, 1)


def record(ts, frame, seq):
    frame = frame[:SEQ_OFF] + struct.pack("!I", seq) + frame[SEQ_OFF + 4:]
    return struct.pack(">IIII", ts // 10**9, ts % 10**9, len(frame), len(frame)) + frame


def write_pcap(path, records):
    with open(path, "wb") as f:
        f.write(PCAP_HEADER + b"".join(records))


def words(values, big):
    a = array.array("I", values)
    if (sys.byteorder == "little") == big:
        a.byteswap()
    return a.tobytes()


def write_cycle(path, size, cycle, ts_list):
    """Packet i (numbered i) to port cycle[i % len(cycle)] at ts_list[i], for a million records
    in a second: the records are one block of templates repeated, and the times and numbers are
    written column by column (extended slices)."""
    n, rec = len(ts_list), 16 + size
    assert n % len(cycle) == 0
    block = b"".join(struct.pack(">IIII", 0, 0, size, size) + template(size, p) for p in cycle)
    buf = bytearray(block * (n // len(cycle)))
    for col, values in ((0, [t // 10**9 for t in ts_list]), (4, [t % 10**9 for t in ts_list]),
                        (16 + SEQ_OFF, range(n))):
        w = words(values, True)
        for j in range(4):
            buf[col + j::rec] = w[j::4]
    with open(path, "wb") as f:
        f.write(PCAP_HEADER + buf)


def pcap_data(path):
    """The file's bytes and the byte order of its header fields; it must be a nanosecond pcap
    (departure times need nanoseconds)."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xa1b23c4d, 0x4d3cb2a1):
        raise AssertionError(f"{path}: not a nanosecond pcap (magic 0x{magic:08x})")
    return data, magic == 0x4d3cb2a1


def read_pcap(path):
    """[(ts_ns, seq, frame)]."""
    data, big = pcap_data(path)
    off, recs, hdr = 24, [], struct.Struct((">" if big else "<") + "IIII")
    while off < len(data):
        sec, ns, caplen, _ = hdr.unpack_from(data, off)
        frame = data[off + 16:off + 16 + caplen]
        recs.append((sec * 10**9 + ns, struct.unpack_from("!I", frame, SEQ_OFF)[0], frame))
        off += 16 + caplen
    return recs


def read_numbered(path, size):
    """(times, sequence numbers) of a file whose frames are all `size` bytes, column by column."""
    data, big = pcap_data(path)
    rec = 16 + size
    n, rest = divmod(len(data) - 24, rec)
    assert rest == 0, f"{path}: not all {size}-byte frames"
    body = data[24:]

    def column(col, big_endian):
        b = bytearray(4 * n)
        for j in range(4):
            b[j::4] = body[col + j::rec]
        a = array.array("I", bytes(b))
        if (sys.byteorder == "little") == big_endian:
            a.byteswap()
        return a.tolist()

    assert set(column(8, big)) <= {size}, f"{path}: not all {size}-byte frames"
    ts = [sec * 10**9 + ns for sec, ns in zip(column(0, big), column(4, big))]
    return ts, column(16 + SEQ_OFF, True)


def replay(binary, cfg, inp, out, threads=None, chunk=None):
    cmd = [binary, "replay", "--config", cfg, "--in", inp, "--out", out, "--json"]
    if threads:
        cmd += ["--threads", str(threads)]
    if chunk:
        cmd += ["--chunk", str(chunk)]
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if cp.returncode != 0:
        raise AssertionError(f"failed ({cp.returncode}): {' '.join(cmd)}\n"
                             f"stdout: {cp.stdout[-3000:]}\nstderr: {cp.stderr[-3000:]}")
    s = json.loads(cp.stdout.strip().splitlines()[-1])
    for r in s["routers"]:
        assert r["accounting"]["balanced"], r["accounting"]
    return s


def out_file(out, port, router="r1"):
    return f"{out[:-5]}.{router}.{port}.pcap"


# ---- 1. serialization

SIZES = (64, 128, 512, 1024, 1500)
STREAM = 100            # frames per size and port (the default queue holds 1000)
STREAM_GAP = 5_000_000  # 5 ms between streams: the links are idle when the next one starts
RATES = ((1, "1gbit", 10**9), (2, "10gbit", 10**10))  # port, rate


def serialization(binary, tmp):
    recs = []
    for k, size in enumerate(SIZES):
        frames = {port: template(size, port) for port, _, _ in RATES}
        for i in range(STREAM):
            for port, _, _ in RATES:  # p1 at even ns, p2 at odd ns
                recs.append(record(T0 + k * STREAM_GAP + 2 * i + port - 1, frames[port], i))
    write_pcap(f"{tmp}/stream.pcap", recs)
    cfg = write_config(f"{tmp}/stream.yaml", [f"rate: {name}" for _, name, _ in RATES])
    out = f"{tmp}/stream-out.pcap"
    replay(binary, cfg, f"{tmp}/stream.pcap", out)
    for port, name, rate in RATES:
        got = read_pcap(out_file(out, f"p{port}"))
        assert len(got) == len(SIZES) * STREAM, f"{name}: {len(got)} of {len(SIZES) * STREAM} frames left"
        ts = [t for t, _, _ in got]
        assert ts == sorted(ts), f"{name}: output not in time order"
        for k, size in enumerate(SIZES):
            stream = got[k * STREAM:(k + 1) * STREAM]
            assert {len(f) for _, _, f in stream} == {size}, f"{name}: stream {k} sizes"
            assert [q for _, q, _ in stream] == list(range(STREAM)), f"{name}: stream {k} order"
            exact = Fraction((size + OVERHEAD) * 8 * 10**9, rate)  # ns per frame
            first = T0 + k * STREAM_GAP + port - 1
            # Due at the first whole ns at or after the exact end; back to back from `first`.
            want = [math.ceil(first + (i + 1) * exact) for i in range(STREAM)]
            got_ts = [t for t, _, _ in stream]
            if got_ts != want:
                i = next(i for i in range(STREAM) if got_ts[i] != want[i])
                diffs = [b - a for a, b in zip(got_ts, got_ts[1:])][:6]
                raise AssertionError(
                    f"{name}, {size} B: departure {i} at {got_ts[i]}, want {want[i]} "
                    f"(arrival {first + 2 * i}; spacing {float(exact)} ns; first diffs {diffs})")
            diffs = {b - a for a, b in zip(got_ts, got_ts[1:])}
            assert diffs <= {math.floor(exact), math.ceil(exact)}, (name, size, diffs)
    print(f"serialization: {len(SIZES)} streams of {STREAM} at 1 and 10 Gbit/s, every departure exact")


# ---- 2. jitter and loss, one capture

N = 1_000_000
CYCLE = (1, 2, 3, 4, 4, 4, 4, 4, 4, 4)  # packet i goes to p<CYCLE[i % 10]>
JITTER = "delay: 10ms, jitter: 5ms, distribution: normal"
GE_P, GE_R = 0.01, 0.25
LINKS = (f"{JITTER}, reorder: false, seed: 7",
         f"{JITTER}, reorder: true, seed: 8",
         "loss: {random: 0.01}, seed: 9",
         f"loss: {{gilbert_elliott: {{p: {GE_P}, r: {GE_R}, h: 0, k: 1}}}}, seed: 10")


def binomial_interval(n, p, alpha):
    """The two-sided 1 - alpha interval [lo, hi] of Binomial(n, p): lo the largest k with
    P(X < k) <= alpha / 2, hi the smallest k with P(X > k) <= alpha / 2. The pmf is summed term by
    term over each tail (log-gamma, double precision)."""
    def pmf(k):
        return math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                        + k * math.log(p) + (n - k) * math.log1p(-p))
    cdf, lo = 0.0, 0
    while cdf + pmf(lo) <= alpha / 2:
        cdf += pmf(lo)
        lo += 1
    tail, hi = 0.0, n
    while tail + pmf(hi) <= alpha / 2:
        tail += pmf(hi)
        hi -= 1
    return lo, hi


def losses(sent, got):
    """(lost, loss runs): `got` must be `sent` with some packets missing, in order."""
    assert got == sorted(got) and len(set(got)) == len(got), "survivors out of order or repeated"
    have = set(got)
    assert have <= set(sent), "packets nobody sent"
    lost = runs = 0
    prev_lost = False
    for q in sent:
        is_lost = q not in have
        lost += is_lost
        runs += is_lost and not prev_lost
        prev_lost = is_lost
    return lost, runs


def jitter_and_loss(binary, tmp):
    write_cycle(f"{tmp}/mix.pcap", 60, CYCLE, [T0 + i * 1000 for i in range(N)])
    cfg = write_config(f"{tmp}/mix.yaml", LINKS)
    out = f"{tmp}/mix-out.pcap"
    s = replay(binary, cfg, f"{tmp}/mix.pcap", out)
    sent = {p: [i for i in range(N) if CYCLE[i % len(CYCLE)] == p] for p in (1, 2, 3, 4)}
    got = {p: read_numbered(out_file(out, f"p{p}"), 60) for p in (1, 2, 3, 4)}
    for p in (1, 2, 3, 4):
        assert got[p][0] == sorted(got[p][0]), f"p{p}: output not in time order"

    # Jitter: never reordered without reorder, reordered with it; nothing lost.
    assert got[1][1] == sent[1], "reorder false: packets lost or reordered"
    q = got[2][1]
    assert sorted(q) == sent[2], f"reorder true: {len(q)} of {len(sent[2])} packets left"
    inversions = sum(1 for a, b in zip(q, q[1:]) if b < a)
    assert inversions > len(q) // 100, f"reorder true: only {inversions} inversions"
    print(f"jitter: {len(sent[1])} packets in order without reorder; {inversions} inversions with it")

    # Bernoulli.
    lost, _ = losses(sent[3], got[3][1])
    n = len(sent[3])
    lo, hi = binomial_interval(n, 0.01, 0.001)
    assert lo <= lost <= hi, f"random 0.01: {lost} of {n} lost, 99.9% interval [{lo}, {hi}]"
    counted = stage_counter(s, "r1.p3.egress.link.loss")
    assert counted == lost, f"r1.p3.egress.link.loss {counted}, {lost} missing"
    print(f"random 0.01: {lost} of {n} lost (99.9% interval [{lo}, {hi}]), counter {counted}")

    # Gilbert-Elliott.
    lost, runs = losses(sent[4], got[4][1])
    n = len(sent[4])
    rate, burst, want = lost / n, lost / runs, GE_P / (GE_P + GE_R)
    assert stage_counter(s, "r1.p4.egress.link.loss") == lost
    assert abs(rate / want - 1) < 0.05, f"gilbert_elliott: loss rate {rate}, want {want} +- 5%"
    assert abs(burst * GE_R - 1) < 0.05, f"gilbert_elliott: mean burst {burst}, want {1 / GE_R} +- 5%"
    print(f"gilbert_elliott: loss rate {rate:.5f} (want {want:.5f}), "
          f"mean burst {burst:.3f} (want {1 / GE_R}) over {n} packets")

    # Any --threads and --chunk: the same files.
    again = f"{tmp}/mix-again.pcap"
    replay(binary, cfg, f"{tmp}/mix.pcap", again, threads=3, chunk=100)
    for p in (1, 2, 3, 4):
        assert filecmp.cmp(out_file(out, f"p{p}"), out_file(again, f"p{p}"), shallow=False), \
            f"p{p}: --threads 3 --chunk 100 gave another file"
    print("determinism: the same files with --threads 3 --chunk 100")


# ---- 3. two routers

CONFIG2 = """\
process: {{burst: 32}}
routers:
  - id: r1
    ports:
      - {{name: p0, device: d0, mac: "{r0}", ipv4: 10.0.0.1/24}}
      - {{name: east, ipv4: 10.0.12.1/30, egress: [{{stage: link, rate: 1gbit}}]}}
    routes:
      - {{prefix: 10.1.0.0/16, via: 10.0.12.2}}
  - id: r2
    ports:
      - {{name: west, ipv4: 10.0.12.2/30}}
      - name: p1
        device: d1
        mac: "02:00:00:00:01:01"
        ipv4: 10.0.1.1/24
        egress: [{{stage: link, rate: 10gbit, delay: 1ms}}]
    routes:
      - {{prefix: 10.1.0.0/16, via: 10.0.1.2}}
    neighbours:
      - {{port: p1, ip: 10.0.1.2, mac: "02:00:00:00:01:02"}}
links:
  - {{name: r1-r2, ends: [r1.east, r2.west]}}
"""


def two_routers(binary, tmp):
    size, n = 1500, 100
    frame = template(size, 1)
    write_pcap(f"{tmp}/two.pcap", [record(T0 + i, frame, i) for i in range(n)])
    with open(f"{tmp}/two.yaml", "w") as f:
        f.write(CONFIG2.format(r0=MAC_R0))
    out = f"{tmp}/two-out.pcap"
    replay(binary, f"{tmp}/two.yaml", f"{tmp}/two.pcap", out)
    got = read_pcap(out_file(out, "p1", "r2"))
    assert [q for _, q, _ in got] == list(range(n)), "two routers: packets lost or reordered"
    # r1 sends back to back: packet i leaves it at T0 + (i + 1) * 12192 ns. r2's link is idle by
    # then: it leaves r2 ceil(1219.2) ns later, plus the delay.
    bits = (size + OVERHEAD) * 8
    want = [T0 + (i + 1) * bits + math.ceil(Fraction(bits, 10)) + 10**6 for i in range(n)]
    got_ts = [t for t, _, _ in got]
    assert got_ts == want, f"two routers: departures {got_ts[:3]}..., want {want[:3]}..."
    print(f"two routers: {n} packets, every departure from r2 exact")


def test(tmp):
    binary = find_pathlab()
    for part in (serialization, jitter_and_loss, two_routers):
        t = time.monotonic()
        part(binary, tmp)
        print(f"  ({time.monotonic() - t:.1f} s)", flush=True)


def main():
    return run_in_tmpdir(test, "pathlab-replay-link-")


if __name__ == "__main__":
    sys.exit(main())

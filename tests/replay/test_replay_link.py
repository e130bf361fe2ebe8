#!/usr/bin/python3
"""pathlab replay through a `link` stage (docs/links.md): time is the capture's, packet by packet.

One router, r1: frames arrive on p0 and leave p1, whose egress chain ends in `- stage: link`.
Inputs are nanosecond pcaps; each frame carries a sequence number (the first 4 bytes of its UDP
payload), so the output says which packets were lost or reordered.

1. Serialization: back-to-back streams of 64, 128, 512, 1024 and 1500-byte frames, 1 ns apart
   (faster than any link), at `rate: 1gbit` and `rate: 10gbit`. Every departure timestamp is the
   first whole ns at or after the packet's exact end, (len + 24) * 8 / rate after the previous
   one's (after its own arrival for the first of a stream); so consecutive departures differ by
   exactly that, rounded. The output is a nanosecond pcap, in time order.
2. Jitter: 10^5 packets 10 us apart through `delay: 10ms, jitter: 5ms, distribution: normal`:
   with `reorder: false` none is lost or reordered; with `reorder: true` some are reordered.
3. Bernoulli loss `{random: 0.01}` over 10^5 packets: the number lost is inside the two-sided
   99.9% binomial interval, and equals the counter r1.p1.egress.link.loss.
4. Gilbert-Elliott loss (p 0.01, r 0.25, h 0, k 1) over 10^6 packets: loss rate p / (p + r) and
   mean loss-burst length 1 / r, each within 5%.
5. Determinism: the lossy and the reordering runs give byte-identical files with other --threads
   and --chunk values.
6. Two routers: r1's link (1 Gbit/s) feeds r2 over a router link, r2's link (10 Gbit/s, 1 ms)
   takes each packet at its departure from r1, not when r1's release was collected.

Frames come from scapy templates (one per size) with the sequence number patched in; the pcaps are
packed by hand (struct): scapy would take minutes for 10^6 records.
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

CONFIG = """\
process: {{burst: 32}}
routers:
  - id: r1
    ports:
      - {{name: p0, device: d0, mac: "{r0}", ipv4: 10.0.0.1/24}}
      - name: p1
        device: d1
        mac: "02:00:00:00:01:01"
        ipv4: 10.0.1.1/24
        egress:
          - stage: link
{link}
    routes:
      - {{prefix: 10.1.0.0/16, via: 10.0.1.2}}
    neighbours:
      - {{port: p1, ip: 10.0.1.2, mac: "02:00:00:00:01:02"}}
"""


def write_config(path, **link):
    lines = "".join(f"            {k}: {v}\n" for k, v in link.items())
    with open(path, "w") as f:
        f.write(CONFIG.format(r0=MAC_R0, link=lines.rstrip("\n")))
    return path


def template(size):
    """An IPv4/UDP frame of `size` bytes (FCS excluded) from 10.0.0.2 to 10.1.0.9, routed out of
    p1. UDP checksum 0 (none), so the payload can be patched."""
    from scapy.all import IP, UDP, Ether, Raw
    head = Ether(src=MAC_H0, dst=MAC_R0) / IP(src="10.0.0.2", dst="10.1.0.9", ttl=64) / UDP(
        sport=1234, dport=9, chksum=0)
    f = bytes(head / Raw(b"\0" * (size - len(head))))
    assert len(f) == size, (len(f), size)
    return f


# Inputs are big-endian nanosecond pcaps (pathlab writes its own byte order: both are read).
PCAP_HEADER = struct.pack(">IHHiIII", 0xa1b23c4d, 2, 4, 0, 0, 262144, 1)


def numbered(size, ts_list):
    """Records (pcap record headers included) of `size`-byte frames numbered 0.., at the given
    times."""
    t = template(size)
    rec = struct.Struct(f">IIII{SEQ_OFF}sI{size - SEQ_OFF - 4}s")
    head, tail = t[:SEQ_OFF], t[SEQ_OFF + 4:]
    return [rec.pack(ts // 10**9, ts % 10**9, size, size, head, i, tail) for i, ts in enumerate(ts_list)]


def write_pcap(path, records):
    with open(path, "wb") as f:
        f.write(PCAP_HEADER + b"".join(records))


def words(values, big):
    a = array.array("I", values)
    if (sys.byteorder == "little") == big:
        a.byteswap()
    return a.tobytes()


def write_numbered(path, size, ts_list):
    """As write_pcap(path, numbered(size, ts_list)), for a million records in a second: the
    records are one template repeated, and the times and numbers are written column by column
    (extended slices)."""
    n, rec = len(ts_list), 16 + size
    buf = bytearray((struct.pack(">IIII", 0, 0, size, size) + template(size)) * n)
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


def out_file(out):
    return out[:-5] + ".r1.p1.pcap"


# ---- 1. serialization

SIZES = (64, 128, 512, 1024, 1500)
STREAM = 100          # frames per size, 1 ns apart (the default queue holds 1000)
STREAM_GAP = 5_000_000  # 5 ms between streams: the link is idle when the next one starts


def serialization(binary, tmp):
    frames = []
    for k, size in enumerate(SIZES):
        frames += numbered(size, [T0 + k * STREAM_GAP + i for i in range(STREAM)])
    write_pcap(f"{tmp}/stream.pcap", frames)
    for rate_name, rate in (("1gbit", 10**9), ("10gbit", 10**10)):
        cfg = write_config(f"{tmp}/stream-{rate_name}.yaml", rate=rate_name)
        out = f"{tmp}/stream-{rate_name}.pcap"
        replay(binary, cfg, f"{tmp}/stream.pcap", out)
        got = read_pcap(out_file(out))
        assert len(got) == len(frames), f"{rate_name}: {len(got)} of {len(frames)} frames left"
        ts = [t for t, _, _ in got]
        assert ts == sorted(ts), f"{rate_name}: output not in time order"
        for k, size in enumerate(SIZES):
            stream = got[k * STREAM:(k + 1) * STREAM]
            assert {len(f) for _, _, f in stream} == {size}, f"{rate_name}: stream {k} sizes"
            assert [q for _, q, _ in stream] == list(range(STREAM)), f"{rate_name}: stream {k} order"
            exact = Fraction((size + OVERHEAD) * 8 * 10**9, rate)  # ns per frame
            first = T0 + k * STREAM_GAP
            # Due at the first whole ns at or after the exact end; back to back from `first`.
            want = [math.ceil(first + (i + 1) * exact) for i in range(STREAM)]
            got_ts = [t for t, _, _ in stream]
            if got_ts != want:
                i = next(i for i in range(STREAM) if got_ts[i] != want[i])
                diffs = [b - a for a, b in zip(got_ts, got_ts[1:])][:6]
                raise AssertionError(
                    f"{rate_name}, {size} B: departure {i} at {got_ts[i]}, want {want[i]} "
                    f"(arrival {first + i}; spacing {float(exact)} ns; first diffs {diffs})")
            diffs = {b - a for a, b in zip(got_ts, got_ts[1:])}
            assert diffs <= {math.floor(exact), math.ceil(exact)}, (rate_name, size, diffs)
    print(f"serialization: {len(SIZES)} streams of {STREAM} at 1 and 10 Gbit/s, every departure exact")


# ---- 2. jitter

N = 100_000


def jitter(binary, tmp):
    write_numbered(f"{tmp}/spaced.pcap", 60, [T0 + i * 10_000 for i in range(N)])
    for reorder in ("false", "true"):
        cfg = write_config(f"{tmp}/jitter-{reorder}.yaml", delay="10ms", jitter="5ms",
                           distribution="normal", reorder=reorder, seed=7)
        out = f"{tmp}/jitter-{reorder}.pcap"
        replay(binary, cfg, f"{tmp}/spaced.pcap", out)
        ts, s = read_numbered(out_file(out), 60)
        assert sorted(s) == list(range(N)), f"reorder {reorder}: {len(s)} of {N} packets left"
        assert ts == sorted(ts), f"reorder {reorder}: output not in time order"
        inversions = sum(1 for a, b in zip(s, s[1:]) if b < a)
        if reorder == "false":
            assert inversions == 0, f"reorder false: {inversions} packets overtaken"
        else:
            assert inversions > N // 100, f"reorder true: only {inversions} inversions"
            # Any --threads and --chunk: the same file.
            again = f"{tmp}/jitter-{reorder}-again.pcap"
            replay(binary, cfg, f"{tmp}/spaced.pcap", again, threads=3, chunk=100)
            assert filecmp.cmp(out_file(out), out_file(again), shallow=False), \
                "reorder true: another --threads/--chunk gave another file"
        print(f"jitter, reorder {reorder}: {N} packets, {inversions} inversions")


# ---- 3. Bernoulli loss

def binomial_interval(n, p, alpha):
    """The two-sided 1 - alpha interval [lo, hi] of Binomial(n, p): lo the largest k with
    P(X < k) <= alpha / 2, hi the smallest k with P(X > k) <= alpha / 2. The pmf is summed exactly
    term by term (log-gamma, double precision) over the whole support that matters."""
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


def write_bursts(path, n, per):
    """Packets 0..n-1 in order, `per` to a timestamp 1 us apart (time plays no part in loss)."""
    write_numbered(path, 60, [T0 + (i // per) * 1000 for i in range(n)])


def losses(path, n):
    """(lost, loss runs) from the surviving sequence numbers, which must be in order."""
    _, s = read_numbered(path, 60)
    assert s == sorted(s) and len(set(s)) == len(s), "survivors out of order or repeated"
    lost, runs, prev = n - len(s), 0, -1
    for x in s + [n]:
        runs += x > prev + 1
        prev = x
    return lost, runs


def bernoulli(binary, tmp):
    write_bursts(f"{tmp}/loss.pcap", N, 32)
    cfg = write_config(f"{tmp}/loss.yaml", loss="{random: 0.01}", seed=7)
    out = f"{tmp}/loss-out.pcap"
    s = replay(binary, cfg, f"{tmp}/loss.pcap", out)
    lost, _ = losses(out_file(out), N)
    lo, hi = binomial_interval(N, 0.01, 0.001)
    assert lo <= lost <= hi, f"random 0.01: {lost} of {N} lost, 99.9% interval [{lo}, {hi}]"
    counted = stage_counter(s, "r1.p1.egress.link.loss")
    assert counted == lost, f"r1.p1.egress.link.loss {counted}, {lost} missing"
    again = f"{tmp}/loss-again.pcap"
    replay(binary, cfg, f"{tmp}/loss.pcap", again, threads=1, chunk=4096)
    assert filecmp.cmp(out_file(out), out_file(again), shallow=False), \
        "random loss: another --threads/--chunk gave another file"
    print(f"random 0.01: {lost} of {N} lost (99.9% interval [{lo}, {hi}]), counter {counted}")


# ---- 4. Gilbert-Elliott loss

def gilbert(binary, tmp, n=1_000_000):
    p, r = 0.01, 0.25
    write_bursts(f"{tmp}/ge.pcap", n, 32)
    cfg = write_config(f"{tmp}/ge.yaml", loss=f"{{gilbert_elliott: {{p: {p}, r: {r}, h: 0, k: 1}}}}",
                       seed=7)
    out = f"{tmp}/ge-out.pcap"
    s = replay(binary, cfg, f"{tmp}/ge.pcap", out)
    lost, runs = losses(out_file(out), n)
    rate, burst = lost / n, lost / runs
    assert stage_counter(s, "r1.p1.egress.link.loss") == lost
    assert abs(rate / (p / (p + r)) - 1) < 0.05, f"loss rate {rate}, want {p / (p + r)} +- 5%"
    assert abs(burst / (1 / r) - 1) < 0.05, f"mean burst {burst}, want {1 / r} +- 5%"
    print(f"gilbert_elliott: loss rate {rate:.5f} (want {p / (p + r):.5f}), "
          f"mean burst {burst:.3f} (want {1 / r}) over {n} packets")


# ---- 6. two routers

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
    write_pcap(f"{tmp}/two.pcap", numbered(size, [T0 + i for i in range(n)]))
    with open(f"{tmp}/two.yaml", "w") as f:
        f.write(CONFIG2.format(r0=MAC_R0))
    replay(binary, f"{tmp}/two.yaml", f"{tmp}/two.pcap", f"{tmp}/two-out.pcap")
    got = read_pcap(f"{tmp}/two-out.r2.p1.pcap")
    assert [q for _, q, _ in got] == list(range(n)), "two routers: packets lost or reordered"
    # r1 sends back to back: packet i leaves it at T0 + (i + 1) * 12192 ns. r2's link is idle by
    # then: it leaves r2 ceil(1219.2) ns later, plus the delay.
    want = [T0 + (i + 1) * (size + OVERHEAD) * 8 + math.ceil(Fraction((size + OVERHEAD) * 8, 10)) + 10**6
            for i in range(n)]
    got_ts = [t for t, _, _ in got]
    assert got_ts == want, f"two routers: departures {got_ts[:3]}..., want {want[:3]}..."
    print(f"two routers: {n} packets, every departure from r2 exact")


def test(tmp):
    binary = find_pathlab()
    for part in (serialization, jitter, bernoulli, gilbert, two_routers):
        t = time.monotonic()
        part(binary, tmp)
        print(f"  ({time.monotonic() - t:.1f} s)", flush=True)


def main():
    return run_in_tmpdir(test, "pathlab-replay-link-")


if __name__ == "__main__":
    sys.exit(main())

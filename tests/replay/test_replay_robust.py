#!/usr/bin/python3
"""pathlab replay interrupted, failing, and fed hostile captures.

1. SIGINT, SIGTERM and SIGHUP while replay reads a FIFO this test feeds (so the
   signal always lands mid-input): exit status 128 + signal, a summary marked
   interrupted that balances, outputs in place with whole records only, no
   temporary file, no EAL runtime directory (pl-replay-<pid>) left.
2. The same for SIGINT on a regular file of a million frames.
3. SIGHUP ignored at start (nohup) does not stop a replay.
4. A replay that fails (truncated input, missing output directory) leaves no
   output, no temporary file and no runtime directory.
5. caplen-0 records are counted as eth/runt; 64 KiB frames as eth/multi_segment,
   with the default options, however many (they once exhausted the mbuf pool).

Frames are packed by hand (struct), not by scapy: a million of them take a second.
Run by Debian's /usr/bin/python3. A missing pathlab binary is a failure, not a skip.
"""
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib.runner import find_pathlab, run_in_tmpdir  # noqa: E402

MAC_R0 = bytes.fromhex("020000000001")
MAC_H0 = bytes.fromhex("020000000002")

CONFIG = """\
process: {burst: 32}
routers:
  - id: r1
    ports:
      - {name: p0, device: d0, mac: "02:00:00:00:00:01", ipv4: 10.0.0.1/24}
      - {name: p1, device: d1, mac: "02:00:00:00:01:01", ipv4: 10.0.1.1/24}
    routes:
      - {prefix: 10.1.0.0/16, via: 10.0.1.2}
    neighbours:
      - {port: p0, ip: 10.0.0.2, mac: "02:00:00:00:00:02"}
      - {port: p1, ip: 10.0.1.2, mac: "02:00:00:00:01:02"}
"""


def udp_frame(dst, ttl=64, mac=MAC_R0):
    """60 bytes: Ethernet, IPv4 (valid checksum) from 10.0.0.2, UDP, padding."""
    payload = b"x" * 18
    udp = struct.pack("!HHHH", 1234, 53, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, ttl, 17, 0,
                     bytes([10, 0, 0, 2]), bytes(dst))
    s = sum(struct.unpack("!10H", ip))
    s = (s & 0xffff) + (s >> 16)
    s = (s & 0xffff) + (s >> 16)
    ip = ip[:10] + struct.pack("!H", ~s & 0xffff) + ip[12:]
    return mac + MAC_H0 + b"\x08\x00" + ip + udp


def record(frame, caplen=None, ts=1000):
    caplen = len(frame) if caplen is None else caplen
    return struct.pack("<IIII", ts, 0, caplen, len(frame)) + frame[:caplen]


HEADER = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1)
# Ten records: seven forwarded out of p1, an ICMP time exceeded and a net unreachable back out
# of p0, one frame for another MAC (eth/not_for_us).
BLOCK = b"".join([record(udp_frame([10, 1, 0, i])) for i in range(7)] +
                 [record(udp_frame([10, 1, 0, 9], ttl=1)),
                  record(udp_frame([192, 0, 2, 1])),
                  record(udp_frame([10, 1, 0, 9], mac=bytes.fromhex("020000009999")))])
BLOCK_RECORDS = 10


def read_pcap(path):
    """Records of a classic little-endian pcap; fails on anything but whole records."""
    with open(path, "rb") as f:
        data = f.read()
    assert len(data) >= 24 and data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"), \
        f"{path}: no pcap header"
    off, frames = 24, []
    while off < len(data):
        assert off + 16 <= len(data), f"{path}: torn record header at {off}"
        _, _, caplen, length = struct.unpack("<IIII", data[off:off + 16])
        assert caplen <= length and off + 16 + caplen <= len(data), f"{path}: torn record at {off}"
        frames.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return frames


def runtime_dir(pid):
    """EAL's runtime directory for replay's file prefix (eal_create_runtime_dir)."""
    base = "/var/run" if os.getuid() == 0 else os.environ.get("XDG_RUNTIME_DIR", "/tmp")
    return f"{base}/dpdk/pl-replay-{pid}"


def temp_of(path, pid):
    d, name = os.path.split(path)
    return os.path.join(d, f".{name}.tmp-{pid}")


def outputs(out):
    stem = out[:-5] if out.endswith(".pcap") else out
    return {p: f"{stem}.r1.{p}.pcap" for p in ("p0", "p1")}


def assert_clean(tmp, pid):
    left = [n for n in os.listdir(tmp) if ".tmp-" in n]
    assert not left, f"temporary files left: {left}"
    assert not os.path.exists(runtime_dir(pid)), f"{runtime_dir(pid)} left behind"


def check_summary(s, out, sig):
    """A JSON summary: interruption as expected, balanced, outputs whole and as counted."""
    assert s["interrupted"] == (sig is not None), s
    assert s["signal"] == (signal.Signals(sig).name if sig else ""), s
    r = s["routers"][0]
    acc = r["accounting"]
    assert acc["balanced"], acc
    assert acc["rx"] == s["packets"] == r["ports"][0]["rx_packets"], (acc, s["packets"])
    for i, (port, path) in enumerate(outputs(out).items()):
        frames = read_pcap(path)
        assert len(frames) == r["ports"][i]["tx_packets"], (port, len(frames), r["ports"][i])
    return acc


class Fed:
    """pathlab replay reading a FIFO that the test writes, without ever blocking for long."""

    def __init__(self, cmd, fifo, deadline, ignore_hup=False):
        self.deadline = deadline
        os.mkfifo(fifo)
        pre = (lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)) if ignore_hup else None
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  preexec_fn=pre)
        self.fd = None
        self.written = 0  # bytes
        while self.fd is None:  # ENXIO until replay opens the FIFO
            self.check_time("opening the FIFO")
            try:
                self.fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                if self.p.poll() is not None:
                    raise AssertionError(f"replay exited ({self.p.returncode}): {self.p.stderr.read()}")
                time.sleep(0.01)

    def check_time(self, what):
        if time.monotonic() > self.deadline:
            raise AssertionError(f"timed out {what}")

    def feed(self, data):
        """Writes data; False once replay stopped reading (closed the FIFO or exited)."""
        view, off = memoryview(data), 0
        while off < len(view):
            self.check_time("feeding the FIFO")
            if not select.select([], [self.fd], [], 0.05)[1]:
                if self.p.poll() is not None:
                    return False
                continue
            try:
                n = os.write(self.fd, view[off:off + 65536])
                off += n
                self.written += n
            except BlockingIOError:
                continue
            except BrokenPipeError:
                return False
        return True

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def finish(self):
        out, err = self.p.communicate(timeout=max(1, self.deadline - time.monotonic()))
        return self.p.returncode, out, err

    def kill(self):
        self.close()
        if self.p.poll() is None:
            self.p.kill()
            self.p.communicate()


def wait_for(cond, what, deadline):
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def interrupt_fifo(binary, cfg, tmp, sig, text=False, ignore_hup=False):
    """Feeds 20000 records, waits until p1's output is being written, signals, feeds on."""
    name = f"{signal.Signals(sig).name}{'_nohup' if ignore_hup else ''}"
    out = f"{tmp}/{name}.pcap"
    cmd = [binary, "replay", "--config", cfg, "--in", f"{tmp}/{name}.fifo", "--out", out]
    cmd += [] if text else ["--json"]
    first = 2000
    f = Fed(cmd, f"{tmp}/{name}.fifo", time.monotonic() + 30, ignore_hup)
    try:
        assert f.feed(HEADER + BLOCK * first), "replay stopped reading early"
        tmp_p1 = temp_of(outputs(out)["p1"], f.p.pid)
        wait_for(lambda: size(tmp_p1) > 24, "output to be written", f.deadline)
        assert not os.path.exists(outputs(out)["p1"]), "output in place before the end"
        f.p.send_signal(sig)
        if ignore_hup:
            assert f.feed(BLOCK * 1000), "replay stopped reading after an ignored SIGHUP"
            f.close()
        else:
            while f.feed(BLOCK * 100):  # until replay closes the FIFO
                pass
        rc, stdout, stderr = f.finish()
    finally:
        f.kill()
    expect = 0 if ignore_hup else 128 + sig
    assert rc == expect, f"{name}: exit {rc}, expected {expect}\nstdout: {stdout[-2000:]}\nstderr: {stderr[-2000:]}"
    assert_clean(tmp, f.p.pid)
    if text:
        assert f"interrupted by {signal.Signals(sig).name} after" in stdout, stdout
        m = re.search(r"accounting: rx (\d+) = tx (\d+) \+ drops (\d+) \+ consumed (\d+) \+ held 0: balanced",
                      stdout)
        assert m, stdout
        tx = re.findall(r"tx +(\d+) pkts", stdout)
        for port, n in zip(("p0", "p1"), tx):
            assert len(read_pcap(outputs(out)[port])) == int(n), (port, n)
        rx = int(m.group(1))
    else:
        s = json.loads(stdout.strip().splitlines()[-1])
        check_summary(s, out, None if ignore_hup else sig)
        rx = s["packets"]
    # Records written to the FIFO, the last one maybe in part.
    fed = -(-(f.written - len(HEADER)) * BLOCK_RECORDS // len(BLOCK))
    if ignore_hup:
        assert rx == fed == (first + 1000) * BLOCK_RECORDS, (rx, fed)
    else:
        assert 0 < rx <= fed, (rx, fed)
    print(f"{name}: exit {rc}, {rx} of {fed} records written to the FIFO replayed, balanced, outputs whole")


def interrupt_file(binary, cfg, tmp):
    """SIGINT on a regular file of a million records, once p1's output is being written."""
    n_blocks = 100000
    inp, out = f"{tmp}/big.pcap", f"{tmp}/big_out.pcap"
    with open(inp, "wb") as f:
        f.write(HEADER + BLOCK * n_blocks)
    p = subprocess.Popen([binary, "replay", "--config", cfg, "--in", inp, "--out", out, "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        wait_for(lambda: size(temp_of(outputs(out)["p1"], p.pid)) > 24 or p.poll() is not None,
                 "output to be written", deadline)
        p.send_signal(signal.SIGINT)
        stdout, stderr = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
        os.unlink(inp)
    assert p.returncode == 130, f"exit {p.returncode}\nstdout: {stdout[-2000:]}\nstderr: {stderr[-2000:]}"
    s = json.loads(stdout.strip().splitlines()[-1])
    check_summary(s, out, signal.SIGINT)
    assert 0 < s["packets"] < n_blocks * BLOCK_RECORDS, s["packets"]
    assert_clean(tmp, p.pid)
    print(f"SIGINT on a file: exit 130, {s['packets']} of {n_blocks * BLOCK_RECORDS} records replayed")


def run(binary, cfg, inp, out, *extra):
    cp = subprocess.Popen([binary, "replay", "--config", cfg, "--in", inp, "--out", out, "--json", *extra],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=dict(os.environ, UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"))
    try:
        stdout, stderr = cp.communicate(timeout=60)
    finally:
        if cp.poll() is None:
            cp.kill()
            cp.communicate()
    return cp.returncode, stdout, stderr, cp.pid


def failures(binary, cfg, tmp):
    """A truncated input or a missing output directory: exit 1 and nothing left behind."""
    os.mkdir(f"{tmp}/fail")
    with open(f"{tmp}/fail/in.pcap", "wb") as f:
        f.write((HEADER + BLOCK * 500)[:-7])
    rc, _, err, pid = run(binary, cfg, f"{tmp}/fail/in.pcap", f"{tmp}/fail/out.pcap", "--chunk", "64")
    assert rc == 1 and "truncated" in err, (rc, err)
    assert os.listdir(f"{tmp}/fail") == ["in.pcap"], os.listdir(f"{tmp}/fail")
    assert_clean(f"{tmp}/fail", pid)
    rc, _, err, pid = run(binary, cfg, f"{tmp}/fail/in.pcap", f"{tmp}/fail/no/such/out.pcap")
    assert rc == 1 and "cannot create" in err, (rc, err)
    assert os.listdir(f"{tmp}/fail") == ["in.pcap"], os.listdir(f"{tmp}/fail")
    assert_clean(f"{tmp}/fail", pid)
    print("failures: exit 1, no output, no temporary file, no runtime directory")


def hostile(binary, cfg, tmp):
    # caplen 0, first (the reader's buffer is not allocated yet) and later.
    good = udp_frame([10, 1, 0, 1])
    data = HEADER + record(good, 0) * 3 + record(good) * 5 + record(good, 0) * 2
    with open(f"{tmp}/empty.pcap", "wb") as f:
        f.write(data)
    rc, stdout, err, pid = run(binary, cfg, f"{tmp}/empty.pcap", f"{tmp}/empty_out.pcap")
    assert rc == 0 and "runtime error" not in err, (rc, err)
    s = json.loads(stdout.strip().splitlines()[-1])
    check_summary(s, f"{tmp}/empty_out.pcap", None)
    assert s["routers"][0]["drops"]["eth/runt"] == 5, s["routers"][0]["drops"]
    assert_clean(tmp, pid)
    print("caplen 0: 5 records counted as eth/runt, balanced")

    # 64 KiB frames (GRO/TSO captures), with the default options: more than the default pool
    # (4096 mbufs per thread + 1024) held when each took a chain of 33.
    threads = min(os.cpu_count() or 1, 16)
    n = max(200, (4096 * threads + 1024) // 33 + 50)
    big = record(udp_frame([10, 1, 0, 2]) + b"\0" * (65535 - 60))
    with open(f"{tmp}/gro.pcap", "wb") as f:
        f.write(HEADER + (big * 9 + record(good)) * (n // 9 + 1))
    n_big = (n // 9 + 1) * 9
    try:
        rc, stdout, err, pid = run(binary, cfg, f"{tmp}/gro.pcap", f"{tmp}/gro_out.pcap")
    finally:
        os.unlink(f"{tmp}/gro.pcap")
    assert rc == 0, (rc, err)
    s = json.loads(stdout.strip().splitlines()[-1])
    check_summary(s, f"{tmp}/gro_out.pcap", None)
    r = s["routers"][0]
    assert r["drops"]["eth/multi_segment"] == n_big, (r["drops"]["eth/multi_segment"], n_big)
    assert r["ports"][0]["rx_bytes"] == n_big * 65535 + (n_big // 9) * 60, r["ports"][0]
    assert r["ports"][1]["tx_packets"] == n_big // 9, r["ports"][1]
    assert_clean(tmp, pid)
    print(f"{n_big} frames of 65535 bytes: eth/multi_segment, balanced, {n_big // 9} others forwarded")


def test(tmp):
    binary = find_pathlab()
    cfg = f"{tmp}/r1.yaml"
    with open(cfg, "w") as f:
        f.write(CONFIG)
    interrupt_fifo(binary, cfg, tmp, signal.SIGINT, text=True)
    interrupt_fifo(binary, cfg, tmp, signal.SIGTERM)
    interrupt_fifo(binary, cfg, tmp, signal.SIGHUP)
    interrupt_fifo(binary, cfg, tmp, signal.SIGHUP, ignore_hup=True)
    interrupt_file(binary, cfg, tmp)
    failures(binary, cfg, tmp)
    hostile(binary, cfg, tmp)


def main():
    return run_in_tmpdir(test, "pathlab-replay-robust-")


if __name__ == "__main__":
    sys.exit(main())

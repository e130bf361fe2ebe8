#!/usr/bin/python3
"""The link stage live (issue 9's acceptance, live part) on topologies/bottleneck.yaml:
client - r1 - r2 - r3 - server, the link on both of r2's egress ports (west: towards the client,
east: towards the server), pathlab restarted with each measurement's link (Lab.restart).

    test_link_live.py accuracy    rate, delay, jitter; the same measurements beside Linux
    test_link_live.py aqm         codel with and without ECN, tail drop (needs the `aqm` key)
    test_link_live.py             both

accuracy:
 1. Rate: iperf3 TCP, client -> server, one stream limited by its window (iperf_rate says
    why), 6 s, through `rate: 50mbit, delay: 20ms` both ways. The receiver's bits_per_second
    over the steady part of the run (the server's 1 s intervals from 1 s to 6 s) is within 5% of
        50 Mbit/s x goodput fraction,  goodput fraction = 1448 / (14 + 1500 + 24) = 0.94148
    i.e. 47.074 Mbit/s: per full-size segment the link counts the frame without FCS (pkt_len =
    14 + IP total length 1500) plus `overhead` 24, and the payload is the MTU 1500 - 20 (IPv4)
    - 20 (TCP) - 12 (timestamp option) = 1448.
 2. Delay: 50 pings at 0.05 s through `delay: 20ms` both ways: min >= 40.0 ms, mean <= 40.5 ms.
    Up to 5 runs of 50 for the mean (the best counts), none for the min (delay_run says why).
 3. Beside Linux: the same bottleneck built with qdiscs in namespaces of the test's own
    (lclient - lrouter - lserver, lrouter forwarding, the qdisc on both its egress veths), with
    the same measurements: `netem delay 20ms`, `netem delay 20ms rate 50mbit 24 limit 1000`
    (the same 24 bytes of overhead), `netem delay 20ms 5ms`; and a jitter run on both: 1000 UDP
    datagrams 1 ms apart through delay 20 ms +- 5 ms (uniform), counting reordered datagrams
    (arrived after a higher sequence number). A kernel without sch_netem (CONFIG_NET_SCH_NETEM)
    gets only the rate line, from `tbf rate 50mbit burst 25000 overhead 24`. The table (delay
    error = mean RTT - 40 ms, and net of the path = that minus the same path's mean RTT without
    the delay; rate error = iperf3 vs 47.074 Mbit/s; reordered datagrams) is printed and written to
    $PATHLAB_BUILD_ROOT/link-live.md. pathlab must be at least as accurate as Linux on every
    line it is compared on: delay net of the path (pathlab's path is three routers in user space
    and af_packet twice each way, 0.2 to 0.3 ms of RTT that are no error of the link; netem's is
    one kernel hop), with 0.05 ms of tolerance (a difference of two 50-ping means); rate, with
    0.1 percentage points (iperf3's 1 s intervals through one and the same link spread by up to
    0.14%); reordering, with none. The raw delay error and the jitter run's one-way delay are shown, not
    compared.
    The Linux side runs while pathlab has no holding stage (its worker sleeps when idle).
aqm:
 4. 100 Mbit/s, 20 ms, `aqm: {type: codel, target: 5ms, interval: 100ms, ecn: true}` both ways,
    one iperf3 flow (`-C cubic`: the machine's default may be BBR, which ignores CE). With ECN
    on both hosts (net.ipv4.tcp_ecn=1) the link CE-marks (`r2.east.egress.link.ce_marked` > 0)
    and drops nothing for the AQM (`...link.aqm` == 0), and the mean sojourn (the summary's
    `links` row of r2.east: `mean_sojourn_ns`, over every packet of that pathlab run) stays
    within 2 x target. Shown beside it, the proxy used before the summary had it: the mean RTT
    of ECT(0) pings (`ping -Q 2`, so that codel marks rather than drops them) sent during the
    transfer (from 1.5 s on, past slow start), minus the shortest idle RTT. With
    tcp_ecn=0 the AQM drops (`...link.aqm` > 0). Then `aqm: {type: tail_drop}` with
    `queue: {packets: 100}` under the same flow: no error (that it never holds more is
    unit-tested in stage-link).
"""
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(REPO, "scripts"))
from lablib import runner as R  # noqa: E402
from lablib import summary as S  # noqa: E402
from lablib.lab import PY, Lab, LabFailure, log, main  # noqa: E402
from lablib.tools import parse_ping  # noqa: E402

TOPO = os.path.join(REPO, "topologies", "bottleneck.yaml")
DELAY_MS = 20.0
RATE = 50e6
OVERHEAD = 24
MTU = 1500
PAYLOAD = MTU - 20 - 20 - 12                   # IPv4, TCP, timestamp option
WIRE = 14 + MTU + OVERHEAD                     # pkt_len (no FCS) + overhead, as the link counts
GOODPUT = RATE * PAYLOAD / WIRE                # 47.074 Mbit/s
RATE_TOL = 0.05
RATE_NOISE = 0.001                             # tolerances of the comparison (see above)
DELAY_NOISE = 0.05                             # ms
IPERF_T, STEADY_FROM = 6, 1                    # s: the run, and where its steady part starts
RATE_WINDOW = "400K"                           # iperf_rate
PINGS, PING_GAP = 50, 0.05
DELAY_TRIES = 5
UDP_N, UDP_GAP = 1000, 0.001
IPERF_PORT, UDP_PORT = 5201, 9000
OFFLOADS = R.OFFLOADS


def link(**kw):
    """r2's two egress lists, both carrying the same link."""
    sl = [dict(stage="link", **kw)]
    return {"r2.west.egress": sl, "r2.east.egress": sl}


# ---------------------------------------------------------------- measurements

def ping_rtt(c, dst, count=PINGS, gap=PING_GAP, ect=False):
    cmd = ["ping", "-4", "-n", "-c", count, "-i", gap, "-W", 2] + (["-Q", 2] if ect else []) + [dst]
    cp = c.run(cmd, check=False, timeout=count * gap + 10)
    r = parse_ping(cp.stdout)
    if not r["received"]:
        raise LabFailure(f"{c.name}: ping {dst}: no answer\n{cp.stdout}{cp.stderr}")
    log(f"{c.name}: ping {dst}: {r['received']}/{r['sent']}, min/avg/max "
        f"{r['min']:.3f}/{r['avg']:.3f}/{r['max']:.3f} ms")
    return r


def delay_run(c, dst):
    """(min, mean) RTT of PINGS pings; up to DELAY_TRIES runs until the mean is within 0.5 ms
    of 40 ms: the lowest minimum and the best mean.  Only lateness is retried: on this 2-core
    machine a burst of load on the hosts' side (the pings' softirqs, ksoftirqd) delays a few
    replies by 5-20 ms, which is the host's doing, not the link's; a reply that comes back
    early is an error of the link and counts in every run (the min is over all runs)."""
    runs = []
    for _ in range(DELAY_TRIES):
        r = ping_rtt(c, dst)
        runs.append((r["min"], r["avg"]))
        if r["avg"] <= 2 * DELAY_MS + 0.5:
            break
    return {"min": min(m for m, _ in runs), "avg": min(a for _, a in runs), "runs": len(runs)}


def link_row(summary, rid, name):
    """A link's row in a router's `links` list of pathlab's summary (docs/links.md)."""
    for row in S.router_summary(summary, rid).get("links", []):
        if row.get("name") == name:
            return row
    raise S.SummaryError(f"no link {name} in {rid}'s summary")


def wait_listening(h, port, proto="t", timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if h.run(["ss", "-Hn", f"-{proto}l", "sport", "=", f":{port}"], check=False).stdout.strip():
            return
        time.sleep(0.05)
    raise LabFailure(f"{h.name}: nothing listens on {port}/{'tcp' if proto == 't' else 'udp'}")


class Iperf:
    """iperf3 client -> server, `seconds` long: start(), then result() gives the receiver's bits
    per second over the whole run ("end", iperf3's sum_received) and over its steady part
    ("steady": the server's own 1 s intervals from STEADY_FROM s on, whole ones only, from
    `-J --get-server-output` with the server in -J mode).  The whole-run figure mixes in slow
    start and the last partial interval, and `--omit` does not line up on the server."""

    def __init__(self, c, s, dst, seconds=IPERF_T, cc="cubic", window=None):
        self.c, self.s, self.dst, self.seconds, self.cc = c, s, dst, seconds, cc
        self.window = window

    def start(self):
        self.srv = self.s.popen(["iperf3", "-s", "-1", "-J", "-p", IPERF_PORT],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.s, IPERF_PORT)
        self.cli = self.c.popen(["iperf3", "-c", self.dst, "-p", IPERF_PORT, "-t", self.seconds,
                                 "-C", self.cc, "-J", "--get-server-output",
                                 "--connect-timeout", 3000]
                                + (["-w", self.window] if self.window else []),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return self

    def result(self):
        try:
            out, err = self.cli.communicate(timeout=self.seconds + 20)
        finally:
            for p in (self.cli, self.srv):
                if p.poll() is None:
                    p.kill()
                p.wait(5)
        try:
            j = json.loads(out)
        except ValueError:
            raise LabFailure(f"iperf3: no JSON (rc {self.cli.returncode}): {out[-500:]}{err[-500:]}")
        if "error" in j:
            raise LabFailure(f"iperf3: {j['error']}")
        recv, sent = j["end"]["sum_received"], j["end"]["sum_sent"]
        ivs = [iv["sum"] for iv in j.get("server_output_json", {}).get("intervals", [])]
        steady = [v for v in ivs if v["start"] >= STEADY_FROM - 0.01 and not v.get("omitted")
                  and v["end"] - v["start"] >= 0.99]
        r = {"end": recv["bits_per_second"], "retransmits": sent.get("retransmits"),
             "steady": (sum(v["bytes"] for v in steady) * 8 /
                        sum(v["end"] - v["start"] for v in steady)) if steady else None,
             "steady_s": sum(v["end"] - v["start"] for v in steady)}
        log(f"iperf3 {self.dst} ({self.cc}): receiver {r['end'] / 1e6:.3f} Mbit/s over "
            f"{recv['seconds']:.2f} s, " + (f"{r['steady'] / 1e6:.3f} Mbit/s over its "
                                            f"{r['steady_s']:.2f} s from {STEADY_FROM} s, "
                                            if r["steady"] else "no server intervals, ")
            + f"{r['retransmits']} retransmissions")
        return r


def iperf_rate(c, s, dst):
    """The receiver's steady bits per second (Iperf) of one flow limited by its window
    (`-w RATE_WINDOW`): more than the path's bandwidth-delay product at 50 Mbit/s and 40 ms
    (250 kB), less than that plus the 1000-packet queue (1.5 MB), so the link never idles and
    its queue never overflows: no loss, no retransmission, and the receiver's rate is the link's
    goodput (a flow that overflows the queue loses to retransmissions, and data held out of
    order at the receiver lands in whichever interval the repair falls: seen +2.6 to +3.8%).
    Reno, whose slow start runs until the window is full: CUBIC's HyStart may leave slow start
    at the first rise of the RTT, which a loaded host's scheduling noise brings early."""
    r = Iperf(c, s, dst, cc="reno", window=RATE_WINDOW).start().result()
    if r["steady"] is None or r["steady_s"] < IPERF_T - STEADY_FROM - 0.5:
        raise LabFailure(f"iperf3: too few steady server intervals: {r}")
    return r["steady"]


UDP_RECV = r'''
import json, socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
n = int(sys.argv[3])
s.settimeout(15)
got = []
try:
    while len(got) < n:
        b = s.recv(2048)
        t = time.monotonic_ns()
        seq, sent = struct.unpack("!QQ", b[:16])
        got.append((seq, t - sent))
        s.settimeout(1.0)
except socket.timeout:
    pass
print(json.dumps(got), flush=True)
'''

UDP_SEND = r'''
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dst = (sys.argv[1], int(sys.argv[2]))
n, gap = int(sys.argv[3]), float(sys.argv[4])
pad = bytes(84)
t0 = time.monotonic()
for i in range(n):
    due = t0 + i * gap
    while True:
        d = due - time.monotonic()
        if d <= 0:
            break
        time.sleep(d if d > 0.0002 else 0)
    s.sendto(struct.pack("!QQ", i, time.monotonic_ns()) + pad, dst)
'''


def udp_stream(c, s, dst, n=UDP_N, gap=UDP_GAP):
    """n datagrams `gap` s apart, each with its sequence number and send time (CLOCK_MONOTONIC
    is one clock for every namespace): received, reordered (arrived after a higher sequence
    number), one-way delay mean and standard deviation (ms)."""
    rcv = s.popen([PY, "-c", UDP_RECV, dst, UDP_PORT, n], stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE, text=True)
    wait_listening(s, UDP_PORT, proto="u")
    c.run([PY, "-c", UDP_SEND, dst, UDP_PORT, n, gap], timeout=n * gap + 20)
    out, err = rcv.communicate(timeout=30)
    got = json.loads(out)
    reordered, top = 0, -1
    for seq, _ in got:
        if seq < top:
            reordered += 1
        top = max(top, seq)
    owd = [ns / 1e6 for _, ns in got]
    r = {"sent": n, "received": len(got), "reordered": reordered,
         "owd_mean": statistics.fmean(owd), "owd_sd": statistics.pstdev(owd)}
    log(f"udp {dst}: {r['received']}/{n} received, {reordered} reordered, one-way delay "
        f"{r['owd_mean']:.3f} +- {r['owd_sd']:.3f} ms")
    return r


# ---------------------------------------------------------------- the Linux path

class LinuxPath:
    """lclient - lrouter - lserver: namespaces of the lab (Lab.add_namespace), lrouter forwarding,
    offloads off as on the lab's veths, MTU 1500; qdiscs on lrouter's two egress veths."""
    NET = {"c": "198.18.201", "s": "198.18.202"}

    def __init__(self, lab):
        self.c = lab.add_namespace("lclient")
        self.r = lab.add_namespace("lrouter")
        self.s = lab.add_namespace("lserver")
        for h, side, rif in ((self.c, "c", "west"), (self.s, "s", "east")):
            net = self.NET[side]
            R.run(["ip", "link", "add", "eth0", "netns", h.ns, "type", "veth",
                   "peer", "name", rif, "netns", self.r.ns])
            for ns, dev, addr in ((h.ns, "eth0", f"{net}.2/24"), (self.r.ns, rif, f"{net}.1/24")):
                R.run(["ethtool", "-K", dev] + OFFLOADS, ns=ns)
                R.run(["ip", "-n", ns, "addr", "add", addr, "dev", dev])
                R.run(["ip", "-n", ns, "link", "set", dev, "up"])
            R.run(["ip", "-n", h.ns, "route", "add", "default", "via", f"{net}.1"])
            h.sysctl("net.ipv4.tcp_ecn", 1)
        self.r.sysctl("net.ipv4.ip_forward", 1)
        self.dst = f"{self.NET['s']}.2"
        self.netem = self.qdisc("netem delay 1ms", check=False)
        log(f"Linux path: sch_netem {'available' if self.netem else 'NOT in this kernel'}")

    def qdisc(self, spec, check=True):
        """`tc qdisc replace dev X root SPEC` on both egress veths; False if refused."""
        for dev in ("west", "east"):
            cp = self.r.run(["tc", "qdisc", "replace", "dev", dev, "root"] + spec.split(),
                            check=False)
            if cp.returncode != 0:
                if check:
                    raise LabFailure(f"tc qdisc {spec}: {cp.stderr.strip()}")
                return False
        log(f"lrouter: qdisc {spec} on west and east")
        return True

    def warm(self):
        self.c.wait_ping(self.dst)


# ---------------------------------------------------------------- the parts

def accuracy():
    rows = {"base": {}, "delay": {}, "rate": {}, "jitter": {}}   # line -> {who: result}
    with Lab(TOPO) as lab:
        c, s = lab.host("client"), lab.host("server")
        dst = lab.ip4("server")
        lab.check()     # the topology's own checks, on its 100 Mbit/s, 20 ms link
        # Linux first, with pathlab idle (no holding stage: its worker sleeps when idle)
        lab.restart({"r2.west.egress": [], "r2.east.egress": []})
        lp = LinuxPath(lab)
        lp.warm()
        if lp.netem:
            lp.qdisc("pfifo limit 1000")
            lp.warm()
            rows["base"]["netem"] = ping_rtt(lp.c, lp.dst)
            lp.qdisc("netem delay 20ms limit 1000")
            lp.warm()
            rows["delay"]["netem"] = delay_run(lp.c, lp.dst)
            lp.qdisc("netem delay 20ms rate 50mbit 24 limit 1000")
            lp.warm()
            rows["rate"]["netem"] = iperf_rate(lp.c, lp.s, lp.dst)
            lp.qdisc("netem delay 20ms 5ms limit 1000")
            lp.warm()
            rows["jitter"]["netem"] = udp_stream(lp.c, lp.s, lp.dst)
        else:
            # burst 25000: rate / HZ (250), the usual floor, so that a late qdisc timer on a
            # loaded host is made up for (with 2 frames' worth, 3076, tbf lost 3.5% at load 3)
            lp.qdisc("tbf rate 50mbit burst 25000 limit 1538000 overhead 24")
            lp.warm()
            rows["rate"]["tbf"] = iperf_rate(lp.c, lp.s, lp.dst)

        # pathlab's path with a link that holds nothing back (`- stage: link` alone): the three
        # routers and af_packet, with the worker never sleeping, as it does with a delay
        lab.restart(link())
        c.wait_ping(dst)
        rows["base"]["pathlab"] = ping_rtt(c, dst)

        lab.restart(link(delay="20ms"))
        c.wait_ping(dst)
        rows["delay"]["pathlab"] = delay_run(c, dst)

        summary = lab.restart(link(rate="50mbit", delay="20ms"))
        rows["delay"]["pathlab"]["late_us"] = max(
            link_row(summary, "r2", f"r2.{p}")["mean_lateness_ns"] / 1e3 for p in ("west", "east"))
        c.wait_ping(dst)
        rows["rate"]["pathlab"] = iperf_rate(c, s, dst)

        lab.restart(link(delay="20ms", jitter="5ms"))
        c.wait_ping(dst)
        rows["jitter"]["pathlab"] = udp_stream(c, s, dst)
        summary = lab.down()
        S.check_no_checksum_drops(summary)

    table = report(rows)
    path = os.path.join(os.environ.get("PATHLAB_BUILD_ROOT", "/tmp"), "link-live.md")
    with open(path, "w") as f:
        f.write(table + "\n")
    log(f"table written to {path}")

    # 1. rate, 2. delay: pathlab's own bounds
    got = rows["rate"]["pathlab"]
    assert abs(got / GOODPUT - 1) <= RATE_TOL, \
        f"rate: {got / 1e6:.3f} Mbit/s, want {GOODPUT / 1e6:.3f} +- {RATE_TOL:.0%}"
    d = rows["delay"]["pathlab"]
    assert d["min"] >= 2 * DELAY_MS and d["avg"] <= 2 * DELAY_MS + 0.5, \
        f"delay: RTT min {d['min']} avg {d['avg']} ms, want min >= 40.0 and avg <= 40.5 " \
        f"(load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)"
    j = rows["jitter"]["pathlab"]
    assert j["received"] == UDP_N and j["reordered"] == 0, j
    # 3. at least as accurate as Linux on every line Linux could measure
    for lx, v in rows["rate"].items():
        if lx != "pathlab":
            e_p, e_l = abs(got / GOODPUT - 1), abs(v / GOODPUT - 1)
            assert e_p <= e_l + RATE_NOISE, \
                f"rate error: pathlab {e_p:.2%} > {lx} {e_l:.2%} + {RATE_NOISE:.1%}"
    if "netem" in rows["delay"]:
        e_p = net_delay_error(rows, "pathlab")
        e_l = net_delay_error(rows, "netem")
        assert abs(e_p) <= abs(e_l) + DELAY_NOISE, \
            f"delay error net of the path: pathlab {e_p:+.3f} ms, netem {e_l:+.3f} ms"
    if "netem" in rows["jitter"]:
        assert j["reordered"] <= rows["jitter"]["netem"]["reordered"], rows["jitter"]


def net_delay_error(rows, who):
    """Mean RTT through the delay - mean RTT of the same path without it - 40 ms."""
    return rows["delay"][who]["avg"] - rows["base"][who]["avg"] - 2 * DELAY_MS


def report(rows):
    """The side-by-side table (markdown), printed and returned."""
    lx = "netem" if "netem" in rows["delay"] else "tbf"
    data = dict(rows, net=rows["delay"], owd=rows["jitter"])

    def cell(line, who):
        v = data[line].get(who)
        if v is None:
            return "—"
        if line == "rate":
            return f"{v / 1e6:.3f} Mbit/s ({v / GOODPUT - 1:+.2%})"
        if line == "delay":
            runs = f", best of {v['runs']} runs" if v["runs"] > 1 else ""
            late = (f"; releases {v['late_us']:.1f} us late on average (summary)"
                    if "late_us" in v else "")
            return (f"{v['avg'] - 2 * DELAY_MS:+.3f} ms (min {v['min']:.3f}, mean {v['avg']:.3f}"
                    f"{runs}{late})")
        if line == "net":
            return f"{net_delay_error(rows, who):+.3f} ms (without: mean {rows['base'][who]['avg']:.3f})"
        if line == "jitter":
            return f"{v['reordered']} of {v['received']}"
        return f"{v['owd_mean']:.3f} ms (sd {v['owd_sd']:.3f})"

    def line(text, expected, key, src=None):
        src = src or key
        return (f"| {text} | {expected} | {cell(key, 'pathlab')} | "
                f"{cell(key, lx) if lx in data[src] else '—'} |")

    rate_path = " + 20 ms" if lx == "netem" else " (pathlab + 20 ms; tbf without delay)"
    lines = [
        f"| line | expected | pathlab | Linux ({lx}) |",
        "|---|---|---|---|",
        line(f"delay error: mean RTT - 40 ms, {PINGS} pings {PING_GAP:g} s apart, delay 20 ms "
             "each way", "0 (pathlab: +0.5 / -0)", "delay"),
        line("delay error net of the path: the same minus the path's mean RTT without the "
             "delay", "0", "net", "delay"),
        line(f"rate error: iperf3 receiver, 1 TCP flow (`-w {RATE_WINDOW}`), its 1 s intervals "
             f"{STEADY_FROM} to {IPERF_T} s, "
             f"50 Mbit/s{rate_path}", f"{GOODPUT / 1e6:.3f} Mbit/s (+-5%)", "rate"),
        line(f"reordered: {UDP_N} UDP datagrams {UDP_GAP * 1e3:g} ms apart, delay 20 ms jitter "
             "5 ms (uniform)", "0", "jitter"),
        line("(not compared) one-way delay in that run", "20 ms", "owd", "jitter"),
    ]
    table = "\n".join(lines)
    print(f"\nload average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs\n{table}\n",
          flush=True)
    return table


CODEL = {"type": "codel", "target": "5ms", "interval": "100ms", "ecn": True}
CODEL_TARGET_MS = 5.0


def aqm():
    """codel with ECN, codel without ECN on the hosts, tail drop of 100 packets: one iperf3
    flow each, ECT(0) pings from 1.5 s on; each run's counters and mean sojourn from the summary
    of its end."""
    coded = link(rate="100mbit", delay="20ms", aqm=CODEL)
    runs = [("codel, tcp_ecn=1", coded, 1), ("codel, tcp_ecn=0", coded, 0),
            ("tail_drop, 100 packets",
             link(rate="100mbit", delay="20ms", queue={"packets": 100}, aqm={"type": "tail_drop"}),
             0)]
    res = []
    with Lab(TOPO) as lab:
        c, s = lab.host("client"), lab.host("server")
        dst = lab.ip4("server")
        lab.restart(coded)
        c.wait_ping(dst)
        base = ping_rtt(c, dst, count=20, ect=True)["min"]
        for k, (what, stages, ecn) in enumerate(runs):
            if k:
                res[-1]["summary"] = lab.restart(stages)
                c.wait_ping(dst)
            log(f"---- {what}")
            for h in (c, s):
                h.sysctl("net.ipv4.tcp_ecn", ecn)
            ip = Iperf(c, s, dst).start()
            time.sleep(1.5)
            loaded = ping_rtt(c, dst, count=int((IPERF_T - 2.5) / PING_GAP), ect=True)
            res.append({"what": what, "bps": ip.result()["end"], "sojourn_ms": loaded["avg"] - base})
        res[-1]["summary"] = lab.down()
        S.check_no_checksum_drops(res[-1]["summary"])

    for r in res:
        for n in ("ce_marked", "aqm", "queue_full"):
            r[n] = S.stage_counter(r["summary"], f"r2.east.egress.link.{n}")
        row = link_row(r["summary"], "r2", "r2.east")
        r["mean_sojourn_ms"] = row["mean_sojourn_ns"] / 1e6
        log(f"{r['what']}: {r['bps'] / 1e6:.1f} Mbit/s, mean sojourn {r['mean_sojourn_ms']:.2f} ms "
            f"over {row['accepted']} packets (summary; RTT proxy {r['sojourn_ms']:.2f} ms), "
            f"CE marked {r['ce_marked']}, AQM drops {r['aqm']}, queue_full {r['queue_full']}")
    e, n, td = res
    assert e["ce_marked"] > 0 and e["aqm"] == 0, f"codel+ECN: want CE marks and no AQM drops: {e}"
    assert e["mean_sojourn_ms"] <= 2 * CODEL_TARGET_MS, \
        f"codel+ECN: mean sojourn {e['mean_sojourn_ms']:.2f} ms > 2 x target"
    assert n["aqm"] > 0, f"codel without ECN: want AQM drops: {n}"
    # tail drop: that its run went through without an error (iperf3's result, pathlab's exit
    # and books in lab.down) is the check here; its limit is unit-tested (stage-link)
    assert td["bps"] > 0, td


def test():
    parts = sys.argv[1:] or ["accuracy", "aqm"]
    for p in parts:
        if p not in ("accuracy", "aqm"):
            raise LabFailure(f"unknown part {p!r} (accuracy, aqm)")
    for p in parts:
        log(f"---- {p}")
        {"accuracy": accuracy, "aqm": aqm}[p]()


if __name__ == "__main__":
    main(test)

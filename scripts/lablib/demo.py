#!/usr/bin/python3
"""scripts/demo: pathlab in one minute.

Installs what is missing (scripts/setup), builds (scripts/build), then runs two
labs, one after the other, each under a unique name:

1. topologies/default.yaml (client - r1 - r2 - r3 - server, one pathlab
   process): ping and traceroute (IPv4 and IPv6) and an HTTP transfer of a
   20 MB file (sha256 checked).
2. topologies/middlebox.yaml, where r2 is a legacy firewall: traceroute to
   443/udp ends at r2 with !X (QUIC rejected, ICMP admin-prohibited); tcpdump at
   the client and at the server shows the client's SYN as sent and as received
   (MSS clamped, ECE/CWR stripped, ISN shifted by tcp_seq) and a UDP datagram's
   DSCP zeroed; a 2 MB HTTP transfer through the rewriting firewall is sha256
   checked; r2's stage counters come from pathlab's JSON summary.
3. topologies/bottleneck.yaml, where r2 emulates a 100 Mbit/s, 20 ms link in both directions
   with codel and ECN: ping RTTs idle, then one iperf3 flow (CUBIC, ECN on both hosts) with
   ECT(0) pings during it, through the link and again through the same link as a plain FIFO:
   throughput against the link's goodput, what the queue adds to the RTT, and the link's CE
   marks and drops from pathlab's JSON summaries.
4. topologies/ipim.yaml, four pathlab routers taking part in IPIM and one Linux router:
   pathlab-probe's hop map (router ids, AS numbers, addresses, the Linux hop as "did not take
   part", TTL' verdict), then performance stamps under a 30 Mbit/s iperf3 UDP load into the
   20 Mbit/s link, which the probe names as the bottleneck with its queue delay.

It prints a report: per-hop RTTs, ping RTT, transfer rates and per-router
counters for the first lab, the before/after table and r2's stage counters for
the second, RTTs, throughput and the link's counters for the third, every
expectation marked OK or UNEXPECTED, and "demo PASSED" or
"demo FAILED".  Each lab is torn down always, also on error or Ctrl-C.  Run as
root.

Environment: PATHLAB_DEMO_NO_BUILD=1 skips setup and build; PATHLAB_BIN names
the pathlab binary (default build/apps/pathlab).
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from lablib import summary as S  # noqa: E402
from lablib.lab import PY, Lab, LabFailure  # noqa: E402
from lablib.runner import print_layout  # noqa: E402
from lablib.topology import _stage_items  # noqa: E402
from lablib.tools import parse_ping, parse_traceroute  # noqa: E402

TOPO = os.path.join(REPO, "topologies", "default.yaml")
MB_TOPO = os.path.join(REPO, "topologies", "middlebox.yaml")
BN_TOPO = os.path.join(REPO, "topologies", "bottleneck.yaml")
IPIM_TOPO = os.path.join(REPO, "topologies", "ipim.yaml")
SIZE = 20 * 1000 * 1000
MB_SIZE = 2 * 1000 * 1000
PORT = 8000
UDP_PORT = 9000
EF = 46                 # DSCP the client's UDP datagram is sent with
MSS_CLAMP = 1360        # r2's mss stage in topologies/middlebox.yaml
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# topologies/bottleneck.yaml: r2's link, both ways. Goodput of one full-size TCP segment: payload
# 1448 (1500 - IPv4 20 - TCP 20 - timestamps 12) of the 14 + 1500 + 24 bytes the link counts.
BN_RATE, BN_DELAY_MS = 100e6, 20.0
BN_GOODPUT = BN_RATE * 1448 / (14 + 1500 + 24)
BN_IPERF_S = 4
IPERF_PORT = 5201
# topologies/ipim.yaml: r2 -> r3 is the bottleneck (hop 2); kr, the Linux router, is hop 5.
IPIM_BOTTLENECK_HOP, IPIM_BOTTLENECK_BPS, IPIM_KERNEL_HOP = 2, 20e6, 5
ECE, CWR = 0x40, 0x80


class DemoError(Exception):
    pass


def step(msg):
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def on_signal(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def prepare():
    if os.environ.get("PATHLAB_DEMO_SETUP_DONE") == "1":
        return
    if os.environ.get("PATHLAB_DEMO_NO_BUILD") == "1":
        step("PATHLAB_DEMO_NO_BUILD=1: skipping scripts/setup and scripts/build")
        return
    for name, env in (("setup", None), ("build", dict(os.environ, PATHLAB_SKIP_SETUP="1"))):
        path = os.path.join(REPO, "scripts", name)
        if not os.access(path, os.X_OK):
            continue
        step(f"scripts/{name}")
        t0 = time.monotonic()
        cp = subprocess.run([path], capture_output=True, text=True, env=env)
        if cp.returncode != 0:
            sys.stdout.write(cp.stdout[-3000:] + cp.stderr[-3000:])
            raise DemoError(f"scripts/{name} failed ({cp.returncode})")
        last = (cp.stdout.strip().splitlines() or [""])[-1]
        step(f"  done in {time.monotonic() - t0:.1f}s: {last[:100]}")


def owner(t, addr):
    for r in t.routers.values():
        for p in r.ports.values():
            if any(str(a.ip) == addr for a in p.ip4 + p.ip6):
                return p.full
    for h in t.hosts.values():
        for i in h.ifaces:
            if any(str(a.ip) == addr for a in i.ip4 + i.ip6):
                return h.name
    return "?"


def make_blob(directory, name, size):
    """A file of `size` random bytes in `directory`; returns its sha256."""
    data = os.urandom(size)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def serve_http(lab, directory):
    """python3 -m http.server in the server (IPv4 and IPv6); waits until it answers."""
    lab.host("server").popen([PY, "-m", "http.server", PORT, "--bind", "::",
                              "--directory", directory],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{lab.ip4('server')}:{PORT}/"
    end = time.monotonic() + 15.0
    while time.monotonic() < end:
        cp = lab.host("client").run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                     "--max-time", "2", url], check=False)
        if cp.stdout.strip() == "200":
            return
        time.sleep(0.2)
    raise DemoError(f"HTTP server not answering at {url}")


def transfer(lab, url, dest, want):
    cp = lab.host("client").run(["curl", "-sS", "--fail", "-o", dest, "-w",
                                 "%{size_download} %{time_total}", "--max-time", "30", url],
                                timeout=40)
    size, secs = cp.stdout.split()
    with open(dest, "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    return {"bytes": int(float(size)), "seconds": float(secs), "sha256": got, "ok": got == want}


def phase_default(lab, work):
    """Phase 1 on topologies/default.yaml: ping, traceroute, HTTP over v4 and v6."""
    res = {}
    c = lab.host("client")
    s4, s6 = lab.ip4("server"), lab.ip6("server")
    step(f"ping {s4} and {s6} from the client")
    res["ping4"] = parse_ping(c.ping(s4, count=5, check=False).stdout)
    res["ping6"] = parse_ping(c.ping(s6, count=5, check=False).stdout)

    step("traceroute (3 probes per hop)")
    res["trace4"] = parse_traceroute(c.run([
        "traceroute", "-4", "-n", "-q", "3", "-w", "2", "-m", "8", s4], check=False).stdout)
    res["trace6"] = parse_traceroute(c.run([
        "traceroute", "-6", "-n", "-q", "3", "-w", "2", "-m", "8", s6], check=False).stdout)

    step(f"HTTP: python3 -m http.server in the server, curl a {SIZE / 1e6:.0f} MB file")
    want = make_blob(work, "blob.bin", SIZE)
    serve_http(lab, work)
    res["http4"] = transfer(lab, f"http://{s4}:{PORT}/blob.bin", os.path.join(work, "got4.bin"),
                            want)
    res["http6"] = transfer(lab, f"http://[{s6}]:{PORT}/blob.bin", os.path.join(work, "got6.bin"),
                            want)
    res["sha256"] = want
    return res


SEND_DSCP = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, int(sys.argv[3]))
for _ in range(3):
    s.sendto(b"pathlab demo dscp", (sys.argv[1], int(sys.argv[2])))
"""


def phase_middlebox(lab, work):
    """Phase 2 on topologies/middlebox.yaml: what the legacy firewall r2 does to a path."""
    res = {}
    c, s = lab.host("client"), lab.host("server")
    s4 = lab.ip4("server")
    step(f"traceroute -U -p 443 {s4} (QUIC's port)")
    res["trace"] = parse_traceroute(c.run([
        "traceroute", "-4", "-n", "-q", "1", "-w", "2", "-m", "8", "-U", "-p", "443", s4],
        check=False).stdout)

    step(f"tcpdump at client and server; UDP with DSCP {EF}; curl a {MB_SIZE / 1e6:.0f} MB file")
    want = make_blob(work, "small.bin", MB_SIZE)
    serve_http(lab, work)
    # Only what the report compares: the client's SYNs and the UDP datagrams.
    bpf = (f"(tcp dst port {PORT} and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn)"
           f" or udp dst port {UDP_PORT}")
    pc, ps = os.path.join(work, "client.pcap"), os.path.join(work, "server.pcap")
    with c.capture("eth0", bpf, pc), s.capture("eth0", bpf, ps):
        c.run([PY, "-c", SEND_DSCP, s4, UDP_PORT, EF << 2])
        res["http"] = transfer(lab, f"http://{s4}:{PORT}/small.bin",
                               os.path.join(work, "small.got"), want)

    from scapy.all import IP, TCP, UDP, rdpcap   # only this phase needs scapy

    def view(path):
        """The SYNs to PORT by source port, and the first UDP datagram's DSCP."""
        syns, dscp = {}, None
        for p in rdpcap(path):
            if TCP in p and p[TCP].dport == PORT and p[TCP].flags & 0x12 == 0x02:
                syns[p[TCP].sport] = {
                    "sport": p[TCP].sport, "isn": p[TCP].seq,
                    "ece_cwr": int(p[TCP].flags) & (ECE | CWR),
                    "mss": next((v for k, v in p[TCP].options if k == "MSS"), None)}
            elif UDP in p and p[UDP].dport == UDP_PORT and dscp is None:
                dscp = p[IP].tos >> 2
        return syns, dscp

    (sent, res["dscp_sent"]), (seen, res["dscp_seen"]) = view(pc), view(ps)
    if not sent:
        raise DemoError("no SYN in the client's capture")
    res["syn_sent"] = list(sent.values())[-1]     # the transfer's (the last connection)
    res["syn_seen"] = seen.get(res["syn_sent"]["sport"])
    return res


def link_text(stage):
    """{'stage': 'link', 'rate': '100mbit', 'aqm': {'type': 'codel', ...}} as
    'rate 100mbit, aqm codel (target 5ms, ...)'."""
    def val(v):
        if isinstance(v, dict):
            rest = ", ".join(f"{k} {val(x)}" for k, x in v.items() if k != "type")
            return f"{v.get('type', '')} ({rest})".strip() if "type" in v else "{" + rest + "}"
        return str(v).lower() if isinstance(v, bool) else str(v)
    return ", ".join(f"{k} {val(v)}" for k, v in stage.items() if k != "stage") or "no link"


def iperf_with_pings(lab, s4):
    """One CUBIC flow for BN_IPERF_S s with ECT(0) pings from 1 s on (ECT, so that an AQM
    marks them like the flow's packets rather than dropping them): iperf3's result and the
    pings."""
    c, s = lab.host("client"), lab.host("server")
    srv = s.popen(["iperf3", "-s", "-1", "-p", IPERF_PORT],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 5
    while time.monotonic() < end and not s.run(
            ["ss", "-Hntl", "sport", "=", f":{IPERF_PORT}"], check=False).stdout.strip():
        time.sleep(0.05)
    cli = c.popen(["iperf3", "-c", s4, "-p", IPERF_PORT, "-t", BN_IPERF_S, "-C", "cubic", "-J",
                   "--connect-timeout", 3000], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                  text=True)
    time.sleep(1)       # past slow start
    n = int((BN_IPERF_S - 1.5) / 0.05)
    pings = parse_ping(c.run(["ping", "-4", "-n", "-Q", 2, "-c", n, "-i", 0.05, "-W", 2, s4],
                             check=False, timeout=n * 0.05 + 10).stdout)
    try:
        out, _ = cli.communicate(timeout=BN_IPERF_S + 20)
    finally:
        for p in (cli, srv):
            if p.poll() is None:
                p.kill()
            p.wait(5)
    try:
        j = json.loads(out)
        return {"bps": j["end"]["sum_received"]["bits_per_second"],
                "retransmits": j["end"]["sum_sent"].get("retransmits"), "ping": pings}
    except (ValueError, KeyError) as e:
        raise DemoError(f"iperf3 gave no result: {e}: {out[-300:]}") from None


def phase_bottleneck(lab, work):
    """Phase 3 on topologies/bottleneck.yaml: RTTs, throughput and the queue of a 100 Mbit/s,
    20 ms link with codel and ECN, then the same link as a plain FIFO (bufferbloat)."""
    res = {}
    c = lab.host("client")
    s4 = lab.ip4("server")
    east = [v for v, _ in _stage_items(lab.t.routers["r2"].ports["east"],
                                       lab.t.routers["r2"].ports["east"].egress)]
    res["link"] = next((v for v in east if v.get("stage") == "link"), {})
    res["aqm"] = res["link"].get("aqm")
    step(f"r2's link: {link_text(res['link'])}")
    c.wait_ping(s4)
    step(f"ping {s4} (10 x 0.1 s)")
    res["ping"] = parse_ping(c.ping(s4, count=10, interval=0.1, check=False).stdout)
    step(f"iperf3 {BN_IPERF_S} s, one CUBIC flow with ECN; ECT(0) pings during it")
    res["iperf"] = iperf_with_pings(lab, s4)

    # the same link without its AQM: a 1000-packet FIFO, for comparison
    fifo = {k: v for k, v in res["link"].items() if k != "aqm"}
    step(f"pathlab restarted with r2's link as a plain FIFO: {link_text(fifo)}")
    res["summary_aqm"] = lab.restart({"r2.west.egress": [fifo], "r2.east.egress": [fifo]})
    c.wait_ping(s4)
    step(f"iperf3 {BN_IPERF_S} s again, ECT(0) pings during it")
    res["iperf_fifo"] = iperf_with_pings(lab, s4)
    return res


def probe_bin():
    pl = os.environ.get("PATHLAB_BIN") or os.path.join(REPO, "build", "apps", "pathlab")
    return os.path.join(os.path.dirname(pl), "pathlab-probe")


def phase_ipim(lab, work):
    """Phase 4 on topologies/ipim.yaml: the hop map pathlab-probe builds from triggered stamps,
    then performance stamps under load and the bottleneck it names."""
    res = {}
    c, s = lab.host("client"), lab.host("server")
    s4 = lab.ip4("server")
    probe = probe_bin()
    s.popen([probe, "reflect"], stdout=subprocess.DEVNULL)
    c.wait_ping(s4)
    step(f"pathlab-probe send --to {s4} --sweep 60-64: one triggered topology stamp per probe")
    cp = c.run([probe, "send", "--to", s4, "--sweep", "60-64", "--count", "15", "--interval",
                "0.05"], timeout=30)
    res["map_text"] = cp.stdout
    res["map"] = json.loads(c.run([probe, "send", "--to", s4, "--sweep", "60-64", "--count", "15",
                                   "--interval", "0.05", "--json"], timeout=30).stdout)
    step("iperf3 -u -b 30M into the 20 Mbit/s link; performance stamps at every hop during it")
    s.popen(["iperf3", "-s", "-1", "-p", IPERF_PORT], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    c.popen(["iperf3", "-c", s4, "-p", IPERF_PORT, "-u", "-b", "30M", "-l", "1200", "-t", "6"],
            stdout=subprocess.DEVNULL)
    time.sleep(1.5)
    cp = c.run([probe, "send", "--to", s4, "--perf", "--sweep", "60-64", "--count", "30",
                "--interval", "0.1", "--json"], timeout=30)
    res["perf"] = json.loads(cp.stdout)
    return res


def main():
    if os.geteuid() != 0:
        print("scripts/demo: run as root (network namespaces, veths)", file=sys.stderr)
        return 1
    t_start = time.monotonic()
    tag = os.getpid() % 100000
    work = tempfile.mkdtemp(prefix="pathlab-demo-")
    for s in SIGNALS:
        signal.signal(s, on_signal)
    runs = []            # (topology, results, summary) of each lab
    rc = 1
    try:
        prepare()
        for topo, name, phase in ((TOPO, f"demo{tag}", phase_default),
                                  (MB_TOPO, f"demomb{tag}", phase_middlebox),
                                  (BN_TOPO, f"demobn{tag}", phase_bottleneck),
                                  (IPIM_TOPO, f"demoip{tag}", phase_ipim)):
            step(f"lab up {os.path.relpath(topo, REPO)} as {name}")
            with Lab(topo, name=name) as lab:
                print_layout(lab.t)
                res = phase(lab, work)
                step(f"lab down {name}")
                runs.append((lab.t, res, lab.down(accounting=False)))
        rc = 0
    except KeyboardInterrupt as e:
        step(f"interrupted ({e or 'SIGINT'}): lab torn down")
        rc = 130
    except (DemoError, LabFailure, subprocess.TimeoutExpired, OSError) as e:
        step(f"FAILED: {e}")
        rc = 1
    finally:
        for s in SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        shutil.rmtree(work, ignore_errors=True)
    if rc == 0:
        ok = report_default(*runs[0])
        ok &= report_middlebox(*runs[1])
        ok &= report_bottleneck(*runs[2])
        ok &= report_ipim(*runs[3])
        print(f"demo {'PASSED' if ok else 'FAILED'} in {time.monotonic() - t_start:.1f}s; "
              "labs torn down")
        rc = 0 if ok else 1
    return rc


def mark(good):
    return "" if good else "   <- UNEXPECTED"


def report_default(t, res, summary):
    ok = True
    print()
    print("=" * 78)
    print("pathlab demo: client - r1 - r2 - r3 - server (topologies/default.yaml)")
    print("=" * 78)
    for fam, key in (("IPv4", "trace4"), ("IPv6", "trace6")):
        hops = [(hop, addrs[-1] if addrs else "*", rtts, marks)
                for hop, addrs, rtts, marks in res.get(key, [])]
        print(f"traceroute {fam}:")
        for hop, addr, rtts, _ in hops:
            r = " ".join(f"{x:.3f}" for x in rtts) or "no answer"
            print(f"  {hop:>2}  {addr:<16} {owner(t, addr):<9} {r} ms")
        routers = [a for _, a, _, _ in hops if owner(t, a) not in ("server", "client", "?")]
        good = len(routers) == 3 and hops and owner(t, hops[-1][1]) == "server"
        ok &= bool(good)
        print(f"      {'OK' if good else 'UNEXPECTED'}: {len(routers)} router hops, then "
              f"{'the server' if hops and owner(t, hops[-1][1]) == 'server' else 'no server'}")
    for fam, key in (("IPv4", "ping4"), ("IPv6", "ping6")):
        p = res[key]
        good = p["received"] == p["sent"] > 0
        ok &= good
        rtt = (f"rtt min/avg/max {p['min']:.3f}/{p['avg']:.3f}/{p['max']:.3f} ms"
               if p["avg"] is not None else "no rtt")
        print(f"ping {fam}: {p['received']}/{p['sent']} answered, {rtt}")
    for fam, key in (("IPv4", "http4"), ("IPv6", "http6")):
        h = res[key]
        rate = h["bytes"] * 8 / h["seconds"] / 1e6 if h["seconds"] > 0 else 0
        ok &= h["ok"] and h["bytes"] == SIZE
        print(f"http {fam}: {h['bytes'] / 1e6:.1f} MB in {h['seconds']:.2f} s = {rate:.0f} Mbit/s,"
              f" sha256 {'matches' if h['ok'] else 'DIFFERS'} ({h['sha256'][:16]}...)")
    if summary is None:
        print("routers: no JSON summary from pathlab")
        return False
    print(f"routers (pathlab JSON summary after {summary.get('seconds', 0):.1f} s):")
    for r in summary.get("routers", []):
        nz = ", ".join(f"{k} {v}" for k, v in r.get("drops", {}).items() if v)
        ports = "  ".join(f"{p['name']} rx {p['rx_packets']} tx {p['tx_packets']}"
                          for p in r.get("ports", []))
        print(f"  {r['id']}: {ports}")
        acc, bal = r.get("accounting", {}), not S.accounting_problems(r)
        ok &= bal
        print(f"      rx {acc.get('rx')} = tx {acc.get('tx')} + drops {acc.get('drops')}"
              f" + consumed {acc.get('consumed')}"
              + (f" + held {acc['held']}" if acc.get("held") else "")
              + f": {'balanced' if bal else 'NOT BALANCED'}"
              + (f"   (drops: {nz})" if nz else ""))
    return ok


# r2's west ingress stage counters (by stage name) this phase must have seen move.
MB_COUNTERS = tuple(f"r2.west.ingress.{c}" for c in (
    "block.icmp_sent", "dscp.zeroed", "ecn.syn_flags_stripped", "mss.lowered", "tcp_seq.flows"))


def report_middlebox(t, res, summary):
    ok = True
    print()
    print("middlebox: client - r1 - r2 (legacy firewall) - r3 - server "
          "(topologies/middlebox.yaml)")
    r2w = t.address("r2.west", "ip4")
    hops = [(hop, addrs[-1] if addrs else "*", rtts, marks)
            for hop, addrs, rtts, marks in res["trace"]]
    h2 = next((h for h in hops if h[0] == 2), None)
    good = (h2 is not None and h2[1] == r2w and "!X" in h2[3]
            and max(h[0] for h in hops) == 2)
    ok &= good
    what = (f"hop 2 {h2[1]} ({owner(t, h2[1])}) {' '.join(h2[3]) or 'no annotation'}"
            if h2 else "no hop 2")
    print(f"traceroute -U -p 443: {what}, last hop {max((h[0] for h in hops), default=0)}"
          + (" -> QUIC rejected, ICMP admin-prohibited" if good
             else f"   <- UNEXPECTED (want hop 2 {r2w} (r2.west) !X, then nothing)"))

    a, b = res["syn_sent"], res["syn_seen"]
    print("client SYN as sent      -> as the server saw it")
    if b is None:
        print(f"  the SYN from port {a['sport']} never reached the server   <- UNEXPECTED")
        ok = False
    else:
        good = b["mss"] == MSS_CLAMP and (a["mss"] or 0) > MSS_CLAMP
        ok &= good
        print(f"  MSS            {a['mss']!s:<7}-> {b['mss']}{mark(good)}")
        good = a["ece_cwr"] == ECE | CWR and b["ece_cwr"] == 0
        ok &= good

        def flags(v):
            return {0: "none", ECE: "ECE", CWR: "CWR", ECE | CWR: "set"}[v]
        print(f"  ECE/CWR        {flags(a['ece_cwr']):<7}-> "
              f"{'cleared' if b['ece_cwr'] == 0 else flags(b['ece_cwr'])}"
              f" (ECN negotiation {'fails' if b['ece_cwr'] == 0 else 'survives'}){mark(good)}")
        good = a["isn"] != b["isn"]
        ok &= good
        print(f"  ISN            {a['isn']:#010x} -> {b['isn']:#010x} (tcp_seq: "
              f"+{(b['isn'] - a['isn']) % 2**32:#x}){mark(good)}")

    ds, dr = res["dscp_sent"], res["dscp_seen"]
    good = ds == EF and dr == 0
    ok &= good
    print(f"UDP DSCP         {ds!s:>2}{' EF' if ds == EF else ''}  -> {dr}"
          f"{' (zeroed)' if dr == 0 else ''}{mark(good)}")

    h = res["http"]
    good = h["ok"] and h["bytes"] == MB_SIZE
    ok &= good
    print(f"http IPv4: {h['bytes'] / 1e6:.1f} MB in {h['seconds']:.2f} s, sha256 "
          f"{'matches' if h['ok'] else 'DIFFERS'} through the rewriting firewall{mark(good)}")

    if summary is None:
        print("routers: no JSON summary from pathlab   <- UNEXPECTED")
        return False
    routers = summary.get("routers", [])
    r2 = next((r for r in routers if r["id"] == "r2"), {})
    counters = {k: v for k, v in S.stage_counters(r2).items() if v}
    print("r2 stage counters: " + (", ".join(f"{k} {v}" for k, v in counters.items()) or "none"))
    missing = [k for k in MB_COUNTERS if not counters.get(k)]
    if missing:
        ok = False
        print(f"      UNEXPECTED: no count of {', '.join(missing)}")
    unbalanced = [r["id"] for r in routers if S.accounting_problems(r)]
    ok &= not unbalanced
    print(f"routers {', '.join(r['id'] for r in routers)}: rx = tx + drops + consumed (+ held) "
          + (f"NOT BALANCED on {', '.join(unbalanced)}" if unbalanced else "balanced"))
    return ok


def report_bottleneck(t, res, summary):
    ok = True
    print()
    print("bottleneck: client - r1 - r2 (100 Mbit/s, 20 ms each way) - r3 - server "
          "(topologies/bottleneck.yaml)")
    print(f"r2's link, both ways: {link_text(res['link'])}")
    p = res["ping"]
    good = p["received"] == p["sent"] > 0 and p["min"] >= 2 * BN_DELAY_MS
    ok &= good
    rtt = (f"rtt min/avg/max {p['min']:.3f}/{p['avg']:.3f}/{p['max']:.3f} ms"
           if p["avg"] is not None else "no rtt")
    print(f"ping idle: {p['received']}/{p['sent']} answered, {rtt} (40 ms + the hops; a loaded "
          f"host adds to the mean){mark(good)}")
    summaries = {"aqm": res.get("summary_aqm"), "fifo": summary}
    if any(v is None for v in summaries.values()):
        print("routers: no JSON summary from pathlab   <- UNEXPECTED")
        return False

    def link_counter(which, name):
        r2 = S.router_summary(summaries[which], "r2")
        return S.stage_counters(r2).get(f"r2.east.egress.link.{name}", 0)

    runs = {"aqm": res["iperf"], "fifo": res["iperf_fifo"]}
    aqm = res["aqm"] or {}
    head = f"{aqm.get('type', 'tail drop')}{' + ECN' if aqm.get('ecn') else ''}"

    def row(label, a, b, note=""):
        print(f"  {label:<34} {a!s:<22} {b}{note}")

    print(f"one CUBIC flow, {BN_IPERF_S} s, ECN on both hosts")
    row("", head, "FIFO (no AQM)")
    good = all(0.5 <= r["bps"] / BN_GOODPUT <= 1.01 for r in runs.values())
    ok &= good
    row(f"received (of {BN_GOODPUT / 1e6:.2f} Mbit/s goodput)",
        *(f"{r['bps'] / 1e6:.1f} Mbit/s ({r['bps'] / BN_GOODPUT:.0%})" for r in runs.values()),
        mark(good))
    added = {}
    for k, r in runs.items():
        q = r["ping"]
        added[k] = q["avg"] - p["avg"] if q["avg"] is not None and p["avg"] is not None else None
    row("RTT during it, mean / max", *(f"{r['ping']['avg']:.1f} / {r['ping']['max']:.1f} ms"
                                       if r["ping"]["avg"] is not None else "no answer"
                                       for r in runs.values()))
    good = None not in added.values() and added["aqm"] < added["fifo"]
    ok &= good
    row("the queue adds (mean)", *(f"{v:+.1f} ms" if v is not None else "?"
                                   for v in added.values()), mark(good))
    def sojourn(which):
        rows = [x for x in S.router_summary(summaries[which], "r2").get("links", [])
                if x.get("name") == "r2.east"]
        return f"{rows[0]['mean_sojourn_ns'] / 1e6:.2f} ms" if rows else "?"

    row("r2.east link: mean sojourn", sojourn("aqm"), sojourn("fifo"))
    for name, what in (("ce_marked", "CE marked"), ("aqm", "AQM drops"),
                       ("queue_full", "tail drops")):
        row(f"r2.east link: {what}", link_counter("aqm", name), link_counter("fifo", name))
    row("retransmissions", runs["aqm"]["retransmits"], runs["fifo"]["retransmits"])
    if aqm.get("ecn"):
        good = link_counter("aqm", "ce_marked") > 0 and link_counter("aqm", "aqm") == 0
        ok &= good
        print(f"      {aqm.get('type')} with ECN marks CE rather than dropping{mark(good)}")
    routers = [r for sm in summaries.values() for r in sm.get("routers", [])]
    unbalanced = sorted({r["id"] for r in routers if S.accounting_problems(r)})
    ok &= not unbalanced
    print(f"routers r1, r2, r3 (both runs): rx = tx + drops + consumed (+ held) "
          + (f"NOT BALANCED on {', '.join(unbalanced)}" if unbalanced else "balanced"))
    return ok


def report_ipim(t, res, summary):
    ok = True
    print()
    print("IPIM: client - r1 - r2 =20M= r3 - r4 - kr (Linux) - server (topologies/ipim.yaml)")
    print("pathlab-probe send --sweep 60-64 (hop map from triggered topology stamps):")
    for line in res["map_text"].splitlines():
        print(f"  | {line}")
    m = res["map"]
    want = {n: f"10.255.0.{n}" for n in range(1, 5)}
    got = {h["hop"]: h.get("router_id") for h in m["hop_map"]}
    good = all(got.get(n) == rid for n, rid in want.items())
    ok &= good
    print(f"hops 1-4 are r1-r4 by router id{mark(good)}")
    kernel = next((h for h in m["hop_map"] if h["hop"] == IPIM_KERNEL_HOP), {})
    good = kernel.get("status") == "did not take part" and m.get("not_taking_part") == 1
    ok &= good
    print(f"hop {IPIM_KERNEL_HOP} (the Linux router) did not take part, and TTL' counts exactly "
          f"one such hop: {m.get('ttl_prime_verdict')}{mark(good)}")
    p = res["perf"]
    print("under a 30 Mbit/s UDP load, performance stamps (median per hop):")
    print(f"  {'hop':>3}  {'link capacity':>14}  {'available':>12}  {'queue':>9}  level")
    for h in p["hop_map"]:
        if not h.get("perf_stamps"):
            print(f"  {h['hop']:>3}  {h['status']}")
            continue
        cap = f"{h['capacity_bps'] / 1e6:.1f} Mbit/s" if h.get("capacity_bps") else "-"
        avail = f"{h['avail_bps'] / 1e6:.2f} Mbit/s" if h.get("avail_bps") is not None else "-"
        q = f"{h['queue_us'] / 1000:.2f} ms" if h.get("queue_us") is not None else "-"
        print(f"  {h['hop']:>3}  {cap:>14}  {avail:>12}  {q:>9}  {h.get('level')}")
    b = next((h for h in p["hop_map"] if h["hop"] == p.get("bottleneck")), {})
    good = (p.get("bottleneck") == IPIM_BOTTLENECK_HOP
            and abs((b.get("capacity_bps") or 0) - IPIM_BOTTLENECK_BPS) <= 0.05 * IPIM_BOTTLENECK_BPS)
    ok &= good
    print(f"bottleneck: hop {p.get('bottleneck')}, r2 -> r3 at "
          f"{(b.get('capacity_bps') or 0) / 1e6:.2f} Mbit/s, queue "
          f"{(b.get('queue_us') or 0) / 1000:.2f} ms{mark(good)}")
    qs = (p.get("path") or {}).get("queue_sum_us") or {}
    rtt = p.get("network_us") or {}
    if qs and rtt:
        print(f"path: queue delay sum median {qs['median'] / 1000:.2f} ms; network RTT median "
              f"{rtt['median'] / 1000:.2f} ms (min {rtt['min'] / 1000:.2f} ms)")
    good = not any("queue" in d for d in p.get("discrepancies", []))
    ok &= good
    print(f"no hop's values contradict the RTT{mark(good)}")
    return ok


if __name__ == "__main__":
    sys.exit(main())

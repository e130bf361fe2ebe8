#!/usr/bin/python3
"""IPIM end to end (docs/ipim.md, docs/probe.md) in topologies/ipim.yaml: client - r1 - r2 =20M=
r3 - r4 - kr (Linux) - server, with pathlab-probe reflecting on the server.

1. Hop map, IPv4 and IPv6: a triggered sweep names r1..r4 with their router ids, AS numbers and
   addresses, and kr as "did not take part"; TTL' counts exactly one non-participating hop.
2. Bottleneck: under an iperf3 UDP load above r2 -> r3's 20 Mbit/s, the probe names hop 2 the
   bottleneck; its link capacity and its stamped queue delay are within 5% of the link's rate and
   of the mean sojourn the link model reports (telemetry /pathlab/links) for the same interval.
   No discrepancy is reported: the queue sum explains the RTT.
   The telemetry command /pathlab/ipim rotates a router's evolution offset: the path's value
   changes by exactly the difference, and comes back when the offset is set back.
3. Integrity: a dscp rewrite on r3 is reported as a DSCP change (and not ECN); an ECN bleach as
   an ECN change (and not DSCP).
4. Liar: r2 under-reporting its queue 10x is flagged: the queue sum does not explain the RTT.
5. Path change (tests/ipim/topologies/ipim-failover.yaml): a scheduled link-down in the middle of
   a probe run moves the path to the backup; the evolution value changes, and the probe reports
   the change within one probe interval of the event.
A missing pathlab-probe or iperf3 is a failure."""
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from lablib import runner as R  # noqa: E402
from lablib.lab import Lab, log, main  # noqa: E402

TOPOLOGY = os.path.join(REPO, "topologies", "ipim.yaml")
FAILOVER = os.path.join(HERE, "topologies", "ipim-failover.yaml")
BUILD = os.environ.get("PATHLAB_BUILD_ROOT") or os.path.join(REPO, "build")
PROBE = os.path.join(BUILD, "apps", "pathlab-probe")
PORT4, PORT6 = 33434, 33435
BOTTLENECK_BPS = 20_000_000


def probe(host, dst, *args, timeout=60):
    cmd = [PROBE, "send", "--to", dst, "--json"] + [str(a) for a in args]
    if ":" in dst:
        cmd += ["--ipv6", "--port", PORT6]
    cp = host.run(cmd, check=False, timeout=timeout)
    assert cp.returncode == 0, f"{' '.join(map(str, cmd))}: exit {cp.returncode}\n{cp.stderr[-2000:]}"
    return json.loads(cp.stdout)


def hop(report, n):
    return next(h for h in report["hop_map"] if h["hop"] == n)


def start_reflectors(lab):
    s = lab.host("server")
    for extra in ([], ["--ipv6", "--port", PORT6]):
        s.popen([PROBE, "reflect"] + extra)
    time.sleep(0.5)


def hop_map(lab, family):
    c = lab.host("client")
    dst = lab.ip4("server") if family == 4 else lab.ip6("server")
    r = probe(c, dst, "--sweep", "60-64", "--count", 15, "--interval", "0.05")
    log(f"IPv{family} hop map: {json.dumps(r['hop_map'])}")
    assert r["echoes"] >= 10, r["echoes"]
    assert r["hops"] == 5 and r["not_taking_part"] == 1, (r["hops"], r["not_taking_part"])
    assert "1 of 5 hops did not take part" in r["ttl_prime_verdict"], r["ttl_prime_verdict"]
    addr = lab.ip4 if family == 4 else lab.ip6
    ports = [("r1.p0", "r1.east"), ("r2.west", "r2.east"), ("r3.west", "r3.east"), ("r4.west", "r4.p1")]
    for n, (ingress, egress) in enumerate(ports, 1):
        h = hop(r, n)
        got = (h["status"], h["router_id"], h["as"], h["ingress"], h["egress"])
        want = ("stamped", f"10.255.0.{n}", 65000 + n, addr(ingress), addr(egress))
        assert got == want, (n, got, want)
    assert hop(r, 5)["status"] == "did not take part", hop(r, 5)


def rotation(lab):
    """The path's evolution value is the same run after run until a router's offset changes:
    /pathlab/ipim,r3 rotates r3's, and the value changes; /pathlab/ipim,r3,V sets it back."""
    c = lab.host("client")

    def value():
        return probe(c, lab.ip4("server"), "--count", 3, "--interval", "0.05")["evolution"]

    _, before = lab.telemetry("/pathlab/ipim")
    offsets = before["/pathlab/ipim"]
    assert sorted(offsets) == ["r1", "r2", "r3", "r4"], offsets
    first, again = value(), value()
    assert first == again, (first, again)
    _, after = lab.telemetry("/pathlab/ipim,r3")
    rotated = after["/pathlab/ipim"]["r3"]
    assert rotated != offsets["r3"]
    changed = value()
    assert changed == (first + rotated - offsets["r3"]) % 2**32, (first, changed)
    lab.telemetry(f"/pathlab/ipim,r3,{offsets['r3']}")
    assert value() == first
    log(f"evolution {first:#x}, {changed:#x} with r3 rotated to {rotated:#x}, then back")


def link_totals(lab, port):
    _, reply = lab.telemetry("/pathlab/links")
    links = reply["/pathlab/links"]
    return next(v for v in links.values() if v["name"] == port)


def loaded_run(lab, count=60, interval=0.1):
    """Probes with performance stamps at every hop while iperf3 pushes 30 Mbit/s of UDP into the
    20 Mbit/s link from 1 s into the run: the first probes see the idle path (the RTT's base).
    Returns the report and r2.east's mean sojourn over the loaded interval."""
    c, s = lab.host("client"), lab.host("server")
    s.popen(["iperf3", "-s", "-1", "-p", "5201"])
    time.sleep(0.5)
    import subprocess
    prober = c.popen([PROBE, "send", "--to", lab.ip4("server"), "--json", "--perf", "--sweep",
                      "60-64", "--count", count, "--interval", interval],
                     stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    c.popen(["iperf3", "-c", lab.ip4("server"), "-p", "5201", "-u", "-b", "30M", "-t",
             str(count * interval), "-l", "1200"], stdout=subprocess.DEVNULL)
    time.sleep(2.0)  # the queue fills within 0.1 s; leave the start out
    a = link_totals(lab, "r2.east")
    time.sleep(count * interval - 4.0)
    b = link_totals(lab, "r2.east")
    out, _ = prober.communicate(timeout=count * interval + 30)
    assert prober.returncode == 0, prober.returncode
    accepted = b["accepted"] - a["accepted"]
    mean_sojourn_us = (b["sojourn_ns"] - a["sojourn_ns"]) / accepted / 1000
    log(f"link r2.east over the loaded interval: {accepted} packets, mean sojourn "
        f"{mean_sojourn_us:.0f} us, rate {b['rate_bps']}")
    return json.loads(out), mean_sojourn_us, b["rate_bps"]


def bottleneck(lab):
    r, sojourn_us, rate = loaded_run(lab)
    h2 = hop(r, 2)
    log(f"hop 2: {json.dumps(h2)}; bottleneck {r['bottleneck']}; discrepancies {r['discrepancies']}")
    assert r["bottleneck"] == 2, r["bottleneck"]
    assert rate == BOTTLENECK_BPS
    assert abs(h2["capacity_bps"] - rate) <= 0.05 * rate, (h2["capacity_bps"], rate)
    assert abs(h2["queue_us"] - sojourn_us) <= 0.05 * sojourn_us, (h2["queue_us"], sojourn_us)
    lies = [d for d in r["discrepancies"] if "queue" in d]
    assert not lies, lies


def integrity(lab):
    c = lab.host("client")
    for stage, changed, unchanged, tos in (
            ({"stage": "dscp", "action": {"set": "af41"}}, "dscp", "ecn", 0x02),
            ({"stage": "ecn", "ip": "bleach"}, "ecn", "dscp", 0x2a)):
        lab.restart({"r3.east.egress": [stage]})  # the reflectors in the server keep running
        c.wait_ping(lab.ip4("server"))
        r = probe(c, lab.ip4("server"), "--count", 10, "--interval", "0.05", "--coverage", "all",
                  "--tos", tos)
        log(f"{stage}: integrity {r['integrity']}")
        assert r["integrity"]["changed"].get(changed, 0) >= 9, r["integrity"]
        assert r["integrity"]["changed"].get(unchanged, 0) == 0, r["integrity"]


def liar(tmp):
    with open(TOPOLOGY) as f:
        text = f.read()
    honest = "ipim: {router_id: 10.255.0.2}"
    assert honest in text
    path = os.path.join(tmp, "ipim-liar.yaml")
    with open(path, "w") as f:
        f.write(text.replace(honest, "ipim: {router_id: 10.255.0.2, liar: {queue_scale: 0.1}}"))
    with Lab(path) as lab:
        start_reflectors(lab)
        lab.host("client").wait_ping(lab.ip4("server"))
        r, sojourn_us, _ = loaded_run(lab)
        log(f"liar: hop 2 {hop(r, 2)['queue_us']} us stamped, link {sojourn_us:.0f} us; "
            f"discrepancies {r['discrepancies']}")
        assert hop(r, 2)["queue_us"] < 0.2 * sojourn_us
        assert any("queue" in d and "RTT" in d for d in r["discrepancies"]), r["discrepancies"]
        lab.down()


def path_change():
    interval = 0.1
    with Lab(FAILOVER) as lab:
        c = lab.host("client")
        lab.host("server").popen([PROBE, "reflect"])
        c.wait_ping(lab.ip4("server"))
        import subprocess
        prober = c.popen([PROBE, "send", "--to", lab.ip4("server"), "--json", "--count", 150,
                          "--interval", interval], stdout=subprocess.PIPE, text=True)
        t_down = wait_line(lab, r"r1\.east: link down", time.time() + 30)
        out, _ = prober.communicate(timeout=60)
        r = json.loads(out)
        log(f"link down at {t_down:.3f}; path changes {r['path_changes']}")
        changes = r["path_changes"]
        assert len(changes) >= 1, r["evolution"]
        start_s = r["run"]["start_us"] / 1e6
        t_change = start_s + changes[0]["at_s"]
        assert changes[0]["from"] != changes[0]["to"]
        # The first probe sent after the route moved carries the new value.
        assert abs(t_change - t_down) <= interval + 0.05, (t_change - t_down)
        lab.down()


def wait_line(lab, pattern, deadline):
    sdir = os.path.join(R.STATE_ROOT, lab.name)
    rx = re.compile(pattern)
    while time.time() < deadline:
        for fn in ("pathlab.stdout", "pathlab.stderr"):
            try:
                with open(os.path.join(sdir, fn), errors="replace") as f:
                    if rx.search(f.read()):
                        return time.time()
            except OSError:
                pass
        time.sleep(0.01)
    raise AssertionError(f"pathlab never printed /{pattern}/")


def test():
    assert os.access(PROBE, os.X_OK), f"{PROBE} missing (build pathlab-probe)"
    assert shutil.which("iperf3"), "iperf3 missing (scripts/setup installs it)"
    with Lab(TOPOLOGY) as lab:
        start_reflectors(lab)
        lab.host("client").wait_ping(lab.ip4("server"), lab.ip6("server"))
        hop_map(lab, 4)
        hop_map(lab, 6)
        rotation(lab)
        bottleneck(lab)
        integrity(lab)
        lab.down()
    with tempfile.TemporaryDirectory(prefix="ipim-lab-") as tmp:
        liar(tmp)
    path_change()


if __name__ == "__main__":
    main(test)

#!/usr/bin/python3
"""Two live workers and a multi-thread replay, for the ThreadSanitizer build (docs/robustness.md).

No lab or integration test runs pathlab with more than one worker, so this one does, without
namespaces or root: two routers joined by a link, r1.p0 reading test_replay.py's scapy capture
(net_pcap), and the ports split between two workers so that both routers run on both:

  worker lcore 1: r1.p0, r2.west        worker lcore 2: r1.east, r2.p1, r2.p2 (no rx)

r1 forwards from p0 on worker 1, and r2 (r2.west) runs on worker 1 too; what r2 sends back
(ICMP errors, echo replies) is received by r1.east on worker 2 and sent out of r1.p0 from there:
r1 runs on both workers, and both transmit on r1.p0's one tx queue (tx_lock). r2.p2's gateway has no static neighbour,
so the control path (main thread) sends ARP through the inject ring and holds packets. Stages
run on both workers. Then the same config is replayed with 2 and 4 threads (chunks of 32), and
the two outputs must be identical.

Under ThreadSanitizer a report makes pathlab exit 66, which fails this test. Run by Debian's
/usr/bin/python3 (scapy); finds pathlab as the other tests do (PATHLAB_BUILD_ROOT).
"""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
sys.path.insert(0, os.path.join(HERE, "..", "replay"))
from lablib.runner import find_pathlab, run_in_tmpdir  # noqa: E402
from test_replay import MAC_H, MAC_R, make_input, read_frames  # noqa: E402


def config(tmp):
    return f"""\
process:
  burst: 32
  icmp_rate_limit: {{rate: 10000000, burst: 1000000}}
  workers:
    - {{lcore: 1, poll: [r1.p0, r2.west]}}
    - {{lcore: 2, poll: [r1.east, r2.p1, r2.p2]}}
routers:
  - id: r1
    ports:
      - name: p0
        device: "net_pcap0,rx_pcap={tmp}/in.pcap,tx_pcap={tmp}/live.p0.pcap"
        mac: "{MAC_R[0]}"
        ipv4: 10.0.0.1/24
        ipv6: "fd00::1/64"
        ingress:
          - {{stage: dscp, action: {{set: af11}}, probability: 0.7, seed: 3}}
          - {{stage: evil_bit, action: set, probability: 0.5, seed: 7}}
      - name: east
        ipv4: 10.9.0.1/30
        ipv6: "fd09::1/64"
        egress:
          - {{stage: ecn, ip: bleach}}
    routes:
      - {{prefix: 10.1.0.0/16, via: 10.9.0.2}}
      - {{prefix: 10.2.0.0/16, via: 10.9.0.2}}
      - {{prefix: 10.0.1.0/24, via: 10.9.0.2}}
      - {{prefix: 10.0.2.0/24, via: 10.9.0.2}}
      - {{prefix: "fd01::/32", via: "fd09::2"}}
      - {{prefix: "fd02::/32", via: "fd09::2"}}
      - {{prefix: "fd00:1::/64", via: "fd09::2"}}
    neighbours:
      - {{port: p0, ip: 10.0.0.2, mac: "{MAC_H[0]}"}}
      - {{port: p0, ip: "fd00::2", mac: "{MAC_H[0]}"}}
  - id: r2
    ports:
      - name: west
        ipv4: 10.9.0.2/30
        ipv6: "fd09::2/64"
        ingress:
          - {{stage: ip_options, ipv4: strip}}
      - name: p1
        device: "net_pcap1,tx_pcap={tmp}/live.p1.pcap"
        mac: "{MAC_R[1]}"
        ipv4: 10.0.1.1/24
        ipv6: "fd00:1::1/64"
        egress:
          - {{stage: udp_checksum, action: fill}}
      - name: p2
        device: "net_pcap2,tx_pcap={tmp}/live.p2.pcap"
        mac: "{MAC_R[2]}"
        ipv4: 10.0.2.1/24
        ipv6: "fd00:2::1/64"
        mtu: 1400
    routes:
      - {{prefix: 10.1.0.0/16, via: 10.0.1.2}}
      - {{prefix: 10.2.0.0/16, via: 10.0.2.2}}
      - {{prefix: 10.0.0.0/24, via: 10.9.0.1}}
      - {{prefix: "fd01::/32", via: "fd00:1::2"}}
      - {{prefix: "fd02::/32", via: "fd00:2::2"}}
      - {{prefix: "fd00::/64", via: "fd09::1"}}
    neighbours:
      - {{port: p1, ip: 10.0.1.2, mac: "{MAC_H[1]}"}}
      - {{port: p1, ip: "fd00:1::2", mac: "{MAC_H[1]}"}}
      - {{port: p2, ip: "fd00:2::2", mac: "{MAC_H[2]}"}}
links:
  - {{name: l, ends: [r1.east, r2.west]}}
"""


def lcores():
    """EAL --lcores for the main lcore and two workers on however many CPUs there are."""
    cpus = sorted(os.sched_getaffinity(0))
    return ",".join(f"{i}@{cpus[i % len(cpus)]}" for i in range(3))


def run(cmd, timeout=300):
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if cp.returncode != 0:
        raise AssertionError(f"failed ({cp.returncode}): {' '.join(cmd)}\n"
                             f"stdout: {cp.stdout[-2000:]}\nstderr: {cp.stderr[-6000:]}")
    return cp


def summary(cp):
    s = json.loads(cp.stdout.strip().splitlines()[-1])
    for r in s["routers"]:
        assert r["accounting"]["balanced"], (r["id"], r["accounting"])
    return s


def router(s, rid):
    return next(r for r in s["routers"] if r["id"] == rid)


def test(tmp):
    binary = find_pathlab()
    n = make_input(f"{tmp}/in.pcap")
    cfg = f"{tmp}/two.yaml"
    with open(cfg, "w") as f:
        f.write(config(tmp))

    prefix = f"pl-tsan-{os.getpid()}"
    try:
        live = summary(run([binary, "--no-huge", "-m", "512", "--no-pci", "--lcores", lcores(),
                            "--file-prefix", prefix, "--log-level=*:warning",
                            "--", "--config", cfg, "--duration", "4", "--stats-interval", "0"]))
    finally:  # EAL leaves its runtime directory behind
        for d in ("/var/run/dpdk", os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "dpdk")):
            shutil.rmtree(os.path.join(d, prefix), ignore_errors=True)
    r1, r2 = router(live, "r1"), router(live, "r2")
    assert r1["ports"][0]["rx_packets"] == n, (r1["ports"][0], n)
    assert r1["ports"][1]["rx_packets"] > 0 and r2["ports"][0]["rx_packets"] > 0, "nothing crossed the link"
    assert r1["ports"][0]["tx_packets"] > 0, "nothing came back to p0"
    assert r2["events"]["arp_requests_sent"] > 0, r2["events"]
    print(f"live, 2 workers: r1 {r1['accounting']}, r2 {r2['accounting']}, "
          f"arp requests {r2['events']['arp_requests_sent']}")

    outs = {}
    for threads in (2, 4):
        out = f"{tmp}/rp{threads}"
        s = summary(run([binary, "replay", "--config", cfg, "--in", f"{tmp}/in.pcap",
                         "--out", f"{out}.pcap", "--threads", str(threads), "--chunk", "32",
                         "--json"]))
        assert s["threads"] == threads and s["serial"] == "", (s["threads"], s["serial"])
        outs[threads] = {p: read_frames(f"{out}.{p}.pcap") for p in ("r1.p0", "r2.p1", "r2.p2")}
        print(f"replay, {threads} threads: " +
              ", ".join(f"{p} {len(f)} frames" for p, f in outs[threads].items()))
    for p in outs[2]:
        assert outs[2][p] == outs[4][p], f"{p}: replay with 2 and 4 threads differs"
    assert outs[2]["r2.p1"], "replay: nothing on r2.p1"


def main():
    return run_in_tmpdir(test, "pathlab-tsan-")


if __name__ == "__main__":
    sys.exit(main())

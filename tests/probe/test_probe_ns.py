#!/usr/bin/python3
"""pathlab-probe between network namespaces: sender -- Linux router -- reflector, IPv4 and IPv6.

The router is the kernel's (ip_forward=1): it forwards the IPIM option untouched and does not
take part, so TTL' must count exactly one non-participating hop ("1 of 1 hops did not take
part"), the option must reach the reflector byte for byte as sent, every probe must be echoed,
the RTT must be positive and no covered header field may change. A capture on the router is
decoded by `pathlab-probe decode` and must show every probe's option.

The namespaces and veths carry this process's pid in their names and are removed in `finally`,
whatever happens; every command has a timeout. Root needed."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib import runner as R  # noqa: E402
from lablib.lab import main  # noqa: E402
from lablib.nstest import NsTest, check  # noqa: E402

T = NsTest("probe-ns", "pp", ("snd", "rtr", "rfl"))
TAG, NS = T.tag, T.ns
COUNT = 10
ADDR = {
    "snd4": "10.201.1.2", "rtr4a": "10.201.1.1", "rtr4b": "10.201.2.1", "rfl4": "10.201.2.2",
    "snd6": "fd00:201:1::2", "rtr6a": "fd00:201:1::1", "rtr6b": "fd00:201:2::1",
    "rfl6": "fd00:201:2::2",
}


def sh(ns, *cmd, timeout=10):
    return T.sh(ns, *cmd, timeout=timeout)


def build():
    T.add_namespaces()
    T.veth("snd", f"{TAG}s0", "rtr", f"{TAG}r0")
    T.veth("rtr", f"{TAG}r1", "rfl", f"{TAG}f0")
    for ns in NS:
        sh(ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
    sh("rtr", "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
    plan = [("snd", f"{TAG}s0", "snd4", "snd6"), ("rtr", f"{TAG}r0", "rtr4a", "rtr6a"),
            ("rtr", f"{TAG}r1", "rtr4b", "rtr6b"), ("rfl", f"{TAG}f0", "rfl4", "rfl6")]
    for ns, dev, a4, a6 in plan:
        sh(ns, "ip", "addr", "add", f"{ADDR[a4]}/24", "dev", dev)
        sh(ns, "ip", "-6", "addr", "add", f"{ADDR[a6]}/64", "dev", dev, "nodad")
        sh(ns, "ip", "link", "set", dev, "up")
    sh("snd", "ip", "route", "add", "default", "via", ADDR["rtr4a"])
    sh("snd", "ip", "-6", "route", "add", "default", "via", ADDR["rtr6a"])
    sh("rfl", "ip", "route", "add", "default", "via", ADDR["rtr4b"])
    sh("rfl", "ip", "-6", "route", "add", "default", "via", ADDR["rtr6b"])
    for dst in (ADDR["rfl4"], ADDR["rfl6"]):
        end = time.monotonic() + 10
        while R.run(["ping", "-c1", "-W1", dst], ns=NS["snd"], check=False).returncode != 0:
            if time.monotonic() > end:
                raise R.LabFailure(f"no ping to {dst} through the Linux router")


def start(ns, cmd, **kw):
    return T.start(ns, cmd, **kw)


def run_family(probe, ip6, workdir):
    fam = "IPv6" if ip6 else "IPv4"
    dst = ADDR["rfl6" if ip6 else "rfl4"]
    v6 = ["--ipv6"] if ip6 else []
    pcap = os.path.join(workdir, f"{TAG}-{fam}.pcap")
    dump = start("rtr", ["tcpdump", "--immediate-mode", "-U", "-n", "-s0", "-i", f"{TAG}r1", "-w", pcap],
                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    refl = start("rfl", [probe, "reflect", "--count", str(COUNT), "--duration", "20s"] + v6,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # the reflector's sockets and tcpdump are up
    cp = sh("snd", probe, "send", "--to", dst, "--count", str(COUNT), "--interval", "50ms",
            "--timeout", "2s", "--json", *v6, timeout=30)
    out, err = refl.communicate(timeout=25)
    check(refl.returncode == 0, f"{fam}: reflector exited {refl.returncode}: {err}")
    time.sleep(0.5)  # tcpdump has written the last packets
    dump.terminate()
    dump.communicate(timeout=10)
    r = json.loads(cp.stdout)
    T.log(f"{fam}: {r['echoes']} echoes, TTL' {r['ttl_prime_verdict']!r}, "
        f"RTT median {r['rtt_us']['median']:.0f} us (network {r['network_us']['median']:.0f}, "
        f"host {r['host_us']['median']:.0f})")

    check(r["carrier"] == ("ipv6" if ip6 else "ipv4"), f"{fam}: carrier {r['carrier']}")
    check(r["probes"] == COUNT and r["echoes"] == COUNT, f"{fam}: {r['echoes']} of {r['probes']} echoes")
    check(r["loss"]["lost"] == 0 and r["loss"]["nonce_inconsistent"] == 0, f"{fam}: loss {r['loss']}")
    check(r["hops"] == 1 and r["not_taking_part"] == 1, f"{fam}: hops {r['hops']}, not taking part "
          f"{r['not_taking_part']}")
    check(r["ttl_prime_verdict"] == "1 of 1 hops did not take part", f"{fam}: {r['ttl_prime_verdict']}")
    check(len(r["hop_map"]) == 1 and r["hop_map"][0]["status"] == "did not take part",
          f"{fam}: hop map {r['hop_map']}")
    check(r["option"]["intact"] == COUNT and r["option"]["missing"] == 0, f"{fam}: option {r['option']}")
    echoes = r["run"]["echo_list"]
    check(len(echoes) == COUNT, f"{fam}: echo list {len(echoes)}")
    for e in echoes:
        check(e["option_sent"] and e["option_sent"] == e["option_received"],
              f"{fam}: probe {e['seq']} option sent {e['option_sent']} received {e['option_received']}")
        check(e["rx_ttl"] == 63, f"{fam}: probe {e['seq']} arrived with TTL {e['rx_ttl']}")
        check(e["rtt_us"] > 0, f"{fam}: probe {e['seq']} RTT {e['rtt_us']}")
    check(r["rtt_us"]["min"] > 0 and r["network_us"]["min"] > 0, f"{fam}: RTT {r['rtt_us']}")
    check(r["evolution"] == 0 and not r["path_changes"], f"{fam}: evolution {r['evolution']}")
    check(r["integrity"]["checked"] == COUNT and not any(r["integrity"]["changed"].values()),
          f"{fam}: integrity {r['integrity']}")
    check(not r["discrepancies"], f"{fam}: discrepancies {r['discrepancies']}")

    # What a passive observer on the router's far side reads.
    dec = json.loads(subprocess.run([probe, "decode", pcap, "--json"], capture_output=True,
                                    text=True, timeout=20, check=True).stdout)
    probes = [d for d in dec if d["e2e"] and d["e2e"]["type"] == 1]
    check(len(probes) == COUNT, f"{fam}: decode found {len(probes)} probes")
    sent = {e["seq"]: e["option_sent"] for e in echoes}
    for d in probes:
        check(d["carrier"] == r["carrier"] and d["malformed"] is None and d["version"] == 1,
              f"{fam}: decoded {d}")
        check(d["ttl_prime"] == r["run"]["ttl_prime0"] and d["evolution"] == r["run"]["evolution0"],
              f"{fam}: decoded TTL'/evolution {d['ttl_prime']}/{d['evolution']}")
        check(int(sent[d["e2e"]["seq"]][8:10], 16) == d["ttl_prime"], f"{fam}: decoded vs sent")
        check(d["e2e"]["malformed"] is None and d["e2e"]["option"] is None, f"{fam}: e2e {d['e2e']}")
        check(len(d["slots"]) >= 1 and not any(s["written"] for s in d["slots"]),
              f"{fam}: decoded slots {d['slots']}")


def test():
    if os.geteuid() != 0:
        raise R.LabFailure("root needed (namespaces, IP options, raw sockets)")
    probe = T.binary("pathlab-probe")
    workdir = os.environ.get("PATHLAB_BUILD_ROOT") or "/tmp"
    try:
        T.log(f"namespaces {', '.join(NS.values())}")
        build()
        run_family(probe, False, workdir)
        run_family(probe, True, workdir)
    finally:
        T.teardown()
        for fam in ("IPv4", "IPv6"):
            try:
                os.environ.get("KEEP_PCAP") or os.unlink(os.path.join(workdir, f"{TAG}-{fam}.pcap"))
            except OSError:
                pass


if __name__ == "__main__":
    main(test)

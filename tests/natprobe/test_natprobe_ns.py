#!/usr/bin/python3
"""pathlab-natprobe between network namespaces: client -- router -- server (two addresses).

The router is Linux's, in four set-ups, each run checked against what Linux does:
  plain forwarding (IPv4 and IPv6): no NAT, open filtering, hairpinning, port preserved;
  nft masquerade: endpoint-independent mapping, address-and-port-dependent filtering, no
    hairpinning (no rule sends the router's own address back in), the port preserved;
  nft masquerade fully-random: address-and-port-dependent mapping, a new port each time;
  masquerade with conntrack's UDP timeouts at 3 s: the binding lifetime, between 2 and 4 s.
The text output and the exit codes (no server 3, bad arguments 2, an address not its own 1).
Each NAT run uses a local port of its own: conntrack keeps the earlier runs' entries.

Names carry this process's pid; the namespaces are removed in `finally`, whatever happens; every
command has a timeout. Root and nft needed."""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib import runner as R  # noqa: E402
from lablib.lab import main  # noqa: E402
from lablib.nstest import NsTest, check  # noqa: E402

T = NsTest("natprobe-ns", "np", ("cli", "nat", "srv"))
ADDR = {
    "cli4": "10.203.1.2", "nat4a": "10.203.1.1", "nat4b": "10.203.2.1",
    "srv4": "10.203.2.2", "srv4alt": "10.203.2.3",
    "cli6": "fd00:203:1::2", "nat6a": "fd00:203:1::1", "nat6b": "fd00:203:2::1",
    "srv6": "fd00:203:2::2", "srv6alt": "fd00:203:2::3",
}
OUT = f"{T.tag}n1"  # the router's outside interface


def build():
    T.add_namespaces()
    T.veth("cli", f"{T.tag}c0", "nat", f"{T.tag}n0")
    T.veth("nat", OUT, "srv", f"{T.tag}s0")
    for role in T.ns:
        T.sh(role, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
    T.sh("nat", "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
    plan = [("cli", f"{T.tag}c0", ["cli4"], ["cli6"]), ("nat", f"{T.tag}n0", ["nat4a"], ["nat6a"]),
            ("nat", OUT, ["nat4b"], ["nat6b"]), ("srv", f"{T.tag}s0", ["srv4", "srv4alt"], ["srv6", "srv6alt"])]
    for role, dev, a4, a6 in plan:
        for a in a4:
            T.sh(role, "ip", "addr", "add", f"{ADDR[a]}/24", "dev", dev)
        for a in a6:
            T.sh(role, "ip", "-6", "addr", "add", f"{ADDR[a]}/64", "dev", dev, "nodad")
        T.sh(role, "ip", "link", "set", dev, "up")
    for role, via4, via6 in (("cli", "nat4a", "nat6a"), ("srv", "nat4b", "nat6b")):
        T.sh(role, "ip", "route", "add", "default", "via", ADDR[via4])
        T.sh(role, "ip", "-6", "route", "add", "default", "via", ADDR[via6])
    for dst in (ADDR["srv4alt"], ADDR["srv6alt"]):
        end = time.monotonic() + 10
        while T.sh("cli", "ping", "-c1", "-W1", dst, check=False).returncode != 0:
            if time.monotonic() > end:
                raise R.LabFailure(f"no ping to {dst} through the router")


def set_nat(mode):
    """mode: None (plain forwarding), "masquerade" or "masquerade fully-random"."""
    T.sh("nat", "nft", "flush", "ruleset")
    if mode:
        T.sh("nat", "nft", "add", "table", "ip", "natp")
        T.sh("nat", "nft", "add chain ip natp post { type nat hook postrouting priority srcnat ; policy accept ; }")
        T.sh("nat", "nft", f"add rule ip natp post oifname {OUT} {mode}")


def start_servers(natprobe):
    for fam in ("4", "6"):
        T.start("srv", [natprobe, "server", "--primary", ADDR[f"srv{fam}"], "--alternate", ADDR[f"srv{fam}alt"],
                        "--duration", "150s"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 10
    while len(T.sh("srv", "ss", "-Hlun").stdout.splitlines()) < 8:
        if time.monotonic() > end:
            raise R.LabFailure("the servers' eight sockets are not up")
        time.sleep(0.1)


def client(natprobe, fam, *extra, timeout=30):
    cp = T.sh("cli", natprobe, "client", "--server", ADDR[f"srv{fam}"], "--timeout", "1s", "--json", *extra,
              timeout=timeout, check=False)
    check(cp.returncode == 0, f"client {' '.join(extra)} exited {cp.returncode}: {cp.stderr}")
    r = json.loads(cp.stdout)
    T.log(f"IPv{fam} {' '.join(extra) or '(ephemeral port)'}: mapping {r['mapping']}, filtering "
          f"{r['filtering']}, hairpinning {r['hairpinning']}, port preservation {r['port_preservation']}, "
          f"mapped {r['mapped_address']}, lifetime {r['binding_lifetime']}")
    check(not r["notes"], f"notes: {r['notes']}")
    check(r["other_address"].startswith(f"[{ADDR[f'srv{fam}alt']}]" if fam == "6" else ADDR["srv4alt"] + ":"),
          f"other address {r['other_address']}")
    return r


def tests_of(r):
    return {t["test"]: t for t in r["tests"]}


def expect(r, what, **want):
    for k, v in want.items():
        check(r[k] == v, f"{what}: {k} is {r[k]!r}, not {v!r}")


def no_nat(natprobe, fam):
    r = client(natprobe, fam)
    expect(r, f"IPv{fam} no NAT", nat=False, mapping="no_nat", filtering="endpoint_independent",
           hairpinning=True, port_preservation=True, binding_lifetime_s=None)
    check(r["mapped_address"] == r["local_address"], f"mapped {r['mapped_address']} != local {r['local_address']}")
    t = tests_of(r)
    check(set(t) == {"mapping_1", "filtering_1", "filtering_2", "hairpinning"}, f"tests run: {list(t)}")
    check(t["filtering_2"]["from"] == r["other_address"], f"filtering_2 from {t['filtering_2']['from']}")


def masquerade(natprobe):
    r = client(natprobe, "4", "--local-port", "40001")
    expect(r, "masquerade", nat=True, mapping="endpoint_independent", filtering="address_and_port_dependent",
           hairpinning=False, port_preservation=True, mapped_address=f"{ADDR['nat4b']}:40001")
    t = tests_of(r)
    check(set(t) == {"mapping_1", "mapping_2", "filtering_1", "filtering_2", "filtering_3", "hairpinning"},
          f"tests run: {list(t)}")
    check(t["mapping_2"]["mapped"] == t["mapping_1"]["mapped"], "mapping_2 changed the mapping")
    check(not t["filtering_2"]["answered"] and not t["filtering_3"]["answered"], "filtering tests answered")
    check(t["filtering_2"]["sends"] >= 3, f"filtering_2 sent {t['filtering_2']['sends']} time(s)")


def masquerade_random(natprobe):
    r = client(natprobe, "4", "--local-port", "40002")
    expect(r, "masquerade fully-random", nat=True, mapping="address_and_port_dependent",
           filtering="address_and_port_dependent", hairpinning=False, port_preservation=False)
    t = tests_of(r)
    ports = {t[k]["mapped"] for k in ("mapping_1", "mapping_2", "mapping_3")}
    check(len(ports) == 3, f"mapped addresses {ports}")


def text_and_exit_codes(natprobe):
    cp = T.sh("cli", natprobe, "client", "--server", ADDR["srv4"], "--local-port", "40004", timeout=30, check=False)
    check(cp.returncode == 0, f"text client exited {cp.returncode}: {cp.stderr}")
    for line in ("mapping            endpoint_independent", "filtering          address_and_port_dependent",
                 "hairpinning        no", "port preservation  yes", f"mapped address     {ADDR['nat4b']}:40004"):
        check(line in cp.stdout, f"text output lacks {line!r}:\n{cp.stdout}")
    runs = [(3, ["client", "--server", ADDR["srv4"], "--port", "9", "--timeout", "300ms"]),
            (2, ["client", "--port", "3478"]),
            (2, ["client", "--server", "no-such-host"]),
            (2, ["server", "--primary", ADDR["srv4"], "--alternate", ADDR["srv4"]]),
            (1, ["server", "--primary", ADDR["cli4"], "--alternate", ADDR["srv4"], "--duration", "1s"])]
    for want, args in runs:
        rc = T.sh("srv" if args[0] == "server" else "cli", natprobe, *args, timeout=20, check=False).returncode
        check(rc == want, f"pathlab-natprobe {' '.join(args)} exited {rc}, not {want}")


def lifetime(natprobe):
    T.sh("nat", "sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout=3",
         "net.netfilter.nf_conntrack_udp_timeout_stream=3")
    r = client(natprobe, "4", "--local-port", "40003", "--lifetime", "--max-lifetime", "10s", timeout=90)
    expect(r, "lifetime", mapping="endpoint_independent", filtering="address_and_port_dependent")
    lt = r["binding_lifetime"]
    check(lt["probes"][0] == {"gap_s": 0, "alive": True}, f"lifetime probes {lt['probes']}")
    check(lt["alive_s"] is not None and lt["expired_s"] is not None and 2 <= lt["alive_s"] <= 3 <= lt["expired_s"] <= 4,
          f"binding lifetime {lt['alive_s']} .. {lt['expired_s']} s, conntrack's timeout 3 s")
    check(r["binding_lifetime_s"] == lt["alive_s"], "binding_lifetime_s")


def test():
    if os.geteuid() != 0:
        raise R.LabFailure("root needed (namespaces, nft)")
    if not shutil.which("nft"):
        raise R.LabFailure("nft missing (scripts/setup installs nftables)")
    natprobe = T.binary("pathlab-natprobe")
    try:
        T.log(f"namespaces {', '.join(T.ns.values())}")
        build()
        start_servers(natprobe)
        set_nat(None)
        no_nat(natprobe, "4")
        no_nat(natprobe, "6")
        set_nat("masquerade")
        masquerade(natprobe)
        set_nat("masquerade fully-random")
        masquerade_random(natprobe)
        set_nat("masquerade")
        text_and_exit_codes(natprobe)
        lifetime(natprobe)
        early = [p for p in T.procs if p.poll() is not None]
        check(not early, f"a server exited early: {early[0].stderr.read() if early else ''}")
    finally:
        T.teardown()


if __name__ == "__main__":
    main(test)

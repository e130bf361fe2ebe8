#!/usr/bin/python3
"""NAT44 end to end (docs/nat.md, docs/natprobe.md).

topologies/nat-matrix.yaml (client - nat - server with two addresses):
1. The matrix: for each of the nine mapping x filtering behaviours (restart with the stage's
   keys), pathlab-natprobe reports exactly the configured classes; hairpinning and port
   preservation are reported as configured (hairpinning true and false; preserve and random).
   Hairpinned packets pass the target's filtering, so the hairpin test succeeds under
   endpoint-independent filtering only.
2. Filtering is secure: unsolicited UDP from the server to 200 random pool ports, and, under
   address-dependent filtering, traffic from the server's other address to a mapping made toward
   its first address, reach nothing at the client (counted there with tcpdump: zero), and are
   counted as nat/no_mapping and nat/filtered.
3. Expiry: with `timeouts: {icmp: 12}` an echo's mapping is listed by /pathlab/nat44 and lets a
   late echo reply in; once idle for longer than 12 s, the same reply reaches nothing.
4. Exhaustion: a pool of 10 ports and 11 flows: the 11th is refused, counted (`rejected`: a
   mapping refused for exhaustion and answered), and gets ICMP administratively prohibited (3/13)
   (at_limit: reject).
topologies/nat.yaml (two clients, home NAT, CGN in 100.64.0.0/10, the server):
5. Real clients through NAT444: ping, traceroute, curl, iperf3 TCP and UDP from both clients at
   once, with distinct outside mappings.
6. ICMP errors from beyond both NATs reach the client translated (scapy): a TTL-exceeded from the
   isp router and a port-unreachable from the server quote the client's own datagram (its
   address and port), and every checksum is right.
Every lab goes down with its accounting checked."""
import json
import os
import random
import select
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from lablib import summary as S  # noqa: E402
from lablib.lab import Lab, log, main  # noqa: E402

MATRIX = os.path.join(REPO, "topologies", "nat-matrix.yaml")
NAT444 = os.path.join(REPO, "topologies", "nat.yaml")
BUILD = os.environ.get("PATHLAB_BUILD_ROOT") or os.path.join(REPO, "build")
NATPROBE = os.path.join(BUILD, "apps", "pathlab-natprobe")
PY = "/usr/bin/python3"
POOL = "198.51.100.1"
CLASSES = ("endpoint_independent", "address_dependent", "address_and_port_dependent")


def nat(**kw):
    cfg = {"stage": "nat44", "table": "nat", "pool": [f"{POOL}/32"], "ports": "1024-65535",
           "mapping": "endpoint_independent", "filtering": "endpoint_independent",
           "hairpinning": True, "match": {"src": "10.0.0.0/8"}}
    cfg.update(kw)
    return {f"nat.{port}.{d}": [cfg] for port in ("out", "out2") for d in ("ingress", "egress")}


def natprobe(lab, *extra):
    cp = lab.host("client").run([NATPROBE, "client", "--server", lab.ip4("server"), "--json"]
                                + [str(e) for e in extra], check=False, timeout=60)
    assert cp.returncode == 0, f"natprobe exit {cp.returncode}: {cp.stdout[-1500:]}{cp.stderr[-1500:]}"
    return json.loads(cp.stdout)


def scapy(host, code, timeout=60):
    """Run a scapy snippet in a host; returns its stdout."""
    prog = "import logging; logging.getLogger('scapy.runtime').setLevel(logging.ERROR)\n" \
           "from scapy.all import *\n" + code
    return host.run([PY, "-c", prog], timeout=timeout).stdout


def counted_at_client(lab, bpf, action, settle=1.0):
    """Packets matching bpf that reach the client's eth0 while action() runs."""
    c = lab.host("client")
    cap = c.popen(["timeout", "15", "tcpdump", "-l", "-n", "-i", "eth0", "-c", "1000", bpf],
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Under load tcpdump can take more than a second to listen: wait for it to say so.
    ready, deadline = False, time.monotonic() + 8
    while not ready and time.monotonic() < deadline:
        if select.select([cap.stderr], [], [], 0.2)[0]:
            ready = "listening on" in cap.stderr.readline()
    time.sleep(0.2)
    action()
    time.sleep(settle)
    cap.terminate()
    out, _ = cap.communicate(timeout=15)
    return [ln for ln in out.splitlines() if ln.strip()]


def matrix(lab):
    for mapping in CLASSES:
        for filtering in CLASSES:
            lab.restart(nat(mapping=mapping, filtering=filtering))
            lab.host("client").wait_ping(lab.ip4("server"))
            r = natprobe(lab)
            log(f"{mapping} x {filtering}: natprobe says {r['mapping']} x {r['filtering']}, "
                f"hairpinning {r['hairpinning']}, port preservation {r['port_preservation']}")
            assert (r["mapping"], r["filtering"]) == (mapping, filtering), r
            # A hairpinned packet passes the target mapping's filtering like any inbound one
            # (docs/nat.md): RFC 5780's hairpin test sees it only under endpoint-independent
            # filtering, as the sender's outside endpoint is not the server.
            assert r["hairpinning"] is (filtering == "endpoint_independent"), r
    lab.restart(nat(hairpinning=False, port_assignment="random"))
    lab.host("client").wait_ping(lab.ip4("server"))
    r = natprobe(lab, "--local-port", 40123)
    log(f"hairpinning false, random ports: natprobe says hairpinning {r['hairpinning']}, "
        f"port preservation {r['port_preservation']} (mapped {r['mapped_address']})")
    assert r["hairpinning"] is False and r["port_preservation"] is False, r
    lab.restart(nat(port_assignment="preserve"))
    lab.host("client").wait_ping(lab.ip4("server"))
    r = natprobe(lab, "--local-port", 40124)
    assert r["port_preservation"] is True and r["mapped_address"] == f"{POOL}:40124", r


def secure_filtering(lab):
    summary = lab.restart(nat(filtering="address_dependent"))
    c, s = lab.host("client"), lab.host("server")
    c.wait_ping(lab.ip4("server"))
    other = lab.ip4("server.eth1")
    # A mapping toward the server's first address: client port 41000 -> POOL:41000 (preserved).
    scapy(c, f"send(IP(dst='{lab.ip4('server')}')/UDP(sport=41000, dport=9)/b'out', verbose=0)")
    ports = random.Random(7).sample(range(1024, 65536), 200)

    def unsolicited():
        scapy(s, f"send([IP(dst='{POOL}')/UDP(sport=53, dport=p)/b'scan' for p in {ports}], verbose=0)\n"
                 f"send(IP(src='{other}', dst='{POOL}')/UDP(sport=9, dport=41000)/b'third', verbose=0)")

    got = counted_at_client(lab, "udp and not port 3478 and not port 3479", unsolicited)
    log(f"unsolicited: {len(got)} packets reached the client")
    assert got == [], got
    summary = lab.restart(nat())  # the counters of that run come with its summary
    no_mapping = S.stage_counter(summary, "nat.out.ingress.nat44.no_mapping")
    filtered = S.stage_counter(summary, "nat.out.ingress.nat44.filtered")
    log(f"nat/no_mapping {no_mapping}, nat/filtered {filtered}")
    assert no_mapping >= 199 and filtered >= 1, (no_mapping, filtered)


def expiry(lab):
    """An ICMP query mapping (timeout 12 s) lets the echo's replies in, and nothing once it has
    been idle for longer."""
    lab.restart(nat(timeouts={"icmp": 12}))
    c, s = lab.host("client"), lab.host("server")
    c.wait_ping(lab.ip4("server"))
    scapy(c, f"sr1(IP(dst='{lab.ip4('server')}')/ICMP(id=0x4242, seq=1), timeout=2, verbose=0)")
    _, listed = lab.telemetry("/pathlab/nat44,nat/nat")
    ours = [e for e in listed["/pathlab/nat44"] if e.startswith("icmp 10.0.0.2:16962 ")]
    assert len(ours) == 1, listed
    ext_id = int(ours[0].split()[2].rsplit(":", 1)[1])

    def late_reply():
        scapy(s, f"send(IP(dst='{POOL}')/ICMP(type=0, id={ext_id}, seq=2)/b'late', verbose=0)")

    fresh = counted_at_client(lab, "icmp[icmptype] == icmp-echoreply", late_reply)
    time.sleep(12.5)
    stale = counted_at_client(lab, "icmp[icmptype] == icmp-echoreply", late_reply)
    log(f"mapping {ours[0]}: a reply within its timeout reached the client {len(fresh)} time(s), "
        f"12.5 s after that {len(stale)}")
    assert len(fresh) == 1 and stale == [], (fresh, stale)


def exhaustion(lab):
    summary = lab.restart(nat(ports="40000-40009", at_limit="reject", port_assignment="random"))
    c = lab.host("client")
    c.wait_ping(lab.ip4("server"))  # an ICMP mapping: echo identifiers use the same ports
    out = scapy(c, f"""
ans = []
for sp in range(43000, 43011):
    r = sr1(IP(dst='{lab.ip4('server')}')/UDP(sport=sp, dport=7)/b'flow', timeout=1, verbose=0)
    ans.append(None if r is None else (r[ICMP].type, r[ICMP].code) if r.haslayer(ICMP) else 'other')
print(ans)
""")
    log(f"11 flows into a 10-port pool: {out.strip()}")
    replies = eval(out.strip())  # noqa: S307  (our own print)
    prohibited = [r for r in replies if r == (3, 13)]
    unreachable = [r for r in replies if r == (3, 3)]  # the server: nothing on port 7
    assert len(prohibited) >= 1 and len(prohibited) + len(unreachable) == 11, replies
    summary = lab.restart(nat())
    rejected = S.stage_counter(summary, "nat.out.egress.nat44.rejected")
    log(f"nat44 rejected (exhausted, answered with 3/13): {rejected}")
    assert rejected == len(prohibited), (rejected, prohibited)


def nat444():
    with Lab(NAT444) as lab:
        s = lab.host("server")
        srv = lab.ip4("server")
        lab.check()
        s.popen(["iperf3", "-s", "-p", "5201"], stdout=subprocess.DEVNULL)
        s.popen(["iperf3", "-s", "-p", "5202"], stdout=subprocess.DEVNULL)
        s.popen([PY, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", "/usr/share/doc"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        procs = []
        for name, port, udp in (("client1", 5201, False), ("client2", 5202, True)):
            cmd = ["iperf3", "-c", srv, "-p", str(port), "-t", "3", "-J"] + (["-u", "-b", "50M"] if udp else [])
            procs.append((name, udp, lab.host(name).popen(cmd, stdout=subprocess.PIPE, text=True)))
        for name in ("client1", "client2"):
            cp = lab.host(name).run(["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{http_code}",
                                     "--max-time", "10", f"http://{srv}:8080/"], timeout=20)
            assert cp.stdout == "200", cp.stdout
        for name, udp, p in procs:
            out, _ = p.communicate(timeout=30)
            end = json.loads(out)["end"]
            bps = end["sum"]["bits_per_second"] if udp else end["sum_received"]["bits_per_second"]
            log(f"{name}: iperf3 {'UDP' if udp else 'TCP'} {bps / 1e6:.1f} Mbit/s through NAT444")
            assert bps > 10e6, end
        _, t = lab.telemetry("/pathlab/nat44")
        log(f"mappings: {t['/pathlab/nat44']}")
        for name in ("client1", "client2"):
            lab.host(name).ping(srv, count=3)
        icmp_errors(lab)
        lab.down()


def icmp_errors(lab):
    c = lab.host("client1")
    me, srv = lab.ip4("client1"), lab.ip4("server")
    out = scapy(c, f"""
def check(pkt, want_type, want_src):
    r = sr1(pkt, timeout=2, verbose=0)
    assert r is not None and r.haslayer(ICMP), r
    raw = bytes(r)
    fresh = IP(raw); del fresh.chksum; del fresh[ICMP].chksum
    fresh = IP(bytes(fresh))
    inner = r[IPerror]
    print(r[ICMP].type, r.src, r.dst, inner.src, inner.dst, r[UDPerror].sport,
          r.chksum == fresh.chksum, r[ICMP].chksum == fresh[ICMP].chksum, r[ICMP].type == want_type,
          r.src == want_src)
check(IP(dst='{srv}', ttl=3)/UDP(sport=45000, dport=33434)/b'tr', 11, '{lab.ip4('isp.in')}')
check(IP(dst='{srv}')/UDP(sport=45001, dport=9)/b'closed', 3, '{srv}')
""")
    log(f"ICMP errors at client1: {out.strip()}")
    lines = [ln.split() for ln in out.strip().splitlines()]
    assert len(lines) == 2, out
    for fields, sport in zip(lines, ("45000", "45001")):
        _type, _src, dst, in_src, in_dst, in_sport, ip_ok, icmp_ok, type_ok, src_ok = fields
        assert (dst, in_src, in_dst, in_sport) == (me, me, srv, sport), fields
        assert (ip_ok, icmp_ok, type_ok, src_ok) == ("True",) * 4, fields


def test():
    assert os.access(NATPROBE, os.X_OK), f"{NATPROBE} missing"
    with Lab(MATRIX) as lab:
        lab.host("server").popen([NATPROBE, "server", "--primary", lab.ip4("server"),
                                  "--alternate", lab.ip4("server.eth1")], stdout=subprocess.DEVNULL)
        lab.host("client").wait_ping(lab.ip4("server"))
        matrix(lab)
        secure_filtering(lab)
        expiry(lab)
        exhaustion(lab)
        lab.down()
    nat444()


if __name__ == "__main__":
    main(test)

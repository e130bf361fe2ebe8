#!/usr/bin/python3
"""tools/wireshark/ipim.lua in tshark against tools/scapy/ipim.py: pcaps of IPv4 and IPv6
packets with IPIM options (fresh, stamped, malformed) and end-to-end blocks (probe, echo), on
Ethernet, VLAN, raw IP and Linux cooked links. Every field tshark shows (-T json) must equal the
field decode() / decode_e2e() gives. tshark missing is a failure (scripts/setup installs it).
As root, tshark 4.0 loads Lua scripts (init.lua: run_user_scripts_when_superuser = true)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import ipimtest as T
import ipim
from scapy.layers.inet import IP, ICMP, UDP, IPerror, UDPerror, IPOption_Router_Alert
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinux, Dot1Q, Ether
from scapy.packet import Raw
from scapy.utils import PcapWriter, wrpcap

LUA = os.path.join(T.ROOT, "tools", "wireshark", "ipim.lua")
BOOL = {"overflow", "sample", "perf", "cap_unavailable", "queue_unavailable", "written",
        "triggered"}
TEXT = {"carrier", "malformed", "router_id", "ingress", "egress"}
HEX = {"hash", "hash_echo", "option"}


def block(kind, seq, option=None):
    """An end-to-end block's bytes: kind "probe" or "echo" (with the option's bytes)."""
    b = ipim.IPIMEndToEnd(type=1 if kind == "probe" else 2, host_id=0x1234 + seq, seq=seq,
                          nonce=1000 * seq, nonce_sum_echo=0xFFFFFFFF - seq, t_us=seq * 7,
                          t_echo_us=seq * 5, delta_us=seq, coverage=0xFF, mode=seq % 3,
                          hash=bytes(range(seq, seq + 8)), hash_echo=bytes(range(8, 0, -1)))
    if kind == "echo":
        b.rx_ttl, b.rx_tos = 64 - seq, 0xB8
        b.option = ipim._option_from_bytes(option) if option else None
    return bytes(b)


def frames():
    """(name, scapy packet) for every case."""
    out = []
    opts = T.sample_options()
    for i, (name, o) in enumerate(opts):
        payload = block("probe", i) if i % 2 else block("echo", i, bytes(opts[-1 - i][1]))
        out.append((name, Ether(T.ether(T.packet_for(bytes(o), payload)))))
    for name, opt, _ in T.malformed_cases():
        out.append(("malformed " + name, Ether(T.ether(T.packet_for(opt)))))
    v4, v6 = bytes(opts[2][1]), bytes(opts[5][1])
    out.append(("echo without option", Ether(T.ether(T.ip4_raw(b"", block("echo", 3))))))
    cut = block("echo", 4, v6)[:80]
    out.append(("echo cut inside its option", Ether(T.ether(T.ip4_raw(v4, cut)))))
    out.append(("probe, no option", Ether(T.ether(T.ip6_raw(b"\x01\x02\x00\x00",
                                                             block("probe", 9))))))
    out.append(("udp, no option, no block", Ether() / IP() / UDP() / Raw(b"IPIX" + bytes(60))))
    out.append(("router alert before the option",
                Ether() / IP(options=[IPOption_Router_Alert()] + ipim.ip4_options(opts[3][1]))
                / UDP(sport=33434, dport=33434) / Raw(block("probe", 1))))
    out.append(("VLAN", Ether() / Dot1Q(vlan=7) / IP(T.ip4_raw(v4))))
    out.append(("ICMP error quoting an option: the outer header has none",
                Ether() / IP() / ICMP(type=11) / IPerror(options=ipim.ip4_options(opts[2][1]))
                / UDPerror()))
    return out


def tshark(path, *args):
    r = subprocess.run(["tshark", "-X", "lua_script:" + LUA, "-r", path] + list(args),
                       capture_output=True, text=True, timeout=60)
    noise = [ln for ln in r.stderr.splitlines() if ln and "Running as user" not in ln]
    T.check("tshark %s: exit 0, no errors" % " ".join(args), r.returncode == 0 and not noise,
            "rc %d, stderr: %s" % (r.returncode, "\n".join(noise)))
    T.check("tshark %s: no Lua error in the output" % " ".join(args),
            "Lua Error" not in r.stdout and "Lua error" not in r.stdout)
    return r.stdout


def lists(pairs):
    """JSON object hook: every key maps to the list of its values (tshark repeats keys)."""
    d = {}
    for k, v in pairs:
        d.setdefault(k, []).append(v)
    return d


def flat(node, prefix, skip=()):
    """{name after prefix: [values]} of the leaves below `node`, not entering `skip` subtrees."""
    out = {}
    for k, vs in node.items():
        for v in vs:
            if isinstance(v, dict):
                if k not in skip:
                    for kk, vv in flat(v, prefix, skip).items():
                        out.setdefault(kk, []).extend(vv)
            elif k.startswith(prefix) and "." not in k[len(prefix):]:
                out.setdefault(k[len(prefix):], []).append(v)
    return out


def has_key(node, key):
    return any(k == key or any(isinstance(v, dict) and has_key(v, key) for v in vs)
               for k, vs in node.items())


def value(key, v):
    if key in TEXT:
        return v
    if key in BOOL:
        return v == "1"
    if key in HEX:
        return v.replace(":", "")
    return int(v, 0)


def one(name, fields, key):
    vs = fields.get(key)
    if vs is None:
        return None
    if len(vs) != 1:
        T.check("%s: %s once" % (name, key), False, "values %r" % vs)
    return value(key, vs[0])


def option_from_tree(name, tree):
    f = flat(tree, "ipim.", skip={"ipim.slot_tree"})
    d = {k: one(name, f, k) for k in ipim.OPTION_KEYS if k != "slots"}
    d["slots"] = []
    for st in tree.get("ipim.slot_tree", []):
        s = flat(st, "ipim.slot.")
        d["slots"].append({k: one(name, s, k) for k in ipim.SLOT_KEYS + ipim.TOPO_KEYS
                           + ipim.PERF_KEYS if k in s})
    if d["malformed"]:
        T.check("%s: expert info ipim.malformed.expert" % name,
                has_key(tree, "ipim.malformed.expert"))
    return {k: d[k] for k in ipim.OPTION_KEYS}


def e2e_from_tree(name, tree):
    f = flat(tree, "ipim.e2e.", skip={"ipim.e2e.option_tree"})
    f["option_bytes"] = f.pop("option", None)
    d = {k: (value("option", f[k][0]) if k == "option_bytes" and f[k] else one(name, f, k))
         for k in ipim.E2E_KEYS if k != "option"}
    sub = tree.get("ipim.e2e.option_tree", [{}])[0].get("ipim")
    d["option"] = option_from_tree(name + " echoed", sub[0]) if sub else None
    return {k: d[k] for k in ipim.E2E_KEYS}


def compare(cases, layers_list, label):
    T.eq("%s: tshark shows every frame" % label, len(layers_list), len(cases))
    for (name, pkt), layers in zip(cases, layers_list):
        want, want_e2e = ipim.decode(pkt), ipim.decode_e2e(pkt)
        got = layers.get("ipim")
        got = option_from_tree(name, got[0]) if got else None
        T.eq("%s, %s: ipim.* == decode()" % (label, name), got, want)
        got = layers.get("ipim.e2e")
        got = e2e_from_tree(name, got[0]) if got else None
        T.eq("%s, %s: ipim.e2e.* == decode_e2e()" % (label, name), got, want_e2e)
        echoed = (want_e2e or {}).get("option") or {}
        bad = {"ipim": bool((want or {}).get("malformed")),
               "ipim.e2e": bool((want_e2e or {}).get("malformed") or echoed.get("malformed"))}
        for proto in bad:
            for tree in layers.get(proto, []):
                state = "malformed" if bad[proto] else "not malformed"
                T.check("%s, %s: %s: no Lua error, %s" % (label, name, proto, state),
                        not has_key(tree, "_ws.lua.error")
                        and has_key(tree, "_ws.malformed") == bad[proto])


def run_json(path, cases, label):
    out = json.loads(tshark(path, "-T", "json"), object_pairs_hook=lists)
    compare(cases, [pkt["_source"][0]["layers"][0] for pkt in out], label)


def test_tshark():
    if not T.check("tshark on PATH (scripts/setup installs it)", shutil.which("tshark"),
                   "no tshark"):
        return
    with tempfile.TemporaryDirectory(prefix="ipim-tshark-") as tmp:
        cases = frames()
        eth = os.path.join(tmp, "eth.pcap")
        wrpcap(eth, [p for _, p in cases])
        run_json(eth, cases, "ethernet")

        # raw IP (DLT_RAW) and Linux cooked (SLL): the postdissector finds IP by its fields
        ip_cases = [(n, p[Ether].payload) for n, p in cases
                    if isinstance(p[Ether].payload, (IP, IPv6))]
        sll_cases = [(n, CookedLinux(proto=0x86DD if isinstance(p, IPv6) else 0x0800) / p)
                     for n, p in ip_cases]
        for label, linktype, cs in (("raw IP", 101, ip_cases), ("linux cooked", 113, sll_cases)):
            path = os.path.join(tmp, "%d.pcap" % linktype)
            with PcapWriter(path, linktype=linktype) as w:
                for _, p in cs:
                    w.write(bytes(p))
            run_json(path, cs, label)

        # -T fields, the documented one-liner, on frames with an option and no echoed one
        out = tshark(eth, "-Y", "ipim && !ipim.e2e.option", "-T", "fields", "-E", "separator=;",
                     "-e", "ipim.carrier", "-e", "ipim.evolution", "-e", "ipim.malformed")
        want = []
        for _, p in cases:
            d, e = ipim.decode(p), ipim.decode_e2e(p)
            if d and not (e and e["option_bytes"]):
                evo = "" if d["evolution"] is None else "0x%08x" % d["evolution"]
                want.append(";".join((d["carrier"], evo, d["malformed"] or "")))
        T.eq("-T fields carrier/evolution/malformed", out.splitlines(), want)
        T.check("-V runs", "IPIM option" in tshark(eth, "-V"))
    T.check("temporary files removed", not os.path.exists(tmp))


if __name__ == "__main__":
    sys.exit(T.run(globals(), os.path.basename(__file__)))

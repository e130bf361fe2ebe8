"""Topology files (topologies/*.yaml): parsing, checking, automatic routes, and
the pathlab config derived from them.  Nothing here touches the system.

The format is described in docs/lab.md.  Every problem is reported as
`file:line:col: key: message` (yamlpos.TopologyError) before anything is
created.
"""

import ipaddress
import json
import os
import re
from collections import deque

from .yamlpos import TopologyError, load

NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
PCI_RE = re.compile(r"^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")
SYSCTL_RE = re.compile(r"^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$")
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_.-]+)?)\.(ip4|ip6|ns)\}")

# process keys that go to pathlab unchanged (checked by `pathlab --validate`)
PATHLAB_PROCESS_KEYS = {"burst", "mbufs", "mbuf_cache", "rx_desc", "tx_desc",
                        "icmp_rate_limit", "neighbours", "workers"}
# process keys the runner itself uses (EAL arguments and the launch)
RUNNER_PROCESS_KEYS = {"lcores", "idle", "memory", "hugepages", "pci", "eal",
                       "log_level", "stats_interval"}

# sysctls every host gets unless the topology says otherwise: no ICMP rate
# limits (traceroute and ping floods must not be throttled by the hosts)
DEFAULT_HOST_SYSCTLS = {
    "net.ipv4.icmp_ratelimit": "0",
    "net.ipv6.icmp.ratelimit": "0",
    "net.ipv4.icmp_msgs_per_sec": "100000",
}


# --------------------------------------------------------------------------
# model

class HostIf:
    def __init__(self, host, name, node):
        self.host = host
        self.name = name
        self.node = node
        self.ip4 = []            # ipaddress.IPv4Interface
        self.ip6 = []
        self.mtu = None
        self.port = None         # router Port at the other end (host-router links)
        self.peer_if = None      # HostIf at the other end (host-host links)
        self.default_route = False
        self.root_if = None      # root-namespace veth name (host-router links)


class Host:
    def __init__(self, name, node, index):
        self.name = name
        self.node = node
        self.index = index
        self.sysctls = dict(DEFAULT_HOST_SYSCTLS)
        self.routes = []         # (prefix text, via text or None, dev or None)
        self.ifaces = []
        self.ns = None           # set by assign_names()

    def iface(self, name):
        for i in self.ifaces:
            if i.name == name:
                return i
        return None


class Port:
    def __init__(self, router, name, node):
        self.router = router
        self.name = name
        self.node = node
        self.index = None
        self.device = None       # explicit device string (NIC ports)
        self.mac = None
        self.ip4 = []
        self.ip6 = []
        self.mtu = None
        self.queues = None
        self.ingress = None      # Node of the stage list
        self.egress = None
        self.ipim = None         # Node of the port's `ipim:`, passed through
        self.link = None         # router-router link name
        self.host_if = None      # HostIf (host-router links)
        self.root_if = None
        self.vdev = None         # generated net_af_packet device string
        self.link_node = None    # Node of `link:` (the port's egress link), from the port or
                                 # from its host-router link

    @property
    def full(self):
        return f"{self.router.id}.{self.name}"


class Router:
    def __init__(self, rid, node, index):
        self.id = rid
        self.node = node
        self.index = index
        self.asn = 65001 + index
        self.ports = {}
        self.routes = []         # dicts {prefix, via?, port?}; explicit ones
        self.auto_routes = []    # computed
        self.neighbours = []     # Nodes, passed through
        self.ipim = None         # Node of `ipim:` (docs/ipim.md), passed through


class RLink:
    def __init__(self, name, a, b, ring_size=None, link_node=None):
        self.name, self.a, self.b, self.ring_size = name, a, b, ring_size
        self.link_node = link_node   # Node of `link:`: one map, or {a_to_b: .., b_to_a: ..}


class Check:
    def __init__(self, name, host, run, expect, timeout, node):
        self.name, self.host, self.run, self.expect = name, host, run, expect
        self.timeout, self.node = timeout, node


class Topology:
    def __init__(self, file):
        self.file = file
        self.name = os.path.splitext(os.path.basename(file))[0]
        self.description = ""
        self.auto_routes = False
        self.process = {"lcores": "0,1", "idle": "adaptive", "memory": 512,
                        "hugepages": False, "pci": None, "eal": [],
                        "log_level": "*:notice", "stats_interval": 1}
        self.pathlab_process = []    # [(key, Node)] passed through
        self.hosts = {}
        self.routers = {}
        self.rlinks = []
        self.hhlinks = []            # (HostIf, HostIf)
        self.checks = []
        self.events = []             # Nodes of `events:`, passed to pathlab
        self.lab = None
        self.lab_id = None

    # ---- lookups for checks and placeholders
    def address(self, ref, fam):
        """'host', 'host.if', 'router.port' -> first address text, or None."""
        parts = ref.split(".")
        attr = "ip4" if fam == "ip4" else "ip6"
        if len(parts) == 1 and parts[0] in self.hosts:
            h = self.hosts[parts[0]]
            for i in h.ifaces:
                if getattr(i, attr):
                    return str(getattr(i, attr)[0].ip)
            return None
        if len(parts) == 2 and parts[0] in self.hosts:
            i = self.hosts[parts[0]].iface(parts[1])
            return str(getattr(i, attr)[0].ip) if i and getattr(i, attr) else None
        if len(parts) == 2 and parts[0] in self.routers:
            p = self.routers[parts[0]].ports.get(parts[1])
            return str(getattr(p, attr)[0].ip) if p and getattr(p, attr) else None
        return None

    def substitute(self, text, node, regex=False):
        """Replace {host.ip4}, {host.IF.ip6}, {router.port.ip4} and {host.ns}."""
        def rep(m):
            ref, kind = m.group(1), m.group(2)
            if kind == "ns":
                if ref not in self.hosts:
                    node.fail(f"placeholder {m.group(0)}: no host named '{ref}'")
                a = self.hosts[ref].ns or f"<netns of {ref}>"
            else:
                a = self.address(ref, kind)
            if a is None:
                node.fail(f"placeholder {m.group(0)}: no {kind} address for '{ref}' "
                          "(use {host.ip4}, {host.IF.ip6}, {router.port.ip4} or {host.ns})")
            return re.escape(a) if regex else a
        return PLACEHOLDER_RE.sub(rep, text)

    def host_router_ifaces(self):
        return [i for h in self.hosts.values() for i in h.ifaces if i.port is not None]

    def has_pci(self):
        return any(p.device and PCI_RE.match(p.device.split(",")[0])
                   for r in self.routers.values() for p in r.ports.values())


# --------------------------------------------------------------------------
# parsing helpers

def _name(node, what):
    s = node.text()
    if not NAME_RE.match(s):
        node.fail(f"invalid {what} name '{s}': use letters, digits, '_' and '-'")
    return s


def _net(node, fam):
    text = node.text()
    cls = ipaddress.IPv4Network if fam == 4 else ipaddress.IPv6Network
    try:
        return cls(text, strict=True)
    except ValueError as e:
        if "has host bits set" in str(e):
            node.fail(f"host bits set in {text}")
        node.fail(f"'{text}' is not an IPv{fam} network: {e}")


def _addr(node, fam, net, default_index):
    """An interface address: an index into net, an address in net, or ADDR/LEN."""
    cls_if = ipaddress.IPv4Interface if fam == 4 else ipaddress.IPv6Interface
    if node is None:
        if net is None:
            return None
        idx = default_index
        addr = None
    else:
        v = node.value if node.is_scalar() else None
        if isinstance(v, int) and not isinstance(v, bool):
            if net is None:
                node.fail(f"an address index needs net{fam}")
            idx, addr = v, None
        else:
            text = node.text()
            try:
                if "/" in text:
                    itf = cls_if(text)
                else:
                    if net is None:
                        node.fail(f"'{text}' needs a prefix length (no net{fam} given)")
                    itf = cls_if(f"{text}/{net.prefixlen}")
            except ValueError as e:
                node.fail(f"'{text}' is not an IPv{fam} address: {e}")
            if net is not None and (itf.ip not in net or itf.network.prefixlen != net.prefixlen):
                node.fail(f"{text} is not an address in net{fam} {net}")
            addr = itf
    if addr is None:
        if idx < 0 or idx >= net.num_addresses:
            (node or _Dummy).fail(f"index {idx} is outside {net}")
        addr = cls_if(f"{net.network_address + idx}/{net.prefixlen}")
    ip = addr.ip
    bad = ip.is_multicast or ip.is_unspecified or ip.is_loopback
    if fam == 4 and addr.network.prefixlen < 31 and ip in (addr.network.network_address,
                                                          addr.network.broadcast_address):
        bad = True
    if bad:
        what = node if node is not None else None
        msg = f"{ip} is not a usable host address in {addr.network}"
        if what is None:
            raise _AddrError(msg)
        what.fail(msg)
    return addr


class _AddrError(Exception):
    pass


class _Dummy:
    @staticmethod
    def fail(msg):
        raise _AddrError(msg)


def _link_addr(link_node, f, key, fam, net, default_index):
    try:
        return _addr(f.get(key), fam, net, default_index)
    except _AddrError as e:
        (f.get(f"net{fam}") or link_node).fail(str(e))


# --------------------------------------------------------------------------
# the parser

def parse_file(path):
    try:
        with open(path) as fh:
            text = fh.read()
    except OSError as e:
        raise TopologyError(path, 0, 0, "", f"cannot read: {e.strerror}") from None
    return parse(text, path)


def parse(text, file):
    root = load(text, file)
    t = Topology(file)
    top = root.fields({"name", "description", "auto_routes", "process", "hosts",
                       "routers", "links", "checks", "events"})
    if "name" in top:
        t.name = _name(top["name"], "topology")
    if "description" in top:
        t.description = top["description"].text()
    if "auto_routes" in top:
        t.auto_routes = top["auto_routes"].bool()
    if "process" in top:
        _parse_process(t, top["process"])
    if "hosts" in top:
        for i, (name, node) in enumerate(top["hosts"].entries()):
            _parse_host(t, name, node, i)
    if "routers" in top:
        for i, (rid, node) in enumerate(top["routers"].entries()):
            _parse_router(t, rid, node, i)
    if not t.routers:
        (top.get("routers") or root).fail("a topology needs at least one router")
    nets = []        # (network, Node) for the overlap check
    if "links" in top:
        for i, node in enumerate(top["links"].items()):
            _parse_link(t, node, i, nets)
    _finish_ports(t, nets)
    _check_overlaps(nets)
    if "hosts" in top:
        for name, node in top["hosts"].entries():
            _parse_host_routes(t, t.hosts[name], node)
    if "routers" in top:
        for rid, node in top["routers"].entries():
            _parse_router_routes(t, t.routers[rid], node)
    _host_defaults(t)
    if t.auto_routes:
        compute_auto_routes(t)
    if "checks" in top:
        names = set()
        for node in top["checks"].items():
            _parse_check(t, node, names)
    if "events" in top:
        for node in top["events"].items():
            if not node.is_map():
                node.fail(f"expected an event {{at: TIME, link: ROUTER.PORT|LINK, down: BOOL}} "
                          f"or {{..., set: {{...}}}}, got {node.kind()}")
            t.events.append(node)
    return t


def _link_map(node):
    """`link:` must be a map of link parameters (or nothing: a link that holds nothing back);
    pathlab checks the keys (docs/links.md)."""
    if not (node.is_map() or node.is_null()):
        node.fail(f"expected a map of link parameters ({{rate: 100mbit, delay: 10ms, ...}}), "
                  f"got {node.kind()}")
    return node


def _set_port_link(p, node):
    if p.link_node is not None:
        node.fail(f"port {p.full} already has link: (line {p.link_node.line})")
    p.link_node = _link_map(node)


def _parse_process(t, node):
    f = node.fields(RUNNER_PROCESS_KEYS | PATHLAB_PROCESS_KEYS)
    p = t.process
    if "lcores" in f:
        n = f["lcores"]
        if n.is_seq():
            vals = [str(x.int(0, 1023)) for x in n.items()]
            if not vals:
                n.fail("lcores must list at least one lcore")
            p["lcores"] = ",".join(vals)
        else:
            s = n.text()
            if not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", s):
                n.fail(f"lcores '{s}': expected a list like \"0,1\", \"0-3\" or [0, 1]")
            p["lcores"] = s
    if "idle" in f:
        s = f["idle"].text()
        if s not in ("adaptive", "spin"):
            f["idle"].fail(f"expected adaptive or spin, got '{s}'")
        p["idle"] = s
    if "memory" in f:
        p["memory"] = f["memory"].int(64, 1 << 20)
    if "hugepages" in f:
        p["hugepages"] = f["hugepages"].bool()
    if "pci" in f:
        p["pci"] = f["pci"].bool()
    if "eal" in f:
        p["eal"] = [s for s, _ in f["eal"].strs()]
    if "log_level" in f:
        p["log_level"] = f["log_level"].text()
    if "stats_interval" in f:
        p["stats_interval"] = f["stats_interval"].number(0)
    for k in f:
        if k in PATHLAB_PROCESS_KEYS:
            t.pathlab_process.append((k, f[k]))


def _check_global_name(t, name, node, what):
    if name in t.hosts or name in t.routers:
        node.fail(f"{what} name '{name}' is already used by a "
                  f"{'host' if name in t.hosts else 'router'}", at_key=True)


def _parse_host(t, name, node, index):
    if not NAME_RE.match(name) or len(name) > 32:
        node.fail(f"invalid host name '{name}': letters, digits, '_' and '-', at most 32",
                  at_key=True)
    _check_global_name(t, name, node, "host")
    f = node.fields({"sysctls", "routes"})
    h = Host(name, node, index)
    if "sysctls" in f:
        for key, vn in f["sysctls"].entries():
            if not SYSCTL_RE.match(key):
                vn.fail(f"'{key}' does not look like a sysctl name (e.g. net.ipv4.tcp_ecn)",
                        at_key=True)
            v = vn.value
            if isinstance(v, bool):
                v = int(v)
            if not isinstance(v, (int, float, str)) or vn.is_null():
                vn.fail("expected a value")
            h.sysctls[key] = str(v)
    t.hosts[name] = h


def _parse_router(t, rid, node, index):
    if not NAME_RE.match(rid) or len(rid) > 32:
        node.fail(f"invalid router id '{rid}': letters, digits, '_' and '-', at most 32",
                  at_key=True)
    _check_global_name(t, rid, node, "router")
    f = node.fields({"asn", "ports", "routes", "neighbours", "ipim"})
    r = Router(rid, node, index)
    if "asn" in f:
        r.asn = f["asn"].int(0, 4294967295)
    r.ipim = f.get("ipim")
    if "ports" in f:
        for pname, pn in f["ports"].entries():
            if not NAME_RE.match(pname):
                pn.fail(f"invalid port name '{pname}': use letters, digits, '_' and '-'",
                        at_key=True)
            pf = pn.fields({"device", "mac", "ipv4", "ipv6", "mtu", "queues", "ingress",
                            "egress", "link", "ipim"})
            p = Port(r, pname, pn)
            p.spec = pf
            if "device" in pf:
                p.device = pf["device"].text()
                if not p.device:
                    pf["device"].fail("must not be empty")
            if "mac" in pf:
                p.mac = pf["mac"].text()
                if not re.fullmatch(r"([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}", p.mac):
                    pf["mac"].fail(f"'{p.mac}' is not a MAC address (aa:bb:cc:dd:ee:ff)")
                if int(p.mac[:2], 16) & 1:
                    pf["mac"].fail(f"{p.mac} is a multicast MAC address")
            if "mtu" in pf:
                p.mtu = pf["mtu"].int(68, 9216)
            if "queues" in pf:
                p.queues = pf["queues"].int(1, 64)
            p.ingress = pf.get("ingress")
            p.egress = pf.get("egress")
            p.ipim = pf.get("ipim")
            if "link" in pf:
                _set_port_link(p, pf["link"])
            for key, n in (("ingress", p.ingress), ("egress", p.egress)):
                if n is not None and not n.is_null() and not n.is_seq():
                    n.fail("expected a list of stages")
            r.ports[pname] = p
    if "neighbours" in f:
        r.neighbours = f["neighbours"].items()
    t.routers[rid] = r


def _end(t, node, kinds):
    """'r1', 'r1.east', 'client', 'client.eth1' -> (kind, name, sub or None)."""
    s = node.text()
    name, _, sub = s.partition(".")
    if not NAME_RE.match(name) or (sub and not re.fullmatch(r"[A-Za-z0-9_.-]+", sub)):
        node.fail(f"invalid link end '{s}'")
    if "router" in kinds and name in t.routers:
        return "router", name, sub or None
    if "host" in kinds and name in t.hosts:
        return "host", name, sub or None
    node.fail(f"no {' or '.join(kinds)} named '{name}' (declare it under "
              f"{'routers' if kinds == ('router',) else 'hosts'}:)")


def _new_port(t, r, pname, node, owner):
    p = r.ports.get(pname)
    if p is not None and (p.link or p.host_if):
        node.fail(f"port {r.id}.{pname} is already used by another link")
    if p is None:
        p = Port(r, pname, node)
        p.spec = {}
        r.ports[pname] = p
    elif p.device:
        node.fail(f"port {r.id}.{pname} has a device ({p.device}) and cannot be in a link")
    elif "ipv4" in p.spec or "ipv6" in p.spec:
        p.spec.get("ipv4", p.spec.get("ipv6")).fail(
            f"port {r.id}.{pname} is in a link: its addresses come from the link "
            "(net4/net6 and router_ip4/ip4 ...)")
    p.owner = owner
    return p


def _new_hostif(t, h, ifname, node):
    if ifname is None:
        ifname = f"eth{len(h.ifaces)}"
        while h.iface(ifname):
            ifname += "x"
    if not IFNAME_RE.match(ifname) or ifname == "lo":
        node.fail(f"invalid interface name '{ifname}' (at most 15 characters)")
    if h.iface(ifname):
        node.fail(f"host {h.name} already has an interface {ifname}")
    hi = HostIf(h, ifname, node)
    h.ifaces.append(hi)
    return hi


def _nets(f, nets, kinds=(4, 6)):
    out = {}
    for fam in kinds:
        n = f.get(f"net{fam}")
        out[fam] = _net(n, fam) if n is not None else None
        if out[fam] is not None:
            nets.append((out[fam], n))
    return out


def _pair(link, f, key, fam, net):
    """ip4: [a, b] -> two interface addresses (defaults .1 and .2)."""
    n = f.get(key)
    specs = [None, None]
    if n is not None:
        items = n.items()
        if len(items) != 2:
            n.fail("expected two addresses [first end, second end]")
        specs = items
    out = []
    for i, s in enumerate(specs):
        try:
            out.append(_addr(s, fam, net, i + 1))
        except _AddrError as e:
            (f.get(f"net{fam}") or link).fail(str(e))
    if out[0] is not None and out[1] is not None and out[0].ip == out[1].ip:
        (n or link).fail(f"both ends have address {out[0].ip}")
    if out[0] is not None and n is not None and net is None:
        if out[0].network != out[1].network:
            n.fail(f"{out[0]} and {out[1]} are not in the same subnet")
    return out


def _address_ends(node, f, nets, ends):
    """Both ends' addresses of a router-router or host-host link (net4/net6, ip4/ip6)."""
    nn = _nets(f, nets)
    for fam in (4, 6):
        a, b = _pair(node, f, f"ip{fam}", fam, nn[fam])
        if a is None:
            continue
        if nn[fam] is None:
            nets.append((a.network, f[f"ip{fam}"]))
        for end, addr in zip(ends, (a, b)):
            (end.ip4 if fam == 4 else end.ip6).append(addr)


def _parse_link(t, node, i, nets):
    if not node.is_map():
        node.fail("expected a link: {host:, router:, ...}, {routers: [..]} or {hosts: [..]}")
    keys = {kn.value for kn, _ in node.node.value if hasattr(kn, "value")}
    if "routers" in keys:
        _parse_rlink(t, node, i, nets)
    elif "hosts" in keys:
        _parse_hhlink(t, node, i, nets)
    elif "host" in keys or "router" in keys:
        _parse_hrlink(t, node, i, nets)
    else:
        node.fail("a link needs host + router (host-router), routers: [a, b] "
                  "(router-router) or hosts: [a, b] (host-host)")


def _parse_hrlink(t, node, i, nets):
    f = node.fields({"host", "router", "port", "net4", "net6", "router_ip4", "router_ip6",
                     "host_ip4", "host_ip6", "host_if", "default_route", "mtu", "link"},
                    required=("host", "router"))
    _, hname, hsub = _end(t, f["host"], ("host",))
    _, rid, rsub = _end(t, f["router"], ("router",))
    if hsub or rsub:
        (f["host"] if hsub else f["router"]).fail("give the port and interface names with "
                                                   "port: and host_if:")
    h, r = t.hosts[hname], t.routers[rid]
    pname = _name(f["port"], "port") if "port" in f else hname
    p = _new_port(t, r, pname, f.get("port", f["router"]), f"links[{i}]")
    hi = _new_hostif(t, h, f["host_if"].text() if "host_if" in f else None,
                     f.get("host_if", f["host"]))
    nn = _nets(f, nets)
    for fam in (4, 6):
        ra = _link_addr(node, f, f"router_ip{fam}", fam, nn[fam], 1)
        ha = _link_addr(node, f, f"host_ip{fam}", fam, nn[fam], 2)
        if (ra is None) != (ha is None):
            (f.get(f"router_ip{fam}") or f.get(f"host_ip{fam}")).fail(
                f"give both router_ip{fam} and host_ip{fam}, or net{fam}")
        if ra is None:
            continue
        if ra.ip == ha.ip:
            f.get(f"host_ip{fam}", node).fail(f"router and host both have {ra.ip}")
        if nn[fam] is None:
            if ra.network != ha.network:
                f[f"host_ip{fam}"].fail(f"{ha} is not in the router's subnet {ra.network}")
            nets.append((ra.network, f[f"router_ip{fam}"]))
        (p.ip4 if fam == 4 else p.ip6).append(ra)
        (hi.ip4 if fam == 4 else hi.ip6).append(ha)
    if not p.ip4 and not p.ip6:
        node.fail("a host-router link needs net4 and/or net6 (or explicit addresses)")
    if "mtu" in f:
        hi.mtu = f["mtu"].int(68, 9216)
        if p.mtu is None:
            p.mtu = hi.mtu
    hi.port = p
    hi.default_route = f["default_route"].bool() if "default_route" in f else None
    p.host_if = hi
    if "link" in f:
        # the router's egress toward the host (the host's own egress is not emulated)
        _set_port_link(p, f["link"])


def _parse_rlink(t, node, i, nets):
    f = node.fields({"routers", "net4", "net6", "ip4", "ip6", "name", "ring_size", "mtu",
                     "link"}, required=("routers",))
    ends = f["routers"].items()
    if len(ends) != 2:
        f["routers"].fail("expected two ends: [r1, r2] or [r1.port, r2.port]")
    parsed = [_end(t, e, ("router",)) for e in ends]
    if parsed[0][1] == parsed[1][1]:
        ends[1].fail("a router-router link joins two different routers")
    ports = []
    for k, ((_, rid, sub), e) in enumerate(zip(parsed, ends)):
        other = parsed[1 - k][1]
        pname = sub or other
        if not NAME_RE.match(pname):
            e.fail(f"invalid port name '{pname}'")
        ports.append(_new_port(t, t.routers[rid], pname, e, f"links[{i}]"))
    _address_ends(node, f, nets, ports)
    name = _name(f["name"], "link") if "name" in f else f"{ports[0].router.id}-{ports[1].router.id}"
    used = {l.name for l in t.rlinks}
    if name in used:
        if "name" in f:
            f["name"].fail(f"duplicate link name {name}")
        k = 2
        while f"{name}-{k}" in used:
            k += 1
        name = f"{name}-{k}"
    ring = f["ring_size"].int(64, 65536) if "ring_size" in f else None
    if ring is not None and ring & (ring - 1):
        f["ring_size"].fail(f"ring_size {ring} is not a power of two")
    if "mtu" in f:
        m = f["mtu"].int(68, 9216)
        for p in ports:
            if p.mtu is None:
                p.mtu = m
    for p in ports:
        p.link = name
    link_node = None
    if "link" in f:
        link_node = _link_map(f["link"])
        for p in ports:
            if p.link_node is not None:
                f["link"].fail(f"port {p.full} already has link: (line {p.link_node.line})")
    t.rlinks.append(RLink(name, ports[0], ports[1], ring, link_node))


def _parse_hhlink(t, node, i, nets):
    f = node.fields({"hosts", "net4", "net6", "ip4", "ip6", "mtu"}, required=("hosts",))
    ends = f["hosts"].items()
    if len(ends) != 2:
        f["hosts"].fail("expected two ends: [a, b] or [a.eth1, b.eth1]")
    parsed = [_end(t, e, ("host",)) for e in ends]
    if parsed[0][1] == parsed[1][1]:
        ends[1].fail("a host-host link joins two different hosts")
    ifs = [_new_hostif(t, t.hosts[h], sub, e) for (_, h, sub), e in zip(parsed, ends)]
    _address_ends(node, f, nets, ifs)
    if "mtu" in f:
        m = f["mtu"].int(68, 9216)
        ifs[0].mtu = ifs[1].mtu = m
    ifs[0].peer_if, ifs[1].peer_if = ifs[1], ifs[0]
    t.hhlinks.append((ifs[0], ifs[1]))


def _finish_ports(t, nets):
    for r in t.routers.values():
        for idx, p in enumerate(r.ports.values()):
            p.index = idx
            if p.link or p.host_if:
                continue
            if not p.device:
                p.node.fail(f"port {p.full} has no device and is in no link", at_key=True)
            for fam in (4, 6):
                n = p.spec.get(f"ipv{fam}")
                if n is None:
                    continue
                for a in n.items(allow_scalar=True):
                    try:
                        itf = _addr(a, fam, None, 0)
                    except _AddrError as e:
                        a.fail(str(e))
                    if itf.network.prefixlen == 0:
                        a.fail(f"interface address {itf} has prefix length 0")
                    (p.ip4 if fam == 4 else p.ip6).append(itf)
                    nets.append((itf.network, a))


def _check_overlaps(nets):
    for k, (n, node) in enumerate(nets):
        for m, mnode in nets[:k]:
            if n.version == m.version and n.overlaps(m):
                node.fail(f"{n} overlaps {m} (line {mnode.line}): every link needs its own subnet")


def _route_prefix(node, fam=None):
    text = node.text()
    if text == "default":
        return text
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        if "host bits set" in str(e):
            node.fail(f"host bits set in prefix {text}")
        node.fail(f"'{text}' is not a prefix: {e}")


def _ip(node):
    text = node.text()
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        node.fail(f"'{text}' is not an IP address")


def _parse_host_routes(t, h, node):
    f = node.fields({"sysctls", "routes"})
    if "routes" not in f:
        return
    for rn in f["routes"].items():
        rf = rn.fields({"prefix", "via", "dev"}, required=("prefix",))
        pfx = _route_prefix(rf["prefix"])
        via = _ip(rf["via"]) if "via" in rf else None
        dev = rf["dev"].text() if "dev" in rf else None
        if via is None and dev is None:
            rn.fail("a route needs a via, a dev, or both")
        if dev is not None and h.iface(dev) is None:
            rf["dev"].fail(f"host {h.name} has no interface {dev} "
                           f"(has: {', '.join(i.name for i in h.ifaces) or 'none'})")
        if pfx != "default" and via is not None and pfx.version != via.version:
            rf["via"].fail(f"next hop {via} is IPv{via.version} but the prefix is IPv{pfx.version}")
        if pfx == "default" and via is None:
            rf["prefix"].fail("a default route needs a via (its family comes from it)")
        if via is not None and not via.is_link_local:
            ifs = [h.iface(dev)] if dev else h.ifaces
            if not any(via in a.network for i in ifs for a in (i.ip4 + i.ip6)):
                rf["via"].fail(f"next hop {via} is not in a connected subnet of host {h.name}")
        fam = via.version if via is not None else pfx.version
        ptext = ("default" if pfx == "default" else str(pfx))
        h.routes.append((ptext, str(via) if via else None, dev, fam))


def _parse_router_routes(t, r, node):
    f = node.fields({"asn", "ports", "routes", "neighbours", "ipim"})
    if "routes" not in f:
        return
    seen = set()
    for rn in f["routes"].items():
        rf = rn.fields({"prefix", "via", "port", "metric"}, required=("prefix",))
        pfx = _route_prefix(rf["prefix"])
        if pfx == "default":
            rf["prefix"].fail("write 0.0.0.0/0 or ::/0 for a router's default route")
        metric = rf["metric"].int(0, 2**32 - 1) if "metric" in rf else 0
        if (pfx, metric) in seen:
            rf["prefix"].fail(f"duplicate route prefix {pfx}"
                              + (f" with metric {metric}" if metric else ""))
        seen.add((pfx, metric))
        route = {"prefix": str(pfx)}
        if metric:
            route["metric"] = metric
        if "port" in rf:
            pn = rf["port"].text()
            if pn not in r.ports:
                rf["port"].fail(f"no port {pn} in router {r.id}")
            route["port"] = pn
        if "via" in rf:
            via = _ip(rf["via"])
            if via.version != pfx.version:
                rf["via"].fail(f"next hop {via} is IPv{via.version} but the prefix is "
                               f"IPv{pfx.version}")
            ports = [r.ports[route["port"]]] if "port" in route else list(r.ports.values())
            addrs = [a for p in r.ports.values() for a in p.ip4 + p.ip6]
            if any(a.ip == via for a in addrs):
                rf["via"].fail(f"next hop {via} is an address of router {r.id}")
            if not via.is_link_local and not any(via in a.network for p in ports
                                                 for a in p.ip4 + p.ip6):
                rf["via"].fail(f"next hop {via} is not in a connected subnet of router {r.id}")
            if via.is_link_local and "port" not in route:
                rf["via"].fail(f"link-local next hop {via} needs a port")
            route["via"] = str(via)
        elif "port" not in route:
            rn.fail("a route needs a via, a port, or both")
        route["node"] = rn
        r.routes.append(route)


def _host_defaults(t):
    for h in t.hosts.values():
        explicit = {fam for (p, _, _, fam) in h.routes if p == "default"}
        for fam in (4, 6):
            if fam in explicit:
                continue
            for i in h.ifaces:
                if i.port is None or i.default_route is False:
                    continue
                if (i.ip4 if fam == 4 else i.ip6):
                    gw = (i.port.ip4 if fam == 4 else i.port.ip6)[0].ip
                    h.routes.append(("default", str(gw), i.name, fam))
                    i.default_route = True
                    break


# --------------------------------------------------------------------------
# automatic routes: shortest paths over the router graph

def compute_auto_routes(t):
    """For every router and every subnet of another router's port, a static
    route via the first hop of a shortest path (BFS, in link order).  Explicit
    routes win; connected subnets get none."""
    for fam in (4, 6):
        attr = "ip4" if fam == 4 else "ip6"
        adj = {rid: [] for rid in t.routers}
        for l in t.rlinks:
            a, b = l.a, l.b
            if getattr(a, attr) and getattr(b, attr):
                adj[a.router.id].append((b.router.id, getattr(b, attr)[0].ip))
                adj[b.router.id].append((a.router.id, getattr(a, attr)[0].ip))
        # subnet -> routers it is attached to (in order)
        attached = {}
        for r in t.routers.values():
            for p in r.ports.values():
                for a in getattr(p, attr):
                    attached.setdefault(a.network, []).append(r.id)
        for r in t.routers.values():
            # BFS from r: distance and first-hop next-hop address per router
            dist = {r.id: 0}
            first = {}
            q = deque([r.id])
            while q:
                u = q.popleft()
                for v, addr in adj[u]:
                    if v not in dist:
                        dist[v] = dist[u] + 1
                        first[v] = addr if u == r.id else first[u]
                        q.append(v)
            connected = {a.network for p in r.ports.values() for a in getattr(p, attr)}
            # Explicit routes replace the automatic one; backups (a metric) add to it.
            explicit = {ipaddress.ip_network(x["prefix"]) for x in r.routes if not x.get("metric")}
            for net, owners in attached.items():
                if net in connected or net in explicit:
                    continue
                reach = [o for o in owners if o in dist and o != r.id]
                if not reach:
                    continue
                best = min(reach, key=lambda o: dist[o])
                r.auto_routes.append({"prefix": str(net), "via": str(first[best])})


# --------------------------------------------------------------------------
# names and the pathlab config

def assign_names(t, lab, lab_id):
    """Namespace, veth and device names for lab instance (lab, lab_id)."""
    t.lab, t.lab_id = lab, lab_id
    tag = (re.sub(r"[^A-Za-z0-9]", "", lab)[:3] or "lab") + lab_id
    for h in t.hosts.values():
        h.ns = f"{lab}-{lab_id}-{h.name}"
    used_dev = set()
    for r in t.routers.values():
        for p in r.ports.values():
            if p.device:
                used_dev.add(p.device.split(",")[0])
    used_if, n, k = set(), 0, 0
    for r in t.routers.values():
        for p in r.ports.values():
            if not p.host_if:
                continue
            cand = f"{tag}{r.id}{p.name}"
            if len(cand) > 15 or cand in used_if or not IFNAME_RE.match(cand):
                cand = f"{tag}v{k}"
                k += 1
                while cand in used_if:
                    cand = f"{tag}v{k}"
                    k += 1
            used_if.add(cand)
            p.root_if = p.host_if.root_if = cand
            while f"net_af_packet{n}" in used_dev:
                n += 1
            p.vdev = f"net_af_packet{n},iface={cand}"
            n += 1
    return tag


def port_mac(p):
    if p.mac:
        return p.mac
    if p.host_if:
        return f"02:00:00:00:{p.router.index + 1:02x}:{p.index:02x}"
    return None


def eal_args(t, file_prefix):
    p = t.process
    args = ["-l", p["lcores"]]
    if not p["hugepages"]:
        args += ["--no-huge", "-m", str(p["memory"])]
    pci = p["pci"] if p["pci"] is not None else t.has_pci()
    if not pci:
        args.append("--no-pci")
    else:
        for r in t.routers.values():
            for port in r.ports.values():
                d = port.device.split(",")[0] if port.device else ""
                if PCI_RE.match(d):
                    args += ["-a", port.device]
    args += ["--file-prefix", file_prefix, f"--log-level={p['log_level']}"]
    args += list(p["eal"])
    return args


class Rendered:
    """The pathlab config text, and which topology node each line came from."""

    def __init__(self):
        self.lines = []
        self.origin = {}     # 1-based generated line -> Node

    def add(self, line, node=None):
        self.lines.append(line)
        if node is not None:
            self.origin[len(self.lines)] = node

    @property
    def text(self):
        return "\n".join(self.lines) + "\n"


def _flow(v):
    return json.dumps(v, default=str)


def _stage_items(p, sl):
    """[(stage entry, Node it came from)]: from the topology, or set by set_stages()."""
    if isinstance(sl, list):
        return [(v, p.node) for v in sl]
    if sl is None or sl.is_null():
        return []
    return [(st.value, st) for st in sl.items()]


def set_stages(t, ref, stages):
    """Replace the stage list "ROUTER.PORT.ingress" (or .egress) by `stages`, plain values
    as in a topology (e.g. [{"stage": "ecn", "ip": "bleach"}]); pathlab --validate checks them."""
    rid, _, rest = ref.partition(".")
    pname, _, d = rest.partition(".")
    p = t.routers[rid].ports.get(pname) if rid in t.routers else None
    if p is None or d not in ("ingress", "egress"):
        raise KeyError(f"no stage list {ref!r} (ROUTER.PORT.ingress or ROUTER.PORT.egress)")
    setattr(p, d, list(stages))


def render(t, header=()):
    """The pathlab YAML for topology t (after assign_names)."""
    q = _flow
    out = Rendered()
    for h in header:
        out.add(f"# {h}")
    out.add("process:")
    out.add(f"  idle: {t.process['idle']}")
    for k, node in t.pathlab_process:
        out.add(f"  {k}: {q(node.value)}", node)
    out.add("routers:")
    for r in t.routers.values():
        out.add(f"  - id: {r.id}", r.node)
        out.add(f"    asn: {r.asn}")
        if r.ipim is not None:
            out.add(f"    ipim: {q(r.ipim.value)}", r.ipim)
        out.add("    ports:")
        for p in r.ports.values():
            out.add(f"      - name: {p.name}", p.node)
            dev = p.device or p.vdev
            if dev:
                out.add(f"        device: {q(dev)}", p.node)
            mac = port_mac(p)
            if mac:
                out.add(f"        mac: {q(mac)}", p.node)
            if p.ip4:
                out.add(f"        ipv4: [{', '.join(q(str(a)) for a in p.ip4)}]", p.node)
            if p.ip6:
                out.add(f"        ipv6: [{', '.join(q(str(a)) for a in p.ip6)}]", p.node)
            if p.mtu is not None:
                out.add(f"        mtu: {p.mtu}", p.node)
            if p.queues is not None:
                out.add(f"        queues: {p.queues}", p.node)
            if p.link_node is not None:
                out.add(f"        link: {q(p.link_node.value or {})}", p.link_node)
            if p.ipim is not None:
                out.add(f"        ipim: {q(p.ipim.value)}", p.ipim)
            for key, sl in (("ingress", p.ingress), ("egress", p.egress)):
                items = _stage_items(p, sl)
                if not items:
                    continue
                out.add(f"        {key}:", items[0][1])
                for value, node in items:
                    out.add(f"          - {q(value)}", node)
        routes = [(x, "") for x in r.routes] + [(x, "  # auto") for x in r.auto_routes]
        if routes:
            out.add("    routes:")
            for x, note in routes:
                body = ", ".join(f"{k}: {q(x[k])}" for k in ("prefix", "via", "port", "metric") if k in x)
                out.add(f"      - {{{body}}}{note}", x.get("node"))
        if r.neighbours:
            out.add("    neighbours:")
            for n in r.neighbours:
                out.add(f"      - {q(n.value)}", n)
    if t.rlinks:
        out.add("links:")
        for l in t.rlinks:
            extra = f", ring_size: {l.ring_size}" if l.ring_size else ""
            if l.link_node is None:
                out.add(f"  - {{name: {l.name}, ends: [{l.a.full}, {l.b.full}]{extra}}}")
                continue
            # with `link:` on a line of its own, so that its errors point at the topology's
            out.add(f"  - {{name: {l.name}, ends: [{l.a.full}, {l.b.full}]{extra},")
            out.add(f"     link: {q(l.link_node.value or {})}}}", l.link_node)
    if t.events:
        out.add("events:")
        for e in t.events:
            out.add(f"  - {q(e.value)}", e)
    return out


EXPECT_LISTS = ("stdout_contains", "stdout_not_contains", "stderr_contains", "stdout_regex")


def _parse_check(t, node, names):
    f = node.fields({"name", "host", "run", "expect", "timeout"}, required=("name", "host", "run"))
    name = f["name"].text()
    if name in names:
        f["name"].fail(f"duplicate check name '{name}'")
    names.add(name)
    host = f["host"].text()
    if host not in t.hosts:
        f["host"].fail(f"no host named '{host}'")
    f["run"].text()
    raw = {k: [] for k in EXPECT_LISTS}
    exit_code = 0
    if "expect" in f:
        ef = f["expect"].fields(set(EXPECT_LISTS) | {"exit"})
        if "exit" in ef:
            exit_code = ef["exit"].int(0, 255)
        for k in EXPECT_LISTS:
            if k in ef:
                raw[k] = ef[k].strs()
    timeout = f["timeout"].number(1) if "timeout" in f else 30
    c = Check(name, host, None, None, timeout, node)
    c.raw = (f["run"], exit_code, raw)
    resolve_check(t, c)
    t.checks.append(c)


def resolve_check(t, c):
    """Fill in c.run and c.expect from the placeholders (again after assign_names)."""
    run_node, exit_code, raw = c.raw
    c.run = t.substitute(run_node.text(), run_node)
    c.expect = {"exit": exit_code}
    for k, items in raw.items():
        if k == "stdout_regex":
            out = []
            for s, n in items:
                rx = t.substitute(s, n, regex=True)
                try:
                    re.compile(rx, re.M)
                except re.error as e:
                    n.fail(f"bad regular expression: {e}")
                out.append(rx)
            c.expect[k] = out
        else:
            c.expect[k] = [t.substitute(s, n) for s, n in items]

"""pathlab integration-test harness.

Builds a small lab out of network namespaces (hosts) and veth pairs, writes a
pathlab config for the routers, runs pathlab, and always tears everything
down again: in ``finally`` (``with Lab(...)``), at exit, and on SIGTERM/SIGINT.

Only resources this process created are touched.  Each lab records what it
created in /run/pathlab-tests/<prefix>.json so that a later run can remove the
leftovers of a run that was SIGKILLed (only if that run's pid is gone).

Layout of one attachment (``lab.wire(host, router, port, net4, net6)``):

    [host ns]  ethN (net.1+1 / ::2) <--veth--> <prefix><router><port>  [root ns]
                                                    ^ net_af_packet, pathlab
                                                      port address net.1 / ::1

Run by Debian's /usr/bin/python3. There is no skip: meson builds pathlab before these
tests and scripts/test runs as root, so a missing binary or root is a failure (exit 1).
"""

import atexit
import hashlib
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

PY = "/usr/bin/python3"
STATE_DIR = "/run/pathlab-tests"
IFNAMSIZ = 15

_ACTIVE = []          # labs that may own resources
_HANDLERS_SET = False


# --------------------------------------------------------------------------
# small helpers

def log(msg):
    print(f"[lab {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class LabError(AssertionError):
    pass


def run(cmd, ns=None, check=True, timeout=30, input=None):
    """Run cmd (list), optionally inside netns ns; return CompletedProcess."""
    full = (["ip", "netns", "exec", ns] if ns else []) + [str(c) for c in cmd]
    try:
        cp = subprocess.run(full, capture_output=True, text=True,
                            timeout=timeout, input=input)
    except subprocess.TimeoutExpired as e:
        raise LabError(f"timeout after {timeout}s: {' '.join(full)}\n"
                       f"stdout: {e.stdout}\nstderr: {e.stderr}") from None
    if check and cp.returncode != 0:
        raise LabError(f"command failed ({cp.returncode}): {' '.join(full)}\n"
                       f"stdout: {cp.stdout}\nstderr: {cp.stderr}")
    return cp


def unmet(reason):
    """A precondition meson and scripts/test guarantee is missing: fail, never skip."""
    print(f"FAIL: {reason}", flush=True)
    sys.exit(1)


def require_root():
    if os.geteuid() != 0:
        unmet("integration tests need root (network namespaces, veth)")


def pathlab_binary():
    """Locate build/apps/pathlab; fail if it is not built."""
    cands = []
    if os.environ.get("PATHLAB_BIN"):
        cands.append(os.environ["PATHLAB_BIN"])
    elif os.environ.get("PATHLAB_BUILD_ROOT"):
        cands.append(os.path.join(os.environ["PATHLAB_BUILD_ROOT"], "apps", "pathlab"))
    else:
        here = os.path.dirname(os.path.abspath(__file__))
        cands.append(os.path.join(here, "..", "..", "build", "apps", "pathlab"))
    for c in cands:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.abspath(c)
    unmet("pathlab binary not built (looked in: " + ", ".join(cands) + ")")


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return f"({path}: not readable)"
    return "".join(lines[-n:])


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _existing_netns():
    cp = run(["ip", "-o", "netns", "list"], check=False)
    return {line.split()[0] for line in cp.stdout.splitlines() if line.strip()}


def _existing_links():
    cp = run(["ip", "-o", "link", "show"], check=False)
    names = set()
    for line in cp.stdout.splitlines():
        m = re.match(r"\d+:\s+([^:@\s]+)", line)
        if m:
            names.add(m.group(1))
    return names


def reap_stale_state():
    """Remove resources recorded by earlier harness runs whose process died."""
    if not os.path.isdir(STATE_DIR):
        return
    for fn in os.listdir(STATE_DIR):
        if not fn.endswith(".json"):
            continue
        path = os.path.join(STATE_DIR, fn)
        try:
            with open(path) as f:
                st = json.load(f)
        except (OSError, ValueError):
            continue
        owner = st.get("owner_pid")
        if not isinstance(owner, int) or _pid_alive(owner):
            continue
        log(f"removing leftovers of dead harness pid {owner}: {fn}")
        _destroy(st)
        try:
            os.unlink(path)
        except OSError:
            pass


def _destroy(st):
    """Tear down everything a state record lists. Never raises."""
    pid = st.get("pathlab_pid")
    if isinstance(pid, int) and pid > 0 and _pid_alive(pid):
        try:
            # Only kill it if it still is a pathlab we started.
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            if st.get("file_prefix", "\0") in cmd:
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for ns in st.get("netns", []):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    for ln in st.get("links", []):
        subprocess.run(["ip", "link", "del", ln], capture_output=True)
    fp = st.get("file_prefix")
    if fp:
        rd = os.path.join("/var/run/dpdk", fp)
        if os.path.isdir(rd):
            subprocess.run(["rm", "-rf", "--", rd], capture_output=True)


def _cleanup_all():
    for lab in list(_ACTIVE):
        try:
            lab.cleanup()
        except Exception as e:  # noqa: BLE001 - cleanup must go on
            print(f"[lab] cleanup error: {e}", file=sys.stderr)


def _on_signal(signum, _frame):
    print(f"[lab] signal {signum}: cleaning up", file=sys.stderr, flush=True)
    _cleanup_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers():
    global _HANDLERS_SET
    if _HANDLERS_SET:
        return
    atexit.register(_cleanup_all)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _on_signal)
    _HANDLERS_SET = True


# --------------------------------------------------------------------------
# topology objects

class Host:
    def __init__(self, lab, name):
        self.lab = lab
        self.name = name
        self.ns = f"{lab.prefix}-{name}"[:64]
        self.ifaces = []
        self.has_default4 = False
        self.has_default6 = False

    def run(self, cmd, check=True, timeout=30, input=None):
        return run(cmd, ns=self.ns, check=check, timeout=timeout, input=input)

    def popen(self, cmd, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.ns] + [str(c) for c in cmd], **kw)

    def ping(self, dst, count=3, interval=0.2, wait=2, check=True, timeout=None,
             size=None):
        """ping dst; with check, every request must be answered."""
        v6 = ":" in str(dst)
        cmd = ["ping"] + (["-6"] if v6 else ["-4"]) + [
            "-n", "-c", str(count), "-i", str(interval), "-W", str(wait)]
        if size is not None:
            cmd += ["-s", str(size)]
        cmd.append(str(dst))
        cp = self.run(cmd, check=False,
                      timeout=timeout or (count * (interval + wait) + 5))
        m = re.search(r"(\d+) packets transmitted, (\d+) received", cp.stdout)
        cp.sent, cp.received = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        if check and (cp.returncode != 0 or cp.received != count):
            raise LabError(f"{self.name}: ping {dst}: {cp.received}/{count} answered:\n"
                           f"{cp.stdout}{cp.stderr}")
        log(f"{self.name}: ping {dst}: {cp.received}/{cp.sent} answered")
        return cp

    def sysctl(self, key, value):
        self.run(["sysctl", "-qw", f"{key}={value}"])

    def capture(self, iface, bpf=""):
        """Start tcpdump on iface; use as ``with host.capture("eth0") as cap:`` then
        ``cap.packets()`` (scapy) after the block."""
        return Capture(self, iface, bpf)

    def wait_ping(self, dst, deadline=15.0):
        """Ping until one reply arrives (first packets may wait on ARP/ND)."""
        end = time.monotonic() + deadline
        last = None
        while time.monotonic() < end:
            last = self.ping(dst, count=1, wait=1, check=False)
            if last.returncode == 0:
                return last
            time.sleep(0.2)
        raise LabError(f"{self.name}: {dst} not reachable within {deadline}s:\n"
                       f"{last.stdout if last else ''}{last.stderr if last else ''}")


class Capture:
    """tcpdump in a host namespace, written to the lab's workdir."""

    def __init__(self, host, iface, bpf):
        self.host = host
        self.path = os.path.join(host.lab.workdir, f"{host.name}-{iface}-{time.monotonic_ns()}.pcap")
        self.cmd = ["tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-s", "0", "-w", self.path] + \
            (bpf.split() if bpf else [])
        self.proc = None

    def __enter__(self):
        self.proc = self.host.popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True)
        line = self.proc.stderr.readline()   # "listening on ..." once the socket is open
        if "listening" not in line:
            self.proc.kill()
            raise LabError(f"tcpdump did not start: {line!r}")
        return self

    def __exit__(self, *exc):
        time.sleep(0.3)                      # let the last frames land
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        return False

    def packets(self):
        from scapy.all import rdpcap
        return list(rdpcap(self.path))


class Port:
    """A router port; wired ports have a veth, link ports have none."""

    def __init__(self, router, name, v4=None, v6=None, device=None, mac=None):
        self.router = router
        self.name = name
        self.v4 = list(v4 or [])        # ["198.18.1.1/24"]
        self.v6 = list(v6 or [])
        self.device = device
        self.mac = mac
        self.root_if = None
        self.host = None
        self.host_if = None
        self.host_v4 = None             # host address (no prefix)
        self.host_v6 = None
        self.ingress = []               # stage entries, YAML flow maps: "{stage: ecn, ip: bleach}"
        self.egress = []

    @property
    def addr4(self):
        return self.v4[0].split("/")[0] if self.v4 else None

    @property
    def addr6(self):
        return self.v6[0].split("/")[0] if self.v6 else None


class Router:
    def __init__(self, lab, rid, asn):
        self.lab = lab
        self.id = rid
        self.asn = asn
        self.ports = []
        self.routes = []
        self.index = len(lab.routers)

    def port(self, name):
        for p in self.ports:
            if p.name == name:
                return p
        raise KeyError(name)

    def add_port(self, name, v4=None, v6=None, device=None):
        n = len(self.ports)
        mac = f"02:00:00:00:{self.index + 1:02x}:{n:02x}"
        p = Port(self, name, v4, v6, device, mac)
        self.ports.append(p)
        return p

    def route(self, prefix, via):
        self.routes.append((str(prefix), str(via)))

    def addresses(self):
        out = []
        for p in self.ports:
            out += [a.split("/")[0] for a in p.v4 + p.v6]
        return out


def _host_addr(net, i):
    net = ipaddress.ip_network(net)
    return str(net.network_address + i)


class Lab:
    """A lab of hosts and routers.  Use as ``with Lab("name") as lab:``."""

    def __init__(self, name, extra_args=None):
        require_root()
        binary = pathlab_binary()     # fails when not built
        _install_handlers()
        reap_stale_state()
        self.name = name
        self.binary = binary
        self.extra_args = list(extra_args or [])
        self.hosts = []
        self.routers = []
        self.links = []           # (name, "r1.east", "r2.west")
        self.process_cfg = {"idle": "adaptive"}
        self.prefix = self._pick_prefix()
        self.file_prefix = f"pltest{os.getpid()}"
        self.state = {"owner_pid": os.getpid(), "netns": [], "links": [],
                      "file_prefix": self.file_prefix, "pathlab_pid": None}
        self.state_path = os.path.join(STATE_DIR, f"{self.prefix}.json")
        base = os.environ.get("PATHLAB_BUILD_ROOT")
        logroot = os.path.join(base, "integration-logs") if base else tempfile.gettempdir()
        os.makedirs(logroot, exist_ok=True)
        self.workdir = tempfile.mkdtemp(prefix=f"{name}-", dir=logroot)
        self.config_path = os.path.join(self.workdir, "pathlab.yaml")
        self.stdout_path = os.path.join(self.workdir, "pathlab.stdout")
        self.stderr_path = os.path.join(self.workdir, "pathlab.stderr")
        self.proc = None
        self.summary = None
        self.built = False
        self.failed = False
        self._cleaned = False
        _ACTIVE.append(self)

    # ---- naming
    @staticmethod
    def _pick_prefix():
        used_ns = _existing_netns()
        used_if = _existing_links()
        base = os.getpid() % 10000
        for k in range(10000):
            p = f"plt{(base + k) % 10000}"
            if not any(n.startswith(p + "-") for n in used_ns) and \
               not any(n.startswith(p) and n[len(p):len(p) + 1].isalpha() for n in used_if):
                if not os.path.exists(os.path.join(STATE_DIR, f"{p}.json")):
                    return p
        raise LabError("no free lab prefix")

    def _root_ifname(self, router, port):
        cand = f"{self.prefix}{router.id}{port.name}"
        if len(cand) <= IFNAMSIZ and re.fullmatch(r"[A-Za-z0-9_.-]+", cand):
            return cand
        n = sum(1 for r in self.routers for p in r.ports if p.root_if)
        return f"{self.prefix}v{n}"

    def _save_state(self):
        os.makedirs(STATE_DIR, exist_ok=True)
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f)
        os.replace(tmp, self.state_path)

    # ---- topology description
    def host(self, name):
        h = Host(self, name)
        self.hosts.append(h)
        return h

    def router(self, rid, asn=None):
        r = Router(self, rid, asn if asn is not None else 65000 + len(self.routers) + 1)
        self.routers.append(r)
        return r

    def wire(self, host, router, port_name, net4=None, net6=None,
             router_index=1, host_index=2):
        """Connect host to router's port port_name with a veth pair.

        The router gets address <net>+router_index, the host <net>+host_index.
        The first wire of a host also sets its default routes via the router.
        """
        v4 = [f"{_host_addr(net4, router_index)}/{ipaddress.ip_network(net4).prefixlen}"] if net4 else []
        v6 = [f"{_host_addr(net6, router_index)}/{ipaddress.ip_network(net6).prefixlen}"] if net6 else []
        p = router.add_port(port_name, v4, v6)
        p.host = host
        p.host_if = f"eth{len(host.ifaces)}"
        p.root_if = self._root_ifname(router, p)
        idx = sum(1 for r in self.routers for q in r.ports if q.device)
        p.device = f"net_af_packet{idx},iface={p.root_if}"
        p.host_v4 = _host_addr(net4, host_index) if net4 else None
        p.host_v6 = _host_addr(net6, host_index) if net6 else None
        p.net4 = net4
        p.net6 = net6
        host.ifaces.append(p)
        return p

    def link(self, ra, pa, rb, pb, net4=None, net6=None, name=None):
        """In-process router-to-router link; ra.pa gets .1, rb.pb gets .2."""
        def addrs(i):
            v4 = [f"{_host_addr(net4, i)}/{ipaddress.ip_network(net4).prefixlen}"] if net4 else []
            v6 = [f"{_host_addr(net6, i)}/{ipaddress.ip_network(net6).prefixlen}"] if net6 else []
            return v4, v6
        a = ra.add_port(pa, *addrs(1))
        b = rb.add_port(pb, *addrs(2))
        self.links.append((name or f"{ra.id}-{rb.id}", f"{ra.id}.{pa}", f"{rb.id}.{pb}"))
        return a, b

    # ---- config
    def config_yaml(self):
        q = json.dumps   # a JSON string is a valid YAML double-quoted scalar
        out = ["process:"]
        for k, v in self.process_cfg.items():
            out.append(f"  {k}: {v}")
        out.append("routers:")
        for r in self.routers:
            out.append(f"  - id: {r.id}")
            out.append(f"    asn: {r.asn}")
            out.append("    ports:")
            for p in r.ports:
                out.append(f"      - name: {p.name}")
                if p.device:
                    out.append(f"        device: {q(p.device)}")
                out.append(f"        mac: {q(p.mac)}")
                if p.v4:
                    out.append(f"        ipv4: [{', '.join(p.v4)}]")
                if p.v6:
                    out.append(f"        ipv6: [{', '.join(q(a) for a in p.v6)}]")
                for chain in ("ingress", "egress"):
                    stages = getattr(p, chain)
                    if stages:
                        out.append(f"        {chain}:")
                        out += [f"          - {st}" for st in stages]
            if r.routes:
                out.append("    routes:")
                for pfx, via in r.routes:
                    out.append(f"      - {{prefix: {q(pfx)}, via: {q(via)}}}")
        if self.links:
            out.append("links:")
            for name, a, b in self.links:
                out.append(f"  - name: {name}")
                out.append(f"    ends: [{a}, {b}]")
        return "\n".join(out) + "\n"

    # ---- build / teardown
    def build(self):
        """Create namespaces and veths (no pathlab yet)."""
        for h in self.hosts:
            self.state["netns"].append(h.ns)
            self._save_state()
            run(["ip", "netns", "add", h.ns])
            h.run(["ip", "link", "set", "lo", "up"])
            for key, val in (("net.ipv4.icmp_ratelimit", "0"),
                             ("net.ipv6.icmp.ratelimit", "0"),
                             ("net.ipv4.icmp_msgs_per_sec", "100000")):
                h.run(["sysctl", "-qw", f"{key}={val}"], check=False)
        for r in self.routers:
            for p in r.ports:
                if not p.host:
                    continue
                h = p.host
                self.state["links"].append(p.root_if)
                self._save_state()
                run(["ip", "link", "add", p.root_if, "type", "veth",
                     "peer", "name", p.host_if, "netns", h.ns])
                # router end: root ns, no addresses, no IPv6, no offloads
                run(["sysctl", "-qw", f"net.ipv6.conf.{p.root_if}.disable_ipv6=1"])
                run(["ethtool", "-K", p.root_if, "tx", "off", "rx", "off",
                     "tso", "off", "gso", "off", "gro", "off"], check=False)
                run(["ip", "link", "set", p.root_if, "up"])
                # host end: addresses, no checksum offload (else af_packet
                # sees partial checksums), no segmentation offloads
                h.run(["ethtool", "-K", p.host_if, "tx", "off", "rx", "off",
                       "tso", "off", "gso", "off", "gro", "off"])
                h.run(["sysctl", "-qw", f"net.ipv6.conf.{p.host_if}.disable_ipv6=0"], check=False)
                if p.host_v4:
                    h.run(["ip", "addr", "add",
                           f"{p.host_v4}/{ipaddress.ip_network(p.net4).prefixlen}",
                           "dev", p.host_if])
                if p.host_v6:
                    h.run(["ip", "-6", "addr", "add",
                           f"{p.host_v6}/{ipaddress.ip_network(p.net6).prefixlen}",
                           "dev", p.host_if, "nodad"])
                h.run(["ip", "link", "set", p.host_if, "up"])
                if p.host_v4 and p.addr4 and not h.has_default4:
                    h.run(["ip", "route", "add", "default", "via", p.addr4, "dev", p.host_if])
                    h.has_default4 = True
                if p.host_v6 and p.addr6 and not h.has_default6:
                    h.run(["ip", "-6", "route", "add", "default", "via", p.addr6,
                           "dev", p.host_if])
                    h.has_default6 = True
        with open(self.config_path, "w") as f:
            f.write(self.config_yaml())
        self.built = True

    def eal_args(self):
        return ["--no-huge", "-m", "512", "--no-pci", "-l", "0,1",
                "--file-prefix", self.file_prefix, "--log-level=*:notice"]

    def start(self, ready_timeout=30.0):
        if not self.built:
            self.build()
        with open(self.config_path, "w") as f:   # stages may have been set after build()
            f.write(self.config_yaml())
        self._launch(ready_timeout)

    def _launch(self, ready_timeout):
        self.binary = self.binary or pathlab_binary()
        cmd = [self.binary] + self.eal_args() + ["--", "--config", self.config_path] + self.extra_args
        log("start: " + " ".join(cmd))
        self.stdout_f = open(self.stdout_path, "wb")
        self.stderr_f = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.stdout_f, stderr=self.stderr_f,
                                     stdin=subprocess.DEVNULL)
        self.state["pathlab_pid"] = self.proc.pid
        self._save_state()
        end = time.monotonic() + ready_timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise LabError(f"pathlab exited early with code {self.proc.returncode}")
            try:
                with open(self.stdout_path, errors="replace") as f:
                    if "pathlab: running" in f.read():
                        log(f"pathlab running (pid {self.proc.pid})")
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise LabError(f"pathlab not running after {ready_timeout}s "
                       "(no 'pathlab: running' on stdout)")

    def restart(self, ready_timeout=30.0):
        """Stop pathlab, check its accounting, rewrite the config (ports' stages may have
        changed) and start again. Returns the old run's summary."""
        summary = self.stop()
        check_accounting(summary)
        with open(self.config_path, "w") as f:
            f.write(self.config_yaml())
        self._launch(ready_timeout)
        return summary

    def stop(self, timeout=15.0):
        """SIGTERM pathlab, wait, parse and check the JSON summary."""
        self._terminate(timeout)
        self.summary = parse_summary(self.stdout_path)
        return self.summary

    def _terminate(self, timeout):
        if self.proc is None:
            raise LabError("pathlab was not started")
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise LabError(f"pathlab did not exit within {timeout}s of SIGTERM")
        rc = self.proc.returncode
        for f in (self.stdout_f, self.stderr_f):
            f.close()
        if rc != 0:
            raise LabError(f"pathlab exited with code {rc} after SIGTERM")

    def dump_logs(self, n=30):
        print(f"---- {self.config_path}", file=sys.stderr)
        try:
            print(open(self.config_path).read(), file=sys.stderr)
        except OSError:
            pass
        for path in (self.stdout_path, self.stderr_path):
            print(f"---- last {n} lines of {path}", file=sys.stderr)
            print(tail(path, n), file=sys.stderr, flush=True)

    def cleanup(self):
        if self._cleaned:
            return
        self._cleaned = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                try:
                    self.proc.wait(3)
                except subprocess.TimeoutExpired:
                    pass
        _destroy(self.state)
        try:
            os.unlink(self.state_path)
        except OSError:
            pass
        if self in _ACTIVE:
            _ACTIVE.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, etype, evalue, tb):
        if etype is not None:
            self.failed = True
            self.dump_logs()
        self.cleanup()
        return False


# --------------------------------------------------------------------------
# summary / telemetry

def parse_summary(stdout_path):
    with open(stdout_path, errors="replace") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    if not lines:
        raise LabError("pathlab printed nothing on stdout")
    last = lines[-1]
    try:
        s = json.loads(last)
    except ValueError:
        raise LabError(f"last stdout line is not JSON: {last[:200]!r}") from None
    if s.get("pathlab") != "summary":
        raise LabError(f"last stdout line is not a pathlab summary: {last[:200]!r}")
    return s


def router_summary(summary, rid):
    for r in summary.get("routers", []):
        if r.get("id") == rid:
            return r
    raise LabError(f"router {rid} not in summary")


def port_summary(summary, rid, port):
    for p in router_summary(summary, rid).get("ports", []):
        if p.get("name") == port:
            return p
    raise LabError(f"port {rid}.{port} not in summary")


def check_accounting(summary):
    """rx == tx + drops + consumed for every router, and the totals agree."""
    problems = []
    for r in summary.get("routers", []):
        rid = r.get("id")
        acc = r.get("accounting", {})
        ports = r.get("ports", [])
        rx = sum(p["rx_packets"] for p in ports)
        tx = sum(p["tx_packets"] for p in ports)
        drops = sum(r.get("drops", {}).values())
        consumed = r.get("consumed")
        nz = {k: v for k, v in r.get("drops", {}).items() if v}
        log(f"{rid}: rx={rx} tx={tx} drops={drops} consumed={consumed} "
            f"nonzero drops={nz} accounting={acc}")
        for key, want in (("rx", rx), ("tx", tx), ("drops", drops), ("consumed", consumed)):
            if acc.get(key) != want:
                problems.append(f"{rid}: accounting.{key}={acc.get(key)} but computed {want}")
        if acc.get("balanced") is not True:
            problems.append(f"{rid}: accounting.balanced is {acc.get('balanced')}")
        if rx != tx + drops + consumed:
            problems.append(f"{rid}: rx {rx} != tx {tx} + drops {drops} + consumed {consumed}")
    if problems:
        raise LabError("accounting broken:\n  " + "\n  ".join(problems))


def check_no_checksum_drops(summary):
    """Drops for bad checksums must stay zero (offloads are off in the lab)."""
    bad = []
    for r in summary.get("routers", []):
        for k, v in r.get("drops", {}).items():
            if v and ("checksum" in k or "cksum" in k):
                bad.append(f"{r['id']}: {k}={v}")
    if bad:
        raise LabError("unexpected checksum drops: " + ", ".join(bad))


def drop_count(summary, rid, name):
    d = router_summary(summary, rid).get("drops", {})
    if name not in d:
        raise LabError(f"{rid}: no drop reason named {name!r}; have {sorted(d)}")
    return d[name]


def telemetry_query(file_prefix, command, timeout=5.0):
    """Send one command to DPDK's telemetry v2 socket; return the JSON reply."""
    path = os.path.join("/var/run/dpdk", file_prefix, "dpdk_telemetry.v2")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout)
    try:
        s.connect(path)
        greeting = json.loads(s.recv(65536).decode())
        bufsize = max(int(greeting.get("max_output_len", 16384)), 16384) + 1024
        s.send(command.encode())
        reply = s.recv(bufsize).decode()
        return greeting, json.loads(reply)
    finally:
        s.close()


# --------------------------------------------------------------------------
# canned topologies

NET = {
    "c4": "198.18.1.0/24", "c6": "fd00:1::/64",     # client side of r1
    "s4": "198.18.2.0/24", "s6": "fd00:2::/64",     # server side (r1 or r2)
    "l4": "198.18.12.0/30", "l6": "fd00:12::/64",   # r1 east <-> r2 west
}


def one_router(name, **kw):
    """client -- r1 -- server."""
    lab = Lab(name, **kw)
    r1 = lab.router("r1")
    c = lab.host("client")
    s = lab.host("server")
    lab.wire(c, r1, "p0", NET["c4"], NET["c6"])
    lab.wire(s, r1, "p1", NET["s4"], NET["s6"])
    return lab, r1, c, s


def two_routers(name, **kw):
    """client -- r1 =link= r2 -- server."""
    lab = Lab(name, **kw)
    r1 = lab.router("r1")
    r2 = lab.router("r2")
    c = lab.host("client")
    s = lab.host("server")
    lab.wire(c, r1, "p0", NET["c4"], NET["c6"])
    east, west = lab.link(r1, "east", r2, "west", NET["l4"], NET["l6"])
    lab.wire(s, r2, "p1", NET["s4"], NET["s6"])
    r1.route(NET["s4"], west.addr4)
    r1.route(NET["s6"], west.addr6)
    r2.route(NET["c4"], east.addr4)
    r2.route(NET["c6"], east.addr6)
    return lab, r1, r2, c, s


def main(fn):
    """Run a test function fn(); print PASS/FAIL, exit 0/1."""
    t0 = time.monotonic()
    try:
        fn()
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        print(f"FAIL ({time.monotonic() - t0:.1f}s): {e}", flush=True)
        _cleanup_all()
        sys.exit(1)
    _cleanup_all()
    print(f"PASS ({time.monotonic() - t0:.1f}s)", flush=True)
    sys.exit(0)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()

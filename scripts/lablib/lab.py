"""Labs from Python, for the tests and scripts/demo:

    with Lab("one-router", near=__file__) as lab:     # tests/integration/topologies/one-router.yaml
        lab.host("client").wait_ping(lab.ip4("server"))
        summary = lab.down()                           # exit status and accounting checked

A Lab is a scripts/lab lab brought up by the same code (runner.Up): the same names, state
dir (/run/pathlab-lab/<lab>/), supervisor and teardown, so `scripts/lab status`,
`scripts/lab exec -l LAB` and `scripts/lab down LAB` work on it too.  Its state records its
owner (this process); the next Lab takes down labs whose owner died without cleaning up.
Teardown always runs: on leaving the `with`, at exit, and on SIGTERM or SIGHUP (raised as
runner.Interrupted); signals that arrive during teardown wait until it is done.
"""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import types

from . import runner as R
from . import summary as S
from . import topology as T
from .tools import parse_ping

PY = "/usr/bin/python3"
LabFailure = R.LabFailure
_ACTIVE = []               # labs that may own resources
_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_installed = False


def log(msg):
    print(f"[lab {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _interrupt(signum, _frame):
    raise R.Interrupted(signal.Signals(signum).name)


def _install_handlers():
    """atexit teardown; SIGTERM/SIGHUP as an exception, unless the program has handlers."""
    global _installed
    if _installed:
        return
    _installed = True
    atexit.register(_cleanup_all)
    for s in _SIGNALS:
        try:
            if signal.getsignal(s) == signal.SIG_DFL:
                signal.signal(s, _interrupt)
        except ValueError:      # not the main thread
            pass


class _Deferred:
    """Signals that arrive inside the block are recorded in .caught, not acted on."""

    def __enter__(self):
        self.caught, self.old = [], {}
        for s in _SIGNALS + (signal.SIGINT,):
            try:
                self.old[s] = signal.signal(s, lambda n, _f: self.caught.append(n))
            except ValueError:
                pass
        return self

    def __exit__(self, *exc):
        for s, h in self.old.items():
            signal.signal(s, h)
        return False


def _cleanup_all(failed=False):
    for lab in list(_ACTIVE):
        try:
            lab.cleanup(failed)
        except Exception as e:  # noqa: BLE001 - the others must still go down
            print(f"[lab] cleanup of {lab.name}: {e}", file=sys.stderr, flush=True)


def reap_orphans():
    """Take down the labs whose owning program (a test) died without taking them down."""
    for name in R.labs():
        st = R.read_state(name)
        owner = st.get("owner_pid") if st else None
        if isinstance(owner, int) and owner != os.getpid() and not R.pid_alive(owner):
            log(f"lab {name}: its owner pid {owner} is gone; taking it down")
            R.teardown(st, quiet=True)


class Lab:
    """A topology brought up under a unique lab name (default: the topology's name and the
    pid).  `near=__file__` looks for a topology NAME in topologies/ next to that file first.
    Use as ``with Lab(...) as lab:``; `lab.down()` returns pathlab's summary."""

    def __init__(self, topology, name=None, near=None, binary=None, timeout=30.0):
        if os.geteuid() != 0:
            raise LabFailure("a lab needs root (network namespaces, veths)")
        binary = R.find_pathlab(binary)
        _install_handlers()
        reap_orphans()
        dirs = [os.path.join(os.path.dirname(os.path.abspath(near)), "topologies")] if near else []
        self.t = R.load_topology(topology, dirs)
        self.name = R.check_lab_name(name or f"{self.t.name[:12]}{os.getpid() % 100000}")
        self.timeout = timeout
        self.up = R.Up(self.t, self.name, binary, owner=os.getpid())
        self.hosts = {}
        self.procs = []
        self.summary = None
        self.archived = None
        self._down = False
        base = os.environ.get("PATHLAB_BUILD_ROOT")
        root = os.path.join(base, "lab-logs") if base else tempfile.gettempdir()
        os.makedirs(root, exist_ok=True)
        self.workdir = tempfile.mkdtemp(prefix=f"{self.name}-", dir=root)

    # ---- up and down
    def start(self):
        """Build the lab and start pathlab; returns once every router port answers its host."""
        _ACTIVE.append(self)
        t0 = time.monotonic()
        try:
            lab_id = self.up.prepare()[0]
            log(f"lab {self.name}: up {R.shown(self.t.file)} (id {lab_id})")
            self.up.bring_up(self.timeout)
        except BaseException:
            self._dump()
            self.cleanup(failed=True)
            raise
        self.hosts = {n: Host(self, h) for n, h in self.t.hosts.items()}
        log(f"lab {self.name}: up in {time.monotonic() - t0:.1f}s, pathlab pid "
            f"{self.pathlab_pid}, file prefix {self.file_prefix}")
        return self

    def restart(self, stages=None):
        """Stop pathlab (its summary is checked, and returned), replace stage lists
        ({"r1.p0.ingress": [{"stage": "ecn", "ip": "bleach"}]}) and start it again.  The new
        lists are checked (`pathlab --validate`) before pathlab stops: when they are rejected
        (runner.ConfigRejected) the old lists stay and pathlab keeps running as it was."""
        saved = []
        try:
            for ref, stages_ in (stages or {}).items():
                rid, _, rest = ref.partition(".")
                pname, _, d = rest.partition(".")
                p = self.t.routers[rid].ports.get(pname) if rid in self.t.routers else None
                old = getattr(p, d, None) if d in ("ingress", "egress") else None
                T.set_stages(self.t, ref, stages_)
                saved.append((p, d, old))
            lab_id, fp = self.up.prepared[:2]
            rendered = self.up.render(lab_id, fp)[2]
        except BaseException:
            for p, d, old in reversed(saved):
                setattr(p, d, old)
            raise
        summary, rc, forced = self.up.stop()
        self._check_run(summary, rc, [f"pathlab killed after 15 s: {forced}"] if forced else [])
        self.up.relaunch(rendered, self.timeout)
        log(f"lab {self.name}: pathlab restarted (pid {self.pathlab_pid})")
        return summary

    def down(self, accounting=True):
        """Stop pathlab and remove the lab; returns pathlab's summary.  pathlab must have
        exited 0 on SIGTERM with a summary, and nothing may be left behind; with
        accounting, every router's rx = tx + drops + consumed (+ held) must hold too."""
        summary, notes, rc = self._teardown()
        self._check_run(summary, rc, notes, accounting)
        return summary

    def cleanup(self, failed=False):
        """Take the lab down if it is up (idempotent).  The work dir is removed, or on
        failure kept with pathlab's config and output copied into it."""
        if not self._down and self.up.state is not None:
            self._teardown()
        self._down = True
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if self.workdir and os.path.isdir(self.workdir):
            if failed and self.archived:
                for fn in os.listdir(self.archived):
                    if fn.startswith(("pathlab.", "summary", "topology")):
                        shutil.copy(os.path.join(self.archived, fn), self.workdir)
            if failed and os.listdir(self.workdir):
                log(f"lab {self.name}: logs and captures kept in {self.workdir}")
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, etype, _evalue, _tb):
        failed = etype is not None
        if failed and not self._down:
            self._dump()
        self.cleanup(failed=failed)
        return False

    def _teardown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        with _Deferred() as d:
            summary, notes, rc = R.teardown(self.up.state.data, quiet=True)
            self._down = True
        self.summary = summary
        self.archived = self.up.state.data.get("archived")
        if d.caught:
            signal.raise_signal(d.caught[0])
        return summary, notes, rc

    def _check_run(self, summary, rc, problems, accounting=True):
        problems = list(problems)
        if rc is None or rc.get("returncode") != 0:
            problems.append(f"pathlab did not exit 0 on SIGTERM {R.describe_rc(rc)}")
        if summary is None:
            problems.append("pathlab printed no JSON summary")
        if problems:
            raise LabFailure(f"lab {self.name}: " + "\n".join(problems))
        if accounting:
            S.check_accounting(summary, log)

    def _dump(self, n=30):
        if self.up.state is None:
            return
        sdir = self.up.state.data["state_dir"]
        try:
            with open(os.path.join(sdir, "pathlab.yaml")) as f:
                print(f"---- {sdir}/pathlab.yaml\n{f.read()}", file=sys.stderr)
        except OSError:
            pass
        print(R.crash_report(sdir, n), file=sys.stderr, flush=True)

    # ---- what is in it
    @property
    def state(self):
        return self.up.state.data

    @property
    def file_prefix(self):
        return self.state["file_prefix"]

    @property
    def pathlab_pid(self):
        return self.state.get("pathlab_pid")

    def host(self, name):
        return self.hosts[name]

    def add_namespace(self, name):
        """A network namespace of the caller's own beside the topology's hosts (a Linux
        router to compare with, say), as a Host: `<lab>-<id>-<name>`, recorded in the lab's
        state before it is created and removed with the lab like the topology's hosts (its
        processes ended first; veths between such namespaces go with them).  It gets lo up and
        the default host sysctls; interfaces, addresses and routes are the caller's."""
        if name in self.hosts or name in self.t.hosts or not T.NAME_RE.match(name):
            raise LabFailure(f"lab {self.name}: cannot add namespace {name!r}")
        ns = f"{self.name}-{self.state['id']}-{name}"
        self.up.state.add("netns", ns)
        R.run(["ip", "netns", "add", ns])
        R.run(["ip", "-n", ns, "link", "set", "lo", "up"])
        for k, v in T.DEFAULT_HOST_SYSCTLS.items():
            R.run(["sysctl", "-qw", f"{k}={v}"], ns=ns, check=False)
        h = Host(self, types.SimpleNamespace(name=name, ns=ns))
        self.hosts[name] = h
        return h

    def ip4(self, ref):
        """The first IPv4 address of 'host', 'host.if' or 'router.port'."""
        return self._addr(ref, "ip4")

    def ip6(self, ref):
        return self._addr(ref, "ip6")

    def _addr(self, ref, fam):
        a = self.t.address(ref, fam)
        if a is None:
            raise KeyError(f"{ref} has no {fam} address in {self.t.file}")
        return a

    def check(self):
        """Run the topology's checks (as `scripts/lab check`); fail if any fails."""
        for c in self.t.checks:
            T.resolve_check(self.t, c)
        fails = R.run_checks(self.t, {n: h.ns for n, h in self.t.hosts.items()})
        if fails:
            raise LabFailure(f"{fails} of {len(self.t.checks)} topology checks failed")

    def telemetry(self, command, timeout=5.0):
        """One command on pathlab's DPDK telemetry socket: (greeting, reply)."""
        path = os.path.join("/var/run/dpdk", self.file_prefix, "dpdk_telemetry.v2")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(timeout)
        try:
            s.connect(path)
            greeting = json.loads(s.recv(65536).decode())
            bufsize = max(int(greeting.get("max_output_len", 16384)), 16384) + 1024
            s.send(command.encode())
            return greeting, json.loads(s.recv(bufsize).decode())
        finally:
            s.close()


class Host:
    """A lab host (its network namespace)."""

    def __init__(self, lab, th):
        self.lab, self.name, self.ns = lab, th.name, th.ns

    def run(self, cmd, check=True, timeout=30, input=None):
        return R.run(cmd, ns=self.ns, check=check, timeout=timeout, input=input)

    def popen(self, cmd, **kw):
        """A process in the host; it is ended when the lab goes down."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(["ip", "netns", "exec", self.ns] + [str(c) for c in cmd], **kw)
        self.lab.procs.append(p)
        return p

    def sysctl(self, key, value):
        self.run(["sysctl", "-qw", f"{key}={value}"])

    def ping(self, dst, count=3, interval=0.2, wait=2, check=True, timeout=None, size=None):
        """ping dst; with check every request must be answered.  The result has .sent and
        .received besides stdout and returncode."""
        cmd = ["ping", "-6" if ":" in str(dst) else "-4", "-n", "-c", count, "-i", interval,
               "-W", wait] + (["-s", size] if size is not None else []) + [dst]
        cp = self.run(cmd, check=False, timeout=timeout or (count * (interval + wait) + 5))
        res = parse_ping(cp.stdout)
        cp.sent, cp.received = res["sent"], res["received"]
        if check and (cp.returncode != 0 or cp.received != count):
            raise LabFailure(f"{self.name}: ping {dst}: {cp.received}/{count} answered:\n"
                             f"{cp.stdout}{cp.stderr}")
        log(f"{self.name}: ping {dst}: {cp.received}/{cp.sent} answered")
        return cp

    def wait_ping(self, *dsts, deadline=15.0):
        """Ping each dst until one reply arrives (the first packets may wait on ARP/ND)."""
        for dst in dsts:
            end = time.monotonic() + deadline
            last = None
            while time.monotonic() < end:
                last = self.ping(dst, count=1, wait=1, check=False)
                if last.returncode == 0:
                    break
                time.sleep(0.2)
            else:
                raise LabFailure(f"{self.name}: {dst} not reachable within {deadline}s:\n"
                                 f"{last.stdout if last else ''}{last.stderr if last else ''}")

    def capture(self, iface, bpf="", path=None):
        """``with host.capture("eth0", "tcp port 80") as cap:``, then cap.packets()."""
        path = path or os.path.join(self.lab.workdir,
                                    f"{self.name}-{iface}-{time.monotonic_ns()}.pcap")
        return Capture(self, iface, bpf, path)


class Capture:
    """tcpdump in a lab host, written to `path`."""

    def __init__(self, host, iface, bpf, path):
        self.host, self.path = host, path
        self.cmd = ["tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-s", "0",
                    "-w", path] + bpf.split()
        self.proc = None

    def __enter__(self):
        self.proc = self.host.popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True)
        seen = []
        while True:              # "listening on ..." once the socket is open
            ln = self.proc.stderr.readline()
            seen.append(ln)
            if "listening on" in ln:
                return self
            if not ln:
                raise LabFailure(f"tcpdump in {self.host.name} did not start: {''.join(seen)!r}")

    def __exit__(self, *exc):
        time.sleep(0.3)          # let the last frames land
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


def main(fn, cleanup=()):
    """Run a test fn(); print PASS or FAIL with the time; exit 0 or 1.
    Whatever happens, every Lab goes down and each callable in `cleanup` runs."""
    t0 = time.monotonic()
    rc = 0
    try:
        fn()
    except BaseException as e:  # noqa: BLE001 - a test's every failure is a FAIL
        traceback.print_exc()
        print(f"FAIL ({time.monotonic() - t0:.1f}s): {e}", flush=True)
        rc = 1
    finally:
        _cleanup_all(failed=rc == 1)
        for c in cleanup:
            try:
                c()
            except Exception:  # noqa: BLE001
                traceback.print_exc()
                rc = 1
    if rc == 0:
        print(f"PASS ({time.monotonic() - t0:.1f}s)", flush=True)
    sys.exit(rc)

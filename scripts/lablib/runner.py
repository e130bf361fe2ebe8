"""scripts/lab: bring topologies up and down, run commands and checks in them.

Every resource a lab creates is written to its state file *before* it is
created (/run/pathlab-lab/<lab>/state.json), so that `down` can remove it
even after the runner was SIGKILLed half-way through `up`.  Only resources
named in a state file are ever removed.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import topology as T
from .summary import parse_summary, print_summary
from .yamlpos import TopologyError

PY = "/usr/bin/python3"
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
LAB_SCRIPT = os.path.join(REPO, "scripts", "lab")
STATE_ROOT = os.environ.get("PATHLAB_LAB_STATE", "/run/pathlab-lab")
DONE_KEEP = 10
OFFLOADS = ["tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off"]


class LabFailure(Exception):
    pass


class ConfigRejected(LabFailure):
    """pathlab --validate refused the config derived from a topology."""


class Interrupted(BaseException):
    pass


def say(msg, file=None):
    try:
        print(msg, file=file or sys.stdout, flush=True)
    except BrokenPipeError:
        pass


def warn(msg):
    say(f"lab: {msg}", file=sys.stderr)


# --------------------------------------------------------------------------
# commands and processes

def run(cmd, ns=None, check=True, timeout=30, input=None):
    """Run cmd (a list), in namespace ns if given; a failure or timeout is a LabFailure."""
    full = (["ip", "netns", "exec", ns] if ns else []) + [str(c) for c in cmd]
    try:
        cp = subprocess.run(full, capture_output=True, text=True, timeout=timeout, input=input,
                            stdin=subprocess.DEVNULL if input is None else None)
    except subprocess.TimeoutExpired as e:
        raise LabFailure(f"timed out after {timeout}s: {' '.join(full)}\n"
                         f"stdout: {e.stdout}\nstderr: {e.stderr}") from None
    if check and cp.returncode != 0:
        raise LabFailure(f"command failed ({cp.returncode}): {' '.join(full)}\n"
                         f"{(cp.stdout + cp.stderr).strip()}")
    return cp


def pid_alive(pid):
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def our_processes(st):
    """pids of this lab's pathlab (by its unique --file-prefix) and supervisor."""
    fp, sdir = st.get("file_prefix"), st.get("state_dir")
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        args = cmdline(int(d))
        if not args:
            continue
        if fp and any(a == fp and i > 0 and args[i - 1] == "--file-prefix"
                      for i, a in enumerate(args)):
            found.append(int(d))
        elif sdir and "_supervise" in args and sdir in args:
            found.append(int(d))
    return found


def tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def existing_netns():
    cp = run(["ip", "-o", "netns", "list"], check=False)
    return {ln.split()[0] for ln in cp.stdout.splitlines() if ln.strip()}


def existing_links():
    cp = run(["ip", "-o", "link", "show"], check=False)
    out = set()
    for ln in cp.stdout.splitlines():
        m = re.match(r"\d+:\s+([^:@\s]+)", ln)
        if m:
            out.add(m.group(1))
    return out


def run_in_tmpdir(test, prefix):
    """Run test(tmp) in a fresh temporary directory; print PASS or FAIL and return 0 or 1. The
    directory is removed after a pass and kept (and named) after a failure."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        test(tmp)
    except (AssertionError, LabFailure, subprocess.TimeoutExpired, OSError) as e:
        print(f"FAIL: {e}", flush=True)
        print(f"(files kept in {tmp})")
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("PASS")
    return 0


def find_pathlab(explicit=None):
    cands = []
    if explicit:
        cands.append(explicit)
    if os.environ.get("PATHLAB_BIN"):
        cands.append(os.environ["PATHLAB_BIN"])
    if os.environ.get("PATHLAB_BUILD_ROOT"):
        cands.append(os.path.join(os.environ["PATHLAB_BUILD_ROOT"], "apps", "pathlab"))
    cands.append(os.path.join(REPO, "build", "apps", "pathlab"))
    for c in cands:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.abspath(c)
    raise LabFailure("pathlab binary not found (build it with scripts/build, or give --bin "
                     "or PATHLAB_BIN); looked in: " + ", ".join(cands))


def pipeline_dirs(t):
    tdir = os.path.dirname(os.path.abspath(t.file))
    dirs = []
    for d in (os.path.join(tdir, "pipelines"), os.path.join(tdir, "..", "pipelines"),
              os.path.join(REPO, "pipelines")):
        d = os.path.normpath(d)
        if os.path.isdir(d) and d not in dirs:
            dirs.append(d)
    return dirs


# --------------------------------------------------------------------------
# topology and lab resolution

def topology_path(arg, dirs=()):
    """A topology file: arg itself, else NAME[.yaml] in dirs, then in topologies/."""
    if os.path.isfile(arg):
        return os.path.abspath(arg)
    fn = arg + ("" if arg.endswith(".yaml") else ".yaml")
    for d in list(dirs) + [os.path.join(REPO, "topologies")]:
        cand = os.path.join(d, fn)
        if os.path.isfile(cand):
            return os.path.abspath(cand)
    return None


def load_topology(arg, dirs=()):
    path = topology_path(arg, dirs)
    if path is None:
        where = ", ".join(list(dirs) + ["topologies/"])
        raise LabFailure(f"no topology '{arg}' (not a file, and not in {where})")
    return T.parse_file(path)


def check_lab_name(name):
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,24}", name):
        raise LabFailure(f"invalid lab name '{name}': letters, digits, '_' and '-', "
                         "at most 24 characters")
    return name


def lab_name_for(arg, name=None):
    """The lab an argument names: --name, a topology's name, or the argument itself."""
    if name:
        return name
    path = topology_path(arg) if arg else None
    if path:
        try:
            return T.parse_file(path).name
        except TopologyError:
            return os.path.splitext(os.path.basename(path))[0]
    return arg


def state_dir(lab):
    return os.path.join(STATE_ROOT, lab)


def read_state(lab):
    try:
        with open(os.path.join(state_dir(lab), "state.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def labs():
    if not os.path.isdir(STATE_ROOT):
        return []
    return sorted(d for d in os.listdir(STATE_ROOT)
                  if not d.startswith(".") and os.path.isdir(os.path.join(STATE_ROOT, d)))


def resolve_running_lab(arg, name=None):
    if arg is None and name is None:
        ls = labs()
        if len(ls) == 1:
            return ls[0]
        if not ls:
            raise LabFailure("no lab is up")
        raise LabFailure(f"several labs are up ({', '.join(ls)}): say which one with -l LAB")
    lab = lab_name_for(arg, name)
    if read_state(lab) is None:
        ls = labs()
        raise LabFailure(f"no lab named '{lab}' is up" + (f" (up: {', '.join(ls)})" if ls else ""))
    return lab


class State:
    def __init__(self, data):
        self.data = data
        self.path = os.path.join(data["state_dir"], "state.json")

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def add(self, key, value):
        self.data.setdefault(key, []).append(value)
        self.save()

    def set(self, **kw):
        self.data.update(kw)
        self.save()


# --------------------------------------------------------------------------
# render / validate

def rendered_for(t, lab, lab_id, file_prefix):
    tag = T.assign_names(t, lab, lab_id)
    eal = T.eal_args(t, file_prefix)
    header = [f"pathlab config generated by scripts/lab from {t.file}",
              f"lab {lab} (id {lab_id}); do not edit, edit the topology",
              "run: pathlab " + " ".join(eal) + " -- --config FILE"]
    return tag, eal, T.render(t, header)


def validate_rendered(t, rendered, binary):
    """Run `pathlab --validate` on the generated config; map errors back to the topology."""
    fd, path = tempfile.mkstemp(prefix="pathlab-lab-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(rendered.text)
        cmd = [binary, "--no-huge", "--no-pci", "--", "--config", path, "--validate"]
        for d in pipeline_dirs(t):
            cmd += ["--pipelines", d]
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if cp.returncode == 0:
            return
        msgs = []
        for ln in (cp.stderr + cp.stdout).splitlines():
            m = re.match(re.escape(path) + r":(\d+):(\d+): (.*)$", ln)
            if m:
                gl = int(m.group(1))
                node = rendered.origin.get(gl)
                if node is None:
                    earlier = [k for k in rendered.origin if k <= gl]
                    node = rendered.origin[max(earlier)] if earlier else None
                src = rendered.lines[gl - 1].strip() if 0 < gl <= len(rendered.lines) else ""
                where = f"{t.file}:{node.line}:{node.col}" if node else t.file
                msg = m.group(3)
                key, sep, rest = msg.partition(": ")
                if node is not None and sep and " " not in key:
                    # translate pathlab's key path into the topology's (what follows a stage
                    # entry or a `link:` is the same in both)
                    sm = re.match(r"^.*?(?:(?:ingress|egress)\[\d+\]|\.link(?=\.|$))(.*)$", key)
                    if not key.startswith(node.path):
                        key = node.path + (sm.group(1) if sm else "")
                    msg = f"{key}: {rest}"
                msgs.append(f"{where}: {msg}\n  (pathlab --validate on the generated "
                            f"config, line {gl}: {src})")
            elif ln.strip():
                msgs.append(ln.replace(path, "<generated config>"))
        raise ConfigRejected("pathlab rejects the generated config:\n" + "\n".join(msgs))
    finally:
        os.unlink(path)


# --------------------------------------------------------------------------
# up

class Up:
    def __init__(self, t, lab, binary, verbose=False, owner=None):
        self.t = t
        self.lab = lab
        self.binary = binary
        self.verbose = verbose
        self.owner = owner       # pid of a test that owns the lab (lab.Lab); None for the CLI
        self.state = None
        self.prepared = None

    def log(self, msg):
        if self.verbose:
            say(f"  {msg}")

    def pick_id(self):
        used_ids = set()
        for lb in labs():
            st = read_state(lb)
            if st:
                used_ids.add(st.get("id"))
        netns, links = existing_netns(), existing_links()
        rnd = random.Random(os.getpid() ^ int(time.time() * 1000))
        for _ in range(1000):
            lab_id = f"{rnd.randrange(0x10000):04x}"
            tag = (re.sub(r"[^A-Za-z0-9]", "", self.lab)[:3] or "lab") + lab_id
            if lab_id in used_ids or any(n.startswith(tag) for n in links) or \
               any(n.startswith(f"{self.lab}-{lab_id}-") for n in netns):
                continue
            return lab_id
        raise LabFailure("no free lab id")

    def render(self, lab_id, fp):
        """The checked pathlab config for this lab instance: (tag, eal, rendered)."""
        tag, eal, rendered = rendered_for(self.t, self.lab, lab_id, fp)
        validate_rendered(self.t, rendered, self.binary)
        return tag, eal, rendered

    def prepare(self):
        """Everything that can fail without creating anything."""
        lab_id = self.pick_id()
        fp = f"pllab-{self.lab}-{lab_id}"
        tag, eal, rendered = self.render(lab_id, fp)
        netns, links = existing_netns(), existing_links()
        for h in self.t.hosts.values():
            if h.ns in netns:
                raise LabFailure(f"namespace {h.ns} already exists")
        for i in self.t.host_router_ifaces():
            if i.root_if in links:
                raise LabFailure(f"interface {i.root_if} already exists")
        cmd = [self.binary] + eal + ["--", "--config", "CONFIG",
                                     "--stats-interval", str(self.t.process["stats_interval"])]
        for d in pipeline_dirs(self.t):
            cmd += ["--pipelines", d]
        self.prepared = (lab_id, fp, tag, cmd, rendered)
        return self.prepared

    def bring_up(self, timeout=30.0):
        """After prepare(): record and build everything, start pathlab, wait until every
        router port answers its host.  On failure the state is left for abort()."""
        lab_id, fp, tag, cmd, rendered = self.prepared
        self.create_state_dir(lab_id, fp, tag, cmd)
        self.build()
        pid = self.launch(rendered)
        self.wait_ready(timeout)
        self.state.set(phase="up", runner_pid=None, up_at=time.time())
        return pid

    def abort(self):
        """Tear down what a failed bring_up() created; returns the archived state dir."""
        if self.state is None:
            return None
        teardown(self.state.data, quiet=True)
        return self.state.data.get("archived")

    def stop(self):
        """Stop pathlab, keep the lab: (summary, exit record, pids killed after 15 s)."""
        _, forced = stop_pathlab(self.state.data)
        sdir = self.state.data["state_dir"]
        return parse_summary(os.path.join(sdir, "pathlab.stdout")), read_rc(sdir), forced

    def relaunch(self, rendered, timeout=30.0):
        """After stop(): start pathlab again (the last run's output stays as pathlab.std*.N)."""
        sdir = self.state.data["state_dir"]
        n = self.state.data.get("runs", 1)
        for fn in ("pathlab.stdout", "pathlab.stderr", "pathlab.yaml"):
            if os.path.exists(os.path.join(sdir, fn)):
                os.replace(os.path.join(sdir, fn), os.path.join(sdir, f"{fn}.{n}"))
        for fn in ("pathlab.rc", "pathlab.pid"):
            if os.path.exists(os.path.join(sdir, fn)):
                os.unlink(os.path.join(sdir, fn))
        self.state.set(runs=n + 1, pathlab_pid=None, supervisor_pid=None)
        pid = self.launch(rendered)
        self.wait_ready(timeout)
        return pid

    def create_state_dir(self, lab_id, fp, tag, cmd):
        os.makedirs(STATE_ROOT, exist_ok=True)
        sdir = state_dir(self.lab)
        try:
            os.mkdir(sdir)
        except FileExistsError:
            raise LabFailure(f"lab '{self.lab}' is already up (or left over): "
                             f"`scripts/lab down {self.lab}` first, or choose another --name") \
                from None
        cfg = os.path.join(sdir, "pathlab.yaml")
        cmd = [cfg if a == "CONFIG" else a for a in cmd]
        self.state = State({
            "lab": self.lab, "id": lab_id, "tag": tag, "topology": os.path.abspath(self.t.file),
            "state_dir": sdir, "file_prefix": fp, "runner_pid": os.getpid(),
            "owner_pid": self.owner,
            "phase": "building", "created_at": time.time(), "netns": [], "veths": [],
            "pathlab_pid": None, "supervisor_pid": None, "cmd": cmd, "config": cfg,
            "hosts": {h.name: h.ns for h in self.t.hosts.values()},
        })
        self.state.save()
        shutil.copyfile(self.t.file, os.path.join(sdir, "topology.yaml"))

    # ---- building
    def build(self):
        t, st = self.t, self.state
        for h in t.hosts.values():
            st.add("netns", h.ns)
            run(["ip", "netns", "add", h.ns])
            run(["ip", "-n", h.ns, "link", "set", "lo", "up"])
        for i in t.host_router_ifaces():
            h = i.host
            st.add("veths", i.root_if)
            run(["ip", "link", "add", i.root_if, "type", "veth", "peer", "name", i.name,
                 "netns", h.ns])
            run(["sysctl", "-qw", f"net.ipv6.conf.{i.root_if}.disable_ipv6=1"])
            run(["ethtool", "-K", i.root_if] + OFFLOADS, check=False)
            if i.mtu:
                run(["ip", "link", "set", i.root_if, "mtu", i.mtu])
            run(["ip", "link", "set", i.root_if, "up"])
            run(["ethtool", "-K", i.name] + OFFLOADS, ns=h.ns)
        for a, b in t.hhlinks:
            # both ends live in namespaces: deleting either namespace removes the pair
            run(["ip", "link", "add", a.name, "netns", a.host.ns, "type", "veth",
                 "peer", "name", b.name, "netns", b.host.ns])
        for h in t.hosts.values():
            for k, v in h.sysctls.items():
                run(["sysctl", "-qw", f"{k}={v}"], ns=h.ns,
                    check=k not in T.DEFAULT_HOST_SYSCTLS)
            for i in h.ifaces:
                if i.ip6:
                    run(["sysctl", "-qw", f"net.ipv6.conf.{i.name}.disable_ipv6=0"], ns=h.ns,
                        check=False)
                if i.mtu:
                    run(["ip", "-n", h.ns, "link", "set", i.name, "mtu", i.mtu])
                for a in i.ip4:
                    run(["ip", "-n", h.ns, "addr", "add", str(a), "dev", i.name])
                for a in i.ip6:
                    run(["ip", "-n", h.ns, "-6", "addr", "add", str(a), "dev", i.name, "nodad"])
                run(["ip", "-n", h.ns, "link", "set", i.name, "up"])
            for pfx, via, dev, fam in h.routes:
                cmd = ["ip", "-n", h.ns, f"-{fam}", "route", "add", pfx]
                if via:
                    cmd += ["via", via]
                if dev:
                    cmd += ["dev", dev]
                run(cmd)
            self.log(f"host {h.name}: namespace {h.ns}")

    # ---- pathlab
    def launch(self, rendered, timeout=30.0):
        st = self.state
        with open(st.data["config"], "w") as f:
            f.write(rendered.text)
        sdir = st.data["state_dir"]
        devnull = open(os.devnull, "wb")
        sup = subprocess.Popen([PY, LAB_SCRIPT, "_supervise", sdir], stdin=subprocess.DEVNULL,
                               stdout=devnull, stderr=devnull, start_new_session=True,
                               close_fds=True)
        devnull.close()
        st.set(supervisor_pid=sup.pid, phase="starting")
        pidfile = os.path.join(sdir, "pathlab.pid")
        out = os.path.join(sdir, "pathlab.stdout")
        end = time.monotonic() + timeout
        pid = None
        while time.monotonic() < end:
            if pid is None and os.path.exists(pidfile):
                try:
                    pid = int(open(pidfile).read().strip())
                    st.set(pathlab_pid=pid)
                except ValueError:
                    pass
            exited = read_rc(sdir)
            if exited is not None or (sup.poll() is not None and not os.path.exists(pidfile)):
                sup.wait()
                raise LabFailure("pathlab exited during start-up " +
                                 describe_rc(exited) + "\n" + crash_report(sdir))
            if "pathlab: running" in tail(out, 200):
                return pid
            time.sleep(0.05)
        raise LabFailure(f"pathlab did not print 'pathlab: running' within {timeout:.0f}s\n" +
                         crash_report(sdir))

    def wait_ready(self, timeout=30.0):
        """Every host answers... rather: every router port answers its host's ping."""
        targets = []
        for i in self.t.host_router_ifaces():
            for fam, addrs in ((4, i.port.ip4), (6, i.port.ip6)):
                if addrs:
                    targets.append((i.host, fam, str(addrs[0].ip), i.port.full))
        pending = {k: tg for k, tg in enumerate(targets)}
        end = time.monotonic() + timeout
        sdir = self.state.data["state_dir"]
        while pending and time.monotonic() < end:
            procs = {k: subprocess.Popen(["ip", "netns", "exec", h.ns, "ping", f"-{fam}", "-n",
                                          "-c", "1", "-W", "1", addr],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for k, (h, fam, addr, _) in pending.items()}
            for k, p in procs.items():
                if p.wait() == 0:
                    del pending[k]
            if read_rc(sdir) is not None:
                raise LabFailure("pathlab exited " + describe_rc(read_rc(sdir)) + "\n" +
                                 crash_report(sdir))
            if pending:
                time.sleep(0.1)
        if pending:
            lst = ", ".join(f"{h.name} -> {port} {addr}" for h, _, addr, port in pending.values())
            raise LabFailure(f"routers do not answer pings from their hosts within "
                             f"{timeout:.0f}s: {lst}\n" + crash_report(sdir))


def read_rc(sdir):
    try:
        with open(os.path.join(sdir, "pathlab.rc")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def describe_rc(rc):
    if rc is None:
        return ""
    if rc.get("signal"):
        return f"(killed by {rc['signal']})"
    return f"(exit code {rc.get('returncode')})"


def crash_report(sdir, n=15):
    parts = []
    for fn in ("pathlab.stderr", "pathlab.stdout"):
        text = tail(os.path.join(sdir, fn), n).rstrip()
        if text:
            parts.append(f"---- last lines of {os.path.join(sdir, fn)}\n{text}")
    return "\n".join(parts) if parts else f"(no pathlab output in {sdir})"


def cmd_up(args):
    t = load_topology(args.topology)
    lab = check_lab_name(args.name or t.name)
    binary = find_pathlab(args.bin)
    u = Up(t, lab, binary, verbose=args.verbose)
    lab_id = u.prepare()[0]
    # from here on, anything created is recorded and removed on failure
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    def on_signal(signum, _frame):
        raise Interrupted(signal.Signals(signum).name)

    for s in old:
        signal.signal(s, on_signal)
    t0 = time.monotonic()
    try:
        say(f"lab {lab}: bringing up {shown(t.file)} (id {lab_id}, state {state_dir(lab)})")
        pid = u.bring_up(args.timeout)
    except (Exception, Interrupted) as e:
        for s in old:
            signal.signal(s, signal.SIG_IGN)
        what = f"interrupted by {e}" if isinstance(e, Interrupted) else f"failed: {e}"
        warn(f"up {lab} {what}")
        if u.state is not None:
            warn("tearing down what was created")
            kept = u.abort()
            if kept:
                warn(f"logs kept in {kept}")
        return 130 if isinstance(e, Interrupted) else 1
    for s, h in old.items():
        signal.signal(s, h)
    say(f"lab {lab} is up in {time.monotonic() - t0:.1f}s: {len(t.routers)} router(s), "
        f"{len(t.hosts)} host(s), pathlab pid {pid}")
    print_layout(t)
    say(f"  logs:   {u.state.data['state_dir']}/pathlab.std{{out,err}}")
    if t.hosts:
        h = next(iter(t.hosts))
        say(f"  try:    scripts/lab exec{'' if len(labs()) == 1 else ' -l ' + lab} {h} -- ping -c 3 ...")
    say(f"  stop:   scripts/lab down {lab}")
    return 0


def shown(path):
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def print_layout(t):
    for h in t.hosts.values():
        say(f"  host {h.name:<10} netns {h.ns}")
        for i in h.ifaces:
            addrs = " ".join(str(a) for a in i.ip4 + i.ip6)
            peer = (f"router {i.port.full} (veth {i.root_if})" if i.port else
                    f"host {i.peer_if.host.name}.{i.peer_if.name}")
            say(f"      {i.name:<6} {addrs:<36} -> {peer}")
    for r in t.routers.values():
        ports = ", ".join(f"{p.name} " + " ".join(str(a) for a in p.ip4 + p.ip6)
                          for p in r.ports.values())
        say(f"  router {r.id:<8} asn {r.asn}: {ports}")


# --------------------------------------------------------------------------
# supervisor: runs pathlab in its own session, records its exit status

def cmd_supervise(sdir):
    with open(os.path.join(sdir, "state.json")) as f:
        st = json.load(f)
    out = open(os.path.join(sdir, "pathlab.stdout"), "wb")
    err = open(os.path.join(sdir, "pathlab.stderr"), "wb")
    child = subprocess.Popen(st["cmd"], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    with open(os.path.join(sdir, "pathlab.pid.tmp"), "w") as f:
        f.write(str(child.pid))
    os.replace(os.path.join(sdir, "pathlab.pid.tmp"), os.path.join(sdir, "pathlab.pid"))

    def forward(signum, _frame):
        try:
            child.send_signal(signum)
        except OSError:
            pass

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, forward)
    while True:
        try:
            rc = child.wait()
            break
        except InterruptedError:
            continue
    res = {"returncode": rc, "signal": signal.Signals(-rc).name if rc < 0 else None,
           "ended_at": time.time()}
    tmp = os.path.join(sdir, "pathlab.rc.tmp")
    with open(tmp, "w") as f:
        json.dump(res, f)
    os.replace(tmp, os.path.join(sdir, "pathlab.rc"))
    return 0


# --------------------------------------------------------------------------
# down

def stop_pathlab(st, timeout=15.0):
    """SIGTERM this lab's pathlab (found by pid and by its unique file prefix)."""
    pids = set(our_processes(st))
    pl = st.get("pathlab_pid")
    if pid_alive(pl) and st.get("file_prefix", "\0") in " ".join(cmdline(pl)):
        pids.add(pl)
    pathlab_pids = [p for p in pids if "_supervise" not in cmdline(p)]
    sup_pids = [p for p in pids if p not in pathlab_pids]
    for p in pathlab_pids:
        try:
            os.kill(p, signal.SIGTERM)
        except OSError:
            pass
    end = time.monotonic() + timeout
    while any(pid_alive(p) for p in pathlab_pids) and time.monotonic() < end:
        time.sleep(0.05)
    forced = [p for p in pathlab_pids if pid_alive(p)]
    for p in forced:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    # the supervisor writes pathlab.rc and exits by itself
    end = time.monotonic() + 3
    while any(pid_alive(p) for p in sup_pids) and time.monotonic() < end:
        time.sleep(0.05)
    for p in sup_pids:
        if pid_alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
    return bool(pathlab_pids), forced


def kill_ns_processes(ns):
    cp = run(["ip", "netns", "pids", ns], check=False)
    pids = [int(x) for x in cp.stdout.split() if x.isdigit()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in pids:
            try:
                os.kill(p, sig)
            except OSError:
                pass
        end = time.monotonic() + 2
        while any(pid_alive(p) for p in pids) and time.monotonic() < end:
            time.sleep(0.05)
        pids = [p for p in pids if pid_alive(p)]
        if not pids:
            break


def teardown(st, quiet=False):
    """Remove everything the state lists.  Returns (summary or None, notes)."""
    notes = []
    sdir = st.get("state_dir")
    was_running, forced = stop_pathlab(st)
    if forced:
        notes.append(f"pathlab did not stop within 15s of SIGTERM; killed {forced}")
    rc = read_rc(sdir) if sdir else None
    summary = None
    if sdir:
        summary = parse_summary(os.path.join(sdir, "pathlab.stdout"))
        if rc is not None and (rc.get("returncode") != 0) and st.get("phase") == "up":
            if not was_running:
                notes.append("pathlab had already exited " + describe_rc(rc) + "\n" +
                             crash_report(sdir))
            elif rc.get("returncode") != 0:
                notes.append("pathlab exited " + describe_rc(rc) + " after SIGTERM\n" +
                             crash_report(sdir))
    existing = existing_netns()
    for ns in st.get("netns", []):
        if ns in existing:
            kill_ns_processes(ns)
            cp = run(["ip", "netns", "del", ns], check=False)
            if cp.returncode != 0:
                notes.append(f"cannot delete namespace {ns}: {cp.stderr.strip()}")
    links = existing_links()
    for v in st.get("veths", []):
        if v in links:
            run(["ip", "link", "del", v], check=False)
    fp = st.get("file_prefix")
    if fp and "/" not in fp:
        shutil.rmtree(os.path.join("/var/run/dpdk", fp), ignore_errors=True)
    # leftovers?
    left_ns = [n for n in st.get("netns", []) if n in existing_netns()]
    left_if = [v for v in st.get("veths", []) if v in existing_links()]
    left_p = [p for p in our_processes(st)]
    if left_ns or left_if or left_p:
        notes.append(f"left behind: namespaces {left_ns} veths {left_if} processes {left_p}")
    if sdir and os.path.isdir(sdir):
        archive_state(st, summary)
    for n in notes:
        warn(n)
    return summary, notes, rc


def archive_state(st, summary):
    sdir = st["state_dir"]
    if summary is not None:
        with open(os.path.join(sdir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
    done = os.path.join(STATE_ROOT, ".done")
    os.makedirs(done, exist_ok=True)
    dest = os.path.join(done, f"{st['lab']}-{st['id']}-{int(time.time())}")
    try:
        os.replace(sdir, dest)
        st["archived"] = dest
    except OSError:
        shutil.rmtree(sdir, ignore_errors=True)
    old = sorted((os.path.join(done, d) for d in os.listdir(done)), key=os.path.getmtime)
    for d in old[:-DONE_KEEP]:
        shutil.rmtree(d, ignore_errors=True)
    return dest


def cmd_down(args):
    if args.all:
        targets = labs()
        if not targets:
            say("no lab is up")
            return 0
    else:
        if not args.lab and not args.name:
            raise LabFailure("down: name a lab or topology (or --all)")
        targets = [lab_name_for(args.lab, args.name)]
    rc_total = 0
    for lab in targets:
        st = read_state(lab)
        if st is None:
            if os.path.isdir(state_dir(lab)):
                # state dir without a readable state file: nothing was created yet
                shutil.rmtree(state_dir(lab), ignore_errors=True)
                say(f"lab {lab}: removed an empty state directory")
                continue
            warn(f"no lab named '{lab}' is up")
            rc_total = 1
            continue
        runner = st.get("runner_pid")
        if st.get("phase") != "up" and pid_alive(runner) and runner != os.getpid() and \
           "lab" in " ".join(cmdline(runner)):
            warn(f"lab {lab}: `up` (pid {runner}) is still running; stopping it first")
            try:
                os.kill(runner, signal.SIGTERM)
            except OSError:
                pass
            end = time.monotonic() + 20
            while pid_alive(runner) and time.monotonic() < end:
                time.sleep(0.1)
            st = read_state(lab)
            if st is None:
                say(f"lab {lab}: removed by its own runner")
                continue
        summary, notes, prc = teardown(st)
        say(f"lab {lab} is down ({len(st.get('netns', []))} namespace(s), "
            f"{len(st.get('veths', []))} veth(s) removed)")
        if summary is not None:
            print_summary(summary, say)
            say(json.dumps(summary, separators=(",", ":")))
        elif st.get("phase") == "up":
            warn(f"lab {lab}: no JSON summary from pathlab")
            rc_total = 1
        if notes:
            rc_total = 1
    return rc_total


# --------------------------------------------------------------------------
# exec, check, status, render

def host_ns(lab, host):
    st = read_state(lab)
    hosts = st.get("hosts", {})
    if host not in hosts:
        raise LabFailure(f"lab {lab} has no host '{host}' (hosts: {', '.join(hosts)})")
    return hosts[host]


def cmd_exec(argv):
    lab_arg = None
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        if argv[i] in ("-l", "--lab") and i + 1 < len(argv):
            lab_arg = argv[i + 1]
            i += 2
        elif argv[i].startswith("--lab="):
            lab_arg = argv[i].split("=", 1)[1]
            i += 1
        else:
            raise LabFailure(f"exec: unknown option {argv[i]}\nusage: scripts/lab exec "
                             "[-l LAB] HOST [--] CMD...")
    if i >= len(argv) or argv[i] == "--":
        raise LabFailure("usage: scripts/lab exec [-l LAB] HOST [--] CMD...")
    host = argv[i]
    cmd = argv[i + 1:]
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    lab = resolve_running_lab(lab_arg)
    ns = host_ns(lab, host)
    if not cmd:
        cmd = [os.environ.get("SHELL", "/bin/bash")]
    os.execvp("ip", ["ip", "netns", "exec", ns] + cmd)


def run_check(c, ns):
    t0 = time.monotonic()
    try:
        cp = subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", c.run], capture_output=True,
                            text=True, timeout=c.timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return False, [f"timed out after {c.timeout}s"], out, "", time.monotonic() - t0
    why = []
    e = c.expect
    if cp.returncode != e["exit"]:
        why.append(f"exit code {cp.returncode}, want {e['exit']}")
    for s in e["stdout_contains"]:
        if s not in cp.stdout:
            why.append(f"stdout lacks {s!r}")
    for s in e["stdout_not_contains"]:
        if s in cp.stdout:
            why.append(f"stdout has {s!r}")
    for s in e["stderr_contains"]:
        if s not in cp.stderr:
            why.append(f"stderr lacks {s!r}")
    for rx in e["stdout_regex"]:
        if not re.search(rx, cp.stdout, re.M):
            why.append(f"stdout does not match /{rx}/")
    return not why, why, cp.stdout, cp.stderr, time.monotonic() - t0


def run_checks(t, hosts, verbose=False):
    """Run topology t's checks (names assigned) in hosts {name: netns}; say PASS/FAIL for
    each; return the number that failed."""
    fails = 0
    for c in t.checks:
        if c.host not in hosts:
            ok, why, out, err, dt = False, [f"the lab has no host {c.host}"], "", "", 0.0
        else:
            ok, why, out, err, dt = run_check(c, hosts[c.host])
        say(f"{'PASS' if ok else 'FAIL'} {c.name} ({dt:.1f}s)"
            + ("" if ok else ": " + "; ".join(why)))
        if not ok:
            fails += 1
            say(f"     {c.host}$ {c.run}")
            for ln in (out + err).rstrip().splitlines()[-15:]:
                say(f"     | {ln}")
        elif verbose:
            for ln in out.rstrip().splitlines():
                say(f"     | {ln}")
    say(f"{len(t.checks) - fails}/{len(t.checks)} checks passed")
    return fails


def cmd_check(args):
    lab = resolve_running_lab(args.lab, args.name)
    st = read_state(lab)
    if topology_path(args.lab or "") and not args.name:
        t = load_topology(args.lab)
    else:
        t = T.parse_file(os.path.join(st["state_dir"], "topology.yaml"))
    if not t.checks:
        say(f"lab {lab}: the topology has no checks")
        return 0
    T.assign_names(t, lab, st["id"])
    for c in t.checks:
        T.resolve_check(t, c)
    sdir = st["state_dir"]
    dead = read_rc(sdir)
    if dead is not None:
        warn(f"pathlab is not running {describe_rc(dead)}\n{crash_report(sdir)}")
    fails = run_checks(t, st.get("hosts", {}), args.verbose)
    if read_rc(sdir) is not None and dead is None:
        warn(f"pathlab exited during the checks {describe_rc(read_rc(sdir))}\n"
             + crash_report(sdir))
    return min(fails, 125)


def cmd_status(args):
    ls = [lab_name_for(args.lab)] if args.lab else labs()
    if not ls:
        say("no lab is up")
        return 0
    rc = 0
    for lab in ls:
        st = read_state(lab)
        if st is None:
            say(f"{lab}: not up")
            rc = 1
            continue
        sdir = st["state_dir"]
        pl = st.get("pathlab_pid")
        alive = pid_alive(pl)
        ended = read_rc(sdir)
        age = time.time() - st.get("up_at", st.get("created_at", time.time()))
        if st.get("phase") != "up":
            runner = st.get("runner_pid")
            what = ("being built by pid %s" % runner if pid_alive(runner) else
                    "INCOMPLETE (its `up` died): run `scripts/lab down %s`" % lab)
            say(f"{lab}: {what}")
            continue
        if alive:
            pstate = f"pathlab running (pid {pl}, up {age:.0f}s)"
        else:
            pstate = f"pathlab NOT RUNNING {describe_rc(ended)}"
            rc = 1
        say(f"{lab}: {shown(st['topology'])} id {st['id']}: {pstate}")
        for h, ns in st.get("hosts", {}).items():
            say(f"  host {h:<10} netns {ns}")
        last = [ln for ln in tail(os.path.join(sdir, "pathlab.stdout"), 40).splitlines()
                if ln.startswith("stats")]
        for ln in last[-3:]:
            say(f"  {ln}")
        if not alive:
            say(crash_report(sdir))
    return rc


def cmd_render(args):
    t = load_topology(args.topology)
    lab = check_lab_name(args.name or t.name)
    _, _, rendered = rendered_for(t, lab, "0000", f"pathlab-{lab}")
    sys.stdout.write(rendered.text)
    return 0


def cmd_validate(args):
    t = load_topology(args.topology)
    lab = check_lab_name(args.name or t.name)
    _, _, rendered = rendered_for(t, lab, "0000", f"pathlab-{lab}")
    validate_rendered(t, rendered, find_pathlab(args.bin))
    say(f"{t.file}: ok ({len(t.hosts)} hosts, {len(t.routers)} routers, "
        f"{len(t.rlinks)} router links, {len(t.checks)} checks)")
    return 0


# --------------------------------------------------------------------------
# main

USAGE = """\
scripts/lab up TOPOLOGY [--name LAB]      build a lab, start pathlab, wait until it forwards
scripts/lab down LAB|TOPOLOGY | --all     stop pathlab (prints its JSON summary), remove everything
scripts/lab exec [-l LAB] HOST -- CMD...  run CMD in HOST's namespace
scripts/lab check LAB|TOPOLOGY            run the topology's checks (exit code = failures)
scripts/lab status [LAB]                  labs that are up, and whether pathlab still runs
scripts/lab render TOPOLOGY               print the pathlab config (creates nothing)
scripts/lab validate TOPOLOGY             check the topology and `pathlab --validate` its config
TOPOLOGY is a file or a name in topologies/ (default -> topologies/default.yaml).
"""


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_supervise"]:
        return cmd_supervise(argv[1])
    if argv[:1] == ["exec"]:
        try:
            return cmd_exec(argv[1:])
        except LabFailure as e:
            warn(str(e))
            return 1
    p = argparse.ArgumentParser(prog="scripts/lab", usage=USAGE)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("up")
    a.add_argument("topology")
    a.add_argument("--name")
    a.add_argument("--bin")
    a.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for the routers to answer (default 30)")
    a.add_argument("-v", "--verbose", action="store_true")
    a = sub.add_parser("down")
    a.add_argument("lab", nargs="?")
    a.add_argument("--name")
    a.add_argument("--all", action="store_true")
    a = sub.add_parser("check")
    a.add_argument("lab", nargs="?")
    a.add_argument("--name")
    a.add_argument("-v", "--verbose", action="store_true")
    a = sub.add_parser("status")
    a.add_argument("lab", nargs="?")
    for n in ("render", "validate"):
        a = sub.add_parser(n)
        a.add_argument("topology")
        a.add_argument("--name")
        a.add_argument("--bin")
    args = p.parse_args(argv)
    needs_root = args.cmd in ("up", "down", "check", "status")
    if needs_root and os.geteuid() != 0:
        warn(f"{args.cmd} needs root (network namespaces, veths)")
        return 1
    try:
        return {"up": cmd_up, "down": cmd_down, "check": cmd_check, "status": cmd_status,
                "render": cmd_render, "validate": cmd_validate}[args.cmd](args)
    except (TopologyError, ConfigRejected) as e:
        say(str(e), file=sys.stderr)
        return 2
    except LabFailure as e:
        warn(str(e))
        return 1

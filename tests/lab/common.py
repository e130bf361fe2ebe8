"""Shared helpers for the scripts/lab tests (run by Debian's /usr/bin/python3).

The tests drive scripts/lab as a user would (subprocesses) and then look at
the system: namespaces, interfaces, processes.  There is no skip: without root
or the pathlab binary a test fails.  Each test uses lab names unique to its pid and, whatever happens,
runs `scripts/lab down` on the labs it brought up.
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from lablib import lab as LL  # noqa: E402
from lablib import runner as R  # noqa: E402
from lablib import summary as S  # noqa: E402

LAB = os.path.join(REPO, "scripts", "lab")
TOPOLOGIES = os.path.join(REPO, "topologies")
STATE_ROOT = R.STATE_ROOT
netns, links = R.existing_netns, R.existing_links


def log(msg):
    print(f"[test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def require(root=True, binary=True):
    """Root and the pathlab binary (exported as PATHLAB_BIN); without them the test fails."""
    if root and os.geteuid() != 0:
        raise AssertionError("needs root (network namespaces, veths)")
    try:
        b = R.find_pathlab()
    except R.LabFailure:
        if binary:
            raise
        return None
    os.environ["PATHLAB_BIN"] = b
    return b


def lab(*args, timeout=120, check=None):
    """Run scripts/lab ARGS; return CompletedProcess (check: expected exit code)."""
    cmd = ["/usr/bin/python3", LAB] + [str(a) for a in args]
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                        stdin=subprocess.DEVNULL)
    log(f"$ scripts/lab {' '.join(map(str, args))}  -> {cp.returncode}")
    for ln in (cp.stdout + cp.stderr).rstrip().splitlines()[:60]:
        if not ln.startswith("{"):
            print(f"    {ln}", flush=True)
    if check is not None and cp.returncode != check:
        raise AssertionError(f"scripts/lab {' '.join(map(str, args))}: exit {cp.returncode}, "
                             f"want {check}")
    return cp


def processes_with(word):
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(word in a for a in args):
            found.append((int(d), " ".join(args)[:120]))
    return found


def state(name):
    try:
        with open(os.path.join(STATE_ROOT, name, "state.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def assert_gone(st):
    """Nothing that state record names exists any more."""
    problems = []
    ns = netns()
    ls = links()
    for n in st.get("netns", []):
        if n in ns:
            problems.append(f"namespace {n} left")
    for v in st.get("veths", []):
        if v in ls:
            problems.append(f"veth {v} left")
    tag = st.get("tag")
    if tag and any(l.startswith(tag) for l in ls):
        problems.append(f"interfaces with prefix {tag} left: "
                        f"{sorted(l for l in ls if l.startswith(tag))}")
    prefix = f"{st['lab']}-{st['id']}-"
    if any(n.startswith(prefix) for n in ns):
        problems.append(f"namespaces {prefix}* left")
    procs = processes_with(st["file_prefix"]) + processes_with(st["state_dir"])
    if procs:
        problems.append(f"processes left: {procs}")
    if os.path.exists(os.path.join("/var/run/dpdk", st["file_prefix"])):
        problems.append(f"/var/run/dpdk/{st['file_prefix']} left")
    if os.path.exists(st["state_dir"]):
        problems.append(f"state dir {st['state_dir']} left")
    if problems:
        raise AssertionError("after down:\n  " + "\n  ".join(problems))
    log(f"lab {st['lab']}: nothing left behind")


def summary_from(cp):
    s = S.last_summary(cp.stdout.strip().splitlines())
    assert s is not None, "`down` printed no JSON summary"
    return s


def check_accounting(summary):
    S.check_accounting(summary)
    for r in summary["routers"]:
        assert r["accounting"]["rx"] > 0, f"{r['id']}: forwarded nothing"


def main(fn, cleanup_names=()):
    """Run fn(); always `down` the named labs that are still up; PASS/FAIL; exit 0/1."""
    def down_leftovers():
        for name in cleanup_names:
            if state(name) is not None or os.path.isdir(os.path.join(STATE_ROOT, name)):
                log(f"cleanup: lab {name} still up")
                lab("down", name)
    LL.main(fn, cleanup=[down_leftovers])

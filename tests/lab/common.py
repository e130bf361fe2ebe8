"""Shared helpers for the scripts/lab tests (run by Debian's /usr/bin/python3).

The tests drive scripts/lab as a user would (subprocesses) and then look at
the system: namespaces, interfaces, processes.  There is no skip: without root
or the pathlab binary a test fails.  Each test uses lab names unique to its pid and, whatever happens,
runs `scripts/lab down` on the labs it brought up.
"""

import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
LAB = os.path.join(REPO, "scripts", "lab")
TOPOLOGIES = os.path.join(REPO, "topologies")
STATE_ROOT = "/run/pathlab-lab"


def log(msg):
    print(f"[test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def unmet(reason):
    """A precondition meson and scripts/test guarantee is missing: fail, never skip."""
    print(f"FAIL: {reason}", flush=True)
    sys.exit(1)


def pathlab_binary():
    cands = []
    if os.environ.get("PATHLAB_BIN"):
        cands.append(os.environ["PATHLAB_BIN"])
    if os.environ.get("PATHLAB_BUILD_ROOT"):
        cands.append(os.path.join(os.environ["PATHLAB_BUILD_ROOT"], "apps", "pathlab"))
    cands.append(os.path.join(REPO, "build", "apps", "pathlab"))
    for c in cands:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.abspath(c)
    return None


def require(root=True, binary=True):
    if root and os.geteuid() != 0:
        unmet("needs root (network namespaces, veths)")
    b = pathlab_binary()
    if binary and b is None:
        unmet("pathlab binary not built")
    if b:
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


def netns():
    cp = subprocess.run(["ip", "-o", "netns", "list"], capture_output=True, text=True)
    return {ln.split()[0] for ln in cp.stdout.splitlines() if ln.strip()}


def links():
    cp = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True)
    out = set()
    for ln in cp.stdout.splitlines():
        m = re.match(r"\d+:\s+([^:@\s]+)", ln)
        if m:
            out.add(m.group(1))
    return out


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
    for ln in reversed(cp.stdout.strip().splitlines()):
        if ln.startswith("{"):
            return json.loads(ln)
    raise AssertionError("`down` printed no JSON summary")


def check_accounting(summary):
    for r in summary["routers"]:
        acc = r["accounting"]
        rx = sum(p["rx_packets"] for p in r["ports"])
        tx = sum(p["tx_packets"] for p in r["ports"])
        drops = sum(r["drops"].values())
        assert acc["balanced"] is True, f"{r['id']}: not balanced: {acc}"
        assert rx == tx + drops + r["consumed"], f"{r['id']}: {rx} != {tx}+{drops}+{r['consumed']}"
        assert rx > 0, f"{r['id']}: forwarded nothing"


def main(fn, cleanup_names=()):
    """Run fn(); always `down` the named labs; print PASS/FAIL; exit 0/1."""
    t0 = time.monotonic()
    rc = 0
    try:
        fn()
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        print(f"FAIL ({time.monotonic() - t0:.1f}s): {e}", flush=True)
        rc = 1
    finally:
        for name in cleanup_names:
            if state(name) is not None or os.path.isdir(os.path.join(STATE_ROOT, name)):
                log(f"cleanup: lab {name} still up")
                lab("down", name)
    if rc == 0:
        print(f"PASS ({time.monotonic() - t0:.1f}s)", flush=True)
    sys.exit(rc)

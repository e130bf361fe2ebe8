"""Helpers of the tools' namespace tests (tests/probe, tests/natprobe): namespaces named after
the test's pid, commands with timeouts, background processes, and a teardown that removes
everything, whatever happened. Root needed."""
import os
import subprocess
import time

from . import runner as R


class NsTest:
    def __init__(self, name, prefix, roles):
        self.name = name
        self.tag = f"{prefix}{os.getpid() % 100000}"
        self.ns = {r: f"{self.tag}-{r}" for r in roles}
        self.procs = []

    def log(self, msg):
        print(f"[{self.name} {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    def binary(self, name):
        root = os.environ.get("PATHLAB_BUILD_ROOT") or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
        path = os.path.join(root, "apps", name)
        if not os.access(path, os.X_OK):
            raise R.LabFailure(f"no {name} at {path}")
        return path

    def sh(self, role, *cmd, timeout=10, check=True):
        return R.run(list(cmd), ns=self.ns[role], timeout=timeout, check=check)

    def add_namespaces(self):
        for ns in self.ns.values():
            R.run(["ip", "netns", "add", ns])
        for role in self.ns:
            self.sh(role, "ip", "link", "set", "lo", "up")

    def veth(self, a, a_dev, b, b_dev):
        R.run(["ip", "link", "add", a_dev, "netns", self.ns[a], "type", "veth", "peer", "name",
               b_dev, "netns", self.ns[b]])

    def start(self, role, cmd, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[role]] + cmd, stdin=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def teardown(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)
        existing = R.existing_netns()
        for ns in self.ns.values():
            if ns in existing:
                R.kill_ns_processes(ns)
                R.run(["ip", "netns", "del", ns], check=False)
        left = [ns for ns in self.ns.values() if ns in R.existing_netns()]
        if left:
            raise R.LabFailure(f"namespaces left behind: {left}")


def check(cond, what):
    if not cond:
        raise AssertionError(what)

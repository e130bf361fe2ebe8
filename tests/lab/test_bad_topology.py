#!/usr/bin/python3
"""Bad topologies are rejected with file:line:col: key: message, exit code 2,
before anything is created (no namespace, interface or state dir appears)."""
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

with open(os.path.join(C.TOPOLOGIES, "default.yaml")) as f:
    GOOD = f.read()
LINES = GOOD.splitlines()


def line_of(text):
    return next(i for i, ln in enumerate(LINES, 1) if text in ln)


def col_of(text, sub):
    return LINES[line_of(text) - 1].index(sub) + 1


# (name, bad text, line, column or None, word the key path must contain)
CASES = [
    ("unknown-key", GOOD.replace("  r2: {asn: 65002}", "  r2: {asn: 65002, colour: blue}"),
     line_of("r2: {asn: 65002}"), col_of("r2: {asn: 65002}", "}") + 2, "colour"),
    ("unknown-top-key", GOOD.replace("auto_routes: true", "autoroutes: true"),
     line_of("auto_routes: true"), 1, "autoroutes"),
    ("bad-prefix-length", GOOD.replace("net4: 198.18.12.0/30", "net4: 198.18.12.0/33"),
     line_of("net4: 198.18.12.0/30"), col_of("net4: 198.18.12.0/30", "198.18.12.0/30"), "net4"),
    ("bad-address", GOOD.replace('net6: "fd00:3::/64"}', 'net6: "fd00:3::/64", host_ip4: 198.18.9.2}'),
     line_of('net6: "fd00:3::/64"}'), None, "host_ip4"),
    ("not-an-address", GOOD.replace("net4: 198.18.1.0/24", "net4: 198.18.1.300/24"),
     line_of("net4: 198.18.1.0/24"), col_of("net4: 198.18.1.0/24", "198.18.1.0/24"), "net4"),
    ("host-bits", GOOD.replace("net4: 198.18.3.0/24", "net4: 198.18.3.7/24"),
     line_of("net4: 198.18.3.0/24"), None, "net4"),
    ("unknown-router", GOOD.replace("[r2.east, r3.west]", "[r2.east, r4.west]"),
     line_of("[r2.east, r3.west]"), None, "routers"),
    ("bad-placeholder", GOOD.replace("{server.ip4}", "{sever.ip4}", 1),
     line_of("{server.ip4}"), None, "run"),
    ("yaml-syntax", GOOD.replace("  r1: {asn: 65001}", "  r1: {asn: [65001}"),
     line_of("r1: {asn: 65001}"), None, None),
]


def test():
    C.require(binary=False)
    work = tempfile.mkdtemp(prefix="pathlab-lab-bad-")
    failures = []
    for name, text, line, col, key in CASES:
        assert text != GOOD, f"{name}: the edit did not apply"
        path = os.path.join(work, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(text)
        lab_name = f"t{os.getpid() % 100000}bad"
        ns0, if0 = C.netns(), C.links()
        cp = C.lab("up", path, "--name", lab_name)
        out = cp.stdout + cp.stderr
        if cp.returncode != 2:
            failures.append(f"{name}: exit {cp.returncode}, want 2")
        rx = re.escape(path) + r":(\d+):(\d+): " + (r"(\S+): \S" if key else "")
        m = re.search(rx, out)
        if not m:
            failures.append(f"{name}: no '{path}:line:col: key: ...' in {out!r}")
        else:
            if int(m.group(1)) != line:
                failures.append(f"{name}: line {m.group(1)}, want {line}")
            if col is not None and int(m.group(2)) != col:
                failures.append(f"{name}: column {m.group(2)}, want {col}")
            if key and key not in m.group(3):
                failures.append(f"{name}: key {m.group(3)!r} does not name {key!r}")
        # (other tests may run on this machine: look only at this lab's names)
        new_ns = {n for n in C.netns() - ns0 if n.startswith(lab_name + "-")}
        new_if = {n for n in C.links() - if0 if re.match(lab_name[:3] + r"[0-9a-f]{4}", n)}
        if new_ns:
            failures.append(f"{name}: namespaces appeared: {new_ns}")
        if new_if:
            failures.append(f"{name}: interfaces appeared: {new_if}")
        if os.path.exists(os.path.join(C.STATE_ROOT, lab_name)):
            failures.append(f"{name}: a state dir appeared")
        # render and validate reject it the same way
        cp = C.lab("render", path)
        if cp.returncode != 2 or path not in cp.stderr:
            failures.append(f"{name}: render exit {cp.returncode}")
    assert not failures, "bad topologies:\n  " + "\n  ".join(failures)


if __name__ == "__main__":
    C.main(test)

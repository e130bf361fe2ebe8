#!/usr/bin/python3
"""pathlab --validate: a good config passes without touching ports; bad ones
fail with `file:line:col: key: message`."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib.lab import main  # noqa: E402
from lablib.runner import find_pathlab  # noqa: E402

GOOD = """\
process:
  idle: adaptive
routers:
  - id: r1
    asn: 65001
    ports:
      - name: p0
        device: "net_af_packet0,iface=pltnoexist0"
        mac: "02:00:00:00:01:00"
        ipv4: [198.18.1.1/24]
        ipv6: ["fd00:1::1/64"]
      - name: east
        mac: "02:00:00:00:01:01"
        ipv4: [198.18.12.1/30]
    routes:
      - {prefix: 198.18.2.0/24, via: 198.18.12.2}
  - id: r2
    asn: 65002
    ports:
      - name: west
        mac: "02:00:00:00:02:00"
        ipv4: [198.18.12.2/30]
      - name: p1
        device: "net_af_packet1,iface=pltnoexist1"
        mac: "02:00:00:00:02:01"
        ipv4: [198.18.2.1/24]
    routes:
      - {prefix: 198.18.1.0/24, via: 198.18.12.1}
links:
  - name: r1-r2
    ends: [r1.east, r2.west]
"""

# (name, text, expected line (1-based) or None, word the key must contain or None)
BAD = [
    ("unknown-key", GOOD.replace("    asn: 65002\n", "    asn: 65002\n    colour: blue\n"),
     GOOD.splitlines().index("    asn: 65002") + 2, "colour"),
    ("bad-prefix", GOOD.replace("[198.18.1.1/24]", "[198.18.1.1/33]"),
     GOOD.splitlines().index("        ipv4: [198.18.1.1/24]") + 1, "ipv4"),
    ("bad-link-end", GOOD.replace("[r1.east, r2.west]", "[r1.east, r2.nowhere]"),
     GOOD.splitlines().index("    ends: [r1.east, r2.west]") + 1, "ends"),
    ("yaml-syntax", GOOD.replace("    asn: 65001\n", "    asn: [65001\n"), None, None),
]


def run_validate(binary, path, tag):
    fp = f"pltval{os.getpid()}{tag}"
    cmd = [binary, "--no-huge", "--no-pci", "--file-prefix", fp,
           "--", "--config", path, "--validate"]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    finally:
        subprocess.run(["rm", "-rf", "--", f"/var/run/dpdk/{fp}"], capture_output=True)


def test():
    binary = find_pathlab()
    work = tempfile.mkdtemp(prefix="pathlab-validate-")

    good = os.path.join(work, "good.yaml")
    with open(good, "w") as f:
        f.write(GOOD)
    cp = run_validate(binary, good, "g")
    print(f"good: rc={cp.returncode}\n{cp.stdout}{cp.stderr}", flush=True)
    # the named interfaces do not exist: exit 0 proves no port was probed
    assert cp.returncode == 0, f"--validate rejected a good config (rc {cp.returncode})"

    failures = []
    for i, (name, text, line, key) in enumerate(BAD):
        path = os.path.join(work, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(text)
        cp = run_validate(binary, path, f"b{i}")
        out = cp.stdout + cp.stderr
        print(f"{name}: rc={cp.returncode}\n{out}", flush=True)
        if cp.returncode == 0:
            failures.append(f"{name}: exit 0")
            continue
        rx = re.escape(path) + r":(\d+):(\d+): " + (r"(\S+): \S" if key else "")
        m = re.search(rx, out)
        if not m:
            failures.append(f"{name}: no '{path}:line:col: key: ...' message")
            continue
        if line is not None and int(m.group(1)) != line:
            failures.append(f"{name}: reported line {m.group(1)}, want {line}")
        if key is not None and key not in m.group(3):
            failures.append(f"{name}: reported key {m.group(3)!r}, want one naming {key!r}")
    assert not failures, "validate:\n  " + "\n  ".join(failures)
    shutil.rmtree(work)


if __name__ == "__main__":
    main(test)

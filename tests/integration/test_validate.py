#!/usr/bin/python3
"""pathlab --validate: a good config passes without touching ports; bad ones
fail with `file:line:col: key: message`; a directory or /dev/zero is refused by
name.  And SIGHUP stops a running pathlab like SIGTERM: summary, exit 0."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib import summary as S  # noqa: E402
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
    ("second-document", GOOD + "---\nrouters: []\n", len(GOOD.splitlines()) + 2, None),
]

# Two routers joined by a link, no device: pathlab runs without ports or load.
LINKED = """\
process: {mbufs: 1023, mbuf_cache: 32}
routers:
  - id: r1
    ports: [{name: east, ipv4: [198.18.12.1/30]}]
  - id: r2
    ports: [{name: west, ipv4: [198.18.12.2/30]}]
links:
  - {name: r1-r2, ends: [r1.east, r2.west]}
"""


def run_validate(binary, path, tag):
    fp = f"pltval{os.getpid()}{tag}"
    cmd = [binary, "--no-huge", "--no-pci", "--file-prefix", fp,
           "--", "--config", path, "--validate"]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    finally:
        subprocess.run(["rm", "-rf", "--", f"/var/run/dpdk/{fp}"], capture_output=True)


def run_signalled(binary, path, tag, sighup, wait):
    """Run pathlab on `path` until it is running, then send SIGHUP; then SIGTERM if it is
    still running `wait` s later.  `sighup` is its SIGHUP disposition at start (SIG_DFL, or
    SIG_IGN as under nohup).  Returns (rc, stdout, stderr, alive after the SIGHUP)."""
    fp = f"pltval{os.getpid()}{tag}"
    cmd = [binary, "-l", "0,1", "--no-huge", "-m", "512", "--no-pci", "--file-prefix", fp,
           "--", "--config", path, "--stats-interval", "0"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGHUP, sighup))
    guard = threading.Timer(60, p.kill)
    guard.start()
    try:
        out = []
        for line in p.stdout:
            out.append(line)
            if line.startswith("pathlab: running"):
                break
        assert p.poll() is None, f"pathlab did not start: {''.join(out)}{p.stderr.read()}"
        p.send_signal(signal.SIGHUP)
        try:
            p.wait(timeout=wait)
            alive = False
        except subprocess.TimeoutExpired:
            alive = True
            p.send_signal(signal.SIGTERM)
        rest, err = p.communicate(timeout=30)
        return p.returncode, "".join(out) + rest, err, alive
    finally:
        guard.cancel()
        if p.poll() is None:
            p.kill()
            p.wait()
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

    # Not config files: refused by name before reading (/dev/zero used to be read to 2 GB).
    for tag, path, kind in (("z", "/dev/zero", "a character device"), ("d", work, "a directory")):
        cp = run_validate(binary, path, tag)
        print(f"{path}: rc={cp.returncode}\n{cp.stdout}{cp.stderr}", flush=True)
        want = f"{path}: is {kind}, not a regular file"
        if cp.returncode != 2 or want not in cp.stderr:
            failures.append(f"{path}: want exit 2 and {want!r}")
    assert not failures, "validate:\n  " + "\n  ".join(failures)

    # SIGHUP: like SIGTERM (drain, JSON summary, exit 0); ignored when it was ignored at start.
    linked = os.path.join(work, "linked.yaml")
    with open(linked, "w") as f:
        f.write(LINKED)
    for tag, nohup in (("h", False), ("n", True)):
        rc, out, err, alive = run_signalled(binary, linked, tag,
                                            signal.SIG_IGN if nohup else signal.SIG_DFL,
                                            1 if nohup else 20)
        print(f"SIGHUP ({'nohup' if nohup else 'default'}): rc={rc}, running after it: {alive}, "
              f"stdout: {out.splitlines()[:1]}", flush=True)
        if rc != 0:
            print(err, flush=True)
        if nohup:
            assert alive, "SIGHUP stopped a pathlab started with SIGHUP ignored"
        else:
            assert not alive, "still running 20 s after SIGHUP"
        assert rc == 0, f"exit {rc}"
        summary = S.last_summary(out.splitlines())
        assert summary is not None, "no JSON summary"
        S.check_accounting(summary)
    shutil.rmtree(work)


if __name__ == "__main__":
    main(test)

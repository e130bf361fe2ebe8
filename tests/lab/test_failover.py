#!/usr/bin/python3
"""Link failure and recovery on a schedule (topologies/failover.yaml, docs/links.md): r1-r2
goes down at 8 s and up at 18 s. A continuous ping from client to server loses packets only
while the link goes down (what was in flight on it), keeps flowing over the backup path through
r3 while it is down, and returns to the primary path; traceroute shows each path."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib import runner as R  # noqa: E402
from lablib import summary as S  # noqa: E402
from lablib.lab import Lab, log, main  # noqa: E402

TOPOLOGY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "topologies",
                        "failover.yaml")
INTERVAL = 0.05


def wait_line(lab, pattern, deadline):
    """Wall time at which `pattern` first shows in pathlab's output (polled every 20 ms)."""
    sdir = os.path.join(R.STATE_ROOT, lab.name)
    rx = re.compile(pattern)
    while time.time() < deadline:
        for fn in ("pathlab.stdout", "pathlab.stderr"):
            try:
                with open(os.path.join(sdir, fn), errors="replace") as f:
                    if rx.search(f.read()):
                        return time.time()
            except OSError:
                pass
        time.sleep(0.02)
    raise AssertionError(f"pathlab never printed /{pattern}/")


def hops(host, dst):
    cp = host.run(["traceroute", "-4", "-n", "-q", "1", "-w", "1", "-m", "6", dst], timeout=30)
    found = re.findall(r"^\s*(\d+)\s+([\d.]+)", cp.stdout, re.M)
    log(f"traceroute: {found}")
    return [a for _, a in found]


def test():
    with Lab(TOPOLOGY) as lab:
        c = lab.host("client")
        server = lab.ip4("server")
        c.wait_ping(server)
        assert hops(c, server) == [lab.ip4("r1.p0"), lab.ip4("r2.west"), server]
        count = int(24 / INTERVAL)
        ping = c.popen(["ping", "-4", "-n", "-D", "-i", str(INTERVAL), "-W", "1", "-c", str(count),
                        server], stdout=subprocess.PIPE, text=True)
        t_down = wait_line(lab, r"r1\.east: link down", time.time() + 30)
        log(f"link down seen at {t_down:.3f}")
        time.sleep(1.0)
        backup = hops(c, server)
        assert backup == [lab.ip4("r1.p0"), lab.ip4("r3.a"), lab.ip4("r2.south"), server], backup
        t_up = wait_line(lab, r"r1\.east: link up", time.time() + 30)
        log(f"link up seen at {t_up:.3f}")
        time.sleep(1.0)
        assert hops(c, server) == [lab.ip4("r1.p0"), lab.ip4("r2.west"), server]
        out, _ = ping.communicate(timeout=60)

        replies = {int(s): float(t) for t, s in
                   re.findall(r"^\[([\d.]+)\] \d+ bytes from .*icmp_seq=(\d+)", out, re.M)}
        assert len(replies) > count // 2, out[-2000:]
        first = min(replies)
        t0 = replies[first] - first * INTERVAL  # seq 0's send time, give or take its RTT
        lost = [s for s in range(first, max(replies)) if s not in replies]
        sent_at = {s: t0 + s * INTERVAL for s in lost}
        log(f"{len(replies)} replies, lost seqs {lost} "
            f"(sent at {[round(sent_at[s] - t_down, 3) for s in lost]} s after the down)")
        # Lost only around the moment the link went down (in flight on it, or sent in the
        # instant before the routes moved), never before it or after it came back.
        for s in lost:
            assert t_down - 0.5 <= sent_at[s] <= t_down + 0.5, (s, sent_at[s] - t_down)
        during = [s for s, t in replies.items() if t_down + 0.5 < t < t_up - 0.1]
        after = [s for s, t in replies.items() if t > t_up + 0.5]
        log(f"{len(during)} replies over the backup path, {len(after)} after the recovery")
        assert len(during) >= 0.8 * (t_up - t_down - 0.6) / INTERVAL, len(during)
        assert len(after) >= 20, len(after)
        summary = lab.down()
        down = S.drop_count(summary, "r1", "r1.east.egress.link.down") + \
            S.drop_count(summary, "r2", "r2.west.egress.link.down")
        log(f"dropped as link/down: {down}")
        assert down <= len(lost) + 2, (down, lost)


if __name__ == "__main__":
    main(test)

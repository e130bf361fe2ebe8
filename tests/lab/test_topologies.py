#!/usr/bin/python3
"""Every shipped lab topology (default, two-clients, middlebox) comes up, side by side,
passes its checks, and `down` leaves no namespace, veth or process behind."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

PID = os.getpid() % 100000
LABS = {f"t{PID}def": "default", f"t{PID}two": "two-clients", f"t{PID}mb": "middlebox"}


def test():
    C.require()
    states = {}
    # both labs at once: unique names, veths and EAL file prefixes
    for name, topo in LABS.items():
        C.lab("up", topo, "--name", name, check=0)
        states[name] = C.state(name)
        assert states[name]["phase"] == "up", states[name]
    sts = list(states.values())
    assert len({st["file_prefix"] for st in sts}) == len(sts)
    for i, a in enumerate(sts):
        for b in sts[i + 1:]:
            assert not set(a["netns"]) & set(b["netns"])
            assert not set(a["veths"]) & set(b["veths"])
    for st in states.values():
        for v in st["veths"]:
            assert len(v) <= 15, v
    cp = C.lab("status", check=0)
    for name in LABS:
        assert f"{name}: " in cp.stdout and "pathlab running" in cp.stdout, cp.stdout
    # exec runs in the host's namespace
    cp = C.lab("exec", "-l", f"t{PID}def", "client", "--", "ip", "-o", "-4", "addr", "show",
               "dev", "eth0", check=0)
    assert "198.18.1.2/24" in cp.stdout, cp.stdout

    for name in LABS:
        cp = C.lab("check", name)
        assert cp.returncode == 0, f"{name}: {cp.returncode} check(s) failed"
        assert "FAIL" not in cp.stdout
        n = cp.stdout.count("PASS ")
        assert n >= 5, f"{name}: only {n} checks ran"

    for name, st in states.items():
        cp = C.lab("down", name, check=0)
        summary = C.summary_from(cp)
        C.check_accounting(summary)
        C.assert_gone(st)
    C.lab("status", check=0)


if __name__ == "__main__":
    C.main(test, cleanup_names=LABS)

#!/usr/bin/python3
"""SIGKILL the runner in the middle of `up` (while it builds namespaces, and
while pathlab starts); `down` then removes everything, found from the state
dir alone.  Also: SIGTERM during `up` makes `up` itself tear down."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

PID = os.getpid() % 100000
NAME = f"t{PID}kill"


def start_up():
    return subprocess.Popen(["/usr/bin/python3", C.LAB, "up", "default", "--name", NAME],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(pred, what, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = C.state(NAME)
        if st is not None and pred(st):
            return st
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def kill_at(pred, what):
    C.log(f"--- SIGKILL the runner {what}")
    p = start_up()
    try:
        wait_for(pred, what)
    finally:
        p.kill()
        out = p.communicate()[0]
    print(out, flush=True)
    st = C.state(NAME)
    assert st is not None, "no state left behind by the killed runner"
    C.log(f"state at kill: phase={st['phase']} netns={st['netns']} veths={st['veths']} "
          f"pathlab={st['pathlab_pid']}")
    return st


def test():
    C.require()
    # 1. while the namespaces are being made
    st = kill_at(lambda s: len(s["netns"]) >= 1, "after the first namespace")
    cp = C.lab("status", NAME)
    assert "INCOMPLETE" in cp.stdout or "being built" in cp.stdout, cp.stdout
    C.lab("down", NAME, check=0)
    C.assert_gone(st)

    # 2. while pathlab starts (the supervisor was launched)
    st = kill_at(lambda s: s["phase"] == "starting", "once pathlab is being started")
    time.sleep(1.0)     # pathlab keeps starting without its runner
    st = C.state(NAME)
    C.lab("down", NAME, check=0)
    C.assert_gone(st)

    # 3. once everything was made but before `up` reported ready
    st = kill_at(lambda s: s["pathlab_pid"] is not None, "with pathlab running")
    st = C.state(NAME)
    C.lab("down", NAME, check=0)
    C.assert_gone(st)

    # 4. SIGTERM (not KILL): `up` tears down by itself
    C.log("--- SIGTERM the runner while it builds")
    p = start_up()
    wait_for(lambda s: len(s["veths"]) >= 1, "the first veth")
    st = C.state(NAME)
    p.send_signal(signal.SIGTERM)
    out = p.communicate(timeout=60)[0]
    print(out, flush=True)
    assert p.returncode != 0, "up succeeded despite SIGTERM"
    assert "tearing down" in out, out
    C.assert_gone(st)
    assert C.state(NAME) is None


if __name__ == "__main__":
    C.main(test, cleanup_names=[NAME])

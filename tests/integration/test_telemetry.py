#!/usr/bin/python3
"""rte_telemetry (topologies/one-router.yaml): /pathlab/ports lists the ports and their
counters move."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib import summary as S  # noqa: E402
from lablib.lab import Lab, log, main  # noqa: E402


def port_entries(obj, name, parent_key=None):
    """Dicts in obj that describe port `name` (by key or by a name field)."""
    out = []
    if isinstance(obj, dict):
        key_match = parent_key is not None and (
            parent_key == name or any(parent_key.endswith(sep + name) for sep in "./:_-"))
        if key_match or obj.get("name") == name or obj.get("port") == name:
            out.append(obj)
        for k, v in obj.items():
            out += port_entries(v, name, str(k))
    elif isinstance(obj, list):
        for v in obj:
            out += port_entries(v, name, None)
    return out


def rx_packets(entry):
    for k, v in entry.items():
        if isinstance(v, (int, float)) and "rx" in k and ("packets" in k or "pkts" in k):
            return v
    return None


def query_ports(lab):
    greeting, reply = lab.telemetry("/pathlab/ports")
    print(f"greeting: {greeting}\nreply: {reply}", flush=True)
    assert "/pathlab/ports" in reply, f"reply lacks /pathlab/ports: {reply}"
    return greeting, reply["/pathlab/ports"]


def counters(body, names):
    out = {}
    for n in names:
        ents = [e for e in port_entries(body, n) if rx_packets(e) is not None]
        assert ents, f"port {n} with rx packet counter not in /pathlab/ports: {body}"
        out[n] = rx_packets(ents[0])
    return out


def test():
    with Lab("one-router", near=__file__) as lab:
        c = lab.host("client")
        c.wait_ping(lab.ip4("server"))
        greeting, body = query_ports(lab)
        assert greeting.get("pid") == lab.pathlab_pid, greeting
        before = counters(body, ["p0", "p1"])
        c.ping(lab.ip4("server"), count=10, interval=0.05)
        _, body = query_ports(lab)
        after = counters(body, ["p0", "p1"])
        log(f"rx before {before} after {after}")
        assert after["p0"] >= before["p0"] + 10, (before, after)
        assert after["p1"] >= before["p1"] + 10, (before, after)
        # the command is listed
        _, lst = lab.telemetry("/")
        assert "/pathlab/ports" in lst.get("/", []), lst

        summary = lab.down()
        S.check_no_checksum_drops(summary)
        sp0 = S.port_summary(summary, "r1", "p0")
        assert sp0["rx_packets"] >= after["p0"], (sp0, after)


if __name__ == "__main__":
    main(test)

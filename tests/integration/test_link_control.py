#!/usr/bin/python3
"""Links under control in a running pathlab (tests/integration/topologies/link-control.yaml,
docs/links.md): the config's event sets a delay at start, /pathlab/links lists every link
direction, /pathlab/link changes a delay (seen in ping times), takes a whole ring link down
(its routes are withdrawn: pings get net unreachable) and up again, and answers errors; the JSON
summary has each router's link rows."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lablib import summary as S  # noqa: E402
from lablib.lab import Lab, log, main  # noqa: E402


def links(lab):
    _, reply = lab.telemetry("/pathlab/links")
    body = reply.get("/pathlab/links")
    assert isinstance(body, dict), f"/pathlab/links: {reply}"
    for key, e in body.items():
        assert key == e["name"].replace(".", "_"), (key, e)
    return {e["name"]: e for e in body.values()}


def command(lab, text):
    _, reply = lab.telemetry("/pathlab/link," + text)
    log(f"/pathlab/link,{text} -> {reply}")
    return reply.get("/pathlab/link")


def rtt_ms(cp):
    """(min, avg, max) of a ping's round trips, in ms."""
    m = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/", cp.stdout)
    assert m, f"no rtt line in {cp.stdout!r}"
    return tuple(float(x) for x in m.groups())


def test():
    with Lab("link-control", near=__file__) as lab:
        c = lab.host("client")
        server = lab.ip4("server")
        c.wait_ping(server)

        ls = links(lab)
        log(f"/pathlab/links: {ls}")
        assert set(ls) == {"r1.east", "r2.west", "r2.p1"}, ls
        assert (ls["r1.east"]["link"], ls["r1.east"]["direction"]) == ("r1-r2", "a_to_b"), ls
        assert (ls["r2.west"]["link"], ls["r2.west"]["direction"]) == ("r1-r2", "b_to_a"), ls
        assert ls["r2.p1"]["direction"] == "egress", ls
        # the event at 0s gave r2.p1 its delay; nothing else has one
        assert ls["r2.p1"]["delay_ns"] == 20_000_000, ls["r2.p1"]
        assert ls["r1.east"]["delay_ns"] == 0 and ls["r1.east"]["rate_bps"] == 0
        assert all(e["down"] == 0 for e in ls.values()), ls
        for key in ("queued_packets", "queued_bytes", "backlog_ns", "departure_rate_bps",
                    "drop_probability_ppm"):
            assert key in ls["r2.p1"], (key, ls["r2.p1"])

        lo, avg, _ = rtt_ms(c.ping(server, count=5, interval=0.1))
        log(f"rtt with 20 ms on r2.p1: min {lo} avg {avg}")
        assert lo >= 20.0, lo

        assert command(lab, "r2.p1 set delay=1ms") == "ok"
        assert links(lab)["r2.p1"]["delay_ns"] == 1_000_000
        lo, avg, _ = rtt_ms(c.ping(server, count=5, interval=0.1))
        log(f"rtt with 1 ms on r2.p1: min {lo} avg {avg}")
        assert 1.0 <= lo and avg < 15.0, (lo, avg)

        # r1.east down is the whole link r1-r2: both directions
        before = links(lab)["r1.east"]["counters"]["down"]
        assert command(lab, "r1.east down") == "ok"
        ls = links(lab)
        assert ls["r1.east"]["down"] == 1 and ls["r2.west"]["down"] == 1, ls
        # r1 withdraws its routes over r1.east (no backup here): the pings get net unreachable
        p = c.ping(server, count=3, interval=0.2, wait=1, check=False)
        assert p.received == 0, p.stdout
        assert "Destination Net Unreachable" in p.stdout, p.stdout
        assert links(lab)["r1.east"]["counters"]["down"] == before, "nothing was routed onto it"
        assert command(lab, "r1-r2 up") == "ok"
        assert all(e["down"] == 0 for e in links(lab).values())
        c.ping(server, count=3, interval=0.1)

        # errors change nothing
        err = command(lab, "r1.east set rate=fast")
        assert err.startswith("error: command:1:7: set.rate: 'fast' is not a rate"), err
        assert command(lab, "r9.x down") == \
            "error: no router r9 (expected router.port or a link name)"
        assert command(lab, "r1.p0 down") == \
            "error: r1.p0 has no link stage: give it link: (link: {} holds nothing back)"
        assert links(lab)["r1.east"]["rate_bps"] == 0
        accepted = links(lab)["r2.p1"]["accepted"]
        assert accepted >= 13, accepted   # every echo request that reached r2
        _, lst = lab.telemetry("/")
        assert "/pathlab/links" in lst.get("/", []) and "/pathlab/link" in lst.get("/", []), lst

        summary = lab.down()
        r1 = {l["name"]: l for l in S.router_summary(summary, "r1")["links"]}
        r2 = {l["name"]: l for l in S.router_summary(summary, "r2")["links"]}
        log(f"summary links: {r1} {r2}")
        assert set(r1) == {"r1.east"} and set(r2) == {"r2.west", "r2.p1"}, (r1, r2)
        assert r1["r1.east"]["direction"] == "a_to_b" and r1["r1.east"]["link"] == "r1-r2"
        assert r1["r1.east"]["counters"]["down"] == \
            S.drop_count(summary, "r1", "r1.east.egress.link.down")
        assert r2["r2.p1"]["accepted"] >= accepted and r2["r2.p1"]["down"] is False
        assert r2["r2.p1"]["in_flight"] == 0


if __name__ == "__main__":
    main(test)

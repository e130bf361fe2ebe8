#!/usr/bin/python3
"""`scripts/lab render` emits a pathlab config without creating anything, and
`pathlab --validate` accepts it for every shipped topology, including the NIC
template nic-router.yaml (PCI devices, spin mode)."""
import glob
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402


def test():
    binary = C.require(root=False)
    work = tempfile.mkdtemp(prefix="pathlab-lab-render-")
    topos = sorted(glob.glob(os.path.join(C.TOPOLOGIES, "*.yaml")))
    names = [os.path.basename(t) for t in topos]
    for want in ("default.yaml", "two-clients.yaml", "nic-router.yaml"):
        assert want in names, f"topologies/{want} missing"
    for topo in topos:
        cp = C.lab("render", topo, check=0)
        cfg = os.path.join(work, os.path.basename(topo))
        with open(cfg, "w") as f:
            f.write(cp.stdout)
        v = subprocess.run([binary, "--no-huge", "--no-pci", "--", "--config", cfg,
                            "--pipelines", os.path.join(C.REPO, "pipelines"), "--validate"],
                           capture_output=True, text=True, timeout=60)
        print(v.stdout + v.stderr, flush=True)
        assert v.returncode == 0, f"pathlab --validate rejects the config of {topo}"
        C.lab("validate", topo, check=0)
        if topo.endswith("nic-router.yaml"):
            assert "idle: spin" in cp.stdout, "nic-router: not spin mode"
            assert '"0000:01:00.0"' in cp.stdout and '"0000:01:00.1"' in cp.stdout
            assert "-a 0000:01:00.0" in cp.stdout and "--no-pci" not in cp.stdout
            assert "--no-huge" not in cp.stdout
    assert not [n for n in C.netns() if n.startswith(("default-0000", "two-clients-0000"))]
    links_and_events(binary, work)


LINKS = """\
description: link emulation on every kind of link, and events
auto_routes: true
hosts:
  client:
  server:
routers:
  r1:
  r2:
  r3:
    ports:
      p1: {link: {delay: 1ms}}
links:
  - {host: client, router: r1, port: p0, net4: 198.18.1.0/24,
     link: {rate: 50mbit, aqm: {type: codel, ecn: true}}}
  - {routers: [r1.east, r2.west], net4: 198.18.12.0/30, link: {delay: 10ms, jitter: 1ms}}
  - {routers: [r2.east, r3.west], net4: 198.18.23.0/30, name: r2r3,
     link: {a_to_b: {rate: 10mbit}, b_to_a: {delay: 2ms, queue: {packets: 100}}}}
  - {host: server, router: r3, port: p1, net4: 198.18.3.0/24}
events:
  - {at: 2s, link: r1-r2, down: true}
  - {at: 3s, link: r1.east, down: false}
  - {at: 4s, link: r2r3, set: {rate: 5mbit}}
"""


def links_and_events(binary, work):
    """`link:` on host links, router links (one map, or per direction) and router ports, and
    `events:`, reach pathlab's config; their errors point into the topology."""
    topo = os.path.join(work, "links.yaml")
    with open(topo, "w") as f:
        f.write(LINKS)
    cp = C.lab("render", topo, check=0)
    out = cp.stdout
    for want in ('        link: {"rate": "50mbit", "aqm": {"type": "codel", "ecn": true}}',
                 '        link: {"delay": "1ms"}',
                 '  - {name: r1-r2, ends: [r1.east, r2.west],\n'
                 '     link: {"delay": "10ms", "jitter": "1ms"}}',
                 '     link: {"a_to_b": {"rate": "10mbit"}, '
                 '"b_to_a": {"delay": "2ms", "queue": {"packets": 100}}}}',
                 'events:\n  - {"at": "2s", "link": "r1-r2", "down": true}',
                 '  - {"at": "4s", "link": "r2r3", "set": {"rate": "5mbit"}}'):
        assert want in out, f"render lacks {want!r}:\n{out}"
    cfg = os.path.join(work, "links.pathlab.yaml")
    with open(cfg, "w") as f:
        f.write(out)
    v = subprocess.run([binary, "--no-huge", "--no-pci", "--", "--config", cfg, "--validate"],
                       capture_output=True, text=True, timeout=60)
    assert v.returncode == 0, f"pathlab --validate rejects it: {v.stdout + v.stderr}"
    C.lab("validate", topo, check=0)

    def at(text, marker, sub):
        """line:column of `sub` on the first line of `text` holding `marker`."""
        lines = text.splitlines()
        n = next(i for i, ln in enumerate(lines, 1) if marker in ln)
        return f"{n}:{lines[n - 1].index(sub) + 1}"

    # (edit, the error's line and column: (marker, sub) in the edited text, what it says);
    # pathlab's errors come back through the generated config to the topology's `link:` node
    # with the key path below it
    bad = [
        (("link: {rate: 50mbit,", "link: {rate: fast,"), ("link: {rate: fast", "{rate"),
         "links[0].link.rate: 'fast' is not a rate"),
        (("link: {delay: 10ms, jitter: 1ms}", "link: {delay: 10ms, jiter: 1ms}"),
         ("link: {delay: 10ms", "{delay"), "links[1].link.jiter: unknown key"),
        (("b_to_a: {delay: 2ms,", "b_to_a: {delay: -2ms,"), ("link: {a_to_b", "{a_to_b"),
         "links[2].link.b_to_a.delay: '-2ms' is not a duration"),
        (("p1: {link: {delay: 1ms}}", "p1: {link: 1ms}"), ("p1: {link", "1ms"),
         "routers.r3.ports.p1.link: expected a map of link parameters"),
        (("net4: 198.18.3.0/24}", "net4: 198.18.3.0/24, link: {}}"), ("{host: server", "{}}"),
         "links[3].link: port r3.p1 already has link: (line 11)"),
        (("{at: 3s, link: r1.east,", "{at: 3s, link: r1.eats,"), ("{at: 3s", "{at"),
         "events[1].link: no port eats in router r1"),
        (("  - {at: 2s,", "  - {at: 2 s,"), ("{at: 2 s", "{at"), "events[0].at: '2 s' is not a time"),
    ]
    for (old, new), (marker, sub), msg in bad:
        assert old in LINKS, old
        text = LINKS.replace(old, new)
        path = os.path.join(work, "bad-links.yaml")
        with open(path, "w") as f:
            f.write(text)
        cp = C.lab("validate", path)
        err = cp.stdout + cp.stderr
        assert cp.returncode != 0, f"{new!r}: accepted"
        prefix = f"{path}:{at(text, marker, sub)}: "
        assert prefix + msg in err, f"{new!r}: want {prefix + msg!r} in:\n{err}"


if __name__ == "__main__":
    C.main(test)

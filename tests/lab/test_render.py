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


if __name__ == "__main__":
    C.main(test)

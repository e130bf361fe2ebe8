#!/usr/bin/python3
"""scripts/demo: pathlab in one minute.

Installs what is missing (scripts/setup), builds (scripts/build), brings up
topologies/default.yaml (client - r1 - r2 - r3 - server, one pathlab process),
runs ping and traceroute (IPv4 and IPv6) and an HTTP transfer of a 20 MB file
(sha256 checked), prints a report with per-hop RTTs, ping RTT, transfer rate
and per-router counters from pathlab's JSON summary, and tears the lab down:
always, also on error or Ctrl-C.  Run as root.

Environment: PATHLAB_DEMO_NO_BUILD=1 skips setup and build; PATHLAB_BIN names
the pathlab binary (default build/apps/pathlab).
"""

import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from lablib import topology as T  # noqa: E402

LAB = os.path.join(REPO, "scripts", "lab")
TOPO = os.path.join(REPO, "topologies", "default.yaml")
SIZE = 20 * 1000 * 1000
PORT = 8000


class DemoError(Exception):
    pass


def step(msg):
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(cmd, timeout=60, check=True, env=None):
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                        stdin=subprocess.DEVNULL)
    if check and cp.returncode != 0:
        raise DemoError(f"{' '.join(cmd)} failed ({cp.returncode}):\n{cp.stdout}{cp.stderr}")
    return cp


def in_host(lab, host, cmd, timeout=60, check=True):
    return sh([LAB, "exec", "-l", lab, host, "--"] + cmd, timeout=timeout, check=check)


def prepare():
    if os.environ.get("PATHLAB_DEMO_SETUP_DONE") == "1":
        return
    if os.environ.get("PATHLAB_DEMO_NO_BUILD") == "1":
        step("PATHLAB_DEMO_NO_BUILD=1: skipping scripts/setup and scripts/build")
        return
    for name, env in (("setup", None), ("build", dict(os.environ, PATHLAB_SKIP_SETUP="1"))):
        path = os.path.join(REPO, "scripts", name)
        if not os.access(path, os.X_OK):
            continue
        step(f"scripts/{name}")
        t0 = time.monotonic()
        cp = subprocess.run([path], capture_output=True, text=True, env=env)
        if cp.returncode != 0:
            sys.stdout.write(cp.stdout[-3000:] + cp.stderr[-3000:])
            raise DemoError(f"scripts/{name} failed ({cp.returncode})")
        last = (cp.stdout.strip().splitlines() or [""])[-1]
        step(f"  done in {time.monotonic() - t0:.1f}s: {last[:100]}")


def parse_ping(out):
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    r = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms", out)
    return {"sent": int(m.group(1)) if m else 0, "received": int(m.group(2)) if m else 0,
            "min": float(r.group(1)) if r else None, "avg": float(r.group(2)) if r else None,
            "max": float(r.group(3)) if r else None}


def parse_traceroute(out):
    """[(hop, address or '*', [rtt ms, ...])] from `traceroute -n` output."""
    hops = []
    for ln in out.splitlines():
        m = re.match(r"^\s*(\d+)\s+(.*)$", ln)
        if not m:
            continue
        addr, rtts = "*", []
        for tok in m.group(2).split():
            try:
                addr = str(ipaddress.ip_address(tok))
                continue
            except ValueError:
                pass
            try:
                rtts.append(float(tok))
            except ValueError:
                pass
        hops.append((int(m.group(1)), addr, rtts))
    return hops


def owner(t, addr):
    for r in t.routers.values():
        for p in r.ports.values():
            if any(str(a.ip) == addr for a in p.ip4 + p.ip6):
                return p.full
    for h in t.hosts.values():
        for i in h.ifaces:
            if any(str(a.ip) == addr for a in i.ip4 + i.ip6):
                return h.name
    return "?"


def wait_http(lab, url, deadline=15.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        cp = in_host(lab, "client", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                     "--max-time", "2", url], check=False)
        if cp.stdout.strip() == "200":
            return
        time.sleep(0.2)
    raise DemoError(f"HTTP server not answering at {url}")


def transfer(lab, url, dest, want):
    cp = in_host(lab, "client", ["curl", "-sS", "--fail", "-o", dest, "-w",
                                 "%{size_download} %{time_total}", "--max-time", "30", url],
                 timeout=40)
    size, secs = cp.stdout.split()
    with open(dest, "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    return {"bytes": int(float(size)), "seconds": float(secs), "sha256": got, "ok": got == want}


def main():
    if os.geteuid() != 0:
        print("scripts/demo: run as root (network namespaces, veths)", file=sys.stderr)
        return 1
    t_start = time.monotonic()
    lab = f"demo{os.getpid() % 100000}"
    work = tempfile.mkdtemp(prefix="pathlab-demo-")
    http = None
    up = False
    summary = None
    res = {}

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    rc = 1
    try:
        prepare()
        t = T.parse_file(TOPO)
        s4, s6 = t.address("server", "ip4"), t.address("server", "ip6")

        step(f"scripts/lab up default --name {lab}")
        up = True    # from here on `down` runs, also if `up` itself is interrupted
        cp = subprocess.run([LAB, "up", TOPO, "--name", lab], capture_output=True, text=True,
                            timeout=90)
        if cp.returncode != 0:
            up = False   # a failed `up` removes what it created
            raise DemoError(f"lab up failed:\n{cp.stdout}{cp.stderr}")
        for ln in cp.stdout.splitlines()[1:]:
            if ln.startswith("  host") or ln.startswith("  router") or "      eth" in ln:
                print("   " + ln)

        step(f"ping {s4} and {s6} from the client")
        res["ping4"] = parse_ping(in_host(lab, "client", ["ping", "-4", "-n", "-c", "5", "-i",
                                                          "0.2", "-W", "2", s4], check=False).stdout)
        res["ping6"] = parse_ping(in_host(lab, "client", ["ping", "-6", "-n", "-c", "5", "-i",
                                                          "0.2", "-W", "2", s6], check=False).stdout)

        step("traceroute (3 probes per hop)")
        res["trace4"] = parse_traceroute(in_host(lab, "client", [
            "traceroute", "-4", "-n", "-q", "3", "-w", "2", "-m", "8", s4], check=False).stdout)
        res["trace6"] = parse_traceroute(in_host(lab, "client", [
            "traceroute", "-6", "-n", "-q", "3", "-w", "2", "-m", "8", s6], check=False).stdout)

        step(f"HTTP: python3 -m http.server in the server, curl a {SIZE / 1e6:.0f} MB file")
        blob = os.path.join(work, "blob.bin")
        with open(blob, "wb") as f:
            f.write(os.urandom(SIZE))
        with open(blob, "rb") as f:
            want = hashlib.sha256(f.read()).hexdigest()
        http = subprocess.Popen([LAB, "exec", "-l", lab, "server", "--", "/usr/bin/python3",
                                 "-m", "http.server", str(PORT), "--bind", "::",
                                 "--directory", work],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL)
        url4 = f"http://{s4}:{PORT}/blob.bin"
        url6 = f"http://[{s6}]:{PORT}/blob.bin"
        wait_http(lab, url4)
        res["http4"] = transfer(lab, url4, os.path.join(work, "got4.bin"), want)
        res["http6"] = transfer(lab, url6, os.path.join(work, "got6.bin"), want)
        res["sha256"] = want
        rc = 0
    except KeyboardInterrupt as e:
        step(f"interrupted ({e or 'SIGINT'}): tearing down")
        rc = 130
    except (DemoError, subprocess.TimeoutExpired, OSError) as e:
        step(f"FAILED: {e}")
        rc = 1
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        if http is not None and http.poll() is None:
            http.terminate()      # `down` also ends every process left in the namespaces
            try:
                http.wait(5)
            except subprocess.TimeoutExpired:
                http.kill()
        if up:
            step(f"scripts/lab down {lab}")
            cp = subprocess.run([LAB, "down", lab], capture_output=True, text=True, timeout=60)
            if cp.returncode != 0 and "no lab named" not in cp.stderr:
                print(cp.stdout + cp.stderr, file=sys.stderr)
                rc = rc or 1
            for ln in reversed(cp.stdout.strip().splitlines()):
                if ln.startswith("{"):
                    try:
                        summary = json.loads(ln)
                    except ValueError:
                        pass
                    break
        shutil.rmtree(work, ignore_errors=True)
    if rc == 0:
        rc = report(t, res, summary, time.monotonic() - t_start)
    return rc


def report(t, res, summary, elapsed):
    ok = True
    print()
    print("=" * 78)
    print("pathlab demo: client - r1 - r2 - r3 - server (topologies/default.yaml)")
    print("=" * 78)
    for fam, key in (("IPv4", "trace4"), ("IPv6", "trace6")):
        hops = res.get(key, [])
        print(f"traceroute {fam}:")
        for hop, addr, rtts in hops:
            r = " ".join(f"{x:.3f}" for x in rtts) or "no answer"
            print(f"  {hop:>2}  {addr:<16} {owner(t, addr):<9} {r} ms")
        routers = [a for _, a, _ in hops if owner(t, a) not in ("server", "client", "?")]
        good = len(routers) == 3 and hops and owner(t, hops[-1][1]) == "server"
        ok &= bool(good)
        print(f"      {'OK' if good else 'UNEXPECTED'}: {len(routers)} router hops, then "
              f"{'the server' if hops and owner(t, hops[-1][1]) == 'server' else 'no server'}")
    for fam, key in (("IPv4", "ping4"), ("IPv6", "ping6")):
        p = res[key]
        good = p["received"] == p["sent"] > 0
        ok &= good
        rtt = (f"rtt min/avg/max {p['min']:.3f}/{p['avg']:.3f}/{p['max']:.3f} ms"
               if p["avg"] is not None else "no rtt")
        print(f"ping {fam}: {p['received']}/{p['sent']} answered, {rtt}")
    for fam, key in (("IPv4", "http4"), ("IPv6", "http6")):
        h = res[key]
        rate = h["bytes"] * 8 / h["seconds"] / 1e6 if h["seconds"] > 0 else 0
        ok &= h["ok"] and h["bytes"] == SIZE
        print(f"http {fam}: {h['bytes'] / 1e6:.1f} MB in {h['seconds']:.2f} s = {rate:.0f} Mbit/s,"
              f" sha256 {'matches' if h['ok'] else 'DIFFERS'} ({h['sha256'][:16]}...)")
    if summary is None:
        print("routers: no JSON summary from pathlab")
        ok = False
    else:
        print(f"routers (pathlab JSON summary after {summary.get('seconds', 0):.1f} s):")
        for r in summary.get("routers", []):
            acc = r.get("accounting", {})
            nz = ", ".join(f"{k} {v}" for k, v in r.get("drops", {}).items() if v)
            ports = "  ".join(f"{p['name']} rx {p['rx_packets']} tx {p['tx_packets']}"
                              for p in r.get("ports", []))
            print(f"  {r['id']}: {ports}")
            ident = acc.get("rx") == acc.get("tx", 0) + acc.get("drops", 0) + acc.get("consumed", 0)
            bal = acc.get("balanced") is True and ident
            ok &= bal
            print(f"      rx {acc.get('rx')} = tx {acc.get('tx')} + drops {acc.get('drops')}"
                  f" + consumed {acc.get('consumed')}: {'balanced' if bal else 'NOT BALANCED'}"
                  + (f"   (drops: {nz})" if nz else ""))
    print(f"demo {'PASSED' if ok else 'FAILED'} in {elapsed:.1f}s; lab torn down")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

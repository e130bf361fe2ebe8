"""Readers for the output of the tools run in lab hosts (ping, traceroute)."""

import ipaddress
import re


def parse_ping(out):
    """{sent, received, min, avg, max} (ms, None without replies) from `ping` output."""
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    r = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms", out)
    return {"sent": int(m.group(1)) if m else 0, "received": int(m.group(2)) if m else 0,
            "min": float(r.group(1)) if r else None, "avg": float(r.group(2)) if r else None,
            "max": float(r.group(3)) if r else None}


def parse_traceroute(out):
    """[(hop, [addresses], [rtt ms], [annotations such as '!X'])] from `traceroute -n`."""
    hops = []
    for ln in out.splitlines():
        m = re.match(r"^\s*(\d+)\s+(.*)$", ln)
        if not m:
            continue
        addrs, rtts, marks = [], [], []
        for tok in m.group(2).split():
            if tok.startswith("!"):
                marks.append(tok)
                continue
            try:
                addrs.append(str(ipaddress.ip_address(tok)))
                continue
            except ValueError:
                pass
            try:
                rtts.append(float(tok))
            except ValueError:
                pass
        hops.append((int(m.group(1)), addrs, rtts, marks))
    return hops

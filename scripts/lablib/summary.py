"""pathlab's JSON summary (the last line of its stdout): reading it, finding
routers, ports and counters in it, and checking its accounting.

Stage counters are named by stage, `<router>.<port>.<dir>.<name>.<counter>`
(e.g. `r1.p0.ingress.ecn.bleached`) in a router's `drops` or `events`; router
drop reasons (`fwd/ttl_exceeded`) have no dots.
"""

import json


class SummaryError(AssertionError):
    pass


def parse_summary(path):
    """The summary from a pathlab stdout file, or None."""
    try:
        with open(path, errors="replace") as f:
            lines = [ln.strip() for ln in f if ln.strip()]
    except OSError:
        return None
    return last_summary(lines[-5:])


def last_summary(lines):
    """The last line of `lines` that is a pathlab summary (or a replay's), parsed; else None."""
    for ln in reversed(list(lines)):
        if ln.startswith("{"):
            try:
                s = json.loads(ln)
            except ValueError:
                continue
            if s.get("pathlab") in ("summary", "replay"):
                return s
    return None


def router_summary(summary, rid):
    for r in summary.get("routers", []):
        if r.get("id") == rid:
            return r
    raise SummaryError(f"router {rid} not in summary")


def port_summary(summary, rid, port):
    for p in router_summary(summary, rid).get("ports", []):
        if p.get("name") == port:
            return p
    raise SummaryError(f"port {rid}.{port} not in summary")


def drop_count(summary, rid, name):
    d = router_summary(summary, rid).get("drops", {})
    if name not in d:
        raise SummaryError(f"{rid}: no drop reason named {name!r}; have {sorted(d)}")
    return d[name]


def stage_counters(router):
    """{path: value} of one router summary's stage counters (drops and events)."""
    prefix = router.get("id", "") + "."
    return {k: v for table in ("events", "drops") for k, v in router.get(table, {}).items()
            if k.startswith(prefix)}


def stage_counter(summary, *path):
    """A stage counter by its full path ("r1.p0.ingress.ecn.bleached") or by its pieces
    (router, port, dir, name, counter)."""
    key = ".".join(str(p) for p in path)
    rid = key.split(".", 1)[0]
    have = stage_counters(router_summary(summary, rid))
    if key not in have:
        raise SummaryError(f"no stage counter {key!r}; {rid} has {sorted(have)}")
    return have[key]


def accounting_problems(r):
    """What is wrong with one router's accounting: [] when rx + created = tx + drops + consumed
    + held (created: copies stages made; held: packets stages hold right now) and the summary's
    own `accounting` agrees."""
    rid, acc, ports = r.get("id"), r.get("accounting", {}), r.get("ports", [])
    rx = sum(p["rx_packets"] for p in ports)
    tx = sum(p["tx_packets"] for p in ports)
    drops = sum(r.get("drops", {}).values())
    consumed, held, created = r.get("consumed"), r.get("held", 0), r.get("created", 0)
    out = [f"{rid}: accounting.{k}={acc.get(k)} but computed {want}"
           for k, want in (("rx", rx), ("tx", tx), ("drops", drops), ("consumed", consumed),
                           ("held", held), ("created", created))
           if acc.get(k, 0 if k in ("held", "created") else None) != want]
    if acc.get("balanced") is not True:
        out.append(f"{rid}: accounting.balanced is {acc.get('balanced')}")
    if consumed is None or rx + created != tx + drops + consumed + held:
        out.append(f"{rid}: rx {rx} + created {created} != tx {tx} + drops {drops} "
                   f"+ consumed {consumed} + held {held}")
    return out


def check_accounting(summary, log=None):
    """rx + created == tx + drops + consumed + held for every router, and the totals agree."""
    problems = []
    for r in summary.get("routers", []):
        if log:
            acc = r.get("accounting", {})
            nz = {k: v for k, v in r.get("drops", {}).items() if v}
            log(f"{r.get('id')}: rx={acc.get('rx')} tx={acc.get('tx')} drops={acc.get('drops')} "
                f"consumed={acc.get('consumed')} held={acc.get('held', 0)} nonzero drops={nz}")
        problems += accounting_problems(r)
    # Every mbuf is back in the pool after the drain: pathlab closes its ports before it writes
    # the summary, so the PMDs hold none (the baseline is 0; lcore caches count as free).
    mbufs = summary.get("mbufs")
    if mbufs is None or mbufs.get("in_use") != 0:
        problems.append(f"mbufs in use after the drain: {mbufs}")
    if problems:
        raise SummaryError("accounting broken:\n  " + "\n  ".join(problems))


def check_no_checksum_drops(summary):
    """Drops for bad checksums must stay zero (offloads are off in a lab)."""
    bad = [f"{r['id']}: {k}={v}" for r in summary.get("routers", [])
           for k, v in r.get("drops", {}).items() if v and ("checksum" in k or "cksum" in k)]
    if bad:
        raise SummaryError("unexpected checksum drops: " + ", ".join(bad))


def print_summary(summary, say=print):
    for r in summary.get("routers", []):
        acc = r.get("accounting", {})
        nz = {k: v for k, v in r.get("drops", {}).items() if v}
        say(f"  {r.get('id')}: rx={acc.get('rx')} tx={acc.get('tx')} drops={acc.get('drops')} "
            f"consumed={acc.get('consumed')} held={acc.get('held', 0)} "
            f"balanced={acc.get('balanced')}"
            + (f" drops: {nz}" if nz else ""))
        for p in r.get("ports", []):
            say(f"      {p.get('name'):<10} rx {p.get('rx_packets')} pkts {p.get('rx_bytes')} B"
                f"   tx {p.get('tx_packets')} pkts {p.get('tx_bytes')} B")

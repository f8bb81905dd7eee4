#!/usr/bin/env python3
"""Benchmark peer: GNU adns `adnshost -a -f -t mx` fed in batches.

adnshost's `mx` type returns each exchanger with its addresses (A and AAAA),
but has no in-flight cap (it collapses under one big pipe), no implicit MX
and no null MX handling. This wrapper feeds BATCH names per adnshost process
(PARALLEL processes at a time), takes the domain part of `local@domain`
lines, and turns adnshost's answers into JSON Lines like `mxkit scan` (line,
input, domain, status, outcome, candidates, warnings) for the checker:
NXDOMAIN -> no_such_domain, NODATA -> no_mx (adns does no implicit MX), an
exchanger "." or other failed exchangers -> temporary/permanent as reported.

adns only talks to port 53: --server is an IPv4 address whose port 53 serves
the zone.

usage: adns_batches.py --server IP [--batch N] [--parallel P] INPUT OUTPUT
"""

import argparse
import concurrent.futures
import json
import shlex
import subprocess


def parse_block(lines):
    """adnshost -a output -> {id: (status, code_abbr, [(pref, exch, st, [addrs])])}."""
    results = {}
    i = 0
    while i < len(lines):
        head = shlex.split(lines[i])
        i += 1
        if len(head) < 6:
            continue
        qid, nrrs, status, _code, abbr = int(head[0]), int(head[1]), head[2], head[3], head[4]
        rrs = []
        for _ in range(nrrs):
            if i >= len(lines):
                break
            # OWNER MX PREF EXCH STATUS CODE ABBR "msg" ( INET a INET6 b ) | ?
            parts = shlex.split(lines[i])
            i += 1
            if len(parts) < 5 or parts[1] != "MX":
                continue
            pref, exch, st = int(parts[2]), parts[3].rstrip(".").lower() or ".", parts[4]
            addrs = []
            if "(" in parts:
                inner = parts[parts.index("(") + 1:]
                k = 0
                while k + 1 < len(inner) and inner[k] != ")":
                    if inner[k] in ("INET", "INET6"):
                        addrs.append(inner[k + 1])
                        k += 2
                    else:
                        k += 1
            rrs.append((pref, exch, st, addrs))
        results[qid] = (status, abbr, rrs)
    return results


def run_batch(server, batch):
    names = []
    for _, text in batch:
        dom = text.rsplit("@", 1)[1] if "@" in text else text
        names.append(dom)
    p = subprocess.run(
        ["adnshost", "--config", f"nameserver {server}", "-a", "-f", "-t", "mx"],
        input="".join("- " + n + "\n" for n in names), capture_output=True, text=True, errors="replace")
    res = parse_block(p.stdout.splitlines())
    out = []
    for idx, (line_no, text) in enumerate(batch):
        dom = names[idx].rstrip(".").lower()
        v = {"line": line_no, "input": text, "domain": dom, "status": "deliverable",
             "outcome": "mx", "candidates": [], "warnings": []}
        r = res.get(idx)
        if r is None:
            continue  # lost: adnshost printed nothing for it
        status, abbr, rrs = r
        if status == "ok":
            cands = []
            seen = set()
            soft = False
            for pref, exch, st, addrs in rrs:
                if st != "ok":
                    soft = soft or st == "tempfail"
                for a in addrs:
                    if a not in seen:
                        seen.add(a)
                        cands.append({"preference": pref, "exchanger": exch, "address": a})
            if cands:
                v["candidates"] = cands
            else:
                v["status"] = "temporary" if soft else "permanent"
                v["outcome"] = "dns_temporary" if soft else "no_usable_exchanger"
        elif abbr == "nxdomain":
            v["status"], v["outcome"] = "permanent", "no_such_domain"
        elif abbr == "nodata":
            v["status"], v["outcome"] = "permanent", "no_mx"
        elif status == "misquery":
            v["status"], v["outcome"], v["domain"] = "permanent", "invalid_address", text
        elif status == "tempfail":
            v["status"], v["outcome"] = "temporary", "dns_temporary"
        else:
            v["status"], v["outcome"] = "permanent", abbr
        out.append(v)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("input")
    p.add_argument("output")
    a = p.parse_args()
    batches, cur = [], []
    with open(a.input, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            t = line.strip()
            if t and not t.startswith("#"):
                cur.append((n, t))
                if len(cur) == a.batch:
                    batches.append(cur)
                    cur = []
    if cur:
        batches.append(cur)
    with open(a.output, "w", encoding="utf-8") as out, \
            concurrent.futures.ThreadPoolExecutor(a.parallel) as pool:
        for rows in pool.map(lambda b: run_batch(a.server, b), batches):
            for v in rows:
                out.write(json.dumps(v) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Turn one benchmark run's raw files into one JSON row (appended to results.jsonl).

Inputs (all optional except --name): /usr/bin/time -v output, the checker's
JSON report, server query counters before/after, server CPU ticks
before/after, UDP RcvbufErrors before/after, dnsperf's output, massdns's
status lines (`--status-format json` on stderr), mxkit's --stats file.
"""
import argparse
import json
import os
import re


def time_v(path):
    out = {}
    if not path or not os.path.exists(path):
        return out
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.strip()
        if line.startswith("User time (seconds):"):
            out["user"] = float(line.split(":")[1])
        elif line.startswith("System time (seconds):"):
            out["sys"] = float(line.split(":")[1])
        elif line.startswith("Maximum resident set size (kbytes):"):
            out["rss_kb"] = int(line.split(":")[1])
        elif line.startswith("Elapsed (wall clock) time"):
            t = line.rsplit(" ", 1)[1]
            parts = [float(x) for x in t.split(":")]
            wall = 0.0
            for x in parts:
                wall = wall * 60 + x
            out["wall"] = wall
        elif line.startswith("Exit status:"):
            out["exit"] = int(line.split(":")[1])
        elif line.startswith("Command terminated by signal"):
            out["signal"] = int(line.rsplit(" ", 1)[1])
    return out


def dnsperf(path):
    out = {}
    if not path or not os.path.exists(path):
        return out
    text = open(path, encoding="utf-8", errors="replace").read()
    for key, pat in [("sent", r"Queries sent:\s+(\d+)"),
                     ("completed", r"Queries completed:\s+(\d+)"),
                     ("lost", r"Queries lost:\s+(\d+)"),
                     ("qps", r"Queries per second:\s+([\d.]+)"),
                     ("run_time", r"Run time \(s\):\s+([\d.]+)")]:
        m = re.search(pat, text)
        if m:
            out[key] = float(m.group(1))
    return out


def massdns(path):
    """The last of massdns's status lines (one JSON object a second, the
    last one written when it is done): names read, replies received,
    lookups finished and those finished with an answer (NOERROR or
    NXDOMAIN)."""
    out = {}
    if not path or not os.path.exists(path):
        return out
    last = None
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            last = json.loads(line)
        except ValueError:
            continue
    if not last:
        return out
    for key, src in [("names", "processed_queries"), ("replies", "received_packets"),
                     ("finished", "finished_total"), ("answered", "success_total"),
                     ("mismatched", "mismatched_domains")]:
        if isinstance(last.get(src), (int, float)):
            out[key] = last[src]
    out["tries"] = last.get("failures", "")
    return out


def flat_numbers(v, prefix=""):
    if isinstance(v, dict):
        for k, x in v.items():
            yield from flat_numbers(x, f"{prefix}{k}.")
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        yield prefix[:-1], v


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--mode", default="direct")
    p.add_argument("--config", default="")
    p.add_argument("--time")
    p.add_argument("--check")
    p.add_argument("--lines", type=int, default=0, help="input lines fed")
    p.add_argument("--q-before", type=int, default=0)
    p.add_argument("--q-after", type=int, default=0)
    p.add_argument("--cpu-before", type=int, default=0)
    p.add_argument("--cpu-after", type=int, default=0)
    p.add_argument("--rcv-before", type=int, default=0)
    p.add_argument("--rcv-after", type=int, default=0)
    p.add_argument("--drops", type=int, default=0)
    p.add_argument("--busy", type=int, default=None, help="machine busy ticks during the run")
    p.add_argument("--knot-extra", type=int, default=0, help="knotd ticks when not the server")
    p.add_argument("--knot-queries", type=int, default=None, help="queries the main knotd got")
    p.add_argument("--dnsperf")
    p.add_argument("--massdns")
    p.add_argument("--stats")
    p.add_argument("--note", default="")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    row = {"name": a.name, "mode": a.mode, "config": a.config, "lines": a.lines, "note": a.note}
    row.update(time_v(a.time))
    if a.check and os.path.exists(a.check):
        try:
            row["check"] = json.load(open(a.check))
        except ValueError:
            pass
    row["server_queries"] = a.q_after - a.q_before
    hz = os.sysconf("SC_CLK_TCK")
    row["server_cpu"] = (a.cpu_after - a.cpu_before) / hz
    row["rcvbuf_errors"] = a.rcv_after - a.rcv_before
    row["server_drops"] = a.drops
    if a.knot_queries is not None and a.mode != "direct":
        row["upstream_queries"] = a.knot_queries
        row["upstream_cpu"] = a.knot_extra / hz
    if a.busy is not None:
        own = (row.get("user", 0) + row.get("sys", 0)) + row["server_cpu"] + a.knot_extra / hz
        row["other_cpu"] = max(0.0, a.busy / hz - own)
    if a.dnsperf:
        row["dnsperf"] = dnsperf(a.dnsperf)
    if a.massdns:
        row["massdns"] = massdns(a.massdns)
    if a.stats and os.path.exists(a.stats):
        try:
            st = json.load(open(a.stats))
            row["stats"] = dict(flat_numbers(st))
        except ValueError:
            pass
    with open(a.out, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

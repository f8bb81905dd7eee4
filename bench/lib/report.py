#!/usr/bin/env python3
"""Markdown report from results.jsonl (one row per tool run) and meta.json."""
import json
import sys


def f(x, nd=0):
    if x is None:
        return "–"
    if isinstance(x, float):
        if nd == 0:
            return f"{x:,.0f}"
        return f"{x:,.{nd}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def derive(r, meta):
    c = r.get("check") or {}
    d = dict(r)
    wall = r.get("wall")
    dp = r.get("dnsperf")
    if dp:
        d["domains"] = int(dp.get("sent", 0))
        d["lines"] = d["domains"]
        d["qps_client"] = dp.get("qps")
        d["lost"] = int(dp.get("lost", 0))
        d["correct"] = None
        run = dp.get("run_time") or wall
        d["qps_server"] = r["server_queries"] / run if run else None
        d["dps"] = None
    elif r.get("massdns") is not None:
        # massdns: MX for each name, like dnsperf. Lost: lookups that spent
        # their tries without an answer. A name read while the same name is
        # in flight joins that lookup (the mix's duplicates): finished counts
        # lookups, not names. Stopped early (no last status line, or the
        # time limit): every name without an answer.
        ms = r["massdns"]
        d["domains"] = int(ms.get("names") or r.get("lines") or 0)
        d["lines"] = d["domains"]
        if ms and r.get("exit") == 0 and not r.get("signal"):
            d["lost"] = int(ms.get("finished", 0)) - int(ms.get("answered", 0))
        elif ms:
            d["lost"] = d["domains"] - int(ms.get("answered", 0))
        else:
            d["lost"] = None
        d["correct"] = None
        d["qps_server"] = r["server_queries"] / wall if wall else None
        d["dps"] = None
    else:
        d["domains"] = c.get("expected", 0)
        d["dps"] = d["domains"] / wall if wall else None
        d["qps_server"] = r["server_queries"] / wall if wall else None
        d["lost"] = c.get("missing")
        d["correct"] = c.get("correct")
    n = d["domains"] or 0
    d["qpd"] = r["server_queries"] / n if n else None
    cpu = (r.get("user") or 0) + (r.get("sys") or 0)
    d["cpu"] = cpu
    d["cpu_per_m"] = cpu / n * 1e6 if n else None
    d["rss_mb"] = r.get("rss_kb", 0) / 1024 if r.get("rss_kb") else None
    st = r.get("stats") or {}
    # mxkit --stats: queries sent, when the file has such a counter.
    q = None
    for k, v in st.items():
        kl = k.lower()
        if ("quer" in kl) and ("sent" in kl or kl.endswith("queries")) and "per" not in kl:
            q = v if q is None else max(q, v)
    d["stats_qpd"] = q / n if q and n else None
    return d


def rate_of(d):
    """The figure a run is ranked by: dnsperf's own queries/s, massdns's
    queries/s at the server, the others' domains/s."""
    if d.get("qps_client") is not None:
        return "qps_client", "queries/s"
    if d.get("massdns") is not None:
        return "qps_server", "queries/s (server)"
    return "dps", "domains/s"


def medians(rows):
    """One row per (mode, tool, config): with `bench/run --repeat N`, the
    median run by its speed (rate_of), with every run's figure in `reps`."""
    groups = {}
    for d in rows:
        groups.setdefault((d["mode"], d["name"], d["config"]), []).append(d)
    out = []
    for g in groups.values():
        if len(g) == 1:
            out.append(g[0])
            continue
        metric, unit = rate_of(g[0])
        vals = [x.get(metric) or 0 for x in g]
        order = sorted(range(len(g)), key=lambda i: vals[i])
        m = dict(g[order[(len(g) - 1) // 2]])
        m["reps"] = vals
        m["rep_unit"] = unit
        # mxkit's own rate of routing (its --stats), without start-up such
        # as loading zone files.
        scan = [(x.get("stats") or {}).get("domains_per_second") for x in g]
        if all(v is not None for v in scan):
            m["scan_reps"] = scan
        # Completeness and correctness: the worst of the runs, not the median's.
        lost = [x["lost"] for x in g if x.get("lost") is not None]
        correct = [x["correct"] for x in g if x.get("correct") is not None]
        m["lost"] = max(lost) if lost else None
        m["correct"] = min(correct) if correct else None
        out.append(m)
    return out


def per_query(rows, meta):
    """The per-query cost table: dnsperf, massdns and mxkit (and a
    baseline's mxkit@REV) straight to Knot in this run, each at its
    fastest configuration."""
    names = ["dnsperf", "massdns", "mxkit"]
    names += sorted({d["name"] for d in rows if d["name"].startswith("mxkit@")})
    picked = []
    for name in names:
        cands = [d for d in rows if d["mode"] == "direct" and d["name"] == name]
        if cands:
            key = rate_of(cands[0])[0]
            picked.append(max(cands, key=lambda d: d.get(key) or 0))
    if not picked:
        return []
    out = ["Per-query cost (direct to Knot, each tool at its fastest configuration of this run):\n"]
    hdr = ["Tool", "Config", "Queries/s", "Counted by", "Queries", "Domains", "Queries/domain",
           "Client CPU s (u+s)", "CPU µs per query", "CPU µs per domain", "Lost"]
    out.append("| " + " | ".join(hdr) + " |")
    out.append("|" + "---|" * len(hdr))
    for d in picked:
        n = d["domains"] or 0
        # dnsperf's rate over its own run time (its wall time ends with a
        # wait for late answers); the others' over their wall time.
        span = (d.get("dnsperf") or {}).get("run_time") or d.get("wall")
        q, by = d["server_queries"], "Knot"
        if not q:
            dp, ms = d.get("dnsperf") or {}, d.get("massdns") or {}
            if dp:
                q, by = int(dp.get("sent", 0)), "dnsperf (sent)"
            elif ms:
                q, by = int(ms.get("replies", 0)), "massdns (replies)"
            elif d.get("stats_qpd") and n:
                q, by = round(d["stats_qpd"] * n), "mxkit --stats (sent)"
            else:
                q, by = None, "–"
        cpu = d["cpu"]
        per_q = f(cpu / q * 1e6, 2) if q else "–"
        # dnsperf keeps the core busy through its -t wait for lost answers:
        # its run time bounds what sending and receiving cost.
        run, sent = (d.get("dnsperf") or {}).get("run_time"), (d.get("dnsperf") or {}).get("sent")
        if run and sent and cpu > run:
            per_q += f" (≤ {f(run / sent * 1e6, 2)} over its run time)"
        row = [d["name"], d["config"], f(q / span) if q and span else "–", by, f(q), f(n),
               f(q / n, 3) if q and n else "–",
               f"{f(cpu, 1)} ({f(d.get('user'), 1)}+{f(d.get('sys'), 1)})",
               per_q, f(cpu / n * 1e6, 2) if n else "–", f(d["lost"])]
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append("- Queries: counted by Knot (mod-stats) where it counted any, else by the client "
               "(\"Counted by\" says which); queries/s over dnsperf's own run time, the others' "
               "wall time. Domain: a name asked for its MX (dnsperf, massdns) or an input line "
               "routed (mxkit: MX, then the exchangers' addresses). Client CPU: user + system "
               "time of the whole client process on core 1 (`/usr/bin/time -v`).")
    for d in picked:
        run = (d.get("dnsperf") or {}).get("run_time")
        if run and d["cpu"] > run:
            out.append(f"- dnsperf's CPU includes its `-t 5` wait for the answers it lost, during "
                       f"which it keeps the core busy ({f(d['cpu'], 1)} s of CPU against "
                       f"{f(run, 2)} s of run time); on one core, its sending and receiving cost "
                       "at most its run time divided by the queries it sent (in brackets).")
    if meta.get("mxkit_direct"):
        base = meta.get("baseline_direct")
        out.append(f"- mxkit's direct runs: `{meta['mxkit_direct']}`"
                   + (" (the baseline's without it: its build has no such flag)" if base == "none"
                      else "")
                   + ".")
    out.append("")
    return out


def main():
    runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    meta = json.load(open(sys.argv[2]))
    runs = [derive(r, meta) for r in runs]
    rows = medians(runs)
    out = []
    mix = meta.get("mix", {})
    minq = mix.get("min_queries_per_line")
    out.append(f"### Run {meta.get('run')}\n")
    out.append(f"- Command: `{meta.get('command')}`")
    out.append(f"- Machine: {meta.get('machine')}")
    if meta.get("commit"):
        out.append(f"- mxkit built from: {meta['commit']}")
    out.append(f"- Mix: seed {mix.get('seed')}, {f(mix.get('domains'))} domains, "
               f"{f(mix.get('lines'))} input lines ({f(mix.get('expected'))} expect an output line), "
               f"minimum {minq:.3f} queries per line" if minq else "")
    out.append(f"- Server: {meta.get('server')}; client pinned to core 1 (`taskset -c 1`), "
               "measured with `/usr/bin/time -v`; queries counted at the server "
               "(Knot mod-stats; unbound `total.num.queries`).")
    deleg = [d for d in rows if d["mode"] == "unbound-deleg"]
    if deleg:
        out.append("- unbound-deleg rows: the same generator with `--with-delegations`: 2% of the "
                   "domains delegated to a silent server, 2% to one answering after 300-1500 ms, "
                   "1% to one dropping 30% of the questions (bench/peers/faultproxy.py in front of "
                   f"a second knotd); the first {f(max(d['lines'] for d in deleg))} input lines only.")
    out.append("- Lost: expected lines without an output line. Correct: output lines equal to the "
               "generator's expectation (mxkit: every field; peers: line, status, outcome, candidates). "
               "Rcvbuf err: the machine's UDP RcvbufErrors during the run. Resolver drops: unbound's "
               "requestlist exceeded + overwritten.")
    repeated = [d for d in rows if d.get("reps")]
    if repeated:
        out.append(f"- Each configuration ran {len(repeated[0]['reps'])} times; every row is its "
                   "median run (by dnsperf's queries/s, massdns's queries/s at the server, "
                   "the others' domains/s), except Lost "
                   "and Correct, the worst of the runs; the runs' figures are listed under "
                   "the table.")
    others = [d for d in runs if d.get("other_cpu") is not None]
    if others:
        worst = max(others, key=lambda d: d["other_cpu"] / d["wall"] if d.get("wall") else 0)
        out.append("- Other CPU: busy CPU time of the machine during a run minus the client's "
                   "and the servers' own (other processes, kernel threads, interrupts). Highest: "
                   f"{worst['other_cpu']:.1f} s over {worst.get('wall', 0):.1f} s ({worst['mode']} "
                   f"{worst['name']} {worst['config']}); a large share means the cores were shared.")
    out.append("")
    hdr = ["Mode", "Tool", "Config", "Lines", "Wall s", "Domains/s", "Queries/s (server)",
           "Queries/domain", "Client CPU s (u+s)", "CPU s per 1M", "Peak RSS MB", "Lost",
           "Correct", "Rcvbuf err", "Resolver drops", "Server CPU s", "Other CPU s"]
    out.append("| " + " | ".join(hdr) + " |")
    out.append("|" + "---|" * len(hdr))
    for d in rows:
        qps = d["qps_server"]
        if d.get("qps_client") is not None:
            qps_txt = f"{f(d['qps_client'])} (dnsperf) / {f(qps)}"
        else:
            qps_txt = f(qps)
        qpd = f(d["qpd"], 3)
        if d.get("stats_qpd"):
            qpd += f" (stats {d['stats_qpd']:.3f})"
        corr = "–"
        if d["correct"] is not None:
            exp = d["domains"] or 0
            corr = f"{f(d['correct'])}/{f(exp)}"
            if exp:
                corr += f" ({100.0 * d['correct'] / exp:.1f}%)"
        wall = d.get("wall")
        timed_out = d.get("exit") == 124 or d.get("signal")
        config = d["config"] + (f" (median of {len(d['reps'])})" if d.get("reps") else "")
        row = [d["mode"], d["name"], config, f(d["lines"]),
               (f(wall, 1) + (" (timeout)" if timed_out else "")) if wall else "–",
               f(d["dps"]), qps_txt, qpd,
               f"{f(d['cpu'], 1)} ({f(d.get('user'), 1)}+{f(d.get('sys'), 1)})",
               f(d["cpu_per_m"], 1), f(d["rss_mb"], 1), f(d["lost"]), corr,
               f(d["rcvbuf_errors"]),
               f(d.get("server_drops")) if d["mode"].startswith("unbound") else "–",
               f(d["server_cpu"], 1), f(d.get("other_cpu"), 1)]
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    if repeated:
        out.append("Runs:\n")
        for d in repeated:
            out.append(f"- {d['mode']} {d['name']} {d['config']}: "
                       + " / ".join(f(v) for v in d["reps"]) + f" {d['rep_unit']}")
        out.append("")
    out.extend(per_query(rows, meta))
    # Goals.
    def best(mode, name_prefix, key):
        cands = [d for d in rows if d["mode"] == mode and d["name"] == name_prefix
                 and d.get(key) is not None]
        return max(cands, key=lambda d: d[key]) if cands else None

    lines = []
    for mode in ("direct", "unbound", "unbound-deleg"):
        dp = best(mode, "dnsperf", "qps_client")
        mx = best(mode, "mxkit", "dps")
        if not dp or not mx:
            continue
        ratio = mx["qps_server"] / dp["qps_client"] if dp["qps_client"] else None
        eff = (mx["dps"] * minq / dp["qps_client"]) if (minq and dp["qps_client"]) else None
        lines.append(
            f"- {mode}: dnsperf best {f(dp['qps_client'])} q/s ({dp['config']}); mxkit best "
            f"{f(mx['dps'])} domains/s ({mx['config']}) at {f(mx['qps_server'])} server-counted q/s "
            f"({mx['qpd']:.3f} q/domain): ratio of queries/s = **{ratio:.2f}**; "
            f"domains/s × minimum q/line ({minq:.3f}) / dnsperf = **{eff:.2f}**; "
            f"domains/s / dnsperf names/s = {mx['dps'] / dp['qps_client']:.2f}.")
    # bench/run --baseline REV: the current build against REV's, row by row.
    for d in rows:
        if not d["name"].startswith("mxkit@"):
            continue
        cur = next((x for x in rows if x["mode"] == d["mode"] and x["name"] == "mxkit"
                    and x["config"] == d["config"]), None)
        if not cur or not d.get("dps") or not cur.get("dps"):
            continue
        spread = ""
        if cur.get("reps") and d.get("reps"):
            spread = (f" (runs: {' / '.join(f(v) for v in cur['reps'])} against "
                      f"{' / '.join(f(v) for v in d['reps'])})")
        lines.append(
            f"- {d['mode']} {d['config']}: this build {f(cur['dps'])} domains/s, "
            f"{d['name']} {f(d['dps'])}: **{cur['dps'] / d['dps']:.3f}x**{spread}; "
            f"CPU per 1M domains {f(cur['cpu_per_m'], 1)} s against {f(d['cpu_per_m'], 1)} s.")
    # Threads: the offline runs (no server in the way) on 1 thread and on
    # every core, by mxkit's own routing rate (--stats: the scan, without
    # loading the zone file, which is one thread's work before it) and by
    # wall time.
    zone = sorted((d for d in rows if d["name"] == "mxkit-zone" and "--threads" in d["config"]),
                  key=lambda d: int(d["config"].split("--threads")[1].split()[0]))
    if len(zone) >= 2 and zone[0].get("scan_reps") and zone[-1].get("scan_reps"):
        one, many = zone[0], zone[-1]
        med = lambda v: sorted(v)[(len(v) - 1) // 2]
        r1, rn = med(one["scan_reps"]), med(many["scan_reps"])
        lines.append(
            f"- threads, offline: {one['config'].split('--offline ')[1]} {f(r1)} domains/s "
            f"(runs {' / '.join(f(v) for v in one['scan_reps'])}), "
            f"{many['config'].split('--offline ')[1]} {f(rn)} domains/s "
            f"(runs {' / '.join(f(v) for v in many['scan_reps'])}), by --stats (routing only): "
            f"**{rn / r1:.2f}x**; by wall time with the zone file's loading: "
            f"{many['dps'] / one['dps']:.2f}x.")
    for d in rows:
        if d["name"] == "mxkit" or d["name"] == "mxkit-10x":
            lines.append(f"- {d['mode']} {d['name']} {d['config']}: lost {f(d['lost'])}, "
                         f"correct {f(d['correct'])}/{f(d['domains'])}, peak RSS {f(d['rss_mb'], 1)} MB.")
    for d in rows:
        if d["mode"] == "unbound" and d.get("upstream_queries") is not None and d["domains"]:
            lines.append(f"- unbound {d['name']} {d['config']}: unbound asked Knot "
                         f"{f(d['upstream_queries'])} times ({d['upstream_queries'] / d['domains']:.3f} "
                         f"per domain; Knot CPU {d.get('upstream_cpu', 0):.1f} s, unbound CPU "
                         f"{d['server_cpu']:.1f} s over {d.get('wall', 0):.1f} s).")
    if lines:
        out.append("Goal figures:\n")
        out.extend(lines)
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()

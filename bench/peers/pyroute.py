#!/usr/bin/env python3
"""Benchmark peer: full MX routing in Python asyncio, with dnspython or aiodns.

For every input line (blank lines and # comments skipped): parse the address
or domain, ask MX; NXDOMAIN -> no_such_domain; null MX (MX 0 .) -> null_mx;
NODATA -> implicit MX (the domain's own A and AAAA); otherwise A and AAAA of
every exchanger (IP-address exchangers skipped, CNAME exchangers followed and
flagged). Exchanger lookups are shared between domains (one lookup per
(name, type) per run, as a cache would). Output: JSON Lines like `mxkit scan`
(line, input, domain, status, outcome, candidates, warnings).

usage: pyroute.py --backend dnspython|aiodns --server IP:PORT [--window N]
                  [--timeout S] [--tries N] INPUT OUTPUT
"""

import argparse
import asyncio
import ipaddress
import json
import sys

NX, NODATA, TEMP = "nxdomain", "nodata", "temporary"


def parse(line):
    """(kind, value): ('domain', ascii) | ('literal', (text, ip)) | ('invalid', None)."""
    dom = line
    if "@" in line:
        local, dom = line.rsplit("@", 1)
        if not local or "@" in local:
            return "invalid", None
    if dom.startswith("[") and dom.endswith("]"):
        inner = dom[1:-1]
        try:
            if inner[:5].lower() == "ipv6:":
                ip = ipaddress.IPv6Address(inner[5:])
            else:
                ip = ipaddress.IPv4Address(inner)
        except ValueError:
            return "invalid", None
        return "literal", (dom, str(ip))
    d = dom[:-1] if dom.endswith(".") else dom
    if not d or any(not label for label in d.split(".")):
        return "invalid", None
    try:
        ipaddress.ip_address(d)
        return "invalid", None
    except ValueError:
        pass
    try:
        d = d.encode("idna").decode("ascii") if not d.isascii() else d
    except UnicodeError:
        return "invalid", None
    d = d.lower()
    if len(d) > 253:
        return "invalid", None
    for label in d.split("."):
        if (len(label) > 63 or label.startswith("-") or label.endswith("-")
                or not all(c.isalnum() or c == "-" for c in label)):
            return "invalid", None
    return "domain", d


class DnsPython:
    def __init__(self, ip, port, timeout, tries):
        import dns.asyncresolver
        import dns.resolver
        self.dns = dns
        r = dns.asyncresolver.Resolver(configure=False)
        r.nameservers = [ip]
        r.port = port
        r.timeout = timeout
        r.lifetime = timeout * tries
        r.use_edns(0, 0, 1232)
        r.retry_servfail = False
        self.r = r

    async def query(self, name, rtype):
        """(status, [(type, value)], cname?) status: ok / nxdomain / nodata / temporary."""
        dns = self.dns
        try:
            a = await self.r.resolve(name + ".", rtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            return NX, [], False
        except Exception:
            return TEMP, [], False
        cname = a.canonical_name != a.qname
        if a.rrset is None:
            return NODATA, [], cname
        out = []
        for rd in a.rrset:
            if rtype == "MX":
                out.append((rd.preference, rd.exchange.to_text(omit_final_dot=True).lower() or "."))
            else:
                out.append(rd.address)
        return "ok", out, cname


class AioDns:
    def __init__(self, ip, port, timeout, tries):
        import aiodns
        import pycares
        self.aiodns = aiodns
        self.pycares = pycares
        self.r = aiodns.DNSResolver(nameservers=[f"{ip}:{port}"], timeout=timeout, tries=tries,
                                    flags=pycares.ARES_FLAG_NOSEARCH)
        self.types = {"MX": pycares.QUERY_TYPE_MX, "A": pycares.QUERY_TYPE_A,
                      "AAAA": pycares.QUERY_TYPE_AAAA}

    async def query(self, name, rtype):
        errno = self.aiodns.error
        try:
            res = await self.r.query_dns(name, rtype)
        except errno.DNSError as e:
            code = e.args[0] if e.args else None
            if code == errno.ARES_ENOTFOUND:
                return NX, [], False
            if code == errno.ARES_ENODATA:
                return NODATA, [], False
            return TEMP, [], False
        want = self.types[rtype]
        cname = False
        out = []
        for rec in res.answer:
            if rec.type == self.pycares.QUERY_TYPE_CNAME:
                cname = True
            elif rec.type == want:
                if rtype == "MX":
                    out.append((rec.data.priority, rec.data.exchange.rstrip(".").lower() or "."))
                else:
                    out.append(rec.data.addr)
        if not out:
            return NODATA, [], cname
        return "ok", out, cname


async def route(client, cache, line_no, text):
    v = {"line": line_no, "input": text, "domain": text, "status": "deliverable",
         "outcome": "mx", "candidates": [], "warnings": []}

    def fail(status, outcome):
        v["status"], v["outcome"], v["candidates"] = status, outcome, []
        return v

    kind, val = parse(text)
    if kind == "invalid":
        return fail("permanent", "invalid_address")
    if kind == "literal":
        lit, ip = val
        v["domain"], v["outcome"] = lit, "address_literal"
        v["candidates"] = [{"preference": 0, "exchanger": lit, "address": ip}]
        return v
    domain = val
    v["domain"] = domain
    status, mx, _ = await client.query(domain, "MX")
    warnings = []
    if status == NX:
        return fail("permanent", "no_such_domain")
    if status == TEMP:
        return fail("temporary", "dns_temporary")
    implicit = status == NODATA
    hosts = []
    if implicit:
        v["outcome"] = "implicit_mx"
        hosts.append((0, domain))
    else:
        mx.sort()
        if any(x == "." for _, x in mx):
            return fail("permanent", "null_mx")
        seen = set()
        for pref, x in mx:
            try:
                ipaddress.IPv4Address(x)
                warnings.append("mx_is_ip")
                continue
            except ValueError:
                pass
            if x not in seen:
                seen.add(x)
                hosts.append((pref, x))
        if not hosts:
            v["warnings"] = warnings
            return fail("permanent", "no_usable_exchanger")

    def lookup(name, rtype):
        # One lookup per (name, type) per run, shared by every domain.
        if implicit:
            return asyncio.ensure_future(client.query(name, rtype))
        key = (name, rtype)
        task = cache.get(key)
        if task is None:
            task = asyncio.ensure_future(client.query(name, rtype))
            cache[key] = task
        return task

    tasks = [(pref, x, lookup(x, "AAAA"), lookup(x, "A")) for pref, x in hosts]
    soft = False
    seen_addr = set()
    candidates = []
    for pref, x, t6, t4 in tasks:
        r6, r4 = await t6, await t4
        got = False
        for st, addrs, cname in (r6, r4):
            if st == TEMP:
                soft = True
            if cname and not implicit and "mx_is_cname" not in warnings:
                warnings.append("mx_is_cname")
            for a in addrs:
                got = True
                a = str(ipaddress.ip_address(a))
                if a not in seen_addr:
                    seen_addr.add(a)
                    candidates.append({"preference": pref, "exchanger": x, "address": a})
        if not got:
            if r6[0] == TEMP or r4[0] == TEMP:
                warnings.append("exchanger_lookup_failed")
            elif not implicit:
                warnings.append("exchanger_without_address")
    v["warnings"] = warnings
    if not candidates:
        return fail("temporary", "dns_temporary") if soft else fail("permanent", "no_usable_exchanger")
    v["candidates"] = candidates
    return v


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backend", choices=["dnspython", "aiodns"], default="dnspython")
    p.add_argument("--server", required=True)
    p.add_argument("--window", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=0.5)
    p.add_argument("--tries", type=int, default=5)
    p.add_argument("input")
    p.add_argument("output")
    a = p.parse_args()
    ip, port = a.server.rsplit(":", 1)
    cls = DnsPython if a.backend == "dnspython" else AioDns
    client = cls(ip, int(port), a.timeout, a.tries)
    cache = {}

    def lines():
        with open(a.input, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                t = line.strip()
                if t and not t.startswith("#"):
                    yield n, t

    it = lines()
    with open(a.output, "w", encoding="utf-8") as out:
        async def worker():
            for n, t in it:
                try:
                    v = await route(client, cache, n, t)
                except Exception as e:  # never drop a name
                    v = {"line": n, "input": t, "domain": t, "status": "temporary",
                         "outcome": "dns_temporary", "candidates": [], "warnings": [],
                         "error": repr(e)}
                out.write(json.dumps(v) + "\n")

        await asyncio.gather(*(worker() for _ in range(a.window)))


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)

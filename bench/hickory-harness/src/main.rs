//! Benchmark peer: MX routing of every input line with hickory-resolver 0.26,
//! the way a program built on the high-level library would do it:
//! `mx_lookup`, then `lookup_ip` (A and AAAA) per exchanger, implicit MX
//! (`lookup_ip` of the domain) on NODATA, null MX recognized, IP-address
//! exchangers skipped. Output: JSON Lines like `mxkit scan` (line, input,
//! domain, status, outcome, candidates, warnings) for the benchmark checker.
//!
//! hickory-harness --server IP:PORT [--window N] [--timeout-ms MS]
//!                 [--attempts N] [--cache N] INPUT OUTPUT

use std::collections::HashSet;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures::StreamExt;
use hickory_resolver::Resolver;
use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use serde_json::{Value, json};

type R = Resolver<TokioRuntimeProvider>;

struct Args {
    server: SocketAddr,
    window: usize,
    timeout_ms: u64,
    attempts: usize,
    cache: u64,
    input: String,
    output: String,
}

fn args() -> Args {
    let mut a = Args {
        server: "127.0.0.1:53".parse().unwrap(),
        window: 1000,
        timeout_ms: 500,
        attempts: 5,
        cache: 100_000,
        input: String::new(),
        output: String::new(),
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut pos = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let next = || v.get(i + 1).cloned().expect("missing value");
        match v[i].as_str() {
            "--server" => a.server = next().parse().expect("--server IP:PORT"),
            "--window" => a.window = next().parse().expect("--window N"),
            "--timeout-ms" => a.timeout_ms = next().parse().expect("--timeout-ms N"),
            "--attempts" => a.attempts = next().parse().expect("--attempts N"),
            "--cache" => a.cache = next().parse().expect("--cache N"),
            other => {
                pos.push(other.to_string());
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    assert!(
        pos.len() == 2,
        "usage: hickory-harness [options] INPUT OUTPUT"
    );
    a.input = pos[0].clone();
    a.output = pos[1].clone();
    a
}

enum Parsed {
    Domain(String),
    Literal(IpAddr, String),
    Invalid,
}

/// A light version of an address parser: `local@domain` or a domain; no
/// IDNA (hickory's `Name::from_utf8` does the conversion).
fn parse(line: &str) -> Parsed {
    let bad = || Parsed::Invalid;
    let dom = match line.rsplit_once('@') {
        Some((local, d)) => {
            if local.is_empty() || local.contains('@') {
                return bad();
            }
            d
        }
        None => line,
    };
    if let Some(inner) = dom.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let ip = if let Some(v6) = inner.strip_prefix("IPv6:") {
            v6.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
        } else {
            inner.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
        };
        return match ip {
            Some(ip) => Parsed::Literal(ip, dom.to_string()),
            None => bad(),
        };
    }
    let d = dom.strip_suffix('.').unwrap_or(dom);
    if d.is_empty() || d.parse::<IpAddr>().is_ok() || d.split('.').any(str::is_empty) {
        return bad();
    }
    let Ok(name) = Name::from_utf8(d) else {
        return bad();
    };
    let ascii = name.to_ascii().trim_end_matches('.').to_ascii_lowercase();
    for label in ascii.split('.') {
        if label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return bad();
        }
    }
    Parsed::Domain(ascii)
}

fn fail(v: &mut Value, status: &str, outcome: &str) {
    v["status"] = json!(status);
    v["outcome"] = json!(outcome);
    v["candidates"] = json!([]);
}

fn temporary(e: &NetError) -> bool {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(nr)) => !matches!(
            nr.response_code,
            ResponseCode::NXDomain | ResponseCode::NoError
        ),
        _ => true,
    }
}

async fn route(r: &R, line: usize, input: String) -> Value {
    let mut v = json!({"line": line, "input": input, "domain": input, "status": "deliverable",
        "outcome": "mx", "candidates": [], "warnings": []});
    let domain = match parse(&input) {
        Parsed::Invalid => {
            fail(&mut v, "permanent", "invalid_address");
            return v;
        }
        Parsed::Literal(ip, text) => {
            v["domain"] = json!(text);
            v["outcome"] = json!("address_literal");
            v["candidates"] =
                json!([{"preference": 0, "exchanger": text, "address": ip.to_string()}]);
            return v;
        }
        Parsed::Domain(d) => d,
    };
    v["domain"] = json!(domain);
    let fqdn = format!("{domain}.");
    let mut warnings: Vec<&str> = Vec::new();
    let mut hosts: Vec<(u16, String)> = Vec::new();
    let implicit;
    match r.mx_lookup(fqdn.as_str()).await {
        Ok(lookup) => {
            let mut mx: Vec<(u16, Name)> = lookup
                .answers()
                .iter()
                .filter_map(|rec| match &rec.data {
                    RData::MX(m) => Some((m.preference, m.exchange.clone())),
                    _ => None,
                })
                .collect();
            mx.sort_by_key(|(p, _)| *p);
            if mx.iter().any(|(_, n)| n.is_root()) {
                fail(&mut v, "permanent", "null_mx");
                return v;
            }
            implicit = mx.is_empty();
            let mut seen = HashSet::new();
            for (p, n) in mx {
                let text = n.to_ascii().trim_end_matches('.').to_ascii_lowercase();
                if text.parse::<Ipv4Addr>().is_ok() {
                    warnings.push("mx_is_ip");
                    continue;
                }
                if seen.insert(text.clone()) {
                    hosts.push((p, text));
                }
            }
            if implicit {
                hosts.push((0, domain.clone()));
            } else if hosts.is_empty() {
                fail(&mut v, "permanent", "no_usable_exchanger");
                v["warnings"] = json!(warnings);
                return v;
            }
        }
        Err(e) if e.is_nx_domain() => {
            fail(&mut v, "permanent", "no_such_domain");
            return v;
        }
        Err(e) if e.is_no_records_found() && !temporary(&e) => {
            implicit = true;
            hosts.push((0, domain.clone()));
        }
        Err(_) => {
            fail(&mut v, "temporary", "dns_temporary");
            return v;
        }
    }
    let lookups = futures::future::join_all(
        hosts
            .iter()
            .map(|(_, h)| async move { r.lookup_ip(format!("{h}.").as_str()).await }),
    )
    .await;
    let mut candidates = Vec::new();
    let mut soft = false;
    let mut addrs = HashSet::new();
    for ((p, h), res) in hosts.iter().zip(lookups) {
        match res {
            Ok(ips) => {
                if !implicit
                    && ips
                        .as_lookup()
                        .answers()
                        .iter()
                        .any(|rec| rec.record_type() == RecordType::CNAME)
                {
                    warnings.push("mx_is_cname");
                }
                for ip in ips.iter() {
                    if addrs.insert(ip) {
                        candidates.push(
                            json!({"preference": p, "exchanger": h, "address": ip.to_string()}),
                        );
                    }
                }
            }
            Err(e) => {
                if temporary(&e) {
                    soft = true;
                    warnings.push("exchanger_lookup_failed");
                } else if !implicit {
                    warnings.push("exchanger_without_address");
                }
            }
        }
    }
    v["warnings"] = json!(warnings);
    if implicit {
        v["outcome"] = json!("implicit_mx");
    }
    if candidates.is_empty() {
        if soft {
            fail(&mut v, "temporary", "dns_temporary");
        } else {
            fail(&mut v, "permanent", "no_usable_exchanger");
        }
    } else {
        v["candidates"] = json!(candidates);
    }
    v
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut ns = NameServerConfig::udp_and_tcp(a.server.ip());
        for c in &mut ns.connections {
            c.port = a.server.port();
        }
        let config = ResolverConfig::from_name_servers(vec![ns]);
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_millis(a.timeout_ms);
        opts.attempts = a.attempts;
        opts.cache_size = a.cache;
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        opts.max_active_requests = a.window.max(32);
        opts.recursion_desired = true;
        opts.edns0 = true;
        opts.ndots = 0;
        let resolver: R = Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .expect("resolver");
        let input = BufReader::new(std::fs::File::open(&a.input).expect("input"));
        let mut out = BufWriter::new(std::fs::File::create(&a.output).expect("output"));
        let lines = input.lines().enumerate().filter_map(|(i, l)| {
            let l = l.expect("read");
            let t = l.trim();
            (!t.is_empty() && !t.starts_with('#')).then(|| (i + 1, t.to_string()))
        });
        let resolver = &resolver;
        let mut results = futures::stream::iter(lines)
            .map(|(n, l)| route(resolver, n, l))
            .buffer_unordered(a.window);
        while let Some(v) = results.next().await {
            writeln!(out, "{v}").expect("write");
        }
        out.flush().expect("flush");
    });
}

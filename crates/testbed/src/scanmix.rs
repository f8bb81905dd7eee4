//! The generated input mix for `mxkit scan` and its benchmark: one zone
//! (`scan.test.`), an input list and the expected answer for every input line,
//! made together from a seed (BENCHMARKS.md, the mix).
//!
//! Words:
//! - a **domain** is one generated name `dNNNNNNN.scan.test` of one [`Kind`]
//!   (MX into the shared pool, implicit MX, null MX, NXDOMAIN, ...);
//! - a **line** is one line of `input.txt`: a domain as written (sometimes in
//!   upper case, with a final dot, as an address `postmaster@...`, or a
//!   duplicate of an earlier one), an invalid name, an address literal, or a
//!   comment or blank line (no output expected, but it counts for numbering);
//! - an **expectation** is the routing result one line must produce, with the
//!   route's semantics (`mxkit::route`): `input`, `line` (1-based over all
//!   lines), `domain`, `status`, `outcome`, `candidates` as a sorted list of
//!   `"PREF EXCHANGER ADDRESS"` strings and `warnings` as a sorted list of
//!   codes.
//!
//! Addresses come from the documentation ranges (192.0.2.0/24,
//! 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32), never loopback: route
//! counts loopback addresses as this host. Addresses of the exchangers of one
//! domain are distinct (no `duplicate_address` warnings).
//!
//! [`Mix::generate`] builds everything in memory (tests); [`write_mix`]
//! streams a large mix to files without holding the expectations as JSON
//! values; [`check_files`] compares an output file with `expected.jsonl` in
//! bounded memory (a hash per line).

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use serde_json::{Map, Value, json};

/// The zone every generated domain lives in.
pub const ZONE: &str = "scan.test.";
/// TTL of every generated record.
pub const TTL: u32 = 3600;
/// Negative TTL (SOA minimum).
pub const NEGATIVE_TTL: u32 = 300;

/// The fields [`check`](Mix::check) compares by default.
pub const ALL_FIELDS: &[&str] = &[
    "input",
    "line",
    "domain",
    "status",
    "outcome",
    "candidates",
    "warnings",
];

/// What a generated domain is (BENCHMARKS.md, the mix).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// 1-3 MX records into the shared pool of exchangers (A + AAAA).
    Pool,
    /// One MX to an exchanger of its own (A + AAAA).
    Unique,
    /// No MX, has A and/or AAAA: implicit MX.
    Implicit,
    /// No MX, no address (a TXT record only): NODATA, no route.
    NoAddress,
    /// `MX 0 .`.
    NullMx,
    /// Not in the zone: NXDOMAIN.
    NxDomain,
    /// An MX to an exchanger that does not exist (half of them alone, half
    /// next to a pool exchanger).
    MissingExchanger,
    /// The exchanger is a CNAME to a pool exchanger.
    CnameExchanger,
    /// The exchanger is an IP address (half alone, half next to a pool exchanger).
    IpExchanger,
    /// 18-22 MX records with long names: the UDP answer (EDNS 1232) is
    /// truncated, the answer must come over TCP.
    LargeMx,
    /// Delegated to a dead server (only with [`Delegations`]).
    Dead,
    /// Delegated to a slow server (only with [`Delegations`]).
    Slow,
    /// Delegated to a lossy server (only with [`Delegations`]).
    Lossy,
}

impl Kind {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pool => "pool",
            Kind::Unique => "unique",
            Kind::Implicit => "implicit",
            Kind::NoAddress => "no_address",
            Kind::NullMx => "null_mx",
            Kind::NxDomain => "nxdomain",
            Kind::MissingExchanger => "missing_exchanger",
            Kind::CnameExchanger => "cname_exchanger",
            Kind::IpExchanger => "ip_exchanger",
            Kind::LargeMx => "large_mx",
            Kind::Dead => "dead",
            Kind::Slow => "slow",
            Kind::Lossy => "lossy",
        }
    }
}

/// Shares in 1/10000 (sum 10000). Without delegations the delegated shares
/// go to the pool.
fn shares(delegations: bool) -> Vec<(Kind, usize)> {
    let mut v = vec![
        (Kind::Pool, 5500),
        (Kind::Unique, 500),
        (Kind::Implicit, 1500),
        (Kind::NoAddress, 300),
        (Kind::NullMx, 300),
        (Kind::NxDomain, 800),
        (Kind::MissingExchanger, 300),
        (Kind::CnameExchanger, 100),
        (Kind::IpExchanger, 100),
        (Kind::LargeMx, 100),
    ];
    if delegations {
        v.extend([(Kind::Dead, 200), (Kind::Slow, 200), (Kind::Lossy, 100)]);
    } else {
        v[0].1 += 500;
    }
    v
}

/// Where the delegated domains point (unbound mode of the benchmark): each
/// address is a name server on port 53 of a loopback address. `dead` must
/// not answer; `slow` and `lossy` must serve [`Mix::child_zones`] (with
/// delays, with loss).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delegations {
    /// Nothing answers here: SERVFAIL through a resolver, `dns_temporary`.
    pub dead: Ipv4Addr,
    /// Answers after 300-1500 ms.
    pub slow: Ipv4Addr,
    /// Drops about 30% of the questions.
    pub lossy: Ipv4Addr,
}

/// How to generate.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Add the delegated kinds ([`Kind::Dead`], [`Kind::Slow`], [`Kind::Lossy`]).
    pub with_delegations: Option<Delegations>,
}

/// One expectation, compact.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Expect {
    domain: String,
    status: &'static str,
    outcome: &'static str,
    candidates: Vec<String>,
    warnings: Vec<&'static str>,
}

impl Expect {
    fn new(domain: &str, status: &'static str, outcome: &'static str) -> Expect {
        Expect {
            domain: domain.to_string(),
            status,
            outcome,
            candidates: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn value(&self, line: usize, input: &str) -> Value {
        let mut candidates = self.candidates.clone();
        candidates.sort();
        let mut warnings = self.warnings.clone();
        warnings.sort_unstable();
        json!({
            "input": input,
            "line": line,
            "domain": self.domain,
            "status": self.status,
            "outcome": self.outcome,
            "candidates": candidates,
            "warnings": warnings,
        })
    }
}

/// Counts and costs of a generated mix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Generated domains.
    pub domains: usize,
    /// Input lines, comments and blank lines included.
    pub lines: usize,
    /// Lines that expect an output line.
    pub expected: usize,
    /// Domains per kind.
    pub kinds: Vec<(Kind, usize)>,
    /// Lines per variant (`plain`, `upper`, `dot`, `address`, `duplicate`,
    /// `invalid`, `idn`, `literal`, `comment`).
    pub variants: Vec<(&'static str, usize)>,
    /// The fewest queries that route every distinct name once (MX per
    /// domain, A and AAAA per exchanger asked once, TCP re-asks counted).
    pub min_queries: usize,
    /// Records in the zone(s).
    pub records: usize,
}

impl Summary {
    /// As JSON (written as `summary.json`).
    pub fn to_json(&self) -> Value {
        let kinds: Map<String, Value> = self
            .kinds
            .iter()
            .map(|(k, n)| (k.name().to_string(), json!(n)))
            .collect();
        let variants: Map<String, Value> = self
            .variants
            .iter()
            .map(|(k, n)| (k.to_string(), json!(n)))
            .collect();
        json!({
            "domains": self.domains,
            "lines": self.lines,
            "expected": self.expected,
            "kinds": kinds,
            "variants": variants,
            "min_queries": self.min_queries,
            "min_queries_per_line": if self.expected == 0 { 0.0 } else { self.min_queries as f64 / self.expected as f64 },
            "records": self.records,
        })
    }
}

/// A generated mix, in memory.
pub struct Mix {
    /// (zone name, zone text): what the authoritative server serves.
    pub zones: Vec<(String, String)>,
    /// (zone name, zone text) served by the slow and lossy delegated servers;
    /// empty without [`Delegations`].
    pub child_zones: Vec<(String, String)>,
    /// Every input line, comments and blank lines included.
    pub input: Vec<String>,
    /// One expectation per line that produces output, in line order.
    pub expected: Vec<Value>,
    /// Counts.
    pub summary: Summary,
}

impl Mix {
    /// The mix for `seed` with `domains` domains, without delegations.
    pub fn generate(seed: u64, domains: usize) -> Mix {
        Self::generate_with(seed, domains, &Options::default())
    }

    /// The mix for `seed` with `domains` domains.
    pub fn generate_with(seed: u64, domains: usize, opts: &Options) -> Mix {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        let (zone, child, summary) = run(seed, domains, opts, |line, text, exp| {
            input.push(text.to_string());
            if let Some(e) = exp {
                expected.push(e.value(line, text));
            }
        });
        Mix {
            zones: vec![(ZONE.to_string(), zone)],
            child_zones: child
                .map(|c| vec![(ZONE.to_string(), c)])
                .unwrap_or_default(),
            input,
            expected,
            summary,
        }
    }

    /// Write `NAME.zone` per zone (`scan.test.zone`), `child/NAME.zone` per
    /// child zone, `input.txt`, `expected.jsonl` and `summary.json` into `dir`
    /// (created when missing).
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)?;
        for (name, text) in &self.zones {
            fs::write(dir.join(zone_file_name(name)), text)?;
        }
        if !self.child_zones.is_empty() {
            fs::create_dir_all(dir.join("child"))?;
            for (name, text) in &self.child_zones {
                fs::write(dir.join("child").join(zone_file_name(name)), text)?;
            }
        }
        let mut w = BufWriter::new(fs::File::create(dir.join("input.txt"))?);
        for line in &self.input {
            writeln!(w, "{line}")?;
        }
        w.flush()?;
        let mut w = BufWriter::new(fs::File::create(dir.join("expected.jsonl"))?);
        for e in &self.expected {
            writeln!(w, "{e}")?;
        }
        w.flush()?;
        fs::write(
            dir.join("summary.json"),
            format!("{:#}\n", self.summary.to_json()),
        )
    }

    /// Compare `output` (parsed JSON lines in any order) with the
    /// expectations: exactly one output line per expected line (matched by
    /// `line`), each equal to its expectation on [`ALL_FIELDS`] after
    /// normalization (candidates as sorted `"PREF EXCHANGER ADDRESS"`
    /// strings, warnings as sorted codes). The error lists counts and the
    /// first differences.
    pub fn check(&self, output: &[Value]) -> Result<(), String> {
        self.check_fields(output, ALL_FIELDS)
    }

    /// [`check`](Mix::check) on the given fields only (`line` always matches).
    pub fn check_fields(&self, output: &[Value], fields: &[&str]) -> Result<(), String> {
        let mut checker = Checker::new(fields);
        for e in &self.expected {
            checker.expect_value(e);
        }
        for o in output {
            checker.output_value(o);
        }
        let report = checker.finish(|line| {
            self.expected
                .iter()
                .find(|e| e.get("line").and_then(Value::as_u64) == Some(line as u64))
                .cloned()
        });
        if report.ok() {
            Ok(())
        } else {
            Err(report.text())
        }
    }
}

fn zone_file_name(name: &str) -> String {
    format!("{}.zone", name.trim_end_matches('.'))
}

/// Generate and write a mix into `dir` without building JSON values for the
/// whole mix (1M domains in a few seconds): same files as [`Mix::write`].
pub fn write_mix(seed: u64, domains: usize, opts: &Options, dir: &Path) -> io::Result<Summary> {
    fs::create_dir_all(dir)?;
    let mut input = BufWriter::with_capacity(1 << 20, fs::File::create(dir.join("input.txt"))?);
    let mut expected =
        BufWriter::with_capacity(1 << 20, fs::File::create(dir.join("expected.jsonl"))?);
    let mut err: Option<io::Error> = None;
    let (zone, child, summary) = run(seed, domains, opts, |line, text, exp| {
        if err.is_some() {
            return;
        }
        let r = writeln!(input, "{text}").and_then(|()| match exp {
            Some(e) => writeln!(expected, "{}", e.value(line, text)),
            None => Ok(()),
        });
        if let Err(e) = r {
            err = Some(e);
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    input.flush()?;
    expected.flush()?;
    fs::write(dir.join(zone_file_name(ZONE)), zone)?;
    if let Some(child) = child {
        fs::create_dir_all(dir.join("child"))?;
        fs::write(dir.join("child").join(zone_file_name(ZONE)), child)?;
    }
    fs::write(
        dir.join("summary.json"),
        format!("{:#}\n", summary.to_json()),
    )?;
    Ok(summary)
}

// ---------------------------------------------------------------------------
// Generation

/// SplitMix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        ((self.next() >> 11) % n as u64) as usize
    }
    /// True with probability `per10k`/10000.
    fn chance(&mut self, per10k: usize) -> bool {
        self.below(10_000) < per10k
    }
}

/// IPv4 addresses of the pools: 192.0.2.1-254 then 198.51.100.1-254 (508).
fn pool_v4(i: usize) -> Ipv4Addr {
    let i = i % 508;
    if i < 254 {
        Ipv4Addr::new(192, 0, 2, (i + 1) as u8)
    } else {
        Ipv4Addr::new(198, 51, 100, (i - 254 + 1) as u8)
    }
}

/// IPv4 addresses of the domains' own hosts: 203.0.113.1-254.
fn own_v4(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, (i % 254 + 1) as u8)
}

/// IPv6 addresses: 2001:db8:NET::/48, host part from `i`.
fn v6(net: u16, i: usize) -> Ipv6Addr {
    Ipv6Addr::new(
        0x2001,
        0xdb8,
        net,
        0,
        0,
        0,
        (i >> 16) as u16,
        (i & 0xffff) as u16,
    )
}

fn domain_name(i: usize) -> String {
    format!("d{i:07}.scan.test")
}

fn pool_name(j: usize) -> String {
    format!("mx{j:04}.pool.scan.test")
}

fn big_label(j: usize) -> String {
    // 60 characters: long names make the answer exceed 1232 bytes.
    format!("exchanger-with-a-deliberately-long-name-to-overflow-udp-{j:04}")
}

fn big_name(j: usize) -> String {
    format!("{}.big.scan.test", big_label(j))
}

const BIG_POOL: usize = 400;

/// Names that must give `invalid_address` (each is its own `domain`).
const INVALID: &[&str] = &[
    "bad_label.scan.test",
    "double..dot.scan.test",
    "-leading-hyphen.scan.test",
    "trailing-hyphen-.scan.test",
    "192.0.2.1",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.scan.test",
    "user@@scan.test",
    "postmaster@[300.1.2.3]",
    "@scan.test",
    "exclaim!.scan.test",
];

/// IDN names in the zone: (U-label form, A-label form).
const IDN: &[(&str, &str)] = &[
    ("bücher.scan.test", "xn--bcher-kva.scan.test"),
    ("münchen.scan.test", "xn--mnchen-3ya.scan.test"),
];

struct Gen {
    rng: Rng,
    zone: String,
    child: Option<String>,
    records: usize,
    min_queries: usize,
    pool: usize,
}

impl Gen {
    fn rr(&mut self, owner: &str, rest: std::fmt::Arguments<'_>) {
        let _ = writeln!(self.zone, "{owner} {rest}");
        self.records += 1;
    }

    /// Pick `n` pool exchangers whose IPv4 addresses differ.
    fn pick_pool(&mut self, n: usize) -> Vec<usize> {
        let mut picked: Vec<usize> = Vec::with_capacity(n);
        while picked.len() < n {
            let j = self.rng.below(self.pool);
            if !picked.iter().any(|p| p % 508 == j % 508) {
                picked.push(j);
            }
        }
        picked
    }

    fn pool_candidates(pref: u16, j: usize, exchanger: &str, out: &mut Vec<String>) {
        out.push(format!("{pref} {exchanger} {}", pool_v4(j)));
        out.push(format!("{pref} {exchanger} {}", v6(1, j)));
    }

    // One arm per kind of the mix, each writing its records and expectation
    // side by side: split up, a kind's records and what a router must make
    // of them would no longer be read together.
    /// Zone records for domain `i` of `kind`, and its expectation.
    fn domain(&mut self, i: usize, kind: Kind) -> Expect {
        let owner = format!("d{i:07}");
        let dom = domain_name(i);
        let mut e = Expect::new(&dom, "deliverable", "mx");
        match kind {
            Kind::Pool => {
                let n = match self.rng.below(10) {
                    0..=3 => 1,
                    4..=7 => 2,
                    _ => 3,
                };
                for j in self.pick_pool(n) {
                    let pref = 10 * (1 + self.rng.below(3)) as u16;
                    self.rr(&owner, format_args!("MX {pref} mx{j:04}.pool.scan.test."));
                    Self::pool_candidates(pref, j, &pool_name(j), &mut e.candidates);
                }
                self.min_queries += 1;
            }
            Kind::Unique => {
                self.rr(&owner, format_args!("MX 10 mx.{owner}"));
                let (a, aaaa) = (own_v4(i), v6(3, i));
                self.rr(&format!("mx.{owner}"), format_args!("A {a}"));
                self.rr(&format!("mx.{owner}"), format_args!("AAAA {aaaa}"));
                let x = format!("mx.{dom}");
                e.candidates.push(format!("10 {x} {a}"));
                e.candidates.push(format!("10 {x} {aaaa}"));
                if self.rng.chance(5000) {
                    let j = self.pick_pool(1)[0];
                    self.rr(&owner, format_args!("MX 20 mx{j:04}.pool.scan.test."));
                    Self::pool_candidates(20, j, &pool_name(j), &mut e.candidates);
                }
                self.min_queries += 3;
            }
            Kind::Implicit => {
                e.outcome = "implicit_mx";
                let (a, aaaa) = (own_v4(i), v6(4, i));
                let which = self.rng.below(10);
                if which < 9 {
                    self.rr(&owner, format_args!("A {a}"));
                    e.candidates.push(format!("0 {dom} {a}"));
                }
                if which < 7 || which == 9 {
                    self.rr(&owner, format_args!("AAAA {aaaa}"));
                    e.candidates.push(format!("0 {dom} {aaaa}"));
                }
                self.min_queries += 3;
            }
            Kind::NoAddress => {
                self.rr(&owner, format_args!("TXT \"no mail, no address\""));
                e = Expect::new(&dom, "permanent", "no_usable_exchanger");
                self.min_queries += 3;
            }
            Kind::NullMx => {
                self.rr(&owner, format_args!("MX 0 ."));
                e = Expect::new(&dom, "permanent", "null_mx");
                self.min_queries += 1;
            }
            Kind::NxDomain => {
                e = Expect::new(&dom, "permanent", "no_such_domain");
                self.min_queries += 1;
            }
            Kind::MissingExchanger => {
                self.rr(&owner, format_args!("MX 10 gone.{owner}"));
                if self.rng.chance(5000) {
                    let j = self.pick_pool(1)[0];
                    self.rr(&owner, format_args!("MX 20 mx{j:04}.pool.scan.test."));
                    Self::pool_candidates(20, j, &pool_name(j), &mut e.candidates);
                } else {
                    e.status = "permanent";
                    e.outcome = "no_usable_exchanger";
                }
                e.warnings.push("exchanger_without_address");
                self.min_queries += 3;
            }
            Kind::CnameExchanger => {
                let j = self.pick_pool(1)[0];
                self.rr(&owner, format_args!("MX 10 alias.{owner}"));
                self.rr(
                    &format!("alias.{owner}"),
                    format_args!("CNAME mx{j:04}.pool.scan.test."),
                );
                Self::pool_candidates(10, j, &format!("alias.{dom}"), &mut e.candidates);
                e.warnings.push("mx_is_cname");
                self.min_queries += 3;
            }
            Kind::IpExchanger => {
                let ip = Ipv4Addr::new(192, 0, 2, (self.rng.below(254) + 1) as u8);
                self.rr(&owner, format_args!("MX 10 {ip}."));
                if self.rng.chance(5000) {
                    let j = self.pick_pool(1)[0];
                    self.rr(&owner, format_args!("MX 20 mx{j:04}.pool.scan.test."));
                    Self::pool_candidates(20, j, &pool_name(j), &mut e.candidates);
                } else {
                    e.status = "permanent";
                    e.outcome = "no_usable_exchanger";
                }
                e.warnings.push("mx_is_ip");
                self.min_queries += 1;
            }
            Kind::LargeMx => {
                let n = 18 + self.rng.below(5);
                let mut picked: Vec<usize> = Vec::with_capacity(n);
                while picked.len() < n {
                    let j = self.rng.below(BIG_POOL);
                    if !picked.contains(&j) {
                        picked.push(j);
                    }
                }
                for j in picked {
                    let pref = 10 * (1 + self.rng.below(4)) as u16;
                    let label = big_label(j);
                    self.rr(&owner, format_args!("MX {pref} {label}.big.scan.test."));
                    let x = big_name(j);
                    e.candidates.push(format!("{pref} {x} {}", pool_v4(j)));
                    e.candidates.push(format!("{pref} {x} {}", v6(2, j)));
                }
                // UDP (truncated), then TCP.
                self.min_queries += 2;
            }
            Kind::Dead => {
                self.rr(&owner, format_args!("NS ns-dead"));
                e = Expect::new(&dom, "temporary", "dns_temporary");
                // Through a resolver: the MX question only.
                self.min_queries += 1;
            }
            Kind::Slow | Kind::Lossy => {
                let ns = if kind == Kind::Slow {
                    "ns-slow"
                } else {
                    "ns-lossy"
                };
                self.rr(&owner, format_args!("NS {ns}"));
                let n = 1 + self.rng.below(2);
                let picked = self.pick_pool(n);
                let child = self.child.get_or_insert_with(String::new);
                for (k, j) in picked.into_iter().enumerate() {
                    let pref = 10 * (k as u16 + 1);
                    let _ = writeln!(child, "{owner} MX {pref} mx{j:04}.pool.scan.test.");
                    Self::pool_candidates(pref, j, &pool_name(j), &mut e.candidates);
                }
                self.min_queries += 1;
            }
        }
        e
    }
}

fn soa(zone: &mut String) {
    let _ = write!(
        zone,
        "$ORIGIN {ZONE}\n$TTL {TTL}\n@ SOA ns hostmaster 1 7200 900 1209600 {NEGATIVE_TTL}\n\
         @ NS ns\nns A 192.0.2.53\n"
    );
}

/// The kind of each domain: exact shares of the mix (rounding leftovers go
/// to the pool), shuffled.
fn kinds(domains: usize, deleg: bool, rng: &mut Rng) -> (Vec<Kind>, Vec<(Kind, usize)>) {
    let shares = shares(deleg);
    let mut kinds: Vec<Kind> = Vec::with_capacity(domains);
    let mut counts: Vec<(Kind, usize)> = Vec::new();
    let mut left = domains;
    for (idx, (kind, share)) in shares.iter().enumerate() {
        let n = if idx + 1 == shares.len() {
            left
        } else {
            (domains * share / 10_000).min(left)
        };
        left -= n;
        kinds.extend(std::iter::repeat_n(*kind, n));
        counts.push((*kind, n));
    }
    // Rounding leftovers went to the last kind; move them to the pool.
    if let Some(last) = counts.last_mut() {
        let exact = domains * shares[shares.len() - 1].1 / 10_000;
        if last.1 > exact {
            let extra = last.1 - exact;
            last.1 = exact;
            counts[0].1 += extra;
            let len = kinds.len();
            for k in &mut kinds[len - extra..] {
                *k = Kind::Pool;
            }
        }
    }
    for i in (1..kinds.len()).rev() {
        let j = rng.below(i + 1);
        kinds.swap(i, j);
    }

    (kinds, counts)
}

/// The special lines spread over the input: invalid names, IDN in both
/// forms and upper case, address literals, a comment and a blank line.
fn specials(idn_expect: &[Expect]) -> Vec<(String, Option<Expect>, &'static str)> {
    let mut specials: Vec<(String, Option<Expect>, &'static str)> = Vec::new();
    for bad in INVALID {
        specials.push((
            bad.to_string(),
            Some(Expect::new(bad, "permanent", "invalid_address")),
            "invalid",
        ));
    }
    for ((ulabel, alabel), e) in IDN.iter().zip(idn_expect) {
        specials.push((ulabel.to_string(), Some(e.clone()), "idn"));
        specials.push((alabel.to_string(), Some(e.clone()), "idn"));
        specials.push((
            format!("info@{}", ulabel.to_uppercase()),
            Some(e.clone()),
            "idn",
        ));
    }
    for (text, lit, ip) in [
        (
            "postmaster@[192.0.2.25]",
            "[192.0.2.25]",
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 25)),
        ),
        (
            "[IPv6:2001:db8::25]",
            "[IPv6:2001:db8::25]",
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x25)),
        ),
    ] {
        let mut e = Expect::new(lit, "deliverable", "address_literal");
        e.candidates.push(format!("0 {lit} {ip}"));
        specials.push((text.to_string(), Some(e), "literal"));
    }
    specials.push(("# a comment in the middle".to_string(), None, "comment"));
    specials.push((String::new(), None, "comment"));
    specials
}

/// The input: a header comment, every domain once in `order` (upper case,
/// with a trailing dot or as an address now and then), duplicates and
/// invalid names sprinkled in, and the special lines spread over it; each
/// line to `emit`. Returns the number of lines, of lines that expect an
/// output line, and of each variant.
fn input_lines(
    seed: u64,
    rng: &mut Rng,
    order: &[u32],
    expects: &[Expect],
    specials: Vec<(String, Option<Expect>, &'static str)>,
    emit: &mut impl FnMut(usize, &str, Option<&Expect>),
) -> (usize, usize, Vec<(&'static str, usize)>) {
    let domains = order.len();
    let every = (domains / (specials.len() + 1)).max(1);

    let mut variants: HashMap<&'static str, usize> = HashMap::new();
    let mut line = 0usize;
    let mut expected = 0usize;
    let mut out = |text: &str, e: Option<&Expect>, variant: &'static str| {
        line += 1;
        if e.is_some() {
            expected += 1;
        }
        *variants.entry(variant).or_default() += 1;
        emit(line, text, e);
    };
    out(
        &format!("# scanmix seed={seed} domains={domains}"),
        None,
        "comment",
    );
    out("", None, "comment");
    let mut special = specials.into_iter();
    for (pos, &i) in order.iter().enumerate() {
        let i = i as usize;
        let e = &expects[i];
        let name = domain_name(i);
        let r = rng.below(10_000);
        let (text, variant) = if r < 100 {
            (name.to_uppercase(), "upper")
        } else if r < 200 {
            (format!("{name}."), "dot")
        } else if r < 250 {
            (format!("postmaster@{name}"), "address")
        } else {
            (name, "plain")
        };
        out(&text, Some(e), variant);
        // A duplicate of an earlier domain.
        if pos > 0 && rng.chance(100) {
            let k = order[rng.below(pos)] as usize;
            out(&domain_name(k), Some(&expects[k]), "duplicate");
        }
        // An invalid name now and then.
        if rng.chance(5) {
            let bad = INVALID[rng.below(INVALID.len())];
            let e = Expect::new(bad, "permanent", "invalid_address");
            out(bad, Some(&e), "invalid");
        }
        if (pos + 1) % every == 0
            && let Some((text, e, variant)) = special.next()
        {
            out(&text, e.as_ref(), variant);
        }
    }
    for (text, e, variant) in special {
        out(&text, e.as_ref(), variant);
    }
    let mut variants: Vec<(&'static str, usize)> = variants.into_iter().collect();
    variants.sort();
    (line, expected, variants)
}

/// Generate: zone text, child zone text (with delegations), summary; every
/// line goes to `emit(line number, text, expectation)`.
fn run(
    seed: u64,
    domains: usize,
    opts: &Options,
    mut emit: impl FnMut(usize, &str, Option<&Expect>),
) -> (String, Option<String>, Summary) {
    let deleg = opts.with_delegations;
    let mut rng = Rng(seed ^ 0x5CA7_11E5_0000_0001);
    let (kinds, counts) = kinds(domains, deleg.is_some(), &mut rng);
    let pool = (domains / 200).clamp(20, 5000);
    let mut g = Gen {
        rng: Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xD0_0D),
        zone: String::with_capacity(domains * 60 + 4096),
        child: None,
        records: 0,
        min_queries: 0,
        pool,
    };
    soa(&mut g.zone);
    g.records += 3;
    // The pools.
    let _ = writeln!(g.zone, "; shared pool: {pool} exchangers");
    for j in 0..pool {
        let (a, aaaa) = (pool_v4(j), v6(1, j));
        g.rr(&format!("mx{j:04}.pool"), format_args!("A {a}"));
        g.rr(&format!("mx{j:04}.pool"), format_args!("AAAA {aaaa}"));
    }
    let uses_big = counts.iter().any(|(k, n)| *k == Kind::LargeMx && *n > 0);
    if uses_big {
        let _ = writeln!(
            g.zone,
            "; pool of long-named exchangers for the large MX sets"
        );
        for j in 0..BIG_POOL {
            let owner = format!("{}.big", big_label(j));
            let (a, aaaa) = (pool_v4(j), v6(2, j));
            g.rr(&owner, format_args!("A {a}"));
            g.rr(&owner, format_args!("AAAA {aaaa}"));
        }
    }
    if let Some(d) = deleg {
        g.rr("ns-dead", format_args!("A {}", d.dead));
        g.rr("ns-slow", format_args!("A {}", d.slow));
        g.rr("ns-lossy", format_args!("A {}", d.lossy));
        let mut child = String::new();
        soa(&mut child);
        g.child = Some(child);
    }
    // IDN domains: MX into the pool.
    let mut idn_expect: Vec<Expect> = Vec::new();
    for (_, alabel) in IDN {
        let owner = alabel.trim_end_matches(".scan.test");
        let j = g.pick_pool(1)[0];
        g.rr(owner, format_args!("MX 10 mx{j:04}.pool.scan.test."));
        let mut e = Expect::new(alabel, "deliverable", "mx");
        Gen::pool_candidates(10, j, &pool_name(j), &mut e.candidates);
        g.min_queries += 1;
        idn_expect.push(e);
    }
    let _ = writeln!(g.zone, "; {domains} domains");
    let mut expects: Vec<Expect> = Vec::with_capacity(domains);
    for (i, kind) in kinds.iter().enumerate() {
        let e = g.domain(i, *kind);
        expects.push(e);
    }
    // Exchanger addresses of the pools: asked once each, A and AAAA.
    g.min_queries += 2 * pool;
    if uses_big {
        g.min_queries += 2 * BIG_POOL;
    }

    // Input order: a random permutation.
    let mut order: Vec<u32> = (0..domains as u32).collect();
    for i in (1..order.len()).rev() {
        let j = rng.below(i + 1);
        order.swap(i, j);
    }

    // Fixed special lines, spread over the input.
    let specials = specials(&idn_expect);
    let (lines, expected, variants) =
        input_lines(seed, &mut rng, &order, &expects, specials, &mut emit);

    let summary = Summary {
        domains,
        lines,
        expected,
        kinds: counts,
        variants,
        min_queries: g.min_queries,
        records: g.records,
    };
    (g.zone, g.child, summary)
}

// ---------------------------------------------------------------------------
// Checking

/// The comparable form of one line (expected or output) on `fields`:
/// candidates become sorted `"PREF EXCHANGER ADDRESS"` strings (objects with
/// `preference`, `exchanger`, `address` or such strings), warnings sorted
/// codes (objects with `code` or strings). Missing fields are `null`.
pub fn normalize(v: &Value, fields: &[&str]) -> Value {
    let mut m = Map::new();
    for f in fields {
        let x = v.get(*f).cloned().unwrap_or(Value::Null);
        let x = match *f {
            "candidates" => {
                let mut list: Vec<String> = x
                    .as_array()
                    .map(|a| a.iter().map(candidate_text).collect())
                    .unwrap_or_default();
                list.sort();
                json!(list)
            }
            "warnings" => {
                let mut list: Vec<String> = x
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|w| match w {
                                Value::String(s) => s.clone(),
                                other => other
                                    .get("code")
                                    .and_then(Value::as_str)
                                    .unwrap_or("?")
                                    .to_string(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                list.sort();
                json!(list)
            }
            _ => x,
        };
        m.insert(f.to_string(), x);
    }
    Value::Object(m)
}

fn candidate_text(c: &Value) -> String {
    match c {
        Value::String(s) => s.clone(),
        other => {
            let p = other
                .get("preference")
                .map(|p| p.to_string())
                .unwrap_or_default();
            let x = other
                .get("exchanger")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .trim_end_matches('.');
            // Names compare in lower case; address literals keep their tag.
            let x = if x.starts_with('[') {
                x.to_string()
            } else {
                x.to_ascii_lowercase()
            };
            let a = other.get("address").and_then(Value::as_str).unwrap_or("?");
            format!("{p} {x} {a}")
        }
    }
}

fn hash_of(v: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}

/// What a comparison found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Expected lines.
    pub expected: usize,
    /// Output lines read.
    pub outputs: usize,
    /// Expected lines with no output line: lost names.
    pub missing: usize,
    /// Output lines whose `line` is not expected (or missing).
    pub extra: usize,
    /// Output lines for a line already seen.
    pub duplicate: usize,
    /// Output lines that differ from their expectation.
    pub wrong: usize,
    /// Output lines that are not JSON.
    pub unparsable: usize,
    /// Output lines equal to their expectation (first one per line).
    pub correct: usize,
    /// Wrong lines per (expected outcome -> output outcome).
    pub wrong_by_outcome: Vec<(String, usize)>,
    /// The first differences, for people.
    pub examples: Vec<String>,
}

impl Report {
    /// Every expected line came exactly once and right.
    pub fn ok(&self) -> bool {
        self.missing == 0
            && self.extra == 0
            && self.duplicate == 0
            && self.wrong == 0
            && self.unparsable == 0
    }

    /// Counts and examples, for people.
    pub fn text(&self) -> String {
        let mut s = format!(
            "{} expected, {} output lines: {} correct, {} wrong, {} missing, {} extra, {} duplicate, {} unparsable",
            self.expected,
            self.outputs,
            self.correct,
            self.wrong,
            self.missing,
            self.extra,
            self.duplicate,
            self.unparsable
        );
        if !self.wrong_by_outcome.is_empty() {
            s.push_str("\nwrong by outcome (expected -> got):");
            for (k, n) in &self.wrong_by_outcome {
                let _ = write!(s, "\n  {k}: {n}");
            }
        }
        for e in &self.examples {
            s.push('\n');
            s.push_str(e);
        }
        s
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        let by: Map<String, Value> = self
            .wrong_by_outcome
            .iter()
            .map(|(k, n)| (k.clone(), json!(n)))
            .collect();
        json!({
            "expected": self.expected,
            "outputs": self.outputs,
            "correct": self.correct,
            "wrong": self.wrong,
            "missing": self.missing,
            "extra": self.extra,
            "duplicate": self.duplicate,
            "unparsable": self.unparsable,
            "wrong_by_outcome": by,
            "ok": self.ok(),
        })
    }
}

/// How many differences a report shows.
const EXAMPLES: usize = 8;

/// Streaming comparison: expectations first, then outputs; keeps a hash per
/// expected line.
struct Checker<'a> {
    fields: &'a [&'a str],
    /// Per line number (index): hash of the normalized expectation, seen flag.
    expect: Vec<Option<(u64, bool, &'static str)>>,
    report: Report,
    /// (line, normalized output) of the first wrong lines.
    wrong: Vec<(usize, Value)>,
    by_outcome: HashMap<String, usize>,
}

fn outcome_code(v: &Value) -> &'static str {
    // Interned: only a few outcome codes exist.
    const KNOWN: &[&str] = &[
        "mx",
        "implicit_mx",
        "address_literal",
        "null_mx",
        "no_such_domain",
        "no_usable_exchanger",
        "loops_to_self",
        "no_primary_relay",
        "dns_temporary",
        "invalid_address",
    ];
    let o = v.get("outcome").and_then(Value::as_str).unwrap_or("");
    KNOWN.iter().find(|k| **k == o).copied().unwrap_or("other")
}

impl<'a> Checker<'a> {
    fn new(fields: &'a [&'a str]) -> Self {
        Checker {
            fields,
            expect: Vec::new(),
            report: Report::default(),
            wrong: Vec::new(),
            by_outcome: HashMap::new(),
        }
    }

    fn expect_value(&mut self, e: &Value) {
        let Some(line) = e.get("line").and_then(Value::as_u64) else {
            return;
        };
        let line = line as usize;
        if self.expect.len() <= line {
            self.expect.resize(line + 1, None);
        }
        self.expect[line] = Some((hash_of(&normalize(e, self.fields)), false, outcome_code(e)));
        self.report.expected += 1;
    }

    fn output_value(&mut self, o: &Value) {
        self.report.outputs += 1;
        let line = o.get("line").and_then(Value::as_u64).map(|l| l as usize);
        let slot = line
            .and_then(|l| self.expect.get_mut(l))
            .and_then(Option::as_mut);
        let Some((hash, seen, outcome)) = slot else {
            self.report.extra += 1;
            if self.report.examples.len() < EXAMPLES {
                self.report
                    .examples
                    .push(format!("extra output line (no such expected line): {o}"));
            }
            return;
        };
        if *seen {
            self.report.duplicate += 1;
            if self.report.examples.len() < EXAMPLES {
                self.report.examples.push(format!(
                    "duplicate output for line {}: {o}",
                    line.unwrap_or(0)
                ));
            }
            return;
        }
        *seen = true;
        let n = normalize(o, self.fields);
        if hash_of(&n) == *hash {
            self.report.correct += 1;
        } else {
            self.report.wrong += 1;
            let key = format!("{} -> {}", outcome, outcome_code(o));
            *self.by_outcome.entry(key).or_default() += 1;
            if self.wrong.len() < EXAMPLES {
                self.wrong.push((line.unwrap_or(0), n));
            }
        }
    }

    /// Finish: `lookup(line)` gives the expectation of a wrong line again (for
    /// the examples).
    fn finish(mut self, mut lookup: impl FnMut(usize) -> Option<Value>) -> Report {
        let mut missing_examples = Vec::new();
        for (line, slot) in self.expect.iter().enumerate() {
            if let Some((_, false, _)) = slot {
                self.report.missing += 1;
                if missing_examples.len() < EXAMPLES {
                    missing_examples.push(line);
                }
            }
        }
        for (line, got) in std::mem::take(&mut self.wrong) {
            let want = lookup(line)
                .map(|e| normalize(&e, self.fields).to_string())
                .unwrap_or_default();
            self.report.examples.push(format!(
                "line {line} differs:\n  expected {want}\n  got      {got}"
            ));
        }
        for line in missing_examples {
            let want = lookup(line).map(|e| e.to_string()).unwrap_or_default();
            self.report
                .examples
                .push(format!("line {line}: no output line (expected {want})"));
        }
        let mut by: Vec<(String, usize)> = self.by_outcome.into_iter().collect();
        by.sort();
        self.report.wrong_by_outcome = by;
        self.report
    }
}

/// Compare an output file (JSON Lines, any order) with `expected.jsonl` on
/// `fields`, in bounded memory: a hash per expected line.
pub fn check_files(expected: &Path, output: &Path, fields: &[&str]) -> io::Result<Report> {
    check_files_upto(expected, output, fields, None)
}

/// [`check_files`] for a run over the first `max_line` input lines only:
/// expectations of later lines are ignored (`None`: every line).
pub fn check_files_upto(
    expected: &Path,
    output: &Path,
    fields: &[&str],
    max_line: Option<usize>,
) -> io::Result<Report> {
    let mut checker = Checker::new(fields);
    for line in BufReader::with_capacity(1 << 20, fs::File::open(expected)?).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", expected.display()),
            )
        })?;
        if let Some(max) = max_line
            && v.get("line")
                .and_then(Value::as_u64)
                .is_some_and(|l| l as usize > max)
        {
            continue;
        }
        checker.expect_value(&v);
    }
    for line in BufReader::with_capacity(1 << 20, fs::File::open(output)?).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(v) => checker.output_value(&v),
            Err(_) => {
                checker.report.outputs += 1;
                checker.report.unparsable += 1;
                if checker.report.examples.len() < EXAMPLES {
                    let short: String = line.chars().take(200).collect();
                    checker
                        .report
                        .examples
                        .push(format!("unparsable output line: {short}"));
                }
            }
        }
    }
    // Read the expectations of the shown lines again.
    let mut wanted: Vec<usize> = checker.wrong.iter().map(|(l, _)| *l).collect();
    wanted.extend(
        checker
            .expect
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s, Some((_, false, _))))
            .map(|(l, _)| l)
            .take(EXAMPLES),
    );
    let mut found: HashMap<usize, Value> = HashMap::new();
    if !wanted.is_empty() {
        for line in BufReader::new(fs::File::open(expected)?).lines() {
            let line = line?;
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && let Some(l) = v.get("line").and_then(Value::as_u64)
                && wanted.contains(&(l as usize))
            {
                found.insert(l as usize, v);
            }
        }
    }
    Ok(checker.finish(|l| found.get(&l).cloned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knot::Knot;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::RecordType;

    #[test]
    fn deterministic() {
        let a = Mix::generate(7, 3000);
        let b = Mix::generate(7, 3000);
        assert_eq!(a.input, b.input);
        assert_eq!(a.expected, b.expected);
        assert_eq!(a.zones, b.zones);
        let c = Mix::generate(8, 3000);
        assert_ne!(a.input, c.input);
    }

    #[test]
    fn proportions_are_roughly_right() {
        let mix = Mix::generate(1, 100_000);
        let s = &mix.summary;
        let count = |k: Kind| s.kinds.iter().find(|(x, _)| *x == k).map_or(0, |(_, n)| *n);
        assert_eq!(s.kinds.iter().map(|(_, n)| n).sum::<usize>(), 100_000);
        assert_eq!(count(Kind::Pool), 60_000);
        assert_eq!(count(Kind::Implicit), 15_000);
        assert_eq!(count(Kind::NxDomain), 8_000);
        assert_eq!(count(Kind::LargeMx), 1_000);
        assert_eq!(count(Kind::Dead), 0);
        let outcome = |o: &str| {
            mix.expected.iter().filter(|e| e["outcome"] == o).count() as f64
                / mix.expected.len() as f64
        };
        assert!(
            (0.078..0.09).contains(&outcome("no_such_domain")),
            "{}",
            outcome("no_such_domain")
        );
        assert!((0.14..0.16).contains(&outcome("implicit_mx")));
        assert!((0.028..0.032).contains(&outcome("null_mx")));
        let invalid = outcome("invalid_address");
        assert!(invalid > 0.0 && invalid < 0.002, "{invalid}");
        // Lines: one per domain plus about 1% duplicates and a few specials.
        assert!(s.lines > 100_900 && s.lines < 101_300, "{}", s.lines);
        assert_eq!(mix.input.len(), s.lines);
        assert_eq!(mix.expected.len(), s.expected);
        assert!(
            mix.input
                .iter()
                .filter(|l| l.is_empty() || l.starts_with('#'))
                .count()
                >= 3
        );
        // About 1.5 queries per domain at the minimum.
        let q = s.min_queries as f64 / s.expected as f64;
        assert!((1.4..1.7).contains(&q), "{q}");
        // Line numbers are 1-based over all lines.
        for e in &mix.expected {
            let l = e["line"].as_u64().unwrap() as usize;
            assert_eq!(mix.input[l - 1], e["input"].as_str().unwrap());
        }
    }

    #[test]
    fn check_accepts_expected_and_shuffled_output_and_reports_differences() {
        let mix = Mix::generate(3, 500);
        let mut out = mix.expected.clone();
        out.reverse();
        assert_eq!(mix.check(&out), Ok(()));
        // Output-shaped candidates in another order pass too.
        let first_mx = out
            .iter()
            .position(|e| e["candidates"].as_array().unwrap().len() > 1)
            .unwrap();
        let cands: Vec<Value> = out[first_mx]["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .map(|c| {
                let parts: Vec<&str> = c.as_str().unwrap().split(' ').collect();
                json!({"preference": parts[0].parse::<u16>().unwrap(), "exchanger": parts[1], "address": parts[2]})
            })
            .collect();
        out[first_mx]["candidates"] = json!(cands);
        assert_eq!(mix.check(&out), Ok(()));
        let lost = out.pop().unwrap();
        out[0]["status"] = json!("temporary");
        out.push(out[1].clone());
        let err = mix.check(&out).unwrap_err();
        assert!(
            err.contains("1 wrong, 1 missing, 0 extra, 1 duplicate"),
            "{err}"
        );
        assert!(
            err.contains(&format!("line {}: no output line", lost["line"])),
            "{err}"
        );
    }

    #[test]
    fn files_check_like_memory() {
        let dir = tempfile::tempdir().unwrap();
        let mix = Mix::generate(5, 2000);
        mix.write(dir.path()).unwrap();
        let dir2 = tempfile::tempdir().unwrap();
        let summary = write_mix(5, 2000, &Options::default(), dir2.path()).unwrap();
        assert_eq!(summary, mix.summary);
        for f in [
            "input.txt",
            "expected.jsonl",
            "scan.test.zone",
            "summary.json",
        ] {
            assert_eq!(
                fs::read(dir.path().join(f)).unwrap(),
                fs::read(dir2.path().join(f)).unwrap(),
                "{f}"
            );
        }
        let exp = dir.path().join("expected.jsonl");
        let r = check_files(&exp, &exp, ALL_FIELDS).unwrap();
        assert!(r.ok(), "{}", r.text());
        assert_eq!(r.correct, mix.expected.len());
    }

    #[test]
    fn delegations_add_kinds_and_child_zone() {
        let d = Delegations {
            dead: Ipv4Addr::new(127, 0, 0, 61),
            slow: Ipv4Addr::new(127, 0, 0, 62),
            lossy: Ipv4Addr::new(127, 0, 0, 63),
        };
        let mix = Mix::generate_with(
            1,
            10_000,
            &Options {
                with_delegations: Some(d),
            },
        );
        assert_eq!(mix.child_zones.len(), 1);
        let temp = mix
            .expected
            .iter()
            .filter(|e| e["outcome"] == "dns_temporary")
            .count();
        assert!((190..=210).contains(&temp), "{temp}");
        assert!(mix.zones[0].1.contains("ns-dead A 127.0.0.61"));
    }

    /// The zone loads in knotd, and knotd answers as the expectations say.
    #[test]
    fn zone_loads_in_knot_and_answers_match() {
        let mix = Mix::generate(11, 2000);
        let zones: Vec<(&str, &str)> = mix
            .zones
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        let knot = Knot::start(&zones);
        let mut seen_large = false;
        for e in mix.expected.iter().take(400) {
            let domain = e["domain"].as_str().unwrap();
            let outcome = e["outcome"].as_str().unwrap();
            if outcome == "invalid_address" || domain.starts_with('[') {
                continue;
            }
            let m = knot.query(domain, RecordType::MX);
            match outcome {
                "no_such_domain" => assert_eq!(m.metadata.response_code, ResponseCode::NXDomain),
                "implicit_mx" => {
                    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
                    assert!(m.answers.is_empty());
                    let a = knot.query(domain, RecordType::A);
                    let aaaa = knot.query(domain, RecordType::AAAA);
                    assert_eq!(
                        a.answers.len() + aaaa.answers.len(),
                        e["candidates"].as_array().unwrap().len(),
                        "{domain}"
                    );
                }
                "null_mx" => assert_eq!(m.answers.len(), 1),
                _ => {
                    assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{domain}");
                }
            }
            if m.answers.len() >= 18 {
                seen_large = true;
                // Over TCP the answer is bigger than an EDNS 1232 UDP answer can be.
                let bytes = m.to_vec().unwrap();
                assert!(bytes.len() > 1232, "{domain}: {} bytes", bytes.len());
            }
        }
        // Every large MX set really exceeds 1232 bytes.
        let large: Vec<&Value> = mix
            .expected
            .iter()
            .filter(|e| e["candidates"].as_array().is_some_and(|c| c.len() >= 36))
            .collect();
        assert!(!large.is_empty());
        for e in large.iter().take(5) {
            let m = knot.query(e["domain"].as_str().unwrap(), RecordType::MX);
            let answer_only = {
                let mut m = m.clone();
                m.additionals.clear();
                m.to_vec().unwrap().len()
            };
            assert!(answer_only > 1232, "{answer_only}");
            seen_large = true;
        }
        assert!(seen_large);
        // A CNAME exchanger resolves through the alias.
        if let Some(e) = mix.expected.iter().find(|e| {
            e["warnings"]
                .as_array()
                .is_some_and(|w| w.iter().any(|w| w == "mx_is_cname"))
        }) {
            let c = e["candidates"][0].as_str().unwrap();
            let alias = c.split(' ').nth(1).unwrap();
            let a = knot.query(alias, RecordType::A);
            assert!(
                a.answers
                    .iter()
                    .any(|r| r.record_type() == RecordType::CNAME)
            );
        }
    }
}

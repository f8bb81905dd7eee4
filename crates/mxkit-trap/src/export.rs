//! Exporters: the listings as blocklists that Postfix, rspamd, DNS servers
//! and nftables consume (docs/trap.md, "Exports").
//!
//! Words:
//! - a **format** ([`Format`]) is one kind of blocklist file;
//! - an **entry** is one exported address: a [`Listing`] that is listed
//!   ([`Grade::listed`]: suspect, trapped or repeat), not recorded in shadow
//!   mode and not expired (`expires > now`). IPv4-mapped IPv6 addresses are
//!   written as IPv4; 127.0.0.1, ::1, the test address 127.0.0.2 and
//!   unspecified addresses are never exported (RFC 5782 section 5:
//!   127.0.0.1 must not be listed); when the same
//!   address comes twice, the higher grade (then the later expiry) wins.
//!
//! Every renderer is a pure function of (listings, `now`, [`ExportOptions`])
//! and sorts entries by address (IPv4 first), so an unchanged list renders
//! to identical bytes and [`write_if_changed`] can leave the file (and its
//! mtime, which rspamd and rbldnsd watch) alone. The exception is
//! [`Format::Nftables`]: its timeouts are relative to `now`, so the script
//! changes every second; it is a command to apply, not a file to watch.
//!
//! Every file is replaced atomically by [`write_atomic`] (docs/trap.md,
//! "Exports": "Written atomically"): rspamd's map watcher and rbldnsd's
//! reload must never see half a file.
//!
//! The formats, and what consumes them:
//!
//! - [`Format::Rspamd`]: an rspamd multimap map of `type = "ip"`, one
//!   address a line with a comment `# grade reason`. It is consumed by this
//!   snippet in `/etc/rspamd/local.d/multimap.conf` (rspamd watches the file
//!   and reloads it when it is renamed over):
//!
//!   ```text
//!   MX_TRAP {
//!     type = "ip";
//!     map = "/var/lib/mxkit/mxtrap.map";
//!     symbol = "MX_TRAP";
//!     score = 5.0;
//!     description = "Connected to the decoy MX first (mxkit trap)";
//!   }
//!   ```
//!
//!   For hard blocking add `prefilter = true; action = "reject";`.
//! - [`Format::PostfixCidr`]: a `cidr:` table (Postfix `cidr_table(5)`) for
//!   `smtpd_client_restrictions = ..., check_client_access
//!   cidr:/etc/postfix/mxtrap.cidr`: `192.0.2.7/32 554 5.7.1 ...` for
//!   trapped and repeat, `450 4.7.1 ...` (try again later) for suspect.
//!   IPv6 is written plainly (`2001:db8::7/128`), without brackets, as
//!   cidr_table(5) wants. smtpd processes pick a changed table up as they
//!   recycle; postscreen needs `postfix reload`.
//! - [`Format::DnsblZone`]: an RFC 1035 zone file of an RFC 5782 DNSBL for
//!   Knot, NSD or BIND: reversed octets (IPv4) or the 32 reversed nibbles
//!   (IPv6) under [`ExportOptions::zone`], `A 127.0.0.2` trapped,
//!   `127.0.0.3` suspect, `127.0.0.4` repeat, and a TXT with grade, reason
//!   and the info URL. The RFC 5782 section 5 test entries are always there
//!   (127.0.0.2 and `::FFFF:7F00:2` listed; 127.0.0.1 and `::FFFF:7F00:1`
//!   not). The SOA serial is [`ExportOptions::serial`]; [`export`] keeps the
//!   old serial when nothing else changed and otherwise moves it forward.
//! - [`Format::Rbldnsd`]: one rbldnsd `combined` dataset holding an
//!   `ip4set` and an `ip6trie` (so IPv4 and IPv6 go into one file, replaced
//!   in one rename): `$SOA` (serial 0: rbldnsd uses the file's mtime),
//!   `$NS`, `$TTL`, a default `:127.0.0.2:...` line, entries with their own
//!   A value per grade and the RFC 5782 test entries. Serve it with
//!   `rbldnsd -b ADDR/53 ZONE:combined:/var/lib/mxkit/mxtrap.rbldnsd`.
//! - [`Format::Nftables`]: an `nft -f` script that declares the table
//!   ([`ExportOptions::nft_table`], e.g. `inet mxtrap`) with the sets
//!   `mxtrap4` (`ipv4_addr`) and `mxtrap6` (`ipv6_addr`), both `flags
//!   timeout`, flushes them and adds every trapped or repeat address with
//!   `timeout` = expiry − now, so the kernel expires them (nftables has no
//!   way to explain itself, so only trapped, never suspect). Rules
//!   that use the sets (`ip saddr @mxtrap4 tcp dport 25 drop`) are the
//!   admin's own; `nft -f` applies the script in one transaction.
//! - [`Format::Json`]: a JSON array, one listing a line (see
//!   [`JsonListing`] for the fields), times in ISO 8601 UTC, the grade as a
//!   word. An array rather than JSON Lines: the file is replaced whole, and
//!   a reader can tell a complete document from a truncated one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::model::{Grade, Listing, Micros};

/// A blocklist format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// rspamd multimap `type = "ip"` map.
    Rspamd,
    /// Postfix `check_client_access cidr:` table.
    PostfixCidr,
    /// RFC 5782 DNSBL zone file (Knot, NSD, BIND).
    DnsblZone,
    /// rbldnsd `combined` dataset (ip4set + ip6trie).
    Rbldnsd,
    /// `nft -f` script filling two sets with per-element timeouts.
    Nftables,
    /// JSON array of listings.
    Json,
}

impl Format {
    /// Every format, in the order of docs/trap.md, "Exports".
    pub const ALL: [Format; 6] = [
        Format::Rspamd,
        Format::PostfixCidr,
        Format::DnsblZone,
        Format::Rbldnsd,
        Format::Nftables,
        Format::Json,
    ];

    /// The name used on the command line (`--format`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Rspamd => "rspamd",
            Format::PostfixCidr => "postfix-cidr",
            Format::DnsblZone => "dnsbl-zone",
            Format::Rbldnsd => "rbldnsd",
            Format::Nftables => "nftables",
            Format::Json => "json",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Which grades this format exports: nftables only trapped and repeat
    /// (a dropped packet explains nothing), the others every listed grade.
    pub fn exports(self, grade: Grade) -> bool {
        match self {
            Format::Nftables => grade >= Grade::Trapped,
            _ => grade.listed(),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = ExportError;
    fn from_str(s: &str) -> Result<Format, ExportError> {
        Format::parse(s).ok_or_else(|| ExportError::Format(s.to_string()))
    }
}

/// What the formats need besides the listings. [`ExportOptions::default`]
/// gives working values for everything but the names a site must choose
/// (zone, name servers, info URL), which default to `example` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportOptions {
    /// Where a listed sender can read why and ask for delisting; `{ip}` is
    /// replaced by the address. Written into Postfix replies, TXT records
    /// and rspamd comments. Empty: no URL is written.
    pub info_url: String,
    /// The DNSBL zone (DnsblZone, Rbldnsd), e.g. `mxtrap.example.org`.
    pub zone: String,
    /// SOA MNAME: the primary name server.
    pub soa_mname: String,
    /// SOA RNAME: the responsible mailbox, as a DNS name
    /// (`hostmaster.example.org`) or an address (`hostmaster@example.org`).
    pub soa_rname: String,
    /// NS records of the zone (at least one).
    pub ns: Vec<String>,
    /// TTL of every record, seconds.
    pub ttl: u32,
    /// SOA serial of the DNSBL zone file ([`export`] chooses it itself).
    pub serial: u32,
    /// SOA refresh, retry, expire and minimum (negative-caching TTL), seconds.
    pub soa_refresh: u32,
    pub soa_retry: u32,
    pub soa_expire: u32,
    pub soa_minimum: u32,
    /// nftables: family and table name, e.g. `inet mxtrap`.
    pub nft_table: String,
    /// nftables: the IPv4 set (`type ipv4_addr`).
    pub nft_set4: String,
    /// nftables: the IPv6 set (`type ipv6_addr`).
    pub nft_set6: String,
}

impl Default for ExportOptions {
    fn default() -> ExportOptions {
        ExportOptions {
            info_url: String::new(),
            zone: "mxtrap.example".into(),
            soa_mname: "ns1.example".into(),
            soa_rname: "hostmaster.example".into(),
            ns: vec!["ns1.example".into()],
            ttl: 300,
            serial: 1,
            soa_refresh: 3600,
            soa_retry: 600,
            soa_expire: 604_800,
            soa_minimum: 300,
            nft_table: "inet mxtrap".into(),
            nft_set4: "mxtrap4".into(),
            nft_set6: "mxtrap6".into(),
        }
    }
}

impl ExportOptions {
    /// Check the options `format` uses: DNS names are names, nftables
    /// identifiers are identifiers, texts have no line breaks.
    pub fn validate(&self, format: Format) -> Result<(), ExportError> {
        if self.info_url.chars().any(char::is_control) {
            return Err(bad("info_url", "contains a control character"));
        }
        match format {
            Format::DnsblZone | Format::Rbldnsd => {
                dns_name("zone", &self.zone)?;
                dns_name("soa_mname", &self.soa_mname)?;
                dns_name("soa_rname", &rname(&self.soa_rname))?;
                if self.ns.is_empty() {
                    return Err(bad("ns", "at least one name server is needed"));
                }
                for ns in &self.ns {
                    dns_name("ns", ns)?;
                }
            }
            Format::Nftables => {
                let (family, table) = self.nft_family_table()?;
                nft_ident("nft_table", table)?;
                if !matches!(family, "ip" | "ip6" | "inet" | "bridge" | "netdev") {
                    return Err(bad(
                        "nft_table",
                        "family must be ip, ip6, inet, bridge or netdev",
                    ));
                }
                nft_ident("nft_set4", &self.nft_set4)?;
                nft_ident("nft_set6", &self.nft_set6)?;
                if self.nft_set4 == self.nft_set6 {
                    return Err(bad("nft_set6", "must differ from nft_set4"));
                }
            }
            Format::Rspamd | Format::PostfixCidr | Format::Json => {}
        }
        Ok(())
    }

    fn nft_family_table(&self) -> Result<(&str, &str), ExportError> {
        let mut words = self.nft_table.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(family), Some(table), None) => Ok((family, table)),
            _ => Err(bad(
                "nft_table",
                "must be FAMILY NAME, e.g. \"inet mxtrap\"",
            )),
        }
    }

    /// The info URL for `ip` (empty when none is configured).
    fn url_for(&self, ip: IpAddr) -> String {
        self.info_url.replace("{ip}", &ip.to_string())
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    #[error(
        "unknown export format {0:?} (rspamd, postfix-cidr, dnsbl-zone, rbldnsd, nftables, json)"
    )]
    Format(String),
    #[error("export option {field}: {reason}")]
    Option { field: &'static str, reason: String },
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The path names a device, a FIFO, a folder...: renaming a new file
    /// onto it would replace it (as root, `/dev/null` itself).
    #[error("{} is not a regular file: refusing to replace it with an export", path.display())]
    NotAFile { path: PathBuf },
}

fn bad(field: &'static str, reason: &str) -> ExportError {
    ExportError::Option {
        field,
        reason: reason.to_string(),
    }
}

/// One exported address.
#[derive(Clone, Debug)]
struct Entry<'a> {
    ip: IpAddr,
    listing: &'a Listing,
}

/// The listings `format` exports at `now`, one per address, sorted.
fn entries(format: Format, listings: &[Listing], now: Micros) -> Vec<Entry<'_>> {
    let mut by_ip: BTreeMap<IpAddr, &Listing> = BTreeMap::new();
    for l in listings {
        if l.shadow || l.expires <= now || !format.exports(l.grade) {
            continue;
        }
        let ip = l.ip.to_canonical();
        // The host itself (127.0.0.1, ::1) is never exported, nor the RFC
        // 5782 test address 127.0.0.2 (always listed by the DNSBL formats
        // anyway). Other loopback addresses can only be local clients (the
        // kernel drops them from the wire); the test bed uses them as
        // distinct senders, so they are exported like any address.
        let local = [IpAddr::from([127, 0, 0, 1]), IpAddr::from([127, 0, 0, 2])];
        if local.contains(&ip)
            || ip == IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
            || ip.is_unspecified()
        {
            continue;
        }
        let better = |old: &Listing| (l.grade, l.expires) > (old.grade, old.expires);
        match by_ip.get(&ip) {
            Some(old) if !better(old) => {}
            _ => {
                by_ip.insert(ip, l);
            }
        }
    }
    by_ip
        .into_iter()
        .map(|(ip, listing)| Entry { ip, listing })
        .collect()
}

/// Render `listings` in `format` as of `now`.
pub fn render(
    format: Format,
    listings: &[Listing],
    now: Micros,
    opts: &ExportOptions,
) -> Result<String, ExportError> {
    opts.validate(format)?;
    let entries = entries(format, listings, now);
    Ok(match format {
        Format::Rspamd => rspamd(&entries),
        Format::PostfixCidr => postfix_cidr(&entries, opts),
        Format::DnsblZone => dnsbl_zone(&entries, opts),
        Format::Rbldnsd => rbldnsd(&entries, opts),
        Format::Nftables => nftables(&entries, now, opts)?,
        Format::Json => json(&entries),
    })
}

/// A text from the store (a reason) made safe for one line of any of the
/// formats: control characters become spaces, nothing but printable ASCII
/// is kept (`?` for the rest), runs of spaces collapse.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = match c {
            c if c.is_ascii_graphic() => c,
            c if c.is_whitespace() || c.is_control() => ' ',
            _ => '?',
        };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    if out.is_empty() {
        out.push_str("listed");
    }
    out
}

/// `grade: reason; see URL` (without the URL part when none is set).
fn explanation(e: &Entry<'_>, opts: &ExportOptions) -> String {
    let mut s = format!(
        "{}: {}",
        e.listing.grade.as_str(),
        one_line(&e.listing.reason)
    );
    let url = one_line_url(&opts.url_for(e.ip));
    if !url.is_empty() {
        let _ = write!(s, "; see {url}");
    }
    s
}

fn one_line_url(url: &str) -> String {
    if url.is_empty() {
        String::new()
    } else {
        one_line(url)
    }
}

fn header(out: &mut String, comment: &str, what: &str, n: usize) {
    let _ = writeln!(out, "{comment} mxkit trap: {what}, {n} entries.");
    let _ = writeln!(
        out,
        "{comment} Generated; replaced as a whole on every export: do not edit."
    );
}

fn rspamd(entries: &[Entry<'_>]) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "#",
        "rspamd multimap (type = \"ip\")",
        entries.len(),
    );
    for e in entries {
        let _ = writeln!(
            out,
            "{} # {} {}",
            e.ip,
            e.listing.grade.as_str(),
            one_line(&e.listing.reason)
        );
    }
    out
}

fn host_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn postfix_cidr(entries: &[Entry<'_>], opts: &ExportOptions) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "#",
        "Postfix cidr_table(5) for check_client_access",
        entries.len(),
    );
    for e in entries {
        // RFC 3463: 4.7.1 / 5.7.1 "delivery not authorized".
        let action = if e.listing.grade >= Grade::Trapped {
            "554 5.7.1"
        } else {
            "450 4.7.1"
        };
        let _ = writeln!(
            out,
            "{}/{} {action} Client host {} listed by mxkit trap ({})",
            e.ip,
            host_prefix(e.ip),
            e.ip,
            explanation(e, opts)
        );
    }
    out
}

/// The A value of a grade, an address in 127.0.0.0/8 as RFC 5782 DNSBLs use
/// (docs/trap.md, "Exports", `dnsbl-zone`).
fn dnsbl_code(grade: Grade) -> Ipv4Addr {
    match grade {
        Grade::Repeat => Ipv4Addr::new(127, 0, 0, 4),
        Grade::Trapped => Ipv4Addr::new(127, 0, 0, 2),
        _ => Ipv4Addr::new(127, 0, 0, 3),
    }
}

/// The RFC 5782 section 5 IPv6 test address `::FFFF:7F00:2`.
const TEST_V6: Ipv6Addr = Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, 2);

/// The owner name of `ip` below the zone, relative (RFC 5782 section 2.1:
/// reversed octets; 2.4: the 32 reversed nibbles).
pub fn reverse_label(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut nibbles: Vec<String> = Vec::with_capacity(32);
            for byte in v6.octets().iter().rev() {
                nibbles.push(format!("{:x}", byte & 0x0f));
                nibbles.push(format!("{:x}", byte >> 4));
            }
            nibbles.join(".")
        }
    }
}

/// `name.` for a name given with or without its final dot.
fn absolute(name: &str) -> String {
    let n = name.trim_end_matches('.');
    format!("{n}.")
}

/// RNAME as a DNS name: `hostmaster@example.org` → `hostmaster.example.org`
/// (RFC 1035 section 8; a dot in the local part would need `\.`).
fn rname(s: &str) -> String {
    match s.split_once('@') {
        Some((local, domain)) => format!("{}.{domain}", local.replace('.', "\\.")),
        None => s.to_string(),
    }
}

/// A TXT RDATA: character-strings of at most 255 octets (RFC 1035 section
/// 3.3.14), quoted, with `"` and `\` escaped.
fn txt_rdata(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    for chunk in bytes.chunks(255) {
        let mut s = String::from("\"");
        for &b in chunk {
            match b {
                b'"' | b'\\' => {
                    s.push('\\');
                    s.push(char::from(b));
                }
                0x20..=0x7e => s.push(char::from(b)),
                _ => {
                    let _ = write!(s, "\\{b:03}");
                }
            }
        }
        s.push('"');
        parts.push(s);
    }
    if parts.is_empty() {
        parts.push("\"\"".into());
    }
    parts.join(" ")
}

const TEST_TEXT: &str = "RFC 5782 test entry";

fn dnsbl_zone(entries: &[Entry<'_>], opts: &ExportOptions) -> String {
    let mut out = String::new();
    header(
        &mut out,
        ";",
        "DNSBL zone (RFC 5782): 127.0.0.2 trapped, 127.0.0.3 suspect, 127.0.0.4 repeat",
        entries.len(),
    );
    let _ = writeln!(out, "$ORIGIN {}", absolute(&opts.zone));
    let _ = writeln!(out, "$TTL {}", opts.ttl);
    let _ = writeln!(
        out,
        "@ IN SOA {} {} {} {} {} {} {}",
        absolute(&opts.soa_mname),
        absolute(&rname(&opts.soa_rname)),
        opts.serial,
        opts.soa_refresh,
        opts.soa_retry,
        opts.soa_expire,
        opts.soa_minimum
    );
    for ns in &opts.ns {
        let _ = writeln!(out, "@ IN NS {}", absolute(ns));
    }
    let _ = writeln!(
        out,
        "; RFC 5782 section 5: the test addresses 127.0.0.2 and ::FFFF:7F00:2 are listed,"
    );
    let _ = writeln!(out, "; 127.0.0.1 and ::FFFF:7F00:1 are not.");
    for test in [IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), IpAddr::V6(TEST_V6)] {
        let name = reverse_label(test);
        let _ = writeln!(out, "{name} IN A 127.0.0.2");
        let _ = writeln!(out, "{name} IN TXT {}", txt_rdata(TEST_TEXT));
    }
    for e in entries {
        let name = reverse_label(e.ip);
        let _ = writeln!(out, "{name} IN A {}", dnsbl_code(e.listing.grade));
        let _ = writeln!(out, "{name} IN TXT {}", txt_rdata(&explanation(e, opts)));
    }
    out
}

/// An rbldnsd TXT template: `$` stands for the address there, so a literal
/// one is written `$$`.
fn rbldnsd_text(s: &str) -> String {
    s.replace('$', "$$")
}

fn rbldnsd(entries: &[Entry<'_>], opts: &ExportOptions) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "#",
        "rbldnsd combined dataset (ip4set + ip6trie), RFC 5782 DNSBL",
        entries.len(),
    );
    let ns: Vec<String> = opts.ns.iter().map(|n| absolute(n)).collect();
    // Serial 0: rbldnsd uses the data file's mtime, so unchanged data keeps
    // identical bytes and a rewrite still moves the serial forward.
    let _ = writeln!(
        out,
        "$SOA {} {} {} 0 {} {} {} {}",
        opts.ttl,
        absolute(&opts.soa_mname),
        absolute(&rname(&opts.soa_rname)),
        opts.soa_refresh,
        opts.soa_retry,
        opts.soa_expire,
        opts.soa_minimum
    );
    let _ = writeln!(out, "$NS {} {}", opts.ttl, ns.join(" "));
    let _ = writeln!(out, "$TTL {}", opts.ttl);
    let default = ":127.0.0.2:Listed by mxkit trap";
    let (v4, v6): (Vec<&Entry<'_>>, Vec<&Entry<'_>>) = entries.iter().partition(|e| e.ip.is_ipv4());
    for (dataset, test, prefix, list) in [
        ("ip4set", "127.0.0.2".to_string(), "", v4),
        // `::ffff:7f00:2`, not Rust's `::ffff:127.0.0.2`: as RFC 5782 writes it.
        ("ip6trie", "::ffff:7f00:2/128".to_string(), "/128", v6),
    ] {
        let _ = writeln!(out, "$DATASET {dataset} @");
        let _ = writeln!(out, "{default}");
        let _ = writeln!(out, "{test} :127.0.0.2:{TEST_TEXT}");
        for e in list {
            let _ = writeln!(
                out,
                "{}{prefix} :{}:{}",
                e.ip,
                dnsbl_code(e.listing.grade),
                rbldnsd_text(&explanation(e, opts))
            );
        }
    }
    out
}

/// Seconds left until `expires`, rounded up (at least 1).
fn timeout_secs(expires: Micros, now: Micros) -> i64 {
    ((expires - now + 999_999) / 1_000_000).max(1)
}

fn nftables(
    entries: &[Entry<'_>],
    now: Micros,
    opts: &ExportOptions,
) -> Result<String, ExportError> {
    let (family, table) = opts.nft_family_table()?;
    let (set4, set6) = (&opts.nft_set4, &opts.nft_set6);
    let mut out = String::from("#!/usr/sbin/nft -f\n");
    header(
        &mut out,
        "#",
        "nftables sets of trapped and repeat offenders (timeouts relative to the export)",
        entries.len(),
    );
    let _ = writeln!(out, "table {family} {table} {{");
    let _ = writeln!(out, "\tset {set4} {{ type ipv4_addr; flags timeout; }}");
    let _ = writeln!(out, "\tset {set6} {{ type ipv6_addr; flags timeout; }}");
    let _ = writeln!(out, "}}");
    for (set, v4) in [(set4, true), (set6, false)] {
        let _ = writeln!(out, "flush set {family} {table} {set}");
        let elements: Vec<String> = entries
            .iter()
            .filter(|e| e.ip.is_ipv4() == v4)
            .map(|e| format!("{} timeout {}s", e.ip, timeout_secs(e.listing.expires, now)))
            .collect();
        if !elements.is_empty() {
            let _ = writeln!(
                out,
                "add element {family} {table} {set} {{ {} }}",
                elements.join(", ")
            );
        }
    }
    Ok(out)
}

/// One listing in the JSON export (the array's elements).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JsonListing {
    /// The address, IPv4 dotted or IPv6 in RFC 5952 form.
    pub ip: String,
    /// `suspect`, `trapped` or `repeat`.
    pub grade: &'static str,
    /// The reason code, e.g. `decoy-first`.
    pub reason: String,
    /// First and last decoy-first session, and when the listing ends:
    /// ISO 8601 UTC, whole seconds (`2026-11-26T09:49:48Z`).
    pub first_seen: String,
    pub last_seen: String,
    pub expires: String,
    /// Listed decoy-first sessions counted for this address.
    pub events: u32,
}

fn iso(t: Micros) -> String {
    mxkit::smtp::iso8601(t.div_euclid(1_000_000))
}

fn json(entries: &[Entry<'_>]) -> String {
    let mut out = String::from("[");
    for (i, e) in entries.iter().enumerate() {
        let l = e.listing;
        let item = JsonListing {
            ip: e.ip.to_string(),
            grade: l.grade.as_str(),
            reason: l.reason.clone(),
            first_seen: iso(l.first_seen),
            last_seen: iso(l.last_seen),
            expires: iso(l.expires),
            events: l.events,
        };
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        // Serializing a struct of strings and integers cannot fail.
        out.push_str(&serde_json::to_string(&item).unwrap_or_default());
    }
    out.push_str(if entries.is_empty() { "]\n" } else { "\n]\n" });
    out
}

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// The file was replaced.
    Replaced,
    /// The file already held these bytes: left alone (mtime unchanged).
    Unchanged,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ExportError + 'a {
    move |source| ExportError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Replace `path` with `bytes` atomically: write a temporary file in the same
/// folder, fsync it, rename it over `path`, fsync the folder. A reader sees
/// the old file or the new one, never a mix; after a crash one of them is
/// on disk. The new file gets the old file's permission bits, or 0644 when
/// there was none; the owner is the writer's (a symlink at `path` is
/// replaced by the file).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    existing(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| ExportError::Io {
            op: "write",
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
        })?
        .to_string_lossy()
        .into_owned();
    let old_perms = fs::metadata(path).ok().map(|m| m.permissions());
    let temp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(io_err("create", &temp))?;
        if let Some(perms) = old_perms.or_else(default_permissions) {
            file.set_permissions(perms)
                .map_err(io_err("set permissions of", &temp))?;
        }
        file.write_all(bytes).map_err(io_err("write", &temp))?;
        file.sync_all().map_err(io_err("fsync", &temp))?;
        drop(file);
        fs::rename(&temp, path).map_err(io_err("rename onto", path))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
        return result;
    }
    // The rename is durable once the folder is synced.
    fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync folder", &dir))
}

/// 0644 for a new file (set explicitly, so the umask does not matter).
#[cfg(unix)]
fn default_permissions() -> Option<fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn default_permissions() -> Option<fs::Permissions> {
    None
}

/// Whether `path` holds a regular file (following a symbolic link):
/// `false` when nothing is there, [`ExportError::NotAFile`] for anything
/// else. An export is only ever written over a file it could have written.
fn existing(path: &Path) -> Result<bool, ExportError> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(true),
        Ok(_) => Err(ExportError::NotAFile {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("read", path)(e)),
    }
}

/// Whether an export can be written at `path`: its folder exists, and the
/// path holds a regular file or nothing. For callers that check their
/// targets before they start (`mxkit trap run`, `trap export --out`).
pub fn check_target(path: &Path) -> Result<(), ExportError> {
    existing(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(ExportError::Io {
            op: "write",
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::NotFound, "its folder does not exist"),
        });
    }
    Ok(())
}

/// The first `limit` bytes of the export at `path` (and one more, so a
/// longer file shows as longer), or `None` when there is none yet.
fn read_existing(path: &Path, limit: usize) -> Result<Option<Vec<u8>>, ExportError> {
    if !existing(path)? {
        return Ok(None);
    }
    let mut old = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(limit as u64 + 1).read_to_end(&mut old))
        .map_err(io_err("read", path))?;
    Ok(Some(old))
}

/// [`write_atomic`] unless `path` already holds exactly `bytes`.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<Written, ExportError> {
    if read_existing(path, bytes.len())?.is_some_and(|old| old == bytes) {
        return Ok(Written::Unchanged);
    }
    write_atomic(path, bytes)?;
    Ok(Written::Replaced)
}

/// The most of an old DNSBL zone read back to keep its serial: beyond any
/// list the trap keeps (about five million entries); a longer file is
/// rewritten, never read whole.
const MAX_OLD_ZONE: usize = 256 << 20;

/// The SOA serial of a zone file this module wrote, if `text` is one.
fn zone_serial(text: &str) -> Option<u32> {
    let line = text.lines().find(|l| l.starts_with("@ IN SOA "))?;
    line.split_whitespace().nth(5)?.parse().ok()
}

/// Render `format` and write it to `path` if it changed. For
/// [`Format::DnsblZone`] the serial is chosen here: the old file's serial
/// when nothing else changed (so the bytes stay identical), else the
/// current Unix time in seconds, or the old serial + 1 when that is not
/// greater (RFC 1982: it must go forward for secondaries to transfer).
/// `opts.serial` is then ignored; [`render`] uses it as given.
pub fn export(
    path: &Path,
    format: Format,
    listings: &[Listing],
    now: Micros,
    opts: &ExportOptions,
) -> Result<Written, ExportError> {
    if format != Format::DnsblZone {
        return write_if_changed(path, render(format, listings, now, opts)?.as_bytes());
    }
    let old = read_existing(path, MAX_OLD_ZONE)?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    let old_serial = old.as_deref().and_then(zone_serial);
    let mut opts = opts.clone();
    if let (Some(old), Some(serial)) = (&old, old_serial) {
        opts.serial = serial;
        if render(format, listings, now, &opts)? == *old {
            return Ok(Written::Unchanged);
        }
    }
    let now_secs = u32::try_from(now.div_euclid(1_000_000)).unwrap_or(u32::MAX);
    opts.serial = match old_serial {
        Some(s) if now_secs <= s => s.wrapping_add(1),
        _ => now_secs,
    };
    write_atomic(path, render(format, listings, now, &opts)?.as_bytes())?;
    Ok(Written::Replaced)
}

/// A DNS name a zone file can hold: labels of letters, digits, `-` and `_`
/// (and `\.` inside an RNAME's first label), 1 to 63 octets each, at most
/// 253 in all.
fn dns_name(field: &'static str, name: &str) -> Result<(), ExportError> {
    let n = name.trim_end_matches('.');
    if n.is_empty() || n.len() > 253 {
        return Err(bad(field, "must be a domain name of 1 to 253 characters"));
    }
    let unescaped = n.replace("\\.", "-");
    for label in unescaped.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad(field, "has an empty or over-long label"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad(
                field,
                "may hold only letters, digits, '-' and '_' (use the A-label of an IDN)",
            ));
        }
    }
    Ok(())
}

fn nft_ident(field: &'static str, s: &str) -> Result<(), ExportError> {
    let ok = s.len() <= 255
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(bad(
            field,
            "must start with a letter and hold only letters, digits and '_'",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::secs;

    fn listing(ip: &str, grade: Grade, expires: Micros) -> Listing {
        Listing {
            ip: ip.parse().unwrap(),
            grade,
            reason: "decoy-first".into(),
            first_seen: secs(1_000),
            last_seen: secs(2_000),
            expires,
            events: 1,
            shadow: false,
        }
    }

    #[test]
    fn reverse_labels() {
        assert_eq!(reverse_label("192.0.2.7".parse().unwrap()), "7.2.0.192");
        assert_eq!(
            reverse_label(IpAddr::V6(TEST_V6)),
            "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"
        );
        // RFC 5782 section 2.4's example.
        assert_eq!(
            reverse_label("2001:db8:1:2:3:4:567:89ab".parse().unwrap()),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2"
        );
    }

    #[test]
    fn filtering_and_order() {
        let now = secs(10_000);
        let mut shadow = listing("192.0.2.1", Grade::Trapped, now + secs(60));
        shadow.shadow = true;
        let listings = vec![
            listing("192.0.2.9", Grade::Suspect, now + secs(60)),
            listing("2001:db8::1", Grade::Trapped, now + secs(60)),
            listing("192.0.2.3", Grade::Trapped, now),
            listing("192.0.2.4", Grade::Probe, now + secs(60)),
            listing("192.0.2.5", Grade::Observed, now + secs(60)),
            listing("127.0.0.1", Grade::Trapped, now + secs(60)),
            listing("::ffff:192.0.2.8", Grade::Repeat, now + secs(60)),
            listing("192.0.2.8", Grade::Suspect, now + secs(90)),
            shadow,
        ];
        let got: Vec<(String, Grade)> = entries(Format::Json, &listings, now)
            .iter()
            .map(|e| (e.ip.to_string(), e.listing.grade))
            .collect();
        assert_eq!(
            got,
            vec![
                ("192.0.2.8".to_string(), Grade::Repeat),
                ("192.0.2.9".to_string(), Grade::Suspect),
                ("2001:db8::1".to_string(), Grade::Trapped),
            ]
        );
        let nft: Vec<String> = entries(Format::Nftables, &listings, now)
            .iter()
            .map(|e| e.ip.to_string())
            .collect();
        assert_eq!(nft, vec!["192.0.2.8", "2001:db8::1"]);
    }

    #[test]
    fn rendering_is_deterministic() {
        let now = secs(10_000);
        let a = vec![
            listing("192.0.2.9", Grade::Suspect, now + secs(60)),
            listing("192.0.2.1", Grade::Trapped, now + secs(60)),
        ];
        let b: Vec<Listing> = a.iter().rev().cloned().collect();
        let opts = ExportOptions::default();
        for f in Format::ALL {
            assert_eq!(
                render(f, &a, now, &opts).unwrap(),
                render(f, &b, now, &opts).unwrap(),
                "{f}"
            );
        }
    }

    #[test]
    fn texts_are_one_line_and_escaped() {
        assert_eq!(one_line("a\r\nb\t c"), "a b c");
        assert_eq!(one_line("\n"), "listed");
        assert_eq!(one_line("é"), "?");
        assert_eq!(txt_rdata("say \"hi\" \\"), "\"say \\\"hi\\\" \\\\\"");
        let long = "x".repeat(300);
        assert_eq!(
            txt_rdata(&long),
            format!("\"{}\" \"{}\"", "x".repeat(255), "x".repeat(45))
        );
        assert_eq!(rbldnsd_text("cost $5"), "cost $$5");
    }

    #[test]
    fn json_times_and_grade_words() {
        let now = secs(10_000);
        let text = render(
            Format::Json,
            &[listing("192.0.2.9", Grade::Repeat, secs(951_782_400))],
            now,
            &ExportOptions::default(),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v[0]["grade"], "repeat");
        assert_eq!(v[0]["expires"], "2000-02-29T00:00:00Z");
        assert_eq!(v[0]["first_seen"], "1970-01-01T00:16:40Z");
        assert_eq!(
            render(Format::Json, &[], now, &ExportOptions::default()).unwrap(),
            "[]\n"
        );
    }

    #[test]
    fn options_are_validated() {
        let mut o = ExportOptions {
            zone: "bad zone".into(),
            ..ExportOptions::default()
        };
        assert!(render(Format::DnsblZone, &[], 0, &o).is_err());
        assert!(render(Format::Json, &[], 0, &o).is_ok());
        o.nft_table = "inet".into();
        assert!(render(Format::Nftables, &[], 0, &o).is_err());
        o.nft_table = "inet mx;trap".into();
        assert!(render(Format::Nftables, &[], 0, &o).is_err());
        o.info_url = "https://x/\n".into();
        assert!(render(Format::PostfixCidr, &[], 0, &o).is_err());
        assert_eq!(Format::parse("postfix-cidr"), Some(Format::PostfixCidr));
        assert!("nope".parse::<Format>().is_err());
        assert_eq!(
            rname("host.master@example.org"),
            "host\\.master.example.org"
        );
        assert!(dns_name("soa_rname", &rname("host.master@example.org")).is_ok());
    }
}

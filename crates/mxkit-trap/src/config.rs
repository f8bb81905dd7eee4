//! The trap's configuration file (TOML), the same settings as the flags of
//! `mxkit trap run`; flags given on the command line add to or override it.
//! `contrib/trap.toml` is a commented example.
//!
//! Every value is checked when the file is read, so nothing past
//! [`Config::parse`] sees a number it cannot use: a window, interval, TTL
//! or limit must be a finite number inside its range ([`RANGES`]), or the
//! file is refused with `FILE: key: reason` (`nan`, `inf`, `1e308`, `-5`
//! and a TTL of 0 never reach the detector, where they would panic,
//! overflow into a listing that expires at once, or switch a guard off).
//! Texts the decoy sends (the host name) must be printable. The file itself
//! is read up to [`MAX_FILE`] bytes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::detect::Windows;
use crate::export::ExportOptions;
use crate::listener::Limits;
use crate::model::Micros;

/// The largest configuration file read: far beyond any real one, small
/// enough that `--config /dev/zero` is refused at once.
pub const MAX_FILE: u64 = 1 << 20;

/// A configuration file that cannot be used: `FILE: fault`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {fault}")]
    Parse { path: PathBuf, fault: Fault },
}

/// What is wrong with a configuration's text, and where; one line.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Fault {
    /// A key's value: the wrong type, outside its range, or not a key at
    /// all. `key` is its dotted path (`windows.decide`).
    #[error("{key}: {reason}")]
    Key { key: String, reason: String },
    /// A syntax error not inside one key.
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    /// An error the parser could not place.
    #[error("{0}")]
    Unplaced(String),
    #[error("larger than {limit} bytes: not a configuration file")]
    TooLarge { limit: u64 },
    #[error("not UTF-8 text (byte {at})")]
    NotUtf8 { at: usize },
}

impl Fault {
    fn key(key: &str, reason: impl std::fmt::Display) -> Fault {
        Fault::Key {
            key: key.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Why a number is outside its [`Range`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error(
    "must be {} {} {}{} {}, not {value}",
    if range.whole { "a whole number of" } else { "a number of" },
    range.unit,
    if range.min_allowed { format!("from {}", range.min) } else { format!("greater than {} and at most", range.min) },
    if range.min_allowed { " to" } else { "" },
    range.max
)]
pub struct OutOfRange {
    pub range: Range,
    pub value: f64,
}

/// Why a host name cannot be sent in the greeting.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadHostname {
    #[error("is empty")]
    Empty,
    #[error("is {0} bytes long, at most 255")]
    TooLong(usize),
    #[error("holds {0:?}: a host name is printable ASCII without spaces")]
    Unprintable(char),
}

/// A number in the file: a TOML integer or float (`60`, `0.5`, also `nan`
/// and `inf`, which [`Config::parse`] refuses with the key's name).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Number(pub f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Number, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Number;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The file's contents. Every key is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `sqlite:PATH` or `postgres://...`.
    pub store: Option<String>,
    /// The name in the decoy's greeting.
    pub hostname: Option<String>,
    /// `ADDR:PORT` to listen on (IPv6 as `[ADDR]:PORT`).
    pub listen: Vec<String>,
    /// Postfix logs of the real MX hosts: file paths or `journal`.
    pub primary_log: Vec<String>,
    /// The real MX hosts' addresses (`IP:25`) to probe every minute: no
    /// listings while one does not greet, nor for 15 minutes after.
    pub primary_probe: Vec<String>,
    /// Seconds between probes (default 60).
    pub probe_interval: Option<Number>,
    /// Read a log file from its start the first time (default: from its
    /// end, as `tail -f`).
    pub read_from_start: bool,
    pub shadow: bool,
    /// Networks never listed.
    pub allow: Vec<String>,
    /// Seconds between decisions and exports (default 10).
    pub interval: Option<Number>,
    /// `[[export]]` tables: `format` and `path`.
    pub export: Vec<ExportEntry>,
    /// Texts and names the exports use.
    pub publish: Publish,
    pub windows: WindowsConfig,
    pub limits: LimitsConfig,
    pub retention: RetentionConfig,
    pub dns: DnsConfig,
}

/// `[dns]`: reverse lookups of decoy clients.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Look up each candidate's forward-confirmed name, so that a provider's
    /// pool (same /24 or /64, same name domain) seen at the real MX host
    /// from another address is not listed.
    pub fcrdns: bool,
    /// Resolvers to ask (`IP` or `IP:PORT`); default: /etc/resolv.conf.
    pub servers: Vec<String>,
    /// The domain the decoy is an MX of: routed every `watch_interval`
    /// seconds; when its plan changes, nothing is listed for twice its TTL.
    pub watch: Option<String>,
    /// Seconds between checks of `watch` (default 60).
    pub watch_interval: Option<Number>,
}

/// One `[[export]]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportEntry {
    /// rspamd, postfix-cidr, dnsbl-zone, rbldnsd, nftables or json.
    pub format: String,
    pub path: PathBuf,
}

/// What the exports say about themselves.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Publish {
    /// Where a listed sender can ask to be removed (in reply texts and TXT).
    pub info_url: Option<String>,
    /// The DNSBL zone's name, e.g. `mxtrap.example.org`.
    pub dnsbl_zone: Option<String>,
    /// The DNSBL zone's name servers.
    pub dnsbl_ns: Vec<String>,
    /// The DNSBL zone's SOA contact (`hostmaster.example.org`).
    pub dnsbl_contact: Option<String>,
    /// The nftables table name (default `mxtrap`).
    pub nft_table: Option<String>,
}

impl Config {
    /// What the exports say about themselves: `[publish]` over the
    /// defaults of [`ExportOptions`]; the first of `dnsbl_ns` is also the
    /// DNSBL zone's primary (SOA MNAME).
    pub fn export_options(&self) -> ExportOptions {
        let p = &self.publish;
        let mut o = ExportOptions::default();
        if let Some(url) = &p.info_url {
            o.info_url = url.clone();
        }
        if let Some(zone) = &p.dnsbl_zone {
            o.zone = zone.clone();
        }
        if let Some(primary) = p.dnsbl_ns.first() {
            o.ns = p.dnsbl_ns.clone();
            o.soa_mname = primary.clone();
        }
        if let Some(c) = &p.dnsbl_contact {
            o.soa_rname = c.clone();
        }
        if let Some(t) = &p.nft_table {
            o.nft_table = t.clone();
        }
        o
    }
}

/// `[windows]`, in seconds.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowsConfig {
    pub memory: Option<Number>,
    pub skew: Option<Number>,
    pub known_good: Option<Number>,
    pub decide: Option<Number>,
    pub startup_grace: Option<Number>,
    pub health: Option<Number>,
    pub recovery: Option<Number>,
    pub second_session: Option<Number>,
    pub suspect_ttl: Option<Number>,
    pub trapped_ttl: Option<Number>,
    pub repeat_ttl: Option<Number>,
    pub cap: Option<Number>,
}

/// `[limits]` of each decoy connection.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Seconds (may be fractional).
    pub greet_wait: Option<Number>,
    pub command_timeout: Option<Number>,
    pub session_timeout: Option<Number>,
    pub max_commands: Option<Number>,
    pub max_connections: Option<Number>,
}

/// `[retention]`, in days.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    pub observations: Option<Number>,
    pub decisions: Option<Number>,
}

/// What a numeric key may hold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub key: &'static str,
    /// The least value, and whether it is allowed itself (`false`: the
    /// value must be greater).
    pub min: f64,
    pub min_allowed: bool,
    pub max: f64,
    /// Whole numbers only.
    pub whole: bool,
    pub unit: &'static str,
}

const DAY: f64 = 86_400.0;
/// Ten years: longer than any window or listing could sensibly be, and far
/// inside what a time in microseconds can add without overflowing.
const LONGEST: f64 = 3650.0 * DAY;

const fn secs(key: &'static str, min_allowed: bool, max: f64) -> Range {
    Range {
        key,
        min: 0.0,
        min_allowed,
        max,
        whole: false,
        unit: "seconds",
    }
}

/// Seconds between runs of a loop: from `min`, at most an hour.
const fn every(key: &'static str, min: f64) -> Range {
    Range {
        min,
        min_allowed: true,
        ..secs(key, true, 3600.0)
    }
}

/// Whole numbers from 1 to `max`.
const fn count(key: &'static str, unit: &'static str, max: f64) -> Range {
    Range {
        key,
        min: 1.0,
        min_allowed: true,
        max,
        whole: true,
        unit,
    }
}

/// Days kept: more than 0, at most ten years.
const fn days(key: &'static str) -> Range {
    Range {
        max: 3650.0,
        unit: "days",
        ..secs(key, false, 0.0)
    }
}

/// Every numeric key and its range. A TTL, a listing cap, a timeout or an
/// interval of 0 is refused (a listing that expires at once, a decoy that
/// drops every client, a loop that never waits); windows may be 0 (the
/// guard is then off).
pub const RANGES: &[Range] = &[
    secs("windows.memory", true, LONGEST),
    secs("windows.skew", true, DAY),
    secs("windows.known_good", true, LONGEST),
    secs("windows.decide", true, DAY),
    secs("windows.startup_grace", true, DAY),
    secs("windows.health", false, DAY),
    secs("windows.recovery", true, DAY),
    secs("windows.second_session", true, LONGEST),
    secs("windows.suspect_ttl", false, LONGEST),
    secs("windows.trapped_ttl", false, LONGEST),
    secs("windows.repeat_ttl", false, LONGEST),
    secs("windows.cap", false, LONGEST),
    secs("limits.greet_wait", true, 300.0),
    secs("limits.command_timeout", false, 3600.0),
    secs("limits.session_timeout", false, DAY),
    count("limits.max_commands", "commands", 1e6),
    count("limits.max_connections", "connections", 1e7),
    every("interval", 0.05),
    every("probe_interval", 0.1),
    every("dns.watch_interval", 0.1),
    days("retention.observations"),
    days("retention.decisions"),
];

impl Range {
    /// `Ok` when `v` is inside.
    pub fn check(&self, v: f64) -> Result<f64, OutOfRange> {
        let low_ok = if self.min_allowed {
            v >= self.min
        } else {
            v > self.min
        };
        if v.is_finite() && low_ok && v <= self.max && (!self.whole || v.fract() == 0.0) {
            return Ok(v);
        }
        Err(OutOfRange {
            range: *self,
            value: v,
        })
    }
}

/// Whether `name` can be sent as the decoy's host name: 1 to 255 printable
/// ASCII characters without spaces (a host name or an address literal), so
/// that no CR, LF or escape reaches a client through the greeting or the
/// EHLO reply.
pub fn check_hostname(name: &str) -> Result<(), BadHostname> {
    if name.is_empty() {
        return Err(BadHostname::Empty);
    }
    if name.len() > 255 {
        return Err(BadHostname::TooLong(name.len()));
    }
    if let Some(c) = name.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(BadHostname::Unprintable(c));
    }
    Ok(())
}

impl Config {
    /// Reads and checks the file (at most [`MAX_FILE`] bytes).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let read_err = |source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        let parse_err = |fault| ConfigError::Parse {
            path: path.to_path_buf(),
            fault,
        };
        if bytes.len() as u64 > MAX_FILE {
            return Err(parse_err(Fault::TooLarge { limit: MAX_FILE }));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            parse_err(Fault::NotUtf8 {
                at: e.utf8_error().valid_up_to(),
            })
        })?;
        Config::parse(&text).map_err(parse_err)
    }

    /// Parses and checks a file's text.
    pub fn parse(text: &str) -> Result<Config, Fault> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let reason = e.message().trim().replace('\n', " ");
            match e.span().map(|span| locate(text, span.start)) {
                Some(Place::Key(key)) => Fault::Key { key, reason },
                Some(Place::Line(line)) => Fault::Line { line, reason },
                None => Fault::Unplaced(reason),
            }
        })?;
        config.check()?;
        Ok(config)
    }

    /// Every number inside its range, every text the decoy sends printable.
    fn check(&self) -> Result<(), Fault> {
        for range in RANGES {
            if let Some(Number(v)) = self.number(range.key) {
                range.check(v).map_err(|e| Fault::key(range.key, e))?;
            }
        }
        if let Some(name) = &self.hostname {
            check_hostname(name).map_err(|e| Fault::key("hostname", e))?;
        }
        Ok(())
    }

    /// The value of a numeric key of [`RANGES`].
    fn number(&self, key: &str) -> Option<Number> {
        let (w, l, r) = (&self.windows, &self.limits, &self.retention);
        match key {
            "windows.memory" => w.memory,
            "windows.skew" => w.skew,
            "windows.known_good" => w.known_good,
            "windows.decide" => w.decide,
            "windows.startup_grace" => w.startup_grace,
            "windows.health" => w.health,
            "windows.recovery" => w.recovery,
            "windows.second_session" => w.second_session,
            "windows.suspect_ttl" => w.suspect_ttl,
            "windows.trapped_ttl" => w.trapped_ttl,
            "windows.repeat_ttl" => w.repeat_ttl,
            "windows.cap" => w.cap,
            "limits.greet_wait" => l.greet_wait,
            "limits.command_timeout" => l.command_timeout,
            "limits.session_timeout" => l.session_timeout,
            "limits.max_commands" => l.max_commands,
            "limits.max_connections" => l.max_connections,
            "interval" => self.interval,
            "probe_interval" => self.probe_interval,
            "dns.watch_interval" => self.dns.watch_interval,
            "retention.observations" => r.observations,
            "retention.decisions" => r.decisions,
            _ => None,
        }
    }

    /// The value of `key` as checked by its range, or `default`. A value
    /// outside the range (a `Config` built in code, not parsed) is clamped
    /// into it, so nothing here can overflow or panic.
    fn value(&self, key: &str, default: f64) -> f64 {
        let v = self.number(key).map_or(default, |n| n.0);
        match RANGES.iter().find(|r| r.key == key) {
            Some(r) if !v.is_finite() => default.clamp(r.min, r.max),
            Some(r) => v.clamp(r.min, r.max),
            None => v,
        }
    }

    fn micros(&self, key: &str, default: Micros) -> Micros {
        (self.value(key, default as f64 / 1e6) * 1e6).round() as Micros
    }

    fn duration(&self, key: &str, default: Duration) -> Duration {
        Duration::from_secs_f64(self.value(key, default.as_secs_f64()).max(0.0))
    }

    pub fn windows(&self) -> Windows {
        let d = Windows::default();
        Windows {
            memory: self.micros("windows.memory", d.memory),
            skew: self.micros("windows.skew", d.skew),
            known_good: self.micros("windows.known_good", d.known_good),
            decide: self.micros("windows.decide", d.decide),
            startup_grace: self.micros("windows.startup_grace", d.startup_grace),
            health: self.micros("windows.health", d.health),
            recovery: self.micros("windows.recovery", d.recovery),
            second_session: self.micros("windows.second_session", d.second_session),
            suspect_ttl: self.micros("windows.suspect_ttl", d.suspect_ttl),
            trapped_ttl: self.micros("windows.trapped_ttl", d.trapped_ttl),
            repeat_ttl: self.micros("windows.repeat_ttl", d.repeat_ttl),
            cap: self.micros("windows.cap", d.cap),
            ..d
        }
    }

    pub fn limits(&self) -> Limits {
        let d = Limits::default();
        Limits {
            greet_wait: self.duration("limits.greet_wait", d.greet_wait),
            command_timeout: self.duration("limits.command_timeout", d.command_timeout),
            session_timeout: self.duration("limits.session_timeout", d.session_timeout),
            max_commands: self.value("limits.max_commands", f64::from(d.max_commands)) as u32,
            max_connections: self.value("limits.max_connections", d.max_connections as f64)
                as usize,
            ..d
        }
    }

    pub fn retention(&self) -> crate::store::Retention {
        let d = crate::store::Retention::default();
        let days = |key, default: Micros| {
            (self.value(key, default as f64 / (DAY * 1e6)) * DAY * 1e6).round() as Micros
        };
        crate::store::Retention {
            observations: days("retention.observations", d.observations),
            decisions: days("retention.decisions", d.decisions),
        }
    }

    /// `[dns] servers` as addresses (empty: /etc/resolv.conf).
    pub fn dns_servers(&self) -> Result<Vec<std::net::SocketAddr>, Fault> {
        let mut servers = Vec::new();
        for s in &self.dns.servers {
            let addr = s
                .parse::<std::net::SocketAddr>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()))
                .map_err(|_| Fault::key("dns.servers", format!("{s:?} is not IP or IP:PORT")))?;
            servers.push(addr);
        }
        Ok(servers)
    }

    pub fn watch_interval(&self) -> Duration {
        self.duration("dns.watch_interval", Duration::from_secs(60))
    }

    pub fn probe_interval(&self) -> Duration {
        self.duration("probe_interval", Duration::from_secs(60))
    }

    pub fn interval(&self) -> Duration {
        self.duration("interval", Duration::from_secs(10))
    }
}

/// Where in the text a fault is.
enum Place {
    /// The key whose line it is (`windows.decide`).
    Key(String),
    /// A line (from 1) that holds no `key =`.
    Line(usize),
}

/// Where byte `offset` of `text` is.
fn locate(text: &str, offset: usize) -> Place {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_no = text[..offset].matches('\n').count();
    let mut table = String::new();
    for line in text.lines().take(line_no) {
        let t = line.trim();
        if t.starts_with('[') {
            table = t.trim_matches(['[', ']']).trim().to_string();
        }
    }
    let line = text.lines().nth(line_no).unwrap_or("").trim();
    match line.split_once('=') {
        Some((key, _)) if !line.starts_with('[') && !key.trim().is_empty() => {
            let key = key.trim().trim_matches(['"', '\'']);
            let key: String = key.chars().take(64).collect();
            if table.is_empty() {
                Place::Key(key)
            } else {
                Place::Key(format!("{table}.{key}"))
            }
        }
        _ => Place::Line(line_no + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contrib_example_parses() {
        let text = include_str!("../../../contrib/trap.toml");
        let c = Config::parse(text).unwrap();
        assert!(c.store.is_some());
        assert!(!c.listen.is_empty());
        assert!(!c.export.is_empty());
    }

    #[test]
    fn unknown_keys_are_refused_with_their_place() {
        let e = Config::parse("listen = [\"127.0.0.3:25\"]\nshadwo = true\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("shadwo: "), "{e}");
        assert!(!e.contains('\n'));
        let e = Config::parse("[windows]\ndecid = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("windows.decid: "), "{e}");
    }

    #[test]
    fn windows_are_seconds() {
        let c = Config::parse("[windows]\ndecide = 1\nstartup_grace = 0\nskew = 0.5\n").unwrap();
        let w = c.windows();
        assert_eq!(w.decide, 1_000_000);
        assert_eq!(w.startup_grace, 0);
        assert_eq!(w.skew, 500_000);
        assert_eq!(w.memory, Windows::default().memory);
    }

    #[test]
    fn numbers_outside_their_range_are_refused_with_the_key() {
        for (text, key) in [
            ("[windows]\ndecide = nan\n", "windows.decide: "),
            ("[windows]\ntrapped_ttl = inf\n", "windows.trapped_ttl: "),
            ("[windows]\ncap = 1e308\n", "windows.cap: "),
            ("[windows]\nmemory = -1\n", "windows.memory: "),
            ("[windows]\nsuspect_ttl = 0\n", "windows.suspect_ttl: "),
            (
                "[windows]\nrepeat_ttl = 9223372036854775807\n",
                "windows.repeat_ttl: ",
            ),
            (
                "[limits]\nsession_timeout = -inf\n",
                "limits.session_timeout: ",
            ),
            ("[limits]\ngreet_wait = 1e9\n", "limits.greet_wait: "),
            ("[limits]\nmax_commands = 0\n", "limits.max_commands: "),
            (
                "[limits]\nmax_connections = 2.5\n",
                "limits.max_connections: ",
            ),
            ("interval = 0\n", "interval: "),
            ("interval = nan\n", "interval: "),
            ("probe_interval = -1\n", "probe_interval: "),
            ("[dns]\nwatch_interval = inf\n", "dns.watch_interval: "),
            (
                "[retention]\nobservations = 1e300\n",
                "retention.observations: ",
            ),
            ("[retention]\ndecisions = -nan\n", "retention.decisions: "),
            ("[windows]\ndecide = \"60\"\n", "windows.decide: "),
            (
                "[windows]\ndecide = 99999999999999999999999\n",
                "windows.decide: ",
            ),
        ] {
            let e = Config::parse(text).unwrap_err().to_string();
            assert!(e.starts_with(key), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn publish_sets_the_export_options() {
        assert_eq!(Config::default().export_options(), ExportOptions::default());
        let c = Config::parse(
            "[publish]\ninfo_url = \"https://example.org/mxtrap?ip={ip}\"\n\
             dnsbl_zone = \"mxtrap.example.org\"\n\
             dnsbl_ns = [\"ns1.example.org\", \"ns2.example.org\"]\n\
             dnsbl_contact = \"hostmaster.example.org\"\nnft_table = \"inet trap\"\n",
        )
        .unwrap();
        let o = c.export_options();
        assert_eq!(o.info_url, "https://example.org/mxtrap?ip={ip}");
        assert_eq!(o.zone, "mxtrap.example.org");
        assert_eq!(o.ns, ["ns1.example.org", "ns2.example.org"]);
        assert_eq!(o.soa_mname, "ns1.example.org");
        assert_eq!(o.soa_rname, "hostmaster.example.org");
        assert_eq!(o.nft_table, "inet trap");
        assert_eq!(o.ttl, ExportOptions::default().ttl);
    }

    #[test]
    fn host_names_with_control_characters_are_refused() {
        for bad in [
            "hostname = \"mx\\r\\n250 injected\"",
            "hostname = \"mx\\u001b[2J\"",
            "hostname = \"\"",
            "hostname = \"two words\"",
        ] {
            let e = Config::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("hostname: "), "{bad}: {e}");
        }
        Config::parse("hostname = \"mx99.example.org\"").unwrap();
        Config::parse("hostname = \"[192.0.2.99]\"").unwrap();
    }

    #[test]
    fn a_config_built_in_code_is_clamped_not_trusted() {
        let mut c = Config::default();
        c.windows.trapped_ttl = Some(Number(f64::INFINITY));
        c.windows.decide = Some(Number(-5.0));
        c.limits.session_timeout = Some(Number(f64::NAN));
        c.interval = Some(Number(1e300));
        let w = c.windows();
        assert_eq!(w.trapped_ttl, Windows::default().trapped_ttl);
        assert_eq!(w.decide, 0);
        assert_eq!(
            c.limits().session_timeout,
            Limits::default().session_timeout
        );
        assert_eq!(c.interval(), Duration::from_secs(3600));
    }
}

//! The trap's configuration file (TOML), the same settings as the flags of
//! `mxkit trap run`; flags given on the command line add to or override it.
//! `contrib/trap.toml` is a commented example.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::detect::Windows;
use crate::listener::Limits;
use crate::model::secs;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
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
    pub probe_interval: Option<f64>,
    /// Read a log file from its start the first time (default: from its
    /// end, as `tail -f`).
    pub read_from_start: bool,
    pub shadow: bool,
    /// Networks never listed.
    pub allow: Vec<String>,
    /// Seconds between decisions and exports (default 10).
    pub interval: Option<f64>,
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
    pub watch_interval: Option<f64>,
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

/// `[windows]`, in seconds.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowsConfig {
    pub memory: Option<i64>,
    pub skew: Option<i64>,
    pub known_good: Option<i64>,
    pub decide: Option<i64>,
    pub startup_grace: Option<i64>,
    pub health: Option<i64>,
    pub recovery: Option<i64>,
    pub second_session: Option<i64>,
    pub suspect_ttl: Option<i64>,
    pub trapped_ttl: Option<i64>,
    pub repeat_ttl: Option<i64>,
    pub cap: Option<i64>,
}

/// `[limits]` of each decoy connection.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Seconds (may be fractional).
    pub greet_wait: Option<f64>,
    pub command_timeout: Option<f64>,
    pub session_timeout: Option<f64>,
    pub max_commands: Option<u32>,
    pub max_connections: Option<usize>,
}

/// `[retention]`, in days.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    pub observations: Option<f64>,
    pub decisions: Option<f64>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))
    }

    pub fn windows(&self) -> Windows {
        let mut w = Windows::default();
        let c = &self.windows;
        let set = |v: &mut i64, s: Option<i64>| {
            if let Some(s) = s {
                *v = secs(s);
            }
        };
        set(&mut w.memory, c.memory);
        set(&mut w.skew, c.skew);
        set(&mut w.known_good, c.known_good);
        set(&mut w.decide, c.decide);
        set(&mut w.startup_grace, c.startup_grace);
        set(&mut w.health, c.health);
        set(&mut w.recovery, c.recovery);
        set(&mut w.second_session, c.second_session);
        set(&mut w.suspect_ttl, c.suspect_ttl);
        set(&mut w.trapped_ttl, c.trapped_ttl);
        set(&mut w.repeat_ttl, c.repeat_ttl);
        set(&mut w.cap, c.cap);
        w
    }

    pub fn limits(&self) -> Limits {
        let mut l = Limits::default();
        let c = &self.limits;
        let dur = |s: f64| Duration::from_secs_f64(s.max(0.0));
        if let Some(s) = c.greet_wait {
            l.greet_wait = dur(s);
        }
        if let Some(s) = c.command_timeout {
            l.command_timeout = dur(s);
        }
        if let Some(s) = c.session_timeout {
            l.session_timeout = dur(s);
        }
        if let Some(n) = c.max_commands {
            l.max_commands = n;
        }
        if let Some(n) = c.max_connections {
            l.max_connections = n.max(1);
        }
        l
    }

    pub fn retention(&self) -> crate::store::Retention {
        let day = |d: f64| (d * 86_400e6) as i64;
        crate::store::Retention {
            observations: day(self.retention.observations.unwrap_or(7.0)),
            decisions: day(self.retention.decisions.unwrap_or(30.0)),
        }
    }

    /// `[dns] servers` as addresses (empty: /etc/resolv.conf).
    pub fn dns_servers(&self) -> Result<Vec<std::net::SocketAddr>, String> {
        let mut servers = Vec::new();
        for s in &self.dns.servers {
            let addr = s
                .parse::<std::net::SocketAddr>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()))
                .map_err(|_| format!("[dns] servers: {s:?} is not IP or IP:PORT"))?;
            servers.push(addr);
        }
        Ok(servers)
    }

    pub fn watch_interval(&self) -> Duration {
        Duration::from_secs_f64(self.dns.watch_interval.unwrap_or(60.0).clamp(0.1, 3600.0))
    }

    pub fn probe_interval(&self) -> Duration {
        Duration::from_secs_f64(self.probe_interval.unwrap_or(60.0).clamp(0.1, 3600.0))
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.interval.unwrap_or(10.0).clamp(0.05, 3600.0))
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
        let e = Config::parse("listen = [\"127.0.0.3:25\"]\nshadwo = true\n").unwrap_err();
        assert!(e.contains("shadwo"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn windows_are_seconds() {
        let c = Config::parse("[windows]\ndecide = 1\nstartup_grace = 0\n").unwrap();
        let w = c.windows();
        assert_eq!(w.decide, 1_000_000);
        assert_eq!(w.startup_grace, 0);
        assert_eq!(w.memory, Windows::default().memory);
    }
}

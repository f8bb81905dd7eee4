//! Resolver configuration: [`EngineConfig`] (servers, timeouts and
//! backoff, EDNS payload, sockets, rate) and reading it from resolv.conf
//! (resolv.conf(5)).

use std::io;
use std::net::{SocketAddr, SocketAddrV6};
use std::path::Path;
use std::time::Duration;

/// Default wait for one try (one server, one transport).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default number of rounds over all servers.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// Largest factor by which later rounds' tries wait longer than the first
/// ([`EngineConfig::try_timeout`]).
pub const MAX_BACKOFF: u32 = 8;
/// Default EDNS0 UDP payload size (DNS flag day 2020: no IP fragmentation).
pub const DEFAULT_EDNS_PAYLOAD: u16 = 1232;
/// Default number of UDP sockets per address family.
pub const DEFAULT_UDP_SOCKETS: usize = 2;
/// Where the system's resolver configuration lives.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// Largest resolv.conf read, in bytes. glibc uses at most 3 nameservers, 6
/// search domains and a handful of options: a full file is well under
/// 4 KiB, so 64 KiB leaves room for comments and still refuses a file that
/// is not a resolv.conf at all.
pub const MAX_RESOLV_CONF: u64 = 64 << 10;
/// The port resolv.conf nameservers listen on (resolv.conf(5) has no port syntax).
const DNS_PORT: u16 = 53;
/// glibc's caps on `options timeout:` and `attempts:` (resolv.conf(5):
/// RES_MAXRETRANS 30, RES_MAXRETRY 5).
const RESOLV_MAX_TIMEOUT: u32 = 30;
const RESOLV_MAX_ATTEMPTS: u32 = 5;

/// How the engine talks to its servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// The recursive resolvers, asked in this order.
    pub servers: Vec<SocketAddr>,
    /// Wait for one try in the first round (per server, per transport);
    /// default 2 s. Each later round waits twice as long as the one
    /// before, up to [`MAX_BACKOFF`] times this ([`EngineConfig::try_timeout`]).
    pub timeout: Duration,
    /// Rounds over all servers; default 3 (0 counts as 1).
    pub attempts: u32,
    /// EDNS0 UDP payload size advertised; default 1232 (values below 512 are
    /// sent as 512, RFC 6891 section 6.2.5).
    pub edns_payload: u16,
    /// Set RD (recursion desired); default true.
    pub recursion_desired: bool,
    /// Set the DO bit (RFC 3225: "DNSSEC OK") in the OPT record, as Postfix
    /// does with `smtp_dns_support_level = dnssec`; default false. The AD
    /// bit is asked for either way (RFC 6840 section 5.7); DO also makes a
    /// validating resolver send the signatures, so replies grow (more of
    /// them truncated, read over TCP): `route`, `probe`, `send` and `check`
    /// set it under `--dnssec ad`, `scan` only with `--secure`
    /// (docs/rules/secure.md).
    pub dnssec_ok: bool,
    /// UDP sockets per address family the servers need; default 2 (0 counts as 1).
    pub udp_sockets: usize,
    /// Seed for the query-ID generator. `None` (the default) seeds from the
    /// operating system; a fixed seed makes IDs predictable, so it is for
    /// tests only.
    pub seed: Option<u64>,
    /// Upper bound on the queries sent per second (UDP tries and TCP
    /// re-asks); `None` (the default): no bound.
    pub rate: Option<u32>,
    /// A bound shared with other engines ([`RateLimit`](super::RateLimit));
    /// when set, it is used instead of `rate`. `None` (the default): the
    /// engine's own bound, from `rate`.
    pub shared_rate: Option<super::RateLimit>,
}

impl EngineConfig {
    /// The defaults, asking `servers`.
    pub fn new(servers: Vec<SocketAddr>) -> Self {
        EngineConfig {
            servers,
            timeout: DEFAULT_TIMEOUT,
            attempts: DEFAULT_ATTEMPTS,
            edns_payload: DEFAULT_EDNS_PAYLOAD,
            recursion_desired: true,
            dnssec_ok: false,
            udp_sockets: DEFAULT_UDP_SOCKETS,
            seed: None,
            rate: None,
            shared_rate: None,
        }
    }

    /// How long a UDP try of round `round` (0 for the first) waits for its
    /// reply, give or take an eighth at random (so that tries sent together
    /// do not time out together): [`EngineConfig::timeout`], doubled every round as glibc's
    /// resolver does (`res_send.c`: `retrans << try`), at most
    /// [`MAX_BACKOFF`] times it. Backing off spreads the tries of a
    /// question that keeps losing its packets over more time, so that
    /// questions stuck on a congested or slow server send less meanwhile,
    /// and a slow server's late answer still finds its question waiting.
    pub fn try_timeout(&self, round: u32) -> Duration {
        self.timeout
            .saturating_mul((1u32 << round.min(31)).min(MAX_BACKOFF))
    }

    /// The longest a question waits over UDP before it gives up: every
    /// round's tries of every server (each try's wait is spread at random
    /// by up to an eighth either way; this counts the longest).
    pub fn budget(&self) -> Duration {
        let servers = u32::try_from(self.servers.len().max(1)).unwrap_or(u32::MAX);
        (0..self.attempts.max(1))
            .map(|round| {
                let wait = self.try_timeout(round);
                wait.saturating_add(wait / 8).saturating_mul(servers)
            })
            .fold(Duration::ZERO, Duration::saturating_add)
    }

    /// The system's resolvers, from [`RESOLV_CONF`].
    pub fn from_system() -> Result<Self, ConfigError> {
        Self::from_resolv_conf_file(RESOLV_CONF)
    }

    /// The resolvers named in a resolv.conf file: a regular file of at most
    /// [`MAX_RESOLV_CONF`] bytes.
    pub fn from_resolv_conf_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = crate::bounded::read_file(path, MAX_RESOLV_CONF).map_err(|source| {
            ConfigError::Unreadable {
                path: path.display().to_string(),
                source,
            }
        })?;
        Self::parse_resolv_conf(&text, &path.display().to_string())
    }

    /// The resolvers named in resolv.conf text (resolv.conf(5)).
    ///
    /// Uses every `nameserver` (port 53; an IPv6 scope is kept when numeric)
    /// and `options timeout:N attempts:N` (capped at 30 s and 5 as glibc does;
    /// where the text is silent, glibc's own defaults apply: 5 s and 2, so that
    /// mxkit waits as long as the system's resolver would). `search`,
    /// `domain` and `ndots` are ignored: names are always absolute. Lines the
    /// parser does not know are skipped, as glibc skips them.
    pub fn from_resolv_conf(text: &str) -> Result<Self, ConfigError> {
        Self::parse_resolv_conf(text.as_bytes(), "resolv.conf")
    }

    fn parse_resolv_conf(text: &[u8], source: &str) -> Result<Self, ConfigError> {
        let (parsed, errors) = resolv_conf::Config::parse_with_errors(text);
        for e in &errors {
            tracing::debug!("{source}: skipped: {e}");
        }
        let servers: Vec<SocketAddr> = parsed
            .nameservers
            .iter()
            .map(|ip| match ip {
                resolv_conf::ScopedIp::V4(v4) => SocketAddr::from((*v4, DNS_PORT)),
                resolv_conf::ScopedIp::V6(v6, scope) => {
                    let scope_id = scope.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0);
                    SocketAddr::V6(SocketAddrV6::new(*v6, DNS_PORT, 0, scope_id))
                }
            })
            .collect();
        if servers.is_empty() {
            return Err(ConfigError::NoNameserver(source.to_owned()));
        }
        let mut cfg = EngineConfig::new(servers);
        cfg.timeout = Duration::from_secs(parsed.timeout.clamp(1, RESOLV_MAX_TIMEOUT).into());
        cfg.attempts = parsed.attempts.clamp(1, RESOLV_MAX_ATTEMPTS);
        Ok(cfg)
    }
}

/// Why no [`EngineConfig`] could be read from the system.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The resolv.conf file could not be read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file names no usable `nameserver`.
    #[error("no nameserver in {0}")]
    NoNameserver(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Backoff and budget saturate instead of overflowing on absurd timeouts.
    #[test]
    fn backoff_saturates() {
        let mut cfg = EngineConfig::new(vec!["127.0.0.1:53".parse().unwrap(); 3]);
        cfg.timeout = Duration::MAX / 2;
        cfg.attempts = 40;
        assert_eq!(cfg.try_timeout(39), Duration::MAX);
        assert_eq!(cfg.budget(), Duration::MAX);
        cfg.timeout = Duration::from_millis(500);
        cfg.attempts = 5;
        assert_eq!(
            (0..6)
                .map(|r| cfg.try_timeout(r).as_millis())
                .collect::<Vec<_>>(),
            [500, 1000, 2000, 4000, 4000, 4000]
        );
    }
}

//! The DNS sources shared by the subcommands: `--server`, `--zone`,
//! `--offline`, `--dns-timeout` -> validated settings -> the [`Lookup`]s.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use mxkit::address::Destination;
use mxkit::dns::engine::{Engine, EngineConfig};
use mxkit::dns::zone::ZoneSet;
use mxkit::dns::{Lookup, Overlay};
use mxkit::route::{Route, RouteOptions};

use crate::Usage;
use crate::args::DnsArgs;

/// Validated DNS settings.
pub struct DnsSettings {
    /// `--server`, port 53 by default; empty: resolv.conf.
    pub servers: Vec<SocketAddr>,
    /// `--zone` files, loaded.
    pub zones: ZoneSet,
    /// `--offline`.
    pub offline: bool,
    /// `--dns-timeout`: the first try's wait (later rounds back off).
    pub timeout: Option<Duration>,
}

/// The sources a command works with.
pub struct Sources {
    /// The resolver view: zone files over live DNS, zone files alone
    /// (offline), or live DNS alone.
    pub lookup: Arc<dyn Lookup>,
    /// Live DNS without the zone files; `None` offline.
    pub live: Option<Arc<dyn Lookup>>,
    /// The per-try timeout in force.
    pub timeout: Duration,
    /// The resolvers asked, for reports (`127.0.0.1:53`), or `offline`.
    pub resolvers: String,
}

impl DnsSettings {
    /// Check the flags and load the zone files (errors are usage errors, exit 64).
    /// `needs_dns`: whether anything will be looked up (not when every
    /// destination is an address literal); then `--offline` needs a zone.
    pub fn from_args(args: &DnsArgs, needs_dns: bool) -> Result<DnsSettings> {
        let servers = args
            .servers
            .iter()
            .map(|s| parse_server(s))
            .collect::<Result<Vec<_>>>()?;
        if args.offline && !servers.is_empty() {
            return Err(Usage("--offline and --server exclude each other".into()).into());
        }
        if args.offline && args.zones.is_empty() && needs_dns {
            // Nothing would answer: every name would be "unresolvable".
            return Err(
                Usage("--offline needs at least one --zone (it asks no server)".into()).into(),
            );
        }
        let timeout = match args.dns_timeout {
            Some(t) if t.is_finite() && t > 0.0 && t <= 60.0 => Some(Duration::from_secs_f64(t)),
            Some(_) => {
                return Err(Usage(
                    "--dns-timeout must be more than 0 and at most 60 seconds".into(),
                )
                .into());
            }
            None => None,
        };
        let zones = ZoneSet::load(&args.zones).map_err(|e| Usage(e.to_string()))?;
        Ok(DnsSettings {
            servers,
            zones,
            offline: args.offline,
            timeout,
        })
    }

    /// Open the sources (binds the engine's sockets unless offline).
    pub async fn sources(&self) -> Result<Sources> {
        if self.offline {
            return Ok(Sources {
                lookup: Arc::new(Overlay {
                    zones: self.zones.clone(),
                    fallback: None,
                }),
                live: None,
                timeout: self.timeout.unwrap_or(mxkit::dns::engine::DEFAULT_TIMEOUT),
                resolvers: "offline".into(),
            });
        }
        let mut config = if self.servers.is_empty() {
            EngineConfig::from_system().context(
                "cannot read the system resolver configuration (give --server IP, or --offline with --zone)",
            )?
        } else {
            EngineConfig::new(self.servers.clone())
        };
        if let Some(t) = self.timeout {
            config.timeout = t;
        }
        let resolvers = config
            .servers
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let timeout = config.timeout;
        let engine: Arc<dyn Lookup> = Arc::new(
            Engine::new(config)
                .await
                .context("cannot open DNS sockets")?,
        );
        let lookup: Arc<dyn Lookup> = if self.zones.is_empty() {
            engine.clone()
        } else {
            Arc::new(Overlay {
                zones: self.zones.clone(),
                fallback: Some(engine.clone()),
            })
        };
        Ok(Sources {
            lookup,
            live: Some(engine),
            timeout,
            resolvers,
        })
    }
}

impl DnsSettings {
    /// Route a destination through these sources. An address literal asks
    /// no DNS: no sockets are opened and resolv.conf is not needed.
    pub async fn route(&self, dest: &Destination, options: &RouteOptions) -> Result<Route> {
        let lookup: Arc<dyn Lookup> = match dest {
            Destination::Literal(_) => Arc::new(Overlay {
                zones: ZoneSet::default(),
                fallback: None,
            }),
            Destination::Domain(_) => self.sources().await?.lookup,
        };
        Ok(mxkit::route::route(lookup.as_ref(), dest, options).await)
    }
}

/// `IP`, `IP:PORT` or `[IPv6]:PORT`; port 53 by default, never 0.
pub fn parse_server(s: &str) -> Result<SocketAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    if s.parse::<SocketAddr>().is_ok_and(|a| a.port() == 0) {
        return Err(Usage::about(
            Some("--server"),
            s,
            "port 0 is not a port a server listens on",
        )
        .into());
    }
    s.parse::<SocketAddr>().map_err(|_| {
        Usage::about(
            Some("--server"),
            s,
            "expected IP or IP:PORT (for example 127.0.0.1:5353 or [::1]:53)",
        )
        .into()
    })
}

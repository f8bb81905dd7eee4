//! The DNS sources of every subcommand, built here and nowhere else:
//! `--server`, `--zone`, `--offline` (and `--dns-timeout`, or `scan`'s
//! `--timeout`, `--retries` and `--rate`) -> validated settings -> the
//! [`Lookup`]s.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use mxkit::address::Destination;
use mxkit::dns::engine::{Engine, EngineConfig};
use mxkit::dns::zone::ZoneSet;
use mxkit::dns::{Lookup, Overlay, Refusals};
use mxkit::route::{Route, RouteOptions};

use crate::Usage;
use crate::args::{DnsArgs, DnssecArg};

/// Validated DNS settings.
pub struct DnsSettings {
    /// `--server`, port 53 by default; empty: resolv.conf.
    pub servers: Vec<SocketAddr>,
    /// `--zone` files, loaded.
    pub zones: ZoneSet,
    /// `--offline`.
    pub offline: bool,
    /// The first try's wait (later rounds back off); `None`: resolv.conf's
    /// (or the engine's default with `--server`).
    pub timeout: Option<Duration>,
    /// Tries per question; `None`: as for `timeout`.
    pub attempts: Option<u32>,
    /// At most this many queries per second; `None`: no limit.
    pub rate: Option<u32>,
    /// A bound shared by several engines (one per scanning thread); when
    /// set, used instead of `rate`.
    pub shared_rate: Option<mxkit::dns::engine::RateLimit>,
    /// `--dnssec ad`: queries carry the DO bit and routes report the
    /// DNSSEC status (docs/rules/secure.md).
    pub dnssec: bool,
}

/// The sources a command works with.
pub struct Sources {
    /// The resolver view: zone files over live DNS, zone files alone
    /// (offline), or live DNS alone.
    pub lookup: Arc<dyn Lookup>,
    /// Live DNS without the zone files (the engine); `None` offline.
    pub engine: Option<Engine>,
    /// The per-try timeout in force.
    pub timeout: Duration,
    /// The resolvers asked, for reports (`127.0.0.1:53`), or `offline`.
    pub resolvers: String,
    /// The resolvers asked (none offline), for `Route::warn_remote_resolver`.
    pub servers: Vec<SocketAddr>,
    /// The `--zone` files, with the zones live DNS serves signed taken as
    /// signed (`ZoneSet::assume_signed`).
    pub zones: ZoneSet,
    /// Offline, the questions about names outside the zones, which were
    /// not asked (the same source as `lookup`); `None` with live DNS.
    pub refusals: Option<Arc<Refusals<Overlay>>>,
}

/// Check `--server` and `--offline` against each other and against the
/// `--zone` files given (`zones`): the servers, port 53 by default. Errors
/// are usage errors (exit 64). `needs_dns`: whether anything will be
/// looked up (not when every destination is an address literal); then
/// `--offline` needs a zone.
pub fn servers(
    servers: &[String],
    offline: bool,
    zones: &[PathBuf],
    needs_dns: bool,
) -> Result<Vec<SocketAddr>> {
    let servers = servers
        .iter()
        .map(|s| parse_server(s))
        .collect::<Result<Vec<_>>>()?;
    if offline && !servers.is_empty() {
        return Err(Usage("--offline and --server exclude each other".into()).into());
    }
    if offline && zones.is_empty() && needs_dns {
        // Nothing would answer: every name would be "unresolvable".
        return Err(Usage("--offline needs at least one --zone (it asks no server)".into()).into());
    }
    Ok(servers)
}

/// Load the `--zone` files (a broken one is a usage error, exit 64).
pub fn load_zones(paths: &[PathBuf]) -> Result<ZoneSet> {
    Ok(ZoneSet::load(paths).map_err(|e| Usage(e.to_string()))?)
}

impl DnsSettings {
    /// Check the flags of `route`, `check`, `probe` and `send` and load the
    /// zone files (errors are usage errors, exit 64). `needs_dns`: see
    /// [`servers`].
    pub fn from_args(args: &DnsArgs, needs_dns: bool) -> Result<DnsSettings> {
        let servers = servers(&args.servers, args.offline, &args.zones, needs_dns)?;
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
        Ok(DnsSettings {
            servers,
            zones: load_zones(&args.zones)?,
            offline: args.offline,
            timeout,
            attempts: None,
            rate: None,
            shared_rate: None,
            dnssec: args.dnssec == DnssecArg::Ad,
        })
    }

    /// `config` with the timeout, tries and rate of these settings.
    fn tune(&self, mut config: EngineConfig) -> EngineConfig {
        if let Some(t) = self.timeout {
            config.timeout = t;
        }
        if let Some(a) = self.attempts {
            config.attempts = a;
        }
        if self.rate.is_some() {
            config.rate = self.rate;
        }
        config.shared_rate.clone_from(&self.shared_rate);
        config.dnssec_ok = self.dnssec;
        config
    }

    /// The longest a question may wait ([`EngineConfig::budget`]), counted
    /// over the `--server`s given (one when there are none), before any
    /// configuration is read.
    pub fn budget(&self) -> Duration {
        self.tune(EngineConfig::new(self.servers.clone())).budget()
    }

    /// Open the sources (binds the engine's sockets unless offline).
    pub async fn sources(&self) -> Result<Sources> {
        self.open(None).await
    }

    /// Open sources beside ones already open (another scanning thread's):
    /// an engine of their own, and the `--zone` files as the first sources
    /// marked them (`zones`), so that live DNS is asked which of them it
    /// serves signed once per run, not once per thread.
    pub async fn sources_beside(&self, zones: &ZoneSet) -> Result<Sources> {
        self.open(Some(zones)).await
    }

    async fn open(&self, marked: Option<&ZoneSet>) -> Result<Sources> {
        if self.offline {
            let refusals = Arc::new(Refusals::new(Overlay {
                zones: self.zones.clone(),
                fallback: None,
            }));
            return Ok(Sources {
                lookup: refusals.clone(),
                refusals: Some(refusals),
                engine: None,
                timeout: self.timeout.unwrap_or(mxkit::dns::engine::DEFAULT_TIMEOUT),
                resolvers: "offline".into(),
                servers: Vec::new(),
                zones: self.zones.clone(),
            });
        }
        let config = if self.servers.is_empty() {
            EngineConfig::from_system().context(
                "cannot read the system resolver configuration (give --server IP, or --offline with --zone)",
            )?
        } else {
            EngineConfig::new(self.servers.clone())
        };
        let config = self.tune(config);
        let resolvers = config
            .servers
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let timeout = config.timeout;
        let servers = config.servers.clone();
        let engine = Engine::new(config)
            .await
            .context("cannot open DNS sockets")?;
        let zones = match marked {
            Some(zones) => zones.clone(),
            None if self.dnssec => mxkit::dns::signed_as_live(&self.zones, &engine).await,
            None => self.zones.clone(),
        };
        let lookup: Arc<dyn Lookup> = if zones.is_empty() {
            Arc::new(engine.clone())
        } else {
            Arc::new(Overlay {
                zones: zones.clone(),
                fallback: Some(Arc::new(engine.clone())),
            })
        };
        Ok(Sources {
            lookup,
            engine: Some(engine),
            timeout,
            resolvers,
            servers,
            zones,
            refusals: None,
        })
    }
}

impl DnsSettings {
    /// Route a destination through these sources, with the DNSSEC status
    /// as `--dnssec` says (and a warning when it comes from a resolver off
    /// this host). An address literal asks no DNS: no sockets are opened
    /// and resolv.conf is not needed.
    pub async fn route(&self, dest: &Destination, options: &RouteOptions) -> Result<Route> {
        Ok(self.route_counted(dest, options).await?.0)
    }

    /// [`route`](Self::route), and how many questions about names outside
    /// the loaded zones were not asked because offline (0 with live DNS).
    pub async fn route_counted(
        &self,
        dest: &Destination,
        options: &RouteOptions,
    ) -> Result<(Route, usize)> {
        let options = RouteOptions {
            dnssec: self.dnssec,
            ..options.clone()
        };
        let (lookup, servers, refusals): (Arc<dyn Lookup>, _, _) = match dest {
            Destination::Literal(_) => (
                Arc::new(Overlay {
                    zones: ZoneSet::default(),
                    fallback: None,
                }),
                Vec::new(),
                None,
            ),
            Destination::Domain(_) => {
                let sources = self.sources().await?;
                (sources.lookup, sources.servers, sources.refusals)
            }
        };
        let mut route = mxkit::route::route(lookup.as_ref(), dest, &options).await;
        route.warn_remote_resolver(&servers);
        Ok((route, refusals.map_or(0, |r| r.refused())))
    }
}

/// `IP`, `IP:PORT` or `[IPv6]:PORT`; port 53 by default, never 0.
fn parse_server(s: &str) -> Result<SocketAddr> {
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

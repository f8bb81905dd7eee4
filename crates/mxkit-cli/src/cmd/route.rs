//! `mxkit route`: arguments -> options -> [`mxkit::route::route`] -> report.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use mxkit::address::{Address, Domain};
use mxkit::dns::engine::{Engine, EngineConfig};
use mxkit::dns::zone::ZoneSet;
use mxkit::dns::{Lookup, Overlay};
use mxkit::route::{Family, RouteOptions, Status};

use crate::Usage;
use crate::args::{FamilyArg, RouteArgs};
use crate::exit;
use crate::output;

/// Validated settings for one `route` run: nothing here knows about clap.
struct Settings {
    address: Address,
    servers: Vec<SocketAddr>,
    zones: ZoneSet,
    offline: bool,
    timeout: Option<Duration>,
    options: RouteOptions,
}

fn settings(args: &RouteArgs) -> Result<Settings> {
    let address =
        Address::parse(&args.address).map_err(|e| Usage(format!("{:?}: {e}", args.address)))?;
    let servers = args
        .servers
        .iter()
        .map(|s| parse_server(s))
        .collect::<Result<Vec<_>>>()?;
    if args.offline && !servers.is_empty() {
        return Err(Usage("--offline and --server exclude each other".into()).into());
    }
    let zones = ZoneSet::load(&args.zones).map_err(|e| Usage(e.to_string()))?;
    let mut options = RouteOptions {
        family: match args.family {
            FamilyArg::Any => Family::Any,
            FamilyArg::Ipv4 => Family::Ipv4,
            FamilyArg::Ipv6 => Family::Ipv6,
        },
        seed: args.seed,
        allow_ip_mx: args.allow_ip_mx,
        ..RouteOptions::default()
    };
    if let Some(limit) = args.address_limit {
        if limit == 0 {
            return Err(Usage(
                "--address-limit must be at least 1 (RFC 5321 section 5.1: try at least two)"
                    .into(),
            )
            .into());
        }
        options.address_limit = Some(limit);
    }
    for s in &args.self_ {
        match s.parse::<IpAddr>() {
            Ok(ip) => options.self_addresses.push(ip),
            Err(_) => {
                let d = Domain::parse(s).map_err(|e| Usage(format!("--self {s:?}: {e}")))?;
                options.self_names.push(d.name().clone());
            }
        }
    }
    let timeout = match args.timeout {
        Some(t) if t.is_finite() && t > 0.0 && t <= 60.0 => Some(Duration::from_secs_f64(t)),
        Some(_) => {
            return Err(
                Usage("--timeout must be more than 0 and at most 60 seconds".into()).into(),
            );
        }
        None => None,
    };
    Ok(Settings {
        address,
        servers,
        zones,
        offline: args.offline,
        timeout,
        options,
    })
}

/// `IP`, `IP:PORT` or `[IPv6]:PORT`; port 53 by default.
fn parse_server(s: &str) -> Result<SocketAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    s.parse::<SocketAddr>().map_err(|_| {
        Usage(format!(
            "--server {s:?}: expected IP or IP:PORT (for example 127.0.0.1:5353 or [::1]:53)"
        ))
        .into()
    })
}

/// Run `mxkit route`; returns the exit code.
pub fn run(args: RouteArgs) -> Result<u8> {
    let s = settings(&args)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let route = rt.block_on(async {
        let lookup = lookup(&s).await?;
        anyhow::Ok(mxkit::route::route(lookup.as_ref(), &s.address.destination, &s.options).await)
    })?;

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if args.json {
        output::json::route(&mut out, &args.address, args.seed, &route)?;
    } else {
        output::text::route(&mut out, &route, s.offline)?;
    }
    out.flush()?;
    Ok(match route.status {
        Status::Deliverable => exit::OK,
        Status::Permanent => exit::PERMANENT,
        Status::Temporary => exit::TEMPORARY,
    })
}

/// The DNS source: zone files over the live engine, zone files alone
/// (offline), or the live engine alone.
async fn lookup(s: &Settings) -> Result<Arc<dyn Lookup>> {
    if s.offline {
        return Ok(Arc::new(Overlay {
            zones: s.zones.clone(),
            fallback: None,
        }));
    }
    let mut config = if s.servers.is_empty() {
        EngineConfig::from_system().context("cannot read the system resolver configuration (give --server IP, or --offline with --zone)")?
    } else {
        EngineConfig::new(s.servers.clone())
    };
    if let Some(t) = s.timeout {
        config.timeout = t;
    }
    let engine: Arc<dyn Lookup> = Arc::new(
        Engine::new(config)
            .await
            .context("cannot open DNS sockets")?,
    );
    if s.zones.is_empty() {
        return Ok(engine);
    }
    Ok(Arc::new(Overlay {
        zones: s.zones.clone(),
        fallback: Some(engine),
    }))
}

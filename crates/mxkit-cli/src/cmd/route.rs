//! `mxkit route`: arguments -> options -> [`mxkit::route::route`] -> report.

use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Result;
use mxkit::address::{Address, Destination, Domain};
use mxkit::dns::zone::ZoneSet;
use mxkit::dns::{Lookup, Overlay};
use mxkit::route::{Family, RouteOptions, Status};

use super::dns::{DnsSettings, runtime};
use crate::Usage;
use crate::args::{FamilyArg, RouteArgs};
use crate::exit;
use crate::output;

/// Validated settings for one `route` run: nothing here knows about clap.
struct Settings {
    address: Address,
    dns: DnsSettings,
    options: RouteOptions,
}

fn settings(args: &RouteArgs) -> Result<Settings> {
    let address =
        Address::parse(&args.address).map_err(|e| Usage(format!("{:?}: {e}", args.address)))?;
    let dns = DnsSettings::from_args(&args.dns)?;
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
    Ok(Settings {
        address,
        dns,
        options,
    })
}

/// Run `mxkit route`; returns the exit code.
pub fn run(args: RouteArgs) -> Result<u8> {
    let s = settings(&args)?;
    let route = runtime()?.block_on(async {
        // An address literal asks no DNS: no sockets, no resolv.conf needed.
        let lookup: Arc<dyn Lookup> = match s.address.destination {
            Destination::Literal(_) => Arc::new(Overlay {
                zones: ZoneSet::default(),
                fallback: None,
            }),
            Destination::Domain(_) => s.dns.sources().await?.lookup,
        };
        anyhow::Ok(mxkit::route::route(lookup.as_ref(), &s.address.destination, &s.options).await)
    })?;

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if args.json {
        output::json::route(&mut out, &args.address, args.seed, &route)?;
    } else {
        output::text::route(&mut out, &route, s.dns.offline)?;
    }
    out.flush()?;
    Ok(match route.status {
        Status::Deliverable => exit::OK,
        Status::Permanent => exit::PERMANENT,
        Status::Temporary => exit::TEMPORARY,
    })
}

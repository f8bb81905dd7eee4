//! `mxkit route`: arguments -> options -> [`mxkit::route::route`] -> report.

use std::io::{self, Write};

use anyhow::Result;
use mxkit::address::{Address, Destination};
use mxkit::route::{RouteOptions, RouteVerdict};

use super::common::runtime;
use super::dns::DnsSettings;
use crate::Usage;
use crate::args::RouteArgs;
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
        Address::parse(&args.address).map_err(|e| Usage::about(None, &args.address, e))?;
    let dns = DnsSettings::from_args(
        &args.dns,
        matches!(address.destination, Destination::Domain(_)),
    )?;
    let mut options = super::plan::options(&args.plan, true, None)?;
    options.mta_sts = super::secure::mta_sts(&args.secure, dns.offline)?;
    Ok(Settings {
        address,
        dns,
        options,
    })
}

/// Run `mxkit route`; returns the exit code.
pub fn run(args: RouteArgs) -> Result<u8> {
    let s = settings(&args)?;
    let (route, refused) =
        runtime()?.block_on(s.dns.route_counted(&s.address.destination, &s.options))?;

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if args.json {
        output::json::route(&mut out, &args.address, args.plan.seed, &route)?;
    } else {
        output::text::route(&mut out, &route, refused)?;
    }
    out.flush()?;
    Ok(match route.status {
        RouteVerdict::Deliverable => exit::OK,
        RouteVerdict::Permanent => exit::PERMANENT,
        RouteVerdict::Temporary => exit::TEMPORARY,
    })
}

//! The routing flags shared by `route`, `probe` and `send` -> [`RouteOptions`].

use std::net::IpAddr;

use anyhow::Result;
use mxkit::address::Domain;
use mxkit::route::{Family, RouteOptions};

use crate::Usage;
use crate::args::{FamilyArg, PlanArgs};

/// Build the route options. `loopback_is_self`: whether loopback addresses
/// count as this host (an MTA's view, `route`); `default_limit`: the address
/// limit when `--address-limit` is not given.
pub fn options(
    args: &PlanArgs,
    loopback_is_self: bool,
    default_limit: Option<usize>,
) -> Result<RouteOptions> {
    let mut options = RouteOptions {
        family: match args.family {
            FamilyArg::Any => Family::Any,
            FamilyArg::Ipv4 => Family::Ipv4,
            FamilyArg::Ipv6 => Family::Ipv6,
        },
        seed: args.seed,
        allow_ip_mx: args.allow_ip_mx,
        loopback_is_self,
        address_limit: default_limit,
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
                let d = Domain::parse(s).map_err(|e| Usage::about(Some("--self"), s, e))?;
                options.self_names.push(d.name().clone());
            }
        }
    }
    Ok(options)
}

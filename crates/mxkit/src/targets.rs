//! Where connections may go: the guard that keeps a public service from
//! being aimed at private networks (server-side request forgery).
//!
//! A command-line user may probe any address, their own network
//! included ([`Targets::Any`], the default). A server that probes on behalf
//! of others (`mxkit serve`) connects only to globally reachable unicast
//! addresses ([`Targets::Global`]): loopback, private, link-local, CGNAT,
//! documentation and every other special-purpose block of the IANA
//! registries (the table of `check`'s `exchanger-special-address`,
//! [`crate::check::addresses::classify`]) are refused, unless a prefix the
//! operator gave (`--allow-probe CIDR`) holds the address. SMTP attempts
//! ([`crate::smtp`]) and MTA-STS policy fetches ([`crate::mta_sts`]) ask
//! before they connect.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::check::addresses::{Class, classify};

/// Which addresses may be connected to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Targets {
    /// Any address.
    #[default]
    Any,
    /// Globally reachable unicast addresses, and those in these prefixes.
    Global(Vec<Prefix>),
}

impl Targets {
    /// `Ok` when `ip` may be connected to; else why not, in words.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        let Targets::Global(allowed) = self else {
            return Ok(());
        };
        let ip = ip.to_canonical();
        if allowed.iter().any(|p| p.contains(ip)) {
            return Ok(());
        }
        let why = match classify(ip) {
            Class::Global => return Ok(()),
            Class::Special(s) => s.to_string(),
            Class::Mapped(v4, _) => format!("IPv4-mapped {v4}"),
        };
        Err(format!(
            "{ip} is not a global address ({why}): this server connects only to global addresses unless --allow-probe names the network"
        ))
    }
}

/// An address prefix (`127.0.0.0/8`, `2001:db8::/32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    net: IpAddr,
    len: u8,
}

impl Prefix {
    /// Whether `ip` is inside (IPv4-mapped IPv6 counts as its IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Prefix {
    type Err = String;
    /// `ADDRESS/LENGTH`, or an address alone (a host).
    fn from_str(s: &str) -> Result<Prefix, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not ADDRESS/LENGTH (e.g. 127.0.0.0/8, fd00::/8)"))?;
        let net = net.to_canonical();
        let max = if net.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("{s:?}: the length must be 0 to {max}"))?,
        };
        Ok(Prefix { net, len })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn global_only_unless_allowed() {
        let t = Targets::Global(Vec::new());
        assert!(t.check(ip("8.8.8.8")).is_ok());
        assert!(t.check(ip("2a00:1450::1")).is_ok());
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "192.0.2.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            let why = t.check(ip(bad)).unwrap_err();
            assert!(why.contains("not a global address"), "{bad}: {why}");
        }
        let t = Targets::Global(vec![
            "127.0.0.0/8".parse().unwrap(),
            "fd00::/8".parse().unwrap(),
        ]);
        assert!(t.check(ip("127.0.174.1")).is_ok());
        assert!(t.check(ip("::ffff:127.0.0.1")).is_ok());
        assert!(t.check(ip("fd12::1")).is_ok());
        assert!(t.check(ip("10.0.0.1")).is_err());
        assert!(Targets::Any.check(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn prefixes_parse_strictly() {
        assert_eq!(
            "10.0.0.0/8".parse::<Prefix>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!("::1".parse::<Prefix>().unwrap().to_string(), "::1/128");
        assert!(
            "0.0.0.0/0"
                .parse::<Prefix>()
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "x/8",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "",
        ] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad}");
        }
    }
}

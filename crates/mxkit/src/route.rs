//! Routing: a destination -> [`Route`], the delivery plan or a typed failure.
//!
//! This is RFC 5321 section 5.1 with RFC 7505 (null MX), RFC 2181 section
//! 10.3 (MX targets are not aliases) and RFC 3974 (address families), decided
//! the way Postfix (`smtp_addr.c`) and Exim (`host.c`) decide it. The rules
//! are numbered as in `docs/rules/route.md` and cited where they are applied
//! (`docs/rules/route.md, Rule 19`).
//!
//! Outcomes are named, never `Option`/`bool` ([`RouteVerdict`] says whether
//! mail can be sent now, [`RouteKind`] what the route is): a domain
//! routes through MX records, through its own address (implicit MX), through
//! an address literal, or it fails permanently (null MX, no such domain, no
//! usable exchanger, mail loops back to us) or temporarily (DNS failed now;
//! the primary relay could not be found). A temporary DNS failure never turns
//! into "no MX" (postalserver/postal#2833).
//!
//! DANE (docs/rules/secure.md, Rules S2 to S5) removes exchangers whose
//! TLSA lookup failed and says what TLS each one requires; an MTA-STS
//! policy (Rules S7 to S11, [`crate::mta_sts`]) in `enforce` mode removes
//! the exchangers its `mx` patterns do not match and requires PKIX for the
//! rest, except where DANE already decided.
//!
//! Cost: a domain takes two sequential round trips: the MX query, then every
//! A/AAAA query of every exchanger at once, with the TLSA queries of every
//! exchanger when the MX answer was secure (a signed zone is likely to have
//! signed hosts). A TLSA lookup costs a third round trip only where it could
//! not be foreseen: a secure host under an insecure MX answer, or an alias
//! whose target is asked first (Rule S3). MTA-STS asks its two TXT
//! records with the MX query and fetches the policy (HTTPS, when not cached)
//! while the addresses are looked up.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use futures::future::join_all;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::address::{Address, Destination, ExchangeName, classify_exchange, display_name};
use crate::dane::{TlsRequirement, Tlsa, tlsa_name};
use crate::dns::{
    Answer, Dnssec, Lookup, Name, Outcome, RData, Record, RecordType, resolve, resolve_ready,
};
use crate::english::count;
use crate::mta_sts::{self, MtaSts, MtaStsConfig, Policy};

/// Which address families the sender can use (RFC 3974, RFC 5321 section 5.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Both IPv4 and IPv6.
    #[default]
    Any,
    /// IPv4 only: AAAA records are not asked for.
    Ipv4,
    /// IPv6 only: A records are not asked for.
    Ipv6,
}

impl Family {
    fn wants_v4(self) -> bool {
        self != Family::Ipv6
    }
    fn wants_v6(self) -> bool {
        self != Family::Ipv4
    }
    fn allows(self, ip: &IpAddr) -> bool {
        match ip {
            IpAddr::V4(_) => self.wants_v4(),
            IpAddr::V6(_) => self.wants_v6(),
        }
    }
}

/// How to route: the sender's point of view.
#[derive(Clone, Debug)]
pub struct RouteOptions {
    /// Usable address families.
    pub family: Family,
    /// Names of the host we act for (docs/rules/route.md, Rule 19:
    /// self-truncation for a backup MX).
    pub self_names: Vec<Name>,
    /// Addresses of the host we act for (docs/rules/route.md, Rule 19).
    pub self_addresses: Vec<IpAddr>,
    /// Count loopback and unspecified addresses (`127.0.0.0/8`, `::1`,
    /// `0.0.0.0`, `::`) as our own, as Postfix does with its interface list
    /// (docs/rules/route.md, Rule 19; Haraka #2952). On by default.
    pub loopback_is_self: bool,
    /// Keep at most this many addresses (docs/rules/route.md, Rule 20; Postfix
    /// `smtp_mx_address_limit=5`). `None`: every address is in the plan.
    pub address_limit: Option<usize>,
    /// Accept an MX that names an IP address (docs/rules/route.md, Rule 11;
    /// Postfix's default, Exim's `allow_mx_to_ip`). Off by default: RFC 5321
    /// section 5.1 says the target MUST be a domain name.
    pub allow_ip_mx: bool,
    /// Seed for the shuffle of equal preferences (docs/rules/route.md,
    /// Rule 12). `None`: random.
    pub seed: Option<u64>,
    /// Report the DNSSEC status of the lookups, from the resolver's AD bit
    /// (docs/rules/secure.md, Rule S1; `--dnssec ad`). On by default; off
    /// (`--dnssec off`): the route's and the exchangers' `dnssec` are none.
    pub dnssec: bool,
    /// Apply DANE (docs/rules/secure.md, Rules S2 to S5): look up the TLSA
    /// records of exchangers with secure addresses, drop those whose lookup
    /// failed, and say what TLS each one requires. Needs `dnssec`. On by
    /// default; `scan` turns it off unless `--secure`.
    pub dane: bool,
    /// Apply MTA-STS (docs/rules/secure.md, Rules S7 to S11) and show
    /// TLS-RPT (Rule S12): ask the `_mta-sts` and `_smtp._tls` TXT records,
    /// find the policy as `config` says (fetch, cache, files) and apply it.
    /// `None` (the default for the library and the scan): neither is
    /// asked, and the route's `mta_sts` and `tls_rpt` are absent.
    pub mta_sts: Option<Arc<MtaStsConfig>>,
}

impl Default for RouteOptions {
    fn default() -> Self {
        RouteOptions {
            family: Family::Any,
            self_names: Vec::new(),
            self_addresses: Vec::new(),
            loopback_is_self: true,
            address_limit: None,
            allow_ip_mx: false,
            seed: None,
            dnssec: true,
            dane: true,
            mta_sts: None,
        }
    }
}

/// The verdict of a route: can mail be sent now? Serialized in snake case
/// (`"deliverable"`) as the route's `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteVerdict {
    /// There is at least one candidate to connect to.
    Deliverable,
    /// No delivery will ever work: bounce (5.x.x).
    Permanent,
    /// No delivery now: keep the message and retry later (4.x.x).
    Temporary,
}

/// What the route is: how the destination routes (MX records, implicit MX,
/// an address literal), or why it does not. Serialized in snake case
/// (`"implicit_mx"`) as the route's `outcome`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    /// Through the domain's MX records.
    Mx,
    /// No MX records (NODATA): the domain itself, preference 0
    /// (docs/rules/route.md, Rule 8).
    ImplicitMx,
    /// An address literal: no DNS (docs/rules/route.md, Rule 1).
    AddressLiteral,
    /// `MX 0 .`: the domain accepts no mail (RFC 7505; docs/rules/route.md,
    /// Rule 10). Permanent.
    NullMx,
    /// NXDOMAIN for the domain (docs/rules/route.md, Rule 5). Permanent.
    NoSuchDomain,
    /// MX records exist but none leads to a usable address, or there is no MX
    /// and the domain has no usable address (docs/rules/route.md, Rules 8, 11,
    /// 16, 18). Permanent.
    NoUsableExchanger,
    /// We are the best exchanger: mail would loop back to us
    /// (docs/rules/route.md, Rule 19). Permanent.
    LoopsToSelf,
    /// We are a backup exchanger and no more-preferred one could be resolved
    /// now (docs/rules/route.md, Rule 19; Postfix 4.4.4). Temporary.
    NoPrimaryRelay,
    /// A DNS lookup failed temporarily (SERVFAIL, timeout, truncated, CNAME
    /// loop): retry later (docs/rules/route.md, Rules 6, 7, 16). Temporary.
    DnsTemporary,
    /// Every exchanger left was dropped because its TLSA lookup failed
    /// (docs/rules/secure.md, Rule S5; Postfix "4.7.5 TLSA lookup error").
    /// Temporary.
    TlsaLookupFailed,
    /// Every exchanger left was removed by the domain's MTA-STS policy in
    /// `enforce` mode (docs/rules/secure.md, Rule S11). Temporary: RFC 8461
    /// section 5 has senders retry, since the policy may be updated.
    MtaStsMismatch,
    /// The address itself is malformed. Permanent.
    InvalidAddress,
}

impl RouteKind {
    /// Every kind, in declaration order.
    pub const ALL: [RouteKind; 12] = [
        RouteKind::Mx,
        RouteKind::ImplicitMx,
        RouteKind::AddressLiteral,
        RouteKind::NullMx,
        RouteKind::NoSuchDomain,
        RouteKind::NoUsableExchanger,
        RouteKind::LoopsToSelf,
        RouteKind::NoPrimaryRelay,
        RouteKind::DnsTemporary,
        RouteKind::TlsaLookupFailed,
        RouteKind::MtaStsMismatch,
        RouteKind::InvalidAddress,
    ];

    /// The kind whose [`RouteKind::code`] is `code`.
    pub fn from_code(code: &str) -> Option<RouteKind> {
        RouteKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The verdict a route of this kind always has.
    pub fn verdict(self) -> RouteVerdict {
        match self {
            RouteKind::Mx | RouteKind::ImplicitMx | RouteKind::AddressLiteral => {
                RouteVerdict::Deliverable
            }
            RouteKind::NoPrimaryRelay
            | RouteKind::DnsTemporary
            | RouteKind::TlsaLookupFailed
            | RouteKind::MtaStsMismatch => RouteVerdict::Temporary,
            RouteKind::NullMx
            | RouteKind::NoSuchDomain
            | RouteKind::NoUsableExchanger
            | RouteKind::LoopsToSelf
            | RouteKind::InvalidAddress => RouteVerdict::Permanent,
        }
    }

    /// The snake-case code used in JSON.
    pub fn code(self) -> &'static str {
        match self {
            RouteKind::Mx => "mx",
            RouteKind::ImplicitMx => "implicit_mx",
            RouteKind::AddressLiteral => "address_literal",
            RouteKind::NullMx => "null_mx",
            RouteKind::NoSuchDomain => "no_such_domain",
            RouteKind::NoUsableExchanger => "no_usable_exchanger",
            RouteKind::LoopsToSelf => "loops_to_self",
            RouteKind::NoPrimaryRelay => "no_primary_relay",
            RouteKind::DnsTemporary => "dns_temporary",
            RouteKind::TlsaLookupFailed => "tlsa_lookup_failed",
            RouteKind::MtaStsMismatch => "mta_sts_mismatch",
            RouteKind::InvalidAddress => "invalid_address",
        }
    }
}

/// One place to connect to: the unit of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// The MX preference (0 for implicit MX and address literals).
    pub preference: u16,
    /// The exchanger as the MX record names it: lower case, no final dot.
    /// Also the name for TLS (SNI, certificate match, DANE), even when it is
    /// an alias (docs/rules/route.md, Rule 15; Exim keeps `certname`).
    pub exchanger: String,
    /// The address to connect to.
    #[serde(serialize_with = "crate::ip_text::one")]
    pub address: IpAddr,
    /// The canonical name the address was found under, when the exchanger is
    /// an alias (CNAME).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canonical: Option<String>,
}

impl Candidate {
    /// How reports name the candidate: `mx1.example.org [192.0.2.10]`, or
    /// the address literal alone (`[192.0.2.1]`), which already is its
    /// address.
    pub fn label(&self) -> String {
        if self.exchanger == Destination::Literal(self.address).to_string() {
            self.exchanger.clone()
        } else {
            format!("{} [{}]", self.exchanger, self.address)
        }
    }
}

/// An MX record as published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MxRecord {
    /// Preference (0-65535, lower first).
    pub preference: u16,
    /// Exchange name, lower case, no final dot; `"."` for the root (null MX).
    pub exchanger: String,
    /// TTL in seconds.
    pub ttl: u32,
}

/// What became of one exchanger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exchanger {
    /// Its preference (the lowest one if it was listed twice).
    pub preference: u16,
    /// Its name, lower case, no final dot.
    pub name: String,
    /// Its usable addresses, in the order tried.
    #[serde(serialize_with = "crate::ip_text::many")]
    pub addresses: Vec<IpAddr>,
    /// What became of it.
    pub state: ExchangerState,
    /// The CNAME targets followed for its addresses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cname_chain: Vec<String>,
    /// The DNSSEC status of its address lookups (docs/rules/secure.md,
    /// Rule S1): the weakest of the answers it was routed on. Present when
    /// DANE was applied ([`RouteOptions::dane`], not in the default scan):
    /// absent for an address literal, an IP-address MX, an exchanger not
    /// looked up, and with `--dnssec off`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnssec: Option<Dnssec>,
    /// Its TLSA lookup, judged (docs/rules/secure.md, Rules S3 to S5):
    /// present when DANE applies to it (its addresses are secure).
    /// (Boxed: most exchangers have none, and the route's exchangers are
    /// moved around in the scan's hot path.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tlsa: Option<Box<Tlsa>>,
    /// What a sender requires of its TLS (docs/rules/secure.md, Rules S4
    /// and S11): present for every exchanger with usable addresses when
    /// DANE was applied or an MTA-STS policy was (absent in the default
    /// scan, and with `--dnssec off` when the domain has no policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsRequirement>,
    /// The rule that removed it from the plan, for a policy's removal
    /// (`"S5"`: its TLSA lookup failed; `"S11"`: an MTA-STS policy in
    /// `enforce` mode matches it with none of its `mx` patterns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
    /// Details for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What became of one exchanger. Serialized in snake case (`"no_address"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangerState {
    /// It has usable addresses (some may be in the plan).
    Ok,
    /// NXDOMAIN or NODATA in every usable family: unusable (RFC 3974).
    NoAddress,
    /// Its lookup failed temporarily: unusable this time (docs/rules/route.md,
    /// Rule 16).
    Temporary,
    /// Its name is not a host name: ignored (docs/rules/route.md, Rule 11).
    InvalidName,
    /// Its name is an IP address and IP-address MX targets are not allowed
    /// (docs/rules/route.md, Rule 11).
    IpAddress,
    /// It is this host (docs/rules/route.md, Rule 19): its level and every
    /// higher one are dropped.
    #[serde(rename = "self")]
    SelfHost,
    /// Not more preferred than this host: dropped (docs/rules/route.md,
    /// Rule 19).
    BelowSelf,
    /// Its addresses are secure and its TLSA lookup failed: not used now
    /// (docs/rules/secure.md, Rule S5).
    TlsaLookupFailed,
    /// The domain's MTA-STS policy is in `enforce` mode and none of its
    /// `mx` patterns matches this exchanger: not used
    /// (docs/rules/secure.md, Rules S10 and S11).
    MtaStsMismatch,
    /// Not looked up.
    NotLookedUp,
}

impl ExchangerState {
    /// Every state, in declaration order.
    pub const ALL: [ExchangerState; 10] = [
        ExchangerState::Ok,
        ExchangerState::NoAddress,
        ExchangerState::Temporary,
        ExchangerState::InvalidName,
        ExchangerState::IpAddress,
        ExchangerState::SelfHost,
        ExchangerState::BelowSelf,
        ExchangerState::TlsaLookupFailed,
        ExchangerState::MtaStsMismatch,
        ExchangerState::NotLookedUp,
    ];

    /// Its snake-case code, as in JSON (`"no_address"`).
    pub fn code(self) -> &'static str {
        match self {
            ExchangerState::Ok => "ok",
            ExchangerState::NoAddress => "no_address",
            ExchangerState::Temporary => "temporary",
            ExchangerState::InvalidName => "invalid_name",
            ExchangerState::IpAddress => "ip_address",
            ExchangerState::SelfHost => "self",
            ExchangerState::BelowSelf => "below_self",
            ExchangerState::TlsaLookupFailed => "tlsa_lookup_failed",
            ExchangerState::MtaStsMismatch => "mta_sts_mismatch",
            ExchangerState::NotLookedUp => "not_looked_up",
        }
    }
}

/// Something worth knowing that did not stop routing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Stable code: `mx_is_ip`, `mx_is_cname`, `invalid_exchanger`,
    /// `exchanger_without_address`, `exchanger_lookup_failed`,
    /// `duplicate_exchanger`, `duplicate_address`, `null_mx_mixed`,
    /// `domain_is_cname`, `address_limit`, `self_truncated`,
    /// `dnssec_from_remote_resolver`, `tlsa_lookup_failed`,
    /// `dane_mx_insecure`, `mta_sts_mismatch`, `mta_sts_dane_wins`,
    /// `mta_sts_error`, `mta_sts_cache_failed`.
    pub code: &'static str,
    /// For people.
    pub message: String,
}

/// The code of the warning that the DNSSEC status came from a resolver not
/// on this host ([`Route::warn_remote_resolver`]).
pub const DNSSEC_FROM_REMOTE_RESOLVER: &str = "dnssec_from_remote_resolver";

/// Why there is no delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteError {
    /// Same as the route's outcome code.
    pub code: &'static str,
    /// Enhanced status code (RFC 3463), e.g. `5.1.10` for null MX.
    pub dsn: &'static str,
    /// For people.
    pub message: String,
}

/// The delivery plan for a destination, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The domain queried, A-labels, no final dot (or the literal, `[192.0.2.1]`).
    pub domain: String,
    /// The verdict.
    pub status: RouteVerdict,
    /// How it was decided.
    pub outcome: RouteKind,
    /// The plan, in delivery order (empty unless deliverable).
    pub candidates: Vec<Candidate>,
    /// The MX records as published.
    pub records: Vec<MxRecord>,
    /// Every exchanger considered, in plan order.
    pub exchangers: Vec<Exchanger>,
    /// CNAMEs followed from the domain for its MX query (docs/rules/route.md,
    /// Rule 4).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cname_chain: Vec<String>,
    /// How long this plan may be cached: the lowest TTL of the records it used
    /// (RFC 2181 section 5.2; RFC 2308 for negative answers).
    pub ttl: Option<u32>,
    /// The DNSSEC status of the MX lookup (docs/rules/secure.md, Rule S1):
    /// `secure` when the resolver validated it (AD bit). None (`null`) for
    /// an address literal, an address that could not be parsed, and with
    /// `--dnssec off`.
    pub dnssec: Option<Dnssec>,
    /// The MTA-STS policy a sender applies (docs/rules/secure.md, Rules S7
    /// to S11): absent when MTA-STS was not looked at
    /// ([`RouteOptions::mta_sts`] off, an address literal, a route that
    /// ended at the MX answer); `null` when the domain has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mta_sts: Option<Option<MtaSts>>,
    /// The TLS-RPT `rua` list (docs/rules/secure.md, Rule S12): absent when
    /// not looked at, `null` when the domain publishes no valid record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_rpt: Option<Option<Vec<String>>>,
    /// Things worth knowing.
    pub warnings: Vec<Warning>,
    /// Why there is no delivery (absent when deliverable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RouteError>,
}

impl Route {
    fn new(domain: String) -> Self {
        Route {
            domain,
            status: RouteVerdict::Deliverable,
            outcome: RouteKind::Mx,
            candidates: Vec::new(),
            records: Vec::new(),
            exchangers: Vec::new(),
            cname_chain: Vec::new(),
            ttl: None,
            dnssec: None,
            mta_sts: None,
            tls_rpt: None,
            warnings: Vec::new(),
            error: None,
        }
    }

    /// docs/rules/secure.md, "Where the status comes from": the DNSSEC
    /// status is the AD bit of the resolvers' answers, which nothing
    /// protects on its way: when some of the `resolvers` asked are not on
    /// this host (not loopback), say once that it can be forged on the path
    /// (warning `dnssec_from_remote_resolver`). Nothing when the route
    /// reports no status.
    pub fn warn_remote_resolver(&mut self, resolvers: &[std::net::SocketAddr]) {
        let remote: Vec<String> = resolvers
            .iter()
            .filter(|s| !s.ip().to_canonical().is_loopback())
            .map(|s| s.to_string())
            .collect();
        if self.dnssec.is_none() || remote.is_empty() {
            return;
        }
        self.warn(
            DNSSEC_FROM_REMOTE_RESOLVER,
            format!(
                "the DNSSEC status is the AD bit of {}, which is not on this host: it can be forged on the path (use a validating resolver on loopback)",
                remote.join(", ")
            ),
        );
    }

    fn warn(&mut self, code: &'static str, message: impl Into<String>) {
        self.warnings.push(Warning {
            code,
            message: message.into(),
        });
    }

    fn fail(mut self, outcome: RouteKind, dsn: &'static str, message: impl Into<String>) -> Self {
        self.status = outcome.verdict();
        debug_assert_eq!(
            dsn.starts_with('4'),
            self.status == RouteVerdict::Temporary,
            "{dsn} for {outcome:?}"
        );
        self.outcome = outcome;
        self.candidates.clear();
        self.error = Some(RouteError {
            code: outcome.code(),
            dsn,
            message: message.into(),
        });
        self
    }

    fn lower_ttl(&mut self, ttl: Option<u32>) {
        if let Some(t) = ttl {
            self.ttl = Some(self.ttl.map_or(t, |old| old.min(t)));
        }
    }
}

/// Parse `input` (an address or a domain) and route it. A malformed address
/// gives a permanent [`RouteKind::InvalidAddress`] route (5.1.3).
pub async fn route_input<L: Lookup + ?Sized>(
    lookup: &L,
    input: &str,
    opts: &RouteOptions,
) -> Route {
    match Address::parse(input) {
        Ok(addr) => route(lookup, &addr.destination, opts).await,
        Err(e) => {
            Route::new(input.to_string()).fail(RouteKind::InvalidAddress, "5.1.3", e.to_string())
        }
    }
}

/// Route a destination: the plan a sender follows, or why there is none.
pub async fn route<L: Lookup + ?Sized>(
    lookup: &L,
    dest: &Destination,
    opts: &RouteOptions,
) -> Route {
    match dest {
        Destination::Literal(ip) => route_literal(*ip, opts),
        Destination::Domain(domain) => {
            route_domain(lookup, domain.name(), domain.as_str(), opts).await
        }
    }
}

/// docs/rules/route.md, Rule 1: an address literal is the one candidate; no MX
/// or A query.
fn route_literal(ip: IpAddr, opts: &RouteOptions) -> Route {
    let text = Destination::Literal(ip).to_string();
    let mut route = Route::new(text.clone());
    route.outcome = RouteKind::AddressLiteral;
    if !opts.family.allows(&ip) {
        return route.fail(
            RouteKind::NoUsableExchanger,
            "5.4.4",
            format!("{text} is not in a usable address family"),
        );
    }
    if is_self(&ip, opts) {
        return route.fail(
            RouteKind::LoopsToSelf,
            "5.4.6",
            format!("mail for {text} loops back to myself"),
        );
    }
    route.candidates.push(Candidate {
        preference: 0,
        exchanger: text.clone(),
        address: ip,
        canonical: None,
    });
    route.exchangers.push(Exchanger {
        preference: 0,
        name: text,
        addresses: vec![ip],
        state: ExchangerState::Ok,
        cname_chain: Vec::new(),
        dnssec: None,
        tlsa: None,
        tls: (opts.dnssec && opts.dane).then_some(TlsRequirement::Opportunistic),
        rule: None,
        detail: None,
    });
    route
}

/// One exchanger on its way into the plan.
struct Host {
    preference: u16,
    name: Name,
    text: String,
    /// Set for an IP-address MX accepted with `allow_ip_mx`.
    fixed: Option<IpAddr>,
    state: ExchangerState,
    detail: Option<String>,
    addresses: Vec<IpAddr>,
    cname_chain: Vec<Name>,
    /// The DNSSEC status of its address lookups.
    dnssec: Option<Dnssec>,
    /// The TLSA answer for its own name, asked together with its addresses.
    tlsa_early: Option<Box<Answer>>,
    /// Its TLSA lookup, judged (DANE applies).
    tlsa: Option<Box<Tlsa>>,
    /// What TLS it requires, once known.
    tls: Option<TlsRequirement>,
    soft: bool,
}

/// Why routing ends without a plan: what [`Route::fail`] records.
struct Failure {
    kind: RouteKind,
    dsn: &'static str,
    message: String,
}

/// Route a domain: the MX answer, the exchangers in preference order, their
/// addresses, self-truncation, then the plan (or why there is none).
async fn route_domain<L: Lookup + ?Sized>(
    lookup: &L,
    name: &Name,
    text: &str,
    opts: &RouteOptions,
) -> Route {
    let mut route = Route::new(text.to_string());
    let sts = opts.mta_sts.as_deref();
    let (mx, sts_txt) = match sts {
        Some(_) => {
            let (mx, (sts_txt, rpt_txt)) = Box::pin(futures::future::join(
                resolve(lookup, name, RecordType::MX),
                policy_records(lookup, name),
            ))
            .await;
            route.tls_rpt = Some(rpt_txt.and_then(|a| {
                mta_sts::tlsrpt_records(&mta_sts::txt_strings(&a.outcome))
                    .valid
                    .map(|r| r.rua)
            }));
            (mx, sts_txt)
        }
        None => (resolve(lookup, name, RecordType::MX).await, None),
    };
    let mut hosts = match exchangers(&mut route, &mx, name, text, opts) {
        Ok(hosts) => hosts,
        Err(Failure { kind, dsn, message }) => return route.fail(kind, dsn, message),
    };
    let implicit = route.outcome == RouteKind::ImplicitMx;
    order_by_preference(&mut hosts, opts.seed);
    let dane = opts.dnssec && opts.dane;
    // A secure MX answer: ask the TLSA records with the addresses.
    let early_tlsa = dane && route.dnssec == Some(Dnssec::Secure);
    let addresses = look_up_addresses(
        lookup,
        &mut route,
        &mut hosts,
        implicit,
        opts.family,
        early_tlsa,
    );
    // The policy is found (fetched, when it must be) while the addresses
    // are looked up. Its future and DANE's are boxed, and made only when
    // used: in the route's own future they made it several kilobytes
    // larger, copied for every domain of a scan that uses neither.
    let discovery = match (sts, &sts_txt) {
        (Some(config), Some(txt)) => {
            let policy = Box::pin(mta_sts::discover(lookup, text, txt, config, mta_sts::now()));
            Some(futures::future::join(addresses, policy).await.1)
        }
        _ => {
            addresses.await;
            None
        }
    };
    let self_level = truncate_at_self(&mut route, &mut hosts, opts);
    if dane {
        Box::pin(apply_dane(lookup, &mut route, &mut hosts)).await;
    }
    if let Some(discovery) = discovery {
        let dns_only = sts.is_some_and(MtaStsConfig::dns_only);
        take_policy(&mut route, &mut hosts, discovery, dns_only);
    }
    // What TLS each host requires, wherever DANE or a policy decided it.
    let policy_applied = route
        .mta_sts
        .as_ref()
        .is_some_and(|m| m.as_ref().is_some_and(|m| m.policy.is_some()));
    if dane || policy_applied {
        for host in hosts.iter_mut().filter(|h| h.state == ExchangerState::Ok) {
            host.tls.get_or_insert(TlsRequirement::Opportunistic);
        }
    }
    build_plan(&mut route, &mut hosts);
    if let Some(limit) = opts.address_limit {
        apply_limit(&mut route, limit.max(1));
    }
    let failure = route
        .candidates
        .is_empty()
        .then(|| no_candidate(text, &hosts, self_level, implicit, opts.family));
    // The exchangers set aside as no host names (docs/rules/route.md,
    // Rule 11) stay in the report beside those looked up, by preference,
    // as they do when no exchanger is left.
    let ignored = std::mem::take(&mut route.exchangers);
    route.exchangers = hosts.into_iter().map(|h| h.report(dane)).collect();
    route.exchangers.extend(ignored);
    route.exchangers.sort_by_key(|e| e.preference);
    match failure {
        Some(Failure { kind, dsn, message }) => route.fail(kind, dsn, message),
        None => route,
    }
}

/// The `_mta-sts` and `_smtp._tls` TXT answers of a domain (both `None`
/// for a name too long to prefix).
async fn policy_records<L: Lookup + ?Sized>(
    lookup: &L,
    name: &Name,
) -> (Option<Answer>, Option<Answer>) {
    let Some((sts, rpt)) = mta_sts::record_names(name) else {
        return (None, None);
    };
    let (sts, rpt) = futures::future::join(
        resolve(lookup, &sts, RecordType::TXT),
        resolve(lookup, &rpt, RecordType::TXT),
    )
    .await;
    (Some(sts), Some(rpt))
}

/// docs/rules/secure.md, Rules S9 and S11: record what MTA-STS discovery
/// found, then apply the policy.
/// `dns_only`: the configuration fetches nothing and has neither files nor
/// a cache (`scan --secure`): the record is shown, and that its policy was
/// not fetched is no news worth a warning.
fn take_policy(
    route: &mut Route,
    hosts: &mut [Host],
    discovery: mta_sts::Discovery,
    dns_only: bool,
) {
    if let Some(why) = discovery.cache_error {
        route.warn("mta_sts_cache_failed", why);
    }
    if let Some(error) = discovery.mta_sts.as_ref().and_then(|m| m.error.clone())
        && !dns_only
    {
        route.warn("mta_sts_error", error);
    }
    if let Some(policy) = discovery.mta_sts.as_ref().and_then(|m| m.policy.as_ref()) {
        apply_mta_sts(route, hosts, policy);
    }
    route.mta_sts = Some(discovery.mta_sts);
}

/// docs/rules/secure.md, Rules S10 and S11. `enforce`: exchangers that no
/// `mx` pattern matches leave the plan, the rest require PKIX (`mta-sts`);
/// `testing`: nothing leaves, mismatches are reported, the rest are checked
/// and reported (`mta-sts-testing`); `none`: nothing. DANE wins: a host
/// that requires `dane` keeps it (RFC 8461 section 2), and a host whose TLSA
/// lookup failed stays out (Rule S5: never rescued). Testing never weakens
/// what DANE asked: a `dane-encrypt` host (TLS mandatory) keeps it, where
/// enforce's `mta-sts` (TLS mandatory and PKIX) is stricter and replaces it.
fn apply_mta_sts(route: &mut Route, hosts: &mut [Host], policy: &Policy) {
    let (requirement, enforce) = match policy.mode {
        mta_sts::Mode::Enforce => (TlsRequirement::MtaSts, true),
        mta_sts::Mode::Testing => (TlsRequirement::MtaStsTesting, false),
        mta_sts::Mode::None => return,
    };
    let patterns = policy.mx.join(", ");
    for host in hosts.iter_mut().filter(|h| h.state == ExchangerState::Ok) {
        let matches = policy.matches(&host.text);
        if host.tls == Some(TlsRequirement::Dane) {
            if !matches {
                route.warn(
                    "mta_sts_dane_wins",
                    format!(
                        "exchanger {} matches none of the MTA-STS mx patterns ({patterns}), but it has usable TLSA records: DANE applies, not MTA-STS (RFC 8461 section 2)",
                        host.text
                    ),
                );
            }
            continue;
        }
        if matches {
            if enforce || matches!(host.tls, None | Some(TlsRequirement::Opportunistic)) {
                host.tls = Some(requirement);
            }
        } else if enforce {
            let detail = format!("matches none of the MTA-STS mx patterns: {patterns}");
            let message = format!(
                "exchanger {} is not used: it {detail} (the policy is in enforce mode)",
                host.text
            );
            host.remove(
                route,
                ExchangerState::MtaStsMismatch,
                ("mta_sts_mismatch", message),
                detail,
            );
        } else {
            route.warn(
                "mta_sts_mismatch",
                format!(
                    "exchanger {} matches none of the MTA-STS mx patterns ({patterns}): used, since the policy is in testing mode; under enforce it would not be",
                    host.text
                ),
            );
        }
    }
}

/// docs/rules/route.md, Rules 4 to 11: read the domain's MX answer. Its CNAME
/// chain, DNSSEC status and TTL go into the route; out come the exchangers to
/// look up, or the failure that ends routing here.
fn exchangers(
    route: &mut Route,
    mx: &Answer,
    name: &Name,
    text: &str,
    opts: &RouteOptions,
) -> Result<Vec<Host>, Failure> {
    route.cname_chain = mx.cname_chain.iter().map(display_name).collect();
    route.dnssec = opts.dnssec.then(|| mx.dnssec());
    if !mx.cname_chain.is_empty() {
        // docs/rules/route.md, Rule 4: follow it as if it were the original
        // name; the recipient is unchanged.
        route.warn(
            "domain_is_cname",
            format!("{text} is an alias for {}", route.cname_chain.join(" -> ")),
        );
    }
    route.lower_ttl(mx.outcome.ttl());
    match &mx.outcome {
        // docs/rules/route.md, Rules 6 and 7: retry later; never fall back to
        // the A record.
        Outcome::Temporary(_) | Outcome::Truncated => Err(Failure {
            kind: RouteKind::DnsTemporary,
            dsn: "4.4.3",
            message: format!("MX lookup for {text} failed: {}", mx.outcome),
        }),
        // docs/rules/route.md, Rule 5 (RFC 8020: nothing exists below it
        // either).
        Outcome::NxDomain { .. } => Err(Failure {
            kind: RouteKind::NoSuchDomain,
            dsn: "5.4.4",
            message: format!("{text} does not exist (NXDOMAIN from {})", mx.server),
        }),
        // docs/rules/route.md, Rule 8: no MX, so the domain is its own
        // exchanger at preference 0.
        Outcome::NoData { .. } => {
            route.outcome = RouteKind::ImplicitMx;
            Ok(vec![Host::new(0, name.clone(), display_name(name))])
        }
        Outcome::Records(_) => {
            route.outcome = RouteKind::Mx;
            mx_hosts(route, mx.outcome.records(), text, opts)
        }
    }
}

/// docs/rules/route.md, Rules 10 to 13 on the MX records: kept in the route
/// sorted as a sender uses them; a null MX ends routing; the usable exchangers
/// come out, each once.
fn mx_hosts(
    route: &mut Route,
    records: &[Record],
    text: &str,
    opts: &RouteOptions,
) -> Result<Vec<Host>, Failure> {
    let mut records: Vec<MxIn> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(m) => Some(MxIn {
                preference: m.preference,
                text: display_name(&m.exchange),
                name: m.exchange.clone(),
                ttl: r.ttl,
            }),
            _ => None,
        })
        .collect();
    // Present the records sorted numerically, as a sender uses them
    // (docs/rules/route.md, Rule 12).
    records.sort_by(|a, b| (a.preference, &a.text).cmp(&(b.preference, &b.text)));
    route.records = records
        .iter()
        .map(|r| MxRecord {
            preference: r.preference,
            exchanger: r.text.clone(),
            ttl: r.ttl,
        })
        .collect();
    // docs/rules/route.md, Rule 10: any root exchange means null MX (Postfix
    // `dns_get_answer`).
    if records.iter().any(|r| r.name.is_root()) {
        if records.len() > 1 {
            route.warn(
                "null_mx_mixed",
                format!(
                    "{text} publishes a null MX together with {}; RFC 7505 section 3 forbids this, and the null MX wins",
                    count(records.len() - 1, "other MX record", "other MX records")
                ),
            );
        }
        return Err(Failure {
            kind: RouteKind::NullMx,
            dsn: "5.1.10",
            message: format!("{text} accepts no mail (null MX, RFC 7505)"),
        });
    }
    let hosts = usable_hosts(route, records, opts);
    if hosts.is_empty() {
        // docs/rules/route.md, Rule 11: MX records exist but none is usable.
        let n = route.records.len();
        return Err(Failure {
            kind: RouteKind::NoUsableExchanger,
            dsn: "5.4.4",
            message: format!(
                "{text} has {} but none names a usable host",
                count(n, "MX record", "MX records")
            ),
        });
    }
    Ok(hosts)
}

/// docs/rules/route.md, Rule 12: lower preference first, equal preferences in
/// random order (the generator is made only when there is something to
/// shuffle).
fn order_by_preference(hosts: &mut [Host], seed: Option<u64>) {
    if hosts.len() > 1 {
        let mut rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => rand::make_rng(),
        };
        hosts.shuffle(&mut rng);
        hosts.sort_by_key(|h| h.preference);
    }
}

/// docs/rules/route.md, Rules 14 to 16: every A and AAAA at once, separate
/// queries, no glue. Each exchanger takes its answers; the route gets their TTL
/// and a warning for an alias or a failed lookup.
///
/// `early_tlsa`: also ask every exchanger's TLSA records
/// (`_25._tcp.<name>`, docs/rules/secure.md, Rule S3) in the same round
/// trip; each host keeps its answer for [`apply_dane`].
async fn look_up_addresses<L: Lookup + ?Sized>(
    lookup: &L,
    route: &mut Route,
    hosts: &mut [Host],
    implicit: bool,
    family: Family,
    early_tlsa: bool,
) {
    let families = [
        (family.wants_v6(), RecordType::AAAA),
        (family.wants_v4(), RecordType::A),
    ];
    let questions: Vec<(usize, RecordType)> = hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.fixed.is_none())
        .flat_map(|(i, _)| {
            families
                .iter()
                .filter_map(move |&(on, t)| on.then_some((i, t)))
        })
        .collect();
    let tlsa_questions: Vec<(usize, Name)> = if early_tlsa {
        hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| h.fixed.is_none())
            .filter_map(|(i, h)| Some((i, tlsa_name(&h.name)?)))
            .collect()
    } else {
        Vec::new()
    };
    // The answers at hand first (in a bulk scan, most exchangers' addresses
    // are cache hits): only the rest are futures, asked together.
    let mut walks = Vec::new();
    let mut answers: Vec<Option<Answer>> = questions
        .iter()
        .enumerate()
        .map(
            |(q, (i, t))| match resolve_ready(lookup, &hosts[*i].name, *t) {
                Ok(answer) => Some(answer),
                Err(walk) => {
                    walks.push((q, walk));
                    None
                }
            },
        )
        .collect();
    let (asked, tlsa_answers) = futures::future::join(
        join_all(
            walks
                .into_iter()
                .map(|(q, walk)| async move { (q, walk.finish(lookup).await) }),
        ),
        join_all(
            tlsa_questions
                .iter()
                .map(|(_, name)| resolve(lookup, name, RecordType::TLSA)),
        ),
    )
    .await;
    // Every question has its answer now (each one not at hand was asked).
    for (q, answer) in asked {
        answers[q] = Some(answer);
    }
    for ((i, _), answer) in tlsa_questions.into_iter().zip(tlsa_answers) {
        hosts[i].tlsa_early = Some(Box::new(answer));
    }
    // The questions are grouped by host, in host order.
    let mut answers = questions
        .into_iter()
        .zip(answers.into_iter().flatten())
        .peekable();
    for (i, host) in hosts.iter_mut().enumerate() {
        let mine = std::iter::from_fn(|| {
            answers
                .next_if(|((q, _), _)| *q == i)
                .map(|((_, t), a)| (t, a))
        });
        let ttl = host.take_answers(mine, family);
        if !host.addresses.is_empty() {
            route.lower_ttl(ttl);
        }
        host.warn_about_lookup(route, implicit);
    }
}

/// docs/rules/secure.md, Rules S2 to S5: every usable exchanger whose
/// addresses are secure gets its TLSA records, looked up under the base
/// names of Rule S3 in turn (the alias target first, then its own name; the
/// next one only after a denial), each round asking every host still
/// searching at once. What it finds says what TLS the host requires; a
/// failed lookup drops the host from the plan (Rule S5). Hosts whose
/// addresses are not secure are left to [`route_domain`]'s default
/// (opportunistic TLS).
async fn apply_dane<L: Lookup + ?Sized>(lookup: &L, route: &mut Route, hosts: &mut [Host]) {
    let mut searching: Vec<(usize, Vec<Name>)> = hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| {
            h.state == ExchangerState::Ok && h.fixed.is_none() && h.dnssec == Some(Dnssec::Secure)
        })
        .map(|(i, h)| {
            let bases = h.cname_chain.last().into_iter().chain([&h.name]);
            (i, bases.cloned().collect())
        })
        .collect();
    while !searching.is_empty() {
        // The next base name of every host still searching, with the
        // answer already at hand for a host's own name.
        let mut bases = Vec::with_capacity(searching.len());
        let mut lookups = Vec::with_capacity(searching.len());
        for (i, left) in &mut searching {
            let base = left.remove(0);
            let early = if base == hosts[*i].name {
                hosts[*i].tlsa_early.take()
            } else {
                None
            };
            let name = tlsa_name(&base);
            lookups.push(async move {
                match (early, name) {
                    (Some(answer), _) => *answer,
                    (None, Some(name)) => resolve(lookup, &name, RecordType::TLSA).await,
                    // Too long a name for a TLSA query: nothing can be
                    // published there.
                    (None, None) => Answer {
                        outcome: Outcome::NoData { negative_ttl: None },
                        cname_chain: Vec::new(),
                        authentic: false,
                        server: "".into(),
                    },
                }
            });
            bases.push(base);
        }
        let answers = join_all(lookups).await;
        let mut next = Vec::new();
        for (((i, left), base), answer) in searching.into_iter().zip(bases).zip(answers) {
            let tlsa = Tlsa::judge(&answer, display_name(&base));
            if tlsa.is_denial() && !left.is_empty() {
                next.push((i, left));
            } else {
                hosts[i].take_tlsa(route, tlsa);
            }
        }
        searching = next;
    }
}

/// docs/rules/route.md, Rule 19: find the best preference level where this host
/// appears itself; that level and every higher number are dropped. Returns the
/// level.
fn truncate_at_self(route: &mut Route, hosts: &mut [Host], opts: &RouteOptions) -> Option<u16> {
    let level = hosts
        .iter()
        .filter(|host| host.is_self(opts))
        .map(|host| host.preference)
        .min()?;
    for host in hosts.iter_mut().filter(|h| h.preference >= level) {
        host.state = if host.is_self(opts) {
            ExchangerState::SelfHost
        } else {
            ExchangerState::BelowSelf
        };
        host.addresses.clear();
        host.detail = None;
    }
    route.warn(
        "self_truncated",
        format!("this host is an exchanger at preference {level}: that level and every higher number are dropped (RFC 5321 section 5.1)"),
    );
    Some(level)
}

/// Build the plan, dropping addresses already listed (docs/rules/route.md,
/// Rule 13; Exim `host_remove_duplicates`).
fn build_plan(route: &mut Route, hosts: &mut [Host]) {
    let total: usize = hosts.iter().map(|h| h.addresses.len()).sum();
    route.candidates.reserve(total);
    let mut seen = Seen::with_capacity(total);
    for host in hosts {
        // Kept in place: an address already in the plan is dropped here.
        host.addresses.retain(|&ip| {
            if seen.insert(ip) {
                route.candidates.push(Candidate {
                    preference: host.preference,
                    exchanger: host.text.clone(),
                    address: ip,
                    canonical: host.cname_chain.last().map(display_name),
                });
                true
            } else {
                route.warn(
                    "duplicate_address",
                    format!(
                        "{ip} of exchanger {} is already in the plan; tried once",
                        host.text
                    ),
                );
                false
            }
        });
    }
}

/// Addresses in the order a plan tries them: IPv6 and IPv4 alternating,
/// IPv6 first, each family in the order given, the rest of the longer
/// family at the end (RFC 6724's default preference; RFC 8305 section 4).
/// Done in place for an exchanger's few addresses (one list fewer to
/// allocate per exchanger of a scan); a long list (a hostile answer) is
/// merged through a second one, in linear time.
fn interleave_families(found: &mut Vec<IpAddr>) {
    /// Longest list reordered in place (quadratic in its length).
    const IN_PLACE_MAX: usize = 32;
    if found.len() > IN_PLACE_MAX {
        let mut merged = Vec::with_capacity(found.len());
        let (mut a, mut b) = (
            found.iter().copied().filter(IpAddr::is_ipv6),
            found.iter().copied().filter(IpAddr::is_ipv4),
        );
        loop {
            match (a.next(), b.next()) {
                (None, None) => break,
                (x, y) => merged.extend(x.into_iter().chain(y)),
            }
        }
        *found = merged;
        return;
    }
    let mut want_v6 = true;
    for k in 0..found.len() {
        // The next address of the family wanted moves to `k`; the ones it
        // passes keep their order. When that family is used up, the rest
        // is the other one, in order.
        match found[k..].iter().position(|ip| ip.is_ipv6() == want_v6) {
            Some(j) => found[k..=k + j].rotate_right(1),
            None => break,
        }
        want_v6 = !want_v6;
    }
}

/// The addresses already in a plan: a list searched end to end for the
/// few a plan nearly always has, a hash set past [`Seen::LIST_MAX`] (a
/// hostile MX set may name thousands).
// The list is the large variant on purpose: it lives on the stack while one
// plan is built, and saves the allocation nearly every plan would make.
#[allow(clippy::large_enum_variant)]
enum Seen {
    /// On the stack: the first `len` are taken.
    List {
        ips: [IpAddr; Seen::LIST_MAX],
        len: usize,
    },
    // foldhash: SipHash showed in scan profiles; seeded per process.
    Set(HashSet<IpAddr, foldhash::fast::RandomState>),
}

impl Seen {
    const LIST_MAX: usize = 16;

    fn with_capacity(n: usize) -> Seen {
        if n <= Self::LIST_MAX {
            Seen::List {
                ips: [IpAddr::from([0u8; 4]); Seen::LIST_MAX],
                len: 0,
            }
        } else {
            Seen::Set(HashSet::with_capacity_and_hasher(n, Default::default()))
        }
    }

    /// `true` when `ip` was not seen before.
    fn insert(&mut self, ip: IpAddr) -> bool {
        match self {
            Seen::List { ips, len } => {
                if ips[..*len].contains(&ip) {
                    return false;
                }
                match ips.get_mut(*len) {
                    Some(slot) => {
                        *slot = ip;
                        *len += 1;
                    }
                    // More than the capacity given: a set from here on.
                    None => {
                        let mut set: HashSet<IpAddr, foldhash::fast::RandomState> =
                            ips.iter().copied().collect();
                        set.insert(ip);
                        *self = Seen::Set(set);
                    }
                }
                true
            }
            Seen::Set(set) => set.insert(ip),
        }
    }
}

/// Why the plan is empty: mail loops back to this host or its primary relay is
/// missing (docs/rules/route.md, Rule 19), a lookup failed now (Rule 16: a soft
/// error dominates), or no exchanger has a usable address (Rules 8, 11, 18).
fn no_candidate(
    text: &str,
    hosts: &[Host],
    self_level: Option<u16>,
    implicit: bool,
    family: Family,
) -> Failure {
    if let Some(level) = self_level {
        let best = hosts.iter().map(|h| h.preference).min();
        if best == Some(level) {
            return Failure {
                kind: RouteKind::LoopsToSelf,
                dsn: "5.4.6",
                message: format!(
                    "mail for {text} loops back to myself: this host is its best exchanger (preference {level})"
                ),
            };
        }
        return Failure {
            kind: RouteKind::NoPrimaryRelay,
            dsn: "4.4.4",
            message: format!(
                "unable to find primary relay for {text}: no exchanger more preferred than this host (preference {level}) has an address now"
            ),
        };
    }
    // docs/rules/secure.md: hosts a policy removed. Deferred, never
    // downgraded (Rule S5), and the policy may change (Rule S11).
    let removed = [
        (
            ExchangerState::TlsaLookupFailed,
            RouteKind::TlsaLookupFailed,
            "the TLSA lookup failed for every secure exchanger left (RFC 7672 section 2.2)",
        ),
        (
            ExchangerState::MtaStsMismatch,
            RouteKind::MtaStsMismatch,
            "its MTA-STS policy (enforce) matches none of those with an address (RFC 8461 section 4.1)",
        ),
    ];
    for (state, kind, why) in removed {
        if hosts.iter().any(|h| h.state == state) {
            return Failure {
                kind,
                dsn: "4.7.5",
                message: format!("no exchanger of {text} can be used now: {why}"),
            };
        }
    }
    if hosts.iter().any(|h| h.soft && h.addresses.is_empty()) {
        return Failure {
            kind: RouteKind::DnsTemporary,
            dsn: "4.4.3",
            message: format!(
                "no exchanger of {text} has an address now, and some lookups failed temporarily"
            ),
        };
    }
    let family = match family {
        Family::Any => "",
        Family::Ipv4 => " IPv4",
        Family::Ipv6 => " IPv6",
    };
    let message = if implicit {
        format!("{text} has no MX record and no{family} address record of its own")
    } else {
        format!("no exchanger of {text} has an{family} address")
    };
    Failure {
        kind: RouteKind::NoUsableExchanger,
        dsn: "5.4.4",
        message,
    }
}

/// docs/rules/route.md, Rules 11 and 13: drop exchange names that are not host
/// names, handle IP addresses posing as names, and keep each name once at its
/// lowest preference.
fn usable_hosts(route: &mut Route, records: Vec<MxIn>, opts: &RouteOptions) -> Vec<Host> {
    let mut hosts: Vec<Host> = Vec::with_capacity(records.len());
    let mut dropped: Vec<Exchanger> = Vec::new();
    // Names kept so far (display form: lower case, so equal names are equal
    // text); a set only for long lists, where comparing with each would
    // cost O(n^2).
    let mut kept: Option<HashSet<String>> = (records.len() > 8).then(HashSet::new);
    for MxIn {
        preference,
        text,
        name: exchange,
        ..
    } in records
    {
        match classify_exchange(&exchange) {
            ExchangeName::Root => {}
            ExchangeName::Ip(ip) => {
                if opts.allow_ip_mx {
                    route.warn(
                        "mx_is_ip",
                        format!("MX {preference} {text} names an IP address, not a host (RFC 5321 section 5.1); used because IP-address MX targets are allowed"),
                    );
                    let mut host = Host::new(preference, exchange, text);
                    host.fixed = Some(ip);
                    hosts.push(host);
                } else {
                    route.warn(
                        "mx_is_ip",
                        format!("MX {preference} {text} names an IP address, not a host (RFC 5321 section 5.1: it MUST be a domain name); ignored"),
                    );
                    dropped.push(Exchanger {
                        preference,
                        name: text,
                        addresses: Vec::new(),
                        state: ExchangerState::IpAddress,
                        cname_chain: Vec::new(),
                        dnssec: None,
                        tlsa: None,
                        tls: None,
                        rule: None,
                        detail: Some("an IP address is not a host name".into()),
                    });
                }
            }
            ExchangeName::Invalid(why) => {
                route.warn(
                    "invalid_exchanger",
                    format!("MX {preference} {text} is not a valid host name ({why}); ignored"),
                );
                dropped.push(Exchanger {
                    preference,
                    name: text,
                    addresses: Vec::new(),
                    state: ExchangerState::InvalidName,
                    cname_chain: Vec::new(),
                    dnssec: None,
                    tlsa: None,
                    tls: None,
                    rule: None,
                    detail: Some(why),
                });
            }
            ExchangeName::Host => {
                // Records arrive sorted by preference, so the first one kept is the lowest.
                let seen = match &mut kept {
                    Some(set) => !set.insert(text.clone()),
                    None => hosts.iter().any(|h| h.text == text),
                };
                if seen {
                    route.warn(
                        "duplicate_exchanger",
                        format!("exchanger {text} is listed more than once; kept at its lowest preference"),
                    );
                } else {
                    hosts.push(Host::new(preference, exchange, text));
                }
            }
        }
    }
    route.exchangers.extend(dropped);
    hosts
}

/// An MX record on its way in: the exchange with its display form.
struct MxIn {
    preference: u16,
    text: String,
    name: Name,
    ttl: u32,
}

impl Host {
    /// `text` is `display_name(&name)`.
    fn new(preference: u16, name: Name, text: String) -> Self {
        Host {
            preference,
            text,
            name,
            fixed: None,
            state: ExchangerState::NotLookedUp,
            detail: None,
            addresses: Vec::new(),
            cname_chain: Vec::new(),
            dnssec: None,
            tlsa_early: None,
            tlsa: None,
            tls: None,
            soft: false,
        }
    }

    /// Take the A/AAAA answers (AAAA first): addresses of each family in the
    /// order presented (RFC 5321 section 5.1), families interleaved starting
    /// with IPv6 (RFC 6724's default preference; RFC 8305 section 4), so that
    /// both families stay near the front. Returns the lowest TTL used.
    fn take_answers(
        &mut self,
        answers: impl Iterator<Item = (RecordType, Answer)>,
        family: Family,
    ) -> Option<u32> {
        if let Some(ip) = self.fixed {
            if family.allows(&ip) {
                self.addresses.push(ip);
                self.state = ExchangerState::Ok;
            } else {
                self.state = ExchangerState::NoAddress;
                self.detail = Some("not in a usable address family".into());
            }
            return None;
        }
        // Both families in the order presented; interleaved below.
        let mut found = Vec::new();
        let mut ttl: Option<u32> = None;
        let mut problems: Vec<(String, String)> = Vec::new();
        // docs/rules/secure.md, Rule S1: the weakest status of the answers
        // that said something (records, NODATA, NXDOMAIN); of all of them
        // when every one failed.
        let (mut answered, mut failed): (Option<Dnssec>, Option<Dnssec>) = (None, None);
        for (rtype, answer) in answers {
            let status = answer.dnssec();
            let slot = if answer.outcome.is_temporary() {
                &mut failed
            } else {
                &mut answered
            };
            *slot = Some(slot.map_or(status, |s| s.weakest(status)));
            if self.cname_chain.is_empty() && !answer.cname_chain.is_empty() {
                self.cname_chain = answer.cname_chain;
            }
            match &answer.outcome {
                Outcome::Records(records) => {
                    found.reserve(records.len());
                    for r in records.iter() {
                        match &r.data {
                            RData::A(a) => found.push(IpAddr::V4(a.0)),
                            RData::AAAA(a) => found.push(IpAddr::V6(a.0)),
                            _ => {}
                        }
                    }
                    ttl = [ttl, answer.outcome.ttl()].into_iter().flatten().min();
                }
                other => {
                    if other.is_temporary() {
                        self.soft = true;
                    }
                    let text = other.to_string();
                    match problems.iter_mut().find(|(_, t)| *t == text) {
                        Some((types, _)) => types.push_str(&format!(", {rtype}")),
                        None => problems.push((rtype.to_string(), text)),
                    }
                }
            }
        }
        interleave_families(&mut found);
        self.addresses = found;
        self.dnssec = answered.or(failed);
        // Say what went wrong only where it matters: no address, or a
        // family that failed temporarily.
        let relevant = self.addresses.is_empty() || self.soft;
        self.detail = (relevant && !problems.is_empty()).then(|| {
            let parts: Vec<String> = problems
                .iter()
                .map(|(t, why)| format!("{t}: {why}"))
                .collect();
            parts.join("; ")
        });
        self.state = if !self.addresses.is_empty() {
            ExchangerState::Ok
        } else if self.soft {
            ExchangerState::Temporary
        } else {
            ExchangerState::NoAddress
        };
        ttl
    }

    /// Take the judged TLSA lookup (docs/rules/secure.md, Rules S2, S4,
    /// S5): the TLS the host requires, or, when the lookup failed, the host
    /// leaves the plan for now. The route gets the records' TTL and a
    /// warning for a failure or a DANE host under an unsigned MX answer.
    fn take_tlsa(&mut self, route: &mut Route, tlsa: Tlsa) {
        match tlsa.requirement() {
            None => {
                let why = tlsa.error.clone().unwrap_or_default();
                let message = format!(
                    "exchanger {} is not used now: {why} (RFC 7672 section 2.2: never delivered to without its TLSA records)",
                    self.text
                );
                self.remove(
                    route,
                    ExchangerState::TlsaLookupFailed,
                    ("tlsa_lookup_failed", message),
                    why,
                );
            }
            Some(tls) => {
                route.lower_ttl(tlsa.ttl);
                let mx_unsigned =
                    route.outcome == RouteKind::Mx && route.dnssec != Some(Dnssec::Secure);
                if tls != TlsRequirement::Opportunistic && mx_unsigned {
                    route.warn(
                        "dane_mx_insecure",
                        format!(
                            "exchanger {} requires {tls}, but the MX records naming it are not DNSSEC-validated: Postfix uses its TLSA records and logs the connection as Trusted, not Verified; Exim does not use them (docs/rules/secure.md, Rule S2)",
                            self.text
                        ),
                    );
                }
                self.tls = Some(tls);
            }
        }
        self.tlsa = Some(Box::new(tlsa));
    }

    /// Take the host out of the plan for a policy (docs/rules/secure.md,
    /// Rules S5 and S11): `state` says which, `detail` why; the route warns
    /// with `code` and `message`.
    fn remove(
        &mut self,
        route: &mut Route,
        state: ExchangerState,
        (code, message): (&'static str, String),
        detail: String,
    ) {
        route.warn(code, message);
        self.state = state;
        self.addresses.clear();
        self.detail = Some(detail);
    }

    /// docs/rules/route.md, Rule 19: this host, by one of its names or
    /// addresses.
    fn is_self(&self, opts: &RouteOptions) -> bool {
        opts.self_names.iter().any(|n| n == &self.name)
            || self.addresses.iter().any(|ip| is_self(ip, opts))
    }

    /// Warn about what its address lookups found: an alias
    /// (docs/rules/route.md, Rule 15), no usable address, or a failure
    /// (Rule 16).
    fn warn_about_lookup(&self, route: &mut Route, implicit: bool) {
        if !self.cname_chain.is_empty() && !implicit {
            // docs/rules/route.md, Rule 15: forbidden by RFC 2181 section 10.3,
            // followed by every MTA.
            let chain: Vec<String> = self.cname_chain.iter().map(display_name).collect();
            route.warn(
                "mx_is_cname",
                format!(
                    "exchanger {} is an alias for {} (RFC 2181 section 10.3: an MX must name a host, not an alias); followed, TLS still checks {}",
                    self.text,
                    chain.join(" -> "),
                    self.text
                ),
            );
        }
        let detail = self.detail.as_deref().unwrap_or("");
        match self.state {
            ExchangerState::NoAddress if !implicit => route.warn(
                "exchanger_without_address",
                format!("exchanger {} has no usable address: {detail}", self.text),
            ),
            ExchangerState::Temporary => route.warn(
                "exchanger_lookup_failed",
                format!(
                    "address lookup for exchanger {} failed: {detail}",
                    self.text
                ),
            ),
            ExchangerState::Ok if self.soft => route.warn(
                "exchanger_lookup_failed",
                format!(
                    "address lookup for exchanger {} failed in part: {detail}",
                    self.text
                ),
            ),
            _ => {}
        }
    }

    /// The exchanger as the route shows it; its DNSSEC status (what DANE
    /// decided on) only when `dane` was applied.
    fn report(self, dane: bool) -> Exchanger {
        Exchanger {
            preference: self.preference,
            name: self.text,
            addresses: self.addresses,
            state: self.state,
            cname_chain: self.cname_chain.iter().map(display_name).collect(),
            dnssec: self.dnssec.filter(|_| dane),
            tlsa: self.tlsa,
            tls: self.tls,
            // The rule behind a policy's removal.
            rule: match self.state {
                ExchangerState::TlsaLookupFailed => Some("S5"),
                ExchangerState::MtaStsMismatch => Some("S11"),
                _ => None,
            },
            detail: self.detail,
        }
    }
}

/// docs/rules/route.md, Rule 19: our own addresses, and loopback/unspecified
/// ones when asked.
fn is_self(ip: &IpAddr, opts: &RouteOptions) -> bool {
    // `::ffff:127.0.0.1` is 127.0.0.1.
    let ip = ip.to_canonical();
    opts.self_addresses.iter().any(|s| s.to_canonical() == ip)
        || (opts.loopback_is_self && (ip.is_loopback() || ip.is_unspecified()))
}

/// docs/rules/route.md, Rules 20 and 18: keep the first `limit` candidates, but
/// when the cut would leave out a whole address family that the plan has, give
/// that family the last slot (Postfix `smtp_balance_inet_proto`).
fn apply_limit(route: &mut Route, limit: usize) {
    let total = route.candidates.len();
    if total <= limit {
        return;
    }
    let mut kept: Vec<usize> = (0..limit).collect();
    for want_v6 in [false, true] {
        let has = |i: &usize| route.candidates[*i].address.is_ipv6() == want_v6;
        if !kept.iter().any(has)
            && let Some(first) = (limit..total).find(has)
            && limit >= 2
        {
            // Replace the last kept candidate of the other family.
            if let Some(pos) = kept.iter().rposition(|i| !has(i)) {
                kept.remove(pos);
                kept.push(first);
            }
        }
    }
    kept.sort_unstable();
    let all = std::mem::take(&mut route.candidates);
    route.candidates = kept.iter().map(|i| all[*i].clone()).collect();
    let message = format!(
        "{} of {total} addresses kept (address limit {limit})",
        route.candidates.len()
    );
    route.warn("address_limit", message);
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// In place or through a second list, the families alternate,
        /// IPv6 first, each in its own order.
        #[test]
        fn families_interleave_as_merged(
            picks in proptest::collection::vec((proptest::bool::ANY, 0u8..4), 0..80)
        ) {
            let found: Vec<IpAddr> = picks
                .iter()
                .map(|&(v6, n)| {
                    if v6 {
                        IpAddr::from(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n)))
                    } else {
                        IpAddr::from(std::net::Ipv4Addr::new(192, 0, 2, n))
                    }
                })
                .collect();
            // The i-th IPv6 address, then the i-th IPv4 address, for each i.
            let (v6, v4): (Vec<IpAddr>, Vec<IpAddr>) = found.iter().partition(|ip| ip.is_ipv6());
            let merged: Vec<IpAddr> = (0..v6.len().max(v4.len()))
                .flat_map(|i| [v6.get(i), v4.get(i)].into_iter().flatten().copied())
                .collect();
            let mut interleaved = found.clone();
            interleave_families(&mut interleaved);
            proptest::prop_assert_eq!(interleaved, merged);
        }
    }

    /// The plan's set of addresses answers alike as a list and as a hash
    /// set: each address new once, then seen.
    #[test]
    fn seen_addresses_as_list_and_as_set() {
        for n in [0, 3, Seen::LIST_MAX, Seen::LIST_MAX + 1, 300] {
            let mut seen = Seen::with_capacity(n);
            assert_eq!(matches!(seen, Seen::List { .. }), n <= Seen::LIST_MAX);
            let ips: Vec<IpAddr> = (0..n as u32)
                .map(|i| IpAddr::from(std::net::Ipv4Addr::from(0xc000_0200 + i)))
                .collect();
            for ip in &ips {
                assert!(seen.insert(*ip), "{ip} is new");
            }
            for ip in &ips {
                assert!(!seen.insert(*ip), "{ip} was seen");
            }
        }
        // More than the list holds, though fewer were announced: a set.
        let mut seen = Seen::with_capacity(2);
        let ips: Vec<IpAddr> = (0..40u32)
            .map(|i| IpAddr::from(std::net::Ipv4Addr::from(0xc633_6400 + i)))
            .collect();
        assert!(ips.iter().all(|ip| seen.insert(*ip)));
        assert!(matches!(seen, Seen::Set(_)));
        assert!(ips.iter().all(|ip| !seen.insert(*ip)));
    }

    /// Every kind's code reads back as that kind, and only failures have a
    /// verdict other than deliverable.
    #[test]
    fn kinds_round_trip_through_their_codes() {
        for kind in RouteKind::ALL {
            assert_eq!(RouteKind::from_code(kind.code()), Some(kind));
            let serialized = serde_json::to_value(kind).unwrap();
            assert_eq!(serialized, kind.code());
        }
        assert_eq!(RouteKind::from_code("no_such_kind"), None);
        assert_eq!(
            RouteKind::TlsaLookupFailed.verdict(),
            RouteVerdict::Temporary
        );
    }
}

//! DNS for mail routing: one [`Lookup`] trait and its sources.
//!
//! Words:
//! - a **source** answers one question at a time: the live [`engine`] (our own
//!   UDP/TCP stub client on hickory-proto's codec), a [`zone`] file set
//!   (authoritative, for trying a zone before it is published), the [`Overlay`]
//!   of both, and the scripted `fake` for tests (behind the `testing`
//!   feature, off by default);
//! - a [`Response`] is what one source said to one question, CNAMEs and all;
//! - an [`Answer`] is the result after [`resolve`] has followed the CNAME chain
//!   from the question name to the records.
//!
//! Outcomes are kept apart the way RFC 5321 section 5.1 needs them: NXDOMAIN
//! (the name does not exist: permanent), NODATA (the name exists without that
//! type: for MX this means implicit MX), temporary (SERVFAIL, REFUSED, timeout,
//! malformed reply: retry later, never "no MX") and truncated (RFC 1123 section
//! 6.1.3.2: a mailer must not use a truncated MX answer). Never a bare "not found".

pub mod cache;
mod decode;
pub mod engine;
#[cfg(any(test, feature = "testing"))]
pub mod fake;
pub mod zone;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use hickory_proto::rr::{Name, RData, Record, RecordType, rdata};

/// A boxed future, so that sources can be used as `dyn Lookup`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Longest CNAME chain followed before giving up (temporary), as Postfix
/// (`dns_lookup.c`, 10 loops) does.
pub const MAX_CNAME_CHAIN: usize = 10;

/// A source of DNS answers: asks one question, returns what the source said.
///
/// Implementations never fail with a Rust error: every way a question can go
/// wrong is a [`Status`]. Names are always absolute (rooted); a source never
/// appends search-list suffixes.
pub trait Lookup: Send + Sync {
    /// Ask `name` (absolute) for `rtype` records.
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> BoxFuture<'a, Response>;

    /// The response [`Lookup::query`] would give, when the source has it at
    /// hand without waiting (a cache's live answer, a zone file's answer);
    /// `None` means "ask `query`". [`resolve`] asks this first, so that an
    /// answer at hand costs no boxed future: in a bulk scan most exchanger
    /// questions are cache hits. A source that answers here must answer
    /// `query` the same way. The default has nothing at hand.
    fn ready(&self, name: &Name, rtype: RecordType) -> Option<Response> {
        let _ = (name, rtype);
        None
    }
}

impl<T: Lookup + ?Sized> Lookup for Arc<T> {
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> BoxFuture<'a, Response> {
        (**self).query(name, rtype)
    }

    fn ready(&self, name: &Name, rtype: RecordType) -> Option<Response> {
        (**self).ready(name, rtype)
    }
}

impl<T: Lookup + ?Sized> Lookup for &T {
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> BoxFuture<'a, Response> {
        (**self).query(name, rtype)
    }

    fn ready(&self, name: &Name, rtype: RecordType) -> Option<Response> {
        (**self).ready(name, rtype)
    }
}

/// What one source said to one question.
#[derive(Clone, Debug)]
pub struct Response {
    /// The response code, classified.
    pub status: Status,
    /// The answer section as received (may hold CNAMEs and records of other
    /// owners). Shared: a cached answer handed out again is a reference
    /// count, not a copy.
    pub answers: Arc<[Record]>,
    /// Negative-caching TTL (RFC 2308 section 5: min of the SOA's TTL and its
    /// MINIMUM field) when the authority section carried an SOA.
    pub negative_ttl: Option<u32>,
    /// The AD bit (RFC 4035 section 3.2.3): the resolver validated the data.
    pub authentic: bool,
    /// The AA bit (RFC 1035 section 4.1.1): the answering server is an
    /// authority for the question's zone. A resolver's cached answers do not
    /// carry it; an authoritative server that answers without it is lame.
    pub authoritative: bool,
    /// Who answered: `127.0.0.1:53`, `zone examples/example.org.zone`, ...
    /// Shared: every response of one server holds the same text.
    pub server: Arc<str>,
    /// The source vouches that every record of `answers` is owned by the
    /// name asked, so [`resolve`] need not compare each owner with it (the
    /// engine sets it when each owner was written as a pointer to the
    /// reply's question, which it checked is the question asked). `false`
    /// says nothing: the owners are compared.
    pub owners_asked: bool,
}

impl Response {
    /// A response that carries only a status (no records).
    pub fn status(status: Status, server: impl Into<Arc<str>>) -> Self {
        Response {
            status,
            answers: Arc::from([]),
            negative_ttl: None,
            authentic: false,
            authoritative: false,
            server: server.into(),
            owners_asked: false,
        }
    }
}

/// The response code of one response, classified for mail routing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// NOERROR: the answer section is authoritative for the question (it may be
    /// empty: NODATA).
    NoError,
    /// NXDOMAIN (RFC 8020: nothing exists at or below the name).
    NxDomain,
    /// The answer was truncated (TC bit) and could not be had in full over TCP.
    Truncated,
    /// Could not get a usable answer now: retry later.
    Temporary(TempError),
}

/// Why a question got no usable answer now. Every variant means "retry later".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TempError {
    /// The server answered SERVFAIL.
    #[error("SERVFAIL from {0}")]
    ServFail(String),
    /// A validating resolver answered SERVFAIL with an Extended DNS Error
    /// of the DNSSEC kind (RFC 8914 INFO-CODEs 6 to 12): the data is bogus
    /// (docs/rules/secure.md, Rule S1).
    #[error("DNSSEC validation failed at {server}: {}", ede_text(*.ede))]
    Bogus {
        /// Who answered.
        server: String,
        /// The EDE INFO-CODE.
        ede: u16,
    },
    /// The server answered REFUSED.
    #[error("REFUSED by {0}")]
    Refused(String),
    /// Another response code that gives no answer (NOTIMP, FORMERR, ...).
    #[error("{rcode} from {server}")]
    Rcode {
        /// The response code's mnemonic.
        rcode: String,
        /// Who answered.
        server: String,
    },
    /// No acceptable reply before the last try ran out.
    #[error("timeout: no usable answer from {servers}{}", ignored_note(*.ignored, .last_ignored))]
    Timeout {
        /// The servers asked.
        servers: String,
        /// Replies received but ignored (wrong ID, wrong question, undecodable...).
        ignored: u32,
        /// Why the last ignored reply was ignored.
        last_ignored: Option<String>,
    },
    /// A reply that matched the question but could not be used.
    #[error("malformed reply from {server}: {reason}")]
    Malformed {
        /// Who answered.
        server: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A CNAME chain came back to a name already seen.
    #[error("CNAME loop at {0}")]
    CnameLoop(String),
    /// A CNAME chain longer than [`MAX_CNAME_CHAIN`].
    #[error("CNAME chain longer than {MAX_CNAME_CHAIN} at {0}")]
    CnameChainTooLong(String),
    /// The name is outside every loaded zone and no server may be asked (`--offline`).
    #[error("{0} is outside every loaded zone and no server may be asked (offline)")]
    Offline(String),
    /// The network could not be used (no route, socket error, ...).
    #[error("network error talking to {server}: {reason}")]
    Network {
        /// The server.
        server: String,
        /// The I/O error.
        reason: String,
    },
}

/// An Extended DNS Error INFO-CODE with its name from the IANA registry
/// (RFC 8914 section 5.2): `EDE 7 (Signature Expired)`.
pub fn ede_text(code: u16) -> String {
    let name = match code {
        0 => "Other Error",
        1 => "Unsupported DNSKEY Algorithm",
        2 => "Unsupported DS Digest Type",
        3 => "Stale Answer",
        4 => "Forged Answer",
        5 => "DNSSEC Indeterminate",
        6 => "DNSSEC Bogus",
        7 => "Signature Expired",
        8 => "Signature Not Yet Valid",
        9 => "DNSKEY Missing",
        10 => "RRSIGs Missing",
        11 => "No Zone Key Bit Set",
        12 => "NSEC Missing",
        13 => "Cached Error",
        14 => "Not Ready",
        15 => "Blocked",
        16 => "Censored",
        17 => "Filtered",
        18 => "Prohibited",
        19 => "Stale NXDomain Answer",
        20 => "Not Authoritative",
        21 => "Not Supported",
        22 => "No Reachable Authority",
        23 => "Network Error",
        24 => "Invalid Data",
        _ => return format!("EDE {code}"),
    };
    format!("EDE {code} ({name})")
}

/// The EDE INFO-CODEs that say a validating resolver found the data bogus
/// (RFC 8914 sections 4.7 to 4.13; docs/rules/secure.md, Rule S1).
pub const EDE_BOGUS: std::ops::RangeInclusive<u16> = 6..=12;

/// The DNSSEC status of a lookup (RFC 4033 section 5; docs/rules/secure.md,
/// Rule S1). Ordered from the strongest to the weakest: a chain of lookups
/// has its weakest link's status ([`Dnssec::weakest`]). Serialized in lower
/// case (`"secure"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dnssec {
    /// An answer (records, NODATA or NXDOMAIN) whose every response carried
    /// the AD bit: the resolver validated it.
    Secure,
    /// An answer without the AD bit somewhere on its way (an unsigned zone,
    /// a zone file, a resolver that does not validate).
    Insecure,
    /// No answer to judge: a timeout, a network error, a truncated answer,
    /// an error rcode that does not say the data is bogus.
    Indeterminate,
    /// The resolver found the data bogus: SERVFAIL with an EDE of
    /// [`EDE_BOGUS`]. Never read as "no record": a temporary failure.
    Bogus,
}

impl Dnssec {
    /// The weaker of two statuses (`secure` < `insecure` < `indeterminate`
    /// < `bogus`).
    pub fn weakest(self, other: Dnssec) -> Dnssec {
        self.max(other)
    }

    /// Its word: `secure`, `insecure`, `indeterminate`, `bogus`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dnssec::Secure => "secure",
            Dnssec::Insecure => "insecure",
            Dnssec::Indeterminate => "indeterminate",
            Dnssec::Bogus => "bogus",
        }
    }
}

impl fmt::Display for Dnssec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn ignored_note(ignored: u32, last: &Option<String>) -> String {
    match (ignored, last) {
        (0, _) => String::new(),
        (n, Some(why)) => format!(" ({n} reply ignored, last: {why})"),
        (n, None) => format!(" ({n} reply ignored)"),
    }
}

/// The outcome of a resolved question, after following CNAMEs.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Records of the asked type, owned by the last name of the chain
    /// (shared with the response they came in when that held nothing else).
    Records(Arc<[Record]>),
    /// The name exists but has no records of that type.
    NoData {
        /// How long this may be cached (RFC 2308), when known.
        negative_ttl: Option<u32>,
    },
    /// The name does not exist.
    NxDomain {
        /// How long this may be cached (RFC 2308), when known.
        negative_ttl: Option<u32>,
    },
    /// Only a truncated answer could be had (never used: RFC 1123 section 6.1.3.2).
    Truncated,
    /// No usable answer now; retry later.
    Temporary(TempError),
}

impl Outcome {
    /// True for outcomes that mean "retry later" (temporary or truncated).
    pub fn is_temporary(&self) -> bool {
        matches!(self, Outcome::Temporary(_) | Outcome::Truncated)
    }

    /// The records, or nothing.
    pub fn records(&self) -> &[Record] {
        match self {
            Outcome::Records(r) => r,
            _ => &[],
        }
    }

    /// Lowest TTL of the records (RFC 2181 section 5.2), or the negative TTL.
    pub fn ttl(&self) -> Option<u32> {
        match self {
            Outcome::Records(r) => r.iter().map(|r| r.ttl).min(),
            Outcome::NoData { negative_ttl } | Outcome::NxDomain { negative_ttl } => *negative_ttl,
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Records(r) => write!(f, "{} record(s)", r.len()),
            Outcome::NoData { .. } => f.write_str("no records of that type (NODATA)"),
            Outcome::NxDomain { .. } => f.write_str("no such domain (NXDOMAIN)"),
            Outcome::Truncated => f.write_str("truncated answer (TC) and no full answer over TCP"),
            Outcome::Temporary(e) => e.fmt(f),
        }
    }
}

/// A question's result after following CNAMEs.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// What came of it.
    pub outcome: Outcome,
    /// The CNAME targets followed from the question name, in order; the last
    /// one owns the records.
    pub cname_chain: Vec<Name>,
    /// Every response on the way had the AD bit set.
    pub authentic: bool,
    /// Who gave the last response.
    pub server: Arc<str>,
}

impl Answer {
    /// Its DNSSEC status (docs/rules/secure.md, Rule S1): bogus when the
    /// resolver said so, indeterminate when there was no answer to judge,
    /// else secure when every response on the way carried the AD bit.
    pub fn dnssec(&self) -> Dnssec {
        match &self.outcome {
            Outcome::Temporary(TempError::Bogus { .. }) => Dnssec::Bogus,
            Outcome::Temporary(_) | Outcome::Truncated => Dnssec::Indeterminate,
            _ if self.authentic => Dnssec::Secure,
            _ => Dnssec::Insecure,
        }
    }

    /// The name that owns the records: the last CNAME target, or the question name.
    pub fn canonical<'a>(&'a self, question: &'a Name) -> &'a Name {
        self.cname_chain.last().unwrap_or(question)
    }
}

/// Whether `a` and `b` are the same name: what hickory's `==` says (ASCII
/// case ignored, RFC 4343; an absolute name never equals a relative one)
/// with a cheaper walk. Its `==` orders the labels from the root, byte by
/// byte; this compares lengths first and then each label from the left,
/// and it runs for every record of every answer ([`resolve`]) and the
/// question of every reply.
pub(crate) fn same_name(a: &Name, b: &Name) -> bool {
    if a.is_fqdn() != b.is_fqdn() || a.len() != b.len() {
        return false;
    }
    let (mut left, mut right) = (a.iter(), b.iter());
    loop {
        match (left.next(), right.next()) {
            // Equal bytes first: the names of one reply share their case.
            (Some(l), Some(r)) if l == r || l.eq_ignore_ascii_case(r) => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Ask `name` for `rtype` through `lookup` and follow CNAMEs (RFC 1034 section
/// 3.6.2; RFC 5321 section 5.1: "if a CNAME record is found, the resulting
/// name is processed as if it were the initial name").
///
/// A chain is followed inside one response as far as it goes and re-asked
/// where it stops (an authoritative server returns a CNAME into another zone
/// alone). A loop or a chain longer than [`MAX_CNAME_CHAIN`] is temporary, as
/// in Postfix. Each question is first put to [`Lookup::ready`].
pub async fn resolve<L: Lookup + ?Sized>(lookup: &L, name: &Name, rtype: RecordType) -> Answer {
    match resolve_ready(lookup, name, rtype) {
        Ok(answer) => answer,
        Err(walk) => walk.finish(lookup).await,
    }
}

/// [`resolve`] as far as the answers at hand ([`Lookup::ready`]) take it:
/// the answer, or the walk to finish with [`Walk::finish`] (which goes on
/// from where this stopped, so no question is asked twice).
pub fn resolve_ready<'n, L: Lookup + ?Sized>(
    lookup: &L,
    name: &'n Name,
    rtype: RecordType,
) -> Result<Answer, Walk<'n>> {
    let mut walk = Walk {
        name,
        rtype,
        current: None,
        chain: Vec::new(),
        authentic: true,
    };
    while let Some(resp) = lookup.ready(walk.asking(), rtype) {
        if let Some(answer) = walk.take(resp) {
            return Ok(answer);
        }
    }
    Err(walk)
}

/// A CNAME chain being followed ([`resolve`]): the question, the name to
/// ask next and the chain so far.
pub struct Walk<'n> {
    name: &'n Name,
    rtype: RecordType,
    /// The last CNAME target, when the chain has grown (the question name
    /// is not copied until then).
    current: Option<Name>,
    chain: Vec<Name>,
    authentic: bool,
}

impl Walk<'_> {
    /// The name to ask next.
    fn asking(&self) -> &Name {
        self.current.as_ref().unwrap_or(self.name)
    }

    /// Ask the sources the rest of the way: the name it stopped at with
    /// [`Lookup::query`] (its answer was not at hand), each CNAME target
    /// after it as [`resolve`] does.
    pub async fn finish<L: Lookup + ?Sized>(mut self, lookup: &L) -> Answer {
        let mut resp = lookup.query(self.asking(), self.rtype).await;
        loop {
            if let Some(answer) = self.take(resp) {
                return answer;
            }
            resp = match lookup.ready(self.asking(), self.rtype) {
                Some(resp) => resp,
                None => lookup.query(self.asking(), self.rtype).await,
            };
        }
    }

    /// Take the response to [`Walk::asking`]: the answer, or `None` when
    /// the chain goes on at a name to ask next.
    fn take(&mut self, resp: Response) -> Option<Answer> {
        let rtype = self.rtype;
        self.authentic &= resp.authentic;
        let Response {
            status,
            answers,
            negative_ttl,
            server,
            owners_asked,
            ..
        } = resp;
        let authentic = self.authentic;
        let done = |outcome: Outcome, chain: &mut Vec<Name>| {
            Some(Answer {
                outcome,
                cname_chain: std::mem::take(chain),
                authentic,
                server,
            })
        };
        match status {
            Status::Temporary(e) => return done(Outcome::Temporary(e), &mut self.chain),
            Status::Truncated => return done(Outcome::Truncated, &mut self.chain),
            Status::NoError | Status::NxDomain => {}
        }
        let grew_from = self.chain.len();
        loop {
            // The response's owners are the name asked of it: `current`
            // until the chain grows within it.
            let owners_current = owners_asked && self.chain.len() == grew_from;
            let current = self.asking();
            let wanted = |r: &Record| {
                r.record_type() == rtype && (owners_current || same_name(&r.name, current))
            };
            let matching = answers.iter().filter(|r| wanted(r)).count();
            if matching == answers.len() && matching > 0 {
                // The usual case: the response holds just the records (shared, not copied).
                return done(Outcome::Records(answers), &mut self.chain);
            }
            if matching > 0 {
                let records: Arc<[Record]> =
                    answers.iter().filter(|r| wanted(r)).cloned().collect();
                return done(Outcome::Records(records), &mut self.chain);
            }
            let target = answers.iter().find_map(|r| match &r.data {
                RData::CNAME(c)
                    if rtype != RecordType::CNAME
                        && (owners_current || same_name(&r.name, current)) =>
                {
                    Some(c.0.clone())
                }
                _ => None,
            });
            let Some(target) = target else { break };
            // Names compare case-insensitively (RFC 4343).
            if target == *self.name || self.chain.contains(&target) {
                return done(
                    Outcome::Temporary(TempError::CnameLoop(target.to_ascii())),
                    &mut self.chain,
                );
            }
            if self.chain.len() >= MAX_CNAME_CHAIN {
                return done(
                    Outcome::Temporary(TempError::CnameChainTooLong(self.name.to_ascii())),
                    &mut self.chain,
                );
            }
            self.chain.push(target.clone());
            self.current = Some(target);
        }
        let progressed = self.chain.len() > grew_from;
        match status {
            // The rcode applies to the last name of the chain (RFC 6604 section 3).
            Status::NxDomain => done(Outcome::NxDomain { negative_ttl }, &mut self.chain),
            // The chain stopped at a name this response says nothing more
            // about: ask that name itself.
            Status::NoError if progressed => None,
            _ => done(Outcome::NoData { negative_ttl }, &mut self.chain),
        }
    }
}

/// `zones`, with each zone whose SOA `live` DNS answers DNSSEC-secure taken
/// as signed ([`zone::ZoneSet::assume_signed`]): its new version is
/// expected to stay signed once published, so its TLSA records count in the
/// pre-publish view of DANE (docs/rules/secure.md, "Where the status comes
/// from"). The SOA questions go out at once.
pub async fn signed_as_live<L: Lookup + ?Sized>(zones: &zone::ZoneSet, live: &L) -> zone::ZoneSet {
    let origins: Vec<&Name> = zones.zones().iter().map(|z| &z.origin).collect();
    let answers =
        futures::future::join_all(origins.iter().map(|o| resolve(live, o, RecordType::SOA))).await;
    let mut marked = zones.clone();
    for (origin, answer) in origins.into_iter().zip(answers) {
        if answer.dnssec() == Dnssec::Secure {
            marked.assume_signed(origin);
        }
    }
    marked
}

/// Zone files laid over another source: names inside a loaded zone are
/// answered from the files, the rest by `fallback`, or, with no fallback
/// (offline), as [`TempError::Offline`].
pub struct Overlay {
    /// The loaded zones.
    pub zones: zone::ZoneSet,
    /// Where names outside the zones go; `None` when offline.
    pub fallback: Option<Arc<dyn Lookup>>,
}

impl Lookup for Overlay {
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            if let Some(resp) = self.zones.answer(name, rtype) {
                return resp;
            }
            match &self.fallback {
                Some(live) => live.query(name, rtype).await,
                None => Overlay::offline(name),
            }
        })
    }

    /// The zones' answer, or none (offline) at once; the fallback's own
    /// answer at hand, if any, for names outside the zones.
    fn ready(&self, name: &Name, rtype: RecordType) -> Option<Response> {
        if let Some(resp) = self.zones.answer(name, rtype) {
            return Some(resp);
        }
        match &self.fallback {
            Some(live) => live.ready(name, rtype),
            None => Some(Overlay::offline(name)),
        }
    }
}

impl Overlay {
    /// What a name outside the zones gets without a fallback.
    fn offline(name: &Name) -> Response {
        Response::status(
            Status::Temporary(TempError::Offline(name.to_ascii())),
            "offline",
        )
    }
}

/// Another source, counting the questions it answered as
/// [`TempError::Offline`]: whether a name outside the loaded zones was
/// asked (and so counted as unresolvable), which a report says only when
/// it happened.
pub struct Refusals<L> {
    inner: L,
    refused: std::sync::atomic::AtomicUsize,
}

impl<L: Lookup> Refusals<L> {
    /// Count the refusals of `inner`.
    pub fn new(inner: L) -> Self {
        Refusals {
            inner,
            refused: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The questions refused so far: names outside every loaded zone,
    /// offline.
    pub fn refused(&self) -> usize {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl<L: Lookup> Lookup for Refusals<L> {
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> BoxFuture<'a, Response> {
        Box::pin(async move { self.count(self.inner.query(name, rtype).await) })
    }

    fn ready(&self, name: &Name, rtype: RecordType) -> Option<Response> {
        self.inner.ready(name, rtype).map(|resp| self.count(resp))
    }
}

impl<L> Refusals<L> {
    /// Count `resp` when it is a refusal.
    fn count(&self, resp: Response) -> Response {
        if matches!(resp.status, Status::Temporary(TempError::Offline(_))) {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Only questions outside the zones count as refused.
    #[tokio::test]
    async fn refusals_count_only_names_outside_the_zones() {
        let text = "$ORIGIN in.test.\n@ 3600 IN SOA ns hostmaster 1 3600 600 86400 300\n@ 3600 IN NS ns\n@ 3600 IN MX 10 mail\n";
        let mut zones = zone::ZoneSet::new();
        zones
            .push(zone::ZoneSet::from_str(text, "in.test", None).unwrap_or_else(|e| panic!("{e}")));
        let offline = Refusals::new(Overlay {
            zones,
            fallback: None,
        });
        let inside = Name::from_ascii("in.test.").unwrap();
        let outside = Name::from_ascii("out.test.").unwrap();
        offline.query(&inside, RecordType::MX).await;
        offline.query(&inside, RecordType::A).await;
        assert_eq!(offline.refused(), 0);
        offline.query(&outside, RecordType::A).await;
        assert_eq!(offline.refused(), 1);
    }

    /// Labels from a small alphabet in both cases, so that equal names,
    /// names equal but for case, and names one label or byte apart are all
    /// common.
    fn name() -> impl Strategy<Value = Name> {
        (
            proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![Just(b'a'), Just(b'A'), Just(b'b'), Just(b'.')],
                    1..4,
                ),
                0..4,
            ),
            any::<bool>(),
        )
            .prop_map(|(labels, fqdn)| {
                let mut n = Name::from_labels(labels).unwrap();
                n.set_fqdn(fqdn);
                n
            })
    }

    proptest! {
        #[test]
        fn same_name_is_hickorys_equality(a in name(), b in name()) {
            prop_assert_eq!(same_name(&a, &b), a == b, "{:?} {:?}", a, b);
            prop_assert!(same_name(&a, &a.to_lowercase()));
        }
    }
}

//! Robustness: the paths that take untrusted input never panic and give
//! consistent verdicts. The same three paths as the cargo-fuzz targets in
//! `fuzz/` (which need nightly), here as seeded property tests so that the
//! normal test suite runs them:
//!
//! - a DNS datagram -> `engine::read_reply` (the engine's own reply handling)
//!   -> `resolve` -> `route`: random bytes, damaged valid messages, and valid
//!   messages built with hickory-proto (MX records with the root, IP-looking
//!   names, invalid labels, CNAMEs, records of other owners, every rcode,
//!   the TC bit);
//! - an address -> `Address::parse` / `Domain::parse`;
//! - zone text -> `ZoneSet::parse_str` (and with a small entry limit: the
//!   same records or an error) -> `answer` -> `route`.
//!
//! A route is consistent when it is deliverable exactly when it has
//! candidates, a permanent failure carries a 5.x.x error and a temporary one
//! a 4.x.x error (RFC 3463), and its candidates respect the options (address
//! family, address limit, never our own loopback address).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use futures::executor::block_on;
use hickory_proto::op::{Message, OpCode, Query, ResponseCode};
use mxkit::address::{Address, AddressError, Destination, Domain, classify_exchange, display_name};
use mxkit::dns::engine::{MAX_ANSWERS, ReplyError, read_reply};
use mxkit::dns::zone::{Limits, Zone, ZoneSet};
use mxkit::dns::{
    BoxFuture, Lookup, MAX_CNAME_CHAIN, Name, Outcome, Overlay, RData, Record, RecordType,
    Response, Status, TempError, rdata, resolve,
};
use mxkit::route::{Family, Route, RouteOptions, RouteVerdict, route};
use proptest::prelude::*;

/// Cases per property: enough to matter, few enough to keep the suite fast.
/// `PROPTEST_CASES` in the environment overrides it (for a long local run).
const CASES: u32 = 384;
/// The seed of every property (docs/design.md, "Conventions": randomness
/// seeded); `PROPTEST_RNG_SEED` in the environment overrides it.
const SEED: u64 = 20_250_601;

#[path = "support/seeded.rs"]
mod seeded;

fn config() -> ProptestConfig {
    seeded::config(CASES, SEED)
}

fn server() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 53], 53))
}

fn n(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn domain() -> Domain {
    Domain::parse("example.org").unwrap()
}

// ---------------------------------------------------------------------------
// Checks.

/// The route's verdict agrees with itself and with the options.
fn check_route(route: &Route, opts: &RouteOptions) {
    assert_eq!(
        route.status == RouteVerdict::Deliverable,
        !route.candidates.is_empty(),
        "deliverable iff there are candidates: {route:#?}"
    );
    match (route.status, &route.error) {
        (RouteVerdict::Deliverable, None) => {}
        (RouteVerdict::Permanent, Some(e)) => assert!(e.dsn.starts_with('5'), "{route:#?}"),
        (RouteVerdict::Temporary, Some(e)) => assert!(e.dsn.starts_with('4'), "{route:#?}"),
        _ => panic!("status and error disagree: {route:#?}"),
    }
    if let Some(e) = &route.error {
        assert_eq!(e.code, route.outcome.code(), "{route:#?}");
    }
    for c in &route.candidates {
        match (opts.family, c.address) {
            (Family::Ipv4, IpAddr::V6(_)) | (Family::Ipv6, IpAddr::V4(_)) => {
                panic!("candidate outside the address family: {route:#?}")
            }
            _ => {}
        }
        if opts.loopback_is_self {
            assert!(
                !c.address.is_loopback() && !c.address.is_unspecified(),
                "our own address is a candidate: {route:#?}"
            );
        }
        assert!(!opts.self_addresses.contains(&c.address), "{route:#?}");
    }
    if let Some(limit) = opts.address_limit {
        assert!(route.candidates.len() <= limit.max(1), "{route:#?}");
    }
}

/// A resolved answer's records are of the asked type and owned by the end of
/// its CNAME chain.
fn check_answer(question: &Name, rtype: RecordType, lookup: &dyn Lookup) {
    let answer = block_on(resolve(lookup, question, rtype));
    assert!(answer.cname_chain.len() <= MAX_CNAME_CHAIN, "{answer:?}");
    let owner = answer.canonical(question);
    for r in answer.outcome.records() {
        assert_eq!(r.record_type(), rtype, "{answer:?}");
        assert_eq!(&r.name, owner, "{answer:?}");
    }
    if let Outcome::Records(r) = &answer.outcome {
        assert!(!r.is_empty());
    }
}

/// Resolve and route `example.org` over `lookup` with `opts`, checking both.
fn route_over(lookup: &dyn Lookup, opts: &RouteOptions) -> Route {
    let domain = domain();
    check_answer(domain.name(), RecordType::MX, lookup);
    let route = block_on(route(lookup, &Destination::Domain(domain), opts));
    check_route(&route, opts);
    route
}

// ---------------------------------------------------------------------------
// Sources.

/// Answers every question with the same response.
struct Fixed(Response);

impl Lookup for Fixed {
    fn query<'a>(&'a self, _name: &'a Name, _rtype: RecordType) -> BoxFuture<'a, Response> {
        let resp = self.0.clone();
        Box::pin(async move { resp })
    }
}

/// A server script: for every question, a reply message with the question
/// repeated, the rcode and TC bit for its type, and the same answer section
/// whatever was asked (a hostile or broken server). Each reply goes to wire
/// and back through `read_reply`, as the engine reads it; a reply the engine
/// would not use becomes what the engine would then report.
#[derive(Clone, Debug)]
struct Script {
    /// Low rcode (0-15) for MX, A, AAAA questions.
    rcodes: [u8; 3],
    /// TC bit for MX, A, AAAA questions.
    truncated: [bool; 3],
    authentic: bool,
    answers: Vec<Record>,
    /// An SOA in the authority section: (TTL, MINIMUM).
    soa: Option<(u32, u32)>,
}

impl Script {
    fn slot(rtype: RecordType) -> usize {
        match rtype {
            RecordType::A => 1,
            RecordType::AAAA => 2,
            _ => 0,
        }
    }

    fn message(&self, name: &Name, rtype: RecordType) -> Message {
        let slot = Self::slot(rtype);
        let mut msg = Message::response(0x4d58, OpCode::Query);
        msg.metadata.response_code = ResponseCode::from_low(self.rcodes[slot]);
        msg.metadata.truncation = self.truncated[slot];
        msg.metadata.authentic_data = self.authentic;
        msg.add_query(Query::query(name.clone(), rtype));
        for r in &self.answers {
            msg.add_answer(r.clone());
        }
        if let Some((ttl, minimum)) = self.soa {
            let soa = rdata::SOA::new(
                n("ns.example.org."),
                n("hostmaster.example.org."),
                1,
                7200,
                3600,
                1_209_600,
                minimum,
            );
            msg.add_authority(Record::from_rdata(n("example.org."), ttl, RData::SOA(soa)));
        }
        msg
    }

    /// Encode the reply and read it back; check what `read_reply` made of it.
    fn reply(&self, name: &Name, rtype: RecordType) -> Result<Response, ReplyError> {
        let msg = self.message(name, rtype);
        let wire = msg
            .to_vec()
            .expect("a message built from valid parts encodes");
        let read = read_reply(&wire, name, rtype, server());
        let slot = Self::slot(rtype);
        match &read {
            Err(why) => assert!(
                self.truncated[slot],
                "a well-formed reply to the question was refused: {why}"
            ),
            Ok(resp) => {
                assert!(!self.truncated[slot], "a truncated reply was used");
                let want = match self.rcodes[slot] {
                    0 => Status::NoError,
                    3 => Status::NxDomain,
                    2 => Status::Temporary(TempError::ServFail(server().to_string())),
                    5 => Status::Temporary(TempError::Refused(server().to_string())),
                    _ => resp.status.clone(),
                };
                assert_eq!(resp.status, want);
                if matches!(resp.status, Status::NoError | Status::NxDomain) {
                    assert_eq!(resp.answers.len(), self.answers.len().min(MAX_ANSWERS));
                    assert_eq!(resp.authentic, self.authentic);
                    assert_eq!(resp.negative_ttl, self.soa.map(|(t, m)| t.min(m)));
                } else {
                    assert!(
                        matches!(resp.status, Status::Temporary(_)),
                        "rcode {} gave {:?}",
                        self.rcodes[slot],
                        resp.status
                    );
                }
            }
        }
        read
    }
}

impl Lookup for Script {
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> BoxFuture<'a, Response> {
        let resp = match self.reply(name, rtype) {
            Ok(resp) => resp,
            // The engine asks again over TCP; here the TCP reply is truncated too.
            Err(_) => Response::status(Status::Truncated, server().to_string()),
        };
        Box::pin(async move { resp })
    }
}

// ---------------------------------------------------------------------------
// Strategies.

/// Names a hostile or broken server may put in a reply: the question and its
/// exchangers in other cases, the root, IP addresses posing as names,
/// labels no host name may have, raw bytes.
fn name_pool() -> Vec<Name> {
    let texts = [
        "example.org",
        "EXAMPLE.Org",
        "mx.example.org",
        "mx2.example.org",
        "MX.example.ORG",
        "alias.example.org",
        "other.example.net",
        "loop.example.org",
        "192.0.2.7",
        "127.0.0.1",
        "0.0.0.0",
        "-bad-.example.org",
        "under_score.example.org",
        "localhost",
        "xn--bcher-kva.example",
    ];
    let mut pool: Vec<Name> = texts
        .iter()
        .map(|t| raw(&t.split('.').map(str::as_bytes).collect::<Vec<_>>()))
        .collect();
    pool.push(Name::root());
    let mut relative = n("mx.example.org.");
    relative.set_fqdn(false);
    pool.push(relative);
    pool.push(raw(&[b"2001:db8::25"]));
    pool.push(raw(&[b"a.b", b"example", b"org"]));
    pool.push(raw(&[b"\xff\x00bin", b"example", b"org"]));
    pool.push(raw(&[b"with space", b"example", b"org"]));
    pool
}

/// An absolute name from label bytes, unchecked (as a DNS reply may carry it).
fn raw(labels: &[&[u8]]) -> Name {
    let mut name = Name::from_labels(labels.iter().copied()).unwrap();
    name.set_fqdn(true);
    name
}

fn any_name() -> impl Strategy<Value = Name> {
    prop::sample::select(name_pool())
}

/// Owners (and exchanges) lean towards the names routing asks about.
fn owner() -> impl Strategy<Value = Name> {
    prop_oneof![
        3 => prop::sample::select(vec![
            n("example.org."),
            n("mx.example.org."),
            n("mx2.example.org."),
            n("alias.example.org."),
        ]),
        1 => any_name(),
    ]
}

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        3 => prop::sample::select(vec![
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(192, 0, 2, 2),
            Ipv4Addr::new(198, 51, 100, 1),
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::UNSPECIFIED,
        ]),
        1 => any::<u32>().prop_map(Ipv4Addr::from),
    ]
}

fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            Ipv6Addr::LOCALHOST,
            Ipv6Addr::UNSPECIFIED,
            "::ffff:127.0.0.1".parse().unwrap(),
        ]),
        1 => any::<u128>().prop_map(Ipv6Addr::from),
    ]
}

fn ttl() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => prop::sample::select(vec![0u32, 60, 300, 3600]),
        1 => any::<u32>(),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    let data = prop_oneof![
        4 => (
            prop_oneof![3 => prop::sample::select(vec![0u16, 5, 10, 10, 20]), 1 => any::<u16>()],
            owner(),
        )
            .prop_map(|(pref, exchange)| RData::MX(rdata::MX::new(pref, exchange))),
        3 => ipv4().prop_map(|ip| RData::A(rdata::A(ip))),
        2 => ipv6().prop_map(|ip| RData::AAAA(rdata::AAAA(ip))),
        1 => any_name().prop_map(|target| RData::CNAME(rdata::CNAME(target))),
        1 => "[ -~]{0,20}".prop_map(|t| RData::TXT(rdata::TXT::new(vec![t]))),
    ];
    (owner(), ttl(), data).prop_map(|(owner, ttl, data)| Record::from_rdata(owner, ttl, data))
}

fn rcode() -> impl Strategy<Value = u8> {
    prop_oneof![
        16 => Just(0u8),
        2 => Just(3u8),
        1 => Just(2u8),
        1 => Just(5u8),
        1 => 0u8..16,
    ]
}

fn truncated() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.04)
}

fn script() -> impl Strategy<Value = Script> {
    (
        [rcode(), rcode(), rcode()],
        [truncated(), truncated(), truncated()],
        any::<bool>(),
        prop::collection::vec(record(), 0..12),
        prop::option::of((ttl(), ttl())),
    )
        .prop_map(|(rcodes, truncated, authentic, answers, soa)| Script {
            rcodes,
            truncated,
            authentic,
            answers,
            soa,
        })
}

fn options() -> impl Strategy<Value = RouteOptions> {
    (
        prop::sample::select(vec![Family::Any, Family::Ipv4, Family::Ipv6]),
        prop::collection::vec(any_name(), 0..2),
        prop::collection::vec(
            prop_oneof![ipv4().prop_map(IpAddr::V4), ipv6().prop_map(IpAddr::V6)],
            0..2,
        ),
        any::<bool>(),
        prop::option::of(0usize..4),
        any::<bool>(),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                family,
                self_names,
                self_addresses,
                loopback_is_self,
                address_limit,
                allow_ip_mx,
                seed,
                dnssec,
            )| {
                RouteOptions {
                    family,
                    self_names,
                    self_addresses,
                    loopback_is_self,
                    address_limit,
                    allow_ip_mx,
                    seed: Some(seed),
                    dnssec,
                    dane: dnssec,
                    mta_sts: None,
                }
            },
        )
}

fn default_options() -> RouteOptions {
    RouteOptions {
        seed: Some(7),
        ..RouteOptions::default()
    }
}

/// A valid reply to `example.org. MX` to start damaging from.
fn sample_reply() -> Vec<u8> {
    let script = Script {
        rcodes: [0; 3],
        truncated: [false; 3],
        authentic: true,
        answers: vec![
            Record::from_rdata(
                n("example.org."),
                300,
                RData::MX(rdata::MX::new(10, n("mx.example.org."))),
            ),
            Record::from_rdata(
                n("mx.example.org."),
                300,
                RData::A(rdata::A(Ipv4Addr::new(192, 0, 2, 1))),
            ),
        ],
        soa: Some((300, 60)),
    };
    script
        .message(&n("example.org."), RecordType::MX)
        .to_vec()
        .unwrap()
}

// ---------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(config())]

    /// Random bytes: never a panic; used or not, routing over the result
    /// stays consistent.
    #[test]
    fn random_datagrams_never_panic(packet in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(resp) = read_reply(&packet, domain().name(), RecordType::MX, server()) {
            route_over(&Fixed(resp), &default_options());
        }
    }

    /// A valid reply damaged in a few places, or cut short: the decoder meets
    /// bad lengths, bad pointers and bad rdata behind a good header.
    #[test]
    fn damaged_replies_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in prop::option::weighted(0.3, any::<prop::sample::Index>()),
        tail in prop::collection::vec(any::<u8>(), 0..40),
        opts in options(),
    ) {
        let mut packet = sample_reply();
        for (at, byte) in edits {
            let i = at.index(packet.len());
            packet[i] = byte;
        }
        if let Some(cut) = cut {
            packet.truncate(cut.index(packet.len() + 1));
        }
        packet.extend(tail);
        if let Ok(resp) = read_reply(&packet, domain().name(), RecordType::MX, server()) {
            route_over(&Fixed(resp), &opts);
        }
    }

    /// Valid messages with hostile contents, one per question the routing
    /// asks: read_reply classifies them as the engine must, and resolve and
    /// route never panic and give a consistent verdict.
    #[test]
    fn valid_replies_route_consistently(script in script(), opts in options()) {
        route_over(&script, &opts);
    }

    /// A well-formed reply to another question (name, type) is never used.
    #[test]
    fn replies_to_other_questions_are_refused(
        asked in any_name(),
        answered in any_name(),
        rtype in prop::sample::select(vec![RecordType::MX, RecordType::A, RecordType::AAAA]),
        other_type in prop::sample::select(vec![RecordType::MX, RecordType::A, RecordType::TXT]),
    ) {
        let script = Script {
            rcodes: [0; 3],
            truncated: [false; 3],
            authentic: false,
            answers: Vec::new(),
            soa: None,
        };
        let wire = script.message(&answered, other_type).to_vec().unwrap();
        let read = read_reply(&wire, &asked, rtype, server());
        let same = {
            let mut a = asked.clone();
            a.set_fqdn(true);
            let mut b = answered.clone();
            b.set_fqdn(true);
            a == b && rtype == other_type
        };
        prop_assert_eq!(read.is_ok(), same, "{:?}", read);
    }

    /// Any text as an address or a domain: never a panic; a parsed domain
    /// parses again to itself.
    #[test]
    fn any_text_as_an_address_never_panics(text in prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9@\\[\\]\"\\\\.:ӑé -]{0,40}",
        "([a-z\"ӑ]{0,3}@)?\\[(IPv6:|ipv6|ӑӑ)?[0-9a-fA-F:.ӑ]{0,20}\\]?",
    ]) {
        let _ = Address::parse(&text);
        if let Ok(d) = Domain::parse(&text) {
            let again = Domain::parse(d.as_str()).unwrap();
            prop_assert_eq!(again.as_str(), d.as_str());
        }
    }

    /// Names from any label bytes: classify_exchange never panics and
    /// display_name escapes everything a terminal could misread.
    #[test]
    fn any_exchange_name_is_classified_and_shown_safely(
        labels in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 0..6),
    ) {
        if let Ok(name) = Name::from_labels(labels) {
            let _ = classify_exchange(&name);
            let shown = display_name(&name);
            prop_assert!(shown.bytes().all(|b| (0x20..0x7f).contains(&b)), "{:?}", shown);
        }
    }

    /// Any text, and zone-like text, as a zone file: never a panic; when it
    /// loads, routing over it alone (offline) is consistent.
    #[test]
    fn any_zone_text_routes_consistently(text in prop_oneof![
        1 => "\\PC{0,200}",
        3 => (
            prop::sample::select(vec![
                "",
                "$ORIGIN example.org.\n",
                "$ORIGIN example.org.\n@ SOA ns hostmaster 1 7200 3600 1209600 300\n",
            ]),
            prop::collection::vec(zone_line(), 0..10),
        )
            .prop_map(|(head, lines)| format!("{head}{}", lines.join("\n"))),
    ], opts in options()) {
        // $INCLUDE reads files; that is the file system, not the parser.
        prop_assume!(!text.to_ascii_lowercase().contains("$include"));
        for origin in [None, Some(n("example.org."))] {
            // With a small entry limit the streaming lexer refills its
            // window many times: limits only add errors, never other records.
            let small = Limits { entry: 32, ..Limits::default() };
            let limited = Zone::parse_with(&text, "robustness", origin.clone(), &small);
            let Ok(zone) = ZoneSet::parse_str(&text, "robustness", origin) else {
                prop_assert!(limited.is_err());
                continue;
            };
            if let Ok(limited) = limited {
                prop_assert_eq!(limited.records(), zone.records());
            }
            let mut zones = ZoneSet::new();
            zones.push(zone);
            for name in ["example.org.", "mx.example.org.", "www.example.org.", "."] {
                for rtype in [RecordType::MX, RecordType::A, RecordType::CNAME] {
                    let _ = zones.answer(&n(name), rtype);
                }
            }
            route_over(&Overlay { zones, fallback: None }, &opts);
        }
    }
}

fn zone_line() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "$ORIGIN example.org.",
            "$TTL 300",
            "@",
            "example.org.",
            "mx",
            "mx2",
            "www",
            "*",
            " ",
            "alias",
            "\\046",
        ]),
        prop::sample::select(vec!["", "60", "IN", "60 IN"]),
        prop::sample::select(vec![
            "SOA ns hostmaster 1 7200 3600 1209600 300",
            "MX 10 mx",
            "MX 0 .",
            "MX 5 192.0.2.7.",
            "MX 20 mx2.example.org.",
            "MX 10 www",
            "A 192.0.2.1",
            "A 127.0.0.1",
            "AAAA 2001:db8::1",
            "CNAME mx",
            "CNAME www",
            "CNAME example.org.",
            "NS ns.elsewhere.",
            "TXT \"v=spf1 -all\"",
            "( MX 10",
            ")",
            "; comment",
        ]),
    )
        .prop_map(|(owner, class, data)| format!("{owner} {class} {data}"))
}

// ---------------------------------------------------------------------------
// Regressions found by the fuzzers.

/// fuzz target `address`: byte 5 of an address literal inside a multi-byte
/// character used to panic in the `IPv6:` tag check.
#[test]
fn literal_with_a_multibyte_character_at_the_tag_boundary() {
    for text in [
        "u-xs@[**ӑӑ192.0.2.1]",
        "[ӑӑӑ]",
        "x@[IPv6ӑ::1]",
        "x@[ipv6:ӑ]",
    ] {
        assert!(
            matches!(Address::parse(text), Err(AddressError::BadLiteral(..))),
            "{text}: {:?}",
            Address::parse(text)
        );
    }
}

//! MX15 and MX16 (`nameserver-unresponsive`, `nameservers-disagree`,
//! `nameservers-ttl-differ`) against real authoritative servers: knotd on port
//! 53 of loopback addresses (root, as in docs/design.md, "Tests and the test
//! bed"), and the fault server for what knotd will not do (SERVFAIL, answers
//! without the AA bit, truncation without TCP).
//!
//! Tests in this binary run in parallel: each has its own range of
//! `127.15.N.0/24` (15 for MX15), and its zone's NS records and glue point
//! there. Address `.11` is always a knotd that is also the resolver the check
//! uses; an address with nothing listening times out after [`SHORT`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mxkit::address::Domain;
use mxkit::check::nameservers::EngineDirect;
use mxkit::check::{CheckOptions, Finding, Report, Severity, check};
use mxkit::dns::Lookup;
use mxkit::dns::engine::{Engine, EngineConfig};
use mxkit::dns::zone::ZoneSet;
use testbed::fault::{FaultServer, Reply};
use testbed::knot::Knot;

/// The per-try wait for servers that may not answer (a configured timeout,
/// not a sleep).
const SHORT: Duration = Duration::from_millis(300);

const DOMAIN: &str = "example.test";

/// `127.15.{range}.{host}`.
fn ip(range: u8, host: u8) -> IpAddr {
    IpAddr::from([127, 15, range, host])
}

/// The zone `example.test` with SOA `serial`, one NS record per
/// `(label, address)` (a glue A record when the address is given), the MX
/// lines as written, and addresses for the exchangers.
fn zone(serial: u32, ns: &[(&str, Option<IpAddr>)], mx: &str) -> String {
    let mut text = format!(
        "$ORIGIN example.test.\n$TTL 300\n\
         @ SOA ns1 hostmaster {serial} 3600 600 86400 300\n"
    );
    for (label, addr) in ns {
        text.push_str(&format!("@ NS {label}\n"));
        if let Some(addr) = addr {
            text.push_str(&format!("{label} A {addr}\n"));
        }
    }
    text.push_str(mx);
    text.push_str("\nmx1 A 192.0.2.25\nmx2 A 192.0.2.26\n");
    text
}

fn knot(addr: IpAddr, zone_text: &str) -> Knot {
    Knot::start_on(addr, Some(53), &[(DOMAIN, zone_text)])
}

/// Run every check with the resolver pointed at `resolver`, asking the name
/// servers directly on port 53.
async fn run(resolver: SocketAddr) -> Report {
    let engine = Engine::new(EngineConfig {
        timeout: Duration::from_secs(2),
        attempts: 1,
        ..EngineConfig::new(vec![resolver])
    })
    .await
    .unwrap();
    let direct = EngineDirect::new(53, SHORT, 1);
    let domain = Domain::parse(DOMAIN).unwrap();
    let live: &dyn Lookup = &engine;
    check(
        &domain,
        &engine,
        Some(live),
        Some(&direct),
        &ZoneSet::default(),
        &CheckOptions::default(),
    )
    .await
}

const OURS: [&str; 3] = [
    "nameserver-unresponsive",
    "nameservers-disagree",
    "nameservers-ttl-differ",
];

/// This family's findings.
fn ours(report: &Report) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| OURS.contains(&f.id))
        .collect()
}

/// (id, severity, subject) of this family's findings, in report order.
fn summary(report: &Report) -> Vec<(&'static str, Severity, String)> {
    ours(report)
        .iter()
        .map(|f| (f.id, f.severity, f.subject.clone()))
        .collect()
}

/// The reasons of incomplete checks of this family.
fn incomplete(report: &Report) -> Vec<&str> {
    report
        .incomplete
        .iter()
        .filter(|i| i.rules.iter().any(|r| OURS.contains(r)))
        .map(|i| i.reason.as_str())
        .collect()
}

/// (source, query, answer) of a finding's evidence.
fn evidence(f: &Finding) -> Vec<(String, String, String)> {
    f.evidence
        .iter()
        .map(|e| {
            (
                e.source.clone(),
                e.query.clone().unwrap_or_default(),
                e.answer.clone(),
            )
        })
        .collect()
}

fn owned(items: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    items
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

const TWO_MX: &str = "@ MX 10 mx1\n@ MX 20 mx2";

#[tokio::test]
async fn two_servers_serving_the_same_zone_agree() {
    let r = 1;
    let text = zone(
        1,
        &[("ns1", Some(ip(r, 11))), ("ns2", Some(ip(r, 12)))],
        TWO_MX,
    );
    let ns1 = knot(ip(r, 11), &text);
    let _ns2 = knot(ip(r, 12), &text);
    let report = run(ns1.addr()).await;
    assert_eq!(summary(&report), vec![], "{:#?}", report.findings);
    assert_eq!(incomplete(&report), Vec::<&str>::new());
}

#[tokio::test]
async fn nameservers_disagree_when_servers_serve_different_mx_sets() {
    let r = 2;
    let ns = [("ns1", Some(ip(r, 11))), ("ns2", Some(ip(r, 12)))];
    let ns1 = knot(ip(r, 11), &zone(2, &ns, TWO_MX));
    let _ns2 = knot(ip(r, 12), &zone(1, &ns, "@ MX 10 mx1"));
    let report = run(ns1.addr()).await;
    assert_eq!(
        summary(&report),
        vec![(
            "nameservers-disagree",
            Severity::Warning,
            "example.test MX".to_owned()
        )]
    );
    let f = ours(&report)[0];
    assert_eq!(
        evidence(f),
        owned(&[
            (
                "ns1.example.test (127.15.2.11:53)",
                "example.test. MX",
                "10 mx1.example.test., 20 mx2.example.test."
            ),
            (
                "ns2.example.test (127.15.2.12:53)",
                "example.test. MX",
                "10 mx1.example.test."
            ),
            (
                "ns1.example.test (127.15.2.11:53)",
                "example.test. SOA",
                "serial 2"
            ),
            (
                "ns2.example.test (127.15.2.12:53)",
                "example.test. SOA",
                "serial 1"
            ),
        ])
    );
    assert!(
        f.message.contains(
            "{10 mx1.example.test., 20 mx2.example.test.} from ns1.example.test (127.15.2.11:53)"
        ),
        "{}",
        f.message
    );
    // The resolver's set breaks the tie: ns2 is the one to fix.
    let fix = f.fix.as_deref().unwrap();
    assert!(
        fix.starts_with("make every name server serve the same zone: bump the SOA serial")
            && fix.contains("zone transfers to ns2.example.test (127.15.2.12)")
            && !fix.contains("127.15.2.11"),
        "{fix}"
    );
}

#[tokio::test]
async fn nameservers_disagree_ignores_the_order_and_case_of_the_records() {
    let r = 3;
    let ns = [("ns1", Some(ip(r, 11))), ("ns2", Some(ip(r, 12)))];
    let ns1 = knot(ip(r, 11), &zone(1, &ns, TWO_MX));
    let _ns2 = knot(
        ip(r, 12),
        &zone(
            1,
            &ns,
            "@ MX 20 MX2.EXAMPLE.TEST.\n@ MX 10 Mx1.Example.Test.",
        ),
    );
    let report = run(ns1.addr()).await;
    assert_eq!(summary(&report), vec![], "{:#?}", report.findings);
}

#[tokio::test]
async fn nameservers_ttl_differ_is_a_notice_not_disagreement() {
    let r = 4;
    let ns = [("ns1", Some(ip(r, 11))), ("ns2", Some(ip(r, 12)))];
    let ns1 = knot(ip(r, 11), &zone(1, &ns, TWO_MX));
    let _ns2 = knot(
        ip(r, 12),
        &zone(1, &ns, "@ 3600 MX 20 mx2\n@ 3600 MX 10 MX1"),
    );
    let report = run(ns1.addr()).await;
    assert_eq!(
        summary(&report),
        vec![(
            "nameservers-ttl-differ",
            Severity::Notice,
            "example.test MX".to_owned()
        )]
    );
    let f = ours(&report)[0];
    assert_eq!(
        evidence(f),
        owned(&[
            (
                "ns1.example.test (127.15.4.11:53)",
                "example.test. MX",
                "10 mx1.example.test., 20 mx2.example.test. (TTL 300)"
            ),
            (
                "ns2.example.test (127.15.4.12:53)",
                "example.test. MX",
                "10 mx1.example.test., 20 mx2.example.test. (TTL 3600)"
            ),
        ])
    );
    assert!(
        f.fix
            .as_deref()
            .unwrap()
            .contains("ns2.example.test (127.15.4.12)")
    );
}

#[tokio::test]
async fn nameserver_unresponsive_warns_on_a_silent_server_and_a_host_without_address() {
    let r = 5;
    let text = zone(
        1,
        &[
            ("ns1", Some(ip(r, 11))),
            ("ns2", Some(ip(r, 12))),
            // Nothing listens there.
            ("ns3", Some(ip(r, 13))),
            // No A or AAAA record at all.
            ("ns4", None),
        ],
        TWO_MX,
    );
    let ns1 = knot(ip(r, 11), &text);
    let _ns2 = knot(ip(r, 12), &text);
    let report = run(ns1.addr()).await;
    assert_eq!(
        summary(&report),
        vec![
            (
                "nameserver-unresponsive",
                Severity::Warning,
                "ns3.example.test (127.15.5.13)".to_owned()
            ),
            (
                "nameserver-unresponsive",
                Severity::Warning,
                "ns4.example.test".to_owned()
            ),
        ],
        "{:#?}",
        report.findings
    );
    let found = ours(&report);
    assert_eq!(
        evidence(found[0]),
        owned(&[(
            "ns3.example.test (127.15.5.13:53)",
            "example.test. MX",
            "timeout"
        )])
    );
    assert!(
        found[1].message.contains("has no address"),
        "{}",
        found[1].message
    );
    let ev = evidence(found[1]);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[0].1, "ns4.example.test. A");
    assert_eq!(ev[1].1, "ns4.example.test. AAAA");
    assert!(incomplete(&report).is_empty());
    // The rest of the report still comes.
    assert_eq!(report.route.candidates.len(), 2, "{:?}", report.route);
}

#[tokio::test]
async fn nameserver_unresponsive_reports_servfail_lame_and_truncated_servers_each() {
    let r = 6;
    let text = zone(
        1,
        &[
            ("ns1", Some(ip(r, 11))),
            ("ns2", Some(ip(r, 12))),
            ("ns3", Some(ip(r, 13))),
            ("ns4", Some(ip(r, 14))),
        ],
        TWO_MX,
    );
    let ns1 = knot(ip(r, 11), &text);
    let _servfail = FaultServer::start_on(SocketAddr::new(ip(r, 12), 53), |_| Reply::ServFail);
    // A lame server: not authoritative, and with other data (which must not
    // count as disagreement).
    let _lame = FaultServer::start_on(SocketAddr::new(ip(r, 13), 53), |req| {
        Reply::mx(req, &[(5, "elsewhere.invalid.")])
    });
    let _truncated =
        FaultServer::start_udp_only_on(SocketAddr::new(ip(r, 14), 53), |_| Reply::Truncated);
    let report = run(ns1.addr()).await;
    assert_eq!(
        summary(&report),
        vec![
            (
                "nameserver-unresponsive",
                Severity::Warning,
                "ns2.example.test (127.15.6.12)".to_owned()
            ),
            (
                "nameserver-unresponsive",
                Severity::Warning,
                "ns3.example.test (127.15.6.13)".to_owned()
            ),
            (
                "nameserver-unresponsive",
                Severity::Warning,
                "ns4.example.test (127.15.6.14)".to_owned()
            ),
        ],
        "{:#?}",
        report.findings
    );
    let answers: Vec<String> = ours(&report)
        .iter()
        .map(|f| evidence(f)[0].2.clone())
        .collect();
    assert_eq!(
        answers,
        vec![
            "SERVFAIL",
            "answer without AA bit",
            "truncated, no answer over TCP"
        ]
    );
    let fixes: Vec<&str> = ours(&report)
        .iter()
        .map(|f| f.fix.as_deref().unwrap())
        .collect();
    assert!(fixes[2].contains("TCP port 53"), "{}", fixes[2]);
}

#[tokio::test]
async fn nameserver_unresponsive_is_an_error_when_no_server_answers() {
    let r = 7;
    // The resolver serves the zone; the NS records name two addresses where
    // nothing listens.
    let text = zone(
        1,
        &[("ns1", Some(ip(r, 21))), ("ns2", Some(ip(r, 22)))],
        TWO_MX,
    );
    let resolver = knot(ip(r, 11), &text);
    let report = run(resolver.addr()).await;
    assert_eq!(
        summary(&report),
        vec![
            (
                "nameserver-unresponsive",
                Severity::Error,
                "ns1.example.test (127.15.7.21)".to_owned()
            ),
            (
                "nameserver-unresponsive",
                Severity::Error,
                "ns2.example.test (127.15.7.22)".to_owned()
            ),
        ],
        "{:#?}",
        report.findings
    );
    assert!(
        ours(&report)[0]
            .message
            .contains("No name server of example.test answers properly"),
        "{}",
        ours(&report)[0].message
    );
}

#[tokio::test]
async fn a_failing_ns_lookup_makes_the_check_incomplete() {
    let resolver = FaultServer::start(|_| Reply::ServFail);
    let report = run(resolver.addr()).await;
    assert!(ours(&report).is_empty(), "{:#?}", report.findings);
    let inc: Vec<_> = report
        .incomplete
        .iter()
        .filter(|i| i.rules == OURS)
        .collect();
    assert_eq!(inc.len(), 1, "{:#?}", report.incomplete);
    assert!(
        inc[0].reason.contains("example.test NS: SERVFAIL"),
        "{}",
        inc[0].reason
    );
    // Only the resolver was asked for NS; nobody was asked MX directly
    // (there was nobody to ask).
    assert!(
        resolver
            .queries()
            .iter()
            .any(|(name, rtype, _)| name == "example.test." && rtype == "NS")
    );
}

//! Reverse-DNS rules of `check` (`no-reverse-dns`, MX20; `reverse-dns-mismatch`,
//! MX21): a real knotd serves the forward zone `rev.test.`, the reverse zones
//! `2.0.192.in-addr.arpa.` and `8.b.d.0.1.0.0.2.ip6.arpa.`, and an RFC 2317
//! classless child `64-127.2.0.192.in-addr.arpa.`; the scripted fake covers
//! what a real server will not do on demand (SERVFAIL on one PTR).
//!
//! Exchangers of `rev.test.`:
//! - good (192.0.2.10): PTR good.rev.test, forward-confirmed;
//! - noptr (192.0.2.20): no PTR (NXDOMAIN);
//! - wrong (192.0.2.30): PTR elsewhere.rev.test, which has 192.0.2.99;
//! - ghost (192.0.2.40): PTR gone.rev.test, which does not exist;
//! - multi (192.0.2.50): PTRs other.rev.test (no address) and multi.rev.test (confirmed);
//! - classless (192.0.2.70): PTR through an RFC 2317 CNAME, confirmed;
//! - six (2001:db8::25): PTR six.rev.test, confirmed;
//! - sixnoptr (2001:db8::26): no PTR;
//! - classgap (192.0.2.71): an RFC 2317 CNAME to a name the child zone lacks.

use mxkit::address::Domain;
use mxkit::check::{CheckOptions, Finding, Report, check};
use mxkit::dns::engine::{Engine, EngineConfig};
use mxkit::dns::fake::Fake;
use mxkit::dns::zone::ZoneSet;
use mxkit::dns::{Lookup, Overlay, RecordType};
use testbed::knot::Knot;

const SOA: &str =
    "@ SOA ns.rev.test. hostmaster.rev.test. 1 3600 600 86400 300\n@ NS ns.rev.test.\n";

fn forward() -> String {
    format!(
        "$ORIGIN rev.test.\n$TTL 300\n{SOA}\
         ns        A    127.0.0.1\n\
         @         MX   10 good.rev.test.\n\
         @         MX   20 noptr.rev.test.\n\
         @         MX   30 wrong.rev.test.\n\
         @         MX   40 ghost.rev.test.\n\
         @         MX   50 multi.rev.test.\n\
         @         MX   60 classless.rev.test.\n\
         @         MX   70 six.rev.test.\n\
         @         MX   80 sixnoptr.rev.test.\n\
         @         MX   90 classgap.rev.test.\n\
         good      A    192.0.2.10\n\
         noptr     A    192.0.2.20\n\
         wrong     A    192.0.2.30\n\
         elsewhere A    192.0.2.99\n\
         ghost     A    192.0.2.40\n\
         multi     A    192.0.2.50\n\
         other     TXT  \"no address\"\n\
         classless A    192.0.2.70\n\
         six       AAAA 2001:db8::25\n\
         sixnoptr  AAAA 2001:db8::26\n\
         classgap  A    192.0.2.71\n"
    )
}

fn reverse_v4() -> String {
    format!(
        "$ORIGIN 2.0.192.in-addr.arpa.\n$TTL 300\n{SOA}\
         10    PTR   good.rev.test.\n\
         30    PTR   elsewhere.rev.test.\n\
         40    PTR   gone.rev.test.\n\
         50    PTR   other.rev.test.\n\
         50    PTR   multi.rev.test.\n\
         64-127 NS    ns.rev.test.\n\
         70    CNAME 70.64-127.2.0.192.in-addr.arpa.\n\
         71    CNAME 71.64-127.2.0.192.in-addr.arpa.\n"
    )
}

fn classless() -> String {
    format!(
        "$ORIGIN 64-127.2.0.192.in-addr.arpa.\n$TTL 300\n{SOA}\
         70 PTR classless.rev.test.\n"
    )
}

/// The 32 nibbles of an IPv6 address, least significant first, dot-separated
/// (written here independently of the library, RFC 3596 section 2.5).
fn nibbles(ip: &str) -> String {
    let ip: std::net::Ipv6Addr = ip.parse().unwrap();
    let hex: String = ip.octets().iter().map(|b| format!("{b:02x}")).collect();
    let mut out: Vec<String> = hex.chars().rev().map(|c| c.to_string()).collect();
    out.push("ip6.arpa.".into());
    out.join(".")
}

fn reverse_v6() -> String {
    format!(
        "$ORIGIN 8.b.d.0.1.0.0.2.ip6.arpa.\n$TTL 300\n{SOA}\
         {} PTR six.rev.test.\n",
        nibbles("2001:db8::25")
    )
}

fn zones() -> Vec<(&'static str, String)> {
    vec![
        ("rev.test.", forward()),
        ("2.0.192.in-addr.arpa.", reverse_v4()),
        ("64-127.2.0.192.in-addr.arpa.", classless()),
        ("8.b.d.0.1.0.0.2.ip6.arpa.", reverse_v6()),
    ]
}

fn domain() -> Domain {
    Domain::parse("rev.test").unwrap()
}

async fn run(lookup: &dyn Lookup, live: Option<&dyn Lookup>, zones: &ZoneSet) -> Report {
    check(
        &domain(),
        lookup,
        live,
        None,
        zones,
        &CheckOptions::default(),
    )
    .await
}

fn ours(report: &Report) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.id == "no-reverse-dns" || f.id == "reverse-dns-mismatch")
        .collect()
}

/// (id, subject) of our findings, sorted.
fn fired(report: &Report) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = ours(report)
        .iter()
        .map(|f| (f.id.to_string(), f.subject.clone()))
        .collect();
    v.sort();
    v
}

fn finding<'r>(report: &'r Report, id: &str, subject: &str) -> &'r Finding {
    report
        .findings
        .iter()
        .find(|f| f.id == id && f.subject == subject)
        .unwrap_or_else(|| panic!("no {id} for {subject}: {:#?}", report.findings))
}

fn reverse_incomplete(report: &Report) -> Vec<&mxkit::check::Incomplete> {
    report
        .incomplete
        .iter()
        .filter(|i| {
            i.rules
                .iter()
                .any(|r| *r == "no-reverse-dns" || *r == "reverse-dns-mismatch")
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = v
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

async fn live_report() -> Report {
    let zones = zones();
    let served: Vec<(&str, &str)> = zones.iter().map(|(z, t)| (*z, t.as_str())).collect();
    let knot = Knot::start(&served);
    let engine = Engine::new(EngineConfig::new(vec![knot.addr()]))
        .await
        .unwrap();
    let report = run(&engine, Some(&engine), &ZoneSet::default()).await;
    drop(knot);
    report
}

#[tokio::test]
async fn knotd_each_address_gets_exactly_the_finding_it_deserves() {
    let report = live_report().await;
    assert_eq!(
        fired(&report),
        pairs(&[
            ("no-reverse-dns", "192.0.2.20"),
            ("no-reverse-dns", "192.0.2.71"),
            ("no-reverse-dns", "2001:db8::26"),
            ("reverse-dns-mismatch", "192.0.2.30"),
            ("reverse-dns-mismatch", "192.0.2.40"),
        ]),
        "{:#?}",
        report.findings
    );
    assert!(
        reverse_incomplete(&report).is_empty(),
        "{:#?}",
        report.incomplete
    );
    for f in ours(&report) {
        assert_eq!(f.severity, mxkit::check::Severity::Notice, "{f:#?}");
    }
}

#[tokio::test]
async fn no_reverse_dns_is_a_notice_with_the_exact_ptr_to_publish() {
    let report = live_report().await;
    let f = finding(&report, "no-reverse-dns", "192.0.2.20");
    assert_eq!(
        f.fix.as_deref(),
        Some(
            "publish `20.2.0.192.in-addr.arpa. IN PTR noptr.rev.test.` (ask whoever runs the address block)"
        )
    );
    assert!(f.message.contains("noptr.rev.test"), "{}", f.message);
    assert_eq!(f.evidence.len(), 1, "{:#?}", f.evidence);
    let e = &f.evidence[0];
    assert_eq!(e.query.as_deref(), Some("20.2.0.192.in-addr.arpa. PTR"));
    assert_eq!(e.answer, "NXDOMAIN");
    assert!(e.source.contains("127.0.0.1"), "{e:?}");
}

#[tokio::test]
async fn no_reverse_dns_ipv6_name_is_the_nibble_form_under_ip6_arpa() {
    let report = live_report().await;
    // 2001:db8::25 has a PTR at its nibble name and is confirmed (no finding);
    // 2001:db8::26 has none, and the fix names its nibble name.
    let f = finding(&report, "no-reverse-dns", "2001:db8::26");
    let rev = nibbles("2001:db8::26");
    assert_eq!(
        f.fix.as_deref(),
        Some(
            format!(
                "publish `{rev} IN PTR sixnoptr.rev.test.` (ask whoever runs the address block)"
            )
            .as_str()
        )
    );
    assert_eq!(
        f.evidence[0].query.as_deref(),
        Some(format!("{rev} PTR").as_str())
    );
    assert!(!fired(&report).iter().any(|(_, s)| s == "2001:db8::25"));
}

#[tokio::test]
async fn reverse_dns_mismatch_ptr_naming_a_host_elsewhere_says_what_was_tried() {
    let report = live_report().await;
    let f = finding(&report, "reverse-dns-mismatch", "192.0.2.30");
    assert!(
        f.message.contains("elsewhere.rev.test. A -> 192.0.2.99"),
        "{}",
        f.message
    );
    let fix = f.fix.as_deref().unwrap();
    assert!(
        fix.contains("`30.2.0.192.in-addr.arpa. IN PTR wrong.rev.test.`"),
        "{fix}"
    );
    assert!(
        fix.contains("`elsewhere.rev.test. IN A 192.0.2.30`"),
        "{fix}"
    );
    let answers: Vec<(&str, &str)> = f
        .evidence
        .iter()
        .map(|e| (e.query.as_deref().unwrap_or(""), e.answer.as_str()))
        .collect();
    assert_eq!(
        answers,
        vec![
            ("30.2.0.192.in-addr.arpa. PTR", "elsewhere.rev.test."),
            ("elsewhere.rev.test. A", "192.0.2.99"),
        ]
    );
}

#[tokio::test]
async fn reverse_dns_mismatch_ptr_naming_a_name_that_does_not_exist() {
    let report = live_report().await;
    let f = finding(&report, "reverse-dns-mismatch", "192.0.2.40");
    assert!(
        f.message.contains("gone.rev.test. A -> NXDOMAIN"),
        "{}",
        f.message
    );
}

#[tokio::test]
async fn reverse_dns_mismatch_one_confirming_name_among_several_ptrs_is_enough() {
    let report = live_report().await;
    assert!(
        !fired(&report).iter().any(|(_, s)| s == "192.0.2.50"),
        "{:#?}",
        report.findings
    );
}

#[tokio::test]
async fn rfc2317_cname_to_classless_child_zone_is_followed_and_confirmed() {
    // zonemaster#1353: 70.2.0.192.in-addr.arpa. CNAME 70.64-127.2.0.192.in-addr.arpa.
    // (served from another zone, so knotd returns the CNAME alone).
    let report = live_report().await;
    assert!(
        !fired(&report).iter().any(|(_, s)| s == "192.0.2.70"),
        "{:#?}",
        report.findings
    );
}

#[tokio::test]
async fn rfc2317_cname_to_a_missing_ptr_asks_for_the_ptr_at_the_cname_target() {
    let report = live_report().await;
    let f = finding(&report, "no-reverse-dns", "192.0.2.71");
    assert_eq!(
        f.fix.as_deref(),
        Some(
            "publish `71.64-127.2.0.192.in-addr.arpa. IN PTR classgap.rev.test.` (ask whoever runs the address block)"
        )
    );
    assert_eq!(
        f.evidence[0].answer,
        "CNAME 71.64-127.2.0.192.in-addr.arpa. -> NXDOMAIN"
    );
}

fn fake() -> Fake {
    let mut fake = Fake::new();
    for (_, text) in zones() {
        fake = fake.zone(&text).unwrap_or_else(|e| panic!("{e}"));
    }
    fake
}

#[tokio::test]
async fn servfail_on_one_ptr_leaves_only_that_address_incomplete() {
    // checkdmarc#64: one PTR SERVFAIL must not wipe out the other results.
    let fake = fake().servfail("30.2.0.192.in-addr.arpa", RecordType::PTR);
    let report = run(&fake, Some(&fake), &ZoneSet::default()).await;
    assert_eq!(
        fired(&report),
        pairs(&[
            ("no-reverse-dns", "192.0.2.20"),
            ("no-reverse-dns", "192.0.2.71"),
            ("no-reverse-dns", "2001:db8::26"),
            ("reverse-dns-mismatch", "192.0.2.40"),
        ]),
        "{:#?}",
        report.findings
    );
    let inc = reverse_incomplete(&report);
    assert_eq!(inc.len(), 1, "{:#?}", report.incomplete);
    assert_eq!(inc[0].rules, vec!["no-reverse-dns", "reverse-dns-mismatch"]);
    assert!(inc[0].reason.contains("192.0.2.30"), "{}", inc[0].reason);
    assert!(inc[0].reason.contains("SERVFAIL"), "{}", inc[0].reason);
}

#[tokio::test]
async fn reverse_dns_mismatch_alone_incomplete_on_a_servfail_in_forward_confirmation() {
    let fake = fake().servfail("elsewhere.rev.test", RecordType::A);
    let report = run(&fake, Some(&fake), &ZoneSet::default()).await;
    assert!(
        !fired(&report).iter().any(|(_, s)| s == "192.0.2.30"),
        "{:#?}",
        report.findings
    );
    let inc = reverse_incomplete(&report);
    assert_eq!(inc.len(), 1, "{:#?}", report.incomplete);
    assert_eq!(inc[0].rules, vec!["reverse-dns-mismatch"]);
    assert!(
        inc[0].reason.contains("elsewhere.rev.test."),
        "{}",
        inc[0].reason
    );
}

fn zone_set(texts: &[String]) -> ZoneSet {
    let mut set = ZoneSet::new();
    for (i, text) in texts.iter().enumerate() {
        set.push(
            ZoneSet::from_str(text, &format!("zone{i}"), None).unwrap_or_else(|e| panic!("{e}")),
        );
    }
    set
}

#[tokio::test]
async fn offline_without_reverse_zones_is_one_not_checked_entry_not_a_notice_per_address() {
    let zones = zone_set(&[forward()]);
    let overlay = Overlay {
        zones: zones.clone(),
        fallback: None,
    };
    let report = run(&overlay, None, &zones).await;
    assert!(fired(&report).is_empty(), "{:#?}", report.findings);
    // Offline is the user's choice: not checked, but not incomplete (exit 3) either.
    assert!(
        reverse_incomplete(&report).is_empty(),
        "{:#?}",
        report.incomplete
    );
    let skipped: Vec<_> = report
        .skipped
        .iter()
        .filter(|i| i.rules.contains(&"no-reverse-dns"))
        .collect();
    assert_eq!(skipped.len(), 1, "{:#?}", report.skipped);
    assert!(
        skipped[0].reason.contains("offline"),
        "{}",
        skipped[0].reason
    );
    for ip in ["192.0.2.10", "192.0.2.20", "2001:db8::26"] {
        assert!(skipped[0].reason.contains(ip), "{}", skipped[0].reason);
    }
}

#[tokio::test]
async fn offline_with_reverse_zones_loaded_checks_fully_and_cites_the_zone_file() {
    let zones = zone_set(&[forward(), reverse_v4(), classless(), reverse_v6()]);
    let overlay = Overlay {
        zones: zones.clone(),
        fallback: None,
    };
    let report = run(&overlay, None, &zones).await;
    assert_eq!(
        fired(&report),
        pairs(&[
            ("no-reverse-dns", "192.0.2.20"),
            ("no-reverse-dns", "192.0.2.71"),
            ("no-reverse-dns", "2001:db8::26"),
            ("reverse-dns-mismatch", "192.0.2.30"),
            ("reverse-dns-mismatch", "192.0.2.40"),
        ]),
        "{:#?}",
        report.findings
    );
    assert!(
        reverse_incomplete(&report).is_empty(),
        "{:#?}",
        report.incomplete
    );
    let f = finding(&report, "reverse-dns-mismatch", "192.0.2.30");
    // The PTR comes from the loaded reverse zone: file:line evidence.
    assert_eq!(f.evidence[0].source, "zone1:6", "{:#?}", f.evidence);
}

#[tokio::test]
async fn only_distinct_addresses_are_asked_once_each() {
    let text = "$ORIGIN dup.test.\n$TTL 300\n\
                @ SOA ns.dup.test. h.dup.test. 1 3600 600 86400 300\n@ NS ns.dup.test.\n\
                @ MX 10 a.dup.test.\n@ MX 20 b.dup.test.\n\
                a A 192.0.2.10\nb A 192.0.2.10\n";
    let fake = fake().zone(text).unwrap();
    let report = check(
        &Domain::parse("dup.test").unwrap(),
        &fake,
        Some(&fake),
        None,
        &ZoneSet::default(),
        &CheckOptions::default(),
    )
    .await;
    assert!(fired(&report).is_empty(), "{:#?}", report.findings);
    assert_eq!(fake.count("10.2.0.192.in-addr.arpa", RecordType::PTR), 1);
}

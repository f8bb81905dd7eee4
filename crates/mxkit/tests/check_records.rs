//! The rules on the MX RRset, its exchangers and their addresses
//! (`mxkit::check::records` and `mxkit::check::addresses`; docs/rules/check.md,
//! rows MX01 to MX17).
//!
//! Each rule has a zone file in `testdata/check/`, named after the rule id,
//! built to trigger it; the test loads it, runs the whole check offline
//! (zone files only) and asserts the finding: severity, subject, the exact
//! `file:line` of the evidence, and the fix where there is one.
//! `testdata/check/clean.zone` is a well-configured domain on which none of
//! these rules may warn or err. The live tests serve the same zone text from
//! a real knotd and check that the evidence names knotd's address. Tests are
//! named after the rule they check.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mxkit::address::{Domain, display_name};
use mxkit::check::{CheckOptions, Finding, Policy, Report, Severity, check};
use mxkit::dns::engine::{Engine, EngineConfig};
use mxkit::dns::fake::Fake;
use mxkit::dns::zone::{Zone, ZoneSet};
use mxkit::dns::{Lookup, Name, Overlay, RecordType};
use testbed::knot::Knot;

// ---------------------------------------------------------------------------
// Helpers.

/// The ids of the rules these two families own.
const OURS: &[&str] = &[
    "implicit-mx",
    "mx-is-address",
    "exchanger-bad-name",
    "null-mx-mixed",
    "null-mx-preference",
    "duplicate-exchanger",
    "shared-address",
    "single-exchanger",
    "mx-at-tld",
    "exchanger-without-address",
    "no-usable-exchanger",
    "exchanger-is-cname",
    "domain-is-cname",
    "exchanger-special-address",
    "mx-ttl",
];

fn zone_path(rule: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/check")
        .join(format!("{rule}.zone"))
}

fn zone_text(rule: &str) -> String {
    std::fs::read_to_string(zone_path(rule)).unwrap()
}

/// `FILE:LINE` as the evidence writes it.
fn at(rule: &str, line: u32) -> String {
    format!("{}:{line}", zone_path(rule).display())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Check `domain` offline against the zone file of `rule`.
fn run_with(rule: &str, domain: &str, options: &CheckOptions) -> Report {
    let zones = ZoneSet::load(&[zone_path(rule)]).unwrap_or_else(|e| panic!("{e}"));
    let lookup = Overlay {
        zones: zones.clone(),
        fallback: None,
    };
    let domain = Domain::parse(domain).unwrap();
    block_on(check(&domain, &lookup, None, None, &zones, options))
}

fn run(rule: &str, domain: &str) -> Report {
    run_with(rule, domain, &CheckOptions::default())
}

/// Check `domain` through `lookup` with no zone files (live mode as the
/// rules see it).
async fn run_live(lookup: &dyn Lookup, domain: &str) -> Report {
    let domain = Domain::parse(domain).unwrap();
    check(
        &domain,
        lookup,
        None,
        None,
        &ZoneSet::new(),
        &CheckOptions::default(),
    )
    .await
}

fn all<'r>(r: &'r Report, id: &str) -> Vec<&'r Finding> {
    r.findings.iter().filter(|f| f.id == id).collect()
}

fn one<'r>(r: &'r Report, id: &str) -> &'r Finding {
    let found = all(r, id);
    assert_eq!(found.len(), 1, "expected one {id}, got {:#?}", r.findings);
    found[0]
}

fn on<'r>(r: &'r Report, id: &str, subject: &str) -> &'r Finding {
    r.findings
        .iter()
        .find(|f| f.id == id && f.subject == subject)
        .unwrap_or_else(|| panic!("no {id} on {subject:?} in {:#?}", r.findings))
}

fn sources(f: &Finding) -> Vec<&str> {
    f.evidence.iter().map(|e| e.source.as_str()).collect()
}

fn has_source(f: &Finding, source: &str) {
    assert!(
        sources(f).contains(&source),
        "{source} not in the evidence of {f:#?}"
    );
}

fn fix(f: &Finding) -> &str {
    f.fix
        .as_deref()
        .unwrap_or_else(|| panic!("no fix in {f:#?}"))
}

/// Our findings of severity warning or worse.
fn bad(r: &Report) -> Vec<&Finding> {
    r.findings
        .iter()
        .filter(|f| OURS.contains(&f.id) && f.severity <= Severity::Warning)
        .collect()
}

fn incomplete_rules(r: &Report) -> Vec<&'static str> {
    r.incomplete.iter().flat_map(|i| i.rules.clone()).collect()
}

async fn engine(knot: &Knot) -> Engine {
    let mut cfg = EngineConfig::new(vec![knot.addr()]);
    cfg.seed = Some(7);
    Engine::new(cfg).await.unwrap()
}

// ---------------------------------------------------------------------------
// MX01 implicit-mx.

#[test]
fn implicit_mx_warns_when_the_domain_has_addresses() {
    let r = run("implicit-mx", "implicit-mx.test");
    let f = one(&r, "implicit-mx");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.subject, "implicit-mx.test");
    assert!(f.message.contains("185.12.64.80"), "{}", f.message);
    assert!(f.message.contains("web server"), "{}", f.message);
    has_source(f, &at("implicit-mx", 8));
    has_source(f, &at("implicit-mx", 9));
    assert!(
        fix(f).contains("`implicit-mx.test. IN MX 0 .`"),
        "{}",
        fix(f)
    );
    assert!(fix(f).contains("implicit-mx.test. IN MX 10 mail.implicit-mx.test."));
}

#[test]
fn implicit_mx_is_a_notice_without_addresses() {
    let r = run("implicit-mx", "nomail.implicit-mx.test");
    let f = one(&r, "implicit-mx");
    assert_eq!(f.severity, Severity::Notice);
    assert_eq!(f.subject, "nomail.implicit-mx.test");
    assert!(fix(f).contains("`nomail.implicit-mx.test. IN MX 0 .`"));
    // No address: not "no usable exchanger" (an error) as well.
    assert!(
        all(&r, "no-usable-exchanger").is_empty(),
        "{:#?}",
        r.findings
    );
}

// ---------------------------------------------------------------------------
// MX02 mx-is-address.

#[test]
fn mx_is_address_names_the_record_and_the_fix() {
    let r = run("mx-is-address", "mx-is-address.test");
    let f = one(&r, "mx-is-address");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.subject, "mx-is-address.test. MX 10 185.12.64.25.");
    assert_eq!(sources(f), vec![at("mx-is-address", 6)]);
    assert_eq!(
        fix(f),
        "give the address a host name and point the MX at it: `mail.mx-is-address.test. IN A 185.12.64.25` and `mx-is-address.test. IN MX 10 mail.mx-is-address.test.`"
    );
}

#[test]
fn mx_is_address_ipv6_fix_is_aaaa() {
    let text = "$ORIGIN v6.test.\n@ IN SOA ns1 hm 1 7200 900 1209600 300\n  IN NS ns1\n  IN MX 10 2001:67c:2e8:9::25.\n";
    let mut zones = ZoneSet::new();
    zones.push(Zone::parse(text, "v6.test.zone", None).unwrap());
    let lookup = Overlay {
        zones: zones.clone(),
        fallback: None,
    };
    let domain = Domain::parse("v6.test").unwrap();
    let r = block_on(check(
        &domain,
        &lookup,
        None,
        None,
        &zones,
        &CheckOptions::default(),
    ));
    let f = one(&r, "mx-is-address");
    assert_eq!(sources(f), vec!["v6.test.zone:4"]);
    assert!(
        fix(f).contains("`mail.v6.test. IN AAAA 2001:67c:2e8:9::25`"),
        "{}",
        fix(f)
    );
}

#[test]
fn mx_is_address_severity_can_be_set_or_ignored() {
    let mut policy = Policy::default();
    policy.set("mx-is-address=warning").unwrap();
    let r = run_with(
        "mx-is-address",
        "mx-is-address.test",
        &CheckOptions {
            policy,
            ..CheckOptions::default()
        },
    );
    assert_eq!(one(&r, "mx-is-address").severity, Severity::Warning);

    let mut policy = Policy::default();
    policy.set("mx-is-address=ignore").unwrap();
    let r = run_with(
        "mx-is-address",
        "mx-is-address.test",
        &CheckOptions {
            policy,
            ..CheckOptions::default()
        },
    );
    assert!(all(&r, "mx-is-address").is_empty(), "{:#?}", r.findings);
}

#[test]
fn exchanger_special_address_override_beats_escalation() {
    // The all-special case escalates to error; an explicit --set still wins.
    let mut policy = Policy::default();
    policy.set("exchanger-special-address=notice").unwrap();
    let r = run_with(
        "exchanger-special-address",
        "all.exchanger-special-address.test",
        &CheckOptions {
            policy,
            ..CheckOptions::default()
        },
    );
    let found = all(&r, "exchanger-special-address");
    assert!(!found.is_empty());
    assert!(found.iter().all(|f| f.severity == Severity::Notice));
}

#[tokio::test]
async fn mx_is_address_live_evidence_names_knotd() {
    let knot = Knot::start(&[("mx-is-address.test", &zone_text("mx-is-address"))]);
    let engine = engine(&knot).await;
    let r = run_live(&engine, "mx-is-address.test").await;
    let f = one(&r, "mx-is-address");
    assert_eq!(f.subject, "mx-is-address.test. MX 10 185.12.64.25.");
    assert_eq!(f.evidence.len(), 1, "{f:#?}");
    let e = &f.evidence[0];
    assert_eq!(e.source, knot.addr().to_string());
    assert_eq!(e.query.as_deref(), Some("mx-is-address.test. MX"));
    assert_eq!(e.answer, "10 185.12.64.25.");
}

// ---------------------------------------------------------------------------
// MX03 exchanger-bad-name.

#[test]
fn exchanger_bad_name_errors_on_bad_characters() {
    let r = run("exchanger-bad-name", "exchanger-bad-name.test");
    let f = on(
        &r,
        "exchanger-bad-name",
        "exchanger-bad-name.test. MX 20 mail_server.exchanger-bad-name.test.",
    );
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(sources(f), vec![at("exchanger-bad-name", 7)]);
    assert!(fix(f).contains("exchanger-bad-name.test. IN MX 20 mail.exchanger-bad-name.test."));
}

#[test]
fn exchanger_bad_name_warns_on_double_dash() {
    let r = run("exchanger-bad-name", "exchanger-bad-name.test");
    let f = on(
        &r,
        "exchanger-bad-name",
        "exchanger-bad-name.test. MX 30 ab--cd.exchanger-bad-name.test.",
    );
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(sources(f), vec![at("exchanger-bad-name", 8)]);
}

#[test]
fn exchanger_bad_name_warns_on_an_appended_origin() {
    let r = run("exchanger-bad-name", "exchanger-bad-name.test");
    let f = on(
        &r,
        "exchanger-bad-name",
        "exchanger-bad-name.test. MX 40 mail.exchanger-bad-name.test.exchanger-bad-name.test.",
    );
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(sources(f), vec![at("exchanger-bad-name", 9)]);
    assert_eq!(
        fix(f),
        "end the name with a dot: `exchanger-bad-name.test. IN MX 40 mail.exchanger-bad-name.test.`"
    );
}

#[test]
fn exchanger_bad_name_escapes_control_characters_in_subjects() {
    let r = run("exchanger-bad-name", "exchanger-bad-name.test");
    let f = on(
        &r,
        "exchanger-bad-name",
        "exchanger-bad-name.test. MX 50 mx\\007bell.exchanger-bad-name.test.",
    );
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(sources(f), vec![at("exchanger-bad-name", 10)]);
    let exchange =
        Name::from_labels(vec![&b"mx\x07bell"[..], b"exchanger-bad-name", b"test"]).unwrap();
    assert_eq!(
        display_name(&exchange),
        "mx\\007bell.exchanger-bad-name.test"
    );
    for f in &r.findings {
        for text in [&f.subject, &f.message] {
            assert!(!text.chars().any(|c| c.is_control()), "{text:?}");
        }
    }
}

#[test]
fn exchanger_bad_name_warns_on_a_numeric_tld() {
    let r = run("exchanger-bad-name", "numeric.exchanger-bad-name.test");
    let f = one(&r, "exchanger-bad-name");
    assert_eq!(f.subject, "numeric.exchanger-bad-name.test. MX 10 mx.123.");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(sources(f), vec![at("exchanger-bad-name", 16)]);
}

// ---------------------------------------------------------------------------
// MX04 null-mx-mixed, null-mx-preference.

#[test]
fn null_mx_mixed_is_an_error_with_the_exact_null_mx() {
    let r = run("null-mx-mixed", "null-mx-mixed.test");
    let f = one(&r, "null-mx-mixed");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.subject, "null-mx-mixed.test. MX 0 .");
    assert_eq!(
        sources(f),
        vec![at("null-mx-mixed", 6), at("null-mx-mixed", 7)]
    );
    assert!(
        fix(f).contains("keep only `null-mx-mixed.test. IN MX 0 .`"),
        "{}",
        fix(f)
    );
    assert!(all(&r, "null-mx-preference").is_empty());
}

#[test]
fn null_mx_preference_warns_and_gives_the_exact_record() {
    let r = run("null-mx-preference", "null-mx-preference.test");
    let f = one(&r, "null-mx-preference");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.subject, "null-mx-preference.test. MX 10 .");
    assert_eq!(sources(f), vec![at("null-mx-preference", 6)]);
    assert_eq!(
        fix(f),
        "publish `null-mx-preference.test. IN MX 0 .` in its place"
    );
    // A lone null MX is not a TLD or single-exchanger matter.
    assert!(all(&r, "single-exchanger").is_empty());
    assert!(all(&r, "null-mx-mixed").is_empty());
}

// ---------------------------------------------------------------------------
// MX06 duplicate-exchanger, shared-address.

#[test]
fn duplicate_exchanger_names_both_records() {
    let r = run("duplicate-exchanger", "duplicate-exchanger.test");
    let f = one(&r, "duplicate-exchanger");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.subject, "mx1.duplicate-exchanger.test");
    assert_eq!(
        sources(f),
        vec![at("duplicate-exchanger", 6), at("duplicate-exchanger", 7)]
    );
    assert_eq!(
        fix(f),
        "keep one record, `duplicate-exchanger.test. IN MX 10 mx1.duplicate-exchanger.test.`, and remove the others (or point them at another host)"
    );
}

#[test]
fn shared_address_is_info_on_the_address() {
    let r = run("shared-address", "shared-address.test");
    let f = one(&r, "shared-address");
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.subject, "185.12.64.25");
    assert!(f.message.contains("mx1.shared-address.test"));
    assert!(f.message.contains("mx2.shared-address.test"));
    assert_eq!(
        sources(f),
        vec![at("shared-address", 10), at("shared-address", 11)]
    );
    // A third exchanger on another address: redundancy is there.
    assert!(all(&r, "single-exchanger").is_empty());
}

// ---------------------------------------------------------------------------
// MX07 single-exchanger.

#[test]
fn single_exchanger_is_info() {
    let r = run("single-exchanger", "single-exchanger.test");
    let f = one(&r, "single-exchanger");
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.subject, "single-exchanger.test");
    assert_eq!(sources(f), vec![at("single-exchanger", 7)]);
    assert!(
        fix(f).contains(
            "`single-exchanger.test. IN MX 20 backup-mx.single-exchanger.test.` with `backup-mx.single-exchanger.test. IN A <its address>`"
        ),
        "{}",
        fix(f)
    );
}

#[test]
fn single_exchanger_when_all_share_one_address() {
    let r = run("single-exchanger", "shared.single-exchanger.test");
    let f = one(&r, "single-exchanger");
    assert!(
        f.message.contains("share the one address 185.12.64.25"),
        "{}",
        f.message
    );
    assert_eq!(
        sources(f),
        vec![at("single-exchanger", 10), at("single-exchanger", 11)]
    );
    assert_eq!(one(&r, "shared-address").subject, "185.12.64.25");
}

// ---------------------------------------------------------------------------
// MX09 mx-at-tld.

#[test]
fn mx_at_tld_warns_on_a_single_label_domain() {
    let r = run("mx-at-tld", "mx-at-tld");
    let f = one(&r, "mx-at-tld");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.subject, "mx-at-tld");
    assert_eq!(sources(f), vec![at("mx-at-tld", 6), at("mx-at-tld", 7)]);
    assert!(fix(f).contains("`mx-at-tld. IN MX 0 .`"), "{}", fix(f));
}

#[test]
fn mx_at_tld_warns_under_arpa_but_not_on_a_lone_null_mx() {
    let text = "$ORIGIN 10.in-addr.arpa.\n@ IN SOA ns1 hm 1 7200 900 1209600 300\n  IN NS ns1\n  IN MX 10 mx1\nmx1 IN A 185.12.64.25\nnull IN MX 0 .\n";
    let mut zones = ZoneSet::new();
    zones.push(Zone::parse(text, "10.in-addr.arpa.zone", None).unwrap());
    let lookup = Overlay {
        zones: zones.clone(),
        fallback: None,
    };
    let opts = CheckOptions::default();
    let r = block_on(check(
        &Domain::parse("10.in-addr.arpa").unwrap(),
        &lookup,
        None,
        None,
        &zones,
        &opts,
    ));
    let f = one(&r, "mx-at-tld");
    assert_eq!(sources(f), vec!["10.in-addr.arpa.zone:4"]);
    let r = block_on(check(
        &Domain::parse("null.10.in-addr.arpa").unwrap(),
        &lookup,
        None,
        None,
        &zones,
        &opts,
    ));
    assert!(all(&r, "mx-at-tld").is_empty(), "{:#?}", r.findings);
}

// ---------------------------------------------------------------------------
// MX10 exchanger-without-address, no-usable-exchanger.

#[test]
fn exchanger_without_address_warns_per_exchanger() {
    let r = run(
        "exchanger-without-address",
        "exchanger-without-address.test",
    );
    let found = all(&r, "exchanger-without-address");
    assert_eq!(found.len(), 2, "{:#?}", r.findings);
    let f = on(
        &r,
        "exchanger-without-address",
        "mx2.exchanger-without-address.test",
    );
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.evidence[0].source, at("exchanger-without-address", 8));
    assert!(
        f.evidence[1..].iter().any(|e| e.answer == "NODATA"
            && e.query.as_deref() == Some("mx2.exchanger-without-address.test. A")),
        "{f:#?}"
    );
    assert!(fix(f).contains("`mx2.exchanger-without-address.test. IN A <address>`"));
    assert!(fix(f).contains(
        "remove `exchanger-without-address.test. IN MX 20 mx2.exchanger-without-address.test.`"
    ));
    let f = on(
        &r,
        "exchanger-without-address",
        "mx3.exchanger-without-address.test",
    );
    assert_eq!(f.evidence[0].source, at("exchanger-without-address", 9));
    assert!(f.evidence.iter().any(|e| e.answer == "NXDOMAIN"), "{f:#?}");
    assert!(all(&r, "no-usable-exchanger").is_empty());
}

#[test]
fn no_usable_exchanger_is_an_error() {
    let r = run("no-usable-exchanger", "no-usable-exchanger.test");
    let f = one(&r, "no-usable-exchanger");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.subject, "no-usable-exchanger.test");
    assert_eq!(
        sources(f)[..2],
        [at("no-usable-exchanger", 7), at("no-usable-exchanger", 8)]
    );
    assert!(
        fix(f).contains("`no-usable-exchanger.test. IN MX 0 .`"),
        "{}",
        fix(f)
    );
    assert!(fix(f).contains("`mx1.no-usable-exchanger.test. IN A <address>`"));
    // One error, not a warning per exchanger as well.
    assert!(all(&r, "exchanger-without-address").is_empty());
}

#[test]
fn no_usable_exchanger_when_the_domain_does_not_exist() {
    let r = run("no-usable-exchanger", "gone.no-usable-exchanger.test");
    let ours: Vec<&Finding> = r.findings.iter().filter(|f| OURS.contains(&f.id)).collect();
    assert_eq!(ours.len(), 1, "{ours:#?}");
    let f = ours[0];
    assert_eq!(f.id, "no-usable-exchanger");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.subject, "gone.no-usable-exchanger.test");
    assert!(f.message.contains("does not exist"), "{}", f.message);
    assert_eq!(f.evidence[0].answer, "NXDOMAIN");
}

#[test]
fn no_usable_exchanger_is_incomplete_when_a_lookup_failed() {
    let zone = zone_text("no-usable-exchanger");
    let fake = Fake::new()
        .zone(&zone)
        .unwrap()
        .servfail("mx2.no-usable-exchanger.test", RecordType::A)
        .servfail("mx2.no-usable-exchanger.test", RecordType::AAAA);
    let r = block_on(run_live(&fake, "no-usable-exchanger.test"));
    assert!(
        all(&r, "no-usable-exchanger").is_empty(),
        "{:#?}",
        r.findings
    );
    let rules = incomplete_rules(&r);
    assert!(
        rules.contains(&"no-usable-exchanger"),
        "{:#?}",
        r.incomplete
    );
    // mx1 has no address for sure: that one is a finding.
    let f = one(&r, "exchanger-without-address");
    assert_eq!(f.subject, "mx1.no-usable-exchanger.test");
}

// ---------------------------------------------------------------------------
// MX11 exchanger-is-cname, MX12 domain-is-cname.

#[test]
fn exchanger_is_cname_names_alias_and_target() {
    let r = run("exchanger-is-cname", "exchanger-is-cname.test");
    let f = one(&r, "exchanger-is-cname");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.subject,
        "exchanger-is-cname.test. MX 10 mail.exchanger-is-cname.test."
    );
    assert!(
        f.message.contains(
            "mail.exchanger-is-cname.test is an alias (CNAME) for host.exchanger-is-cname.test"
        ),
        "{}",
        f.message
    );
    assert_eq!(
        sources(f),
        vec![at("exchanger-is-cname", 6), at("exchanger-is-cname", 9)]
    );
    assert_eq!(
        fix(f),
        "point the MX at the canonical name: `exchanger-is-cname.test. IN MX 10 host.exchanger-is-cname.test.`"
    );
}

#[test]
fn domain_is_cname_is_info_and_explains_the_difference() {
    let r = run("domain-is-cname", "alias.domain-is-cname.test");
    let f = one(&r, "domain-is-cname");
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.subject, "alias.domain-is-cname.test");
    assert!(f.message.contains("target.domain-is-cname.test"));
    assert!(
        f.message.contains("not exchanger-is-cname"),
        "{}",
        f.message
    );
    assert_eq!(sources(f), vec![at("domain-is-cname", 12)]);
    assert!(all(&r, "exchanger-is-cname").is_empty());
    assert!(bad(&r).is_empty(), "{:#?}", bad(&r));
}

// ---------------------------------------------------------------------------
// MX13 exchanger-special-address.

#[test]
fn exchanger_special_address_warns_when_some_are_special() {
    let r = run(
        "exchanger-special-address",
        "exchanger-special-address.test",
    );
    let f = one(&r, "exchanger-special-address");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.subject, "10.0.0.25");
    assert!(
        f.message
            .starts_with("10.0.0.25 is in 10.0.0.0/8 (private-use, RFC 1918)"),
        "{}",
        f.message
    );
    assert!(f.message.contains("mx1.exchanger-special-address.test"));
    assert_eq!(sources(f), vec![at("exchanger-special-address", 11)]);
    assert!(
        fix(f).contains("`mx1.exchanger-special-address.test. IN A <public address>`"),
        "{}",
        fix(f)
    );
}

#[test]
fn exchanger_special_address_errs_when_all_are_special() {
    let r = run(
        "exchanger-special-address",
        "all.exchanger-special-address.test",
    );
    let found = all(&r, "exchanger-special-address");
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found.iter().all(|f| f.severity == Severity::Error));
    let f = on(&r, "exchanger-special-address", "192.0.2.10");
    assert!(
        f.message
            .starts_with("192.0.2.10 is in 192.0.2.0/24 (TEST-NET-1, documentation, RFC 5737)"),
        "{}",
        f.message
    );
    assert_eq!(sources(f), vec![at("exchanger-special-address", 15)]);
    let f = on(&r, "exchanger-special-address", "2001:db8::25");
    assert!(
        f.message
            .contains("2001:db8::/32 (documentation, RFC 3849)")
    );
    assert_eq!(sources(f), vec![at("exchanger-special-address", 16)]);
    let f = on(&r, "exchanger-special-address", "::ffff:10.1.2.3");
    assert!(f.message.contains("IPv4-mapped"), "{}", f.message);
    assert!(f.message.contains("10.0.0.0/8 (private-use, RFC 1918)"));
    assert_eq!(sources(f), vec![at("exchanger-special-address", 17)]);
}

#[tokio::test]
async fn exchanger_special_address_live_evidence_names_knotd() {
    let knot = Knot::start(&[(
        "exchanger-special-address.test",
        &zone_text("exchanger-special-address"),
    )]);
    let engine = engine(&knot).await;
    let r = run_live(&engine, "exchanger-special-address.test").await;
    let f = one(&r, "exchanger-special-address");
    assert_eq!(f.subject, "10.0.0.25");
    assert_eq!(f.evidence.len(), 1, "{f:#?}");
    let e = &f.evidence[0];
    assert_eq!(e.source, knot.addr().to_string());
    assert_eq!(
        e.query.as_deref(),
        Some("mx1.exchanger-special-address.test. A")
    );
    assert_eq!(e.answer, "10.0.0.25");
}

// ---------------------------------------------------------------------------
// MX17 mx-ttl.

#[test]
fn mx_ttl_low_is_a_notice() {
    let r = run("mx-ttl", "mx-ttl.test");
    let f = one(&r, "mx-ttl");
    assert_eq!(f.severity, Severity::Notice);
    assert_eq!(f.subject, "mx-ttl.test. MX");
    assert!(f.message.starts_with("the MX TTL is 60 s"), "{}", f.message);
    assert_eq!(sources(f), vec![at("mx-ttl", 6), at("mx-ttl", 7)]);
    assert!(fix(f).contains("`mx-ttl.test. 3600 IN MX 10 mx1.mx-ttl.test.`"));
}

#[test]
fn mx_ttl_high_is_a_notice() {
    let r = run("mx-ttl", "long.mx-ttl.test");
    let f = one(&r, "mx-ttl");
    assert_eq!(f.severity, Severity::Notice);
    assert!(
        f.message.starts_with("the MX TTL is 1209600 s"),
        "{}",
        f.message
    );
    assert_eq!(sources(f), vec![at("mx-ttl", 11), at("mx-ttl", 12)]);
}

// ---------------------------------------------------------------------------
// The whole family: temporary failures, a clean domain, a huge MX set.

#[test]
fn mx_lookup_failure_makes_every_rule_incomplete() {
    let fake = Fake::new()
        .zone(&zone_text("mx-is-address"))
        .unwrap()
        .servfail("mx-is-address.test", RecordType::MX);
    let r = block_on(run_live(&fake, "mx-is-address.test"));
    let ours: Vec<&Finding> = r.findings.iter().filter(|f| OURS.contains(&f.id)).collect();
    assert!(ours.is_empty(), "{ours:#?}");
    let rules = incomplete_rules(&r);
    for id in OURS {
        assert!(
            rules.contains(id),
            "{id} not incomplete: {:#?}",
            r.incomplete
        );
    }
    assert!(
        r.incomplete.iter().any(|i| i.reason.contains("SERVFAIL")),
        "{:#?}",
        r.incomplete
    );
}

#[test]
fn mx_lookup_offline_outside_the_zones_is_incomplete() {
    let r = run("clean", "elsewhere.example");
    assert!(
        r.findings.iter().all(|f| !OURS.contains(&f.id)),
        "{:#?}",
        r.findings
    );
    assert!(incomplete_rules(&r).contains(&"no-usable-exchanger"));
}

#[test]
fn exchanger_without_address_incomplete_on_a_temporary_failure() {
    let fake = Fake::new()
        .zone(&zone_text("exchanger-without-address"))
        .unwrap()
        .timeout("mx2.exchanger-without-address.test", RecordType::A)
        .timeout("mx2.exchanger-without-address.test", RecordType::AAAA);
    let r = block_on(run_live(&fake, "exchanger-without-address.test"));
    let subjects: Vec<&str> = all(&r, "exchanger-without-address")
        .iter()
        .map(|f| f.subject.as_str())
        .collect();
    assert_eq!(subjects, vec!["mx3.exchanger-without-address.test"]);
    let inc = r
        .incomplete
        .iter()
        .find(|i| i.rules.contains(&"exchanger-without-address"))
        .unwrap_or_else(|| panic!("{:#?}", r.incomplete));
    assert!(
        inc.reason.contains("mx2.exchanger-without-address.test"),
        "{}",
        inc.reason
    );
}

#[test]
fn clean_zone_has_no_warning_or_error() {
    let r = run("clean", "clean.test");
    assert!(bad(&r).is_empty(), "{:#?}", bad(&r));
    let ours: Vec<&Finding> = r.findings.iter().filter(|f| OURS.contains(&f.id)).collect();
    assert!(ours.is_empty(), "{ours:#?}");
    let rules = incomplete_rules(&r);
    for id in OURS {
        assert!(!rules.contains(id), "{id} incomplete: {:#?}", r.incomplete);
    }
}

#[tokio::test]
async fn clean_zone_live_has_no_warning_or_error() {
    let knot = Knot::start(&[("clean.test", &zone_text("clean"))]);
    let engine = engine(&knot).await;
    let r = run_live(&engine, "clean.test").await;
    assert!(bad(&r).is_empty(), "{:#?}", bad(&r));
    assert_eq!(r.route.candidates.len(), 4);
}

#[tokio::test]
async fn exchanger_without_address_live_evidence_names_knotd() {
    let knot = Knot::start(&[(
        "exchanger-without-address.test",
        &zone_text("exchanger-without-address"),
    )]);
    let engine = engine(&knot).await;
    let r = run_live(&engine, "exchanger-without-address.test").await;
    let f = on(
        &r,
        "exchanger-without-address",
        "mx3.exchanger-without-address.test",
    );
    let server = knot.addr().to_string();
    assert!(f.evidence.iter().all(|e| e.source == server), "{f:#?}");
    assert_eq!(
        f.evidence[0].query.as_deref(),
        Some("exchanger-without-address.test. MX")
    );
    assert_eq!(
        f.evidence[0].answer,
        "30 mx3.exchanger-without-address.test."
    );
    assert!(
        f.evidence.iter().any(|e| e.query.as_deref()
            == Some("mx3.exchanger-without-address.test. A")
            && e.answer == "NXDOMAIN"),
        "{f:#?}"
    );
}

#[tokio::test]
async fn domain_is_cname_live_evidence_names_knotd() {
    let knot = Knot::start(&[("domain-is-cname.test", &zone_text("domain-is-cname"))]);
    let engine = engine(&knot).await;
    let r = run_live(&engine, "alias.domain-is-cname.test").await;
    let f = one(&r, "domain-is-cname");
    assert_eq!(f.evidence[0].source, knot.addr().to_string());
    assert!(
        f.evidence[0]
            .answer
            .contains("alias.domain-is-cname.test. CNAME target.domain-is-cname.test."),
        "{f:#?}"
    );
}

#[test]
fn huge_mx_set_completes() {
    // 500 MX records: half with an address, half without; one shared address.
    let mut text = String::from(
        "$ORIGIN huge.test.\n@ IN SOA ns1 hm 1 7200 900 1209600 300\n  IN NS ns1\nns1 IN A 127.0.3.53\n",
    );
    for i in 0..500u32 {
        text.push_str(&format!("@ IN MX {} mx{i}\n", i % 70));
        if i % 2 == 0 {
            text.push_str(&format!("mx{i} IN A 185.12.{}.{}\n", 64 + i / 250, i % 250));
        }
    }
    text.push_str("mx1 IN A 185.12.64.0\n");
    let mut zones = ZoneSet::new();
    zones.push(Zone::parse(&text, "huge.test.zone", None).unwrap());
    let lookup: Arc<dyn Lookup> = Arc::new(Overlay {
        zones: zones.clone(),
        fallback: None,
    });
    let r = block_on(check(
        &Domain::parse("huge.test").unwrap(),
        &*lookup,
        None,
        None,
        &zones,
        &CheckOptions::default(),
    ));
    assert_eq!(all(&r, "exchanger-without-address").len(), 249);
    assert_eq!(one(&r, "shared-address").subject, "185.12.64.0");
    assert!(all(&r, "no-usable-exchanger").is_empty());
}

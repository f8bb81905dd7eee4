//! The pre-publish diff of `check --zone FILE` (docs/rules/check.md, "The
//! pre-publish diff"): a real knotd serves the "old" zone (live DNS now), the
//! "new" zone is a file on disk laid over it (`Overlay`), and `check` reports
//! what changes for senders once the file is published.

use std::path::PathBuf;
use std::sync::Arc;

use mxkit::address::Domain;
use mxkit::check::diff::{Changes, MxEntry, PreferenceChange, TtlChange};
use mxkit::check::{CheckOptions, Report, check};
use mxkit::dns::engine::{Engine, EngineConfig};
use mxkit::dns::zone::ZoneSet;
use mxkit::dns::{Lookup, Overlay};
use mxkit::route::{RouteKind, RouteVerdict};
use testbed::fault::{FaultServer, Reply};
use testbed::knot::Knot;

const HEAD: &str = "$ORIGIN diff.test.\n$TTL 300\n\
                    @ SOA ns.diff.test. hostmaster.diff.test. 1 3600 600 86400 300\n\
                    @ NS ns.diff.test.\n\
                    ns A 127.0.0.1\n";

/// The zone as it is live now: two exchangers, mx1 with two addresses, MX TTL 3600.
const OLD: &str = "@ 3600 MX 10 mx1.diff.test.\n\
                   @ 3600 MX 20 mx2.diff.test.\n\
                   mx1 A 192.0.2.1\n\
                   mx1 A 192.0.2.11\n\
                   mx2 A 192.0.2.2\n\
                   mx3 A 192.0.2.3\n";

fn zone(body: &str) -> String {
    format!("{HEAD}{body}")
}

/// Write the new zone where `--zone` would read it from.
fn zone_file(test: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("check_diff-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("diff.test.zone");
    std::fs::write(&path, text).unwrap();
    path
}

/// Run `check` on diff.test with the new zone file over `live`.
async fn run_over(test: &str, new: &str, live: Arc<dyn Lookup>) -> Report {
    let path = zone_file(test, &zone(new));
    let zones = ZoneSet::load(std::slice::from_ref(&path)).unwrap_or_else(|e| panic!("{e}"));
    if let Some(dir) = path.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
    let overlay = Overlay {
        zones: zones.clone(),
        fallback: Some(Arc::clone(&live)),
    };
    check(
        &Domain::parse("diff.test").unwrap(),
        &overlay,
        Some(&*live),
        None,
        &zones,
        &CheckOptions::default(),
    )
    .await
}

/// knotd serves `old`; the zone file holds `new`.
async fn diff(test: &str, old: &str, new: &str) -> Changes {
    let knot = Knot::start(&[("diff.test.", &zone(old))]);
    let engine = Engine::new(EngineConfig::new(vec![knot.addr()]))
        .await
        .unwrap();
    let report = run_over(test, new, Arc::new(engine)).await;
    drop(knot);
    match report.changes {
        Some(c) => c,
        None => panic!("no changes computed: {:#?}", report.findings),
    }
}

fn mx(preference: u16, exchanger: &str) -> MxEntry {
    MxEntry {
        preference,
        exchanger: exchanger.into(),
    }
}

fn has_line(c: &Changes, needle: &str) -> bool {
    c.lines().iter().any(|l| l.contains(needle))
}

#[tokio::test]
async fn unchanged_zone_gives_empty_changes_and_no_lines() {
    let c = diff("same", OLD, OLD).await;
    assert!(c.is_empty(), "{c:#?}");
    assert!(c.lines().is_empty(), "{:?}", c.lines());
    assert_eq!(c, Changes::default());
}

#[tokio::test]
async fn mx_record_added_and_removed_are_reported_as_sets() {
    let new = OLD.replace("20 mx2.diff.test.", "30 mx3.diff.test.");
    let c = diff("add-remove", OLD, &new).await;
    assert_eq!(c.mx_added, vec![mx(30, "mx3.diff.test")], "{c:#?}");
    assert_eq!(c.mx_removed, vec![mx(20, "mx2.diff.test")], "{c:#?}");
    assert!(c.preference_changed.is_empty(), "{c:#?}");
    assert!(c.verdict.is_none(), "{c:#?}");
    assert!(c.addresses_changed.is_empty(), "{c:#?}");
    // Senders may keep the old set for the live MX TTL.
    assert_eq!(c.cached_for, Some(3600));
    assert!(
        has_line(&c, "MX added: 30 mx3.diff.test"),
        "{:?}",
        c.lines()
    );
    assert!(
        has_line(&c, "MX removed: 20 mx2.diff.test"),
        "{:?}",
        c.lines()
    );
    assert!(
        has_line(&c, "old records may stay in caches for up to 3600 s"),
        "{:?}",
        c.lines()
    );
}

#[tokio::test]
async fn record_order_and_case_are_not_changes() {
    let new = "@ 3600 MX 20 MX2.Diff.Test.\n\
               @ 3600 MX 10 mx1.diff.test.\n\
               mx1 A 192.0.2.11\n\
               mx1 A 192.0.2.1\n\
               mx2 A 192.0.2.2\n\
               mx3 A 192.0.2.3\n";
    let c = diff("order", OLD, new).await;
    assert!(c.is_empty(), "{c:#?}");
}

#[tokio::test]
async fn preference_change_of_the_same_exchanger_is_not_an_add_and_remove() {
    let new = OLD.replace("20 mx2.diff.test.", "5 mx2.diff.test.");
    let c = diff("preference", OLD, &new).await;
    assert_eq!(
        c.preference_changed,
        vec![PreferenceChange {
            exchanger: "mx2.diff.test".into(),
            old: 20,
            new: 5,
        }]
    );
    assert!(c.mx_added.is_empty() && c.mx_removed.is_empty(), "{c:#?}");
    assert_eq!(c.cached_for, Some(3600));
    assert!(
        has_line(&c, "preference of mx2.diff.test: 20 -> 5"),
        "{:?}",
        c.lines()
    );
}

#[tokio::test]
async fn exchanger_losing_an_address_is_reported_with_its_cache_time() {
    let new = OLD.replace("mx1 A 192.0.2.11\n", "");
    let c = diff("loses", OLD, &new).await;
    assert_eq!(c.addresses_changed.len(), 1, "{c:#?}");
    let a = &c.addresses_changed[0];
    assert_eq!(a.exchanger, "mx1.diff.test");
    assert_eq!(
        a.removed,
        vec!["192.0.2.11".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(a.added.is_empty());
    assert_eq!(a.cached_for, Some(300));
    // The MX set itself does not change.
    assert!(c.verdict.is_none() && c.mx_added.is_empty() && c.mx_removed.is_empty());
    assert_eq!(c.cached_for, None);
    assert!(
        has_line(
            &c,
            "exchanger mx1.diff.test loses 192.0.2.11; old addresses may stay in caches for up to 300 s"
        ),
        "{:?}",
        c.lines()
    );
}

#[tokio::test]
async fn exchanger_gaining_an_address_is_reported() {
    let new = OLD.replace(
        "mx2 A 192.0.2.2\n",
        "mx2 A 192.0.2.2\nmx2 AAAA 2001:db8::2\n",
    );
    let c = diff("gains", OLD, &new).await;
    assert_eq!(c.addresses_changed.len(), 1, "{c:#?}");
    let a = &c.addresses_changed[0];
    assert_eq!(a.exchanger, "mx2.diff.test");
    assert_eq!(
        a.added,
        vec!["2001:db8::2".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(a.removed.is_empty());
    assert!(
        has_line(&c, "exchanger mx2.diff.test gains 2001:db8::2"),
        "{:?}",
        c.lines()
    );
}

#[tokio::test]
async fn null_mx_published_changes_the_verdict_to_permanent() {
    let new = "@ 3600 MX 0 .\n";
    let c = diff("null-mx", OLD, new).await;
    let v = c.verdict.expect("verdict change");
    assert_eq!(
        (v.old.status, v.old.outcome),
        (RouteVerdict::Deliverable, RouteKind::Mx)
    );
    assert_eq!(
        (v.new.status, v.new.outcome),
        (RouteVerdict::Permanent, RouteKind::NullMx)
    );
    assert_eq!(c.mx_added, vec![mx(0, ".")]);
    assert_eq!(
        c.mx_removed,
        vec![mx(10, "mx1.diff.test"), mx(20, "mx2.diff.test")]
    );
    assert!(
        has_line(
            &c,
            "verdict: deliverable (mx) -> permanent failure (null_mx)"
        ),
        "{:?}",
        c.lines()
    );
    assert!(has_line(&c, "MX added: 0 . (null MX)"), "{:?}", c.lines());
    assert!(
        has_line(&c, "keep the old exchangers accepting mail that long"),
        "{:?}",
        c.lines()
    );
    // The JSON schema: old/new verdicts in snake case.
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(
        json["verdict"],
        serde_json::json!({
            "old": {"status": "deliverable", "outcome": "mx"},
            "new": {"status": "permanent", "outcome": "null_mx"},
        })
    );
    assert_eq!(
        json["mx_added"],
        serde_json::json!([{"preference": 0, "exchanger": "."}])
    );
    assert!(json.get("live_error").is_none(), "{json}");
}

#[tokio::test]
async fn mx_ttl_change_reports_old_and_new_and_the_old_ttl_still_cached() {
    let new = OLD.replace("@ 3600 MX", "@ 300 MX");
    let c = diff("ttl", OLD, &new).await;
    assert_eq!(
        c.mx_ttl,
        Some(TtlChange {
            old: 3600,
            new: 300
        })
    );
    assert!(c.mx_added.is_empty() && c.mx_removed.is_empty() && c.verdict.is_none());
    assert_eq!(c.cached_for, Some(3600));
    assert!(!c.is_empty());
    assert!(has_line(&c, "MX TTL: 3600 s -> 300 s"), "{:?}", c.lines());
    assert!(
        has_line(&c, "up to 3600 s after publishing"),
        "{:?}",
        c.lines()
    );
}

#[tokio::test]
async fn live_servfail_says_live_dns_could_not_be_read() {
    let fault = FaultServer::start(|_| Reply::ServFail);
    let engine = Engine::new(EngineConfig::new(vec![fault.addr()]))
        .await
        .unwrap();
    let report = run_over("servfail", OLD, Arc::new(engine)).await;
    let c = report.changes.expect("changes even though live DNS failed");
    let e = c.live_error.as_deref().expect("live_error");
    assert!(e.contains("SERVFAIL"), "{e}");
    assert!(!c.is_empty());
    // Nothing was compared, so nothing is claimed to change.
    assert!(c.verdict.is_none() && c.mx_added.is_empty() && c.mx_removed.is_empty());
    assert!(
        has_line(&c, "live DNS could not be read"),
        "{:?}",
        c.lines()
    );
    let json = serde_json::to_value(&c).unwrap();
    assert!(json["live_error"].as_str().unwrap().contains("SERVFAIL"));
}

#[tokio::test]
async fn live_mode_without_zone_files_has_no_diff() {
    let knot = Knot::start(&[("diff.test.", &zone(OLD))]);
    let engine = Engine::new(EngineConfig::new(vec![knot.addr()]))
        .await
        .unwrap();
    let report = check(
        &Domain::parse("diff.test").unwrap(),
        &engine,
        Some(&engine),
        None,
        &ZoneSet::default(),
        &CheckOptions::default(),
    )
    .await;
    assert!(report.changes.is_none(), "{:#?}", report.changes);
}

#[tokio::test]
async fn live_exchanger_lookup_failure_is_not_compared_rather_than_a_verdict_change() {
    use mxkit::dns::RecordType;
    use mxkit::dns::fake::Fake;
    let live = Fake::new()
        .zone(&zone(OLD))
        .unwrap()
        .servfail("mx1.diff.test", RecordType::A)
        .servfail("mx2.diff.test", RecordType::A);
    let report = run_over("exchanger-servfail", OLD, Arc::new(live)).await;
    let c = report.changes.expect("changes");
    assert!(c.live_error.is_none(), "{c:#?}");
    assert!(c.verdict.is_none(), "{c:#?}");
    assert!(c.addresses_changed.is_empty(), "{c:#?}");
    assert!(!c.is_empty());
    assert!(
        has_line(&c, "not compared: verdict: lookups through live DNS failed"),
        "{:?}",
        c.lines()
    );
    assert!(
        has_line(
            &c,
            "not compared: addresses of mx1.diff.test: live DNS failed"
        ),
        "{:?}",
        c.lines()
    );
}

//! docs/rules/secure.md, Rules S1 to S5: the DNSSEC status of every lookup
//! and DANE in routing, from a real validating resolver (Debian's unbound)
//! in front of real signed, unsigned and bogus zones (knotd; the bogus zone
//! signed by ldns with signatures that expired in 2020). Nothing here is
//! faked: a TLSA lookup fails because its CNAME leads into the bogus zone.

use std::net::SocketAddr;
use std::time::Duration;

use mxkit::dane::{TlsRequirement, TlsaStatus};
use mxkit::dns::engine::{Engine, EngineConfig};
use mxkit::dns::zone::ZoneSet;
use mxkit::dns::{Dnssec, Name, Outcome, Overlay, RecordType, TempError, resolve};
use mxkit::route::{Exchanger, ExchangerState, Route, RouteOptions, route_input};
use testbed::shared::{Lease, Shared};
use testbed::unbound::Validating;

#[path = "support/scan_json.rs"]
mod scan_json;

/// One bed for every test of this file (unbound caches, which is what a
/// sender's resolver does too): the zones of `testdata/secure/`.
fn bed() -> Lease<Validating> {
    static BED: Shared<Validating> = Shared::new();
    BED.get(Validating::testdata)
}

async fn engine(server: SocketAddr, dnssec_ok: bool) -> Engine {
    let mut cfg = EngineConfig::new(vec![server]);
    cfg.timeout = Duration::from_secs(2);
    cfg.attempts = 2;
    cfg.dnssec_ok = dnssec_ok;
    Engine::new(cfg).await.unwrap()
}

fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

#[tokio::test]
async fn s1_secure_insecure_and_bogus_answers() {
    let bed = bed();
    for dnssec_ok in [true, false] {
        let e = engine(bed.resolver(), dnssec_ok).await;
        let cases = [
            ("signed.test.", RecordType::MX, Dnssec::Secure),
            // Secure denials: NODATA and NXDOMAIN with the AD bit.
            ("signed.test.", RecordType::TXT, Dnssec::Secure),
            ("nothere.signed.test.", RecordType::MX, Dnssec::Secure),
            ("mx.signed.test.", RecordType::AAAA, Dnssec::Secure),
            ("plain.test.", RecordType::MX, Dnssec::Insecure),
            ("nothere.plain.test.", RecordType::A, Dnssec::Insecure),
            ("expired.test.", RecordType::MX, Dnssec::Bogus),
            ("mx.expired.test.", RecordType::A, Dnssec::Bogus),
        ];
        for (name, rtype, want) in cases {
            let answer = resolve(&e, &n(name), rtype).await;
            assert_eq!(
                answer.dnssec(),
                want,
                "{name} {rtype} (DO {dnssec_ok}): {:?}\n--- unbound ---\n{}",
                answer.outcome,
                bed.unbound.log()
            );
        }
    }
}

/// A bogus answer is never "no record": it is a temporary failure that
/// names the EDE unbound gave (7, Signature Expired, the first time; 6,
/// DNSSEC Bogus, from its cache).
#[tokio::test]
async fn s1_bogus_is_temporary_and_says_why() {
    let bed = bed();
    let e = engine(bed.resolver(), true).await;
    let answer = resolve(&e, &n("expired.test."), RecordType::MX).await;
    let Outcome::Temporary(TempError::Bogus { ede, .. }) = &answer.outcome else {
        panic!("expected bogus, got {:?}", answer.outcome);
    };
    assert!(matches!(ede, 6 | 7), "EDE {ede}");
    assert!(answer.outcome.is_temporary());
    let text = answer.outcome.to_string();
    assert!(
        text.contains("EDE 7 (Signature Expired)") || text.contains("EDE 6 (DNSSEC Bogus)"),
        "{text}"
    );
}

/// A CNAME from a signed zone into an unsigned one: the chain is only as
/// strong as its weakest link.
#[tokio::test]
async fn s1_a_chain_through_an_unsigned_zone_is_insecure() {
    let bed = bed();
    let e = engine(bed.resolver(), true).await;
    let answer = resolve(&e, &n("alias.signed.test."), RecordType::A).await;
    assert_eq!(answer.cname_chain, vec![n("mx.plain.test.")]);
    assert!(matches!(answer.outcome, Outcome::Records(_)));
    assert_eq!(answer.dnssec(), Dnssec::Insecure);
}

/// The route keeps the MX lookup's status and each exchanger's; a bogus
/// exchanger is unusable now (temporary), never "no address".
#[tokio::test]
async fn s1_route_reports_the_status_of_each_lookup() {
    let bed = bed();
    let e = engine(bed.resolver(), true).await;
    let opts = RouteOptions {
        seed: Some(1),
        ..RouteOptions::default()
    };
    let route = route_input(&e, "postmaster@signed.test", &opts).await;
    assert_eq!(route.dnssec, Some(Dnssec::Secure));
    let by_name = |name: &str| {
        route
            .exchangers
            .iter()
            .find(|x| x.name == name)
            .unwrap_or_else(|| panic!("{name} in {:?}", route.exchangers))
    };
    assert_eq!(by_name("mx.signed.test").dnssec, Some(Dnssec::Secure));
    assert_eq!(by_name("mx.plain.test").dnssec, Some(Dnssec::Insecure));

    let route = route_input(&e, "postmaster@plain.test", &opts).await;
    assert_eq!(route.dnssec, Some(Dnssec::Insecure));
    assert_eq!(route.exchangers[0].dnssec, Some(Dnssec::Secure));

    let route = route_input(&e, "postmaster@expired.test", &opts).await;
    assert_eq!(route.dnssec, Some(Dnssec::Bogus));
    assert_eq!(route.outcome.code(), "dns_temporary");

    let off = RouteOptions {
        dnssec: false,
        ..opts.clone()
    };
    let route = route_input(&e, "postmaster@signed.test", &off).await;
    assert_eq!(route.dnssec, None);
    assert!(route.exchangers.iter().all(|x| x.dnssec.is_none()));
    let json = serde_json::to_value(&route).unwrap();
    assert_eq!(json["dnssec"], serde_json::Value::Null);
    assert!(route.exchangers[0].state == ExchangerState::Ok);
}

/// Zone files are never secure: mxkit does not check their signatures.
#[tokio::test]
async fn s1_zone_files_are_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.test.zone");
    std::fs::copy(testbed::unbound::testdata("signed.test.zone"), &path).unwrap();
    let zones = Overlay {
        zones: ZoneSet::load(&[path]).unwrap(),
        fallback: None,
    };
    let answer = resolve(&zones, &n("signed.test."), RecordType::MX).await;
    assert_eq!(answer.dnssec(), Dnssec::Insecure);
}

async fn route_of(bed: &Validating, address: &str) -> Route {
    let e = engine(bed.resolver(), true).await;
    let opts = RouteOptions {
        seed: Some(1),
        ..RouteOptions::default()
    };
    let route = route_input(&e, address, &opts).await;
    scan_json::assert_same(&route);
    route
}

fn exchanger<'a>(route: &'a Route, name: &str) -> &'a Exchanger {
    route
        .exchangers
        .iter()
        .find(|x| x.name == name)
        .unwrap_or_else(|| panic!("{name} in {:#?}", route.exchangers))
}

/// Rules S2 and S4: a secure host with usable TLSA records requires DANE;
/// its records are asked in the same round trip as its addresses (the MX
/// answer is secure), and kept in the route.
#[tokio::test]
async fn s4_usable_records_require_dane() {
    let bed = bed();
    let route = route_of(&bed, "postmaster@signed.test").await;
    let mx = exchanger(&route, "mx.signed.test");
    assert_eq!(mx.tls, Some(TlsRequirement::Dane));
    let tlsa = mx.tlsa.as_ref().unwrap();
    assert_eq!(tlsa.status, TlsaStatus::Usable);
    assert_eq!(tlsa.base, "mx.signed.test");
    assert_eq!(tlsa.dnssec, Dnssec::Secure);
    assert_eq!(
        tlsa.records
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>(),
        ["3 1 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971"]
    );
    // Rule S2: an exchanger in an unsigned zone: no TLSA lookup, TLS when offered.
    let plain = exchanger(&route, "mx.plain.test");
    assert_eq!(plain.tlsa, None);
    assert_eq!(plain.tls, Some(TlsRequirement::Opportunistic));
    assert!(route.warnings.iter().all(|w| w.code != "dane_mx_insecure"));
    let json = serde_json::to_value(&route).unwrap();
    let mx = &json["exchangers"][0];
    assert_eq!(mx["tls"], "dane", "{json:#}");
    assert_eq!(mx["tlsa"]["status"], "usable");
    assert_eq!(mx["dnssec"], "secure");
}

/// Rule S4: only PKIX usages: TLS is mandatory, any certificate.
#[tokio::test]
async fn s4_only_unusable_records_require_tls_without_authentication() {
    let bed = bed();
    let route = route_of(&bed, "postmaster@enc.signed.test").await;
    let mx = exchanger(&route, "enc-mx.signed.test");
    assert_eq!(mx.tls, Some(TlsRequirement::DaneEncrypt));
    let tlsa = mx.tlsa.as_ref().unwrap();
    assert_eq!(tlsa.status, TlsaStatus::Unusable);
    assert_eq!(tlsa.records.len(), 2);
    assert_eq!(route.candidates.len(), 1);
}

/// A secure denial of TLSA records: DANE does not apply.
#[tokio::test]
async fn s4_a_secure_host_without_records_is_opportunistic() {
    let bed = bed();
    let route = route_of(&bed, "postmaster@bare.signed.test").await;
    let mx = exchanger(&route, "bare-mx.signed.test");
    assert_eq!(mx.tls, Some(TlsRequirement::Opportunistic));
    let tlsa = mx.tlsa.as_ref().unwrap();
    assert_eq!(tlsa.status, TlsaStatus::None);
    assert_eq!(tlsa.dnssec, Dnssec::Secure);
    assert!(tlsa.records.is_empty());
}

/// Rule S3: an alias with a secure chain: the target's records first; the
/// original name's when the target has none.
#[tokio::test]
async fn s3_tlsa_base_is_the_alias_target_first_then_the_original() {
    let bed = bed();
    let route = route_of(&bed, "postmaster@cname.signed.test").await;
    let mx = exchanger(&route, "via.signed.test");
    let tlsa = mx.tlsa.as_ref().unwrap();
    assert_eq!(tlsa.base, "target.signed.test");
    assert_eq!(tlsa.records[0].usage, 2);
    assert_eq!(mx.tls, Some(TlsRequirement::Dane));

    let route = route_of(&bed, "postmaster@cname2.signed.test").await;
    let mx = exchanger(&route, "via2.signed.test");
    let tlsa = mx.tlsa.as_ref().unwrap();
    assert_eq!(tlsa.base, "via2.signed.test");
    assert!(tlsa.records[0].to_string().starts_with("3 0 1 "));
    assert_eq!(mx.tls, Some(TlsRequirement::Dane));
}

/// Rule S3: implicit MX: the domain itself is the exchanger and the base.
#[tokio::test]
async fn s3_implicit_mx_uses_the_domain_as_base() {
    let bed = bed();
    let route = route_of(&bed, "postmaster@implicit.signed.test").await;
    assert_eq!(route.outcome.code(), "implicit_mx");
    let host = exchanger(&route, "implicit.signed.test");
    assert_eq!(host.tls, Some(TlsRequirement::Dane));
    assert_eq!(host.tlsa.as_ref().unwrap().base, "implicit.signed.test");
}

/// Rule S5: a failed (bogus) TLSA lookup drops the host now, never
/// downgrades it; with no host left the route is temporary (4.7.5).
#[tokio::test]
async fn s5_failed_tlsa_lookup_defers_the_host() {
    let bed = bed();
    let route = route_of(&bed, "postmaster@failing.signed.test").await;
    assert_eq!(route.outcome.code(), "tlsa_lookup_failed", "{route:#?}");
    assert_eq!(route.error.as_ref().unwrap().dsn, "4.7.5");
    assert!(route.candidates.is_empty());
    let bad = exchanger(&route, "bad-mx.signed.test");
    assert_eq!(bad.state, ExchangerState::TlsaLookupFailed);
    assert_eq!(bad.rule, Some("S5"));
    assert_eq!(bad.tls, None);
    let tlsa = bad.tlsa.as_ref().unwrap();
    assert_eq!(tlsa.status, TlsaStatus::Failed);
    assert_eq!(tlsa.dnssec, Dnssec::Bogus);
    assert!(
        tlsa.error
            .as_deref()
            .unwrap()
            .contains("DNSSEC validation failed"),
        "{tlsa:?}"
    );

    // With a second exchanger, the walk goes on to it.
    let route = route_of(&bed, "postmaster@mixed.signed.test").await;
    assert_eq!(route.outcome.code(), "mx");
    assert!(
        route
            .candidates
            .iter()
            .all(|c| c.exchanger == "mx.signed.test"),
        "{:?}",
        route.candidates
    );
    assert_eq!(
        exchanger(&route, "bad-mx.signed.test").state,
        ExchangerState::TlsaLookupFailed
    );
    assert!(
        route
            .warnings
            .iter()
            .any(|w| w.code == "tlsa_lookup_failed")
    );
}

/// Rule S2: a secure host named by an unsigned MX answer still gets DANE
/// (Postfix's default), with a warning that the MX name was not
/// authenticated.
#[tokio::test]
async fn s2_dane_under_an_insecure_mx_answer() {
    let bed = bed();
    let route = route_of(&bed, "postmaster@plain.test").await;
    assert_eq!(route.dnssec, Some(Dnssec::Insecure));
    let mx = exchanger(&route, "mx.signed.test");
    assert_eq!(mx.tls, Some(TlsRequirement::Dane));
    assert!(
        route.warnings.iter().any(|w| w.code == "dane_mx_insecure"),
        "{:?}",
        route.warnings
    );
}

/// `dane: false` (the default scan) asks no TLSA record and says nothing
/// of TLS or of the exchangers' status; `dnssec: false` neither.
#[tokio::test]
async fn without_dane_no_tlsa_is_asked() {
    let bed = bed();
    let e = engine(bed.resolver(), true).await;
    for opts in [
        RouteOptions {
            dane: false,
            ..RouteOptions::default()
        },
        RouteOptions {
            dnssec: false,
            ..RouteOptions::default()
        },
    ] {
        let route = route_input(&e, "postmaster@failing.signed.test", &opts).await;
        assert_eq!(route.outcome.code(), "mx");
        let bad = exchanger(&route, "bad-mx.signed.test");
        assert_eq!(bad.tlsa, None);
        assert_eq!(bad.tls, None, "not evaluated");
        assert_eq!(bad.dnssec, None);
    }
}

/// The status is only as good as the path to the resolver: a resolver off
/// this host gets a warning (the addresses are only compared; no packet is
/// sent to them).
#[tokio::test]
async fn the_status_from_a_remote_resolver_is_flagged() {
    let bed = bed();
    let mut route = route_of(&bed, "postmaster@signed.test").await;
    let local: SocketAddr = "127.0.0.1:53".parse().unwrap();
    route.warn_remote_resolver(&[
        local,
        "[::1]:53".parse().unwrap(),
        "[::ffff:127.0.0.2]:53".parse().unwrap(),
    ]);
    assert!(route.warnings.is_empty(), "{:?}", route.warnings);
    route.warn_remote_resolver(&[local, "192.0.2.53:53".parse().unwrap()]);
    let w = &route.warnings[0];
    assert_eq!(w.code, "dnssec_from_remote_resolver");
    assert!(w.message.contains("192.0.2.53:53"), "{}", w.message);
    assert!(!w.message.contains("127.0.0.1"), "{}", w.message);
}

/// Counts the questions answered before each question is asked: questions
/// asked with the same count went out in the same round trip.
struct Rounds<L> {
    inner: L,
    done: std::sync::atomic::AtomicUsize,
    asked: std::sync::Mutex<Vec<(String, RecordType, usize)>>,
}

impl<L: mxkit::dns::Lookup> mxkit::dns::Lookup for Rounds<L> {
    fn query<'a>(
        &'a self,
        name: &'a Name,
        rtype: RecordType,
    ) -> mxkit::dns::BoxFuture<'a, mxkit::dns::Response> {
        use std::sync::atomic::Ordering;
        Box::pin(async move {
            let before = self.done.load(Ordering::SeqCst);
            self.asked
                .lock()
                .unwrap()
                .push((name.to_ascii(), rtype, before));
            let resp = self.inner.query(name, rtype).await;
            self.done.fetch_add(1, Ordering::SeqCst);
            resp
        })
    }
}

/// Rule S2 and the cost promise: under a secure MX answer the TLSA queries
/// go out with the address queries, so a secure route still takes two
/// sequential round trips.
#[tokio::test]
async fn tlsa_queries_share_the_address_round_trip() {
    let bed = bed();
    let lookup = Rounds {
        inner: engine(bed.resolver(), true).await,
        done: Default::default(),
        asked: Default::default(),
    };
    let route = route_input(&lookup, "postmaster@signed.test", &RouteOptions::default()).await;
    assert_eq!(
        exchanger(&route, "mx.signed.test").tls,
        Some(TlsRequirement::Dane)
    );
    let asked = lookup.asked.lock().unwrap().clone();
    let rounds: std::collections::BTreeSet<usize> = asked.iter().map(|(_, _, r)| *r).collect();
    assert_eq!(rounds.len(), 2, "two round trips: {asked:?}");
    assert!(
        asked
            .iter()
            .any(|(n, t, r)| n == "_25._tcp.mx.signed.test." && *t == RecordType::TLSA && *r == 1),
        "{asked:?}"
    );
}

/// `mxkit::check` on the bed: the findings of the DNSSEC and DANE rules
/// (docs/rules/check.md, "DNSSEC and DANE").
async fn check_of(bed: &Validating, domain: &str) -> mxkit::check::Report {
    let e = engine(bed.resolver(), true).await;
    let domain = mxkit::address::Domain::parse(domain).unwrap();
    mxkit::check::check(
        &domain,
        &e,
        Some(&e),
        None,
        &ZoneSet::default(),
        &mxkit::check::CheckOptions::default(),
    )
    .await
}

fn fired<'r>(report: &'r mxkit::check::Report, id: &str) -> Vec<&'r mxkit::check::Finding> {
    report.findings.iter().filter(|f| f.id == id).collect()
}

#[tokio::test]
async fn check_reports_signing_and_dane_state() {
    let bed = bed();
    let r = check_of(&bed, "signed.test").await;
    assert!(
        fired(&r, "dnssec-unsigned")
            .iter()
            .all(|f| f.subject == "mx.plain.test"),
        "the MX records are signed: {:#?}",
        r.findings
    );
    assert_eq!(fired(&r, "dnssec-unsigned").len(), 1, "{:#?}", r.findings);
    let roll = fired(&r, "tlsa-no-rollover");
    assert_eq!(roll.len(), 1, "{:#?}", r.findings);
    assert_eq!(roll[0].subject, "mx.signed.test");
    // TLSA records for mx.plain.test, whose zone is not signed.
    let insecure = fired(&r, "tlsa-insecure");
    assert_eq!(insecure.len(), 1, "{:#?}", r.findings);
    assert_eq!(insecure[0].subject, "mx.plain.test");
    assert!(fired(&r, "dnssec-bogus").is_empty());

    let r = check_of(&bed, "plain.test").await;
    let unsigned = fired(&r, "dnssec-unsigned");
    assert!(
        unsigned.iter().any(|f| f.subject == "plain.test"),
        "{:#?}",
        r.findings
    );
}

#[tokio::test]
async fn check_reports_bogus_data_and_failed_tlsa_lookups() {
    let bed = bed();
    let r = check_of(&bed, "expired.test").await;
    let bogus = fired(&r, "dnssec-bogus");
    assert_eq!(bogus.len(), 1, "{:#?}", r.findings);
    assert_eq!(bogus[0].severity, mxkit::check::Severity::Error);

    let r = check_of(&bed, "failing.signed.test").await;
    let failed = fired(&r, "tlsa-lookup-failed");
    assert_eq!(failed.len(), 1, "{:#?}", r.findings);
    assert_eq!(failed[0].subject, "bad-mx.signed.test");

    let r = check_of(&bed, "enc.signed.test").await;
    let unusable = fired(&r, "tlsa-unusable");
    assert_eq!(unusable.len(), 1, "{:#?}", r.findings);
    assert!(
        unusable[0].message.contains("usage 0 or 1"),
        "{}",
        unusable[0].message
    );
}

/// Offline, zone files alone carry no DNSSEC status: the rules say they
/// did not run, and why.
#[tokio::test]
async fn check_offline_skips_the_dnssec_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.test.zone");
    std::fs::copy(testbed::unbound::testdata("signed.test.zone"), &path).unwrap();
    let zones = ZoneSet::load(&[path]).unwrap();
    let overlay = Overlay {
        zones: zones.clone(),
        fallback: None,
    };
    let domain = mxkit::address::Domain::parse("signed.test").unwrap();
    let r = mxkit::check::check(
        &domain,
        &overlay,
        None,
        None,
        &zones,
        &mxkit::check::CheckOptions::default(),
    )
    .await;
    assert!(
        r.skipped
            .iter()
            .any(|s| s.rules.contains(&"dnssec-unsigned") && s.reason.starts_with("offline")),
        "{:#?}",
        r.skipped
    );
    assert!(fired(&r, "dnssec-unsigned").is_empty());
}

/// The pre-publish view: a zone live DNS serves signed counts as signed
/// (`dns::signed_as_live`), so its new TLSA records apply; the diff says
/// what TLS senders will require, and which exchanger a failing TLSA
/// lookup drops.
#[tokio::test]
async fn check_diff_shows_tls_requirements_before_publishing() {
    let bed = bed();
    let e = engine(bed.resolver(), true).await;
    let original = std::fs::read_to_string(testbed::unbound::testdata("signed.test.zone")).unwrap();
    let owner = "_25._tcp.mx.signed.test. IN TLSA ";
    let line = original.lines().find(|l| l.starts_with(owner)).unwrap();
    for (replacement, want) in [
        // The new record is PKIX-only: TLS stays mandatory, unauthenticated.
        (
            format!("{owner}1 1 1 {}", &line[line.len() - 64..]),
            "dane-encrypt",
        ),
        // The new record points into a bogus zone: the host is dropped.
        (
            "_25._tcp.mx.signed.test. IN CNAME tlsa.expired.test.".to_string(),
            "dropped",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signed.test.zone");
        std::fs::write(&path, original.replace(line, &replacement)).unwrap();
        let zones = mxkit::dns::signed_as_live(&ZoneSet::load(&[path]).unwrap(), &e).await;
        assert_eq!(zones.assumed_signed().count(), 1);
        let overlay = Overlay {
            zones: zones.clone(),
            fallback: Some(std::sync::Arc::new(e.clone())),
        };
        let domain = mxkit::address::Domain::parse("signed.test").unwrap();
        let r = mxkit::check::check(
            &domain,
            &overlay,
            Some(&e),
            None,
            &zones,
            &mxkit::check::CheckOptions::default(),
        )
        .await;
        let changes = r.changes.as_ref().expect("a diff");
        assert_eq!(
            changes.tls_changed,
            [mxkit::check::diff::TlsChange {
                exchanger: "mx.signed.test".into(),
                old: "dane",
                new: want,
            }],
            "{changes:#?}"
        );
        assert_eq!(changes.assumed_signed, ["signed.test"]);
        assert!(
            changes.lines().iter().any(|l| l.contains("mx.signed.test")),
            "{:?}",
            changes.lines()
        );
        assert_eq!(r.route.dnssec, Some(Dnssec::Secure));
    }
}

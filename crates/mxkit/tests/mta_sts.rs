//! docs/rules/secure.md, Rules S7 to S12: MTA-STS discovery, fetch, cache
//! and application, and TLS-RPT, against the real test bed
//! (`testbed::sts`): knotd serving `testdata/mta-sts/sts.test.zone` and an
//! HTTPS server on 127.0.171.1:443 that answers each policy host as its
//! case needs (good, redirected, 404, wrong type, oversize, endless, slow,
//! stalled, wrong certificate name, CR-only lines, ...). The policy host's
//! address comes from mxkit's own DNS engine, asking knotd.

use std::sync::Arc;
use std::time::Duration;

use mxkit::dane::TlsRequirement;
use mxkit::dns::engine::{Engine, EngineConfig};
use mxkit::mta_sts::{Cache, Cached, Fetcher, Mode, MtaStsConfig, Source};
use mxkit::route::{ExchangerState, Route, RouteKind, RouteOptions, RouteVerdict, route_input};
use mxkit::smtp::Roots;
use testbed::shared::{Lease, Shared};
use testbed::sts::{GOOD_POLICY, StsBed};

#[path = "support/scan_json.rs"]
mod scan_json;

fn bed() -> Lease<StsBed> {
    static BED: Shared<StsBed> = Shared::new();
    BED.get(StsBed::start)
}

async fn engine(bed: &StsBed) -> Engine {
    let mut cfg = EngineConfig::new(vec![bed.knot.addr()]);
    cfg.timeout = Duration::from_secs(2);
    cfg.attempts = 2;
    Engine::new(cfg).await.unwrap()
}

fn fetcher(bed: &StsBed, timeout: Duration) -> Fetcher {
    let roots = Roots::PemFile(bed.ca.ca_pem_path()).load().unwrap();
    Fetcher::new(roots, timeout)
}

/// Fetching, no cache.
fn live(bed: &StsBed) -> MtaStsConfig {
    MtaStsConfig {
        fetcher: Some(fetcher(bed, Duration::from_secs(3))),
        ..MtaStsConfig::default()
    }
}

async fn route_with(bed: &StsBed, domain: &str, config: MtaStsConfig) -> Route {
    let e = engine(bed).await;
    let opts = RouteOptions {
        seed: Some(1),
        mta_sts: Some(Arc::new(config)),
        ..RouteOptions::default()
    };
    let route = route_input(&e, domain, &opts).await;
    scan_json::assert_same(&route);
    route
}

fn state(route: &Route, name: &str) -> ExchangerState {
    route
        .exchangers
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("{name} in {:#?}", route.exchangers))
        .state
}

fn tls(route: &Route, name: &str) -> Option<TlsRequirement> {
    route
        .exchangers
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.tls)
}

/// Rules S10 and S11 (enforce): mx1 matches by name, a.backup by the
/// one-label wildcard; mx2 and b.a.backup (two labels under the wildcard's
/// base) leave the plan with the rule that removed them.
#[tokio::test]
async fn s10_s11_enforce_keeps_only_matching_exchangers() {
    let bed = bed();
    let route = route_with(&bed, "good.sts.test", live(&bed)).await;
    let sts = route.mta_sts.clone().flatten().expect("a policy");
    assert_eq!(sts.mode, Some(Mode::Enforce));
    assert_eq!(sts.source, Some(Source::Fetched));
    assert_eq!(sts.id.as_deref(), Some("20261201T000000"));
    assert_eq!(sts.max_age, Some(86400));
    assert_eq!(sts.mx, vec!["mx1.good.sts.test", "*.backup.good.sts.test"]);
    assert_eq!(route.status, RouteVerdict::Deliverable);
    let planned: Vec<&str> = route
        .candidates
        .iter()
        .map(|c| c.exchanger.as_str())
        .collect();
    assert_eq!(planned, vec!["mx1.good.sts.test", "a.backup.good.sts.test"]);
    for kept in ["mx1.good.sts.test", "a.backup.good.sts.test"] {
        assert_eq!(state(&route, kept), ExchangerState::Ok);
        assert_eq!(tls(&route, kept), Some(TlsRequirement::MtaSts));
    }
    for gone in ["mx2.good.sts.test", "b.a.backup.good.sts.test"] {
        assert_eq!(state(&route, gone), ExchangerState::MtaStsMismatch);
        let e = route.exchangers.iter().find(|e| e.name == gone).unwrap();
        assert_eq!(e.rule, Some("S11"));
        assert!(e.addresses.is_empty());
    }
    // Rule S12: the TLS-RPT addresses, in order.
    assert_eq!(
        route.tls_rpt.clone().flatten().unwrap(),
        vec![
            "mailto:tls-reports@good.sts.test",
            "https://reports.good.sts.test/v1"
        ]
    );
    // The JSON keys of the contract.
    let json = serde_json::to_value(&route).unwrap();
    assert_eq!(json["mta_sts"]["mode"], "enforce");
    assert_eq!(json["mta_sts"]["source"], "fetched");
    assert_eq!(json["exchangers"][1]["state"], "mta_sts_mismatch");
    assert_eq!(json["exchangers"][0]["tls"], "mta-sts");
    // The fetch as RFC 8461 section 3.3 has it: the path, the Host, no
    // cache validators.
    let requests = bed.https.requests_for("mta-sts.good.sts.test");
    let r = requests.last().expect("a request");
    assert_eq!(r.line, "GET /.well-known/mta-sts.txt HTTP/1.1");
    assert_eq!(r.host_header.as_deref(), Some("mta-sts.good.sts.test"));
    assert!(r.header("if-none-match").is_none() && r.header("if-modified-since").is_none());
}

/// Rule S11: every exchanger removed is a temporary failure, never a
/// bounce (RFC 8461 section 5: the policy may be updated).
#[tokio::test]
async fn s11_no_matching_exchanger_defers() {
    let bed = bed();
    let route = route_with(&bed, "nomatch.sts.test", live(&bed)).await;
    assert_eq!(route.outcome, RouteKind::MtaStsMismatch);
    assert_eq!(route.status, RouteVerdict::Temporary);
    assert_eq!(route.error.as_ref().unwrap().dsn, "4.7.5");
    assert!(route.candidates.is_empty());
}

/// Rule S11: testing removes nothing and reports the mismatch; none
/// applies nothing. Implicit MX matches the domain itself.
#[tokio::test]
async fn s11_testing_none_and_implicit_mx() {
    let bed = bed();
    let route = route_with(&bed, "testing.sts.test", live(&bed)).await;
    assert_eq!(route.candidates.len(), 2);
    assert_eq!(
        tls(&route, "mx1.testing.sts.test"),
        Some(TlsRequirement::MtaStsTesting)
    );
    assert_eq!(
        tls(&route, "other.testing.sts.test"),
        Some(TlsRequirement::Opportunistic)
    );
    assert!(route.warnings.iter().any(|w| w.code == "mta_sts_mismatch"
        && w.message.contains("other.testing.sts.test")
        && w.message.contains("testing mode")));

    let route = route_with(&bed, "none.sts.test", live(&bed)).await;
    assert_eq!(
        route.mta_sts.clone().flatten().unwrap().mode,
        Some(Mode::None)
    );
    assert_eq!(
        tls(&route, "mx.none.sts.test"),
        Some(TlsRequirement::Opportunistic)
    );

    let route = route_with(&bed, "implicit.sts.test", live(&bed)).await;
    assert_eq!(route.outcome, RouteKind::ImplicitMx);
    assert_eq!(
        tls(&route, "implicit.sts.test"),
        Some(TlsRequirement::MtaSts)
    );
    // No TLS-RPT record: null, not absent.
    assert_eq!(route.tls_rpt, Some(None));
}

/// Rule S7: the record's strings are joined; a record of another protocol
/// beside it does not count; records that almost parse give no policy and
/// no fetch; a domain without a record has `mta_sts: null`.
#[tokio::test]
async fn s7_discovery() {
    let bed = bed();
    for d in ["split.sts.test", "mixed.sts.test"] {
        let route = route_with(&bed, d, live(&bed)).await;
        let sts = route.mta_sts.clone().flatten().unwrap();
        assert_eq!(
            (sts.mode, sts.source),
            (Some(Mode::Enforce), Some(Source::Fetched)),
            "{d}"
        );
    }
    for (d, why) in [
        ("two", "2 records"),
        ("noid", "no field"),
        ("longid", "40 characters"),
        ("spacing", "does not begin with exactly"),
    ] {
        let domain = format!("{d}.sts.test");
        let route = route_with(&bed, &domain, live(&bed)).await;
        let sts = route
            .mta_sts
            .clone()
            .flatten()
            .expect("a report of the broken record");
        assert_eq!(sts.mode, None, "{d}");
        assert!(
            sts.error.as_deref().unwrap_or("").contains(why),
            "{d}: {:?}",
            sts.error
        );
        assert_eq!(
            route.candidates.len(),
            1,
            "{d}: delivered as without a policy"
        );
        assert_eq!(
            tls(&route, &format!("mx.{d}.sts.test")),
            Some(TlsRequirement::Opportunistic)
        );
        assert_eq!(bed.fetches(&domain), 0, "{d}: nothing fetched");
        if d == "two" {
            // Rule S12: a TLS-RPT record that does not parse is none.
            assert_eq!(route.tls_rpt, Some(None));
        }
    }
    let route = route_with(&bed, "gone.sts.test", live(&bed)).await;
    assert_eq!(route.mta_sts, Some(None));
    assert_eq!(bed.fetches("gone.sts.test"), 0);
}

/// Rule S8: every broken server or file is "no policy" with the reason,
/// within the deadline, and delivery goes on as without a policy (a failed
/// fetch never fails mail). A redirect is never followed; a chunked body
/// is fine.
#[tokio::test]
async fn s8_broken_fetches_give_no_policy_and_say_why() {
    let bed = bed();
    let cases = [
        (
            "redirect",
            "HTTP 301 redirect to https://mta-sts.target.sts.test",
        ),
        ("notfound", "HTTP status 404"),
        ("ctype", "content type \"text/html\""),
        ("noctype", "content type \"\""),
        ("oversize", "larger than 65536"),
        ("endless", "larger than 65536"),
        ("slow", "no complete answer within"),
        ("stall", "no complete answer within"),
        ("handshake", "no complete answer within"),
        ("wrongname", "TLS with mta-sts.wrongname.sts.test failed"),
        ("cronly", "CR alone"),
        ("dupkeys", "mode is given twice"),
        ("bigage", "max_age"),
        ("wildwild", "wildcard is allowed only"),
        ("html", "not \"key: value\""),
    ];
    let config = || MtaStsConfig {
        fetcher: Some(fetcher(&bed, Duration::from_secs(2))),
        ..MtaStsConfig::default()
    };
    let runs = cases.iter().map(|(d, _)| {
        let domain = format!("{d}.sts.test");
        let bed = &bed;
        let config = config();
        async move {
            let started = std::time::Instant::now();
            let route = route_with(bed, &domain, config).await;
            (route, started.elapsed())
        }
    });
    let results = futures::future::join_all(runs).await;
    for ((d, why), (route, took)) in cases.iter().zip(results) {
        let sts = route.mta_sts.clone().flatten().expect("a report");
        assert_eq!(sts.mode, None, "{d}: {sts:?}");
        let error = sts.error.unwrap_or_default();
        assert!(error.contains(why), "{d}: {error}");
        assert_eq!(route.status, RouteVerdict::Deliverable, "{d}");
        assert_eq!(
            tls(&route, &format!("mx.{d}.sts.test")),
            Some(TlsRequirement::Opportunistic),
            "{d}"
        );
        assert!(took < Duration::from_secs(8), "{d} took {took:?}");
        assert!(
            route.warnings.iter().any(|w| w.code == "mta_sts_error"),
            "{d}"
        );
    }
    assert_eq!(
        bed.fetches("target.sts.test"),
        0,
        "the redirect was followed"
    );
    let route = route_with(&bed, "chunked.sts.test", live(&bed)).await;
    assert_eq!(
        route.mta_sts.clone().flatten().unwrap().mode,
        Some(Mode::Enforce)
    );
}

/// Rule S9: a fetched policy is cached; the same id is served from the
/// cache without a fetch; another id fetches again; a failed fetch applies
/// the unexpired cached policy, an expired one is not applied; a record
/// that vanished leaves the cached policy in force until it expires.
#[tokio::test]
async fn s9_cache() {
    let bed = bed();
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let config = || MtaStsConfig {
        fetcher: Some(fetcher(&bed, Duration::from_secs(3))),
        cache: Some(cache.clone()),
        ..MtaStsConfig::default()
    };
    let first = route_with(&bed, "good.sts.test", config()).await;
    assert_eq!(
        first.mta_sts.clone().flatten().unwrap().source,
        Some(Source::Fetched)
    );
    let stored = cache.get("good.sts.test").expect("cached");
    assert_eq!(stored.id, "20261201T000000");
    assert_eq!(stored.text, GOOD_POLICY);
    let second = route_with(&bed, "good.sts.test", config()).await;
    assert_eq!(
        second.mta_sts.clone().flatten().unwrap().source,
        Some(Source::Cache)
    );
    assert_eq!(second.candidates, first.candidates);

    // Another id in the cache: fetched again, and the cache replaced.
    cache
        .put(&Cached {
            id: "old".into(),
            ..stored.clone()
        })
        .unwrap();
    let third = route_with(&bed, "good.sts.test", config()).await;
    assert_eq!(
        third.mta_sts.clone().flatten().unwrap().source,
        Some(Source::Fetched)
    );
    assert_eq!(cache.get("good.sts.test").unwrap().id, "20261201T000000");

    // The fetch fails (404): the cached policy applies, with the reason.
    let now = mxkit::mta_sts::now();
    let cached_404 = Cached {
        domain: "notfound.sts.test".into(),
        id: "0".into(),
        fetched_at: now - 10,
        text: testbed::sts::enforce("mx.notfound.sts.test"),
    };
    cache.put(&cached_404).unwrap();
    let route = route_with(&bed, "notfound.sts.test", config()).await;
    let sts = route.mta_sts.clone().flatten().unwrap();
    assert_eq!(
        (sts.mode, sts.source),
        (Some(Mode::Enforce), Some(Source::Cache))
    );
    assert!(sts.error.unwrap().contains("HTTP status 404"));
    assert_eq!(
        tls(&route, "mx.notfound.sts.test"),
        Some(TlsRequirement::MtaSts)
    );
    // Expired (fetched a week and a second ago, max_age a week): not applied.
    cache
        .put(&Cached {
            fetched_at: now - 604_801,
            ..cached_404
        })
        .unwrap();
    let route = route_with(&bed, "notfound.sts.test", config()).await;
    assert_eq!(route.mta_sts.clone().flatten().unwrap().mode, None);

    // RFC 8461 section 5.1: no record now, a cached policy: applied.
    cache
        .put(&Cached {
            domain: "gone.sts.test".into(),
            id: "7".into(),
            fetched_at: now,
            text: testbed::sts::enforce("other.gone.sts.test"),
        })
        .unwrap();
    let route = route_with(&bed, "gone.sts.test", config()).await;
    let sts = route.mta_sts.clone().flatten().unwrap();
    assert_eq!(sts.source, Some(Source::Cache));
    assert_eq!(route.outcome, RouteKind::MtaStsMismatch);
}

/// A policy file in place of the fetch (`--mta-sts-policy`), offline: the
/// what-if before publishing; the cache is neither read nor written.
#[tokio::test]
async fn a_policy_file_replaces_the_fetch() {
    let bed = bed();
    let before = bed.fetches("nomatch.sts.test");
    let config = MtaStsConfig {
        fetcher: None,
        files: vec![(
            "nomatch.sts.test".into(),
            testbed::sts::enforce("*.nomatch.sts.test").into_bytes(),
        )],
        cache: None,
    };
    let route = route_with(&bed, "nomatch.sts.test", config).await;
    let sts = route.mta_sts.clone().flatten().unwrap();
    assert_eq!(sts.source, Some(Source::File));
    assert_eq!(sts.id.as_deref(), Some("1"));
    assert_eq!(route.status, RouteVerdict::Deliverable);
    assert_eq!(
        tls(&route, "mx.nomatch.sts.test"),
        Some(TlsRequirement::MtaSts)
    );
    assert_eq!(bed.fetches("nomatch.sts.test"), before);
    // Fetching off and nothing cached: the record is seen, no policy.
    let route = route_with(&bed, "good.sts.test", MtaStsConfig::default()).await;
    let sts = route.mta_sts.clone().flatten().unwrap();
    assert_eq!(sts.mode, None);
    assert!(sts.error.unwrap().contains("fetching is off"));
}

/// Rule S11 with DANE, on the signed zones behind a validating unbound
/// (`testdata/secure`): a host with usable TLSA records keeps `dane` though
/// the policy does not list it; a host whose TLSA lookup fails stays out
/// though the policy lists it; a host without TLSA records takes
/// `mta-sts`; a host with only unusable records, unlisted, is removed.
#[tokio::test]
async fn s11_dane_wins_and_is_never_rescued() {
    use mxkit::dns::Dnssec;
    use testbed::https::{Behavior, PolicyServer, Site};
    let secure = testbed::unbound::Validating::testdata();
    let ca = testbed::certs::TestCa::new();
    let _https = PolicyServer::start(
        "127.0.171.2:443".parse().unwrap(),
        &ca,
        vec![Site::new(
            "mta-sts.stsdane.signed.test",
            Behavior::policy(&testbed::sts::enforce(
                "bad-mx.signed.test\nmx: bare-mx.signed.test",
            )),
        )],
    );
    let mut cfg = EngineConfig::new(vec![secure.resolver()]);
    cfg.timeout = Duration::from_secs(2);
    cfg.attempts = 2;
    cfg.dnssec_ok = true;
    let e = Engine::new(cfg).await.unwrap();
    let roots = Roots::PemFile(ca.ca_pem_path()).load().unwrap();
    let opts = RouteOptions {
        seed: Some(1),
        loopback_is_self: false,
        mta_sts: Some(Arc::new(MtaStsConfig {
            fetcher: Some(Fetcher::new(roots, Duration::from_secs(3))),
            ..MtaStsConfig::default()
        })),
        ..RouteOptions::default()
    };
    let route = route_input(&e, "stsdane.signed.test", &opts).await;
    assert_eq!(route.dnssec, Some(Dnssec::Secure));
    assert_eq!(
        route.mta_sts.clone().flatten().unwrap().mode,
        Some(Mode::Enforce),
        "{route:#?}"
    );
    assert_eq!(tls(&route, "mx.signed.test"), Some(TlsRequirement::Dane));
    assert!(route.warnings.iter().any(|w| w.code == "mta_sts_dane_wins"));
    assert_eq!(
        state(&route, "bad-mx.signed.test"),
        ExchangerState::TlsaLookupFailed
    );
    assert_eq!(
        tls(&route, "bare-mx.signed.test"),
        Some(TlsRequirement::MtaSts)
    );
    assert_eq!(
        state(&route, "enc-mx.signed.test"),
        ExchangerState::MtaStsMismatch
    );
    let planned: Vec<&str> = route
        .candidates
        .iter()
        .map(|c| c.exchanger.as_str())
        .collect();
    assert_eq!(
        planned,
        vec!["mx.signed.test", "mx.signed.test", "bare-mx.signed.test"]
    );

    // A testing policy (here from a file) never weakens DANE: the host with
    // only unusable TLSA records keeps TLS mandatory; the host without TLSA
    // records takes mta-sts-testing.
    let testing = "version: STSv1\nmode: testing\nmx: bare-mx.signed.test\nmx: enc-mx.signed.test\nmax_age: 60\n";
    let opts = RouteOptions {
        mta_sts: Some(Arc::new(MtaStsConfig {
            files: vec![("stsdane.signed.test".into(), testing.as_bytes().to_vec())],
            ..MtaStsConfig::default()
        })),
        ..opts
    };
    let route = route_input(&e, "stsdane.signed.test", &opts).await;
    assert_eq!(
        route.mta_sts.clone().flatten().unwrap().mode,
        Some(Mode::Testing)
    );
    assert_eq!(
        tls(&route, "enc-mx.signed.test"),
        Some(TlsRequirement::DaneEncrypt)
    );
    assert_eq!(
        tls(&route, "bare-mx.signed.test"),
        Some(TlsRequirement::MtaStsTesting)
    );
    assert_eq!(tls(&route, "mx.signed.test"), Some(TlsRequirement::Dane));
}

/// Rule S9: a cache that cannot be written is a warning; the fetched
/// policy still applies.
#[tokio::test]
async fn s9_an_unwritable_cache_is_a_warning() {
    let bed = bed();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"").unwrap();
    let config = MtaStsConfig {
        fetcher: Some(fetcher(&bed, Duration::from_secs(3))),
        cache: Some(Cache::new(file.join("mta-sts"))),
        ..MtaStsConfig::default()
    };
    let route = route_with(&bed, "implicit.sts.test", config).await;
    assert_eq!(
        route.mta_sts.clone().flatten().unwrap().source,
        Some(Source::Fetched)
    );
    let w = route
        .warnings
        .iter()
        .find(|w| w.code == "mta_sts_cache_failed")
        .unwrap_or_else(|| panic!("{:?}", route.warnings));
    assert!(
        w.message
            .contains("cannot store the MTA-STS policy of implicit.sts.test"),
        "{}",
        w.message
    );
}

/// A fetcher limited to global addresses (`mxkit serve`) does not connect
/// to the policy host on loopback: no policy, and the reason.
#[tokio::test]
async fn a_fetcher_limited_to_global_addresses_does_not_connect() {
    let bed = bed();
    let mut f = fetcher(&bed, Duration::from_secs(3));
    f.targets = mxkit::targets::Targets::Global(Vec::new());
    let config = MtaStsConfig {
        fetcher: Some(f),
        ..MtaStsConfig::default()
    };
    let route = route_with(&bed, "split.sts.test", config).await;
    let sts = route.mta_sts.clone().flatten().unwrap();
    assert_eq!(sts.mode, None);
    let error = sts.error.unwrap_or_default();
    assert!(
        error.contains("127.0.171.1 is not a global address"),
        "{error}"
    );
    assert_eq!(
        bed.fetches("split.sts.test"),
        0,
        "no request reached the server"
    );
}

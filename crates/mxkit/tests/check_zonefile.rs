//! The rule on the loaded zone files themselves (`mxkit::check::zonefile`):
//! `zone-apex-incomplete`, a zone without an SOA or without NS records at
//! its apex, which named-checkzone (BIND, Debian's bind9-utils) refuses to
//! load, and knotd too when the SOA is missing: checked against both. The
//! zone file `testdata/check/zone-apex-incomplete.zone` has no NS at its
//! apex; other cases are written inline; `testdata/check/clean.zone` has
//! both.

use std::path::{Path, PathBuf};

use mxkit::address::Domain;
use mxkit::check::{CheckOptions, Finding, Report, Severity, check};
use mxkit::dns::Overlay;
use mxkit::dns::zone::{Zone, ZoneSet};
use testbed::knot::Knot;

fn zone_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/check")
        .join(format!("{name}.zone"))
}

/// Check `domain` offline against `zones`.
fn run(zones: ZoneSet, domain: &str) -> Report {
    let lookup = Overlay {
        zones: zones.clone(),
        fallback: None,
    };
    let domain = Domain::parse(domain).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(check(
            &domain,
            &lookup,
            None,
            None,
            &zones,
            &CheckOptions::default(),
        ))
}

fn findings(r: &Report) -> Vec<&Finding> {
    r.findings
        .iter()
        .filter(|f| f.id == "zone-apex-incomplete")
        .collect()
}

fn text(label: &str, text: &str) -> ZoneSet {
    let mut zones = ZoneSet::new();
    zones.push(Zone::parse(text, label, None).unwrap());
    zones
}

#[test]
fn zone_apex_incomplete_without_ns() {
    let path = zone_path("zone-apex-incomplete");
    let r = run(
        ZoneSet::load(std::slice::from_ref(&path)).unwrap(),
        "zone-apex-incomplete.test",
    );
    let found = findings(&r);
    assert_eq!(found.len(), 1, "{:#?}", r.findings);
    let f = found[0];
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.subject, "zone-apex-incomplete.test.");
    assert_eq!(
        f.message,
        format!(
            "the zone file {} (zone zone-apex-incomplete.test.) has no NS record at its apex: \
             named-checkzone refuses to load such a zone (BIND would not serve it; knotd \
             serves it with a warning), and its servers could not name themselves when asked \
             for its NS records",
            path.display()
        )
    );
    let evidence: Vec<(String, Option<String>, String)> = f
        .evidence
        .iter()
        .map(|e| (e.source.clone(), e.query.clone(), e.answer.clone()))
        .collect();
    assert_eq!(
        evidence,
        [(
            path.display().to_string(),
            Some("zone-apex-incomplete.test. NS".to_string()),
            "no NS record at the apex in the file".to_string()
        )]
    );
    assert_eq!(
        f.fix.as_deref(),
        Some(
            "add the name servers of the zone at its apex: \
             `zone-apex-incomplete.test. IN NS ns1.example.net.`"
        )
    );
    assert_eq!(f.rfc, "RFC 1035 section 5.2, RFC 1034 section 4.2.1");
}

#[test]
fn zone_apex_incomplete_without_soa_or_without_both() {
    let r = run(
        text(
            "nosoa.test.zone",
            "$ORIGIN nosoa.test.\n@ NS ns1.example.net.\n@ MX 10 mail\nmail A 185.12.64.25\n",
        ),
        "nosoa.test",
    );
    let found = findings(&r);
    assert_eq!(found.len(), 1, "{:#?}", r.findings);
    assert!(
        found[0].message.contains("has no SOA record at its apex"),
        "{}",
        found[0].message
    );
    assert_eq!(
        found[0].fix.as_deref(),
        Some(
            "add the start of authority at the zone's apex: `nosoa.test. IN SOA \
             ns1.nosoa.test. hostmaster.nosoa.test. 1 7200 900 1209600 300` (with your \
             primary name server and contact)"
        )
    );
    let r = run(
        text(
            "bare.test.zone",
            "$ORIGIN bare.test.\n@ MX 10 mail\nmail A 185.12.64.25\n",
        ),
        "bare.test",
    );
    let found = findings(&r);
    assert_eq!(found.len(), 1, "{:#?}", r.findings);
    assert!(
        found[0]
            .message
            .contains("has no SOA record and no NS record at its apex"),
        "{}",
        found[0].message
    );
    let queries: Vec<String> = found[0]
        .evidence
        .iter()
        .filter_map(|e| e.query.clone())
        .collect();
    assert_eq!(queries, ["bare.test. SOA", "bare.test. NS"]);
    assert!(
        found[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("`bare.test. IN NS ns1.bare.test.`")
    );
    // Every loaded zone is looked at, not only the domain's own.
    let mut zones = ZoneSet::load(&[zone_path("clean")]).unwrap();
    zones.push(
        Zone::parse(
            "$ORIGIN other.test.\nwww A 185.12.64.25\n",
            "other.test.zone",
            None,
        )
        .unwrap(),
    );
    let r = run(zones, "clean.test");
    let found = findings(&r);
    assert_eq!(found.len(), 1, "{:#?}", r.findings);
    assert_eq!(found[0].subject, "other.test.");
}

#[test]
fn zone_apex_incomplete_is_quiet_on_a_complete_zone() {
    let r = run(ZoneSet::load(&[zone_path("clean")]).unwrap(), "clean.test");
    assert!(findings(&r).is_empty(), "{:#?}", r.findings);
}

/// named-checkzone (BIND) on a zone file: (exit status, output).
fn named_checkzone(origin: &str, path: &Path) -> (i32, String) {
    let out = std::process::Command::new("named-checkzone")
        .arg(origin)
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run named-checkzone ({e}): install Debian's package bind9-utils \
                 (scripts/test does this)"
            )
        });
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The premise, checked against the real tools: named-checkzone refuses
/// the zones this rule fires on and accepts the clean one; knotd refuses
/// the one without an SOA (and, as the message says, only warns about the
/// one without NS).
#[test]
fn named_checkzone_and_knotd_refuse_what_the_rule_reports() {
    let no_ns = zone_path("zone-apex-incomplete");
    let (code, out) = named_checkzone("zone-apex-incomplete.test", &no_ns);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("has no NS records"), "{out}");
    let (code, out) = named_checkzone("clean.test", &zone_path("clean"));
    assert_eq!(code, 0, "{out}");

    let dir = std::env::temp_dir().join(format!("mxkit-check-zonefile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let no_soa = dir.join("nosoa.test.zone");
    let text = "$ORIGIN nosoa.test.\n$TTL 3600\n@ NS ns1.example.net.\n@ MX 10 mail\nmail A 185.12.64.25\n";
    std::fs::write(&no_soa, text).unwrap();
    let (code, out) = named_checkzone("nosoa.test", &no_soa);
    assert_eq!(code, 1, "{out}");
    let r = run(
        ZoneSet::load(std::slice::from_ref(&no_soa)).unwrap(),
        "nosoa.test",
    );
    assert_eq!(findings(&r).len(), 1, "{:#?}", r.findings);
    let refused = std::panic::catch_unwind(|| Knot::start(&[("nosoa.test", text)]));
    assert!(refused.is_err(), "knotd loaded a zone without an SOA");
    std::fs::remove_dir_all(&dir).unwrap();
    let bad = std::fs::read_to_string(&no_ns).unwrap();
    let _knot = Knot::start(&[("zone-apex-incomplete.test", &bad)]);
}

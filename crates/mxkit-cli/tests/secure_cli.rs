//! Secure routing through the binary (docs/rules/secure.md): `route` with
//! `--dnssec` against the real validating bed of `testdata/secure/`
//! (knotd signing, unbound validating, a zone with expired signatures).

use assert_cmd::Command;
use serde_json::Value;
use testbed::shared::{Lease, Shared};
use testbed::unbound::Validating;

fn bed() -> Lease<Validating> {
    static BED: Shared<Validating> = Shared::new();
    BED.get(Validating::testdata)
}

/// `mxkit route ADDRESS --server <unbound> ARGS`: exit code and stdout.
fn route(bed: &Validating, address: &str, args: &[&str]) -> (i32, String) {
    let server = bed.resolver().to_string();
    let out = Command::cargo_bin("mxkit")
        .unwrap()
        .args(["route", address, "--server", &server, "--seed", "1"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        out.stderr.is_empty() || code == 64,
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, stdout)
}

fn json(bed: &Validating, address: &str, args: &[&str], code: i32) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (got, stdout) = route(bed, address, &all);
    assert_eq!(got, code, "{stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// Rules S1 and S4 in JSON: the statuses, the TLSA lookup and the TLS
/// requirement of each exchanger.
#[test]
fn s4_route_json_shows_dane() {
    let bed = bed();
    let v = json(&bed, "postmaster@signed.test", &[], 0);
    assert_eq!(v["dnssec"], "secure", "{v:#}");
    let mx = &v["exchangers"][0];
    assert_eq!(mx["name"], "mx.signed.test");
    assert_eq!(mx["dnssec"], "secure");
    assert_eq!(mx["tls"], "dane");
    assert_eq!(mx["tlsa"]["status"], "usable");
    assert_eq!(mx["tlsa"]["base"], "mx.signed.test");
    assert_eq!(
        mx["tlsa"]["records"][0],
        "3 1 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971"
    );
    let plain = &v["exchangers"][1];
    assert_eq!(plain["dnssec"], "insecure");
    assert_eq!(plain["tls"], "opportunistic");
    assert!(plain.get("tlsa").is_none());
}

/// The text plan says what TLS each candidate requires.
#[test]
fn s4_route_text_shows_the_tls_requirement() {
    let bed = bed();
    let (code, text) = route(&bed, "postmaster@signed.test", &[]);
    assert_eq!(code, 0, "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("mx.signed.test") && l.contains("198.18.1.10"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains("DANE: TLS, certificate must match _25._tcp.mx.signed.test TLSA"),
        "{text}"
    );
    assert!(text.contains("DNSSEC-validated"), "{text}");
    let (code, text) = route(&bed, "postmaster@enc.signed.test", &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("DANE: TLS required, any certificate"),
        "{text}"
    );
}

/// Rule S5: every exchanger's TLSA lookup failed: temporary (exit 3),
/// said why, the host listed as removed.
#[test]
fn s5_route_defers_when_tlsa_lookups_fail() {
    let bed = bed();
    let v = json(&bed, "postmaster@failing.signed.test", &[], 3);
    assert_eq!(v["outcome"], "tlsa_lookup_failed", "{v:#}");
    assert_eq!(v["error"]["dsn"], "4.7.5");
    assert_eq!(v["exchangers"][0]["state"], "tlsa_lookup_failed");
    assert_eq!(v["exchangers"][0]["rule"], "S5");
    let (code, text) = route(&bed, "postmaster@failing.signed.test", &[]);
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("TLSA lookup failed: not used now (Rule S5)"),
        "{text}"
    );
    // unbound says EDE 7 (Signature Expired) the first time, EDE 6 (DNSSEC
    // Bogus) from its cache after that.
    assert!(text.contains("DNSSEC validation failed at"), "{text}");
    assert!(
        text.contains("EDE 7 (Signature Expired)") || text.contains("EDE 6 (DNSSEC Bogus)"),
        "{text}"
    );
    assert!(text.contains("temporary failure 4.7.5"), "{text}");
}

/// Rule S1: bogus MX data is a temporary failure, not "no such domain".
#[test]
fn s1_bogus_mx_is_temporary() {
    let bed = bed();
    let v = json(&bed, "postmaster@expired.test", &[], 3);
    assert_eq!(v["dnssec"], "bogus", "{v:#}");
    assert_eq!(v["outcome"], "dns_temporary");
}

/// `--dnssec off`: no status, no DANE.
#[test]
fn dnssec_off_reports_no_status_and_no_dane() {
    let bed = bed();
    let v = json(
        &bed,
        "postmaster@failing.signed.test",
        &["--dnssec", "off"],
        0,
    );
    assert_eq!(v["dnssec"], Value::Null, "{v:#}");
    let mx = &v["exchangers"][0];
    assert!(
        mx.get("dnssec").is_none() && mx.get("tlsa").is_none(),
        "{v:#}"
    );
    assert!(mx.get("tls").is_none(), "{v:#}");
    let (code, _) = route(&bed, "postmaster@signed.test", &["--dnssec", "validate"]);
    assert_eq!(code, 64);
}

/// `scan --secure`: each line's exchangers carry their TLSA lookup and TLS
/// requirement; the default scan asks no TLSA record (but still reports the
/// MX lookup's status from the AD bit).
#[test]
fn scan_secure_adds_dane_to_each_line() {
    let bed = bed();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("domains.txt");
    std::fs::write(&input, "signed.test\nfailing.signed.test\nplain.test\n").unwrap();
    let server = bed.resolver().to_string();
    let scan = |extra: &[&str]| -> Vec<Value> {
        let out = Command::cargo_bin("mxkit")
            .unwrap()
            .arg("scan")
            .arg(&input)
            .args(["--server", &server, "--seed", "1", "--no-progress"])
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut lines: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        lines.sort_by_key(|l| l["line"].as_u64());
        assert_eq!(lines.len(), 3, "{stdout}");
        lines
    };
    let secure = scan(&["--secure"]);
    assert_eq!(secure[0]["dnssec"], "secure");
    assert_eq!(secure[0]["exchangers"][0]["tls"], "dane", "{:#}", secure[0]);
    assert_eq!(
        secure[1]["outcome"], "tlsa_lookup_failed",
        "{:#}",
        secure[1]
    );
    assert_eq!(secure[2]["dnssec"], "insecure");
    assert_eq!(secure[2]["exchangers"][0]["tls"], "dane");

    // The default scan: the MX lookup's status, nothing more.
    let plain = scan(&[]);
    assert_eq!(plain[0]["dnssec"], "secure", "{:#}", plain[0]);
    for key in ["tlsa", "tls", "dnssec"] {
        assert!(
            plain[0]["exchangers"][0].get(key).is_none(),
            "{:#}",
            plain[0]
        );
    }
    assert_eq!(plain[1]["outcome"], "mx");
}

/// `scan --secure --zone` on several threads: the zone live DNS serves
/// signed counts as signed whichever thread routes a line (the first
/// thread's sources ask which zones are signed; the others take its
/// answer), so every line gets the TLS the new records require.
#[test]
fn scan_secure_zone_is_signed_on_every_thread() {
    let bed = bed();
    let original = std::fs::read_to_string(testbed::unbound::testdata("signed.test.zone")).unwrap();
    let changed = original.replace(
        "_25._tcp.mx.signed.test. IN TLSA 3 1 1 ",
        "_25._tcp.mx.signed.test. IN TLSA 1 1 1 ",
    );
    assert_ne!(changed, original);
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("signed.test.zone");
    std::fs::write(&zone, changed).unwrap();
    let input = dir.path().join("domains.txt");
    std::fs::write(&input, "signed.test\n".repeat(64)).unwrap();
    let server = bed.resolver().to_string();
    let out = Command::cargo_bin("mxkit")
        .unwrap()
        .arg("scan")
        .arg(&input)
        .args([
            "--server",
            &server,
            "--secure",
            "--threads",
            "2",
            "--no-progress",
        ])
        .arg("--zone")
        .arg(&zone)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 64, "{stdout}");
    for line in &lines {
        assert_eq!(line["dnssec"], "secure", "{line:#}");
        assert_eq!(line["exchangers"][0]["tls"], "dane-encrypt", "{line:#}");
    }
}

/// `check --zone` before publishing: the zone live DNS serves signed counts
/// as signed, and "Changes for senders" says what TLS they will require.
#[test]
fn check_zone_diff_shows_the_tls_change() {
    let bed = bed();
    let original = std::fs::read_to_string(testbed::unbound::testdata("signed.test.zone")).unwrap();
    let owner = "_25._tcp.mx.signed.test. IN TLSA 3 1 1 ";
    let changed = original.replace(owner, "_25._tcp.mx.signed.test. IN TLSA 1 1 1 ");
    assert_ne!(changed, original);
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("signed.test.zone");
    std::fs::write(&zone, changed).unwrap();
    let server = bed.resolver().to_string();
    let out = Command::cargo_bin("mxkit")
        .unwrap()
        .args(["check", "signed.test", "--no-smtp", "--server", &server])
        .arg("--zone")
        .arg(&zone)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let j: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let changes = &j["changes"];
    assert_eq!(changes["assumed_signed"][0], "signed.test", "{j:#}");
    assert_eq!(changes["tls_changed"][0]["exchanger"], "mx.signed.test");
    assert_eq!(changes["tls_changed"][0]["old"], "dane");
    assert_eq!(changes["tls_changed"][0]["new"], "dane-encrypt");
    // The new records are judged too: all unusable.
    assert!(
        j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "tlsa-unusable" && f["subject"] == "mx.signed.test"),
        "{j:#}"
    );
}

//! `mxkit route|probe|check` with MTA-STS and TLS-RPT (docs/rules/secure.md,
//! Rules S7 to S12) against the real test bed (`testbed::sts`: knotd with
//! `testdata/mta-sts/sts.test.zone`, the HTTPS policy server on
//! 127.0.171.1:443) and, for the probe, real Postfix instances on
//! 127.0.174.1-2. The policy server's CA is trusted with `--ca-file`; every
//! run has its own cache directory.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;
use testbed::postfix::{Postfix, PostfixInstance};
use testbed::shared::{Lease, Shared};
use testbed::sts::{StsBed, testdata};

fn bed() -> Lease<StsBed> {
    static BED: Shared<StsBed> = Shared::new();
    BED.get(StsBed::start)
}

/// Run mxkit against the bed, with its CA and `cache` as the policy cache.
fn mxkit(bed: &StsBed, cache: &Path, args: &[&str]) -> (i32, String, String) {
    let ca = bed.ca.ca_pem_path();
    let out = Command::cargo_bin("mxkit")
        .unwrap()
        .args(args)
        .args(["--server", &bed.knot.addr().to_string()])
        .args(["--ca-file", &ca.display().to_string()])
        .args(["--mta-sts-cache", &cache.display().to_string()])
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Rules S10 to S12 in `route --json` and the text plan: the keys of the
/// contract, removed exchangers with state and rule, and the cache: the
/// second run takes the policy from it.
#[test]
fn route_shows_the_policy_and_uses_the_cache() {
    let bed = bed();
    let cache = tempfile::tempdir().unwrap();
    let (code, out, err) = mxkit(
        &bed,
        cache.path(),
        &["route", "good.sts.test", "--json", "--seed", "1"],
    );
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    let sts = &v["mta_sts"];
    assert_eq!(sts["mode"], "enforce");
    assert_eq!(sts["id"], "20261201T000000");
    assert_eq!(sts["max_age"], 86400);
    assert_eq!(
        sts["mx"],
        serde_json::json!(["mx1.good.sts.test", "*.backup.good.sts.test"])
    );
    assert_eq!(sts["source"], "fetched");
    assert_eq!(sts["error"], Value::Null);
    assert_eq!(v["tls_rpt"][0], "mailto:tls-reports@good.sts.test");
    let ex = v["exchangers"].as_array().unwrap();
    let by = |n: &str| ex.iter().find(|e| e["name"] == n).unwrap().clone();
    assert_eq!(by("mx1.good.sts.test")["tls"], "mta-sts");
    assert_eq!(by("mx2.good.sts.test")["state"], "mta_sts_mismatch");
    assert_eq!(by("mx2.good.sts.test")["rule"], "S11");
    assert_eq!(by("b.a.backup.good.sts.test")["state"], "mta_sts_mismatch");
    assert!(cache.path().join("good.sts.test.json").is_file());

    let (code, out, err) = mxkit(
        &bed,
        cache.path(),
        &["route", "good.sts.test", "--seed", "1"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("good.sts.test MTA-STS policy: enforce (id 20261201T000000, max_age 86400, from the cache): mx mx1.good.sts.test, *.backup.good.sts.test"), "{out}");
    assert!(
        out.contains("TLS reports (TLS-RPT) go to mailto:tls-reports@good.sts.test"),
        "{out}"
    );
    assert!(
        out.contains("MTA-STS: TLS, certificate must be valid for this name"),
        "{out}"
    );
    assert!(
        out.contains("not in the MTA-STS policy (enforce): not used (Rule S11)"),
        "{out}"
    );

    // Every exchanger removed: temporary (exit 3).
    let (code, out, _) = mxkit(&bed, cache.path(), &["route", "nomatch.sts.test", "--json"]);
    assert_eq!(code, 3);
    assert_eq!(json(&out)["outcome"], "mta_sts_mismatch");
    // --mta-sts off: neither key.
    let (code, out, _) = mxkit(
        &bed,
        cache.path(),
        &["route", "nomatch.sts.test", "--json", "--mta-sts", "off"],
    );
    assert_eq!(code, 0);
    let v = json(&out);
    assert!(
        v.get("mta_sts").is_none() && v.get("tls_rpt").is_none(),
        "{v}"
    );
}

/// The what-if before publishing: the zone file and a policy file, offline.
/// The policy published now (enforce, other.nomatch.sts.test only) removes
/// the exchanger; the file being tried keeps it.
#[test]
fn what_if_a_policy_file_with_a_zone_offline() {
    let dir = tempfile::tempdir().unwrap();
    let zone = testdata("sts.test.zone");
    let policy = dir.path().join("policy.txt");
    fs::write(
        &policy,
        "version: STSv1\nmode: enforce\nmx: *.nomatch.sts.test\nmax_age: 86400\n",
    )
    .unwrap();
    let out = Command::cargo_bin("mxkit")
        .unwrap()
        .args(["route", "nomatch.sts.test", "--offline", "--json"])
        .args(["--zone", &zone.display().to_string()])
        .args([
            "--mta-sts-policy",
            &format!("nomatch.sts.test={}", policy.display()),
        ])
        .args(["--mta-sts-cache", "none"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["mta_sts"]["source"], "file");
    assert_eq!(v["mta_sts"]["id"], "1");
    assert_eq!(v["exchangers"][0]["tls"], "mta-sts");

    // The same in check: the policy file checked against the zone's MX.
    let bad = dir.path().join("bad.txt");
    fs::write(
        &bad,
        "version: STSv1\nmode: enforce\nmx: mx9.nomatch.sts.test\nmax_age: 86400\n",
    )
    .unwrap();
    let out = Command::cargo_bin("mxkit")
        .unwrap()
        .args(["check", "nomatch.sts.test", "--offline", "--format", "json"])
        .args(["--zone", &zone.display().to_string()])
        .args([
            "--mta-sts-policy",
            &format!("nomatch.sts.test={}", bad.display()),
        ])
        .output()
        .unwrap();
    let v = json(&String::from_utf8_lossy(&out.stdout));
    let findings = v["findings"].as_array().unwrap();
    let f = findings
        .iter()
        .find(|f| f["id"] == "mta-sts-mx-mismatch")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(f["severity"], "error");
    assert_eq!(f["subject"], "mx.nomatch.sts.test");
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("mx: mx.nomatch.sts.test"),
        "{f}"
    );
    assert!(
        findings.iter().any(|f| f["id"] == "tls-rpt-missing"),
        "{v:#}"
    );
}

/// Bad flags and files: one line, exit 64, before any network work.
#[test]
fn bad_flags_are_usage_errors() {
    let bed = bed();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.txt");
    fs::write(
        &bad,
        "version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 99999999999\n",
    )
    .unwrap();
    let bad_arg = format!("good.sts.test={}", bad.display());
    for args in [
        vec![
            "route",
            "good.sts.test",
            "--mta-sts-policy",
            "good.sts.test",
        ],
        vec!["route", "good.sts.test", "--mta-sts-policy", &bad_arg],
        vec![
            "route",
            "good.sts.test",
            "--mta-sts-policy",
            "good.sts.test=/dev/zero",
        ],
        vec!["route", "good.sts.test", "--mta-sts-timeout", "NaN"],
        vec!["route", "good.sts.test", "--mta-sts-timeout", "-1s"],
        vec!["route", "good.sts.test", "--mta-sts-timeout", "1h"],
        vec![
            "route",
            "good.sts.test",
            "--mta-sts",
            "off",
            "--mta-sts-policy",
            &bad_arg,
        ],
    ] {
        let (code, out, err) = mxkit(&bed, dir.path(), &args);
        assert_eq!(code, 64, "{args:?}: {out}{err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}");
    }
}

/// `check` on the published policies: each broken case is its own finding,
/// with the reason and the fix.
#[test]
fn check_reports_each_broken_policy() {
    let bed = bed();
    let cache = tempfile::tempdir().unwrap();
    let cases = [
        ("good.sts.test", "mta-sts-mx-mismatch", "mx2.good.sts.test"),
        ("two.sts.test", "mta-sts-record-invalid", "2 records"),
        (
            "spacing.sts.test",
            "mta-sts-record-invalid",
            "does not begin with exactly",
        ),
        (
            "redirect.sts.test",
            "mta-sts-policy-unreachable",
            "(redirect)",
        ),
        (
            "notfound.sts.test",
            "mta-sts-policy-unreachable",
            "(status)",
        ),
        ("wrongname.sts.test", "mta-sts-policy-unreachable", "(tls)"),
        ("ctype.sts.test", "mta-sts-policy-invalid", "(content_type)"),
        ("oversize.sts.test", "mta-sts-policy-invalid", "(size)"),
        ("cronly.sts.test", "mta-sts-policy-invalid", "CR alone"),
        (
            "dupkeys.sts.test",
            "mta-sts-policy-invalid",
            "mode is given twice",
        ),
        ("nomatch.sts.test", "tls-rpt-missing", "no TLS-RPT record"),
        (
            "two.sts.test",
            "tls-rpt-invalid",
            "only mailto: and https: URIs",
        ),
    ];
    // The checks run side by side (each waits on lookups of its own).
    let outputs: Vec<(String, String)> = std::thread::scope(|s| {
        let runs: Vec<_> = cases
            .iter()
            .map(|(domain, _, _)| {
                let (bed, cache) = (&bed, cache.path());
                s.spawn(move || {
                    let (_, out, err) = mxkit(
                        bed,
                        cache,
                        &[
                            "check",
                            domain,
                            "--no-smtp",
                            "--format",
                            "json",
                            "--mta-sts-timeout",
                            "3s",
                        ],
                    );
                    (out, err)
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for ((domain, id, why), (out, err)) in cases.into_iter().zip(outputs) {
        let v = json(&out);
        let findings = v["findings"].as_array().unwrap_or_else(|| panic!("{err}"));
        let hit = findings
            .iter()
            .find(|f| {
                f["id"] == id
                    && (f["message"].as_str().unwrap().contains(why) || f["subject"] == why)
            })
            .unwrap_or_else(|| panic!("{domain}: no {id} with {why:?}: {v:#}"));
        assert!(hit["fix"].is_string(), "{domain}: {hit}");
        if !id.starts_with("tls-rpt") {
            assert_eq!(hit["severity"], "error", "{domain}");
        }
    }
    // good.sts.test has a TLS-RPT record and no stale id.
    let (_, out, _) = mxkit(
        &bed,
        cache.path(),
        &["check", "good.sts.test", "--no-smtp", "--format", "json"],
    );
    let v = json(&out);
    assert!(
        !v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "tls-rpt-missing" || f["id"] == "mta-sts-id-stale"),
        "{v:#}"
    );
}

/// `mta-sts-id-stale`: a new policy tried with the zone as published now
/// (same id) differs from the live one.
#[test]
fn check_says_when_the_id_must_change() {
    let bed = bed();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("new.txt");
    fs::write(&policy, "version: STSv1\nmode: enforce\nmx: mx1.good.sts.test\nmx: mx2.good.sts.test\nmx: *.backup.good.sts.test\nmax_age: 86400\n").unwrap();
    let zone = testdata("sts.test.zone");
    let arg = format!("good.sts.test={}", policy.display());
    let (_, out, err) = mxkit(
        &bed,
        dir.path(),
        &[
            "check",
            "good.sts.test",
            "--no-smtp",
            "--format",
            "json",
            "--zone",
            &zone.display().to_string(),
            "--mta-sts-policy",
            &arg,
        ],
    );
    let v = json(&out);
    let f = v["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("{err}"))
        .iter()
        .find(|f| f["id"] == "mta-sts-id-stale")
        .unwrap_or_else(|| panic!("{v:#}"))
        .clone();
    assert_eq!(f["severity"], "warning");
    let fix = f["fix"].as_str().unwrap();
    assert!(
        fix.contains("v=STSv1; id=") && !fix.contains("id=20261201T000000\""),
        "{f}"
    );
    // The diff for senders: mx2 was removed by the live policy, is kept now.
    let changed = &v["changes"]["tls_changed"];
    assert!(
        changed
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["exchanger"] == "mx2.good.sts.test"
                && c["old"] == "removed"
                && c["new"] == "mta-sts"),
        "{v:#}"
    );
}

/// Rule S11 in the walk: under enforce, the first exchanger's certificate
/// names another host: that attempt fails at STARTTLS (never plaintext)
/// and the next one, PKIX-valid, is used; `check` reports the first as
/// `mta-sts-certificate`.
#[test]
fn probe_requires_pkix_under_enforce() {
    let bed = bed();
    let cache = tempfile::tempdir().unwrap();
    let bad = "127.0.174.1:25".parse().unwrap();
    let good = "127.0.174.2:25".parse().unwrap();
    let postfix = Postfix::start_with(
        &[
            PostfixInstance::new(bad, "mx-bad.probe.sts.test")
                .tls(bed.ca.leaf(&["www.probe.sts.test"])),
            PostfixInstance::new(good, "mx-good.probe.sts.test")
                .tls(bed.ca.leaf(&["mx-good.probe.sts.test"])),
        ],
        &["probe.sts.test"],
        &[],
    );
    let (code, out, err) = mxkit(
        &bed,
        cache.path(),
        &[
            "probe",
            "probe.sts.test",
            "--json",
            "--seed",
            "1",
            "--stop-after",
            "ehlo",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    let attempts = v["walk"]["attempts"]
        .as_array()
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(attempts.len(), 2, "{v:#}");
    let first = &attempts[0]["tls"];
    assert_eq!(first["policy"], "mta-sts");
    assert_eq!(first["verified_by"], Value::Null);
    assert!(
        first["error"]
            .as_str()
            .unwrap()
            .contains("not PKIX-valid for mx-bad.probe.sts.test"),
        "{first}"
    );
    assert_eq!(attempts[0]["outcome"]["stage"], "starttls", "{v:#}");
    assert_eq!(attempts[0]["outcome"]["result"], "soft");
    assert_eq!(attempts[0]["plaintext_fallback"], false);
    let second = &attempts[1]["tls"];
    assert_eq!(second["policy"], "mta-sts");
    assert_eq!(second["verified_by"], "pkix");

    // send walks the same way: the first host's certificate fails the
    // policy, the message goes to the second over verified TLS.
    let (code, out, err) = mxkit(
        &bed,
        cache.path(),
        &[
            "send",
            "--from",
            "a@example.net",
            "--to",
            "john@probe.sts.test",
            "--seed",
            "1",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    let walk = &v["domains"][0]["walk"];
    let attempts = walk["attempts"]
        .as_array()
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(attempts[0]["outcome"]["stage"], "starttls", "{v:#}");
    assert_eq!(attempts[0]["plaintext_fallback"], false);
    assert_eq!(attempts[1]["tls"]["verified_by"], "pkix", "{v:#}");
    postfix.wait_for_messages(1, std::time::Duration::from_secs(20));

    let (_, out, _) = mxkit(
        &bed,
        cache.path(),
        &["check", "probe.sts.test", "--format", "json"],
    );
    let v = json(&out);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "mta-sts-certificate")
        .unwrap_or_else(|| panic!("{v:#}"))
        .clone();
    assert_eq!(f["severity"], "error");
    assert!(
        f["subject"]
            .as_str()
            .unwrap()
            .starts_with("mx-bad.probe.sts.test"),
        "{f}"
    );
}

/// `scan --secure` reads the `_mta-sts` and `_smtp._tls` records (Rules S7
/// and S12), never HTTPS; the default scan reads neither.
#[test]
fn scan_secure_reads_the_records_and_fetches_nothing() {
    let bed = bed();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("domains.txt");
    fs::write(&input, "mixed.sts.test\ngood.sts.test\n").unwrap();
    let server = bed.knot.addr().to_string();
    let run = |secure: bool| {
        let mut cmd = Command::cargo_bin("mxkit").unwrap();
        cmd.args([
            "scan",
            &input.display().to_string(),
            "--server",
            &server,
            "--no-progress",
        ]);
        if secure {
            cmd.arg("--secure");
        }
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(json)
            .collect();
        lines
    };
    let lines = run(true);
    let mixed = lines
        .iter()
        .find(|l| l["input"] == "mixed.sts.test")
        .unwrap();
    assert_eq!(mixed["mta_sts"]["id"], "1");
    assert_eq!(mixed["mta_sts"]["mode"], Value::Null);
    assert!(
        mixed["mta_sts"]["error"]
            .as_str()
            .unwrap()
            .contains("not fetched")
    );
    assert!(
        !mixed["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "mta_sts_error")
    );
    let good = lines
        .iter()
        .find(|l| l["input"] == "good.sts.test")
        .unwrap();
    assert_eq!(good["tls_rpt"][0], "mailto:tls-reports@good.sts.test");
    assert_eq!(bed.fetches("mixed.sts.test"), 0);
    for line in run(false) {
        assert!(
            line.get("mta_sts").is_none() && line.get("tls_rpt").is_none(),
            "{line}"
        );
    }
}

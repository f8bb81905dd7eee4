//! `mxkit check` end to end: output formats, exit codes, `--set`,
//! `--fail-on`, `--list-rules`, zone files offline, and live runs against
//! real knotd on loopback port 53 (the name-server rules ask each
//! authoritative server directly, on port 53).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;
use testbed::fault::{FaultServer, Reply};
use testbed::knot::Knot;

fn testdata(file: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(file);
    p.to_string_lossy().into_owned()
}

fn mxkit() -> Command {
    Command::cargo_bin("mxkit").unwrap()
}

/// `mxkit check DOMAIN --zone testdata/check/ZONE --offline ARGS`: (exit code, stdout).
fn offline(domain: &str, zone: &str, args: &[&str]) -> (i32, String) {
    let zone = testdata(&format!("check/{zone}"));
    let out = mxkit()
        .args(["check", domain, "--zone", &zone, "--offline"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

fn ids(j: &Value) -> Vec<String> {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn clean_zone_exits_0_and_says_what_was_not_checked_offline() {
    let (code, text) = offline("clean.test", "clean.zone", &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Summary: 0 errors, 0 warnings"), "{text}");
    assert!(text.contains("Not checked"), "{text}");
    assert!(text.contains("Route: deliverable"), "{text}");
}

#[test]
fn warnings_exit_1_errors_exit_2() {
    let (code, text) = offline("implicit-mx.test", "implicit-mx.zone", &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("Warnings (1)") && text.contains("implicit-mx"),
        "{text}"
    );
    let (code, text) = offline("mx-is-address.test", "mx-is-address.zone", &[]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("Errors (") && text.contains("mx-is-address"),
        "{text}"
    );
}

#[test]
fn findings_cite_file_and_line_and_give_the_fix() {
    let (_, text) = offline("mx-is-address.test", "mx-is-address.zone", &[]);
    assert!(text.contains("mx-is-address.zone:"), "{text}");
    assert!(text.contains("fix: "), "{text}");
    assert!(text.contains("see: RFC 5321 section 5.1"), "{text}");
}

#[test]
fn fail_on_moves_the_threshold() {
    let (code, _) = offline(
        "implicit-mx.test",
        "implicit-mx.zone",
        &["--fail-on", "error"],
    );
    assert_eq!(code, 0);
    let (code, _) = offline(
        "mx-is-address.test",
        "mx-is-address.zone",
        &["--fail-on", "error"],
    );
    assert_eq!(code, 2);
    let (code, text) = offline("mx-ttl.test", "mx-ttl.zone", &[]);
    assert_eq!(code, 0, "a notice alone is clean: {text}");
    let (code, _) = offline("mx-ttl.test", "mx-ttl.zone", &["--fail-on", "notice"]);
    assert_eq!(code, 1);
}

#[test]
fn set_regrades_or_ignores_a_rule() {
    let (code, out) = offline(
        "mx-is-address.test",
        "mx-is-address.zone",
        &["--format", "json", "--set", "mx-is-address=ignore"],
    );
    let j: Value = serde_json::from_str(&out).unwrap();
    assert!(!ids(&j).contains(&"mx-is-address".to_string()), "{out}");
    assert_ne!(code, 2, "{out}");
    let (_, out) = offline(
        "mx-is-address.test",
        "mx-is-address.zone",
        &["--format", "json", "--set", "mx-is-address=notice"],
    );
    let j: Value = serde_json::from_str(&out).unwrap();
    let f = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "mx-is-address")
        .unwrap();
    assert_eq!(f["severity"], "notice");
}

#[test]
fn json_has_domain_findings_and_summary() {
    let (code, out) = offline(
        "exchanger-is-cname.test",
        "exchanger-is-cname.zone",
        &["--format", "json"],
    );
    assert_eq!(code, 1);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["domain"], "exchanger-is-cname.test");
    assert_eq!(j["mode"], "offline");
    assert_eq!(j["summary"]["warnings"], 1);
    let f = &j["findings"][0];
    for key in [
        "id", "severity", "subject", "message", "evidence", "fix", "rfc",
    ] {
        assert!(!f[key].is_null(), "{key} missing: {f:#}");
    }
    assert_eq!(f["id"], "exchanger-is-cname");
    assert!(
        f["evidence"][0]["source"]
            .as_str()
            .unwrap()
            .contains("exchanger-is-cname.zone:")
    );
    assert_eq!(j["route"]["status"], "deliverable");
}

#[test]
fn nagios_status_line_with_perfdata_follows_the_exit_code() {
    let (code, out) = offline(
        "exchanger-is-cname.test",
        "exchanger-is-cname.zone",
        &["--format", "nagios"],
    );
    assert_eq!(code, 1);
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("MXKIT CHECK WARNING - exchanger-is-cname.test: "),
        "{first}"
    );
    assert!(first.contains(" | errors=0;;;0 warnings=1;;;0"), "{first}");
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .starts_with("WARNING exchanger-is-cname "),
        "{out}"
    );
    let (code, out) = offline("clean.test", "clean.zone", &["--format", "nagios"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("MXKIT CHECK OK - clean.test"), "{out}");
    let (code, out) = offline(
        "no-usable-exchanger.test",
        "no-usable-exchanger.zone",
        &["--format", "nagios"],
    );
    assert_eq!(code, 2);
    assert!(out.starts_with("MXKIT CHECK CRITICAL"), "{out}");
}

/// `|` starts the performance data, in the status line and in the long
/// output alike: text from DNS never carries one into the Nagios output.
#[test]
fn nagios_output_has_one_pipe_whatever_the_zone_says() {
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("pipe.zone");
    std::fs::write(
        &zone,
        "$ORIGIN pipe.test.\n$TTL 300\n@ SOA ns h 1 1 1 1 60\n@ NS ns\nns A 192.0.2.53\n\
         @ MX 10 mx|1.pipe.test.\n@ MX 20 ok\nok A 192.0.2.10\n",
    )
    .unwrap();
    let out = mxkit()
        .args(["check", "pipe.test", "--offline", "--format", "nagios"])
        .arg("--zone")
        .arg(&zone)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(2), "{text}");
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    assert_eq!(first.matches('|').count(), 1, "{first}");
    assert!(first.contains(" | errors=2;;;0"), "{first}");
    let rest: Vec<&str> = lines.collect();
    assert!(
        rest.iter().any(|l| l.contains("mx\\u{7c}1.pipe.test")),
        "{text}"
    );
    assert!(rest.iter().all(|l| !l.contains('|')), "{text}");
}

/// A lookup that failed makes many rules undecided: the cause is given
/// once, for all of them, in text and in the Nagios long output.
#[test]
fn an_incomplete_check_gives_its_cause_once() {
    let (code, text) = offline("elsewhere.test", "clean.zone", &[]);
    assert_eq!(code, 3, "{text}");
    assert_eq!(
        text.matches("is outside every loaded zone").count(),
        1,
        "{text}"
    );
    assert!(text.contains("Could not be checked (1)"), "{text}");
    assert!(
        text.contains("Route: temporary failure 4.4.3 (dns_temporary)\n"),
        "{text}"
    );
    let (code, out) = offline("elsewhere.test", "clean.zone", &["--format", "nagios"]);
    assert_eq!(code, 3, "{out}");
    assert_eq!(
        out.matches("is outside every loaded zone").count(),
        1,
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("UNKNOWN ")).count(),
        1,
        "{out}"
    );
}

#[test]
fn no_colour_when_not_a_terminal() {
    let (_, out) = offline("mx-is-address.test", "mx-is-address.zone", &[]);
    assert!(!out.contains('\x1b'), "{out}");
}

#[test]
fn list_rules_shows_every_stable_id() {
    let out = mxkit().args(["check", "--list-rules"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for id in [
        "implicit-mx",
        "mx-is-address",
        "exchanger-bad-name",
        "null-mx-mixed",
        "null-mx-preference",
        "duplicate-exchanger",
        "single-exchanger",
        "exchanger-without-address",
        "no-usable-exchanger",
        "exchanger-is-cname",
        "exchanger-special-address",
        "nameserver-unresponsive",
        "nameservers-disagree",
        "no-reverse-dns",
        "reverse-dns-mismatch",
        "zone-apex-incomplete",
        "mta-sts-record-invalid",
        "mta-sts-policy-unreachable",
        "mta-sts-policy-invalid",
        "mta-sts-mx-mismatch",
        "mta-sts-certificate",
        "mta-sts-id-stale",
        "tls-rpt-missing",
        "tls-rpt-invalid",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(id)),
            "{id} missing:\n{text}"
        );
    }
}

/// A zone file without NS records at its apex (named-checkzone refuses it)
/// is an error of its own, `zone-apex-incomplete`, with the file as
/// evidence: exit 2, also in JSON.
#[test]
fn a_zone_without_ns_at_its_apex_is_an_error() {
    let zone = testdata("check/zone-apex-incomplete.zone");
    let out = mxkit()
        .args([
            "check",
            "zone-apex-incomplete.test",
            "--offline",
            "--format",
            "json",
            "--zone",
        ])
        .arg(&zone)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: Vec<&serde_json::Value> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "zone-apex-incomplete")
        .collect();
    assert_eq!(found.len(), 1, "{j:#}");
    assert_eq!(found[0]["severity"], "error");
    assert_eq!(found[0]["subject"], "zone-apex-incomplete.test.");
    assert_eq!(found[0]["evidence"][0]["source"], zone.as_str());
    assert_eq!(
        found[0]["evidence"][0]["query"],
        "zone-apex-incomplete.test. NS"
    );
    // The clean zone has both.
    let out = mxkit()
        .args([
            "check",
            "clean.test",
            "--offline",
            "--format",
            "json",
            "--zone",
        ])
        .arg(testdata("check/clean.zone"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"findings\""), "{text}");
    assert!(!text.contains("zone-apex-incomplete"), "{text}");
}

#[test]
fn usage_errors_are_one_line_and_exit_64() {
    let zone = testdata("check/clean.zone");
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        bad.path(),
        "$ORIGIN bad.test.\n@ SOA ns h 1 2 3 4 5\n@ MX ten mx\n",
    )
    .unwrap();
    let bad_path = bad.path().to_string_lossy().into_owned();
    let cases: Vec<Vec<&str>> = vec![
        vec!["check"],
        vec!["check", "bad domain"],
        vec![
            "check",
            "clean.test",
            "--zone",
            &zone,
            "--offline",
            "--set",
            "no-such-rule=error",
        ],
        vec![
            "check",
            "clean.test",
            "--zone",
            &zone,
            "--offline",
            "--set",
            "mx-ttl=fatal",
        ],
        vec![
            "check",
            "clean.test",
            "--zone",
            &zone,
            "--offline",
            "--format",
            "xml",
        ],
        vec!["check", "bad.test", "--zone", &bad_path, "--offline"],
    ];
    for args in cases {
        let out = mxkit().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    let out = mxkit()
        .args(["check", "bad.test", "--zone", &bad_path, "--offline"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains(":3:"));
}

/// A zone whose two name servers are knotd on 127.0.5.11 and 127.0.5.12
/// (port 53), with its reverse zone, so that a live check can be clean.
fn live_zone(ns_base: &str, mx2_pref: u16) -> String {
    format!(
        "$ORIGIN live.test.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\n@ NS ns2\n\
         ns1 A {ns_base}.11\nns2 A {ns_base}.12\n@ MX 10 mx1\n@ MX {mx2_pref} mx2\n\
         mx1 A 185.12.64.25\nmx2 A 185.12.64.26\n"
    )
}

const REVERSE: &str = "$ORIGIN 64.12.185.in-addr.arpa.\n$TTL 3600\n@ SOA ns1.live.test. hostmaster.live.test. 1 7200 900 1209600 300\n\
                       @ NS ns1.live.test.\n25 PTR mx1.live.test.\n26 PTR mx2.live.test.\n";

fn knot_on(ip: &str, zone: &str) -> Knot {
    let ip: Ipv4Addr = ip.parse().unwrap();
    Knot::start_on(
        IpAddr::V4(ip),
        Some(53),
        &[("live.test", zone), ("64.12.185.in-addr.arpa", REVERSE)],
    )
}

fn live(server: &Knot, args: &[&str]) -> (i32, Value) {
    let s = server.addr().to_string();
    let out = mxkit()
        .args([
            "check",
            "live.test",
            "--no-smtp", // the exchangers are not on loopback: nothing may connect there
            "--server",
            &s,
            "--dns-timeout",
            "0.5",
            "--format",
            "json",
        ])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    (
        out.status.code().unwrap(),
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}")),
    )
}

#[test]
fn live_clean_domain_with_agreeing_servers_exits_0() {
    let zone = live_zone("127.0.5", 20);
    let (_a, _b) = (knot_on("127.0.5.11", &zone), knot_on("127.0.5.12", &zone));
    let (code, j) = live(&_a, &[]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(j["mode"], "live");
    // Unsigned (knotd answers without the AD bit): information only.
    let found = ids(&j);
    assert!(
        !found.is_empty() && found.iter().all(|id| id == "dnssec-unsigned"),
        "{j:#}"
    );
    assert!(
        j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["severity"] == "info"),
        "{j:#}"
    );
    assert!(j["incomplete"].as_array().unwrap().is_empty(), "{j:#}");
}

#[test]
fn live_nameservers_disagree_is_found_with_each_servers_answer() {
    let (a, _b) = (
        knot_on("127.0.6.11", &live_zone("127.0.6", 20)),
        knot_on("127.0.6.12", &live_zone("127.0.6", 30)),
    );
    let (code, j) = live(&a, &[]);
    assert_eq!(code, 1, "{j:#}");
    let f = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "nameservers-disagree")
        .unwrap();
    let evidence = f["evidence"].to_string();
    assert!(
        evidence.contains("127.0.6.11:53") && evidence.contains("127.0.6.12:53"),
        "{evidence}"
    );
    assert!(
        evidence.contains("20 mx2.live.test.") && evidence.contains("30 mx2.live.test."),
        "{evidence}"
    );
}

#[test]
fn live_silent_nameserver_is_a_finding_and_the_report_still_comes() {
    // ns2 (127.0.7.12) has nothing listening.
    let a = knot_on("127.0.7.11", &live_zone("127.0.7", 20));
    let (code, j) = live(&a, &[]);
    assert_eq!(code, 1, "{j:#}");
    let f = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "nameserver-unresponsive")
        .unwrap();
    assert!(f["subject"].as_str().unwrap().contains("ns2"), "{f:#}");
    assert_eq!(j["route"]["status"], "deliverable");
}

#[test]
fn servfail_makes_the_check_incomplete_exit_3() {
    let server = FaultServer::start(|_| Reply::ServFail);
    let s = server.addr().to_string();
    let out = mxkit()
        .args([
            "check",
            "example.test",
            "--server",
            &s,
            "--dns-timeout",
            "0.3",
            "--no-smtp",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("Could not be checked"), "{text}");
    assert!(text.contains("SERVFAIL"), "{text}");
}

#[test]
fn zone_file_over_live_dns_shows_the_changes_for_senders() {
    let old = live_zone("127.0.8", 20);
    let (a, _b) = (knot_on("127.0.8.11", &old), knot_on("127.0.8.12", &old));
    let dir = tempfile::tempdir().unwrap();
    let new_path = dir.path().join("live.test.zone");
    std::fs::write(
        &new_path,
        live_zone("127.0.8", 20).replace("@ MX 20 mx2\n", "@ MX 5 mx2\n"),
    )
    .unwrap();
    let s = a.addr().to_string();
    let out = mxkit()
        .args([
            "check",
            "live.test",
            "--no-smtp",
            "--server",
            &s,
            "--dns-timeout",
            "0.5",
            "--zone",
        ])
        .arg(&new_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Changes for senders when the zone is published:"),
        "{text}"
    );
    assert!(text.contains("20 -> 5"), "{text}");
}

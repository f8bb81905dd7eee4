//! DANE verification end to end (docs/rules/secure.md, Rule S6): `mxkit
//! probe` and `mxkit send` with `--tls policy` (the default) against real
//! Postfix exchangers, routed through a real validating resolver (unbound)
//! in front of a zone knotd signs. The TLSA records are computed from the
//! servers' certificates by the openssl tool, not by mxkit. Exchangers sit
//! on 127.0.160.0/24 (probe and send do not count loopback as this host),
//! knotd on 127.0.161.53:53.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use testbed::certs::{TestCa, tlsa};
use testbed::postfix::{Postfix, PostfixInstance};
use testbed::shared::{Lease, Shared};
use testbed::unbound::Validating;

struct Bed {
    dns: Validating,
    postfix: Postfix,
    ca: PathBuf,
    /// The certificate mx-bad presents (no TLSA record names its key).
    bad_cert: PathBuf,
    _ca: TestCa,
}

fn addr(host: u8) -> SocketAddr {
    format!("127.0.160.{host}:25").parse().unwrap()
}

fn bed() -> Lease<Bed> {
    static BED: Shared<Bed> = Shared::new();
    BED.get(|| {
        let ca = TestCa::new();
        // DANE-EE checks no name: this certificate names another host.
        let ee = ca.leaf(&["unrelated.example"]);
        let ta = ca.leaf(&["mx-ta.dane.test"]);
        let bad = ca.leaf(&["mx-bad.dane.test"]);
        let bad_cert_path = bad.0.clone();
        let wrong_name = ca.leaf(&["elsewhere.test"]);
        let enc = ca.leaf(&["mx-enc.dane.test"]);
        let stranger = ca.leaf(&["stranger.test"]);
        let ta_chain = (ca.chain_file(&ta.0), ta.1.clone());
        let wrong_chain = (ca.chain_file(&wrong_name.0), wrong_name.1.clone());
        let ca_path = ca.ca_pem_path();
        let record = |owner: &str, data: String| format!("_25._tcp.{owner} IN TLSA {data}\n");
        let mut zone = String::from(
            "$TTL 300\n\
             dane.test. IN SOA ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 300\n\
             dane.test. IN NS ns.dane.test.\n\
             ns.dane.test. IN A 127.0.161.53\n",
        );
        let hosts = [
            ("mx-ee", 1),
            ("mx-ta", 2),
            ("mx-bad", 3),
            ("mx-name", 4),
            ("mx-plain", 5),
            ("mx-enc", 6),
        ];
        for (host, n) in hosts {
            zone.push_str(&format!("{host}.dane.test. IN A {}\n", addr(n).ip()));
        }
        for (domain, mxs) in [
            ("ee", &["10 mx-ee"][..]),
            ("ta", &["10 mx-ta"]),
            ("bad", &["10 mx-bad", "20 mx-ee"]),
            ("name", &["10 mx-name"]),
            ("plain", &["10 mx-plain"]),
            ("enc", &["10 mx-enc"]),
        ] {
            for mx in mxs {
                zone.push_str(&format!("{domain}.dane.test. IN MX {mx}.dane.test.\n"));
            }
        }
        zone.push_str(&record("mx-ee.dane.test.", tlsa(3, 1, 1, &ee.0)));
        zone.push_str(&record("mx-ta.dane.test.", tlsa(2, 0, 1, &ca_path)));
        // A key the server does not have.
        zone.push_str(&record("mx-bad.dane.test.", tlsa(3, 1, 1, &stranger.0)));
        zone.push_str(&record("mx-name.dane.test.", tlsa(2, 0, 1, &ca_path)));
        zone.push_str(&record("mx-plain.dane.test.", tlsa(3, 1, 1, &ee.0)));
        // PKIX-EE only: unusable, TLS still mandatory.
        zone.push_str(&record("mx-enc.dane.test.", tlsa(1, 1, 1, &stranger.0)));
        // knotd on port 53 of the name server's address, so that the name
        // server checks of `check` reach it.
        let dns = Validating::start_at(
            "127.0.161.53".parse().unwrap(),
            Some(53),
            &[("dane.test", &zone)],
            &[],
            &[],
        );
        let postfix = Postfix::start_with(
            &[
                PostfixInstance::new(addr(1), "mx-ee.dane.test").tls(ee),
                PostfixInstance::new(addr(2), "mx-ta.dane.test").tls(ta_chain),
                PostfixInstance::new(addr(3), "mx-bad.dane.test").tls(bad),
                PostfixInstance::new(addr(4), "mx-name.dane.test").tls(wrong_chain),
                // No STARTTLS at all.
                PostfixInstance::new(addr(5), "mx-plain.dane.test"),
                PostfixInstance::new(addr(6), "mx-enc.dane.test").tls(enc),
            ],
            &["ee.dane.test", "plain.dane.test"],
            &[],
        );
        Bed {
            dns,
            postfix,
            ca: ca_path,
            bad_cert: bad_cert_path,
            _ca: ca,
        }
    })
}

fn mxkit(bed: &Bed, args: &[&str]) -> (i32, Value) {
    run(bed, args, "")
}

/// `mxkit send --from sender@example.test --to TO`, the message on stdin.
fn send(bed: &Bed, to: &str, subject: &str) -> (i32, Value) {
    let message = format!("Subject: {subject}\r\n\r\nsent by the DANE tests\r\n");
    run(
        bed,
        &[
            "send",
            "--from",
            "sender@example.test",
            "--to",
            to,
            "--data",
            "-",
        ],
        &message,
    )
}

fn run(bed: &Bed, args: &[&str], stdin: &str) -> (i32, Value) {
    let server = bed.dns.resolver().to_string();
    let out = Command::cargo_bin("mxkit")
        .unwrap()
        .args(args)
        .write_stdin(stdin)
        .args(["--server", &server, "--seed", "1", "--json"])
        .args(["--connect-timeout", "2s", "--smtp-timeout", "5s"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let j = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), j)
}

fn probe(bed: &Bed, domain: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["probe", domain];
    args.extend_from_slice(extra);
    mxkit(bed, &args)
}

fn attempts(j: &Value) -> &Vec<Value> {
    j["walk"]["attempts"].as_array().unwrap()
}

/// Rule S6, DANE-EE: the leaf's key matches `3 1 1`: verified, though the
/// certificate names another host and its CA is unknown to mxkit (no CA
/// file is given).
#[test]
fn s6_dane_ee_verifies_the_leaf_key() {
    let bed = bed();
    let (code, j) = probe(&bed, "ee.dane.test", &[]);
    assert_eq!(code, 0, "{j:#}");
    let tls = &attempts(&j)[0]["tls"];
    assert_eq!(tls["policy"], "dane", "{j:#}");
    assert_eq!(tls["verified_by"], "dane-ee");
    assert_eq!(tls["sni"], "mx-ee.dane.test");
    assert_eq!(tls["tlsa_matched"].as_array().unwrap().len(), 1);
    assert!(
        tls["tlsa_matched"][0]
            .as_str()
            .unwrap()
            .starts_with("3 1 1 ")
    );
    assert_eq!(
        tls["chain_trusted"], false,
        "the CA is not in webpki's roots"
    );
    assert_eq!(tls["mx_name_matches"], false);
}

/// Rule S6, DANE-TA: the CA certificate in the presented chain matches
/// `2 0 1`, the chain verifies to it, the leaf names the host.
#[test]
fn s6_dane_ta_verifies_the_chain_to_the_matching_certificate() {
    let bed = bed();
    let (code, j) = probe(&bed, "ta.dane.test", &[]);
    assert_eq!(code, 0, "{j:#}");
    let tls = &attempts(&j)[0]["tls"];
    assert_eq!(tls["verified_by"], "dane-ta", "{j:#}");
    assert!(
        tls["tlsa_matched"][0]
            .as_str()
            .unwrap()
            .starts_with("2 0 1 ")
    );
}

/// Rule S6: no match is a failure of that host: the walk moves on to the
/// next one, which verifies; the first attempt says why.
#[test]
fn s6_no_match_moves_to_the_next_host() {
    let bed = bed();
    let (code, j) = probe(&bed, "bad.dane.test", &[]);
    assert_eq!(code, 0, "{j:#}");
    let a = attempts(&j);
    assert_eq!(a.len(), 2, "{j:#}");
    assert_eq!(a[0]["outcome"]["result"], "soft", "{j:#}");
    assert_eq!(a[0]["outcome"]["stage"], "starttls");
    assert_eq!(a[0]["tls"]["verified_by"], Value::Null);
    assert!(
        a[0]["tls"]["error"]
            .as_str()
            .unwrap()
            .contains("no usable TLSA record of _25._tcp.mx-bad.dane.test matches"),
        "{j:#}"
    );
    assert_eq!(a[0]["plaintext_fallback"], false);
    assert_eq!(a[1]["tls"]["verified_by"], "dane-ee");
    // `--tls opportunistic` overrides the policy: the first host will do.
    let (code, j) = probe(
        &bed,
        "bad.dane.test",
        &["--tls", "opportunistic", "--stop-after", "starttls"],
    );
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(attempts(&j).len(), 1);
    assert_eq!(attempts(&j)[0]["tls"]["policy"], "opportunistic", "{j:#}");
}

/// Rule S6, DANE-TA: the chain verifies to the matching CA, but the leaf
/// names neither the TLSA base nor the MX host: not verified.
#[test]
fn s6_dane_ta_needs_a_leaf_naming_the_host() {
    let bed = bed();
    let (code, j) = probe(&bed, "name.dane.test", &[]);
    assert_eq!(code, 3, "{j:#}");
    let tls = &attempts(&j)[0]["tls"];
    assert!(
        tls["error"].as_str().unwrap().contains("names neither"),
        "{j:#}"
    );
}

/// DANE makes TLS mandatory: a host that does not offer STARTTLS fails,
/// and nothing is sent in plaintext, by `send` either.
#[test]
fn s6_no_plaintext_where_dane_requires_tls() {
    let bed = bed();
    let (code, j) = probe(&bed, "plain.dane.test", &[]);
    assert_eq!(code, 3, "{j:#}");
    assert_eq!(attempts(&j)[0]["outcome"]["stage"], "starttls");
    let before = bed.postfix.messages().len();
    let (code, j) = send(&bed, "rcpt@plain.dane.test", "never in plaintext");
    assert_eq!(code, 3, "{j:#}");
    assert_eq!(bed.postfix.messages().len(), before);
}

/// Rule S4: only unusable records (PKIX-EE): TLS is mandatory, any
/// certificate will do.
#[test]
fn s4_dane_encrypt_takes_any_certificate() {
    let bed = bed();
    let (code, j) = probe(&bed, "enc.dane.test", &[]);
    assert_eq!(code, 0, "{j:#}");
    let tls = &attempts(&j)[0]["tls"];
    assert_eq!(tls["policy"], "dane-encrypt", "{j:#}");
    assert_eq!(tls["verified_by"], Value::Null);
}

/// `send` delivers over a DANE-verified connection.
#[test]
fn s6_send_delivers_over_dane() {
    let bed = bed();
    let (code, j) = send(&bed, "rcpt@ee.dane.test", "over DANE");
    assert_eq!(code, 0, "{j:#}");
    let walk = &j["domains"][0]["walk"];
    assert_eq!(
        walk["attempts"][0]["tls"]["verified_by"], "dane-ee",
        "{j:#}"
    );
    let got = bed.postfix.wait_for_messages(1, Duration::from_secs(10));
    assert!(got.iter().any(|m| m.contains("over DANE")), "{got:?}");
    let _ = &bed.ca;
}

/// `check`'s `tlsa-mismatch` (docs/rules/check.md): the certificate mx-bad
/// presents matches no record, and the fix is the `3 1 1` record of the
/// key it presents, as openssl computes it. A DANE-verified exchanger gets
/// neither this nor `smtp-certificate` (its CA is unknown to webpki).
#[test]
fn check_reports_a_certificate_its_tlsa_records_do_not_match() {
    let bed = bed();
    let server = bed.dns.resolver().to_string();
    let out = Command::cargo_bin("mxkit")
        .unwrap()
        .args([
            "check",
            "bad.dane.test",
            "--server",
            &server,
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let j: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let findings = j["findings"].as_array().unwrap();
    let mismatch: Vec<&Value> = findings
        .iter()
        .filter(|f| f["id"] == "tlsa-mismatch")
        .collect();
    assert_eq!(mismatch.len(), 1, "{j:#}");
    assert_eq!(mismatch[0]["severity"], "error");
    assert!(
        mismatch[0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("mx-bad.dane.test [127.0.160.3]"),
        "{j:#}"
    );
    let want = tlsa(3, 1, 1, &bed.bad_cert);
    let fix = mismatch[0]["fix"].as_str().unwrap();
    assert!(
        fix.contains(&format!("_25._tcp.mx-bad.dane.test. IN TLSA {want}")),
        "{fix}\nwant {want}"
    );
    assert_eq!(out.status.code(), Some(2), "errors exit 2");
    assert!(
        !findings.iter().any(|f| f["subject"]
            .as_str()
            .unwrap_or("")
            .starts_with("mx-ee.dane.test")
            && (f["id"] == "tlsa-mismatch" || f["id"] == "smtp-certificate")),
        "{j:#}"
    );
}

//! The DANE differential against a real Postfix (docs/rules/secure.md,
//! "How implementations differ"): a private Postfix sender with
//! `smtp_dns_support_level = dnssec` and `smtp_tls_security_level = dane`
//! resolving through the test bed's validating unbound (its master runs in
//! a mount namespace whose /etc/resolv.conf names unbound on port 53), real
//! Postfix exchangers with test certificates, and knotd signing the zone.
//! For every case, mail is handed to the sender, and the verdict Postfix
//! logs for the exchanger (`Verified`, `Trusted`, `Untrusted` TLS
//! connection, a deferral for a certificate not verified, or `TLSA lookup
//! error`) must equal the verdict mxkit's `probe` reaches for it.
//! TLSA data are computed by openssl. Addresses: 127.0.163.0/24.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;
use testbed::certs::{TestCa, tlsa};
use testbed::postfix::{Postfix, PostfixInstance};
use testbed::unbound::{Validating, testdata};

fn addr(host: u8) -> SocketAddr {
    format!("127.0.163.{host}:25").parse().unwrap()
}

/// The cases: (recipient domain, its one exchanger).
const CASES: &[(&str, &str)] = &[
    // DANE-EE match under a signed MX: Verified.
    ("ee.dpf.test", "mx-ee.dpf.test"),
    // DANE-TA: the CA in the presented chain: Verified.
    ("ta.dpf.test", "mx-ta.dpf.test"),
    // A TLSA record naming another key: not verified, deferred.
    ("bad.dpf.test", "mx-bad.dpf.test"),
    // Only PKIX-EE records (unusable): TLS, unauthenticated.
    ("enc.dpf.test", "mx-enc.dpf.test"),
    // The TLSA lookup is bogus (CNAME into a zone with expired signatures).
    ("fail.dpf.test", "mx-fail.dpf.test"),
    // A secure host under an unsigned MX answer (Rule S2).
    ("mxpf.test", "mx-ee.dpf.test"),
    // A host in an unsigned zone: no DANE, opportunistic TLS.
    ("nodane.dpf.test", "mx.mxpf.test"),
];

struct Bed {
    _dns: Validating,
    resolver: SocketAddr,
    _exchangers: Postfix,
    sender: Postfix,
    _resolv: tempfile::TempDir,
    _ca: TestCa,
}

fn start() -> Bed {
    let ca = TestCa::new();
    let ee = ca.leaf(&["mx-ee.dpf.test"]);
    let ta = ca.leaf(&["mx-ta.dpf.test"]);
    let bad = ca.leaf(&["mx-bad.dpf.test"]);
    let enc = ca.leaf(&["mx-enc.dpf.test"]);
    let fail = ca.leaf(&["mx-fail.dpf.test"]);
    let plain = ca.leaf(&["mx.mxpf.test"]);
    let stranger = ca.leaf(&["stranger.test"]);
    let ta_chain = (ca.chain_file(&ta.0), ta.1.clone());
    let ca_path = ca.ca_pem_path();
    let mut signed = String::from(
        "$TTL 300\n\
         dpf.test. IN SOA ns.dpf.test. hostmaster.dpf.test. 1 3600 600 86400 300\n\
         dpf.test. IN NS ns.dpf.test.\n\
         ns.dpf.test. IN A 127.0.0.1\n",
    );
    for (host, n) in [
        ("mx-ee", 1),
        ("mx-ta", 2),
        ("mx-bad", 3),
        ("mx-enc", 4),
        ("mx-fail", 5),
    ] {
        signed.push_str(&format!("{host}.dpf.test. IN A {}\n", addr(n).ip()));
    }
    for (domain, mx) in CASES.iter().filter(|(d, _)| d.ends_with(".dpf.test")) {
        signed.push_str(&format!("{domain}. IN MX 10 {mx}.\n"));
    }
    let record = |owner: &str, data: String| format!("_25._tcp.{owner}. IN TLSA {data}\n");
    signed.push_str(&record("mx-ee.dpf.test", tlsa(3, 1, 1, &ee.0)));
    signed.push_str(&record("mx-ta.dpf.test", tlsa(2, 0, 1, &ca_path)));
    signed.push_str(&record("mx-bad.dpf.test", tlsa(3, 1, 1, &stranger.0)));
    signed.push_str(&record("mx-enc.dpf.test", tlsa(1, 1, 1, &stranger.0)));
    signed.push_str("_25._tcp.mx-fail.dpf.test. IN CNAME tlsa.expired.test.\n");
    let unsigned = format!(
        "$TTL 300\n\
         mxpf.test. IN SOA ns.mxpf.test. hostmaster.mxpf.test. 1 3600 600 86400 300\n\
         mxpf.test. IN NS ns.mxpf.test.\n\
         ns.mxpf.test. IN A 127.0.0.1\n\
         mxpf.test. IN MX 10 mx-ee.dpf.test.\n\
         mx.mxpf.test. IN A {}\n",
        addr(6).ip()
    );
    let expired = std::fs::read_to_string(testdata("expired.test.zone")).unwrap();
    // unbound on port 53: glibc's resolv.conf takes no port.
    let resolver_ip = "127.0.163.53".parse().unwrap();
    let dns = Validating::start_placed(
        ("127.0.0.1".parse().unwrap(), None),
        (resolver_ip, Some(53)),
        &[("dpf.test", &signed)],
        &[("mxpf.test", &unsigned)],
        &[("expired.test", &expired)],
    );
    let resolver = dns.resolver();
    let exchangers = Postfix::start_with(
        &[
            PostfixInstance::new(addr(1), "mx-ee.dpf.test").tls(ee),
            PostfixInstance::new(addr(2), "mx-ta.dpf.test").tls(ta_chain),
            PostfixInstance::new(addr(3), "mx-bad.dpf.test").tls(bad),
            PostfixInstance::new(addr(4), "mx-enc.dpf.test").tls(enc),
            PostfixInstance::new(addr(5), "mx-fail.dpf.test").tls(fail),
            PostfixInstance::new(addr(6), "mx.mxpf.test").tls(plain),
        ],
        &CASES.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
        &[],
    );
    let resolv = tempfile::tempdir().unwrap();
    let conf = resolv.path().join("resolv.conf");
    // trust-ad: glibc passes the AD bit on only when told to.
    std::fs::write(
        &conf,
        format!("nameserver {}\noptions trust-ad\n", resolver.ip()),
    )
    .unwrap();
    let sender = Postfix::start_resolving(
        &[PostfixInstance::new(addr(100), "sender.dpf.test")],
        &["sender.invalid"],
        &[
            ("default_transport", "smtp"),
            ("relay_transport", "smtp"),
            (
                "smtpd_relay_restrictions",
                "permit_mynetworks, reject_unauth_destination",
            ),
            ("smtp_dns_support_level", "dnssec"),
            ("smtp_tls_security_level", "dane"),
            ("smtp_tls_loglevel", "1"),
            ("smtp_host_lookup", "dns"),
            ("dnssec_probe", ""),
            ("smtp_connect_timeout", "5s"),
            // One connection per delivery, so each logs its own TLS line.
            ("smtp_connection_cache_on_demand", "no"),
        ],
        Some(&conf),
    );
    Bed {
        _dns: dns,
        resolver,
        _exchangers: exchangers,
        sender,
        _resolv: resolv,
        _ca: ca,
    }
}

/// What Postfix logged for its delivery to `domain` via `host`: one of
/// `Verified`, `Trusted`, `Untrusted`, `not verified`, `TLSA lookup error`.
fn postfix_verdict(sender: &Postfix, domain: &str, host: &str) -> String {
    let message =
        format!("From: a@sender.invalid\r\nTo: b@{domain}\r\nSubject: {domain}\r\n\r\nx\r\n");
    let reply = testbed::smtp_client::send_message(
        sender.addr(0),
        "a@sender.invalid",
        &[&format!("b@{domain}")],
        &message,
    )
    .unwrap_or_else(|e| panic!("handing mail for {domain} to the sender: {e}"));
    assert!(
        reply.is_positive(),
        "the sender refused mail for {domain}: {}",
        reply.text()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = sender.log();
        if let Some(verdict) = verdict_in_log(&log, domain, host) {
            return verdict;
        }
        assert!(
            Instant::now() < deadline,
            "Postfix logged no verdict for {domain} via {host} in 30 s:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Read the verdict off the delivery's status line (`to=<b@DOMAIN>`): a
/// deferral for a TLSA lookup error or a certificate not verified, or,
/// when sent, the TLS line the same smtp process logged last for `host`
/// (Postfix logs it before the status line, without the queue id).
fn verdict_in_log(log: &str, domain: &str, host: &str) -> Option<String> {
    let mut last_tls: std::collections::HashMap<&str, &str> = Default::default();
    for line in log.lines() {
        let Some(pid) = line
            .split_once("postfix/smtp[")
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(pid, _)| pid)
        else {
            continue;
        };
        for word in ["Verified", "Trusted", "Untrusted", "Anonymous"] {
            if line.contains(&format!("{word} TLS connection established to {host}[")) {
                last_tls.insert(pid, word);
            }
        }
        if !line.contains(&format!("to=<b@{domain}>")) {
            continue;
        }
        if line.contains("status=deferred") {
            if line.contains("TLSA lookup error") {
                return Some("TLSA lookup error".into());
            }
            if line.contains("not verified") {
                return Some("not verified".into());
            }
        }
        if line.contains("status=sent") {
            return last_tls.get(pid).map(|w| w.to_string());
        }
    }
    None
}

/// The same verdict from `mxkit probe DOMAIN --json` (Postfix's words):
/// DANE verified under a signed MX answer is `Verified`, under an unsigned
/// one `Trusted` (Rule S2); TLS without authentication `Untrusted`; a
/// certificate the records do not match `not verified`; a failed TLSA
/// lookup `TLSA lookup error`.
fn mxkit_verdict(resolver: SocketAddr, domain: &str) -> String {
    let out = Command::cargo_bin("mxkit")
        .unwrap()
        .args(["probe", domain, "--json", "--stop-after", "starttls"])
        .args(["--server", &resolver.to_string(), "--seed", "1"])
        .args(["--connect-timeout", "2s", "--smtp-timeout", "5s"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let j: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    if j["route"]["outcome"] == "tlsa_lookup_failed" {
        return "TLSA lookup error".into();
    }
    let tls = &j["walk"]["attempts"][0]["tls"];
    if tls["verified_by"]
        .as_str()
        .is_some_and(|b| b.starts_with("dane"))
    {
        return if j["route"]["dnssec"] == "secure" {
            "Verified".into()
        } else {
            "Trusted".into()
        };
    }
    if !tls["error"].is_null() {
        return "not verified".into();
    }
    if tls["completed"] == true {
        return if tls["chain_trusted"] == true {
            "Trusted".into()
        } else {
            "Untrusted".into()
        };
    }
    format!("no TLS: {j}")
}

#[test]
fn s6_mxkit_agrees_with_postfix_on_every_dane_case() {
    let bed = start();
    let mut table = Vec::new();
    for (domain, host) in CASES {
        let postfix = postfix_verdict(&bed.sender, domain, host);
        let mxkit = mxkit_verdict(bed.resolver, domain);
        table.push((domain, host, postfix, mxkit));
    }
    let report: Vec<String> = table
        .iter()
        .map(|(d, h, p, m)| format!("{d:18} via {h:18} postfix: {p:18} mxkit: {m}"))
        .collect();
    eprintln!("{}", report.join("\n"));
    assert!(
        table.iter().all(|(_, _, p, m)| p == m),
        "mxkit and Postfix disagree:\n{}\n--- sender log ---\n{}",
        report.join("\n"),
        bed.sender.log()
    );
    // The cases cover every verdict.
    for want in [
        "Verified",
        "Trusted",
        "Untrusted",
        "not verified",
        "TLSA lookup error",
    ] {
        assert!(
            table.iter().any(|(_, _, p, _)| p == want),
            "no case gave {want}: {}",
            report.join("\n")
        );
    }
}

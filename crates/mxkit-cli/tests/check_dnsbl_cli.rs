//! `mxkit check --dnsbl ZONE` end to end (docs/rules/check.md, row MX33):
//! knotd serves the domain (on port 53 of its own loopback address, where
//! the name-server rules ask it), rbldnsd serves the list, and unbound, the
//! resolver mxkit asks, sends each zone to its server. One exchanger
//! address is listed with a reason (IPv4 and IPv6), one is clean, and one
//! gets the error code a list answers a resolver it refuses.

use std::net::{IpAddr, Ipv4Addr};

use assert_cmd::Command;
use serde_json::Value;
use testbed::knot::Knot;
use testbed::rbldnsd::{Dataset, Rbldnsd};
use testbed::unbound::{Stub, Unbound};

const DOMAIN: &str = "listed.test";
const LIST: &str = "bl.dnsbl.test";

fn mxkit() -> Command {
    Command::cargo_bin("mxkit").unwrap()
}

const ZONE: &str = "$ORIGIN listed.test.\n$TTL 3600\n\
    @ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 127.0.190.11\n\
    @ MX 10 mx1\n@ MX 20 mx2\n\
    mx1 A 185.12.64.25\nmx1 AAAA 2a01:4f8::25\n\
    mx2 A 185.12.64.26\nmx2 AAAA 2a01:4f8::26\n";

const REVERSE4: &str = "$ORIGIN 64.12.185.in-addr.arpa.\n$TTL 3600\n\
    @ SOA ns1.listed.test. hostmaster.listed.test. 1 7200 900 1209600 300\n\
    @ NS ns1.listed.test.\n25 PTR mx1.listed.test.\n26 PTR mx2.listed.test.\n";

const REVERSE6_ZONE: &str = "8.f.4.0.1.0.a.2.ip6.arpa";

fn reverse6() -> String {
    // The five zero groups of 2a01:4f8::25 (20 nibbles).
    let tail = ["0"; 20].join(".");
    format!(
        "$ORIGIN {REVERSE6_ZONE}.\n$TTL 3600\n\
         @ SOA ns1.listed.test. hostmaster.listed.test. 1 7200 900 1209600 300\n\
         @ NS ns1.listed.test.\n5.2.0.0.{tail} PTR mx1.listed.test.\n6.2.0.0.{tail} PTR mx2.listed.test.\n"
    )
}

/// The list, as an rbldnsd `combined` dataset: the RFC 5782 section 5 test
/// entries, 185.12.64.25 and 2a01:4f8::26 listed with a reason (`$` is the
/// address), 185.12.64.26 answered with Spamhaus's "public resolver" code.
const DATASET: &str = "$SOA 300 ns.bl.dnsbl.test. hostmaster.dnsbl.test. 1 3600 600 86400 300\n\
    $NS 300 ns.bl.dnsbl.test.\n$TTL 300\n\
    $DATASET ip4set @\n:127.0.0.2:Listed\n\
    127.0.0.2 :127.0.0.2:RFC 5782 test entry\n\
    185.12.64.25 :127.0.0.3:Spam source; see http://bl.dnsbl.test/lookup?ip=$\n\
    185.12.64.26 :127.255.255.254:Query refused: public resolver\n\
    $DATASET ip6trie @\n:127.0.0.2:Listed\n\
    ::ffff:7f00:2/128 :127.0.0.2:RFC 5782 test entry\n\
    2a01:4f8::26/128 :127.0.0.4:Snowshoe range; see http://bl.dnsbl.test/lookup?ip=$\n";

/// The bed: knotd, rbldnsd and unbound, each on 127.0.190.0/24.
struct Bed {
    _knot: Knot,
    _list: Rbldnsd,
    resolver: Unbound,
}

fn bed() -> Bed {
    let ip = |last: u8| IpAddr::V4(Ipv4Addr::new(127, 0, 190, last));
    let reverse6 = reverse6();
    let knot = Knot::start_on(
        ip(11),
        Some(53),
        &[
            (DOMAIN, ZONE),
            ("64.12.185.in-addr.arpa", REVERSE4),
            (REVERSE6_ZONE, &reverse6),
        ],
    );
    let list = Rbldnsd::start_on(
        ip(3),
        &[Dataset {
            zone: LIST,
            kind: "combined",
            text: DATASET,
        }],
    );
    let resolver = Unbound::start(
        ip(1),
        &[
            Stub::new(DOMAIN, knot.addr()),
            Stub::new("64.12.185.in-addr.arpa", knot.addr()),
            Stub::new(REVERSE6_ZONE, knot.addr()),
            Stub::new(LIST, list.addr()),
        ],
        &[],
    );
    Bed {
        _knot: knot,
        _list: list,
        resolver,
    }
}

/// `mxkit check listed.test --dnsbl bl.dnsbl.test` through the bed's
/// resolver: (exit code, stdout).
fn check(bed: &Bed, args: &[&str]) -> (i32, String) {
    let server = bed.resolver.addr().to_string();
    let out = mxkit()
        .args([
            "check",
            DOMAIN,
            "--no-smtp", // the exchangers are not on loopback: nothing may connect there
            "--mta-sts",
            "off",
            "--server",
            &server,
            "--dns-timeout",
            "1",
            "--dnsbl",
            LIST,
        ])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "stderr: {stderr}");
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

fn findings<'j>(j: &'j Value, id: &str) -> Vec<&'j Value> {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

#[test]
fn rfc5782_listed_clean_and_refused_addresses_through_a_real_list() {
    let bed = bed();

    // JSON.
    let (code, out) = check(&bed, &["--format", "json"]);
    let j: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(code, 2, "a listed exchanger is an error: {j:#}");
    assert!(j["incomplete"].as_array().unwrap().is_empty(), "{j:#}");
    // Nothing else is wrong with the domain (knotd answers without the AD
    // bit: dnssec-unsigned is information).
    let mut ids: Vec<&str> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .filter(|id| *id != "dnssec-unsigned")
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        vec!["dnsbl-refused", "exchanger-listed", "exchanger-listed"],
        "{j:#}"
    );

    let listed = findings(&j, "exchanger-listed");
    let mut subjects: Vec<&str> = listed
        .iter()
        .map(|f| f["subject"].as_str().unwrap())
        .collect();
    subjects.sort_unstable();
    assert_eq!(subjects, vec!["185.12.64.25", "2a01:4f8::26"], "{j:#}");
    for f in &listed {
        assert_eq!(f["severity"], "error");
        assert_eq!(f["rfc"], "RFC 5782 sections 2.1 and 2.2");
        let ip = f["subject"].as_str().unwrap();
        let reason = format!("see http://bl.dnsbl.test/lookup?ip={ip}");
        assert!(f["message"].as_str().unwrap().contains(&reason), "{f:#}");
        let evidence = f["evidence"].as_array().unwrap();
        assert_eq!(evidence.len(), 2, "{f:#}");
        assert!(
            evidence[0]["query"]
                .as_str()
                .unwrap()
                .ends_with(".bl.dnsbl.test. A"),
            "{f:#}"
        );
        assert!(
            evidence[1]["answer"].as_str().unwrap().contains(&reason),
            "{f:#}"
        );
        assert!(f["fix"].as_str().unwrap().contains("delisting"), "{f:#}");
    }
    let v4 = listed
        .iter()
        .find(|f| f["subject"] == "185.12.64.25")
        .unwrap();
    assert_eq!(v4["evidence"][0]["query"], "25.64.12.185.bl.dnsbl.test. A");
    assert_eq!(v4["evidence"][0]["answer"], "127.0.0.3");
    let v6 = listed
        .iter()
        .find(|f| f["subject"] == "2a01:4f8::26")
        .unwrap();
    assert_eq!(
        v6["evidence"][0]["query"],
        "6.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.f.4.0.1.0.a.2.bl.dnsbl.test. A"
    );
    assert_eq!(v6["evidence"][0]["answer"], "127.0.0.4");

    // The refused code: its own finding, never a listing.
    let refused = findings(&j, "dnsbl-refused");
    assert_eq!(refused.len(), 1, "{j:#}");
    assert_eq!(refused[0]["subject"], LIST);
    assert_eq!(refused[0]["severity"], "warning");
    assert!(
        refused[0]["message"]
            .as_str()
            .unwrap()
            .contains("185.12.64.26 (exchanger mx2.listed.test)"),
        "{j:#}"
    );
    let evidence = refused[0]["evidence"].to_string();
    assert!(
        evidence.contains("127.255.255.254") && evidence.contains("Query refused: public resolver"),
        "{evidence}"
    );
    assert!(findings(&j, "dnsbl-unusable").is_empty(), "{j:#}");

    // The dnsbl key: the list works for both families, every address has
    // its answer.
    let lists = j["dnsbl"].as_array().unwrap();
    assert_eq!(lists.len(), 1, "{j:#}");
    assert_eq!(lists[0]["list"], LIST);
    assert_eq!(lists[0]["ipv4"], "working", "{j:#}");
    assert_eq!(lists[0]["ipv6"], "working", "{j:#}");
    let status = |ip: &str| {
        let a = lists[0]["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["address"] == ip)
            .unwrap_or_else(|| panic!("{ip}: {j:#}"));
        a["status"].as_str().unwrap().to_string()
    };
    assert_eq!(status("185.12.64.25"), "listed");
    assert_eq!(status("2a01:4f8::25"), "not_listed");
    assert_eq!(status("185.12.64.26"), "refused");
    assert_eq!(status("2a01:4f8::26"), "listed");

    // Text: the same findings, one line each, and the exit code.
    let (code, text) = check(&bed, &[]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("  exchanger-listed 185.12.64.25: 185.12.64.25 (exchanger mx1.listed.test) is listed on bl.dnsbl.test (code 127.0.0.3; reason \"Spam source; see http://bl.dnsbl.test/lookup?ip=185.12.64.25\")"),
        "{text}"
    );
    assert!(text.contains("  exchanger-listed 2a01:4f8::26: "), "{text}");
    assert!(
        text.contains("      evidence: ")
            && text.contains("25.64.12.185.bl.dnsbl.test. A -> 127.0.0.3"),
        "{text}"
    );
    assert!(text.contains("  dnsbl-refused bl.dnsbl.test: "), "{text}");
    assert!(!text.contains("exchanger-listed 185.12.64.26"), "{text}");
    assert!(!text.contains("exchanger-listed 2a01:4f8::25"), "{text}");

    // Re-graded, the listing alone decides: the refusal is information.
    let (code, text) = check(&bed, &["--set", "exchanger-listed=ignore"]);
    assert_eq!(code, 1, "the refusal is a warning: {text}");
    let (code, text) = check(
        &bed,
        &[
            "--set",
            "exchanger-listed=ignore",
            "--set",
            "dnsbl-refused=info",
        ],
    );
    assert_eq!(code, 0, "{text}");
}

#[test]
fn offline_the_lists_are_not_asked_and_the_report_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("listed.test.zone");
    std::fs::write(&zone, ZONE).unwrap();
    let out = mxkit()
        .args(["check", DOMAIN, "--offline", "--dnsbl", LIST, "--zone"])
        .arg(&zone)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "exchanger-listed, dnsbl-refused, dnsbl-unusable: offline: the blocklists (bl.dnsbl.test) were not asked"
        ),
        "{text}"
    );
    assert!(!text.contains("exchanger-listed "), "{text}");
    let out = mxkit()
        .args(["check", DOMAIN, "--offline", "--format", "json"])
        .args(["--dnsbl", LIST, "--zone"])
        .arg(&zone)
        .output()
        .unwrap();
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(j.get("dnsbl").is_none(), "{j:#}");
}

#[test]
fn a_bad_list_zone_is_a_usage_error() {
    for (zone, why) in [
        (
            "192.0.2.1",
            "--dnsbl \"192.0.2.1\": 192.0.2.1 is an IP address",
        ),
        ("org", "--dnsbl \"org\": org is a single label"),
        ("bl_x.example", "not a blocklist zone name"),
        ("", "empty blocklist zone name"),
    ] {
        let out = mxkit()
            .args(["check", DOMAIN, "--no-smtp", "--dnsbl", zone])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{zone:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{zone:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{zone:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

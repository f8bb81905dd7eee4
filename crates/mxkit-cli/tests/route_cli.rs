//! `mxkit route` end to end: the route test catalogue (docs/rules/route.md:
//! the DNS cases among cases 1 to 44) run through the binary twice, live
//! against a real knotd serving `testdata/catalogue.test.zone` (module `live`)
//! and offline against the same file with `--zone ... --offline` (module
//! `offline`); what knotd will not do on demand (SERVFAIL, silence,
//! truncation) comes from the test-bed's fault server. Tests are named after
//! the rule they check.

use std::net::SocketAddr;
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

fn knot() -> Knot {
    let cat = std::fs::read_to_string(testdata("catalogue.test.zone")).unwrap();
    let other = std::fs::read_to_string(testdata("other.test.zone")).unwrap();
    Knot::start(&[("catalogue.test", &cat), ("other.test", &other)])
}

fn mxkit() -> Command {
    Command::cargo_bin("mxkit").unwrap()
}

/// Run `mxkit route ARGS --json`, check the exit code, parse the JSON.
fn json(extra: &[&str], args: &[&str], code: i32) -> Value {
    let out = mxkit()
        .arg("route")
        .args(args)
        .args(extra)
        .args(["--json", "--seed", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(code),
        "mxkit route {args:?} {extra:?}\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn live(knot: &Knot, args: &[&str], code: i32) -> Value {
    let server = knot.addr().to_string();
    json(&["--server", &server, "--dns-timeout", "2"], args, code)
}

fn offline(args: &[&str], code: i32) -> Value {
    let cat = testdata("catalogue.test.zone");
    let other = testdata("other.test.zone");
    json(&["--zone", &cat, "--zone", &other, "--offline"], args, code)
}

fn plan(j: &Value) -> Vec<String> {
    j["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c["preference"],
                c["exchanger"].as_str().unwrap(),
                c["address"].as_str().unwrap()
            )
        })
        .collect()
}

fn warning_codes(j: &Value) -> Vec<String> {
    j["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap().to_string())
        .collect()
}

fn is(j: &Value, status: &str, outcome: &str) {
    assert_eq!(j["status"], status, "{j:#}");
    assert_eq!(j["outcome"], outcome, "{j:#}");
}

/// One test per case in each of the modules `live` (knotd) and `offline`
/// (zone files): `name: [args...] => exit code, |json| { checks }`.
macro_rules! catalogue {
    ($($name:ident: [$($arg:expr),*] => $code:expr, |$j:ident| $body:block)*) => {
        mod live {
            use super::*;
            $(#[test] fn $name() { let knot = knot(); let $j = super::live(&knot, &[$($arg),*], $code); $body })*
        }
        mod offline {
            use super::*;
            $(#[test] fn $name() { let $j = super::offline(&[$($arg),*], $code); $body })*
        }
    };
}

catalogue! {
    case01_rfc5321_5_1_one_mx: ["john@c01.catalogue.test"] => 0, |j| {
        is(&j, "deliverable", "mx");
        assert_eq!(plan(&j), ["10 mx1.c01.catalogue.test 192.0.2.1"]);
        assert_eq!(j["domain"], "c01.catalogue.test");
        assert_eq!(j["records"][0]["ttl"], 3600);
    }
    case02_rule12_sorted_numerically: ["c02.catalogue.test"] => 0, |j| {
        assert_eq!(plan(&j), ["10 a.c02.catalogue.test 192.0.2.2", "20 b.c02.catalogue.test 192.0.2.3"]);
    }
    case03_rule12_equal_preferences_then_higher: ["c03.catalogue.test"] => 0, |j| {
        assert_eq!(plan(&j).len(), 3);
        assert_eq!(plan(&j)[2], "20 c.c03.catalogue.test 192.0.2.33");
    }
    case04_rfc1035_unsigned_preference: ["c04.catalogue.test"] => 0, |j| {
        assert_eq!(plan(&j), ["0 y.c04.catalogue.test 192.0.2.41", "65535 z.c04.catalogue.test 192.0.2.42"]);
    }
    case05_rfc5321_5_1_implicit_mx: ["c05.catalogue.test"] => 0, |j| {
        is(&j, "deliverable", "implicit_mx");
        assert_eq!(plan(&j), ["0 c05.catalogue.test 192.0.2.10"]);
    }
    case06_rfc5321_5_1_implicit_mx_aaaa: ["c06.catalogue.test"] => 0, |j| {
        assert_eq!(plan(&j), ["0 c06.catalogue.test 2001:db8::6"]);
    }
    case06_rfc3974_implicit_mx_aaaa_for_ipv4_client: ["c06.catalogue.test", "--family", "ipv4"] => 2, |j| {
        is(&j, "permanent", "no_usable_exchanger");
    }
    case07_rfc5321_5_1_implicit_mx_without_address: ["c07.catalogue.test"] => 2, |j| {
        is(&j, "permanent", "no_usable_exchanger");
        assert_eq!(j["error"]["dsn"], "5.4.4");
    }
    case08_rfc5321_5_1_nxdomain: ["c08.catalogue.test"] => 2, |j| {
        is(&j, "permanent", "no_such_domain");
        assert_eq!(j["candidates"].as_array().unwrap().len(), 0);
    }
    case12_rfc5321_5_1_domain_a_unused_when_mx_exists: ["c12.catalogue.test"] => 0, |j| {
        assert_eq!(plan(&j), ["10 mx1.c12.catalogue.test 192.0.2.12"]);
    }
    case13_rfc7505_null_mx: ["c13.catalogue.test"] => 2, |j| {
        is(&j, "permanent", "null_mx");
        assert_eq!(j["error"]["dsn"], "5.1.10");
        assert_eq!(j["error"]["code"], "null_mx");
    }
    case14_rfc7505_null_mx_with_a: ["c14.catalogue.test"] => 2, |j| {
        is(&j, "permanent", "null_mx");
    }
    case15_rule10_null_mx_mixed: ["c15.catalogue.test"] => 2, |j| {
        is(&j, "permanent", "null_mx");
        assert!(warning_codes(&j).contains(&"null_mx_mixed".to_string()));
    }
    case16_rule10_root_at_other_preference: ["c16.catalogue.test"] => 2, |j| {
        is(&j, "permanent", "null_mx");
    }
    case17_rfc5321_5_1_domain_cname: ["john@c17.catalogue.test"] => 0, |j| {
        assert_eq!(plan(&j), ["10 mx.t.other.test 192.0.2.17"]);
        assert_eq!(j["domain"], "c17.catalogue.test");
        assert_eq!(j["cname_chain"][0], "t.other.test");
    }
    case18_rule4_cname_loop: ["c18.catalogue.test"] => 3, |j| {
        is(&j, "temporary", "dns_temporary");
    }
    case19_rfc2181_10_3_exchanger_alias: ["c19.catalogue.test"] => 0, |j| {
        assert_eq!(plan(&j), ["10 alias.c19.catalogue.test 192.0.2.7"]);
        assert_eq!(j["candidates"][0]["canonical"], "real.c19.catalogue.test");
        assert!(warning_codes(&j).contains(&"mx_is_cname".to_string()));
    }
    case20_rfc5321_5_1_ip_mx_strict: ["c20.catalogue.test"] => 2, |j| {
        is(&j, "permanent", "no_usable_exchanger");
        assert!(warning_codes(&j).contains(&"mx_is_ip".to_string()));
    }
    case20_rfc5321_5_1_ip_mx_lenient: ["c20.catalogue.test", "--allow-ip-mx"] => 0, |j| {
        assert_eq!(plan(&j), ["10 192.0.2.7 192.0.2.7"]);
    }
    case21_rfc5321_5_1_ip_mx_skipped: ["c21.catalogue.test"] => 0, |j| {
        assert_eq!(plan(&j), ["20 mx2.c21.catalogue.test 192.0.2.21"]);
    }
    case22_rule11_invalid_name_dropped: ["c22.catalogue.test"] => 0, |j| {
        assert_eq!(plan(&j), ["20 mx2.c22.catalogue.test 192.0.2.22"]);
        assert!(warning_codes(&j).contains(&"invalid_exchanger".to_string()));
    }
    case23_rule11_only_invalid_names: ["c23.catalogue.test"] => 2, |j| {
        is(&j, "permanent", "no_usable_exchanger");
    }
    case24_rule16_exchanger_nxdomain_skipped: ["c24.catalogue.test"] => 0, |j| {
        assert_eq!(plan(&j), ["20 ok.c24.catalogue.test 192.0.2.24"]);
    }
    case25_rule16_every_exchanger_nxdomain: ["c25.catalogue.test"] => 2, |j| {
        is(&j, "permanent", "no_usable_exchanger");
    }
    case28_rfc3974_both_families: ["c28.catalogue.test"] => 0, |j| {
        let p = plan(&j);
        assert!(p.contains(&"10 mx1.c28.catalogue.test 192.0.2.28".to_string()), "{p:?}");
        assert!(p.contains(&"10 mx1.c28.catalogue.test 2001:db8::28".to_string()), "{p:?}");
    }
    case29_rule18_limit_keeps_both_families: ["c29.catalogue.test", "--address-limit", "5"] => 0, |j| {
        let p = plan(&j);
        assert_eq!(p.len(), 5);
        assert!(p.iter().any(|c| c.contains("192.0.2.")), "{p:?}");
    }
    case30_rfc3974_ipv6_only_for_ipv4_client: ["c30.catalogue.test", "--family", "ipv4"] => 2, |j| {
        is(&j, "permanent", "no_usable_exchanger");
    }
    case31_rule19_self_only_exchanger: ["c31.catalogue.test", "--self", "self.c31.catalogue.test"] => 2, |j| {
        is(&j, "permanent", "loops_to_self");
        assert_eq!(j["error"]["dsn"], "5.4.6");
    }
    case32_rule19_self_truncation: ["c32.catalogue.test", "--self", "192.0.2.99"] => 0, |j| {
        assert_eq!(plan(&j), ["10 p.c32.catalogue.test 192.0.2.32"]);
    }
    case33_rule19_self_at_best_level: ["c33.catalogue.test", "--self", "192.0.2.99"] => 2, |j| {
        is(&j, "permanent", "loops_to_self");
    }
    case34_rule19_no_primary_relay: ["c34.catalogue.test", "--self", "192.0.2.99"] => 3, |j| {
        is(&j, "temporary", "no_primary_relay");
        assert_eq!(j["error"]["dsn"], "4.4.4");
    }
    case35_rule19_loopback_is_self: ["c35.catalogue.test"] => 2, |j| {
        is(&j, "permanent", "loops_to_self");
    }
    case36_rule13_duplicate_exchanger: ["c36.catalogue.test"] => 0, |j| {
        assert_eq!(plan(&j), ["10 a.c36.catalogue.test 192.0.2.36"]);
    }
    case37_rule13_duplicate_address: ["c37.catalogue.test"] => 0, |j| {
        assert_eq!(plan(&j), ["10 a.c37.catalogue.test 192.0.2.37"]);
    }
    case41_rfc5890_idn: ["user@bücher.catalogue.test"] => 0, |j| {
        assert_eq!(j["domain"], "xn--bcher-kva.catalogue.test");
        assert_eq!(plan(&j), ["10 mx1.c01.catalogue.test 192.0.2.1"]);
    }
    case44_rule20_address_limit: ["c44.catalogue.test", "--address-limit", "5"] => 0, |j| {
        let prefs: Vec<u64> = j["candidates"].as_array().unwrap().iter().map(|c| c["preference"].as_u64().unwrap()).collect();
        assert_eq!(prefs, [10, 10, 10, 10, 20]);
    }
}

/// A fault server that answers every MX question with SERVFAIL and A with one address.
fn servfail_mx() -> FaultServer {
    FaultServer::start(|req| match req.rtype().to_string().as_str() {
        "MX" => Reply::ServFail,
        "A" => Reply::a(req, &["192.0.2.9"]),
        _ => Reply::nodata(req, 300, 300),
    })
}

fn server_args(addr: SocketAddr) -> Vec<String> {
    vec![
        "--server".into(),
        addr.to_string(),
        "--dns-timeout".into(),
        "0.3".into(),
    ]
}

fn with(addr: SocketAddr, args: &[&str], code: i32) -> Value {
    let s = server_args(addr);
    let extra: Vec<&str> = s.iter().map(String::as_str).collect();
    json(&extra, args, code)
}

#[test]
fn case09_rfc5321_5_1_servfail_is_temporary_and_domain_a_unused() {
    let server = servfail_mx();
    let j = with(server.addr(), &["user@example.test"], 3);
    is(&j, "temporary", "dns_temporary");
    assert_eq!(j["error"]["dsn"], "4.4.3");
    assert!(j["error"]["message"].as_str().unwrap().contains("SERVFAIL"));
    // No A or AAAA fallback: the MX query, and the MTA-STS and TLS-RPT
    // records asked beside it (docs/rules/secure.md, Rules S7 and S12).
    assert!(
        server
            .queries()
            .iter()
            .all(|q| q.1 == "MX" || (q.1 == "TXT" && is_policy_record(&q.0))),
        "{:?}",
        server.queries()
    );
}

/// The two policy records asked with the MX query.
fn is_policy_record(name: &str) -> bool {
    name.starts_with("_mta-sts.") || name.starts_with("_smtp._tls.")
}

#[test]
fn case10_rfc5321_5_1_mx_timeout_is_temporary() {
    let server = FaultServer::start(|_| Reply::Silence);
    let j = with(server.addr(), &["user@example.test"], 3);
    is(&j, "temporary", "dns_temporary");
    assert!(
        j["error"]["message"].as_str().unwrap().contains("timeout"),
        "{j:#}"
    );
}

#[test]
fn case11_rfc1123_6_1_3_2_truncated_answer_retried_over_tcp() {
    use testbed::fault::Transport;
    let server =
        FaultServer::start(
            |req| match (req.rtype().to_string().as_str(), req.transport) {
                ("MX", Transport::Udp) => Reply::mx(req, &[(10, "udp.example.test.")]).with_tc(),
                ("MX", Transport::Tcp) => Reply::mx(
                    req,
                    &[
                        (10, "a.example.test."),
                        (20, "b.example.test."),
                        (30, "c.example.test."),
                    ],
                ),
                ("A", _) => Reply::a(req, &["192.0.2.50"]),
                _ => Reply::nodata(req, 300, 300),
            },
        );
    let j = with(server.addr(), &["example.test"], 0);
    let records: Vec<&str> = j["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["exchanger"].as_str().unwrap())
        .collect();
    assert_eq!(
        records,
        ["a.example.test", "b.example.test", "c.example.test"]
    );
    assert!(server.count(Transport::Tcp) >= 1);
}

#[test]
fn case11_rfc1123_6_1_3_2_truncated_answer_without_tcp_is_temporary() {
    let server =
        FaultServer::start_udp_only(|req| Reply::mx(req, &[(10, "udp.example.test.")]).with_tc());
    let j = with(server.addr(), &["example.test"], 3);
    is(&j, "temporary", "dns_temporary");
    assert!(j["candidates"].as_array().unwrap().is_empty());
}

#[test]
fn case26_rule16_soft_error_dominates() {
    let server =
        FaultServer::start(
            |req| match (req.name().as_str(), req.rtype().to_string().as_str()) {
                (_, "MX") => Reply::mx(req, &[(10, "a.example.test."), (20, "b.example.test.")]),
                ("a.example.test.", _) => Reply::ServFail,
                _ => Reply::nxdomain(req, 300, 300),
            },
        );
    let j = with(server.addr(), &["example.test"], 3);
    is(&j, "temporary", "dns_temporary");
}

#[test]
fn case27_rule16_soft_error_on_one_exchanger_leaves_the_next() {
    let server =
        FaultServer::start(
            |req| match (req.name().as_str(), req.rtype().to_string().as_str()) {
                (_, "MX") => Reply::mx(req, &[(10, "a.example.test."), (20, "b.example.test.")]),
                ("a.example.test.", _) => Reply::ServFail,
                ("b.example.test.", "A") => Reply::a(req, &["192.0.2.27"]),
                _ => Reply::nodata(req, 300, 300),
            },
        );
    let j = with(server.addr(), &["example.test"], 0);
    assert_eq!(plan(&j), ["20 b.example.test 192.0.2.27"]);
    assert!(warning_codes(&j).contains(&"exchanger_lookup_failed".to_string()));
}

#[test]
fn case38_rfc5321_4_1_3_literal_asks_no_dns() {
    let server = servfail_mx();
    let j = with(server.addr(), &["user@[192.0.2.1]"], 0);
    is(&j, "deliverable", "address_literal");
    assert_eq!(plan(&j), ["0 [192.0.2.1] 192.0.2.1"]);
    assert!(server.queries().is_empty(), "{:?}", server.queries());
}

#[test]
fn case39_rfc5321_4_1_3_ipv6_literal_any_case() {
    for input in ["user@[IPv6:2001:db8::1]", "user@[ipv6:2001:DB8::1]"] {
        let j = json(&["--offline"], &[input], 0);
        assert_eq!(j["candidates"][0]["address"], "2001:db8::1");
    }
}

#[test]
fn case40_rfc5321_4_1_3_bad_literals_are_usage_errors() {
    for input in ["user@[2001:db8::1]", "user@[300.1.1.1]", "user@[IPv6:zz]"] {
        let out = mxkit()
            .args(["route", input, "--offline"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{input}");
        assert!(out.stdout.is_empty(), "nothing half-printed");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains("literal"), "{err}");
    }
}

#[test]
fn case42_rfc5321_5_1_no_search_list() {
    let server = FaultServer::start(|req| Reply::nxdomain(req, 300, 300));
    let j = with(server.addr(), &["user@intranet"], 2);
    is(&j, "permanent", "no_such_domain");
    // No search list, for the policy records either.
    let mut asked: Vec<String> = server.queries().iter().map(|q| q.0.clone()).collect();
    asked.sort();
    assert_eq!(
        asked,
        ["_mta-sts.intranet.", "_smtp._tls.intranet.", "intranet."]
    );
}

#[test]
fn rule12_equal_preferences_shuffle_by_seed_live() {
    let knot = knot();
    let server = knot.addr().to_string();
    let mut firsts = std::collections::HashSet::new();
    for seed in 0..12 {
        let out = mxkit()
            .args([
                "route",
                "c03.catalogue.test",
                "--json",
                "--server",
                &server,
                "--seed",
                &seed.to_string(),
            ])
            .output()
            .unwrap();
        let j: Value = serde_json::from_slice(&out.stdout).unwrap();
        firsts.insert(
            j["candidates"][0]["exchanger"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        firsts.len(),
        2,
        "both preference-10 hosts come first for some seed: {firsts:?}"
    );
}

#[test]
fn records_match_dig() {
    // Cross-check with another client: the MX set mxkit reports is the one dig sees.
    let knot = knot();
    for domain in [
        "c03.catalogue.test",
        "c04.catalogue.test",
        "c44.catalogue.test",
    ] {
        let dig = knot.dig(&["+short", "MX", domain]);
        let mut from_dig: Vec<String> = dig
            .lines()
            .map(|l| l.trim_end_matches('.').to_lowercase())
            .collect();
        from_dig.sort();
        let j = live(&knot, &[domain], 0);
        let mut ours: Vec<String> = j["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{} {}", r["preference"], r["exchanger"].as_str().unwrap()))
            .collect();
        ours.sort();
        assert_eq!(ours, from_dig, "{domain}");
    }
}

#[test]
fn text_output_looks_like_host_and_has_a_plan_and_a_verdict() {
    let knot = knot();
    let out = mxkit()
        .args([
            "route",
            "c02.catalogue.test",
            "--server",
            &knot.addr().to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let host = knot.dig(&["+short", "MX", "c02.catalogue.test"]);
    assert!(!host.is_empty());
    assert!(
        text.contains("c02.catalogue.test mail is handled by 10 a.c02.catalogue.test."),
        "{text}"
    );
    assert!(
        text.contains("c02.catalogue.test mail is handled by 20 b.c02.catalogue.test."),
        "{text}"
    );
    assert!(text.contains("192.0.2.2"), "{text}");
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("deliverable: 2 addresses on 2 exchangers"),
        "{text}"
    );
}

#[test]
fn usage_errors_are_one_line_and_exit_64() {
    let bad_zone = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        bad_zone.path(),
        "$ORIGIN broken.test.\n@ SOA ns h 1 2 3 4 5\nwww A 300.1.1.1\n",
    )
    .unwrap();
    let zone_arg = bad_zone.path().to_string_lossy().into_owned();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["route", "user@exa mple.org"], "exa mple"),
        (vec!["route", "user@"], "domain"),
        (vec!["route", "example.org", "--bogus"], "--bogus"),
        (
            vec!["route", "example.org", "--server", "not-an-ip"],
            "--server",
        ),
        (
            vec!["route", "example.org", "--address-limit", "0"],
            "address-limit",
        ),
        (
            vec!["route", "example.org", "--zone", "/nonexistent/zone"],
            "/nonexistent/zone",
        ),
        (
            vec!["route", "example.org", "--zone", &zone_arg, "--offline"],
            ":3:",
        ),
        (vec!["route", "a.example.org", "--family", "ipv5"], "ipv5"),
    ];
    for (args, needle) in cases {
        let out = mxkit().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// A zone file over a limit (here an unclosed parenthesis that swallows
/// the rest of a large file, and files that are not zones at all) is one
/// line `FILE:LINE: ... exceeds the limit of N ...` and exit 64.
#[test]
fn zone_files_over_a_limit_are_usage_errors_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open.test.zone");
    std::fs::write(
        &open,
        format!(
            "$ORIGIN open.test.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n@ TXT ( \"unclosed\"\n{}",
            "www A 192.0.2.1\n".repeat(80_000)
        ),
    )
    .unwrap();
    let open = open.to_string_lossy().into_owned();
    let cases = [
        (
            open.as_str(),
            format!(
                "mxkit: error: {open}:4: this entry exceeds the limit of 1048576 bytes for one \
                 record or directive with its parenthesised lines and comments (the '(' of \
                 line 4 is never closed?)"
            ),
        ),
        (
            "/dev/zero",
            "mxkit: error: /dev/zero: cannot read zone file: not a regular file".to_string(),
        ),
    ];
    for (zone, want) in cases {
        let out = mxkit()
            .args(["route", "x@open.test", "--zone", zone, "--offline"])
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{zone}: {err}");
        assert_eq!(err.trim_end(), want);
    }
}

#[test]
fn help_lists_the_exit_codes() {
    let out = mxkit().args(["route", "--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Exit codes",
        "64",
        "temporary failure",
        "--zone",
        "--offline",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}

#[test]
fn hostile_names_are_escaped_in_text_output() {
    use mxkit::dns::{Name, RData, Record, rdata::MX};
    let server = FaultServer::start(|req| match req.rtype().to_string().as_str() {
        "MX" => {
            let evil = Name::from_labels(vec![&b"evil\x1b[31m"[..], b"example", b"test"]).unwrap();
            let owner = Name::from_ascii(req.name()).unwrap();
            let mut msg = testbed::fault::response(req);
            msg.add_answer(Record::from_rdata(owner, 300, RData::MX(MX::new(10, evil))));
            Reply::Answer(msg)
        }
        _ => Reply::nxdomain(req, 300, 300),
    });
    let s = server.addr().to_string();
    let out = mxkit()
        .args([
            "route",
            "example.test",
            "--server",
            &s,
            "--dns-timeout",
            "0.3",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\x1b'), "{text}");
    assert!(text.contains("evil\\027[31m"), "{text}");
}

/// One cause, one line: an exchanger whose lookup failed offline is named
/// in the plan, and its cause is given once, in its warning.
#[test]
fn text_output_gives_each_cause_once() {
    let zone = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/example.org.zone");
    let out = mxkit()
        .args(["route", "john@example.org", "--offline", "--seed", "1"])
        .arg("--zone")
        .arg(&zone)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text.matches("is outside every loaded zone").count(),
        1,
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.ends_with("backup-mx.example.net  -             lookup failed (temporary)")),
        "{text}"
    );
    assert!(text.contains("(exchanger_lookup_failed)"), "{text}");
    assert!(!text.contains("note: offline"), "{text}");
}

//! `mxkit probe`, `mxkit send` and the SMTP rules of `mxkit check` against the
//! real test bed (docs/design.md, "Tests and the test bed"): Postfix instances
//! with certificates from a test CA, smtp-sink for the failure servers (421
//! and 450 greetings, a server that never greets, 5xx to RCPT), an address
//! where nothing listens (refused), a SYN black hole (connect timeout), and
//! knotd serving the zone whose MX records point at them. Each test has its
//! own 127.0.N.0/24 so that tests can run in parallel; nothing leaves
//! loopback.

use std::net::SocketAddr;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use testbed::blackhole::BlackHole;
use testbed::certs::TestCa;
use testbed::knot::Knot;
use testbed::postfix::{Postfix, PostfixInstance};
use testbed::smtp_sink::SmtpSink;

fn addr(net: u8, host: u8) -> SocketAddr {
    format!("127.0.{net}.{host}:25").parse().unwrap()
}

/// knotd serving example.test with these (preference, host, address) MX records.
fn dns(mxs: &[(u16, &str, SocketAddr)]) -> Knot {
    let mut zone = String::from(
        "$ORIGIN example.test.\n$TTL 300\n@ SOA ns hostmaster 1 7200 900 1209600 300\n@ NS ns\nns A 127.0.0.1\n",
    );
    for (pref, host, a) in mxs {
        zone.push_str(&format!("@ MX {pref} {host}\n{host} A {}\n", a.ip()));
    }
    Knot::start(&[("example.test", &zone)])
}

/// One Postfix accepting mail for example.test as `host`, with a certificate from `ca`.
fn postfix(ca: &TestCa, a: SocketAddr, host: &str) -> Postfix {
    let name = format!("{host}.example.test");
    Postfix::start(&[PostfixInstance::new(a, &name).tls(ca.leaf(&[&name]))])
}

fn mxkit(knot: &Knot, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::cargo_bin("mxkit").unwrap();
    cmd.args(args).args(["--server", &knot.addr().to_string()]);
    if args[0] != "check" {
        cmd.args(["--seed", "1"]);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn probe_json(knot: &Knot, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "probe",
        "example.test",
        "--json",
        "--connect-timeout",
        "1s",
        "--smtp-timeout",
        "2s",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = mxkit(knot, &args);
    let j = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, j)
}

fn attempts(j: &Value) -> Vec<(String, String)> {
    j["walk"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["candidate"]["address"].as_str().unwrap().to_string(),
                a["outcome"]["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The failover table of docs/rules/route.md, first row: the first MX
/// refuses, the walk reaches the second.
#[test]
fn c1_connection_refused_moves_to_the_next_mx() {
    let ca = TestCa::new();
    let (down, up) = (addr(40, 9), addr(40, 3));
    let _pf = postfix(&ca, up, "mx2");
    let knot = dns(&[(10, "mx1", down), (20, "mx2", up)]);
    let (code, j) = probe_json(&knot, &[]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(
        attempts(&j),
        [
            ("127.0.40.9".into(), "soft".into()),
            ("127.0.40.3".into(), "reached".into())
        ]
    );
    assert_eq!(j["walk"]["verdict"], "reached");
}

#[test]
fn c1_421_greeting_moves_to_the_next_mx() {
    let ca = TestCa::new();
    let _sink = SmtpSink::greet_421(addr(41, 4), "tempfail.example.test");
    let _pf = postfix(&ca, addr(41, 3), "mx2");
    let knot = dns(&[(10, "mx1", addr(41, 4)), (20, "mx2", addr(41, 3))]);
    let (code, j) = probe_json(&knot, &[]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(attempts(&j)[0].1, "soft");
    assert_eq!(j["walk"]["attempts"][0]["stages"][1]["reply"]["code"], 421);
    assert_eq!(attempts(&j)[1], ("127.0.41.3".into(), "reached".into()));
}

#[test]
fn c1_real_postfix_temp_failing_greeting_moves_on() {
    let ca = TestCa::new();
    let name = "mx1.example.test";
    let _tf = Postfix::start(&[PostfixInstance::new(addr(42, 2), name).temp_fail()]);
    let _pf = postfix(&ca, addr(42, 3), "mx2");
    let knot = dns(&[(10, "mx1", addr(42, 2)), (20, "mx2", addr(42, 3))]);
    let (code, j) = probe_json(&knot, &[]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(attempts(&j)[0].1, "soft");
    assert_eq!(attempts(&j)[1].1, "reached");
}

#[test]
fn c1_450_greeting_silent_server_and_black_hole_all_move_on() {
    let ca = TestCa::new();
    let _g450 = SmtpSink::greet_450(addr(43, 5), "g450.example.test");
    let _silent = SmtpSink::silent(addr(43, 6), "silent.example.test");
    let _hole = BlackHole::start(addr(43, 10));
    let _pf = postfix(&ca, addr(43, 3), "mx2");
    let knot = dns(&[
        (10, "a", addr(43, 5)),
        (20, "b", addr(43, 6)),
        (30, "c", addr(43, 10)),
        (40, "mx2", addr(43, 3)),
    ]);
    let (code, j) = probe_json(&knot, &[]);
    assert_eq!(code, 0, "{j:#}");
    let got = attempts(&j);
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got[..3].iter().all(|(_, r)| r == "soft"), "{got:?}");
    assert_eq!(got[3], ("127.0.43.3".into(), "reached".into()));
    let reasons: Vec<&str> = j["walk"]["attempts"].as_array().unwrap()[..3]
        .iter()
        .map(|a| a["outcome"]["reason"].as_str().unwrap())
        .collect();
    assert!(reasons[1].contains("time"), "silent server: {reasons:?}");
    assert!(reasons[2].contains("time"), "black hole: {reasons:?}");
}

#[test]
fn c1_every_mx_failing_softly_is_temporary_exit_3() {
    let _sink = SmtpSink::greet_421(addr(44, 4), "tempfail.example.test");
    let knot = dns(&[(10, "mx1", addr(44, 4)), (20, "mx2", addr(44, 9))]);
    let (code, j) = probe_json(&knot, &[]);
    assert_eq!(code, 3, "{j:#}");
    assert_eq!(j["walk"]["verdict"], "temporary");
}

#[test]
fn c1_5xx_greeting_on_the_only_mx_is_temporary() {
    // Postfix's smtp_skip_5xx_greeting: move on, and defer at the end.
    let _sink = SmtpSink::start(addr(45, 4), "reject.example.test", &["-f", "CONNECT"]);
    let knot = dns(&[(10, "mx1", addr(45, 4))]);
    let (code, j) = probe_json(&knot, &[]);
    assert_eq!(code, 3, "{j:#}");
}

#[test]
fn c1_rcpt_5xx_is_final_and_the_next_mx_is_not_tried() {
    let ca = TestCa::new();
    let _sink = SmtpSink::reject_rcpt(addr(46, 8), "rcpt.example.test");
    let _pf = postfix(&ca, addr(46, 3), "mx2");
    let knot = dns(&[(10, "mx1", addr(46, 8)), (20, "mx2", addr(46, 3))]);
    let (code, j) = probe_json(
        &knot,
        &["--stop-after", "rcpt", "--rcpt", "john@example.test"],
    );
    assert_eq!(code, 2, "{j:#}");
    assert_eq!(attempts(&j).len(), 1, "no next MX after a final 5xx: {j:#}");
    assert_eq!(j["walk"]["verdict"], "permanent");
}

#[test]
fn tls_report_names_the_right_certificate_and_checks_both_names() {
    let ca = TestCa::new();
    let _pf = postfix(&ca, addr(47, 3), "mx2");
    let knot = dns(&[(10, "mx2", addr(47, 3))]);
    let ca_file = ca.ca_pem_path();
    let (code, j) = probe_json(
        &knot,
        &[
            "--stop-after",
            "starttls",
            "--ca-file",
            ca_file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{j:#}");
    let tls = &j["walk"]["attempts"][0]["tls"];
    assert_eq!(tls["certificate"]["sans"][0], "mx2.example.test", "{tls:#}");
    assert!(
        tls["certificate"]["issuer"]
            .as_str()
            .unwrap()
            .contains("mxkit test CA"),
        "{tls:#}"
    );
    assert_eq!(tls["chain_trusted"], true, "{tls:#}");
    assert_eq!(tls["mx_name_matches"], true);
    assert_eq!(
        tls["domain_name_matches"], false,
        "the cert names mx2.example.test, not example.test"
    );
    assert_eq!(tls["sni"], "mx2.example.test");
    // Without the test CA the chain is not trusted, but the probe goes on (opportunistic).
    let (code, j) = probe_json(&knot, &["--stop-after", "starttls"]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(j["walk"]["attempts"][0]["tls"]["chain_trusted"], false);
    // Required TLS refuses the untrusted chain.
    let (code, _) = probe_json(&knot, &["--stop-after", "starttls", "--tls", "required"]);
    assert_eq!(code, 3);
}

#[test]
fn transcript_is_swaks_style_with_tls_markers() {
    let ca = TestCa::new();
    let _pf = postfix(&ca, addr(48, 3), "mx2");
    let knot = dns(&[(10, "mx2", addr(48, 3))]);
    let (code, out, _) = mxkit(
        &knot,
        &[
            "probe",
            "example.test",
            "--stop-after",
            "starttls",
            "--transcript",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("<-  220 mx2.example.test ESMTP test"), "{out}");
    assert!(out.contains(" -> EHLO "), "{out}");
    assert!(out.contains(" -> STARTTLS"), "{out}");
    assert!(out.contains(" ~> EHLO "), "{out}");
    assert!(out.contains("<~  250"), "{out}");
}

#[test]
fn probe_all_reports_every_candidate() {
    let ca = TestCa::new();
    let _pf = Postfix::start(&[
        PostfixInstance::new(addr(49, 2), "mx1.example.test").tls(ca.leaf(&["mx1.example.test"])),
        PostfixInstance::new(addr(49, 3), "mx2.example.test").tls(ca.leaf(&["mx2.example.test"])),
    ]);
    let knot = dns(&[
        (10, "mx1", addr(49, 2)),
        (20, "mx2", addr(49, 3)),
        (30, "mx3", addr(49, 9)),
    ]);
    let (code, out, _) = mxkit(
        &knot,
        &[
            "probe",
            "example.test",
            "--all",
            "--json",
            "--connect-timeout",
            "1s",
        ],
    );
    assert_eq!(code, 3, "one candidate refuses: {out}");
    let j: Value = serde_json::from_str(&out).unwrap();
    let results: Vec<&str> = j["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"]["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["reached", "reached", "soft"]);
}

#[test]
fn send_delivers_to_real_postfix_exactly_once() {
    let ca = TestCa::new();
    let pf = postfix(&ca, addr(50, 3), "mx2");
    let knot = dns(&[(10, "mx1", addr(50, 9)), (20, "mx2", addr(50, 3))]);
    let message =
        "Subject: hello from mxkit\n\nfirst line\n.a line that starts with a dot\nlast line\n";
    let out = Command::cargo_bin("mxkit")
        .unwrap()
        .args([
            "send",
            "--from",
            "sender@example.net",
            "--to",
            "john@example.test",
        ])
        .args([
            "--server",
            &knot.addr().to_string(),
            "--seed",
            "1",
            "--connect-timeout",
            "1s",
        ])
        .write_stdin(message)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("queued as"), "{text}");
    let got = pf.wait_for_messages(1, Duration::from_secs(20));
    pf.wait_queue_empty(Duration::from_secs(20));
    let got_after = pf.messages();
    assert_eq!(got_after.len(), 1, "exactly once: {got:?}");
    let m = &got_after[0];
    assert!(m.contains("Subject: hello from mxkit"), "{m}");
    assert!(
        m.contains("\n.a line that starts with a dot"),
        "dot-stuffing undone by the server: {m}"
    );
    assert!(
        m.contains("From: sender@example.net") || m.contains("From: <sender@example.net>"),
        "missing From added: {m}"
    );
    assert!(
        m.contains("Message-ID:") || m.contains("Message-Id:"),
        "{m}"
    );
    assert!(m.contains("using TLS"), "delivered over STARTTLS: {m}");
}

#[test]
fn send_refuses_crlf_in_addresses_before_connecting() {
    let knot = dns(&[(10, "mx1", addr(51, 9))]);
    let (code, out, err) = mxkit(
        &knot,
        &[
            "send",
            "--from",
            "a@example.net",
            "--to",
            "john@example.test\r\nRCPT TO:<x@evil.test>",
        ],
    );
    assert_eq!(code, 64, "{out}{err}");
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// Postfix's default `message_size_limit`, the default of `--max-size`.
const MAX_SIZE: u64 = 10_240_000;

/// `send` with the message from `data` (a path, or `-` for `stdin`), to an
/// exchanger where nothing listens: a message that is refused never gets
/// to the walk. Returns (exit code, stdout, stderr, seconds taken).
fn send_data(
    knot: &Knot,
    data: &str,
    stdin: Option<&std::path::Path>,
    extra: &[&str],
) -> (i32, String, String, f64) {
    let mut cmd = Command::cargo_bin("mxkit").unwrap();
    cmd.args([
        "send",
        "--from",
        "sender@example.net",
        "--to",
        "john@example.test",
        "--data",
        data,
        "--server",
        &knot.addr().to_string(),
        "--connect-timeout",
        "1s",
    ])
    .args(extra)
    // A run that reads without limit is stopped here, not by the machine.
    .timeout(Duration::from_secs(60));
    if let Some(path) = stdin {
        cmd.pipe_stdin(path).unwrap();
    }
    let start = std::time::Instant::now();
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        start.elapsed().as_secs_f64(),
    )
}

/// A text file of `size` bytes: lines of 99 `x` and a line feed.
fn text_file(dir: &std::path::Path, name: &str, size: u64) -> std::path::PathBuf {
    let path = dir.join(name);
    let line = format!("{}\n", "x".repeat(99));
    let mut text = line.repeat((size / 100 + 1) as usize);
    text.truncate(size as usize);
    std::fs::write(&path, text).unwrap();
    path
}

/// Issue: `send --data /dev/zero` read without limit until the kernel
/// killed the machine's processes. The message is read with a limit,
/// `--max-size` (default 10240000 octets, Postfix's `message_size_limit`),
/// from a file, from standard input and from an endless device: over it is a
/// usage error (64) naming the limit, before any connection.
#[test]
fn send_refuses_a_message_over_max_size_before_connecting() {
    let knot = dns(&[(10, "mx1", addr(53, 9))]);
    let dir = tempfile::tempdir().unwrap();
    let over = text_file(dir.path(), "over", MAX_SIZE + 1);
    let limit = format!(
        "--data {}: exceeds the limit of {MAX_SIZE} bytes (--max-size)",
        over.display()
    );
    let (code, out, err, _) = send_data(&knot, &over.to_string_lossy(), None, &[]);
    assert_eq!(code, 64, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&limit), "{err}");

    let (code, out, err, _) = send_data(&knot, "-", Some(&over), &[]);
    assert_eq!(code, 64, "{out}{err}");
    assert!(
        err.contains(&format!(
            "standard input: exceeds the limit of {MAX_SIZE} bytes"
        )),
        "{err}"
    );

    let (code, out, err, took) = send_data(&knot, "/dev/zero", None, &[]);
    assert_eq!(code, 64, "{out}{err}");
    assert!(
        err.contains(&format!(
            "--data /dev/zero: exceeds the limit of {MAX_SIZE} bytes"
        )),
        "{err}"
    );
    assert!(took < 30.0, "took {took} s");

    // --max-size sets the limit; exactly the limit passes the reading (and
    // fails later, at the exchanger that does not listen: exit 3).
    let small = text_file(dir.path(), "small", 1000);
    let (code, out, err, _) = send_data(
        &knot,
        &small.to_string_lossy(),
        None,
        &["--max-size", "999"],
    );
    assert_eq!(code, 64, "{out}{err}");
    assert!(
        err.contains("exceeds the limit of 999 bytes (--max-size)"),
        "{err}"
    );
    let (code, out, err, _) = send_data(
        &knot,
        &small.to_string_lossy(),
        None,
        &["--max-size", "1000"],
    );
    // 1000 octets of text become 1010 with CRLF line ends and more with the
    // header fields added: the message as sent is over the limit too.
    assert_eq!(code, 64, "{out}{err}");
    assert!(err.contains("once prepared for sending"), "{err}");
    assert!(err.contains("more than --max-size 1000"), "{err}");
    let (code, out, err, _) = send_data(
        &knot,
        &small.to_string_lossy(),
        None,
        &["--max-size", "2000"],
    );
    assert_eq!(code, 3, "{out}{err}");
    for bad in ["0", "-1", "x", "18446744073709551616"] {
        let (code, out, err, _) =
            send_data(&knot, &small.to_string_lossy(), None, &["--max-size", bad]);
        assert_eq!(code, 64, "--max-size {bad}: {out}{err}");
    }
}

/// A server that announces SIZE (RFC 1870) smaller than the message is not
/// sent MAIL: the message bounces (exit 2) with the server's limit in the
/// reason, and the server receives nothing. Against a real Postfix with
/// `message_size_limit = 2000`.
#[test]
fn send_refuses_a_message_larger_than_the_servers_size() {
    let ca = TestCa::new();
    let name = "mx1.example.test";
    let pf = Postfix::start_with(
        &[PostfixInstance::new(addr(54, 3), name).tls(ca.leaf(&[name]))],
        testbed::postfix::DEFAULT_DOMAINS,
        &[("message_size_limit", "2000")],
    );
    let knot = dns(&[(10, "mx1", addr(54, 3))]);
    let dir = tempfile::tempdir().unwrap();
    let big = text_file(dir.path(), "big", 5000);
    let (code, out, err, _) = send_data(&knot, &big.to_string_lossy(), None, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains("exceeds the server's fixed size limit of 2000"),
        "{out}"
    );
    let log = pf.log();
    assert!(!log.contains("from=<sender@example.net>"), "{log}");
    let small = text_file(dir.path(), "small", 500);
    let (code, out, err, _) = send_data(&knot, &small.to_string_lossy(), None, &[]);
    assert_eq!(code, 0, "{out}{err}");
    pf.wait_for_messages(1, Duration::from_secs(20));
    assert_eq!(pf.messages().len(), 1);
}

#[test]
fn check_smtp_rules_find_unreachable_bad_greeting_no_starttls_and_untrusted_certificate() {
    let ca = TestCa::new();
    let _pf = postfix(&ca, addr(52, 3), "mx2");
    let _sink421 = SmtpSink::greet_421(addr(52, 4), "tempfail.example.test");
    let _plain = SmtpSink::capture(addr(52, 5), "plain.example.test");
    let knot = dns(&[
        (10, "mx2", addr(52, 3)),
        (20, "tempfail", addr(52, 4)),
        (30, "plain", addr(52, 5)),
        (40, "down", addr(52, 9)),
    ]);
    let (code, out, err) = mxkit(
        &knot,
        &[
            "check",
            "example.test",
            "--format",
            "json",
            "--dns-timeout",
            "0.5",
        ],
    );
    let j: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    assert_eq!(
        code, 2,
        "loopback exchangers are special-purpose addresses: {j:#}"
    );
    let found: Vec<(String, String)> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str().unwrap().starts_with("smtp-"))
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let has = |id: &str, host: &str| found.iter().any(|(i, s)| i == id && s.contains(host));
    assert!(has("smtp-unreachable", "127.0.52.9"), "{found:?}");
    assert!(has("smtp-greeting", "127.0.52.4"), "{found:?}");
    assert!(has("smtp-starttls", "127.0.52.5"), "{found:?}");
    assert!(
        has("smtp-certificate", "127.0.52.3"),
        "untrusted test CA: {found:?}"
    );
    assert!(!has("smtp-starttls", "127.0.52.3"), "{found:?}");
    // --no-smtp: nothing connects, the rules are listed as not run.
    let (_, out, _) = mxkit(
        &knot,
        &[
            "check",
            "example.test",
            "--format",
            "json",
            "--dns-timeout",
            "0.5",
            "--no-smtp",
        ],
    );
    let j: Value = serde_json::from_str(&out).unwrap();
    assert!(
        j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| !f["id"].as_str().unwrap().starts_with("smtp-"))
    );
    assert!(
        j["skipped"].to_string().contains("smtp-unreachable"),
        "{j:#}"
    );
}

/// `--tls required` is a requirement at every `--stop-after`: a server
/// that offers no STARTTLS is a failure of that candidate, whether the
/// probe stops at connect, greeting, EHLO or later.
#[test]
fn tls_required_fails_a_server_without_starttls_at_any_stop_stage() {
    let _plain = SmtpSink::capture(addr(90, 5), "plain.example.test");
    let knot = dns(&[(10, "plain", addr(90, 5))]);
    for stop in ["connect", "greeting", "ehlo", "starttls", "mail"] {
        let (code, j) = probe_json(&knot, &["--tls", "required", "--stop-after", stop]);
        assert_eq!(code, 3, "--stop-after {stop}: {j:#}");
        assert_eq!(j["walk"]["verdict"], "temporary", "--stop-after {stop}");
        let outcome = &j["walk"]["attempts"][0]["outcome"];
        assert_eq!(outcome["result"], "soft", "--stop-after {stop}: {j:#}");
        assert_eq!(outcome["stage"], "starttls", "--stop-after {stop}: {j:#}");
    }
    // Opportunistic TLS still stops where asked.
    let (code, j) = probe_json(&knot, &["--stop-after", "greeting"]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(j["walk"]["attempts"][0]["outcome"]["stage"], "greeting");
}

/// With `--tls required` the walk moves past a server without STARTTLS to
/// one with a trusted certificate, and reports the stage it really reached.
#[test]
fn tls_required_walks_on_to_a_server_with_starttls() {
    let ca = TestCa::new();
    let _plain = SmtpSink::capture(addr(91, 5), "plain.example.test");
    let _pf = postfix(&ca, addr(91, 3), "mx2");
    let knot = dns(&[(10, "plain", addr(91, 5)), (20, "mx2", addr(91, 3))]);
    let ca_file = ca.ca_pem_path();
    let (code, j) = probe_json(
        &knot,
        &["--tls", "required", "--ca-file", ca_file.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(
        attempts(&j),
        [
            ("127.0.91.5".into(), "soft".into()),
            ("127.0.91.3".into(), "reached".into())
        ]
    );
    assert_eq!(j["walk"]["attempts"][1]["outcome"]["stage"], "starttls");
    assert_eq!(j["walk"]["attempts"][1]["tls"]["chain_trusted"], true);
}

/// An address literal keeps its brackets in the default RCPT TO, and the
/// plan names the literal once.
#[test]
fn probe_of_an_address_literal_sends_the_literal_and_prints_it_once() {
    let sink = SmtpSink::capture(addr(92, 5), "literal.example.test");
    let target = format!("[{}]", sink.addr().ip());
    let run = |args: &[&str]| {
        let out = Command::cargo_bin("mxkit")
            .unwrap()
            .arg("probe")
            .args(args)
            .args(["--stop-after", "rcpt", "--connect-timeout", "1s"])
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&[&format!("john@{target}"), "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        j["walk"]["recipients"][0]["address"],
        format!("john@{target}"),
        "{j:#}"
    );
    // A bare literal: postmaster at the literal.
    let (code, out, err) = run(&[&target, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        j["walk"]["recipients"][0]["address"],
        format!("postmaster@{target}")
    );
    // The text names the literal once per candidate.
    let (code, out, err) = run(&[&format!("john@{target}")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!("{target}: plan 0 {target}\n")),
        "{out}"
    );
    assert!(out.contains(&format!("Attempt 1: 0 {target}\n")), "{out}");
    assert_eq!(
        out.matches(&format!("{target} {target}")).count(),
        0,
        "{out}"
    );
}

/// Each cause is printed once: on the stage (or transcript) line that
/// shows it, not again on the attempt's result line nor in the verdict.
#[test]
fn a_walk_in_text_gives_each_cause_once() {
    let _sink = SmtpSink::greet_421(addr(93, 4), "tempfail.example.test");
    let knot = dns(&[(10, "mx1", addr(93, 9)), (20, "mx2", addr(93, 4))]);
    for transcript in [false, true] {
        let mut args = vec!["probe", "example.test", "--connect-timeout", "1s"];
        if transcript {
            args.push("--transcript");
        }
        let (code, out, err) = mxkit(&knot, &args);
        assert_eq!(code, 3, "{out}{err}");
        assert_eq!(out.matches("Connection refused").count(), 1, "{out}");
        assert_eq!(out.matches("Server closing connection").count(), 1, "{out}");
        assert!(
            out.contains("  result    temporary failure at connect; the walk moves on\n"),
            "{out}"
        );
        let last = out.lines().last().unwrap();
        assert_eq!(
            last,
            "temporary failure: no candidate got through: mx1.example.test [127.0.93.9] at connect; mx2.example.test [127.0.93.4] at greeting",
            "{out}"
        );
    }
    // No candidate: the route's cause once, in the verdict.
    let (code, out, _) = mxkit(&knot, &["probe", "nothing.example.test"]);
    assert_eq!(code, 2, "{out}");
    assert_eq!(out.matches("does not exist").count(), 1, "{out}");
    assert!(
        out.starts_with("nothing.example.test: no candidate (no_such_domain)\n"),
        "{out}"
    );
}

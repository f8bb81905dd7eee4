//! Usage errors of every subcommand (but the trap's): one line that names
//! what is wrong or missing, suggests the closest valid spelling, points to
//! the subcommand's help, echoes what was given once and at a readable
//! length, exits 64, and is decided before any network work (a fault
//! server that records every query shows that none was sent).

use assert_cmd::Command;
use serde_json::Value;
use testbed::fault::{FaultServer, Reply};

fn mxkit() -> Command {
    Command::cargo_bin("mxkit").unwrap()
}

/// Run mxkit; (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = mxkit().args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A usage error: exit 64, nothing on stdout, one line on stderr holding
/// every needle.
fn usage_error(args: &[&str], needles: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 64, "{args:?}: {out}{err}");
    assert!(out.is_empty(), "{args:?}: {out}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("mxkit: error: "), "{args:?}: {err}");
    for needle in needles {
        assert!(err.contains(needle), "{args:?}: no {needle:?} in {err}");
    }
    err
}

#[test]
fn a_missing_argument_is_named() {
    usage_error(&["route"], &["<ADDRESS|DOMAIN>", "'mxkit route --help'"]);
    usage_error(&["check"], &["<DOMAIN>", "'mxkit check --help'"]);
    usage_error(&["probe"], &["<ADDRESS|DOMAIN>", "'mxkit probe --help'"]);
    usage_error(
        &["send", "--to", "john@example.test"],
        &["--from", "'mxkit send --help'"],
    );
    usage_error(
        &["scan", "in.txt", "--resume"],
        &["--output", "'mxkit scan --help'"],
    );
    usage_error(
        &["route", "example.test", "--server"],
        &["--server", "'mxkit route --help'"],
    );
}

#[test]
fn unknown_subcommands_flags_and_values_suggest_the_closest() {
    usage_error(
        &["rout", "example.test"],
        &["'rout'", "did you mean 'route'?", "'mxkit --help'"],
    );
    usage_error(
        &["route", "example.test", "--jsn"],
        &["'--jsn'", "did you mean '--json'?", "'mxkit route --help'"],
    );
    usage_error(
        &["probe", "example.test", "--stop-after", "ehl0"],
        &["'ehl0'", "did you mean 'ehlo'?", "'mxkit probe --help'"],
    );
    usage_error(
        &["check", "example.test", "--format", "xml"],
        &["'xml'", "text, json, nagios", "'mxkit check --help'"],
    );
    usage_error(
        &["scan", "in.txt", "--no-progres"],
        &["did you mean '--no-progress'?", "'mxkit scan --help'"],
    );
    // Nothing close: no suggestion, still the help.
    let err = usage_error(&["xyzzy"], &["'xyzzy'", "'mxkit --help'"]);
    assert!(!err.contains("did you mean"), "{err}");
}

/// The fault server never answers; any query it logs is a failure of the
/// rule "validated before any network work".
fn silent_server() -> FaultServer {
    FaultServer::start(|_| Reply::Silence)
}

#[test]
fn unknown_rule_ids_suggest_the_closest() {
    let server = silent_server();
    let s = server.addr().to_string();
    usage_error(
        &[
            "check",
            "example.test",
            "--server",
            &s,
            "--set",
            "single-exchangr=ignore",
        ],
        &["unknown rule id", "did you mean 'single-exchanger'?"],
    );
    assert!(server.queries().is_empty());
}

#[test]
fn a_json_or_nagios_run_reports_a_usage_error_on_standard_output() {
    // JSON: one object on stdout, the line on stderr, exit 64.
    for args in [
        &["check", "--format", "json"][..],
        &["check", "example.test", "--format=json", "--bogus"][..],
        &["route", "--json", "a..b"][..],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 64, "{args:?}: {out}{err}");
        assert_eq!(out.lines().count(), 1, "{args:?}: {out}");
        let j: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(j["status"], "error", "{j}");
        assert_eq!(j["error"]["code"], "usage", "{j}");
        let message = j["error"]["message"].as_str().unwrap();
        assert!(err.contains(message), "{err} / {message}");
    }
    // Nagios: UNKNOWN (exit 3, as the plugin API wants for bad arguments),
    // one line on stdout, and no `|` that would start performance data.
    for args in [
        &["check", "--format", "nagios"][..],
        &["check", "example.test", "--format", "nagios", "--bogus"][..],
        &[
            "check",
            "example.test",
            "--format",
            "nagios",
            "--set",
            "a|b=error",
        ][..],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 3, "{args:?}: {out}{err}");
        assert_eq!(out.lines().count(), 1, "{args:?}: {out}");
        assert!(
            out.starts_with("MXKIT CHECK UNKNOWN - usage error: "),
            "{args:?}: {out}"
        );
        assert!(!out.contains('|'), "{args:?}: {out}");
    }
}

/// A 5,000-character argument is echoed once, cut to a readable length
/// that keeps its start and its end.
#[test]
fn a_huge_argument_is_echoed_once_and_cut() {
    let long = "a".repeat(5000);
    let at = format!("{long}@example.test");
    let label = format!("x@{long}.example.test");
    let literal = format!("x@[{long}]");
    let local = format!("{}@example.test", "b".repeat(5000));
    let spec = format!("{long}=error");
    let flag = format!("--{long}");
    let cases: Vec<Vec<&str>> = vec![
        vec!["route", &long],
        vec!["route", &label],
        vec!["route", &literal],
        vec!["route", &local],
        vec!["check", &long],
        vec!["probe", &label],
        vec!["route", "example.test", "--self", &label],
        vec!["route", "example.test", "--server", &long],
        vec!["route", "example.test", "--zone", &long],
        vec!["probe", "example.test", "--rcpt", &at],
        vec!["probe", "example.test", "--from", &at],
        vec!["probe", "example.test", "--helo", &long],
        vec!["probe", "example.test", "--connect-timeout", &long],
        vec!["send", "--from", &at, "--to", "john@example.test"],
        vec!["send", "--from", "me@example.test", "--to", &at],
        vec!["check", "example.test", "--set", &spec],
        vec!["scan", "-", "--window", &long],
        vec!["route", "example.test", &flag],
        vec![&long],
    ];
    let server = silent_server();
    let s = server.addr().to_string();
    for mut args in cases {
        if ["route", "check", "probe", "send", "scan"].contains(&args[0]) {
            args.extend(["--server", &s]);
        }
        let (code, out, err) = run(&args);
        let shown: Vec<String> = args.iter().map(|a| a.chars().take(30).collect()).collect();
        assert_eq!(code, 64, "{shown:?}: {out}{err}");
        assert_eq!(err.lines().count(), 1, "{shown:?}: {err}");
        assert!(
            err.chars().count() <= 400,
            "{shown:?}: {} characters: {err}",
            err.chars().count()
        );
        assert_eq!(
            err.matches("characters cut]").count(),
            1,
            "{shown:?}: echoed once: {err}"
        );
    }
    assert!(server.queries().is_empty(), "decided before any query");
}

/// What the documentation calls a usage error is one, with exit 64, and is
/// found before any DNS query: a CA file that cannot be used, an EHLO name
/// too long for SMTP, port 0, a directory as scan input, --offline without
/// a zone to answer, a scan that would overwrite its own input.
#[test]
fn usage_errors_are_found_before_any_network_work() {
    let server = silent_server();
    let s = server.addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let garbage = garbage.to_str().unwrap();
    let folder = dir.path().to_str().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "example.test\n").unwrap();
    let input = input.to_str().unwrap();
    let out = dir.path().join("out.jsonl");
    let out = out.to_str().unwrap();
    let long_helo = "h".repeat(300);
    let long_subject = "s".repeat(5000);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["probe", "example.test", "--ca-file", garbage],
            "--ca-file",
        ),
        (
            vec!["probe", "example.test", "--ca-file", folder],
            "--ca-file",
        ),
        (
            vec!["probe", "example.test", "--ca-file", "/nonexistent.pem"],
            "--ca-file",
        ),
        (
            vec![
                "send",
                "--from",
                "me@example.test",
                "--to",
                "john@example.test",
                "--ca-file",
                garbage,
            ],
            "--ca-file",
        ),
        (
            vec!["probe", "example.test", "--helo", &long_helo],
            "--helo",
        ),
        (
            vec![
                "send",
                "--from",
                "me@example.test",
                "--to",
                "john@example.test",
                "--helo",
                &long_helo,
            ],
            "--helo",
        ),
        (vec!["probe", "example.test", "--port", "0"], "--port"),
        (
            vec![
                "send",
                "--from",
                "me@example.test",
                "--to",
                "john@example.test",
                "--subject",
                &long_subject,
            ],
            "--subject",
        ),
        (
            vec!["route", "example.test", "--server", "127.0.0.1:0"],
            "--server",
        ),
        (
            vec![
                "probe",
                "example.test",
                "--tls",
                "off",
                "--stop-after",
                "starttls",
            ],
            "--tls off",
        ),
        (vec!["scan", folder], "directory"),
        (vec!["scan", input, "--output", input], "--output"),
        (
            vec!["scan", input, "--output", out, "--stats", out],
            "--stats",
        ),
        (vec!["scan", input, "--stats", input], "--stats"),
    ];
    for (mut args, needle) in cases {
        args.extend(["--server", &s]);
        let err = usage_error(&args, &[needle]);
        assert!(err.chars().count() < 300, "{err}");
    }
    assert!(server.queries().is_empty(), "decided before any query");
    assert_eq!(std::fs::read_to_string(input).unwrap(), "example.test\n");
    // --offline asks no server, so it needs a zone to answer (as scan did).
    for command in [
        &["route", "example.test"][..],
        &["check", "example.test"][..],
        &["probe", "example.test"][..],
        &[
            "send",
            "--from",
            "me@example.test",
            "--to",
            "john@example.test",
        ][..],
        &["scan", input][..],
    ] {
        let mut args = command.to_vec();
        args.push("--offline");
        usage_error(&args, &["--offline", "--zone"]);
    }
}

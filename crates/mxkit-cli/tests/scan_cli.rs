//! `mxkit scan` end to end against a real knotd serving the generated mix
//! (`testbed::scanmix`): completeness and correctness on 10k domains, a run
//! killed with SIGKILL and resumed, bad input, a resolver that never
//! answers (the fault server), `--stats`, exit codes and usage errors.
//!
//! No sleeps: a killed run is watched by polling its output file's size.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};

use serde_json::Value;
use testbed::fault::{FaultServer, Reply};
use testbed::scanmix::Mix;

mod scan_support;
use scan_support::{kill_when_started, knot, most_queries, mxkit, read_lines, write_input};

/// Output lines per input line number: each must appear exactly once.
fn by_line(values: &[Value]) -> BTreeMap<u64, &Value> {
    let mut map = BTreeMap::new();
    for v in values {
        let line = v["line"].as_u64().unwrap_or_else(|| panic!("no line: {v}"));
        assert!(map.insert(line, v).is_none(), "line {line} written twice");
    }
    map
}

fn run_scan(args: &[&str], code: i32) -> (String, String) {
    let out = mxkit().arg("scan").args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "mxkit scan {args:?}\nstdout: {}\nstderr: {stderr}",
        stdout.chars().take(2000).collect::<String>()
    );
    (stdout, stderr)
}

#[test]
fn ten_thousand_domains_each_get_exactly_one_correct_line_and_stats() {
    let mix = Mix::generate(20_261_126, 10_000);
    let knot = knot(&mix);
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &mix.input);
    let output = dir.path().join("out.jsonl");
    let stats = dir.path().join("stats.json");
    let server = knot.addr().to_string();
    let (_, stderr) = run_scan(
        &[
            input.to_str().unwrap(),
            "--server",
            &server,
            "--output",
            output.to_str().unwrap(),
            "--stats",
            stats.to_str().unwrap(),
            "--no-progress",
        ],
        0,
    );
    let values = read_lines(&output);
    assert_eq!(values.len(), mix.expected.len(), "one line per input line");
    by_line(&values);
    mix.check(&values).unwrap();

    // The summary on stderr and the same as JSON.
    assert!(stderr.contains("mxkit scan:"), "{stderr}");
    assert!(stderr.contains(" mx (deliverable)"), "{stderr}");
    let stats: Value = serde_json::from_str(&fs::read_to_string(&stats).unwrap()).unwrap();
    for key in [
        "completed",
        "input_lines",
        "skipped",
        "resumed",
        "domains",
        "status",
        "outcome",
        "questions",
        "queries",
        "resends",
        "timeouts",
        "error_rcodes",
        "tcp_fallbacks",
        "cache_hits",
        "cache_joined",
        "elapsed",
        "domains_per_second",
        "queries_per_domain",
        "window_max",
        "window_final",
    ] {
        assert!(stats.get(key).is_some(), "--stats lacks {key}: {stats:#}");
    }
    assert_eq!(stats["completed"], true);
    assert_eq!(stats["domains"], mix.expected.len() as u64);
    assert_eq!(stats["input_lines"], mix.input.len() as u64);
    let per_outcome: u64 = stats["outcome"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(per_outcome, mix.expected.len() as u64);
    assert!(
        stats["tcp_fallbacks"].as_u64().unwrap() > 0,
        "large MX sets"
    );
    // Shared exchangers are asked once: about the fewest queries the mix
    // needs (a duplicate line asks its MX again: MX answers are not kept).
    let queries = stats["queries"].as_u64().unwrap();
    let most = most_queries(&mix, &stats);
    assert!(
        queries <= most,
        "{queries} queries for a mix that needs {} (at most {most} with duplicates and resends)",
        mix.summary.min_queries
    );
}

#[test]
fn a_run_killed_with_sigkill_and_resumed_has_exactly_one_line_per_input_line() {
    let mix = Mix::generate(7, 10_000);
    let knot = knot(&mix);
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &mix.input);
    let output = dir.path().join("out.jsonl");
    let server = knot.addr().to_string();
    // Slowed down by --rate so that it is still running when killed.
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("mxkit"))
        .args(["scan", input.to_str().unwrap(), "--server", &server])
        .args(["--output", output.to_str().unwrap(), "--no-progress"])
        .args(["--rate", "4000", "--window", "64"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_when_started(&mut child, &output);
    let before = fs::read(&output).unwrap();
    let whole = before.iter().filter(|&&b| b == b'\n').count();
    assert!(
        whole > 0 && whole < mix.expected.len(),
        "{whole} lines before resuming"
    );
    // A torn last write, as a kill in the middle of write(2) would leave.
    let mut file = fs::OpenOptions::new().append(true).open(&output).unwrap();
    file.write_all(b"{\"line\":123,\"input\":\"d0000").unwrap();
    drop(file);

    let (_, stderr) = run_scan(
        &[
            input.to_str().unwrap(),
            "--server",
            &server,
            "--output",
            output.to_str().unwrap(),
            "--resume",
            "--no-progress",
        ],
        0,
    );
    assert!(
        stderr.contains("already in the output (resumed)"),
        "{stderr}"
    );
    let after = fs::read(&output).unwrap();
    let kept = before.len() - before.iter().rev().take_while(|&&b| b != b'\n').count();
    assert_eq!(
        &after[..kept],
        &before[..kept],
        "the lines written before are kept"
    );
    let values = read_lines(&output);
    assert_eq!(values.len(), mix.expected.len());
    by_line(&values);
    mix.check(&values).unwrap();

    // Resuming a complete output routes nothing and changes nothing.
    run_scan(
        &[
            input.to_str().unwrap(),
            "--server",
            &server,
            "--output",
            output.to_str().unwrap(),
            "--resume",
            "--no-progress",
        ],
        0,
    );
    assert_eq!(fs::read(&output).unwrap(), after);
}

#[test]
fn bad_input_lines_each_get_exactly_one_line() {
    let mix = Mix::generate(3, 200);
    let knot = knot(&mix);
    let dir = tempfile::tempdir().unwrap();
    let good = mix.expected.iter().find(|e| e["outcome"] == "mx").unwrap()["domain"]
        .as_str()
        .unwrap()
        .to_string();
    let mut text: Vec<u8> = Vec::new();
    let lines: Vec<Vec<u8>> = vec![
        b"# a comment".to_vec(),                     // 1: skipped
        good.as_bytes().to_vec(),                    // 2
        b"".to_vec(),                                // 3: skipped
        good.to_uppercase().into_bytes(),            // 4: upper case
        format!("{good}.").into_bytes(),             // 5: trailing dot
        format!("postmaster@{good}").into_bytes(),   // 6: an address
        good.as_bytes().to_vec(),                    // 7: duplicate
        b"\xff\xfe\x00\x01garbage\x80".to_vec(),     // 8: binary
        vec![b'a'; 5000],                            // 9: over-long
        b"not a domain".to_vec(),                    // 10: invalid
        b"-bad-.scan.test".to_vec(),                 // 11: invalid label
        "b\u{fc}cher.scan.test".as_bytes().to_vec(), // 12: IDN
        b"[192.0.2.1]".to_vec(),                     // 13: literal
        b"  \t ".to_vec(),                           // 14: blank
        b"..".to_vec(),                              // 15: invalid
        format!("{good}\r").into_bytes(),            // 16: CRLF
    ];
    for l in &lines {
        text.extend_from_slice(l);
        text.push(b'\n');
    }
    // The last line has no newline.
    text.extend_from_slice(good.as_bytes());
    let input = dir.path().join("bad.txt");
    fs::write(&input, &text).unwrap();
    let server = knot.addr().to_string();
    let (stdout, _) = run_scan(
        &[
            input.to_str().unwrap(),
            "--server",
            &server,
            "--timeout",
            "2s",
        ],
        0,
    );
    let values: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got = by_line(&values);
    let numbers: Vec<u64> = got.keys().copied().collect();
    assert_eq!(
        numbers,
        [2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17],
        "blank lines and comments only are skipped"
    );
    let outcome = |n: u64| got[&n]["outcome"].as_str().unwrap().to_string();
    for n in [2, 4, 5, 6, 7, 16, 17] {
        assert_eq!(outcome(n), "mx", "line {n}: {}", got[&n]);
        assert_eq!(got[&n]["domain"], good.as_str(), "line {n}");
        assert_eq!(got[&n]["candidates"], got[&2]["candidates"], "line {n}");
    }
    assert_eq!(
        got[&4]["input"],
        good.to_uppercase().as_str(),
        "input as given"
    );
    for n in [8, 9, 10, 11, 15] {
        assert_eq!(outcome(n), "invalid_address", "line {n}: {}", got[&n]);
        assert_eq!(got[&n]["status"], "permanent");
        assert_eq!(got[&n]["error"]["dsn"], "5.1.3");
    }
    assert!(
        got[&9]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("5000 bytes"),
        "{}",
        got[&9]
    );
    assert!(got[&9]["input"].as_str().unwrap().len() <= 1025);
    assert!(
        got[&8]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("UTF-8")
    );
    assert_eq!(got[&12]["domain"], "xn--bcher-kva.scan.test");
    assert_eq!(outcome(13), "address_literal");
}

#[test]
fn a_resolver_that_never_answers_ends_in_timeout_lines_not_a_hang() {
    let server = FaultServer::start(|_| Reply::Silence);
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..300).map(|i| format!("d{i}.silent.test")).collect();
    let input = write_input(dir.path(), &names);
    let stats = dir.path().join("stats.json");
    let addr = server.addr().to_string();
    let (stdout, stderr) = run_scan(
        &[
            input.to_str().unwrap(),
            "--server",
            &addr,
            "--timeout",
            "50ms",
            "--retries",
            "1",
            "--stats",
            stats.to_str().unwrap(),
        ],
        0,
    );
    let values: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(by_line(&values).len(), 300, "{stderr}");
    for v in &values {
        assert_eq!(v["status"], "temporary", "{v}");
        assert_eq!(v["outcome"], "dns_temporary", "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("timeout"),
            "{v}"
        );
    }
    let stats: Value = serde_json::from_str(&fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(stats["completed"], true);
    assert_eq!(stats["timeouts"], 600, "two tries per name: {stats:#}");
    assert_eq!(stats["resends"], 300);
}

#[test]
fn zone_files_offline_and_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("z.zone");
    fs::write(
        &zone,
        "$ORIGIN z.test.\n$TTL 300\n@ SOA ns h 1 1 1 1 60\n@ NS ns\nns A 192.0.2.53\n\
         a MX 10 mx\nmx A 192.0.2.10\nmx AAAA 2001:db8::10\nb MX 0 .\n",
    )
    .unwrap();
    let out = mxkit()
        .args(["scan", "-", "--zone", zone.to_str().unwrap(), "--offline"])
        .write_stdin("a.z.test\nb.z.test\nc.z.test\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let values: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got = by_line(&values);
    assert_eq!(got[&1]["outcome"], "mx");
    assert_eq!(got[&1]["candidates"].as_array().unwrap().len(), 2);
    assert_eq!(got[&2]["outcome"], "null_mx");
    assert_eq!(got[&3]["outcome"], "no_such_domain");
    // The keys of `route --json`, with `line` and `input`.
    for key in [
        "line",
        "input",
        "domain",
        "status",
        "outcome",
        "candidates",
        "records",
        "exchangers",
        "warnings",
        "ttl",
        "dnssec",
    ] {
        assert!(got[&1].get(key).is_some(), "no {key}: {}", got[&1]);
    }
    // --family as in route: IPv4 only.
    let (stdout, _) = run_scan_stdin(
        &[
            "--zone",
            zone.to_str().unwrap(),
            "--offline",
            "--family",
            "ipv4",
        ],
        "a.z.test\n",
    );
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["candidates"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["candidates"][0]["address"], "192.0.2.10");
}

/// A small zone for offline runs: `a.z.test` has an MX.
fn small_zone(dir: &Path) -> PathBuf {
    let zone = dir.join("z.zone");
    fs::write(
        &zone,
        "$ORIGIN z.test.\n$TTL 300\n@ SOA ns h 1 1 1 1 60\n@ NS ns\nns A 192.0.2.53\n\
         a MX 10 mx\nmx A 192.0.2.10\n",
    )
    .unwrap();
    zone
}

/// `mxkit scan ARGS` with a time limit (a run that never ends fails the
/// test instead of hanging it); returns (exit code, stdout, stderr).
fn run_scan_limited(args: &[&str], stdin: Option<Vec<u8>>) -> (Option<i32>, String, String) {
    let mut cmd = mxkit();
    cmd.arg("scan")
        .args(args)
        .timeout(std::time::Duration::from_secs(60));
    if let Some(bytes) = stdin {
        cmd.write_stdin(bytes);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An input line is read to its end up to 1 MiB (and answered
/// `invalid_address` past 1024 bytes); an input with no line end in sight
/// (`/dev/zero`, a binary file) stops the run with exit 64 naming the
/// limit, after the lines before it, instead of reading forever.
#[test]
fn input_lines_have_a_limit_and_an_endless_line_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let zone = small_zone(dir.path());
    let zone = zone.to_str().unwrap();
    let limit = "line 1 exceeds the limit of 1048576 bytes for one input line";

    let (code, out, err) = run_scan_limited(&["/dev/zero", "--zone", zone, "--offline"], None);
    assert_eq!(code, Some(64), "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains(limit), "{err}");

    // From standard input: the lines before the endless one are answered.
    let mut input = b"a.z.test\n".to_vec();
    input.extend(std::iter::repeat_n(b'a', 2 << 20));
    let (code, out, err) = run_scan_limited(&["-", "--zone", zone, "--offline"], Some(input));
    assert_eq!(code, Some(64), "{out}{err}");
    assert!(
        err.contains("line 2 exceeds the limit of 1048576 bytes for one input line"),
        "{err}"
    );
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["outcome"], "mx");

    // Long, but within the limit: one invalid_address line, and on.
    let mut input = vec![b'b'; 1 << 20];
    input.extend_from_slice(b"\na.z.test\n");
    let (code, out, err) = run_scan_limited(&["-", "--zone", zone, "--offline"], Some(input));
    assert_eq!(code, Some(0), "{err}");
    let got: BTreeMap<u64, Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| (v["line"].as_u64().unwrap(), v))
        .collect();
    assert_eq!(got[&1]["outcome"], "invalid_address");
    assert_eq!(got[&2]["outcome"], "mx");
}

/// `--resume` reads the existing output: it must be a regular file (not
/// `/dev/zero`, which was read without limit), and a line longer than any
/// result is refused with the limit and the file left as it was, not cut
/// as if it were a torn last line.
#[test]
fn resume_reads_its_output_with_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    let zone = small_zone(dir.path());
    let zone = zone.to_str().unwrap();
    let input = write_input(dir.path(), &["a.z.test".to_string()]);
    let input = input.to_str().unwrap();

    let (code, out, err) = run_scan_limited(
        &[
            input,
            "--zone",
            zone,
            "--offline",
            "--output",
            "/dev/zero",
            "--resume",
        ],
        None,
    );
    assert_eq!(code, Some(64), "{out}{err}");
    assert!(err.contains("/dev/zero: not a regular file"), "{err}");

    let output = dir.path().join("out.jsonl");
    let size = (64 << 20) + 1;
    fs::File::create(&output).unwrap().set_len(size).unwrap();
    let (code, out, err) = run_scan_limited(
        &[
            input,
            "--zone",
            zone,
            "--offline",
            "--output",
            output.to_str().unwrap(),
            "--resume",
        ],
        None,
    );
    assert_eq!(code, Some(64), "{out}{err}");
    assert!(
        err.contains("line 1 exceeds the limit of 67108864 bytes for a scan result"),
        "{err}"
    );
    assert_eq!(fs::metadata(&output).unwrap().len(), size, "left as it was");
}

fn run_scan_stdin(args: &[&str], input: &str) -> (String, String) {
    let out = mxkit()
        .args(["scan", "-"])
        .args(args)
        .write_stdin(input.to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_64() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &["example.test".to_string()]);
    let input = input.to_str().unwrap();
    let missing = dir.path().join("missing.txt");
    let cases: Vec<Vec<&str>> = vec![
        vec![input, "--server", "127.0.0.1", "--window", "0"],
        vec![input, "--server", "127.0.0.1", "--window", "lots"],
        vec![input, "--server", "127.0.0.1", "--window", "100001"],
        vec![input, "--server", "127.0.0.1", "--rate", "0"],
        vec![input, "--server", "127.0.0.1", "--timeout", "0"],
        vec![input, "--server", "127.0.0.1", "--timeout", "soon"],
        vec![input, "--server", "127.0.0.1", "--retries", "50"],
        vec![input, "--server", "not-an-ip"],
        vec![input, "--server", "127.0.0.1", "--resume"],
        vec![input, "--server", "127.0.0.1", "--output", "-", "--resume"],
        vec![input, "--offline"],
        vec![input, "--server", "127.0.0.1", "--bogus-flag"],
        vec![missing.to_str().unwrap(), "--server", "127.0.0.1"],
        vec![
            input,
            "--server",
            "127.0.0.1",
            "--stats",
            "/nonexistent/dir/s.json",
        ],
        vec![
            input,
            "--server",
            "127.0.0.1",
            "--output",
            "/nonexistent/dir/o.jsonl",
        ],
    ];
    for args in cases {
        let (_, stderr) = run_scan(&args, 64);
        assert!(stderr.starts_with("mxkit: error:"), "{args:?}: {stderr}");
    }
    // --resume on a file that is not a scan output is refused, untouched.
    let other = dir.path().join("other.txt");
    fs::write(&other, "hello\n").unwrap();
    let (_, stderr) = run_scan(
        &[
            input,
            "--server",
            "127.0.0.1",
            "--output",
            other.to_str().unwrap(),
            "--resume",
        ],
        64,
    );
    assert!(stderr.contains("not a scan result"), "{stderr}");
    assert_eq!(fs::read_to_string(&other).unwrap(), "hello\n");
}

/// `--resume` keeps only lines written for this input: every kept line's
/// number must be a domain line of the input and its `input` that line.
/// Anything else is refused (exit 64) before a query, the output untouched.
#[test]
fn resume_refuses_an_output_written_for_another_input() {
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("z.zone");
    fs::write(
        &zone,
        "$ORIGIN z.test.\n$TTL 300\n@ SOA ns h 1 1 1 1 60\n@ NS ns\nns A 192.0.2.53\n\
         a MX 10 mx\nb MX 10 mx\nc MX 10 mx\nd MX 10 mx\nmx A 192.0.2.10\n",
    )
    .unwrap();
    let zone = zone.to_str().unwrap().to_string();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let scan = |input: &str, output: &str, resume: bool| {
        let mut cmd = mxkit();
        cmd.args(["scan", input, "--output", output, "--no-progress"])
            .args(["--zone", &zone, "--offline"]);
        if resume {
            cmd.arg("--resume");
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // A complete run over four names, then "a crash" that kept two lines.
    let first = file("first.txt", "a.z.test\nb.z.test\nc.z.test\nd.z.test\n");
    let out = dir.path().join("out.jsonl").to_str().unwrap().to_string();
    assert_eq!(scan(&first, &out, false).0, 0);
    let all = fs::read_to_string(&out).unwrap();
    let kept: String = all.lines().take(2).map(|l| format!("{l}\n")).collect();
    fs::write(&out, &kept).unwrap();

    let refused = |input: &str, needle: &str| {
        let (code, err) = scan(input, &out, true);
        assert_eq!(code, 64, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{needle:?}: {err}");
        assert_eq!(fs::read_to_string(&out).unwrap(), kept, "untouched");
    };
    // Another input with as many lines.
    let other = file("other.txt", "d.z.test\nc.z.test\nb.z.test\na.z.test\n");
    refused(&other, "not written for this input");
    // The same names, but the kept lines' numbers are past its end.
    let short = file("short.txt", "#\n");
    refused(&short, "past the end");
    // Blank and comment lines where the kept lines were.
    let blank = file("blank.txt", "\n#\n\n#\n");
    refused(&blank, "blank or a comment");
    // A line number no input has: refused, not a bitmap of 2^64 bits.
    let huge = kept.replacen("{\"line\":", "{\"line\":18446744073709551615,\"x\":", 1);
    fs::write(&out, &huge).unwrap();
    let (code, err) = scan(&first, &out, true);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("past the end"), "{err}");
    fs::write(&out, &kept).unwrap();
    // A result line twice.
    let twice: String = format!("{kept}{}\n", kept.lines().next().unwrap());
    fs::write(&out, &twice).unwrap();
    let (code, err) = scan(&first, &out, true);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("twice"), "{err}");
    fs::write(&out, &kept).unwrap();
    // Standard input cannot be read twice: its identity cannot be checked.
    let (code, err) = {
        let o = mxkit()
            .args(["scan", "-", "--output", &out, "--resume", "--no-progress"])
            .args(["--zone", &zone, "--offline"])
            .write_stdin("a.z.test\nb.z.test\nc.z.test\nd.z.test\n")
            .output()
            .unwrap();
        (
            o.status.code().unwrap(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("file"), "{err}");
    assert_eq!(fs::read_to_string(&out).unwrap(), kept, "untouched");

    // A copy of the input, grown by a line the run had not reached, is the
    // same input: the run goes on and ends with one line per input line.
    let grown = file(
        "grown.txt",
        "a.z.test\nb.z.test\nc.z.test\nd.z.test\na.z.test\n",
    );
    let (code, err) = scan(&grown, &out, true);
    assert_eq!(code, 0, "{err}");
    let values = read_lines(Path::new(&out));
    assert_eq!(
        by_line(&values).keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
}

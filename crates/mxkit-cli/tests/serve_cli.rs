//! `mxkit serve` as users run it: the real binary on a loopback port,
//! asked with a real HTTP client (curl), against knotd serving a test zone
//! (docs/serve.md). The API's JSON is the CLI's `--json`, byte for byte;
//! the limits answer 429 and 503 with `Retry-After`; the exporter's text
//! parses with a Prometheus parser; SIGTERM stops the server cleanly.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin;
use testbed::fault::{FaultServer, Reply};
use testbed::knot::Knot;

const ZONE: &str = "$ORIGIN serve.test.\n$TTL 300\n\
@ SOA ns hostmaster 1 7200 900 1209600 300\n@ NS ns\nns A 127.0.0.1\n\
@ MX 10 mx1\n@ MX 20 mx2\nmx1 A 192.0.2.1\nmx2 A 192.0.2.2\n\
single MX 10 mx1\n\
lo MX 10 mx-lo\nmx-lo A 127.0.0.1\n\
pf MX 10 mx-pf\nmx-pf A 127.0.175.1\n\
down MX 10 mx-down\nmx-down A 127.0.175.9\n\
mixed MX 10 mx-ok\nmixed MX 20 192.0.2.50.\nmixed MX 30 nox\nmx-ok A 127.0.175.2\n\
_mta-sts.mixed TXT \"v=STSv1; id=<script>alert(1)</script>\"\n";

fn knot() -> Knot {
    Knot::start(&[("serve.test", ZONE)])
}

/// A running `mxkit serve`, stopped (SIGTERM) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Start it on a free loopback port with these extra flags; returns
    /// once it says where it listens.
    fn start(dns: SocketAddr, extra: &[&str]) -> Server {
        let mut child = Process::new(cargo_bin("mxkit"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--server",
                &dns.to_string(),
            ])
            .args(["--dns-timeout", "1"])
            .args(if extra.contains(&"--store") {
                &[][..]
            } else {
                &["--store", "none"][..]
            })
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("mxkit serve starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines
            .next()
            .expect("a line on standard error")
            .expect("readable");
        let addr = first
            .strip_prefix("mxkit serve: listening on http://")
            .and_then(|rest| rest.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("not a listening line: {first}"));
        // Keep draining standard error so the server never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Server { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGTERM, then the exit code.
    fn stop(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Process::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One GET with curl: status, headers (lower-case names), body.
fn get(url: &str) -> (u16, Vec<(String, String)>, String) {
    let out = Process::new("curl")
        .args(["-sS", "-i", "--max-time", "20", url])
        .output()
        .unwrap_or_else(|e| {
            panic!("curl is needed for the serve tests (Debian package curl): {e}")
        });
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn cli(dns: SocketAddr, args: &[&str]) -> String {
    let out = Command::cargo_bin("mxkit")
        .unwrap()
        .args(args)
        .args(["--server", &dns.to_string(), "--dns-timeout", "1"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// The API answers exactly what the CLI prints with `--json` (route) and
/// `--format json` (check; both without SMTP probes here, since the zone's
/// exchangers are documentation addresses, where tests send nothing).
#[test]
fn the_api_is_the_cli_json() {
    let knot = knot();
    let server = Server::start(knot.addr(), &["--no-smtp"]);
    let (status, headers, body) = get(&server.url("/api/v1/route?address=postmaster@serve.test"));
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(
        body,
        cli(knot.addr(), &["route", "postmaster@serve.test", "--json",])
    );
    let (status, _, body) = get(&server.url("/api/v1/check?domain=serve.test"));
    assert_eq!(status, 200);
    let expected = cli(
        knot.addr(),
        &["check", "serve.test", "--format", "json", "--no-smtp"],
    );
    assert_eq!(body, expected);
    // Bad input: 400 with the CLI's message.
    let (status, _, body) = get(&server.url("/api/v1/route?address=a%0Db@serve.test"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("control character U+000D"), "{body}");
    assert_eq!(server.stop(), Some(0), "SIGTERM stops it cleanly");
}

/// The pages: the route and check views with the plan and findings, the
/// security headers, and a hostile input shown as text.
#[test]
fn pages_show_the_plan_and_findings_safely() {
    let knot = knot();
    let server = Server::start(knot.addr(), &[]);
    let (status, headers, body) = get(&server.url("/route/postmaster@serve.test"));
    assert_eq!(status, 200);
    assert!(
        body.contains("serve.test mail is handled by 10 mx1.serve.test"),
        "{body}"
    );
    assert!(body.contains("<td>192.0.2.1</td>"), "{body}");
    let csp = header(&headers, "content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));

    // single.serve.test: one exchanger (info single-exchanger) at a
    // documentation address (warning exchanger-special-address), each
    // with its id, linked to its rule, and its fix.
    let (status, _, body) = get(&server.url("/check/single.serve.test"));
    assert_eq!(status, 200);
    for id in ["exchanger-special-address", "single-exchanger"] {
        assert!(
            body.contains(&format!("docs/rules/check.md#{id}\"")),
            "{id}: {body}"
        );
    }
    assert!(body.contains("Fix: "), "{body}");

    let (status, _, body) = get(&server.url("/check/%3Cscript%3Ealert(1)%3C%2Fscript%3E"));
    assert_eq!(status, 400);
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{body}"
    );
    assert!(!body.contains("<script>"), "{body}");

    // The form goes to the check, or to the route for an address.
    let (status, headers, _) = get(&server.url("/check?q=user%40serve.test"));
    assert_eq!(status, 303);
    assert_eq!(header(&headers, "location"), Some("/route/user@serve.test"));
    // The home page lists what was asked.
    let (_, _, body) = get(&server.url("/"));
    assert!(body.contains("/check/single.serve.test"), "{body}");
}

/// `/probe` in the blackbox_exporter convention, read by a Prometheus text
/// parser: a deliverable domain succeeds, one that does not exist fails.
#[test]
fn the_exporter_parses_and_says_success() {
    let knot = knot();
    let server = Server::start(knot.addr(), &[]);
    let samples = |path: &str| {
        let (status, headers, body) = get(&server.url(path));
        assert_eq!(status, 200, "{body}");
        assert!(
            header(&headers, "content-type")
                .unwrap()
                .starts_with("application/openmetrics-text")
        );
        let lines = body.lines().map(|l| Ok(l.to_string()));
        let scrape =
            prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("{e}: {body}"));
        scrape
            .samples
            .into_iter()
            .map(|s| {
                let value = match s.value {
                    prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                    other => panic!("{}: {other:?}", s.metric),
                };
                (
                    s.metric,
                    s.labels.get("severity").map(str::to_string),
                    value,
                )
            })
            .collect::<Vec<_>>()
    };
    let value = |s: &[(String, Option<String>, f64)], name: &str| {
        s.iter().find(|(m, _, _)| m == name).map(|(_, _, v)| *v)
    };
    // Prometheus's own checker (promtool, Debian package prometheus) accepts
    // what /probe says, for each module.
    for module in ["route", "check"] {
        let (_, _, body) =
            get(&server.url(&format!("/probe?target=single.serve.test&module={module}")));
        let mut promtool = Process::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("promtool is needed (Debian package prometheus): {e}"));
        use std::io::Write as _;
        promtool
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        let out = promtool.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics ({module}): {}{}\n{body}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ok = samples("/probe?target=serve.test&module=route");
    assert_eq!(value(&ok, "probe_success"), Some(1.0));
    assert_eq!(value(&ok, "mxkit_candidates"), Some(2.0));
    let gone = samples("/probe?target=nothere.serve.test&module=route");
    assert_eq!(value(&gone, "probe_success"), Some(0.0));
    // Its only exchanger is at a documentation address: an error finding,
    // so the check probe fails.
    let check = samples("/probe?target=single.serve.test&module=check");
    let errors = check
        .iter()
        .find(|(m, sev, _)| m == "mxkit_check_findings" && sev.as_deref() == Some("error"))
        .map(|(_, _, v)| *v);
    assert!(errors.is_some_and(|n| n >= 1.0), "{check:?}");
    assert_eq!(value(&check, "probe_success"), Some(0.0));
    let (status, _, _) = get(&server.url("/probe?target=serve.test&module=dns"));
    assert_eq!(status, 400);
    // The server's own metrics name kinds of pages, never a domain.
    let (_, _, metrics) = get(&server.url("/metrics"));
    assert!(
        metrics.contains("mxkit_serve_requests_total{kind=\"probe\",code=\"200\"}"),
        "{metrics}"
    );
    assert!(!metrics.contains("serve.test"), "{metrics}");
}

/// The limits: past `--rate` a client gets 429, past `--max-concurrent`
/// 503, both with Retry-After; cheap pages are never limited.
#[test]
fn limits_answer_429_and_503() {
    let knot = knot();
    let server = Server::start(knot.addr(), &["--rate", "2"]);
    assert_eq!(get(&server.url("/route/serve.test")).0, 200);
    assert_eq!(get(&server.url("/route/serve.test")).0, 200);
    let (status, headers, body) = get(&server.url("/route/serve.test"));
    assert_eq!(status, 429, "{body}");
    let wait: u64 = header(&headers, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(get(&server.url("/healthz")).0, 200);
    drop(server);

    // A name server that never answers holds the one slot.
    let silent = FaultServer::start(|_| Reply::Silence);
    let server = Server::start(silent.addr(), &["--max-concurrent", "1"]);
    let slow_url = server.url("/api/v1/route?address=slow.test");
    let slow = std::thread::spawn(move || get(&slow_url).0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, m) = get(&server.url("/metrics"));
        if m.contains("mxkit_serve_in_flight 1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow request never started: {m}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, headers, body) = get(&server.url("/api/v1/route?address=other.test"));
    assert_eq!(status, 503, "{body}");
    assert_eq!(header(&headers, "retry-after"), Some("1"));
    // The slow one ends as a temporary failure once DNS gives up.
    assert_eq!(slow.join().unwrap(), 200);
}

/// Bad flags: exit 64; a port in use: exit 3, with the address.
#[test]
fn bad_listen_addresses() {
    let out = Command::cargo_bin("mxkit")
        .unwrap()
        .args([
            "serve",
            "--listen",
            "localhost",
            "--offline",
            "--zone",
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(64),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let knot = knot();
    let out = Command::cargo_bin("mxkit")
        .unwrap()
        .args([
            "serve",
            "--listen",
            &addr,
            "--server",
            &knot.addr().to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&addr));
}

/// A public checker is not aimed at private networks: an exchanger on
/// loopback is not probed (the check says why, the SMTP probe reports it
/// down without connecting) unless --allow-probe names the network; then a
/// real Postfix is probed, and its certificate's expiry exported.
#[test]
fn probes_go_to_global_addresses_unless_allowed() {
    let knot = knot();
    let server = Server::start(knot.addr(), &[]);
    let (_, _, body) = get(&server.url("/api/v1/check?domain=lo.serve.test"));
    assert!(
        body.contains(
            "not probed over SMTP: mx-lo.serve.test [127.0.0.1] (127.0.0.1 is not a global address"
        ),
        "{body}"
    );
    let (_, _, body) = get(&server.url("/probe?target=lo.serve.test&module=smtp&debug=true"));
    assert!(body.contains("not connecting to 127.0.0.1:25"), "{body}");
    assert!(
        body.starts_with("probe smtp of lo.serve.test (success 0"),
        "{body}"
    );
    drop(server);

    let ca = testbed::certs::TestCa::new();
    let _postfix = testbed::postfix::Postfix::start(&[testbed::postfix::PostfixInstance::new(
        "127.0.175.1:25".parse().unwrap(),
        "mx-pf.serve.test",
    )
    .tls(ca.leaf(&["mx-pf.serve.test"]))]);
    let server = Server::start(knot.addr(), &["--allow-probe", "127.0.175.0/24"]);
    let (status, _, body) = get(&server.url("/probe?target=pf.serve.test&module=smtp"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("probe_success 1"), "{body}");
    assert!(
        body.contains("mxkit_smtp_up{exchanger=\"mx-pf.serve.test\",address=\"127.0.175.1\"} 1"),
        "{body}"
    );
    // The test CA's leaves expire at the end of 2099.
    assert!(body.contains("mxkit_tls_cert_not_after_timestamp_seconds{exchanger=\"mx-pf.serve.test\",address=\"127.0.175.1\"} 4102358400"), "{body}");
    // An allowed address where nothing listens: down.
    let (_, _, body) = get(&server.url("/probe?target=down.serve.test&module=smtp"));
    assert!(body.contains("probe_success 0"), "{body}");
    assert!(
        body.contains("mxkit_smtp_up{exchanger=\"mx-down.serve.test\",address=\"127.0.175.9\"} 0"),
        "{body}"
    );
    let (_, _, body) = get(&server.url("/api/v1/check?domain=pf.serve.test"));
    assert!(!body.contains("not probed over SMTP"), "{body}");
    assert!(
        body.contains("\"smtp-certificate\""),
        "the probe ran: {body}"
    );
}

/// A real browser (Debian's chromium, headless) renders the check page of
/// a domain with an error (an MX naming an IP address), a warning (an
/// exchanger without address) and a clean exchanger (a real Postfix): the
/// DOM holds all three, each finding with its fix; a `<script>` that came
/// from DNS (the `_mta-sts` record) is text, not an element, and runs
/// nothing. A screenshot is taken too (docs/serve.md shows one).
#[test]
fn a_browser_shows_the_report_and_runs_nothing() {
    let knot = knot();
    let ca = testbed::certs::TestCa::new();
    let _postfix = testbed::postfix::Postfix::start(&[testbed::postfix::PostfixInstance::new(
        "127.0.175.2:25".parse().unwrap(),
        "mx-ok.serve.test",
    )
    .tls(ca.leaf(&["mx-ok.serve.test"]))]);
    let server = Server::start(
        knot.addr(),
        &["--allow-probe", "127.0.175.0/24", "--mta-sts-cache", "none"],
    );
    let profile = tempfile::tempdir().unwrap();
    let chromium = |extra: &[&str]| {
        let out = Process::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(server.url("/check/mixed.serve.test"))
            .output()
            .unwrap_or_else(|e| {
                panic!("chromium is needed for the browser test (Debian package chromium): {e}")
            });
        assert!(
            out.status.success(),
            "chromium: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = chromium(&["--dump-dom"]);
    // The error, the warning, and the clean exchanger in the plan.
    assert!(dom.contains(">mx-is-address</a>"), "{dom}");
    assert!(dom.contains(">exchanger-without-address</a>"), "{dom}");
    assert!(
        dom.contains("<td>mx-ok.serve.test</td><td>127.0.175.2</td>"),
        "{dom}"
    );
    assert!(
        dom.matches("<pre class=\"fix\">").count() >= 3,
        "every finding has its fix: {dom}"
    );
    // Per exchanger: the greeting and the certificate the probe saw.
    assert!(dom.contains("220 mx-ok.serve.test ESMTP test"), "{dom}");
    assert!(
        dom.contains(
            "mx-ok.serve.test (issuer CN=mxkit test CA, until 2099-12-31T00:00:00Z; not trusted)"
        ),
        "{dom}"
    );
    // The hostile record is text in the DOM: escaped, no script element.
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{dom}"
    );
    assert!(!dom.contains("<script"), "{dom}");
    let shot = profile.path().join("check.png");
    chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1000,1400",
    ]);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} octets",
        png.len()
    );
}

/// `--trap-store`: `/trap` shows the listings, the recent decoy sessions
/// and the charts (inline SVG), a reason that holds markup shown as text;
/// `/metrics` carries the trap's gauges. Without the flag, 404.
#[test]
fn the_trap_page_and_metrics() {
    use mxkit_trap::model::{Decision, Flags, Listing, Observation, Role, Stage, now};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("trap.db").display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = mxkit_trap::Store::open(&url).await.unwrap();
        let at = now() - 60_000_000;
        let client: std::net::IpAddr = "198.51.100.7".parse().unwrap();
        let id = store
            .record(&Observation {
                at,
                role: Role::Decoy,
                stream: "decoy".into(),
                client,
                local: None,
                client_name: None,
                stage: Stage::Rcpt,
                helo: Some("spam.example".into()),
                mail_domain: None,
                flags: Flags::default(),
            })
            .await
            .unwrap();
        let reason = "decoy-first <b>bold</b>".to_string();
        let listing = Listing {
            ip: client,
            grade: mxkit_trap::Grade::Trapped,
            reason: reason.clone(),
            first_seen: at,
            last_seen: at,
            expires: at + 86_400_000_000,
            events: 2,
            shadow: false,
        };
        let decision = Decision {
            observation: id,
            client,
            at,
            decided: at + 1_000_000,
            grade: mxkit_trap::Grade::Trapped,
            reason,
        };
        store.decide(&decision, Some(&listing)).await.unwrap();
    });
    let knot = knot();
    let server = Server::start(knot.addr(), &["--trap-store", &url]);
    let (status, _, body) = get(&server.url("/trap"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<td>198.51.100.7</td>"), "{body}");
    assert!(body.contains("<td>trapped</td>"), "{body}");
    assert!(
        body.contains("decoy-first &lt;b&gt;bold&lt;/b&gt;"),
        "{body}"
    );
    assert!(!body.contains("<b>bold"), "{body}");
    assert_eq!(body.matches("<svg").count(), 2, "two charts: {body}");
    assert!(
        body.contains("1 decoy sessions in the last 7 days"),
        "{body}"
    );
    let (_, _, metrics) = get(&server.url("/metrics"));
    assert!(
        metrics.contains("mxkit_trap_listings{grade=\"trapped\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mxkit_trap_decoy_sessions_day 1"),
        "{metrics}"
    );
    assert_eq!(metrics.matches("# EOF").count(), 1, "{metrics}");
    drop(server);
    let server = Server::start(knot.addr(), &[]);
    assert_eq!(get(&server.url("/trap")).0, 404);
    // A store that does not exist: exit 3, nothing created.
    let missing = format!("sqlite:{}", dir.path().join("nothere.db").display());
    let out = Command::cargo_bin("mxkit")
        .unwrap()
        .args(["serve", "--listen", "127.0.0.1:0", "--trap-store", &missing])
        .args(["--server", &knot.addr().to_string()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("nothere.db").exists());
}

/// `--store`: every page shown is kept under a permalink (`/r/ID`) that
/// shows it again as it was, after a restart too; the home page lists
/// them; an unknown or malformed id is a 404.
#[test]
fn pages_are_kept_under_permalinks() {
    let knot = knot();
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("serve.db").display());
    let server = Server::start(knot.addr(), &["--store", &store]);
    let (status, _, page) = get(&server.url("/route/postmaster@serve.test"));
    assert_eq!(status, 200);
    let link = page
        .split("href=\"/r/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|id| format!("/r/{id}"))
        .unwrap_or_else(|| panic!("no permalink: {page}"));
    let (status, _, kept) = get(&server.url(&link));
    assert_eq!(status, 200);
    assert_eq!(kept, page);
    let (_, _, home) = get(&server.url("/"));
    assert!(
        home.contains(&link) && home.contains("route postmaster@serve.test"),
        "{home}"
    );
    assert_eq!(server.stop(), Some(0));
    let server = Server::start(knot.addr(), &["--store", &store]);
    assert_eq!(get(&server.url(&link)).2, page, "kept across a restart");
    assert_eq!(get(&server.url("/r/0123456789abcdef")).0, 404);
    drop(server);
    // With --base-url, permalinks are absolute under it.
    let server = Server::start(
        knot.addr(),
        &[
            "--store",
            &store,
            "--base-url",
            "https://mxkit.example.test/",
        ],
    );
    let (_, _, page) = get(&server.url("/route/serve.test"));
    assert!(
        page.contains("href=\"https://mxkit.example.test/r/"),
        "{page}"
    );
    let (status, _, body) = get(&server.url("/r/%3Cscript%3E"));
    assert_eq!(status, 404);
    assert!(!body.contains("<script>"), "{body}");
}

/// The same question asked by several clients at once is asked of DNS once
/// (they join the running one), and its answer is kept for its TTL (here
/// the negative TTL of NXDOMAIN): a later request asks nothing.
#[test]
fn identical_requests_are_joined_and_kept() {
    let dns = FaultServer::start(|req| {
        Reply::Delayed(
            Duration::from_millis(400),
            Box::new(Reply::nxdomain(req, 300, 300)),
        )
    });
    let server = Server::start(dns.addr(), &["--no-smtp"]);
    let url = server.url("/api/v1/route?address=joined.test");
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || get(&url))
        })
        .collect();
    for c in clients {
        let (status, _, body) = c.join().unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("\"outcome\": \"no_such_domain\""), "{body}");
    }
    let mx_queries = || {
        dns.queries()
            .iter()
            .filter(|q| q.0 == "joined.test." && q.1 == "MX")
            .count()
    };
    assert_eq!(mx_queries(), 1, "{:?}", dns.queries());
    assert_eq!(get(&url).0, 200);
    assert_eq!(mx_queries(), 1, "kept: {:?}", dns.queries());
}

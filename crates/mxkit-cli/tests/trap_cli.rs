//! `mxkit trap` end to end on the test bed (spec/trap.md, issue "trap" part
//! 7): a real Postfix is the primary MX and writes its real log; `mxkit trap
//! run` is the decoy on the next address; clients come from distinct
//! loopback source addresses: swaks as a well-behaved sender that delivers
//! to the primary first, swaks straight to the decoy as the spammer, and a
//! bare connection that only says EHLO and QUIT as a prober. Each test has
//! its own addresses; the SQLite and PostgreSQL stores run the same
//! scenario. Nothing leaves loopback.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use testbed::postfix::{Postfix, PostfixInstance};
use testbed::sys::{find_program, poll_until};

const WAIT: Duration = Duration::from_secs(30);

fn mxkit_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("mxkit")
}

/// `mxkit ARGS`: (exit code, stdout, stderr).
fn mxkit(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(mxkit_bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running `mxkit trap run`, killed on drop; its stderr goes to a file.
struct Trap {
    child: Child,
    stderr: PathBuf,
}

impl Trap {
    fn start(dir: &Path, decoy: SocketAddr, args: &[String]) -> Trap {
        let stderr = dir.join(format!("trap-{}.stderr", std::process::id()));
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr)
            .unwrap();
        let child = Command::new(mxkit_bin())
            .args(["trap", "run", "--listen", &decoy.to_string()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap();
        let mut trap = Trap { child, stderr };
        let up = poll_until(WAIT, || {
            if let Ok(Some(status)) = trap.child.try_wait() {
                panic!("mxkit trap run exited ({status}):\n{}", trap.log());
            }
            TcpStream::connect_timeout(&decoy, Duration::from_millis(200)).is_ok()
        });
        assert!(up, "the decoy never listened on {decoy}:\n{}", trap.log());
        trap
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Trap {
    fn drop(&mut self) {
        self.kill();
    }
}

fn swaks() -> PathBuf {
    find_program("swaks", &["/usr/bin/swaks"])
        .expect("swaks is missing: install the Debian package `swaks` (scripts/test does)")
}

/// swaks from `source` to `server`: one transaction, its exit status.
fn send(source: IpAddr, server: SocketAddr, from: &str, to: &str) -> bool {
    Command::new(swaks())
        .args(["--server", &server.ip().to_string()])
        .args(["--port", &server.port().to_string()])
        .args(["--local-interface", &source.to_string()])
        .args(["--from", from, "--to", to])
        .args(["--helo", "sender.example.net", "--timeout", "20"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// A prober: connect from `source`, read the greeting, EHLO, QUIT.
fn probe(source: IpAddr, server: SocketAddr) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(source, 0).into()).unwrap();
    socket.connect_timeout(&server.into(), WAIT).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    let mut expect = |prefix: &str| loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "closed before {prefix}"
        );
        if line.starts_with(prefix) {
            break;
        }
    };
    expect("220 ");
    w.write_all(b"EHLO checker.example.net\r\n").unwrap();
    expect("250 ");
    w.write_all(b"QUIT\r\n").unwrap();
    expect("221 ");
}

fn list(store: &str) -> Vec<Value> {
    let (code, out, err) = mxkit(&["trap", "list", "--json", "--store", store]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn listed(store: &str, ip: &str) -> Option<Value> {
    list(store).into_iter().find(|l| l["ip"] == ip)
}

fn show(store: &str, ip: &str) -> Value {
    let (code, out, err) = mxkit(&["trap", "show", ip, "--json", "--store", store]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn postmap_q(table: &Path, ip: &str) -> Option<String> {
    let postmap = find_program("postmap", &["/usr/sbin/postmap"])
        .expect("postmap is missing: install the Debian package `postfix`");
    let out = Command::new(postmap)
        .args(["-q", ip, &format!("cidr:{}", table.display())])
        .output()
        .unwrap();
    (out.status.code() == Some(0)).then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The test configuration: short windows so a test decides in seconds;
/// the primary is probed for health; `windows` adds to the `[windows]`
/// table.
fn config(dir: &Path, primary: SocketAddr, windows: &str) -> PathBuf {
    let path = dir.join("trap.toml");
    std::fs::write(
        &path,
        format!(
            "hostname = \"mx99.example.test\"\nread_from_start = true\ninterval = 0.2\n\
             primary_probe = [\"{primary}\"]\n\
             [windows]\ndecide = 1\nskew = 1\nstartup_grace = 0\nsecond_session = 1\n{windows}\n\
             [limits]\ngreet_wait = 0.2\n"
        ),
    )
    .unwrap();
    path
}

/// One test's bed on 127.0.NET.0/24: Postfix as the primary on .2 writing
/// its log, `mxkit trap run` as the decoy on .3 following that log and
/// writing one export.
struct Bed {
    net: u8,
    dir: tempfile::TempDir,
    store: String,
    primary: SocketAddr,
    decoy: SocketAddr,
    postfix: Postfix,
    export: PathBuf,
    args: Vec<String>,
    trap: Trap,
}

impl Bed {
    /// `store`: a store URL, or `None` for a SQLite file in the bed's folder.
    fn start(net: u8, store: Option<String>, windows: &str, format: &str, extra: &[&str]) -> Bed {
        let dir = tempfile::tempdir().unwrap();
        let store =
            store.unwrap_or_else(|| format!("sqlite:{}", dir.path().join("trap.db").display()));
        let primary = SocketAddr::new(ip(net, 2), 25);
        let decoy = SocketAddr::new(ip(net, 3), 25);
        let postfix = Postfix::start(&[PostfixInstance::new(primary, "mx1.example.test")]);
        let export = dir.path().join(format!("mxtrap.{format}"));
        let mut args: Vec<String> = vec![
            "--store".into(),
            store.clone(),
            "--config".into(),
            config(dir.path(), primary, windows).display().to_string(),
            "--primary-log".into(),
            postfix.dir().join("maillog").display().to_string(),
            "--export".into(),
            format!("{format}:{}", export.display()),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let trap = Trap::start(dir.path(), decoy, &args);
        Bed {
            net,
            dir,
            store,
            primary,
            decoy,
            postfix,
            export,
            args,
            trap,
        }
    }

    /// Kill the decoy without warning and start it again.
    fn restart(&mut self) {
        self.trap.kill();
        self.trap = Trap::start(self.dir.path(), self.decoy, &self.args);
    }

    /// An honest sender from .HOST delivers one message at the primary.
    fn deliver(&self, host: u8) -> IpAddr {
        let source = ip(self.net, host);
        assert!(send(
            source,
            self.primary,
            "alice@sender.example.net",
            "bob@example.test"
        ));
        self.postfix
            .wait_for_log(&format!("connect from unknown[{source}]"), WAIT);
        source
    }

    /// A spammer from .HOST goes straight for the decoy (refused at RCPT).
    fn spam(&self, host: u8) -> String {
        let source = ip(self.net, host);
        assert!(!send(
            source,
            self.decoy,
            "x@spam.example.com",
            "bob@example.test"
        ));
        source.to_string()
    }
}

fn ip(net: u8, host: u8) -> IpAddr {
    format!("127.0.{net}.{host}").parse().unwrap()
}

/// The whole story against one store: honest sender, spammer, prober;
/// who is listed, the Postfix table consumed by postmap, a second
/// decoy-first session escalating to trapped, then a kill and a restart
/// that neither loses sessions nor reads the log twice.
fn scenario(store: Option<String>, net: u8) {
    let mut bed = Bed::start(net, store, "", "postfix-cidr", &[]);
    let store = bed.store.clone();
    let store = store.as_str();
    let cidr = bed.export.clone();
    // The honest sender delivers at the primary; later it also touches the
    // decoy (as a sender whose first try failed would).
    let honest = bed.deliver(10);
    bed.postfix.wait_for_messages(1, WAIT);
    assert!(!send(
        honest,
        bed.decoy,
        "alice@sender.example.net",
        "bob@example.test"
    ));
    // The spammer goes straight for the decoy; the prober only looks.
    let spam = bed.spam(66);
    let prober = ip(net, 77);
    probe(prober, bed.decoy);

    let ok = poll_until(WAIT, || listed(store, &spam).is_some());
    assert!(
        ok,
        "the spammer was never listed:\n{}\n{:#?}",
        bed.trap.log(),
        list(store)
    );
    let entry = listed(store, &spam).unwrap();
    assert_eq!(entry["grade"], "suspect", "{entry}");
    assert_eq!(entry["reason"], "decoy-first", "{entry}");
    assert_eq!(entry["shadow"], false);
    assert!(
        listed(store, &honest.to_string()).is_none(),
        "{:#?}",
        list(store)
    );
    assert!(
        listed(store, &prober.to_string()).is_none(),
        "{:#?}",
        list(store)
    );

    // Each decoy session was decided, with its reason.
    let ok = poll_until(WAIT, || {
        show(store, &prober.to_string())["decisions"][0]["grade"] == "probe"
            && !show(store, &honest.to_string())["decisions"]
                .as_array()
                .unwrap()
                .is_empty()
    });
    assert!(
        ok,
        "{}\n{}",
        show(store, &prober.to_string()),
        bed.trap.log()
    );
    let honest_show = show(store, &honest.to_string());
    let reason = &honest_show["decisions"][0]["reason"];
    assert!(
        reason == "known-good" || reason == "seen-at-primary",
        "{honest_show:#}"
    );
    // What the decoy recorded: HELO, the envelope domain, never the local part.
    let spam_show = show(store, &spam);
    let session = spam_show["observations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["role"] == "decoy")
        .unwrap()
        .clone();
    assert_eq!(session["stage"], "rcpt", "{spam_show:#}");
    assert_eq!(session["mail_domain"], "spam.example.com");
    assert!(!spam_show.to_string().contains("x@spam"), "{spam_show:#}");

    // Postfix consumes the table: 450 for a suspect, nothing for the others.
    let ok = poll_until(WAIT, || postmap_q(&cidr, &spam).is_some());
    assert!(ok, "{}", std::fs::read_to_string(&cidr).unwrap_or_default());
    let action = postmap_q(&cidr, &spam).unwrap();
    assert!(action.starts_with("450 4.7.1"), "{action}");
    assert_eq!(postmap_q(&cidr, &honest.to_string()), None);
    assert_eq!(postmap_q(&cidr, &prober.to_string()), None);

    // A second decoy-first session (the test's second_session is 1 s)
    // escalates to trapped, and Postfix then rejects with 554.
    std::thread::sleep(Duration::from_millis(1100));
    assert!(!send(
        ip(net, 66),
        bed.decoy,
        "y@spam.example.com",
        "carol@example.test"
    ));
    let ok = poll_until(WAIT, || {
        listed(store, &spam).is_some_and(|l| l["grade"] == "trapped")
    });
    assert!(ok, "{:#?}\n{}", list(store), bed.trap.log());
    let ok = poll_until(WAIT, || {
        postmap_q(&cidr, &spam).is_some_and(|a| a.starts_with("554 5.7.1"))
    });
    assert!(ok, "{}", std::fs::read_to_string(&cidr).unwrap_or_default());
    assert!(
        bed.trap
            .log()
            .contains(&format!("mxtrap: TRAPPED ip={spam}")),
        "{}",
        bed.trap.log()
    );

    // Killed without warning and started again: every session that got a
    // reply is still there, and the log is not read twice.
    let primary_sessions = |v: &Value| {
        v["observations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["role"] == "primary")
            .count()
    };
    let before = show(store, &honest.to_string());
    let decoy_before = show(store, &spam)["observations"].as_array().unwrap().len();
    bed.restart();
    probe(prober, bed.decoy);
    let ok = poll_until(WAIT, || {
        show(store, &prober.to_string())["decisions"]
            .as_array()
            .unwrap()
            .len()
            == 2
    });
    assert!(
        ok,
        "{}\n{}",
        show(store, &prober.to_string()),
        bed.trap.log()
    );
    let after = show(store, &honest.to_string());
    assert_eq!(
        primary_sessions(&after),
        primary_sessions(&before),
        "{after:#}"
    );
    assert!(primary_sessions(&after) >= 1, "{after:#}");
    assert_eq!(
        show(store, &spam)["observations"].as_array().unwrap().len(),
        decoy_before
    );
}

#[test]
fn sqlite_store_end_to_end() {
    scenario(None, 0);
}

#[test]
fn shadow_mode_records_and_lists_nothing() {
    let bed = Bed::start(82, None, "", "rspamd", &["--shadow"]);
    bed.deliver(10);
    bed.postfix.wait_for_messages(1, WAIT);
    let spam = bed.spam(66);
    let store = &bed.store;
    let ok = poll_until(WAIT, || listed(store, &spam).is_some());
    assert!(ok, "{}", bed.trap.log());
    assert_eq!(listed(store, &spam).unwrap()["shadow"], true);
    let log = bed.trap.log();
    assert!(
        log.contains(&format!("mxtrap: WOULD-LIST SUSPECT ip={spam}")),
        "{log}"
    );
    let map = std::fs::read_to_string(&bed.export).unwrap();
    assert!(!map.contains(&spam), "{map}");
    let (_, text, _) = mxkit(&["trap", "list", "--store", store]);
    assert!(text.contains("[shadow: not exported]"), "{text}");
}

#[test]
fn listings_expire_from_the_exports_and_the_store() {
    let bed = Bed::start(83, None, "suspect_ttl = 3", "postfix-cidr", &[]);
    let (store, cidr) = (bed.store.as_str(), bed.export.as_path());
    bed.deliver(10);
    bed.postfix.wait_for_messages(1, WAIT);
    let trap = &bed.trap;
    let spam = bed.spam(66);
    let ok = poll_until(WAIT, || postmap_q(cidr, &spam).is_some());
    assert!(ok, "{}", trap.log());
    // Three seconds later the listing has run out: the table drops it by
    // itself, and `trap expire` removes it from the store.
    let ok = poll_until(WAIT, || postmap_q(cidr, &spam).is_none());
    assert!(ok, "{}", std::fs::read_to_string(cidr).unwrap_or_default());
    assert!(listed(store, &spam).is_none());
    let (code, out, err) = mxkit(&["trap", "expire", "--store", store, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["listings"], 1, "{v}");
    // The allowlist withdraws and prevents.
    let (code, out, _) = mxkit(&[
        "trap",
        "allow",
        "127.0.83.0/24",
        "--note",
        "lab",
        "--store",
        store,
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("127.0.83.0/24: allowlisted"), "{out}");
    bed.spam(67);
    let ok = poll_until(WAIT, || {
        show(store, "127.0.83.67")["decisions"][0]["reason"] == "allowlisted"
    });
    assert!(ok, "{}", show(store, "127.0.83.67"));
    assert!(listed(store, "127.0.83.67").is_none());
}

#[test]
fn usage_errors_are_one_line_and_exit_64() {
    let dir = tempfile::tempdir().unwrap();
    let same = dir.path().join("same.toml");
    std::fs::write(&same, "primary_probe = [\"127.0.0.1:2525\"]\n").unwrap();
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "shadwo = true\n").unwrap();
    let (same, typo) = (same.to_str().unwrap(), typo.to_str().unwrap());
    for args in [
        vec![
            "trap",
            "run",
            "--listen",
            "127.0.0.1:2525",
            "--store",
            "sqlite:/tmp/x.db",
            "--config",
            same,
        ],
        vec!["trap", "list", "--config", typo],
        vec!["trap", "list"],
        vec![
            "trap",
            "show",
            "not-an-ip",
            "--store",
            "sqlite:/nonexistent/x.db",
        ],
        vec![
            "trap",
            "allow",
            "300.1.1.1/8",
            "--store",
            "sqlite:/tmp/x.db",
        ],
        vec![
            "trap",
            "export",
            "--format",
            "bogus",
            "--store",
            "sqlite:/tmp/x.db",
        ],
        vec![
            "trap",
            "run",
            "--store",
            "mysql://x",
            "--listen",
            "127.0.0.1:1",
        ],
    ] {
        let (code, out, err) = mxkit(&args);
        assert!(code == 64 || code == 3, "{args:?}: {code} {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("mxkit: error: "), "{args:?}: {err}");
    }
}

/// The same story with the shared store: a real PostgreSQL server (the
/// set-up for a decoy and real MX hosts on different machines).
#[test]
fn postgres_store_end_to_end() {
    let pg = testbed::postgres::Postgres::start();
    scenario(Some(pg.create_database("trap_e2e")), 81);
}

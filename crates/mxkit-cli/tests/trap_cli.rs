//! `mxkit trap` end to end on the test bed (docs/rules/trap.md; the set-up of
//! the README's "`mxkit trap`"): a real Postfix is the primary MX and writes
//! its real log; `mxkit trap run` is the decoy on the next address; clients
//! come from distinct loopback source addresses: swaks as a well-behaved
//! sender that delivers to the primary first, swaks straight to the decoy as
//! the spammer, and a bare connection that only says EHLO and QUIT as a
//! prober. Each test has its own addresses; the SQLite and PostgreSQL stores
//! run the same scenario. Nothing leaves loopback.

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
    let codes = converse(
        source,
        server,
        &[
            (Duration::ZERO, "EHLO checker.example.net"),
            (Duration::ZERO, "QUIT"),
        ],
    );
    assert_eq!(codes, ["250", "221"]);
}

/// A TCP connection from `source` (a loopback address of the test's own).
fn connect_from(source: IpAddr, server: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(source, 0).into()).unwrap();
    socket.connect_timeout(&server.into(), WAIT).unwrap();
    socket.into()
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
             primary_probe = [\"{primary}\"]\nprobe_interval = 0.5\n\
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

    /// Mail flows at the primary: an honest sender from .10 delivers one
    /// message, and it is in the mailbox.
    fn busy(self) -> Bed {
        self.deliver(10);
        self.postfix.wait_for_messages(1, WAIT);
        self
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

/// One scenario `fn(Option<store URL>, net)` as two tests: on a SQLite
/// file (loopback net `a`) and on a real PostgreSQL server (net `b`).
macro_rules! on_both_stores {
    ($scenario:ident: $sqlite:ident on $a:expr, $postgres:ident on $b:expr) => {
        #[test]
        fn $sqlite() {
            $scenario(None, $a);
        }

        #[test]
        fn $postgres() {
            let pg = testbed::postgres::Postgres::start();
            $scenario(Some(pg.create_database(stringify!($scenario))), $b);
        }
    };
}

/// A client of our own from `source`: waits for the greeting, then sends
/// each command after its pause and reads its reply; the replies' codes.
fn converse(source: IpAddr, server: SocketAddr, script: &[(Duration, &str)]) -> Vec<String> {
    let stream = connect_from(source, server);
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    let mut reply = || loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return String::from("closed");
        }
        if line.as_bytes().get(3) == Some(&b' ') {
            return line[..3].to_string();
        }
    };
    assert_eq!(reply(), "220");
    let mut codes = Vec::new();
    for (pause, command) in script {
        // The client's own pace: what the decoy must not be fooled by.
        std::thread::sleep(*pause);
        w.write_all(format!("{command}\r\n").as_bytes()).unwrap();
        codes.push(reply());
    }
    codes
}

/// A connection from `source` that leaves at once, before the greeting.
fn knock(source: IpAddr, server: SocketAddr) {
    drop(connect_from(source, server));
}

// Long on purpose: one story in the order it happens to a real
// installation, each step depending on the state the one before left.
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
    let bed = Bed::start(82, None, "", "rspamd", &["--shadow"]).busy();
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
    let bed = Bed::start(83, None, "suspect_ttl = 3", "postfix-cidr", &[]).busy();
    let (store, cidr) = (bed.store.as_str(), bed.export.as_path());
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

/// `mxkit trap run` with `extra` flags, which must be refused before
/// anything listens: exit 64, nothing on stdout, one line on stderr (given
/// back).
fn run_refused(store: &str, extra: &[&str]) -> String {
    let mut args = vec!["trap", "run", "--listen", "127.0.97.3:25", "--store", store];
    args.extend_from_slice(extra);
    let (code, out, err) = mxkit(&args);
    assert_eq!(code, 64, "{extra:?}: {err}");
    assert!(out.is_empty(), "{extra:?}: {out}");
    assert_eq!(err.trim_end().lines().count(), 1, "{extra:?}: {err}");
    err
}

/// Numbers a window, interval, TTL or limit cannot be, a host name that
/// would write SMTP into the greeting, and a store that does not exist for
/// a command that only reads: one line naming the file and key, exit 64,
/// nothing started and nothing created.
#[test]
fn bad_numbers_names_and_missing_stores_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("trap.db").display());
    for (body, key) in [
        ("[windows]\ndecide = nan\n", "windows.decide"),
        ("[windows]\ntrapped_ttl = inf\n", "windows.trapped_ttl"),
        ("[windows]\nsuspect_ttl = 1e308\n", "windows.suspect_ttl"),
        ("[windows]\nmemory = -86400\n", "windows.memory"),
        ("[windows]\nrepeat_ttl = 0\n", "windows.repeat_ttl"),
        (
            "[limits]\nsession_timeout = 1e308\n",
            "limits.session_timeout",
        ),
        ("[limits]\nmax_connections = -1\n", "limits.max_connections"),
        ("interval = nan\n", "interval"),
        ("[retention]\nobservations = -7\n", "retention.observations"),
        ("hostname = \"mx\\r\\n250 injected\"\n", "hostname"),
    ] {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, body).unwrap();
        let file = file.display().to_string();
        let err = run_refused(&store, &["--config", &file]);
        assert!(
            err.starts_with(&format!("mxkit: error: {file}: {key}: ")),
            "{body}: {err}"
        );
    }
    for name in ["mx\r\nMAIL FROM:<x@y>", "mx\x1b[2J", "two words", ""] {
        let err = run_refused(&store, &["--hostname", name]);
        assert!(err.starts_with("mxkit: error: --hostname "), "{err}");
        assert!(!err.contains('\r') && !err.contains('\x1b'), "{err:?}");
    }
    // The configuration file is read with a limit.
    let (code, _, err) = mxkit(&["trap", "list", "--config", "/dev/zero"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("larger than"), "{err}");
    // Nothing was created by any of that, and the commands that only read
    // refuse a store that is not there instead of making an empty one.
    for command in [
        vec!["trap", "list"],
        vec!["trap", "list", "--json"],
        vec!["trap", "show", "192.0.2.1"],
        vec!["trap", "export", "--format", "rspamd"],
        vec!["trap", "delist", "192.0.2.1"],
        vec!["trap", "expire"],
    ] {
        let mut args = command.clone();
        args.extend(["--store", &store]);
        let (code, out, err) = mxkit(&args);
        assert_eq!(code, 64, "{command:?}: {err}");
        assert!(out.is_empty(), "{command:?}: {out}");
        assert!(err.contains("no trap store"), "{command:?}: {err}");
        assert!(
            !dir.path().join("trap.db").exists(),
            "{command:?} created it"
        );
    }
}

/// An export is only ever written over a regular file: a FIFO (whose read
/// would never end), a device (which a rename would replace, as root) or a
/// folder is refused before anything starts, and left as it is.
#[test]
fn exports_never_replace_what_is_not_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("trap.db").display());
    let (code, _, err) = mxkit(&["trap", "allow", "192.0.2.0/24", "--store", &store]);
    assert_eq!(code, 0, "{err}");
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let nowhere = dir.path().join("no-such-folder/x.map");
    for target in [&fifo, &folder, &nowhere] {
        let t = target.display().to_string();
        let (code, out, err) = mxkit(&[
            "trap", "export", "--format", "rspamd", "--out", &t, "--store", &store,
        ]);
        assert_eq!(code, 64, "{t}: {err}");
        assert!(out.is_empty());
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        run_refused(&store, &["--export", &format!("rspamd:{t}")]);
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(folder.is_dir());
}

/// The same story with the shared store: a real PostgreSQL server (the
/// set-up for a decoy and real MX hosts on different machines).
#[test]
fn postgres_store_end_to_end() {
    let pg = testbed::postgres::Postgres::start();
    scenario(Some(pg.create_database("trap_e2e")), 81);
}

/// A spammer that says EHLO, then waits (NOOPs) well past `decide` before
/// MAIL and RCPT is judged on what it did by the end of its session:
/// listed, never let off as a probe.
fn slow_spammer(store: Option<String>, net: u8) {
    let bed = Bed::start(net, store, "", "postfix-cidr", &[]).busy();
    let slow = ip(net, 66);
    let half = Duration::from_millis(500);
    let codes = converse(
        slow,
        bed.decoy,
        &[
            (Duration::ZERO, "EHLO slow.example.net"),
            (half, "NOOP"),
            (half, "NOOP"),
            (half, "NOOP"),
            (half, "NOOP"),
            (half, "NOOP"),
            (half, "MAIL FROM:<x@spam.example.com>"),
            (Duration::ZERO, "RCPT TO:<bob@example.test>"),
            (Duration::ZERO, "QUIT"),
        ],
    );
    assert_eq!(codes[6..], ["250", "451", "221"], "{codes:?}");
    let store = bed.store.as_str();
    let ok = poll_until(WAIT, || listed(store, &slow.to_string()).is_some());
    let shown = show(store, &slow.to_string());
    assert!(ok, "{shown:#}\n{}", bed.trap.log());
    let decisions = shown["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1, "{shown:#}");
    assert_eq!(decisions[0]["grade"], "suspect", "{shown:#}");
    assert!(
        !bed.trap.log().contains(&format!("PROBE ip={slow}")),
        "{}",
        bed.trap.log()
    );
    let ok = poll_until(WAIT, || postmap_q(&bed.export, &slow.to_string()).is_some());
    assert!(
        ok,
        "{}",
        std::fs::read_to_string(&bed.export).unwrap_or_default()
    );
}

on_both_stores!(slow_spammer: slow_spammer_is_listed_sqlite on 84, slow_spammer_is_listed_postgres on 85);

/// `mxkit trap delist` and `allow`, run while the trap runs (another
/// process, as an operator would), reach the running trap's export within
/// an interval or so: Postfix stops rejecting at once, not after a restart.
fn withdrawals_reach_the_exports(store: Option<String>, net: u8) {
    let bed = Bed::start(net, store, "", "postfix-cidr", &[]).busy();
    let (store, cidr) = (bed.store.as_str(), bed.export.as_path());
    let first = bed.spam(66);
    let second = bed.spam(67);
    let ok = poll_until(WAIT, || {
        postmap_q(cidr, &first).is_some() && postmap_q(cidr, &second).is_some()
    });
    assert!(ok, "{}", bed.trap.log());
    // The interval is 0.2 s; a few seconds is "at once" for a mail server
    // and leaves room for a loaded test machine.
    let soon = Duration::from_secs(5);
    let (code, out, err) = mxkit(&["trap", "delist", &first, "--store", store]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("listing withdrawn"), "{out}");
    let ok = poll_until(soon, || postmap_q(cidr, &first).is_none());
    assert!(ok, "{}", std::fs::read_to_string(cidr).unwrap_or_default());
    assert!(postmap_q(cidr, &second).is_some());
    let (code, _, err) = mxkit(&["trap", "allow", &format!("{second}/32"), "--store", store]);
    assert_eq!(code, 0, "{err}");
    let ok = poll_until(soon, || postmap_q(cidr, &second).is_none());
    assert!(ok, "{}", std::fs::read_to_string(cidr).unwrap_or_default());
    // And what the trap lists next still reaches the table.
    let third = bed.spam(68);
    let ok = poll_until(WAIT, || postmap_q(cidr, &third).is_some());
    assert!(ok, "{}", bed.trap.log());
}

on_both_stores!(
    withdrawals_reach_the_exports: withdrawals_reach_the_exports_sqlite on 86,
    withdrawals_reach_the_exports_postgres on 87
);

/// Two thousand connections that never reach MAIL (from one address, from
/// one /24, from a hundred /24s) cost an attacker nothing: they must not
/// switch listing off. A burst of decoy-first sessions from 25 networks
/// does pause it, says so, shows it in `trap list`, and resumes by itself
/// one window (here 4 s) after the burst.
fn floods(store: Option<String>, net: u8) {
    let bed = Bed::start(net, store, "health = 4", "postfix-cidr", &[]).busy();
    let store = bed.store.as_str();
    std::thread::scope(|s| {
        for t in 0..8u32 {
            let decoy = bed.decoy;
            s.spawn(move || {
                for i in (t..2000).step_by(8) {
                    let source: IpAddr = match i % 3 {
                        0 => ip(net, 100),
                        1 => ip(net, 101 + (i % 50) as u8),
                        _ => format!("127.{}.{net}.9", 100 + i % 100).parse().unwrap(),
                    };
                    knock(source, decoy);
                }
            });
        }
    });
    for host in [66, 67] {
        bed.spam(host);
    }
    let spam = ip(net, 67).to_string();
    let ok = poll_until(WAIT, || listed(store, &spam).is_some());
    assert!(ok, "{}", bed.trap.log());
    assert!(!bed.trap.log().contains("PAUSED"), "{}", bed.trap.log());

    // The real thing: 25 networks at once.
    std::thread::scope(|s| {
        for i in 0..25u8 {
            let decoy = bed.decoy;
            s.spawn(move || {
                let source: IpAddr = format!("127.{}.{net}.66", 100 + i).parse().unwrap();
                let codes = converse(
                    source,
                    decoy,
                    &[
                        (Duration::ZERO, "EHLO bot.example.net"),
                        (Duration::ZERO, "MAIL FROM:<x@spam.example.com>"),
                        (Duration::ZERO, "RCPT TO:<bob@example.test>"),
                        (Duration::ZERO, "QUIT"),
                    ],
                );
                assert_eq!(codes, ["250", "250", "451", "221"]);
            });
        }
    });
    let ok = poll_until(WAIT, || bed.trap.log().contains("mxtrap: PAUSED reason="));
    assert!(ok, "{}", bed.trap.log());
    let (code, text, err) = mxkit(&["trap", "list", "--store", store]);
    assert_eq!(code, 0, "{err}");
    // The list says so (unless the pause was over before it was asked, on
    // a very slow machine).
    assert!(
        text.contains("listing PAUSED since") || bed.trap.log().contains("mxtrap: RESUMED"),
        "{text}"
    );
    let ok = poll_until(WAIT, || {
        bed.trap.log().contains("mxtrap: RESUMED paused_for=")
    });
    assert!(ok, "{}", bed.trap.log());
    let (_, text, _) = mxkit(&["trap", "list", "--store", store]);
    assert!(!text.contains("PAUSED"), "{text}");
    // Listing works again.
    let after = bed.spam(68);
    let ok = poll_until(WAIT, || listed(store, &after).is_some());
    assert!(ok, "{}", bed.trap.log());
}

on_both_stores!(floods: floods_sqlite on 88, floods_postgres on 89);

/// A primary log that cannot be read (a folder, a path that does not
/// exist) is said at the start, gives every decision its reason, lists
/// nothing, and is read as soon as it can be.
fn unreadable_logs(store: Option<String>, net: u8) {
    let dir = tempfile::tempdir().unwrap();
    let store = store.unwrap_or_else(|| format!("sqlite:{}", dir.path().join("trap.db").display()));
    let primary = SocketAddr::new(ip(net, 2), 25);
    let decoy = SocketAddr::new(ip(net, 3), 25);
    let postfix = Postfix::start(&[PostfixInstance::new(primary, "mx1.example.test")]);
    let folder = dir.path().join("a-folder");
    std::fs::create_dir(&folder).unwrap();
    let missing = dir.path().join("later.log");
    let args: Vec<String> = vec![
        "--store".into(),
        store.clone(),
        "--config".into(),
        config(dir.path(), primary, "").display().to_string(),
        "--primary-log".into(),
        folder.display().to_string(),
        "--primary-log".into(),
        missing.display().to_string(),
    ];
    let trap = Trap::start(dir.path(), decoy, &args);
    let said = |what: &str| trap.log().contains(what);
    let ok = poll_until(WAIT, || {
        said(&format!("primary log {} cannot be read", folder.display()))
            && said(&format!(
                "primary log {} cannot be read: does not exist",
                missing.display()
            ))
    });
    assert!(ok, "{}", trap.log());
    // A spammer now: decided, with the reason, never listed.
    let spam = ip(net, 66);
    assert!(!send(spam, decoy, "x@spam.example.com", "bob@example.test"));
    let ok = poll_until(WAIT, || {
        show(&store, &spam.to_string())["decisions"][0]["reason"] == "primary-log-unreadable"
    });
    assert!(ok, "{}\n{}", show(&store, &spam.to_string()), trap.log());
    assert!(listed(&store, &spam.to_string()).is_none());
    // Both become readable: the folder gives way to a file, and the
    // missing path appears as Postfix's log.
    std::fs::remove_dir(&folder).unwrap();
    std::fs::write(&folder, "").unwrap();
    std::os::unix::fs::symlink(postfix.dir().join("maillog"), &missing).unwrap();
    let ok = poll_until(WAIT, || {
        said(&format!("primary log {} is read again", folder.display()))
            && said(&format!("primary log {} is read again", missing.display()))
    });
    assert!(ok, "{}", trap.log());
    // A honest delivery at the primary, then a spammer: listed.
    assert!(send(
        ip(net, 10),
        primary,
        "alice@sender.example.net",
        "bob@example.test"
    ));
    postfix.wait_for_messages(1, WAIT);
    let later = ip(net, 67);
    assert!(!send(
        later,
        decoy,
        "x@spam.example.com",
        "bob@example.test"
    ));
    let ok = poll_until(WAIT, || listed(&store, &later.to_string()).is_some());
    assert!(ok, "{}\n{}", show(&store, &later.to_string()), trap.log());
}

on_both_stores!(
    unreadable_logs: unreadable_primary_logs_are_said_and_list_nothing_sqlite on 96,
    unreadable_primary_logs_are_said_and_list_nothing_postgres on 98
);

//! Failure MX servers for tests: Postfix's `smtp-sink` (shipped in Debian's
//! package postfix) on a loopback address, one process per server, with the
//! flags of docs/design.md, "Tests and the test bed" (verified with
//! smtp-sink 3.7):
//!
//! | constructor | flags | behaviour |
//! |---|---|---|
//! | [`SmtpSink::greet_421`] | `-Q CONNECT` | greets `421 4.0.0 Server closing connection`, hangs up |
//! | [`SmtpSink::greet_450`] | `-r CONNECT` | greets `450 4.3.0 Error: command failed`, stays connected (QUIT gets 221) |
//! | [`SmtpSink::silent`] | `-W CONNECT:600` | accepts the connection, never greets |
//! | [`SmtpSink::reject_rcpt`] | `-f RCPT` | greets 220, answers RCPT with `500 5.3.0 Error: command failed` |
//! | [`SmtpSink::capture`] | `-d DIR/%M.` | accepts every message and writes it into [`SmtpSink::capture_dir`] |
//!
//! (`-f CONNECT` would greet with `500`; `-q CMD` hangs up without a reply.)
//! [`SmtpSink::start`] takes any other flags. Every sink runs with `-h
//! HOSTNAME` (its name in the greeting and EHLO reply) and, as root, `-u
//! nobody` (smtp-sink refuses to run as root without `-u`).
//!
//! Start returns once the address accepts connections and, unless the flags
//! suppress it, a first reply arrives; a sink that exits or does not come up
//! within [`READY_TIMEOUT`] is a panic with its output. The process is killed
//! on drop and its folder removed.

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::smtp_client::SmtpClient;
use crate::sys;

/// How long a sink gets to listen and greet.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The listen backlog given to smtp-sink.
const BACKLOG: &str = "64";

/// What the readiness probe waits for after connecting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Connecting is enough (the sink does not greet).
    Connect,
    /// Any reply line.
    AnyReply,
    /// A reply with this code.
    Code(u16),
}

/// A running smtp-sink; killed on drop.
pub struct SmtpSink {
    child: Child,
    addr: SocketAddr,
    hostname: String,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Run `smtp-sink [-u nobody] -h HOSTNAME ARGS... ADDR 64`. In `args`,
    /// `{dir}` stands for [`SmtpSink::capture_dir`] (writable by nobody),
    /// as in `["-d", "{dir}/%M."]`. Readiness: a TCP connect, plus a first
    /// reply unless `args` hold `-W CONNECT:...` or `-q CONNECT`.
    pub fn start(addr: SocketAddr, hostname: &str, args: &[&str]) -> SmtpSink {
        let expect = if greeting_suppressed(args) {
            Expect::Connect
        } else {
            Expect::AnyReply
        };
        Self::start_expecting(addr, hostname, args, expect)
    }

    /// `421 4.0.0 Server closing connection` as the greeting, then the
    /// connection is closed (`-Q CONNECT`).
    pub fn greet_421(addr: SocketAddr, hostname: &str) -> SmtpSink {
        Self::start_expecting(addr, hostname, &["-Q", "CONNECT"], Expect::Code(421))
    }

    /// `450 4.3.0 Error: command failed` as the greeting; the connection
    /// stays open (`-r CONNECT`).
    pub fn greet_450(addr: SocketAddr, hostname: &str) -> SmtpSink {
        Self::start_expecting(addr, hostname, &["-r", "CONNECT"], Expect::Code(450))
    }

    /// Accepts connections and never greets (`-W CONNECT:600`).
    pub fn silent(addr: SocketAddr, hostname: &str) -> SmtpSink {
        Self::start_expecting(addr, hostname, &["-W", "CONNECT:600"], Expect::Connect)
    }

    /// Greets 220, accepts MAIL, answers every RCPT with `500 5.3.0 Error:
    /// command failed` (`-f RCPT`).
    pub fn reject_rcpt(addr: SocketAddr, hostname: &str) -> SmtpSink {
        Self::start_expecting(addr, hostname, &["-f", "RCPT"], Expect::Code(220))
    }

    /// Accepts every message and writes each into
    /// [`SmtpSink::capture_dir`] (`-d DIR/%M.`); read them with
    /// [`SmtpSink::messages`].
    pub fn capture(addr: SocketAddr, hostname: &str) -> SmtpSink {
        Self::start_expecting(addr, hostname, &["-d", "{dir}/%M."], Expect::Code(220))
    }

    fn start_expecting(
        addr: SocketAddr,
        hostname: &str,
        args: &[&str],
        expect: Expect,
    ) -> SmtpSink {
        sys::assert_loopback_v4("smtp_sink", addr);
        assert!(
            !hostname.is_empty() && !hostname.contains(char::is_whitespace),
            "testbed::smtp_sink: bad host name {hostname:?}"
        );
        let sink = sink_path();
        if let Err(e) = sys::tcp_bindable(addr) {
            panic!("testbed::smtp_sink: cannot listen on {addr}: {e} (another server there?)");
        }
        let dir = tempfile::Builder::new()
            .prefix("mxkit-smtp-sink-")
            .tempdir()
            .unwrap_or_else(|e| {
                panic!("testbed::smtp_sink: cannot create a temporary folder: {e}")
            });
        let capture = dir.path().join("mail");
        fs::create_dir(&capture)
            .and_then(|()| {
                fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
                // smtp-sink writes as nobody.
                fs::set_permissions(&capture, fs::Permissions::from_mode(0o777))
            })
            .unwrap_or_else(|e| {
                panic!(
                    "testbed::smtp_sink: cannot create {}: {e}",
                    capture.display()
                )
            });
        let log_path = dir.path().join("smtp-sink.log");
        let log = fs::File::create(&log_path).unwrap_or_else(|e| {
            panic!(
                "testbed::smtp_sink: cannot create {}: {e}",
                log_path.display()
            )
        });
        let log2 = log
            .try_clone()
            .unwrap_or_else(|e| panic!("testbed::smtp_sink: cannot dup the log: {e}"));

        let capture_s = capture.display().to_string();
        let mut cmd = Command::new(&sink);
        if sys::is_root() {
            cmd.args(["-u", "nobody"]);
        }
        cmd.args(["-h", hostname])
            .args(args.iter().map(|a| a.replace("{dir}", &capture_s)))
            .arg(addr.to_string())
            .arg(BACKLOG)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("testbed::smtp_sink: cannot run {}: {e}", sink.display()));
        let mut s = SmtpSink {
            child,
            addr,
            hostname: hostname.to_string(),
            dir,
        };
        if let Err(why) = s.wait_ready(expect) {
            let log = s.log();
            drop(s);
            panic!(
                "testbed::smtp_sink: smtp-sink {} on {addr} not ready: {why}\n\
                 --- smtp-sink output ---\n{log}",
                args.join(" ")
            );
        }
        s
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The name it greets with (`-h`).
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The temporary folder (log, `mail/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where `-d {dir}/...` writes messages (mode 777).
    pub fn capture_dir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// The captured transactions (oldest first), each as smtp-sink writes
    /// it: `X-Client-Addr`, `X-Mail-Args`, `X-Rcpt-Args`, `Received`, then
    /// the message.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<(SystemTime, PathBuf)> = Vec::new();
        collect_files(&self.capture_dir(), &mut files);
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, p)| fs::read(&p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    }

    /// Poll until at least `n` transactions were captured; panics after
    /// `timeout`.
    pub fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<String> {
        let mut got = Vec::new();
        if sys::poll_until(timeout, || {
            got = self.messages();
            got.len() >= n
        }) {
            return got;
        }
        panic!(
            "testbed::smtp_sink: {} message(s) captured on {} after {timeout:?}, expected {n}\n\
             --- smtp-sink output ---\n{}",
            got.len(),
            self.addr,
            self.log()
        );
    }

    /// smtp-sink's output so far (errors; with `-v`, the conversations).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("smtp-sink.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self, expect: Expect) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("smtp-sink exited ({status})"));
            }
            let last = match self.probe(expect) {
                Ok(()) => return Ok(()),
                Err((true, why)) => return Err(why),
                Err((false, why)) => why,
            };
            if Instant::now() >= deadline {
                return Err(format!("nothing after {READY_TIMEOUT:?} (last: {last})"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Err((fatal, why)).
    fn probe(&self, expect: Expect) -> Result<(), (bool, String)> {
        let mut c = SmtpClient::connect(self.addr, Duration::from_millis(500))
            .map_err(|e| (false, format!("connect: {e}")))?;
        if expect == Expect::Connect {
            return Ok(());
        }
        c.stream()
            .set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(|e| (false, format!("set_read_timeout: {e}")))?;
        let reply = c
            .read_reply()
            .map_err(|e| (false, format!("greeting: {e}")))?;
        let _ = c.command("QUIT");
        match expect {
            Expect::Code(code) if reply.code != code => {
                Err((true, format!("expected a {code} greeting, got {reply}")))
            }
            _ => Ok(()),
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the flags keep smtp-sink from sending a greeting (`-W CONNECT:..`
/// delays it, `-q CONNECT` hangs up without one).
fn greeting_suppressed(args: &[&str]) -> bool {
    args.windows(2).any(|w| {
        (w[0] == "-W" || w[0] == "-q")
            && w[1]
                .split([',', ' '])
                .any(|c| c.to_ascii_uppercase().starts_with("CONNECT"))
    })
}

/// smtp-sink from PATH or /usr/sbin; panics with how to install it.
fn sink_path() -> PathBuf {
    sys::find_program("smtp-sink", &["/usr/sbin/smtp-sink"]).unwrap_or_else(|| {
        panic!("smtp-sink not found: install Debian's package postfix (scripts/test does this)")
    })
}

fn collect_files(dir: &Path, out: &mut Vec<(SystemTime, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        match e.file_type() {
            Ok(t) if t.is_dir() => collect_files(&e.path(), out),
            Ok(_) => {
                let t = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                out.push((t, e.path()));
            }
            Err(_) => {}
        }
    }
}

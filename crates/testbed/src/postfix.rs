//! Real Postfix MX servers for tests: one private Postfix instance (its own
//! configuration, queue, data folder, log and Maildir in a temporary folder)
//! whose master.cf has one `smtpd` service per [`PostfixInstance`], each on
//! its own loopback address with its own host name, certificate and mode
//! (docs/design.md, "Tests and the test bed").
//!
//! [`Postfix::start`] writes `main.cf`/`master.cf`, runs `postfix -c DIR
//! start` and returns once every service greets (`220 HOSTNAME ESMTP test`,
//! or `421` for a [`PostfixInstance::temp_fail`] service). It never skips: a
//! missing Postfix, a rejected configuration or a server that does not greet
//! within [`READY_TIMEOUT`] is a panic that shows Postfix's log. Dropping the
//! [`Postfix`] runs `postfix -c DIR stop`, kills what is left of that
//! instance's process group and removes the folder.
//!
//! Every message accepted for one of the virtual mailbox domains (default
//! [`DEFAULT_DOMAINS`]) lands in one catch-all Maildir ([`Postfix::maildir`],
//! owned by uid/gid [`VMAIL_ID`]). Nothing is ever relayed: other domains are
//! refused at RCPT (`554 5.7.1 Relay access denied`), and the default and
//! relay transports are `error:`, so no traffic leaves the machine (bounces
//! included). There is no DNS either (`smtpd_peername_lookup = no`: clients
//! show as `unknown[127.0.0.1]`).
//!
//! Several instances can run at once (tests run in parallel) as long as
//! their addresses differ. Needs root (Postfix's master binds port 25 and
//! switches users), like the rest of the SMTP test bed. When an address is
//! taken and the system Postfix (Debian's default instance, which listens on
//! `*:25` after the package is installed) runs, start stops it with `postfix
//! stop`; any other holder is a panic showing `ss -ltnp`.
//!
//! Keep a [`Postfix`] in a test's scope, not in a `static`: statics are
//! never dropped, so the instance would outlive the test process and hold
//! its addresses for the next run.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::smtp_client::SmtpClient;
use crate::sys;

/// How long the services get to greet after `postfix start`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long `postfix stop` gets before the leftovers are killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The uid and gid owning the Maildir (`virtual_uid_maps = static:5000`);
/// it needs no entry in /etc/passwd.
pub const VMAIL_ID: u32 = 5000;

/// The virtual mailbox domains of [`Postfix::start`].
pub const DEFAULT_DOMAINS: &[&str] = &["example.test"];

/// The Maildir's name under `virtual_mailbox_base`.
const MAILBOX: &str = "catchall";

/// One smtpd service of the instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostfixInstance {
    /// Where it listens, such as 127.0.0.2:25 (any 127.0.0.0/8 address;
    /// need not be configured on `lo`).
    pub addr: SocketAddr,
    /// Its name in the greeting and the EHLO reply (`myhostname`).
    pub hostname: String,
    /// Certificate and key (PEM files, such as [`crate::certs::TestCa::leaf`]
    /// gives): STARTTLS offered (`smtpd_tls_security_level = may`). `None`:
    /// no STARTTLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Greet with `421 4.3.2 <unknown[127.0.0.1]>: Client host rejected: Try
    /// again later` and hang up (`smtpd_client_restrictions = defer`,
    /// `defer_code = 421`, `smtpd_delay_reject = no`).
    pub temp_fail: bool,
    /// Put postscreen in front of the smtpd (opt-in; see
    /// [`PostfixInstance::postscreen`]).
    pub postscreen: bool,
}

impl PostfixInstance {
    /// A service accepting mail on `addr` as `hostname`, without TLS.
    pub fn new(addr: SocketAddr, hostname: &str) -> PostfixInstance {
        PostfixInstance {
            addr,
            hostname: hostname.to_string(),
            tls: None,
            temp_fail: false,
            postscreen: false,
        }
    }

    /// Offer STARTTLS with this (certificate, key) pair of PEM files.
    pub fn tls(mut self, (cert, key): (PathBuf, PathBuf)) -> PostfixInstance {
        self.tls = Some((cert, key));
        self
    }

    /// Turn the service into a temp-failing MX (421 greeting, then close).
    pub fn temp_fail(mut self) -> PostfixInstance {
        self.temp_fail = true;
        self
    }

    /// Listen with postscreen, which hands clients that pass its tests to
    /// this service's smtpd (a `pass` service of its own, as in Debian's
    /// commented-out master.cf lines; `dnsblog` and `tlsproxy` are added).
    /// postscreen logs `CONNECT from [C]:P to [ADDR]:25`, `PASS NEW`,
    /// `PREGREET`... The readiness probe connects from 127.0.0.1, which
    /// the default `postscreen_access_list = permit_mynetworks` allowlists
    /// (`mynetworks = 127.0.0.0/8`); to test other loopback clients, narrow
    /// `mynetworks` (such as `127.0.0.1/32`) and shorten
    /// `postscreen_greet_wait` (default 6 s) with [`Postfix::start_with`].
    pub fn postscreen(mut self) -> PostfixInstance {
        self.postscreen = true;
        self
    }
}

/// A running private Postfix instance; stopped on drop.
pub struct Postfix {
    dir: tempfile::TempDir,
    postfix: PathBuf,
    instances: Vec<PostfixInstance>,
    master_pid: Option<u32>,
}

impl Postfix {
    /// Start one instance with a service per entry of `instances`, mail for
    /// [`DEFAULT_DOMAINS`] going to the Maildir.
    pub fn start(instances: &[PostfixInstance]) -> Postfix {
        Self::start_with(instances, DEFAULT_DOMAINS, &[])
    }

    /// Like [`Postfix::start`], with the virtual mailbox `domains` and extra
    /// `main.cf` settings (name, value), written after the bed's own (so
    /// they win), such as `("smtpd_timeout", "10s")`.
    pub fn start_with(
        instances: &[PostfixInstance],
        domains: &[&str],
        main_cf: &[(&str, &str)],
    ) -> Postfix {
        Self::start_resolving(instances, domains, main_cf, None)
    }

    /// Like [`Postfix::start_with`]; with `resolv_conf`, the master (and so
    /// every daemon, the SMTP client among them) runs in a mount namespace
    /// of its own where that file is bind-mounted over `/etc/resolv.conf`:
    /// a sending instance then resolves through the test bed's resolver
    /// (on port 53 of a loopback address: resolv.conf has no port), and
    /// the host's own file is left alone.
    pub fn start_resolving(
        instances: &[PostfixInstance],
        domains: &[&str],
        main_cf: &[(&str, &str)],
        resolv_conf: Option<&Path>,
    ) -> Postfix {
        let postfix = postfix_path();
        assert!(
            sys::is_root(),
            "testbed::postfix: a private Postfix instance needs root (its master binds the \
             ports and switches users); run the tests as root"
        );
        assert!(
            !instances.is_empty(),
            "testbed::postfix: give at least one instance"
        );
        for (i, inst) in instances.iter().enumerate() {
            sys::assert_loopback_v4("postfix", inst.addr);
            assert!(
                !inst.hostname.is_empty() && !inst.hostname.contains(char::is_whitespace),
                "testbed::postfix: bad host name {:?}",
                inst.hostname
            );
            assert!(
                !instances[..i].iter().any(|o| o.addr == inst.addr),
                "testbed::postfix: {} given twice",
                inst.addr
            );
        }
        assert!(
            !domains.is_empty(),
            "testbed::postfix: give at least one virtual mailbox domain"
        );
        make_room(&postfix, instances);

        let dir = tempfile::Builder::new()
            .prefix("mxkit-postfix-")
            .tempdir()
            .unwrap_or_else(|e| panic!("testbed::postfix: cannot create a temporary folder: {e}"));
        assert!(
            !dir.path().to_string_lossy().contains(char::is_whitespace),
            "testbed::postfix: the temporary folder {} has white space in its path, which \
             master.cf cannot carry (set TMPDIR)",
            dir.path().display()
        );
        write_files(dir.path(), instances, domains, main_cf);

        let mut pf = Postfix {
            dir,
            postfix,
            instances: instances.to_vec(),
            master_pid: None,
        };
        let out = match resolv_conf {
            None => pf.postfix_cmd(&["start"]),
            Some(conf) => pf.start_in_namespace(conf),
        };
        pf.master_pid = pf.read_master_pid();
        if !out.status.success() {
            let why = format!(
                "`postfix -c {} start` failed ({})\n{}",
                pf.config_dir().display(),
                out.status,
                pf.diagnostics(Some(&out))
            );
            drop(pf);
            panic!("testbed::postfix: {why}");
        }
        if let Err(why) = pf.wait_ready() {
            let why = format!("{why}\n{}", pf.diagnostics(None));
            drop(pf);
            panic!("testbed::postfix: {why}");
        }
        pf
    }

    /// Where service `i` (the index in the `instances` given) listens.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.instances[i].addr
    }

    /// The services, as given.
    pub fn instances(&self) -> &[PostfixInstance] {
        &self.instances
    }

    /// The temporary folder (etc/, queue/, data/, mail/, tls/, maillog).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The instance's configuration directory (`postfix -c` / `postconf -c`).
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    /// The catch-all Maildir (holding `new/`, `cur/`, `tmp/`).
    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail").join(MAILBOX)
    }

    /// The delivered messages (the files in `new/`, oldest first), as
    /// Postfix wrote them (with its Return-Path, Delivered-To and Received
    /// headers).
    pub fn messages(&self) -> Vec<String> {
        let new = self.maildir().join("new");
        let mut files: Vec<(SystemTime, PathBuf)> = match fs::read_dir(&new) {
            Ok(entries) => entries
                .flatten()
                .map(|e| {
                    let t = e
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(SystemTime::UNIX_EPOCH);
                    (t, e.path())
                })
                .collect(),
            Err(e) => panic!("testbed::postfix: cannot read {}: {e}", new.display()),
        };
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, p)| fs::read(&p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    }

    /// Poll until at least `n` messages were delivered; returns them all.
    /// Panics with the log when fewer arrived within `timeout`.
    pub fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            if Instant::now() >= deadline {
                panic!(
                    "testbed::postfix: {} message(s) delivered after {timeout:?}, expected {n} \
                     ({} still queued)\n--- maillog ---\n{}",
                    messages.len(),
                    self.queue_len(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How many messages are in the queue (maildrop, incoming, active,
    /// deferred, hold), not yet delivered or bounced.
    pub fn queue_len(&self) -> usize {
        let queue = self.dir.path().join("queue");
        ["maildrop", "incoming", "active", "deferred", "hold"]
            .iter()
            .map(|q| count_files(&queue.join(q)))
            .sum()
    }

    /// Poll until the queue is empty (every accepted message delivered or
    /// bounced); panics with the log after `timeout`.
    pub fn wait_queue_empty(&self, timeout: Duration) {
        if !sys::poll_until(timeout, || self.queue_len() == 0) {
            panic!(
                "testbed::postfix: {} message(s) still queued after {timeout:?}\n\
                 --- maillog ---\n{}",
                self.queue_len(),
                self.log()
            );
        }
    }

    /// The instance's log so far (`maillog_file`).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// Poll until the log contains `needle`; returns the log. Panics with
    /// the log after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let mut log = String::new();
        if sys::poll_until(timeout, || {
            log = self.log();
            log.contains(needle)
        }) {
            return log;
        }
        panic!(
            "testbed::postfix: {needle:?} not logged within {timeout:?}\n--- maillog ---\n{log}"
        );
    }

    /// Run `postconf -c CONFIG_DIR ARGS...` and return its standard output
    /// (such as `postconf -n` for the settings in effect).
    pub fn postconf(&self, args: &[&str]) -> String {
        let postconf = sys::find_program("postconf", &["/usr/sbin/postconf"])
            .unwrap_or_else(|| panic!("testbed::postfix: postconf not found"));
        let out = Command::new(postconf)
            .arg("-c")
            .arg(self.config_dir())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("testbed::postfix: cannot run postconf: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn postfix_cmd(&self, args: &[&str]) -> Output {
        Command::new(&self.postfix)
            .arg("-c")
            .arg(self.config_dir())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "testbed::postfix: cannot run {}: {e}",
                    self.postfix.display()
                )
            })
    }

    /// `postfix start` in a new mount namespace with `conf` over
    /// /etc/resolv.conf (`unshare --mount`, private propagation, so the
    /// bind mount stays inside).
    fn start_in_namespace(&self, conf: &Path) -> Output {
        let unshare = sys::find_program("unshare", &["/usr/bin/unshare"]).unwrap_or_else(|| {
            panic!("testbed::postfix: unshare not found (Debian's util-linux has it)")
        });
        Command::new(unshare)
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg("mount --bind \"$1\" /etc/resolv.conf && exec \"$2\" -c \"$3\" start")
            .arg("sh")
            .arg(conf)
            .arg(&self.postfix)
            .arg(self.config_dir())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("testbed::postfix: cannot run unshare: {e}"))
    }

    fn read_master_pid(&self) -> Option<u32> {
        fs::read_to_string(self.dir.path().join("queue/pid/master.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Poll every service until it greets as expected.
    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        for inst in &self.instances {
            loop {
                let last = match probe(inst) {
                    Ok(()) => break,
                    Err(Probe::Wrong(why)) => {
                        return Err(format!("{} ({}): {why}", inst.addr, inst.hostname));
                    }
                    Err(Probe::NotYet(why)) => why,
                };
                if Instant::now() >= deadline {
                    return Err(format!(
                        "{} ({}) did not greet within {READY_TIMEOUT:?} (last: {last})",
                        inst.addr, inst.hostname
                    ));
                }
                if let Some(pid) = self.master_pid
                    && !sys::pid_alive(pid)
                {
                    return Err(format!("the master process ({pid}) exited"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// The log, plus the command's output and `postfix check` run under
    /// `script` (Postfix commands print to a terminal only; without one
    /// their complaints go to syslog).
    fn diagnostics(&self, out: Option<&Output>) -> String {
        let mut s = String::new();
        if let Some(out) = out {
            s.push_str(&format!(
                "--- stdout ---\n{}--- stderr ---\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let check = format!(
            "{} -c {} check",
            self.postfix.display(),
            self.config_dir().display()
        );
        if let Ok(out) = Command::new("script")
            .args(["-qc", &check, "/dev/null"])
            .stdin(Stdio::null())
            .output()
        {
            s.push_str(&format!(
                "--- {check} ---\n{}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        s.push_str(&format!("--- maillog ---\n{}", self.log()));
        s
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let pid = self.master_pid.or_else(|| self.read_master_pid());
        let _ = Command::new(&self.postfix)
            .arg("-c")
            .arg(self.config_dir())
            .arg("stop")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(pid) = pid {
            // The master is its own process group leader (setsid); its
            // children stay in that group. Kill whatever outlives the stop.
            let gone = sys::poll_until(STOP_TIMEOUT, || sys::process_group_members(pid).is_empty());
            if !gone {
                sys::kill_process_group(pid);
                sys::poll_until(Duration::from_secs(2), || {
                    sys::process_group_members(pid).is_empty()
                });
            }
        }
    }
}

enum Probe {
    /// Not listening or not greeting yet.
    NotYet(String),
    /// Something answers, but not as this service should.
    Wrong(String),
}

fn probe(inst: &PostfixInstance) -> Result<(), Probe> {
    let mut c = SmtpClient::connect(inst.addr, Duration::from_millis(500))
        .map_err(|e| Probe::NotYet(format!("connect: {e}")))?;
    let greeting = c
        .read_reply()
        .map_err(|e| Probe::NotYet(format!("greeting: {e}")))?;
    let ok = if inst.temp_fail {
        greeting.code == 421
    } else {
        greeting.code == 220
            && greeting
                .lines
                .first()
                .is_some_and(|l| l.split_whitespace().next() == Some(inst.hostname.as_str()))
    };
    let _ = c.command("QUIT");
    if ok {
        Ok(())
    } else {
        Err(Probe::Wrong(format!("unexpected greeting: {greeting}")))
    }
}

/// Serializes stopping the system instance between tests of one process.
static SYSTEM_STOP: Mutex<()> = Mutex::new(());

/// Make sure every address can be bound. When one is taken and the system
/// Postfix (Debian's default instance, `/etc/postfix`, usually on `*:25`)
/// runs, stop it; anything else holding an address is a panic.
fn make_room(postfix: &Path, instances: &[PostfixInstance]) {
    let busy = |inst: &&PostfixInstance| {
        sys::tcp_bindable(inst.addr).is_err_and(|e| e.kind() == io::ErrorKind::AddrInUse)
    };
    if !instances.iter().any(|i| busy(&i)) {
        return;
    }
    let stopped = {
        let _guard = SYSTEM_STOP
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let running = Command::new(postfix)
            .arg("status")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if running {
            eprintln!("testbed::postfix: stopping the system Postfix (it holds port 25)");
            let _ = Command::new(postfix)
                .arg("stop")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        running
    };
    let mut last = None;
    // After stopping the system instance, give its processes time to go.
    let wait = if stopped {
        STOP_TIMEOUT
    } else {
        Duration::ZERO
    };
    let freed = sys::poll_until(wait, || {
        last = instances.iter().find(|i| busy(i)).map(|i| i.addr);
        last.is_none()
    });
    if !freed {
        let who = Command::new("ss")
            .args(["-ltnp"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        panic!(
            "testbed::postfix: {} is in use by another server (another test on the same \
             address?)\n--- ss -ltnp ---\n{who}",
            last.map(|a| a.to_string()).unwrap_or_default()
        );
    }
}

/// Postfix from PATH or /usr/sbin; panics with how to install it.
fn postfix_path() -> PathBuf {
    sys::find_program("postfix", &["/usr/sbin/postfix"]).unwrap_or_else(|| {
        panic!("postfix not found: install Debian's package postfix (scripts/test does this)")
    })
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}

fn mkdir(path: &Path, mode: u32) {
    fs::create_dir_all(path)
        .and_then(|()| fs::set_permissions(path, fs::Permissions::from_mode(mode)))
        .unwrap_or_else(|e| panic!("testbed::postfix: cannot create {}: {e}", path.display()));
}

/// Write a configuration file dated [`CONFIG_AGE`] in the past: Postfix
/// does not trust a table or main.cf modified within the last second or
/// so, and rereads it every 300 ms until it is older, which would cost
/// each start about two seconds.
fn write(path: &Path, text: &str) {
    fs::write(path, text)
        .and_then(|()| {
            let then = SystemTime::now() - CONFIG_AGE;
            fs::File::options()
                .write(true)
                .open(path)?
                .set_modified(then)
        })
        .unwrap_or_else(|e| panic!("testbed::postfix: cannot write {}: {e}", path.display()));
}

/// How old the written configuration files look (see [`write`]).
const CONFIG_AGE: Duration = Duration::from_secs(60);

fn copy(from: &Path, to: &Path, mode: u32) {
    fs::copy(from, to)
        .and_then(|_| fs::set_permissions(to, fs::Permissions::from_mode(mode)))
        .unwrap_or_else(|e| {
            panic!(
                "testbed::postfix: cannot copy {} to {}: {e}",
                from.display(),
                to.display()
            )
        });
}

/// The instance's folder: etc/ (main.cf, master.cf, vmailbox), tls/,
/// queue/ (Postfix fills it), mail/catchall/ (the Maildir), maillog.
fn write_files(
    dir: &Path,
    instances: &[PostfixInstance],
    domains: &[&str],
    extra: &[(&str, &str)],
) {
    // Postfix's unprivileged daemons (user postfix) must traverse it.
    mkdir(dir, 0o755);
    let etc = dir.join("etc");
    mkdir(&etc, 0o755);
    mkdir(&dir.join("queue"), 0o755);
    let tls = dir.join("tls");
    mkdir(&tls, 0o755);
    let mail = dir.join("mail");
    for sub in ["new", "cur", "tmp"] {
        mkdir(&mail.join(MAILBOX).join(sub), 0o700);
    }
    for p in [
        mail.clone(),
        mail.join(MAILBOX),
        mail.join(MAILBOX).join("new"),
        mail.join(MAILBOX).join("cur"),
        mail.join(MAILBOX).join("tmp"),
    ] {
        chown(&p, Some(VMAIL_ID), Some(VMAIL_ID))
            .unwrap_or_else(|e| panic!("testbed::postfix: cannot chown {}: {e}", p.display()));
    }
    fs::set_permissions(&mail, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("testbed::postfix: cannot chmod {}: {e}", mail.display()));

    let d = dir.display();
    let main = format!(
        "# Written by testbed::postfix (docs/design.md, the test bed).\n\
         compatibility_level = 3.6\n\
         queue_directory = {d}/queue\n\
         data_directory = {d}/data\n\
         maillog_file = {d}/maillog\n\
         maillog_file_prefixes = /var, /dev/stdout, {d}\n\
         myhostname = {host}\n\
         mydomain = {domain}\n\
         myorigin = $myhostname\n\
         inet_interfaces = all\n\
         inet_protocols = ipv4\n\
         mydestination =\n\
         relay_domains =\n\
         relayhost =\n\
         alias_maps =\n\
         alias_database =\n\
         mynetworks = 127.0.0.0/8\n\
         smtpd_relay_restrictions = reject_unauth_destination\n\
         default_transport = error:mxkit test bed: no relaying\n\
         relay_transport = error:mxkit test bed: no relaying\n\
         virtual_mailbox_domains = {domains}\n\
         virtual_mailbox_base = {d}/mail\n\
         virtual_mailbox_maps = regexp:{d}/etc/vmailbox\n\
         virtual_uid_maps = static:{VMAIL_ID}\n\
         virtual_gid_maps = static:{VMAIL_ID}\n\
         smtpd_peername_lookup = no\n\
         smtpd_banner = $myhostname ESMTP test\n\
         smtpd_error_sleep_time = 0\n\
         smtpd_tls_security_level = none\n\
         smtpd_tls_loglevel = 1\n\
         smtpd_tls_received_header = yes\n\
         biff = no\n\
         append_dot_mydomain = no\n",
        host = instances[0].hostname,
        domain = domains[0],
        domains = domains.join(", "),
    );
    write(&etc.join("main.cf"), &with_overrides(&main, extra));
    write(&etc.join("vmailbox"), &format!("/.*/ {MAILBOX}/\n"));

    let mut master = String::from(
        "# Written by testbed::postfix: one smtpd per test MX, host-qualified\n\
         # (inet_interfaces = all), nothing chrooted.\n",
    );
    for (i, inst) in instances.iter().enumerate() {
        if inst.postscreen {
            master.push_str(&format!(
                "{addr} inet n - n - 1 postscreen\n  -o myhostname={host}\n  \
                 -o smtpd_service_name=smtpd{i}\nsmtpd{i} pass - - n - - smtpd\n  \
                 -o myhostname={host}\n",
                addr = inst.addr,
                host = inst.hostname
            ));
        } else {
            master.push_str(&format!(
                "{addr} inet n - n - - smtpd\n  -o myhostname={host}\n",
                addr = inst.addr,
                host = inst.hostname
            ));
        }
        if let Some((cert, key)) = &inst.tls {
            let c = tls.join(format!("{i}.crt.pem"));
            let k = tls.join(format!("{i}.key.pem"));
            copy(cert, &c, 0o644);
            copy(key, &k, 0o600);
            master.push_str(&format!(
                "  -o smtpd_tls_security_level=may\n  -o smtpd_tls_cert_file={}\n  \
                 -o smtpd_tls_key_file={}\n",
                c.display(),
                k.display()
            ));
        }
        if inst.temp_fail {
            master.push_str(
                "  -o smtpd_delay_reject=no\n  -o smtpd_client_restrictions=defer\n  \
                 -o defer_code=421\n",
            );
        }
    }
    if instances.iter().any(|i| i.postscreen) {
        master.push_str(
            "dnsblog    unix  -       -       n       -       0       dnsblog\n\
             tlsproxy   unix  -       -       n       -       0       tlsproxy\n",
        );
    }
    master.push_str(MASTER_CF_SERVICES);
    write(&etc.join("master.cf"), &master);
}

/// `main` with each (name, value) of `extra` replacing the line that sets
/// `name`, or appended (Postfix warns about a name set twice).
fn with_overrides(main: &str, extra: &[(&str, &str)]) -> String {
    let mut lines: Vec<String> = main.lines().map(str::to_string).collect();
    for (name, value) in extra {
        let line = format!("{name} = {value}");
        match lines
            .iter()
            .position(|l| l.split('=').next().map(str::trim) == Some(name))
        {
            Some(i) => lines[i] = line,
            None => lines.push(line),
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The internal services (Debian's master.cf without the network listener
/// and the pipe transports), chroot off.
const MASTER_CF_SERVICES: &str = "\
pickup     unix  n       -       n       60      1       pickup
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
tlsmgr     unix  -       -       n       1000?   1       tlsmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
flush      unix  n       -       n       1000?   0       flush
proxymap   unix  -       -       n       -       -       proxymap
proxywrite unix  -       -       n       -       1       proxymap
smtp       unix  -       -       n       -       -       smtp
relay      unix  -       -       n       -       -       smtp
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
local      unix  -       n       n       -       -       local
virtual    unix  -       n       n       -       -       virtual
lmtp       unix  -       -       n       -       -       lmtp
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
";

#[cfg(test)]
mod tests {
    use super::with_overrides;

    #[test]
    fn overrides_replace_in_place_or_append() {
        let main = "# c\na = 1\nsmtpd_timeout = 300s\n";
        let out = with_overrides(main, &[("smtpd_timeout", "10s"), ("b", "2")]);
        assert_eq!(out, "# c\na = 1\nsmtpd_timeout = 10s\nb = 2\n");
    }
}

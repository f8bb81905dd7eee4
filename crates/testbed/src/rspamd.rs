//! A real rspamd for tests: one normal worker on a loopback address,
//! configured from scratch in a temporary folder, with only the modules the
//! test configures.
//!
//! [`Rspamd::start_on`] writes `rspamd.conf` (the caller's module sections,
//! e.g. a `multimap { ... }`), starts `rspamd -f` in a process group of its
//! own on a free port, and returns once the worker answers `GET /ping`. The
//! configuration keeps everything on the machine: no `$CONFDIR` defaults
//! (they fetch HTTP maps), DNS pointed at a loopback port where nothing
//! answers, hyperscan off (no compile step), and file maps checked every
//! second so a test can watch a map being replaced. It never skips: a
//! missing rspamd, a rejected configuration or a worker that does not answer
//! within [`READY_TIMEOUT`] is a panic that shows rspamd's log. Dropping the
//! [`Rspamd`] kills its process group (main process and workers).

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::sys::{self, StartFailure as Failure, find_program};

/// How long rspamd gets to load its configuration and answer. It compiles
/// its 9,628 TLD suffixes and language trigrams at every start: 3 s on an
/// idle machine, over 30 s seen on a loaded 2-core one. A deadline, not a
/// wait: a healthy start returns as soon as it answers.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);

const START_TRIES: usize = 5;

/// A running rspamd; its process group is killed on drop.
pub struct Rspamd {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    rspamc: PathBuf,
}

impl Rspamd {
    /// Start rspamd on `ip` (a loopback address) and a free port with the
    /// module sections `modules` (UCL text, e.g. `multimap { ... }`).
    pub fn start_on(ip: IpAddr, modules: &str) -> Rspamd {
        assert!(
            ip.is_loopback(),
            "testbed::rspamd: {ip} is not a loopback address"
        );
        let program = find_program("rspamd", &["/usr/bin/rspamd"]).unwrap_or_else(|| {
            panic!("rspamd not found: install Debian's package rspamd (apt-get install rspamd)")
        });
        let rspamc = find_program("rspamc", &["/usr/bin/rspamc"]).unwrap_or_else(|| {
            panic!("rspamc not found: install Debian's package rspamd (apt-get install rspamd)")
        });
        sys::start_retrying(&format!("testbed::rspamd ({ip})"), START_TRIES, || {
            let addr = SocketAddr::new(ip, sys::free_tcp_port(ip));
            let dir = tempfile::Builder::new()
                .prefix("mxkit-rspamd-")
                .tempdir()
                .unwrap_or_else(|e| panic!("testbed::rspamd: cannot create a folder: {e}"));
            write_config(dir.path(), addr, modules);
            let out = fs::File::create(dir.path().join("stdout.log"))
                .unwrap_or_else(|e| panic!("testbed::rspamd: cannot create a log: {e}"));
            let err = out
                .try_clone()
                .unwrap_or_else(|e| panic!("testbed::rspamd: cannot share the log: {e}"));
            let d = dir.path().display();
            let mut cmd = Command::new(&program);
            cmd.arg("-f")
                .arg("-c")
                .arg(dir.path().join("rspamd.conf"))
                .arg("--var")
                .arg(format!("DBDIR={d}"))
                .arg("--var")
                .arg(format!("RUNDIR={d}"))
                .arg("--var")
                .arg(format!("LOGDIR={d}"))
                .arg("--var")
                .arg(format!("LOCAL_CONFDIR={d}"));
            if sys::is_root() {
                // Workers refuse to run as root unless told it is a test.
                cmd.args(["-i", "-u", "root", "-g", "root"]);
            }
            #[cfg(unix)]
            {
                use std::os::unix::process::CommandExt;
                cmd.process_group(0);
            }
            let child = cmd
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("testbed::rspamd: cannot run {}: {e}", program.display())
                });
            let mut server = Rspamd {
                child,
                addr,
                dir,
                rspamc: rspamc.clone(),
            };
            // On failure the server is dropped (stopped) before the next try.
            server
                .wait_ready()
                .map(|()| server)
                .map_err(|f| f.explain(|why| format!("rspamd did not start on {addr}: {why}")))
        })
    }

    /// Where the normal worker listens (HTTP, the rspamc protocol).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The temporary folder (configuration and logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// rspamd's log and standard output so far.
    pub fn log(&self) -> String {
        let read = |n: &str| fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        format!("{}{}", read("stdout.log"), read("rspamd.log"))
    }

    /// Scan `message` as if it came from `client_ip`:
    /// `rspamc -h ADDR --ip CLIENT symbols`; returns rspamc's output.
    pub fn symbols(&self, client_ip: &str, message: &[u8]) -> String {
        let mut child = Command::new(&self.rspamc)
            .arg("-h")
            .arg(self.addr.to_string())
            .arg("--ip")
            .arg(client_ip)
            .arg("symbols")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("testbed::rspamd: cannot run rspamc: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(message)
                .unwrap_or_else(|e| panic!("testbed::rspamd: rspamc stdin: {e}"));
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("testbed::rspamd: rspamc: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && stdout.contains("Action:"),
            "rspamc --ip {client_ip} failed ({}): {stdout}{}\n--- rspamd log ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        stdout
    }

    fn wait_ready(&mut self) -> Result<(), Failure> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = self.log();
                let why = format!("rspamd exited ({status})\n--- rspamd log ---\n{log}");
                return Err(
                    if log.contains("cannot bind") || log.contains("Address already in use") {
                        Failure::Bind(why)
                    } else {
                        Failure::Other(why)
                    },
                );
            }
            let last = match ping(self.addr) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(Failure::Other(format!(
                    "no pong after {READY_TIMEOUT:?} (last: {last})\n--- rspamd log ---\n{}",
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Rspamd {
    fn drop(&mut self) {
        // rspamd leads its own process group (process_group(0)); its
        // workers are in it too.
        let pgid = self.child.id();
        sys::kill_process_group(pgid);
        let _ = self.child.wait();
        sys::poll_until(Duration::from_secs(5), || {
            sys::process_group_members(pgid).is_empty()
        });
    }
}

/// `GET /ping` on the normal worker: Ok when it answers `pong`.
fn ping(addr: SocketAddr) -> Result<(), String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /ping HTTP/1.0\r\n\r\n")
        .map_err(|e| format!("send: {e}"))?;
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    if reply.contains("pong") {
        Ok(())
    } else {
        Err(format!("reply {reply:?}"))
    }
}

fn write_config(dir: &Path, addr: SocketAddr, modules: &str) {
    let d = dir.display();
    // multimap and friends call helpers that rspamd's own rules/rspamd.lua
    // defines; load just those instead of every rule.
    fs::write(dir.join("init.lua"), "require \"global_functions\" ()\n")
        .unwrap_or_else(|e| panic!("testbed::rspamd: cannot write init.lua: {e}"));
    let conf = format!(
        "lua = \"{d}/init.lua\";\n\
         modules {{ path = \"${{PLUGINSDIR}}\"; }}\n\
         options {{\n  pidfile = \"{d}/rspamd.pid\";\n  \
         dns {{ nameserver = [\"127.0.0.1:9\"]; timeout = 1s; retransmits = 1; }}\n  \
         disable_hyperscan = true;\n  map_watch_interval = 1s;\n}}\n\
         logging {{ type = \"file\"; filename = \"{d}/rspamd.log\"; level = \"info\"; }}\n\
         worker \"normal\" {{ bind_socket = \"{addr}\"; count = 1; }}\n\
         {modules}\n"
    );
    fs::write(dir.join("rspamd.conf"), conf)
        .unwrap_or_else(|e| panic!("testbed::rspamd: cannot write rspamd.conf: {e}"));
}

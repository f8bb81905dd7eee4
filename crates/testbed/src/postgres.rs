//! A real PostgreSQL server for tests, from Debian's `postgresql` package:
//! a private cluster in a temporary folder, listening on [`HOST`] at a free
//! port and on a unix socket in that folder.
//!
//! [`Postgres::start`] runs `initdb --auth=trust` (superuser `postgres`, no
//! password), starts `postgres` with durability turned off for speed
//! (`fsync=off`: a test cluster is thrown away) and returns once
//! `pg_isready` says it accepts connections, polled with a deadline
//! ([`READY_TIMEOUT`]). It never skips: missing binaries, a failed initdb or
//! a server that does not come up is a panic that shows the output.
//! [`Postgres::create_database`] gives each test a fresh database on one
//! server; [`shared`] is one server per test process.
//!
//! PostgreSQL refuses to run as root. As root (CI), the cluster folders are
//! owned by the `postgres` system user (created by the package) and initdb
//! and postgres run as that user (`setpriv`, which execs, so the server is
//! the process we started); the temporary folder is made traversable.
//!
//! The server runs under a small watchdog shell whose standard input is a
//! pipe from the test process (its lifeline): when the pipe closes (the
//! [`Postgres`] is dropped, or the test process exits or is killed, which is
//! how a `static` server ends), the watchdog stops the server (immediate
//! shutdown) and removes the folder. The binaries are taken from the newest
//! `/usr/lib/postgresql/VERSION/bin`.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::sys::{self, StartFailure as Failure};

/// The loopback address the test servers listen on.
pub const HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 70, 1);

/// How long a new server gets to accept connections.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the watchdog gets to stop the server on drop before both are
/// killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times a start is retried after the port was taken in between.
const START_TRIES: usize = 5;

/// Where Debian installs the server, one folder per major version.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// The superuser `initdb` creates (trust authentication, no password).
pub const SUPERUSER: &str = "postgres";

/// A running PostgreSQL server; stopped (and its folder removed) on drop.
pub struct Postgres {
    addr: SocketAddr,
    bin: PathBuf,
    dir: tempfile::TempDir,
    server_pid: u32,
    watchdog: Child,
    lifeline: Option<ChildStdin>,
}

/// One server for the whole test process, started on first use. A static
/// is never dropped: the server ends with the process (see the module doc).
pub fn shared() -> &'static Postgres {
    static SHARED: OnceLock<Postgres> = OnceLock::new();
    SHARED.get_or_init(Postgres::start)
}

impl Postgres {
    /// Initialise a cluster in a fresh temporary folder and start it on a
    /// free port of [`HOST`].
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let owner = if sys::is_root() {
            Some(postgres_user())
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("mxkit-pg-")
            .tempdir()
            .unwrap_or_else(|e| panic!("testbed::postgres: cannot create a temporary folder: {e}"));
        // Traversable by the postgres user; the cluster folders are its own.
        set_mode(dir.path(), 0o755);
        let data = dir.path().join("data");
        let run = dir.path().join("run");
        for (path, mode) in [(&data, 0o700), (&run, 0o755)] {
            fs::create_dir(path).unwrap_or_else(|e| {
                panic!("testbed::postgres: cannot create {}: {e}", path.display())
            });
            set_mode(path, mode);
            if let Some((uid, gid)) = owner {
                chown(path, Some(uid), Some(gid)).unwrap_or_else(|e| {
                    panic!("testbed::postgres: cannot chown {}: {e}", path.display())
                });
            }
        }
        initdb(&bin, dir.path(), &data, owner.is_some());

        // The cluster folder stays for every try; each try is its own server.
        let (addr, server_pid, watchdog, lifeline) =
            sys::start_retrying(&format!("testbed::postgres ({HOST})"), START_TRIES, || {
                let addr = SocketAddr::new(IpAddr::V4(HOST), sys::free_tcp_port(IpAddr::V4(HOST)));
                let (mut watchdog, lifeline, server_pid) =
                    spawn_server(&bin, dir.path(), addr, owner.is_some());
                match wait_ready(&bin, dir.path(), addr, server_pid, &mut watchdog) {
                    Ok(()) => Ok((addr, server_pid, watchdog, lifeline)),
                    Err(Failure::Bind(why)) => {
                        // The next try reuses the cluster: the watchdog keeps it.
                        let mut lifeline = lifeline;
                        let _ = lifeline.write_all(b"keep\n");
                        stop(&mut watchdog, Some(lifeline), server_pid);
                        Err(Failure::Bind(why))
                    }
                    Err(Failure::Other(why)) => {
                        stop(&mut watchdog, Some(lifeline), server_pid);
                        Err(Failure::Other(format!(
                            "the server on {addr} did not start: {why}"
                        )))
                    }
                }
            });
        Postgres {
            addr,
            bin,
            dir,
            server_pid,
            watchdog,
            lifeline: Some(lifeline),
        }
    }

    /// Where it listens for TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The folder holding the unix socket (`.s.PGSQL.PORT`).
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// The URL of database `db` over TCP, as the superuser.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@{}:{}/{db}",
            self.addr.ip(),
            self.addr.port()
        )
    }

    /// Create database `name` (letters, digits and `_` only) and return its
    /// URL. Panics when `createdb` fails (the name is taken, for one).
    pub fn create_database(&self, name: &str) -> String {
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "testbed::postgres: database name {name:?} is not [A-Za-z0-9_]+"
        );
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", &self.addr.ip().to_string()])
            .args(["-p", &self.addr.port().to_string()])
            .args(["-U", SUPERUSER, "-w", name])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("testbed::postgres: cannot run createdb: {e}"));
        if !out.status.success() {
            panic!(
                "testbed::postgres: createdb {name} failed ({}): {}{}\n--- server log ---\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log()
            );
        }
        self.url(name)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        stop(&mut self.watchdog, self.lifeline.take(), self.server_pid);
    }
}

/// The newest `/usr/lib/postgresql/VERSION/bin` that has `initdb` and
/// `postgres`; panics with the package to install.
pub fn bin_dir() -> PathBuf {
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(DEBIAN_ROOT)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_str()?.to_string();
                    let version = name
                        .split('.')
                        .map(|p| p.parse::<u32>().ok())
                        .collect::<Option<Vec<u32>>>()?;
                    let bin = e.path().join("bin");
                    let complete = ["initdb", "postgres", "pg_isready", "createdb"]
                        .iter()
                        .all(|p| bin.join(p).is_file());
                    complete.then_some((version, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "PostgreSQL server not found (no {DEBIAN_ROOT}/VERSION/bin/initdb and postgres): \
             install Debian's package postgresql"
        )
    })
}

/// The uid and gid of the `postgres` system user.
fn postgres_user() -> (u32, u32) {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.first() == Some(&SUPERUSER) && f.len() > 3)
                .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
                .flatten()
        })
        .unwrap_or_else(|| {
            panic!(
                "testbed::postgres: running as root needs the system user postgres \
                 (install Debian's package postgresql, which creates it)"
            )
        })
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("testbed::postgres: cannot chmod {}: {e}", path.display()));
}

/// `program`, run as the postgres user when we are root.
fn command(program: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let setpriv = sys::find_program("setpriv", &["/usr/bin/setpriv"]).unwrap_or_else(|| {
            panic!("testbed::postgres: setpriv not found: install Debian's package util-linux")
        });
        let mut c = Command::new(setpriv);
        c.args([
            "--reuid",
            SUPERUSER,
            "--regid",
            SUPERUSER,
            "--init-groups",
            "--",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn initdb(bin: &Path, dir: &Path, data: &Path, as_postgres: bool) {
    let out = command(&bin.join("initdb"), as_postgres)
        .arg("-D")
        .arg(data)
        .args([
            "--auth=trust",
            "--username",
            SUPERUSER,
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("testbed::postgres: cannot run initdb: {e}"));
    if !out.status.success() {
        panic!(
            "testbed::postgres: initdb failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The watchdog script: start the server (`"$@"`) in the background, say its
/// process ID, wait for the lifeline to close, stop the server (SIGQUIT:
/// immediate shutdown), wait for it and remove the folder (`$1`), unless
/// the last word on the lifeline was `keep` (a start retried on another
/// port reuses the cluster).
const WATCHDOG: &str = r#"dir=$1; shift
"$@" >"$dir/postgres.log" 2>&1 </dev/null &
server=$!
echo "$server"
word=
read -r word || true
kill -QUIT "$server" 2>/dev/null
wait "$server"
[ "$word" = keep ] || rm -rf "$dir"
"#;

/// Start the watchdog and through it the server; returns the watchdog, its
/// lifeline and the server's process ID.
fn spawn_server(
    bin: &Path,
    dir: &Path,
    addr: SocketAddr,
    as_postgres: bool,
) -> (Child, ChildStdin, u32) {
    let server = command(&bin.join("postgres"), as_postgres);
    let mut watchdog = Command::new("sh");
    watchdog
        .arg("-c")
        .arg(WATCHDOG)
        .arg("sh")
        .arg(dir)
        .arg(server.get_program())
        .args(server.get_args())
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-h", &addr.ip().to_string()])
        .args(["-p", &addr.port().to_string()])
        .arg("-k")
        .arg(dir.join("run"))
        .args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=32MB",
        ])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Its own process group: a Ctrl-C at the terminal ends the test
        // process, whose closed lifeline then stops the server cleanly.
        .process_group(0);
    let mut child = watchdog
        .spawn()
        .unwrap_or_else(|e| panic!("testbed::postgres: cannot run sh: {e}"));
    let lifeline = child.stdin.take().expect("piped stdin");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("testbed::postgres: no word from the watchdog: {e}"));
    let pid = line.trim().parse().unwrap_or_else(|_| {
        panic!("testbed::postgres: the watchdog did not start the server: {line:?}")
    });
    (child, lifeline, pid)
}

/// Poll `pg_isready` until the server accepts connections, exits or
/// [`READY_TIMEOUT`] passes.
fn wait_ready(
    bin: &Path,
    dir: &Path,
    addr: SocketAddr,
    server_pid: u32,
    watchdog: &mut Child,
) -> Result<(), Failure> {
    let log = || fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if !sys::pid_alive(server_pid) || matches!(watchdog.try_wait(), Ok(Some(_))) {
            let log = log();
            let why = format!("postgres exited\n--- server log ---\n{log}");
            return Err(
                if log.contains("could not bind") || log.contains("Address already in use") {
                    Failure::Bind(why)
                } else {
                    Failure::Other(why)
                },
            );
        }
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-q", "-t", "1", "-U", SUPERUSER, "-d", "postgres"])
            .args(["-h", &addr.ip().to_string()])
            .args(["-p", &addr.port().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Failure::Other(format!(
                "not accepting connections after {READY_TIMEOUT:?}\n--- server log ---\n{}",
                log()
            )));
        }
        // The next poll, within the deadline.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Close the lifeline and wait for the watchdog to stop the server and
/// remove the folder; kill both if that takes longer than [`STOP_TIMEOUT`].
fn stop(watchdog: &mut Child, lifeline: Option<ChildStdin>, server_pid: u32) {
    drop(lifeline);
    let done = sys::poll_until(STOP_TIMEOUT, || matches!(watchdog.try_wait(), Ok(Some(_))));
    if !done {
        let _ = Command::new("kill")
            .args(["-s", "KILL", &server_pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = watchdog.kill();
        let _ = watchdog.wait();
    }
}

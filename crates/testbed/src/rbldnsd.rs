//! A real DNSBL server for tests: rbldnsd serving dataset files from a
//! temporary folder on a loopback address.
//!
//! [`Rbldnsd::start_on`] writes each dataset into `DIR/root/` (readable by
//! the unprivileged user rbldnsd switches to: it refuses to run as root),
//! starts `rbldnsd -n -b IP/PORT -r DIR/root -u USER -c 0 ZONE:TYPE:FILE...`
//! in the foreground on a free UDP port, and returns once every zone answers
//! its SOA (the datasets must hold a `$SOA` line). `-c 0` turns off the
//! periodic reload check, and without `-f` rbldnsd never forks, so the one
//! process the helper started is all there is to kill. It never skips: a
//! missing rbldnsd, a dataset it rejects or a server that does not come up
//! within [`READY_TIMEOUT`] is a panic that shows its output. Dropping the
//! [`Rbldnsd`] kills it (by process ID) and removes the folder.

use std::fs;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};

use crate::knot::query_udp;
use crate::sys::{self, StartFailure as Failure, find_program};

/// How long rbldnsd gets to load its datasets and answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times a start is retried after the port was taken in between.
const START_TRIES: usize = 5;

/// One dataset: the zone it serves, its rbldnsd type (`ip4set`,
/// `ip6trie`, `combined`, ...) and the file's text.
#[derive(Clone, Copy, Debug)]
pub struct Dataset<'a> {
    pub zone: &'a str,
    pub kind: &'a str,
    pub text: &'a str,
}

/// A running rbldnsd; killed on drop.
pub struct Rbldnsd {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Rbldnsd {
    /// Start rbldnsd on `ip` (a loopback address) and a free port, serving
    /// `datasets`.
    pub fn start_on(ip: IpAddr, datasets: &[Dataset<'_>]) -> Rbldnsd {
        assert!(
            ip.is_loopback(),
            "testbed::rbldnsd: {ip} is not a loopback address"
        );
        assert!(!datasets.is_empty(), "testbed::rbldnsd: no dataset given");
        let program = find_program("rbldnsd", &["/usr/sbin/rbldnsd"]).unwrap_or_else(|| {
            panic!("rbldnsd not found: install Debian's package rbldnsd (apt-get install rbldnsd)")
        });
        let user = run_user();
        sys::start_retrying(&format!("testbed::rbldnsd ({ip})"), START_TRIES, || {
            let addr = SocketAddr::new(ip, free_udp_port(ip));
            let dir = tempfile::Builder::new()
                .prefix("mxkit-rbldnsd-")
                .tempdir()
                .unwrap_or_else(|e| panic!("testbed::rbldnsd: cannot create a folder: {e}"));
            let root = dir.path().join("root");
            let specs = write_datasets(&root, datasets);
            let log_path = dir.path().join("rbldnsd.log");
            let log = fs::File::create(&log_path)
                .unwrap_or_else(|e| panic!("testbed::rbldnsd: cannot create the log: {e}"));
            let log2 = log
                .try_clone()
                .unwrap_or_else(|e| panic!("testbed::rbldnsd: cannot share the log: {e}"));
            let mut cmd = Command::new(&program);
            cmd.arg("-n")
                .arg("-b")
                .arg(format!("{}/{}", addr.ip(), addr.port()))
                .arg("-r")
                .arg(&root)
                .arg("-c")
                .arg("0");
            if let Some(user) = &user {
                cmd.arg("-u").arg(user);
            }
            let child = cmd
                .args(&specs)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log2)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("testbed::rbldnsd: cannot run {}: {e}", program.display())
                });
            let mut server = Rbldnsd { child, addr, dir };
            // On failure the server is dropped (stopped) before the next try.
            server
                .wait_ready(datasets)
                .map(|()| server)
                .map_err(|f| f.explain(|why| format!("rbldnsd did not serve on {addr}: {why}")))
        })
    }

    /// Where rbldnsd listens (UDP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The folder rbldnsd is chrooted to, holding the dataset files
    /// (`data0`, `data1`, ... in the order given).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// rbldnsd's output so far (its load report and errors).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("rbldnsd.log")).unwrap_or_default()
    }

    /// Ask one question over UDP; panics on no answer within 2 seconds.
    pub fn query(&self, name: &str, rtype: RecordType) -> Message {
        let name = parse_name(name);
        query_udp(self.addr, &name, rtype, Duration::from_secs(2)).unwrap_or_else(|e| {
            panic!(
                "testbed::rbldnsd: {name} {rtype} to {}: {e}\n--- log ---\n{}",
                self.addr,
                self.log()
            )
        })
    }

    /// Run `dig @ADDR -p PORT ARGS...` against this server.
    pub fn dig(&self, args: &[&str]) -> String {
        let server = format!("@{}", self.addr.ip());
        let port = self.addr.port().to_string();
        let mut all = vec![server.as_str(), "-p", port.as_str()];
        all.extend_from_slice(args);
        crate::knot::dig(&all)
    }

    fn wait_ready(&mut self, datasets: &[Dataset<'_>]) -> Result<(), Failure> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut pending: Vec<Name> = datasets.iter().map(|d| parse_name(d.zone)).collect();
        pending.dedup();
        let mut last = String::from("no reply yet");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = self.log();
                let why = format!("rbldnsd exited ({status})\n--- rbldnsd output ---\n{log}");
                return Err(if log.contains("Address already in use") {
                    Failure::Bind(why)
                } else {
                    Failure::Other(why)
                });
            }
            let Some(zone) = pending.first().cloned() else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                return Err(Failure::Other(format!(
                    "not ready after {READY_TIMEOUT:?} (last: {last})\n--- rbldnsd output ---\n{}",
                    self.log()
                )));
            }
            match crate::knot::soa_poll(self.addr, &zone) {
                Ok(()) => {
                    pending.remove(0);
                }
                Err(e) => last = e,
            }
        }
    }
}

impl Drop for Rbldnsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The user rbldnsd drops to: `rbldns` (Debian's package creates it), else
/// `nobody`; none when not root (rbldnsd then runs as the caller).
fn run_user() -> Option<String> {
    if !crate::sys::is_root() {
        return None;
    }
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let has = |u: &str| passwd.lines().any(|l| l.split(':').next() == Some(u));
    Some(if has("rbldns") { "rbldns" } else { "nobody" }.to_string())
}

/// Write the datasets into `root` (0755, files 0644, so the unprivileged
/// user can read them) and return the `ZONE:TYPE:FILE` arguments.
fn write_datasets(root: &Path, datasets: &[Dataset<'_>]) -> Vec<String> {
    fs::create_dir(root).unwrap_or_else(|e| panic!("testbed::rbldnsd: cannot create root: {e}"));
    set_mode(root, 0o755);
    // The temporary folder itself is 0700; rbldnsd chroots as root, so
    // only the chroot folder and its files need to be readable.
    datasets
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let file = format!("data{i}");
            let path = root.join(&file);
            fs::write(&path, d.text)
                .unwrap_or_else(|e| panic!("testbed::rbldnsd: cannot write {file}: {e}"));
            set_mode(&path, 0o644);
            format!("{}:{}:{file}", d.zone.trim_end_matches('.'), d.kind)
        })
        .collect()
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("testbed::rbldnsd: chmod {}: {e}", path.display()));
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) {}

fn free_udp_port(ip: IpAddr) -> u16 {
    UdpSocket::bind(SocketAddr::new(ip, 0))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("testbed::rbldnsd: no free UDP port on {ip}: {e}"))
}

fn parse_name(s: &str) -> Name {
    let s = if s.ends_with('.') {
        s.to_string()
    } else {
        format!("{s}.")
    };
    Name::from_ascii(&s).unwrap_or_else(|e| panic!("testbed::rbldnsd: bad name {s:?}: {e}"))
}

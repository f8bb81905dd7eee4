//! Small helpers shared by the SMTP-side launchers ([`crate::postfix`],
//! [`crate::smtp_sink`], [`crate::blackhole`]): finding programs, checking
//! that an address is loopback and free, and ending the processes a
//! launcher started (by process ID or process group ID, never by name).

use std::fs;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `name` from PATH, else the first of `fallbacks` that exists.
pub fn find_program(name: &str, fallbacks: &[&str]) -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    from_path.or_else(|| fallbacks.iter().map(PathBuf::from).find(|p| p.is_file()))
}

/// Whether this process runs as root (the owner of `/proc/self` is the
/// effective user).
pub fn is_root() -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Panics unless `addr` is an IPv4 loopback address (127.0.0.0/8): the test
/// bed never sends traffic anywhere else.
pub fn assert_loopback_v4(what: &str, addr: SocketAddr) {
    let ok = match addr {
        SocketAddr::V4(a) => a.ip().is_loopback(),
        SocketAddr::V6(_) => false,
    };
    assert!(
        ok,
        "testbed::{what}: {addr} is not an IPv4 loopback address (127.0.0.0/8)"
    );
}

/// Whether `addr` can be bound for TCP right now (with SO_REUSEADDR, as
/// servers do, so a closed connection in TIME_WAIT does not count).
pub fn tcp_bindable(addr: SocketAddr) -> io::Result<()> {
    TcpListener::bind(addr).map(drop)
}

/// Whether process `pid` exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat_fields(&stat).is_some_and(|f| f.first() != Some(&"Z")),
        Err(_) => false,
    }
}

/// The fields of `/proc/PID/stat` after the command name: state, ppid,
/// pgrp, ...
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().collect())
}

/// The live (non-zombie) processes whose process group is `pgid`.
pub fn process_group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(f) = stat_fields(&stat)
            && f.first() != Some(&"Z")
            && f.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid)
        {
            pids.push(pid);
        }
    }
    pids
}

/// Send SIGKILL to the process group `pgid` (the shell's `kill`, as std has
/// no signal API and the crate uses no unsafe code).
pub fn kill_process_group(pgid: u32) {
    if pgid <= 1 {
        return;
    }
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -s KILL -- -{pgid}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Poll `done` every few milliseconds until it holds or `timeout` passes;
/// returns whether it held.
pub fn poll_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP port free on `ip` at the time of asking (a server started on it
/// may still lose it to another process: see [`start_retrying`]).
pub(crate) fn free_tcp_port(ip: IpAddr) -> u16 {
    TcpListener::bind(SocketAddr::new(ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("testbed: no free TCP port on {ip}: {e}"))
}

/// Why a server the test bed started did not come up.
pub(crate) enum StartFailure {
    /// It could not bind its address: the port was taken between our probe
    /// and its bind, so another port may do.
    Bind(String),
    /// Anything else (bad configuration, timeout, exit).
    Other(String),
}

impl StartFailure {
    /// An `Other` failure explained by `context` (a `Bind` stays as it is:
    /// it is retried, not shown).
    pub(crate) fn explain(self, context: impl FnOnce(String) -> String) -> Self {
        match self {
            StartFailure::Other(why) => StartFailure::Other(context(why)),
            bind => bind,
        }
    }
}

/// Start a server up to `tries` times, each try on a port `attempt` picks
/// (and cleaning up after itself when it fails): a `Bind` failure tries
/// again, any other failure, or the last try failing to bind, panics with
/// `what` in front.
pub(crate) fn start_retrying<T>(
    what: &str,
    tries: usize,
    mut attempt: impl FnMut() -> Result<T, StartFailure>,
) -> T {
    let mut last = String::new();
    for _ in 0..tries {
        match attempt() {
            Ok(server) => return server,
            Err(StartFailure::Bind(why)) => last = why,
            Err(StartFailure::Other(why)) => panic!("{what}: {why}"),
        }
    }
    panic!("{what}: could not bind a free port ({tries} tries): {last}")
}

//! A real authoritative server for tests: Knot DNS (`knotd`) serving zone
//! texts from a temporary folder on a loopback address.
//!
//! [`Knot::start`] writes `knot.conf` and the zone files into a fresh
//! temporary folder (configuration as in docs/design.md, "Tests and the test
//! bed"), starts knotd on a free port of `127.0.0.1`, and returns once every
//! zone answers its SOA (knotd loads zones asynchronously). It never skips: a
//! missing knotd, a zone knotd rejects or a server that does not come up
//! within [`READY_TIMEOUT`] is a panic that shows knotd's log. Dropping the
//! [`Knot`] kills knotd and removes the folder.
//!
//! [`Knot::query`] asks it one question with std sockets (UDP, TCP when
//! truncated); [`dig`] runs `dig` for cross-checks with another client.
//!
//! [`Knot::start_signing`] also signs some of the zones as it loads them
//! (`dnssec-signing: on`, ECDSA P-256, keys that never roll), for a
//! validating resolver ([`crate::unbound`]) to trust through
//! [`Knot::ds`]. Knot signs in memory and never writes the zone files back.

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use crate::sys::{self, StartFailure as Failure};

/// How long knotd gets to load its zones and answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times a start is retried after the port was taken in between.
const START_TRIES: usize = 5;

/// A running knotd; killed on drop.
pub struct Knot {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Knot {
    /// Start knotd on a free port of 127.0.0.1 serving `zones`, each a
    /// (zone name, zone text) pair.
    pub fn start(zones: &[(&str, &str)]) -> Knot {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), None, zones)
    }

    /// Start knotd on `ip` (any loopback address, such as 127.0.0.11) and
    /// `port` (`None`: a free one; `Some(53)` needs root).
    pub fn start_on(ip: IpAddr, port: Option<u16>, zones: &[(&str, &str)]) -> Knot {
        Self::start_signing(ip, port, zones, &[])
    }

    /// Start knotd as [`Knot::start_on`] does, signing the zones named in
    /// `signed` (each also in `zones`); returns once every signed zone
    /// serves its DNSKEY.
    pub fn start_signing(
        ip: IpAddr,
        port: Option<u16>,
        zones: &[(&str, &str)],
        signed: &[&str],
    ) -> Knot {
        for zone in signed {
            assert!(
                zones.iter().any(|(z, _)| parse_name(z) == parse_name(zone)),
                "testbed::knot: {zone} is to be signed but is not among the zones"
            );
        }
        assert!(
            ip.is_loopback(),
            "testbed::knot: {ip} is not a loopback address"
        );
        let knotd = knotd_path();
        let tries = if port.is_some() { 1 } else { START_TRIES };
        sys::start_retrying(&format!("testbed::knot ({ip})"), tries, || {
            let port = port.unwrap_or_else(|| free_port(ip));
            let addr = SocketAddr::new(ip, port);
            let dir = tempfile::Builder::new()
                .prefix("mxkit-knot-")
                .tempdir()
                .unwrap_or_else(|e| panic!("testbed::knot: cannot create a temporary folder: {e}"));
            write_config(dir.path(), addr, zones, signed);
            let log_path = dir.path().join("knotd.log");
            let log = fs::File::create(&log_path).unwrap_or_else(|e| {
                panic!("testbed::knot: cannot create {}: {e}", log_path.display())
            });
            let child = Command::new(&knotd)
                .arg("-c")
                .arg(dir.path().join("knot.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("testbed::knot: cannot run {}: {e}", knotd.display()));
            let mut knot = Knot { child, addr, dir };
            // On failure the server is dropped (stopped) before the next try.
            knot.wait_ready(zones, signed).map(|()| knot).map_err(|f| {
                f.explain(|why| format!("knotd did not serve the zones on {addr}: {why}"))
            })
        })
    }

    /// Where knotd listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The temporary folder holding `knot.conf`, the zone files and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The DS record (SHA-256 digest, RFC 4509) of a zone this server
    /// signs, in presentation format (`zone. DS 60286 13 2 2ebc...`), from
    /// `keymgr`: what a parent would publish, and a trust anchor for a
    /// validating resolver.
    pub fn ds(&self, zone: &str) -> String {
        let keymgr =
            crate::sys::find_program("keymgr", &["/usr/sbin/keymgr"]).unwrap_or_else(|| {
                panic!("keymgr not found: install Debian's package knot (scripts/test does this)")
            });
        let name = parse_name(zone).to_string();
        let out = Command::new(&keymgr)
            .arg("-c")
            .arg(self.dir.path().join("knot.conf"))
            .args([name.as_str(), "ds"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("testbed::knot: cannot run {}: {e}", keymgr.display()));
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find(|l| l.split_whitespace().nth(4) == Some("2"))
            .map(str::to_owned)
            .unwrap_or_else(|| {
                panic!(
                    "testbed::knot: keymgr {name} ds gave no SHA-256 DS ({}): {text}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                )
            })
    }

    /// knotd's log so far (stderr, errors only).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("knotd.log")).unwrap_or_default()
    }

    /// Ask one question (UDP; again over TCP when truncated). Panics on a
    /// network error or no answer within 2 seconds.
    pub fn query(&self, name: &str, rtype: RecordType) -> Message {
        let name = parse_name(name);
        query_udp(self.addr, &name, rtype, Duration::from_secs(2))
            .and_then(|m| {
                if m.metadata.truncation {
                    query_tcp(self.addr, &name, rtype, Duration::from_secs(2))
                } else {
                    Ok(m)
                }
            })
            .unwrap_or_else(|e| panic!("testbed::knot: {name} {rtype} to {}: {e}", self.addr))
    }

    /// Run `dig` against this server: `dig @ADDR -p PORT ARGS...`; returns
    /// its standard output.
    pub fn dig(&self, args: &[&str]) -> String {
        let server = format!("@{}", self.addr.ip());
        let port = self.addr.port().to_string();
        let mut all = vec![server.as_str(), "-p", port.as_str()];
        all.extend_from_slice(args);
        dig(&all)
    }

    /// Poll until every zone answers its SOA (and every signed one its
    /// DNSKEY), knotd exits, logs an error (a rejected zone) or
    /// [`READY_TIMEOUT`] passes.
    fn wait_ready(&mut self, zones: &[(&str, &str)], signed: &[&str]) -> Result<(), Failure> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut pending: Vec<(Name, RecordType)> = zones
            .iter()
            .map(|(z, _)| (parse_name(z), RecordType::SOA))
            .chain(signed.iter().map(|z| (parse_name(z), RecordType::DNSKEY)))
            .collect();
        let mut last = String::from("no reply yet");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = self.log();
                let why = format!("knotd exited ({status})\n--- knotd log ---\n{log}");
                return Err(if log.contains("cannot bind") {
                    Failure::Bind(why)
                } else {
                    Failure::Other(why)
                });
            }
            let log = self.log();
            if log.contains("error:") || log.contains("critical:") {
                return Err(Failure::Other(format!(
                    "knotd reported an error\n--- knotd log ---\n{log}"
                )));
            }
            let Some((zone, rtype)) = pending.first().cloned() else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                let names: Vec<String> = pending.iter().map(|(n, t)| format!("{n} {t}")).collect();
                return Err(Failure::Other(format!(
                    "not ready after {READY_TIMEOUT:?}, waiting for {} (last: {last})\n\
                     --- knotd log ---\n{log}",
                    names.join(" ")
                )));
            }
            match crate::knot::poll(self.addr, &zone, rtype) {
                Ok(()) => {
                    pending.remove(0);
                }
                Err(e) => last = e,
            }
        }
    }
}

/// One readiness poll of a DNS server for `zone`: `Ok` once it answers the
/// zone's SOA with NOERROR; else what it said, after a short pause when it
/// answered at once (refused, SERVFAIL while loading), so that callers can
/// loop on it up to their deadline.
pub(crate) fn soa_poll(addr: SocketAddr, zone: &Name) -> Result<(), String> {
    poll(addr, zone, RecordType::SOA)
}

/// [`soa_poll`] for another record type of the zone's apex (a signed
/// zone's DNSKEY).
fn poll(addr: SocketAddr, zone: &Name, rtype: RecordType) -> Result<(), String> {
    match query_udp(addr, zone, rtype, Duration::from_millis(100)) {
        Ok(m)
            if m.metadata.response_code == ResponseCode::NoError
                && m.answers.iter().any(|r| r.record_type() == rtype) =>
        {
            Ok(())
        }
        Ok(m) => {
            // Answered but not loaded (or signed) yet.
            std::thread::sleep(Duration::from_millis(10));
            Err(format!("{zone} {rtype}: {}", m.metadata.response_code))
        }
        Err(e) => {
            // Not listening yet (refused at once) or no reply within the
            // query's own timeout.
            if e != "timeout" {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(format!("{zone} {rtype}: {e}"))
        }
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// knotd from PATH, else /usr/sbin/knotd; panics with how to install it.
fn knotd_path() -> PathBuf {
    crate::sys::find_program("knotd", &["/usr/sbin/knotd"]).unwrap_or_else(|| {
        panic!("knotd not found: install Debian's package knot (scripts/test does this)")
    })
}

/// A port free on both UDP and TCP at the time of asking.
pub(crate) fn free_port(ip: IpAddr) -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind(SocketAddr::new(ip, 0))
            .unwrap_or_else(|e| panic!("testbed::knot: cannot bind UDP on {ip}: {e}"));
        let port = udp.local_addr().map(|a| a.port()).unwrap_or(0);
        if port != 0 && TcpListener::bind(SocketAddr::new(ip, port)).is_ok() {
            return port;
        }
    }
    panic!("testbed::knot: no port free on both UDP and TCP on {ip}")
}

fn write_config(dir: &Path, addr: SocketAddr, zones: &[(&str, &str)], signed: &[&str]) {
    let d = dir.display();
    let mut conf = format!(
        "server:\n    listen: {}@{}\n    rundir: {d}\n",
        addr.ip(),
        addr.port()
    );
    if sys::is_root() {
        conf.push_str("    user: root:root\n");
    }
    // One key pair per signed zone, never rolled: the tests run for
    // minutes, the signatures last two weeks.
    conf.push_str(
        "policy:\n  - id: test\n    algorithm: ecdsap256sha256\n    \
         ksk-lifetime: 0\n    zsk-lifetime: 0\n",
    );
    conf.push_str(&format!(
        "database:\n    storage: {d}\nlog:\n  - target: stderr\n    any: error\n\
         template:\n  - id: default\n    storage: {d}\n    zonefile-sync: -1\n    \
         journal-content: none\nzone:\n"
    ));
    for (i, (zone, text)) in zones.iter().enumerate() {
        let name = parse_name(zone);
        let file = format!("zone{i}.zone");
        fs::write(dir.join(&file), text)
            .unwrap_or_else(|e| panic!("testbed::knot: cannot write zone {name}: {e}"));
        conf.push_str(&format!("  - domain: \"{name}\"\n    file: {file}\n"));
        if signed.iter().any(|z| parse_name(z) == name) {
            conf.push_str("    dnssec-signing: on\n    dnssec-policy: test\n");
        }
    }
    fs::write(dir.join("knot.conf"), conf)
        .unwrap_or_else(|e| panic!("testbed::knot: cannot write knot.conf: {e}"));
}

fn parse_name(s: &str) -> Name {
    let s = if s.ends_with('.') {
        s.to_string()
    } else {
        format!("{s}.")
    };
    Name::from_ascii(&s).unwrap_or_else(|e| panic!("testbed::knot: bad name {s:?}: {e}"))
}

fn request(name: &Name, rtype: RecordType) -> Message {
    let mut m = Message::query();
    m.add_query(Query::query(name.clone(), rtype));
    m.metadata.recursion_desired = false;
    m
}

/// One question over UDP with std sockets; waits up to `timeout` for the
/// matching reply (same ID).
pub fn query_udp(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    timeout: Duration,
) -> Result<Message, String> {
    exchange_udp(server, &request(name, rtype), timeout)
}

/// Send `query` over UDP and wait up to `timeout` for the reply with its ID.
pub(crate) fn exchange_udp(
    server: SocketAddr,
    query: &Message,
    timeout: Duration,
) -> Result<Message, String> {
    let local = if server.is_ipv4() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    } else {
        SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), 0)
    };
    let socket = UdpSocket::bind(local).map_err(|e| format!("bind: {e}"))?;
    socket
        .connect(server)
        .map_err(|e| format!("connect: {e}"))?;
    let bytes = query.to_vec().map_err(|e| format!("encode: {e}"))?;
    socket.send(&bytes).map_err(|e| format!("send: {e}"))?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timeout".into());
        }
        socket
            .set_read_timeout(Some(left))
            .map_err(|e| format!("set_read_timeout: {e}"))?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err("timeout".into());
            }
            Err(e) => return Err(format!("recv: {e}")),
        };
        if let Ok(reply) = Message::from_vec(&buf[..n])
            && reply.metadata.id == query.metadata.id
        {
            return Ok(reply);
        }
    }
}

/// One question over TCP (2-byte length prefix, RFC 1035 section 4.2.2).
pub fn query_tcp(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    timeout: Duration,
) -> Result<Message, String> {
    let mut stream =
        TcpStream::connect_timeout(&server, timeout).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("set timeouts: {e}"))?;
    let query = request(name, rtype);
    let bytes = query.to_vec().map_err(|e| format!("encode: {e}"))?;
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    stream
        .write_all(&framed)
        .map_err(|e| format!("send: {e}"))?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .map_err(|e| format!("recv: {e}"))?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut buf)
        .map_err(|e| format!("recv: {e}"))?;
    let reply = Message::from_vec(&buf).map_err(|e| format!("decode: {e}"))?;
    if reply.metadata.id != query.metadata.id {
        return Err("reply with another ID".into());
    }
    Ok(reply)
}

/// Run `dig ARGS...` (from bind9-dnsutils) and return its standard output;
/// panics when dig is missing or fails.
pub fn dig(args: &[&str]) -> String {
    let dig = crate::sys::find_program("dig", &["/usr/bin/dig"]).unwrap_or_else(|| {
        panic!("dig not found: install Debian's package bind9-dnsutils (scripts/test does this)")
    });
    let out = Command::new(&dig)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("testbed::knot: cannot run {}: {e}", dig.display()));
    if !out.status.success() {
        panic!(
            "dig {} failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

//! A real validating resolver for tests: Debian's `unbound` on a loopback
//! address, sending every zone of the test bed to the authoritative servers
//! that serve it (stub zones) and trusting the DS records it is given.
//!
//! Configuration (docs/design.md, "Tests and the test bed"): `module-config:
//! "validator iterator"`, the DS lines as `trust-anchor-file`, `local-zone:
//! "test." nodefault` (unbound otherwise answers NXDOMAIN for the RFC 6761
//! names the test bed uses), `do-not-query-localhost: no` (the stubs are on
//! loopback), `ede: yes` (RFC 8914 codes with its SERVFAILs), no chroot, no
//! user change, in the foreground. Zones without a trust anchor are
//! insecure: there is no root key, so every island of trust is one anchored
//! zone. The root itself is a stub to the same server, so names outside the
//! test zones are refused there instead of being looked up on the Internet.
//!
//! [`Unbound::start`] returns once unbound answers a question for each stub
//! zone; it never skips: a missing unbound or a resolver that does not come
//! up within [`READY_TIMEOUT`] is a panic that shows its log. Dropping the
//! [`Unbound`] kills it and removes its folder.

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use crate::sys::{self, StartFailure as Failure};

/// How long unbound gets to start and answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running unbound; killed on drop.
pub struct Unbound {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

/// A zone unbound sends to an authoritative server (a `stub-zone`).
#[derive(Clone, Debug)]
pub struct Stub {
    /// The zone's name.
    pub zone: String,
    /// The server that serves it (knotd of the test bed).
    pub server: SocketAddr,
}

impl Stub {
    /// `zone` served by `server`.
    pub fn new(zone: &str, server: SocketAddr) -> Stub {
        Stub {
            zone: zone.to_owned(),
            server,
        }
    }
}

impl Unbound {
    /// Start unbound on a free port of `ip` (a loopback address), with
    /// `stubs` and the trust anchors `anchors` (DS lines in presentation
    /// format, as [`crate::knot::Knot::ds`] gives them).
    pub fn start(ip: IpAddr, stubs: &[Stub], anchors: &[String]) -> Unbound {
        Self::start_on(ip, None, stubs, anchors)
    }

    /// [`Unbound::start`] on `port` (`None`: a free one; `Some(53)`, as
    /// root, for clients that cannot be given a port, such as glibc's
    /// resolver reading resolv.conf).
    pub fn start_on(ip: IpAddr, port: Option<u16>, stubs: &[Stub], anchors: &[String]) -> Unbound {
        assert!(
            ip.is_loopback(),
            "testbed::unbound: {ip} is not a loopback address"
        );
        let unbound = sys::find_program("unbound", &["/usr/sbin/unbound"]).unwrap_or_else(|| {
            panic!("unbound not found: install Debian's package unbound (scripts/test does this)")
        });
        let tries = if port.is_some() { 1 } else { 5 };
        sys::start_retrying(&format!("testbed::unbound ({ip})"), tries, || {
            let port = port.unwrap_or_else(|| crate::knot::free_port(ip));
            let addr = SocketAddr::new(ip, port);
            let dir = tempfile::Builder::new()
                .prefix("mxkit-unbound-")
                .tempdir()
                .unwrap_or_else(|e| {
                    panic!("testbed::unbound: cannot create a temporary folder: {e}")
                });
            let conf = write_config(dir.path(), addr, stubs, anchors);
            let log_path = dir.path().join("unbound.log");
            let log = fs::File::create(&log_path).unwrap_or_else(|e| {
                panic!(
                    "testbed::unbound: cannot create {}: {e}",
                    log_path.display()
                )
            });
            let child = Command::new(&unbound)
                .arg("-d")
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("testbed::unbound: cannot run {}: {e}", unbound.display())
                });
            let mut server = Unbound { child, addr, dir };
            server
                .wait_ready(stubs)
                .map(|()| server)
                .map_err(|f| f.explain(|why| format!("unbound did not answer on {addr}: {why}")))
        })
    }

    /// Where unbound listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// unbound's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("unbound.log")).unwrap_or_default()
    }

    /// Ask one question with recursion desired and the DO bit (UDP, 2 s).
    /// Panics on a network error or no answer.
    pub fn query(&self, name: &str, rtype: RecordType) -> Message {
        let name = Name::from_ascii(name)
            .unwrap_or_else(|e| panic!("testbed::unbound: bad name {name:?}: {e}"));
        ask(self.addr, &name, rtype, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("testbed::unbound: {name} {rtype} to {}: {e}", self.addr))
    }

    /// Poll until unbound answers the SOA of every stub zone (any rcode
    /// but a refusal: a bogus zone answers SERVFAIL), it exits, or
    /// [`READY_TIMEOUT`] passes.
    fn wait_ready(&mut self, stubs: &[Stub]) -> Result<(), Failure> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut pending: Vec<Name> = stubs
            .iter()
            .map(|s| {
                let mut n = Name::from_ascii(&s.zone).unwrap_or_else(|e| {
                    panic!("testbed::unbound: bad zone name {:?}: {e}", s.zone)
                });
                n.set_fqdn(true);
                n
            })
            .collect();
        let mut last = String::from("no reply yet");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = self.log();
                let why = format!("unbound exited ({status})\n--- unbound log ---\n{log}");
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
                    "not ready after {READY_TIMEOUT:?} (last: {last})\n--- unbound log ---\n{}",
                    self.log()
                )));
            }
            match ask(
                self.addr,
                &zone,
                RecordType::SOA,
                Duration::from_millis(200),
            ) {
                Ok(m) if m.metadata.response_code != ResponseCode::Refused => {
                    pending.remove(0);
                }
                Ok(m) => {
                    std::thread::sleep(Duration::from_millis(10));
                    last = format!("{zone} SOA: {}", m.metadata.response_code);
                }
                Err(e) => {
                    if e != "timeout" {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    last = format!("{zone} SOA: {e}");
                }
            }
        }
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One question with RD and DO over UDP.
fn ask(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    wait: Duration,
) -> Result<Message, String> {
    let mut query = Message::query();
    query.add_query(Query::query(name.clone(), rtype));
    query.metadata.recursion_desired = true;
    let mut edns = hickory_proto::op::Edns::new();
    edns.set_dnssec_ok(true);
    edns.set_max_payload(1232);
    query.set_edns(edns);
    crate::knot::exchange_udp(server, &query, wait)
}

fn write_config(
    dir: &std::path::Path,
    addr: SocketAddr,
    stubs: &[Stub],
    anchors: &[String],
) -> PathBuf {
    let d = dir.display();
    let anchors_file = dir.join("anchors.ds");
    let mut text = anchors.join("\n");
    text.push('\n');
    fs::write(&anchors_file, text)
        .unwrap_or_else(|e| panic!("testbed::unbound: cannot write the trust anchors: {e}"));
    let mut conf = format!(
        "server:\n    interface: {ip}@{port}\n    port: {port}\n    do-ip6: {v6}\n    \
         do-not-query-localhost: no\n    username: \"\"\n    chroot: \"\"\n    \
         directory: \"{d}\"\n    pidfile: \"\"\n    do-daemonize: no\n    use-syslog: no\n    \
         logfile: \"\"\n    verbosity: 1\n    val-log-level: 2\n    \
         module-config: \"validator iterator\"\n    ede: yes\n    \
         local-zone: \"test.\" nodefault\n    local-zone: \"invalid.\" nodefault\n",
        ip = addr.ip(),
        port = addr.port(),
        v6 = if addr.is_ipv6() { "yes" } else { "no" },
    );
    if !anchors.is_empty() {
        conf.push_str(&format!(
            "    trust-anchor-file: \"{}\"\n",
            anchors_file.display()
        ));
    }
    // Every other name, the root included, goes to the first stub's server
    // too (it refuses what it does not serve), never to the Internet's
    // root servers: the test bed sends nothing off loopback.
    if let Some(first) = stubs.first()
        && !stubs.iter().any(|s| s.zone == "." || s.zone.is_empty())
    {
        conf.push_str(&format!(
            "stub-zone:\n    name: \".\"\n    stub-addr: {}@{}\n",
            first.server.ip(),
            first.server.port()
        ));
    }
    for stub in stubs {
        assert!(
            stub.server.ip().is_loopback(),
            "testbed::unbound: the server of stub zone {} ({}) is not on loopback",
            stub.zone,
            stub.server
        );
        conf.push_str(&format!(
            "stub-zone:\n    name: \"{}\"\n    stub-addr: {}@{}\n",
            stub.zone,
            stub.server.ip(),
            stub.server.port()
        ));
    }
    let path = dir.join("unbound.conf");
    fs::write(&path, conf)
        .unwrap_or_else(|e| panic!("testbed::unbound: cannot write unbound.conf: {e}"));
    path
}

/// A validating test bed: knotd serving signed, unsigned and bogus zones,
/// and unbound validating them with the signed zones' keys as trust
/// anchors. Each zone is its own island of trust (there is no root key):
/// the zones of `signed` and `expired` are anchored, those of `unsigned`
/// are insecure.
pub struct Validating {
    /// The authoritative server of every zone.
    pub knot: crate::knot::Knot,
    /// The validating resolver: ask it.
    pub unbound: Unbound,
}

impl Validating {
    /// Start the bed on 127.0.0.1: `signed` zones are signed by knotd,
    /// `unsigned` ones served as they are, `expired` ones signed ahead with
    /// signatures that expired in 2020 ([`crate::presign::expired`]). Each
    /// list holds (zone name, zone text) pairs.
    pub fn start(
        signed: &[(&str, &str)],
        unsigned: &[(&str, &str)],
        expired: &[(&str, &str)],
    ) -> Validating {
        Self::start_at(
            IpAddr::from([127, 0, 0, 1]),
            None,
            signed,
            unsigned,
            expired,
        )
    }

    /// [`Validating::start`] with knotd on `ip` and `port` (`None`: a free
    /// one; `Some(53)`, as root, lets name-server checks that ask port 53
    /// reach it, with the zones' NS records pointing at `ip`).
    pub fn start_at(
        ip: IpAddr,
        port: Option<u16>,
        signed: &[(&str, &str)],
        unsigned: &[(&str, &str)],
        expired: &[(&str, &str)],
    ) -> Validating {
        let resolver = (IpAddr::from([127, 0, 0, 1]), None);
        Self::start_placed((ip, port), resolver, signed, unsigned, expired)
    }

    /// [`Validating::start`] with knotd at `knot` and unbound at
    /// `resolver`, each an (address, port) pair (`None`: a free port).
    pub fn start_placed(
        knot: (IpAddr, Option<u16>),
        resolver: (IpAddr, Option<u16>),
        signed: &[(&str, &str)],
        unsigned: &[(&str, &str)],
        expired: &[(&str, &str)],
    ) -> Validating {
        let (ip, port) = knot;
        let presigned: Vec<(String, crate::presign::Presigned)> = expired
            .iter()
            .map(|(z, text)| (z.to_string(), crate::presign::expired(z, text)))
            .collect();
        let mut zones: Vec<(&str, &str)> = signed.to_vec();
        zones.extend_from_slice(unsigned);
        zones.extend(presigned.iter().map(|(z, p)| (z.as_str(), p.text.as_str())));
        let names: Vec<&str> = signed.iter().map(|(z, _)| *z).collect();
        let knot = crate::knot::Knot::start_signing(ip, port, &zones, &names);
        let mut anchors: Vec<String> = names.iter().map(|z| knot.ds(z)).collect();
        anchors.extend(presigned.iter().map(|(_, p)| p.ds.clone()));
        let stubs: Vec<Stub> = zones
            .iter()
            .map(|(z, _)| Stub::new(z, knot.addr()))
            .collect();
        let unbound = Unbound::start_on(resolver.0, resolver.1, &stubs, &anchors);
        Validating { knot, unbound }
    }

    /// The validating resolver's address.
    pub fn resolver(&self) -> SocketAddr {
        self.unbound.addr()
    }
}

/// A file of the repository's `testdata/secure/` folder: the zones of the
/// secure routing tests.
pub fn testdata(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/secure")
        .join(file)
}

impl Validating {
    /// The bed of the secure routing tests: `testdata/secure/signed.test.zone`
    /// signed, `plain.test.zone` unsigned, `expired.test.zone` with expired
    /// signatures.
    pub fn testdata() -> Validating {
        let read = |file: &str| {
            fs::read_to_string(testdata(file)).unwrap_or_else(|e| {
                panic!("testbed::unbound: cannot read testdata/secure/{file}: {e}")
            })
        };
        let (signed, plain, expired) = (
            read("signed.test.zone"),
            read("plain.test.zone"),
            read("expired.test.zone"),
        );
        Validating::start(
            &[("signed.test", &signed)],
            &[("plain.test", &plain)],
            &[("expired.test", &expired)],
        )
    }
}

//! The live engine: mxkit's own asynchronous stub resolver client.
//!
//! It sends each question to the configured recursive resolvers (the
//! **servers**, from resolv.conf or `--server`) and classifies what comes back
//! into a [`Response`]. It does its own I/O on tokio and uses hickory-proto
//! only as the message codec (hickory-resolver costs a socket per query and
//! several times the CPU, see DESIGN.md).
//!
//! Words:
//! - a **channel** is one UDP socket bound to an ephemeral port, shared by many
//!   queries in flight, with its **pending table** of the queries waiting on it;
//! - a **try** is one question sent to one server (over UDP, and over TCP when
//!   the UDP reply was truncated), waiting at most [`EngineConfig::timeout`];
//!   a try that timed out stays registered until the question is answered,
//!   so the late reply of a server slower than the timeout still answers it
//!   while a later try waits (its own ID and server, so it is matched);
//! - a **round** asks every server in turn once; there are
//!   [`EngineConfig::attempts`] rounds at most, and each round's tries wait
//!   twice as long as the round before (exponential backoff, at most
//!   [`MAX_BACKOFF`] times the first, see [`EngineConfig::try_timeout`]);
//! - an **ignored** reply is a datagram that did not match a query in flight
//!   (wrong ID, wrong question, wrong source address, undecodable); it is never
//!   used, only counted, so that a final timeout can say why nothing usable came;
//! - each channel has a **receive task** and a **send task**: a try puts its
//!   packet in the channel's **outbox** and the send task sends what
//!   gathered there when the asking task yields, so that the packets of many
//!   questions leave in a burst (a server kept busy is not woken once per
//!   packet; on loopback that wake-up was a tenth of the client's time);
//!   both tasks read and send up to 32 datagrams per system call
//!   (`recvmmsg`/`sendmmsg`, see `dns::mmsg`), and the send task sends the
//!   packets of a burst that go to one server and have the same length as
//!   one segmented datagram where the kernel allows it (`UDP_SEGMENT`; the
//!   server still receives separate datagrams);
//! - the **meter** counts questions, tries, resends, timeouts, error rcodes
//!   and TCP re-asks, and when the last usable reply came ([`Engine::meter`]);
//!   `scan` reads it to size its window;
//! - the **pacer** holds tries back to [`EngineConfig::rate`] per second.
//!
//! The hot path avoids hickory-proto's message types: replies are read by
//! the walker of `dns::walk` (A, AAAA, CNAME, MX answers, SOA/NS authority,
//! the additional section only stepped over), which gives way to hickory's
//! decoder (`decode`) for anything else and is tested to agree with it;
//! queries are written by hand (`Inner::encode`, tested octet for octet
//! against hickory's encoder).
//!
//! Rules applied here:
//! - a reply is accepted only if it comes from the address the query was sent
//!   to, carries the query's ID, has the QR bit set and repeats the question
//!   (name compared case-insensitively, type, class IN) (RFC 5452 section 9.1:
//!   match ID, source and question before accepting a response);
//! - query IDs are random, from a per-engine CSPRNG, and never shared by two
//!   queries in flight to the same server on the same socket (RFC 5452 section
//!   4.3);
//! - a UDP reply with the TC bit is never used: the same server is asked again
//!   over TCP (RFC 1123 section 6.1.3.2: a mailer must not use a truncated
//!   answer; RFC 7766 section 5: TCP is the fallback for truncation), with up
//!   to [`EngineConfig::attempts`] connections while they fail, and at most
//!   [`TCP_CONNECTIONS`] open at once (RFC 7766 section 6.2.2); up to
//!   [`TCP_IDLE`] of them stay open for the next truncated answer (RFC 7766
//!   section 6.2.1), and one the server closed meanwhile is replaced;
//! - SERVFAIL, REFUSED and other error rcodes move on to the next server
//!   (RFC 1035 section 7.2: a server that returns an error is dropped from the
//!   list for this question); NOERROR and NXDOMAIN are final;
//! - the query carries an EDNS0 OPT record with the configured payload size
//!   (RFC 6891 section 6.2.5; 1232 by default, DNS flag day 2020) and sets the
//!   AD bit so that the resolver reports whether it validated the data (RFC
//!   6840 section 5.7);
//! - each UDP socket asks the kernel for 8 MiB buffers (capped by
//!   `net.core.rmem_max`): with the default 208 KiB, a burst of 2,000 replies
//!   loses about a tenth of them, each then costing a full timeout;
//! - the negative TTL is min(SOA TTL, SOA MINIMUM) of the SOA in the authority
//!   section (RFC 2308 section 5).
//!
//! Names are always absolute: there is no search list (resolv.conf `search`,
//! `domain` and `ndots` are ignored on purpose, see spec/route.md rule 2).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::panic::catch_unwind;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{Notify, Semaphore, oneshot};
use tokio::task::AbortHandle;

use super::mmsg;
use super::walk::{self, Reply};
use super::{BoxFuture, Lookup, Response, Status, TempError};

/// Default wait for one try (one server, one transport).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default number of rounds over all servers.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// Largest factor by which later rounds' tries wait longer than the first
/// ([`EngineConfig::try_timeout`]).
pub const MAX_BACKOFF: u32 = 8;
/// Default EDNS0 UDP payload size (DNS flag day 2020: no IP fragmentation).
pub const DEFAULT_EDNS_PAYLOAD: u16 = 1232;
/// Default number of UDP sockets per address family.
pub const DEFAULT_UDP_SOCKETS: usize = 2;
/// Most answer records kept from one reply; the rest are dropped (with a
/// warning) so that a hostile or broken server cannot make us hold a huge set.
pub const MAX_ANSWERS: usize = 1000;
/// Where the system's resolver configuration lives.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// Largest resolv.conf read, in bytes. glibc uses at most 3 nameservers, 6
/// search domains and a handful of options: a full file is well under
/// 4 KiB, so 64 KiB leaves room for comments and still refuses a file that
/// is not a resolv.conf at all.
pub const MAX_RESOLV_CONF: u64 = 64 << 10;

/// Kernel send and receive buffer asked for each UDP socket (spec/scan.md: 8 MiB).
const UDP_BUFFER: usize = 8 << 20;
/// TCP connections an engine keeps open at once (truncated answers).
pub const TCP_CONNECTIONS: usize = 32;
/// TCP connections kept open after a clean exchange, for the next
/// truncated answer (part of [`TCP_CONNECTIONS`]: at most
/// `TCP_CONNECTIONS - TCP_IDLE` exchanges run at once).
pub const TCP_IDLE: usize = 8;
/// Packets the send task sends before it yields to the other tasks.
const SEND_BURST: usize = mmsg::MAX_PACKETS;
/// How many random IDs are drawn before a try gives up finding a free one.
const ID_DRAWS: usize = 64;
/// Largest query we ever build: header, a 255-octet name, type, class, OPT.
const MAX_QUERY_LEN: usize = 512;
/// The port resolv.conf nameservers listen on (resolv.conf(5) has no port syntax).
const DNS_PORT: u16 = 53;
/// glibc's caps on `options timeout:` and `attempts:` (resolv.conf(5):
/// RES_MAXRETRANS 30, RES_MAXRETRY 5).
const RESOLV_MAX_TIMEOUT: u32 = 30;
const RESOLV_MAX_ATTEMPTS: u32 = 5;

/// How the engine talks to its servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// The recursive resolvers, asked in this order.
    pub servers: Vec<SocketAddr>,
    /// Wait for one try in the first round (per server, per transport);
    /// default 2 s. Each later round waits twice as long as the one
    /// before, up to [`MAX_BACKOFF`] times this ([`EngineConfig::try_timeout`]).
    pub timeout: Duration,
    /// Rounds over all servers; default 3 (0 counts as 1).
    pub attempts: u32,
    /// EDNS0 UDP payload size advertised; default 1232 (values below 512 are
    /// sent as 512, RFC 6891 section 6.2.5).
    pub edns_payload: u16,
    /// Set RD (recursion desired); default true.
    pub recursion_desired: bool,
    /// UDP sockets per address family the servers need; default 2 (0 counts as 1).
    pub udp_sockets: usize,
    /// Seed for the query-ID generator. `None` (the default) seeds from the
    /// operating system; a fixed seed makes IDs predictable, so it is for
    /// tests only.
    pub seed: Option<u64>,
    /// Upper bound on the queries sent per second (UDP tries and TCP
    /// re-asks); `None` (the default): no bound.
    pub rate: Option<u32>,
}

impl EngineConfig {
    /// The defaults, asking `servers`.
    pub fn new(servers: Vec<SocketAddr>) -> Self {
        EngineConfig {
            servers,
            timeout: DEFAULT_TIMEOUT,
            attempts: DEFAULT_ATTEMPTS,
            edns_payload: DEFAULT_EDNS_PAYLOAD,
            recursion_desired: true,
            udp_sockets: DEFAULT_UDP_SOCKETS,
            seed: None,
            rate: None,
        }
    }

    /// How long a UDP try of round `round` (0 for the first) waits for its
    /// reply, give or take an eighth at random (so that tries sent together
    /// do not time out together): [`EngineConfig::timeout`], doubled every round as glibc's
    /// resolver does (`res_send.c`: `retrans << try`), at most
    /// [`MAX_BACKOFF`] times it. Backing off spreads the tries of a
    /// question that keeps losing its packets over more time, so that
    /// questions stuck on a congested or slow server send less meanwhile,
    /// and a slow server's late answer still finds its question waiting.
    pub fn try_timeout(&self, round: u32) -> Duration {
        self.timeout
            .saturating_mul((1u32 << round.min(31)).min(MAX_BACKOFF))
    }

    /// The longest a question waits over UDP before it gives up: every
    /// round's tries of every server (each try's wait is spread at random
    /// by up to an eighth either way; this counts the longest).
    pub fn budget(&self) -> Duration {
        let servers = u32::try_from(self.servers.len().max(1)).unwrap_or(u32::MAX);
        (0..self.attempts.max(1))
            .map(|round| {
                let wait = self.try_timeout(round);
                wait.saturating_add(wait / 8).saturating_mul(servers)
            })
            .fold(Duration::ZERO, Duration::saturating_add)
    }

    /// The system's resolvers, from [`RESOLV_CONF`].
    pub fn from_system() -> Result<Self, ConfigError> {
        Self::from_resolv_conf_file(RESOLV_CONF)
    }

    /// The resolvers named in a resolv.conf file: a regular file of at most
    /// [`MAX_RESOLV_CONF`] bytes.
    pub fn from_resolv_conf_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = crate::bounded::read_file(path, MAX_RESOLV_CONF).map_err(|source| {
            ConfigError::Unreadable {
                path: path.display().to_string(),
                source,
            }
        })?;
        Self::parse_resolv_conf(&text, &path.display().to_string())
    }

    /// The resolvers named in resolv.conf text (resolv.conf(5)).
    ///
    /// Uses every `nameserver` (port 53; an IPv6 scope is kept when numeric)
    /// and `options timeout:N attempts:N` (capped at 30 s and 5 as glibc does;
    /// where the text is silent, glibc's own defaults apply: 5 s and 2, so that
    /// mxkit waits as long as the system's resolver would). `search`,
    /// `domain` and `ndots` are ignored: names are always absolute. Lines the
    /// parser does not know are skipped, as glibc skips them.
    pub fn from_resolv_conf(text: &str) -> Result<Self, ConfigError> {
        Self::parse_resolv_conf(text.as_bytes(), "resolv.conf")
    }

    fn parse_resolv_conf(text: &[u8], source: &str) -> Result<Self, ConfigError> {
        let (parsed, errors) = resolv_conf::Config::parse_with_errors(text);
        for e in &errors {
            tracing::debug!("{source}: skipped: {e}");
        }
        let servers: Vec<SocketAddr> = parsed
            .nameservers
            .iter()
            .map(|ip| match ip {
                resolv_conf::ScopedIp::V4(v4) => SocketAddr::from((*v4, DNS_PORT)),
                resolv_conf::ScopedIp::V6(v6, scope) => {
                    let scope_id = scope.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0);
                    SocketAddr::V6(SocketAddrV6::new(*v6, DNS_PORT, 0, scope_id))
                }
            })
            .collect();
        if servers.is_empty() {
            return Err(ConfigError::NoNameserver(source.to_owned()));
        }
        let mut cfg = EngineConfig::new(servers);
        cfg.timeout = Duration::from_secs(parsed.timeout.clamp(1, RESOLV_MAX_TIMEOUT).into());
        cfg.attempts = parsed.attempts.clamp(1, RESOLV_MAX_ATTEMPTS);
        Ok(cfg)
    }
}

/// Why no [`EngineConfig`] could be read from the system.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The resolv.conf file could not be read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file names no usable `nameserver`.
    #[error("no nameserver in {0}")]
    NoNameserver(String),
}

/// The live DNS engine. Cheap to clone: clones share sockets and the pending
/// tables. Dropping the last clone stops the receive tasks.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.cfg)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl Engine {
    /// Bind `udp_sockets` UDP sockets for each address family the servers
    /// need (`0.0.0.0:0`, `[::]:0`) and start one receive task per socket.
    ///
    /// Must be called inside a tokio runtime. Fails when `servers` is empty or
    /// a socket cannot be bound.
    pub async fn new(cfg: EngineConfig) -> io::Result<Engine> {
        if cfg.servers.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the DNS engine needs at least one server",
            ));
        }
        let mut seeder = match cfg.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => rand::make_rng::<StdRng>(),
        };
        let tallies = Arc::new(Tallies::new(&cfg.servers));
        let per_family = cfg.udp_sockets.max(1);
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut tasks = Vec::new();
        for (wanted, unspecified, list) in [
            (
                cfg.servers.iter().any(SocketAddr::is_ipv4),
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                &mut v4,
            ),
            (
                cfg.servers.iter().any(SocketAddr::is_ipv6),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                &mut v6,
            ),
        ] {
            if !wanted {
                continue;
            }
            for _ in 0..per_family {
                let socket = bind_udp(SocketAddr::new(unspecified, 0))?;
                let channel = Arc::new(Channel::new(socket, StdRng::from_rng(&mut seeder)));
                let task = tokio::spawn(receive(Arc::clone(&channel), Arc::clone(&tallies)));
                tasks.push(task.abort_handle());
                let task = tokio::spawn(send(Arc::clone(&channel)));
                tasks.push(task.abort_handle());
                list.push(channel);
            }
        }
        let pacer = cfg.rate.map(Pacer::new);
        let server_texts = cfg
            .servers
            .iter()
            .map(|s| Arc::from(s.to_string()))
            .collect();
        Ok(Engine {
            inner: Arc::new(Inner {
                server_texts,
                tcp_slots: Semaphore::new(TCP_CONNECTIONS - TCP_IDLE),
                tcp_idle: Mutex::new(Vec::new()),
                cfg,
                v4,
                v6,
                next: AtomicUsize::new(0),
                tallies,
                tasks,
                meter: Meter::new(),
                pacer,
            }),
        })
    }

    /// What the engine did so far: queries, resends, timeouts, TCP re-asks.
    pub fn meter(&self) -> MeterReading {
        self.inner.meter.read()
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.cfg
    }

    /// Queries waiting for a UDP reply right now (all sockets).
    pub fn in_flight(&self) -> usize {
        self.inner
            .v4
            .iter()
            .chain(&self.inner.v6)
            .map(|c| c.lock().pending.len())
            .sum()
    }

    /// Ask the servers `name` (made absolute) for `rtype` records.
    pub async fn ask(&self, name: &Name, rtype: RecordType) -> Response {
        self.inner.ask(name, rtype).await
    }
}

impl Lookup for Engine {
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> BoxFuture<'a, Response> {
        Box::pin(self.inner.ask(name, rtype))
    }
}

/// What the clones of an [`Engine`] share.
struct Inner {
    cfg: EngineConfig,
    v4: Vec<Arc<Channel>>,
    v6: Vec<Arc<Channel>>,
    /// Round-robin over the channels of a family.
    next: AtomicUsize,
    tallies: Arc<Tallies>,
    tasks: Vec<AbortHandle>,
    meter: Meter,
    pacer: Option<Pacer>,
    /// Limits the TCP connections open at once.
    tcp_slots: Semaphore,
    /// TCP connections kept open for reuse, with their server.
    tcp_idle: Mutex<Vec<(SocketAddr, TcpStream)>>,
    /// `cfg.servers` as text, for responses.
    server_texts: Vec<Arc<str>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// One UDP socket and the queries waiting on it.
struct Channel {
    socket: UdpSocket,
    table: Mutex<Table>,
    /// Queries waiting for the channel's send task.
    outbox: Mutex<Outbox>,
    /// Wakes the send task when the outbox gets its first query.
    wake_sender: Notify,
}

/// The packets waiting to be sent: resends leave first, at the head of the
/// burst, where a server's full receive buffer does not drop them (a packet
/// lost once is likely to be lost again if it always lands at the tail of a
/// burst).
#[derive(Default)]
struct Outbox {
    again: Vec<Outgoing>,
    first: Vec<Outgoing>,
}

/// One query on its way out: its packet (with its ID) and where to.
struct Outgoing {
    packet: Vec<u8>,
    to: SocketAddr,
}

/// What a waiting query is handed.
enum Delivery {
    /// An acceptable reply.
    Reply(Reply),
    /// The query could not be sent (the socket's error).
    SendFailed(String),
}

/// The pending table of one channel, and the ID generator that fills it (one
/// lock for both: drawing an ID and registering it is one step).
struct Table {
    /// foldhash: looked up three times per query (SipHash showed in
    /// `scan` profiles); keyed by random IDs, seeded per process.
    pending: HashMap<(u16, SocketAddr), Pending, foldhash::fast::RandomState>,
    rng: StdRng,
}

/// A query waiting for its reply.
struct Pending {
    name: Name,
    rtype: RecordType,
    reply: Option<oneshot::Sender<Delivery>>,
    /// Replies that named this query (its ID) but were not acceptable.
    ignored: u32,
    last_ignored: Option<String>,
}

impl Pending {
    fn ignore(&mut self, why: String) {
        tracing::debug!("ignored reply: {why}");
        self.ignored = self.ignored.saturating_add(1);
        self.last_ignored = Some(why);
    }
}

impl Channel {
    fn new(socket: UdpSocket, rng: StdRng) -> Self {
        Channel {
            socket,
            table: Mutex::new(Table {
                pending: HashMap::default(),
                rng,
            }),
            outbox: Mutex::new(Outbox::default()),
            wake_sender: Notify::new(),
        }
    }

    /// Hand a packet to the send task. Queries made while the task that
    /// makes them runs leave together when it yields: a burst keeps the
    /// server busy instead of waking it once per packet (on loopback, each
    /// wake-up cost the client about a tenth of its time).
    fn queue(&self, packet: &[u8], to: SocketAddr, again: bool) {
        let first = {
            let mut outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
            let was_empty = outbox.again.is_empty() && outbox.first.is_empty();
            let out = Outgoing {
                packet: packet.to_vec(),
                to,
            };
            if again {
                outbox.again.push(out);
            } else {
                outbox.first.push(out);
            }
            was_empty
        };
        if first {
            self.wake_sender.notify_one();
        }
    }

    /// Tell the query waiting on (`id`, `to`) that its packet could not be sent.
    fn fail(&self, packet: &[u8], to: SocketAddr, why: String) {
        let Some(id) = packet.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            return;
        };
        let mut table = self.lock();
        if let Some(tx) = table
            .pending
            .get_mut(&(id, to))
            .and_then(|p| p.reply.take())
        {
            let _ = tx.send(Delivery::SendFailed(why));
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Draw a fresh ID for `server` and register the query under it.
    fn register(
        &self,
        name: &Name,
        rtype: RecordType,
        server: SocketAddr,
    ) -> Option<Registration<'_>> {
        let mut table = self.lock();
        for _ in 0..ID_DRAWS {
            let id: u16 = table.rng.random();
            let jitter: u16 = table.rng.random();
            if let Entry::Vacant(slot) = table.pending.entry((id, server)) {
                let (tx, rx) = oneshot::channel();
                slot.insert(Pending {
                    name: name.clone(),
                    rtype,
                    reply: Some(tx),
                    ignored: 0,
                    last_ignored: None,
                });
                return Some(Registration {
                    channel: self,
                    key: (id, server),
                    reply: rx,
                    jitter,
                    removed: false,
                });
            }
        }
        None
    }

    /// Route one received datagram to the query it answers, or count it as ignored.
    fn dispatch(&self, packet: &[u8], from: SocketAddr, tallies: &Tallies) {
        let Some(id) = packet.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            tallies.ignore(
                from,
                format!("undecodable: {} byte(s) from {from}", packet.len()),
            );
            return;
        };
        // Cheap checks first: a reply nobody waits for is not decoded at all.
        {
            let mut table = self.lock();
            if !table.pending.contains_key(&(id, from)) {
                let asked = tallies
                    .servers
                    .iter()
                    .copied()
                    .find(|s| *s != from && table.pending.contains_key(&(id, *s)));
                match asked.and_then(|s| table.pending.get_mut(&(id, s))) {
                    Some(p) => p.ignore(format!(
                        "reply from unexpected address {from} (asked {})",
                        asked.map(|s| s.to_string()).unwrap_or_default()
                    )),
                    None => {
                        drop(table);
                        tallies.ignore(from, format!("wrong ID {id} from {from}"));
                    }
                }
                return;
            }
        }
        let decoded = walk::read(packet, decode);
        let mut table = self.lock();
        let Some(pending) = table.pending.get_mut(&(id, from)) else {
            // The query gave up between the two locks.
            return;
        };
        match decoded.and_then(|msg| accept(msg, &pending.name, pending.rtype)) {
            Err(why) => pending.ignore(format!("{why} from {from}")),
            Ok(msg) => {
                // The entry stays until the query's registration removes it:
                // only the owner removes an entry, so its (ID, server) cannot
                // be drawn by another query and then removed under it. A
                // duplicate of the reply finds no sender and is dropped.
                if let Some(tx) = pending.reply.take() {
                    // The receiver is gone only if the query was dropped meanwhile.
                    let _ = tx.send(Delivery::Reply(msg));
                }
            }
        }
    }
}

/// Where and how one UDP try goes.
struct TryTo {
    server: SocketAddr,
    /// The round's wait ([`EngineConfig::try_timeout`]), before jitter.
    wait: Duration,
    /// A resend of the question (sent at the head of the next burst).
    again: bool,
}

/// A query's entry in a pending table; removes it when dropped, so a query
/// future that is dropped (cancelled) never leaves an entry behind.
struct Registration<'a> {
    channel: &'a Channel,
    key: (u16, SocketAddr),
    reply: oneshot::Receiver<Delivery>,
    /// A random draw that spreads this try's wait (see [`Registration::wait`]).
    jitter: u16,
    removed: bool,
}

impl Registration<'_> {
    fn id(&self) -> u16 {
        self.key.0
    }

    /// `wait` moved at random within an eighth of it either way, so that
    /// tries sent together (a window's first burst that a server's full
    /// buffer dropped) do not all time out, and come back, together.
    fn wait(&self, wait: Duration) -> Duration {
        let spread = wait / 4;
        (wait - wait / 8)
            .saturating_add(spread.mul_f64(f64::from(self.jitter) / f64::from(u16::MAX)))
    }

    /// What the entry has collected of replies it could not accept, reset
    /// (the entry stays).
    fn take_ignored(&self) -> (u32, Option<String>) {
        match self.channel.lock().pending.get_mut(&self.key) {
            Some(p) => (std::mem::take(&mut p.ignored), p.last_ignored.take()),
            None => (0, None),
        }
    }

    /// Remove the entry now and return what it collected.
    fn remove(&mut self) -> Option<Pending> {
        self.removed = true;
        self.channel.lock().pending.remove(&self.key)
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if !self.removed {
            self.remove();
        }
    }
}

/// The engine's counters (relaxed atomics: they are statistics, and the
/// adaptive window of `scan` reads them as congestion signals).
struct Meter {
    started: Instant,
    questions: AtomicU64,
    queries: AtomicU64,
    resends: AtomicU64,
    timeouts: AtomicU64,
    replies: AtomicU64,
    error_rcodes: AtomicU64,
    tcp: AtomicU64,
    network_errors: AtomicU64,
    /// Microseconds from `started` to the last usable reply, plus one (0: none yet).
    last_reply_us: AtomicU64,
}

/// A reading of the engine's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeterReading {
    /// Questions asked ([`Engine::ask`] calls).
    pub questions: u64,
    /// UDP tries sent (first sends and resends).
    pub queries: u64,
    /// UDP tries after the first one of a question (lost packets, failing servers).
    pub resends: u64,
    /// UDP tries that got no usable reply within the timeout.
    pub timeouts: u64,
    /// Usable UDP replies (any rcode).
    pub replies: u64,
    /// Replies with an error rcode (SERVFAIL, REFUSED, ...).
    pub error_rcodes: u64,
    /// Questions re-asked over TCP because the UDP reply was truncated.
    pub tcp: u64,
    /// Tries that failed with a local network error (no socket, send failed).
    pub network_errors: u64,
    /// Time since the last usable reply (or since the engine started when
    /// none came yet).
    pub since_last_reply: Duration,
}

impl Meter {
    fn new() -> Self {
        Meter {
            started: Instant::now(),
            questions: AtomicU64::new(0),
            queries: AtomicU64::new(0),
            resends: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            replies: AtomicU64::new(0),
            error_rcodes: AtomicU64::new(0),
            tcp: AtomicU64::new(0),
            network_errors: AtomicU64::new(0),
            last_reply_us: AtomicU64::new(0),
        }
    }

    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn replied(&self) {
        Self::add(&self.replies);
        let us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last_reply_us
            .fetch_max(us.saturating_add(1), Ordering::Relaxed);
    }

    fn read(&self) -> MeterReading {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let now = self.started.elapsed();
        let last = Duration::from_micros(load(&self.last_reply_us).saturating_sub(1));
        MeterReading {
            questions: load(&self.questions),
            queries: load(&self.queries),
            resends: load(&self.resends),
            timeouts: load(&self.timeouts),
            replies: load(&self.replies),
            error_rcodes: load(&self.error_rcodes),
            tcp: load(&self.tcp),
            network_errors: load(&self.network_errors),
            since_last_reply: now.saturating_sub(last),
        }
    }
}

/// `rate` queries per second at most: each send takes the next free slot
/// (one every 1/rate seconds) and waits for it; up to [`PACER_BURST`] of
/// unused slots are kept after a pause (a virtual-time token bucket).
struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

/// How much unused sending time a [`Pacer`] keeps for a burst.
const PACER_BURST: Duration = Duration::from_millis(20);

impl Pacer {
    fn new(rate: u32) -> Self {
        Pacer {
            interval: Duration::from_secs_f64(1.0 / f64::from(rate.max(1))),
            next: Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let now = Instant::now();
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
            let earliest = now.checked_sub(PACER_BURST).unwrap_or(now);
            let slot = (*next).max(earliest);
            *next = slot + self.interval;
            slot
        };
        if slot > now {
            tokio::time::sleep_until(slot.into()).await;
        }
    }
}

/// Counts of ignored datagrams that could not be tied to one query (wrong
/// ID, too short to hold an ID), per server; the last slot is for senders
/// that are not servers.
struct Tallies {
    servers: Vec<SocketAddr>,
    per: Vec<Tally>,
}

#[derive(Default)]
struct Tally {
    count: AtomicU64,
    last: Mutex<Option<String>>,
}

/// The tally counts of one server and of "other senders" when a try began.
#[derive(Clone, Copy)]
struct TallyMark {
    server: usize,
    at_server: u64,
    at_other: u64,
}

impl Tallies {
    fn new(servers: &[SocketAddr]) -> Self {
        Tallies {
            servers: servers.to_vec(),
            per: (0..=servers.len()).map(|_| Tally::default()).collect(),
        }
    }

    fn index(&self, addr: SocketAddr) -> usize {
        self.servers
            .iter()
            .position(|s| *s == addr)
            .unwrap_or(self.servers.len())
    }

    fn ignore(&self, from: SocketAddr, why: String) {
        tracing::debug!("ignored reply: {why}");
        let tally = &self.per[self.index(from)];
        *tally.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
        tally.count.fetch_add(1, Ordering::AcqRel);
    }

    fn mark(&self, server: SocketAddr) -> TallyMark {
        let server = self.index(server);
        TallyMark {
            server,
            at_server: self.per[server].count.load(Ordering::Acquire),
            at_other: self.per[self.servers.len()].count.load(Ordering::Acquire),
        }
    }

    /// Ignored datagrams from the server, or from non-servers, since `mark`.
    fn since(&self, mark: TallyMark) -> (u32, Option<String>) {
        let mut total = 0u32;
        let mut last = None;
        for (slot, at) in [
            (self.servers.len(), mark.at_other),
            (mark.server, mark.at_server),
        ] {
            let tally = &self.per[slot];
            let now = tally.count.load(Ordering::Acquire);
            let n = u32::try_from(now.saturating_sub(at)).unwrap_or(u32::MAX);
            if n > 0 {
                total = total.saturating_add(n);
                last = tally
                    .last
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
            }
        }
        (total, last)
    }
}

/// Bind a UDP socket with large kernel buffers, so that bursts of replies
/// are not dropped before the receive task reads them.
fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // The kernel caps these at net.core.rmem_max / wmem_max; a smaller
    // buffer than asked is not an error.
    let _ = socket.set_recv_buffer_size(UDP_BUFFER);
    let _ = socket.set_send_buffer_size(UDP_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Receive datagrams on one channel forever (until the engine is dropped),
/// a batch per system call (`mmsg`).
async fn receive(channel: Arc<Channel>, tallies: Arc<Tallies>) {
    // Each slot is larger than any UDP payload, so nothing is cut short by us.
    let mut bufs = mmsg::RecvBuffers::new();
    loop {
        if let Err(e) = channel.socket.readable().await {
            tracing::debug!("DNS socket receive error: {e}");
            tokio::task::yield_now().await;
            continue;
        }
        match mmsg::recv(&channel.socket, &mut bufs) {
            Ok(n) => {
                for i in 0..n {
                    match bufs.get(i) {
                        (packet, Some(from)) => channel.dispatch(packet, from, &tallies),
                        (_, None) => tracing::debug!("datagram from an unreadable address"),
                    }
                }
                if n == mmsg::BATCH {
                    // More may be waiting: let the queries just answered run first.
                    tokio::task::yield_now().await;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                // Unconnected UDP sockets report ICMP errors on some systems;
                // none of them concerns a single query. Yield so that a
                // persistent error cannot spin the runtime.
                tracing::debug!("DNS socket receive error: {e}");
                tokio::task::yield_now().await;
            }
        }
    }
}

/// Send what the channel's queries queue, in order, until the engine is
/// dropped. A full socket buffer waits for room; any other error is handed
/// to the query whose packet it was.
async fn send(channel: Arc<Channel>) {
    let mut batch = Outbox::default();
    let mut sender = mmsg::Sender::new(&channel.socket);
    loop {
        channel.wake_sender.notified().await;
        loop {
            {
                let mut outbox = channel
                    .outbox
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                std::mem::swap(&mut *outbox, &mut batch);
            }
            if batch.again.is_empty() && batch.first.is_empty() {
                break;
            }
            // Resends stay ahead of first tries.
            let mut burst: Vec<Outgoing> =
                batch.again.drain(..).chain(batch.first.drain(..)).collect();
            // Packets for the same server of the same length side by side:
            // they leave as one segmented send (`mmsg`). Sorted within
            // each system call's share only: sorting the whole burst by
            // length would put the longest names at its tail every time,
            // where a server's full receive buffer drops them, try after
            // try.
            for chunk in burst.chunks_mut(mmsg::MAX_PACKETS) {
                chunk.sort_by_key(|o| (o.to, o.packet.len()));
            }
            let packets: Vec<(&[u8], SocketAddr)> =
                burst.iter().map(|o| (o.packet.as_slice(), o.to)).collect();
            let mut sent = 0;
            let mut since_yield = 0;
            while sent < packets.len() {
                // A long burst yields now and then, so that replies are
                // read (and the server's queue drained) in between.
                if since_yield >= SEND_BURST {
                    since_yield = 0;
                    tokio::task::yield_now().await;
                }
                match sender.send(&channel.socket, &packets[sent..]) {
                    Ok(n) => {
                        sent += n.max(1);
                        since_yield += n.max(1);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if let Err(e) = channel.socket.writable().await {
                            let out = &burst[sent];
                            channel.fail(&out.packet, out.to, e.to_string());
                            sent += 1;
                        }
                    }
                    Err(e) => {
                        // The first packet's error: its query hears of it;
                        // the rest go on.
                        let out = &burst[sent];
                        channel.fail(&out.packet, out.to, e.to_string());
                        sent += 1;
                    }
                }
            }
        }
    }
}

/// Decode a reply; never panics (a decoder panic is caught and reported as
/// undecodable). hickory's name decoder only follows compression pointers
/// backwards, so pointer loops end in an error, not a hang.
///
/// The header, the question, the answer and the authority sections are
/// decoded with hickory-proto; the additional section is only walked
/// (bounds-checked, nothing allocated): routing never uses it (RFC 5321
/// section 5.1: no glue, the addresses are asked for), except the OPT
/// record, whose upper rcode bits are merged into the response code (RFC
/// 6891 section 6.1.3). Decoding the additional records cost about a third
/// of the decode time of an MX reply with glue.
pub(crate) fn decode(packet: &[u8]) -> Result<Message, String> {
    if packet.len() < 12 {
        return Err(format!(
            "undecodable: {} byte(s), shorter than a DNS header",
            packet.len()
        ));
    }
    match catch_unwind(|| decode_sections(packet)) {
        Ok(Ok(msg)) => Ok(msg),
        Ok(Err(e)) => Err(format!("undecodable: {e}")),
        Err(_) => Err("undecodable: the decoder panicked".to_owned()),
    }
}

fn decode_sections(packet: &[u8]) -> Result<Message, String> {
    use hickory_proto::op::Header;
    use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
    let mut decoder = BinDecoder::new(packet);
    let Header {
        mut metadata,
        counts,
    } = Header::read(&mut decoder).map_err(|e| e.to_string())?;
    let mut queries = Vec::with_capacity(usize::from(counts.queries.min(4)));
    for _ in 0..counts.queries {
        queries.push(Query::read(&mut decoder).map_err(|e| e.to_string())?);
    }
    let op = metadata.op_code;
    let (answers, _, _) =
        Message::read_records(&mut decoder, usize::from(counts.answers), false, op)
            .map_err(|e| e.to_string())?;
    let (authorities, _, _) =
        Message::read_records(&mut decoder, usize::from(counts.authorities), false, op)
            .map_err(|e| e.to_string())?;
    let offset = packet.len() - decoder.len();
    let rcode_high = walk_additionals(packet, offset, counts.additionals)?;
    if let Some(high) = rcode_high {
        metadata.merge_response_code(high);
    }
    let mut msg = Message::new(metadata.id, metadata.message_type, metadata.op_code);
    msg.metadata = metadata;
    msg.queries = queries;
    msg.answers = answers;
    msg.authorities = authorities;
    Ok(msg)
}

/// Walk `count` records from `at` (RFC 1035 section 4.1.3) without decoding
/// them; return the upper rcode bits of the OPT record, if there is one.
/// Errors on a record that runs past the end, a second OPT record (RFC 6891
/// section 6.1.1) or a bad name.
pub(crate) fn walk_additionals(
    packet: &[u8],
    mut at: usize,
    count: u16,
) -> Result<Option<u8>, String> {
    let cut = || "unexpected end of input reached".to_owned();
    let mut high = None;
    for _ in 0..count {
        // The owner name: labels up to a zero octet or a compression pointer.
        loop {
            let len = *packet.get(at).ok_or_else(cut)?;
            match len & 0xc0 {
                0x00 if len == 0 => {
                    at += 1;
                    break;
                }
                0x00 => at += 1 + usize::from(len),
                0xc0 => {
                    packet.get(at + 1).ok_or_else(cut)?;
                    at += 2;
                    break;
                }
                _ => return Err(format!("unrecognized label code: {len:#04x}")),
            }
        }
        let fixed = packet.get(at..at + 10).ok_or_else(cut)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        if rtype == u16::from(RecordType::OPT) {
            if high.is_some() {
                return Err("more than one EDNS record".to_owned());
            }
            // TTL of OPT: extended RCODE (upper 8 bits), version, flags.
            high = Some(fixed[4]);
        }
        at += 10;
        packet.get(at..at + rdlength).ok_or_else(cut)?;
        at += rdlength;
    }
    Ok(high)
}

/// Accept a decoded reply for the question (`name` absolute, `rtype`, IN),
/// or say why not (RFC 5452 section 9.1). The ID and the source address were
/// checked before.
fn accept(msg: Reply, name: &Name, rtype: RecordType) -> Result<Reply, String> {
    if msg.metadata.message_type != MessageType::Response {
        return Err("not a response (QR bit clear)".to_owned());
    }
    match &msg.question {
        // Name equality is case-insensitive (RFC 4343).
        Some(q) if q.query_type == rtype && q.query_class == DNSClass::IN && q.name == *name => {}
        Some(q) => {
            return Err(format!(
                "wrong question ({} {} {})",
                q.name, q.query_class, q.query_type
            ));
        }
        None => return Err(format!("wrong question ({} questions)", msg.questions)),
    }
    Ok(msg)
}

/// The outcome of one UDP try.
enum Try {
    /// A reply, and the server it came from (an earlier try's server when
    /// that reply came late).
    Reply(Reply, SocketAddr),
    Timeout {
        ignored: u32,
        last: Option<String>,
    },
    Network(TempError),
}

/// What a server's reply means for the question.
enum Verdict {
    /// NOERROR or NXDOMAIN: the answer.
    Final(Response),
    /// An error rcode: ask the next server; this is returned if none does better.
    Failed(Response),
}

impl Inner {
    fn channel(&self, server: SocketAddr) -> Option<&Channel> {
        let list = if server.is_ipv4() { &self.v4 } else { &self.v6 };
        if list.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % list.len();
        Some(&list[i])
    }

    /// Build the query with ID 0; each try writes its own ID into bytes 0..2.
    ///
    /// Written by hand (the same octets as hickory's encoder, see the
    /// tests): a header with RD (as configured) and AD (RFC 6840 section
    /// 5.7: asks the resolver to report whether it validated the answer),
    /// the question as given (case kept), and an OPT record with the
    /// configured payload size (RFC 6891 section 6.1.2; values below 512
    /// are sent as 512, section 6.2.5), version 0, no flags.
    fn encode(&self, name: &Name, rtype: RecordType) -> Result<Vec<u8>, String> {
        let mut wire = Vec::with_capacity(12 + name.len() + 2 + 4 + 11);
        let flags: u16 = if self.cfg.recursion_desired {
            0x0100
        } else {
            0
        } | 0x0020;
        wire.extend_from_slice(&[0, 0]);
        wire.extend_from_slice(&flags.to_be_bytes());
        wire.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]);
        for label in name.iter() {
            let len = u8::try_from(label.len())
                .ok()
                .filter(|l| *l <= 63)
                .ok_or_else(|| format!("label of {} octets", label.len()))?;
            wire.push(len);
            wire.extend_from_slice(label);
        }
        wire.push(0);
        wire.extend_from_slice(&u16::from(rtype).to_be_bytes());
        wire.extend_from_slice(&u16::from(DNSClass::IN).to_be_bytes());
        // OPT: root owner, type 41, class = payload, TTL 0 (rcode, version, flags), no data.
        wire.push(0);
        wire.extend_from_slice(&u16::from(RecordType::OPT).to_be_bytes());
        wire.extend_from_slice(&self.cfg.edns_payload.max(512).to_be_bytes());
        wire.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        if wire.len() > MAX_QUERY_LEN {
            return Err(format!("query of {} bytes", wire.len()));
        }
        Ok(wire)
    }

    async fn ask(&self, name: &Name, rtype: RecordType) -> Response {
        let mut name = name.clone();
        name.set_fqdn(true);
        let mut wire = match self.encode(&name, rtype) {
            Ok(w) => w,
            Err(reason) => {
                return Response::status(
                    Status::Temporary(TempError::Malformed {
                        server: "(query not sent)".to_owned(),
                        reason: format!("cannot encode the query for {name}: {reason}"),
                    }),
                    "",
                );
            }
        };
        let servers = &self.cfg.servers;
        // A server that answered (with an error rcode, or truncated with no
        // TCP answer) is not asked again; rounds are for lost packets.
        let mut answered = vec![false; servers.len()];
        let mut failed: Option<Response> = None;
        let mut truncated: Option<SocketAddr> = None;
        let mut network: Option<TempError> = None;
        let mut timed_out = false;
        let mut ignored = 0u32;
        let mut last_ignored: Option<String> = None;
        let mut tries = 0u32;
        // Earlier tries stay registered until the question is answered: a
        // reply that comes after its try timed out (a slow server) still
        // answers the question while a later try waits.
        let mut earlier: Vec<Registration<'_>> = Vec::new();
        Meter::add(&self.meter.questions);
        for round in 0..self.cfg.attempts.max(1) {
            let wait = self.cfg.try_timeout(round);
            for (i, &server) in servers.iter().enumerate() {
                if answered[i] {
                    continue;
                }
                if tries > 0 {
                    Meter::add(&self.meter.resends);
                }
                tries += 1;
                let (msg, i, server) = match self
                    .udp_try(
                        &mut wire,
                        &name,
                        rtype,
                        TryTo {
                            server,
                            wait,
                            again: tries > 1,
                        },
                        &mut earlier,
                    )
                    .await
                {
                    Try::Reply(msg, from) => {
                        self.meter.replied();
                        let i = servers.iter().position(|s| *s == from).unwrap_or(i);
                        (msg, i, from)
                    }
                    Try::Timeout { ignored: n, last } => {
                        Meter::add(&self.meter.timeouts);
                        timed_out = true;
                        ignored = ignored.saturating_add(n);
                        last_ignored = last.or(last_ignored);
                        continue;
                    }
                    Try::Network(e) => {
                        Meter::add(&self.meter.network_errors);
                        network = Some(e);
                        continue;
                    }
                };
                let msg = if msg.metadata.truncation {
                    // RFC 1123 section 6.1.3.2: never use a truncated answer;
                    // RFC 7766 section 5: ask the same server over TCP.
                    Meter::add(&self.meter.tcp);
                    // Boxed: the TCP exchange is rare and large, and would
                    // otherwise grow every question's future.
                    match Box::pin(self.tcp_tries(&wire, &name, rtype, server)).await {
                        Ok(full) if !full.metadata.truncation => full,
                        Ok(_) => {
                            tracing::debug!("{server}: TC bit set over TCP too");
                            truncated = Some(server);
                            answered[i] = true;
                            continue;
                        }
                        Err(why) => {
                            tracing::debug!("{server}: truncated over UDP, TCP failed: {why}");
                            truncated = Some(server);
                            answered[i] = true;
                            continue;
                        }
                    }
                } else {
                    msg
                };
                match verdict(msg, self.server_texts[i].clone()) {
                    Verdict::Final(resp) => return resp,
                    Verdict::Failed(resp) => {
                        Meter::add(&self.meter.error_rcodes);
                        failed = Some(resp);
                        answered[i] = true;
                    }
                }
            }
            if answered.iter().all(|a| *a) {
                break;
            }
        }
        if let Some(server) = truncated {
            return Response::status(Status::Truncated, server.to_string());
        }
        if let Some(resp) = failed {
            return resp;
        }
        let servers_text = servers
            .iter()
            .map(SocketAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        match network {
            Some(e) if !timed_out => Response::status(Status::Temporary(e), servers_text),
            _ => Response::status(
                Status::Temporary(TempError::Timeout {
                    servers: servers_text.clone(),
                    ignored,
                    last_ignored,
                }),
                servers_text,
            ),
        }
    }

    /// Send the query over UDP as `to` says and wait for an acceptable reply.
    async fn udp_try<'s>(
        &'s self,
        wire: &mut [u8],
        name: &Name,
        rtype: RecordType,
        to: TryTo,
        earlier: &mut Vec<Registration<'s>>,
    ) -> Try {
        let TryTo {
            server,
            wait,
            again,
        } = to;
        let network = |reason: String| {
            Try::Network(TempError::Network {
                server: server.to_string(),
                reason,
            })
        };
        let Some(channel) = self.channel(server) else {
            return network("no socket for its address family".to_owned());
        };
        let Some(mut reg) = channel.register(name, rtype, server) else {
            return network("no free query ID (too many queries in flight)".to_owned());
        };
        wire[..2].copy_from_slice(&reg.id().to_be_bytes());
        let wait = reg.wait(wait);
        if let Some(pacer) = &self.pacer {
            Box::pin(pacer.wait()).await;
        }
        Meter::add(&self.meter.queries);
        let mark = self.tallies.mark(server);
        channel.queue(wire, server, again);
        // This try's reply, or a late one to an earlier try of the question.
        let waited = if earlier.iter().all(|e| e.reply.is_terminated()) {
            // The common case: no earlier try is waiting.
            match tokio::time::timeout(wait, &mut reg.reply).await {
                Ok(Ok(delivery)) => Some((delivery, server)),
                // The sender is only dropped with the entry; treat as no reply.
                Ok(Err(_)) | Err(_) => None,
            }
        } else {
            let waits: Vec<_> = std::iter::once((server, &mut reg.reply))
                .chain(earlier.iter_mut().map(|e| (e.key.1, &mut e.reply)))
                .filter(|(_, r)| !r.is_terminated())
                .map(|(from, r)| Box::pin(async move { (r.await, from) }))
                .collect();
            let first = async {
                let mut waits = waits;
                loop {
                    let ((delivery, from), _, rest) = futures::future::select_all(waits).await;
                    match delivery {
                        Ok(Delivery::Reply(msg)) => return Some((Delivery::Reply(msg), from)),
                        Ok(Delivery::SendFailed(why)) if from == server => {
                            return Some((Delivery::SendFailed(why), from));
                        }
                        // An earlier try's send failure or a dropped entry:
                        // that wait is over, the others go on.
                        _ if rest.is_empty() => return None,
                        _ => waits = rest,
                    }
                }
            };
            tokio::time::timeout(wait, first).await.ok().flatten()
        };
        match waited {
            Some((Delivery::Reply(msg), from)) => Try::Reply(msg, from),
            Some((Delivery::SendFailed(why), _)) => network(why),
            None => {
                let (n, last) = self.tallies.since(mark);
                let (own_n, own_last) = reg.take_ignored();
                earlier.push(reg);
                Try::Timeout {
                    ignored: n.saturating_add(own_n),
                    last: own_last.or(last),
                }
            }
        }
    }

    /// Ask `server` over TCP after a truncated UDP reply: up to
    /// [`EngineConfig::attempts`] connections, one after the other, while
    /// the exchange fails (refused, reset, timed out: under load a server's
    /// listen queue drops connection attempts, and the kernel would retry
    /// only after a second); an answer, even one with the TC bit again, ends
    /// it. At most [`TCP_CONNECTIONS`] connections are open at once (RFC
    /// 7766 section 6.2.2: a client should limit its concurrent
    /// connections to a server); waiting for one does not count against the
    /// timeout. Up to [`TCP_IDLE`] connections stay open after a clean
    /// exchange and are used again (RFC 7766 section 6.2.1), so that the
    /// truncated answers of a bulk run do not each cost a handshake.
    async fn tcp_tries(
        &self,
        wire: &[u8],
        name: &Name,
        rtype: RecordType,
        server: SocketAddr,
    ) -> Result<Reply, String> {
        let mut last = String::new();
        for _ in 0..self.cfg.attempts.max(1) {
            let _slot = self.tcp_slots.acquire().await;
            if let Some(pacer) = &self.pacer {
                pacer.wait().await;
            }
            match self.tcp_try(wire, name, rtype, server).await {
                Ok(msg) => return Ok(msg),
                Err(why) => {
                    tracing::debug!("{server}: TCP try failed: {why}");
                    last = why;
                }
            }
        }
        Err(last)
    }

    /// Ask `server` over TCP (2-byte length prefix, RFC 1035 section 4.2.2)
    /// and wait for an acceptable reply, within one timeout.
    async fn tcp_try(
        &self,
        wire: &[u8],
        name: &Name,
        rtype: RecordType,
        server: SocketAddr,
    ) -> Result<Reply, String> {
        let id: u16 = match self.channel(server) {
            Some(channel) => channel.lock().rng.random(),
            None => rand::random(),
        };
        let mut out = Vec::with_capacity(wire.len() + 2);
        out.extend_from_slice(&u16::try_from(wire.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(wire);
        out[2..4].copy_from_slice(&id.to_be_bytes());
        let mut last_ignored = None;
        // A connection left open by an earlier exchange first (RFC 7766
        // section 6.2.1: reuse connections); one the server has closed
        // meanwhile fails at once, and a new one is opened in its place.
        if let Some(mut stream) = self.idle_tcp(server) {
            let exchange = tcp_exchange(&mut stream, &out, id, name, rtype, &mut last_ignored);
            match tokio::time::timeout(self.cfg.timeout, exchange).await {
                Ok(Ok(msg)) => {
                    self.keep_tcp(server, stream);
                    return Ok(msg);
                }
                Ok(Err(why)) => {
                    tracing::debug!(
                        "{server}: kept TCP connection failed ({why}), opening another"
                    );
                }
                Err(_) => {
                    return Err(match last_ignored {
                        Some(why) => format!("timeout (last ignored: {why})"),
                        None => "timeout".to_owned(),
                    });
                }
            }
        }
        let exchange = async {
            let mut stream = TcpStream::connect(server)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let msg = tcp_exchange(&mut stream, &out, id, name, rtype, &mut last_ignored).await?;
            Ok((msg, stream))
        };
        match tokio::time::timeout(self.cfg.timeout, exchange).await {
            Ok(Ok((msg, stream))) => {
                self.keep_tcp(server, stream);
                Ok(msg)
            }
            Ok(Err(why)) => Err(why),
            Err(_) => Err(match last_ignored {
                Some(why) => format!("timeout (last ignored: {why})"),
                None => "timeout".to_owned(),
            }),
        }
    }

    /// A kept TCP connection to `server`, if there is one.
    fn idle_tcp(&self, server: SocketAddr) -> Option<TcpStream> {
        let mut idle = self.tcp_idle.lock().unwrap_or_else(PoisonError::into_inner);
        let i = idle.iter().position(|(to, _)| *to == server)?;
        Some(idle.swap_remove(i).1)
    }

    /// Keep a connection after a clean exchange, while fewer than
    /// [`TCP_IDLE`] are kept (else it is closed).
    fn keep_tcp(&self, server: SocketAddr, stream: TcpStream) {
        let mut idle = self.tcp_idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < TCP_IDLE {
            idle.push((server, stream));
        }
    }
}

/// Send one framed query (2-byte length prefix, RFC 1035 section 4.2.2) on
/// `stream` and read replies until the one with its ID that answers the
/// question; other replies are skipped (noted in `last_ignored`).
async fn tcp_exchange(
    stream: &mut TcpStream,
    out: &[u8],
    id: u16,
    name: &Name,
    rtype: RecordType,
    last_ignored: &mut Option<String>,
) -> Result<Reply, String> {
    stream
        .write_all(out)
        .await
        .map_err(|e| format!("write: {e}"))?;
    loop {
        let mut len = [0u8; 2];
        stream
            .read_exact(&mut len)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream
            .read_exact(&mut body)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if body.get(..2) != Some(&id.to_be_bytes()[..]) {
            *last_ignored = Some("wrong ID".to_owned());
            continue;
        }
        match walk::read(&body, decode).and_then(|msg| accept(msg, name, rtype)) {
            Ok(msg) => return Ok(msg),
            Err(why) => {
                tracing::debug!("ignored TCP reply: {why}");
                *last_ignored = Some(why);
            }
        }
    }
}

/// Run one received datagram through the engine's reply handling, for the
/// question `name` (made absolute, as the engine does) / `rtype` / IN sent to
/// `server`: decode it, accept it (QR bit, the one question repeated, RFC 5452
/// section 9.1), refuse a truncated one, classify its rcode. For fuzzing and
/// tests; the engine itself calls the same private steps.
///
/// The query ID and the source address are not checked: the engine matches
/// them before it decodes anything, so a caller holding one datagram has
/// nothing to match them against.
///
/// `Ok` is the [`Response`] the engine would build from the datagram: NOERROR
/// and NXDOMAIN are final answers; any other rcode gives a
/// [`Status::Temporary`] response, which the engine keeps only if no other
/// server does better. `Err` is why the engine would not use the datagram:
/// undecodable, not a response, the wrong question, or truncated (TC bit: the
/// engine never uses it and asks the same server again over TCP, RFC 1123
/// section 6.1.3.2).
pub fn read_reply(
    packet: &[u8],
    name: &Name,
    rtype: RecordType,
    server: SocketAddr,
) -> Result<Response, String> {
    let mut name = name.clone();
    name.set_fqdn(true);
    let msg = walk::read(packet, decode).and_then(|msg| accept(msg, &name, rtype))?;
    if msg.metadata.truncation {
        return Err("truncated (TC bit): not used, asked again over TCP".to_owned());
    }
    match verdict(msg, server.to_string().into()) {
        Verdict::Final(resp) | Verdict::Failed(resp) => Ok(resp),
    }
}

/// Check the engine's reply walker against hickory-proto on one datagram:
/// `Err` when the walker reads it and hickory rejects it or reads something
/// else. For the `reply` fuzz target (and tests); see `dns::walk`.
#[doc(hidden)]
pub fn check_reply_walker(packet: &[u8]) -> Result<(), String> {
    let Some(walked) = walk::walk(packet) else {
        return Ok(());
    };
    match decode(packet).map(Reply::from_message) {
        Ok(reference) if reference == walked => Ok(()),
        Ok(reference) => Err(format!("the walker read {walked:?}, hickory {reference:?}")),
        Err(why) => Err(format!("the walker read what hickory rejects: {why}")),
    }
}

/// Classify a reply by its rcode and turn it into a [`Response`].
fn verdict(msg: Reply, server_text: Arc<str>) -> Verdict {
    let status = match msg.metadata.response_code {
        ResponseCode::NoError => Status::NoError,
        ResponseCode::NXDomain => Status::NxDomain,
        ResponseCode::ServFail => {
            return Verdict::Failed(Response::status(
                Status::Temporary(TempError::ServFail(server_text.to_string())),
                server_text,
            ));
        }
        ResponseCode::Refused => {
            return Verdict::Failed(Response::status(
                Status::Temporary(TempError::Refused(server_text.to_string())),
                server_text,
            ));
        }
        other => {
            return Verdict::Failed(Response::status(
                Status::Temporary(TempError::Rcode {
                    rcode: mnemonic(other),
                    server: server_text.to_string(),
                }),
                server_text,
            ));
        }
    };
    // RFC 2308 section 5: a negative answer is cached for min(SOA TTL, SOA
    // MINIMUM) (of the first SOA of the authority section, see `Reply`).
    let negative_ttl = msg.negative_ttl;
    let mut answers = msg.answers;
    if answers.len() > MAX_ANSWERS {
        tracing::warn!(
            "{server_text}: {} answer records, keeping the first {MAX_ANSWERS}",
            answers.len()
        );
        answers.truncate(MAX_ANSWERS);
    }
    Verdict::Final(Response {
        status,
        answers: answers.into(),
        negative_ttl,
        authentic: msg.metadata.authentic_data,
        authoritative: msg.metadata.authoritative,
        server: server_text,
    })
}

/// The IANA mnemonic of a response code (RFC 6895 section 2.3).
fn mnemonic(rcode: ResponseCode) -> String {
    let text = match rcode {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::YXDomain => "YXDOMAIN",
        ResponseCode::YXRRSet => "YXRRSET",
        ResponseCode::NXRRSet => "NXRRSET",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::NotZone => "NOTZONE",
        ResponseCode::BADVERS => "BADVERS",
        ResponseCode::BADSIG => "BADSIG",
        ResponseCode::BADKEY => "BADKEY",
        ResponseCode::BADTIME => "BADTIME",
        ResponseCode::BADMODE => "BADMODE",
        ResponseCode::BADNAME => "BADNAME",
        ResponseCode::BADALG => "BADALG",
        ResponseCode::BADTRUNC => "BADTRUNC",
        ResponseCode::BADCOOKIE => "BADCOOKIE",
        ResponseCode::Unknown(n) => return format!("RCODE{n}"),
    };
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, OpCode};
    use hickory_proto::rr::RData;

    /// Backoff and budget saturate instead of overflowing on absurd timeouts.
    #[test]
    fn backoff_saturates() {
        let mut cfg = EngineConfig::new(vec!["127.0.0.1:53".parse().unwrap(); 3]);
        cfg.timeout = Duration::MAX / 2;
        cfg.attempts = 40;
        assert_eq!(cfg.try_timeout(39), Duration::MAX);
        assert_eq!(cfg.budget(), Duration::MAX);
        cfg.timeout = Duration::from_millis(500);
        cfg.attempts = 5;
        assert_eq!(
            (0..6)
                .map(|r| cfg.try_timeout(r).as_millis())
                .collect::<Vec<_>>(),
            [500, 1000, 2000, 4000, 4000, 4000]
        );
    }

    #[test]
    fn query_sets_rd_ad_and_edns_payload() {
        let inner = Inner {
            cfg: EngineConfig::new(vec![SocketAddr::from(([127, 0, 0, 1], 53))]),
            v4: Vec::new(),
            v6: Vec::new(),
            next: AtomicUsize::new(0),
            tallies: Arc::new(Tallies::new(&[])),
            tasks: Vec::new(),
            meter: Meter::new(),
            pacer: None,
            tcp_slots: Semaphore::new(TCP_CONNECTIONS),
            tcp_idle: Mutex::new(Vec::new()),
            server_texts: Vec::new(),
        };
        let name = Name::from_ascii("Example.ORG.").unwrap();
        let wire = inner.encode(&name, RecordType::MX).unwrap();
        let msg = Message::from_vec(&wire).unwrap();
        assert!(msg.metadata.recursion_desired);
        assert!(msg.metadata.authentic_data, "RFC 6840 section 5.7");
        assert_eq!(msg.edns.as_ref().map(Edns::max_payload), Some(1232));
        assert_eq!(msg.queries.len(), 1);
        assert_eq!(msg.queries[0].query_type, RecordType::MX);
        assert_eq!(msg.queries[0].query_class, DNSClass::IN);
    }

    /// The hand-written query is octet for octet what hickory's encoder makes.
    #[test]
    fn query_encoding_matches_hickory() {
        for (rd, payload) in [(true, 1232u16), (false, 4096), (true, 100)] {
            let mut cfg = EngineConfig::new(vec![SocketAddr::from(([127, 0, 0, 1], 53))]);
            cfg.recursion_desired = rd;
            cfg.edns_payload = payload;
            let inner = Inner {
                cfg,
                v4: Vec::new(),
                v6: Vec::new(),
                next: AtomicUsize::new(0),
                tallies: Arc::new(Tallies::new(&[])),
                tasks: Vec::new(),
                meter: Meter::new(),
                pacer: None,
                tcp_slots: Semaphore::new(TCP_CONNECTIONS),
                tcp_idle: Mutex::new(Vec::new()),
                server_texts: Vec::new(),
            };
            for (text, rtype) in [
                ("Example.ORG.", RecordType::MX),
                ("xn--bcher-kva.example.", RecordType::AAAA),
                (".", RecordType::A),
            ] {
                let name = Name::from_ascii(text).unwrap();
                let mut msg = Message::new(0, MessageType::Query, OpCode::Query);
                msg.metadata.recursion_desired = rd;
                msg.metadata.authentic_data = true;
                msg.add_query(Query::query(name.clone(), rtype));
                let mut edns = Edns::new();
                edns.set_max_payload(payload.max(512));
                edns.set_version(0);
                msg.set_edns(edns);
                assert_eq!(
                    inner.encode(&name, rtype).unwrap(),
                    msg.to_vec().unwrap(),
                    "{text} {rtype} rd={rd} payload={payload}"
                );
            }
        }
    }

    /// The lean decoder agrees with hickory's on what routing uses, and
    /// merges the OPT record's upper rcode bits.
    #[test]
    fn lean_decode_matches_hickory_on_the_sections_it_keeps() {
        use hickory_proto::rr::Record;
        use hickory_proto::rr::rdata::{A, MX, SOA};
        let q = Name::from_ascii("example.").unwrap();
        let mut reply = Message::response(7, OpCode::Query);
        reply.add_query(Query::query(q.clone(), RecordType::MX));
        reply.add_answer(Record::from_rdata(
            q.clone(),
            60,
            RData::MX(MX::new(10, Name::from_ascii("mx.example.").unwrap())),
        ));
        reply.add_authority(Record::from_rdata(
            q.clone(),
            60,
            RData::SOA(SOA::new(q.clone(), q.clone(), 1, 2, 3, 4, 5)),
        ));
        reply.add_additional(Record::from_rdata(
            Name::from_ascii("mx.example.").unwrap(),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        // BADVERS (16) needs the OPT record's upper rcode bits.
        reply.metadata.response_code = ResponseCode::BADVERS;
        reply.set_edns(Edns::new());
        let wire = reply.to_vec().unwrap();
        let full = Message::from_vec(&wire).unwrap();
        let lean = decode(&wire).unwrap();
        assert_eq!(lean.metadata, full.metadata);
        assert_eq!(u16::from(lean.metadata.response_code), 16, "BADVERS");
        assert_eq!(lean.queries, full.queries);
        assert_eq!(lean.answers, full.answers);
        assert_eq!(lean.authorities, full.authorities);
        // Cut anywhere: never a panic, and an error wherever hickory errs too.
        for cut in 0..wire.len() {
            if Message::from_vec(&wire[..cut]).is_err() {
                assert!(decode(&wire[..cut]).is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn decode_never_panics_on_short_or_garbage_input() {
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = decode(&junk);
        }
    }

    /// Regression: an answered query's entry used to be removed by the
    /// receive task; another query could then draw the same (ID, server) and
    /// have it removed under it by the first query's registration.
    #[tokio::test]
    async fn an_answered_entry_is_removed_only_by_its_owner() {
        let channel = Channel::new(
            bind_udp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap(),
            StdRng::seed_from_u64(1),
        );
        let server = SocketAddr::from((Ipv4Addr::LOCALHOST, 53));
        let tallies = Tallies::new(&[server]);
        let name = Name::from_ascii("example.").unwrap();
        let mut reg = channel.register(&name, RecordType::A, server).unwrap();
        let mut reply = Message::response(reg.id(), OpCode::Query);
        reply.add_query(Query::query(name.clone(), RecordType::A));
        let reply = reply.to_vec().unwrap();
        channel.dispatch(&reply, server, &tallies);
        assert!(reg.reply.try_recv().is_ok(), "the reply was delivered");
        assert_eq!(channel.lock().pending.len(), 1, "the key stays taken");
        // A duplicate of the reply finds no sender: dropped, no panic.
        channel.dispatch(&reply, server, &tallies);
        drop(reg);
        assert!(channel.lock().pending.is_empty(), "the owner removed it");
    }

    #[test]
    fn rcode_mnemonics_are_iana_names() {
        assert_eq!(mnemonic(ResponseCode::NotImp), "NOTIMP");
        assert_eq!(mnemonic(ResponseCode::Unknown(3841)), "RCODE3841");
    }
}

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
//! - a **round** asks every server in turn once; there are
//!   [`EngineConfig::attempts`] rounds at most;
//! - an **ignored** reply is a datagram that did not match a query in flight
//!   (wrong ID, wrong question, wrong source address, undecodable); it is never
//!   used, only counted, so that a final timeout can say why nothing usable came.
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
//!   answer; RFC 7766 section 5: TCP is the fallback for truncation);
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
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use super::{BoxFuture, Lookup, Response, Status, TempError};

/// Default wait for one try (one server, one transport).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default number of rounds over all servers.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// Default EDNS0 UDP payload size (DNS flag day 2020: no IP fragmentation).
pub const DEFAULT_EDNS_PAYLOAD: u16 = 1232;
/// Default number of UDP sockets per address family.
pub const DEFAULT_UDP_SOCKETS: usize = 2;
/// Most answer records kept from one reply; the rest are dropped (with a
/// warning) so that a hostile or broken server cannot make us hold a huge set.
pub const MAX_ANSWERS: usize = 1000;
/// Where the system's resolver configuration lives.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Kernel send and receive buffer asked for each UDP socket (spec/scan.md: 8 MiB).
const UDP_BUFFER: usize = 8 << 20;
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
    /// Wait for one try (per server, per transport); default 2 s.
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
        }
    }

    /// The system's resolvers, from [`RESOLV_CONF`].
    pub fn from_system() -> Result<Self, ConfigError> {
        Self::from_resolv_conf_file(RESOLV_CONF)
    }

    /// The resolvers named in a resolv.conf file.
    pub fn from_resolv_conf_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read(path).map_err(|source| ConfigError::Unreadable {
            path: path.display().to_string(),
            source,
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
                let channel = Arc::new(Channel {
                    socket,
                    table: Mutex::new(Table {
                        pending: HashMap::new(),
                        rng: StdRng::from_rng(&mut seeder),
                    }),
                });
                let task = tokio::spawn(receive(Arc::clone(&channel), Arc::clone(&tallies)));
                tasks.push(task.abort_handle());
                list.push(channel);
            }
        }
        Ok(Engine {
            inner: Arc::new(Inner {
                cfg,
                v4,
                v6,
                next: AtomicUsize::new(0),
                tallies,
                tasks,
            }),
        })
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
}

/// The pending table of one channel, and the ID generator that fills it (one
/// lock for both: drawing an ID and registering it is one step).
struct Table {
    pending: HashMap<(u16, SocketAddr), Pending>,
    rng: StdRng,
}

/// A query waiting for its reply.
struct Pending {
    name: Name,
    rtype: RecordType,
    reply: Option<oneshot::Sender<Message>>,
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
        let decoded = decode(packet);
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
                    let _ = tx.send(msg);
                }
            }
        }
    }
}

/// A query's entry in a pending table; removes it when dropped, so a query
/// future that is dropped (cancelled) never leaves an entry behind.
struct Registration<'a> {
    channel: &'a Channel,
    key: (u16, SocketAddr),
    reply: oneshot::Receiver<Message>,
    removed: bool,
}

impl Registration<'_> {
    fn id(&self) -> u16 {
        self.key.0
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

/// Receive datagrams on one channel forever (until the engine is dropped).
async fn receive(channel: Arc<Channel>, tallies: Arc<Tallies>) {
    // Larger than any UDP payload, so nothing is cut short by us.
    let mut buf = vec![0u8; 65_535];
    loop {
        match channel.socket.recv_from(&mut buf).await {
            Ok((n, from)) => channel.dispatch(&buf[..n], from, &tallies),
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

/// Decode a message; never panics (a decoder panic is caught and reported as
/// undecodable). hickory's name decoder only follows compression pointers
/// backwards, so pointer loops end in an error, not a hang.
fn decode(packet: &[u8]) -> Result<Message, String> {
    if packet.len() < 12 {
        return Err(format!(
            "undecodable: {} byte(s), shorter than a DNS header",
            packet.len()
        ));
    }
    match catch_unwind(|| Message::from_vec(packet)) {
        Ok(Ok(msg)) => Ok(msg),
        Ok(Err(e)) => Err(format!("undecodable: {e}")),
        Err(_) => Err("undecodable: the decoder panicked".to_owned()),
    }
}

/// Accept a decoded reply for the question (`name` absolute, `rtype`, IN),
/// or say why not (RFC 5452 section 9.1). The ID and the source address were
/// checked before.
fn accept(msg: Message, name: &Name, rtype: RecordType) -> Result<Message, String> {
    if msg.metadata.message_type != MessageType::Response {
        return Err("not a response (QR bit clear)".to_owned());
    }
    match msg.queries.as_slice() {
        // Name equality is case-insensitive (RFC 4343).
        [q] if q.query_type == rtype && q.query_class == DNSClass::IN && q.name == *name => {}
        [q] => {
            return Err(format!(
                "wrong question ({} {} {})",
                q.name, q.query_class, q.query_type
            ));
        }
        qs => return Err(format!("wrong question ({} questions)", qs.len())),
    }
    Ok(msg)
}

/// The outcome of one UDP try.
enum Try {
    Reply(Message),
    Timeout { ignored: u32, last: Option<String> },
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
    fn encode(&self, name: &Name, rtype: RecordType) -> Result<Vec<u8>, String> {
        let mut msg = Message::new(0, MessageType::Query, OpCode::Query);
        msg.metadata.recursion_desired = self.cfg.recursion_desired;
        // RFC 6840 section 5.7: AD in a query asks the resolver to report
        // whether it validated the answer.
        msg.metadata.authentic_data = true;
        msg.add_query(Query::query(name.clone(), rtype));
        let mut edns = Edns::new();
        // RFC 6891 section 6.2.5: values below 512 are treated as 512.
        edns.set_max_payload(self.cfg.edns_payload.max(512));
        edns.set_version(0);
        msg.set_edns(edns);
        let wire = msg.to_vec().map_err(|e| e.to_string())?;
        if wire.len() > MAX_QUERY_LEN {
            return Err(format!("query of {} bytes", wire.len()));
        }
        Ok(wire)
    }

    async fn ask(&self, name: &Name, rtype: RecordType) -> Response {
        let mut name = name.clone();
        name.set_fqdn(true);
        let wire = match self.encode(&name, rtype) {
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
        for _round in 0..self.cfg.attempts.max(1) {
            for (i, &server) in servers.iter().enumerate() {
                if answered[i] {
                    continue;
                }
                let msg = match self.udp_try(&wire, &name, rtype, server).await {
                    Try::Reply(msg) => msg,
                    Try::Timeout { ignored: n, last } => {
                        timed_out = true;
                        ignored = ignored.saturating_add(n);
                        last_ignored = last.or(last_ignored);
                        continue;
                    }
                    Try::Network(e) => {
                        network = Some(e);
                        continue;
                    }
                };
                let msg = if msg.metadata.truncation {
                    // RFC 1123 section 6.1.3.2: never use a truncated answer;
                    // RFC 7766 section 5: ask the same server over TCP.
                    match self.tcp_try(&wire, &name, rtype, server).await {
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
                match verdict(msg, server) {
                    Verdict::Final(resp) => return resp,
                    Verdict::Failed(resp) => {
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

    /// Send the query to `server` over UDP and wait for an acceptable reply.
    async fn udp_try(
        &self,
        wire: &[u8],
        name: &Name,
        rtype: RecordType,
        server: SocketAddr,
    ) -> Try {
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
        let mut packet = [0u8; MAX_QUERY_LEN];
        let packet = &mut packet[..wire.len()];
        packet.copy_from_slice(wire);
        packet[..2].copy_from_slice(&reg.id().to_be_bytes());
        let mark = self.tallies.mark(server);
        if let Err(e) = channel.socket.send_to(packet, server).await {
            return network(e.to_string());
        }
        match tokio::time::timeout(self.cfg.timeout, &mut reg.reply).await {
            Ok(Ok(msg)) => Try::Reply(msg),
            // The sender is only dropped with the entry; treat as no reply.
            Ok(Err(_)) | Err(_) => {
                let own = reg.remove();
                let (n, last) = self.tallies.since(mark);
                let (own_n, own_last) = own
                    .map(|p| (p.ignored, p.last_ignored))
                    .unwrap_or((0, None));
                Try::Timeout {
                    ignored: n.saturating_add(own_n),
                    last: own_last.or(last),
                }
            }
        }
    }

    /// Ask `server` over TCP (2-byte length prefix, RFC 1035 section 4.2.2)
    /// and wait for an acceptable reply, within one timeout.
    async fn tcp_try(
        &self,
        wire: &[u8],
        name: &Name,
        rtype: RecordType,
        server: SocketAddr,
    ) -> Result<Message, String> {
        let id: u16 = match self.channel(server) {
            Some(channel) => channel.lock().rng.random(),
            None => rand::random(),
        };
        let mut out = Vec::with_capacity(wire.len() + 2);
        out.extend_from_slice(&u16::try_from(wire.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(wire);
        out[2..4].copy_from_slice(&id.to_be_bytes());
        let mut last_ignored = None;
        let exchange = async {
            let mut stream = TcpStream::connect(server)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            stream
                .write_all(&out)
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
                    last_ignored = Some("wrong ID".to_owned());
                    continue;
                }
                match decode(&body).and_then(|msg| accept(msg, name, rtype)) {
                    Ok(msg) => return Ok(msg),
                    Err(why) => {
                        tracing::debug!("ignored TCP reply from {server}: {why}");
                        last_ignored = Some(why);
                    }
                }
            }
        };
        match tokio::time::timeout(self.cfg.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(match last_ignored {
                Some(why) => format!("timeout (last ignored: {why})"),
                None => "timeout".to_owned(),
            }),
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
    let msg = decode(packet).and_then(|msg| accept(msg, &name, rtype))?;
    if msg.metadata.truncation {
        return Err("truncated (TC bit): not used, asked again over TCP".to_owned());
    }
    match verdict(msg, server) {
        Verdict::Final(resp) | Verdict::Failed(resp) => Ok(resp),
    }
}

/// Classify a reply by its rcode and turn it into a [`Response`].
fn verdict(msg: Message, server: SocketAddr) -> Verdict {
    let server_text = server.to_string();
    let status = match msg.metadata.response_code {
        ResponseCode::NoError => Status::NoError,
        ResponseCode::NXDomain => Status::NxDomain,
        ResponseCode::ServFail => {
            return Verdict::Failed(Response::status(
                Status::Temporary(TempError::ServFail(server_text.clone())),
                server_text,
            ));
        }
        ResponseCode::Refused => {
            return Verdict::Failed(Response::status(
                Status::Temporary(TempError::Refused(server_text.clone())),
                server_text,
            ));
        }
        other => {
            return Verdict::Failed(Response::status(
                Status::Temporary(TempError::Rcode {
                    rcode: mnemonic(other),
                    server: server_text.clone(),
                }),
                server_text,
            ));
        }
    };
    // RFC 2308 section 5: a negative answer is cached for min(SOA TTL, SOA MINIMUM).
    let negative_ttl = msg.authorities.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
        _ => None,
    });
    let mut answers = msg.answers;
    if answers.len() > MAX_ANSWERS {
        tracing::warn!(
            "{server}: {} answer records, keeping the first {MAX_ANSWERS}",
            answers.len()
        );
        answers.truncate(MAX_ANSWERS);
    }
    Verdict::Final(Response {
        status,
        answers,
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

    #[test]
    fn query_sets_rd_ad_and_edns_payload() {
        let inner = Inner {
            cfg: EngineConfig::new(vec![SocketAddr::from(([127, 0, 0, 1], 53))]),
            v4: Vec::new(),
            v6: Vec::new(),
            next: AtomicUsize::new(0),
            tallies: Arc::new(Tallies::new(&[])),
            tasks: Vec::new(),
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
        let channel = Channel {
            socket: bind_udp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap(),
            table: Mutex::new(Table {
                pending: HashMap::new(),
                rng: StdRng::seed_from_u64(1),
            }),
        };
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

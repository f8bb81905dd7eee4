//! The live engine: mxkit's own asynchronous stub resolver client.
//!
//! It sends each question to the configured recursive resolvers (the
//! **servers**, from resolv.conf or `--server`) and classifies what comes back
//! into a [`Response`]. It does its own I/O on tokio and uses hickory-proto
//! only as the message codec (hickory-resolver costs a socket per query and
//! several times the CPU, see docs/design.md).
//!
//! Its parts, one file each:
//! - `config`: resolver configuration ([`EngineConfig`], resolv.conf);
//! - `channel`: the UDP sockets, their receive and send tasks, and the
//!   routing of each datagram to the query it answers (`mmsg` batches their
//!   system calls);
//! - `pending`: the pending table of a channel and a query's registration
//!   in it (its ID, its jitter);
//! - `meter` and `pacer`: the counters ([`MeterReading`]) and the rate bound;
//! - `query`: the query state machine (rounds, tries, backoff, late
//!   replies);
//! - `tcp`: the TCP fallback after a truncated reply;
//! - `reply`: accepting and classifying a reply ([`read_reply`],
//!   [`ReplyError`]).
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
//!   (`recvmmsg`/`sendmmsg`, see the `mmsg` module), and the send task sends the
//!   packets of a burst that go to one server and have the same length as
//!   one segmented datagram where the kernel allows it (`UDP_SEGMENT`; the
//!   server still receives separate datagrams);
//! - the **meter** counts questions, tries, resends, timeouts, error rcodes
//!   and TCP re-asks, and when the last usable reply came ([`Engine::meter`]);
//!   `scan` reads it to size its window;
//! - the **pacer** holds tries back to [`EngineConfig::rate`] per second.
//!
//! The hot path avoids hickory-proto's message types: replies are read by
//! the walker of `dns::decode` (A, AAAA, CNAME, MX answers, SOA/NS authority,
//! the additional section only stepped over), which gives way to hickory's
//! decoder for anything else and is tested to agree with it; queries are
//! written by hand (`Inner::encode` in `query`, tested octet for octet
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
//! `domain` and `ndots` are ignored on purpose, see docs/rules/route.md,
//! Rule 2).

mod channel;
mod config;
mod meter;
mod mmsg;
mod pacer;
mod pending;
mod query;
mod reply;
mod tcp;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hickory_proto::rr::{Name, RecordType};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;

use self::channel::{Channel, bind_udp, receive, send};
use self::meter::{Meter, Tallies};
use super::{BoxFuture, Lookup, Response};

pub use self::config::{
    ConfigError, DEFAULT_ATTEMPTS, DEFAULT_EDNS_PAYLOAD, DEFAULT_TIMEOUT, DEFAULT_UDP_SOCKETS,
    EngineConfig, MAX_BACKOFF, MAX_RESOLV_CONF, RESOLV_CONF,
};
pub use self::meter::MeterReading;
pub use self::pacer::RateLimit;
pub use self::reply::{MAX_ANSWERS, ReplyError, WalkerDisagrees, check_reply_walker, read_reply};
pub use self::tcp::{TCP_CONNECTIONS, TCP_IDLE};
pub use super::decode::DecodeError;

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
        let pacer = cfg
            .shared_rate
            .clone()
            .or_else(|| cfg.rate.map(RateLimit::new));
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
    pacer: Option<RateLimit>,
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

impl Inner {
    fn channel(&self, server: SocketAddr) -> Option<&Channel> {
        let list = if server.is_ipv4() { &self.v4 } else { &self.v6 };
        if list.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % list.len();
        Some(&list[i])
    }
}

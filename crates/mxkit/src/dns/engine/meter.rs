//! Metering: the engine's counters ([`MeterReading`], which `scan` reads
//! to size its window) and the tallies of ignored datagrams that could not
//! be tied to one query.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The engine's counters (relaxed atomics: they are statistics, and the
/// adaptive window of `scan` reads them as congestion signals).
pub(super) struct Meter {
    started: Instant,
    pub(super) questions: AtomicU64,
    pub(super) queries: AtomicU64,
    pub(super) resends: AtomicU64,
    pub(super) timeouts: AtomicU64,
    pub(super) replies: AtomicU64,
    pub(super) error_rcodes: AtomicU64,
    pub(super) tcp: AtomicU64,
    pub(super) network_errors: AtomicU64,
    /// Microseconds from `started` to the last usable reply, plus one (0: none yet).
    last_reply_us: AtomicU64,
}

/// A reading of the engine's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeterReading {
    /// Questions asked ([`Engine::ask`](super::Engine::ask) calls).
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
    pub(super) fn new() -> Self {
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

    pub(super) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn replied(&self) {
        Self::add(&self.replies);
        let us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last_reply_us
            .fetch_max(us.saturating_add(1), Ordering::Relaxed);
    }

    pub(super) fn read(&self) -> MeterReading {
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

/// Counts of ignored datagrams that could not be tied to one query (wrong
/// ID, too short to hold an ID), per server; the last slot is for senders
/// that are not servers.
pub(super) struct Tallies {
    pub(super) servers: Vec<SocketAddr>,
    per: Vec<Tally>,
}

#[derive(Default)]
struct Tally {
    count: AtomicU64,
    last: Mutex<Option<String>>,
}

/// The tally counts of one server and of "other senders" when a try began.
#[derive(Clone, Copy)]
pub(super) struct TallyMark {
    server: usize,
    at_server: u64,
    at_other: u64,
}

impl Tallies {
    pub(super) fn new(servers: &[SocketAddr]) -> Self {
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

    pub(super) fn ignore(&self, from: SocketAddr, why: String) {
        tracing::debug!("ignored reply: {why}");
        let tally = &self.per[self.index(from)];
        *tally.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
        tally.count.fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn mark(&self, server: SocketAddr) -> TallyMark {
        let server = self.index(server);
        TallyMark {
            server,
            at_server: self.per[server].count.load(Ordering::Acquire),
            at_other: self.per[self.servers.len()].count.load(Ordering::Acquire),
        }
    }

    /// Ignored datagrams from the server, or from non-servers, since `mark`.
    pub(super) fn since(&self, mark: TallyMark) -> (u32, Option<String>) {
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

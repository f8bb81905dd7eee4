//! The pending table: the queries waiting for a reply on one channel, by
//! (query ID, server), and the [`Registration`] through which a query owns
//! its entry.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};
use rand::rngs::StdRng;
use tokio::sync::oneshot;

use super::super::decode::Reply;
use super::channel::Channel;

/// How many random IDs are drawn before a try gives up finding a free one.
pub(super) const ID_DRAWS: usize = 64;

/// What a waiting query is handed.
pub(super) enum Delivery {
    /// An acceptable reply.
    Reply(Reply),
    /// The query could not be sent (the socket's error).
    SendFailed(String),
}

/// The pending table of one channel, and the ID generator that fills it (one
/// lock for both: drawing an ID and registering it is one step).
pub(super) struct Table {
    /// foldhash: looked up three times per query (SipHash showed in
    /// `scan` profiles); keyed by random IDs, seeded per process.
    pub(super) pending: HashMap<(u16, SocketAddr), Pending, foldhash::fast::RandomState>,
    pub(super) rng: StdRng,
}

/// A query waiting for its reply.
pub(super) struct Pending {
    pub(super) name: Name,
    pub(super) rtype: RecordType,
    /// The datagram as sent (shared with the outbox): a reply whose
    /// question is this one's, octet for octet, is read without decoding
    /// the question again (`decode::read_asked`).
    pub(super) sent: Arc<[u8]>,
    pub(super) reply: Option<oneshot::Sender<Delivery>>,
    /// Replies that named this query (its ID) but were not acceptable.
    pub(super) ignored: u32,
    pub(super) last_ignored: Option<String>,
}

impl Pending {
    pub(super) fn ignore(&mut self, why: String) {
        tracing::debug!("ignored reply: {why}");
        self.ignored = self.ignored.saturating_add(1);
        self.last_ignored = Some(why);
    }
}

/// A query's entry in a pending table; removes it when dropped, so a query
/// future that is dropped (cancelled) never leaves an entry behind.
pub(super) struct Registration<'a> {
    pub(super) channel: &'a Channel,
    pub(super) key: (u16, SocketAddr),
    pub(super) reply: oneshot::Receiver<Delivery>,
    /// A random draw that spreads this try's wait (see [`Registration::wait`]).
    pub(super) jitter: u16,
    pub(super) removed: bool,
}

impl Registration<'_> {
    #[cfg(test)]
    pub(super) fn id(&self) -> u16 {
        self.key.0
    }

    /// `wait` moved at random within an eighth of it either way, so that
    /// tries sent together (a window's first burst that a server's full
    /// buffer dropped) do not all time out, and come back, together.
    pub(super) fn wait(&self, wait: Duration) -> Duration {
        let spread = wait / 4;
        (wait - wait / 8)
            .saturating_add(spread.mul_f64(f64::from(self.jitter) / f64::from(u16::MAX)))
    }

    /// What the entry has collected of replies it could not accept, reset
    /// (the entry stays).
    pub(super) fn take_ignored(&self) -> (u32, Option<String>) {
        match self.channel.lock().pending.get_mut(&self.key) {
            Some(p) => (std::mem::take(&mut p.ignored), p.last_ignored.take()),
            None => (0, None),
        }
    }

    /// Remove the entry now and return what it collected.
    pub(super) fn remove(&mut self) -> Option<Pending> {
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

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
        spread(wait, self.jitter)
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

/// `wait` less an eighth, plus `jitter / 65535` of a quarter: from 7/8 to
/// 9/8 of it. Integer arithmetic (a float multiplication cost a hundred
/// instructions a try); a spread too large to multiply is taken whole.
fn spread(wait: Duration, jitter: u16) -> Duration {
    let quarter = wait / 4;
    let share = quarter
        .checked_mul(u32::from(jitter))
        .map_or(quarter, |d| d / u32::from(u16::MAX));
    (wait - wait / 8).saturating_add(share)
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if !self.removed {
            self.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_is_spread_from_seven_to_nine_eighths() {
        for wait in [
            Duration::ZERO,
            Duration::from_nanos(7),
            Duration::from_millis(400),
            Duration::from_secs(5),
            Duration::from_secs(u64::MAX / 2),
            Duration::MAX,
        ] {
            let low = wait - wait / 8;
            assert_eq!(spread(wait, 0), low);
            let mut last = low;
            for jitter in [1, 2, 1000, 32_768, 65_534, u16::MAX] {
                let d = spread(wait, jitter);
                assert!(
                    d >= last && d <= low.saturating_add(wait / 4),
                    "{wait:?} {jitter}"
                );
                last = d;
            }
            assert_eq!(spread(wait, u16::MAX), low.saturating_add(wait / 4));
        }
        // Halfway is half the quarter, to the nanosecond.
        let wait = Duration::from_millis(800);
        let half = spread(wait, 32_768) - Duration::from_millis(700);
        assert!(half.abs_diff(Duration::from_millis(100)) < Duration::from_micros(2));
    }
}

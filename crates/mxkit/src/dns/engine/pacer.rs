//! Pacing: at most [`EngineConfig::rate`](super::EngineConfig::rate)
//! queries per second.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A bound of so many queries per second, shared by every engine given a
/// clone of it ([`EngineConfig::shared_rate`](super::EngineConfig::shared_rate)):
/// a scan on several threads runs one engine per thread, and `--rate` bounds
/// their sum, not each of them.
#[derive(Clone)]
pub struct RateLimit(Arc<Pacer>);

impl RateLimit {
    /// At most `rate` queries per second (0 counts as 1).
    pub fn new(rate: u32) -> Self {
        RateLimit(Arc::new(Pacer::new(rate)))
    }

    /// Wait for the next free slot.
    pub(super) async fn wait(&self) {
        self.0.wait().await;
    }
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("interval", &self.0.interval)
            .finish()
    }
}

/// Two limits are equal when they are the same shared one.
impl PartialEq for RateLimit {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RateLimit {}

/// `rate` queries per second at most: each send takes the next free slot
/// (one every 1/rate seconds) and waits for it; up to [`PACER_BURST`] of
/// unused slots are kept after a pause (a virtual-time token bucket).
pub(super) struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

/// How much unused sending time a [`Pacer`] keeps for a burst.
const PACER_BURST: Duration = Duration::from_millis(20);

impl Pacer {
    pub(super) fn new(rate: u32) -> Self {
        Pacer {
            interval: Duration::from_secs_f64(1.0 / f64::from(rate.max(1))),
            next: Mutex::new(Instant::now()),
        }
    }

    pub(super) async fn wait(&self) {
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

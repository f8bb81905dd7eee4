//! Pacing: at most [`EngineConfig::rate`](super::EngineConfig::rate)
//! queries per second.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

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

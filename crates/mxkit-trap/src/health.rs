//! The real MX hosts' health, as the trap sees it by probing them
//! (docs/rules/trap.md, guard 2).
//!
//! When the primary cannot be reached, honest senders fall back to the
//! highest preference number: the decoy. So the trap must not list anyone
//! while the primary is down, nor for a while after it came back (senders
//! that queued during the outage retry on their own schedule). Each
//! configured primary address is asked for its greeting (TCP connect and a
//! `220` within [`PROBE_TIMEOUT`], then QUIT) every minute
//! (`probe_interval`). A decoy session at `t` is then judged:
//! - **down** (never listed, reason `primary-down`) when a probe failed in
//!   `[t − 10 min, t]`, or the last failure before `t` is less than 15
//!   minutes before the first success after it;
//! - **healthy** when a probe succeeded in `[t − 10 min, t + skew]`;
//! - otherwise unknown, and the primary's own log must show that it served
//!   another client (the detector's `primary-idle` guard).
//!
//! A probe is a connection like any other in the primary's log: it comes
//! from the trap's own address, which should be in Postfix's `mynetworks`
//! (and is never a decoy candidate).

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::model::{Micros, now, secs};

/// The greeting must come within this long.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long results are kept (well beyond every window that reads them).
const KEEP: Micros = secs(3 * 3600);

/// The probes' results, newest last.
#[derive(Debug, Default)]
pub struct Health {
    results: Mutex<Vec<(Micros, bool)>>,
}

/// What the probes say about one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Down,
    Healthy,
    Unknown,
}

impl Health {
    pub fn new() -> Health {
        Health::default()
    }

    /// Records one probe's result at `at`.
    pub fn record(&self, at: Micros, ok: bool) {
        let mut results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        let pos = results.partition_point(|(t, _)| *t <= at);
        results.insert(pos, (at, ok));
        let cutoff = results.last().map_or(at, |(t, _)| *t) - KEEP;
        results.retain(|(t, _)| *t >= cutoff);
    }

    /// The state at `t`: `window` back for failures and successes,
    /// `recovery` after the last failure, successes counted up to
    /// `t + skew`.
    pub fn state(&self, t: Micros, window: Micros, recovery: Micros, skew: Micros) -> State {
        let results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        let failed_recently = results
            .iter()
            .any(|(at, ok)| !ok && *at >= t - window && *at <= t);
        if failed_recently {
            return State::Down;
        }
        // The last failure before t, and the first success after it.
        if let Some(&(failed, _)) = results.iter().rev().find(|(at, ok)| !ok && *at <= t) {
            let back = results
                .iter()
                .find(|(at, ok)| *ok && *at > failed)
                .map_or(Micros::MAX, |(at, _)| *at);
            if back > t || t - back < recovery {
                return State::Down;
            }
        }
        if results
            .iter()
            .any(|(at, ok)| *ok && *at >= t - window && *at <= t + skew)
        {
            return State::Healthy;
        }
        State::Unknown
    }
}

/// One probe: connect, read the greeting, QUIT. `true` for a `220`.
pub async fn probe_once(addr: SocketAddr, timeout: Duration) -> bool {
    let attempt = async {
        let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        loop {
            line.clear();
            // A greeting line longer than 4 KiB is not a greeting.
            let n = (&mut reader).take(4096).read_line(&mut line).await.ok()?;
            if n == 0 || !line.ends_with('\n') {
                return None;
            }
            match line.as_bytes() {
                [b'2', b'2', b'0', b'-', ..] => continue,
                [b'2', b'2', b'0', b' ' | b'\r' | b'\n', ..] => break,
                _ => return Some(false),
            }
        }
        let _ = reader.get_mut().write_all(b"QUIT\r\n").await;
        Some(true)
    };
    matches!(tokio::time::timeout(timeout, attempt).await, Ok(Some(true)))
}

/// Probes every address every `every`, for ever, recording the results.
pub async fn probe_loop(targets: Vec<SocketAddr>, health: std::sync::Arc<Health>, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        for &addr in &targets {
            let ok = probe_once(addr, PROBE_TIMEOUT).await;
            if !ok {
                tracing::warn!(
                    "trap: the primary {addr} did not greet: no listings until it has been back 15 minutes"
                );
            }
            health.record(now(), ok);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Micros = 1_795_686_384_000_000;
    const W: Micros = secs(600);
    const R: Micros = secs(900);
    const S: Micros = secs(5);

    #[test]
    fn states() {
        let h = Health::new();
        assert_eq!(h.state(T, W, R, S), State::Unknown);
        h.record(T - secs(60), true);
        assert_eq!(h.state(T, W, R, S), State::Healthy);
        // A success just after t (within skew) counts.
        assert_eq!(h.state(T - secs(63), W, R, S), State::Healthy);
        h.record(T + secs(60), false);
        assert_eq!(h.state(T + secs(61), W, R, S), State::Down);
        // Still down while failing, and for 15 minutes after it is back.
        h.record(T + secs(120), true);
        assert_eq!(h.state(T + secs(600), W, R, S), State::Down);
        assert_eq!(h.state(T + secs(700), W, R, S), State::Down);
        h.record(T + secs(1100), true);
        assert_eq!(h.state(T + secs(1100), W, R, S), State::Healthy);
        // Before the failure it was healthy.
        assert_eq!(h.state(T, W, R, S), State::Healthy);
    }

    #[tokio::test]
    async fn probes_want_a_220() {
        async fn server(greeting: &'static [u8]) -> SocketAddr {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            tokio::spawn(async move {
                while let Ok((mut s, _)) = l.accept().await {
                    let _ = s.write_all(greeting).await;
                    let mut buf = [0u8; 64];
                    let _ = s.read(&mut buf).await;
                }
            });
            addr
        }
        let t = Duration::from_secs(5);
        assert!(probe_once(server(b"220-mx1\r\n220 mx1 ESMTP\r\n").await, t).await);
        assert!(!probe_once(server(b"421 4.3.2 busy\r\n").await, t).await);
        // Nothing listens there any more: refused.
        let gone = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        };
        assert!(!probe_once(gone, t).await);
        // Greets too late.
        assert!(!probe_once(server(b"").await, Duration::from_millis(200)).await);
    }
}

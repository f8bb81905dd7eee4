//! The DNS-change grace (docs/rules/trap.md, guard 3).
//!
//! Senders cache MX records and addresses for their TTL. Right after the MX
//! set or the decoy's address changes, an honest sender may still try an
//! address that was the primary's or that it saw last in another order, and
//! land on the decoy. So the trap routes the protected domain itself every
//! minute (`[dns] watch`), exactly as a sender does ([`mxkit::route`]), and
//! when the plan changes, no decoy session from the last unchanged check to
//! twice the records' longest TTL after the change is listed (reason
//! `dns-change-grace`).
//!
//! The watch is also a watermark: a session is decided only once a check
//! after it has succeeded, so a change cannot slip in between a session and
//! its decision. While the domain cannot be routed (DNS failing), decisions
//! wait.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mxkit::dns::Lookup;
use mxkit::route::{Route, RouteOptions, RouteVerdict, route_input};

use crate::model::{Micros, now, secs};

#[derive(Debug, Default)]
struct Inner {
    /// The last plan seen and when.
    last: Option<(String, Micros)>,
    /// Every session up to this time has been covered by a check.
    checked: Micros,
    /// Grace periods: from the last check that saw the old plan to twice
    /// the TTL after the check that saw the new one.
    graces: Vec<(Micros, Micros)>,
}

/// What the watch has seen of the domain's plan.
#[derive(Debug, Default)]
pub struct DnsWatch {
    inner: Mutex<Inner>,
}

impl DnsWatch {
    pub fn new() -> DnsWatch {
        DnsWatch::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A successful check at `at` saw `plan`; a change opens a grace period
    /// lasting `grace` past `at`.
    pub fn observe(&self, at: Micros, plan: String, grace: Micros) {
        let mut inner = self.lock();
        if let Some((old, seen)) = &inner.last
            && *old != plan
        {
            let since = *seen;
            inner.graces.push((since, at + grace));
        }
        inner.last = Some((plan, at));
        inner.checked = inner.checked.max(at);
        // Graces long past are of no more use.
        let horizon = at - secs(40 * 86_400);
        inner.graces.retain(|(_, until)| *until >= horizon);
    }

    /// The time up to which every session has been covered by a check.
    pub fn checked(&self) -> Micros {
        self.lock().checked
    }

    /// Whether `t` falls in a grace period.
    pub fn in_grace(&self, t: Micros) -> bool {
        self.lock()
            .graces
            .iter()
            .any(|(from, until)| t >= *from && t <= *until)
    }
}

/// The plan a sender sees, as one comparable text (status, MX records,
/// candidate addresses, sorted), and the grace a change of it asks: twice
/// the longest TTL among the MX records and the plan's own (lowest) TTL,
/// at least 10 minutes. `None` when the route failed temporarily.
pub fn plan_of(route: &Route) -> Option<(String, Micros)> {
    if route.status == RouteVerdict::Temporary {
        return None;
    }
    let mut records: Vec<String> = route
        .records
        .iter()
        .map(|r| format!("{} {}", r.preference, r.exchanger))
        .collect();
    records.sort();
    let mut candidates: Vec<String> = route
        .candidates
        .iter()
        .map(|c| format!("{} {} {}", c.preference, c.exchanger, c.address))
        .collect();
    candidates.sort();
    let plan = format!(
        "{:?}; mx: {}; addresses: {}",
        route.status,
        records.join(", "),
        candidates.join(", ")
    );
    let ttl = route
        .records
        .iter()
        .map(|r| r.ttl)
        .chain(route.ttl)
        .max()
        .unwrap_or(0);
    Some((plan, secs(2 * i64::from(ttl)).max(secs(600))))
}

/// Routes `domain` now and records the plan; `false` when it could not be
/// routed (DNS failing), which leaves the watermark where it was.
pub async fn check(domain: &str, lookup: &dyn Lookup, watch: &DnsWatch) -> bool {
    let at = now();
    let route = route_input(lookup, domain, &RouteOptions::default()).await;
    match plan_of(&route) {
        Some((plan, grace)) => {
            watch.observe(at, plan, grace);
            true
        }
        None => false,
    }
}

/// Checks `domain` every `every`, for ever.
pub async fn watch_loop(
    domain: String,
    lookup: Arc<dyn Lookup>,
    watch: Arc<DnsWatch>,
    every: Duration,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if !check(&domain, lookup.as_ref(), &watch).await {
            tracing::warn!("trap: cannot route {domain} to watch its MX records: decisions wait");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Micros = 1_795_686_384_000_000;

    #[test]
    fn a_change_opens_a_grace_from_the_last_unchanged_check() {
        let w = DnsWatch::new();
        w.observe(T, "a".into(), secs(600));
        w.observe(T + secs(60), "a".into(), secs(600));
        assert!(!w.in_grace(T + secs(90)));
        w.observe(T + secs(120), "b".into(), secs(600));
        // From the check that still saw "a" to 600 s after the one that saw "b".
        assert!(!w.in_grace(T + secs(59)));
        assert!(w.in_grace(T + secs(60)));
        assert!(w.in_grace(T + secs(720)));
        assert!(!w.in_grace(T + secs(721)));
        assert_eq!(w.checked(), T + secs(120));
    }

    #[tokio::test]
    async fn the_plan_follows_the_records() {
        let zone = |decoy: &str| {
            format!(
                "$ORIGIN example.org.\n$TTL 300\n@ SOA ns h 1 1 1 1 1\n@ 3600 MX 10 mx1\n@ 3600 MX 99 mx99\n\
                 mx1 A 192.0.2.10\nmx99 A {decoy}\n"
            )
        };
        let before = mxkit::dns::fake::Fake::new()
            .zone(&zone("192.0.2.99"))
            .unwrap();
        let after = mxkit::dns::fake::Fake::new()
            .zone(&zone("192.0.2.98"))
            .unwrap();
        let w = DnsWatch::new();
        assert!(check("example.org", &before, &w).await);
        assert!(check("example.org", &before, &w).await);
        let t = now();
        assert!(!w.in_grace(t));
        assert!(check("example.org", &after, &w).await);
        // The MX TTL of 3600 s makes a grace of two hours.
        assert!(w.in_grace(now() + secs(7000)));
        assert!(!w.in_grace(now() + secs(7300)));
        // A failing lookup changes nothing and does not advance the watermark.
        let checked = w.checked();
        let failing =
            mxkit::dns::fake::Fake::new().servfail("example.org", mxkit::dns::RecordType::MX);
        assert!(!check("example.org", &failing, &w).await);
        assert_eq!(w.checked(), checked);
    }
}

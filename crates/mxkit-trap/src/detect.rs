//! The detector: graded verdicts for decoy sessions (docs/trap.md, "Verdicts
//! and reasons").
//!
//! A decoy session from `x` at `t` is a *candidate* when no real MX host saw
//! `x` (its exact address, or its /24 or /64 with the same verified-name
//! domain) in `[t − W_memory, t + W_skew]` and `x` never had mail accepted at
//! a real MX host within `W_known_good`. It is decided only once it is over
//! (the client left, or a limit of the decoy ended it: a session still open
//! is never judged on what it has done so far, so talking slowly changes
//! nothing), when every log stream's watermark has passed `t + W_skew` and
//! at least `D_decide` has gone by, so a log that lags never turns a
//! legitimate fallback into a listing.
//!
//! Verdicts: *probe* (left before MAIL FROM; never listed), *suspect*
//! (reached MAIL/RCPT; listed softly for 6 h), *trapped* (a suspect that
//! also pregreeted, pipelined, sent garbage or came back decoy-first at
//! least 5 minutes after an earlier listed session; 24 h), *repeat* (three
//! trapped sessions in 7 days; 7 days). Listings never last beyond 30 days
//! from the session that set them.
//!
//! Guards turn a candidate into *observed* with the guard's reason:
//! `allowlisted`, `known-good`, `seen-at-primary`, `no-primary-log`,
//! `primary-log-unreadable` (a configured log cannot be read now, so what
//! the real MX host saw is unknown: sessions are decided at once, and
//! nothing is listed until it can be read again), `startup-grace` (the
//! detector or a log stream started less than 120 s before the session),
//! `dns-change-grace` (the domain's MX plan changed less than twice its TTL
//! before: [`crate::dnswatch`]),
//! `primary-down` (the trap's own probe of the primary failed in the 10
//! minutes before, or it has been back for less than 15: [`crate::health`]),
//! `primary-idle` (no probe succeeded and no other client reached a real MX
//! host in the 10 minutes before: the primary may be down, so honest
//! senders fall back) and
//! `paused` (the anomaly alarm: in the last 10 minutes, sessions that would
//! have been listed came from at least 20 distinct networks, /24 or /64,
//! and from more networks than the real MX hosts had sessions: the primary
//! is probably unreachable from outside). Only sessions that would have
//! been listed count, one per network: probes, and one client or one /24
//! repeating itself, cost an attacker nothing and cannot set the alarm off.
//! A pause ends by itself once the window no longer holds enough networks,
//! so one burst pauses listing for at most one window after its last
//! session; each pause is kept in the store ([`Store::pause_begin`]) and
//! reported ([`Step::paused`], [`Step::resumed`]).
//!
//! Pools: with [`Settings::fcrdns`] (`[dns] fcrdns = true`), a candidate's
//! forward-confirmed name is looked up, and a primary event from the same
//! /24 or /64 whose logged name (smtpd's `connect from name[ip]`) has the
//! same domain clears it: a provider's outbound pool that tried the primary
//! from one address and the decoy from another is not listed.
//!
//! Where this departs from the rule's first design, and why:
//! - The SPF-authorised set and the v4/v6 HELO join of the identity are not
//!   built: they clear more, but need SPF evaluation.
//! - The auto-pause was first meant to compare candidates with all decoy
//!   sessions ("> 30 % of decoy sessions"); but in normal operation most
//!   decoy visitors are bots, so that share is high every day. The alarm
//!   compares them with the real MX hosts' traffic instead: an outage of the
//!   primary as seen from outside shows as decoy-first sessions
//!   outnumbering it.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use mxkit::dns::Lookup;

use crate::dnswatch::DnsWatch;
use crate::health::{Health, State};
use crate::model::{Decision, Flags, Grade, Listing, Micros, Observation, Pause, Stage, secs};
use crate::store::{Identity, Store, StoreError, client_net};

/// The windows and durations of the rule.
#[derive(Clone, Debug)]
pub struct Windows {
    /// How far back a primary event clears a decoy session (24 h).
    pub memory: Micros,
    /// Clock skew and log order tolerance (5 s).
    pub skew: Micros,
    /// Mail accepted at a real MX host clears an address this long (36 d).
    pub known_good: Micros,
    /// The least time between a session and its decision (60 s).
    pub decide: Micros,
    /// No listings for sessions this soon after a start (120 s).
    pub startup_grace: Micros,
    /// Primary health looks back this far (10 min).
    pub health: Micros,
    /// After a failed probe of the primary, no listings until it has been
    /// back this long (15 min).
    pub recovery: Micros,
    /// Auto-pause when decoy-first sessions in the `health` window exceed
    /// this multiple of the real MX hosts' sessions (1.0), once there are at
    /// least `pause_min` of them (20).
    pub pause_ratio: f64,
    pub pause_min: usize,
    /// A second decoy-first session at least this long after a listed one
    /// makes a *trapped* (5 min).
    pub second_session: Micros,
    pub suspect_ttl: Micros,
    pub trapped_ttl: Micros,
    pub repeat_ttl: Micros,
    /// Trapped sessions within `repeat_window` that make a repeat offender.
    pub repeat_count: usize,
    pub repeat_window: Micros,
    /// No listing lasts longer than this (30 d).
    pub cap: Micros,
}

impl Default for Windows {
    fn default() -> Windows {
        const HOUR: i64 = 3600;
        const DAY: i64 = 24 * HOUR;
        Windows {
            memory: secs(DAY),
            skew: secs(5),
            known_good: secs(36 * DAY),
            decide: secs(60),
            startup_grace: secs(120),
            health: secs(600),
            recovery: secs(900),
            pause_ratio: 1.0,
            pause_min: 20,
            second_session: secs(300),
            suspect_ttl: secs(6 * HOUR),
            trapped_ttl: secs(DAY),
            repeat_ttl: secs(7 * DAY),
            repeat_count: 3,
            repeat_window: secs(7 * DAY),
            cap: secs(30 * DAY),
        }
    }
}

/// The detector's settings.
#[derive(Clone, Default)]
pub struct Settings {
    pub windows: Windows,
    /// Record what would be listed, list nothing.
    pub shadow: bool,
    /// Networks never listed, besides the store's allowlist.
    pub allow: Vec<IpNet>,
    /// The log streams of the real MX hosts that must have caught up before
    /// a session is decided. With none, nothing is ever listed: the rule
    /// needs to know what the real MX hosts saw.
    pub streams: Vec<String>,
    /// Where to look up a candidate's forward-confirmed name (PTR, then
    /// A/AAAA back), so that a pool sender (same /24 or /64, same name
    /// domain) that was seen at a real MX host from another address is
    /// cleared. `None`: exact addresses only.
    pub fcrdns: Option<Arc<dyn Lookup>>,
    /// The trap's own probes of the primary ([`crate::health`]), when
    /// configured.
    pub health: Option<Arc<Health>>,
    /// The watch of the domain's MX records ([`crate::dnswatch`]), when
    /// configured: a watermark, and the DNS-change grace.
    pub dns_watch: Option<Arc<DnsWatch>>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("windows", &self.windows)
            .field("shadow", &self.shadow)
            .field("allow", &self.allow)
            .field("streams", &self.streams)
            .field("fcrdns", &self.fcrdns.is_some())
            .field("health", &self.health.is_some())
            .field("dns_watch", &self.dns_watch.is_some())
            .finish()
    }
}

/// The longest wait for a candidate's reverse DNS.
const FCRDNS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What one [`Detector::step`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Sessions decided, by grade.
    pub decided: Vec<Decision>,
    /// Addresses newly listed or whose listing changed.
    pub listed: Vec<Listing>,
    /// Listings withdrawn because the address turned out known-good.
    pub delisted: Vec<IpAddr>,
    /// Sessions still waiting for a log stream's watermark.
    pub waiting: usize,
    /// The anomaly alarm paused listing in this step.
    pub paused: Option<Pause>,
    /// The pause that was on ended in this step.
    pub resumed: Option<Pause>,
}

impl Step {
    /// Whether the exported lists may have changed.
    pub fn changed(&self) -> bool {
        !self.listed.is_empty() || !self.delisted.is_empty()
    }

    /// Whether there is anything to report.
    pub fn eventful(&self) -> bool {
        !self.decided.is_empty()
            || self.changed()
            || self.paused.is_some()
            || self.resumed.is_some()
    }
}

/// The anomaly alarm: counts the networks (/24, /64) whose decoy-first
/// sessions would have been listed in the last `health` window, against
/// the real MX hosts' sessions in the same window.
struct Alarm {
    nets: HashSet<IpNet>,
    primary_sessions: u64,
    min: usize,
    ratio: f64,
    window: Micros,
}

impl Alarm {
    async fn new(store: &Store, now: Micros, w: &Windows) -> Result<Alarm, StoreError> {
        let from = now.saturating_sub(w.health);
        let any = IpAddr::from([0u8, 0, 0, 0]);
        let primary_sessions = store.primary_clients(from, now, any).await?;
        let nets = store
            .decisions_between(from, now)
            .await?
            .iter()
            .filter(|d| d.grade.listed() || d.reason == "paused")
            .map(|d| client_net(d.client))
            .collect();
        Ok(Alarm {
            nets,
            primary_sessions,
            min: w.pause_min,
            ratio: w.pause_ratio,
            window: w.health,
        })
    }

    fn count(&mut self, client: IpAddr) {
        self.nets.insert(client_net(client));
    }

    fn on(&self) -> bool {
        let n = self.nets.len();
        n >= self.min && n as f64 > self.ratio * self.primary_sessions as f64
    }

    fn reason(&self) -> String {
        format!(
            "decoy-first sessions from {} networks in {} s, {} sessions at the real MX hosts",
            self.nets.len(),
            self.window / 1_000_000,
            self.primary_sessions
        )
    }
}

pub struct Detector {
    settings: Settings,
    /// When this detector started (start-up grace).
    started: Micros,
}

impl Detector {
    pub fn new(settings: Settings, started: Micros) -> Detector {
        Detector { settings, started }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Decides every decoy session that can be decided at `now`: over (its
    /// end recorded, or past the latest end it was recorded with), at least
    /// `decide` old, and covered by every log stream's watermark (or a log
    /// cannot be read: then it is decided at once, as
    /// `primary-log-unreadable`).
    pub async fn step(&self, store: &Store, now: Micros) -> Result<Step, StoreError> {
        let w = &self.settings.windows;
        let mut step = Step::default();
        // The time up to which every stream is complete.
        let streams = store.streams().await?;
        let mut watermark = Micros::MAX;
        let mut stream_started = Micros::MIN;
        let mut unreadable = false;
        for name in &self.settings.streams {
            match streams.iter().find(|s| &s.name == name) {
                Some(s) => {
                    watermark = watermark.min(s.watermark);
                    stream_started = stream_started.max(s.started);
                    unreadable |= s.problem.is_some();
                }
                None => watermark = Micros::MIN,
            }
        }
        if self.settings.streams.is_empty() {
            watermark = Micros::MIN;
        }
        let dns_checked = self
            .settings
            .dns_watch
            .as_ref()
            .map_or(Micros::MAX, |w| w.checked());
        let until = now.saturating_sub(w.decide);
        let pending = store.undecided(until, now, 10_000).await?;
        let allow = store.allowlist().await?;
        let mut alarm = Alarm::new(store, now, w).await?;
        for (id, obs) in pending {
            let behind = !self.settings.streams.is_empty()
                && !unreadable
                && obs.at.saturating_add(w.skew) > watermark;
            if behind || obs.at > dns_checked {
                step.waiting += 1;
                continue;
            }
            let (mut grade, mut reason) = self
                .judge(store, &obs, &allow, stream_started, unreadable)
                .await?;
            if grade.listed() {
                alarm.count(obs.client);
                if alarm.on() {
                    (grade, reason) = (Grade::Observed, "paused");
                }
            }
            let decision = Decision {
                observation: id,
                client: obs.client,
                at: obs.at,
                decided: now,
                grade,
                reason: reason.to_string(),
            };
            let listing = if grade.listed() {
                Some(self.listing(store, &obs, grade, reason, now).await?)
            } else {
                None
            };
            store.decide(&decision, listing.as_ref()).await?;
            if let Some(l) = listing {
                step.listed.push(l);
            }
            step.decided.push(decision);
        }
        // The alarm's state goes to the store, where every process sharing
        // it (and `mxkit trap list`) sees it.
        let on = store.last_pause().await?.filter(|p| p.ended.is_none());
        if alarm.on() {
            let reason = alarm.reason();
            if on.is_none() && store.pause_begin(now, &reason).await? {
                step.paused = Some(Pause {
                    started: now,
                    ended: None,
                    reason,
                });
            }
        } else if let Some(pause) = on
            && store.pause_end(now).await?
        {
            step.resumed = Some(Pause {
                ended: Some(now),
                ..pause
            });
        }
        // Guard 6: a listed address that later had mail accepted at a real
        // MX host was a false positive: withdraw it.
        for l in store.listings(now).await? {
            let who = Identity::new(l.ip, None);
            if store.known_good(&who, l.first_seen).await? && store.delist(l.ip).await? {
                step.delisted.push(l.ip);
            }
        }
        Ok(step)
    }

    async fn judge(
        &self,
        store: &Store,
        obs: &Observation,
        allow: &[crate::model::AllowEntry],
        stream_started: Micros,
        unreadable: bool,
    ) -> Result<(Grade, &'static str), StoreError> {
        let w = &self.settings.windows;
        let ip = obs.client;
        if self.settings.allow.iter().any(|n| n.contains(&ip))
            || allow.iter().any(|a| a.net.contains(&ip))
        {
            return Ok((Grade::Observed, "allowlisted"));
        }
        let mut name = obs.client_name.clone();
        if name.is_none()
            && let Some(lookup) = &self.settings.fcrdns
        {
            let found = tokio::time::timeout(
                FCRDNS_TIMEOUT,
                mxkit::check::reverse::confirmed_name(lookup.as_ref(), ip),
            )
            .await;
            name = found.ok().flatten().map(|n| n.to_ascii());
        }
        let who = Identity::new(ip, name.as_deref());
        if store
            .known_good(&who, obs.at.saturating_sub(w.known_good))
            .await?
        {
            return Ok((Grade::Observed, "known-good"));
        }
        if store
            .primary_seen(
                &who,
                obs.at.saturating_sub(w.memory),
                obs.at.saturating_add(w.skew),
            )
            .await?
        {
            return Ok((Grade::Observed, "seen-at-primary"));
        }
        if self.settings.streams.is_empty() {
            return Ok((Grade::Observed, "no-primary-log"));
        }
        if unreadable {
            return Ok((Grade::Observed, "primary-log-unreadable"));
        }
        if obs.at
            < self
                .started
                .max(stream_started)
                .saturating_add(w.startup_grace)
        {
            return Ok((Grade::Observed, "startup-grace"));
        }
        if self
            .settings
            .dns_watch
            .as_ref()
            .is_some_and(|watch| watch.in_grace(obs.at))
        {
            return Ok((Grade::Observed, "dns-change-grace"));
        }
        let probed = self
            .settings
            .health
            .as_ref()
            .map(|h| h.state(obs.at, w.health, w.recovery, w.skew));
        if probed == Some(State::Down) {
            return Ok((Grade::Observed, "primary-down"));
        }
        if probed != Some(State::Healthy)
            && store
                .primary_clients(
                    obs.at.saturating_sub(w.health),
                    obs.at.saturating_add(w.skew),
                    ip,
                )
                .await?
                == 0
        {
            return Ok((Grade::Observed, "primary-idle"));
        }
        if obs.stage < Stage::Mail {
            return Ok((Grade::Probe, "decoy-first-probe"));
        }
        let history = store
            .decisions(ip, obs.at.saturating_sub(w.repeat_window))
            .await?;
        let trapped_before = history
            .iter()
            .filter(|d| d.grade >= Grade::Trapped && d.at < obs.at)
            .count();
        if trapped_before + 1 >= w.repeat_count {
            return Ok((Grade::Repeat, "repeat-offender"));
        }
        let aggravated = [
            Flags::PREGREET,
            Flags::PIPELINING,
            Flags::BAD_RCPT,
            Flags::ABUSE,
        ]
        .iter()
        .any(|f| obs.flags.contains(*f));
        if aggravated {
            return Ok((Grade::Trapped, "decoy-first-aggravated"));
        }
        let again = history
            .iter()
            .any(|d| d.grade >= Grade::Suspect && d.at.saturating_add(w.second_session) <= obs.at);
        if again {
            return Ok((Grade::Trapped, "decoy-first-again"));
        }
        Ok((Grade::Suspect, "decoy-first"))
    }

    async fn listing(
        &self,
        store: &Store,
        obs: &Observation,
        grade: Grade,
        reason: &str,
        now: Micros,
    ) -> Result<Listing, StoreError> {
        // A listing runs its full time from the decision, not from the
        // session (which the decision follows by `decide` at least).
        let w = &self.settings.windows;
        let ttl = match grade {
            Grade::Repeat => w.repeat_ttl,
            Grade::Trapped => w.trapped_ttl,
            _ => w.suspect_ttl,
        }
        .min(w.cap);
        let old = store.listing(obs.client).await?;
        let mut reason = reason.to_string();
        let flags = obs.flags.names();
        if !flags.is_empty() {
            reason = format!("{reason} ({})", flags.join(","));
        }
        Ok(match old {
            Some(old) if old.expires > obs.at => Listing {
                ip: obs.client,
                grade: old.grade.max(grade),
                reason: if grade >= old.grade {
                    reason
                } else {
                    old.reason
                },
                first_seen: old.first_seen.min(obs.at),
                last_seen: old.last_seen.max(obs.at),
                expires: old.expires.max(now.saturating_add(ttl)),
                events: old.events + 1,
                shadow: self.settings.shadow,
            },
            _ => Listing {
                ip: obs.client,
                grade,
                reason,
                first_seen: obs.at,
                last_seen: obs.at,
                expires: now.saturating_add(ttl),
                events: 1,
                shadow: self.settings.shadow,
            },
        })
    }
}

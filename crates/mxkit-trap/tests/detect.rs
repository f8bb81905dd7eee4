//! The detection rule of docs/rules/trap.md on a real store (SQLite and
//! PostgreSQL): each case stores observations with chosen times, then steps
//! the detector at a chosen "now".

use std::net::IpAddr;

use mxkit_trap::detect::{Detector, Settings, Windows};
use mxkit_trap::model::{AllowEntry, StreamState, secs};
use mxkit_trap::{Flags, Grade, Micros, Observation, Role, Stage, Store};

#[macro_use]
mod common;
use common::Fixture;

both!(
    decoy_first_is_suspect,
    seen_at_primary_clears,
    a_primary_visit_just_after_counts,
    waits_for_every_stream,
    probes_are_never_listed,
    startup_grace,
    idle_primary_pauses_listing,
    aggravated_and_repeat,
    second_session_is_trapped,
    known_good_is_never_listed_and_is_delisted,
    allowlist,
    anomaly_pauses,
    free_floods_never_pause,
    open_sessions_are_judged_on_all_they_did,
    unreadable_logs_list_nothing,
    shadow_listings,
    pools_are_cleared_by_their_confirmed_name,
    probes_of_the_primary,
    dns_changes,
);

const T: Micros = 1_795_686_384_000_000;
const LOG: &str = "/var/log/mail.log";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn obs(role: Role, at: Micros, client: &str, stage: Stage, flags: Flags) -> Observation {
    Observation {
        at,
        role,
        stream: match role {
            Role::Decoy => "decoy".into(),
            Role::Primary => LOG.into(),
        },
        client: ip(client),
        local: None,
        client_name: None,
        stage,
        helo: Some("client.example.net".into()),
        mail_domain: None,
        flags,
    }
}

/// Primary events (and the stream's watermark, far ahead).
async fn primary(store: &Store, events: &[(Micros, &str, Flags)]) {
    let obs: Vec<Observation> = events
        .iter()
        .map(|(at, c, f)| obs(Role::Primary, *at, c, Stage::Connect, *f))
        .collect();
    let state = StreamState {
        name: LOG.into(),
        cursor: Some("1:100".into()),
        watermark: T + secs(30 * 86_400),
        started: T - secs(86_400),
        problem: None,
    };
    store.ingest(&state, &obs).await.unwrap();
}

async fn decoy(store: &Store, at: Micros, client: &str, stage: Stage, flags: Flags) -> i64 {
    store
        .record(&obs(Role::Decoy, at, client, stage, flags))
        .await
        .unwrap()
}

fn detector() -> Detector {
    Detector::new(
        Settings {
            windows: Windows::default(),
            shadow: false,
            allow: Vec::new(),
            streams: vec![LOG.into()],
            fcrdns: None,
            health: None,
            dns_watch: None,
        },
        T - secs(86_400),
    )
}

/// A busy, healthy primary: another client at T - 60 s.
async fn healthy(store: &Store) {
    primary(store, &[(T - secs(60), "198.51.100.200", Flags::default())]).await;
}

async fn decide_one(store: &Store, d: &Detector, now: Micros) -> (Grade, String) {
    let step = d.step(store, now).await.unwrap();
    assert_eq!(step.decided.len(), 1, "{step:?}");
    let x = &step.decided[0];
    (x.grade, x.reason.clone())
}

async fn decoy_first_is_suspect(fx: Fixture) {
    let s = fx.open().await;
    healthy(&s).await;
    decoy(&s, T, "203.0.113.9", Stage::Rcpt, Flags::default()).await;
    let d = detector();
    // Not before `decide` (60 s) has passed.
    assert!(d.step(&s, T + secs(30)).await.unwrap().decided.is_empty());
    let now = T + secs(61);
    assert_eq!(
        decide_one(&s, &d, now).await,
        (Grade::Suspect, "decoy-first".into())
    );
    let l = s.listing(ip("203.0.113.9")).await.unwrap().unwrap();
    assert_eq!(l.grade, Grade::Suspect);
    assert_eq!(l.expires, now + secs(6 * 3600));
    assert!(!l.shadow);
    // Decided once only.
    assert!(d.step(&s, now + secs(10)).await.unwrap().decided.is_empty());
}

async fn seen_at_primary_clears(fx: Fixture) {
    let s = fx.open().await;
    healthy(&s).await;
    // Seen at the primary 20 hours before (inside W_memory, 24 h).
    primary(
        &s,
        &[(T - secs(20 * 3600), "203.0.113.9", Flags::default())],
    )
    .await;
    decoy(&s, T, "203.0.113.9", Stage::Rcpt, Flags::default()).await;
    assert_eq!(
        decide_one(&s, &detector(), T + secs(61)).await,
        (Grade::Observed, "seen-at-primary".into())
    );
    // 25 hours before is outside the window.
    primary(
        &s,
        &[(T - secs(25 * 3600), "203.0.113.10", Flags::default())],
    )
    .await;
    decoy(&s, T, "203.0.113.10", Stage::Rcpt, Flags::default()).await;
    assert_eq!(
        decide_one(&s, &detector(), T + secs(62)).await.0,
        Grade::Suspect
    );
}

async fn a_primary_visit_just_after_counts(fx: Fixture) {
    let s = fx.open().await;
    healthy(&s).await;
    // Parallel connects and clock skew: 3 s after is within W_skew (5 s).
    primary(&s, &[(T + secs(3), "203.0.113.9", Flags::default())]).await;
    decoy(&s, T, "203.0.113.9", Stage::Rcpt, Flags::default()).await;
    assert_eq!(
        decide_one(&s, &detector(), T + secs(61)).await,
        (Grade::Observed, "seen-at-primary".into())
    );
}

async fn waits_for_every_stream(fx: Fixture) {
    let s = fx.open().await;
    healthy(&s).await;
    decoy(&s, T, "203.0.113.9", Stage::Rcpt, Flags::default()).await;
    let d = Detector::new(
        Settings {
            streams: vec![LOG.into(), "journal".into()],
            ..Settings::default()
        },
        T - secs(86_400),
    );
    // The journal stream has not been read at all: wait.
    let step = d.step(&s, T + secs(600)).await.unwrap();
    assert!(step.decided.is_empty());
    assert_eq!(step.waiting, 1);
    // Read up to T + 4 s: still inside the skew window, still waiting.
    let mut journal = StreamState {
        name: "journal".into(),
        cursor: Some("s=1".into()),
        watermark: T + secs(4),
        started: T - secs(86_400),
        problem: None,
    };
    s.ingest(&journal, &[]).await.unwrap();
    assert_eq!(d.step(&s, T + secs(600)).await.unwrap().waiting, 1);
    journal.watermark = T + secs(6);
    s.ingest(&journal, &[]).await.unwrap();
    assert_eq!(decide_one(&s, &d, T + secs(600)).await.0, Grade::Suspect);
}

async fn probes_are_never_listed(fx: Fixture) {
    let s = fx.open().await;
    healthy(&s).await;
    decoy(&s, T, "203.0.113.9", Stage::Helo, Flags::PREGREET).await;
    assert_eq!(
        decide_one(&s, &detector(), T + secs(61)).await,
        (Grade::Probe, "decoy-first-probe".into())
    );
    assert!(s.listing(ip("203.0.113.9")).await.unwrap().is_none());
}

async fn startup_grace(fx: Fixture) {
    let s = fx.open().await;
    healthy(&s).await;
    decoy(&s, T, "203.0.113.9", Stage::Rcpt, Flags::default()).await;
    let d = Detector::new(
        Settings {
            streams: vec![LOG.into()],
            ..Settings::default()
        },
        T - secs(30),
    );
    assert_eq!(
        decide_one(&s, &d, T + secs(61)).await,
        (Grade::Observed, "startup-grace".into())
    );
}

async fn idle_primary_pauses_listing(fx: Fixture) {
    let s = fx.open().await;
    // The stream is read, but nobody else reached the primary in 10 minutes.
    primary(&s, &[(T - secs(3600), "198.51.100.200", Flags::default())]).await;
    decoy(&s, T, "203.0.113.9", Stage::Rcpt, Flags::default()).await;
    assert_eq!(
        decide_one(&s, &detector(), T + secs(61)).await,
        (Grade::Observed, "primary-idle".into())
    );
}

async fn aggravated_and_repeat(fx: Fixture) {
    let s = fx.open().await;
    let d = detector();
    for (n, at) in [T, T + secs(3600), T + secs(7200)].into_iter().enumerate() {
        primary(&s, &[(at - secs(60), "198.51.100.200", Flags::default())]).await;
        decoy(&s, at, "203.0.113.9", Stage::Rcpt, Flags::PIPELINING).await;
        let (grade, reason) = decide_one(&s, &d, at + secs(61)).await;
        if n < 2 {
            assert_eq!(
                (grade, reason.as_str()),
                (Grade::Trapped, "decoy-first-aggravated")
            );
        } else {
            assert_eq!((grade, reason.as_str()), (Grade::Repeat, "repeat-offender"));
        }
    }
    let l = s.listing(ip("203.0.113.9")).await.unwrap().unwrap();
    assert_eq!(l.grade, Grade::Repeat);
    assert_eq!(l.events, 3);
    assert_eq!(l.first_seen, T);
    assert_eq!(l.expires, T + secs(7200 + 61) + secs(7 * 86_400));
    assert!(l.reason.contains("pipelining"), "{}", l.reason);
}

async fn second_session_is_trapped(fx: Fixture) {
    let s = fx.open().await;
    let d = detector();
    healthy(&s).await;
    decoy(&s, T, "203.0.113.9", Stage::Mail, Flags::default()).await;
    assert_eq!(decide_one(&s, &d, T + secs(61)).await.0, Grade::Suspect);
    // Two minutes later is the same attempt (not yet 5 minutes).
    primary(&s, &[(T + secs(60), "198.51.100.201", Flags::default())]).await;
    decoy(
        &s,
        T + secs(120),
        "203.0.113.9",
        Stage::Rcpt,
        Flags::default(),
    )
    .await;
    assert_eq!(decide_one(&s, &d, T + secs(200)).await.0, Grade::Suspect);
    decoy(
        &s,
        T + secs(400),
        "203.0.113.9",
        Stage::Rcpt,
        Flags::default(),
    )
    .await;
    primary(&s, &[(T + secs(390), "198.51.100.202", Flags::default())]).await;
    assert_eq!(
        decide_one(&s, &d, T + secs(500)).await,
        (Grade::Trapped, "decoy-first-again".into())
    );
}

async fn known_good_is_never_listed_and_is_delisted(fx: Fixture) {
    let s = fx.open().await;
    let d = detector();
    healthy(&s).await;
    // Mail from .9 accepted at the primary 30 days ago (inside 36 d).
    primary(
        &s,
        &[(T - secs(30 * 86_400), "203.0.113.9", Flags::ACCEPTED)],
    )
    .await;
    decoy(&s, T, "203.0.113.9", Stage::Rcpt, Flags::default()).await;
    assert_eq!(
        decide_one(&s, &d, T + secs(61)).await,
        (Grade::Observed, "known-good".into())
    );
    // .10 is listed, then its mail is accepted at the primary: withdrawn.
    decoy(&s, T, "203.0.113.10", Stage::Rcpt, Flags::default()).await;
    assert_eq!(decide_one(&s, &d, T + secs(62)).await.0, Grade::Suspect);
    primary(&s, &[(T + secs(600), "203.0.113.10", Flags::ACCEPTED)]).await;
    let step = d.step(&s, T + secs(700)).await.unwrap();
    assert_eq!(step.delisted, vec![ip("203.0.113.10")]);
    assert!(s.listings(T + secs(700)).await.unwrap().is_empty());
}

async fn allowlist(fx: Fixture) {
    let s = fx.open().await;
    healthy(&s).await;
    s.allow(&AllowEntry {
        net: "203.0.113.0/24".parse().unwrap(),
        note: "partner".into(),
        added: T - secs(10),
    })
    .await
    .unwrap();
    decoy(&s, T, "203.0.113.9", Stage::Rcpt, Flags::PREGREET).await;
    assert_eq!(
        decide_one(&s, &detector(), T + secs(61)).await,
        (Grade::Observed, "allowlisted".into())
    );
    let mut d = Settings {
        streams: vec![LOG.into()],
        allow: vec!["2001:db8::/32".parse().unwrap()],
        ..Settings::default()
    };
    d.windows = Windows::default();
    decoy(&s, T, "2001:db8::25", Stage::Rcpt, Flags::default()).await;
    assert_eq!(
        decide_one(&s, &Detector::new(d, T - secs(86_400)), T + secs(62)).await,
        (Grade::Observed, "allowlisted".into())
    );
}

async fn anomaly_pauses(fx: Fixture) {
    let s = fx.open().await;
    // One other client at the primary, then decoy-first sessions from 25
    // networks: once 20 networks outnumber the primary's sessions, the rest
    // are paused, and the pause is said and kept in the store.
    healthy(&s).await;
    for i in 0..25 {
        decoy(
            &s,
            T + i,
            &format!("198.18.{i}.7"),
            Stage::Rcpt,
            Flags::default(),
        )
        .await;
    }
    let d = detector();
    let step = d.step(&s, T + secs(61)).await.unwrap();
    let reasons: Vec<&str> = step.decided.iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(
        reasons.iter().filter(|r| **r == "decoy-first").count(),
        19,
        "{reasons:?}"
    );
    assert_eq!(
        reasons.iter().filter(|r| **r == "paused").count(),
        6,
        "{reasons:?}"
    );
    let pause = step.paused.clone().expect("the pause is reported");
    assert!(
        pause.reason.contains("from 25 networks"),
        "{}",
        pause.reason
    );
    assert_eq!(s.last_pause().await.unwrap(), Some(pause.clone()));
    // Once the window (10 min) no longer holds the burst, listing resumes
    // by itself: one burst pauses for one window at most.
    let later = T + secs(61 + 601);
    primary(
        &s,
        &[(later - secs(120), "198.51.100.201", Flags::default())],
    )
    .await;
    decoy(
        &s,
        later - secs(61),
        "203.0.113.50",
        Stage::Rcpt,
        Flags::default(),
    )
    .await;
    let step = d.step(&s, later).await.unwrap();
    assert_eq!(step.decided.len(), 1, "{step:?}");
    assert_eq!(step.decided[0].reason, "decoy-first");
    let resumed = step.resumed.expect("the end of the pause is reported");
    assert_eq!(resumed.ended, Some(later));
    assert_eq!(resumed.started, pause.started);
    assert_eq!(s.last_pause().await.unwrap().unwrap().ended, Some(later));
}

async fn free_floods_never_pause(fx: Fixture) {
    let s = fx.open().await;
    healthy(&s).await;
    // What an attacker gets for free: 300 probes (connect, EHLO, gone) from
    // 300 networks, 60 full sessions from one address and 60 from one /24.
    for i in 0..300 {
        decoy(
            &s,
            T + i,
            &format!("10.{}.{}.1", i / 256, i % 256),
            Stage::Helo,
            Flags::default(),
        )
        .await;
    }
    for i in 0..60 {
        decoy(&s, T + i, "203.0.113.66", Stage::Rcpt, Flags::default()).await;
        decoy(
            &s,
            T + i,
            &format!("192.0.2.{}", i + 1),
            Stage::Rcpt,
            Flags::default(),
        )
        .await;
    }
    let d = detector();
    let step = d.step(&s, T + secs(400)).await.unwrap();
    assert_eq!(step.decided.len(), 420);
    assert!(step.paused.is_none(), "{:?}", step.paused);
    assert!(
        step.decided.iter().all(|d| d.reason != "paused"),
        "{:?}",
        step.decided.iter().find(|d| d.reason == "paused")
    );
    assert_eq!(
        step.decided
            .iter()
            .filter(|d| d.grade == Grade::Probe)
            .count(),
        300
    );
    // And the next spammer, from a network of its own, is listed.
    decoy(
        &s,
        T + secs(300),
        "198.51.100.9",
        Stage::Rcpt,
        Flags::default(),
    )
    .await;
    assert_eq!(decide_one(&s, &d, T + secs(400)).await.0, Grade::Suspect);
    assert_eq!(s.last_pause().await.unwrap(), None);
}

async fn open_sessions_are_judged_on_all_they_did(fx: Fixture) {
    let s = fx.open().await;
    healthy(&s).await;
    let d = detector();
    // A slow spammer: EHLO, then silence past `decide`, then MAIL and RCPT.
    let slow = s
        .record_open(
            &obs(Role::Decoy, T, "203.0.113.9", Stage::Helo, Flags::default()),
            T + secs(130),
        )
        .await
        .unwrap();
    let step = d.step(&s, T + secs(61)).await.unwrap();
    assert!(step.decided.is_empty(), "{step:?}");
    assert_eq!(step.waiting, 0, "open, not waiting for a log: {step:?}");
    s.update(
        slow,
        Stage::Rcpt,
        None,
        Some("spam.example"),
        Flags::default(),
    )
    .await
    .unwrap();
    assert!(d.step(&s, T + secs(90)).await.unwrap().decided.is_empty());
    s.end_session(slow, T + secs(95)).await.unwrap();
    assert_eq!(
        decide_one(&s, &d, T + secs(100)).await,
        (Grade::Suspect, "decoy-first".into())
    );
    // A session that stays at EHLO to its end is a probe.
    let prober = s
        .record_open(
            &obs(
                Role::Decoy,
                T,
                "203.0.113.10",
                Stage::Helo,
                Flags::default(),
            ),
            T + secs(130),
        )
        .await
        .unwrap();
    s.end_session(prober, T + secs(100)).await.unwrap();
    assert_eq!(decide_one(&s, &d, T + secs(110)).await.0, Grade::Probe);
    // A session whose end was never recorded (the decoy was killed) is
    // decided once the latest end it was recorded with has passed.
    s.record_open(
        &obs(
            Role::Decoy,
            T,
            "203.0.113.11",
            Stage::Mail,
            Flags::default(),
        ),
        T + secs(130),
    )
    .await
    .unwrap();
    assert!(d.step(&s, T + secs(129)).await.unwrap().decided.is_empty());
    assert_eq!(decide_one(&s, &d, T + secs(130)).await.0, Grade::Suspect);
}

async fn unreadable_logs_list_nothing(fx: Fixture) {
    let s = fx.open().await;
    healthy(&s).await;
    let d = detector();
    // The log cannot be read: its watermark is stuck at T - 10 min.
    let mut state = StreamState {
        name: LOG.into(),
        cursor: Some("1:100".into()),
        watermark: T - secs(600),
        started: T - secs(86_400),
        problem: Some("Is a directory (os error 21)".into()),
    };
    s.ingest(&state, &[]).await.unwrap();
    decoy(&s, T, "203.0.113.9", Stage::Rcpt, Flags::PIPELINING).await;
    // Decided at once, and never listed, with the reason.
    assert_eq!(
        decide_one(&s, &d, T + secs(61)).await,
        (Grade::Observed, "primary-log-unreadable".into())
    );
    // Read again: listing as usual.
    state.problem = None;
    state.watermark = T + secs(3600);
    s.ingest(&state, &[]).await.unwrap();
    primary(&s, &[(T + secs(100), "198.51.100.201", Flags::default())]).await;
    decoy(
        &s,
        T + secs(120),
        "203.0.113.10",
        Stage::Rcpt,
        Flags::default(),
    )
    .await;
    assert_eq!(decide_one(&s, &d, T + secs(200)).await.0, Grade::Suspect);
}

async fn shadow_listings(fx: Fixture) {
    let s = fx.open().await;
    healthy(&s).await;
    decoy(&s, T, "203.0.113.9", Stage::Rcpt, Flags::default()).await;
    let d = Detector::new(
        Settings {
            streams: vec![LOG.into()],
            shadow: true,
            ..Settings::default()
        },
        T - secs(86_400),
    );
    assert_eq!(decide_one(&s, &d, T + secs(61)).await.0, Grade::Suspect);
    assert!(s.listing(ip("203.0.113.9")).await.unwrap().unwrap().shadow);
}

async fn pools_are_cleared_by_their_confirmed_name(fx: Fixture) {
    let s = fx.open().await;
    healthy(&s).await;
    // The provider's host .20 delivered at the primary (logged with its
    // verified name); its neighbour .21 then knocks on the decoy.
    let mut seen = obs(
        Role::Primary,
        T - secs(30),
        "203.0.113.20",
        Stage::Connect,
        Flags::default(),
    );
    seen.client_name = Some("out-20.mail.provider.example".into());
    let state = StreamState {
        name: LOG.into(),
        cursor: Some("1:200".into()),
        watermark: T + secs(30 * 86_400),
        started: T - secs(86_400),
        problem: None,
    };
    s.ingest(&state, &[seen]).await.unwrap();
    decoy(&s, T, "203.0.113.21", Stage::Rcpt, Flags::default()).await;
    decoy(&s, T, "203.0.113.22", Stage::Rcpt, Flags::default()).await;
    let dns = mxkit::dns::fake::Fake::new()
        .zone(
            "$ORIGIN 113.0.203.in-addr.arpa.\n@ SOA ns h 1 1 1 1 1\n\
             21 PTR out-21.mail.provider.example.\n22 PTR bot.dialup.example.\n",
        )
        .unwrap()
        .zone("$ORIGIN provider.example.\n@ SOA ns h 1 1 1 1 1\nout-21.mail A 203.0.113.21\n")
        .unwrap()
        .zone("$ORIGIN dialup.example.\n@ SOA ns h 1 1 1 1 1\nbot A 198.51.100.1\n")
        .unwrap();
    let d = Detector::new(
        Settings {
            streams: vec![LOG.into()],
            fcrdns: Some(std::sync::Arc::new(dns)),
            ..Settings::default()
        },
        T - secs(86_400),
    );
    let step = d.step(&s, T + secs(61)).await.unwrap();
    let by_ip = |ip: &str| {
        step.decided
            .iter()
            .find(|x| x.client.to_string() == ip)
            .map(|x| (x.grade, x.reason.clone()))
            .unwrap()
    };
    // Same /24, same name domain (provider.example): cleared.
    assert_eq!(
        by_ip("203.0.113.21"),
        (Grade::Observed, "seen-at-primary".into())
    );
    // Same /24, but its PTR name does not lead back to it: not the pool.
    assert_eq!(by_ip("203.0.113.22").0, Grade::Suspect);
}

async fn probes_of_the_primary(fx: Fixture) {
    use mxkit_trap::health::Health;
    use std::sync::Arc;
    let s = fx.open().await;
    // The primary's log shows nobody else; only the probes speak.
    let health = Arc::new(Health::new());
    let d = Detector::new(
        Settings {
            streams: vec![LOG.into()],
            health: Some(health.clone()),
            ..Settings::default()
        },
        T - secs(86_400),
    );
    primary(&s, &[]).await;
    // A probe greeted a minute before: healthy, so decoy-first is listed.
    health.record(T - secs(60), true);
    decoy(&s, T, "203.0.113.9", Stage::Rcpt, Flags::default()).await;
    assert_eq!(decide_one(&s, &d, T + secs(61)).await.0, Grade::Suspect);
    // A probe failed: honest senders fall back now; nothing is listed.
    health.record(T + secs(120), false);
    decoy(
        &s,
        T + secs(130),
        "203.0.113.10",
        Stage::Rcpt,
        Flags::default(),
    )
    .await;
    assert_eq!(
        decide_one(&s, &d, T + secs(200)).await,
        (Grade::Observed, "primary-down".into())
    );
    // Back at T + 180 s, but not yet for 15 minutes.
    health.record(T + secs(180), true);
    decoy(
        &s,
        T + secs(900),
        "203.0.113.11",
        Stage::Rcpt,
        Flags::default(),
    )
    .await;
    assert_eq!(
        decide_one(&s, &d, T + secs(1000)).await,
        (Grade::Observed, "primary-down".into())
    );
    health.record(T + secs(1200), true);
    decoy(
        &s,
        T + secs(1210),
        "203.0.113.12",
        Stage::Rcpt,
        Flags::default(),
    )
    .await;
    assert_eq!(decide_one(&s, &d, T + secs(1300)).await.0, Grade::Suspect);
}

async fn dns_changes(fx: Fixture) {
    use mxkit_trap::dnswatch::DnsWatch;
    use std::sync::Arc;
    let s = fx.open().await;
    healthy(&s).await;
    let watch = Arc::new(DnsWatch::new());
    let d = Detector::new(
        Settings {
            streams: vec![LOG.into()],
            dns_watch: Some(watch.clone()),
            ..Settings::default()
        },
        T - secs(86_400),
    );
    watch.observe(T - secs(120), "mx 10 mx1, 99 mx99".into(), secs(600));
    decoy(&s, T, "203.0.113.9", Stage::Rcpt, Flags::default()).await;
    // No check has covered the session yet: it waits.
    let step = d.step(&s, T + secs(61)).await.unwrap();
    assert_eq!((step.decided.len(), step.waiting), (0, 1));
    // The next check finds the MX set changed: grace from T - 120 s to
    // 600 s after this check.
    watch.observe(T + secs(60), "mx 10 mx1, 20 mx2, 99 mx99".into(), secs(600));
    assert_eq!(
        decide_one(&s, &d, T + secs(70)).await,
        (Grade::Observed, "dns-change-grace".into())
    );
    // After the grace, decoy-first is listed again.
    watch.observe(
        T + secs(700),
        "mx 10 mx1, 20 mx2, 99 mx99".into(),
        secs(600),
    );
    decoy(
        &s,
        T + secs(680),
        "203.0.113.10",
        Stage::Rcpt,
        Flags::default(),
    )
    .await;
    primary(&s, &[(T + secs(650), "198.51.100.201", Flags::default())]).await;
    assert_eq!(decide_one(&s, &d, T + secs(760)).await.0, Grade::Suspect);
}

//! The store's behaviour, one suite for both back ends: every case is an
//! async fn taking a [`Fixture`], run once on a fresh SQLite file and once on
//! a fresh database of a real PostgreSQL server (testbed::postgres, one
//! server per test process, a database per test).

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use mxkit_trap::model::{AllowEntry, Decision, StreamState};
use mxkit_trap::store::{Identity, Retention};
use mxkit_trap::{Flags, Grade, Listing, Micros, Observation, Role, Stage, Store, StoreError};

#[macro_use]
mod common;
use common::Fixture;

both!(
    record_update_and_observations,
    update_of_unknown_observation_fails,
    ipv6_addresses_round_trip,
    mapped_ipv4_is_stored_as_ipv4,
    primary_seen_by_address_and_window,
    primary_seen_by_pool_identity,
    primary_seen_by_ipv6_pool,
    known_good_needs_accepted_mail,
    primary_clients_counts_others,
    ingest_stores_rows_and_cursor_together,
    ingest_failure_keeps_neither_rows_nor_cursor,
    undecided_oldest_first_until_and_limit,
    decide_marks_records_and_lists,
    decide_twice_is_refused_and_changes_nothing,
    decide_without_listing_keeps_listing,
    listings_in_force_by_address,
    delist_removes,
    allowlist_truncates_and_replaces,
    expire_keeps_undecided_decoy_observations,
    reopen_keeps_everything,
    concurrent_records_from_many_tasks,
    concurrent_opens_share_one_schema,
    open_sessions_wait_for_their_end,
    listing_changes_are_counted,
    pauses_begin_once_and_end,
    read_only_opens_create_nothing,
    version_1_stores_are_migrated,
    decoy_hours_and_recent_decisions,
    kept_results_round_trip_and_expire,
);

const T0: Micros = 1_700_000_000_000_000;
const SEC: Micros = 1_000_000;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn obs(role: Role, client: &str, at: Micros) -> Observation {
    Observation {
        at,
        role,
        stream: match role {
            Role::Decoy => "decoy".into(),
            Role::Primary => "postfix".into(),
        },
        client: ip(client),
        local: None,
        client_name: None,
        stage: Stage::Connect,
        helo: None,
        mail_domain: None,
        flags: Flags::default(),
    }
}

fn named(mut o: Observation, name: &str) -> Observation {
    o.client_name = Some(name.into());
    o
}

fn decision(observation: i64, client: &str, at: Micros, grade: Grade) -> Decision {
    Decision {
        observation,
        client: ip(client),
        at,
        decided: at + 60 * SEC,
        grade,
        reason: "decoy-first".into(),
    }
}

fn listing(client: &str, grade: Grade, expires: Micros) -> Listing {
    Listing {
        ip: ip(client),
        grade,
        reason: "decoy-first".into(),
        first_seen: T0,
        last_seen: T0 + SEC,
        expires,
        events: 1,
        shadow: false,
    }
}

fn stream(name: &str, cursor: &str, watermark: Micros) -> StreamState {
    StreamState {
        name: name.into(),
        cursor: Some(cursor.into()),
        watermark,
        started: T0,
        problem: None,
    }
}

async fn record_update_and_observations(fx: Fixture) {
    let store = fx.open().await;
    let mut first = obs(Role::Decoy, "192.0.2.7", T0);
    first.local = Some(ip("198.51.100.99"));
    first.client_name = Some("mail.example.com".into());
    let id1 = store.record(&first).await.unwrap();
    let id2 = store
        .record(&obs(Role::Decoy, "192.0.2.7", T0 + 10 * SEC))
        .await
        .unwrap();
    assert!(id2 > id1, "ids grow: {id1} then {id2}");

    store
        .update(
            id1,
            Stage::Mail,
            Some("bot.example"),
            Some("spam.example"),
            Flags::PREGREET,
        )
        .await
        .unwrap();
    // A later update without HELO or domain keeps them; flags accumulate.
    store
        .update(id1, Stage::Rcpt, None, None, Flags::BAD_RCPT)
        .await
        .unwrap();

    let seen = store.observations(ip("192.0.2.7"), T0).await.unwrap();
    let mut expected = first.clone();
    expected.stage = Stage::Rcpt;
    expected.helo = Some("bot.example".into());
    expected.mail_domain = Some("spam.example".into());
    expected.flags = Flags::PREGREET | Flags::BAD_RCPT;
    assert_eq!(
        seen,
        vec![expected, obs(Role::Decoy, "192.0.2.7", T0 + 10 * SEC)]
    );

    // `since` is inclusive and filters; other addresses are not shown.
    assert_eq!(
        store
            .observations(ip("192.0.2.7"), T0 + 10 * SEC)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .observations(ip("192.0.2.8"), 0)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn update_of_unknown_observation_fails(fx: Fixture) {
    let store = fx.open().await;
    let err = store
        .update(4242, Stage::Helo, Some("x"), None, Flags::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NoSuchObservation(4242)),
        "got {err:?}"
    );
}

async fn ipv6_addresses_round_trip(fx: Fixture) {
    let store = fx.open().await;
    let mut o = obs(Role::Decoy, "2001:db8:0:1::25", T0);
    o.local = Some(ip("2001:db8:ffff::99"));
    let id = store.record(&o).await.unwrap();
    // Another spelling of the same address finds it.
    let seen = store
        .observations(ip("2001:0db8:0000:0001:0000:0000:0000:0025"), 0)
        .await
        .unwrap();
    assert_eq!(seen, vec![o.clone()]);
    let undecided = store.undecided(T0, T0, 10).await.unwrap();
    assert_eq!(undecided, vec![(id, o)]);

    let l = listing("2001:db8:0:1::25", Grade::Trapped, T0 + 3600 * SEC);
    store
        .decide(
            &decision(id, "2001:db8:0:1::25", T0, Grade::Trapped),
            Some(&l),
        )
        .await
        .unwrap();
    assert_eq!(
        store.listing(ip("2001:db8:0:1::25")).await.unwrap(),
        Some(l)
    );
    assert_eq!(
        store
            .decisions(ip("2001:db8:0:1::25"), 0)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn mapped_ipv4_is_stored_as_ipv4(fx: Fixture) {
    let store = fx.open().await;
    store
        .record(&obs(Role::Primary, "::ffff:192.0.2.55", T0))
        .await
        .unwrap();
    let seen = store.observations(ip("192.0.2.55"), 0).await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].client, ip("192.0.2.55"));
    let who = Identity::new(ip("::ffff:192.0.2.55"), None);
    assert!(store.primary_seen(&who, T0, T0).await.unwrap());
}

async fn primary_seen_by_address_and_window(fx: Fixture) {
    let store = fx.open().await;
    store
        .record(&obs(Role::Primary, "192.0.2.10", T0))
        .await
        .unwrap();
    // A decoy observation is not a primary one.
    store
        .record(&obs(Role::Decoy, "192.0.2.11", T0))
        .await
        .unwrap();
    let who = Identity::new(ip("192.0.2.10"), None);
    assert!(
        store.primary_seen(&who, T0, T0).await.unwrap(),
        "bounds inclusive"
    );
    assert!(store.primary_seen(&who, T0 - SEC, T0 + SEC).await.unwrap());
    assert!(!store.primary_seen(&who, T0 + 1, T0 + SEC).await.unwrap());
    assert!(!store.primary_seen(&who, T0 - SEC, T0 - 1).await.unwrap());
    let decoy_only = Identity::new(ip("192.0.2.11"), None);
    assert!(
        !store
            .primary_seen(&decoy_only, T0 - SEC, T0 + SEC)
            .await
            .unwrap()
    );
    // Same /24, no names: no pool join.
    let neighbour = Identity::new(ip("192.0.2.12"), None);
    assert!(
        !store
            .primary_seen(&neighbour, T0 - SEC, T0 + SEC)
            .await
            .unwrap()
    );
}

async fn primary_seen_by_pool_identity(fx: Fixture) {
    let store = fx.open().await;
    store
        .record(&named(
            obs(Role::Primary, "192.0.2.10", T0),
            "mail-a1.pool.example.com",
        ))
        .await
        .unwrap();
    let window = (T0 - 60 * SEC, T0 + 60 * SEC);
    let seen = |who: Identity| {
        let store = store.clone();
        async move { store.primary_seen(&who, window.0, window.1).await.unwrap() }
    };
    // Same /24, same name domain: the pool clears it.
    assert!(
        seen(Identity::new(
            ip("192.0.2.200"),
            Some("mail-b7.pool.example.com")
        ))
        .await
    );
    // Same /24, another domain: no.
    assert!(
        !seen(Identity::new(
            ip("192.0.2.200"),
            Some("mail-b7.pool.example.net")
        ))
        .await
    );
    // Same /24, no verified name: no.
    assert!(!seen(Identity::new(ip("192.0.2.200"), None)).await);
    assert!(!seen(Identity::new(ip("192.0.2.200"), Some("unknown"))).await);
    // Same domain, another /24: no.
    assert!(
        !seen(Identity::new(
            ip("192.0.3.10"),
            Some("mail-b7.pool.example.com")
        ))
        .await
    );
    // The exact address clears whatever its name.
    assert!(seen(Identity::new(ip("192.0.2.10"), Some("other.example.org"))).await);
    // Outside the window: no.
    let who = Identity::new(ip("192.0.2.200"), Some("mail-b7.pool.example.com"));
    assert!(
        !store
            .primary_seen(&who, T0 + 1, T0 + 60 * SEC)
            .await
            .unwrap()
    );
}

async fn primary_seen_by_ipv6_pool(fx: Fixture) {
    let store = fx.open().await;
    store
        .record(&named(
            obs(Role::Primary, "2001:db8:5:6::1", T0),
            "out1.mx.example.org",
        ))
        .await
        .unwrap();
    let same64 = Identity::new(ip("2001:db8:5:6:ffff::9"), Some("out2.mx.example.org"));
    assert!(store.primary_seen(&same64, T0, T0).await.unwrap());
    let other64 = Identity::new(ip("2001:db8:5:7::1"), Some("out2.mx.example.org"));
    assert!(!store.primary_seen(&other64, T0, T0).await.unwrap());
}

async fn known_good_needs_accepted_mail(fx: Fixture) {
    let store = fx.open().await;
    // Seen, but nothing accepted.
    store
        .record(&named(
            obs(Role::Primary, "192.0.2.20", T0),
            "a.relay.example.com",
        ))
        .await
        .unwrap();
    let who = Identity::new(ip("192.0.2.20"), Some("a.relay.example.com"));
    assert!(!store.known_good(&who, T0 - SEC).await.unwrap());

    let mut accepted = named(
        obs(Role::Primary, "192.0.2.21", T0 + 100 * SEC),
        "b.relay.example.com",
    );
    accepted.stage = Stage::Data;
    accepted.flags = Flags::ACCEPTED | Flags::PIPELINING;
    store.record(&accepted).await.unwrap();
    // By the pool (same /24, same domain) and by address.
    assert!(store.known_good(&who, T0).await.unwrap());
    assert!(
        store
            .known_good(&Identity::new(ip("192.0.2.21"), None), T0)
            .await
            .unwrap()
    );
    // `since` after the accepted session: no longer.
    assert!(!store.known_good(&who, T0 + 101 * SEC).await.unwrap());
    // Another domain in the same /24: no.
    let stranger = Identity::new(ip("192.0.2.22"), Some("x.other.example"));
    assert!(!store.known_good(&stranger, T0).await.unwrap());
    // Accepted at the decoy does not count (it never accepts anyway).
    let mut decoy = obs(Role::Decoy, "192.0.2.30", T0);
    decoy.flags = Flags::ACCEPTED;
    store.record(&decoy).await.unwrap();
    assert!(
        !store
            .known_good(&Identity::new(ip("192.0.2.30"), None), 0)
            .await
            .unwrap()
    );
}

async fn primary_clients_counts_others(fx: Fixture) {
    let store = fx.open().await;
    for (client, at) in [
        ("192.0.2.1", T0),
        ("192.0.2.2", T0 + SEC),
        ("192.0.2.2", T0 + 2 * SEC),
        ("192.0.2.3", T0 + 3 * SEC),
        ("192.0.2.4", T0 + 100 * SEC),
    ] {
        store.record(&obs(Role::Primary, client, at)).await.unwrap();
    }
    store
        .record(&obs(Role::Decoy, "192.0.2.5", T0 + SEC))
        .await
        .unwrap();
    assert_eq!(
        store
            .primary_clients(T0, T0 + 3 * SEC, ip("192.0.2.3"))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .primary_clients(T0, T0 + 3 * SEC, ip("192.0.2.9"))
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        store
            .primary_clients(T0 + 200 * SEC, T0 + 300 * SEC, ip("192.0.2.9"))
            .await
            .unwrap(),
        0
    );
}

async fn ingest_stores_rows_and_cursor_together(fx: Fixture) {
    let store = fx.open().await;
    assert_eq!(store.stream("postfix").await.unwrap(), None);
    let batch1 = vec![
        obs(Role::Primary, "192.0.2.1", T0),
        obs(Role::Primary, "192.0.2.2", T0 + SEC),
    ];
    let s1 = stream("postfix", "17:4096", T0 + SEC);
    store.ingest(&s1, &batch1).await.unwrap();
    assert_eq!(store.stream("postfix").await.unwrap(), Some(s1));

    // The next batch moves the cursor on; an empty batch still moves it.
    let s2 = stream("postfix", "17:8192", T0 + 5 * SEC);
    store
        .ingest(&s2, &[obs(Role::Primary, "192.0.2.1", T0 + 5 * SEC)])
        .await
        .unwrap();
    let s3 = stream("postfix", "17:8300", T0 + 9 * SEC);
    store.ingest(&s3, &[]).await.unwrap();
    let other = StreamState {
        name: "journal".into(),
        cursor: None,
        watermark: T0,
        started: T0 - SEC,
        problem: Some("does not exist".into()),
    };
    store.ingest(&other, &[]).await.unwrap();

    assert_eq!(store.stream("postfix").await.unwrap(), Some(s3.clone()));
    assert_eq!(store.streams().await.unwrap(), vec![other, s3]);
    assert_eq!(
        store.observations(ip("192.0.2.1"), 0).await.unwrap().len(),
        2
    );
    assert!(
        store
            .primary_seen(&Identity::new(ip("192.0.2.2"), None), T0, T0 + SEC)
            .await
            .unwrap()
    );
}

async fn ingest_failure_keeps_neither_rows_nor_cursor(fx: Fixture) {
    let store = fx.open().await;
    let s1 = stream("postfix", "1:100", T0);
    store
        .ingest(&s1, &[obs(Role::Primary, "192.0.2.1", T0)])
        .await
        .unwrap();

    // The last event of the batch breaks a constraint (every observation
    // names its stream): the good events before it and the cursor must not
    // be stored either.
    let mut bad = obs(Role::Primary, "192.0.2.3", T0 + 2 * SEC);
    bad.stream = String::new();
    let batch = vec![
        obs(Role::Primary, "192.0.2.2", T0 + SEC),
        obs(Role::Primary, "192.0.2.1", T0 + SEC),
        bad,
    ];
    let err = store
        .ingest(&stream("postfix", "1:200", T0 + 2 * SEC), &batch)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "got {err:?}");

    assert_eq!(store.stream("postfix").await.unwrap(), Some(s1));
    assert!(
        store
            .observations(ip("192.0.2.2"), 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.observations(ip("192.0.2.1"), 0).await.unwrap().len(),
        1
    );
    // The store still works after the failed transaction.
    let s2 = stream("postfix", "1:200", T0 + 2 * SEC);
    store.ingest(&s2, &batch[..2]).await.unwrap();
    assert_eq!(store.stream("postfix").await.unwrap(), Some(s2));
    assert_eq!(
        store.observations(ip("192.0.2.2"), 0).await.unwrap().len(),
        1
    );
}

async fn undecided_oldest_first_until_and_limit(fx: Fixture) {
    let store = fx.open().await;
    let late = store
        .record(&obs(Role::Decoy, "192.0.2.3", T0 + 30 * SEC))
        .await
        .unwrap();
    let early = store
        .record(&obs(Role::Decoy, "192.0.2.1", T0))
        .await
        .unwrap();
    let middle = store
        .record(&obs(Role::Decoy, "192.0.2.2", T0 + 10 * SEC))
        .await
        .unwrap();
    let tie = store
        .record(&obs(Role::Decoy, "192.0.2.4", T0 + 10 * SEC))
        .await
        .unwrap();
    // Primary observations are never in the queue.
    store
        .record(&obs(Role::Primary, "192.0.2.9", T0))
        .await
        .unwrap();

    let ids = |v: Vec<(i64, Observation)>| v.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .undecided(T0 + 60 * SEC, T0 + 60 * SEC, 100)
            .await
            .unwrap()),
        vec![early, middle, tie, late]
    );
    assert_eq!(
        ids(store
            .undecided(T0 + 10 * SEC, T0 + 10 * SEC, 100)
            .await
            .unwrap()),
        vec![early, middle, tie],
        "until is inclusive"
    );
    assert_eq!(
        ids(store
            .undecided(T0 + 60 * SEC, T0 + 60 * SEC, 2)
            .await
            .unwrap()),
        vec![early, middle]
    );
    assert!(
        store
            .undecided(T0 - 1, T0 - 1, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let got = store.undecided(T0, T0, 1).await.unwrap();
    assert_eq!(got, vec![(early, obs(Role::Decoy, "192.0.2.1", T0))]);
}

async fn decide_marks_records_and_lists(fx: Fixture) {
    let store = fx.open().await;
    let a = store
        .record(&obs(Role::Decoy, "192.0.2.1", T0))
        .await
        .unwrap();
    let b = store
        .record(&obs(Role::Decoy, "192.0.2.2", T0 + SEC))
        .await
        .unwrap();

    let d = decision(a, "192.0.2.1", T0, Grade::Suspect);
    let l = listing("192.0.2.1", Grade::Suspect, T0 + 6 * 3600 * SEC);
    store.decide(&d, Some(&l)).await.unwrap();

    let left = store
        .undecided(T0 + 60 * SEC, T0 + 60 * SEC, 10)
        .await
        .unwrap();
    assert_eq!(left.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![b]);
    assert_eq!(store.listing(ip("192.0.2.1")).await.unwrap(), Some(l));
    assert_eq!(
        store.decisions(ip("192.0.2.1"), T0).await.unwrap(),
        vec![d.clone()]
    );
    assert!(
        store
            .decisions(ip("192.0.2.1"), T0 + 1)
            .await
            .unwrap()
            .is_empty(),
        "decisions(ip, since) filters on the session time"
    );

    // A second session, graded higher: the listing is replaced.
    let d2 = Decision {
        decided: d.decided + 10 * SEC,
        ..decision(b, "192.0.2.1", T0 + SEC, Grade::Trapped)
    };
    let l2 = Listing {
        events: 2,
        last_seen: T0 + SEC,
        ..listing("192.0.2.1", Grade::Trapped, T0 + 24 * 3600 * SEC)
    };
    store.decide(&d2, Some(&l2)).await.unwrap();
    assert!(
        store
            .undecided(T0 + 60 * SEC, T0 + 60 * SEC, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.listing(ip("192.0.2.1")).await.unwrap(), Some(l2));
    assert_eq!(
        store.decisions(ip("192.0.2.1"), 0).await.unwrap(),
        vec![d.clone(), d2.clone()]
    );
    // decisions_between filters on the decision time, inclusive.
    assert_eq!(
        store
            .decisions_between(d.decided, d2.decided)
            .await
            .unwrap(),
        vec![d.clone(), d2.clone()]
    );
    assert_eq!(
        store
            .decisions_between(d.decided + 1, d2.decided)
            .await
            .unwrap(),
        vec![d2]
    );
    assert!(
        store
            .decisions_between(0, d.decided - 1)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn decide_twice_is_refused_and_changes_nothing(fx: Fixture) {
    let store = fx.open().await;
    let id = store
        .record(&obs(Role::Decoy, "192.0.2.1", T0))
        .await
        .unwrap();
    let d = decision(id, "192.0.2.1", T0, Grade::Observed);
    store.decide(&d, None).await.unwrap();

    let again = decision(id, "192.0.2.1", T0, Grade::Trapped);
    let l = listing("192.0.2.1", Grade::Trapped, T0 + 3600 * SEC);
    let err = store.decide(&again, Some(&l)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::AlreadyDecided(x) if x == id),
        "got {err:?}"
    );
    // The whole transaction rolled back: no listing, one decision.
    assert_eq!(store.listing(ip("192.0.2.1")).await.unwrap(), None);
    assert_eq!(store.decisions(ip("192.0.2.1"), 0).await.unwrap(), vec![d]);

    // A decision for an observation not in the store is recorded as it is.
    let manual = decision(999_999, "192.0.2.77", T0, Grade::Trapped);
    store.decide(&manual, None).await.unwrap();
    assert_eq!(
        store.decisions(ip("192.0.2.77"), 0).await.unwrap(),
        vec![manual]
    );
}

async fn decide_without_listing_keeps_listing(fx: Fixture) {
    let store = fx.open().await;
    let a = store
        .record(&obs(Role::Decoy, "192.0.2.1", T0))
        .await
        .unwrap();
    let b = store
        .record(&obs(Role::Decoy, "192.0.2.1", T0 + SEC))
        .await
        .unwrap();
    let l = listing("192.0.2.1", Grade::Suspect, T0 + 3600 * SEC);
    store
        .decide(&decision(a, "192.0.2.1", T0, Grade::Suspect), Some(&l))
        .await
        .unwrap();
    store
        .decide(&decision(b, "192.0.2.1", T0 + SEC, Grade::Probe), None)
        .await
        .unwrap();
    assert_eq!(store.listing(ip("192.0.2.1")).await.unwrap(), Some(l));
    assert!(
        store
            .undecided(T0 + 60 * SEC, T0 + 60 * SEC, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn listings_in_force_by_address(fx: Fixture) {
    let store = fx.open().await;
    let now = T0 + 1000 * SEC;
    let mut n = 0;
    let mut list = |addr: &'static str, expires: Micros, shadow: bool| {
        n += 1;
        let id = n;
        let store = store.clone();
        async move {
            let obs_id = store
                .record(&obs(Role::Decoy, addr, T0 + id))
                .await
                .unwrap();
            let l = Listing {
                shadow,
                ..listing(addr, Grade::Trapped, expires)
            };
            store
                .decide(&decision(obs_id, addr, T0 + id, Grade::Trapped), Some(&l))
                .await
                .unwrap();
            l
        }
    };
    let ten = list("10.0.0.1", now + SEC, false).await;
    let nine = list("9.0.0.1", now + SEC, true).await;
    let v6 = list("2001:db8::1", now + 1, false).await;
    let _expired = list("192.0.2.1", now, false).await;
    let _older = list("192.0.2.2", now - SEC, false).await;

    // Address order (9 before 10, IPv4 before IPv6), expires > now.
    assert_eq!(store.listings(now).await.unwrap(), vec![nine, ten, v6]);
    assert_eq!(store.listings(now + SEC).await.unwrap(), vec![]);
    // listing() shows an entry whether it expired or not.
    assert!(store.listing(ip("192.0.2.1")).await.unwrap().is_some());
    assert_eq!(store.listing(ip("192.0.2.99")).await.unwrap(), None);
}

async fn delist_removes(fx: Fixture) {
    let store = fx.open().await;
    let id = store
        .record(&obs(Role::Decoy, "192.0.2.1", T0))
        .await
        .unwrap();
    let l = listing("192.0.2.1", Grade::Trapped, T0 + 3600 * SEC);
    store
        .decide(&decision(id, "192.0.2.1", T0, Grade::Trapped), Some(&l))
        .await
        .unwrap();
    assert!(store.delist(ip("192.0.2.1")).await.unwrap());
    assert!(!store.delist(ip("192.0.2.1")).await.unwrap());
    assert_eq!(store.listing(ip("192.0.2.1")).await.unwrap(), None);
    assert!(store.listings(T0).await.unwrap().is_empty());
    // The evidence stays.
    assert_eq!(store.decisions(ip("192.0.2.1"), 0).await.unwrap().len(), 1);
}

async fn allowlist_truncates_and_replaces(fx: Fixture) {
    let store = fx.open().await;
    assert!(store.allowlist().await.unwrap().is_empty());
    let entry = |n: &str, note: &str, added: Micros| AllowEntry {
        net: net(n),
        note: note.into(),
        added,
    };
    store
        .allow(&entry("10.1.2.3/8", "own network", T0))
        .await
        .unwrap();
    store
        .allow(&entry("2001:db8:1:2::5/48", "v6 relays", T0))
        .await
        .unwrap();
    store
        .allow(&entry("9.9.9.9/32", "friend", T0))
        .await
        .unwrap();
    // The same network again (spelt differently): note and time replaced.
    store
        .allow(&entry("10.200.0.0/8", "own networks", T0 + SEC))
        .await
        .unwrap();

    assert_eq!(
        store.allowlist().await.unwrap(),
        vec![
            entry("9.9.9.9/32", "friend", T0),
            entry("10.0.0.0/8", "own networks", T0 + SEC),
            entry("2001:db8:1::/48", "v6 relays", T0),
        ]
    );
    assert!(store.unallow(net("10.99.0.1/8")).await.unwrap());
    assert!(!store.unallow(net("10.0.0.0/8")).await.unwrap());
    assert!(!store.unallow(net("9.9.9.0/24")).await.unwrap());
    assert!(store.unallow(net("2001:db8:1:ffff::/48")).await.unwrap());
    assert_eq!(
        store.allowlist().await.unwrap(),
        vec![entry("9.9.9.9/32", "friend", T0)]
    );
}

async fn expire_keeps_undecided_decoy_observations(fx: Fixture) {
    let store = fx.open().await;
    let day = 86_400 * SEC;
    let keep = Retention {
        observations: 7 * day,
        decisions: 30 * day,
    };
    let now = T0 + 40 * day;

    // Old: a primary observation, a decided decoy one, an undecided decoy one.
    store
        .record(&obs(Role::Primary, "192.0.2.1", T0))
        .await
        .unwrap();
    let old_decided = store
        .record(&obs(Role::Decoy, "192.0.2.2", T0))
        .await
        .unwrap();
    let old_undecided = store
        .record(&obs(Role::Decoy, "192.0.2.3", T0))
        .await
        .unwrap();
    // Recent: kept.
    store
        .record(&obs(Role::Primary, "192.0.2.4", now - 6 * day))
        .await
        .unwrap();
    let recent_decoy = store
        .record(&obs(Role::Decoy, "192.0.2.5", now - 6 * day))
        .await
        .unwrap();

    // An old decision (made 39 days ago) and a recent one, each with a listing.
    store
        .decide(
            &decision(old_decided, "192.0.2.2", T0, Grade::Trapped),
            Some(&listing("192.0.2.2", Grade::Trapped, now - 1)),
        )
        .await
        .unwrap();
    store
        .decide(
            &decision(recent_decoy, "192.0.2.5", now - 6 * day, Grade::Trapped),
            Some(&listing("192.0.2.5", Grade::Trapped, now + day)),
        )
        .await
        .unwrap();
    store
        .ingest(
            &stream("postfix", "1:1", now),
            &[obs(Role::Primary, "192.0.2.6", now - 8 * day)],
        )
        .await
        .unwrap();

    let expired = store.expire(now, keep).await.unwrap();
    assert_eq!(
        expired,
        mxkit_trap::store::Expired {
            listings: 1,
            observations: 3,
            decisions: 1,
        }
    );
    let gone = |a: &'static str| {
        let store = store.clone();
        async move { store.observations(ip(a), 0).await.unwrap().is_empty() }
    };
    assert!(gone("192.0.2.1").await);
    assert!(gone("192.0.2.2").await);
    assert!(!gone("192.0.2.3").await, "undecided decoy observation kept");
    assert!(!gone("192.0.2.4").await);
    assert!(!gone("192.0.2.5").await);
    assert!(gone("192.0.2.6").await);
    let queue = store.undecided(now, now, 10).await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].0, old_undecided);

    assert_eq!(store.listing(ip("192.0.2.2")).await.unwrap(), None);
    assert!(store.listing(ip("192.0.2.5")).await.unwrap().is_some());
    assert!(
        store
            .decisions(ip("192.0.2.2"), 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.decisions(ip("192.0.2.5"), 0).await.unwrap().len(), 1);
    // The stream row is not observations: kept.
    assert!(store.stream("postfix").await.unwrap().is_some());

    // Nothing left to expire.
    assert_eq!(
        store.expire(now, keep).await.unwrap(),
        mxkit_trap::store::Expired::default()
    );
}

async fn reopen_keeps_everything(fx: Fixture) {
    let s = stream("journal", "s=abc;i=42", T0 + 5 * SEC);
    let l = listing("192.0.2.1", Grade::Trapped, T0 + 3600 * SEC);
    let entry = AllowEntry {
        net: net("198.51.100.0/24"),
        note: "relay".into(),
        added: T0,
    };
    let (decided, undecided) = {
        let store = fx.open().await;
        let a = store
            .record(&obs(Role::Decoy, "192.0.2.1", T0))
            .await
            .unwrap();
        let b = store
            .record(&obs(Role::Decoy, "192.0.2.2", T0 + SEC))
            .await
            .unwrap();
        store
            .decide(&decision(a, "192.0.2.1", T0, Grade::Trapped), Some(&l))
            .await
            .unwrap();
        store
            .ingest(&s, &[obs(Role::Primary, "192.0.2.9", T0)])
            .await
            .unwrap();
        store.allow(&entry).await.unwrap();
        (a, b)
    };

    let store = fx.open().await;
    assert_eq!(store.stream("journal").await.unwrap(), Some(s));
    assert_eq!(store.listings(T0).await.unwrap(), vec![l]);
    assert_eq!(store.allowlist().await.unwrap(), vec![entry]);
    let queue = store
        .undecided(T0 + 60 * SEC, T0 + 60 * SEC, 10)
        .await
        .unwrap();
    assert_eq!(
        queue.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![undecided]
    );
    assert_eq!(
        store.decisions(ip("192.0.2.1"), 0).await.unwrap()[0].observation,
        decided
    );
    assert!(
        store
            .primary_seen(&Identity::new(ip("192.0.2.9"), None), T0, T0)
            .await
            .unwrap()
    );
    // New ids do not reuse old ones.
    let c = store
        .record(&obs(Role::Decoy, "192.0.2.3", T0 + 2 * SEC))
        .await
        .unwrap();
    assert!(c > undecided);
    // A third open of the same store (the schema exists already) works too.
    let again = fx.open().await;
    assert_eq!(
        again.observations(ip("192.0.2.3"), 0).await.unwrap().len(),
        1
    );
}

async fn concurrent_records_from_many_tasks(fx: Fixture) {
    const TASKS: u32 = 32;
    const EACH: u32 = 8;
    let store = fx.open().await;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..EACH {
                let client = format!("10.{t}.0.{i}");
                let o = obs(Role::Decoy, &client, T0 + Micros::from(t * EACH + i));
                let id = store.record(&o).await.unwrap();
                store
                    .update(id, Stage::Helo, Some(&client), None, Flags::ABUSE)
                    .await
                    .unwrap();
                ids.push(id);
            }
            ids
        }));
    }
    let mut ids = HashSet::new();
    for h in handles {
        for id in h.await.unwrap() {
            assert!(ids.insert(id), "id {id} given twice");
        }
    }
    assert_eq!(ids.len(), (TASKS * EACH) as usize);
    let queue = store
        .undecided(T0 + 1_000_000, T0 + 1_000_000, 10_000)
        .await
        .unwrap();
    assert_eq!(queue.len(), (TASKS * EACH) as usize);
    assert!(queue.iter().all(|(id, o)| ids.contains(id)
        && o.stage == Stage::Helo
        && o.helo.as_deref() == Some(&o.client.to_string())
        && o.flags == Flags::ABUSE));
    // Oldest first.
    assert!(queue.windows(2).all(|w| w[0].1.at <= w[1].1.at));
}

async fn concurrent_opens_share_one_schema(fx: Fixture) {
    // Several processes (hosts, for PostgreSQL) starting at once on a new
    // store: the schema is created once, and every one of them can work.
    let opens = (0..4).map(|_| fx.open());
    let stores = futures::future::join_all(opens).await;
    for (i, store) in stores.iter().enumerate() {
        let client = format!("192.0.2.{i}");
        store
            .record(&obs(Role::Decoy, &client, T0 + i as Micros))
            .await
            .unwrap();
    }
    for store in &stores {
        assert_eq!(
            store.undecided(T0 + SEC, T0 + SEC, 10).await.unwrap().len(),
            4
        );
    }
}

#[tokio::test]
async fn unknown_store_urls_are_refused() {
    for url in ["mysql://x", "sqlite:", "", "/var/lib/trap.db"] {
        let err = Store::open(url).await.expect_err("refused");
        assert!(matches!(err, StoreError::Url(_)), "{url}: {err:?}");
    }
}

#[tokio::test]
async fn sqlite_url_forms_and_kind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let store = Store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert_eq!(store.kind(), "sqlite");
    store
        .record(&obs(Role::Decoy, "192.0.2.1", T0))
        .await
        .unwrap();
    drop(store);
    assert!(path.is_file());
    let store = Store::open(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    assert_eq!(
        store.observations(ip("192.0.2.1"), 0).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn sqlite_store_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    drop(
        Store::open(&format!("sqlite:{}", path.display()))
            .await
            .unwrap(),
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE schema_version SET version = version + 1", [])
        .unwrap();
    drop(conn);
    let err = Store::open(&format!("sqlite:{}", path.display()))
        .await
        .expect_err("refused");
    assert!(matches!(err, StoreError::Schema { .. }), "got {err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_newer_schema_is_refused() {
    let url = tokio::task::spawn_blocking(|| Fixture::postgres("schema_version").url)
        .await
        .unwrap();
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.kind(), "postgres");
    drop(store);
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .execute("UPDATE schema_version SET version = version + 1", &[])
        .await
        .unwrap();
    let err = Store::open(&url).await.expect_err("refused");
    assert!(matches!(err, StoreError::Schema { .. }), "got {err:?}");
    // postgresql:// is accepted as well.
    let err = Store::open(&url.replacen("postgres://", "postgresql://", 1))
        .await
        .expect_err("refused");
    assert!(matches!(err, StoreError::Schema { .. }), "got {err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_reconnects_after_losing_its_connection() {
    let url = tokio::task::spawn_blocking(|| Fixture::postgres("reconnect").url)
        .await
        .unwrap();
    let store = Store::open(&url).await.unwrap();
    store
        .record(&obs(Role::Decoy, "192.0.2.1", T0))
        .await
        .unwrap();

    // The server ends the store's session (as a restart or a network cut would).
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let ended = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(ended.get::<_, i64>(0), 1);

    // A call may still fail (the store learns of the loss by using the
    // connection); a later call opens a new one, with everything kept.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut failures = Vec::new();
    let id = loop {
        match store.record(&obs(Role::Decoy, "192.0.2.2", T0 + SEC)).await {
            Ok(id) => break id,
            Err(e) => failures.push(e.to_string()),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reconnection: {failures:?}"
        );
        // Poll interval while the old connection's task winds down.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    let queue = store.undecided(T0 + SEC, T0 + SEC, 10).await.unwrap();
    assert_eq!(queue.len(), 2);
    assert_eq!(queue[1].0, id);
}

async fn open_sessions_wait_for_their_end(fx: Fixture) {
    let store = fx.open().await;
    // Open until T0 + 130 s at the latest.
    let open = store
        .record_open(&obs(Role::Decoy, "192.0.2.1", T0), T0 + 130 * SEC)
        .await
        .unwrap();
    let finished = store
        .record_open(&obs(Role::Decoy, "192.0.2.2", T0), T0 + 130 * SEC)
        .await
        .unwrap();
    store.end_session(finished, T0 + 3 * SEC).await.unwrap();
    // An end later than the bound is not recorded past it.
    store.end_session(open, T0 + 500 * SEC).await.unwrap();
    let now = T0 + 60 * SEC;
    assert_eq!(
        ids(store.undecided(now, now, 10).await.unwrap()),
        vec![finished]
    );
    // Past its bound (the process that served it was killed), it is over.
    let later = T0 + 130 * SEC;
    assert_eq!(
        ids(store.undecided(later, later, 10).await.unwrap()),
        vec![open, finished]
    );
}

fn ids(queue: Vec<(i64, Observation)>) -> Vec<i64> {
    queue.into_iter().map(|(id, _)| id).collect()
}

/// A decoy session of `client` at T0, decided `grade` (listed for 10 s
/// when the grade lists).
async fn decided(store: &Store, client: &str, grade: Grade) {
    let id = store.record(&obs(Role::Decoy, client, T0)).await.unwrap();
    let listing = grade
        .listed()
        .then(|| listing(client, grade, T0 + 10 * SEC));
    store
        .decide(&decision(id, client, T0, grade), listing.as_ref())
        .await
        .unwrap();
}

async fn listing_changes_are_counted(fx: Fixture) {
    let store = fx.open().await;
    assert_eq!(store.listings_changes().await.unwrap(), 0);
    // A decision that lists counts; one that does not, does not.
    decided(&store, "192.0.2.1", Grade::Suspect).await;
    decided(&store, "192.0.2.2", Grade::Probe).await;
    assert_eq!(store.listings_changes().await.unwrap(), 1);
    // Withdrawing counts, withdrawing nothing does not.
    assert!(!store.delist(ip("192.0.2.9")).await.unwrap());
    assert_eq!(store.listings_changes().await.unwrap(), 1);
    decided(&store, "192.0.2.3", Grade::Suspect).await;
    assert!(store.delist(ip("192.0.2.3")).await.unwrap());
    assert_eq!(store.listings_changes().await.unwrap(), 3);
    // Expiring counts when it removed a listing.
    store
        .expire(T0 + 20 * SEC, Retention::default())
        .await
        .unwrap();
    assert_eq!(store.listings_changes().await.unwrap(), 4);
    store
        .expire(T0 + 30 * SEC, Retention::default())
        .await
        .unwrap();
    assert_eq!(store.listings_changes().await.unwrap(), 4);
    // Another connection (another process, another host) sees the count.
    assert_eq!(fx.open().await.listings_changes().await.unwrap(), 4);
}

async fn pauses_begin_once_and_end(fx: Fixture) {
    let store = fx.open().await;
    let other = fx.open().await;
    assert_eq!(store.last_pause().await.unwrap(), None);
    assert!(store.pause_begin(T0, "burst").await.unwrap());
    // A second detector sharing the store does not start another.
    assert!(!other.pause_begin(T0 + SEC, "burst too").await.unwrap());
    let on = other.last_pause().await.unwrap().unwrap();
    assert_eq!(
        (on.started, on.ended, on.reason.as_str()),
        (T0, None, "burst")
    );
    assert!(other.pause_end(T0 + 600 * SEC).await.unwrap());
    assert!(!store.pause_end(T0 + 601 * SEC).await.unwrap());
    let off = store.last_pause().await.unwrap().unwrap();
    assert_eq!(off.ended, Some(T0 + 600 * SEC));
    // Kept as long as decisions.
    let keep = Retention {
        observations: 7 * 86_400 * SEC,
        decisions: 30 * 86_400 * SEC,
    };
    store.expire(T0 + 29 * 86_400 * SEC, keep).await.unwrap();
    assert!(store.last_pause().await.unwrap().is_some());
    store.expire(T0 + 31 * 86_400 * SEC, keep).await.unwrap();
    assert!(store.last_pause().await.unwrap().is_none());
}

async fn read_only_opens_create_nothing(fx: Fixture) {
    // Nothing there yet (a SQLite file that does not exist, an empty
    // PostgreSQL database): refused, and still nothing there after.
    for _ in 0..2 {
        match Store::open_existing(&fx.url).await {
            Err(StoreError::Missing(why)) => assert!(why.contains("trap store"), "{why}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("{} was opened as an existing store", fx.url),
        }
    }
    // Once created, it opens.
    fx.open().await;
    let store = Store::open_existing(&fx.url).await.unwrap();
    assert!(store.listings(T0).await.unwrap().is_empty());
}

/// The schema of version 1, as mxkit wrote it before sessions had ends,
/// streams problems, and the pauses and changes tables existed.
const VERSION_1: &[&str] = &[
    "CREATE TABLE schema_version (version BIGINT NOT NULL)",
    "INSERT INTO schema_version (version) VALUES (1)",
    "CREATE TABLE observations (
        id {ID}, at BIGINT NOT NULL, role TEXT NOT NULL, stream TEXT NOT NULL,
        client TEXT NOT NULL, client_net TEXT NOT NULL, local TEXT, client_name TEXT,
        name_domain TEXT, stage TEXT NOT NULL, helo TEXT, mail_domain TEXT,
        flags BIGINT NOT NULL DEFAULT 0, decided BIGINT)",
    "INSERT INTO observations (at, role, stream, client, client_net, stage)
        VALUES (1700000000000000, 'decoy', 'decoy', '192.0.2.1', '192.0.2.0/24', 'rcpt')",
    "CREATE TABLE streams (name TEXT PRIMARY KEY, cursor TEXT, watermark BIGINT NOT NULL,
        started BIGINT NOT NULL)",
    "INSERT INTO streams VALUES ('postfix', '1:10', 1700000000000000, 1700000000000000)",
    "CREATE TABLE decisions (id {ID}, observation BIGINT NOT NULL, client TEXT NOT NULL,
        at BIGINT NOT NULL, decided BIGINT NOT NULL, grade TEXT NOT NULL, reason TEXT NOT NULL)",
    "CREATE TABLE listings (ip TEXT PRIMARY KEY, grade TEXT NOT NULL, reason TEXT NOT NULL,
        first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, expires BIGINT NOT NULL,
        events BIGINT NOT NULL, shadow BOOLEAN NOT NULL)",
    "CREATE TABLE allowlist (net TEXT PRIMARY KEY, note TEXT NOT NULL, added BIGINT NOT NULL)",
];

async fn version_1_stores_are_migrated(fx: Fixture) {
    if let Some(path) = fx.url.strip_prefix("sqlite:") {
        let conn = rusqlite::Connection::open(path).unwrap();
        for stmt in VERSION_1 {
            conn.execute_batch(&stmt.replace("{ID}", "INTEGER PRIMARY KEY AUTOINCREMENT"))
                .unwrap();
        }
    } else {
        let (client, connection) = tokio_postgres::connect(&fx.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        for stmt in VERSION_1 {
            client
                .batch_execute(&stmt.replace(
                    "{ID}",
                    "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                ))
                .await
                .unwrap();
        }
    }
    // A read-only command on the old store brings it up to date too.
    let store = Store::open_existing(&fx.url).await.unwrap();
    // The old session (no end recorded) is over; the old stream has no
    // problem; new sessions can be open.
    assert_eq!(store.undecided(T0, T0, 10).await.unwrap().len(), 1);
    let s = store.stream("postfix").await.unwrap().unwrap();
    assert_eq!((s.cursor.as_deref(), s.problem), (Some("1:10"), None));
    let new = store
        .record_open(&obs(Role::Decoy, "192.0.2.2", T0), T0 + 100 * SEC)
        .await
        .unwrap();
    assert_eq!(store.undecided(T0, T0, 10).await.unwrap().len(), 1);
    let later = T0 + 100 * SEC;
    assert!(ids(store.undecided(later, later, 10).await.unwrap()).contains(&new));
    assert!(store.pause_begin(T0, "x").await.unwrap());
    assert_eq!(store.listings_changes().await.unwrap(), 0);
    // And it opens again as it is (migrated once).
    drop(store);
    fx.open().await;
}

/// What `mxkit serve --trap-store` reads: decoy sessions per hour (primary
/// sessions and other hours left out; the window's end excluded) and the
/// newest decisions first, at most the limit.
async fn decoy_hours_and_recent_decisions(fx: Fixture) {
    let store = fx.open().await;
    let hour = 3600 * SEC;
    let base = T0 - T0.rem_euclid(hour);
    let mut ids = Vec::new();
    for (client, at) in [
        ("192.0.2.1", base + 10 * SEC),
        ("192.0.2.2", base + 20 * SEC),
        ("192.0.2.3", base + hour + 5 * SEC),
        ("192.0.2.4", base + 3 * hour),
    ] {
        ids.push(store.record(&obs(Role::Decoy, client, at)).await.unwrap());
    }
    store
        .record(&obs(Role::Primary, "192.0.2.9", base + 30 * SEC))
        .await
        .unwrap();
    let hours = store.decoy_hours(base, base + 3 * hour).await.unwrap();
    let first = base / hour;
    assert_eq!(hours, vec![(first, 2), (first + 1, 1)]);
    for (i, id) in ids.iter().enumerate() {
        let client = format!("192.0.2.{}", i + 1);
        store
            .decide(
                &decision(*id, &client, base + i as Micros * SEC, Grade::Suspect),
                None,
            )
            .await
            .unwrap();
    }
    let recent = store.recent_decisions(2).await.unwrap();
    let clients: Vec<String> = recent.iter().map(|d| d.client.to_string()).collect();
    assert_eq!(clients, vec!["192.0.2.4", "192.0.2.3"]);
}

/// The pages `mxkit serve` keeps: stored whole under their id, listed
/// newest first without bodies, dropped when old; an id is unique.
async fn kept_results_round_trip_and_expire(fx: Fixture) {
    use mxkit_trap::store::SavedResult;
    let store = fx.open().await;
    let page = |id: &str, at: Micros| SavedResult {
        id: id.into(),
        kind: "check".into(),
        subject: "example.org".into(),
        at,
        body: format!("<html>{id}</html>"),
    };
    store.put_result(&page("a1", T0)).await.unwrap();
    store.put_result(&page("b2", T0 + SEC)).await.unwrap();
    assert!(
        store.put_result(&page("a1", T0 + 2 * SEC)).await.is_err(),
        "ids are unique"
    );
    assert_eq!(store.result("a1").await.unwrap(), Some(page("a1", T0)));
    assert_eq!(store.result("zz").await.unwrap(), None);
    let recent = store.recent_results(10).await.unwrap();
    let ids: Vec<&str> = recent.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec!["b2", "a1"]);
    assert!(recent.iter().all(|r| r.body.is_empty()));
    store.expire_results(T0 + SEC).await.unwrap();
    assert_eq!(store.result("a1").await.unwrap(), None);
    assert!(store.result("b2").await.unwrap().is_some());
}

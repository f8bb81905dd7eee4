//! The shared cache of `scan`: in-flight de-duplication (concurrent
//! identical questions wait on one query, even when the asker that leads is
//! cancelled) and the size bound (least used answers go first). Time is
//! tokio's paused clock; a gate holds answers back instead of a sleep.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::join_all;
use mxkit::dns::cache::Cache;
use mxkit::dns::rdata::A;
use mxkit::dns::{BoxFuture, Lookup, Name, RData, Record, RecordType, Response, Status};
use tokio::sync::watch;

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// Answers every A question with 192.0.2.1 (TTL 300), once the gate opens;
/// counts the questions that reached it.
struct Gated {
    open: watch::Receiver<bool>,
    asked: AtomicUsize,
}

impl Gated {
    fn new() -> (Arc<Gated>, watch::Sender<bool>) {
        let (tx, rx) = watch::channel(false);
        let g = Gated {
            open: rx,
            asked: AtomicUsize::new(0),
        };
        (Arc::new(g), tx)
    }

    fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

impl Lookup for Gated {
    fn query<'a>(&'a self, q: &'a Name, _rtype: RecordType) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            self.asked.fetch_add(1, Ordering::SeqCst);
            let mut open = self.open.clone();
            let _ = open.wait_for(|o| *o).await;
            Response {
                status: Status::NoError,
                answers: vec![Record::from_rdata(
                    q.clone(),
                    300,
                    RData::A(A::new(192, 0, 2, 1)),
                )]
                .into(),
                negative_ttl: None,
                authentic: false,
                authoritative: false,
                server: "gated".into(),
                owners_asked: false,
            }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_identical_questions_are_asked_once() {
    let (gated, gate) = Gated::new();
    let cache = Cache::new(Arc::clone(&gated));
    let q = name("mx.pool.test.");
    let upper = name("MX.Pool.TEST.");
    let askers = (0..100).map(|i| {
        let q = if i % 2 == 0 { &q } else { &upper };
        cache.query(q, RecordType::A)
    });
    let all = join_all(askers);
    tokio::pin!(all);
    // Let every asker start and wait.
    assert!(futures::poll!(all.as_mut()).is_pending());
    assert_eq!(gated.asked(), 1, "one query for 100 askers (case ignored)");
    assert_eq!(cache.in_flight(), 1);
    gate.send(true).unwrap();
    let answers = all.await;
    assert!(answers.iter().all(|r| r.answers.len() == 1));
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.joined), (1, 99));
    // Now stored: no query at all.
    cache.query(&q, RecordType::A).await;
    assert_eq!(gated.asked(), 1);
    assert_eq!(cache.stats().hits, 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_leader_hands_the_question_to_a_joiner() {
    let (gated, gate) = Gated::new();
    let cache = Cache::new(Arc::clone(&gated));
    let q = name("mx.pool.test.");
    let mut leader = cache.query(&q, RecordType::A);
    assert!(futures::poll!(leader.as_mut()).is_pending());
    let mut joiner = cache.query(&q, RecordType::A);
    assert!(futures::poll!(joiner.as_mut()).is_pending());
    assert_eq!(gated.asked(), 1);
    drop(leader);
    assert_eq!(cache.in_flight(), 0, "the flight ended with its leader");
    // The joiner notices and asks itself.
    assert!(futures::poll!(joiner.as_mut()).is_pending());
    assert_eq!(gated.asked(), 2);
    gate.send(true).unwrap();
    assert_eq!(joiner.await.answers.len(), 1);
    assert_eq!(cache.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_size_bound_holds_and_the_most_used_answers_stay() {
    let (gated, gate) = Gated::new();
    gate.send(true).unwrap();
    let cache = Cache::with_capacity(Arc::clone(&gated), 100);
    let hot: Vec<Name> = (0..10)
        .map(|i| name(&format!("mx{i}.pool.test.")))
        .collect();
    for round in 0..50 {
        for h in &hot {
            cache.query(h, RecordType::A).await;
        }
        for i in 0..20 {
            let once = name(&format!("d{round}-{i}.test."));
            cache.query(&once, RecordType::A).await;
        }
        assert!(cache.len() <= 100, "{} entries", cache.len());
    }
    // 10 hot names asked once each, 1000 one-off names once each.
    assert_eq!(gated.asked(), 10 + 1000);
    assert!(cache.stats().evicted > 0);
}

#[tokio::test(start_paused = true)]
async fn keep_only_stores_the_listed_types_and_still_shares_flights() {
    let (gated, gate) = Gated::new();
    let cache = Cache::new(Arc::clone(&gated)).keep_only(&[RecordType::A]);
    let q = name("d1.test.");
    let both = futures::future::join(
        cache.query(&q, RecordType::MX),
        cache.query(&q, RecordType::MX),
    );
    tokio::pin!(both);
    assert!(futures::poll!(both.as_mut()).is_pending());
    assert_eq!(gated.asked(), 1, "shared while in flight");
    gate.send(true).unwrap();
    both.await;
    assert!(cache.is_empty(), "an MX answer is not stored");
    cache.query(&q, RecordType::MX).await;
    assert_eq!(gated.asked(), 2);
    cache.query(&q, RecordType::A).await;
    cache.query(&q, RecordType::A).await;
    assert_eq!(gated.asked(), 3, "an A answer is");
    assert_eq!(cache.len(), 1);
}

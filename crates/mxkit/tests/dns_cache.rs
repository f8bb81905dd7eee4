//! The TTL cache (RFC 2181 section 5.2, RFC 2308): time is tokio's paused
//! clock, moved with `advance`, never slept.

use std::sync::Arc;
use std::time::Duration;

use mxkit::dns::cache::Cache;
use mxkit::dns::fake::Fake;
use mxkit::dns::rdata::MX;
use mxkit::dns::{Lookup, Name, RData, Record, RecordType, Response, Status};

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// One MX RRset with two TTLs, 300 and 3600 (catalogue case 43).
fn two_ttls() -> Response {
    let owner = name("c43.catalogue.test.");
    let mx = |pref: u16, host: &str, ttl: u32| {
        Record::from_rdata(owner.clone(), ttl, RData::MX(MX::new(pref, name(host))))
    };
    Response {
        status: Status::NoError,
        answers: vec![
            mx(10, "a.c43.catalogue.test.", 300),
            mx(20, "b.c43.catalogue.test.", 3600),
        ]
        .into(),
        negative_ttl: None,
        authentic: false,
        authoritative: false,
        server: "scripted".into(),
        owners_asked: false,
    }
}

fn ttls(resp: &Response) -> Vec<u32> {
    resp.answers.iter().map(|r| r.ttl).collect()
}

/// A hit hands the answers out with the time left as their TTL, and never
/// changes a response someone still holds: the answers a caller holds are
/// stamped into a copy; those nobody holds any more, in place.
#[tokio::test(start_paused = true)]
async fn hits_count_the_ttl_down_without_changing_a_held_response() {
    let fake = Fake::new().set("c43.catalogue.test", RecordType::MX, two_ttls());
    let cache = Cache::new(&fake);
    let q = name("c43.catalogue.test.");
    let first = cache.query(&q, RecordType::MX).await;
    tokio::time::advance(Duration::from_secs(10)).await;
    let held = cache.query(&q, RecordType::MX).await;
    assert_eq!(
        ttls(&first),
        [300, 3600],
        "the first response is as it came"
    );
    assert_eq!(ttls(&held), [290, 290], "kept 300 s, 290 left");
    let stamped = Arc::as_ptr(&held.answers);
    drop(held);
    tokio::time::advance(Duration::from_secs(10)).await;
    let later = cache.ready(&q, RecordType::MX).expect("a hit");
    assert_eq!(ttls(&later), [280, 280]);
    assert_eq!(
        Arc::as_ptr(&later.answers),
        stamped,
        "answers nobody held were stamped in place"
    );
    tokio::time::advance(Duration::from_secs(10)).await;
    let last = cache.query(&q, RecordType::MX).await;
    assert_eq!(ttls(&later), [280, 280], "a held response never changes");
    assert_eq!(ttls(&last), [270, 270]);
    assert_eq!(ttls(&first), [300, 3600]);
    assert_eq!(fake.count("c43.catalogue.test", RecordType::MX), 1);
}

#[tokio::test(start_paused = true)]
async fn rfc2181_5_2_rrset_is_cached_no_longer_than_its_lowest_ttl() {
    let fake = Fake::new().set("c43.catalogue.test", RecordType::MX, two_ttls());
    let cache = Cache::new(&fake);
    let q = name("c43.catalogue.test.");
    cache.query(&q, RecordType::MX).await;
    tokio::time::advance(Duration::from_secs(299)).await;
    let again = cache.query(&q, RecordType::MX).await;
    assert_eq!(
        fake.count("c43.catalogue.test", RecordType::MX),
        1,
        "served from the cache"
    );
    assert!(
        again.answers.iter().all(|r| r.ttl <= 1),
        "the remaining TTL is handed out"
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    cache.query(&q, RecordType::MX).await;
    assert_eq!(
        fake.count("c43.catalogue.test", RecordType::MX),
        2,
        "asked again after 300 s"
    );
}

#[tokio::test(start_paused = true)]
async fn rfc2308_5_negative_answers_are_cached_for_the_negative_ttl() {
    let mut nx = Response::status(Status::NxDomain, "scripted");
    nx.negative_ttl = Some(60);
    let fake = Fake::new().set("gone.test", RecordType::MX, nx);
    let cache = Cache::new(&fake);
    let q = name("gone.test.");
    cache.query(&q, RecordType::MX).await;
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(
        cache.query(&q, RecordType::MX).await.status,
        Status::NxDomain
    );
    assert_eq!(fake.count("gone.test", RecordType::MX), 1);
    tokio::time::advance(Duration::from_secs(2)).await;
    cache.query(&q, RecordType::MX).await;
    assert_eq!(fake.count("gone.test", RecordType::MX), 2);
}

#[tokio::test(start_paused = true)]
async fn rfc2308_negative_answer_without_soa_is_not_cached() {
    let fake = Fake::new().set(
        "nosoa.test",
        RecordType::MX,
        Response::status(Status::NxDomain, "scripted"),
    );
    let cache = Cache::new(&fake);
    let q = name("nosoa.test.");
    cache.query(&q, RecordType::MX).await;
    cache.query(&q, RecordType::MX).await;
    assert_eq!(fake.count("nosoa.test", RecordType::MX), 2);
}

#[tokio::test(start_paused = true)]
async fn rfc5321_5_1_temporary_failures_are_never_cached() {
    let fake = Fake::new()
        .servfail("flaky.test", RecordType::MX)
        .truncated("big.test", RecordType::MX);
    let cache = Cache::new(&fake);
    for n in ["flaky.test.", "big.test."] {
        cache.query(&name(n), RecordType::MX).await;
        cache.query(&name(n), RecordType::MX).await;
    }
    assert_eq!(fake.count("flaky.test", RecordType::MX), 2);
    assert_eq!(fake.count("big.test", RecordType::MX), 2);
    assert!(cache.is_empty());
}

/// A striped cache (`scan --threads`) answers as one table: each question
/// is asked once, kept for its TTL, and the counts are the sum of the
/// stripes'; the capacity is shared out between them.
#[tokio::test(start_paused = true)]
async fn a_striped_cache_answers_as_one_table() {
    let mut zone = String::from("$ORIGIN s.test.\n$TTL 300\n@ SOA ns h 1 1 1 1 60\n@ NS ns\n");
    for i in 0..200 {
        zone.push_str(&format!("h{i} A 192.0.2.{}\n", i % 250));
    }
    let fake = Fake::new().zone(&zone).unwrap();
    let cache = Cache::with_capacity(&fake, 1000).striped(16);
    for round in 0..3 {
        for i in 0..200 {
            let resp = cache
                .query(&name(&format!("h{i}.s.test.")), RecordType::A)
                .await;
            assert_eq!(resp.answers.len(), 1, "round {round}, h{i}");
        }
    }
    for i in 0..200 {
        assert_eq!(
            fake.count(&format!("h{i}.s.test"), RecordType::A),
            1,
            "h{i}"
        );
    }
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.hits, stats.evicted), (200, 400, 0));
    assert_eq!(cache.len(), 200);
    // 16 stripes of 62 entries: 200 names spread over them stay; a stripe
    // that fills sweeps only itself.
    let small = Cache::with_capacity(&fake, 64).striped(4);
    for i in 0..200 {
        small
            .query(&name(&format!("h{i}.s.test.")), RecordType::A)
            .await;
    }
    assert!(small.len() <= 64, "{}", small.len());
    assert!(small.stats().evicted > 0);
}

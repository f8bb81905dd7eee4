//! The bulk router (`mxkit::scan`): one result per item whatever happens,
//! a resolver that is gone stops the run early (with what was in flight
//! answered), and the engine's rate bound. Zone data comes from the fake,
//! silence from the test bed's fault server; timeouts are configured, never
//! slept.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mxkit::dns::Lookup;
use mxkit::dns::engine::{Engine, EngineConfig, RateLimit};
use mxkit::dns::fake::Fake;
use mxkit::scan::{Done, Item, LineReader, ScanOptions, Scanner, Stopped, Summary, WindowSize};
use testbed::fault::{FaultServer, Reply, Transport};
use tokio::sync::mpsc;

const ZONE: &str = "$ORIGIN run.test.\n$TTL 300\n@ SOA ns h 1 1 1 1 60\n@ NS ns\nns A 192.0.2.53\n\
    a MX 10 mx\nmx A 192.0.2.10\nmx AAAA 2001:db8::10\nb MX 0 .\nc A 192.0.2.20\n";

/// Feed `items` in batches from a task, collect every result.
async fn scan(scanner: &Scanner, items: Vec<Item>) -> (Summary, Vec<Done>) {
    let (item_tx, item_rx) = async_channel::bounded::<Vec<Item>>(2);
    let (done_tx, mut done_rx) = mpsc::channel::<Vec<Done>>(4);
    tokio::spawn(async move {
        for chunk in items.chunks(50) {
            if item_tx.send(chunk.to_vec()).await.is_err() {
                return;
            }
        }
    });
    let collect = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(batch) = done_rx.recv().await {
            all.extend(batch);
        }
        all
    });
    let summary = scanner.run(&item_rx, &done_tx).await.unwrap();
    drop(done_tx);
    (summary, collect.await.unwrap())
}

fn items(text: &str) -> Vec<Item> {
    let mut reader = LineReader::new(text.as_bytes());
    let mut out = Vec::new();
    while let Some(item) = reader.next_item().unwrap() {
        out.push(item);
    }
    out
}

#[tokio::test]
async fn every_item_gets_one_result_through_the_shared_cache() {
    let fake = Arc::new(Fake::new().zone(ZONE).unwrap());
    let lookup: Arc<dyn Lookup> = fake.clone();
    let opts = ScanOptions {
        window: WindowSize::Fixed(8),
        ..ScanOptions::default()
    };
    let scanner = Scanner::new(lookup, None, opts);
    let mut text = String::new();
    for i in 0..300 {
        let name = ["a", "b", "c", "nx"][i % 4];
        text.push_str(&format!("{name}.run.test\n"));
        if i % 50 == 0 {
            text.push_str("# comment\n\n\u{1}bad\n");
        }
    }
    let items = items(&text);
    let n = items.len();
    let (summary, done) = scan(&scanner, items).await;
    assert_eq!(done.len(), n);
    assert_eq!(summary.domains, n as u64);
    let mut lines: Vec<u64> = done.iter().map(|d| d.line).collect();
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(lines.len(), n, "each line once");
    assert_eq!(summary.outcome["mx"], 75);
    assert_eq!(summary.outcome["null_mx"], 75);
    assert_eq!(summary.outcome["implicit_mx"], 75);
    assert_eq!(summary.outcome["no_such_domain"], 75);
    assert_eq!(summary.outcome["invalid_address"], 6);
    // The exchanger's addresses were asked once for 75 domains; each
    // domain's own MX answer is not stored (only shared while in flight).
    assert_eq!(fake.count("mx.run.test", mxkit::dns::RecordType::A), 1);
    assert_eq!(fake.count("mx.run.test", mxkit::dns::RecordType::AAAA), 1);
    let mx = fake.count("a.run.test", mxkit::dns::RecordType::MX);
    assert!((1..=75).contains(&mx), "{mx}");
}

/// `--threads`: scanners on threads of their own, each with its own
/// source (here a fake of its own, standing for its own engine), take
/// items from one channel and share one cache: every item is routed once,
/// and an exchanger shared by every domain is asked once in all, by
/// whichever thread asked first (the other joins its flight or finds the
/// answer).
#[test]
fn sibling_scanners_on_threads_route_each_item_once_through_one_cache() {
    let fakes: Vec<Arc<Fake>> = (0..2)
        .map(|_| Arc::new(Fake::new().zone(ZONE).unwrap()))
        .collect();
    let opts = ScanOptions {
        window: WindowSize::Fixed(64),
        ..ScanOptions::default()
    };
    let first: Arc<dyn Lookup> = fakes[0].clone();
    let base = Scanner::new(first, None, opts.per_thread(0, 2));
    let second: Arc<dyn Lookup> = fakes[1].clone();
    let sibling = base.sibling(second, None, opts.per_thread(1, 2));
    let text: String = (0..4000)
        .map(|i| format!("{}.run.test\n", ["a", "b", "c", "nx"][i % 4]))
        .collect();
    let all = items(&text);
    let (item_tx, item_rx) = async_channel::bounded::<Vec<Item>>(4);
    let (done_tx, mut done_rx) = mpsc::channel::<Vec<Done>>(8);
    let collector = std::thread::spawn(move || {
        let mut got = Vec::new();
        while let Some(batch) = done_rx.blocking_recv() {
            got.extend(batch);
        }
        got
    });
    let feeder = std::thread::spawn(move || {
        for chunk in all.chunks(100) {
            item_tx.send_blocking(chunk.to_vec()).unwrap();
        }
    });
    let summaries: Vec<Summary> = std::thread::scope(|scope| {
        let handles: Vec<_> = [&base, &sibling]
            .into_iter()
            .map(|scanner| {
                let (items, done) = (&item_rx, done_tx.clone());
                scope.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(scanner.run(items, &done)).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    drop(done_tx);
    feeder.join().unwrap();
    let done = collector.join().unwrap();
    assert_eq!(done.len(), 4000);
    let mut lines: Vec<u64> = done.iter().map(|d| d.line).collect();
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(lines.len(), 4000, "each line once");
    assert!(
        summaries.iter().all(|s| s.domains > 0),
        "both threads routed: {:?}",
        summaries.iter().map(|s| s.domains).collect::<Vec<_>>()
    );
    let asked = |rtype| -> usize { fakes.iter().map(|f| f.count("mx.run.test", rtype)).sum() };
    assert_eq!(asked(mxkit::dns::RecordType::A), 1);
    assert_eq!(asked(mxkit::dns::RecordType::AAAA), 1);
    let combined = Summary::combine(&summaries, base.cache_stats(), Duration::from_secs(1));
    assert_eq!(combined.domains, 4000);
    assert_eq!(combined.outcome["mx"], 1000);
    assert!(combined.cache_hits + combined.cache_joined >= 1998);
}

#[tokio::test]
async fn a_resolver_gone_stops_the_run_early_with_every_started_item_answered() {
    let server = FaultServer::start(|_| Reply::Silence);
    let mut cfg = EngineConfig::new(vec![server.addr()]);
    cfg.timeout = Duration::from_millis(20);
    cfg.attempts = 1;
    let engine = Engine::new(cfg).await.unwrap();
    let opts = ScanOptions {
        window: WindowSize::Fixed(64),
        gone_after: Duration::from_millis(200),
        timeout: Duration::from_millis(20),
        ..ScanOptions::default()
    };
    let scanner = Scanner::new(Arc::new(engine.clone()), Some(engine), opts);
    let text: String = (0..20_000).map(|i| format!("d{i}.gone.test\n")).collect();
    let (summary, done) = scan(&scanner, items(&text)).await;
    assert!(
        matches!(summary.stopped, Some(Stopped::ResolverGone { .. })),
        "{:?}",
        summary.stopped
    );
    assert!(done.len() < 20_000 && !done.is_empty(), "{}", done.len());
    assert_eq!(done.len() as u64, summary.domains);
    assert!(
        done.iter()
            .all(|d| d.route.outcome.code() == "dns_temporary")
    );
}

#[tokio::test]
async fn the_rate_bound_spaces_the_queries() {
    let server = FaultServer::start(|req| Reply::a(req, &["192.0.2.1"]));
    let mut cfg = EngineConfig::new(vec![server.addr()]);
    cfg.timeout = Duration::from_secs(5);
    cfg.rate = Some(1000);
    let engine = Engine::new(cfg).await.unwrap();
    let names: Vec<mxkit::dns::Name> = (0..200)
        .map(|i| mxkit::dns::Name::from_ascii(format!("r{i}.rate.test.")).unwrap())
        .collect();
    let started = Instant::now();
    let all = futures::future::join_all(
        names
            .iter()
            .map(|n| engine.query(n, mxkit::dns::RecordType::A)),
    )
    .await;
    let took = started.elapsed();
    assert!(all.iter().all(|r| r.answers.len() == 1));
    // 200 queries at 1000/s: about 200 ms, less the 20 ms burst allowance.
    assert!(took >= Duration::from_millis(170), "{took:?}");
    assert_eq!(engine.meter().queries, 200);
}

/// `--rate` with `--threads`: engines given one [`RateLimit`] share it,
/// so the bound is their total.
#[tokio::test]
async fn engines_sharing_a_rate_bound_keep_to_it_together() {
    let server = FaultServer::start(|req| Reply::a(req, &["192.0.2.1"]));
    let limit = RateLimit::new(1000);
    let mut engines = Vec::new();
    for _ in 0..2 {
        let mut cfg = EngineConfig::new(vec![server.addr()]);
        cfg.timeout = Duration::from_secs(5);
        cfg.rate = Some(1000);
        cfg.shared_rate = Some(limit.clone());
        engines.push(Engine::new(cfg).await.unwrap());
    }
    let names: Vec<mxkit::dns::Name> = (0..100)
        .map(|i| mxkit::dns::Name::from_ascii(format!("s{i}.rate.test.")).unwrap())
        .collect();
    let started = Instant::now();
    let all = futures::future::join_all(engines.iter().flat_map(|e| {
        names
            .iter()
            .map(move |n| e.query(n, mxkit::dns::RecordType::A))
    }))
    .await;
    let took = started.elapsed();
    assert!(all.iter().all(|r| r.answers.len() == 1));
    // 2 x 100 queries at 1000/s in all: about 200 ms (each engine alone at
    // 1000/s would take 100 ms), less the 20 ms burst allowance.
    assert!(took >= Duration::from_millis(170), "{took:?}");
    assert_eq!(engines.iter().map(|e| e.meter().queries).sum::<u64>(), 200);
}

/// Under load a server's listen queue drops connection attempts: a failed
/// TCP exchange after a truncated UDP answer is tried again (up to the
/// attempts), instead of ending the question as truncated.
#[tokio::test]
async fn a_failed_tcp_fallback_is_tried_again() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let tcp = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&tcp);
    let server = FaultServer::start(move |req| match req.transport {
        Transport::Udp => Reply::Truncated,
        Transport::Tcp if seen.fetch_add(1, Ordering::SeqCst) == 0 => Reply::Hangup,
        Transport::Tcp => Reply::mx(req, &[(10, "mx.example.")]),
    });
    let mut cfg = EngineConfig::new(vec![server.addr()]);
    cfg.timeout = Duration::from_secs(5);
    cfg.attempts = 2;
    let engine = Engine::new(cfg).await.unwrap();
    let name = mxkit::dns::Name::from_ascii("example.").unwrap();
    let resp = engine.query(&name, mxkit::dns::RecordType::MX).await;
    assert_eq!(resp.status, mxkit::dns::Status::NoError, "{resp:?}");
    assert_eq!(resp.answers.len(), 1);
    assert_eq!(server.count(Transport::Udp), 1);
    assert_eq!(tcp.load(Ordering::SeqCst), 2);
    assert_eq!(engine.meter().tcp, 1, "one question re-asked over TCP");
}

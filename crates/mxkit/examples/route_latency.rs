//! Route latency with and without DANE, in sequential DNS round trips and
//! in wall time, on the secure test bed (`testdata/secure/`: knotd signing,
//! unbound validating; root needed for nothing here). `bench/route-latency`
//! runs it; BENCHMARKS.md has the figures.
//!
//! Every query goes through a lookup that waits `--delay` milliseconds
//! before asking unbound (default 20): the time a resolver takes on a cache
//! miss, which is what makes round trips matter. (unbound on loopback with
//! a warm cache answers in about 0.1 ms, so without the delay every route
//! would take well under a millisecond and only processing would show.)
//! The rounds are counted as the test suite counts them: the questions
//! answered before each question is asked; questions asked with the same
//! count went out together.
//!
//! Usage: `cargo run --release -p mxkit --example route_latency -- [--delay MS] [--runs N]`

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mxkit::dns::engine::{Engine, EngineConfig};
use mxkit::dns::{BoxFuture, Lookup, Name, RecordType, Response};
use mxkit::route::{RouteOptions, route_input};
use testbed::unbound::Validating;

/// Waits, then asks; counts rounds.
struct Delayed {
    inner: Engine,
    delay: Duration,
    done: AtomicUsize,
    rounds: Mutex<BTreeSet<usize>>,
    queries: AtomicUsize,
}

impl Lookup for Delayed {
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let before = self.done.load(Ordering::SeqCst);
            self.rounds.lock().unwrap().insert(before);
            self.queries.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            let resp = self.inner.query(name, rtype).await;
            self.done.fetch_add(1, Ordering::SeqCst);
            resp
        })
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let delay = Duration::from_millis(arg("--delay", 20));
    let runs = arg("--runs", 21) as usize;
    let bed = Validating::testdata();
    let mut cfg = EngineConfig::new(vec![bed.resolver()]);
    cfg.dnssec_ok = true;
    let engine = Engine::new(cfg).await.expect("engine");
    let cases = [
        ("other.plain.test", "unsigned domain, unsigned exchanger"),
        ("signed.test", "signed MX, DANE exchanger"),
        (
            "cname.signed.test",
            "signed MX, DANE exchanger behind a CNAME",
        ),
        ("plain.test", "unsigned MX, DANE exchanger (Rule S2)"),
    ];
    println!(
        "| Domain | Case | DANE | Rounds | Queries | Median ms | Min ms | Max ms |\n|---|---|---|---|---|---|---|---|"
    );
    for (domain, what) in cases {
        for dane in [false, true] {
            let opts = RouteOptions {
                dane,
                seed: Some(1),
                ..RouteOptions::default()
            };
            let mut times = Vec::with_capacity(runs);
            let (mut rounds, mut queries) = (0, 0);
            for _ in 0..runs {
                let lookup = Delayed {
                    inner: engine.clone(),
                    delay,
                    done: AtomicUsize::new(0),
                    rounds: Mutex::new(BTreeSet::new()),
                    queries: AtomicUsize::new(0),
                };
                let start = Instant::now();
                let route = route_input(&lookup, &format!("postmaster@{domain}"), &opts).await;
                times.push(start.elapsed());
                assert_eq!(route.outcome.code(), "mx", "{domain}: {route:?}");
                rounds = lookup.rounds.lock().unwrap().len();
                queries = lookup.queries.load(Ordering::SeqCst);
            }
            times.sort();
            let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
            println!(
                "| {domain} | {what} | {} | {rounds} | {queries} | {} | {} | {} |",
                if dane { "on" } else { "off" },
                ms(times[runs / 2]),
                ms(times[0]),
                ms(times[runs - 1]),
            );
        }
    }
}

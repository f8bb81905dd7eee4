//! Bulk routing: the same [`route`](crate::route) for millions of domains,
//! as fast as the resolver allows, nothing lost.
//!
//! Words:
//! - an **item** is one input line that asks for a route: a domain or an
//!   address, or a line that cannot be one (over-long, not UTF-8), which is
//!   still answered (permanent, `invalid_address`). Blank lines and `#`
//!   comments are **skipped** but keep their line numbers;
//! - a **result** is an item's [`Route`], with the line number and the line
//!   as given; there is exactly one per item;
//! - the **window** is the number of items being routed at once. It is
//!   fixed ([`WindowSize::Fixed`]) or **adaptive** ([`WindowSize::Auto`]),
//!   within [[`MIN_WINDOW`], [`MAX_WINDOW`]]: additive increase,
//!   multiplicative decrease (AIMD, as TCP does with its congestion window,
//!   RFC 5681), judged once per DNS timeout (a lost query shows only then).
//!   It starts at [`MIN_WINDOW`] and doubles while the results per second
//!   grow, halves when timeouts plus SERVFAIL/REFUSED replies rise more than
//!   [`LOSS_THRESHOLD`] above their usual share (so names that always time
//!   out do not hold it down), and later tries an eighth more now and then,
//!   kept only when the results per second follow (see `Window`);
//! - the run **stops early** when no server has given a usable reply for
//!   [`ScanOptions::gone_after`] while tries were being sent (the resolver is
//!   gone): the items in flight still end (as timeouts), the rest of the
//!   input is left unread, and [`Summary::stopped`] says why. A resolver that
//!   only times out on some names never stops a run: those names end as
//!   `dns_temporary` results.
//!
//! Every lookup goes through one shared [`Cache`]: questions in flight are
//! asked once for all who ask them, and A/AAAA answers are kept for their
//! TTL, so an exchanger shared by thousands of domains is asked once. Each
//! domain's MX answer is not kept (only shared while in flight): it is
//! asked once per domain, and keeping it would only push the shared
//! addresses out of the bounded cache (a duplicate line asks again).
//!
//! Memory is bounded by the window, never by the input: items come from a
//! bounded channel fed by a [`LineReader`] (lines are cut at
//! [`MAX_LINE`] bytes while reading, so one huge line cannot fill memory
//! either) and results leave through another bounded channel as soon as
//! they are done (in completion order, not input order), in batches: a
//! batch leaves when it is full, when nothing else is being routed, or
//! at most [`HOLD`] after its first result.
//!
//! Results are written as JSON lines, and a later run continues an output
//! that a killed or stopped run left behind: [`resume`].

pub mod json;
pub mod merge;
pub mod resume;

use std::collections::BTreeMap;
use std::io::{self, BufRead};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::dns::cache::{Cache, CacheStats, Through};
use crate::dns::engine::{Engine, MeterReading};
use crate::dns::{Lookup, RecordType};
use crate::route::{Route, RouteError, RouteKind, RouteOptions, RouteVerdict, route_input};
use resume::LineSet;

/// Longest line routed, in bytes (after the line ending is removed); a
/// longer line is answered `invalid_address` and only its first
/// `MAX_LINE` bytes are kept (as `input`).
pub const MAX_LINE: usize = 1024;
/// Longest line read to its end, in bytes: past it the input is not a list
/// of domains (a binary file, `/dev/zero`, no line end in sight) and
/// reading stops with [`LineTooLong`] instead of going on forever. A
/// thousand times [`MAX_LINE`]: lines of another tool's output (JSON, CSV)
/// are still answered one by one as `invalid_address`.
pub const MAX_LINE_READ: usize = 1 << 20;
/// Smallest adaptive window.
pub const MIN_WINDOW: usize = 64;
/// Largest window.
pub const MAX_WINDOW: usize = 100_000;
/// Share of failed tries (timeouts, SERVFAIL, REFUSED) in an epoch above
/// which the adaptive window halves.
pub const LOSS_THRESHOLD: f64 = 0.01;
/// Default for [`ScanOptions::gone_after`]: how long without any usable reply
/// before a run stops early.
pub const DEFAULT_GONE_AFTER: Duration = Duration::from_secs(30);

/// [`ScanOptions::gone_after`] for a resolver whose questions may wait up
/// to `budget` each (backed-off tries over every server,
/// [`EngineConfig::budget`](crate::dns::engine::EngineConfig::budget)):
/// [`DEFAULT_GONE_AFTER`], but never less than twice that budget, so that
/// one slow question does not look like a resolver that is gone.
pub fn gone_after(budget: Duration) -> Duration {
    DEFAULT_GONE_AFTER.max(budget * 2)
}
/// Stripes of the shared cache ([`Cache::striped`]): enough that the
/// threads of a scan rarely want one lock at once, few enough that each
/// keeps a share of [`DEFAULT_CACHE_ENTRIES`] in the thousands.
pub const CACHE_STRIPES: usize = 16;
/// Entries of the shared cache by default (answers and flights).
pub const DEFAULT_CACHE_ENTRIES: usize = 50_000;

/// One input line to route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// 1-based line number in the input (blank and comment lines count).
    pub line: u64,
    /// The line as given (surrounding white space removed; not UTF-8 bytes
    /// replaced by U+FFFD; over-long lines cut at [`MAX_LINE`] bytes).
    pub input: String,
    /// Why the line cannot be routed at all, before any parsing (too long,
    /// not UTF-8); `None` for a line that is routed (and may still turn out
    /// to be an invalid address).
    pub unreadable: Option<String>,
}

/// One item's answer.
#[derive(Clone, Debug)]
pub struct Done {
    /// The item's line number.
    pub line: u64,
    /// The item's line as given.
    pub input: String,
    /// Its route (or why there is none).
    pub route: Route,
}

/// The part of the input one run routes: the lines whose 1-based number
/// modulo `count` is `index` (`--shard K/N`). Several machines (or the
/// tasks of a scheduler: a Kubernetes Indexed Job, a Slurm array) read the
/// same input, each with its own index, and route every line exactly once
/// between them, with the original line numbers; [`merge`] joins their
/// outputs and checks that. The whole input is shard `0/1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    /// K, from 0 to `count - 1`.
    index: u64,
    /// N, at least 1.
    count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard::ALL
    }
}

/// A `--shard` that is not `K/N` with 0 <= K < N.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected K/N with 0 <= K < N (for example 3/16: the lines whose number modulo 16 is 3)")]
pub struct ShardError;

impl Shard {
    /// The whole input.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`; `None` unless `index < count`.
    pub fn new(index: u64, count: u64) -> Option<Shard> {
        (index < count).then_some(Shard { index, count })
    }

    /// K.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// N.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether line `line` (1-based) is this shard's.
    pub fn holds(&self, line: u64) -> bool {
        line % self.count == self.index
    }

    /// Where a line of this shard comes among the shard's lines (the lines
    /// of one shard are consecutive numbers here, so that the line sets of
    /// a resumed shard stay runs: [`resume::LineSet`]).
    pub fn position(&self, line: u64) -> u64 {
        line / self.count
    }
}

impl std::str::FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let (k, n) = s.trim().split_once('/').ok_or(ShardError)?;
        let parse = |t: &str| {
            let t = t.trim();
            // Digits only: no sign, no "+3", no "0x10".
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ShardError);
            }
            t.parse::<u64>().map_err(|_| ShardError)
        };
        Shard::new(parse(k)?, parse(n)?).ok_or(ShardError)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// An input line ran past [`MAX_LINE_READ`] bytes: the input is not a list
/// of domains. Carried inside the [`io::Error`] (kind `InvalidData`) that
/// [`LineReader::next_item`] returns; find it with [`LineTooLong::find`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "line {line} exceeds the limit of {limit} bytes for one input line (one domain or \
     address per line): the input is not a list of domains"
)]
pub struct LineTooLong {
    /// The 1-based number of the line.
    pub line: u64,
    /// The limit, [`MAX_LINE_READ`].
    pub limit: usize,
}

impl LineTooLong {
    /// The limit error inside `e`, if that is what `e` is.
    pub fn find(e: &io::Error) -> Option<&LineTooLong> {
        e.get_ref()?.downcast_ref()
    }
}

/// Reads items from lines of text, with bounded memory per line.
///
/// Lines end with `\n` (a `\r` before it is removed with the other white
/// space); the last line may lack it. Blank lines and lines whose first
/// non-blank character is `#` are skipped. A line is read to its end up to
/// [`MAX_LINE_READ`] bytes (only the first [`MAX_LINE`] and one are kept);
/// a longer one is an error ([`LineTooLong`]). When resuming, the items
/// whose results an output already holds are passed over too
/// ([`LineReader::resuming`]).
pub struct LineReader<R> {
    reader: R,
    line: u64,
    skipped: u64,
    shard: Shard,
    elsewhere: u64,
    done: LineSet,
    resumed: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> LineReader<R> {
    /// Read from `reader`, starting at line 1.
    pub fn new(reader: R) -> Self {
        Self::resuming(reader, LineSet::default())
    }

    /// Read from `reader`, starting at line 1, passing over the items of
    /// the lines in `done` (the lines a resumed output holds, see
    /// [`resume::resume`]).
    pub fn resuming(reader: R, done: LineSet) -> Self {
        LineReader {
            reader,
            line: 0,
            skipped: 0,
            shard: Shard::ALL,
            elsewhere: 0,
            done,
            resumed: 0,
            buf: Vec::with_capacity(MAX_LINE + 1),
        }
    }

    /// Read only the lines of `shard`; the others are passed over (and
    /// counted by [`LineReader::elsewhere`]). The lines in `done`
    /// ([`LineReader::resuming`]) are then positions within the shard
    /// ([`Shard::position`]).
    pub fn shard(mut self, shard: Shard) -> Self {
        self.shard = shard;
        self
    }

    /// Lines read so far (including skipped ones and those of other shards).
    pub fn lines(&self) -> u64 {
        self.line
    }

    /// Lines passed over because they belong to another shard.
    pub fn elsewhere(&self) -> u64 {
        self.elsewhere
    }

    /// Blank and comment lines skipped so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Items passed over so far because their line was done.
    pub fn resumed(&self) -> u64 {
        self.resumed
    }

    /// The next item, `None` at the end of the input.
    pub fn next_item(&mut self) -> io::Result<Option<Item>> {
        loop {
            let Some(length) = self.read_line()? else {
                return Ok(None);
            };
            self.line += 1;
            if !self.shard.holds(self.line) {
                self.elsewhere += 1;
                continue;
            }
            let raw = trim_ascii(&self.buf);
            if raw.is_empty() || raw[0] == b'#' {
                self.skipped += 1;
                continue;
            }
            if self.done.contains(self.shard.position(self.line)) {
                self.resumed += 1;
                continue;
            }
            let (input, unreadable) = if length > MAX_LINE {
                (
                    String::from_utf8_lossy(raw).into_owned(),
                    Some(format!(
                        "line {} is {length} bytes long (at most {MAX_LINE})",
                        self.line
                    )),
                )
            } else {
                match std::str::from_utf8(raw) {
                    Ok(s) => (s.to_owned(), None),
                    Err(_) => (
                        String::from_utf8_lossy(raw).into_owned(),
                        Some(format!("line {} is not UTF-8 text", self.line)),
                    ),
                }
            };
            return Ok(Some(Item {
                line: self.line,
                input,
                unreadable,
            }));
        }
    }

    /// Read one line into `buf` (at most `MAX_LINE + 1` bytes of it, without
    /// the `\n`); returns its full length, or `None` at the end.
    fn read_line(&mut self) -> io::Result<Option<usize>> {
        self.buf.clear();
        let mut length = 0usize;
        let mut any = false;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(any.then_some(length));
            }
            any = true;
            let (part, used, end) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (&chunk[..i], i + 1, true),
                None => (chunk, chunk.len(), false),
            };
            let room = (MAX_LINE + 1).saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&part[..part.len().min(room)]);
            length += part.len();
            self.reader.consume(used);
            if length > MAX_LINE_READ {
                let e = LineTooLong {
                    line: self.line + 1,
                    limit: MAX_LINE_READ,
                };
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            if end {
                return Ok(Some(length));
            }
        }
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &b[start..end.max(start)]
}

/// How many items are routed at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowSize {
    /// Exactly this many (at least 1).
    Fixed(usize),
    /// Adaptive (AIMD) within [[`MIN_WINDOW`], [`MAX_WINDOW`]].
    Auto,
}

/// How a scan runs.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// How each item is routed (the same options as `route`).
    pub route: RouteOptions,
    /// Items in flight.
    pub window: WindowSize,
    /// The largest an adaptive window grows (at most [`MAX_WINDOW`], at
    /// least [`MIN_WINDOW`]): [`MAX_WINDOW`], or its share of it on one of
    /// several threads ([`ScanOptions::per_thread`]).
    pub window_max: usize,
    /// Entries of the shared cache.
    pub cache_entries: usize,
    /// Stop early after this long without a usable reply from any server
    /// while queries are being sent.
    pub gone_after: Duration,
    /// The DNS timeout of a first try (later tries wait longer, see
    /// [`EngineConfig::try_timeout`](crate::dns::engine::EngineConfig::try_timeout)):
    /// the adaptive window is judged once per this long (at least 100 ms),
    /// since a lost query shows only then.
    pub timeout: Duration,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            route: RouteOptions::default(),
            window: WindowSize::Auto,
            window_max: MAX_WINDOW,
            cache_entries: DEFAULT_CACHE_ENTRIES,
            gone_after: DEFAULT_GONE_AFTER,
            timeout: Duration::from_millis(500),
        }
    }
}

impl ScanOptions {
    /// The options of thread `index` of `threads` that route one input
    /// together: a fixed window is split between them (the first ones take
    /// the remainder; a thread's share is at least 1, so use at most as many
    /// threads as the window holds items), an adaptive one may grow to its
    /// share of [`MAX_WINDOW`] (at least [`MIN_WINDOW`]): the window is what
    /// the resolver sees in flight, whatever the number of threads.
    pub fn per_thread(&self, index: usize, threads: usize) -> ScanOptions {
        let threads = threads.max(1);
        let window = match self.window {
            WindowSize::Fixed(n) => {
                let share = n / threads + usize::from(index < n % threads);
                WindowSize::Fixed(share.max(1))
            }
            WindowSize::Auto => WindowSize::Auto,
        };
        ScanOptions {
            window,
            window_max: (self.window_max / threads).max(MIN_WINDOW),
            ..self.clone()
        }
    }
}

/// Why a run stopped before the end of its input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stopped {
    /// No server gave a usable reply for this long while queries were sent.
    #[error("no usable reply from any DNS server for {seconds} s: the resolver is gone")]
    ResolverGone {
        /// How long it was silent.
        seconds: u64,
    },
}

/// What a run did. Serialized as the `--stats` JSON of `mxkit scan`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Results produced by this run (one per item).
    pub domains: u64,
    /// Results per status (`deliverable`, `permanent`, `temporary`).
    pub status: BTreeMap<&'static str, u64>,
    /// Results per outcome (`mx`, `implicit_mx`, `null_mx`, ...).
    pub outcome: BTreeMap<&'static str, u64>,
    /// Questions asked of the DNS engine (after the cache).
    pub questions: u64,
    /// UDP queries sent (first tries and resends).
    pub queries: u64,
    /// UDP queries that were resends (after a timeout or an error rcode).
    pub resends: u64,
    /// UDP tries that timed out.
    pub timeouts: u64,
    /// Replies with an error rcode (SERVFAIL, REFUSED, ...).
    pub error_rcodes: u64,
    /// Questions re-asked over TCP after a truncated UDP reply.
    pub tcp_fallbacks: u64,
    /// Lookups answered by the shared cache (stored answers).
    pub cache_hits: u64,
    /// Lookups that joined a question already in flight.
    pub cache_joined: u64,
    /// Wall-clock time of the run, seconds.
    pub elapsed: f64,
    /// Results per second.
    pub domains_per_second: f64,
    /// UDP queries sent per result.
    pub queries_per_domain: f64,
    /// Largest window used.
    pub window_max: usize,
    /// Window at the end.
    pub window_final: usize,
    /// Set when the run stopped before the end of its input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
}

impl Summary {
    /// The summary of several threads' runs over one input, with the
    /// shared cache's counts (`cache`: what it did while they ran; each
    /// part's own cache counts are of the shared cache too, so they are not
    /// added) and the whole run's wall-clock time.
    pub fn combine(parts: &[Summary], cache: CacheStats, elapsed: Duration) -> Summary {
        let mut all = Summary::default();
        for part in parts {
            all.domains += part.domains;
            for (k, v) in &part.status {
                *all.status.entry(k).or_default() += v;
            }
            for (k, v) in &part.outcome {
                *all.outcome.entry(k).or_default() += v;
            }
            all.questions += part.questions;
            all.queries += part.queries;
            all.resends += part.resends;
            all.timeouts += part.timeouts;
            all.error_rcodes += part.error_rcodes;
            all.tcp_fallbacks += part.tcp_fallbacks;
            all.window_max += part.window_max;
            all.window_final += part.window_final;
            if all.stopped.is_none() {
                all.stopped.clone_from(&part.stopped);
            }
        }
        all.cache_hits = cache.hits;
        all.cache_joined = cache.joined;
        all.rates(elapsed);
        all
    }

    /// Set the elapsed time and the rates derived from it.
    fn rates(&mut self, elapsed: Duration) {
        self.elapsed = elapsed.as_secs_f64();
        if self.elapsed > 0.0 {
            self.domains_per_second = self.domains as f64 / self.elapsed;
        }
        if self.domains > 0 {
            self.queries_per_domain = self.queries as f64 / self.domains as f64;
        }
    }

    fn count(&mut self, route: &Route) {
        self.domains += 1;
        *self.status.entry(status_code(route.status)).or_default() += 1;
        *self.outcome.entry(route.outcome.code()).or_default() += 1;
    }
}

/// The snake-case code of a status, as in JSON.
pub fn status_code(status: RouteVerdict) -> &'static str {
    match status {
        RouteVerdict::Deliverable => "deliverable",
        RouteVerdict::Permanent => "permanent",
        RouteVerdict::Temporary => "temporary",
    }
}

/// The bulk router: a lookup source behind the shared cache, and the options.
///
/// One scanner runs on one thread (its engine's sockets and tasks belong
/// to that thread's runtime). Several threads route one input with one
/// scanner each, made by [`Scanner::sibling`]: each has its own engine and
/// window, all share the cache (an exchanger asked by thousands of domains
/// is still asked once) and take their items from one channel.
pub struct Scanner {
    cache: Through<Arc<dyn Lookup>, Arc<dyn Lookup>>,
    engine: Option<Engine>,
    opts: ScanOptions,
}

impl Scanner {
    /// Route through `lookup` (behind a new shared cache). `engine`, when the
    /// lookup is (or ends in) the live engine, gives the congestion signals
    /// for the adaptive window, the query counts and the "resolver gone"
    /// check; without it (zone files only) the window is fixed at its start.
    pub fn new(lookup: Arc<dyn Lookup>, engine: Option<Engine>, opts: ScanOptions) -> Self {
        let cache = Cache::with_capacity(Arc::clone(&lookup), opts.cache_entries)
            .keep_only(&[RecordType::A, RecordType::AAAA])
            .striped(CACHE_STRIPES);
        Scanner {
            cache: Through {
                cache: Arc::new(cache),
                source: lookup,
            },
            engine,
            opts,
        }
    }

    /// A scanner for another thread: the same cache as this one, with its
    /// own `lookup` (the same view of DNS, through the other thread's
    /// engine, which gives its window's signals) and options (see
    /// [`ScanOptions::per_thread`]).
    pub fn sibling(
        &self,
        lookup: Arc<dyn Lookup>,
        engine: Option<Engine>,
        opts: ScanOptions,
    ) -> Scanner {
        Scanner {
            cache: Through {
                cache: Arc::clone(&self.cache.cache),
                source: lookup,
            },
            engine,
            opts,
        }
    }

    /// What the shared cache did so far.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.cache.stats()
    }

    /// Route one item.
    pub async fn route_item(&self, item: Item) -> Done {
        let route = match &item.unreadable {
            Some(why) => unreadable(&item.input, why),
            None => route_input(&self.cache, &item.input, &self.opts.route).await,
        };
        Done {
            line: item.line,
            input: item.input,
            route,
        }
    }

    /// Route every item that comes from `input` and send each result to
    /// `output` when it is done, in batches (see the module documentation:
    /// a partial batch waits at most [`HOLD`]), until `input` is closed
    /// and drained (or the run stops early). Returns the summary.
    ///
    /// Several scanners (one per thread, [`Scanner::sibling`]) may take
    /// their items from clones of one `input`; a scanner that stops early
    /// closes it, so that the others stop taking items too.
    ///
    /// Fails only when `output` is closed (the receiver went away); the
    /// items in flight are then dropped.
    ///
    /// The results go as they are; [`Scanner::run_packed`] turns each
    /// batch into something else first.
    pub async fn run(
        &self,
        input: &async_channel::Receiver<Vec<Item>>,
        output: &mpsc::Sender<Vec<Done>>,
    ) -> Result<Summary, Closed> {
        self.run_packed(input, output, |batch| batch).await
    }

    /// [`Scanner::run`], with each batch of results turned by `pack` into
    /// what `output` carries: `mxkit scan` encodes them as result lines
    /// ([`resume::write_result_line`]) on the scanning thread, so that the
    /// encoding grows with the threads instead of holding up one writer.
    ///
    /// One loop, about 110 lines, on purpose: it is the scan's hot path,
    /// and its state (the window, the futures in flight, the batch being
    /// held) is shared by every branch of one `select!`.
    pub async fn run_packed<B>(
        &self,
        input: &async_channel::Receiver<Vec<Item>>,
        output: &mpsc::Sender<B>,
        mut pack: impl FnMut(Vec<Done>) -> B,
    ) -> Result<Summary, Closed> {
        let started = Instant::now();
        let start_meter = self.meter();
        let cache_start = self.cache.cache.stats();
        let mut summary = Summary::default();
        let mut window = Window::new(
            self.opts.window,
            self.opts.window_max,
            self.opts.timeout,
            self.engine.is_some(),
        );
        let mut running = FuturesUnordered::new();
        let mut pending: std::vec::IntoIter<Item> = Vec::new().into_iter();
        let mut input_open = true;
        let mut batch: Vec<Done> = Vec::with_capacity(BATCH);
        let mut stopped: Option<Stopped> = None;
        // A partial batch waits at most HOLD for more results: handing
        // over each handful as it comes woke the receiver (a thread of
        // its own) several times as often.
        let hold = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(hold);
        let mut holding = false;
        loop {
            if stopped.is_some() && !input.is_closed() {
                // The other threads stop taking items too.
                input.close();
            }
            // Fill the window from what was read.
            while stopped.is_none() && running.len() < window.size() {
                match pending.next() {
                    // Unconstrained by tokio's cooperative budget: a
                    // future out of budget wakes itself and returns, and
                    // `FuturesUnordered` then polls every woken future of
                    // the window again for nothing (with a window of 10000,
                    // that was most of the run's time). The loop still
                    // yields whenever nothing is ready.
                    // Boxed where it is made: the route future is 1.5 KB,
                    // and unboxed it was copied again into the
                    // wrapper and into `FuturesUnordered`'s task.
                    Some(item) => {
                        running.push(tokio::task::unconstrained(Box::pin(self.route_item(item))))
                    }
                    None => {
                        if !input_open {
                            break;
                        }
                        match input.try_recv() {
                            Ok(items) => pending = items.into_iter(),
                            Err(async_channel::TryRecvError::Empty) => break,
                            Err(async_channel::TryRecvError::Closed) => {
                                input_open = false;
                                break;
                            }
                        }
                    }
                }
            }
            // Take every result that is ready without waiting.
            let done = match futures::FutureExt::now_or_never(running.next()) {
                Some(Some(done)) => Some(done),
                Some(None) | None => None,
            };
            if let Some(done) = done {
                summary.count(&done.route);
                batch.push(done);
                if batch.len() >= BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    holding = false;
                    output.send(pack(full)).await.map_err(|_| Closed)?;
                }
                if let Some(engine) = &self.engine {
                    window.observe(|| engine.meter());
                    self.check_gone(engine, &start_meter, &mut stopped);
                }
                continue;
            }
            let can_take = stopped.is_none() && input_open && running.len() < window.size();
            // Nothing ready: hand over what is done (at once when nothing
            // more can come, else within HOLD), then wait.
            if !batch.is_empty() && (running.is_empty() || hold_expired(&hold, holding)) {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                holding = false;
                output.send(pack(full)).await.map_err(|_| Closed)?;
            } else if !batch.is_empty() && !holding {
                hold.as_mut().reset(tokio::time::Instant::now() + HOLD);
                holding = true;
            }
            if running.is_empty() && !can_take {
                if pending.len() == 0 || stopped.is_some() {
                    break;
                }
                continue;
            }
            tokio::select! {
                biased;
                () = &mut hold, if holding => {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    holding = false;
                    output.send(pack(full)).await.map_err(|_| Closed)?;
                }
                done = running.next(), if !running.is_empty() => {
                    if let Some(done) = done {
                        summary.count(&done.route);
                        batch.push(done);
                        if let Some(engine) = &self.engine {
                            window.observe(|| engine.meter());
                            self.check_gone(engine, &start_meter, &mut stopped);
                        }
                    }
                }
                items = input.recv(), if can_take && pending.len() == 0 => {
                    match items {
                        Ok(items) => pending = items.into_iter(),
                        Err(_) => input_open = false,
                    }
                }
            }
        }
        if !batch.is_empty() {
            output.send(pack(batch)).await.map_err(|_| Closed)?;
        }
        summary.window_max = window.max_used;
        summary.window_final = window.size();
        summary.stopped = stopped;
        self.totals(&mut summary, &start_meter, &cache_start, started);
        Ok(summary)
    }

    /// The run's counts from the meter and the cache (what moved since
    /// `start` and `cache_start`) and its rates.
    fn totals(
        &self,
        summary: &mut Summary,
        start: &MeterReading,
        cache_start: &CacheStats,
        started: Instant,
    ) {
        let end = self.meter();
        let cache = self.cache.cache.stats();
        summary.questions = end.questions - start.questions;
        summary.queries = end.queries - start.queries;
        summary.resends = end.resends - start.resends;
        summary.timeouts = end.timeouts - start.timeouts;
        summary.error_rcodes = end.error_rcodes - start.error_rcodes;
        summary.tcp_fallbacks = end.tcp - start.tcp;
        let cache = cache.since(cache_start);
        summary.cache_hits = cache.hits;
        summary.cache_joined = cache.joined;
        summary.rates(started.elapsed());
    }

    /// Stop taking items when no server gave a usable reply for
    /// `gone_after` while this run sent queries.
    fn check_gone(&self, engine: &Engine, start: &MeterReading, stopped: &mut Option<Stopped>) {
        if stopped.is_some() {
            return;
        }
        let reading = engine.meter();
        if reading.since_last_reply >= self.opts.gone_after && reading.queries > start.queries {
            *stopped = Some(Stopped::ResolverGone {
                seconds: reading.since_last_reply.as_secs(),
            });
        }
    }

    fn meter(&self) -> MeterReading {
        self.engine.as_ref().map(Engine::meter).unwrap_or_default()
    }
}

/// Results handed over at once (fewer wake-ups of the writer).
const BATCH: usize = 256;
/// Longest a partial batch of results waits for more.
pub const HOLD: Duration = Duration::from_millis(20);

/// The hold timer ran out (it is polled only while holding).
fn hold_expired(hold: &tokio::time::Sleep, holding: bool) -> bool {
    holding && hold.is_elapsed()
}

/// The results' receiver went away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the receiver of the results went away")]
pub struct Closed;

/// The result of a line that cannot be routed at all: permanent, invalid
/// address (5.1.3), as `route` says of a malformed address.
fn unreadable(input: &str, why: &str) -> Route {
    Route {
        domain: input.to_owned(),
        status: RouteVerdict::Permanent,
        outcome: RouteKind::InvalidAddress,
        candidates: Vec::new(),
        records: Vec::new(),
        exchangers: Vec::new(),
        cname_chain: Vec::new(),
        ttl: None,
        dnssec: None,
        mta_sts: None,
        tls_rpt: None,
        warnings: Vec::new(),
        error: Some(RouteError {
            code: RouteKind::InvalidAddress.code(),
            dsn: "5.1.3",
            message: why.to_owned(),
        }),
    }
}

/// The window and its control: AIMD with a throughput guard.
///
/// Time is cut into **periods** of one DNS timeout (at least 100 ms),
/// because a lost query is only seen as a timeout that late. At the end of
/// each period:
/// - **loss** (timed-out tries plus SERVFAIL/REFUSED replies, over all tries
///   of the period) above both [`LOSS_THRESHOLD`] and the **usual loss**
///   plus [`LOSS_THRESHOLD`] halves the window (multiplicative decrease),
///   and the next period is not judged (its timeouts are those of the
///   larger window). The usual loss is the lowest loss of the last
///   [`LOSS_MEMORY`] periods whose window was at most half the present one
///   (or the smallest; without one, of all of them): names that always
///   time out (a dead delegation) lose
///   as much at a small window, so they do not keep the window down, while
///   loss that comes with a larger window (a server's full receive buffer)
///   does; the first period only sets the usual loss;
/// - otherwise, while starting, the window doubles as long as the results
///   per second grow by at least a tenth (two periods without that end the
///   start);
/// - after the start, every [`PROBE_EVERY`] periods the window grows by an
///   eighth (additive increase), and the growth is taken back when the
///   results per second did not follow: more in flight than the resolver
///   (or this process) can serve only adds latency and memory.
struct Window {
    adaptive: bool,
    /// The largest adaptive window ([`ScanOptions::window_max`]).
    max: f64,
    size: f64,
    max_used: usize,
    starting: bool,
    stalls: u32,
    best_rate: f64,
    period: Duration,
    period_start: Instant,
    period_results: u64,
    period_meter: MeterReading,
    /// Loss and window of the last periods (oldest first).
    losses: std::collections::VecDeque<(f64, f64)>,
    /// The window of the period before (its queries time out in this one).
    sent_with: Option<f64>,
    /// Skip judging the next period (after a cut).
    hold: bool,
    /// Periods since the last probe, and the probe's step when one is being judged.
    since_probe: u32,
    probe: Option<(f64, f64)>,
}

/// Periods whose lowest loss is the baseline.
const LOSS_MEMORY: usize = 16;
/// Periods between two probes for more window after the start.
const PROBE_EVERY: u32 = 4;

impl Window {
    fn new(size: WindowSize, max: usize, timeout: Duration, signals: bool) -> Self {
        let max = max.clamp(MIN_WINDOW, MAX_WINDOW);
        let (adaptive, start) = match size {
            WindowSize::Fixed(n) => (false, n.clamp(1, MAX_WINDOW)),
            WindowSize::Auto => (signals, MIN_WINDOW),
        };
        Window {
            adaptive,
            max: max as f64,
            size: start as f64,
            max_used: start,
            starting: true,
            stalls: 0,
            best_rate: 0.0,
            period: timeout.max(Duration::from_millis(100)),
            period_start: Instant::now(),
            period_results: 0,
            period_meter: MeterReading::default(),
            losses: std::collections::VecDeque::with_capacity(LOSS_MEMORY + 1),
            sent_with: None,
            hold: false,
            since_probe: 0,
            probe: None,
        }
    }

    fn size(&self) -> usize {
        self.size as usize
    }

    /// One result came; `meter` reads the engine's counters.
    fn observe(&mut self, meter: impl FnOnce() -> MeterReading) {
        if !self.adaptive {
            return;
        }
        self.period_results += 1;
        if !self.period_results.is_multiple_of(32) {
            return;
        }
        let elapsed = self.period_start.elapsed();
        if elapsed < self.period {
            return;
        }
        self.judge(&meter(), elapsed);
    }

    /// The end of a period: decide the next window.
    fn judge(&mut self, now: &MeterReading, elapsed: Duration) {
        if !self.adaptive {
            return;
        }
        let before = self.period_meter;
        let timeouts = now.timeouts - before.timeouts;
        let failed = timeouts + (now.error_rcodes - before.error_rcodes);
        let tries = timeouts + (now.replies - before.replies);
        let loss = if tries == 0 {
            0.0
        } else {
            failed as f64 / tries as f64
        };
        let rate = self.period_results as f64 / elapsed.as_secs_f64().max(1e-6);
        self.period_start = Instant::now();
        self.period_results = 0;
        self.period_meter = *now;
        // A timeout shows one period after its query was sent: this
        // period's loss belongs to the window of the period before. The
        // first period has no loss to show yet: it is not remembered, and
        // nothing is compared with nothing.
        let window = self.size;
        let Some(sent_with) = self.sent_with.replace(window) else {
            self.grow(rate);
            return;
        };
        let first = self.losses.is_empty();
        // The usual loss is what a window at most half as large saw: loss
        // that stays when the window shrinks is not the window's doing.
        // (Without such a period, the lowest loss of all.)
        let lowest = |smaller: bool| {
            self.losses
                .iter()
                .filter(|(_, size)| {
                    !smaller || *size <= sent_with / 2.0 || *size <= MIN_WINDOW as f64
                })
                .map(|(loss, _)| *loss)
                .fold(f64::INFINITY, f64::min)
        };
        let floor = Some(lowest(true))
            .filter(|f| f.is_finite())
            .unwrap_or_else(|| lowest(false));
        if std::mem::take(&mut self.hold) {
            // Its timeouts are those of the window before the cut: neither
            // judged nor remembered.
            return;
        }
        self.losses.push_back((loss, sent_with));
        if self.losses.len() > LOSS_MEMORY {
            self.losses.pop_front();
        }
        let floor = if floor.is_finite() { floor } else { 0.0 };
        if !first && loss > LOSS_THRESHOLD && loss > floor + LOSS_THRESHOLD {
            // Multiplicative decrease.
            self.size /= 2.0;
            self.starting = false;
            self.probe = None;
            self.hold = true;
        } else {
            self.grow(rate);
            return;
        }
        self.size = self.size.clamp(MIN_WINDOW as f64, self.max);
    }

    /// No loss to act on: start (double while the rate grows) or probe.
    fn grow(&mut self, rate: f64) {
        if self.starting {
            if rate > self.best_rate * 1.1 {
                self.best_rate = rate;
                self.stalls = 0;
                self.size *= 2.0;
            } else {
                self.stalls += 1;
                if self.stalls >= 2 {
                    self.starting = false;
                    // The last doubling did not pay.
                    self.size = (self.size / 2.0).max(MIN_WINDOW as f64);
                }
            }
        } else if let Some((step, rate_before)) = self.probe.take() {
            if rate < rate_before * 1.03 {
                self.size -= step;
            }
        } else {
            self.since_probe += 1;
            if self.since_probe >= PROBE_EVERY {
                self.since_probe = 0;
                let step = (self.size / 8.0).max(8.0);
                self.size += step;
                self.probe = Some((step, rate));
            }
        }
        self.size = self.size.clamp(MIN_WINDOW as f64, self.max);
        self.max_used = self.max_used.max(self.size());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn items(text: &[u8]) -> Vec<Item> {
        let mut r = LineReader::new(text);
        let mut out = Vec::new();
        while let Some(i) = r.next_item().unwrap() {
            out.push(i);
        }
        out
    }

    #[test]
    fn blank_and_comment_lines_are_skipped_but_counted() {
        let got = items(b"a.test\n\n  # note\nB.test.\r\n  c.test  ");
        let lines: Vec<(u64, &str)> = got.iter().map(|i| (i.line, i.input.as_str())).collect();
        assert_eq!(lines, [(1, "a.test"), (4, "B.test."), (5, "c.test")]);
        assert!(got.iter().all(|i| i.unreadable.is_none()));
    }

    #[test]
    fn resuming_passes_over_the_lines_done() {
        let mut done = LineSet::default();
        done.insert(1);
        done.insert(4);
        let mut r = LineReader::resuming(&b"a.test\n#\nb.test\nc.test\nd.test\n"[..], done);
        let mut lines = Vec::new();
        while let Some(i) = r.next_item().unwrap() {
            lines.push((i.line, i.input));
        }
        assert_eq!(lines, [(3, "b.test".into()), (5, "d.test".into())]);
        assert_eq!((r.lines(), r.skipped(), r.resumed()), (5, 1, 2));
    }

    #[test]
    fn shards_take_the_lines_whose_number_modulo_n_is_k() {
        let text = b"a\nb\n#\nc\n\nd\ne\nf\ng\n";
        let mut seen = Vec::new();
        for k in 0..3 {
            let shard = Shard::new(k, 3).unwrap();
            let mut r = LineReader::new(&text[..]).shard(shard);
            while let Some(i) = r.next_item().unwrap() {
                assert!(shard.holds(i.line));
                seen.push(i.line);
            }
            assert_eq!(r.lines(), 9);
            assert_eq!(r.elsewhere(), 6, "shard {shard}");
        }
        seen.sort_unstable();
        // Every item once, blank and comment lines (3, 5) in none.
        assert_eq!(seen, [1, 2, 4, 6, 7, 8, 9]);
        // Resuming a shard: its done lines are positions within it.
        let shard = Shard::new(1, 3).unwrap();
        let mut done = LineSet::default();
        done.insert(shard.position(1));
        let mut r = LineReader::resuming(&text[..], done).shard(shard);
        let mut lines = Vec::new();
        while let Some(i) = r.next_item().unwrap() {
            lines.push(i.line);
        }
        assert_eq!(lines, [4, 7]);
        assert_eq!(r.resumed(), 1);
    }

    #[test]
    fn shards_parse_as_k_of_n() {
        assert_eq!("3/16".parse::<Shard>(), Ok(Shard::new(3, 16).unwrap()));
        assert_eq!(" 0/1 ".parse::<Shard>(), Ok(Shard::ALL));
        assert_eq!(Shard::new(15, 16).unwrap().to_string(), "15/16");
        for bad in [
            "16/16",
            "1/0",
            "-1/4",
            "+1/4",
            "1",
            "1/",
            "/4",
            "a/b",
            "1/4/5",
            "0x1/4",
            "",
            "1/99999999999999999999",
        ] {
            assert_eq!(bad.parse::<Shard>(), Err(ShardError), "{bad:?}");
        }
        assert!(
            Shard::new(u64::MAX - 1, u64::MAX)
                .unwrap()
                .holds(u64::MAX - 1)
        );
    }

    #[test]
    fn a_thread_takes_its_share_of_the_window() {
        let fixed = ScanOptions {
            window: WindowSize::Fixed(1001),
            ..ScanOptions::default()
        };
        let shares: Vec<_> = (0..4).map(|i| fixed.per_thread(i, 4).window).collect();
        assert_eq!(
            shares,
            [251, 250, 250, 250].map(WindowSize::Fixed),
            "the total stays 1001"
        );
        let auto = ScanOptions::default().per_thread(1, 4);
        assert_eq!(auto.window, WindowSize::Auto);
        assert_eq!(auto.window_max, MAX_WINDOW / 4);
        assert_eq!(
            ScanOptions::default().per_thread(0, 10_000).window_max,
            MIN_WINDOW
        );
    }

    #[test]
    fn over_long_and_binary_lines_are_items_marked_unreadable() {
        let mut text = vec![b'x'; 5000];
        text.extend_from_slice(b"\n\xff\xfe\x00junk\nok.test\n");
        let got = items(&text);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].input.len(), MAX_LINE + 1);
        assert!(got[0].unreadable.as_deref().unwrap().contains("5000 bytes"));
        assert!(got[1].unreadable.as_deref().unwrap().contains("UTF-8"));
        assert_eq!(got[2].line, 3);
        assert!(got[2].unreadable.is_none());
    }

    #[test]
    fn a_line_past_the_read_limit_stops_reading() {
        // Exactly the limit, then an endless line (as /dev/zero is).
        let first = io::Cursor::new([vec![b'x'; MAX_LINE_READ], b"\n".to_vec()].concat());
        let mut r = LineReader::new(io::BufReader::new(first.chain(io::repeat(0))));
        let item = r.next_item().unwrap().unwrap();
        assert!(item.unreadable.is_some());
        let e = r.next_item().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            LineTooLong::find(&e),
            Some(&LineTooLong {
                line: 2,
                limit: MAX_LINE_READ
            })
        );
        assert!(
            e.to_string()
                .starts_with("line 2 exceeds the limit of 1048576 bytes"),
            "{e}"
        );
    }

    #[test]
    fn window_doubles_while_the_rate_grows_and_halves_on_loss() {
        let mut w = Window::new(
            WindowSize::Auto,
            MAX_WINDOW,
            Duration::from_millis(500),
            true,
        );
        let second = Duration::from_secs(1);
        let mut m = MeterReading::default();
        // Each period the results per second double: the window doubles.
        for (i, results) in [1000u64, 2000, 4000].into_iter().enumerate() {
            w.period_results = results;
            m.replies += results;
            w.judge(&m, second);
            assert_eq!(w.size(), MIN_WINDOW << (i + 1));
        }
        // Flat twice: the start ends and the last doubling is taken back.
        for _ in 0..2 {
            w.period_results = 4000;
            m.replies += 4000;
            w.judge(&m, second);
        }
        assert_eq!(w.size(), MIN_WINDOW * 4);
        // A tenth of the tries time out: halved, and the next period is not judged.
        w.period_results = 4000;
        m.replies += 3600;
        m.timeouts += 400;
        w.judge(&m, second);
        assert_eq!(w.size(), MIN_WINDOW * 2);
        w.period_results = 4000;
        m.timeouts += 4000;
        w.judge(&m, second);
        assert_eq!(w.size(), MIN_WINDOW * 2, "held");
    }

    #[test]
    fn steady_background_loss_does_not_shrink_the_window() {
        let mut w = Window::new(
            WindowSize::Auto,
            MAX_WINDOW,
            Duration::from_millis(500),
            true,
        );
        let second = Duration::from_secs(1);
        let mut m = MeterReading::default();
        let mut sizes = Vec::new();
        for i in 0..12u64 {
            // Always 8% of the tries time out (dead names), the rate grows.
            w.period_results = 1000 * (i + 1);
            m.replies += 920;
            m.timeouts += 80;
            w.judge(&m, second);
            sizes.push(w.size());
        }
        assert!(sizes.windows(2).all(|p| p[1] >= p[0]), "{sizes:?}");
        assert!(sizes[11] >= MIN_WINDOW * 64, "still starting: {sizes:?}");
    }

    #[test]
    fn loss_that_comes_with_a_larger_window_cuts_it() {
        let mut w = Window::new(
            WindowSize::Auto,
            MAX_WINDOW,
            Duration::from_millis(500),
            true,
        );
        let second = Duration::from_secs(1);
        let mut m = MeterReading::default();
        for results in [1000u64, 2000] {
            w.period_results = results;
            m.replies += results;
            w.judge(&m, second);
        }
        assert_eq!(w.size(), MIN_WINDOW * 4);
        // 3% lost at the larger window, none at the smaller ones: cut.
        w.period_results = 4000;
        m.replies += 3880;
        m.timeouts += 120;
        w.judge(&m, second);
        assert_eq!(w.size(), MIN_WINDOW * 2);
    }

    /// Timeouts of names that never answer show one period late: the first
    /// period has none, the next ones all have them; that is no congestion.
    #[test]
    fn background_loss_that_shows_late_does_not_stop_the_start() {
        let mut w = Window::new(
            WindowSize::Auto,
            MAX_WINDOW,
            Duration::from_millis(500),
            true,
        );
        let second = Duration::from_secs(1);
        let mut m = MeterReading::default();
        w.period_results = 1000;
        m.replies += 1000;
        w.judge(&m, second);
        for i in 2..8u64 {
            w.period_results = 1000 * i;
            m.replies += 900;
            m.timeouts += 100;
            w.judge(&m, second);
        }
        assert!(w.size() >= MIN_WINDOW * 64, "{}", w.size());
    }

    #[test]
    fn fixed_window_never_moves() {
        let mut w = Window::new(
            WindowSize::Fixed(10),
            MAX_WINDOW,
            Duration::from_millis(500),
            true,
        );
        let m = MeterReading {
            timeouts: 1000,
            ..MeterReading::default()
        };
        w.judge(&m, Duration::from_secs(1));
        for _ in 0..1000 {
            w.observe(|| m);
        }
        assert_eq!(w.size(), 10);
    }
}

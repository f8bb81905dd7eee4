//! `mxkit scan`: a file of domains -> [`mxkit::scan::Scanner`]s -> JSON lines.
//!
//! Threads and two bounded channels, so that memory follows the window and
//! never the input: a reader thread turns lines into items (passing over
//! the lines of other shards and those a resumed output already holds),
//! `--threads` scanning threads (the main one among them) each run a
//! scanner on a current-thread runtime with its own DNS engine (sockets,
//! query IDs, receive tasks), sharing one cache, one `--rate` bound and the
//! item channel, and encode their results as JSON lines; a writer thread
//! writes them. Each write holds whole lines; the writer writes as soon as
//! nothing more is waiting (or 64 KiB are ready), so a run killed at any
//! moment loses at most the unwritten results and leaves at most one
//! partial last line, which `--resume` cuts before it appends
//! ([`mxkit::scan::resume`] checks and opens a resumed output).

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mxkit::dns::engine::RateLimit;
use mxkit::scan::resume::{self, LineSet, ResumeError, count_lines, write_result_line};
use mxkit::scan::{
    Closed, Done, Item, LineReader, LineTooLong, MAX_WINDOW, ScanOptions, Scanner, Shard, Summary,
    WindowSize, gone_after,
};
use tokio::sync::mpsc;

use super::common::{parse_duration, runtime};
use super::dns::{self, DnsSettings};
use crate::Usage;
use crate::args::ScanArgs;
use crate::exit;
use crate::output;

/// Items per batch from the reader.
const READ_BATCH: usize = 256;
/// Batches waiting between the threads (each way).
const QUEUED_BATCHES: usize = 8;
/// Write as soon as this much is ready, even if more results are waiting.
const FLUSH_AT: usize = 64 * 1024;
/// Most tries per question (`--retries` + 1).
const MAX_TRIES: u32 = 20;

/// Validated settings for one `scan` run: nothing here knows about clap.
struct Settings {
    input: Option<PathBuf>,
    output: Option<PathBuf>,
    resume: bool,
    dns: DnsSettings,
    options: ScanOptions,
    progress: bool,
    stats: Option<PathBuf>,
    threads: usize,
    shard: Option<Shard>,
}

fn settings(args: &ScanArgs) -> Result<Settings> {
    let servers = dns::servers(&args.servers, args.offline, &args.zones, true)?;
    let window = match args.window.trim() {
        "auto" => WindowSize::Auto,
        n => match n.parse::<usize>() {
            Ok(n) if (1..=MAX_WINDOW).contains(&n) => WindowSize::Fixed(n),
            _ => {
                return Err(Usage::about(
                    Some("--window"),
                    n,
                    format!("expected a number from 1 to {MAX_WINDOW}, or auto"),
                )
                .into());
            }
        },
    };
    if args.rate == Some(0) {
        return Err(Usage("--rate must be at least 1 query per second".into()).into());
    }
    let timeout = parse_duration("--timeout", &args.timeout)?;
    if timeout > Duration::from_secs(60) {
        return Err(Usage("--timeout must be at most 60s".into()).into());
    }
    let tries = args.retries.saturating_add(1);
    if tries > MAX_TRIES {
        return Err(Usage(format!("--retries must be at most {}", MAX_TRIES - 1)).into());
    }
    let input = args.input.clone().filter(|p| p.as_os_str() != "-");
    let output = args.output.clone().filter(|p| p.as_os_str() != "-");
    if args.resume && output.is_none() {
        return Err(Usage("--resume needs --output FILE (not standard output)".into()).into());
    }
    check_paths(input.as_deref(), output.as_deref(), args.stats.as_deref())?;
    let zones = dns::load_zones(&args.zones)?;
    let mut route = super::plan::options(&args.plan, true, None)?;
    // The default scan asks no TLSA records (docs/rules/secure.md).
    route.dane = args.secure;
    // --secure: the DNS half of MTA-STS and TLS-RPT (their TXT records),
    // never a policy fetch.
    route.mta_sts = args
        .secure
        .then(|| std::sync::Arc::new(mxkit::mta_sts::MtaStsConfig::default()));
    let threads = match args.threads {
        Some(n) => usize::from(n),
        None => thread::available_parallelism().map_or(1, |n| n.get()),
    };
    // A thread's share of a fixed window is at least one item.
    let threads = match window {
        WindowSize::Fixed(n) => threads.min(n),
        WindowSize::Auto => threads,
    };
    let dns = DnsSettings {
        servers,
        zones,
        offline: args.offline,
        timeout: Some(timeout),
        attempts: Some(tries),
        rate: args.rate,
        // One bound for every thread's engine: --rate is the total.
        shared_rate: args.rate.map(RateLimit::new),
        // No DO bit unless --secure: the default scan keeps its replies
        // small (its `dnssec` still comes from the AD bit, which every
        // query asks for).
        dnssec: args.secure,
    };
    Ok(Settings {
        input,
        output,
        resume: args.resume,
        options: ScanOptions {
            route,
            window,
            gone_after: gone_after(dns.budget()),
            timeout,
            ..ScanOptions::default()
        },
        dns,
        progress: !args.no_progress && io::stderr().is_terminal(),
        stats: args.stats.clone(),
        threads,
        shard: args.shard,
    })
}

/// Refuse, before anything is opened for writing, an input that is a
/// directory (it would only fail once the run has started, as an input
/// that "could not be read to its end") and an output or `--stats` file
/// that is the input or each other (creating it would empty the input).
fn check_paths(input: Option<&Path>, output: Option<&Path>, stats: Option<&Path>) -> Result<()> {
    if let Some(path) = input
        && fs::metadata(path).is_ok_and(|m| m.is_dir())
    {
        return Err(Usage::about(
            None,
            &path.display().to_string(),
            "is a directory, not a file",
        )
        .into());
    }
    let same = |a: Option<&Path>, b: Option<&Path>| match (a, b) {
        (Some(a), Some(b)) => match (fs::metadata(a), fs::metadata(b)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        },
        _ => false,
    };
    let clash = |flag: &str, path: Option<&Path>, what: &str| -> Result<()> {
        let shown = path.map(|p| p.display().to_string()).unwrap_or_default();
        Err(Usage::about(
            Some(flag),
            &shown,
            format!("is the {what}: writing it would destroy it"),
        )
        .into())
    };
    if same(output, input) {
        return clash("--output", output, "input");
    }
    if same(stats, input) {
        return clash("--stats", stats, "input");
    }
    if stats.is_some() && (same(stats, output) || stats == output) {
        return clash("--stats", stats, "--output file");
    }
    Ok(())
}

/// What the reader thread counted; shared so that it can be read even when
/// the reader is left behind (a run that stopped early).
#[derive(Default)]
struct ReadCounts {
    lines: AtomicU64,
    skipped: AtomicU64,
    resumed: AtomicU64,
    elsewhere: AtomicU64,
}

/// Run `mxkit scan`; returns the exit code.
pub fn run(args: ScanArgs) -> Result<u8> {
    let s = settings(&args)?;
    let input: Box<dyn BufRead + Send> = match &s.input {
        None => Box::new(BufReader::with_capacity(1 << 16, io::stdin())),
        Some(path) => Box::new(BufReader::with_capacity(
            1 << 16,
            File::open(path).map_err(|e| Usage(format!("cannot read {}: {e}", path.display())))?,
        )),
    };
    let shard = s.shard.unwrap_or_default();
    let (out, already) = open_output(s.output.as_deref(), s.resume, s.input.as_deref(), shard)?;
    // Created now, so that an unwritable path fails before the run, not after.
    let stats_file = match &s.stats {
        Some(path) => Some(
            File::create(path)
                .map_err(|e| Usage(format!("cannot write --stats {}: {e}", path.display())))?,
        ),
        None => None,
    };

    let progress = progress_bar(&s);

    let queued = QUEUED_BATCHES * s.threads;
    let (item_tx, item_rx) = async_channel::bounded::<Vec<Item>>(queued);
    let (done_tx, done_rx) = mpsc::channel::<Encoded>(queued);
    let counts = Arc::new(ReadCounts::default());
    let reader = {
        let counts = Arc::clone(&counts);
        let bar = progress.clone();
        // Named, as the scanning threads are (`scan-1`, ...), so that
        // `top -H` shows which part of a run holds a core.
        thread::Builder::new()
            .name("scan-read".into())
            .spawn(move || read(input, already, shard, &item_tx, &counts, &bar))
            .context("cannot start the reader thread")?
    };
    let writer = {
        let bar = progress.clone();
        thread::Builder::new()
            .name("scan-write".into())
            .spawn(move || write(out, done_rx, &bar))
            .context("cannot start the writer thread")?
    };

    let outcome = scan(&s, &item_rx, done_tx);
    item_rx.close();
    drop(item_rx);
    let written = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
    // The writer's error is the real one when the scanner saw its channel close.
    written.context("cannot write the results")?;
    let summary = match outcome? {
        Ok(summary) => summary,
        Err(closed) => return Err(anyhow::anyhow!(closed)),
    };
    progress.finish_and_clear();

    // When the run stopped early the reader may still be blocked on its
    // input; its counts are read without waiting for it.
    // An input line past the limit is an input that is not a list of
    // domains: a usage error, not a reason to retry.
    let mut unusable_input = false;
    let input_error = if summary.stopped.is_none() {
        match reader.join() {
            Ok(Ok(())) => None,
            Ok(Err(e)) => {
                unusable_input = LineTooLong::find(&e).is_some();
                Some(e.to_string())
            }
            Err(_) => Some("the reader thread panicked".to_owned()),
        }
    } else {
        None
    };
    let stats = output::scan::Stats {
        completed: summary.stopped.is_none() && input_error.is_none(),
        input_lines: counts.lines.load(Ordering::Relaxed),
        skipped: counts.skipped.load(Ordering::Relaxed),
        resumed: counts.resumed.load(Ordering::Relaxed),
        threads: s.threads,
        shard: s.shard.map(|k| k.to_string()),
        other_shards: s.shard.map(|_| counts.elsewhere.load(Ordering::Relaxed)),
        input_error,
        summary: &summary,
    };
    output::scan::summary(&mut io::stderr().lock(), &stats)?;
    if let Some(mut file) = stats_file {
        output::scan::stats(&mut file, &stats)?;
    }
    Ok(if stats.completed {
        exit::OK
    } else if unusable_input {
        exit::USAGE
    } else {
        exit::TEMPORARY
    })
}

/// Run the scanning threads over `items`, each sending its results to
/// `done`; the main thread is the first of them. Returns when every thread
/// has ended: their summaries combined, or why one could not start (the
/// others are then stopped: the item channel is closed) or the writer went
/// away ([`Closed`]).
fn scan(
    s: &Settings,
    items: &async_channel::Receiver<Vec<Item>>,
    done: mpsc::Sender<Encoded>,
) -> Result<std::result::Result<Summary, Closed>> {
    let started = Instant::now();
    let main_rt = runtime()?;
    let n = s.threads;
    // The first thread's sources: a configuration that cannot be used
    // (no resolv.conf, no socket) shows once, before any other thread.
    let first = match main_rt.block_on(s.dns.sources()) {
        Ok(first) => first,
        Err(e) => {
            items.close();
            return Err(e);
        }
    };
    let live = first.engine.is_some();
    let lookup = Arc::clone(&first.lookup);
    let zones = first.zones.clone();
    let base = Scanner::new(first.lookup, first.engine, s.options.per_thread(0, n));
    let cache_start = base.cache_stats();
    let results: Vec<Result<std::result::Result<Summary, Closed>>> = thread::scope(|scope| {
        let others: Vec<_> = (1..n)
            .map(|i| {
                let (base, done, lookup, zones) =
                    (&base, done.clone(), Arc::clone(&lookup), &zones);
                thread::Builder::new()
                    .name(format!("scan-{i}"))
                    .spawn_scoped(scope, move || {
                        let result = runtime().and_then(|rt| {
                            rt.block_on(async {
                                // Offline, the zone files are one shared view;
                                // live, each thread opens its own engine (the
                                // zones as the first thread's sources marked them).
                                let (lookup, engine) = if live {
                                    let own = s.dns.sources_beside(zones).await?;
                                    (own.lookup, own.engine)
                                } else {
                                    (lookup, None)
                                };
                                let scanner =
                                    base.sibling(lookup, engine, s.options.per_thread(i, n));
                                anyhow::Ok(scanner.run_packed(items, &done, encode).await)
                            })
                        });
                        if result.is_err() {
                            items.close();
                        }
                        result
                    })
            })
            .collect();
        let mine = main_rt.block_on(base.run_packed(items, &done, encode));
        drop(done);
        let mut all = vec![Ok(mine)];
        for spawned in others {
            all.push(match spawned {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a scanning thread panicked"))),
                Err(e) => {
                    items.close();
                    Err(anyhow::anyhow!(e).context("cannot start a scanning thread"))
                }
            });
        }
        all
    });
    let mut parts = Vec::with_capacity(n);
    for result in results {
        match result? {
            Ok(summary) => parts.push(summary),
            Err(closed) => return Ok(Err(closed)),
        }
    }
    let cache = base.cache_stats().since(&cache_start);
    Ok(Ok(Summary::combine(&parts, cache, started.elapsed())))
}

/// Open the output: standard output, a new file, or (`--resume`) the
/// existing file continued ([`resume::resume`]), with the lines it holds
/// (as positions within `shard`).
fn open_output(
    path: Option<&Path>,
    resume: bool,
    input: Option<&Path>,
    shard: Shard,
) -> Result<(Box<dyn Write + Send>, LineSet)> {
    let Some(path) = path else {
        return Ok((Box::new(io::stdout()), LineSet::default()));
    };
    if !resume {
        let file = File::create(path)
            .map_err(|e| Usage(format!("cannot write --output {}: {e}", path.display())))?;
        return Ok((Box::new(file), LineSet::default()));
    }
    let resumed = resume::resume(path, input, shard).map_err(resume_usage)?;
    Ok((Box::new(resumed.file), resumed.done))
}

/// A refused `--resume` as the usage error that says which flag to change.
fn resume_usage(e: ResumeError) -> Usage {
    match e {
        ResumeError::ReadOutput { path, source } => {
            Usage(format!("cannot read --output {}: {source}", path.display()))
        }
        ResumeError::WriteOutput { path, source } => Usage(format!(
            "cannot write --output {}: {source}",
            path.display()
        )),
        e @ ResumeError::Input { .. } => Usage(e.to_string()),
        e @ ResumeError::InputNotAFile { .. } => {
            Usage(format!("--resume: {e}; give the input as a file"))
        }
        e @ ResumeError::OtherInput { .. } => Usage(format!(
            "--resume: {e} (resume with the input they were written for, or start a new \
             --output); not appending to it"
        )),
        e => Usage(format!("--resume: {e}; not appending to it")),
    }
}

/// The reader thread: lines -> batches of items, minus the lines already done.
fn read(
    input: Box<dyn BufRead + Send>,
    already: LineSet,
    shard: Shard,
    tx: &async_channel::Sender<Vec<Item>>,
    counts: &ReadCounts,
    bar: &ProgressBar,
) -> io::Result<()> {
    let mut reader = LineReader::resuming(input, already).shard(shard);
    let mut batch = Vec::with_capacity(READ_BATCH);
    let mut shown = 0u64;
    let store = |reader: &LineReader<_>| {
        counts.lines.store(reader.lines(), Ordering::Relaxed);
        counts.skipped.store(reader.skipped(), Ordering::Relaxed);
        counts.resumed.store(reader.resumed(), Ordering::Relaxed);
        counts
            .elsewhere
            .store(reader.elsewhere(), Ordering::Relaxed);
    };
    let result = loop {
        match reader.next_item() {
            Ok(Some(item)) => {
                batch.push(item);
                if batch.len() == READ_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(READ_BATCH));
                    let passed = reader.skipped() + reader.resumed();
                    bar.inc(passed - shown);
                    shown = passed;
                    store(&reader);
                    if tx.send_blocking(full).is_err() {
                        // The scanner stopped early: nothing more is wanted.
                        break Ok(());
                    }
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    if !batch.is_empty() {
        let _ = tx.send_blocking(batch);
    }
    bar.inc((reader.skipped() + reader.resumed()).saturating_sub(shown));
    store(&reader);
    result
}

/// A batch of results as result lines, encoded on the scanning thread
/// that routed them (or why one could not be encoded).
type Encoded = io::Result<(Vec<u8>, u64)>;

/// Encode a batch of results as result lines.
fn encode(batch: Vec<Done>) -> Encoded {
    // Room for a typical line (a routed domain's is 700-900 bytes), so
    // that the buffer is rarely grown and copied.
    let mut buf = Vec::with_capacity(batch.len() * 1024);
    for done in &batch {
        write_result_line(&mut buf, done)?;
    }
    Ok((buf, batch.len() as u64))
}

/// The writer thread: encoded batches -> the output, whole lines per write.
fn write(
    mut out: Box<dyn Write + Send>,
    mut rx: mpsc::Receiver<Encoded>,
    bar: &ProgressBar,
) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(FLUSH_AT * 2);
    while let Some(batch) = rx.blocking_recv() {
        let (bytes, results) = batch?;
        if buf.is_empty() && bytes.len() >= FLUSH_AT {
            out.write_all(&bytes)?;
            out.flush()?;
        } else {
            buf.extend_from_slice(&bytes);
        }
        bar.inc(results);
        if buf.len() >= FLUSH_AT || (!buf.is_empty() && rx.is_empty()) {
            out.write_all(&buf)?;
            out.flush()?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()
}

/// The progress bar on standard error, when it is shown: lines done and
/// their rate, and once the input file's lines are counted (in a thread of
/// its own: counting is cheap next to resolving), the share done and an ETA.
fn progress_bar(s: &Settings) -> ProgressBar {
    if !s.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(progress_style(
        "{elapsed_precise} {human_pos} lines, {rate}/s",
    ));
    if let Some(path) = s.input.clone() {
        let bar = bar.clone();
        thread::spawn(move || {
            if let Ok(n) = count_lines(&path) {
                bar.set_length(n);
                bar.set_style(progress_style(
                    "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} lines, {rate}/s, ETA {eta}",
                ));
            }
        });
    }
    bar
}

/// The progress bar's look: `template` plus `{rate}`, lines per second
/// without decimals.
fn progress_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}", state.per_sec());
            },
        )
        .progress_chars("=> ")
}

//! `mxkit scan`: a file of domains -> [`mxkit::scan::Scanner`] -> JSON lines.
//!
//! Three threads and two bounded channels, so that memory follows the
//! window and never the input: a reader thread turns lines into items
//! (skipping the lines a resumed output already holds), the main thread runs
//! the scanner on a current-thread runtime, and a writer thread encodes the
//! results and writes them. Each write holds whole lines; the writer writes
//! as soon as nothing more is waiting (or 64 KiB are ready), so a run killed
//! at any moment loses at most the unwritten results and leaves at most one
//! partial last line, which `--resume` cuts before it appends.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::hash::Hasher;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mxkit::bounded;
use mxkit::scan::{
    DEFAULT_GONE_AFTER, Done, Item, LineReader, LineTooLong, MAX_WINDOW, ScanOptions, Scanner,
    WindowSize,
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
/// Longest line of an output read back by `--resume`, in bytes: far above
/// any result line mxkit writes (a route with 1000 MX records, the most one
/// answer keeps, is about 100 KB), so a longer one is not a result.
const MAX_RESULT_LINE: usize = 64 << 20;

/// Validated settings for one `scan` run: nothing here knows about clap.
struct Settings {
    input: Option<PathBuf>,
    output: Option<PathBuf>,
    resume: bool,
    dns: DnsSettings,
    options: ScanOptions,
    progress: bool,
    stats: Option<PathBuf>,
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
    let route = super::plan::options(&args.plan, true, None)?;
    let dns = DnsSettings {
        servers,
        zones,
        offline: args.offline,
        timeout: Some(timeout),
        attempts: Some(tries),
        rate: args.rate,
    };
    // A run stops early only after this long without any usable reply; a
    // question may wait its whole budget (backed-off tries over every
    // server), so never less than twice that.
    let gone_after = DEFAULT_GONE_AFTER.max(dns.budget() * 2);
    Ok(Settings {
        input,
        output,
        resume: args.resume,
        options: ScanOptions {
            route,
            window,
            gone_after,
            timeout,
            ..ScanOptions::default()
        },
        dns,
        progress: !args.no_progress && io::stderr().is_terminal(),
        stats: args.stats.clone(),
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
}

/// Line numbers already in the output (`--resume`), as runs of consecutive
/// numbers: memory follows the number of gaps, never the highest number, so
/// a damaged output that claims line 18446744073709551615 costs one entry
/// (a bit per number up to the highest cost exabytes).
#[derive(Debug, Default)]
struct LineSet {
    /// First number of each run -> its last number; runs are disjoint and
    /// never adjacent.
    runs: BTreeMap<u64, u64>,
    /// How many numbers it holds.
    count: u64,
}

impl LineSet {
    /// Add `line`; false when it was already there.
    fn insert(&mut self, line: u64) -> bool {
        let before = self.runs.range(..=line).next_back().map(|(&s, &e)| (s, e));
        if before.is_some_and(|(_, end)| line <= end) {
            return false;
        }
        let start = match before {
            Some((start, end)) if end + 1 == line => start,
            _ => line,
        };
        let end = match line.checked_add(1).and_then(|next| self.runs.remove(&next)) {
            Some(end) => end,
            None => line,
        };
        self.runs.insert(start, end);
        self.count += 1;
        true
    }

    fn contains(&self, line: u64) -> bool {
        self.runs
            .range(..=line)
            .next_back()
            .is_some_and(|(_, &end)| line <= end)
    }
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
    let (out, already) = open_output(s.output.as_deref(), s.resume, s.input.as_deref())?;
    // Created now, so that an unwritable path fails before the run, not after.
    let stats_file = match &s.stats {
        Some(path) => Some(
            File::create(path)
                .map_err(|e| Usage(format!("cannot write --stats {}: {e}", path.display())))?,
        ),
        None => None,
    };

    let progress = if s.progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(progress_style(
            "{elapsed_precise} {human_pos} lines, {rate}/s",
        ));
        if let Some(path) = s.input.clone() {
            let bar = bar.clone();
            // Counting is cheap next to resolving; the bar shows a rate until then.
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
    } else {
        ProgressBar::hidden()
    };

    let (item_tx, mut item_rx) = mpsc::channel::<Vec<Item>>(QUEUED_BATCHES);
    let (done_tx, done_rx) = mpsc::channel::<Vec<Done>>(QUEUED_BATCHES);
    let counts = Arc::new(ReadCounts::default());
    let reader = {
        let counts = Arc::clone(&counts);
        let bar = progress.clone();
        thread::spawn(move || read(input, &already, &item_tx, &counts, &bar))
    };
    let writer = {
        let bar = progress.clone();
        thread::spawn(move || write(out, done_rx, &bar))
    };

    let outcome = runtime()?.block_on(async {
        let sources = s.dns.sources().await?;
        let scanner = Scanner::new(sources.lookup, sources.engine, s.options.clone());
        anyhow::Ok(scanner.run(&mut item_rx, &done_tx).await)
    });
    drop(done_tx);
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
        input_error,
        summary: &summary,
    };
    let mut err = io::stderr().lock();
    output::scan::summary(&mut err, &stats)?;
    if let Some(why) = &summary.stopped {
        writeln!(
            err,
            "mxkit scan: stopped early: {why}; rerun with --output FILE --resume to finish"
        )?;
    }
    if let Some(why) = &stats.input_error {
        writeln!(
            err,
            "mxkit scan: stopped early: cannot read the input: {why}"
        )?;
    }
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

/// Open the output: standard output, a new file, or (`--resume`) the
/// existing file, cut after its last whole line, with the line numbers it
/// holds. Nothing is changed in a resumed file until every kept line is
/// known to belong to `input` ([`kept_lines`]).
fn open_output(
    path: Option<&Path>,
    resume: bool,
    input: Option<&Path>,
) -> Result<(Box<dyn Write + Send>, LineSet)> {
    let Some(path) = path else {
        return Ok((Box::new(io::stdout()), LineSet::default()));
    };
    let cannot = |e: io::Error| Usage(format!("cannot write --output {}: {e}", path.display()));
    if !resume {
        return Ok((
            Box::new(File::create(path).map_err(cannot)?),
            LineSet::default(),
        ));
    }
    // Only a regular file can be read to its end and cut: not /dev/zero
    // (endless), not a FIFO (whose reader waits for a writer).
    let not_a_file = || -> anyhow::Error {
        Usage(format!(
            "--resume: {}: not a regular file; not appending to it",
            path.display()
        ))
        .into()
    };
    if fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(not_a_file());
    }
    let kept = kept_lines(path, input)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(cannot)?;
    if !file.metadata().map_err(cannot)?.is_file() {
        return Err(not_a_file());
    }
    // A partial last line (a run killed mid-write) is cut.
    file.set_len(kept.bytes).map_err(cannot)?;
    file.seek(SeekFrom::Start(kept.bytes)).map_err(cannot)?;
    Ok((Box::new(file), kept.lines))
}

/// The whole result lines of a resumed output.
#[derive(Default)]
struct Kept {
    /// Their input line numbers.
    lines: LineSet,
    /// Their length, up to the end of the last whole line.
    bytes: u64,
}

/// Read the whole lines of the output to resume and check that they were
/// written for `input`: each is a result line, for a different line number,
/// of a line of the input that is not blank or a comment, and its `input`
/// is that line.
///
/// The identity is in the lines themselves (`line` and `input`), so the
/// output stays pure JSON Lines, one line per input line, and there is no
/// second file to lose or to leave stale: the input is read once more
/// before the run (twice when lines are kept: counting its lines first
/// bounds the memory for the line numbers by the input, not by what the
/// output claims), which is fast next to resolving it. Standard input
/// cannot be read twice, so lines can be kept only for an input file.
fn kept_lines(path: &Path, input: Option<&Path>) -> Result<Kept> {
    let out = path.display();
    let refuse = |why: String| -> anyhow::Error {
        Usage(format!("--resume: {why}; not appending to it")).into()
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Kept::default()),
        Err(e) => return Err(Usage(format!("cannot read --output {out}: {e}")).into()),
    };
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut kept = Kept::default();
    let mut digest = 0u64;
    let mut input_lines: Option<(&Path, u64)> = None;
    let mut buf = Vec::new();
    let mut number = 0u64;
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_RESULT_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| Usage(format!("cannot read --output {out}: {e}")))?;
        if n > MAX_RESULT_LINE {
            return Err(refuse(format!(
                "{out} line {} exceeds the limit of {MAX_RESULT_LINE} bytes for a scan result",
                number + 1
            )));
        }
        if n == 0 || buf.last() != Some(&b'\n') {
            // The end, or a partial last line (a run killed mid-write).
            break;
        }
        number += 1;
        let (line, text) = output::scan::line_and_input(&buf[..n - 1])
            .ok_or_else(|| refuse(format!("{out} line {number} is not a scan result")))?;
        let (input_path, lines) = match input_lines {
            Some(known) => known,
            None => {
                let known = (regular_input(input, path)?, 0);
                let lines = count_lines(known.0)
                    .map_err(|e| Usage(format!("cannot read {}: {e}", known.0.display())))?;
                *input_lines.insert((known.0, lines))
            }
        };
        if line == 0 || line > lines {
            return Err(refuse(format!(
                "{out} line {number} is the result for line {line}, past the end of {} ({lines} line(s))",
                input_path.display()
            )));
        }
        if !kept.lines.insert(line) {
            return Err(refuse(format!(
                "{out} holds the result for line {line} twice (again at its line {number})"
            )));
        }
        digest = digest.wrapping_add(identity(line, &text));
        kept.bytes += n as u64;
    }
    let Some((input_path, _)) = input_lines else {
        return Ok(kept);
    };
    // Every kept line must be an item of the input, with the same text.
    let cannot = |e: io::Error| Usage(format!("cannot read {}: {e}", input_path.display()));
    let file = File::open(input_path).map_err(cannot)?;
    let mut items = LineReader::new(BufReader::with_capacity(1 << 16, file));
    let mut previous = 0u64;
    let mut found = 0u64;
    let blank = |line: u64| {
        refuse(format!(
            "{out} holds a result for line {line}, a blank or a comment line in {}",
            input_path.display()
        ))
    };
    while let Some(item) = items.next_item().map_err(cannot)? {
        if let Some(line) = (previous + 1..item.line).find(|&l| kept.lines.contains(l)) {
            return Err(blank(line));
        }
        previous = item.line;
        if kept.lines.contains(item.line) {
            found += 1;
            digest = digest.wrapping_sub(identity(item.line, &item.input));
        }
    }
    if let Some(line) = (previous + 1..=items.lines()).find(|&l| kept.lines.contains(l)) {
        return Err(blank(line));
    }
    if found != kept.lines.count || digest != 0 {
        return Err(refuse(format!(
            "the results in {out} were not written for this input: their input lines differ from those of {} (resume with the input they were written for, or start a new --output)",
            input_path.display()
        )));
    }
    Ok(kept)
}

/// The input of a resumed run with lines to keep: a regular file (it is read
/// twice more before the run).
fn regular_input<'a>(input: Option<&'a Path>, output: &Path) -> Result<&'a Path> {
    match input {
        Some(path) if fs::metadata(path).is_ok_and(|m| m.is_file()) => Ok(path),
        _ => Err(Usage(format!(
            "--resume: {} holds results, and they can be checked against the input only when it is a file (standard input and pipes cannot be read twice); give the input as a file",
            output.display()
        ))
        .into()),
    }
}

/// What identifies a result as one of the input's: its line number and the
/// line as given. A 64-bit SipHash of both ([`std::hash::DefaultHasher`],
/// fixed keys: both sides are computed in this process); the sum over the
/// kept lines is compared with the sum over the same lines of the input.
fn identity(line: u64, input: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write_u64(line);
    h.write(input.as_bytes());
    h.finish()
}

/// The reader thread: lines -> batches of items, minus the lines already done.
fn read(
    input: Box<dyn BufRead + Send>,
    already: &LineSet,
    tx: &mpsc::Sender<Vec<Item>>,
    counts: &ReadCounts,
    bar: &ProgressBar,
) -> io::Result<()> {
    let mut reader = LineReader::new(input);
    let mut batch = Vec::with_capacity(READ_BATCH);
    let mut resumed = 0u64;
    let mut shown = 0u64;
    let result = loop {
        match reader.next_item() {
            Ok(Some(item)) => {
                if already.contains(item.line) {
                    resumed += 1;
                    continue;
                }
                batch.push(item);
                if batch.len() == READ_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(READ_BATCH));
                    let passed = reader.skipped() + resumed;
                    bar.inc(passed - shown);
                    shown = passed;
                    counts.lines.store(reader.lines(), Ordering::Relaxed);
                    counts.skipped.store(reader.skipped(), Ordering::Relaxed);
                    counts.resumed.store(resumed, Ordering::Relaxed);
                    if tx.blocking_send(full).is_err() {
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
        let _ = tx.blocking_send(batch);
    }
    bar.inc((reader.skipped() + resumed).saturating_sub(shown));
    counts.lines.store(reader.lines(), Ordering::Relaxed);
    counts.skipped.store(reader.skipped(), Ordering::Relaxed);
    counts.resumed.store(resumed, Ordering::Relaxed);
    result
}

/// The writer thread: results -> JSON lines, whole lines per write.
fn write(
    mut out: Box<dyn Write + Send>,
    mut rx: mpsc::Receiver<Vec<Done>>,
    bar: &ProgressBar,
) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(FLUSH_AT * 2);
    while let Some(batch) = rx.blocking_recv() {
        for done in &batch {
            output::scan::result(&mut buf, done)?;
        }
        bar.inc(batch.len() as u64);
        if buf.len() >= FLUSH_AT || rx.is_empty() {
            out.write_all(&buf)?;
            out.flush()?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()
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

/// Lines in a file (a last line without `\n` counts), for the progress bar.
/// Only a regular file is counted: reading a FIFO here would take lines
/// from the run, and `/dev/zero` has no end.
fn count_lines(path: &Path) -> io::Result<u64> {
    let mut file = bounded::open_regular(path)?;
    let mut buf = vec![0u8; 1 << 18];
    let mut lines = 0u64;
    let mut last = b'\n';
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        last = buf[n - 1];
    }
    Ok(lines + u64::from(last != b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_sets_keep_runs_and_any_number_costs_one_entry() {
        let mut set = LineSet::default();
        for line in [5, 3, 4, 1, 9, u64::MAX, 2, 8] {
            assert!(set.insert(line), "{line}");
        }
        assert!(!set.insert(4));
        assert!(!set.insert(u64::MAX));
        assert_eq!(set.count, 8);
        let runs: Vec<(u64, u64)> = set.runs.iter().map(|(&s, &e)| (s, e)).collect();
        assert_eq!(runs, [(1, 5), (8, 9), (u64::MAX, u64::MAX)]);
        for line in [1, 3, 5, 8, 9, u64::MAX] {
            assert!(set.contains(line), "{line}");
        }
        for line in [0, 6, 7, 10, u64::MAX - 1] {
            assert!(!set.contains(line), "{line}");
        }
    }

    #[test]
    fn only_regular_files_are_counted() {
        // /dev/zero would never end, a FIFO would lose its lines to the count.
        let e = count_lines(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file");
    }
}

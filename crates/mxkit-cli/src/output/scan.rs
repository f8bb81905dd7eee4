//! `mxkit scan` output besides the result lines: the summary for people
//! (stderr) and as JSON (`--stats`).
//!
//! A result line is `{"line":N,"input":"...",` followed by the keys of
//! `mxkit route --json` (the library's `mxkit::route::Route`, whose doc
//! comments are the schema); the library writes it
//! (`mxkit::scan::resume::write_result_line`), since `--resume` reads it
//! back there.

use std::io::{self, Write};

use mxkit::route::{RouteKind, RouteVerdict};
use mxkit::scan::Summary;
use serde::Serialize;

/// The `--stats` document: the library's summary plus what the command
/// knows about the files.
#[derive(Serialize)]
pub struct Stats<'a> {
    /// True when every input line has its output line.
    pub completed: bool,
    /// Input lines read (all of them, blank and comments included).
    pub input_lines: u64,
    /// Blank and comment lines skipped.
    pub skipped: u64,
    /// Lines that were already in the output (`--resume`) and were not
    /// routed again.
    pub resumed: u64,
    /// Threads that routed.
    pub threads: usize,
    /// `--shard K/N`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Input lines of the other shards (passed over), with `--shard`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_shards: Option<u64>,
    /// Why the input could not be read to its end, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_error: Option<String>,
    /// What the run did.
    #[serde(flatten)]
    pub summary: &'a Summary,
}

/// Write `--stats` as one pretty-printed JSON object.
pub fn stats(out: &mut impl Write, stats: &Stats<'_>) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, stats)?;
    writeln!(out)
}

/// The summary for people: totals, then one line per outcome, most
/// frequent first, then why the run stopped early, if it did.
pub fn summary(out: &mut impl Write, stats: &Stats<'_>) -> io::Result<()> {
    let s = stats.summary;
    writeln!(
        out,
        "mxkit scan: {} domain(s) in {:.2} s ({:.0}/s); {} queries ({:.2}/domain), {} resent, {} timed out, {} over TCP; cache: {} hits, {} joined",
        s.domains,
        s.elapsed,
        s.domains_per_second,
        s.queries,
        s.queries_per_domain,
        s.resends,
        s.timeouts,
        s.tcp_fallbacks,
        s.cache_hits,
        s.cache_joined,
    )?;
    if let (Some(shard), Some(n)) = (&stats.shard, stats.other_shards) {
        writeln!(
            out,
            "  shard {shard}: {n} line(s) of the other shards passed over"
        )?;
    }
    if stats.resumed > 0 {
        writeln!(
            out,
            "  {} line(s) were already in the output (resumed)",
            stats.resumed
        )?;
    }
    let mut outcomes: Vec<(&str, u64)> = s.outcome.iter().map(|(k, v)| (*k, *v)).collect();
    outcomes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (outcome, n) in outcomes {
        writeln!(out, "  {n:>10}  {outcome} ({})", status_of(outcome))?;
    }
    if let Some(why) = &s.stopped {
        writeln!(
            out,
            "mxkit scan: stopped early: {why}; rerun with --output FILE --resume to finish"
        )?;
    }
    if let Some(why) = &stats.input_error {
        writeln!(
            out,
            "mxkit scan: stopped early: cannot read the input: {why}"
        )?;
    }
    Ok(())
}

/// The status an outcome always has (`RouteKind::verdict`).
fn status_of(outcome: &str) -> &'static str {
    match RouteKind::from_code(outcome).map(RouteKind::verdict) {
        Some(RouteVerdict::Deliverable) => "deliverable",
        Some(RouteVerdict::Temporary) => "temporary",
        Some(RouteVerdict::Permanent) | None => "permanent",
    }
}

//! `mxkit scan` output: one JSON line per result, the summary for people
//! (stderr) and as JSON (`--stats`).
//!
//! A result line is `{"line":N,"input":"...",` followed by the keys of
//! `mxkit route --json` (the library's `mxkit::route::Route`, whose doc
//! comments are the schema). `line` comes first so that `--resume` reads it
//! back without parsing the whole line.

use std::io::{self, Write};

use mxkit::scan::{Done, Summary};
use serde::Serialize;

/// How every result line starts (`--resume` looks for it).
pub const LINE_PREFIX: &[u8] = b"{\"line\":";

/// Append one result as one JSON line (with its `\n`) to `buf`.
pub fn result(buf: &mut Vec<u8>, done: &Done) -> io::Result<()> {
    buf.extend_from_slice(LINE_PREFIX);
    serde_json::to_writer(&mut *buf, &done.line)?;
    buf.extend_from_slice(b",\"input\":");
    serde_json::to_writer(&mut *buf, &done.input)?;
    let at = buf.len();
    serde_json::to_writer(&mut *buf, &done.route)?;
    // The route's own opening brace becomes the comma: its keys continue
    // this object.
    debug_assert_eq!(buf.get(at), Some(&b'{'));
    if let Some(brace) = buf.get_mut(at) {
        *brace = b',';
    }
    buf.push(b'\n');
    Ok(())
}

/// The line number of a result line written by [`result`], read from its
/// start; falls back to parsing the whole line. `None`: not a result line.
pub fn line_number(text: &[u8]) -> Option<u64> {
    if let Some(rest) = text.strip_prefix(LINE_PREFIX) {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && rest.get(digits) == Some(&b',') {
            return std::str::from_utf8(&rest[..digits]).ok()?.parse().ok();
        }
    }
    let value: serde_json::Value = serde_json::from_slice(text).ok()?;
    value.get("line")?.as_u64()
}

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

/// The summary for people: totals, then one line per outcome, most frequent first.
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
    Ok(())
}

/// The status an outcome always has (mxkit::route::Outcome's docs).
fn status_of(outcome: &str) -> &'static str {
    match outcome {
        "mx" | "implicit_mx" | "address_literal" => "deliverable",
        "no_primary_relay" | "dns_temporary" => "temporary",
        _ => "permanent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers_are_read_from_the_prefix_or_the_whole_line() {
        assert_eq!(line_number(b"{\"line\":42,\"input\":\"a\"}"), Some(42));
        assert_eq!(line_number(b"{\"input\":\"a\",\"line\":7}"), Some(7));
        assert_eq!(line_number(b"{\"line\":4"), None);
        assert_eq!(line_number(b"garbage"), None);
    }
}

//! `mxkit scan` output: one JSON line per result, the summary for people
//! (stderr) and as JSON (`--stats`).
//!
//! A result line is `{"line":N,"input":"...",` followed by the keys of
//! `mxkit route --json` (the library's `mxkit::route::Route`, whose doc
//! comments are the schema). `line` and `input` come first so that
//! `--resume` reads them back without parsing the whole line: they are also
//! what ties a result to its input line.

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

/// The line number and the input line of a result line written by
/// [`result`] (`--resume` checks that both belong to the input), read from
/// its start; falls back to parsing the whole line. `None`: not a result
/// line.
pub fn line_and_input(text: &[u8]) -> Option<(u64, String)> {
    if let Some(rest) = text.strip_prefix(LINE_PREFIX) {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0
            && let Some(after) = rest[digits..].strip_prefix(b",\"input\":")
        {
            let line = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
            // Only the string is read; the route's keys after it are not.
            let mut strings = serde_json::Deserializer::from_slice(after).into_iter::<String>();
            if let Some(Ok(input)) = strings.next() {
                return Some((line, input));
            }
        }
    }
    let value: serde_json::Value = serde_json::from_slice(text).ok()?;
    Some((
        value.get("line")?.as_u64()?,
        value.get("input")?.as_str()?.to_owned(),
    ))
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

/// The status an outcome always has (mxkit::route::RouteKind's docs).
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
    fn line_numbers_and_inputs_are_read_from_the_prefix_or_the_whole_line() {
        let read = |t: &[u8]| line_and_input(t);
        assert_eq!(
            read(b"{\"line\":42,\"input\":\"a\\\"b\",\"domain\":\"x\"}"),
            Some((42, "a\"b".to_owned()))
        );
        assert_eq!(
            read(b"{\"input\":\"a\",\"line\":7}"),
            Some((7, "a".to_owned()))
        );
        assert_eq!(read(b"{\"line\":4"), None);
        assert_eq!(read(b"{\"line\":4,\"input\":\"a"), None);
        assert_eq!(read(b"{\"line\":4}"), None);
        assert_eq!(read(b"garbage"), None);
    }
}

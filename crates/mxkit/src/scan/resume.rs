//! Results that outlive their run: the result line a scan writes for each
//! item, and how a later run continues an output that a killed or stopped
//! run left behind, so that "nothing lost" holds across runs too.
//!
//! Words:
//! - a **result line** is one [`Done`] as one JSON line
//!   ([`write_result_line`]): `{"line":N,"input":"...",` followed by the
//!   keys of its [`Route`](crate::route::Route). `line` and `input` come
//!   first so that [`read_result_line`] reads them back without parsing the
//!   rest: they are also what ties a result to its input line;
//! - the **kept lines** of an output are its whole result lines; a partial
//!   last line (a run killed mid-write) is cut before anything is appended;
//! - a kept line **belongs** to an input when its `line` is a line of the
//!   input that is an item (not blank, not a comment), no other kept line
//!   has that number, and its `input` is that line as read (`Item::input`).
//!
//! [`resume`] appends to an output only when every kept line belongs to the
//! input; otherwise it refuses ([`ResumeError`]) and changes nothing. The
//! identity is in the lines themselves, so the output stays pure JSON Lines,
//! one line per input line, and there is no second file to lose or to leave
//! stale: the input is read once more before the run (twice when lines are
//! kept: counting its lines first bounds the memory for the line numbers by
//! the input, not by what the output claims), which is fast next to
//! resolving it. Standard input cannot be read twice, so lines can be kept
//! only for an input file.
//!
//! Every file is read with a limit: a resumed output must be a regular file
//! (not `/dev/zero`, not a FIFO) and a line longer than
//! [`MAX_RESULT_LINE`] is not a result (and is not cut as if it were a torn
//! last line).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::hash::Hasher;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{Done, LineReader, Shard, json};
use crate::bounded;

/// How every result line starts.
pub const RESULT_PREFIX: &[u8] = b"{\"line\":";

/// Longest line of an output read back by [`resume`], in bytes: far above
/// any result line mxkit writes (a route with 1000 MX records, the most one
/// answer keeps, is about 100 KB), so a longer one is not a result.
pub const MAX_RESULT_LINE: usize = 64 << 20;

/// Append one result as one JSON line (with its `\n`) to `buf`.
pub fn write_result_line(buf: &mut Vec<u8>, done: &Done) -> io::Result<()> {
    buf.extend_from_slice(RESULT_PREFIX);
    json::write(buf, &done.line)?;
    buf.extend_from_slice(b",\"input\":");
    json::write(buf, &done.input)?;
    let at = buf.len();
    json::write_route(buf, &done.route)?;
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
/// [`write_result_line`] (without its `\n`), read from its start; falls
/// back to parsing the whole line. `None`: not a result line.
pub fn read_result_line(text: &[u8]) -> Option<(u64, String)> {
    if let Some(rest) = text.strip_prefix(RESULT_PREFIX) {
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

/// Why a line of a scan output is not a result: the one error of every
/// reader of result files ([`ResultReader`]: [`resume`] and
/// [`merge`](super::merge)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BadLine {
    /// Longer than any result line.
    #[error("line {number} exceeds the limit of {limit} bytes for a scan result")]
    TooLong {
        /// The 1-based number of the line in the file.
        number: u64,
        /// [`MAX_RESULT_LINE`].
        limit: usize,
    },
    /// A whole line that is not a result line.
    #[error("line {number} is not a scan result")]
    NotAResult {
        /// The 1-based number of the line in the file.
        number: u64,
    },
}

/// What [`ResultReader::next`] read.
pub(crate) enum ResultRead {
    /// The end of the file.
    End,
    /// A partial last line (a run killed mid-write), left in the buffer
    /// after the bytes before it.
    Torn,
    /// A result line, with its `\n`, appended to the buffer.
    Line {
        /// Its input line number and input text ([`read_result_line`]).
        line: u64,
        input: String,
        /// Its length in the buffer, `\n` included.
        len: usize,
    },
}

/// Why [`ResultReader::next`] stopped.
pub(crate) enum ReadError {
    /// The file could not be read.
    Io(io::Error),
    /// A line is not a result.
    Bad(BadLine),
}

/// The result lines of a scan output, one at a time, each read within
/// [`MAX_RESULT_LINE`] (a longer one is [`BadLine::TooLong`], never read
/// on), numbered from 1.
pub(crate) struct ResultReader<R> {
    reader: R,
    number: u64,
}

impl<R: BufRead> ResultReader<R> {
    pub(crate) fn new(reader: R) -> Self {
        ResultReader { reader, number: 0 }
    }

    /// The next line, appended to `buf`.
    pub(crate) fn next(&mut self, buf: &mut Vec<u8>) -> Result<ResultRead, ReadError> {
        let start = buf.len();
        let n = (&mut self.reader)
            .take(MAX_RESULT_LINE as u64 + 1)
            .read_until(b'\n', buf)
            .map_err(ReadError::Io)?;
        if n > MAX_RESULT_LINE {
            return Err(ReadError::Bad(BadLine::TooLong {
                number: self.number + 1,
                limit: MAX_RESULT_LINE,
            }));
        }
        if n == 0 {
            return Ok(ResultRead::End);
        }
        if buf.last() != Some(&b'\n') {
            return Ok(ResultRead::Torn);
        }
        self.number += 1;
        let number = self.number;
        let (line, input) = read_result_line(&buf[start..start + n - 1])
            .ok_or(ReadError::Bad(BadLine::NotAResult { number }))?;
        Ok(ResultRead::Line {
            line,
            input,
            len: n,
        })
    }

    /// The number of the last line read.
    pub(crate) fn number(&self) -> u64 {
        self.number
    }
}

/// Why an output cannot be resumed. Nothing was changed in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// The output exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadOutput {
        /// The output.
        path: PathBuf,
        /// What reading it said.
        source: io::Error,
    },
    /// The output cannot be opened for appending, or cut.
    #[error("cannot write {}: {source}", path.display())]
    WriteOutput {
        /// The output.
        path: PathBuf,
        /// What writing it said.
        source: io::Error,
    },
    /// The output is not a regular file (a device, a FIFO, a directory).
    #[error("{}: not a regular file", path.display())]
    NotAFile {
        /// The output.
        path: PathBuf,
    },
    /// A line of the output is not a result line, or too long to be one.
    #[error("{} {source}", path.display())]
    BadLine {
        /// The output.
        path: PathBuf,
        /// Which line, and what is wrong with it.
        source: BadLine,
    },
    /// A result for a line number the input does not have.
    #[error(
        "{} line {number} is the result for line {line}, past the end of {} ({lines} line(s))",
        path.display(),
        input.display()
    )]
    PastTheEnd {
        /// The output.
        path: PathBuf,
        /// The 1-based number of the line in the output.
        number: u64,
        /// The input line it claims to be the result for.
        line: u64,
        /// The input.
        input: PathBuf,
        /// How many lines the input has.
        lines: u64,
    },
    /// A result for a line of another shard.
    #[error(
        "{} holds a result for line {line}, which is not a line of shard {shard} (resume a \
         shard's output with the same --shard)",
        path.display()
    )]
    OtherShard {
        /// The output.
        path: PathBuf,
        /// The input line.
        line: u64,
        /// The shard being resumed.
        shard: Shard,
    },
    /// Two results for one input line.
    #[error(
        "{} holds the result for line {line} twice (again at its line {number})",
        path.display()
    )]
    Twice {
        /// The output.
        path: PathBuf,
        /// The input line.
        line: u64,
        /// The 1-based number of the second one in the output.
        number: u64,
    },
    /// A result for a blank or comment line of the input.
    #[error(
        "{} holds a result for line {line}, a blank or a comment line in {}",
        path.display(),
        input.display()
    )]
    NotAnItem {
        /// The output.
        path: PathBuf,
        /// The input line.
        line: u64,
        /// The input.
        input: PathBuf,
    },
    /// The kept lines' `input`s are not the input's lines.
    #[error(
        "the results in {} were not written for this input: their input lines differ from \
         those of {}",
        path.display(),
        input.display()
    )]
    OtherInput {
        /// The output.
        path: PathBuf,
        /// The input.
        input: PathBuf,
    },
    /// The output holds results, and the input is standard input or not a
    /// regular file: it cannot be read again to check them.
    #[error(
        "{} holds results, and they can be checked against the input only when it is a file \
         (standard input and pipes cannot be read twice)",
        path.display()
    )]
    InputNotAFile {
        /// The output.
        path: PathBuf,
    },
    /// The input cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Input {
        /// The input.
        path: PathBuf,
        /// What reading it said.
        source: io::Error,
    },
}

/// An output opened to continue: the file, cut after its last whole line
/// and positioned there, and the input line numbers it holds results for.
#[derive(Debug)]
pub struct Resumed {
    /// Append the new result lines here.
    pub file: File,
    /// The lines not to route again ([`LineReader::resuming`]).
    pub done: LineSet,
}

/// Open `output` to continue it with the results for `input` (`None`:
/// standard input): a missing output is created empty; an existing one
/// must be a regular file whose whole lines all belong to `input` (see the
/// module documentation) and to `shard`, and is then cut after its last
/// whole line. Nothing is changed in it until every kept line is known to
/// belong. The lines of [`Resumed::done`] are positions within the shard
/// ([`Shard::position`]), as [`LineReader::shard`] reads them.
pub fn resume(output: &Path, input: Option<&Path>, shard: Shard) -> Result<Resumed, ResumeError> {
    let not_a_file = || ResumeError::NotAFile {
        path: output.to_path_buf(),
    };
    let cannot = |source| ResumeError::WriteOutput {
        path: output.to_path_buf(),
        source,
    };
    // Only a regular file can be read to its end and cut: not /dev/zero
    // (endless), not a FIFO (whose reader waits for a writer).
    if fs::metadata(output).is_ok_and(|m| !m.is_file()) {
        return Err(not_a_file());
    }
    let kept = kept_lines(output, input, shard)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(output)
        .map_err(cannot)?;
    if !file.metadata().map_err(cannot)?.is_file() {
        return Err(not_a_file());
    }
    // A partial last line (a run killed mid-write) is cut.
    file.set_len(kept.bytes).map_err(cannot)?;
    file.seek(SeekFrom::Start(kept.bytes)).map_err(cannot)?;
    Ok(Resumed {
        file,
        done: kept.lines,
    })
}

/// The whole result lines of a resumed output.
#[derive(Default)]
struct Kept {
    /// Their input line numbers.
    lines: LineSet,
    /// Their length, up to the end of the last whole line.
    bytes: u64,
}

/// Read the whole lines of the output to resume and check that each
/// belongs to `input` and `shard`.
fn kept_lines(path: &Path, input: Option<&Path>, shard: Shard) -> Result<Kept, ResumeError> {
    let output = || path.to_path_buf();
    let unreadable = |source| ResumeError::ReadOutput {
        path: output(),
        source,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Kept::default()),
        Err(e) => return Err(unreadable(e)),
    };
    let mut reader = ResultReader::new(BufReader::with_capacity(1 << 16, file));
    let mut kept = Kept::default();
    let mut digest = 0u64;
    let mut input_lines: Option<(&Path, u64)> = None;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let (line, text, n) = match reader.next(&mut buf) {
            Ok(ResultRead::Line { line, input, len }) => (line, input, len),
            // The end, or a partial last line (a run killed mid-write).
            Ok(ResultRead::End | ResultRead::Torn) => break,
            Err(ReadError::Io(e)) => return Err(unreadable(e)),
            Err(ReadError::Bad(source)) => {
                return Err(ResumeError::BadLine {
                    path: output(),
                    source,
                });
            }
        };
        let number = reader.number();
        let (input_path, lines) = match input_lines {
            Some(known) => known,
            None => {
                let input_path = regular_input(input, path)?;
                let lines = count_lines(input_path).map_err(|source| ResumeError::Input {
                    path: input_path.to_path_buf(),
                    source,
                })?;
                *input_lines.insert((input_path, lines))
            }
        };
        if line == 0 || line > lines {
            return Err(ResumeError::PastTheEnd {
                path: output(),
                number,
                line,
                input: input_path.to_path_buf(),
                lines,
            });
        }
        if !shard.holds(line) {
            return Err(ResumeError::OtherShard {
                path: output(),
                line,
                shard,
            });
        }
        if !kept.lines.insert(shard.position(line)) {
            return Err(ResumeError::Twice {
                path: output(),
                line,
                number,
            });
        }
        digest = digest.wrapping_add(identity(line, &text));
        kept.bytes += n as u64;
    }
    let Some((input_path, _)) = input_lines else {
        return Ok(kept);
    };
    // Every kept line must be an item of the input, with the same text.
    let cannot = |source| ResumeError::Input {
        path: input_path.to_path_buf(),
        source,
    };
    let not_an_item = |line| ResumeError::NotAnItem {
        path: output(),
        line,
        input: input_path.to_path_buf(),
    };
    let file = File::open(input_path).map_err(cannot)?;
    let mut items = LineReader::new(BufReader::with_capacity(1 << 16, file)).shard(shard);
    let kept_at = |l: u64| shard.holds(l) && kept.lines.contains(shard.position(l));
    let mut previous = 0u64;
    let mut found = 0u64;
    while let Some(item) = items.next_item().map_err(cannot)? {
        if let Some(line) = (previous + 1..item.line).find(|&l| kept_at(l)) {
            return Err(not_an_item(line));
        }
        previous = item.line;
        if kept_at(item.line) {
            found += 1;
            digest = digest.wrapping_sub(identity(item.line, &item.input));
        }
    }
    if let Some(line) = (previous + 1..=items.lines()).find(|&l| kept_at(l)) {
        return Err(not_an_item(line));
    }
    if found != kept.lines.len() || digest != 0 {
        return Err(ResumeError::OtherInput {
            path: output(),
            input: input_path.to_path_buf(),
        });
    }
    Ok(kept)
}

/// The input of a resumed run with lines to keep: a regular file (it is read
/// twice more before the run).
fn regular_input<'a>(input: Option<&'a Path>, output: &Path) -> Result<&'a Path, ResumeError> {
    match input {
        Some(path) if fs::metadata(path).is_ok_and(|m| m.is_file()) => Ok(path),
        _ => Err(ResumeError::InputNotAFile {
            path: output.to_path_buf(),
        }),
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

/// Lines in a file (a last line without `\n` counts). Only a regular file
/// is counted: reading a FIFO here would take lines from the run, and
/// `/dev/zero` has no end.
pub fn count_lines(path: &Path) -> io::Result<u64> {
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

/// Line numbers (the lines of a resumed output), as runs of consecutive
/// numbers: memory follows the number of gaps, never the highest number, so
/// a damaged output that claims line 18446744073709551615 costs one entry
/// (a bit per number up to the highest would cost exabytes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineSet {
    /// First number of each run -> its last number; runs are disjoint and
    /// never adjacent.
    runs: BTreeMap<u64, u64>,
    /// How many numbers it holds.
    count: u64,
}

impl LineSet {
    /// Add `line`; false when it was already there.
    pub fn insert(&mut self, line: u64) -> bool {
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

    /// Whether `line` is in the set.
    pub fn contains(&self, line: u64) -> bool {
        self.runs
            .range(..=line)
            .next_back()
            .is_some_and(|(_, &end)| line <= end)
    }

    /// How many numbers it holds.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
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
        assert_eq!(set.len(), 8);
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

    #[test]
    fn line_numbers_and_inputs_are_read_from_the_prefix_or_the_whole_line() {
        let read = |t: &[u8]| read_result_line(t);
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

    #[test]
    fn a_result_line_is_read_back_as_written() {
        let input = "a\"b\u{1b}.test";
        let done = Done {
            line: 12,
            input: input.to_owned(),
            route: super::super::unreadable(input, "why"),
        };
        let mut buf = Vec::new();
        write_result_line(&mut buf, &done).unwrap();
        assert!(buf.starts_with(RESULT_PREFIX));
        assert_eq!(buf.last(), Some(&b'\n'));
        let text = &buf[..buf.len() - 1];
        assert_eq!(read_result_line(text), Some((12, input.to_owned())));
        let value: serde_json::Value = serde_json::from_slice(text).unwrap();
        assert_eq!(value["status"], "permanent");
        assert_eq!(value["outcome"], "invalid_address");
    }
}

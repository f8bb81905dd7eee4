//! Joining the outputs of a sharded scan (`mxkit scan-merge`): the result
//! lines of every shard ([`Shard`](super::Shard)), in input order, with
//! the proof that every line of the input was routed exactly once.
//!
//! Words:
//! - a **shard output** is what one `scan --shard K/N` run wrote (perhaps
//!   over several runs with `--resume`): result lines in completion order,
//!   a resumed run's lines after the killed run's, so no order can be
//!   assumed of it;
//! - a **run** (of the external sort) is a part of the shard outputs,
//!   sorted by line number: the result lines are read into memory up to
//!   [`MergeOptions::chunk_bytes`], sorted, and (when more follow) written
//!   to a temporary file; the runs are then merged with a heap, so memory
//!   follows the chunk size, never the input (360 million domains are some
//!   200 GB of results). More than [`MAX_OPEN_RUNS`] runs are first merged
//!   in groups into longer ones, so that the open files stay bounded too;
//! - the merge walks the input beside the sorted results, and each result
//!   must **belong** to it as [`resume`](super::resume) requires of a kept
//!   line: its `line` is an item's (not blank, not a comment, not past the
//!   end), its `input` is that line as read, and no other result has that
//!   number. A result that does not belong is an error ([`MergeError`]); an
//!   item without a result is **missing** (counted, the first ones named,
//!   and with the number of shards given, counted per shard: the shard to
//!   run again with `--resume`).
//!
//! A shard output whose last line is partial (a run killed mid-write, not
//! yet resumed) is read without that line: its item is then missing, and
//! [`MergeReport::torn`] names the file.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::LineReader;
use super::resume::{
    BadLine, MAX_RESULT_LINE, ReadError, ResultRead, ResultReader, read_result_line,
};
use crate::bounded;

/// Default for [`MergeOptions::chunk_bytes`]: 256 MiB of result lines
/// sorted at once (some 700,000 results; memory is about twice this).
pub const DEFAULT_CHUNK_BYTES: usize = 256 << 20;

/// Runs merged at once (each an open file): past this many, runs are
/// first merged in groups into longer ones, so that a merge of any size
/// stays well within the open-file limit (1024 by default).
pub const MAX_OPEN_RUNS: usize = 256;

/// Missing lines named in a report (the rest are counted).
pub const MISSING_NAMED: usize = 10;

/// How a merge runs.
#[derive(Clone, Debug)]
pub struct MergeOptions {
    /// Result lines sorted in memory at once, in bytes.
    pub chunk_bytes: usize,
    /// Where the sorted runs go when there is more than one (a directory
    /// of its own is made in it and removed at the end).
    pub temp_dir: PathBuf,
    /// The N of the shards, when known: missing lines are then counted per
    /// shard.
    pub shards: Option<u64>,
}

/// What a merge found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Input lines read (all of them).
    pub input_lines: u64,
    /// Items of the input (neither blank nor comments).
    pub items: u64,
    /// Results written (each an item's, once).
    pub results: u64,
    /// Items without a result.
    pub missing: u64,
    /// The first [`MISSING_NAMED`] of them.
    pub first_missing: Vec<u64>,
    /// Missing items per shard index (with [`MergeOptions::shards`]).
    pub missing_by_shard: BTreeMap<u64, u64>,
    /// Shard outputs that end in a partial line (read without it).
    pub torn: Vec<PathBuf>,
    /// Sorted runs written to temporary files (0: all in memory).
    pub runs: usize,
}

impl MergeReport {
    /// Every item has its result.
    pub fn complete(&self) -> bool {
        self.missing == 0
    }
}

/// Why shard outputs cannot be merged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// A shard output or the input cannot be read (or is not a regular file).
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What reading it said.
        source: io::Error,
    },
    /// The merged output cannot be written.
    #[error("cannot write the merged output: {0}")]
    Write(io::Error),
    /// A temporary run cannot be written or read back.
    #[error("cannot use the temporary directory {}: {source}", path.display())]
    Temp {
        /// The directory.
        path: PathBuf,
        /// What it said.
        source: io::Error,
    },
    /// A line of a shard output is not a result line, or too long to be one.
    #[error("{} {source}", path.display())]
    BadLine {
        /// The shard output.
        path: PathBuf,
        /// Which line, and what is wrong with it.
        source: BadLine,
    },
    /// Two results for one input line.
    #[error(
        "line {line} of the input has two results (in {} and in {}): a line was routed \
         twice (the same shard given twice, or shards of different N)",
        first.display(),
        second.display()
    )]
    Twice {
        /// The input line.
        line: u64,
        /// The shard output of the one.
        first: PathBuf,
        /// The shard output of the other.
        second: PathBuf,
    },
    /// A result for a line that is blank, a comment, or past the end.
    #[error(
        "{} holds a result for line {line}, which is not a domain line of {} (blank, a \
         comment, or past its end): the shards were run on another input",
        path.display(),
        input.display()
    )]
    NotAnItem {
        /// The shard output.
        path: PathBuf,
        /// The input line.
        line: u64,
        /// The input.
        input: PathBuf,
    },
    /// A result whose `input` is not the input's line.
    #[error(
        "{} holds a result for line {line} whose input is {given:?}, where line {line} of {} \
         is {wanted:?}: the shards were run on another input",
        path.display(),
        input.display()
    )]
    OtherInput {
        /// The shard output.
        path: PathBuf,
        /// The input line.
        line: u64,
        /// The input.
        input: PathBuf,
        /// What the result says the line was.
        given: String,
        /// What the line is.
        wanted: String,
    },
}

/// One result line in a chunk: where it is in the chunk's bytes.
struct Entry {
    line: u64,
    file: u32,
    start: usize,
    len: usize,
}

/// Result lines read so far, not yet sorted.
#[derive(Default)]
struct Chunk {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

impl Chunk {
    fn sort(&mut self) {
        self.entries.sort_unstable_by_key(|e| (e.line, e.file));
    }
}

/// Merge the shard `outputs` into `out` in the order of `input`, checking
/// that each result belongs to it (see the module documentation). Fails
/// at the first result that does not belong (the output written so far is
/// then incomplete: write it to a temporary file and keep it only on
/// success); missing items are reported, not errors.
pub fn merge(
    input: &Path,
    outputs: &[PathBuf],
    out: &mut dyn Write,
    opts: &MergeOptions,
) -> Result<MergeReport, MergeError> {
    let mut report = MergeReport::default();
    let mut temp: Option<tempfile::TempDir> = None;
    let mut runs: Vec<PathBuf> = Vec::new();
    let mut chunk = Chunk::default();
    for (index, path) in outputs.iter().enumerate() {
        let file = u32::try_from(index).unwrap_or(u32::MAX);
        read_output(path, file, &mut chunk, &mut report, |chunk| {
            if chunk.bytes.len() < opts.chunk_bytes {
                return Ok(());
            }
            let dir = match &temp {
                Some(dir) => dir.path().to_path_buf(),
                None => {
                    let dir = tempfile::Builder::new()
                        .prefix(".mxkit-merge-")
                        .tempdir_in(&opts.temp_dir)
                        .map_err(|source| MergeError::Temp {
                            path: opts.temp_dir.clone(),
                            source,
                        })?;
                    temp.insert(dir).path().to_path_buf()
                }
            };
            let run = dir.join(format!("run-{}", runs.len()));
            spill(chunk, &run)?;
            runs.push(run);
            Ok(())
        })?;
    }
    chunk.sort();
    report.runs = runs.len();
    if let Some(dir) = &temp {
        runs = compact(runs, dir.path())?;
    }
    let mut sources: Vec<Source> = runs
        .iter()
        .map(|path| Source::run(path))
        .collect::<Result<_, _>>()?;
    sources.push(Source::Memory { chunk, next: 0 });
    let sorted = Sorted::new(sources)?;
    walk(input, outputs, sorted, out, opts, &mut report)?;
    out.flush().map_err(MergeError::Write)?;
    drop(temp);
    Ok(report)
}

/// Read one shard output's whole lines into `chunk`, calling `full` after
/// each line (it spills the chunk when it is full).
fn read_output(
    path: &Path,
    file: u32,
    chunk: &mut Chunk,
    report: &mut MergeReport,
    mut full: impl FnMut(&mut Chunk) -> Result<(), MergeError>,
) -> Result<(), MergeError> {
    let unreadable = |source| MergeError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = ResultReader::new(BufReader::with_capacity(
        1 << 16,
        bounded::open_regular(path).map_err(unreadable)?,
    ));
    loop {
        let start = chunk.bytes.len();
        let (line, n) = match reader.next(&mut chunk.bytes) {
            Ok(ResultRead::Line { line, len, .. }) => (line, len),
            Ok(ResultRead::End) => return Ok(()),
            Ok(ResultRead::Torn) => {
                // A partial last line: a killed run's, not yet resumed.
                chunk.bytes.truncate(start);
                report.torn.push(path.to_path_buf());
                return Ok(());
            }
            Err(ReadError::Io(e)) => return Err(unreadable(e)),
            Err(ReadError::Bad(source)) => {
                return Err(MergeError::BadLine {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        chunk.entries.push(Entry {
            line,
            file,
            start,
            len: n,
        });
        full(chunk)?;
    }
}

/// Sort `chunk` and write it to `path` as a run: per result, its line
/// number, its file index and its length (little-endian u64, u32, u32),
/// then the line. The chunk is left empty.
fn spill(chunk: &mut Chunk, path: &Path) -> Result<(), MergeError> {
    let temp_error = |source| MergeError::Temp {
        path: path.parent().unwrap_or(path).to_path_buf(),
        source,
    };
    chunk.sort();
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path).map_err(temp_error)?);
    for e in &chunk.entries {
        write_record(
            &mut w,
            e.line,
            e.file,
            &chunk.bytes[e.start..e.start + e.len],
        )
        .map_err(temp_error)?;
    }
    w.flush().map_err(temp_error)?;
    chunk.bytes.clear();
    chunk.entries.clear();
    Ok(())
}

/// One result of a run: its line number, its file index and its length
/// (little-endian u64, u32, u32), then the line.
fn write_record(w: &mut impl Write, line: u64, file: u32, text: &[u8]) -> io::Result<()> {
    let len = u32::try_from(text.len()).map_err(|_| bounded::too_large(u32::MAX.into()))?;
    w.write_all(&line.to_le_bytes())?;
    w.write_all(&file.to_le_bytes())?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(text)
}

/// Merge `runs` in groups of [`MAX_OPEN_RUNS`] into longer runs in `dir`
/// (removing the merged ones) until at most that many are left.
fn compact(mut runs: Vec<PathBuf>, dir: &Path) -> Result<Vec<PathBuf>, MergeError> {
    let mut round = 0usize;
    while runs.len() > MAX_OPEN_RUNS {
        round += 1;
        let mut longer = Vec::new();
        for (i, group) in runs.chunks(MAX_OPEN_RUNS).enumerate() {
            let path = dir.join(format!("merged-{round}-{i}"));
            let temp_error = |source| MergeError::Temp {
                path: dir.to_path_buf(),
                source,
            };
            let sources = group
                .iter()
                .map(|p| Source::run(p))
                .collect::<Result<Vec<_>, _>>()?;
            let mut sorted = Sorted::new(sources)?;
            let mut w = BufWriter::with_capacity(1 << 20, File::create(&path).map_err(temp_error)?);
            while let Some((line, file, text)) = sorted.next()? {
                write_record(&mut w, line, file, &text).map_err(temp_error)?;
                sorted.recycle(text);
            }
            w.flush().map_err(temp_error)?;
            for p in group {
                std::fs::remove_file(p).map_err(temp_error)?;
            }
            longer.push(path);
        }
        runs = longer;
    }
    Ok(runs)
}

/// One sorted source of results: a run on disk or the last chunk.
enum Source {
    Run {
        path: PathBuf,
        reader: BufReader<File>,
    },
    Memory {
        chunk: Chunk,
        next: usize,
    },
}

/// The head of a source: line, file index, the result line (with `\n`).
type Head = (u64, u32, Vec<u8>);

impl Source {
    fn run(path: &Path) -> Result<Source, MergeError> {
        let file = File::open(path).map_err(|source| MergeError::Temp {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Source::Run {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 16, file),
        })
    }

    /// The next head, its text in `text` (a buffer handed back by
    /// [`Sorted::recycle`], so that merging allocates nothing per line).
    fn next(&mut self, mut text: Vec<u8>) -> Result<Option<Head>, MergeError> {
        text.clear();
        match self {
            Source::Memory { chunk, next } => {
                let Some(e) = chunk.entries.get(*next) else {
                    return Ok(None);
                };
                *next += 1;
                text.extend_from_slice(&chunk.bytes[e.start..e.start + e.len]);
                Ok(Some((e.line, e.file, text)))
            }
            Source::Run { path, reader } => {
                let temp_error = |source| MergeError::Temp {
                    path: path.clone(),
                    source,
                };
                let mut head = [0u8; 16];
                match reader.read_exact(&mut head) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                    Err(e) => return Err(temp_error(e)),
                }
                let (line, rest) = head.split_at(8);
                let (file, len) = rest.split_at(4);
                let line = u64::from_le_bytes(line.try_into().unwrap_or_default());
                let file = u32::from_le_bytes(file.try_into().unwrap_or_default());
                let len = u32::from_le_bytes(len.try_into().unwrap_or_default()) as usize;
                if len > MAX_RESULT_LINE + 1 {
                    return Err(temp_error(bounded::too_large(MAX_RESULT_LINE as u64)));
                }
                text.resize(len, 0);
                reader.read_exact(&mut text).map_err(temp_error)?;
                Ok(Some((line, file, text)))
            }
        }
    }
}

/// The sources merged: results by line number (then file index).
struct Sorted {
    sources: Vec<Source>,
    heads: Vec<Option<Head>>,
    heap: BinaryHeap<Reverse<(u64, u32, usize)>>,
    /// Text buffers of results already written, for the next heads.
    spare: Vec<Vec<u8>>,
}

/// How many text buffers [`Sorted::recycle`] keeps.
const SPARE_BUFFERS: usize = 4;

impl Sorted {
    fn new(mut sources: Vec<Source>) -> Result<Sorted, MergeError> {
        let mut heads = Vec::with_capacity(sources.len());
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (i, source) in sources.iter_mut().enumerate() {
            let head = source.next(Vec::new())?;
            if let Some((line, file, _)) = &head {
                heap.push(Reverse((*line, *file, i)));
            }
            heads.push(head);
        }
        Ok(Sorted {
            sources,
            heads,
            heap,
            spare: Vec::new(),
        })
    }

    /// Hand back the text of a result [`next`](Self::next) gave, once it is
    /// written: the next head is read into it.
    fn recycle(&mut self, text: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS {
            self.spare.push(text);
        }
    }

    fn next(&mut self) -> Result<Option<Head>, MergeError> {
        let Some(Reverse((_, _, i))) = self.heap.pop() else {
            return Ok(None);
        };
        let text = self.spare.pop().unwrap_or_default();
        let head = self.sources[i].next(text)?;
        if let Some((line, file, _)) = &head {
            self.heap.push(Reverse((*line, *file, i)));
        }
        Ok(std::mem::replace(&mut self.heads[i], head))
    }
}

/// Walk the input beside the sorted results: write each item's result,
/// count the missing ones, fail at a result that does not belong.
fn walk(
    input: &Path,
    outputs: &[PathBuf],
    mut sorted: Sorted,
    out: &mut dyn Write,
    opts: &MergeOptions,
    report: &mut MergeReport,
) -> Result<(), MergeError> {
    let unreadable = |source| MergeError::Read {
        path: input.to_path_buf(),
        source,
    };
    let path_of = |file: u32| {
        outputs
            .get(file as usize)
            .cloned()
            .unwrap_or_else(|| PathBuf::from("?"))
    };
    let file = bounded::open_regular(input).map_err(unreadable)?;
    let mut items = LineReader::new(BufReader::with_capacity(1 << 16, file));
    let mut item = items.next_item().map_err(unreadable)?;
    let mut result = sorted.next()?;
    let mut last: Option<(u64, u32)> = None;
    loop {
        match (&item, &result) {
            (None, None) => break,
            (Some(i), r) if r.as_ref().is_none_or(|(line, _, _)| *line > i.line) => {
                report.missing += 1;
                if report.first_missing.len() < MISSING_NAMED {
                    report.first_missing.push(i.line);
                }
                if let Some(n) = opts.shards.filter(|&n| n > 0) {
                    *report.missing_by_shard.entry(i.line % n).or_default() += 1;
                }
                report.items += 1;
                item = items.next_item().map_err(unreadable)?;
            }
            (i, Some((line, file, text))) => {
                if let Some((previous, first)) = last
                    && previous == *line
                {
                    return Err(MergeError::Twice {
                        line: *line,
                        first: path_of(first),
                        second: path_of(*file),
                    });
                }
                let Some(i) = i.as_ref().filter(|i| i.line == *line) else {
                    return Err(MergeError::NotAnItem {
                        path: path_of(*file),
                        line: *line,
                        input: input.to_path_buf(),
                    });
                };
                let given = read_result_line(&text[..text.len() - 1])
                    .map(|(_, given)| given)
                    .unwrap_or_default();
                if given != i.input {
                    return Err(MergeError::OtherInput {
                        path: path_of(*file),
                        line: *line,
                        input: input.to_path_buf(),
                        given,
                        wanted: i.input.clone(),
                    });
                }
                out.write_all(text).map_err(MergeError::Write)?;
                report.results += 1;
                report.items += 1;
                let line = *line;
                last = Some((line, *file));
                if let Some((_, _, written)) = std::mem::replace(&mut result, sorted.next()?) {
                    sorted.recycle(written);
                }
                // A second result for this line shows before the next item.
                if result.as_ref().is_none_or(|(next, _, _)| *next != line) {
                    item = items.next_item().map_err(unreadable)?;
                }
            }
            (Some(_), None) => unreachable!("handled as missing above"),
        }
    }
    report.input_lines = items.lines();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(line: u64, input: &str) -> String {
        format!("{{\"line\":{line},\"input\":{input:?},\"domain\":\"x\"}}\n")
    }

    fn merged(
        input: &str,
        shards: &[String],
        chunk_bytes: usize,
    ) -> (Result<MergeReport, MergeError>, String) {
        let dir = tempfile::tempdir().unwrap();
        let input_path = dir.path().join("input.txt");
        std::fs::write(&input_path, input).unwrap();
        let outputs: Vec<PathBuf> = shards
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let p = dir.path().join(format!("shard-{i}.jsonl"));
                std::fs::write(&p, text).unwrap();
                p
            })
            .collect();
        let mut out = Vec::new();
        let opts = MergeOptions {
            chunk_bytes,
            temp_dir: dir.path().to_path_buf(),
            shards: Some(shards.len() as u64),
        };
        let report = merge(&input_path, &outputs, &mut out, &opts);
        // The temporary runs are gone either way.
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".mxkit-merge"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        (report, String::from_utf8(out).unwrap())
    }

    #[test]
    fn shards_in_any_order_come_out_in_input_order_in_memory_and_through_runs() {
        let input = "a\n#\nb\nc\n\nd\ne\n";
        // Shard 0/2 holds lines 4 and 6; 1/2 holds 1, 3 and 7: written out
        // of order (as a resumed run leaves them).
        let zero = result(6, "d") + &result(4, "c");
        let one = result(7, "e") + &result(1, "a") + &result(3, "b");
        let want: String = [(1, "a"), (3, "b"), (4, "c"), (6, "d"), (7, "e")]
            .iter()
            .map(|(l, i)| result(*l, i))
            .collect();
        for chunk in [1, 60, DEFAULT_CHUNK_BYTES] {
            let (report, out) = merged(input, &[zero.clone(), one.clone()], chunk);
            let report = report.unwrap();
            assert_eq!(out, want, "chunk {chunk}");
            assert!(report.complete());
            assert_eq!(
                (report.items, report.results, report.input_lines),
                (5, 5, 7)
            );
            assert_eq!(
                report.runs > 0,
                chunk < DEFAULT_CHUNK_BYTES,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn more_runs_than_may_be_open_are_merged_in_rounds() {
        // 600 results, one run each (a chunk of 1 byte): three rounds' worth
        // of groups of MAX_OPEN_RUNS, still in input order, each once.
        let input: String = (1..=600).map(|i| format!("d{i}\n")).collect();
        let shard: String = (1..=600)
            .rev()
            .map(|i| result(i, &format!("d{i}")))
            .collect();
        let (report, out) = merged(&input, &[shard], 1);
        let report = report.unwrap();
        assert!(report.complete());
        assert_eq!(report.runs, 600, "each result a run of its own");
        let want: String = (1..=600).map(|i| result(i, &format!("d{i}"))).collect();
        assert_eq!(out, want);
    }

    #[test]
    fn missing_lines_are_counted_per_shard_and_torn_lines_named() {
        let input = "a\nb\nc\nd\n";
        let zero = result(2, "b") + "{\"line\":4,\"inp";
        let one = result(3, "c");
        let (report, out) = merged(input, &[zero, one], 1);
        let report = report.unwrap();
        assert_eq!(out, result(2, "b") + &result(3, "c"));
        assert_eq!(report.missing, 2);
        assert_eq!(report.first_missing, [1, 4]);
        assert_eq!(report.missing_by_shard, BTreeMap::from([(0, 1), (1, 1)]));
        assert_eq!(report.torn.len(), 1);
    }

    #[test]
    fn a_line_routed_twice_or_for_another_input_is_refused() {
        let input = "a\nb\n#\n";
        for chunk in [1, DEFAULT_CHUNK_BYTES] {
            let twice = merged(
                input,
                &[result(1, "a"), result(2, "b") + &result(1, "a")],
                chunk,
            )
            .0;
            assert!(
                matches!(twice, Err(MergeError::Twice { line: 1, .. })),
                "{twice:?}"
            );
            let other = merged(input, &[result(1, "x")], chunk).0;
            assert!(
                matches!(other, Err(MergeError::OtherInput { line: 1, .. })),
                "{other:?}"
            );
            let comment = merged(input, &[result(3, "#")], chunk).0;
            assert!(
                matches!(comment, Err(MergeError::NotAnItem { line: 3, .. })),
                "{comment:?}"
            );
            let past = merged(input, &[result(9, "z")], chunk).0;
            assert!(
                matches!(past, Err(MergeError::NotAnItem { line: 9, .. })),
                "{past:?}"
            );
            let garbage = merged(input, &["hello\n".to_owned()], chunk).0;
            assert!(
                matches!(
                    garbage,
                    Err(MergeError::BadLine {
                        source: BadLine::NotAResult { number: 1 },
                        ..
                    })
                ),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, "a\n").unwrap();
        let opts = MergeOptions {
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            temp_dir: dir.path().to_path_buf(),
            shards: None,
        };
        let e = merge(
            &input,
            &[PathBuf::from("/dev/zero")],
            &mut Vec::new(),
            &opts,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "cannot read /dev/zero: not a regular file");
    }
}

//! `mxkit scan-merge`: shard outputs -> [`mxkit::scan::merge`] -> the
//! results in input order, with the exactly-once check.
//!
//! The merged output goes to a temporary file beside `--output`, which
//! replaces `--output` only when no result was refused: a failed merge
//! leaves no half-written file where a complete one is expected.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mxkit::scan::merge::{MISSING_NAMED, MergeError, MergeOptions, MergeReport, merge};
use serde::Serialize;

use crate::Usage;
use crate::args::ScanMergeArgs;
use crate::exit;

/// Run `mxkit scan-merge`; returns the exit code.
pub fn run(args: ScanMergeArgs) -> Result<u8> {
    check_paths(&args)?;
    let temp_dir = match (&args.temp_dir, &args.output) {
        (Some(dir), _) => dir.clone(),
        (None, Some(out)) => parent(out),
        (None, None) => std::env::temp_dir(),
    };
    let opts = MergeOptions {
        chunk_bytes: usize::try_from(args.chunk_mb << 20).unwrap_or(usize::MAX),
        temp_dir,
        shards: args.shards,
    };
    let stats_file = match &args.stats {
        Some(path) => Some(
            File::create(path)
                .map_err(|e| Usage(format!("cannot write --stats {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let report = match merged(&args, &opts) {
        Ok(report) => report,
        Err(e) => {
            // Refused: no --stats either (it was created empty up front, so
            // that an unwritable path fails before the work).
            if let Some(path) = &args.stats {
                let _ = fs::remove_file(path);
            }
            return Err(e);
        }
    };
    let stderr = &mut io::stderr().lock();
    summary(stderr, &report, args.shards)?;
    if let Some(mut file) = stats_file {
        serde_json::to_writer_pretty(&mut file, &Stats::of(&report))?;
        writeln!(file)?;
    }
    Ok(if report.complete() {
        exit::OK
    } else {
        exit::TEMPORARY
    })
}

/// The merge into standard output, or into a file beside `--output` that
/// replaces it once the merge is done.
fn merged(args: &ScanMergeArgs, opts: &MergeOptions) -> Result<MergeReport> {
    Ok(match &args.output {
        None => {
            let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
            merge(&args.input, &args.outputs, &mut out, opts).map_err(refused)?
        }
        Some(path) => {
            let dir = parent(path);
            let mut temp = tempfile::Builder::new()
                .prefix(".mxkit-merged-")
                .tempfile_in(&dir)
                .map_err(|e| Usage(format!("cannot write --output {}: {e}", path.display())))?;
            let report = {
                let mut out = BufWriter::with_capacity(1 << 16, temp.as_file_mut());
                let report = merge(&args.input, &args.outputs, &mut out, opts).map_err(refused)?;
                out.flush().context("cannot write the merged output")?;
                report
            };
            temp.persist(path).map_err(|e| {
                Usage(format!(
                    "cannot write --output {}: {}",
                    path.display(),
                    e.error
                ))
            })?;
            report
        }
    })
}

/// The directory of a file path (`.` for a bare name).
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A refused merge is a usage error (64): the files given are not the
/// shards of this input, or one cannot be read.
fn refused(e: MergeError) -> anyhow::Error {
    match e {
        MergeError::Write(e) => anyhow::Error::new(e).context("cannot write the merged output"),
        e => Usage(format!("{e}; nothing written")).into(),
    }
}

/// Refuse an `--output` or `--stats` that is the input or a shard output
/// (writing it would destroy what is being read).
fn check_paths(args: &ScanMergeArgs) -> Result<()> {
    let id = |p: &Path| fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let read: Vec<(PathBuf, (u64, u64))> = std::iter::once(&args.input)
        .chain(&args.outputs)
        .filter_map(|p| Some((p.clone(), id(p)?)))
        .collect();
    for (flag, written) in [("--output", &args.output), ("--stats", &args.stats)] {
        let Some(written) = written else { continue };
        let Some(wid) = id(written) else { continue };
        if let Some((path, _)) = read.iter().find(|(_, rid)| *rid == wid) {
            return Err(Usage::about(
                Some(flag),
                &written.display().to_string(),
                format!(
                    "is {}, which is being read: writing it would destroy it",
                    path.display()
                ),
            )
            .into());
        }
    }
    Ok(())
}

/// The report as `--stats` JSON.
#[derive(Serialize)]
struct Stats<'a> {
    complete: bool,
    input_lines: u64,
    items: u64,
    results: u64,
    missing: u64,
    first_missing: &'a [u64],
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    missing_by_shard: &'a std::collections::BTreeMap<u64, u64>,
    torn: Vec<String>,
    runs: usize,
}

impl<'a> Stats<'a> {
    fn of(r: &'a MergeReport) -> Self {
        Stats {
            complete: r.complete(),
            input_lines: r.input_lines,
            items: r.items,
            results: r.results,
            missing: r.missing,
            first_missing: &r.first_missing,
            missing_by_shard: &r.missing_by_shard,
            torn: r.torn.iter().map(|p| p.display().to_string()).collect(),
            runs: r.runs,
        }
    }
}

/// The report for people, on standard error.
fn summary(out: &mut impl Write, r: &MergeReport, shards: Option<u64>) -> io::Result<()> {
    writeln!(
        out,
        "mxkit scan-merge: {} result(s) for {} input line(s) ({} domain lines): {}",
        r.results,
        r.input_lines,
        r.items,
        if r.complete() {
            "every domain line exactly once".to_owned()
        } else {
            format!("{} without a result", r.missing)
        }
    )?;
    if !r.complete() {
        let named: Vec<String> = r.first_missing.iter().map(u64::to_string).collect();
        let more = if r.missing > MISSING_NAMED as u64 {
            ", ..."
        } else {
            ""
        };
        writeln!(out, "  missing lines: {}{more}", named.join(", "))?;
        if let Some(n) = shards {
            for (k, count) in &r.missing_by_shard {
                writeln!(
                    out,
                    "  shard {k}/{n}: {count} line(s) missing; rerun it with --shard {k}/{n} --resume"
                )?;
            }
        }
    }
    for path in &r.torn {
        writeln!(
            out,
            "  {} ends in a partial line (a run was killed): resume it to finish",
            path.display()
        )?;
    }
    Ok(())
}

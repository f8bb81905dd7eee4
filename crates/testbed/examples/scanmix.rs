//! Generate the `mxkit scan` benchmark mix, or check an output against it.
//!
//! ```text
//! cargo run --release -p testbed --example scanmix -- --seed 1 --domains 1000000 --out DIR
//!     [--with-delegations DEAD,SLOW,LOSSY]     (IPv4 addresses of the delegated servers)
//! cargo run --release -p testbed --example scanmix -- --check DIR OUTPUT.jsonl
//!     [--fields line,status,candidates]        (default: every field)
//!     [--json REPORT.json]
//!     [--lines N]                              (the run read only the first N input lines)
//! ```
//!
//! Generating writes `scan.test.zone` (plus `child/scan.test.zone` with
//! delegations), `input.txt`, `expected.jsonl` and `summary.json` into DIR
//! and prints the summary. Checking prints the comparison (counts, the first
//! differences) and exits with 0 when every expected line came exactly once
//! and right, 1 otherwise.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use testbed::scanmix::{self, Delegations, Options};

fn usage() -> ExitCode {
    eprintln!(
        "usage: scanmix --seed N --domains N --out DIR [--with-delegations DEAD,SLOW,LOSSY]\n       \
         scanmix --check DIR OUTPUT.jsonl [--fields a,b,...] [--json REPORT.json] [--lines N]"
    );
    ExitCode::from(64)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seed = 1u64;
    let mut domains = 1_000_000usize;
    let mut out: Option<PathBuf> = None;
    let mut check: Option<(PathBuf, PathBuf)> = None;
    let mut fields: Option<Vec<String>> = None;
    let mut json: Option<PathBuf> = None;
    let mut lines: Option<usize> = None;
    let mut opts = Options::default();
    let mut i = 0;
    while i < args.len() {
        let value = |k: usize| args.get(i + k).cloned();
        match args[i].as_str() {
            "--seed" => match value(1).and_then(|v| v.parse().ok()) {
                Some(v) => seed = v,
                None => return usage(),
            },
            "--domains" => match value(1).and_then(|v| v.parse().ok()) {
                Some(v) => domains = v,
                None => return usage(),
            },
            "--out" => match value(1) {
                Some(v) => out = Some(v.into()),
                None => return usage(),
            },
            "--with-delegations" => {
                let ips: Vec<_> = value(1)
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|s| s.parse().ok())
                    .collect();
                let [dead, slow, lossy] = ips.as_slice() else {
                    return usage();
                };
                opts.with_delegations = Some(Delegations {
                    dead: *dead,
                    slow: *slow,
                    lossy: *lossy,
                });
            }
            "--check" => match (value(1), value(2)) {
                (Some(d), Some(o)) => {
                    check = Some((d.into(), o.into()));
                    i += 1;
                }
                _ => return usage(),
            },
            "--fields" => match value(1) {
                Some(v) => fields = Some(v.split(',').map(str::to_string).collect()),
                None => return usage(),
            },
            "--lines" => match value(1).and_then(|v| v.parse().ok()) {
                Some(v) => lines = Some(v),
                None => return usage(),
            },
            "--json" => match value(1) {
                Some(v) => json = Some(v.into()),
                None => return usage(),
            },
            _ => return usage(),
        }
        i += 2;
    }

    if let Some((dir, output)) = check {
        let fields: Vec<String> =
            fields.unwrap_or_else(|| scanmix::ALL_FIELDS.iter().map(|s| s.to_string()).collect());
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        let report =
            match scanmix::check_files_upto(&dir.join("expected.jsonl"), &output, &fields, lines) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("scanmix: {e}");
                    return ExitCode::from(2);
                }
            };
        println!("{}", report.text());
        if let Some(path) = json
            && let Err(e) = std::fs::write(&path, format!("{}\n", report.to_json()))
        {
            eprintln!("scanmix: {}: {e}", path.display());
            return ExitCode::from(2);
        }
        return if report.ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }

    let Some(dir) = out else {
        return usage();
    };
    let start = Instant::now();
    match scanmix::write_mix(seed, domains, &opts, &dir) {
        Ok(summary) => {
            eprintln!(
                "scanmix: {} domains, {} lines in {:.2?} -> {}",
                summary.domains,
                summary.lines,
                start.elapsed(),
                dir.display()
            );
            println!("{:#}", summary.to_json());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("scanmix: {}: {e}", dir.display());
            ExitCode::from(2)
        }
    }
}

//! What the `mxkit scan` tests share (`scan_cli.rs`, `scan_scale_cli.rs`):
//! the binary, knotd serving a generated mix, the input file, the output
//! read back.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;

use assert_cmd::Command;
use serde_json::Value;
use testbed::knot::Knot;
use testbed::scanmix::Mix;

pub fn mxkit() -> Command {
    Command::cargo_bin("mxkit").unwrap()
}

/// knotd serving every zone of `mix`.
pub fn knot(mix: &Mix) -> Knot {
    let zones: Vec<(&str, &str)> = mix
        .zones
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    Knot::start(&zones)
}

/// `lines` as `input.txt` in `dir`.
pub fn write_input(dir: &Path, lines: &[String]) -> PathBuf {
    let path = dir.join("input.txt");
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(&path, text).unwrap();
    path
}

/// Every line of a JSON Lines file, parsed (panics on a line that is not JSON).
pub fn read_lines(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap();
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: {e}: {l}", i + 1))
        })
        .collect()
}

/// Poll (no sleep) until `output` holds some results, then SIGKILL the
/// scan `child` (it must still be running then).
pub fn kill_when_started(child: &mut Child, output: &Path) {
    loop {
        if fs::metadata(output).map(|m| m.len()).unwrap_or(0) > 20_000 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the scan ended before it could be killed"
        );
        std::thread::yield_now();
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished: {status}");
}

/// The most queries a run over `mix` may send when shared exchangers are
/// asked once: the fewest the mix needs, plus one MX query again for each
/// duplicate line (MX answers are not kept), plus the run's resends (from
/// its `--stats`).
pub fn most_queries(mix: &Mix, stats: &Value) -> u64 {
    let duplicates = mix
        .summary
        .variants
        .iter()
        .find(|(v, _)| *v == "duplicate")
        .map_or(0, |(_, n)| *n as u64);
    mix.summary.min_queries as u64 + duplicates + stats["resends"].as_u64().unwrap()
}

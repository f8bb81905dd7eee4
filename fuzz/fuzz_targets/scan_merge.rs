//! `mxkit scan-merge` (`scan::merge`): arbitrary bytes as shard outputs
//! and an input. The data is split at NUL: the first piece is the input,
//! the others (at most 4) are shard outputs; the first byte picks the sort
//! chunk (tiny, so that most runs go through temporary files, or large).
//!
//! Checked beyond "no panic": a merge that succeeds wrote exactly its
//! results, whole lines in strictly increasing line order, each for an
//! item of the input; items = results + missing; no temporary file is
//! left behind.

#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use mxkit::scan::merge::{MergeOptions, merge};
use mxkit::scan::resume::read_result_line;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut pieces = rest.split(|&b| b == 0);
    let input = pieces.next().unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("input.txt");
    std::fs::write(&input_path, input).unwrap();
    let outputs: Vec<PathBuf> = pieces
        .take(4)
        .enumerate()
        .map(|(i, text)| {
            let p = dir.path().join(format!("shard-{i}.jsonl"));
            std::fs::write(&p, text).unwrap();
            p
        })
        .collect();
    let opts = MergeOptions {
        chunk_bytes: if mode & 1 == 0 { 64 } else { 1 << 20 },
        temp_dir: dir.path().to_path_buf(),
        shards: Some(u64::from(mode >> 1) % 5 + 1),
    };
    let mut out = Vec::new();
    let result = merge(&input_path, &outputs, &mut out, &opts);
    let left = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".mxkit-merge"))
        .count();
    assert_eq!(left, 0, "temporary runs left behind");
    if let Ok(report) = result {
        assert_eq!(report.items, report.results + report.missing);
        assert!(out.is_empty() || out.ends_with(b"\n"));
        let mut previous = 0u64;
        let mut lines = 0u64;
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let (number, _) = read_result_line(line).expect("a result line");
            assert!(number > previous, "input order, each once");
            previous = number;
            lines += 1;
        }
        assert_eq!(lines, report.results);
    }
});
